/* schedule.c - learning-rate schedules: constant, step decay, cosine annealing and linear
 * decay, each with an optional linear warm-up, plus the parser for their spec strings.
 *
 * With N warm-up steps, T = total_steps - N and s = step - N (step is 0-based):
 *   warm-up (step < N): base (step + 1) / N          torch LinearLR(start_factor=1/N,
 *                                                       end_factor=1, total_iters=N-1)
 *   constant:           base
 *   step:               base gamma^floor(s / step_size)   torch StepLR
 *   cosine:             min + (base - min)(1 + cos(pi s / T)) / 2, min once s >= T
 *                       (the closed form of torch CosineAnnealingLR; Loshchilov & Hutter
 *                       2017, SGDR, without restarts)
 *   linear:             base (T - s) / T, 0 once s >= T   torch LinearLR(1, 0, total_iters=T)
 * Every value is a closed form in double, so a resumed run gets the same rates as an
 * uninterrupted one (torch's chainable forms drift by rounding; they agree to ~1e-15). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/optim.h"

static const double pi = 3.14159265358979323846;

suri_schedule suri_schedule_constant(double base_lr) {
  suri_schedule s;
  memset(&s, 0, sizeof s);
  s.kind = SURI_SCHEDULE_CONSTANT;
  s.base_lr = base_lr;
  s.gamma = 1;
  s.step_size = 1;
  return s;
}

double suri_schedule_lr(const suri_schedule *sc, int64_t step) {
  if (step < 0) step = 0;
  const double base = sc->base_lr;
  if (step < sc->warmup_steps) return base * (double)(step + 1) / (double)sc->warmup_steps;
  const int64_t s = step - sc->warmup_steps, T = sc->total_steps - sc->warmup_steps;
  switch (sc->kind) {
  case SURI_SCHEDULE_CONSTANT: return base;
  case SURI_SCHEDULE_STEP:
    return base * pow(sc->gamma, (double)(s / (sc->step_size > 0 ? sc->step_size : 1)));
  case SURI_SCHEDULE_COSINE:
    if (s >= T) return sc->min_lr;
    return sc->min_lr + (base - sc->min_lr) * (1 + cos(pi * (double)s / (double)T)) / 2;
  case SURI_SCHEDULE_LINEAR:
    if (s >= T) return 0;
    return base * (double)(T - s) / (double)T;
  }
  return base;
}

/* ---- parsing ------------------------------------------------------------------------------- */

/* Copies [b, e) into a NUL-terminated buffer; 0 if it does not fit. */
static int take(const char *b, const char *e, char *buf, size_t n) {
  size_t len = (size_t)(e - b);
  if (len + 1 > n) return 0;
  memcpy(buf, b, len);
  buf[len] = '\0';
  return 1;
}

/* Whole-string number parsers: 1 on success. */
static int parse_double(const char *text, double *out) {
  char *end;
  if (!*text) return 0;
  errno = 0;
  double x = strtod(text, &end);
  if (*end || errno == ERANGE || !isfinite(x)) return 0;
  *out = x;
  return 1;
}

static int parse_int(const char *text, int64_t *out) {
  char *end;
  if (*text < '0' || *text > '9') return 0; /* no sign, no space */
  errno = 0;
  long long x = strtoll(text, &end, 10);
  if (*end || errno == ERANGE) return 0;
  *out = (int64_t)x;
  return 1;
}

/* The part before the options, split at ':' into name and up to 3 parameters. */
typedef struct parts {
  char name[32];
  char arg[3][64];
  int n_args;
} parts;

static suri_status split_main(const char *spec, const char *end, parts *pt) {
  const char *b = spec;
  int field = 0;
  for (;;) {
    const char *c = memchr(b, ':', (size_t)(end - b));
    const char *e = c ? c : end;
    if (field > 3)
      return suri_fail(SURI_ERR_ARG, "schedule \"%s\": too many ':' parameters", spec);
    char *dst = field == 0 ? pt->name : pt->arg[field - 1];
    size_t cap = field == 0 ? sizeof pt->name : sizeof pt->arg[0];
    if (!take(b, e, dst, cap))
      return suri_fail(SURI_ERR_ARG, "schedule \"%s\": part \"%.*s\" is too long", spec,
                       (int)(e - b), b);
    field++;
    if (!c) break;
    b = c + 1;
  }
  pt->n_args = field - 1;
  return SURI_OK;
}

static suri_status want_args(const char *spec, const parts *pt, int lo, int hi,
                             const char *usage) {
  if (pt->n_args >= lo && pt->n_args <= hi) return SURI_OK;
  char expect[48];
  if (hi == 0)
    snprintf(expect, sizeof expect, "takes no parameters");
  else if (lo == hi)
    snprintf(expect, sizeof expect, "takes %d parameters", lo);
  else
    snprintf(expect, sizeof expect, "takes %d to %d parameters", lo, hi);
  return suri_fail(SURI_ERR_ARG, "schedule \"%s\": \"%s\" %s, got %d (usage: %s)", spec,
                   pt->name, expect, pt->n_args, usage);
}

static suri_status parse_kind(const char *spec, const parts *pt, double base_lr,
                              suri_schedule *s) {
  suri_status st;
  if (strcmp(pt->name, "constant") == 0) {
    s->kind = SURI_SCHEDULE_CONSTANT;
    return want_args(spec, pt, 0, 0, "constant");
  }
  if (strcmp(pt->name, "linear") == 0) {
    s->kind = SURI_SCHEDULE_LINEAR;
    return want_args(spec, pt, 0, 0, "linear");
  }
  if (strcmp(pt->name, "step") == 0) {
    s->kind = SURI_SCHEDULE_STEP;
    if ((st = want_args(spec, pt, 2, 2, "step:STEP_SIZE:GAMMA, e.g. step:1000:0.1")) != SURI_OK)
      return st;
    if (!parse_int(pt->arg[0], &s->step_size) || s->step_size < 1)
      return suri_fail(SURI_ERR_ARG, "schedule \"%s\": STEP_SIZE \"%s\" is not an integer >= 1",
                       spec, pt->arg[0]);
    if (!parse_double(pt->arg[1], &s->gamma) || !(s->gamma > 0))
      return suri_fail(SURI_ERR_ARG, "schedule \"%s\": GAMMA \"%s\" is not a number > 0", spec,
                       pt->arg[1]);
    return SURI_OK;
  }
  if (strcmp(pt->name, "cosine") == 0) {
    s->kind = SURI_SCHEDULE_COSINE;
    if ((st = want_args(spec, pt, 0, 1, "cosine or cosine:MIN_LR")) != SURI_OK) return st;
    if (pt->n_args == 1) {
      if (!parse_double(pt->arg[0], &s->min_lr) || !(s->min_lr >= 0))
        return suri_fail(SURI_ERR_ARG, "schedule \"%s\": MIN_LR \"%s\" is not a number >= 0",
                         spec, pt->arg[0]);
      if (s->min_lr > base_lr)
        return suri_fail(SURI_ERR_ARG,
                         "schedule \"%s\": MIN_LR %g is above the base learning rate %g", spec,
                         s->min_lr, base_lr);
    }
    return SURI_OK;
  }
  return suri_fail(SURI_ERR_ARG, "schedule \"%s\": unknown schedule \"%s\" (valid: %s)", spec,
                   pt->name, SURI_SCHEDULE_SYNTAX);
}

/* ",warmup=N" options after the main part. */
static suri_status parse_options(const char *spec, const char *opts, suri_schedule *s) {
  int seen_warmup = 0;
  while (*opts) {
    const char *b = opts + 1; /* skip ',' */
    const char *e = strchr(b, ',');
    if (!e) e = b + strlen(b);
    char opt[64];
    if (!take(b, e, opt, sizeof opt))
      return suri_fail(SURI_ERR_ARG, "schedule \"%s\": option \"%.*s\" is too long", spec,
                       (int)(e - b), b);
    if (strncmp(opt, "warmup=", 7) != 0)
      return suri_fail(SURI_ERR_ARG, "schedule \"%s\": unknown option \"%s\" (valid: warmup=N)",
                       spec, opt);
    if (seen_warmup)
      return suri_fail(SURI_ERR_ARG, "schedule \"%s\": warmup is given twice", spec);
    seen_warmup = 1;
    if (!parse_int(opt + 7, &s->warmup_steps))
      return suri_fail(SURI_ERR_ARG, "schedule \"%s\": warmup \"%s\" is not an integer >= 0",
                       spec, opt + 7);
    opts = e;
  }
  return SURI_OK;
}

/* Cross-field checks once everything is parsed. */
static suri_status check_lengths(const char *spec, const suri_schedule *s) {
  int needs_total = s->kind == SURI_SCHEDULE_COSINE || s->kind == SURI_SCHEDULE_LINEAR;
  if (needs_total && s->total_steps <= s->warmup_steps)
    return suri_fail(SURI_ERR_ARG,
                     "schedule \"%s\": the run has %lld steps, which leaves none after %lld "
                     "warm-up steps (cosine and linear need total steps > warmup)",
                     spec, (long long)s->total_steps, (long long)s->warmup_steps);
  if (s->total_steps > 0 && s->warmup_steps > s->total_steps)
    return suri_fail(SURI_ERR_ARG, "schedule \"%s\": warmup %lld is longer than the run (%lld "
                     "steps)", spec, (long long)s->warmup_steps, (long long)s->total_steps);
  return SURI_OK;
}

suri_status suri_schedule_parse(const char *spec, double base_lr, int64_t total_steps,
                                suri_schedule *out) {
  if (!spec || !out) return suri_fail(SURI_ERR_ARG, "schedule: NULL argument");
  if (!(base_lr >= 0) || !isfinite(base_lr))
    return suri_fail(SURI_ERR_ARG, "schedule \"%s\": base learning rate must be finite and >= 0 "
                     "(got %g)", spec, base_lr);
  if (total_steps < 0)
    return suri_fail(SURI_ERR_ARG, "schedule \"%s\": total steps must be >= 0 (got %lld)", spec,
                     (long long)total_steps);
  suri_schedule s = suri_schedule_constant(base_lr);
  s.total_steps = total_steps;
  const char *opts = strchr(spec, ',');
  if (!opts) opts = spec + strlen(spec);
  if (opts == spec)
    return suri_fail(SURI_ERR_ARG, "schedule \"%s\": no schedule name (valid: %s)", spec,
                     SURI_SCHEDULE_SYNTAX);
  parts pt;
  suri_status st = split_main(spec, opts, &pt);
  if (st == SURI_OK) st = parse_kind(spec, &pt, base_lr, &s);
  if (st == SURI_OK) st = parse_options(spec, opts, &s);
  if (st == SURI_OK) st = check_lengths(spec, &s);
  if (st == SURI_OK) *out = s;
  return st;
}

/* ---- text forms ------------------------------------------------------------------------ */

/* Shortest of %.15g / %.17g that reads back as x. */
static void fmt_num(char *buf, size_t n, double x) {
  snprintf(buf, n, "%.15g", x);
  if (strtod(buf, NULL) != x) snprintf(buf, n, "%.17g", x);
}

const char *suri_schedule_describe(const suri_schedule *s, char *buf, size_t n) {
  if (!buf || n == 0) return buf;
  char base[32], x[32], warm[96] = "";
  fmt_num(base, sizeof base, s->base_lr);
  long long T = (long long)(s->total_steps - s->warmup_steps);
  if (s->warmup_steps > 0)
    snprintf(warm, sizeof warm, "linear warm-up to %s over %lld steps, then ", base,
             (long long)s->warmup_steps);
  switch (s->kind) {
  case SURI_SCHEDULE_CONSTANT: snprintf(buf, n, "%sconstant %s", warm, base); break;
  case SURI_SCHEDULE_STEP:
    fmt_num(x, sizeof x, s->gamma);
    snprintf(buf, n, "%sstep decay from %s, times %s every %lld steps", warm, base, x,
             (long long)s->step_size);
    break;
  case SURI_SCHEDULE_COSINE:
    fmt_num(x, sizeof x, s->min_lr);
    snprintf(buf, n, "%scosine from %s to %s over %lld steps", warm, base, x, T);
    break;
  case SURI_SCHEDULE_LINEAR:
    snprintf(buf, n, "%slinear decay from %s to 0 over %lld steps", warm, base, T);
    break;
  default: snprintf(buf, n, "unknown schedule kind %d", (int)s->kind); break;
  }
  return buf;
}

const char *suri_schedule_format(const suri_schedule *s, char *buf, size_t n) {
  if (!buf || n == 0) return buf;
  char a[32], b[32], warm[48] = "";
  if (s->warmup_steps > 0)
    snprintf(warm, sizeof warm, ",warmup=%lld", (long long)s->warmup_steps);
  switch (s->kind) {
  case SURI_SCHEDULE_STEP:
    fmt_num(b, sizeof b, s->gamma);
    snprintf(a, sizeof a, "%lld", (long long)s->step_size);
    snprintf(buf, n, "step:%s:%s%s", a, b, warm);
    break;
  case SURI_SCHEDULE_COSINE:
    if (s->min_lr != 0) {
      fmt_num(a, sizeof a, s->min_lr);
      snprintf(buf, n, "cosine:%s%s", a, warm);
    } else {
      snprintf(buf, n, "cosine%s", warm);
    }
    break;
  case SURI_SCHEDULE_LINEAR: snprintf(buf, n, "linear%s", warm); break;
  default: snprintf(buf, n, "constant%s", warm); break;
  }
  return buf;
}
