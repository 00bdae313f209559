/* adam.c - Adam (Kingma & Ba 2015), AdamW (decoupled weight decay, Loshchilov & Hutter 2019)
 * and their AMSGrad variant (Reddi, Kale & Kumar 2018), element-wise over a flat block.
 *
 * The update is torch.optim.Adam / AdamW's (PyTorch 1.13, single-tensor path), step t >= 1:
 *   AdamW: p *= 1 - lr wd,  d = g          Adam: d = g + wd p   (only when wd != 0)
 *   m = b1 m + (1 - b1) d
 *   v = b2 v + (1 - b2) d d
 *   AMSGrad: vmax = max(vmax, v), used in place of v below
 *   p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps),   bc1 = 1 - b1^t, bc2 = 1 - b2^t
 * Note where eps sits: after dividing sqrt(v) by sqrt(bc2), as torch does (the paper adds it
 * to the bias-corrected sqrt(v_hat), which is the same thing), not eps_hat of the paper's
 * "efficient" form. bc1, bc2 and the step size are computed in double (torch computes them in
 * Python floats) and rounded to suri_real once; the per-element arithmetic is in suri_real. */
#include <math.h>

#include "optim_internal.h"
#include "suri/optim.h"

suri_adam_hp suri_adam_defaults(void) {
  suri_adam_hp hp = {0};
  hp.lr = 1e-3;
  hp.beta1 = 0.9;
  hp.beta2 = 0.999;
  hp.eps = 1e-8;
  return hp;
}

suri_adam_hp suri_adamw_defaults(void) {
  suri_adam_hp hp = suri_adam_defaults();
  hp.weight_decay = 0.01;
  hp.decoupled = 1;
  return hp;
}

static int nonneg_finite(double x) { return x >= 0 && isfinite(x); }

suri_status suri_adam_check(const suri_adam_hp *hp) {
  const char *who = hp && hp->decoupled ? "adamw" : "adam";
  if (!hp) return suri_fail(SURI_ERR_ARG, "adam: hyper-parameters are NULL");
  if (!nonneg_finite(hp->lr))
    return suri_fail(SURI_ERR_ARG, "%s: lr must be finite and >= 0 (got %g)", who, hp->lr);
  if (!(hp->beta1 >= 0 && hp->beta1 < 1))
    return suri_fail(SURI_ERR_ARG, "%s: beta1 must be in [0, 1) (got %g)", who, hp->beta1);
  if (!(hp->beta2 >= 0 && hp->beta2 < 1))
    return suri_fail(SURI_ERR_ARG, "%s: beta2 must be in [0, 1) (got %g)", who, hp->beta2);
  if (!nonneg_finite(hp->eps))
    return suri_fail(SURI_ERR_ARG, "%s: eps must be finite and >= 0 (got %g)", who, hp->eps);
  if (!nonneg_finite(hp->weight_decay))
    return suri_fail(SURI_ERR_ARG, "%s: weight_decay must be finite and >= 0 (got %g)", who,
                     hp->weight_decay);
  return SURI_OK;
}

typedef struct adam_args {
  suri_real *p;       /* (n) */
  const suri_real *g; /* (n) */
  suri_real *m, *v;   /* (n) */
  suri_real *vmax;    /* (n) or NULL */
  suri_real decay;    /* AdamW: 1 - lr wd; Adam: 1 */
  suri_real wd;       /* Adam: L2 coefficient */
  suri_real b1, one_minus_b1, b2, one_minus_b2, eps;
  suri_real bc2_sqrt, step_size;
  int has_l2;
} adam_args;

/* Speed note: with the C default -fmath-errno, GCC guards each sqrt with a branch that sets
 * errno for negative inputs, and that branch keeps this loop scalar. Building with
 * -fno-math-errno (value-neutral: sqrt is correctly rounded either way and v >= 0; not
 * -ffast-math) lets it vectorise, ~4x faster on one core. A per-function optimize pragma does
 * not help: GCC fixes the builtin's errno behaviour for the whole translation unit. */

/* The loop body, specialised by the callers below on constant flags (l2: Adam's L2 term;
 * ams: AMSGrad) so that each instance is branch-free: a select between two floating-point
 * expressions may not be if-converted under the default -ftrapping-math. */
static inline void adam_loop(int64_t lo, int64_t hi, const adam_args *a, const int l2,
                             const int ams) {
  suri_real *p = a->p, *m = a->m, *v = a->v, *vmax = a->vmax;
  const suri_real *g = a->g;
  const suri_real decay = a->decay, wd = a->wd, b1 = a->b1, omb1 = a->one_minus_b1;
  const suri_real b2 = a->b2, omb2 = a->one_minus_b2, eps = a->eps;
  const suri_real bc2s = a->bc2_sqrt, ss = a->step_size;
#pragma omp simd
  for (int64_t i = lo; i < hi; i++) {
    suri_real pi = p[i] * decay; /* decay is exactly 1 unless AdamW */
    suri_real d = g[i];
    if (l2) d += wd * pi;
    suri_real mi = b1 * m[i] + omb1 * d;
    suri_real vi = b2 * v[i] + omb2 * d * d;
    m[i] = mi;
    v[i] = vi;
    if (ams) {
      /* torch.maximum; a NaN v propagates (the comparison is false). */
      vi = vmax[i] >= vi ? vmax[i] : vi;
      vmax[i] = vi;
    }
    p[i] = pi - ss * mi / (SURI_OPTIM_SQRT(vi) / bc2s + eps);
  }
}

SURI_OPTIM_TARGETS static void adam_range(int64_t lo, int64_t hi, const void *argp) {
  const adam_args *a = argp;
  if (a->has_l2) {
    if (a->vmax)
      adam_loop(lo, hi, a, 1, 1);
    else
      adam_loop(lo, hi, a, 1, 0);
  } else {
    if (a->vmax)
      adam_loop(lo, hi, a, 0, 1);
    else
      adam_loop(lo, hi, a, 0, 0);
  }
}

void suri_adam_step(size_t n, suri_real *p, const suri_real *g, suri_real *m, suri_real *v,
                    suri_real *vmax, const suri_adam_hp *hp, int64_t t) {
  if (t < 1) t = 1;
  double bc1 = 1.0 - pow(hp->beta1, (double)t);
  double bc2 = 1.0 - pow(hp->beta2, (double)t);
  adam_args a;
  a.p = p;
  a.g = g;
  a.m = m;
  a.v = v;
  a.vmax = hp->amsgrad ? vmax : NULL;
  a.has_l2 = !hp->decoupled && hp->weight_decay != 0;
  /* torch's AdamW multiplies by 1 - lr wd every step; x * 1 is exact, so Adam uses 1. */
  a.decay = hp->decoupled ? (suri_real)(1.0 - hp->lr * hp->weight_decay) : 1;
  a.wd = (suri_real)hp->weight_decay;
  a.b1 = (suri_real)hp->beta1;
  a.one_minus_b1 = (suri_real)(1.0 - hp->beta1);
  a.b2 = (suri_real)hp->beta2;
  a.one_minus_b2 = (suri_real)(1.0 - hp->beta2);
  a.eps = (suri_real)hp->eps;
  a.bc2_sqrt = (suri_real)sqrt(bc2);
  a.step_size = (suri_real)(hp->lr / bc1);
  suri_optim_for_chunks(n, adam_range, &a);
}
