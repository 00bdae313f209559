/* vec.h - private element-wise kernels of the mean-field particle code (src/mfld/vec.c):
 * the activation row passes around the two GEMMs of a step, the counter-based Gaussian noise
 * and the fused Langevin update. Everything here works on one row or one range and is called
 * from OpenMP loops over FIXED blocks, so results never depend on the thread count. */
#ifndef SURI_MFLD_VEC_H
#define SURI_MFLD_VEC_H

#include "suri/core.h"

/* Activations the particle code supports (values of suri_act in suri/nn.h). */
enum { MF_ACT_TANH, MF_ACT_RELU, MF_ACT_IDENTITY };

/* Rows per block of the row pass and its double partial sums (fixed: thread-count
 * independence of the reductions over data rows). */
#define MF_ROW_BLOCK 64
/* Normals per noise group: 64 Philox blocks x 4 words (see mf_noise_group). */
#define MF_NOISE_GROUP 256
#define MF_NOISE_BLOCKS 64

/* tanh for one value, the same function the row passes use (float builds: the rational
 * approximation of vec.c, max relative error 3.6e-7; double builds: libm). */
suri_real mf_tanh(suri_real x);
/* act(x) (act = MF_ACT_*). */
suri_real mf_act(int act, suri_real x);

/* Pass A over one data row: z (M) holds x_i . w_j; on return z_j = s_j = act(z_j + b_j)
 * (b may be NULL) and the result is sum_j alpha_j s_j accumulated in double (alpha may be NULL
 * when only the activations are wanted; the result is then 0). tmp: (M) scratch. */
double mf_row_forward(int act, int64_t M, suri_real *z, const suri_real *b, const suri_real *alpha,
                      suri_real *tmp);

/* Pass B over one data row: z holds s (pass A) on entry, D_j = r alpha_j act'(s_j) on return
 * (act' written through s: tanh 1 - s^2, relu [s > 0], identity 1). If ga != NULL,
 * ga_j += r s_j; if gb != NULL, gb_j += D_j (double partials, per fixed row block). */
void mf_row_backward(int act, int64_t M, suri_real *z, double r, const suri_real *alpha, double *ga,
                     double *gb);

/* Standard normals number q = group * 256 + u, u in [0, 256), of the stream (seed, purpose)
 * with block offset base: they come from Philox blocks base + 64 group + (u mod 64), word pair
 * (u / 64 < 2 ? 0,1 : 2,3) by Box-Muller (cosine branch for u / 64 even, sine branch odd).
 * Writes out[0..256). Float builds use vectorised float polynomials for log, sin and cos
 * (relative error < 1e-6); double builds use libm. */
void mf_noise_group(uint64_t seed, uint32_t purpose, uint64_t base, uint64_t group, suri_real *out);

/* Langevin update of the particles in the flat coordinate range [q0, q1) of the (M, p)
 * system (coordinate q = j p + c, row stride ld), noise sqrt(2 eta lambda2) = `sigma`:
 *   c <  nw (the w block, already decayed by the GEMM when wdone, else here):
 *        theta += -eta (E + (wdone ? 0 : G + 2 lambda1 theta)) + sigma xi
 *   c >= nw (bias and output weight columns: gradient in gtail (M, p - nw)):
 *        theta += -eta (gtail + 2 lambda1 theta) + sigma xi
 * E (M, ldE) is an extra w drift (SVRG's snapshot drift; columns < nw only) or NULL; G (M, ldG)
 * the accumulated w drift (only read when !wdone). Noise: mf_noise_group groups of
 * (seed, purpose, base).
 * [q0, q1) must be whole groups except at the end of the system. */
typedef struct mf_update {
  int64_t p, ld, nw;
  suri_real *theta;
  const suri_real *G;
  int64_t ldG;
  const suri_real *E;
  int64_t ldE;
  const double *gtail; /* (M, p - nw) */
  int wdone;
  double eta, lambda1, sigma;
  uint64_t seed, base;
  uint32_t purpose;
} mf_update;
void mf_update_range(const mf_update *u, int64_t q0, int64_t q1);

#endif
