/* atomic.c - crash-safe file replacement and bounded whole-file reading.
 *
 * A file is written under "<path>.tmp.<pid>" in the destination's own directory, then made
 * durable and moved into place: fflush (stdio buffer -> kernel), fsync (kernel -> disk), fclose
 * (checked: on some file systems a full disk or quota is only reported here), rename(2) (atomic
 * within one file system, POSIX.1-2008), and finally fsync of the directory so that the rename
 * itself survives a power loss. Until the rename succeeds the old file is untouched; on any
 * failure the temporary is removed. This is the classic recipe discussed in e.g. the ext4
 * data-ordering debates ("rename after fsync"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_internal.h"

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void clear(suri_atomic_file *af) {
  free(af->path);
  free(af->tmp);
  memset(af, 0, sizeof *af);
}

/* Removes the temporary after a failure, keeping errno for the message. */
static void discard(suri_atomic_file *af) {
  int e = errno;
  if (af->f) fclose(af->f);
  af->f = NULL;
  if (af->tmp) unlink(af->tmp);
  clear(af);
  errno = e;
}

suri_status suri_atomic_open(suri_atomic_file *af, const char *path) {
  memset(af, 0, sizeof *af);
  if (!path || !*path) return suri_fail(SURI_ERR_ARG, "atomic write: empty file name");
  struct stat sb;
  mode_t mode = 0666; /* as fopen: the umask applies */
  int keep_mode = 0;
  if (stat(path, &sb) == 0) {
    if (S_ISDIR(sb.st_mode))
      return suri_fail(SURI_ERR_IO, "%s: cannot write: is a directory", path);
    if (S_ISREG(sb.st_mode)) {
      mode = sb.st_mode & 07777;
      keep_mode = 1;
    }
  }
  size_t n = strlen(path) + 32;
  af->path = dup_str(path);
  af->tmp = malloc(n);
  if (!af->path || !af->tmp) {
    clear(af);
    return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate file names", path);
  }
  snprintf(af->tmp, n, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode);
  if (fd < 0) {
    int e = errno;
    clear(af);
    return suri_fail(SURI_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(e));
  }
  /* Keep a replaced file's permission bits even where the umask would narrow them. */
  if (keep_mode) (void)fchmod(fd, mode);
  af->f = fdopen(fd, "wb");
  if (!af->f) {
    int e = errno;
    close(fd);
    unlink(af->tmp);
    clear(af);
    return suri_fail(SURI_ERR_IO, "%s: cannot open temporary file: %s", path, strerror(e));
  }
  return SURI_OK;
}

/* fsync of the directory holding path; file systems that cannot sync directories say EINVAL. */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir;
  if (!slash) dir = dup_str(".");
  else if (slash == path) dir = dup_str("/");
  else {
    dir = malloc((size_t)(slash - path) + 1);
    if (dir) {
      memcpy(dir, path, (size_t)(slash - path));
      dir[slash - path] = '\0';
    }
  }
  if (!dir) {
    errno = ENOMEM;
    return -1;
  }
  int fd = open(dir, O_RDONLY);
  free(dir);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0 && (e == EINVAL || e == ENOTSUP || e == EROFS)) rc = 0;
  errno = e;
  return rc;
}

suri_status suri_atomic_commit(suri_atomic_file *af) {
  if (!af || !af->f || !af->tmp || !af->path)
    return suri_fail(SURI_ERR_STATE, "atomic write: commit without a successful open");
  const char *step = NULL;
  char *path = af->path;
  if (ferror(af->f)) {
    step = "write";
    errno = errno ? errno : EIO;
  } else if (fflush(af->f) != 0) step = "write";
  else if (fsync(fileno(af->f)) != 0) step = "sync";
  if (!step) {
    int rc = fclose(af->f);
    af->f = NULL;
    if (rc != 0) step = "close";
    else if (rename(af->tmp, path) != 0) step = "rename temporary file to";
  }
  if (step) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s", strerror(errno));
    af->path = NULL; /* keep the name for the message */
    discard(af);
    suri_status s = suri_fail(SURI_ERR_IO, "%s: cannot %s the file: %s (nothing was replaced)",
                              path, step, msg);
    free(path);
    return s;
  }
  suri_status s = SURI_OK;
  if (sync_dir(path) != 0)
    s = suri_fail(SURI_ERR_IO, "%s: written, but cannot sync its directory: %s", path,
                  strerror(errno));
  clear(af);
  return s;
}

void suri_atomic_abort(suri_atomic_file *af) {
  if (!af) return;
  if (af->f) fclose(af->f);
  af->f = NULL;
  if (af->tmp) unlink(af->tmp);
  clear(af);
}

suri_status suri_write_file_atomic(const char *path, const void *data, size_t n) {
  suri_atomic_file af;
  suri_status s = suri_atomic_open(&af, path);
  if (s) return s;
  if (n && fwrite(data, 1, n, af.f) != n) {
    int e = errno;
    suri_atomic_abort(&af);
    return suri_fail(SURI_ERR_IO, "%s: cannot write the file: %s (nothing was replaced)", path,
                     strerror(e));
  }
  return suri_atomic_commit(&af);
}

/* Grows *buf (capacity *cap, holding len bytes) geometrically, never past limit + 1. */
static int grow(unsigned char **buf, size_t *cap, size_t limit) {
  size_t want = *cap < (SIZE_MAX / 2) ? *cap * 2 : SIZE_MAX;
  if (want > limit + 1) want = limit + 1;
  if (want <= *cap) return -1;
  unsigned char *nb = suri_alloc(want + 1);
  if (!nb) return -1;
  memcpy(nb, *buf, *cap);
  suri_free(*buf);
  *buf = nb;
  *cap = want;
  return 0;
}

suri_status suri_read_file(const char *path, size_t max_bytes, void **data, size_t *n) {
  *data = NULL;
  *n = 0;
  suri_io_reader r;
  suri_status s = suri_io_reader_open(&r, path, 0);
  if (s) return s;
  size_t lim = suri_io_limit(max_bytes);
  char h1[32], h2[32];
  if (r.size != UINT64_MAX && r.size > lim) {
    suri_io_reader_close(&r);
    return suri_fail(SURI_ERR_NOMEM, "%s: file is %s (%llu bytes), over the %s limit", path,
                     suri_io_human_bytes((double)r.size, h1), (unsigned long long)r.size,
                     suri_io_human_bytes((double)lim, h2));
  }
  /* A regular file is read in one allocation of its size (plus a probe byte to notice growth);
   * a pipe grows a buffer geometrically up to the limit. */
  size_t cap = r.size != UINT64_MAX ? (size_t)r.size + 1 : 65536, len = 0;
  if (cap > lim + 1) cap = lim + 1;
  unsigned char *buf = suri_alloc(cap + 1);
  if (!buf) {
    suri_io_reader_close(&r);
    return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate %zu bytes to read it", path, cap);
  }
  for (;;) {
    if (len == cap && grow(&buf, &cap, lim) != 0) {
      int over = cap > lim;
      suri_free(buf);
      suri_io_reader_close(&r);
      if (over)
        return suri_fail(SURI_ERR_NOMEM, "%s: file is over the %s limit", path,
                         suri_io_human_bytes((double)lim, h2));
      return suri_fail(SURI_ERR_NOMEM, "%s: cannot allocate memory to read it", path);
    }
    ssize_t got = read(r.fd, buf + len, cap - len);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int e = errno;
      suri_free(buf);
      suri_io_reader_close(&r);
      return suri_fail(SURI_ERR_IO, "%s: read error at byte %zu: %s", path, len, strerror(e));
    }
    if (got == 0) break;
    len += (size_t)got;
  }
  suri_io_reader_close(&r);
  if (len > lim) {
    suri_free(buf);
    return suri_fail(SURI_ERR_NOMEM, "%s: file is over the %s limit", path,
                     suri_io_human_bytes((double)lim, h2));
  }
  buf[len] = '\0';
  *data = buf;
  *n = len;
  return SURI_OK;
}
