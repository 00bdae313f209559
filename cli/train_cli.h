/* train_cli.h - pieces of `suri train` shared between cmd_train.c (options, flow),
 * train_config.c (DIR/config.json), train_progress.c (progress display, signals), train_run.c
 * (the ordinary optimizers) and train_langevin.c (the Langevin samplers and averaged SGD). */
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
  /* Langevin samplers and averaged SGD (--optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd;
   * train_langevin.c), config.json's "sampler" object. Resolved before config.json is written
   * (so a resumed run reads numbers, never "auto"): batch (above) = B, loop = m, burn_in,
   * sample_every, asgd_lambda, noise_seed. Before that: batch, loop 0 and burn_in,
   * sample_every, asgd_lambda < 0 mean "the default", noise_seed_set 0 "= seed". */
  double temperature, data_size, prior_var; /* T >= 0; N (0 = n); tau^2 (0 = none) */
  double asgd_lambda;                       /* asgd: pull toward theta0 */
  int64_t loop, burn_in, sample_every;
  uint64_t noise_seed;
  int noise_seed_set;
  int symmetric_init;                       /* asgd: -1 auto, 0 off, 1 on */
  char samples_out[TRAIN_PATH_MAX];         /* "" = keep no samples */
  /* Command-line only (not in config.json). */
  int quiet, json;
  int on_nonfinite;   /* suri_nonfinite_policy (--on-nonfinite) */
  double memory;      /* --memory in bytes; 0 = the machine's physical memory */
  const char *resume; /* DIR or NULL */
} train_opts;

/* Writes o as DIR/config.json (atomic). Returns CLI_OK or CLI_FAIL (message printed). */
int train_config_write(const train_opts *o, const char *dir);
/* The config.json of every trainer (train_config.c, train_mfld_config.c): the file's name in
 * DIR; writing j there atomically (j is freed); reading it (at most 1 MiB, *data freed by the
 * caller with suri_free; CLI_FAIL naming the file and DIR). */
struct cJSON;
void train_config_path(const char *dir, char *path, size_t n);
int train_config_save(const char *dir, struct cJSON *j);
int train_config_load(const char *dir, char *path, size_t path_n, void **data, size_t *n);
/* Reads DIR/config.json into o (every run setting; quiet/json/resume untouched).
 * Returns CLI_OK or CLI_FAIL naming the file and the bad key. */
int train_config_read(const char *dir, train_opts *o);
/* The same from the file's text (n bytes; `path` names it in messages); what the fuzz target
 * fuzz/fuzz_config_json.c calls. Values are range-checked like the flags they stand for. */
int train_config_parse(const char *text, size_t n, const char *path, train_opts *o);

/* DIR/config.json's "optim" into buf (n bytes). CLI_OK, or CLI_FAIL without a message when the
 * file is missing or has no such string (the caller then reports what it finds itself). */
int train_config_peek_optim(const char *dir, char *buf, size_t n);

/* `suri train --optim mfld|pda|psdca ...` and `suri train --resume DIR` of such a run: the
 * particle methods of suri/mfld.h with their own options (train_mfld.c). Returns the exit code. */
int cmd_train_mfld(int argc, char **argv);

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

/* Pieces of train_run.c that train_langevin.c shares: loads --data and --test-data (the test
 * set in the training set's units; compact: u8 sets stay u8, suri_data_load_u8, for readers
 * that accept them); a fresh run's output directory (refusing one that holds a
 * run). Return the exit code (message printed). */
int train_load_data(const train_opts *o, int compact, suri_dataset **train,
                    suri_dataset **test);
int train_prepare_out(const char *dir);

/* The Langevin samplers and averaged SGD (train_langevin.c). train_is_sampler (in
 * train_config.c): optim is sgld, svrg-ld, sarah-ld, noisy-gd or asgd. */
int train_is_sampler(const char *optim);
/* `suri train` for them, after option resolution: the counterpart of cli_train_run. */
int cli_train_langevin(train_opts *o, int write_config);

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
