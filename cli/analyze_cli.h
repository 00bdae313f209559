/* analyze_cli.h - pieces of `suri analyze` shared between cmd_analyze.c (options, model and data,
 * the JSON file), analyze_curv.c (fisher, efisher, gn, hessian, lr), analyze_ntk.c (ntk) and
 * analyze_util.c (progress display, JSON and printing helpers). Private to cli/. */
#ifndef SURI_ANALYZE_CLI_H
#define SURI_ANALYZE_CLI_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "suri/analysis.h"
#include "suri/data.h"
#include "suri/nn.h"

typedef enum an_kind { AN_FISHER, AN_EFISHER, AN_GN, AN_HESSIAN, AN_NTK, AN_LR } an_kind;

typedef enum an_ntk_mode { AN_NTK_TRACE, AN_NTK_FULL, AN_NTK_DIAG, AN_NTK_SUM } an_ntk_mode;

/* Every option of `suri analyze`. */
typedef struct analyze_opts {
  an_kind kind;
  const char *kind_name;
  const char *model, *data, *out, *gram_out;
  int model_is_spec;        /* --model starts with "mlp:" */
  int has_seed;
  uint64_t seed, probe_seed;
  int64_t samples, batch, top, max_iter, threads;
  int power;                /* --solver power */
  suri_eig_which which;
  double tol, hess_eps, sigma;
  suri_hess_method hess_method; /* --hess-method (default SURI_HESS_AUTO) */
  int trace, density, per_layer, theory, quiet, batch_stats;
  int64_t trace_probes, density_probes, density_steps, grid;
  an_ntk_mode ntk_mode;
  uint64_t memory;          /* bytes */
  int memory_given;         /* --memory was given (else the machine's memory bounds curvature runs) */
} analyze_opts;

/* What a run works on, and what it found (the JSON document being filled). */
typedef struct analyze_ctx {
  const analyze_opts *o;
  suri_model *m;
  suri_dataset *d;
  int64_t n;                /* samples analysed: the first n of d */
  char spec[1024];          /* canonical model spec */
  cJSON *json;              /* the --out document */
  int tty;                  /* progress display on stderr */
} analyze_ctx;

/* ---- analyze_memory.c ---------------------------------------------------------------------- */
/* Refuses (CLI_FAIL, the estimate and its parts on stderr) a fisher/efisher/gn/hessian/lr run
 * whose estimated peak exceeds --memory or, without it, the memory available; called before the
 * model (spec) is built and before the analysis allocates. a->d must be loaded. */
int analyze_check_memory(const analyze_ctx *a, const suri_model_spec *spec, int64_t B);

/* ---- analyze_curv.c / analyze_ntk.c ------------------------------------------------------- */
int analyze_curv(analyze_ctx *a);   /* fisher, efisher, gn, hessian */
int analyze_lr(analyze_ctx *a);
int analyze_ntk(analyze_ctx *a);

/* ---- analyze_util.c ----------------------------------------------------------------------- */
/* A progress display wrapped around an operator: every application is counted (and, while
 * `squares` is set, ||A v||^2 / n is accumulated for the second-moment estimate of
 * Hutchinson probes). On a terminal a bar is redrawn at most ten times a second. */
typedef struct an_progress {
  const suri_linop *inner;
  int tty, drawn;
  char prefix[32];          /* e.g. "fc2: " while a layer runs */
  char phase[128];
  int64_t done, expect;
  double t0, last;
  double op_secs;           /* time spent inside the operator since the phase began */
  int squares;
  int64_t sq_n;
  double sq_mean, sq_m2;    /* Welford accumulators of ||A z||^2 / n */
} an_progress;

/* Returns the wrapping operator (ctx = p); p->inner must outlive it. */
suri_linop an_progress_wrap(an_progress *p, const suri_linop *inner, int tty);
/* Starts a phase: `expect` applications at most (0 = unknown: a spinner). */
void an_progress_phase(an_progress *p, const char *phase, int64_t expect);
/* Clears the line drawn (before printing anything else). */
void an_progress_clear(an_progress *p);
/* One-line spinner note for phases without per-step hooks (NTK), cleared by _clear. */
void an_progress_note(an_progress *p, const char *text);

/* CPU seconds of the whole process (all threads): next to the wall-clock times in the JSON,
 * for benchmarks on a machine that other work shares (bench/analysis.sh). */
double an_cpu_now(void);

/* JSON helpers: a finite number or null; an array of doubles (non-finite as null). */
void an_json_num(cJSON *j, const char *key, double v);
cJSON *an_json_array(const double *v, int64_t n);


/* Prints a solver summary line and the eigenvalue list; adds {"eigenvalues", "residuals",
 * "iterations", "applications", "converged", "seconds", "solver"} to j. */
void an_report_eigs(cJSON *j, const char *solver, int k, const double *vals, const double *res,
                    const suri_solver_info *info, double secs, int print, const char *indent);

#endif
