/* idx.c - the IDX format of LeCun, Cortes and Burges's MNIST database
 * (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS FOR THE MNIST DATABASE"), plain or gzip.
 *
 * Layout: bytes 0-1 are zero, byte 2 the element type (0x08 unsigned byte, 0x09 signed byte,
 * 0x0B short, 0x0C int, 0x0D float, 0x0E double), byte 3 the number of dimensions; then one
 * big-endian 32-bit size per dimension; then the data in C order, big-endian ("MSB first",
 * as on non-Intel processors, the MNIST page says). The MNIST downloads are gzip files
 * (RFC 1952), detected here by their magic 1f 8b and decompressed through zlib while reading, so
 * the decompressed file never needs to exist in memory twice. Writing streams through deflate
 * with a gzip wrapper (mtime 0, so the bytes are reproducible). */
#include <errno.h>
#include <string.h>

#include "io_internal.h"

static const struct {
  unsigned code;
  suri_dtype dt;
} idx_types[] = {{0x08, SURI_DT_U8},  {0x09, SURI_DT_I8},  {0x0B, SURI_DT_I16},
                 {0x0C, SURI_DT_I32}, {0x0D, SURI_DT_F32}, {0x0E, SURI_DT_F64}};
#define N_IDX_TYPES (sizeof idx_types / sizeof idx_types[0])

static suri_status read_header(suri_io_reader *r, suri_dtype *dt, int *rank, int64_t *dim) {
  unsigned char m[4], d[4 * SURI_ARRAY_MAX_RANK];
  suri_status s = suri_io_reader_read(r, m, 4, "the IDX magic");
  if (s) return s;
  if (m[0] || m[1])
    return suri_fail(SURI_ERR_FORMAT, "%s: not an IDX file: bad magic at byte 0 (%02x %02x, "
                     "expected 00 00)", r->path, m[0], m[1]);
  size_t k = 0;
  while (k < N_IDX_TYPES && idx_types[k].code != m[2]) k++;
  if (k == N_IDX_TYPES)
    return suri_fail(SURI_ERR_FORMAT, "%s: byte 2: unknown IDX type code 0x%02X (0x08 u8, 0x09 "
                     "i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)", r->path, m[2]);
  *dt = idx_types[k].dt;
  if (m[3] > SURI_ARRAY_MAX_RANK)
    return suri_fail(SURI_ERR_FORMAT, "%s: byte 3: %d dimensions, over the limit of %d", r->path,
                     m[3], SURI_ARRAY_MAX_RANK);
  *rank = m[3];
  if ((s = suri_io_reader_read(r, d, 4 * (size_t)*rank, "the IDX dimensions"))) return s;
  for (int i = 0; i < *rank; i++) dim[i] = suri_io_be32(d + 4 * i);
  return SURI_OK;
}

suri_status suri_idx_read(const char *path, size_t max_bytes, suri_array *out) {
  memset(out, 0, sizeof *out);
  suri_io_reader r;
  suri_status s = suri_io_reader_open(&r, path, 1);
  if (s) return s;
  suri_dtype dt = SURI_DT_U8;
  int rank = 0;
  int64_t dim[SURI_ARRAY_MAX_RANK] = {0};
  s = read_header(&r, &dt, &rank, dim);
  int64_t numel = 0;
  size_t nbytes = 0;
  char where[1100], sh[SURI_IO_SHAPE_STR], h1[32];
  if (!s) {
    snprintf(where, sizeof where, "%.1000s: header at byte 4", path);
    s = suri_io_shape_bytes(where, rank, dim, dt, max_bytes, &numel, &nbytes);
  }
  if (!s && nbytes > suri_io_reader_left(&r)) {
    if (r.compressed)
      s = suri_fail(SURI_ERR_FORMAT, "%s: shape %s of %s needs %s, more than a gzip file of "
                    "%llu bytes can hold (deflate expands at most 1032:1): truncated or "
                    "corrupt", path, suri_io_shape_str(rank, dim, sh), suri_dtype_name(dt),
                    suri_io_human_bytes((double)nbytes, h1), (unsigned long long)r.size);
    else
      s = suri_fail(SURI_ERR_FORMAT, "%s: truncated: shape %s of %s needs %zu data bytes from "
                    "byte %llu, the file has %llu", path, suri_io_shape_str(rank, dim, sh),
                    suri_dtype_name(dt), nbytes, (unsigned long long)r.pos,
                    (unsigned long long)suri_io_reader_left(&r));
  }
  void *data = NULL;
  if (!s && !(data = suri_alloc(nbytes)))
    s = suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, nbytes);
  if (!s) s = suri_io_reader_read(&r, data, nbytes, "the IDX data");
  if (!s) s = suri_io_reader_expect_end(&r);
  suri_io_reader_close(&r);
  if (s) {
    suri_free(data);
    return s;
  }
  if (suri_io_host_is_le()) suri_io_byteswap(data, (size_t)numel, suri_dtype_size(dt));
  out->dtype = dt;
  out->rank = rank;
  memcpy(out->dim, dim, sizeof dim);
  out->data = data;
  out->nbytes = nbytes;
  return SURI_OK;
}

/* ---- writing ------------------------------------------------------------------------------- */
typedef struct idx_sink {
  FILE *f;
  z_stream z;
  int gzip;
  unsigned char out[1 << 16];
} idx_sink;

/* Runs deflate over next_in/avail_in, writing what it produces (Z_FINISH: ends the stream). */
static int sink_deflate(idx_sink *k, int flush) {
  int rc;
  do {
    k->z.next_out = k->out;
    k->z.avail_out = sizeof k->out;
    rc = deflate(&k->z, flush);
    if (rc == Z_STREAM_ERROR) return -1;
    size_t have = sizeof k->out - k->z.avail_out;
    if (have && fwrite(k->out, 1, have, k->f) != have) return -1;
  } while (k->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  return 0;
}

/* Writes n bytes (n < 4 GiB), through deflate when gzip. 0 on success. */
static int sink_put(idx_sink *k, const void *p, size_t n) {
  if (!k->gzip) return fwrite(p, 1, n, k->f) == n ? 0 : -1;
  k->z.next_in = (Bytef *)(uintptr_t)p; /* zlib does not write through next_in */
  k->z.avail_in = (uInt)n;
  return sink_deflate(k, Z_NO_FLUSH);
}

static int write_payload(idx_sink *k, unsigned code, int rank, const int64_t *dim,
                         const unsigned char *data, size_t nbytes, size_t es) {
  unsigned char hdr[4 + 4 * SURI_ARRAY_MAX_RANK] = {0, 0, (unsigned char)code,
                                                    (unsigned char)rank};
  for (int i = 0; i < rank; i++) suri_io_put_be32(hdr + 4 + 4 * i, (uint32_t)dim[i]);
  if (sink_put(k, hdr, 4 + 4 * (size_t)rank)) return -1;
  unsigned char buf[1 << 15]; /* big-endian copy of the data, a chunk at a time */
  for (size_t off = 0; off < nbytes; off += sizeof buf) {
    size_t n = nbytes - off < sizeof buf ? nbytes - off : sizeof buf;
    memcpy(buf, data + off, n);
    if (suri_io_host_is_le()) suri_io_byteswap(buf, n / es, es);
    if (sink_put(k, buf, n)) return -1;
  }
  if (!k->gzip) return 0;
  k->z.avail_in = 0;
  return sink_deflate(k, Z_FINISH);
}

suri_status suri_idx_write(const char *path, suri_dtype dtype, int rank, const int64_t *dim,
                           const void *data, int gzip) {
  size_t nbytes = 0, k = 0;
  suri_status s = suri_io_check_shape_arg(path ? path : "idx write", rank, dim, dtype, &nbytes);
  if (s) return s;
  while (k < N_IDX_TYPES && idx_types[k].dt != dtype) k++;
  if (k == N_IDX_TYPES)
    return suri_fail(SURI_ERR_ARG, "%s: IDX has no type code for %s (u8, i8, i16, i32, f32, "
                     "f64)", path, suri_dtype_name(dtype));
  for (int i = 0; i < rank; i++)
    if (dim[i] > (int64_t)UINT32_MAX)
      return suri_fail(SURI_ERR_ARG, "%s: dimension %d (%lld) does not fit in IDX's 32 bits",
                       path, i, (long long)dim[i]);
  if (nbytes && !data) return suri_fail(SURI_ERR_ARG, "%s: data is NULL", path);
  idx_sink *sink = suri_calloc(1, sizeof *sink);
  if (!sink) return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate the writer", path);
  sink->gzip = gzip != 0;
  if (sink->gzip && deflateInit2(&sink->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                                 Z_DEFAULT_STRATEGY) != Z_OK) {
    suri_free(sink);
    return suri_fail(SURI_ERR_NOMEM, "%s: cannot start gzip compression", path);
  }
  suri_atomic_file af;
  s = suri_atomic_open(&af, path);
  if (!s) {
    sink->f = af.f;
    if (write_payload(sink, idx_types[k].code, rank, dim, (const unsigned char *)data, nbytes,
                      suri_dtype_size(dtype))) {
      int e = errno;
      suri_atomic_abort(&af);
      s = suri_fail(SURI_ERR_IO, "%s: cannot write the file: %s (nothing was replaced)", path,
                    strerror(e));
    } else
      s = suri_atomic_commit(&af);
  }
  if (sink->gzip) deflateEnd(&sink->z);
  suri_free(sink);
  return s;
}
