/* common.c - shared analysis helpers: the active parameter ranges of a model (all trainable
 * tensors, or one dense layer's W and b), chunked loading of a data set into the model's input
 * nodes, double vector kernels, seeded random probe vectors, and the Gram-Schmidt step used by
 * Lanczos (two classical passes, "twice is enough": Giraud, Langou & Rozloznik 2005). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_internal.h"
#include "suri/linalg.h"

static int cmp_range(const void *a, const void *b) {
  const an_range *x = a, *y = b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int an_active_ranges(const suri_model *m, int layer, an_range *r, int64_t *total) {
  int n = 0;
  *total = 0;
  if (layer >= 0) {
    const suri_layer *ly = suri_model_layer(m, layer);
    if (!ly) {
      suri_fail(SURI_ERR_ARG, "analysis: layer %d does not exist (the model has %d dense layers, "
                "0..%d)", layer, suri_model_layer_count(m), suri_model_layer_count(m) - 1);
      return 0;
    }
    r[n++] = (an_range){ly->w_offset, (size_t)(ly->in * ly->out)};
    if (ly->b_offset != SIZE_MAX) r[n++] = (an_range){ly->b_offset, (size_t)ly->out};
  } else {
    for (int i = 0; i < suri_model_tensor_count(m) && n < AN_MAX_RANGES; i++) {
      const suri_model_tensor *t = suri_model_tensor_at(m, i);
      if (t->is_state) continue;
      r[n++] = (an_range){t->offset, (size_t)(t->dim[0] * (t->rank == 2 ? t->dim[1] : 1))};
    }
    /* flat order, so that compact coordinates follow the parameter layout */
    qsort(r, (size_t)n, sizeof *r, cmp_range);
  }
  for (int i = 0; i < n; i++) *total += (int64_t)r[i].len;
  return n;
}

suri_status an_load_chunk(suri_model *m, const suri_analysis_data *d, int64_t i0, int64_t b,
                          int32_t *lab, suri_real *tgt) {
  const suri_model_spec *s = suri_model_get_spec(m);
  int64_t in = s->width[0], out = s->width[s->n_widths - 1];
  const int32_t *labels = lab;
  const suri_real *targets = tgt;
  if (s->loss == SURI_LOSS_CE) {
    if (d->labels) labels = d->labels + i0;
    else memset(lab, 0, (size_t)b * sizeof *lab);
  } else if (d->targets) {
    targets = d->targets + i0 * out;
  } else if (s->loss == SURI_LOSS_LOGISTIC && d->labels) {
    for (int64_t i = 0; i < b; i++) tgt[i] = (suri_real)(d->labels[i0 + i] != 0);
  } else {
    memset(tgt, 0, (size_t)(b * out) * sizeof *tgt);
  }
  return suri_model_set_batch(m, b, d->x + i0 * in, labels, targets);
}

double an_dot(int64_t n, const double *a, const double *b) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

double an_norm(int64_t n, const double *a) { return sqrt(an_dot(n, a, a)); }

void an_axpy(int64_t n, double a, const double *x, double *y) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void an_scal(int64_t n, double a, double *x) {
  for (int64_t i = 0; i < n; i++) x[i] *= a;
}

void an_random_vector(uint64_t seed, uint64_t counter, int64_t n, int gauss, int unit, double *x) {
  suri_rng r = suri_rng_make(seed, SURI_RNG_PROBE);
  r.counter = counter;
  if (gauss) {
    for (int64_t i = 0; i < n; i++) x[i] = suri_rng_normal(&r);
  } else {
    /* 128 random signs per Philox block */
    uint32_t blk[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < n; i++) {
      if (i % 128 == 0) suri_rng_block(&r, r.counter++, blk);
      int bit = (int)(i % 128);
      x[i] = (blk[bit / 32] >> (bit % 32)) & 1u ? 1.0 : -1.0;
    }
  }
  if (unit) {
    double nr = an_norm(n, x);
    if (nr > 0) an_scal(n, 1.0 / nr, x);
  }
}

void an_orthogonalize(int64_t n, int64_t k, const double *Q, double *v, double *work) {
  if (k <= 0) return;
  for (int pass = 0; pass < 2; pass++) {
    /* work (k) = Q v; v -= Q^T work */
    suri_dgemm(0, 0, k, 1, n, 1.0, Q, n, v, 1, 0.0, work, 1);
    suri_dgemm(1, 0, n, 1, k, -1.0, Q, n, work, 1, 1.0, v, 1);
  }
}
