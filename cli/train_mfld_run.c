/* train_mfld_run.c - the body of `suri train --optim mfld|pda|psdca` once the options are
 * settled: load the data, refuse up front a run that would not fit in memory, build the
 * particle system (or load DIR/checkpoint.safetensors to resume), write DIR/config.json, run
 * suri_mfld_run with a callback that appends one suri_mfld_event_json line per monitor to
 * DIR/metrics.jsonl, prints a progress line and writes the checkpoints, then save the particles
 * (DIR/model.safetensors) and report on stdout (text or --json).
 *
 * Resuming bitwise: suri_mfld_save stores the particles, the PDA / P-SDCA state and the step
 * counters (noise stream, batch order, epochs done), so a system loaded from a checkpoint
 * written at an epoch boundary and run for the remaining epochs (suri_mfld_set_length) takes
 * exactly the steps of the uninterrupted run. Before every save the run length is set back to
 * the total, so the files' metadata do not depend on where a run was cut. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "suri/io.h"
#include "train_mfld.h"

typedef struct mrun {
  mfld_opts *o;
  suri_dataset *train, *test;
  suri_mfld *m;
  FILE *metrics;
  int64_t total, done0;    /* total epochs; epochs done when this invocation started */
  int64_t ckpt_epoch;      /* epoch of the checkpoint on disk, -1 if none */
  int64_t last_epoch, last_step;
  suri_status cb_st;       /* a failure inside the callback (it then stops the run) */
  char cb_msg[512];
  suri_mfld_summary sum;
} mrun;

static void out_path(const mrun *r, const char *name, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s", r->o->out, name);
}

static int load_data(mrun *r) {
  const mfld_opts *o = r->o;
  suri_status st = suri_data_load(o->data, &r->train);
  if (st) return cli_data_error("train", "--data", o->data, st);
  if (o->test_data[0]) {
    if ((st = suri_data_load(o->test_data, &r->test)))
      return cli_data_error("train", "--test-data", o->test_data, st);
    if ((st = suri_dataset_normalize_like(r->test, r->train)))
      return cli_fail(st, "test data '%s' does not match the training data", o->test_data);
  }
  return CLI_OK;
}


/* The fresh system, checked against the data before anything is written. */
static int build(mrun *r) {
  const mfld_opts *o = r->o;
  suri_status st = suri_mfld_new(&o->c, r->train->dim, &r->m);
  if (st) return cli_fail(st, "cannot build the particle system");
  double loss, err;
  if ((st = suri_mfld_evaluate(r->m, r->train, &loss, &err)) ||
      (r->test && (st = suri_mfld_evaluate(r->m, r->test, &loss, &err))))
    return cli_fail(st, "the data does not fit the particle method");
  return CLI_OK;
}

static int load_checkpoint(mrun *r) {
  char path[TRAIN_PATH_MAX + 32];
  out_path(r, "checkpoint.safetensors", path, sizeof path);
  suri_status st = suri_mfld_load(path, &r->m);
  if (st) return cli_fail(st, "cannot resume from %s", path);
  r->done0 = r->ckpt_epoch = suri_mfld_epochs_done(r->m);
  if (suri_mfld_get_config(r->m)->method != r->o->c.method)
    return cli_fail(SURI_OK, "%s was written by --optim %s but %s/config.json says %s", path,
                    suri_mfld_method_name(suri_mfld_get_config(r->m)->method), r->o->out,
                    suri_mfld_method_name(r->o->c.method));
  if (r->done0 >= r->total) {
    fprintf(stderr, "suri: error: the run in %s has done %lld of its %lld epochs; give "
            "--epochs N with N > %lld to continue it\n", r->o->out, (long long)r->done0,
            (long long)r->total, (long long)r->done0);
    return CLI_FAIL;
  }
  return CLI_OK;
}

/* Saves the system with its total run length (then restores the remaining length). */
static suri_status save(mrun *r, const char *name) {
  char path[TRAIN_PATH_MAX + 32];
  out_path(r, name, path, sizeof path);
  const suri_mfld_config *c = suri_mfld_get_config(r->m);
  const int64_t seg = c->epochs, spe = c->steps_per_epoch;
  const char *keys[2] = {"data", "test_data"}, *vals[2] = {r->o->data, r->o->test_data};
  suri_status st = suri_mfld_set_length(r->m, r->total, spe);
  if (!st) st = suri_mfld_save(r->m, path, 2, keys, vals);
  suri_mfld_set_length(r->m, seg, spe);
  return st;
}

/* metrics.jsonl of a resumed run keeps the monitors up to the checkpoint's epoch (later ones,
 * from a run cut by a signal, are run again). */
static int open_metrics(mrun *r) {
  char path[TRAIN_PATH_MAX + 32];
  out_path(r, "metrics.jsonl", path, sizeof path);
  if (r->o->resume) {
    void *data = NULL;
    size_t n = 0, k = 0;
    if (!suri_read_file(path, (size_t)1 << 30, &data, &n)) {
      char *s = data;
      for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        cJSON *j = cJSON_ParseWithLength(s + i, e - i);
        const cJSON *ep = cJSON_GetObjectItemCaseSensitive(j, "epoch");
        int keep = cJSON_IsNumber(ep) && ep->valuedouble <= (double)r->done0;
        cJSON_Delete(j);
        if (keep) {
          memmove(s + k, s + i, e - i);
          k += e - i;
          s[k++] = '\n';
        }
        i = e + 1;
      }
      suri_status st = suri_write_file_atomic(path, s, k);
      suri_free(data);
      if (st) return cli_fail(st, "cannot rewrite %s", path);
    }
  }
  r->metrics = fopen(path, r->o->resume ? "a" : "w");
  return r->metrics ? CLI_OK : cli_fail(SURI_ERR_IO, "cannot open %s", path);
}

static void fmt_err(char *buf, size_t n, double e) {
  if (isnan(e)) snprintf(buf, n, "-");
  else snprintf(buf, n, "%.2f%%", 100.0 * e);
}

static void progress_line(const mrun *r, const suri_mfld_event *ev) {
  char tr[32], te[32];
  fmt_err(tr, sizeof tr, ev->train_err);
  fmt_err(te, sizeof te, ev->test_err);
  fprintf(stderr, "epoch %lld/%lld  step %lld  F %.5g  train_err %s", (long long)ev->epoch,
          (long long)r->total, (long long)ev->step, ev->F, tr);
  if (!isnan(ev->test_err) || !isnan(ev->test_loss))
    fprintf(stderr, "  test_loss %.4g  test_err %s", ev->test_loss, te);
  if (ev->method == SURI_MFLD_METHOD_PSDCA) fprintf(stderr, "  ess %.3f", ev->ess);
  if (ev->gap.valid)
    fprintf(stderr, "  gap %.3g%s", ev->gap.gap, ev->gap.estimate ? " (estimate)" : "");
  fprintf(stderr, "  %.3g updates/s  %.1f s\n", ev->updates_per_s, ev->seconds);
  fflush(stderr);
}

static int on_event(const suri_mfld_event *ev, void *user) {
  mrun *r = user;
  char line[2048];
  r->last_epoch = ev->epoch, r->last_step = ev->step;
  suri_status st = suri_mfld_event_json(ev, line, sizeof line);
  if (!st && (fprintf(r->metrics, "%s\n", line) < 0 || fflush(r->metrics) != 0))
    st = suri_fail(SURI_ERR_IO, "cannot append to %s/metrics.jsonl", r->o->out);
  if (!r->o->quiet && !r->o->json) progress_line(r, ev);
  int64_t every = r->o->checkpoint_every;
  if (!st && every > 0 && ev->epoch > r->done0 && ev->epoch < r->total && ev->epoch % every == 0) {
    if (!(st = save(r, "checkpoint.safetensors"))) r->ckpt_epoch = ev->epoch;
  }
  if (!st) return 0;
  r->cb_st = st;
  snprintf(r->cb_msg, sizeof r->cb_msg, "%s", suri_last_error());
  return 1;
}

static void print_header(const mrun *r) {
  const mfld_opts *o = r->o;
  const suri_mfld_config *c = &o->c;
  fprintf(stderr, "training %s: M %lld particles of dimension %lld (act %s, head %s%s, loss %s)\n"
          "  data %s (%lld samples)", suri_mfld_method_name(c->method), (long long)c->M,
          (long long)suri_mfld_dim(r->m), suri_act_name(c->act), suri_mfld_head_name(c->head),
          c->bias ? ", bias" : "", suri_mfld_loss_name(c->loss), r->train->name,
          (long long)r->train->n);
  if (r->test) fprintf(stderr, ", test %s (%lld samples)", r->test->name, (long long)r->test->n);
  fprintf(stderr, "\n  lambda1 %g, lambda2 %g", c->lambda1, c->lambda2);
  if (c->method == SURI_MFLD_METHOD_MFLD)
    fprintf(stderr, ", eta %g, %s", c->eta, suri_mfld_estimator_name(c->estimator));
  fprintf(stderr, ", %lld epochs, seed %llu, %lld threads\n  %s %s\n", (long long)r->total,
          (unsigned long long)c->seed, (long long)o->threads,
          o->resume ? "resuming" : "writing", o->out);
}

static void json_num(cJSON *j, const char *key, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
  else cJSON_AddNullToObject(j, key);
}

static void print_json(const mrun *r, const char *status) {
  const mfld_opts *o = r->o;
  const suri_mfld_event *ev = &r->sum.last;
  int ok = !strcmp(status, "ok");
  char path[TRAIN_PATH_MAX + 32];
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "status", status);
  cJSON_AddStringToObject(j, "out", o->out);
  if (ok) {
    out_path(r, "model.safetensors", path, sizeof path);
    cJSON_AddStringToObject(j, "model_file", path);
  }
  out_path(r, "checkpoint.safetensors", path, sizeof path);
  cJSON_AddStringToObject(j, "checkpoint", path);
  cJSON_AddStringToObject(j, "optim", suri_mfld_method_name(o->c.method));
  cJSON_AddStringToObject(j, "data", o->data);
  if (o->test_data[0]) cJSON_AddStringToObject(j, "test_data", o->test_data);
  else cJSON_AddNullToObject(j, "test_data");
  cJSON_AddNumberToObject(j, "particles", (double)o->c.M);
  cJSON_AddNumberToObject(j, "dim", (double)suri_mfld_dim(r->m));
  cJSON_AddNumberToObject(j, "epochs", (double)(ok ? r->total : r->last_epoch));
  cJSON_AddNumberToObject(j, "total_epochs", (double)r->total);
  cJSON_AddNumberToObject(j, "resumed_from_epoch", (double)r->done0);
  cJSON_AddNumberToObject(j, "langevin_steps", (double)suri_mfld_steps(r->m));
  if (ok) {
    cJSON_AddNumberToObject(j, "steps", (double)r->sum.steps);
    json_num(j, "train_loss", ev->risk);
    json_num(j, "train_error", ev->train_err);
    json_num(j, "test_loss", ev->test_loss);
    json_num(j, "test_error", ev->test_err);
    json_num(j, "F", ev->F);
    json_num(j, "risk", ev->risk);
    json_num(j, "l2", ev->l2);
    json_num(j, "gap", ev->gap.valid ? ev->gap.gap : NAN);
    if (ev->gap.valid) {
      cJSON_AddBoolToObject(j, "gap_estimate", ev->gap.estimate);
      json_num(j, "primal", ev->gap.primal);
      json_num(j, "dual", ev->gap.dual);
    }
    json_num(j, "seconds", r->sum.seconds);
    json_num(j, "updates_per_s", r->sum.updates_per_s);
  }
  cJSON_AddNumberToObject(j, "threads", (double)o->threads);
  char *text = cJSON_PrintUnformatted(j);
  if (text) printf("%s\n", text);
  fflush(stdout);
  cJSON_free(text);
  cJSON_Delete(j);
}

static void print_result(const mrun *r) {
  const suri_mfld_event *ev = &r->sum.last;
  if (r->test) {
    if (!isnan(ev->test_err)) printf("test error %.4f  ", ev->test_err);
    printf("test loss %.5g  ", ev->test_loss);
  }
  if (!isnan(ev->train_err)) printf("train error %.4f  ", ev->train_err);
  printf("train loss %.5g\n", ev->risk);
  printf("F %.6g (risk %.6g + L2 %.6g)", ev->F, ev->risk, ev->l2);
  if (ev->gap.valid)
    printf("  duality gap %.4g (estimate: entropy by k-NN, log Z by %s)", ev->gap.gap,
           ev->gap.estimate ? "importance sampling" : "quadrature");
  printf("\n%lld epochs, %lld steps, %lld Langevin steps in %.3g s, %.3g particle updates/s, "
         "%lld threads", (long long)r->total, (long long)r->sum.steps,
         (long long)r->sum.langevin_steps, r->sum.seconds, r->sum.updates_per_s,
         (long long)r->o->threads);
  if (r->done0) printf(", resumed from epoch %lld", (long long)r->done0);
  printf("\nwrote %s/: config.json metrics.jsonl model.safetensors checkpoint.safetensors\n",
         r->o->out);
  fflush(stdout);
}

/* A signal stopped the run after a step. The checkpoint of the last epoch boundary stays (a
 * resumed run is then bitwise the uninterrupted one); before any, the interrupted state is
 * written, and a resumed run repeats its unfinished epoch from there. */
static int interrupted(mrun *r) {
  int sig = train_signal_caught();
  const char *o = r->o->out;
  if (r->ckpt_epoch >= 0) {
    fprintf(stderr, "suri: interrupted during epoch %lld; %s/checkpoint.safetensors holds the "
            "state after epoch %lld (the unfinished epochs are dropped)\n",
            (long long)suri_mfld_epochs_done(r->m) + 1, o, (long long)r->ckpt_epoch);
  } else {
    suri_status st = save(r, "checkpoint.safetensors");
    if (st) cli_fail(st, "cannot write the checkpoint to %s", o);
    else
      fprintf(stderr, "suri: interrupted in epoch %lld; the interrupted state is in "
              "%s/checkpoint.safetensors (a resumed run repeats that epoch from it)\n",
              (long long)suri_mfld_epochs_done(r->m) + 1, o);
  }
  fprintf(stderr, "resume with: suri train --resume %s\n", o);
  if (r->o->json) print_json(r, "interrupted");
  return sig == SIGINT ? CLI_SIGINT : sig == SIGTERM ? CLI_SIGTERM : CLI_FAIL;
}

static int run(mrun *r) {
  mfld_opts *o = r->o;
  const suri_mfld_config *c = suri_mfld_get_config(r->m);
  suri_status st = suri_mfld_set_length(r->m, r->total - r->done0, c->steps_per_epoch);
  if (st) return cli_fail(st, "cannot set the run length");
  suri_mfld_set_stop(r->m, train_stop_flag());
  if (!o->quiet && !o->json) print_header(r);
  /* A loaded system takes a fresh SVRG snapshot at its first step; the uninterrupted run does
   * so there too only when the steps done are a multiple of the snapshot period. */
  int64_t period = c->svrg_period > 0 ? c->svrg_period : (r->train->n + c->batch - 1) / c->batch;
  if (o->resume && c->method == SURI_MFLD_METHOD_MFLD && c->estimator == SURI_MFLD_SVRG &&
      suri_mfld_steps(r->m) % period != 0 && !o->json)
    fprintf(stderr, "suri: warning: the checkpoint is %lld steps in, not a multiple of the SVRG "
            "snapshot period %lld: the resumed run takes its snapshot earlier than an "
            "uninterrupted run would (not bitwise identical to it)\n",
            (long long)suri_mfld_steps(r->m), (long long)period);
  st = suri_mfld_run(r->m, r->train, r->test, on_event, r, &r->sum);
  suri_mfld_set_stop(r->m, NULL);
  if (r->cb_st) return cli_fail(SURI_OK, "run directory %s: %s", o->out, r->cb_msg);
  if (st == SURI_ERR_INTERRUPTED && train_signal_caught()) return interrupted(r);
  if (st) return cli_fail(st, "training failed (run directory %s)", o->out);
  if ((st = save(r, "model.safetensors")) || (st = save(r, "checkpoint.safetensors")))
    return cli_fail(st, "cannot write the particles to %s", o->out);
  if (o->json) print_json(r, "ok");
  else print_result(r);
  return CLI_OK;
}

int mfld_train_run(mfld_opts *o, int write_config) {
  mrun r;
  memset(&r, 0, sizeof r);
  r.o = o;
  r.total = o->c.epochs;
  r.ckpt_epoch = -1;
  train_signals_install();
  int rc = cli_set_threads_omp(o->threads);
  if (!rc) {
    o->threads = suri_get_threads(); /* the resolved count goes into config.json */
    rc = load_data(&r);
  }
  if (!rc) rc = mfld_check_memory(o, r.train, r.test);
  if (!rc) rc = o->resume ? load_checkpoint(&r) : build(&r);
  if (!rc && !o->resume) rc = train_prepare_out(o->out);
  if (!rc && write_config) rc = mfld_config_write(o, o->out);
  if (!rc) rc = open_metrics(&r);
  if (!rc) rc = run(&r);
  if (r.metrics) fclose(r.metrics);
  suri_mfld_free(r.m);
  suri_dataset_free(r.train);
  suri_dataset_free(r.test);
  return rc;
}
