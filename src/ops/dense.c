/* dense.c - fully connected layer y = sw * x W^T + sb * b.
 * x: (B, IN), W: (OUT, IN), b: (OUT), y: (B, OUT).
 * sw, sb are the parametrization multipliers (standard: 1, 1; NTK: sigma_w/sqrt(IN), sigma_b;
 * Jacot et al. 2018). The weight gradient GEMM writes straight into the flat gradient block
 * (beta = 1 to add, 0 to overwrite: op.h's grad_acc), BLAS transpose flags avoid explicit
 * transposes. A batch of one row becomes a matrix-vector product inside suri_gemm where that
 * is faster (src/core/linalg.c).
 *   backward: dx (+)= sw dy W,  dW (+)= sw dy^T x,  db (+)= sb sum_rows dy
 *   jvp:      ty  = sw (tx W^T + x tW^T) + sb tb
 *   backward tangent (Pearlmutter's R-operator of backward; tx, tW, tb: the input tangents,
 *   g = dy and its tangent gt):
 *             d(dx) += sw (gt W + g tW),  d(dW) += sw (gt^T x + g^T tx),  d(db) += sb sum_rows gt
 * With plain SGD folded into backward (suri_graph_set_sgd_fold), the weight-gradient GEMM
 * updates the weight in place instead: W += (-lr sw) dy^T x with beta = 1, so the gradient is
 * never stored and the separate update pass over W disappears; dx is computed first, from the
 * weight before the update.
 * The forward product runs as t = sw W x^T followed by y = t^T where OpenBLAS does that faster
 * (shapes and measurements in dense_swap.h).
 * suri_dense_fused_forward runs the GEMM and hands the bias and the activation of the next node
 * to one pass (graph fusion, see src/graph/run.c). */
#include <stdio.h>

#include "dense_swap.h"
#include "op.h"
#include "suri/linalg.h"

static suri_status dense_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                               suri_shape *out) {
  (void)a;
  const suri_shape *x = in[0], *W = in[1];
  char sx[96], sw[96];
  suri_shape_str(x, sx, sizeof sx);
  suri_shape_str(W, sw, sizeof sw);
  if (x->rank != 2 || !x->batched)
    return suri_fail(SURI_ERR_SHAPE, "dense: input must be (B, IN), got %s", sx);
  if (W->rank != 2 || W->batched || W->dim[1] != x->dim[1])
    return suri_fail(SURI_ERR_SHAPE, "dense: weight %s does not match input %s (need (OUT, %lld))",
                     sw, sx, (long long)x->dim[1]);
  if (n_in == 3) {
    const suri_shape *b = in[2];
    char sb[96];
    suri_shape_str(b, sb, sizeof sb);
    if (b->rank != 1 || b->batched || b->dim[0] != W->dim[0])
      return suri_fail(SURI_ERR_SHAPE, "dense: bias %s does not match weight %s (need (%lld))",
                       sb, sw, (long long)W->dim[0]);
  }
  out->rank = 2;
  out->batched = 1;
  out->dim[0] = x->dim[0];
  out->dim[1] = W->dim[0];
  return SURI_OK;
}

static void add_bias_rows(int64_t B, int64_t O, suri_real *y, const suri_real *b, suri_real sb) {
  for (int64_t i = 0; i < B; i++) {
    suri_real *yi = y + i * O;
#pragma omp simd
    for (int64_t j = 0; j < O; j++) yi[j] += sb * b[j];
  }
}

/* db (OUT) += sb * sum over the B rows of dy (B, OUT), rows in order. */
static void add_col_sums(int64_t B, int64_t O, const suri_real *dy, suri_real *db, suri_real sb) {
  for (int64_t i = 0; i < B; i++) {
    const suri_real *dyi = dy + i * O;
#pragma omp simd
    for (int64_t j = 0; j < O; j++) db[j] += sb * dyi[j];
  }
}

/* y (B, O) = t^T for t (O, B), in 16 x 16 tiles. */
static void transpose_into(int64_t O, int64_t B, const suri_real *t, suri_real *y) {
  for (int64_t o0 = 0; o0 < O; o0 += 16)
    for (int64_t b0 = 0; b0 < B; b0 += 16) {
      int64_t o1 = o0 + 16 < O ? o0 + 16 : O, b1 = b0 + 16 < B ? b0 + 16 : B;
      for (int64_t b = b0; b < b1; b++)
        for (int64_t o = o0; o < o1; o++) y[b * O + o] = t[o * B + b];
    }
}

/* y = sw x W^T, no bias; as t = sw W x^T and y = t^T where that is faster (dense_swap.h). */
static void dense_matmul(const suri_op_ctx *c) {
  int64_t B = c->in_shape[0]->dim[0], I = c->in_shape[0]->dim[1], O = c->in_shape[1]->dim[0];
  suri_real sw = (suri_real)c->attr->f[0];
  if (c->swap_tmp && suri_dense_swap_pays(B, O, I)) {
    suri_gemm(0, 1, O, B, I, sw, c->in[1], I, c->in[0], I, 0, c->swap_tmp, B);
    transpose_into(O, B, c->swap_tmp, c->out);
    return;
  }
  suri_gemm(0, 1, B, O, I, sw, c->in[0], I, c->in[1], I, 0, c->out, O);
}

static void dense_forward(const suri_op_ctx *c) {
  dense_matmul(c);
  if (c->n_in == 3)
    add_bias_rows(c->in_shape[0]->dim[0], c->in_shape[1]->dim[0], c->out, c->in[2],
                  (suri_real)c->attr->f[1]);
}

void suri_dense_fused_forward(const suri_op_ctx *dense, const suri_op_ctx *act,
                              suri_fused_forward_fn fwd) {
  dense_matmul(dense);
  fwd(act, dense->out, dense->n_in == 3 ? dense->in[2] : NULL, (suri_real)dense->attr->f[1]);
}

static void dense_backward(const suri_op_ctx *c) {
  int64_t B = c->in_shape[0]->dim[0], I = c->in_shape[0]->dim[1], O = c->in_shape[1]->dim[0];
  suri_real sw = (suri_real)c->attr->f[0], sb = (suri_real)c->attr->f[1];
  const suri_real *dy = c->out_grad;
  if (c->in_grad[0])
    suri_gemm(0, 0, B, I, O, sw, dy, O, c->in[1], I, (suri_real)SURI_GRAD_ACC(c, 0),
              c->in_grad[0], I);
  if (c->in_grad[1] && c->fold_w) /* W += -lr sw dy^T x, after dx read the old W */
    suri_gemm(1, 0, O, I, B, (suri_real)(-c->fold_lr * (double)sw), dy, O, c->in[0], I, 1,
              c->fold_w, I);
  else if (c->in_grad[1])
    suri_gemm(1, 0, O, I, B, sw, dy, O, c->in[0], I, (suri_real)SURI_GRAD_ACC(c, 1),
              c->in_grad[1], I);
  if (c->n_in == 3 && c->in_grad[2]) {
    suri_real *db = c->in_grad[2];
    int64_t i0 = 0;
    if (!SURI_GRAD_ACC(c, 2)) { /* overwrite: the first row sets db */
#pragma omp simd
      for (int64_t j = 0; j < O; j++) db[j] = sb * dy[j];
      i0 = 1;
    }
    for (int64_t i = i0; i < B; i++) {
      const suri_real *dyi = dy + i * O;
#pragma omp simd
      for (int64_t j = 0; j < O; j++) db[j] += sb * dyi[j];
    }
  }
}

static void dense_jvp(const suri_op_ctx *c) {
  int64_t B = c->in_shape[0]->dim[0], I = c->in_shape[0]->dim[1], O = c->in_shape[1]->dim[0];
  suri_real sw = (suri_real)c->attr->f[0], sb = (suri_real)c->attr->f[1];
  suri_real beta = 0;
  if (c->in_tan[0]) {
    suri_gemm(0, 1, B, O, I, sw, c->in_tan[0], I, c->in[1], I, 0, c->out_tan, O);
    beta = 1;
  }
  if (c->in_tan[1]) {
    suri_gemm(0, 1, B, O, I, sw, c->in[0], I, c->in_tan[1], I, beta, c->out_tan, O);
    beta = 1;
  }
  if (beta == 0)
    for (int64_t k = 0; k < B * O; k++) c->out_tan[k] = 0;
  if (c->n_in == 3 && c->in_tan[2]) add_bias_rows(B, O, c->out_tan, c->in_tan[2], sb);
}

static void dense_bwd_tan(const suri_op_ctx *c) {
  int64_t B = c->in_shape[0]->dim[0], I = c->in_shape[0]->dim[1], O = c->in_shape[1]->dim[0];
  suri_real sw = (suri_real)c->attr->f[0], sb = (suri_real)c->attr->f[1];
  const suri_real *g = c->out_grad, *gt = c->out_gtan;
  if (c->in_gtan[0]) { /* (B, IN) */
    suri_gemm(0, 0, B, I, O, sw, gt, O, c->in[1], I, 1, c->in_gtan[0], I);
    if (c->in_tan[1]) suri_gemm(0, 0, B, I, O, sw, g, O, c->in_tan[1], I, 1, c->in_gtan[0], I);
  }
  if (c->in_gtan[1]) { /* (OUT, IN) */
    suri_gemm(1, 0, O, I, B, sw, gt, O, c->in[0], I, 1, c->in_gtan[1], I);
    if (c->in_tan[0]) suri_gemm(1, 0, O, I, B, sw, g, O, c->in_tan[0], I, 1, c->in_gtan[1], I);
  }
  if (c->n_in == 3 && c->in_gtan[2]) add_col_sums(B, O, gt, c->in_gtan[2], sb);
}

const suri_op_def suri_op_dense_def = {
    .name = "dense",
    .min_in = 2,
    .max_in = 3,
    .shape = dense_shape,
    .forward = dense_forward,
    .backward = dense_backward,
    .jvp = dense_jvp,
    .bwd_tan = dense_bwd_tan,
    .overwrite = 1,
};
