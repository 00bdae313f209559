/* fuzz_safetensors.c - libFuzzer target for safetensors as suri meets it: the raw parser
 * (suri_st_parse, src/io/safetensors_read.c), model files (suri_model_load, src/nn/
 * model_file.c: metadata model_spec -> a model whose tensors must all be in the file) and
 * training checkpoints (suri_checkpoint_read, src/train/checkpoint.c, into a fixed small model
 * with an Adam optimizer, as `suri train --resume` does). The first input byte picks which
 * (mod 3); the rest is the file. Model files name their own architecture, so a file claiming a
 * huge model must be refused before the model is allocated (-malloc_limit_mb catches it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "suri/io.h"
#include "suri/nn.h"
#include "suri/optim.h"
#include "train/train_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The checkpoint target's model: small, with batch-norm state and dropout so every kind of
 * checkpoint entry is present (fuzz/corpus/fuzz_safetensors/ckpt_* were written for it). */
#define CKPT_MODEL "mlp:4-8-3,norm=batch,dropout=0.1"

static void raw(const uint8_t *data, size_t size) {
  suri_safetensors *st = NULL;
  if (suri_st_parse(data, size, "fuzz", &st) != SURI_OK) {
    if (st) abort();
    return;
  }
  uint64_t h = 0;
  for (int64_t i = 0; i < suri_st_count(st); i++) {
    const suri_st_tensor *t = suri_st_at(st, i);
    if (suri_st_find(st, t->name) != t) abort(); /* names are unique */
    const unsigned char *p = suri_st_data(st, t);
    for (size_t k = 0; k < t->nbytes; k++) h += p[k]; /* ASan checks the claimed extent */
    int64_t n = 1;
    for (int r = 0; r < t->rank; r++) n *= t->dim[r];
    if ((size_t)n * suri_dtype_size(t->dtype) != t->nbytes) abort();
    suri_real *dst = malloc(((size_t)n + 1) * sizeof *dst);
    if (!dst) abort();
    (void)suri_st_get_real(st, t->name, t->rank, t->dim, dst, (int)(i & 1));
    (void)suri_st_get_real(st, t->name, -1, NULL, dst, 1);
    free(dst);
  }
  for (int64_t i = 0; i < suri_st_meta_count(st); i++) {
    const char *k = suri_st_meta_key(st, i), *v = suri_st_meta(st, k);
    if (!v) abort();
    h += strlen(k) + strlen(v);
  }
  volatile uint64_t sink = h;
  (void)sink;
  suri_st_free(st);
}

static void model_file(const uint8_t *data, size_t size) {
  const char *path = fuzz_write("model.safetensors", data, size);
  suri_model *m = NULL;
  uint64_t seed = 0;
  if (suri_model_load(path, 4, &m, &seed) != SURI_OK) {
    if (m) abort();
    return;
  }
  suri_model_free(m);
}

static void checkpoint(const uint8_t *data, size_t size) {
  static suri_model *m;
  static suri_optim *o;
  if (!m) {
    suri_model_spec spec;
    if (suri_model_spec_parse(CKPT_MODEL, &spec) || suri_model_new(&spec, 4, &m)) abort();
    suri_optim_hp hp = suri_optim_defaults(SURI_OPTIM_ADAM);
    o = suri_optim_new(SURI_OPTIM_ADAM, suri_model_param_count(m), &hp);
    if (!o) abort();
  }
  fuzz_write("checkpoint.safetensors", data, size);
  train_pos pos;
  memset(&pos, 0, sizeof pos);
  (void)suri_checkpoint_read(m, o, &pos, fuzz_dir());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  switch (data[0] % 3) {
  case 0: raw(data + 1, size - 1); break;
  case 1: model_file(data + 1, size - 1); break;
  default: checkpoint(data + 1, size - 1); break;
  }
  return 0;
}
