/* safetensors_read.c - reading and validating safetensors files
 * (https://huggingface.co/docs/safetensors, format by Hugging Face).
 *
 * Layout: N (u64 little-endian), N bytes of UTF-8 JSON that start with '{' and may be padded
 * with trailing spaces, then the data block. The JSON maps each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end)} (offsets relative to the data block) and
 * may hold "__metadata__", a map of string to string. Validation follows the reference
 * implementation's rules: header at most 100 MB, no duplicate names, each tensor's byte range
 * equal to dtype size x shape product, and the ranges tiling the data block exactly (sorted by
 * offset, each begins where the previous ended, the last ends at the block's end), so no byte
 * is shared or unaccounted for. JSON numbers come through cJSON as doubles: offsets and dims
 * must be integers in [0, 2^53], where doubles are exact. The whole file is held in memory,
 * placed so that the data block starts on a 64-byte boundary. suri_st_get_real converts to
 * suri_real through double (exact for every source dtype, then one rounding). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io_internal.h"

#define ST_HEADER_MAX 100000000u /* the reference implementation's limit */
#define ST_INT_MAX 9007199254740992.0 /* 2^53 */

struct suri_safetensors {
  unsigned char *mem;        /* the file image (suri_alloc'ed, padded in front) */
  const unsigned char *data; /* data block, 64-byte aligned */
  size_t data_size;
  int64_t n;
  suri_st_tensor *t; /* header order; names malloc'ed */
  int64_t *by_name;  /* indices of t sorted by name, for binary search */
  int64_t n_meta;
  char **mkey, **mval;
  char *what; /* source name for messages */
};

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

void suri_st_free(suri_safetensors *st) {
  if (!st) return;
  for (int64_t i = 0; i < st->n; i++) free((char *)st->t[i].name);
  for (int64_t i = 0; i < st->n_meta; i++) {
    free(st->mkey[i]);
    free(st->mval[i]);
  }
  free(st->t);
  free(st->by_name);
  free(st->mkey);
  free(st->mval);
  free(st->what);
  suri_free(st->mem);
  free(st);
}

static suri_status hdr_fail(const suri_safetensors *st, const char *name, const char *fmt,
                            const char *detail) {
  char msg[512];
  snprintf(msg, sizeof msg, fmt, detail);
  if (name)
    return suri_fail(SURI_ERR_FORMAT, "%s: header (byte 8): tensor '%.200s': %s", st->what, name,
                     msg);
  return suri_fail(SURI_ERR_FORMAT, "%s: header (byte 8): %s", st->what, msg);
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_uint(const cJSON *v, int64_t *out) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (!(d >= 0.0 && d <= ST_INT_MAX) || d != floor(d)) return -1;
  *out = (int64_t)d;
  return 0;
}

static int dtype_from_name(const char *s, suri_dtype *dt) {
  static const struct {
    const char *name;
    suri_dtype dt;
  } map[] = {{"F64", SURI_DT_F64}, {"F32", SURI_DT_F32}, {"F16", SURI_DT_F16},
             {"BF16", SURI_DT_BF16}, {"I64", SURI_DT_I64}, {"I32", SURI_DT_I32},
             {"I16", SURI_DT_I16}, {"I8", SURI_DT_I8}, {"U8", SURI_DT_U8}, {"BOOL", SURI_DT_U8}};
  for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
    if (!strcmp(s, map[k].name)) {
      *dt = map[k].dt;
      return 0;
    }
  return -1;
}

static suri_status parse_shape(const suri_safetensors *st, const char *name, const cJSON *sh,
                               suri_st_tensor *t) {
  if (!cJSON_IsArray(sh)) return hdr_fail(st, name, "'shape' is missing or not an array%s", "");
  int r = cJSON_GetArraySize(sh);
  if (r > SURI_ARRAY_MAX_RANK) {
    char d[32];
    snprintf(d, sizeof d, "%d", r);
    return hdr_fail(st, name, "'shape' has %s dimensions, over the limit of 8", d);
  }
  int k = 0;
  for (const cJSON *v = sh->child; v; v = v->next, k++)
    if (json_uint(v, &t->dim[k]))
      return hdr_fail(st, name, "'shape' holds something other than a non-negative "
                      "integer%s", "");
  t->rank = r;
  return SURI_OK;
}

static suri_status parse_tensor(const suri_safetensors *st, const cJSON *e, suri_st_tensor *t) {
  const char *name = e->string;
  if (!cJSON_IsObject(e)) return hdr_fail(st, name, "entry is not a JSON object%s", "");
  for (const cJSON *f = e->child; f; f = f->next) /* cJSON keeps duplicates; JSON readers differ */
    for (const cJSON *g = f->next; g; g = g->next)
      if (!strcmp(f->string, g->string))
        return hdr_fail(st, name, "field '%.40s' appears twice", f->string);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
  if (!cJSON_IsString(dt)) return hdr_fail(st, name, "'dtype' is missing or not a string%s", "");
  if (dtype_from_name(dt->valuestring, &t->dtype))
    return hdr_fail(st, name, "unknown or unsupported dtype '%.40s' (F64, F32, F16, BF16, I64, "
                    "I32, I16, I8, U8, BOOL)", dt->valuestring);
  suri_status s = parse_shape(st, name, cJSON_GetObjectItemCaseSensitive(e, "shape"), t);
  if (s) return s;
  int64_t b = 0, en = 0;
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || json_uint(off->child, &b) ||
      json_uint(off->child->next, &en))
    return hdr_fail(st, name, "'data_offsets' must be [begin, end] with non-negative integers%s",
                    "");
  char d[160], where[400];
  if (en < b || (uint64_t)en > st->data_size) {
    snprintf(d, sizeof d, "[%lld, %lld]", (long long)b, (long long)en);
    return hdr_fail(st, name, en < b ? "'data_offsets' %s end before begin"
                    : "'data_offsets' %s reach past the data block", d);
  }
  snprintf(where, sizeof where, "%.200s: header (byte 8): tensor '%.100s'", st->what, name);
  size_t need = 0;
  if ((s = suri_io_shape_bytes(where, t->rank, t->dim, t->dtype, SIZE_MAX, NULL, &need)))
    return s;
  if (need != (size_t)(en - b)) {
    char sh[SURI_IO_SHAPE_STR];
    snprintf(d, sizeof d, "dtype %s and shape %s need %zu bytes but 'data_offsets' [%lld, %lld] "
             "hold %lld", dt->valuestring, suri_io_shape_str(t->rank, t->dim, sh), need,
             (long long)b, (long long)en, (long long)(en - b));
    return hdr_fail(st, name, "%s", d);
  }
  t->offset = (size_t)b;
  t->nbytes = need;
  if (!(t->name = dup_str(name))) return suri_fail(SURI_ERR_NOMEM, "cannot copy tensor names");
  return SURI_OK;
}

static suri_status parse_meta(suri_safetensors *st, const cJSON *m) {
  if (!cJSON_IsObject(m)) return hdr_fail(st, NULL, "'__metadata__' is not an object%s", "");
  int n = cJSON_GetArraySize(m);
  st->mkey = calloc((size_t)n + 1, sizeof *st->mkey);
  st->mval = calloc((size_t)n + 1, sizeof *st->mval);
  if (!st->mkey || !st->mval) return suri_fail(SURI_ERR_NOMEM, "cannot allocate metadata");
  for (const cJSON *v = m->child; v; v = v->next) {
    if (!cJSON_IsString(v))
      return hdr_fail(st, NULL, "'__metadata__' value of '%.100s' is not a string", v->string);
    for (int64_t i = 0; i < st->n_meta; i++)
      if (!strcmp(st->mkey[i], v->string))
        return hdr_fail(st, NULL, "'__metadata__' key '%.100s' appears twice", v->string);
    st->mkey[st->n_meta] = dup_str(v->string);
    st->mval[st->n_meta] = dup_str(v->valuestring);
    if (!st->mkey[st->n_meta] || !st->mval[st->n_meta])
      return suri_fail(SURI_ERR_NOMEM, "cannot copy metadata");
    st->n_meta++;
  }
  return SURI_OK;
}

/* qsort comparators over tensor indices (qsort has no context argument: a file-scope pointer
 * would not be thread-safe, so the indices are sorted as (key, index) pairs instead). */
typedef struct ref {
  const suri_st_tensor *t;
  int64_t i;
} ref;

static int by_name(const void *a, const void *b) {
  return strcmp(((const ref *)a)->t->name, ((const ref *)b)->t->name);
}

static int by_offset(const void *a, const void *b) {
  const suri_st_tensor *x = ((const ref *)a)->t, *y = ((const ref *)b)->t;
  if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
  if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
  return 0;
}

/* No duplicate names; the byte ranges tile the data block. Builds st->by_name. */
static suri_status check_layout(suri_safetensors *st) {
  ref *r = malloc(((size_t)st->n + 1) * sizeof *r);
  st->by_name = malloc(((size_t)st->n + 1) * sizeof *st->by_name);
  if (!r || !st->by_name) {
    free(r);
    return suri_fail(SURI_ERR_NOMEM, "cannot allocate the tensor index");
  }
  for (int64_t i = 0; i < st->n; i++) r[i] = (ref){&st->t[i], i};
  qsort(r, (size_t)st->n, sizeof *r, by_name);
  suri_status s = SURI_OK;
  for (int64_t i = 0; i < st->n; i++) {
    st->by_name[i] = r[i].i;
    if (i > 0 && !s && !strcmp(r[i].t->name, r[i - 1].t->name))
      s = hdr_fail(st, r[i].t->name, "the name appears twice (duplicate keys are not "
                   "allowed)%s", "");
  }
  qsort(r, (size_t)st->n, sizeof *r, by_offset);
  size_t at = 0;
  char d[300];
  for (int64_t i = 0; i < st->n && !s; i++) {
    const suri_st_tensor *t = r[i].t;
    if (t->offset < at) {
      snprintf(d, sizeof d, "bytes [%zu, %zu) overlap tensor '%.100s' [%zu, %zu)", t->offset,
               t->offset + t->nbytes, r[i - 1].t->name, r[i - 1].t->offset, at);
      s = hdr_fail(st, t->name, "%s", d);
    } else if (t->offset > at) {
      snprintf(d, sizeof d, "bytes [%zu, %zu) of the data block belong to no tensor (holes "
               "are not allowed)", at, t->offset);
      s = hdr_fail(st, NULL, "%s", d);
    }
    at = t->offset + t->nbytes;
  }
  if (!s && at != st->data_size) {
    snprintf(d, sizeof d, "the data block has %zu bytes but the tensors cover only %zu", 
             st->data_size, at);
    s = hdr_fail(st, NULL, "%s", d);
  }
  free(r);
  return s;
}

static suri_status parse_json(suri_safetensors *st, const char *hdr, size_t len) {
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(hdr, len, &end, 0);
  if (!root) {
    size_t at = end && end >= hdr && end <= hdr + len ? (size_t)(end - hdr) : 0;
    return suri_fail(SURI_ERR_FORMAT, "%s: header: invalid JSON at byte %zu", st->what, 8 + at);
  }
  suri_status s = SURI_OK;
  while (end < hdr + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
    end++; /* padding (the spec pads with spaces; any JSON whitespace is harmless) */
  if (end != hdr + len)
    s = suri_fail(SURI_ERR_FORMAT, "%s: header: unexpected text after the JSON at byte %zu "
                  "(only space padding may follow)", st->what, 8 + (size_t)(end - hdr));
  else if (!cJSON_IsObject(root))
    s = hdr_fail(st, NULL, "the header is not a JSON object%s", "");
  int64_t n = 0;
  for (const cJSON *e = s ? NULL : root->child; e; e = e->next) n++;
  if (!s && !(st->t = calloc((size_t)n + 1, sizeof *st->t)))
    s = suri_fail(SURI_ERR_NOMEM, "cannot allocate %lld tensor records", (long long)n);
  int seen_meta = 0;
  for (const cJSON *e = s ? NULL : root->child; e && !s; e = e->next) {
    if (!strcmp(e->string, "__metadata__")) {
      s = seen_meta ? hdr_fail(st, NULL, "'__metadata__' appears twice%s", "")
                    : parse_meta(st, e);
      seen_meta = 1;
    } else {
      s = parse_tensor(st, e, &st->t[st->n]);
      if (!s) st->n++;
    }
  }
  cJSON_Delete(root);
  return s ? s : check_layout(st);
}

/* Validates the file image at mem + pad (size bytes; the data block is 64-byte aligned). */
static suri_status parse_owned(unsigned char *mem, size_t pad, size_t size, const char *what,
                               suri_safetensors **out) {
  *out = NULL;
  suri_safetensors *st = calloc(1, sizeof *st);
  if (!st || !(st->what = dup_str(what ? what : "safetensors"))) {
    free(st);
    suri_free(mem);
    return suri_fail(SURI_ERR_NOMEM, "cannot allocate a safetensors reader");
  }
  st->mem = mem;
  const unsigned char *f = mem + pad;
  suri_status s = SURI_OK;
  uint64_t hl = size >= 8 ? suri_io_le64(f) : 0;
  if (size < 8)
    s = suri_fail(SURI_ERR_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header "
                  "length", st->what, size);
  else if (hl > size - 8 || hl > ST_HEADER_MAX)
    s = suri_fail(SURI_ERR_FORMAT, "%s: header length %llu at byte 0 is larger than the %s "
                  "(%zu bytes follow it)", st->what, (unsigned long long)hl,
                  hl > ST_HEADER_MAX ? "100 MB limit" : "file", size - 8);
  else if (hl < 2 || f[8] != '{')
    s = suri_fail(SURI_ERR_FORMAT, "%s: header at byte 8 does not start with '{'", st->what);
  size_t bad = 0;
  if (!s && !suri_io_utf8_valid(f + 8, (size_t)hl, &bad))
    s = suri_fail(SURI_ERR_FORMAT, "%s: header: invalid UTF-8 at byte %zu", st->what, 8 + bad);
  if (!s) {
    st->data = f + 8 + hl;
    st->data_size = size - 8 - (size_t)hl;
    s = parse_json(st, (const char *)f + 8, (size_t)hl);
  }
  if (s) {
    suri_st_free(st);
    return s;
  }
  *out = st;
  return SURI_OK;
}

/* Padding in front of a file image so that its data block (at 8 + N) is 64-byte aligned. */
static size_t align_pad(uint64_t hl) { return (size_t)((64 - (8 + hl % 64) % 64) % 64); }

suri_status suri_st_parse(const void *buf, size_t n, const char *what, suri_safetensors **out) {
  *out = NULL;
  if (!buf && n) return suri_fail(SURI_ERR_ARG, "%s: buffer is NULL", what ? what : "?");
  size_t pad = n >= 8 ? align_pad(suri_io_le64(buf)) : 0;
  if (n > SIZE_MAX - 64) return suri_fail(SURI_ERR_NOMEM, "buffer too large");
  unsigned char *mem = suri_alloc(pad + n);
  if (!mem) return SURI_ERR_NOMEM;
  if (n) memcpy(mem + pad, buf, n);
  return parse_owned(mem, pad, n, what, out);
}

suri_status suri_st_read(const char *path, size_t max_bytes, suri_safetensors **out) {
  *out = NULL;
  suri_io_reader r;
  suri_status s = suri_io_reader_open(&r, path, 0);
  if (s) return s;
  if (r.size == UINT64_MAX) { /* not a regular file: read it whole, then copy once */
    suri_io_reader_close(&r);
    void *buf = NULL;
    size_t n = 0;
    if ((s = suri_read_file(path, max_bytes, &buf, &n))) return s;
    s = suri_st_parse(buf, n, path, out);
    suri_free(buf);
    return s;
  }
  size_t lim = suri_io_limit(max_bytes);
  char h1[32], h2[32];
  unsigned char len8[8] = {0};
  if (r.size > lim)
    s = suri_fail(SURI_ERR_NOMEM, "%s: file is %s (%llu bytes), over the %s limit", path,
                  suri_io_human_bytes((double)r.size, h1), (unsigned long long)r.size,
                  suri_io_human_bytes((double)lim, h2));
  else if (r.size >= 8)
    s = suri_io_reader_read(&r, len8, 8, "the header length");
  size_t size = (size_t)r.size, pad = align_pad(suri_io_le64(len8));
  unsigned char *mem = s ? NULL : suri_alloc(pad + size);
  if (!s && !mem) s = SURI_ERR_NOMEM;
  if (!s && size < 8) s = suri_io_reader_read(&r, mem + pad, size, "the file");
  else if (!s) {
    memcpy(mem + pad, len8, 8);
    s = suri_io_reader_read(&r, mem + pad + 8, size - 8, "the file");
  }
  suri_io_reader_close(&r);
  if (s) {
    suri_free(mem);
    return s;
  }
  return parse_owned(mem, pad, size, path, out);
}

/* ---- access -------------------------------------------------------------------------------- */
int64_t suri_st_count(const suri_safetensors *st) { return st ? st->n : 0; }

const suri_st_tensor *suri_st_at(const suri_safetensors *st, int64_t i) {
  return st && i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const suri_st_tensor *suri_st_find(const suri_safetensors *st, const char *name) {
  if (!st || !name) return NULL;
  int64_t lo = 0, hi = st->n; /* binary search over by_name */
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    int c = strcmp(st->t[st->by_name[mid]].name, name);
    if (c == 0) return &st->t[st->by_name[mid]];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

const void *suri_st_data(const suri_safetensors *st, const suri_st_tensor *t) {
  return st && t ? st->data + t->offset : NULL;
}

const char *suri_st_meta(const suri_safetensors *st, const char *key) {
  for (int64_t i = 0; st && key && i < st->n_meta; i++)
    if (!strcmp(st->mkey[i], key)) return st->mval[i];
  return NULL;
}

int64_t suri_st_meta_count(const suri_safetensors *st) { return st ? st->n_meta : 0; }

const char *suri_st_meta_key(const suri_safetensors *st, int64_t i) {
  return st && i >= 0 && i < st->n_meta ? st->mkey[i] : NULL;
}

/* Element i of a little-endian float tensor as a double (exact for every source dtype). */
static double load_real(const unsigned char *p, suri_dtype dt, int64_t i) {
  switch (dt) {
  case SURI_DT_F32: {
    uint32_t u = suri_io_le32(p + 4 * i);
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
  case SURI_DT_F64: {
    uint64_t u = suri_io_le64(p + 8 * i);
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  case SURI_DT_F16: return suri_io_f16_to_double(suri_io_le16(p + 2 * i));
  default: return suri_io_bf16_to_double(suri_io_le16(p + 2 * i));
  }
}

static suri_status not_finite(const suri_safetensors *st, const suri_st_tensor *t, int64_t i,
                              double v) {
  char idx[SURI_IO_SHAPE_STR];
  int64_t pos[SURI_ARRAY_MAX_RANK], rest = i;
  for (int k = t->rank - 1; k >= 0; k--) {
    pos[k] = t->dim[k] ? rest % t->dim[k] : 0;
    rest = t->dim[k] ? rest / t->dim[k] : 0;
  }
  return suri_fail(SURI_ERR_NUMERIC, "%s: tensor '%.200s' element %lld (index %s) is %s",
                   st->what, t->name, (long long)i, suri_io_shape_str(t->rank, pos, idx),
                   isnan(v) ? "NaN" : isinf(v) ? "infinite" : "too large for " SURI_REAL_NAME);
}

suri_status suri_st_get_real(const suri_safetensors *st, const char *name, int rank,
                             const int64_t *dim, suri_real *dst, int check_finite) {
  if (!st || !name || (rank > 0 && !dim))
    return suri_fail(SURI_ERR_ARG, "suri_st_get_real: NULL argument");
  const suri_st_tensor *t = suri_st_find(st, name);
  char a[SURI_IO_SHAPE_STR], b[SURI_IO_SHAPE_STR];
  if (!t) return suri_fail(SURI_ERR_FORMAT, "%s: tensor '%.200s' not found", st->what, name);
  if (t->dtype != SURI_DT_F32 && t->dtype != SURI_DT_F64 && t->dtype != SURI_DT_F16 &&
      t->dtype != SURI_DT_BF16)
    return suri_fail(SURI_ERR_FORMAT, "%s: tensor '%.200s' has dtype %s; a floating-point "
                     "dtype (F32, F64, F16, BF16) is needed", st->what, name,
                     suri_dtype_name(t->dtype));
  int64_t n = (int64_t)(t->nbytes / suri_dtype_size(t->dtype));
  if (rank > SURI_ARRAY_MAX_RANK)
    return suri_fail(SURI_ERR_ARG, "suri_st_get_real: rank %d over the limit", rank);
  int same = rank == t->rank;
  for (int k = 0; same && k < rank; k++) same = dim[k] == t->dim[k];
  if (rank >= 0 && !same)
    return suri_fail(SURI_ERR_SHAPE, "%s: tensor '%.200s' has shape %s, expected %s", st->what,
                     name, suri_io_shape_str(t->rank, t->dim, a), suri_io_shape_str(rank, dim, b));
  if (rank < 0 && dim && dim[0] != n)
    return suri_fail(SURI_ERR_SHAPE, "%s: tensor '%.200s' has %lld elements (shape %s), "
                     "expected %lld", st->what, name, (long long)n,
                     suri_io_shape_str(t->rank, t->dim, a), (long long)dim[0]);
  const unsigned char *p = st->data + t->offset;
  for (int64_t i = 0; i < n; i++) {
    double v = load_real(p, t->dtype, i);
    suri_real x = (suri_real)v;
    if (check_finite && !isfinite(x)) return not_finite(st, t, i, v);
    dst[i] = x;
  }
  return SURI_OK;
}
