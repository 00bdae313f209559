/* metrics.c - one JSON object per line (JSON Lines) for each logged step and epoch, flushed
 * at once so that a reader (or a crash) sees every completed record. NaN is written as null. */
#include <math.h>
#include <stdio.h>

#include "train_internal.h"

static void num(FILE *f, const char *key, double v, int last) {
  if (isfinite(v)) fprintf(f, "\"%s\":%.9g%s", key, v, last ? "" : ",");
  else fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
}

void suri_metrics_write(FILE *f, const suri_train_event *ev) {
  fprintf(f, "{\"kind\":\"%s\",\"step\":%lld,\"epoch\":%lld,",
          ev->kind == SURI_EV_EPOCH ? "epoch" : "step", (long long)ev->step,
          (long long)ev->epoch + 1);
  num(f, "loss", ev->loss, 0);
  num(f, "accuracy", ev->accuracy, 0);
  num(f, "lr", ev->lr, 0);
  num(f, "seconds", ev->seconds, 0);
  num(f, "samples_per_s", ev->samples_per_s, 0);
  num(f, "test_loss", ev->test_loss, 0);
  num(f, "test_accuracy", ev->test_accuracy, 1);
  fputs("}\n", f);
  fflush(f);
}
