/* asgd.c - averaged SGD with an L2 pull toward the initial point, over any finite-sum
 * objective (docs/algorithms/averaged_sgd_ntk.md section 3; Nitanda & Suzuki, ICLR 2021):
 *     theta_{t+1} = theta_t - eta ( grad_I f(theta_t) + lambda (theta_t - theta0) ),
 *     thetabar_t  = (1/(t+1)) sum_{s=0..t} theta_s       (uniform, theta_0 included),
 * kept as the running mean thetabar_t = thetabar_{t-1} + (theta_t - thetabar_{t-1}) / (t+1)
 * in double. The paper's algorithm is one pass with one fresh sample per step; here the
 * samples of each pass come in the order of a fresh random permutation, so the first pass is
 * exactly that and later passes (beyond the theory) reuse the data in a new order. The
 * prediction is made at the averaged PARAMETERS thetabar, as the paper does. */
#include <math.h>
#include <string.h>

#include "suri/langevin.h"

struct suri_asgd {
  suri_objective obj;
  suri_asgd_hp hp;
  size_t d;
  int64_t t, evals, pass, pos;
  suri_real *theta0; /* (d) */
  double *bar, *g;   /* (d) */
  int64_t *order;    /* (n) sample order of the current pass */
};

suri_asgd_hp suri_asgd_defaults(void) {
  suri_asgd_hp hp;
  memset(&hp, 0, sizeof hp);
  hp.eta = 0.04;
  hp.batch = 1;
  hp.seed = 1;
  return hp;
}

void suri_asgd_free(suri_asgd *a) {
  if (!a) return;
  suri_free(a->theta0);
  suri_free(a->bar);
  suri_free(a->g);
  suri_free(a->order);
  suri_free(a);
}

static void new_pass(suri_asgd *a) {
  suri_rng r = suri_rng_make(a->hp.seed, SURI_RNG_SHUFFLE);
  r.counter = (uint64_t)a->pass << 40;
  suri_rng_permutation(&r, (size_t)a->obj.n, a->order);
  a->pos = 0;
}

suri_status suri_asgd_new(const suri_objective *obj, const suri_asgd_hp *hp,
                          const suri_real *theta0, suri_asgd **out) {
  *out = NULL;
  if (!obj || !obj->grad || obj->dim < 1 || obj->n < 1 || !hp || !theta0)
    return suri_fail(SURI_ERR_ARG, "asgd: objective, hyper-parameters or theta0 missing");
  if (!(hp->eta > 0) || !isfinite(hp->eta))
    return suri_fail(SURI_ERR_ARG, "asgd: eta must be finite and > 0 (got %g)", hp->eta);
  if (!(hp->lambda >= 0) || !isfinite(hp->lambda))
    return suri_fail(SURI_ERR_ARG, "asgd: lambda must be finite and >= 0 (got %g)", hp->lambda);
  if (hp->batch < 1 || hp->batch > obj->n)
    return suri_fail(SURI_ERR_ARG, "asgd: batch %lld must lie in 1..%lld (the data size)",
                     (long long)hp->batch, (long long)obj->n);
  suri_asgd *a = suri_calloc(1, sizeof *a);
  if (!a) return SURI_ERR_NOMEM;
  a->obj = *obj;
  a->hp = *hp;
  a->d = obj->dim;
  a->theta0 = suri_alloc(a->d * sizeof(suri_real));
  a->bar = suri_alloc(a->d * sizeof(double));
  a->g = suri_alloc(a->d * sizeof(double));
  a->order = suri_alloc((size_t)obj->n * sizeof(int64_t));
  if (!a->theta0 || !a->bar || !a->g || !a->order) {
    suri_asgd_free(a);
    return suri_fail(SURI_ERR_NOMEM, "asgd: cannot allocate the state of %zu parameters",
                     obj->dim);
  }
  memcpy(a->theta0, theta0, a->d * sizeof(suri_real));
  for (size_t j = 0; j < a->d; j++) a->bar[j] = (double)theta0[j];
  new_pass(a);
  *out = a;
  return SURI_OK;
}

suri_status suri_asgd_step(suri_asgd *a, suri_real *theta, double *loss) {
  if (a->pos >= a->obj.n) {
    a->pass++;
    new_pass(a);
  }
  int64_t b = a->obj.n - a->pos < a->hp.batch ? a->obj.n - a->pos : a->hp.batch;
  double l = NAN;
  suri_status st = a->obj.grad(a->obj.ctx, theta, b, a->order + a->pos, a->g, &l);
  if (st) return st;
  a->pos += b;
  a->evals += b;
  for (size_t j = 0; j < a->d; j++)
    if (!isfinite(a->g[j]))
      return suri_fail(SURI_ERR_NUMERIC, "asgd: gradient is not finite at step %lld (parameter "
                       "%zu); lower eta", (long long)a->t + 1, j);
  const double eta = a->hp.eta, lam = a->hp.lambda, w = 1.0 / (double)(a->t + 2);
  for (size_t j = 0; j < a->d; j++) {
    double th = (double)theta[j];
    th -= eta * (a->g[j] + lam * (th - (double)a->theta0[j]));
    theta[j] = (suri_real)th;
    a->bar[j] += ((double)theta[j] - a->bar[j]) * w;
  }
  a->t++;
  if (loss) *loss = l;
  return SURI_OK;
}

const double *suri_asgd_average(const suri_asgd *a) { return a->bar; }

void suri_asgd_average_real(const suri_asgd *a, suri_real *out) {
  for (size_t j = 0; j < a->d; j++) out[j] = (suri_real)a->bar[j];
}

int64_t suri_asgd_steps(const suri_asgd *a) { return a->t; }
int64_t suri_asgd_grad_evals(const suri_asgd *a) { return a->evals; }

/* Steps per pass P = ceil(n / B) (the last batch of a pass is short). After t >= 1 steps the
 * chain is in pass (t - 1) / P, having taken r = (t - 1) % P + 1 of its steps, so pos =
 * min(n, r B); a full pass (pos == n) starts the next one lazily in suri_asgd_step. */
suri_status suri_asgd_set_state(suri_asgd *a, int64_t t, const double *bar) {
  if (t < 0 || !bar) return suri_fail(SURI_ERR_ARG, "asgd: resume needs t >= 0 and the average");
  const int64_t n = a->obj.n, B = a->hp.batch, P = (n + B - 1) / B;
  a->pass = t == 0 ? 0 : (t - 1) / P;
  new_pass(a);
  if (t > 0) {
    int64_t r = (t - 1) % P + 1;
    a->pos = r >= P ? n : r * B;
  }
  a->t = t;
  a->evals = a->pass * n + a->pos;
  memcpy(a->bar, bar, a->d * sizeof(double));
  return SURI_OK;
}
