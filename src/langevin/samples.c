/* samples.c - parameter samples of a Langevin chain: burn-in and thinning, moments, the (S, P)
 * float32 NPY sample file, and the Bayesian model average (posterior predictive)
 *     p(y | x, data) ~ (1/S) sum_s p(y | x, theta_s),   theta_s ~ posterior,
 * which averages the predictive distributions (softmax / sigmoid probabilities), not the
 * logits or the parameters (Welling & Teh 2011, section 5; Bishop, PRML section 3.3.2). */
#include <math.h>
#include <string.h>

#include "suri/io.h"
#include "suri/langevin.h"
#include "suri/train.h"

struct suri_samples {
  size_t dim;
  int64_t cap, count, burn_in, every;
  float *rows; /* (cap, dim) */
};

int64_t suri_samples_expected(int64_t steps, int64_t burn_in, int64_t every) {
  if (every < 1 || burn_in < 0 || steps <= burn_in) return 0;
  return (steps - burn_in) / every;
}

suri_status suri_samples_new(size_t dim, int64_t capacity, int64_t burn_in, int64_t every,
                             suri_samples **out) {
  *out = NULL;
  if (dim < 1 || capacity < 1 || burn_in < 0 || every < 1)
    return suri_fail(SURI_ERR_ARG, "samples: need dim >= 1, capacity >= 1, burn-in >= 0 and "
                     "sample-every >= 1 (got %zu, %lld, %lld, %lld)", dim, (long long)capacity,
                     (long long)burn_in, (long long)every);
  size_t bytes;
  if (suri_mul_size((size_t)capacity, dim, &bytes) || suri_mul_size(bytes, sizeof(float), &bytes))
    return suri_fail(SURI_ERR_NOMEM, "samples: %lld x %zu floats overflow", (long long)capacity,
                     dim);
  suri_samples *ss = suri_calloc(1, sizeof *ss);
  if (!ss) return SURI_ERR_NOMEM;
  ss->rows = suri_alloc(bytes);
  if (!ss->rows) {
    suri_free(ss);
    return suri_fail(SURI_ERR_NOMEM, "samples: cannot allocate %lld samples of %zu parameters "
                     "(%zu bytes)", (long long)capacity, dim, bytes);
  }
  ss->dim = dim;
  ss->cap = capacity;
  ss->burn_in = burn_in;
  ss->every = every;
  *out = ss;
  return SURI_OK;
}

void suri_samples_free(suri_samples *ss) {
  if (!ss) return;
  suri_free(ss->rows);
  suri_free(ss);
}

suri_status suri_samples_offer(suri_samples *ss, int64_t t, const suri_real *x) {
  if (t <= ss->burn_in || (t - ss->burn_in) % ss->every != 0) return SURI_OK;
  if (ss->count >= ss->cap)
    return suri_fail(SURI_ERR_STATE, "samples: buffer of %lld samples is full at step %lld",
                     (long long)ss->cap, (long long)t);
  float *r = ss->rows + (size_t)ss->count * ss->dim;
  for (size_t j = 0; j < ss->dim; j++) r[j] = (float)x[j];
  ss->count++;
  return SURI_OK;
}

int64_t suri_samples_count(const suri_samples *ss) { return ss->count; }
size_t suri_samples_dim(const suri_samples *ss) { return ss->dim; }
const float *suri_samples_data(const suri_samples *ss) { return ss->rows; }

suri_status suri_samples_moments(const suri_samples *ss, double *mean, double *cov) {
  int64_t S = ss->count;
  size_t d = ss->dim;
  if (S < 1 || (cov && S < 2))
    return suri_fail(SURI_ERR_STATE, "samples: %lld samples are too few for the %s", (long long)S,
                     cov ? "covariance" : "mean");
  for (size_t j = 0; j < d; j++) mean[j] = 0;
  for (int64_t s = 0; s < S; s++)
    for (size_t j = 0; j < d; j++) mean[j] += (double)ss->rows[(size_t)s * d + j];
  for (size_t j = 0; j < d; j++) mean[j] /= (double)S;
  if (!cov) return SURI_OK;
  memset(cov, 0, d * d * sizeof(double));
  for (int64_t s = 0; s < S; s++) {
    const float *r = ss->rows + (size_t)s * d;
    for (size_t i = 0; i < d; i++)
      for (size_t j = 0; j <= i; j++)
        cov[i * d + j] += ((double)r[i] - mean[i]) * ((double)r[j] - mean[j]);
  }
  for (size_t i = 0; i < d; i++)
    for (size_t j = 0; j <= i; j++) cov[j * d + i] = cov[i * d + j] /= (double)(S - 1);
  return SURI_OK;
}

suri_status suri_samples_write_npy(const suri_samples *ss, const char *path) {
  if (ss->count < 1)
    return suri_fail(SURI_ERR_STATE, "samples: no samples to write to %s (burn-in %lld, every "
                     "%lld)", path, (long long)ss->burn_in, (long long)ss->every);
  int64_t dim[2] = {ss->count, (int64_t)ss->dim};
  return suri_npy_write(path, SURI_DT_F32, 2, dim, ss->rows);
}

suri_status suri_samples_read_npy(const char *path, int64_t P_expect, int64_t *S, int64_t *P,
                                  float **data) {
  suri_array a;
  *data = NULL;
  suri_status st = suri_npy_read(path, 0, &a);
  if (st) return st;
  if (a.rank != 2 || (a.dtype != SURI_DT_F32 && a.dtype != SURI_DT_F64) || a.dim[0] < 1) {
    suri_array_free(&a);
    return suri_fail(SURI_ERR_FORMAT, "%s: a sample file must be a non-empty (S, P) f4 or f8 "
                     "array", path);
  }
  if (P_expect > 0 && a.dim[1] != P_expect) {
    int64_t got = a.dim[1];
    suri_array_free(&a);
    return suri_fail(SURI_ERR_SHAPE, "%s: samples have %lld parameters but the model has %lld",
                     path, (long long)got, (long long)P_expect);
  }
  int64_t n = a.dim[0] * a.dim[1];
  float *out = suri_alloc((size_t)n * sizeof(float));
  if (!out) {
    suri_array_free(&a);
    return SURI_ERR_NOMEM;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = suri_array_get(&a, i);
    if (!isfinite(v) || fabs(v) > 3.4e38) {
      int64_t row = i / a.dim[1], col = i % a.dim[1];
      suri_free(out);
      suri_array_free(&a);
      return suri_fail(SURI_ERR_NUMERIC, "%s: sample %lld, parameter %lld is not a finite "
                       "float32", path, (long long)row, (long long)col);
    }
    out[i] = (float)v;
  }
  *S = a.dim[0];
  *P = a.dim[1];
  *data = out;
  suri_array_free(&a);
  return SURI_OK;
}

/* acc (n, OUT) = (1/S) sum_s transform(f(x; theta_s)) in double; restores the parameters. */
static suri_status bma_accum(suri_model *m, int64_t S, int64_t P, const float *samples,
                             int64_t n, const suri_real *x, double *acc) {
  const suri_model_spec *sp = suri_model_get_spec(m);
  int64_t C = sp->width[sp->n_widths - 1];
  if (S < 1 || n < 1 || !samples || !x)
    return suri_fail(SURI_ERR_ARG, "bma: need >= 1 sample and >= 1 input row");
  if (P != (int64_t)suri_model_param_numel(m))
    return suri_fail(SURI_ERR_SHAPE, "bma: samples have %lld parameters but the model has %zu",
                     (long long)P, suri_model_param_numel(m));
  size_t np = suri_model_param_count(m), no = (size_t)(n * C);
  suri_real *saved = suri_alloc(np * sizeof(suri_real));
  suri_real *theta = suri_alloc((size_t)P * sizeof(suri_real));
  suri_real *out = suri_alloc(no * sizeof(suri_real));
  suri_status st = saved && theta && out ? SURI_OK : SURI_ERR_NOMEM;
  if (!st) memcpy(saved, suri_model_params(m), np * sizeof(suri_real));
  memset(acc, 0, no * sizeof(double));
  for (int64_t s = 0; s < S && !st; s++) {
    for (int64_t j = 0; j < P; j++) theta[j] = (suri_real)samples[(size_t)(s * P + j)];
    suri_model_params_unpack(m, theta);
    st = suri_model_predict(m, n, x, out);
    for (int64_t i = 0; i < n && !st; i++) {
      const suri_real *o = out + i * C;
      double *a = acc + i * C;
      if (sp->loss == SURI_LOSS_CE) { /* softmax in double, max-shifted */
        double mx = (double)o[0], z = 0;
        for (int64_t k = 1; k < C; k++) mx = fmax(mx, (double)o[k]);
        for (int64_t k = 0; k < C; k++) z += exp((double)o[k] - mx);
        for (int64_t k = 0; k < C; k++) a[k] += exp((double)o[k] - mx) / z;
      } else if (sp->loss == SURI_LOSS_LOGISTIC) {
        for (int64_t k = 0; k < C; k++) a[k] += 1.0 / (1.0 + exp(-(double)o[k]));
      } else {
        for (int64_t k = 0; k < C; k++) a[k] += (double)o[k];
      }
    }
  }
  if (saved && st != SURI_ERR_NOMEM) memcpy(suri_model_params(m), saved, np * sizeof(suri_real));
  for (size_t i = 0; i < no; i++) acc[i] /= (double)S;
  suri_free(saved);
  suri_free(theta);
  suri_free(out);
  return st == SURI_ERR_NOMEM ? suri_fail(st, "bma: cannot allocate %zu outputs", no) : st;
}

suri_status suri_bma_predict(suri_model *m, int64_t S, int64_t P, const float *samples,
                             int64_t n, const suri_real *x, suri_real *out) {
  const suri_model_spec *sp = suri_model_get_spec(m);
  size_t no = (size_t)(n > 0 ? n : 0) * (size_t)sp->width[sp->n_widths - 1];
  double *acc = suri_alloc((no ? no : 1) * sizeof(double));
  if (!acc) return SURI_ERR_NOMEM;
  suri_status st = bma_accum(m, S, P, samples, n, x, acc);
  for (size_t i = 0; !st && i < no; i++) out[i] = (suri_real)acc[i];
  suri_free(acc);
  return st;
}

suri_status suri_bma_evaluate(suri_model *m, int64_t S, int64_t P, const float *samples,
                              const suri_dataset *d, double *loss, double *accuracy) {
  const suri_model_spec *sp = suri_model_get_spec(m);
  suri_status st = suri_train_check_data(m, d, "evaluation");
  if (st) return st;
  int64_t C = sp->width[sp->n_widths - 1], n = d->n;
  double *acc = suri_alloc((size_t)(n * C) * sizeof(double));
  if (!acc) return SURI_ERR_NOMEM;
  st = bma_accum(m, S, P, samples, n, d->x, acc);
  double total = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < n && !st; i++) {
    const double *p = acc + i * C;
    if (sp->loss == SURI_LOSS_CE) {
      int64_t best = 0;
      for (int64_t k = 1; k < C; k++)
        if (p[k] > p[best]) best = k;
      correct += best == d->y[i];
      total -= log(fmax(p[d->y[i]], 1e-12));
    } else if (sp->loss == SURI_LOSS_LOGISTIC) {
      double t = d->t ? (double)d->t[i] : (double)d->y[i];
      total -= t * log(fmax(p[0], 1e-12)) + (1 - t) * log(fmax(1 - p[0], 1e-12));
      correct += (p[0] > 0.5) == (t > 0.5);
    } else {
      for (int64_t k = 0; k < C; k++) {
        double e = p[k] - (double)d->t[i * C + k];
        total += e * e / (double)C;
      }
    }
  }
  suri_free(acc);
  if (st) return st;
  *loss = total / (double)n;
  *accuracy = sp->loss == SURI_LOSS_MSE ? NAN : (double)correct / (double)n;
  return SURI_OK;
}
