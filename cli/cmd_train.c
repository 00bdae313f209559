/* cmd_train.c - `suri train`: parses the options, builds the model and data sets through the
 * library, writes DIR/config.json, and runs suri_train_run (which writes metrics.jsonl,
 * model.safetensors and checkpoint.safetensors). `--resume DIR` rebuilds everything from
 * DIR/config.json and continues from DIR/checkpoint.safetensors, bit for bit.
 * With no options it trains a ReLU MLP 784-1024-1024-10 with dropout 0.3 by Adam (lr 1e-3,
 * cosine schedule, batch 128, 20 epochs) on the bundled 8,000-digit mnist10k training split and
 * reports the accuracy on its 2,000-digit test split: 95.6-96.0% for seeds 1-3, in about 20 s
 * on 2 cores (docs/cli.md has the measurements). --optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd
 * (the Langevin samplers and averaged SGD, not suri_optim kinds) are resolved here and run by
 * train_langevin.c. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "suri/langevin.h"
#include "suri/optim.h"
#include "train_cli.h"

#define DEF_DATA "mnist10k"
#define DEF_MODEL "mlp:784-1024-1024-10,dropout=0.3"
#define DEF_MODEL_SAMPLER "mlp:784-128-10" /* no dropout: the samplers need fixed terms f_i */
#define DEF_OPTIM "adam"
#define DEF_BATCH 128
#define DEF_EPOCHS 20
#define DEF_SCHEDULE "cosine"
#define DEF_SEED 1
#define DEF_LOG_EVERY 50
#define SEED_MAX 9007199254740992ull /* 2^53: exact as a JSON number in config.json */

void usage_train(FILE *f) {
  fprintf(f,
    "usage: suri train [OPTIONS]\n"
    "       suri train --resume DIR [--threads N] [--steps N | --epochs N] [--quiet] [--json]\n\n"
    "Trains a model and writes DIR/config.json (every setting), DIR/metrics.jsonl (one JSON\n"
    "object per logged step and per epoch), DIR/model.safetensors (the final model) and\n"
    "DIR/checkpoint.safetensors (the resumable state). With no options: an MLP on the\n"
    "bundled mnist10k digits, reporting accuracy on its 2,000-digit test split.\n\n"
    "data and model:\n"
    "  --data SPEC          training data (see docs/formats.md)      (default %s)\n"
    "  --test-data SPEC     evaluated after every epoch; 'none' = no test set\n"
    "                       (default mnist10k:test when --data is mnist10k, else none)\n"
    "  --model SPEC         mlp:IN-H1-...-OUT[,act=A][,norm=N][,param=P][,loss=L]\n"
    "                       [,dropout=P][,sw2=X][,sb2=X]\n"
    "                       (default %s)\n"
    "                       (default with the samplers and asgd: %s)\n"
    "optimizer:\n"
    "  --optim NAME         %s\n"
    "                                                                 (default %s)\n"
    "                       also mfld|pda|psdca: see 'suri train --optim mfld --help'\n"
    "  --lr X               learning rate > 0 (default: the optimizer's: adam/adamw 0.001,\n"
    "                       sgd/momentum 0.01), or auto[=F]: F x 2/lambda_max (F default\n"
    "                       0.5), lambda_max of the loss's Gauss-Newton matrix at init\n"
    "  --lr-samples N       training samples for --lr auto's estimate (default 512)\n"
    "  --momentum X         sgd/momentum only, in [0, 1)  (default: sgd 0, momentum 0.9)\n"
    "  --nesterov           Nesterov momentum (sgd/momentum)          (default off)\n"
    "  --weight-decay X     >= 0 (default: 0; adamw 0.01)\n"
    "  --schedule SPEC      learning-rate schedule: constant | step:STEP_SIZE:GAMMA |\n"
    "                       cosine[:MIN_LR] | linear, optionally followed by ,warmup=N\n"
    "                                                                 (default %s)\n"
    "  --batch N            minibatch size                            (default %d)\n"
    "  --epochs N           passes over the training data             (default %d)\n"
    "  --steps N            total optimizer steps instead of --epochs (default: from --epochs)\n"
    "  --seed N             initialisation, batch order, dropout, in [0, 2^53] (default %d)\n",
    DEF_DATA, DEF_MODEL, DEF_MODEL_SAMPLER, SURI_OPTIM_NAMES ", " SURI_LANGEVIN_NAMES ", asgd",
    DEF_OPTIM, DEF_SCHEDULE, DEF_BATCH, DEF_EPOCHS, DEF_SEED);
  fprintf(f,
    "Langevin samplers and averaged SGD (--optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd; they\n"
    "sample or average over a model without dropout or batch norm; docs/langevin.md). The\n"
    "chain draws from exp(-gamma [F(x) + (lambda/2)|x|^2]), F = mean training loss,\n"
    "gamma = N/T, by x <- x - lr (v + lambda x) + sqrt(2 lr T/N) xi, xi ~ N(0, I):\n"
    "  --lr X               step size eta on the MEAN loss F        (default: samplers %g,\n"
    "                       asgd %g)\n"
    "  --batch N            minibatch B, drawn without replacement  (default: samplers\n"
    "                       round(sqrt(n)), asgd 1; noisy-gd always uses all n)\n"
    "  --loop M             svrg-ld/sarah-ld full-gradient period m (default round(sqrt(n)))\n"
    "  --temperature T      T >= 0; 0 = no noise (SGD/SVRG/SARAH/GD) (default 1)\n"
    "  --data-size N        the data-size factor N > 0 in gamma = N/T (default: n, so T = 1\n"
    "                       is the Bayesian posterior)\n"
    "  --weight-decay X     lambda >= 0, a Gaussian prior's precision per datum (default 0)\n"
    "  --prior-var TAU2     prior N(0, TAU2 I) instead: lambda = 1/(N TAU2) (default none)\n"
    "  --noise-seed N       the noise stream (batches: --seed)      (default: --seed)\n"
    "  --samples-out FILE   keep parameter samples as an (S, P) float32 NPY file, P = the\n"
    "                       model's parameter count, for 'suri eval --samples' (default none)\n"
    "  --burn-in K          steps before the first kept sample      (default: half the steps)\n"
    "  --sample-every K     steps between kept samples (default: at most 100 samples)\n"
    "  --lambda X|auto      asgd: L2 pull toward the initial point; auto = 1/sqrt(steps)\n"
    "                                                                 (default auto)\n"
    "  --symmetric-init W   asgd: on | off | auto: hidden unit r + M/2 copies unit r with\n"
    "                       negated output weights, so the initial function is 0; auto = on\n"
    "                       for a two-layer model mlp:IN-M-OUT (M even, norm=none)\n"
    "                                                                 (default auto)\n"
    "  An epoch is ceil(n/B) steps (noisy-gd: 1). model.safetensors holds the LAST state\n"
    "  of a sampler and the average theta-bar of asgd; metrics count per-sample gradient\n"
    "  evaluations.\n",
    suri_langevin_defaults(SURI_LANGEVIN_SGLD).eta, suri_asgd_defaults().eta);
  fprintf(f,
    "run:\n"
    "  --threads N          threads, 0 = all cores                    (default 0)\n"
    "  --out DIR            output directory (created)      (default runs/YYYYmmdd-HHMMSS)\n"
    "  --resume DIR         continue the run in DIR from its checkpoint with the settings\n"
    "                       of DIR/config.json; only --threads, --steps/--epochs (a new\n"
    "                       run length: cosine/linear schedules are then recomputed for\n"
    "                       it), --quiet and --json may be given with it\n"
    "  --checkpoint-every N steps between checkpoints, 0 = only at the end (default 0)\n"
    "  --log-every N        steps between metrics.jsonl step records, 0 = epochs only\n"
    "                                                                 (default %d)\n"
    "  --on-nonfinite P     when the loss, a gradient or a parameter becomes NaN/Inf:\n"
    "                       stop | skip-step (drop that update) | restore (reload the\n"
    "                       last checkpoint and go on); may be given with --resume;\n"
    "                       the samplers and asgd: stop only\n"
    "                                                                 (default stop)\n"
    "  --memory SIZE        refuse a run whose estimated memory exceeds SIZE (e.g. 2G,\n"
    "                       512M); may be given with --resume\n"
    "                                   (default: the memory available on this machine)\n"
    "  --quiet              print only the final result\n"
    "  --json               print the final result as one JSON object on stdout\n"
    "  -h, --help           show this help\n\n"
    "Progress goes to stderr (a redrawn line on a terminal, one line per epoch otherwise);\n"
    "the result to stdout. SIGINT (Ctrl-C) or SIGTERM stops after the current step, writes\n"
    "DIR/checkpoint.safetensors and exits with 130 (SIGINT) or 143 (SIGTERM); continue with\n"
    "'suri train --resume DIR'.\n",
    DEF_LOG_EVERY);
}

enum { O_DATA = 256, O_TEST, O_MODEL, O_OPTIM, O_LR, O_MOM, O_NEST, O_WD, O_SCHED, O_BATCH,
       O_EPOCHS, O_STEPS, O_SEED, O_THREADS, O_OUT, O_RESUME, O_CKPT, O_LOG, O_QUIET, O_JSON,
       O_NONFINITE, O_MEMORY, O_LRSAMPLES, O_TEMP, O_DSIZE, O_PRIOR, O_LOOP, O_NSEED, O_BURN,
       O_EVERY, O_SOUT, O_LAMBDA, O_SYMINIT };

static const struct option longs[] = {
    {"data", required_argument, 0, O_DATA},       {"test-data", required_argument, 0, O_TEST},
    {"model", required_argument, 0, O_MODEL},     {"optim", required_argument, 0, O_OPTIM},
    {"lr", required_argument, 0, O_LR},           {"momentum", required_argument, 0, O_MOM},
    {"nesterov", no_argument, 0, O_NEST},         {"weight-decay", required_argument, 0, O_WD},
    {"schedule", required_argument, 0, O_SCHED},  {"batch", required_argument, 0, O_BATCH},
    {"epochs", required_argument, 0, O_EPOCHS},   {"steps", required_argument, 0, O_STEPS},
    {"seed", required_argument, 0, O_SEED},       {"threads", required_argument, 0, O_THREADS},
    {"out", required_argument, 0, O_OUT},         {"resume", required_argument, 0, O_RESUME},
    {"checkpoint-every", required_argument, 0, O_CKPT},
    {"log-every", required_argument, 0, O_LOG},   {"quiet", no_argument, 0, O_QUIET},
    {"json", no_argument, 0, O_JSON},             {"help", no_argument, 0, 'h'},
    {"on-nonfinite", required_argument, 0, O_NONFINITE},
    {"memory", required_argument, 0, O_MEMORY},
    {"lr-samples", required_argument, 0, O_LRSAMPLES},
    {"temperature", required_argument, 0, O_TEMP}, {"data-size", required_argument, 0, O_DSIZE},
    {"prior-var", required_argument, 0, O_PRIOR}, {"loop", required_argument, 0, O_LOOP},
    {"noise-seed", required_argument, 0, O_NSEED}, {"burn-in", required_argument, 0, O_BURN},
    {"sample-every", required_argument, 0, O_EVERY},
    {"samples-out", required_argument, 0, O_SOUT}, {"lambda", required_argument, 0, O_LAMBDA},
    {"symmetric-init", required_argument, 0, O_SYMINIT},
    {0, 0, 0, 0}};

/* Which flags were given, to check combinations after parsing. */
typedef struct given {
  int test, lr, mom, wd, epochs, steps, threads, lr_samples, batch, sched, model, loop, burn,
      every;
  const char *ld_flag, *asgd_flag; /* first flag only the samplers / only asgd take */
  const char *not_with_resume; /* first flag that --resume does not allow */
} given;

static void defaults(train_opts *o) {
  memset(o, 0, sizeof *o);
  snprintf(o->data, sizeof o->data, "%s", DEF_DATA);
  snprintf(o->model, sizeof o->model, "%s", DEF_MODEL);
  snprintf(o->optim, sizeof o->optim, "%s", DEF_OPTIM);
  snprintf(o->schedule, sizeof o->schedule, "%s", DEF_SCHEDULE);
  o->lr = o->momentum = o->weight_decay = -1;
  o->lr_samples = 512;
  o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8;
  o->batch = DEF_BATCH, o->epochs = DEF_EPOCHS, o->seed = DEF_SEED, o->log_every = DEF_LOG_EVERY;
  o->temperature = 1;
  o->burn_in = o->sample_every = -1, o->asgd_lambda = -1, o->symmetric_init = -1;
}

static int copy_arg(char *dst, size_t n, const char *flag, const char *v) {
  if (strlen(v) >= n) return cli_usage_error("train", "value of %s is too long", flag);
  snprintf(dst, n, "%s", v);
  return CLI_OK;
}

/* --lr X or --lr auto[=F] (F in (0, 1] by default 0.5: a fraction of the stability limit). */
static int parse_lr(const char *v, train_opts *o) {
  o->lr_auto = 0;
  if (strncmp(v, "auto", 4) != 0) return cli_parse_f64("train", "--lr", v, 0, 1, INFINITY, &o->lr);
  if (v[4] == '\0') {
    o->lr_auto = 0.5;
    return CLI_OK;
  }
  if (v[4] != '=')
    return cli_usage_error("train", "invalid value '%s' for --lr: expected a number, auto or "
                           "auto=FRACTION", v);
  char *end = NULL;
  double f = strtod(v + 5, &end);
  if (end == v + 5 || *end != '\0' || !(f > 0 && f <= 1))
    return cli_usage_error("train", "invalid value '%s' for --lr: FRACTION in auto=FRACTION must "
                           "be a number in (0, 1]", v);
  o->lr_auto = f;
  return CLI_OK;
}

/* --lambda X|auto, --symmetric-init on|off|auto (asgd). */
static int parse_asgd(int c, const char *v, train_opts *o) {
  if (c == O_LAMBDA) {
    if (strcmp(v, "auto") == 0) return o->asgd_lambda = -1, CLI_OK;
    return cli_parse_f64("train", "--lambda", v, 0, 0, INFINITY, &o->asgd_lambda);
  }
  if (!strcmp(v, "on") || !strcmp(v, "off") || !strcmp(v, "auto")) {
    o->symmetric_init = v[1] == 'n' ? 1 : v[1] == 'f' ? 0 : -1;
    return CLI_OK;
  }
  return cli_usage_error("train", "invalid value '%s' for --symmetric-init: expected on, off or "
                         "auto", v);
}

/* The options of the samplers (sgld, svrg-ld, sarah-ld, noisy-gd). */
static int apply_sampler(int c, const char *v, train_opts *o, given *g) {
  switch (c) {
  case O_TEMP: return cli_parse_f64("train", "--temperature", v, 0, 0, INFINITY, &o->temperature);
  case O_DSIZE: return cli_parse_f64("train", "--data-size", v, 0, 1, INFINITY, &o->data_size);
  case O_PRIOR: return cli_parse_f64("train", "--prior-var", v, 0, 1, INFINITY, &o->prior_var);
  case O_LOOP: g->loop = 1; return cli_parse_i64("train", "--loop", v, 1, INT64_MAX, &o->loop);
  case O_NSEED:
    o->noise_seed_set = 1;
    return cli_parse_u64("train", "--noise-seed", v, SEED_MAX, &o->noise_seed);
  case O_BURN: g->burn = 1; return cli_parse_i64("train", "--burn-in", v, 0, INT64_MAX, &o->burn_in);
  case O_EVERY:
    g->every = 1;
    return cli_parse_i64("train", "--sample-every", v, 1, INT64_MAX, &o->sample_every);
  case O_SOUT: return copy_arg(o->samples_out, sizeof o->samples_out, "--samples-out", v);
  }
  return CLI_USAGE;
}

static const char *flag_name(int c);

/* Applies one option. */
static int apply(int c, const char *v, train_opts *o, given *g) {
  if (c >= O_TEMP && c <= O_SOUT) {
    if (!g->ld_flag) g->ld_flag = flag_name(c);
    return apply_sampler(c, v, o, g);
  }
  if (c == O_LAMBDA || c == O_SYMINIT) {
    if (!g->asgd_flag) g->asgd_flag = flag_name(c);
    return parse_asgd(c, v, o);
  }
  switch (c) {
  case O_DATA: return copy_arg(o->data, sizeof o->data, "--data", v);
  case O_TEST: g->test = 1; return copy_arg(o->test_data, sizeof o->test_data, "--test-data", v);
  case O_MODEL: g->model = 1; return copy_arg(o->model, sizeof o->model, "--model", v);
  case O_OPTIM: return copy_arg(o->optim, sizeof o->optim, "--optim", v);
  case O_SCHED: g->sched = 1; return copy_arg(o->schedule, sizeof o->schedule, "--schedule", v);
  case O_OUT: return copy_arg(o->out, sizeof o->out, "--out", v);
  case O_LR: g->lr = 1; return parse_lr(v, o);
  case O_LRSAMPLES:
    g->lr_samples = 1;
    return cli_parse_i64("train", "--lr-samples", v, 1, (int64_t)1 << 31, &o->lr_samples);
  case O_MOM: g->mom = 1; return cli_parse_f64("train", "--momentum", v, 0, 0, 0.999999, &o->momentum);
  case O_WD: g->wd = 1; return cli_parse_f64("train", "--weight-decay", v, 0, 0, INFINITY, &o->weight_decay);
  case O_NEST: o->nesterov = 1; return CLI_OK;
  case O_BATCH: g->batch = 1; return cli_parse_i64("train", "--batch", v, 1, 1 << 20, &o->batch);
  case O_EPOCHS: g->epochs = 1; return cli_parse_i64("train", "--epochs", v, 1, INT64_MAX, &o->epochs);
  case O_STEPS: g->steps = 1; return cli_parse_i64("train", "--steps", v, 1, INT64_MAX, &o->steps);
  case O_SEED: return cli_parse_u64("train", "--seed", v, SEED_MAX, &o->seed);
  case O_THREADS: g->threads = 1; return cli_parse_i64("train", "--threads", v, 0, 1024, &o->threads);
  case O_CKPT: return cli_parse_i64("train", "--checkpoint-every", v, 0, INT64_MAX, &o->checkpoint_every);
  case O_LOG: return cli_parse_i64("train", "--log-every", v, 0, INT64_MAX, &o->log_every);
  case O_QUIET: o->quiet = 1; return CLI_OK;
  case O_JSON: o->json = 1; return CLI_OK;
  case O_RESUME: o->resume = v; return CLI_OK;
  case O_NONFINITE: return train_parse_guard("--on-nonfinite", v, o);
  case O_MEMORY: return train_parse_guard("--memory", v, o);
  }
  return CLI_USAGE;
}

static const char *flag_name(int c) {
  for (const struct option *l = longs; l->name; l++)
    if (l->val == c) return l->name;
  return "?";
}

static int parse(int argc, char **argv, train_opts *o, given *g) {
  defaults(o);
  memset(g, 0, sizeof *g);
  opterr = 0;
  optind = 0;
  int c, rc;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    if (c == 'h') {
      usage_train(stdout);
      return -1;
    }
    if (c == '?' || c == ':') return cli_getopt_error("train", c, argc, argv);
    if ((rc = apply(c, optarg, o, g))) return rc;
    int ok_with_resume = c == O_RESUME || c == O_THREADS || c == O_STEPS || c == O_EPOCHS ||
                         c == O_QUIET || c == O_JSON || c == O_NONFINITE || c == O_MEMORY;
    if (!ok_with_resume && !g->not_with_resume) g->not_with_resume = flag_name(c);
  }
  if ((rc = cli_no_operands("train", argc, argv))) return rc;
  if (g->epochs && g->steps) return cli_usage_error("train", "give --epochs or --steps, not both");
  if (o->resume && g->not_with_resume)
    return cli_usage_error("train", "--%s cannot be combined with --resume: a resumed run uses "
                           "the settings in %s/config.json (only --threads, --steps, --epochs, "
                           "--quiet and --json may be given)", g->not_with_resume, o->resume);
  if (o->quiet && o->json) return cli_usage_error("train", "give --quiet or --json, not both");
  return CLI_OK;
}

/* --test-data default: the test split of mnist10k (with the same options) when --data is the
 * mnist10k training split; no test set otherwise. */
static void default_test(train_opts *o) {
  const char *rest = NULL;
  if (strncmp(o->data, "mnist10k", 8) == 0) rest = o->data + 8;
  if (rest && strncmp(rest, ":train", 6) == 0) rest += 6;
  if (rest && (*rest == '\0' || *rest == ','))
    snprintf(o->test_data, sizeof o->test_data, "mnist10k:test%s", rest);
  else
    o->test_data[0] = '\0';
}

/* The test set, the canonical model spec and the run length, for every optimizer. */
static int resolve_common(train_opts *o, const given *g, suri_model_spec *spec) {
  if (!g->test) default_test(o);
  if (strcmp(o->test_data, "none") == 0) o->test_data[0] = '\0';
  if (g->steps) o->epochs = 0;
  if (suri_model_spec_parse(o->model, spec))
    return cli_usage_error("train", "invalid value '%s' for --model: %s", o->model, suri_last_error());
  suri_model_spec_format(spec, o->model, sizeof o->model);
  return CLI_OK;
}

/* --optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd (train_langevin.c runs them): the flags of the
 * ordinary optimizers do not apply; what needs the data size (B, m, burn-in, ...) is settled
 * once the data is loaded. */
static int resolve_sampler(train_opts *o, const given *g) {
  int asgd = strcmp(o->optim, "asgd") == 0, vr = !strcmp(o->optim, "svrg-ld") ||
                                                   !strcmp(o->optim, "sarah-ld");
  const char *bad = g->mom ? "momentum" : o->nesterov ? "nesterov" : g->sched ? "schedule"
                    : g->lr_samples ? "lr-samples" : asgd && g->wd ? "weight-decay"
                    : asgd && g->ld_flag ? g->ld_flag : !asgd && g->asgd_flag ? g->asgd_flag
                    : g->loop && !vr ? "loop"
                    : g->batch && !strcmp(o->optim, "noisy-gd") ? "batch" : NULL;
  if (bad)
    return cli_usage_error("train", "--%s does not apply to --optim %s (see the Langevin section "
                           "of 'suri train --help')", bad, o->optim);
  if (o->lr_auto > 0)
    return cli_usage_error("train", "--lr auto applies to the ordinary optimizers; give --optim "
                           "%s a step size (--lr X)", o->optim);
  if (g->wd && o->prior_var > 0)
    return cli_usage_error("train", "give --weight-decay or --prior-var, not both");
  if (!o->samples_out[0] && (g->burn || g->every))
    return cli_usage_error("train", "--%s applies with --samples-out FILE",
                           g->burn ? "burn-in" : "sample-every");
  if (!g->lr) o->lr = asgd ? suri_asgd_defaults().eta : suri_langevin_defaults(SURI_LANGEVIN_SGLD).eta;
  if (!g->batch) o->batch = asgd ? 1 : 0; /* 0: round(sqrt(n)) once n is known */
  if (!g->wd) o->weight_decay = 0;
  if (!g->model) snprintf(o->model, sizeof o->model, "%s", DEF_MODEL_SAMPLER);
  if (!o->noise_seed_set) o->noise_seed = o->seed;
  o->momentum = 0;
  snprintf(o->schedule, sizeof o->schedule, "constant");
  suri_model_spec spec;
  int rc = resolve_common(o, g, &spec);
  if (rc) return rc;
  if (spec.dropout > 0 || spec.norm == SURI_NORM_BATCH || spec.norm == SURI_NORM_LASTBATCH)
    return cli_usage_error("train", "--optim %s needs a model whose loss is a sum of fixed "
                           "per-sample terms: --model %s has %s; use dropout=0 and norm=none "
                           "or norm=layer", o->optim, o->model,
                           spec.dropout > 0 ? "dropout (random terms)"
                                            : "batch norm (terms coupled within a batch)");
  return CLI_OK;
}

/* Fills what depends on other options: optimizer defaults, test set, canonical model spec. */
static int resolve(train_opts *o, const given *g) {
  if (train_is_sampler(o->optim)) return resolve_sampler(o, g);
  if (g->ld_flag || g->asgd_flag)
    return cli_usage_error("train", "--%s applies to --optim %s", g->ld_flag ? g->ld_flag
                           : g->asgd_flag, g->ld_flag ? SURI_LANGEVIN_NAMES : "asgd");
  suri_optim_kind kind;
  if (suri_optim_kind_parse(o->optim, &kind))
    return cli_usage_error("train", "invalid value '%s' for --optim: %s, or one of %s, asgd",
                           o->optim, suri_last_error(), SURI_LANGEVIN_NAMES);
  suri_optim_hp hp = suri_optim_defaults(kind);
  int sgd_like = kind == SURI_OPTIM_SGD || kind == SURI_OPTIM_MOMENTUM;
  if (!sgd_like && (g->mom || o->nesterov))
    return cli_usage_error("train", "--%s applies to sgd and momentum, not %s",
                           g->mom ? "momentum" : "nesterov", o->optim);
  if (!g->lr || o->lr_auto > 0) o->lr = hp.lr; /* auto: overwritten by train_lr_auto once the model exists */
  if (g->lr_samples && !(o->lr_auto > 0))
    return cli_usage_error("train", "--lr-samples applies to --lr auto");
  if (!g->mom) o->momentum = sgd_like ? hp.momentum : 0;
  if (!g->wd) o->weight_decay = hp.weight_decay;
  if (o->nesterov && !(o->momentum > 0))
    return cli_usage_error("train", "--nesterov needs --momentum > 0 (or --optim momentum)");
  suri_model_spec spec;
  int rc = resolve_common(o, g, &spec);
  if (rc) return rc;
  suri_schedule sch;
  if (suri_schedule_parse(o->schedule, o->lr, 1 << 30, &sch))
    return cli_usage_error("train", "invalid value '%s' for --schedule: %s", o->schedule,
                           suri_last_error());
  return CLI_OK;
}


/* Settings of a resumed run: DIR/config.json plus the allowed overrides. */
static int load_resume(train_opts *o, const given *g) {
  train_opts cmd = *o;
  int rc = train_config_read(o->resume, o);
  if (rc) return rc;
  snprintf(o->out, sizeof o->out, "%s", cmd.resume);
  o->resume = cmd.resume, o->quiet = cmd.quiet, o->json = cmd.json;
  o->on_nonfinite = cmd.on_nonfinite, o->memory = cmd.memory;
  if (g->threads) o->threads = cmd.threads;
  if (g->steps) o->steps = cmd.steps, o->epochs = 0;
  if (g->epochs) o->epochs = cmd.epochs, o->steps = 0;
  return CLI_OK;
}

/* The particle methods (mfld, pda, psdca) train a particle system, not a suri_model, and have
 * their own options (train_mfld.c). Looks for their --optim value (exact flag, unique prefix or
 * --optim=NAME) or, with --resume DIR, for DIR/config.json's "optim", skipping the values of the
 * flags above that take one. Anything it cannot read goes to the ordinary parser, which reports
 * it. */
static int is_particle_method(const char *name) {
  return name && (!strcmp(name, "mfld") || !strcmp(name, "pda") || !strcmp(name, "psdca"));
}

static const struct option *match_long(const char *arg, size_t len) {
  const struct option *hit = NULL;
  for (const struct option *l = longs; l->name; l++) {
    if (strncmp(l->name, arg, len) != 0) continue;
    if (strlen(l->name) == len) return l; /* exact */
    if (hit) return NULL;                 /* ambiguous prefix */
    hit = l;
  }
  return hit;
}

static int resumes_particle_run(const char *dir) {
  train_opts tmp;
  return train_config_peek_optim(dir, tmp.optim, sizeof tmp.optim) == CLI_OK &&
         is_particle_method(tmp.optim);
}

static int wants_particle_method(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) break;
    if (strncmp(a, "--", 2) != 0) continue;
    const char *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    const struct option *l = match_long(a + 2, len);
    if (!l || l->has_arg != required_argument) continue;
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (l->val == O_OPTIM && is_particle_method(v)) return 1;
    if (l->val == O_RESUME && v && resumes_particle_run(v)) return 1;
  }
  return 0;
}

int cmd_train(int argc, char **argv) {
  if (wants_particle_method(argc, argv)) return cmd_train_mfld(argc, argv);
  train_opts o;
  given g;
  int rc = parse(argc, argv, &o, &g);
  if (rc) return rc < 0 ? CLI_OK : rc;
  if (o.resume) {
    if ((rc = load_resume(&o, &g))) return rc;
  } else {
    if ((rc = resolve(&o, &g))) return rc;
    if (!o.out[0]) cli_default_run_dir(o.out, sizeof o.out);
  }
  /* A resumed run keeps its config.json unless its length changed. */
  if (train_is_sampler(o.optim)) return cli_train_langevin(&o, !o.resume || g.steps || g.epochs);
  return cli_train_run(&o, !o.resume || g.steps || g.epochs);
}
