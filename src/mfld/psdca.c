/* psdca.c - particle stochastic dual coordinate ascent (Oko, Suzuki, Nitanda, Wu, ICLR 2022),
 * as derived in docs/algorithms/pda_psdca.md section 2:
 *
 *   dual  D(g) = -(1/n) sum_i l*_i(g_i) - lambda2 log Z(g),
 *         q[g](theta) ~ exp(-[(1/n) sum_i g_i h(theta, x_i) + lambda1 ||theta||^2] / lambda2)
 *   step  on example i: hhat = sum_r w_r h(theta_r, x_i), s = safety Var_w[h(., x_i)] / (lambda2 n)
 *         (fallback B^2 / (lambda2 n): B = R for the bounded head with tanh, else max_r |h|),
 *         Delta = argmax_d -l*_i(g_i + d) + d hhat - s d^2 / 2,  g_i += Delta,
 *         w_r <- w_r exp(-Delta h(theta_r, x_i) / (lambda2 n)) (normalised; the exact change of
 *         the target), and when ESS = 1 / sum w^2 < rho M: systematic resampling, then K
 *         Langevin steps on the current potential (first-variation units, step inner_eta).
 *
 * Reconstructed parts (spec: the paper's exact reweighting schedule was not available): the
 * ESS trigger, the curvature constant with its safety factor and fallback, and visiting the
 * examples in a fresh random order each epoch (the driver) instead of i.i.d. draws. Predictions
 * use the weighted particles f(x) = sum_r w_r h(theta_r, x). */
#include <math.h>
#include <string.h>

#include "mfld_internal.h"
#include "suri/linalg.h"

const double *suri_psdca_dual(const suri_mfld *m) { return m->sd_g; }

/* logistic: solve y logit(sigma) ... in t = logit(sigma), sigma = -y u the conjugate's
 * variable: psi(t) = t + y hhat + s sigmoid(t) + s y g = 0 (psi' = 1 + s sigma (1 - sigma) >= 1,
 * so the root is unique and lies in [-c - s, -c] with c = y (hhat + s g)). */
static double logistic_delta(double g, double y, double hhat, double s) {
  const double c = y * (hhat + s * g);
  double lo = -c - s - 1e-12, hi = -c + 1e-12;
  for (int it = 0; it < 200 && hi - lo > 1e-15 * (1 + fabs(lo) + fabs(hi)); it++) {
    double t = 0.5 * (lo + hi);
    double sg = 1 / (1 + exp(-t));
    if (t + c + s * sg > 0)
      hi = t;
    else
      lo = t;
  }
  double t = 0.5 * (lo + hi);
  for (int it = 0; it < 3; it++) { /* Newton polish */
    double sg = 1 / (1 + exp(-t));
    t -= (t + c + s * sg) / (1 + s * sg * (1 - sg));
  }
  double sigma = 1 / (1 + exp(-t));
  return -y * sigma - g;
}

double suri_psdca_delta(suri_mfld_loss k, double g, double y, double hhat, double s) {
  if (k == SURI_MFLD_LOSS_SQUARED) return (hhat - y - g) / (1 + s);
  return logistic_delta(g, y, hhat, s);
}

/* h(theta_r, x_i) for every particle into m->hbuf (unweighted alpha). */
static void h_of_row(suri_mfld *m, const suri_dataset *d, int64_t i) {
  mf_view v;
  mf_view_of(m, &v);
  mf_gemm(1, 0, 1, 1, m->M, m->d, 1, d->x + i * d->dim, m->d, m->theta, m->ld, 0, m->hbuf, m->M);
  mf_row_forward(m->act, m->M, m->hbuf, v.bvec, NULL, NULL);
  for (int64_t r = 0; r < m->M; r++) m->hbuf[r] *= v.alpha[r];
}

static double reweight(suri_mfld *m, double delta, int64_t n) {
  const double k = -delta / (m->c.lambda2 * (double)n);
  double mx = -INFINITY, s = 0, s2 = 0;
  for (int64_t r = 0; r < m->M; r++) {
    double e = log(m->w[r]) + k * (double)m->hbuf[r];
    mx = e > mx ? e : mx;
  }
  for (int64_t r = 0; r < m->M; r++) {
    double e = exp(log(m->w[r]) + k * (double)m->hbuf[r] - mx);
    m->w[r] = e;
    s += e;
  }
  for (int64_t r = 0; r < m->M; r++) {
    m->w[r] /= s;
    s2 += m->w[r] * m->w[r];
  }
  return 1.0 / (s2 * (double)m->M);
}

suri_status suri_psdca_reweight(suri_mfld *m, const suri_dataset *data, int64_t i, double delta,
                                double *ess) {
  if (!m) return suri_fail(SURI_ERR_ARG, "psdca_reweight: NULL particle system");
  suri_status st = mf_check_data(m, data, "psdca");
  if (st) return st;
  if (i < 0 || i >= data->n)
    return suri_fail(SURI_ERR_ARG, "psdca_reweight: row %lld out of range", (long long)i);
  if ((st = mf_ensure_psdca(m, data->n))) return st;
  h_of_row(m, data, i);
  double e = reweight(m, delta, data->n);
  if (ess) *ess = e;
  return SURI_OK;
}

suri_status suri_psdca_resample(suri_mfld *m) {
  if (!m || !m->w || !m->theta_tmp)
    return suri_fail(SURI_ERR_ARG, "psdca_resample: no weighted particles");
  suri_rng r = suri_rng_make(m->c.seed, MF_RNG_RESAMPLE);
  r.counter = (uint64_t)m->sd_resamples++;
  const double u0 = suri_rng_uniform(&r), M = (double)m->M;
  double cum = m->w[0];
  int64_t src = 0;
  for (int64_t k = 0; k < m->M; k++) {
    double target = (u0 + (double)k) / M;
    while (cum < target && src < m->M - 1) cum += m->w[++src];
    memcpy(m->theta_tmp + k * m->ld, m->theta + src * m->ld, (size_t)m->p * sizeof(suri_real));
  }
  memcpy(m->theta, m->theta_tmp, (size_t)(m->M * m->ld) * sizeof(suri_real));
  for (int64_t k = 0; k < m->M; k++) m->w[k] = 1.0 / M;
  return SURI_OK;
}

suri_status mf_psdca_refresh(suri_mfld *m, const suri_dataset *data) {
  const int64_t n = data->n;
  suri_status st = suri_psdca_resample(m);
  if (st) return st;
  for (int64_t k = 0; k < n; k++) m->cb_all[k] = m->sd_g[k] / (double)n;
  for (int64_t k = 0; k < m->c.psdca_inner; k++)
    if ((st = mf_step_rows(m, data, NULL, n, m->cb_all, mf_eta_inner(m), m->c.lambda2))) return st;
  return SURI_OK;
}

suri_status suri_psdca_step(suri_mfld *m, const suri_dataset *data, int64_t i) {
  if (!m) return suri_fail(SURI_ERR_ARG, "psdca_step: NULL particle system");
  suri_status st = mf_check_data(m, data, "psdca");
  if (st) return st;
  if (i < 0 || i >= data->n)
    return suri_fail(SURI_ERR_ARG, "psdca_step: row %lld out of range [0, %lld)", (long long)i,
                     (long long)data->n);
  if (m->c.head == SURI_MFLD_HEAD_FIXED_PM1)
    return suri_fail(SURI_ERR_UNSUPPORTED,
                     "psdca: head pm1 fixes the output-weight marginal, "
                     "which reweighting would change; use head learn, bounded or one");
  if ((st = mf_ensure_psdca(m, data->n))) return st;
  const int64_t n = data->n;
  h_of_row(m, data, i);
  double hhat = 0, var = 0, hmax = 0;
  for (int64_t r = 0; r < m->M; r++) hhat += m->w[r] * (double)m->hbuf[r];
  for (int64_t r = 0; r < m->M; r++) {
    double e = (double)m->hbuf[r] - hhat;
    var += m->w[r] * e * e;
    hmax = fabs((double)m->hbuf[r]) > hmax ? fabs((double)m->hbuf[r]) : hmax;
  }
  const double ln = m->c.lambda2 * (double)n;
  double s = m->c.psdca_safety * var / ln;
  if (!(var > 0) || !isfinite(s)) {
    double B = (m->c.head == SURI_MFLD_HEAD_BOUNDED && m->act == MF_ACT_TANH) ? m->c.R : hmax;
    s = B * B / ln;
  }
  const double y = mf_target(m, data, i);
  const double delta = suri_psdca_delta(m->c.loss, m->sd_g[i], y, hhat, s);
  if (!isfinite(delta))
    return suri_fail(SURI_ERR_NUMERIC, "psdca: the dual step on row %lld is not finite (hhat %g)",
                     (long long)i, hhat);
  m->sd_g[i] += delta;
  double ess = reweight(m, delta, n);
  if (ess < m->c.psdca_ess && (st = mf_psdca_refresh(m, data))) return st;
  m->outer++;
  return SURI_OK;
}
