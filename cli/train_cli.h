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
  /* Command-line only (not in config.json). */
  int quiet, json;
  const char *resume; /* DIR or NULL */
} train_opts;

/* Writes o as DIR/config.json (atomic). Returns CLI_OK or CLI_FAIL (message printed). */
int train_config_write(const train_opts *o, const char *dir);
/* Reads DIR/config.json into o (every run setting; quiet/json/resume untouched).
 * Returns CLI_OK or CLI_FAIL naming the file and the bad key. */
int train_config_read(const char *dir, train_opts *o);

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
