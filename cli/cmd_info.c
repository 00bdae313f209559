/* cmd_info.c - `suri info`: describes a model file (spec, parametrization, layer table with
 * shapes and parameter counts, every tensor, the file's metadata), a mean-field particle file
 * of `suri train --optim mfld|pda|psdca` (mfld_file.c: configuration, M, p, steps), or a data
 * set (suri_dataset_info). Only reads. */
#include <getopt.h>
#include <stdint.h>
#include <string.h>

#include "cli.h"
#include "mfld_file.h"
#include "suri/data.h"
#include "suri/io.h"
#include "suri/nn.h"

void usage_info(FILE *f) {
  fprintf(f, "usage: suri info --model FILE\n"
             "       suri info --data SPEC\n\n"
             "--model: the model's spec, parametrization, layer table (shapes, parameter\n"
             "counts, parametrization multipliers), tensors and file metadata; for a\n"
             "particle file of 'suri train --optim mfld|pda|psdca': the method, its\n"
             "configuration, M particles of dimension p, the steps taken.\n"
             "--data: samples, features, image size, classes and their counts, value range\n"
             "and normalisation of a data set (spec grammar: docs/formats.md).\n\n"
             "options:\n"
             "  --model FILE   a model file (.safetensors)       (no default)\n"
             "  --data SPEC    a data set spec                   (no default)\n"
             "  -h, --help     show this help\n");
}

static void print_layers(const suri_model *m) {
  printf("layers:\n  %-6s %-14s %-8s %10s %10s %10s\n", "name", "weight", "bias", "params",
         "scale_w", "scale_b");
  for (int i = 0; i < suri_model_layer_count(m); i++) {
    const suri_layer *l = suri_model_layer(m, i);
    char w[48], b[24];
    int has_b = l->b_offset != SIZE_MAX;
    snprintf(w, sizeof w, "(%lld, %lld)", (long long)l->out, (long long)l->in);
    if (has_b) snprintf(b, sizeof b, "(%lld)", (long long)l->out);
    else snprintf(b, sizeof b, "-");
    long long n = (long long)(l->out * l->in + (has_b ? l->out : 0));
    printf("  %-6s %-14s %-8s %10lld %10.4g %10.4g\n", l->name, w, b, n, l->scale_w, l->scale_b);
  }
}

static void print_tensors(const suri_model *m) {
  printf("tensors:\n");
  for (int i = 0; i < suri_model_tensor_count(m); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    char shape[64];
    if (t->rank == 1) snprintf(shape, sizeof shape, "(%lld)", (long long)t->dim[0]);
    else snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)t->dim[0], (long long)t->dim[1]);
    printf("  %-24s %-14s %s\n", t->name, shape, t->is_state ? "state" : "parameter");
  }
}

static int info_model(const char *path) {
  if (cli_is_mfld_file(path)) return cli_mfld_info(path);
  suri_model *m = NULL;
  uint64_t seed = 0;
  suri_status st = suri_model_load(path, 1, &m, &seed);
  if (st) return cli_fail(st, "cannot load model %s", path);
  suri_safetensors *sf = NULL;
  st = suri_st_read(path, 0, &sf);
  if (st) {
    suri_model_free(m);
    return cli_fail(st, "cannot read %s", path);
  }
  const suri_model_spec *s = suri_model_get_spec(m);
  char spec[1024];
  suri_model_spec_format(s, spec, sizeof spec);
  printf("model file  %s\nspec        %s\nparam       %s\nact         %s\nnorm        %s\n"
         "loss        %s\nparameters  %zu trainable scalars (%zu state)\n",
         path, spec, suri_param_name(s->param), suri_act_name(s->act), suri_norm_name(s->norm),
         suri_loss_name(s->loss), suri_model_param_numel(m), suri_model_state_count(m));
  const double *mean, *sd;
  printf("input norm  %s\n", suri_model_input_norm(m, &mean, &sd)
                                  ? "standardise with the stored training mean/std (input_norm.*)"
                                  : "none stored (inputs used as given)");
  print_layers(m);
  print_tensors(m);
  printf("metadata:\n");
  for (int64_t i = 0; i < suri_st_meta_count(sf); i++) {
    const char *k = suri_st_meta_key(sf, i), *v = suri_st_meta(sf, k);
    printf("  %-16s %s\n", k, v ? v : "");
  }
  suri_st_free(sf);
  suri_model_free(m);
  return CLI_OK;
}

static int info_data(const char *spec) {
  suri_dataset *d = NULL;
  suri_status st = suri_data_load(spec, &d);
  if (st) return cli_data_error("info", "--data", spec, st);
  char buf[8192];
  st = suri_dataset_info(d, buf, sizeof buf);
  if (st) {
    suri_dataset_free(d);
    return cli_fail(st, "cannot describe '%s'", spec);
  }
  printf("%s\n", buf);
  suri_dataset_free(d);
  return CLI_OK;
}

int cmd_info(int argc, char **argv) {
  static const struct option longs[] = {{"model", required_argument, 0, 'm'},
                                        {"data", required_argument, 0, 'd'},
                                        {"help", no_argument, 0, 'h'},
                                        {0, 0, 0, 0}};
  const char *model = NULL, *data = NULL;
  opterr = 0;
  optind = 0;
  int c, rc;
  while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
    switch (c) {
    case 'm': model = optarg; break;
    case 'd': data = optarg; break;
    case 'h': usage_info(stdout); return CLI_OK;
    default: return cli_getopt_error("info", c, argc, argv);
    }
  }
  if ((rc = cli_no_operands("info", argc, argv))) return rc;
  if (!model == !data) return cli_usage_error("info", "give exactly one of --model FILE and --data SPEC");
  return model ? info_model(model) : info_data(data);
}
