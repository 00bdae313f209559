/* checkpoint.c - checkpoints as safetensors: the model's tensors under their usual names, the
 * optimizer's state vectors as "optim.<name>" (flat, the parameter block's length), and the
 * run position in metadata. Written atomically, so an interruption never leaves a partial file;
 * values are stored in the build's own precision, so a resumed run continues bit for bit. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "suri/io.h"
#include "train_internal.h"

#ifdef SURI_REAL_DOUBLE
#define FILE_DTYPE SURI_DT_F64
#else
#define FILE_DTYPE SURI_DT_F32
#endif

#define CKPT_NAME "checkpoint.safetensors"

suri_status suri_path_join(char *buf, size_t n, const char *dir, const char *name) {
  int k = snprintf(buf, n, "%s/%s", dir, name);
  if (k < 0 || (size_t)k >= n) return suri_fail(SURI_ERR_ARG, "path '%s/%s' is too long", dir, name);
  return SURI_OK;
}

suri_status suri_ensure_dir(const char *dir) {
  struct stat sb;
  if (stat(dir, &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) return SURI_OK;
    return suri_fail(SURI_ERR_IO, "%s exists and is not a directory", dir);
  }
  if (mkdir(dir, 0777) != 0)
    return suri_fail(SURI_ERR_IO, "cannot create directory %s: %s", dir, strerror(errno));
  return SURI_OK;
}

/* Last finished epoch's metrics (optional on reading: older checkpoints lack them). */
static const char *const last_keys[4] = {"last_epoch_loss", "last_epoch_accuracy",
                                         "last_test_loss", "last_test_accuracy"};

static suri_status add_meta_u64(suri_st_writer *w, const char *key, uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return suri_st_writer_meta(w, key, buf);
}

suri_status suri_checkpoint_write(const suri_model *m, suri_optim *o, const train_pos *pos,
                                   uint64_t seed, const char *dir, char *path, size_t path_n) {
  suri_status st = suri_path_join(path, path_n, dir, CKPT_NAME);
  if (st) return st;
  suri_st_writer *w = suri_st_writer_new();
  if (!w) return suri_fail(SURI_ERR_NOMEM, "cannot allocate checkpoint writer");
  suri_model *mm = (suri_model *)m; /* accessors are non-const; nothing is modified */
  for (int i = 0; i < suri_model_tensor_count(m) && !st; i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    const suri_real *p = (t->is_state ? suri_model_state(mm) : suri_model_params(mm)) + t->offset;
    st = suri_st_writer_add_real(w, t->name, FILE_DTYPE, t->rank, t->dim, p);
  }
  int64_t n = (int64_t)suri_model_param_count(m);
  for (int i = 0; i < suri_optim_state_count(o) && !st; i++) {
    const char *name;
    suri_real *v = suri_optim_state(o, i, &name);
    char key[96];
    snprintf(key, sizeof key, "optim.%s", name);
    st = suri_st_writer_add_real(w, key, FILE_DTYPE, 1, &n, v);
  }
  char spec[1024];
  suri_model_spec_format(suri_model_get_spec(m), spec, sizeof spec);
  if (!st) st = suri_st_writer_meta(w, "format", "suri-checkpoint");
  if (!st) st = suri_st_writer_meta(w, "model_spec", spec);
  if (!st) st = add_meta_u64(w, "step", (uint64_t)pos->step);
  if (!st) st = add_meta_u64(w, "optim_steps", (uint64_t)suri_optim_steps(o));
  if (!st) st = add_meta_u64(w, "dropout_calls", pos->rng_calls);
  if (!st) st = add_meta_u64(w, "seed", seed);
  if (!st) st = add_meta_u64(w, "epoch_correct", (uint64_t)pos->correct);
  if (!st) st = add_meta_u64(w, "epoch_seen", (uint64_t)pos->seen);
  char sum[40];
  snprintf(sum, sizeof sum, "%.17g", pos->loss_sum);
  if (!st) st = suri_st_writer_meta(w, "epoch_loss_sum", sum);
  const double last[4] = {pos->last_loss, pos->last_acc, pos->last_test_loss, pos->last_test_acc};
  for (int i = 0; i < 4 && !st; i++) {
    snprintf(sum, sizeof sum, "%.17g", last[i]); /* "nan" when not measured */
    st = suri_st_writer_meta(w, last_keys[i], sum);
  }
  if (!st) st = suri_st_writer_meta(w, "real", SURI_REAL_NAME);
  if (!st) st = suri_st_writer_write(w, path);
  suri_st_writer_free(w);
  return st;
}

static suri_status meta_u64(const suri_safetensors *st, const char *path, const char *key,
                            uint64_t *v) {
  const char *s = suri_st_meta(st, key);
  char *end;
  if (!s || !*s) return suri_fail(SURI_ERR_FORMAT, "%s: metadata '%s' is missing", path, key);
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno || *end || s[0] == '-')
    return suri_fail(SURI_ERR_FORMAT, "%s: metadata %s='%s' is not a count", path, key, s);
  *v = x;
  return SURI_OK;
}

static suri_status check_header(const suri_safetensors *st, const suri_model *m, const char *path) {
  const char *fmt = suri_st_meta(st, "format"), *spec = suri_st_meta(st, "model_spec");
  const char *real = suri_st_meta(st, "real");
  char mine[1024];
  suri_model_spec_format(suri_model_get_spec(m), mine, sizeof mine);
  if (!fmt || strcmp(fmt, "suri-checkpoint"))
    return suri_fail(SURI_ERR_FORMAT, "%s is not a suri checkpoint", path);
  if (!spec || strcmp(spec, mine))
    return suri_fail(SURI_ERR_FORMAT, "%s was written for model '%s', not '%s'", path,
                     spec ? spec : "?", mine);
  if (!real || strcmp(real, SURI_REAL_NAME))
    return suri_fail(SURI_ERR_FORMAT, "%s holds %s values; this build uses %s (exact resume "
                     "needs the same precision)", path, real ? real : "?", SURI_REAL_NAME);
  return SURI_OK;
}

static suri_status read_all(suri_model *m, suri_optim *o, train_pos *pos,
                            const suri_safetensors *st, const char *path) {
  suri_status s = check_header(st, m, path);
  for (int i = 0; i < suri_model_tensor_count(m) && !s; i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    suri_real *p = (t->is_state ? suri_model_state(m) : suri_model_params(m)) + t->offset;
    s = suri_st_get_real(st, t->name, t->rank, t->dim, p, 1);
  }
  int64_t n = (int64_t)suri_model_param_count(m);
  for (int i = 0; i < suri_optim_state_count(o) && !s; i++) {
    const char *name;
    suri_real *v = suri_optim_state(o, i, &name);
    char key[96];
    snprintf(key, sizeof key, "optim.%s", name);
    s = suri_st_get_real(st, key, 1, &n, v, 1);
  }
  uint64_t step = 0, osteps = 0, calls = 0, correct = 0, seen = 0;
  if (!s) s = meta_u64(st, path, "step", &step);
  if (!s) s = meta_u64(st, path, "epoch_correct", &correct);
  if (!s) s = meta_u64(st, path, "epoch_seen", &seen);
  const char *ls = suri_st_meta(st, "epoch_loss_sum");
  char *end = NULL;
  double loss_sum = ls ? strtod(ls, &end) : 0;
  if (!s && (!ls || *end || !isfinite(loss_sum)))
    s = suri_fail(SURI_ERR_FORMAT, "%s: metadata epoch_loss_sum is missing or not a number", path);
  if (!s) s = meta_u64(st, path, "optim_steps", &osteps);
  if (!s) s = meta_u64(st, path, "dropout_calls", &calls);
  if (s) return s;
  double *last[4] = {&pos->last_loss, &pos->last_acc, &pos->last_test_loss, &pos->last_test_acc};
  for (int i = 0; i < 4; i++) {
    const char *v = suri_st_meta(st, last_keys[i]);
    *last[i] = v ? strtod(v, &end) : NAN;
    if (v && (end == v || *end))
      return suri_fail(SURI_ERR_FORMAT, "%s: metadata %s='%s' is not a number", path,
                       last_keys[i], v);
  }
  suri_optim_set_steps(o, (int64_t)osteps);
  pos->step = (int64_t)step;
  pos->rng_calls = calls;
  pos->loss_sum = loss_sum;
  pos->correct = (int64_t)correct;
  pos->seen = (int64_t)seen;
  return SURI_OK;
}

suri_status suri_checkpoint_read(suri_model *m, suri_optim *o, train_pos *pos, const char *dir) {
  char path[4096];
  suri_status s = suri_path_join(path, sizeof path, dir, CKPT_NAME);
  if (s) return s;
  suri_safetensors *st = NULL;
  if ((s = suri_st_read(path, 0, &st))) return s;
  s = read_all(m, o, pos, st, path);
  if (s) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s", suri_last_error());
    s = suri_fail(s, "cannot resume from %s: %s", path, msg);
  }
  suri_st_free(st);
  return s;
}
