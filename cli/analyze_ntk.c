/* analyze_ntk.c - `suri analyze ntk`: the empirical neural tangent kernel Gram matrix of the
 * first N samples (suri_ntk_gram: the per-layer Gram trick, no Jacobian is formed; Jacot,
 * Gabriel & Hongler 2018), its top eigenvalues by LAPACK, its trace, optionally per dense layer
 * and written as .npy. Modes: trace (N, N) sum_k Theta_kk; full (N C, N C); diag (N, C); sum
 * (N, N), the kernel of the scalar s(x) = sum_k f_k(x):
 *
 *   Theta_s(x, x') = sum_{k,k'} Theta_kk'(x, x').
 *
 * When the last dense layer is the network's output (no batch norm after it), s is itself the
 * output of a one-output network whose last layer has the summed weights w = sum_k W_k and
 * bias sum_k b_k, and only the last layer's own gradients differ: d s / d W_k = sw h_L for every
 * k, so that layer contributes C (sw^2 h_L . h_L' + sb^2) to Theta_s against once in the
 * one-output network. Hence
 *
 *   Theta_s = Theta_one + (C - 1) Theta_one[last layer only],
 *
 * two one-output Grams (one backward pass per chunk instead of C). Otherwise the full Gram is
 * computed and its C x C blocks summed.
 * Memory: --memory bounds the Gram, the work of its eigendecomposition (a copy and dsyevd's
 * 1 + 6n + 2n^2 doubles) and the library's scratch, which gets what is left. */
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include "analyze_cli.h"
#include "suri/io.h"

static const char *const MODE_NAMES[] = {"trace", "full", "diag", "sum"};

/* Square Grams up to this many rows get all eigenpairs from LAPACK; larger ones Lanczos. */
#define DENSE_MAX 2048

typedef struct ntk_run {
  analyze_ctx *a;
  int64_t n, C, rows, cols;   /* Gram shape */
  suri_model *one;            /* one-output copy for the sum mode (NULL otherwise) */
  int sum_by_full;            /* sum mode through the full Gram */
  size_t scratch;             /* budget left for the library */
  an_progress prog;
} ntk_run;

static const suri_model_tensor *find_tensor(const suri_model *m, const char *name) {
  for (int i = 0; i < suri_model_tensor_count(m); i++)
    if (!strcmp(suri_model_tensor_at(m, i)->name, name)) return suri_model_tensor_at(m, i);
  return NULL;
}

/* The one-output network of the logit sum (see the top of the file). */
static suri_status sum_model(suri_model *m, suri_model **out) {
  suri_model_spec s = *suri_model_get_spec(m);
  int64_t C = s.width[s.n_widths - 1];
  s.width[s.n_widths - 1] = 1;
  s.loss = SURI_LOSS_MSE; /* any loss: the NTK only uses the output */
  suri_model *h = NULL;
  suri_status st = suri_model_new(&s, suri_model_max_batch(m), &h);
  if (st) return st;
  const suri_layer *last = suri_model_layer(m, suri_model_layer_count(m) - 1);
  char wname[32], bname[32];
  snprintf(wname, sizeof wname, "%s.weight", last->name);
  snprintf(bname, sizeof bname, "%s.bias", last->name);
  for (int i = 0; i < suri_model_tensor_count(h) && !st; i++) {
    const suri_model_tensor *th = suri_model_tensor_at(h, i), *tm = find_tensor(m, th->name);
    suri_real *dst = (th->is_state ? suri_model_state(h) : suri_model_params(h)) + th->offset;
    if (!tm) {
      st = suri_fail(SURI_ERR_STATE, "logit-sum NTK: tensor %s missing", th->name);
      break;
    }
    const suri_real *src = (tm->is_state ? suri_model_state(m) : suri_model_params(m)) + tm->offset;
    int64_t numel = th->rank == 0 ? 1 : th->dim[0] * (th->rank > 1 ? th->dim[1] : 1);
    if (!strcmp(th->name, wname) || !strcmp(th->name, bname)) {
      int64_t width = numel; /* (1, M) or (1): sum the C rows */
      for (int64_t j = 0; j < width; j++) {
        double acc = 0;
        for (int64_t k = 0; k < C; k++) acc += (double)src[k * width + j];
        dst[j] = (suri_real)acc;
      }
    } else {
      memcpy(dst, src, (size_t)numel * sizeof *dst);
    }
  }
  if (st) suri_model_free(h);
  else *out = h;
  return st;
}

/* Bytes the CLI itself holds: the Gram, temporaries of the sum mode, the eigendecomposition. */
static double own_bytes(const ntk_run *r, int eig) {
  double g = 8.0 * (double)r->rows * (double)r->cols, extra = 0;
  if (r->one) extra = 8.0 * (double)r->n * (double)r->n;
  if (r->sum_by_full) extra = 8.0 * (double)(r->n * r->C) * (double)(r->n * r->C);
  double e = !eig ? 0 : r->rows <= DENSE_MAX
             ? 8.0 * (3.0 * (double)r->rows * (double)r->rows + 8.0 * (double)r->rows)
             : 8.0 * (double)r->rows * (double)(2 * r->a->o->top + 130); /* Lanczos basis */
  return g + extra + e;
}

static int plan(ntk_run *r) {
  analyze_ctx *a = r->a;
  const analyze_opts *o = a->o;
  const suri_model_spec *s = suri_model_get_spec(a->m);
  r->n = a->n, r->C = s->width[s->n_widths - 1];
  int64_t nc = r->n * r->C;
  r->rows = o->ntk_mode == AN_NTK_FULL ? nc : r->n;
  r->cols = o->ntk_mode == AN_NTK_FULL ? nc : o->ntk_mode == AN_NTK_DIAG ? r->C : r->n;
  if (o->ntk_mode == AN_NTK_SUM) {
    if (s->norm == SURI_NORM_LASTBATCH || r->C == 1) r->sum_by_full = r->C > 1;
    else {
      suri_status st = sum_model(a->m, &r->one);
      if (st) return cli_fail(st, "cannot build the one-output network of the logit sum");
    }
  }
  double own = own_bytes(r, o->ntk_mode != AN_NTK_DIAG);
  char b1[32], b2[32];
  if (own >= (double)o->memory)
    return cli_fail(SURI_OK, "the %lld x %lld NTK Gram and its eigendecomposition need %s, over "
                    "--memory %s; raise --memory or lower --samples", (long long)r->rows,
                    (long long)r->cols, cli_fmt_bytes(b1, sizeof b1, own),
                    cli_fmt_bytes(b2, sizeof b2, (double)o->memory));
  r->scratch = (size_t)((double)o->memory - own);
  return CLI_OK;
}

/* Gram of the chosen mode into K (rows, cols); layer -1 = all parameters. */
static suri_status gram(ntk_run *r, int layer, double *K) {
  analyze_ctx *a = r->a;
  const analyze_opts *o = a->o;
  suri_ntk_opts no = suri_ntk_defaults();
  no.layer = layer;
  no.max_bytes = r->scratch;
  const suri_real *x = a->d->x;
  if (o->ntk_mode != AN_NTK_SUM) {
    no.mode = o->ntk_mode == AN_NTK_FULL ? SURI_NTK_FULL
            : o->ntk_mode == AN_NTK_DIAG ? SURI_NTK_DIAG : SURI_NTK_TRACE;
    return suri_ntk_gram(a->m, r->n, x, 0, NULL, &no, K);
  }
  int64_t n = r->n, C = r->C, N = n * C;
  if (C == 1) return suri_ntk_gram(a->m, n, x, 0, NULL, &no, K);
  if (r->sum_by_full) {
    double *F = suri_alloc((size_t)(N * N) * sizeof *F);
    if (!F) return SURI_ERR_NOMEM;
    no.mode = SURI_NTK_FULL;
    suri_status st = suri_ntk_gram(a->m, n, x, 0, NULL, &no, F);
    for (int64_t i = 0; i < n && !st; i++)
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t k = 0; k < C; k++)
          for (int64_t q = 0; q < C; q++) acc += F[(i * C + k) * N + j * C + q];
        K[i * n + j] = acc;
      }
    suri_free(F);
    return st;
  }
  /* one-output network: Theta_one (+ (C - 1) Theta_one[last]) */
  int last = suri_model_layer_count(r->one) - 1;
  no.mode = SURI_NTK_TRACE;
  if (layer >= 0) {
    suri_status st = suri_ntk_gram(r->one, n, x, 0, NULL, &no, K);
    if (!st && layer == last)
      for (int64_t i = 0; i < n * n; i++) K[i] *= (double)C;
    return st;
  }
  double *T = suri_alloc((size_t)(n * n) * sizeof *T);
  if (!T) return SURI_ERR_NOMEM;
  suri_status st = suri_ntk_gram(r->one, n, x, 0, NULL, &no, K);
  no.layer = last;
  if (!st) st = suri_ntk_gram(r->one, n, x, 0, NULL, &no, T);
  for (int64_t i = 0; i < n * n && !st; i++) K[i] += (double)(C - 1) * T[i];
  suri_free(T);
  return st;
}

static double gram_trace(const ntk_run *r, const double *K) {
  double t = 0;
  if (r->a->o->ntk_mode == AN_NTK_DIAG)
    for (int64_t i = 0; i < r->rows * r->cols; i++) t += K[i];
  else
    for (int64_t i = 0; i < r->rows; i++) t += K[i * r->cols + i];
  return t;
}

/* Top eigenvalues of the square Gram into j: LAPACK (all eigenpairs) up to DENSE_MAX rows,
 * Lanczos on the matrix above that (k matrix-vector products per step instead of an O(n^3)
 * decomposition with O(n^2) work memory), falling back to LAPACK if Lanczos does not meet its
 * tolerance. */
#define LANCZOS_TOL 1e-10

static int eigs(ntk_run *r, const double *K, cJSON *j, int print, const char *indent,
                double *lam1) {
  int k = (int)(r->a->o->top < r->rows ? r->a->o->top : r->rows);
  double *vals = suri_calloc((size_t)k, sizeof *vals), *res = suri_calloc((size_t)k, sizeof *res);
  if (!vals || !res) {
    suri_free(vals), suri_free(res);
    return cli_fail(SURI_ERR_NOMEM, "cannot hold %d eigenvalues", k);
  }
  suri_solver_info info = {0, 0, 0, 0};
  suri_status st = SURI_OK;
  double t0 = cli_now();
  int lanczos = r->rows > DENSE_MAX;
  if (lanczos) {
    suri_linop A = suri_linop_dense(r->rows, K);
    suri_eig_opts eo = suri_eig_defaults();
    eo.k = k, eo.tol = LANCZOS_TOL;
    eo.max_iter = (int)(r->rows < 2 * k + 120 ? r->rows : 2 * k + 120);
    st = suri_eig_lanczos(&A, &eo, vals, NULL, res, &info);
    lanczos = !st && info.converged;
  }
  /* the fallback needs the dense work memory, which the plan did not reserve */
  double dense_bytes = 8.0 * 4.0 * (double)r->rows * (double)r->rows;
  if (!lanczos && (r->rows <= DENSE_MAX || dense_bytes < (double)r->a->o->memory))
    st = suri_eig_dense(r->rows, K, k, vals, NULL, &info);
  double secs = cli_now() - t0;
  if (st) {
    suri_free(vals), suri_free(res);
    return cli_fail(st, "eigenvalues of the NTK Gram failed");
  }
  cJSON *t = cJSON_AddObjectToObject(j, "top");
  an_report_eigs(t, lanczos ? "lanczos on the Gram" : "lapack dsyevd", k, vals,
                 lanczos ? res : NULL, &info, secs, print, indent);
  *lam1 = vals[0];
  suri_free(vals), suri_free(res);
  return CLI_OK;
}

static void diag_report(const ntk_run *r, const double *K, cJSON *j) {
  cJSON *arr = cJSON_AddArrayToObject(j, "diag_mean_per_output");
  printf("mean Theta_kk(x, x) over the samples, per output k:\n ");
  for (int64_t k = 0; k < r->C; k++) {
    double s = 0;
    for (int64_t i = 0; i < r->n; i++) s += K[i * r->C + k];
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(s / (double)r->n));
    printf(" %.5g", s / (double)r->n);
  }
  printf("\n");
}

static int per_layer(ntk_run *r, double *K) {
  analyze_ctx *a = r->a;
  cJSON *arr = cJSON_AddArrayToObject(a->json, "per_layer");
  printf("per layer (each dense layer's W and b alone):\n  %-6s %-12s %-16s %-16s\n", "layer",
         "W shape", "lambda_1", "trace");
  double t0 = cli_now();
  for (int l = 0; l < suri_model_layer_count(a->m); l++) {
    const suri_layer *ly = suri_model_layer(a->m, l);
    an_progress_note(&r->prog, "NTK Gram of one layer");
    suri_status st = gram(r, l, K);
    an_progress_clear(&r->prog);
    if (st) return cli_fail(st, "NTK Gram of layer %s failed", ly->name);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToArray(arr, e);
    cJSON_AddStringToObject(e, "layer", ly->name);
    cJSON_AddNumberToObject(e, "index", l);
    double lam1 = NAN, tr = gram_trace(r, K);
    int rc = eigs(r, K, e, 0, "", &lam1);
    if (rc) return rc;
    an_json_num(e, "trace", tr);
    char shape[32];
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)ly->out, (long long)ly->in);
    printf("  %-6s %-12s %-16.6g %-16.6g\n", ly->name, shape, lam1, tr);
  }
  cJSON *t = cJSON_GetObjectItemCaseSensitive(a->json, "timings");
  if (!t) t = cJSON_AddObjectToObject(a->json, "timings");
  cJSON_AddNumberToObject(t, "per_layer_seconds", cli_now() - t0);
  return CLI_OK;
}

static void peak_rss(cJSON *j) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  char b[32];
  cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)ru.ru_maxrss * 1024.0);
  printf("peak resident memory of the process: %s\n",
         cli_fmt_bytes(b, sizeof b, (double)ru.ru_maxrss * 1024.0));
}

static int report(ntk_run *r, const double *K, double secs) {
  analyze_ctx *a = r->a;
  const analyze_opts *o = a->o;
  cJSON *j = cJSON_AddObjectToObject(a->json, "ntk");
  double tr = gram_trace(r, K), own = own_bytes(r, o->ntk_mode != AN_NTK_DIAG);
  char b1[32], b2[32], b3[32];
  cJSON_AddStringToObject(j, "mode", MODE_NAMES[o->ntk_mode]);
  cJSON *shape = cJSON_AddArrayToObject(j, "shape");
  cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)r->rows));
  cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)r->cols));
  an_json_num(j, "trace", tr);
  cJSON_AddNumberToObject(j, "seconds", secs);
  cJSON_AddNumberToObject(j, "memory_budget_bytes", (double)o->memory);
  cJSON_AddNumberToObject(j, "gram_and_eigen_bytes", own);
  cJSON_AddNumberToObject(j, "scratch_budget_bytes", (double)r->scratch);
  if (r->one) cJSON_AddStringToObject(j, "method", "one-output network of the logit sum");
  else if (r->sum_by_full) cJSON_AddStringToObject(j, "method", "full Gram, blocks summed");
  printf("NTK Gram (%s mode): %lld x %lld, %.3g s; trace %.6g (mean diagonal %.6g)\n"
         "  memory: Gram + eigenvalue work %s, library scratch budget %s (of --memory %s)\n",
         MODE_NAMES[o->ntk_mode], (long long)r->rows, (long long)r->cols, secs, tr,
         tr / (double)(o->ntk_mode == AN_NTK_DIAG ? r->n : r->rows),
         cli_fmt_bytes(b1, sizeof b1, own), cli_fmt_bytes(b2, sizeof b2, (double)r->scratch),
         cli_fmt_bytes(b3, sizeof b3, (double)o->memory));
  if (r->one)
    printf("  (logit sum via the one-output network with summed last-layer weights)\n");
  int rc = CLI_OK;
  double lam1;
  if (o->ntk_mode == AN_NTK_DIAG) diag_report(r, K, j);
  else rc = eigs(r, K, j, 1, "", &lam1);
  if (!rc) peak_rss(j);
  return rc;
}

static int write_gram(const ntk_run *r, const double *K) {
  const char *path = r->a->o->gram_out;
  int64_t dim[2] = {r->rows, r->cols};
  suri_status st = suri_npy_write(path, SURI_DT_F64, 2, dim, K);
  if (st) return cli_fail(st, "cannot write %s", path);
  cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(r->a->json, "ntk"), "gram_file", path);
  printf("wrote the Gram matrix to %s (%lld x %lld float64)\n", path, (long long)r->rows,
         (long long)r->cols);
  return CLI_OK;
}

int analyze_ntk(analyze_ctx *a) {
  ntk_run r;
  memset(&r, 0, sizeof r);
  r.a = a;
  suri_linop dummy = {1, NULL, NULL};
  an_progress_wrap(&r.prog, &dummy, a->tty);
  int rc = plan(&r);
  double *K = NULL;
  if (!rc) {
    K = suri_alloc((size_t)(r.rows * r.cols) * sizeof *K);
    if (!K) rc = cli_fail(SURI_ERR_NOMEM, "cannot hold the %lld x %lld Gram", (long long)r.rows,
                          (long long)r.cols);
  }
  if (!rc) {
    an_progress_note(&r.prog, "computing the NTK Gram");
    double t0 = cli_now(), c0 = an_cpu_now();
    suri_status st = gram(&r, -1, K);
    double secs = cli_now() - t0, cpu = an_cpu_now() - c0;
    an_progress_clear(&r.prog);
    if (st) rc = cli_fail(st, "NTK Gram failed");
    else {
      cJSON *t = cJSON_AddObjectToObject(a->json, "timings");
      cJSON_AddNumberToObject(t, "gram_seconds", secs);
      cJSON_AddNumberToObject(t, "gram_cpu_seconds", cpu);
      rc = report(&r, K, secs);
    }
  }
  if (!rc && a->o->gram_out) rc = write_gram(&r, K);
  if (!rc && a->o->per_layer) rc = per_layer(&r, K);
  suri_free(K);
  suri_model_free(r.one);
  return rc;
}
