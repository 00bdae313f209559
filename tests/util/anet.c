/* anet.c - the analysis tests' tiny net and data (anet.h). */
#include <stdlib.h>
#include <string.h>

#include "anet.h"
#include "testutil.h"

double tu_lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

tu_anet tu_anet_make(const char *spec, int64_t N, int64_t max_batch, uint64_t seed) {
  tu_anet n;
  memset(&n, 0, sizeof n);
  suri_model_spec s;
  if (suri_model_spec_parse(spec, &s)) fail_msg("parse %s: %s", spec, suri_last_error());
  if (suri_model_new(&s, max_batch, &n.m)) fail_msg("model %s: %s", spec, suri_last_error());
  assert_int_equal(suri_model_init(n.m, seed), SURI_OK);
  n.loss = s.loss;
  n.N = N, n.IN = s.width[0], n.C = s.width[s.n_widths - 1];
  n.P = suri_model_param_count(n.m);
  n.x = malloc((size_t)(N * n.IN) * sizeof *n.x);
  n.t = malloc((size_t)(N * n.C) * sizeof *n.t);
  n.y = malloc((size_t)N * sizeof *n.y);
  assert_true(n.x && n.t && n.y);
  uint64_t r = seed * 7919 + 13;
  for (int64_t i = 0; i < N * n.IN; i++) n.x[i] = (suri_real)(1.5 * tu_lcg(&r));
  for (int64_t i = 0; i < N; i++)
    n.y[i] = (int32_t)((tu_lcg(&r) + 1) * 0.5 * (double)n.C) % (int32_t)n.C;
  for (int64_t i = 0; i < N * n.C; i++)
    n.t[i] = s.loss == SURI_LOSS_LOGISTIC ? (suri_real)(tu_lcg(&r) > 0) : (suri_real)tu_lcg(&r);
  n.d.n = N, n.d.x = n.x;
  n.d.labels = s.loss == SURI_LOSS_CE ? n.y : NULL;
  n.d.targets = s.loss == SURI_LOSS_CE ? NULL : n.t;
  return n;
}

void tu_anet_free(tu_anet *n) {
  suri_model_free(n->m);
  free(n->x), free(n->t), free(n->y);
}
