/* activation.c - point-wise activations y = f(x), with backward dx (+)= f'(x) dy and jvp
 * ty = f'(x) tx, and the kernels the graph uses when it fuses a dense layer with its activation
 * (bias + f in one pass forward; f' and the bias gradient in one pass backward). Each op is a
 * pair of inline functions (value, derivative given x and the saved output y) expanded into
 * the kernels by one macro, so every activation gets the same loops (OpenMP over large
 * tensors, SIMD inside, compiled for AVX-512 / AVX2 / baseline with run-time selection). The
 * transcendental functions come from vmath.h in float builds so these loops vectorise.
 *   relu        max(x, 0)                          f' = [x > 0]      (0 at the kink)
 *   leaky_relu  x > 0 ? x : a x   (a = f[0])       f' = x > 0 ? 1 : a
 *   tanh        tanh x                             f' = 1 - y^2
 *   sigmoid     1 / (1 + e^-x), evaluated from e^-|x| so it never overflows;  f' = y (1 - y)
 *   gelu        x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2  (Hendrycks & Gimpel 2016, the
 *               exact erf form, PyTorch's approximate='none'; Phi of negative x is taken from
 *               erfc, so the tail does not cancel);  f' = Phi(x) + x phi(x),
 *               phi(x) = e^(-x^2/2) / sqrt(2 pi)
 *   erf         erf x                              f' = 2/sqrt(pi) e^(-x^2)
 *   softplus    log(1 + e^x) = max(x, 0) + log1p(e^-|x|)  (no overflow for large |x|,
 *               no cancellation near 0);            f' = sigmoid(x)
 *   identity    x                                  f' = 1
 * Backward tangent (exact Hessian-vector products, Pearlmutter 1994): with g = dy, its tangent
 * gt and the input tangent tx, d(dx) += f'(x) gt + f''(x) g tx, where f'' is
 *   relu, leaky_relu, identity: 0 (almost everywhere; the kink has measure zero, and this is
 *   the Hessian that autograd's double backward gives);  tanh: -2 y (1 - y^2);
 *   sigmoid: y (1 - y)(1 - 2 y);  gelu: phi(x)(2 - x^2);  erf: -2 x f'(x);
 *   softplus: s (1 - s), s = sigmoid(x). */
#include <math.h>

#include "op.h"
#include "vmath.h"

/* Float builds use the vectorisable functions of vmath.h (within a few ulp of libm, see
 * tests/test_vmath.c); double builds use libm. */
#ifdef SURI_REAL_DOUBLE
#define R_EXP exp
#define R_TANH tanh
#define R_ERF erf
#define R_PHI(x) (0.5 * erfc(-(x) * INV_SQRT2))
#define R_LOG1P01 log1p
#define R_SEL suri_vm_seld
#define R_FABS fabs
#else
#define R_EXP suri_vexpf
#define R_TANH suri_vtanhf
#define R_ERF suri_verff
#define R_PHI suri_vphif
#define R_LOG1P01 suri_vlog1p01f
#define R_SEL suri_vm_sel
#define R_FABS fabsf
#endif

/* Runtime ISA dispatch for the vectorised loops: gcc compiles each range kernel for AVX-512,
 * AVX2 and the x86-64 baseline and an ifunc picks one at load time. Without -ffp-contract
 * (ISO C mode: no FMA contraction) and with the same operations in every version, the three
 * give bitwise the same results; only the speed differs. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define SURI_VEC_TARGETS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SURI_VEC_TARGETS
#endif

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define TWO_OVER_SQRT_PI 1.12837916709551257390

static inline suri_real sigmoid_of(suri_real x) {
  suri_real e = R_EXP(-R_FABS(x)); /* e^-|x| in (0, 1] */
  return R_SEL(x >= 0, 1 / (1 + e), e / (1 + e));
}

static inline suri_real relu_f(suri_real x, suri_real a) {
  (void)a;
  return x < 0 ? 0 : x; /* NaN stays NaN, as torch.relu: a NaN must not vanish here */
}
static inline suri_real relu_d(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  return x > 0 ? 1 : 0;
}
static inline suri_real relu_d2(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)y, (void)a;
  return 0;
}

static inline suri_real leaky_relu_f(suri_real x, suri_real a) { return R_SEL(x > 0, x, a * x); }
static inline suri_real leaky_relu_d(suri_real x, suri_real y, suri_real a) {
  (void)y;
  return x > 0 ? 1 : a;
}
static inline suri_real leaky_relu_d2(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)y, (void)a;
  return 0;
}

static inline suri_real tanh_f(suri_real x, suri_real a) {
  (void)a;
  return R_TANH(x);
}
static inline suri_real tanh_d(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)a;
  return 1 - y * y;
}
static inline suri_real tanh_d2(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)a;
  return -2 * y * (1 - y * y);
}

static inline suri_real sigmoid_f(suri_real x, suri_real a) {
  (void)a;
  return sigmoid_of(x);
}
static inline suri_real sigmoid_d(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)a;
  return y * (1 - y);
}
static inline suri_real sigmoid_d2(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)a;
  return y * (1 - y) * (1 - 2 * y);
}

static inline suri_real gelu_f(suri_real x, suri_real a) {
  (void)a;
  return x * R_PHI(x);
}
static inline suri_real gelu_d(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  return R_PHI(x) + x * (suri_real)INV_SQRT_2PI * R_EXP(-(suri_real)0.5 * x * x);
}
static inline suri_real gelu_d2(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  return (suri_real)INV_SQRT_2PI * R_EXP(-(suri_real)0.5 * x * x) * (2 - x * x);
}

static inline suri_real erf_f(suri_real x, suri_real a) {
  (void)a;
  return R_ERF(x);
}
static inline suri_real erf_d(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  return (suri_real)TWO_OVER_SQRT_PI * R_EXP(-x * x);
}
static inline suri_real erf_d2(suri_real x, suri_real y, suri_real a) {
  (void)a;
  return -2 * x * erf_d(x, y, a);
}

static inline suri_real softplus_f(suri_real x, suri_real a) {
  (void)a;
  return (x > 0 ? x : 0) + R_LOG1P01(R_EXP(-R_FABS(x)));
}
static inline suri_real softplus_d(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  return sigmoid_of(x);
}
static inline suri_real softplus_d2(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  suri_real sg = sigmoid_of(x);
  return sg * (1 - sg);
}

static inline suri_real identity_f(suri_real x, suri_real a) {
  (void)a;
  return x;
}
static inline suri_real identity_d(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)y, (void)a;
  return 1;
}
static inline suri_real identity_d2(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)y, (void)a;
  return 0;
}

static suri_status pointwise_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                   suri_shape *out) {
  (void)n_in, (void)a;
  *out = *in[0];
  return SURI_OK;
}

/* Rows and row length of a (B, ..., N) activation for the fused kernels. */
static void rows_of(const suri_op_ctx *c, int64_t *R, int64_t *N) {
  const suri_shape *s = c->out_shape;
  *N = s->rank ? s->dim[s->rank - 1] : 1;
  *R = *N ? suri_shape_numel(s) / *N : 0;
}

/* db (N) (+)= sb * g (N): the bias-gradient row update of the fused backward. */
static void bias_rows_update(int64_t j0, int64_t j1, const suri_real *g, suri_real *db,
                             int first, suri_real sb) {
  if (first) {
#pragma omp simd
    for (int64_t j = j0; j < j1; j++) db[j] = sb * g[j];
  } else {
#pragma omp simd
    for (int64_t j = j0; j < j1; j++) db[j] += sb * g[j];
  }
}

/* Element chunks for OpenMP: loops above SURI_OMP_MIN elements are cut into chunks of
 * SURI_ACT_CHUNK; the result of each element does not depend on the chunking. */
#define SURI_ACT_CHUNK 16384
#define SURI_CHUNKS(n) ((n) > SURI_OMP_MIN ? ((n) + SURI_ACT_CHUNK - 1) / SURI_ACT_CHUNK : 1)
#define SURI_CHUNK_END(ch, n) ((ch) * SURI_ACT_CHUNK + SURI_ACT_CHUNK < (n) ? (ch) * SURI_ACT_CHUNK + SURI_ACT_CHUNK : (n))

/* Per activation: range kernels (the vectorised loops, compiled for each ISA level in
 * SURI_VEC_TARGETS and picked at run time), the op kernels that split work over them, and the
 * definition. The saved output c->out is still the forward value when backward/jvp run (the
 * graph keeps node values). Backward writes dx = f' dy or adds it (grad_acc); the two loops are
 * separate so each one vectorises. The fused backward walks the rows in order for each block
 * of columns, so the bias gradient sums rows in the same order with any thread count. */
#define SURI_POINTWISE_OP(NAME)                                                                \
  SURI_VEC_TARGETS static void NAME##_fwd_range(int64_t lo, int64_t hi, const suri_real *x,    \
                                                suri_real *y, suri_real a) {                   \
    _Pragma("omp simd")                                                                        \
    for (int64_t k = lo; k < hi; k++) y[k] = NAME##_f(x[k], a);                                \
  }                                                                                            \
  /* d[k] (+)= f'(x[k]) v[k] */                                                                \
  SURI_VEC_TARGETS static void NAME##_dmul_range(int64_t lo, int64_t hi, const suri_real *x,   \
                                                 const suri_real *y, const suri_real *v,       \
                                                 suri_real *d, suri_real a, int acc) {         \
    if (acc) {                                                                                 \
      _Pragma("omp simd")                                                                      \
      for (int64_t k = lo; k < hi; k++) d[k] += NAME##_d(x[k], y[k], a) * v[k];                \
    } else {                                                                                   \
      _Pragma("omp simd")                                                                      \
      for (int64_t k = lo; k < hi; k++) d[k] = NAME##_d(x[k], y[k], a) * v[k];                 \
    }                                                                                          \
  }                                                                                            \
  /* One row: u += sb bias (if any), y = f(u). */                                              \
  SURI_VEC_TARGETS static void NAME##_bias_row(int64_t N, suri_real *u, const suri_real *bias, \
                                               suri_real sb, suri_real *y, suri_real a) {      \
    if (bias) {                                                                                \
      _Pragma("omp simd")                                                                      \
      for (int64_t j = 0; j < N; j++) {                                                        \
        suri_real v = u[j] + sb * bias[j];                                                     \
        u[j] = v;                                                                              \
        y[j] = NAME##_f(v, a);                                                                 \
      }                                                                                        \
    } else {                                                                                   \
      _Pragma("omp simd")                                                                      \
      for (int64_t j = 0; j < N; j++) y[j] = NAME##_f(u[j], a);                                \
    }                                                                                          \
  }                                                                                            \
  static void NAME##_forward(const suri_op_ctx *c) {                                           \
    int64_t n = suri_shape_numel(c->out_shape), nc = SURI_CHUNKS(n);                           \
    suri_real a = (suri_real)c->attr->f[0];                                                    \
    if (nc == 1) {                                                                             \
      NAME##_fwd_range(0, n, c->in[0], c->out, a);                                             \
      return;                                                                                  \
    }                                                                                          \
    _Pragma("omp parallel for schedule(static)")                                               \
    for (int64_t ch = 0; ch < nc; ch++)                                                        \
      NAME##_fwd_range(ch * SURI_ACT_CHUNK, SURI_CHUNK_END(ch, n), c->in[0], c->out, a);       \
  }                                                                                            \
  static void NAME##_dmul(const suri_op_ctx *c, const suri_real *v, suri_real *d, int acc) {   \
    int64_t n = suri_shape_numel(c->out_shape), nc = SURI_CHUNKS(n);                           \
    suri_real a = (suri_real)c->attr->f[0];                                                    \
    if (nc == 1) {                                                                             \
      NAME##_dmul_range(0, n, c->in[0], c->out, v, d, a, acc);                                 \
      return;                                                                                  \
    }                                                                                          \
    _Pragma("omp parallel for schedule(static)")                                               \
    for (int64_t ch = 0; ch < nc; ch++)                                                        \
      NAME##_dmul_range(ch * SURI_ACT_CHUNK, SURI_CHUNK_END(ch, n), c->in[0], c->out, v, d, a, \
                        acc);                                                                  \
  }                                                                                            \
  static void NAME##_backward(const suri_op_ctx *c) {                                          \
    if (c->in_grad[0]) NAME##_dmul(c, c->out_grad, c->in_grad[0], SURI_GRAD_ACC(c, 0));        \
  }                                                                                            \
  static void NAME##_jvp(const suri_op_ctx *c) {                                               \
    if (c->in_tan[0]) {                                                                        \
      NAME##_dmul(c, c->in_tan[0], c->out_tan, 0);                                             \
      return;                                                                                  \
    }                                                                                          \
    int64_t n = suri_shape_numel(c->out_shape);                                                \
    for (int64_t k = 0; k < n; k++) c->out_tan[k] = 0;                                         \
  }                                                                                            \
  /* d[k] += f''(x[k]) g[k] t[k] */                                                           \
  static void NAME##_d2mul(const suri_op_ctx *c, const suri_real *g, const suri_real *t,       \
                           suri_real *d) {                                                     \
    int64_t n = suri_shape_numel(c->out_shape);                                                \
    const suri_real *x = c->in[0], *y = c->out;                                                \
    suri_real a = (suri_real)c->attr->f[0];                                                    \
    _Pragma("omp parallel for simd if(parallel: n > SURI_OMP_MIN)")                            \
    for (int64_t k = 0; k < n; k++) d[k] += NAME##_d2(x[k], y[k], a) * g[k] * t[k];            \
  }                                                                                            \
  static void NAME##_bwd_tan(const suri_op_ctx *c) {                                           \
    if (!c->in_gtan[0]) return;                                                                \
    NAME##_dmul(c, c->out_gtan, c->in_gtan[0], 1);                                             \
    if (c->in_tan[0]) NAME##_d2mul(c, c->out_grad, c->in_tan[0], c->in_gtan[0]);              \
  }                                                                                            \
  static void NAME##_fused_forward(const suri_op_ctx *c, suri_real *u, const suri_real *bias,  \
                                   suri_real sb) {                                             \
    int64_t R, N;                                                                              \
    rows_of(c, &R, &N);                                                                        \
    suri_real *y = c->out, a = (suri_real)c->attr->f[0];                                       \
    if (R * N <= SURI_OMP_MIN) {                                                               \
      for (int64_t i = 0; i < R; i++) NAME##_bias_row(N, u + i * N, bias, sb, y + i * N, a);   \
      return;                                                                                  \
    }                                                                                          \
    _Pragma("omp parallel for schedule(static)")                                               \
    for (int64_t i = 0; i < R; i++) NAME##_bias_row(N, u + i * N, bias, sb, y + i * N, a);     \
  }                                                                                            \
  static void NAME##_fused_cols(const suri_op_ctx *c, int64_t j0, int64_t j1, suri_real *db,   \
                                int db_acc, suri_real sb) {                                    \
    int64_t R, N;                                                                              \
    rows_of(c, &R, &N);                                                                        \
    suri_real a = (suri_real)c->attr->f[0], *dx = c->in_grad[0];                               \
    int acc = SURI_GRAD_ACC(c, 0);                                                             \
    for (int64_t i = 0; i < R; i++) {                                                          \
      int64_t o = i * N;                                                                       \
      NAME##_dmul_range(j0, j1, c->in[0] + o, c->out + o, c->out_grad + o, dx + o, a, acc);    \
      if (db) bias_rows_update(j0, j1, dx + o, db, i == 0 && !db_acc, sb);                     \
    }                                                                                          \
  }                                                                                            \
  static void NAME##_fused_backward(const suri_op_ctx *c, suri_real *db, int db_acc,           \
                                    suri_real sb) {                                            \
    int64_t R, N;                                                                              \
    if (!c->in_grad[0]) return;                                                                \
    rows_of(c, &R, &N);                                                                        \
    if (R * N <= SURI_OMP_MIN) {                                                               \
      NAME##_fused_cols(c, 0, N, db, db_acc, sb);                                              \
      return;                                                                                  \
    }                                                                                          \
    int64_t nb = (N + SURI_FUSED_COLS - 1) / SURI_FUSED_COLS;                                  \
    _Pragma("omp parallel for schedule(static)")                                               \
    for (int64_t b = 0; b < nb; b++) {                                                         \
      int64_t j1 = (b + 1) * SURI_FUSED_COLS;                                                  \
      NAME##_fused_cols(c, b * SURI_FUSED_COLS, j1 < N ? j1 : N, db, db_acc, sb);              \
    }                                                                                          \
  }                                                                                            \
  const suri_op_def suri_op_##NAME##_def = {.name = #NAME,                                     \
                                            .min_in = 1,                                       \
                                            .max_in = 1,                                       \
                                            .shape = pointwise_shape,                          \
                                            .forward = NAME##_forward,                         \
                                            .backward = NAME##_backward,                       \
                                            .jvp = NAME##_jvp,                                 \
                                            .bwd_tan = NAME##_bwd_tan,                         \
                                            .overwrite = 1,                                    \
                                            .fused_forward = NAME##_fused_forward,             \
                                            .fused_backward = NAME##_fused_backward};

/* Columns per block of the parallel fused backward (a multiple of the vector width). */
#define SURI_FUSED_COLS 64

SURI_POINTWISE_OP(relu)
SURI_POINTWISE_OP(leaky_relu)
SURI_POINTWISE_OP(tanh)
SURI_POINTWISE_OP(sigmoid)
SURI_POINTWISE_OP(gelu)
SURI_POINTWISE_OP(erf)
SURI_POINTWISE_OP(softplus)
SURI_POINTWISE_OP(identity)
