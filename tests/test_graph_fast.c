/* test_graph_fast.c - the graph's fast paths give the same results as the plain ones:
 * - dense + activation fusion: every node value, every intermediate and parameter gradient and
 *   the jvp are bitwise equal with fusion on and off, for every activation, with and without a
 *   bias, with a live batch below the compiled maximum, and a dense node with two consumers is
 *   left unfused (still correct);
 * - overwriting backward: parameter gradients in overwrite mode equal zero + accumulate mode
 *   bit for bit, whatever the block held before (NaN here), parameters the pass does not reach
 *   read zero, and accumulate mode still adds; intermediate gradients are never cleared first
 *   (the first writer overwrites), also when one node feeds the same op twice (mul(h, h),
 *   add(h, h)) or feeds an op that cannot overwrite;
 * - batch of one row (gemv instead of GEMM): forward equals the GEMM batch's row, and the
 *   gradient passes the central-difference check;
 * - dense forward products run swapped (t = W x^T, y = t^T; src/ops/dense_swap.h) match a
 *   double reference and the direct product, also below the compiled batch.
 * Gradient-check tolerances are gradcheck.h's per-precision defaults. */
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
#include "ops/dense_swap.h"
#include "suri/graph.h"
#include "testutil.h"

/* Rows of a batch computed by gemv (batch 1) and by GEMM sum in different orders: float
 * rounding over these 20-term dot products stays below 1e-5 relative; double below 1e-12. */
#ifdef SURI_REAL_DOUBLE
#define RTOL 1e-12
#define ATOL 1e-13
#else
#define RTOL 1e-5
#define ATOL 1e-6
#endif

enum { IN = 7, H = 20, H2 = 13, C = 5, MAXB = 9 };

typedef struct net {
  suri_graph *g;
  suri_node x, y, u1, h1, u2, h2, z, L, extra, W3;
  suri_real *p, *gr;
  size_t np;
} net;

/* x (B, IN) -> dense(+b) -> act -> dense(no bias) -> act -> dense(+b) -> softmax_ce.
 * With two_consumers, u2 also feeds an identity node added to the loss path (so u2 has two
 * consumers and is not fused). An extra parameter that the loss does not reach is added too. */
static void net_build(net *n, suri_op_kind act, int two_consumers, int64_t B, uint64_t seed) {
  memset(n, 0, sizeof *n);
  suri_graph *g = n->g = suri_graph_new();
  n->x = suri_input(g, "x", 1, (int64_t[]){IN});
  n->y = suri_labels(g, "y");
  suri_node W1 = suri_param(g, "W1", 2, (int64_t[]){H, IN});
  suri_node b1 = suri_param(g, "b1", 1, (int64_t[]){H});
  suri_node W2 = suri_param(g, "W2", 2, (int64_t[]){H2, H});
  suri_node W3 = n->W3 = suri_param(g, "W3", 2, (int64_t[]){C, H2});
  suri_node b3 = suri_param(g, "b3", 1, (int64_t[]){C});
  suri_node unused = suri_param(g, "unused", 1, (int64_t[]){3});
  suri_op_attr a;
  memset(&a, 0, sizeof a);
  a.f[0] = 0.1; /* leaky slope */
  n->u1 = suri_dense(g, n->x, W1, b1, 0.7, 0.5);
  n->h1 = suri_graph_op(g, act, 1, &n->u1, &a);
  n->u2 = suri_dense(g, n->h1, W2, (suri_node){-1}, 0.4, 1.0);
  n->h2 = suri_graph_op(g, act, 1, &n->u2, &a);
  if (two_consumers) n->h2 = suri_add(g, n->h2, suri_identity(g, n->u2));
  n->z = suri_dense(g, n->h2, W3, b3, 0.5, 1.0);
  n->L = suri_softmax_ce(g, n->z, n->y);
  n->extra = suri_sum(g, suri_dense(g, n->x, suri_param(g, "W4", 2, (int64_t[]){3, IN}),
                                    unused, 1.0, 1.0), 0);
  if (suri_graph_compile(g, MAXB) != SURI_OK) fail_msg("compile: %s", suri_last_error());
  n->np = suri_graph_param_count(g);
  n->p = suri_calloc(n->np, sizeof(suri_real));
  n->gr = suri_calloc(n->np, sizeof(suri_real));
  assert_true(n->p && n->gr);
  tu_fill_normal(seed, n->np, n->p, 1.0);
  suri_graph_bind_params(g, n->p, n->gr);
  assert_int_equal(suri_graph_set_batch(g, B), SURI_OK);
  tu_fill_normal(seed + 1, (size_t)(MAXB * IN), suri_graph_value(g, n->x), 1.5);
  for (int64_t i = 0; i < MAXB; i++) suri_graph_labels(g, n->y)[i] = (int32_t)((i * 3 + 1) % C);
}

static void net_free(net *n) {
  suri_graph_free(n->g);
  suri_free(n->p);
  suri_free(n->gr);
}

/* Everything a pass produces, for bitwise comparison: node values, node gradients (op nodes),
 * parameter gradients, the jvp tangent of the loss. */
typedef struct snapshot {
  suri_real *buf;
  size_t n;
} snapshot;

static void take(net *m, int fusion, snapshot *s) {
  suri_graph *g = m->g;
  suri_graph_set_fusion(g, fusion);
  memset(m->gr, 0, m->np * sizeof *m->gr);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  assert_int_equal(suri_graph_backward(g, m->L, NULL), SURI_OK);
  size_t cap = 1 << 16, k = 0;
  s->buf = malloc(cap * sizeof *s->buf);
  assert_non_null(s->buf);
  int64_t B = suri_graph_batch(g);
  for (int32_t i = 0; i < suri_graph_node_count(g); i++) {
    suri_node nd = {i};
    const suri_shape *sh = suri_graph_shape(g, nd);
    const char *kind = suri_graph_node_kind(g, nd);
    if (!strcmp(kind, "param") || !strcmp(kind, "labels") || !strcmp(kind, "input")) continue;
    size_t numel = (size_t)(suri_shape_numel(sh) / (sh->batched ? MAXB : 1) * (sh->batched ? B : 1));
    const suri_real *v = suri_graph_value(g, nd), *gd = suri_graph_grad(g, nd);
    assert_true(k + 2 * numel <= cap);
    memcpy(s->buf + k, v, numel * sizeof *v), k += numel;
    if (gd) memcpy(s->buf + k, gd, numel * sizeof *gd), k += numel;
  }
  assert_true(k + m->np + 1 <= cap);
  memcpy(s->buf + k, m->gr, m->np * sizeof *m->gr), k += m->np;
  suri_real *t = malloc(m->np * sizeof *t);
  assert_non_null(t);
  tu_fill_normal(5, m->np, t, 1.0);
  assert_int_equal(suri_graph_jvp(g, t), SURI_OK);
  s->buf[k++] = suri_graph_tangent(g, m->L)[0];
  free(t);
  s->n = k;
}

static void test_fusion_bitwise(void **state) {
  (void)state;
  const suri_op_kind acts[] = {SURI_OP_RELU,  SURI_OP_LEAKY_RELU, SURI_OP_TANH,
                               SURI_OP_SIGMOID, SURI_OP_GELU,     SURI_OP_ERF,
                               SURI_OP_SOFTPLUS, SURI_OP_IDENTITY};
  for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++)
    for (int two = 0; two < 2; two++)
      for (int64_t B = 1; B <= MAXB; B += MAXB - 1) {
        net m;
        net_build(&m, acts[a], two, B, 10 + a);
        snapshot on, off;
        take(&m, 1, &on);
        take(&m, 0, &off);
        assert_int_equal(on.n, off.n);
        if (memcmp(on.buf, off.buf, on.n * sizeof *on.buf) != 0)
          fail_msg("act %d, two consumers %d, batch %lld: fused and unfused results differ",
                   (int)acts[a], two, (long long)B);
        /* And the fused graph's gradient is right (not just equal to the unfused one); relu
         * and leaky relu are left out: with random pre-activations the finite-difference
         * steps cross their kinks (test_ops checks them away from the kink). */
        if (acts[a] != SURI_OP_RELU && acts[a] != SURI_OP_LEAKY_RELU) {
          suri_graph_set_fusion(m.g, 1);
          tu_gc_spec s;
          memset(&s, 0, sizeof s);
          s.g = m.g, s.params = m.p, s.grads = m.gr, s.out = m.L, s.seed = 3;
          tu_gradcheck(&s);
        }
        free(on.buf);
        free(off.buf);
        net_free(&m);
      }
}

static void test_grad_overwrite(void **state) {
  (void)state;
  net m;
  net_build(&m, SURI_OP_TANH, 0, 6, 21);
  suri_real *ref = malloc(m.np * sizeof *ref);
  assert_non_null(ref);
  assert_int_equal(suri_graph_forward(m.g), SURI_OK);
  memset(m.gr, 0, m.np * sizeof *m.gr);
  assert_int_equal(suri_graph_backward(m.g, m.L, NULL), SURI_OK);
  memcpy(ref, m.gr, m.np * sizeof *ref);
  double norm = 0;
  for (size_t k = 0; k < m.np; k++) norm += fabs(ref[k]);
  assert_true(norm > 1e-3);
  /* Overwrite mode on a block full of NaN: the same bits in every parameter tensor, zeros
   * included for the parameters the loss does not reach ("unused", "W4"). */
  for (size_t k = 0; k < m.np; k++) m.gr[k] = NAN;
  suri_graph_set_grad_overwrite(m.g, 1);
  assert_int_equal(suri_graph_backward(m.g, m.L, NULL), SURI_OK);
  for (int32_t i = 0; i < suri_graph_node_count(m.g); i++) {
    suri_node nd = {i};
    if (strcmp(suri_graph_node_kind(m.g, nd), "param")) continue;
    size_t off = suri_graph_param_offset(m.g, nd), n = (size_t)suri_shape_numel(suri_graph_shape(m.g, nd));
    if (memcmp(m.gr + off, ref + off, n * sizeof *ref) != 0)
      fail_msg("param %s: overwrite mode differs from zero + accumulate", suri_graph_node_name(m.g, nd));
  }
  /* Accumulate mode again: a second pass adds. */
  suri_graph_set_grad_overwrite(m.g, 0);
  assert_int_equal(suri_graph_backward(m.g, m.L, NULL), SURI_OK);
  for (int32_t i = 0; i < suri_graph_node_count(m.g); i++) {
    suri_node nd = {i};
    if (strcmp(suri_graph_node_kind(m.g, nd), "param")) continue;
    size_t off = suri_graph_param_offset(m.g, nd), n = (size_t)suri_shape_numel(suri_graph_shape(m.g, nd));
    for (size_t k = off; k < off + n; k++)
      if (!tu_close(m.gr[k], 2 * ref[k], RTOL, ATOL))
        fail_msg("grad[%zu]: %g after overwrite + accumulate, %g once", k, (double)m.gr[k],
                 (double)ref[k]);
  }
  /* Intermediate gradients: a backward from h1 leaves every gradient after h1 at zero, also
   * ones a previous pass had filled. */
  assert_non_null(suri_graph_grad(m.g, m.z));
  suri_real *seed = malloc((size_t)(6 * H) * sizeof *seed);
  assert_non_null(seed);
  tu_fill_normal(8, (size_t)(6 * H), seed, 1.0);
  assert_int_equal(suri_graph_backward(m.g, m.h1, seed), SURI_OK);
  const suri_real *dz = suri_graph_grad(m.g, m.z), *du1 = suri_graph_grad(m.g, m.u1);
  for (int k = 0; k < 6 * C; k++) assert_true(dz[k] == 0);
  double s = 0;
  for (int k = 0; k < 6 * H; k++) s += fabs(du1[k]);
  assert_true(s > 1e-3);
  free(seed);
  free(ref);
  net_free(&m);
}

/* One node feeding the same op twice, and an op without overwrite support (layer norm) as the
 * first writer of a gradient: central differences agree. */
static void test_shared_inputs(void **state) {
  (void)state;
  suri_graph *g = suri_graph_new();
  suri_node x = suri_input(g, "x", 1, (int64_t[]){IN});
  suri_node W = suri_param(g, "W", 2, (int64_t[]){H, IN});
  suri_node b = suri_param(g, "b", 1, (int64_t[]){H});
  suri_node gm = suri_param(g, "g", 1, (int64_t[]){H});
  suri_node bt = suri_param(g, "beta", 1, (int64_t[]){H});
  suri_node u = suri_dense(g, x, W, b, 0.5, 1.0);
  suri_node h = suri_tanh(g, u);
  suri_node sq = suri_mul(g, h, h);
  suri_node dbl = suri_add(g, sq, sq);
  suri_node ln = suri_layer_norm(g, dbl, gm, bt, 1e-5);
  suri_node out = suri_mean(g, suri_mul(g, ln, h), 0);
  suri_graph_want_input_grad(g, x);
  assert_int_equal(suri_graph_compile(g, 4), SURI_OK);
  size_t np = suri_graph_param_count(g);
  suri_real *p = suri_calloc(np, sizeof *p), *gr = suri_calloc(np, sizeof *gr);
  assert_true(p && gr);
  tu_fill_normal(31, np, p, 1.0);
  suri_graph_bind_params(g, p, gr);
  tu_fill_normal(32, 4 * IN, suri_graph_value(g, x), 1.0);
  tu_gc_spec s;
  memset(&s, 0, sizeof s);
  s.g = g, s.params = p, s.grads = gr, s.out = out, s.seed = 4;
  s.n_inputs = 1, s.inputs[0] = x;
  tu_gradcheck(&s);
  suri_graph_free(g);
  suri_free(p);
  suri_free(gr);
}

/* Batch 1 runs gemv: its forward equals row 0 of a batch-5 GEMM forward (to rounding), and its
 * gradients pass the central-difference check. */
static void test_batch_one(void **state) {
  (void)state;
  net m;
  net_build(&m, SURI_OP_GELU, 0, 5, 41);
  assert_int_equal(suri_graph_forward(m.g), SURI_OK);
  suri_real z5[C];
  memcpy(z5, suri_graph_value(m.g, m.z), sizeof z5);
  assert_int_equal(suri_graph_set_batch(m.g, 1), SURI_OK);
  assert_int_equal(suri_graph_forward(m.g), SURI_OK);
  const suri_real *z1 = suri_graph_value(m.g, m.z);
  for (int k = 0; k < C; k++)
    if (!tu_close(z1[k], z5[k], RTOL, ATOL))
      fail_msg("logit %d: %.9g at batch 1, %.9g at batch 5", k, (double)z1[k], (double)z5[k]);
  tu_gc_spec s;
  memset(&s, 0, sizeof s);
  s.g = m.g, s.params = m.p, s.grads = m.gr, s.out = m.L, s.seed = 6;
  tu_gradcheck(&s);
  tu_jvpcheck(&s);
  net_free(&m);
}

/* ---- swapped dense forward products (src/ops/dense_swap.h) ------------------------------ */

/* Dense layer (I -> O, bias, sw 0.7, sb 1.3) and a tanh after it, compiled for maxb, run at
 * batch b on rows x; returns the dense output (b, O) and the tanh output in ya / yt. */
static void dense_rows(int64_t maxb, int64_t b, int64_t O, int64_t I, const suri_real *params,
                       const suri_real *x, suri_real *ya, suri_real *yt) {
  suri_graph *g = suri_graph_new();
  suri_node xn = suri_input(g, "x", 1, (int64_t[]){I});
  suri_node W = suri_param(g, "W", 2, (int64_t[]){O, I});
  suri_node bn = suri_param(g, "b", 1, (int64_t[]){O});
  suri_node u = suri_dense(g, xn, W, bn, 0.7, 1.3);
  suri_node t = suri_tanh(g, u);
  assert_int_equal(suri_graph_compile(g, maxb), SURI_OK);
  suri_graph_bind_params(g, (suri_real *)params, NULL);
  assert_int_equal(suri_graph_set_batch(g, b), SURI_OK);
  memcpy(suri_graph_value(g, xn), x, (size_t)(b * I) * sizeof(suri_real));
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  memcpy(ya, suri_graph_value(g, u), (size_t)(b * O) * sizeof(suri_real));
  memcpy(yt, suri_graph_value(g, t), (size_t)(b * O) * sizeof(suri_real));
  suri_graph_free(g);
}

/* Shapes inside the swap rule (and one batch below the compiled maximum) give the products of
 * a double reference, and the same values as the direct GEMM (a graph compiled for batch 8,
 * which never swaps, run 8 rows at a time). Tolerance: I-term float dot products, |terms| up
 * to 1, relative 1e-5 of the sum of |terms| (about 20 ulps per term sum at I = 300). */
static void test_swapped_forward(void **state) {
  (void)state;
  const int64_t shapes[][4] = {{32, 32, 128, 300}, {16, 16, 40, 256}, {128, 20, 256, 260},
                               {64, 64, 130, 301}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    int64_t maxb = shapes[k][0], b = shapes[k][1], O = shapes[k][2], I = shapes[k][3];
    assert_true(suri_dense_swap_pays(b, O, I)); /* the path under test is taken */
    assert_false(suri_dense_swap_pays(8, O, I));
    size_t np = (size_t)(O * I + 16 + O);
    suri_real *p = calloc(np, sizeof *p), *x = malloc((size_t)(b * I) * sizeof *x);
    suri_real *ya = malloc((size_t)(b * O) * sizeof *ya), *yt = malloc((size_t)(b * O) * sizeof *yt);
    suri_real *za = malloc((size_t)(b * O) * sizeof *za), *zt = malloc((size_t)(b * O) * sizeof *zt);
    suri_rng r = suri_rng_make(40 + k, 1);
    size_t boff = (size_t)((O * I + 15) / 16 * 16);
    for (int64_t i = 0; i < O * I; i++) p[i] = (suri_real)(2 * suri_rng_uniform(&r) - 1);
    for (int64_t i = 0; i < O; i++) p[boff + (size_t)i] = (suri_real)(suri_rng_uniform(&r) - 0.5);
    for (int64_t i = 0; i < b * I; i++) x[i] = (suri_real)(2 * suri_rng_uniform(&r) - 1);
    dense_rows(maxb, b, O, I, p, x, ya, yt);
    for (int64_t i0 = 0; i0 < b; i0 += 8) /* the direct GEMM, 8 rows at a time */
      dense_rows(8, b - i0 < 8 ? b - i0 : 8, O, I, p, x + i0 * I, za + i0 * O, zt + i0 * O);
    for (int64_t i = 0; i < b; i++)
      for (int64_t o = 0; o < O; o++) {
        double ref = 0, mag = 0;
        for (int64_t j = 0; j < I; j++) {
          double t = (double)x[i * I + j] * (double)p[o * I + j];
          ref += t, mag += fabs(t);
        }
        ref = 0.7 * ref + 1.3 * (double)p[boff + (size_t)o];
        double tol = 1e-5 * 0.7 * mag + 1e-6, got = ya[i * O + o];
        if (fabs(got - ref) > tol)
          fail_msg("(%lld, %lld, %lld) row %lld col %lld: %.9g vs reference %.9g", (long long)b,
                   (long long)O, (long long)I, (long long)i, (long long)o, got, ref);
        assert_true(fabs(got - (double)za[i * O + o]) <= 2 * tol);
        assert_true(fabs((double)yt[i * O + o] - tanh(got)) <= 1e-5);
      }
    free(p), free(x), free(ya), free(yt), free(za), free(zt);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fusion_bitwise),
      cmocka_unit_test(test_grad_overwrite),
      cmocka_unit_test(test_shared_inputs),
      cmocka_unit_test(test_batch_one),
      cmocka_unit_test(test_swapped_forward),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
