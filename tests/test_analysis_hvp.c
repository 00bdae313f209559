/* test_analysis_hvp.c - exact Hessian-vector products by forward-over-reverse differentiation
 * (src/graph/hvp.c, the ops' backward tangents, and their use by the Hessian operator in
 * src/analysis/hessian.c).
 *
 * 1. Per op: a graph L = sum(y * y) (or L = y * y for a scalar y) with y = op(x, ...) and every
 *    real input of the op a smooth function of parameters (x = X + b0, bias_add), so each
 *    backward tangent gets a non-zero gradient g, gradient tangent and input tangent; H v from
 *    suri_graph_hvp against the central difference of gradients along v, and the symmetry
 *    u.(Hv) = v.(Hu) (tests/util/gradcheck.c, tu_hvpcheck: tolerance 1e-7 double / 1e-2 float,
 *    justified there). Shapes (B, N) = (1, 3) (batch 1) and (5, 7) on a graph compiled for 6.
 *    Inputs stay >= 0.15 from 0 (|X| >= 0.3, |b0| <~ 0.15), further than the float step, so the
 *    ReLU-type ops see no kink.
 * 2. Whole models (tanh + ce, gelu + mse, softplus + logistic; 6 samples in chunks of 4): the
 *    exact operator materialised against the dense Hessian from central differences of
 *    full-data gradients (the central-difference method, hess_method = DIFF, at its default
 *    step): relative Frobenius error <= 1e-7 double (the difference is ~1e-10 accurate at
 *    c = 1e-5, docs/analysis.md section 2.3), 1e-3 float (the float difference at c = 3e-4 is
 *    1e-4..1.5e-4 off); and the exact matrix is symmetric to rounding (1e-12 double, 1e-5 float).
 * 3. ReLU: the exact products do not depend on hess_eps (bitwise the same, last_eps 0), nor does
 *    lambda_max; in double they match a central difference with a step so small (c = 1e-8)
 *    that no pre-activation crosses its kink (tolerance 1e-5: rounding ~1e-16 / 1e-8 times the
 *    gradient's condition), where the default step (1e-5) does not hold that tolerance only if
 *    a kink is crossed.
 * 4. The method: AUTO picks "exact" for dense/activation/loss graphs and "central_difference"
 *    with layer norm; EXACT with layer norm is refused with SURI_ERR_UNSUPPORTED naming the op.
 * 5. One chunk: repeated products reuse the forward pass and the node gradients (no graph pass
 *    after the first), and another forward in between (other data) is detected. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "suri/analysis.h"
#include "suri/linalg.h"
#include "suri/nn.h"
#include "testutil.h"

#ifdef SURI_REAL_DOUBLE
#define MODEL_TOL 1e-7
#define SYM_TOL 1e-12
#else
#define MODEL_TOL 1e-3
#define SYM_TOL 1e-5
#endif

/* ---- 1. per-op graphs ------------------------------------------------------------------- */
typedef enum opcase {
  C_DENSE, C_ADD, C_SUB, C_MUL, C_SCALE, C_BIAS, C_RELU, C_LEAKY, C_TANH, C_SIGMOID, C_GELU,
  C_ERF, C_SOFTPLUS, C_IDENTITY, C_SUM, C_SUM_ROW, C_MEAN, C_RESHAPE, C_DROPOUT, C_CE, C_MSE,
  C_LOGISTIC, C_COUNT
} opcase;

static const char *const CASE_NAMES[C_COUNT] = {
    "dense", "add", "sub", "mul", "scale", "bias_add", "relu", "leaky_relu", "tanh", "sigmoid",
    "gelu", "erf", "softplus", "identity", "sum", "sum_row", "mean", "reshape", "dropout",
    "softmax_ce", "mse", "logistic"};

typedef struct opg {
  suri_graph *g;
  suri_real *p, *gr;
  suri_node L;
} opg;

static suri_node op_of(suri_graph *g, opcase k, suri_node x, suri_node x2, suri_node X, int64_t N,
                       suri_node T, suri_node Y) {
  (void)X;
  switch (k) {
  case C_DENSE: {
    suri_node W = suri_param(g, "W", 2, (int64_t[]){N + 2, N});
    suri_node b = suri_param(g, "b", 1, (int64_t[]){N + 2});
    return suri_dense(g, x, W, b, 0.7, 0.3);
  }
  case C_ADD: return suri_add(g, x, x2);
  case C_SUB: return suri_sub(g, x, x2);
  case C_MUL: return suri_mul(g, x, x2);
  case C_SCALE: return suri_scale(g, x, -1.3);
  case C_BIAS: return suri_bias_add(g, x, suri_param(g, "b2", 1, (int64_t[]){N}));
  case C_RELU: return suri_relu(g, x);
  case C_LEAKY: return suri_leaky_relu(g, x, 0.1);
  case C_TANH: return suri_tanh(g, x);
  case C_SIGMOID: return suri_sigmoid(g, x);
  case C_GELU: return suri_gelu(g, x);
  case C_ERF: return suri_erf(g, x);
  case C_SOFTPLUS: return suri_softplus(g, x);
  case C_IDENTITY: return suri_identity(g, x);
  case C_SUM: return suri_sum(g, x, 0);
  case C_SUM_ROW: return suri_sum(g, x, 1);
  case C_MEAN: return suri_mean(g, x, 1);
  case C_RESHAPE: return suri_reshape(g, x, 2, (int64_t[]){1, N});
  case C_DROPOUT: return suri_dropout(g, x, 0.3);
  case C_CE: return suri_softmax_ce(g, x, Y);
  case C_MSE: return suri_mse(g, x, x2);
  case C_LOGISTIC: return suri_logistic(g, x, T);
  case C_COUNT: break;
  }
  return (suri_node){-1};
}

static void opg_build(opg *o, opcase k, int64_t B, int64_t maxb, int64_t N, uint64_t seed) {
  suri_graph *g = o->g = suri_graph_new();
  suri_node X = suri_input(g, "X", 1, (int64_t[]){N}), X2 = suri_input(g, "X2", 1, (int64_t[]){N});
  suri_node T = suri_input(g, "T", 1, (int64_t[]){N}), Y = suri_labels(g, "Y");
  suri_node x = suri_bias_add(g, X, suri_param(g, "b0", 1, (int64_t[]){N}));
  suri_node x2 = suri_bias_add(g, X2, suri_param(g, "b1", 1, (int64_t[]){N}));
  suri_node y = op_of(g, k, x, x2, X, N, T, Y);
  suri_node yy = suri_mul(g, y, y);
  const suri_shape *sy = suri_graph_shape(g, y);
  o->L = sy && sy->rank == 0 ? yy : suri_sum(g, yy, 0);
  if (suri_graph_compile(g, maxb) != SURI_OK) fail_msg("%s: %s", CASE_NAMES[k], suri_last_error());
  size_t np = suri_graph_param_count(g);
  o->p = suri_calloc(np, sizeof(suri_real));
  o->gr = suri_calloc(np, sizeof(suri_real));
  assert_true(o->p && o->gr);
  tu_fill_normal(seed, np, o->p, 0.5);
  /* the shifts b0, b1 small, so x = X + b0 keeps |x| >= 0.15 (kinks) */
  for (int nb = 0; nb < 2; nb++) {
    size_t off = nb == 0 ? 0 : suri_graph_param_offset(g, (suri_node){x2.id - 1});
    tu_fill_normal(seed + 5 + (uint64_t)nb, (size_t)N, o->p + off, 0.05);
  }
  suri_graph_bind_params(g, o->p, o->gr);
  assert_int_equal(suri_graph_set_batch(g, B), SURI_OK);
  tu_fill_away(seed + 1, (size_t)(maxb * N), suri_graph_value(g, X), 0.3, 1.5);
  tu_fill_away(seed + 2, (size_t)(maxb * N), suri_graph_value(g, X2), 0.3, 1.5);
  suri_real *t = suri_graph_value(g, T);
  for (int64_t i = 0; i < maxb * N; i++) t[i] = (suri_real)((i * 7 % 11) / 10.0); /* soft, [0,1] */
  for (int64_t i = 0; i < maxb; i++) suri_graph_labels(g, Y)[i] = (int32_t)((i * 3 + 1) % N);
}

static void opg_free(opg *o) {
  suri_graph_free(o->g);
  suri_free(o->p);
  suri_free(o->gr);
}

static void test_op_rules(void **state) {
  (void)state;
  static const int64_t shapes[2][2] = {{1, 3}, {5, 7}};
  for (int k = 0; k < C_COUNT; k++)
    for (int s = 0; s < 2; s++) {
      opg o;
      opg_build(&o, (opcase)k, shapes[s][0], 6, shapes[s][1], 100 + (uint64_t)(10 * k + s));
      suri_graph_set_training(o.g, k == C_DROPOUT); /* dropout: a real mask, replayed */
      tu_gc_spec sp;
      memset(&sp, 0, sizeof sp);
      sp.g = o.g, sp.params = o.p, sp.grads = o.gr, sp.out = o.L, sp.seed = 7 + (uint64_t)k;
      sp.replay_rng = 1;
      tu_gc_result r = tu_hvpcheck_run(&sp);
      if (getenv("SURI_TEST_VERBOSE"))
        print_message("%s (%lld, %lld): %s\n", CASE_NAMES[k], (long long)shapes[s][0],
                      (long long)shapes[s][1], r.msg);
      if (!r.ok)
        fail_msg("%s (%lld, %lld): %s", CASE_NAMES[k], (long long)shapes[s][0],
                 (long long)shapes[s][1], r.msg);
      opg_free(&o);
    }
}

/* Fused dense + activation (the default) and unfused graphs give the same exact products. */
static void test_fusion_same(void **state) {
  (void)state;
  suri_real *hv[2];
  size_t np = 0;
  for (int f = 0; f < 2; f++) {
    suri_graph *g = suri_graph_new();
    suri_graph_set_fusion(g, f);
    suri_node X = suri_input(g, "X", 1, (int64_t[]){5}), Y = suri_labels(g, "Y");
    suri_node W1 = suri_param(g, "W1", 2, (int64_t[]){6, 5});
    suri_node b1 = suri_param(g, "b1", 1, (int64_t[]){6});
    suri_node W2 = suri_param(g, "W2", 2, (int64_t[]){3, 6});
    suri_node h = suri_gelu(g, suri_dense(g, X, W1, b1, 0.5, 1.0));
    suri_node L = suri_softmax_ce(g, suri_dense(g, h, W2, (suri_node){-1}, 0.4, 1.0), Y);
    assert_int_equal(suri_graph_compile(g, 4), SURI_OK);
    np = suri_graph_param_count(g);
    suri_real *p = suri_calloc(np, sizeof *p), *gr = suri_calloc(np, sizeof *gr);
    suri_real *v = suri_calloc(np, sizeof *v);
    hv[f] = suri_calloc(np, sizeof *hv[f]);
    tu_fill_normal(3, np, p, 1.0);
    tu_fill_normal(4, np, v, 1.0);
    suri_graph_bind_params(g, p, gr);
    tu_fill_normal(5, 20, suri_graph_value(g, X), 1.0);
    for (int i = 0; i < 4; i++) suri_graph_labels(g, Y)[i] = i % 3;
    assert_int_equal(suri_graph_hvp_prepare(g, L), SURI_OK);
    assert_int_equal(suri_graph_forward(g), SURI_OK);
    assert_int_equal(suri_graph_hvp(g, L, v, hv[f]), SURI_OK);
    suri_free(p), suri_free(gr), suri_free(v);
    suri_graph_free(g);
  }
  double n2 = 0;
  for (size_t k = 0; k < np; k++) n2 += (double)hv[0][k] * hv[0][k];
  assert_true(n2 > 1e-6);
  assert_memory_equal(hv[0], hv[1], np * sizeof *hv[0]); /* bitwise: same node values */
  suri_free(hv[0]), suri_free(hv[1]);
}

/* ---- models ------------------------------------------------------------------------------ */
typedef struct tnet {
  suri_model *m;
  size_t P;
  suri_real *x, *t;
  int32_t *y;
  suri_analysis_data d;
} tnet;

static tnet make_net(const char *text, int64_t N, int64_t max_batch, uint64_t seed) {
  tnet n;
  memset(&n, 0, sizeof n);
  suri_model_spec s;
  if (suri_model_spec_parse(text, &s)) fail_msg("parse %s: %s", text, suri_last_error());
  if (suri_model_new(&s, max_batch, &n.m)) fail_msg("model %s: %s", text, suri_last_error());
  assert_int_equal(suri_model_init(n.m, seed), SURI_OK);
  int64_t IN = s.width[0], C = s.width[s.n_widths - 1];
  n.P = suri_model_param_count(n.m);
  n.x = malloc((size_t)(N * IN) * sizeof *n.x);
  n.t = malloc((size_t)(N * C) * sizeof *n.t);
  n.y = malloc((size_t)N * sizeof *n.y);
  tu_fill_normal(seed + 1, (size_t)(N * IN), n.x, 1.0);
  for (int64_t i = 0; i < N; i++) n.y[i] = (int32_t)((i * 5 + 2) % C);
  for (int64_t i = 0; i < N * C; i++)
    n.t[i] = s.loss == SURI_LOSS_LOGISTIC ? (suri_real)(i % 3 == 0)
                                          : (suri_real)(0.3 * (i % 5) - 0.6);
  n.d.n = N, n.d.x = n.x;
  n.d.labels = s.loss == SURI_LOSS_CE ? n.y : NULL;
  n.d.targets = s.loss == SURI_LOSS_CE ? NULL : n.t;
  return n;
}

static void free_net(tnet *n) {
  suri_model_free(n->m);
  free(n->x), free(n->t), free(n->y);
}

static suri_curv *hess_op(tnet *n, suri_hess_method method, double eps) {
  suri_curv_opts o = suri_curv_defaults();
  o.kind = SURI_CURV_HESSIAN;
  o.hess_method = method;
  o.hess_eps = eps;
  suri_curv *c = NULL;
  if (suri_curv_new(n->m, &n->d, &o, &c)) fail_msg("curv_new: %s", suri_last_error());
  return c;
}

/* Column j = A e_j on the flat layout (padding columns stay zero). */
static double *materialize(suri_curv *c, size_t P) {
  double *A = calloc(P * P, sizeof *A), *e = calloc(P, sizeof *e), *col = malloc(P * sizeof *col);
  for (size_t j = 0; j < P; j++) {
    e[j] = 1;
    assert_int_equal(suri_curv_apply(c, e, col), SURI_OK);
    e[j] = 0;
    for (size_t i = 0; i < P; i++) A[i * P + j] = col[i];
  }
  free(e), free(col);
  return A;
}

static double rel_fro(size_t n, const double *a, const double *b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  if (!(den > 0)) fail_msg("reference is zero");
  return sqrt(num / den);
}

static double asym(size_t P, const double *A) {
  double num = 0, den = 0;
  for (size_t i = 0; i < P; i++)
    for (size_t j = 0; j < P; j++) {
      double d = A[i * P + j] - A[j * P + i];
      num += d * d, den += A[i * P + j] * A[i * P + j];
    }
  return sqrt(num / den);
}

static void test_models_dense(void **state) {
  (void)state;
  static const char *const specs[] = {"mlp:3-5-4-3,act=tanh,loss=ce,sb2=0.1",
                                      "mlp:3-4-3-2,act=gelu,loss=mse,param=ntk,sb2=0.1",
                                      "mlp:4-5-1,act=softplus,loss=logistic,sb2=0.1"};
  for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
    tnet n = make_net(specs[s], 6, 4, 31 + s);
    suri_curv *ex = hess_op(&n, SURI_HESS_AUTO, 0), *fd = hess_op(&n, SURI_HESS_DIFF, 0);
    assert_string_equal(suri_curv_hess_method(ex), "exact");
    assert_string_equal(suri_curv_hess_method(fd), "central_difference");
    double *A = materialize(ex, n.P), *D = materialize(fd, n.P);
    assert_true(suri_curv_last_eps(ex) == 0);
    double *e0 = calloc(n.P, sizeof *e0), *col = malloc(n.P * sizeof *col);
    e0[0] = 1;
    assert_int_equal(suri_curv_apply(fd, e0, col), SURI_OK);
    assert_true(suri_curv_last_eps(fd) > 0); /* the difference's step; (padding columns: 0) */
    free(e0), free(col);
    double e = rel_fro(n.P * n.P, A, D), a = asym(n.P, A);
    if (getenv("SURI_TEST_VERBOSE"))
      print_message("%s: exact vs difference %.3e, asymmetry %.3e\n", specs[s], e, a);
    if (!(e <= MODEL_TOL)) fail_msg("%s: exact vs difference %.3e > %.1e", specs[s], e, MODEL_TOL);
    if (!(a <= SYM_TOL)) fail_msg("%s: exact Hessian asymmetry %.3e > %.1e", specs[s], a, SYM_TOL);
    free(A), free(D);
    suri_curv_free(ex), suri_curv_free(fd);
    free_net(&n);
  }
}

/* u.(Hv) = v.(Hu) on a wider net through the compact operator (two chunks). */
static void test_symmetry_wide(void **state) {
  (void)state;
  tnet n = make_net("mlp:20-30-30-5,act=gelu,loss=ce", 40, 16, 9);
  suri_curv *c = hess_op(&n, SURI_HESS_AUTO, 0);
  suri_linop L = suri_curv_linop(c);
  double *u = malloc((size_t)L.n * sizeof *u), *v = malloc((size_t)L.n * sizeof *v);
  double *hu = malloc((size_t)L.n * sizeof *hu), *hv = malloc((size_t)L.n * sizeof *hv);
  suri_rng r = suri_rng_make(5, SURI_RNG_PROBE);
  for (int64_t i = 0; i < L.n; i++) u[i] = suri_rng_normal(&r), v[i] = suri_rng_normal(&r);
  assert_int_equal(L.apply(&L, v, hv), SURI_OK);
  assert_int_equal(L.apply(&L, u, hu), SURI_OK);
  double a = 0, b = 0, scale = 0;
  for (int64_t i = 0; i < L.n; i++)
    a += u[i] * hv[i], b += v[i] * hu[i], scale += fabs(u[i] * hv[i]) + fabs(v[i] * hu[i]);
  if (getenv("SURI_TEST_VERBOSE")) print_message("symmetry %.3e of %.3e\n", fabs(a - b), scale);
  if (!(fabs(a - b) <= SYM_TOL * scale)) fail_msg("u.Hv %.15g vs v.Hu %.15g", a, b);
  free(u), free(v), free(hu), free(hv);
  suri_curv_free(c);
  free_net(&n);
}

/* ReLU: no step anywhere in the exact products. */
static void test_relu_no_step(void **state) {
  (void)state;
  tnet n = make_net("mlp:4-6-5-3,act=relu,loss=ce", 6, 4, 17);
  suri_curv *a = hess_op(&n, SURI_HESS_AUTO, 1e-4), *b = hess_op(&n, SURI_HESS_AUTO, 3e-3);
  double *A = materialize(a, n.P), *Bm = materialize(b, n.P);
  assert_true(suri_curv_last_eps(a) == 0);
  assert_memory_equal(A, Bm, n.P * n.P * sizeof *A);
  assert_true(asym(n.P, A) <= SYM_TOL);
  /* lambda_max by Lanczos at both settings, and against the dense matrix's */
  double lam[2];
  suri_curv *ops[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    suri_linop L = suri_curv_linop(ops[k]);
    suri_eig_opts eo = suri_eig_defaults();
    eo.tol = 1e-8;
    assert_int_equal(suri_eig_lanczos(&L, &eo, &lam[k], NULL, NULL, NULL), SURI_OK);
  }
  assert_true(lam[0] == lam[1]);
  double *w = malloc(n.P * sizeof *w);
  assert_int_equal(suri_syev((int64_t)n.P, A, w, 0), SURI_OK);
  if (getenv("SURI_TEST_VERBOSE"))
    print_message("relu lambda_max %.12g dense %.12g\n", lam[0], w[n.P - 1]);
  /* Lanczos at a 1e-8 residual: the eigenvalue is good to ~1e-8 relative (double) or to the
   * float rounding of the products (~1e-5) */
  assert_true(tu_close(lam[0], w[n.P - 1], SYM_TOL > 1e-6 ? 1e-4 : 1e-7, 0));
#ifdef SURI_REAL_DOUBLE
  /* a central difference with a step that crosses no kink agrees with the exact products */
  suri_curv *fd = hess_op(&n, SURI_HESS_DIFF, 1e-8);
  double *D = materialize(fd, n.P), *A2 = materialize(a, n.P);
  double e = rel_fro(n.P * n.P, A2, D);
  if (getenv("SURI_TEST_VERBOSE")) print_message("relu exact vs c = 1e-8 difference %.3e\n", e);
  if (!(e <= 1e-5)) fail_msg("relu: exact vs small-step difference %.3e", e);
  free(D), free(A2);
  suri_curv_free(fd);
#endif
  free(A), free(Bm), free(w);
  suri_curv_free(a), suri_curv_free(b);
  free_net(&n);
}

static void test_method_choice(void **state) {
  (void)state;
  tnet n = make_net("mlp:3-4-2,act=tanh,norm=layer,loss=ce", 5, 8, 3);
  const char *missing = NULL;
  assert_false(suri_graph_hvp_supported(suri_model_graph(n.m), suri_model_loss(n.m), &missing));
  assert_non_null(missing);
  assert_string_equal(missing, "layer_norm");
  tu_expect_status(suri_graph_hvp_prepare(suri_model_graph(n.m), suri_model_loss(n.m)),
                   SURI_ERR_UNSUPPORTED, "layer_norm");
  suri_curv *c = hess_op(&n, SURI_HESS_AUTO, 0);
  assert_string_equal(suri_curv_hess_method(c), "central_difference");
  suri_curv_free(c);
  suri_curv_opts o = suri_curv_defaults();
  o.kind = SURI_CURV_HESSIAN;
  o.hess_method = SURI_HESS_EXACT;
  c = NULL;
  tu_expect_status(suri_curv_new(n.m, &n.d, &o, &c), SURI_ERR_UNSUPPORTED, "layer_norm");
  assert_null(c);
  o.hess_method = (suri_hess_method)7;
  tu_expect_status(suri_curv_new(n.m, &n.d, &o, &c), SURI_ERR_ARG, "hess_method");
  o.kind = SURI_CURV_GGN;
  o.hess_method = SURI_HESS_AUTO;
  assert_int_equal(suri_curv_new(n.m, &n.d, &o, &c), SURI_OK);
  assert_string_equal(suri_curv_hess_method(c), "");
  suri_curv_free(c);
  free_net(&n);
}

/* One chunk: later products run no forward or backward pass; a pass by someone else in between
 * (a prediction on other data) is noticed and the products stay the same. */
static void test_cache(void **state) {
  (void)state;
  tnet n = make_net("mlp:5-7-3,act=tanh,loss=ce", 6, 8, 23);
  suri_curv *c = hess_op(&n, SURI_HESS_AUTO, 0);
  double *v = malloc(n.P * sizeof *v), *h1 = malloc(n.P * sizeof *h1);
  double *h2 = malloc(n.P * sizeof *h2);
  for (size_t i = 0; i < n.P; i++) v[i] = sin(0.37 * (double)i + 1);
  suri_graph *g = suri_model_graph(n.m);
  assert_int_equal(suri_curv_apply(c, v, h1), SURI_OK);
  uint64_t passes = suri_graph_pass_count(g);
  assert_int_equal(suri_curv_apply(c, v, h2), SURI_OK);
  assert_true(suri_graph_pass_count(g) == passes); /* jvp and the tangent sweep only */
  assert_memory_equal(h1, h2, n.P * sizeof *h1);
  suri_real *other = malloc(6 * 5 * sizeof *other);
  for (int i = 0; i < 30; i++) other[i] = (suri_real)(0.1 * i - 1);
  double L, acc;
  assert_int_equal(suri_model_evaluate(n.m, 6, other, n.y, NULL, &L, &acc), SURI_OK);
  assert_int_equal(suri_curv_apply(c, v, h2), SURI_OK);
  assert_true(suri_graph_pass_count(g) > passes);
  assert_memory_equal(h1, h2, n.P * sizeof *h1);
  free(v), free(h1), free(h2), free(other);
  suri_curv_free(c);
  free_net(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_op_rules),      cmocka_unit_test(test_fusion_same),
      cmocka_unit_test(test_models_dense),  cmocka_unit_test(test_symmetry_wide),
      cmocka_unit_test(test_relu_no_step),  cmocka_unit_test(test_method_choice),
      cmocka_unit_test(test_cache)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
