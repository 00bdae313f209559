/* pda.c - particle dual averaging (Nitanda, Wu, Suzuki, NeurIPS 2021), as specified in
 * docs/algorithms/pda_psdca.md section 1 (finite-sum form with the per-point accumulator):
 *
 *   outer step t = 1, 2, ...:  c_i = l'(f(x_i), y_i) for the rows i of the minibatch I_t,
 *                              C_i += t c_i / |I_t|,   S_t = t (t + 1) / 2,
 *   target  q_{t+1}(theta) ~ exp(-[sum_i (C_i / S_t) h(theta, x_i)
 *                                  + lambda1 ||theta||^2] / lambda2)
 *   inner:  K Langevin steps on that frozen potential, warm-started from the current particles.
 *
 * The averaging weights w_{s,t} = 2 s / (t (t + 1)) are the spec's reconstruction (linear
 * weights summing to one). The inner step is written in first-variation units (step
 * inner_eta on the potential, noise sqrt(2 inner_eta lambda2)), which is the spec's
 * unit-temperature chain on gbar = potential / lambda2 with step eta_t = inner_eta lambda2.
 * Output (spec: "in practice return the last set"): the particles after the last inner loop.
 * Only rows that were ever sampled carry a coefficient; the inner steps run over those rows
 * (in order of first use), or over the whole contiguous data set once every row is active. */
#include <math.h>
#include <string.h>

#include "mfld_internal.h"

const double *suri_pda_coef(const suri_mfld *m, double *S, int64_t *t) {
  if (S) *S = m->pda_S;
  if (t) *t = m->pda_t;
  return m->pda_C;
}

static suri_status check_rows(const suri_dataset *d, const int64_t *idx, int64_t n,
                              const char *what) {
  if (n < 1) return suri_fail(SURI_ERR_ARG, "%s: no rows (n = %lld)", what, (long long)n);
  for (int64_t k = 0; idx && k < n; k++)
    if (idx[k] < 0 || idx[k] >= d->n)
      return suri_fail(SURI_ERR_ARG, "%s: row index %lld out of range [0, %lld)", what,
                       (long long)idx[k], (long long)d->n);
  return SURI_OK;
}

suri_status suri_pda_accumulate(suri_mfld *m, const suri_dataset *data, const int64_t *idx,
                                int64_t n) {
  if (!m) return suri_fail(SURI_ERR_ARG, "pda_accumulate: NULL particle system");
  suri_status st = mf_check_data(m, data, "pda");
  if (st) return st;
  if (!idx) n = data->n;
  if ((st = check_rows(data, idx, n, "pda_accumulate"))) return st;
  if ((st = mf_ensure_pda(m, data->n))) return st;
  const int64_t t = m->pda_t + 1;
  mf_view v;
  mf_view_of(m, &v);
  for (int64_t r0 = 0; r0 < n; r0 += m->chunk) {
    int64_t cnt = n - r0 < m->chunk ? n - r0 : m->chunk;
    const suri_real *x = mf_rows(m, data, idx, r0, cnt);
    mf_forward(m, &v, x, cnt, m->rloss);
    for (int64_t k = 0; k < cnt; k++) {
      int64_t i = idx ? idx[r0 + k] : r0 + k;
      double c = suri_mfld_loss_deriv(m->c.loss, m->rloss[k], m->yb[k]);
      m->pda_C[i] += (double)t * c / (double)n;
      if (!m->pda_is_active[i]) {
        m->pda_is_active[i] = 1;
        m->pda_active[m->pda_nactive++] = i;
      }
    }
  }
  m->pda_S += (double)t; /* S_t = S_{t-1} + t = t (t + 1) / 2 */
  m->pda_t = t;
  return SURI_OK;
}

suri_status suri_pda_outer(suri_mfld *m, const suri_dataset *data, const int64_t *idx, int64_t n) {
  suri_status st = suri_pda_accumulate(m, data, idx, n);
  if (st) return st;
  const int64_t na = m->pda_nactive, N = m->pda_n;
  const int all = na == N;
  /* coefficients C_i / S_t of the active rows, in the order the inner steps visit them */
  double *coef = m->pda_coefbuf;
  for (int64_t k = 0; k < (all ? N : na); k++)
    coef[k] = m->pda_C[all ? k : m->pda_active[k]] / m->pda_S;
  const double eta = mf_eta_inner(m);
  for (int64_t s = 0; s < m->c.pda_inner; s++)
    if ((st = mf_step_rows(m, data, all ? NULL : m->pda_active, all ? N : na, coef, eta,
                           m->c.lambda2)))
      return st;
  m->outer++;
  return SURI_OK;
}
