/* train_mfld.c - options and help of `suri train --optim mfld|pda|psdca`: the particle methods
 * of suri/mfld.h (mean-field Langevin dynamics, particle dual averaging, particle SDCA) train a
 * two-layer mean-field network f(x) = (1/M) sum_j alpha(a_j) act(w_j . x + b_j) held as M
 * particles, not a suri_model, so they have their own flags (one per suri_mfld_config field a
 * user sets; defaults are suri_mfld_defaults(), the choices of docs/algorithms/mfld.md section 5
 * and pda_psdca.md). The MFLD step in first-variation units is
 *   theta_j <- theta_j - eta [G_j + 2 lambda1 theta_j] + sqrt(2 eta lambda2) xi_j,
 * xi_j ~ N(0, I_p): the noise is NOT scaled by M (suri/mfld.h says why).
 * The run itself (data, output directory, checkpoints, signals) is train_mfld_run.c. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train_mfld.h"

#define CMD "train"

/* The first half of the help: what it does, data, network, objective, dynamics, length. */
static void usage_mfld_net(FILE *f, const suri_mfld_config *dp) {
  const suri_mfld_config d = *dp;
  fprintf(f,
    "usage: suri train --optim mfld|pda|psdca --data SPEC [OPTIONS]\n"
    "       suri train --resume DIR [--epochs N] [--threads N] [--memory SIZE] [--quiet|--json]\n\n"
    "Trains a two-layer mean-field network f(x) = (1/M) sum_j alpha(a_j) act(w_j . x + b_j),\n"
    "held as M particles theta_j = (w_j, [b_j], [a_j]), by minimising\n"
    "  L(q) = (1/n) sum_i loss(f(x_i), y_i) + lambda1 E_q|theta|^2 + lambda2 Ent(q)\n"
    "with mean-field Langevin dynamics (mfld), particle dual averaging (pda) or particle\n"
    "stochastic dual coordinate ascent (psdca); docs/mfld.md. Labels: binary 0/1 (read as\n"
    "-1/+1) or one regression target. Writes DIR/config.json, DIR/metrics.jsonl (one JSON\n"
    "object per monitor), DIR/model.safetensors (the particles) and DIR/checkpoint.safetensors.\n\n"
    "Noise: theta_j <- theta_j - eta [G_j + 2 lambda1 theta_j] + sqrt(2 eta lambda2) xi_j,\n"
    "xi_j ~ N(0, I_p) per coordinate, NOT scaled by M (G_j: M x the risk gradient of theta_j).\n\n"
    "data:\n"
    "  --optim NAME          mfld | pda | psdca                          (default mfld)\n"
    "  --data SPEC           training data, e.g. parity:d=20,k=3,n=2000 (docs/formats.md)\n"
    "                                                                    (required)\n"
    "  --test-data SPEC      monitored test set, 'none' for none         (default none)\n"
    "network:\n"
    "  --particles N, --M N  particles M (the width)                     (default %lld)\n"
    "  --act A               tanh | relu | identity                      (default %s)\n"
    "  --bias                a trainable bias coordinate b_j             (default %s)\n"
    "  --head H              alpha(a): learn (a) | bounded (R tanh a) | pm1 (fixed +-1) |\n"
    "                        one (fixed 1)                               (default %s)\n"
    "  --R X                 bound of --head bounded, > 0                (default %g)\n"
    "  --loss L              squared | logistic                          (default %s)\n"
    "objective:\n"
    "  --lambda1 X           L2 weight (penalty lambda1 |theta|^2), >= 0 (default %g)\n"
    "  --lambda2 X           entropy weight (temperature), >= 0          (default %g)\n"
    "  --init-std X|gibbs    theta_j ~ N(0, X^2 I); gibbs: the Gibbs prior's\n"
    "                        sqrt(lambda2 / (2 lambda1))                 (default gibbs)\n"
    "dynamics (mfld):\n"
    "  --eta X, --lr X       step in first-variation units (> 0)         (default %g)\n"
    "  --estimator E         full | minibatch | svrg                     (default %s)\n"
    "  --batch N             minibatch size (minibatch, svrg)            (default %lld)\n"
    "  --svrg-period N       steps between SVRG snapshots, 0 = one pass  (default %lld)\n"
    "  --anneal C            C > 0: lambda2_k = C / log(e + k eta); 0 = off (default %g)\n"
    "length:\n"
    "  --epochs N            epochs (monitoring periods)                 (default %lld)\n"
    "  --steps-per-epoch N   0 = auto: minibatch/svrg one pass, full 10, pda\n"
    "                        ceil(n / pda-batch), psdca n                (default %lld)\n"
    "  --seed N              init, noise, batches, resampling, in [0, 2^53] (default %llu)\n",
    (long long)d.M, suri_act_name(d.act), d.bias ? "on" : "off", suri_mfld_head_name(d.head),
    d.R, suri_mfld_loss_name(d.loss), d.lambda1, d.lambda2, d.eta,
    suri_mfld_estimator_name(d.estimator), (long long)d.batch, (long long)d.svrg_period,
    d.anneal, (long long)d.epochs, (long long)d.steps_per_epoch, (unsigned long long)d.seed);
}

/* The second half of the help: monitoring, pda / psdca, run. */
static void usage_mfld_run(FILE *f, const suri_mfld_config *dp) {
  const suri_mfld_config d = *dp;
  fprintf(f,
    "monitoring (at epoch 0, every --monitor-every epochs and at the end):\n"
    "  --monitor-every N     epochs between monitors                     (default %lld)\n"
    "  --gap G               duality gap: auto (only when p <= 3, by quadrature) | never |\n"
    "                        always (p > 3: an importance-sampled ESTIMATE) (default %s)\n"
    "  --gap-samples N       importance samples for log Z when p > 3     (default %lld)\n"
    "  --gap-grid N          quadrature points per axis, 0 = auto        (default %d)\n"
    "  --knn K               k of the k-NN entropy estimate              (default %d)\n"
    "pda / psdca:\n"
    "  --inner-eta X         inner Langevin step, 0 = 0.05 / (2 lambda1 + smoothness)\n"
    "                                                                    (default %g)\n"
    "  --smoothness X        data-term smoothness guess for --inner-eta  (default %g)\n"
    "  --pda-batch N         examples per PDA outer step                 (default %lld)\n"
    "  --pda-inner K         inner Langevin steps per PDA outer step     (default %lld)\n"
    "  --psdca-inner K       Langevin steps after a P-SDCA resampling    (default %lld)\n"
    "  --psdca-ess X         resample when ESS < X M, in (0, 1]          (default %g)\n"
    "  --psdca-safety X      factor on the curvature s_i, >= 1           (default %g)\n"
    "  --psdca-refresh 0|1   resample + Langevin at the end of every epoch (default %d)\n",
    (long long)d.monitor_every, mfld_gap_name(d.gap), (long long)d.gap_samples, d.gap_grid,
    d.knn, d.inner_eta, d.smoothness, (long long)d.pda_batch, (long long)d.pda_inner,
    (long long)d.psdca_inner, d.psdca_ess, d.psdca_safety, d.psdca_refresh);
  fprintf(f,
    "run:\n"
    "  --chunk N             data rows per GEMM block (memory chunk x M) (default %lld)\n"
    "  --threads N           threads, 0 = all cores; results are bitwise the same for any\n"
    "                        count                                       (default 0)\n"
    "  --out DIR             output directory (created)   (default runs/YYYYmmdd-HHMMSS)\n"
    "  --checkpoint-every N  epochs between checkpoints, a multiple of --monitor-every\n"
    "                        (written at monitors); 0 = only at the end  (default: every\n"
    "                        monitor)\n"
    "  --resume DIR          continue the run in DIR from DIR/checkpoint.safetensors with\n"
    "                        the settings of DIR/config.json; --epochs N sets a new total\n"
    "  --memory SIZE         refuse a run whose estimated memory exceeds SIZE (e.g. 2G)\n"
    "                                   (default: the memory available on this machine)\n"
    "  --quiet               print only the final result\n"
    "  --json                print the final result as one JSON object on stdout\n"
    "  -h, --help            show this help\n\n"
    "Progress goes to stderr (one line per monitor), the result to stdout. A run stopped at\n"
    "an epoch boundary (a checkpoint, or a shorter --epochs) and resumed ends with particles\n"
    "bitwise identical to an uninterrupted run (for svrg when each checkpoint falls on a\n"
    "snapshot, as with the default period). SIGINT/SIGTERM stop after the current step and exit\n"
    "130/143; the checkpoint then holds the last epoch boundary written (the partial epoch is\n"
    "dropped), or, before any, the interrupted state (whose epoch is then run again).\n",
    (long long)d.chunk);
}

static void usage_mfld(FILE *f) {
  const suri_mfld_config d = suri_mfld_defaults();
  usage_mfld_net(f, &d);
  usage_mfld_run(f, &d);
}

enum {
  O_OPTIM = 256, O_DATA, O_TEST, O_M, O_ACT, O_BIAS, O_HEAD, O_R, O_LOSS, O_L1, O_L2, O_INIT,
  O_ETA, O_EST, O_BATCH, O_SVRG, O_ANNEAL, O_EPOCHS, O_SPE, O_SEED, O_MON, O_GAP, O_GAPS,
  O_GRID, O_KNN, O_IETA, O_SMOOTH, O_PDAB, O_PDAI, O_SDI, O_SDESS, O_SDSAFE, O_SDREF, O_CHUNK,
  O_THREADS, O_OUT, O_CKPT, O_RESUME, O_MEMORY, O_QUIET, O_JSON,
  O_FOREIGN /* ordinary-training flags: refused with a message */
};

static const struct option longs[] = {
    {"optim", required_argument, 0, O_OPTIM},        {"data", required_argument, 0, O_DATA},
    {"test-data", required_argument, 0, O_TEST},     {"particles", required_argument, 0, O_M},
    {"M", required_argument, 0, O_M},                {"act", required_argument, 0, O_ACT},
    {"bias", no_argument, 0, O_BIAS},                {"head", required_argument, 0, O_HEAD},
    {"R", required_argument, 0, O_R},                {"loss", required_argument, 0, O_LOSS},
    {"lambda1", required_argument, 0, O_L1},         {"lambda2", required_argument, 0, O_L2},
    {"init-std", required_argument, 0, O_INIT},      {"eta", required_argument, 0, O_ETA},
    {"lr", required_argument, 0, O_ETA},             {"estimator", required_argument, 0, O_EST},
    {"batch", required_argument, 0, O_BATCH},        {"svrg-period", required_argument, 0, O_SVRG},
    {"anneal", required_argument, 0, O_ANNEAL},      {"epochs", required_argument, 0, O_EPOCHS},
    {"steps-per-epoch", required_argument, 0, O_SPE}, {"seed", required_argument, 0, O_SEED},
    {"monitor-every", required_argument, 0, O_MON},  {"gap", required_argument, 0, O_GAP},
    {"gap-samples", required_argument, 0, O_GAPS},   {"gap-grid", required_argument, 0, O_GRID},
    {"knn", required_argument, 0, O_KNN},            {"inner-eta", required_argument, 0, O_IETA},
    {"smoothness", required_argument, 0, O_SMOOTH},  {"pda-batch", required_argument, 0, O_PDAB},
    {"pda-inner", required_argument, 0, O_PDAI},     {"psdca-inner", required_argument, 0, O_SDI},
    {"psdca-ess", required_argument, 0, O_SDESS},    {"psdca-safety", required_argument, 0, O_SDSAFE},
    {"psdca-refresh", required_argument, 0, O_SDREF}, {"chunk", required_argument, 0, O_CHUNK},
    {"threads", required_argument, 0, O_THREADS},    {"out", required_argument, 0, O_OUT},
    {"checkpoint-every", required_argument, 0, O_CKPT}, {"resume", required_argument, 0, O_RESUME},
    {"memory", required_argument, 0, O_MEMORY},      {"quiet", no_argument, 0, O_QUIET},
    {"json", no_argument, 0, O_JSON},                {"help", no_argument, 0, 'h'},
    {"model", required_argument, 0, O_FOREIGN},      {"schedule", required_argument, 0, O_FOREIGN},
    {"momentum", required_argument, 0, O_FOREIGN},   {"nesterov", no_argument, 0, O_FOREIGN},
    {"weight-decay", required_argument, 0, O_FOREIGN}, {"steps", required_argument, 0, O_FOREIGN},
    {"log-every", required_argument, 0, O_FOREIGN},  {"on-nonfinite", required_argument, 0, O_FOREIGN},
    {"lr-samples", required_argument, 0, O_FOREIGN},
    {0, 0, 0, 0}};

/* Which flags were given (by their O_ value), for the checks after parsing. */
typedef struct given {
  unsigned char f[O_FOREIGN + 1];
  const char *first; /* first flag given (for --resume: anything not allowed with it) */
} given;

static int copy_arg(char *dst, size_t n, const char *flag, const char *v) {
  if (strlen(v) >= n) return cli_usage_error(CMD, "value of %s is too long", flag);
  snprintf(dst, n, "%s", v);
  return CLI_OK;
}

/* A name parsed by the library's parser (SURI_ERR_ARG lists the valid names). */
static int lib_name(suri_status st, const char *flag, const char *v) {
  return st ? cli_usage_error(CMD, "invalid value '%s' for %s: %s", v, flag, suri_last_error())
            : CLI_OK;
}

static int parse_act(const char *v, suri_act *a) {
  if (!strcmp(v, "tanh")) *a = SURI_ACT_TANH;
  else if (!strcmp(v, "relu")) *a = SURI_ACT_RELU;
  else if (!strcmp(v, "identity")) *a = SURI_ACT_IDENTITY;
  else return cli_usage_error(CMD, "invalid value '%s' for --act: tanh, relu or identity", v);
  return CLI_OK;
}

static int parse_init(const char *v, double *out) {
  if (!strcmp(v, "gibbs")) {
    *out = -1;
    return CLI_OK;
  }
  return cli_parse_f64(CMD, "--init-std", v, 0, 0, INFINITY, out);
}

static int parse_flag01(const char *flag, const char *v, int *out) {
  int64_t x = 0;
  int rc = cli_parse_i64(CMD, flag, v, 0, 1, &x);
  if (!rc) *out = (int)x;
  return rc;
}

static int parse_int(const char *flag, const char *v, int64_t lo, int64_t hi, int *out) {
  int64_t x = 0;
  int rc = cli_parse_i64(CMD, flag, v, lo, hi, &x);
  if (!rc) *out = (int)x;
  return rc;
}

/* Applies one option (values range-checked as suri_mfld_check wants them). */
static int apply(int c, const char *v, mfld_opts *o) {
  suri_mfld_config *k = &o->c;
  const int64_t BIG = (int64_t)1 << 40;
  switch (c) {
  case O_OPTIM: return lib_name(suri_mfld_method_parse(v, &k->method), "--optim", v);
  case O_DATA: return copy_arg(o->data, sizeof o->data, "--data", v);
  case O_TEST: return copy_arg(o->test_data, sizeof o->test_data, "--test-data", v);
  case O_M: return cli_parse_i64(CMD, "--particles", v, 1, (int64_t)1 << 26, &k->M);
  case O_ACT: return parse_act(v, &k->act);
  case O_BIAS: k->bias = 1; return CLI_OK;
  case O_HEAD: return lib_name(suri_mfld_head_parse(v, &k->head), "--head", v);
  case O_R: return cli_parse_f64(CMD, "--R", v, 0, 1, INFINITY, &k->R);
  case O_LOSS: return lib_name(suri_mfld_loss_parse(v, &k->loss), "--loss", v);
  case O_L1: return cli_parse_f64(CMD, "--lambda1", v, 0, 0, INFINITY, &k->lambda1);
  case O_L2: return cli_parse_f64(CMD, "--lambda2", v, 0, 0, INFINITY, &k->lambda2);
  case O_INIT: return parse_init(v, &k->init_std);
  case O_ETA: return cli_parse_f64(CMD, "--eta", v, 0, 1, INFINITY, &k->eta);
  case O_EST: return lib_name(suri_mfld_estimator_parse(v, &k->estimator), "--estimator", v);
  case O_BATCH: return cli_parse_i64(CMD, "--batch", v, 1, BIG, &k->batch);
  case O_SVRG: return cli_parse_i64(CMD, "--svrg-period", v, 0, BIG, &k->svrg_period);
  case O_ANNEAL: return cli_parse_f64(CMD, "--anneal", v, 0, 0, INFINITY, &k->anneal);
  case O_EPOCHS: return cli_parse_i64(CMD, "--epochs", v, 1, BIG, &k->epochs);
  case O_SPE: return cli_parse_i64(CMD, "--steps-per-epoch", v, 0, BIG, &k->steps_per_epoch);
  case O_SEED: return cli_parse_u64(CMD, "--seed", v, MFLD_SEED_MAX, &k->seed);
  case O_MON: return cli_parse_i64(CMD, "--monitor-every", v, 1, BIG, &k->monitor_every);
  case O_GAP:
    if (mfld_gap_parse(v, &k->gap))
      return cli_usage_error(CMD, "invalid value '%s' for --gap: auto, never or always", v);
    return CLI_OK;
  case O_GAPS: return cli_parse_i64(CMD, "--gap-samples", v, 16, (int64_t)1 << 24, &k->gap_samples);
  case O_GRID:
    if (parse_int("--gap-grid", v, 0, 100000, &k->gap_grid)) return CLI_USAGE;
    if (k->gap_grid != 0 && k->gap_grid < 8)
      return cli_usage_error(CMD, "invalid value '%s' for --gap-grid: must be 0 or in [8, 100000]", v);
    return CLI_OK;
  case O_KNN: return parse_int("--knn", v, 1, 64, &k->knn);
  case O_IETA: return cli_parse_f64(CMD, "--inner-eta", v, 0, 0, INFINITY, &k->inner_eta);
  case O_SMOOTH: return cli_parse_f64(CMD, "--smoothness", v, 0, 1, INFINITY, &k->smoothness);
  case O_PDAB: return cli_parse_i64(CMD, "--pda-batch", v, 1, BIG, &k->pda_batch);
  case O_PDAI: return cli_parse_i64(CMD, "--pda-inner", v, 0, BIG, &k->pda_inner);
  case O_SDI: return cli_parse_i64(CMD, "--psdca-inner", v, 0, BIG, &k->psdca_inner);
  case O_SDESS: return cli_parse_f64(CMD, "--psdca-ess", v, 0, 1, 1, &k->psdca_ess);
  case O_SDSAFE: return cli_parse_f64(CMD, "--psdca-safety", v, 1, 0, INFINITY, &k->psdca_safety);
  case O_SDREF: return parse_flag01("--psdca-refresh", v, &k->psdca_refresh);
  case O_CHUNK: return cli_parse_i64(CMD, "--chunk", v, 1, (int64_t)1 << 20, &k->chunk);
  case O_THREADS: return cli_parse_i64(CMD, "--threads", v, 0, 1024, &o->threads);
  case O_OUT: return copy_arg(o->out, sizeof o->out, "--out", v);
  case O_CKPT: return cli_parse_i64(CMD, "--checkpoint-every", v, 0, BIG, &o->checkpoint_every);
  case O_RESUME: o->resume = v; return CLI_OK;
  case O_MEMORY:
    if (suri_parse_memory(v, &o->memory))
      return cli_usage_error(CMD, "invalid value '%s' for --memory: %s", v, suri_last_error());
    return CLI_OK;
  case O_QUIET: o->quiet = 1; return CLI_OK;
  case O_JSON: o->json = 1; return CLI_OK;
  }
  return CLI_USAGE;
}

static void defaults(mfld_opts *o) {
  memset(o, 0, sizeof *o);
  o->c = suri_mfld_defaults();
  o->checkpoint_every = -1;
}


/* Flags of one method given with another: refused (they would be silently ignored). */
static int check_method_flags(const mfld_opts *o, const given *g) {
  const suri_mfld_method k = o->c.method;
  static const struct { int opt; const char *flag; int methods; } only[] = {
      {O_ETA, "--eta/--lr", 1}, {O_EST, "--estimator", 1}, {O_BATCH, "--batch", 1},
      {O_SVRG, "--svrg-period", 1}, {O_ANNEAL, "--anneal", 1},
      {O_IETA, "--inner-eta", 6}, {O_SMOOTH, "--smoothness", 6}, {O_PDAB, "--pda-batch", 2},
      {O_PDAI, "--pda-inner", 2}, {O_SDI, "--psdca-inner", 4}, {O_SDESS, "--psdca-ess", 4},
      {O_SDSAFE, "--psdca-safety", 4}, {O_SDREF, "--psdca-refresh", 4}};
  static const char *names[] = {"", "mfld", "pda", "mfld or pda", "psdca", "mfld or psdca",
                                "pda or psdca"};
  for (size_t i = 0; i < sizeof only / sizeof only[0]; i++)
    if (g->f[only[i].opt] && !(only[i].methods & (1 << k)))
      return cli_usage_error(CMD, "%s applies to --optim %s, not %s", only[i].flag,
                             names[only[i].methods], suri_mfld_method_name(k));
  if (g->f[O_BATCH] && o->c.estimator == SURI_MFLD_FULL)
    return cli_usage_error(CMD, "--batch applies to --estimator minibatch or svrg (full uses all "
                           "n rows every step)");
  if (g->f[O_SVRG] && o->c.estimator != SURI_MFLD_SVRG)
    return cli_usage_error(CMD, "--svrg-period applies to --estimator svrg");
  if (k == SURI_MFLD_METHOD_PSDCA && o->c.head == SURI_MFLD_HEAD_FIXED_PM1)
    return cli_usage_error(CMD, "--head pm1 is not supported by --optim psdca (use learn, "
                           "bounded or one)");
  if (g->f[O_R] && o->c.head != SURI_MFLD_HEAD_BOUNDED)
    return cli_usage_error(CMD, "--R applies to --head bounded");
  return CLI_OK;
}

static int check_combinations(mfld_opts *o, const given *g) {
  if (o->quiet && o->json) return cli_usage_error(CMD, "give --quiet or --json, not both");
  if (o->resume) {
    if (g->first)
      return cli_usage_error(CMD, "--%s cannot be combined with --resume: a resumed run uses the "
                             "settings in %s/config.json (only --epochs, --threads, --memory, "
                             "--quiet and --json may be given)", g->first, o->resume);
    return CLI_OK;
  }
  if (!g->f[O_DATA])
    return cli_usage_error(CMD, "--data SPEC is required (e.g. --data parity:d=20,k=3,n=2000)");
  int rc = check_method_flags(o, g);
  if (rc) return rc;
  if (o->checkpoint_every < 0) o->checkpoint_every = o->c.monitor_every;
  if (o->checkpoint_every % o->c.monitor_every != 0)
    return cli_usage_error(CMD, "--checkpoint-every %lld must be a multiple of --monitor-every "
                           "%lld (checkpoints are written at monitors)",
                           (long long)o->checkpoint_every, (long long)o->c.monitor_every);
  if (!strcmp(o->test_data, "none")) o->test_data[0] = '\0';
  if (suri_mfld_check(&o->c))
    return cli_usage_error(CMD, "invalid settings: %s", suri_last_error());
  return CLI_OK;
}

/* Returns CLI_OK, CLI_USAGE, or -1 after --help. */
static int parse(int argc, char **argv, mfld_opts *o, given *g) {
  defaults(o);
  memset(g, 0, sizeof *g);
  opterr = 0;
  optind = 0;
  int c, rc, li = 0;
  char name[64];
  while ((c = getopt_long(argc, argv, ":h", longs, &li)) != -1) {
    if (c == 'h') {
      usage_mfld(stdout);
      return -1;
    }
    if (c == '?' || c == ':') return cli_getopt_error(CMD, c, argc, argv);
    snprintf(name, sizeof name, "--%s", longs[li].name);
    if (c == O_FOREIGN)
      return cli_usage_error(CMD, "%s does not apply to the particle methods (--optim mfld, pda, "
                             "psdca); their options: 'suri train --optim mfld --help'",
                             name);
    if ((rc = apply(c, optarg, o))) return rc;
    g->f[c] = 1;
    int ok_with_resume = c == O_RESUME || c == O_EPOCHS || c == O_THREADS || c == O_MEMORY ||
                         c == O_QUIET || c == O_JSON;
    if (!ok_with_resume && !g->first) g->first = longs[li].name;
  }
  if ((rc = cli_no_operands(CMD, argc, argv))) return rc;
  return check_combinations(o, g);
}


/* Settings of a resumed run: DIR/config.json plus the allowed overrides. */
static int load_resume(mfld_opts *o, const given *g) {
  mfld_opts cmd = *o;
  int rc = mfld_config_read(o->resume, o);
  if (rc) return rc;
  snprintf(o->out, sizeof o->out, "%s", cmd.resume);
  o->resume = cmd.resume, o->quiet = cmd.quiet, o->json = cmd.json, o->memory = cmd.memory;
  if (g->f[O_THREADS]) o->threads = cmd.threads;
  if (g->f[O_EPOCHS]) o->c.epochs = cmd.c.epochs;
  return CLI_OK;
}

int cmd_train_mfld(int argc, char **argv) {
  mfld_opts o;
  given g;
  int rc = parse(argc, argv, &o, &g);
  if (rc) return rc < 0 ? CLI_OK : rc;
  if (o.resume) {
    if ((rc = load_resume(&o, &g))) return rc;
  } else if (!o.out[0]) {
    cli_default_run_dir(o.out, sizeof o.out);
  }
  /* A resumed run keeps its config.json unless its length changed. */
  return mfld_train_run(&o, !o.resume || g.f[O_EPOCHS]);
}
