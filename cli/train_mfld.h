/* train_mfld.h - pieces of `suri train --optim mfld|pda|psdca` shared between train_mfld.c
 * (options and help), train_mfld_config.c (DIR/config.json), train_mfld_guard.c (the memory
 * estimate) and train_mfld_run.c (data, the run, checkpoints, signals, the report). Private to cli/. */
#ifndef SURI_TRAIN_MFLD_H
#define SURI_TRAIN_MFLD_H

#include <stddef.h>
#include <stdint.h>

#include "suri/mfld.h"
#include "train_cli.h"

#define MFLD_SEED_MAX 9007199254740992ull /* 2^53: exact as a JSON number in config.json */

/* Every setting of a particle run: what config.json holds and --resume restores. */
typedef struct mfld_opts {
  suri_mfld_config c;             /* the library's configuration (c.epochs = total epochs) */
  char data[TRAIN_SPEC_MAX];
  char test_data[TRAIN_SPEC_MAX]; /* "" = no test set */
  char out[TRAIN_PATH_MAX];
  int64_t threads;                /* resolved count once the run starts */
  int64_t checkpoint_every;       /* epochs; -1 = at every monitor (the default) */
  /* Command-line only (not in config.json). */
  int quiet, json;
  double memory;                  /* --memory in bytes; 0 = what the machine has */
  const char *resume;             /* DIR or NULL */
} mfld_opts;

/* "auto" / "never" / "always" for c.gap = -1 / 0 / 1. */
const char *mfld_gap_name(int gap);
int mfld_gap_parse(const char *s, int *gap); /* 0 on success */

/* DIR/config.json (atomic), and back; CLI_OK or CLI_FAIL (message printed, naming the file
 * and the key). Reading fills everything but quiet/json/memory/resume. */
int mfld_config_write(const mfld_opts *o, const char *dir);
int mfld_config_read(const char *dir, mfld_opts *o);
/* The same from the text of a config.json (n bytes, not NUL-terminated; path only names it in
 * messages): what mfld_config_read does once it has read the file, and what
 * fuzz/fuzz_config_json.c calls. */
int mfld_config_parse(const char *text, size_t n, const char *path, mfld_opts *o);

/* Estimated peak bytes of the run (train_mfld_guard.c); *particles and *buffers get the parts
 * that the particles and the chunk / work buffers take. */
double mfld_memory(const mfld_opts *o, const suri_dataset *train, const suri_dataset *test,
                   double *particles, double *buffers);
/* CLI_OK, or CLI_FAIL with the estimate when it exceeds o->memory (or, with o->memory 0, the
 * memory available on this machine). */
int mfld_check_memory(const mfld_opts *o, const suri_dataset *train, const suri_dataset *test);

/* Loads the data, checks memory, builds (or, with o->resume, loads) the particle system,
 * writes config.json when write_config, runs and reports. Returns the exit code. */
int mfld_train_run(mfld_opts *o, int write_config);

#endif
