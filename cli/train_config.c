/* train_config.c - DIR/config.json of a training run: every setting needed to rebuild the same
 * model, data and optimizer (written atomically before training starts), read back by
 * `suri train --resume DIR`. Numbers are JSON numbers (cJSON prints doubles so that they
 * parse back to the same value); the seed is limited to 2^53 so it is exact as a JSON number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "suri/io.h"
#include "suri/langevin.h"
#include "suri/optim.h"
#include "train_cli.h"

#define CONFIG_NAME "config.json"


static cJSON *config_json(const train_opts *o) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "suri_version", SURI_VERSION_STRING);
  cJSON_AddStringToObject(j, "real", SURI_REAL_NAME);
  cJSON_AddStringToObject(j, "blas", suri_blas_info());
  cli_json_add_created(j);
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
  /* The OpenMP wait policy the run had (cli_set_threads sets PASSIVE for > 1 thread when the
   * environment chose none): it changes speed, never results. */
  const char *wait = getenv("OMP_WAIT_POLICY");
  if (wait) cJSON_AddStringToObject(j, "omp_wait_policy", wait);
  else cJSON_AddNullToObject(j, "omp_wait_policy");
  cJSON_AddNumberToObject(j, "checkpoint_every", (double)o->checkpoint_every);
  cJSON_AddNumberToObject(j, "log_every", (double)o->log_every);
  if (train_is_sampler(o->optim)) { /* the samplers' and asgd's settings, all resolved */
    cJSON *a = cJSON_AddObjectToObject(j, "sampler");
    cJSON_AddNumberToObject(a, "temperature", o->temperature);
    cJSON_AddNumberToObject(a, "data_size", o->data_size);
    cJSON_AddNumberToObject(a, "prior_var", o->prior_var);
    cJSON_AddNumberToObject(a, "loop", (double)o->loop);
    cJSON_AddNumberToObject(a, "noise_seed", (double)o->noise_seed);
    cJSON_AddNumberToObject(a, "burn_in", (double)o->burn_in);
    cJSON_AddNumberToObject(a, "sample_every", (double)o->sample_every);
    if (o->samples_out[0]) cJSON_AddStringToObject(a, "samples_out", o->samples_out);
    else cJSON_AddNullToObject(a, "samples_out");
    cJSON_AddNumberToObject(a, "lambda", o->asgd_lambda);
    cJSON_AddBoolToObject(a, "symmetric_init", o->symmetric_init > 0);
  }
  if (o->lr_auto > 0) { /* how --lr auto chose lr (informational; lr above is what runs) */
    cJSON *a = cJSON_AddObjectToObject(j, "lr_auto");
    cJSON_AddNumberToObject(a, "fraction", o->lr_auto);
    cJSON_AddNumberToObject(a, "lambda_max", o->lr_lambda_max);
    cJSON_AddNumberToObject(a, "samples", (double)o->lr_auto_n);
    cJSON_AddStringToObject(a, "operator", "ggn");
  }
  return j;
}

int train_is_sampler(const char *optim) {
  suri_langevin_kind k;
  return optim && (strcmp(optim, "asgd") == 0 || suri_langevin_kind_parse(optim, &k) == SURI_OK);
}

void train_config_path(const char *dir, char *path, size_t n) {
  snprintf(path, n, "%s/%s", dir, CONFIG_NAME);
}

int train_config_save(const char *dir, cJSON *j) {
  char path[TRAIN_PATH_MAX + 16];
  train_config_path(dir, path, sizeof path);
  int rc = cli_write_json(path, j);
  cJSON_Delete(j);
  return rc;
}

int train_config_load(const char *dir, char *path, size_t path_n, void **data, size_t *n) {
  train_config_path(dir, path, path_n);
  suri_status st = suri_read_file(path, (size_t)1 << 20, data, n);
  if (st) return cli_fail(st, "cannot read %s (is %s a 'suri train' output directory?)", path, dir);
  return CLI_OK;
}

int train_config_write(const train_opts *o, const char *dir) {
  return train_config_save(dir, config_json(o));
}

/* ---- reading ------------------------------------------------------------------------------ */


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

/* The optional "lr_auto" record of --lr auto, kept when a resumed run rewrites the file. */
static int read_lr_auto(const cJSON *j, const char *path, train_opts *o) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "lr_auto");
  o->lr_auto = 0, o->lr_lambda_max = 0, o->lr_auto_n = 0;
  if (!a || cJSON_IsNull(a)) return CLI_OK;
  if (!cJSON_IsObject(a)) return cli_fail(SURI_OK, "%s: 'lr_auto' must be an object", path);
  int rc = get_num(a, path, "fraction", &o->lr_auto);
  if (!rc) rc = get_num(a, path, "lambda_max", &o->lr_lambda_max);
  if (!rc) rc = get_int(a, path, "samples", 1, &o->lr_auto_n);
  if (!rc && !(o->lr_auto > 0 && o->lr_auto <= 1 && o->lr_lambda_max > 0))
    rc = cli_fail(SURI_OK, "%s: 'lr_auto' needs fraction in (0, 1] and lambda_max > 0", path);
  return rc;
}

/* The "sampler" object of a Langevin / asgd run (absent in other runs and in files written
 * before the samplers existed). Checked like the flags it stands for. */
static int read_sampler(const cJSON *j, const char *path, train_opts *o) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "sampler");
  int sampler = train_is_sampler(o->optim);
  if (!a || cJSON_IsNull(a))
    return sampler ? cli_fail(SURI_OK, "%s: optim '%s' needs the 'sampler' object", path,
                              o->optim) : CLI_OK;
  if (!cJSON_IsObject(a)) return cli_fail(SURI_OK, "%s: 'sampler' must be an object", path);
  int64_t seed = 0;
  int rc = get_num(a, path, "temperature", &o->temperature);
  if (!rc) rc = get_num(a, path, "data_size", &o->data_size);
  if (!rc) rc = get_num(a, path, "prior_var", &o->prior_var);
  if (!rc) rc = get_num(a, path, "lambda", &o->asgd_lambda);
  if (!rc) rc = get_int(a, path, "loop", 1, &o->loop);
  if (!rc) rc = get_int(a, path, "noise_seed", 0, &seed);
  if (!rc) rc = get_int(a, path, "burn_in", 0, &o->burn_in);
  if (!rc) rc = get_int(a, path, "sample_every", 1, &o->sample_every);
  if (!rc) rc = cli_json_get_str(a, path, "samples_out", o->samples_out, sizeof o->samples_out, 1);
  if (rc) return rc;
  const cJSON *sv = cJSON_GetObjectItemCaseSensitive(a, "symmetric_init");
  if (!cJSON_IsBool(sv))
    return cli_fail(SURI_OK, "%s: key 'symmetric_init' is missing or not a boolean", path);
  o->symmetric_init = cJSON_IsTrue(sv);
  o->noise_seed = (uint64_t)seed, o->noise_seed_set = 1;
  if (!(o->temperature >= 0) || !(o->data_size >= 0) || !(o->prior_var >= 0) ||
      !(o->asgd_lambda >= 0))
    return cli_fail(SURI_OK, "%s: 'temperature', 'data_size', 'prior_var' and 'lambda' must be "
                    ">= 0", path);
  return CLI_OK;
}

static int read_fields(const cJSON *j, const char *path, train_opts *o) {
  int64_t seed = 0;
  int rc = cli_json_get_str(j, path, "data", o->data, sizeof o->data, 0);
  if (!rc) rc = cli_json_get_str(j, path, "test_data", o->test_data, sizeof o->test_data, 1);
  if (!rc) rc = cli_json_get_str(j, path, "model", o->model, sizeof o->model, 0);
  if (!rc) rc = cli_json_get_str(j, path, "optim", o->optim, sizeof o->optim, 0);
  if (!rc) rc = cli_json_get_str(j, path, "schedule", o->schedule, sizeof o->schedule, 0);
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
  if ((rc = read_sampler(j, path, o))) return rc;
  return read_lr_auto(j, path, o);
}

/* A config.json may come from anywhere (a copied run directory): its values get the same
 * range checks as the flags they stand for, before anything is sized from them. */
static int check_fields(const char *path, const train_opts *o) {
  suri_optim_kind kind;
  suri_model_spec spec;
  suri_schedule sch;
  if (o->batch > (1 << 20))
    return cli_fail(SURI_OK, "%s: 'batch' must be in [1, 1048576] (got %lld)", path,
                    (long long)o->batch);
  if (o->threads > 1024)
    return cli_fail(SURI_OK, "%s: 'threads' must be in [0, 1024] (got %lld)", path,
                    (long long)o->threads);
  if (o->epochs == 0 && o->steps == 0)
    return cli_fail(SURI_OK, "%s: 'epochs' or 'steps' must be >= 1", path);
  if (!(o->lr > 0)) return cli_fail(SURI_OK, "%s: 'lr' must be > 0 (got %g)", path, o->lr);
  if (!train_is_sampler(o->optim) && suri_optim_kind_parse(o->optim, &kind))
    return cli_fail(SURI_ERR_ARG, "%s: bad 'optim'", path);
  if (suri_model_spec_parse(o->model, &spec))
    return cli_fail(SURI_ERR_ARG, "%s: bad 'model'", path);
  if (suri_schedule_parse(o->schedule, o->lr, 1 << 30, &sch))
    return cli_fail(SURI_ERR_ARG, "%s: bad 'schedule'", path);
  return CLI_OK;
}

int train_config_parse(const char *text, size_t n, const char *path, train_opts *o) {
  cJSON *j = cJSON_ParseWithLength(text, n);
  int rc;
  if (!j || !cJSON_IsObject(j)) rc = cli_fail(SURI_OK, "%s: not a JSON object", path);
  else rc = read_fields(j, path, o);
  if (!rc) rc = check_fields(path, o);
  cJSON_Delete(j);
  return rc;
}

int train_config_read(const char *dir, train_opts *o) {
  char path[TRAIN_PATH_MAX + 16];
  void *data = NULL;
  size_t n = 0;
  if (train_config_load(dir, path, sizeof path, &data, &n)) return CLI_FAIL;
  int rc = train_config_parse(data, n, path, o);
  suri_free(data);
  return rc;
}

int train_config_peek_optim(const char *dir, char *buf, size_t n) {
  char path[TRAIN_PATH_MAX + 16];
  train_config_path(dir, path, sizeof path);
  void *data = NULL;
  size_t len = 0;
  if (suri_read_file(path, (size_t)1 << 20, &data, &len)) return CLI_FAIL;
  cJSON *j = cJSON_ParseWithLength(data, len);
  suri_free(data);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "optim");
  int rc = CLI_FAIL;
  if (cJSON_IsString(v) && strlen(v->valuestring) < n) {
    snprintf(buf, n, "%s", v->valuestring);
    rc = CLI_OK;
  }
  cJSON_Delete(j);
  return rc;
}
