/* dropout.c - inverted dropout (Srivastava et al. 2014, with the scaling moved to training
 * time as in PyTorch): in training, y = x m with m = 1/(1-p) with probability 1-p, else 0, so
 * E[y] = x and evaluation is the identity. p = f[0] in [0, 1]; p = 1 drops everything.
 *   backward: dx (+)= m dy (op.h's grad_acc);  jvp: ty = m tx   (m is the mask of the forward
 *   pass).
 * The mask comes from the counter-based stream c->rng: element e uses word e % 4 of block
 * c->rng_index + e / 4, u = (word + 1/2) / 2^32 in (0, 1), kept when u >= p. A mask therefore
 * depends only on (seed, node, forward-pass counter, element), never on the thread count, and
 * replaying the counter (suri_graph_set_rng_calls) replays the mask. It is saved in scratch
 * for backward and jvp; scratch also records whether the forward pass was the identity (eval
 * mode or p = 0), so backward/jvp stay consistent with the forward that produced the values.
 * Backward tangent (Hessian-vector products): d(dx) (+)= m d(dy), the same mask (linear). */
#include <string.h>

#include "op.h"

#define DROPOUT_HDR 64 /* bytes before the mask: the mode flag, padded to keep the mask aligned */

static suri_status dropout_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                 suri_shape *out) {
  (void)n_in;
  if (!(a->f[0] >= 0 && a->f[0] <= 1))
    return suri_fail(SURI_ERR_ARG, "dropout: probability %g outside [0, 1]", a->f[0]);
  *out = *in[0];
  return SURI_OK;
}

static size_t dropout_scratch(int n_in, const suri_shape *const *in, const suri_shape *out,
                              const suri_op_attr *a) {
  (void)n_in, (void)in, (void)a;
  return DROPOUT_HDR + (size_t)suri_shape_numel(out) * sizeof(suri_real);
}

static int *mode_of(const suri_op_ctx *c) { return c->scratch; }
static suri_real *mask_of(const suri_op_ctx *c) {
  return (suri_real *)((unsigned char *)c->scratch + DROPOUT_HDR);
}

static void dropout_forward(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->out_shape);
  double p = c->attr->f[0];
  const suri_real *x = c->in[0];
  suri_real *y = c->out, *mask = mask_of(c);
  int active = c->training && p > 0;
  *mode_of(c) = active;
  if (!active) {
    memcpy(y, x, (size_t)n * sizeof *y);
    return;
  }
  suri_real keep = p < 1 ? (suri_real)(1.0 / (1.0 - p)) : 0;
  int64_t nblk = (n + 3) / 4;
  const suri_rng *rng = c->rng;
  uint64_t base = c->rng_index;
#pragma omp parallel for if(n > SURI_OMP_MIN)
  for (int64_t b = 0; b < nblk; b++) {
    uint32_t w[4];
    suri_rng_block(rng, base + (uint64_t)b, w);
    for (int q = 0; q < 4; q++) {
      int64_t e = 4 * b + q;
      if (e >= n) break;
      double u = ((double)w[q] + 0.5) * (1.0 / 4294967296.0);
      suri_real m = u >= p ? keep : 0;
      mask[e] = m;
      y[e] = x[e] * m;
    }
  }
}

static void dropout_backward(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->out_shape);
  const suri_real *dy = c->out_grad, *mask = mask_of(c);
  suri_real *dx = c->in_grad[0];
  if (!dx) return;
  int acc = SURI_GRAD_ACC(c, 0);
  if (!*mode_of(c)) {
    if (!acc) {
      memcpy(dx, dy, (size_t)n * sizeof *dx);
      return;
    }
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
    for (int64_t k = 0; k < n; k++) dx[k] += dy[k];
  } else if (acc) {
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
    for (int64_t k = 0; k < n; k++) dx[k] += mask[k] * dy[k];
  } else {
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
    for (int64_t k = 0; k < n; k++) dx[k] = mask[k] * dy[k];
  }
}

static void dropout_jvp(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->out_shape);
  const suri_real *tx = c->in_tan[0], *mask = mask_of(c);
  suri_real *ty = c->out_tan;
  if (!tx) {
    memset(ty, 0, (size_t)n * sizeof *ty);
  } else if (*mode_of(c)) {
#pragma omp parallel for simd if(parallel: n > SURI_OMP_MIN)
    for (int64_t k = 0; k < n; k++) ty[k] = mask[k] * tx[k];
  } else {
    memcpy(ty, tx, (size_t)n * sizeof *ty);
  }
}

static void dropout_bwd_tan(const suri_op_ctx *c) { suri_bwd_tan_linear(c, dropout_backward); }

const suri_op_def suri_op_dropout_def = {
    .name = "dropout",
    .min_in = 1,
    .max_in = 1,
    .shape = dropout_shape,
    .scratch = dropout_scratch,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .jvp = dropout_jvp,
    .bwd_tan = dropout_bwd_tan,
    .overwrite = 1,
};
