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
  double *wbig;         /* (5 C) per-row work */
  int training0;   /* the graph's mode before curv_begin */
  uint64_t rng_calls0;
  int64_t applications;
  double last_eps;
};

/* Graph mode bracketing of one application: eval (or training with batch_stats), no input
 * tangents; curv_end restores the state block, dropout counter and training mode. */
void curv_begin(suri_curv *c);
void curv_chunk_mode(suri_curv *c, int64_t chunk);
void curv_end(suri_curv *c);
/* acc[active] += w * grads[active] (double). */
void curv_add_grads(suri_curv *c, double w, double *acc);
/* Hessian-vector product on the flat layout (hessian.c). */
suri_status curv_apply_hessian(suri_curv *c, const double *v, double *out);

#endif
