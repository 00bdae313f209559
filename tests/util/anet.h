/* anet.h - a tiny model with synthetic data for the analysis tests (test_analysis_curv.c,
 * test_analysis_cache.c): the model of a spec string, initialised with a seed, and N samples of
 * inputs uniform in [-1.5, 1.5), labels in [0, C), targets uniform in [-1, 1) (0/1 for
 * loss=logistic), from a seeded LCG, so every test sees the same numbers on every machine. */
#ifndef SURI_TEST_ANET_H
#define SURI_TEST_ANET_H

#include <stdint.h>

#include "suri/analysis.h"
#include "suri/nn.h"

typedef struct tu_anet {
  suri_model *m;
  suri_loss_kind loss;
  int64_t N, IN, C;
  size_t P;                  /* parameter count */
  suri_real *x, *t;          /* (N, IN), (N, C) */
  int32_t *y;                /* (N) */
  suri_analysis_data d;      /* labels for ce, targets otherwise */
} tu_anet;

/* Uniform in [-1, 1) from the LCG state *s (advanced). */
double tu_lcg(uint64_t *s);
/* Builds the net (max_batch rows per pass) and its data; fails the test on error. */
tu_anet tu_anet_make(const char *spec, int64_t N, int64_t max_batch, uint64_t seed);
void tu_anet_free(tu_anet *n);

#endif
