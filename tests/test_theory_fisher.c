/* test_theory_fisher.c - the checkable properties of fisher_statistics.md section 9 on real suri
 * models, measured with the analysis operators and solvers of suri/analysis.h and compared with
 * the predictions of suri/theory.h. The theory is for the unit-Gaussian Fisher
 * F_T = (1/T) sum_t J_t^T J_t over T samples: SURI_CURV_FISHER of a loss=mse model.
 *  1. Exact identities (small net, and the property-3 net): Tr F_T from per-sample gradients
 *     (batch-1 backward passes) equals the sum of the eigenvalues of the Gram G / T (suri_ntk_gram,
 *     per-layer trick); power iteration on the Fisher operator equals the top eigenvalue of G / T;
 *     u . (F v) = v . (F u). Tolerances: double 1e-12 / 1e-6 (solver tolerance 1e-10 on the
 *     residual); float 1e-5 (every pass rounds at ~1e-7; see test_analysis_curv.c).
 *  2. Mean eigenvalue, ReLU L = 3, M = 400, C = 1, sw2 = 2, sb2 = 0.5, T = 40: Tr F_T / P within
 *     5% of C kappa1 / M. Also the second moment Tr F_T^2 / P (reported; within 25%: it is
 *     dominated by lambda_max^2, so its error is twice that of lambda_max).
 *  3. Largest eigenvalue, same net with M = 800, T = 20: within 15% of
 *     alpha (kappa2 + (kappa1 - kappa2)/T) M.
 *  4. Last-layer centring: the top eigenvalue of the centred Gram P G P / T (P = I - 1 1^T / T),
 *     against alpha (kappa1 - kappa2) M / T. The leading-order value is exceeded systematically
 *     by the edge of the bulk: relative error ~ 2 sqrt(T / M) (Gram fluctuations, section 5), 30%
 *     at M/T = 40. The test checks 0.9 <= ratio <= 1.45 at M/T = 40 and that the error shrinks
 *     from M/T = 10 to M/T = 40 (averages over 3 networks each).
 *  6. Critical learning rate: full-batch GD on suri's mean-squared loss of a small regression
 *     problem diverges at eta = 2.2 / lambda and converges at eta = 1.8 / lambda, lambda = the
 *     largest eigenvalue at initialisation of the Gauss-Newton matrix of THAT loss
 *     (SURI_CURV_GGN; for mse, mean over T C elements of (f - y)^2, GGN = (2/C) F_T, which is
 *     checked too). Targets y = f_0(x) - 0.01 + 0.002 xi: the residual is small, so the Hessian
 *     stays the GGN (its residual term is ~0.01 of it) and the trajectory stays near init.
 *  Extra: lambda_max (15%) and the mean eigenvalue (5%) for gelu, the NTK and mean-field
 *  parametrizations, unequal widths with C = 3 and an eval-mode last-layer batch norm; the
 *  loss-curvature scale of ce and logistic models (theory_loss.c) against measured GGN spectra
 *  (mean of 4 networks within 0.6..1.5: it is an approximation in expectation over networks and
 *  single networks scatter by +-30%).
 * Sizes: the spec's sizes in every build, seeds fixed. The work is dominated by the dense
 * layers' BLAS calls, which AddressSanitizer does not instrument: ~2.5 s in a Release float
 * build, ~8 s in the ASan + UBSan build, so the sanitizer build runs the same sizes and
 * tolerances (nothing is skipped). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/analysis.h"
#include "suri/theory.h"
#include "testutil.h"

#ifdef SURI_REAL_DOUBLE
#define EXACT_TOL 1e-12
#define EIG_TOL 1e-6
#define SOLVER_TOL 1e-10
#else
#define EXACT_TOL 1e-5
#define EIG_TOL 1e-5
#define SOLVER_TOL 1e-6
#endif

#define CENTRING_NETS 3

/* A model with T Gaussian inputs x ~ N(0, I) and zero targets, as analysis data. */
typedef struct tnet {
  suri_model *m;
  suri_model_spec s;
  int64_t T, IN, C;
  suri_real *x, *t;
  suri_analysis_data d;
} tnet;

static tnet tnet_make(const char *text, int64_t T, uint64_t seed) {
  tnet n;
  memset(&n, 0, sizeof n);
  if (suri_model_spec_parse(text, &n.s)) fail_msg("parse %s: %s", text, suri_last_error());
  if (suri_model_new(&n.s, T, &n.m)) fail_msg("model %s: %s", text, suri_last_error());
  assert_int_equal(suri_model_init(n.m, seed), SURI_OK);
  n.T = T, n.IN = n.s.width[0], n.C = n.s.width[n.s.n_widths - 1];
  n.x = malloc((size_t)(T * n.IN) * sizeof *n.x);
  n.t = calloc((size_t)(T * n.C), sizeof *n.t);
  suri_rng r = suri_rng_make(seed + 7919, SURI_RNG_DATA);
  suri_rng_fill_normal(&r, (size_t)(T * n.IN), n.x, 0.0, 1.0);
  n.d.n = T, n.d.x = n.x, n.d.targets = n.t, n.d.dim = n.IN, n.d.target_dim = n.C;
  return n;
}

static void tnet_free(tnet *n) {
  suri_model_free(n->m);
  free(n->x), free(n->t);
}

static suri_fisher_theory theory(const tnet *n) {
  suri_fisher_theory th;
  if (suri_theory_fisher(&n->s, n->T, NULL, &th)) fail_msg("theory: %s", suri_last_error());
  return th;
}

/* Gram G (T C, T C) of the per-sample output gradients. */
static double *gram(tnet *n) {
  int64_t N = n->T * n->C;
  double *G = malloc((size_t)(N * N) * sizeof *G);
  suri_ntk_opts o = suri_ntk_defaults();
  o.mode = SURI_NTK_FULL;
  assert_int_equal(suri_ntk_gram(n->m, n->T, n->x, 0, NULL, &o, G), SURI_OK);
  return G;
}

static double top_dense(int64_t N, const double *G) {
  double v;
  assert_int_equal(suri_eig_dense(N, G, 1, &v, NULL, NULL), SURI_OK);
  return v;
}

/* Largest eigenvalue of the curvature operator `kind` of n by power iteration. */
static double top_power(tnet *n, suri_curv_kind kind) {
  suri_curv_opts co = suri_curv_defaults();
  co.kind = kind;
  suri_curv *F = NULL;
  assert_int_equal(suri_curv_new(n->m, &n->d, &co, &F), SURI_OK);
  suri_linop A = suri_curv_linop(F);
  suri_eig_opts eo = suri_eig_defaults();
  eo.tol = SOLVER_TOL, eo.seed = 5;
  double lam;
  suri_solver_info info;
  assert_int_equal(suri_eig_power(&A, &eo, &lam, NULL, NULL, &info), SURI_OK);
  if (!info.converged) fail_msg("power iteration did not converge (residual %g)", info.residual);
  suri_curv_free(F);
  return lam;
}

static void report(const char *what, double measured, double predicted) {
  print_message("  %-44s measured %-12.6g predicted %-12.6g ratio %.4f\n", what, measured,
                predicted, measured / predicted);
}

/* ---- 1. exact identities ------------------------------------------------------------------ */
static void test_exact_identities(void **state) {
  (void)state;
  tnet n = tnet_make("mlp:12-40-30-3,act=tanh,sw2=1.5,sb2=0.1,loss=mse", 8, 3);
  int64_t N = n.T * n.C;
  size_t P = suri_model_param_count(n.m);
  suri_graph *g = suri_model_graph(n.m);
  double tr = 0; /* Tr F_T = (1/T) sum_t sum_k |grad f_k(x_t)|^2 from batch-1 backward passes */
  suri_real seed[3];
  for (int64_t t = 0; t < n.T; t++) {
    assert_int_equal(suri_model_set_batch(n.m, 1, n.x + t * n.IN, NULL, n.t), SURI_OK);
    assert_int_equal(suri_graph_forward(g), SURI_OK);
    for (int64_t k = 0; k < n.C; k++) {
      for (int64_t q = 0; q < n.C; q++) seed[q] = (suri_real)(q == k);
      memset(suri_model_grads(n.m), 0, P * sizeof(suri_real));
      assert_int_equal(suri_graph_backward(g, suri_model_output(n.m), seed), SURI_OK);
      for (size_t p = 0; p < P; p++) tr += (double)suri_model_grads(n.m)[p] * suri_model_grads(n.m)[p];
    }
  }
  tr /= (double)n.T;
  double *G = gram(&n), *ev = malloc((size_t)N * sizeof *ev), sum = 0;
  assert_int_equal(suri_eig_dense(N, G, (int)N, ev, NULL, NULL), SURI_OK);
  for (int64_t i = 0; i < N; i++) sum += ev[i] / (double)n.T;
  if (!tu_close(tr, sum, EXACT_TOL, 0)) fail_msg("Tr F_T %.15g vs sum of Gram eigenvalues %.15g", tr, sum);
  double lam = top_power(&n, SURI_CURV_FISHER);
  if (!tu_close(lam, ev[0] / (double)n.T, EIG_TOL, 0))
    fail_msg("power %.15g vs Gram %.15g", lam, ev[0] / (double)n.T);
  /* symmetry of the Fisher-vector product on the flat layout */
  suri_curv *F = NULL;
  suri_curv_opts co = suri_curv_defaults();
  assert_int_equal(suri_curv_new(n.m, &n.d, &co, &F), SURI_OK);
  double *u = calloc(P, sizeof *u), *v = calloc(P, sizeof *v), *Fu = calloc(P, sizeof *Fu),
         *Fv = calloc(P, sizeof *Fv);
  uint64_t s = 99;
  for (size_t p = 0; p < P; p++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL, u[p] = (double)(s >> 11) / 9.0e15 - 0.5;
    s = s * 6364136223846793005ULL + 1442695040888963407ULL, v[p] = (double)(s >> 11) / 9.0e15 - 0.5;
  }
  assert_int_equal(suri_curv_apply(F, u, Fu), SURI_OK);
  assert_int_equal(suri_curv_apply(F, v, Fv), SURI_OK);
  double a = 0, b = 0, nu = 0, nfv = 0;
  for (size_t p = 0; p < P; p++) a += u[p] * Fv[p], b += v[p] * Fu[p], nu += u[p] * u[p], nfv += Fv[p] * Fv[p];
  if (fabs(a - b) > EXACT_TOL * sqrt(nu * nfv)) fail_msg("u.(Fv) %.15g vs v.(Fu) %.15g", a, b);
  print_message("  Tr F_T %.10g = sum Gram eigenvalues %.10g; power %.10g = Gram top %.10g\n", tr,
                sum, lam, ev[0] / (double)n.T);
  free(u), free(v), free(Fu), free(Fv), free(G), free(ev);
  suri_curv_free(F);
  tnet_free(&n);
}

/* ---- 2. mean eigenvalue and second moment -------------------------------------------------- */
static void test_mean_eigenvalue(void **state) {
  (void)state;
  tnet n = tnet_make("mlp:400-400-400-1,act=relu,sw2=2,sb2=0.5,loss=mse", 40, 21);
  suri_fisher_theory th = theory(&n);
  double *G = gram(&n), tr = 0, tr2 = 0, T = (double)n.T;
  int64_t N = n.T * n.C;
  for (int64_t i = 0; i < N; i++) tr += G[i * N + i] / T;
  for (int64_t i = 0; i < N * N; i++) tr2 += G[i] * G[i] / (T * T);
  double P = (double)suri_model_param_numel(n.m);
  assert_int_equal((int64_t)P, th.P);
  print_message("property 2 (M = 400, T = 40, P = %.0f):\n", P);
  report("mean eigenvalue vs C kappa1 / M", tr / P, th.mean_eig);
  report("mean eigenvalue vs trace / P (with biases)", tr / P, th.mean_eig_finite);
  report("second moment vs C alpha (k2^2 + (k1^2-k2^2)/T)", tr2 / P, th.second_moment);
  assert_true(fabs(tr / P / th.mean_eig - 1) <= 0.05);
  assert_true(fabs(tr2 / P / th.second_moment - 1) <= 0.25);
  free(G);
  tnet_free(&n);
}

/* ---- 3. largest eigenvalue (and property 1 at this size) ---------------------------------- */
static void test_lambda_max(void **state) {
  (void)state;
  tnet n = tnet_make("mlp:800-800-800-1,act=relu,sw2=2,sb2=0.5,loss=mse", 20, 31);
  suri_fisher_theory th = theory(&n);
  double *G = gram(&n), lg = top_dense(n.T * n.C, G) / (double)n.T;
  double lp = top_power(&n, SURI_CURV_FISHER);
  if (!tu_close(lp, lg, EIG_TOL, 0)) fail_msg("power %.15g vs Gram %.15g", lp, lg);
  print_message("property 3 (M = 800, T = 20; power %.8g, Gram %.8g):\n", lp, lg);
  report("lambda_max vs alpha (k2 + (k1-k2)/T) M", lp, th.lambda_max);
  report("lambda_max vs gram2 + (gram1-gram2)/T", lp, th.lambda_max_finite);
  assert_true(fabs(lp / th.lambda_max - 1) <= 0.15);
  assert_true(fabs(lp / th.lambda_max_finite - 1) <= 0.15);
  free(G);
  tnet_free(&n);
}

/* ---- 4. centring in the last layer -------------------------------------------------------- */
/* Top eigenvalue / T of the Gram centred over the samples (C = 1). */
static double centred_top(int64_t T, double *G) {
  double *rm = calloc((size_t)T, sizeof *rm), all = 0;
  for (int64_t i = 0; i < T; i++) {
    for (int64_t j = 0; j < T; j++) rm[i] += G[i * T + j] / (double)T;
    all += rm[i] / (double)T;
  }
  for (int64_t i = 0; i < T; i++)
    for (int64_t j = 0; j < T; j++) G[i * T + j] += all - rm[i] - rm[j];
  free(rm);
  return top_dense(T, G) / (double)T;
}

/* Mean over `nets` networks of the centred and plain top eigenvalues / prediction. */
static void centring_ratios(const char *text, int64_t T, int nets, double *rc, double *cut) {
  *rc = *cut = 0;
  for (int i = 0; i < nets; i++) {
    tnet n = tnet_make(text, T, 41 + (uint64_t)i);
    suri_fisher_theory th = theory(&n);
    double *G = gram(&n), lam = top_dense(T, G) / (double)T, lc = centred_top(T, G);
    *rc += lc / th.lambda_max_bn_last / nets;
    /* predicted cut lambda_max / lambda_centred = kappa2 T / (kappa1 - kappa2) + 1 */
    *cut += (lam / lc) / (th.kappa2 * (double)T / (th.kappa1 - th.kappa2) + 1) / nets;
    free(G);
    tnet_free(&n);
  }
}

static void test_centring(void **state) {
  (void)state;
  double r40, c40, r10, c10;
  centring_ratios("mlp:800-800-800-1,act=relu,sw2=2,sb2=0.5,loss=mse", 20, CENTRING_NETS, &r40, &c40);
  centring_ratios("mlp:200-200-200-1,act=relu,sw2=2,sb2=0.5,loss=mse", 20, CENTRING_NETS, &r10, &c10);
  print_message("property 4 (T = 20, mean of %d networks; measured / predicted):\n", CENTRING_NETS);
  print_message("  centred lambda_max vs alpha (k1-k2) M / T: M/T = 40: %.4f, M/T = 10: %.4f\n",
                r40, r10);
  print_message("  cut lambda_max / centred vs k2 T/(k1-k2) + 1: M/T = 40: %.4f, M/T = 10: %.4f\n",
                c40, c10);
  assert_true(r40 >= 0.9 && r40 <= 1.45);
  assert_true(c40 >= 1 / 1.45 && c40 <= 1.1);
  assert_true(fabs(r40 - 1) < fabs(r10 - 1)); /* approaching the prediction as M/T grows */
}

/* ---- 6. critical learning rate ------------------------------------------------------------ */
/* K steps of full-batch GD on the model's mean loss from theta0; losses: (K + 1). */
static void gd_run(tnet *n, const suri_real *theta0, double eta, int K, double *losses) {
  size_t P = suri_model_param_count(n->m);
  suri_real *p = suri_model_params(n->m);
  const suri_real *gr = suri_model_grads(n->m);
  memcpy(p, theta0, P * sizeof *p);
  assert_int_equal(suri_model_set_batch(n->m, n->T, n->x, NULL, n->t), SURI_OK);
  for (int k = 0; k <= K; k++) {
    assert_int_equal(suri_model_loss_grad(n->m, &losses[k]), SURI_OK);
    for (size_t i = 0; i < P; i++) p[i] = (suri_real)((double)p[i] - eta * (double)gr[i]);
  }
}

static void test_critical_lr(void **state) {
  (void)state;
  enum { K = 60 };
  tnet n = tnet_make("mlp:16-256-256-1,act=relu,sw2=2,sb2=0.5,loss=mse", 32, 61);
  suri_real *f0 = malloc((size_t)(n.T * n.C) * sizeof *f0);
  assert_int_equal(suri_model_predict(n.m, n.T, n.x, f0), SURI_OK);
  suri_rng r = suri_rng_make(62, SURI_RNG_DATA);
  for (int64_t i = 0; i < n.T * n.C; i++)
    n.t[i] = (suri_real)((double)f0[i] - 0.01 + 0.002 * suri_rng_normal(&r));
  /* suri's mse loss is (1/(T C)) sum (f - y)^2: its Gauss-Newton matrix is (2/C) F_T */
  double lam = top_power(&n, SURI_CURV_GGN), lf = top_power(&n, SURI_CURV_FISHER);
  if (!tu_close(lam, 2.0 / (double)n.C * lf, EIG_TOL, 0))
    fail_msg("GGN %.12g vs (2/C) Fisher %.12g", lam, 2.0 / (double)n.C * lf);
  size_t P = suri_model_param_count(n.m);
  suri_real *theta0 = malloc(P * sizeof *theta0);
  memcpy(theta0, suri_model_params(n.m), P * sizeof *theta0);
  double lo[K + 1], hi[K + 1];
  gd_run(&n, theta0, 1.8 / lam, K, lo);
  gd_run(&n, theta0, 2.2 / lam, K, hi);
  double peak = 0;
  int mono = 1;
  for (int k = 1; k <= K; k++) {
    peak = fmax(peak, hi[k] / hi[0]);
    if (lo[k] > lo[k - 1] * (1 + 1e-4)) mono = 0; /* 1e-4: float rounding of small losses */
  }
  suri_fisher_theory th = theory(&n);
  print_message("property 6 (GGN lambda_max %.6g at init; loss %.3g at step 0):\n", lam, lo[0]);
  print_message("  eta = 1.8/lambda: loss ratio after %d steps %.3g (monotone: %s)\n", K,
                lo[K] / lo[0], mono ? "yes" : "no");
  print_message("  eta = 2.2/lambda: loss ratio after 10 steps %.3g (linear theory 1.2^20 = %.3g), "
                "peak %.3g\n", hi[10] / hi[0], pow(1.2, 20), peak);
  report("critical lr 2/lambda_GGN vs theory critical_lr_loss", 2 / lam, th.critical_lr_loss);
  assert_true(mono && lo[K] < 0.1 * lo[0]);
  assert_true(peak > 100);
  /* early growth at the linearised rate |1 - eta lambda|^2 = 1.44 per step (the bulk modes
   * hold ~4% of the initial loss and decay; the factor 2 allows for them and for the drift of
   * lambda as the parameters move) */
  assert_true(hi[10] / hi[0] > pow(1.2, 20) / 2 && hi[10] / hi[0] < pow(1.2, 20) * 2);
  free(theta0), free(f0);
  tnet_free(&n);
}

/* ---- the GGN of ce / logistic models ------------------------------------------------------ */
static void test_loss_scale(void **state) {
  (void)state;
  const char *specs[] = {"mlp:100-400-400-10,act=relu,loss=ce",
                         "mlp:100-400-400-10,act=tanh,sw2=1.5,sb2=0.2,loss=ce",
                         "mlp:100-400-400-1,act=relu,sw2=2,sb2=0.5,loss=logistic"};
  print_message("GGN of the model's own loss, T = 40 (mean of 4 networks):\n");
  for (int i = 0; i < 3; i++) {
    double ratio = 0, lo = INFINITY, hi = 0;
    for (int sd = 0; sd < 4; sd++) {
      tnet n = tnet_make(specs[i], 40, 71 + (uint64_t)sd);
      suri_fisher_theory th = theory(&n);
      double r = top_power(&n, SURI_CURV_GGN) / (th.loss_curv_scale * th.lambda_max_finite);
      ratio += r / 4, lo = fmin(lo, r), hi = fmax(hi, r);
      tnet_free(&n);
    }
    print_message("  %-52s ratio %.3f (networks %.3f..%.3f)\n", specs[i], ratio, lo, hi);
    assert_true(ratio > 0.6 && ratio < 1.5);
  }
}

/* ---- beyond section 9: other activations, parametrizations, widths, outputs --------------- */
static void test_other_specs(void **state) {
  (void)state;
  const char *specs[] = {
      "mlp:400-800-800-1,act=gelu,sw2=2,sb2=0.1,loss=mse",
      "mlp:400-800-800-1,act=tanh,sw2=1.5,sb2=0.2,param=ntk,loss=mse",
      "mlp:400-800-800-1,act=relu,sw2=2,sb2=0.5,param=meanfield,loss=mse",
      "mlp:300-800-500-3,act=relu,sw2=2,sb2=0.5,norm=lastbatch,loss=mse",
  };
  print_message("other specs, T = 20 (measured / predicted: lambda_max, lambda_max_finite, mean):\n");
  for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
    tnet n = tnet_make(specs[i], 20, 81 + (uint64_t)i);
    suri_fisher_theory th = theory(&n);
    int64_t N = n.T * n.C;
    double *G = gram(&n), lam = top_dense(N, G) / (double)n.T, tr = 0;
    for (int64_t j = 0; j < N; j++) tr += G[j * N + j] / (double)n.T;
    double r1 = lam / th.lambda_max, r2 = lam / th.lambda_max_finite;
    double r3 = tr / (double)suri_model_param_numel(n.m) / th.mean_eig;
    print_message("  %-66s %.4f %.4f %.4f\n", specs[i], r1, r2, r3);
    assert_true(fabs(r1 - 1) <= 0.15 && fabs(r2 - 1) <= 0.15 && fabs(r3 - 1) <= 0.05);
    free(G);
    tnet_free(&n);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_identities), cmocka_unit_test(test_mean_eigenvalue),
      cmocka_unit_test(test_lambda_max),       cmocka_unit_test(test_centring),
      cmocka_unit_test(test_critical_lr),      cmocka_unit_test(test_other_specs),
      cmocka_unit_test(test_loss_scale),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
