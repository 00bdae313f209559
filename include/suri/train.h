/* suri/train.h - the training loop: shuffled minibatches, optimizer and schedule, periodic
 * evaluation, JSON-lines metrics, checkpoints and exact resume.
 *
 * Usage:
 *   suri_train_config c = suri_train_defaults();
 *   c.optim = "adam"; c.lr = 1e-3; c.epochs = 5; c.out_dir = "runs/a";
 *   suri_train_summary sum;
 *   st = suri_train_run(model, train, test, &c, on_event, NULL, &sum);
 *
 * Files in out_dir (created if missing): metrics.jsonl (one JSON object per logged step and
 * per epoch: {"kind","step","epoch","loss","accuracy","lr","seconds","samples_per_s",
 * "test_loss","test_accuracy"}), model.safetensors (final model), checkpoint.safetensors
 * (every checkpoint_every steps, at the end of training and on interruption). All written
 * atomically. The library never prints: progress comes through the callback.
 *
 * Determinism: for a fixed seed and thread count the final model is bitwise reproducible, and a
 * run resumed from any checkpoint ends bitwise identical to an uninterrupted one: the batch
 * order depends only on (seed, epoch), and the checkpoint holds parameters, batch-norm state,
 * optimizer state, the step and the dropout counter.
 */
#ifndef SURI_TRAIN_H
#define SURI_TRAIN_H

#include "suri/data.h"
#include "suri/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct suri_train_config {
  const char *optim;        /* "sgd" | "momentum" | "adam" | "adamw"          (default "sgd") */
  double lr;                /* base learning rate                              (default 0.1) */
  double momentum;          /* momentum/sgd: <0 = optimizer default (0.9 / 0)   (default -1) */
  int nesterov;             /* momentum: Nesterov                              (default 0) */
  double beta1, beta2, eps; /* adam/adamw                           (0.9, 0.999, 1e-8) */
  double weight_decay;      /* <0 = optimizer default (0; adamw 0.01)          (default -1) */
  const char *schedule;     /* schedule spec (see optim.h)              (default "constant") */
  int64_t batch;            /* minibatch size                                  (default 128) */
  int64_t epochs;           /* epochs, used when steps == 0                    (default 10) */
  int64_t steps;            /* total steps; 0 = epochs x steps per epoch       (default 0) */
  int drop_last;            /* drop the last partial batch of an epoch         (default 0) */
  uint64_t seed;            /* batch order and dropout                         (default 1) */
  const char *out_dir;      /* NULL = write nothing                            (default NULL) */
  int resume;               /* 1 = continue from out_dir/checkpoint.safetensors (default 0) */
  int64_t checkpoint_every; /* steps between checkpoints, 0 = end only         (default 0) */
  int64_t log_every;        /* steps between step records, 0 = epochs only     (default 50) */
  int eval_train;           /* also evaluate the full train set each epoch     (default 0) */
  volatile const int *stop; /* set asynchronously (signal): checkpoint, SURI_ERR_INTERRUPTED */
} suri_train_config;

suri_train_config suri_train_defaults(void);

typedef enum suri_train_event_kind {
  SURI_EV_START,      /* before the first step (step = first step, total_steps set) */
  SURI_EV_STEP,       /* every step (for progress bars); metrics line every log_every */
  SURI_EV_EPOCH,      /* end of an epoch, with test metrics */
  SURI_EV_CHECKPOINT, /* a checkpoint was written to `path` */
  SURI_EV_DONE        /* training finished; model written to `path` (if out_dir) */
} suri_train_event_kind;

typedef struct suri_train_event {
  suri_train_event_kind kind;
  int64_t step, total_steps; /* step: number of steps completed */
  int64_t epoch, epochs;     /* epoch: 0-based index of the current / finished epoch */
  double loss, accuracy;     /* running means over the current epoch (accuracy NaN for mse) */
  double lr, seconds, samples_per_s;
  double test_loss, test_accuracy; /* NaN when not evaluated */
  const char *path;
} suri_train_event;

/* Returning non-zero from the callback stops training like `stop` does. */
typedef int (*suri_train_callback)(const suri_train_event *ev, void *user);

typedef struct suri_train_summary {
  int64_t steps;
  double final_loss, final_accuracy; /* last epoch's running train metrics */
  double test_loss, test_accuracy;   /* NaN if no test set */
  double seconds, samples_per_s;
  int64_t resumed_from;              /* step the run resumed from (0 if fresh) */
} suri_train_summary;

/* Trains `m` (already initialised, or loaded) on `train`, evaluating on `test` (may be NULL)
 * after each epoch. Errors: SURI_ERR_ARG for a bad config or data that does not fit the model
 * (message names the option), SURI_ERR_NUMERIC when the loss becomes NaN/Inf (message names
 * the step), SURI_ERR_IO for files, SURI_ERR_INTERRUPTED when stopped (after checkpointing). */
suri_status suri_train_run(suri_model *m, const suri_dataset *train, const suri_dataset *test,
                           const suri_train_config *cfg, suri_train_callback cb, void *user,
                           suri_train_summary *out);

/* Checks that a data set fits a model (input width, classes vs outputs, targets). */
suri_status suri_train_check_data(const suri_model *m, const suri_dataset *d, const char *what);

#ifdef __cplusplus
}
#endif
#endif
