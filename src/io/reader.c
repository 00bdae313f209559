/* reader.c - sequential, bounded file reading for the binary parsers (NPY, IDX).
 *
 * The point is that a parser can ask "how many payload bytes can this file still deliver?"
 * before it allocates anything a header asks for. For a plain regular file the answer is exact
 * (size minus position). For a gzip stream (RFC 1952, read through zlib's gzread) the
 * decompressed size is unknown until the end, but it is bounded: deflate (RFC 1951) cannot
 * expand data by more than about 1032:1 (a maximal-length match costs at least one bit
 * pair per 258 bytes; zlib's FAQ gives 1032:1 as the limit), so a header asking for more than
 * 1032 x the compressed size is refused before the allocation. Truncated and corrupt streams
 * are caught by zlib's length/CRC-32 trailer check, which expect_end forces. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_internal.h"

#define DEFLATE_MAX_RATIO 1032u

suri_status suri_io_reader_open(suri_io_reader *r, const char *path, int allow_gzip) {
  memset(r, 0, sizeof *r);
  r->path = path;
  r->fd = -1;
  if (!path || !*path) return suri_fail(SURI_ERR_ARG, "empty file name");
  int fd = open(path, O_RDONLY);
  if (fd < 0) return suri_fail(SURI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    return suri_fail(SURI_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (S_ISDIR(sb.st_mode)) {
    close(fd);
    return suri_fail(SURI_ERR_IO, "%s: is a directory", path);
  }
  r->size = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : UINT64_MAX;
  if (!allow_gzip) {
    r->fd = fd;
    return SURI_OK;
  }
  r->gz = gzdopen(fd, "rb");
  if (!r->gz) {
    close(fd);
    return suri_fail(SURI_ERR_NOMEM, "%s: cannot set up gzip reading", path);
  }
  gzbuffer(r->gz, 1u << 17);
  r->compressed = !gzdirect(r->gz);
  return SURI_OK;
}

uint64_t suri_io_reader_left(const suri_io_reader *r) {
  if (r->size == UINT64_MAX) return UINT64_MAX;
  if (!r->compressed) return r->size > r->pos ? r->size - r->pos : 0;
  uint64_t bound = r->size > (UINT64_MAX - 4096) / DEFLATE_MAX_RATIO
                       ? UINT64_MAX
                       : r->size * DEFLATE_MAX_RATIO + 4096;
  return bound > r->pos ? bound - r->pos : 0;
}

/* Message for a gzip read that stopped early or failed. */
static suri_status gz_failure(const suri_io_reader *r, const char *what) {
  int err = 0;
  const char *msg = gzerror(r->gz, &err);
  if (err == Z_ERRNO)
    return suri_fail(SURI_ERR_IO, "%s: read error in %s: %s", r->path, what, strerror(errno));
  if (err != Z_OK)
    return suri_fail(SURI_ERR_FORMAT, "%s: gzip stream broken at decompressed byte %llu "
                     "while reading %s: %s (truncated or corrupt download?)", r->path,
                     (unsigned long long)r->pos, what, msg ? msg : "zlib error");
  return suri_fail(SURI_ERR_FORMAT, "%s: truncated at byte %llu%s: %s is missing", r->path,
                   (unsigned long long)r->pos, r->compressed ? " (decompressed)" : "", what);
}

static suri_status read_gz(suri_io_reader *r, unsigned char *p, size_t n, const char *what) {
  while (n > 0) {
    unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    int got = gzread(r->gz, p, chunk);
    if (got <= 0) return gz_failure(r, what);
    p += got;
    n -= (size_t)got;
    r->pos += (uint64_t)got;
  }
  return SURI_OK;
}

static suri_status read_fd(suri_io_reader *r, unsigned char *p, size_t n, const char *what) {
  while (n > 0) {
    size_t chunk = n > (1u << 30) ? (1u << 30) : n;
    ssize_t got = read(r->fd, p, chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      return suri_fail(SURI_ERR_IO, "%s: read error at byte %llu in %s: %s", r->path,
                       (unsigned long long)r->pos, what, strerror(errno));
    if (got == 0)
      return suri_fail(SURI_ERR_FORMAT, "%s: truncated at byte %llu: %s is missing (the file "
                       "changed while reading?)", r->path, (unsigned long long)r->pos, what);
    p += got;
    n -= (size_t)got;
    r->pos += (uint64_t)got;
  }
  return SURI_OK;
}

suri_status suri_io_reader_read(suri_io_reader *r, void *buf, size_t n, const char *what) {
  if (!r->compressed && r->size != UINT64_MAX && n > suri_io_reader_left(r))
    return suri_fail(SURI_ERR_FORMAT, "%s: truncated at byte %llu: %s needs %zu bytes, only "
                     "%llu left in the file", r->path, (unsigned long long)r->pos, what, n,
                     (unsigned long long)suri_io_reader_left(r));
  return r->gz ? read_gz(r, (unsigned char *)buf, n, what)
               : read_fd(r, (unsigned char *)buf, n, what);
}

suri_status suri_io_reader_expect_end(suri_io_reader *r) {
  unsigned char extra[64];
  if (!r->compressed && r->size != UINT64_MAX) {
    if (r->pos != r->size)
      return suri_fail(SURI_ERR_FORMAT, "%s: %llu unexpected bytes after the data at byte %llu",
                       r->path, (unsigned long long)(r->size - r->pos),
                       (unsigned long long)r->pos);
    return SURI_OK;
  }
  /* Streams: one more read either finds more payload, or reaches the end, which for gzip
   * makes zlib verify the trailer (CRC-32 and length) and report a truncated stream. */
  int got;
  if (r->gz) got = gzread(r->gz, extra, sizeof extra);
  else {
    ssize_t g;
    do g = read(r->fd, extra, sizeof extra);
    while (g < 0 && errno == EINTR);
    got = (int)g;
  }
  if (got > 0)
    return suri_fail(SURI_ERR_FORMAT, "%s: unexpected bytes after the data at byte %llu%s",
                     r->path, (unsigned long long)r->pos, r->compressed ? " (decompressed)" : "");
  if (r->gz) {
    int err = 0;
    const char *msg = gzerror(r->gz, &err);
    if (err != Z_OK) return gz_failure(r, "the gzip trailer");
    (void)msg;
  } else if (got < 0)
    return suri_fail(SURI_ERR_IO, "%s: read error: %s", r->path, strerror(errno));
  return SURI_OK;
}

void suri_io_reader_close(suri_io_reader *r) {
  if (r->gz) gzclose_r(r->gz);
  else if (r->fd >= 0) close(r->fd);
  r->gz = NULL;
  r->fd = -1;
}
