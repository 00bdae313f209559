/* test_data.c - the data layer: bundled mnist10k (sizes, class counts of its README, stratified
 * and disjoint split), synthetic gauss/teacher sets (determinism, the documented generative
 * model), normalisation shared between train and test, epoch orders and gathering, NPY/IDX/CSV
 * specs on small files written here, and a battery of bad specs and bad files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suri/data.h"
#include "suri/io.h"
#include "testutil.h"

/* Class counts of data/mnist10k/README.md. */
static const int64_t mnist_train_counts[10] = {801, 902, 793, 826, 784, 690, 811, 856, 755, 782};
static const int64_t mnist_test_counts[10] = {200, 225, 198, 206, 196, 173, 203, 214, 189, 196};

static void use_bundled_data(void) { setenv("SURI_DATA_DIR", tu_src_path("data"), 1); }

static suri_dataset *load_ok(const char *spec) {
  suri_dataset *d = NULL;
  suri_status st = suri_data_load(spec, &d);
  if (st != SURI_OK) fail_msg("loading '%s': %s", spec, suri_last_error());
  assert_non_null(d);
  return d;
}

static void expect_load_fail(const char *spec, suri_status expected, const char *fragment) {
  suri_dataset *d = (suri_dataset *)&expected; /* must stay untouched on failure */
  suri_dataset *before = d;
  suri_status st = suri_data_load(spec, &d);
  if (st == SURI_OK) fail_msg("spec '%s' loaded but should fail", spec);
  tu_expect_status(st, expected, fragment);
  assert_ptr_equal(d, before);
  /* Every message names the spec it is about. */
  if (*spec && !strstr(suri_last_error(), spec))
    fail_msg("message \"%s\" does not name the spec '%s'", suri_last_error(), spec);
}

/* FNV-1a over one image's pixel bytes (x holds exact 0..255 with norm=none). */
static uint64_t row_hash(const suri_real *x, int64_t dim) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t j = 0; j < dim; j++) {
    h ^= (uint8_t)x[j];
    h *= 1099511628211ull;
  }
  return h;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* ---- mnist10k ----------------------------------------------------------------------------- */

static void check_counts(const suri_dataset *d, const int64_t *expected) {
  int64_t counts[10];
  assert_int_equal(d->classes, 10);
  suri_dataset_class_counts(d, counts);
  for (int c = 0; c < 10; c++) assert_int_equal(counts[c], expected[c]);
}

static void test_mnist10k_splits(void **state) {
  (void)state;
  use_bundled_data();
  suri_dataset *tr = load_ok("mnist10k"), *te = load_ok("mnist10k:test");
  assert_int_equal(tr->n, 8000);
  assert_int_equal(te->n, 2000);
  assert_int_equal(tr->dim, 784);
  assert_int_equal(tr->img_h, 28);
  assert_int_equal(tr->img_w, 28);
  assert_int_equal(tr->targets, 0);
  assert_null(tr->t);
  assert_string_equal(tr->name, "mnist10k:train");
  assert_int_equal(tr->norm, SURI_DATA_NORM_SCALE);
  check_counts(tr, mnist_train_counts);
  check_counts(te, mnist_test_counts);
  /* scale is the default for u8 images: values in [0, 1], both ends reached */
  double lo = 1e9, hi = -1e9;
  for (int64_t i = 0; i < tr->n * tr->dim; i++) {
    lo = fmin(lo, tr->x[i]);
    hi = fmax(hi, tr->x[i]);
  }
  assert_true(lo == 0.0 && hi == 1.0);
  /* stratified: per class, train = 4 x test up to the apportionment's rounding (|d| < 1 image
   * moved between the parts changes 4 test - train by 5 d) */
  for (int c = 0; c < 10; c++)
    assert_true(llabs(4 * mnist_test_counts[c] - mnist_train_counts[c]) < 5);
  /* all = train then test */
  suri_dataset *all = load_ok("mnist10k:all");
  assert_int_equal(all->n, 10000);
  assert_memory_equal(all->x, tr->x, (size_t)(tr->n * tr->dim) * sizeof(suri_real));
  assert_memory_equal(all->x + tr->n * tr->dim, te->x,
                      (size_t)(te->n * te->dim) * sizeof(suri_real));
  assert_memory_equal(all->y + tr->n, te->y, (size_t)te->n * sizeof(int32_t));
  assert_int_equal(all->img_h, 28);
  suri_dataset_free(all);
  suri_dataset_free(tr);
  suri_dataset_free(te);
}

static void test_mnist10k_disjoint(void **state) {
  (void)state;
  use_bundled_data();
  suri_dataset *tr = load_ok("mnist10k,norm=none"), *te = load_ok("mnist10k:test,norm=none");
  assert_int_equal(tr->norm, SURI_DATA_NORM_NONE);
  uint64_t *h = malloc(10000 * sizeof *h);
  assert_non_null(h);
  for (int64_t i = 0; i < tr->n * tr->dim; i++)
    assert_true(tr->x[i] == floor(tr->x[i]) && tr->x[i] >= 0 && tr->x[i] <= 255);
  for (int64_t i = 0; i < 8000; i++) h[i] = row_hash(tr->x + i * 784, 784);
  qsort(h, 8000, sizeof *h, cmp_u64);
  for (int64_t i = 1; i < 8000; i++) assert_true(h[i] != h[i - 1]); /* no duplicate in train */
  for (int64_t i = 0; i < 2000; i++) {
    uint64_t k = row_hash(te->x + i * 784, 784);
    assert_null(bsearch(&k, h, 8000, sizeof *h, cmp_u64)); /* no test image in train */
  }
  free(h);
  suri_dataset_free(tr);
  suri_dataset_free(te);
}

static void test_mnist10k_limit_and_dir(void **state) {
  (void)state;
  use_bundled_data();
  /* the files interleave the digits evenly, so a prefix is close to stratified (~10 each) */
  suri_dataset *d = load_ok("mnist10k,limit=100");
  int64_t counts[10];
  assert_int_equal(d->n, 100);
  suri_dataset_class_counts(d, counts);
  for (int c = 0; c < 10; c++) assert_true(counts[c] >= 8 && counts[c] <= 12);
  suri_dataset_free(d);
  d = load_ok("mnist10k:all,limit=8005");
  assert_int_equal(d->n, 8005);
  suri_dataset_free(d);
  setenv("SURI_DATA_DIR", "/nonexistent-suri-dir", 1);
  expect_load_fail("mnist10k", SURI_ERR_IO, "SURI_DATA_DIR=/nonexistent-suri-dir");
  use_bundled_data();
}

/* ---- synthetic ---------------------------------------------------------------------------- */

static int same_set(const suri_dataset *a, const suri_dataset *b) {
  if (a->n != b->n || a->dim != b->dim || a->targets != b->targets) return 0;
  if (memcmp(a->x, b->x, (size_t)(a->n * a->dim) * sizeof(suri_real))) return 0;
  if (a->y && memcmp(a->y, b->y, (size_t)a->n * sizeof(int32_t))) return 0;
  if (a->t && memcmp(a->t, b->t, (size_t)(a->n * a->targets) * sizeof(suri_real))) return 0;
  return 1;
}

static void test_gauss_determinism(void **state) {
  (void)state;
  suri_dataset *a = load_ok("gauss:n=300,d=5,classes=3,sep=2,seed=7");
  suri_dataset *b = load_ok("gauss:n=300,d=5,classes=3,sep=2,seed=7");
  suri_dataset *c = load_ok("gauss:n=300,d=5,classes=3,sep=2,seed=8");
  suri_dataset *t = load_ok("gauss:n=300,d=5,classes=3,sep=2,seed=7,split=test");
  suri_dataset *p = load_ok("gauss:n=100,d=5,classes=3,sep=2,seed=7");
  assert_true(same_set(a, b));
  assert_false(same_set(a, c));
  assert_false(same_set(a, t));
  assert_int_equal(a->classes, 3);
  for (int64_t i = 0; i < a->n; i++) assert_int_equal(a->y[i], i % 3); /* balanced */
  /* a smaller n is a prefix */
  assert_memory_equal(p->x, a->x, (size_t)(p->n * p->dim) * sizeof(suri_real));
  suri_dataset_free(a);
  suri_dataset_free(b);
  suri_dataset_free(c);
  suri_dataset_free(t);
  suri_dataset_free(p);
}

/* The documented model: mu_c ~ N(0, sep^2/d I) from block 0 of (seed, SURI_RNG_DATA), and
 * x = mu_y + N(0, I). With 10,000 samples per class the class mean estimates have standard
 * error 0.01 per coordinate and the within-class variance estimate ~0.014: tolerances 0.05 and
 * 0.07 are about 5 standard errors. */
static void test_gauss_model(void **state) {
  (void)state;
  const int64_t d = 2, C = 2;
  suri_dataset *g = load_ok("gauss:n=20000,d=2,classes=2,sep=3,seed=5");
  suri_real mu[4];
  suri_rng r = suri_rng_make(5, SURI_RNG_DATA);
  suri_rng_fill_normal(&r, 4, mu, 0.0, 3.0 / sqrt(2.0));
  double m[2][2] = {{0}}, v[2][2] = {{0}};
  for (int64_t i = 0; i < g->n; i++)
    for (int64_t j = 0; j < d; j++) m[g->y[i]][j] += g->x[i * d + j] / 10000.0;
  for (int64_t i = 0; i < g->n; i++)
    for (int64_t j = 0; j < d; j++) {
      double e = g->x[i * d + j] - m[g->y[i]][j];
      v[g->y[i]][j] += e * e / 10000.0;
    }
  for (int64_t c = 0; c < C; c++)
    for (int64_t j = 0; j < d; j++) {
      assert_true(fabs(m[c][j] - mu[c * d + j]) < 0.05);
      assert_true(fabs(v[c][j] - 1.0) < 0.07);
    }
  suri_dataset_free(g);
}

/* Teacher targets recomputed from the documented formula and stream layout (w at block 0,
 * a at block 2^48, x of sample i at block 2^56 + i * (ceil(d/2) + ceil(K/2))). The library
 * sums in double from the same suri_real weights: agreement to rounding of the final value. */
static void test_teacher_model(void **state) {
  (void)state;
  enum { D = 3, K = 2, W = 4 };
  suri_dataset *a = load_ok("teacher:n=50,d=3,out=2,width=4,act=tanh,seed=11");
  suri_real w[W * D], av[W * K];
  suri_rng r = suri_rng_make(11, SURI_RNG_DATA);
  suri_rng_fill_normal(&r, W * D, w, 0.0, 1.0 / sqrt((double)D));
  r.counter = (uint64_t)1 << 48;
  suri_rng_fill_normal(&r, W * K, av, 0.0, 1.0);
  assert_int_equal(a->targets, K);
  assert_int_equal(a->classes, 0);
  assert_null(a->y);
  for (int64_t i = 0; i < a->n; i++) {
    suri_real x[D];
    r.counter = ((uint64_t)1 << 56) + (uint64_t)i * (2 + 1);
    suri_rng_fill_normal(&r, D, x, 0.0, 1.0);
    assert_memory_equal(x, a->x + i * D, sizeof x);
    for (int k = 0; k < K; k++) {
      double t = 0;
      for (int j = 0; j < W; j++) {
        double u = 0;
        for (int q = 0; q < D; q++) u += (double)w[j * D + q] * x[q];
        t += av[j * K + k] * tanh(u);
      }
      assert_true(tu_close(a->t[i * K + k], t / 2.0, 1e-6, 1e-6));
    }
  }
  /* noise changes targets but not inputs; seeds and splits change both */
  suri_dataset *n = load_ok("teacher:n=50,d=3,out=2,width=4,act=tanh,seed=11,noise=0.5");
  suri_dataset *b = load_ok("teacher:n=50,d=3,out=2,width=4,act=tanh,seed=11");
  suri_dataset *c = load_ok("teacher:n=50,d=3,out=2,width=4,act=tanh,seed=12");
  assert_memory_equal(n->x, a->x, 50 * D * sizeof(suri_real));
  assert_memory_not_equal(n->t, a->t, 50 * K * sizeof(suri_real));
  assert_true(same_set(a, b));
  assert_false(same_set(a, c));
  suri_dataset_free(a);
  suri_dataset_free(n);
  suri_dataset_free(b);
  suri_dataset_free(c);
}

/* parity: recomputed the way examples/mfld_parity.c draws it (sequential suri_rng_u32 from
 * counter split << 40, one block per coordinate, bit 0 -> +-1, label = [prod_{j<k} x_j = +1]),
 * so the CLI's parity: spec and the example agree bit for bit. Labels only (no targets), a
 * smaller n is a prefix, split=test and another seed give other samples. Balance: the label is
 * a fair coin, so over 4,000 samples |fraction - 1/2| < 0.04 is 5 standard errors (0.0079). */
static void test_parity_model(void **state) {
  (void)state;
  enum { D = 7, K = 3 };
  suri_dataset *a = load_ok("parity:d=7,k=3,n=4000,seed=9");
  suri_dataset *t = load_ok("parity:d=7,k=3,n=4000,seed=9,split=test");
  suri_dataset *p = load_ok("parity:d=7,k=3,n=100,seed=9");
  suri_dataset *c = load_ok("parity:d=7,k=3,n=4000,seed=10");
  assert_int_equal(a->dim, D);
  assert_int_equal(a->classes, 2);
  assert_int_equal(a->targets, 0);
  assert_null(a->t);
  for (int split = 0; split < 2; split++) {
    const suri_dataset *s = split ? t : a;
    suri_rng r = suri_rng_make(9, SURI_RNG_DATA);
    r.counter = (uint64_t)split << 40;
    int64_t ones = 0;
    for (int64_t i = 0; i < s->n; i++) {
      int prod = 1;
      for (int j = 0; j < D; j++) {
        int v = (suri_rng_u32(&r) & 1u) ? 1 : -1;
        assert_true(s->x[i * D + j] == (suri_real)v);
        if (j < K) prod *= v;
      }
      assert_int_equal(s->y[i], prod > 0);
      ones += s->y[i];
    }
    assert_true(fabs((double)ones / (double)s->n - 0.5) < 0.04);
  }
  assert_memory_equal(p->x, a->x, (size_t)(p->n * D) * sizeof(suri_real));
  assert_false(same_set(a, t));
  assert_false(same_set(a, c));
  suri_dataset *bad = NULL;
  assert_int_equal(suri_data_load("parity:d=3,k=4", &bad), SURI_ERR_ARG);
  assert_non_null(strstr(suri_last_error(), "k=4 must be at most d=3"));
  assert_int_equal(suri_data_load("parity:d=3,classes=2", &bad), SURI_ERR_ARG);
  assert_non_null(strstr(suri_last_error(), "unknown option 'classes'"));
  assert_null(bad);
  suri_dataset_free(a);
  suri_dataset_free(t);
  suri_dataset_free(p);
  suri_dataset_free(c);
}

/* ---- normalisation ------------------------------------------------------------------------ */

static void test_standardize(void **state) {
  (void)state;
  suri_dataset *g = load_ok("gauss:n=500,d=4,classes=2,sep=5,seed=1,norm=standard");
  assert_int_equal(g->norm, SURI_DATA_NORM_STANDARD);
  assert_non_null(g->mean);
  assert_non_null(g->std);
  for (int64_t j = 0; j < g->dim; j++) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < g->n; i++) m += g->x[i * g->dim + j];
    m /= (double)g->n;
    for (int64_t i = 0; i < g->n; i++) v += pow(g->x[i * g->dim + j] - m, 2);
    v /= (double)g->n;
    /* f32 rounding of 500 values of size ~3: errors ~1e-7 each */
    assert_true(fabs(m) < 1e-5);
    assert_true(fabs(v - 1.0) < 1e-5);
  }
  suri_dataset_free(g);
  /* a feature constant up to rounding (relative spread 1e-7 < 1e-6) is centred, not divided
   * by its rounding-noise std */
  suri_dataset *d = NULL;
  assert_int_equal(suri_dataset_new(3, 2, 0, 0, "const", &d), SURI_OK);
  suri_real c0 = (suri_real)0.1, c1 = (suri_real)(0.1 * (1 + 1e-7));
  suri_real v[6] = {c0, 1, c0, 2, c1, 3};
  assert_true(c1 != c0);
  memcpy(d->x, v, sizeof v);
  assert_int_equal(suri_dataset_standardize(d, NULL, NULL), SURI_OK);
  assert_true(d->std[0] == 1.0);
  assert_true(fabs(d->x[0]) < 1e-7 && fabs(d->x[4]) < 1e-7);
  assert_true(tu_close(d->x[1], -sqrt(1.5), 1e-6, 0));
  /* given statistics must be valid */
  double mean[2] = {0, 0}, sd[2] = {1, 0};
  tu_expect_status(suri_dataset_standardize(d, mean, sd), SURI_ERR_ARG, "feature 1");
  tu_expect_status(suri_dataset_standardize(d, mean, NULL), SURI_ERR_ARG, "both");
  suri_dataset_free(d);
}

/* Observed (f32 build, limit 500 and 8000): at most 1.4e-7 relative (one f32 ulp) above 1 and
 * 1.8e-7 absolute below 1; the tolerances leave a 7-10x margin. */
#define NL_RTOL 1e-6
#define NL_ATOL 2e-6
static void test_normalize_like(void **state) {
  (void)state;
  use_bundled_data();
  suri_dataset *tr = load_ok("mnist10k,norm=standard,limit=500");
  suri_dataset *te = load_ok("mnist10k:test,limit=50");        /* scaled, like train's input */
  suri_dataset *raw = load_ok("mnist10k:test,limit=50,norm=none");
  suri_dataset *own = load_ok("mnist10k:test,limit=50,norm=standard");
  assert_true(tr->scaled);
  for (int k = 0; k < 3; k++) {
    suri_dataset *t = k == 0 ? te : k == 1 ? raw : own;
    assert_int_equal(suri_dataset_normalize_like(t, tr), SURI_OK);
    assert_int_equal(t->norm, SURI_DATA_NORM_STANDARD);
    assert_memory_equal(t->mean, tr->mean, 784 * sizeof(double));
    assert_memory_equal(t->std, tr->std, 784 * sizeof(double));
  }
  /* raw arrives unscaled (x * (1/255) in double) and own standardised with its own statistics
   * (undone in double): both differ from te only by the f32 rounding of their inputs, which
   * the standardisation amplifies by 1/std_train (std of rarely inked border pixels is small,
   * standardised values reach ~2000): about one ulp of the result, see NL_RTOL. */
  for (int64_t i = 0; i < 50 * 784; i++) {
    if (!tu_close(raw->x[i], te->x[i], NL_RTOL, NL_ATOL))
      fail_msg("raw %lld: %.9g vs %.9g", (long long)i, (double)raw->x[i], (double)te->x[i]);
    if (!tu_close(own->x[i], te->x[i], NL_RTOL, NL_ATOL))
      fail_msg("own %lld: %.9g vs %.9g", (long long)i, (double)own->x[i], (double)te->x[i]);
  }
  suri_dataset *plain = load_ok("mnist10k:test,limit=50");
  for (int64_t i = 0; i < 50 * 784; i++) {
    int64_t j = i % 784;
    suri_real e = (suri_real)(((double)plain->x[i] - tr->mean[j]) / tr->std[j]);
    assert_true(te->x[i] == e);
  }
  /* undo when train is not standardised; dims must agree */
  suri_dataset *tr2 = load_ok("mnist10k,limit=10");
  assert_int_equal(suri_dataset_normalize_like(own, tr2), SURI_OK);
  assert_int_equal(own->norm, SURI_DATA_NORM_SCALE);
  assert_null(own->mean);
  for (int64_t i = 0; i < 50 * 784; i++) assert_true(tu_close(own->x[i], plain->x[i], 0, 1e-5));
  suri_dataset *g = load_ok("gauss:n=10,d=3");
  tu_expect_status(suri_dataset_normalize_like(g, tr), SURI_ERR_SHAPE, "3 features");
  suri_dataset_free(g);
  suri_dataset_free(tr2);
  suri_dataset_free(plain);
  suri_dataset_free(tr);
  suri_dataset_free(te);
  suri_dataset_free(raw);
  suri_dataset_free(own);
}

/* ---- batching ----------------------------------------------------------------------------- */

static int is_permutation(const int64_t *idx, int64_t n) {
  char *seen = calloc((size_t)n, 1);
  int ok = 1;
  for (int64_t i = 0; i < n && ok; i++) {
    if (idx[i] < 0 || idx[i] >= n || seen[idx[i]]) ok = 0;
    else seen[idx[i]] = 1;
  }
  free(seen);
  return ok;
}

static void test_epoch_order(void **state) {
  (void)state;
  suri_dataset *d = load_ok("gauss:n=1000,d=2");
  int64_t a[1000], b[1000], c[1000], e[1000];
  suri_data_epoch_order(d, 42, 3, a);
  suri_data_epoch_order(d, 42, 4, c);
  suri_data_epoch_order(d, 43, 3, e);
  suri_data_epoch_order(d, 42, 0, b); /* unrelated call in between: no hidden state */
  suri_data_epoch_order(d, 42, 3, b);
  assert_true(is_permutation(a, 1000));
  assert_true(is_permutation(c, 1000));
  assert_memory_equal(a, b, sizeof a);
  assert_memory_not_equal(a, c, sizeof a);
  assert_memory_not_equal(a, e, sizeof a);
  /* a shuffle, not the identity: ~1 fixed point expected, 10 is already very unlikely */
  int fixed = 0;
  for (int i = 0; i < 1000; i++) fixed += a[i] == i;
  assert_true(fixed < 10);
  assert_int_equal(suri_data_num_batches(10, 3, 0), 4);
  assert_int_equal(suri_data_num_batches(10, 3, 1), 3);
  assert_int_equal(suri_data_num_batches(9, 3, 0), 3);
  assert_int_equal(suri_data_num_batches(9, 3, 1), 3);
  assert_int_equal(suri_data_num_batches(2, 3, 1), 0);
  assert_int_equal(suri_data_num_batches(10, 0, 0), 0);
  suri_dataset_free(d);
}

static void test_gather(void **state) {
  (void)state;
  suri_dataset *d = load_ok("gauss:n=20,d=3,classes=4");
  suri_dataset *t = load_ok("teacher:n=20,d=3,out=2,width=5");
  int64_t idx[3] = {7, 0, 19};
  suri_real xb[9], tb[6];
  int32_t yb[3] = {-1, -1, -1};
  suri_data_gather(d, idx, 3, xb, yb, tb); /* tb ignored: d has no targets */
  for (int i = 0; i < 3; i++) {
    assert_memory_equal(xb + i * 3, d->x + idx[i] * 3, 3 * sizeof(suri_real));
    assert_int_equal(yb[i], d->y[idx[i]]);
  }
  suri_data_gather(t, idx, 3, xb, NULL, tb);
  for (int i = 0; i < 3; i++)
    assert_memory_equal(tb + i * 2, t->t + idx[i] * 2, 2 * sizeof(suri_real));
  suri_dataset_free(d);
  suri_dataset_free(t);
}

static void test_info(void **state) {
  (void)state;
  use_bundled_data();
  suri_dataset *d = load_ok("mnist10k");
  char buf[1024];
  assert_int_equal(suri_dataset_info(d, buf, sizeof buf), SURI_OK);
  const char *parts[] = {"mnist10k:train", "8000 samples", "784 features", "28x28", "10 classes",
                         "0:801", "9:782", "x in [0, 1]", "norm=scale"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (!strstr(buf, parts[i])) fail_msg("info \"%s\" lacks \"%s\"", buf, parts[i]);
  tu_expect_status(suri_dataset_info(d, buf, 20), SURI_ERR_ARG, "too small");
  assert_int_equal(strlen(buf), 19);
  suri_dataset_free(d);
  d = load_ok("teacher:n=5,out=2");
  assert_int_equal(suri_dataset_info(d, buf, sizeof buf), SURI_OK);
  assert_non_null(strstr(buf, "2 regression targets"));
  suri_dataset_free(d);
}

/* ---- files -------------------------------------------------------------------------------- */

static char spec_buf[8192];
static const char *spec(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(spec_buf, sizeof spec_buf, fmt, ap);
  va_end(ap);
  return spec_buf;
}

static void write_npy(const char *path, suri_dtype t, int rank, const int64_t *dim, const void *p) {
  if (suri_npy_write(path, t, rank, dim, p) != SURI_OK)
    fail_msg("npy write: %s", suri_last_error());
}

static void test_npy(void **state) {
  (void)state;
  const char *dir = tu_tmpdir();
  char xf[4096], yf[4096], tf[4096], uf[4096];
  snprintf(xf, sizeof xf, "%s", tu_join(dir, "x.npy"));
  snprintf(yf, sizeof yf, "%s", tu_join(dir, "y.npy"));
  snprintf(tf, sizeof tf, "%s", tu_join(dir, "t.npy"));
  snprintf(uf, sizeof uf, "%s", tu_join(dir, "u.npy"));
  float x[4 * 2 * 3];
  for (int i = 0; i < 24; i++) x[i] = (float)i * 0.5f - 3;
  int64_t y[4] = {2, 0, 1, 2};
  double t[4 * 2] = {0.5, -1, 2, 3, 4, 5, 6, 7};
  uint8_t u[4 * 5] = {0, 255, 51, 17, 1};
  write_npy(xf, SURI_DT_F32, 3, (int64_t[]){4, 2, 3}, x);
  write_npy(yf, SURI_DT_I64, 1, (int64_t[]){4}, y);
  write_npy(tf, SURI_DT_F64, 2, (int64_t[]){4, 2}, t);
  write_npy(uf, SURI_DT_U8, 2, (int64_t[]){4, 5}, u);
  suri_dataset *d = load_ok(spec("npy:%s,%s", xf, yf));
  assert_int_equal(d->n, 4);
  assert_int_equal(d->dim, 6);
  assert_int_equal(d->img_h, 2);
  assert_int_equal(d->img_w, 3);
  assert_int_equal(d->classes, 3);
  assert_int_equal(d->norm, SURI_DATA_NORM_NONE); /* f4 source: no default scaling */
  for (int i = 0; i < 24; i++) assert_true(d->x[i] == x[i]);
  for (int i = 0; i < 4; i++) assert_int_equal(d->y[i], y[i]);
  suri_dataset_free(d);
  d = load_ok(spec("npy:%s,%s", xf, tf)); /* float Y (N, K): regression */
  assert_int_equal(d->targets, 2);
  assert_int_equal(d->classes, 0);
  assert_true(d->t[1] == -1 && d->t[7] == 7);
  suri_dataset_free(d);
  d = load_ok(spec("npy:%s,limit=2", uf)); /* u8, unlabelled: scaled by default */
  assert_int_equal(d->n, 2);
  assert_int_equal(d->norm, SURI_DATA_NORM_SCALE);
  assert_true(d->x[1] == 1 && d->x[2] == (suri_real)(51.0 / 255.0));
  assert_null(d->y);
  suri_dataset_free(d);
  expect_load_fail(spec("npy:%s,%s,norm=scale", xf, yf), SURI_ERR_ARG, "u8");
  /* N of X and Y differ */
  int64_t y3[3] = {0, 1, 0};
  write_npy(yf, SURI_DT_I64, 1, (int64_t[]){3}, y3);
  expect_load_fail(spec("npy:%s,%s", xf, yf), SURI_ERR_FORMAT, "holds 4 samples but");
  /* negative label, label beyond 2^31 - 1, one-hot labels */
  int64_t yneg[4] = {0, 1, -1, 0}, ybig[4] = {0, 3000000000LL, 1, 0};
  write_npy(yf, SURI_DT_I64, 1, (int64_t[]){4}, yneg);
  expect_load_fail(spec("npy:%s,%s", xf, yf), SURI_ERR_FORMAT, "row 2 is negative");
  write_npy(yf, SURI_DT_I64, 1, (int64_t[]){4}, ybig);
  expect_load_fail(spec("npy:%s,%s", xf, yf), SURI_ERR_FORMAT, "exceeds 2^31");
  int32_t onehot[8] = {1, 0, 0, 1, 1, 0, 0, 1};
  write_npy(yf, SURI_DT_I32, 2, (int64_t[]){4, 2}, onehot);
  expect_load_fail(spec("npy:%s,%s", xf, yf), SURI_ERR_FORMAT, "(N) or (N, 1)");
  /* NaN / Inf features name row and column (column in the flattened (N, D) view) */
  x[2 * 6 + 4] = NAN;
  write_npy(xf, SURI_DT_F32, 3, (int64_t[]){4, 2, 3}, x);
  expect_load_fail(spec("npy:%s", xf), SURI_ERR_FORMAT, "row 2, column 4");
  x[2 * 6 + 4] = 0;
  x[3 * 6 + 0] = INFINITY;
  write_npy(xf, SURI_DT_F32, 3, (int64_t[]){4, 2, 3}, x);
  expect_load_fail(spec("npy:%s", xf), SURI_ERR_FORMAT, "row 3, column 0");
  /* zero samples, missing file, a file that is not NPY */
  write_npy(xf, SURI_DT_F32, 2, (int64_t[]){0, 3}, x);
  expect_load_fail(spec("npy:%s", xf), SURI_ERR_FORMAT, "zero samples");
  expect_load_fail(spec("npy:%s/nope.npy", dir), SURI_ERR_IO, "nope.npy");
  tu_write(xf, "not numpy at all", 16);
  expect_load_fail(spec("npy:%s", xf), SURI_ERR_FORMAT, "x.npy");
  unlink(xf);
  unlink(yf);
  unlink(tf);
  unlink(uf);
  rmdir(dir);
}

static void write_idx(const char *path, suri_dtype t, int rank, const int64_t *dim, const void *p,
                      int gz) {
  if (suri_idx_write(path, t, rank, dim, p, gz) != SURI_OK)
    fail_msg("idx write: %s", suri_last_error());
}

static void test_idx(void **state) {
  (void)state;
  const char *dir = tu_tmpdir();
  char xf[4096], yf[4096];
  snprintf(xf, sizeof xf, "%s", tu_join(dir, "img.idx.gz"));
  snprintf(yf, sizeof yf, "%s", tu_join(dir, "lab.idx"));
  uint8_t img[5 * 2 * 2];
  for (int i = 0; i < 20; i++) img[i] = (uint8_t)(i * 13);
  uint8_t lab[5] = {1, 0, 4, 1, 2};
  write_idx(xf, SURI_DT_U8, 3, (int64_t[]){5, 2, 2}, img, 1);
  write_idx(yf, SURI_DT_U8, 1, (int64_t[]){5}, lab, 0);
  suri_dataset *d = load_ok(spec("idx:%s,%s", xf, yf));
  assert_int_equal(d->n, 5);
  assert_int_equal(d->dim, 4);
  assert_int_equal(d->img_h, 2);
  assert_int_equal(d->classes, 5);
  assert_int_equal(d->norm, SURI_DATA_NORM_SCALE);
  for (int i = 0; i < 20; i++) assert_true(d->x[i] == (suri_real)(img[i] / 255.0));
  suri_dataset_free(d);
  d = load_ok(spec("idx:%s,%s,norm=none,limit=3", xf, yf));
  assert_int_equal(d->n, 3);
  assert_true(d->x[19 - 8] == img[11]);
  suri_dataset_free(d);
  /* labels that are not integers (an f32 IDX), count mismatch, truncated file */
  float flab[5] = {1, 0, 2.5f, 1, 2};
  write_idx(yf, SURI_DT_F32, 1, (int64_t[]){5}, flab, 0);
  expect_load_fail(spec("idx:%s,%s", xf, yf), SURI_ERR_FORMAT, "not an integer");
  write_idx(yf, SURI_DT_U8, 1, (int64_t[]){4}, lab, 0);
  expect_load_fail(spec("idx:%s,%s", xf, yf), SURI_ERR_FORMAT, "holds 5 samples but");
  const uint8_t trunc[8] = {0, 0, 8, 1, 0, 0, 0, 9};
  tu_write(yf, trunc, sizeof trunc);
  expect_load_fail(spec("idx:%s,%s", xf, yf), SURI_ERR_FORMAT, "lab.idx");
  unlink(xf);
  unlink(yf);
  rmdir(dir);
}

static void test_csv(void **state) {
  (void)state;
  const char *dir = tu_tmpdir();
  char f[4096], g[4096];
  snprintf(f, sizeof f, "%s", tu_join(dir, "t.csv"));
  snprintf(g, sizeof g, "%s", tu_join(dir, "s.csv"));
  const char *text = "a,b,kind\n1.5,2,1\n-3,4e1,0\n5,6,2\n";
  tu_write(f, text, strlen(text));
  suri_dataset *d = load_ok(spec("csv:%s", f)); /* default label: last column */
  assert_int_equal(d->n, 3);
  assert_int_equal(d->dim, 2);
  assert_int_equal(d->classes, 3);
  assert_true(d->x[0] == 1.5 && d->x[3] == 40);
  assert_int_equal(d->y[2], 2);
  suri_dataset_free(d);
  d = load_ok(spec("csv:%s,label=kind", f));
  assert_int_equal(d->y[0], 1);
  suri_dataset_free(d);
  d = load_ok(spec("csv:%s,label=1", f)); /* label from the middle column: features a, kind */
  assert_int_equal(d->y[1], 40);
  assert_true(d->x[1] == 1 && d->x[2] == -3 && d->x[3] == 0);
  suri_dataset_free(d);
  d = load_ok(spec("csv:%s,target=a", f));
  assert_int_equal(d->targets, 1);
  assert_null(d->y);
  assert_true(d->t[1] == -3 && d->x[0] == 2);
  suri_dataset_free(d);
  d = load_ok(spec("csv:%s,label=none", f));
  assert_int_equal(d->dim, 3);
  assert_null(d->y);
  suri_dataset_free(d);
  const char *semi = "1;2;0\n3;4;1\n";
  tu_write(g, semi, strlen(semi));
  d = load_ok(spec("csv:%s,delim=;,header=0", g));
  assert_int_equal(d->n, 2);
  assert_int_equal(d->y[1], 1);
  suri_dataset_free(d);
  expect_load_fail(spec("csv:%s,delim=;,label=a", g), SURI_ERR_ARG, "no header row");
  expect_load_fail(spec("csv:%s,label=zz", f), SURI_ERR_ARG, "columns: a, b, kind");
  expect_load_fail(spec("csv:%s,label=3", f), SURI_ERR_ARG, "out of range");
  expect_load_fail(spec("csv:%s,label=a,target=b", f), SURI_ERR_ARG, "not both");
  expect_load_fail(spec("csv:%s,delim=ab", f), SURI_ERR_ARG, "delim=ab");
  expect_load_fail(spec("csv:%s,header=2", f), SURI_ERR_ARG, "header=2");
  /* non-integer labels, labels too large, NaN features */
  const char *bad1 = "x,y\n1,0.5\n", *bad2 = "x,y\n1,4294967296\n", *bad3 = "x,y\n1,0\nnan,1\n";
  tu_write(g, bad1, strlen(bad1));
  expect_load_fail(spec("csv:%s", g), SURI_ERR_FORMAT, "not an integer");
  tu_write(g, bad2, strlen(bad2));
  expect_load_fail(spec("csv:%s", g), SURI_ERR_FORMAT, "exceeds 2^31");
  tu_write(g, bad3, strlen(bad3));
  expect_load_fail(spec("csv:%s", g), SURI_ERR_FORMAT, "row 1, column 0");
  const char *one = "1\n2\n";
  tu_write(g, one, strlen(one));
  expect_load_fail(spec("csv:%s", g), SURI_ERR_FORMAT, "single column");
  expect_load_fail(spec("csv:%s/missing.csv", dir), SURI_ERR_IO, "missing.csv");
  unlink(f);
  unlink(g);
  rmdir(dir);
}

/* A pair written by numpy itself (tests/fixtures/data/README.md), not by suri's writer. */
static void test_numpy_fixture(void **state) {
  (void)state;
  char x[4096];
  snprintf(x, sizeof x, "%s", tu_src_path("tests/fixtures/data/reg_x.npy"));
  suri_dataset *d = load_ok(spec("npy:%s,%s", x, tu_src_path("tests/fixtures/data/reg_y.npy")));
  assert_int_equal(d->n, 4);
  assert_int_equal(d->dim, 3);
  assert_int_equal(d->targets, 2);
  for (int i = 0; i < 12; i++) assert_true(d->x[i] == (suri_real)(i * 0.25 - 1));
  for (int i = 0; i < 8; i++) assert_true(d->t[i] == (suri_real)(i - 3.5f));
  suri_dataset_free(d);
}

/* ---- bad specs ---------------------------------------------------------------------------- */

static void test_bad_specs(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    suri_status st;
    const char *fragment;
  } cases[] = {
      {"", SURI_ERR_ARG, "empty"},
      {"foo:bar", SURI_ERR_ARG, "unknown kind 'foo' (known kinds: mnist10k, idx, npy, csv, gauss"},
      {"mnist10k:valid", SURI_ERR_ARG, "split 'valid'"},
      {"mnist10k:test:x", SURI_ERR_ARG, "split 'test:x'"},
      {"mnist10k,limit=0", SURI_ERR_ARG, "limit=0 must be >= 1"},
      {"mnist10k,limit=1x", SURI_ERR_ARG, "not an integer"},
      {"mnist10k,norm=zscore", SURI_ERR_ARG, "norm=zscore unknown (none, scale, standard)"},
      {"mnist10k,colour=red", SURI_ERR_ARG, "unknown option 'colour'"},
      {"gauss:n=abc", SURI_ERR_ARG, "n=abc is not an integer"},
      {"gauss:n=0", SURI_ERR_ARG, "n=0 must lie in [1,"},
      {"gauss:d=-2", SURI_ERR_ARG, "d=-2"},
      {"gauss:classes=0", SURI_ERR_ARG, "classes=0"},
      {"gauss:sep=-1", SURI_ERR_ARG, "sep=-1"},
      {"gauss:sep=nan", SURI_ERR_ARG, "sep=nan is not a finite number"},
      {"gauss:seed=-1", SURI_ERR_ARG, "seed=-1"},
      {"gauss:n=5,n=6", SURI_ERR_ARG, "'n' is given twice"},
      {"gauss:n=5,,d=2", SURI_ERR_ARG, "part 2 is empty"},
      {"gauss:split=val", SURI_ERR_ARG, "split=val"},
      {"gauss:width=3", SURI_ERR_ARG, "unknown option 'width' for gauss (known: n, d, classes"},
      {"gauss:n=10,norm=scale", SURI_ERR_ARG, "norm=scale"},
      {"gauss:n=100000,d=100000", SURI_ERR_NOMEM, "exceed"},
      {"gauss:oops", SURI_ERR_ARG, "unexpected argument 'oops'"},
      {"teacher:act=swish", SURI_ERR_ARG, "act=swish unknown"},
      {"teacher:noise=-0.1", SURI_ERR_ARG, "noise=-0.1"},
      {"teacher:out=0", SURI_ERR_ARG, "out=0"},
      {"teacher:width=65536,d=65536", SURI_ERR_ARG, "too large"},
      {"npy", SURI_ERR_ARG, "missing file name (usage: npy:X.npy[,Y.npy])"},
      {"npy:a.npy,b.npy,c.npy", SURI_ERR_ARG, "unexpected argument 'c.npy'"},
      {"idx:", SURI_ERR_ARG, "part 1 is empty"},
      {"idx:/no/such/images.gz", SURI_ERR_IO, "/no/such/images.gz"},
      {"csv:x.csv,=3", SURI_ERR_ARG, "has no name"},
  };
  use_bundled_data();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_load_fail(cases[i].spec, cases[i].st, cases[i].fragment);
  suri_dataset *d = NULL;
  tu_expect_status(suri_data_load(NULL, &d), SURI_ERR_ARG, "empty");
  tu_expect_status(suri_data_load("gauss", NULL), SURI_ERR_ARG, "NULL");
  /* defaults documented in data.h */
  d = load_ok("gauss");
  assert_int_equal(d->n, 1000);
  assert_int_equal(d->dim, 10);
  assert_int_equal(d->classes, 2);
  suri_dataset_free(d);
  d = load_ok(" teacher : n = 7 , limit=3 ");
  assert_int_equal(d->n, 3);
  assert_int_equal(d->dim, 10);
  assert_int_equal(d->targets, 1);
  suri_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mnist10k_splits),  cmocka_unit_test(test_mnist10k_disjoint),
      cmocka_unit_test(test_mnist10k_limit_and_dir), cmocka_unit_test(test_gauss_determinism),
      cmocka_unit_test(test_gauss_model),      cmocka_unit_test(test_teacher_model),
      cmocka_unit_test(test_parity_model),
      cmocka_unit_test(test_standardize),      cmocka_unit_test(test_normalize_like),
      cmocka_unit_test(test_epoch_order),      cmocka_unit_test(test_gather),
      cmocka_unit_test(test_info),             cmocka_unit_test(test_npy),
      cmocka_unit_test(test_idx),              cmocka_unit_test(test_csv),
      cmocka_unit_test(test_numpy_fixture),    cmocka_unit_test(test_bad_specs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
