/* batch.c - shuffled minibatches and data set summaries.
 *
 * Epoch order: a Fisher-Yates shuffle (Knuth, TAOCP vol. 2, Algorithm 3.4.2 P) driven by the
 * counter-based Philox stream (seed, SURI_RNG_SHUFFLE) whose counter starts at epoch * 2^40.
 * Because a counter-based generator's output is a pure function of (key, counter), the order of
 * epoch e needs neither the previous epochs' draws nor any saved state: a run resumed at
 * (epoch e, step s) replays exactly the batches of an uninterrupted run. A shuffle of n items
 * takes n - 1 blocks (plus rare rejections), far below the 2^40 blocks reserved per epoch.
 * Gathering copies rows into caller-owned contiguous buffers (no allocation: it runs every
 * training step); rows of a compact set (u8 features) are converted on the way, which is
 * where suri_data_load would have converted the whole set up front. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "data/data_internal.h"

void suri_data_epoch_order(const suri_dataset *d, uint64_t seed, int64_t epoch, int64_t *idx) {
  suri_rng r = suri_rng_make(seed, SURI_RNG_SHUFFLE);
  r.counter = (uint64_t)epoch << 40;
  suri_rng_permutation(&r, (size_t)d->n, idx);
}

int64_t suri_data_num_batches(int64_t n, int64_t batch, int drop_last) {
  if (batch < 1 || n < 1) return 0;
  return drop_last ? n / batch : (n + batch - 1) / batch;
}

void suri_data_gather(const suri_dataset *d, const int64_t *idx, int64_t count, suri_real *xb,
                      int32_t *yb, suri_real *tb) {
  size_t row = (size_t)d->dim * sizeof(suri_real), trow = (size_t)d->targets * sizeof(suri_real);
  for (int64_t i = 0; i < count; i++) {
    int64_t k = idx[i];
    if (d->x8) data_u8_row(d, d->x8 + k * d->dim, d->dim, xb + i * d->dim);
    else memcpy(xb + i * d->dim, d->x + k * d->dim, row);
    if (yb && d->y) yb[i] = d->y[k];
    if (tb && d->t) memcpy(tb + i * d->targets, d->t + k * d->targets, trow);
  }
}

void suri_dataset_class_counts(const suri_dataset *d, int64_t *counts) {
  if (!d || !d->y || d->classes < 1) return;
  for (int64_t c = 0; c < d->classes; c++) counts[c] = 0;
  for (int64_t i = 0; i < d->n; i++) counts[d->y[i]]++;
}

/* Appends printf-formatted text at *k; remembers truncation in *trunc. */
static void put(char *buf, size_t n, size_t *k, int *trunc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static void put(char *buf, size_t n, size_t *k, int *trunc, const char *fmt, ...) {
  va_list ap;
  if (*k >= n) {
    *trunc = 1;
    return;
  }
  va_start(ap, fmt);
  int w = vsnprintf(buf + *k, n - *k, fmt, ap);
  va_end(ap);
  if (w < 0 || (size_t)w >= n - *k) {
    *trunc = 1;
    *k = n;
  } else {
    *k += (size_t)w;
  }
}

static void range(const suri_real *v, int64_t count, double *lo, double *hi) {
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int64_t i = 0; i < count; i++) {
    if (v[i] < *lo) *lo = v[i];
    if (v[i] > *hi) *hi = v[i];
  }
}

/* Class counts without an allocation sized by `classes` (labels may go up to 2^31 - 1): the
 * first CLASS_SHOWN classes are counted in a fixed array. */
#define CLASS_SHOWN 20
static void put_classes(const suri_dataset *d, char *buf, size_t n, size_t *k, int *trunc) {
  int64_t counts[CLASS_SHOWN] = {0};
  int64_t shown = d->classes < CLASS_SHOWN ? d->classes : CLASS_SHOWN;
  for (int64_t i = 0; i < d->n; i++)
    if (d->y[i] < shown) counts[d->y[i]]++;
  put(buf, n, k, trunc, ", %lld classes [", (long long)d->classes);
  for (int64_t c = 0; c < shown; c++)
    put(buf, n, k, trunc, "%s%lld:%lld", c ? " " : "", (long long)c, (long long)counts[c]);
  put(buf, n, k, trunc, "%s]", d->classes > shown ? " ..." : "");
}

suri_status suri_dataset_info(const suri_dataset *d, char *buf, size_t n) {
  size_t k = 0;
  int trunc = 0;
  double lo, hi;
  if (!d || !buf || n == 0) return suri_fail(SURI_ERR_ARG, "suri_dataset_info: NULL argument");
  buf[0] = '\0';
  put(buf, n, &k, &trunc, "%s: %lld samples x %lld features", d->name, (long long)d->n,
      (long long)d->dim);
  if (d->img_h > 0) put(buf, n, &k, &trunc, " (%lldx%lld images)", (long long)d->img_h,
                        (long long)d->img_w);
  if (d->y && d->classes > 0) put_classes(d, buf, n, &k, &trunc);
  if (d->t && d->targets > 0) {
    range(d->t, d->n * d->targets, &lo, &hi);
    put(buf, n, &k, &trunc, ", %lld regression target%s in [%.4g, %.4g]", (long long)d->targets,
        d->targets > 1 ? "s" : "", lo, hi);
  }
  if (!d->y && !d->t) put(buf, n, &k, &trunc, ", unlabelled");
  if (d->x8) { /* the extremes of the raw values, converted as a row would be */
    uint8_t mn = 255, mx = 0;
    for (int64_t i = 0; i < d->n * d->dim; i++) {
      mn = d->x8[i] < mn ? d->x8[i] : mn;
      mx = d->x8[i] > mx ? d->x8[i] : mx;
    }
    suri_real v[2];
    data_u8_row(d, (const uint8_t[2]){mn, mx}, 2, v);
    lo = v[0], hi = v[1];
  } else {
    range(d->x, d->n * d->dim, &lo, &hi);
  }
  put(buf, n, &k, &trunc, ", x in [%.4g, %.4g], norm=%s", lo, hi, suri_data_norm_name(d->norm));
  if (d->norm == SURI_DATA_NORM_STANDARD && d->scaled) put(buf, n, &k, &trunc, " (after /255)");
  if (trunc) return suri_fail(SURI_ERR_ARG, "suri_dataset_info: buffer of %zu bytes too small", n);
  return SURI_OK;
}
