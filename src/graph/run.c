/* run.c - executing a compiled graph: forward in creation (topological) order, backward in
 * reverse order accumulating into input gradients, and jvp propagating tangents forward.
 * Each op node sees a context with live shapes (batch dim = current batch). No allocation. */
#include <string.h>

#include "graph_internal.h"

void suri_graph_live_shape(const suri_graph *g, const graph_node *nd, suri_shape *out) {
  *out = nd->shape;
  if (out->batched) out->dim[0] = g->batch;
}

void suri_graph_bind_params(suri_graph *g, suri_real *params, suri_real *grads) {
  g->params = params;
  g->grads = grads;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_PARAM) continue;
    nd->value = params ? params + nd->offset : NULL;
    nd->grad = grads ? grads + nd->offset : NULL;
  }
}

void suri_graph_bind_state(suri_graph *g, suri_real *state) {
  g->state = state;
  for (int32_t i = 0; i < g->n; i++)
    if (g->nodes[i].type == NODE_STATE) g->nodes[i].value = state ? state + g->nodes[i].offset : NULL;
}

suri_status suri_graph_set_batch(suri_graph *g, int64_t b) {
  if (!g->compiled) return suri_fail(SURI_ERR_STATE, "graph is not compiled");
  if (b < 1 || b > g->max_batch)
    return suri_fail(SURI_ERR_ARG, "batch %lld out of range 1..%lld (the compiled maximum)",
                     (long long)b, (long long)g->max_batch);
  g->batch = b;
  return SURI_OK;
}

int64_t suri_graph_batch(const suri_graph *g) { return g->batch; }
void suri_graph_set_training(suri_graph *g, int training) { g->training = training != 0; }
int suri_graph_training(const suri_graph *g) { return g->training; }
void suri_graph_set_rng(suri_graph *g, suri_rng rng) { g->rng = rng; }
uint64_t suri_graph_rng_calls(const suri_graph *g) { return g->rng_calls; }
void suri_graph_set_rng_calls(suri_graph *g, uint64_t calls) { g->rng_calls = calls; }

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

/* Context for op node i: live shapes, value pointers. Shapes live in the caller's arrays. */
static void make_ctx(suri_graph *g, int32_t i, suri_op_ctx *c, suri_shape *shapes,
                     suri_shape *out_shape, suri_rng *rng) {
  graph_node *nd = &g->nodes[i];
  memset(c, 0, sizeof *c);
  c->n_in = nd->n_in;
  for (int k = 0; k < nd->n_in; k++) {
    graph_node *in = &g->nodes[nd->in[k]];
    suri_graph_live_shape(g, in, &shapes[k]);
    c->in_shape[k] = &shapes[k];
    c->in[k] = in->value;
    c->in_i32[k] = in->ivalue;
    c->in_state[k] = in->type == NODE_STATE ? in->value : NULL;
  }
  suri_graph_live_shape(g, nd, out_shape);
  c->out_shape = out_shape;
  c->out = nd->value;
  c->out_grad = nd->grad;
  c->out_tan = nd->tan;
  c->scratch = nd->scratch;
  c->attr = &nd->attr;
  c->training = g->training;
  c->batch = g->batch;
  *rng = g->rng;
  rng->purpose = g->rng.purpose ^ ((uint32_t)i << 8);
  c->rng = rng;
  c->rng_index = g->rng_calls << 32;
}

static suri_status check_bound(suri_graph *g) {
  if (!g->compiled) return suri_fail(SURI_ERR_STATE, "graph is not compiled");
  if (g->nparam && !g->params) return suri_fail(SURI_ERR_STATE, "parameters are not bound");
  if (g->nstate && !g->state) return suri_fail(SURI_ERR_STATE, "state block is not bound");
  return SURI_OK;
}

suri_status suri_graph_forward(suri_graph *g) {
  suri_status st = check_bound(g);
  if (st) return st;
  suri_op_ctx c;
  suri_shape shapes[SURI_MAX_INPUTS], out;
  suri_rng rng;
  for (int32_t i = 0; i < g->n; i++) {
    if (g->nodes[i].type != NODE_OP) continue;
    make_ctx(g, i, &c, shapes, &out, &rng);
    suri_op_table[g->nodes[i].op]->forward(&c);
  }
  if (g->training) g->rng_calls++;
  return SURI_OK;
}

static void zero_live(suri_graph *g, graph_node *nd) {
  suri_shape s;
  suri_graph_live_shape(g, nd, &s);
  memset(nd->grad, 0, (size_t)suri_shape_numel(&s) * sizeof(suri_real));
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
  for (int32_t i = 0; i <= from.id; i++) {
    graph_node *nd = &g->nodes[i];
    nd->touched = 0;
    if ((nd->type == NODE_OP || nd->type == NODE_INPUT) && nd->grad) zero_live(g, nd);
  }
  suri_shape s;
  suri_graph_live_shape(g, top, &s);
  size_t n = (size_t)suri_shape_numel(&s);
  if (seed) memcpy(top->grad, seed, n * sizeof(suri_real));
  else for (size_t k = 0; k < n; k++) top->grad[k] = 1;
  top->touched = 1;
  suri_op_ctx c;
  suri_shape shapes[SURI_MAX_INPUTS], out;
  suri_rng rng;
  uint64_t calls = g->rng_calls;
  /* The forward pass advanced the dropout counter; backward must see the same masks, which
   * ops keep in scratch, so the counter only matters for make_ctx's bookkeeping. */
  for (int32_t i = from.id; i >= 0; i--) {
    graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_OP || !nd->touched || !nd->needs_grad) continue;
    make_ctx(g, i, &c, shapes, &out, &rng);
    const suri_op_def *def = suri_op_table[nd->op];
    for (int k = 0; k < nd->n_in; k++) {
      graph_node *in = &g->nodes[nd->in[k]];
      int flows = !(def->no_grad_mask & (1u << k)) && in->needs_grad && in->grad;
      c.in_grad[k] = flows ? in->grad : NULL;
      if (flows) in->touched = 1;
    }
    def->backward(&c);
  }
  g->rng_calls = calls;
  return SURI_OK;
}

suri_status suri_graph_jvp(suri_graph *g, const suri_real *param_tangent) {
  suri_status st = check_bound(g);
  if (st) return st;
  suri_op_ctx c;
  suri_shape shapes[SURI_MAX_INPUTS], out;
  suri_rng rng;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->type == NODE_PARAM) nd->tan_view = param_tangent ? param_tangent + nd->offset : NULL;
    if (nd->type == NODE_LABELS || nd->type == NODE_STATE) nd->tan_view = NULL;
    if (nd->type != NODE_OP) continue;
    make_ctx(g, i, &c, shapes, &out, &rng);
    int any = 0;
    for (int k = 0; k < nd->n_in; k++) {
      c.in_tan[k] = g->nodes[nd->in[k]].tan_view;
      any |= c.in_tan[k] != NULL;
    }
    if (!any) {
      nd->tan_view = NULL;
      continue;
    }
    suri_op_table[nd->op]->jvp(&c);
    nd->tan_view = nd->tan;
  }
  return SURI_OK;
}
