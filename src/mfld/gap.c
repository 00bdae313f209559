/* gap.c - losses, Fenchel conjugates and the duality-gap monitor of mean-field Langevin
 * dynamics (docs/algorithms/mfld.md section 4; Nitanda, Wu, Suzuki, AISTATS 2022):
 *
 *   L(q) = F(q) + lambda2 Ent(q),   D(g) = -(1/n) sum_i l*_i(g_i) - lambda2 log Z(g),
 *   Z(g) = integral exp(-[(1/n) sum_i g_i h(theta, x_i) + lambda1 ||theta||^2] / lambda2) dtheta,
 *   L(q) - D(g_q) = lambda2 KL(q || p_q)  for g_q,i = l'_i(h_q(x_i))  (exact identity).
 *
 * Estimation from particles (the spec marks it a choice):
 * - log Z, p <= 3: tensor-grid quadrature on a box that adapts to the integrand: start from the
 *   particles' range plus 10 prior standard deviations, then repeatedly shrink the box to the
 *   points within e^-46 of the maximum (plus two cells) or double a side the mass touches,
 *   until it is stable. With the integrand negligible at the edges the equal-weight rule is
 *   the trapezoid rule, spectrally accurate for smooth integrands.
 * - log Z, p > 3: importance sampling with the Gaussian fitted to the particles (weighted mean,
 *   covariance x 1.5, Cholesky), S samples from the stream (seed, MF_RNG_GAP), the same samples
 *   at every monitor (common random numbers). A noisy estimate: its standard error (delta
 *   method) and effective sample size are reported.
 * - Ent(q): Kozachenko-Leonenko k-NN estimator (Kozachenko & Leonenko 1987):
 *   H = psi(n) - psi(k) + log V_p + (p/n) sum_i log eps_i, V_p = pi^(p/2) / Gamma(p/2 + 1),
 *   eps_i the distance to the k-th nearest other point; Ent = -H. Weighted particles (P-SDCA):
 *   the density at x_i is estimated as n w_i times the unweighted estimate (weights locally
 *   constant), so 1/n becomes w_i and Ent gains sum_i w_i log(n w_i) (our choice). Exact
 *   duplicates (distance 0, e.g. right after resampling) are not counted as neighbours. */
#include <float.h>
#include <math.h>
#include <string.h>

#include <lapacke.h>

#include "mfld_internal.h"
#include "suri/linalg.h"

#define LOG_2PI 1.8378770664093454836

/* ---- losses ------------------------------------------------------------------------------ */
double suri_mfld_loss_value(suri_mfld_loss k, double z, double y) {
  if (k == SURI_MFLD_LOSS_SQUARED) return 0.5 * (z - y) * (z - y);
  double m = -y * z; /* log(1 + e^m) without overflow */
  return m > 0 ? m + log1p(exp(-m)) : log1p(exp(m));
}

double suri_mfld_loss_deriv(suri_mfld_loss k, double z, double y) {
  if (k == SURI_MFLD_LOSS_SQUARED) return z - y;
  double t = y * z; /* -y sigmoid(-t) */
  double sg = t >= 0 ? exp(-t) / (1 + exp(-t)) : 1 / (1 + exp(t));
  return -y * sg;
}

static double xlogx(double s) { return s > 0 ? s * log(s) : 0.0; }

double suri_mfld_loss_conj(suri_mfld_loss k, double g, double y) {
  if (k == SURI_MFLD_LOSS_SQUARED) return 0.5 * g * g + g * y;
  double s = -y * g;
  if (!(s >= 0 && s <= 1)) return INFINITY;
  return xlogx(s) + xlogx(1 - s);
}

double suri_mfld_dual_value(suri_mfld_loss k, int64_t n, const double *g, const double *y,
                            double lambda2, double logz) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += suri_mfld_loss_conj(k, g[i], y[i]);
  return -s / (double)n - lambda2 * logz;
}

suri_status suri_mfld_dual_vector(suri_mfld *m, const suri_dataset *data, double *g) {
  if (!m || !g) return suri_fail(SURI_ERR_ARG, "mfld_dual_vector: NULL argument");
  suri_status st = mf_check_data(m, data, "dual");
  if (st) return st;
  mf_view v;
  mf_view_of(m, &v);
  for (int64_t r0 = 0; r0 < data->n; r0 += m->chunk) {
    int64_t cnt = data->n - r0 < m->chunk ? data->n - r0 : m->chunk;
    const suri_real *x = mf_rows(m, data, NULL, r0, cnt);
    mf_forward(m, &v, x, cnt, m->rloss);
    for (int64_t i = 0; i < cnt; i++)
      g[r0 + i] = suri_mfld_loss_deriv(m->c.loss, m->rloss[i], m->yb[i]);
  }
  return SURI_OK;
}

/* ---- the potential at arbitrary points ----------------------------------------------------- */
#define PT_TILE 1024

suri_status mf_potential(suri_mfld *m, const suri_dataset *d, const double *g, int64_t K,
                         const suri_real *pts, double fixed_alpha, double *U) {
  const int64_t p = m->p, dd = m->d, n = d->n, RB = m->chunk < 256 ? m->chunk : 256;
  suri_real *z = suri_alloc((size_t)(RB * PT_TILE) * sizeof(suri_real));
  suri_real *al = suri_alloc(PT_TILE * sizeof(suri_real)),
            *bv = suri_alloc(PT_TILE * sizeof(suri_real));
  suri_real *ones = suri_alloc(PT_TILE * sizeof(suri_real));
  double *acc = suri_alloc(PT_TILE * sizeof(double));
  if (!z || !al || !bv || !ones || !acc) {
    suri_free(z), suri_free(al), suri_free(bv), suri_free(ones), suri_free(acc);
    return suri_fail(SURI_ERR_NOMEM, "mfld gap: cannot allocate the potential buffers");
  }
  for (int k = 0; k < PT_TILE; k++) ones[k] = 1;
  for (int64_t k0 = 0; k0 < K; k0 += PT_TILE) {
    int64_t kt = K - k0 < PT_TILE ? K - k0 : PT_TILE;
    const suri_real *P = pts + k0 * p;
    for (int64_t k = 0; k < kt; k++) {
      double a = m->has_a ? (double)P[k * p + m->col_a] : 0.0;
      suri_mfld_head h = m->c.head;
      al[k] = (suri_real)(h == SURI_MFLD_HEAD_LEARN     ? a
                          : h == SURI_MFLD_HEAD_BOUNDED ? m->c.R * tanh(a)
                                                        : fixed_alpha);
      if (m->col_b >= 0) bv[k] = P[k * p + m->col_b];
      acc[k] = 0;
    }
    for (int64_t r0 = 0; r0 < n; r0 += RB) {
      int64_t cnt = n - r0 < RB ? n - r0 : RB;
      mf_gemm(1, 0, 1, cnt, kt, dd, 1, d->x + r0 * dd, dd, P, p, 0, z, kt);
      for (int64_t i = 0; i < cnt; i++) {
        /* acc_k += g_i act(u_ik): pass A (activations), then pass B's a-sum with alpha = 1 */
        mf_row_forward(m->act, kt, z + i * kt, m->col_b >= 0 ? bv : NULL, NULL, NULL);
        mf_row_backward(m->act, kt, z + i * kt, g[r0 + i], ones, acc, NULL);
      }
    }
    for (int64_t k = 0; k < kt; k++) {
      double r2 = 0;
      for (int64_t c = 0; c < p; c++) r2 += (double)P[k * p + c] * P[k * p + c];
      U[k0 + k] = (double)al[k] * acc[k] / (double)n + m->c.lambda1 * r2;
    }
  }
  suri_free(z), suri_free(al), suri_free(bv), suri_free(ones), suri_free(acc);
  return SURI_OK;
}

/* ---- log Z --------------------------------------------------------------------------------- */
/* A population of particles sharing one Gibbs measure: rows off, off + step, ... (FIXED_PM1 has
 * two, alpha = +1 and -1, each with a fixed mass 1/2; every other head one). */
typedef struct popul {
  int64_t off, step, count;
  double alpha, mass;
} popul;

static int n_popul(const suri_mfld *m, popul *pp) {
  if (m->c.head == SURI_MFLD_HEAD_FIXED_PM1 && m->M >= 2) {
    pp[0] = (popul){0, 2, (m->M + 1) / 2, 1.0, 0.5};
    pp[1] = (popul){1, 2, m->M / 2, -1.0, 0.5};
    return 2;
  }
  pp[0] = (popul){0, 1, m->M, 1.0, 1.0};
  return 1;
}

static double pop_weight(const suri_mfld *m, const popul *pp, int64_t j) {
  return m->w ? m->w[j] : 1.0 / (double)pp->count;
}

/* log sum_k exp(L_k) and the maximum. */
static double log_sum_exp(int64_t K, const double *L, double *lmax) {
  double mx = -INFINITY, s = 0;
  for (int64_t k = 0; k < K; k++) mx = L[k] > mx ? L[k] : mx;
  for (int64_t k = 0; k < K; k++) s += exp(L[k] - mx);
  if (lmax) *lmax = mx;
  return mx + log(s);
}

#define QUAD_DROP 46.0 /* e^-46 ~ 1e-20: below this relative density the box may end */
#define QUAD_ITERS 16

/* One grid evaluation of the log integrand L = -U / lambda2 on the box [lo, hi]^p. */
static suri_status quad_eval(suri_mfld *m, const suri_dataset *d, const double *g, double lambda2,
                             const popul *pp, int64_t G, const double *lo, const double *hi,
                             suri_real *pts, double *L) {
  const int64_t p = m->p;
  int64_t K = 1;
  for (int64_t c = 0; c < p; c++) K *= G;
  for (int64_t k = 0; k < K; k++) {
    int64_t r = k;
    for (int64_t c = p - 1; c >= 0; c--) {
      int64_t i = r % G;
      r /= G;
      pts[k * p + c] = (suri_real)(lo[c] + (hi[c] - lo[c]) * (double)i / (double)(G - 1));
    }
  }
  suri_status st = mf_potential(m, d, g, K, pts, pp->alpha, L);
  if (st) return st;
  for (int64_t k = 0; k < K; k++) L[k] = -L[k] / lambda2;
  return SURI_OK;
}

static suri_status logz_quad(suri_mfld *m, const suri_dataset *d, const double *g, double lambda2,
                             const popul *pp, double *logz) {
  const int64_t p = m->p;
  const int64_t G = m->c.gap_grid ? m->c.gap_grid : (p == 1 ? 4001 : p == 2 ? 301 : 64);
  int64_t K = 1;
  for (int64_t c = 0; c < p; c++) K *= G;
  double lo[3], hi[3], s0 = sqrt(lambda2 / (2 * m->c.lambda1));
  for (int64_t c = 0; c < p; c++) {
    double mx = 0;
    for (int64_t j = pp->off; j < m->M; j += pp->step) {
      double v = fabs((double)m->theta[j * m->ld + c]);
      mx = v > mx ? v : mx;
    }
    lo[c] = -(mx + 10 * s0);
    hi[c] = mx + 10 * s0;
  }
  suri_real *pts = suri_alloc((size_t)(K * p) * sizeof(suri_real));
  double *L = suri_alloc((size_t)K * sizeof(double));
  if (!pts || !L) {
    suri_free(pts), suri_free(L);
    return suri_fail(SURI_ERR_NOMEM, "mfld gap: cannot allocate a %lld-point quadrature grid",
                     (long long)K);
  }
  suri_status st = SURI_OK;
  int it = 0;
  for (; it < QUAD_ITERS; it++) {
    if ((st = quad_eval(m, d, g, lambda2, pp, G, lo, hi, pts, L))) break;
    double lmax, lse = log_sum_exp(K, L, &lmax), lcell = 0;
    for (int64_t c = 0; c < p; c++) lcell += log((hi[c] - lo[c]) / (double)(G - 1));
    *logz = lse + lcell;
    int64_t imin[3] = {G, G, G}, imax[3] = {-1, -1, -1};
    for (int64_t k = 0; k < K; k++) {
      if (!(L[k] >= lmax - QUAD_DROP)) continue;
      int64_t r = k;
      for (int64_t c = p - 1; c >= 0; c--) {
        int64_t i = r % G;
        r /= G;
        imin[c] = i < imin[c] ? i : imin[c];
        imax[c] = i > imax[c] ? i : imax[c];
      }
    }
    int changed = 0;
    for (int64_t c = 0; c < p; c++) {
      double w = hi[c] - lo[c], h = w / (double)(G - 1), nlo, nhi;
      if (imin[c] == 0)
        nlo = lo[c] - w, changed = 1;
      else
        nlo = lo[c] + h * (double)(imin[c] > 2 ? imin[c] - 2 : 0);
      if (imax[c] == G - 1)
        nhi = hi[c] + w, changed = 1;
      else
        nhi = lo[c] + h * (double)(imax[c] + 2 < G - 1 ? imax[c] + 2 : G - 1);
      if (nhi - nlo < 0.8 * w) changed = 1;
      lo[c] = nlo;
      hi[c] = nhi;
    }
    if (!changed) break;
  }
  suri_free(pts), suri_free(L);
  if (st) return st;
  if (it == QUAD_ITERS || !isfinite(*logz))
    return suri_fail(SURI_ERR_NUMERIC,
                     "mfld gap: the log Z quadrature did not settle on a box "
                     "after %d refinements (log Z %g)",
                     QUAD_ITERS, *logz);
  return SURI_OK;
}

/* Weighted mean and covariance x 1.5 (+ a small ridge) of a population, Cholesky-factored. */
static suri_status fit_proposal(const suri_mfld *m, const popul *pp, double *mu, double *C) {
  const int64_t p = m->p, n = pp->count;
  double *A = suri_alloc((size_t)(n * p) * sizeof(double));
  if (!A) return suri_fail(SURI_ERR_NOMEM, "mfld gap: cannot allocate the proposal fit");
  double wsum = 0;
  memset(mu, 0, (size_t)p * sizeof(double));
  for (int64_t r = 0, j = pp->off; r < n; r++, j += pp->step) {
    double w = pop_weight(m, pp, j);
    wsum += w;
    for (int64_t c = 0; c < p; c++) mu[c] += w * (double)m->theta[j * m->ld + c];
  }
  for (int64_t c = 0; c < p; c++) mu[c] /= wsum;
  for (int64_t r = 0, j = pp->off; r < n; r++, j += pp->step) {
    double sw = sqrt(pop_weight(m, pp, j) / wsum);
    for (int64_t c = 0; c < p; c++) A[r * p + c] = sw * ((double)m->theta[j * m->ld + c] - mu[c]);
  }
  suri_dgemm(1, 0, p, p, n, 1.5, A, p, A, p, 0, C, p);
  suri_free(A);
  double tr = 0;
  for (int64_t c = 0; c < p; c++) tr += C[c * p + c];
  /* ridge: 1e-3 of the mean variance keeps the proposal proper when M <= p */
  double ridge = 1e-3 * tr / (double)p + 1e-12 * m->c.lambda2 / (2 * m->c.lambda1);
  for (int64_t c = 0; c < p; c++) C[c * p + c] += ridge;
  lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)p, C, (lapack_int)p);
  if (info != 0)
    return suri_fail(SURI_ERR_NUMERIC,
                     "mfld gap: the proposal covariance is not positive "
                     "definite (dpotrf info %d)",
                     (int)info);
  return SURI_OK;
}

static suri_status logz_is(suri_mfld *m, const suri_dataset *d, const double *g, double lambda2,
                           const popul *pp, double *logz, double *se, double *ess) {
  const int64_t p = m->p, S = m->c.gap_samples;
  double *mu = suri_alloc((size_t)p * sizeof(double)),
         *C = suri_alloc((size_t)(p * p) * sizeof(double));
  double *om = suri_alloc((size_t)S * sizeof(double)), *U = suri_alloc((size_t)S * sizeof(double));
  suri_real *pts = suri_alloc((size_t)(S * p) * sizeof(suri_real)),
            *xi = suri_alloc((size_t)p * sizeof(suri_real));
  suri_status st = SURI_OK;
  if (!mu || !C || !om || !U || !pts || !xi) {
    st = suri_fail(SURI_ERR_NOMEM, "mfld gap: cannot allocate %lld importance samples",
                   (long long)S);
    goto done;
  }
  if ((st = fit_proposal(m, pp, mu, C))) goto done;
  double logdet = 0;
  for (int64_t c = 0; c < p; c++) logdet += log(C[c * p + c]);
  suri_rng r = suri_rng_make(m->c.seed, MF_RNG_GAP);
  r.counter = (uint64_t)pp->off << 40; /* populations draw from disjoint counter ranges */
  for (int64_t s = 0; s < S; s++) {
    suri_rng_fill_normal(&r, (size_t)p, xi, 0.0, 1.0);
    double q2 = 0;
    for (int64_t c = 0; c < p; c++) {
      double v = mu[c];
      for (int64_t k = 0; k <= c; k++) v += C[c * p + k] * (double)xi[k];
      pts[s * p + c] = (suri_real)v;
      q2 += (double)xi[c] * xi[c];
    }
    om[s] = -0.5 * q2 - logdet - 0.5 * (double)p * LOG_2PI; /* log proposal density */
  }
  if ((st = mf_potential(m, d, g, S, pts, pp->alpha, U))) goto done;
  for (int64_t s = 0; s < S; s++) om[s] = -U[s] / lambda2 - om[s];
  double mx, lse = log_sum_exp(S, om, &mx), sw = 0, sw2 = 0;
  *logz = lse - log((double)S);
  for (int64_t s = 0; s < S; s++) {
    double w = exp(om[s] - mx);
    sw += w;
    sw2 += w * w;
  }
  double mean = sw / (double)S, var = (sw2 / (double)S - mean * mean) * (double)S / (double)(S - 1);
  *se = sqrt(var > 0 ? var / (double)S : 0) / mean;
  *ess = sw * sw / sw2;
done:
  suri_free(mu), suri_free(C), suri_free(om), suri_free(U), suri_free(pts), suri_free(xi);
  return st;
}

static suri_status log_partition(suri_mfld *m, const suri_dataset *d, const double *g,
                                 double lambda2, suri_mfld_logz_method method, double *logz,
                                 double *se, double *ess, suri_mfld_logz_method *used) {
  if (!(m->c.lambda1 > 0) || !(lambda2 > 0))
    return suri_fail(SURI_ERR_ARG,
                     "mfld gap: log Z needs lambda1 > 0 and lambda2 > 0 (got %g, "
                     "%g): otherwise the Gibbs measure is not normalisable",
                     m->c.lambda1, lambda2);
  if (method == SURI_MFLD_LOGZ_AUTO)
    method = m->p <= 3 ? SURI_MFLD_LOGZ_QUADRATURE : SURI_MFLD_LOGZ_IMPORTANCE;
  if (method == SURI_MFLD_LOGZ_QUADRATURE && m->p > 3)
    return suri_fail(SURI_ERR_ARG,
                     "mfld gap: quadrature needs p <= 3 coordinates per particle "
                     "(p = %lld): use importance sampling",
                     (long long)m->p);
  popul pp[2];
  int np = n_popul(m, pp);
  double lz = 0, v2 = 0, es = 0;
  for (int k = 0; k < np; k++) {
    double l = 0, s = 0, e = NAN;
    suri_status st = method == SURI_MFLD_LOGZ_QUADRATURE
                         ? logz_quad(m, d, g, lambda2, &pp[k], &l)
                         : logz_is(m, d, g, lambda2, &pp[k], &l, &s, &e);
    if (st) return st;
    lz += pp[k].mass * l;
    v2 += pp[k].mass * pp[k].mass * s * s;
    es += e;
  }
  *logz = lz;
  if (se) *se = sqrt(v2);
  if (ess) *ess = es;
  if (used) *used = method;
  return SURI_OK;
}

suri_status suri_mfld_log_partition(suri_mfld *m, const suri_dataset *data, const double *g,
                                    suri_mfld_logz_method method, double *logz, double *se,
                                    suri_mfld_logz_method *used) {
  if (!m || !g || !logz) return suri_fail(SURI_ERR_ARG, "mfld_log_partition: NULL argument");
  if ((unsigned)method > SURI_MFLD_LOGZ_IMPORTANCE)
    return suri_fail(SURI_ERR_ARG, "mfld_log_partition: bad method %d", (int)method);
  suri_status st = mf_check_data(m, data, "log-partition");
  if (st) return st;
  return log_partition(m, data, g, m->c.lambda2, method, logz, se, NULL, used);
}

/* ---- k-NN entropy --------------------------------------------------------------------------- */
static double digamma_int(int64_t n) { /* psi(n) = -gamma + sum_{i < n} 1/i */
  double s = -0.57721566490153286061;
  for (int64_t i = 1; i < n; i++) s += 1.0 / (double)i;
  return s;
}

#define KNN_TILE 128

/* log of the distance from row i to its k-th nearest other point, from squared distances
 * d2 (n) (self and exact duplicates skipped). */
static double kth_log_dist(int64_t n, int64_t i, const double *d2, int k) {
  double best[64];
  int cnt = 0;
  for (int64_t j = 0; j < n; j++) {
    double v = d2[j];
    if (j == i || !(v > 0)) continue;
    if (cnt == k && v >= best[k - 1]) continue;
    int pos = cnt < k ? cnt++ : k - 1;
    while (pos > 0 && best[pos - 1] > v) best[pos] = best[pos - 1], pos--;
    best[pos] = v;
  }
  return cnt == k ? 0.5 * log(best[k - 1]) : NAN;
}

suri_status suri_mfld_entropy_knn(int64_t n, int64_t p, const suri_real *x, int64_t ld,
                                  const double *w, int k, double *ent) {
  if (!x || !ent || p < 1 || ld < p)
    return suri_fail(SURI_ERR_ARG, "mfld_entropy_knn: bad arguments");
  if (k < 1 || k > 64 || n <= k)
    return suri_fail(SURI_ERR_ARG, "mfld_entropy_knn: need 1 <= k <= 64 and n > k (n %lld, k %d)",
                     (long long)n, k);
  double *X = suri_alloc((size_t)(n * p) * sizeof(double)),
         *nr = suri_alloc((size_t)n * sizeof(double));
  double *D = suri_alloc((size_t)(KNN_TILE * n) * sizeof(double)),
         *le = suri_alloc((size_t)n * sizeof(double));
  if (!X || !nr || !D || !le) {
    suri_free(X), suri_free(nr), suri_free(D), suri_free(le);
    return suri_fail(SURI_ERR_NOMEM, "mfld_entropy_knn: cannot allocate for %lld points",
                     (long long)n);
  }
  for (int64_t i = 0; i < n; i++) {
    double s = 0;
    for (int64_t c = 0; c < p; c++) {
      X[i * p + c] = (double)x[i * ld + c];
      s += X[i * p + c] * X[i * p + c];
    }
    nr[i] = s;
  }
  for (int64_t i0 = 0; i0 < n; i0 += KNN_TILE) {
    int64_t rows = n - i0 < KNN_TILE ? n - i0 : KNN_TILE;
    suri_dgemm(0, 1, rows, n, p, -2.0, X + i0 * p, p, X, p, 0, D, n);
#pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (int64_t r = 0; r < rows; r++) {
      double *row = D + r * n;
      for (int64_t j = 0; j < n; j++) row[j] += nr[i0 + r] + nr[j];
      le[i0 + r] = kth_log_dist(n, i0 + r, row, k);
    }
  }
  double s = 0, kl = 0;
  for (int64_t i = 0; i < n; i++) s += (w ? w[i] : 1.0 / (double)n) * le[i];
  for (int64_t i = 0; w && i < n; i++) kl += w[i] > 0 ? w[i] * log((double)n * w[i]) : 0.0;
  double logvp = 0.5 * (double)p * log(3.14159265358979323846) - lgamma(0.5 * (double)p + 1);
  double H = digamma_int(n) - digamma_int(k) + logvp + (double)p * s - kl;
  suri_free(X), suri_free(nr), suri_free(D), suri_free(le);
  if (!isfinite(H))
    return suri_fail(SURI_ERR_NUMERIC,
                     "mfld_entropy_knn: fewer than k = %d distinct neighbours "
                     "for some point (duplicated particles?)",
                     k);
  *ent = -H;
  return SURI_OK;
}

/* ---- the gap -------------------------------------------------------------------------------- */
static void gap_nan(suri_mfld_gap *g) {
  memset(g, 0, sizeof *g);
  g->F = g->ent = g->primal = g->conj = g->logz = g->logz_se = g->ess = g->dual = g->gap = NAN;
}

/* Ent(q): population-mass-weighted k-NN estimates (the fixed +-1 marginal of FIXED_PM1 adds
 * the same constant to primal and dual and is left out). */
static suri_status mf_entropy(suri_mfld *m, double *ent) {
  popul pp[2];
  int np = n_popul(m, pp);
  double e = 0;
  for (int k = 0; k < np; k++) {
    double *w = NULL, ek;
    if (m->w) {
      w = suri_alloc((size_t)pp[k].count * sizeof(double));
      if (!w) return suri_fail(SURI_ERR_NOMEM, "mfld gap: cannot allocate weights");
      double s = 0;
      for (int64_t r = 0; r < pp[k].count; r++) s += (w[r] = m->w[pp[k].off + r * pp[k].step]);
      for (int64_t r = 0; r < pp[k].count; r++) w[r] /= s;
    }
    suri_status st = suri_mfld_entropy_knn(pp[k].count, m->p, m->theta + pp[k].off * m->ld,
                                           m->ld * pp[k].step, w, m->c.knn, &ek);
    suri_free(w);
    if (st) return st;
    e += pp[k].mass * ek;
  }
  *ent = e;
  return SURI_OK;
}

suri_status mf_gap(suri_mfld *m, const suri_dataset *d, const double *g_in, double lambda2,
                   suri_mfld_gap *out) {
  gap_nan(out);
  const int64_t n = d->n;
  double *y = suri_alloc((size_t)n * sizeof(double)), *g = suri_alloc((size_t)n * sizeof(double));
  suri_status st = SURI_OK;
  if (!y || !g) {
    st = suri_fail(SURI_ERR_NOMEM, "mfld gap: cannot allocate for %lld rows", (long long)n);
    goto done;
  }
  if ((st = suri_mfld_targets(m, d, y))) goto done;
  if (g_in)
    memcpy(g, g_in, (size_t)n * sizeof(double));
  else if ((st = suri_mfld_dual_vector(m, d, g)))
    goto done;
  double risk, l2;
  if ((st = suri_mfld_objective(m, d, &risk, &l2))) goto done;
  out->F = risk + l2;
  if ((st = mf_entropy(m, &out->ent))) goto done;
  out->primal = out->F + lambda2 * out->ent;
  out->conj = suri_mfld_dual_value(m->c.loss, n, g, y, 0.0, 0.0);
  if ((st = log_partition(m, d, g, lambda2, SURI_MFLD_LOGZ_AUTO, &out->logz, &out->logz_se,
                          &out->ess, &out->logz_method)))
    goto done;
  out->estimate = out->logz_method == SURI_MFLD_LOGZ_IMPORTANCE;
  out->dual = out->conj - lambda2 * out->logz;
  out->gap = out->primal - out->dual;
  out->valid = 1;
done:
  suri_free(y), suri_free(g);
  return st;
}

suri_status suri_mfld_gap_compute(suri_mfld *m, const suri_dataset *data, const double *g,
                                  suri_mfld_gap *out) {
  if (!m || !out) return suri_fail(SURI_ERR_ARG, "mfld_gap_compute: NULL argument");
  suri_status st = mf_check_data(m, data, "gap");
  if (st) return st;
  return mf_gap(m, data, g, m->c.lambda2, out);
}
