/* fuzz_common.h - shared by the libFuzzer targets in fuzz/: most suri parsers read files (that
 * is how users meet them), so each input is written to one scratch file per process and the
 * parser reads it back by name, exactly as the CLI would. The scratch lives in $SURI_FUZZ_TMP,
 * else /dev/shm when it exists (no disk traffic), else $TMPDIR or /tmp. Not a library header. */
#ifndef SURI_FUZZ_COMMON_H
#define SURI_FUZZ_COMMON_H

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir_path[512];

/* Removes path and, for a directory, what is in it (the scratch holds at most two levels). */
static inline void fuzz_rm_tree(const char *path, int depth) {
  DIR *d = depth < 3 ? opendir(path) : NULL;
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char sub[2048];
      int k = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
      if (k > 0 && (size_t)k < sizeof sub) fuzz_rm_tree(sub, depth + 1);
    }
    closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

static inline void fuzz_cleanup(void) {
  if (fuzz_dir_path[0]) fuzz_rm_tree(fuzz_dir_path, 0);
}

/* A private directory for this process: "<base>/suri-fuzz-<pid>", created once and removed
 * at exit. */
static inline const char *fuzz_dir(void) {
  char *dir = fuzz_dir_path;
  if (dir[0]) return dir;
  struct stat sb;
  const char *base = getenv("SURI_FUZZ_TMP"); /* fuzz/run.sh sets it and cleans it up */
  if (!base && stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode)) base = "/dev/shm";
  if (!base) base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(dir, sizeof fuzz_dir_path, "%s/suri-fuzz-%ld", base, (long)getpid());
  if (mkdir(dir, 0700) != 0 && stat(dir, &sb) != 0) abort(); /* the harness cannot work */
  atexit(fuzz_cleanup);
  return dir;
}

/* Writes data[0..n) to <fuzz_dir>/<name> (replacing it) and returns the path (static buffer
 * per call site is not needed: the caller copies or uses it before the next call). */
static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t n) {
  static char path[640];
  snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) abort();
  size_t off = 0;
  while (off < n) {
    ssize_t k = write(fd, data + off, n - off);
    if (k <= 0) abort();
    off += (size_t)k;
  }
  close(fd);
  return path;
}

#endif
