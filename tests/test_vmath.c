/* test_vmath.c - the vectorisable float functions of src/ops/vmath.h against libm in double,
 * over dense sweeps: every 97th float bit pattern in each function's range (millions of points
 * per function, every binade, an odd stride so all mantissa patterns mod 97 are visited) plus the range boundaries and special values.
 * The error is measured in units in the last place of the exact result rounded to float
 * (ulp; below FLT_MIN the denormal spacing 2^-149). A correctly rounded function has 0.5 ulp;
 * libm's float functions are within 1-2 ulp. The bounds below are the measured maxima rounded
 * up (printed by the test), so an edit that loses accuracy fails here. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/vmath.h"

/* Spacing of floats at |e| (e is the exact value). */
static double ulp_of(double e) {
  double a = fabs(e);
  if (a < FLT_MIN) return ldexp(1.0, -149);
  int ex;
  frexp(a, &ex); /* a = m 2^ex, m in [0.5, 1) */
  return ldexp(1.0, ex - 24);
}

static float from_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

static uint32_t to_bits(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

typedef float (*approx_fn)(float);
typedef double (*exact_fn)(double);

/* Max ulp error of f over every stride-th float bit pattern of either sign that lies in
 * [lo, hi]; *worst is the input where it occurs. */
static double sweep(approx_fn f, exact_fn e, float lo, float hi, uint32_t stride, float *worst) {
  double max = 0;
  *worst = lo;
  for (int neg = 0; neg < 2; neg++) {
    for (uint64_t b = 0; b < 0x7f800000u; b += stride) {
      float x = from_bits((uint32_t)b | (neg ? 0x80000000u : 0));
      if (!(x >= lo && x <= hi)) {
        if (fabsf(x) > fmaxf(fabsf(lo), fabsf(hi))) break; /* beyond the range: done */
        continue;
      }
      double ex = e((double)x);
      double err = fabs((double)f(x) - ex) / ulp_of(ex);
      if (!(err <= max)) {
        max = err;
        *worst = x;
      }
    }
  }
  return max;
}

static void check(const char *name, approx_fn f, exact_fn e, float lo, float hi, double bound) {
  float worst;
  double m = sweep(f, e, lo, hi, 97, &worst);
  print_message("%-8s [%g, %g]: max error %.3f ulp at x = %.9g (bound %.1f)\n", name, lo, hi, m,
                (double)worst, bound);
  if (!(m <= bound)) fail_msg("%s: %.3f ulp at x = %.9g exceeds %.1f", name, m, (double)worst,
                              bound);
}

static float vexp(float x) { return suri_vexpf(x); }
static float vtanh(float x) { return suri_vtanhf(x); }
static float verf(float x) { return suri_verff(x); }
static float vphi(float x) { return suri_vphif(x); }
static float vlog1p(float x) { return suri_vlog1p01f(x); }
static double phi_exact(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static void test_exp(void **state) {
  (void)state;
  check("exp", vexp, exp, -103.9f, 88.72f, 2.0);
  assert_true(suri_vexpf(0.0f) == 1.0f);
  assert_true(suri_vexpf(-200.0f) == 0.0f);
  assert_true(isinf(suri_vexpf(89.0f)) && isinf(suri_vexpf(INFINITY)));
  assert_true(suri_vexpf(-INFINITY) == 0.0f);
  assert_true(isnan(suri_vexpf(NAN)));
}

static void test_tanh(void **state) {
  (void)state;
  check("tanh", vtanh, tanh, -12.0f, 12.0f, 2.5);
  assert_true(suri_vtanhf(0.0f) == 0.0f);
  assert_true(suri_vtanhf(30.0f) == 1.0f && suri_vtanhf(-INFINITY) == -1.0f);
  assert_true(isnan(suri_vtanhf(NAN)));
  /* Odd symmetry holds exactly (the sign is applied last). */
  for (float x = 0.001f; x < 10; x *= 1.37f) assert_true(suri_vtanhf(-x) == -suri_vtanhf(x));
}

static void test_erf(void **state) {
  (void)state;
  check("erf", verf, erf, -5.0f, 5.0f, 3.0);
  assert_true(suri_verff(0.0f) == 0.0f && suri_verff(6.0f) == 1.0f);
  assert_true(isnan(suri_verff(NAN)));
}

static void test_phi(void **state) {
  (void)state;
  /* The Gaussian CDF, relative to its own size in both tails (gelu's x Phi(x)): down to
   * Phi(-13) ~ 6e-39 (below, the result is denormal or zero). */
  /* Composite: e^(-x^2/2) (about 1.5 ulp), the fitted R, the division by t and the rounding
   * of t = x / sqrt 2 each add up to an ulp in the tail. */
  check("Phi", vphi, phi_exact, -4.0f, 6.0f, 5.0);
  check("Phi tail", vphi, phi_exact, -13.0f, -4.0f, 6.0);
  assert_true(suri_vphif(0.0f) == 0.5f && suri_vphif(9.0f) == 1.0f);
  assert_true(suri_vphif(-20.0f) == 0.0f && isnan(suri_vphif(NAN)));
}

static void test_log1p(void **state) {
  (void)state;
  check("log1p", vlog1p, log1p, 0.0f, 1.0f, 2.0);
}

/* The loops that call these functions must vectorise to pay off; this checks what the
 * functions compute when they are vectorised the same way (a simd loop over an array) equals
 * the scalar calls bit for bit, including NaN, infinities and the range boundaries. */
static void test_simd_loop_matches(void **state) {
  (void)state;
  enum { N = 4099 };
  static float x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = -15.0f + 30.0f * (float)i / (float)(N - 1);
  x[0] = NAN, x[1] = INFINITY, x[2] = -INFINITY, x[3] = 0.5625f, x[4] = 1.0f, x[5] = -1.0f;
#pragma omp simd
  for (int i = 0; i < N; i++) y[i] = suri_vtanhf(x[i]) + suri_vphif(x[i]);
  for (int i = 0; i < N; i++) {
    float s = suri_vtanhf(x[i]) + suri_vphif(x[i]);
    assert_true(to_bits(s) == to_bits(y[i]) || (isnan(s) && isnan(y[i])));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exp),   cmocka_unit_test(test_tanh),
      cmocka_unit_test(test_erf),   cmocka_unit_test(test_phi),
      cmocka_unit_test(test_log1p), cmocka_unit_test(test_simd_loop_matches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
