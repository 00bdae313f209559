/* files.c - data sets from files: the bundled mnist10k, IDX (LeCun's MNIST format), NPY and
 * CSV. The parsers live in src/io (suri_idx_read, suri_npy_read, suri_csv_read); this file
 * turns their arrays into a suri_dataset: features flattened to (N, D) suri_real, checked
 * finite (the message names row and column: a NaN in the data would otherwise surface much
 * later as a NaN loss), class labels checked to be integers in [0, 2^31), regression targets
 * from float Y arrays, and N checked equal between features and labels. Under
 * suri_data_load_u8, u8 features stay u8 (compact storage, x8): the reader's buffer is kept as
 * it is, and rows are converted when they are gathered. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

/* Element i of a as double: a switch on the common dtypes keeps per-element cost low for
 * full-size MNIST (47M values); the rest go through suri_array_get. */
static double elem(const suri_array *a, int64_t i) {
  switch (a->dtype) {
  case SURI_DT_U8: return ((const uint8_t *)a->data)[i];
  case SURI_DT_F32: return ((const float *)a->data)[i];
  case SURI_DT_F64: return ((const double *)a->data)[i];
  case SURI_DT_I32: return ((const int32_t *)a->data)[i];
  case SURI_DT_I64: return (double)((const int64_t *)a->data)[i];
  default: return suri_array_get(a, i);
  }
}

static int is_float(suri_dtype t) {
  return t == SURI_DT_F32 || t == SURI_DT_F64 || t == SURI_DT_F16 || t == SURI_DT_BF16;
}

suri_status data_copy_columns(const dspec *s, const char *file, const suri_array *a,
                              int64_t rows, int64_t cols, int64_t skip, suri_real *dst) {
  int64_t k = 0;
  if (a->dtype == SURI_DT_U8 && skip < 0) { /* every u8 is finite: one vectorisable pass */
    const uint8_t *src = a->data;
    for (int64_t i = 0; i < rows * cols; i++) dst[i] = (suri_real)src[i];
    return SURI_OK;
  }
  for (int64_t i = 0; i < rows; i++)
    for (int64_t c = 0; c < cols; c++) {
      if (c == skip) continue;
      double v = elem(a, i * cols + c);
      if (!(fabs(v) <= DATA_REAL_MAX))
        return suri_fail(SURI_ERR_FORMAT, "data spec '%s': '%s': value %g at row %lld, column "
                         "%lld is not finite%s", s->text, file, v, (long long)i, (long long)c,
                         isfinite(v) ? " in " SURI_REAL_NAME : "");
      dst[k++] = (suri_real)v;
    }
  return SURI_OK;
}

suri_status data_copy_labels(const dspec *s, const char *file, const suri_array *a,
                             int64_t cols, int64_t col, suri_dataset *d) {
  int64_t top = -1;
  for (int64_t i = 0; i < d->n; i++) {
    double v = elem(a, i * cols + col);
    const char *bad = NULL;
    if (!(v == floor(v))) bad = "is not an integer";
    else if (v < 0) bad = "is negative";
    else if (v > 2147483647.0) bad = "exceeds 2^31 - 1";
    if (bad)
      return suri_fail(SURI_ERR_FORMAT, "data spec '%s': '%s': label %g at row %lld %s (class "
                       "labels must be integers 0, 1, ..., C-1)", s->text, file, v, (long long)i,
                       bad);
    d->y[i] = (int32_t)v;
    if (d->y[i] > top) top = d->y[i];
  }
  d->classes = top + 1;
  return SURI_OK;
}

/* suri_data_load_u8 sets this for the duration of its suri_data_load call (this thread only). */
static _Thread_local int want_u8;

int data_want_u8(void) { return want_u8; }

suri_status suri_data_load_u8(const char *spec, suri_dataset **out) {
  want_u8 = 1;
  suri_status st = suri_data_load(spec, out);
  want_u8 = 0;
  return st;
}

/* Features (and labels or targets) from arrays X and, if Y is non-NULL, Y. Float Y makes
 * regression targets when allow_targets, class labels otherwise. A u8 X is taken over as
 * compact storage (X->data moves into x8) when data_want_u8(). */
static suri_status from_arrays(const dspec *s, const char *xf, suri_array *X, const char *yf,
                               const suri_array *Y, int allow_targets, int64_t limit,
                               suri_dataset **out) {
  if (X->rank < 1 || X->dim[0] < 1)
    return suri_fail(SURI_ERR_FORMAT, "data spec '%s': '%s' holds zero samples (shape needs a "
                     "leading sample dimension N >= 1)", s->text, xf);
  int64_t N = X->dim[0], D = N > 0 ? suri_array_numel(X) / N : 0, K = 0, classes = 0;
  if (D < 1)
    return suri_fail(SURI_ERR_FORMAT, "data spec '%s': '%s' has zero features", s->text, xf);
  if (Y) {
    int64_t yn = Y->rank >= 1 ? Y->dim[0] : 1, ycols = yn > 0 ? suri_array_numel(Y) / yn : 0;
    if (yn != N)
      return suri_fail(SURI_ERR_FORMAT, "data spec '%s': '%s' holds %lld samples but '%s' holds "
                       "%lld", s->text, xf, (long long)N, yf, (long long)yn);
    int targets = allow_targets && is_float(Y->dtype);
    if (!targets && (Y->rank > 2 || ycols != 1))
      return suri_fail(SURI_ERR_FORMAT, "data spec '%s': class labels '%s' must have shape (N) or "
                       "(N, 1), not %d-dimensional with %lld values per sample (one-hot labels: "
                       "store the class index)", s->text, yf, Y->rank, (long long)ycols);
    if (targets && Y->rank > 2)
      return suri_fail(SURI_ERR_FORMAT, "data spec '%s': regression targets '%s' must have shape "
                       "(N) or (N, K), not rank %d", s->text, yf, Y->rank);
    if (targets) K = ycols;
    else classes = 1; /* allocates y; the real count is set from the labels */
  }
  int64_t rows = N < limit ? N : limit;
  int compact = want_u8 && X->dtype == SURI_DT_U8;
  suri_dataset *d = NULL;
  /* Compact: the reader's buffer (suri_alloc'ed) becomes x8, or, under a limit, a copy of the
   * rows kept (so that limit=100 does not hold all N rows). */
  int adopt = compact && rows == N;
  suri_status st = data_new(rows, D, classes, K, s->text,
                            adopt ? DATA_EMPTY : compact ? DATA_U8 : DATA_UNINIT, &d);
  if (st == SURI_OK && adopt) {
    d->x8 = X->data;
    X->data = NULL;
  } else if (st == SURI_OK && compact) {
    memcpy(d->x8, X->data, (size_t)(rows * D));
  } else if (st == SURI_OK) {
    st = data_copy_columns(s, xf, X, rows, D, -1, d->x);
  }
  if (st == SURI_OK && K > 0) st = data_copy_columns(s, yf, Y, rows, K, -1, d->t);
  if (st == SURI_OK && classes > 0) st = data_copy_labels(s, yf, Y, 1, 0, d);
  if (st != SURI_OK) {
    suri_dataset_free(d);
    return st;
  }
  if (X->rank == 3) {
    d->img_h = X->dim[1];
    d->img_w = X->dim[2];
  }
  *out = d;
  return SURI_OK;
}

typedef suri_status (*array_reader)(const char *path, size_t max_bytes, suri_array *out);

/* Reads features (and labels if yf) with `read` and builds the set. */
static suri_status load_pair(const dspec *s, array_reader read, const char *xf, const char *yf,
                             int allow_targets, int64_t limit, suri_dataset **out, int *is_u8) {
  suri_array X, Y;
  memset(&X, 0, sizeof X);
  memset(&Y, 0, sizeof Y);
  suri_status st = read(xf, 0, &X);
  if (st != SURI_OK) st = data_wrap(st, "data spec '%s'", s->text);
  if (st == SURI_OK && yf && (st = read(yf, 0, &Y)) != SURI_OK)
    st = data_wrap(st, "data spec '%s'", s->text);
  if (st == SURI_OK) st = from_arrays(s, xf, &X, yf, yf ? &Y : NULL, allow_targets, limit, out);
  if (st == SURI_OK) *is_u8 = X.dtype == SURI_DT_U8;
  suri_array_free(&X);
  suri_array_free(&Y);
  return st;
}

suri_status data_load_idx(dspec *s, int64_t limit, suri_dataset **out, int *is_u8) {
  suri_status st = dspec_npos(s, 1, 2, "idx:IMAGES[,LABELS]");
  if (st == SURI_OK) st = dspec_check_used(s, "");
  if (st != SURI_OK) return st;
  return load_pair(s, suri_idx_read, s->pos[0], s->npos > 1 ? s->pos[1] : NULL, 0, limit, out,
                   is_u8);
}

suri_status data_load_npy(dspec *s, int64_t limit, suri_dataset **out, int *is_u8) {
  suri_status st = dspec_npos(s, 1, 2, "npy:X.npy[,Y.npy]");
  if (st == SURI_OK) st = dspec_check_used(s, "");
  if (st != SURI_OK) return st;
  return load_pair(s, suri_npy_read, s->pos[0], s->npos > 1 ? s->pos[1] : NULL, 1, limit, out,
                   is_u8);
}

/* ---- mnist10k ----------------------------------------------------------------------------- */

static int file_exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f) fclose(f);
  return f != NULL;
}

#define MNIST_PROBE "mnist10k/train-images-idx3-ubyte.gz"

/* The data directory holding mnist10k/: $SURI_DATA_DIR (only it, when set), else the first of
 * SURI_DATA_DIR_DEFAULT (compile time: the installed data folder), SURI_DATA_DIR_SOURCE
 * (compile time: the source tree's data/, for programs run from a build tree) and ./data that
 * holds the files. */
static suri_status mnist_dir(const dspec *s, char *dir, size_t n) {
  char probe[4096], tried[1024] = "";
  const char *env = getenv("SURI_DATA_DIR");
  if (env && *env) {
    snprintf(probe, sizeof probe, "%s/" MNIST_PROBE, env);
    if (!file_exists(probe))
      return suri_fail(SURI_ERR_IO, "data spec '%s': SURI_DATA_DIR=%s has no " MNIST_PROBE
                       " (unset it to use the built-in locations)", s->text, env);
    snprintf(dir, n, "%s", env);
    return SURI_OK;
  }
  static const char *const dirs[] = {
#ifdef SURI_DATA_DIR_DEFAULT
      SURI_DATA_DIR_DEFAULT,
#endif
#ifdef SURI_DATA_DIR_SOURCE
      SURI_DATA_DIR_SOURCE,
#endif
      "data"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    snprintf(probe, sizeof probe, "%s/" MNIST_PROBE, dirs[i]);
    if (file_exists(probe)) {
      snprintf(dir, n, "%s", dirs[i]);
      return SURI_OK;
    }
    size_t k = strlen(tried);
    snprintf(tried + k, sizeof tried - k, "%s%s", k ? ", " : "", dirs[i]);
  }
  return suri_fail(SURI_ERR_IO, "data spec '%s': cannot find " MNIST_PROBE " in %s (set "
                   "SURI_DATA_DIR to the folder that holds mnist10k/)", s->text, tried);
}

/* One split's files under dir. */
static suri_status mnist_split(const dspec *s, const char *dir, const char *split, int64_t limit,
                               suri_dataset **out) {
  char xf[4200], yf[4200];
  int u8 = 0;
  snprintf(xf, sizeof xf, "%s/mnist10k/%s-images-idx3-ubyte.gz", dir, split);
  snprintf(yf, sizeof yf, "%s/mnist10k/%s-labels-idx1-ubyte.gz", dir, split);
  return load_pair(s, suri_idx_read, xf, yf, 0, limit, out, &u8);
}

/* Rows of b appended to a (same dim, same storage); a is replaced. */
static suri_status concat(suri_dataset **a, suri_dataset *b) {
  suri_dataset *c = NULL, *x = *a;
  int64_t classes = x->classes > b->classes ? x->classes : b->classes;
  suri_status st = data_new(x->n + b->n, x->dim, classes, 0, x->name,
                            x->x8 ? DATA_U8 : DATA_UNINIT, &c);
  if (st != SURI_OK) return st;
  if (x->x8) {
    memcpy(c->x8, x->x8, (size_t)(x->n * x->dim));
    memcpy(c->x8 + x->n * x->dim, b->x8, (size_t)(b->n * b->dim));
  } else {
    memcpy(c->x, x->x, (size_t)(x->n * x->dim) * sizeof(suri_real));
    memcpy(c->x + x->n * x->dim, b->x, (size_t)(b->n * b->dim) * sizeof(suri_real));
  }
  memcpy(c->y, x->y, (size_t)x->n * sizeof(int32_t));
  memcpy(c->y + x->n, b->y, (size_t)b->n * sizeof(int32_t));
  suri_dataset_free(x);
  *a = c;
  return SURI_OK;
}

suri_status data_load_mnist10k(dspec *s, int64_t limit, suri_dataset **out, int *is_u8) {
  char dir[4096];
  const char *split = s->npos ? s->pos[0] : "train";
  suri_status st = dspec_npos(s, 0, 1, "mnist10k[:train|test|all]");
  if (st == SURI_OK && strcmp(split, "train") && strcmp(split, "test") && strcmp(split, "all"))
    st = suri_fail(SURI_ERR_ARG, "data spec '%s': unknown mnist10k split '%s' (train, test, all)",
                   s->text, split);
  if (st == SURI_OK) st = dspec_check_used(s, "");
  if (st == SURI_OK) st = mnist_dir(s, dir, sizeof dir);
  if (st != SURI_OK) return st;
  suri_dataset *d = NULL, *rest = NULL;
  st = mnist_split(s, dir, strcmp(split, "test") ? "train" : "test", limit, &d);
  int64_t h = st == SURI_OK ? d->img_h : 0, w = st == SURI_OK ? d->img_w : 0;
  if (st == SURI_OK && !strcmp(split, "all") && d->n < limit) {
    st = mnist_split(s, dir, "test", limit - d->n, &rest);
    if (st == SURI_OK && rest->dim != d->dim)
      st = suri_fail(SURI_ERR_FORMAT, "data spec '%s': train and test images differ in size",
                     s->text);
    if (st == SURI_OK) st = concat(&d, rest);
    suri_dataset_free(rest);
  }
  if (st != SURI_OK) {
    suri_dataset_free(d);
    return st;
  }
  d->img_h = h;
  d->img_w = w;
  snprintf(d->name, sizeof d->name, "mnist10k:%s", split);
  *is_u8 = 1;
  *out = d;
  return SURI_OK;
}
