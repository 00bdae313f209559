/* analyze_curv.c - `suri analyze fisher|efisher|gn|hessian|lr`: a curvature operator of the
 * model over the first N samples (suri_curv_new), its top eigenvalues by Lanczos with full
 * reorthogonalisation or power iteration, its trace by Hutchinson's estimator (with the second
 * moment tr(A^2)/P from the same probes, see analyze_util.c), its spectral density by
 * stochastic Lanczos quadrature, the same per dense layer (the operator restricted to that
 * layer's W and b), and for fisher/lr the mean-field theory's predictions next to the
 * measurement (analyze_theory.c). `lr` reports lambda_max of the Gauss-Newton matrix of the
 * mean loss and 2 / lambda_max, the step size above which gradient descent on the quadratic
 * model of the loss diverges along the top eigenvector (e.g. Cohen et al. 2021, "Gradient
 * descent on neural networks typically occurs at the edge of stability"). */
#include <math.h>
#include <string.h>

#include "analyze_cli.h"
#include "analyze_theory.h"

/* What one operator run measured (for the per-layer table and the theory comparison). */
typedef struct curv_result {
  int64_t dim;
  double lam1;                 /* top eigenvalue (NaN if not computed) */
  int have_trace;
  double trace, trace_se;      /* Hutchinson */
  double second, second_se;    /* tr(A^2) / dim from the same probes */
  int probes;
} curv_result;

static suri_curv_kind curv_kind(an_kind k) {
  switch (k) {
  case AN_FISHER: return SURI_CURV_FISHER;
  case AN_EFISHER: return SURI_CURV_FISHER_EMP;
  case AN_HESSIAN: return SURI_CURV_HESSIAN;
  default: return SURI_CURV_GGN;
  }
}

static const char *curv_title(an_kind k) {
  switch (k) {
  case AN_FISHER: return "true Fisher";
  case AN_EFISHER: return "empirical Fisher";
  case AN_HESSIAN: return "Hessian of the mean loss";
  default: return "Gauss-Newton of the mean loss";
  }
}

static const char *mode_text(const analyze_ctx *a) {
  return a->o->batch_stats ? "training-mode batch statistics per --batch chunk"
                           : "evaluation mode";
}

static int timing(cJSON *j, const char *key, double secs) {
  cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "timings");
  if (!t) t = cJSON_AddObjectToObject(j, "timings");
  cJSON *old = cJSON_GetObjectItemCaseSensitive(t, key);
  if (old) cJSON_SetNumberValue(old, old->valuedouble + secs);
  else cJSON_AddNumberToObject(t, key, secs);
  return CLI_OK;
}

/* Top-k eigenpairs of W (the progress-wrapped operator). */
static int top_k(analyze_ctx *a, const suri_linop *W, an_progress *p, cJSON *j, int print,
                 const char *indent, curv_result *r) {
  const analyze_opts *o = a->o;
  int k = (int)(o->top < W->n ? o->top : W->n);
  suri_eig_opts eo = suri_eig_defaults();
  eo.k = k;
  eo.max_iter = (int)o->max_iter;
  eo.tol = o->tol;
  eo.seed = o->probe_seed;
  eo.which = o->which;
  int64_t cap = o->power ? (int64_t)k * (o->max_iter ? o->max_iter : 1000)
                         : (o->max_iter ? o->max_iter : (2 * k + 40 > 80 ? 2 * k + 40 : 80));
  if (!o->power && cap > W->n) cap = W->n;
  double *vals = suri_calloc((size_t)k, sizeof *vals), *res = suri_calloc((size_t)k, sizeof *res);
  if (!vals || !res) {
    suri_free(vals), suri_free(res);
    return cli_fail(SURI_ERR_NOMEM, "cannot hold %d eigenvalues", k);
  }
  an_progress_phase(p, o->power ? "power iteration" : "Lanczos", cap);
  suri_solver_info info;
  double t0 = cli_now(), c0 = an_cpu_now();
  suri_status st = o->power ? suri_eig_power(W, &eo, vals, NULL, res, &info)
                            : suri_eig_lanczos(W, &eo, vals, NULL, res, &info);
  double secs = cli_now() - t0, cpu = an_cpu_now() - c0;
  an_progress_clear(p);
  int rc = CLI_OK;
  if (st) {
    rc = cli_fail(st, "%s failed", o->power ? "power iteration" : "Lanczos");
  } else {
    cJSON *t = cJSON_AddObjectToObject(j, "top");
    an_report_eigs(t, o->power ? "power" : "lanczos", k, vals, res, &info, secs, print, indent);
    cJSON_AddNumberToObject(t, "operator_seconds", p->op_secs); /* the rest: the solver */
    cJSON_AddNumberToObject(t, "cpu_seconds", cpu);
    r->lam1 = vals[0];
    if (print) timing(a->json, "top_seconds", secs); /* the whole model only */
  }
  suri_free(vals), suri_free(res);
  return rc;
}

static int trace(analyze_ctx *a, const suri_linop *W, an_progress *p, cJSON *j, int print,
                 const char *indent, curv_result *r) {
  const analyze_opts *o = a->o;
  suri_trace_opts to = suri_trace_defaults();
  to.probes = (int)o->trace_probes;
  to.seed = o->probe_seed;
  an_progress_phase(p, "Hutchinson trace", to.probes);
  p->squares = 1, p->sq_n = 0, p->sq_mean = 0, p->sq_m2 = 0;
  suri_solver_info info;
  double tr = 0, se = 0, t0 = cli_now();
  suri_status st = suri_trace_hutchinson(W, &to, &tr, &se, &info);
  double secs = cli_now() - t0;
  p->squares = 0;
  an_progress_clear(p);
  if (st) return cli_fail(st, "Hutchinson trace estimate failed");
  double n = (double)W->n, s = (double)p->sq_n;
  r->have_trace = 1, r->trace = tr, r->trace_se = se, r->probes = info.iterations;
  r->second = p->sq_mean;
  r->second_se = s > 1 ? sqrt(p->sq_m2 / (s - 1) / s) : NAN;
  cJSON *t = cJSON_AddObjectToObject(j, "trace");
  an_json_num(t, "estimate", tr);
  an_json_num(t, "std_err", se);
  cJSON_AddNumberToObject(t, "probes", info.iterations);
  an_json_num(t, "mean_eigenvalue", tr / n);
  an_json_num(t, "mean_eigenvalue_std_err", se / n);
  an_json_num(t, "second_moment", r->second);
  an_json_num(t, "second_moment_std_err", r->second_se);
  cJSON_AddNumberToObject(t, "seconds", secs);
  cJSON_AddNumberToObject(t, "operator_seconds", p->op_secs);
  if (print) timing(a->json, "trace_seconds", secs);
  if (print)
    printf("%strace (Hutchinson, %d Rademacher probes, %.3g s): %.6g +- %.2g (std. error)\n"
           "%s  mean eigenvalue tr/P %.6g +- %.2g; second moment tr(A^2)/P %.6g +- %.2g\n",
           indent, info.iterations, secs, tr, se, indent, tr / n, se / n, r->second,
           r->second_se);
  return CLI_OK;
}

static cJSON *matrix_json(const double *v, int rows, int cols) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; a && i < rows; i++)
    cJSON_AddItemToArray(a, an_json_array(v + (int64_t)i * cols, cols));
  return a;
}

static int density(analyze_ctx *a, const suri_linop *W, an_progress *p, cJSON *j, int print,
                   const char *indent) {
  const analyze_opts *o = a->o;
  suri_slq_opts so = suri_slq_defaults();
  so.probes = (int)o->density_probes;
  so.steps = (int)o->density_steps;
  so.grid = (int)o->grid;
  so.sigma = o->sigma;
  so.seed = o->probe_seed;
  int64_t steps = so.steps < W->n ? so.steps : W->n;
  an_progress_phase(p, "stochastic Lanczos quadrature", (int64_t)so.probes * steps);
  suri_slq_result d;
  suri_solver_info info;
  double t0 = cli_now();
  suri_status st = suri_slq_density(W, &so, &d, &info);
  double secs = cli_now() - t0;
  an_progress_clear(p);
  if (st) return cli_fail(st, "spectral density (SLQ) failed");
  cJSON *t = cJSON_AddObjectToObject(j, "density");
  cJSON_AddNumberToObject(t, "probes", d.probes);
  cJSON_AddNumberToObject(t, "steps", d.steps);
  an_json_num(t, "sigma", d.sigma);
  an_json_num(t, "mass", d.mass);
  an_json_num(t, "mean", d.mean);
  an_json_num(t, "second_moment", d.second);
  an_json_num(t, "mean_std_err", info.residual);
  cJSON_AddItemToObject(t, "grid", an_json_array(d.t, d.grid));
  cJSON_AddItemToObject(t, "density", an_json_array(d.density, d.grid));
  cJSON_AddItemToObject(t, "nodes", matrix_json(d.nodes, d.probes, d.steps));
  cJSON_AddItemToObject(t, "weights", matrix_json(d.weights, d.probes, d.steps));
  cJSON_AddNumberToObject(t, "applications", (double)info.applications);
  cJSON_AddNumberToObject(t, "seconds", secs);
  cJSON_AddNumberToObject(t, "operator_seconds", p->op_secs);
  if (print) timing(a->json, "density_seconds", secs);
  if (print) {
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < (int64_t)d.probes * d.steps; i++)
      if (d.weights[i] > 0) lo = fmin(lo, d.nodes[i]), hi = fmax(hi, d.nodes[i]);
    printf("%sdensity (SLQ, %d probes x %d steps, %lld products, %.3g s): nodes in [%.4g, %.4g],"
           "\n%s  grid of %d points, sigma %.3g, mass on the grid %.4f; mean %.6g, second "
           "moment %.6g\n", indent, d.probes, d.steps, (long long)info.applications, secs, lo,
           hi, indent, d.grid, d.sigma, d.mass, d.mean, d.second);
  }
  suri_slq_result_free(&d);
  return CLI_OK;
}

/* Builds the operator (all parameters or one layer) and runs what the options ask for. */
static int run_op(analyze_ctx *a, suri_curv_kind kind, int layer, int want_trace, cJSON *j,
                  int print, const char *indent, curv_result *r) {
  const analyze_opts *o = a->o;
  memset(r, 0, sizeof *r);
  r->lam1 = NAN;
  suri_curv_opts co = suri_curv_defaults();
  co.kind = kind;
  co.layer = layer;
  co.hess_eps = o->hess_eps;
  co.hess_method = o->hess_method;
  co.seed = o->probe_seed;
  co.batch_stats = o->batch_stats;
  suri_analysis_data d = suri_analysis_data_of(a->d);
  d.n = a->n;
  suri_curv *c = NULL;
  suri_status st = suri_curv_new(a->m, &d, &co, &c);
  if (st) return cli_fail(st, "cannot set up the %s operator", suri_curv_name(kind));
  suri_linop A = suri_curv_linop(c);
  an_progress p;
  suri_linop W = an_progress_wrap(&p, &A, a->tty);
  if (layer >= 0)
    snprintf(p.prefix, sizeof p.prefix, "%s: ", suri_model_layer(a->m, layer)->name);
  r->dim = A.n;
  cJSON_AddNumberToObject(j, "dim", (double)A.n);
  if (print && kind == SURI_CURV_HESSIAN)
    printf("Hessian-vector products: %s\n", !strcmp(suri_curv_hess_method(c), "exact")
           ? "exact (forward-over-reverse)" : "central differences of gradients");
  int rc = top_k(a, &W, &p, j, print, indent, r);
  if (!rc && want_trace) rc = trace(a, &W, &p, j, print, indent, r);
  if (!rc && o->density) rc = density(a, &W, &p, j, print, indent);
  if (!rc && kind == SURI_CURV_HESSIAN) an_json_num(j, "hess_eps_used", suri_curv_last_eps(c));
  if (kind == SURI_CURV_HESSIAN) cJSON_AddStringToObject(j, "hess_method", suri_curv_hess_method(c));
  an_progress_clear(&p);
  suri_curv_free(c);
  return rc;
}

static int per_layer(analyze_ctx *a, suri_curv_kind kind) {
  const analyze_opts *o = a->o;
  int L = suri_model_layer_count(a->m);
  cJSON *arr = cJSON_AddArrayToObject(a->json, "per_layer");
  printf("per layer (each dense layer's W and b alone):\n"
         "  %-6s %-12s %10s  %-14s", "layer", "W shape", "params", "lambda_1");
  if (o->trace) printf("  %-24s  %-12s", "trace +- std. error", "mean eig");
  printf("\n");
  double t0 = cli_now();
  for (int l = 0; l < L; l++) {
    const suri_layer *ly = suri_model_layer(a->m, l);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToArray(arr, e);
    cJSON_AddStringToObject(e, "layer", ly->name);
    cJSON_AddNumberToObject(e, "index", l);
    cJSON_AddNumberToObject(e, "in", (double)ly->in);
    cJSON_AddNumberToObject(e, "out", (double)ly->out);
    curv_result r;
    int rc = run_op(a, kind, l, o->trace, e, 0, "", &r);
    if (rc) return rc;
    char shape[32], tr[64] = "";
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)ly->out, (long long)ly->in);
    printf("  %-6s %-12s %10lld  %-14.6g", ly->name, shape, (long long)r.dim, r.lam1);
    if (r.have_trace) {
      snprintf(tr, sizeof tr, "%.6g +- %.2g", r.trace, r.trace_se);
      printf("  %-24s  %-12.4g", tr, r.trace / (double)r.dim);
    }
    printf("\n");
    fflush(stdout);
  }
  timing(a->json, "per_layer_seconds", cli_now() - t0);
  return CLI_OK;
}

int analyze_curv(analyze_ctx *a) {
  const analyze_opts *o = a->o;
  suri_curv_kind kind = curv_kind(o->kind);
  printf("operator: %s (%s), %s, averaged over %lld samples\n", curv_title(o->kind),
         suri_curv_name(kind), mode_text(a), (long long)a->n);
  cJSON_AddStringToObject(a->json, "operator", suri_curv_name(kind));
  cJSON *all = cJSON_AddObjectToObject(a->json, "all");
  curv_result r;
  int rc = run_op(a, kind, -1, o->trace || o->theory, all, 1, "", &r);
  fflush(stdout);
  if (!rc && o->per_layer) rc = per_layer(a, kind);
  if (!rc && o->theory) {
    an_measured m = {r.lam1, r.have_trace ? r.trace / (double)r.dim : NAN,
                     r.have_trace ? r.trace_se / (double)r.dim : NAN, r.second, r.second_se,
                     (double)r.dim};
    double t0 = cli_now();
    rc = an_theory_compare(a, &m, 0);
    timing(a->json, "theory_seconds", cli_now() - t0);
  }
  return rc;
}

int analyze_lr(analyze_ctx *a) {
  printf("operator: Gauss-Newton of the mean loss (ggn), %s, averaged over %lld samples\n",
         mode_text(a), (long long)a->n);
  cJSON_AddStringToObject(a->json, "operator", "ggn");
  cJSON *all = cJSON_AddObjectToObject(a->json, "all");
  curv_result r;
  int rc = run_op(a, SURI_CURV_GGN, -1, 0, all, 1, "", &r);
  if (rc) return rc;
  cJSON *lr = cJSON_AddObjectToObject(a->json, "lr");
  an_json_num(lr, "lambda_max", r.lam1);
  double crit = r.lam1 > 0 ? 2.0 / r.lam1 : NAN;
  an_json_num(lr, "critical_lr", crit);
  printf("lambda_max(GN) = %.6g\ncritical learning rate 2/lambda_max = %.6g  (gradient descent "
         "with a larger step diverges along the top eigenvector of the loss's curvature)\n",
         r.lam1, crit);
  fflush(stdout);
  an_measured m = {r.lam1, NAN, NAN, NAN, NAN, (double)r.dim};
  double t0 = cli_now();
  rc = an_theory_compare(a, &m, 1);
  timing(a->json, "theory_seconds", cli_now() - t0);
  return rc;
}
