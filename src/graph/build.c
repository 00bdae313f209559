/* build.c - named graph builders: thin wrappers that pack attributes for suri_graph_op. */
#include <string.h>

#include "graph_internal.h"

static suri_node op1(suri_graph *g, suri_op_kind k, suri_node x, const suri_op_attr *a) {
  return suri_graph_op(g, k, 1, &x, a);
}

static suri_node op2(suri_graph *g, suri_op_kind k, suri_node a, suri_node b) {
  suri_node in[2] = {a, b};
  return suri_graph_op(g, k, 2, in, NULL);
}

static suri_op_attr attr_f(double f0, double f1) {
  suri_op_attr a;
  memset(&a, 0, sizeof a);
  a.f[0] = f0;
  a.f[1] = f1;
  return a;
}

suri_node suri_dense(suri_graph *g, suri_node x, suri_node W, suri_node b, double scale_w,
                     double scale_b) {
  suri_node in[3] = {x, W, b};
  suri_op_attr a = attr_f(scale_w, scale_b);
  return suri_graph_op(g, SURI_OP_DENSE, b.id >= 0 ? 3 : 2, in, &a);
}

suri_node suri_add(suri_graph *g, suri_node a, suri_node b) { return op2(g, SURI_OP_ADD, a, b); }
suri_node suri_sub(suri_graph *g, suri_node a, suri_node b) { return op2(g, SURI_OP_SUB, a, b); }
suri_node suri_mul(suri_graph *g, suri_node a, suri_node b) { return op2(g, SURI_OP_MUL, a, b); }
suri_node suri_bias_add(suri_graph *g, suri_node x, suri_node b) {
  return op2(g, SURI_OP_BIAS_ADD, x, b);
}

suri_node suri_scale(suri_graph *g, suri_node x, double s) {
  suri_op_attr a = attr_f(s, 0);
  return op1(g, SURI_OP_SCALE, x, &a);
}

suri_node suri_relu(suri_graph *g, suri_node x) { return op1(g, SURI_OP_RELU, x, NULL); }
suri_node suri_leaky_relu(suri_graph *g, suri_node x, double slope) {
  suri_op_attr a = attr_f(slope, 0);
  return op1(g, SURI_OP_LEAKY_RELU, x, &a);
}
suri_node suri_tanh(suri_graph *g, suri_node x) { return op1(g, SURI_OP_TANH, x, NULL); }
suri_node suri_sigmoid(suri_graph *g, suri_node x) { return op1(g, SURI_OP_SIGMOID, x, NULL); }
suri_node suri_gelu(suri_graph *g, suri_node x) { return op1(g, SURI_OP_GELU, x, NULL); }
suri_node suri_erf(suri_graph *g, suri_node x) { return op1(g, SURI_OP_ERF, x, NULL); }
suri_node suri_softplus(suri_graph *g, suri_node x) { return op1(g, SURI_OP_SOFTPLUS, x, NULL); }
suri_node suri_identity(suri_graph *g, suri_node x) { return op1(g, SURI_OP_IDENTITY, x, NULL); }

suri_node suri_sum(suri_graph *g, suri_node x, int per_row) {
  suri_op_attr a = attr_f(0, 0);
  a.i[0] = per_row != 0;
  return op1(g, SURI_OP_SUM, x, &a);
}

suri_node suri_mean(suri_graph *g, suri_node x, int per_row) {
  suri_op_attr a = attr_f(0, 0);
  a.i[0] = per_row != 0;
  return op1(g, SURI_OP_MEAN, x, &a);
}

suri_node suri_reshape(suri_graph *g, suri_node x, int rank, const int64_t *dims) {
  suri_op_attr a = attr_f(0, 0);
  if (rank < 0 || rank > SURI_MAX_RANK) rank = -1; /* the shape function reports it */
  a.i[0] = rank;
  for (int k = 0; k < rank; k++) a.i[k + 1] = dims[k];
  return op1(g, SURI_OP_RESHAPE, x, &a);
}

suri_node suri_batch_norm(suri_graph *g, suri_node x, suri_node gamma, suri_node beta,
                          suri_node run_mean, suri_node run_var, double eps, double momentum) {
  suri_node in[5] = {x, gamma, beta, run_mean, run_var};
  suri_op_attr a = attr_f(eps, momentum);
  return suri_graph_op(g, SURI_OP_BATCH_NORM, 5, in, &a);
}

suri_node suri_layer_norm(suri_graph *g, suri_node x, suri_node gamma, suri_node beta,
                          double eps) {
  suri_node in[3] = {x, gamma, beta};
  suri_op_attr a = attr_f(eps, 0);
  return suri_graph_op(g, SURI_OP_LAYER_NORM, 3, in, &a);
}

suri_node suri_dropout(suri_graph *g, suri_node x, double p) {
  suri_op_attr a = attr_f(p, 0);
  return op1(g, SURI_OP_DROPOUT, x, &a);
}

suri_node suri_softmax_ce(suri_graph *g, suri_node logits, suri_node labels) {
  return op2(g, SURI_OP_SOFTMAX_CE, logits, labels);
}
suri_node suri_mse(suri_graph *g, suri_node pred, suri_node target) {
  return op2(g, SURI_OP_MSE, pred, target);
}
suri_node suri_logistic(suri_graph *g, suri_node logit, suri_node target) {
  return op2(g, SURI_OP_LOGISTIC, logit, target);
}
