/* file.c - particle systems as safetensors files: "w" (M, d), "b" (M), "a" (M) (raw output
 * coordinate), "weights" (M, F64), "psdca.g" (n, F64), "pda.C" (n, F64), "pda.active" (n, U8),
 * with the whole configuration and the step counters in the metadata, so a loaded system
 * predicts exactly as the saved one and a run continues where it stopped (same noise stream
 * positions). Layout-independent: the row stride of the in-memory matrix is not stored. */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mfld_internal.h"
#include "suri/io.h"

#ifdef SURI_REAL_DOUBLE
#define FILE_DTYPE SURI_DT_F64
#else
#define FILE_DTYPE SURI_DT_F32
#endif

#define FORMAT_NAME "suri-mfld"
#define MFLD_FORMAT_VERSION 1

enum { K_I64, K_DBL, K_INT, K_U64 };
typedef struct meta_field {
  const char *key;
  int kind;
  size_t off;
} meta_field;

/* clang-format off */
#define F(name, kind) {#name, kind, offsetof(suri_mfld_config, name)}
static const meta_field fields[] = {
    F(M, K_I64),           F(bias, K_INT),         F(R, K_DBL),
    F(lambda1, K_DBL),     F(lambda2, K_DBL),      F(init_std, K_DBL),
    F(eta, K_DBL),         F(batch, K_I64),        F(svrg_period, K_I64),
    F(anneal, K_DBL),      F(epochs, K_I64),       F(steps_per_epoch, K_I64),
    F(seed, K_U64),        F(monitor_every, K_I64), F(gap, K_INT),
    F(gap_samples, K_I64), F(gap_grid, K_INT),     F(knn, K_INT),
    F(inner_eta, K_DBL),   F(smoothness, K_DBL),   F(pda_batch, K_I64),
    F(pda_inner, K_I64),   F(psdca_inner, K_I64),  F(psdca_ess, K_DBL),
    F(psdca_safety, K_DBL), F(psdca_refresh, K_INT), F(chunk, K_I64)};
/* clang-format on */
#undef F

static void fmt_field(const suri_mfld_config *c, const meta_field *f, char *buf, size_t n) {
  const char *p = (const char *)c + f->off;
  if (f->kind == K_I64)
    snprintf(buf, n, "%" PRId64, *(const int64_t *)(const void *)p);
  else if (f->kind == K_U64)
    snprintf(buf, n, "%" PRIu64, *(const uint64_t *)(const void *)p);
  else if (f->kind == K_INT)
    snprintf(buf, n, "%d", *(const int *)(const void *)p);
  else
    snprintf(buf, n, "%.17g", *(const double *)(const void *)p);
}

static suri_status add_col(suri_st_writer *w, const suri_mfld *m, const char *name, int col) {
  suri_real *v = suri_alloc((size_t)m->M * sizeof(suri_real));
  if (!v) return suri_fail(SURI_ERR_NOMEM, "mfld_save: cannot allocate");
  for (int64_t j = 0; j < m->M; j++) v[j] = m->theta[j * m->ld + col];
  suri_status st = suri_st_writer_add_real(w, name, FILE_DTYPE, 1, &m->M, v);
  suri_free(v);
  return st;
}

static suri_status add_tensors(suri_st_writer *w, const suri_mfld *m) {
  suri_real *W = suri_alloc((size_t)(m->M * m->d) * sizeof(suri_real));
  if (!W) return suri_fail(SURI_ERR_NOMEM, "mfld_save: cannot allocate");
  for (int64_t j = 0; j < m->M; j++)
    memcpy(W + j * m->d, m->theta + j * m->ld, (size_t)m->d * sizeof(suri_real));
  int64_t dim[2] = {m->M, m->d};
  suri_status st = suri_st_writer_add_real(w, "w", FILE_DTYPE, 2, dim, W);
  suri_free(W);
  if (!st && m->col_b >= 0) st = add_col(w, m, "b", m->col_b);
  if (!st && m->col_a >= 0) st = add_col(w, m, "a", m->col_a);
  if (!st && m->w) st = suri_st_writer_add(w, "weights", SURI_DT_F64, 1, &m->M, m->w);
  if (!st && m->sd_g) st = suri_st_writer_add(w, "psdca.g", SURI_DT_F64, 1, &m->sd_n, m->sd_g);
  if (!st && m->pda_C) st = suri_st_writer_add(w, "pda.C", SURI_DT_F64, 1, &m->pda_n, m->pda_C);
  if (!st && m->pda_C)
    st = suri_st_writer_add(w, "pda.active", SURI_DT_U8, 1, &m->pda_n, m->pda_is_active);
  return st;
}

suri_status suri_mfld_save(const suri_mfld *m, const char *path, int n_extra,
                           const char *const *keys, const char *const *values) {
  if (!m || !path || (n_extra > 0 && (!keys || !values)))
    return suri_fail(SURI_ERR_ARG, "mfld_save: NULL argument");
  suri_st_writer *w = suri_st_writer_new();
  if (!w) return suri_fail(SURI_ERR_NOMEM, "mfld_save: cannot allocate the writer");
  suri_status st = add_tensors(w, m);
  char buf[64];
  const suri_mfld_config *c = &m->c;
  const char *kv[][2] = {{"format", FORMAT_NAME},
                         {"suri_version", SURI_VERSION_STRING},
                         {"method", suri_mfld_method_name(c->method)},
                         {"act", suri_act_name(c->act)},
                         {"head", suri_mfld_head_name(c->head)},
                         {"loss", suri_mfld_loss_name(c->loss)},
                         {"estimator", suri_mfld_estimator_name(c->estimator)}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0] && !st; i++)
    st = suri_st_writer_meta(w, kv[i][0], kv[i][1]);
  const struct {
    const char *k;
    int64_t v;
  } counters[] = {{"format_version", MFLD_FORMAT_VERSION}, {"d", m->d},
                  {"langevin_steps", m->lsteps},           {"outer_steps", m->outer},
                  {"epochs_done", m->epochs_done},         {"pda_t", m->pda_t},
                  {"psdca_resamples", m->sd_resamples}};
  for (size_t i = 0; i < sizeof counters / sizeof counters[0] && !st; i++) {
    snprintf(buf, sizeof buf, "%" PRId64, counters[i].v);
    st = suri_st_writer_meta(w, counters[i].k, buf);
  }
  if (!st) {
    snprintf(buf, sizeof buf, "%.17g", m->pda_S);
    st = suri_st_writer_meta(w, "pda_S", buf);
  }
  for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !st; i++) {
    fmt_field(c, &fields[i], buf, sizeof buf);
    st = suri_st_writer_meta(w, fields[i].key, buf);
  }
  for (int i = 0; i < n_extra && !st; i++) st = suri_st_writer_meta(w, keys[i], values[i]);
  if (!st) st = suri_st_writer_write(w, path);
  suri_st_writer_free(w);
  return st;
}

/* ---- load ---------------------------------------------------------------------------------- */
static suri_status meta_num(const suri_safetensors *sf, const char *path, const char *key,
                            int integer, double *dv, int64_t *iv, uint64_t *uv) {
  const char *s = suri_st_meta(sf, key);
  if (!s) return suri_fail(SURI_ERR_FORMAT, "%s: metadata entry \"%s\" is missing", path, key);
  char *end = NULL;
  if (integer == 2)
    *uv = strtoull(s, &end, 10);
  else if (integer)
    *iv = strtoll(s, &end, 10);
  else
    *dv = strtod(s, &end);
  if (end == s || *end || (!integer && !isfinite(*dv)))
    return suri_fail(SURI_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not a valid number", path,
                     key, s);
  return SURI_OK;
}

static suri_status read_config(const suri_safetensors *sf, const char *path, suri_mfld_config *c,
                               int64_t *d) {
  *c = suri_mfld_defaults();
  const char *fmt = suri_st_meta(sf, "format");
  if (!fmt || strcmp(fmt, FORMAT_NAME) != 0)
    return suri_fail(SURI_ERR_FORMAT,
                     "%s: not a mean-field particle file (metadata format is "
                     "\"%s\", expected \"" FORMAT_NAME "\")",
                     path, fmt ? fmt : "(missing)");
  suri_status st = SURI_OK;
  const char *s;
  if (!st && !(s = suri_st_meta(sf, "method")))
    st = suri_fail(SURI_ERR_FORMAT, "%s: metadata \"method\" missing", path);
  if (!st) st = suri_mfld_method_parse(s, &c->method);
  if (!st && !(s = suri_st_meta(sf, "head")))
    st = suri_fail(SURI_ERR_FORMAT, "%s: metadata \"head\" missing", path);
  if (!st) st = suri_mfld_head_parse(s, &c->head);
  if (!st && !(s = suri_st_meta(sf, "loss")))
    st = suri_fail(SURI_ERR_FORMAT, "%s: metadata \"loss\" missing", path);
  if (!st) st = suri_mfld_loss_parse(s, &c->loss);
  if (!st && !(s = suri_st_meta(sf, "estimator")))
    st = suri_fail(SURI_ERR_FORMAT, "%s: metadata \"estimator\" missing", path);
  if (!st) st = suri_mfld_estimator_parse(s, &c->estimator);
  if (!st && !(s = suri_st_meta(sf, "act")))
    st = suri_fail(SURI_ERR_FORMAT, "%s: metadata \"act\" missing", path);
  if (!st) {
    int a = 0;
    while (a < SURI_ACT_COUNT && strcmp(s, suri_act_name((suri_act)a)) != 0) a++;
    if (a == SURI_ACT_COUNT)
      st = suri_fail(SURI_ERR_FORMAT, "%s: unknown act \"%s\"", path, s);
    else
      c->act = (suri_act)a;
  }
  for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !st; i++) {
    char *p = (char *)c + fields[i].off;
    double dv = 0;
    int64_t iv = 0;
    uint64_t uv = 0;
    st = meta_num(sf, path, fields[i].key,
                  fields[i].kind == K_DBL   ? 0
                  : fields[i].kind == K_U64 ? 2
                                            : 1,
                  &dv, &iv, &uv);
    if (st) break;
    if (fields[i].kind == K_I64)
      memcpy(p, &iv, sizeof iv);
    else if (fields[i].kind == K_U64)
      memcpy(p, &uv, sizeof uv);
    else if (fields[i].kind == K_DBL)
      memcpy(p, &dv, sizeof dv);
    else if (iv < INT_MIN || iv > INT_MAX) /* would wrap when cast to int */
      st = suri_fail(SURI_ERR_FORMAT, "%s: metadata \"%s\" = %lld is out of range", path,
                     fields[i].key, (long long)iv);
    else {
      int v = (int)iv;
      memcpy(p, &v, sizeof v);
    }
  }
  double dv;
  if (!st) st = meta_num(sf, path, "d", 1, &dv, d, NULL);
  if (st) return st;
  if ((st = suri_mfld_check(c))) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", suri_last_error());
    return suri_fail(SURI_ERR_FORMAT, "%s: stored configuration is invalid: %s", path, msg);
  }
  return SURI_OK;
}

static suri_status load_col(suri_mfld *m, const suri_safetensors *sf, const char *name, int col) {
  suri_real *v = suri_alloc((size_t)m->M * sizeof(suri_real));
  if (!v) return suri_fail(SURI_ERR_NOMEM, "mfld_load: cannot allocate");
  suri_status st = suri_st_get_real(sf, name, 1, &m->M, v, 1);
  for (int64_t j = 0; !st && j < m->M; j++) m->theta[j * m->ld + col] = v[j];
  suri_free(v);
  return st;
}

/* An F64 vector tensor of length len into dst (finite values), or absent (*present = 0). */
static suri_status load_f64(const suri_safetensors *sf, const char *path, const char *name,
                            int64_t len, double *dst, int *present) {
  const suri_st_tensor *t = suri_st_find(sf, name);
  *present = t != NULL;
  if (!t) return SURI_OK;
  if (t->dtype != SURI_DT_F64 || t->rank != 1 || (len >= 0 && t->dim[0] != len))
    return suri_fail(SURI_ERR_FORMAT, "%s: tensor \"%s\" must be F64 of shape (%lld)", path, name,
                     (long long)len);
  if (dst) {
    memcpy(dst, suri_st_data(sf, t), (size_t)t->dim[0] * sizeof(double));
    for (int64_t i = 0; i < t->dim[0]; i++)
      if (!isfinite(dst[i]))
        return suri_fail(SURI_ERR_NUMERIC, "%s: tensor \"%s\" holds a NaN/Inf at %lld", path, name,
                         (long long)i);
  }
  return SURI_OK;
}

static suri_status load_state(suri_mfld *m, const suri_safetensors *sf, const char *path) {
  int has;
  suri_status st = SURI_OK;
  const suri_st_tensor *tg = suri_st_find(sf, "psdca.g"), *tc = suri_st_find(sf, "pda.C");
  if (suri_st_find(sf, "weights") || tg) {
    int64_t n = tg ? tg->dim[0] : 1;
    if (tg && (tg->rank != 1 || n < 1))
      return suri_fail(SURI_ERR_FORMAT, "%s: psdca.g must be a vector", path);
    if ((st = mf_ensure_psdca(m, n))) return st;
    if (!tg) { /* weights without a dual iterate: keep only the weights */
      suri_free(m->sd_g), suri_free(m->cb_all);
      m->sd_g = NULL, m->cb_all = NULL, m->sd_n = 0;
    }
    if ((st = load_f64(sf, path, "weights", m->M, m->w, &has))) return st;
    if (tg && (st = load_f64(sf, path, "psdca.g", n, m->sd_g, &has))) return st;
  }
  if (tc) {
    if (tc->rank != 1 || tc->dim[0] < 1)
      return suri_fail(SURI_ERR_FORMAT, "%s: pda.C must be a vector", path);
    if ((st = mf_ensure_pda(m, tc->dim[0]))) return st;
    if ((st = load_f64(sf, path, "pda.C", m->pda_n, m->pda_C, &has))) return st;
    const suri_st_tensor *ta = suri_st_find(sf, "pda.active");
    if (!ta || ta->dtype != SURI_DT_U8 || ta->rank != 1 || ta->dim[0] != m->pda_n)
      return suri_fail(SURI_ERR_FORMAT, "%s: pda.active must be U8 of shape (%lld)", path,
                       (long long)m->pda_n);
    memcpy(m->pda_is_active, suri_st_data(sf, ta), (size_t)m->pda_n);
    m->pda_nactive = 0;
    for (int64_t i = 0; i < m->pda_n; i++)
      if (m->pda_is_active[i]) m->pda_active[m->pda_nactive++] = i;
  }
  return SURI_OK;
}

static suri_status load_counters(suri_mfld *m, const suri_safetensors *sf, const char *path) {
  double dv = 0;
  int64_t iv[5];
  const char *keys[5] = {"langevin_steps", "outer_steps", "epochs_done", "pda_t",
                         "psdca_resamples"};
  for (int i = 0; i < 5; i++) {
    suri_status st = meta_num(sf, path, keys[i], 1, &dv, &iv[i], NULL);
    if (st) return st;
    if (iv[i] < 0)
      return suri_fail(SURI_ERR_FORMAT, "%s: metadata \"%s\" is negative", path, keys[i]);
  }
  m->lsteps = iv[0], m->outer = iv[1], m->epochs_done = iv[2], m->pda_t = iv[3],
  m->sd_resamples = iv[4];
  return meta_num(sf, path, "pda_S", 0, &m->pda_S, NULL, NULL);
}

/* The particles "w" must be there with the stored (M, d) before anything is sized from M or d:
 * a few bytes of metadata claiming 2^26 particles must not allocate gigabytes. The chunk
 * buffers (chunk x M reals) remain working memory that the stored configuration asks for, like
 * --chunk, capped by suri_mfld_new. */
static suri_status check_w(const suri_safetensors *sf, const char *path,
                           const suri_mfld_config *c, int64_t d) {
  const suri_st_tensor *t = suri_st_find(sf, "w");
  if (!t || t->rank != 2 || t->dim[0] != c->M || t->dim[1] != d)
    return suri_fail(SURI_ERR_FORMAT,
                     "%s: tensor \"w\" is missing or not of the stored shape (M %lld, d %lld)",
                     path, (long long)c->M, (long long)d);
  return SURI_OK;
}

suri_status suri_mfld_load(const char *path, suri_mfld **out) {
  if (!path || !out) return suri_fail(SURI_ERR_ARG, "mfld_load: NULL argument");
  suri_safetensors *sf = NULL;
  suri_status st = suri_st_read(path, 0, &sf);
  if (st) return st;
  suri_mfld_config c;
  int64_t d = 0;
  suri_mfld *m = NULL;
  if (!(st = read_config(sf, path, &c, &d))) st = check_w(sf, path, &c, d);
  if (!st) st = suri_mfld_new(&c, d, &m);
  if (!st) {
    int64_t dim[2] = {m->M, d};
    suri_real *W = suri_alloc((size_t)(m->M * d) * sizeof(suri_real));
    if (!W) st = suri_fail(SURI_ERR_NOMEM, "mfld_load: cannot allocate");
    if (!st) st = suri_st_get_real(sf, "w", 2, dim, W, 1);
    for (int64_t j = 0; !st && j < m->M; j++)
      memcpy(m->theta + j * m->ld, W + j * d, (size_t)d * sizeof(suri_real));
    suri_free(W);
  }
  if (!st && m->col_b >= 0) st = load_col(m, sf, "b", m->col_b);
  if (!st && m->col_a >= 0) st = load_col(m, sf, "a", m->col_a);
  if (!st) st = load_state(m, sf, path);
  if (!st) st = load_counters(m, sf, path);
  suri_st_free(sf);
  if (st) {
    suri_mfld_free(m);
    return st;
  }
  *out = m;
  return SURI_OK;
}
