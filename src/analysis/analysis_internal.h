/* analysis_internal.h - private helpers shared by the analysis files: the curvature operator's
 * struct, chunked data loading, active parameter ranges, small double vector kernels. */
#ifndef SURI_ANALYSIS_INTERNAL_H
#define SURI_ANALYSIS_INTERNAL_H

#include "suri/analysis.h"

/* A contiguous run of active parameters in the flat block. */
typedef struct an_range {
  size_t offset, len;
} an_range;

#define AN_MAX_RANGES (4 * SURI_MLP_MAX_LAYERS)

/* Active parameter ranges of model m: every parameter tensor (layer < 0) or the W and b of
 * layer table entry `layer`. Returns the number of ranges (0 and an error for a bad layer). */
int an_active_ranges(const suri_model *m, int layer, an_range *r, int64_t *total);

/* Copies rows [i0, i0 + b) of the data into the model's input nodes (eval of labels: a missing
 * label/target array is replaced by zeros so that the loss node never reads stale memory).
 * lab: (B) int32 work buffer, tgt: (B, OUT) suri_real work buffer. */
suri_status an_load_chunk(suri_model *m, const suri_analysis_data *d, int64_t i0, int64_t b,
                          int32_t *lab, suri_real *tgt);

/* Small double kernels. */
double an_dot(int64_t n, const double *a, const double *b);
double an_norm(int64_t n, const double *a);
void an_axpy(int64_t n, double a, const double *x, double *y); /* y += a x */
void an_scal(int64_t n, double a, double *x);
/* Fills x with a random vector: Rademacher (gauss = AN_RV_RADEMACHER), Gaussian (AN_RV_GAUSS)
 * or uniform on (-1, 1) (AN_RV_UNIFORM: a continuous distribution like the Gaussian, so almost
 * surely not orthogonal to any fixed vector, at a twentieth of the cost of Box-Muller) entries
 * from the stream (seed, SURI_RNG_PROBE), block counter starting at `counter`, then normalised
 * if unit != 0. Deterministic in (seed, counter). */
enum { AN_RV_RADEMACHER = 0, AN_RV_GAUSS = 1, AN_RV_UNIFORM = 2 };
void an_random_vector(uint64_t seed, uint64_t counter, int64_t n, int gauss, int unit, double *x);
/* Two passes of classical Gram-Schmidt of v against the k rows of Q (k, n): v -= Q^T (Q v). */
void an_orthogonalize(int64_t n, int64_t k, const double *Q, double *v, double *work);

/* Full reorthogonalisation of a Lanczos step (Daniel, Gragg, Kaufman & Stewart 1976): w = A q_j
 * minus alpha q_j and beta_prev q_{j-1}, then classical Gram-Schmidt passes against the j + 1
 * rows of Q (j + 1, n), a second pass only when the first removed more than 1 - 1/sqrt(2) of
 * the norm. Returns the correction to alpha (the q_j component the passes removed).
 * work: (j + 1). */
double an_lanczos_orth(int64_t n, int64_t j, const double *Q, double alpha, double beta_prev,
                       double *w, double *work);

/* Lanczos tridiagonalisation from unit q0 (eigen.c): alpha (m), beta (m; beta[m-1] is the
 * residual norm, 0 after an invariant subspace), at most mmax steps; Q: (mmax, n), w: (n),
 * work: (mmax). */
suri_status an_lanczos_tridiag(const suri_linop *A, const double *q0, int64_t mmax, double *Q,
                               double *alpha, double *beta, double *w, double *work,
                               int64_t *m_out, int64_t *apps);

#endif
