/* train_langevin.c - `suri train --optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd`: the Langevin
 * samplers of suri/langevin.h (docs/algorithms/langevin.md; Kinoshita & Suzuki, NeurIPS 2022;
 * Welling & Teh, ICML 2011) and averaged SGD in the NTK regime (averaged_sgd_ntk.md; Nitanda
 * & Suzuki, ICLR 2021) over a suri model, through the model objective adapter
 * f_i(x) = loss of the model with parameters x on training sample i, F = (1/n) sum_i f_i.
 *
 * A sampler step is x <- x - eta (v_k + lambda x) + sqrt(2 eta T / N) xi (suri/langevin.h):
 * the chain draws from exp(-(N/T) [F(x) + (lambda/2) |x|^2]); with N = n and T = 1 that is the
 * Bayesian posterior for the prior N(0, I / (n lambda)) (--prior-var TAU2 sets lambda =
 * 1/(N TAU2)). Defaults follow the theory: B = m = round(sqrt(n)). Averaged SGD takes
 * theta <- theta - eta (grad_B F(theta) + lambda (theta - theta0)) and reports the uniform
 * average theta-bar of theta_0..theta_t, with lambda = 1/sqrt(T) and the symmetric
 * initialisation (initial function 0) by default, as the spec chooses.
 *
 * The flow mirrors train_run.c: settle what depends on n, check memory, build, write
 * config.json, step with progress, metrics.jsonl, checkpoints (train_langevin_io.c), SIGINT/
 * SIGTERM (checkpoint, exit 130/143), then the samples file, model.safetensors (a sampler's
 * LAST state; asgd's average theta-bar) and the result. A resumed run ends bitwise identical to
 * an uninterrupted one (the batch and noise of step k depend on (seed, k) only). A non-finite
 * loss, estimator or parameter stops the run naming the step (--on-nonfinite stop only). */
#include <math.h>
#include <signal.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "suri/io.h"
#include "train_langevin.h"

#define MAX_DEFAULT_SAMPLES 100 /* --sample-every's default keeps at most this many */

/* ---- settings that depend on the data size -------------------------------------------- */

static int64_t total_steps(const train_opts *o, int64_t spe) {
  if (o->steps > 0) return o->steps;
  return o->epochs > INT64_MAX / spe ? INT64_MAX : o->epochs * spe;
}

/* B, m, the prior, burn-in, thinning, asgd's lambda and initialisation of a fresh run; a
 * resumed run reads them from config.json. Also sizes the run (steps, samples). */
static int resolve_sizes(lv_run *r, const suri_model_spec *spec, int fresh) {
  train_opts *o = r->o;
  int64_t n = r->n;
  if (fresh) {
    if (o->batch == 0) o->batch = suri_langevin_default_batch(n);
    if (o->loop == 0) o->loop = suri_langevin_default_batch(n);
    if (o->prior_var > 0) o->weight_decay = 1.0 / ((o->data_size > 0 ? o->data_size : (double)n) * o->prior_var);
  }
  if (o->batch > n)
    return cli_usage_error("train", "--batch %lld exceeds the training set's %lld samples",
                           (long long)o->batch, (long long)n);
  r->spe = !r->asgd && r->kind == SURI_LANGEVIN_NOISY_GD ? 1 : (n + o->batch - 1) / o->batch;
  r->total = total_steps(o, r->spe);
  if (fresh) {
    if (!o->samples_out[0]) o->burn_in = 0, o->sample_every = 1; /* unused */
    if (o->burn_in < 0) o->burn_in = r->total / 2;
    if (o->sample_every < 0) {
      int64_t left = r->total > o->burn_in ? r->total - o->burn_in : 1;
      o->sample_every = (left + MAX_DEFAULT_SAMPLES - 1) / MAX_DEFAULT_SAMPLES;
    }
    if (o->asgd_lambda < 0) o->asgd_lambda = r->asgd ? 1.0 / sqrt((double)r->total) : 0;
    if (o->symmetric_init < 0)
      o->symmetric_init = r->asgd && spec->n_widths == 3 && spec->norm == SURI_NORM_NONE &&
                          spec->width[1] % 2 == 0;
  }
  r->capacity = o->samples_out[0] ? suri_samples_expected(r->total, o->burn_in, o->sample_every) : 0;
  if (o->samples_out[0] && r->capacity < 1)
    return cli_usage_error("train", "--samples-out: no sample would be kept (burn-in %lld of "
                           "%lld steps); lower --burn-in or run longer", (long long)o->burn_in,
                           (long long)r->total);
  int64_t chunk = o->batch > 128 ? o->batch : 128; /* the model's compiled batch */
  r->chunk = chunk < n ? chunk : n;
  return CLI_OK;
}

/* ---- building -------------------------------------------------------------------------- */

static int build_model(lv_run *r, const suri_model_spec *spec) {
  const train_opts *o = r->o;
  suri_status st = suri_model_new(spec, r->chunk, &r->m);
  if (!st) st = suri_model_init(r->m, o->seed);
  if (st) return cli_fail(st, "cannot build model '%s'", o->model);
  if (o->symmetric_init && (st = suri_model_symmetric_init(r->m)))
    return cli_fail(st, "--symmetric-init on needs a two-layer model mlp:IN-M-OUT with M even "
                    "and norm=none (--model %s)", o->model);
  st = suri_train_check_data(r->m, r->train, "training");
  if (!st && r->test) st = suri_train_check_data(r->m, r->test, "test");
  if (st) return cli_fail(st, "the data does not fit the model (--model %s)", o->model);
  const suri_dataset *t = r->train;
  if (t->norm == SURI_DATA_NORM_STANDARD && t->mean && t->std &&
      (st = suri_model_set_input_norm(r->m, t->mean, t->std)))
    return cli_fail(st, "cannot store the input statistics of '%s' in the model", o->data);
  st = suri_model_objective_new(r->m, r->train, &r->mo, &r->obj);
  if (st) return cli_fail(st, "--optim %s cannot use --model %s", o->optim, o->model);
  r->d = r->obj.dim;
  r->x = suri_alloc(r->d * sizeof(suri_real));
  r->theta0 = suri_alloc(r->d * sizeof(suri_real));
  r->xe = suri_alloc(r->d * sizeof(suri_real));
  if (!r->x || !r->theta0 || !r->xe)
    return cli_fail(SURI_ERR_NOMEM, "cannot hold %zu parameters", r->d);
  suri_model_objective_pack(r->mo, r->x);
  memcpy(r->theta0, r->x, r->d * sizeof(suri_real));
  const suri_model_spec *s = suri_model_get_spec(r->m);
  if (r->test && s->loss == SURI_LOSS_LOGISTIC && !r->test->t) { /* 0/1 labels as targets */
    r->test_t = suri_alloc((size_t)r->test->n * sizeof(suri_real));
    if (!r->test_t) return cli_fail(SURI_ERR_NOMEM, "cannot hold the test targets");
    for (int64_t i = 0; i < r->test->n; i++) r->test_t[i] = (suri_real)r->test->y[i];
  }
  return CLI_OK;
}

static int build_sampler(lv_run *r) {
  const train_opts *o = r->o;
  suri_status st;
  if (r->asgd) {
    suri_asgd_hp hp = suri_asgd_defaults();
    hp.eta = o->lr, hp.lambda = o->asgd_lambda, hp.batch = o->batch, hp.seed = o->seed;
    st = suri_asgd_new(&r->obj, &hp, r->theta0, &r->a);
  } else {
    suri_langevin_hp hp = suri_langevin_defaults(r->kind);
    hp.eta = o->lr, hp.temperature = o->temperature, hp.data_size = o->data_size;
    hp.weight_decay = o->weight_decay, hp.batch = o->batch, hp.loop = o->loop;
    hp.seed = o->seed, hp.noise_seed = o->noise_seed;
    st = suri_langevin_check(r->kind, &hp, r->n);
    if (st) return cli_fail(st, "invalid settings for --optim %s", o->optim);
    st = suri_langevin_new(r->kind, &r->obj, &hp, &r->s);
  }
  if (st) return cli_fail(st, "cannot set up --optim %s", o->optim);
  if (r->capacity > 0 &&
      (st = suri_samples_new(r->d, r->capacity, o->burn_in, o->sample_every, &r->ss)))
    return cli_fail(st, "cannot hold %lld samples", (long long)r->capacity);
  return CLI_OK;
}

/* ---- evaluation and events ------------------------------------------------------------- */

/* Test loss and accuracy at the parameters p (d). */
static int eval_test(lv_run *r, const suri_real *p, double *loss, double *acc) {
  *loss = *acc = NAN;
  if (!r->test) return CLI_OK;
  const suri_model_spec *s = suri_model_get_spec(r->m);
  suri_model_objective_unpack(r->mo, p);
  int ce = s->loss == SURI_LOSS_CE;
  suri_status st = suri_model_evaluate(r->m, r->test->n, r->test->x, ce ? r->test->y : NULL,
                                       ce ? NULL : (r->test_t ? r->test_t : r->test->t), loss, acc);
  return st ? cli_fail(st, "evaluating on the test set '%s' failed", r->o->test_data) : CLI_OK;
}

/* The parameters that the theory evaluates: a sampler's state, asgd's average. */
static const suri_real *reported(lv_run *r) {
  if (!r->asgd) return r->x;
  suri_asgd_average_real(r->a, r->xe);
  return r->xe;
}

static void event(lv_run *r, suri_train_event_kind kind, const char *path) {
  suri_train_event ev;
  memset(&ev, 0, sizeof ev);
  int64_t k = lv_steps(r);
  double sec = cli_now() - r->t0;
  ev.kind = kind;
  ev.step = k, ev.total_steps = r->total;
  ev.epoch = k > 0 ? (k - 1) / r->spe : 0;
  ev.epochs = (r->total + r->spe - 1) / r->spe;
  ev.loss = kind == SURI_EV_EPOCH ? r->epoch_loss : r->loss_n ? r->loss_sum / (double)r->loss_n : NAN;
  ev.accuracy = NAN;
  ev.lr = r->o->lr;
  ev.seconds = sec;
  ev.samples_per_s = sec > 0 ? (double)lv_grad_evals(r) / sec : 0; /* gradient evaluations */
  ev.test_loss = r->test_loss, ev.test_accuracy = r->test_acc;
  ev.path = path;
  train_progress_cb(&ev, &r->prog);
}

static int end_of_epoch(lv_run *r) {
  r->epoch_loss = r->loss_n ? r->loss_sum / (double)r->loss_n : NAN;
  r->loss_sum = 0, r->loss_n = 0;
  int rc = eval_test(r, reported(r), &r->test_loss, &r->test_acc);
  if (rc) return rc;
  lv_metrics_line(r, "epoch", r->epoch_loss, r->test_loss, r->test_acc);
  event(r, SURI_EV_EPOCH, NULL);
  return CLI_OK;
}

/* ---- the step loop --------------------------------------------------------------------- */

static suri_status one_step(lv_run *r) {
  double loss = NAN;
  suri_status st = r->asgd ? suri_asgd_step(r->a, r->x, &loss) : suri_langevin_step(r->s, r->x, &loss);
  int64_t k = lv_steps(r);
  if (st) return st;
  if (!isfinite(loss))
    return suri_fail(SURI_ERR_NUMERIC, "the training loss is not finite at step %lld",
                     (long long)k);
  for (size_t j = 0; j < r->d; j++)
    if (!isfinite(r->x[j]))
      return suri_fail(SURI_ERR_NUMERIC, "parameter %zu is not finite after step %lld", j,
                       (long long)k);
  r->loss_sum += loss, r->loss_n++;
  return r->ss ? suri_samples_offer(r->ss, k, r->x) : SURI_OK;
}

static int stopped(lv_run *r) {
  int rc = lv_checkpoint_write(r);
  train_progress_clear(&r->prog);
  int sig = train_signal_caught();
  fprintf(stderr, "suri: interrupted at step %lld of %lld; checkpoint written to %s\n"
          "resume with: suri train --resume %s\n", (long long)lv_steps(r), (long long)r->total,
          r->o->out, r->o->out);
  if (rc) return rc;
  if (r->o->json) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", "interrupted");
    cJSON_AddStringToObject(j, "out", r->o->out);
    cJSON_AddNumberToObject(j, "steps", (double)lv_steps(r));
    cJSON_AddNumberToObject(j, "total_steps", (double)r->total);
    char *text = cJSON_PrintUnformatted(j);
    if (text) printf("%s\n", text);
    fflush(stdout);
    cJSON_free(text);
    cJSON_Delete(j);
  }
  return sig == SIGINT ? CLI_SIGINT : sig == SIGTERM ? CLI_SIGTERM : CLI_FAIL;
}

/* A failed step: non-finite values stop the run (--on-nonfinite stop) with advice; any other
 * library failure is reported as it is. */
static int step_failed(lv_run *r, suri_status st) {
  train_progress_clear(&r->prog);
  if (st != SURI_ERR_NUMERIC)
    return cli_fail(st, "--optim %s failed at step %lld (the last checkpoint in %s is kept)",
                    r->o->optim, (long long)lv_steps(r) + 1, r->o->out);
  return cli_fail(st, "--optim %s stopped at step %lld (--on-nonfinite stop; the last "
                  "checkpoint in %s is kept, no model file is written); lower --lr",
                  r->o->optim, (long long)lv_steps(r) + 1, r->o->out);
}

static int loop(lv_run *r) {
  const train_opts *o = r->o;
  volatile const int *stop = train_stop_flag();
  event(r, SURI_EV_START, NULL);
  for (int64_t k = lv_steps(r); k < r->total; k = lv_steps(r)) {
    suri_status st = one_step(r);
    if (st) return step_failed(r, st);
    k = lv_steps(r);
    if (o->log_every > 0 && k % o->log_every == 0)
      lv_metrics_line(r, "step", r->loss_sum / (double)r->loss_n, NAN, NAN);
    event(r, SURI_EV_STEP, NULL);
    int rc = (k % r->spe == 0 || k == r->total) ? end_of_epoch(r) : CLI_OK;
    if (!rc && o->checkpoint_every > 0 && k % o->checkpoint_every == 0 && k < r->total)
      rc = lv_checkpoint_write(r);
    if (rc) return rc;
    if (*stop && k < r->total) return stopped(r);
  }
  return CLI_OK;
}

/* ---- results --------------------------------------------------------------------------- */

static int write_outputs(lv_run *r, char *model_path, size_t n) {
  const train_opts *o = r->o;
  int rc = lv_checkpoint_write(r);
  if (rc) return rc;
  suri_status st;
  if (r->ss) {
    if ((st = suri_samples_write_npy(r->ss, o->samples_out)))
      return cli_fail(st, "cannot write the samples to %s", o->samples_out);
    if (r->test && (st = suri_bma_evaluate(r->m, suri_samples_count(r->ss), (int64_t)r->d,
                                           suri_samples_data(r->ss), r->test, &r->bma_loss,
                                           &r->bma_acc)))
      return cli_fail(st, "the model average on the test set failed");
    if (r->test) lv_metrics_line(r, "bma", NAN, r->bma_loss, r->bma_acc);
  }
  suri_model_objective_unpack(r->mo, reported(r));
  snprintf(model_path, n, "%s/model.safetensors", o->out);
  const char *keys[2] = {"optim", "parameters"};
  const char *vals[2] = {o->optim, r->asgd ? "average" : "last_state"};
  if ((st = suri_model_save(r->m, model_path, o->seed, 2, keys, vals)))
    return cli_fail(st, "cannot write %s", model_path);
  event(r, SURI_EV_DONE, model_path);
  return CLI_OK;
}

static void json_num(cJSON *j, const char *key, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
  else cJSON_AddNullToObject(j, key);
}

static void print_json(const lv_run *r, const char *model_path, double sec) {
  const train_opts *o = r->o;
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "status", "ok");
  cJSON_AddStringToObject(j, "out", o->out);
  cJSON_AddStringToObject(j, "model_file", model_path);
  cJSON_AddStringToObject(j, "model_parameters", r->asgd ? "average" : "last_state");
  cJSON_AddStringToObject(j, "optim", o->optim);
  cJSON_AddStringToObject(j, "model", o->model);
  cJSON_AddNumberToObject(j, "steps", (double)lv_steps(r));
  cJSON_AddNumberToObject(j, "resumed_from", (double)r->start);
  cJSON_AddNumberToObject(j, "grad_evals", (double)lv_grad_evals(r));
  json_num(j, "train_loss", r->epoch_loss);
  json_num(j, "test_loss", r->test_loss);
  json_num(j, "test_accuracy", r->test_acc);
  if (r->ss) {
    cJSON_AddStringToObject(j, "samples_file", o->samples_out);
    cJSON_AddNumberToObject(j, "samples", (double)suri_samples_count(r->ss));
    json_num(j, "bma_test_loss", r->bma_loss);
    json_num(j, "bma_test_accuracy", r->bma_acc);
  }
  cJSON_AddNumberToObject(j, "params", (double)r->d);
  cJSON_AddNumberToObject(j, "lr", o->lr);
  cJSON_AddNumberToObject(j, "batch", (double)o->batch);
  if (!r->asgd) {
    suri_langevin_hp hp = suri_langevin_defaults(r->kind);
    hp.eta = o->lr, hp.temperature = o->temperature, hp.data_size = o->data_size;
    json_num(j, "gamma", suri_langevin_gamma(&hp, r->n));
    cJSON_AddNumberToObject(j, "noise_std", suri_langevin_noise_std(&hp, r->n));
  } else {
    cJSON_AddNumberToObject(j, "lambda", o->asgd_lambda);
  }
  json_num(j, "seconds", sec);
  cJSON_AddNumberToObject(j, "threads", (double)o->threads);
  char *text = cJSON_PrintUnformatted(j);
  if (text) printf("%s\n", text);
  fflush(stdout);
  cJSON_free(text);
  cJSON_Delete(j);
}

static void print_result(const lv_run *r, double sec) {
  const train_opts *o = r->o;
  char buf[64];
  const char *at = r->asgd ? " (at the average theta-bar)" : " (at the last state)";
  if (!isnan(r->test_acc)) printf("test accuracy %.2f%%  ", 100.0 * r->test_acc);
  if (!isnan(r->test_loss)) printf("test loss %.4f  ", r->test_loss);
  printf("train loss %s%s\n", cli_fmt(buf, sizeof buf, r->epoch_loss), r->test ? at : "");
  if (r->ss && r->test) {
    printf("model average over %lld samples: ", (long long)suri_samples_count(r->ss));
    if (!isnan(r->bma_acc)) printf("test accuracy %.2f%%  ", 100.0 * r->bma_acc);
    printf("test loss %.4f\n", r->bma_loss);
  }
  printf("%s: %lld steps, %lld gradient evaluations (%.3g n) in %.3g s, %lld threads",
         o->optim, (long long)lv_steps(r), (long long)lv_grad_evals(r),
         (double)lv_grad_evals(r) / (double)r->n, sec, (long long)o->threads);
  if (r->start) printf(", resumed from step %lld", (long long)r->start);
  printf("\nwrote %s/: config.json metrics.jsonl model.safetensors (%s) checkpoint.safetensors\n",
         o->out, r->asgd ? "the average theta-bar" : "the last state");
  if (r->ss)
    printf("wrote %s: (%lld, %zu) float32 samples\n", o->samples_out,
           (long long)suri_samples_count(r->ss), r->d);
  fflush(stdout);
}

static void print_header(const lv_run *r) {
  const train_opts *o = r->o;
  fprintf(stderr, "sampling %s\n  data %s (%lld samples)", o->model, r->train->name,
          (long long)r->n);
  if (r->test) fprintf(stderr, ", test %s (%lld samples)", r->test->name, (long long)r->test->n);
  fprintf(stderr, "\n  %s lr %g, batch %lld", o->optim, o->lr, (long long)o->batch);
  if (r->asgd) {
    fprintf(stderr, ", lambda %g, symmetric init %s", o->asgd_lambda, o->symmetric_init ? "on" : "off");
  } else {
    suri_langevin_hp hp = suri_langevin_defaults(r->kind);
    hp.eta = o->lr, hp.temperature = o->temperature, hp.data_size = o->data_size;
    if (r->kind == SURI_LANGEVIN_SVRG || r->kind == SURI_LANGEVIN_SARAH)
      fprintf(stderr, ", loop %lld", (long long)o->loop);
    fprintf(stderr, ", temperature %g, gamma %g, noise std %g, weight decay %g", o->temperature,
            suri_langevin_gamma(&hp, r->n), suri_langevin_noise_std(&hp, r->n), o->weight_decay);
  }
  fprintf(stderr, "\n  %lld steps, seed %llu, %lld threads\n  %s %s\n", (long long)r->total,
          (unsigned long long)o->seed, (long long)o->threads, o->resume ? "resuming" : "writing",
          o->out);
}

/* ---- the command ------------------------------------------------------------------------ */

static int open_metrics(lv_run *r) {
  char path[TRAIN_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/metrics.jsonl", r->o->out);
  r->metrics = fopen(path, r->o->resume ? "a" : "w");
  return r->metrics ? CLI_OK : cli_fail(SURI_ERR_IO, "cannot open %s for writing", path);
}

static int setup(lv_run *r, int write_config) {
  train_opts *o = r->o;
  if (o->on_nonfinite != SURI_NONFINITE_STOP)
    return cli_usage_error("train", "--on-nonfinite %s is not available for --optim %s: a "
                           "sampler's step cannot be dropped without changing the chain it "
                           "samples; use stop", suri_nonfinite_name(o->on_nonfinite), o->optim);
  suri_model_spec spec;
  suri_status st = suri_model_spec_parse(o->model, &spec);
  if (st) return cli_fail(st, "bad model '%s'", o->model);
  int rc = train_load_data(o, 0, &r->train, &r->test);
  if (rc) return rc;
  r->n = r->train->n;
  r->asgd = strcmp(o->optim, "asgd") == 0;
  if (!r->asgd && (st = suri_langevin_kind_parse(o->optim, &r->kind)))
    return cli_fail(st, "bad optim '%s'", o->optim);
  if ((rc = resolve_sizes(r, &spec, !o->resume))) return rc;
  r->d = 0;
  for (int l = 0; l + 1 < spec.n_widths; l++) /* weights and biases (the memory check's P) */
    r->d += (size_t)((spec.width[l] + 1) * spec.width[l + 1]);
  if ((rc = lv_check_memory(r, &spec))) return rc;
  if ((rc = build_model(r, &spec)) || (rc = build_sampler(r))) return rc;
  if (!o->resume && (rc = train_prepare_out(o->out))) return rc;
  if (o->resume && (rc = lv_checkpoint_read(r))) return rc;
  if (write_config && (rc = train_config_write(o, o->out))) return rc;
  return open_metrics(r);
}

static void cleanup(lv_run *r) {
  if (r->metrics) fclose(r->metrics);
  suri_samples_free(r->ss);
  suri_langevin_free(r->s);
  suri_asgd_free(r->a);
  suri_model_objective_free(r->mo);
  suri_free(r->x);
  suri_free(r->theta0);
  suri_free(r->xe);
  suri_free(r->test_t);
  suri_model_free(r->m);
  suri_dataset_free(r->train);
  suri_dataset_free(r->test);
}

int cli_train_langevin(train_opts *o, int write_config) {
  lv_run r;
  memset(&r, 0, sizeof r);
  r.o = o;
  r.epoch_loss = r.test_loss = r.test_acc = r.bma_loss = r.bma_acc = NAN;
  train_signals_install();
  int rc = cli_set_threads(o->threads);
  if (!rc) {
    o->threads = suri_get_threads();
    rc = setup(&r, write_config);
  }
  train_progress_init(&r.prog, o->quiet || o->json);
  r.t0 = cli_now();
  if (!rc && !o->quiet && !o->json) print_header(&r);
  if (!rc) rc = loop(&r);
  char model_path[TRAIN_PATH_MAX + 32] = "";
  if (!rc) rc = write_outputs(&r, model_path, sizeof model_path);
  train_progress_clear(&r.prog);
  double sec = cli_now() - r.t0;
  if (!rc && o->json) print_json(&r, model_path, sec);
  else if (!rc) print_result(&r, sec);
  cleanup(&r);
  return rc;
}
