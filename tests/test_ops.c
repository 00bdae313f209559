/* test_ops.c - every op of the graph: forward values against a direct reference computed here
 * in double, backward against central differences and jvp against central differences plus
 * the <s, Jv> = <J^T s, v> duality (tests/util/gradcheck.c), on odd shapes (N = 7), at batch 3
 * (compiled for exactly 3) and batch 1 (compiled for 4, so the live batch is smaller than the
 * buffers), and shape errors with both shapes named.
 * Inputs are drawn with |x| in [0.1, 1.5] so relu/leaky relu never straddle their kink within
 * the finite-difference step (1e-2 in float). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "suri/graph.h"
#include "testutil.h"

/* Forward values against double references: float kernels round each operation (u = 6e-8)
 * over at most ~10 operations of O(1) values, so 1e-5 relative + 1e-6 absolute has ample
 * margin; double kernels are held to 1e-12 / 1e-13. */
#ifdef SURI_REAL_DOUBLE
#define REF_RTOL 1e-12
#define REF_ATOL 1e-13
#else
#define REF_RTOL 1e-5
#define REF_ATOL 1e-6
#endif

#define N7 7

/* One small graph under test: checked inputs, output, bound blocks. */
typedef struct opcase {
  suri_graph *g;
  suri_node in[TU_GC_MAX_INPUTS];
  int n_in;
  suri_node out;
  suri_real *params, *grads, *state;
  int64_t B;
} opcase;

static void oc_begin(opcase *c) {
  memset(c, 0, sizeof *c);
  c->g = suri_graph_new();
  assert_non_null(c->g);
}

/* Batched real input of shape (B, dims) whose gradient is checked. */
static suri_node oc_input(opcase *c, const char *name, int rank, const int64_t *dims) {
  suri_node n = suri_input(c->g, name, rank, dims);
  suri_graph_want_input_grad(c->g, n);
  c->in[c->n_in++] = n;
  return n;
}

/* Compiles for max batch maxb, runs at batch B; parameters and inputs get values of random
 * sign with |x| in [0.1, 1.5] (parameters [0.2, 1.0]); state is zero. */
static void oc_compile(opcase *c, int64_t maxb, int64_t B, uint64_t seed) {
  suri_status st = suri_graph_compile(c->g, maxb);
  if (st != SURI_OK) fail_msg("compile: %s", suri_last_error());
  size_t np = suri_graph_param_count(c->g), ns = suri_graph_state_count(c->g);
  c->params = suri_calloc(np + 1, sizeof(suri_real));
  c->grads = suri_calloc(np + 1, sizeof(suri_real));
  c->state = suri_calloc(ns + 1, sizeof(suri_real));
  assert_true(c->params && c->grads && c->state);
  tu_fill_away(seed, np, c->params, 0.2, 1.0);
  suri_graph_bind_params(c->g, c->params, c->grads);
  suri_graph_bind_state(c->g, c->state);
  assert_int_equal(suri_graph_set_batch(c->g, B), SURI_OK);
  c->B = B;
  for (int i = 0; i < c->n_in; i++) {
    const suri_shape *s = suri_graph_shape(c->g, c->in[i]);
    tu_fill_away(seed + 17 * (uint64_t)(i + 1), (size_t)suri_shape_numel(s),
                 suri_graph_value(c->g, c->in[i]), 0.1, 1.5);
  }
}

static void oc_forward(opcase *c) {
  if (suri_graph_forward(c->g) != SURI_OK) fail_msg("forward: %s", suri_last_error());
}

/* Gradient check and jvp check of c->out over every parameter and checked input. */
static void oc_check(opcase *c, int replay) {
  tu_gc_spec s;
  memset(&s, 0, sizeof s);
  s.g = c->g;
  s.params = c->params;
  s.grads = c->grads;
  s.out = c->out;
  s.n_inputs = c->n_in;
  for (int i = 0; i < c->n_in; i++) s.inputs[i] = c->in[i];
  s.seed = 1234 + (uint64_t)c->B;
  s.replay_rng = replay;
  uint64_t calls = suri_graph_rng_calls(c->g);
  tu_gradcheck(&s);
  if (replay) suri_graph_set_rng_calls(c->g, calls); /* the jvp check sees the same mask */
  tu_jvpcheck(&s);
}

static void oc_end(opcase *c) {
  suri_graph_free(c->g);
  suri_free(c->params);
  suri_free(c->grads);
  suri_free(c->state);
}

static suri_real *val(opcase *c, suri_node n) { return suri_graph_value(c->g, n); }

static void expect_close(const suri_real *got, const double *want, int64_t n, const char *what) {
  for (int64_t k = 0; k < n; k++)
    if (!tu_close(got[k], want[k], REF_RTOL, REF_ATOL))
      fail_msg("%s[%lld]: got %.9g, reference %.9g", what, (long long)k, (double)got[k], want[k]);
}

/* Batch sizes and compiled maxima: (3, 3) and (1, 4). */
static const int64_t BATCH[2] = {3, 1}, MAXB[2] = {3, 4};

/* ---- dense -------------------------------------------------------------------------------- */
static void dense_case(int with_bias) {
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node x = oc_input(&c, "x", 1, (int64_t[]){N7});
    suri_node W = suri_param(c.g, "W", 2, (int64_t[]){5, N7});
    suri_node b = with_bias ? suri_param(c.g, "b", 1, (int64_t[]){5}) : (suri_node){-1};
    c.out = suri_dense(c.g, x, W, b, 0.8, 0.5);
    oc_compile(&c, MAXB[t], BATCH[t], 10 + (uint64_t)t);
    oc_forward(&c);
    const suri_real *xv = val(&c, x), *Wv = val(&c, W), *bv = with_bias ? val(&c, b) : NULL;
    double ref[3 * 5];
    for (int64_t i = 0; i < c.B; i++)
      for (int o = 0; o < 5; o++) {
        double s = 0;
        for (int k = 0; k < N7; k++) s += (double)xv[i * N7 + k] * Wv[o * N7 + k];
        ref[i * 5 + o] = 0.8 * s + (bv ? 0.5 * bv[o] : 0.0);
      }
    expect_close(val(&c, c.out), ref, c.B * 5, "dense");
    oc_check(&c, 0);
    oc_end(&c);
  }
}

static void test_dense(void **state) {
  (void)state;
  dense_case(1);
  dense_case(0);
}

/* ---- element-wise binary ops -------------------------------------------------------------- */
static void binary_case(suri_op_kind kind) {
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node a = oc_input(&c, "a", 1, (int64_t[]){N7});
    suri_node b = oc_input(&c, "b", 1, (int64_t[]){N7});
    suri_node in[2] = {a, b};
    c.out = suri_graph_op(c.g, kind, 2, in, NULL);
    oc_compile(&c, MAXB[t], BATCH[t], 20 + (uint64_t)kind);
    oc_forward(&c);
    double ref[3 * N7];
    const suri_real *av = val(&c, a), *bv = val(&c, b);
    for (int64_t k = 0; k < c.B * N7; k++)
      ref[k] = kind == SURI_OP_ADD ? (double)av[k] + bv[k]
               : kind == SURI_OP_SUB ? (double)av[k] - bv[k] : (double)av[k] * bv[k];
    expect_close(val(&c, c.out), ref, c.B * N7, suri_graph_node_kind(c.g, c.out));
    oc_check(&c, 0);
    oc_end(&c);
  }
}

static void test_add_sub_mul(void **state) {
  (void)state;
  binary_case(SURI_OP_ADD);
  binary_case(SURI_OP_SUB);
  binary_case(SURI_OP_MUL);
}

/* mul(a, a): both gradient contributions land in one buffer (d/da a^2 = 2a); add of two
 * unbatched parameters checks ops on non-batched nodes. */
static void test_mul_same_node_and_params(void **state) {
  (void)state;
  opcase c;
  oc_begin(&c);
  suri_node a = oc_input(&c, "a", 1, (int64_t[]){N7});
  c.out = suri_mul(c.g, a, a);
  oc_compile(&c, 3, 3, 31);
  oc_check(&c, 0);
  oc_end(&c);

  oc_begin(&c);
  suri_node p = suri_param(c.g, "p", 2, (int64_t[]){2, 3});
  suri_node q = suri_param(c.g, "q", 2, (int64_t[]){2, 3});
  c.out = suri_sub(c.g, suri_add(c.g, p, q), suri_mul(c.g, p, q));
  oc_compile(&c, 1, 1, 32);
  oc_forward(&c);
  double ref[6];
  for (int k = 0; k < 6; k++) {
    double pv = val(&c, p)[k], qv = val(&c, q)[k];
    ref[k] = pv + qv - pv * qv;
  }
  expect_close(val(&c, c.out), ref, 6, "p + q - p q");
  assert_false(suri_graph_shape(c.g, c.out)->batched);
  oc_check(&c, 0);
  oc_end(&c);
}

static void test_scale_bias_add(void **state) {
  (void)state;
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node x = oc_input(&c, "x", 2, (int64_t[]){2, N7}); /* (B, 2, 7): bias on the last dim */
    suri_node b = suri_param(c.g, "b", 1, (int64_t[]){N7});
    suri_node s = suri_scale(c.g, x, -1.7);
    c.out = suri_bias_add(c.g, s, b);
    oc_compile(&c, MAXB[t], BATCH[t], 40);
    oc_forward(&c);
    double ref[3 * 2 * N7];
    for (int64_t k = 0; k < c.B * 2 * N7; k++)
      ref[k] = -1.7 * val(&c, x)[k] + val(&c, b)[k % N7];
    expect_close(val(&c, c.out), ref, c.B * 2 * N7, "scale + bias_add");
    oc_check(&c, 0);
    oc_end(&c);
  }
}

/* ---- activations -------------------------------------------------------------------------- */
static double act_ref(suri_op_kind k, double x) {
  switch (k) {
  case SURI_OP_RELU: return x > 0 ? x : 0;
  case SURI_OP_LEAKY_RELU: return x > 0 ? x : 0.2 * x;
  case SURI_OP_TANH: return tanh(x);
  case SURI_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case SURI_OP_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  case SURI_OP_ERF: return erf(x);
  case SURI_OP_SOFTPLUS: return log(1.0 + exp(x));
  default: return x;
  }
}

static void test_activations(void **state) {
  (void)state;
  static const suri_op_kind kinds[] = {SURI_OP_RELU, SURI_OP_LEAKY_RELU, SURI_OP_TANH,
                                       SURI_OP_SIGMOID, SURI_OP_GELU, SURI_OP_ERF,
                                       SURI_OP_SOFTPLUS, SURI_OP_IDENTITY};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    for (int t = 0; t < 2; t++) {
      opcase c;
      oc_begin(&c);
      suri_node x = oc_input(&c, "x", 1, (int64_t[]){N7});
      suri_op_attr a;
      memset(&a, 0, sizeof a);
      a.f[0] = 0.2;
      c.out = suri_graph_op(c.g, kinds[i], 1, &x, &a);
      oc_compile(&c, MAXB[t], BATCH[t], 50 + i);
      oc_forward(&c);
      double ref[3 * N7];
      for (int64_t k = 0; k < c.B * N7; k++) ref[k] = act_ref(kinds[i], val(&c, x)[k]);
      expect_close(val(&c, c.out), ref, c.B * N7, suri_graph_node_kind(c.g, c.out));
      oc_check(&c, 0);
      oc_end(&c);
    }
}

/* Extreme arguments: no overflow to inf/NaN where the function is finite. */
static void test_activation_stability(void **state) {
  (void)state;
  static const double xs[6] = {-100, -30, -1e-3, 1e-3, 30, 100};
  static const suri_op_kind kinds[3] = {SURI_OP_SIGMOID, SURI_OP_SOFTPLUS, SURI_OP_GELU};
  for (int i = 0; i < 3; i++) {
    opcase c;
    oc_begin(&c);
    suri_node x = oc_input(&c, "x", 1, (int64_t[]){6});
    c.out = suri_graph_op(c.g, kinds[i], 1, &x, NULL);
    oc_compile(&c, 1, 1, 60);
    for (int k = 0; k < 6; k++) val(&c, x)[k] = (suri_real)xs[k];
    oc_forward(&c);
    double ref[6];
    for (int k = 0; k < 6; k++) {
      double v = xs[k];
      ref[k] = kinds[i] == SURI_OP_SIGMOID ? (v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v)))
               : kinds[i] == SURI_OP_SOFTPLUS ? fmax(v, 0) + log1p(exp(-fabs(v)))
               : 0.5 * v * erfc(-v / sqrt(2.0));
    }
    expect_close(val(&c, c.out), ref, 6, suri_graph_node_kind(c.g, c.out));
    assert_int_equal(suri_graph_backward(c.g, c.out, NULL), SURI_OK);
    for (int k = 0; k < 6; k++) assert_true(isfinite(suri_graph_grad(c.g, x)[k]));
    oc_end(&c);
  }
}

/* Every activation maps NaN to NaN (as torch does), so a NaN upstream reaches the loss and the
 * trainers' checks instead of vanishing; fused with a dense layer too. */
static void test_activation_nan(void **state) {
  (void)state;
  for (int kind = SURI_OP_RELU; kind <= SURI_OP_IDENTITY; kind++) {
    for (int fused = 0; fused < 2; fused++) {
      opcase c;
      oc_begin(&c);
      suri_node x = oc_input(&c, "x", 1, (int64_t[]){3}), h = x;
      if (fused) {
        suri_node W = suri_param(c.g, "W", 2, (int64_t[]){3, 3});
        h = suri_dense(c.g, x, W, (suri_node){-1}, 1, 1);
      }
      c.out = suri_graph_op(c.g, (suri_op_kind)kind, 1, &h, NULL);
      oc_compile(&c, 1, 1, 61);
      for (int k = 0; k < 3; k++) val(&c, x)[k] = (suri_real)(k == 1 ? NAN : -1.0);
      oc_forward(&c);
      const suri_real *y = val(&c, c.out);
      for (int k = 0; k < 3; k++)
        if ((fused || k == 1) && !isnan(y[k]))
          fail_msg("%s(NaN) = %g (fused %d)", suri_graph_node_kind(c.g, c.out), (double)y[k],
                   fused);
      oc_end(&c);
    }
  }
}

/* ---- reductions and reshape --------------------------------------------------------------- */
static void test_sum_mean(void **state) {
  (void)state;
  for (int mean = 0; mean < 2; mean++)
    for (int per_row = 0; per_row < 2; per_row++)
      for (int t = 0; t < 2; t++) {
        opcase c;
        oc_begin(&c);
        suri_node x = oc_input(&c, "x", 1, (int64_t[]){N7});
        c.out = mean ? suri_mean(c.g, x, per_row) : suri_sum(c.g, x, per_row);
        const suri_shape *so = suri_graph_shape(c.g, c.out);
        if (per_row) assert_true(so->rank == 2 && so->batched && so->dim[1] == 1);
        else assert_true(so->rank == 0 && !so->batched);
        oc_compile(&c, MAXB[t], BATCH[t], 70);
        oc_forward(&c);
        double ref[3] = {0, 0, 0};
        const suri_real *xv = val(&c, x);
        for (int64_t i = 0; i < c.B; i++)
          for (int k = 0; k < N7; k++) ref[per_row ? i : 0] += xv[i * N7 + k];
        double div = mean ? (per_row ? N7 : (double)(N7 * c.B)) : 1.0;
        for (int i = 0; i < 3; i++) ref[i] /= div;
        expect_close(val(&c, c.out), ref, per_row ? c.B : 1, mean ? "mean" : "sum");
        oc_check(&c, 0);
        oc_end(&c);
      }
}

static void test_reshape(void **state) {
  (void)state;
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node x = oc_input(&c, "x", 1, (int64_t[]){2 * N7});
    suri_node r = suri_reshape(c.g, x, 2, (int64_t[]){N7, 2});
    const suri_shape *s = suri_graph_shape(c.g, r);
    assert_true(s->rank == 3 && s->batched && s->dim[1] == N7 && s->dim[2] == 2);
    c.out = suri_tanh(c.g, r); /* a non-linear consumer so the check is not trivial */
    oc_compile(&c, MAXB[t], BATCH[t], 80);
    oc_forward(&c);
    double ref[3 * 2 * N7];
    for (int64_t k = 0; k < c.B * 2 * N7; k++) ref[k] = val(&c, x)[k];
    expect_close(val(&c, r), ref, c.B * 2 * N7, "reshape");
    oc_check(&c, 0);
    oc_end(&c);
  }
}

/* ---- normalisation ------------------------------------------------------------------------ */
/* torch.nn.BatchNorm1d(7, eps=1e-5, momentum=0.1) semantics, computed directly. */
static void bn_case(int training, int t) {
  const double eps = 1e-5, mom = 0.1;
  opcase c;
  oc_begin(&c);
  suri_node x = oc_input(&c, "x", 1, (int64_t[]){N7});
  suri_node gm = suri_param(c.g, "gamma", 1, (int64_t[]){N7});
  suri_node bt = suri_param(c.g, "beta", 1, (int64_t[]){N7});
  suri_node rm = suri_state(c.g, "running_mean", 1, (int64_t[]){N7});
  suri_node rv = suri_state(c.g, "running_var", 1, (int64_t[]){N7});
  c.out = suri_batch_norm(c.g, x, gm, bt, rm, rv, eps, mom);
  oc_compile(&c, MAXB[t], BATCH[t], 90 + (uint64_t)training);
  suri_graph_set_training(c.g, training);
  double rm0[N7], rv0[N7], ref[3 * N7], want_rm[N7], want_rv[N7];
  for (int j = 0; j < N7; j++) {
    val(&c, rm)[j] = (suri_real)(0.1 * j - 0.3);
    val(&c, rv)[j] = (suri_real)(0.5 + 0.1 * j);
    rm0[j] = val(&c, rm)[j];
    rv0[j] = val(&c, rv)[j];
  }
  oc_forward(&c);
  const suri_real *xv = val(&c, x), *g = val(&c, gm), *b = val(&c, bt);
  int64_t B = c.B;
  for (int j = 0; j < N7; j++) {
    double mu = 0, var = 0;
    for (int64_t i = 0; i < B; i++) mu += xv[i * N7 + j];
    mu /= (double)B;
    for (int64_t i = 0; i < B; i++) var += (xv[i * N7 + j] - mu) * (xv[i * N7 + j] - mu);
    var /= (double)B;
    want_rm[j] = training ? (1 - mom) * rm0[j] + mom * mu : rm0[j];
    want_rv[j] = training && B > 1 ? (1 - mom) * rv0[j] + mom * var * B / (B - 1.0) : rv0[j];
    double m = training ? mu : rm0[j], s = sqrt((training ? var : rv0[j]) + eps);
    for (int64_t i = 0; i < B; i++) ref[i * N7 + j] = g[j] * (xv[i * N7 + j] - m) / s + b[j];
  }
  expect_close(val(&c, c.out), ref, B * N7, training ? "batch_norm (train)" : "batch_norm (eval)");
  expect_close(val(&c, rm), want_rm, N7, "running_mean");
  expect_close(val(&c, rv), want_rv, N7, "running_var");
  oc_check(&c, 0);
  oc_end(&c);
}

static void test_batch_norm(void **state) {
  (void)state;
  for (int t = 0; t < 2; t++) {
    bn_case(1, t);
    bn_case(0, t);
  }
}

/* Running statistics are state: no gradient reaches them even when they come from params. */
static void test_batch_norm_no_grad_to_running_stats(void **state) {
  (void)state;
  opcase c;
  oc_begin(&c);
  suri_node x = oc_input(&c, "x", 1, (int64_t[]){N7});
  suri_node gm = suri_param(c.g, "gamma", 1, (int64_t[]){N7});
  suri_node bt = suri_param(c.g, "beta", 1, (int64_t[]){N7});
  suri_node rm = suri_param(c.g, "rm_as_param", 1, (int64_t[]){N7});
  suri_node rv = suri_param(c.g, "rv_as_param", 1, (int64_t[]){N7});
  c.out = suri_batch_norm(c.g, x, gm, bt, rm, rv, 1e-5, 0.1);
  oc_compile(&c, 3, 3, 95);
  suri_graph_set_training(c.g, 0);
  for (int j = 0; j < N7; j++) val(&c, rv)[j] = (suri_real)(0.5 + 0.1 * j);
  oc_forward(&c);
  assert_int_equal(suri_graph_backward(c.g, c.out, NULL), SURI_OK);
  for (int j = 0; j < N7; j++) {
    assert_true(suri_graph_grad(c.g, rm)[j] == 0);
    assert_true(suri_graph_grad(c.g, rv)[j] == 0);
    assert_true(suri_graph_grad(c.g, bt)[j] != 0);
  }
  oc_end(&c);
}

static void test_layer_norm(void **state) {
  (void)state;
  const double eps = 1e-5;
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node x = oc_input(&c, "x", 1, (int64_t[]){N7});
    suri_node gm = suri_param(c.g, "gamma", 1, (int64_t[]){N7});
    suri_node bt = suri_param(c.g, "beta", 1, (int64_t[]){N7});
    c.out = suri_layer_norm(c.g, x, gm, bt, eps);
    oc_compile(&c, MAXB[t], BATCH[t], 100);
    oc_forward(&c);
    const suri_real *xv = val(&c, x), *g = val(&c, gm), *b = val(&c, bt);
    double ref[3 * N7];
    for (int64_t i = 0; i < c.B; i++) {
      double mu = 0, var = 0;
      for (int j = 0; j < N7; j++) mu += xv[i * N7 + j];
      mu /= N7;
      for (int j = 0; j < N7; j++) var += (xv[i * N7 + j] - mu) * (xv[i * N7 + j] - mu);
      var /= N7;
      for (int j = 0; j < N7; j++)
        ref[i * N7 + j] = g[j] * (xv[i * N7 + j] - mu) / sqrt(var + eps) + b[j];
    }
    expect_close(val(&c, c.out), ref, c.B * N7, "layer_norm");
    oc_check(&c, 0);
    /* Eval mode changes nothing for layer norm. */
    suri_real first[3 * N7];
    memcpy(first, val(&c, c.out), sizeof first);
    suri_graph_set_training(c.g, 0);
    oc_forward(&c);
    assert_memory_equal(first, val(&c, c.out), (size_t)(c.B * N7) * sizeof(suri_real));
    oc_end(&c);
  }
}

/* ---- dropout ------------------------------------------------------------------------------ */
static void test_dropout(void **state) {
  (void)state;
  const double p = 0.3;
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node x = oc_input(&c, "x", 1, (int64_t[]){N7});
    suri_node d = suri_dropout(c.g, x, p);
    c.out = suri_tanh(c.g, d);
    oc_compile(&c, MAXB[t], BATCH[t], 110);
    suri_graph_set_rng(c.g, suri_rng_make(42, SURI_RNG_DROPOUT));
    oc_forward(&c);
    assert_int_equal(suri_graph_rng_calls(c.g), 1);
    const suri_real *xv = val(&c, x), *dv = val(&c, d);
    suri_real keep = (suri_real)(1.0 / (1.0 - p));
    int dropped = 0;
    for (int64_t k = 0; k < c.B * N7; k++) {
      if (dv[k] == 0) dropped++;
      else if (dv[k] != xv[k] * keep) fail_msg("dropout[%lld]: %g is neither 0 nor x/(1-p)",
                                               (long long)k, (double)dv[k]);
    }
    if (c.B == 3) assert_true(dropped > 0 && dropped < 3 * N7); /* seed 42: a real mask */
    /* Replaying the counter replays the mask: the gradient check relies on it. */
    suri_real first[3 * N7];
    memcpy(first, dv, (size_t)(c.B * N7) * sizeof(suri_real));
    suri_graph_set_rng_calls(c.g, 0);
    oc_check(&c, 1);
    assert_int_equal(suri_graph_rng_calls(c.g), 1);
    assert_memory_equal(first, dv, (size_t)(c.B * N7) * sizeof(suri_real));
    /* Eval: identity, counter untouched. */
    suri_graph_set_training(c.g, 0);
    oc_forward(&c);
    assert_memory_equal(xv, dv, (size_t)(c.B * N7) * sizeof(suri_real));
    assert_int_equal(suri_graph_rng_calls(c.g), 1);
    oc_check(&c, 0);
    oc_end(&c);
  }
}

/* Keep rate, mean preservation, fresh masks per pass, independence of the thread count, and
 * p = 0 / p = 1. 40000 elements: the dropped fraction has sd sqrt(0.21/40000) = 0.0023, the
 * mean of y (x = 1) has sd sqrt(p/(1-p)/40000) = 0.0033; 5 sd bounds are used. */
static void test_dropout_statistics(void **state) {
  (void)state;
  enum { B = 4, M = 10000 };
  suri_graph *g = suri_graph_new();
  suri_node x = suri_input(g, "x", 1, (int64_t[]){M});
  suri_node d = suri_dropout(g, x, 0.3), d0 = suri_dropout(g, x, 0.0), d1 = suri_dropout(g, x, 1.0);
  assert_int_equal(suri_graph_compile(g, B), SURI_OK);
  suri_graph_set_rng(g, suri_rng_make(7, SURI_RNG_DROPOUT));
  for (int k = 0; k < B * M; k++) suri_graph_value(g, x)[k] = 1;
  suri_set_threads(1);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  suri_real *one = malloc(B * M * sizeof *one);
  assert_non_null(one);
  memcpy(one, suri_graph_value(g, d), B * M * sizeof *one);
  double zeros = 0, mean = 0;
  for (int k = 0; k < B * M; k++) {
    zeros += one[k] == 0;
    mean += one[k];
    assert_true(suri_graph_value(g, d0)[k] == 1 && suri_graph_value(g, d1)[k] == 0);
  }
  assert_true(fabs(zeros / (B * M) - 0.3) < 5 * 0.0023);
  assert_true(fabs(mean / (B * M) - 1.0) < 5 * 0.0033);
  suri_set_threads(2);
  suri_graph_set_rng_calls(g, 0);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  assert_memory_equal(one, suri_graph_value(g, d), B * M * sizeof *one);
  assert_int_equal(suri_graph_forward(g), SURI_OK); /* next pass: a different mask */
  assert_memory_not_equal(one, suri_graph_value(g, d), B * M * sizeof *one);
  suri_set_threads(1);
  free(one);
  suri_graph_free(g);
}

/* ---- losses ------------------------------------------------------------------------------- */
static double ce_row(const suri_real *z, int C, int y) {
  double m = z[0], s = 0;
  for (int k = 1; k < C; k++) m = fmax(m, z[k]);
  for (int k = 0; k < C; k++) s += exp(z[k] - m);
  return m + log(s) - z[y];
}

static void test_softmax_ce(void **state) {
  (void)state;
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node z = oc_input(&c, "logits", 1, (int64_t[]){N7});
    suri_node y = suri_labels(c.g, "y");
    c.out = suri_softmax_ce(c.g, z, y);
    assert_int_equal(suri_graph_shape(c.g, c.out)->rank, 0);
    oc_compile(&c, MAXB[t], BATCH[t], 120);
    int32_t *lab = suri_graph_labels(c.g, y);
    for (int64_t i = 0; i < c.B; i++) lab[i] = (int32_t)((3 * i + 2) % N7);
    oc_forward(&c);
    double ref = 0;
    for (int64_t i = 0; i < c.B; i++) {
      /* direct formula: -log(e^{z_y} / sum e^{z_k}) */
      double s = 0;
      for (int k = 0; k < N7; k++) s += exp((double)val(&c, z)[i * N7 + k]);
      ref += -log(exp((double)val(&c, z)[i * N7 + lab[i]]) / s);
    }
    ref /= (double)c.B;
    expect_close(val(&c, c.out), &ref, 1, "softmax_ce");
    oc_check(&c, 0);
    oc_end(&c);
  }
}

/* Huge logits stay finite; labels outside [0, C) are ignored (never read through). */
static void test_softmax_ce_stability_and_bad_labels(void **state) {
  (void)state;
  opcase c;
  oc_begin(&c);
  suri_node z = oc_input(&c, "logits", 1, (int64_t[]){3});
  suri_node y = suri_labels(c.g, "y");
  c.out = suri_softmax_ce(c.g, z, y);
  oc_compile(&c, 4, 4, 130);
  const suri_real rows[4][3] = {{1000, 0, -1000}, {-1000, -1000, -999}, {1, 2, 3}, {4, 5, 6}};
  memcpy(val(&c, z), rows, sizeof rows);
  int32_t *lab = suri_graph_labels(c.g, y);
  lab[0] = 1, lab[1] = 2, lab[2] = -1, lab[3] = 3; /* rows 2 and 3 invalid */
  oc_forward(&c);
  double ref = (ce_row(rows[0], 3, 1) + ce_row(rows[1], 3, 2)) / 2;
  assert_true(isfinite(val(&c, c.out)[0]));
  expect_close(val(&c, c.out), &ref, 1, "softmax_ce (ignored labels)");
  assert_int_equal(suri_graph_backward(c.g, c.out, NULL), SURI_OK);
  const suri_real *gz = suri_graph_grad(c.g, z);
  for (int k = 0; k < 6; k++) assert_true(isfinite(gz[k]));
  for (int k = 6; k < 12; k++) assert_true(gz[k] == 0);
  lab[0] = 7, lab[1] = INT32_MIN; /* none valid: loss 0, no gradient */
  oc_forward(&c);
  assert_true(val(&c, c.out)[0] == 0);
  assert_int_equal(suri_graph_backward(c.g, c.out, NULL), SURI_OK);
  for (int k = 0; k < 12; k++) assert_true(gz[k] == 0);
  oc_end(&c);
}

/* Class indices may also come from a real (B) input: rounded to the nearest class. */
static void test_softmax_ce_real_labels(void **state) {
  (void)state;
  suri_graph *g = suri_graph_new();
  suri_node z = suri_input(g, "logits", 1, (int64_t[]){3});
  suri_node yr = suri_input(g, "y_real", 0, NULL);
  suri_node yi = suri_labels(g, "y");
  suri_node Lr = suri_softmax_ce(g, z, yr), Li = suri_softmax_ce(g, z, yi);
  assert_int_equal(suri_graph_compile(g, 3), SURI_OK);
  tu_fill_normal(135, 9, suri_graph_value(g, z), 1.0);
  const suri_real yv[3] = {2.0f, 0.2f, -7.0f}; /* -7 is out of range: ignored by both */
  const int32_t iv[3] = {2, 0, -7};
  memcpy(suri_graph_value(g, yr), yv, sizeof yv);
  memcpy(suri_graph_labels(g, yi), iv, sizeof iv);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  assert_true(suri_graph_value(g, Lr)[0] == suri_graph_value(g, Li)[0]);
  double ref = (ce_row(suri_graph_value(g, z), 3, 2) + ce_row(suri_graph_value(g, z) + 3, 3, 0)) / 2;
  expect_close(suri_graph_value(g, Li), &ref, 1, "softmax_ce (real labels)");
  suri_graph_free(g);
}

static void test_mse(void **state) {
  (void)state;
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node p = oc_input(&c, "pred", 1, (int64_t[]){N7});
    suri_node q = oc_input(&c, "target", 1, (int64_t[]){N7});
    c.out = suri_mse(c.g, p, q);
    assert_int_equal(suri_graph_shape(c.g, c.out)->rank, 0);
    oc_compile(&c, MAXB[t], BATCH[t], 140);
    oc_forward(&c);
    double ref = 0;
    for (int64_t k = 0; k < c.B * N7; k++) {
      double e = (double)val(&c, p)[k] - val(&c, q)[k];
      ref += e * e;
    }
    ref /= (double)(c.B * N7);
    expect_close(val(&c, c.out), &ref, 1, "mse");
    oc_check(&c, 0); /* both pred and target get gradients */
    oc_end(&c);
  }
}

static void test_logistic(void **state) {
  (void)state;
  for (int t = 0; t < 2; t++) {
    opcase c;
    oc_begin(&c);
    suri_node z = oc_input(&c, "logit", 1, (int64_t[]){1});
    suri_node tg = suri_input(c.g, "target", 1, (int64_t[]){1});
    suri_graph_want_input_grad(c.g, tg); /* asked for, but the target is data: stays 0 */
    c.out = suri_logistic(c.g, z, tg);
    oc_compile(&c, MAXB[t], BATCH[t], 150);
    for (int64_t i = 0; i < c.B; i++) val(&c, tg)[i] = (suri_real)(i % 2);
    oc_forward(&c);
    double ref = 0;
    for (int64_t i = 0; i < c.B; i++) {
      double zi = val(&c, z)[i], ti = val(&c, tg)[i], s = 1 / (1 + exp(-zi));
      ref += -(ti * log(s) + (1 - ti) * log(1 - s));
    }
    ref /= (double)c.B;
    expect_close(val(&c, c.out), &ref, 1, "logistic");
    oc_check(&c, 0);
    assert_int_equal(suri_graph_backward(c.g, c.out, NULL), SURI_OK);
    for (int64_t i = 0; i < c.B; i++) assert_true(suri_graph_grad(c.g, tg)[i] == 0);
    /* A tangent on the target alone is ignored, consistent with backward. */
    suri_real ones[4] = {1, 1, 1, 1};
    suri_graph_set_input_tangent(c.g, tg, ones);
    assert_int_equal(suri_graph_jvp(c.g, NULL), SURI_OK);
    const suri_real *tan = suri_graph_tangent(c.g, c.out);
    assert_true(tan == NULL || tan[0] == 0);
    suri_graph_set_input_tangent(c.g, tg, NULL);
    /* Stable for huge logits. */
    val(&c, z)[0] = -1000;
    val(&c, tg)[0] = 1;
    oc_forward(&c);
    assert_true(isfinite(val(&c, c.out)[0]) && val(&c, c.out)[0] > 1000.0 / (double)c.B - 1);
    oc_end(&c);
  }
}

/* ---- shape errors ------------------------------------------------------------------------- */
static void test_dense_shape_error_sticky(void **state) {
  (void)state;
  suri_graph *g = suri_graph_new();
  suri_node x = suri_input(g, "x", 1, (int64_t[]){N7});
  suri_node W = suri_param(g, "W", 2, (int64_t[]){5, 6});
  suri_node y = suri_dense(g, x, W, (suri_node){-1}, 1, 1);
  assert_false(suri_node_ok(y));
  /* Sticky: a later valid call and a later different error both return invalid nodes. */
  assert_false(suri_node_ok(suri_tanh(g, x)));
  suri_node v = suri_input(g, "v", 1, (int64_t[]){3});
  assert_false(suri_node_ok(v));
  assert_false(suri_node_ok(suri_add(g, x, W)));
  suri_status st = suri_graph_compile(g, 4);
  tu_expect_status(st, SURI_ERR_SHAPE, "dense");
  tu_expect_status(st, SURI_ERR_SHAPE, "(5, 6)");
  tu_expect_status(st, SURI_ERR_SHAPE, ", 7)");
  suri_graph_free(g);
}

static suri_status build_error(int which) {
  suri_graph *g = suri_graph_new();
  suri_node a = suri_input(g, "a", 1, (int64_t[]){N7});
  suri_node b = suri_input(g, "b", 1, (int64_t[]){6});
  suri_node p = suri_param(g, "p", 1, (int64_t[]){6});
  suri_node y = suri_labels(g, "y");
  switch (which) {
  case 0: suri_add(g, a, b); break;
  case 1: suri_mul(g, a, p); break;
  case 2: suri_bias_add(g, a, p); break;
  case 3: suri_reshape(g, a, 2, (int64_t[]){2, 3}); break;
  case 4: suri_batch_norm(g, a, p, p, p, p, 1e-5, 0.1); break;
  case 5: suri_layer_norm(g, a, p, p, 1e-5); break;
  case 6: suri_softmax_ce(g, p, y); break;
  case 7: suri_mse(g, a, b); break;
  case 8: suri_logistic(g, a, b); break;
  default: suri_dropout(g, a, 1.5); break;
  }
  suri_status st = suri_graph_compile(g, 2);
  suri_graph_free(g);
  return st;
}

static void test_shape_errors_name_both_shapes(void **state) {
  (void)state;
  static const char *op[10] = {"add", "mul", "bias_add", "reshape", "batch_norm", "layer_norm",
                               "softmax_ce", "mse", "logistic", "dropout"};
  static const char *frag[10] = {"6)", "(6)", "(6)", "2, 3)", "(6)", "(6)", "(6)", "6)", "6)",
                                 "1.5"};
  for (int i = 0; i < 10; i++) {
    suri_status st = build_error(i);
    tu_expect_status(st, i == 9 ? SURI_ERR_ARG : SURI_ERR_SHAPE, op[i]);
    tu_expect_status(st, st, frag[i]);
    if (i != 6 && i != 9) tu_expect_status(st, st, ", 7)"); /* the other shape, (B=.., 7) */
  }
}

int main(void) {
  suri_set_threads(1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dense),
      cmocka_unit_test(test_add_sub_mul),
      cmocka_unit_test(test_mul_same_node_and_params),
      cmocka_unit_test(test_scale_bias_add),
      cmocka_unit_test(test_activations),
      cmocka_unit_test(test_activation_stability),
      cmocka_unit_test(test_activation_nan),
      cmocka_unit_test(test_sum_mean),
      cmocka_unit_test(test_reshape),
      cmocka_unit_test(test_batch_norm),
      cmocka_unit_test(test_batch_norm_no_grad_to_running_stats),
      cmocka_unit_test(test_layer_norm),
      cmocka_unit_test(test_dropout),
      cmocka_unit_test(test_dropout_statistics),
      cmocka_unit_test(test_softmax_ce),
      cmocka_unit_test(test_softmax_ce_stability_and_bad_labels),
      cmocka_unit_test(test_softmax_ce_real_labels),
      cmocka_unit_test(test_mse),
      cmocka_unit_test(test_logistic),
      cmocka_unit_test(test_dense_shape_error_sticky),
      cmocka_unit_test(test_shape_errors_name_both_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
