/* test_theory.c - the mean-field Fisher theory of suri/theory.h: fast, mostly exact checks.
 *  - Gaussian moments: the kink-aware quadrature against the closed forms (relu and leaky relu:
 *    arc-cosine kernels; erf; identity) to 1e-8 (the rule is exact for piecewise-linear
 *    activations: observed ~1e-15), and against suri_act_gauss_moments' 2-D Gauss-Hermite at
 *    200 nodes for the smooth activations (gelu, sigmoid, softplus: both spectrally accurate,
 *    observed 1e-14, bound 1e-10; tanh: observed 5e-10, bound 1e-8, its complex poles make both
 *    rules converge root-exponentially).
 *  - The recursion against an independent transcription of fisher_statistics.md section 3 for
 *    relu (arc-cosine formulas written here), and the eigenvalue formulas of section 4.
 *  - The per-output Gram entries against the infinite-width NTK of suri_kernel_infinite (a
 *    different recursion in kernel.c) for the standard, NTK and mean-field parametrizations.
 *  - Property 5 of section 9: the forward/backward order parameters against the unit averages
 *    of sampled networks of width 2000 (relu and tanh), within 3%.
 *  - Input statistics of a data set; errors for unsupported specs and bad options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/analysis.h"
#include "suri/theory.h"
#include "testutil.h"

#define PI 3.14159265358979323846

static suri_model_spec parse(const char *text) {
  suri_model_spec s;
  if (suri_model_spec_parse(text, &s)) fail_msg("parse %s: %s", text, suri_last_error());
  return s;
}

static void expect_rel(double got, double want, double rtol, const char *what) {
  if (!tu_close(got, want, rtol, 1e-300))
    fail_msg("%s: got %.15g, want %.15g (rel %.3g > %.3g)", what, got, want,
             fabs(got - want) / fmax(fabs(want), 1e-300), rtol);
}

/* ---- Gaussian moments --------------------------------------------------------------------- */
static void test_quadrature_closed_forms(void **state) {
  (void)state;
  const suri_act acts[] = {SURI_ACT_RELU, SURI_ACT_LEAKY_RELU, SURI_ACT_ERF, SURI_ACT_IDENTITY};
  const double cov[][2] = {{1.0, 0.0}, {2.5, 0.5}, {3.0, 1.5617}, {1.7, -0.6}, {0.3, 0.3},
                           {4.0, -4.0}, {2.0, 1.999999}, {1e-6, 3e-7}};
  double worst = 0;
  for (size_t a = 0; a < sizeof acts / sizeof *acts; a++)
    for (size_t i = 0; i < sizeof cov / sizeof *cov; i++) {
      double q[4], c[4];
      /* erf is smooth but at q1 = 4 its derivative term is a narrow peak: 200 nodes */
      int nodes = acts[a] == SURI_ACT_ERF ? 200 : 64;
      assert_int_equal(suri_theory_act_moments(acts[a], 0.07, cov[i][0], cov[i][1], nodes, 1, q),
                       SURI_OK);
      assert_int_equal(suri_theory_act_moments(acts[a], 0.07, cov[i][0], cov[i][1], 64, 0, c),
                       SURI_OK);
      for (int k = 0; k < 4; k++) {
        double err = fabs(q[k] - c[k]) / fmax(fabs(c[k]), 1e-300 + cov[i][0] * 1e-3);
        worst = fmax(worst, err);
        if (err > 1e-8)
          fail_msg("%s q1=%g q2=%g moment %d: quadrature %.15g, closed form %.15g",
                   suri_act_name(acts[a]), cov[i][0], cov[i][1], k, q[k], c[k]);
      }
    }
  /* a direct check of the relu closed forms as fisher_statistics.md writes them */
  double m[4], q1 = 2.5, q2 = 0.5, th = acos(q2 / q1);
  assert_int_equal(suri_theory_act_moments(SURI_ACT_RELU, 0, q1, q2, 64, 1, m), SURI_OK);
  expect_rel(m[0], q1 / 2, 1e-12, "relu E phi^2");
  expect_rel(m[1], q1 / (2 * PI) * (sin(th) + (PI - th) * cos(th)), 1e-12, "relu I_phi");
  expect_rel(m[2], 0.5, 1e-12, "relu E phi'^2");
  expect_rel(m[3], (PI - th) / (2 * PI), 1e-12, "relu I_phi'");
  print_message("quadrature vs closed forms: worst relative difference %.2e\n", worst);
}

static void test_quadrature_smooth(void **state) {
  (void)state;
  const suri_act acts[] = {SURI_ACT_GELU, SURI_ACT_SIGMOID, SURI_ACT_SOFTPLUS, SURI_ACT_TANH};
  const double tol[] = {1e-10, 1e-10, 1e-10, 1e-8};
  const double cov[][2] = {{1.0, 0.0}, {2.0, 0.7}, {0.5, -0.2}, {1.7, 1.7}};
  for (size_t a = 0; a < 4; a++)
    for (size_t i = 0; i < 4; i++) {
      double q[4], g[4];
      assert_int_equal(suri_theory_act_moments(acts[a], 0, cov[i][0], cov[i][1], 200, 1, q),
                       SURI_OK);
      double s1 = cov[i][0], s2 = cov[i][1];
      assert_int_equal(suri_act_gauss_moments(acts[a], 0, s1, s1, s1, 200, &g[0], &g[2]), SURI_OK);
      assert_int_equal(suri_act_gauss_moments(acts[a], 0, s1, s2, s1, 200, &g[1], &g[3]), SURI_OK);
      for (int k = 0; k < 4; k++)
        if (!tu_close(q[k], g[k], tol[a], tol[a] * 1e-3))
          fail_msg("%s q1=%g q2=%g moment %d: polar %.15g, Gauss-Hermite %.15g",
                   suri_act_name(acts[a]), s1, s2, k, q[k], g[k]);
      /* the default 64 nodes are within 1e-6 of 200 (tanh is the slowest) */
      double d[4];
      assert_int_equal(suri_theory_act_moments(acts[a], 0, s1, s2, 0, 1, d), SURI_OK);
      for (int k = 0; k < 4; k++) assert_true(tu_close(d[k], q[k], 1e-6, 1e-12));
    }
}

/* ---- recursion against a transcription of the spec ---------------------------------------- */
static void relu_pair(double q1, double q2, double *e, double *ed) {
  double c = q2 / q1, th = acos(c > 1 ? 1 : c < -1 ? -1 : c);
  *e = q1 / (2 * PI) * (sin(th) + (PI - th) * cos(th));
  *ed = (PI - th) / (2 * PI);
}

static void test_recursion_relu(void **state) {
  (void)state;
  /* widths differ: alpha_l = M_l / M with M = width[1] = 300 */
  suri_model_spec s = parse("mlp:150-300-450-200-4,act=relu,sw2=1.8,sb2=0.3,loss=mse");
  suri_theory_opts o = suri_theory_defaults();
  o.input_q1 = 1.3, o.input_q2 = 0.2;
  suri_fisher_theory t;
  assert_int_equal(suri_theory_fisher(&s, 25, &o, &t), SURI_OK);
  const double M[] = {150, 300, 450, 200, 4}, sw2 = 1.8, sb2 = 0.3;
  double qh1[4] = {1.3}, qh2[4] = {0.2}, q1[5], q2[5], c1[4], c2[4], qt1[5], qt2[5];
  for (int l = 1; l <= 4; l++) {
    q1[l] = sw2 * qh1[l - 1] + sb2, q2[l] = sw2 * qh2[l - 1] + sb2;
    if (l == 4) break;
    qh1[l] = q1[l] / 2, c1[l] = 0.5;
    relu_pair(q1[l], q2[l], &qh2[l], &c2[l]);
  }
  qt1[4] = qt2[4] = 1;
  for (int l = 3; l >= 1; l--) qt1[l] = sw2 * c1[l] * qt1[l + 1], qt2[l] = sw2 * c2[l] * qt2[l + 1];
  double alpha = (M[1] * M[0] + M[2] * M[1] + M[3] * M[2]) / (300.0 * 300.0), k1 = 0, k2 = 0;
  for (int l = 1; l <= 4; l++) {
    k1 += M[l - 1] / 300.0 / alpha * qh1[l - 1] * qt1[l];
    k2 += M[l - 1] / 300.0 / alpha * qh2[l - 1] * qt2[l];
  }
  assert_int_equal(t.L, 4);
  assert_int_equal(t.M, 300);
  assert_int_equal(t.C, 4);
  for (int l = 1; l <= 4; l++) {
    expect_rel(t.q1[l], q1[l], 1e-12, "q1"), expect_rel(t.q2[l], q2[l], 1e-12, "q2");
    expect_rel(t.qtil1[l], qt1[l], 1e-12, "qtil1"), expect_rel(t.qtil2[l], qt2[l], 1e-12, "qtil2");
    expect_rel(t.qhat1[l - 1], qh1[l - 1], 1e-12, "qhat1");
    expect_rel(t.qhat2[l - 1], qh2[l - 1], 1e-12, "qhat2");
  }
  expect_rel(t.alpha, alpha, 1e-14, "alpha");
  expect_rel(t.kappa1, k1, 1e-12, "kappa1"), expect_rel(t.kappa2, k2, 1e-12, "kappa2");
  double C = 4, T = 25;
  expect_rel(t.mean_eig, C * k1 / 300, 1e-12, "mean eigenvalue");
  expect_rel(t.second_moment, C * alpha * (k2 * k2 + (k1 * k1 - k2 * k2) / T), 1e-12, "s_lambda");
  expect_rel(t.lambda_max, alpha * (k2 + (k1 - k2) / T) * 300, 1e-12, "lambda_max");
  expect_rel(t.lambda_max_bn_last, alpha * (k1 - k2) * 300 / T, 1e-12, "lambda_max centred");
  expect_rel(t.critical_lr, 2 / t.lambda_max, 1e-15, "critical lr");
  /* finite-width additions: exact parameter count, Gram entries with the bias terms */
  assert_int_equal(t.P, 150 * 300 + 300 * 450 + 450 * 200 + 200 * 4 + 300 + 450 + 200 + 4);
  double g1 = 0;
  for (int l = 1; l <= 4; l++) g1 += (M[l - 1] * qh1[l - 1] + 1) * qt1[l];
  expect_rel(t.gram1, g1, 1e-12, "gram1");
  expect_rel(t.trace, C * g1, 1e-12, "trace");
  expect_rel(t.lambda_max_finite, t.gram2 + (t.gram1 - t.gram2) / T, 1e-12, "finite lambda_max");
  expect_rel(t.loss_curv_scale, 2 / C, 1e-15, "mse loss scale");
  expect_rel(t.critical_lr_loss, 2 / (t.loss_curv_scale * t.lambda_max_finite), 1e-14, "lr loss");
  /* the true Fisher (T = 0) */
  assert_int_equal(suri_theory_fisher(&s, 0, &o, &t), SURI_OK);
  expect_rel(t.lambda_max, alpha * k2 * 300, 1e-12, "true-Fisher lambda_max");
  expect_rel(t.second_moment, C * alpha * k2 * k2, 1e-12, "true-Fisher s_lambda");
  assert_true(isnan(t.lambda_max_bn_last));
  assert_int_equal(suri_theory_fisher(&s, 1, &o, &t), SURI_OK);
  assert_true(t.lambda_max_bn_last == 0.0);
  /* the printed numbers of the section 9 nets (docs/analysis.md quotes them) */
  s = parse("mlp:400-400-400-1,act=relu,sw2=2,sb2=0.5,loss=mse");
  assert_int_equal(suri_theory_fisher(&s, 40, NULL, &t), SURI_OK);
  print_message("relu sw2=2 sb2=0.5 L=3: kappa1 %.6f kappa2 %.6f alpha %g\n", t.kappa1, t.kappa2,
                t.alpha);
}

/* gram_i against the infinite-width NTK of kernel.c: inputs x, x' in R^2 with
 * |x|^2 / 2 = q1 and x . x' / 2 = q2 give Chat^0 = q1 (diagonal) and q2 (off-diagonal). */
static void test_gram_vs_kernel(void **state) {
  (void)state;
  const char *specs[] = {
      "mlp:2-300-200-3,act=relu,sw2=2,sb2=0.4,loss=mse",
      "mlp:2-300-200-3,act=erf,sw2=1.5,sb2=0.2,param=ntk,loss=mse",
      "mlp:2-300-200-500-3,act=gelu,sw2=1.7,sb2=0.1,param=ntk,loss=mse",
      "mlp:2-300-200-3,act=tanh,sw2=1.2,sb2=0.3,param=meanfield,loss=mse",
      "mlp:2-300-3,act=leaky_relu,sw2=2,sb2=0.0,param=standard,loss=mse",
  };
#ifdef SURI_REAL_DOUBLE
  const double tol = 1e-10; /* both double recursions; the inputs are exact to 1e-16 */
#else
  const double tol = 1e-6;  /* the kernel reads x as float: |x|^2 rounds at ~1e-7 */
#endif
  for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
    suri_model_spec s = parse(specs[i]);
    suri_theory_opts o = suri_theory_defaults();
    o.input_q1 = 1.1, o.input_q2 = 0.35, o.quad_nodes = 200;
    suri_fisher_theory t;
    assert_int_equal(suri_theory_fisher(&s, 10, &o, &t), SURI_OK);
    suri_kernel_spec ks;
    assert_int_equal(suri_kernel_spec_from_model(&s, &ks), SURI_OK);
    ks.quad_nodes = 200;
    double r = sqrt(2 * 1.1), c = 0.35 / 1.1;
    suri_real x[4] = {(suri_real)r, 0, (suri_real)(r * c), (suri_real)(r * sqrt(1 - c * c))};
    double K[4];
    assert_int_equal(suri_kernel_infinite(&ks, 2, x, 2, x, NULL, K), SURI_OK);
    if (!tu_close(t.gram1, K[0], tol, 0) || !tu_close(t.gram2, K[1], tol, 0))
      fail_msg("%s: gram (%.12g, %.12g) vs NTK (%.12g, %.12g)", specs[i], t.gram1, t.gram2, K[0],
               K[1]);
  }
}

/* ---- property 5: order parameters of sampled wide networks -------------------------------- */
/* Row statistics of a (B, n) block: m1 = mean of v^2, m2 = mean of v_t . v_s / n over t != s. */
static void pair_stats(int64_t B, int64_t n, const suri_real *v, double *m1, double *m2) {
  double sq = 0, tot = 0;
  for (int64_t i = 0; i < n; i++) {
    double col = 0;
    for (int64_t t = 0; t < B; t++) {
      double a = (double)v[t * n + i];
      sq += a * a, col += a;
    }
    tot += col * col;
  }
  *m1 = sq / (double)(B * n);
  *m2 = (tot - sq) / (double)(B * (B - 1) * n);
}

enum { E_Q1, E_Q2, E_QH1, E_QH2, E_QT1, E_QT2, E_COUNT };
static const char *const e_names[] = {"q1", "q2", "qhat1", "qhat2", "qtil1", "qtil2"};

/* Adds emp / theory ratios of one sampled network (seed) to ratio[l][e]. */
static void sample_network(const char *text, int64_t B, uint64_t seed,
                           double ratio[][E_COUNT]) {
  suri_model_spec s = parse(text);
  suri_model *m = NULL;
  assert_int_equal(suri_model_new(&s, B, &m), SURI_OK);
  assert_int_equal(suri_model_init(m, seed), SURI_OK);
  int L = s.n_widths - 1;
  int64_t IN = s.width[0], C = s.width[L];
  suri_real *x = malloc((size_t)(B * IN) * sizeof *x), *tg = calloc((size_t)(B * C), sizeof *tg);
  suri_real *seedv = malloc((size_t)(B * C) * sizeof *seedv);
  suri_rng r = suri_rng_make(seed + 1000, SURI_RNG_DATA);
  suri_rng_fill_normal(&r, (size_t)(B * IN), x, 0.0, 1.0);
  suri_theory_opts o = suri_theory_defaults(); /* the batch's own input statistics */
  pair_stats(B, IN, x, &o.input_q1, &o.input_q2);
  suri_fisher_theory t;
  assert_int_equal(suri_theory_fisher(&s, 0, &o, &t), SURI_OK);
  suri_graph *g = suri_model_graph(m);
  assert_int_equal(suri_model_set_batch(m, B, x, NULL, tg), SURI_OK);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  double e1, e2;
  for (int l = 1; l <= L; l++) {
    const suri_layer *ly = suri_model_layer(m, l - 1);
    pair_stats(B, s.width[l], suri_graph_value(g, ly->preact), &e1, &e2);
    ratio[l][E_Q1] += e1 / t.q1[l], ratio[l][E_Q2] += e2 / t.q2[l];
    if (l == L) break;
    pair_stats(B, s.width[l], suri_graph_value(g, suri_model_layer(m, l)->input), &e1, &e2);
    ratio[l][E_QH1] += e1 / t.qhat1[l], ratio[l][E_QH2] += e2 / t.qhat2[l];
  }
  for (int64_t k = 0; k < C; k++) { /* one backward per output: delta^l = d f_k / d u^l */
    for (int64_t i = 0; i < B * C; i++) seedv[i] = (suri_real)(i % C == k);
    assert_int_equal(suri_graph_backward(g, suri_model_output(m), seedv), SURI_OK);
    for (int l = 1; l < L; l++) {
      int64_t n = s.width[l];
      pair_stats(B, n, suri_graph_grad(g, suri_model_layer(m, l - 1)->preact), &e1, &e2);
      ratio[l][E_QT1] += (double)n * e1 / t.qtil1[l] / (double)C; /* sums over units */
      ratio[l][E_QT2] += (double)n * e2 / t.qtil2[l] / (double)C;
    }
  }
  free(x), free(tg), free(seedv);
  suri_model_free(m);
}

/* fisher_statistics.md 9.5: width 2000, within 3% for the hidden layers. The unit averages of
 * one network scatter by a few per cent: the mean activation direction mu of a layer enters the
 * next layer's overlap through (1/M) sum_j (w_j . mu)^2, whose relative spread is sqrt(2/M) =
 * 3.2% at M = 2000, and the backward sums depend on the C = 8 output rows (observed: single
 * networks off by up to 4%). The ratios measured / predicted are therefore averaged over 8
 * networks x 16 inputs (x 8 outputs for qtil), which leaves ~1% sampling error (observed
 * largest deviation 1.9%), so 3% tests the recursion, not the luck of one draw. The output
 * layer (C = 8 units: a unit average over 8 numbers scatters by ~50%) is printed, not tested. */
static void run_property5(const char *text, int seeds) {
  double ratio[SURI_MLP_MAX_LAYERS + 1][E_COUNT];
  memset(ratio, 0, sizeof ratio);
  for (int sd = 0; sd < seeds; sd++) sample_network(text, 16, 11 + (uint64_t)sd, ratio);
  suri_model_spec s = parse(text);
  int L = s.n_widths - 1, bad = 0;
  print_message("%s (measured / predicted, mean of %d networks):\n", text, seeds);
  for (int l = 1; l <= L; l++) {
    print_message("  layer %d:", l);
    for (int e = 0; e < E_COUNT; e++) {
      if (l == L && e > E_Q2) break;
      double r = ratio[l][e] / seeds;
      print_message(" %s %.4f", e_names[e], r);
      if (fabs(r - 1) > 0.03 && l < L) bad = 1; /* the output layer averages over C units only */
    }
    print_message("\n");
  }
  if (bad) fail_msg("%s: an order parameter is off by more than 3%%", text);
}

static void test_order_parameters_wide(void **state) {
  (void)state;
  /* 8 networks: ~3 s in a Release build and about as long under ASan (the passes are BLAS) */
  int seeds = 8;
  run_property5("mlp:100-2000-2000-8,act=relu,sw2=2,sb2=0.5,loss=mse", seeds);
  run_property5("mlp:100-2000-2000-8,act=tanh,sw2=1.5,sb2=0.2,loss=mse", seeds);
}

/* bn_last_var: the batch variance of the output pre-activations over T = 20 samples, averaged
 * over 64 outputs x 8 networks. One output's batch variance w^T S w (S: the sample covariance of
 * the last hidden layer over the batch, effective rank ~10) scatters by ~45%, and the batch itself
 * by ~10% per network, so the average carries ~4% sampling error: tolerance 10%. */
static void test_bn_last_var(void **state) {
  (void)state;
  const char *text = "mlp:200-1000-1000-64,act=tanh,sw2=3,sb2=0.1,norm=lastbatch,loss=mse";
  suri_model_spec s = parse(text);
  const int64_t T = 20, IN = 200, C = 64;
  suri_fisher_theory t;
  assert_int_equal(suri_theory_fisher(&s, T, NULL, &t), SURI_OK);
  double mean = 0;
  suri_real *x = malloc((size_t)(T * IN) * sizeof *x), *tg = calloc((size_t)(T * C), sizeof *tg);
  for (int sd = 0; sd < 8; sd++) {
    suri_model *m = NULL;
    assert_int_equal(suri_model_new(&s, T, &m), SURI_OK);
    assert_int_equal(suri_model_init(m, 300 + (uint64_t)sd), SURI_OK);
    suri_rng r = suri_rng_make(400 + (uint64_t)sd, SURI_RNG_DATA);
    suri_rng_fill_normal(&r, (size_t)(T * IN), x, 0.0, 1.0);
    suri_graph *g = suri_model_graph(m);
    suri_graph_set_training(g, 0); /* the dense output is read before the norm either way */
    assert_int_equal(suri_model_set_batch(m, T, x, NULL, tg), SURI_OK);
    assert_int_equal(suri_graph_forward(g), SURI_OK);
    const suri_real *u = suri_graph_value(g, suri_model_layer(m, 2)->preact);
    for (int64_t k = 0; k < C; k++) {
      double mu = 0, v = 0;
      for (int64_t i = 0; i < T; i++) mu += (double)u[i * C + k] / (double)T;
      for (int64_t i = 0; i < T; i++) v += ((double)u[i * C + k] - mu) * ((double)u[i * C + k] - mu);
      mean += v / (double)T / (double)(C * 8);
    }
    suri_model_free(m);
  }
  free(x), free(tg);
  print_message("batch variance of the outputs: measured %.5g, bn_last_var %.5g (ratio %.4f)\n",
                mean, t.bn_last_var, mean / t.bn_last_var);
  expect_rel(t.bn_last_var, (1 - 1.0 / T) * (t.q1[3] - t.q2[3]), 1e-14, "bn_last_var formula");
  assert_true(fabs(mean / t.bn_last_var - 1) < 0.10);
}

/* ---- input statistics and errors ---------------------------------------------------------- */
static void test_input_stats(void **state) {
  (void)state;
  suri_dataset *d = NULL;
  assert_int_equal(suri_dataset_new(3, 2, 0, 0, "tiny", &d), SURI_OK);
  const suri_real x[6] = {1, 2, -1, 0, 3, 1};
  memcpy(d->x, x, sizeof x);
  double q1, q2;
  assert_int_equal(suri_theory_input_stats(d, 0, &q1, &q2), SURI_OK);
  /* q1 = (1 + 4 + 1 + 0 + 9 + 1) / 6; pairs: x0.x1 = -1, x0.x2 = 5, x1.x2 = -3 -> 2 * 1 / (6 * 2) */
  expect_rel(q1, 16.0 / 6.0, 1e-14, "q1");
  expect_rel(q2, 2.0 / 12.0, 1e-14, "q2");
  assert_int_equal(suri_theory_input_stats(d, 2, &q1, &q2), SURI_OK); /* first two samples */
  expect_rel(q1, 6.0 / 4.0, 1e-14, "q1 (2 samples)");
  expect_rel(q2, -1.0 / 2.0, 1e-14, "q2 (2 samples)");
  tu_expect_status(suri_theory_input_stats(d, 1, &q1, &q2), SURI_ERR_ARG, ">= 2 samples");
  suri_dataset_free(d);
  /* statistics of real data feed the theory */
  assert_int_equal(suri_data_load("gauss:n=200,d=30,classes=3,sep=2,seed=4", &d), SURI_OK);
  assert_int_equal(suri_theory_input_stats(d, 0, &q1, &q2), SURI_OK);
  assert_true(q1 > 1.0 && q2 > 0.0 && q2 < q1); /* N(0, I) noise plus class means */
  suri_theory_opts o = suri_theory_defaults();
  o.input_q1 = q1, o.input_q2 = q2;
  suri_model_spec s = parse("mlp:30-200-3,act=tanh,loss=mse");
  suri_fisher_theory t;
  assert_int_equal(suri_theory_fisher(&s, 200, &o, &t), SURI_OK);
  assert_true(t.qhat1[0] == q1 && t.qhat2[0] == q2 && t.kappa2 > 0);
  suri_dataset_free(d);
}

static void test_errors(void **state) {
  (void)state;
  suri_fisher_theory t;
  suri_model_spec s = parse("mlp:10-20-2,norm=batch");
  tu_expect_status(suri_theory_fisher(&s, 10, NULL, &t), SURI_ERR_UNSUPPORTED, "norm=batch");
  s = parse("mlp:10-20-2,norm=layer");
  tu_expect_status(suri_theory_fisher(&s, 10, NULL, &t), SURI_ERR_UNSUPPORTED, "norm=layer");
  s = parse("mlp:10-2");
  tu_expect_status(suri_theory_fisher(&s, 10, NULL, &t), SURI_ERR_UNSUPPORTED, "no hidden layer");
  s = parse("mlp:10-20-2,norm=lastbatch,dropout=0.1"); /* supported */
  assert_int_equal(suri_theory_fisher(&s, 10, NULL, &t), SURI_OK);
  assert_int_equal(t.P, 10 * 20 + 20 + 20 * 2 + 2 + 2 * 2);
  s = parse("mlp:10-20-2");
  tu_expect_status(suri_theory_fisher(&s, -1, NULL, &t), SURI_ERR_ARG, "T = -1");
  tu_expect_status(suri_theory_fisher(NULL, 1, NULL, &t), SURI_ERR_ARG, "NULL");
  tu_expect_status(suri_theory_fisher(&s, 1, NULL, NULL), SURI_ERR_ARG, "NULL");
  suri_theory_opts o = suri_theory_defaults();
  o.input_q2 = 1.5;
  tu_expect_status(suri_theory_fisher(&s, 1, &o, &t), SURI_ERR_ARG, "|q2| <= q1");
  o = suri_theory_defaults();
  o.quad_nodes = 1;
  tu_expect_status(suri_theory_fisher(&s, 1, &o, &t), SURI_ERR_ARG, "quad_nodes");
  o.quad_nodes = 513;
  tu_expect_status(suri_theory_fisher(&s, 1, &o, &t), SURI_ERR_ARG, "quad_nodes");
  double m[4];
  tu_expect_status(suri_theory_act_moments(SURI_ACT_TANH, 0, 1, 2, 0, 0, m), SURI_ERR_ARG, "q2");
  tu_expect_status(suri_theory_act_moments(SURI_ACT_COUNT, 0, 1, 0, 0, 0, m), SURI_ERR_ARG,
                   "activation");
  /* a leading order of zero: odd activation, no bias variance, uncorrelated inputs */
  s = parse("mlp:10-50-50-1,act=tanh,sw2=1,sb2=0,loss=mse");
  assert_int_equal(suri_theory_fisher(&s, 0, NULL, &t), SURI_OK);
  assert_true(fabs(t.kappa2) < 1e-12 && fabs(t.lambda_max) < 1e-9);
  assert_true(t.critical_lr > 1e8); /* 2 / (~0) */
  assert_true(t.lambda_max_finite > 1.0); /* the bias gradients' mean still gives an outlier */
  /* mse: C / lambda_max for suri's mean-over-elements loss; ce with one output: no curvature */
  s = parse("mlp:10-50-1,loss=mse");
  s.loss = SURI_LOSS_CE; /* the parser refuses it; a hand-made spec must not break the theory */
  assert_int_equal(suri_theory_fisher(&s, 5, NULL, &t), SURI_OK);
  assert_true(t.loss_curv_scale == 0 && isinf(t.critical_lr_loss));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quadrature_closed_forms), cmocka_unit_test(test_quadrature_smooth),
      cmocka_unit_test(test_recursion_relu),          cmocka_unit_test(test_gram_vs_kernel),
      cmocka_unit_test(test_order_parameters_wide),   cmocka_unit_test(test_bn_last_var),
      cmocka_unit_test(test_input_stats),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
