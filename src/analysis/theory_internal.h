/* theory_internal.h - private helpers shared by theory.c and theory_loss.c: Gauss quadrature
 * rules and the activation functions as the ops compute them. */
#ifndef SURI_THEORY_INTERNAL_H
#define SURI_THEORY_INTERNAL_H

#include "suri/theory.h"

#define TH_MAX_NODES 512

/* Nodes and weights of the three Gauss rules the recursion needs, n nodes each:
 *   leg:  Gauss-Legendre on [-1, 1] (weights sum to 2);
 *   lag:  Gauss-Laguerre, weight e^{-t} on [0, inf) (weights sum to 1);
 *   lagh: generalised Gauss-Laguerre, weight t^{-1/2} e^{-t}, weights divided by sqrt(pi) (sum 1). */
typedef struct th_rules {
  int n;
  double *leg_x, *leg_w, *lag_x, *lag_w, *lagh_x, *lagh_w;
} th_rules;

suri_status th_rules_make(int n, th_rules *r);
void th_rules_free(th_rules *r);

/* phi(x) and phi'(x) as the ops compute them (relu'(0) = 0, gelu in erf form). */
double th_act(suri_act a, double slope, double x);
double th_dact(suri_act a, double slope, double x);

/* E h(sqrt(q) z), z ~ N(0, 1), for a function given as a callback (1-D rule, exact for
 * piecewise polynomials with their kink at 0). */
typedef double (*th_fn)(const void *ctx, double x);
double th_expect1(const th_rules *r, double q, th_fn h, const void *ctx);

/* GGN-of-the-loss over unit-Fisher scale of the spec's loss at initialisation (theory_loss.c):
 * qL1, qL2 = output order parameters q_1^L, q_2^L. */
suri_status th_loss_scale(const suri_model_spec *s, const th_rules *r, double qL1, double qL2,
                          double *scale);

#endif
