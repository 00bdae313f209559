/* dtype.c - element types, owned arrays, and the checked arithmetic shared by every file
 * parser: shape products that cannot overflow, byte limits, byte order, UTF-8 validation.
 *
 * Half precision: IEEE 754-2008 binary16 (1 sign, 5 exponent bits with bias 15, 10 fraction
 * bits) and bfloat16 (the upper half of a binary32: 8 exponent bits with bias 127, 7 fraction
 * bits). Decoding is exact (every value is a double). Encoding rounds directly from the double
 * (not through float, which could round twice): the value is scaled by its quantum q (the
 * spacing of representable numbers at its exponent, fixed at the minimum exponent for
 * subnormals), rounded to an integer with rint (round half to even in the default rounding
 * mode), and the integer is the fraction field plus the hidden bit, so a carry into the next
 * binade, and rounding to the smallest normal, fall out of the arithmetic. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io_internal.h"

static const struct {
  const char *name;
  size_t size;
} dtypes[SURI_DT_COUNT] = {
    [SURI_DT_F32] = {"f32", 4}, [SURI_DT_F64] = {"f64", 8},  [SURI_DT_U8] = {"u8", 1},
    [SURI_DT_I8] = {"i8", 1},   [SURI_DT_I16] = {"i16", 2},  [SURI_DT_I32] = {"i32", 4},
    [SURI_DT_I64] = {"i64", 8}, [SURI_DT_F16] = {"f16", 2},  [SURI_DT_BF16] = {"bf16", 2},
};

size_t suri_dtype_size(suri_dtype t) {
  return (unsigned)t < SURI_DT_COUNT ? dtypes[t].size : 0;
}

const char *suri_dtype_name(suri_dtype t) {
  return (unsigned)t < SURI_DT_COUNT ? dtypes[t].name : "?";
}

void suri_array_free(suri_array *a) {
  if (!a) return;
  suri_free(a->data);
  memset(a, 0, sizeof *a);
}

int64_t suri_array_numel(const suri_array *a) {
  /* A zero dim makes the count 0 whatever the others are; the readers accept e.g. an IDX
   * shape (3570717908, 4109575411, 0), whose left-to-right product would overflow. */
  for (int i = 0; i < a->rank; i++)
    if (a->dim[i] == 0) return 0;
  int64_t n = 1;
  for (int i = 0; i < a->rank; i++) n *= a->dim[i];
  return n;
}

double suri_array_get(const suri_array *a, int64_t i) {
  const unsigned char *p = (const unsigned char *)a->data;
  switch (a->dtype) {
  case SURI_DT_F32: return ((const float *)a->data)[i];
  case SURI_DT_F64: return ((const double *)a->data)[i];
  case SURI_DT_U8: return p[i];
  case SURI_DT_I8: return ((const int8_t *)a->data)[i];
  case SURI_DT_I16: return ((const int16_t *)a->data)[i];
  case SURI_DT_I32: return ((const int32_t *)a->data)[i];
  case SURI_DT_I64: return (double)((const int64_t *)a->data)[i];
  case SURI_DT_F16: return suri_io_f16_to_double(((const uint16_t *)a->data)[i]);
  case SURI_DT_BF16: return suri_io_bf16_to_double(((const uint16_t *)a->data)[i]);
  case SURI_DT_COUNT: break;
  }
  return NAN;
}

/* ---- sizes and messages -------------------------------------------------------------------- */
size_t suri_io_limit(size_t max_bytes) { return max_bytes ? max_bytes : SURI_IO_DEFAULT_MAX; }

const char *suri_io_human_bytes(double bytes, char *buf) {
  static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 7) {
    bytes /= 1024.0;
    u++;
  }
  snprintf(buf, 32, "%.3g %s", bytes, unit[u]);
  return buf;
}

const char *suri_io_shape_str(int rank, const int64_t *dim, char *buf) {
  size_t k = 0, cap = SURI_IO_SHAPE_STR;
  buf[k++] = '(';
  for (int i = 0; i < rank && i < SURI_ARRAY_MAX_RANK && k < cap - 32; i++)
    k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)dim[i]);
  snprintf(buf + k, cap - k, rank == 1 ? ",)" : ")");
  return buf;
}

/* Element count of a shape with overflow detection: 0 ok, -1 negative dim (*bad = index),
 * -2 overflow. Any zero dim makes the count 0 whatever the other dims are. */
static int checked_numel(int rank, const int64_t *dim, int64_t *numel, int *bad) {
  int64_t n = 1;
  int overflow = 0;
  for (int i = 0; i < rank; i++) {
    if (dim[i] < 0) {
      *bad = i;
      return -1;
    }
    if (dim[i] == 0) n = 0;
    else if (n > INT64_MAX / dim[i]) overflow = 1;
    else n *= dim[i];
  }
  if (overflow && n != 0) return -2; /* n == 0: a zero dim came after the overflow */
  *numel = n;
  return 0;
}

suri_status suri_io_shape_bytes(const char *where, int rank, const int64_t *dim, suri_dtype dt,
                                size_t max_bytes, int64_t *numel, size_t *nbytes) {
  char sh[SURI_IO_SHAPE_STR], h1[32], h2[32];
  if (rank < 0 || rank > SURI_ARRAY_MAX_RANK)
    return suri_fail(SURI_ERR_FORMAT, "%s: rank %d is over the limit of %d dimensions", where,
                     rank, SURI_ARRAY_MAX_RANK);
  int64_t n = 0;
  int bad = 0, r = checked_numel(rank, dim, &n, &bad);
  if (r == -1)
    return suri_fail(SURI_ERR_FORMAT, "%s: shape %s has a negative dimension %d (%lld)", where,
                     suri_io_shape_str(rank, dim, sh), bad, (long long)dim[bad]);
  size_t es = suri_dtype_size(dt), bytes;
  if (r == -2 || (uint64_t)n > SIZE_MAX / es)
    return suri_fail(SURI_ERR_FORMAT, "%s: shape %s has more elements than a 64-bit count "
                     "can hold", where, suri_io_shape_str(rank, dim, sh));
  bytes = (size_t)n * es;
  size_t lim = suri_io_limit(max_bytes);
  if (bytes > lim)
    return suri_fail(SURI_ERR_NOMEM, "%s: shape %s of %s needs %s (%zu bytes), over the %s "
                     "limit", where, suri_io_shape_str(rank, dim, sh), suri_dtype_name(dt),
                     suri_io_human_bytes((double)bytes, h1), bytes,
                     suri_io_human_bytes((double)lim, h2));
  if (numel) *numel = n;
  if (nbytes) *nbytes = bytes;
  return SURI_OK;
}

suri_status suri_io_check_shape_arg(const char *what, int rank, const int64_t *dim,
                                    suri_dtype dt, size_t *nbytes) {
  char sh[SURI_IO_SHAPE_STR];
  if ((unsigned)dt >= SURI_DT_COUNT)
    return suri_fail(SURI_ERR_ARG, "%s: invalid dtype %d", what, (int)dt);
  if (rank < 0 || rank > SURI_ARRAY_MAX_RANK)
    return suri_fail(SURI_ERR_ARG, "%s: rank %d is outside [0, %d]", what, rank,
                     SURI_ARRAY_MAX_RANK);
  if (rank > 0 && !dim) return suri_fail(SURI_ERR_ARG, "%s: dim is NULL for rank %d", what, rank);
  int64_t n = 0;
  int bad = 0, r = checked_numel(rank, dim, &n, &bad);
  if (r == -1)
    return suri_fail(SURI_ERR_ARG, "%s: shape %s has a negative dimension %d", what,
                     suri_io_shape_str(rank, dim, sh), bad);
  if (r == -2 || (uint64_t)n > SIZE_MAX / suri_dtype_size(dt))
    return suri_fail(SURI_ERR_ARG, "%s: shape %s overflows a 64-bit byte count", what,
                     suri_io_shape_str(rank, dim, sh));
  *nbytes = (size_t)n * suri_dtype_size(dt);
  return SURI_OK;
}

/* ---- byte order ---------------------------------------------------------------------------- */
int suri_io_host_is_le(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

void suri_io_byteswap(void *data, size_t count, size_t elsize) {
  unsigned char *p = (unsigned char *)data;
  if (elsize < 2) return;
  for (size_t i = 0; i < count; i++, p += elsize)
    for (size_t a = 0, b = elsize - 1; a < b; a++, b--) {
      unsigned char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

uint16_t suri_io_le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
uint32_t suri_io_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
uint64_t suri_io_le64(const unsigned char *p) {
  return (uint64_t)suri_io_le32(p) | (uint64_t)suri_io_le32(p + 4) << 32;
}
uint32_t suri_io_be32(const unsigned char *p) {
  return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}
void suri_io_put_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
void suri_io_put_be32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (24 - 8 * i));
}

/* ---- half precision ------------------------------------------------------------------------ */
/* A small binary format: `mbits` fraction bits, exponent bias `bias` (emin = 1 - bias, emax =
 * bias), all-ones exponent for Inf/NaN. */
static double small_to_double(uint16_t h, int mbits, int ebits) {
  int bias = (1 << (ebits - 1)) - 1;
  unsigned e = (h >> mbits) & ((1u << ebits) - 1), m = h & ((1u << mbits) - 1);
  double s = (h >> 15) ? -1.0 : 1.0, v;
  if (e == (1u << ebits) - 1) v = m ? NAN : INFINITY;
  else if (e == 0) v = ldexp((double)m, 1 - bias - mbits);
  else v = ldexp((double)(m | 1u << mbits), (int)e - bias - mbits);
  return s * v;
}

static uint16_t small_from_double(double x, int mbits, int ebits) {
  int bias = (1 << (ebits - 1)) - 1, emin = 1 - bias;
  uint16_t sign = signbit(x) ? 0x8000 : 0, expmask = (uint16_t)(((1u << ebits) - 1) << mbits);
  if (isnan(x)) return (uint16_t)(sign | expmask | 1u << (mbits - 1));
  double a = fabs(x);
  if (a == 0.0) return sign;
  if (isinf(a)) return sign | expmask;
  int k;
  frexp(a, &k); /* a = f * 2^k, f in [0.5, 1): unbiased exponent k - 1 */
  int e = k - 1 < emin ? emin : k - 1;
  if (e > bias) return sign | expmask; /* far beyond the largest finite value */
  double r = rint(ldexp(a, mbits - e)); /* integer significand at exponent e, hidden bit incl. */
  if (r >= ldexp(1.0, mbits + 1)) {     /* carried into the next binade */
    r = ldexp(r, -1);
    e++;
  }
  if (e > bias) return sign | expmask;
  unsigned sig = (unsigned)r;
  if (sig < 1u << mbits) return (uint16_t)(sign | sig); /* subnormal (or zero) */
  return (uint16_t)(sign | (unsigned)(e + bias) << mbits | (sig & ((1u << mbits) - 1)));
}

double suri_io_f16_to_double(uint16_t h) { return small_to_double(h, 10, 5); }
double suri_io_bf16_to_double(uint16_t h) { return small_to_double(h, 7, 8); }
uint16_t suri_io_f16_from_double(double x) { return small_from_double(x, 10, 5); }
uint16_t suri_io_bf16_from_double(double x) { return small_from_double(x, 7, 8); }

/* ---- UTF-8 --------------------------------------------------------------------------------- */
int suri_io_utf8_valid(const unsigned char *s, size_t n, size_t *bad_at) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0; /* overlong */
      if (c == 0xED) hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90; /* overlong */
      if (c == 0xF4) hi = 0x8F; /* over U+10FFFF */
    } else
      break;
    if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) break;
    size_t k = 2;
    while (k < len && s[i + k] >= 0x80 && s[i + k] <= 0xBF) k++;
    if (k < len) break;
    i += len;
  }
  if (i == n) return 1;
  if (bad_at) *bad_at = i;
  return 0;
}
