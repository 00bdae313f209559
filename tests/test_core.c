/* test_core.c - core services (include/suri/core.h, linalg.h): status names and error messages,
 * aligned allocation with overflow refusal, the scratch arena's mark/rewind, the Philox streams
 * (determinism, independence from draw order, uniform and normal moments, unbiased permutations),
 * the thread setting, and the BLAS/LAPACK wrappers against their naive reference kernels. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/linalg.h"
#include "testutil.h"

static void test_status_and_errors(void **state) {
  (void)state;
  for (int s = SURI_OK; s <= SURI_ERR_INTERRUPTED; s++) {
    const char *n = suri_status_name((suri_status)s);
    assert_non_null(n);
    assert_true(strlen(n) > 1);
    assert_string_not_equal(n, "unknown status");
  }
  assert_string_equal(suri_status_name((suri_status)999), "unknown status");
  assert_int_equal(suri_fail(SURI_ERR_FORMAT, "file %s at byte %d", "x.npy", 12), SURI_ERR_FORMAT);
  assert_string_equal(suri_last_error(), "file x.npy at byte 12");
  suri_clear_error();
  assert_string_equal(suri_last_error(), "");
}

static void test_alloc(void **state) {
  (void)state;
  for (size_t n = 0; n < 300; n += 37) {
    unsigned char *p = suri_alloc(n);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % SURI_ALIGN, 0);
    memset(p, 1, n);
    suri_free(p);
  }
  unsigned char *z = suri_calloc(100, 3);
  for (int i = 0; i < 300; i++) assert_int_equal(z[i], 0);
  suri_free(z);
  assert_null(suri_calloc(SIZE_MAX / 2, 4));
  assert_non_null(strstr(suri_last_error(), "overflows"));
  assert_null(suri_alloc(SIZE_MAX - 3));
  size_t out;
  assert_int_equal(suri_mul_size(SIZE_MAX / 2 + 1, 2, &out), -1);
  assert_int_equal(suri_mul_size(1000, 1000, &out), 0);
  assert_int_equal(out, 1000000);
  suri_free(NULL);
}

static void test_arena(void **state) {
  (void)state;
  suri_arena *a = suri_arena_new(1024);
  assert_non_null(a);
  void *p = suri_arena_take(a, 10);
  assert_non_null(p);
  assert_int_equal((uintptr_t)p % SURI_ALIGN, 0);
  size_t mark = suri_arena_mark(a);
  void *q = suri_arena_take(a, 100);
  assert_non_null(q);
  assert_int_equal((uintptr_t)q % SURI_ALIGN, 0);
  assert_true((char *)q >= (char *)p + 10);
  suri_arena_rewind(a, mark);
  assert_ptr_equal(suri_arena_take(a, 100), q); /* rewinding reuses the same memory */
  assert_null(suri_arena_take(a, 2000));
  assert_non_null(strstr(suri_last_error(), "arena exhausted"));
  assert_true(suri_arena_used(a) <= suri_arena_capacity(a));
  suri_arena_free(a);
  suri_arena_free(NULL);
}

static void test_rng_determinism(void **state) {
  (void)state;
  suri_rng a = suri_rng_make(42, SURI_RNG_INIT), b = suri_rng_make(42, SURI_RNG_INIT);
  suri_rng c = suri_rng_make(43, SURI_RNG_INIT), d = suri_rng_make(42, SURI_RNG_SHUFFLE);
  int diff_seed = 0, diff_purpose = 0;
  for (int i = 0; i < 100; i++) {
    uint32_t x = suri_rng_u32(&a);
    assert_int_equal(x, suri_rng_u32(&b));
    diff_seed += x != suri_rng_u32(&c);
    diff_purpose += x != suri_rng_u32(&d);
  }
  assert_true(diff_seed > 95 && diff_purpose > 95);
  /* Value k depends only on the counter: drawing it directly equals drawing it sequentially. */
  suri_rng s = suri_rng_make(7, SURI_RNG_DROPOUT);
  double seq[50];
  for (int i = 0; i < 50; i++) seq[i] = suri_rng_uniform(&s);
  for (int i = 49; i >= 0; i--) assert_true(suri_rng_uniform_at(&s, (uint64_t)i) == seq[i]);
  assert_int_equal(s.counter, 50);
}

static void test_rng_distributions(void **state) {
  (void)state;
  suri_rng r = suri_rng_make(1, SURI_RNG_DATA);
  enum { N = 200000 };
  double su = 0, su2 = 0, mn = 1, mx = 0;
  for (int i = 0; i < N; i++) {
    double u = suri_rng_uniform(&r);
    su += u, su2 += u * u;
    mn = u < mn ? u : mn, mx = u > mx ? u : mx;
  }
  assert_true(mn > 0 && mx < 1);
  /* Mean 1/2 with sd sqrt(1/12/N) = 6.5e-4; 5 sd. */
  assert_true(fabs(su / N - 0.5) < 5 * sqrt(1.0 / 12 / N));
  assert_true(fabs(su2 / N - 1.0 / 3) < 5e-3);
  suri_real *z = malloc(N * sizeof *z);
  suri_rng_fill_normal(&r, N, z, 2.0, 3.0);
  double m = 0, v = 0, k4 = 0;
  for (int i = 0; i < N; i++) m += z[i];
  m /= N;
  for (int i = 0; i < N; i++) {
    double e = (z[i] - m) / 3.0;
    v += e * e, k4 += e * e * e * e;
  }
  v /= N, k4 /= N;
  /* Mean: sd 3/sqrt(N) = 0.0067; variance of z/3: sd sqrt(2/N) = 0.0032; kurtosis 3: sd
   * sqrt(96/N) = 0.022. All at 5 sd. */
  assert_true(fabs(m - 2.0) < 5 * 3 / sqrt(N));
  assert_true(fabs(v - 1.0) < 5 * sqrt(2.0 / N));
  assert_true(fabs(k4 - 3.0) < 5 * sqrt(96.0 / N));
  free(z);
}

static void test_rng_below_and_permutation(void **state) {
  (void)state;
  suri_rng r = suri_rng_make(3, SURI_RNG_SHUFFLE);
  int counts[3][3] = {{0}};
  enum { T = 30000 };
  int64_t idx[3];
  for (int t = 0; t < T; t++) {
    suri_rng_permutation(&r, 3, idx);
    int seen = 0;
    for (int i = 0; i < 3; i++) {
      assert_true(idx[i] >= 0 && idx[i] < 3);
      seen |= 1 << idx[i];
      counts[i][idx[i]]++;
    }
    assert_int_equal(seen, 7);
  }
  /* Each position holds each value with probability 1/3: sd sqrt(T * 2/9) = 81; 5 sd. */
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) assert_true(abs(counts[i][j] - T / 3) < 5 * 82);
  for (int i = 0; i < 1000; i++) assert_true(suri_rng_below(&r, 7) < 7);
}

static void test_threads(void **state) {
  (void)state;
  assert_int_equal(suri_set_threads(1), SURI_OK);
  assert_int_equal(suri_get_threads(), 1);
  assert_int_equal(suri_set_threads(0), SURI_OK);
  assert_true(suri_get_threads() >= 1);
  tu_expect_status(suri_set_threads(-1), SURI_ERR_ARG, "thread count");
  assert_non_null(suri_blas_info());
}

static void fill(suri_rng *r, size_t n, suri_real *x) { suri_rng_fill_normal(r, n, x, 0, 1); }

static void test_gemm_vs_reference(void **state) {
  (void)state;
  suri_rng r = suri_rng_make(5, SURI_RNG_PROBE);
  const int64_t M = 13, N = 7, K = 29;
  suri_real A[29 * 13], B[29 * 7], C1[13 * 7], C2[13 * 7];
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      fill(&r, (size_t)(M * K), A);
      fill(&r, (size_t)(K * N), B);
      fill(&r, (size_t)(M * N), C1);
      memcpy(C2, C1, sizeof C1);
      int64_t lda = ta ? M : K, ldb = tb ? K : N;
      suri_gemm(ta, tb, M, N, K, (suri_real)0.7, A, lda, B, ldb, (suri_real)0.3, C1, N);
      suri_gemm_ref(ta, tb, M, N, K, (suri_real)0.7, A, lda, B, ldb, (suri_real)0.3, C2, N);
      /* K = 29 products of N(0,1) values: |C| ~ 5; float rounding of a 29-term sum stays
       * below ~1e-5 absolute; double below 1e-12. */
      double tol = sizeof(suri_real) == 4 ? 1e-4 : 1e-12;
      for (int i = 0; i < M * N; i++)
        if (!tu_close(C1[i], C2[i], tol, tol)) fail_msg("gemm ta=%d tb=%d [%d]: %g vs %g", ta, tb, i, (double)C1[i], (double)C2[i]);
    }
  double dA[6 * 4], dB[4 * 5], dC1[6 * 5] = {0}, dC2[6 * 5] = {0};
  for (int i = 0; i < 24; i++) dA[i] = suri_rng_normal(&r);
  for (int i = 0; i < 20; i++) dB[i] = suri_rng_normal(&r);
  suri_dgemm(0, 0, 6, 5, 4, 1.0, dA, 4, dB, 5, 0.0, dC1, 5);
  suri_dgemm_ref(0, 0, 6, 5, 4, 1.0, dA, 4, dB, 5, 0.0, dC2, 5);
  for (int i = 0; i < 30; i++) assert_true(tu_close(dC1[i], dC2[i], 1e-13, 1e-13));
  suri_real x[3] = {1, 2, 3}, y[3] = {4, -5, 6};
  assert_true(suri_dot(3, x, y) == 12.0);
}

static void test_syev_vs_reference(void **state) {
  (void)state;
  enum { n = 12 };
  suri_rng r = suri_rng_make(9, SURI_RNG_PROBE);
  double S[n * n], A[n * n], B[n * n], w1[n], w2[n];
  for (int i = 0; i < n * n; i++) S[i] = suri_rng_normal(&r);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) A[i * n + j] = S[i * n + j] + S[j * n + i];
  memcpy(B, A, sizeof A);
  double A0[n * n];
  memcpy(A0, A, sizeof A);
  assert_int_equal(suri_syev(n, A, w1, 1), SURI_OK);
  assert_int_equal(suri_syev_ref(n, B, w2), SURI_OK);
  for (int i = 0; i < n; i++) {
    if (i) assert_true(w1[i] >= w1[i - 1]);
    assert_true(tu_close(w1[i], w2[i], 1e-10, 1e-10));
  }
  /* Eigenvectors (columns of A): A0 v = w v. */
  for (int k = 0; k < n; k++)
    for (int i = 0; i < n; i++) {
      double s = 0;
      for (int j = 0; j < n; j++) s += A0[i * n + j] * A[j * n + k];
      assert_true(fabs(s - w1[k] * A[i * n + k]) < 1e-10);
    }
  tu_expect_status(suri_syev(0, A, w1, 0), SURI_ERR_ARG, "positive");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_and_errors),
      cmocka_unit_test(test_alloc),
      cmocka_unit_test(test_arena),
      cmocka_unit_test(test_rng_determinism),
      cmocka_unit_test(test_rng_distributions),
      cmocka_unit_test(test_rng_below_and_permutation),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_gemm_vs_reference),
      cmocka_unit_test(test_syev_vs_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
