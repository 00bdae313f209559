/* analyze_theory.h - the mean-field theory comparison of `suri analyze fisher --theory` and
 * `suri analyze lr` (analyze_theory.c). Private to cli/. */
#ifndef SURI_ANALYZE_THEORY_H
#define SURI_ANALYZE_THEORY_H

#include "analyze_cli.h"

/* Measured values to compare (NaN = not measured). */
typedef struct an_measured {
  double lambda_max;             /* top eigenvalue of the measured operator */
  double mean, mean_se;          /* tr / P and its standard error */
  double second, second_se;      /* tr(A^2) / P and its standard error */
  double P;                      /* operator dimension */
} an_measured;

/* Computes the theory's predictions for the model and data, prints them next to m with the
 * ratios measured / predicted, and adds a "theory" object to the JSON document. lr_mode: m is
 * the Gauss-Newton of the mean loss (compare lambda_max and the critical learning rate);
 * otherwise m is the true Fisher. A model the theory does not cover is not an error: its
 * reason is printed and recorded. Returns CLI_OK, or CLI_FAIL on a real failure. */
int an_theory_compare(analyze_ctx *a, const an_measured *m, int lr_mode);

#endif
