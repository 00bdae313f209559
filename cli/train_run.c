/* train_run.c - the body of `suri train` once the options are settled: load the data sets and
 * build the model through the library, write DIR/config.json, call suri_train_run with the
 * progress callback and the signal stop flag, and report the result (text or JSON). */
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "suri/io.h"
#include "train_cli.h"

typedef struct run {
  train_opts *o;
  suri_dataset *train, *test;
  suri_model *m;
  train_progress prog;
  suri_train_summary sum;
} run;

int train_load_data(const train_opts *o, int compact, suri_dataset **train,
                    suri_dataset **test) {
  suri_status (*load)(const char *, suri_dataset **) = compact ? suri_data_load_u8 : suri_data_load;
  suri_status st = load(o->data, train);
  if (st) return cli_data_error("train", "--data", o->data, st);
  if (o->test_data[0]) {
    st = load(o->test_data, test);
    if (st) return cli_data_error("train", "--test-data", o->test_data, st);
    /* A standardised training set lends its mean/std to the test set. */
    st = suri_dataset_normalize_like(*test, *train);
    if (st) return cli_fail(st, "test data '%s' does not match the training data", o->test_data);
  }
  return CLI_OK;
}

/* The trainer reads u8 sets (mnist10k, u8 IDX/NPY with norm=scale|none) in their compact form,
 * a quarter of the memory and no conversion up front (the same numbers); --lr auto's operator
 * reads d->x, so a fresh run that uses it loads floats. */
static int load_data(run *r) {
  int compact = !(r->o->lr_auto > 0 && !r->o->resume);
  return train_load_data(r->o, compact, &r->train, &r->test);
}

static int build_model(run *r) {
  const train_opts *o = r->o;
  suri_model_spec spec;
  suri_status st = suri_model_spec_parse(o->model, &spec);
  if (!st && train_check_memory(o, &spec, r->train, r->test)) return CLI_FAIL;
  if (!st) st = suri_model_new(&spec, o->batch, &r->m);
  if (!st) st = suri_model_init(r->m, o->seed);
  if (st) return cli_fail(st, "cannot build model '%s'", o->model);
  st = suri_train_check_data(r->m, r->train, "training");
  if (!st && r->test) st = suri_train_check_data(r->m, r->test, "test");
  if (st) return cli_fail(st, "the data does not fit the model (--model %s)", o->model);
  /* Standardised training data: the model file keeps its mean/std, so that eval and predict
   * can feed new raw inputs the same way. */
  const suri_dataset *t = r->train;
  if (t->norm == SURI_DATA_NORM_STANDARD && t->mean && t->std &&
      (st = suri_model_set_input_norm(r->m, t->mean, t->std)))
    return cli_fail(st, "cannot store the input statistics of '%s' in the model", o->data);
  return CLI_OK;
}

/* A fresh run refuses a directory that already holds one (use --resume or another --out). */
int train_prepare_out(const char *dir) {
  const char *names[] = {"model.safetensors", "checkpoint.safetensors"};
  for (int i = 0; i < 2; i++) {
    char p[TRAIN_PATH_MAX + 32];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    if (stat(p, &sb) == 0) {
      fprintf(stderr, "suri: error: %s already holds a run (%s exists); choose another --out, "
              "remove it, or continue it with 'suri train --resume %s'\n", dir, names[i],
              dir);
      return CLI_FAIL;
    }
  }
  suri_status st = cli_mkdirs(dir);
  return st ? cli_fail(st, "cannot create the output directory %s", dir) : CLI_OK;
}

static void print_header(const run *r) {
  const train_opts *o = r->o;
  fprintf(stderr, "training %s\n  data %s (%lld samples)", o->model, r->train->name,
          (long long)r->train->n);
  if (r->test) fprintf(stderr, ", test %s (%lld samples)", r->test->name, (long long)r->test->n);
  fprintf(stderr, "\n  %s lr %g, schedule %s, batch %lld, ", o->optim, o->lr, o->schedule,
          (long long)o->batch);
  if (o->steps) fprintf(stderr, "%lld steps", (long long)o->steps);
  else fprintf(stderr, "%lld epochs", (long long)o->epochs);
  fprintf(stderr, ", seed %llu, %lld threads\n  %s %s\n", (unsigned long long)o->seed,
          (long long)o->threads, o->resume ? "resuming" : "writing", o->out);
}

static void json_num(cJSON *j, const char *key, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
  else cJSON_AddNullToObject(j, key);
}

static void print_json(const run *r, const char *status) {
  const train_opts *o = r->o;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "status", status);
  cJSON_AddStringToObject(j, "out", o->out);
  if (r->prog.model[0]) cJSON_AddStringToObject(j, "model_file", r->prog.model);
  if (r->prog.checkpoint[0]) cJSON_AddStringToObject(j, "checkpoint", r->prog.checkpoint);
  cJSON_AddStringToObject(j, "model", o->model);
  cJSON_AddStringToObject(j, "data", o->data);
  if (o->test_data[0]) cJSON_AddStringToObject(j, "test_data", o->test_data);
  else cJSON_AddNullToObject(j, "test_data");
  int ok = strcmp(status, "ok") == 0;
  cJSON_AddNumberToObject(j, "steps", (double)(ok ? r->sum.steps : r->prog.last_step));
  cJSON_AddNumberToObject(j, "total_steps", (double)r->prog.total_steps);
  cJSON_AddNumberToObject(j, "epochs", (double)r->prog.epochs);
  cJSON_AddNumberToObject(j, "resumed_from", (double)(ok ? r->sum.resumed_from : r->prog.start_step));
  if (ok) {
    json_num(j, "train_loss", r->sum.final_loss);
    json_num(j, "train_accuracy", r->sum.final_accuracy);
    json_num(j, "test_loss", r->sum.test_loss);
    json_num(j, "test_accuracy", r->sum.test_accuracy);
    json_num(j, "seconds", r->sum.seconds);
    json_num(j, "samples_per_s", r->sum.samples_per_s);
    cJSON_AddNumberToObject(j, "skipped_steps", (double)r->sum.skipped_steps);
    cJSON_AddNumberToObject(j, "restores", (double)r->sum.restores);
  }
  cJSON_AddNumberToObject(j, "threads", (double)o->threads);
  cJSON_AddNumberToObject(j, "lr", o->lr);
  if (o->lr_auto > 0) cJSON_AddNumberToObject(j, "lr_lambda_max", o->lr_lambda_max);
  char *text = cJSON_PrintUnformatted(j);
  if (text) printf("%s\n", text);
  fflush(stdout);
  cJSON_free(text);
  cJSON_Delete(j);
}

static void print_result(const run *r) {
  const suri_train_summary *s = &r->sum;
  char buf[64];
  if (!isnan(s->test_accuracy)) printf("test accuracy %.2f%%  ", 100.0 * s->test_accuracy);
  if (!isnan(s->test_loss)) printf("test loss %.4f  ", s->test_loss);
  printf("train loss %s", cli_fmt(buf, sizeof buf, s->final_loss));
  if (!isnan(s->final_accuracy)) printf("  train accuracy %.2f%%", 100.0 * s->final_accuracy);
  printf("\n%lld steps (%lld epochs) in %.3g s, %.0f samples/s, %lld threads",
         (long long)s->steps, (long long)r->prog.epochs, s->seconds, s->samples_per_s,
         (long long)r->o->threads);
  if (s->resumed_from) printf(", resumed from step %lld", (long long)s->resumed_from);
  if (s->skipped_steps) printf(", %lld non-finite steps skipped", (long long)s->skipped_steps);
  if (s->restores) printf(", %lld checkpoint restores", (long long)s->restores);
  printf("\nwrote %s/: config.json metrics.jsonl model.safetensors checkpoint.safetensors\n",
         r->o->out);
  fflush(stdout);
}

static int interrupted(run *r) {
  int sig = train_signal_caught();
  fprintf(stderr, "suri: interrupted at step %lld of %lld; checkpoint written to %s\n"
          "resume with: suri train --resume %s\n", (long long)r->prog.last_step,
          (long long)r->prog.total_steps,
          r->prog.checkpoint[0] ? r->prog.checkpoint : r->o->out, r->o->out);
  if (r->o->json) print_json(r, "interrupted");
  return sig == SIGINT ? CLI_SIGINT : sig == SIGTERM ? CLI_SIGTERM : CLI_FAIL;
}

static int train(run *r) {
  const train_opts *o = r->o;
  suri_train_config c = suri_train_defaults();
  c.optim = o->optim;
  c.lr = o->lr;
  c.momentum = o->momentum;
  c.nesterov = o->nesterov;
  c.weight_decay = o->weight_decay;
  c.beta1 = o->beta1, c.beta2 = o->beta2, c.eps = o->eps;
  c.schedule = o->schedule;
  c.batch = o->batch;
  c.epochs = o->epochs;
  c.steps = o->steps;
  c.seed = o->seed;
  c.out_dir = o->out;
  c.resume = o->resume != NULL;
  c.checkpoint_every = o->checkpoint_every;
  c.log_every = o->log_every;
  c.stop = train_stop_flag();
  c.on_nonfinite = (suri_nonfinite_policy)o->on_nonfinite;
  train_progress_init(&r->prog, o->quiet || o->json);
  if (!o->quiet && !o->json) print_header(r);
  suri_status st = suri_train_run(r->m, r->train, r->test, &c, train_progress_cb, &r->prog,
                                  &r->sum);
  train_progress_clear(&r->prog);
  if (st == SURI_ERR_INTERRUPTED) return interrupted(r);
  if (st) return cli_fail(st, "training failed (run directory %s)", o->out);
  if (o->json) print_json(r, "ok");
  else print_result(r);
  return CLI_OK;
}

int cli_train_run(train_opts *o, int write_config) {
  run r;
  memset(&r, 0, sizeof r);
  r.o = o;
  train_signals_install();
  int rc = cli_set_threads(o->threads);
  if (!rc) {
    o->threads = suri_get_threads(); /* the resolved count goes into config.json */
    rc = load_data(&r);
  }
  if (!rc) rc = build_model(&r);
  if (!rc && !o->resume && o->lr_auto > 0) rc = train_lr_auto(o, r.m, r.train);
  if (!rc && !o->resume) rc = train_prepare_out(o->out);
  /* A lengthened resume rewrites config.json; if the trainer then refuses the run before
   * starting (e.g. the checkpoint lies beyond the new length) the old file is put back. */
  char path[TRAIN_PATH_MAX + 16];
  void *old = NULL;
  size_t old_n = 0;
  snprintf(path, sizeof path, "%s/config.json", o->out);
  if (!rc && o->resume && write_config && suri_read_file(path, (size_t)1 << 20, &old, &old_n))
    rc = cli_fail(SURI_ERR_IO, "cannot read %s", path);
  if (!rc && write_config) rc = train_config_write(o, o->out);
  if (!rc) {
    rc = train(&r);
    if (rc && old && !r.prog.started) suri_write_file_atomic(path, old, old_n);
  }
  suri_free(old);
  suri_model_free(r.m);
  suri_dataset_free(r.train);
  suri_dataset_free(r.test);
  return rc;
}
