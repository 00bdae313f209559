/* train_mfld_config.c - DIR/config.json of a particle run (`suri train --optim mfld|pda|psdca`):
 * "optim" (mfld | pda | psdca, which `suri train --resume DIR` peeks at to pick this command),
 * the data specs, the run settings and every suri_mfld_config field by name, written
 * atomically before training starts and read back by --resume with the same range checks as
 * the flags (suri_mfld_check). Numbers are JSON numbers: cJSON prints doubles so that they parse
 * back to the same value, and the seed is limited to 2^53 so it is exact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "suri/io.h"
#include "train_mfld.h"


/* The numeric fields, by JSON key, with their place in the options. */
enum { F_I64, F_DBL, F_INT, F_U64 };
typedef struct num_field {
  const char *key;
  int kind;
  size_t off; /* offset in mfld_opts */
} num_field;

#define C(name, kind) {#name, kind, offsetof(mfld_opts, c) + offsetof(suri_mfld_config, name)}
static const num_field nums[] = {
    C(M, F_I64),           C(bias, F_INT),          C(R, F_DBL),
    C(lambda1, F_DBL),     C(lambda2, F_DBL),       C(init_std, F_DBL),
    C(eta, F_DBL),         C(batch, F_I64),         C(svrg_period, F_I64),
    C(anneal, F_DBL),      C(epochs, F_I64),        C(steps_per_epoch, F_I64),
    C(seed, F_U64),        C(monitor_every, F_I64), C(gap_samples, F_I64),
    C(gap_grid, F_INT),    C(knn, F_INT),           C(inner_eta, F_DBL),
    C(smoothness, F_DBL),  C(pda_batch, F_I64),     C(pda_inner, F_I64),
    C(psdca_inner, F_I64), C(psdca_ess, F_DBL),     C(psdca_safety, F_DBL),
    C(psdca_refresh, F_INT), C(chunk, F_I64),
    {"threads", F_I64, offsetof(mfld_opts, threads)},
    {"checkpoint_every", F_I64, offsetof(mfld_opts, checkpoint_every)}};
#undef C

/* The gap setting's names (here rather than in train_mfld.c so that the config reader links on
 * its own: fuzz/fuzz_config_json.c builds it without the rest of the command). */
const char *mfld_gap_name(int gap) { return gap < 0 ? "auto" : gap ? "always" : "never"; }

int mfld_gap_parse(const char *s, int *gap) {
  if (!strcmp(s, "auto")) *gap = -1;
  else if (!strcmp(s, "never")) *gap = 0;
  else if (!strcmp(s, "always")) *gap = 1;
  else return -1;
  return 0;
}

static double num_get(const mfld_opts *o, const num_field *f) {
  const char *p = (const char *)o + f->off;
  switch (f->kind) {
  case F_I64: return (double)*(const int64_t *)(const void *)p;
  case F_U64: return (double)*(const uint64_t *)(const void *)p;
  case F_INT: return (double)*(const int *)(const void *)p;
  default: return *(const double *)(const void *)p;
  }
}

static void num_set(mfld_opts *o, const num_field *f, double v) {
  char *p = (char *)o + f->off;
  switch (f->kind) {
  case F_I64: *(int64_t *)(void *)p = (int64_t)v; break;
  case F_U64: *(uint64_t *)(void *)p = (uint64_t)v; break;
  case F_INT: *(int *)(void *)p = (int)v; break;
  default: *(double *)(void *)p = v; break;
  }
}

static cJSON *config_json(const mfld_opts *o) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "suri_version", SURI_VERSION_STRING);
  cJSON_AddStringToObject(j, "real", SURI_REAL_NAME);
  cli_json_add_created(j);
  cJSON_AddStringToObject(j, "optim", suri_mfld_method_name(o->c.method));
  cJSON_AddStringToObject(j, "data", o->data);
  if (o->test_data[0]) cJSON_AddStringToObject(j, "test_data", o->test_data);
  else cJSON_AddNullToObject(j, "test_data");
  cJSON_AddStringToObject(j, "act", suri_act_name(o->c.act));
  cJSON_AddStringToObject(j, "head", suri_mfld_head_name(o->c.head));
  cJSON_AddStringToObject(j, "loss", suri_mfld_loss_name(o->c.loss));
  cJSON_AddStringToObject(j, "estimator", suri_mfld_estimator_name(o->c.estimator));
  cJSON_AddStringToObject(j, "gap", mfld_gap_name(o->c.gap));
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    cJSON_AddNumberToObject(j, nums[i].key, num_get(o, &nums[i]));
  return j;
}

int mfld_config_write(const mfld_opts *o, const char *dir) {
  return train_config_save(dir, config_json(o));
}

/* ---- reading ------------------------------------------------------------------------------ */


/* A number; integers must be whole and within [-1, 2^53] (exact in a double). */
static int get_num(const cJSON *j, const char *path, const num_field *f, mfld_opts *o) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, f->key);
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
    return cli_fail(SURI_OK, "%s: key '%s' is missing or not a number", path, f->key);
  double d = v->valuedouble;
  if (f->kind != F_DBL && (d != floor(d) || d < -1 || d > 9007199254740992.0 ||
                           (f->kind == F_INT && fabs(d) > 1e9) || (f->kind == F_U64 && d < 0)))
    return cli_fail(SURI_OK, "%s: '%s' must be an integer in range (got %g)", path, f->key, d);
  num_set(o, f, d);
  return CLI_OK;
}

/* A name through the library's parser (whose message lists the valid names). */
static int get_name(const cJSON *j, const char *path, const char *key, char *buf, size_t n) {
  return cli_json_get_str(j, path, key, buf, n, 0);
}

static int read_names(const cJSON *j, const char *path, mfld_opts *o) {
  char s[64];
  suri_status st = SURI_OK;
  int rc = get_name(j, path, "optim", s, sizeof s);
  if (!rc && (st = suri_mfld_method_parse(s, &o->c.method))) rc = CLI_FAIL;
  if (!rc) rc = get_name(j, path, "head", s, sizeof s);
  if (!rc && (st = suri_mfld_head_parse(s, &o->c.head))) rc = CLI_FAIL;
  if (!rc) rc = get_name(j, path, "loss", s, sizeof s);
  if (!rc && (st = suri_mfld_loss_parse(s, &o->c.loss))) rc = CLI_FAIL;
  if (!rc) rc = get_name(j, path, "estimator", s, sizeof s);
  if (!rc && (st = suri_mfld_estimator_parse(s, &o->c.estimator))) rc = CLI_FAIL;
  if (st) return cli_fail(st, "%s: bad value '%s'", path, s);
  if (!rc) rc = get_name(j, path, "gap", s, sizeof s);
  if (!rc && mfld_gap_parse(s, &o->c.gap))
    return cli_fail(SURI_OK, "%s: 'gap' must be auto, never or always (got '%s')", path, s);
  if (!rc) rc = get_name(j, path, "act", s, sizeof s);
  if (rc) return rc;
  if (!strcmp(s, "tanh")) o->c.act = SURI_ACT_TANH;
  else if (!strcmp(s, "relu")) o->c.act = SURI_ACT_RELU;
  else if (!strcmp(s, "identity")) o->c.act = SURI_ACT_IDENTITY;
  else return cli_fail(SURI_OK, "%s: 'act' must be tanh, relu or identity (got '%s')", path, s);
  return CLI_OK;
}

int mfld_config_parse(const char *text, size_t n, const char *path, mfld_opts *o) {
  cJSON *j = cJSON_ParseWithLength(text, n);
  o->c = suri_mfld_defaults();
  int rc = j && cJSON_IsObject(j) ? CLI_OK : cli_fail(SURI_OK, "%s: not a JSON object", path);
  if (!rc) rc = cli_json_get_str(j, path, "data", o->data, sizeof o->data, 0);
  if (!rc) rc = cli_json_get_str(j, path, "test_data", o->test_data, sizeof o->test_data, 1);
  if (!rc) rc = read_names(j, path, o);
  for (size_t i = 0; !rc && i < sizeof nums / sizeof nums[0]; i++) rc = get_num(j, path, &nums[i], o);
  cJSON_Delete(j);
  if (rc) return rc;
  if (o->threads < 0 || o->threads > 1024 || o->checkpoint_every < 0 || o->c.epochs < 1)
    return cli_fail(SURI_OK, "%s: 'threads' must be in [0, 1024], 'checkpoint_every' >= 0 and "
                    "'epochs' >= 1", path);
  suri_status st = suri_mfld_check(&o->c);
  if (st) return cli_fail(st, "%s: invalid settings", path);
  return CLI_OK;
}

int mfld_config_read(const char *dir, mfld_opts *o) {
  char path[TRAIN_PATH_MAX + 16];
  void *data = NULL;
  size_t n = 0;
  if (train_config_load(dir, path, sizeof path, &data, &n)) return CLI_FAIL;
  int rc = mfld_config_parse(data, n, path, o);
  suri_free(data);
  return rc;
}
