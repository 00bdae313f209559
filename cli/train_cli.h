/* train_cli.h - pieces of `suri train` shared between cmd_train.c (options, flow),
 * train_config.c (DIR/config.json) and train_progress.c (progress display, signals). */
#ifndef SURI_TRAIN_CLI_H
#define SURI_TRAIN_CLI_H

#include <stdint.h>

#include "cli.h"
#include "suri/train.h"

#define TRAIN_SPEC_MAX 1024
#define TRAIN_PATH_MAX 4096

/* Every setting of a run: what config.json holds and --resume restores. */
typedef struct train_opts {
  char data[TRAIN_SPEC_MAX];
  char test_data[TRAIN_SPEC_MAX]; /* "" = no test set */
  char model[TRAIN_SPEC_MAX];     /* canonical once resolved */
  char optim[16];
  char schedule[256];
  char out[TRAIN_PATH_MAX];
  double lr, momentum, weight_decay, beta1, beta2, eps; /* lr/momentum/wd < 0: kind default */
  int nesterov;
  int64_t batch, epochs, steps, threads, checkpoint_every, log_every;
  uint64_t seed;
  /* --lr auto[=F] (train_lr_auto.c): F > 0, or 0 when --lr is a number; lr_samples for the
   * estimate; lr_lambda_max and lr_auto_n what it found (config.json records them; a resumed
   * run reads back only the lr that was chosen). */
  double lr_auto, lr_lambda_max;
  int64_t lr_samples, lr_auto_n;
  /* Command-line only (not in config.json). */
  int quiet, json;
  int on_nonfinite;   /* suri_nonfinite_policy (--on-nonfinite) */
  double memory;      /* --memory in bytes; 0 = the machine's physical memory */
  const char *resume; /* DIR or NULL */
} train_opts;

/* Writes o as DIR/config.json (atomic). Returns CLI_OK or CLI_FAIL (message printed). */
int train_config_write(const train_opts *o, const char *dir);
/* Reads DIR/config.json into o (every run setting; quiet/json/resume untouched).
 * Returns CLI_OK or CLI_FAIL naming the file and the bad key. */
int train_config_read(const char *dir, train_opts *o);
/* The same from the file's text (n bytes; `path` names it in messages); what the fuzz target
 * fuzz/fuzz_config_json.c calls. Values are range-checked like the flags they stand for. */
int train_config_parse(const char *text, size_t n, const char *path, train_opts *o);

/* --on-nonfinite and --memory (train_guard.c): parses the value of `flag` into o. Returns
 * CLI_OK or CLI_USAGE (message printed). */
int train_parse_guard(const char *flag, const char *value, train_opts *o);
/* Refuses (CLI_FAIL, message with the estimate) a run whose estimated memory exceeds
 * --memory or the machine's physical memory; called before the model is allocated. */
int train_check_memory(const train_opts *o, const suri_model_spec *spec,
                       const suri_dataset *train, const suri_dataset *test);

/* Vectors of the parameter dimension that --lr auto's Lanczos run keeps: its default basis of
 * max(2k + 40, 80) = 80 steps for k = 1, plus one (src/analysis/eigen.c). */
#define LR_AUTO_VECTORS 81.0

/* --lr auto: lambda_max of the Gauss-Newton matrix of the training loss at initialisation, on
 * the first o->lr_samples training samples, then o->lr = o->lr_auto * 2 / lambda_max
 * (train_lr_auto.c). Says what it chose on stderr unless quiet/json. CLI_OK or CLI_FAIL. */
int train_lr_auto(train_opts *o, suri_model *m, const suri_dataset *train);

/* Loads data, builds the model, writes DIR/config.json if write_config, trains and reports.
 * Returns the exit code. */
int cli_train_run(train_opts *o, int write_config);

/* Progress display state, the user pointer of the trainer callback. */
typedef struct train_progress {
  int quiet, tty;
  double t0, last_draw;
  int64_t start_step, last_step, total_steps, epochs;
  int started;                     /* the trainer got past its setup (START event) */
  int drawn;                       /* a progress bar is on screen (needs clearing) */
  int64_t nonfinite;               /* SURI_EV_NONFINITE events so far (skips, restores) */
  char checkpoint[TRAIN_PATH_MAX]; /* last checkpoint written ("" if none) */
  char model[TRAIN_PATH_MAX];      /* final model ("" if none) */
} train_progress;

void train_progress_init(train_progress *p, int quiet);
int train_progress_cb(const suri_train_event *ev, void *user);
/* Clears a progress bar left on the terminal (before printing an error). */
void train_progress_clear(train_progress *p);

/* SIGINT/SIGTERM set the stop flag (a second signal kills as usual). */
void train_signals_install(void);
volatile const int *train_stop_flag(void);
/* The signal that stopped the run (0 if none). */
int train_signal_caught(void);

#endif
