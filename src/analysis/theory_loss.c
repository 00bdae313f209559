/* theory_loss.c - from the unit-Gaussian Fisher to the Gauss-Newton matrix of the spec's own
 * loss at initialisation: the factor s with lambda_max(GGN) ~= s lambda_max(F), for the
 * critical learning rate of plain GD on the loss suri actually minimises.
 *
 * GGN = (1/T) sum_t J_t^T Lambda_t J_t with Lambda_t the loss Hessian in the outputs
 * (suri/analysis.h): mse (mean over the T C elements of (f - y)^2): Lambda = (2/C) I, so
 * s = 2/C exactly. For logistic and ce, Lambda_t depends on the logits f(x_t). To leading order
 * in the width the outlier eigenvectors of F are the mean gradients Jbar_k = E_x grad f_k, with
 * J_t . Jbar_k / |Jbar_k| ~= sqrt(gram2) e_k for every sample (the Gram's off-diagonal
 * concentrates), so on their span the GGN acts as gram2 (1/T) sum_t Lambda_t, and
 *     lambda_max(GGN) ~= lambda_max(F) * lambda_max(mean_t Lambda_t).
 * At initialisation the logits of a given network are f(x) = m + e(x): a network-specific
 * offset m ~ N(0, q_2^L I) shared by all inputs (the output overlap) plus e ~ N(0, (q_1^L -
 * q_2^L) I). So
 *   logistic (C = 1): s = E_{f ~ N(0, q_1^L)} sigma'(f)            (1-D quadrature, exact
 *                     average over networks of mean_t sigma'(f_t));
 *   ce: s = E_m lambda_max(E_e [diag p - p p^T]), p = softmax(m + e), by Monte Carlo with a fixed
 *       seed (64 offsets x 128 draws, power iteration on 1^perp to a relative change of 1e-7, far
 *       below the Monte-Carlo error of ~2%): the expectation over random
 *       networks; a single network's value scatters around it (it depends on its own m).
 *       C = 1 (softmax of one logit is constant): s = 0.
 * These are approximations beyond fisher_statistics.md; docs/analysis.md ("Theory") reports
 * how they compare with measured GGN spectra. */
#include <math.h>
#include <stdlib.h>

#include "theory_internal.h"

#define CE_OFFSETS 64
#define CE_DRAWS 128
#define CE_ITERS 100
#define CE_SEED 0x7375726954484555ull /* fixed: the prediction is deterministic */
#define CE_PURPOSE 0x54480001u

static double dsigmoid(const void *ctx, double x) {
  (void)ctx;
  double s = th_act(SURI_ACT_SIGMOID, 0, x);
  return s * (1 - s);
}

/* out = mean_e (p_e * v - p_e (p_e . v)) over the draws P (n, C). */
static void lambda_apply(int n, int64_t C, const double *P, const double *v, double *out) {
  for (int64_t k = 0; k < C; k++) out[k] = 0;
  for (int e = 0; e < n; e++) {
    const double *p = P + (int64_t)e * C;
    double pv = 0;
    for (int64_t k = 0; k < C; k++) pv += p[k] * v[k];
    for (int64_t k = 0; k < C; k++) out[k] += p[k] * (v[k] - pv);
  }
  for (int64_t k = 0; k < C; k++) out[k] /= n;
}

/* Largest eigenvalue of lambda_apply on the complement of 1 (its null vector). */
static double lambda_top(int n, int64_t C, const double *P, suri_rng *rng, double *v, double *w) {
  double mean = 0, nrm = 0, theta = 0;
  for (int64_t k = 0; k < C; k++) v[k] = suri_rng_normal(rng), mean += v[k] / (double)C;
  for (int64_t k = 0; k < C; k++) v[k] -= mean, nrm += v[k] * v[k];
  for (int it = 0; it < CE_ITERS && nrm > 0; it++) {
    for (int64_t k = 0; k < C; k++) v[k] /= sqrt(nrm);
    lambda_apply(n, C, P, v, w);
    double th = 0;
    nrm = 0;
    for (int64_t k = 0; k < C; k++) th += v[k] * w[k], nrm += w[k] * w[k], v[k] = w[k];
    if (it > 0 && fabs(th - theta) <= 1e-7 * fabs(th)) {
      theta = th;
      break;
    }
    theta = th;
  }
  return theta;
}

static suri_status ce_scale(int64_t C, double q1, double q2, double *scale) {
  double vm = q2 > 0 ? (q2 < q1 ? q2 : q1) : 0, ve = q1 - vm;
  double *P = malloc((size_t)(CE_DRAWS + 3) * (size_t)C * sizeof *P);
  if (!P) return suri_fail(SURI_ERR_NOMEM, "theory: cannot allocate the ce scale work (C = %lld)",
                           (long long)C);
  double *m = P + (int64_t)CE_DRAWS * C, *v = m + C, *w = v + C, sum = 0;
  suri_rng rng = suri_rng_make(CE_SEED, CE_PURPOSE);
  for (int o = 0; o < CE_OFFSETS; o++) {
    for (int64_t k = 0; k < C; k++) m[k] = sqrt(vm) * suri_rng_normal(&rng);
    for (int e = 0; e < CE_DRAWS; e++) {
      double *p = P + (int64_t)e * C, mx = -INFINITY, z = 0;
      for (int64_t k = 0; k < C; k++) p[k] = m[k] + sqrt(ve) * suri_rng_normal(&rng);
      for (int64_t k = 0; k < C; k++) mx = p[k] > mx ? p[k] : mx;
      for (int64_t k = 0; k < C; k++) p[k] = exp(p[k] - mx), z += p[k];
      for (int64_t k = 0; k < C; k++) p[k] /= z;
    }
    sum += lambda_top(CE_DRAWS, C, P, &rng, v, w);
  }
  free(P);
  *scale = sum / CE_OFFSETS;
  return SURI_OK;
}

suri_status th_loss_scale(const suri_model_spec *s, const th_rules *r, double qL1, double qL2,
                          double *scale) {
  int64_t C = s->width[s->n_widths - 1];
  switch (s->loss) {
  case SURI_LOSS_MSE: *scale = 2.0 / (double)C; return SURI_OK;
  case SURI_LOSS_LOGISTIC: *scale = th_expect1(r, qL1, dsigmoid, NULL); return SURI_OK;
  case SURI_LOSS_CE:
    if (C == 1) {
      *scale = 0;
      return SURI_OK;
    }
    return ce_scale(C, qL1, qL2, scale);
  }
  return suri_fail(SURI_ERR_ARG, "theory: invalid loss %d", (int)s->loss);
}
