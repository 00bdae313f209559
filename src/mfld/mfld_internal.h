/* mfld_internal.h - the particle system object and the functions the files of src/mfld share
 * (object and evaluation: mfld.c; steps: step.c; drivers: run.c; gap: gap.c; PDA: pda.c;
 * P-SDCA: psdca.c; files: file.c). */
#ifndef SURI_MFLD_INTERNAL_H
#define SURI_MFLD_INTERNAL_H

#include "suri/mfld.h"
#include "vec.h"

/* Stream purposes besides SURI_RNG_INIT / SURI_RNG_NOISE / SURI_RNG_SHUFFLE. */
#define MF_RNG_RESAMPLE 0x4D465253u /* P-SDCA systematic resampling */
#define MF_RNG_GAP 0x4D464750u /* importance samples of the gap monitor */

/* A particle set as the kernels see it: theta (M, ld), alpha_f (M) output weights used for
 * predictions (includes M w_j for weighted particles), alpha (M) output weights used for the
 * per-particle drift, dalpha (M) d alpha / d a (LEARN/BOUNDED), bvec (M) the bias column or
 * NULL. */
typedef struct mf_view {
  const suri_real *theta;
  int64_t ld;
  const suri_real *alpha_f, *alpha, *dalpha, *bvec;
} mf_view;

struct suri_mfld {
  suri_mfld_config c;
  int act; /* MF_ACT_* */
  int64_t M, d, p, ld; /* p = d + bias + has_a; ld: row stride (multiple of 64 bytes) */
  int has_a, col_b, col_a; /* column of b / a in a row, -1 if absent */
  int64_t chunk, nblk; /* rows per GEMM block; row blocks per chunk */
  suri_real *theta; /* (M, ld) */
  suri_real *afix; /* (M) fixed output weights (FIXED heads) */
  suri_real *alpha_f, *alpha, *dalpha, *bvec; /* (M) per current theta (mf_view_of) */
  double *w; /* (M) P-SDCA weights, NULL while uniform */
  /* work buffers */
  suri_real *z, *z2; /* (chunk, M) pre-activations / D */
  suri_real *xb; /* (chunk, d) gathered rows */
  double *yb, *cb; /* (chunk) targets, coefficients of gathered rows */
  double *rloss; /* (chunk) per-row losses */
  suri_real *tmp; /* (nblk, M) row scratch */
  double *pa, *pb; /* (nblk, M) double partials of the a / b drift per row block */
  double *acc_a, *acc_b; /* (M) chunk sums of the partials */
  double *acc_a2, *acc_b2; /* (M) second set (SVRG snapshot) */
  double *gtail; /* (M, p - d) bias / a drift for the update */
  suri_real *G; /* (M, ld) w drift accumulated over chunks */
  /* SVRG */
  suri_real *snap, *snap_G; /* (M, ld) snapshot and its full drift */
  suri_real *s_alpha, *s_dalpha, *s_bvec; /* (M) snapshot's view arrays */
  double *s_gtail; /* (M, p - d) snapshot's full bias / a drift */
  double *gtail2; /* (M, p - d) snapshot's minibatch bias / a drift */
  int64_t since_snap;
  /* PDA */
  double *pda_C, pda_S; /* (n) accumulated coefficients, S_t */
  double *pda_coefbuf; /* (n) C_i / S_t of the active rows */
  int64_t pda_n, pda_t;
  int64_t *pda_active, pda_nactive;
  unsigned char *pda_is_active;
  /* P-SDCA */
  double *sd_g; /* (n) dual iterate */
  int64_t sd_n, sd_resamples;
  suri_real *hbuf; /* (M) h(theta_r, x_i) */
  suri_real *theta_tmp; /* (M, ld) resampling copy */
  double *cb_all; /* (n) g_i / n, the coefficients of the P-SDCA Langevin steps */
  /* counters */
  int64_t lsteps; /* Langevin steps taken (noise counter) */
  int64_t outer; /* outer steps of the driver */
  int64_t epochs_done;
};

/* mfld.c */
void mf_view_of(suri_mfld *m, mf_view *v); /* fills alpha_f/alpha/dalpha/bvec from theta */
double mf_target(const suri_mfld *m, const suri_dataset *d, int64_t i);
suri_status mf_check_data(const suri_mfld *m, const suri_dataset *d, const char *what);
/* Rows [r0, r0 + cnt) of idx (or of the data when idx is NULL): x pointer (gathered into
 * m->xb when idx != NULL) and targets into m->yb. cnt <= chunk. */
const suri_real *mf_rows(suri_mfld *m, const suri_dataset *d, const int64_t *idx, int64_t r0,
                         int64_t cnt);
/* Predictions f (cnt) of cnt rows x (cnt, d) with view v (forward only; uses m->z). */
void mf_forward(suri_mfld *m, const mf_view *v, const suri_real *x, int64_t cnt, double *f);
double mf_l2(const suri_mfld *m); /* E_q ||theta||^2 (weighted) */
suri_status mf_ensure_pda(suri_mfld *m, int64_t n);
suri_status mf_ensure_psdca(suri_mfld *m, int64_t n);
double mf_eta_inner(const suri_mfld *m);

/* step.c */
/* suri_gemm (C = alpha op(A) op(B) + beta C) computed in blocks of the particle dimension
 * (pdim_n: 1 = the columns of C, 0 = its rows) of a size fixed by the shape, OpenBLAS
 * single-threaded inside an OpenMP loop: bitwise the same for every thread count. */
void mf_gemm(int pdim_n, int ta, int tb, int64_t M, int64_t N, int64_t K, suri_real alpha,
             const suri_real *A, int64_t lda, const suri_real *B, int64_t ldb, suri_real beta,
             suri_real *C, int64_t ldc);
/* Drift pass over one chunk: Z = X W^T into z, forward, residual r_i = scale l'(f_i, y_i)
 * (coef == NULL; y from m->yb) or r_i = scale coef_i, backward; D in z; the a / b sums added
 * to acc_a / acc_b. Returns sum_i l(f_i, y_i) when with_loss (loss mode only), else 0. */
double mf_chunk(suri_mfld *m, const mf_view *v, const suri_real *x, int64_t cnt, const double *coef,
                double scale, suri_real *z, double *acc_a, double *acc_b, int with_loss);
/* gtail (M, p - d) from the a / b sums and the view's dalpha. */
void mf_tail(const suri_mfld *m, const mf_view *v, const double *acc_a, const double *acc_b,
             double *gtail);
/* Noise + decay + tail update of all particles (w block decayed already when wdone). */
void mf_update_all(suri_mfld *m, double eta, double lambda2, int wdone, const suri_real *E,
                   const double *gtail);
/* One Langevin step with the drift over rows idx[0..n) (all rows when idx NULL), residuals
 * from the loss (coef NULL, scale 1/n) or the given coefficients (scale 1). */
suri_status mf_step_rows(suri_mfld *m, const suri_dataset *d, const int64_t *idx, int64_t n,
                         const double *coef, double eta, double lambda2);
suri_status mf_svrg_snapshot(suri_mfld *m, const suri_dataset *d);
suri_status mf_svrg_step(suri_mfld *m, const suri_dataset *d, const int64_t *idx, int64_t n,
                         double lambda2);
suri_status mf_check_finite(suri_mfld *m, const char *what);

/* psdca.c: systematic resampling, then psdca_inner Langevin steps on the current potential. */
suri_status mf_psdca_refresh(suri_mfld *m, const suri_dataset *data);

/* gap.c */
/* U(theta_k) = (1/n) sum_i g_i h(theta_k, x_i) + lambda1 ||theta_k||^2 for K points
 * pts (K, p) (contiguous rows), in double: U (K). Fixed heads use alpha = fixed_alpha. */
suri_status mf_potential(suri_mfld *m, const suri_dataset *d, const double *g, int64_t K,
                         const suri_real *pts, double fixed_alpha, double *U);

/* The gap monitor at temperature lambda2 with dual vector g (NULL: g_q). */
suri_status mf_gap(suri_mfld *m, const suri_dataset *d, const double *g, double lambda2,
                   suri_mfld_gap *out);

#endif
