/* mfld.c - speed of one mean-field Langevin step of suri (src/mfld) on synthetic data, and of the
 * two GEMMs of that step alone, for bench/mfld.sh (which runs it alternately with the PyTorch
 * peer bench/peers/torch_mfld.py).
 *
 * One step with M particles in dimension d (bias coordinate and output weight: p = d + 2) on a
 * minibatch of B rows: U = X W^T (B x M x d), tanh, f, residuals, D = r a (1 - s^2), the a / b
 * sums, the w drift D^T X (M x d x B) accumulated into the particles, decay and N(0, 1) noise on
 * all M p coordinates. FLOPs counted: the two GEMMs, 4 B M d.
 * "GEMM-only" = median time of the pair cblas_sgemm(X W^T) + cblas_sgemm(D^T X) with OpenBLAS
 * using all --threads threads (the machine's sgemm speed on exactly these shapes); fraction =
 * GEMM-only time / measured step time (1.0 = nothing but the GEMMs, at full sgemm speed).
 *
 * Build (bench/mfld.sh does this):
 *   cc -O2 -fopenmp bench/mfld.c -Iinclude BUILD/libsuri.a $(pkg-config --libs openblas lapacke
 *      libcjson zlib) -lm -o BUILD/bench-mfld
 * Usage: bench-mfld [--M 4096] [--d 512] [--batch 1024] [--steps 20] [--warmup 3] [--threads 1]
 * Prints one JSON object; also the process CPU time per step (the 1-thread rows of the summary
 * use it too, since on a shared machine it leaves out the time other processes held the core). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "suri/mfld.h"

#define POOL 8

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process: on a shared machine the 1-thread numbers are also reported in
 * CPU time, which does not count the time other processes held the core. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what) {
  fprintf(stderr, "bench-mfld: %s: %s\n", what, suri_last_error());
  exit(1);
}

/* Median time of the step's two GEMMs with plain multi-threaded OpenBLAS sgemm (wall; *cpu:
 * median process CPU time). */
static double gemm_pair_s(int64_t M, int64_t d, int64_t B, int threads, int reps, double *cpu) {
  float *X = malloc(sizeof(float) * (size_t)(B * d)), *W = malloc(sizeof(float) * (size_t)(M * d));
  float *Z = malloc(sizeof(float) * (size_t)(B * M)), *G = malloc(sizeof(float) * (size_t)(M * d));
  if (!X || !W || !Z || !G) exit(1);
  for (int64_t i = 0; i < B * d; i++) X[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (int64_t i = 0; i < M * d; i++) W[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  openblas_set_num_threads(threads);
  double *t = malloc(sizeof(double) * (size_t)reps), *tc = malloc(sizeof(double) * (size_t)reps);
  for (int r = -2; r < reps; r++) {
    double t0 = now(), c0 = cpu_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)M, (int)d, 1, X, (int)d, W,
                (int)d, 0, Z, (int)M);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)M, (int)d, (int)B, -0.1f, Z, (int)M,
                X, (int)d, 0.99f, G, (int)d);
    if (r >= 0) t[r] = now() - t0, tc[r] = cpu_now() - c0;
  }
  double m = median(t, reps);
  *cpu = median(tc, reps);
  free(X), free(W), free(Z), free(G), free(t), free(tc);
  return m;
}

int main(int argc, char **argv) {
  int64_t M = 4096, d = 512, B = 1024;
  int steps = 20, warmup = 3, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--M"))
      M = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--d"))
      d = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch"))
      B = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--steps"))
      steps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup"))
      warmup = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads"))
      threads = atoi(argv[i + 1]);
    else
      return fprintf(stderr, "bench-mfld: unknown option %s\n", argv[i]), 2;
  }
  if (M < 1 || d < 1 || B < 1 || steps < 1 || warmup < 0 || threads < 1) return 2;
  if (suri_set_threads(threads)) die("threads");
  suri_dataset *ds = NULL;
  if (suri_dataset_new(POOL * B, d, 0, 1, "bench", &ds)) die("data");
  suri_rng r = suri_rng_make(1, SURI_RNG_DATA);
  suri_rng_fill_normal(&r, (size_t)(POOL * B * d), ds->x, 0, 1.0 / sqrt((double)d));
  suri_rng_fill_normal(&r, (size_t)(POOL * B), ds->t, 0, 1);
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)(POOL * B));
  for (int64_t i = 0; i < POOL * B; i++) idx[i] = i;
  suri_mfld_config c = suri_mfld_defaults();
  c.M = M, c.bias = 1, c.estimator = SURI_MFLD_MINIBATCH, c.batch = B, c.eta = 0.05, c.gap = 0;
  c.lambda1 = 1e-3, c.lambda2 = 1e-4, c.init_std = 1.0, c.chunk = B;
  suri_mfld *m = NULL;
  if (suri_mfld_new(&c, d, &m)) die("new");
  double *t = malloc(sizeof(double) * (size_t)steps), *tc = malloc(sizeof(double) * (size_t)steps);
  for (int s = -warmup; s < steps; s++) {
    const int64_t *bi = idx + (int64_t)((s + warmup) % POOL) * B;
    double t0 = now(), c0 = cpu_now();
    if (suri_mfld_step(m, ds, bi, B, c.lambda2)) die("step");
    if (s >= 0) t[s] = now() - t0, tc[s] = cpu_now() - c0;
  }
  double step_s = median(t, steps), step_cpu = median(tc, steps), total = 0, gemm_cpu;
  for (int s = 0; s < steps; s++) total += t[s];
  double gemm_s = gemm_pair_s(M, d, B, threads, steps > 5 ? steps : 5, &gemm_cpu);
  double flops = 4.0 * (double)B * (double)M * (double)d;
  printf(
      "{\"side\":\"suri\",\"M\":%lld,\"d\":%lld,\"batch\":%lld,\"threads\":%d,\"steps\":%d,"
      "\"ms_per_step\":%.4f,\"mean_ms_per_step\":%.4f,\"updates_per_s\":%.1f,\"gflops\":%.2f,"
      "\"gemm_ms\":%.4f,\"sgemm_peak_gflops\":%.2f,\"fraction\":%.4f,\"cpu_ms_per_step\":%.4f,"
      "\"gemm_cpu_ms\":%.4f,\"fraction_cpu\":%.4f,\"blas\":\"%s\"}\n",
      (long long)M, (long long)d, (long long)B, threads, steps, 1e3 * step_s, 1e3 * total / steps,
      (double)M / step_s, flops / step_s / 1e9, 1e3 * gemm_s, flops / gemm_s / 1e9, gemm_s / step_s,
      1e3 * step_cpu, 1e3 * gemm_cpu, gemm_cpu / step_cpu, suri_blas_info());
  suri_mfld_free(m);
  suri_dataset_free(ds);
  free(idx), free(t), free(tc);
  return 0;
}
