/* theory.c - mean-field Fisher statistics of a random MLP from its spec
 * (docs/algorithms/fisher_statistics.md; Karakida, Akaho & Amari, AISTATS 2019 and NeurIPS 2019;
 * the forward recursion of Poole et al. 2016 and Schoenholz et al. 2017).
 *
 * Layer l = 1..L computes u^l = s_l W^l h^{l-1} + s_b,l b^l (suri/nn.h). With the per-entry
 * variance v_l of the effective weights s_l W^l, define per layer
 *   gain g_l = M_{l-1} v_l      (standard, ntk: sw2; mean-field output 1/M_{L-1})
 *   bias c_l = s_b^2 Var b      (standard, ntk: sb2; mean-field output 0)
 *   gradient factors a_l = s_l^2 M_{l-1} and b_l = s_b^2 [trainable bias], from
 *   d f / d W^l = s_l delta^l h^{l-1 T}, so |d f/d W^l|^2 = a_l qhat^{l-1} qtil^l:
 *     standard a = M_{l-1}, b = 1;  ntk a = sw2, b = sb2;  mean-field output a = 1/M_{L-1}, b = 0.
 * Forward (unit averages; qhat^0 = the input statistics):
 *   q_i^l = g_l qhat_i^{l-1} + c_l,  qhat_1^l = E phi(u)^2,  qhat_2^l = E phi(u) phi(u')
 * Backward (sums over units, one output k):
 *   qtil_i^L = 1,  qtil_i^{l-1} = g_l chi_i^{l-1} qtil_i^l,  chi_1 = E phi'^2, chi_2 = E phi' phi'
 * Per-output Gram entries (= grad f_k(x) . grad f_k(x') in expectation):
 *   gram_i = sum_l (a_l qhat_i^{l-1} + b_l) qtil_i^l
 * Standard parametrization: kappa_i = sum_l (alpha_{l-1}/alpha) qhat_i^{l-1} qtil_i^l (the
 * leading part of gram_i / (alpha M)); other parametrizations: kappa_i = gram_i / (alpha M), so
 * the same formulas give the Gram-based predictions. The nonzero eigenvalues of F_T are those of
 * the (C T, C T) Gram / T, per output (gram1 - gram2) I + gram2 1 1^T to leading order, hence
 *   m = C kappa1 / M,  s = C alpha (kappa2^2 + (kappa1^2 - kappa2^2)/T),
 *   lambda_max = alpha (kappa2 + (kappa1 - kappa2)/T) M,  centred: alpha (kappa1 - kappa2) M / T.
 *
 * Gaussian moments: closed forms (relu, leaky relu, erf, identity) via suri_act_gauss_moments;
 * otherwise quadrature that stays exact for kinks at 0:
 *   1-D: E h(z) = (1/sqrt(pi)) int_0^inf t^{-1/2} e^{-t} (h(r) + h(-r))/2 dt, r = sqrt(2 t)
 *        (generalised Gauss-Laguerre; h(r) + h(-r) is a polynomial in t for relu-type h);
 *   2-D: z = r (cos t, sin t): E g = (1/2 pi) int_0^pi dt int_0^inf e^{-s} (G(r) + G(-r)) ds,
 *        r = sqrt(2 s), with u = sqrt(q1) r cos t, u' = sqrt(q1) r cos(t - t0), cos t0 = q2/q1.
 *        The angle range is split where u or u' changes sign (t = pi/2, t0 + pi/2 mod pi), so
 *        each piece is smooth in the angle (Gauss-Legendre) and the radial part of a
 *        piecewise-linear activation is a polynomial in s (Gauss-Laguerre). Plain 2-D
 *        Gauss-Hermite converges only algebraically across the kink. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suri/analysis.h"
#include "theory_internal.h"

#define PI 3.14159265358979323846
#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* ---- quadrature rules (Golub-Welsch) ------------------------------------------------------ */
/* Nodes = eigenvalues of the Jacobi matrix (diag d, off-diagonal e), weights = mu0 v_0i^2. */
static suri_status golub_welsch(int n, double *d, double *e, double mu0, double *x, double *w) {
  double *Z = malloc((size_t)n * (size_t)n * sizeof *Z);
  if (!Z) return suri_fail(SURI_ERR_NOMEM, "theory: cannot allocate a %d-node rule", n);
  lapack_int info = LAPACKE_dstev(LAPACK_ROW_MAJOR, 'V', n, d, e, Z, n);
  if (info) {
    free(Z);
    return suri_fail(SURI_ERR_NUMERIC, "theory: quadrature eigenproblem failed (dstev info %d)",
                     (int)info);
  }
  for (int i = 0; i < n; i++) x[i] = d[i], w[i] = mu0 * Z[i] * Z[i]; /* row 0, column i */
  free(Z);
  return SURI_OK;
}

/* kind 0: Legendre; 1: Laguerre alpha = 0; 2: Laguerre alpha = -1/2 (normalised to sum 1). */
static suri_status make_rule(int kind, int n, double *x, double *w) {
  double *d = calloc((size_t)n, sizeof *d), *e = calloc((size_t)n, sizeof *e);
  if (!d || !e) {
    free(d), free(e);
    return suri_fail(SURI_ERR_NOMEM, "theory: cannot allocate a %d-node rule", n);
  }
  double a = kind == 2 ? -0.5 : 0.0;
  for (int k = 0; k < n; k++) {
    d[k] = kind == 0 ? 0.0 : 2.0 * k + 1.0 + a;
    int j = k + 1; /* off-diagonal entry between k and k + 1 */
    if (j < n) e[k] = kind == 0 ? j / sqrt(4.0 * j * j - 1.0) : sqrt(j * (j + a));
  }
  suri_status st = golub_welsch(n, d, e, kind == 0 ? 2.0 : 1.0, x, w);
  free(d), free(e);
  return st;
}

suri_status th_rules_make(int n, th_rules *r) {
  memset(r, 0, sizeof *r);
  r->n = n;
  double *buf = malloc(6 * (size_t)n * sizeof *buf);
  if (!buf) return suri_fail(SURI_ERR_NOMEM, "theory: cannot allocate quadrature rules");
  r->leg_x = buf, r->leg_w = buf + n, r->lag_x = buf + 2 * n, r->lag_w = buf + 3 * n;
  r->lagh_x = buf + 4 * n, r->lagh_w = buf + 5 * n;
  suri_status st = make_rule(0, n, r->leg_x, r->leg_w);
  if (!st) st = make_rule(1, n, r->lag_x, r->lag_w);
  if (!st) st = make_rule(2, n, r->lagh_x, r->lagh_w);
  if (st) th_rules_free(r);
  return st;
}

void th_rules_free(th_rules *r) {
  if (r) free(r->leg_x);
  if (r) memset(r, 0, sizeof *r);
}

/* ---- activations (as src/ops/activation.c computes them) ---------------------------------- */
double th_act(suri_act a, double slope, double x) {
  switch (a) {
  case SURI_ACT_RELU: return x > 0 ? x : 0;
  case SURI_ACT_LEAKY_RELU: return x > 0 ? x : slope * x;
  case SURI_ACT_TANH: return tanh(x);
  case SURI_ACT_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
  case SURI_ACT_GELU: return x * 0.5 * (1 + erf(x * INV_SQRT2));
  case SURI_ACT_ERF: return erf(x);
  case SURI_ACT_SOFTPLUS: return (x > 0 ? x : 0) + log1p(exp(-fabs(x)));
  default: return x;
  }
}

double th_dact(suri_act a, double slope, double x) {
  switch (a) {
  case SURI_ACT_RELU: return x > 0 ? 1 : 0;
  case SURI_ACT_LEAKY_RELU: return x > 0 ? 1 : slope;
  case SURI_ACT_TANH: return 1 - tanh(x) * tanh(x);
  case SURI_ACT_SIGMOID: {
    double s = th_act(SURI_ACT_SIGMOID, 0, x);
    return s * (1 - s);
  }
  case SURI_ACT_GELU: return 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x);
  case SURI_ACT_ERF: return 2.0 / sqrt(PI) * exp(-x * x);
  case SURI_ACT_SOFTPLUS: return th_act(SURI_ACT_SIGMOID, 0, x);
  default: return 1;
  }
}

/* ---- Gaussian moments ----------------------------------------------------------------------- */
double th_expect1(const th_rules *r, double q, th_fn h, const void *ctx) {
  double a = sqrt(q > 0 ? q : 0), s = 0;
  for (int i = 0; i < r->n; i++) {
    double z = a * sqrt(2.0 * r->lagh_x[i]);
    s += r->lagh_w[i] * 0.5 * (h(ctx, z) + h(ctx, -z));
  }
  return s;
}

typedef struct act_ctx {
  suri_act act;
  double slope;
} act_ctx;

static double sq_phi(const void *c, double x) {
  const act_ctx *a = c;
  double f = th_act(a->act, a->slope, x);
  return f * f;
}

static double sq_dphi(const void *c, double x) {
  const act_ctx *a = c;
  double f = th_dact(a->act, a->slope, x);
  return f * f;
}

/* E phi(u) phi(u') and E phi'(u) phi'(u') by the split polar rule (header comment). */
static void quad_pair(const th_rules *r, suri_act act, double slope, double q1, double q2,
                      double *ef, double *ed) {
  double a = sqrt(q1 > 0 ? q1 : 0), c = q1 > 0 ? q2 / q1 : 1.0;
  c = c > 1 ? 1 : c < -1 ? -1 : c;
  double t0 = atan2(sqrt(1 - c * c), c), kink = t0 + PI / 2;
  if (kink >= PI) kink -= PI;
  double br[4] = {0, PI / 2, kink, PI};
  if (br[2] < br[1]) br[2] = br[1], br[1] = kink;
  double sf = 0, sd = 0;
  for (int p = 0; p < 3; p++) {
    double lo = br[p], hi = br[p + 1], mid = 0.5 * (lo + hi), half = 0.5 * (hi - lo);
    if (!(half > 1e-15)) continue;
    for (int j = 0; j < r->n; j++) {
      double th = mid + half * r->leg_x[j], cu = a * cos(th), cv = a * cos(th - t0);
      double pf = 0, pd = 0;
      for (int i = 0; i < r->n; i++) {
        double rr = sqrt(2.0 * r->lag_x[i]), w = r->lag_w[i];
        pf += w * (th_act(act, slope, rr * cu) * th_act(act, slope, rr * cv) +
                   th_act(act, slope, -rr * cu) * th_act(act, slope, -rr * cv));
        pd += w * (th_dact(act, slope, rr * cu) * th_dact(act, slope, rr * cv) +
                   th_dact(act, slope, -rr * cu) * th_dact(act, slope, -rr * cv));
      }
      sf += half * r->leg_w[j] * pf;
      sd += half * r->leg_w[j] * pd;
    }
  }
  *ef = sf / (2 * PI), *ed = sd / (2 * PI);
}

static int has_closed_form(suri_act a) {
  return a == SURI_ACT_RELU || a == SURI_ACT_LEAKY_RELU || a == SURI_ACT_ERF ||
         a == SURI_ACT_IDENTITY;
}

/* m[0..3] = E phi^2, E phi phi', E phi'^2, E phi' phi'' (suri_theory_act_moments). */
static suri_status moments(const th_rules *r, suri_act act, double slope, double q1, double q2,
                           int quadrature, double m[4]) {
  if (!quadrature && has_closed_form(act)) {
    /* the closed forms ignore the node count; 8 keeps the unused rule it builds cheap */
    suri_status st = suri_act_gauss_moments(act, slope, q1, q1, q1, 8, &m[0], &m[2]);
    if (!st) st = suri_act_gauss_moments(act, slope, q1, q2, q1, 8, &m[1], &m[3]);
    return st;
  }
  act_ctx c = {act, slope};
  m[0] = th_expect1(r, q1, sq_phi, &c);
  m[2] = th_expect1(r, q1, sq_dphi, &c);
  quad_pair(r, act, slope, q1, q2, &m[1], &m[3]);
  return SURI_OK;
}

static suri_status check_nodes(int *n) {
  if (*n == 0) *n = 64;
  if (*n < 2 || *n > TH_MAX_NODES)
    return suri_fail(SURI_ERR_ARG, "theory: quad_nodes must be 0 (default 64) or 2..%d (got %d)",
                     TH_MAX_NODES, *n);
  return SURI_OK;
}

suri_status suri_theory_act_moments(suri_act act, double leaky_slope, double q1, double q2,
                                    int quad_nodes, int quadrature, double m[4]) {
  if (act < 0 || act >= SURI_ACT_COUNT)
    return suri_fail(SURI_ERR_ARG, "theory: invalid activation %d", (int)act);
  if (!m) return suri_fail(SURI_ERR_ARG, "theory: moments output is NULL");
  if (!isfinite(q1) || !isfinite(q2) || !(q1 >= 0) || !(fabs(q2) <= q1 * (1 + 1e-12)))
    return suri_fail(SURI_ERR_ARG, "theory: need q1 >= 0 and |q2| <= q1 (got q1 = %g, q2 = %g)",
                     q1, q2);
  suri_status st = check_nodes(&quad_nodes);
  if (st) return st;
  th_rules r;
  if ((st = th_rules_make(quad_nodes, &r))) return st;
  st = moments(&r, act, leaky_slope, q1, q2, quadrature, m);
  th_rules_free(&r);
  return st;
}

/* ---- the recursion ------------------------------------------------------------------------ */
suri_theory_opts suri_theory_defaults(void) {
  suri_theory_opts o = {1.0, 0.0, 64};
  return o;
}

static suri_status check_spec(const suri_model_spec *s, int64_t T, const suri_theory_opts *o) {
  if (!s) return suri_fail(SURI_ERR_ARG, "theory: spec is NULL");
  if (s->n_widths < 2 || s->n_widths > SURI_MLP_MAX_LAYERS + 1)
    return suri_fail(SURI_ERR_ARG, "theory: spec has %d widths (need 2..%d)", s->n_widths,
                     SURI_MLP_MAX_LAYERS + 1);
  if (s->n_widths < 3)
    return suri_fail(SURI_ERR_UNSUPPORTED, "theory: the spec has no hidden layer (mlp:%lld-%lld); "
                     "the mean-field Fisher statistics need at least one wide hidden layer",
                     (long long)s->width[0], (long long)s->width[1]);
  if (s->norm == SURI_NORM_BATCH || s->norm == SURI_NORM_LAYER)
    return suri_fail(SURI_ERR_UNSUPPORTED, "theory: norm=%s (normalisation in the hidden layers) "
                     "has no mean-field Fisher prediction here; supported: norm=none, "
                     "norm=lastbatch", suri_norm_name(s->norm));
  if (s->act < 0 || s->act >= SURI_ACT_COUNT)
    return suri_fail(SURI_ERR_ARG, "theory: invalid activation %d", (int)s->act);
  for (int l = 0; l < s->n_widths; l++)
    if (s->width[l] < 1)
      return suri_fail(SURI_ERR_ARG, "theory: width[%d] = %lld must be >= 1", l,
                       (long long)s->width[l]);
  if (!isfinite(s->sw2) || !isfinite(s->sb2) || !(s->sw2 >= 0) || !(s->sb2 >= 0))
    return suri_fail(SURI_ERR_ARG, "theory: need finite sw2, sb2 >= 0 (got %g, %g)", s->sw2, s->sb2);
  if (T < 0) return suri_fail(SURI_ERR_ARG, "theory: T = %lld samples must be >= 0 (0 = true "
                              "Fisher)", (long long)T);
  if (!isfinite(o->input_q1) || !isfinite(o->input_q2) || !(o->input_q1 >= 0) ||
      !(fabs(o->input_q2) <= o->input_q1))
    return suri_fail(SURI_ERR_ARG, "theory: input statistics need q1 >= 0 and |q2| <= q1 (got "
                     "input_q1 = %g, input_q2 = %g)", o->input_q1, o->input_q2);
  return SURI_OK;
}

/* Per-layer coefficients (header comment): gain, bias variance, gradient factors. */
typedef struct th_layer {
  double g, c, a, b;
} th_layer;

static th_layer layer_coef(const suri_model_spec *s, int l, int L) {
  th_layer k = {s->sw2, s->sb2, s->sw2, s->sb2};
  if (s->param == SURI_PARAM_STANDARD) {
    k.a = (double)s->width[l - 1], k.b = 1.0;
  } else if (s->param == SURI_PARAM_MEANFIELD && l == L) {
    k.g = k.a = 1.0 / (double)s->width[L - 1];
    k.c = k.b = 0.0;
  }
  return k;
}

/* Trainable scalars of the spec's model (as suri_model_param_numel counts them). */
static int64_t spec_params(const suri_model_spec *s) {
  int L = s->n_widths - 1;
  int64_t P = 0;
  for (int l = 1; l <= L; l++) {
    P += s->width[l - 1] * s->width[l];
    if (!(s->param == SURI_PARAM_MEANFIELD && l == L)) P += s->width[l];
  }
  if (s->norm == SURI_NORM_LASTBATCH) P += 2 * s->width[L];
  return P;
}

static suri_status forward_backward(const suri_model_spec *s, const th_rules *r,
                                    const suri_theory_opts *o, suri_fisher_theory *t) {
  int L = t->L;
  double chi1[SURI_MLP_MAX_LAYERS + 1] = {0}, chi2[SURI_MLP_MAX_LAYERS + 1] = {0};
  t->qhat1[0] = o->input_q1, t->qhat2[0] = o->input_q2;
  for (int l = 1; l <= L; l++) {
    th_layer k = layer_coef(s, l, L);
    t->q1[l] = k.g * t->qhat1[l - 1] + k.c;
    t->q2[l] = k.g * t->qhat2[l - 1] + k.c;
    if (l == L) break;
    double m[4];
    suri_status st = moments(r, s->act, s->leaky_slope, t->q1[l], t->q2[l], 0, m);
    if (st) return st;
    t->qhat1[l] = m[0], t->qhat2[l] = m[1], chi1[l] = m[2], chi2[l] = m[3];
  }
  t->qtil1[L] = t->qtil2[L] = 1.0;
  for (int l = L; l >= 2; l--) {
    th_layer k = layer_coef(s, l, L);
    t->qtil1[l - 1] = k.g * chi1[l - 1] * t->qtil1[l];
    t->qtil2[l - 1] = k.g * chi2[l - 1] * t->qtil2[l];
  }
  return SURI_OK;
}

/* kappa, Gram entries, and the eigenvalue statistics from the order parameters. */
static void statistics(const suri_model_spec *s, suri_fisher_theory *t) {
  int L = t->L;
  double M = (double)t->M, k1 = 0, k2 = 0, g1 = 0, g2 = 0;
  for (int l = 1; l <= L - 1; l++)
    t->alpha += (double)s->width[l] * (double)s->width[l - 1] / (M * M);
  for (int l = 1; l <= L; l++) {
    th_layer k = layer_coef(s, l, L);
    k1 += (double)s->width[l - 1] * t->qhat1[l - 1] * t->qtil1[l];
    k2 += (double)s->width[l - 1] * t->qhat2[l - 1] * t->qtil2[l];
    g1 += (k.a * t->qhat1[l - 1] + k.b) * t->qtil1[l];
    g2 += (k.a * t->qhat2[l - 1] + k.b) * t->qtil2[l];
  }
  if (s->norm == SURI_NORM_LASTBATCH) { /* eval mode at init: f = u / sqrt(1 + eps) (gamma 1) */
    double z = 1.0 / (1.0 + s->bn_eps); /* plus the gamma (f_k) and beta (1) gradients */
    g1 = z * (g1 + t->q1[L]) + 1.0;
    g2 = z * (g2 + t->q2[L]) + 1.0;
  }
  double aM = t->alpha * M;
  t->gram1 = g1, t->gram2 = g2;
  t->kappa1 = s->param == SURI_PARAM_STANDARD ? k1 / aM : g1 / aM;
  t->kappa2 = s->param == SURI_PARAM_STANDARD ? k2 / aM : g2 / aM;
  double C = (double)t->C, T = (double)t->T, K1 = t->kappa1, K2 = t->kappa2;
  t->mean_eig = C * K1 / M;
  t->P = spec_params(s);
  t->trace = C * g1;
  t->mean_eig_finite = t->trace / (double)t->P;
  if (t->T == 0) {
    t->second_moment = C * t->alpha * K2 * K2;
    t->lambda_max = aM * K2;
    t->lambda_max_bn_last = NAN;
  } else {
    t->second_moment = C * t->alpha * (K2 * K2 + (K1 * K1 - K2 * K2) / T);
    t->lambda_max = aM * (K2 + (K1 - K2) / T);
    /* centring over one sample leaves nothing: the (T - 1)-fold eigenvalue does not exist */
    t->lambda_max_bn_last = t->T == 1 ? 0.0 : aM * (K1 - K2) / T;
  }
  t->lambda_max_finite = t->T == 0 ? g2 : g2 + (g1 - g2) / T;
  t->bn_last_var = (t->T == 0 ? 1.0 : 1.0 - 1.0 / T) * (t->q1[L] - t->q2[L]);
  t->critical_lr = t->lambda_max > 0 ? 2.0 / t->lambda_max : INFINITY;
}

suri_status suri_theory_fisher(const suri_model_spec *spec, int64_t T, const suri_theory_opts *o,
                               suri_fisher_theory *out) {
  suri_theory_opts def = suri_theory_defaults();
  if (!o) o = &def;
  if (!out) return suri_fail(SURI_ERR_ARG, "theory: output is NULL");
  suri_status st = check_spec(spec, T, o);
  int n = o->quad_nodes;
  if (!st) st = check_nodes(&n);
  if (st) return st;
  suri_fisher_theory t;
  memset(&t, 0, sizeof t);
  t.L = spec->n_widths - 1;
  t.M = spec->width[1];
  t.C = spec->width[t.L];
  t.T = T;
  th_rules r;
  if ((st = th_rules_make(n, &r))) return st;
  st = forward_backward(spec, &r, o, &t);
  if (!st) statistics(spec, &t);
  double scale = 0;
  if (!st) st = th_loss_scale(spec, &r, t.q1[t.L], t.q2[t.L], &scale);
  th_rules_free(&r);
  if (st) return st;
  t.loss_curv_scale = scale;
  double lam = scale * t.lambda_max_finite;
  t.critical_lr_loss = lam > 0 ? 2.0 / lam : INFINITY;
  for (int l = 0; l <= t.L; l++)
    if (!isfinite(t.q1[l]) || !isfinite(t.qhat1[l]) || !isfinite(t.qtil1[l]))
      return suri_fail(SURI_ERR_NUMERIC, "theory: order parameters overflow at layer %d (q1 = %g, "
                       "qhat1 = %g, qtil1 = %g)", l, t.q1[l], t.qhat1[l], t.qtil1[l]);
  *out = t;
  return SURI_OK;
}

/* ---- input statistics --------------------------------------------------------------------- */
suri_status suri_theory_input_stats(const suri_dataset *d, int64_t max_samples, double *q1,
                                    double *q2) {
  if (!d || !d->x || !q1 || !q2) return suri_fail(SURI_ERR_ARG, "theory input stats: NULL argument");
  int64_t n = max_samples > 0 && max_samples < d->n ? max_samples : d->n, D = d->dim;
  if (n < 2 || D < 1)
    return suri_fail(SURI_ERR_ARG, "theory input stats: %s has %lld samples x %lld features (need "
                     ">= 2 samples for the overlap of different samples)", d->name,
                     (long long)n, (long long)D);
  double *sum = calloc((size_t)D, sizeof *sum);
  if (!sum) return suri_fail(SURI_ERR_NOMEM, "theory input stats: cannot allocate %lld doubles",
                             (long long)D);
  double sq = 0, tot = 0;
  for (int64_t t = 0; t < n; t++) {
    const suri_real *x = d->x + t * D;
    for (int64_t i = 0; i < D; i++) sq += (double)x[i] * (double)x[i], sum[i] += (double)x[i];
  }
  for (int64_t i = 0; i < D; i++) tot += sum[i] * sum[i];
  free(sum);
  *q1 = sq / ((double)n * (double)D);
  *q2 = (tot - sq) / ((double)n * (double)(n - 1) * (double)D);
  if (!isfinite(*q1) || !isfinite(*q2))
    return suri_fail(SURI_ERR_NUMERIC, "theory input stats: %s has non-finite features", d->name);
  return SURI_OK;
}
