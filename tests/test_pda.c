/* test_pda.c - particle dual averaging and particle SDCA (src/mfld/pda.c, psdca.c) against the
 * checkable properties of docs/algorithms/pda_psdca.md section 3 (the exactly solvable linear
 * model h = w . x, squared loss, where every Gibbs target is Gaussian), plus the drivers on a
 * small classifier, files, and thread-count reproducibility. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "suri/mfld.h"
#include "lgv_targets.h"
#include "testutil.h"

#define PI 3.14159265358979323846

static suri_dataset *gauss_set(int64_t n, int64_t d, uint64_t seed) {
  suri_dataset *ds = NULL;
  assert_int_equal(suri_dataset_new(n, d, 0, 1, "gauss", &ds), SURI_OK);
  suri_rng r = suri_rng_make(seed, SURI_RNG_DATA);
  suri_rng_fill_normal(&r, (size_t)(n * d), ds->x, 0, 1);
  suri_rng_fill_normal(&r, (size_t)n, ds->t, 0, 1);
  return ds;
}

static suri_mfld_config linear_cfg(int64_t M, double l1, double l2) {
  suri_mfld_config c = suri_mfld_defaults();
  c.M = M, c.act = SURI_ACT_IDENTITY, c.head = SURI_MFLD_HEAD_FIXED_ONE;
  c.lambda1 = l1, c.lambda2 = l2, c.gap = 0;
  return c;
}


/* v = (1/n) sum_i g_i x_i */
static void dual_mean(const suri_dataset *ds, const double *g, double *v) {
  for (int64_t c = 0; c < ds->dim; c++) {
    v[c] = 0;
    for (int64_t i = 0; i < ds->n; i++) v[c] += g[i] * ds->x[i * ds->dim + c] / (double)ds->n;
  }
}

static double closed_logz(int64_t p, const double *v, double l1, double l2) {
  double v2 = 0;
  for (int64_t c = 0; c < p; c++) v2 += v[c] * v[c];
  return 0.5 * (double)p * log(PI * l2 / l1) + v2 / (4 * l1 * l2);
}

/* ---- 1. inner Langevin on a frozen potential ------------------------------------------------- */
/* gbar = (v . theta + lambda1 ||theta||^2) / lambda2 with lambda1 = 0.5, lambda2 = 0.2 and the
 * spec's eta = 0.1 in gbar units, i.e. inner step 0.1 / lambda2 = 0.5 in first-variation units:
 * stationary mean -v / (2 lambda1) exactly, variance lambda2 / (2 lambda1 (1 - eta lambda1 /
 * lambda2)) = 0.2667 (continuous time: 0.2). 4000 particles x 4 coordinates x 300 steps
 * (correlation time ~1 step): SE of the variance ~0.1%, tolerance 1%; mean error SE ~5e-4,
 * tolerance 3e-3. The potential is built from the rows x_i = e_i with coefficients v_i. */
static void test_inner_langevin(void **state) {
  (void)state;
  const double l1 = 0.5, l2 = 0.2, eta_g = 0.1, v[4] = {0.3, -0.7, 1.1, 0.0};
  suri_dataset *ds = NULL;
  assert_int_equal(suri_dataset_new(4, 4, 0, 1, "unit", &ds), SURI_OK);
  for (int i = 0; i < 4; i++) ds->x[i * 4 + i] = 1;
  suri_mfld_config c = linear_cfg(4000, l1, l2);
  suri_mfld *m = NULL;
  assert_int_equal(suri_mfld_new(&c, 4, &m), SURI_OK);
  assert_int_equal(suri_mfld_langevin(m, ds, NULL, 0, v, eta_g / l2, 50), SURI_OK);
  int64_t ld;
  suri_real *th = suri_mfld_theta(m, &ld);
  double s1[4] = {0}, s2 = 0, cnt = 0;
  for (int k = 0; k < 300; k++) {
    assert_int_equal(suri_mfld_langevin(m, ds, NULL, 0, v, eta_g / l2, 1), SURI_OK);
    for (int64_t j = 0; j < c.M; j++)
      for (int q = 0; q < 4; q++) {
        double e = th[j * ld + q] + v[q] / (2 * l1);
        s1[q] += th[j * ld + q], s2 += e * e, cnt++;
      }
  }
  double var = s2 / cnt, expect = l2 / (2 * l1 * (1 - eta_g * l1 / l2));
  print_message("inner Langevin: variance %.5f (expected %.5f)\n", var, expect);
  assert_true(fabs(var - expect) < 0.01 * expect);
  for (int q = 0; q < 4; q++) assert_true(fabs(s1[q] / (cnt / 4) + v[q] / (2 * l1)) < 3e-3);
  suri_mfld_free(m);
  suri_dataset_free(ds);
}

/* ---- 2. PDA outer loop with an exact oracle -------------------------------------------------- */
/* One particle carries the mean m_t of the Gaussian target (for the linear model f = m . x
 * exactly); after each full-batch accumulation the oracle sets m_{t+1} = -v_t / (2 lambda1),
 * v_t = (1/S_t) sum_i C_i x_i. lambda1 = 0.1 as the spec requires (kappa in [2.5, 9.7]): the
 * error peaks around 5e2 and is at machine precision by t = 100. Also checks C_i / S_t against
 * the explicit weights 2 s / (t (t + 1)) of the recorded c_s. Double builds: < 1e-12 as the
 * spec says. Float builds: the particle is stored in float, so m_t is rounded at ~6e-8 relative
 * each step and the transient amplifies early rounding before damping it: 1e-5. */
static void test_pda_exact_oracle(void **state) {
  (void)state;
  const double l1 = 0.1, l2 = 0.05;
  const int64_t n = 30, p = 4, T = 200;
  suri_dataset *ds = gauss_set(n, p, 31);
  double mr[4], hist[200][30], worst_w = 0;
  tu_ridge(ds, l1, mr);
  suri_mfld_config c = linear_cfg(1, l1, l2);
  suri_mfld *m = NULL;
  assert_int_equal(suri_mfld_new(&c, p, &m), SURI_OK);
  suri_real *th = suri_mfld_theta(m, NULL);
  for (int q = 0; q < p; q++) th[q] = 0;
  for (int64_t t = 1; t <= T; t++) {
    assert_int_equal(suri_mfld_dual_vector(m, ds, hist[t - 1]), SURI_OK); /* c_t */
    assert_int_equal(suri_pda_accumulate(m, ds, NULL, 0), SURI_OK);
    double S, v[4];
    int64_t tt;
    const double *C = suri_pda_coef(m, &S, &tt);
    assert_int_equal(tt, t);
    assert_true(S == (double)(t * (t + 1) / 2));
    double coef[30];
    for (int64_t i = 0; i < n; i++) {
      double explicit = 0;
      for (int64_t s = 1; s <= t; s++)
        explicit += 2.0 * (double)s / (double)(t * (t + 1)) * hist[s - 1][i] / (double)n;
      coef[i] = C[i] / S;
      worst_w = fmax(worst_w, fabs(coef[i] - explicit) / (1e-300 + fabs(explicit)));
    }
    for (int q = 0; q < p; q++) {
      v[q] = 0;
      for (int64_t i = 0; i < n; i++) v[q] += coef[i] * ds->x[i * p + q];
    }
    for (int q = 0; q < p; q++) th[q] = (suri_real)(-v[q] / (2 * l1));
  }
  double err = 0;
  for (int q = 0; q < p; q++) err = fmax(err, fabs((double)th[q] - mr[q]));
  print_message("PDA oracle: |m_200 - m_ridge| = %.2e, weights mismatch %.2e\n", err, worst_w);
  assert_true(worst_w < 1e-12);
  assert_true(err < (sizeof(suri_real) == 8 ? 1e-12 : 1e-5));
  suri_mfld_free(m);
  suri_dataset_free(ds);
}

/* ---- 3 and 5. P-SDCA with an exact oracle; gap at convergence -------------------------------- */
/* hhat_i = -v . x_i / (2 lambda1) and s_i = Var / (lambda2 n) = ||x_i||^2 / (2 lambda1 n) from
 * the closed form make the coordinate step an exact maximisation of the quadratic dual, so D
 * never decreases (up to rounding: 1e-12 |D|), g converges to the ridge residuals X m_ridge - y
 * (lambda1 = 0.1 as the spec states; asserted < 1e-12 after 3000 steps) and the duality gap with
 * the closed-form Gaussian entropy and log Z is below 1e-10 (float builds: the risk of the
 * one-particle system at the target mean goes through a float GEMM, rounding ~1e-7 of O(1)
 * terms, so 1e-6 there). */
static void test_psdca_exact_oracle(void **state) {
  (void)state;
  const double l1 = 0.1, l2 = 0.05;
  const int64_t n = 30, p = 4;
  suri_dataset *ds = gauss_set(n, p, 41);
  double mr[4], g[30] = {0}, y[30], v[4], Dprev = -INFINITY, worst_drop = 0;
  tu_ridge(ds, l1, mr);
  for (int64_t i = 0; i < n; i++) y[i] = ds->t[i];
  suri_rng r = suri_rng_make(3, SURI_RNG_SHUFFLE);
  for (int k = 0; k < 3000; k++) {
    int64_t i = (int64_t)suri_rng_below(&r, (uint64_t)n);
    dual_mean(ds, g, v);
    double hh = 0, x2 = 0;
    for (int q = 0; q < p; q++)
      hh -= v[q] * ds->x[i * p + q] / (2 * l1), x2 += (double)ds->x[i * p + q] * ds->x[i * p + q];
    g[i] += suri_psdca_delta(SURI_MFLD_LOSS_SQUARED, g[i], y[i], hh, x2 / (2 * l1 * (double)n));
    dual_mean(ds, g, v);
    double D = suri_mfld_dual_value(SURI_MFLD_LOSS_SQUARED, n, g, y, l2, closed_logz(p, v, l1, l2));
    worst_drop = fmax(worst_drop, (Dprev - D) / fabs(D));
    Dprev = D;
  }
  double gerr = 0;
  for (int64_t i = 0; i < n; i++) {
    double res = -y[i];
    for (int q = 0; q < p; q++) res += mr[q] * ds->x[i * p + q];
    gerr = fmax(gerr, fabs(g[i] - res));
  }
  /* gap L(q[g]) - D(g): q[g] = N(mu, s2 I), mu = -v / (2 lambda1), s2 = lambda2 / (2 lambda1) */
  suri_mfld_config c = linear_cfg(1, l1, l2);
  suri_mfld *m = NULL;
  assert_int_equal(suri_mfld_new(&c, p, &m), SURI_OK);
  suri_real *th = suri_mfld_theta(m, NULL);
  dual_mean(ds, g, v);
  for (int q = 0; q < p; q++) th[q] = (suri_real)(-v[q] / (2 * l1));
  double risk, l2t, s2 = l2 / (2 * l1);
  assert_int_equal(suri_mfld_objective(m, ds, &risk, &l2t), SURI_OK);
  double L =
      risk + l2t + l1 * (double)p * s2 + l2 * (-0.5 * (double)p * log(2 * PI * exp(1.0) * s2));
  double gap =
      L - suri_mfld_dual_value(SURI_MFLD_LOSS_SQUARED, n, g, y, l2, closed_logz(p, v, l1, l2));
  print_message("P-SDCA oracle: largest relative decrease of D %.2e, |g - g*| %.2e, gap %.2e\n",
                worst_drop, gerr, gap);
  assert_true(worst_drop <= 1e-12);
  assert_true(gerr < 1e-12);
  assert_true(fabs(gap) < (sizeof(suri_real) == 8 ? 1e-10 : 1e-6));
  suri_mfld_free(m);
  suri_dataset_free(ds);
}

/* The logistic 1-D solver against a brute-force maximisation of the same concave function. */
static void test_psdca_delta_logistic(void **state) {
  (void)state;
  suri_rng r = suri_rng_make(8, SURI_RNG_PROBE);
  for (int k = 0; k < 60; k++) {
    double y = k % 2 ? 1 : -1, s = 3 * suri_rng_uniform(&r), hh = 2 * suri_rng_normal(&r);
    double g = -y * suri_rng_uniform(&r); /* inside the domain: -y g in (0, 1) */
    double dl = suri_psdca_delta(SURI_MFLD_LOSS_LOGISTIC, g, y, hh, s);
    double sig = -y * (g + dl);
    assert_true(sig > 0 && sig < 1);
    double best = -INFINITY, arg = 0;
    for (int q = 1; q < 100000; q++) { /* scan sigma on a grid of step 1e-5 */
      double sg = q / 100000.0, d = -y * sg - g;
      double val =
          -suri_mfld_loss_conj(SURI_MFLD_LOSS_LOGISTIC, g + d, y) + d * hh - 0.5 * s * d * d;
      if (val > best) best = val, arg = d;
    }
    double got =
        -suri_mfld_loss_conj(SURI_MFLD_LOSS_LOGISTIC, g + dl, y) + dl * hh - 0.5 * s * dl * dl;
    assert_true(got >= best - 1e-9);
    assert_true(fabs(dl - arg) < 1e-4);
  }
}

/* ---- 4. reweighting identity ----------------------------------------------------------------- */
/* Particles drawn exactly from q[g] (Gaussian); reweighting by exp(-Delta h(theta, x_i) / (lambda2
 * n)) must give q[g + Delta e_i], whose mean is -(v + Delta x_i / n) / (2 lambda1): the weighted
 * mean is checked within 4 of its own standard errors (sqrt(sum_r w_r^2 (theta_r - mean)^2)), the
 * shift being > 8 SE (power); systematic resampling must keep that mean (within 4 sqrt(s2 / M))
 * and make the weights uniform again. Predictions use the weights. */
static void test_reweight_identity(void **state) {
  (void)state;
  const double l1 = 0.1, l2 = 0.05;
  const int64_t n = 30, p = 2, M = 20000, i = 7;
  const double delta = 1.5;
  suri_dataset *ds = gauss_set(n, p, 51);
  double g[30], v[2];
  suri_rng r = suri_rng_make(12, SURI_RNG_PROBE);
  for (int k = 0; k < n; k++) g[k] = 0.5 * suri_rng_normal(&r);
  dual_mean(ds, g, v);
  suri_mfld_config c = linear_cfg(M, l1, l2);
  suri_mfld *m = NULL;
  assert_int_equal(suri_mfld_new(&c, p, &m), SURI_OK);
  int64_t ld;
  suri_real *th = suri_mfld_theta(m, &ld);
  const double s2 = l2 / (2 * l1);
  double wmean[2];
  for (int64_t j = 0; j < M; j++)
    for (int q = 0; q < p; q++)
      th[j * ld + q] = (suri_real)(-v[q] / (2 * l1) + sqrt(s2) * suri_rng_normal(&r));
  double ess;
  assert_int_equal(suri_psdca_reweight(m, ds, i, delta, &ess), SURI_OK);
  const double *w = suri_mfld_weights(m);
  assert_non_null(w);
  print_message("reweight: ESS/M %.3f\n", ess);
  assert_true(ess > 0.3 && ess < 0.999);
  for (int q = 0; q < p; q++) {
    double mu = 0, se = 0, target = -(v[q] + delta * ds->x[i * p + q] / (double)n) / (2 * l1);
    for (int64_t j = 0; j < M; j++) mu += w[j] * th[j * ld + q];
    for (int64_t j = 0; j < M; j++)
      se += w[j] * w[j] * (th[j * ld + q] - mu) * (th[j * ld + q] - mu);
    se = sqrt(se);
    double shift = fabs(delta * ds->x[i * p + q] / (double)n / (2 * l1));
    print_message("  coord %d: weighted mean %.5f +- %.5f, closed form %.5f (shift %.4f)\n", q, mu,
                  se, target, shift);
    assert_true(fabs(mu - target) < 4 * se);
    assert_true(shift > 8 * se);
    wmean[q] = mu;
  }
  /* predictions are the weighted averages */
  suri_real f;
  assert_int_equal(suri_mfld_predict(m, 1, ds->x + i * p, &f), SURI_OK);
  double hh = 0;
  for (int64_t j = 0; j < M; j++)
    hh += w[j] * (th[j * ld] * ds->x[i * p] + th[j * ld + 1] * ds->x[i * p + 1]);
  assert_true(tu_close(f, hh, 1e-4, 1e-5));
  assert_int_equal(suri_psdca_resample(m), SURI_OK);
  for (int64_t j = 0; j < M; j++) assert_true(w[j] == 1.0 / (double)M);
  for (int q = 0; q < p; q++) { /* systematic resampling keeps the mean up to ~sqrt(s2 / M) */
    double mu = 0;
    for (int64_t j = 0; j < M; j++) mu += th[j * ld + q] / (double)M;
    assert_true(fabs(mu - wmean[q]) < 4 * sqrt(s2 / (double)M));
  }
  suri_mfld_free(m);
  suri_dataset_free(ds);
}

/* ---- drivers --------------------------------------------------------------------------------- */
typedef struct evlog {
  int n;
  suri_mfld_event ev[32];
} evlog;
static int log_event(const suri_mfld_event *ev, void *user) {
  evlog *L = user;
  if (L->n < 32) L->ev[L->n++] = *ev;
  return 0;
}

/* PDA and P-SDCA on a two-class Gaussian mixture (d = 2, output weight learned: p = 3, so the gap
 * is a quadrature). The classes of this draw overlap: MFLD run to convergence reaches a test
 * error of 0.19, so both must reach < 0.25 (chance 0.5), lower F, and shrink the duality gap
 * below 5% of its initial value and below 0.01 (measured: PDA 2.92 -> 0.003, P-SDCA with its own
 * dual iterate 0.70 -> ~0.002; P-SDCA needs enough Langevin steps per refresh (50 here) for the
 * reweighting to be exact, see psdca_refresh). */
static void run_driver(suri_mfld_method meth, double *gap0, double *gap1, double *err) {
  suri_dataset *tr = NULL, *te = NULL;
  assert_int_equal(suri_data_load("gauss:n=200,d=2,classes=2,sep=2.5,seed=6", &tr), SURI_OK);
  assert_int_equal(suri_data_load("gauss:n=1000,d=2,classes=2,sep=2.5,seed=6,split=test", &te),
                   SURI_OK);
  suri_mfld_config c = suri_mfld_defaults();
  c.method = meth, c.M = 200, c.loss = SURI_MFLD_LOSS_LOGISTIC, c.lambda1 = 0.01, c.lambda2 = 0.01;
  c.epochs = meth == SURI_MFLD_METHOD_PDA ? 6 : 4, c.monitor_every = c.epochs, c.inner_eta = 0.3;
  c.pda_inner = 5, c.psdca_inner = 50;
  suri_mfld *m = NULL;
  assert_int_equal(suri_mfld_new(&c, 2, &m), SURI_OK);
  evlog L = {0};
  assert_int_equal(suri_mfld_run(m, tr, te, log_event, &L, NULL), SURI_OK);
  assert_int_equal(L.n, 2);
  print_message(
      "%s: F %.4f -> %.4f, gap %.4f -> %.4f, test error %.3f, ESS %.2f, %lld Langevin steps\n",
      suri_mfld_method_name(meth), L.ev[0].F, L.ev[1].F, L.ev[0].gap.gap, L.ev[1].gap.gap,
      L.ev[1].test_err, L.ev[1].ess, (long long)L.ev[1].langevin_steps);
  assert_true(L.ev[0].gap.valid && L.ev[1].gap.valid);
  assert_true(L.ev[1].F < L.ev[0].F);
  *gap0 = L.ev[0].gap.gap, *gap1 = L.ev[1].gap.gap, *err = L.ev[1].test_err;
  suri_mfld_free(m);
  suri_dataset_free(tr);
  suri_dataset_free(te);
}

static void test_drivers(void **state) {
  (void)state;
  double g0, g1, err;
  run_driver(SURI_MFLD_METHOD_PDA, &g0, &g1, &err);
  assert_true(err < 0.25 && g1 < 0.05 * g0 && g1 < 0.01);
  run_driver(SURI_MFLD_METHOD_PSDCA, &g0, &g1, &err);
  assert_true(err < 0.25 && g1 < 0.05 * g0 && g1 < 0.01);
}

/* ---- files and thread counts ----------------------------------------------------------------- */
static void run_psdca(int threads, suri_mfld_method meth, const char *save, suri_mfld **out) {
  assert_int_equal(suri_set_threads(threads), SURI_OK);
  suri_dataset *tr = NULL;
  assert_int_equal(suri_data_load("teacher:n=300,d=20,width=10,act=tanh,seed=9", &tr), SURI_OK);
  suri_mfld_config c = suri_mfld_defaults();
  c.method = meth, c.M = 300, c.bias = 1, c.lambda1 = 0.01, c.lambda2 = 0.01, c.epochs = 1;
  c.steps_per_epoch = 60, c.gap = 0, c.pda_inner = 3, c.psdca_inner = 3, c.psdca_ess = 0.9;
  suri_mfld *m = NULL;
  assert_int_equal(suri_mfld_new(&c, 20, &m), SURI_OK);
  assert_int_equal(suri_mfld_run(m, tr, NULL, NULL, NULL, NULL), SURI_OK);
  if (save) assert_int_equal(suri_mfld_save(m, save, 0, NULL, NULL), SURI_OK);
  *out = m;
  suri_dataset_free(tr);
}

static void test_threads_and_files(void **state) {
  (void)state;
  const char *path = tu_join(tu_tmpdir(), "psdca.safetensors");
  suri_mfld_method meths[2] = {SURI_MFLD_METHOD_PDA, SURI_MFLD_METHOD_PSDCA};
  for (int k = 0; k < 2; k++) {
    suri_mfld *a = NULL, *b = NULL, *c = NULL;
    run_psdca(1, meths[k], path, &a);
    run_psdca(2, meths[k], NULL, &b);
    int64_t ld;
    const suri_real *ta = suri_mfld_theta(a, &ld), *tb = suri_mfld_theta(b, NULL);
    assert_memory_equal(ta, tb, (size_t)(300 * ld) * sizeof(suri_real));
    assert_int_equal(suri_mfld_load(path, &c), SURI_OK);
    assert_memory_equal(ta, suri_mfld_theta(c, NULL), (size_t)(300 * ld) * sizeof(suri_real));
    if (meths[k] == SURI_MFLD_METHOD_PSDCA) {
      assert_memory_equal(suri_mfld_weights(a), suri_mfld_weights(c), 300 * sizeof(double));
      assert_memory_equal(suri_psdca_dual(a), suri_psdca_dual(c), 300 * sizeof(double));
      assert_memory_equal(suri_psdca_dual(a), suri_psdca_dual(b), 300 * sizeof(double));
    } else {
      double Sa, Sc;
      const double *Ca = suri_pda_coef(a, &Sa, NULL), *Cc = suri_pda_coef(c, &Sc, NULL);
      assert_memory_equal(Ca, Cc, 300 * sizeof(double));
      assert_true(Sa == Sc && Sa > 0);
    }
    assert_int_equal(suri_mfld_steps(a), suri_mfld_steps(c));
    suri_mfld_free(a), suri_mfld_free(b), suri_mfld_free(c);
  }
  assert_int_equal(suri_set_threads(1), SURI_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inner_langevin),     cmocka_unit_test(test_pda_exact_oracle),
      cmocka_unit_test(test_psdca_exact_oracle), cmocka_unit_test(test_psdca_delta_logistic),
      cmocka_unit_test(test_reweight_identity),  cmocka_unit_test(test_drivers),
      cmocka_unit_test(test_threads_and_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
