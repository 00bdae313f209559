/* test_analysis_golden.c - suri's curvature operators and empirical NTK against PyTorch:
 * golden values written by tests/ref/make_analysis_fixtures.py into
 * tests/fixtures/analysis/<case>.safetensors (F64; read with suri/io.h's safetensors reader).
 *
 * Each case is a tiny MLP (metadata "model_spec") with its parameters, N = 6 samples and a
 * vector v; torch supplies the true Fisher-vector product (jvp then vjp), the Gauss-Newton
 * product (with the loss Hessian in output space from double backward, so suri's loss scalings
 * are checked too), the empirical Fisher product (per-sample NLL gradients), the Hessian-vector
 * product (double backward) and the full empirical NTK Gram (explicit Jacobians). The model is
 * compiled for batches of 4, so every operator runs over two chunks (4 + 2).
 *
 * Tolerances (relative Frobenius norm of the difference over the reference):
 * - The Hessian of tanh_ce, gelu_mse_ntk and relu_ce is made by exact forward-over-reverse
 *   products (src/graph/hvp.c), the same mathematics as torch's double backward with no step,
 *   so it is held to the exact products' tolerance below (observed: double 1.9e-16..5.5e-16,
 *   float 7e-8..1.6e-7; the central difference used before gave 1.5e-10..4e-10 / 1.2e-4..1.6e-4 on
 *   the smooth nets). relu_ce (added with the exact products; its smallest |pre-activation| is
 *   0.05) checks the ReLU case: double backward's almost-everywhere Hessian, relu'' = 0, which
 *   a central difference only matches while its step crosses no kink.
 *   softplus_layernorm_logistic has layer norm, which has no second-order rule: its Hessian
 *   still comes from the central difference (the operator says so) and keeps HESS_TOL.
 * - double: 1e-12 for the exact products and the NTK (both sides are exact formulas in double;
 *   observed 2e-16..4e-16); 1e-8 for the difference Hessian (central difference of gradients at
 *   the double default step c = 1e-5 against exact double backward; observed 1.5e-10..4e-10,
 *   truncation-dominated: 3e-8 at c = 1e-4, 3e-11 at c = 3e-6).
 * - float: parameters, inputs and v are rounded to float (6e-8 relative) and every pass runs in
 *   float: 1e-5 for the exact products and the NTK (observed 2e-8..3e-7); 5e-4 for the
 *   difference Hessian
 *   (observed 1.2e-4..1.6e-4 at the float default step c = 3e-4, chosen for larger nets, see
 *   src/analysis/hessian.c; 1.5e-5..4e-5 at c = 3e-3, 2e-4..1e-3 at c = 1e-4 where float
 *   rounding dominates, 1.5e-4..4e-4 at c = 1e-2 where truncation does). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/analysis.h"
#include "suri/io.h"
#include "testutil.h"

#ifdef SURI_REAL_DOUBLE
#define EXACT_TOL 1e-12
#define HESS_TOL 1e-8
#else
#define EXACT_TOL 1e-5
#define HESS_TOL 5e-4
#endif

static const char *const CASES[] = {"tanh_ce", "gelu_mse_ntk", "softplus_layernorm_logistic",
                                    "relu_ce"};

typedef struct gcase {
  const char *name;
  suri_safetensors *st;
  suri_model *m;
  int64_t N, IN, C;
  size_t P;
  suri_real *x, *t;
  int32_t *y;
  suri_analysis_data d;
} gcase;

static const suri_st_tensor *need(const gcase *g, const char *name) {
  const suri_st_tensor *t = suri_st_find(g->st, name);
  if (!t) fail_msg("%s: tensor '%s' is missing", g->name, name);
  assert_int_equal(t->dtype, SURI_DT_F64);
  return t;
}

/* Exact F64 values of a tensor (expected element count n). */
static double *get_f64(const gcase *g, const char *name, int64_t n) {
  const suri_st_tensor *t = need(g, name);
  if ((int64_t)(t->nbytes / 8) != n)
    fail_msg("%s: '%s' has %zu elements, expected %lld", g->name, name, t->nbytes / 8, (long long)n);
  double *d = malloc((size_t)n * sizeof *d);
  memcpy(d, suri_st_data(g->st, t), (size_t)n * sizeof *d);
  return d;
}

/* A per-parameter family "<prefix><tensor>" gathered into a flat (P) vector. */
static double *get_flat(const gcase *g, const char *prefix) {
  double *f = calloc(g->P, sizeof *f);
  for (int i = 0; i < suri_model_tensor_count(g->m); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(g->m, i);
    if (t->is_state) continue;
    char name[64];
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    int64_t n = t->dim[0] * (t->rank == 2 ? t->dim[1] : 1);
    double *d = get_f64(g, name, n);
    memcpy(f + t->offset, d, (size_t)n * sizeof *d);
    free(d);
  }
  return f;
}

static gcase load_case(const char *name) {
  gcase g;
  memset(&g, 0, sizeof g);
  g.name = name;
  char rel[128];
  snprintf(rel, sizeof rel, "tests/fixtures/analysis/%s.safetensors", name);
  if (suri_st_read(tu_src_path(rel), 0, &g.st)) fail_msg("%s: %s", rel, suri_last_error());
  const char *spec_text = suri_st_meta(g.st, "model_spec");
  assert_non_null(spec_text);
  suri_model_spec spec;
  if (suri_model_spec_parse(spec_text, &spec)) fail_msg("%s: %s", spec_text, suri_last_error());
  if (suri_model_new(&spec, 4, &g.m)) fail_msg("%s: %s", spec_text, suri_last_error());
  g.N = atoll(suri_st_meta(g.st, "n"));
  g.IN = spec.width[0], g.C = spec.width[spec.n_widths - 1];
  g.P = suri_model_param_count(g.m);
  for (int i = 0; i < suri_model_tensor_count(g.m); i++) { /* parameters by name */
    const suri_model_tensor *t = suri_model_tensor_at(g.m, i);
    if (t->is_state) continue;
    int64_t dims[2] = {t->dim[0], t->dim[1]};
    if (suri_st_get_real(g.st, t->name, t->rank, dims, suri_model_params(g.m) + t->offset, 1))
      fail_msg("%s: %s", name, suri_last_error());
  }
  double *x = get_f64(&g, "x", g.N * g.IN);
  g.x = malloc((size_t)(g.N * g.IN) * sizeof *g.x);
  for (int64_t i = 0; i < g.N * g.IN; i++) g.x[i] = (suri_real)x[i];
  free(x);
  g.d.n = g.N, g.d.x = g.x;
  if (spec.loss == SURI_LOSS_CE) {
    double *y = get_f64(&g, "labels", g.N);
    g.y = malloc((size_t)g.N * sizeof *g.y);
    for (int64_t i = 0; i < g.N; i++) g.y[i] = (int32_t)y[i];
    free(y);
    g.d.labels = g.y;
  } else {
    double *t = get_f64(&g, "targets", g.N * g.C);
    g.t = malloc((size_t)(g.N * g.C) * sizeof *g.t);
    for (int64_t i = 0; i < g.N * g.C; i++) g.t[i] = (suri_real)t[i];
    free(t);
    g.d.targets = g.t;
  }
  return g;
}

static void free_case(gcase *g) {
  suri_model_free(g->m);
  suri_st_free(g->st);
  free(g->x), free(g->t), free(g->y);
}

static double rel_err(size_t n, const double *a, const double *ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) num += (a[i] - ref[i]) * (a[i] - ref[i]), den += ref[i] * ref[i];
  if (!(den > 0)) fail_msg("reference is zero");
  return sqrt(num / den);
}

static void test_operators(void **state) {
  (void)state;
  static const struct { suri_curv_kind kind; const char *prefix; double tol; } ops[] = {
      {SURI_CURV_FISHER, "fv.", EXACT_TOL},     {SURI_CURV_GGN, "ggnv.", EXACT_TOL},
      {SURI_CURV_FISHER_EMP, "efv.", EXACT_TOL}, {SURI_CURV_HESSIAN, "hv.", HESS_TOL}};
  for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
    gcase g = load_case(CASES[c]);
    double *v = get_flat(&g, "v."), *out = malloc(g.P * sizeof *out);
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
      suri_curv_opts o = suri_curv_defaults();
      o.kind = ops[k].kind;
      suri_curv *op = NULL;
      if (suri_curv_new(g.m, &g.d, &o, &op)) fail_msg("%s: %s", g.name, suri_last_error());
      assert_int_equal(suri_curv_apply(op, v, out), SURI_OK);
      double *ref = get_flat(&g, ops[k].prefix);
      double e = rel_err(g.P, out, ref), tol = ops[k].tol;
      if (ops[k].kind == SURI_CURV_HESSIAN) /* exact products: as exact as the others */
        tol = strcmp(suri_curv_hess_method(op), "exact") ? HESS_TOL : EXACT_TOL;
      if (getenv("SURI_TEST_VERBOSE"))
        print_message("%s %s %s: rel err %.3e\n", g.name, suri_curv_name(ops[k].kind),
                      suri_curv_hess_method(op), e);
      if (!(e <= tol))
        fail_msg("%s %s (%s): relative error %.3e > %.1e", g.name, suri_curv_name(ops[k].kind),
                 suri_curv_hess_method(op), e, tol);
      free(ref);
      suri_curv_free(op);
    }
    free(v), free(out);
    free_case(&g);
  }
}

static void test_ntk(void **state) {
  (void)state;
  for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
    gcase g = load_case(CASES[c]);
    int64_t n = g.N * g.C;
    double *ref = get_f64(&g, "ntk", n * n), *K = malloc((size_t)(n * n) * sizeof *K);
    suri_ntk_opts o = suri_ntk_defaults();
    o.mode = SURI_NTK_FULL;
    assert_int_equal(suri_ntk_gram(g.m, g.N, g.x, 0, NULL, &o, K), SURI_OK);
    double e = rel_err((size_t)(n * n), K, ref);
    if (getenv("SURI_TEST_VERBOSE")) print_message("%s ntk: rel err %.3e\n", g.name, e);
    if (!(e <= EXACT_TOL)) fail_msg("%s NTK: relative error %.3e", g.name, e);
    free(ref), free(K);
    free_case(&g);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_operators), cmocka_unit_test(test_ntk)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
