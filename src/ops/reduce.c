/* reduce.c - sums, means and reshape.
 *   sum  (i[0] = 0): y = sum_k x[k], a rank-0 scalar that is not batched (a batched x is summed
 *        over its live rows);  dx[k] += dy;  ty = sum_k tx[k]
 *   sum  (i[0] = 1): y[r] = sum over the rest of row r, shape (dim0, 1) (batched like x);
 *        dx[r, :] += dy[r];  ty[r] = sum tx[r, :]
 *   mean: as sum, times 1/m where m is the number of summed elements (live batch included).
 *   reshape: same data, new dims; a batched x keeps its batch dimension and i[0] = rank without
 *        it, i[1..] = the dims; an unbatched x takes i[0] dims exactly. numel must agree.
 *        dx += dy;  ty = tx.
 * Sums accumulate in double and run serially in index order, so the result does not depend on
 * the thread count (summation is memory-bound; threads would buy little here).
 * All three are linear: the backward tangent is backward applied to the gradient tangent. */
#include <string.h>

#include "op.h"

static suri_status reduce_shape_common(const char *op, const suri_shape *x, const suri_op_attr *a,
                                       suri_shape *out) {
  char sx[96];
  suri_shape_str(x, sx, sizeof sx);
  if (a->i[0] != 0 && a->i[0] != 1)
    return suri_fail(SURI_ERR_ARG, "%s: mode i[0] must be 0 (all) or 1 (per row), got %lld",
                     op, (long long)a->i[0]);
  memset(out, 0, sizeof *out);
  if (a->i[0] == 0) return SURI_OK; /* rank-0 scalar, not batched */
  if (x->rank < 1)
    return suri_fail(SURI_ERR_SHAPE, "%s: per-row reduction needs rows, got scalar %s", op, sx);
  out->rank = 2;
  out->batched = x->batched;
  out->dim[0] = x->dim[0];
  out->dim[1] = 1;
  return SURI_OK;
}

static suri_status sum_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                             suri_shape *out) {
  (void)n_in;
  return reduce_shape_common("sum", in[0], a, out);
}

static suri_status mean_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                              suri_shape *out) {
  (void)n_in;
  return reduce_shape_common("mean", in[0], a, out);
}

/* Rows and row length of the reduction for the live input shape. */
static void reduce_dims(const suri_op_ctx *c, int64_t *rows, int64_t *len) {
  int64_t n = suri_shape_numel(c->in_shape[0]);
  *rows = c->attr->i[0] ? c->in_shape[0]->dim[0] : 1;
  *len = *rows ? n / *rows : 0;
}

static void reduce_rows(int64_t rows, int64_t len, double mul, const suri_real *x, suri_real *y) {
  for (int64_t r = 0; r < rows; r++) {
    double s = 0;
    const suri_real *xr = x + r * len;
    for (int64_t k = 0; k < len; k++) s += xr[k];
    y[r] = (suri_real)(s * mul);
  }
}

static void reduce_back(int64_t rows, int64_t len, double mul, const suri_real *dy,
                        suri_real *dx) {
  for (int64_t r = 0; r < rows; r++) {
    suri_real g = (suri_real)(dy[r] * mul);
    suri_real *dxr = dx + r * len;
#pragma omp simd
    for (int64_t k = 0; k < len; k++) dxr[k] += g;
  }
}

static void reduce_forward(const suri_op_ctx *c, int mean) {
  int64_t rows, len;
  reduce_dims(c, &rows, &len);
  reduce_rows(rows, len, mean && len ? 1.0 / (double)len : 1.0, c->in[0], c->out);
}

static void reduce_backward(const suri_op_ctx *c, int mean) {
  int64_t rows, len;
  if (!c->in_grad[0]) return;
  reduce_dims(c, &rows, &len);
  reduce_back(rows, len, mean && len ? 1.0 / (double)len : 1.0, c->out_grad, c->in_grad[0]);
}

static void reduce_jvp(const suri_op_ctx *c, int mean) {
  int64_t rows, len;
  reduce_dims(c, &rows, &len);
  if (!c->in_tan[0]) {
    for (int64_t r = 0; r < rows; r++) c->out_tan[r] = 0;
    return;
  }
  reduce_rows(rows, len, mean && len ? 1.0 / (double)len : 1.0, c->in_tan[0], c->out_tan);
}

static void sum_forward(const suri_op_ctx *c) { reduce_forward(c, 0); }
static void sum_backward(const suri_op_ctx *c) { reduce_backward(c, 0); }
static void sum_jvp(const suri_op_ctx *c) { reduce_jvp(c, 0); }
static void mean_forward(const suri_op_ctx *c) { reduce_forward(c, 1); }
static void mean_backward(const suri_op_ctx *c) { reduce_backward(c, 1); }
static void mean_jvp(const suri_op_ctx *c) { reduce_jvp(c, 1); }

/* ---- reshape ------------------------------------------------------------------------------ */
static suri_status reshape_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                 suri_shape *out) {
  (void)n_in;
  const suri_shape *x = in[0];
  char sx[96], so[96];
  suri_shape_str(x, sx, sizeof sx);
  int b = x->batched ? 1 : 0;
  int64_t rank = a->i[0];
  if (rank < 0 || rank + b > SURI_MAX_RANK)
    return suri_fail(SURI_ERR_SHAPE, "reshape: new rank %lld out of range 0..%d for input %s",
                     (long long)rank, SURI_MAX_RANK - b, sx);
  memset(out, 0, sizeof *out);
  out->rank = (int)rank + b;
  out->batched = x->batched;
  if (b) out->dim[0] = x->dim[0];
  for (int k = 0; k < (int)rank; k++) {
    if (a->i[k + 1] <= 0)
      return suri_fail(SURI_ERR_SHAPE, "reshape: dimension %d is %lld (must be positive), input %s",
                       k, (long long)a->i[k + 1], sx);
    out->dim[k + b] = a->i[k + 1];
  }
  suri_shape_str(out, so, sizeof so);
  if (suri_shape_numel(out) != suri_shape_numel(x))
    return suri_fail(SURI_ERR_SHAPE, "reshape: %s has %lld elements, cannot become %s (%lld)", sx,
                     (long long)suri_shape_numel(x), so, (long long)suri_shape_numel(out));
  return SURI_OK;
}

static void reshape_forward(const suri_op_ctx *c) {
  memcpy(c->out, c->in[0], (size_t)suri_shape_numel(c->out_shape) * sizeof *c->out);
}

static void reshape_backward(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->out_shape);
  suri_real *dx = c->in_grad[0];
  const suri_real *dy = c->out_grad;
  if (!dx) return;
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
  for (int64_t k = 0; k < n; k++) dx[k] += dy[k];
}

static void reshape_jvp(const suri_op_ctx *c) {
  size_t bytes = (size_t)suri_shape_numel(c->out_shape) * sizeof *c->out_tan;
  if (c->in_tan[0]) memcpy(c->out_tan, c->in_tan[0], bytes);
  else memset(c->out_tan, 0, bytes);
}

static void sum_bwd_tan(const suri_op_ctx *c) { suri_bwd_tan_linear(c, sum_backward); }
const suri_op_def suri_op_sum_def = {.name = "sum", .min_in = 1, .max_in = 1,
                                     .shape = sum_shape, .forward = sum_forward,
                                     .backward = sum_backward, .jvp = sum_jvp,
  .bwd_tan = sum_bwd_tan};
static void mean_bwd_tan(const suri_op_ctx *c) { suri_bwd_tan_linear(c, mean_backward); }
const suri_op_def suri_op_mean_def = {.name = "mean", .min_in = 1, .max_in = 1,
                                      .shape = mean_shape, .forward = mean_forward,
                                      .backward = mean_backward, .jvp = mean_jvp,
  .bwd_tan = mean_bwd_tan};
static void reshape_bwd_tan(const suri_op_ctx *c) { suri_bwd_tan_linear(c, reshape_backward); }
const suri_op_def suri_op_reshape_def = {.name = "reshape", .min_in = 1, .max_in = 1,
                                         .shape = reshape_shape, .forward = reshape_forward,
                                         .backward = reshape_backward, .jvp = reshape_jvp,
  .bwd_tan = reshape_bwd_tan};
