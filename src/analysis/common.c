/* common.c - shared analysis helpers: the active parameter ranges of a model (all trainable
 * tensors, or one dense layer's W and b), chunked loading of a data set into the model's input
 * nodes, double vector kernels (BLAS), seeded random probe vectors, and the Gram-Schmidt steps:
 * two classical passes for deflation ("twice is enough": Giraud, Langou & Rozloznik 2005), and
 * for Lanczos the three-term recurrence plus one classical pass, a second only when the first
 * cancelled (Daniel, Gragg, Kaufman & Stewart 1976). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "analysis_internal.h"

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
  /* BLAS: a plain C loop cannot be vectorised without reassociation (no -ffast-math), and the
   * Lanczos steps take several dot products of the parameter dimension each */
  return n > 0 ? cblas_ddot((blasint)n, a, 1, b, 1) : 0.0;
}

double an_norm(int64_t n, const double *a) { return sqrt(an_dot(n, a, a)); }

void an_axpy(int64_t n, double a, const double *x, double *y) {
  if (n > 0) cblas_daxpy((blasint)n, a, x, 1, y, 1);
}

void an_scal(int64_t n, double a, double *x) {
  if (n > 0) cblas_dscal((blasint)n, a, x, 1);
}

void an_random_vector(uint64_t seed, uint64_t counter, int64_t n, int gauss, int unit, double *x) {
  suri_rng r = suri_rng_make(seed, SURI_RNG_PROBE);
  r.counter = counter;
  if (gauss == AN_RV_GAUSS) {
    for (int64_t i = 0; i < n; i++) x[i] = suri_rng_normal(&r);
  } else if (gauss == AN_RV_UNIFORM) {
    /* four 32-bit draws per Philox block, (k + 1/2) / 2^31 - 1 in (-1, 1), never 0 */
    uint32_t blk[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < n; i++) {
      if (i % 4 == 0) suri_rng_block(&r, r.counter++, blk);
      x[i] = ((double)blk[i % 4] + 0.5) * (1.0 / 2147483648.0) - 1.0;
    }
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
  /* Matrix-vector products, not one-column GEMMs: OpenBLAS packs the whole basis for a GEMM,
   * which cost 4x a gemv pass here (docs/performance.md, analysis section). */
  for (int pass = 0; pass < 2; pass++) {
    /* work (k) = Q v; v -= Q^T work */
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (blasint)k, (blasint)n, 1.0, Q, (blasint)n, v, 1,
                0.0, work, 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, (blasint)k, (blasint)n, -1.0, Q, (blasint)n, work, 1,
                1.0, v, 1);
  }
}

double an_lanczos_orth(int64_t n, int64_t j, const double *Q, double alpha, double beta_prev,
                       double *w, double *work) {
  /* the three-term recurrence first: what is left is orthogonal to the basis up to rounding */
  an_axpy(n, -alpha, Q + j * n, w);
  if (j > 0) an_axpy(n, -beta_prev, Q + (j - 1) * n, w);
  double corr = 0, before = an_norm(n, w);
  for (int pass = 0; pass < 2; pass++) {
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (blasint)(j + 1), (blasint)n, 1.0, Q, (blasint)n, w,
                1, 0.0, work, 1);
    cblas_dgemv(CblasRowMajor, CblasTrans, (blasint)(j + 1), (blasint)n, -1.0, Q, (blasint)n, work,
                1, 1.0, w, 1);
    corr += work[j];
    double after = an_norm(n, w);
    /* DGKS: a pass that kept at least 1/sqrt(2) of the norm leaves w orthogonal to working
     * accuracy; a larger drop means cancellation, and one more pass restores it */
    if (after >= 0.7071067811865476 * before) break;
    before = after;
  }
  return corr;
}

