/* analyze_memory.c - the up-front memory check of `suri analyze` (fisher, efisher, gn, hessian,
 * lr): before the model is built (a spec) or the analysis allocates anything (a model file, which
 * is bounded by its size on disk), the run's peak is estimated and refused with the estimate and
 * its parts when it exceeds --memory or, without --memory, the memory this process can still use
 * (suri_memory_available). The NTK path has its own budget plan (analyze_ntk.c).
 *
 * The parts, in bytes, for P parameters (or the largest layer's with --per-layer: the layers run
 * one after another, so the global operator is the peak), B = --batch, n = --samples:
 *   model:   parameters, gradients, graph buffers for batch B, the loaded data, code and BLAS
 *            buffers: suri_train_memory_estimate with plain SGD (no optimizer state), without
 *            its checkpoint copy, which analysis never makes; hessian adds the graph buffers
 *            once more (exact products keep a gradient tangent per node);
 *   operator: the curvature operator's work vectors (src/analysis/curvature.c: tangent,
 *            accumulator, in and out copies, Hessian snapshot and gradient), bounded by 8 P
 *            doubles, plus per-row seeds and targets 4 B C doubles;
 *   solver:  Lanczos keeps its whole basis, (m + 1) P doubles with m = --max-iter or
 *            max(2k + 40, 80) (src/analysis/eigen.c); power iteration keeps the k deflation
 *            vectors and two work vectors, (k + 2) P doubles; Hutchinson 2 P doubles; the
 *            spectral density one Lanczos basis of --density-steps P doubles at a time. The
 *            phases run one after another, so the largest counts. */
#include <string.h>

#include "analyze_cli.h"
#include "suri/train.h"

/* Parameters of the whole model, as the graph's flat block counts them (padded per tensor). */
static double param_count(const suri_model_spec *s) {
  double p = 0;
  for (int l = 1; l < s->n_widths; l++) {
    double in = (double)s->width[l - 1], out = (double)s->width[l];
    p += in * out + out + 4.0 * out + 32.0; /* W, b, norm scale/shift and running stats, pad */
  }
  return p;
}

static double max_d(double a, double b) { return a > b ? a : b; }

double cli_curv_bytes(const suri_model_spec *spec, int64_t B, double vectors, double *op_bytes) {
  double P = param_count(spec), C = (double)spec->width[spec->n_widths - 1];
  *op_bytes = 8.0 * (8.0 * P + 4.0 * (double)B * C);
  return 8.0 * vectors * P;
}

/* Vectors of P doubles (plus the small Ritz problem) the solver phases keep at their largest. */
static double solver_vectors(const analyze_opts *o, double P) {
  double k = (double)(o->top > 0 ? o->top : 1), v;
  if (o->power) {
    v = k + 2.0;
  } else {
    double m = o->max_iter ? (double)o->max_iter : max_d(2.0 * k + 40.0, 80.0);
    if (m > P) m = P;
    v = m + 1.0 + m * m / P;
  }
  if (o->trace) v = max_d(v, 2.0);
  if (o->density) {
    double m = (double)o->density_steps < P ? (double)o->density_steps : P;
    v = max_d(v, m + 2.0 + m * m / P);
  }
  return v;
}

int analyze_check_memory(const analyze_ctx *a, const suri_model_spec *spec, int64_t B) {
  const analyze_opts *o = a->o;
  if (o->kind == AN_NTK) return CLI_OK;
  suri_train_config c = suri_train_defaults();
  c.optim = "sgd";
  c.momentum = 0;
  c.batch = B;
  suri_train_memory tm;
  suri_status st = suri_train_memory_estimate(spec, &c, a->d, NULL, &tm);
  if (st) return cli_fail(st, "cannot estimate the memory of the analysis");
  /* Exact Hessian products add a gradient tangent per graph node: at most the graph's
   * buffers again (they hold value, tangent and gradient). */
  double op, model = tm.total - tm.io + (o->kind == AN_HESSIAN ? tm.graph : 0);
  double solver = cli_curv_bytes(spec, B, solver_vectors(o, param_count(spec)), &op);
  double total = model + op + solver;
  double limit = o->memory_given ? (double)o->memory : suri_memory_available();
  if (!(limit > 0) || total <= limit) return CLI_OK;
  char t[32], l[32], b1[32], b2[32], b3[32];
  fprintf(stderr, "suri: error: analysis of %s would need about %s (model, graph and data %s, "
          "operator work vectors %s, %s %s), more than %s (%s)\n", a->spec[0] ? a->spec : o->model,
          cli_fmt_bytes(t, sizeof t, total), cli_fmt_bytes(b1, sizeof b1, model),
          cli_fmt_bytes(b2, sizeof b2, op), o->power ? "power-iteration vectors" : "Lanczos basis",
          cli_fmt_bytes(b3, sizeof b3, solver),
          o->memory_given ? "--memory" : "the memory available on this machine",
          cli_fmt_bytes(l, sizeof l, limit));
  fprintf(stderr, "hint: lower --max-iter%s%s, --batch or --samples%s\n",
          o->density ? ", --density-steps" : "", o->top > 1 ? ", --top" : "",
          o->memory_given ? ", or raise --memory" : "");
  return CLI_FAIL;
}
