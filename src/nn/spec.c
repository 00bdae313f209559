/* spec.c - parsing and formatting of model spec strings "mlp:784-512-10,act=relu,...".
 * Grammar and defaults are documented in include/suri/nn.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/nn.h"

static const char *const act_names[SURI_ACT_COUNT] = {
    "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "erf", "softplus", "identity"};
static const char *const norm_names[] = {"none", "batch", "layer", "lastbatch"};
static const char *const param_names[] = {"standard", "ntk", "meanfield"};
static const char *const loss_names[] = {"ce", "mse", "logistic"};

const char *suri_act_name(suri_act a) { return (unsigned)a < SURI_ACT_COUNT ? act_names[a] : "?"; }
const char *suri_norm_name(suri_norm n) { return (unsigned)n < 4 ? norm_names[n] : "?"; }
const char *suri_param_name(suri_param_kind p) { return (unsigned)p < 3 ? param_names[p] : "?"; }
const char *suri_loss_name(suri_loss_kind l) { return (unsigned)l < 3 ? loss_names[l] : "?"; }

static int lookup(const char *v, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(v, names[i]) == 0) return i;
  return -1;
}

static void default_variances(suri_act a, double *sw2, double *sb2) {
  int relu_like = a == SURI_ACT_RELU || a == SURI_ACT_LEAKY_RELU || a == SURI_ACT_GELU;
  *sw2 = relu_like ? 2.0 : 1.0;
  *sb2 = 0.0;
}

static suri_status parse_real(const char *key, const char *v, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !isfinite(d) || d < lo || d > hi)
    return suri_fail(SURI_ERR_ARG, "model spec: %s=%s is not a number in [%g, %g]", key, v, lo, hi);
  *out = d;
  return SURI_OK;
}

static suri_status parse_widths(const char *s, suri_model_spec *out) {
  out->n_widths = 0;
  const char *p = s;
  for (;;) {
    char *end = (char *)p;
    errno = 0;
    long long w = (*p >= '0' && *p <= '9') ? strtoll(p, &end, 10) : 0;
    if (end == p || errno || w < 1 || w > 1000000)
      return suri_fail(SURI_ERR_ARG, "model spec: layer width '%.*s' must be an integer in "
                       "1..1000000 (widths are written IN-H1-...-OUT)", (int)strcspn(p, "-,"), p);
    if (out->n_widths > SURI_MLP_MAX_LAYERS)
      return suri_fail(SURI_ERR_ARG, "model spec: more than %d layers", SURI_MLP_MAX_LAYERS);
    out->width[out->n_widths++] = w;
    if (*end == '-') p = end + 1;
    else if (*end == '\0') break;
    else return suri_fail(SURI_ERR_ARG, "model spec: unexpected '%c' in widths '%s'", *end, s);
  }
  if (out->n_widths < 2)
    return suri_fail(SURI_ERR_ARG, "model spec: need at least input and output widths (got '%s')", s);
  return SURI_OK;
}

static suri_status parse_option(char *kv, suri_model_spec *o, int *sw_set, int *sb_set) {
  char *eq = strchr(kv, '=');
  if (!eq) return suri_fail(SURI_ERR_ARG, "model spec: option '%s' is not key=value", kv);
  *eq = '\0';
  const char *k = kv, *v = eq + 1;
  int i;
  if (!strcmp(k, "act")) {
    if ((i = lookup(v, act_names, SURI_ACT_COUNT)) < 0)
      return suri_fail(SURI_ERR_ARG, "model spec: act=%s unknown (relu, leaky_relu, tanh, "
                       "sigmoid, gelu, erf, softplus, identity)", v);
    o->act = (suri_act)i;
  } else if (!strcmp(k, "norm")) {
    if ((i = lookup(v, norm_names, 4)) < 0)
      return suri_fail(SURI_ERR_ARG, "model spec: norm=%s unknown (none, batch, layer, lastbatch)", v);
    o->norm = (suri_norm)i;
  } else if (!strcmp(k, "param")) {
    if ((i = lookup(v, param_names, 3)) < 0)
      return suri_fail(SURI_ERR_ARG, "model spec: param=%s unknown (standard, ntk, meanfield)", v);
    o->param = (suri_param_kind)i;
  } else if (!strcmp(k, "loss")) {
    if ((i = lookup(v, loss_names, 3)) < 0)
      return suri_fail(SURI_ERR_ARG, "model spec: loss=%s unknown (ce, mse, logistic)", v);
    o->loss = (suri_loss_kind)i;
  } else if (!strcmp(k, "sw2")) {
    *sw_set = 1;
    return parse_real(k, v, 0, 1e6, &o->sw2);
  } else if (!strcmp(k, "sb2")) {
    *sb_set = 1;
    return parse_real(k, v, 0, 1e6, &o->sb2);
  } else if (!strcmp(k, "dropout")) {
    return parse_real(k, v, 0, 0.99, &o->dropout);
  } else {
    return suri_fail(SURI_ERR_ARG, "model spec: unknown option '%s' (act, norm, param, sw2, sb2, "
                     "loss, dropout)", k);
  }
  return SURI_OK;
}

suri_status suri_model_spec_parse(const char *text, suri_model_spec *out) {
  if (!text) return suri_fail(SURI_ERR_ARG, "model spec is NULL");
  if (strncmp(text, "mlp:", 4) != 0)
    return suri_fail(SURI_ERR_ARG, "model spec '%s': must start with 'mlp:' (e.g. "
                     "mlp:784-512-10,act=relu)", text);
  char buf[1024];
  if (strlen(text) >= sizeof buf) return suri_fail(SURI_ERR_ARG, "model spec is too long");
  snprintf(buf, sizeof buf, "%s", text + 4);
  suri_model_spec s;
  memset(&s, 0, sizeof s);
  s.leaky_slope = 0.01;
  s.bn_eps = 1e-5;
  s.bn_momentum = 0.1;
  s.ln_eps = 1e-5;
  char *tok = buf, *comma = strchr(tok, ',');
  if (comma) *comma = '\0';
  if (!*tok) return suri_fail(SURI_ERR_ARG, "model spec '%s': no layer widths", text);
  suri_status st = parse_widths(tok, &s);
  if (st) return st;
  int sw_set = 0, sb_set = 0;
  while (comma) {
    tok = comma + 1;
    if ((comma = strchr(tok, ','))) *comma = '\0';
    if (!*tok) return suri_fail(SURI_ERR_ARG, "model spec '%s': empty option (two commas?)", text);
    if ((st = parse_option(tok, &s, &sw_set, &sb_set))) return st;
  }
  double dw, db;
  default_variances(s.act, &dw, &db);
  if (!sw_set) s.sw2 = dw;
  if (!sb_set) s.sb2 = db;
  int64_t out_w = s.width[s.n_widths - 1];
  if (s.loss == SURI_LOSS_LOGISTIC && out_w != 1)
    return suri_fail(SURI_ERR_ARG, "model spec: loss=logistic needs one output (got %lld)",
                     (long long)out_w);
  if (s.loss == SURI_LOSS_CE && out_w < 2)
    return suri_fail(SURI_ERR_ARG, "model spec: loss=ce needs at least 2 outputs (got %lld)",
                     (long long)out_w);
  if (s.param == SURI_PARAM_MEANFIELD && s.n_widths < 3)
    return suri_fail(SURI_ERR_ARG, "model spec: param=meanfield needs a hidden layer");
  *out = s;
  return SURI_OK;
}

/* Shortest decimal text that reads back to exactly v (so saved specs rebuild identical scales). */
static void exact_num(double v, char *out, size_t n) {
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(out, n, "%.*g", prec, v);
    if (strtod(out, NULL) == v) return;
  }
}

void suri_model_spec_format(const suri_model_spec *s, char *buf, size_t n) {
  char sw[32], sb[32], dr[32];
  exact_num(s->sw2, sw, sizeof sw);
  exact_num(s->sb2, sb, sizeof sb);
  exact_num(s->dropout, dr, sizeof dr);
  size_t k = (size_t)snprintf(buf, n, "mlp:");
  for (int i = 0; i < s->n_widths && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "-" : "", (long long)s->width[i]);
  if (k < n)
    k += (size_t)snprintf(buf + k, n - k, ",act=%s,norm=%s,param=%s,sw2=%s,sb2=%s,loss=%s",
                          suri_act_name(s->act), suri_norm_name(s->norm),
                          suri_param_name(s->param), sw, sb, suri_loss_name(s->loss));
  if (k < n && s->dropout > 0) snprintf(buf + k, n - k, ",dropout=%s", dr);
}
