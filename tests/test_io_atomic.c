/* test_io_atomic.c - atomic file replacement and bounded whole-file reading: replacing an
 * existing file, keeping its permissions, refusing directories and missing directories, abort,
 * and real write failures (RLIMIT_FSIZE in a forked child, with SIGXFSZ ignored so write(2)
 * returns EFBIG) that must leave the original file intact and no temporary behind. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suri/io.h"
#include "testutil.h"

static char dir[512];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir()); /* tu_* buffers rotate: keep a copy */
  return 0;
}

static const char *path_of(const char *name) { return tu_join(dir, name); }

static void expect_content(const char *path, const char *text) {
  void *d;
  size_t n;
  assert_int_equal(suri_read_file(path, 0, &d, &n), SURI_OK);
  assert_int_equal(n, strlen(text));
  assert_memory_equal(d, text, n);
  assert_int_equal(((char *)d)[n], '\0');
  suri_free(d);
}

/* Number of "*.tmp.*" entries left in dir. */
static int temporaries(void) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, ".tmp.")) n++;
  closedir(d);
  return n;
}

static void test_create_and_replace(void **state) {
  (void)state;
  const char *p = path_of("a.txt");
  assert_int_equal(suri_write_file_atomic(p, "first version\n", 14), SURI_OK);
  expect_content(p, "first version\n");
  assert_int_equal(suri_write_file_atomic(p, "v2", 2), SURI_OK); /* shorter: no stale tail */
  expect_content(p, "v2");
  assert_int_equal(suri_write_file_atomic(p, "", 0), SURI_OK);
  expect_content(p, "");
  assert_int_equal(temporaries(), 0);
}

static void test_keeps_mode(void **state) {
  (void)state;
  const char *p = path_of("mode.txt");
  assert_int_equal(suri_write_file_atomic(p, "x", 1), SURI_OK);
  assert_int_equal(chmod(p, 0640), 0);
  assert_int_equal(suri_write_file_atomic(p, "y", 1), SURI_OK);
  struct stat sb;
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0640);
}

static void test_refusals(void **state) {
  (void)state;
  char p[600];
  snprintf(p, sizeof p, "%s/no/such/dir/f.bin", dir);
  tu_expect_status(suri_write_file_atomic(p, "x", 1), SURI_ERR_IO, "No such file or directory");
  tu_expect_status(suri_write_file_atomic(p, "x", 1), SURI_ERR_IO, "no/such/dir/f.bin");
  const char *sub = path_of("sub");
  assert_int_equal(mkdir(sub, 0755), 0);
  tu_expect_status(suri_write_file_atomic(sub, "x", 1), SURI_ERR_IO, "sub: cannot write: is a "
                   "directory");
  struct stat sb;
  assert_int_equal(stat(sub, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  tu_expect_status(suri_write_file_atomic("", "x", 1), SURI_ERR_ARG, "empty file name");
  suri_atomic_file af;
  memset(&af, 0, sizeof af);
  tu_expect_status(suri_atomic_commit(&af), SURI_ERR_STATE, "commit without");
  suri_atomic_abort(&af); /* harmless on a zeroed struct */
  assert_int_equal(temporaries(), 0);
}

static void test_abort_keeps_original(void **state) {
  (void)state;
  const char *p = path_of("keep.txt");
  assert_int_equal(suri_write_file_atomic(p, "original", 8), SURI_OK);
  suri_atomic_file af;
  assert_int_equal(suri_atomic_open(&af, p), SURI_OK);
  assert_non_null(strstr(af.tmp, "keep.txt.tmp."));
  fputs("partial new cont", af.f);
  fflush(af.f);
  assert_int_equal(temporaries(), 1);
  expect_content(p, "original"); /* not visible before commit */
  suri_atomic_abort(&af);
  assert_null(af.f);
  expect_content(p, "original");
  assert_int_equal(temporaries(), 0);
  /* open + write + commit through the stream. */
  assert_int_equal(suri_atomic_open(&af, p), SURI_OK);
  fprintf(af.f, "new %d", 42);
  assert_int_equal(suri_atomic_commit(&af), SURI_OK);
  assert_null(af.tmp);
  expect_content(p, "new 42");
}

/* In a child limited to 4 KiB files: returns the child's exit code (0 = expectations met). */
static int run_limited(int mode, const char *p) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN); /* write(2) then fails with EFBIG instead of killing us */
    struct rlimit rl = {4096, 4096};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(10);
    static char big[1 << 20];
    memset(big, 'z', sizeof big);
    suri_status s;
    if (mode == 0) s = suri_write_file_atomic(p, big, sizeof big); /* fails in fwrite */
    else { /* everything buffered: fails in commit's fflush */
      suri_atomic_file af;
      if (suri_atomic_open(&af, p) != SURI_OK) _exit(11);
      static char vbuf[1 << 16];
      setvbuf(af.f, vbuf, _IOFBF, sizeof vbuf);
      if (fwrite(big, 1, 5000, af.f) != 5000) _exit(12);
      s = suri_atomic_commit(&af);
    }
    if (s != SURI_ERR_IO) _exit(13);
    if (!strstr(suri_last_error(), p) || !strstr(suri_last_error(), "File too large")) _exit(14);
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

static void test_write_failure_keeps_original(void **state) {
  (void)state;
  const char *p = path_of("model.safetensors");
  char ps[600];
  snprintf(ps, sizeof ps, "%s", p);
  assert_int_equal(suri_write_file_atomic(ps, "ORIGINAL", 8), SURI_OK);
  for (int mode = 0; mode < 2; mode++) {
    int rc = run_limited(mode, ps);
    if (rc) fail_msg("mode %d: child exited with %d", mode, rc);
    expect_content(ps, "ORIGINAL");
    assert_int_equal(temporaries(), 0);
  }
}

/* Without root, a read-only directory makes the temporary impossible to create. */
static void test_unwritable_directory(void **state) {
  (void)state;
  if (geteuid() == 0) skip(); /* root writes anyway; the RLIMIT test covers failures */
  char sub[600], p[700];
  snprintf(sub, sizeof sub, "%s/ro", dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  snprintf(p, sizeof p, "%s/f.txt", sub);
  assert_int_equal(suri_write_file_atomic(p, "ORIGINAL", 8), SURI_OK);
  assert_int_equal(chmod(sub, 0555), 0);
  tu_expect_status(suri_write_file_atomic(p, "new", 3), SURI_ERR_IO, "Permission denied");
  assert_int_equal(chmod(sub, 0755), 0);
  expect_content(p, "ORIGINAL");
}

static void test_read_file(void **state) {
  (void)state;
  const char *p = path_of("r.bin");
  char ps[600];
  snprintf(ps, sizeof ps, "%s", p);
  tu_write(ps, "0123456789", 10);
  void *d = NULL;
  size_t n = 99;
  tu_expect_status(suri_read_file(ps, 9, &d, &n), SURI_ERR_NOMEM, "r.bin: file is 10 B (10 "
                   "bytes), over the 9 B limit");
  assert_null(d);
  assert_int_equal(n, 0);
  assert_int_equal(suri_read_file(ps, 10, &d, &n), SURI_OK);
  assert_int_equal(n, 10);
  suri_free(d);
  tu_expect_status(suri_read_file("/nonexistent/r.bin", 0, &d, &n), SURI_ERR_IO,
                   "/nonexistent/r.bin: cannot open: No such file or directory");
  tu_expect_status(suri_read_file(dir, 0, &d, &n), SURI_ERR_IO, "is a directory");
  /* Not regular files: a character device and a procfs file that claims size 0. */
  assert_int_equal(suri_read_file("/dev/null", 0, &d, &n), SURI_OK);
  assert_int_equal(n, 0);
  suri_free(d);
  struct stat sb;
  if (stat("/proc/self/status", &sb) == 0) {
    assert_int_equal(suri_read_file("/proc/self/status", 0, &d, &n), SURI_OK);
    assert_true(n > 10 && strstr(d, "Name:"));
    suri_free(d);
    tu_expect_status(suri_read_file("/proc/self/status", 16, &d, &n), SURI_ERR_NOMEM,
                     "over the 16 B limit");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_and_replace),
      cmocka_unit_test(test_keeps_mode),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_abort_keeps_original),
      cmocka_unit_test(test_write_failure_keeps_original),
      cmocka_unit_test(test_unwritable_directory),
      cmocka_unit_test(test_read_file),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
