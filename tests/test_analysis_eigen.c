/* test_analysis_eigen.c - the symmetric-operator solvers of suri/analysis.h on dense matrices
 * with a KNOWN spectrum, A = Q diag(lambda) Q^T (Q orthogonal from LAPACK on a random symmetric
 * matrix), so the oracle is exact:
 *  - power iteration (top-k by magnitude), Lanczos (largest, smallest, magnitude; a low-rank
 *    operator that stops the Krylov space early), the dense Gram solver: eigenvalues,
 *    eigenvectors (overlap with the true ones), residuals and the reported counters;
 *  - Hutchinson: within 3 standard errors of the exact trace, the reported standard error
 *    close to the theoretical one, the relative-tolerance stop;
 *  - stochastic Lanczos quadrature: weights sum to 1 per probe, the quadrature mean equals the
 *    Hutchinson estimate / n with the same probes, mean and second moment against tr(A)/n and
 *    tr(A^2)/n, exactness (nodes = the eigenvalues, weights = projections) for an operator with
 *    5 distinct eigenvalues, outliers carry weight 1/n each (no ghost copies), the broadened
 *    density integrates to 1 independently of the grid.
 * All computations are double (the solvers do not use suri_real), so the tolerances are the
 * same in float and double builds: eigenvalues 1e-8 relative with solver tolerance 1e-10 on
 * well-separated spectra (error <= residual^2 / gap), identities 1e-10. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/analysis.h"
#include "suri/linalg.h"
#include "testutil.h"

static double lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* A (n, n) = Q diag(lam) Q^T; Q (n, n) row-major, column i = eigenvector of lam[i]. */
static void make_matrix(int64_t n, const double *lam, uint64_t seed, double *A, double *Q) {
  uint64_t r = seed;
  double *w = malloc((size_t)n * sizeof *w);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i; j < n; j++) Q[i * n + j] = Q[j * n + i] = lcg(&r);
  assert_int_equal(suri_syev(n, Q, w, 1), SURI_OK);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += Q[i * n + k] * lam[k] * Q[j * n + k];
      A[i * n + j] = s;
    }
  for (int64_t i = 0; i < n; i++) /* exactly symmetric */
    for (int64_t j = i + 1; j < n; j++) A[j * n + i] = A[i * n + j];
  free(w);
}

/* Fisher-like spectrum: outliers 50, 20, 10, 5 and a bulk in [0, 1]. */
static void fisher_like(int64_t n, double *lam) {
  for (int64_t i = 0; i < n; i++) lam[i] = (double)i / (double)n;
  lam[n - 1] = 50, lam[n - 2] = 20, lam[n - 3] = 10, lam[n - 4] = 5;
}

static double overlap(int64_t n, const double *v, const double *Q, int64_t col) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += v[i] * Q[i * n + col];
  return fabs(s);
}

/* A counting wrapper to check the reported number of applications. */
typedef struct counted {
  suri_linop inner;
  int64_t calls;
} counted;

static suri_status counted_apply(const suri_linop *self, const double *v, double *out) {
  counted *c = self->ctx;
  c->calls++;
  return c->inner.apply(&c->inner, v, out);
}

/* Records the first vector an operator is applied to (an SLQ probe). */
typedef struct capture {
  suri_linop inner;
  double first[64];
  int got;
} capture;

static suri_status capture_apply(const suri_linop *self, const double *v, double *out) {
  capture *c = self->ctx;
  if (!c->got) memcpy(c->first, v, (size_t)self->n * sizeof *v), c->got = 1;
  return c->inner.apply(&c->inner, v, out);
}

static void test_power_lanczos_largest(void **state) {
  (void)state;
  enum { N = 60, K = 4 };
  double lam[N], *A = malloc(N * N * sizeof *A), *Q = malloc(N * N * sizeof *Q);
  fisher_like(N, lam);
  make_matrix(N, lam, 1, A, Q);
  counted cw = {suri_linop_dense(N, A), 0};
  suri_linop op = {N, counted_apply, &cw};
  double val[K], res[K], vec[K * N];
  suri_eig_opts o = suri_eig_defaults();
  o.k = K;
  o.tol = 1e-10;
  for (int solver = 0; solver < 2; solver++) {
    suri_solver_info info;
    cw.calls = 0;
    suri_status st = solver ? suri_eig_lanczos(&op, &o, val, vec, res, &info)
                            : suri_eig_power(&op, &o, val, vec, res, &info);
    assert_int_equal(st, SURI_OK);
    assert_true(info.converged);
    assert_int_equal(info.applications, cw.calls);
    assert_true(info.residual <= 1e-10);
    for (int i = 0; i < K; i++) {
      if (!tu_close(val[i], lam[N - 1 - i], 1e-8, 0))
        fail_msg("%s: lambda_%d = %.12g, want %.12g", solver ? "Lanczos" : "power", i, val[i],
                 lam[N - 1 - i]);
      assert_true(overlap(N, vec + i * N, Q, N - 1 - i) > 1 - 1e-8);
      assert_true(res[i] <= 1e-10 * 50);
    }
    if (solver) assert_true(info.iterations < N); /* a Krylov space smaller than the matrix */
  }
  free(A), free(Q);
}

static void test_lanczos_which(void **state) {
  (void)state;
  enum { N = 50, K = 3 };
  double lam[N], *A = malloc(N * N * sizeof *A), *Q = malloc(N * N * sizeof *Q);
  for (int i = 0; i < N; i++) lam[i] = -0.5 + (double)i / N; /* bulk [-0.5, 0.5) */
  lam[0] = -9, lam[1] = -6, lam[2] = -4, lam[N - 1] = 7, lam[N - 2] = 3; /* ascending */
  make_matrix(N, lam, 2, A, Q);
  suri_linop op = suri_linop_dense(N, A);
  double val[K];
  suri_eig_opts o = suri_eig_defaults();
  o.k = K;
  o.tol = 1e-10;
  o.which = SURI_EIG_SMALLEST;
  assert_int_equal(suri_eig_lanczos(&op, &o, val, NULL, NULL, NULL), SURI_OK);
  assert_true(tu_close(val[0], -9, 1e-9, 0) && tu_close(val[1], -6, 1e-9, 0) &&
              tu_close(val[2], -4, 1e-9, 0));
  o.which = SURI_EIG_MAGNITUDE;
  assert_int_equal(suri_eig_lanczos(&op, &o, val, NULL, NULL, NULL), SURI_OK);
  assert_true(tu_close(val[0], -9, 1e-9, 0) && tu_close(val[1], 7, 1e-9, 0) &&
              tu_close(val[2], -6, 1e-9, 0));
  /* power iteration finds the largest magnitude: -9 */
  o.k = 1;
  assert_int_equal(suri_eig_power(&op, &o, val, NULL, NULL, NULL), SURI_OK);
  assert_true(tu_close(val[0], -9, 1e-8, 0));
  free(A), free(Q);
}

/* Rank-3 PSD operator in dimension 40 (a Fisher with N C < P): the Krylov space is invariant
 * after 4 steps; asking for k = 5 restarts and reports the zero eigenvalues. */
static void test_lanczos_low_rank(void **state) {
  (void)state;
  enum { N = 40, K = 5 };
  double lam[N] = {0}, *A = malloc(N * N * sizeof *A), *Q = malloc(N * N * sizeof *Q);
  lam[N - 1] = 4, lam[N - 2] = 2, lam[N - 3] = 1;
  make_matrix(N, lam, 3, A, Q);
  suri_linop op = suri_linop_dense(N, A);
  double val[K], vec[K * N];
  suri_solver_info info;
  suri_eig_opts o = suri_eig_defaults();
  o.k = K;
  o.tol = 1e-10;
  assert_int_equal(suri_eig_lanczos(&op, &o, val, vec, NULL, &info), SURI_OK);
  assert_true(info.converged);
  const double want[K] = {4, 2, 1, 0, 0};
  for (int i = 0; i < K; i++) assert_true(fabs(val[i] - want[i]) <= 1e-9 * 4);
  for (int i = 0; i < K; i++) /* orthonormal Ritz vectors */
    for (int j = 0; j <= i; j++) {
      double s = 0;
      for (int p = 0; p < N; p++) s += vec[i * N + p] * vec[j * N + p];
      assert_true(fabs(s - (i == j)) < 1e-9);
    }
  free(A), free(Q);
}

static void test_dense_and_materialize(void **state) {
  (void)state;
  enum { N = 30, K = 3 };
  double lam[N], *A = malloc(N * N * sizeof *A), *Q = malloc(N * N * sizeof *Q);
  double *B = malloc(N * N * sizeof *B), val[K], vec[K * N];
  fisher_like(N, lam);
  make_matrix(N, lam, 4, A, Q);
  suri_linop op = suri_linop_dense(N, A);
  assert_int_equal(suri_linop_to_dense(&op, 1, B), SURI_OK);
  for (int i = 0; i < N * N; i++) assert_true(fabs(A[i] - B[i]) < 1e-14 * 50);
  suri_solver_info info;
  assert_int_equal(suri_eig_dense(N, A, K, val, vec, &info), SURI_OK);
  for (int i = 0; i < K; i++) {
    assert_true(tu_close(val[i], lam[N - 1 - i], 1e-12, 0));
    assert_true(overlap(N, vec + i * N, Q, N - 1 - i) > 1 - 1e-12);
  }
  assert_true(info.converged && info.residual < 1e-12);
  tu_expect_status(suri_eig_dense(N, A, N + 1, val, NULL, NULL), SURI_ERR_ARG, "k <= n");
  suri_eig_opts o = suri_eig_defaults();
  o.k = 0;
  tu_expect_status(suri_eig_lanczos(&op, &o, val, NULL, NULL, NULL), SURI_ERR_ARG, "k = 0");
  free(A), free(Q), free(B);
}

/* Exact Hutchinson variance for Rademacher probes: 2 sum_{i != j} A_ij^2 per probe. */
static double hutch_sd(int64_t n, const double *A) {
  double s = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++)
      if (i != j) s += A[i * n + j] * A[i * n + j];
  return sqrt(2 * s);
}

static void test_hutchinson(void **state) {
  (void)state;
  enum { N = 60 };
  double lam[N], *A = malloc(N * N * sizeof *A), *Q = malloc(N * N * sizeof *Q), tr = 0;
  fisher_like(N, lam);
  make_matrix(N, lam, 5, A, Q);
  for (int i = 0; i < N; i++) tr += lam[i];
  suri_linop op = suri_linop_dense(N, A);
  suri_trace_opts o = suri_trace_defaults();
  o.probes = 200;
  int inside = 0;
  for (uint64_t seed = 0; seed < 10; seed++) {
    double est, se;
    suri_solver_info info;
    o.seed = seed;
    assert_int_equal(suri_trace_hutchinson(&op, &o, &est, &se, &info), SURI_OK);
    assert_int_equal(info.iterations, 200);
    assert_int_equal(info.applications, 200);
    /* the standard error estimates the true one, sd / sqrt(200), within sampling noise */
    double true_se = hutch_sd(N, A) / sqrt(200.0);
    assert_true(se > 0.7 * true_se && se < 1.3 * true_se);
    if (!(fabs(est - tr) <= 3 * se)) fail_msg("seed %d: %.6g vs trace %.6g (se %.3g)", (int)seed, est, tr, se);
    inside += fabs(est - tr) <= se;
  }
  assert_true(inside >= 4); /* ~68% expected within one standard error */
  /* early stop on a relative tolerance */
  o.probes = 10000;
  o.rtol = 0.02;
  double est, se;
  suri_solver_info info;
  assert_int_equal(suri_trace_hutchinson(&op, &o, &est, &se, &info), SURI_OK);
  assert_true(info.converged && info.iterations < 10000 && se <= 0.02 * fabs(est));
  free(A), free(Q);
}

static void test_slq_moments(void **state) {
  (void)state;
  enum { N = 60, PROBES = 40 };
  double lam[N], *A = malloc(N * N * sizeof *A), *Q = malloc(N * N * sizeof *Q), tr = 0, tr2 = 0;
  fisher_like(N, lam);
  make_matrix(N, lam, 6, A, Q);
  for (int i = 0; i < N; i++) tr += lam[i], tr2 += lam[i] * lam[i];
  suri_linop op = suri_linop_dense(N, A);
  suri_slq_opts so = suri_slq_defaults();
  so.probes = PROBES;
  so.steps = 20;
  so.seed = 9;
  suri_slq_result r;
  suri_solver_info info;
  assert_int_equal(suri_slq_density(&op, &so, &r, &info), SURI_OK);
  assert_int_equal(r.probes, PROBES);
  assert_int_equal(r.steps, 20);
  for (int p = 0; p < PROBES; p++) {
    double ws = 0;
    for (int j = 0; j < r.steps; j++) ws += r.weights[p * r.steps + j];
    assert_true(fabs(ws - 1) < 1e-12);
  }
  /* same probes: the quadrature mean is the Hutchinson estimate / n */
  suri_trace_opts to = suri_trace_defaults();
  to.probes = PROBES;
  to.seed = 9;
  double est, se;
  assert_int_equal(suri_trace_hutchinson(&op, &to, &est, &se, NULL), SURI_OK);
  assert_true(fabs(r.mean * N - est) <= 1e-10 * fabs(est));
  assert_true(fabs(info.residual * N - se) <= 1e-8 * se);
  assert_true(fabs(r.mean - tr / N) <= 3 * info.residual);
  assert_true(fabs(r.second - tr2 / N) <= 0.3 * tr2 / N); /* 40 probes: ~12% noise */
  /* outliers: weight near 50 is ~1/n per probe on average, not doubled by ghosts */
  double w50 = 0, wout = 0;
  for (int i = 0; i < PROBES * r.steps; i++) {
    if (fabs(r.nodes[i] - 50) < 1e-6) w50 += r.weights[i] / PROBES;
    if (r.nodes[i] > 4) wout += r.weights[i] / PROBES;
  }
  assert_true(w50 > 0.3 / N && w50 < 2.0 / N);
  assert_true(fabs(wout - 4.0 / N) < 0.5 * 4.0 / N);
  assert_true(fabs(r.mass - 1) < 1e-6);
  suri_slq_result_free(&r);
  assert_null(r.nodes);
  free(A), free(Q);
}

/* 5 distinct eigenvalues: Lanczos stops after 5 steps (invariant subspace) and the quadrature
 * is exact: nodes = the eigenvalues, weights = squared projections of the probe on each
 * eigenspace. The density formula is pointwise, so two grids agree where they share points. */
static void test_slq_exact(void **state) {
  (void)state;
  enum { N = 20 };
  double lam[N], *A = malloc(N * N * sizeof *A), *Q = malloc(N * N * sizeof *Q);
  const double vals[5] = {-1, 0.5, 2, 3, 8};
  for (int i = 0; i < N; i++) lam[i] = vals[i * 5 / N];
  make_matrix(N, lam, 7, A, Q);
  suri_linop op = suri_linop_dense(N, A);
  suri_slq_opts so = suri_slq_defaults();
  so.probes = 3;
  so.steps = 15;
  so.grid = 201;
  so.lo = -3, so.hi = 10, so.sigma = 0.1;
  suri_slq_result r, r2;
  suri_solver_info info;
  assert_int_equal(suri_slq_density(&op, &so, &r, &info), SURI_OK);
  assert_int_equal(info.iterations, 3 * 5);
  for (int p = 0; p < 3; p++) {
    for (int j = 0; j < 5; j++) assert_true(fabs(r.nodes[p * r.steps + j] - vals[j]) < 1e-10);
    for (int j = 5; j < r.steps; j++) assert_true(r.weights[p * r.steps + j] == 0);
  }
  /* weights of probe 0 = squared projections of the probe (the first vector applied) */
  capture cap = {suri_linop_dense(N, A), {0}, 0};
  suri_linop cop = {N, capture_apply, &cap};
  suri_slq_result r3;
  so.probes = 1;
  assert_int_equal(suri_slq_density(&cop, &so, &r3, NULL), SURI_OK);
  for (int j = 0; j < 5; j++) {
    double proj = 0;
    for (int i = 0; i < N; i++)
      if (lam[i] == vals[j]) proj += overlap(N, cap.first, Q, i) * overlap(N, cap.first, Q, i);
    assert_true(fabs(r3.weights[j] - proj) < 1e-10);
    assert_true(fabs(r3.weights[j] - r.weights[j]) < 1e-12); /* same probe 0 */
  }
  for (int i = 0; i < N; i++) assert_true(fabs(fabs(cap.first[i]) - 1 / sqrt((double)N)) < 1e-15);
  suri_slq_result_free(&r3);
  so.probes = 3;
  so.grid = 2001;
  assert_int_equal(suri_slq_density(&op, &so, &r2, NULL), SURI_OK);
  assert_true(fabs(r.mass - 1) < 1e-6 && fabs(r2.mass - 1) < 1e-6);
  for (int g = 0; g < 201; g++) {
    assert_true(fabs(r.t[g] - r2.t[10 * g]) < 1e-12);
    assert_true(fabs(r.density[g] - r2.density[10 * g]) < 1e-12 * (1 + r.density[g]));
  }
  /* peak height: each eigenvalue holds 4 of 20 eigenvalues; N(0, 0.1^2) peaks at 3.989 */
  double peak = 0, best = 1e9;
  for (int g = 0; g < 2001; g++)
    if (fabs(r2.t[g] - 8) < best) best = fabs(r2.t[g] - 8), peak = r2.density[g];
  assert_true(peak > 0.2 * 3.989 * 0.3 && peak < 0.2 * 3.989 * 3);
  suri_slq_result_free(&r);
  suri_slq_result_free(&r2);
  free(A), free(Q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_power_lanczos_largest), cmocka_unit_test(test_lanczos_which),
      cmocka_unit_test(test_lanczos_low_rank),      cmocka_unit_test(test_dense_and_materialize),
      cmocka_unit_test(test_hutchinson),            cmocka_unit_test(test_slq_moments),
      cmocka_unit_test(test_slq_exact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
