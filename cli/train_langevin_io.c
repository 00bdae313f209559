/* train_langevin_io.c - what a `suri train --optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd` run
 * keeps on disk and in memory, apart from its step loop (train_langevin.c):
 *
 * - the up-front memory estimate: the library's training estimate for the model, data and
 *   graph (suri_train_memory_estimate with plain SGD, which has no optimizer state), plus the
 *   sampler's state (x, its checkpoint copies and the double-precision estimator and gradient
 *   buffers: about 3 P reals + 5 P doubles, and 2 n indices) and the kept samples, S x P
 *   float32 once in the buffer and twice more while a checkpoint is written or read;
 * - DIR/checkpoint.safetensors, which makes a resumed run continue bit for bit: the state x
 *   ("x", in the build's precision), the sampler's own state ("state_x": SVRG's snapshot or
 *   SARAH's previous iterate; "state_v" (F64): SVRG's full gradient at the snapshot or SARAH's
 *   previous estimator; suri_langevin_state_x/_v), for asgd the initial point ("theta0") and
 *   the running average ("average", F64), the samples kept so far ("samples", (S, P) F32, so
 *   a resume continues the buffer rather than rebuilding it), and in metadata the step, the
 *   gradient-evaluation count and the epoch's running loss (printed with 17 digits, so they
 *   parse back to the same double). The batch and noise of step k depend only on (seed, k)
 *   (suri/langevin.h), so nothing else is needed;
 * - metrics.jsonl lines. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suri/io.h"
#include "train_langevin.h"

#ifdef SURI_REAL_DOUBLE
#define REAL_DT SURI_DT_F64
#else
#define REAL_DT SURI_DT_F32
#endif

#define CKPT_FORMAT "suri-langevin-checkpoint"

int64_t lv_steps(const lv_run *r) { return r->asgd ? suri_asgd_steps(r->a) : suri_langevin_steps(r->s); }

int64_t lv_grad_evals(const lv_run *r) {
  return r->asgd ? suri_asgd_grad_evals(r->a) : suri_langevin_grad_evals(r->s);
}

/* ---- memory ------------------------------------------------------------------------------- */

static const char *human(double b, char *buf) {
  static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (b >= 1024.0 && u < 6) b /= 1024.0, u++;
  snprintf(buf, 32, u ? "%.3g %s" : "%.0f %s", b, unit[u]);
  return buf;
}

int lv_check_memory(const lv_run *r, const suri_model_spec *spec) {
  const train_opts *o = r->o;
  suri_train_config c = suri_train_defaults();
  c.optim = "sgd";
  c.momentum = 0;
  c.batch = r->chunk;
  suri_train_memory mem;
  suri_status st = suri_train_memory_estimate(spec, &c, r->train, r->test, &mem);
  if (st) return cli_fail(st, "cannot estimate the memory of model '%s'", o->model);
  double P = (double)r->d;
  double state = P * (3.0 * sizeof(suri_real) + 5.0 * sizeof(double)) + 2.0 * 8.0 * (double)r->n;
  double samples = (double)r->capacity * P * 4.0;
  double total = mem.total + state + 3.0 * samples;
  double limit = o->memory;
  char what[64];
  if (limit > 0) {
    snprintf(what, sizeof what, "the --memory limit");
  } else {
    limit = suri_memory_available();
    snprintf(what, sizeof what, "the memory available on this machine");
    if (limit <= 0) return CLI_OK; /* unknown: nothing to compare with */
  }
  if (!(total > limit)) return CLI_OK;
  char t[32], l[32], s1[32], s3[32], b[32];
  fprintf(stderr, "suri: error: the run would need about %s, more than %s (%s): %lld samples of "
          "%zu parameters as float32 take %s, held up to 3 times while a checkpoint is written "
          "(%s); the model, sampler state, data and buffers %s\n", human(total, t), what,
          human(limit, l), (long long)r->capacity, r->d, human(samples, s1),
          human(3.0 * samples, s3), human(mem.total + state, b));
  fprintf(stderr, "hint: keep fewer samples (a larger --sample-every or --burn-in), choose a "
          "smaller --model%s\n", o->memory > 0 ? ", or raise --memory" : "");
  return CLI_FAIL;
}

/* ---- checkpoint --------------------------------------------------------------------------- */

static void ckpt_path(const lv_run *r, char *buf, size_t n) {
  snprintf(buf, n, "%s/checkpoint.safetensors", r->o->out);
}

static suri_status meta_i64(suri_st_writer *w, const char *key, int64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return suri_st_writer_meta(w, key, buf);
}

static suri_status meta_f64(suri_st_writer *w, const char *key, double v) {
  char buf[40];
  snprintf(buf, sizeof buf, "%.17g", v);
  return suri_st_writer_meta(w, key, buf);
}

static suri_status add_tensors(lv_run *r, suri_st_writer *w) {
  int64_t dim[2] = {(int64_t)r->d, 0};
  suri_status st = suri_st_writer_add(w, "x", REAL_DT, 1, dim, r->x);
  if (r->asgd) {
    if (!st) st = suri_st_writer_add(w, "theta0", REAL_DT, 1, dim, r->theta0);
    if (!st) st = suri_st_writer_add(w, "average", SURI_DT_F64, 1, dim, suri_asgd_average(r->a));
  } else {
    const suri_real *sx = suri_langevin_state_x(r->s);
    const double *sv = suri_langevin_state_v(r->s);
    if (!st && sx) st = suri_st_writer_add(w, "state_x", REAL_DT, 1, dim, sx);
    if (!st && sv) st = suri_st_writer_add(w, "state_v", SURI_DT_F64, 1, dim, sv);
  }
  int64_t S = r->ss ? suri_samples_count(r->ss) : 0;
  int64_t sdim[2] = {S, (int64_t)r->d};
  if (!st && S > 0) st = suri_st_writer_add(w, "samples", SURI_DT_F32, 2, sdim, suri_samples_data(r->ss));
  if (!st) st = suri_st_writer_meta(w, "format", CKPT_FORMAT);
  if (!st) st = suri_st_writer_meta(w, "optim", r->o->optim);
  if (!st) st = suri_st_writer_meta(w, "model_spec", r->o->model);
  if (!st) st = meta_i64(w, "step", lv_steps(r));
  if (!st) st = meta_i64(w, "grad_evals", lv_grad_evals(r));
  if (!st) st = meta_i64(w, "samples", S);
  if (!st) st = meta_i64(w, "epoch_loss_n", r->loss_n);
  if (!st) st = meta_f64(w, "epoch_loss_sum", r->loss_sum);
  if (!st) st = meta_f64(w, "last_epoch_loss", r->epoch_loss);
  if (!st) st = meta_f64(w, "last_test_loss", r->test_loss);
  if (!st) st = meta_f64(w, "last_test_accuracy", r->test_acc);
  return st;
}

int lv_checkpoint_write(lv_run *r) {
  char path[TRAIN_PATH_MAX + 32];
  ckpt_path(r, path, sizeof path);
  suri_st_writer *w = suri_st_writer_new();
  suri_status st = w ? add_tensors(r, w) : SURI_ERR_NOMEM;
  if (!st) st = suri_st_writer_write(w, path);
  suri_st_writer_free(w);
  if (st) return cli_fail(st, "cannot write the checkpoint %s", path);
  suri_train_event ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = SURI_EV_CHECKPOINT;
  ev.step = lv_steps(r), ev.total_steps = r->total;
  ev.path = path;
  train_progress_cb(&ev, &r->prog);
  return CLI_OK;
}

/* A metadata integer >= 0 or a double ("nan" allowed). */
static int get_meta(const suri_safetensors *f, const char *path, const char *key, int is_int,
                    double *out) {
  const char *v = suri_st_meta(f, key);
  char *end = NULL;
  double d = v ? strtod(v, &end) : 0;
  if (!v || end == v || *end || (is_int && (!(d >= 0) || d != floor(d) || d > 9e15)))
    return cli_fail(SURI_ERR_FORMAT, "%s: metadata '%s' is missing or malformed", path, key);
  *out = d;
  return CLI_OK;
}

/* Copies tensor `name` (dtype dt, numel elements) into dst. */
static int get_tensor(const suri_safetensors *f, const char *path, const char *name,
                      suri_dtype dt, size_t numel, void *dst) {
  const suri_st_tensor *t = suri_st_find(f, name);
  size_t esz = dt == SURI_DT_F64 ? 8 : 4;
  if (!t || t->dtype != dt || t->nbytes != numel * esz)
    return cli_fail(SURI_ERR_FORMAT, "%s: tensor '%s' is missing or has another type or size "
                    "than this run needs (%zu values of %s)", path, name, numel,
                    dt == SURI_DT_F64 ? "F64" : "F32");
  memcpy(dst, suri_st_data(f, t), t->nbytes);
  return CLI_OK;
}

/* The kept samples: rows s = 0..S-1 were offered at steps burn_in + (s + 1) every; offering
 * them again refills the buffer exactly (float -> suri_real -> float is the identity). */
static int restore_samples(lv_run *r, const suri_safetensors *f, const char *path, int64_t S,
                           int64_t step) {
  int64_t want = suri_samples_expected(step, r->o->burn_in, r->o->sample_every);
  if ((r->ss ? want : 0) != S)
    return cli_fail(SURI_ERR_FORMAT, "%s: holds %lld samples at step %lld; this run's settings "
                    "keep %lld", path, (long long)S, (long long)step, (long long)(r->ss ? want : 0));
  if (S == 0) return CLI_OK;
  const suri_st_tensor *t = suri_st_find(f, "samples");
  if (!t || t->dtype != SURI_DT_F32 || t->rank != 2 || t->dim[0] != S || t->dim[1] != (int64_t)r->d)
    return cli_fail(SURI_ERR_FORMAT, "%s: tensor 'samples' is missing or not (%lld, %zu) F32",
                    path, (long long)S, r->d);
  const unsigned char *src = suri_st_data(f, t);
  for (int64_t s = 0; s < S; s++) {
    for (size_t j = 0; j < r->d; j++) {
      float v;
      memcpy(&v, src + ((size_t)s * r->d + j) * 4, 4);
      r->xe[j] = (suri_real)v;
    }
    suri_status st = suri_samples_offer(r->ss, r->o->burn_in + (s + 1) * r->o->sample_every, r->xe);
    if (st) return cli_fail(st, "%s: cannot restore the samples", path);
  }
  return CLI_OK;
}

static int restore_state(lv_run *r, const suri_safetensors *f, const char *path, int64_t step,
                         int64_t evals) {
  int rc = get_tensor(f, path, "x", REAL_DT, r->d, r->x);
  if (rc) return rc;
  if (r->asgd) {
    double *bar = suri_alloc(r->d * sizeof(double));
    if (!bar) return cli_fail(SURI_ERR_NOMEM, "cannot hold the average of %zu parameters", r->d);
    rc = get_tensor(f, path, "theta0", REAL_DT, r->d, r->theta0);
    if (!rc) rc = get_tensor(f, path, "average", SURI_DT_F64, r->d, bar);
    suri_asgd_free(r->a); /* re-created around the checkpoint's initial point */
    r->a = NULL;
    suri_asgd_hp hp = suri_asgd_defaults();
    hp.eta = r->o->lr, hp.lambda = r->o->asgd_lambda, hp.batch = r->o->batch, hp.seed = r->o->seed;
    suri_status st = SURI_OK;
    if (!rc) st = suri_asgd_new(&r->obj, &hp, r->theta0, &r->a);
    if (!rc && !st) st = suri_asgd_set_state(r->a, step, bar);
    if (!rc && st) rc = cli_fail(st, "cannot restore averaged SGD from %s", path);
    suri_free(bar);
    if (!rc && suri_asgd_grad_evals(r->a) != evals)
      rc = cli_fail(SURI_ERR_FORMAT, "%s: %lld gradient evaluations at step %lld do not match "
                    "this run's batch", path, (long long)evals, (long long)step);
    return rc;
  }
  suri_real *sx = suri_langevin_state_x(r->s);
  double *sv = suri_langevin_state_v(r->s);
  if (sx) rc = get_tensor(f, path, "state_x", REAL_DT, r->d, sx);
  if (!rc && sv) rc = get_tensor(f, path, "state_v", SURI_DT_F64, r->d, sv);
  if (!rc) suri_langevin_set_steps(r->s, step, evals);
  return rc;
}

static int check_header(lv_run *r, const suri_safetensors *f, const char *path) {
  const char *fmt = suri_st_meta(f, "format"), *opt = suri_st_meta(f, "optim");
  const char *spec = suri_st_meta(f, "model_spec");
  if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
    return cli_fail(SURI_ERR_FORMAT, "%s is not a checkpoint of a Langevin or asgd run", path);
  if (!opt || strcmp(opt, r->o->optim) != 0 || !spec || strcmp(spec, r->o->model) != 0)
    return cli_fail(SURI_ERR_FORMAT, "%s belongs to another run (optim %s, model %s; "
                    "config.json says %s, %s)", path, opt ? opt : "?", spec ? spec : "?",
                    r->o->optim, r->o->model);
  return CLI_OK;
}

int lv_checkpoint_read(lv_run *r) {
  char path[TRAIN_PATH_MAX + 32];
  ckpt_path(r, path, sizeof path);
  /* The file holds at most the samples, 4 vectors and the header. */
  double cap = (double)r->capacity * (double)r->d * 4.0 + (double)r->d * 32.0 + 16e6;
  suri_safetensors *f = NULL;
  suri_status st = suri_st_read(path, cap > 1e18 ? (size_t)1e18 : (size_t)cap, &f);
  if (st) return cli_fail(st, "cannot read the checkpoint of %s", r->o->out);
  double step = 0, evals = 0, S = 0, ln = 0;
  int rc = check_header(r, f, path);
  if (!rc) rc = get_meta(f, path, "step", 1, &step);
  if (!rc) rc = get_meta(f, path, "grad_evals", 1, &evals);
  if (!rc) rc = get_meta(f, path, "samples", 1, &S);
  if (!rc) rc = get_meta(f, path, "epoch_loss_n", 1, &ln);
  if (!rc) rc = get_meta(f, path, "epoch_loss_sum", 0, &r->loss_sum);
  if (!rc) rc = get_meta(f, path, "last_epoch_loss", 0, &r->epoch_loss);
  if (!rc) rc = get_meta(f, path, "last_test_loss", 0, &r->test_loss);
  if (!rc) rc = get_meta(f, path, "last_test_accuracy", 0, &r->test_acc);
  if (!rc && step > (double)r->total)
    rc = cli_fail(SURI_ERR_ARG, "%s is at step %.0f, beyond this run's %lld steps; give a "
                  "larger --steps or --epochs", path, step, (long long)r->total);
  if (!rc) rc = restore_state(r, f, path, (int64_t)step, (int64_t)evals);
  if (!rc) rc = restore_samples(r, f, path, (int64_t)S, (int64_t)step);
  r->loss_n = (int64_t)ln;
  r->start = (int64_t)step;
  suri_st_free(f);
  return rc;
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void num(FILE *f, const char *key, double v) {
  if (isfinite(v)) fprintf(f, ",\"%s\":%.9g", key, v);
  else fprintf(f, ",\"%s\":null", key);
}

void lv_metrics_line(lv_run *r, const char *kind, double loss, double test_loss,
                     double test_acc) {
  if (!r->metrics) return;
  int64_t k = lv_steps(r);
  FILE *f = r->metrics;
  fprintf(f, "{\"kind\":\"%s\",\"step\":%lld,\"epoch\":%lld", kind, (long long)k,
          (long long)((k + r->spe - 1) / r->spe));
  num(f, "loss", loss);
  fprintf(f, ",\"grad_evals\":%lld,\"samples\":%lld", (long long)lv_grad_evals(r),
          (long long)(r->ss ? suri_samples_count(r->ss) : 0));
  num(f, "lr", r->o->lr);
  num(f, "seconds", cli_now() - r->t0);
  num(f, "test_loss", test_loss);
  num(f, "test_accuracy", test_acc);
  fputs("}\n", f);
  fflush(f);
}
