/* step.c - one Langevin step of the particle system (docs/algorithms/mfld.md section 3):
 *
 *   r_i  = (1/|I|) l'(f(x_i), y_i)            (or a given coefficient: frozen potentials)
 *   G_j  = sum_i r_i grad_theta h(theta_j, x_i),  h = alpha(a) act(w . x + b):
 *          grad_w = r_i alpha_j act'(u_ij) x_i,  grad_b = r_i alpha_j act'(u_ij),
 *          grad_a = r_i act(u_ij) alpha'(a_j)
 *   theta_j <- theta_j - eta (G_j + 2 lambda1 theta_j) + sqrt(2 eta lambda2) xi_j
 *
 * as two GEMMs and two element-wise passes: U = X W^T (B, M); per data row (in L1) s = act(U),
 * f_i, r_i, then D = r alpha act'(s) in place; the w drift D^T X (M, d) is accumulated by the
 * second GEMM straight into the particles with beta = 1 - 2 eta lambda1 (when the rows fit in
 * one chunk), and a last pass adds the bias / output-weight drift, the decay of those columns
 * and the noise. The a / b drifts are sums over data rows: double partials per fixed block of
 * 64 rows, added in block order, so no result depends on the thread count.
 *
 * SVRG (Suzuki, Wu, Nitanda 2023): G = drift_I(Theta) - drift_I(snapshot) + drift_all(snapshot);
 * both minibatch drifts use the same rows, so their w parts are one GEMM on D(Theta) -
 * D(snapshot) (which is exactly zero right after a snapshot). */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "mfld_internal.h"
#include "suri/linalg.h"

#define OMP_MIN_WORK 32768
#define J_BLOCK 512 /* particles per task of the partial-sum reduction */
#define UPD_GROUPS 8 /* noise groups per task of the update pass */

/* OpenBLAS splits a GEMM between its threads differently for different thread counts, and the
 * edge micro-kernels sum in another order, so suri_gemm's low bits depend on the thread count
 * (measured: ~5% of the entries of a 512^3 sgemm differ between 1 and 2 threads). mf_gemm
 * therefore cuts the particle dimension into blocks whose size depends on the shape only,
 * runs them in an OpenMP loop, and keeps OpenBLAS single-threaded meanwhile: each block's
 * value depends on its shape alone. (docs/mfld.md gives the measured cost of the blocking.) */
/* At most 8 blocks of at least 64 particles: enough to share among the cores of a small
 * machine, few enough that re-packing the shared operand once per block stays cheap. */
static int64_t gemm_block(int64_t P) {
  int64_t bs = (P + 7) / 8;
  bs = (bs + 15) / 16 * 16;
  return bs < 64 ? 64 : bs;
}

void mf_gemm(int pdim_n, int ta, int tb, int64_t M, int64_t N, int64_t K, suri_real alpha,
             const suri_real *A, int64_t lda, const suri_real *B, int64_t ldb, suri_real beta,
             suri_real *C, int64_t ldc) {
  const int64_t P = pdim_n ? N : M, bs = gemm_block(P), nb = (P + bs - 1) / bs;
  if (M <= 0 || N <= 0) return;
  const int saved = openblas_get_num_threads();
  if (saved != 1) openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) if (nb > 1 && M * N * K > 262144)
  for (int64_t b = 0; b < nb; b++) {
    const int64_t j0 = b * bs, w = P - j0 < bs ? P - j0 : bs;
    if (pdim_n)
      suri_gemm(ta, tb, M, w, K, alpha, A, lda, tb ? B + j0 * ldb : B + j0, ldb, beta, C + j0, ldc);
    else
      suri_gemm(ta, tb, w, N, K, alpha, ta ? A + j0 : A + j0 * lda, lda, B, ldb, beta, C + j0 * ldc,
                ldc);
  }
  if (saved != 1) openblas_set_num_threads(saved);
}

double mf_chunk(suri_mfld *m, const mf_view *v, const suri_real *x, int64_t cnt, const double *coef,
                double scale, suri_real *z, double *acc_a, double *acc_b, int with_loss) {
  const int64_t M = m->M, nb = (cnt + MF_ROW_BLOCK - 1) / MF_ROW_BLOCK;
  const int need_a = m->has_a, need_b = m->col_b >= 0;
  const suri_mfld_loss loss = m->c.loss;
  mf_gemm(1, 0, 1, cnt, M, m->d, 1, x, m->d, v->theta, v->ld, 0, z, M);
#pragma omp parallel for schedule(static) if (cnt * M > OMP_MIN_WORK)
  for (int64_t b = 0; b < nb; b++) {
    double *pa = need_a ? m->pa + b * M : NULL, *pb = need_b ? m->pb + b * M : NULL;
    if (pa) memset(pa, 0, (size_t)M * sizeof(double));
    if (pb) memset(pb, 0, (size_t)M * sizeof(double));
    int64_t i1 = (b + 1) * MF_ROW_BLOCK < cnt ? (b + 1) * MF_ROW_BLOCK : cnt;
    for (int64_t i = b * MF_ROW_BLOCK; i < i1; i++) {
      suri_real *row = z + i * M;
      double r;
      if (coef) {
        mf_row_forward(m->act, M, row, v->bvec, NULL, m->tmp + b * M);
        r = scale * coef[i];
      } else {
        double f = mf_row_forward(m->act, M, row, v->bvec, v->alpha_f, m->tmp + b * M) / (double)M;
        r = scale * suri_mfld_loss_deriv(loss, f, m->yb[i]);
        if (with_loss) m->rloss[i] = suri_mfld_loss_value(loss, f, m->yb[i]);
      }
      mf_row_backward(m->act, M, row, r, v->alpha, pa, pb);
    }
  }
  if (need_a || need_b) {
#pragma omp parallel for schedule(static) if (nb * M > OMP_MIN_WORK)
    for (int64_t j0 = 0; j0 < M; j0 += J_BLOCK) {
      int64_t j1 = j0 + J_BLOCK < M ? j0 + J_BLOCK : M;
      for (int64_t b = 0; b < nb; b++) {
        if (need_a)
          for (int64_t j = j0; j < j1; j++) acc_a[j] += m->pa[b * M + j];
        if (need_b)
          for (int64_t j = j0; j < j1; j++) acc_b[j] += m->pb[b * M + j];
      }
    }
  }
  double s = 0;
  if (with_loss && !coef)
    for (int64_t i = 0; i < cnt; i++) s += m->rloss[i];
  return s;
}

void mf_tail(const suri_mfld *m, const mf_view *v, const double *acc_a, const double *acc_b,
             double *gtail) {
  const int64_t T = m->p - m->d;
  for (int64_t j = 0; j < m->M; j++) {
    if (m->col_b >= 0) gtail[j * T + (m->col_b - m->d)] = acc_b[j];
    if (m->col_a >= 0) gtail[j * T + (m->col_a - m->d)] = (double)v->dalpha[j] * acc_a[j];
  }
}

/* Noise groups of one Langevin step: ceil(M p / 256); blocks per step = 64 x that. */
static int64_t groups_per_step(const suri_mfld *m) {
  return (m->M * m->p + MF_NOISE_GROUP - 1) / MF_NOISE_GROUP;
}

void mf_update_all(suri_mfld *m, double eta, double lambda2, int wdone, const suri_real *E,
                   const double *gtail) {
  mf_update u;
  u.p = m->p;
  u.ld = m->ld;
  u.nw = m->d;
  u.theta = m->theta;
  u.G = m->G;
  u.ldG = m->ld;
  u.E = E;
  u.ldE = m->ld;
  u.gtail = gtail;
  u.wdone = wdone;
  u.eta = eta;
  u.lambda1 = m->c.lambda1;
  u.sigma = sqrt(2.0 * eta * lambda2); /* per coordinate; NOT scaled by M (mfld.md sec. 3) */
  u.seed = m->c.seed;
  u.purpose = SURI_RNG_NOISE;
  const int64_t ng = groups_per_step(m), Q = m->M * m->p;
  u.base = (uint64_t)m->lsteps * (uint64_t)ng * MF_NOISE_BLOCKS;
  const int64_t ntask = (ng + UPD_GROUPS - 1) / UPD_GROUPS;
#pragma omp parallel for schedule(static) if (Q > OMP_MIN_WORK)
  for (int64_t t = 0; t < ntask; t++) {
    int64_t q0 = t * UPD_GROUPS * MF_NOISE_GROUP, q1 = q0 + UPD_GROUPS * MF_NOISE_GROUP;
    mf_update_range(&u, q0, q1 < Q ? q1 : Q);
  }
  m->lsteps++;
}

/* 1 if every entry is finite: x * 0 is 0 for finite x and NaN for NaN or Inf. */
static int tail_finite(const suri_mfld *m, const double *gtail) {
  const int64_t n = m->M * (m->p - m->d);
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += gtail[i] * 0.0;
  return s == 0.0;
}

suri_status mf_check_finite(suri_mfld *m, const char *what) {
  for (int64_t j = 0; j < m->M; j++) {
    const suri_real *row = m->theta + j * m->ld;
    for (int64_t k = 0; k < m->p; k++)
      if (!isfinite((double)row[k]))
        return suri_fail(SURI_ERR_NUMERIC,
                         "%s: particle %lld coordinate %lld is %g after "
                         "Langevin step %lld (step size eta too large for the data scale?)",
                         what, (long long)j, (long long)k, (double)row[k], (long long)m->lsteps);
  }
  return SURI_OK;
}

suri_status mf_step_rows(suri_mfld *m, const suri_dataset *d, const int64_t *idx, int64_t n,
                         const double *coef, double eta, double lambda2) {
  mf_view v;
  mf_view_of(m, &v);
  const int64_t M = m->M, dd = m->d;
  const double scale = coef ? 1.0 : 1.0 / (double)n;
  memset(m->acc_a, 0, (size_t)M * sizeof(double));
  memset(m->acc_b, 0, (size_t)M * sizeof(double));
  int wdone = n <= m->chunk;
  for (int64_t r0 = 0; r0 < n; r0 += m->chunk) {
    int64_t cnt = n - r0 < m->chunk ? n - r0 : m->chunk;
    const suri_real *x = mf_rows(m, d, idx, r0, cnt);
    mf_chunk(m, &v, x, cnt, coef ? coef + r0 : NULL, scale, m->z, m->acc_a, m->acc_b, 0);
    if (wdone) /* theta_w = (1 - 2 eta lambda1) theta_w - eta D^T X: decay and drift in one GEMM */
      mf_gemm(0, 1, 0, M, dd, cnt, (suri_real)-eta, m->z, M, x, dd,
              (suri_real)(1.0 - 2.0 * eta * m->c.lambda1), m->theta, m->ld);
    else
      mf_gemm(0, 1, 0, M, dd, cnt, 1, m->z, M, x, dd, r0 == 0 ? 0 : 1, m->G, m->ld);
  }
  mf_tail(m, &v, m->acc_a, m->acc_b, m->gtail);
  if (!tail_finite(m, m->gtail))
    return suri_fail(SURI_ERR_NUMERIC,
                     "mfld: the drift is NaN/Inf at Langevin step %lld "
                     "(diverged: lower eta)",
                     (long long)m->lsteps);
  mf_update_all(m, eta, lambda2, wdone, NULL, m->gtail);
  return SURI_OK;
}

suri_status suri_mfld_step(suri_mfld *m, const suri_dataset *data, const int64_t *idx, int64_t n,
                           double lambda2) {
  if (!m) return suri_fail(SURI_ERR_ARG, "mfld_step: NULL particle system");
  suri_status st = mf_check_data(m, data, "step");
  if (st) return st;
  if (!idx) n = data->n;
  if (n < 1) return suri_fail(SURI_ERR_ARG, "mfld_step: no rows (n = %lld)", (long long)n);
  if (!(lambda2 >= 0) || !isfinite(lambda2))
    return suri_fail(SURI_ERR_ARG, "mfld_step: lambda2 must be >= 0 (got %g)", lambda2);
  for (int64_t k = 0; idx && k < n; k++)
    if (idx[k] < 0 || idx[k] >= data->n)
      return suri_fail(SURI_ERR_ARG, "mfld_step: row index %lld out of range [0, %lld)",
                       (long long)idx[k], (long long)data->n);
  return mf_step_rows(m, data, idx, n, NULL, m->c.eta, lambda2);
}

suri_status suri_mfld_langevin(suri_mfld *m, const suri_dataset *data, const int64_t *idx,
                               int64_t n, const double *coef, double eta, int64_t steps) {
  if (!m || !coef) return suri_fail(SURI_ERR_ARG, "mfld_langevin: NULL argument");
  suri_status st = mf_check_data(m, data, "langevin");
  if (st) return st;
  if (!idx) n = data->n;
  if (n < 1) return suri_fail(SURI_ERR_ARG, "mfld_langevin: no rows (n = %lld)", (long long)n);
  if (!(eta > 0) || !isfinite(eta) || eta * 2 * m->c.lambda1 >= 1)
    return suri_fail(SURI_ERR_ARG, "mfld_langevin: eta must be in (0, 1/(2 lambda1)) (got %g)",
                     eta);
  for (int64_t s = 0; s < steps; s++)
    if ((st = mf_step_rows(m, data, idx, n, coef, eta, m->c.lambda2))) return st;
  return SURI_OK;
}

suri_status suri_mfld_drift(suri_mfld *m, const suri_dataset *data, const int64_t *idx, int64_t n,
                            suri_real *G) {
  if (!m || !G) return suri_fail(SURI_ERR_ARG, "mfld_drift: NULL argument");
  suri_status st = mf_check_data(m, data, "drift");
  if (st) return st;
  if (!idx) n = data->n;
  if (n < 1) return suri_fail(SURI_ERR_ARG, "mfld_drift: no rows (n = %lld)", (long long)n);
  mf_view v;
  mf_view_of(m, &v);
  const int64_t M = m->M, dd = m->d, p = m->p, T = p - dd;
  memset(m->acc_a, 0, (size_t)M * sizeof(double));
  memset(m->acc_b, 0, (size_t)M * sizeof(double));
  for (int64_t r0 = 0; r0 < n; r0 += m->chunk) {
    int64_t cnt = n - r0 < m->chunk ? n - r0 : m->chunk;
    const suri_real *x = mf_rows(m, data, idx, r0, cnt);
    mf_chunk(m, &v, x, cnt, NULL, 1.0 / (double)n, m->z, m->acc_a, m->acc_b, 0);
    mf_gemm(0, 1, 0, M, dd, cnt, 1, m->z, M, x, dd, r0 == 0 ? 0 : 1, G, p);
  }
  mf_tail(m, &v, m->acc_a, m->acc_b, m->gtail);
  for (int64_t j = 0; j < M; j++)
    for (int64_t k = 0; k < T; k++) G[j * p + dd + k] = (suri_real)m->gtail[j * T + k];
  return SURI_OK;
}

/* ---- SVRG ------------------------------------------------------------------------------- */
suri_status mf_svrg_snapshot(suri_mfld *m, const suri_dataset *d) {
  mf_view v;
  mf_view_of(m, &v);
  const int64_t M = m->M, dd = m->d, n = d->n;
  memcpy(m->snap, m->theta, (size_t)(M * m->ld) * sizeof(suri_real));
  memcpy(m->s_alpha, m->alpha, (size_t)M * sizeof(suri_real));
  memcpy(m->s_dalpha, m->dalpha, (size_t)M * sizeof(suri_real));
  memcpy(m->s_bvec, m->bvec, (size_t)M * sizeof(suri_real));
  memset(m->acc_a2, 0, (size_t)M * sizeof(double));
  memset(m->acc_b2, 0, (size_t)M * sizeof(double));
  for (int64_t r0 = 0; r0 < n; r0 += m->chunk) {
    int64_t cnt = n - r0 < m->chunk ? n - r0 : m->chunk;
    const suri_real *x = mf_rows(m, d, NULL, r0, cnt);
    mf_chunk(m, &v, x, cnt, NULL, 1.0 / (double)n, m->z, m->acc_a2, m->acc_b2, 0);
    mf_gemm(0, 1, 0, M, dd, cnt, 1, m->z, M, x, dd, r0 == 0 ? 0 : 1, m->snap_G, m->ld);
  }
  mf_tail(m, &v, m->acc_a2, m->acc_b2, m->s_gtail);
  m->since_snap = 0;
  return SURI_OK;
}

suri_status mf_svrg_step(suri_mfld *m, const suri_dataset *d, const int64_t *idx, int64_t n,
                         double lambda2) {
  mf_view v, sv;
  mf_view_of(m, &v);
  sv.theta = m->snap;
  sv.ld = m->ld;
  sv.alpha_f = m->s_alpha;
  sv.alpha = m->s_alpha;
  sv.dalpha = m->s_dalpha;
  sv.bvec = m->col_b >= 0 ? m->s_bvec : NULL;
  const int64_t M = m->M, dd = m->d, T = m->p - dd;
  const double eta = m->c.eta;
  memset(m->acc_a, 0, (size_t)M * sizeof(double));
  memset(m->acc_b, 0, (size_t)M * sizeof(double));
  memset(m->acc_a2, 0, (size_t)M * sizeof(double));
  memset(m->acc_b2, 0, (size_t)M * sizeof(double));
  const suri_real *x = mf_rows(m, d, idx, 0, n);
  mf_chunk(m, &v, x, n, NULL, 1.0 / (double)n, m->z, m->acc_a, m->acc_b, 0);
  mf_chunk(m, &sv, x, n, NULL, 1.0 / (double)n, m->z2, m->acc_a2, m->acc_b2, 0);
  const int64_t Q = n * M;
#pragma omp parallel for schedule(static) if (Q > OMP_MIN_WORK)
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < M; j++) m->z[i * M + j] -= m->z2[i * M + j];
  mf_gemm(0, 1, 0, M, dd, n, (suri_real)-eta, m->z, M, x, dd,
          (suri_real)(1.0 - 2.0 * eta * m->c.lambda1), m->theta, m->ld);
  mf_tail(m, &v, m->acc_a, m->acc_b, m->gtail);
  mf_tail(m, &sv, m->acc_a2, m->acc_b2, m->gtail2);
  for (int64_t j = 0; j < M * T; j++) m->gtail[j] += m->s_gtail[j] - m->gtail2[j];
  if (!tail_finite(m, m->gtail))
    return suri_fail(SURI_ERR_NUMERIC,
                     "mfld: the SVRG drift is NaN/Inf at Langevin step %lld "
                     "(diverged: lower eta)",
                     (long long)m->lsteps);
  mf_update_all(m, eta, lambda2, 1, m->snap_G, m->gtail);
  m->since_snap++;
  return SURI_OK;
}
