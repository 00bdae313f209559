/* util.c - helpers shared by the suri subcommands: strict number parsing (the whole string must
 * be a number in range: "12abc", "", "1e999" and "nan" are refused with a message naming the
 * flag), uniform usage and failure messages, thread setup, mkdir -p. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "suri/io.h"

static int bad_value(const char *cmd, const char *flag, const char *text, const char *why) {
  fprintf(stderr, "suri %s: invalid value '%s' for %s: %s\nsee 'suri %s --help'\n", cmd, text,
          flag, why, cmd);
  return CLI_USAGE;
}

int cli_parse_i64(const char *cmd, const char *flag, const char *text, int64_t lo, int64_t hi,
                  int64_t *out) {
  char why[128], *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (end == text || *end != '\0' || isspace((unsigned char)text[0]))
    return bad_value(cmd, flag, text, "expected an integer");
  if (errno == ERANGE || v < lo || v > hi) {
    if (hi == INT64_MAX) snprintf(why, sizeof why, "must be >= %lld", (long long)lo);
    else snprintf(why, sizeof why, "must be in [%lld, %lld]", (long long)lo, (long long)hi);
    return bad_value(cmd, flag, text, why);
  }
  *out = (int64_t)v;
  return CLI_OK;
}

int cli_parse_u64(const char *cmd, const char *flag, const char *text, uint64_t hi,
                  uint64_t *out) {
  char why[128], *end = NULL;
  /* strtoull accepts "-1" (wrapping it); only digits are a valid unsigned value here. */
  if (text[0] < '0' || text[0] > '9') return bad_value(cmd, flag, text, "expected an integer >= 0");
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (*end != '\0') return bad_value(cmd, flag, text, "expected an integer >= 0");
  if (errno == ERANGE || v > hi) {
    snprintf(why, sizeof why, "must be in [0, %llu]", (unsigned long long)hi);
    return bad_value(cmd, flag, text, why);
  }
  *out = (uint64_t)v;
  return CLI_OK;
}

int cli_parse_f64(const char *cmd, const char *flag, const char *text, double lo, int lo_open,
                  double hi, double *out) {
  char why[128], *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || isspace((unsigned char)text[0]))
    return bad_value(cmd, flag, text, "expected a number");
  if (!isfinite(v) || errno == ERANGE) return bad_value(cmd, flag, text, "must be finite");
  if (v < lo || (lo_open && v == lo) || v > hi) {
    if (isinf(hi)) snprintf(why, sizeof why, "must be %s %g", lo_open ? ">" : ">=", lo);
    else snprintf(why, sizeof why, "must be in %c%g, %g]", lo_open ? '(' : '[', lo, hi);
    return bad_value(cmd, flag, text, why);
  }
  *out = v;
  return CLI_OK;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "suri %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nsee 'suri %s --help'\n", cmd);
  return CLI_USAGE;
}

int cli_getopt_error(const char *cmd, int c, int argc, char **argv) {
  /* optind has moved past the offending word; it is argv[optind - 1] for both cases. */
  const char *word = (optind >= 1 && optind - 1 < argc) ? argv[optind - 1] : "?";
  if (c == ':') {
    if (optopt > 0 && optopt < 128 && word[0] == '-' && word[1] != '-')
      return cli_usage_error(cmd, "option -%c needs a value", optopt);
    return cli_usage_error(cmd, "option %s needs a value", word);
  }
  if (optopt > 0 && optopt < 128 && !(word[0] == '-' && word[1] == '-'))
    return cli_usage_error(cmd, "unknown option -%c", optopt);
  return cli_usage_error(cmd, "unknown option '%s'", word);
}

int cli_no_operands(const char *cmd, int argc, char **argv) {
  if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
  return CLI_OK;
}

int cli_fail(suri_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("suri: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  const char *detail = suri_last_error();
  if (st != SURI_OK && detail && detail[0]) fprintf(stderr, ": %s", detail);
  else if (st != SURI_OK) fprintf(stderr, ": %s", suri_status_name(st));
  fputc('\n', stderr);
  return CLI_FAIL;
}

int cli_data_error(const char *cmd, const char *flag, const char *spec, suri_status st) {
  if (st == SURI_ERR_ARG) return bad_value(cmd, flag, spec, suri_last_error());
  return cli_fail(st, "cannot load data '%s' (%s)", spec, flag);
}

static char **saved_argv; /* main's argv, for passive_wait's re-execution */

void cli_remember_argv(char **argv) { saved_argv = argv; }

/* libgomp reads OMP_WAIT_POLICY once, when it is loaded, and by default lets idle OpenMP
 * workers spin for a while after every parallel region. suri's element-wise loops run on
 * OpenMP and its matrix products on OpenBLAS's own threads, so with more than one thread the
 * spinning workers take the cores OpenBLAS's threads need: measured on 2 cores, a 2-thread
 * training step of A ran at 11,000 samples/s against 65,000 with PASSIVE (1 thread: 35,000),
 * an SGLD run and a Gauss-Newton product 3x slower than with PASSIVE. A process that will run
 * more than one thread and whose environment chooses no policy therefore re-executes itself
 * once with OMP_WAIT_POLICY=PASSIVE (same pid, same arguments); if that fails it goes on. */
static void passive_wait(void) {
  if (!saved_argv || getenv("OMP_WAIT_POLICY")) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  fflush(stdout);
  fflush(stderr);
  execv("/proc/self/exe", saved_argv);
  execvp(saved_argv[0], saved_argv);
  unsetenv("OMP_WAIT_POLICY");
}

static int set_threads(int64_t n, int passive) {
  suri_status st = suri_set_threads((int)n);
  if (st) return cli_fail(st, "cannot use %lld threads", (long long)n);
  if (passive && suri_get_threads() > 1) passive_wait();
  return CLI_OK;
}

int cli_set_threads(int64_t n) { return set_threads(n, 1); }

int cli_set_threads_omp(int64_t n) { return set_threads(n, 0); }

suri_status cli_mkdirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return suri_fail(SURI_ERR_ARG, "bad directory name '%s'", path);
  memcpy(buf, path, n + 1);
  /* Create each prefix ending at a '/', then the whole path; EEXIST is fine if a directory. */
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    struct stat sb;
    if (stat(buf, &sb) != 0) {
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return suri_fail(SURI_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
      return suri_fail(SURI_ERR_IO, "%s exists and is not a directory", buf);
    }
    buf[i] = c;
  }
  return SURI_OK;
}

double cli_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *cli_fmt(char *buf, size_t n, double v) {
  if (isnan(v)) snprintf(buf, n, "nan");
  else snprintf(buf, n, "%.4g", v);
  return buf;
}

/* A model trained on standardised data stores the training mean/std: data is standardised with
 * those (its own standardisation, if any, is undone first). Scaled data (norm=scale) is in other
 * units than the statistics, which come from unscaled values, and is refused with a hint. */
int cli_apply_input_norm(const char *model, const char *data, const suri_model *m,
                         suri_dataset *d) {
  const double *mean, *sd;
  if (!suri_model_input_norm(m, &mean, &sd)) return CLI_OK;
  if (d->norm == SURI_DATA_NORM_SCALE)
    return cli_fail(SURI_OK, "model %s was trained on standardised inputs and standardises the "
                    "data with its training statistics, but '%s' is scaled by 1/255 "
                    "(norm=scale); add ',norm=none' to the data spec", model, data);
  suri_status st = suri_dataset_standardize(d, mean, sd);
  return st ? cli_fail(st, "cannot standardise '%s' with the statistics of %s", data, model)
            : CLI_OK;
}

const char *cli_fmt_bytes(char *buf, size_t n, double bytes) {
  if (bytes >= (double)(1ull << 30)) snprintf(buf, n, "%.2f GiB", bytes / (double)(1ull << 30));
  else if (bytes >= (double)(1ull << 20)) snprintf(buf, n, "%.1f MiB", bytes / (double)(1ull << 20));
  else if (bytes >= 1024) snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
  else snprintf(buf, n, "%.0f B", bytes);
  return buf;
}

int cli_write_json(const char *path, const cJSON *j) {
  char *text = j ? cJSON_Print(j) : NULL;
  if (!text) return cli_fail(SURI_ERR_NOMEM, "cannot format %s", path);
  /* cJSON indents with tabs and writes "key":<tab>value; tabs inside strings are escaped, so
   * every raw tab is layout: two spaces of indent, or one space after a colon. */
  size_t n = strlen(text), k = 0;
  char *buf = malloc(2 * n + 2);
  suri_status st = SURI_ERR_NOMEM;
  if (buf) {
    for (size_t i = 0; i < n; i++) {
      if (text[i] != '\t') buf[k++] = text[i];
      else if (i > 0 && text[i - 1] == ':') buf[k++] = ' ';
      else buf[k++] = ' ', buf[k++] = ' ';
    }
    buf[k++] = '\n';
    st = suri_write_file_atomic(path, buf, k);
  }
  free(buf);
  cJSON_free(text);
  return st ? cli_fail(st, "cannot write %s", path) : CLI_OK;
}

void cli_default_run_dir(char *out, size_t n) {
  char stamp[32];
  time_t t = time(NULL);
  struct tm tmv;
  localtime_r(&t, &tmv);
  strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv);
  struct stat sb;
  snprintf(out, n, "runs/%s", stamp);
  for (int k = 2; stat(out, &sb) == 0 && k < 1000; k++) snprintf(out, n, "runs/%s-%d", stamp, k);
}

int cli_json_get_str(const cJSON *j, const char *path, const char *key, char *dst, size_t n,
                     int nullable) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (nullable && (!v || cJSON_IsNull(v))) {
    dst[0] = '\0';
    return CLI_OK;
  }
  if (!cJSON_IsString(v) || !v->valuestring)
    return cli_fail(SURI_OK, "%s: key '%s' is missing or not a string", path, key);
  if (strlen(v->valuestring) >= n)
    return cli_fail(SURI_OK, "%s: value of '%s' is too long", path, key);
  snprintf(dst, n, "%s", v->valuestring);
  return CLI_OK;
}

void cli_json_add_created(struct cJSON *j) {
  char buf[64];
  time_t t = time(NULL);
  struct tm tmv;
  if (localtime_r(&t, &tmv) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tmv))
    cJSON_AddStringToObject(j, "created", buf);
}
