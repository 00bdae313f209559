/* fuzz_safetensors.c - libFuzzer target for safetensors as suri meets it: the raw parser
 * (suri_st_parse, src/io/safetensors_read.c), model files (suri_model_load, src/nn/
 * model_file.c: metadata model_spec -> a model whose tensors must all be in the file),
 * training checkpoints (suri_checkpoint_read, src/train/checkpoint.c, into a fixed small model
 * with an Adam optimizer, as `suri train --resume` does) and the particle files of the
 * mean-field methods (suri_mfld_load, src/mfld/file.c: what `suri train --resume` of an
 * mfld/pda/psdca run and `suri eval/predict/info` read). The first input byte picks which
 * (mod 4: 0 raw, 1 model, 2 checkpoint, 3 particles; until the particle mode was added it was
 * mod 3, and the committed corpus files whose first byte means another mode mod 4 than mod 3
 * were rewritten to keep their mode); the rest is the file. Model and particle files name their
 * own size, so a file claiming a huge model must be refused before the model is allocated
 * (-malloc_limit_mb catches it). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "suri/io.h"
#include "suri/mfld.h"
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

/* f(x) of a particle system on three fixed rows (0, +-1 patterns): x (3, d), out (3). */
static void mfld_predict3(suri_mfld *m, int64_t d, suri_real *out) {
  suri_real *x = malloc(3 * (size_t)d * sizeof *x);
  if (!x) abort();
  for (int64_t i = 0; i < 3 * d; i++) x[i] = (suri_real)(i < d ? 0 : ((i * 7) % 3) - 1);
  if (suri_mfld_predict(m, 3, x, out) != SURI_OK) abort();
  free(x);
}

/* A particle file loads or fails cleanly; a loaded system is consistent with its own
 * configuration (M particles of p = d + bias + [learned head] finite coordinates, weights
 * finite when present), predicts, and saved and loaded again predicts bit for bit the same. */
static void particles(const uint8_t *data, size_t size) {
  const char *path = fuzz_write("particles.safetensors", data, size);
  suri_mfld *m = NULL;
  if (suri_mfld_load(path, &m) != SURI_OK) {
    if (m) abort();
    return;
  }
  const suri_mfld_config *c = suri_mfld_get_config(m);
  const int64_t d = suri_mfld_input_dim(m), p = suri_mfld_dim(m);
  const int has_a = c->head == SURI_MFLD_HEAD_LEARN || c->head == SURI_MFLD_HEAD_BOUNDED;
  if (d < 1 || c->M < 1 || p != d + c->bias + has_a || suri_mfld_check(c) != SURI_OK) abort();
  int64_t ld = 0;
  const suri_real *th = suri_mfld_theta(m, &ld);
  const double *w = suri_mfld_weights(m);
  if (ld < p) abort();
  for (int64_t j = 0; j < c->M; j++) {
    for (int64_t k = 0; k < p; k++)
      if (!isfinite((double)th[j * ld + k])) abort();
    if (w && !isfinite(w[j])) abort();
  }
  suri_real f1[3], f2[3];
  mfld_predict3(m, d, f1);
  char again[700];
  snprintf(again, sizeof again, "%s/particles2.safetensors", fuzz_dir());
  suri_mfld *m2 = NULL;
  if (suri_mfld_save(m, again, 0, NULL, NULL) != SURI_OK || suri_mfld_load(again, &m2) != SURI_OK)
    abort();
  if (suri_mfld_input_dim(m2) != d || suri_mfld_dim(m2) != p ||
      suri_mfld_steps(m2) != suri_mfld_steps(m) ||
      suri_mfld_epochs_done(m2) != suri_mfld_epochs_done(m))
    abort();
  mfld_predict3(m2, d, f2);
  if (memcmp(f1, f2, sizeof f1) != 0) abort();
  suri_mfld_free(m2);
  suri_mfld_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  switch (data[0] % 4) {
  case 0: raw(data + 1, size - 1); break;
  case 1: model_file(data + 1, size - 1); break;
  case 2: checkpoint(data + 1, size - 1); break;
  default: particles(data + 1, size - 1); break;
  }
  return 0;
}
