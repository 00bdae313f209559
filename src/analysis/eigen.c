/* eigen.c - eigen-solvers for symmetric operators given only as v -> A v:
 *  - power iteration with projection deflation (pair j iterates P A P with
 *    P = I - sum_{i<j} v_i v_i^T), stopped on the residual ||A v - theta v|| (Golub & Van Loan,
 *    Matrix Computations, 4th ed., 7.3 and 8.2);
 *  - Lanczos with full reorthogonalisation (every new vector, after the three-term recurrence,
 *    is Gram-Schmidt'ed against the whole basis, twice when the first pass cancelled: the
 *    criterion of Daniel, Gragg, Kaufman & Stewart 1976; so no ghost copies of converged
 *    eigenvalues appear; Paige 1971, Parlett, The Symmetric Eigenvalue Problem, ch. 13). The
 *    Ritz pairs of the tridiagonal T_m come from
 *    LAPACK dstev; the residual of Ritz pair i is |beta_m s_{m,i}| (exact when the basis is
 *    orthonormal). An invariant subspace (beta ~ 0) before k Ritz values exist restarts with a
 *    fresh random vector orthogonal to the basis (T becomes block-diagonal).
 *  - dense LAPACK eigendecomposition of Gram matrices (suri_syev) with the achieved residual.
 * All vectors are double; start vectors come from the stream (seed, SURI_RNG_PROBE). */
#define _DEFAULT_SOURCE /* madvise */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "analysis_internal.h"
#include "suri/linalg.h"

suri_eig_opts suri_eig_defaults(void) {
  suri_eig_opts o;
  memset(&o, 0, sizeof o);
  o.k = 1;
  o.max_iter = 0;
  o.tol = 1e-6;
  o.which = SURI_EIG_LARGEST;
  return o;
}

/* ---- dense operators ---------------------------------------------------------------------- */
static suri_status dense_apply(const suri_linop *self, const double *v, double *out) {
  suri_dgemm(0, 0, self->n, 1, self->n, 1.0, (const double *)self->ctx, self->n, v, 1, 0.0, out,
             1);
  return SURI_OK;
}

suri_linop suri_linop_dense(int64_t n, const double *A) {
  suri_linop op = {n, dense_apply, (void *)(uintptr_t)A};
  return op;
}

suri_status suri_linop_to_dense(const suri_linop *op, int sym, double *A) {
  if (!op || !op->apply || op->n < 1 || !A)
    return suri_fail(SURI_ERR_ARG, "linop_to_dense: invalid operator or output");
  int64_t n = op->n;
  double *e = calloc((size_t)n, sizeof *e), *col = calloc((size_t)n, sizeof *col);
  if (!e || !col) {
    free(e), free(col);
    return suri_fail(SURI_ERR_NOMEM, "linop_to_dense: cannot allocate 2 x %lld doubles",
                     (long long)n);
  }
  suri_status st = SURI_OK;
  for (int64_t j = 0; j < n && !st; j++) {
    e[j] = 1.0;
    st = op->apply(op, e, col);
    e[j] = 0.0;
    for (int64_t i = 0; i < n; i++) A[i * n + j] = col[i];
  }
  free(e), free(col);
  if (st || !sym) return st;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = i + 1; j < n; j++) A[i * n + j] = A[j * n + i] = 0.5 * (A[i * n + j] + A[j * n + i]);
  return SURI_OK;
}

/* ---- argument checks ---------------------------------------------------------------------- */
static suri_status check_eig(const char *who, const suri_linop *A, const suri_eig_opts *o,
                             const double *values) {
  if (!A || !A->apply || A->n < 1)
    return suri_fail(SURI_ERR_ARG, "%s: invalid operator (n must be >= 1)", who);
  if (!values) return suri_fail(SURI_ERR_ARG, "%s: values is NULL", who);
  if (o->k < 1 || o->k > A->n)
    return suri_fail(SURI_ERR_ARG, "%s: k = %d is outside 1..%lld (the operator dimension)", who,
                     o->k, (long long)A->n);
  if (!(o->tol > 0) || o->max_iter < 0)
    return suri_fail(SURI_ERR_ARG, "%s: need tol > 0 and max_iter >= 0 (got %g, %d)", who, o->tol,
                     o->max_iter);
  return SURI_OK;
}

static void fill_info(suri_solver_info *info, int it, double res, int conv, int64_t apps) {
  if (!info) return;
  info->iterations = it;
  info->residual = res;
  info->converged = conv;
  info->applications = apps;
}

/* ---- power iteration ---------------------------------------------------------------------- */
suri_status suri_eig_power(const suri_linop *A, const suri_eig_opts *o, double *values,
                           double *vectors, double *residuals, suri_solver_info *info) {
  suri_eig_opts op = o ? *o : suri_eig_defaults();
  if (op.max_iter == 0) op.max_iter = 1000;
  suri_status st = check_eig("power iteration", A, &op, values);
  if (st) return st;
  int64_t n = A->n, k = op.k;
  double *V = vectors ? vectors : malloc((size_t)(k * n) * sizeof *V);
  double *w = malloc((size_t)n * sizeof *w), *work = malloc((size_t)k * sizeof *work);
  if (!V || !w || !work) {
    if (!vectors) free(V);
    free(w), free(work);
    return suri_fail(SURI_ERR_NOMEM, "power iteration: cannot allocate %lld x %lld doubles",
                     (long long)(k + 1), (long long)n);
  }
  double scale = 0, worst = 0;
  int total = 0, all_conv = 1;
  int64_t apps = 0;
  for (int64_t j = 0; j < k && !st; j++) {
    double *v = V + j * n, theta = 0, res = 0;
    an_random_vector(op.seed, (uint64_t)j << 40, n, AN_RV_UNIFORM, 0, v);
    an_orthogonalize(n, j, V, v, work);
    double nv = an_norm(n, v);
    if (nv > 0) an_scal(n, 1.0 / nv, v);
    int conv = 0;
    for (int it = 0; it < op.max_iter; it++) {
      st = A->apply(A, v, w);
      apps++, total++;
      if (st) break;
      an_orthogonalize(n, j, V, w, work); /* projection deflation */
      theta = an_dot(n, v, w);
      res = 0;
      for (int64_t i = 0; i < n; i++) res += (w[i] - theta * v[i]) * (w[i] - theta * v[i]);
      res = sqrt(res);
      if (!isfinite(theta)) {
        st = suri_fail(SURI_ERR_NUMERIC, "power iteration: the operator returned NaN/Inf");
        break;
      }
      double sc = fabs(theta) > scale ? fabs(theta) : scale;
      if (res <= op.tol * sc || sc == 0) {
        conv = 1;
        break;
      }
      double nw = an_norm(n, w);
      for (int64_t i = 0; i < n; i++) v[i] = w[i] / nw;
    }
    values[j] = theta;
    if (residuals) residuals[j] = res;
    if (fabs(theta) > scale) scale = fabs(theta);
    if (res > worst) worst = res;
    all_conv &= conv;
  }
  if (!vectors) free(V);
  free(w), free(work);
  if (st) return st;
  fill_info(info, total, scale > 0 ? worst / scale : worst, all_conv, apps);
  return SURI_OK;
}

/* ---- Lanczos ------------------------------------------------------------------------------ */
typedef struct lz_state {
  int64_t n, mmax;
  double *Q;            /* (mmax + 1, n) basis */
  double *alpha, *beta; /* (mmax) */
  double *d, *e, *S;    /* dstev work: (m), (m), (m, m) */
  double *w, *work;     /* (n), (mmax + 1) */
} lz_state;

/* The basis: up to (mmax + 1) n doubles (174 MB for 80 steps of a 269,322-parameter net), of
 * which a solve touches only the vectors it builds. Linux: 2 MiB aligned and marked for
 * transparent huge pages, so first touches cost one fault per 2 MiB instead of one per 4 KiB
 * (these faults were 7 % of a 9-step solve on that net). */
static double *lz_basis_alloc(size_t count) {
#ifdef __linux__
  size_t bytes = count * sizeof(double), huge = (size_t)2 << 20;
  if (bytes >= huge) {
    void *p = NULL;
    bytes = (bytes + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, bytes)) return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure only costs speed */
    return p;
  }
#endif
  return malloc(count * sizeof(double));
}

static void lz_free(lz_state *z) {
  free(z->Q), free(z->alpha), free(z->beta), free(z->d), free(z->e), free(z->S), free(z->w),
      free(z->work);
}

static suri_status lz_alloc(lz_state *z, int64_t n, int64_t mmax) {
  memset(z, 0, sizeof *z);
  z->n = n, z->mmax = mmax;
  size_t qn;
  if (suri_mul_size((size_t)(mmax + 1), (size_t)n, &qn) || qn > SIZE_MAX / sizeof(double))
    return suri_fail(SURI_ERR_NOMEM, "Lanczos: basis of %lld x %lld doubles is too large",
                     (long long)(mmax + 1), (long long)n);
  z->Q = lz_basis_alloc(qn);
  z->alpha = malloc((size_t)mmax * sizeof(double));
  z->beta = malloc((size_t)mmax * sizeof(double));
  z->d = malloc((size_t)mmax * sizeof(double));
  z->e = malloc((size_t)mmax * sizeof(double));
  z->S = malloc((size_t)(mmax * mmax) * sizeof(double));
  z->w = malloc((size_t)n * sizeof(double));
  z->work = malloc((size_t)(mmax + 1) * sizeof(double));
  if (!z->Q || !z->alpha || !z->beta || !z->d || !z->e || !z->S || !z->w || !z->work) {
    lz_free(z);
    return suri_fail(SURI_ERR_NOMEM, "Lanczos: cannot allocate the basis (%lld x %lld doubles, "
                     "%.1f MiB); lower max_iter", (long long)(mmax + 1), (long long)n,
                     (double)qn * 8.0 / 1048576.0);
  }
  return SURI_OK;
}

/* Eigen-decomposition of T_m into z->d (ascending) and z->S (m, m; column i = vector i). */
static suri_status lz_ritz(lz_state *z, int64_t m) {
  memcpy(z->d, z->alpha, (size_t)m * sizeof(double));
  if (m > 1) memcpy(z->e, z->beta, (size_t)(m - 1) * sizeof(double));
  lapack_int info = LAPACKE_dstev(LAPACK_ROW_MAJOR, 'V', (lapack_int)m, z->d, z->e, z->S,
                                  (lapack_int)m);
  if (info != 0)
    return suri_fail(SURI_ERR_NUMERIC, "Lanczos: LAPACK dstev failed (info %d)", (int)info);
  return SURI_OK;
}

/* Indices (into the ascending Ritz values d) of the k wanted ones, in output order. */
static void lz_select(const double *d, int64_t m, int64_t k, suri_eig_which which, int64_t *sel) {
  if (which == SURI_EIG_SMALLEST) {
    for (int64_t i = 0; i < k; i++) sel[i] = i;
  } else if (which == SURI_EIG_LARGEST) {
    for (int64_t i = 0; i < k; i++) sel[i] = m - 1 - i;
  } else { /* merge from both ends by magnitude */
    int64_t lo = 0, hi = m - 1;
    for (int64_t i = 0; i < k; i++) sel[i] = fabs(d[hi]) >= fabs(d[lo]) ? hi-- : lo++;
  }
}

/* Residual estimates of the selected pairs; returns 1 if all meet tol. */
static int lz_converged(const lz_state *z, int64_t m, int64_t k, const int64_t *sel, double tol,
                        double *res, double *scale) {
  double sc = 0;
  for (int64_t i = 0; i < m; i++) sc = fabs(z->d[i]) > sc ? fabs(z->d[i]) : sc;
  int ok = 1;
  for (int64_t i = 0; i < k; i++) {
    res[i] = fabs(z->beta[m - 1] * z->S[(m - 1) * m + sel[i]]);
    ok &= res[i] <= tol * sc;
  }
  *scale = sc;
  return ok;
}

/* Next basis vector after step j: w / beta_j, or a fresh random vector after an invariant
 * subspace. Returns 0 if the space is exhausted. */
static int lz_next(lz_state *z, int64_t j, double anorm, uint64_t seed) {
  double *q = z->Q + (j + 1) * z->n;
  if (z->beta[j] > 1e-10 * anorm && z->beta[j] > 0) {
    for (int64_t i = 0; i < z->n; i++) q[i] = z->w[i] / z->beta[j];
    return 1;
  }
  z->beta[j] = 0;
  for (int attempt = 0; attempt < 3; attempt++) {
    an_random_vector(seed, ((uint64_t)(j + 1) << 40) + ((uint64_t)attempt << 32), z->n,
                     AN_RV_UNIFORM, 1, q);
    an_orthogonalize(z->n, j + 1, z->Q, q, z->work);
    double nq = an_norm(z->n, q);
    if (nq > 1e-8) {
      an_scal(z->n, 1.0 / nq, q);
      return 1;
    }
  }
  return 0;
}

/* Plain Lanczos tridiagonalisation for quadrature (spectral.c): m steps from the unit vector
 * q0 with full reorthogonalisation, stopping early at an invariant subspace (the quadrature is
 * then exact). Q: (mmax, n) work, alpha/beta: (mmax), w: (n), work: (mmax). */
suri_status an_lanczos_tridiag(const suri_linop *A, const double *q0, int64_t mmax, double *Q,
                               double *alpha, double *beta, double *w, double *work,
                               int64_t *m_out, int64_t *apps) {
  int64_t n = A->n;
  memcpy(Q, q0, (size_t)n * sizeof *Q);
  double anorm = 0;
  *m_out = 0;
  for (int64_t j = 0; j < mmax; j++) {
    double *q = Q + j * n;
    suri_status st = A->apply(A, q, w);
    (*apps)++;
    if (st) return st;
    alpha[j] = an_dot(n, q, w);
    if (!isfinite(alpha[j]))
      return suri_fail(SURI_ERR_NUMERIC, "Lanczos: the operator returned NaN/Inf");
    alpha[j] += an_lanczos_orth(n, j, Q, alpha[j], j ? beta[j - 1] : 0.0, w, work);
    beta[j] = an_norm(n, w);
    anorm = fmax(anorm, fabs(alpha[j]) + beta[j] + (j ? beta[j - 1] : 0));
    *m_out = j + 1;
    if (j + 1 == mmax) break;
    if (!(beta[j] > 1e-10 * anorm)) { /* invariant subspace: the measure is fully resolved */
      beta[j] = 0;
      break;
    }
    for (int64_t i = 0; i < n; i++) Q[(j + 1) * n + i] = w[i] / beta[j];
  }
  return SURI_OK;
}

static suri_status lz_run(const suri_linop *A, const suri_eig_opts *op, lz_state *z,
                          int64_t *m_out, int *conv, int64_t *sel, double *res, double *scale,
                          int64_t *apps) {
  int64_t n = A->n, k = op->k;
  an_random_vector(op->seed, 0, n, AN_RV_UNIFORM, 1, z->Q);
  double anorm = 0;
  *conv = 0;
  for (int64_t j = 0; j < z->mmax; j++) {
    double *q = z->Q + j * n;
    suri_status st = A->apply(A, q, z->w);
    (*apps)++;
    if (st) return st;
    z->alpha[j] = an_dot(n, q, z->w);
    if (!isfinite(z->alpha[j]))
      return suri_fail(SURI_ERR_NUMERIC, "Lanczos: the operator returned NaN/Inf");
    z->alpha[j] += an_lanczos_orth(n, j, z->Q, z->alpha[j], j ? z->beta[j - 1] : 0.0, z->w,
                                   z->work);
    z->beta[j] = an_norm(n, z->w);
    anorm = fmax(anorm, fabs(z->alpha[j]) + z->beta[j] + (j ? z->beta[j - 1] : 0));
    int64_t m = j + 1;
    int breakdown = !(z->beta[j] > 1e-10 * anorm);
    if (m >= k && (m <= 50 || m % 5 == 0 || m == z->mmax || breakdown)) {
      st = lz_ritz(z, m);
      if (st) return st;
      lz_select(z->d, m, k, op->which, sel);
      if (breakdown) z->beta[j] = 0;
      if (lz_converged(z, m, k, sel, op->tol, res, scale)) *conv = 1;
    }
    *m_out = m;
    if (*conv || m == z->mmax || m == n) break;
    if (!lz_next(z, j, anorm, op->seed)) break;
  }
  if (!*conv) { /* final Ritz pairs for whatever dimension was reached */
    suri_status st = lz_ritz(z, *m_out);
    if (st) return st;
    lz_select(z->d, *m_out, k, op->which, sel);
    *conv = lz_converged(z, *m_out, k, sel, op->tol, res, scale) || *m_out == n;
  }
  return SURI_OK;
}

suri_status suri_eig_lanczos(const suri_linop *A, const suri_eig_opts *o, double *values,
                             double *vectors, double *residuals, suri_solver_info *info) {
  suri_eig_opts op = o ? *o : suri_eig_defaults();
  suri_status st = check_eig("Lanczos", A, &op, values);
  if (st) return st;
  int64_t n = A->n, k = op.k;
  int64_t mmax = op.max_iter ? op.max_iter : (2 * k + 40 > 80 ? 2 * k + 40 : 80);
  if (mmax < k) mmax = k;
  if (mmax > n) mmax = n;
  lz_state z;
  st = lz_alloc(&z, n, mmax);
  if (st) return st;
  int64_t *sel = malloc((size_t)k * sizeof *sel);
  double *res = malloc((size_t)k * sizeof *res);
  int64_t m = 0, apps = 0;
  int conv = 0;
  double scale = 0;
  if (!sel || !res) st = suri_fail(SURI_ERR_NOMEM, "Lanczos: cannot allocate %lld values", (long long)k);
  if (!st) st = lz_run(A, &op, &z, &m, &conv, sel, res, &scale, &apps);
  if (!st && m < k)
    st = suri_fail(SURI_ERR_NUMERIC, "Lanczos: the Krylov space stopped at dimension %lld < k = "
                   "%lld", (long long)m, (long long)k);
  if (!st) {
    double worst = 0;
    for (int64_t i = 0; i < k; i++) {
      values[i] = z.d[sel[i]];
      if (residuals) residuals[i] = res[i];
      worst = fmax(worst, res[i]);
      if (!vectors) continue;
      double *y = vectors + i * n; /* y = Q_m^T s_i */
      memset(y, 0, (size_t)n * sizeof *y);
      for (int64_t r = 0; r < m; r++) an_axpy(n, z.S[r * m + sel[i]], z.Q + r * n, y);
    }
    fill_info(info, (int)m, scale > 0 ? worst / scale : worst, conv, apps);
  }
  free(sel), free(res);
  lz_free(&z);
  return st;
}

/* ---- dense -------------------------------------------------------------------------------- */
suri_status suri_eig_dense(int64_t n, const double *K, int k, double *values, double *vectors,
                           suri_solver_info *info) {
  if (n < 1 || !K || !values || k < 1 || k > n)
    return suri_fail(SURI_ERR_ARG, "eig_dense: need n >= 1, K, values and 1 <= k <= n (n = %lld, "
                     "k = %d)", (long long)n, k);
  size_t nn;
  if (suri_mul_size((size_t)n, (size_t)n, &nn) || nn > SIZE_MAX / sizeof(double))
    return suri_fail(SURI_ERR_NOMEM, "eig_dense: %lld x %lld is too large", (long long)n,
                     (long long)n);
  double *E = malloc(nn * sizeof *E), *w = malloc((size_t)n * sizeof *w);
  double *kv = malloc((size_t)n * sizeof *kv), *v = malloc((size_t)n * sizeof *v);
  if (!E || !w || !kv || !v) {
    free(E), free(w), free(kv), free(v);
    return suri_fail(SURI_ERR_NOMEM, "eig_dense: cannot allocate a %lld x %lld matrix",
                     (long long)n, (long long)n);
  }
  memcpy(E, K, nn * sizeof *E);
  suri_status st = suri_syev(n, E, w, 1);
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < n && !st; i++) scale = fmax(scale, fabs(w[i]));
  for (int i = 0; i < k && !st; i++) {
    int64_t c = n - 1 - i; /* ascending -> descending */
    values[i] = w[c];
    for (int64_t r = 0; r < n; r++) v[r] = E[r * n + c];
    if (vectors) memcpy(vectors + (int64_t)i * n, v, (size_t)n * sizeof *v);
    suri_dgemm(0, 0, n, 1, n, 1.0, K, n, v, 1, 0.0, kv, 1);
    an_axpy(n, -w[c], v, kv);
    worst = fmax(worst, an_norm(n, kv));
  }
  free(E), free(w), free(kv), free(v);
  if (st) return st;
  fill_info(info, 1, scale > 0 ? worst / scale : worst, 1, 0);
  return SURI_OK;
}
