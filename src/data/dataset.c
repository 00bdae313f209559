/* dataset.c - the data set object (allocation, freeing) and feature normalisation:
 * scaling of u8 values to [0, 1] and per-feature standardisation (z-scores)
 *     x'_ij = (x_ij - mean_j) / std_j,  mean_j = (1/n) sum_i x_ij,
 *     std_j = sqrt((1/n) sum_i (x_ij - mean_j)^2)   (population std, as sklearn's StandardScaler),
 * computed in double with two passes (the one-pass formula loses digits when |mean| >> std).
 * A feature with std_j <= 1e-6 max_i |x_ij| is constant up to f32 rounding; dividing by that
 * std would blow rounding noise up to O(1) values, so it gets std 1 and is only centred.
 * The statistics are kept in the set so a test set can be standardised with the training set's
 * (suri_dataset_normalize_like): standardising each split with its own statistics would leak
 * test information and shift the test inputs relative to what the model was trained on. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/data_internal.h"

suri_status suri_dataset_new(int64_t n, int64_t dim, int64_t classes, int64_t targets,
                             const char *name, suri_dataset **out) {
  return data_new(n, dim, classes, targets, name, DATA_ZERO, out);
}

/* The loaders allocate the features uninitialised (DATA_UNINIT: they overwrite every value,
 * and zero-filling 25 MB of mnist10k floats was ~10 % of `suri train`'s start-up), as u8
 * (DATA_U8) or not at all (DATA_EMPTY, the caller hands over x8). Labels and targets are
 * zeroed. */
suri_status data_new(int64_t n, int64_t dim, int64_t classes, int64_t targets, const char *name,
                     data_store store, suri_dataset **out) {
  if (!out) return suri_fail(SURI_ERR_ARG, "suri_dataset_new: out is NULL");
  if (n < 1 || dim < 1 || classes < 0 || targets < 0)
    return suri_fail(SURI_ERR_ARG, "data set '%s': bad sizes n=%lld dim=%lld classes=%lld "
                     "targets=%lld (need n, dim >= 1, classes, targets >= 0)", name ? name : "",
                     (long long)n, (long long)dim, (long long)classes, (long long)targets);
  if (n > DATA_MAX_VALUES / dim || (targets > 0 && n > DATA_MAX_VALUES / targets))
    return suri_fail(SURI_ERR_NOMEM, "data set '%s': %lld x %lld values exceed the limit of %lld",
                     name ? name : "", (long long)n, (long long)(dim > targets ? dim : targets),
                     (long long)DATA_MAX_VALUES);
  suri_dataset *d = suri_calloc(1, sizeof *d);
  if (!d) return SURI_ERR_NOMEM;
  d->n = n;
  d->dim = dim;
  d->classes = classes;
  d->targets = targets;
  if (store == DATA_ZERO) d->x = suri_calloc((size_t)(n * dim), sizeof(suri_real));
  else if (store == DATA_UNINIT) d->x = suri_alloc((size_t)(n * dim) * sizeof(suri_real));
  else if (store == DATA_U8) d->x8 = suri_alloc((size_t)(n * dim));
  if (classes > 0) d->y = suri_calloc((size_t)n, sizeof(int32_t));
  if (targets > 0) d->t = suri_calloc((size_t)(n * targets), sizeof(suri_real));
  if ((store != DATA_EMPTY && !d->x && !d->x8) || (classes > 0 && !d->y) ||
      (targets > 0 && !d->t)) {
    suri_dataset_free(d);
    return suri_fail(SURI_ERR_NOMEM, "data set '%s': cannot allocate %lld x %lld values",
                     name ? name : "", (long long)n, (long long)dim);
  }
  if (name) snprintf(d->name, sizeof d->name, "%s", name);
  *out = d;
  return SURI_OK;
}

void suri_dataset_free(suri_dataset *d) {
  if (!d) return;
  suri_free(d->x);
  suri_free(d->x8);
  suri_free(d->y);
  suri_free(d->t);
  suri_free(d->mean);
  suri_free(d->std);
  suri_free(d);
}

void data_scale_u8(suri_dataset *d) {
  size_t total = (size_t)(d->n * d->dim);
  /* x holds exact integers 0..255; x / 255 is then the correctly rounded p / 255. A compact
   * set only records the scale: its rows are converted the same way when they are read. */
  if (!d->x8)
    for (size_t i = 0; i < total; i++) d->x[i] = (suri_real)(d->x[i] / (suri_real)255);
  d->scaled = 1;
  d->norm = SURI_DATA_NORM_SCALE;
}

void data_u8_row(const suri_dataset *d, const uint8_t *src, int64_t count, suri_real *dst) {
  /* (suri_real)p / 255 is exactly data_scale_u8's value for the float p. */
  if (d->scaled)
    for (int64_t j = 0; j < count; j++) dst[j] = (suri_real)src[j] / (suri_real)255;
  else
    for (int64_t j = 0; j < count; j++) dst[j] = (suri_real)src[j];
}

suri_status suri_dataset_dense(suri_dataset *d) {
  if (!d) return suri_fail(SURI_ERR_ARG, "suri_dataset_dense: data set is NULL");
  if (!d->x8) return SURI_OK;
  suri_real *x = suri_alloc((size_t)(d->n * d->dim) * sizeof(suri_real));
  if (!x)
    return suri_fail(SURI_ERR_NOMEM, "data set '%s': cannot allocate %lld x %lld values",
                     d->name, (long long)d->n, (long long)d->dim);
  data_u8_row(d, d->x8, d->n * d->dim, x);
  suri_free(d->x8);
  d->x8 = NULL;
  d->x = x;
  return SURI_OK;
}

/* How to turn a stored x into the value to standardise: v = (x * so + mo) * f, where (mo, so)
 * undo an existing standardisation and f converts between scaled and unscaled units. */
typedef struct undo {
  const double *mo, *so; /* (dim) or NULL */
  double f;
} undo;

static double undone(const undo *u, int64_t j, suri_real x) {
  double v = (double)x;
  if (u->so) v = v * u->so[j] + u->mo[j];
  return u->f == 1.0 ? v : v * u->f;
}

/* Population mean and std of the undone values (two passes, double, row-major order for the
 * cache). mx: (dim) scratch for the largest |v| per feature. */
static void compute_stats(const suri_dataset *d, const undo *u, double *mean, double *std,
                          double *mx) {
  int64_t n = d->n, dim = d->dim;
  for (int64_t j = 0; j < dim; j++) mean[j] = std[j] = mx[j] = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < dim; j++) mean[j] += undone(u, j, d->x[i * dim + j]);
  for (int64_t j = 0; j < dim; j++) mean[j] /= (double)n;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < dim; j++) {
      double v = undone(u, j, d->x[i * dim + j]), e = v - mean[j];
      std[j] += e * e;
      if (fabs(v) > mx[j]) mx[j] = fabs(v);
    }
  for (int64_t j = 0; j < dim; j++) {
    double s = sqrt(std[j] / (double)n);
    std[j] = s > 1e-6 * mx[j] ? s : 1.0;
  }
}

/* x = (undone(x) - mean) / std, or just undone(x) when mean == NULL; one rounding per value. */
static void transform(suri_dataset *d, const undo *u, const double *mean, const double *std) {
  int64_t n = d->n, dim = d->dim;
  for (int64_t i = 0; i < n; i++) {
    suri_real *row = d->x + i * dim;
    for (int64_t j = 0; j < dim; j++) {
      double v = undone(u, j, row[j]);
      row[j] = (suri_real)(mean ? (v - mean[j]) / std[j] : v);
    }
  }
}

/* Sets d's stats to copies of (mean, std) (or clears them when mean == NULL). */
static suri_status store_stats(suri_dataset *d, const double *mean, const double *std) {
  double *m = NULL, *s = NULL;
  if (mean) {
    m = suri_alloc((size_t)d->dim * sizeof(double));
    s = suri_alloc((size_t)d->dim * sizeof(double));
    if (!m || !s) {
      suri_free(m);
      suri_free(s);
      return SURI_ERR_NOMEM;
    }
    memcpy(m, mean, (size_t)d->dim * sizeof(double));
    memcpy(s, std, (size_t)d->dim * sizeof(double));
  }
  suri_free(d->mean);
  suri_free(d->std);
  d->mean = m;
  d->std = s;
  return SURI_OK;
}

static suri_status check_stats(const suri_dataset *d, const double *mean, const double *std) {
  for (int64_t j = 0; j < d->dim; j++)
    if (!isfinite(mean[j]) || !isfinite(std[j]) || !(std[j] > 0))
      return suri_fail(SURI_ERR_ARG, "data set '%s': standardisation statistics of feature %lld "
                       "are invalid (mean %g, std %g; need finite mean and std > 0)", d->name,
                       (long long)j, mean[j], std[j]);
  return SURI_OK;
}

/* Core of standardize / normalize_like: undo d's state with factor f, then apply (mean, std)
 * (computed from the undone values if mean == NULL and compute != 0; none if mean == NULL and
 * compute == 0). */
static suri_status restate(suri_dataset *d, double f, const double *mean, const double *std,
                           int compute) {
  undo u = {d->mean, d->std, f};
  double *tmp = NULL;
  suri_status st = SURI_OK;
  /* A compact set that keeps its state (same scale, no statistics) stays compact; any other
   * change is made on float values. */
  if (d->x8 && f == 1.0 && !mean && !compute) return SURI_OK;
  if ((st = suri_dataset_dense(d))) return st;
  if (mean) st = check_stats(d, mean, std);
  if (st != SURI_OK) return st;
  if (!mean && compute) {
    if (!(tmp = suri_alloc(3 * (size_t)d->dim * sizeof(double)))) return SURI_ERR_NOMEM;
    compute_stats(d, &u, tmp, tmp + d->dim, tmp + 2 * d->dim);
    mean = tmp;
    std = tmp + d->dim;
  }
  transform(d, &u, mean, std);
  st = store_stats(d, mean, std); /* copies first: mean may alias d->mean */
  suri_free(tmp);
  return st;
}

suri_status suri_dataset_standardize(suri_dataset *d, const double *mean, const double *std) {
  if (!d) return suri_fail(SURI_ERR_ARG, "suri_dataset_standardize: data set is NULL");
  if ((mean == NULL) != (std == NULL))
    return suri_fail(SURI_ERR_ARG, "data set '%s': give both mean and std, or neither", d->name);
  suri_status st = restate(d, 1.0, mean, std, 1);
  if (st == SURI_OK) d->norm = SURI_DATA_NORM_STANDARD;
  return st;
}

suri_status suri_dataset_normalize_like(suri_dataset *test, const suri_dataset *train) {
  if (!test || !train) return suri_fail(SURI_ERR_ARG, "suri_dataset_normalize_like: NULL data set");
  if (test->dim != train->dim)
    return suri_fail(SURI_ERR_SHAPE, "data set '%s' has %lld features but '%s' has %lld: cannot "
                     "normalise one like the other", test->name, (long long)test->dim,
                     train->name, (long long)train->dim);
  double f = 1.0;
  if (test->scaled && !train->scaled) f = 255.0;
  if (!test->scaled && train->scaled) f = 1.0 / 255.0;
  int standard = train->norm == SURI_DATA_NORM_STANDARD && train->mean;
  suri_status st = restate(test, f, standard ? train->mean : NULL, standard ? train->std : NULL, 0);
  if (st != SURI_OK) return st;
  test->scaled = train->scaled;
  test->norm = standard ? SURI_DATA_NORM_STANDARD
                        : (train->scaled ? SURI_DATA_NORM_SCALE : SURI_DATA_NORM_NONE);
  return SURI_OK;
}
