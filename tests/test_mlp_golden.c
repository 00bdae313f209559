/* test_mlp_golden.c - suri's MLP against PyTorch: golden fixtures written by
 * tests/ref/make_mlp_fixtures.py (tests/fixtures/mlp/NAME.safetensors, F64).
 *
 * Case files: the model spec (metadata "model_spec"), a batch, every parameter and running
 * statistic; PyTorch's logits, mean loss, every parameter gradient, the running statistics after
 * one training forward, and (batch-norm cases) the eval-mode logits. The test builds the model
 * from the spec, loads the tensors at the offsets of suri_model_tensor_at, runs
 * suri_model_set_batch + suri_model_loss_grad and compares.
 * Trajectory files: 10 full-batch steps of SGD with momentum / Adam / AdamW from the same start;
 * the losses before each step and the final parameters and state are compared.
 * The case files are also valid suri model files: suri_model_load must read them identically.
 *
 * Tolerances (each comparison: max |a - r| <= rtol * scale and ||a - r|| <= rtol * ||r||_floor):
 * - double: rtol 1e-9. Both sides compute in double; rounding differences are ~1e-15 relative
 *   per op, a few orders of magnitude of growth over 3 layers, batch norm and the loss leave
 *   them far below 1e-9, while any modelling difference (a scale, biased vs unbiased variance,
 *   a missing term) is > 1e-3.
 * - float: rtol 1e-4. Parameters and inputs are rounded to float on loading (relative 6e-8),
 *   the forward/backward run in float with sums of <= 16 terms and batch statistics over 6 rows
 *   (observed worst 3.4e-6, on a gradient that is zero by construction, see "scale"); 1e-4
 *   leaves a 30x margin and still catches every modelling error above.
 * - scale: elementwise errors are measured against the largest reference entry of the tensor,
 *   floored at 1e-2 of the largest gradient entry of the whole model, because a gradient that is
 *   zero by construction (a dense bias followed by batch norm) is rounding noise on both sides.
 * - trajectories compound 10 steps of these errors, and Adam divides by sqrt(v), which amplifies
 *   the relative error of small gradients (observed in float: 2e-5 on final parameters, 2e-7 on
 *   losses): float rtol 2e-4 for the final parameters, 1e-5 for the losses; double 1e-9 for
 *   both (observed ~1e-15). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/io.h"
#include "suri/nn.h"
#include "suri/optim.h"
#include "testutil.h"

#ifdef SURI_REAL_DOUBLE
#define RTOL 1e-9
#define TRAJ_RTOL 1e-9
#define TRAJ_LOSS_RTOL 1e-9
#else
#define RTOL 1e-4
#define TRAJ_RTOL 2e-4
#define TRAJ_LOSS_RTOL 1e-5
#endif

static const char *const CASES[] = {
    "std_relu_none_ce",           "ntk_tanh_none_ce",
    "mf_gelu_none_mse",           "std_tanh_batch_ce",
    "ntk_relu_layer_ce",          "mf_relu_batch_ce",
    "std_gelu_layer_logistic",    "ntk_gelu_lastbatch_mse",
    "mf_tanh_layer_logistic",     "std_relu_lastbatch_ce",
    "ntk_tanh_batch_mse",         "ntk_relu_none_ce_sb0",
    "mf_gelu_lastbatch_ce",       "std_sigmoid_none_mse",
    "ntk_erf_layer_ce",           "std_softplus_batch_logistic",
    "ntk_leaky_relu_lastbatch_ce", "std_identity_none_mse",
};

static const char *const TRAJECTORIES[] = {
    "traj_ntk_tanh_layer_sgdm", "traj_ntk_tanh_layer_adam", "traj_ntk_tanh_layer_adamw",
    "traj_std_relu_batch_sgdm", "traj_mf_gelu_none_adam",
};

/* ---- fixture access ----------------------------------------------------------------------- */
typedef struct fixture {
  const char *name;
  suri_safetensors *st;
  suri_model *m;
  const suri_model_spec *spec;
  int64_t B, IN, OUT;
  suri_real *x, *targets;
  int32_t *labels;
} fixture;

static const suri_st_tensor *need(const fixture *f, const char *name) {
  const suri_st_tensor *t = suri_st_find(f->st, name);
  if (!t) fail_msg("%s: tensor '%s' is missing", f->name, name);
  return t;
}

static int64_t st_numel(const suri_st_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dim[i];
  return n;
}

/* A fixture tensor as newly allocated double (through suri_st_get_real: values pass through
 * suri_real, which is what the library sees; reference results are compared in double). */
static double *get_ref(const fixture *f, const char *name, int64_t expect_n) {
  const suri_st_tensor *t = need(f, name);
  int64_t n = st_numel(t);
  if (expect_n >= 0 && n != expect_n)
    fail_msg("%s: '%s' has %lld elements, expected %lld", f->name, name, (long long)n,
             (long long)expect_n);
  assert_int_equal(t->dtype, SURI_DT_F64);
  /* read the F64 bytes directly so that float builds compare against the exact reference */
  double *d = malloc((size_t)n * sizeof *d);
  memcpy(d, suri_st_data(f->st, t), (size_t)n * sizeof *d);
  return d;
}

static suri_real *get_real(const fixture *f, const char *name, int64_t expect_n) {
  const suri_st_tensor *t = need(f, name);
  int64_t n = st_numel(t);
  if (n != expect_n)
    fail_msg("%s: '%s' has %lld elements, expected %lld", f->name, name, (long long)n,
             (long long)expect_n);
  suri_real *p = malloc((size_t)n * sizeof *p);
  suri_status s = suri_st_get_real(f->st, name, -1, NULL, p, 1);
  if (s) fail_msg("%s: reading '%s': %s", f->name, name, suri_last_error());
  return p;
}

static int is_data_name(const char *n) {
  return !strcmp(n, "x") || !strcmp(n, "labels") || !strcmp(n, "targets") ||
         !strcmp(n, "logits") || !strcmp(n, "loss") || !strcmp(n, "eval_logits") ||
         !strcmp(n, "losses") || !strncmp(n, "grad.", 5) || !strncmp(n, "updated.", 8) ||
         !strncmp(n, "final.", 6);
}

/* Opens a fixture: model from the spec, every model tensor loaded, the batch read. */
static void fixture_open(fixture *f, const char *name) {
  memset(f, 0, sizeof *f);
  f->name = name;
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/mlp/%s.safetensors", name);
  const char *path = tu_src_path(rel);
  if (suri_st_read(path, 0, &f->st)) fail_msg("%s: %s", path, suri_last_error());
  const char *spec_text = suri_st_meta(f->st, "model_spec");
  if (!spec_text) fail_msg("%s: no model_spec in the metadata", path);
  suri_model_spec spec;
  if (suri_model_spec_parse(spec_text, &spec)) fail_msg("%s: %s", name, suri_last_error());
  /* the parsed spec (defaults included) agrees with the settings the generator spelled out */
  static const char *const keys[] = {"act", "norm", "param", "loss"};
  const char *vals[] = {suri_act_name(spec.act), suri_norm_name(spec.norm),
                        suri_param_name(spec.param), suri_loss_name(spec.loss)};
  for (int i = 0; i < 4; i++) {
    const char *v = suri_st_meta(f->st, keys[i]);
    if (!v || strcmp(v, vals[i]))
      fail_msg("%s: %s is '%s' in the metadata, '%s' parsed from '%s'", name, keys[i],
               v ? v : "(none)", vals[i], spec_text);
  }
  const char *sw2 = suri_st_meta(f->st, "sw2"), *sb2 = suri_st_meta(f->st, "sb2");
  assert_non_null(sw2);
  assert_non_null(sb2);
  if (spec.sw2 != atof(sw2) || spec.sb2 != atof(sb2))
    fail_msg("%s: (sw2, sb2) = (%g, %g) parsed, (%s, %s) in the metadata", name, spec.sw2,
             spec.sb2, sw2, sb2);
  const char *b = suri_st_meta(f->st, "batch");
  assert_non_null(b);
  f->B = atoll(b);
  assert_true(f->B >= 1 && f->B <= 64);
  if (suri_model_new(&spec, f->B, &f->m)) fail_msg("%s: %s", name, suri_last_error());
  f->spec = suri_model_get_spec(f->m);
  f->IN = spec.width[0];
  f->OUT = spec.width[spec.n_widths - 1];
  /* every model tensor is in the file, and every parameter/state tensor of the file is in the
   * model (so a tensor suri forgot, e.g. a bias, is noticed) */
  int n_model = suri_model_tensor_count(f->m), n_file = 0;
  for (int i = 0; i < n_model; i++) {
    const suri_model_tensor *t = suri_model_tensor_at(f->m, i);
    suri_real *dst = (t->is_state ? suri_model_state(f->m) : suri_model_params(f->m)) + t->offset;
    if (!suri_st_find(f->st, t->name)) fail_msg("%s: no tensor '%s' in the file", name, t->name);
    if (suri_st_get_real(f->st, t->name, t->rank, t->dim, dst, 1))
      fail_msg("%s: %s", name, suri_last_error());
  }
  for (int64_t i = 0; i < suri_st_count(f->st); i++)
    n_file += !is_data_name(suri_st_at(f->st, i)->name);
  if (n_file != n_model)
    fail_msg("%s: the file has %d parameter/state tensors, the model %d", name, n_file, n_model);
  f->x = get_real(f, "x", f->B * f->IN);
  if (spec.loss == SURI_LOSS_CE) {
    double *l = get_ref(f, "labels", f->B);
    f->labels = malloc((size_t)f->B * sizeof *f->labels);
    for (int64_t i = 0; i < f->B; i++) f->labels[i] = (int32_t)l[i];
    free(l);
  } else {
    f->targets = get_real(f, "targets", f->B * f->OUT);
  }
}

static void fixture_close(fixture *f) {
  suri_model_free(f->m);
  suri_st_free(f->st);
  free(f->x);
  free(f->targets);
  free(f->labels);
}

/* ---- comparison --------------------------------------------------------------------------- */
static double max_abs(size_t n, const double *r) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s = fmax(s, fabs(r[i]));
  return s;
}

/* a: suri's values, r: reference, n elements; floor: the smallest scale to measure against. */
static void compare(const char *fx, const char *what, size_t n, const suri_real *a,
                    const double *r, double rtol, double floor) {
  double scale = fmax(max_abs(n, r), floor), err2 = 0, ref2 = 0, worst = 0;
  size_t wi = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - r[i]);
    if (!(d <= worst) || isnan(d)) worst = isnan(d) ? INFINITY : d, wi = i;
    err2 += d * d;
    ref2 += r[i] * r[i];
  }
  double rnorm = fmax(sqrt(ref2), floor);
  if (!(worst <= rtol * scale) || !(sqrt(err2) <= rtol * rnorm))
    fail_msg("%s: %s differs from PyTorch: element %zu is %.12g, reference %.12g (max error "
             "%.3g, allowed %.3g; norm error %.3g, allowed %.3g)",
             fx, what, wi, (double)a[wi], r[wi], worst, rtol * scale, sqrt(err2), rtol * rnorm);
}

static suri_real *tensor_block(suri_model *m, const suri_model_tensor *t) {
  return (t->is_state ? suri_model_state(m) : suri_model_params(m)) + t->offset;
}

static size_t tensor_numel(const suri_model_tensor *t) {
  return (size_t)(t->dim[0] * (t->rank == 2 ? t->dim[1] : 1));
}

/* ---- one case ----------------------------------------------------------------------------- */
static void run_case(const char *name) {
  fixture f;
  fixture_open(&f, name);
  suri_model *m = f.m;
  size_t ns = suri_model_state_count(m);

  /* eval mode (batch-norm cases): running statistics from the file, left unchanged */
  if (suri_st_find(f.st, "eval_logits")) {
    suri_real *state0 = malloc((ns ? ns : 1) * sizeof *state0);
    memcpy(state0, suri_model_state(m), ns * sizeof *state0);
    double *ref = get_ref(&f, "eval_logits", f.B * f.OUT);
    suri_real *out = malloc((size_t)(f.B * f.OUT) * sizeof *out);
    assert_int_equal(suri_model_predict(m, f.B, f.x, out), SURI_OK);
    compare(name, "eval-mode logits", (size_t)(f.B * f.OUT), out, ref, RTOL, 0);
    assert_memory_equal(state0, suri_model_state(m), ns * sizeof *state0);
    free(state0);
    free(ref);
    free(out);
  }

  /* training forward + backward */
  double loss;
  if (suri_model_set_batch(m, f.B, f.x, f.labels, f.targets)) fail_msg("%s", suri_last_error());
  if (suri_model_loss_grad(m, &loss)) fail_msg("%s: %s", name, suri_last_error());
  double *ref = get_ref(&f, "logits", f.B * f.OUT);
  compare(name, "logits", (size_t)(f.B * f.OUT),
          suri_graph_value(suri_model_graph(m), suri_model_output(m)), ref, RTOL, 0);
  free(ref);
  ref = get_ref(&f, "loss", 1);
  suri_real lr = (suri_real)loss;
  compare(name, "loss", 1, &lr, ref, RTOL, 0);
  free(ref);

  /* the floor for gradient comparisons: 1e-2 of the largest gradient entry of the model */
  double gmax = 0;
  for (int i = 0; i < suri_model_tensor_count(m); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    if (t->is_state) continue;
    char key[64];
    snprintf(key, sizeof key, "grad.%s", t->name);
    double *g = get_ref(&f, key, (int64_t)tensor_numel(t));
    gmax = fmax(gmax, max_abs(tensor_numel(t), g));
    free(g);
  }
  assert_true(gmax > 1e-3); /* a fixture with a vanishing gradient would test nothing */
  int n_grads = 0, n_state = 0;
  for (int i = 0; i < suri_model_tensor_count(m); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    char key[64], what[80];
    snprintf(key, sizeof key, "%s.%s", t->is_state ? "updated" : "grad", t->name);
    snprintf(what, sizeof what, "%s %s", t->is_state ? "updated state" : "gradient of", t->name);
    double *r = get_ref(&f, key, (int64_t)tensor_numel(t));
    const suri_real *a = t->is_state ? tensor_block(m, t) : suri_model_grads(m) + t->offset;
    compare(name, what, tensor_numel(t), a, r, RTOL, t->is_state ? 0 : 1e-2 * gmax);
    free(r);
    n_grads += !t->is_state;
    n_state += t->is_state;
  }
  /* padding between tensors receives no gradient */
  size_t numel = 0;
  for (int i = 0; i < suri_model_tensor_count(m); i++)
    if (!suri_model_tensor_at(m, i)->is_state) numel += tensor_numel(suri_model_tensor_at(m, i));
  assert_int_equal(numel, suri_model_param_numel(m));
  assert_true(n_grads >= 3);
  assert_int_equal(n_state > 0, f.spec->norm == SURI_NORM_BATCH || f.spec->norm == SURI_NORM_LASTBATCH);
  fixture_close(&f);
}

static void test_cases(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run_case(CASES[i]);
}

/* The parametrizations differ: a case's parameters run under another parametrization give other
 * logits (guards against the fixtures or the model silently ignoring param=). */
static void test_param_matters(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, "ntk_tanh_none_ce");
  suri_model_spec s = *f.spec;
  s.param = SURI_PARAM_STANDARD;
  suri_model *m2 = NULL;
  assert_int_equal(suri_model_new(&s, f.B, &m2), SURI_OK);
  assert_int_equal(suri_model_copy_params(m2, f.m), SURI_OK);
  suri_real *o1 = malloc((size_t)(f.B * f.OUT) * sizeof *o1);
  suri_real *o2 = malloc((size_t)(f.B * f.OUT) * sizeof *o2);
  assert_int_equal(suri_model_predict(f.m, f.B, f.x, o1), SURI_OK);
  assert_int_equal(suri_model_predict(m2, f.B, f.x, o2), SURI_OK);
  double d = 0;
  for (int64_t k = 0; k < f.B * f.OUT; k++) d = fmax(d, fabs((double)o1[k] - o2[k]));
  assert_true(d > 0.1);
  free(o1);
  free(o2);
  suri_model_free(m2);
  fixture_close(&f);
}

/* A fixture is a valid suri model file (model_spec metadata and every tensor of the spec, F64):
 * suri_model_load gives the same parameters, state and seed as the manual loading above. */
static void test_model_load(void **state) {
  (void)state;
  static const char *const names[] = {"mf_relu_batch_ce", "ntk_gelu_lastbatch_mse",
                                      "mf_tanh_layer_logistic"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    fixture f;
    fixture_open(&f, names[i]);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/mlp/%s.safetensors", names[i]);
    suri_model *m2 = NULL;
    uint64_t seed = 0;
    if (suri_model_load(tu_src_path(rel), f.B, &m2, &seed)) fail_msg("%s", suri_last_error());
    assert_int_equal(seed, strtoull(suri_st_meta(f.st, "seed"), NULL, 10));
    assert_int_equal(suri_model_param_count(m2), suri_model_param_count(f.m));
    assert_int_equal(suri_model_state_count(m2), suri_model_state_count(f.m));
    assert_memory_equal(suri_model_params(m2), suri_model_params(f.m),
                        suri_model_param_count(f.m) * sizeof(suri_real));
    assert_memory_equal(suri_model_state(m2), suri_model_state(f.m),
                        suri_model_state_count(f.m) * sizeof(suri_real));
    suri_model_free(m2);
    fixture_close(&f);
  }
}

/* ---- trajectories ------------------------------------------------------------------------- */
static double meta_num(const fixture *f, const char *key) {
  const char *v = suri_st_meta(f->st, key);
  if (!v) fail_msg("%s: no '%s' in the metadata", f->name, key);
  return atof(v);
}

static void run_trajectory(const char *name) {
  fixture f;
  fixture_open(&f, name);
  suri_model *m = f.m;
  const char *oname = suri_st_meta(f.st, "optimizer");
  assert_non_null(oname);
  suri_optim_kind kind;
  if (suri_optim_kind_parse(oname, &kind)) fail_msg("%s: %s", name, suri_last_error());
  suri_optim_hp hp = suri_optim_defaults(kind);
  hp.lr = meta_num(&f, "lr");
  hp.weight_decay = meta_num(&f, "weight_decay");
  if (kind == SURI_OPTIM_MOMENTUM) {
    hp.momentum = meta_num(&f, "momentum");
    hp.dampening = 0;
    hp.nesterov = 0;
  } else {
    hp.eps = meta_num(&f, "eps");
    hp.beta1 = 0.9; /* betas "0.9,0.999" in the metadata */
    hp.beta2 = 0.999;
    assert_string_equal(suri_st_meta(f.st, "betas"), "0.9,0.999");
  }
  int steps = (int)meta_num(&f, "steps");
  assert_int_equal(steps, 10);
  suri_optim *opt = suri_optim_new(kind, suri_model_param_count(m), &hp);
  if (!opt) fail_msg("%s: %s", name, suri_last_error());
  double *ref_losses = get_ref(&f, "losses", steps);
  suri_real losses[10];
  if (suri_model_set_batch(m, f.B, f.x, f.labels, f.targets)) fail_msg("%s", suri_last_error());
  for (int s = 0; s < steps; s++) {
    double loss;
    if (suri_model_loss_grad(m, &loss)) fail_msg("%s: %s", name, suri_last_error());
    losses[s] = (suri_real)loss;
    assert_int_equal(suri_optim_step(opt, suri_model_params(m), suri_model_grads(m),
                                     SURI_LR_DEFAULT), SURI_OK);
  }
  assert_int_equal(suri_optim_steps(opt), steps);
  for (int s = 0; s < steps; s++) {
    char what[32];
    snprintf(what, sizeof what, "loss before step %d", s + 1);
    compare(name, what, 1, &losses[s], &ref_losses[s], TRAJ_LOSS_RTOL, 0);
  }
  /* the trajectory moved: the last loss is clearly below the first */
  assert_true(ref_losses[steps - 1] < 0.95 * ref_losses[0]);
  free(ref_losses);
  for (int i = 0; i < suri_model_tensor_count(m); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    char key[64], what[80];
    snprintf(key, sizeof key, "final.%s", t->name);
    snprintf(what, sizeof what, "%s after %d steps", t->name, steps);
    double *r = get_ref(&f, key, (int64_t)tensor_numel(t));
    compare(name, what, tensor_numel(t), tensor_block(m, t), r, TRAJ_RTOL, 0);
    free(r);
  }
  suri_optim_free(opt);
  fixture_close(&f);
}

static void test_trajectories(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof TRAJECTORIES / sizeof TRAJECTORIES[0]; i++)
    run_trajectory(TRAJECTORIES[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cases),
      cmocka_unit_test(test_param_matters),
      cmocka_unit_test(test_model_load),
      cmocka_unit_test(test_trajectories),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
