/* cmd_bench.c - `suri bench train|infer`: times training steps (forward, backward, optimizer
 * update) or inference passes of a model on synthetic MNIST-shaped data and prints one JSON
 * object. The data (uniform [0,1) inputs, uniform labels; N(0,1) targets for mse, 0/1 for
 * logistic) comes from a seeded Philox stream and is generated before the clock starts, in a
 * pool of POOL batches used in turn. FLOP count (the GEMMs that are actually run): a dense layer
 * (IN -> OUT) costs 2 IN OUT flops (multiply, add) per sample forward, the same again for its
 * weight gradient and for its input gradient, except the first layer, whose input is the data
 * and needs no gradient. So a training step is 2 B (2 sum IN OUT + sum_{l >= 2} IN OUT) flops
 * and an inference pass 2 B sum IN OUT; biases, activations and the loss are not counted. */
#include <getopt.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "suri/nn.h"
#include "suri/optim.h"
#include "suri/train.h"

#define POOL 8
#define DEF_MODEL "mlp:784-256-10"
#define DEF_BATCH 128
#define DEF_STEPS 100
#define DEF_WARMUP 10
#define DEF_OPTIM "sgd"
#define DEF_SEED 1

void usage_bench(FILE *f) {
  fprintf(f,
          "usage: suri bench train [--model SPEC] [--batch N] [--steps N] [--warmup N]\n"
          "                        [--optim NAME] [--threads N] [--seed N] [--no-fuse]\n"
          "                        [--no-fold]\n"
          "       suri bench infer [--model SPEC] [--batch N] [--iters N] [--warmup N]\n"
          "                        [--threads N] [--seed N] [--no-fuse]\n\n"
          "Times training steps (forward + backward + optimizer update) or inference passes\n"
          "(forward only, evaluation mode) on synthetic MNIST-shaped data generated before\n"
          "timing (uniform [0,1) inputs, uniform labels; %d batches used in turn), and prints\n"
          "one JSON object: bench, model, batch, threads, steps, seconds, samples_per_s,\n"
          "ms_per_step, gflops, peak_rss_mb, blas.\n"
          "A training step is suri_model_train_step: with plain SGD (sgd, momentum 0) the\n"
          "update of each dense weight is folded into its weight-gradient GEMM.\n"
          "gflops counts the GEMM flops actually run: per layer (IN -> OUT) and sample 2 IN OUT\n"
          "forward, 2 IN OUT for the weight gradient and 2 IN OUT for the input gradient (not\n"
          "for the first layer, whose input is the data).\n\n"
          "options:\n"
          "  --model SPEC   model spec (see 'suri help train')          (default %s)\n"
          "  --batch N      samples per step                            (default %d)\n"
          "  --steps N      timed steps (train)                         (default %d)\n"
          "  --iters N      timed passes (infer; same as --steps)       (default %d)\n"
          "  --warmup N     untimed steps before timing                 (default %d)\n"
          "  --optim NAME   optimizer (train): %s\n"
          "                                                             (default %s)\n"
          "  --threads N    threads, 0 = all cores                      (default 0)\n"
          "  --seed N       seed of the data and the initialisation     (default %d)\n"
          "  --no-fuse      run dense and activation as separate ops (to measure the fusion)\n"
          "  --no-fold      train: gradient, then a separate optimizer pass (to measure the\n"
          "                 folding)\n"
          "  -h, --help     show this help\n",
          POOL, DEF_MODEL, DEF_BATCH, DEF_STEPS, DEF_STEPS, DEF_WARMUP, SURI_OPTIM_NAMES,
          DEF_OPTIM, DEF_SEED);
}

typedef struct bench_opts {
  int infer, no_fuse, no_fold, optim_given, folded;
  const char *model, *optim;
  int64_t batch, steps, warmup, threads;
  uint64_t seed;
} bench_opts;

static int parse(int argc, char **argv, bench_opts *o) {
  static const struct option longs[] = {
      {"model", required_argument, 0, 'm'},  {"batch", required_argument, 0, 'b'},
      {"steps", required_argument, 0, 's'},  {"iters", required_argument, 0, 'i'},
      {"warmup", required_argument, 0, 'w'}, {"optim", required_argument, 0, 'o'},
      {"threads", required_argument, 0, 't'}, {"seed", required_argument, 0, 'S'},
      {"no-fuse", no_argument, 0, 'F'},      {"no-fold", no_argument, 0, 'D'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  *o = (bench_opts){0, 0, 0, 0, 0, DEF_MODEL, DEF_OPTIM, DEF_BATCH, DEF_STEPS, DEF_WARMUP, 0, DEF_SEED};
  if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    usage_bench(stdout);
    return -1;
  }
  if (argc < 2) return cli_usage_error("bench", "missing mode: 'train' or 'infer'");
  if (strcmp(argv[1], "train") == 0) o->infer = 0;
  else if (strcmp(argv[1], "infer") == 0) o->infer = 1;
  else return cli_usage_error("bench", "unknown mode '%s' (expected 'train' or 'infer')", argv[1]);
  argc--, argv++;
  opterr = 0;
  optind = 0;
  int c, rc = 0;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'o': o->optim = optarg, o->optim_given = 1; break;
    case 'b': rc = cli_parse_i64("bench", "--batch", optarg, 1, 1 << 20, &o->batch); break;
    case 's': rc = cli_parse_i64("bench", "--steps", optarg, 1, INT64_MAX, &o->steps); break;
    case 'i': rc = cli_parse_i64("bench", "--iters", optarg, 1, INT64_MAX, &o->steps); break;
    case 'w': rc = cli_parse_i64("bench", "--warmup", optarg, 0, INT64_MAX, &o->warmup); break;
    case 't': rc = cli_parse_i64("bench", "--threads", optarg, 0, 1024, &o->threads); break;
    case 'S': rc = cli_parse_u64("bench", "--seed", optarg, UINT64_MAX, &o->seed); break;
    case 'F': o->no_fuse = 1; break;
    case 'D': o->no_fold = 1; break;
    case 'h': usage_bench(stdout); return -1;
    default: return cli_getopt_error("bench", c, argc, argv);
    }
    if (rc) return rc;
  }
  if ((rc = cli_no_operands("bench", argc, argv))) return rc;
  if (o->infer && (o->optim_given || o->no_fold))
    return cli_usage_error("bench", "%s applies to 'suri bench train' only",
                           o->no_fold ? "--no-fold" : "--optim");
  suri_optim_kind k;
  if (suri_optim_kind_parse(o->optim, &k) != SURI_OK)
    return cli_usage_error("bench", "unknown optimizer '%s' for --optim (valid: %s)", o->optim,
                           SURI_OPTIM_NAMES);
  return CLI_OK;
}

typedef struct pool {
  suri_real *x, *t;  /* x: (POOL*B, IN); t: (POOL*B, OUT) targets for mse/logistic */
  int32_t *y;        /* (POOL*B) labels */
} pool;

static suri_status make_pool(const suri_model_spec *s, int64_t B, uint64_t seed, pool *p) {
  int64_t in = s->width[0], out = s->width[s->n_widths - 1], rows = POOL * B;
  p->x = suri_alloc((size_t)(rows * in) * sizeof(suri_real));
  p->t = suri_alloc((size_t)(rows * out) * sizeof(suri_real));
  p->y = suri_alloc((size_t)rows * sizeof(int32_t));
  if (!p->x || !p->t || !p->y) return suri_fail(SURI_ERR_NOMEM, "cannot hold the bench data");
  suri_rng r = suri_rng_make(seed, SURI_RNG_DATA);
  for (int64_t i = 0; i < rows * in; i++) p->x[i] = (suri_real)suri_rng_uniform(&r);
  for (int64_t i = 0; i < rows; i++) p->y[i] = (int32_t)suri_rng_below(&r, (uint64_t)out);
  if (s->loss == SURI_LOSS_MSE) suri_rng_fill_normal(&r, (size_t)(rows * out), p->t, 0, 1);
  else
    for (int64_t i = 0; i < rows * out; i++) p->t[i] = (suri_real)(suri_rng_u32(&r) & 1u);
  return SURI_OK;
}

/* One timed unit: a training step (batch k of the pool) or an inference pass. */
static suri_status bench_step(const bench_opts *o, suri_model *m, suri_optim *opt,
                              const pool *p, int64_t k, suri_real *out) {
  int64_t B = o->batch;
  const suri_model_spec *s = suri_model_get_spec(m);
  int64_t in = s->width[0], ow = s->width[s->n_widths - 1], j = k % POOL;
  const suri_real *x = p->x + j * B * in;
  if (!opt) return suri_model_predict(m, B, x, out);
  int ce = s->loss == SURI_LOSS_CE;
  suri_status st = suri_model_set_batch(m, B, x, ce ? p->y + j * B : NULL,
                                        ce ? NULL : p->t + j * B * ow);
  double loss = 0;
  if (!st && o->no_fold) {
    st = suri_model_loss_grad(m, &loss);
    if (!st) st = suri_optim_step(opt, suri_model_params(m), suri_model_grads(m), SURI_LR_DEFAULT);
  } else if (!st) {
    st = suri_model_train_step(m, opt, SURI_LR_DEFAULT, &loss);
  }
  if (!st && !isfinite(loss))
    st = suri_fail(SURI_ERR_NUMERIC, "the loss of step %lld is not finite", (long long)k + 1);
  return st;
}

/* GEMM flops of one step (training) or pass (inference) at batch b, see the file comment. */
static double step_flops(const suri_model *m, int infer, double b) {
  double f = 0;
  for (int l = 0; l < suri_model_layer_count(m); l++) {
    const suri_layer *ly = suri_model_layer(m, l);
    double mac = (double)ly->in * (double)ly->out;
    f += 2.0 * b * mac * (infer ? 1.0 : (l == 0 ? 2.0 : 3.0));
  }
  return f;
}

/* o->folded: whether the timed steps folded the update (plain SGD, not --no-fold). */
static void report(const bench_opts *o, const suri_model *m, double secs) {
  char spec[1024];
  suri_model_spec_format(suri_model_get_spec(m), spec, sizeof spec);
  double params = (double)suri_model_param_numel(m), b = (double)o->batch;
  double flops = step_flops(m, o->infer, b) * (double)o->steps;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "bench", o->infer ? "infer" : "train");
  cJSON_AddStringToObject(j, "model", spec);
  cJSON_AddNumberToObject(j, "params", params);
  cJSON_AddNumberToObject(j, "batch", b);
  cJSON_AddNumberToObject(j, "threads", suri_get_threads());
  if (!o->infer) cJSON_AddStringToObject(j, "optim", o->optim);
  cJSON_AddNumberToObject(j, "steps", (double)o->steps);
  cJSON_AddNumberToObject(j, "warmup", (double)o->warmup);
  cJSON_AddNumberToObject(j, "seconds", secs);
  cJSON_AddNumberToObject(j, "samples_per_s", secs > 0 ? b * (double)o->steps / secs : 0);
  cJSON_AddNumberToObject(j, "ms_per_step", 1e3 * secs / (double)o->steps);
  cJSON_AddNumberToObject(j, "gflops", secs > 0 ? flops / secs * 1e-9 : 0);
  cJSON_AddStringToObject(j, "gflops_estimate",
                          o->infer ? "GEMM flops: 2*B*sum(in*out)"
                                   : "GEMM flops: 2*B*(2*sum(in*out) + sum_{l>=2}(in*out))");
  cJSON_AddNumberToObject(j, "peak_rss_mb", (double)ru.ru_maxrss / 1024.0);
  cJSON_AddStringToObject(j, "blas", suri_blas_info());
  cJSON_AddStringToObject(j, "real", SURI_REAL_NAME);
  cJSON_AddBoolToObject(j, "fused", !o->no_fuse);
  if (!o->infer) cJSON_AddBoolToObject(j, "folded", o->folded);
  char *text = cJSON_PrintUnformatted(j);
  if (text) printf("%s\n", text);
  cJSON_free(text);
  cJSON_Delete(j);
}

static int run_bench(bench_opts *o, suri_model *m) {
  pool p = {0};
  suri_optim *opt = NULL;
  suri_real *out = NULL;
  const suri_model_spec *s = suri_model_get_spec(m);
  int rc = CLI_OK;
  suri_status st = make_pool(s, o->batch, o->seed, &p);
  if (!st && !o->infer) {
    suri_optim_kind k;
    suri_optim_kind_parse(o->optim, &k); /* validated by parse() */
    opt = suri_optim_new(k, suri_model_param_count(m), NULL);
    if (!opt) st = SURI_ERR_NOMEM;
    else o->folded = !o->no_fold && suri_train_step_folds(opt, SURI_LR_DEFAULT);
  }
  if (!st && o->infer) {
    out = suri_alloc((size_t)(o->batch * s->width[s->n_widths - 1]) * sizeof(suri_real));
    if (!out) st = SURI_ERR_NOMEM;
  }
  for (int64_t k = 0; !st && k < o->warmup; k++) st = bench_step(o, m, opt, &p, k, out);
  double t0 = cli_now();
  for (int64_t k = 0; !st && k < o->steps; k++)
    st = bench_step(o, m, opt, &p, o->warmup + k, out);
  double secs = cli_now() - t0;
  if (st) rc = cli_fail(st, "bench %s failed", o->infer ? "infer" : "train");
  else report(o, m, secs);
  suri_optim_free(opt);
  suri_free(out);
  suri_free(p.x);
  suri_free(p.t);
  suri_free(p.y);
  return rc;
}

int cmd_bench(int argc, char **argv) {
  bench_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc < 0 ? CLI_OK : rc;
  suri_model_spec spec;
  suri_status st = suri_model_spec_parse(o.model, &spec);
  if (st) {
    fprintf(stderr, "suri bench: invalid value '%s' for --model: %s\nsee 'suri bench --help'\n",
            o.model, suri_last_error());
    return CLI_USAGE;
  }
  if ((rc = cli_set_threads(o.threads))) return rc;
  suri_model *m = NULL;
  st = suri_model_new(&spec, o.batch, &m);
  if (!st) st = suri_model_init(m, o.seed);
  if (!st && o.no_fuse) suri_graph_set_fusion(suri_model_graph(m), 0);
  if (st) rc = cli_fail(st, "cannot build model %s", o.model);
  else rc = run_bench(&o, m);
  suri_model_free(m);
  return rc;
}
