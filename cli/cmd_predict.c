/* cmd_predict.c - `suri predict`: runs a saved model in evaluation mode on the rows of an NPY
 * file and writes the outputs (logits for classifiers) as float32 (N, C) NPY, atomically.
 * Input (N, D1, D2, ...) is flattened to (N, D1*D2*...), which must equal the model's input
 * width. Float and integer inputs are used as they are; u8 input (raw pixels) is divided by
 * 255, as the bundled MNIST data is. */
#include <getopt.h>
#include <math.h>
#include <string.h>

#include "cli.h"
#include "suri/io.h"
#include "suri/nn.h"

#define DEFAULT_BATCH 256

void usage_predict(FILE *f) {
  fprintf(f,
          "usage: suri predict --model FILE --input X.npy --output Y.npy [--batch N]\n\n"
          "Runs the model (evaluation mode: dropout off, batch-norm running statistics) on\n"
          "every row of X and writes its outputs (logits for classifiers) to Y as float32 NPY\n"
          "of shape (N, OUT). Y is written atomically (never half-written).\n\n"
          "X may have shape (N, IN) or (N, H, W, ...) (flattened to (N, H*W*...)), any dtype\n"
          "the NPY reader supports (f4, f8, u1, i1, i2, i4, i8). Values are used as they are,\n"
          "except u8 (u1) input, which is divided by 255 (raw pixels -> [0, 1], as the\n"
          "mnist10k data set does). Non-finite inputs are refused.\n\n"
          "options:\n"
          "  --model FILE   model file (.safetensors) written by 'suri train'   (required)\n"
          "  --input FILE   inputs, NPY                                         (required)\n"
          "  --output FILE  where to write the outputs, NPY float32             (required)\n"
          "  --batch N      rows per forward pass                               (default %d)\n"
          "  -h, --help     show this help\n",
          DEFAULT_BATCH);
}

typedef struct predict_opts {
  const char *model, *input, *output;
  int64_t batch;
} predict_opts;

static int parse(int argc, char **argv, predict_opts *o) {
  static const struct option longs[] = {{"model", required_argument, 0, 'm'},
                                        {"input", required_argument, 0, 'i'},
                                        {"output", required_argument, 0, 'o'},
                                        {"batch", required_argument, 0, 'b'},
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

/* Converts a (N, ...) array into x: (N, in) suri_real; u8 is scaled by 1/255. */
static int to_matrix(const suri_array *a, const char *path, int64_t in, suri_real **x,
                     int64_t *n) {
  if (a->rank < 2)
    return cli_fail(SURI_OK, "%s: input has rank %d; expected (N, %lld) or (N, H, W, ...)", path,
                    a->rank, (long long)in);
  int64_t feat = 1;
  for (int i = 1; i < a->rank; i++) feat *= a->dim[i];
  if (feat != in)
    return cli_fail(SURI_OK, "%s: each row has %lld values but the model's input width is %lld",
                    path, (long long)feat, (long long)in);
  *n = a->dim[0];
  int64_t total = suri_array_numel(a);
  *x = suri_alloc((size_t)(total > 0 ? total : 1) * sizeof(suri_real));
  if (!*x) return cli_fail(SURI_ERR_NOMEM, "%s: cannot hold the input", path);
  double scale = a->dtype == SURI_DT_U8 ? 1.0 / 255.0 : 1.0;
  for (int64_t i = 0; i < total; i++) {
    double v = suri_array_get(a, i);
    if (!isfinite(v)) {
      suri_free(*x);
      *x = NULL;
      return cli_fail(SURI_OK, "%s: element %lld (row %lld) is not finite", path, (long long)i,
                      (long long)(i / in));
    }
    (*x)[i] = (suri_real)(v * scale);
  }
  return CLI_OK;
}

static int predict_rows(suri_model *m, const suri_array *a, const predict_opts *o) {
  const suri_model_spec *s = suri_model_get_spec(m);
  int64_t in = s->width[0], out_w = s->width[s->n_widths - 1], n = 0;
  suri_real *x = NULL, *y = NULL;
  float *y32 = NULL;
  int rc = to_matrix(a, o->input, in, &x, &n);
  if (rc) return rc;
  size_t cells = (size_t)(n * out_w > 0 ? n * out_w : 1);
  y = suri_alloc(cells * sizeof(suri_real));
  y32 = suri_alloc(cells * sizeof(float));
  if (!y || !y32) rc = cli_fail(SURI_ERR_NOMEM, "cannot hold %lld outputs", (long long)n);
  suri_status st = SURI_OK;
  if (!rc && n > 0 && (st = suri_model_predict(m, n, x, y)))
    rc = cli_fail(st, "prediction failed");
  if (!rc) {
    for (int64_t i = 0; i < n * out_w; i++) y32[i] = (float)y[i];
    int64_t dim[2] = {n, out_w};
    if ((st = suri_npy_write(o->output, SURI_DT_F32, 2, dim, y32)))
      rc = cli_fail(st, "cannot write %s", o->output);
  }
  if (!rc)
    fprintf(stderr, "wrote %s: (%lld, %lld) float32\n", o->output, (long long)n,
            (long long)out_w);
  suri_free(x);
  suri_free(y);
  suri_free(y32);
  return rc;
}

int cmd_predict(int argc, char **argv) {
  predict_opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc < 0 ? CLI_OK : rc;
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
