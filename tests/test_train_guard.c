/* test_train_guard.c - the trainer's guards (include/suri/train.h): non-finite detection at the
 * step where a NaN/Inf appears, with the message naming the step and the first non-finite
 * tensor, under each on_nonfinite policy (stop keeps the last checkpoint untouched, skip-step
 * drops exactly the poisoned batches, restore reloads the checkpoint and finishes); the memory
 * estimate against what suri actually allocates; and the parsers of --on-nonfinite and
 * --memory values. Non-finite values are injected two ways: a NaN feature in one sample (the
 * loss of each batch holding it is NaN), and a NaN written into a batch-norm running mean from
 * the step callback (the training forward pass uses batch statistics, so the loss and the
 * gradients stay finite and only the after-update check on the state block can see it).
 * Also: a run resumed at its very end writes the same model file as the original run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "suri/data.h"
#include "suri/io.h"
#include "suri/optim.h"
#include "suri/train.h"
#include "testutil.h"

static suri_model *make_model(const char *text, int64_t max_batch) {
  suri_model_spec s;
  if (suri_model_spec_parse(text, &s)) fail_msg("parse '%s': %s", text, suri_last_error());
  suri_model *m = NULL;
  if (suri_model_new(&s, max_batch, &m)) fail_msg("model_new: %s", suri_last_error());
  assert_int_equal(suri_model_init(m, 5), SURI_OK);
  return m;
}

/* 32 samples of 4 features, 2 balanced classes, separable; sample `nan_at` (if >= 0) gets a
 * NaN feature. */
static suri_dataset *small_set(int nan_at) {
  suri_dataset *d = NULL;
  assert_int_equal(suri_dataset_new(32, 4, 2, 0, "guard", &d), SURI_OK);
  for (int64_t i = 0; i < 32; i++) {
    d->y[i] = (int32_t)(i % 2);
    for (int64_t j = 0; j < 4; j++)
      d->x[i * 4 + j] = (suri_real)((d->y[i] ? 1.0 : -1.0) + 0.1 * (double)((i * 7 + j) % 5));
  }
  if (nan_at >= 0) d->x[nan_at * 4 + 2] = (suri_real)NAN;
  return d;
}

static int all_finite(suri_model *m) {
  for (size_t i = 0; i < suri_model_param_count(m); i++)
    if (!isfinite(suri_model_params(m)[i])) return 0;
  for (size_t i = 0; i < suri_model_state_count(m); i++)
    if (!isfinite(suri_model_state(m)[i])) return 0;
  return 1;
}

static suri_train_config base_config(void) {
  suri_train_config c = suri_train_defaults();
  c.optim = "momentum";
  c.lr = 0.05;
  c.batch = 8; /* 4 steps per epoch */
  c.epochs = 3;
  c.seed = 9;
  c.log_every = 0;
  return c;
}

/* 1-based step of epoch `epoch` whose batch holds sample `s` (batch 8, seed 9). */
static int64_t step_of_sample(const suri_dataset *d, int64_t epoch, int64_t s) {
  int64_t idx[32];
  suri_data_epoch_order(d, 9, epoch, idx);
  for (int64_t i = 0; i < 32; i++)
    if (idx[i] == s) return epoch * 4 + i / 8 + 1;
  return -1;
}

typedef struct counter {
  int nonfinite, checkpoints;
  char last[512];
} counter;

static int count_events(const suri_train_event *ev, void *user) {
  counter *k = user;
  if (ev->kind == SURI_EV_NONFINITE) {
    k->nonfinite++;
    snprintf(k->last, sizeof k->last, "%s", ev->message ? ev->message : "");
  }
  if (ev->kind == SURI_EV_CHECKPOINT) k->checkpoints++;
  return 0;
}

/* stop: the message names the step where the bad sample first comes up and what turned
 * non-finite. With tanh a NaN feature reaches the loss. The relu case makes the loss finite
 * and only a gradient non-finite: the sample's feature 2 is +Inf and column 2 of fc1.weight is
 * negative, so its pre-activations are -Inf, relu gives 0 (a finite forward pass), and the
 * weight gradient delta^T x has 0 * Inf = NaN in that column. */
static void test_stop_names_step(void **state) {
  (void)state;
  suri_dataset *d = small_set(5);
  const char *specs[] = {"mlp:4-6-2,act=tanh", "mlp:4-6-2", "mlp:4-6-2"};
  const char *optim[] = {"momentum", "momentum", "sgd"};
  const char *what[] = {"the loss is NaN", "the gradient of fc1.weight has a NaN at element",
                        /* plain SGD is folded into backward under stop: the weight itself */
                        "the parameter fc1.weight has a NaN at element"};
  for (int i = 0; i < 3; i++) {
    suri_model *m = make_model(specs[i], 8);
    if (i >= 1) {
      d->x[5 * 4 + 2] = (suri_real)INFINITY;
      const suri_model_tensor *w = suri_model_tensor_at(m, 0);
      assert_string_equal(w->name, "fc1.weight");
      for (int64_t j = 0; j < w->dim[0]; j++) { /* -1 - |w|: stays negative for a few steps */
        suri_real *v = suri_model_params(m) + w->offset + j * 4 + 2;
        *v = (suri_real)(-1.0 - fabs((double)*v));
      }
    }
    suri_train_config c = base_config();
    c.optim = optim[i];
    char want[128];
    snprintf(want, sizeof want, "non-finite value at step %lld (epoch 1): %s",
             (long long)step_of_sample(d, 0, 5), what[i]);
    tu_expect_status(suri_train_run(m, d, NULL, &c, NULL, NULL, NULL), SURI_ERR_NUMERIC, want);
    assert_non_null(strstr(suri_last_error(), "--on-nonfinite stop"));
    if (i < 2) assert_true(all_finite(m)); /* the poisoned update was never applied */
    else assert_false(all_finite(m));      /* folded: it was, and the run stopped on it */
    suri_model_free(m);
  }
  suri_dataset_free(d);
}

/* skip-step: exactly one batch per epoch holds the NaN sample; those updates are dropped and
 * the run finishes with finite parameters and a finite running loss. */
static void test_skip_step(void **state) {
  (void)state;
  suri_dataset *d = small_set(5);
  suri_model *m = make_model("mlp:4-6-2,act=tanh", 8);
  suri_train_config c = base_config();
  c.on_nonfinite = SURI_NONFINITE_SKIP;
  counter k = {0};
  suri_train_summary sum;
  if (suri_train_run(m, d, NULL, &c, count_events, &k, &sum)) fail_msg("%s", suri_last_error());
  assert_int_equal(sum.skipped_steps, 3);
  assert_int_equal(k.nonfinite, 3);
  assert_int_equal(sum.steps, 12);
  assert_true(isfinite(sum.final_loss));
  assert_true(all_finite(m));
  char want[64];
  snprintf(want, sizeof want, "step %lld (epoch 3): the loss is NaN; the update was skipped",
           (long long)step_of_sample(d, 2, 5));
  if (!strstr(k.last, want)) fail_msg("last event '%s' lacks '%s'", k.last, want);
  suri_model_free(m);
  suri_dataset_free(d);
}

/* Poisons bn1.running_mean[3] once, after step `at` (state tensors of "mlp:4-6-2,norm=batch"). */
typedef struct poison {
  suri_model *m;
  int64_t at;
  counter k;
} poison;

static int poison_cb(const suri_train_event *ev, void *user) {
  poison *p = user;
  count_events(ev, &p->k);
  if (ev->kind == SURI_EV_STEP && ev->step == p->at) {
    for (int i = 0; i < suri_model_tensor_count(p->m); i++) {
      const suri_model_tensor *t = suri_model_tensor_at(p->m, i);
      if (!strcmp(t->name, "bn1.running_mean")) suri_model_state(p->m)[t->offset + 3] = (suri_real)NAN;
    }
  }
  return 0;
}

/* A NaN in the state block is named by tensor and element; skip-step cannot undo it; stop
 * leaves the last checkpoint as it was (same bytes) and writes no model file. */
static void test_state_nan_named(void **state) {
  (void)state;
  suri_dataset *d = small_set(-1);
  const char *dir = tu_tmpdir();
  for (int policy = 0; policy < 2; policy++) {
    suri_model *m = make_model("mlp:4-6-2,norm=batch", 8);
    suri_train_config c = base_config();
    c.out_dir = dir;
    c.checkpoint_every = 4;
    c.on_nonfinite = policy ? SURI_NONFINITE_SKIP : SURI_NONFINITE_STOP;
    poison p = {m, 6, {0}};
    void *before = NULL;
    size_t nb = 0;
    suri_status st = suri_train_run(m, d, NULL, &c, poison_cb, &p, NULL);
    tu_expect_status(st, SURI_ERR_NUMERIC,
                     "step 7 (epoch 2): the state tensor bn1.running_mean has a NaN at element 3");
    assert_non_null(strstr(suri_last_error(), "the last good checkpoint (step 4) is kept"));
    if (policy) assert_non_null(strstr(suri_last_error(), "skip-step cannot undo"));
    struct stat sb;
    assert_int_not_equal(stat(tu_join(dir, "model.safetensors"), &sb), 0);
    /* The checkpoint on disk is still the step-4 one. */
    assert_int_equal(suri_read_file(tu_join(dir, "checkpoint.safetensors"), 0, &before, &nb), 0);
    suri_safetensors *ck = NULL;
    assert_int_equal(suri_st_parse(before, nb, "ckpt", &ck), SURI_OK);
    assert_string_equal(suri_st_meta(ck, "step"), "4");
    suri_st_free(ck);
    suri_free(before);
    remove(tu_join(dir, "checkpoint.safetensors"));
    remove(tu_join(dir, "metrics.jsonl"));
    suri_model_free(m);
  }
  rmdir(dir);
  suri_dataset_free(d);
}

/* restore: without a checkpoint it stops and says so; with one it reloads it and finishes. */
static void test_restore(void **state) {
  (void)state;
  suri_dataset *d = small_set(-1);
  suri_model *m = make_model("mlp:4-6-2,norm=batch", 8);
  suri_train_config c = base_config();
  c.on_nonfinite = SURI_NONFINITE_RESTORE;
  poison p = {m, 2, {0}};
  tu_expect_status(suri_train_run(m, d, NULL, &c, poison_cb, &p, NULL), SURI_ERR_NUMERIC,
                   "there is no checkpoint to restore yet");
  suri_model_free(m);

  const char *dir = tu_tmpdir();
  m = make_model("mlp:4-6-2,norm=batch", 8);
  c.out_dir = dir;
  c.checkpoint_every = 4;
  poison q = {m, 6, {0}};
  suri_train_summary sum;
  if (suri_train_run(m, d, NULL, &c, poison_cb, &q, &sum)) fail_msg("%s", suri_last_error());
  assert_int_equal(sum.restores, 1);
  assert_int_equal(q.k.nonfinite, 1);
  assert_non_null(strstr(q.k.last, "step 7 (epoch 2): the state tensor bn1.running_mean"));
  assert_non_null(strstr(q.k.last, "restored the checkpoint of step 4"));
  assert_int_equal(sum.steps, 12);
  assert_true(all_finite(m));
  remove(tu_join(dir, "checkpoint.safetensors"));
  remove(tu_join(dir, "model.safetensors"));
  remove(tu_join(dir, "metrics.jsonl"));
  rmdir(dir);
  suri_model_free(m);
  suri_dataset_free(d);
}

/* A run killed between its final checkpoint and its model file: resuming it runs no step and
 * must write the same model file, summary included (the checkpoint carries the last epoch's
 * metrics for this). */
static void test_resume_at_end(void **state) {
  (void)state;
  suri_dataset *d = small_set(-1);
  suri_dataset *te = small_set(-1);
  const char *dir = tu_tmpdir();
  suri_model *m = make_model("mlp:4-6-2,norm=batch,dropout=0.2", 8);
  suri_train_config c = base_config();
  c.out_dir = dir;
  if (suri_train_run(m, d, te, &c, NULL, NULL, NULL)) fail_msg("%s", suri_last_error());
  suri_model_free(m);
  void *first = NULL, *again = NULL;
  size_t n1 = 0, n2 = 0;
  const char *model = tu_join(dir, "model.safetensors");
  assert_int_equal(suri_read_file(model, 0, &first, &n1), SURI_OK);
  assert_int_equal(remove(model), 0);
  m = make_model("mlp:4-6-2,norm=batch,dropout=0.2", 8);
  c.resume = 1;
  suri_train_summary sum;
  if (suri_train_run(m, d, te, &c, NULL, NULL, &sum)) fail_msg("%s", suri_last_error());
  assert_int_equal(sum.resumed_from, 12);
  assert_true(isfinite(sum.final_loss));
  assert_int_equal(suri_read_file(model, 0, &again, &n2), SURI_OK);
  assert_true(n1 == n2 && memcmp(first, again, n1) == 0);
  suri_free(first);
  suri_free(again);
  remove(model);
  remove(tu_join(dir, "checkpoint.safetensors"));
  remove(tu_join(dir, "metrics.jsonl"));
  rmdir(dir);
  suri_model_free(m);
  suri_dataset_free(d);
  suri_dataset_free(te);
}

/* The estimate is an upper bound on what suri allocates, and not a loose one: parameter and
 * optimizer blocks within 1 KiB (the optimizer pads its arrays to 64 bytes), graph buffers
 * within 5% + 4 KiB (each buffer is charged a full 64 bytes of alignment padding). */
static void test_memory_estimate(void **state) {
  (void)state;
  const char *specs[] = {"mlp:4-6-2", "mlp:784-512-256-10,dropout=0.2",
                         "mlp:10-33-17-1,norm=batch,act=tanh,loss=mse",
                         "mlp:7-20-20-1,norm=layer,loss=logistic",
                         "mlp:5-9-3,norm=lastbatch,param=meanfield",
                         "mlp:3-64-64-64-4,param=ntk,act=gelu,dropout=0.5"};
  const char *optims[] = {"sgd", "momentum", "adam", "adamw"};
  const int64_t batches[] = {1, 17, 128};
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
    for (int b = 0; b < 3; b++) {
      suri_model_spec s;
      assert_int_equal(suri_model_spec_parse(specs[i], &s), SURI_OK);
      suri_model *m = NULL;
      assert_int_equal(suri_model_new(&s, batches[b], &m), SURI_OK);
      suri_train_config c = suri_train_defaults();
      c.optim = optims[(i + (size_t)b) % 4];
      c.batch = batches[b];
      suri_train_memory e;
      assert_int_equal(suri_train_memory_estimate(&s, &c, NULL, NULL, &e), SURI_OK);
      double r = (double)sizeof(suri_real);
      double params = (2.0 * (double)suri_model_param_count(m) +
                       (double)suri_model_state_count(m)) * r;
      double graph = (double)suri_graph_bytes(suri_model_graph(m));
      suri_optim_kind kind;
      assert_int_equal(suri_optim_kind_parse(c.optim, &kind), SURI_OK);
      suri_optim_hp hp = suri_optim_defaults(kind);
      suri_optim *o = suri_optim_new(kind, suri_model_param_count(m), &hp);
      assert_non_null(o);
      double optim = (double)suri_optim_state_count(o) * (double)suri_model_param_count(m) * r;
      if (!(e.params >= params - 1024 && e.params <= params + 1024))
        fail_msg("%s: params estimate %.0f, allocated %.0f", specs[i], e.params, params);
      if (!(e.optim >= optim - 1024 && e.optim <= optim + 1024))
        fail_msg("%s %s: optimizer estimate %.0f, allocated %.0f", specs[i], c.optim, e.optim,
                 optim);
      if (!(e.graph >= graph && e.graph <= 1.05 * graph + 4096))
        fail_msg("%s B=%lld: graph estimate %.0f, allocated %.0f", specs[i],
                 (long long)batches[b], e.graph, graph);
      assert_true(e.total >= e.params + e.optim + e.graph + e.io);
      suri_optim_free(o);
      suri_model_free(m);
    }
}

static void test_memory_check_and_parse(void **state) {
  (void)state;
  suri_model_spec s;
  assert_int_equal(suri_model_spec_parse("mlp:784-100000-10", &s), SURI_OK);
  suri_train_config c = suri_train_defaults();
  c.optim = "adam";
  suri_train_memory e;
  assert_int_equal(suri_train_memory_estimate(&s, &c, NULL, NULL, &e), SURI_OK);
  /* 78.5M parameters: 4 blocks of them (params, grads, 2 Adam states) at least. */
  assert_true(e.total > 4.0 * 78.5e6 * (double)sizeof(suri_real));
  assert_int_equal(suri_train_memory_check(&e, 1e15, "x"), SURI_OK);
  tu_expect_status(suri_train_memory_check(&e, 1024.0 * 1048576.0, "the --memory limit"),
                   SURI_ERR_NOMEM, "more than the --memory limit (1 GiB)");
  assert_non_null(strstr(suri_last_error(), "optimizer state"));
  assert_true(suri_memory_available() > 1048576.0);

  double b = 0;
  assert_int_equal(suri_parse_memory("512M", &b), SURI_OK);
  assert_true(b == 512.0 * 1048576.0);
  assert_int_equal(suri_parse_memory("1.5GiB", &b), SURI_OK);
  assert_true(b == 1.5 * 1073741824.0);
  assert_int_equal(suri_parse_memory("2t", &b), SURI_OK);
  assert_true(b == 2.0 * 1099511627776.0);
  assert_int_equal(suri_parse_memory("1048576", &b), SURI_OK);
  assert_true(b == 1048576.0);
  const char *bad[] = {"", "-1G", "4096", "2X", "1GBB", " 1G", "nan", "inf", "1e400", "G"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (suri_parse_memory(bad[i], &b) != SURI_ERR_ARG) fail_msg("'%s' was accepted", bad[i]);

  suri_nonfinite_policy p;
  assert_int_equal(suri_nonfinite_parse("skip-step", &p), SURI_OK);
  assert_int_equal(p, SURI_NONFINITE_SKIP);
  assert_int_equal(suri_nonfinite_parse("restore", &p), SURI_OK);
  assert_int_equal(p, SURI_NONFINITE_RESTORE);
  assert_string_equal(suri_nonfinite_name(SURI_NONFINITE_STOP), "stop");
  tu_expect_status(suri_nonfinite_parse("skip", &p), SURI_ERR_ARG, "stop, skip-step, restore");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stop_names_step),   cmocka_unit_test(test_skip_step),
      cmocka_unit_test(test_state_nan_named),   cmocka_unit_test(test_restore),
      cmocka_unit_test(test_resume_at_end),     cmocka_unit_test(test_memory_estimate),
      cmocka_unit_test(test_memory_check_and_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
