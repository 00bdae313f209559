/* npy.c - NumPy's .npy format (numpy/lib/format.py, NEP 1 "A Simple File Format for NumPy
 * Arrays"), read (versions 1.0, 2.0, 3.0) and written (1.0, byte-identical to np.save).
 *
 * Layout: magic "\x93NUMPY", major and minor version bytes, header length (u16 LE in v1, u32
 * LE in v2/v3), then the header: the repr of a Python dict
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ended by '\n' so that the data starts at a multiple of 64 (v1/v2 text
 * is latin-1, v3 is UTF-8), then the raw data in C (or Fortran) order. The dict is parsed here
 * as the literal it is, with a tiny recursive-descent scanner; nothing is evaluated. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"

#define SURI_IO_STR_(x) #x
#define SURI_IO_STR(x) SURI_IO_STR_(x)
#define NPY_MAGIC "\x93NUMPY"
#define NPY_HEADER_MAX (1u << 20) /* a rank-8 header needs < 300 bytes; refuse silly lengths */

typedef struct scan {
  const char *s;
  size_t n, i;
  const char *path;
  size_t base; /* file offset of s[0] */
} scan;

static suri_status bad(const scan *c, const char *fmt, const char *detail) {
  char msg[256];
  snprintf(msg, sizeof msg, fmt, detail);
  return suri_fail(SURI_ERR_FORMAT, "%s: header at byte %zu: %s", c->path, c->base + c->i, msg);
}

static void skip_ws(scan *c) {
  while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' ||
                         c->s[c->i] == '\r'))
    c->i++;
}

static int peek(const scan *c) { return c->i < c->n ? (unsigned char)c->s[c->i] : -1; }

/* A quoted Python string without escapes (numpy never writes any in these fields). */
static suri_status parse_str(scan *c, char *out, size_t cap) {
  int q = peek(c);
  if (q != '\'' && q != '"') return bad(c, "expected a quoted string%s", "");
  size_t start = ++c->i;
  while (c->i < c->n && c->s[c->i] != q) {
    if (c->s[c->i] == '\\' || c->s[c->i] == '\n') return bad(c, "unsupported character in a "
                                                             "string%s", "");
    c->i++;
  }
  if (c->i >= c->n) return bad(c, "unterminated string%s", "");
  size_t len = c->i - start;
  if (len >= cap) {
    c->i = start;
    return bad(c, "string too long%s", "");
  }
  memcpy(out, c->s + start, len);
  out[len] = '\0';
  c->i++;
  return SURI_OK;
}

static suri_status parse_bool(scan *c, int *v) {
  if (c->n - c->i >= 4 && !memcmp(c->s + c->i, "True", 4)) *v = 1, c->i += 4;
  else if (c->n - c->i >= 5 && !memcmp(c->s + c->i, "False", 5)) *v = 0, c->i += 5;
  else return bad(c, "'fortran_order' must be True or False%s", "");
  return SURI_OK;
}

/* A non-negative decimal integer (an old Python 2 'L' suffix is accepted). */
static suri_status parse_dim(scan *c, int64_t *v) {
  if (peek(c) == '-') return bad(c, "negative dimension in 'shape'%s", "");
  if (peek(c) < '0' || peek(c) > '9') return bad(c, "expected an integer in 'shape'%s", "");
  int64_t x = 0;
  size_t start = c->i;
  while (peek(c) >= '0' && peek(c) <= '9') {
    int d = c->s[c->i] - '0';
    if (x > (INT64_MAX - d) / 10) {
      c->i = start;
      return bad(c, "dimension in 'shape' does not fit in 64 bits%s", "");
    }
    x = x * 10 + d;
    c->i++;
  }
  if (peek(c) == 'L' || peek(c) == 'l') c->i++;
  *v = x;
  return SURI_OK;
}

/* "()", "(n,)", "(a, b)", "(a, b,)" */
static suri_status parse_shape(scan *c, int *rank, int64_t *dim) {
  if (peek(c) != '(') return bad(c, "'shape' must be a tuple%s", "");
  c->i++;
  int r = 0, comma = 0;
  skip_ws(c);
  while (peek(c) != ')') {
    if (r > 0) {
      if (peek(c) != ',') return bad(c, "expected ',' or ')' in 'shape'%s", "");
      c->i++;
      skip_ws(c);
      comma = 1;
      if (peek(c) == ')') break;
    }
    if (r >= SURI_ARRAY_MAX_RANK)
      return bad(c, "'shape' has more than %s dimensions", SURI_IO_STR(SURI_ARRAY_MAX_RANK));
    suri_status s = parse_dim(c, &dim[r++]);
    if (s) return s;
    comma = 0;
    skip_ws(c);
  }
  /* Python reads "(5)" as the integer 5, not a tuple: numpy never writes it. */
  if (r == 1 && !comma) return bad(c, "'shape' (n) is not a tuple; write (n,)%s", "");
  c->i++;
  *rank = r;
  return SURI_OK;
}

typedef struct npy_header {
  char descr[32];
  int fortran, rank;
  int64_t dim[SURI_ARRAY_MAX_RANK];
  size_t shape_at; /* file offset of the shape tuple, for messages */
} npy_header;

static suri_status parse_entry(scan *c, npy_header *h, unsigned *seen) {
  char key[32];
  size_t key_at = c->i;
  suri_status s = parse_str(c, key, sizeof key);
  if (s) return s;
  skip_ws(c);
  if (peek(c) != ':') return bad(c, "expected ':' after a key%s", "");
  c->i++;
  skip_ws(c);
  unsigned bit = !strcmp(key, "descr") ? 1u : !strcmp(key, "fortran_order") ? 2u
                 : !strcmp(key, "shape") ? 4u : 0u;
  if (!bit || (*seen & bit)) {
    c->i = key_at;
    return bad(c, bit ? "key '%s' appears twice" : "unexpected key '%s' (an NPY header holds "
               "exactly 'descr', 'fortran_order' and 'shape')", key);
  }
  *seen |= bit;
  if (bit == 1) {
    if (peek(c) == '[') return bad(c, "structured dtypes are not supported%s", "");
    return parse_str(c, h->descr, sizeof h->descr);
  }
  if (bit == 2) return parse_bool(c, &h->fortran);
  h->shape_at = c->base + c->i;
  return parse_shape(c, &h->rank, h->dim);
}

static suri_status parse_header(scan *c, npy_header *h) {
  unsigned seen = 0;
  skip_ws(c);
  if (peek(c) != '{') return bad(c, "expected '{' (the header is a Python dict)%s", "");
  c->i++;
  for (;;) {
    skip_ws(c);
    if (peek(c) == '}') break;
    suri_status s = parse_entry(c, h, &seen);
    if (s) return s;
    skip_ws(c);
    if (peek(c) == ',') c->i++;
    else if (peek(c) != '}') return bad(c, "expected ',' or '}' in the header dict%s", "");
  }
  c->i++;
  while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\n' || c->s[c->i] == '\r' ||
                         c->s[c->i] == '\t' || c->s[c->i] == '\0'))
    c->i++;
  if (c->i != c->n) return bad(c, "unexpected text after the header dict%s", "");
  if (seen != 7)
    return bad(c, "missing key '%s'", !(seen & 1) ? "descr" : !(seen & 2) ? "fortran_order"
                                                                          : "shape");
  return SURI_OK;
}

/* descr -> dtype. Byte order: '<' little, '|' not applicable; '>' only for 1-byte types. */
static suri_status descr_dtype(const char *path, size_t at, const char *d, suri_dtype *dt) {
  static const struct {
    const char *code;
    suri_dtype dt;
  } map[] = {{"f4", SURI_DT_F32}, {"f8", SURI_DT_F64}, {"u1", SURI_DT_U8}, {"i1", SURI_DT_I8},
             {"i2", SURI_DT_I16}, {"i4", SURI_DT_I32}, {"i8", SURI_DT_I64}, {"b1", SURI_DT_U8}};
  char order = d[0];
  const char *code = (order == '<' || order == '>' || order == '|' || order == '=') ? d + 1 : d;
  for (size_t k = 0; k < sizeof map / sizeof map[0]; k++) {
    if (strcmp(code, map[k].code)) continue;
    size_t es = suri_dtype_size(map[k].dt);
    if (es > 1 && order != '<' && order != '|')
      return suri_fail(SURI_ERR_FORMAT, "%s: header at byte %zu: dtype '%s' is %s; only "
                       "little-endian data is supported (save it with a.astype('<%s'))", path,
                       at, d, order == '>' ? "big-endian" : "in native byte order", code);
    *dt = map[k].dt;
    return SURI_OK;
  }
  return suri_fail(SURI_ERR_FORMAT, "%s: header at byte %zu: dtype '%s' is not supported (use "
                   "f4, f8, u1, i1, i2, i4, i8 or b1)", path, at, d);
}

/* Reads magic, version and header text; *text is malloc'ed (NUL-terminated). */
static suri_status read_preamble(suri_io_reader *r, char **text, size_t *len, int *major,
                                 size_t *start) {
  unsigned char pre[12];
  suri_status s = suri_io_reader_read(r, pre, 8, "the NPY magic and version");
  if (s) return s;
  if (memcmp(pre, NPY_MAGIC, 6))
    return suri_fail(SURI_ERR_FORMAT, "%s: not an NPY file (bad magic at byte 0)", r->path);
  *major = pre[6];
  if (pre[6] < 1 || pre[6] > 3)
    return suri_fail(SURI_ERR_FORMAT, "%s: NPY version %d.%d at byte 6 is not supported (1.0, "
                     "2.0, 3.0)", r->path, pre[6], pre[7]);
  size_t lw = pre[6] == 1 ? 2 : 4;
  if ((s = suri_io_reader_read(r, pre + 8, lw, "the NPY header length"))) return s;
  uint32_t hl = lw == 2 ? suri_io_le16(pre + 8) : suri_io_le32(pre + 8);
  *start = 8 + lw;
  if (hl > suri_io_reader_left(r) || hl > NPY_HEADER_MAX)
    return suri_fail(SURI_ERR_FORMAT, "%s: header length %lu at byte 8 is larger than the %s "
                     "(%llu bytes left)", r->path, (unsigned long)hl,
                     hl > NPY_HEADER_MAX ? "1 MiB limit" : "file",
                     (unsigned long long)suri_io_reader_left(r));
  *text = malloc((size_t)hl + 1);
  if (!*text) return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate the header", r->path);
  if ((s = suri_io_reader_read(r, *text, hl, "the NPY header"))) {
    free(*text);
    *text = NULL;
    return s;
  }
  (*text)[hl] = '\0';
  *len = hl;
  return SURI_OK;
}

static suri_status read_body(suri_io_reader *r, size_t max_bytes, const npy_header *h,
                             suri_dtype dt, suri_array *out) {
  char where[1100];
  snprintf(where, sizeof where, "%.1000s: header at byte %zu", r->path, h->shape_at);
  int64_t numel = 0;
  size_t nbytes = 0;
  suri_status s = suri_io_shape_bytes(where, h->rank, h->dim, dt, max_bytes, &numel, &nbytes);
  if (s) return s;
  uint64_t left = suri_io_reader_left(r);
  char sh[SURI_IO_SHAPE_STR];
  if (left < nbytes)
    return suri_fail(SURI_ERR_FORMAT, "%s: truncated: shape %s of %s needs %zu data bytes from "
                     "byte %llu, the file has %llu", r->path,
                     suri_io_shape_str(h->rank, h->dim, sh),
                     suri_dtype_name(dt), nbytes, (unsigned long long)r->pos,
                     (unsigned long long)left);
  void *data = suri_alloc(nbytes);
  if (!data) return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate %zu bytes", r->path, nbytes);
  s = suri_io_reader_read(r, data, nbytes, "the array data");
  if (!s) s = suri_io_reader_expect_end(r);
  if (s) {
    suri_free(data);
    return s;
  }
  if (!suri_io_host_is_le()) suri_io_byteswap(data, (size_t)numel, suri_dtype_size(dt));
  out->dtype = dt;
  out->rank = h->rank;
  memcpy(out->dim, h->dim, sizeof out->dim);
  out->data = data;
  out->nbytes = nbytes;
  return SURI_OK;
}

suri_status suri_npy_read(const char *path, size_t max_bytes, suri_array *out) {
  memset(out, 0, sizeof *out);
  suri_io_reader r;
  suri_status s = suri_io_reader_open(&r, path, 0);
  if (s) return s;
  char *text = NULL;
  size_t len = 0, start = 0;
  int major = 0;
  s = read_preamble(&r, &text, &len, &major, &start);
  npy_header h;
  memset(&h, 0, sizeof h);
  suri_dtype dt = SURI_DT_F32;
  if (!s && major == 3) {
    size_t at = 0;
    if (!suri_io_utf8_valid((const unsigned char *)text, len, &at))
      s = suri_fail(SURI_ERR_FORMAT, "%s: header at byte %zu: not valid UTF-8 (NPY 3.0)", path,
                    start + at);
  }
  if (!s) {
    scan c = {text, len, 0, path, start};
    s = parse_header(&c, &h);
  }
  if (!s) s = descr_dtype(path, start, h.descr, &dt);
  if (!s && h.fortran)
    s = suri_fail(SURI_ERR_FORMAT, "%s: header at byte %zu: fortran_order True is not "
                  "supported (save np.ascontiguousarray(a))", path, start);
  if (!s) s = read_body(&r, max_bytes, &h, dt, out);
  free(text);
  suri_io_reader_close(&r);
  return s;
}

suri_status suri_npy_write(const char *path, suri_dtype dtype, int rank, const int64_t *dim,
                           const void *data) {
  static const char *descr[SURI_DT_COUNT] = {[SURI_DT_F32] = "<f4", [SURI_DT_F64] = "<f8",
                                              [SURI_DT_U8] = "|u1",  [SURI_DT_I8] = "|i1",
                                              [SURI_DT_I16] = "<i2", [SURI_DT_I32] = "<i4",
                                              [SURI_DT_I64] = "<i8"};
  size_t nbytes = 0;
  suri_status s = suri_io_check_shape_arg(path ? path : "npy write", rank, dim, dtype, &nbytes);
  if (s) return s;
  if (!descr[dtype])
    return suri_fail(SURI_ERR_ARG, "%s: NPY writing supports f32, f64, u8, i8, i16, i32, i64, "
                     "not %s", path, suri_dtype_name(dtype));
  if (nbytes && !data) return suri_fail(SURI_ERR_ARG, "%s: data is NULL", path);
  /* As numpy 1.24's _write_array_header: sorted keys, then spare spaces for the first
   * dimension to grow to 21 digits, then spaces + '\n' to a multiple of 64 bytes. */
  char sh[SURI_IO_SHAPE_STR], hdr[512];
  int len = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr[dtype], suri_io_shape_str(rank, dim, sh));
  if (rank > 0) {
    int digits = snprintf(NULL, 0, "%lld", (long long)dim[0]);
    for (int k = digits; k < 21; k++) hdr[len++] = ' ';
  }
  int pad = 64 - (10 + len + 1) % 64;
  memset(hdr + len, ' ', (size_t)pad);
  len += pad;
  hdr[len++] = '\n';
  unsigned char pre[10];
  memcpy(pre, NPY_MAGIC, 6);
  pre[6] = 1;
  pre[7] = 0;
  pre[8] = (unsigned char)(len & 0xff);
  pre[9] = (unsigned char)(len >> 8);
  suri_atomic_file af;
  if ((s = suri_atomic_open(&af, path))) return s;
  int ok = fwrite(pre, 1, 10, af.f) == 10 && fwrite(hdr, 1, (size_t)len, af.f) == (size_t)len;
  if (ok && nbytes) {
    if (suri_io_host_is_le() || suri_dtype_size(dtype) == 1)
      ok = fwrite(data, 1, nbytes, af.f) == nbytes;
    else { /* big-endian host: swap a chunk at a time */
      size_t es = suri_dtype_size(dtype);
      unsigned char buf[4096];
      for (size_t off = 0; ok && off < nbytes; off += sizeof buf) {
        size_t k = nbytes - off < sizeof buf ? nbytes - off : sizeof buf;
        memcpy(buf, (const unsigned char *)data + off, k);
        suri_io_byteswap(buf, k / es, es);
        ok = fwrite(buf, 1, k, af.f) == k;
      }
    }
  }
  if (!ok) {
    int e = errno;
    suri_atomic_abort(&af);
    return suri_fail(SURI_ERR_IO, "%s: cannot write the file: %s (nothing was replaced)", path,
                     strerror(e));
  }
  return suri_atomic_commit(&af);
}
