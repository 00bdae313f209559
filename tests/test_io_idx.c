/* test_io_idx.c - IDX (MNIST) reading and writing, plain and gzip: files written by Python
 * (struct + gzip), the bundled MNIST subset when present, round trips for every IDX type and
 * rank, and malformed input: bad magic/type/rank, truncation (plain and inside the gzip stream),
 * corrupt gzip, trailing bytes, oversized and overflowing dimensions, decompression-bomb
 * claims. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "suri/io.h"
#include "testutil.h"

static char dir[512];

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir()); /* tu_* buffers rotate: keep a copy */
  return 0;
}

static const char *fixture(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/io/%s", name);
  return tu_src_path(rel);
}

static void expect_shape(const suri_array *a, suri_dtype dt, int rank, const int64_t *dim) {
  assert_int_equal(a->dtype, dt);
  assert_int_equal(a->rank, rank);
  for (int i = 0; i < rank; i++) assert_int_equal(a->dim[i], dim[i]);
}

static void test_python_fixtures(void **state) {
  (void)state;
  suri_array a;
  const char *imgs[] = {"images_u8.idx", "images_u8.idx.gz"};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(suri_idx_read(fixture(imgs[k]), 0, &a), SURI_OK);
    expect_shape(&a, SURI_DT_U8, 3, (int64_t[]){3, 4, 5});
    for (int i = 0; i < 60; i++) assert_true(suri_array_get(&a, i) == (7 * i + 3) % 256);
    suri_array_free(&a);
  }
  assert_int_equal(suri_idx_read(fixture("labels_u8.idx.gz"), 0, &a), SURI_OK);
  expect_shape(&a, SURI_DT_U8, 1, (int64_t[]){3});
  assert_true(suri_array_get(&a, 0) == 7 && suri_array_get(&a, 1) == 2 &&
              suri_array_get(&a, 2) == 1);
  suri_array_free(&a);
  static const double i8[] = {-128, -1, 0, 127}, i32[] = {-2147483648.0, 0, 2147483647.0};
  static const double f32[] = {-0.5, -0.25, 0, 0.25}, f64[] = {1e300, -1e-300, 3.5, -0.0};
  static const double i16[] = {-2500, -1500, -500, 500, 1500, 2500};
  struct {
    const char *file;
    suri_dtype dt;
    int rank;
    int64_t dim[2];
    const double *v;
  } cases[] = {{"i8_4.idx", SURI_DT_I8, 1, {4}, i8},
               {"i16_2x3.idx", SURI_DT_I16, 2, {2, 3}, i16},
               {"i32_3.idx", SURI_DT_I32, 1, {3}, i32},
               {"f32_4.idx", SURI_DT_F32, 1, {4}, f32},
               {"f64_2x2.idx", SURI_DT_F64, 2, {2, 2}, f64}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    assert_int_equal(suri_idx_read(fixture(cases[c].file), 0, &a), SURI_OK);
    expect_shape(&a, cases[c].dt, cases[c].rank, cases[c].dim);
    for (int64_t i = 0; i < suri_array_numel(&a); i++)
      assert_true(suri_array_get(&a, i) == cases[c].v[i]);
    suri_array_free(&a);
  }
  /* -0.0 keeps its sign through the byte swap. */
  assert_int_equal(suri_idx_read(fixture("f64_2x2.idx"), 0, &a), SURI_OK);
  assert_true(signbit(((double *)a.data)[3]));
  suri_array_free(&a);
}

/* The MNIST subset bundled in data/mnist10k (gzip IDX as downloaded) reads as is. */
static void test_bundled_mnist(void **state) {
  (void)state;
  const char *img = tu_src_path("data/mnist10k/train-images-idx3-ubyte.gz");
  struct stat sb;
  if (stat(img, &sb) != 0) skip();
  suri_array a, l;
  assert_int_equal(suri_idx_read(img, 0, &a), SURI_OK);
  assert_int_equal(a.dtype, SURI_DT_U8);
  assert_int_equal(a.rank, 3);
  assert_int_equal(a.dim[1], 28);
  assert_int_equal(a.dim[2], 28);
  const char *lab = tu_src_path("data/mnist10k/train-labels-idx1-ubyte.gz");
  assert_int_equal(suri_idx_read(lab, 0, &l), SURI_OK);
  assert_int_equal(l.rank, 1);
  assert_int_equal(l.dim[0], a.dim[0]);
  int counts[10] = {0};
  for (int64_t i = 0; i < l.dim[0]; i++) {
    double y = suri_array_get(&l, i);
    assert_true(y >= 0 && y <= 9);
    counts[(int)y]++;
  }
  for (int k = 0; k < 10; k++) assert_true(counts[k] > 0); /* every digit occurs */
  suri_array_free(&a);
  suri_array_free(&l);
}

/* suri's plain writer reproduces the Python-written bytes; its gzip output reads back. */
static void test_writer_bytes(void **state) {
  (void)state;
  suri_array a;
  assert_int_equal(suri_idx_read(fixture("images_u8.idx"), 0, &a), SURI_OK);
  const char *p = tu_join(dir, "w.idx");
  assert_int_equal(suri_idx_write(p, a.dtype, a.rank, a.dim, a.data, 0), SURI_OK);
  void *x, *y;
  size_t nx, ny;
  assert_int_equal(suri_read_file(fixture("images_u8.idx"), 0, &x, &nx), SURI_OK);
  assert_int_equal(suri_read_file(p, 0, &y, &ny), SURI_OK);
  assert_int_equal(nx, ny);
  assert_memory_equal(x, y, nx);
  suri_free(x);
  suri_free(y);
  suri_array_free(&a);
}

/* Every IDX type, ranks 0..3 and 8, plain and gzip: bit-exact round trips. */
static void test_roundtrip(void **state) {
  (void)state;
  const suri_dtype dts[] = {SURI_DT_U8, SURI_DT_I8, SURI_DT_I16, SURI_DT_I32, SURI_DT_F32,
                            SURI_DT_F64};
  const int64_t shapes[][8] = {{0}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 2, 1, 3, 1, 1, 2}};
  const int ranks[] = {0, 1, 2, 3, 8};
  suri_rng rng = suri_rng_make(7, SURI_RNG_DATA);
  unsigned char buf[8 * 64];
  for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
    for (int s = 0; s < 5; s++)
      for (int gz = 0; gz < 2; gz++) {
        int64_t numel = 1;
        for (int i = 0; i < ranks[s]; i++) numel *= shapes[s][i];
        size_t nb = (size_t)numel * suri_dtype_size(dts[d]);
        for (size_t i = 0; i < nb; i++) buf[i] = (unsigned char)suri_rng_u32(&rng);
        const char *p = tu_join(dir, "rt.idx");
        assert_int_equal(suri_idx_write(p, dts[d], ranks[s], shapes[s], buf, gz), SURI_OK);
        void *raw;
        size_t nraw;
        assert_int_equal(suri_read_file(p, 0, &raw, &nraw), SURI_OK);
        const unsigned char *r = raw;
        if (gz) assert_true(r[0] == 0x1f && r[1] == 0x8b);
        else
          assert_true(r[0] == 0 && r[1] == 0 && r[3] == ranks[s] &&
                      nraw == 4 + 4 * (size_t)ranks[s] + nb);
        suri_free(raw);
        suri_array a;
        assert_int_equal(suri_idx_read(p, 0, &a), SURI_OK);
        expect_shape(&a, dts[d], ranks[s], shapes[s]);
        assert_int_equal(a.nbytes, nb);
        assert_memory_equal(a.data, buf, nb);
        suri_array_free(&a);
      }
}

/* An MNIST-sized gzip file (2000 x 28 x 28, 1.5 MB) streams through in both directions. */
static void test_mnist_sized(void **state) {
  (void)state;
  const int64_t dim[3] = {2000, 28, 28};
  size_t n = 2000 * 28 * 28;
  unsigned char *img = malloc(n);
  assert_non_null(img);
  for (size_t i = 0; i < n; i++) img[i] = (unsigned char)((i * 2654435761u) >> 24);
  const char *p = tu_join(dir, "train-images-idx3-ubyte.gz");
  assert_int_equal(suri_idx_write(p, SURI_DT_U8, 3, dim, img, 1), SURI_OK);
  suri_array a;
  assert_int_equal(suri_idx_read(p, 0, &a), SURI_OK);
  expect_shape(&a, SURI_DT_U8, 3, dim);
  assert_memory_equal(a.data, img, n);
  suri_array_free(&a);
  remove(p); /* 1.5 MB */
  free(img);
  /* All zeros compresses about 1028:1, close to deflate's 1032:1 bound: must still read. */
  const int64_t zdim[3] = {20000, 28, 28};
  unsigned char *zero = calloc(20000 * 28 * 28, 1);
  assert_non_null(zero);
  p = tu_join(dir, "zeros.idx.gz");
  assert_int_equal(suri_idx_write(p, SURI_DT_U8, 3, zdim, zero, 1), SURI_OK);
  assert_int_equal(suri_idx_read(p, 0, &a), SURI_OK);
  expect_shape(&a, SURI_DT_U8, 3, zdim);
  assert_memory_equal(a.data, zero, 20000 * 28 * 28);
  suri_array_free(&a);
  free(zero);
}

static void expect_bad(const char *name, const void *bytes, size_t n, size_t max,
                       suri_status want, const char *frag) {
  const char *p = tu_join(dir, name);
  tu_write(p, bytes, n);
  suri_array a;
  memset(&a, 0x5a, sizeof a);
  tu_expect_status(suri_idx_read(p, max, &a), want, frag);
  if (want == SURI_OK) {
    suri_array_free(&a);
    return;
  }
  if (!strstr(suri_last_error(), name))
    fail_msg("message \"%s\" lacks the file name", suri_last_error());
  assert_null(a.data);
}

/* The bytes of suri's gzip IDX file for an array. */
static void *gz_file(suri_dtype dt, int rank, const int64_t *dim, const void *data, size_t *n) {
  const char *p = tu_join(dir, "tmp.gz");
  assert_int_equal(suri_idx_write(p, dt, rank, dim, data, 1), SURI_OK);
  void *b;
  assert_int_equal(suri_read_file(p, 0, &b, n), SURI_OK);
  return b;
}

/* dir/name := gzip (zlib's gzwrite) of n arbitrary payload bytes. */
static void write_gz(const char *name, const void *payload, size_t n) {
  gzFile g = gzopen(tu_join(dir, name), "wb");
  assert_non_null(g);
  assert_int_equal(gzwrite(g, payload, (unsigned)n), (int)n);
  assert_int_equal(gzclose(g), Z_OK);
}

static void expect_read(const char *name, size_t max, suri_status want, const char *frag) {
  suri_array a;
  tu_expect_status(suri_idx_read(tu_join(dir, name), max, &a), want, frag);
  suri_array_free(&a);
}

static void test_malformed_plain(void **state) {
  (void)state;
  unsigned char f[256] = {0, 0, 0x08, 1, 0, 0, 0, 4, 1, 2, 3, 4};
  expect_bad("ok.idx", f, 12, 0, SURI_OK, NULL);
  f[0] = 1;
  expect_bad("magic.idx", f, 12, 0, SURI_ERR_FORMAT, "bad magic at byte 0");
  f[0] = 0;
  f[2] = 0x0A;
  expect_bad("type.idx", f, 12, 0, SURI_ERR_FORMAT, "byte 2: unknown IDX type code 0x0A");
  f[2] = 0x08;
  f[3] = 9;
  expect_bad("rank.idx", f, 60, 0, SURI_ERR_FORMAT, "byte 3: 9 dimensions, over the limit");
  f[3] = 1;
  expect_bad("trail.idx", f, 14, 0, SURI_ERR_FORMAT, "2 unexpected bytes after the data");
  /* 60000 x 28 x 28 claimed by a 20-byte file. */
  unsigned char m[20] = {0, 0, 0x08, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28};
  expect_bad("claim.idx", m, 20, 0, SURI_ERR_FORMAT, "needs 47040000 data bytes from byte 16");
  expect_bad("limit.idx", m, 20, 1000000, SURI_ERR_NOMEM, "over the 977 KiB limit");
  /* 8 dims of 2^32 - 1: the element count overflows 64 bits; f64 of 2^29 x 2^30 x 2 does
   * not overflow but is far over the default limit. */
  unsigned char o[40] = {0, 0, 0x0E, 8};
  memset(o + 4, 0xff, 32);
  expect_bad("overflow.idx", o, 36, 0, SURI_ERR_FORMAT, "more elements than a 64-bit count");
  unsigned char h[16] = {0, 0, 0x0E, 3, 0x20, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 2};
  expect_bad("huge.idx", h, 16, 0, SURI_ERR_NOMEM, "header at byte 4: shape (536870912, "
             "1073741824, 2) of f64 needs 8 EiB");
  h[15] = 4; /* 2^61 elements: the byte count overflows */
  expect_bad("huge2.idx", h, 16, 0, SURI_ERR_FORMAT, "more elements than a 64-bit");
  /* The Python fixture cut at several points. */
  void *whole;
  size_t wn;
  assert_int_equal(suri_read_file(fixture("images_u8.idx"), 0, &whole, &wn), SURI_OK);
  const size_t cuts[] = {0, 2, 4, 9, 15, 16, 40, wn - 1};
  const char *frags[] = {"truncated at byte 0", "truncated at byte 0", "truncated at byte 4",
                         "truncated at byte 4", "truncated at byte 4", "needs 60 data bytes",
                         "needs 60 data bytes", "the file has 59"};
  for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
    expect_bad("cut.idx", whole, cuts[c], 0, SURI_ERR_FORMAT, frags[c]);
  suri_free(whole);
  suri_array a;
  tu_expect_status(suri_idx_read("/nonexistent/t10k.idx", 0, &a), SURI_ERR_IO,
                   "/nonexistent/t10k.idx: cannot open: No such file");
}

static void test_malformed_gzip(void **state) {
  (void)state;
  unsigned char img[4000];
  for (int i = 0; i < 4000; i++) img[i] = (unsigned char)(i * 37 + (i >> 5));
  size_t n;
  unsigned char *gz = gz_file(SURI_DT_U8, 2, (int64_t[]){40, 100}, img, &n);
  expect_bad("good.gz", gz, n, 0, SURI_OK, NULL);
  /* Cut inside the gzip header, the deflate data, and the CRC/length trailer. */
  const size_t cuts[] = {2, 9, 12, n / 2, n - 8, n - 5, n - 1};
  for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
    expect_bad("cut.gz", gz, cuts[c], 0, SURI_ERR_FORMAT, c == 0 ? "truncated" : "gzip stream "
               "broken");
  /* A flipped bit in the compressed data: corrupt data or a CRC mismatch. */
  gz[n / 2] ^= 0x10;
  expect_bad("flip.gz", gz, n, 0, SURI_ERR_FORMAT, "gzip stream broken");
  gz[n / 2] ^= 0x10;
  /* A wrong CRC-32 in the trailer. */
  gz[n - 6] ^= 0x01;
  expect_bad("crc.gz", gz, n, 0, SURI_ERR_FORMAT, "incorrect data check");
  gz[n - 6] ^= 0x01;
  suri_free(gz);
  /* A gzip file whose IDX header claims 47 MB: more than deflate can expand ~40 bytes to. */
  unsigned char hdr[16] = {0, 0, 0x08, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28};
  write_gz("bomb.gz", hdr, 16);
  expect_read("bomb.gz", 0, SURI_ERR_FORMAT, "more than a gzip file of");
  /* Extra payload bytes inside a valid gzip stream. */
  unsigned char pay[14] = {0, 0, 0x08, 1, 0, 0, 0, 4, 1, 2, 3, 4, 5, 6};
  write_gz("trail.gz", pay, 14);
  expect_read("trail.gz", 0, SURI_ERR_FORMAT, "unexpected bytes after the data at byte 12 "
              "(decompressed)");
  write_gz("short.gz", pay, 10);
  expect_read("short.gz", 0, SURI_ERR_FORMAT, "truncated at byte 10 (decompressed): the IDX data");
  write_gz("limit.gz", pay, 12);
  expect_read("limit.gz", 3, SURI_ERR_NOMEM, "over the 3 B limit");
  expect_read("limit.gz", 0, SURI_OK, NULL);
}

static void test_write_args(void **state) {
  (void)state;
  const char *p = tu_join(dir, "args.idx");
  int64_t x[2] = {1, 2};
  tu_expect_status(suri_idx_write(p, SURI_DT_I64, 1, (int64_t[]){2}, x, 0), SURI_ERR_ARG,
                   "no type code for i64");
  tu_expect_status(suri_idx_write(p, SURI_DT_U8, 1, (int64_t[]){(int64_t)1 << 33}, x, 0),
                   SURI_ERR_ARG, "does not fit in IDX's 32 bits");
  tu_expect_status(suri_idx_write(dir, SURI_DT_U8, 1, (int64_t[]){2}, x, 1), SURI_ERR_IO,
                   "is a directory");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_python_fixtures), cmocka_unit_test(test_bundled_mnist),
      cmocka_unit_test(test_writer_bytes),    cmocka_unit_test(test_roundtrip),
      cmocka_unit_test(test_mnist_sized),     cmocka_unit_test(test_malformed_plain),
      cmocka_unit_test(test_malformed_gzip),  cmocka_unit_test(test_write_args),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
