/* spectral.c - stochastic trace and spectral-density estimation for symmetric operators.
 *
 * Hutchinson (1990): for Rademacher z (entries +-1), E[z^T A z] = tr(A) and
 * Var = 2 sum_{i != j} A_ij^2; the estimate is the mean over s probes, its standard error the
 * sample standard deviation / sqrt(s) (Welford's update, in double).
 *
 * Stochastic Lanczos quadrature (Golub & Meurant, Matrices, Moments and Quadrature, 2010;
 * Ubaru, Chen & Saad, SIAM J. Matrix Anal. Appl. 38(4), 2017; Ghorbani, Krishnan & Xiao,
 * ICML 2019): for a unit probe v the spectral measure mu_v = sum_i (u_i . v)^2 delta_{lambda_i}
 * has Gauss quadrature nodes = eigenvalues theta_j of the m-step Lanczos matrix T_m and
 * weights tau_j = (e_1 . s_j)^2, the squared FIRST components of T_m's eigenvectors. These sum
 * to 1 (the first row of an orthogonal matrix) and reproduce the moments v^T A^p v exactly for
 * p <= 2m - 1. Rademacher v / sqrt(n) has E[mu_v] = (1/n) sum_i delta_{lambda_i}, so the
 * probe average is an unbiased estimate of the eigenvalue distribution; its mean is a
 * Hutchinson trace estimate / n (with the same seed the two functions draw the same probes).
 * The density on a grid is the Gaussian-broadened quadrature, each N(theta, sigma^2) term
 * normalised, so the density integrates to 1 over the real line; the result reports the
 * trapezoid mass actually on the grid. Pitfalls that this avoids: Lanczos without
 * reorthogonalisation produces spurious copies of outliers that steal weight, weights taken from
 * the last instead of the first eigenvector components, and densities normalised by the grid
 * sum (which depends on the grid) instead of the Gaussian normalisation. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_internal.h"

suri_trace_opts suri_trace_defaults(void) {
  suri_trace_opts o = {100, 10, 0.0, 0};
  return o;
}

suri_slq_opts suri_slq_defaults(void) {
  suri_slq_opts o;
  memset(&o, 0, sizeof o);
  o.probes = 10;
  o.steps = 80;
  o.grid = 1000;
  return o;
}

/* Probe j: Rademacher signs from block counter j * 2^40 (shared by Hutchinson and SLQ). */
static uint64_t probe_counter(int j) { return (uint64_t)j << 40; }

suri_status suri_trace_hutchinson(const suri_linop *A, const suri_trace_opts *o, double *trace,
                                  double *std_err, suri_solver_info *info) {
  suri_trace_opts op = o ? *o : suri_trace_defaults();
  if (!A || !A->apply || A->n < 1 || !trace)
    return suri_fail(SURI_ERR_ARG, "Hutchinson: invalid operator or output");
  if (op.probes < 2 || op.min_probes < 0 || !(op.rtol >= 0))
    return suri_fail(SURI_ERR_ARG, "Hutchinson: need probes >= 2, min_probes >= 0, rtol >= 0 "
                     "(got %d, %d, %g)", op.probes, op.min_probes, op.rtol);
  int64_t n = A->n;
  double *z = malloc((size_t)n * sizeof *z), *az = malloc((size_t)n * sizeof *az);
  if (!z || !az) {
    free(z), free(az);
    return suri_fail(SURI_ERR_NOMEM, "Hutchinson: cannot allocate 2 x %lld doubles", (long long)n);
  }
  double mean = 0, m2 = 0, se = INFINITY;
  int s = 0, conv = op.rtol == 0;
  suri_status st = SURI_OK;
  while (s < op.probes) {
    an_random_vector(op.seed, probe_counter(s), n, 0, 0, z);
    st = A->apply(A, z, az);
    if (st) break;
    double q = an_dot(n, z, az), d = q - mean;
    s++;
    mean += d / s;
    m2 += d * (q - mean);
    se = s > 1 ? sqrt(m2 / (s - 1) / s) : INFINITY;
    if (!isfinite(q)) {
      st = suri_fail(SURI_ERR_NUMERIC, "Hutchinson: the operator returned NaN/Inf");
      break;
    }
    if (op.rtol > 0 && s >= op.min_probes && s >= 2 && se <= op.rtol * fabs(mean)) {
      conv = 1;
      break;
    }
  }
  free(z), free(az);
  if (st) return st;
  *trace = mean;
  if (std_err) *std_err = se;
  if (info) *info = (suri_solver_info){s, se, conv, s};
  return SURI_OK;
}

void suri_slq_result_free(suri_slq_result *r) {
  if (!r) return;
  free(r->nodes), free(r->weights), free(r->t), free(r->density);
  memset(r, 0, sizeof *r);
}

/* Nodes and weights of one probe from alpha/beta (m). Ritz values ascending. */
static suri_status quadrature(int64_t m, const double *alpha, const double *beta, double *d,
                              double *e, double *S, double *nodes, double *weights) {
  memcpy(d, alpha, (size_t)m * sizeof *d);
  if (m > 1) memcpy(e, beta, (size_t)(m - 1) * sizeof *e);
  lapack_int info = LAPACKE_dstev(LAPACK_ROW_MAJOR, 'V', (lapack_int)m, d, e, S, (lapack_int)m);
  if (info != 0) return suri_fail(SURI_ERR_NUMERIC, "SLQ: LAPACK dstev failed (info %d)", (int)info);
  for (int64_t i = 0; i < m; i++) {
    nodes[i] = d[i];
    weights[i] = S[i] * S[i]; /* row 0 of S: first components */
  }
  return SURI_OK;
}

static void broaden(suri_slq_result *r, const suri_slq_opts *op) {
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < (int64_t)r->probes * r->steps; i++)
    if (r->weights[i] > 0) lo = fmin(lo, r->nodes[i]), hi = fmax(hi, r->nodes[i]);
  if (!(lo <= hi)) lo = hi = 0;
  double sigma = op->sigma;
  if (!(sigma > 0)) {
    double range = hi - lo, mag = fmax(fabs(lo), fabs(hi));
    sigma = range > 0 ? 0.01 * range : (mag > 0 ? 1e-3 * mag : 1e-3);
  }
  double a = op->lo, b = op->hi;
  if (!(a < b)) a = lo - 5 * sigma, b = hi + 5 * sigma;
  r->sigma = sigma;
  double norm = 1.0 / (sigma * 2.50662827463100050242 * r->probes), mass = 0;
  for (int g = 0; g < r->grid; g++) {
    double t = a + (b - a) * g / (r->grid - 1), s = 0;
    for (int64_t i = 0; i < (int64_t)r->probes * r->steps; i++) {
      if (r->weights[i] <= 0) continue;
      double u = (t - r->nodes[i]) / sigma;
      s += r->weights[i] * exp(-0.5 * u * u);
    }
    r->t[g] = t;
    r->density[g] = s * norm;
    if (g) mass += 0.5 * (r->density[g] + r->density[g - 1]) * (r->t[g] - r->t[g - 1]);
  }
  r->mass = mass;
}

static suri_status slq_alloc(suri_slq_result *r, int probes, int64_t m, int grid) {
  size_t pm = (size_t)probes * (size_t)m;
  r->nodes = calloc(pm, sizeof(double));
  r->weights = calloc(pm, sizeof(double));
  r->t = calloc((size_t)grid, sizeof(double));
  r->density = calloc((size_t)grid, sizeof(double));
  if (!r->nodes || !r->weights || !r->t || !r->density)
    return suri_fail(SURI_ERR_NOMEM, "SLQ: cannot allocate %d x %lld quadrature nodes", probes,
                     (long long)m);
  return SURI_OK;
}

suri_status suri_slq_density(const suri_linop *A, const suri_slq_opts *o, suri_slq_result *out,
                             suri_solver_info *info) {
  suri_slq_opts op = o ? *o : suri_slq_defaults();
  if (!out) return suri_fail(SURI_ERR_ARG, "SLQ: out is NULL");
  memset(out, 0, sizeof *out);
  if (!A || !A->apply || A->n < 1) return suri_fail(SURI_ERR_ARG, "SLQ: invalid operator");
  if (op.probes < 1 || op.steps < 1 || op.grid < 2 || !(op.sigma >= 0))
    return suri_fail(SURI_ERR_ARG, "SLQ: need probes >= 1, steps >= 1, grid >= 2, sigma >= 0 "
                     "(got %d, %d, %d, %g)", op.probes, op.steps, op.grid, op.sigma);
  int64_t n = A->n, m = op.steps < n ? op.steps : n;
  suri_slq_result *r = out;
  r->probes = op.probes, r->steps = (int)m, r->n = n, r->grid = op.grid;
  suri_status st = slq_alloc(r, op.probes, m, op.grid);
  double *Q = malloc((size_t)(m * n) * sizeof *Q), *q0 = malloc((size_t)n * sizeof *q0);
  double *w = malloc((size_t)n * sizeof *w), *work = malloc((size_t)m * sizeof *work);
  double *ab = malloc((size_t)(4 * m + m * m) * sizeof *ab);
  if (!st && (!Q || !q0 || !w || !work || !ab))
    st = suri_fail(SURI_ERR_NOMEM, "SLQ: cannot allocate the Lanczos basis (%lld x %lld doubles)",
                   (long long)m, (long long)n);
  int64_t apps = 0, steps = 0;
  double mean = 0, m2 = 0, second = 0;
  for (int p = 0; p < op.probes && !st; p++) {
    an_random_vector(op.seed, probe_counter(p), n, 0, 1, q0);
    int64_t mp = 0;
    double *alpha = ab, *beta = ab + m, *d = ab + 2 * m, *e = ab + 3 * m, *S = ab + 4 * m;
    st = an_lanczos_tridiag(A, q0, m, Q, alpha, beta, w, work, &mp, &apps);
    if (!st) st = quadrature(mp, alpha, beta, d, e, S, r->nodes + (int64_t)p * m,
                             r->weights + (int64_t)p * m);
    if (st) break;
    steps += mp;
    /* moments of the quadrature: sum tau theta = alpha_1, sum tau theta^2 = ||A q0||^2 */
    double mu1 = 0, mu2 = 0;
    for (int64_t i = 0; i < mp; i++) {
      mu1 += r->weights[p * m + i] * r->nodes[p * m + i];
      mu2 += r->weights[p * m + i] * r->nodes[p * m + i] * r->nodes[p * m + i];
    }
    double dl = mu1 - mean;
    mean += dl / (p + 1);
    m2 += dl * (mu1 - mean);
    second += (mu2 - second) / (p + 1);
  }
  free(Q), free(q0), free(w), free(work), free(ab);
  if (st) {
    suri_slq_result_free(r);
    return st;
  }
  broaden(r, &op);
  r->mean = mean;
  r->second = second;
  double se = op.probes > 1 ? sqrt(m2 / (op.probes - 1) / op.probes) : INFINITY;
  if (info) *info = (suri_solver_info){(int)steps, se, 1, apps};
  return SURI_OK;
}
