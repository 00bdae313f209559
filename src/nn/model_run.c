/* model_run.c - running a model: copying a batch in, loss and gradient, inference and
 * evaluation over a whole set in chunks of the compiled batch (eval mode). */
#include <math.h>
#include <string.h>

#include "nn_internal.h"

suri_status suri_model_set_batch(suri_model *m, int64_t b, const suri_real *x,
                                 const int32_t *labels, const suri_real *targets) {
  suri_status st = suri_graph_set_batch(m->g, b);
  if (st) return st;
  int64_t in = m->spec.width[0], out = m->spec.width[m->spec.n_widths - 1];
  suri_real *dst = suri_graph_value(m->g, m->x);
  if (x != dst) memcpy(dst, x, (size_t)(b * in) * sizeof(suri_real)); /* x may be the buffer */
  if (m->spec.loss == SURI_LOSS_CE) {
    if (!labels) return SURI_OK;
    for (int64_t i = 0; i < b; i++)
      if (labels[i] < 0 || labels[i] >= out)
        return suri_fail(SURI_ERR_ARG, "label %d of row %lld is outside 0..%lld", labels[i],
                         (long long)i, (long long)(out - 1));
    memcpy(suri_graph_labels(m->g, m->target), labels, (size_t)b * sizeof(int32_t));
  } else if (targets) {
    memcpy(suri_graph_value(m->g, m->target), targets, (size_t)(b * out) * sizeof(suri_real));
  }
  return SURI_OK;
}

suri_status suri_model_loss_grad(suri_model *m, double *loss) {
  suri_graph_set_training(m->g, 1);
  suri_status st = suri_graph_forward(m->g);
  if (st) return st;
  /* The pass writes every parameter gradient (zero where not reached), so the block needs no
   * memset first. The values are those of clearing and accumulating (0 + g = g; a beta = 0
   * GEMM is OpenBLAS zeroing C and then accumulating, as beta = 1 on a zeroed C); only an
   * exactly zero gradient may now keep the sign of -0 where 0 + (-0) gave +0.
   * Other users of the model's graph (analysis products) keep the accumulating default. */
  suri_graph_set_grad_overwrite(m->g, 1);
  st = suri_graph_backward(m->g, m->loss, NULL);
  suri_graph_set_grad_overwrite(m->g, 0);
  if (st) return st;
  *loss = (double)suri_graph_value(m->g, m->loss)[0];
  return SURI_OK;
}

/* Inference reads the caller's rows in place (suri_graph_bind_input): no copy of x. */
suri_status suri_model_predict(suri_model *m, int64_t n, const suri_real *x, suri_real *out) {
  int64_t B = suri_graph_max_batch(m->g);
  int64_t in = m->spec.width[0], ow = m->spec.width[m->spec.n_widths - 1];
  int was_training = suri_graph_training(m->g);
  suri_status st = SURI_OK;
  suri_graph_set_training(m->g, 0);
  for (int64_t i = 0; i < n && !st; i += B) {
    int64_t b = n - i < B ? n - i : B;
    st = suri_graph_set_batch(m->g, b);
    if (!st) st = suri_graph_bind_input(m->g, m->x, x + i * in);
    if (!st) st = suri_graph_forward(m->g);
    if (!st)
      memcpy(out + i * ow, suri_graph_value(m->g, m->out), (size_t)(b * ow) * sizeof(suri_real));
  }
  suri_graph_bind_input(m->g, m->x, NULL);
  suri_graph_set_training(m->g, was_training);
  return st;
}

int64_t suri_count_correct(int64_t b, int64_t C, const suri_real *out, const int32_t *labels) {
  int64_t correct = 0;
  for (int64_t i = 0; i < b; i++) {
    const suri_real *r = out + i * C;
    int64_t best = 0;
    for (int64_t k = 1; k < C; k++)
      if (r[k] > r[best]) best = k;
    correct += best == labels[i];
  }
  return correct;
}

suri_status suri_model_evaluate(suri_model *m, int64_t n, const suri_real *x,
                                const int32_t *labels, const suri_real *targets, double *loss,
                                double *accuracy) {
  int64_t B = suri_graph_max_batch(m->g);
  int64_t in = m->spec.width[0], ow = m->spec.width[m->spec.n_widths - 1];
  double total = 0;
  int64_t correct = 0;
  suri_status st = SURI_OK;
  if (n <= 0) return suri_fail(SURI_ERR_ARG, "evaluate: empty data set");
  if (m->spec.loss == SURI_LOSS_CE && !labels)
    return suri_fail(SURI_ERR_ARG, "evaluate: loss=ce needs class labels");
  if (m->spec.loss != SURI_LOSS_CE && !targets)
    return suri_fail(SURI_ERR_ARG, "evaluate: loss=%s needs targets", suri_loss_name(m->spec.loss));
  int was_training = suri_graph_training(m->g);
  suri_graph_set_training(m->g, 0);
  for (int64_t i = 0; i < n && !st; i += B) {
    int64_t b = n - i < B ? n - i : B;
    st = suri_model_set_batch(m, b, x + i * in, labels ? labels + i : NULL,
                              targets ? targets + i * ow : NULL);
    if (!st) st = suri_graph_forward(m->g);
    if (st) break;
    total += (double)suri_graph_value(m->g, m->loss)[0] * (double)b;
    const suri_real *o = suri_graph_value(m->g, m->out);
    if (m->spec.loss == SURI_LOSS_CE) correct += suri_count_correct(b, ow, o, labels + i);
    else if (m->spec.loss == SURI_LOSS_LOGISTIC)
      for (int64_t k = 0; k < b; k++) correct += (o[k] > 0) == (targets[i + k] > 0.5);
  }
  suri_graph_set_training(m->g, was_training);
  if (st) return st;
  *loss = total / (double)n;
  *accuracy = m->spec.loss == SURI_LOSS_MSE ? NAN : (double)correct / (double)n;
  return SURI_OK;
}
