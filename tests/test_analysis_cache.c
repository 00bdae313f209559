/* test_analysis_cache.c - the speed paths of the analysis module against the plain ones:
 *  - the forward-pass cache of the Fisher-type operators (data in one chunk): a product taken
 *    from the cached forward is bit-for-bit the product of a fresh operator (which runs the
 *    forward first), for every Fisher kind and the Gauss-Newton; the cache notices a forward
 *    pass on other data, a changed parameter and a changed batch size, and recomputes;
 *  - the one-chunk compact operator (suri_curv_linop) against the flat suri_curv_apply, bit for
 *    bit (the same numbers, without the flat copies);
 *  - Lanczos with the DGKS reorthogonalisation (a second Gram-Schmidt pass only when the first
 *    one cancelled): Ritz vectors orthonormal, the reported residual |beta_m s_m| equal to the
 *    true ||A y - theta y||, and the top eigenvalue within the Kato-Temple bound
 *    residual^2 / (theta - lambda_2) of LAPACK's, on a spectrum with a tight top cluster;
 *  - the stop test at tol 3e-3 (the bench setting, docs/performance.md) lands within 1e-4 of the
 *    converged eigenvalue on a Fisher operator of a small MLP (the honesty check of that
 *    setting; lambda error ~ residual^2 / gap).
 * Tolerances: "bitwise" tests compare with memcmp (same operations in the same order); the
 * orthonormality 1e-12 and residual agreement 1e-9 (relative to lambda_1) hold for any
 * reorthogonalised Lanczos in double (observed ~1e-15 and ~1e-13); Kato-Temple is a theorem,
 * given a slack of 1e-12 for rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/analysis.h"
#include "suri/linalg.h"
#include "anet.h"
#include "testutil.h"

static void random_vec(uint64_t seed, int64_t n, double *v) {
  uint64_t r = seed;
  for (int64_t i = 0; i < n; i++) v[i] = tu_lcg(&r);
}

/* A fresh operator's first product (forward pass run inside), on the flat layout. */
static void fresh_apply(tu_anet *n, const suri_curv_opts *o, const double *v, double *out) {
  suri_curv *c = NULL;
  assert_int_equal(suri_curv_new(n->m, &n->d, o, &c), SURI_OK);
  assert_int_equal(suri_curv_apply(c, v, out), SURI_OK);
  suri_curv_free(c);
}

static void expect_same(const double *a, const double *b, size_t n, const char *what) {
  if (memcmp(a, b, n * sizeof *a)) {
    for (size_t i = 0; i < n; i++)
      if (a[i] != b[i]) fail_msg("%s: entry %zu differs (%.17g vs %.17g)", what, i, a[i], b[i]);
  }
}

/* The cached product equals a fresh operator's, for every Fisher kind and the GGN, with
 * ce, mse and logistic losses and a batch-norm model. */
static void test_cache_bitwise(void **state) {
  (void)state;
  static const char *nets[] = {"mlp:5-6-4,act=tanh", "mlp:5-6-3,act=relu,loss=mse",
                               "mlp:5-4-1,act=gelu,loss=logistic", "mlp:5-6-6-3,norm=batch"};
  static const suri_curv_kind kinds[] = {SURI_CURV_FISHER, SURI_CURV_FISHER_MC,
                                         SURI_CURV_FISHER_EMP, SURI_CURV_GGN};
  for (size_t a = 0; a < sizeof nets / sizeof *nets; a++) {
    tu_anet n = tu_anet_make(nets[a], 9, 16, 3 + a);
    if (strstr(nets[a], "logistic"))
      for (int64_t i = 0; i < n.N; i++) n.t[i] = (suri_real)(n.t[i] > 0);
    double *v1 = malloc(n.P * sizeof *v1), *v2 = malloc(n.P * sizeof *v2);
    double *o1 = malloc(n.P * sizeof *o1), *o2 = malloc(n.P * sizeof *o2);
    random_vec(11, (int64_t)n.P, v1), random_vec(12, (int64_t)n.P, v2);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
      suri_curv_opts o = suri_curv_defaults();
      o.kind = kinds[k];
      o.mc_samples = 2;
      suri_curv *c = NULL;
      assert_int_equal(suri_curv_new(n.m, &n.d, &o, &c), SURI_OK);
      assert_int_equal(suri_curv_apply(c, v1, o1), SURI_OK); /* fills the cache */
      assert_int_equal(suri_curv_apply(c, v2, o1), SURI_OK); /* from the cache */
      fresh_apply(&n, &o, v2, o2);
      expect_same(o1, o2, n.P, nets[a]);
      /* and once more, the cache must not drift */
      assert_int_equal(suri_curv_apply(c, v2, o1), SURI_OK);
      expect_same(o1, o2, n.P, nets[a]);
      suri_curv_free(c);
    }
    free(v1), free(v2), free(o1), free(o2);
    tu_anet_free(&n);
  }
}

/* Anything that changes the graph's forward pass between two products is noticed. */
static void test_cache_invalidation(void **state) {
  (void)state;
  tu_anet n = tu_anet_make("mlp:5-7-4,act=tanh", 9, 16, 21);
  double *v = malloc(n.P * sizeof *v), *o1 = malloc(n.P * sizeof *o1);
  double *o2 = malloc(n.P * sizeof *o2);
  random_vec(5, (int64_t)n.P, v);
  suri_curv_opts o = suri_curv_defaults();
  o.kind = SURI_CURV_GGN;
  suri_curv *c = NULL;
  assert_int_equal(suri_curv_new(n.m, &n.d, &o, &c), SURI_OK);
  assert_int_equal(suri_curv_apply(c, v, o1), SURI_OK);
  fresh_apply(&n, &o, v, o2);
  expect_same(o1, o2, n.P, "after a fresh operator's forward on the same data");

  /* a prediction on other data, same batch size: input and outputs change */
  suri_real *x2 = malloc((size_t)(n.N * n.IN) * sizeof *x2);
  suri_real *out = malloc((size_t)(n.N * n.C) * sizeof *out);
  for (int64_t i = 0; i < n.N * n.IN; i++) x2[i] = -n.x[i];
  assert_int_equal(suri_model_predict(n.m, n.N, x2, out), SURI_OK);
  assert_int_equal(suri_curv_apply(c, v, o1), SURI_OK);
  expect_same(o1, o2, n.P, "after a prediction on other data");

  /* a prediction on the first 4 samples only: the batch size changes */
  assert_int_equal(suri_model_predict(n.m, 4, n.x, out), SURI_OK);
  assert_int_equal(suri_curv_apply(c, v, o1), SURI_OK);
  expect_same(o1, o2, n.P, "after a smaller batch");

  /* a changed parameter (the operator then describes the new parameters) */
  suri_real *p = suri_model_params(n.m);
  suri_real keep = p[3];
  p[3] = (suri_real)(p[3] + 0.25);
  assert_int_equal(suri_curv_apply(c, v, o1), SURI_OK);
  fresh_apply(&n, &o, v, o2);
  expect_same(o1, o2, n.P, "after a parameter change");
  double diff = 0;
  p[3] = keep;
  assert_int_equal(suri_curv_apply(c, v, o1), SURI_OK);
  for (size_t i = 0; i < n.P; i++) diff = fmax(diff, fabs(o1[i] - o2[i]));
  assert_true(diff > 0); /* the change did change the operator: the check above can fail */
  free(x2), free(out), free(v), free(o1), free(o2);
  suri_curv_free(c);
  tu_anet_free(&n);
}

/* The compact one-chunk operator against the flat path (also per layer). */
static void test_linop_matches_flat(void **state) {
  (void)state;
  tu_anet n = tu_anet_make("mlp:6-5-5-3,act=tanh", 8, 8, 4);
  for (int layer = -1; layer < 3; layer++) {
    suri_curv_opts o = suri_curv_defaults();
    o.kind = layer == 1 ? SURI_CURV_FISHER : SURI_CURV_GGN;
    o.layer = layer;
    suri_curv *c = NULL;
    assert_int_equal(suri_curv_new(n.m, &n.d, &o, &c), SURI_OK);
    int64_t d = suri_curv_dim(c);
    double *v = malloc((size_t)d * sizeof *v), *oc = malloc((size_t)d * sizeof *oc);
    double *vf = malloc(n.P * sizeof *vf), *of = malloc(n.P * sizeof *of);
    double *oc2 = malloc((size_t)d * sizeof *oc2);
    random_vec(40 + (uint64_t)layer, d, v);
    suri_linop A = suri_curv_linop(c);
    assert_int_equal(A.apply(&A, v, oc), SURI_OK);
    suri_curv_expand(c, v, vf);
    assert_int_equal(suri_curv_apply(c, vf, of), SURI_OK);
    suri_curv_compact(c, of, oc2);
    expect_same(oc, oc2, (size_t)d, "linop vs flat");
    assert_int_equal(suri_curv_applications(c), 2);
    free(v), free(oc), free(vf), free(of), free(oc2);
    suri_curv_free(c);
  }
  tu_anet_free(&n);
}

/* max |a - b| / max |b| */
static double rel_diff(int64_t n, const double *a, const double *b) {
  double d = 0, s = 0;
  for (int64_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i])), s = fmax(s, fabs(b[i]));
  return s > 0 ? d / s : d;
}

/* Compact (factored when eligible) against flat (jvp) empirical Fisher products. */
static double efisher_linop_vs_flat(tu_anet *n, int layer, uint64_t seed) {
  suri_curv_opts o = suri_curv_defaults();
  o.kind = SURI_CURV_FISHER_EMP;
  o.layer = layer;
  suri_curv *c = NULL;
  assert_int_equal(suri_curv_new(n->m, &n->d, &o, &c), SURI_OK);
  int64_t d = suri_curv_dim(c);
  double *v = malloc((size_t)d * sizeof *v), *oc = malloc((size_t)d * sizeof *oc);
  double *vf = malloc(n->P * sizeof *vf), *of = malloc(n->P * sizeof *of);
  double *oc2 = malloc((size_t)d * sizeof *oc2);
  random_vec(seed, d, v);
  suri_linop A = suri_curv_linop(c);
  assert_int_equal(A.apply(&A, v, oc), SURI_OK);
  assert_int_equal(A.apply(&A, v, oc2), SURI_OK); /* from the stored factors */
  expect_same(oc, oc2, (size_t)d, "factored, twice");
  suri_curv_expand(c, v, vf);
  assert_int_equal(suri_curv_apply(c, vf, of), SURI_OK);
  suri_curv_compact(c, of, oc2);
  double e = rel_diff(d, oc, oc2);
  free(v), free(oc), free(vf), free(of), free(oc2);
  suri_curv_free(c);
  return e;
}

/* The factored empirical Fisher (factored.c) against the jvp form: the same operator up to
 * rounding. Float: both run their GEMMs in float with different association (observed ~1e-7;
 * tolerance as the operator-vs-oracle one of test_analysis_curv, 2e-5); double 1e-12 (observed
 * ~1e-16). Nets with parametrization scales and biases (ntk, sb2), mse and logistic losses,
 * per-layer restrictions; a batch-norm net keeps the jvp path for all parameters (bitwise
 * equal) and uses the factors for one dense layer. */
static void test_factored_efisher(void **state) {
  (void)state;
#ifdef SURI_REAL_DOUBLE
  const double tol = 1e-12;
#else
  const double tol = 2e-5;
#endif
  static const char *nets[] = {"mlp:6-5-5-3,act=tanh", "mlp:6-7-4,act=gelu,param=ntk,sb2=0.2",
                               "mlp:6-5-3,act=tanh,loss=mse,sb2=0.1",
                               "mlp:6-5-1,act=tanh,loss=logistic"};
  for (size_t a = 0; a < sizeof nets / sizeof *nets; a++) {
    tu_anet n = tu_anet_make(nets[a], 4, 12, 30 + a); /* 4 samples: factors within the memory bound
                                                  * of factored.c also in double builds */
    if (strstr(nets[a], "logistic"))
      for (int64_t i = 0; i < n.N; i++) n.t[i] = (suri_real)(n.t[i] > 0);
    for (int layer = -1; layer < suri_model_layer_count(n.m); layer++) {
      double e = efisher_linop_vs_flat(&n, layer, 50 + a);
      if (!(e <= tol)) fail_msg("%s layer %d: factored vs jvp %.3e", nets[a], layer, e);
      if (layer == -1) assert_true(e > 0); /* the factored path did run: other rounding */
    }
    tu_anet_free(&n);
  }
  tu_anet b = tu_anet_make("mlp:6-5-5-3,act=tanh,norm=batch", 4, 12, 9);
  assert_true(efisher_linop_vs_flat(&b, -1, 3) == 0); /* gamma, beta active: the jvp path */
  assert_true(efisher_linop_vs_flat(&b, 1, 3) <= tol);
  tu_anet_free(&b);
}

/* The factors follow the parameters, also when a flat (jvp) product ran the new forward pass
 * in between. */
static void test_factored_invalidation(void **state) {
  (void)state;
#ifdef SURI_REAL_DOUBLE
  const double tol = 1e-12;
#else
  const double tol = 2e-5;
#endif
  tu_anet n = tu_anet_make("mlp:5-6-3,act=tanh", 4, 9, 17);
  suri_curv_opts o = suri_curv_defaults();
  o.kind = SURI_CURV_FISHER_EMP;
  suri_curv *c = NULL;
  assert_int_equal(suri_curv_new(n.m, &n.d, &o, &c), SURI_OK);
  int64_t d = suri_curv_dim(c);
  double *v = malloc((size_t)d * sizeof *v), *o1 = malloc((size_t)d * sizeof *o1);
  double *o2 = malloc((size_t)d * sizeof *o2), *o0 = malloc((size_t)d * sizeof *o0);
  double *vf = malloc(n.P * sizeof *vf), *of = malloc(n.P * sizeof *of);
  random_vec(8, d, v);
  suri_linop A = suri_curv_linop(c);
  assert_int_equal(A.apply(&A, v, o0), SURI_OK); /* factors at theta_0 */
  suri_real *p = suri_model_params(n.m);
  suri_real keep = p[2];
  p[2] = (suri_real)(p[2] + 0.3);
  suri_curv_expand(c, v, vf);
  assert_int_equal(suri_curv_apply(c, vf, of), SURI_OK); /* jvp path, new forward pass */
  suri_curv_compact(c, of, o2);
  assert_int_equal(A.apply(&A, v, o1), SURI_OK);
  assert_true(rel_diff(d, o1, o2) <= tol);
  assert_true(rel_diff(d, o1, o0) > 1e3 * tol); /* theta_1's operator, not theta_0's */
  p[2] = keep;
  assert_int_equal(A.apply(&A, v, o1), SURI_OK);
  expect_same(o1, o0, (size_t)d, "factors back at theta_0");
  free(v), free(o1), free(o2), free(o0), free(vf), free(of);
  suri_curv_free(c);
  tu_anet_free(&n);
}

/* Symmetric A = U diag(lam) U^T (n, n) with a random orthogonal U from LAPACK. */
static double *make_sym(int64_t n, const double *lam, uint64_t seed) {
  double *B = malloc((size_t)(n * n) * sizeof *B), *w = malloc((size_t)n * sizeof *w);
  double *A = calloc((size_t)(n * n), sizeof *A);
  random_vec(seed, n * n, B);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < i; j++) B[i * n + j] = B[j * n + i];
  assert_int_equal(suri_syev(n, B, w, 1), SURI_OK); /* columns of B: orthonormal */
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += B[i * n + k] * lam[k] * B[j * n + k];
      A[i * n + j] = s;
    }
  free(B), free(w);
  return A;
}

static void test_lanczos_dgks(void **state) {
  (void)state;
  int64_t n = 300;
  double *lam = malloc((size_t)n * sizeof *lam);
  /* a tight top cluster and a slowly decaying tail: many steps, where plain Lanczos loses
   * orthogonality and ghost copies of lambda_1 appear */
  for (int64_t i = 0; i < n; i++)
    lam[i] = i < 3 ? 10.0 - 1e-3 * (double)i : 5.0 * exp(-0.02 * (double)i);
  double *A = make_sym(n, lam, 99);
  suri_linop op = suri_linop_dense(n, A);
  suri_eig_opts o = suri_eig_defaults();
  o.k = 3, o.tol = 1e-10, o.seed = 7;
  double vals[3], res[3], *Y = malloc((size_t)(3 * n) * sizeof *Y);
  double *r = malloc((size_t)n * sizeof *r);
  suri_solver_info info;
  assert_int_equal(suri_eig_lanczos(&op, &o, vals, Y, res, &info), SURI_OK);
  assert_true(info.converged);
  for (int i = 0; i < 3; i++) {
    assert_true(tu_close(vals[i], lam[i], 1e-9, 0));
    for (int j = 0; j <= i; j++) {
      double d = 0;
      for (int64_t t = 0; t < n; t++) d += Y[i * n + t] * Y[j * n + t];
      assert_true(fabs(d - (i == j)) < 1e-12);
    }
    /* reported residual = true residual */
    suri_dgemm(0, 0, n, 1, n, 1.0, A, n, Y + i * n, 1, 0.0, r, 1);
    double tr = 0;
    for (int64_t t = 0; t < n; t++) {
      double e = r[t] - vals[i] * Y[i * n + t];
      tr += e * e;
    }
    assert_true(fabs(sqrt(tr) - res[i]) < 1e-9 * lam[0]);
  }
  /* a loose tolerance: the top eigenvalue obeys Kato-Temple with the reported residual */
  o.k = 1, o.tol = 3e-3;
  double v1, r1;
  assert_int_equal(suri_eig_lanczos(&op, &o, &v1, NULL, &r1, &info), SURI_OK);
  assert_true(v1 <= lam[0] + 1e-12);
  if (v1 > lam[1]) assert_true(lam[0] - v1 <= r1 * r1 / (v1 - lam[1]) + 1e-12);
  free(lam), free(A), free(Y), free(r);
}

/* The bench's stop setting (tol 3e-3 on the relative residual) gives the converged top
 * eigenvalue to 1e-4 on a Fisher operator of an MLP (a smaller cousin of the bench network). */
static void test_stop_honest(void **state) {
  (void)state;
  static const suri_curv_kind kinds[] = {SURI_CURV_GGN, SURI_CURV_FISHER_EMP};
  tu_anet n = tu_anet_make("mlp:20-32-32-10,act=relu", 64, 64, 8);
  for (size_t k = 0; k < 2; k++) {
    suri_curv_opts co = suri_curv_defaults();
    co.kind = kinds[k];
    suri_curv *c = NULL;
    assert_int_equal(suri_curv_new(n.m, &n.d, &co, &c), SURI_OK);
    suri_linop A = suri_curv_linop(c);
    suri_eig_opts o = suri_eig_defaults();
    double ref, loose, res;
    suri_solver_info info;
    o.tol = 1e-9, o.max_iter = 200;
    assert_int_equal(suri_eig_lanczos(&A, &o, &ref, NULL, &res, &info), SURI_OK);
    for (uint64_t seed = 1; seed <= 5; seed++) {
      o.tol = 3e-3, o.max_iter = 0, o.seed = seed;
      assert_int_equal(suri_eig_lanczos(&A, &o, &loose, NULL, &res, &info), SURI_OK);
      assert_true(info.converged);
      if (fabs(loose - ref) > 1e-4 * ref)
        fail_msg("kind %s seed %llu: %.10g vs converged %.10g", suri_curv_name(kinds[k]),
                 (unsigned long long)seed, loose, ref);
    }
    suri_curv_free(c);
  }
  tu_anet_free(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_bitwise),      cmocka_unit_test(test_cache_invalidation),
      cmocka_unit_test(test_linop_matches_flat), cmocka_unit_test(test_lanczos_dgks),
      cmocka_unit_test(test_stop_honest),        cmocka_unit_test(test_factored_efisher),
      cmocka_unit_test(test_factored_invalidation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
