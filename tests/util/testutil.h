/* testutil.h - small helpers shared by the cmocka tests: fixture paths, temporary directories,
 * relative comparisons. */
#ifndef SURI_TESTUTIL_H
#define SURI_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "suri/core.h"

/* Path of a file under the repository root (env SURI_SOURCE_DIR, else "."), in a static
 * rotating buffer (valid for the next 7 calls). */
const char *tu_src_path(const char *rel);
/* Creates a fresh temporary directory (mkdtemp under $TMPDIR or /tmp); returns a static
 * rotating buffer. Fails the test if it cannot. */
const char *tu_tmpdir(void);
/* "<dir>/<name>" in a static rotating buffer. */
const char *tu_join(const char *dir, const char *name);
/* Writes n bytes to path; fails the test on error. */
void tu_write(const char *path, const void *data, size_t n);
/* |a - b| <= atol + rtol * max(|a|, |b|) */
int tu_close(double a, double b, double rtol, double atol);
/* Asserts that st == expected and that suri_last_error() contains `fragment` (if non-NULL);
 * prints the message on mismatch. */
void tu_expect_status(suri_status st, suri_status expected, const char *fragment);

#endif
