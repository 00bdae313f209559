/* mfld_file.c - `suri eval`, `suri predict` and `suri info` on a particle file: a two-layer
 * mean-field network f(x) = (1/M) sum_j alpha(a_j) act(w_j . x + b_j) saved by suri_mfld_save
 * (safetensors, metadata format "suri-mfld": the configuration, the particles "w" (M, d),
 * "b", "a", and the step counters). eval reports the mean loss and the 0-1 error of sign f
 * (suri_mfld_evaluate; labels 0/1 read as -1/+1), predict writes f(x) as float32 (N, 1), info
 * the configuration and sizes. A particle file stores no input statistics: inputs are used as
 * they are (u8 NPY input divided by 255, as `suri predict` does for models). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "mfld_file.h"
#include "suri/io.h"
#include "suri/mfld.h"

#define HEADER_MAX ((uint64_t)100 << 20) /* the safetensors reader's own bound on headers */

int cli_is_mfld_file(const char *path) {
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (!f) return 0;
  unsigned char b[8];
  uint64_t n = 0;
  int is = 0;
  if (fread(b, 1, 8, f) == 8) {
    for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
    char *h = n > 0 && n <= HEADER_MAX ? malloc((size_t)n) : NULL;
    if (h && fread(h, 1, (size_t)n, f) == (size_t)n) {
      cJSON *j = cJSON_ParseWithLength(h, (size_t)n);
      const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "__metadata__");
      const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(meta, "format");
      is = cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "suri-mfld");
      cJSON_Delete(j);
    }
    free(h);
  }
  fclose(f);
  return is;
}

static int not_for_particles(const char *cmd, const char *flag, const char *path) {
  return cli_usage_error(cmd, "%s does not apply to %s: it is a mean-field particle file "
                         "(written by 'suri train --optim mfld|pda|psdca')", flag, path);
}

static void print_eval(const char *path, const char *spec, const suri_dataset *d, int json,
                       double loss, double err) {
  if (json) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model_file", path);
    cJSON_AddStringToObject(j, "format", "suri-mfld");
    cJSON_AddStringToObject(j, "data", spec);
    cJSON_AddNumberToObject(j, "n", (double)d->n);
    const char *keys[3] = {"loss", "error", "accuracy"};
    double v[3] = {loss, err, 1 - err};
    for (int i = 0; i < 3; i++) {
      if (isfinite(v[i])) cJSON_AddNumberToObject(j, keys[i], v[i]);
      else cJSON_AddNullToObject(j, keys[i]);
    }
    char *text = cJSON_PrintUnformatted(j);
    if (text) printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(j);
    return;
  }
  printf("loss %.6g", loss);
  if (!isnan(err)) printf("  error %.4f  accuracy %.2f%%", err, 100.0 * (1 - err));
  printf("  (%lld samples of %s; mean-field particles)\n", (long long)d->n, d->name);
}

int cli_mfld_eval(const char *path, const char *data, int64_t threads, int json,
                  const char *bad_flag) {
  if (bad_flag) return not_for_particles("eval", bad_flag, path);
  int rc = cli_set_threads_omp(threads);
  if (rc) return rc;
  suri_dataset *d = NULL;
  suri_mfld *m = NULL;
  suri_status st = suri_data_load(data, &d);
  if (st) return cli_data_error("eval", "--data", data, st);
  double loss = NAN, err = NAN;
  if ((st = suri_mfld_load(path, &m))) rc = cli_fail(st, "cannot load particles %s", path);
  else if ((st = suri_mfld_evaluate(m, d, &loss, &err)))
    rc = cli_fail(st, "evaluating %s on '%s' failed", path, data);
  else print_eval(path, data, d, json, loss, err);
  suri_mfld_free(m);
  suri_dataset_free(d);
  return rc;
}

/* The rows of a (N, ...) array as (N, d) reals; u8 scaled by 1/255. *x is NULL for N == 0. */
static int rows_of(const suri_array *a, const char *path, int64_t d, suri_real **x) {
  int64_t feat = 1;
  *x = NULL;
  if (a->rank < 2)
    return cli_fail(SURI_OK, "%s: input has rank %d; expected (N, %lld) or (N, H, W, ...)", path,
                    a->rank, (long long)d);
  for (int i = 1; i < a->rank; i++) feat *= a->dim[i];
  if (feat != d)
    return cli_fail(SURI_OK, "%s: each row has %lld values but the particles' input dimension "
                    "is %lld", path, (long long)feat, (long long)d);
  int64_t total = suri_array_numel(a);
  if (total == 0) return CLI_OK;
  if (!(*x = suri_alloc((size_t)total * sizeof(suri_real))))
    return cli_fail(SURI_ERR_NOMEM, "%s: cannot hold the input", path);
  double scale = a->dtype == SURI_DT_U8 ? 1.0 / 255.0 : 1.0;
  for (int64_t i = 0; i < total; i++) {
    double v = suri_array_get(a, i);
    if (!isfinite(v))
      return cli_fail(SURI_OK, "%s: element %lld (row %lld) is not finite", path, (long long)i,
                      (long long)(i / d));
    (*x)[i] = (suri_real)(v * scale);
  }
  return CLI_OK;
}

int cli_mfld_predict(const char *path, const char *input, const char *output,
                     const char *bad_flag) {
  if (bad_flag) return not_for_particles("predict", bad_flag, path);
  suri_mfld *m = NULL;
  suri_status st = suri_mfld_load(path, &m);
  if (st) return cli_fail(st, "cannot load particles %s", path);
  suri_array a;
  memset(&a, 0, sizeof a);
  suri_real *x = NULL, *y = NULL;
  float *y32 = NULL;
  int rc = CLI_OK;
  if ((st = suri_npy_read(input, 0, &a))) rc = cli_fail(st, "cannot read input %s", input);
  if (!rc) rc = rows_of(&a, input, suri_mfld_input_dim(m), &x);
  int64_t n = rc ? 0 : a.dim[0];
  if (!rc) {
    y = suri_alloc((size_t)(n > 0 ? n : 1) * sizeof(suri_real));
    y32 = suri_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!y || !y32) rc = cli_fail(SURI_ERR_NOMEM, "cannot hold %lld outputs", (long long)n);
  }
  if (!rc && n > 0 && (st = suri_mfld_predict(m, n, x, y))) rc = cli_fail(st, "prediction failed");
  if (!rc) {
    for (int64_t i = 0; i < n; i++) y32[i] = (float)y[i];
    int64_t dim[2] = {n, 1};
    if ((st = suri_npy_write(output, SURI_DT_F32, 2, dim, y32)))
      rc = cli_fail(st, "cannot write %s", output);
  }
  if (!rc) fprintf(stderr, "wrote %s: (%lld, 1) float32, f(x) of the particles\n", output,
                   (long long)n);
  suri_array_free(&a);
  suri_free(x);
  suri_free(y);
  suri_free(y32);
  suri_mfld_free(m);
  return rc;
}

static void print_config(const char *path, suri_mfld *m) {
  const suri_mfld_config *c = suri_mfld_get_config(m);
  printf("particle file  %s (mean-field two-layer network, format suri-mfld)\n", path);
  printf("method         %s\nparticles      M = %lld, dimension p = %lld (input d = %lld%s%s)\n",
         suri_mfld_method_name(c->method), (long long)c->M, (long long)suri_mfld_dim(m),
         (long long)suri_mfld_input_dim(m), c->bias ? " + bias" : "",
         c->head <= SURI_MFLD_HEAD_BOUNDED ? " + output weight a" : "");
  printf("network        f(x) = (1/M) sum_j alpha(a_j) %s(w_j . x%s), head %s", suri_act_name(c->act),
         c->bias ? " + b_j" : "", suri_mfld_head_name(c->head));
  if (c->head == SURI_MFLD_HEAD_BOUNDED) printf(" (R = %g)", c->R);
  printf("\nobjective      loss %s, lambda1 %g, lambda2 %g\n", suri_mfld_loss_name(c->loss),
         c->lambda1, c->lambda2);
  if (c->method == SURI_MFLD_METHOD_MFLD)
    printf("dynamics       eta %g, estimator %s, batch %lld, anneal %g\n", c->eta,
           suri_mfld_estimator_name(c->estimator), (long long)c->batch, c->anneal);
  printf("progress       %lld epochs done, %lld Langevin steps, seed %llu%s\n",
         (long long)suri_mfld_epochs_done(m), (long long)suri_mfld_steps(m),
         (unsigned long long)c->seed, suri_mfld_weights(m) ? ", weighted particles" : "");
}

int cli_mfld_info(const char *path) {
  suri_mfld *m = NULL;
  suri_safetensors *sf = NULL;
  suri_status st = suri_mfld_load(path, &m);
  if (st) return cli_fail(st, "cannot load particles %s", path);
  if ((st = suri_st_read(path, 0, &sf))) {
    suri_mfld_free(m);
    return cli_fail(st, "cannot read %s", path);
  }
  print_config(path, m);
  printf("tensors:\n");
  for (int64_t i = 0; i < suri_st_count(sf); i++) {
    const suri_st_tensor *t = suri_st_at(sf, i);
    char shape[64];
    if (t->rank == 1) snprintf(shape, sizeof shape, "(%lld)", (long long)t->dim[0]);
    else snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)t->dim[0], (long long)t->dim[1]);
    printf("  %-12s %s\n", t->name, shape);
  }
  printf("metadata:\n");
  for (int64_t i = 0; i < suri_st_meta_count(sf); i++) {
    const char *k = suri_st_meta_key(sf, i), *v = suri_st_meta(sf, k);
    printf("  %-16s %s\n", k, v ? v : "");
  }
  suri_st_free(sf);
  suri_mfld_free(m);
  return CLI_OK;
}
