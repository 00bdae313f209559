/* kernel.c - infinite-width NNGP and NTK kernels of MLPs (Neal 1996; Lee et al. 2018; Jacot,
 * Gabriel & Hongler 2018; Arora et al. 2019), ntk.md section 3, extended to the three
 * parametrizations of suri/nn.h. For layer l = 1..L+1 (L hidden layers, l = L+1 the linear
 * output) with fan-in n_{l-1}:
 *
 *   Chat^0(x, x') = x . x' / n_0,       Chat^l = E_{(u,v) ~ N(0, Sigma^l)}[phi(u) phi(v)]
 *   Sigma^l       = a_l Chat^{l-1} + b_l                         (forward covariance, NNGP)
 *   G_l           = per-layer gradient feature term (below)
 *   Sdot^l        = c_l E[phi'(u) phi'(v)] under Sigma^{l-1}     (l >= 2)
 *   Theta^1 = G_1,  Theta^l = G_l + Sdot^l Theta^{l-1};   NNGP = Sigma^{L+1}, NTK = Theta^{L+1}
 *
 *   ntk:       a = sw2, b = sb2, G_l = sw2 Chat^{l-1} + sb2, c = sw2   (width-free limit)
 *   standard:  a = sw2, b = sb2, G_l = n_{l-1} Chat^{l-1} + 1, c = sw2
 *              (d f / d W = delta h^T without the 1/sqrt(n) factor: the NTK grows ~ width)
 *   meanfield: hidden layers as ntk; output u = (1/M) a . h (M = n_L, no bias):
 *              a = 1/M, b = 0, G = Chat^L / M, c = 1/M        (the NTK shrinks ~ 1/M)
 * delta . delta' -> prod Sdot (mean-field independence of forward and backward weights), and
 * h . h' -> n Chat. The Gaussian moments use closed forms where they exist: relu and leaky relu
 * (arc-cosine kernels of degree 1 and 0, Cho & Saul 2009), erf (Williams 1997:
 * E[erf u erf v] = (2/pi) asin(2 s12 / sqrt((1 + 2 s11)(1 + 2 s22))),
 * E[erf' u erf' v] = (4/pi) det(I + 2 Sigma)^{-1/2}), identity; otherwise 2-D Gauss-Hermite
 * quadrature with u = sqrt(s11) z1, v = sqrt(s22) (c z1 + sqrt(1 - c^2) z2), nodes from the
 * Golub-Welsch eigenproblem of the Hermite Jacobi matrix. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_internal.h"
#include "theory_internal.h"

#define PI 3.14159265358979323846
#define MAX_QUAD 512

typedef struct gh_rule {
  int n;
  double z[MAX_QUAD], w[MAX_QUAD]; /* standard-normal nodes and weights (sum 1) */
} gh_rule;

/* Golub-Welsch: Hermite (weight e^{-x^2}) Jacobi matrix, off-diagonal sqrt(k/2); nodes
 * x_i = eigenvalues, weights sqrt(pi) v_{0i}^2. Standard normal: z = sqrt(2) x, w = v_{0i}^2. */
static suri_status gh_make(int n, gh_rule *r) {
  double *d = calloc((size_t)n, sizeof *d), *e = calloc((size_t)n, sizeof *e);
  double *S = calloc((size_t)n * (size_t)n, sizeof *S);
  suri_status st = SURI_OK;
  if (!d || !e || !S) st = suri_fail(SURI_ERR_NOMEM, "Gauss-Hermite: cannot allocate %d nodes", n);
  for (int k = 1; k < n && !st; k++) e[k - 1] = sqrt(k / 2.0);
  lapack_int info = st ? 0 : LAPACKE_dstev(LAPACK_ROW_MAJOR, 'V', n, d, e, S, n);
  if (!st && info)
    st = suri_fail(SURI_ERR_NUMERIC, "Gauss-Hermite: dstev failed (info %d)", (int)info);
  for (int i = 0; i < n && !st; i++) {
    r->z[i] = sqrt(2.0) * d[i];
    r->w[i] = S[i] * S[i];
  }
  r->n = n;
  free(d), free(e), free(S);
  return st;
}

/* Leaky relu (relu: a = 0) closed forms, non-degenerate covariance. */
static void leaky_moments(double a, double s11, double s12, double s22, double *ef, double *ed) {
  /* theta = angle between the two Gaussians; atan2 of (sqrt(det), s12) instead of acos(rho)
   * because acos is ill-conditioned at rho = 1 (x = x' gives det = 0 and theta = 0 exactly) */
  double sq = sqrt(s11 * s22), det = s11 * s22 - s12 * s12;
  double th = atan2(sqrt(det > 0 ? det : 0), s12), st = sin(th), ct = cos(th);
  double jp = sq * (st + (PI - th) * ct) / (2 * PI); /* E[relu(u) relu(v)] */
  double jm = sq * (st - th * ct) / (2 * PI);        /* E[relu(u) relu(-v)] */
  *ef = (1 + a * a) * jp - 2 * a * jm;
  *ed = ((1 + a * a) * (PI - th) + 2 * a * th) / (2 * PI);
}

static void quad_moments(const gh_rule *r, suri_act act, double slope, double s11, double s12,
                         double s22, double *ef, double *ed) {
  double a = sqrt(s11), b = sqrt(s22), c = (a > 0 && b > 0) ? s12 / (a * b) : 0;
  c = c > 1 ? 1 : c < -1 ? -1 : c;
  double cc = sqrt(1 - c * c), f = 0, d = 0;
  for (int i = 0; i < r->n; i++) {
    double u = a * r->z[i], fu = th_act(act, slope, u), du = th_dact(act, slope, u), sf = 0, sd = 0;
    for (int j = 0; j < r->n; j++) {
      double v = b * (c * r->z[i] + cc * r->z[j]);
      sf += r->w[j] * th_act(act, slope, v);
      sd += r->w[j] * th_dact(act, slope, v);
    }
    f += r->w[i] * fu * sf;
    d += r->w[i] * du * sd;
  }
  *ef = f, *ed = d;
}

static void moments(const gh_rule *r, suri_act act, double slope, double s11, double s12,
                    double s22, double *ef, double *ed) {
  if (act == SURI_ACT_IDENTITY) {
    *ef = s12, *ed = 1;
  } else if (act == SURI_ACT_ERF) {
    double p = (1 + 2 * s11) * (1 + 2 * s22);
    *ef = 2 / PI * asin(fmax(-1.0, fmin(1.0, 2 * s12 / sqrt(p))));
    *ed = 4 / PI / sqrt(fmax(p - 4 * s12 * s12, 1e-300));
  } else if (act == SURI_ACT_RELU || act == SURI_ACT_LEAKY_RELU) {
    double a = act == SURI_ACT_RELU ? 0 : slope;
    if (s11 > 0 && s22 > 0) {
      leaky_moments(a, s11, s12, s22, ef, ed);
    } else { /* a variable that is identically 0: phi(0) = 0, phi'(0) = a (the ops' choice) */
      *ef = 0;
      *ed = (s11 > 0 || s22 > 0) ? a * (1 + a) / 2 : a * a;
    }
  } else {
    quad_moments(r, act, slope, s11, s12, s22, ef, ed);
  }
}

suri_status suri_act_gauss_moments(suri_act act, double leaky_slope, double s11, double s12,
                                   double s22, int quad_nodes, double *e_phi, double *e_dphi) {
  if (act < 0 || act >= SURI_ACT_COUNT)
    return suri_fail(SURI_ERR_ARG, "gauss moments: invalid activation %d", (int)act);
  if (!(s11 >= 0) || !(s22 >= 0) || !(s12 * s12 <= s11 * s22 * (1 + 1e-12) + 1e-300))
    return suri_fail(SURI_ERR_ARG, "gauss moments: [[%g, %g], [%g, %g]] is not a covariance",
                     s11, s12, s12, s22);
  if (quad_nodes == 0) quad_nodes = 64;
  if (quad_nodes < 2 || quad_nodes > MAX_QUAD)
    return suri_fail(SURI_ERR_ARG, "gauss moments: quad_nodes must be in 2..%d (got %d)", MAX_QUAD,
                     quad_nodes);
  gh_rule *r = malloc(sizeof *r);
  if (!r) return suri_fail(SURI_ERR_NOMEM, "gauss moments: out of memory");
  suri_status st = gh_make(quad_nodes, r);
  double ef = 0, ed = 0;
  if (!st) moments(r, act, leaky_slope, s11, s12, s22, &ef, &ed);
  free(r);
  if (st) return st;
  if (e_phi) *e_phi = ef;
  if (e_dphi) *e_dphi = ed;
  return SURI_OK;
}

suri_status suri_kernel_spec_from_model(const suri_model_spec *m, suri_kernel_spec *out) {
  if (!m || !out) return suri_fail(SURI_ERR_ARG, "kernel spec: NULL argument");
  if (m->norm != SURI_NORM_NONE)
    return suri_fail(SURI_ERR_UNSUPPORTED, "kernel: norm=%s has no infinite-width kernel here "
                     "(use norm=none)", suri_norm_name(m->norm));
  memset(out, 0, sizeof *out);
  out->hidden = m->n_widths - 2;
  for (int i = 0; i < m->n_widths - 1; i++) out->width[i] = m->width[i];
  out->act = m->act;
  out->leaky_slope = m->leaky_slope;
  out->sw2 = m->sw2, out->sb2 = m->sb2;
  out->param = m->param;
  out->quad_nodes = 64;
  return SURI_OK;
}

/* ---- recursion ---------------------------------------------------------------------------- */
/* Coefficients of layer l (1..L+1): Sigma^l = a Chat^{l-1} + b, G_l = gm Chat^{l-1} + gb,
 * Sdot^l = c E[phi' phi'] under Sigma^{l-1}. */
typedef struct kr_coef {
  double a, b, gm, gb, c;
} kr_coef;

static kr_coef layer_coef(const suri_kernel_spec *s, int l) {
  double n = (double)s->width[l - 1];
  kr_coef k = {s->sw2, s->sb2, s->sw2, s->sb2, s->sw2};
  if (s->param == SURI_PARAM_STANDARD) {
    k.gm = n, k.gb = 1;
  } else if (s->param == SURI_PARAM_MEANFIELD && l == s->hidden + 1) {
    k.a = k.gm = k.c = 1.0 / n;
    k.b = k.gb = 0;
  }
  return k;
}

/* Sigma^l(x, x) for l = 1..L+1 into diag[l] (diag[0] = Chat^0). */
static void diag_chain(const suri_kernel_spec *s, const gh_rule *r, double chat0, double *diag) {
  double chat = chat0, ed;
  diag[0] = chat0;
  for (int l = 1; l <= s->hidden + 1; l++) {
    kr_coef k = layer_coef(s, l);
    double sig = k.a * chat + k.b;
    diag[l] = sig;
    if (l <= s->hidden) moments(r, s->act, s->leaky_slope, sig, sig, sig, &chat, &ed);
  }
}

static void pair_kernel(const suri_kernel_spec *s, const gh_rule *r, double chat0,
                        const double *dx, const double *dy, double *nngp, double *ntk) {
  double chat = chat0, theta = 0, sig = 0, ed = 0;
  for (int l = 1; l <= s->hidden + 1; l++) {
    kr_coef k = layer_coef(s, l);
    sig = k.a * chat + k.b;
    double G = k.gm * chat + k.gb;
    theta = l == 1 ? G : G + k.c * ed * theta;
    if (l <= s->hidden) moments(r, s->act, s->leaky_slope, dx[l], sig, dy[l], &chat, &ed);
  }
  *nngp = sig, *ntk = theta;
}

static suri_status check_kspec(const suri_kernel_spec *s) {
  if (!s) return suri_fail(SURI_ERR_ARG, "kernel: spec is NULL");
  if (s->hidden < 0 || s->hidden > SURI_MLP_MAX_LAYERS - 1)
    return suri_fail(SURI_ERR_ARG, "kernel: hidden = %d is outside 0..%d", s->hidden,
                     SURI_MLP_MAX_LAYERS - 1);
  if (s->act < 0 || s->act >= SURI_ACT_COUNT)
    return suri_fail(SURI_ERR_ARG, "kernel: invalid activation %d", (int)s->act);
  if (!(s->sw2 >= 0) || !(s->sb2 >= 0) || !isfinite(s->sw2) || !isfinite(s->sb2))
    return suri_fail(SURI_ERR_ARG, "kernel: need finite sw2, sb2 >= 0 (got %g, %g)", s->sw2, s->sb2);
  for (int l = 0; l <= s->hidden; l++) /* hidden widths matter for standard / mean-field only */
    if (s->width[l] < 1 && (l == 0 || s->param != SURI_PARAM_NTK))
      return suri_fail(SURI_ERR_ARG, "kernel: width[%d] = %lld must be >= 1", l,
                       (long long)s->width[l]);
  if (s->quad_nodes < 0 || s->quad_nodes > MAX_QUAD || s->quad_nodes == 1)
    return suri_fail(SURI_ERR_ARG, "kernel: quad_nodes must be 0 (default 64) or 2..%d (got %d)",
                     MAX_QUAD, s->quad_nodes);
  return SURI_OK;
}

static double sq_over(int64_t n0, const suri_real *a, const suri_real *b) {
  double s = 0;
  for (int64_t i = 0; i < n0; i++) s += (double)a[i] * (double)b[i];
  return s / (double)n0;
}

suri_status suri_kernel_infinite(const suri_kernel_spec *s, int64_t n1, const suri_real *x1,
                                 int64_t n2, const suri_real *x2, double *nngp, double *ntk) {
  suri_status st = check_kspec(s);
  if (st) return st;
  if (!x1 || n1 < 1 || (x2 && n2 < 1))
    return suri_fail(SURI_ERR_ARG, "kernel: need x1 with n1 >= 1 (and n2 >= 1 with x2)");
  int sym = x2 == NULL;
  if (sym) x2 = x1, n2 = n1;
  int64_t n0 = s->width[0], D = s->hidden + 2;
  gh_rule *r = malloc(sizeof *r);
  double *d1 = malloc((size_t)(n1 * D) * sizeof *d1), *d2 = malloc((size_t)(n2 * D) * sizeof *d2);
  if (!r || !d1 || !d2) st = suri_fail(SURI_ERR_NOMEM, "kernel: out of memory");
  if (!st) st = gh_make(s->quad_nodes ? s->quad_nodes : 64, r);
  for (int64_t i = 0; i < n1 && !st; i++)
    diag_chain(s, r, sq_over(n0, x1 + i * n0, x1 + i * n0), d1 + i * D);
  for (int64_t j = 0; j < n2 && !st; j++)
    diag_chain(s, r, sq_over(n0, x2 + j * n0, x2 + j * n0), d2 + j * D);
  for (int64_t i = 0; i < n1 && !st; i++)
    for (int64_t j = sym ? i : 0; j < n2; j++) {
      double kg, kt;
      pair_kernel(s, r, sq_over(n0, x1 + i * n0, x2 + j * n0), d1 + i * D, d2 + j * D, &kg, &kt);
      if (nngp) nngp[i * n2 + j] = kg;
      if (ntk) ntk[i * n2 + j] = kt;
      if (sym && nngp) nngp[j * n2 + i] = kg;
      if (sym && ntk) ntk[j * n2 + i] = kt;
    }
  free(r), free(d1), free(d2);
  return st;
}
