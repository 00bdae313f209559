/* loss.c - scalar losses (rank-0, unbatched outputs), all accumulated in double.
 *
 * softmax_ce, logits z: (B, C), labels y: (B) int32 -> L = (1/n) sum_i (lse_i - z_{i, y_i}),
 *   lse_i = m_i + log sum_k exp(z_ik - m_i), m_i = max_k z_ik (the log-sum-exp shift keeps every
 *   exponent <= 0: no overflow, and the largest term is exactly 1). Fused with the softmax:
 *   dz_ik (+)= dL/n (p_ik - [k = y_i]),  p_ik = exp(z_ik - lse_i)  (op.h's grad_acc);
 *   tL = (1/n) sum_i (sum_k p_ik tz_ik - tz_{i, y_i}).
 *   Labels are validated by the callers (the data loaders do). A kernel cannot report an error,
 *   so a label outside [0, C) is never read through: its row is ignored, like PyTorch's
 *   ignore_index, and n counts the valid rows only (L = 0 when none is valid). A real-valued
 *   label input (a rank-0 batched input in place of suri_labels) is rounded to the nearest class.
 *   Labels get no gradient and no tangent (no_grad_mask bit 1).
 * mse, pred p, target t: same shape, n elements -> L = (1/n) sum (p - t)^2
 *   (torch.nn.MSELoss(reduction='mean')); both inputs are differentiable:
 *   dp += 2 dL/n (p - t), dt -= 2 dL/n (p - t);  tL = (2/n) sum (p - t)(tp - tt).
 * logistic, logit z, target t in {0, 1} (soft targets in [0, 1] work too): same shape,
 *   n elements -> L = (1/n) sum (max(z, 0) - z t + log1p(exp(-|z|)))
 *   (torch.nn.BCEWithLogitsLoss, the stable form: no exp overflow, no log(0));
 *   dz += dL/n (sigmoid(z) - t);  tL = (1/n) sum (sigmoid(z) - t) tz. The target is data: it
 *   gets no gradient (no_grad_mask bit 1), and for consistency with backward its tangent is
 *   ignored by jvp.
 * Backward tangents (exact Hessian-vector products, Pearlmutter 1994; g = dL, gt its tangent,
 * t* the input tangents):
 *   softmax_ce: d(dz_ik) += gt/n (p_ik - [k = y_i]) + g/n p_ik (tz_ik - sum_j p_ij tz_ij)
 *               (the tangent of the softmax: dp = p (tz - p . tz));
 *   mse:        d(dp) += 2 gt/n (p - t) + 2 g/n (tp - tt),  d(dt) -= the same;
 *   logistic:   d(dz) += gt/n (s - t) + g/n s (1 - s) tz,  s = sigmoid(z). */
#include <math.h>
#include <string.h>

#include "op.h"

static void scalar_out(suri_shape *out) { memset(out, 0, sizeof *out); }

/* ---- softmax cross-entropy ---------------------------------------------------------------- */
static suri_status softmax_ce_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                    suri_shape *out) {
  (void)n_in, (void)a;
  const suri_shape *z = in[0], *y = in[1];
  char sz[96], sy[96];
  suri_shape_str(z, sz, sizeof sz);
  suri_shape_str(y, sy, sizeof sy);
  if (z->rank != 2 || !z->batched || z->dim[1] < 1)
    return suri_fail(SURI_ERR_SHAPE, "softmax_ce: logits must be (B, C), got %s", sz);
  if (y->rank != 1 || !y->batched)
    return suri_fail(SURI_ERR_SHAPE, "softmax_ce: labels %s do not match logits %s (need (B))",
                     sy, sz);
  scalar_out(out);
  return SURI_OK;
}

/* Scratch (doubles): [0] = number of valid rows; [8..8+B) lse per row; [8+B..8+2B) row loss. */
#define CE_HDR 8
static size_t softmax_ce_scratch(int n_in, const suri_shape *const *in, const suri_shape *out,
                                 const suri_op_attr *a) {
  (void)n_in, (void)out, (void)a;
  return (size_t)(CE_HDR + 2 * in[0]->dim[0]) * sizeof(double);
}

/* Class of row i, or -1 when it is outside [0, C). */
static int64_t label_at(const suri_op_ctx *c, int64_t i, int64_t C) {
  if (c->in_i32[1]) {
    int64_t v = c->in_i32[1][i];
    return v >= 0 && v < C ? v : -1;
  }
  double r = c->in[1][i];
  if (!(r > -0.5 && r < (double)C - 0.5)) return -1; /* NaN fails too */
  return (int64_t)floor(r + 0.5);
}

static void softmax_ce_forward(const suri_op_ctx *c) {
  int64_t B = c->in_shape[0]->dim[0], C = c->in_shape[0]->dim[1];
  double *s = c->scratch, *lse = s + CE_HDR, *row = lse + B;
  const suri_real *z = c->in[0];
#pragma omp parallel for if(B * C > SURI_OMP_MIN)
  for (int64_t i = 0; i < B; i++) {
    const suri_real *zi = z + i * C;
    double m = zi[0], e = 0;
    for (int64_t k = 1; k < C; k++)
      if (zi[k] > m) m = zi[k];
    for (int64_t k = 0; k < C; k++) e += exp((double)zi[k] - m);
    lse[i] = m + log(e);
    int64_t y = label_at(c, i, C);
    row[i] = y >= 0 ? lse[i] - zi[y] : 0;
  }
  double total = 0, n = 0;
  for (int64_t i = 0; i < B; i++) { /* serial: fixed summation order */
    if (label_at(c, i, C) < 0) continue;
    total += row[i];
    n += 1;
  }
  s[0] = n;
  c->out[0] = (suri_real)(n > 0 ? total / n : 0.0);
}

static void softmax_ce_backward(const suri_op_ctx *c) {
  suri_real *dz = c->in_grad[0];
  if (!dz) return;
  int64_t B = c->in_shape[0]->dim[0], C = c->in_shape[0]->dim[1];
  const double *s = c->scratch, *lse = s + CE_HDR;
  int acc = SURI_GRAD_ACC(c, 0);
  if (s[0] <= 0) { /* no valid row: the gradient is zero */
    if (!acc) memset(dz, 0, (size_t)(B * C) * sizeof *dz);
    return;
  }
  double g = (double)c->out_grad[0] / s[0];
  const suri_real *z = c->in[0];
#pragma omp parallel for if(B * C > SURI_OMP_MIN)
  for (int64_t i = 0; i < B; i++) {
    int64_t y = label_at(c, i, C);
    suri_real *dzi = dz + i * C;
    if (y < 0) {
      if (!acc) memset(dzi, 0, (size_t)C * sizeof *dzi);
      continue;
    }
    for (int64_t k = 0; k < C; k++) {
      double p = exp((double)z[i * C + k] - lse[i]);
      suri_real v = (suri_real)(g * (p - (k == y ? 1.0 : 0.0)));
      dzi[k] = acc ? dzi[k] + v : v;
    }
  }
}

static void softmax_ce_jvp(const suri_op_ctx *c) {
  const suri_real *tz = c->in_tan[0];
  int64_t B = c->in_shape[0]->dim[0], C = c->in_shape[0]->dim[1];
  const double *s = c->scratch, *lse = s + CE_HDR;
  if (!tz || s[0] <= 0) {
    c->out_tan[0] = 0;
    return;
  }
  const suri_real *z = c->in[0];
  double t = 0;
  for (int64_t i = 0; i < B; i++) {
    int64_t y = label_at(c, i, C);
    if (y < 0) continue;
    for (int64_t k = 0; k < C; k++) t += exp((double)z[i * C + k] - lse[i]) * tz[i * C + k];
    t -= tz[i * C + y];
  }
  c->out_tan[0] = (suri_real)(t / s[0]);
}

static void softmax_ce_bwd_tan(const suri_op_ctx *c) {
  suri_real *dz = c->in_gtan[0];
  const double *s = c->scratch, *lse = s + CE_HDR;
  if (!dz || s[0] <= 0) return;
  int64_t B = c->in_shape[0]->dim[0], C = c->in_shape[0]->dim[1];
  double g = (double)c->out_grad[0] / s[0], gt = (double)c->out_gtan[0] / s[0];
  const suri_real *z = c->in[0], *tz = c->in_tan[0];
#pragma omp parallel for if(B * C > SURI_OMP_MIN)
  for (int64_t i = 0; i < B; i++) {
    int64_t y = label_at(c, i, C);
    if (y < 0) continue;
    const suri_real *zi = z + i * C, *ti = tz ? tz + i * C : NULL;
    double pt = 0; /* p . tz of row i */
    if (ti)
      for (int64_t k = 0; k < C; k++) pt += exp((double)zi[k] - lse[i]) * ti[k];
    for (int64_t k = 0; k < C; k++) {
      double p = exp((double)zi[k] - lse[i]);
      double v = gt * (p - (k == y ? 1.0 : 0.0)) + (ti ? g * p * ((double)ti[k] - pt) : 0.0);
      dz[i * C + k] += (suri_real)v;
    }
  }
}

/* ---- mse ---------------------------------------------------------------------------------- */
static suri_status mse_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                             suri_shape *out) {
  (void)n_in, (void)a;
  suri_status st = suri_shape_same("mse", in[0], in[1]);
  if (st == SURI_OK) scalar_out(out);
  return st;
}

static void mse_forward(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->in_shape[0]);
  const suri_real *p = c->in[0], *t = c->in[1];
  double s = 0;
  for (int64_t k = 0; k < n; k++) {
    double d = (double)p[k] - t[k];
    s += d * d;
  }
  c->out[0] = (suri_real)(s / (double)n);
}

static void mse_backward(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->in_shape[0]);
  const suri_real *p = c->in[0], *t = c->in[1];
  suri_real *dp = c->in_grad[0], *dt = c->in_grad[1];
  double g = 2.0 * c->out_grad[0] / (double)n;
  for (int64_t k = 0; k < n; k++) {
    suri_real d = (suri_real)(g * ((double)p[k] - t[k]));
    if (dp) dp[k] += d;
    if (dt) dt[k] -= d;
  }
}

static void mse_jvp(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->in_shape[0]);
  const suri_real *p = c->in[0], *t = c->in[1], *tp = c->in_tan[0], *tt = c->in_tan[1];
  double s = 0;
  for (int64_t k = 0; k < n; k++) {
    double dir = (tp ? (double)tp[k] : 0.0) - (tt ? (double)tt[k] : 0.0);
    s += ((double)p[k] - t[k]) * dir;
  }
  c->out_tan[0] = (suri_real)(2.0 * s / (double)n);
}

static void mse_bwd_tan(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->in_shape[0]);
  const suri_real *p = c->in[0], *t = c->in[1], *tp = c->in_tan[0], *tt = c->in_tan[1];
  suri_real *dp = c->in_gtan[0], *dt = c->in_gtan[1];
  double g = 2.0 * c->out_grad[0] / (double)n, gt = 2.0 * c->out_gtan[0] / (double)n;
  for (int64_t k = 0; k < n; k++) {
    double dir = (tp ? (double)tp[k] : 0.0) - (tt ? (double)tt[k] : 0.0);
    suri_real d = (suri_real)(gt * ((double)p[k] - t[k]) + g * dir);
    if (dp) dp[k] += d;
    if (dt) dt[k] -= d;
  }
}

/* ---- logistic (binary cross-entropy with logits) ------------------------------------------ */
static suri_status logistic_shape(int n_in, const suri_shape *const *in, const suri_op_attr *a,
                                  suri_shape *out) {
  (void)n_in, (void)a;
  suri_status st = suri_shape_same("logistic", in[0], in[1]);
  if (st == SURI_OK) scalar_out(out);
  return st;
}

static double sigmoid_d(double z) {
  double e = exp(-fabs(z));
  return z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

static void logistic_forward(const suri_op_ctx *c) {
  int64_t n = suri_shape_numel(c->in_shape[0]);
  const suri_real *z = c->in[0], *t = c->in[1];
  double s = 0;
  for (int64_t k = 0; k < n; k++) {
    double zk = z[k];
    s += (zk > 0 ? zk : 0) - zk * t[k] + log1p(exp(-fabs(zk)));
  }
  c->out[0] = (suri_real)(s / (double)n);
}

static void logistic_backward(const suri_op_ctx *c) {
  suri_real *dz = c->in_grad[0];
  if (!dz) return;
  int64_t n = suri_shape_numel(c->in_shape[0]);
  const suri_real *z = c->in[0], *t = c->in[1];
  double g = (double)c->out_grad[0] / (double)n;
  for (int64_t k = 0; k < n; k++) dz[k] += (suri_real)(g * (sigmoid_d(z[k]) - t[k]));
}

static void logistic_jvp(const suri_op_ctx *c) {
  const suri_real *tz = c->in_tan[0];
  if (!tz) {
    c->out_tan[0] = 0;
    return;
  }
  int64_t n = suri_shape_numel(c->in_shape[0]);
  const suri_real *z = c->in[0], *t = c->in[1];
  double s = 0;
  for (int64_t k = 0; k < n; k++) s += (sigmoid_d(z[k]) - t[k]) * tz[k];
  c->out_tan[0] = (suri_real)(s / (double)n);
}

static void logistic_bwd_tan(const suri_op_ctx *c) {
  suri_real *dz = c->in_gtan[0];
  if (!dz) return;
  int64_t n = suri_shape_numel(c->in_shape[0]);
  const suri_real *z = c->in[0], *t = c->in[1], *tz = c->in_tan[0];
  double g = (double)c->out_grad[0] / (double)n, gt = (double)c->out_gtan[0] / (double)n;
  for (int64_t k = 0; k < n; k++) {
    double sg = sigmoid_d(z[k]);
    double v = gt * (sg - t[k]) + (tz ? g * sg * (1 - sg) * (double)tz[k] : 0.0);
    dz[k] += (suri_real)v;
  }
}

const suri_op_def suri_op_softmax_ce_def = {
    .name = "softmax_ce",
    .min_in = 2,
    .max_in = 2,
    .shape = softmax_ce_shape,
    .scratch = softmax_ce_scratch,
    .forward = softmax_ce_forward,
    .backward = softmax_ce_backward,
    .jvp = softmax_ce_jvp,
    .bwd_tan = softmax_ce_bwd_tan,
    .no_grad_mask = 1u << 1,
    .overwrite = 1,
};

const suri_op_def suri_op_mse_def = {
    .name = "mse",
    .min_in = 2,
    .max_in = 2,
    .shape = mse_shape,
    .forward = mse_forward,
    .backward = mse_backward,
    .jvp = mse_jvp,
    .bwd_tan = mse_bwd_tan,
};

const suri_op_def suri_op_logistic_def = {
    .name = "logistic",
    .min_in = 2,
    .max_in = 2,
    .shape = logistic_shape,
    .forward = logistic_forward,
    .backward = logistic_backward,
    .jvp = logistic_jvp,
    .bwd_tan = logistic_bwd_tan,
    .no_grad_mask = 1u << 1,
};
