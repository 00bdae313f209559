/* run.c - executing a compiled graph: forward in creation (topological) order, backward in
 * reverse order, and jvp propagating tangents forward.
 *
 * Every op node carries a context prepared once (compile, bind, set_batch: live shapes and
 * buffer pointers), so a pass only sets the few per-call fields before each kernel: nothing is
 * allocated, copied or cleared per op.
 *
 * Backward writes each gradient buffer without zeroing it first: the first op that writes a
 * node's gradient in a pass overwrites it (grad_acc bit clear), later writers add (bit set).
 * Reverse creation order visits every consumer of a node before the node itself, so a node's
 * gradient is complete when its own backward runs. Ops that do not implement overwriting
 * (definition .overwrite = 0) get a zeroed buffer instead, as before. Parameter gradients are
 * added to the bound block unless suri_graph_set_grad_overwrite is on.
 *
 * Fusion (planned in graph.c): a dense node whose only consumer is a point-wise activation runs
 * its GEMM, then one pass that adds the bias and applies the activation; in backward the
 * activation's derivative and the bias gradient are computed in one pass too. Node values and
 * gradients are the same as without fusion (bitwise: the same operations in the same order).
 *
 * SGD folding (suri_graph_set_sgd_fold, off by default): a dense weight read by no other op
 * ("foldable", found at compile) is updated in place by its dense node's backward, W -= lr dW
 * inside the weight-gradient GEMM (src/ops/dense.c), after the node's input gradient has used
 * the old W. Reverse order reaches no other reader of W afterwards, so the rest of the pass is
 * the same as unfolded; the gradient block keeps its old contents for those weights. */
#include <math.h>
#include <string.h>

#include "graph_internal.h"

void suri_graph_live_shape(const suri_graph *g, const graph_node *nd, suri_shape *out) {
  *out = nd->shape;
  if (out->batched) out->dim[0] = g->batch;
}

void suri_graph_prepare_ctx(suri_graph *g) {
  for (int32_t i = 0; i < g->n; i++) suri_graph_live_shape(g, &g->nodes[i], &g->nodes[i].live);
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_OP) continue;
    suri_op_ctx *c = &nd->ctx;
    memset(c, 0, sizeof *c);
    c->n_in = nd->n_in;
    for (int k = 0; k < nd->n_in; k++) {
      graph_node *in = &g->nodes[nd->in[k]];
      c->in_shape[k] = &in->live;
      c->in[k] = in->bound ? in->bound : in->value;
      c->in_i32[k] = in->ivalue;
      c->in_state[k] = in->type == NODE_STATE ? in->value : NULL;
    }
    c->out_shape = &nd->live;
    c->out = nd->value;
    c->out_grad = nd->grad;
    c->out_tan = nd->tan;
    c->scratch = nd->scratch;
    c->attr = &nd->attr;
    c->batch = g->batch;
    c->rng = &nd->rng;
    c->swap_tmp = nd->op == SURI_OP_DENSE ? g->swap_tmp : NULL;
  }
}

void suri_graph_bind_params(suri_graph *g, suri_real *params, suri_real *grads) {
  g->params = params;
  g->grads = grads;
  g->last_bwd = -1;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_PARAM) continue;
    nd->value = params ? params + nd->offset : NULL;
    nd->grad = grads ? grads + nd->offset : NULL;
  }
  if (g->compiled) suri_graph_prepare_ctx(g);
}

suri_status suri_graph_bind_input(suri_graph *g, suri_node input, const suri_real *x) {
  if (input.id < 0 || input.id >= g->n || g->nodes[input.id].type != NODE_INPUT)
    return suri_fail(SURI_ERR_ARG, "bind input: node %d is not a real input", input.id);
  graph_node *nd = &g->nodes[input.id];
  nd->bound = x;
  const suri_real *v = x ? x : nd->value;
  for (int32_t i = 0; i < g->n && g->compiled; i++) { /* the readers' prepared contexts */
    graph_node *o = &g->nodes[i];
    if (o->type != NODE_OP) continue;
    for (int k = 0; k < o->n_in; k++)
      if (o->in[k] == input.id) o->ctx.in[k] = v;
  }
  return SURI_OK;
}

void suri_graph_bind_state(suri_graph *g, suri_real *state) {
  g->state = state;
  for (int32_t i = 0; i < g->n; i++)
    if (g->nodes[i].type == NODE_STATE) g->nodes[i].value = state ? state + g->nodes[i].offset : NULL;
  if (g->compiled) suri_graph_prepare_ctx(g);
}

suri_status suri_graph_set_batch(suri_graph *g, int64_t b) {
  if (!g->compiled) return suri_fail(SURI_ERR_STATE, "graph is not compiled");
  if (b < 1 || b > g->max_batch)
    return suri_fail(SURI_ERR_ARG, "batch %lld out of range 1..%lld (the compiled maximum)",
                     (long long)b, (long long)g->max_batch);
  if (b == g->batch) return SURI_OK;
  g->batch = b;
  g->last_bwd = -1;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->live.batched) nd->live.dim[0] = b;
    nd->ctx.batch = b;
  }
  return SURI_OK;
}

int64_t suri_graph_batch(const suri_graph *g) { return g->batch; }
void suri_graph_set_training(suri_graph *g, int training) { g->training = training != 0; }
int suri_graph_training(const suri_graph *g) { return g->training; }
void suri_graph_set_rng(suri_graph *g, suri_rng rng) { g->rng = rng; }
uint64_t suri_graph_rng_calls(const suri_graph *g) { return g->rng_calls; }
void suri_graph_set_rng_calls(suri_graph *g, uint64_t calls) { g->rng_calls = calls; }
void suri_graph_set_grad_overwrite(suri_graph *g, int overwrite) {
  g->grad_overwrite = overwrite != 0;
}
void suri_graph_set_fusion(suri_graph *g, int on) { g->fusion = on != 0; }

suri_status suri_graph_set_sgd_fold(suri_graph *g, int on, double lr) {
  if (on && (!(lr >= 0) || !isfinite(lr)))
    return suri_fail(SURI_ERR_ARG, "sgd fold: learning rate must be finite and >= 0 (got %g)", lr);
  g->sgd_fold = on != 0;
  g->sgd_lr = on ? lr : 0;
  return SURI_OK;
}

int suri_graph_param_foldable(const suri_graph *g, suri_node param) {
  return param.id >= 0 && param.id < g->n && g->compiled && g->nodes[param.id].foldable;
}
uint64_t suri_graph_pass_count(const suri_graph *g) { return g->passes; }

static graph_node *node_at(suri_graph *g, suri_node n) {
  return (n.id >= 0 && n.id < g->n) ? &g->nodes[n.id] : NULL;
}

suri_real *suri_graph_value(suri_graph *g, suri_node n) {
  graph_node *nd = node_at(g, n);
  return nd ? nd->value : NULL;
}

int32_t *suri_graph_labels(suri_graph *g, suri_node n) {
  graph_node *nd = node_at(g, n);
  return nd ? nd->ivalue : NULL;
}

suri_real *suri_graph_grad(suri_graph *g, suri_node n) {
  graph_node *nd = node_at(g, n);
  return nd ? nd->grad : NULL;
}

const suri_real *suri_graph_tangent(suri_graph *g, suri_node n) {
  graph_node *nd = node_at(g, n);
  return nd ? nd->tan_view : NULL;
}

void suri_graph_set_input_tangent(suri_graph *g, suri_node input, const suri_real *tangent) {
  graph_node *nd = node_at(g, input);
  if (nd && nd->type == NODE_INPUT) nd->tan_view = tangent;
}

static suri_status check_bound(suri_graph *g) {
  if (!g->compiled) return suri_fail(SURI_ERR_STATE, "graph is not compiled");
  if (g->nparam && !g->params) return suri_fail(SURI_ERR_STATE, "parameters are not bound");
  if (g->nstate && !g->state) return suri_fail(SURI_ERR_STATE, "state block is not bound");
  return SURI_OK;
}

/* The dense node i's fused activation, or NULL when it runs unfused. */
static graph_node *fused_act(suri_graph *g, const graph_node *nd) {
  return g->fusion && nd->fuse >= 0 && nd->op == SURI_OP_DENSE ? &g->nodes[nd->fuse] : NULL;
}

suri_status suri_graph_forward(suri_graph *g) {
  suri_status st = check_bound(g);
  if (st) return st;
  uint64_t index = g->rng_calls << 32;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_OP) continue;
    if (g->fusion && nd->fuse >= 0 && nd->op != SURI_OP_DENSE) continue; /* done by its dense */
    suri_op_ctx *c = &nd->ctx;
    c->training = g->training;
    c->rng_index = index;
    nd->rng = g->rng;
    nd->rng.purpose = g->rng.purpose ^ ((uint32_t)i << 8);
    graph_node *act = fused_act(g, nd);
    if (act) {
      act->ctx.training = g->training;
      suri_dense_fused_forward(c, &act->ctx, suri_op_table[act->op]->fused_forward);
    } else {
      suri_op_table[nd->op]->forward(c);
    }
  }
  if (g->training) g->rng_calls++;
  g->passes++;
  g->last_bwd = -1;
  return SURI_OK;
}

/* Live element count of a node's buffers. */
static size_t live_numel(const graph_node *nd) { return (size_t)suri_shape_numel(&nd->live); }

/* Sets in_grad / grad_acc of op node nd for this backward pass and marks the receivers. A
 * receiver not yet written in this pass is overwritten (or zeroed first, for ops that cannot
 * overwrite); a parameter gradient is added to unless grad_overwrite is on. */
static void route_grads(suri_graph *g, graph_node *nd, const suri_op_def *def) {
  suri_op_ctx *c = &nd->ctx;
  c->training = g->training;
  c->grad_acc = 0;
  for (int k = 0; k < nd->n_in; k++) {
    graph_node *in = &g->nodes[nd->in[k]];
    int flows = !(def->no_grad_mask & (1u << k)) && in->needs_grad && in->grad;
    c->in_grad[k] = flows ? in->grad : NULL;
    if (!flows) continue;
    int acc = in->touched || (in->type == NODE_PARAM && !g->grad_overwrite);
    if (!acc && !def->overwrite) {
      memset(in->grad, 0, live_numel(in) * sizeof(suri_real));
      acc = 1;
    }
    if (acc) c->grad_acc |= 1u << k;
    in->touched = 1;
  }
}

/* The fused activation's backward: du into its dense producer's gradient and, when the bias
 * gradient flows, db in the same pass (the dense node then skips it). */
static void fused_act_backward(suri_graph *g, graph_node *act) {
  graph_node *dn = &g->nodes[act->fuse];
  const suri_op_def *def = suri_op_table[act->op];
  route_grads(g, act, def);
  suri_real *db = NULL;
  int db_acc = 0;
  if (dn->n_in == 3 && act->ctx.in_grad[0]) {
    graph_node *b = &g->nodes[dn->in[2]];
    if (b->needs_grad && b->grad) {
      db = b->grad;
      db_acc = b->touched || (b->type == NODE_PARAM && !g->grad_overwrite);
      b->touched = 1;
      dn->bias_done = 1;
    }
  }
  def->fused_backward(&act->ctx, db, db_acc, (suri_real)dn->attr.f[1]);
}

/* Dense node nd's weight update folded into its backward (suri_graph_set_sgd_fold), or none. */
static void set_fold(suri_graph *g, graph_node *nd) {
  graph_node *w = &g->nodes[nd->in[1]];
  int fold = g->sgd_fold && w->foldable && nd->ctx.in_grad[1];
  nd->ctx.fold_w = fold ? w->value : NULL;
  nd->ctx.fold_lr = fold ? g->sgd_lr : 0;
}

suri_status suri_graph_backward(suri_graph *g, suri_node from, const suri_real *seed) {
  suri_status st = check_bound(g);
  if (st) return st;
  graph_node *top = node_at(g, from);
  if (!top) return suri_fail(SURI_ERR_ARG, "backward: node %d is not in the graph", from.id);
  if (top->type != NODE_OP || !top->needs_grad || !top->grad)
    return suri_fail(SURI_ERR_ARG, "backward: node %d does not depend on any parameter or "
                     "wanted input", from.id);
  if (g->nparam && !g->grads) return suri_fail(SURI_ERR_STATE, "gradient block is not bound");
  for (int32_t i = 0; i < g->n; i++) g->nodes[i].touched = g->nodes[i].bias_done = 0;
  size_t n = live_numel(top);
  if (seed) memcpy(top->grad, seed, n * sizeof(suri_real));
  else for (size_t k = 0; k < n; k++) top->grad[k] = 1;
  top->touched = 1;
  for (int32_t i = from.id; i >= 0; i--) {
    graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_OP || !nd->touched || !nd->needs_grad) continue;
    const suri_op_def *def = suri_op_table[nd->op];
    if (g->fusion && nd->fuse >= 0 && nd->op != SURI_OP_DENSE) {
      fused_act_backward(g, nd);
      continue;
    }
    route_grads(g, nd, def);
    if (nd->bias_done) nd->ctx.in_grad[2] = NULL;
    if (nd->op == SURI_OP_DENSE) set_fold(g, nd);
    def->backward(&nd->ctx);
  }
  g->passes++;
  /* After a folded pass the parameters have moved: there is no gradient to reuse. */
  g->last_bwd = seed || g->sgd_fold ? -1 : from.id;
  /* Gradients nothing wrote in this pass read as zero, as documented. */
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->touched || !nd->grad) continue;
    if (nd->type == NODE_OP || nd->type == NODE_INPUT ||
        (nd->type == NODE_PARAM && g->grad_overwrite))
      memset(nd->grad, 0, live_numel(nd) * sizeof(suri_real));
  }
  return SURI_OK;
}

suri_status suri_graph_jvp(suri_graph *g, const suri_real *param_tangent) {
  suri_status st = check_bound(g);
  if (st) return st;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->type == NODE_PARAM) nd->tan_view = param_tangent ? param_tangent + nd->offset : NULL;
    if (nd->type == NODE_LABELS || nd->type == NODE_STATE) nd->tan_view = NULL;
    if (nd->type != NODE_OP) continue;
    suri_op_ctx *c = &nd->ctx;
    int any = 0;
    for (int k = 0; k < nd->n_in; k++) {
      c->in_tan[k] = g->nodes[nd->in[k]].tan_view;
      any |= c->in_tan[k] != NULL;
    }
    if (!any) {
      nd->tan_view = NULL;
      continue;
    }
    c->training = g->training;
    suri_op_table[nd->op]->jvp(c);
    nd->tan_view = nd->tan;
  }
  return SURI_OK;
}
