/* test_analysis_curv.c - the curvature operators of suri/analysis.h against dense oracles on
 * nets small enough for dense P x P matrices (P <= ~100):
 *  - per-sample Jacobians J_t (C, P) formed from the engine by batch-1 eval-mode backward
 *    passes with one-hot seeds; the true Fisher (1/N) sum J^T Lambda J and the Gauss-Newton
 *    matrix built densely with Lambda computed here (softmax / sigmoid in double) and compared
 *    with the materialised operators (every column A e_j on the flat layout, so padding rows
 *    and columns must come out exactly 0);
 *  - the empirical Fisher against per-sample LOSS gradients from batch-1 backward passes of the
 *    loss node (another path through the engine), rescaled to the NLL convention;
 *  - the Monte-Carlo Fisher converging to the true Fisher as labels per input grow;
 *  - u.(A v) = v.(A u) for every operator kind;
 *  - Hutchinson and SLQ on the Fisher operator against its exact trace;
 *  - power iteration / Lanczos top-k of the Fisher operator against LAPACK eigenvalues of the
 *    dense matrix;
 *  - per-layer restriction against the corresponding block of the dense matrix;
 *  - the Hessian-vector product against a dense Hessian from second differences of the LOSS
 *    VALUE only (forward passes), parameters restored bit for bit;
 *  - batch norm (eval mode) models and training-mode batch statistics; argument errors.
 * Tolerances (relative Frobenius or max-abs over the matrix scale):
 *  - double builds: operator vs dense 1e-10 (both sides are exact formulas evaluated in double;
 *    observed ~2e-16); eigenvalues 1e-6 (solver tolerance 1e-9 on the residual, eigenvalue
 *    error <= residual^2 / gap); Hessian vs loss second differences 1e-6 (observed 5e-8: the
 *    oracle's own error, h = 1e-4 giving ~1e-8 truncation and ~1e-8 rounding per entry; the
 *    operator itself is within 4e-10 of PyTorch, see test_analysis_golden.c);
 *  - float builds: operator vs dense 2e-5 (jvp, seed and backward rounded to float; observed
 *    3e-8..1e-7); eigenvalues 1e-4; Hessian 5e-3 (observed 4.5e-4, dominated by the float
 *    loss-value oracle with h = 2e-2: loss values round at 6e-8, divided by h^2). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/analysis.h"
#include "suri/linalg.h"
#include "anet.h"
#include "testutil.h"

#ifdef SURI_REAL_DOUBLE
#define OP_TOL 1e-10
#define EIG_TOL 1e-6
#define SOLVER_TOL 1e-9
#define HESS_TOL 1e-6
#define HESS_H 1e-4
#else
#define OP_TOL 2e-5
#define EIG_TOL 1e-4
#define SOLVER_TOL 1e-5
#define HESS_TOL 5e-3
#define HESS_H 2e-2
#endif

/* ---- a tiny net and its data: tests/util/anet.h -------------------------------------------- */

/* Per-sample Jacobians J (N, C, P) by batch-1 eval-mode backward passes with one-hot seeds. */
static double *jacobians(tu_anet *n) {
  double *J = calloc((size_t)(n->N * n->C) * n->P, sizeof *J);
  suri_graph *g = suri_model_graph(n->m);
  suri_real seed[16];
  suri_graph_set_training(g, 0);
  for (int64_t t = 0; t < n->N; t++) {
    assert_int_equal(suri_model_set_batch(n->m, 1, n->x + t * n->IN, n->loss == SURI_LOSS_CE ?
                     n->y + t : NULL, n->t + t * n->C), SURI_OK);
    assert_int_equal(suri_graph_forward(g), SURI_OK);
    for (int64_t k = 0; k < n->C; k++) {
      for (int64_t q = 0; q < n->C; q++) seed[q] = q == k;
      memset(suri_model_grads(n->m), 0, n->P * sizeof(suri_real));
      assert_int_equal(suri_graph_backward(g, suri_model_output(n->m), seed), SURI_OK);
      for (size_t p = 0; p < n->P; p++) J[(t * n->C + k) * n->P + p] = suri_model_grads(n->m)[p];
    }
  }
  suri_graph_set_training(g, 1);
  return J;
}

/* Eval-mode outputs f (N, C) in double. */
static double *outputs(tu_anet *n) {
  suri_real *o = malloc((size_t)(n->N * n->C) * sizeof *o);
  assert_int_equal(suri_model_predict(n->m, n->N, n->x, o), SURI_OK);
  double *f = malloc((size_t)(n->N * n->C) * sizeof *f);
  for (int64_t i = 0; i < n->N * n->C; i++) f[i] = o[i];
  free(o);
  return f;
}

/* Dense (1/N) sum_t J_t^T Lam_t J_t with Lam_t the true-Fisher output matrix times `scale`. */
static double *dense_fisher(tu_anet *n, const double *J, double scale) {
  int64_t C = n->C;
  size_t P = n->P;
  double *F = calloc(P * P, sizeof *F), *f = outputs(n), *Lam = malloc((size_t)(C * C) * sizeof *Lam);
  double *LJ = malloc((size_t)C * P * sizeof *LJ);
  for (int64_t t = 0; t < n->N; t++) {
    const double *ft = f + t * C;
    if (n->loss == SURI_LOSS_CE) {
      double mx = ft[0], s = 0, p[16];
      for (int64_t k = 1; k < C; k++) mx = fmax(mx, ft[k]);
      for (int64_t k = 0; k < C; k++) s += p[k] = exp(ft[k] - mx);
      for (int64_t k = 0; k < C; k++) p[k] /= s;
      for (int64_t a = 0; a < C; a++)
        for (int64_t b = 0; b < C; b++) Lam[a * C + b] = (a == b ? p[a] : 0) - p[a] * p[b];
    } else if (n->loss == SURI_LOSS_MSE) {
      for (int64_t a = 0; a < C * C; a++) Lam[a] = a % (C + 1) == 0;
    } else {
      double sg = 1 / (1 + exp(-ft[0]));
      Lam[0] = sg * (1 - sg);
    }
    const double *Jt = J + t * C * P;
    suri_dgemm(0, 0, C, (int64_t)P, C, 1.0, Lam, C, Jt, (int64_t)P, 0.0, LJ, (int64_t)P);
    suri_dgemm(1, 0, (int64_t)P, (int64_t)P, C, scale / (double)n->N, Jt, (int64_t)P, LJ,
               (int64_t)P, 1.0, F, (int64_t)P);
  }
  free(f), free(Lam), free(LJ);
  return F;
}

/* Operator materialised on the flat layout: column j = A e_j. */
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

static double dotd(size_t n, const double *a, const double *b) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static double rel_fro(size_t n, const double *a, const double *b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  return sqrt(num / (den > 0 ? den : 1e-300));
}

static suri_curv *make_op(tu_anet *n, suri_curv_kind kind, int layer) {
  suri_curv_opts o = suri_curv_defaults();
  o.kind = kind;
  o.layer = layer;
  suri_curv *c = NULL;
  if (suri_curv_new(n->m, &n->d, &o, &c)) fail_msg("curv_new: %s", suri_last_error());
  return c;
}

static void expect_op_matches(tu_anet *n, suri_curv_kind kind, const double *ref, double tol,
                              const char *what) {
  suri_curv *c = make_op(n, kind, -1);
  double *A = materialize(c, n->P);
  double e = rel_fro(n->P * n->P, A, ref);
  if (getenv("SURI_TEST_VERBOSE")) print_message("%s: rel err %.3e\n", what, e);
  if (!(e <= tol)) fail_msg("%s: relative error %.3e > %.1e", what, e, tol);
  assert_int_equal(suri_curv_applications(c), (int64_t)n->P);
  free(A);
  suri_curv_free(c);
}

/* ---- tests -------------------------------------------------------------------------------- */
static void test_fisher_ggn_dense(void **state) {
  (void)state;
  static const char *const specs[] = {"mlp:4-6-3,act=tanh,loss=ce",
                                      "mlp:3-5-4-2,act=gelu,loss=mse,param=ntk,sb2=0.2",
                                      "mlp:4-5-1,act=softplus,loss=logistic,sb2=0.1",
                                      "mlp:4-5-3,act=tanh,norm=batch,loss=ce",
                                      "mlp:3-6-2,act=relu,norm=lastbatch,loss=mse"};
  for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
    tu_anet n = tu_anet_make(specs[s], 7, 3, 11 + s); /* 7 samples in chunks of 3, 3, 1 */
    if (strstr(specs[s], "batch")) { /* non-trivial running statistics */
      suri_real *st = suri_model_state(n.m);
      uint64_t r = 99;
      for (size_t i = 0; i < suri_model_state_count(n.m); i++) st[i] = (suri_real)(0.7 + 0.5 * fabs(tu_lcg(&r)));
    }
    double *J = jacobians(&n);
    double *F = dense_fisher(&n, J, 1.0);
    char what[160];
    snprintf(what, sizeof what, "%s: true Fisher", specs[s]);
    expect_op_matches(&n, SURI_CURV_FISHER, F, OP_TOL, what);
    double gscale = n.loss == SURI_LOSS_MSE ? 2.0 / (double)n.C : 1.0;
    for (size_t i = 0; i < n.P * n.P; i++) F[i] *= gscale;
    snprintf(what, sizeof what, "%s: Gauss-Newton", specs[s]);
    expect_op_matches(&n, SURI_CURV_GGN, F, OP_TOL, what);
    free(J), free(F);
    tu_anet_free(&n);
  }
}

/* Empirical Fisher: (1/N) sum g_t g_t^T with g_t = d NLL_t / d theta from batch-1 backward
 * passes of the loss node (ce: the loss is the NLL; logistic: BCE is the NLL; mse: the loss is
 * (1/C) ||f - y||^2, the NLL (1/2) ||f - y||^2, so g_NLL = (C/2) g_loss). */
static void test_empirical_fisher_dense(void **state) {
  (void)state;
  static const char *const specs[] = {"mlp:4-6-3,act=tanh,loss=ce", "mlp:3-5-2,act=tanh,loss=mse",
                                      "mlp:4-5-1,act=sigmoid,loss=logistic"};
  for (size_t s = 0; s < 3; s++) {
    tu_anet n = tu_anet_make(specs[s], 6, 4, 21 + s);
    suri_graph *g = suri_model_graph(n.m);
    double *E = calloc(n.P * n.P, sizeof *E), *gt = malloc(n.P * sizeof *gt);
    double sc = n.loss == SURI_LOSS_MSE ? (double)n.C / 2.0 : 1.0;
    suri_graph_set_training(g, 0);
    for (int64_t t = 0; t < n.N; t++) {
      assert_int_equal(suri_model_set_batch(n.m, 1, n.x + t * n.IN, n.y + t, n.t + t * n.C), SURI_OK);
      assert_int_equal(suri_graph_forward(g), SURI_OK);
      memset(suri_model_grads(n.m), 0, n.P * sizeof(suri_real));
      assert_int_equal(suri_graph_backward(g, suri_model_loss(n.m), NULL), SURI_OK);
      for (size_t p = 0; p < n.P; p++) gt[p] = sc * suri_model_grads(n.m)[p];
      for (size_t i = 0; i < n.P; i++)
        for (size_t j = 0; j < n.P; j++) E[i * n.P + j] += gt[i] * gt[j] / (double)n.N;
    }
    suri_graph_set_training(g, 1);
    expect_op_matches(&n, SURI_CURV_FISHER_EMP, E, OP_TOL, specs[s]);
    free(E), free(gt);
    tu_anet_free(&n);
  }
}

/* MC Fisher with k labels per input: an average of k N rank-one terms whose expectation is the
 * true Fisher; the relative Frobenius error shrinks like 1/sqrt(k) (observed 0.02..0.16 at
 * k = 50 and 0.006..0.027 at k = 2000 on these nets), and two applications agree exactly (the
 * labels are drawn by sample index, not from a running stream). */
static void test_mc_fisher(void **state) {
  (void)state;
  static const char *const specs[] = {"mlp:4-6-3,act=tanh,loss=ce", "mlp:3-5-2,act=tanh,loss=mse",
                                      "mlp:4-5-1,act=tanh,loss=logistic"};
  for (size_t s = 0; s < 3; s++) {
    tu_anet n = tu_anet_make(specs[s], 5, 5, 31 + s);
    double *J = jacobians(&n), *F = dense_fisher(&n, J, 1.0);
    double err[2];
    int ks[2] = {50, 2000};
    for (int i = 0; i < 2; i++) {
      suri_curv_opts o = suri_curv_defaults();
      o.kind = SURI_CURV_FISHER_MC;
      o.mc_samples = ks[i];
      o.seed = 5;
      suri_curv *c = NULL;
      assert_int_equal(suri_curv_new(n.m, &n.d, &o, &c), SURI_OK);
      double *A = materialize(c, n.P), *B = materialize(c, n.P);
      assert_memory_equal(A, B, n.P * n.P * sizeof *A);
      err[i] = rel_fro(n.P * n.P, A, F);
      if (getenv("SURI_TEST_VERBOSE")) print_message("%s k=%d: %.3e\n", specs[s], ks[i], err[i]);
      free(A), free(B);
      suri_curv_free(c);
    }
    if (!(err[1] < 0.06 && err[1] < 0.6 * err[0]))
      fail_msg("%s: MC Fisher error %.3f (k=50), %.3f (k=2000): no 1/sqrt(k) convergence",
               specs[s], err[0], err[1]);
    free(J), free(F);
    tu_anet_free(&n);
  }
}

/* u.(A v) = v.(A u) for every kind: exact formulas up to rounding (tolerance relative to
 * |u| |A| |v|); the Hessian's central difference is symmetric up to its truncation error. */
static void test_symmetry(void **state) {
  (void)state;
  tu_anet n = tu_anet_make("mlp:4-6-5-3,act=tanh,loss=ce,norm=layer", 9, 4, 41);
  double *u = calloc(n.P, sizeof *u), *v = calloc(n.P, sizeof *v);
  double *Au = malloc(n.P * sizeof *Au), *Av = malloc(n.P * sizeof *Av);
  uint64_t r = 3;
  for (size_t i = 0; i < n.P; i++) u[i] = tu_lcg(&r), v[i] = tu_lcg(&r);
  for (int k = 0; k < SURI_CURV_COUNT; k++) {
    suri_curv *c = make_op(&n, (suri_curv_kind)k, -1);
    assert_int_equal(suri_curv_apply(c, v, Av), SURI_OK);
    assert_int_equal(suri_curv_apply(c, u, Au), SURI_OK);
    double a = dotd(n.P, u, Av), b = dotd(n.P, v, Au);
    double scale = sqrt(dotd(n.P, u, u) * dotd(n.P, Av, Av)) + 1e-300;
    double tol = k == SURI_CURV_HESSIAN ? HESS_TOL : OP_TOL * 10;
    if (!(fabs(a - b) <= tol * scale))
      fail_msg("%s: u.Av = %.12g, v.Au = %.12g", suri_curv_name((suri_curv_kind)k), a, b);
    assert_true(scale > 1e-8); /* a non-trivial operator */
    suri_curv_free(c);
  }
  free(u), free(v), free(Au), free(Av);
  tu_anet_free(&n);
}

/* Top-k of the Fisher operator by power iteration and Lanczos vs LAPACK on the dense matrix;
 * the Ritz vectors' true residuals and their overlap with LAPACK's eigenvectors. */
static void test_fisher_topk(void **state) {
  (void)state;
  tu_anet n = tu_anet_make("mlp:5-8-4,act=tanh,loss=ce,sb2=0.1", 12, 5, 51);
  double *J = jacobians(&n), *F = dense_fisher(&n, J, 1.0);
  size_t P = n.P;
  double *E = malloc(P * P * sizeof *E), *w = malloc(P * sizeof *w);
  memcpy(E, F, P * P * sizeof *E);
  assert_int_equal(suri_syev((int64_t)P, E, w, 1), SURI_OK); /* ascending */
  suri_curv *c = make_op(&n, SURI_CURV_FISHER, -1);
  suri_linop A = suri_curv_linop(c);
  assert_int_equal(A.n, (int64_t)suri_model_param_numel(n.m));
  enum { K = 4 };
  double val[K], res[K], *vec = malloc((size_t)(K * A.n) * sizeof *vec);
  double *flat = malloc(P * sizeof *flat), *Af = malloc(P * sizeof *Af);
  suri_eig_opts eo = suri_eig_defaults();
  eo.k = K;
  eo.tol = SOLVER_TOL;
  eo.seed = 3;
  for (int solver = 0; solver < 2; solver++) {
    suri_solver_info info;
    suri_status st = solver ? suri_eig_lanczos(&A, &eo, val, vec, res, &info)
                            : suri_eig_power(&A, &eo, val, vec, res, &info);
    assert_int_equal(st, SURI_OK);
    assert_true(info.converged);
    assert_true(info.applications > 0);
    for (int i = 0; i < K; i++) {
      double ref = w[P - 1 - i];
      if (!tu_close(val[i], ref, EIG_TOL, 0))
        fail_msg("%s: eigenvalue %d = %.12g, LAPACK %.12g", solver ? "Lanczos" : "power", i,
                 val[i], ref);
      /* true residual of the returned vector on the flat layout */
      suri_curv_expand(c, vec + i * A.n, flat);
      assert_int_equal(suri_curv_apply(c, flat, Af), SURI_OK);
      double r2 = 0, ov = 0;
      for (size_t p = 0; p < P; p++) {
        r2 += (Af[p] - val[i] * flat[p]) * (Af[p] - val[i] * flat[p]);
        ov += flat[p] * E[p * P + (P - 1 - i)];
      }
      assert_true(sqrt(r2) <= 100 * SOLVER_TOL * w[P - 1] + 10 * OP_TOL * w[P - 1]);
      assert_true(fabs(fabs(ov) - 1) < 1e-3);
    }
  }
  free(J), free(F), free(E), free(w), free(vec), free(flat), free(Af);
  suri_curv_free(c);
  tu_anet_free(&n);
}

/* Hutchinson and SLQ on the Fisher operator: the exact trace from the dense matrix lies within
 * 3 standard errors; SLQ weights sum to 1 per probe; the SLQ mean equals the Hutchinson
 * estimate / P for the same probes and matches tr(F) / P within 3 standard errors; the
 * density integrates to 1. */
static void test_fisher_trace_density(void **state) {
  (void)state;
  tu_anet n = tu_anet_make("mlp:5-8-4,act=tanh,loss=ce,sb2=0.1", 12, 5, 52);
  double *J = jacobians(&n), *F = dense_fisher(&n, J, 1.0), tr = 0;
  for (size_t i = 0; i < n.P; i++) tr += F[i * n.P + i];
  suri_curv *c = make_op(&n, SURI_CURV_FISHER, -1);
  suri_linop A = suri_curv_linop(c);
  suri_trace_opts to = suri_trace_defaults();
  to.probes = 60;
  to.seed = 4;
  double est, se;
  suri_solver_info info;
  assert_int_equal(suri_trace_hutchinson(&A, &to, &est, &se, &info), SURI_OK);
  if (!(fabs(est - tr) <= 3 * se)) fail_msg("Hutchinson %.6g vs trace %.6g (se %.3g)", est, tr, se);
  assert_true(se < 0.5 * tr);
  suri_slq_opts so = suri_slq_defaults();
  so.probes = 60;
  so.steps = 30;
  so.seed = 4;
  suri_slq_result r;
  assert_int_equal(suri_slq_density(&A, &so, &r, &info), SURI_OK);
  for (int p = 0; p < r.probes; p++) {
    double ws = 0;
    for (int j = 0; j < r.steps; j++) ws += r.weights[p * r.steps + j];
    assert_true(fabs(ws - 1) < 1e-10);
  }
  double dim = (double)A.n;
  assert_true(fabs(r.mean * dim - est) <= 10 * OP_TOL * fabs(est)); /* same probes, rounding */
  assert_true(fabs(r.mean - tr / dim) <= 3 * info.residual);
  assert_true(fabs(r.mass - 1) < 1e-4);
  suri_slq_result_free(&r);
  free(J), free(F);
  suri_curv_free(c);
  tu_anet_free(&n);
}

/* Active flat indices of layer li (W then b) from the layer table. */
static size_t layer_indices(const suri_model *m, int li, size_t *idx) {
  const suri_layer *ly = suri_model_layer(m, li);
  size_t k = 0;
  for (int64_t i = 0; i < ly->in * ly->out; i++) idx[k++] = ly->w_offset + (size_t)i;
  if (ly->b_offset != SIZE_MAX)
    for (int64_t i = 0; i < ly->out; i++) idx[k++] = ly->b_offset + (size_t)i;
  return k;
}

/* Restricting to layer l equals the (l, l) block of the dense matrix, zero elsewhere. */
static void test_layer_restriction(void **state) {
  (void)state;
  tu_anet n = tu_anet_make("mlp:4-6-5-3,act=tanh,loss=ce,sb2=0.1", 7, 4, 61);
  double *J = jacobians(&n), *F = dense_fisher(&n, J, 1.0);
  size_t P = n.P, *idx = malloc(P * sizeof *idx);
  char *in = malloc(P);
  for (int li = 0; li < suri_model_layer_count(n.m); li++) {
    size_t k = layer_indices(n.m, li, idx);
    memset(in, 0, P);
    for (size_t i = 0; i < k; i++) in[idx[i]] = 1;
    double *B = malloc(P * P * sizeof *B);
    for (size_t i = 0; i < P; i++)
      for (size_t j = 0; j < P; j++) B[i * P + j] = in[i] && in[j] ? F[i * P + j] : 0;
    suri_curv *c = make_op(&n, SURI_CURV_FISHER, li);
    assert_int_equal(suri_curv_dim(c), (int64_t)k);
    double *A = materialize(c, P);
    double e = rel_fro(P * P, A, B);
    if (!(e <= OP_TOL)) fail_msg("layer %d: relative error %.3e", li, e);
    /* the top eigenvalue of the restricted operator is the block's */
    double *Bk = malloc(k * k * sizeof *Bk), *wk = malloc(k * sizeof *wk), lam;
    for (size_t i = 0; i < k; i++)
      for (size_t j = 0; j < k; j++) Bk[i * k + j] = F[idx[i] * P + idx[j]];
    assert_int_equal(suri_syev((int64_t)k, Bk, wk, 0), SURI_OK);
    suri_linop L = suri_curv_linop(c);
    suri_eig_opts eo = suri_eig_defaults();
    eo.tol = SOLVER_TOL;
    assert_int_equal(suri_eig_lanczos(&L, &eo, &lam, NULL, NULL, NULL), SURI_OK);
    assert_true(tu_close(lam, wk[k - 1], EIG_TOL, 0));
    free(A), free(B), free(Bk), free(wk);
    suri_curv_free(c);
  }
  free(J), free(F), free(idx), free(in);
  tu_anet_free(&n);
}

static double loss_at(tu_anet *n) {
  double L, acc;
  assert_int_equal(suri_model_evaluate(n->m, n->N, n->x, n->loss == SURI_LOSS_CE ? n->y : NULL,
                                       n->t, &L, &acc), SURI_OK);
  return L;
}

/* Dense Hessian of the mean loss from loss values only: four-point second differences. */
static double *dense_hessian(tu_anet *n, const size_t *idx, size_t k, double h) {
  size_t P = n->P;
  double *H = calloc(P * P, sizeof *H);
  suri_real *p = suri_model_params(n->m);
  for (size_t a = 0; a < k; a++)
    for (size_t b = a; b < k; b++) {
      size_t i = idx[a], j = idx[b];
      suri_real pi = p[i], pj = p[j];
      double f[4];
      for (int s = 0; s < 4; s++) {
        p[i] = (suri_real)(pi + (s & 1 ? -h : h));
        p[j] = (suri_real)((i == j ? p[i] : pj) + (s & 2 ? -h : h));
        f[s] = loss_at(n);
        p[i] = pi, p[j] = pj;
      }
      H[i * P + j] = H[j * P + i] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h);
    }
  return H;
}

static void test_hessian_dense(void **state) {
  (void)state;
  static const char *const specs[] = {"mlp:3-5-3,act=tanh,loss=ce,sb2=0.1",
                                      "mlp:3-4-3-2,act=gelu,loss=mse,param=ntk,sb2=0.1"};
  for (size_t s = 0; s < 2; s++) {
    tu_anet n = tu_anet_make(specs[s], 6, 4, 71 + s);
    size_t P = n.P, *idx = malloc(P * sizeof *idx), k = 0;
    for (int li = 0; li < suri_model_layer_count(n.m); li++) k += layer_indices(n.m, li, idx + k);
    double *H = dense_hessian(&n, idx, k, HESS_H);
    suri_real *before = malloc(P * sizeof *before);
    memcpy(before, suri_model_params(n.m), P * sizeof *before);
    suri_curv *c = make_op(&n, SURI_CURV_HESSIAN, -1);
    double *A = materialize(c, P);
    assert_memory_equal(before, suri_model_params(n.m), P * sizeof *before); /* exact restore */
    double e = rel_fro(P * P, A, H);
    if (getenv("SURI_TEST_VERBOSE")) print_message("%s: Hessian rel err %.3e\n", specs[s], e);
    if (!(e <= HESS_TOL)) fail_msg("%s: Hessian relative error %.3e > %.1e", specs[s], e, HESS_TOL);
    /* the smallest (negative-curvature) eigenvalue by Lanczos SMALLEST vs the dense one */
    double *E = malloc(P * P * sizeof *E), *w = malloc(P * sizeof *w), lam;
    memcpy(E, H, P * P * sizeof *E);
    assert_int_equal(suri_syev((int64_t)P, E, w, 0), SURI_OK);
    suri_linop L = suri_curv_linop(c);
    suri_eig_opts eo = suri_eig_defaults();
    eo.which = SURI_EIG_SMALLEST;
    eo.tol = 1e-7;
    assert_int_equal(suri_eig_lanczos(&L, &eo, &lam, NULL, NULL, NULL), SURI_OK);
    double scale = fmax(fabs(w[0]), fabs(w[P - 1]));
    if (!(fabs(lam - w[0]) <= 3 * HESS_TOL * scale))
      fail_msg("%s: smallest Hessian eigenvalue %.8g vs dense %.8g", specs[s], lam, w[0]);
    free(A), free(H), free(E), free(w), free(idx), free(before);
    suri_curv_free(c);
    tu_anet_free(&n);
  }
}

/* Training-mode batch statistics: one chunk of N = max_batch rows, Jacobian rows of the chunk
 * (through the batch statistics) by one-hot backward passes of a training forward; the state
 * block and dropout counter come back unchanged and the operator is deterministic. */
static void test_batch_stats(void **state) {
  (void)state;
  tu_anet n = tu_anet_make("mlp:3-6-3,act=tanh,norm=batch,loss=ce", 5, 5, 81);
  size_t P = n.P, ns = suri_model_state_count(n.m);
  suri_graph *g = suri_model_graph(n.m);
  suri_real *st0 = malloc(ns * sizeof *st0);
  memcpy(st0, suri_model_state(n.m), ns * sizeof *st0);
  int64_t N = n.N, C = n.C;
  double *J = calloc((size_t)(N * C) * P, sizeof *J);
  suri_real *seed = calloc((size_t)(N * C), sizeof *seed);
  assert_int_equal(suri_model_set_batch(n.m, N, n.x, n.y, NULL), SURI_OK);
  suri_graph_set_training(g, 1);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  double *f = malloc((size_t)(N * C) * sizeof *f);
  for (int64_t i = 0; i < N * C; i++) f[i] = suri_graph_value(g, suri_model_output(n.m))[i];
  for (int64_t r = 0; r < N * C; r++) {
    memset(seed, 0, (size_t)(N * C) * sizeof *seed);
    seed[r] = 1;
    memset(suri_model_grads(n.m), 0, P * sizeof(suri_real));
    assert_int_equal(suri_graph_backward(g, suri_model_output(n.m), seed), SURI_OK);
    for (size_t p = 0; p < P; p++) J[r * P + p] = suri_model_grads(n.m)[p];
  }
  memcpy(suri_model_state(n.m), st0, ns * sizeof *st0);
  double *F = calloc(P * P, sizeof *F);
  for (int64_t t = 0; t < N; t++) {
    double mx = -1e300, s = 0, p[8];
    for (int64_t k = 0; k < C; k++) mx = fmax(mx, f[t * C + k]);
    for (int64_t k = 0; k < C; k++) s += p[k] = exp(f[t * C + k] - mx);
    for (int64_t a = 0; a < C; a++)
      for (int64_t b = 0; b < C; b++) {
        double lam = ((a == b) * p[a] / s - p[a] * p[b] / (s * s)) / (double)N;
        for (size_t i = 0; i < P; i++)
          for (size_t j = 0; j < P; j++)
            F[i * P + j] += J[(t * C + a) * P + i] * lam * J[(t * C + b) * P + j];
      }
  }
  suri_curv_opts o = suri_curv_defaults();
  o.batch_stats = 1;
  suri_curv *c = NULL;
  assert_int_equal(suri_curv_new(n.m, &n.d, &o, &c), SURI_OK);
  uint64_t calls = suri_graph_rng_calls(g);
  double *A = materialize(c, P);
  assert_memory_equal(st0, suri_model_state(n.m), ns * sizeof *st0);
  assert_int_equal(suri_graph_rng_calls(g), calls);
  double e = rel_fro(P * P, A, F);
  if (!(e <= OP_TOL * 10)) fail_msg("training-mode Fisher: relative error %.3e", e);
  free(A), free(F), free(J), free(seed), free(f), free(st0);
  suri_curv_free(c);
  tu_anet_free(&n);
}

static void test_errors(void **state) {
  (void)state;
  tu_anet n = tu_anet_make("mlp:3-4-2,act=tanh,loss=ce", 4, 4, 91);
  suri_curv *c = NULL;
  suri_curv_opts o = suri_curv_defaults();
  o.layer = 2;
  tu_expect_status(suri_curv_new(n.m, &n.d, &o, &c), SURI_ERR_ARG, "layer 2 does not exist");
  assert_null(c);
  o = suri_curv_defaults();
  o.kind = SURI_CURV_FISHER_EMP;
  suri_analysis_data nolab = n.d;
  nolab.labels = NULL;
  tu_expect_status(suri_curv_new(n.m, &nolab, &o, &c), SURI_ERR_ARG, "needs class labels");
  n.y[2] = 5;
  tu_expect_status(suri_curv_new(n.m, &n.d, &o, &c), SURI_ERR_ARG, "label 5 of sample 2");
  o.kind = SURI_CURV_FISHER_MC;
  o.mc_samples = 0;
  tu_expect_status(suri_curv_new(n.m, &n.d, &o, &c), SURI_ERR_ARG, "mc_samples");
  suri_analysis_data empty = {0, NULL, NULL, NULL, 0, 0};
  tu_expect_status(suri_curv_new(n.m, &empty, NULL, &c), SURI_ERR_ARG, "empty");
  suri_analysis_data wide = n.d;
  wide.dim = 5;
  tu_expect_status(suri_curv_new(n.m, &wide, NULL, &c), SURI_ERR_SHAPE, "5 features");
  /* the true Fisher needs no labels: an out-of-range label (unlabelled marker) is ignored */
  assert_int_equal(suri_curv_new(n.m, &n.d, NULL, &c), SURI_OK);
  double *v = calloc(n.P, sizeof *v), *out = calloc(n.P, sizeof *out);
  v[0] = 1;
  assert_int_equal(suri_curv_apply(c, v, out), SURI_OK);
  assert_true(out[0] > 0);
  free(v), free(out);
  suri_curv_free(c);
  suri_curv_kind k;
  assert_int_equal(suri_curv_kind_parse("ggn", &k), SURI_OK);
  assert_int_equal(k, SURI_CURV_GGN);
  tu_expect_status(suri_curv_kind_parse("hess", &k), SURI_ERR_ARG, "unknown curvature");
  tu_anet_free(&n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fisher_ggn_dense),   cmocka_unit_test(test_empirical_fisher_dense),
      cmocka_unit_test(test_mc_fisher),          cmocka_unit_test(test_symmetry),
      cmocka_unit_test(test_fisher_topk),        cmocka_unit_test(test_fisher_trace_density),
      cmocka_unit_test(test_layer_restriction),
      cmocka_unit_test(test_hessian_dense),      cmocka_unit_test(test_batch_stats),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
