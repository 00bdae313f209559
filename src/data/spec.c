/* spec.c - data spec strings "KIND[:ARG,...][,key=value...]" (grammar in include/suri/data.h):
 * splitting, typed option readers with range checks, and suri_data_load, which dispatches to
 * the loader of the kind and then applies the common options (limit, norm).
 *
 * Every error message starts with "data spec '<the spec>'" so a user who passed several specs
 * (train, test) sees which one is wrong, then names the part and the problem. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

static const struct {
  const char *kind;
  data_loader load;
} kinds[] = {
    {"mnist10k", data_load_mnist10k}, {"idx", data_load_idx},     {"npy", data_load_npy},
    {"csv", data_load_csv},           {"gauss", data_load_gauss}, {"teacher", data_load_teacher},
    {"parity", data_load_parity},
};
#define KNOWN_KINDS "mnist10k, idx, npy, csv, gauss, teacher, parity"

suri_status data_wrap(suri_status st, const char *fmt, ...) {
  char prev[1024], pre[1024];
  va_list ap;
  /* Copy first: suri_fail writes the buffer suri_last_error() points into. */
  snprintf(prev, sizeof prev, "%s", suri_last_error());
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  return suri_fail(st, "%s: %s", pre, prev);
}

/* Trims spaces in place; returns the first non-space character. */
static char *trim(char *p) {
  while (isspace((unsigned char)*p)) p++;
  size_t n = strlen(p);
  while (n > 0 && isspace((unsigned char)p[n - 1])) p[--n] = '\0';
  return p;
}

static suri_status add_part(dspec *s, char *part, int index) {
  char *eq = strchr(part, '=');
  if (!*part)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': part %d is empty", s->text, index + 1);
  if (!eq) {
    if (s->npos == DSPEC_MAX_POS)
      return suri_fail(SURI_ERR_ARG, "data spec '%s': too many arguments ('%s')", s->text, part);
    s->pos[s->npos++] = part;
    return SURI_OK;
  }
  *eq = '\0';
  char *key = trim(part), *val = trim(eq + 1);
  if (!*key)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': option '=%s' has no name", s->text, val);
  for (int i = 0; i < s->nopt; i++)
    if (!strcmp(s->opt[i].key, key))
      return suri_fail(SURI_ERR_ARG, "data spec '%s': option '%s' is given twice", s->text, key);
  if (s->nopt == DSPEC_MAX_OPT)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': too many options", s->text);
  s->opt[s->nopt].key = key;
  s->opt[s->nopt].val = val;
  s->opt[s->nopt].used = 0;
  s->nopt++;
  return SURI_OK;
}

suri_status dspec_parse(const char *text, dspec *s) {
  memset(s, 0, sizeof *s);
  s->text = text ? text : "";
  if (!text || !*text)
    return suri_fail(SURI_ERR_ARG, "data spec is empty (known kinds: " KNOWN_KINDS ")");
  size_t n = strlen(text);
  if (!(s->buf = suri_alloc(n + 1))) return SURI_ERR_NOMEM;
  memcpy(s->buf, text, n + 1);
  size_t k = strcspn(s->buf, ":,");
  char *rest = s->buf[k] ? s->buf + k + 1 : NULL;
  s->buf[k] = '\0';
  char *kind = trim(s->buf);
  if (strlen(kind) >= sizeof s->kind)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': unknown kind '%.40s...' (known kinds: "
                     KNOWN_KINDS ")", text, kind);
  strcpy(s->kind, kind);
  for (int index = 0; rest; index++) {
    char *comma = strchr(rest, ',');
    if (comma) *comma = '\0';
    suri_status st = add_part(s, trim(rest), index);
    if (st != SURI_OK) return st;
    rest = comma ? comma + 1 : NULL;
  }
  return SURI_OK;
}

void dspec_free(dspec *s) {
  suri_free(s->buf);
  s->buf = NULL;
}

const char *dspec_take(dspec *s, const char *key) {
  for (int i = 0; i < s->nopt; i++)
    if (!strcmp(s->opt[i].key, key)) {
      s->opt[i].used = 1;
      return s->opt[i].val;
    }
  return NULL;
}

suri_status dspec_int(dspec *s, const char *key, int64_t def, int64_t lo, int64_t hi,
                      int64_t *out) {
  const char *v = dspec_take(s, key);
  char *end;
  *out = def;
  if (!v) return SURI_OK;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (!*v || *end || errno == ERANGE)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': %s=%s is not an integer", s->text, key, v);
  if (x < lo || x > hi) {
    if (hi == INT64_MAX)
      return suri_fail(SURI_ERR_ARG, "data spec '%s': %s=%s must be >= %lld", s->text, key, v,
                       (long long)lo);
    return suri_fail(SURI_ERR_ARG, "data spec '%s': %s=%s must lie in [%lld, %lld]", s->text, key,
                     v, (long long)lo, (long long)hi);
  }
  *out = (int64_t)x;
  return SURI_OK;
}

suri_status dspec_real(dspec *s, const char *key, double def, double lo, double hi, double *out) {
  const char *v = dspec_take(s, key);
  char *end;
  *out = def;
  if (!v) return SURI_OK;
  errno = 0;
  double x = strtod(v, &end);
  if (!*v || *end || errno == ERANGE || !isfinite(x))
    return suri_fail(SURI_ERR_ARG, "data spec '%s': %s=%s is not a finite number", s->text, key, v);
  if (x < lo || x > hi)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': %s=%s must lie in [%g, %g]", s->text, key, v,
                     lo, hi);
  *out = x;
  return SURI_OK;
}

suri_status dspec_check_used(const dspec *s, const char *known) {
  for (int i = 0; i < s->nopt; i++)
    if (!s->opt[i].used)
      return suri_fail(SURI_ERR_ARG, "data spec '%s': unknown option '%s' for %s (known: %s%s"
                       "norm, limit)", s->text, s->opt[i].key, s->kind, known, *known ? ", " : "");
  return SURI_OK;
}

suri_status dspec_npos(const dspec *s, int lo, int hi, const char *usage) {
  if (s->npos < lo)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': missing file name (usage: %s)", s->text, usage);
  if (s->npos > hi)
    return suri_fail(SURI_ERR_ARG, "data spec '%s': unexpected argument '%s' (usage: %s)", s->text,
                     s->pos[hi], usage);
  return SURI_OK;
}

const char *suri_data_norm_name(suri_data_norm k) {
  switch (k) {
  case SURI_DATA_NORM_NONE: return "none";
  case SURI_DATA_NORM_SCALE: return "scale";
  case SURI_DATA_NORM_STANDARD: return "standard";
  }
  return "?";
}

/* norm option: -1 = not given (use the source's default). */
static suri_status take_norm(dspec *s, int *norm) {
  const char *v = dspec_take(s, "norm");
  *norm = -1;
  if (!v) return SURI_OK;
  for (int k = SURI_DATA_NORM_NONE; k <= SURI_DATA_NORM_STANDARD; k++)
    if (!strcmp(v, suri_data_norm_name((suri_data_norm)k))) {
      *norm = k;
      return SURI_OK;
    }
  return suri_fail(SURI_ERR_ARG, "data spec '%s': norm=%s unknown (none, scale, standard)",
                   s->text, v);
}

static suri_status apply_norm(dspec *s, suri_dataset *d, int norm, int is_u8) {
  if (norm < 0) norm = is_u8 ? SURI_DATA_NORM_SCALE : SURI_DATA_NORM_NONE;
  if (norm == SURI_DATA_NORM_SCALE) {
    if (!is_u8)
      return suri_fail(SURI_ERR_ARG, "data spec '%s': norm=scale divides u8 values (0..255) by "
                       "255, but this source does not hold u8 values; use norm=none or "
                       "norm=standard", s->text);
    data_scale_u8(d);
  } else if (norm == SURI_DATA_NORM_STANDARD) {
    /* u8 sources are scaled first, so a test set loaded with the default norm=scale shares
     * the units of the statistics (suri_dataset_normalize_like is then exact). */
    if (is_u8) data_scale_u8(d);
    return suri_dataset_standardize(d, NULL, NULL);
  }
  return SURI_OK;
}

suri_status suri_data_load(const char *spec, suri_dataset **out) {
  dspec s;
  suri_dataset *d = NULL;
  int norm, is_u8 = 0;
  int64_t limit;
  if (!out) return suri_fail(SURI_ERR_ARG, "suri_data_load: out is NULL");
  suri_status st = dspec_parse(spec, &s);
  data_loader load = NULL;
  for (size_t i = 0; st == SURI_OK && i < sizeof kinds / sizeof kinds[0]; i++)
    if (!strcmp(s.kind, kinds[i].kind)) load = kinds[i].load;
  if (st == SURI_OK && !load)
    st = suri_fail(SURI_ERR_ARG, "data spec '%s': unknown kind '%s' (known kinds: " KNOWN_KINDS
                   ")", spec, s.kind);
  if (st == SURI_OK) st = take_norm(&s, &norm);
  if (st == SURI_OK) st = dspec_int(&s, "limit", INT64_MAX, 1, INT64_MAX, &limit);
  if (st == SURI_OK) st = load(&s, limit, &d, &is_u8);
  if (st == SURI_OK && d->n < 1)
    st = suri_fail(SURI_ERR_FORMAT, "data spec '%s': the data set has zero samples", spec);
  if (st == SURI_OK) st = apply_norm(&s, d, norm, is_u8);
  if (st == SURI_OK && !d->name[0]) snprintf(d->name, sizeof d->name, "%s", spec);
  dspec_free(&s);
  if (st != SURI_OK) {
    suri_dataset_free(d);
    return st;
  }
  *out = d;
  return SURI_OK;
}
