/* suri/linalg.h - thin BLAS/LAPACK wrappers over OpenBLAS/LAPACKE for suri_real and double,
 * each with a naive reference kernel that tests compare against.
 * All matrices are row-major. C = alpha * op(A) op(B) + beta * C, op(X) = X or X^T;
 * op(A): (M, K), op(B): (K, N), C: (M, N). */
#ifndef SURI_LINALG_H
#define SURI_LINALG_H

#include "suri/core.h"

#ifdef __cplusplus
extern "C" {
#endif

void suri_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, suri_real alpha,
               const suri_real *A, int64_t lda, const suri_real *B, int64_t ldb, suri_real beta,
               suri_real *C, int64_t ldc);
/* 1 if the BLAS kernel set has a small-matrix GEMM path (OpenBLAS SkylakeX, Cooperlake,
 * SapphireRapids); suri_gemm then keeps one-row products as GEMMs, else it runs them as gemv. */
int suri_blas_small_gemm(void);
/* y = alpha op(A) x + beta y, A: (M, N) row-major, op(A) = A (x: (N), y: (M)) or A^T (x: (M),
 * y: (N)). With beta = 0, y is not read. */
void suri_gemv(int trans_a, int64_t M, int64_t N, suri_real alpha, const suri_real *A,
               int64_t lda, const suri_real *x, suri_real beta, suri_real *y);
/* Reference: triple loop, accumulates in double. */
void suri_gemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, suri_real alpha,
                   const suri_real *A, int64_t lda, const suri_real *B, int64_t ldb,
                   suri_real beta, suri_real *C, int64_t ldc);
void suri_dgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                double *C, int64_t ldc);
void suri_dgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                    const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                    double *C, int64_t ldc);

/* Eigen-decomposition of a symmetric (n, n) matrix A (row-major, overwritten by the
 * eigenvectors as columns if vectors != 0). w: (n) eigenvalues, ascending. */
suri_status suri_syev(int64_t n, double *A, double *w, int vectors);
/* Reference: cyclic Jacobi rotations (slow, exact enough for tests, n <= ~200). */
suri_status suri_syev_ref(int64_t n, double *A, double *w);

/* Dot product of two suri_real vectors, accumulated in double. */
double suri_dot(int64_t n, const suri_real *x, const suri_real *y);

#ifdef __cplusplus
}
#endif
#endif
