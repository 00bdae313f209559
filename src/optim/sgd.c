/* sgd.c - stochastic gradient descent with optional L2 weight decay, heavy-ball momentum,
 * dampening and Nesterov momentum, element-wise over a flat parameter block.
 *
 * The update is torch.optim.SGD's (PyTorch 1.13, _single_tensor_sgd), step t = 1, 2, ...:
 *   d   = g + wd p                                   (only when wd != 0, as torch)
 *   buf = d                                          (t == 1: torch clones the first gradient,
 *                                                     ignoring dampening)
 *   buf = mu buf + (1 - dampening) d                 (t > 1)
 *   p  -= lr (nesterov ? d + mu buf : buf)           (mu == 0: p -= lr d)
 * Heavy ball: Polyak 1964; the Nesterov form is Sutskever et al. 2013's reformulation, which is
 * the one torch implements. Arithmetic per element is in suri_real; coefficients derived from
 * the double hyper-parameters are rounded to suri_real once, as torch rounds its Python floats
 * to the tensor's dtype. */
#include <math.h>

#include "optim_internal.h"
#include "suri/optim.h"

suri_sgd_hp suri_sgd_defaults(void) {
  suri_sgd_hp hp = {0};
  hp.lr = 0.01;
  return hp;
}

static int nonneg_finite(double x) { return x >= 0 && isfinite(x); }

suri_status suri_sgd_check(const suri_sgd_hp *hp) {
  if (!hp) return suri_fail(SURI_ERR_ARG, "sgd: hyper-parameters are NULL");
  if (!nonneg_finite(hp->lr))
    return suri_fail(SURI_ERR_ARG, "sgd: lr must be finite and >= 0 (got %g)", hp->lr);
  if (!nonneg_finite(hp->momentum))
    return suri_fail(SURI_ERR_ARG, "sgd: momentum must be finite and >= 0 (got %g)",
                     hp->momentum);
  if (!isfinite(hp->dampening))
    return suri_fail(SURI_ERR_ARG, "sgd: dampening must be finite (got %g)", hp->dampening);
  if (!nonneg_finite(hp->weight_decay))
    return suri_fail(SURI_ERR_ARG, "sgd: weight_decay must be finite and >= 0 (got %g)",
                     hp->weight_decay);
  if (hp->nesterov && (hp->momentum <= 0 || hp->dampening != 0))
    return suri_fail(SURI_ERR_ARG,
                     "sgd: nesterov needs momentum > 0 and dampening 0 (got momentum %g, "
                     "dampening %g)",
                     hp->momentum, hp->dampening);
  return SURI_OK;
}

typedef struct sgd_args {
  suri_real *p;       /* (n) */
  const suri_real *g; /* (n) */
  suri_real *buf;     /* (n) or NULL when mu == 0 */
  suri_real lr, wd, mu, one_minus_damp;
  int has_wd, mu_on, nesterov, first;
} sgd_args;

/* The loop body, specialised by sgd_range on constant flags (wd: L2 term; mom: momentum;
 * first: t == 1; nest: Nesterov) so each instance is branch-free and vectorises (a select
 * between floating-point expressions may not be if-converted under -ftrapping-math). */
static inline void sgd_loop(int64_t lo, int64_t hi, const sgd_args *a, const int wd_on,
                            const int mom, const int first, const int nest) {
  suri_real *p = a->p, *buf = a->buf;
  const suri_real *g = a->g;
  const suri_real lr = a->lr, wd = a->wd, mu = a->mu, omd = a->one_minus_damp;
#pragma omp simd
  for (int64_t i = lo; i < hi; i++) {
    suri_real d = g[i];
    if (wd_on) d += wd * p[i];
    if (mom) {
      suri_real b = first ? d : mu * buf[i] + omd * d;
      buf[i] = b;
      d = nest ? d + mu * b : b;
    }
    p[i] -= lr * d;
  }
}

SURI_OPTIM_TARGETS static void sgd_range(int64_t lo, int64_t hi, const void *argp) {
  const sgd_args *a = argp;
  if (!a->mu_on) {
    if (a->has_wd)
      sgd_loop(lo, hi, a, 1, 0, 0, 0);
    else
      sgd_loop(lo, hi, a, 0, 0, 0, 0);
    return;
  }
  /* first and Nesterov flags select among four momentum loops, each with or without L2. */
  const int k = (a->first ? 2 : 0) + (a->nesterov ? 1 : 0);
  if (a->has_wd) {
    switch (k) {
    case 0: sgd_loop(lo, hi, a, 1, 1, 0, 0); break;
    case 1: sgd_loop(lo, hi, a, 1, 1, 0, 1); break;
    case 2: sgd_loop(lo, hi, a, 1, 1, 1, 0); break;
    default: sgd_loop(lo, hi, a, 1, 1, 1, 1); break;
    }
  } else {
    switch (k) {
    case 0: sgd_loop(lo, hi, a, 0, 1, 0, 0); break;
    case 1: sgd_loop(lo, hi, a, 0, 1, 0, 1); break;
    case 2: sgd_loop(lo, hi, a, 0, 1, 1, 0); break;
    default: sgd_loop(lo, hi, a, 0, 1, 1, 1); break;
    }
  }
}

void suri_sgd_step(size_t n, suri_real *p, const suri_real *g, suri_real *buf,
                   const suri_sgd_hp *hp, int64_t t) {
  sgd_args a;
  a.p = p;
  a.g = g;
  a.buf = buf;
  a.lr = (suri_real)hp->lr;
  a.wd = (suri_real)hp->weight_decay;
  a.mu = (suri_real)hp->momentum;
  a.one_minus_damp = (suri_real)(1.0 - hp->dampening);
  a.has_wd = hp->weight_decay != 0;
  a.nesterov = hp->nesterov != 0;
  a.mu_on = hp->momentum != 0;
  a.first = t <= 1;
  suri_optim_for_chunks(n, sgd_range, &a);
}
