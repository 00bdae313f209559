/* io_internal.h - helpers shared by the file-format readers and writers in src/io: checked
 * shape sizes, byte order, half-precision conversion, UTF-8 validation, and a bounded reader
 * that knows how many bytes a file can still deliver. Not part of the public API. */
#ifndef SURI_IO_INTERNAL_H
#define SURI_IO_INTERNAL_H

#include <zlib.h>

#include "suri/io.h"

/* ---- sizes and messages -------------------------------------------------------------------- */
/* Effective limit: max_bytes, or SURI_IO_DEFAULT_MAX when 0. */
size_t suri_io_limit(size_t max_bytes);
/* "2.79 PiB", "8 GiB", "512 B" into buf (>= 32 bytes); returns buf. */
const char *suri_io_human_bytes(double bytes, char *buf);
/* "(3, 4)", "()" or "(5,)" (Python style) into buf (>= SURI_IO_SHAPE_STR bytes); returns buf. */
#define SURI_IO_SHAPE_STR 256
const char *suri_io_shape_str(int rank, const int64_t *dim, char *buf);
/* Checks a shape read from a file and computes its element count and byte size:
 * rank in [0, SURI_ARRAY_MAX_RANK], dims >= 0 and a product that fits in int64 and size_t
 * (else SURI_ERR_FORMAT), bytes <= the limit (else SURI_ERR_NOMEM). `where` prefixes every
 * message (e.g. "x.npy: header at byte 10"). numel/nbytes may be NULL. */
suri_status suri_io_shape_bytes(const char *where, int rank, const int64_t *dim, suri_dtype dt,
                                size_t max_bytes, int64_t *numel, size_t *nbytes);
/* Same for arguments passed by a caller (writers): SURI_ERR_ARG on a bad rank/dim/overflow. */
suri_status suri_io_check_shape_arg(const char *what, int rank, const int64_t *dim,
                                    suri_dtype dt, size_t *nbytes);

/* ---- byte order ---------------------------------------------------------------------------- */
int suri_io_host_is_le(void);
/* Reverses the bytes of each of `count` elements of `elsize` bytes (1 = no-op). */
void suri_io_byteswap(void *data, size_t count, size_t elsize);
uint16_t suri_io_le16(const unsigned char *p);
uint32_t suri_io_le32(const unsigned char *p);
uint64_t suri_io_le64(const unsigned char *p);
uint32_t suri_io_be32(const unsigned char *p);
void suri_io_put_le64(unsigned char *p, uint64_t v);
void suri_io_put_be32(unsigned char *p, uint32_t v);

/* ---- half precision (IEEE 754 binary16, bfloat16) ------------------------------------------ */
/* Exact decoding; encoding rounds to nearest, ties to even, overflow to Inf, NaN kept quiet. */
double suri_io_f16_to_double(uint16_t h);
double suri_io_bf16_to_double(uint16_t h);
uint16_t suri_io_f16_from_double(double x);
uint16_t suri_io_bf16_from_double(double x);

/* ---- text ---------------------------------------------------------------------------------- */
/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF);
 * otherwise 0 with the offset of the first bad byte in *bad_at (if non-NULL). */
int suri_io_utf8_valid(const unsigned char *s, size_t n, size_t *bad_at);

/* ---- bounded reading ----------------------------------------------------------------------- */
/* Reads a file sequentially, plain or (when allowed) gzip-compressed, tracking the payload
 * position so that every length can be checked before anything is allocated. */
typedef struct suri_io_reader {
  const char *path;
  int fd;          /* plain reading (-1 when gz is used) */
  gzFile gz;       /* gzip or transparent reading */
  int compressed;  /* 1 when the file is a gzip stream */
  uint64_t size;   /* file size on disk (UINT64_MAX if not a regular file) */
  uint64_t pos;    /* payload bytes consumed so far (decompressed for gzip) */
} suri_io_reader;

/* Opens path (SURI_ERR_IO naming it and strerror; a directory is refused). With allow_gzip,
 * a gzip stream (magic 1f 8b) is decompressed transparently. */
suri_status suri_io_reader_open(suri_io_reader *r, const char *path, int allow_gzip);
/* Upper bound on the payload bytes still available: exact for plain regular files; for gzip,
 * deflate's maximal expansion (1032:1) of the compressed size, minus what was read. */
uint64_t suri_io_reader_left(const suri_io_reader *r);
/* Reads exactly n bytes; a short read is SURI_ERR_FORMAT "truncated" naming `what` and the
 * byte offset; a gzip error names zlib's message. */
suri_status suri_io_reader_read(suri_io_reader *r, void *buf, size_t n, const char *what);
/* Checks that the payload ends here (SURI_ERR_FORMAT naming trailing bytes otherwise) and, for
 * gzip, that the stream's trailer (CRC, length) is present and correct. */
suri_status suri_io_reader_expect_end(suri_io_reader *r);
void suri_io_reader_close(suri_io_reader *r);

#endif
