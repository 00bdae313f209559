/* train_internal.h - pieces of the trainer shared between its files. */
#ifndef SURI_TRAIN_INTERNAL_H
#define SURI_TRAIN_INTERNAL_H

#include <stdio.h>

#include "suri/optim.h"
#include "suri/train.h"

/* Position of a run, saved in checkpoints. */
typedef struct train_pos {
  int64_t step;      /* steps completed */
  uint64_t rng_calls;/* dropout counter of the graph */
  /* Running sums of the epoch in progress, so a resumed run reports the same metrics. */
  double loss_sum;
  int64_t correct, seen;
  /* Metrics of the last finished epoch (NaN when none), so that a run resumed at its very
   * end reports, and stores in model.safetensors, the same summary as the original run. */
  double last_loss, last_acc, last_test_loss, last_test_acc;
} train_pos;

/* Writes out_dir/checkpoint.safetensors: model tensors, "optim.<state>" tensors, metadata
 * with the step, optimizer steps, dropout counter and model spec. path receives the file name. */
suri_status suri_checkpoint_write(const suri_model *m, suri_optim *o, const train_pos *pos,
                                   uint64_t seed, const char *dir, char *path, size_t path_n);
/* Restores what suri_checkpoint_write saved; the model must have the same spec and the
 * optimizer the same kind and size. */
suri_status suri_checkpoint_read(suri_model *m, suri_optim *o, train_pos *pos, const char *dir);

/* Appends one metrics record as a JSON line and flushes it. */
void suri_metrics_write(FILE *f, const suri_train_event *ev);

/* "dir/name" into buf; SURI_ERR_ARG if it does not fit. */
suri_status suri_path_join(char *buf, size_t n, const char *dir, const char *name);
/* mkdir -p for one level (parents must exist); ok if it exists as a directory. */
suri_status suri_ensure_dir(const char *dir);

#endif
