/* gradcheck.c - see gradcheck.h.
 *
 * Choice of step h and tolerances (u = unit roundoff of suri_real, f = the checked sum):
 *   central difference error ~ h^2 |f'''| / 6 (truncation) + K u |f| / h (the forward pass is
 *   computed in suri_real; K ~ 10 for the small graphs tested; outputs untouched by a
 *   perturbation are bitwise identical in both passes and cancel exactly).
 *   float  (u = 6e-8):  h = 1e-2 gives ~2e-5 |f'''| + ~6e-5 |f|, i.e. ~1e-4 relative to
 *          gradients of order 0.1..1. The vector tolerance ||a - n|| / ||n|| <= 1e-2 leaves two
 *          orders of margin while a wrong derivative (a missing term, a wrong sign or factor)
 *          gives errors of order 1. Per element: |a - n| <= 5e-2 |n| + 5e-3 ||n||_inf (the
 *          absolute part absorbs the noise on elements whose gradient is tiny).
 *          The perturbed value x +- h is rounded to float, so the actual step
 *          (x + h) - (x - h) is used as the denominator.
 *   double (u = 1.1e-16): h = 1e-6 gives ~2e-13 |f'''| + ~1e-9 |f|: vector tolerance 1e-6,
 *          per element 1e-5 |n| + 1e-5 ||n||_inf.
 * Inputs are expected to stay further than h (times the direction entry, for jvp) from any
 * kink; tu_fill_away helps with that.
 * The duality check <s, Jv> = <J^T s, v> involves no truncation error: both sides are sums of
 * products computed by the kernels, so it is held to 1e-4 (float) / 1e-10 (double) of the sum
 * of absolute terms.
 * A check refuses to pass when the analytic vector has norm below 1e-6 (float) / 1e-10
 * (double): a function that does not move proves nothing. */
#include "gradcheck.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SURI_REAL_DOUBLE
#define ELEM_RTOL 1e-5
#define ELEM_ATOL 1e-5
#define ZERO_FLOOR 1e-10
#define DOT_TOL 1e-10
#else
#define ELEM_RTOL 5e-2
#define ELEM_ATOL 5e-3
#define ZERO_FLOOR 1e-6
#define DOT_TOL 1e-4
#endif

/* One checked tensor: a parameter (view into the bound block) or a batched input. */
typedef struct seg {
  char name[80];
  suri_real *x;    /* values, perturbed in place and restored */
  suri_real *grad; /* its gradient after backward (NULL if none) */
  int64_t n;       /* live elements */
} seg;

void tu_fill_away(uint64_t seed, size_t n, suri_real *x, double lo, double hi) {
  suri_rng r = suri_rng_make(seed, SURI_RNG_PROBE);
  for (size_t k = 0; k < n; k++) {
    double u = suri_rng_uniform(&r), v = suri_rng_uniform(&r);
    double m = lo + (hi - lo) * u;
    x[k] = (suri_real)(v < 0.5 ? -m : m);
  }
}

void tu_fill_normal(uint64_t seed, size_t n, suri_real *x, double std) {
  suri_rng r = suri_rng_make(seed, SURI_RNG_PROBE);
  suri_rng_fill_normal(&r, n, x, 0.0, std);
}

static int64_t live_numel(suri_graph *g, suri_node n) {
  suri_shape s = *suri_graph_shape(g, n);
  if (s.batched) s.dim[0] = suri_graph_batch(g);
  return suri_shape_numel(&s);
}

static void set_msg(tu_gc_result *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->msg, sizeof r->msg, fmt, ap);
  va_end(ap);
}

/* Parameters (in node order) then the listed inputs. Returns the count, or -1 with r->msg. */
static int collect(const tu_gc_spec *s, seg *segs, int need_input_grad, tu_gc_result *r) {
  suri_graph *g = s->g;
  int ns = 0;
  for (int32_t i = 0; i < suri_graph_node_count(g); i++) {
    suri_node n = {i};
    if (strcmp(suri_graph_node_kind(g, n), "param") != 0) continue;
    if (!s->params || !s->grads) {
      set_msg(r, "graph has parameters but spec.params/grads are NULL");
      return -1;
    }
    size_t off = suri_graph_param_offset(g, n);
    seg *q = &segs[ns++];
    snprintf(q->name, sizeof q->name, "param '%s'", suri_graph_node_name(g, n));
    q->x = s->params + off;
    q->grad = s->grads + off;
    q->n = suri_shape_numel(suri_graph_shape(g, n));
  }
  for (int j = 0; j < s->n_inputs; j++) {
    suri_node n = s->inputs[j];
    seg *q = &segs[ns++];
    snprintf(q->name, sizeof q->name, "input '%s'", suri_graph_node_name(g, n));
    q->x = suri_graph_value(g, n);
    q->grad = suri_graph_grad(g, n);
    q->n = live_numel(g, n);
    if (!q->x || strcmp(suri_graph_node_kind(g, n), "input") != 0) {
      set_msg(r, "spec.inputs[%d] is not a real input node", j);
      return -1;
    }
    if (need_input_grad && !q->grad) {
      set_msg(r, "%s has no gradient: call suri_graph_want_input_grad before compile", q->name);
      return -1;
    }
  }
  return ns;
}

/* Forward pass (rewinding the dropout counter first if asked). */
static int forward(const tu_gc_spec *s, uint64_t calls) {
  if (s->replay_rng) suri_graph_set_rng_calls(s->g, calls);
  return suri_graph_forward(s->g) == SURI_OK;
}

static double seeded_sum(const tu_gc_spec *s, uint64_t calls, const suri_real *sd, int64_t no) {
  if (!forward(s, calls)) return NAN;
  const suri_real *y = suri_graph_value(s->g, s->out);
  double f = 0;
  for (int64_t k = 0; k < no; k++) f += (double)sd[k] * (double)y[k];
  return f;
}

/* Locates flat index k among the segments (for messages). */
static void where(const seg *segs, int ns, int64_t k, char *buf, size_t n) {
  for (int i = 0; i < ns; i++) {
    if (k < segs[i].n) {
      snprintf(buf, n, "%s[%lld]", segs[i].name, (long long)k);
      return;
    }
    k -= segs[i].n;
  }
  snprintf(buf, n, "?");
}

/* Vector and per-element comparison of analytic a with numeric u (total elements). */
static void compare(tu_gc_result *r, const char *what, const double *a, const double *u,
                    int64_t total, const seg *segs, int ns, double rtol) {
  double na = 0, nu = 0, dd = 0, uinf = 0;
  for (int64_t k = 0; k < total; k++) {
    na += a[k] * a[k];
    nu += u[k] * u[k];
    dd += (a[k] - u[k]) * (a[k] - u[k]);
    if (fabs(u[k]) > uinf) uinf = fabs(u[k]);
  }
  na = sqrt(na), nu = sqrt(nu), dd = sqrt(dd);
  r->norm_analytic = na;
  r->norm_numeric = nu;
  r->rel_err = nu > 0 ? dd / nu : INFINITY;
  r->checked = (long)total;
  r->ok = 0;
  if (!(na > ZERO_FLOOR)) {
    set_msg(r, "%s: analytic result is ~0 everywhere (norm %.3g, numeric norm %.3g): refusing "
            "to pass", what, na, nu);
    return;
  }
  if (!(nu > ZERO_FLOOR)) {
    set_msg(r, "%s: numeric result is ~0 (norm %.3g) but analytic norm is %.3g", what, nu, na);
    return;
  }
  int64_t worst = 0;
  double worst_x = -1;
  for (int64_t k = 0; k < total; k++) {
    double lim = ELEM_RTOL * fabs(u[k]) + ELEM_ATOL * uinf;
    double x = fabs(a[k] - u[k]) / lim;
    if (!(x <= worst_x)) worst_x = x, worst = k; /* NaN becomes the worst */
  }
  char loc[128];
  where(segs, ns, worst, loc, sizeof loc);
  if (!(r->rel_err <= rtol) || !(worst_x <= 1)) {
    set_msg(r, "%s: ||a - n|| / ||n|| = %.3g (tolerance %.3g), ||a|| = %.6g, ||n|| = %.6g; worst "
            "element %s: analytic %.9g numeric %.9g", what, r->rel_err, rtol, na, nu, loc,
            a[worst], u[worst]);
    return;
  }
  r->ok = 1;
  set_msg(r, "%s ok: %ld elements, relative error %.3g, worst element at %.3g of its bound",
          what, r->checked, r->rel_err, worst_x);
}

static int64_t seg_total(const seg *segs, int ns) {
  int64_t t = 0;
  for (int i = 0; i < ns; i++) t += segs[i].n;
  return t;
}

/* Random seed vector s, entries of random sign and magnitude in [0.5, 1.5]. */
static suri_real *make_seed(const tu_gc_spec *s, int64_t no) {
  suri_real *sd = malloc((size_t)no * sizeof *sd);
  if (sd) tu_fill_away(s->seed ^ 0x5eedu, (size_t)no, sd, 0.5, 1.5);
  return sd;
}

static void numeric_grad(const tu_gc_spec *s, uint64_t calls, const suri_real *sd, int64_t no,
                         const seg *segs, int ns, double h, double *u) {
  int64_t o = 0;
  for (int i = 0; i < ns; i++)
    for (int64_t k = 0; k < segs[i].n; k++, o++) {
      suri_real x0 = segs[i].x[k], xp = (suri_real)(x0 + h), xm = (suri_real)(x0 - h);
      segs[i].x[k] = xp;
      double fp = seeded_sum(s, calls, sd, no);
      segs[i].x[k] = xm;
      double fm = seeded_sum(s, calls, sd, no);
      segs[i].x[k] = x0;
      u[o] = (fp - fm) / ((double)xp - (double)xm);
    }
}

tu_gc_result tu_gradcheck_run(const tu_gc_spec *s) {
  tu_gc_result r;
  memset(&r, 0, sizeof r);
  suri_graph *g = s->g;
  double h = s->h > 0 ? s->h : TU_GC_H, rtol = s->rtol > 0 ? s->rtol : TU_GC_RTOL;
  uint64_t calls = suri_graph_rng_calls(g);
  int64_t no = live_numel(g, s->out);
  seg *segs = calloc((size_t)suri_graph_node_count(g) + TU_GC_MAX_INPUTS, sizeof *segs);
  int ns = segs && s->n_inputs <= TU_GC_MAX_INPUTS ? collect(s, segs, 1, &r) : -1;
  int64_t total = ns > 0 ? seg_total(segs, ns) : 0;
  suri_real *sd = make_seed(s, no);
  double *a = calloc((size_t)total + 1, sizeof *a), *u = calloc((size_t)total + 1, sizeof *u);
  if (ns <= 0 || !sd || !a || !u) {
    if (ns == 0) set_msg(&r, "nothing to check: no parameters and no inputs listed");
    else if (ns > 0 || !r.msg[0]) set_msg(&r, "gradcheck: bad spec or out of memory");
    goto done;
  }
  if (s->grads) memset(s->grads, 0, suri_graph_param_count(g) * sizeof *s->grads);
  suri_status st = forward(s, calls) ? suri_graph_backward(g, s->out, sd) : SURI_ERR_STATE;
  if (st != SURI_OK) {
    set_msg(&r, "backward failed: %s (%s)", suri_status_name(st), suri_last_error());
    goto done;
  }
  int64_t o = 0;
  for (int i = 0; i < ns; i++)
    for (int64_t k = 0; k < segs[i].n; k++) a[o++] = segs[i].grad[k];
  numeric_grad(s, calls, sd, no, segs, ns, h, u);
  compare(&r, "gradient", a, u, total, segs, ns, rtol);
done:
  forward(s, calls); /* leave values as for the unperturbed inputs */
  free(segs);
  free(sd);
  free(a);
  free(u);
  return r;
}

/* <s, t> against <J^T s, v>: exact up to rounding. Skipped (ok) when backward is impossible. */
static void dot_check(tu_gc_result *r, const tu_gc_spec *s, uint64_t calls, const suri_real *sd,
                      const double *t, int64_t no, const seg *segs, int ns, const double *v) {
  for (int i = 0; i < ns; i++)
    if (!segs[i].grad) return; /* an input without gradient: J^T s is incomplete */
  if (s->grads) memset(s->grads, 0, suri_graph_param_count(s->g) * sizeof *s->grads);
  if (!forward(s, calls) || suri_graph_backward(s->g, s->out, sd) != SURI_OK) return;
  double lhs = 0, rhs = 0, scale = 0;
  for (int64_t k = 0; k < no; k++) {
    lhs += (double)sd[k] * t[k];
    scale += fabs((double)sd[k] * t[k]);
  }
  int64_t o = 0;
  for (int i = 0; i < ns; i++)
    for (int64_t k = 0; k < segs[i].n; k++, o++) {
      rhs += (double)segs[i].grad[k] * v[o];
      scale += fabs((double)segs[i].grad[k] * v[o]);
    }
  if (!(fabs(lhs - rhs) <= DOT_TOL * scale)) {
    r->ok = 0;
    set_msg(r, "jvp/backward duality: <s, Jv> = %.12g but <J^T s, v> = %.12g (scale %.3g)", lhs,
            rhs, scale);
  }
}

/* Moves every checked tensor to x0 + step * v. */
static void displace(const seg *segs, int ns, const suri_real *x0, const double *v, double step) {
  int64_t o = 0;
  for (int i = 0; i < ns; i++)
    for (int64_t k = 0; k < segs[i].n; k++, o++) segs[i].x[k] = (suri_real)(x0[o] + step * v[o]);
}

static int numeric_jvp(const tu_gc_spec *s, uint64_t calls, const seg *segs, int ns,
                       const suri_real *x0, const double *v, double h, int64_t no, double *u) {
  const suri_real *y = suri_graph_value(s->g, s->out);
  displace(segs, ns, x0, v, h);
  int ok = forward(s, calls);
  for (int64_t k = 0; k < no; k++) u[k] = y[k];
  displace(segs, ns, x0, v, -h);
  ok = ok && forward(s, calls);
  for (int64_t k = 0; k < no; k++) u[k] = (u[k] - (double)y[k]) / (2 * h);
  displace(segs, ns, x0, v, 0);
  return ok;
}

tu_gc_result tu_jvpcheck_run(const tu_gc_spec *s) {
  tu_gc_result r;
  memset(&r, 0, sizeof r);
  suri_graph *g = s->g;
  double h = s->h > 0 ? s->h : TU_GC_H, rtol = s->rtol > 0 ? s->rtol : TU_GC_RTOL;
  uint64_t calls = suri_graph_rng_calls(g);
  int64_t no = live_numel(g, s->out);
  size_t np = suri_graph_param_count(g);
  seg *segs = calloc((size_t)suri_graph_node_count(g) + TU_GC_MAX_INPUTS, sizeof *segs);
  int ns = segs && s->n_inputs <= TU_GC_MAX_INPUTS ? collect(s, segs, 0, &r) : -1;
  int64_t total = ns > 0 ? seg_total(segs, ns) : 0;
  suri_real *sd = make_seed(s, no), *vr = calloc((size_t)total + 1, sizeof *vr);
  suri_real *vp = calloc(np + 1, sizeof *vp), *x0 = calloc((size_t)total + 1, sizeof *x0);
  double *v = calloc((size_t)total + 1, sizeof *v);
  double *t = calloc((size_t)no, sizeof *t), *u = calloc((size_t)no, sizeof *u);
  if (ns <= 0 || !sd || !vr || !vp || !x0 || !v || !t || !u) {
    if (ns == 0) set_msg(&r, "nothing to check: no parameters and no inputs listed");
    else if (ns > 0 || !r.msg[0]) set_msg(&r, "jvpcheck: bad spec or out of memory");
    goto done;
  }
  /* Direction: N(0, 1) entries on every parameter and listed input; padding stays 0. */
  tu_fill_normal(s->seed ^ 0xd1eu, (size_t)total, vr, 1.0);
  int np_seg = ns - s->n_inputs;
  int64_t o = 0;
  for (int i = 0; i < ns; i++)
    for (int64_t k = 0; k < segs[i].n; k++, o++) {
      v[o] = vr[o];
      x0[o] = segs[i].x[k];
      if (i < np_seg) vp[segs[i].x - s->params + k] = vr[o];
    }
  o = seg_total(segs, np_seg);
  for (int j = 0; j < s->n_inputs; j++) {
    suri_graph_set_input_tangent(g, s->inputs[j], vr + o);
    o += segs[np_seg + j].n;
  }
  suri_status st = forward(s, calls) ? suri_graph_jvp(g, np ? vp : NULL) : SURI_ERR_STATE;
  if (st != SURI_OK) {
    set_msg(&r, "jvp failed: %s (%s)", suri_status_name(st), suri_last_error());
    goto done;
  }
  const suri_real *tan = suri_graph_tangent(g, s->out);
  for (int64_t k = 0; k < no; k++) t[k] = tan ? tan[k] : 0.0;
  if (!numeric_jvp(s, calls, segs, ns, x0, v, h, no, u)) {
    set_msg(&r, "forward failed: %s", suri_last_error());
    goto done;
  }
  seg outseg = {.n = no};
  snprintf(outseg.name, sizeof outseg.name, "tangent of node %d", s->out.id);
  compare(&r, "jvp", t, u, no, &outseg, 1, rtol);
  if (r.ok) dot_check(&r, s, calls, sd, t, no, segs, ns, v);
done:
  for (int j = 0; j < s->n_inputs; j++) suri_graph_set_input_tangent(g, s->inputs[j], NULL);
  forward(s, calls);
  free(segs);
  free(sd);
  free(vr);
  free(vp);
  free(x0);
  free(v);
  free(t);
  free(u);
  return r;
}

/* SURI_GC_VERBOSE=1 in the environment prints every check's summary (to see the margins). */
static void report(const char *what, const tu_gc_result *r) {
  if (!r->ok) fail_msg("%s: %s", what, r->msg);
  const char *v = getenv("SURI_GC_VERBOSE");
  if (v && *v && *v != '0') print_message("%s: %s\n", what, r->msg);
}

void tu_gradcheck(const tu_gc_spec *s) {
  tu_gc_result r = tu_gradcheck_run(s);
  report("gradcheck", &r);
}

void tu_jvpcheck(const tu_gc_spec *s) {
  tu_gc_result r = tu_jvpcheck_run(s);
  report("jvpcheck", &r);
}

/* ---- Hessian-vector products ---------------------------------------------------------------
 * tu_hvpcheck_run: H v by suri_graph_hvp (exact, forward-over-reverse) against the central
 * difference of gradients (g(theta + h v) - g(theta - h v)) / (2 h), as a whole vector over
 * every parameter, v ~ N(0, 1). Error of the reference: truncation h^2 |D^3 L[v, v, .]| / 6 and
 * rounding ~K u |g| / h, plus the rounding of theta +- h v to suri_real (u |theta| / h):
 *   double: h = 1e-5: ~2e-11 + ~1e-10 relative; the vector tolerance 1e-7 leaves a margin of
 *           ~1000 while a missing second-order term is an error of order 1;
 *   float:  h = 1e-2: ~2e-5 + ~1e-4 (gradients rounded at ~1e-6 relative); tolerance 1e-2.
 * Then the symmetry u . (H v) = v . (H u) for a second random u, which has no truncation
 * error: both sides are the exact products' sums, held to DOT_TOL of the sum of |terms|. */
static double *grad_at(const tu_gc_spec *s, uint64_t calls, size_t P, const suri_real *x0,
                       const suri_real *v, double step, double *out) {
  for (size_t k = 0; k < P; k++) s->params[k] = (suri_real)((double)x0[k] + step * v[k]);
  int ok = forward(s, calls);
  memset(s->grads, 0, P * sizeof *s->grads);
  ok = ok && suri_graph_backward(s->g, s->out, NULL) == SURI_OK;
  for (size_t k = 0; k < P; k++) out[k] = (double)s->grads[k];
  memcpy(s->params, x0, P * sizeof *x0);
  return ok ? out : NULL;
}

static void hvp_compare(tu_gc_result *r, size_t P, const suri_real *hv, const double *num,
                        double rtol) {
  double d2 = 0, n2 = 0, a2 = 0;
  for (size_t k = 0; k < P; k++) {
    double d = (double)hv[k] - num[k];
    d2 += d * d, n2 += num[k] * num[k], a2 += (double)hv[k] * hv[k];
  }
  r->norm_analytic = sqrt(a2), r->norm_numeric = sqrt(n2);
  r->rel_err = n2 > 0 ? sqrt(d2 / n2) : INFINITY;
  r->checked = (long)P;
  if (!(r->norm_analytic >= ZERO_FLOOR))
    set_msg(r, "H v is ~0 (norm %.3g): the check would prove nothing", r->norm_analytic);
  else if (!(r->rel_err <= rtol))
    set_msg(r, "||Hv - difference|| / ||difference|| = %.3e > %.1e (norms %.4g vs %.4g)",
            r->rel_err, rtol, r->norm_analytic, r->norm_numeric);
  else
    r->ok = 1;
}

tu_gc_result tu_hvpcheck_run(const tu_gc_spec *s) {
  tu_gc_result r;
  memset(&r, 0, sizeof r);
  size_t P = suri_graph_param_count(s->g);
  double h = s->h > 0 ? s->h : TU_HVP_H, rtol = s->rtol > 0 ? s->rtol : TU_HVP_RTOL;
  if (suri_graph_hvp_prepare(s->g, s->out) != SURI_OK) {
    set_msg(&r, "hvp_prepare: %s", suri_last_error());
    return r;
  }
  uint64_t calls = suri_graph_rng_calls(s->g);
  suri_real *x0 = malloc(P * sizeof *x0), *v = malloc(P * sizeof *v), *u = malloc(P * sizeof *u);
  suri_real *hv = malloc(P * sizeof *hv), *hu = malloc(P * sizeof *hu);
  double *gp = malloc(P * sizeof *gp), *gm = malloc(P * sizeof *gm);
  if (!x0 || !v || !u || !hv || !hu || !gp || !gm) {
    set_msg(&r, "out of memory");
    goto done;
  }
  memcpy(x0, s->params, P * sizeof *x0);
  tu_fill_normal(s->seed + 11, P, v, 1.0);
  tu_fill_normal(s->seed + 12, P, u, 1.0);
  if (!forward(s, calls) || suri_graph_hvp(s->g, s->out, v, hv) != SURI_OK ||
      suri_graph_hvp(s->g, s->out, u, hu) != SURI_OK) {
    set_msg(&r, "hvp: %s", suri_last_error());
    goto done;
  }
  if (!grad_at(s, calls, P, x0, v, h, gp) || !grad_at(s, calls, P, x0, v, -h, gm)) {
    set_msg(&r, "gradient: %s", suri_last_error());
    goto done;
  }
  for (size_t k = 0; k < P; k++) gp[k] = (gp[k] - gm[k]) / (2 * h);
  hvp_compare(&r, P, hv, gp, rtol);
  double a = 0, b = 0, scale = 0;
  for (size_t k = 0; k < P; k++) {
    a += (double)u[k] * hv[k], b += (double)v[k] * hu[k];
    scale += fabs((double)u[k] * hv[k]) + fabs((double)v[k] * hu[k]);
  }
  if (r.ok && !(fabs(a - b) <= DOT_TOL * scale)) {
    r.ok = 0;
    set_msg(&r, "symmetry: u.(Hv) = %.12g but v.(Hu) = %.12g", a, b);
  } else if (r.ok) {
    set_msg(&r, "rel err %.3e (||Hv|| %.4g), symmetry %.1e", r.rel_err, r.norm_analytic,
            scale > 0 ? fabs(a - b) / scale : 0.0);
  }
done:
  if (x0) memcpy(s->params, x0, P * sizeof *x0);
  forward(s, calls);
  free(x0), free(v), free(u), free(hv), free(hu), free(gp), free(gm);
  return r;
}

void tu_hvpcheck(const tu_gc_spec *s) {
  tu_gc_result r = tu_hvpcheck_run(s);
  report("hvpcheck", &r);
}
