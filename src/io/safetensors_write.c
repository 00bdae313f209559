/* safetensors_write.c - writing safetensors files (https://huggingface.co/docs/safetensors).
 *
 * Tensors are laid out contiguously in insertion order; the JSON header (printed by cJSON,
 * "__metadata__" first as the reference writer does) is padded with spaces so that the data
 * block starts at a multiple of 8 bytes, which keeps every F64/I64 tensor naturally aligned
 * when the file is memory-mapped. Integers in the header (shapes, offsets) are printed as exact
 * decimal text (cJSON raw items) rather than through cJSON's doubles, which would switch to
 * exponent notation at 1e15. Data is stored little-endian whatever the host. F16/BF16 encoding
 * rounds to nearest even (see dtype.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io_internal.h"

typedef struct wtensor {
  char *name;
  suri_dtype dtype;
  int rank;
  int64_t dim[SURI_ARRAY_MAX_RANK];
  unsigned char *data; /* little-endian */
  size_t nbytes;
} wtensor;

struct suri_st_writer {
  wtensor *t;
  int64_t n, cap;
  char **mkey, **mval;
  int64_t n_meta, meta_cap;
};

static const char *st_dtype_name(suri_dtype dt) {
  static const char *names[SURI_DT_COUNT] = {
      [SURI_DT_F32] = "F32", [SURI_DT_F64] = "F64", [SURI_DT_U8] = "U8",
      [SURI_DT_I8] = "I8",   [SURI_DT_I16] = "I16", [SURI_DT_I32] = "I32",
      [SURI_DT_I64] = "I64", [SURI_DT_F16] = "F16", [SURI_DT_BF16] = "BF16"};
  return (unsigned)dt < SURI_DT_COUNT ? names[dt] : NULL;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

suri_st_writer *suri_st_writer_new(void) {
  suri_st_writer *w = calloc(1, sizeof *w);
  if (!w) suri_fail(SURI_ERR_NOMEM, "cannot allocate a safetensors writer");
  return w;
}

void suri_st_writer_free(suri_st_writer *w) {
  if (!w) return;
  for (int64_t i = 0; i < w->n; i++) {
    free(w->t[i].name);
    suri_free(w->t[i].data);
  }
  for (int64_t i = 0; i < w->n_meta; i++) {
    free(w->mkey[i]);
    free(w->mval[i]);
  }
  free(w->t);
  free(w->mkey);
  free(w->mval);
  free(w);
}

static int valid_text(const char *s) {
  return s && *s && suri_io_utf8_valid((const unsigned char *)s, strlen(s), NULL);
}

/* Checks name and shape and appends an entry with an uninitialised data buffer. */
static suri_status add_entry(suri_st_writer *w, const char *name, suri_dtype dtype, int rank,
                             const int64_t *dim, wtensor **out) {
  if (!w) return suri_fail(SURI_ERR_ARG, "safetensors writer is NULL");
  if (!valid_text(name))
    return suri_fail(SURI_ERR_ARG, "safetensors: tensor name must be non-empty UTF-8");
  if (!strcmp(name, "__metadata__"))
    return suri_fail(SURI_ERR_ARG, "safetensors: '__metadata__' is reserved, not a tensor name");
  for (int64_t i = 0; i < w->n; i++)
    if (!strcmp(w->t[i].name, name))
      return suri_fail(SURI_ERR_ARG, "safetensors: tensor '%.200s' added twice", name);
  size_t nbytes = 0;
  char what[256];
  snprintf(what, sizeof what, "safetensors: tensor '%.200s'", name);
  suri_status s = suri_io_check_shape_arg(what, rank, dim, dtype, &nbytes);
  if (s) return s;
  if (w->n == w->cap) {
    int64_t cap = w->cap ? 2 * w->cap : 16;
    wtensor *t = realloc(w->t, (size_t)cap * sizeof *t);
    if (!t) return suri_fail(SURI_ERR_NOMEM, "safetensors: cannot grow the tensor list");
    w->t = t;
    w->cap = cap;
  }
  wtensor *t = &w->t[w->n];
  memset(t, 0, sizeof *t);
  t->name = dup_str(name);
  t->data = suri_alloc(nbytes);
  if (!t->name || !t->data) {
    free(t->name);
    suri_free(t->data);
    return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, nbytes);
  }
  t->dtype = dtype;
  t->rank = rank;
  for (int k = 0; k < rank; k++) t->dim[k] = dim[k];
  t->nbytes = nbytes;
  w->n++;
  *out = t;
  return SURI_OK;
}

suri_status suri_st_writer_add(suri_st_writer *w, const char *name, suri_dtype dtype, int rank,
                               const int64_t *dim, const void *data) {
  wtensor *t = NULL;
  suri_status s = add_entry(w, name, dtype, rank, dim, &t);
  if (s) return s;
  if (t->nbytes && !data) {
    suri_free(t->data);
    free(t->name);
    w->n--;
    return suri_fail(SURI_ERR_ARG, "safetensors: tensor '%.200s': data is NULL", name);
  }
  if (t->nbytes) memcpy(t->data, data, t->nbytes);
  if (!suri_io_host_is_le())
    suri_io_byteswap(t->data, t->nbytes / suri_dtype_size(dtype), suri_dtype_size(dtype));
  return SURI_OK;
}

suri_status suri_st_writer_add_real(suri_st_writer *w, const char *name, suri_dtype dtype,
                                    int rank, const int64_t *dim, const suri_real *data) {
  if (dtype != SURI_DT_F32 && dtype != SURI_DT_F64 && dtype != SURI_DT_F16 &&
      dtype != SURI_DT_BF16)
    return suri_fail(SURI_ERR_ARG, "safetensors: tensor '%.200s': real values can be stored as "
                     "F32, F64, F16 or BF16, not %s", name ? name : "?", suri_dtype_name(dtype));
  wtensor *t = NULL;
  suri_status s = add_entry(w, name, dtype, rank, dim, &t);
  if (s) return s;
  size_t n = t->nbytes / suri_dtype_size(dtype);
  if (n && !data) {
    suri_free(t->data);
    free(t->name);
    w->n--;
    return suri_fail(SURI_ERR_ARG, "safetensors: tensor '%.200s': data is NULL", name);
  }
  unsigned char *p = t->data;
  for (size_t i = 0; i < n; i++) {
    if (dtype == SURI_DT_F32) {
      float f = (float)data[i];
      uint32_t u;
      memcpy(&u, &f, 4);
      for (int k = 0; k < 4; k++) p[4 * i + k] = (unsigned char)(u >> (8 * k));
    } else if (dtype == SURI_DT_F64) {
      double d = (double)data[i];
      uint64_t u;
      memcpy(&u, &d, 8);
      for (int k = 0; k < 8; k++) p[8 * i + k] = (unsigned char)(u >> (8 * k));
    } else {
      uint16_t h = dtype == SURI_DT_F16 ? suri_io_f16_from_double((double)data[i])
                                        : suri_io_bf16_from_double((double)data[i]);
      p[2 * i] = (unsigned char)(h & 0xff);
      p[2 * i + 1] = (unsigned char)(h >> 8);
    }
  }
  return SURI_OK;
}

suri_status suri_st_writer_meta(suri_st_writer *w, const char *key, const char *value) {
  if (!w) return suri_fail(SURI_ERR_ARG, "safetensors writer is NULL");
  if (!valid_text(key) || !value ||
      !suri_io_utf8_valid((const unsigned char *)value, strlen(value), NULL))
    return suri_fail(SURI_ERR_ARG, "safetensors: metadata key '%.100s' and its value must be "
                     "UTF-8 (non-empty key)", key ? key : "(null)");
  for (int64_t i = 0; i < w->n_meta; i++)
    if (!strcmp(w->mkey[i], key))
      return suri_fail(SURI_ERR_ARG, "safetensors: metadata key '%.100s' set twice", key);
  if (w->n_meta == w->meta_cap) {
    int64_t cap = w->meta_cap ? 2 * w->meta_cap : 16;
    char **k = realloc(w->mkey, (size_t)cap * sizeof *k);
    if (k) w->mkey = k;
    char **v = k ? realloc(w->mval, (size_t)cap * sizeof *v) : NULL;
    if (v) w->mval = v;
    if (!k || !v) return suri_fail(SURI_ERR_NOMEM, "safetensors: cannot grow the metadata");
    w->meta_cap = cap;
  }
  char *k = dup_str(key), *v = dup_str(value);
  if (!k || !v) {
    free(k);
    free(v);
    return suri_fail(SURI_ERR_NOMEM, "safetensors: cannot copy metadata");
  }
  w->mkey[w->n_meta] = k;
  w->mval[w->n_meta] = v;
  w->n_meta++;
  return SURI_OK;
}

/* Adds {"dtype", "shape", "data_offsets"} for t at [begin, begin + nbytes). 0 on success. */
static int add_json_tensor(cJSON *root, const wtensor *t, size_t begin) {
  char shape[SURI_ARRAY_MAX_RANK * 24 + 4], offs[64];
  size_t k = 0;
  shape[k++] = '[';
  for (int i = 0; i < t->rank; i++)
    k += (size_t)snprintf(shape + k, sizeof shape - k, i ? ",%lld" : "%lld",
                          (long long)t->dim[i]);
  snprintf(shape + k, sizeof shape - k, "]");
  snprintf(offs, sizeof offs, "[%zu,%zu]", begin, begin + t->nbytes);
  cJSON *o = cJSON_CreateObject();
  if (!o) return -1;
  if (!cJSON_AddItemToObject(root, t->name, o)) {
    cJSON_Delete(o);
    return -1;
  }
  return cJSON_AddStringToObject(o, "dtype", st_dtype_name(t->dtype)) &&
                 cJSON_AddRawToObject(o, "shape", shape) &&
                 cJSON_AddRawToObject(o, "data_offsets", offs)
             ? 0
             : -1;
}

/* The header text, padded with spaces to a multiple of 8 bytes; malloc'ed. */
static char *header_text(const suri_st_writer *w, size_t *len) {
  cJSON *root = cJSON_CreateObject();
  int ok = root != NULL;
  if (ok && w->n_meta) {
    cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
    ok = m != NULL;
    for (int64_t i = 0; ok && i < w->n_meta; i++)
      ok = cJSON_AddStringToObject(m, w->mkey[i], w->mval[i]) != NULL;
  }
  size_t off = 0;
  for (int64_t i = 0; ok && i < w->n; i++) {
    ok = add_json_tensor(root, &w->t[i], off) == 0;
    off += w->t[i].nbytes;
  }
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  if (!text) return NULL;
  size_t n = strlen(text), padded = (n + 7) / 8 * 8;
  char *out = malloc(padded + 1);
  if (out) {
    memcpy(out, text, n);
    memset(out + n, ' ', padded - n);
    out[padded] = '\0';
    *len = padded;
  }
  cJSON_free(text);
  return out;
}

suri_status suri_st_writer_write(const suri_st_writer *w, const char *path) {
  if (!w) return suri_fail(SURI_ERR_ARG, "safetensors writer is NULL");
  size_t len = 0;
  char *hdr = header_text(w, &len);
  if (!hdr) return suri_fail(SURI_ERR_NOMEM, "%s: cannot build the safetensors header", path);
  unsigned char n8[8];
  suri_io_put_le64(n8, (uint64_t)len);
  suri_atomic_file af;
  suri_status s = suri_atomic_open(&af, path);
  if (s) {
    free(hdr);
    return s;
  }
  int ok = fwrite(n8, 1, 8, af.f) == 8 && fwrite(hdr, 1, len, af.f) == len;
  for (int64_t i = 0; ok && i < w->n; i++)
    ok = !w->t[i].nbytes || fwrite(w->t[i].data, 1, w->t[i].nbytes, af.f) == w->t[i].nbytes;
  free(hdr);
  if (!ok) {
    int e = errno;
    suri_atomic_abort(&af);
    return suri_fail(SURI_ERR_IO, "%s: cannot write the file: %s (nothing was replaced)", path,
                     strerror(e));
  }
  return suri_atomic_commit(&af);
}
