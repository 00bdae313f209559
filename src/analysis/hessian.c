/* hessian.c - Hessian-vector products of the model's mean loss over a data set,
 *   L(theta) = (1/N) sum_t loss_t(theta).
 *
 * Exact (the default wherever every op has a second-order rule): per chunk of b rows, the
 * graph's forward-over-reverse product (Pearlmutter 1994, src/graph/hvp.c) of the chunk's mean
 * loss, H_chunk v, summed in double with weight b/N. No step, no truncation: on ReLU networks
 * this is the almost-everywhere Hessian of autograd's double backward. With the data in one
 * chunk (eval mode) the forward pass and the node gradients are computed once and reused while
 * the graph provably still holds them: the forward cache of curvature.c (inputs, parameters and
 * outputs unchanged) and no graph pass since this operator's last product (suri_graph_pass_count;
 * another operator's pass, e.g. one that loaded other labels, runs a forward first). Each
 * further product then costs one jvp and the tangent sweep.
 *
 * Central difference (hess_method = SURI_HESS_DIFF, and graphs with an op lacking the rule:
 * batch_norm, layer_norm), fisher_statistics.md section 7:
 *
 *   H v ~ (g(theta + eps v) - g(theta - eps v)) / (2 eps),   eps = c ||theta_A|| / ||v||,
 *
 * theta_A = the active (restricted) parameters: the section 7 form, so the perturbation is the
 * fraction c of the parameter norm whatever the scale of v. Error model: truncation
 * (eps^2 / 6) ||D^3 L[v, v, .]|| is O(c^2) relative, rounding ~ u_g / c with u_g the relative
 * rounding of a computed gradient; the optimum is near c ~ u_g^(1/3). Double builds use
 * c = 1e-5 instead of section 7's 1e-4: against PyTorch's double-backward Hessian-vector
 * products (tests/test_analysis_golden.c) the relative error was 3e-8 at c = 1e-4 (pure
 * truncation, falling as c^2), 2e-10..4e-10 at 1e-5 and 3e-11..6e-11 at 3e-6; 1e-5 keeps a wide
 * margin over rounding for larger nets. Float builds (gradients rounded at ~1e-7..1e-6, and the
 * perturbed parameters themselves at 6e-8) use c = 3e-4: the truncation constant differs by
 * ~300x between nets, so no single c is optimal everywhere, and 3e-4 bounds both measured cases:
 * the tiny golden nets 1e-4..1.5e-4 (optimum 3e-3: 1.5e-5..4e-5; rounding dominates below), and
 * lambda_max of mlp:784-256-256-10,act=tanh on 512 mnist digits 4.6e-5 low (c = 3e-3: 4.4e-3,
 * c = 1e-3: 5.1e-4, 1e-4: 5.3e-6, 3e-5: 1e-7; truncation dominates down to there; the
 * float64 PyTorch double-backward value as reference; docs/analysis.md section 2.3).
 * Gradients of each chunk are summed in double with
 * weight b/N. The parameters are restored bit for bit afterwards (a saved copy, not a
 * subtraction), also on failure. Kinks (relu) make the difference one-sided where a
 * pre-activation lies within eps |v| of 0; smooth activations avoid that. */
#include <math.h>
#include <string.h>

#include "curvature_internal.h"

#ifdef SURI_REAL_DOUBLE
#define HESS_C_DEFAULT 1e-5
#else
#define HESS_C_DEFAULT 3e-4
#endif

/* acc (flat, active entries) = gradient of the mean loss over the whole data set. */
static suri_status full_grad(suri_curv *c, double *acc) {
  memset(acc, 0, c->P * sizeof *acc);
  suri_status st = SURI_OK;
  for (int64_t i0 = 0, ch = 0; i0 < c->d.n && !st; i0 += c->B, ch++) {
    int64_t b = c->d.n - i0 < c->B ? c->d.n - i0 : c->B;
    curv_chunk_mode(c, ch);
    st = an_load_chunk(c->m, &c->d, i0, b, c->lab, c->tgt);
    if (!st) st = suri_graph_forward(c->g);
    if (st) break;
    memset(suri_model_grads(c->m), 0, c->P * sizeof(suri_real));
    st = suri_graph_backward(c->g, suri_model_loss(c->m), NULL);
    if (!st) curv_add_grads(c, (double)b / (double)c->d.n, acc);
  }
  return st;
}

/* params[active] = theta0 + s v (rounded once from double). */
static void set_shifted(suri_curv *c, double s, const double *v) {
  suri_real *p = suri_model_params(c->m);
  for (int r = 0; r < c->n_ranges; r++)
    for (size_t i = 0; i < c->ranges[r].len; i++) {
      size_t o = c->ranges[r].offset + i;
      p[o] = (suri_real)((double)c->theta0[o] + s * v[o]);
    }
}

/* out (flat, active entries) = exact H v over all chunks. */
static suri_status apply_exact(suri_curv *c, const double *v, double *out) {
  curv_load_tangent(c, v);
  suri_status st = SURI_OK;
  curv_begin(c);
  for (int64_t i0 = 0, ch = 0; i0 < c->d.n && !st; i0 += c->B, ch++) {
    int64_t b = c->d.n - i0 < c->B ? c->d.n - i0 : c->B;
    curv_chunk_mode(c, ch);
    if (suri_graph_pass_count(c->g) != c->hpass) c->cache_ok = 0; /* someone else ran a pass */
    st = jmj_forward(c, i0, b);
    memset(suri_model_grads(c->m), 0, c->P * sizeof(suri_real)); /* hvp may add the gradient */
    if (!st) st = suri_graph_hvp(c->g, suri_model_loss(c->m), c->tan, c->hvr);
    if (st) break;
    c->hpass = suri_graph_pass_count(c->g);
    double w = (double)b / (double)c->d.n;
    for (int r = 0; r < c->n_ranges; r++)
      for (size_t i = 0; i < c->ranges[r].len; i++) {
        size_t o = c->ranges[r].offset + i;
        c->acc[o] += w * (double)c->hvr[o];
      }
  }
  curv_end(c);
  if (st) return st;
  memset(out, 0, c->P * sizeof *out);
  for (int r = 0; r < c->n_ranges; r++)
    memcpy(out + c->ranges[r].offset, c->acc + c->ranges[r].offset,
           c->ranges[r].len * sizeof *out);
  return SURI_OK;
}

suri_status curv_apply_hessian(suri_curv *c, const double *v, double *out) {
  c->last_eps = 0;
  if (c->hess_exact) {
    double nv = 0;
    for (int r = 0; r < c->n_ranges; r++)
      nv += an_dot((int64_t)c->ranges[r].len, v + c->ranges[r].offset, v + c->ranges[r].offset);
    if (!isfinite(nv)) {
      memset(out, 0, c->P * sizeof *out);
      return suri_fail(SURI_ERR_NUMERIC, "hessian: the vector has NaN/Inf entries");
    }
    return apply_exact(c, v, out);
  }
  suri_real *p = suri_model_params(c->m);
  double nv = 0, nt = 0;
  for (int r = 0; r < c->n_ranges; r++)
    for (size_t i = 0; i < c->ranges[r].len; i++) {
      size_t o = c->ranges[r].offset + i;
      nv += v[o] * v[o];
      nt += (double)p[o] * (double)p[o];
    }
  memset(out, 0, c->P * sizeof *out);
  c->last_eps = 0;
  if (!isfinite(nv)) return suri_fail(SURI_ERR_NUMERIC, "hessian: the vector has NaN/Inf entries");
  if (nv == 0) return SURI_OK;
  double rel = c->o.hess_eps > 0 ? c->o.hess_eps : HESS_C_DEFAULT;
  double eps = rel * (nt > 0 ? sqrt(nt) : 1.0) / sqrt(nv);
  memcpy(c->theta0, p, c->P * sizeof *p);
  curv_begin(c);
  set_shifted(c, eps, v);
  suri_status st = full_grad(c, c->acc);
  if (!st) {
    set_shifted(c, -eps, v);
    st = full_grad(c, c->gm);
  }
  memcpy(p, c->theta0, c->P * sizeof *p); /* exact restore, whatever happened */
  curv_end(c);
  if (st) return st;
  c->last_eps = eps;
  double inv = 1.0 / (2.0 * eps);
  for (int r = 0; r < c->n_ranges; r++)
    for (size_t i = 0; i < c->ranges[r].len; i++) {
      size_t o = c->ranges[r].offset + i;
      out[o] = (c->acc[o] - c->gm[o]) * inv;
    }
  return SURI_OK;
}
