/* test_train_step.c - suri_model_train_step and SGD folding (suri_graph_set_sgd_fold):
 *   - plain SGD folded into backward follows the unfolded step (suri_model_loss_grad +
 *     suri_optim_step) to rounding, on standard, NTK (weight multiplier != 1), batch-norm and
 *     dropout models and every loss, and is bitwise reproducible;
 *   - the fold really happens: the gradient block is not written for folded weights, and is
 *     written (bitwise as unfolded) for every other parameter;
 *   - the input gradient of a folded dense node is computed from the weight before the update;
 *   - weights read by more than one op are not folded; other optimizers take the two-call path
 *     bit for bit; a non-finite loss changes nothing; bad arguments are refused.
 * Tolerance of "to rounding": the two paths differ per step in one rounding of the update of
 * each weight (the GEMM scales and adds its sum to W; the unfolded path rounds sw*sum and
 * lr*g separately), a few float ulps of |W| per step; over 10 steps the trajectories stay
 * within 1e-5 relative + 1e-6 absolute in float (parameters are O(0.1-1); measured
 * differences are ~1e-7) and 1e-12 in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suri/graph.h"
#include "suri/nn.h"
#include "suri/optim.h"
#include "suri/train.h"
#include "testutil.h"

#define B 9
#define STEPS 10

#ifdef SURI_REAL_DOUBLE
#define RTOL 1e-12
#define ATOL 1e-13
#else
#define RTOL 1e-5
#define ATOL 1e-6
#endif

static suri_model *make(const char *spec) {
  suri_model_spec s;
  suri_model *m = NULL;
  if (suri_model_spec_parse(spec, &s) || suri_model_new(&s, B, &m) || suri_model_init(m, 7))
    fail_msg("model '%s': %s", spec, suri_last_error());
  return m;
}

/* Batch k of a fixed pseudo-random stream: inputs in [-1, 1), labels or targets. */
static void set_batch(suri_model *m, int k) {
  const suri_model_spec *s = suri_model_get_spec(m);
  int64_t in = s->width[0], out = s->width[s->n_widths - 1];
  suri_real x[B * 64], t[B * 8];
  int32_t y[B];
  suri_rng r = suri_rng_make(11 + (uint64_t)k, 5);
  assert_true(in <= 64 && out <= 8);
  for (int64_t i = 0; i < B * in; i++) x[i] = (suri_real)(2 * suri_rng_uniform(&r) - 1);
  for (int i = 0; i < B; i++) y[i] = (int32_t)suri_rng_below(&r, (uint64_t)out);
  for (int64_t i = 0; i < B * out; i++)
    t[i] = s->loss == SURI_LOSS_LOGISTIC ? (suri_real)(suri_rng_u32(&r) & 1u)
                                         : (suri_real)suri_rng_uniform(&r);
  suri_status st = suri_model_set_batch(m, B, x, y, t);
  if (st) fail_msg("set_batch: %s", suri_last_error());
}

/* Runs STEPS steps of `kind` on a fresh model, folded (train_step) or not (the two calls). */
static suri_model *run(const char *spec, suri_optim_kind kind, int fold, double *losses) {
  suri_model *m = make(spec);
  suri_optim *o = suri_optim_new(kind, suri_model_param_count(m), NULL);
  assert_non_null(o);
  for (int k = 0; k < STEPS; k++) {
    set_batch(m, k);
    suri_status st;
    if (fold) {
      st = suri_model_train_step(m, o, 0.05, &losses[k]);
    } else {
      st = suri_model_loss_grad(m, &losses[k]);
      if (!st) st = suri_optim_step(o, suri_model_params(m), suri_model_grads(m), 0.05);
    }
    if (st) fail_msg("step %d: %s", k, suri_last_error());
  }
  assert_int_equal(suri_optim_steps(o), STEPS);
  suri_optim_free(o);
  return m;
}

static void test_fold_follows_unfolded(void **state) {
  (void)state;
  const char *specs[] = {"mlp:12-10-7-4", "mlp:12-10-7-4,param=ntk,act=tanh",
                         "mlp:12-10-4,norm=batch", "mlp:12-10-4,dropout=0.25,act=gelu",
                         "mlp:12-10-3,loss=mse", "mlp:12-6-1,loss=logistic,param=meanfield",
                         "mlp:12-4"};
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    double lf[STEPS], lu[STEPS], lf2[STEPS];
    suri_model *f = run(specs[i], SURI_OPTIM_SGD, 1, lf);
    suri_model *u = run(specs[i], SURI_OPTIM_SGD, 0, lu);
    suri_model *f2 = run(specs[i], SURI_OPTIM_SGD, 1, lf2);
    size_t n = suri_model_param_count(f);
    const suri_real *pf = suri_model_params(f), *pu = suri_model_params(u);
    double maxdiff = 0;
    for (size_t k = 0; k < n; k++) {
      if (!tu_close(pf[k], pu[k], RTOL, ATOL))
        fail_msg("%s: parameter %zu folded %.9g, unfolded %.9g", specs[i], k, (double)pf[k],
                 (double)pu[k]);
      maxdiff = fmax(maxdiff, fabs((double)pf[k] - (double)pu[k]));
    }
    for (int k = 0; k < STEPS; k++) assert_true(tu_close(lf[k], lu[k], RTOL, ATOL));
    /* Training moved the parameters far more than the paths differ. */
    suri_model *init = make(specs[i]);
    double moved = 0;
    for (size_t k = 0; k < n; k++)
      moved = fmax(moved, fabs((double)pu[k] - (double)suri_model_params(init)[k]));
    assert_true(moved > 100 * maxdiff && moved > 1e-4);
    /* Bitwise reproducible. */
    assert_memory_equal(pf, suri_model_params(f2), n * sizeof(suri_real));
    assert_memory_equal(suri_model_state(f), suri_model_state(f2),
                        suri_model_state_count(f) * sizeof(suri_real));
    suri_model_free(init);
    suri_model_free(f);
    suri_model_free(u);
    suri_model_free(f2);
  }
}

/* Folded weights' gradients are not written; every other gradient is, as unfolded. */
static void test_fold_skips_weight_gradients(void **state) {
  (void)state;
  suri_model *f = make("mlp:12-10-7-4"), *u = make("mlp:12-10-7-4");
  suri_graph *g = suri_model_graph(f);
  size_t n = suri_model_param_count(f);
  suri_optim *o = suri_optim_new(SURI_OPTIM_SGD, n, NULL);
  assert_non_null(o);
  set_batch(f, 0);
  set_batch(u, 0);
  const suri_real sentinel = (suri_real)12345.0;
  for (size_t k = 0; k < n; k++) suri_model_grads(f)[k] = sentinel;
  double lf, lu;
  assert_int_equal(suri_model_train_step(f, o, 0.1, &lf), SURI_OK);
  assert_int_equal(suri_model_loss_grad(u, &lu), SURI_OK);
  assert_true(lf == lu); /* the same forward pass */
  int weights = 0, others = 0;
  for (int i = 0; i < suri_model_tensor_count(f); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(f, i);
    if (t->is_state) continue;
    size_t numel = (size_t)(t->rank == 2 ? t->dim[0] * t->dim[1] : t->dim[0]);
    int is_weight = strstr(t->name, ".weight") != NULL;
    for (size_t k = t->offset; k < t->offset + numel; k++) {
      if (is_weight) assert_true(suri_model_grads(f)[k] == sentinel);
      else assert_true(suri_model_grads(f)[k] == suri_model_grads(u)[k]);
    }
    weights += is_weight;
    others += !is_weight;
  }
  assert_int_equal(weights, 3);
  assert_int_equal(others, 3);
  /* The graph reports the same split. */
  int foldable = 0;
  for (int32_t i = 0; i < suri_graph_node_count(g); i++)
    foldable += suri_graph_param_foldable(g, (suri_node){i});
  assert_int_equal(foldable, 3);
  suri_optim_free(o);
  suri_model_free(f);
  suri_model_free(u);
}

/* A two-layer graph whose input gradient is wanted: folded, dx is bitwise the unfolded dx (it
 * used the old W2), and W2 moved by -lr dW2. W1 also feeds a second op (a mul), so it is not
 * foldable and gets its gradient. */
static void test_graph_fold(void **state) {
  (void)state;
  suri_graph *g = suri_graph_new();
  suri_node x = suri_input(g, "x", 1, (int64_t[]){5});
  suri_node y = suri_labels(g, "y");
  suri_node W1 = suri_param(g, "W1", 2, (int64_t[]){5, 5});
  suri_node W2 = suri_param(g, "W2", 2, (int64_t[]){3, 5});
  suri_node h = suri_tanh(g, suri_dense(g, x, W1, (suri_node){-1}, 0.7, 1));
  suri_node r = suri_sum(g, suri_mul(g, W1, W1), 0); /* reads W1 a second time */
  suri_node z = suri_dense(g, h, W2, (suri_node){-1}, 1.3, 1);
  suri_node L = suri_add(g, suri_softmax_ce(g, z, y), r);
  suri_graph_want_input_grad(g, x);
  assert_int_equal(suri_graph_compile(g, 4), SURI_OK);
  assert_int_equal(suri_graph_param_foldable(g, W1), 0);
  assert_int_equal(suri_graph_param_foldable(g, W2), 1);
  size_t n = suri_graph_param_count(g);
  suri_real *p = calloc(n, sizeof *p), *p0 = calloc(n, sizeof *p), *gr = calloc(n, sizeof *p);
  suri_real *gu = calloc(n, sizeof *p), dx[20];
  suri_rng rng = suri_rng_make(5, 6);
  for (size_t k = 0; k < n; k++) p[k] = (suri_real)(suri_rng_uniform(&rng) - 0.5);
  memcpy(p0, p, n * sizeof *p);
  suri_graph_bind_params(g, p, gu);
  for (int k = 0; k < 20; k++) suri_graph_value(g, x)[k] = (suri_real)(suri_rng_uniform(&rng) - 0.5);
  for (int k = 0; k < 4; k++) suri_graph_labels(g, y)[k] = k % 3;
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  assert_int_equal(suri_graph_backward(g, L, NULL), SURI_OK);
  memcpy(dx, suri_graph_grad(g, x), sizeof dx);
  suri_graph_bind_params(g, p, gr);
  const double lr = 0.3;
  assert_int_equal(suri_graph_set_sgd_fold(g, 1, lr), SURI_OK);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  assert_int_equal(suri_graph_backward(g, L, NULL), SURI_OK);
  assert_int_equal(suri_graph_set_sgd_fold(g, 0, 0), SURI_OK);
  assert_memory_equal(dx, suri_graph_grad(g, x), sizeof dx);
  size_t o1 = suri_graph_param_offset(g, W1), o2 = suri_graph_param_offset(g, W2);
  for (size_t k = 0; k < 25; k++) { /* W1: gradient written, weight untouched */
    assert_true(gr[o1 + k] == gu[o1 + k]);
    assert_true(p[o1 + k] == p0[o1 + k]);
  }
  double moved = 0;
  for (size_t k = 0; k < 15; k++) { /* W2: updated in place, gradient not written */
    assert_true(gr[o2 + k] == 0);
    double want = (double)p0[o2 + k] - lr * (double)gu[o2 + k];
    assert_true(tu_close(p[o2 + k], want, RTOL, ATOL));
    moved = fmax(moved, fabs((double)p[o2 + k] - (double)p0[o2 + k]));
  }
  assert_true(moved > 1e-3);
  tu_expect_status(suri_graph_set_sgd_fold(g, 1, -1), SURI_ERR_ARG, "learning rate");
  tu_expect_status(suri_graph_set_sgd_fold(g, 1, NAN), SURI_ERR_ARG, "learning rate");
  /* A weight shared by two dense nodes is not foldable either. */
  suri_graph *g2 = suri_graph_new();
  suri_node x2 = suri_input(g2, "x", 1, (int64_t[]){4});
  suri_node W = suri_param(g2, "W", 2, (int64_t[]){4, 4});
  suri_node h2 = suri_dense(g2, suri_dense(g2, x2, W, (suri_node){-1}, 1, 1), W,
                            (suri_node){-1}, 1, 1);
  suri_sum(g2, h2, 0);
  assert_int_equal(suri_graph_compile(g2, 2), SURI_OK);
  assert_int_equal(suri_graph_param_foldable(g2, W), 0);
  suri_graph_free(g2);
  suri_graph_free(g);
  free(p), free(p0), free(gr), free(gu);
}

/* Momentum, weight decay and Adam are not folded: bitwise the two calls. */
static void test_other_optimizers_unchanged(void **state) {
  (void)state;
  suri_optim_kind kinds[] = {SURI_OPTIM_MOMENTUM, SURI_OPTIM_ADAM, SURI_OPTIM_ADAMW};
  for (size_t i = 0; i < 3; i++) {
    double lf[STEPS], lu[STEPS];
    suri_model *f = run("mlp:12-10-4", kinds[i], 1, lf);
    suri_model *u = run("mlp:12-10-4", kinds[i], 0, lu);
    assert_memory_equal(suri_model_params(f), suri_model_params(u),
                        suri_model_param_count(f) * sizeof(suri_real));
    assert_memory_equal(lf, lu, sizeof lf);
    suri_model_free(f);
    suri_model_free(u);
  }
  /* sgd with weight decay: the same. */
  suri_optim_hp hp = suri_optim_defaults(SURI_OPTIM_SGD);
  hp.weight_decay = 0.01;
  suri_model *f = make("mlp:12-10-4"), *u = make("mlp:12-10-4");
  size_t n = suri_model_param_count(f);
  suri_optim *of = suri_optim_new(SURI_OPTIM_SGD, n, &hp), *ou = suri_optim_new(SURI_OPTIM_SGD, n, &hp);
  double l;
  for (int k = 0; k < 3; k++) {
    set_batch(f, k);
    set_batch(u, k);
    assert_int_equal(suri_model_train_step(f, of, SURI_LR_DEFAULT, &l), SURI_OK);
    assert_int_equal(suri_model_loss_grad(u, &l), SURI_OK);
    assert_int_equal(suri_optim_step(ou, suri_model_params(u), suri_model_grads(u), SURI_LR_DEFAULT),
                     SURI_OK);
  }
  assert_memory_equal(suri_model_params(f), suri_model_params(u), n * sizeof(suri_real));
  suri_optim_free(of);
  suri_optim_free(ou);
  suri_model_free(f);
  suri_model_free(u);
}

/* A NaN input makes the loss NaN: the step changes nothing, folded or not. */
static void test_nonfinite_loss_changes_nothing(void **state) {
  (void)state;
  suri_optim_kind kinds[] = {SURI_OPTIM_SGD, SURI_OPTIM_ADAM};
  for (size_t i = 0; i < 2; i++) {
    suri_model *m = make("mlp:12-10-4");
    size_t n = suri_model_param_count(m);
    suri_optim *o = suri_optim_new(kinds[i], n, NULL);
    suri_real *before = malloc(n * sizeof *before);
    memcpy(before, suri_model_params(m), n * sizeof *before);
    set_batch(m, 0);
    suri_graph_value(suri_model_graph(m), suri_model_input(m))[3] = (suri_real)NAN;
    double loss = 0;
    assert_int_equal(suri_model_train_step(m, o, 0.1, &loss), SURI_OK);
    assert_true(isnan(loss));
    assert_memory_equal(before, suri_model_params(m), n * sizeof *before);
    assert_int_equal(suri_optim_steps(o), 0);
    free(before);
    suri_optim_free(o);
    suri_model_free(m);
  }
}

/* Which steps fold, and a non-finite gradient under a finite loss always reaches the weights
 * (what suri_train_run's stop policy relies on): a +Inf feature meets a weight column made
 * negative, so the pre-activations are -Inf, relu gives 0 and the loss is finite, while the
 * weight gradient has 0 * Inf = NaN. lr = 0 is not folded (the BLAS would skip the product). */
static void test_nonfinite_gradient_reaches_weights(void **state) {
  (void)state;
  suri_optim *adam = suri_optim_new(SURI_OPTIM_ADAM, 4, NULL);
  suri_optim *sgd = suri_optim_new(SURI_OPTIM_SGD, 4, NULL);
  assert_int_equal(suri_train_step_folds(sgd, 0.1), 1);
  assert_int_equal(suri_train_step_folds(sgd, SURI_LR_DEFAULT), 1); /* its lr, 0.01 */
  assert_int_equal(suri_train_step_folds(sgd, 0), 0);
  assert_int_equal(suri_train_step_folds(adam, 0.1), 0);
  assert_int_equal(suri_train_step_folds(NULL, 0.1), 0);
  suri_optim_free(adam);
  suri_optim_free(sgd);
  const double lrs[] = {0.1, 0};
  for (int i = 0; i < 2; i++) {
    suri_model *m = make("mlp:12-10-4");
    suri_optim *o = suri_optim_new(SURI_OPTIM_SGD, suri_model_param_count(m), NULL);
    const suri_model_tensor *w = suri_model_tensor_at(m, 0);
    assert_string_equal(w->name, "fc1.weight");
    for (int64_t j = 0; j < w->dim[0]; j++) {
      suri_real *v = suri_model_params(m) + w->offset + j * 12 + 5;
      *v = (suri_real)(-1.0 - fabs((double)*v));
    }
    set_batch(m, 0);
    suri_graph_value(suri_model_graph(m), suri_model_input(m))[5] = (suri_real)INFINITY;
    double loss;
    assert_int_equal(suri_model_train_step(m, o, lrs[i], &loss), SURI_OK);
    assert_true(isfinite(loss));
    int nonfinite = 0;
    for (int64_t j = 0; j < w->dim[0]; j++)
      nonfinite += !isfinite(suri_model_params(m)[w->offset + j * 12 + 5]);
    if (nonfinite == 0) fail_msg("lr %g: the NaN gradient did not reach fc1.weight", lrs[i]);
    suri_optim_free(o);
    suri_model_free(m);
  }
}

static void test_bad_arguments(void **state) {
  (void)state;
  suri_model *m = make("mlp:12-10-4");
  suri_optim *o = suri_optim_new(SURI_OPTIM_SGD, suri_model_param_count(m), NULL);
  suri_optim *small = suri_optim_new(SURI_OPTIM_SGD, 3, NULL);
  double l;
  set_batch(m, 0);
  tu_expect_status(suri_model_train_step(NULL, o, 0.1, &l), SURI_ERR_ARG, "NULL");
  tu_expect_status(suri_model_train_step(m, NULL, 0.1, &l), SURI_ERR_ARG, "NULL");
  tu_expect_status(suri_model_train_step(m, o, 0.1, NULL), SURI_ERR_ARG, "NULL");
  tu_expect_status(suri_model_train_step(m, small, 0.1, &l), SURI_ERR_ARG, "3 parameters");
  tu_expect_status(suri_model_train_step(m, o, -0.5, &l), SURI_ERR_ARG, "learning rate");
  tu_expect_status(suri_model_train_step(m, o, INFINITY, &l), SURI_ERR_ARG, "learning rate");
  assert_int_equal(suri_optim_steps(o), 0);
  suri_optim_free(o);
  suri_optim_free(small);
  suri_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fold_follows_unfolded),
      cmocka_unit_test(test_fold_skips_weight_gradients),
      cmocka_unit_test(test_graph_fold),
      cmocka_unit_test(test_other_optimizers_unchanged),
      cmocka_unit_test(test_nonfinite_loss_changes_nothing),
      cmocka_unit_test(test_nonfinite_gradient_reaches_weights),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
