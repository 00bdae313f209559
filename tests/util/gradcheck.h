/* gradcheck.h - finite-difference checks of a compiled graph's backward and jvp.
 *
 * For a node `out` (a scalar loss or any node) and a fixed random seed vector s, the checked
 * function is f = sum_k s_k out_k accumulated in double (s = a random +-[0.5, 1.5] vector).
 *  - tu_gradcheck_run: runs backward(out, s) and compares the gradient of every parameter
 *    element and of every listed input element with the central difference
 *    (f(x + h) - f(x - h)) / (2h) obtained by re-running forward, one element at a time.
 *  - tu_jvpcheck_run: runs jvp along a random direction v (all parameters and the listed
 *    inputs) and compares the tangent of `out` with the central difference
 *    (out(theta + h v) - out(theta - h v)) / (2h), element by element; then, when backward is
 *    possible, checks the duality <s, J v> = <J^T s, v> that ties jvp and backward together.
 * Both refuse to pass when the analytic result is ~0 everywhere (a check of a function that
 * does not depend on its inputs would prove nothing).
 *
 * Side effects: zeroes the bound gradient block, runs forward several times (parameters and
 * inputs are restored bit for bit, and a final forward leaves the node values as before).
 * With replay_rng set, the dropout counter is rewound before every forward so each pass sees
 * the same masks; it is left as after one forward pass.
 */
#ifndef SURI_GRADCHECK_H
#define SURI_GRADCHECK_H

#include "suri/graph.h"

#define TU_GC_MAX_INPUTS 4

typedef struct tu_gc_spec {
  suri_graph *g;        /* compiled, params/state bound, inputs filled, batch set */
  suri_real *params;    /* the parameter block bound to g (NULL if it has no parameters) */
  suri_real *grads;     /* the gradient block bound to g (NULL if it has no parameters) */
  suri_node out;        /* node whose seeded sum is checked */
  int n_inputs;         /* batched real inputs also checked (gradient needs want_input_grad) */
  suri_node inputs[TU_GC_MAX_INPUTS];
  uint64_t seed;        /* seeds s and v */
  int replay_rng;       /* rewind the dropout counter before every forward pass */
  double h, rtol;       /* step and vector tolerance; 0 = the per-precision defaults below */
} tu_gc_spec;

typedef struct tu_gc_result {
  int ok;
  double rel_err;       /* ||analytic - numeric|| / ||numeric|| */
  double norm_analytic, norm_numeric;
  long checked;         /* number of elements compared */
  char msg[768];        /* why it failed (or a one-line summary) */
} tu_gc_result;

/* Defaults, see gradcheck.c for the error analysis behind them. */
#ifdef SURI_REAL_DOUBLE
#define TU_GC_H 1e-6
#define TU_GC_RTOL 1e-6
#else
#define TU_GC_H 1e-2
#define TU_GC_RTOL 1e-2
#endif

tu_gc_result tu_gradcheck_run(const tu_gc_spec *s);
tu_gc_result tu_jvpcheck_run(const tu_gc_spec *s);
/* The same, failing the current cmocka test with the message when the check fails. */
void tu_gradcheck(const tu_gc_spec *s);
void tu_jvpcheck(const tu_gc_spec *s);

/* Exact Hessian-vector products (suri_graph_hvp) of the scalar node `out` against a central
 * difference of gradients along a random direction, and the symmetry u.(Hv) = v.(Hu); see
 * gradcheck.c for the step and tolerance. Prepares the graph for products. Parameters are
 * restored bit for bit and a final forward pass leaves the node values as before. */
#ifdef SURI_REAL_DOUBLE
#define TU_HVP_H 1e-5
#define TU_HVP_RTOL 1e-7
#else
#define TU_HVP_H 1e-2
#define TU_HVP_RTOL 1e-2
#endif
tu_gc_result tu_hvpcheck_run(const tu_gc_spec *s);
void tu_hvpcheck(const tu_gc_spec *s);

/* Fills x[0..n) with values of random sign and magnitude uniform in [lo, hi] (lo > 0 keeps
 * inputs away from the kinks of relu / leaky relu at 0). Deterministic in seed. */
void tu_fill_away(uint64_t seed, size_t n, suri_real *x, double lo, double hi);
/* Fills x[0..n) with N(0, std^2) values. Deterministic in seed. */
void tu_fill_normal(uint64_t seed, size_t n, suri_real *x, double std);

#endif
