/* train.c - the minibatch training loop. Batch order for epoch e is a permutation drawn from
 * (seed, e) alone, so a run resumed at step s continues exactly where it stopped; the step
 * itself is forward -> backward -> optimizer update on the flat blocks, with no allocation.
 * Metrics go to a JSON-lines file and to the caller's callback; the library never prints.
 * Every step checks that the loss, the gradients (before the update) and the parameters and
 * state (after it) are finite, and applies the run's on_nonfinite policy (stop, skip the
 * step, or restore the last checkpoint) at the step where a NaN or Inf first appears. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "train_internal.h"

suri_train_config suri_train_defaults(void) {
  suri_train_config c;
  memset(&c, 0, sizeof c);
  c.optim = "sgd";
  c.lr = 0.1;
  c.momentum = -1;
  c.beta1 = 0.9;
  c.beta2 = 0.999;
  c.eps = 1e-8;
  c.weight_decay = -1;
  c.schedule = "constant";
  c.batch = 128;
  c.epochs = 10;
  c.seed = 1;
  c.log_every = 50;
  return c;
}

static const char *const nonfinite_names[] = {"stop", "skip-step", "restore"};

suri_status suri_nonfinite_parse(const char *name, suri_nonfinite_policy *out) {
  for (int i = 0; i < 3; i++)
    if (name && strcmp(name, nonfinite_names[i]) == 0) {
      *out = (suri_nonfinite_policy)i;
      return SURI_OK;
    }
  return suri_fail(SURI_ERR_ARG, "unknown non-finite policy '%s' (stop, skip-step, restore)",
                   name ? name : "");
}

const char *suri_nonfinite_name(suri_nonfinite_policy p) {
  return (unsigned)p <= SURI_NONFINITE_RESTORE ? nonfinite_names[p] : "?";
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

suri_status suri_train_check_data(const suri_model *m, const suri_dataset *d, const char *what) {
  const suri_model_spec *s = suri_model_get_spec(m);
  int64_t in = s->width[0], out = s->width[s->n_widths - 1];
  if (d->n < 1) return suri_fail(SURI_ERR_ARG, "%s data '%s' has no samples", what, d->name);
  if (d->dim != in)
    return suri_fail(SURI_ERR_ARG, "%s data '%s' has %lld features but the model's input width "
                     "is %lld", what, d->name, (long long)d->dim, (long long)in);
  if (s->loss == SURI_LOSS_CE) {
    if (!d->y || d->classes < 1)
      return suri_fail(SURI_ERR_ARG, "%s data '%s' has no class labels but the model uses "
                       "loss=ce", what, d->name);
    if (d->classes > out)
      return suri_fail(SURI_ERR_ARG, "%s data '%s' has %lld classes but the model has %lld "
                       "outputs", what, d->name, (long long)d->classes, (long long)out);
  } else if (s->loss == SURI_LOSS_MSE) {
    if (!d->t || d->targets != out)
      return suri_fail(SURI_ERR_ARG, "%s data '%s' needs %lld regression targets per sample for "
                       "loss=mse (has %lld)", what, d->name, (long long)out,
                       (long long)(d->t ? d->targets : 0));
  } else if (!d->t && !d->y) {
    return suri_fail(SURI_ERR_ARG, "%s data '%s' has no 0/1 targets for loss=logistic", what,
                     d->name);
  }
  return SURI_OK;
}

/* Builds the optimizer described by the config for n parameters. */
static suri_status make_optim(const suri_train_config *c, size_t n, suri_optim **out) {
  suri_optim_kind kind;
  suri_status st = suri_optim_kind_parse(c->optim, &kind);
  if (st) return st;
  suri_optim_hp hp = suri_optim_defaults(kind);
  hp.lr = c->lr;
  if (c->momentum >= 0) hp.momentum = c->momentum;
  hp.nesterov = c->nesterov;
  hp.beta1 = c->beta1;
  hp.beta2 = c->beta2;
  hp.eps = c->eps;
  if (c->weight_decay >= 0) hp.weight_decay = c->weight_decay;
  if ((st = suri_optim_check(kind, &hp))) return st;
  *out = suri_optim_new(kind, n, &hp);
  return *out ? SURI_OK : suri_fail(SURI_ERR_NOMEM, "cannot allocate optimizer state");
}

typedef struct loop {
  suri_model *m;
  const suri_dataset *train, *test;
  const suri_train_config *c;
  suri_train_callback cb;
  void *user;
  suri_optim *opt;
  suri_schedule sched;
  FILE *metrics;
  int64_t spe, total, out_w;
  int64_t *order, *eidx; /* eidx: (max batch) row numbers for evaluating a compact set */
  suri_real *tb;
  int32_t *yb;
  double t0, loss_sum, epoch_t0;
  int64_t correct, seen, epoch_seen;
  double last_loss, last_acc; /* running metrics of the last finished epoch */
  double last_test_loss, last_test_acc; /* its test metrics (NaN if not measured) */
  /* Non-finite handling: counts, and the checkpoint that a restore would go back to. */
  int64_t skipped, restores, skips_in_row, restores_since_ckpt;
  int64_t ckpt_step;          /* step of the checkpoint on disk, -1 if none */
  char nf_what[256];          /* what was non-finite at the current step */
} loop;

static int emit(loop *L, suri_train_event *ev, int to_file) {
  if (to_file && L->metrics) suri_metrics_write(L->metrics, ev);
  return L->cb ? L->cb(ev, L->user) : 0;
}

static void fill_event(loop *L, suri_train_event *ev, suri_train_event_kind k, int64_t step,
                       double lr) {
  memset(ev, 0, sizeof *ev);
  ev->kind = k;
  ev->step = step;
  ev->total_steps = L->total;
  ev->epoch = L->spe ? (step > 0 ? (step - 1) / L->spe : 0) : 0;
  ev->epochs = (L->total + L->spe - 1) / L->spe;
  ev->loss = L->seen ? L->loss_sum / (double)L->seen : NAN;
  ev->accuracy = (L->seen && suri_model_get_spec(L->m)->loss != SURI_LOSS_MSE)
                     ? (double)L->correct / (double)L->seen : NAN;
  ev->lr = lr;
  ev->seconds = now_seconds() - L->t0;
  double dt = now_seconds() - L->epoch_t0;
  ev->samples_per_s = dt > 0 ? (double)L->epoch_seen / dt : 0;
  ev->test_loss = NAN;
  ev->test_accuracy = NAN;
}

/* 1 if x[0..n) holds a NaN or an infinity. An IEEE value is non-finite exactly when its
 * exponent field is all ones, i.e. when its bits with the sign cleared are >= those of +Inf;
 * the maximum of those is an integer reduction that vectorises (a float sum would not, without
 * reassociation), so the check costs one streaming pass over the block. */
#ifdef SURI_REAL_DOUBLE
typedef uint64_t real_bits;
#define BITS_ABS 0x7fffffffffffffffull
#define BITS_INF 0x7ff0000000000000ull
#else
typedef uint32_t real_bits;
#define BITS_ABS 0x7fffffffu
#define BITS_INF 0x7f800000u
#endif
static int any_nonfinite(const suri_real *x, size_t n) {
  real_bits m = 0;
  /* Threads for large blocks (the max is exact in any order, so this stays deterministic). */
#pragma omp parallel for simd reduction(max : m) if (n >= ((size_t)1 << 18))
  for (size_t i = 0; i < n; i++) {
    real_bits b;
    memcpy(&b, &x[i], sizeof b);
    b &= BITS_ABS;
    m = b > m ? b : m;
  }
  return m >= BITS_INF;
}

/* Names the first non-finite value in the model's tensor table order into L->nf_what: in the
 * gradient block (grads = 1) or in the parameter/state blocks (grads = 0). */
static void name_nonfinite(loop *L, int grads) {
  suri_model *m = L->m;
  for (int i = 0; i < suri_model_tensor_count(m); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    if (grads && t->is_state) continue;
    const suri_real *base = grads ? suri_model_grads(m)
                            : t->is_state ? suri_model_state(m) : suri_model_params(m);
    int64_t n = t->dim[0] * (t->rank == 2 ? t->dim[1] : 1);
    for (int64_t k = 0; k < n; k++) {
      suri_real v = base[t->offset + (size_t)k];
      if (isfinite(v)) continue;
      snprintf(L->nf_what, sizeof L->nf_what, "%s %s has %s at element %lld%s",
               grads ? "the gradient of" : t->is_state ? "the state tensor" : "the parameter",
               t->name, isnan(v) ? "a NaN" : v > 0 ? "+Inf" : "-Inf", (long long)k,
               grads ? "" : " after the update");
      return;
    }
  }
  snprintf(L->nf_what, sizeof L->nf_what, "a non-finite %s", grads ? "gradient" : "parameter");
}

/* Why a stop could not be avoided under the run's policy, for the message. */
static void stop_reason(const loop *L, int applied, char *buf, size_t n) {
  const suri_train_config *c = L->c;
  if (c->on_nonfinite == SURI_NONFINITE_SKIP && applied)
    snprintf(buf, n, "skip-step cannot undo an update that was already applied; "
             "--on-nonfinite restore can");
  else if (c->on_nonfinite == SURI_NONFINITE_SKIP)
    snprintf(buf, n, "%d steps in a row were non-finite", SURI_NONFINITE_MAX_SKIPS);
  else if (c->on_nonfinite == SURI_NONFINITE_RESTORE && L->ckpt_step < 0)
    snprintf(buf, n, "there is no checkpoint to restore yet (--checkpoint-every N writes one)");
  else if (c->on_nonfinite == SURI_NONFINITE_RESTORE)
    snprintf(buf, n, "%d restores without a new checkpoint in between",
             SURI_NONFINITE_MAX_RESTORES);
  else
    snprintf(buf, n, "--on-nonfinite stop; skip-step or restore would continue");
}

/* Applies the on_nonfinite policy to step `step` (0-based), whose problem is in L->nf_what.
 * applied: the optimizer update was already made. SURI_OK when the run can go on. */
static suri_status handle_nonfinite(loop *L, int64_t step, int applied, double lr) {
  const suri_train_config *c = L->c;
  long long s1 = (long long)step + 1, ep = (long long)(step / L->spe) + 1;
  char msg[512];
  suri_train_event ev;
  if (c->on_nonfinite == SURI_NONFINITE_SKIP && !applied &&
      L->skips_in_row < SURI_NONFINITE_MAX_SKIPS) {
    L->skips_in_row++;
    L->skipped++;
    snprintf(msg, sizeof msg, "step %lld (epoch %lld): %s; the update was skipped", s1, ep,
             L->nf_what);
  } else if (c->on_nonfinite == SURI_NONFINITE_RESTORE && L->ckpt_step >= 0 &&
             L->restores_since_ckpt < SURI_NONFINITE_MAX_RESTORES) {
    train_pos pos;
    suri_status st = suri_checkpoint_read(L->m, L->opt, &pos, c->out_dir);
    if (st) return st;
    L->restores++;
    L->restores_since_ckpt++;
    snprintf(msg, sizeof msg, "step %lld (epoch %lld): %s; restored the checkpoint of step %lld",
             s1, ep, L->nf_what, (long long)pos.step);
  } else {
    char why[160], keep[1024];
    stop_reason(L, applied, why, sizeof why);
    if (L->ckpt_step >= 0)
      snprintf(keep, sizeof keep, "; the last good checkpoint (step %lld) is kept in %s/"
               "checkpoint.safetensors", (long long)L->ckpt_step, c->out_dir);
    else
      keep[0] = '\0';
    return suri_fail(SURI_ERR_NUMERIC, "non-finite value at step %lld (epoch %lld): %s; "
                     "training stopped (%s). Lower the learning rate (--lr)%s", s1, ep,
                     L->nf_what, why, keep);
  }
  fill_event(L, &ev, SURI_EV_NONFINITE, step + 1, lr);
  ev.message = msg;
  emit(L, &ev, 0);
  return SURI_OK;
}

/* One optimisation step on batch k of the current epoch order. */
static suri_status one_step(loop *L, int64_t step, double *lr) {
  const suri_dataset *d = L->train;
  int64_t B = L->c->batch, k = step % L->spe, lo = k * B;
  int64_t b = d->n - lo < B ? d->n - lo : B;
  /* Rows go straight into the graph's input buffer (set_batch then copies nothing): one
   * (B, IN) copy less per step and no staging buffer in the resident set. */
  suri_real *xb = suri_graph_value(suri_model_graph(L->m), suri_model_input(L->m));
  suri_data_gather(d, L->order + lo, b, xb, L->yb, L->tb);
  const suri_model_spec *s = suri_model_get_spec(L->m);
  const int32_t *labels = s->loss == SURI_LOSS_CE ? L->yb : NULL;
  if (s->loss == SURI_LOSS_LOGISTIC && !d->t) /* 0/1 class labels as logistic targets */
    for (int64_t i = 0; i < b; i++) L->tb[i] = (suri_real)L->yb[i];
  const suri_real *targets = s->loss == SURI_LOSS_CE ? NULL : L->tb;
  suri_status st = suri_model_set_batch(L->m, b, xb, labels, targets);
  if (st) return st;
  *lr = suri_schedule_lr(&L->sched, step);
  size_t np = suri_model_param_count(L->m);
  /* Under stop a non-finite gradient ends the run whether it is seen before or after the
   * update, so plain SGD is folded into backward (suri_model_train_step): a non-finite
   * gradient then shows as a non-finite parameter after the update (p - lr g is NaN or
   * infinite whenever g is, for lr > 0; a step with lr = 0 is not folded), and the gradient
   * block, which folded weights leave unwritten, is not checked. Otherwise, and for skip-step and restore, every gradient
   * is checked before the update: two calls. */
  int folded = L->c->on_nonfinite == SURI_NONFINITE_STOP && suri_train_step_folds(L->opt, *lr);
  double loss;
  st = folded ? suri_model_train_step(L->m, L->opt, *lr, &loss)
              : suri_model_loss_grad(L->m, &loss);
  if (st) return st;
  if (!isfinite(loss)) { /* nothing was updated, on either path */
    snprintf(L->nf_what, sizeof L->nf_what, "the loss is %s", isnan(loss) ? "NaN" : "infinite");
    return handle_nonfinite(L, step, 0, *lr);
  }
  if (!folded && any_nonfinite(suri_model_grads(L->m), np)) {
    name_nonfinite(L, 1);
    return handle_nonfinite(L, step, 0, *lr);
  }
  if (!folded) st = suri_optim_step(L->opt, suri_model_params(L->m), suri_model_grads(L->m), *lr);
  if (st) return st;
  if (any_nonfinite(suri_model_params(L->m), np) ||
      any_nonfinite(suri_model_state(L->m), suri_model_state_count(L->m))) {
    name_nonfinite(L, 0);
    return handle_nonfinite(L, step, 1, *lr);
  }
  L->skips_in_row = 0;
  const suri_real *o = suri_graph_value(suri_model_graph(L->m), suri_model_output(L->m));
  if (s->loss == SURI_LOSS_CE) L->correct += suri_count_correct(b, L->out_w, o, L->yb);
  else if (s->loss == SURI_LOSS_LOGISTIC)
    for (int64_t i = 0; i < b; i++) L->correct += (o[i] > 0) == (L->tb[i] > 0.5);
  L->loss_sum += loss * (double)b;
  L->seen += b;
  L->epoch_seen += b;
  return SURI_OK;
}

/* Mean loss and accuracy of the model on set t (eval mode). A compact set (u8 features, see
 * suri_data_load_u8) is converted chunk by chunk into the graph's input buffer, with the
 * chunking and the sums of suri_model_evaluate, so both storages give bitwise the same
 * numbers. */
static suri_status evaluate(loop *L, const suri_dataset *t, double *loss, double *acc) {
  if (!t->x8) return suri_model_evaluate(L->m, t->n, t->x, t->y, t->t, loss, acc);
  const suri_model_spec *s = suri_model_get_spec(L->m);
  suri_graph *g = suri_model_graph(L->m);
  int64_t B = suri_model_max_batch(L->m), ow = L->out_w, correct = 0;
  int ce = s->loss == SURI_LOSS_CE;
  if ((ce && !t->y) || (!ce && !t->t))
    return suri_model_evaluate(L->m, t->n, NULL, t->y, t->t, loss, acc); /* fails: its message */
  int was_training = suri_graph_training(g);
  suri_real *xb = suri_graph_value(g, suri_model_input(L->m));
  double total = 0;
  suri_status st = SURI_OK;
  suri_graph_set_training(g, 0);
  for (int64_t i = 0; i < t->n && !st; i += B) {
    int64_t b = t->n - i < B ? t->n - i : B;
    for (int64_t k = 0; k < b; k++) L->eidx[k] = i + k;
    suri_data_gather(t, L->eidx, b, xb, NULL, NULL);
    st = suri_model_set_batch(L->m, b, xb, ce ? t->y + i : NULL, ce ? NULL : t->t + i * ow);
    if (!st) st = suri_graph_forward(g);
    if (st) break;
    total += (double)suri_graph_value(g, suri_model_loss(L->m))[0] * (double)b;
    const suri_real *o = suri_graph_value(g, suri_model_output(L->m));
    if (ce) correct += suri_count_correct(b, ow, o, t->y + i);
    else if (s->loss == SURI_LOSS_LOGISTIC)
      for (int64_t k = 0; k < b; k++) correct += (o[k] > 0) == (t->t[i + k] > 0.5);
  }
  suri_graph_set_training(g, was_training);
  if (st) return st;
  *loss = total / (double)t->n;
  *acc = s->loss == SURI_LOSS_MSE ? NAN : (double)correct / (double)t->n;
  return SURI_OK;
}

static suri_status end_epoch(loop *L, int64_t step, double lr, int *stop) {
  suri_train_event ev;
  fill_event(L, &ev, SURI_EV_EPOCH, step, lr);
  ev.epoch = step / L->spe - (step % L->spe == 0 ? 1 : 0);
  if (L->test) {
    const suri_dataset *t = L->test;
    suri_status st = evaluate(L, t, &ev.test_loss, &ev.test_accuracy);
    if (st) return st;
  }
  *stop |= emit(L, &ev, 1);
  L->last_test_loss = ev.test_loss;
  L->last_test_acc = ev.test_accuracy;
  L->last_loss = ev.loss;
  L->last_acc = ev.accuracy;
  L->loss_sum = 0;
  L->correct = L->seen = L->epoch_seen = 0;
  L->epoch_t0 = now_seconds();
  return SURI_OK;
}

static suri_status checkpoint(loop *L, int64_t step, double lr, int *stop) {
  if (!L->c->out_dir) return SURI_OK;
  train_pos pos = {step, suri_graph_rng_calls(suri_model_graph(L->m)), L->loss_sum, L->correct,
                   L->seen, L->last_loss, L->last_acc, L->last_test_loss, L->last_test_acc};
  char path[4096];
  suri_status st = suri_checkpoint_write(L->m, L->opt, &pos, L->c->seed, L->c->out_dir, path,
                                         sizeof path);
  if (st) return st;
  L->ckpt_step = step;
  L->restores_since_ckpt = 0;
  suri_train_event ev;
  fill_event(L, &ev, SURI_EV_CHECKPOINT, step, lr);
  ev.path = path;
  *stop |= emit(L, &ev, 0);
  return SURI_OK;
}

static suri_status run_steps(loop *L, int64_t start, int64_t *done) {
  const suri_train_config *c = L->c;
  double lr = suri_schedule_lr(&L->sched, start);
  int stop = 0;
  suri_status st = SURI_OK;
  int64_t step = start;
  for (; step < L->total && !st; ) {
    if (step % L->spe == 0 || step == start) suri_data_epoch_order(L->train, c->seed, step / L->spe, L->order);
    st = one_step(L, step, &lr);
    if (st) break;
    step++;
    suri_train_event ev;
    fill_event(L, &ev, SURI_EV_STEP, step, lr);
    stop |= emit(L, &ev, c->log_every > 0 && step % c->log_every == 0);
    if (step % L->spe == 0 || step == L->total) st = end_epoch(L, step, lr, &stop);
    if (!st && c->checkpoint_every > 0 && step % c->checkpoint_every == 0 && step < L->total)
      st = checkpoint(L, step, lr, &stop);
    if (!st && (stop || (c->stop && *c->stop))) {
      st = checkpoint(L, step, lr, &stop);
      if (!st) st = suri_fail(SURI_ERR_INTERRUPTED, "training stopped at step %lld of %lld",
                              (long long)step, (long long)L->total);
    }
  }
  *done = step;
  return st;
}

static suri_status check_config(const suri_train_config *c) {
  if (!(c->lr > 0) || !isfinite(c->lr))
    return suri_fail(SURI_ERR_ARG, "learning rate must be a finite number > 0 (got %g)", c->lr);
  if (c->batch < 1) return suri_fail(SURI_ERR_ARG, "batch must be >= 1 (got %lld)", (long long)c->batch);
  if (c->steps < 0 || (c->steps == 0 && c->epochs < 1))
    return suri_fail(SURI_ERR_ARG, "need epochs >= 1 or steps >= 1");
  if (c->checkpoint_every < 0 || c->log_every < 0)
    return suri_fail(SURI_ERR_ARG, "checkpoint_every and log_every must be >= 0");
  if (c->resume && !c->out_dir) return suri_fail(SURI_ERR_ARG, "resume needs out_dir");
  if ((unsigned)c->on_nonfinite > SURI_NONFINITE_RESTORE)
    return suri_fail(SURI_ERR_ARG, "on_nonfinite must be stop, skip-step or restore (got %d)",
                     (int)c->on_nonfinite);
  return SURI_OK;
}

static suri_status setup(loop *L, int64_t *start) {
  const suri_train_config *c = L->c;
  const suri_model_spec *s = suri_model_get_spec(L->m);
  int64_t n = L->train->n, B = c->batch;
  if (B > suri_model_max_batch(L->m))
    return suri_fail(SURI_ERR_ARG, "batch %lld exceeds the model's compiled batch %lld",
                     (long long)B, (long long)suri_model_max_batch(L->m));
  L->spe = c->drop_last ? n / B : (n + B - 1) / B;
  if (L->spe < 1)
    return suri_fail(SURI_ERR_ARG, "batch %lld is larger than the %lld training samples with "
                     "drop_last", (long long)B, (long long)n);
  L->total = c->steps ? c->steps : c->epochs * L->spe;
  L->out_w = s->width[s->n_widths - 1];
  suri_status st = suri_schedule_parse(c->schedule, c->lr, L->total, &L->sched);
  if (!st) st = make_optim(c, suri_model_param_count(L->m), &L->opt);
  if (st) return st;
  L->order = suri_alloc((size_t)n * sizeof(int64_t));
  L->eidx = suri_alloc((size_t)suri_model_max_batch(L->m) * sizeof(int64_t));
  L->yb = suri_alloc((size_t)B * sizeof(int32_t));
  L->tb = suri_alloc((size_t)(B * (L->out_w > 1 ? L->out_w : 1)) * sizeof(suri_real));
  if (!L->order || !L->eidx || !L->yb || !L->tb) return SURI_ERR_NOMEM;
  *start = 0;
  /* Dropout masks follow the training seed (not the init seed), counted from 0 for a fresh run
   * and from the checkpoint's counter on resume. */
  suri_graph_set_rng(suri_model_graph(L->m), suri_rng_make(c->seed, SURI_RNG_DROPOUT));
  suri_graph_set_rng_calls(suri_model_graph(L->m), 0);
  if (c->out_dir && (st = suri_ensure_dir(c->out_dir))) return st;
  if (c->resume) {
    train_pos pos;
    if ((st = suri_checkpoint_read(L->m, L->opt, &pos, c->out_dir))) return st;
    if (pos.step > L->total)
      return suri_fail(SURI_ERR_ARG, "checkpoint in %s is at step %lld, beyond the run's %lld "
                       "steps", c->out_dir, (long long)pos.step, (long long)L->total);
    suri_graph_set_rng_calls(suri_model_graph(L->m), pos.rng_calls);
    *start = pos.step;
    L->ckpt_step = pos.step;
    L->last_loss = pos.last_loss, L->last_acc = pos.last_acc;
    L->last_test_loss = pos.last_test_loss, L->last_test_acc = pos.last_test_acc;
    if (pos.step % L->spe != 0) { /* mid-epoch: continue the epoch's running metrics */
      L->loss_sum = pos.loss_sum;
      L->correct = pos.correct;
      L->seen = pos.seen;
    }
  }
  if (c->out_dir) {
    char path[4096];
    if ((st = suri_path_join(path, sizeof path, c->out_dir, "metrics.jsonl"))) return st;
    L->metrics = fopen(path, c->resume ? "a" : "w");
    if (!L->metrics) return suri_fail(SURI_ERR_IO, "cannot open %s for writing", path);
  }
  return SURI_OK;
}

/* The run's summary as JSON, stored in the model file's metadata ("train_summary"). Returns a
 * malloc'ed string or NULL. NaN metrics become null. */
static char *summary_json(const loop *L, const suri_train_summary *sum) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  const double vals[] = {sum->final_loss, sum->final_accuracy, sum->test_loss, sum->test_accuracy};
  const char *keys[] = {"train_loss", "train_accuracy", "test_loss", "test_accuracy"};
  cJSON_AddStringToObject(o, "optim", L->c->optim);
  cJSON_AddNumberToObject(o, "lr", L->c->lr);
  cJSON_AddStringToObject(o, "schedule", L->c->schedule);
  cJSON_AddNumberToObject(o, "batch", (double)L->c->batch);
  cJSON_AddNumberToObject(o, "steps", (double)sum->steps);
  cJSON_AddNumberToObject(o, "epochs", (double)sum->steps / (double)L->spe);
  cJSON_AddStringToObject(o, "train_data", L->train->name);
  cJSON_AddStringToObject(o, "test_data", L->test ? L->test->name : "");
  for (int i = 0; i < 4; i++) {
    if (isfinite(vals[i])) cJSON_AddNumberToObject(o, keys[i], vals[i]);
    else cJSON_AddNullToObject(o, keys[i]);
  }
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

static suri_status finish(loop *L, int64_t step, suri_train_summary *out) {
  suri_status st = SURI_OK;
  char path[4096] = "";
  double lr = suri_schedule_lr(&L->sched, step > 0 ? step - 1 : 0);
  suri_train_event ev;
  fill_event(L, &ev, SURI_EV_DONE, step, lr);
  out->steps = step;
  out->seconds = ev.seconds;
  out->samples_per_s =
      ev.seconds > 0 ? (double)(step - out->resumed_from) * (double)L->c->batch / ev.seconds : 0;
  if (L->c->out_dir) {
    char *json = summary_json(L, out);
    const char *key = "train_summary", *val = json;
    if (!json) return suri_fail(SURI_ERR_NOMEM, "cannot format the training summary");
    st = checkpoint(L, step, lr, &(int){0});
    if (!st) st = suri_path_join(path, sizeof path, L->c->out_dir, "model.safetensors");
    if (!st) st = suri_model_save(L->m, path, L->c->seed, 1, &key, &val);
    cJSON_free(json);
    if (st) return st;
  }
  ev.path = L->c->out_dir ? path : NULL;
  ev.test_loss = out->test_loss;
  ev.test_accuracy = out->test_accuracy;
  emit(L, &ev, 0);
  return SURI_OK;
}

suri_status suri_train_run(suri_model *m, const suri_dataset *train, const suri_dataset *test,
                           const suri_train_config *cfg, suri_train_callback cb, void *user,
                           suri_train_summary *out) {
  suri_status st = check_config(cfg);
  if (!st) st = suri_train_check_data(m, train, "training");
  if (!st && test) st = suri_train_check_data(m, test, "test");
  if (st) return st;
  loop L;
  memset(&L, 0, sizeof L);
  L.last_loss = L.last_acc = L.last_test_loss = L.last_test_acc = NAN;
  L.ckpt_step = -1;
  L.m = m, L.train = train, L.test = test, L.c = cfg, L.cb = cb, L.user = user;
  int64_t start = 0, done = 0;
  suri_train_summary sum;
  memset(&sum, 0, sizeof sum);
  sum.test_loss = sum.test_accuracy = NAN;
  st = setup(&L, &start);
  if (!st) {
    sum.resumed_from = start;
    L.t0 = L.epoch_t0 = now_seconds();
    suri_train_event ev;
    fill_event(&L, &ev, SURI_EV_START, start, suri_schedule_lr(&L.sched, start));
    emit(&L, &ev, 0);
    st = run_steps(&L, start, &done);
  }
  sum.skipped_steps = L.skipped;
  sum.restores = L.restores;
  if (!st) {
    sum.final_loss = L.last_loss;
    sum.final_accuracy = L.last_acc;
    sum.test_loss = L.last_test_loss;
    sum.test_accuracy = L.last_test_acc;
    /* The last epoch evaluated the final model already, unless no step was run. */
    if (test && done == start)
      st = evaluate(&L, test, &sum.test_loss, &sum.test_accuracy);
  }
  if (!st) st = finish(&L, done, &sum);
  if (L.metrics) fclose(L.metrics);
  suri_optim_free(L.opt);
  suri_free(L.order);
  suri_free(L.eidx);
  suri_free(L.yb);
  suri_free(L.tb);
  if (!st && out) *out = sum;
  return st;
}
