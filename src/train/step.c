/* step.c - one training step of a model: forward, backward and the optimizer update, with
 * plain SGD folded into backward where the optimizer allows it.
 *
 * Folding (suri_graph_set_sgd_fold): for SGD without momentum and weight decay the update of a
 * dense weight, W -= lr dL/dW, is the weight-gradient GEMM itself run with alpha = -lr sw and
 * beta = 1 on W (sw the layer's multiplier). The gradient of W is never stored and never read
 * again, and the GEMM no longer zeroes an output first (OpenBLAS's beta = 0 pass), which saves
 * two passes over the weights per step (11 % of a step of the 784-128-10 benchmark MLP at
 * batch 32, 1-5 % of 784-512-512-10 at batch 128; docs/performance.md). The remaining parameters (biases, norms, any weight another op reads)
 * get the ordinary update from their gradients, tensor by tensor. */
#include <math.h>
#include <string.h>

#include "suri/graph.h"
#include "suri/train.h"

/* Plain SGD with no state to keep: the update of a folded weight needs nothing else. lr = 0
 * is not folded: a BLAS may skip the product when alpha = 0 (OpenBLAS 0.3.21 does with its
 * Haswell kernels, not with SkylakeX), so a non-finite gradient would not reach the weight as
 * it does in p - 0 g. */
int suri_train_step_folds(const suri_optim *o, double lr) {
  if (!o) return 0;
  suri_optim_kind k = suri_optim_get_kind(o);
  const suri_optim_hp *hp = suri_optim_get_hp(o);
  if (lr == SURI_LR_DEFAULT) lr = hp->lr;
  return (k == SURI_OPTIM_SGD || k == SURI_OPTIM_MOMENTUM) && hp->momentum == 0 &&
         hp->weight_decay == 0 && !hp->nesterov && lr > 0;
}

/* SGD on every parameter tensor that backward did not update in place. */
static void sgd_rest(suri_graph *g, suri_real *p, const suri_real *grad, double lr, int64_t t) {
  suri_sgd_hp hp = suri_sgd_defaults();
  hp.lr = lr;
  int32_t n = suri_graph_node_count(g);
  for (int32_t i = 0; i < n; i++) {
    suri_node nd = {i};
    if (strcmp(suri_graph_node_kind(g, nd), "param") != 0 || suri_graph_param_foldable(g, nd))
      continue;
    size_t off = suri_graph_param_offset(g, nd);
    suri_sgd_step((size_t)suri_shape_numel(suri_graph_shape(g, nd)), p + off, grad + off, NULL,
                  &hp, t);
  }
}

suri_status suri_model_train_step(suri_model *m, suri_optim *o, double lr, double *loss) {
  if (!m || !o || !loss)
    return suri_fail(SURI_ERR_ARG, "train step: model, optimizer or loss is NULL");
  if (suri_optim_size(o) != suri_model_param_count(m))
    return suri_fail(SURI_ERR_ARG, "train step: optimizer has %zu parameters, the model %zu",
                     suri_optim_size(o), suri_model_param_count(m));
  if (lr == SURI_LR_DEFAULT) lr = suri_optim_get_hp(o)->lr;
  if (!(lr >= 0) || !isfinite(lr))
    return suri_fail(SURI_ERR_ARG, "train step: learning rate must be finite and >= 0 (got %g)",
                     lr);
  suri_graph *g = suri_model_graph(m);
  if (!suri_train_step_folds(o, lr)) {
    suri_status st = suri_model_loss_grad(m, loss);
    if (st || !isfinite(*loss)) return st;
    return suri_optim_step(o, suri_model_params(m), suri_model_grads(m), lr);
  }
  suri_graph_set_training(g, 1);
  suri_status st = suri_graph_forward(g);
  if (st) return st;
  *loss = (double)suri_graph_value(g, suri_model_loss(m))[0];
  if (!isfinite(*loss)) return SURI_OK;
  int64_t t = suri_optim_steps(o) + 1;
  suri_graph_set_grad_overwrite(g, 1);
  st = suri_graph_set_sgd_fold(g, 1, lr);
  if (!st) st = suri_graph_backward(g, suri_model_loss(m), NULL);
  suri_graph_set_sgd_fold(g, 0, 0);
  suri_graph_set_grad_overwrite(g, 0);
  if (st) return st;
  sgd_rest(g, suri_model_params(m), suri_model_grads(m), lr, t);
  suri_optim_set_steps(o, t);
  return SURI_OK;
}
