/* ntk2.c - the two-layer network of docs/algorithms/averaged_sgd_ntk.md (Nitanda & Suzuki,
 * "Optimal Rates for Averaged Stochastic Gradient Descent under Neural Tangent Kernel Regime",
 * ICLR 2021), exactly as specified:
 *     g(x) = (1/sqrt(M)) sum_r a_r act(b_r . x + gamma_b c_r),
 * symmetric initialisation (a = +R / -R halves, duplicated b_r uniform on the sphere, c = 0,
 * so g_theta0 == 0), one-sample SGD on (g - y)^2/2 + (lambda/2)||theta - theta0||^2 with the
 * pre-update a_r in all three updates, and the uniform parameter average over theta_0..theta_T.
 * A linearised mode trains g_lin(x) = J0(x) . (theta - theta0), J0 = grad g at theta0, by
 * the same rule, which is kernel SGD with the empirical NTK k_M(x, x') = J0(x) . J0(x')
 * (section 7, property 3). Also the empirical NTK with its standard error and the ReLU
 * closed forms of section 4. Everything in double: this is a small theory instrument. */
#include <math.h>
#include <string.h>

#include "suri/langevin.h"

struct suri_ntk2 {
  suri_ntk2_hp hp;
  int64_t d, M, t;
  double inv_sqrt_m;
  double *a, *b, *c; /* current: (M), (M, d), (M) */
  double *a0, *b0, *c0; /* initial */
  double *ab, *bb, *cb; /* averaged */
  double *s, *ds; /* (M) scratch: act(u_r), act'(u_r) */
};

suri_ntk2_hp suri_ntk2_defaults(void) {
  suri_ntk2_hp hp;
  memset(&hp, 0, sizeof hp);
  hp.width = 1024;
  hp.R = 1.0;
  hp.gamma_b = 1.0;
  hp.act = SURI_NTK2_SWISH;
  hp.swish_s = 10.0;
  hp.eta = 0.04;
  hp.train_a = hp.train_b = 1;
  hp.seed = 1;
  return hp;
}

static double sigm(double u) { return 1.0 / (1.0 + exp(-u)); }

/* act(u) and act'(u). */
static void act_eval(const suri_ntk2_hp *hp, double u, double *f, double *df) {
  switch (hp->act) {
  case SURI_NTK2_SWISH: {
    double q = sigm(hp->swish_s * u);
    *f = u * q;
    *df = q + hp->swish_s * u * q * (1.0 - q);
    break;
  }
  case SURI_NTK2_TANH: {
    double th = tanh(u);
    *f = th;
    *df = 1.0 - th * th;
    break;
  }
  case SURI_NTK2_SIGMOID: {
    double q = sigm(u);
    *f = q;
    *df = q * (1.0 - q);
    break;
  }
  default:
    *f = u > 0 ? u : 0.0;
    *df = u > 0 ? 1.0 : 0.0;
  }
}

void suri_ntk2_free(suri_ntk2 *net) {
  if (!net) return;
  suri_free(net->a); /* one block holds every array */
  suri_free(net);
}

static suri_status check_hp(int64_t d, const suri_ntk2_hp *hp) {
  if (d < 1)
    return suri_fail(SURI_ERR_ARG, "ntk2: input dimension must be >= 1 (got %lld)", (long long)d);
  if (hp->width < 2 || hp->width % 2)
    return suri_fail(SURI_ERR_ARG, "ntk2: width M must be even and >= 2 (got %lld)",
                     (long long)hp->width);
  if (!(hp->R > 0) || !(hp->gamma_b > 0) || !isfinite(hp->R) || !isfinite(hp->gamma_b))
    return suri_fail(SURI_ERR_ARG, "ntk2: R and gamma_b must be finite and > 0 (got %g, %g)", hp->R,
                     hp->gamma_b);
  if ((unsigned)hp->act > SURI_NTK2_RELU || !isfinite(hp->swish_s))
    return suri_fail(SURI_ERR_ARG, "ntk2: invalid activation");
  if (!(hp->eta > 0) || !isfinite(hp->eta) || !(hp->lambda >= 0) || !isfinite(hp->lambda))
    return suri_fail(SURI_ERR_ARG, "ntk2: need eta > 0 and lambda >= 0 (got %g, %g)", hp->eta,
                     hp->lambda);
  if (!hp->unchecked_eta && 4.0 * (6.0 + hp->lambda) * hp->eta > 1.0)
    return suri_fail(SURI_ERR_ARG,
                     "ntk2: eta = %g breaks the step-size condition "
                     "4 (6 + lambda) eta <= 1 (eta <= %g for lambda = %g); set unchecked_eta to "
                     "go beyond the theory",
                     hp->eta, 1.0 / (4.0 * (6.0 + hp->lambda)), hp->lambda);
  if (!hp->train_a && !hp->train_b)
    return suri_fail(SURI_ERR_ARG, "ntk2: train at least one layer (train_a or train_b)");
  return SURI_OK;
}

/* Symmetric initialisation: b_r ~ Uniform(S^{d-1}) as a normalised Gaussian vector. */
static void init_params(suri_ntk2 *net) {
  int64_t M = net->M, h = M / 2, d = net->d;
  suri_rng r = suri_rng_make(net->hp.seed, SURI_RNG_INIT);
  for (int64_t k = 0; k < h; k++) {
    double *bk = net->b0 + k * d, nrm = 0;
    do {
      nrm = 0;
      for (int64_t j = 0; j < d; j++) {
        bk[j] = suri_rng_normal(&r);
        nrm += bk[j] * bk[j];
      }
    } while (nrm < 1e-300);
    nrm = sqrt(nrm);
    for (int64_t j = 0; j < d; j++) bk[j] /= nrm;
    memcpy(net->b0 + (k + h) * d, bk, (size_t)d * sizeof(double));
    net->a0[k] = net->hp.R;
    net->a0[k + h] = -net->hp.R;
    net->c0[k] = net->c0[k + h] = 0.0;
  }
  size_t bytes_m = (size_t)M * sizeof(double), bytes_b = (size_t)(M * d) * sizeof(double);
  memcpy(net->a, net->a0, bytes_m);
  memcpy(net->ab, net->a0, bytes_m);
  memcpy(net->c, net->c0, bytes_m);
  memcpy(net->cb, net->c0, bytes_m);
  memcpy(net->b, net->b0, bytes_b);
  memcpy(net->bb, net->b0, bytes_b);
}

suri_status suri_ntk2_new(int64_t d, const suri_ntk2_hp *hp, suri_ntk2 **out) {
  *out = NULL;
  suri_status st = hp ? check_hp(d, hp) : suri_fail(SURI_ERR_ARG, "ntk2: hp is NULL");
  if (st) return st;
  suri_ntk2 *net = suri_calloc(1, sizeof *net);
  if (!net) return SURI_ERR_NOMEM;
  net->hp = *hp;
  net->d = d;
  net->M = hp->width;
  net->inv_sqrt_m = 1.0 / sqrt((double)net->M);
  size_t M = (size_t)net->M, per = M * (size_t)(d + 2), total;
  if (suri_mul_size(per, 3, &total) || suri_mul_size(total + 2 * M, sizeof(double), &total) ||
      !(net->a = suri_alloc(total))) {
    suri_free(net);
    return suri_fail(SURI_ERR_NOMEM, "ntk2: cannot allocate a width-%zu network", M);
  }
  double *p = net->a;
  double **views[3][3] = {
      {&net->a, &net->b, &net->c}, {&net->a0, &net->b0, &net->c0}, {&net->ab, &net->bb, &net->cb}};
  for (int v = 0; v < 3; v++) {
    *views[v][0] = p;
    *views[v][1] = p + M;
    *views[v][2] = p + M + M * (size_t)d;
    p += per;
  }
  net->s = p;
  net->ds = p + M;
  init_params(net);
  *out = net;
  return SURI_OK;
}

/* act and act' of u_r = b_r . x + gamma_b c_r for the given (b, c) into net->s, net->ds. */
static void hidden(const suri_ntk2 *net, const double *b, const double *c, const double *x,
                   double *s, double *ds) {
  for (int64_t r = 0; r < net->M; r++) {
    double u = net->hp.gamma_b * c[r];
    for (int64_t j = 0; j < net->d; j++) u += b[r * net->d + j] * x[j];
    act_eval(&net->hp, u, &s[r], &ds[r]);
  }
}

/* J0(x) . (theta - theta0) over the trained layers, pairs (r, r + M/2) summed first. */
static double linear_output(const suri_ntk2 *net, const double *a, const double *b, const double *c,
                            const double *x, const double *s0, const double *ds0) {
  int64_t M = net->M, h = M / 2, d = net->d;
  double tot = 0;
  for (int64_t q = 0; q < h; q++) {
    double pair = 0;
    for (int64_t r = q; r < M; r += h) {
      double term = 0;
      if (net->hp.train_a) term += s0[r] * (a[r] - net->a0[r]);
      if (net->hp.train_b) {
        double db = net->hp.gamma_b * (c[r] - net->c0[r]);
        for (int64_t j = 0; j < d; j++) db += (b[r * d + j] - net->b0[r * d + j]) * x[j];
        term += net->a0[r] * ds0[r] * db;
      }
      pair += term;
    }
    tot += pair;
  }
  return tot * net->inv_sqrt_m;
}

static double output(const suri_ntk2 *net, const double *a, const double *s) {
  int64_t h = net->M / 2;
  double tot = 0;
  for (int64_t q = 0; q < h; q++) tot += a[q] * s[q] + a[q + h] * s[q + h];
  return tot * net->inv_sqrt_m;
}

double suri_ntk2_predict(const suri_ntk2 *net, const double *x, int averaged) {
  const double *a = averaged ? net->ab : net->a, *b = averaged ? net->bb : net->b;
  const double *c = averaged ? net->cb : net->c;
  double *s = net->s, *ds = net->ds; /* scratch (the struct's, so predict is not reentrant) */
  if (net->hp.linearized) {
    hidden(net, net->b0, net->c0, x, s, ds);
    return linear_output(net, a, b, c, x, s, ds);
  }
  hidden(net, b, c, x, s, ds);
  return output(net, a, s);
}

void suri_ntk2_step(suri_ntk2 *net, const double *x, double y) {
  const suri_ntk2_hp *hp = &net->hp;
  int64_t M = net->M, d = net->d;
  double *s = net->s, *ds = net->ds, z;
  if (hp->linearized) { /* gradient of g_lin is J0(x): activations at theta0 */
    hidden(net, net->b0, net->c0, x, s, ds);
    z = linear_output(net, net->a, net->b, net->c, x, s, ds);
  } else {
    hidden(net, net->b, net->c, x, s, ds);
    z = output(net, net->a, s);
  }
  const double e = z - y, eta = hp->eta, lam = hp->lambda, k = net->inv_sqrt_m;
  const double w = 1.0 / (double)(net->t + 2); /* running mean over t + 2 iterates */
  for (int64_t r = 0; r < M; r++) {
    double a_old = hp->linearized ? net->a0[r] : net->a[r]; /* the pre-update a_r */
    if (hp->train_a) net->a[r] -= eta * (e * s[r] * k + lam * (net->a[r] - net->a0[r]));
    if (hp->train_b) {
      double gb = e * a_old * ds[r] * k;
      double *br = net->b + r * d;
      const double *b0r = net->b0 + r * d;
      for (int64_t j = 0; j < d; j++) br[j] -= eta * (gb * x[j] + lam * (br[j] - b0r[j]));
      net->c[r] -= eta * (gb * hp->gamma_b + lam * (net->c[r] - net->c0[r]));
    }
    net->ab[r] += (net->a[r] - net->ab[r]) * w;
    net->cb[r] += (net->c[r] - net->cb[r]) * w;
    for (int64_t j = 0; j < d; j++)
      net->bb[r * d + j] += (net->b[r * d + j] - net->bb[r * d + j]) * w;
  }
  net->t++;
}

double suri_ntk2_kernel(const suri_ntk2 *net, const double *x, const double *x2, double *se) {
  int64_t h = net->M / 2, d = net->d;
  double xx = 0, sum = 0, sum2 = 0, R2 = net->hp.R * net->hp.R,
         gb2 = net->hp.gamma_b * net->hp.gamma_b;
  for (int64_t j = 0; j < d; j++) xx += x[j] * x2[j];
  for (int64_t r = 0; r < h; r++) { /* r and r + M/2 give the same summand at theta0 */
    double u = 0, u2 = 0, f, df, f2, df2;
    for (int64_t j = 0; j < d; j++) {
      u += net->b0[r * d + j] * x[j];
      u2 += net->b0[r * d + j] * x2[j];
    }
    act_eval(&net->hp, u, &f, &df);
    act_eval(&net->hp, u2, &f2, &df2);
    double term =
        (net->hp.train_a ? f * f2 : 0.0) + (net->hp.train_b ? R2 * (xx + gb2) * df * df2 : 0.0);
    sum += term;
    sum2 += term * term;
  }
  double mean = sum / (double)h;
  if (se) {
    double var = h > 1 ? (sum2 - (double)h * mean * mean) / (double)(h - 1) : 0.0;
    *se = sqrt(var > 0 ? var : 0.0) / sqrt((double)h);
  }
  return mean;
}

double suri_ntk2_kernel_relu_inf(const suri_ntk2 *net, const double *x, const double *x2) {
  const double pi = 3.14159265358979323846;
  double nx = 0, ny = 0, xy = 0;
  for (int64_t j = 0; j < net->d; j++) {
    nx += x[j] * x[j];
    ny += x2[j] * x2[j];
    xy += x[j] * x2[j];
  }
  nx = sqrt(nx);
  ny = sqrt(ny);
  double cphi = nx > 0 && ny > 0 ? xy / (nx * ny) : 1.0;
  cphi = cphi > 1 ? 1 : (cphi < -1 ? -1 : cphi);
  double phi = acos(cphi), k = 0;
  if (net->hp.train_a) k += nx * ny * (sin(phi) + (pi - phi) * cphi) / (2.0 * pi * (double)net->d);
  if (net->hp.train_b)
    k += net->hp.R * net->hp.R * (xy + net->hp.gamma_b * net->hp.gamma_b) * (pi - phi) / (2.0 * pi);
  return k;
}

void suri_ntk2_params(const suri_ntk2 *net, int which, const double **a, const double **b,
                      const double **c) {
  *a = which == 1 ? net->a0 : which == 2 ? net->ab : net->a;
  *b = which == 1 ? net->b0 : which == 2 ? net->bb : net->b;
  *c = which == 1 ? net->c0 : which == 2 ? net->cb : net->c;
}

int64_t suri_ntk2_steps(const suri_ntk2 *net) { return net->t; }
