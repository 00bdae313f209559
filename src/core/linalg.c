/* linalg.c - BLAS/LAPACKE wrappers (row-major) and their naive reference kernels.
 * A GEMM with one row (batch-1 inference) goes to gemv unless OpenBLAS's kernel set has a
 * small-matrix GEMM path: a plain M = 1 GEMM first packs (copies) all of B, 6x slower than
 * gemv with the Haswell kernels here, while the AVX-512 sets of OpenBLAS 0.3.21 (SkylakeX,
 * Cooperlake) run it through their small-matrix kernel, faster than gemv, and on one thread
 * where their gemv would wake the BLAS thread pool (docs/performance.md). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "suri/linalg.h"

static CBLAS_TRANSPOSE tr(int t) { return t ? CblasTrans : CblasNoTrans; }

static pthread_once_t small_once = PTHREAD_ONCE_INIT;
static int small_gemm;

static void detect_small_gemm(void) {
  const char *core = openblas_get_corename();
  small_gemm = core && (strstr(core, "SkylakeX") || strstr(core, "Cooperlake") ||
                        strstr(core, "SapphireRapids"));
}

int suri_blas_small_gemm(void) {
  pthread_once(&small_once, detect_small_gemm);
  return small_gemm;
}

void suri_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, suri_real alpha,
               const suri_real *A, int64_t lda, const suri_real *B, int64_t ldb, suri_real beta,
               suri_real *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (M == 1 && !ta && K > 0 && !suri_blas_small_gemm()) {
    /* C (1, N) = alpha A (1, K) op(B) + beta C: op(B)^T A as a matrix-vector product; B is
     * stored (N, K) when transposed, (K, N) otherwise. */
    if (tb) suri_gemv(0, N, K, alpha, B, ldb, A, beta, C);
    else suri_gemv(1, K, N, alpha, B, ldb, A, beta, C);
    return;
  }
#ifdef SURI_REAL_DOUBLE
  cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), (blasint)M, (blasint)N, (blasint)K, alpha, A,
              (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
#else
  cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), (blasint)M, (blasint)N, (blasint)K, alpha, A,
              (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
#endif
}

void suri_gemv(int ta, int64_t M, int64_t N, suri_real alpha, const suri_real *A, int64_t lda,
               const suri_real *x, suri_real beta, suri_real *y) {
  if (M <= 0 || N <= 0) return;
  int64_t ny = ta ? N : M;
  /* BLAS scales y by beta even when beta = 0, which keeps a NaN already in y; the contract
   * here is that y is not read then. */
  if (beta == 0)
    for (int64_t i = 0; i < ny; i++) y[i] = 0;
#ifdef SURI_REAL_DOUBLE
  cblas_dgemv(CblasRowMajor, tr(ta), (blasint)M, (blasint)N, alpha, A, (blasint)lda, x, 1,
              beta == 0 ? 1.0 : beta, y, 1);
#else
  cblas_sgemv(CblasRowMajor, tr(ta), (blasint)M, (blasint)N, alpha, A, (blasint)lda, x, 1,
              beta == 0 ? 1.0f : beta, y, 1);
#endif
}

void suri_dgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A,
                int64_t lda, const double *B, int64_t ldb, double beta, double *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), (blasint)M, (blasint)N, (blasint)K, alpha, A,
              (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

#define REF_GEMM_BODY                                                                          \
  for (int64_t i = 0; i < M; i++)                                                              \
    for (int64_t j = 0; j < N; j++) {                                                          \
      double s = 0;                                                                            \
      for (int64_t k = 0; k < K; k++) {                                                        \
        double a = ta ? A[k * lda + i] : A[i * lda + k];                                       \
        double b = tb ? B[j * ldb + k] : B[k * ldb + j];                                       \
        s += a * b;                                                                            \
      }                                                                                        \
      double c = beta == 0 ? 0.0 : (double)beta * C[i * ldc + j];                              \
      C[i * ldc + j] = alpha * s + c;                                                          \
    }

void suri_gemm_ref(int ta, int tb, int64_t M, int64_t N, int64_t K, suri_real alpha,
                   const suri_real *A, int64_t lda, const suri_real *B, int64_t ldb,
                   suri_real beta, suri_real *C, int64_t ldc) {
  REF_GEMM_BODY
}

void suri_dgemm_ref(int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha,
                    const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                    double *C, int64_t ldc) {
  REF_GEMM_BODY
}

suri_status suri_syev(int64_t n, double *A, double *w, int vectors) {
  if (n <= 0) return suri_fail(SURI_ERR_ARG, "syev: n must be positive (got %lld)", (long long)n);
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, vectors ? 'V' : 'N', 'U', (lapack_int)n, A,
                                   (lapack_int)n, w);
  if (info != 0)
    return suri_fail(SURI_ERR_NUMERIC, "syev: LAPACK dsyevd failed (info %d)", (int)info);
  return SURI_OK;
}

suri_status suri_syev_ref(int64_t n, double *A, double *w) {
  /* Cyclic Jacobi: rotate away off-diagonal entries until they are negligible. */
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0, diag = 0;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < n; j++) {
        if (i != j) off += A[i * n + j] * A[i * n + j];
        else diag += A[i * n + i] * A[i * n + i];
      }
    if (off <= 1e-30 * (diag + 1e-300)) break;
    for (int64_t p = 0; p < n; p++)
      for (int64_t q = p + 1; q < n; q++) {
        double apq = A[p * n + q];
        if (fabs(apq) < 1e-300) continue;
        double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; k++) {
          double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; k++) {
          double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  for (int64_t i = 0; i < n; i++) w[i] = A[i * n + i];
  /* insertion sort ascending */
  for (int64_t i = 1; i < n; i++) {
    double v = w[i];
    int64_t j = i - 1;
    while (j >= 0 && w[j] > v) w[j + 1] = w[j], j--;
    w[j + 1] = v;
  }
  return SURI_OK;
}

double suri_dot(int64_t n, const suri_real *x, const suri_real *y) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * y[i];
  return s;
}
