/* graph.c - building and compiling the static graph. Nodes are appended in creation order, and
 * an op may only consume existing nodes, so creation order is a topological order. Shapes are
 * inferred when a node is added; the first error is kept (sticky) and returned by compile.
 * Compile plans one 64-byte-aligned block holding every node's value, gradient, tangent and
 * scratch buffer for the maximum batch: nothing is allocated while running. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/dense_swap.h"
#include "graph_internal.h"

#define PARAM_PAD 16 /* parameter tensors start at multiples of 16 elements (64 bytes) */

int64_t suri_shape_numel(const suri_shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->dim[i];
  return n;
}

void suri_shape_str(const suri_shape *s, char *buf, size_t n) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, n > k ? n - k : 0, "(");
  for (int i = 0; i < s->rank && k < n; i++) {
    if (i == 0 && s->batched) k += (size_t)snprintf(buf + k, n - k, "B");
    else k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)s->dim[i]);
  }
  if (k < n) snprintf(buf + k, n - k, ")");
}

suri_status suri_shape_same(const char *op, const suri_shape *a, const suri_shape *b) {
  int same = a->rank == b->rank && a->batched == b->batched;
  for (int i = 0; same && i < a->rank; i++) same = a->dim[i] == b->dim[i];
  if (same) return SURI_OK;
  char sa[96], sb[96];
  suri_shape_str(a, sa, sizeof sa);
  suri_shape_str(b, sb, sizeof sb);
  return suri_fail(SURI_ERR_SHAPE, "%s: input shapes differ: %s vs %s", op, sa, sb);
}

suri_graph *suri_graph_new(void) {
  suri_graph *g = calloc(1, sizeof *g);
  if (!g) {
    suri_fail(SURI_ERR_NOMEM, "cannot allocate graph");
    return NULL;
  }
  g->training = 1;
  g->fusion = 1;
  g->last_bwd = -1;
  g->rng = suri_rng_make(0, SURI_RNG_DROPOUT);
  return g;
}

void suri_graph_free(suri_graph *g) {
  if (!g) return;
  suri_free(g->block);
  suri_free(g->gtan_block);
  free(g->nodes);
  free(g);
}

static void set_error(suri_graph *g, suri_status st) {
  if (g->err != SURI_OK) return;
  g->err = st;
  snprintf(g->errmsg, sizeof g->errmsg, "%s", suri_last_error());
}

static suri_node bad(void) {
  suri_node n = {-1};
  return n;
}

static graph_node *add_node(suri_graph *g, node_type t, const char *name) {
  if (g->compiled) {
    suri_fail(SURI_ERR_STATE, "graph is compiled; no nodes can be added");
    set_error(g, SURI_ERR_STATE);
    return NULL;
  }
  if (g->n == g->cap) {
    int32_t cap = g->cap ? g->cap * 2 : 32;
    graph_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
    if (!nn) {
      suri_fail(SURI_ERR_NOMEM, "cannot grow graph to %d nodes", cap);
      set_error(g, SURI_ERR_NOMEM);
      return NULL;
    }
    g->nodes = nn;
    g->cap = cap;
  }
  graph_node *nd = &g->nodes[g->n++];
  memset(nd, 0, sizeof *nd);
  nd->type = t;
  snprintf(nd->name, sizeof nd->name, "%s", name ? name : "");
  return nd;
}

static int check_dims(suri_graph *g, const char *what, const char *name, int rank, int maxrank,
                      const int64_t *dims) {
  if (rank < 0 || rank > maxrank || (rank > 0 && !dims)) {
    suri_fail(SURI_ERR_ARG, "%s '%s': rank %d out of range 0..%d", what, name ? name : "", rank,
              maxrank);
    set_error(g, SURI_ERR_ARG);
    return -1;
  }
  for (int i = 0; i < rank; i++) {
    if (dims[i] <= 0 || dims[i] > ((int64_t)1 << 40)) {
      suri_fail(SURI_ERR_ARG, "%s '%s': dimension %d is %lld (must be 1..2^40)", what,
                name ? name : "", i, (long long)dims[i]);
      set_error(g, SURI_ERR_ARG);
      return -1;
    }
  }
  return 0;
}

suri_node suri_input(suri_graph *g, const char *name, int rank, const int64_t *dims) {
  if (!g || g->err) return bad();
  if (check_dims(g, "input", name, rank, SURI_MAX_RANK - 1, dims)) return bad();
  graph_node *nd = add_node(g, NODE_INPUT, name);
  if (!nd) return bad();
  nd->shape.rank = rank + 1;
  nd->shape.batched = 1;
  nd->shape.dim[0] = 1;
  for (int i = 0; i < rank; i++) nd->shape.dim[i + 1] = dims[i];
  return (suri_node){g->n - 1};
}

suri_node suri_labels(suri_graph *g, const char *name) {
  if (!g || g->err) return bad();
  graph_node *nd = add_node(g, NODE_LABELS, name);
  if (!nd) return bad();
  nd->shape.rank = 1;
  nd->shape.batched = 1;
  nd->shape.dim[0] = 1;
  return (suri_node){g->n - 1};
}

static suri_node add_tensor(suri_graph *g, node_type t, const char *name, int rank,
                            const int64_t *dims) {
  if (!g || g->err) return bad();
  if (check_dims(g, t == NODE_PARAM ? "param" : "state", name, rank, SURI_MAX_RANK, dims))
    return bad();
  graph_node *nd = add_node(g, t, name);
  if (!nd) return bad();
  nd->shape.rank = rank;
  for (int i = 0; i < rank; i++) nd->shape.dim[i] = dims[i];
  size_t *count = t == NODE_PARAM ? &g->nparam : &g->nstate;
  nd->offset = *count;
  size_t numel = (size_t)suri_shape_numel(&nd->shape);
  *count += (numel + PARAM_PAD - 1) / PARAM_PAD * PARAM_PAD;
  nd->needs_grad = t == NODE_PARAM;
  return (suri_node){g->n - 1};
}

suri_node suri_param(suri_graph *g, const char *name, int rank, const int64_t *dims) {
  return add_tensor(g, NODE_PARAM, name, rank, dims);
}

suri_node suri_state(suri_graph *g, const char *name, int rank, const int64_t *dims) {
  return add_tensor(g, NODE_STATE, name, rank, dims);
}

suri_node suri_graph_op(suri_graph *g, suri_op_kind kind, int n_in, const suri_node *in,
                        const suri_op_attr *attr) {
  if (!g || g->err) return bad();
  if ((int)kind < 0 || kind >= SURI_OP_COUNT) {
    suri_fail(SURI_ERR_ARG, "unknown op kind %d", (int)kind);
    set_error(g, SURI_ERR_ARG);
    return bad();
  }
  const suri_op_def *def = suri_op_table[kind];
  if (n_in < def->min_in || n_in > def->max_in) {
    suri_fail(SURI_ERR_ARG, "%s takes %d..%d inputs, got %d", def->name, def->min_in,
              def->max_in, n_in);
    set_error(g, SURI_ERR_ARG);
    return bad();
  }
  const suri_shape *shapes[SURI_MAX_INPUTS];
  for (int i = 0; i < n_in; i++) {
    if (in[i].id < 0 || in[i].id >= g->n) {
      suri_fail(SURI_ERR_ARG, "%s: input %d is not a node of this graph", def->name, i);
      set_error(g, SURI_ERR_ARG);
      return bad();
    }
    shapes[i] = &g->nodes[in[i].id].shape;
  }
  suri_op_attr a;
  if (attr) a = *attr;
  else memset(&a, 0, sizeof a);
  suri_shape out;
  memset(&out, 0, sizeof out);
  suri_status st = def->shape(n_in, shapes, &a, &out);
  if (st != SURI_OK) {
    set_error(g, st);
    return bad();
  }
  graph_node *nd = add_node(g, NODE_OP, "");
  if (!nd) return bad();
  nd->op = kind;
  nd->n_in = n_in;
  nd->attr = a;
  nd->shape = out;
  for (int i = 0; i < n_in; i++) {
    nd->in[i] = in[i].id;
    if (!(def->no_grad_mask & (1u << i)) && g->nodes[in[i].id].needs_grad) nd->needs_grad = 1;
  }
  return (suri_node){g->n - 1};
}

void suri_graph_want_input_grad(suri_graph *g, suri_node input) {
  if (!g || input.id < 0 || input.id >= g->n) return;
  graph_node *nd = &g->nodes[input.id];
  if (nd->type != NODE_INPUT) return;
  if (g->compiled) {
    suri_fail(SURI_ERR_STATE, "want_input_grad must be called before compile");
    set_error(g, SURI_ERR_STATE);
    return;
  }
  nd->needs_grad = 1;
  /* Re-derive needs_grad of the consumers (they were created after it). */
  for (int32_t i = input.id + 1; i < g->n; i++) {
    graph_node *o = &g->nodes[i];
    if (o->type != NODE_OP) continue;
    const suri_op_def *def = suri_op_table[o->op];
    for (int k = 0; k < o->n_in; k++)
      if (!(def->no_grad_mask & (1u << k)) && g->nodes[o->in[k]].needs_grad) o->needs_grad = 1;
  }
}

static size_t round_up(size_t n) { return (n + SURI_ALIGN - 1) / SURI_ALIGN * SURI_ALIGN; }

/* Counts the op consumers of every node and pairs each dense node with the point-wise
 * activation that is its only consumer (the activation's definition has fused kernels). The
 * dense output stays a real node (value and gradient), since layer tables point at it. Marks
 * the foldable dense weights (see src/graph/run.c). */
static void plan_fusion(suri_graph *g) {
  for (int32_t i = 0; i < g->n; i++)
    g->nodes[i].n_consumers = 0, g->nodes[i].fuse = -1, g->nodes[i].foldable = 0;
  for (int32_t i = 0; i < g->n; i++) {
    const graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_OP) continue;
    for (int k = 0; k < nd->n_in; k++) g->nodes[nd->in[k]].n_consumers++;
  }
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *a = &g->nodes[i];
    if (a->type != NODE_OP || a->n_in != 1) continue;
    const suri_op_def *def = suri_op_table[a->op];
    if (!def->fused_forward || !def->fused_backward) continue;
    graph_node *d = &g->nodes[a->in[0]];
    if (d->type != NODE_OP || d->op != SURI_OP_DENSE || d->n_consumers != 1) continue;
    d->fuse = i;
    a->fuse = a->in[0];
  }
  /* A dense weight read by no other op may be updated in place by backward (SGD folding):
   * one consumer, and that consumer reads it only as its weight. */
  for (int32_t i = 0; i < g->n; i++) {
    const graph_node *d = &g->nodes[i];
    if (d->type != NODE_OP || d->op != SURI_OP_DENSE) continue;
    graph_node *w = &g->nodes[d->in[1]];
    w->foldable = w->type == NODE_PARAM && w->needs_grad && w->n_consumers == 1;
  }
}

suri_status suri_graph_compile(suri_graph *g, int64_t max_batch) {
  if (!g) return suri_fail(SURI_ERR_ARG, "graph is NULL");
  if (g->err) return suri_fail(g->err, "%s", g->errmsg);
  if (g->compiled) return suri_fail(SURI_ERR_STATE, "graph is already compiled");
  if (max_batch < 1 || max_batch > ((int64_t)1 << 31))
    return suri_fail(SURI_ERR_ARG, "max batch must be 1..2^31 (got %lld)", (long long)max_batch);
  g->max_batch = max_batch;
  for (int32_t i = 0; i < g->n; i++)
    if (g->nodes[i].shape.batched) g->nodes[i].shape.dim[0] = max_batch;
  /* Pass 1: sizes. */
  size_t total = 0;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    size_t numel = (size_t)suri_shape_numel(&nd->shape), b;
    if (suri_mul_size(numel, sizeof(suri_real), &b))
      return suri_fail(SURI_ERR_NOMEM, "node %d: buffer size overflows", i);
    if (nd->type == NODE_INPUT) total += round_up(b) * (nd->needs_grad ? 2 : 1);
    else if (nd->type == NODE_LABELS) total += round_up(numel * sizeof(int32_t));
    else if (nd->type == NODE_OP) {
      const suri_op_def *def = suri_op_table[nd->op];
      const suri_shape *shapes[SURI_MAX_INPUTS];
      for (int k = 0; k < nd->n_in; k++) shapes[k] = &g->nodes[nd->in[k]].shape;
      nd->scratch_bytes = def->scratch ? def->scratch(nd->n_in, shapes, &nd->shape, &nd->attr) : 0;
      total += round_up(b) * (nd->needs_grad ? 3 : 2) + round_up(nd->scratch_bytes);
    }
  }
  /* One transient buffer for dense forward products run swapped (src/ops/dense_swap.h). */
  size_t swap_bytes = 0;
  for (int32_t i = 0; i < g->n; i++) {
    const graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_OP || nd->op != SURI_OP_DENSE) continue;
    const suri_shape *w = &g->nodes[nd->in[1]].shape;
    size_t e = (size_t)suri_dense_swap_elems(max_batch, w->dim[0], w->dim[1]) * sizeof(suri_real);
    if (e > swap_bytes) swap_bytes = e;
  }
  total += round_up(swap_bytes);
  g->block = suri_alloc(total);
  if (!g->block) return suri_fail(SURI_ERR_NOMEM, "graph buffers need %zu bytes", total);
  memset(g->block, 0, total);
  g->bytes = total;
  /* Pass 2: carve. */
  unsigned char *p = g->block;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    size_t b = round_up((size_t)suri_shape_numel(&nd->shape) * sizeof(suri_real));
    if (nd->type == NODE_INPUT) {
      nd->value = (suri_real *)p, p += b;
      if (nd->needs_grad) nd->grad = (suri_real *)p, p += b;
    } else if (nd->type == NODE_LABELS) {
      nd->ivalue = (int32_t *)p;
      p += round_up((size_t)suri_shape_numel(&nd->shape) * sizeof(int32_t));
    } else if (nd->type == NODE_OP) {
      nd->value = (suri_real *)p, p += b;
      nd->tan = (suri_real *)p, p += b;
      if (nd->needs_grad) nd->grad = (suri_real *)p, p += b;
      if (nd->scratch_bytes) nd->scratch = p, p += round_up(nd->scratch_bytes);
    }
  }
  g->swap_tmp = swap_bytes ? (suri_real *)p : NULL;
  g->batch = max_batch;
  g->compiled = 1;
  plan_fusion(g);
  suri_graph_prepare_ctx(g);
  return SURI_OK;
}

int32_t suri_graph_node_count(const suri_graph *g) { return g->n; }

const suri_shape *suri_graph_shape(const suri_graph *g, suri_node n) {
  return (n.id >= 0 && n.id < g->n) ? &g->nodes[n.id].shape : NULL;
}

const char *suri_graph_node_name(const suri_graph *g, suri_node n) {
  return (n.id >= 0 && n.id < g->n) ? g->nodes[n.id].name : "";
}

const char *suri_graph_node_kind(const suri_graph *g, suri_node n) {
  if (n.id < 0 || n.id >= g->n) return "invalid";
  const graph_node *nd = &g->nodes[n.id];
  switch (nd->type) {
  case NODE_INPUT: return "input";
  case NODE_LABELS: return "labels";
  case NODE_PARAM: return "param";
  case NODE_STATE: return "state";
  case NODE_OP: return suri_op_table[nd->op]->name;
  }
  return "invalid";
}

size_t suri_graph_param_count(const suri_graph *g) { return g->nparam; }
size_t suri_graph_state_count(const suri_graph *g) { return g->nstate; }
size_t suri_graph_param_offset(const suri_graph *g, suri_node n) {
  return (n.id >= 0 && n.id < g->n) ? g->nodes[n.id].offset : 0;
}
int64_t suri_graph_max_batch(const suri_graph *g) { return g->max_batch; }
size_t suri_graph_bytes(const suri_graph *g) { return g->bytes; }
