/* op.h - the op interface (private): every op is a const suri_op_def with a shape function,
 * forward, backward and jvp, plus an optional persistent scratch size and optional fused
 * bias + activation kernels.
 *
 * Conventions for kernels:
 * - Shapes in the context are the live shapes (batched dim[0] = current batch).
 * - forward writes out[] completely (never accumulates).
 * - backward writes dL/d(input) into in_grad[i]; in_grad[i] == NULL means input i needs no
 *   gradient: skip that work. Whether it ADDS to in_grad[i] or OVERWRITES it is bit i of
 *   grad_acc (set: add; clear: overwrite, every live element written, no read of the old
 *   contents). The graph clears the bit for the first writer of a gradient in a backward pass,
 *   so no gradient buffer is zeroed first. Ops whose definition has .overwrite = 0 always get
 *   the bit set (the graph zeroes such a buffer itself before their first write).
 *   When two inputs are the same node, in_grad[i] == in_grad[j] (i < j) and bit i may be clear
 *   while bit j is set: a kernel writes the gradient of input i before it adds that of input j.
 * - jvp writes out_tan completely; in_tan[i] == NULL means the tangent of input i is zero.
 *   jvp is only called when at least one in_tan is non-NULL.
 * - scratch is per-node memory that persists from forward to backward/jvp (saved masks,
 *   batch statistics); its size (bytes) comes from scratch() for the max-batch shapes.
 * - bwd_tan (exact Hessian-vector products, Pearlmutter 1994) is the tangent of backward:
 *   given the forward values, the input tangents in_tan (NULL = zero), the output gradient
 *   out_grad and its tangent out_gtan (never NULL), it ADDS d/de [backward] into in_gtan[i]
 *   (NULL = not needed), always adding (the graph zeroes these buffers first). For an op whose
 *   backward is linear in out_grad and does not read the inputs' values, it is backward applied
 *   to out_gtan (suri_bwd_tan_linear).
 * - No allocation, no printing. Loops over more than ~32k elements may use OpenMP.
 */
#ifndef SURI_OP_H
#define SURI_OP_H

#include "suri/graph.h"

typedef struct suri_op_ctx {
  int n_in;
  const suri_shape *in_shape[SURI_MAX_INPUTS];
  const suri_real *in[SURI_MAX_INPUTS];       /* input values (NULL for int32 inputs) */
  const int32_t *in_i32[SURI_MAX_INPUTS];     /* int32 inputs (labels), else NULL */
  suri_real *in_state[SURI_MAX_INPUTS];       /* writable view of state inputs, else NULL */
  suri_real *in_grad[SURI_MAX_INPUTS];        /* write here (see grad_acc); NULL = not needed */
  unsigned grad_acc;                          /* bit i: add into in_grad[i], else overwrite */
  const suri_real *in_tan[SURI_MAX_INPUTS];   /* NULL = zero tangent */
  const suri_shape *out_shape;
  suri_real *out;
  const suri_real *out_grad;
  suri_real *out_tan;
  void *scratch;
  const suri_op_attr *attr;
  int training;
  int64_t batch;
  const suri_real *out_gtan;                  /* bwd_tan: tangent of out_grad */
  suri_real *in_gtan[SURI_MAX_INPUTS];        /* bwd_tan: add here; NULL = not needed */
  /* dense backward only: when fold_w is set, the weight gradient is not written to in_grad[1];
   * the weight is updated in place instead, fold_w += -fold_lr * dL/dW (one GEMM, beta = 1),
   * after dx has been computed from the old weight (suri_graph_set_sgd_fold). */
  suri_real *fold_w;
  double fold_lr;
  /* dense forward only: transient buffer (OUT, B) for the swapped product (dense_swap.h), shared
   * by the graph's dense nodes; NULL when no node may need it */
  suri_real *swap_tmp;
  const suri_rng *rng;   /* dropout stream */
  uint64_t rng_index;    /* first random index for this node in this forward pass */
} suri_op_ctx;

typedef void (*suri_fused_forward_fn)(const suri_op_ctx *c, suri_real *u, const suri_real *bias,
                                      suri_real sb);

typedef struct suri_op_def {
  const char *name;
  int min_in, max_in;
  /* Infers the output shape from input shapes (max batch). Returns SURI_ERR_SHAPE with a
   * message naming the op and both shapes on mismatch. */
  suri_status (*shape)(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                       suri_shape *out);
  /* Persistent scratch bytes for max-batch shapes (NULL = none). */
  size_t (*scratch)(int n_in, const suri_shape *const *in, const suri_shape *out,
                    const suri_op_attr *a);
  void (*forward)(const suri_op_ctx *c);
  void (*backward)(const suri_op_ctx *c);
  void (*jvp)(const suri_op_ctx *c);
  /* Backward tangent for exact Hessian-vector products (NULL: the op has no second-order
   * rule, and the graph refuses suri_graph_hvp_prepare for graphs that need it). */
  void (*bwd_tan)(const suri_op_ctx *c);
  /* Which inputs carry no gradient by nature (bit i set: labels, state). */
  unsigned no_grad_mask;
  /* 1 if backward honours grad_acc (overwrites when the bit is clear). */
  int overwrite;
  /* Point-wise activations only (NULL elsewhere): the graph fuses a dense layer with the
   * activation that is its only consumer. fused_forward gets the activation's context and the
   * dense output u (B, N) before its bias: u += sb * bias (bias (N), NULL = none), then
   * out = f(u), in one pass over u. fused_backward writes du = f'(u) dy into in_grad[0] (per
   * grad_acc bit 0) and, when db is not NULL, db (N) (+)= sb * sum over rows of du (db_acc:
   * add, else overwrite), summing rows in order so the result is independent of threads. */
  suri_fused_forward_fn fused_forward;
  void (*fused_backward)(const suri_op_ctx *c, suri_real *db, int db_acc, suri_real sb);
} suri_op_def;

/* Dense forward fused with an activation (dense.c): the GEMM into dense->out, then
 * fwd(act, dense->out, bias, sb) for the bias and the activation. */
void suri_dense_fused_forward(const suri_op_ctx *dense, const suri_op_ctx *act,
                              suri_fused_forward_fn fwd);

/* bwd_tan of an op whose backward is linear in out_grad alone: calls backward with out_gtan
 * as the output gradient and in_gtan as the (added-to) input gradients. */
void suri_bwd_tan_linear(const suri_op_ctx *c, void (*backward)(const suri_op_ctx *c));

/* The table, indexed by suri_op_kind; checked complete in ops/table.c. */
extern const suri_op_def *const suri_op_table[SURI_OP_COUNT];

/* Per-family definitions (one file each). */
extern const suri_op_def suri_op_dense_def;
extern const suri_op_def suri_op_add_def, suri_op_sub_def, suri_op_mul_def, suri_op_scale_def,
    suri_op_bias_add_def;
extern const suri_op_def suri_op_relu_def, suri_op_leaky_relu_def, suri_op_tanh_def,
    suri_op_sigmoid_def, suri_op_gelu_def, suri_op_erf_def, suri_op_softplus_def,
    suri_op_identity_def;
extern const suri_op_def suri_op_sum_def, suri_op_mean_def, suri_op_reshape_def;
extern const suri_op_def suri_op_batch_norm_def, suri_op_layer_norm_def, suri_op_dropout_def;
extern const suri_op_def suri_op_softmax_ce_def, suri_op_mse_def, suri_op_logistic_def;

/* Shape helpers shared by op files. */
suri_status suri_shape_same(const char *op, const suri_shape *a, const suri_shape *b);
/* Threshold (elements) below which element-wise loops stay single-threaded. */
#ifndef SURI_OMP_MIN
#define SURI_OMP_MIN 32768
#endif

/* 1 if the kernel adds into in_grad[i], 0 if it overwrites it (see grad_acc). */
#define SURI_GRAD_ACC(c, i) ((int)(((c)->grad_acc >> (i)) & 1u))

#endif
