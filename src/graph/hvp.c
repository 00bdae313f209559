/* hvp.c - exact Hessian-vector products by forward-over-reverse differentiation (Pearlmutter
 * 1994, "Fast exact multiplication by the Hessian"; the R-operator):
 *
 *   H v = d/de grad L(theta + e v) |_{e=0}.
 *
 * Differentiating the reverse pass along v: every node value u gets its tangent udot (the jvp
 * pass, run.c), every node gradient g_u = dL/du gets its tangent gdot_u, and each op's
 * backward rule in_grad = B(out_grad, inputs) gets a tangent rule (the op's bwd_tan, op.h):
 *
 *   gdot_in = dB/d(out_grad) . gdot_out + dB/d(inputs) . in_tan,
 *
 * run in reverse creation order from the loss (gradient seed 1, whose tangent is 0). The
 * gradient tangents of the parameters are H v. Cost: one jvp and about two backward passes on
 * top of the forward pass; no step size, so ReLU networks get the almost-everywhere Hessian
 * (f'' = 0 off the kinks) that autograd's double backward gives, with no truncation error.
 *
 * Memory: one gradient-tangent buffer per op node that needs a gradient, allocated by
 * suri_graph_hvp_prepare in its own block, so graphs used only for training allocate nothing
 * more. The sweep is unfused: dense + activation fusion (graph.c) changes how forward and
 * backward are run, not the node values and gradients this pass reads. The node gradients of a
 * seed-ones backward from the same loss are reused when no forward or backward pass ran since
 * (last_bwd), so repeated products at one point cost a jvp and the tangent sweep. */
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

/* The first op node that `loss` depends on through a parameter (or wanted input) and that has
 * no backward-tangent rule; -1 when there is none. Nodes not reached from the loss are
 * irrelevant, so a graph with several heads is judged by the one asked about. */
static int32_t first_unsupported(const suri_graph *g, int32_t loss, unsigned char *reach) {
  memset(reach, 0, (size_t)g->n);
  reach[loss] = 1;
  int32_t bad = -1;
  for (int32_t i = loss; i >= 0; i--) {
    const graph_node *nd = &g->nodes[i];
    if (!reach[i] || nd->type != NODE_OP || !nd->needs_grad) continue;
    if (!suri_op_table[nd->op]->bwd_tan) bad = i;
    for (int k = 0; k < nd->n_in; k++) reach[nd->in[k]] = 1;
  }
  return bad;
}

static suri_status check_loss(const suri_graph *g, suri_node loss) {
  if (!g) return suri_fail(SURI_ERR_ARG, "hvp: graph is NULL");
  if (!g->compiled) return suri_fail(SURI_ERR_STATE, "hvp: graph is not compiled");
  if (loss.id < 0 || loss.id >= g->n)
    return suri_fail(SURI_ERR_ARG, "hvp: node %d is not in the graph", loss.id);
  const graph_node *nd = &g->nodes[loss.id];
  if (nd->type != NODE_OP || !nd->needs_grad || suri_shape_numel(&nd->shape) != 1)
    return suri_fail(SURI_ERR_ARG, "hvp: node %d is not a scalar that depends on the parameters",
                     loss.id);
  return SURI_OK;
}

int suri_graph_hvp_supported(const suri_graph *g, suri_node loss, const char **missing) {
  if (missing) *missing = NULL;
  if (check_loss(g, loss)) return 0;
  unsigned char *reach = malloc((size_t)g->n);
  if (!reach) return 0;
  int32_t bad = first_unsupported(g, loss.id, reach);
  free(reach);
  if (bad >= 0 && missing) *missing = suri_op_table[g->nodes[bad].op]->name;
  return bad < 0;
}

static size_t round_up(size_t n) { return (n + SURI_ALIGN - 1) / SURI_ALIGN * SURI_ALIGN; }

suri_status suri_graph_hvp_prepare(suri_graph *g, suri_node loss) {
  suri_status st = check_loss(g, loss);
  if (st) return st;
  const char *missing = NULL;
  if (!suri_graph_hvp_supported(g, loss, &missing))
    return missing ? suri_fail(SURI_ERR_UNSUPPORTED, "hvp: op '%s' has no second-order rule "
                               "(exact Hessian-vector products need one for every op)", missing)
                   : suri_fail(SURI_ERR_NOMEM, "hvp: cannot allocate %d bytes", g->n);
  if (g->gtan_block) return SURI_OK;
  size_t total = 0;
  for (int32_t i = 0; i < g->n; i++) {
    const graph_node *nd = &g->nodes[i];
    if (nd->type == NODE_OP && nd->grad)
      total += round_up((size_t)suri_shape_numel(&nd->shape) * sizeof(suri_real));
  }
  g->gtan_block = suri_alloc(total ? total : SURI_ALIGN);
  if (!g->gtan_block)
    return suri_fail(SURI_ERR_NOMEM, "hvp: gradient tangents need %zu bytes", total);
  unsigned char *p = g->gtan_block;
  for (int32_t i = 0; i < g->n; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_OP || !nd->grad) continue;
    nd->gtan = (suri_real *)p;
    p += round_up((size_t)suri_shape_numel(&nd->shape) * sizeof(suri_real));
  }
  return SURI_OK;
}

/* Points in_gtan of op node nd at its inputs' gradient tangents: op nodes' own buffers, the
 * parameters' slices of hv; NULL for inputs, labels, state and no-gradient inputs. */
static void route_gtan(suri_graph *g, graph_node *nd, suri_real *hv) {
  const suri_op_def *def = suri_op_table[nd->op];
  suri_op_ctx *c = &nd->ctx;
  c->out_gtan = nd->gtan;
  for (int k = 0; k < nd->n_in; k++) {
    graph_node *in = &g->nodes[nd->in[k]];
    suri_real *dst = NULL;
    if (!(def->no_grad_mask & (1u << k)) && in->needs_grad) {
      if (in->type == NODE_PARAM) dst = hv + in->offset;
      else if (in->type == NODE_OP) dst = in->gtan;
    }
    c->in_gtan[k] = dst;
  }
}

suri_status suri_graph_hvp(suri_graph *g, suri_node loss, const suri_real *v, suri_real *hv) {
  suri_status st = check_loss(g, loss);
  if (st) return st;
  if (!hv) return suri_fail(SURI_ERR_ARG, "hvp: output vector is NULL");
  if (!g->gtan_block)
    return suri_fail(SURI_ERR_STATE, "hvp: call suri_graph_hvp_prepare first");
  st = suri_graph_jvp(g, v);
  if (!st && g->last_bwd != loss.id) st = suri_graph_backward(g, loss, NULL);
  if (st) return st;
  memset(hv, 0, g->nparam * sizeof *hv);
  for (int32_t i = 0; i <= loss.id; i++) {
    graph_node *nd = &g->nodes[i];
    if (nd->gtan) memset(nd->gtan, 0, (size_t)suri_shape_numel(&nd->live) * sizeof *nd->gtan);
  }
  for (int32_t i = loss.id; i >= 0; i--) {
    graph_node *nd = &g->nodes[i];
    if (nd->type != NODE_OP || !nd->touched || !nd->needs_grad || !nd->gtan) continue;
    route_gtan(g, nd, hv);
    nd->ctx.training = g->training;
    suri_op_table[nd->op]->bwd_tan(&nd->ctx);
  }
  return SURI_OK;
}
