/* test_graph.c - graph execution semantics: seeded backward from a non-scalar node, live batch
 * smaller than the compiled maximum, accumulation of parameter gradients, error on a backward
 * that reaches no parameter, wanted input gradients, jvp with zero tangents, a whole-model
 * (3-layer MLP) directional-derivative check that refuses a zero gradient, and bitwise
 * determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "suri/graph.h"
#include "testutil.h"

/* Reference comparisons of values computed by the same kernels in a different order (or by a
 * direct double formula): float rounding over the ~20-term sums here stays below 1e-5
 * relative; double below 1e-12. */
#ifdef SURI_REAL_DOUBLE
#define RTOL 1e-12
#define ATOL 1e-13
#else
#define RTOL 1e-5
#define ATOL 1e-6
#endif

enum { IN = 6, H = 8, C = 4 };

/* x (B, IN) -> dense H -> tanh -> dense H -> tanh -> dense C -> softmax_ce with labels y. */
typedef struct mlp {
  suri_graph *g;
  suri_node x, y, W[3], b[3], h[2], z, L;
  suri_real *p, *gr;
  int64_t B;
} mlp;

static void mlp_build(mlp *m, int64_t maxb, int64_t B, uint64_t seed, int want_x) {
  memset(m, 0, sizeof *m);
  m->g = suri_graph_new();
  suri_graph *g = m->g;
  m->x = suri_input(g, "x", 1, (int64_t[]){IN});
  m->y = suri_labels(g, "y");
  int64_t fan[4] = {IN, H, H, C};
  suri_node a = m->x;
  for (int l = 0; l < 3; l++) {
    char wn[16], bn[16];
    snprintf(wn, sizeof wn, "fc%d.weight", l + 1);
    snprintf(bn, sizeof bn, "fc%d.bias", l + 1);
    m->W[l] = suri_param(g, wn, 2, (int64_t[]){fan[l + 1], fan[l]});
    m->b[l] = suri_param(g, bn, 1, (int64_t[]){fan[l + 1]});
    a = suri_dense(g, a, m->W[l], m->b[l], 1.0 / sqrt((double)fan[l]), 1.0);
    if (l < 2) a = m->h[l] = suri_tanh(g, a);
  }
  m->z = a;
  m->L = suri_softmax_ce(g, m->z, m->y);
  if (want_x) suri_graph_want_input_grad(g, m->x);
  if (suri_graph_compile(g, maxb) != SURI_OK) fail_msg("compile: %s", suri_last_error());
  size_t np = suri_graph_param_count(g);
  m->p = suri_calloc(np, sizeof(suri_real));
  m->gr = suri_calloc(np, sizeof(suri_real));
  assert_true(m->p && m->gr);
  tu_fill_normal(seed, np, m->p, 1.0);
  suri_graph_bind_params(g, m->p, m->gr);
  assert_int_equal(suri_graph_set_batch(g, B), SURI_OK);
  m->B = B;
  tu_fill_normal(seed + 1, (size_t)(maxb * IN), suri_graph_value(g, m->x), 1.0);
  for (int64_t i = 0; i < maxb; i++) suri_graph_labels(g, m->y)[i] = (int32_t)((i * 3 + 1) % C);
}

static void mlp_free(mlp *m) {
  suri_graph_free(m->g);
  suri_free(m->p);
  suri_free(m->gr);
}

static tu_gc_spec spec_of(mlp *m, suri_node out) {
  tu_gc_spec s;
  memset(&s, 0, sizeof s);
  s.g = m->g;
  s.params = m->p;
  s.grads = m->gr;
  s.out = out;
  s.seed = 99;
  return s;
}

static void expect_arrays_close(const suri_real *a, const suri_real *b, size_t n, const char *w) {
  for (size_t k = 0; k < n; k++)
    if (!tu_close(a[k], b[k], RTOL, ATOL))
      fail_msg("%s[%zu]: %.9g vs %.9g", w, k, (double)a[k], (double)b[k]);
}

/* Backward seeded from the hidden activation h1 = tanh(x W1^T s1 + b1) with an arbitrary seed
 * vector, against the chain rule written out here. */
static void test_seeded_backward_nonscalar(void **state) {
  (void)state;
  mlp m;
  mlp_build(&m, 5, 5, 1, 1);
  assert_int_equal(suri_graph_forward(m.g), SURI_OK);
  suri_real seed[5 * H];
  for (int k = 0; k < 5 * H; k++) seed[k] = (suri_real)((k % 7) * 0.25 - 0.75); /* zeros too */
  assert_int_equal(suri_graph_backward(m.g, m.h[0], seed), SURI_OK);
  const suri_real *x = suri_graph_value(m.g, m.x), *h = suri_graph_value(m.g, m.h[0]);
  const suri_real *W = suri_graph_value(m.g, m.W[0]);
  double sw = 1.0 / sqrt((double)IN);
  suri_real dW[H * IN], db[H], dx[5 * IN];
  memset(dW, 0, sizeof dW), memset(db, 0, sizeof db), memset(dx, 0, sizeof dx);
  for (int i = 0; i < 5; i++)
    for (int o = 0; o < H; o++) {
      double dz = seed[i * H + o] * (1.0 - (double)h[i * H + o] * h[i * H + o]);
      db[o] += (suri_real)dz;
      for (int k = 0; k < IN; k++) {
        dW[o * IN + k] += (suri_real)(sw * dz * x[i * IN + k]);
        dx[i * IN + k] += (suri_real)(sw * dz * W[o * IN + k]);
      }
    }
  expect_arrays_close(suri_graph_grad(m.g, m.W[0]), dW, H * IN, "dW1");
  expect_arrays_close(suri_graph_grad(m.g, m.b[0]), db, H, "db1");
  expect_arrays_close(suri_graph_grad(m.g, m.x), dx, 5 * IN, "dx");
  /* Layers above h1 got nothing. */
  for (int k = 0; k < H * H; k++) assert_true(suri_graph_grad(m.g, m.W[1])[k] == 0);
  /* And the generic checker with a random seed over the (5, 8) node. */
  tu_gc_spec s = spec_of(&m, m.h[0]);
  s.n_inputs = 1;
  s.inputs[0] = m.x;
  tu_gradcheck(&s);
  tu_jvpcheck(&s);
  mlp_free(&m);
}

/* A graph compiled for 8 and run at batch 3 matches one compiled for 3. */
static void test_smaller_batch_matches(void **state) {
  (void)state;
  mlp a, b;
  mlp_build(&a, 8, 3, 2, 1);
  mlp_build(&b, 3, 3, 2, 1);
  memcpy(suri_graph_value(b.g, b.x), suri_graph_value(a.g, a.x), 3 * IN * sizeof(suri_real));
  assert_int_equal(suri_graph_forward(a.g), SURI_OK);
  assert_int_equal(suri_graph_forward(b.g), SURI_OK);
  expect_arrays_close(suri_graph_value(a.g, a.z), suri_graph_value(b.g, b.z), 3 * C, "logits");
  expect_arrays_close(suri_graph_value(a.g, a.L), suri_graph_value(b.g, b.L), 1, "loss");
  assert_int_equal(suri_graph_backward(a.g, a.L, NULL), SURI_OK);
  assert_int_equal(suri_graph_backward(b.g, b.L, NULL), SURI_OK);
  size_t np = suri_graph_param_count(a.g);
  expect_arrays_close(a.gr, b.gr, np, "param grads");
  expect_arrays_close(suri_graph_grad(a.g, a.x), suri_graph_grad(b.g, b.x), 3 * IN, "dx");
  suri_real *v = malloc(np * sizeof *v);
  assert_non_null(v);
  tu_fill_normal(5, np, v, 1.0);
  assert_int_equal(suri_graph_jvp(a.g, v), SURI_OK);
  assert_int_equal(suri_graph_jvp(b.g, v), SURI_OK);
  expect_arrays_close(suri_graph_tangent(a.g, a.z), suri_graph_tangent(b.g, b.z), 3 * C, "jvp");
  /* The mean over the live batch divides by 3, not 8: the loss is a proper mean. */
  double ref = 0;
  const suri_real *z = suri_graph_value(a.g, a.z);
  for (int i = 0; i < 3; i++) {
    double s = 0;
    for (int k = 0; k < C; k++) s += exp((double)z[i * C + k]);
    ref += log(s) - z[i * C + suri_graph_labels(a.g, a.y)[i]];
  }
  assert_true(tu_close(suri_graph_value(a.g, a.L)[0], ref / 3, RTOL, ATOL));
  free(v);
  mlp_free(&a);
  mlp_free(&b);
}

/* Parameter gradients accumulate into the bound block across backward calls; input gradients
 * and intermediate gradients are reset by each call. */
static void test_param_grads_accumulate(void **state) {
  (void)state;
  mlp m;
  mlp_build(&m, 4, 4, 3, 1);
  size_t np = suri_graph_param_count(m.g);
  assert_int_equal(suri_graph_forward(m.g), SURI_OK);
  assert_int_equal(suri_graph_backward(m.g, m.L, NULL), SURI_OK);
  suri_real *once = malloc(np * sizeof *once), *dx = malloc(4 * IN * sizeof *dx);
  assert_true(once && dx);
  memcpy(once, m.gr, np * sizeof *once);
  memcpy(dx, suri_graph_grad(m.g, m.x), 4 * IN * sizeof *dx);
  double norm = 0;
  for (size_t k = 0; k < np; k++) norm += fabs(once[k]);
  assert_true(norm > 1e-3); /* a real gradient */
  assert_int_equal(suri_graph_backward(m.g, m.L, NULL), SURI_OK);
  for (size_t k = 0; k < np; k++)
    if (!tu_close(m.gr[k], 2 * once[k], RTOL, ATOL))
      fail_msg("grad[%zu]: %g after two passes, %g after one", k, (double)m.gr[k], (double)once[k]);
  expect_arrays_close(suri_graph_grad(m.g, m.x), dx, 4 * IN, "input grad (overwritten)");
  free(once);
  free(dx);
  mlp_free(&m);
}

/* backward from a node that depends on no parameter (and no wanted input) is an argument error,
 * as is backward from a non-op node. */
static void test_backward_without_params_is_error(void **state) {
  (void)state;
  suri_graph *g = suri_graph_new();
  suri_node x = suri_input(g, "x", 1, (int64_t[]){3});
  suri_node p = suri_param(g, "p", 1, (int64_t[]){3});
  suri_node y = suri_scale(g, x, 2.0);
  suri_node q = suri_bias_add(g, x, p);
  assert_int_equal(suri_graph_compile(g, 2), SURI_OK);
  suri_real params[16] = {0}, grads[16] = {0};
  suri_graph_bind_params(g, params, grads);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  tu_expect_status(suri_graph_backward(g, y, NULL), SURI_ERR_ARG, "does not depend");
  tu_expect_status(suri_graph_backward(g, p, NULL), SURI_ERR_ARG, NULL);
  assert_int_equal(suri_graph_backward(g, q, NULL), SURI_OK);
  assert_true(grads[0] == 2 && grads[1] == 2 && grads[2] == 2); /* batch 2 rows of ones */
  suri_graph_free(g);
}

/* Only inputs marked with want_input_grad get a gradient buffer, and it is right. */
static void test_want_input_grad(void **state) {
  (void)state;
  suri_graph *g = suri_graph_new();
  suri_node x1 = suri_input(g, "x1", 1, (int64_t[]){5});
  suri_node x2 = suri_input(g, "x2", 1, (int64_t[]){3});
  suri_node W = suri_param(g, "W", 2, (int64_t[]){3, 5});
  suri_node L = suri_mse(g, suri_tanh(g, suri_dense(g, x1, W, (suri_node){-1}, 1, 1)), x2);
  suri_graph_want_input_grad(g, x1);
  assert_int_equal(suri_graph_compile(g, 3), SURI_OK);
  suri_real params[16], grads[16] = {0};
  tu_fill_normal(8, 16, params, 0.7);
  suri_graph_bind_params(g, params, grads);
  tu_fill_normal(9, 15, suri_graph_value(g, x1), 1.0);
  tu_fill_normal(10, 9, suri_graph_value(g, x2), 1.0);
  assert_non_null(suri_graph_grad(g, x1));
  assert_null(suri_graph_grad(g, x2));
  tu_gc_spec s;
  memset(&s, 0, sizeof s);
  s.g = g, s.params = params, s.grads = grads, s.out = L, s.seed = 4;
  s.n_inputs = 1;
  s.inputs[0] = x1;
  tu_gradcheck(&s);
  tu_jvpcheck(&s);
  /* Asking for the gradient of an input without want_input_grad is refused by the checker. */
  s.inputs[0] = x2;
  tu_gc_result r = tu_gradcheck_run(&s);
  assert_false(r.ok);
  assert_non_null(strstr(r.msg, "want_input_grad"));
  suri_graph_free(g);
}

/* jvp with a NULL parameter tangent and no input tangent: every tangent is identically zero
 * (NULL). With only an input tangent, the loss tangent is <dL/dx, tx>. */
static void test_jvp_null_tangent(void **state) {
  (void)state;
  mlp m;
  mlp_build(&m, 3, 3, 4, 1);
  assert_int_equal(suri_graph_forward(m.g), SURI_OK);
  assert_int_equal(suri_graph_jvp(m.g, NULL), SURI_OK);
  assert_null(suri_graph_tangent(m.g, m.L));
  assert_null(suri_graph_tangent(m.g, m.z));
  assert_null(suri_graph_tangent(m.g, m.h[0]));
  suri_real tx[3 * IN];
  tu_fill_normal(11, 3 * IN, tx, 1.0);
  suri_graph_set_input_tangent(m.g, m.x, tx);
  assert_int_equal(suri_graph_jvp(m.g, NULL), SURI_OK);
  assert_non_null(suri_graph_tangent(m.g, m.L));
  double t = suri_graph_tangent(m.g, m.L)[0];
  suri_graph_set_input_tangent(m.g, m.x, NULL);
  assert_int_equal(suri_graph_backward(m.g, m.L, NULL), SURI_OK);
  double ref = 0, scale = 0;
  for (int k = 0; k < 3 * IN; k++) {
    ref += (double)suri_graph_grad(m.g, m.x)[k] * tx[k];
    scale += fabs((double)suri_graph_grad(m.g, m.x)[k] * tx[k]);
  }
  assert_true(scale > 1e-3);
  /* Same products summed in another order: 1e-4 (float) / 1e-10 (double) of the scale. */
  assert_true(fabs(t - ref) <= (sizeof(suri_real) == 4 ? 1e-4 : 1e-10) * scale);
  mlp_free(&m);
}

/* Whole model: gradient of every parameter and the input, jvp along a random direction, both
 * against central differences of the loss; and the checkers refuse a model whose gradient is
 * identically zero (logits scaled by 0 before the loss). */
static void test_mlp_directional(void **state) {
  (void)state;
  mlp m;
  mlp_build(&m, 5, 5, 6, 1);
  tu_gc_spec s = spec_of(&m, m.L);
  s.n_inputs = 1;
  s.inputs[0] = m.x;
  tu_gradcheck(&s);
  tu_jvpcheck(&s);
  tu_gc_result r = tu_jvpcheck_run(&s);
  assert_true(r.ok && r.norm_analytic > 1e-3);
  mlp_free(&m);

  suri_graph *g = suri_graph_new();
  suri_node x = suri_input(g, "x", 1, (int64_t[]){IN});
  suri_node y = suri_labels(g, "y");
  suri_node W = suri_param(g, "W", 2, (int64_t[]){C, IN});
  suri_node L = suri_softmax_ce(g, suri_scale(g, suri_dense(g, x, W, (suri_node){-1}, 1, 1), 0.0), y);
  assert_int_equal(suri_graph_compile(g, 2), SURI_OK);
  suri_real params[32], grads[32] = {0};
  tu_fill_normal(12, 32, params, 1.0);
  suri_graph_bind_params(g, params, grads);
  tu_fill_normal(13, 2 * IN, suri_graph_value(g, x), 1.0);
  suri_graph_labels(g, y)[0] = 1, suri_graph_labels(g, y)[1] = 2;
  tu_gc_spec z;
  memset(&z, 0, sizeof z);
  z.g = g, z.params = params, z.grads = grads, z.out = L, z.seed = 5;
  r = tu_gradcheck_run(&z);
  assert_false(r.ok);
  assert_non_null(strstr(r.msg, "~0"));
  r = tu_jvpcheck_run(&z);
  assert_false(r.ok);
  assert_non_null(strstr(r.msg, "~0"));
  suri_graph_free(g);
}

/* Same inputs give bitwise the same outputs, gradients and tangents, dropout and batch norm
 * included (the dropout counter is rewound between the two runs). */
static void run_once(suri_graph *g, suri_node L, suri_node z, suri_real *gr, size_t np,
                     const suri_real *v, suri_real *out) {
  suri_graph_set_rng_calls(g, 0);
  memset(gr, 0, np * sizeof *gr);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  assert_int_equal(suri_graph_backward(g, L, NULL), SURI_OK);
  assert_int_equal(suri_graph_jvp(g, v), SURI_OK);
  memcpy(out, suri_graph_value(g, z), 6 * C * sizeof *out);
  out[6 * C] = suri_graph_value(g, L)[0];
  memcpy(out + 6 * C + 1, suri_graph_tangent(g, z), 6 * C * sizeof *out);
}

static void test_determinism(void **state) {
  (void)state;
  suri_graph *g = suri_graph_new();
  suri_node x = suri_input(g, "x", 1, (int64_t[]){IN});
  suri_node y = suri_labels(g, "y");
  suri_node W1 = suri_param(g, "W1", 2, (int64_t[]){H, IN});
  suri_node ga = suri_param(g, "gamma", 1, (int64_t[]){H});
  suri_node be = suri_param(g, "beta", 1, (int64_t[]){H});
  suri_node rm = suri_state(g, "rm", 1, (int64_t[]){H});
  suri_node rv = suri_state(g, "rv", 1, (int64_t[]){H});
  suri_node W2 = suri_param(g, "W2", 2, (int64_t[]){C, H});
  suri_node a = suri_dense(g, x, W1, (suri_node){-1}, 1, 1);
  a = suri_dropout(g, suri_gelu(g, suri_batch_norm(g, a, ga, be, rm, rv, 1e-5, 0.1)), 0.25);
  suri_node z = suri_dense(g, suri_layer_norm(g, a, ga, be, 1e-5), W2, (suri_node){-1}, 1, 1);
  suri_node L = suri_softmax_ce(g, z, y);
  assert_int_equal(suri_graph_compile(g, 6), SURI_OK);
  size_t np = suri_graph_param_count(g);
  suri_real *p = suri_calloc(np, sizeof *p), *gr = suri_calloc(np, sizeof *gr);
  suri_real *st = suri_calloc(suri_graph_state_count(g), sizeof *st);
  suri_real *v = suri_calloc(np, sizeof *v), *o1 = malloc((12 * C + 1) * sizeof *o1);
  suri_real *o2 = malloc((12 * C + 1) * sizeof *o2), *g1 = malloc(np * sizeof *g1);
  assert_true(p && gr && st && v && o1 && o2 && g1);
  tu_fill_normal(20, np, p, 1.0);
  tu_fill_normal(21, np, v, 1.0);
  suri_graph_bind_params(g, p, gr);
  suri_graph_bind_state(g, st);
  suri_graph_set_rng(g, suri_rng_make(3, SURI_RNG_DROPOUT));
  tu_fill_normal(22, 6 * IN, suri_graph_value(g, x), 1.0);
  for (int i = 0; i < 6; i++) suri_graph_labels(g, y)[i] = i % C;
  run_once(g, L, z, gr, np, v, o1);
  memcpy(g1, gr, np * sizeof *g1);
  run_once(g, L, z, gr, np, v, o2);
  assert_memory_equal(o1, o2, (12 * C + 1) * sizeof *o1);
  assert_memory_equal(g1, gr, np * sizeof *g1);
  double norm = 0;
  for (size_t k = 0; k < np; k++) norm += fabs(g1[k]);
  assert_true(norm > 1e-3 && isfinite(o1[6 * C]));
  suri_free(p), suri_free(gr), suri_free(st), suri_free(v);
  free(o1), free(o2), free(g1);
  suri_graph_free(g);
}

int main(void) {
  suri_set_threads(1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seeded_backward_nonscalar),
      cmocka_unit_test(test_smaller_batch_matches),
      cmocka_unit_test(test_param_grads_accumulate),
      cmocka_unit_test(test_backward_without_params_is_error),
      cmocka_unit_test(test_want_input_grad),
      cmocka_unit_test(test_jvp_null_tangent),
      cmocka_unit_test(test_mlp_directional),
      cmocka_unit_test(test_determinism),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
