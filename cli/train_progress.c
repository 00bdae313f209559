/* train_progress.c - what `suri train` shows while it runs, and its signal handling.
 * On a terminal (stderr is a tty) one progress line is redrawn in place with \r at most ten
 * times a second: epoch, step/total, running loss and accuracy, samples/s, ETA (remaining steps
 * times the mean time per step so far). Elsewhere (logs, pipes) one plain line per epoch.
 * SIGINT/SIGTERM only set a flag that the trainer polls after every step; it then checkpoints
 * and returns SURI_ERR_INTERRUPTED. SA_RESETHAND makes a second signal act as usual. */
#include <math.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "train_cli.h"

static volatile int stop_flag;
static volatile int caught_signal;

static void on_signal(int sig) {
  caught_signal = sig;
  stop_flag = 1;
}

void train_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

volatile const int *train_stop_flag(void) { return &stop_flag; }

int train_signal_caught(void) { return caught_signal; }

void train_progress_init(train_progress *p, int quiet) {
  memset(p, 0, sizeof *p);
  p->quiet = quiet;
  p->tty = isatty(STDERR_FILENO);
  p->t0 = cli_now();
}

void train_progress_clear(train_progress *p) {
  if (p->drawn) fputs("\r\033[K", stderr);
  p->drawn = 0;
}

/* "1:02:03" or "2:03". */
static void fmt_duration(char *buf, size_t n, double s) {
  if (!isfinite(s) || s < 0) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void fmt_acc(char *buf, size_t n, double a) {
  if (isnan(a)) snprintf(buf, n, "-");
  else snprintf(buf, n, "%.2f%%", 100.0 * a);
}

static void draw_bar(train_progress *p, const suri_train_event *ev) {
  double now = cli_now();
  if (ev->step != ev->total_steps && now - p->last_draw < 0.1) return;
  p->last_draw = now;
  double per_step = (now - p->t0) / (double)(ev->step - p->start_step);
  char eta[32], acc[32];
  fmt_duration(eta, sizeof eta, per_step * (double)(ev->total_steps - ev->step));
  fmt_acc(acc, sizeof acc, ev->accuracy);
  fprintf(stderr, "\r\033[Kepoch %lld/%lld  step %lld/%lld  loss %.4f  acc %s  %.0f samples/s  "
          "ETA %s", (long long)ev->epoch + 1, (long long)ev->epochs, (long long)ev->step,
          (long long)ev->total_steps, ev->loss, acc, ev->samples_per_s, eta);
  fflush(stderr);
  p->drawn = 1;
}

static void epoch_line(train_progress *p, const suri_train_event *ev) {
  char acc[32], tacc[32], el[32];
  fmt_acc(acc, sizeof acc, ev->accuracy);
  fmt_acc(tacc, sizeof tacc, ev->test_accuracy);
  fmt_duration(el, sizeof el, ev->seconds);
  train_progress_clear(p);
  fprintf(stderr, "epoch %lld/%lld  step %lld/%lld  loss %.4f  acc %s", (long long)ev->epoch + 1,
          (long long)ev->epochs, (long long)ev->step, (long long)ev->total_steps, ev->loss, acc);
  if (!isnan(ev->test_loss)) fprintf(stderr, "  test_loss %.4f  test_acc %s", ev->test_loss, tacc);
  fprintf(stderr, "  %.0f samples/s  %s elapsed\n", ev->samples_per_s, el);
  fflush(stderr);
}

int train_progress_cb(const suri_train_event *ev, void *user) {
  train_progress *p = user;
  p->total_steps = ev->total_steps;
  p->epochs = ev->epochs;
  switch (ev->kind) {
  case SURI_EV_START:
    p->started = 1;
    p->start_step = p->last_step = ev->step;
    p->t0 = cli_now();
    break;
  case SURI_EV_STEP:
    p->last_step = ev->step;
    if (!p->quiet && p->tty && ev->step > p->start_step) draw_bar(p, ev);
    break;
  case SURI_EV_EPOCH:
    if (!p->quiet) epoch_line(p, ev);
    break;
  case SURI_EV_CHECKPOINT:
    if (ev->path) snprintf(p->checkpoint, sizeof p->checkpoint, "%s", ev->path);
    break;
  case SURI_EV_DONE:
    train_progress_clear(p);
    if (ev->path) snprintf(p->model, sizeof p->model, "%s", ev->path);
    break;
  case SURI_EV_NONFINITE: /* a skipped step or a restore: shown even with --quiet, the first
                            ten of them (the final result line gives the count) */
    train_progress_clear(p);
    if (++p->nonfinite <= 10)
      fprintf(stderr, "suri: warning: %s\n", ev->message ? ev->message : "non-finite step");
    if (p->nonfinite == 10)
      fprintf(stderr, "suri: warning: further non-finite steps are not shown\n");
    break;
  }
  return 0;
}
