/* run.c - the drivers of the mean-field particle system: epochs of MFLD steps (full batch,
 * minibatch or SVRG estimator, optional annealing lambda2_k = c / log(e + k eta) of Chizat,
 * TMLR 2022, mfld.md section 3), PDA outer iterations or P-SDCA coordinate steps, with a
 * monitor (objective F = risk + L2 term, train / test loss and error, duality gap) before
 * training, every monitor_every epochs and after the last epoch, reported through a callback
 * and formatted as JSON lines by suri_mfld_event_json. Minibatch order: the permutation of
 * suri_data_epoch_order (seed, epoch), so a run depends on the seed only. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mfld_internal.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t auto_spe(const suri_mfld *m, int64_t n) {
  const suri_mfld_config *c = &m->c;
  if (c->steps_per_epoch > 0) return c->steps_per_epoch;
  if (c->method == SURI_MFLD_METHOD_PDA) return (n + c->pda_batch - 1) / c->pda_batch;
  if (c->method == SURI_MFLD_METHOD_PSDCA) return n;
  if (c->estimator == SURI_MFLD_FULL) return 10;
  return (n + c->batch - 1) / c->batch;
}

static double lambda2_now(const suri_mfld *m) {
  if (m->c.anneal > 0) return m->c.anneal / log(exp(1.0) + (double)m->lsteps * m->c.eta);
  return m->c.lambda2;
}

typedef struct run_state {
  suri_mfld *m;
  const suri_dataset *train, *test;
  suri_mfld_callback cb;
  void *user;
  double t0, step_s;
  int64_t lsteps0, epochs, total;
  suri_mfld_event last;
} run_state;

static suri_status monitor(run_state *R, int64_t epoch) {
  suri_mfld *m = R->m;
  suri_mfld_event *ev = &R->last;
  memset(ev, 0, sizeof *ev);
  ev->method = m->c.method;
  ev->epoch = epoch;
  ev->epochs = R->epochs;
  ev->step = m->outer;
  ev->total_steps = R->total;
  ev->langevin_steps = m->lsteps;
  ev->lambda2 = lambda2_now(m);
  suri_status st = suri_mfld_evaluate(m, R->train, &ev->risk, &ev->train_err);
  if (st) return st;
  ev->l2 = m->c.lambda1 * mf_l2(m);
  ev->F = ev->risk + ev->l2;
  if (!isfinite(ev->F))
    return suri_fail(SURI_ERR_NUMERIC,
                     "mfld: the objective is %g after %lld steps (%lld Langevin "
                     "steps): the dynamics diverged, lower eta",
                     ev->F, (long long)m->outer, (long long)m->lsteps);
  ev->test_loss = ev->test_err = NAN;
  if (R->test && (st = suri_mfld_evaluate(m, R->test, &ev->test_loss, &ev->test_err))) return st;
  double wsum2 = 0;
  for (int64_t j = 0; m->w && j < m->M; j++) wsum2 += m->w[j] * m->w[j];
  ev->ess = m->w ? 1.0 / (wsum2 * (double)m->M) : 1.0;
  ev->gap.valid = 0;
  if (m->c.gap == 1 || (m->c.gap == -1 && m->p <= 3)) {
    const double *g = m->c.method == SURI_MFLD_METHOD_PSDCA ? m->sd_g : NULL;
    if ((st = mf_gap(m, R->train, g, ev->lambda2, &ev->gap))) return st;
  }
  ev->seconds = now_s() - R->t0;
  ev->updates_per_s =
      R->step_s > 0 ? (double)m->M * (double)(m->lsteps - R->lsteps0) / R->step_s : 0;
  if (R->cb && R->cb(ev, R->user))
    return suri_fail(SURI_ERR_INTERRUPTED, "mfld: stopped by the callback after %lld steps",
                     (long long)m->outer);
  return SURI_OK;
}

/* One outer step s of the epoch (order: this epoch's permutation). */
static suri_status outer_step(suri_mfld *m, const suri_dataset *tr, const int64_t *order, int64_t s,
                              int64_t period) {
  const suri_mfld_config *c = &m->c;
  const int64_t n = tr->n;
  if (c->method == SURI_MFLD_METHOD_PSDCA) return suri_psdca_step(m, tr, order[s % n]);
  if (c->method == SURI_MFLD_METHOD_PDA) {
    int64_t b0 = (s * c->pda_batch) % n, cnt = n - b0 < c->pda_batch ? n - b0 : c->pda_batch;
    return suri_pda_outer(m, tr, order + b0, cnt);
  }
  suri_status st;
  if (c->estimator == SURI_MFLD_FULL) {
    st = mf_step_rows(m, tr, NULL, n, NULL, c->eta, lambda2_now(m));
  } else {
    int64_t b0 = (s * c->batch) % n, cnt = n - b0 < c->batch ? n - b0 : c->batch;
    if (c->estimator == SURI_MFLD_MINIBATCH) {
      st = mf_step_rows(m, tr, order + b0, cnt, NULL, c->eta, lambda2_now(m));
    } else {
      if (m->since_snap >= period) mf_svrg_snapshot(m, tr);
      st = mf_svrg_step(m, tr, order + b0, cnt, lambda2_now(m));
    }
  }
  if (!st) m->outer++;
  return st;
}

suri_status suri_mfld_run(suri_mfld *m, const suri_dataset *train, const suri_dataset *test,
                          suri_mfld_callback cb, void *user, suri_mfld_summary *out) {
  if (!m) return suri_fail(SURI_ERR_ARG, "mfld_run: NULL particle system");
  suri_status st = mf_check_data(m, train, "train");
  if (st) return st;
  if (test && (st = mf_check_data(m, test, "test"))) return st;
  const suri_mfld_config *c = &m->c;
  if (c->method == SURI_MFLD_METHOD_PSDCA && c->head == SURI_MFLD_HEAD_FIXED_PM1)
    return suri_fail(SURI_ERR_UNSUPPORTED,
                     "psdca: head pm1 is not supported (use learn, bounded or one)");
  if (c->method == SURI_MFLD_METHOD_PDA && (st = mf_ensure_pda(m, train->n))) return st;
  if (c->method == SURI_MFLD_METHOD_PSDCA && (st = mf_ensure_psdca(m, train->n))) return st;
  const int64_t n = train->n, spe = auto_spe(m, n);
  const int64_t period = c->svrg_period > 0 ? c->svrg_period : (n + c->batch - 1) / c->batch;
  int64_t *order = suri_alloc((size_t)n * sizeof(int64_t));
  if (!order) return suri_fail(SURI_ERR_NOMEM, "mfld_run: cannot allocate the batch order");
  run_state R = {m, train, test, cb, user, now_s(), 0, m->lsteps, c->epochs, c->epochs * spe, {0}};
  const int64_t e0 = m->epochs_done;
  if (e0 == 0) st = monitor(&R, 0);
  for (int64_t e = 0; !st && e < c->epochs; e++) {
    suri_data_epoch_order(train, c->seed, e0 + e, order);
    double ts = now_s();
    for (int64_t s = 0; !st && s < spe; s++) {
      st = outer_step(m, train, order, s, period);
      if (!st && c->stop && *c->stop)
        st = suri_fail(SURI_ERR_INTERRUPTED, "mfld: stopped after %lld steps", (long long)m->outer);
    }
    if (!st && c->method == SURI_MFLD_METHOD_PSDCA && c->psdca_refresh)
      st = mf_psdca_refresh(m, train);
    R.step_s += now_s() - ts;
    if (st) break;
    m->epochs_done++;
    if ((e + 1) % c->monitor_every == 0 || e + 1 == c->epochs) st = monitor(&R, m->epochs_done);
  }
  if (!st) st = mf_check_finite(m, "mfld");
  suri_free(order);
  if (out) {
    memset(out, 0, sizeof *out);
    out->steps = m->outer;
    out->langevin_steps = m->lsteps;
    out->seconds = now_s() - R.t0;
    out->step_seconds = R.step_s;
    out->updates_per_s =
        R.step_s > 0 ? (double)m->M * (double)(m->lsteps - R.lsteps0) / R.step_s : 0;
    out->last = R.last;
  }
  return st;
}

/* ---- JSON ---------------------------------------------------------------------------------- */
static int put_num(char *buf, size_t n, size_t *pos, const char *key, double v) {
  int k = isfinite(v) ? snprintf(buf + *pos, n - *pos, ",\"%s\":%.10g", key, v)
                      : snprintf(buf + *pos, n - *pos, ",\"%s\":null", key);
  if (k < 0 || (size_t)k >= n - *pos) return -1;
  *pos += (size_t)k;
  return 0;
}

suri_status suri_mfld_event_json(const suri_mfld_event *ev, char *buf, size_t n) {
  if (!ev || !buf || n < 2) return suri_fail(SURI_ERR_ARG, "mfld_event_json: bad arguments");
  int k =
      snprintf(buf, n, "{\"method\":\"%s\",\"epoch\":%lld,\"step\":%lld,\"langevin_steps\":%lld",
               suri_mfld_method_name(ev->method), (long long)ev->epoch, (long long)ev->step,
               (long long)ev->langevin_steps);
  if (k < 0 || (size_t)k >= n) return suri_fail(SURI_ERR_ARG, "mfld_event_json: buffer too small");
  size_t pos = (size_t)k;
  int bad =
      put_num(buf, n, &pos, "lambda2", ev->lambda2) || put_num(buf, n, &pos, "risk", ev->risk) ||
      put_num(buf, n, &pos, "l2", ev->l2) || put_num(buf, n, &pos, "F", ev->F) ||
      put_num(buf, n, &pos, "train_err", ev->train_err) ||
      put_num(buf, n, &pos, "test_loss", ev->test_loss) ||
      put_num(buf, n, &pos, "test_err", ev->test_err) || put_num(buf, n, &pos, "ess", ev->ess) ||
      put_num(buf, n, &pos, "seconds", ev->seconds) ||
      put_num(buf, n, &pos, "updates_per_s", ev->updates_per_s);
  if (!bad && ev->gap.valid) {
    int k2 =
        snprintf(buf + pos, n - pos, ",\"gap_estimate\":%s", ev->gap.estimate ? "true" : "false");
    if (k2 < 0 || (size_t)k2 >= n - pos)
      bad = 1;
    else
      pos += (size_t)k2;
    bad = bad || put_num(buf, n, &pos, "gap", ev->gap.gap) ||
          put_num(buf, n, &pos, "primal", ev->gap.primal) ||
          put_num(buf, n, &pos, "dual", ev->gap.dual) ||
          put_num(buf, n, &pos, "ent", ev->gap.ent) ||
          put_num(buf, n, &pos, "logz", ev->gap.logz) ||
          put_num(buf, n, &pos, "logz_se", ev->gap.logz_se);
  }
  if (bad || pos + 2 > n)
    return suri_fail(SURI_ERR_ARG, "mfld_event_json: buffer of %zu bytes too small", n);
  buf[pos++] = '}';
  buf[pos] = 0;
  return SURI_OK;
}
