/* cmd_analyze.c - `suri analyze KIND`: curvature spectra (true Fisher, empirical Fisher,
 * Gauss-Newton, Hessian), the empirical NTK Gram and the critical learning rate 2/lambda_max of
 * a saved or freshly initialised model over the first N samples of a data set, through the
 * analysis library (suri/analysis.h, docs/analysis.md). This file parses the options, loads the
 * model and the data (applying a saved model's input standardisation as `suri eval` does),
 * dispatches to analyze_curv.c / analyze_ntk.c, and writes the --out JSON document atomically.
 * The readable summary goes to stdout, progress and notes to stderr. */
#include <getopt.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "analyze_cli.h"
#include "suri/io.h"
#include "suri/train.h"

#define DEF_DATA "mnist10k"
#define DEF_SAMPLES 512
#define DEF_BATCH 512
#define DEF_TOL 1e-6
#define DEF_TRACE_PROBES 100
#define DEF_DENSITY_PROBES 10
#define DEF_DENSITY_STEPS 80
#define DEF_GRID 1000
#define DEF_MEMORY "2G"
#define SEED_MAX 9007199254740992ull /* 2^53: exact as a JSON number */

void usage_analyze(FILE *f) {
  fprintf(f,
    "usage: suri analyze KIND (--model FILE | --model SPEC --seed N) [--data SPEC]\n"
    "                    [--samples N] [--top K] [--trace] [--density] [--per-layer]\n"
    "                    [--theory] [--memory SIZE] [--out FILE.json] [OPTIONS]\n\n"
    "Measures the curvature or the tangent kernel of a model over the first N samples of\n"
    "a data set (evaluation mode: dropout off, batch norm with running statistics) and\n"
    "prints a summary; --out writes everything as JSON. KIND:\n"
    "  fisher    true Fisher information (the model's predictive distribution)\n"
    "  efisher   empirical Fisher (observed labels)\n"
    "  gn        Gauss-Newton of the model's mean loss\n"
    "  hessian   Hessian of the mean loss (exact products; with batch/layer norm: differences)\n"
    "  ntk       empirical neural tangent kernel Gram matrix\n"
    "  lr        lambda_max of the Gauss-Newton and the critical learning rate 2/lambda_max\n"
    "            of gradient descent, next to the mean-field theory's prediction\n\n"
    "model and data:\n"
    "  --model FILE|SPEC    a model file from 'suri train', or a spec mlp:IN-...-OUT[,...]\n"
    "                       (see 'suri help train') initialised with --seed  (required)\n"
    "  --seed N             initialisation of --model SPEC, in [0, 2^53]  (required with SPEC)\n"
    "  --data SPEC          data set (see docs/formats.md)               (default %s)\n"
    "  --samples N          analyse the first N samples (all if fewer)    (default %d)\n"
    "  --batch N            samples per network pass                      (default %d)\n"
    "  --batch-stats        curvature kinds: training-mode batch norm with the statistics of\n"
    "                       each --batch chunk instead of the running statistics (a batch >=\n"
    "                       --samples gives full-data statistics)         (default off)\n"
    "eigenvalues (fisher, efisher, gn, hessian, lr; ntk: of the Gram by LAPACK):\n"
    "  --top K              number of top eigenvalues                     (default 1)\n"
    "  --solver NAME        lanczos | power                               (default lanczos)\n"
    "  --which W            largest | smallest | magnitude (lanczos)      (default largest)\n"
    "  --tol X              relative residual ||Av - lambda v|| / |lambda_1| (default %g)\n"
    "  --max-iter N         Lanczos steps / power iterations per pair, 0 = the solver's\n"
    "                       default (lanczos min(P, max(2K + 40, 80)), power 1000) (default 0)\n"
    "  --probe-seed N       start and probe vectors                       (default 0)\n"
    "  --hess-method M      hessian: auto (exact products unless the model has batch or\n"
    "                       layer norm, then central differences) | exact | diff\n"
    "                                                                  (default auto)\n"
    "  --hess-eps X         hessian, differences: relative step, 0 = 1e-5 (f64) / 3e-4\n"
    "                       (f32)                                         (default 0)\n",
    DEF_DATA, DEF_SAMPLES, DEF_BATCH, DEF_TOL);
  fprintf(f,
    "trace and density (fisher, efisher, gn, hessian):\n"
    "  --trace              Hutchinson trace estimate with its standard error\n"
    "  --trace-probes N     Rademacher probes                              (default %d)\n"
    "  --density            spectral density by stochastic Lanczos quadrature\n"
    "  --density-probes N   probes                                         (default %d)\n"
    "  --density-steps N    Lanczos steps per probe                        (default %d)\n"
    "  --grid N             density grid points                            (default %d)\n"
    "  --sigma X            Gaussian broadening, 0 = 1%% of the node range  (default 0)\n"
    "  --per-layer          the same for each dense layer's W and b alone\n"
    "  --theory             fisher: the mean-field theory's predictions (mean eigenvalue,\n"
    "                       second moment, lambda_max, critical lr) next to the measured\n"
    "                       values, with input statistics measured on the data\n"
    "ntk:\n"
    "  --ntk-mode M         trace: (N, N) sum_k Theta_kk; full: (N C, N C) every output\n"
    "                       pair; diag: (N, C) Theta_kk(x, x); sum: (N, N) the kernel of\n"
    "                       the logit sum f_1 + ... + f_C                 (default trace)\n"
    "  --memory SIZE        budget for the Gram, its eigendecomposition and the scratch,\n"
    "                       such as 512M or 1.5G (K, M, G, T: powers of 1024) (default %s);\n"
    "                       the other kinds refuse a run whose estimated peak (model, data,\n"
    "                       operator, Lanczos basis) exceeds SIZE\n"
    "                                   (default: the memory available on this machine)\n"
    "  --gram-out FILE.npy  write the Gram matrix (float64)\n"
    "output:\n"
    "  --out FILE.json      write settings, results and timings as JSON (atomic)\n"
    "  --threads N          threads, 0 = all cores                         (default 0)\n"
    "  --quiet              no progress display on stderr\n"
    "  -h, --help           show this help\n\n"
    "A model file trained on standardised inputs standardises the data with its training\n"
    "statistics, as 'suri eval' does. Exit status: 0 success (also when the theory does not\n"
    "cover the model: its reason is printed), 1 failure, 2 bad usage.\n",
    DEF_TRACE_PROBES, DEF_DENSITY_PROBES, DEF_DENSITY_STEPS, DEF_GRID, DEF_MEMORY);
}

enum { O_MODEL = 256, O_SEED, O_DATA, O_SAMPLES, O_BATCH, O_TOP, O_SOLVER, O_WHICH, O_TOL,
       O_MAXIT, O_PSEED, O_HEPS, O_HMETHOD, O_TRACE, O_TPROBES, O_DENSITY, O_DPROBES, O_DSTEPS, O_GRID,
       O_SIGMA, O_PERLAYER, O_THEORY, O_NTKMODE, O_MEMORY, O_GRAMOUT, O_OUT, O_THREADS,
       O_QUIET, O_BSTATS, O_COUNT };

static const struct option longs[] = {
    {"model", required_argument, 0, O_MODEL},      {"seed", required_argument, 0, O_SEED},
    {"data", required_argument, 0, O_DATA},        {"samples", required_argument, 0, O_SAMPLES},
    {"batch", required_argument, 0, O_BATCH},      {"top", required_argument, 0, O_TOP},
    {"solver", required_argument, 0, O_SOLVER},    {"which", required_argument, 0, O_WHICH},
    {"tol", required_argument, 0, O_TOL},          {"max-iter", required_argument, 0, O_MAXIT},
    {"probe-seed", required_argument, 0, O_PSEED}, {"hess-eps", required_argument, 0, O_HEPS},
    {"hess-method", required_argument, 0, O_HMETHOD},
    {"trace", no_argument, 0, O_TRACE},            {"trace-probes", required_argument, 0, O_TPROBES},
    {"density", no_argument, 0, O_DENSITY},        {"density-probes", required_argument, 0, O_DPROBES},
    {"density-steps", required_argument, 0, O_DSTEPS}, {"grid", required_argument, 0, O_GRID},
    {"sigma", required_argument, 0, O_SIGMA},      {"per-layer", no_argument, 0, O_PERLAYER},
    {"theory", no_argument, 0, O_THEORY},          {"ntk-mode", required_argument, 0, O_NTKMODE},
    {"memory", required_argument, 0, O_MEMORY},    {"gram-out", required_argument, 0, O_GRAMOUT},
    {"out", required_argument, 0, O_OUT},          {"threads", required_argument, 0, O_THREADS},
    {"quiet", no_argument, 0, O_QUIET},            {"batch-stats", no_argument, 0, O_BSTATS},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

static const struct { const char *name; an_kind kind; } KINDS[] = {
    {"fisher", AN_FISHER}, {"efisher", AN_EFISHER}, {"gn", AN_GN},
    {"hessian", AN_HESSIAN}, {"ntk", AN_NTK}, {"lr", AN_LR}};

static void defaults(analyze_opts *o) {
  memset(o, 0, sizeof *o);
  o->data = DEF_DATA;
  o->samples = DEF_SAMPLES, o->batch = DEF_BATCH, o->top = 1;
  o->which = SURI_EIG_LARGEST;
  o->tol = DEF_TOL;
  o->trace_probes = DEF_TRACE_PROBES;
  o->density_probes = DEF_DENSITY_PROBES, o->density_steps = DEF_DENSITY_STEPS;
  o->grid = DEF_GRID;
  o->ntk_mode = AN_NTK_TRACE;
  o->memory = (uint64_t)2 << 30;
}

static int parse_choice(const char *flag, const char *v, const char *const *names, int n,
                        int *out) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i])) {
      *out = i;
      return CLI_OK;
    }
  char list[256] = "";
  for (int i = 0; i < n; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
  return cli_usage_error("analyze", "invalid value '%s' for %s (expected %s)", v, flag, list);
}

/* --memory: suri_parse_memory's units (K, M, G, T: powers of 1024), at least 1 MiB. */
static int parse_memory(const char *v, analyze_opts *o) {
  double bytes = 0;
  if (suri_parse_memory(v, &bytes) || !(bytes < 9.2e18))
    return cli_usage_error("analyze", "invalid value '%s' for --memory: %s", v,
                           suri_last_error()[0] ? suri_last_error() : "too large");
  o->memory = (uint64_t)bytes;
  return CLI_OK;
}

/* --hess-method names, in suri_hess_method order. */
static const char *const hess_methods[] = {"auto", "exact", "diff"};

/* Applies one option. */
static int apply(int c, const char *v, analyze_opts *o) {
  static const char *const solvers[] = {"lanczos", "power"};
  static const char *const which[] = {"largest", "smallest", "magnitude"};
  static const char *const modes[] = {"trace", "full", "diag", "sum"};
  const char *A = "analyze";
  int k = 0, rc;
  switch (c) {
  case O_MODEL: o->model = v; return CLI_OK;
  case O_SEED: o->has_seed = 1; return cli_parse_u64(A, "--seed", v, SEED_MAX, &o->seed);
  case O_DATA: o->data = v; return CLI_OK;
  case O_SAMPLES: return cli_parse_i64(A, "--samples", v, 1, (int64_t)1 << 31, &o->samples);
  case O_BATCH: return cli_parse_i64(A, "--batch", v, 1, 1 << 20, &o->batch);
  case O_TOP: return cli_parse_i64(A, "--top", v, 1, 100000, &o->top);
  case O_SOLVER: rc = parse_choice("--solver", v, solvers, 2, &k); o->power = k; return rc;
  case O_WHICH: rc = parse_choice("--which", v, which, 3, &k); o->which = (suri_eig_which)k; return rc;
  case O_TOL: return cli_parse_f64(A, "--tol", v, 0, 1, 1, &o->tol);
  case O_MAXIT: return cli_parse_i64(A, "--max-iter", v, 0, 1000000, &o->max_iter);
  case O_PSEED: return cli_parse_u64(A, "--probe-seed", v, SEED_MAX, &o->probe_seed);
  case O_HEPS: return cli_parse_f64(A, "--hess-eps", v, 0, 0, 0.1, &o->hess_eps);
  case O_HMETHOD:
    rc = parse_choice("--hess-method", v, hess_methods, 3, &k);
    o->hess_method = (suri_hess_method)k;
    return rc;
  case O_TRACE: o->trace = 1; return CLI_OK;
  case O_TPROBES: return cli_parse_i64(A, "--trace-probes", v, 2, 1000000, &o->trace_probes);
  case O_DENSITY: o->density = 1; return CLI_OK;
  case O_DPROBES: return cli_parse_i64(A, "--density-probes", v, 1, 100000, &o->density_probes);
  case O_DSTEPS: return cli_parse_i64(A, "--density-steps", v, 1, 100000, &o->density_steps);
  case O_GRID: return cli_parse_i64(A, "--grid", v, 2, 10000000, &o->grid);
  case O_SIGMA: return cli_parse_f64(A, "--sigma", v, 0, 0, INFINITY, &o->sigma);
  case O_PERLAYER: o->per_layer = 1; return CLI_OK;
  case O_THEORY: o->theory = 1; return CLI_OK;
  case O_NTKMODE: rc = parse_choice("--ntk-mode", v, modes, 4, &k); o->ntk_mode = (an_ntk_mode)k; return rc;
  case O_MEMORY: o->memory_given = 1; return parse_memory(v, o);
  case O_GRAMOUT: o->gram_out = v; return CLI_OK;
  case O_OUT: o->out = v; return CLI_OK;
  case O_THREADS: return cli_parse_i64(A, "--threads", v, 0, 1024, &o->threads);
  case O_QUIET: o->quiet = 1; return CLI_OK;
  case O_BSTATS: o->batch_stats = 1; return CLI_OK;
  }
  return CLI_USAGE;
}

static const char *flag_name(int c) {
  for (const struct option *l = longs; l->name; l++)
    if (l->val == c) return l->name;
  return "?";
}

/* Flags that only some kinds take: the first flag given that KIND does not take, or 0. */
static int misplaced(const analyze_opts *o, const int *given) {
  static const int curv_only[] = {O_TRACE, O_TPROBES, O_DENSITY, O_DPROBES, O_DSTEPS, O_GRID,
                                  O_SIGMA, O_SOLVER, O_WHICH, O_TOL, O_MAXIT, O_PSEED,
                                  O_BSTATS, 0};
  static const int ntk_only[] = {O_NTKMODE, O_GRAMOUT, 0};
  static const int not_lr[] = {O_TRACE, O_TPROBES, O_DENSITY, O_DPROBES, O_DSTEPS, O_GRID,
                               O_SIGMA, O_PERLAYER, O_THEORY, O_TOP, O_WHICH, 0};
  if (o->kind == AN_NTK)
    for (const int *f = curv_only; *f; f++)
      if (given[*f]) return *f;
  if (o->kind != AN_NTK)
    for (const int *f = ntk_only; *f; f++)
      if (given[*f]) return *f;
  if (o->kind == AN_LR)
    for (const int *f = not_lr; *f; f++)
      if (given[*f]) return *f;
  if (given[O_HEPS] && o->kind != AN_HESSIAN) return O_HEPS;
  if (given[O_HMETHOD] && o->kind != AN_HESSIAN) return O_HMETHOD;
  if (given[O_THEORY] && o->kind != AN_FISHER) return O_THEORY;
  return 0;
}

static int check(analyze_opts *o, const int *given) {
  int bad = misplaced(o, given);
  if (bad == O_THEORY)
    return cli_usage_error("analyze", "--theory applies to 'fisher' (the theory predicts the "
                           "true Fisher; 'lr' compares with it by itself)");
  if (bad)
    return cli_usage_error("analyze", "--%s does not apply to '%s'",
                           flag_name(bad), o->kind_name);
  if (!o->model) return cli_usage_error("analyze", "--model FILE or --model SPEC --seed N is required");
  o->model_is_spec = strncmp(o->model, "mlp:", 4) == 0;
  if (o->model_is_spec && !o->has_seed)
    return cli_usage_error("analyze", "--model %s is a spec: give --seed N for its "
                           "initialisation (or a model file)", o->model);
  if (!o->model_is_spec && o->has_seed)
    return cli_usage_error("analyze", "--seed applies to --model SPEC; the model file %s has "
                           "its own parameters", o->model);
  if (o->power && o->which != SURI_EIG_LARGEST && given[O_WHICH])
    return cli_usage_error("analyze", "--which applies to --solver lanczos (power iteration "
                           "finds the largest |lambda|)");
  if (o->kind == AN_NTK && o->ntk_mode == AN_NTK_DIAG && given[O_TOP])
    return cli_usage_error("analyze", "--top does not apply to --ntk-mode diag (an (N, C) "
                           "table has no eigenvalues)");
  if (o->kind == AN_NTK && o->ntk_mode == AN_NTK_DIAG && o->per_layer)
    return cli_usage_error("analyze", "--per-layer does not apply to --ntk-mode diag");
  return CLI_OK;
}

static int parse(int argc, char **argv, analyze_opts *o) {
  defaults(o);
  if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    usage_analyze(stdout);
    return -1;
  }
  if (argc < 2 || argv[1][0] == '-')
    return cli_usage_error("analyze", "missing KIND: fisher, efisher, gn, hessian, ntk or lr");
  size_t nk = sizeof KINDS / sizeof KINDS[0], i;
  for (i = 0; i < nk && strcmp(argv[1], KINDS[i].name); i++) {}
  if (i == nk)
    return cli_usage_error("analyze", "unknown KIND '%s' (expected fisher, efisher, gn, hessian, "
                           "ntk or lr)", argv[1]);
  o->kind = KINDS[i].kind, o->kind_name = KINDS[i].name;
  argc--, argv++;
  int given[O_COUNT] = {0}, c, rc;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    if (c == 'h') {
      usage_analyze(stdout);
      return -1;
    }
    if (c == '?' || c == ':') return cli_getopt_error("analyze", c, argc, argv);
    if ((rc = apply(c, optarg, o))) return rc;
    given[c] = 1;
  }
  if ((rc = cli_no_operands("analyze", argc, argv))) return rc;
  return check(o, given);
}

/* ---- model and data ----------------------------------------------------------------------- */
/* A model trained on standardised data standardises the analysed data with its statistics
 * (as cmd_eval.c does). */
static int apply_input_norm(const analyze_opts *o, const suri_model *m, suri_dataset *d) {
  return cli_apply_input_norm(o->model, o->data, m, d);
}

static int load(analyze_ctx *a) {
  const analyze_opts *o = a->o;
  suri_status st = suri_data_load(o->data, &a->d);
  if (st) return cli_data_error("analyze", "--data", o->data, st);
  a->n = o->samples < a->d->n ? o->samples : a->d->n;
  int64_t B = o->batch < a->n ? o->batch : a->n;
  if (o->model_is_spec) {
    suri_model_spec spec;
    st = suri_model_spec_parse(o->model, &spec);
    if (st) {
      fprintf(stderr, "suri analyze: invalid value '%s' for --model: %s\nsee 'suri analyze "
              "--help'\n", o->model, suri_last_error());
      return CLI_USAGE;
    }
    int rc = analyze_check_memory(a, &spec, B);
    if (rc) return rc;
    st = suri_model_new(&spec, B, &a->m);
    if (!st) st = suri_model_init(a->m, o->seed);
    if (st) return cli_fail(st, "cannot build model '%s'", o->model);
  } else {
    st = suri_model_load(o->model, B, &a->m, NULL);
    if (st) return cli_fail(st, "cannot load model %s", o->model);
  }
  suri_model_spec_format(suri_model_get_spec(a->m), a->spec, sizeof a->spec);
  if (!o->model_is_spec) {
    int rc = analyze_check_memory(a, suri_model_get_spec(a->m), B);
    if (rc) return rc;
  }
  /* Labels and targets are checked by the operators that need them (efisher, hessian). */
  const suri_model_spec *s = suri_model_get_spec(a->m);
  if (a->d->dim != s->width[0])
    return cli_fail(SURI_OK, "data '%s' has %lld features per sample but model %s takes %lld",
                    o->data, (long long)a->d->dim, o->model, (long long)s->width[0]);
  return apply_input_norm(o, a->m, a->d);
}

/* ---- the JSON document -------------------------------------------------------------------- */
static void json_settings(analyze_ctx *a) {
  const analyze_opts *o = a->o;
  cJSON *j = a->json;
  cJSON_AddStringToObject(j, "suri_version", SURI_VERSION_STRING);
  cJSON_AddStringToObject(j, "real", SURI_REAL_NAME);
  cJSON_AddStringToObject(j, "blas", suri_blas_info());
  cJSON_AddStringToObject(j, "kind", o->kind_name);
  cJSON_AddStringToObject(j, "model", a->spec);
  if (o->model_is_spec) {
    cJSON_AddNullToObject(j, "model_file");
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
  } else {
    cJSON_AddStringToObject(j, "model_file", o->model);
    cJSON_AddNullToObject(j, "seed");
  }
  cJSON_AddStringToObject(j, "data", o->data);
  cJSON_AddNumberToObject(j, "samples", (double)a->n);
  cJSON_AddNumberToObject(j, "data_samples", (double)a->d->n);
  cJSON_AddNumberToObject(j, "params", (double)suri_model_param_numel(a->m));
  cJSON_AddNumberToObject(j, "threads", suri_get_threads());
  cJSON *s = cJSON_AddObjectToObject(j, "settings");
  cJSON_AddNumberToObject(s, "batch", (double)suri_model_max_batch(a->m));
  cJSON_AddNumberToObject(s, "top", (double)o->top);
  cJSON_AddStringToObject(s, "solver", o->power ? "power" : "lanczos");
  cJSON_AddStringToObject(s, "which", o->which == SURI_EIG_LARGEST ? "largest"
                                      : o->which == SURI_EIG_SMALLEST ? "smallest" : "magnitude");
  cJSON_AddNumberToObject(s, "tol", o->tol);
  cJSON_AddNumberToObject(s, "max_iter", (double)o->max_iter);
  cJSON_AddNumberToObject(s, "probe_seed", (double)o->probe_seed);
  cJSON_AddBoolToObject(s, "trace", o->trace);
  cJSON_AddNumberToObject(s, "trace_probes", (double)o->trace_probes);
  cJSON_AddBoolToObject(s, "density", o->density);
  cJSON_AddNumberToObject(s, "density_probes", (double)o->density_probes);
  cJSON_AddNumberToObject(s, "density_steps", (double)o->density_steps);
  cJSON_AddNumberToObject(s, "grid", (double)o->grid);
  cJSON_AddNumberToObject(s, "sigma", o->sigma);
  cJSON_AddBoolToObject(s, "per_layer", o->per_layer);
  cJSON_AddBoolToObject(s, "theory", o->theory);
  cJSON_AddBoolToObject(s, "batch_stats", o->batch_stats);
  if (o->kind == AN_HESSIAN) {
    cJSON_AddNumberToObject(s, "hess_eps", o->hess_eps);
    cJSON_AddStringToObject(s, "hess_method", hess_methods[o->hess_method]);
  }
  if (o->kind == AN_NTK) {
    static const char *const modes[] = {"trace", "full", "diag", "sum"};
    cJSON_AddStringToObject(s, "ntk_mode", modes[o->ntk_mode]);
    cJSON_AddNumberToObject(s, "memory_bytes", (double)o->memory);
  }
}

static int write_json(const analyze_ctx *a) {
  int rc = cli_write_json(a->o->out, a->json);
  if (!rc && !a->o->quiet) fprintf(stderr, "wrote %s\n", a->o->out);
  return rc;
}

static void print_header(const analyze_ctx *a) {
  const analyze_opts *o = a->o;
  printf("suri analyze %s: %s", o->kind_name, a->spec);
  if (o->model_is_spec) printf(" (fresh initialisation, seed %llu)\n", (unsigned long long)o->seed);
  else printf(" (from %s)\n", o->model);
  printf("  data %s: first %lld of %lld samples; %zu parameters; %d thread%s; %s, BLAS %s\n",
         a->d->name, (long long)a->n, (long long)a->d->n, suri_model_param_numel(a->m),
         suri_get_threads(), suri_get_threads() == 1 ? "" : "s", SURI_REAL_NAME,
         suri_blas_info());
}

int cmd_analyze(int argc, char **argv) {
  analyze_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc < 0 ? CLI_OK : rc;
  if ((rc = cli_set_threads(o.threads))) return rc;
  analyze_ctx a;
  memset(&a, 0, sizeof a);
  a.o = &o;
  a.tty = !o.quiet && isatty(STDERR_FILENO);
  a.json = cJSON_CreateObject();
  if (!a.json) return cli_fail(SURI_ERR_NOMEM, "cannot allocate the JSON document");
  double t0 = cli_now();
  rc = load(&a);
  double t_load = cli_now() - t0;
  if (!rc) {
    json_settings(&a);
    print_header(&a);
    fflush(stdout);
    if (o.kind == AN_NTK) rc = analyze_ntk(&a);
    else if (o.kind == AN_LR) rc = analyze_lr(&a);
    else rc = analyze_curv(&a);
  }
  if (!rc && o.out) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(a.json, "timings");
    if (!t) t = cJSON_AddObjectToObject(a.json, "timings");
    cJSON_AddNumberToObject(t, "load_seconds", t_load);
    cJSON_AddNumberToObject(t, "total_seconds", cli_now() - t0);
    rc = write_json(&a);
  }
  fflush(stdout);
  cJSON_Delete(a.json);
  suri_model_free(a.m);
  suri_dataset_free(a.d);
  return rc;
}
