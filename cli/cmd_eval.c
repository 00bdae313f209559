/* cmd_eval.c - `suri eval`: mean loss and accuracy of a saved model on a data set, in
 * evaluation mode (dropout off, batch-norm running statistics), through suri_model_evaluate.
 * For loss=logistic on a set with 0/1 class labels the labels serve as targets, as in
 * training. With --samples FILE.npy (the (S, P) parameter samples of `suri train --optim sgld
 * ... --samples-out`) it also reports the Bayesian model average, the predictive
 * (1/S) sum_s p(y | x, theta_s), through suri_bma_evaluate (suri/langevin.h). */
#include <getopt.h>
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "mfld_file.h"
#include "suri/data.h"
#include "suri/langevin.h"
#include "suri/nn.h"
#include "suri/train.h"

#define DEF_DATA "mnist10k:test"
#define DEF_BATCH 256

void usage_eval(FILE *f) {
  fprintf(f,
          "usage: suri eval --model FILE [--samples FILE.npy] [--data SPEC] [--batch N]\n"
          "                 [--threads N] [--json]\n\n"
          "Mean loss and accuracy of a saved model on a data set (evaluation mode). The data\n"
          "is normalised as its spec says (mnist10k: pixels / 255, as in training). A model\n"
          "trained on standardised data (norm=standard) stores the training mean and std and\n"
          "standardises the evaluation data with them; give such data with norm=none or\n"
          "norm=standard (its own statistics are then replaced), not norm=scale.\n\n"
          "options:\n"
          "  --model FILE   model file (.safetensors) written by 'suri train'  (required)\n"
          "  --samples FILE also the Bayesian model average over the parameter samples in\n"
          "                 FILE, an (S, P) NPY array (P = the model's parameter count) from\n"
          "                 'suri train --samples-out': loss and accuracy of the averaged\n"
          "                 predictive (1/S) sum_s p(y | x, theta_s)      (default none)\n"
          "  --data SPEC    data set (see docs/formats.md)      (default %s)\n"
          "  --batch N      samples per forward pass                (default %d)\n"
          "  --threads N    threads, 0 = all cores                  (default 0)\n"
          "  --json         print the result as one JSON object\n"
          "  -h, --help     show this help\n",
          DEF_DATA, DEF_BATCH);
}

typedef struct eval_opts {
  const char *model, *data, *samples;
  int64_t batch, threads;
  int json;
} eval_opts;

static int parse(int argc, char **argv, eval_opts *o) {
  static const struct option longs[] = {
      {"model", required_argument, 0, 'm'},   {"data", required_argument, 0, 'd'},
      {"batch", required_argument, 0, 'b'},   {"threads", required_argument, 0, 't'},
      {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
      {"samples", required_argument, 0, 's'},
      {0, 0, 0, 0}};
  *o = (eval_opts){NULL, DEF_DATA, NULL, DEF_BATCH, 0, 0};
  opterr = 0;
  optind = 0;
  int c, rc = 0;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'd': o->data = optarg; break;
    case 's': o->samples = optarg; break;
    case 'b': rc = cli_parse_i64("eval", "--batch", optarg, 1, 1 << 20, &o->batch); break;
    case 't': rc = cli_parse_i64("eval", "--threads", optarg, 0, 1024, &o->threads); break;
    case 'j': o->json = 1; break;
    case 'h': usage_eval(stdout); return -1;
    default: return cli_getopt_error("eval", c, argc, argv);
    }
    if (rc) return rc;
  }
  if ((rc = cli_no_operands("eval", argc, argv))) return rc;
  if (!o->model) return cli_usage_error("eval", "--model FILE is required");
  return CLI_OK;
}

/* The model average's result (S == 0: no --samples). */
typedef struct bma_result {
  int64_t S;
  double loss, acc;
} bma_result;

static void json_num(cJSON *j, const char *key, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(j, key, v);
  else cJSON_AddNullToObject(j, key);
}

static void print(const eval_opts *o, const suri_dataset *d, double loss, double acc,
                  const bma_result *b) {
  if (o->json) {
    cJSON *j = cJSON_CreateObject();
    if (b->S > 0) {
      cJSON *a = cJSON_AddObjectToObject(j, "bma");
      cJSON_AddStringToObject(a, "samples_file", o->samples);
      cJSON_AddNumberToObject(a, "samples", (double)b->S);
      json_num(a, "loss", b->loss);
      json_num(a, "accuracy", b->acc);
    }
    cJSON_AddStringToObject(j, "model_file", o->model);
    cJSON_AddStringToObject(j, "data", o->data);
    cJSON_AddNumberToObject(j, "n", (double)d->n);
    if (isfinite(loss)) cJSON_AddNumberToObject(j, "loss", loss);
    else cJSON_AddNullToObject(j, "loss");
    if (isfinite(acc)) cJSON_AddNumberToObject(j, "accuracy", acc);
    else cJSON_AddNullToObject(j, "accuracy");
    char *text = cJSON_PrintUnformatted(j);
    if (text) printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(j);
    return;
  }
  printf("loss %.6g", loss);
  if (!isnan(acc)) printf("  accuracy %.2f%%", 100.0 * acc);
  printf("  (%lld samples of %s)\n", (long long)d->n, d->name);
  if (b->S > 0) {
    printf("model average over %lld parameter samples: loss %.6g", (long long)b->S, b->loss);
    if (!isnan(b->acc)) printf("  accuracy %.2f%%", 100.0 * b->acc);
    printf("\n");
  }
}

/* --samples: the file must hold (S, P) finite values with P = the model's parameter count;
 * suri_samples_read_npy's message names the file and what is wrong. */
static int evaluate_bma(const eval_opts *o, suri_model *m, const suri_dataset *d,
                        bma_result *b) {
  int64_t P = 0;
  float *rows = NULL;
  suri_status st = suri_samples_read_npy(o->samples, (int64_t)suri_model_param_numel(m), &b->S,
                                         &P, &rows);
  if (st) return cli_fail(st, "cannot use the samples file %s with model %s", o->samples,
                          o->model);
  st = suri_bma_evaluate(m, b->S, P, rows, d, &b->loss, &b->acc);
  suri_free(rows);
  if (st) return cli_fail(st, "the model average over %s on '%s' failed", o->samples, o->data);
  return CLI_OK;
}

/* A model trained on standardised data stores the training mean/std: the evaluation data is
 * standardised with those (its own standardisation, if any, is undone first). Scaled data
 * (norm=scale) is in other units than the statistics, which come from unscaled values. */
static int apply_input_norm(const eval_opts *o, const suri_model *m, suri_dataset *d) {
  return cli_apply_input_norm(o->model, o->data, m, d);
}

static int evaluate(const eval_opts *o, suri_model *m, suri_dataset *d) {
  suri_status st = suri_train_check_data(m, d, "evaluation");
  if (st) return cli_fail(st, "data '%s' does not fit model %s", o->data, o->model);
  int rc = apply_input_norm(o, m, d);
  if (rc) return rc;
  const suri_model_spec *s = suri_model_get_spec(m);
  suri_real *t = d->t;
  if (s->loss == SURI_LOSS_LOGISTIC && !d->t) { /* 0/1 labels as targets */
    t = suri_alloc((size_t)d->n * sizeof(suri_real));
    if (!t) return cli_fail(SURI_ERR_NOMEM, "cannot hold targets");
    for (int64_t i = 0; i < d->n; i++) t[i] = (suri_real)d->y[i];
  }
  double loss = NAN, acc = NAN;
  st = suri_model_evaluate(m, d->n, d->x, s->loss == SURI_LOSS_CE ? d->y : NULL,
                           s->loss == SURI_LOSS_CE ? NULL : t, &loss, &acc);
  if (t != d->t) suri_free(t);
  if (st) return cli_fail(st, "evaluating %s on '%s' failed", o->model, o->data);
  bma_result b = {0, NAN, NAN};
  if (o->samples && (rc = evaluate_bma(o, m, d, &b))) return rc;
  print(o, d, loss, acc, &b);
  return CLI_OK;
}

int cmd_eval(int argc, char **argv) {
  eval_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc < 0 ? CLI_OK : rc;
  if (cli_is_mfld_file(o.model)) /* particles of suri train --optim mfld|pda|psdca */
    return cli_mfld_eval(o.model, o.data, o.threads, o.json,
                         o.samples ? "--samples" : o.batch != DEF_BATCH ? "--batch" : NULL);
  if ((rc = cli_set_threads(o.threads))) return rc;
  suri_model *m = NULL;
  suri_dataset *d = NULL;
  suri_status st = suri_data_load(o.data, &d);
  if (st) return cli_data_error("eval", "--data", o.data, st);
  st = suri_model_load(o.model, o.batch, &m, NULL);
  if (st) rc = cli_fail(st, "cannot load model %s", o.model);
  else rc = evaluate(&o, m, d);
  suri_dataset_free(d);
  suri_model_free(m);
  return rc;
}
