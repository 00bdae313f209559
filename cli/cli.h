/* cli.h - shared pieces of the suri command: the subcommand table entry, exit codes, strict
 * number parsing for flags, and error reporting. Private to cli/. */
#ifndef SURI_CLI_H
#define SURI_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "suri/core.h"
#include "suri/data.h"
#include "suri/nn.h"

/* Exit codes (documented in docs/cli.md). */
enum {
  CLI_OK = 0,      /* success */
  CLI_FAIL = 1,    /* any failure other than usage: files, data, numerics */
  CLI_USAGE = 2,   /* bad command line: unknown flag, missing or malformed value */
  CLI_SIGINT = 130,/* training interrupted by SIGINT (checkpoint written) */
  CLI_SIGTERM = 143/* training interrupted by SIGTERM (checkpoint written) */
};

/* A subcommand: run gets argv with argv[0] = the command name; usage prints the full help. */
typedef struct cli_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
  void (*usage)(FILE *f);
} cli_command;

int cmd_train(int argc, char **argv);
void usage_train(FILE *f);
int cmd_eval(int argc, char **argv);
void usage_eval(FILE *f);
int cmd_predict(int argc, char **argv);
void usage_predict(FILE *f);
int cmd_info(int argc, char **argv);
void usage_info(FILE *f);
int cmd_bench(int argc, char **argv);
void usage_bench(FILE *f);
int cmd_analyze(int argc, char **argv);
void usage_analyze(FILE *f);

/* ---- parsing ------------------------------------------------------------------------------ */
/* Each parser accepts the whole string or nothing; on failure it prints
 *   suri CMD: invalid value 'TEXT' for FLAG: WHY
 *   see 'suri CMD --help'
 * and returns CLI_USAGE; CLI_OK otherwise. */
int cli_parse_i64(const char *cmd, const char *flag, const char *text, int64_t lo, int64_t hi,
                  int64_t *out);
int cli_parse_u64(const char *cmd, const char *flag, const char *text, uint64_t hi,
                  uint64_t *out);
/* Finite double in [lo, hi]; lo_open excludes lo itself (for "> 0"). */
int cli_parse_f64(const char *cmd, const char *flag, const char *text, double lo, int lo_open,
                  double hi, double *out);

/* Usage error with a free message (printf format) and the help hint; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Handles getopt_long's '?' and ':' results (opterr must be 0 and optstring start with ':'):
 * names the unknown flag or the flag missing its value. Returns CLI_USAGE. */
int cli_getopt_error(const char *cmd, int c, int argc, char **argv);

/* Refuses positional arguments left after option parsing. Returns CLI_OK or CLI_USAGE. */
int cli_no_operands(const char *cmd, int argc, char **argv);

/* "suri: error: WHAT: <library detail>" on stderr; returns CLI_FAIL. */
/* Standardises d with the input statistics stored in model m, if any (eval, analyze). */
int cli_apply_input_norm(const char *model, const char *data, const suri_model *m,
                         suri_dataset *d);
int cli_fail(suri_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Reports a failed suri_data_load of `spec` given with `flag`: a malformed spec
 * (SURI_ERR_ARG) is bad usage (exit 2, message with the library's detail and the help hint);
 * anything else (missing file, bad content) a failure (exit 1). Returns the exit code. */
int cli_data_error(const char *cmd, const char *flag, const char *spec, suri_status st);

/* Memory a curvature analysis adds to a model of this spec (analyze_memory.c): returns the
 * bytes of `vectors` solver vectors of the parameter dimension and sets *op_bytes to the
 * curvature operator's work vectors for batch B. Upper estimates. */
double cli_curv_bytes(const suri_model_spec *spec, int64_t B, double vectors, double *op_bytes);

/* Applies --threads (0 = all cores). Returns CLI_OK or CLI_FAIL. With more than one thread
 * and no OMP_WAIT_POLICY in the environment the process re-executes itself with
 * OMP_WAIT_POLICY=PASSIVE first (util.c says why), so call it before any output or work. */
int cli_set_threads(int64_t n);
/* The same without the re-execution, for paths whose parallel work is all OpenMP (OpenBLAS
 * runs single-threaded inside it: the particle methods), where spinning workers are faster. */
int cli_set_threads_omp(int64_t n);
/* Keeps main's argv (NULL-terminated) for cli_set_threads's re-execution. */
void cli_remember_argv(char **argv);

/* mkdir -p. Returns SURI_OK or SURI_ERR_IO with a message naming the path. */
suri_status cli_mkdirs(const char *path);

/* Monotonic seconds. */
double cli_now(void);

/* Writes JSON document j to path atomically, indented with two spaces, ending in a newline.
 * Returns CLI_OK or CLI_FAIL (message printed). */
struct cJSON;
int cli_write_json(const char *path, const struct cJSON *j);

/* String value of `key` of object j into dst (n bytes); a missing key or null gives "" when
 * nullable. CLI_OK, or CLI_FAIL naming the file `path` and the key (message printed). */
int cli_json_get_str(const struct cJSON *j, const char *path, const char *key, char *dst,
                     size_t n, int nullable);
/* Adds "created": the local time in ISO 8601 with the UTC offset. */
void cli_json_add_created(struct cJSON *j);

/* A fresh output directory name for a run: runs/YYYYmmdd-HHMMSS, with -2, -3 ... if taken. */
void cli_default_run_dir(char *out, size_t n);

/* "512.0 MiB"-style text of a byte count into buf (n bytes); returns buf. */
const char *cli_fmt_bytes(char *buf, size_t n, double bytes);

/* Prints a double for humans: "%.4g", or "nan" for NaN. */
const char *cli_fmt(char *buf, size_t n, double v);

#endif
