/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char bufs[8][4096];
static int buf_i;

static char *next_buf(void) {
  buf_i = (buf_i + 1) % 8;
  return bufs[buf_i];
}

const char *tu_src_path(const char *rel) {
  const char *root = getenv("SURI_SOURCE_DIR");
  char *b = next_buf();
  snprintf(b, sizeof bufs[0], "%s/%s", root ? root : ".", rel);
  return b;
}

const char *tu_tmpdir(void) {
  const char *t = getenv("TMPDIR");
  char *b = next_buf();
  snprintf(b, sizeof bufs[0], "%s/suri-test-XXXXXX", t ? t : "/tmp");
  if (!mkdtemp(b)) fail_msg("mkdtemp failed for %s", b);
  return b;
}

const char *tu_join(const char *dir, const char *name) {
  char *b = next_buf();
  snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
  return b;
}

void tu_write(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) fail_msg("cannot open %s", path);
  if (n && fwrite(data, 1, n, f) != n) fail_msg("cannot write %s", path);
  fclose(f);
}

int tu_close(double a, double b, double rtol, double atol) {
  if (isnan(a) || isnan(b)) return 0;
  double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
  return fabs(a - b) <= atol + rtol * m;
}

void tu_expect_status(suri_status st, suri_status expected, const char *fragment) {
  if (st != expected)
    fail_msg("status %s (%s), expected %s", suri_status_name(st), suri_last_error(),
             suri_status_name(expected));
  if (fragment && !strstr(suri_last_error(), fragment))
    fail_msg("message \"%s\" lacks \"%s\"", suri_last_error(), fragment);
}
