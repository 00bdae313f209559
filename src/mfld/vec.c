/* vec.c - element-wise kernels of the mean-field particle step (see vec.h): activations and
 * their derivatives fused with the row reductions, counter-based Gaussian noise, and the
 * Langevin update. These passes run between and after the two GEMMs of a step, so they decide
 * how close a step comes to the GEMM-only time: they are written as plain loops that gcc
 * vectorises, compiled twice (AVX2+FMA and the baseline) with runtime selection.
 *
 * Math:
 * - tanh (float builds): tanh x ~ x P(x^2) / Q(x^2) on |x| <= 9 (clamped there; tanh 9 rounds to
 *   1 - 6e-8), P and Q of degree 4, coefficients fitted by us (Lawson-weighted least squares on
 *   the relative error, in float64); measured max relative error 3.6e-7 (6 ulp) over [-9, 9]
 *   in float evaluation. Relative, so tiny arguments keep full precision.
 * - Normals: Philox4x32-10 (Salmon et al., SC 2011) computed inline with exactly the counter
 *   and key layout of src/core/rng.c (a block equals suri_rng_block's), then Box-Muller on
 *   32-bit uniforms u = (floor(w / 2) + 1/2) 2^-31: radius sqrt(-2 log u1) (max 6.7), angle
 *   2 pi u2. Float builds evaluate log with the atanh series on [sqrt(1/2), sqrt(2)) and sin /
 *   cos of a quarter-period-reduced angle with Taylor polynomials (errors < 1e-7 relative);
 *   double builds call libm.
 * No fused multiply-add is written (ISO C mode compiles with -ffp-contract=off), so the AVX2
 * clone and the baseline clone give bitwise identical results. */
#include <math.h>
#include <string.h>

#include "vec.h"

/* Comparisons inside the loops (clamps, ReLU, quadrant selection) are if-converted to
 * blends only when gcc may assume they do not trap; this changes no value (unlike
 * -ffast-math, which suri never uses), it only lets the loops vectorise. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define MF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MF_CLONES
#endif

/* ---- activations ------------------------------------------------------------------------- */
#ifdef SURI_REAL_DOUBLE
static inline suri_real tanh_v(suri_real x) { return tanh(x); }
#else
static inline float tanh_v(float x) {
  x = x > 9.0f ? 9.0f : x; /* clamp: beyond 9 tanh rounds to +-1, and x^8 would overflow */
  x = x < -9.0f ? -9.0f : x;
  float t = x * x;
  float p = 1.3354484740268902e-08f;
  p = p * t + 2.0609045736105867e-05f;
  p = p * t + 3.4955908349550164e-03f;
  p = p * t + 1.3381029765786395e-01f;
  p = p * t + 9.9999997956270703e-01f;
  float q = 7.7765110028521489e-07f;
  q = q * t + 3.2856356065875660e-04f;
  q = q * t + 2.5876998171220147e-02f;
  q = q * t + 4.6714345428275666e-01f;
  q = q * t + 1.0f;
  float y = x * p / q;
  y = y > 1.0f ? 1.0f : y;
  return y < -1.0f ? -1.0f : y;
}
#endif

suri_real mf_tanh(suri_real x) { return tanh_v(x); }

suri_real mf_act(int act, suri_real x) {
  if (act == MF_ACT_TANH) return tanh_v(x);
  if (act == MF_ACT_RELU) return x > 0 ? x : 0;
  return x;
}

/* Sum of t[0..n) in double with 8 interleaved partial sums (a fixed order). */
static double sum8(int64_t n, const suri_real *t) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; k++) acc[k] += (double)t[j + k];
  double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; j < n; j++) s += (double)t[j];
  return s;
}

MF_CLONES
static void fwd_tanh(int64_t M, suri_real *restrict z, const suri_real *restrict b) {
  if (b)
    for (int64_t j = 0; j < M; j++) z[j] = tanh_v(z[j] + b[j]);
  else
    for (int64_t j = 0; j < M; j++) z[j] = tanh_v(z[j]);
}

MF_CLONES
static void fwd_simple(int act, int64_t M, suri_real *restrict z, const suri_real *restrict b) {
  if (b)
    for (int64_t j = 0; j < M; j++) z[j] += b[j];
  if (act == MF_ACT_RELU)
    for (int64_t j = 0; j < M; j++) z[j] = z[j] > 0 ? z[j] : 0;
}

MF_CLONES
static void mul_into(int64_t M, const suri_real *restrict a, const suri_real *restrict b,
                     suri_real *restrict out) {
  for (int64_t j = 0; j < M; j++) out[j] = a[j] * b[j];
}

double mf_row_forward(int act, int64_t M, suri_real *z, const suri_real *b, const suri_real *alpha,
                      suri_real *tmp) {
  if (act == MF_ACT_TANH)
    fwd_tanh(M, z, b);
  else
    fwd_simple(act, M, z, b);
  if (!alpha) return 0.0;
  mul_into(M, alpha, z, tmp);
  return sum8(M, tmp);
}

MF_CLONES
static void bwd_kernel(int act, int64_t M, suri_real *restrict z, double r,
                       const suri_real *restrict alpha, double *restrict ga, double *restrict gb) {
  if (ga)
    for (int64_t j = 0; j < M; j++) ga[j] += r * (double)z[j];
  const suri_real rr = (suri_real)r;
  if (act == MF_ACT_TANH)
    for (int64_t j = 0; j < M; j++) z[j] = rr * alpha[j] * (1 - z[j] * z[j]);
  else if (act == MF_ACT_RELU)
    for (int64_t j = 0; j < M; j++) z[j] = z[j] > 0 ? rr * alpha[j] : 0;
  else
    for (int64_t j = 0; j < M; j++) z[j] = rr * alpha[j];
  if (gb)
    for (int64_t j = 0; j < M; j++) gb[j] += (double)z[j];
}

void mf_row_backward(int act, int64_t M, suri_real *z, double r, const suri_real *alpha, double *ga,
                     double *gb) {
  bwd_kernel(act, M, z, r, alpha, ga, gb);
}

/* ---- noise ------------------------------------------------------------------------------- */
#define PH_M0 0xD2511F53u
#define PH_M1 0xCD9E8D57u
#define PH_W0 0x9E3779B9u
#define PH_W1 0xBB67AE85u

/* One Philox round, then the key bump (the bump after the last round is unused). */
#define PH_ROUND                                                                       \
  {                                                                                    \
    uint64_t p0 = (uint64_t)PH_M0 * c0, p1 = (uint64_t)PH_M1 * c2;                     \
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1; \
    c0 = n0;                                                                           \
    c1 = (uint32_t)p1;                                                                 \
    c2 = n2;                                                                           \
    c3 = (uint32_t)p0;                                                                 \
    k0 += PH_W0;                                                                       \
    k1 += PH_W1;                                                                       \
  }

/* Philox4x32-10 of blocks base + g*64 + b, b < 64, words into w0..w3 (structure of arrays). */
MF_CLONES
static void philox64(uint64_t seed, uint32_t purpose, uint64_t first, uint32_t *restrict w0,
                     uint32_t *restrict w1, uint32_t *restrict w2, uint32_t *restrict w3) {
  const uint32_t k0i = (uint32_t)seed, k1i = (uint32_t)(seed >> 32);
  for (int b = 0; b < MF_NOISE_BLOCKS; b++) {
    uint64_t idx = first + (uint64_t)b;
    uint32_t c0 = (uint32_t)idx, c1 = (uint32_t)(idx >> 32), c2 = purpose, c3 = 0x5352u;
    uint32_t k0 = k0i, k1 = k1i;
    /* ten rounds, written out so that the loop over blocks vectorises */
    /* clang-format off */
    PH_ROUND PH_ROUND PH_ROUND PH_ROUND PH_ROUND PH_ROUND PH_ROUND PH_ROUND PH_ROUND PH_ROUND
    w0[b] = c0;
    /* clang-format on */
    w1[b] = c1;
    w2[b] = c2;
    w3[b] = c3;
  }
}

#ifdef SURI_REAL_DOUBLE
static void box_muller64(const uint32_t *wa, const uint32_t *wb, suri_real *zc, suri_real *zs) {
  for (int b = 0; b < MF_NOISE_BLOCKS; b++) {
    double u1 = ((double)(wa[b] >> 1) + 0.5) * (1.0 / 2147483648.0);
    double u2 = ((double)(wb[b] >> 1) + 0.5) * (1.0 / 2147483648.0);
    double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586476925 * u2;
    zc[b] = rad * cos(ang);
    zs[b] = rad * sin(ang);
  }
}
#else
/* log u for u in (0, 1]: u = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(t),
 * t = (m - 1)/(m + 1), |t| <= 0.1716, series to t^9 (remainder < 2e-9). */
static inline float log_v(float u) {
  uint32_t bits;
  memcpy(&bits, &u, 4);
  int32_t e = (int32_t)(bits >> 23) - 127;
  uint32_t mb = (bits & 0x007FFFFFu) | 0x3F800000u;
  float m;
  memcpy(&m, &mb, 4);
  int big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  float s = 1.0f / 9.0f;
  s = s * t2 + 1.0f / 7.0f;
  s = s * t2 + 1.0f / 5.0f;
  s = s * t2 + 1.0f / 3.0f;
  s = s * t2 + 1.0f;
  return (float)e * 0.693147180559945f + 2.0f * t * s;
}

MF_CLONES
static void box_muller64(const uint32_t *restrict wa, const uint32_t *restrict wb,
                         suri_real *restrict zc, suri_real *restrict zs) {
  for (int b = 0; b < MF_NOISE_BLOCKS; b++) {
    float u1 = ((float)(int32_t)(wa[b] >> 1) + 0.5f) * 4.656612873077393e-10f;
    float rad = sqrtf(-2.0f * log_v(u1));
    /* angle 2 pi u2 = (pi/2) (q + f), q the nearest quarter, f in [-1/2, 1/2] */
    uint32_t sh = (wb[b] >> 1) + (1u << 28); /* u2 = (h + 1/2) 2^-31, h = wb / 2 */
    int32_t qt = (int32_t)(sh >> 29); /* nearest quarter of 4 u2, 0..4 */
    int32_t rem = (int32_t)(sh & ((1u << 29) - 1)) - (1 << 28); /* h - qt 2^29 */
    float f = ((float)rem + 0.5f) * 1.862645149230957e-09f; /* 4 u2 - qt, in [-1/2, 1/2) */
    float x = f * 1.5707963267948966f, x2 = x * x;
    float s = -1.0f / 39916800.0f;
    s = s * x2 + 1.0f / 362880.0f;
    s = s * x2 - 1.0f / 5040.0f;
    s = s * x2 + 1.0f / 120.0f;
    s = s * x2 - 1.0f / 6.0f;
    s = x + x * x2 * s;
    float c = 1.0f / 3628800.0f;
    c = c * x2 - 1.0f / 40320.0f;
    c = c * x2 + 1.0f / 720.0f;
    c = c * x2 - 1.0f / 24.0f;
    c = c * x2 + 0.5f;
    c = 1.0f - x2 * c;
    int qm = qt & 3;
    float cs = qm == 0 ? c : (qm == 1 ? -s : (qm == 2 ? -c : s));
    float sn = qm == 0 ? s : (qm == 1 ? c : (qm == 2 ? -s : -c));
    zc[b] = rad * cs;
    zs[b] = rad * sn;
  }
}
#endif

void mf_noise_group(uint64_t seed, uint32_t purpose, uint64_t base, uint64_t group,
                    suri_real *out) {
  uint32_t w[4][MF_NOISE_BLOCKS];
  philox64(seed, purpose, base + group * MF_NOISE_BLOCKS, w[0], w[1], w[2], w[3]);
  box_muller64(w[0], w[1], out, out + MF_NOISE_BLOCKS);
  box_muller64(w[2], w[3], out + 2 * MF_NOISE_BLOCKS, out + 3 * MF_NOISE_BLOCKS);
}

/* ---- Langevin update --------------------------------------------------------------------- */
/* w block of one row: n contiguous coordinates. */
MF_CLONES
static void upd_w(int64_t n, suri_real *restrict th, const suri_real *restrict g,
                  const suri_real *restrict e, const suri_real *restrict xi, suri_real eta,
                  suri_real dec, suri_real sigma) {
  if (!g && !e) {
    for (int64_t c = 0; c < n; c++) th[c] += sigma * xi[c];
  } else if (!g) {
    for (int64_t c = 0; c < n; c++) th[c] = th[c] - eta * e[c] + sigma * xi[c];
  } else if (!e) {
    for (int64_t c = 0; c < n; c++) th[c] = dec * th[c] - eta * g[c] + sigma * xi[c];
  } else {
    for (int64_t c = 0; c < n; c++) th[c] = dec * th[c] - eta * (g[c] + e[c]) + sigma * xi[c];
  }
}

void mf_update_range(const mf_update *u, int64_t q0, int64_t q1) {
  suri_real xi[MF_NOISE_GROUP];
  const suri_real eta = (suri_real)u->eta, sigma = (suri_real)u->sigma;
  const suri_real dec = (suri_real)(1.0 - 2.0 * u->eta * u->lambda1);
  for (int64_t gq = q0; gq < q1; gq += MF_NOISE_GROUP) {
    int64_t ge = gq + MF_NOISE_GROUP < q1 ? gq + MF_NOISE_GROUP : q1;
    if (u->sigma != 0)
      mf_noise_group(u->seed, u->purpose, u->base, (uint64_t)(gq / MF_NOISE_GROUP), xi);
    else
      memset(xi, 0, sizeof xi);
    int64_t q = gq;
    while (q < ge) {
      int64_t j = q / u->p, c = q - j * u->p;
      int64_t cend = u->p < c + (ge - q) ? u->p : c + (ge - q);
      suri_real *th = u->theta + j * u->ld;
      const suri_real *xq = xi + (q - gq);
      if (c < u->nw) {
        int64_t we = cend < u->nw ? cend : u->nw;
        upd_w(we - c, th + c, u->wdone ? NULL : u->G + j * u->ldG + c,
              u->E ? u->E + j * u->ldE + c : NULL, xq, eta, u->wdone ? 1 : dec, sigma);
      }
      for (int64_t k = c > u->nw ? c : u->nw; k < cend; k++) {
        double g = u->gtail[j * (u->p - u->nw) + (k - u->nw)];
        double t = (double)th[k];
        th[k] = (suri_real)(t - u->eta * (g + 2.0 * u->lambda1 * t) + u->sigma * (double)xq[k - c]);
      }
      q += cend - c;
    }
  }
}
