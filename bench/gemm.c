/* gemm.c - OpenBLAS sgemm speed on the GEMM shapes of one MLP training step, to tell how close
 * a training configuration comes to what the BLAS alone can do.
 *
 * For a dense layer y = x W^T + b with x: (B, IN), W: (OUT, IN), y: (B, OUT), a training step
 * runs three GEMMs (2 flops per multiply-add):
 *   forward   Y  = X  W^T    M = B,   N = OUT, K = IN    (NoTrans, Trans)    2 B IN OUT flops
 *   backward  dX = dY W      M = B,   N = IN,  K = OUT   (NoTrans, NoTrans)  2 B IN OUT flops
 *   weights   dW = dY^T X    M = OUT, N = IN,  K = B     (Trans, NoTrans)    2 B IN OUT flops
 * dX of the first layer is not needed (the data carries no gradient; PyTorch skips it), so it
 * is left out unless --first-dx is given. With --infer only the forward GEMMs are run (an
 * inference pass). All GEMMs use beta = 0. A GEMM with one row (batch 1) runs as sgemv unless
 * the kernel set has a small-matrix GEMM path, the choice suri makes (src/core/linalg.c).
 * A forward product can also run with its operands swapped, Y^T = W X^T (M = OUT, N = B),
 * which OpenBLAS does faster for some shapes (src/ops/dense_swap.h); each forward product is
 * timed both ways on its own and the faster order is the one used in the step ("order" in the
 * output), so the bound is the fastest way the BLAS computes these products. The transpose
 * the swapped order needs is not a GEMM and is not counted.
 *
 * Measured: the whole sequence of a step's GEMMs in order (the same order and cache traffic as a
 * real step, minus everything that is not a GEMM), repeated --reps times after --warmup
 * untimed repetitions (and at least 0.2 s of them); the median step time is reported, with the median time of each GEMM
 * measured on its own, and optionally a large square sgemm as the machine's sgemm peak.
 * The ratio "GEMM-only step time / real step time" is the fraction of the sgemm-bound speed a
 * training configuration reaches (bench/compare.sh prints it).
 *
 * Build (no CMake target needed):
 *   cc -O2 bench/gemm.c $(pkg-config --cflags --libs openblas) -o build/bench-gemm
 * or against BLIS (Debian libblis-openmp-dev; kernels chosen with BLIS_ARCH_TYPE, e.g. skx):
 *   cc -O2 -DBENCH_BLIS bench/gemm.c -I/usr/include/x86_64-linux-gnu/blis-openmp \
 *      -L/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -fopenmp -o build/bench-gemm-blis
 * Usage:
 *   bench-gemm --widths 784-512-512-10 --batch 128 [--threads 1] [--reps 50] [--warmup 5]
 *              [--peak 1024] [--first-dx] [--infer]
 * (--widths also accepts a suri model spec "mlp:784-512-512-10,act=relu"; options after the
 * widths are ignored.) Prints one JSON object on stdout. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#ifdef BENCH_BLIS
#include <blis.h>
#endif

#define MAX_LAYERS 32
#define MAX_GEMMS (3 * MAX_LAYERS + 1)

typedef struct gemm_shape {
  char name[16];
  enum CBLAS_TRANSPOSE ta, tb;
  int m, n, k;
  const float *a, *b; /* a: op(a) (M, K), b: op(b) (K, N), row-major */
  float *c;           /* c: (M, N) */
  int lda, ldb;
  double median_s;
  int swapped;        /* a forward product run as Y^T = W X^T */
} gemm_shape;

typedef struct options {
  int widths[MAX_LAYERS + 1], n_widths;
  int batch, threads, reps, warmup, peak, first_dx, infer;
} options;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A 64-byte aligned buffer of n floats filled with small deterministic values (never
 * denormal, never zero, so no kernel takes a shortcut). */
static float *buffer(size_t n) {
  size_t bytes = ((n * sizeof(float)) + 63) / 64 * 64;
  float *p = aligned_alloc(64, bytes ? bytes : 64);
  if (!p) {
    fprintf(stderr, "bench-gemm: cannot allocate %zu bytes\n", bytes);
    exit(1);
  }
  uint32_t s = 12345u;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)((double)(s >> 8) / 16777216.0 - 0.5) + 1e-3f;
  }
  return p;
}

static int small_gemm_path(void);

static void run(const gemm_shape *g) {
  if (g->m == 1 && g->ta == CblasNoTrans && !small_gemm_path()) {
    /* One row: the matrix-vector product, as suri runs it when the kernel set has no
     * small-matrix GEMM path (src/core/linalg.c). op(B) (K, N): c (N) = op(B)^T a, i.e.
     * B (N, K) times a when B is stored transposed. */
    if (g->tb == CblasTrans)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, g->n, g->k, 1.0f, g->b, g->ldb, g->a, 1, 0.0f,
                  g->c, 1);
    else
      cblas_sgemv(CblasRowMajor, CblasTrans, g->k, g->n, 1.0f, g->b, g->ldb, g->a, 1, 0.0f,
                  g->c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, g->a, g->lda, g->b, g->ldb,
              0.0f, g->c, g->n);
}

/* Name of the kernel set and the thread setting of the BLAS this program was built with. */
#ifdef BENCH_BLIS
static const char *blas_name(void) { return bli_arch_string(bli_arch_query_id()); }
static void blas_threads(int n) { bli_thread_set_num_threads(n); }
static int small_gemm_path(void) { return 0; }
#else
static const char *blas_name(void) { return openblas_get_corename(); }
static void blas_threads(int n) { openblas_set_num_threads(n); }
/* The kernel sets with a small-matrix GEMM path, as src/core/linalg.c decides. */
static int small_gemm_path(void) {
  const char *c = openblas_get_corename();
  return strstr(c, "SkylakeX") || strstr(c, "Cooperlake") || strstr(c, "SapphireRapids");
}
#endif

static gemm_shape shape(const char *name, int l, enum CBLAS_TRANSPOSE ta,
                        enum CBLAS_TRANSPOSE tb, int m, int n, int k, const float *a,
                        const float *b, float *c) {
  gemm_shape g;
  memset(&g, 0, sizeof g);
  snprintf(g.name, sizeof g.name, "%s%d", name, l);
  g.ta = ta, g.tb = tb, g.m = m, g.n = n, g.k = k, g.a = a, g.b = b, g.c = c;
  g.lda = ta == CblasNoTrans ? k : m; /* stored A is (M, K) or (K, M) */
  g.ldb = tb == CblasNoTrans ? n : k; /* stored B is (K, N) or (N, K) */
  return g;
}

/* The GEMMs of one training step in execution order: all forwards, then per layer from the
 * last: dW, dX. Buffers: h[l] (B, w[l]) activations, d[l] (B, w[l]) their gradients, t[l]
 * (w[l], B) the swapped forward output, W[l] (w[l], w[l-1]) and dW[l]. swapped[l - 1] gets
 * the swapped order of forward product l. Returns the count. */
static float *fwd_t[MAX_LAYERS + 1];
static int plan(const options *o, gemm_shape *g, gemm_shape *swapped, float **bufs, int *nbufs) {
  int L = o->n_widths - 1, B = o->batch, n = 0, nb = 0;
  float *h[MAX_LAYERS + 1], *d[MAX_LAYERS + 1], *W[MAX_LAYERS + 1], *dW[MAX_LAYERS + 1];
  for (int l = 0; l <= L; l++) {
    bufs[nb++] = h[l] = buffer((size_t)B * (size_t)o->widths[l]);
    bufs[nb++] = d[l] = buffer((size_t)B * (size_t)o->widths[l]);
    bufs[nb++] = fwd_t[l] = buffer((size_t)B * (size_t)o->widths[l]);
  }
  for (int l = 1; l <= L; l++) {
    size_t wn = (size_t)o->widths[l] * (size_t)o->widths[l - 1];
    bufs[nb++] = W[l] = buffer(wn);
    bufs[nb++] = dW[l] = buffer(wn);
  }
  for (int l = 1; l <= L; l++) { /* h[l] (B, out) = h[l-1] (B, in) W^T, or its transpose */
    g[n++] = shape("fwd", l, CblasNoTrans, CblasTrans, B, o->widths[l], o->widths[l - 1],
                   h[l - 1], W[l], h[l]);
    swapped[l - 1] = shape("fwd", l, CblasNoTrans, CblasTrans, o->widths[l], B,
                           o->widths[l - 1], W[l], h[l - 1], fwd_t[l]);
    swapped[l - 1].swapped = 1;
  }
  for (int l = L; l >= 1 && !o->infer; l--) {
    /* dW (out, in) = d[l]^T (out, B) h[l-1] (B, in) */
    g[n++] = shape("dW", l, CblasTrans, CblasNoTrans, o->widths[l], o->widths[l - 1], B, d[l],
                   h[l - 1], dW[l]);
    if (l > 1 || o->first_dx) /* d[l-1] (B, in) = d[l] (B, out) W (out, in) */
      g[n++] = shape("dX", l, CblasNoTrans, CblasNoTrans, B, o->widths[l - 1], o->widths[l],
                     d[l], W[l], d[l - 1]);
  }
  *nbufs = nb;
  return n;
}

static int parse_widths(const char *text, options *o) {
  const char *p = strncmp(text, "mlp:", 4) == 0 ? text + 4 : text;
  o->n_widths = 0;
  for (;;) {
    char *end;
    long w = strtol(p, &end, 10);
    if (end == p || w < 1 || w > 1000000 || o->n_widths > MAX_LAYERS) return -1;
    o->widths[o->n_widths++] = (int)w;
    if (*end == '-') p = end + 1;
    else if (*end == '\0' || *end == ',') break;
    else return -1;
  }
  return o->n_widths >= 2 ? 0 : -1;
}

static int parse_int(const char *flag, const char *v, int lo, int *out) {
  char *end;
  long x = strtol(v, &end, 10);
  if (end == v || *end || x < lo || x > 1 << 24) {
    fprintf(stderr, "bench-gemm: invalid value '%s' for %s (integer >= %d)\n", v, flag, lo);
    return -1;
  }
  *out = (int)x;
  return 0;
}

static int parse(int argc, char **argv, options *o) {
  *o = (options){.batch = 128, .threads = 1, .reps = 50, .warmup = 5, .peak = 1024};
  if (parse_widths("784-512-512-10", o)) return -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int rc = 0;
    if (!strcmp(a, "--first-dx") || !strcmp(a, "--infer")) {
      if (a[2] == 'f') o->first_dx = 1;
      else o->infer = 1;
      continue;
    }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      printf("usage: bench-gemm [--widths 784-512-512-10] [--batch 128] [--threads 1] "
             "[--reps 50] [--warmup 5] [--peak 1024 (0 = skip)] [--first-dx] [--infer]\n");
      exit(0);
    }
    if (!v) {
      fprintf(stderr, "bench-gemm: %s needs a value (or unknown flag)\n", a);
      return -1;
    }
    if (!strcmp(a, "--widths") || !strcmp(a, "--model")) {
      if (parse_widths(v, o)) {
        fprintf(stderr, "bench-gemm: invalid widths '%s' (e.g. 784-512-10)\n", v);
        return -1;
      }
    } else if (!strcmp(a, "--batch")) rc = parse_int(a, v, 1, &o->batch);
    else if (!strcmp(a, "--threads")) rc = parse_int(a, v, 1, &o->threads);
    else if (!strcmp(a, "--reps")) rc = parse_int(a, v, 1, &o->reps);
    else if (!strcmp(a, "--warmup")) rc = parse_int(a, v, 0, &o->warmup);
    else if (!strcmp(a, "--peak")) rc = parse_int(a, v, 0, &o->peak);
    else {
      fprintf(stderr, "bench-gemm: unknown flag '%s' (see --help)\n", a);
      return -1;
    }
    if (rc) return -1;
    i++;
  }
  return 0;
}

static double flops_of(const gemm_shape *g) { return 2.0 * g->m * (double)g->n * g->k; }

/* Median seconds of `reps` runs of gemms [lo, hi) in order, after at least `warmup` untimed
 * runs lasting at least warm_s seconds: on a virtual machine OpenBLAS's second thread runs
 * small GEMMs at a fraction of its speed for the first ~0.1 s (the idle vCPU wakes up slowly),
 * so a count of warm-up runs alone is not enough. */
static double time_gemms(const gemm_shape *g, int lo, int hi, int reps, int warmup, double warm_s,
                         double *t) {
  double w0 = now();
  for (int r = 0; r < warmup || now() - w0 < warm_s; r++)
    for (int i = lo; i < hi; i++) run(&g[i]);
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    for (int i = lo; i < hi; i++) run(&g[i]);
    t[r] = now() - t0;
  }
  return median(t, reps);
}

/* Square sgemm of size n: the machine's sgemm peak for this thread count. */
static double peak_gflops(int n, int reps) {
  float *a = buffer((size_t)n * (size_t)n), *b = buffer((size_t)n * (size_t)n);
  float *c = buffer((size_t)n * (size_t)n);
  gemm_shape g = shape("peak", 0, CblasNoTrans, CblasNoTrans, n, n, n, a, b, c);
  double *t = malloc((size_t)reps * sizeof *t);
  if (!t) exit(1);
  double s = time_gemms(&g, 0, 1, reps, 2, 0.1, t);
  free(t);
  free(a), free(b), free(c);
  return flops_of(&g) / s * 1e-9;
}

int main(int argc, char **argv) {
  options o;
  if (parse(argc, argv, &o)) return 2;
  blas_threads(o.threads);
  gemm_shape g[MAX_GEMMS], sw[MAX_LAYERS];
  float *bufs[5 * (MAX_LAYERS + 1)];
  int nb = 0, n = plan(&o, g, sw, bufs, &nb);
  double *t = malloc((size_t)o.reps * sizeof *t);
  if (!t) return 1;
  double step_flops = 0;
  for (int i = 0; i < n; i++) step_flops += flops_of(&g[i]);
  for (int i = 0; i < n; i++) g[i].median_s = time_gemms(g, i, i + 1, o.reps, o.warmup, 0.02, t);
  for (int l = 0; l < o.n_widths - 1 && o.batch > 1; l++) { /* g[l] is forward product l + 1 */
    sw[l].median_s = time_gemms(sw, l, l + 1, o.reps, o.warmup, 0.02, t);
    if (sw[l].median_s < g[l].median_s) g[l] = sw[l];
  }
  double step_s = time_gemms(g, 0, n, o.reps, o.warmup, 0.2, t);
  double peak = o.peak > 0 ? peak_gflops(o.peak, o.reps < 10 ? o.reps : 10) : 0;

  printf("{\"bench\":\"gemm\",\"widths\":\"");
  for (int l = 0; l < o.n_widths; l++) printf("%s%d", l ? "-" : "", o.widths[l]);
  printf("\",\"mode\":\"%s\",\"batch\":%d,\"threads\":%d,\"blas\":\"%s\",\"reps\":%d,"
         "\"first_dx\":%d,", o.infer ? "infer" : "train", o.batch, o.threads,
         blas_name(), o.reps, o.first_dx);
  printf("\"step_gflop\":%.6f,\"step_ms\":%.6f,\"step_gflops\":%.3f,", step_flops * 1e-9,
         step_s * 1e3, step_flops / step_s * 1e-9);
  printf("\"peak_n\":%d,\"peak_gflops\":%.3f,\"gemms\":[", o.peak, peak);
  for (int i = 0; i < n; i++)
    printf("%s{\"op\":\"%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"order\":\"%s\",\"ms\":%.6f,"
           "\"gflops\":%.3f}",
           i ? "," : "", g[i].name, g[i].m, g[i].n, g[i].k, g[i].swapped ? "swapped" : "direct",
           g[i].median_s * 1e3, flops_of(&g[i]) / g[i].median_s * 1e-9);
  printf("]}\n");
  free(t);
  for (int i = 0; i < nb; i++) free(bufs[i]);
  return 0;
}
