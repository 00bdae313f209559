/* table.c - the op table indexed by suri_op_kind. The static_assert keeps it complete: adding a
 * kind to the enum without a definition here fails the build. Also the shared backward tangent
 * of linear ops: if backward is dx = A dy with A fixed by the forward pass (masks, constants,
 * not the input values), its tangent is d(dx) = A d(dy), the same kernel on the tangent. */
#include <assert.h>

#include "op.h"

void suri_bwd_tan_linear(const suri_op_ctx *c, void (*backward)(const suri_op_ctx *c)) {
  suri_op_ctx t = *c;
  t.out_grad = c->out_gtan;
  for (int k = 0; k < c->n_in; k++) t.in_grad[k] = c->in_gtan[k];
  t.grad_acc = ~0u; /* add: the graph zeroed the gradient tangents before the pass */
  backward(&t);
}

const suri_op_def *const suri_op_table[SURI_OP_COUNT] = {
    [SURI_OP_DENSE] = &suri_op_dense_def,
    [SURI_OP_ADD] = &suri_op_add_def,
    [SURI_OP_SUB] = &suri_op_sub_def,
    [SURI_OP_MUL] = &suri_op_mul_def,
    [SURI_OP_SCALE] = &suri_op_scale_def,
    [SURI_OP_BIAS_ADD] = &suri_op_bias_add_def,
    [SURI_OP_RELU] = &suri_op_relu_def,
    [SURI_OP_LEAKY_RELU] = &suri_op_leaky_relu_def,
    [SURI_OP_TANH] = &suri_op_tanh_def,
    [SURI_OP_SIGMOID] = &suri_op_sigmoid_def,
    [SURI_OP_GELU] = &suri_op_gelu_def,
    [SURI_OP_ERF] = &suri_op_erf_def,
    [SURI_OP_SOFTPLUS] = &suri_op_softplus_def,
    [SURI_OP_IDENTITY] = &suri_op_identity_def,
    [SURI_OP_SUM] = &suri_op_sum_def,
    [SURI_OP_MEAN] = &suri_op_mean_def,
    [SURI_OP_RESHAPE] = &suri_op_reshape_def,
    [SURI_OP_BATCH_NORM] = &suri_op_batch_norm_def,
    [SURI_OP_LAYER_NORM] = &suri_op_layer_norm_def,
    [SURI_OP_DROPOUT] = &suri_op_dropout_def,
    [SURI_OP_SOFTMAX_CE] = &suri_op_softmax_ce_def,
    [SURI_OP_MSE] = &suri_op_mse_def,
    [SURI_OP_LOGISTIC] = &suri_op_logistic_def,
};

static_assert(sizeof suri_op_table / sizeof suri_op_table[0] == SURI_OP_COUNT,
              "op table must have one entry per suri_op_kind");
static_assert(SURI_OP_LOGISTIC + 1 == SURI_OP_COUNT,
              "a new op kind needs an entry in suri_op_table");
