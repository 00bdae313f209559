/* test_io_safetensors.c - safetensors reading and writing: a file written from torch tensors by
 * tests/ref/make_io_fixtures.py (every dtype, metadata, rank 0, an empty tensor, F16/BF16
 * produced by torch's rounding), suri's F16/BF16 encoding checked byte for byte against torch's,
 * round trips for every dtype and rank, the writer's layout (8-byte aligned data block,
 * insertion order, "__metadata__"), suri_st_get_real's checks, and a malformed-header battery. */
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

static const char *fixture(void) { return tu_src_path("tests/fixtures/io/mixed.safetensors"); }

static void get(const suri_safetensors *st, const char *name, int64_t n, double *out,
                int check) {
  suri_real buf[16];
  assert_true(n <= 16);
  suri_status s = suri_st_get_real(st, name, -1, &n, buf, check);
  if (s) fail_msg("%s: %s", name, suri_last_error());
  for (int64_t i = 0; i < n; i++) out[i] = (double)buf[i];
}

static void test_torch_file(void **state) {
  (void)state;
  suri_safetensors *st;
  assert_int_equal(suri_st_read(fixture(), 0, &st), SURI_OK);
  assert_int_equal(suri_st_count(st), 13);
  assert_string_equal(suri_st_at(st, 0)->name, "fc1.weight"); /* header order */
  assert_string_equal(suri_st_at(st, 12)->name, "empty");
  assert_null(suri_st_at(st, 13));
  assert_int_equal(suri_st_meta_count(st), 2);
  assert_string_equal(suri_st_meta_key(st, 0), "format");
  assert_string_equal(suri_st_meta(st, "format"), "pt");
  assert_string_equal(suri_st_meta(st, "note"), "unicode \xe2\x9c\x93 \xc3\xa9");
  assert_null(suri_st_meta(st, "nope"));
  /* F32 weights equal their exact F64 copy (torch's Linear weights are float32). */
  const suri_st_tensor *w = suri_st_find(st, "fc1.weight");
  assert_non_null(w);
  assert_int_equal(w->dtype, SURI_DT_F32);
  assert_int_equal(w->rank, 2);
  assert_int_equal(w->dim[0], 3);
  assert_int_equal(w->dim[1], 2);
  double a[16], b[16];
  get(st, "fc1.weight", 6, a, 1);
  get(st, "fc1.weight.f64", 6, b, 1);
  for (int i = 0; i < 6; i++) assert_true(a[i] == b[i] && a[i] != 0);
  /* torch's F16/BF16 of src, decoded exactly (ties to even, subnormal, overflow to Inf). */
  const double h[9] = {1, 1, 1 + 0x1p-9, 1 + 0x1p-8, 0x1p-24, 65504, INFINITY, INFINITY, -0.0};
  const double bh[9] = {1, 1, 1, 1, 0x1p-24, 65536, 65536, 999424, -0.0};
  get(st, "half", 9, a, 0);
  get(st, "bhalf", 9, b, 0);
  for (int i = 0; i < 9; i++) {
    assert_true(a[i] == h[i] && signbit(a[i]) == signbit(h[i]));
    assert_true(b[i] == bh[i] && signbit(b[i]) == signbit(bh[i]));
  }
  suri_real tmp[9];
  tu_expect_status(suri_st_get_real(st, "half", 1, (int64_t[]){9}, tmp, 1), SURI_ERR_NUMERIC,
                   "tensor 'half' element 6 (index (6,)) is infinite");
  /* Integer tensors, little-endian in the file. */
  const suri_st_tensor *t = suri_st_find(st, "i64");
  int64_t i64[2];
  memcpy(i64, suri_st_data(st, t), 16);
  assert_true(i64[0] == INT64_MIN && i64[1] == ((int64_t)1 << 62) + 1);
  t = suri_st_find(st, "i16");
  int16_t i16[2];
  memcpy(i16, suri_st_data(st, t), 4);
  assert_true(t->dtype == SURI_DT_I16 && i16[0] == -32768 && i16[1] == 32767);
  t = suri_st_find(st, "flags"); /* BOOL reads as U8 */
  const unsigned char *fl = suri_st_data(st, t);
  assert_true(t->dtype == SURI_DT_U8 && fl[0] == 1 && fl[1] == 0 && fl[2] == 1);
  assert_int_equal(suri_st_find(st, "i8")->dtype, SURI_DT_I8);
  assert_int_equal(suri_st_find(st, "i32")->dtype, SURI_DT_I32);
  /* Rank 0 and an empty tensor. */
  suri_real sc;
  assert_int_equal(suri_st_get_real(st, "scalar", 0, NULL, &sc, 1), SURI_OK);
  assert_true(sc == 2.5);
  t = suri_st_find(st, "empty");
  assert_true(t->rank == 2 && t->dim[0] == 0 && t->dim[1] == 4 && t->nbytes == 0);
  assert_int_equal(suri_st_get_real(st, "empty", 2, (int64_t[]){0, 4}, tmp, 1), SURI_OK);
  suri_st_free(st);
}

/* suri's F16/BF16 encoding of src equals torch's bytes. */
static void test_half_encoding_matches_torch(void **state) {
  (void)state;
  suri_safetensors *st;
  assert_int_equal(suri_st_read(fixture(), 0, &st), SURI_OK);
  double src[9];
  get(st, "src", 9, src, 0);
  suri_real r[9];
  for (int i = 0; i < 9; i++) r[i] = (suri_real)src[i]; /* float-exact values */
  suri_st_writer *w = suri_st_writer_new();
  const int64_t n = 9;
  assert_int_equal(suri_st_writer_add_real(w, "half", SURI_DT_F16, 1, &n, r), SURI_OK);
  assert_int_equal(suri_st_writer_add_real(w, "bhalf", SURI_DT_BF16, 1, &n, r), SURI_OK);
  const char *p = tu_join(dir, "half.safetensors");
  assert_int_equal(suri_st_writer_write(w, p), SURI_OK);
  suri_st_writer_free(w);
  suri_safetensors *mine;
  assert_int_equal(suri_st_read(p, 0, &mine), SURI_OK);
  const char *names[] = {"half", "bhalf"};
  for (int k = 0; k < 2; k++) {
    const suri_st_tensor *a = suri_st_find(st, names[k]), *b = suri_st_find(mine, names[k]);
    assert_int_equal(a->dtype, b->dtype);
    assert_memory_equal(suri_st_data(st, a), suri_st_data(mine, b), 18);
  }
  suri_st_free(mine);
  suri_st_free(st);
}

/* Values that float would round twice (double -> float -> half) round once, directly. */
static void test_half_direct_rounding(void **state) {
  (void)state;
  /* 1 + 2^-11 + 2^-40 is just above the F16 midpoint between 1 and 1 + 2^-10; through float it
   * would become the midpoint exactly and round to even (1). BF16 likewise at 1 + 2^-8. */
  if (sizeof(suri_real) != sizeof(double)) skip();
  suri_real v[2] = {(suri_real)(1 + 0x1p-11 + 0x1p-40), (suri_real)(1 + 0x1p-8 + 0x1p-40)};
  suri_st_writer *w = suri_st_writer_new();
  const int64_t n = 1;
  assert_int_equal(suri_st_writer_add_real(w, "h", SURI_DT_F16, 1, &n, v), SURI_OK);
  assert_int_equal(suri_st_writer_add_real(w, "b", SURI_DT_BF16, 1, &n, v + 1), SURI_OK);
  const char *p = tu_join(dir, "direct.safetensors");
  assert_int_equal(suri_st_writer_write(w, p), SURI_OK);
  suri_st_writer_free(w);
  suri_safetensors *st;
  assert_int_equal(suri_st_read(p, 0, &st), SURI_OK);
  const unsigned char *h = suri_st_data(st, suri_st_find(st, "h"));
  const unsigned char *b = suri_st_data(st, suri_st_find(st, "b"));
  assert_int_equal(h[0] | h[1] << 8, 0x3C01); /* 1 + 2^-10 */
  assert_int_equal(b[0] | b[1] << 8, 0x3F81); /* 1 + 2^-7 */
  suri_st_free(st);
}

/* Every dtype at ranks 0..3 and 8, plus metadata: bytes, shapes, order and layout survive. */
static void test_roundtrip_and_layout(void **state) {
  (void)state;
  const suri_dtype dts[] = {SURI_DT_F32, SURI_DT_F64, SURI_DT_U8,  SURI_DT_I8,  SURI_DT_I16,
                            SURI_DT_I32, SURI_DT_I64, SURI_DT_F16, SURI_DT_BF16};
  const int64_t shapes[][8] = {{0}, {3}, {1, 3}, {2, 1, 3}, {1, 2, 1, 1, 3, 1, 1, 1}};
  const int ranks[] = {0, 1, 2, 3, 8};
  suri_rng rng = suri_rng_make(3, SURI_RNG_DATA);
  static unsigned char data[9][5][64];
  suri_st_writer *w = suri_st_writer_new();
  char name[32];
  for (int d = 0; d < 9; d++)
    for (int s = 0; s < 5; s++) {
      for (int i = 0; i < 64; i++) data[d][s][i] = (unsigned char)suri_rng_u32(&rng);
      snprintf(name, sizeof name, "t%d.%d", d, s);
      assert_int_equal(suri_st_writer_add(w, name, dts[d], ranks[s], shapes[s], data[d][s]),
                       SURI_OK);
    }
  assert_int_equal(suri_st_writer_meta(w, "format", "pt"), SURI_OK);
  assert_int_equal(suri_st_writer_meta(w, "quote\"and\\", "line\nbreak \xc3\xa9"), SURI_OK);
  const char *p = tu_join(dir, "rt.safetensors");
  assert_int_equal(suri_st_writer_write(w, p), SURI_OK);
  suri_st_writer_free(w);
  /* Layout: N % 8 == 0, header starts with the metadata, padding is spaces. */
  void *raw;
  size_t n;
  assert_int_equal(suri_read_file(p, 0, &raw, &n), SURI_OK);
  const unsigned char *b = raw;
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++) hl |= (uint64_t)b[i] << (8 * i);
  assert_int_equal(hl % 8, 0);
  assert_memory_equal(b + 8, "{\"__metadata__\":{", 17);
  size_t k = 8 + hl;
  while (b[k - 1] == ' ') k--;
  assert_int_equal(b[k - 1], '}');
  suri_free(raw);
  suri_safetensors *st;
  assert_int_equal(suri_st_read(p, 0, &st), SURI_OK);
  assert_int_equal(suri_st_count(st), 45);
  assert_string_equal(suri_st_meta(st, "quote\"and\\"), "line\nbreak \xc3\xa9");
  size_t expect_off = 0;
  for (int d = 0, idx = 0; d < 9; d++)
    for (int s = 0; s < 5; s++, idx++) {
      const suri_st_tensor *t = suri_st_at(st, idx);
      snprintf(name, sizeof name, "t%d.%d", d, s);
      assert_string_equal(t->name, name);
      assert_true(suri_st_find(st, name) == t);
      assert_int_equal(t->dtype, dts[d]);
      assert_int_equal(t->rank, ranks[s]);
      for (int i = 0; i < ranks[s]; i++) assert_int_equal(t->dim[i], shapes[s][i]);
      assert_int_equal(t->offset, expect_off); /* contiguous, insertion order */
      expect_off += t->nbytes;
      assert_memory_equal(suri_st_data(st, t), data[d][s], t->nbytes);
    }
  suri_st_free(st);
}

/* add_real -> get_real in all four float dtypes; NaN and shape checks. */
static void test_real_values(void **state) {
  (void)state;
  suri_real v[6] = {0.5f, -1.25f, 3, 1024, -0.0f, 0.0078125f}; /* exact in F16 and BF16 */
  const int64_t dim[2] = {2, 3};
  const suri_dtype dts[] = {SURI_DT_F32, SURI_DT_F64, SURI_DT_F16, SURI_DT_BF16};
  suri_st_writer *w = suri_st_writer_new();
  char name[16];
  for (int d = 0; d < 4; d++) {
    snprintf(name, sizeof name, "w%d", d);
    assert_int_equal(suri_st_writer_add_real(w, name, dts[d], 2, dim, v), SURI_OK);
  }
  suri_real bad[6] = {1, 2, 3, 4, 5, 6};
  bad[5] = NAN;
  assert_int_equal(suri_st_writer_add_real(w, "nan", SURI_DT_F32, 2, dim, bad), SURI_OK);
  const char *p = tu_join(dir, "real.safetensors");
  assert_int_equal(suri_st_writer_write(w, p), SURI_OK);
  suri_st_writer_free(w);
  suri_safetensors *st;
  assert_int_equal(suri_st_read(p, 0, &st), SURI_OK);
  suri_real out[6];
  for (int d = 0; d < 4; d++) {
    snprintf(name, sizeof name, "w%d", d);
    assert_int_equal(suri_st_get_real(st, name, 2, dim, out, 1), SURI_OK);
    for (int i = 0; i < 6; i++) assert_true(out[i] == v[i] && signbit(out[i]) == signbit(v[i]));
  }
  tu_expect_status(suri_st_get_real(st, "nan", 2, dim, out, 1), SURI_ERR_NUMERIC,
                   "real.safetensors: tensor 'nan' element 5 (index (1, 2)) is NaN");
  assert_int_equal(suri_st_get_real(st, "nan", 2, dim, out, 0), SURI_OK);
  assert_true(isnan(out[5]));
  tu_expect_status(suri_st_get_real(st, "w0", 2, (int64_t[]){3, 2}, out, 1), SURI_ERR_SHAPE,
                   "tensor 'w0' has shape (2, 3), expected (3, 2)");
  tu_expect_status(suri_st_get_real(st, "w0", 1, (int64_t[]){6}, out, 1), SURI_ERR_SHAPE,
                   "expected (6,)");
  tu_expect_status(suri_st_get_real(st, "w0", -1, (int64_t[]){5}, out, 1), SURI_ERR_SHAPE,
                   "has 6 elements (shape (2, 3)), expected 5");
  assert_int_equal(suri_st_get_real(st, "w0", -1, (int64_t[]){6}, out, 1), SURI_OK);
  tu_expect_status(suri_st_get_real(st, "missing", 2, dim, out, 1), SURI_ERR_FORMAT,
                   "tensor 'missing' not found");
  suri_st_free(st);
  /* An F64 value beyond float's range overflows suri_real in the float build. */
  if (sizeof(suri_real) == sizeof(float)) {
    double big[2] = {1, 1e300};
    w = suri_st_writer_new();
    assert_int_equal(suri_st_writer_add(w, "big", SURI_DT_F64, 1, (int64_t[]){2}, big), SURI_OK);
    assert_int_equal(suri_st_writer_write(w, p), SURI_OK);
    suri_st_writer_free(w);
    assert_int_equal(suri_st_read(p, 0, &st), SURI_OK);
    tu_expect_status(suri_st_get_real(st, "big", 1, (int64_t[]){2}, out, 1), SURI_ERR_NUMERIC,
                     "element 1 (index (1,)) is too large for f32");
    suri_st_free(st);
  }
  assert_int_equal(suri_st_read(fixture(), 0, &st), SURI_OK);
  tu_expect_status(suri_st_get_real(st, "i64", 1, (int64_t[]){2}, out, 1), SURI_ERR_FORMAT,
                   "tensor 'i64' has dtype i64; a floating-point dtype");
  suri_st_free(st);
}

static void test_writer_args(void **state) {
  (void)state;
  suri_st_writer *w = suri_st_writer_new();
  float x[2] = {1, 2};
  const int64_t n = 2;
  assert_int_equal(suri_st_writer_add(w, "a", SURI_DT_F32, 1, &n, x), SURI_OK);
  tu_expect_status(suri_st_writer_add(w, "a", SURI_DT_F32, 1, &n, x), SURI_ERR_ARG,
                   "tensor 'a' added twice");
  tu_expect_status(suri_st_writer_add(w, "__metadata__", SURI_DT_F32, 1, &n, x), SURI_ERR_ARG,
                   "reserved");
  tu_expect_status(suri_st_writer_add(w, "bad\xff", SURI_DT_F32, 1, &n, x), SURI_ERR_ARG, "UTF-8");
  tu_expect_status(suri_st_writer_add(w, "", SURI_DT_F32, 1, &n, x), SURI_ERR_ARG, "non-empty");
  tu_expect_status(suri_st_writer_add(w, "r", SURI_DT_F32, 9, (int64_t[9]){1}, x), SURI_ERR_ARG,
                   "rank 9");
  tu_expect_status(suri_st_writer_add_real(w, "i", SURI_DT_I32, 1, &n, NULL), SURI_ERR_ARG,
                   "F32, F64, F16 or BF16");
  assert_int_equal(suri_st_writer_meta(w, "k", "v"), SURI_OK);
  tu_expect_status(suri_st_writer_meta(w, "k", "w"), SURI_ERR_ARG, "set twice");
  tu_expect_status(suri_st_writer_write(w, dir), SURI_ERR_IO, "is a directory");
  suri_st_writer_free(w);
  suri_st_writer_free(NULL);
}

/* [8-byte length][header][data] into out. */
static size_t build(unsigned char *out, const char *hdr, size_t ndata) {
  size_t hl = strlen(hdr);
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(out + 8, hdr, hl);
  for (size_t i = 0; i < ndata; i++) out[8 + hl + i] = (unsigned char)i;
  return 8 + hl + ndata;
}

static void expect_parse(const void *buf, size_t n, suri_status want, const char *frag) {
  suri_safetensors *st = (suri_safetensors *)buf; /* must be reset to NULL */
  suri_status s = suri_st_parse(buf, n, "bad.st", &st);
  if (s != want || (frag && !strstr(suri_last_error(), frag)) ||
      (want && !strstr(suri_last_error(), "bad.st")))
    fail_msg("status %d (%s), expected %d with \"%s\"", (int)s, suri_last_error(), (int)want,
             frag ? frag : "");
  if (want) assert_null(st);
  suri_st_free(st);
}

/* Headers (with ndata data bytes) and the expected outcome. */
static const struct {
  const char *hdr;
  size_t ndata;
  suri_status want;
  const char *frag;
} cases[] = {
    {"{}      ", 0, SURI_OK, NULL},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, SURI_OK, NULL},
    {" {}", 0, SURI_ERR_FORMAT, "header at byte 8 does not start with '{'"},
    {"{\"a\": {", 0, SURI_ERR_FORMAT, "invalid JSON at byte"},
    {"{\"a\" 1}", 0, SURI_ERR_FORMAT, "invalid JSON at byte 13"},
    {"{\"\xff\": {}}", 0, SURI_ERR_FORMAT, "invalid UTF-8 at byte 10"},
    {"{\"\xed\xa0\x80\": {}}", 0, SURI_ERR_FORMAT, "invalid UTF-8 at byte 10"},
    {"{} x", 0, SURI_ERR_FORMAT, "unexpected text after the JSON at byte 11"},
    {"{\"a\": 5}", 0, SURI_ERR_FORMAT, "tensor 'a': entry is not a JSON object"},
    {"{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4, SURI_ERR_FORMAT, "'dtype' is missing"},
    {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SURI_ERR_FORMAT,
     "unknown or unsupported dtype 'F8_E4M3'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, SURI_ERR_FORMAT,
     "'shape' holds something other than a non-negative integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, SURI_ERR_FORMAT,
     "'shape' holds"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, SURI_ERR_FORMAT,
     "'shape' is missing or not an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     SURI_ERR_FORMAT, "'shape' has 9 dimensions, over the limit of 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
     "\"data_offsets\":[0,0]}}", 0, SURI_ERR_FORMAT, "more elements than a 64-bit count"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, SURI_ERR_FORMAT,
     "tensor 'a': 'data_offsets' [0, 16] reach past the data block"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, SURI_ERR_FORMAT,
     "'data_offsets' must be [begin, end] with non-negative integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, SURI_ERR_FORMAT,
     "'data_offsets' must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 8, SURI_ERR_FORMAT,
     "'data_offsets' must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, SURI_ERR_FORMAT,
     "end before begin"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12, SURI_ERR_FORMAT,
     "dtype F32 and shape (2,) need 8 bytes but 'data_offsets' [0, 12] hold 12"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, SURI_ERR_FORMAT,
     "tensor 'b': bytes [4, 12) overlap tensor 'a' [0, 8)"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, SURI_ERR_FORMAT,
     "overlap tensor"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, SURI_ERR_FORMAT,
     "bytes [4, 8) of the data block belong to no tensor"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, SURI_ERR_FORMAT,
     "the data block has 8 bytes but the tensors cover only 4"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, SURI_ERR_FORMAT,
     "tensor 'a': the name appears twice"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     SURI_ERR_FORMAT, "tensor 'a': field 'dtype' appears twice"},
    {"{\"__metadata__\":{\"k\":1}}", 0, SURI_ERR_FORMAT,
     "'__metadata__' value of 'k' is not a string"},
    {"{\"__metadata__\":[\"k\"]}", 0, SURI_ERR_FORMAT, "'__metadata__' is not an object"},
    /* Zero-size tensors may share an offset; empty data blocks are fine. */
    {"{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
     "\"f\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, SURI_OK, NULL},
};

static void test_malformed(void **state) {
  (void)state;
  unsigned char f[2048];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t n = build(f, cases[c].hdr, cases[c].ndata);
    expect_parse(f, n, cases[c].want, cases[c].frag);
  }
  /* Header lengths: larger than the file, absurd. */
  size_t n = build(f, "{}", 0);
  f[1] = 0x03;
  expect_parse(f, n, SURI_ERR_FORMAT, "header length 770 at byte 0 is larger than the file");
  memset(f, 0xff, 8);
  expect_parse(f, n, SURI_ERR_FORMAT, "header length 18446744073709551615");
  expect_parse(f, 5, SURI_ERR_FORMAT, "file is 5 bytes, too short");
  expect_parse(f, 0, SURI_ERR_FORMAT, "file is 0 bytes, too short");
  /* The torch fixture cut at several points. */
  void *whole;
  size_t wn;
  assert_int_equal(suri_read_file(fixture(), 0, &whole, &wn), SURI_OK);
  const unsigned char *w = whole;
  size_t hl = (size_t)w[0] | (size_t)w[1] << 8;
  const size_t cuts[] = {0, 7, 8, 100, 8 + hl - 1, 8 + hl, 8 + hl + 50, wn - 1};
  const char *frags[] = {"too short", "too short", "larger than the file",
                         "larger than the file", "larger than the file",
                         "reach past the data block", "reach past the data block",
                         "reach past the data block"};
  for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++)
    expect_parse(whole, cuts[c], SURI_ERR_FORMAT, frags[c]);
  suri_free(whole);
}

static void test_read_errors(void **state) {
  (void)state;
  suri_safetensors *st;
  tu_expect_status(suri_st_read("/nonexistent/m.safetensors", 0, &st), SURI_ERR_IO,
                   "/nonexistent/m.safetensors: cannot open: No such file or directory");
  assert_null(st);
  tu_expect_status(suri_st_read(dir, 0, &st), SURI_ERR_IO, "is a directory");
  tu_expect_status(suri_st_read(fixture(), 100, &st), SURI_ERR_NOMEM, "over the 100 B limit");
  /* A file whose header is broken names the file. */
  const char *p = tu_join(dir, "broken.safetensors");
  unsigned char f[64];
  size_t n = build(f, "{\"a\":1}", 0);
  tu_write(p, f, n);
  tu_expect_status(suri_st_read(p, 0, &st), SURI_ERR_FORMAT,
                   "broken.safetensors: header (byte 8): tensor 'a'");
  assert_null(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_torch_file),
      cmocka_unit_test(test_half_encoding_matches_torch),
      cmocka_unit_test(test_half_direct_rounding),
      cmocka_unit_test(test_roundtrip_and_layout),
      cmocka_unit_test(test_real_values),
      cmocka_unit_test(test_writer_args),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_read_errors),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
