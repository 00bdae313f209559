/* test_io_npy.c - NPY reading and writing: files written by numpy (tests/fixtures/io, made by
 * tests/ref/make_io_fixtures.py), byte-identical output to np.save, round trips for every dtype
 * and rank, header dialects, and a battery of malformed files that must be refused with the
 * right status and a message naming the file and the problem. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "suri/io.h"
#include "testutil.h"

static const char *fixture(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/io/%s", name);
  return tu_src_path(rel);
}

static void expect_shape(const suri_array *a, suri_dtype dt, int rank, const int64_t *dim) {
  assert_int_equal(a->dtype, dt);
  assert_int_equal(a->rank, rank);
  for (int i = 0; i < rank; i++) assert_int_equal(a->dim[i], dim[i]);
  assert_int_equal(a->nbytes, (size_t)suri_array_numel(a) * suri_dtype_size(dt));
}

/* Every numpy-written fixture reads with the right dtype, shape and values. */
static void test_numpy_fixtures(void **state) {
  (void)state;
  suri_array a;
  assert_int_equal(suri_npy_read(fixture("f4_2x3.npy"), 0, &a), SURI_OK);
  expect_shape(&a, SURI_DT_F32, 2, (int64_t[]){2, 3});
  for (int i = 0; i < 6; i++) assert_true(suri_array_get(&a, i) == 0.5 * i - 1);
  suri_array_free(&a);
  assert_null(a.data);

  assert_int_equal(suri_npy_read(fixture("f8_scalar.npy"), 0, &a), SURI_OK);
  expect_shape(&a, SURI_DT_F64, 0, NULL);
  assert_int_equal(suri_array_numel(&a), 1);
  assert_true(suri_array_get(&a, 0) == 3.25);
  suri_array_free(&a);

  static const double u1[] = {0, 1, 127, 128, 255}, i1[] = {-128, -1, 0, 127};
  static const double i2[] = {-32768, -1, 0, 32767}, i4[] = {-2147483648.0, 0, 2147483647.0};
  struct {
    const char *file;
    suri_dtype dt;
    int rank;
    int64_t dim[3];
    const double *v;
  } cases[] = {{"u1_5.npy", SURI_DT_U8, 1, {5}, u1},      {"i1_4.npy", SURI_DT_I8, 1, {4}, i1},
               {"i2_2x2.npy", SURI_DT_I16, 2, {2, 2}, i2}, {"i4_3.npy", SURI_DT_I32, 1, {3}, i4}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    assert_int_equal(suri_npy_read(fixture(cases[c].file), 0, &a), SURI_OK);
    expect_shape(&a, cases[c].dt, cases[c].rank, cases[c].dim);
    for (int64_t i = 0; i < suri_array_numel(&a); i++)
      assert_true(suri_array_get(&a, i) == cases[c].v[i]);
    suri_array_free(&a);
  }
  /* int64 compared as integers: 2^62 + 1 is not a double. */
  assert_int_equal(suri_npy_read(fixture("i8_2x1x2.npy"), 0, &a), SURI_OK);
  expect_shape(&a, SURI_DT_I64, 3, (int64_t[]){2, 1, 2});
  const int64_t *q = a.data;
  assert_true(q[0] == INT64_MIN && q[1] == -1 && q[2] == 0 && q[3] == ((int64_t)1 << 62) + 1);
  suri_array_free(&a);

  assert_int_equal(suri_npy_read(fixture("b1_3.npy"), 0, &a), SURI_OK);
  expect_shape(&a, SURI_DT_U8, 1, (int64_t[]){3});
  const unsigned char *b = a.data;
  assert_true(b[0] == 1 && b[1] == 0 && b[2] == 1);
  suri_array_free(&a);

  assert_int_equal(suri_npy_read(fixture("f8_0x3.npy"), 0, &a), SURI_OK);
  expect_shape(&a, SURI_DT_F64, 2, (int64_t[]){0, 3});
  assert_non_null(a.data);
  suri_array_free(&a);
}

/* Versions 2.0 and 3.0 (4-byte header length; v3 is UTF-8) hold the same array. */
static void test_numpy_versions(void **state) {
  (void)state;
  const char *files[] = {"f4_v2.npy", "f4_v3.npy"};
  for (int k = 0; k < 2; k++) {
    suri_array a;
    assert_int_equal(suri_npy_read(fixture(files[k]), 0, &a), SURI_OK);
    expect_shape(&a, SURI_DT_F32, 2, (int64_t[]){2, 3});
    for (int i = 0; i < 6; i++) assert_true(suri_array_get(&a, i) == 0.5 * i - 1);
    suri_array_free(&a);
  }
}

static void read_whole(const char *path, void **data, size_t *n) {
  assert_int_equal(suri_read_file(path, 0, data, n), SURI_OK);
}

/* suri_npy_write reproduces np.save's bytes exactly (header text, growth spaces, padding). */
static void test_writer_matches_numpy(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir()); /* tu_* buffers rotate: keep a copy */
  const char *files[] = {"f4_2x3.npy", "f8_scalar.npy", "u1_5.npy",     "i1_4.npy",
                         "i2_2x2.npy", "i4_3.npy",      "i8_2x1x2.npy", "f8_0x3.npy"};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    suri_array a;
    assert_int_equal(suri_npy_read(fixture(files[k]), 0, &a), SURI_OK);
    const char *out = tu_join(dir, files[k]);
    assert_int_equal(suri_npy_write(out, a.dtype, a.rank, a.dim, a.data), SURI_OK);
    void *x, *y;
    size_t nx, ny;
    read_whole(fixture(files[k]), &x, &nx);
    read_whole(out, &y, &ny);
    if (nx != ny || memcmp(x, y, nx)) fail_msg("%s: suri's bytes differ from numpy's", files[k]);
    suri_free(x);
    suri_free(y);
    suri_array_free(&a);
  }
}

/* Every writable dtype at ranks 0, 1, 2, 3 and 8 survives write + read bit for bit. */
static void test_roundtrip(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir()); /* tu_* buffers rotate: keep a copy */
  const suri_dtype dts[] = {SURI_DT_F32, SURI_DT_F64, SURI_DT_U8, SURI_DT_I8,
                            SURI_DT_I16, SURI_DT_I32, SURI_DT_I64};
  const int64_t shapes[][8] = {{0}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 2, 1, 3, 1, 1, 2}};
  const int ranks[] = {0, 1, 2, 3, 8};
  suri_rng rng = suri_rng_make(42, SURI_RNG_DATA);
  unsigned char buf[8 * 64];
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
    for (int s = 0; s < 5; s++) {
      int64_t numel = 1;
      for (int i = 0; i < ranks[s]; i++) numel *= shapes[s][i];
      size_t nb = (size_t)numel * suri_dtype_size(dts[d]);
      for (size_t i = 0; i < nb; i++) buf[i] = (unsigned char)suri_rng_u32(&rng);
      if (dts[d] == SURI_DT_F32 || dts[d] == SURI_DT_F64) /* finite values, any bits else */
        for (int64_t i = 0; i < numel; i++) {
          if (dts[d] == SURI_DT_F32) ((float *)(void *)buf)[i] = (float)suri_rng_normal(&rng);
          else ((double *)(void *)buf)[i] = suri_rng_normal(&rng);
        }
      const char *p = tu_join(dir, "rt.npy");
      assert_int_equal(suri_npy_write(p, dts[d], ranks[s], shapes[s], buf), SURI_OK);
      suri_array a;
      assert_int_equal(suri_npy_read(p, 0, &a), SURI_OK);
      expect_shape(&a, dts[d], ranks[s], shapes[s]);
      assert_memory_equal(a.data, buf, nb);
      suri_array_free(&a);
    }
}

/* Builds an NPY file: magic, version major.0, header length, header text, data. */
static size_t make_npy(unsigned char *out, int major, const char *hdr, const void *data,
                       size_t nd) {
  size_t hl = strlen(hdr), k = 0;
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (unsigned char)major;
  out[7] = 0;
  k = 8;
  if (major == 1) {
    out[k++] = (unsigned char)(hl & 0xff);
    out[k++] = (unsigned char)(hl >> 8);
  } else
    for (int i = 0; i < 4; i++) out[k++] = (unsigned char)(hl >> (8 * i));
  memcpy(out + k, hdr, hl);
  k += hl;
  if (nd) memcpy(out + k, data, nd);
  return k + nd;
}

/* Header dialects numpy (or a hand-written tool) may produce: all must parse. */
static void test_header_dialects(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir()); /* tu_* buffers rotate: keep a copy */
  const float v[6] = {1, 2, 3, 4, 5, 6};
  struct {
    const char *hdr;
    int rank;
    int64_t dim[2];
  } cases[] = {
      {"{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}\n", 2, {2, 3}},
      {"{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (6,)}", 1, {6}},
      {"{ 'descr' : '|f4' ,  'fortran_order' : False , 'shape' : ( 2 , 3 , ) , }   \n", 2, {2, 3}},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 2L), }\n", 2, {3, 2}},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", 0, {0}},
  };
  unsigned char file[512];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t nd = cases[c].rank == 0 ? 4 : 24;
    size_t n = make_npy(file, c % 2 ? 2 : 1, cases[c].hdr, v, nd);
    const char *p = tu_join(dir, "d.npy");
    tu_write(p, file, n);
    suri_array a;
    suri_status st = suri_npy_read(p, 0, &a);
    if (st) fail_msg("case %zu: %s", c, suri_last_error());
    expect_shape(&a, SURI_DT_F32, cases[c].rank, cases[c].dim);
    assert_memory_equal(a.data, v, nd);
    suri_array_free(&a);
  }
}

/* Writes bytes to dir/name, reads them, and checks status, fragment and file name in the
 * message, and that the output is left zeroed. */
static void expect_bad(const char *dir, const char *name, const void *bytes, size_t n,
                       size_t max, suri_status want, const char *frag) {
  const char *p = tu_join(dir, name);
  tu_write(p, bytes, n);
  suri_array a;
  memset(&a, 0x5a, sizeof a);
  suri_status st = suri_npy_read(p, max, &a);
  tu_expect_status(st, want, frag);
  if (!strstr(suri_last_error(), name))
    fail_msg("message \"%s\" lacks the file name", suri_last_error());
  assert_null(a.data);
  assert_int_equal(a.rank, 0);
}

/* Header texts that must be refused, with the message fragment. */
static void test_malformed_text(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir()); /* tu_* buffers rotate: keep a copy */
  unsigned char f[1024], z[64] = {0};
  size_t n;
  struct {
    const char *name, *hdr, *frag;
  } text[] = {
      {"key.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'foo': 1}",
       "unexpected key 'foo'"},
      {"dup.npy", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
       "key 'descr' appears twice"},
      {"missing.npy", "{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
      {"f2.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (4,)}", "'<f2' is not supp"},
      {"big.npy", "{'descr': '>i4', 'fortran_order': False, 'shape': (2,)}", "big-endian"},
      {"struct.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}",
       "structured dtypes"},
      {"unterm.npy", "{'descr': '<f4", "unterminated string"},
      {"colon.npy", "{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}", "expected ':'"},
      {"comma.npy", "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
       "header at byte 27: expected ',' or '}'"},
      {"garbage.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", "after the"},
      {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}",
       "fortran_order True"},
      {"bool.npy", "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", "True or False"},
      {"notdict.npy", "('descr', '<f4')", "expected '{'"},
      {"unclosed.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,", "'shape'"},
  };
  for (size_t c = 0; c < sizeof text / sizeof text[0]; c++) {
    n = make_npy(f, 1, text[c].hdr, z, 8);
    expect_bad(dir, text[c].name, f, n, 0, SURI_ERR_FORMAT, text[c].frag);
  }
}

static void test_malformed(void **state) {
  (void)state;
  char dir[512];
  snprintf(dir, sizeof dir, "%s", tu_tmpdir()); /* tu_* buffers rotate: keep a copy */
  unsigned char f[1024], z[64] = {0};
  size_t n;
  const char *H = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }\n";
  char hdr[256];
#define HDR(shape) (snprintf(hdr, sizeof hdr, H, shape), hdr)
  n = make_npy(f, 1, HDR("(2,)"), z, 8);
  f[0] = 'X';
  expect_bad(dir, "magic.npy", f, n, 0, SURI_ERR_FORMAT, "bad magic at byte 0");
  n = make_npy(f, 4, HDR("(2,)"), z, 8);
  expect_bad(dir, "version.npy", f, n, 0, SURI_ERR_FORMAT, "version 4.0 at byte 6");
  n = make_npy(f, 1, HDR("(1000000000000, 784)"), z, 8);
  expect_bad(dir, "huge.npy", f, n, 0, SURI_ERR_NOMEM, "over the 8 GiB limit");
  expect_bad(dir, "huge.npy", f, n, 0, SURI_ERR_NOMEM,
             "header at byte 60: shape (1000000000000, 784)");
  n = make_npy(f, 1, HDR("(1099511627776, 1099511627776, 1099511627776)"), z, 8);
  expect_bad(dir, "overflow.npy", f, n, 0, SURI_ERR_FORMAT, "more elements than a 64-bit");
  n = make_npy(f, 1, HDR("(99999999999999999999,)"), z, 8);
  expect_bad(dir, "bigdim.npy", f, n, 0, SURI_ERR_FORMAT, "does not fit in 64 bits");
  n = make_npy(f, 1, HDR("(-1,)"), z, 8);
  expect_bad(dir, "neg.npy", f, n, 0, SURI_ERR_FORMAT, "negative dimension");
  n = make_npy(f, 1, HDR("(1, 1, 1, 1, 1, 1, 1, 1, 1)"), z, 4);
  expect_bad(dir, "rank9.npy", f, n, 0, SURI_ERR_FORMAT, "more than 8 dimensions");
  n = make_npy(f, 1, HDR("(5)"), z, 20);
  expect_bad(dir, "tuple.npy", f, n, 0, SURI_ERR_FORMAT, "not a tuple");
  n = make_npy(f, 1, HDR("(3, 3)"), z, 24);
  expect_bad(dir, "short.npy", f, n, 0, SURI_ERR_FORMAT, "needs 36 data bytes");
  n = make_npy(f, 1, HDR("(2,)"), z, 12);
  expect_bad(dir, "long.npy", f, n, 0, SURI_ERR_FORMAT, "4 unexpected bytes after the data");
  n = make_npy(f, 1, HDR("(2, 3)"), z, 24);
  expect_bad(dir, "limit.npy", f, n, 16, SURI_ERR_NOMEM, "over the 16 B limit");
  n = make_npy(f, 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } \xff\xfe", z, 8);
  expect_bad(dir, "utf8.npy", f, n, 0, SURI_ERR_FORMAT, "not valid UTF-8");
  /* Header lengths larger than the file. */
  n = make_npy(f, 1, HDR("(2,)"), z, 8);
  f[8] = 0xff;
  f[9] = 0xff;
  expect_bad(dir, "hlen.npy", f, n, 0, SURI_ERR_FORMAT, "header length 65535 at byte 8 is larger");
  n = make_npy(f, 2, HDR("(2,)"), z, 8);
  memset(f + 8, 0xff, 4);
  expect_bad(dir, "hlen2.npy", f, n, 0, SURI_ERR_FORMAT, "header length 4294967295");
  /* The numpy fixture cut at several points, each refused as truncated. */
  void *whole;
  size_t wn;
  read_whole(fixture("f4_2x3.npy"), &whole, &wn);
  const size_t cuts[] = {0, 5, 8, 9, 40, 127, 128, 140, wn - 1};
  const char *frags[] = {"truncated at byte 0", "truncated at byte 0", "truncated at byte 8",
                         "truncated at byte 8", "larger than the file", "larger than the file",
                         "needs 24 data bytes", "needs 24 data bytes", "needs 24 data bytes"};
  for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
    expect_bad(dir, "cut.npy", whole, cuts[c], 0, SURI_ERR_FORMAT, frags[c]);
  suri_free(whole);
#undef HDR
}

static void test_refused_numpy_files(void **state) {
  (void)state;
  suri_array a;
  tu_expect_status(suri_npy_read(fixture("f4_fortran.npy"), 0, &a), SURI_ERR_FORMAT,
                   "fortran_order True is not supported");
  tu_expect_status(suri_npy_read(fixture("f4_big.npy"), 0, &a), SURI_ERR_FORMAT,
                   "'>f4' is big-endian");
  tu_expect_status(suri_npy_read(fixture("c8.npy"), 0, &a), SURI_ERR_FORMAT,
                   "dtype '<c8' is not supported");
  tu_expect_status(suri_npy_read("/nonexistent/x.npy", 0, &a), SURI_ERR_IO,
                   "/nonexistent/x.npy: cannot open: No such file or directory");
  tu_expect_status(suri_npy_read(tu_tmpdir(), 0, &a), SURI_ERR_IO, "is a directory");
}

static void test_write_args(void **state) {
  (void)state;
  const char *p = tu_join(tu_tmpdir(), "w.npy");
  float x[2] = {1, 2};
  tu_expect_status(suri_npy_write(p, SURI_DT_F16, 1, (int64_t[]){2}, x), SURI_ERR_ARG, "f16");
  tu_expect_status(suri_npy_write(p, SURI_DT_F32, 9, (int64_t[9]){1}, x), SURI_ERR_ARG, "rank 9");
  tu_expect_status(suri_npy_write(p, SURI_DT_F32, 1, (int64_t[]){-2}, x), SURI_ERR_ARG,
                   "negative");
  struct stat sb;
  assert_int_not_equal(stat(p, &sb), 0); /* nothing was written */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_numpy_fixtures),   cmocka_unit_test(test_numpy_versions),
      cmocka_unit_test(test_writer_matches_numpy), cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_header_dialects),  cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_malformed_text),
      cmocka_unit_test(test_refused_numpy_files), cmocka_unit_test(test_write_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
