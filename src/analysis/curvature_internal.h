/* curvature_internal.h - the curvature operator's struct, shared by curvature.c (Fisher-type
 * products) and hessian.c (Hessian-vector products). */
#ifndef SURI_CURVATURE_INTERNAL_H
#define SURI_CURVATURE_INTERNAL_H

#include "analysis_internal.h"

struct suri_curv {
  suri_model *m;        /* borrowed */
  suri_graph *g;        /* the model's graph (borrowed) */
  suri_analysis_data d; /* borrowed views */
  suri_curv_opts o;
  suri_loss_kind loss;
  int64_t IN, C, B;     /* input width, outputs, max batch */
  size_t P, nstate;     /* flat parameter / state block lengths */
  int n_ranges;
  an_range ranges[AN_MAX_RANGES];
  int64_t dim;          /* active scalars */
  suri_real *tan;       /* (P) parameter tangent */
  suri_real *seed;      /* (B, C) backward seed */
  int32_t *lab;         /* (B) zero labels when the data has none */
  suri_real *tgt;       /* (B, C) targets built from labels, or zeros */
  double *acc;          /* (P) double accumulator */
  double *vflat, *oflat;/* (P) linop conversions */
  suri_real *state0;    /* (nstate) saved running statistics */
  suri_real *theta0;    /* (P) saved parameters (Hessian) */
  double *gm;           /* (P) gradient at theta - eps v (Hessian) */
  int hess_exact;       /* Hessian products by forward-over-reverse (hessian.c), else difference */
  suri_real *hvr;       /* (P) one chunk's exact Hessian-vector product */
  uint64_t hpass;       /* graph pass count after this operator's last exact product */
  double *wbig;         /* (5 C) per-row work */
  /* Forward-pass cache (Fisher kinds and GGN, data in one chunk, eval mode): the graph's node
   * values of the last forward are reused while they provably belong to this operator's data
   * and parameters; psnap/osnap are the parameters and outputs of that forward. */
  int cache_on, cache_ok;
  suri_real *psnap;     /* (P) */
  suri_real *osnap;     /* (n, C) */
  /* Factored empirical Fisher (factored.c): per active dense layer l, its input rows H_l (n, in)
   * and the per-sample backward signals D_l (n, out) of the seed r_t. fac_ok: computed at the
   * parameters of the last forward pass (psnap); every new forward pass clears it. */
  int fac_on, fac_ok, n_fac;
  struct curv_factor {
    const suri_layer *ly;
    int64_t wk, bk;     /* compact index of W and of b (-1: no bias) */
    suri_real *H, *D;
  } fac[SURI_MLP_MAX_LAYERS + 1];
  suri_real *fac_mem;   /* H and D blocks, then T (n, max out), Vf (max out * in) */
  suri_real *fac_T, *fac_V;
  double *fac_u;        /* (n) */
  int training0;   /* the graph's mode before curv_begin */
  uint64_t rng_calls0;
  int64_t applications;
  double last_eps;
};

/* Graph mode bracketing of one application: eval (or training with batch_stats), no input
 * tangents; curv_end restores the state block, dropout counter and training mode. */
/* The parameter tangent c->tan = v on the operator's active entries (0 elsewhere; v flat, P)
 * and a cleared accumulator c->acc: the start of every product. */
void curv_load_tangent(suri_curv *c, const double *v);
void curv_begin(suri_curv *c);
void curv_chunk_mode(suri_curv *c, int64_t chunk);
void curv_end(suri_curv *c);
/* acc[active] += w * grads[active] (double). */
void curv_add_grads(suri_curv *c, double w, double *acc);
/* Forward pass of rows [i0, i0 + b) into the graph, reusing the cached one when valid. */
suri_status jmj_forward(suri_curv *c, int64_t i0, int64_t b);
/* r_t of the empirical Fisher for sample t, graph output row `row`; r: (C), w: (3 C). */
void curv_emp_residual(const suri_curv *c, int64_t t, int64_t row, double *r, double *w);
/* factored.c: decides whether the factored empirical Fisher applies and allocates it
 * (c->fac_on); the compact product. */
suri_status curv_factored_setup(suri_curv *c);
suri_status curv_factored_apply(suri_curv *c, const double *v, double *out);
/* Hessian-vector product on the flat layout (hessian.c). */
suri_status curv_apply_hessian(suri_curv *c, const double *v, double *out);

#endif
