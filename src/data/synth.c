/* synth.c - synthetic data sets drawn from the counter-based stream (seed, SURI_RNG_DATA):
 * gauss, teacher and parity.
 *
 * gauss: a balanced Gaussian mixture. Class means mu_c ~ N(0, (sep^2/d) I_d), so
 *   E|mu_c|^2 = sep^2 and E|mu_c - mu_c'|^2 = 2 sep^2 whatever d is; sample i has label
 *   y_i = i mod C and x_i = mu_{y_i} + z_i, z_i ~ N(0, I_d). The Bayes error is governed by
 *   the distances between means in units of the unit noise.
 * teacher: regression targets from a random two-layer network (the student-teacher setting of
 *   e.g. Saad & Solla 1995, Goldt et al. 2019): x ~ N(0, I_d), w_j ~ N(0, I_d / d) (so every
 *   pre-activation w_j . x has unit variance), a_jk ~ N(0, 1),
 *   t_k = sum_j a_jk act(w_j . x) / sqrt(W) + noise * eps_k, eps ~ N(0, 1)
 *   (the 1/sqrt(W) keeps t at O(1) scale for any width W). Computed in double.
 *
 * parity: the k-sparse parity problem (Ghorbani et al. 2019; Suzuki, Wu, Oko, Nitanda 2023):
 *   x uniform on {-1, +1}^d, label 1 if x_1 x_2 ... x_k = +1 else 0. Coordinate j of sample i
 *   of split s is bit 0 of the first word of block (s << 40) + i d + j, exactly what
 *   examples/mfld_parity.c draws, so the CLI and the example train on the same sets.
 *
 * Counter layout of the gauss and teacher streams (a value depends only on its block index,
 * so prefixes and splits are stable): the distribution's parameters (means; teacher W then a)
 * start at block 0 (a at block 2^48); sample i of split s (train 0, test 1) uses blocks starting at
 * (s + 1) * 2^56 + i * B with B = ceil(d/2) (+ ceil(K/2) for the teacher's noise), two normals
 * per block. Hence n=100 is a prefix of n=1000, and split=test gives new samples of the same
 * distribution. */
#include <math.h>
#include <string.h>

#include "data/data_internal.h"

#define PARAM_A_BLOCK ((uint64_t)1 << 48)
#define SAMPLE_BASE(split) ((uint64_t)((split) + 1) << 56)

/* Reads split=train|test (0/1). */
static suri_status take_split(dspec *s, int *split) {
  const char *v = dspec_take(s, "split");
  *split = 0;
  if (!v || !strcmp(v, "train")) return SURI_OK;
  if (!strcmp(v, "test")) {
    *split = 1;
    return SURI_OK;
  }
  return suri_fail(SURI_ERR_ARG, "data spec '%s': split=%s must be train or test", s->text, v);
}

static suri_status too_big(const dspec *s, const char *what) {
  return suri_fail(SURI_ERR_ARG, "data spec '%s': %s is too large (at most 2^31 values)", s->text,
                   what);
}

suri_status data_load_gauss(dspec *s, int64_t limit, suri_dataset **out, int *is_u8) {
  int64_t n, d, C, seed;
  double sep;
  int split;
  suri_status st = dspec_npos(s, 0, 0, "gauss:n=N,d=D,classes=C,sep=S,seed=K,split=train|test");
  if (st == SURI_OK) st = dspec_int(s, "n", 1000, 1, DATA_MAX_VALUES, &n);
  if (st == SURI_OK) st = dspec_int(s, "d", 10, 1, DATA_MAX_VALUES, &d);
  if (st == SURI_OK) st = dspec_int(s, "classes", 2, 1, 1 << 20, &C);
  if (st == SURI_OK) st = dspec_real(s, "sep", 3.0, 0.0, 1e6, &sep);
  if (st == SURI_OK) st = dspec_int(s, "seed", 0, 0, INT64_MAX, &seed);
  if (st == SURI_OK) st = take_split(s, &split);
  if (st == SURI_OK) st = dspec_check_used(s, "n, d, classes, sep, seed, split");
  if (st != SURI_OK) return st;
  if (n > limit) n = limit;
  if (C > DATA_MAX_VALUES / d) return too_big(s, "classes x d");
  suri_dataset *ds = NULL;
  if ((st = suri_dataset_new(n, d, C, 0, s->text, &ds)) != SURI_OK) return st;
  suri_real *mu = suri_alloc((size_t)(C * d) * sizeof(suri_real));
  if (!mu) {
    suri_dataset_free(ds);
    return SURI_ERR_NOMEM;
  }
  suri_rng r = suri_rng_make((uint64_t)seed, SURI_RNG_DATA);
  suri_rng_fill_normal(&r, (size_t)(C * d), mu, 0.0, sep / sqrt((double)d));
  uint64_t per = (uint64_t)(d + 1) / 2;
  for (int64_t i = 0; i < n; i++) {
    suri_real *x = ds->x + i * d;
    const suri_real *m = mu + (i % C) * d;
    r.counter = SAMPLE_BASE(split) + (uint64_t)i * per;
    suri_rng_fill_normal(&r, (size_t)d, x, 0.0, 1.0);
    for (int64_t j = 0; j < d; j++) x[j] += m[j];
    ds->y[i] = (int32_t)(i % C);
  }
  suri_free(mu);
  *is_u8 = 0;
  *out = ds;
  return SURI_OK;
}

/* ---- teacher ------------------------------------------------------------------------------ */

static const char *const act_names[] = {"relu", "leaky_relu", "tanh", "sigmoid",
                                        "gelu", "erf",        "softplus", "identity"};
#define N_ACTS ((int)(sizeof act_names / sizeof act_names[0]))

/* The activations of suri/nn.h (leaky slope 0.01 as there). */
static double act(int k, double u) {
  switch (k) {
  case 0: return u > 0 ? u : 0;
  case 1: return u > 0 ? u : 0.01 * u;
  case 2: return tanh(u);
  case 3: return 1.0 / (1.0 + exp(-u));
  case 4: return 0.5 * u * (1.0 + erf(u * 0.70710678118654752440));
  case 5: return erf(u);
  case 6: return u > 0 ? u + log1p(exp(-u)) : log1p(exp(u)); /* stable softplus */
  default: return u;
  }
}

static suri_status take_act(dspec *s, int *k) {
  const char *v = dspec_take(s, "act");
  *k = 2; /* tanh */
  if (!v) return SURI_OK;
  for (int i = 0; i < N_ACTS; i++)
    if (!strcmp(v, act_names[i])) {
      *k = i;
      return SURI_OK;
    }
  return suri_fail(SURI_ERR_ARG, "data spec '%s': act=%s unknown (relu, leaky_relu, tanh, "
                   "sigmoid, gelu, erf, softplus, identity)", s->text, v);
}

typedef struct teacher {
  int64_t d, K, W;
  int act;
  double noise;
  suri_real *w, *a; /* w: (W, d), a: (W, K) */
  double *h;        /* (W) scratch */
  suri_real *eps;   /* (K) scratch */
} teacher;

/* t: (K) targets of input x: (d). */
static void teach(const teacher *T, const suri_real *x, suri_real *t) {
  for (int64_t j = 0; j < T->W; j++) {
    double u = 0;
    for (int64_t i = 0; i < T->d; i++) u += (double)T->w[j * T->d + i] * x[i];
    T->h[j] = act(T->act, u);
  }
  double inv = 1.0 / sqrt((double)T->W);
  for (int64_t k = 0; k < T->K; k++) {
    double v = 0;
    for (int64_t j = 0; j < T->W; j++) v += (double)T->a[j * T->K + k] * T->h[j];
    t[k] = (suri_real)(v * inv + T->noise * T->eps[k]);
  }
}

static suri_status teacher_opts(dspec *s, int64_t *n, teacher *T, int64_t *seed, int *split) {
  suri_status st = dspec_npos(s, 0, 0, "teacher:n=N,d=D,out=K,width=W,act=A,noise=S,seed=K");
  if (st == SURI_OK) st = dspec_int(s, "n", 1000, 1, DATA_MAX_VALUES, n);
  if (st == SURI_OK) st = dspec_int(s, "d", 10, 1, DATA_MAX_VALUES, &T->d);
  if (st == SURI_OK) st = dspec_int(s, "out", 1, 1, DATA_MAX_VALUES, &T->K);
  if (st == SURI_OK) st = dspec_int(s, "width", 100, 1, DATA_MAX_VALUES, &T->W);
  if (st == SURI_OK) st = take_act(s, &T->act);
  if (st == SURI_OK) st = dspec_real(s, "noise", 0.0, 0.0, 1e6, &T->noise);
  if (st == SURI_OK) st = dspec_int(s, "seed", 0, 0, INT64_MAX, seed);
  if (st == SURI_OK) st = take_split(s, split);
  if (st == SURI_OK) st = dspec_check_used(s, "n, d, out, width, act, noise, seed, split");
  if (st != SURI_OK) return st;
  if (T->W > DATA_MAX_VALUES / T->d || T->W > DATA_MAX_VALUES / T->K)
    return too_big(s, "the teacher (width x d or width x out)");
  return SURI_OK;
}

suri_status data_load_teacher(dspec *s, int64_t limit, suri_dataset **out, int *is_u8) {
  teacher T;
  int64_t n, seed;
  int split;
  memset(&T, 0, sizeof T);
  suri_status st = teacher_opts(s, &n, &T, &seed, &split);
  if (st != SURI_OK) return st;
  if (n > limit) n = limit;
  suri_dataset *ds = NULL;
  if ((st = suri_dataset_new(n, T.d, 0, T.K, s->text, &ds)) != SURI_OK) return st;
  T.w = suri_alloc((size_t)(T.W * T.d) * sizeof(suri_real));
  T.a = suri_alloc((size_t)(T.W * T.K) * sizeof(suri_real));
  T.h = suri_alloc((size_t)T.W * sizeof(double));
  T.eps = suri_alloc((size_t)T.K * sizeof(suri_real));
  if (T.w && T.a && T.h && T.eps) {
    suri_rng r = suri_rng_make((uint64_t)seed, SURI_RNG_DATA);
    suri_rng_fill_normal(&r, (size_t)(T.W * T.d), T.w, 0.0, 1.0 / sqrt((double)T.d));
    r.counter = PARAM_A_BLOCK;
    suri_rng_fill_normal(&r, (size_t)(T.W * T.K), T.a, 0.0, 1.0);
    uint64_t bx = (uint64_t)(T.d + 1) / 2, per = bx + (uint64_t)(T.K + 1) / 2;
    for (int64_t i = 0; i < n; i++) {
      r.counter = SAMPLE_BASE(split) + (uint64_t)i * per;
      suri_rng_fill_normal(&r, (size_t)T.d, ds->x + i * T.d, 0.0, 1.0);
      r.counter = SAMPLE_BASE(split) + (uint64_t)i * per + bx;
      suri_rng_fill_normal(&r, (size_t)T.K, T.eps, 0.0, 1.0);
      teach(&T, ds->x + i * T.d, ds->t + i * T.K);
    }
  } else {
    st = SURI_ERR_NOMEM;
  }
  suri_free(T.w);
  suri_free(T.a);
  suri_free(T.h);
  suri_free(T.eps);
  if (st != SURI_OK) {
    suri_dataset_free(ds);
    return st;
  }
  *is_u8 = 0;
  *out = ds;
  return SURI_OK;
}

/* ---- parity ------------------------------------------------------------------------------- */

suri_status data_load_parity(dspec *s, int64_t limit, suri_dataset **out, int *is_u8) {
  int64_t n, d, k, seed;
  int split;
  suri_status st = dspec_npos(s, 0, 0, "parity:n=N,d=D,k=K,seed=S,split=train|test");
  if (st == SURI_OK) st = dspec_int(s, "n", 2000, 1, DATA_MAX_VALUES, &n);
  if (st == SURI_OK) st = dspec_int(s, "d", 20, 1, DATA_MAX_VALUES, &d);
  if (st == SURI_OK) st = dspec_int(s, "k", 3, 1, DATA_MAX_VALUES, &k);
  if (st == SURI_OK) st = dspec_int(s, "seed", 0, 0, INT64_MAX, &seed);
  if (st == SURI_OK) st = take_split(s, &split);
  if (st == SURI_OK) st = dspec_check_used(s, "n, d, k, seed, split");
  if (st != SURI_OK) return st;
  if (k > d)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': k=%lld must be at most d=%lld", s->text,
                     (long long)k, (long long)d);
  if (n > limit) n = limit;
  if (n > DATA_MAX_VALUES / d) return too_big(s, "n x d");
  suri_dataset *ds = NULL;
  if ((st = suri_dataset_new(n, d, 2, 0, s->text, &ds)) != SURI_OK) return st;
  const suri_rng r = suri_rng_make((uint64_t)seed, SURI_RNG_DATA);
  const uint64_t base = (uint64_t)split << 40;
  for (int64_t i = 0; i < n; i++) {
    int prod = 1;
    for (int64_t j = 0; j < d; j++) {
      uint32_t b[4];
      suri_rng_block(&r, base + (uint64_t)(i * d + j), b);
      int v = (b[0] & 1u) ? 1 : -1;
      ds->x[i * d + j] = (suri_real)v;
      if (j < k) prod *= v;
    }
    ds->y[i] = prod > 0;
  }
  *is_u8 = 0;
  *out = ds;
  return SURI_OK;
}
