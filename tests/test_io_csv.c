/* test_io_csv.c - numeric CSV reading: header detection and declaration, quoting, CRLF, blank
 * lines, byte order mark, other delimiters, NaN/Inf text, and errors that name line and column
 * (ragged rows, empty and non-numeric fields, broken quotes, too many columns, limits). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/io.h"
#include "testutil.h"

static char dir[512];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir()); /* tu_* buffers rotate: keep a copy */
  return 0;
}

/* Writes text to dir/name and reads it with (delimiter, header, max_bytes). */
static suri_status read_text(const char *name, const char *text, char delim, int header,
                             size_t max, suri_array *a, char ***names, int64_t *nn) {
  const char *p = tu_join(dir, name);
  tu_write(p, text, strlen(text));
  suri_csv_opts o = suri_csv_defaults();
  if (delim) o.delimiter = delim;
  o.header = header;
  o.max_bytes = max;
  return suri_csv_read(p, &o, a, names, nn);
}

static void expect_table(const suri_array *a, int64_t rows, int64_t cols, const double *v) {
  assert_int_equal(a->dtype, SURI_DT_F64);
  assert_int_equal(a->rank, 2);
  assert_int_equal(a->dim[0], rows);
  assert_int_equal(a->dim[1], cols);
  assert_int_equal(a->nbytes, (size_t)(rows * cols) * sizeof(double));
  for (int64_t i = 0; i < rows * cols; i++)
    if (((const double *)a->data)[i] != v[i])
      fail_msg("element %lld: %g, expected %g", (long long)i, ((const double *)a->data)[i], v[i]);
}

static void test_defaults(void **state) {
  (void)state;
  suri_csv_opts o = suri_csv_defaults();
  assert_int_equal(o.delimiter, ',');
  assert_int_equal(o.header, -1);
  assert_int_equal(o.max_bytes, 0);
}

static void test_header_detected(void **state) {
  (void)state;
  suri_array a;
  char **names;
  int64_t nn;
  assert_int_equal(read_text("h.csv", "a,b,c\n1,2,3\n4.5,-6e2,0x10\n", 0, -1, 0, &a, &names, &nn),
                   SURI_OK);
  expect_table(&a, 2, 3, (double[]){1, 2, 3, 4.5, -600, 16});
  assert_int_equal(nn, 3);
  assert_string_equal(names[0], "a");
  assert_string_equal(names[2], "c");
  suri_csv_free_names(names, nn);
  suri_array_free(&a);
  /* All-numeric first row: no header. */
  assert_int_equal(read_text("n.csv", "1,2\n3,4\n", 0, -1, 0, &a, &names, &nn), SURI_OK);
  expect_table(&a, 2, 2, (double[]){1, 2, 3, 4});
  assert_null(names);
  assert_int_equal(nn, 0);
  suri_array_free(&a);
  /* Declared header, even if numeric; names not requested. */
  assert_int_equal(read_text("d.csv", "1,2\n3,4\n", 0, 1, 0, &a, NULL, NULL), SURI_OK);
  expect_table(&a, 1, 2, (double[]){3, 4});
  suri_array_free(&a);
  /* Declared "no header" with a text first row: an error at line 1, column 1. */
  tu_expect_status(read_text("x.csv", "a,b\n1,2\n", 0, 0, 0, &a, NULL, NULL), SURI_ERR_FORMAT,
                   "x.csv: line 1, column 1: 'a' is not a number");
  assert_null(a.data);
}

/* BOM, quoted header fields with delimiters and doubled quotes, CRLF, blank lines, blanks
 * around fields, a quoted number, no final newline. */
static void test_dialect(void **state) {
  (void)state;
  suri_array a;
  char **names;
  int64_t nn;
  const char *text = "\xEF\xBB\xBF\"x, y\",\"say \"\"hi\"\"\" , plain \r\n\r\n 1 , 2 ,3\r\n  \r\n"
                     "\"4\",5,\t6";
  assert_int_equal(read_text("q.csv", text, 0, -1, 0, &a, &names, &nn), SURI_OK);
  expect_table(&a, 2, 3, (double[]){1, 2, 3, 4, 5, 6});
  assert_int_equal(nn, 3);
  assert_string_equal(names[0], "x, y");
  assert_string_equal(names[1], "say \"hi\"");
  assert_string_equal(names[2], "plain");
  suri_csv_free_names(names, nn);
  suri_array_free(&a);
  assert_int_equal(read_text("t.tsv", "a b\tc\n1\t2\n", '\t', -1, 0, &a, &names, &nn), SURI_OK);
  expect_table(&a, 1, 2, (double[]){1, 2});
  assert_string_equal(names[0], "a b");
  suri_csv_free_names(names, nn);
  suri_array_free(&a);
  assert_int_equal(read_text("s.csv", "1;2,5\n", ';', -1, 0, &a, NULL, NULL), SURI_ERR_FORMAT);
  assert_int_equal(read_text("s.csv", "1;2.5\n", ';', -1, 0, &a, NULL, NULL), SURI_OK);
  expect_table(&a, 1, 2, (double[]){1, 2.5});
  suri_array_free(&a);
  /* Single column. */
  assert_int_equal(read_text("c.csv", "y\n1\n\n2\n", 0, -1, 0, &a, NULL, NULL), SURI_OK);
  expect_table(&a, 2, 1, (double[]){1, 2});
  suri_array_free(&a);
}

/* NaN and Inf text parses (the data layer decides about non-finite values). */
static void test_nonfinite_text(void **state) {
  (void)state;
  suri_array a;
  assert_int_equal(read_text("nf.csv", "nan,inf,-Infinity,1e999\n", 0, -1, 0, &a, NULL, NULL),
                   SURI_OK);
  const double *v = a.data;
  assert_true(isnan(v[0]) && isinf(v[1]) && v[1] > 0 && isinf(v[2]) && v[2] < 0 && isinf(v[3]));
  suri_array_free(&a);
}

static void test_errors(void **state) {
  (void)state;
  suri_array a;
  struct {
    const char *text, *frag;
  } cases[] = {
      {"1,2,3\n4,5\n", "e.csv: line 2: 2 fields, expected 3 (as in line 1)"},
      {"1,2\n3,4,5\n", "line 2: 3 fields, expected 2"},
      {"1,2\n3,4,\n", "line 2: 3 fields, expected 2"},
      {"a,b\n\n1,2\n\n3\n", "line 5: 1 fields, expected 2 (as in line 1)"},
      {"a,b,c\n1,,3\n", "line 2, column 2: empty field"},
      {"a,b\n1, \n", "line 2, column 2: empty field"},
      {"a,b\r\n1,x\r\n", "line 2, column 2: 'x' is not a number"},
      {"a\n1.5.2\n", "line 2, column 1: '1.5.2' is not a number"},
      {"a\n1 2\n", "'1 2' is not a number"},
      {"a,b\n1,2\n3,4abc\n", "line 3, column 2: '4abc'"},
      {"\"abc\n1\n", "line 1, column 1: unterminated quote"},
      {"\"a\"b,c\n1,2\n", "line 1, column 1: text after a closing quote"},
      {"", "no data (the file is empty)"},
      {"\n \r\n\n", "no data (the file is empty)"},
      {"a,b\n\n", "line 1: a header but no data rows"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    memset(&a, 0x5a, sizeof a);
    suri_status st = read_text("e.csv", cases[c].text, 0, -1, 0, &a, NULL, NULL);
    if (st != SURI_ERR_FORMAT || !strstr(suri_last_error(), cases[c].frag))
      fail_msg("case %zu: status %d, message \"%s\", expected \"%s\"", c, (int)st,
               suri_last_error(), cases[c].frag);
    assert_null(a.data);
  }
  tu_expect_status(read_text("e.csv", "1\n", '.', -1, 0, &a, NULL, NULL), SURI_ERR_ARG,
                   "delimiter '.'");
  tu_expect_status(read_text("e.csv", "1\n", 0, 2, 0, &a, NULL, NULL), SURI_ERR_ARG, "header");
  suri_csv_opts o = suri_csv_defaults();
  tu_expect_status(suri_csv_read("/nonexistent/d.csv", &o, &a, NULL, NULL), SURI_ERR_IO,
                   "/nonexistent/d.csv: cannot open: No such file");
}

static void test_limits(void **state) {
  (void)state;
  suri_array a;
  char text[256] = "";
  for (int i = 0; i < 50; i++) strcat(text, "1\n");
  /* 100-byte file within a 300-byte limit, but 50 doubles need 400 bytes. */
  tu_expect_status(read_text("l.csv", text, 0, -1, 300, &a, NULL, NULL), SURI_ERR_NOMEM,
                   "shape (50, 1) of f64 needs 400 B");
  tu_expect_status(read_text("l.csv", text, 0, -1, 50, &a, NULL, NULL), SURI_ERR_NOMEM,
                   "l.csv: file is 100 B (100 bytes), over the 50 B limit");
  assert_int_equal(read_text("l.csv", text, 0, -1, 400, &a, NULL, NULL), SURI_OK);
  suri_array_free(&a);
}

/* Exactly 1,000,000 columns read (in linear time); 1,000,001 are refused. */
static void test_wide(void **state) {
  (void)state;
  size_t n = 2 * 1000001 + 2;
  char *t = malloc(n);
  assert_non_null(t);
  for (size_t i = 0; i < 1000000; i++) {
    t[2 * i] = (char)('0' + i % 10);
    t[2 * i + 1] = ',';
  }
  t[2 * 1000000 - 1] = '\n';
  t[2 * 1000000] = '\0';
  suri_array a;
  assert_int_equal(read_text("w.csv", t, 0, -1, 0, &a, NULL, NULL), SURI_OK);
  assert_int_equal(a.dim[0], 1);
  assert_int_equal(a.dim[1], 1000000);
  assert_true(((double *)a.data)[999999] == 9);
  suri_array_free(&a);
  t[2 * 1000000 - 1] = ',';
  t[2 * 1000000] = '7';
  t[2 * 1000000 + 1] = '\0';
  tu_expect_status(read_text("w.csv", t, 0, -1, 0, &a, NULL, NULL), SURI_ERR_FORMAT,
                   "line 1: more than 1000000 columns");
  remove(tu_join(dir, "w.csv")); /* 2 MB */
  free(t);
}

/* 200,000 rows: a quadratic parser would take minutes; this must be quick. */
static void test_many_rows(void **state) {
  (void)state;
  size_t rows = 200000;
  char *t = malloc(rows * 16 + 16), *p = t;
  assert_non_null(t);
  p += sprintf(p, "x,y,z\n");
  for (size_t i = 0; i < rows; i++) p += sprintf(p, "%zu,%zu,-%zu\n", i % 1000, i % 7, i % 3);
  suri_array a;
  assert_int_equal(read_text("m.csv", t, 0, -1, 0, &a, NULL, NULL), SURI_OK);
  assert_int_equal(a.dim[0], (int64_t)rows);
  const double *v = a.data;
  assert_true(v[3 * 123457] == 457 && v[3 * 123457 + 1] == 123457 % 7 &&
              v[3 * 123457 + 2] == -(double)(123457 % 3));
  suri_array_free(&a);
  remove(tu_join(dir, "m.csv")); /* 2.4 MB */
  free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),       cmocka_unit_test(test_header_detected),
      cmocka_unit_test(test_dialect),        cmocka_unit_test(test_nonfinite_text),
      cmocka_unit_test(test_errors),         cmocka_unit_test(test_limits),
      cmocka_unit_test(test_wide),           cmocka_unit_test(test_many_rows),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
