/* model_file.c - models as safetensors files: tensors named like torch.nn modules (fc1.weight
 * (OUT, IN), fc1.bias, bn1.running_mean ...) so the file loads into an equivalent PyTorch
 * model; metadata carries the canonical model spec from which the graph is rebuilt. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"
#include "suri/io.h"

#ifdef SURI_REAL_DOUBLE
#define FILE_DTYPE SURI_DT_F64
#else
#define FILE_DTYPE SURI_DT_F32
#endif

suri_status suri_model_save(const suri_model *m, const char *path, uint64_t seed, int n_extra,
                            const char *const *keys, const char *const *values) {
  suri_st_writer *w = suri_st_writer_new();
  if (!w) return suri_fail(SURI_ERR_NOMEM, "cannot allocate safetensors writer");
  suri_status st = SURI_OK;
  for (int i = 0; i < m->n_tensors && !st; i++) {
    const suri_model_tensor *t = &m->tensors[i];
    const suri_real *p = (t->is_state ? m->state : m->params) + t->offset;
    st = suri_st_writer_add_real(w, t->name, FILE_DTYPE, t->rank, t->dim, p);
  }
  int64_t in = m->spec.width[0];
  if (!st && m->in_mean) st = suri_st_writer_add(w, "input_norm.mean", SURI_DT_F64, 1, &in, m->in_mean);
  if (!st && m->in_std) st = suri_st_writer_add(w, "input_norm.std", SURI_DT_F64, 1, &in, m->in_std);
  char spec[1024], num[32], fv[16];
  suri_model_spec_format(&m->spec, spec, sizeof spec);
  snprintf(num, sizeof num, "%" PRIu64, seed);
  snprintf(fv, sizeof fv, "%d", SURI_FORMAT_VERSION);
  const char *kv[][2] = {{"format", "suri"},
                         {"format_version", fv},
                         {"suri_version", SURI_VERSION_STRING},
                         {"model_spec", spec},
                         {"param", suri_param_name(m->spec.param)},
                         {"act", suri_act_name(m->spec.act)},
                         {"seed", num}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0] && !st; i++)
    st = suri_st_writer_meta(w, kv[i][0], kv[i][1]);
  for (int i = 0; i < n_extra && !st; i++) st = suri_st_writer_meta(w, keys[i], values[i]);
  if (!st) st = suri_st_writer_write(w, path);
  suri_st_writer_free(w);
  return st;
}

/* Optional input statistics: both tensors or neither, (IN) F64, finite, std > 0. */
static suri_status load_input_norm(suri_model *m, const suri_safetensors *st, const char *path) {
  const suri_st_tensor *tm = suri_st_find(st, "input_norm.mean");
  const suri_st_tensor *ts = suri_st_find(st, "input_norm.std");
  if (!tm && !ts) return SURI_OK;
  int64_t in = m->spec.width[0];
  if (!tm || !ts || tm->dtype != SURI_DT_F64 || ts->dtype != SURI_DT_F64 || tm->rank != 1 ||
      ts->rank != 1 || tm->dim[0] != in || ts->dim[0] != in)
    return suri_fail(SURI_ERR_FORMAT, "%s: input_norm.mean/std must both be F64 of shape (%lld)",
                     path, (long long)in);
  double *mean = malloc((size_t)in * sizeof(double)), *sd = malloc((size_t)in * sizeof(double));
  suri_status s = SURI_OK;
  if (!mean || !sd) s = suri_fail(SURI_ERR_NOMEM, "cannot allocate input statistics");
  if (!s) {
    memcpy(mean, suri_st_data(st, tm), (size_t)in * sizeof(double));
    memcpy(sd, suri_st_data(st, ts), (size_t)in * sizeof(double));
    s = suri_model_set_input_norm(m, mean, sd);
    if (s) {
      char msg[600];
      snprintf(msg, sizeof msg, "%s", suri_last_error());
      s = suri_fail(SURI_ERR_FORMAT, "%s: %s", path, msg);
    }
  }
  free(mean);
  free(sd);
  return s;
}

static suri_status load_tensors(suri_model *m, const suri_safetensors *st, const char *path) {
  for (int i = 0; i < m->n_tensors; i++) {
    const suri_model_tensor *t = &m->tensors[i];
    suri_real *p = (t->is_state ? m->state : m->params) + t->offset;
    if (!suri_st_find(st, t->name))
      return suri_fail(SURI_ERR_FORMAT, "%s: tensor '%s' is missing (the model spec needs it)",
                       path, t->name);
    suri_status s = suri_st_get_real(st, t->name, t->rank, t->dim, p, 1);
    if (s) return s; /* the message already names the file and the tensor */
  }
  return load_input_norm(m, st, path);
}

/* The file's own architecture claim is checked against what it holds before the model is
 * built: the dense weights alone need sum_l width[l] * width[l+1] values, so a 200-byte file
 * whose model_spec names a 10^12-parameter network is refused without allocating it. */
static suri_status check_capacity(const suri_model_spec *spec, const suri_safetensors *st,
                                  const char *path) {
  int64_t need = 0, have = 0;
  for (int l = 0; l + 1 < spec->n_widths; l++) need += spec->width[l] * spec->width[l + 1];
  for (int64_t i = 0; i < suri_st_count(st); i++) {
    const suri_st_tensor *t = suri_st_at(st, i);
    have += (int64_t)(t->nbytes / suri_dtype_size(t->dtype));
  }
  if (need > have)
    return suri_fail(SURI_ERR_FORMAT, "%s: model_spec needs %lld weights but the file holds only "
                     "%lld values (truncated or not a model of that architecture)", path,
                     (long long)need, (long long)have);
  return SURI_OK;
}

suri_status suri_model_load(const char *path, int64_t max_batch, suri_model **out,
                            uint64_t *seed) {
  *out = NULL;
  suri_safetensors *st = NULL;
  suri_status s = suri_st_read(path, 0, &st);
  if (s) return s;
  const char *spec_text = suri_st_meta(st, "model_spec");
  if (!spec_text) {
    suri_st_free(st);
    return suri_fail(SURI_ERR_FORMAT, "%s: no 'model_spec' in the metadata: not a suri model "
                     "file", path);
  }
  suri_model_spec spec;
  s = suri_model_spec_parse(spec_text, &spec);
  if (!s) s = check_capacity(&spec, st, path);
  if (!s) s = suri_model_new(&spec, max_batch, out);
  if (!s) s = load_tensors(*out, st, path);
  uint64_t sd = 0;
  if (!s) {
    const char *sv = suri_st_meta(st, "seed");
    sd = sv ? strtoull(sv, NULL, 10) : 0;
    if (seed) *seed = sd;
  }
  if (s && *out) {
    suri_model_free(*out);
    *out = NULL;
  }
  suri_st_free(st);
  if (!s) suri_graph_set_rng(suri_model_graph(*out), suri_rng_make(sd, SURI_RNG_DROPOUT));
  return s;
}

suri_status suri_model_copy_params(suri_model *dst, const suri_model *src) {
  if (dst->nparam != src->nparam || dst->nstate != src->nstate)
    return suri_fail(SURI_ERR_SHAPE, "copy_params: models have different layouts");
  memcpy(dst->params, src->params, src->nparam * sizeof(suri_real));
  memcpy(dst->state, src->state, src->nstate * sizeof(suri_real));
  return SURI_OK;
}
