/* elementwise.c - binary element-wise ops and the two affine helpers.
 *   add:      y = a + b            da += dy,      db += dy,       ty = ta + tb
 *   sub:      y = a - b            da += dy,      db -= dy,       ty = ta - tb
 *   mul:      y = a * b            da += dy * b,  db += dy * a,   ty = ta * b + a * tb
 *   scale:    y = s x   (s=f[0])   dx += s dy,                    ty = s tx
 *   bias_add: y = x + b, b broadcast over the rows of x (x: (B, ..., N), b: (N))
 *             dx += dy,  db += sum over rows of dy,               ty = tx + tb
 * add/sub/mul need identical shapes (batched-ness included): no implicit broadcasting, so a
 * shape slip is a build error rather than a silent broadcast. When both inputs of mul are the
 * same node, the graph passes the same gradient buffer twice and the two accumulations add up
 * to 2 a dy, as they should.
 * Backward tangents (Hessian-vector products): add, sub, scale and bias_add are linear, so
 * the tangent of their backward is the same backward on the gradient tangent; mul is bilinear:
 *   d(da) += d(dy) * b + dy * tb,   d(db) += d(dy) * a + dy * ta. */
#include <string.h>

#include "op.h"

static int64_t live_numel(const suri_op_ctx *c) { return suri_shape_numel(c->out_shape); }

static suri_status same_shape(const char *op, const suri_shape *const *in, suri_shape *out) {
  suri_status st = suri_shape_same(op, in[0], in[1]);
  if (st == SURI_OK) *out = *in[0];
  return st;
}

static suri_status add_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                             suri_shape *out) {
  (void)n_in, (void)a;
  return same_shape("add", in, out);
}

static suri_status sub_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                             suri_shape *out) {
  (void)n_in, (void)a;
  return same_shape("sub", in, out);
}

static suri_status mul_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                             suri_shape *out) {
  (void)n_in, (void)a;
  return same_shape("mul", in, out);
}

/* y[k] = s * x[k] */
static void scaled_copy(int64_t n, suri_real s, const suri_real *x, suri_real *y) {
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
  for (int64_t k = 0; k < n; k++) y[k] = s * x[k];
}

/* y[k] += s * x[k] */
static void axpy(int64_t n, suri_real s, const suri_real *x, suri_real *y) {
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
  for (int64_t k = 0; k < n; k++) y[k] += s * x[k];
}

/* ---- add / sub: y = a + sb * b with sb = +1 / -1 ----------------------------------------- */
static void addsub_forward(const suri_op_ctx *c, suri_real sb) {
  int64_t n = live_numel(c);
  const suri_real *a = c->in[0], *b = c->in[1];
  suri_real *y = c->out;
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
  for (int64_t k = 0; k < n; k++) y[k] = a[k] + sb * b[k];
}

static void addsub_backward(const suri_op_ctx *c, suri_real sb) {
  int64_t n = live_numel(c);
  if (c->in_grad[0]) axpy(n, 1, c->out_grad, c->in_grad[0]);
  if (c->in_grad[1]) axpy(n, sb, c->out_grad, c->in_grad[1]);
}

static void addsub_jvp(const suri_op_ctx *c, suri_real sb) {
  int64_t n = live_numel(c);
  const suri_real *ta = c->in_tan[0], *tb = c->in_tan[1];
  suri_real *ty = c->out_tan;
  if (ta && tb) {
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
    for (int64_t k = 0; k < n; k++) ty[k] = ta[k] + sb * tb[k];
  } else if (ta) {
    memcpy(ty, ta, (size_t)n * sizeof *ty);
  } else if (tb) {
    scaled_copy(n, sb, tb, ty);
  } else {
    memset(ty, 0, (size_t)n * sizeof *ty);
  }
}

static void add_forward(const suri_op_ctx *c) { addsub_forward(c, 1); }
static void add_backward(const suri_op_ctx *c) { addsub_backward(c, 1); }
static void add_jvp(const suri_op_ctx *c) { addsub_jvp(c, 1); }
static void sub_forward(const suri_op_ctx *c) { addsub_forward(c, -1); }
static void sub_backward(const suri_op_ctx *c) { addsub_backward(c, -1); }
static void sub_jvp(const suri_op_ctx *c) { addsub_jvp(c, -1); }

/* ---- mul ----------------------------------------------------------------------------------- */
static void mul_forward(const suri_op_ctx *c) {
  int64_t n = live_numel(c);
  const suri_real *a = c->in[0], *b = c->in[1];
  suri_real *y = c->out;
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
  for (int64_t k = 0; k < n; k++) y[k] = a[k] * b[k];
}

/* d[k] += dy[k] * v[k] */
static void mul_acc(int64_t n, const suri_real *dy, const suri_real *v, suri_real *d) {
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
  for (int64_t k = 0; k < n; k++) d[k] += dy[k] * v[k];
}

static void mul_backward(const suri_op_ctx *c) {
  int64_t n = live_numel(c);
  if (c->in_grad[0]) mul_acc(n, c->out_grad, c->in[1], c->in_grad[0]);
  if (c->in_grad[1]) mul_acc(n, c->out_grad, c->in[0], c->in_grad[1]);
}

static void mul_bwd_tan(const suri_op_ctx *c) {
  int64_t n = live_numel(c);
  if (c->in_gtan[0]) {
    mul_acc(n, c->out_gtan, c->in[1], c->in_gtan[0]);
    if (c->in_tan[1]) mul_acc(n, c->out_grad, c->in_tan[1], c->in_gtan[0]);
  }
  if (c->in_gtan[1]) {
    mul_acc(n, c->out_gtan, c->in[0], c->in_gtan[1]);
    if (c->in_tan[0]) mul_acc(n, c->out_grad, c->in_tan[0], c->in_gtan[1]);
  }
}

static void mul_jvp(const suri_op_ctx *c) {
  int64_t n = live_numel(c);
  suri_real *ty = c->out_tan;
  memset(ty, 0, (size_t)n * sizeof *ty);
  if (c->in_tan[0]) mul_acc(n, c->in_tan[0], c->in[1], ty);
  if (c->in_tan[1]) mul_acc(n, c->in_tan[1], c->in[0], ty);
}

/* ---- scale --------------------------------------------------------------------------------- */
static suri_status scale_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                               suri_shape *out) {
  (void)n_in, (void)a;
  *out = *in[0];
  return SURI_OK;
}

static void scale_forward(const suri_op_ctx *c) {
  scaled_copy(live_numel(c), (suri_real)c->attr->f[0], c->in[0], c->out);
}

static void scale_backward(const suri_op_ctx *c) {
  if (c->in_grad[0]) axpy(live_numel(c), (suri_real)c->attr->f[0], c->out_grad, c->in_grad[0]);
}

static void scale_jvp(const suri_op_ctx *c) {
  int64_t n = live_numel(c);
  if (c->in_tan[0]) scaled_copy(n, (suri_real)c->attr->f[0], c->in_tan[0], c->out_tan);
  else memset(c->out_tan, 0, (size_t)n * sizeof *c->out_tan);
}

/* ---- bias_add: x (B, ..., N) + b (N) ------------------------------------------------------ */
static suri_status bias_add_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                  suri_shape *out) {
  (void)n_in, (void)a;
  const suri_shape *x = in[0], *b = in[1];
  char sx[96], sb[96];
  suri_shape_str(x, sx, sizeof sx);
  suri_shape_str(b, sb, sizeof sb);
  if (x->rank < 2)
    return suri_fail(SURI_ERR_SHAPE, "bias_add: input must have rows, (B, N), got %s", sx);
  if (b->rank != 1 || b->batched || b->dim[0] != x->dim[x->rank - 1])
    return suri_fail(SURI_ERR_SHAPE, "bias_add: bias %s does not match input %s (need (%lld))",
                     sb, sx, (long long)x->dim[x->rank - 1]);
  *out = *x;
  return SURI_OK;
}

static void bias_add_forward(const suri_op_ctx *c) {
  const suri_shape *s = c->out_shape;
  int64_t N = s->dim[s->rank - 1], R = suri_shape_numel(s) / N;
  const suri_real *x = c->in[0], *b = c->in[1];
  suri_real *y = c->out;
#pragma omp parallel for if(R * N > SURI_OMP_MIN)
  for (int64_t i = 0; i < R; i++) {
#pragma omp simd
    for (int64_t j = 0; j < N; j++) y[i * N + j] = x[i * N + j] + b[j];
  }
}

/* db[j] += sum_i dy[i, j]: serial over rows so the summation order is fixed. */
static void add_row_sums(int64_t R, int64_t N, const suri_real *dy, suri_real *db) {
  for (int64_t i = 0; i < R; i++) {
#pragma omp simd
    for (int64_t j = 0; j < N; j++) db[j] += dy[i * N + j];
  }
}

static void bias_add_backward(const suri_op_ctx *c) {
  const suri_shape *s = c->out_shape;
  int64_t N = s->dim[s->rank - 1], R = suri_shape_numel(s) / N;
  if (c->in_grad[0]) axpy(R * N, 1, c->out_grad, c->in_grad[0]);
  if (c->in_grad[1]) add_row_sums(R, N, c->out_grad, c->in_grad[1]);
}

static void bias_add_jvp(const suri_op_ctx *c) {
  const suri_shape *s = c->out_shape;
  int64_t N = s->dim[s->rank - 1], R = suri_shape_numel(s) / N;
  const suri_real *tx = c->in_tan[0], *tb = c->in_tan[1];
  suri_real *ty = c->out_tan;
  if (tx) memcpy(ty, tx, (size_t)(R * N) * sizeof *ty);
  else memset(ty, 0, (size_t)(R * N) * sizeof *ty);
  if (!tb) return;
  for (int64_t i = 0; i < R; i++) {
#pragma omp simd
    for (int64_t j = 0; j < N; j++) ty[i * N + j] += tb[j];
  }
}

static void add_bwd_tan(const suri_op_ctx *c) { suri_bwd_tan_linear(c, add_backward); }
const suri_op_def suri_op_add_def = {.name = "add", .min_in = 2, .max_in = 2,
                                     .shape = add_shape, .forward = add_forward,
                                     .backward = add_backward, .jvp = add_jvp,
  .bwd_tan = add_bwd_tan};
static void sub_bwd_tan(const suri_op_ctx *c) { suri_bwd_tan_linear(c, sub_backward); }
const suri_op_def suri_op_sub_def = {.name = "sub", .min_in = 2, .max_in = 2,
                                     .shape = sub_shape, .forward = sub_forward,
                                     .backward = sub_backward, .jvp = sub_jvp,
  .bwd_tan = sub_bwd_tan};
const suri_op_def suri_op_mul_def = {.name = "mul", .min_in = 2, .max_in = 2,
                                     .shape = mul_shape, .forward = mul_forward,
                                     .backward = mul_backward, .jvp = mul_jvp,
  .bwd_tan = mul_bwd_tan};
static void scale_bwd_tan(const suri_op_ctx *c) { suri_bwd_tan_linear(c, scale_backward); }
const suri_op_def suri_op_scale_def = {.name = "scale", .min_in = 1, .max_in = 1,
                                       .shape = scale_shape, .forward = scale_forward,
                                       .backward = scale_backward, .jvp = scale_jvp,
  .bwd_tan = scale_bwd_tan};
static void bias_add_bwd_tan(const suri_op_ctx *c) { suri_bwd_tan_linear(c, bias_add_backward); }
const suri_op_def suri_op_bias_add_def = {.name = "bias_add", .min_in = 2, .max_in = 2,
                                          .shape = bias_add_shape, .forward = bias_add_forward,
                                          .backward = bias_add_backward, .jvp = bias_add_jvp,
  .bwd_tan = bias_add_bwd_tan};
