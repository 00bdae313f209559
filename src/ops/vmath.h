/* vmath.h - float exp, tanh, erf, erfc-based Gaussian CDF and log1p written so that gcc
 * vectorises loops that call them (glibc's expf/tanhf/erff are scalar calls unless
 * -ffast-math, which suri never uses). Every function is branch-free straight-line float code:
 * both sides of a range split are computed and one is selected.
 *
 * Selects and clamps are written with suri_vm_sel (integer masks): gcc does not if-convert
 * `c ? a : b` when a or b is an expression that may trap (-ftrapping-math, the default), and
 * it specialises code after a constant clamp into constant products that may overflow, which
 * blocks if-conversion too; either way the whole loop would stay scalar.
 *
 * Method (textbook range reduction plus polynomials; coefficients are near-minimax Chebyshev
 * fits made with mpmath.chebyfit at 40 digits, listed with the fit's maximum error):
 *   exp(x)   = 2^k e^r, k = nearest integer to x / ln 2, r = x - k ln 2 with ln 2 split in two
 *              parts (Cody & Waite 1980) so r is exact to ~2^-32; e^r on |r| <= ln2/2 by a
 *              degree-6 polynomial; 2^k applied as two exponent-field scalings 2^(k/2) 2^(k-k/2)
 *              so results down to the denormal range and up to overflow come out right.
 *   tanh(x)  = x P(x^2) for |x| < 0.5625 (no cancellation near 0), else
 *              sign(x) (1 - 2 / (e^(2|x|) + 1)); 1 for |x| >= 9.1 where tanh rounds to 1.
 *   erf(t)   = t P(t^2) for |t| < 1, else sign(t) (1 - erfc|t|);
 *   erfc(t)  = e^(-t^2) R(1/t) / t for t >= 0.5, R(s) = erfc(1/s) e^(1/s^2) / s fitted on
 *              s in [1/9.5, 2] in the centred variable u = (s - c) / h (small coefficients, no
 *              cancellation in Horner's rule). t^2 is formed exactly as h + l (Dekker 1971:
 *              Veltkamp split, exact product), e^(-t^2) = e^(-h) (1 - l), so the tails keep
 *              their relative accuracy.
 *   Phi(x)   = (1 + erf(x/sqrt2)) / 2 for -sqrt2/2 < x < sqrt2, else from erfc of |x|/sqrt2
 *              (for x < 0 that is the small tail itself, accurate relative to its own size,
 *              where 1 + erf(x/sqrt2) in float would cancel).
 *   log1p(t) = t P(t) for t in [0, 1] (what softplus needs: t = e^(-|x|)).
 * The test tests/test_vmath.c sweeps each function densely against the double libm result and
 * asserts the maximum error in units in the last place (ulp). Only used when suri_real is
 * float; the double build calls libm. */
#ifndef SURI_VMATH_H
#define SURI_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* No fused multiply-add contraction inside these functions. gcc in ISO C mode (-std=c11, the
 * build's setting) never contracts, but clang contracts a * b + c within an expression by
 * default whenever FMA is available (-march=native, an AVX2 clone), which changes results by
 * an ulp: measured with clang -march=native, exp's maximum error moved from 1.296 to 1.053 ulp
 * and tanh's from 1.413 to 1.515, so the same source gave different bits depending on compiler
 * flags. The pragma (scoped to the enclosing function body) keeps every build bitwise equal to
 * gcc's; Dekker's exact square in suri_vm_exp_negsq also relies on separately rounded
 * products. */
#if defined(__clang__)
#define SURI_VM_NO_CONTRACT _Pragma("clang fp contract(off)")
#else
#define SURI_VM_NO_CONTRACT
#endif

/* Horner's rule for a polynomial with coefficients c[0] + c[1] x + ... */
#define SURI_VM_HORNER(c, n, x, out)                                                           \
  do {                                                                                         \
    float h_ = (c)[(n) - 1];                                                                   \
    for (int i_ = (n) - 2; i_ >= 0; i_--) h_ = h_ * (x) + (c)[i_];                             \
    (out) = h_;                                                                                \
  } while (0)

/* max fit error 2.0e-09 (relative) */
static const float suri_vm_exp_c[7] = {1.0f, 1.00000003772f, 0.500000004712f, 0.166664155147f,
                                       0.0416663528968f, 0.00837512639815f, 0.0013941108434f};
/* tanh(x) / x as a polynomial in x^2 on [0, 0.5625^2]; max fit error 1.2e-09 */
static const float suri_vm_tanh_c[6] = {0.999999998781f, -0.3333330555f, 0.13332299457f,
                                        -0.0538261663512f, 0.020971384664f, -0.00613795736211f};
/* erf(t) / t as a polynomial in t^2 on [0, 1]; max fit error 1.2e-09 */
static const float suri_vm_erf_c[7] = {1.12837916585f, -0.376126266667f, 0.112835947152f,
                                       -0.0268542120106f, 0.00518908742343f, -0.000801686428717f,
                                       0.0000787587506269f};
/* R(s) in u = (s - 1.05263157895) / 0.947368421053 on [-1, 1] (s in [1/9.5, 2], t >= 0.5);
 * max fit error 4.5e-09 */
static const float suri_vm_erfc_c[17] = {
    0.419558236849f,    -0.142648846163f,   0.0327921606914f,   0.00400546449632f,
    -0.0117611342518f,  0.00982528309404f,  -0.00603897527644f, 0.00315785493241f,
    -0.00109556922826f, -0.000762636430295f, 0.000826702175486f, 0.000837923655407f,
    -0.00038283205766f, -0.00150237360909f, 0.000917336049535f, 0.000452691106945f,
    -0.000336116012363f};
#define SURI_VM_ERFC_CENTRE 1.05263157895f
#define SURI_VM_ERFC_INVHALF 1.05555555556f
/* log1p(t) / t on [0, 1]; max fit error 8.3e-10 */
static const float suri_vm_log1p_c[11] = {
    0.999999999156f,   -0.499999794914f, 0.333324975435f,  -0.249864964594f,
    0.19885820285f,    -0.160876230093f, 0.123779958679f,  -0.0818804092358f,
    0.041006573694f,   -0.0131878265656f, 0.00198669659365f};

/* c ? a : b without a branch (both a and b are already computed). */
static inline float suri_vm_sel(int c, float a, float b) {
  int32_t ia, ib, m = -(int32_t)(c != 0), r;
  memcpy(&ia, &a, sizeof ia);
  memcpy(&ib, &b, sizeof ib);
  r = (ia & m) | (ib & ~m);
  float f;
  memcpy(&f, &r, sizeof f);
  return f;
}

static inline double suri_vm_seld(int c, double a, double b) {
  int64_t ia, ib, m = -(int64_t)(c != 0), r;
  memcpy(&ia, &a, sizeof ia);
  memcpy(&ib, &b, sizeof ib);
  r = (ia & m) | (ib & ~m);
  double f;
  memcpy(&f, &r, sizeof f);
  return f;
}

static inline float suri_vm_bits(int32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

/* 2^k for integral k in [-126, 127]. */
static inline float suri_vm_pow2(int32_t k) { return suri_vm_bits((k + 127) * (1 << 23)); }

static inline float suri_vexpf(float x) {
  SURI_VM_NO_CONTRACT
  const float log2e = 1.44269504089f, ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723e-6f;
  const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding and subtracting rounds to int */
  /* Clamped through integer masks: a plain `?:` lets gcc specialise the clamped paths into
   * constant (overflowing) products that then block vectorisation. NaN becomes 0 here and is
   * put back at the end (no float->int conversion of a NaN). */
  float xc = suri_vm_sel(x == x, x, 0.0f);
  xc = suri_vm_sel(xc < -104.0f, -104.0f, xc);
  xc = suri_vm_sel(xc > 89.0f, 89.0f, xc);
  float k = (xc * log2e + round_magic) - round_magic;
  float r = (xc - k * ln2_hi) - k * ln2_lo;
  float p;
  SURI_VM_HORNER(suri_vm_exp_c, 7, r, p);
  int32_t ki = (int32_t)k, k1 = ki / 2, k2 = ki - k1;
  float y = p * suri_vm_pow2(k1) * suri_vm_pow2(k2);
  return suri_vm_sel(x == x, y, x);
}

static inline float suri_vtanhf(float x) {
  SURI_VM_NO_CONTRACT
  float ax = fabsf(x);
  float z = x * x, p;
  SURI_VM_HORNER(suri_vm_tanh_c, 6, z, p);
  float small = x * p;
  float e = suri_vexpf(2.0f * suri_vm_sel(ax < 9.1f, ax, 9.1f));
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = suri_vm_sel(ax >= 9.1f, 1.0f, big);
  big = suri_vm_sel(x < 0, -big, big);
  float y = suri_vm_sel(ax < 0.5625f, small, big);
  return suri_vm_sel(x == x, y, x);
}

/* e^(-a v^2) for a = 1 or 1/2: v^2 = h + l exactly (h the rounded square, l its rounding
 * error by Dekker's product of the Veltkamp halves of v), e^(-a h) (1 - a l); |a l| is below
 * 2^-24 a h, so the dropped second-order term is far below an ulp for every v where the result
 * is not zero. */
static inline float suri_vm_exp_negsq(float v, float a) {
  SURI_VM_NO_CONTRACT
  float c = v * 4097.0f; /* 2^12 + 1 */
  float vh = c - (c - v), vl = v - vh;
  float h = v * v;
  float l = ((vh * vh - h) + 2.0f * vh * vl) + vl * vl;
  return suri_vexpf(-a * h) * (1.0f - a * l);
}

/* erfc(t) for t >= 0.5 given e = e^(-t^2): e R(1/t) / t (t is clamped to [0.5, 10]; beyond
 * 9.5 the caller's e has underflowed to ~0). */
static inline float suri_vm_erfc_big(float t, float e) {
  SURI_VM_NO_CONTRACT
  float tc = suri_vm_sel(t < 0.5f, 0.5f, suri_vm_sel(t > 10.0f, 10.0f, t));
  float s = 1.0f / tc, u = (s - SURI_VM_ERFC_CENTRE) * SURI_VM_ERFC_INVHALF, r;
  SURI_VM_HORNER(suri_vm_erfc_c, 17, u, r);
  return e * r / tc;
}

static inline float suri_verff(float t) {
  SURI_VM_NO_CONTRACT
  float at = fabsf(t);
  float p;
  float z = t * t;
  SURI_VM_HORNER(suri_vm_erf_c, 7, z, p);
  float small = t * p;
  float big = 1.0f - suri_vm_erfc_big(at, suri_vm_exp_negsq(suri_vm_sel(at < 10.0f, at, 10.0f), 1.0f));
  big = suri_vm_sel(t < 0, -big, big);
  float y = suri_vm_sel(at < 1.0f, small, big);
  return suri_vm_sel(t == t, y, t);
}

/* Standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 = erfc(-x / sqrt 2) / 2. The tail
 * takes e^(-x^2/2) from x itself, so rounding x / sqrt 2 does not cost relative accuracy. */
static inline float suri_vphif(float x) {
  SURI_VM_NO_CONTRACT
  const float inv_sqrt2 = 0.70710678118654752f;
  float t = x * inv_sqrt2, at = fabsf(t), ax = fabsf(x);
  float p;
  float z = t * t;
  SURI_VM_HORNER(suri_vm_erf_c, 7, z, p);
  float mid = 0.5f + 0.5f * (t * p);
  float e = suri_vm_exp_negsq(suri_vm_sel(ax < 20.0f, ax, 20.0f), 0.5f);
  float tail = 0.5f * suri_vm_erfc_big(at, e); /* Phi(-|x|) */
  /* Negative x: the tail from t = 0.5 on, where 0.5 + 0.5 erf(t) would cancel; positive x:
   * 1 - tail from t = 1 on, as erf does. */
  float y = suri_vm_sel(x < 0, suri_vm_sel(at < 0.5f, mid, tail),
                        suri_vm_sel(at < 1.0f, mid, 1.0f - tail));
  return suri_vm_sel(x == x, y, x);
}

/* log1p(t) for t in [0, 1]. */
static inline float suri_vlog1p01f(float t) {
  SURI_VM_NO_CONTRACT
  float p;
  SURI_VM_HORNER(suri_vm_log1p_c, 11, t, p);
  return t * p;
}

#endif
