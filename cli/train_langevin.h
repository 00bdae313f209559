/* train_langevin.h - the state of one `suri train --optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd`
 * run, shared by train_langevin.c (settings, the step loop, reporting) and
 * train_langevin_io.c (memory estimate, checkpoint, metrics lines). Private to cli/. */
#ifndef SURI_TRAIN_LANGEVIN_H
#define SURI_TRAIN_LANGEVIN_H

#include <stdio.h>

#include "suri/langevin.h"
#include "train_cli.h"

typedef struct lv_run {
  train_opts *o;
  suri_dataset *train, *test;
  suri_model *m;
  suri_model_objective *mo;
  suri_objective obj;
  int asgd;                /* optim == "asgd" (else a suri_langevin kind) */
  suri_langevin_kind kind;
  suri_langevin *s;
  suri_asgd *a;
  suri_samples *ss;        /* NULL without --samples-out */
  suri_real *x;            /* (d) the chain's state x_k / asgd's theta_t */
  suri_real *theta0;       /* (d) asgd: the initial point */
  suri_real *xe;           /* (d) scratch: the parameters being evaluated or saved */
  suri_real *test_t;       /* logistic test targets made from 0/1 labels (or NULL) */
  size_t d;                /* parameter count P */
  int64_t n, total, spe;   /* data size, total steps, steps per epoch */
  int64_t chunk;           /* the model's compiled batch (gradient chunks) */
  int64_t capacity;        /* samples the run keeps: suri_samples_expected(total, ...) */
  int64_t start;           /* step the run starts from (checkpoint step when resuming) */
  double loss_sum;         /* sum of the step losses of the current epoch ... */
  int64_t loss_n;          /* ... and their number */
  double epoch_loss, test_loss, test_acc; /* the last finished epoch's (NaN before) */
  double bma_loss, bma_acc;               /* BMA of the kept samples on the test set */
  double t0;
  FILE *metrics;
  train_progress prog;
} lv_run;

/* Steps and per-sample gradient evaluations so far. */
int64_t lv_steps(const lv_run *r);
int64_t lv_grad_evals(const lv_run *r);

/* Refuses (CLI_FAIL, with the estimate and its parts) a run whose memory, samples included,
 * exceeds --memory or what the machine has; before anything large is allocated. */
int lv_check_memory(const lv_run *r, const suri_model_spec *spec);
/* DIR/checkpoint.safetensors: the state, the sampler's or asgd's own state, the kept samples
 * and the epoch's running loss. Atomic. CLI_OK or CLI_FAIL (message printed). */
int lv_checkpoint_write(lv_run *r);
/* Restores all of that into a run built with the same settings (sampler created, samples
 * buffer empty). CLI_OK or CLI_FAIL naming the file and what does not match. */
int lv_checkpoint_read(lv_run *r);
/* One metrics.jsonl line: kind "step", "epoch" or "bma"; NaN values become null. */
void lv_metrics_line(lv_run *r, const char *kind, double loss, double test_loss,
                     double test_acc);

#endif
