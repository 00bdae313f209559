/* factored.c - the empirical Fisher of a network whose active parameters are all dense-layer
 * weights and biases, from per-layer factors computed once (data in one chunk, eval mode).
 *
 * The per-sample gradient g_t = J_t^T r_t (r_t = d NLL / d f, observed label) restricted to
 * dense layer l (u_l = s_w W_l h_{l-1} + s_b b_l) is
 *   dW_l = s_w d_{l,t} h_{l-1,t}^T,   db_l = s_b d_{l,t},   d_{l,t} = d (r_t . f_t) / d u_{l,t},
 * so one forward pass and one backward pass seeded with the rows r_t give every factor:
 * H_l (n, in) the layer inputs, D_l (n, out) the rows d_{l,t} (Kunstner, Balles & Hennig 2019,
 * and the per-layer Gram trick of the empirical NTK, ntk.c). Then, for E = (1/n) sum g_t g_t^T,
 *   (g_t . v) = sum_l D_l[t] . (s_w (H_l V_l^T)[t] + s_b b_v,l)          (one GEMM per layer)
 *   E v |_W_l = s_w D_l^T diag(q) H_l,  E v |_b_l = s_b D_l^T q,  q_t = (g_t . v) / n,
 * two GEMMs per layer and product (550 MFLOP for mlp:784-256-256-10 on 512 samples) instead of
 * a jvp and a backward pass through the graph (690 MFLOP plus the activation and mask work).
 * The same numbers as the jvp path up to rounding (tests/test_analysis_cache.c compares them);
 * the factors are recomputed when the parameters change. Anything else active (norm-layer gamma
 * and beta) keeps the jvp path, which handles every layer kind. */
#include <string.h>

#include <cblas.h>

#include "curvature_internal.h"
#include "suri/linalg.h"

/* Compact index of flat offset `flat`, or -1 if it is not active. */
static int64_t compact_index(const suri_curv *c, size_t flat) {
  int64_t k = 0;
  for (int r = 0; r < c->n_ranges; r++) {
    if (flat >= c->ranges[r].offset && flat < c->ranges[r].offset + c->ranges[r].len)
      return k + (int64_t)(flat - c->ranges[r].offset);
    k += (int64_t)c->ranges[r].len;
  }
  return -1;
}

suri_status curv_factored_setup(suri_curv *c) {
  c->fac_on = 0, c->n_fac = 0;
  if (c->o.kind != SURI_CURV_FISHER_EMP || !c->cache_on) return SURI_OK;
  int64_t covered = 0, sum_in = 0, sum_out = 0, max_out = 0, max_w = 0, n = c->d.n;
  for (int l = 0; l < suri_model_layer_count(c->m); l++) {
    const suri_layer *ly = suri_model_layer(c->m, l);
    int64_t wk = compact_index(c, ly->w_offset);
    if (wk < 0) continue; /* another layer of a per-layer restriction */
    struct curv_factor *f = &c->fac[c->n_fac++];
    f->ly = ly, f->wk = wk;
    f->bk = ly->b_offset != SIZE_MAX ? compact_index(c, ly->b_offset) : -1;
    covered += ly->in * ly->out + (f->bk >= 0 ? ly->out : 0);
    sum_in += ly->in, sum_out += ly->out;
    max_out = ly->out > max_out ? ly->out : max_out;
    max_w = ly->in * ly->out > max_w ? ly->in * ly->out : max_w;
  }
  if (covered != c->dim || c->n_fac == 0) { /* other active parameters: the jvp path */
    c->n_fac = 0;
    return SURI_OK;
  }
  size_t count = (size_t)(n * (sum_in + sum_out + max_out) + max_w);
  /* Keep the operator's work memory within 8 P doubles (what `suri analyze` budgets for it,
   * cli/analyze_memory.c): 3 P doubles of flat vectors and 2 P reals of tangent and parameter
   * snapshot are there already. 784-256-256-10 on 512 samples: 1.26 M values against
   * P = 269,322, so float builds take this path, double builds (limit 3 P) the jvp one. */
  double P = (double)c->P, room = 8.0 * 8.0 * P - 3.0 * 8.0 * P - 2.0 * sizeof(suri_real) * P;
  if ((double)count * sizeof(suri_real) > room) {
    c->n_fac = 0;
    return SURI_OK;
  }
  c->fac_mem = suri_calloc(count, sizeof *c->fac_mem);
  c->fac_u = suri_calloc((size_t)n, sizeof *c->fac_u);
  if (!c->fac_mem || !c->fac_u)
    return suri_fail(SURI_ERR_NOMEM, "analysis: cannot allocate the empirical Fisher's layer "
                     "factors (%zu values)", count);
  suri_real *p = c->fac_mem;
  for (int i = 0; i < c->n_fac; i++) {
    c->fac[i].H = p, p += n * c->fac[i].ly->in;
    c->fac[i].D = p, p += n * c->fac[i].ly->out;
  }
  c->fac_T = p, p += n * max_out;
  c->fac_V = p;
  c->fac_on = 1;
  return SURI_OK;
}

/* Forward pass (cached when valid), r_t rows as the seed, one backward pass; H_l and D_l copied
 * out of the graph. */
static suri_status factors_compute(suri_curv *c) {
  int64_t n = c->d.n, C = c->C;
  curv_begin(c);
  curv_chunk_mode(c, 0);
  suri_status st = jmj_forward(c, 0, n);
  if (!st) {
    double *r = c->wbig, *w = c->wbig + C;
    for (int64_t t = 0; t < n; t++) {
      curv_emp_residual(c, t, t, r, w);
      for (int64_t k = 0; k < C; k++) c->seed[t * C + k] = (suri_real)r[k];
    }
    memset(suri_model_grads(c->m), 0, c->P * sizeof(suri_real));
    st = suri_graph_backward(c->g, suri_model_output(c->m), c->seed);
  }
  for (int i = 0; i < c->n_fac && !st; i++) {
    const suri_layer *ly = c->fac[i].ly;
    size_t hb = (size_t)(n * ly->in) * sizeof(suri_real);
    size_t db = (size_t)(n * ly->out) * sizeof(suri_real);
    memcpy(c->fac[i].H, suri_graph_value(c->g, ly->input), hb);
    memcpy(c->fac[i].D, suri_graph_grad(c->g, ly->preact), db);
  }
  curv_end(c);
  c->fac_ok = !st;
  return st;
}

/* u[t] += g_t . v restricted to factor f. */
static void factor_dot(suri_curv *c, const struct curv_factor *f, const double *v, double *u) {
  const suri_layer *ly = f->ly;
  int64_t n = c->d.n, in = ly->in, out = ly->out;
  suri_real *V = c->fac_V, *T = c->fac_T;
  for (int64_t i = 0; i < in * out; i++) V[i] = (suri_real)v[f->wk + i];
  /* T (n, out) = H (n, in) V^T */
  suri_gemm(0, 1, n, out, in, 1, f->H, in, V, in, 0, T, out);
  /* T row t <- s_w T[t] + s_b b_v (the pre-activation tangent), then its dot with D[t] in
   * double by BLAS (a C loop would run one latency-bound addition at a time) */
  suri_real *bs = V; /* V is free now: (out) scaled bias tangent */
  for (int64_t o = 0; o < out; o++)
    bs[o] = f->bk >= 0 ? (suri_real)(ly->scale_b * v[f->bk + o]) : 0;
  suri_real sw = (suri_real)ly->scale_w;
  for (int64_t t = 0; t < n; t++) {
    suri_real *tr = T + t * out;
    for (int64_t o = 0; o < out; o++) tr[o] = sw * tr[o] + bs[o];
#ifdef SURI_REAL_DOUBLE
    u[t] += cblas_ddot((blasint)out, f->D + t * out, 1, tr, 1);
#else
    u[t] += cblas_dsdot((blasint)out, f->D + t * out, 1, tr, 1);
#endif
  }
}

/* out (compact) restricted to factor f = s_w D^T diag(q) H and s_b D^T q. */
static void factor_back(suri_curv *c, const struct curv_factor *f, const double *q, double *out) {
  const suri_layer *ly = f->ly;
  int64_t n = c->d.n, in = ly->in, o_n = ly->out;
  suri_real *Dq = c->fac_T, *W = c->fac_V;
  for (int64_t t = 0; t < n; t++)
    for (int64_t o = 0; o < o_n; o++)
      Dq[t * o_n + o] = (suri_real)((double)f->D[t * o_n + o] * q[t]);
  /* W (out, in) = s_w Dq^T (out, n) H (n, in) */
  suri_gemm(1, 0, o_n, in, n, (suri_real)ly->scale_w, Dq, o_n, f->H, in, 0, W, in);
  for (int64_t i = 0; i < in * o_n; i++) out[f->wk + i] = (double)W[i];
  if (f->bk < 0) return;
  /* b (out) = s_b sum_t Dq[t]: row order, independent sums per output (vectorisable) */
  double *ob = out + f->bk;
  memset(ob, 0, (size_t)o_n * sizeof *ob);
  for (int64_t t = 0; t < n; t++)
    for (int64_t o = 0; o < o_n; o++) ob[o] += (double)f->D[t * o_n + o] * q[t];
  for (int64_t o = 0; o < o_n; o++) ob[o] *= ly->scale_b;
}

suri_status curv_factored_apply(suri_curv *c, const double *v, double *out) {
  if (!c->fac_ok || memcmp(suri_model_params(c->m), c->psnap, c->P * sizeof *c->psnap)) {
    suri_status st = factors_compute(c);
    if (st) return st;
  }
  int64_t n = c->d.n;
  double *u = c->fac_u;
  memset(u, 0, (size_t)n * sizeof *u);
  for (int i = 0; i < c->n_fac; i++) factor_dot(c, &c->fac[i], v, u);
  for (int64_t t = 0; t < n; t++) u[t] /= (double)n;
  for (int i = 0; i < c->n_fac; i++) factor_back(c, &c->fac[i], u, out);
  c->applications++;
  return SURI_OK;
}
