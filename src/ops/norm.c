/* norm.c - batch normalisation (Ioffe & Szegedy 2015) and layer normalisation (Ba, Kiros &
 * Hinton 2016), with the exact semantics of torch.nn.BatchNorm1d / torch.nn.LayerNorm.
 *
 * batch_norm, x: (B, N), gamma, beta, running_mean, running_var: (N); eps = f[0], m = f[1].
 *   training: mu_j = mean_i x_ij, var_j = mean_i (x_ij - mu_j)^2 (biased, used to normalise),
 *             r_j = 1/sqrt(var_j + eps), xh = (x - mu) r, y = gamma xh + beta;
 *             running_mean = (1-m) running_mean + m mu,
 *             running_var  = (1-m) running_var  + m var B/(B-1)   (unbiased, as PyTorch).
 *             With B = 1 the unbiased variance is undefined (PyTorch refuses the batch); a kernel
 *             cannot fail, so running_var is left unchanged then (running_mean still updates).
 *   eval:     mu = running_mean, r = 1/sqrt(running_var + eps): a fixed affine map.
 *   backward (training), per column, sums over the batch rows:
 *             dgamma += sum dy xh,  dbeta += sum dy,
 *             dx += gamma r (dy - mean(dy) - xh mean(dy xh))
 *   backward (eval): dx += gamma r dy (gamma/beta as above).
 *   jvp (training) differentiates through the batch statistics exactly:
 *             t_xh = r (tx - mean(tx) - xh mean(xh tx)),  ty = t_gamma xh + t_beta + gamma t_xh
 *             (from t_mu = mean(tx), t_var = 2 mean((x - mu) tx), t_r = -r^3 t_var / 2).
 *   Running statistics carry no gradient and no tangent (no_grad_mask bits 3 and 4). They are
 *   updated in place when they are state nodes (in_state); other nodes are only read.
 *   The mode of the forward pass is kept in scratch so backward/jvp match the forward even if
 *   the graph's training flag changes in between.
 *
 * layer_norm, x: (B, ..., N), gamma, beta: (N); eps = f[0]: the same algebra per row over the
 *   last dimension (biased variance), never running statistics, same in training and eval.
 *
 * Statistics and row sums accumulate in double; the normalised values are recomputed from the
 * saved mean and 1/std instead of being stored. */
#include <math.h>
#include <string.h>

#include "op.h"

/* ---- shapes ------------------------------------------------------------------------------- */
static suri_status vec_matches(const char *op, const char *what, const suri_shape *v,
                               const suri_shape *x, int64_t N) {
  if (v->rank == 1 && !v->batched && v->dim[0] == N) return SURI_OK;
  char sv[96], sx[96];
  suri_shape_str(v, sv, sizeof sv);
  suri_shape_str(x, sx, sizeof sx);
  return suri_fail(SURI_ERR_SHAPE, "%s: %s %s does not match input %s (need (%lld))", op, what,
                   sv, sx, (long long)N);
}

static suri_status batch_norm_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                    suri_shape *out) {
  (void)n_in;
  static const char *what[5] = {"input", "gamma", "beta", "running_mean", "running_var"};
  const suri_shape *x = in[0];
  if (x->rank != 2 || !x->batched) {
    char sx[96];
    suri_shape_str(x, sx, sizeof sx);
    return suri_fail(SURI_ERR_SHAPE, "batch_norm: input must be (B, N), got %s", sx);
  }
  for (int k = 1; k < 5; k++) {
    suri_status st = vec_matches("batch_norm", what[k], in[k], x, x->dim[1]);
    if (st) return st;
  }
  if (!(a->f[0] > 0) || !(a->f[1] >= 0 && a->f[1] <= 1))
    return suri_fail(SURI_ERR_ARG, "batch_norm: need eps > 0 and momentum in [0, 1] (got %g, %g)",
                     a->f[0], a->f[1]);
  *out = *x;
  return SURI_OK;
}

static suri_status layer_norm_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                    suri_shape *out) {
  (void)n_in;
  const suri_shape *x = in[0];
  if (x->rank < 2) {
    char sx[96];
    suri_shape_str(x, sx, sizeof sx);
    return suri_fail(SURI_ERR_SHAPE, "layer_norm: input must be (B, ..., N), got %s", sx);
  }
  int64_t N = x->dim[x->rank - 1];
  suri_status st = vec_matches("layer_norm", "gamma", in[1], x, N);
  if (!st) st = vec_matches("layer_norm", "beta", in[2], x, N);
  if (st) return st;
  if (!(a->f[0] > 0))
    return suri_fail(SURI_ERR_ARG, "layer_norm: need eps > 0 (got %g)", a->f[0]);
  *out = *x;
  return SURI_OK;
}

/* ---- batch norm --------------------------------------------------------------------------- */
/* Scratch (doubles): [0] = 1 if the forward pass used batch statistics; [8..) mean (N),
 * rstd (N), and two (N) accumulators reused by backward and jvp. */
#define BN_HDR 8
static size_t batch_norm_scratch(int n_in, const suri_shape *const *in, const suri_shape *out,
                                 const suri_op_attr *a) {
  (void)n_in, (void)out, (void)a;
  return (size_t)(BN_HDR + 4 * in[0]->dim[1]) * sizeof(double);
}

typedef struct bn_view {
  int64_t B, N;
  double *mode, *mean, *rstd, *acc1, *acc2;
} bn_view;

static bn_view bn_get(const suri_op_ctx *c) {
  bn_view v;
  double *s = c->scratch;
  v.B = c->in_shape[0]->dim[0];
  v.N = c->in_shape[0]->dim[1];
  v.mode = s;
  v.mean = s + BN_HDR;
  v.rstd = v.mean + v.N;
  v.acc1 = v.rstd + v.N;
  v.acc2 = v.acc1 + v.N;
  return v;
}

/* Batch mean and biased variance per column (two passes, double), and the running update. */
static void bn_batch_stats(const suri_op_ctx *c, const bn_view *v) {
  int64_t B = v->B, N = v->N;
  const suri_real *x = c->in[0];
  double eps = c->attr->f[0], m = c->attr->f[1];
  memset(v->acc1, 0, (size_t)N * sizeof(double));
  memset(v->acc2, 0, (size_t)N * sizeof(double));
  for (int64_t i = 0; i < B; i++)
    for (int64_t j = 0; j < N; j++) v->acc1[j] += x[i * N + j];
  for (int64_t j = 0; j < N; j++) v->mean[j] = v->acc1[j] / (double)B;
  for (int64_t i = 0; i < B; i++)
    for (int64_t j = 0; j < N; j++) {
      double d = x[i * N + j] - v->mean[j];
      v->acc2[j] += d * d;
    }
  suri_real *rm = c->in_state[3], *rv = c->in_state[4];
  for (int64_t j = 0; j < N; j++) {
    double var = v->acc2[j] / (double)B;
    v->rstd[j] = 1.0 / sqrt(var + eps);
    if (rm) rm[j] = (suri_real)((1 - m) * rm[j] + m * v->mean[j]);
    if (rv && B > 1) rv[j] = (suri_real)((1 - m) * rv[j] + m * v->acc2[j] / (double)(B - 1));
  }
}

static void batch_norm_forward(const suri_op_ctx *c) {
  bn_view v = bn_get(c);
  int64_t B = v.B, N = v.N;
  *v.mode = c->training ? 1 : 0;
  if (c->training) {
    bn_batch_stats(c, &v);
  } else {
    const suri_real *rm = c->in[3], *rv = c->in[4];
    for (int64_t j = 0; j < N; j++) {
      v.mean[j] = rm[j];
      v.rstd[j] = 1.0 / sqrt((double)rv[j] + c->attr->f[0]);
    }
  }
  const suri_real *x = c->in[0], *g = c->in[1], *b = c->in[2];
  suri_real *y = c->out;
  const double *mean = v.mean, *rstd = v.rstd;
#pragma omp parallel for if(B * N > SURI_OMP_MIN)
  for (int64_t i = 0; i < B; i++)
    for (int64_t j = 0; j < N; j++)
      y[i * N + j] = (suri_real)(g[j] * ((x[i * N + j] - mean[j]) * rstd[j]) + b[j]);
}

static void batch_norm_backward(const suri_op_ctx *c) {
  bn_view v = bn_get(c);
  int64_t B = v.B, N = v.N;
  const suri_real *x = c->in[0], *g = c->in[1], *dy = c->out_grad;
  double *sdy = v.acc1, *sdyx = v.acc2;
  const double *mean = v.mean, *rstd = v.rstd;
  memset(sdy, 0, (size_t)N * sizeof(double));
  memset(sdyx, 0, (size_t)N * sizeof(double));
  for (int64_t i = 0; i < B; i++)
    for (int64_t j = 0; j < N; j++) {
      double xh = (x[i * N + j] - mean[j]) * rstd[j];
      sdy[j] += dy[i * N + j];
      sdyx[j] += dy[i * N + j] * xh;
    }
  if (c->in_grad[1])
    for (int64_t j = 0; j < N; j++) c->in_grad[1][j] += (suri_real)sdyx[j];
  if (c->in_grad[2])
    for (int64_t j = 0; j < N; j++) c->in_grad[2][j] += (suri_real)sdy[j];
  suri_real *dx = c->in_grad[0];
  if (!dx) return;
  /* In eval mode the statistics are constants: drop the two mean terms. */
  double k = *v.mode != 0 ? 1.0 / (double)B : 0.0;
#pragma omp parallel for if(B * N > SURI_OMP_MIN)
  for (int64_t i = 0; i < B; i++)
    for (int64_t j = 0; j < N; j++) {
      double xh = (x[i * N + j] - mean[j]) * rstd[j];
      dx[i * N + j] += (suri_real)(g[j] * rstd[j] * (dy[i * N + j] - k * (sdy[j] + xh * sdyx[j])));
    }
}

static void batch_norm_jvp(const suri_op_ctx *c) {
  bn_view v = bn_get(c);
  int64_t B = v.B, N = v.N;
  const suri_real *x = c->in[0], *g = c->in[1];
  const suri_real *tx = c->in_tan[0], *tg = c->in_tan[1], *tb = c->in_tan[2];
  double *st = v.acc1, *sxt = v.acc2;
  const double *mean = v.mean, *rstd = v.rstd;
  double k = *v.mode != 0 ? 1.0 / (double)B : 0.0;
  memset(st, 0, (size_t)N * sizeof(double));
  memset(sxt, 0, (size_t)N * sizeof(double));
  if (tx && k != 0)
    for (int64_t i = 0; i < B; i++)
      for (int64_t j = 0; j < N; j++) {
        st[j] += tx[i * N + j];
        sxt[j] += tx[i * N + j] * (x[i * N + j] - mean[j]) * rstd[j];
      }
  suri_real *ty = c->out_tan;
#pragma omp parallel for if(B * N > SURI_OMP_MIN)
  for (int64_t i = 0; i < B; i++)
    for (int64_t j = 0; j < N; j++) {
      double xh = (x[i * N + j] - mean[j]) * rstd[j], t = 0;
      if (tx) t = g[j] * rstd[j] * (tx[i * N + j] - k * (st[j] + xh * sxt[j]));
      if (tg) t += tg[j] * xh;
      if (tb) t += tb[j];
      ty[i * N + j] = (suri_real)t;
    }
}

/* ---- layer norm --------------------------------------------------------------------------- */
/* Scratch (doubles): mean (R), rstd (R) for the max-batch row count R. */
static size_t layer_norm_scratch(int n_in, const suri_shape *const *in, const suri_shape *out,
                                 const suri_op_attr *a) {
  (void)n_in, (void)out, (void)a;
  int64_t N = in[0]->dim[in[0]->rank - 1];
  return (size_t)(2 * (suri_shape_numel(in[0]) / N)) * sizeof(double);
}

static void ln_dims(const suri_op_ctx *c, int64_t *R, int64_t *N) {
  const suri_shape *s = c->in_shape[0];
  *N = s->dim[s->rank - 1];
  *R = suri_shape_numel(s) / *N;
}

static void layer_norm_forward(const suri_op_ctx *c) {
  int64_t R, N;
  ln_dims(c, &R, &N);
  /* rstd follows the live rows; backward/jvp run on the same batch as this forward. */
  double *mean = c->scratch, *rstd = mean + R;
  const suri_real *x = c->in[0], *g = c->in[1], *b = c->in[2];
  suri_real *y = c->out;
  double eps = c->attr->f[0];
#pragma omp parallel for if(R * N > SURI_OMP_MIN)
  for (int64_t i = 0; i < R; i++) {
    const suri_real *xi = x + i * N;
    double s = 0, q = 0;
    for (int64_t j = 0; j < N; j++) s += xi[j];
    double mu = s / (double)N;
    for (int64_t j = 0; j < N; j++) q += (xi[j] - mu) * (xi[j] - mu);
    double r = 1.0 / sqrt(q / (double)N + eps);
    mean[i] = mu;
    rstd[i] = r;
    for (int64_t j = 0; j < N; j++) y[i * N + j] = (suri_real)(g[j] * ((xi[j] - mu) * r) + b[j]);
  }
}

static void layer_norm_backward(const suri_op_ctx *c) {
  int64_t R, N;
  ln_dims(c, &R, &N);
  const double *mean = c->scratch, *rstd = mean + R;
  const suri_real *x = c->in[0], *g = c->in[1], *dy = c->out_grad;
  suri_real *dx = c->in_grad[0], *dg = c->in_grad[1], *db = c->in_grad[2];
  /* gamma/beta sums run serially over rows so their order never depends on threads. */
  if (dg || db)
    for (int64_t i = 0; i < R; i++)
      for (int64_t j = 0; j < N; j++) {
        if (dg) dg[j] += (suri_real)(dy[i * N + j] * ((x[i * N + j] - mean[i]) * rstd[i]));
        if (db) db[j] += dy[i * N + j];
      }
  if (!dx) return;
#pragma omp parallel for if(R * N > SURI_OMP_MIN)
  for (int64_t i = 0; i < R; i++) {
    const suri_real *xi = x + i * N, *dyi = dy + i * N;
    double s1 = 0, s2 = 0, mu = mean[i], r = rstd[i];
    for (int64_t j = 0; j < N; j++) {
      double d = dyi[j] * (double)g[j];
      s1 += d;
      s2 += d * (xi[j] - mu) * r;
    }
    s1 /= (double)N;
    s2 /= (double)N;
    for (int64_t j = 0; j < N; j++) {
      double xh = (xi[j] - mu) * r;
      dx[i * N + j] += (suri_real)(r * (dyi[j] * (double)g[j] - s1 - xh * s2));
    }
  }
}

static void layer_norm_jvp(const suri_op_ctx *c) {
  int64_t R, N;
  ln_dims(c, &R, &N);
  const double *mean = c->scratch, *rstd = mean + R;
  const suri_real *x = c->in[0], *g = c->in[1];
  const suri_real *tx = c->in_tan[0], *tg = c->in_tan[1], *tb = c->in_tan[2];
  suri_real *ty = c->out_tan;
#pragma omp parallel for if(R * N > SURI_OMP_MIN)
  for (int64_t i = 0; i < R; i++) {
    const suri_real *xi = x + i * N;
    double mu = mean[i], r = rstd[i], s1 = 0, s2 = 0;
    if (tx) {
      for (int64_t j = 0; j < N; j++) {
        s1 += tx[i * N + j];
        s2 += tx[i * N + j] * (xi[j] - mu) * r;
      }
      s1 /= (double)N;
      s2 /= (double)N;
    }
    for (int64_t j = 0; j < N; j++) {
      double xh = (xi[j] - mu) * r, t = 0;
      if (tx) t = g[j] * r * (tx[i * N + j] - s1 - xh * s2);
      if (tg) t += tg[j] * xh;
      if (tb) t += tb[j];
      ty[i * N + j] = (suri_real)t;
    }
  }
}

const suri_op_def suri_op_batch_norm_def = {
    .name = "batch_norm",
    .min_in = 5,
    .max_in = 5,
    .shape = batch_norm_shape,
    .scratch = batch_norm_scratch,
    .forward = batch_norm_forward,
    .backward = batch_norm_backward,
    .jvp = batch_norm_jvp,
    .no_grad_mask = (1u << 3) | (1u << 4),
};

const suri_op_def suri_op_layer_norm_def = {
    .name = "layer_norm",
    .min_in = 3,
    .max_in = 3,
    .shape = layer_norm_shape,
    .scratch = layer_norm_scratch,
    .forward = layer_norm_forward,
    .backward = layer_norm_backward,
    .jvp = layer_norm_jvp,
};
