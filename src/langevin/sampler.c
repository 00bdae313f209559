/* sampler.c - SGLD, SVRG-LD, SARAH-LD and noisy gradient descent as drivers over a finite-sum
 * objective (docs/algorithms/langevin.md; Kinoshita & Suzuki, NeurIPS 2022; Welling & Teh,
 * ICML 2011; Dubey et al., NeurIPS 2016; Nguyen et al., ICML 2017).
 *
 * Every kind takes the step
 *     x_{k+1} = x_k - eta (v_k + lambda x_k) + sqrt(2 eta / gamma) xi_k,   gamma = N / T,
 * and the kinds differ only in the estimator v_k of grad F(x_k) (see suri/langevin.h for the
 * formulas and the per-step gradient-evaluation counts). The estimator is kept in double:
 * SVRG's and SARAH's difference terms cancel most of the gradient, and rounding them to float
 * would put float noise where the theory has none (langevin.md property 1: v_k == grad F(x_k)
 * to 1e-12 on the isotropic Gaussian target).
 *
 * Randomness: the batch of step k and the noise of step k are addressed by (seed, k) alone,
 * so chains do not depend on the thread count and resume exactly. */
#include <math.h>
#include <string.h>

#include "langevin_internal.h"

struct suri_langevin {
  suri_langevin_kind kind;
  suri_objective obj;
  suri_langevin_hp hp;
  int64_t n, B, m;
  size_t d;
  double gamma, sigma;
  int64_t k, evals;
  int64_t *work;  /* (n + B) identity + swap record for the batch draw */
  int64_t *batch; /* (B) */
  double *v;      /* (d) v_k; SARAH: also v_{k-1} between steps */
  double *g1, *g2; /* (d) SVRG/SARAH: batch gradients at the two points */
  double *gs;     /* (d) SVRG: grad F(xs) */
  suri_real *xs;  /* (d) SVRG: snapshot xs; SARAH: x_{k-1} */
};

static const char *const kind_names[SURI_LANGEVIN_KIND_COUNT] = {"sgld", "svrg-ld", "sarah-ld",
                                                                 "noisy-gd"};

suri_status suri_langevin_kind_parse(const char *name, suri_langevin_kind *out) {
  for (int k = 0; name && k < SURI_LANGEVIN_KIND_COUNT; k++)
    if (!strcmp(name, kind_names[k])) {
      *out = (suri_langevin_kind)k;
      return SURI_OK;
    }
  return suri_fail(SURI_ERR_ARG, "unknown Langevin sampler '%s' (known: %s)",
                   name ? name : "(null)", SURI_LANGEVIN_NAMES);
}

const char *suri_langevin_kind_name(suri_langevin_kind k) {
  return (unsigned)k < SURI_LANGEVIN_KIND_COUNT ? kind_names[k] : "?";
}

suri_langevin_hp suri_langevin_defaults(suri_langevin_kind kind) {
  (void)kind;
  suri_langevin_hp hp;
  memset(&hp, 0, sizeof hp);
  hp.eta = 1e-3;
  hp.temperature = 1.0;
  hp.seed = 1;
  hp.noise_seed = 1;
  return hp;
}

int64_t suri_langevin_default_batch(int64_t n) {
  if (n < 1) return 1;
  int64_t b = (int64_t)llround(sqrt((double)n));
  return b < 1 ? 1 : (b > n ? n : b);
}

static double data_factor(const suri_langevin_hp *hp, int64_t n) {
  return hp->data_size > 0 ? hp->data_size : (double)n;
}

double suri_langevin_gamma(const suri_langevin_hp *hp, int64_t n) {
  return hp->temperature > 0 ? data_factor(hp, n) / hp->temperature : INFINITY;
}

double suri_langevin_noise_std(const suri_langevin_hp *hp, int64_t n) {
  if (!(hp->temperature > 0)) return 0.0;
  return sqrt(2.0 * hp->eta * hp->temperature / data_factor(hp, n));
}

double suri_langevin_prior_decay(double tau2, double N) { return 1.0 / (N * tau2); }

double suri_langevin_xi(int64_t n, int64_t B) {
  if (n <= 1 || B < 1) return 0.0;
  return (double)(n - B) / ((double)B * (double)(n - 1));
}

double suri_langevin_eta_theory(suri_langevin_kind kind, double alpha, double L, double m,
                                double gamma, double d, double eps, double Xi) {
  double contract, accuracy;
  if (kind == SURI_LANGEVIN_SVRG) {
    contract = alpha / (16.0 * sqrt(6.0) * L * L * m * gamma);
    accuracy = 3.0 * alpha * eps / (448.0 * gamma * d * L * L * (2.0 + 3.0 * Xi + 2.0 * m * Xi));
  } else if (kind == SURI_LANGEVIN_SARAH) {
    contract = alpha / (16.0 * sqrt(2.0) * L * L * m * gamma);
    accuracy = 3.0 * alpha * eps / (64.0 * gamma * d * L * L * (2.0 + Xi + 2.0 * m * Xi));
  } else {
    return NAN;
  }
  return contract < accuracy ? contract : accuracy;
}

static int finite_nonneg(double x) { return isfinite(x) && x >= 0; }

suri_status suri_langevin_check(suri_langevin_kind kind, const suri_langevin_hp *hp, int64_t n) {
  const char *kn = suri_langevin_kind_name(kind);
  if ((unsigned)kind >= SURI_LANGEVIN_KIND_COUNT)
    return suri_fail(SURI_ERR_ARG, "langevin: invalid kind %d", (int)kind);
  if (!hp) return suri_fail(SURI_ERR_ARG, "%s: hyper-parameters are NULL", kn);
  if (n < 1) return suri_fail(SURI_ERR_ARG, "%s: the objective has %lld terms (need >= 1)", kn,
                              (long long)n);
  if (!(hp->eta > 0) || !isfinite(hp->eta))
    return suri_fail(SURI_ERR_ARG, "%s: step size eta must be finite and > 0 (got %g)", kn,
                     hp->eta);
  if (!finite_nonneg(hp->temperature))
    return suri_fail(SURI_ERR_ARG, "%s: temperature must be finite and >= 0 (got %g)", kn,
                     hp->temperature);
  if (!finite_nonneg(hp->data_size))
    return suri_fail(SURI_ERR_ARG, "%s: data_size must be finite and >= 0 (0 = n; got %g)",
                     kn, hp->data_size);
  if (!finite_nonneg(hp->weight_decay))
    return suri_fail(SURI_ERR_ARG, "%s: weight_decay must be finite and >= 0 (got %g)", kn,
                     hp->weight_decay);
  if (kind != SURI_LANGEVIN_NOISY_GD && (hp->batch < 0 || hp->batch > n))
    return suri_fail(SURI_ERR_ARG, "%s: batch %lld must lie in 1..%lld (the data size), or 0 "
                     "for round(sqrt(n))", kn, (long long)hp->batch, (long long)n);
  if (hp->loop < 0)
    return suri_fail(SURI_ERR_ARG, "%s: loop length must be >= 1, or 0 for round(sqrt(n)) "
                     "(got %lld)", kn, (long long)hp->loop);
  return SURI_OK;
}

void suri_langevin_draw_batch(uint64_t seed, int64_t k, int64_t n, int64_t B, int64_t *work,
                              int64_t *idx) {
  suri_rng r = suri_rng_make(seed, SURI_RNG_SHUFFLE);
  r.counter = (uint64_t)k * LANGEVIN_BATCH_STRIDE;
  int64_t *swap = work + n;
  /* Partial Fisher-Yates: position j receives a uniform pick among the n - j not yet drawn. */
  for (int64_t j = 0; j < B; j++) {
    int64_t p = j + (int64_t)suri_rng_below(&r, (uint64_t)(n - j));
    int64_t t = work[j];
    work[j] = work[p];
    work[p] = t;
    swap[j] = p;
    idx[j] = work[j];
  }
  for (int64_t j = B - 1; j >= 0; j--) { /* undo, so the next draw starts from the identity */
    int64_t p = swap[j], t = work[j];
    work[j] = work[p];
    work[p] = t;
  }
}

void suri_langevin_free(suri_langevin *s) {
  if (!s) return;
  suri_free(s->work);
  suri_free(s->batch);
  suri_free(s->v);
  suri_free(s->g1);
  suri_free(s->g2);
  suri_free(s->gs);
  suri_free(s->xs);
  suri_free(s);
}

suri_status suri_langevin_new(suri_langevin_kind kind, const suri_objective *obj,
                              const suri_langevin_hp *hp, suri_langevin **out) {
  *out = NULL;
  if (!obj || !obj->grad || obj->dim < 1)
    return suri_fail(SURI_ERR_ARG, "langevin: objective is NULL, has no gradient or dim 0");
  suri_status st = suri_langevin_check(kind, hp, obj->n);
  if (st) return st;
  suri_langevin *s = suri_calloc(1, sizeof *s);
  if (!s) return SURI_ERR_NOMEM;
  s->kind = kind;
  s->obj = *obj;
  s->hp = *hp;
  s->n = obj->n;
  s->d = obj->dim;
  s->B = kind == SURI_LANGEVIN_NOISY_GD ? s->n
         : hp->batch > 0                ? hp->batch
                                        : suri_langevin_default_batch(s->n);
  int vr = kind == SURI_LANGEVIN_SVRG || kind == SURI_LANGEVIN_SARAH;
  s->m = vr ? (hp->loop > 0 ? hp->loop : suri_langevin_default_batch(s->n)) : 0;
  s->gamma = suri_langevin_gamma(hp, s->n);
  s->sigma = suri_langevin_noise_std(hp, s->n);
  size_t dd = s->d * sizeof(double);
  s->v = suri_calloc(s->d, sizeof(double));
  if (kind != SURI_LANGEVIN_NOISY_GD) {
    s->work = suri_alloc((size_t)(s->n + s->B) * sizeof(int64_t));
    s->batch = suri_alloc((size_t)s->B * sizeof(int64_t));
  }
  if (vr) {
    s->g1 = suri_alloc(dd);
    s->g2 = suri_alloc(dd);
    s->xs = suri_calloc(s->d, sizeof(suri_real));
  }
  if (kind == SURI_LANGEVIN_SVRG) s->gs = suri_calloc(s->d, sizeof(double));
  if (!s->v || (kind != SURI_LANGEVIN_NOISY_GD && (!s->work || !s->batch)) ||
      (vr && (!s->g1 || !s->g2 || !s->xs)) || (kind == SURI_LANGEVIN_SVRG && !s->gs)) {
    suri_langevin_free(s);
    return suri_fail(SURI_ERR_NOMEM, "langevin: cannot allocate the state of %zu parameters",
                     obj->dim);
  }
  for (int64_t i = 0; s->work && i < s->n; i++) s->work[i] = i;
  *out = s;
  return SURI_OK;
}

void langevin_normal_pair(uint64_t seed, uint32_t purpose, uint64_t block, double *z0,
                          double *z1) {
  suri_rng r = suri_rng_make(seed, purpose);
  uint32_t b[4];
  suri_rng_block(&r, block, b);
  /* 53-bit uniforms in (0, 1) from word pairs, then Box-Muller, all in double. */
  uint64_t m1 = (((uint64_t)b[0] << 21) ^ (uint64_t)(b[1] >> 11)) & ((1ull << 53) - 1);
  uint64_t m2 = (((uint64_t)b[2] << 21) ^ (uint64_t)(b[3] >> 11)) & ((1ull << 53) - 1);
  double u1 = ((double)m1 + 0.5) * (1.0 / 9007199254740992.0);
  double u2 = ((double)m2 + 0.5) * (1.0 / 9007199254740992.0);
  double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586476925286766559 * u2;
  *z0 = rad * cos(ang);
  *z1 = rad * sin(ang);
}

/* x_j <- x_j - eta (v_j + lambda x_j) + sigma xi_j for j in [lo, hi) (lo even): xi_j is normal
 * (j mod 2) of block base + j / 2 of the noise stream. */
static void update_range(const suri_langevin *s, suri_real *x, size_t lo, size_t hi,
                         uint64_t base) {
  const double eta = s->hp.eta, lam = s->hp.weight_decay, sigma = s->sigma;
  const double *v = s->v;
  if (sigma == 0) {
    for (size_t j = lo; j < hi; j++) {
      double xj = (double)x[j];
      x[j] = (suri_real)(xj - eta * (v[j] + lam * xj));
    }
    return;
  }
  for (size_t j = lo; j < hi; j += 2) {
    double z[2];
    langevin_normal_pair(s->hp.noise_seed, SURI_RNG_NOISE, base + j / 2, &z[0], &z[1]);
    for (size_t q = j; q < hi && q < j + 2; q++) {
      double xq = (double)x[q];
      x[q] = (suri_real)(xq - eta * (v[q] + lam * xq) + sigma * z[q - j]);
    }
  }
}

static void apply_update(suri_langevin *s, suri_real *x) {
  const size_t d = s->d;
  const uint64_t base = (uint64_t)s->k * (uint64_t)((d + 1) / 2);
  const int64_t chunks = (int64_t)((d + LANGEVIN_CHUNK - 1) / LANGEVIN_CHUNK);
#pragma omp parallel for schedule(static) if (d >= LANGEVIN_OMP_MIN)
  for (int64_t c = 0; c < chunks; c++) {
    size_t lo = (size_t)c * LANGEVIN_CHUNK, hi = lo + LANGEVIN_CHUNK < d ? lo + LANGEVIN_CHUNK : d;
    update_range(s, x, lo, hi, base);
  }
}

static suri_status full_grad(suri_langevin *s, const suri_real *x, double *g, double *loss) {
  s->evals += s->n;
  return s->obj.grad(s->obj.ctx, x, s->n, NULL, g, loss);
}

static suri_status batch_grad(suri_langevin *s, const suri_real *x, double *g, double *loss) {
  s->evals += s->B;
  return s->obj.grad(s->obj.ctx, x, s->B, s->batch, g, loss);
}

/* v_k of the SVRG/SARAH difference step: v = g(x, I) - g(xref, I) + base (base may be v). */
static suri_status difference_step(suri_langevin *s, const suri_real *x, const double *base,
                                   double *loss) {
  suri_status st = batch_grad(s, x, s->g1, loss);
  if (!st) st = batch_grad(s, s->xs, s->g2, NULL);
  if (st) return st;
  for (size_t j = 0; j < s->d; j++) s->v[j] = s->g1[j] - s->g2[j] + base[j];
  return SURI_OK;
}

static suri_status estimate(suri_langevin *s, const suri_real *x, double *loss) {
  int snap = s->m > 0 && s->k % s->m == 0;
  if (s->kind != SURI_LANGEVIN_NOISY_GD && !snap)
    suri_langevin_draw_batch(s->hp.seed, s->k, s->n, s->B, s->work, s->batch);
  suri_status st = SURI_OK;
  switch (s->kind) {
  case SURI_LANGEVIN_SGLD:
    st = batch_grad(s, x, s->v, loss);
    break;
  case SURI_LANGEVIN_NOISY_GD:
    st = full_grad(s, x, s->v, loss);
    break;
  case SURI_LANGEVIN_SVRG:
    if (snap) { /* xs = x_k, gs = grad F(xs); the difference term vanishes at xs */
      memcpy(s->xs, x, s->d * sizeof(suri_real));
      st = full_grad(s, x, s->gs, loss);
      if (!st) memcpy(s->v, s->gs, s->d * sizeof(double));
    } else {
      st = difference_step(s, x, s->gs, loss);
    }
    break;
  case SURI_LANGEVIN_SARAH:
    if (snap) st = full_grad(s, x, s->v, loss);
    else st = difference_step(s, x, s->v, loss); /* xs holds x_{k-1}, v holds v_{k-1} */
    if (!st) memcpy(s->xs, x, s->d * sizeof(suri_real));
    break;
  default:
    st = suri_fail(SURI_ERR_STATE, "langevin: invalid kind");
  }
  return st;
}

suri_status suri_langevin_step(suri_langevin *s, suri_real *x, double *loss) {
  double l = NAN;
  suri_status st = estimate(s, x, &l);
  if (st) return st;
  for (size_t j = 0; j < s->d; j++)
    if (!isfinite(s->v[j]))
      return suri_fail(SURI_ERR_NUMERIC, "%s: gradient estimate is not finite at step %lld "
                       "(parameter %zu); lower the step size", kind_names[s->kind],
                       (long long)s->k + 1, j);
  apply_update(s, x);
  s->k++;
  if (loss) *loss = l;
  return SURI_OK;
}

suri_status suri_langevin_run(suri_langevin *s, suri_real *x, int64_t steps, suri_samples *ss,
                              suri_langevin_callback cb, void *user) {
  if (steps < 0) return suri_fail(SURI_ERR_ARG, "langevin: steps must be >= 0 (got %lld)",
                                  (long long)steps);
  for (int64_t t = 0; t < steps; t++) {
    double loss;
    suri_status st = suri_langevin_step(s, x, &loss);
    if (!st && ss) st = suri_samples_offer(ss, s->k, x);
    if (st) return st;
    if (cb && cb(s->k, loss, x, user))
      return suri_fail(SURI_ERR_INTERRUPTED, "sampling stopped at step %lld", (long long)s->k);
  }
  return SURI_OK;
}

int64_t suri_langevin_steps(const suri_langevin *s) { return s->k; }
int64_t suri_langevin_grad_evals(const suri_langevin *s) { return s->evals; }
int64_t suri_langevin_batch_size(const suri_langevin *s) { return s->B; }
int64_t suri_langevin_loop_size(const suri_langevin *s) { return s->m; }
double suri_langevin_get_gamma(const suri_langevin *s) { return s->gamma; }
const double *suri_langevin_estimator(const suri_langevin *s) { return s->v; }
suri_real *suri_langevin_state_x(suri_langevin *s) { return s->xs; }

double *suri_langevin_state_v(suri_langevin *s) {
  return s->kind == SURI_LANGEVIN_SVRG ? s->gs : s->kind == SURI_LANGEVIN_SARAH ? s->v : NULL;
}

void suri_langevin_set_steps(suri_langevin *s, int64_t steps, int64_t grad_evals) {
  s->k = steps < 0 ? 0 : steps;
  s->evals = grad_evals < 0 ? 0 : grad_evals;
}
