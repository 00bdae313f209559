/* bayes_regression.c - Bayesian linear and logistic regression with the Langevin samplers of
 * suri/langevin.h (SGLD, SVRG-LD, SARAH-LD, noisy GD), checked against the exact posterior:
 *   1. linear regression: posterior mean and covariance of one long chain per sampler against
 *      the closed form N(mu, Sigma), Sigma^-1 = Z'Z/s2 + I/tau2, mu = Sigma Z'y/s2;
 *   2. logistic regression: the same against a long random-walk Metropolis chain (exact up to
 *      Monte Carlo error; its proposal is the Laplace covariance at the MAP, and the MAP comes
 *      from SVRG at temperature 0);
 *   3. gradient complexity: ensembles of chains started at the prior mean; for each sampler
 *      and step size the number of per-sample gradient evaluations after which the ensemble's
 *      mean (Mahalanobis) and covariance (relative Frobenius) errors stay below a target.
 *      The best step size of each sampler is reported (langevin.md: SVRG-LD / SARAH-LD need
 *      O~(n + sqrt(n) d / eps) evaluations where SGLD's gradient noise forces tiny steps).
 * The posterior is p(x | data) ~ exp(-sum_i f_i(x)) N(x; 0, tau2 I): f_i is the per-sample
 * negative log-likelihood, gamma = n (temperature 1, data-size factor n), weight decay
 * lambda = 1/(n tau2) (suri_langevin_prior_decay).
 *   build/examples/bayes_regression [--quick]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <suri.h>
#include <suri/langevin.h>

#define PMAX 8

/* ---- objectives -------------------------------------------------------------------------- */
typedef struct problem {
  int64_t n, p;
  double *z, *y; /* (n, p), (n): y real (linear) or +-1 (logistic) */
  double s2; /* linear: noise variance */
  int logistic;
} problem;

static suri_status prob_grad(void *ctx, const suri_real *x, int64_t count, const int64_t *idx,
                             double *g, double *loss) {
  const problem *o = ctx;
  double l = 0;
  for (int64_t j = 0; j < o->p; j++) g[j] = 0;
  for (int64_t t = 0; t < count; t++) {
    int64_t i = idx ? idx[t] : t;
    const double *zi = o->z + i * o->p;
    double u = 0, c;
    for (int64_t j = 0; j < o->p; j++) u += zi[j] * (double)x[j];
    if (o->logistic) { /* f = log(1 + exp(-y u)), f' = -y sigmoid(-y u) */
      double m = -o->y[i] * u;
      l += m > 0 ? m + log1p(exp(-m)) : log1p(exp(m));
      c = -o->y[i] / (1 + exp(-m));
    } else { /* f = (y - u)^2 / (2 s2) */
      l += (o->y[i] - u) * (o->y[i] - u) / (2 * o->s2);
      c = (u - o->y[i]) / o->s2;
    }
    for (int64_t j = 0; j < o->p; j++) g[j] += c * zi[j];
  }
  for (int64_t j = 0; j < o->p; j++) g[j] /= (double)count;
  if (loss) *loss = l / (double)count;
  return SURI_OK;
}

/* Correlated Gaussian features; true weights w_j = (-1)^j / (1 + j). */
static problem make_problem(int64_t n, int64_t p, int logistic, uint64_t seed) {
  problem o = {
      n,   p,       malloc((size_t)(n * p) * sizeof(double)), malloc((size_t)n * sizeof(double)),
      1.0, logistic};
  suri_rng r = suri_rng_make(seed, SURI_RNG_DATA);
  for (int64_t i = 0; i < n; i++) {
    double *z = o.z + i * p, u = 0, prev = 0;
    for (int64_t j = 0; j < p; j++) {
      z[j] = 0.6 * prev + suri_rng_normal(&r);
      prev = z[j];
      u += z[j] * ((j % 2 ? -1.0 : 1.0) / (1.0 + (double)j));
    }
    if (logistic)
      o.y[i] = suri_rng_uniform(&r) < 1 / (1 + exp(-2 * u)) ? 1.0 : -1.0;
    else
      o.y[i] = u + sqrt(o.s2) * suri_rng_normal(&r);
  }
  if (logistic) /* the logistic set uses features scaled by 2 so the posterior is informative */
    for (int64_t k = 0; k < n * p; k++) o.z[k] *= 2;
  return o;
}

/* ---- small dense helpers (p <= PMAX) ------------------------------------------------------- */
/* f(A) = V diag(f(w)) V' for symmetric A (p, p); f: 0 inverse, 1 square root. */
static void sym_fun(int64_t p, const double *A, int f, double *out, double *wmin, double *wmax) {
  double V[PMAX * PMAX], w[PMAX];
  memcpy(V, A, (size_t)(p * p) * sizeof(double));
  if (suri_syev(p, V, w, 1)) {
    fprintf(stderr, "syev: %s\n", suri_last_error());
    exit(1);
  }
  if (wmin) *wmin = w[0];
  if (wmax) *wmax = w[p - 1];
  for (int64_t i = 0; i < p; i++)
    for (int64_t j = 0; j < p; j++) {
      double s = 0;
      for (int64_t k = 0; k < p; k++)
        s += V[i * p + k] * V[j * p + k] * (f == 0 ? 1 / w[k] : sqrt(w[k]));
      out[i * p + j] = s;
    }
}

/* Errors of (m, C) against (mu, Sigma): Mahalanobis mean error sqrt((m-mu)' Sigma^-1 (m-mu))
 * and relative Frobenius covariance error. Sinv = Sigma^-1. */
static void errors(int64_t p, const double *m, const double *C, const double *mu, const double *Sig,
                   const double *Sinv, double *em, double *ec) {
  double q = 0, num = 0, den = 0;
  for (int64_t i = 0; i < p; i++)
    for (int64_t j = 0; j < p; j++) {
      q += (m[i] - mu[i]) * Sinv[i * p + j] * (m[j] - mu[j]);
      num += (C[i * p + j] - Sig[i * p + j]) * (C[i * p + j] - Sig[i * p + j]);
      den += Sig[i * p + j] * Sig[i * p + j];
    }
  *em = sqrt(fmax(q, 0));
  *ec = sqrt(num / den);
}

/* Precision of the posterior at x: sum_i f_i''(x) + I/tau2 (linear: Z'Z/s2 + I/tau2). */
static void precision(const problem *o, const double *x, double tau2, double *A) {
  int64_t p = o->p;
  for (int64_t k = 0; k < p * p; k++) A[k] = (k % (p + 1) == 0) ? 1 / tau2 : 0;
  for (int64_t i = 0; i < o->n; i++) {
    const double *z = o->z + i * p;
    double w = 1 / o->s2;
    if (o->logistic) {
      double u = 0;
      for (int64_t j = 0; j < p; j++) u += z[j] * x[j];
      double s = 1 / (1 + exp(-u));
      w = s * (1 - s);
    }
    for (int64_t a = 0; a < p; a++)
      for (int64_t b = 0; b < p; b++) A[a * p + b] += w * z[a] * z[b];
  }
}

static suri_langevin *sampler(suri_langevin_kind kind, const suri_objective *obj, double eta,
                              double lam, uint64_t seed) {
  suri_langevin_hp hp = suri_langevin_defaults(kind);
  hp.eta = eta;
  hp.weight_decay = lam;
  hp.seed = seed;
  hp.noise_seed = seed + 1000003;
  suri_langevin *s = NULL;
  if (suri_langevin_new(kind, obj, &hp, &s)) {
    fprintf(stderr, "langevin_new: %s\n", suri_last_error());
    exit(1);
  }
  return s;
}

/* One long chain: moments of its thinned samples. Returns the gradient evaluations. */
static int64_t long_chain(suri_langevin_kind kind, const suri_objective *obj, double eta,
                          double lam, int64_t steps, const double *x0, double *m, double *C) {
  suri_langevin *s = sampler(kind, obj, eta, lam, 7);
  int64_t burn = steps / 10, every = 5, p = (int64_t)obj->dim;
  suri_samples *ss = NULL;
  suri_real x[PMAX];
  for (int64_t j = 0; j < p; j++) x[j] = (suri_real)x0[j];
  suri_status st =
      suri_samples_new(obj->dim, suri_samples_expected(steps, burn, every), burn, every, &ss);
  if (!st) st = suri_langevin_run(s, x, steps, ss, NULL, NULL);
  if (!st) st = suri_samples_moments(ss, m, C);
  if (st) {
    fprintf(stderr, "chain: %s\n", suri_last_error());
    exit(1);
  }
  int64_t ev = suri_langevin_grad_evals(s);
  suri_samples_free(ss);
  suri_langevin_free(s);
  return ev;
}

static void report(const char *name, int64_t ev, int64_t p, const double *m, const double *C,
                   const double *mu, const double *Sig, const double *Sinv) {
  double em, ec;
  errors(p, m, C, mu, Sig, Sinv, &em, &ec);
  printf("  %-9s mean error %.3f sd   covariance error %5.1f%%   gradient evals %.3g\n", name, em,
         100 * ec, (double)ev);
}

static const suri_langevin_kind kinds[4] = {SURI_LANGEVIN_SGLD, SURI_LANGEVIN_SVRG,
                                            SURI_LANGEVIN_SARAH, SURI_LANGEVIN_NOISY_GD};

/* ---- 1. linear regression against the closed form ---------------------------------------- */
static void linear_part(int quick) {
  const int64_t n = 1000, p = 4, steps = quick ? 50000 : 400000;
  const double tau2 = 1.0;
  problem o = make_problem(n, p, 0, 1);
  suri_objective obj = {n, (size_t)p, prob_grad, &o};
  double A[PMAX * PMAX], Sig[PMAX * PMAX], mu[PMAX] = {0}, H[PMAX * PMAX], lmax, m[PMAX],
                                           C[PMAX * PMAX];
  precision(&o, mu, tau2, A);
  sym_fun(p, A, 0, Sig, NULL, NULL);
  for (int64_t a = 0; a < p; a++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t b = 0; b < p; b++) mu[a] += Sig[a * p + b] * o.z[i * p + b] * o.y[i] / o.s2;
  for (int64_t k = 0; k < p * p; k++) H[k] = A[k] / (double)n;
  sym_fun(p, H, 1, C, NULL, &lmax); /* only lambda_max(Hess F) is needed here */
  double eta = 0.1 / lmax, lam = suri_langevin_prior_decay(tau2, (double)n);
  printf("1. Bayesian linear regression: n = %lld, p = %lld, s2 = 1, tau2 = 1, gamma = n, "
         "B = m = %lld, eta = 0.1 / lambda_max(Hess F) = %.4f, %lld steps per chain\n",
         (long long)n, (long long)p, (long long)suri_langevin_default_batch(n), eta,
         (long long)steps);
  double x0[PMAX] = {0};
  for (int k = 0; k < 4; k++) {
    int64_t ev = long_chain(kinds[k], &obj, eta, lam, steps, x0, m, C);
    report(suri_langevin_kind_name(kinds[k]), ev, p, m, C, mu, Sig, A);
  }
  free(o.z);
  free(o.y);
}

/* ---- 2. logistic regression against random-walk Metropolis ------------------------------ */
static double log_post(const problem *o, const double *x, double tau2) {
  suri_real xr[PMAX];
  double g[PMAX], l, r2 = 0;
  for (int64_t j = 0; j < o->p; j++) xr[j] = (suri_real)x[j], r2 += x[j] * x[j];
  prob_grad((void *)o, xr, o->n, NULL, g, &l);
  return -(double)o->n * l - r2 / (2 * tau2);
}

static void logistic_part(int quick) {
  const int64_t n = 500, p = 3, steps = quick ? 50000 : 400000, mh_steps = quick ? 100000 : 1000000;
  const double tau2 = 1.0;
  problem o = make_problem(n, p, 1, 2);
  suri_objective obj = {n, (size_t)p, prob_grad, &o};
  double lam = suri_langevin_prior_decay(tau2, (double)n), A[PMAX * PMAX], H[PMAX * PMAX], lmax;
  double xmap[PMAX] = {0}, tmp[PMAX * PMAX];
  /* MAP: SVRG at temperature 0 (plain SVRG on F + lambda/2 ||x||^2). */
  precision(&o, xmap, tau2, A);
  for (int64_t k = 0; k < p * p; k++) H[k] = A[k] / (double)n;
  sym_fun(p, H, 1, tmp, NULL, &lmax);
  suri_langevin_hp hp = suri_langevin_defaults(SURI_LANGEVIN_SVRG);
  hp.temperature = 0;
  hp.eta = 0.5 / lmax;
  hp.weight_decay = lam;
  suri_langevin *s = NULL;
  suri_real xr[PMAX] = {0};
  if (suri_langevin_new(SURI_LANGEVIN_SVRG, &obj, &hp, &s) ||
      suri_langevin_run(s, xr, 20000, NULL, NULL, NULL)) {
    fprintf(stderr, "map: %s\n", suri_last_error());
    exit(1);
  }
  suri_langevin_free(s);
  for (int64_t j = 0; j < p; j++) xmap[j] = (double)xr[j];
  /* Laplace covariance at the MAP, the RWM proposal shape (scale 2.38 / sqrt(p)). */
  double Lap[PMAX * PMAX], Lsq[PMAX * PMAX];
  precision(&o, xmap, tau2, A);
  sym_fun(p, A, 0, Lap, NULL, NULL);
  sym_fun(p, Lap, 1, Lsq, NULL, NULL);
  for (int64_t k = 0; k < p * p; k++) H[k] = A[k] / (double)n;
  sym_fun(p, H, 1, tmp, NULL, &lmax);
  suri_rng r = suri_rng_make(99, SURI_RNG_PROBE);
  double x[PMAX] = {0}, xp[PMAX] = {0}, lp, mu[PMAX] = {0}, Sig[PMAX * PMAX] = {0},
         Sinv[PMAX * PMAX];
  memcpy(x, xmap, sizeof x);
  lp = log_post(&o, x, tau2);
  int64_t acc = 0, cnt = 0;
  for (int64_t t = 0; t < mh_steps; t++) {
    double xi[PMAX];
    for (int64_t j = 0; j < p; j++) xi[j] = suri_rng_normal(&r);
    for (int64_t j = 0; j < p; j++) {
      xp[j] = x[j];
      for (int64_t k = 0; k < p; k++) xp[j] += 2.38 / sqrt((double)p) * Lsq[j * p + k] * xi[k];
    }
    double lq = log_post(&o, xp, tau2);
    if (log(suri_rng_uniform(&r)) < lq - lp)
      memcpy(x, xp, (size_t)p * sizeof(double)), lp = lq, acc++;
    if (t >= mh_steps / 10 && t % 5 == 0) { /* Welford-free: sums, finished below */
      cnt++;
      for (int64_t a = 0; a < p; a++) {
        mu[a] += x[a];
        for (int64_t b = 0; b < p; b++) Sig[a * p + b] += x[a] * x[b];
      }
    }
  }
  for (int64_t a = 0; a < p; a++) mu[a] /= (double)cnt;
  for (int64_t a = 0; a < p; a++)
    for (int64_t b = 0; b < p; b++) Sig[a * p + b] = Sig[a * p + b] / (double)cnt - mu[a] * mu[b];
  sym_fun(p, Sig, 0, Sinv, NULL, NULL);
  double em, ec;
  errors(p, xmap, Lap, mu, Sig, Sinv, &em, &ec);
  double eta = 0.1 / lmax;
  printf("\n2. Bayesian logistic regression: n = %lld, p = %lld, tau2 = 1, gamma = n; reference: "
         "random-walk Metropolis, %lld steps, acceptance %.2f\n   (Laplace approximation vs "
         "reference: mean error %.3f sd, covariance error %.1f%%); eta = 0.1 / lambda_max(Hess F "
         "at MAP) = %.4f, %lld steps per chain\n",
         (long long)n, (long long)p, (long long)mh_steps, (double)acc / (double)mh_steps, em,
         100 * ec, eta, (long long)steps);
  double m[PMAX], C[PMAX * PMAX];
  for (int k = 0; k < 4; k++) {
    int64_t ev = long_chain(kinds[k], &obj, eta, lam, steps, xmap, m, C);
    report(suri_langevin_kind_name(kinds[k]), ev, p, m, C, mu, Sig, Sinv);
  }
  free(o.z);
  free(o.y);
}

/* ---- 3. gradient evaluations to a target accuracy --------------------------------------- */
#define NC 80 /* checkpoints per run */

typedef struct ens_result {
  double reached; /* evaluations per chain after which the error stays below target, or -1 */
  double final_err; /* error at the budget */
} ens_result;

/* R chains from x = 0 for a budget of `budget` evaluations each; the ensemble's error
 * max(mean error, covariance error) at NC checkpoints. */
static ens_result ensemble(suri_langevin_kind kind, const suri_objective *obj, double eta,
                           double lam, int R, double budget, double target, const double *mu,
                           const double *Sig, const double *Sinv, double *rec, double *evs) {
  int64_t p = (int64_t)obj->dim;
  for (int r = 0; r < R; r++) {
    suri_langevin *s = sampler(kind, obj, eta, lam, 1000 + (uint64_t)r);
    suri_real x[PMAX] = {0};
    for (int c = 0; c < NC; c++) {
      double goal = budget * (c + 1) / NC;
      while ((double)suri_langevin_grad_evals(s) < goal)
        if (suri_langevin_step(s, x, NULL)) {
          fprintf(stderr, "step: %s\n", suri_last_error());
          exit(1);
        }
      for (int64_t j = 0; j < p; j++) rec[((size_t)c * R + r) * p + j] = (double)x[j];
      if (r == 0) evs[c] = (double)suri_langevin_grad_evals(s);
    }
    suri_langevin_free(s);
  }
  ens_result out = {-1, 0};
  for (int c = NC - 1; c >= 0; c--) {
    double m[PMAX] = {0}, C[PMAX * PMAX] = {0}, em, ec;
    const double *X = rec + (size_t)c * R * p;
    for (int r = 0; r < R; r++)
      for (int64_t a = 0; a < p; a++) m[a] += X[r * p + a] / R;
    for (int r = 0; r < R; r++)
      for (int64_t a = 0; a < p; a++)
        for (int64_t b = 0; b < p; b++)
          C[a * p + b] += (X[r * p + a] - m[a]) * (X[r * p + b] - m[b]) / (R - 1);
    errors(p, m, C, mu, Sig, Sinv, &em, &ec);
    double e = fmax(em, ec);
    if (c == NC - 1) out.final_err = e;
    if (e > target) break;
    out.reached = evs[c];
  }
  return out;
}

static void complexity_part(int quick) {
  const int64_t n = quick ? 400 : 2500, p = 3;
  const int R = quick ? 400 : 1000;
  const double tau2 = 1.0, target = quick ? 0.25 : 0.15;
  problem o = make_problem(n, p, 0, 3);
  suri_objective obj = {n, (size_t)p, prob_grad, &o};
  double A[PMAX * PMAX], Sig[PMAX * PMAX], mu[PMAX] = {0}, H[PMAX * PMAX], tmp[PMAX * PMAX], lmax;
  precision(&o, mu, tau2, A);
  sym_fun(p, A, 0, Sig, NULL, NULL);
  for (int64_t a = 0; a < p; a++)
    for (int64_t i = 0; i < n; i++)
      for (int64_t b = 0; b < p; b++) mu[a] += Sig[a * p + b] * o.z[i * p + b] * o.y[i] / o.s2;
  for (int64_t k = 0; k < p * p; k++) H[k] = A[k] / (double)n;
  sym_fun(p, H, 1, tmp, NULL, &lmax);
  double lam = suri_langevin_prior_decay(tau2, (double)n), budget = quick ? 4e4 : 1e5;
  double *rec = malloc((size_t)NC * (size_t)R * (size_t)p * sizeof(double)), evs[NC];
  printf("\n3. Gradient evaluations per chain until the ensemble error (max of mean error in sd "
         "and relative covariance error) stays below %.2f:\n   linear regression n = %lld, "
         "p = %lld, %d chains from x = 0, budget %.0f evaluations per chain, "
         "eta = 2^-k / lambda_max(Hess F)\n",
         target, (long long)n, (long long)p, R, budget);
  double best[3] = {-1, -1, -1};
  for (int k = 0; k < 3; k++) {
    printf("  %-9s", suri_langevin_kind_name(kinds[k]));
    for (int e = 0; e <= 7; e++) {
      double eta = ldexp(1.0, -e) / lmax;
      ens_result res = ensemble(kinds[k], &obj, eta, lam, R, budget, target, mu, Sig, A, rec, evs);
      if (res.reached > 0)
        printf(" k=%d:%-8.3g", e, res.reached);
      else
        printf(" k=%d:(%.2f)", e, res.final_err);
      if (res.reached > 0 && (best[k] < 0 || res.reached < best[k])) best[k] = res.reached;
      fflush(stdout);
    }
    printf("\n");
  }
  printf("  (entries: evaluations to reach the target; (e) = not reached, final error e)\n");
  for (int k = 0; k < 3; k++)
    printf("  best %-9s %s%.3g gradient evaluations per chain\n", suri_langevin_kind_name(kinds[k]),
           best[k] < 0 ? "not reached within " : "", best[k] < 0 ? budget : best[k]);
  if (best[0] > 0 && best[1] > 0)
    printf("  SVRG-LD needs %.1fx fewer gradient evaluations than SGLD\n", best[0] / best[1]);
  else if (best[0] < 0 && best[1] > 0)
    printf("  SGLD did not reach the target within the budget; SVRG-LD did\n");
  free(rec);
  free(o.z);
  free(o.y);
}

int main(int argc, char **argv) {
  int quick = argc > 1 && !strcmp(argv[1], "--quick");
  if (argc > 1 && !quick) {
    fprintf(stderr, "usage: bayes_regression [--quick]\n");
    return 2;
  }
  linear_part(quick);
  logistic_part(quick);
  complexity_part(quick);
  return 0;
}
