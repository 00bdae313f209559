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
#include "suri/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the trainer does when the loss, a gradient or a parameter becomes NaN or infinite.
 * Every step checks the loss, then the gradient block (before the update) and the parameter
 * and state blocks (after it): one vectorised pass each over the bit patterns (about 0.5 ms
 * per million parameters and pass on one core of the 2-core test machine, threaded for large
 * blocks; a few percent of a training step). The message names the step and the first
 * non-finite tensor (by its model file
 * name, e.g. "gradient of fc2.weight (NaN at element 17)"). */
typedef enum suri_nonfinite_policy {
  SURI_NONFINITE_STOP,    /* stop: SURI_ERR_NUMERIC; the last checkpoint on disk is kept as it
                             is and no model file is written (default). With plain SGD (lr >
                             0) the steps fold the weights' update into backward
                             (suri_model_train_step) and skip the gradient check: a
                             non-finite gradient is caught in its parameter after the update,
                             and the model in memory holds that update */
  SURI_NONFINITE_SKIP,    /* "skip-step": a non-finite loss or gradient skips that step's
                             update (the batch is dropped and not counted in the metrics);
                             after SURI_NONFINITE_MAX_SKIPS skips in a row, or a parameter that
                             became non-finite (an applied update cannot be undone), it stops */
  SURI_NONFINITE_RESTORE  /* "restore": reload parameters, state and optimizer state from
                             out_dir's checkpoint and continue with the next batch (the step
                             count and schedule go on); stops if there is no checkpoint yet, or
                             after SURI_NONFINITE_MAX_RESTORES restores without a new
                             checkpoint in between */
} suri_nonfinite_policy;
#define SURI_NONFINITE_MAX_SKIPS 100
#define SURI_NONFINITE_MAX_RESTORES 10

/* "stop", "skip-step", "restore" <-> the enum. parse: SURI_ERR_ARG listing the names. */
suri_status suri_nonfinite_parse(const char *name, suri_nonfinite_policy *out);
const char *suri_nonfinite_name(suri_nonfinite_policy p);

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
  suri_nonfinite_policy on_nonfinite; /* NaN/Inf handling (above)    (default STOP) */
} suri_train_config;

suri_train_config suri_train_defaults(void);

typedef enum suri_train_event_kind {
  SURI_EV_START,      /* before the first step (step = first step, total_steps set) */
  SURI_EV_STEP,       /* every step (for progress bars); metrics line every log_every */
  SURI_EV_EPOCH,      /* end of an epoch, with test metrics */
  SURI_EV_CHECKPOINT, /* a checkpoint was written to `path` */
  SURI_EV_DONE,       /* training finished; model written to `path` (if out_dir) */
  SURI_EV_NONFINITE   /* a step was skipped or the checkpoint restored (`message` says why) */
} suri_train_event_kind;

typedef struct suri_train_event {
  suri_train_event_kind kind;
  int64_t step, total_steps; /* step: number of steps completed */
  int64_t epoch, epochs;     /* epoch: 0-based index of the current / finished epoch */
  double loss, accuracy;     /* running means over the current epoch (accuracy NaN for mse) */
  double lr, seconds, samples_per_s;
  double test_loss, test_accuracy; /* NaN when not evaluated */
  const char *path;
  const char *message;       /* SURI_EV_NONFINITE: what was non-finite and what was done */
} suri_train_event;

/* Returning non-zero from the callback stops training like `stop` does. */
typedef int (*suri_train_callback)(const suri_train_event *ev, void *user);

typedef struct suri_train_summary {
  int64_t steps;
  double final_loss, final_accuracy; /* last epoch's running train metrics */
  double test_loss, test_accuracy;   /* NaN if no test set */
  double seconds, samples_per_s;
  int64_t resumed_from;              /* step the run resumed from (0 if fresh) */
  int64_t skipped_steps, restores;   /* non-finite steps handled by on_nonfinite */
} suri_train_summary;

/* Trains `m` (already initialised, or loaded) on `train`, evaluating on `test` (may be NULL)
 * after each epoch. Errors: SURI_ERR_ARG for a bad config or data that does not fit the model
 * (message names the option), SURI_ERR_NUMERIC when the loss, a gradient or a parameter
 * becomes NaN/Inf and on_nonfinite does not handle it (message names the step and the tensor),
 * SURI_ERR_IO for files, SURI_ERR_INTERRUPTED when stopped (after checkpointing). */
suri_status suri_train_run(suri_model *m, const suri_dataset *train, const suri_dataset *test,
                           const suri_train_config *cfg, suri_train_callback cb, void *user,
                           suri_train_summary *out);

/* One training step on the model's current batch (suri_model_set_batch first): forward, the
 * loss into *loss, backward and the update of `o` with learning rate lr (SURI_LR_DEFAULT: the
 * optimizer's own). The same as suri_model_loss_grad followed by suri_optim_step, except:
 * - a step whose loss is NaN or infinite changes no parameter and no optimizer state (*loss
 *   says so, the status is SURI_OK; check it); its forward pass has run in training mode, so
 *   batch-norm running statistics have moved as in any training forward;
 * - for plain SGD (kind sgd or momentum with momentum 0, weight_decay 0) and lr > 0 the update
 *   of every dense weight is folded into backward (suri_graph_set_sgd_fold): the result differs from
 *   the two calls by rounding only, and the gradient block is not written for those weights
 *   (it holds the other parameters' gradients of this step).
 * Errors: SURI_ERR_ARG for NULL arguments, an optimizer of another size, a bad lr; what the
 * passes return. Never allocates. */
suri_status suri_model_train_step(suri_model *m, suri_optim *o, double lr, double *loss);
/* 1 if suri_model_train_step folds the update of `o` with learning rate lr (SURI_LR_DEFAULT:
 * the optimizer's own) into backward: plain SGD and lr > 0, else 0. (With lr = 0 a BLAS may
 * skip the product, so a folded step might not turn a non-finite gradient into a non-finite
 * weight; such a step takes the two calls.) */
int suri_train_step_folds(const suri_optim *o, double lr);

/* Checks that a data set fits a model (input width, classes vs outputs, targets). */
suri_status suri_train_check_data(const suri_model *m, const suri_dataset *d, const char *what);

/* ---- memory ------------------------------------------------------------------------------- */
/* Peak memory of a training run, estimated from the spec before anything is allocated, in
 * bytes (doubles: no overflow whatever the spec). It counts what suri allocates: the
 * parameter, gradient and state blocks, the optimizer's state arrays, the graph's buffers for
 * the maximum batch (value, tangent and gradient of every node, op scratch), the trainer's
 * batch buffers and epoch order, the data sets as they are held (either may be NULL), and the
 * transient copy of the tensors that writing a checkpoint (or reading one to resume) makes.
 * It is an upper estimate of what suri allocates (tests/test_train_guard.c checks it against
 * suri_graph_bytes and the blocks), plus an allowance for the code and the BLAS buffers. */
typedef struct suri_train_memory {
  double params; /* parameters + gradients + state */
  double optim;  /* optimizer state */
  double graph;  /* graph buffers */
  double batch;  /* batch buffers, epoch order */
  double data;   /* data sets */
  double io;     /* the copy of every tensor a checkpoint write (or a resume's read) holds */
  double runtime;/* code, libraries, and BLAS work buffers: 16 MiB + 32 MiB a thread
                    (OpenBLAS's per-thread buffer) for suri_get_threads() threads */
  double total;
} suri_train_memory;
suri_status suri_train_memory_estimate(const suri_model_spec *spec, const suri_train_config *c,
                                       const suri_dataset *train, const suri_dataset *test,
                                       suri_train_memory *out);
/* Memory this process can still use, in bytes: the kernel's MemAvailable (/proc/meminfo),
 * lowered to what a cgroup limit leaves (cgroup v2 memory.max - memory.current, or v1's
 * limit_in_bytes - usage_in_bytes) when one is set; the physical memory (sysconf) where
 * /proc is missing; 0 if nothing is known. */
double suri_memory_available(void);
/* SURI_OK if m->total <= limit; else SURI_ERR_NOMEM with the estimate and its parts, and
 * `limit_what` (e.g. "--memory 2G", "the machine's physical memory") in the message. */
suri_status suri_train_memory_check(const suri_train_memory *m, double limit,
                                    const char *limit_what);
/* Parses a memory size: a number with an optional unit K, M, G, T (powers of 1024; also KB,
 * MB, GB, TB, KiB, MiB, GiB, TiB, and B for bytes), e.g. "512M", "1.5G", "4096". SURI_ERR_ARG
 * for anything else or a size below 1 MiB. */
suri_status suri_parse_memory(const char *text, double *bytes);

#ifdef __cplusplus
}
#endif
#endif
