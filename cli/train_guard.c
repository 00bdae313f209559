/* train_guard.c - the guards of `suri train` against runs that cannot end well: --memory and
 * the up-front memory check (the library's estimate, suri_train_memory_estimate, against
 * --memory or the machine's physical memory, before the model is allocated), and the
 * --on-nonfinite policy flag (what the trainer does when a NaN or Inf appears). */
#include <string.h>

#include "train_cli.h"

int train_parse_guard(const char *flag, const char *value, train_opts *o) {
  suri_status st;
  if (strcmp(flag, "--on-nonfinite") == 0) {
    suri_nonfinite_policy p;
    if ((st = suri_nonfinite_parse(value, &p)))
      return cli_usage_error("train", "invalid value '%s' for --on-nonfinite: %s", value,
                             suri_last_error());
    o->on_nonfinite = (int)p;
    return CLI_OK;
  }
  if ((st = suri_parse_memory(value, &o->memory)))
    return cli_usage_error("train", "invalid value '%s' for %s: %s", value, flag,
                           suri_last_error());
  return CLI_OK;
}

int train_check_memory(const train_opts *o, const suri_model_spec *spec,
                       const suri_dataset *train, const suri_dataset *test) {
  suri_train_config c = suri_train_defaults();
  c.optim = o->optim;
  c.momentum = o->momentum;
  c.batch = o->batch;
  suri_train_memory m;
  suri_status st = suri_train_memory_estimate(spec, &c, train, test, &m);
  if (st) return cli_fail(st, "cannot estimate the memory of model '%s'", o->model);
  char what[64];
  double limit = o->memory;
  if (limit > 0) {
    snprintf(what, sizeof what, "the --memory limit");
  } else {
    limit = suri_memory_available();
    snprintf(what, sizeof what, "the memory available on this machine");
    if (limit <= 0) return CLI_OK; /* unknown: nothing to compare with */
  }
  st = suri_train_memory_check(&m, limit, what);
  if (!st && o->lr_auto > 0) { /* the Lanczos run of --lr auto, before the steps */
    double op, basis = cli_curv_bytes(spec, o->batch, LR_AUTO_VECTORS, &op);
    double peak = m.total - m.io + op + basis;
    if (peak <= limit) return CLI_OK;
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    fprintf(stderr, "suri: error: --lr auto's lambda_max estimate for model '%s' would need "
            "about %s (the training run %s, Gauss-Newton work vectors %s, Lanczos basis %s), "
            "more than %s (%s)\nhint: give --lr X, or choose a smaller --model\n", o->model,
            cli_fmt_bytes(b1, sizeof b1, peak), cli_fmt_bytes(b2, sizeof b2, m.total - m.io),
            cli_fmt_bytes(b3, sizeof b3, op), cli_fmt_bytes(b4, sizeof b4, basis), what,
            cli_fmt_bytes(b5, sizeof b5, limit));
    return CLI_FAIL;
  }
  if (!st) return CLI_OK;
  cli_fail(st, "model '%s' with batch %lld does not fit in memory", o->model, (long long)o->batch);
  fprintf(stderr, "hint: choose a smaller --model or --batch%s\n",
          o->memory > 0 ? ", or raise --memory" : "");
  return CLI_FAIL;
}
