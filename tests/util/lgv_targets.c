/* lgv_targets.c - see lgv_targets.h. */
#include <math.h>
#include <stdlib.h>

#include "lgv_targets.h"
#include "testutil.h"

suri_status lgv_gauss_grad(void *ctx, const suri_real *x, int64_t count, const int64_t *idx,
                           double *g, double *loss) {
  gauss_obj *o = ctx;
  double l = 0;
  for (int64_t j = 0; j < o->d; j++) g[j] = 0;
  for (int64_t t = 0; t < count; t++) {
    const double *ai = o->a + (idx ? idx[t] : t) * o->d;
    for (int64_t j = 0; j < o->d; j++) {
      double e = (double)x[j] - ai[j];
      g[j] += e;
      l += 0.5 * e * e;
    }
  }
  for (int64_t j = 0; j < o->d; j++) g[j] /= (double)count;
  if (loss) *loss = l / (double)count;
  return SURI_OK;
}

gauss_obj lgv_gauss_make(int64_t n, int64_t d, double scale, uint64_t seed) {
  gauss_obj o = {n, d, malloc((size_t)(n * d) * sizeof(double)), calloc((size_t)d, sizeof(double)),
                 calloc((size_t)d, sizeof(double))};
  assert_true(o.a && o.abar && o.s2);
  suri_rng r = suri_rng_make(seed, SURI_RNG_DATA);
  for (int64_t k = 0; k < n * d; k++) o.a[k] = scale * suri_rng_normal(&r);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) o.abar[j] += o.a[i * d + j] / (double)n;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) {
      double e = o.a[i * d + j] - o.abar[j];
      o.s2[j] += e * e / (double)n;
    }
  return o;
}

void lgv_gauss_free(gauss_obj *o) {
  free(o->a);
  free(o->abar);
  free(o->s2);
}

suri_objective lgv_gauss_objective(gauss_obj *o) {
  suri_objective obj = {o->n, (size_t)o->d, lgv_gauss_grad, o};
  return obj;
}

suri_status lgv_linreg_grad(void *ctx, const suri_real *x, int64_t count, const int64_t *idx,
                            double *g, double *loss) {
  linreg_obj *o = ctx;
  double l = 0;
  for (int64_t j = 0; j < o->p; j++) g[j] = 0;
  for (int64_t t = 0; t < count; t++) {
    int64_t i = idx ? idx[t] : t;
    const double *zi = o->z + i * o->p;
    double r = o->y[i];
    for (int64_t j = 0; j < o->p; j++) r -= zi[j] * (double)x[j];
    for (int64_t j = 0; j < o->p; j++) g[j] -= r * zi[j] / o->s2;
    l += r * r / (2 * o->s2);
  }
  for (int64_t j = 0; j < o->p; j++) g[j] /= (double)count;
  if (loss) *loss = l / (double)count;
  return SURI_OK;
}

linreg_obj lgv_linreg_make(int64_t n, double s2, uint64_t seed) {
  linreg_obj o = {n, 2, malloc((size_t)(2 * n) * sizeof(double)),
                  malloc((size_t)n * sizeof(double)), s2};
  assert_true(o.z && o.y);
  suri_rng r = suri_rng_make(seed, SURI_RNG_DATA);
  const double w[2] = {1.0, -0.5};
  for (int64_t i = 0; i < n; i++) {
    o.z[2 * i] = suri_rng_normal(&r);
    o.z[2 * i + 1] = 0.5 * o.z[2 * i] + suri_rng_normal(&r); /* correlated features */
    o.y[i] = w[0] * o.z[2 * i] + w[1] * o.z[2 * i + 1] + sqrt(s2) * suri_rng_normal(&r);
  }
  return o;
}

void tu_ridge(const suri_dataset *ds, double l1, double *m) {
  const int64_t n = ds->n, d = ds->dim;
  double A[8][9];
  for (int64_t a = 0; a < d; a++) {
    for (int64_t b = 0; b <= d; b++) A[a][b] = 0;
    for (int64_t i = 0; i < n; i++) {
      for (int64_t b = 0; b < d; b++)
        A[a][b] += (double)ds->x[i * d + a] * ds->x[i * d + b] / (double)n;
      A[a][d] += (double)ds->x[i * d + a] * ds->t[i] / (double)n;
    }
    A[a][a] += 2 * l1;
  }
  for (int64_t c = 0; c < d; c++)
    for (int64_t r = c + 1; r < d; r++) {
      double f = A[r][c] / A[c][c];
      for (int64_t b = c; b <= d; b++) A[r][b] -= f * A[c][b];
    }
  for (int64_t c = d - 1; c >= 0; c--) {
    double s = A[c][d];
    for (int64_t b = c + 1; b < d; b++) s -= A[c][b] * m[b];
    m[c] = s / A[c][c];
  }
}
