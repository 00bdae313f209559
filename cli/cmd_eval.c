/* cmd_eval.c - `suri eval`: mean loss and accuracy of a saved model on a data set, in
 * evaluation mode (dropout off, batch-norm running statistics), through suri_model_evaluate.
 * For loss=logistic on a set with 0/1 class labels the labels serve as targets, as in
 * training. */
#include <getopt.h>
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "suri/data.h"
#include "suri/nn.h"
#include "suri/train.h"

#define DEF_DATA "mnist10k:test"
#define DEF_BATCH 256

void usage_eval(FILE *f) {
  fprintf(f,
          "usage: suri eval --model FILE [--data SPEC] [--batch N] [--threads N] [--json]\n\n"
          "Mean loss and accuracy of a saved model on a data set (evaluation mode). The data\n"
          "is normalised as its spec says (mnist10k: pixels / 255, as in training). A model\n"
          "trained on standardised data (norm=standard) stores the training mean and std and\n"
          "standardises the evaluation data with them; give such data with norm=none or\n"
          "norm=standard (its own statistics are then replaced), not norm=scale.\n\n"
          "options:\n"
          "  --model FILE   model file (.safetensors) written by 'suri train'  (required)\n"
          "  --data SPEC    data set (see docs/formats.md)      (default %s)\n"
          "  --batch N      samples per forward pass                (default %d)\n"
          "  --threads N    threads, 0 = all cores                  (default 0)\n"
          "  --json         print the result as one JSON object\n"
          "  -h, --help     show this help\n",
          DEF_DATA, DEF_BATCH);
}

typedef struct eval_opts {
  const char *model, *data;
  int64_t batch, threads;
  int json;
} eval_opts;

static int parse(int argc, char **argv, eval_opts *o) {
  static const struct option longs[] = {
      {"model", required_argument, 0, 'm'},   {"data", required_argument, 0, 'd'},
      {"batch", required_argument, 0, 'b'},   {"threads", required_argument, 0, 't'},
      {"json", no_argument, 0, 'j'},          {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  *o = (eval_opts){NULL, DEF_DATA, DEF_BATCH, 0, 0};
  opterr = 0;
  optind = 0;
  int c, rc = 0;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'd': o->data = optarg; break;
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

static void print(const eval_opts *o, const suri_dataset *d, double loss, double acc) {
  if (o->json) {
    cJSON *j = cJSON_CreateObject();
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
  print(o, d, loss, acc);
  return CLI_OK;
}

int cmd_eval(int argc, char **argv) {
  eval_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc < 0 ? CLI_OK : rc;
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
