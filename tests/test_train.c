/* test_train.c - the training loop of include/suri/train.h: learning on a separable problem,
 * bitwise determinism for a fixed seed, exact resume from a checkpoint (with dropout, batch
 * norm and Adam state in play), the stop flag, non-finite loss detection, bad configurations and
 * data that does not fit the model, and the metrics file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/data.h"
#include "suri/io.h"
#include "suri/train.h"
#include "testutil.h"

static suri_model *make_model(const char *text, int64_t max_batch, uint64_t seed) {
  suri_model_spec s;
  if (suri_model_spec_parse(text, &s)) fail_msg("parse '%s': %s", text, suri_last_error());
  suri_model *m = NULL;
  if (suri_model_new(&s, max_batch, &m)) fail_msg("model_new: %s", suri_last_error());
  assert_int_equal(suri_model_init(m, seed), SURI_OK);
  return m;
}

static suri_dataset *load(const char *spec) {
  suri_dataset *d = NULL;
  if (suri_data_load(spec, &d)) fail_msg("data '%s': %s", spec, suri_last_error());
  return d;
}

/* Whole parameter and state blocks equal bit for bit. */
static int same_model(suri_model *a, suri_model *b) {
  size_t np = suri_model_param_count(a), ns = suri_model_state_count(a);
  return np == suri_model_param_count(b) &&
         !memcmp(suri_model_params(a), suri_model_params(b), np * sizeof(suri_real)) &&
         !memcmp(suri_model_state(a), suri_model_state(b), ns * sizeof(suri_real));
}

#define SPEC_A "mlp:8-24-24-3,act=tanh,norm=batch,dropout=0.2"
#define DATA_A "gauss:n=300,d=8,classes=3,sep=3,seed=7"

static suri_train_config config_a(const char *dir) {
  suri_train_config c = suri_train_defaults();
  c.optim = "adam";
  c.lr = 1e-2;
  c.batch = 32;
  c.epochs = 4; /* 10 steps per epoch (the last one partial): 40 steps */
  c.seed = 11;
  c.schedule = "cosine,warmup=5";
  c.out_dir = dir;
  c.log_every = 7;
  return c;
}

static void test_learns(void **state) {
  (void)state;
  suri_dataset *tr = load("gauss:n=300,d=8,classes=3,sep=6,seed=7");
  suri_dataset *te = load("gauss:n=300,d=8,classes=3,sep=6,seed=7,split=test");
  suri_model *m = make_model("mlp:8-32-3,act=relu", 64, 3);
  suri_train_config c = suri_train_defaults();
  c.optim = "momentum";
  c.lr = 0.05;
  c.batch = 32;
  c.epochs = 15;
  suri_train_summary s;
  assert_int_equal(suri_train_run(m, tr, te, &c, NULL, NULL, &s), SURI_OK);
  /* Class means 6*sqrt(2) apart on average against unit noise: nearly separable, so a model
   * that learns clears 0.9 easily; chance is 1/3. */
  if (!(s.test_accuracy > 0.9)) fail_msg("test accuracy %.3f", s.test_accuracy);
  assert_int_equal(s.steps, 15 * 10);
  assert_true(s.final_loss < 0.5);
  suri_model_free(m);
  suri_dataset_free(tr);
  suri_dataset_free(te);
}

static void test_deterministic(void **state) {
  (void)state;
  suri_dataset *tr = load(DATA_A);
  suri_model *a = make_model(SPEC_A, 32, 5), *b = make_model(SPEC_A, 32, 5);
  suri_train_config c = config_a(NULL);
  assert_int_equal(suri_train_run(a, tr, NULL, &c, NULL, NULL, NULL), SURI_OK);
  assert_int_equal(suri_train_run(b, tr, NULL, &c, NULL, NULL, NULL), SURI_OK);
  assert_true(same_model(a, b));
  /* A different seed changes the batch order and the dropout masks. */
  suri_model *d = make_model(SPEC_A, 32, 5);
  c.seed = 12;
  assert_int_equal(suri_train_run(d, tr, NULL, &c, NULL, NULL, NULL), SURI_OK);
  assert_false(same_model(a, d));
  suri_model_free(a);
  suri_model_free(b);
  suri_model_free(d);
  suri_dataset_free(tr);
}

/* Callback that asks to stop once `at` steps are done. */
typedef struct stop_at {
  int64_t at;
  int checkpoints;
} stop_at;

static int stop_cb(const suri_train_event *ev, void *user) {
  stop_at *s = user;
  if (ev->kind == SURI_EV_CHECKPOINT) s->checkpoints++;
  return ev->kind == SURI_EV_STEP && ev->step == s->at;
}

/* optim: adam, or sgd (whose steps fold the update into backward, suri_model_train_step). */
static void resume_case(int64_t stop_step, const char *optim) {
  suri_dataset *tr = load(DATA_A);
  const char *full = tu_tmpdir(), *part = tu_tmpdir();
  suri_model *a = make_model(SPEC_A, 32, 5);
  suri_train_config c = config_a(full);
  c.optim = optim;
  assert_int_equal(suri_train_run(a, tr, NULL, &c, NULL, NULL, NULL), SURI_OK);

  suri_model *r = make_model(SPEC_A, 32, 5);
  c = config_a(part);
  c.optim = optim;
  stop_at s = {stop_step, 0};
  suri_status st = suri_train_run(r, tr, NULL, &c, stop_cb, &s, NULL);
  tu_expect_status(st, SURI_ERR_INTERRUPTED, "stopped at step");
  assert_int_equal(s.checkpoints, 1);
  suri_model_free(r);

  /* A fresh process would rebuild the model from the spec with any initial values. */
  suri_model *q = make_model(SPEC_A, 32, 999);
  c.resume = 1;
  suri_train_summary sum;
  assert_int_equal(suri_train_run(q, tr, NULL, &c, NULL, NULL, &sum), SURI_OK);
  assert_int_equal(sum.resumed_from, stop_step);
  if (!same_model(a, q)) fail_msg("resume from step %lld differs from the uninterrupted run",
                                  (long long)stop_step);
  /* The final model files are byte-identical too. */
  void *fa, *fb;
  size_t na, nb;
  assert_int_equal(suri_read_file(tu_join(full, "model.safetensors"), 0, &fa, &nb), SURI_OK);
  na = nb;
  assert_int_equal(suri_read_file(tu_join(part, "model.safetensors"), 0, &fb, &nb), SURI_OK);
  assert_true(na == nb && !memcmp(fa, fb, na));
  suri_free(fa);
  suri_free(fb);
  suri_model_free(a);
  suri_model_free(q);
  suri_dataset_free(tr);
}

static void test_resume_mid_epoch(void **state) {
  (void)state;
  resume_case(13, "adam");
}

static void test_resume_sgd_folded(void **state) {
  (void)state;
  resume_case(17, "sgd");
}

static void test_resume_epoch_boundary(void **state) {
  (void)state;
  resume_case(20, "adam");
}

static void test_resume_mismatch(void **state) {
  (void)state;
  suri_dataset *tr = load(DATA_A);
  const char *dir = tu_tmpdir();
  suri_model *a = make_model(SPEC_A, 32, 5);
  suri_train_config c = config_a(dir);
  c.epochs = 1;
  assert_int_equal(suri_train_run(a, tr, NULL, &c, NULL, NULL, NULL), SURI_OK);
  suri_model *other = make_model("mlp:8-16-3,act=tanh", 32, 5);
  c.resume = 1;
  tu_expect_status(suri_train_run(other, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_FORMAT,
                   "was written for model");
  /* No checkpoint at all. */
  c.out_dir = tu_tmpdir();
  tu_expect_status(suri_train_run(a, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_IO,
                   "checkpoint.safetensors");
  suri_model_free(a);
  suri_model_free(other);
  suri_dataset_free(tr);
}

static void test_stop_flag(void **state) {
  (void)state;
  suri_dataset *tr = load(DATA_A);
  suri_model *m = make_model(SPEC_A, 32, 5);
  suri_train_config c = config_a(tu_tmpdir());
  volatile int stop = 1; /* already set: stops after the first step */
  c.stop = &stop;
  suri_train_summary s;
  tu_expect_status(suri_train_run(m, tr, NULL, &c, NULL, NULL, &s), SURI_ERR_INTERRUPTED,
                   "step 1 of 40");
  suri_model_free(m);
  suri_dataset_free(tr);
}

static void test_nonfinite_loss(void **state) {
  (void)state;
  suri_dataset *tr = load("teacher:n=64,d=4,out=1,seed=2");
  suri_model *m = make_model("mlp:4-64-64-1,act=identity,loss=mse", 64, 1);
  suri_train_config c = suri_train_defaults();
  c.lr = 1e6; /* diverges within a few steps */
  c.batch = 64;
  c.epochs = 50;
  tu_expect_status(suri_train_run(m, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_NUMERIC,
                   "at step");
  suri_model_free(m);
  suri_dataset_free(tr);
}

static void test_bad_config_and_data(void **state) {
  (void)state;
  suri_dataset *tr = load(DATA_A);
  suri_model *m = make_model("mlp:8-16-3", 32, 1);
  suri_train_config c = suri_train_defaults();
  c.lr = -1;
  tu_expect_status(suri_train_run(m, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_ARG, "learning rate");
  c = suri_train_defaults();
  c.batch = 64; /* over the compiled 32 */
  tu_expect_status(suri_train_run(m, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_ARG, "compiled batch");
  c = suri_train_defaults();
  c.batch = 32;
  c.optim = "lbfgs";
  tu_expect_status(suri_train_run(m, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_ARG, "lbfgs");
  c.optim = "adam";
  c.beta1 = 1.5;
  tu_expect_status(suri_train_run(m, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_ARG, "beta1");
  c = suri_train_defaults();
  c.batch = 32;
  c.schedule = "cosine:oops";
  tu_expect_status(suri_train_run(m, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_ARG, "oops");
  suri_model *wide = make_model("mlp:9-16-3", 32, 1);
  c = suri_train_defaults();
  c.batch = 32;
  tu_expect_status(suri_train_run(wide, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_ARG,
                   "8 features but the model's input width is 9");
  suri_model *two = make_model("mlp:8-16-2", 32, 1);
  tu_expect_status(suri_train_run(two, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_ARG,
                   "3 classes but the model has 2 outputs");
  suri_model *reg = make_model("mlp:8-16-3,loss=mse", 32, 1);
  tu_expect_status(suri_train_run(reg, tr, NULL, &c, NULL, NULL, NULL), SURI_ERR_ARG,
                   "regression targets");
  suri_model_free(m);
  suri_model_free(wide);
  suri_model_free(two);
  suri_model_free(reg);
  suri_dataset_free(tr);
}

static void test_metrics_file(void **state) {
  (void)state;
  suri_dataset *tr = load(DATA_A), *te = load(DATA_A ",split=test");
  const char *dir = tu_tmpdir();
  suri_model *m = make_model(SPEC_A, 32, 5);
  suri_train_config c = config_a(dir);
  assert_int_equal(suri_train_run(m, tr, te, &c, NULL, NULL, NULL), SURI_OK);
  FILE *f = fopen(tu_join(dir, "metrics.jsonl"), "r");
  assert_non_null(f);
  char line[1024];
  int steps = 0, epochs = 0;
  while (fgets(line, sizeof line, f)) {
    assert_true(line[0] == '{' && strstr(line, "}\n"));
    if (strstr(line, "\"kind\":\"step\"")) steps++;
    if (strstr(line, "\"kind\":\"epoch\"")) {
      epochs++;
      assert_non_null(strstr(line, "\"test_accuracy\":0")); /* a number, not null */
    }
  }
  fclose(f);
  assert_int_equal(steps, 40 / 7); /* log_every = 7 over 40 steps */
  assert_int_equal(epochs, 4);
  suri_model_free(m);
  suri_dataset_free(tr);
  suri_dataset_free(te);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_learns),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_resume_mid_epoch),
      cmocka_unit_test(test_resume_epoch_boundary),
      cmocka_unit_test(test_resume_sgd_folded),
      cmocka_unit_test(test_resume_mismatch),
      cmocka_unit_test(test_stop_flag),
      cmocka_unit_test(test_nonfinite_loss),
      cmocka_unit_test(test_bad_config_and_data),
      cmocka_unit_test(test_metrics_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
