/* cmd_predict.c - `suri predict`: runs a saved model in evaluation mode on the rows of an NPY
 * file and writes the outputs (logits for classifiers) as float32 (N, C) NPY, atomically.
 * Input (N, D1, D2, ...) is flattened to (N, D1*D2*...), which must equal the model's input
 * width. A model trained on standardised data carries the training mean/std and its inputs are
 * standardised with them; otherwise float and integer inputs are used as they are and u8 input
 * (raw pixels) is divided by 255, as the bundled MNIST data is. With --samples FILE.npy (the
 * (S, P) parameter samples of `suri train --samples-out`) it writes the Bayesian model average
 * instead, (1/S) sum_s of the predictive of each sample (suri_bma_predict): class probabilities
 * (ce), P(y = 1) (logistic) or the mean prediction (mse). */
#include <getopt.h>
#include <math.h>
#include <string.h>

#include "cli.h"
#include "mfld_file.h"
#include "suri/data.h"
#include "suri/io.h"
#include "suri/langevin.h"
#include "suri/nn.h"

#define DEFAULT_BATCH 256

void usage_predict(FILE *f) {
  fprintf(f,
          "usage: suri predict --model FILE --input X.npy --output Y.npy [--samples S.npy]\n"
          "                    [--batch N]\n\n"
          "Runs the model (evaluation mode: dropout off, batch-norm running statistics) on\n"
          "every row of X and writes its outputs (logits for classifiers) to Y as float32 NPY\n"
          "of shape (N, OUT). Y is written atomically (never half-written).\n\n"
          "X may have shape (N, IN) or (N, H, W, ...) (flattened to (N, H*W*...)), any dtype\n"
          "the NPY reader supports (f4, f8, u1, i1, i2, i4, i8). Give X in the units of the\n"
          "training data before its normalisation:\n"
          "  - a model trained on standardised data (norm=standard) stores the training mean\n"
          "    and std, and X is standardised with them: (x - mean) / std, any dtype;\n"
          "  - otherwise values are used as they are, except u8 (u1) input, which is divided\n"
          "    by 255 (raw pixels -> [0, 1], as the mnist10k data set does).\n"
          "Non-finite inputs are refused.\n\n"
          "options:\n"
          "  --model FILE   model file (.safetensors) written by 'suri train'   (required)\n"
          "  --input FILE   inputs, NPY                                         (required)\n"
          "  --output FILE  where to write the outputs, NPY float32             (required)\n"
          "  --samples FILE write the Bayesian model average over the parameter samples in\n"
          "                 FILE ((S, P) NPY from 'suri train --samples-out') instead: the\n"
          "                 mean over samples of the class probabilities (loss=ce), of\n"
          "                 P(y = 1) (logistic) or of the prediction (mse)  (default none)\n"
          "  --batch N      rows per forward pass                               (default %d)\n"
          "  -h, --help     show this help\n",
          DEFAULT_BATCH);
}

typedef struct predict_opts {
  const char *model, *input, *output, *samples;
  int64_t batch;
} predict_opts;

static int parse(int argc, char **argv, predict_opts *o) {
  static const struct option longs[] = {{"model", required_argument, 0, 'm'},
                                        {"input", required_argument, 0, 'i'},
                                        {"output", required_argument, 0, 'o'},
                                        {"batch", required_argument, 0, 'b'},
                                        {"samples", required_argument, 0, 's'},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->batch = DEFAULT_BATCH;
  opterr = 0;
  optind = 0;
  int c, rc;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'i': o->input = optarg; break;
    case 'o': o->output = optarg; break;
    case 's': o->samples = optarg; break;
    case 'b':
      if ((rc = cli_parse_i64("predict", "--batch", optarg, 1, 1 << 20, &o->batch))) return rc;
      break;
    case 'h': usage_predict(stdout); return -1;
    default: return cli_getopt_error("predict", c, argc, argv);
    }
  }
  if ((rc = cli_no_operands("predict", argc, argv))) return rc;
  if (!o->model) return cli_usage_error("predict", "--model FILE is required");
  if (!o->input) return cli_usage_error("predict", "--input FILE is required");
  if (!o->output) return cli_usage_error("predict", "--output FILE is required");
  return CLI_OK;
}

/* Converts a (N, ...) array into the rows of a data set (N, in). If the model stores input
 * statistics the raw values are standardised with them (by the data layer); otherwise u8 is
 * scaled by 1/255 and everything else is used as it is. *out is NULL for N == 0. */
static int to_rows(const suri_array *a, const char *path, const suri_model *m,
                   suri_dataset **out) {
  const suri_model_spec *s = suri_model_get_spec(m);
  int64_t in = s->width[0], feat = 1;
  *out = NULL;
  if (a->rank < 2)
    return cli_fail(SURI_OK, "%s: input has rank %d; expected (N, %lld) or (N, H, W, ...)", path,
                    a->rank, (long long)in);
  for (int i = 1; i < a->rank; i++) feat *= a->dim[i];
  if (feat != in)
    return cli_fail(SURI_OK, "%s: each row has %lld values but the model's input width is %lld",
                    path, (long long)feat, (long long)in);
  if (a->dim[0] == 0) return CLI_OK;
  suri_status st = suri_dataset_new(a->dim[0], in, 0, 0, path, out);
  if (st) return cli_fail(st, "%s: cannot hold the input", path);
  const double *mean, *sd;
  int standardize = suri_model_input_norm(m, &mean, &sd);
  double scale = a->dtype == SURI_DT_U8 && !standardize ? 1.0 / 255.0 : 1.0;
  for (int64_t i = 0, total = suri_array_numel(a); i < total; i++) {
    double v = suri_array_get(a, i);
    if (!isfinite(v))
      return cli_fail(SURI_OK, "%s: element %lld (row %lld) is not finite", path, (long long)i,
                      (long long)(i / in));
    (*out)->x[i] = (suri_real)(v * scale);
  }
  if (standardize && (st = suri_dataset_standardize(*out, mean, sd)))
    return cli_fail(st, "%s: cannot standardise the input", path);
  return CLI_OK;
}

static int predict_rows(suri_model *m, const suri_array *a, const predict_opts *o) {
  const suri_model_spec *s = suri_model_get_spec(m);
  int64_t out_w = s->width[s->n_widths - 1];
  suri_dataset *d = NULL;
  suri_real *y = NULL;
  float *y32 = NULL;
  int rc = to_rows(a, o->input, m, &d);
  int64_t n = d ? d->n : 0;
  size_t cells = (size_t)(n * out_w > 0 ? n * out_w : 1);
  if (!rc) {
    y = suri_alloc(cells * sizeof(suri_real));
    y32 = suri_alloc(cells * sizeof(float));
    if (!y || !y32) rc = cli_fail(SURI_ERR_NOMEM, "cannot hold %lld outputs", (long long)n);
  }
  suri_status st = SURI_OK;
  int64_t S = 0, P = 0;
  float *rows = NULL;
  if (!rc && o->samples &&
      (st = suri_samples_read_npy(o->samples, (int64_t)suri_model_param_numel(m), &S, &P, &rows)))
    rc = cli_fail(st, "cannot use the samples file %s with model %s", o->samples, o->model);
  if (!rc && n > 0 && rows && (st = suri_bma_predict(m, S, P, rows, n, d->x, y)))
    rc = cli_fail(st, "the model average over %s failed", o->samples);
  if (!rc && n > 0 && !rows && (st = suri_model_predict(m, n, d->x, y)))
    rc = cli_fail(st, "prediction failed");
  suri_free(rows);
  if (!rc) {
    for (int64_t i = 0; i < n * out_w; i++) y32[i] = (float)y[i];
    int64_t dim[2] = {n, out_w};
    if ((st = suri_npy_write(o->output, SURI_DT_F32, 2, dim, y32)))
      rc = cli_fail(st, "cannot write %s", o->output);
  }
  if (!rc)
    fprintf(stderr, "wrote %s: (%lld, %lld) float32%s\n", o->output, (long long)n,
            (long long)out_w, S ? " (model average)" : "");
  suri_dataset_free(d);
  suri_free(y);
  suri_free(y32);
  return rc;
}

int cmd_predict(int argc, char **argv) {
  predict_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc < 0 ? CLI_OK : rc;
  if (cli_is_mfld_file(o.model)) /* particles of suri train --optim mfld|pda|psdca */
    return cli_mfld_predict(o.model, o.input, o.output,
                            o.samples ? "--samples" : o.batch != DEFAULT_BATCH ? "--batch" : NULL);
  suri_model *m = NULL;
  suri_status st = suri_model_load(o.model, o.batch, &m, NULL);
  if (st) return cli_fail(st, "cannot load model %s", o.model);
  suri_array a;
  memset(&a, 0, sizeof a);
  st = suri_npy_read(o.input, 0, &a);
  if (st) rc = cli_fail(st, "cannot read input %s", o.input);
  else rc = predict_rows(m, &a, &o);
  suri_array_free(&a);
  suri_model_free(m);
  return rc;
}
