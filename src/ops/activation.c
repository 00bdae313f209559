/* activation.c - point-wise activations y = f(x), with backward dx += f'(x) dy and jvp
 * ty = f'(x) tx. Each op is a pair of inline functions (value, derivative given x and the saved
 * output y) expanded into the three kernels by one macro, so every activation gets the same
 * loops (OpenMP over large tensors, SIMD inside).
 *   relu        max(x, 0)                          f' = [x > 0]      (0 at the kink)
 *   leaky_relu  x > 0 ? x : a x   (a = f[0])       f' = x > 0 ? 1 : a
 *   tanh        tanh x                             f' = 1 - y^2
 *   sigmoid     1 / (1 + e^-x), evaluated from e^-|x| so it never overflows;  f' = y (1 - y)
 *   gelu        x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2  (Hendrycks & Gimpel 2016, the
 *               exact erf form, PyTorch's approximate='none');  f' = Phi(x) + x phi(x),
 *               phi(x) = e^(-x^2/2) / sqrt(2 pi)
 *   erf         erf x                              f' = 2/sqrt(pi) e^(-x^2)
 *   softplus    log(1 + e^x) = max(x, 0) + log1p(e^-|x|)  (no overflow for large |x|,
 *               no cancellation near 0);            f' = sigmoid(x)
 *   identity    x                                  f' = 1 */
#include <math.h>

#include "op.h"

#ifdef SURI_REAL_DOUBLE
#define R_EXP exp
#define R_TANH tanh
#define R_ERF erf
#define R_LOG1P log1p
#else
#define R_EXP expf
#define R_TANH tanhf
#define R_ERF erff
#define R_LOG1P log1pf
#endif

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define TWO_OVER_SQRT_PI 1.12837916709551257390

static inline suri_real sigmoid_of(suri_real x) {
  suri_real e = R_EXP(-(x < 0 ? -x : x)); /* e^-|x| in (0, 1] */
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

static inline suri_real relu_f(suri_real x, suri_real a) {
  (void)a;
  return x > 0 ? x : 0;
}
static inline suri_real relu_d(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  return x > 0 ? 1 : 0;
}

static inline suri_real leaky_relu_f(suri_real x, suri_real a) { return x > 0 ? x : a * x; }
static inline suri_real leaky_relu_d(suri_real x, suri_real y, suri_real a) {
  (void)y;
  return x > 0 ? 1 : a;
}

static inline suri_real tanh_f(suri_real x, suri_real a) {
  (void)a;
  return R_TANH(x);
}
static inline suri_real tanh_d(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)a;
  return 1 - y * y;
}

static inline suri_real sigmoid_f(suri_real x, suri_real a) {
  (void)a;
  return sigmoid_of(x);
}
static inline suri_real sigmoid_d(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)a;
  return y * (1 - y);
}

static inline suri_real gelu_f(suri_real x, suri_real a) {
  (void)a;
  return x * (suri_real)0.5 * (1 + R_ERF(x * (suri_real)INV_SQRT2));
}
static inline suri_real gelu_d(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  suri_real Phi = (suri_real)0.5 * (1 + R_ERF(x * (suri_real)INV_SQRT2));
  return Phi + x * (suri_real)INV_SQRT_2PI * R_EXP(-(suri_real)0.5 * x * x);
}

static inline suri_real erf_f(suri_real x, suri_real a) {
  (void)a;
  return R_ERF(x);
}
static inline suri_real erf_d(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  return (suri_real)TWO_OVER_SQRT_PI * R_EXP(-x * x);
}

static inline suri_real softplus_f(suri_real x, suri_real a) {
  (void)a;
  return (x > 0 ? x : 0) + R_LOG1P(R_EXP(-(x < 0 ? -x : x)));
}
static inline suri_real softplus_d(suri_real x, suri_real y, suri_real a) {
  (void)y, (void)a;
  return sigmoid_of(x);
}

static inline suri_real identity_f(suri_real x, suri_real a) {
  (void)a;
  return x;
}
static inline suri_real identity_d(suri_real x, suri_real y, suri_real a) {
  (void)x, (void)y, (void)a;
  return 1;
}

static suri_status pointwise_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                   suri_shape *out) {
  (void)n_in, (void)a;
  *out = *in[0];
  return SURI_OK;
}

/* Forward, backward and jvp kernels plus the definition of one activation. The saved output
 * c->out is still the forward value when backward/jvp run (the graph keeps node values). */
#define SURI_POINTWISE_OP(NAME)                                                                \
  static void NAME##_forward(const suri_op_ctx *c) {                                           \
    int64_t n = suri_shape_numel(c->out_shape);                                                \
    const suri_real *x = c->in[0];                                                             \
    suri_real *y = c->out, a = (suri_real)c->attr->f[0];                                       \
    _Pragma("omp parallel for simd if(parallel: n > SURI_OMP_MIN)")                            \
    for (int64_t k = 0; k < n; k++) y[k] = NAME##_f(x[k], a);                                  \
  }                                                                                            \
  static void NAME##_backward(const suri_op_ctx *c) {                                          \
    int64_t n = suri_shape_numel(c->out_shape);                                                \
    const suri_real *x = c->in[0], *y = c->out, *dy = c->out_grad;                             \
    suri_real *dx = c->in_grad[0], a = (suri_real)c->attr->f[0];                               \
    if (!dx) return;                                                                           \
    _Pragma("omp parallel for simd if(parallel: n > SURI_OMP_MIN)")                            \
    for (int64_t k = 0; k < n; k++) dx[k] += NAME##_d(x[k], y[k], a) * dy[k];                  \
  }                                                                                            \
  static void NAME##_jvp(const suri_op_ctx *c) {                                               \
    int64_t n = suri_shape_numel(c->out_shape);                                                \
    const suri_real *x = c->in[0], *y = c->out, *tx = c->in_tan[0];                            \
    suri_real *ty = c->out_tan, a = (suri_real)c->attr->f[0];                                  \
    if (!tx) {                                                                                 \
      for (int64_t k = 0; k < n; k++) ty[k] = 0;                                               \
      return;                                                                                  \
    }                                                                                          \
    _Pragma("omp parallel for simd if(parallel: n > SURI_OMP_MIN)")                            \
    for (int64_t k = 0; k < n; k++) ty[k] = NAME##_d(x[k], y[k], a) * tx[k];                   \
  }                                                                                            \
  const suri_op_def suri_op_##NAME##_def = {.name = #NAME,                                     \
                                            .min_in = 1,                                       \
                                            .max_in = 1,                                       \
                                            .shape = pointwise_shape,                          \
                                            .forward = NAME##_forward,                         \
                                            .backward = NAME##_backward,                       \
                                            .jvp = NAME##_jvp};

SURI_POINTWISE_OP(relu)
SURI_POINTWISE_OP(leaky_relu)
SURI_POINTWISE_OP(tanh)
SURI_POINTWISE_OP(sigmoid)
SURI_POINTWISE_OP(gelu)
SURI_POINTWISE_OP(erf)
SURI_POINTWISE_OP(softplus)
SURI_POINTWISE_OP(identity)
