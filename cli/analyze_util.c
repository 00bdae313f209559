/* analyze_util.c - helpers of `suri analyze`: a progress display wrapped around an operator
 * (the analysis library has no progress callback, so the CLI counts operator applications
 * itself: every solver step is one or more applications), JSON and size helpers, and the
 * eigenvalue report shared by every kind.
 * The wrapper also collects ||A z||^2 / n for the Hutchinson probes: for Rademacher z,
 * E ||A z||^2 = z^T A^2 z averages to tr(A^2), so the same probes estimate the second moment
 * tr(A^2) / n of the spectrum next to the mean tr(A) / n (Hutchinson 1990 applied to A^2). */
#include <math.h>
#include <string.h>
#include <time.h>

#include "analyze_cli.h"

/* ---- progress ----------------------------------------------------------------------------- */
static void draw(an_progress *p, int force) {
  double now = cli_now();
  if (!p->tty || (!force && now - p->last < 0.1)) return;
  p->last = now;
  double el = now - p->t0;
  if (p->expect > 0) {
    int width = 24, fill = (int)((double)width * (double)p->done / (double)p->expect);
    if (fill > width) fill = width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %lld/%lld products  %.1f s", p->phase, bar,
            (long long)p->done, (long long)p->expect, el);
  } else {
    static const char spin[] = "|/-\\";
    fprintf(stderr, "\r\033[K%s %c %lld products  %.1f s", p->phase, spin[p->done % 4],
            (long long)p->done, el);
  }
  fflush(stderr);
  p->drawn = 1;
}

static suri_status wrapped_apply(const suri_linop *self, const double *v, double *out) {
  an_progress *p = self->ctx;
  double t0 = cli_now();
  suri_status st = p->inner->apply(p->inner, v, out);
  p->op_secs += cli_now() - t0;
  if (st) return st;
  p->done++;
  if (p->squares) {
    int64_t n = p->inner->n;
    double q = 0;
    for (int64_t i = 0; i < n; i++) q += out[i] * out[i];
    q /= (double)n;
    double d = q - p->sq_mean; /* Welford */
    p->sq_n++;
    p->sq_mean += d / (double)p->sq_n;
    p->sq_m2 += d * (q - p->sq_mean);
  }
  draw(p, 0);
  return SURI_OK;
}

suri_linop an_progress_wrap(an_progress *p, const suri_linop *inner, int tty) {
  memset(p, 0, sizeof *p);
  p->inner = inner;
  p->tty = tty;
  p->t0 = cli_now();
  suri_linop op = {inner->n, wrapped_apply, p};
  return op;
}

void an_progress_phase(an_progress *p, const char *phase, int64_t expect) {
  snprintf(p->phase, sizeof p->phase, "%s%s", p->prefix, phase);
  p->done = 0;
  p->op_secs = 0;
  p->expect = expect;
  p->t0 = cli_now();
  p->last = 0;
  draw(p, 1);
}

void an_progress_clear(an_progress *p) {
  if (p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  p->drawn = 0;
}

void an_progress_note(an_progress *p, const char *text) {
  if (!p->tty) return;
  fprintf(stderr, "\r\033[K%s ...", text);
  fflush(stderr);
  p->drawn = 1;
}

double an_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- JSON --------------------------------------------------------------------------------- */
void an_json_num(cJSON *j, const char *key, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
  else cJSON_AddNullToObject(j, key);
}

cJSON *an_json_array(const double *v, int64_t n) {
  cJSON *a = cJSON_CreateArray();
  for (int64_t i = 0; a && i < n; i++)
    cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
  return a;
}

/* ---- sizes -------------------------------------------------------------------------------- */

/* ---- eigenvalue report -------------------------------------------------------------------- */
void an_report_eigs(cJSON *j, const char *solver, int k, const double *vals, const double *res,
                    const suri_solver_info *info, double secs, int print, const char *indent) {
  cJSON_AddStringToObject(j, "solver", solver);
  cJSON_AddItemToObject(j, "eigenvalues", an_json_array(vals, k));
  if (res) cJSON_AddItemToObject(j, "residuals", an_json_array(res, k));
  cJSON_AddNumberToObject(j, "iterations", info->iterations);
  cJSON_AddNumberToObject(j, "applications", (double)info->applications);
  an_json_num(j, "relative_residual", info->residual);
  cJSON_AddBoolToObject(j, "converged", info->converged);
  cJSON_AddNumberToObject(j, "seconds", secs);
  if (!print) return;
  if (info->applications == 0) /* dense */
    printf("%stop %d eigenvalue%s (%s, relative residual %.2g, %.3g s)\n", indent, k,
           k == 1 ? "" : "s", solver, info->residual, secs);
  else
    printf("%stop %d eigenvalue%s (%s: %d iteration%s, %lld products, relative residual %.2g, "
           "%s, %.3g s)\n", indent, k, k == 1 ? "" : "s", solver, info->iterations,
           info->iterations == 1 ? "" : "s", (long long)info->applications, info->residual,
           info->converged ? "converged" : "NOT converged", secs);
  for (int i = 0; i < k; i++) {
    printf("%s  %4d  %.10g", indent, i + 1, vals[i]);
    if (res) printf("   residual %.2g", res[i]);
    printf("\n");
  }
}
