/* lgv_targets.h - closed forms for the Langevin and mean-field tests (test_langevin.c, test_mfld.c,
 * test_pda.c):
 * the isotropic Gaussian f_i(x) = ||x - a_i||^2 / 2 and linear regression
 * f_i(x) = (y_i - z_i . x)^2 / (2 s2) in the suri_objective form (mean gradients, double). */
#ifndef SURI_LGV_TARGETS_H
#define SURI_LGV_TARGETS_H

#include "suri/data.h"
#include "suri/langevin.h"

/* Isotropic Gaussian: f_i(x) = ||x - a_i||^2 / 2, a: (n, d). */
typedef struct gauss_obj {
  int64_t n, d;
  double *a, *abar, *s2; /* (n, d), (d), (d) population variance per coordinate */
} gauss_obj;

/* Linear regression: f_i(x) = (y_i - z_i . x)^2 / (2 s2), z: (n, p). */
typedef struct linreg_obj {
  int64_t n, p;
  double *z, *y, s2;
} linreg_obj;

/* The suri_objective gradient of each target (ctx = the target struct). */
suri_status lgv_gauss_grad(void *ctx, const suri_real *x, int64_t count, const int64_t *idx,
                           double *g, double *loss);
suri_status lgv_linreg_grad(void *ctx, const suri_real *x, int64_t count, const int64_t *idx,
                            double *g, double *loss);
/* a_i ~ N(0, scale^2 I) from (seed, SURI_RNG_DATA), with abar and s2 filled in. */
gauss_obj lgv_gauss_make(int64_t n, int64_t d, double scale, uint64_t seed);
void lgv_gauss_free(gauss_obj *o);
suri_objective lgv_gauss_objective(gauss_obj *o);
/* p = 2 correlated Gaussian features (z2 = z1/2 + N(0,1)), y = z . (1, -0.5) + N(0, s2). */
linreg_obj lgv_linreg_make(int64_t n, double s2, uint64_t seed);

/* The closed-form mean of the linear mean-field model's stationary law (test_mfld.c,
 * test_pda.c): solves (X^T X / n + 2 l1 I) m = X^T t / n for the targets t of ds by Gaussian
 * elimination; d = ds->dim <= 8. */
void tu_ridge(const suri_dataset *ds, double l1, double *m);

#endif
