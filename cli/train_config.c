/* train_config.c - DIR/config.json of a training run: every setting needed to rebuild the same
 * model, data and optimizer (written atomically before training starts), read back by
 * `suri train --resume DIR`. Numbers are JSON numbers (cJSON prints doubles so that they
 * parse back to the same value); the seed is limited to 2^53 so it is exact as a JSON number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "suri/io.h"
#include "train_cli.h"

#define CONFIG_NAME "config.json"

static void add_time(cJSON *j) {
  char buf[64];
  time_t t = time(NULL);
  struct tm tmv;
  if (localtime_r(&t, &tmv) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tmv))
    cJSON_AddStringToObject(j, "created", buf);
}

static cJSON *config_json(const train_opts *o) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "suri_version", SURI_VERSION_STRING);
  cJSON_AddStringToObject(j, "real", SURI_REAL_NAME);
  cJSON_AddStringToObject(j, "blas", suri_blas_info());
  add_time(j);
  cJSON_AddStringToObject(j, "data", o->data);
  if (o->test_data[0]) cJSON_AddStringToObject(j, "test_data", o->test_data);
  else cJSON_AddNullToObject(j, "test_data");
  cJSON_AddStringToObject(j, "model", o->model);
  cJSON_AddStringToObject(j, "optim", o->optim);
  cJSON_AddNumberToObject(j, "lr", o->lr);
  cJSON_AddNumberToObject(j, "momentum", o->momentum);
  cJSON_AddBoolToObject(j, "nesterov", o->nesterov);
  cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
  cJSON_AddNumberToObject(j, "beta1", o->beta1);
  cJSON_AddNumberToObject(j, "beta2", o->beta2);
  cJSON_AddNumberToObject(j, "eps", o->eps);
  cJSON_AddStringToObject(j, "schedule", o->schedule);
  cJSON_AddNumberToObject(j, "batch", (double)o->batch);
  cJSON_AddNumberToObject(j, "epochs", (double)o->epochs);
  cJSON_AddNumberToObject(j, "steps", (double)o->steps);
  cJSON_AddNumberToObject(j, "seed", (double)o->seed);
  cJSON_AddNumberToObject(j, "threads", (double)o->threads);
  cJSON_AddNumberToObject(j, "checkpoint_every", (double)o->checkpoint_every);
  cJSON_AddNumberToObject(j, "log_every", (double)o->log_every);
  return j;
}

int train_config_write(const train_opts *o, const char *dir) {
  char path[TRAIN_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/%s", dir, CONFIG_NAME);
  cJSON *j = config_json(o);
  char *text = j ? cJSON_Print(j) : NULL;
  cJSON_Delete(j);
  if (!text) return cli_fail(SURI_OK, "%s: cannot format the configuration (out of memory)", path);
  /* cJSON indents with tabs and writes "key":<tab>value; tabs inside strings are escaped, so
   * every raw tab is layout: make it two spaces of indent, or one space after a colon. */
  size_t n = strlen(text), k = 0;
  char *buf = malloc(2 * n + 2);
  suri_status st = SURI_ERR_NOMEM;
  if (buf) {
    for (size_t i = 0; i < n; i++) {
      if (text[i] != '\t') buf[k++] = text[i];
      else if (i > 0 && text[i - 1] == ':') buf[k++] = ' ';
      else buf[k++] = ' ', buf[k++] = ' ';
    }
    buf[k++] = '\n';
    st = suri_write_file_atomic(path, buf, k);
  }
  free(buf);
  cJSON_free(text);
  return st ? cli_fail(st, "cannot write %s", path) : CLI_OK;
}

/* ---- reading ------------------------------------------------------------------------------ */

static int get_str(const cJSON *j, const char *path, const char *key, char *dst, size_t n,
                   int nullable) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (nullable && (!v || cJSON_IsNull(v))) {
    dst[0] = '\0';
    return CLI_OK;
  }
  if (!cJSON_IsString(v) || !v->valuestring)
    return cli_fail(SURI_OK, "%s: key '%s' is missing or not a string", path, key);
  if (strlen(v->valuestring) >= n)
    return cli_fail(SURI_OK, "%s: value of '%s' is too long", path, key);
  snprintf(dst, n, "%s", v->valuestring);
  return CLI_OK;
}

static int get_num(const cJSON *j, const char *path, const char *key, double *dst) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
    return cli_fail(SURI_OK, "%s: key '%s' is missing or not a number", path, key);
  *dst = v->valuedouble;
  return CLI_OK;
}

/* An integer in [lo, 2^53] (exact in a double). */
static int get_int(const cJSON *j, const char *path, const char *key, int64_t lo, int64_t *dst) {
  double d = 0;
  int rc = get_num(j, path, key, &d);
  if (rc) return rc;
  if (d != floor(d) || d < (double)lo || d > 9007199254740992.0)
    return cli_fail(SURI_OK, "%s: '%s' must be an integer >= %lld (got %g)", path, key,
                    (long long)lo, d);
  *dst = (int64_t)d;
  return CLI_OK;
}

static int read_fields(const cJSON *j, const char *path, train_opts *o) {
  int64_t seed = 0;
  int rc = get_str(j, path, "data", o->data, sizeof o->data, 0);
  if (!rc) rc = get_str(j, path, "test_data", o->test_data, sizeof o->test_data, 1);
  if (!rc) rc = get_str(j, path, "model", o->model, sizeof o->model, 0);
  if (!rc) rc = get_str(j, path, "optim", o->optim, sizeof o->optim, 0);
  if (!rc) rc = get_str(j, path, "schedule", o->schedule, sizeof o->schedule, 0);
  if (!rc) rc = get_num(j, path, "lr", &o->lr);
  if (!rc) rc = get_num(j, path, "momentum", &o->momentum);
  if (!rc) rc = get_num(j, path, "weight_decay", &o->weight_decay);
  if (!rc) rc = get_num(j, path, "beta1", &o->beta1);
  if (!rc) rc = get_num(j, path, "beta2", &o->beta2);
  if (!rc) rc = get_num(j, path, "eps", &o->eps);
  if (!rc) rc = get_int(j, path, "batch", 1, &o->batch);
  if (!rc) rc = get_int(j, path, "epochs", 0, &o->epochs);
  if (!rc) rc = get_int(j, path, "steps", 0, &o->steps);
  if (!rc) rc = get_int(j, path, "seed", 0, &seed);
  if (!rc) rc = get_int(j, path, "threads", 0, &o->threads);
  if (!rc) rc = get_int(j, path, "checkpoint_every", 0, &o->checkpoint_every);
  if (!rc) rc = get_int(j, path, "log_every", 0, &o->log_every);
  if (rc) return rc;
  const cJSON *nv = cJSON_GetObjectItemCaseSensitive(j, "nesterov");
  if (!cJSON_IsBool(nv)) return cli_fail(SURI_OK, "%s: key 'nesterov' is missing or not a boolean", path);
  o->nesterov = cJSON_IsTrue(nv);
  o->seed = (uint64_t)seed;
  return CLI_OK;
}

int train_config_read(const char *dir, train_opts *o) {
  char path[TRAIN_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/%s", dir, CONFIG_NAME);
  void *data = NULL;
  size_t n = 0;
  suri_status st = suri_read_file(path, (size_t)1 << 20, &data, &n);
  if (st) return cli_fail(st, "cannot read %s (is %s a 'suri train' output directory?)", path, dir);
  cJSON *j = cJSON_ParseWithLength(data, n);
  int rc;
  if (!j || !cJSON_IsObject(j)) rc = cli_fail(SURI_OK, "%s: not a JSON object", path);
  else rc = read_fields(j, path, o);
  cJSON_Delete(j);
  suri_free(data);
  return rc;
}
