/* suri/optim.h - first-order optimizers over flat arrays (SGD, momentum, Nesterov, Adam, AdamW,
 * AMSGrad), a small optimizer object that owns their state, and learning-rate schedules.
 *
 * Usage (a training loop with a cosine schedule and linear warm-up):
 *   suri_optim_hp hp = suri_optim_defaults(SURI_OPTIM_ADAMW);
 *   hp.lr = 3e-3;
 *   suri_optim *opt = suri_optim_new(SURI_OPTIM_ADAMW, n_params, &hp);
 *   if (!opt) fprintf(stderr, "error: %s\n", suri_last_error());
 *   suri_schedule sched;
 *   if (suri_schedule_parse("cosine,warmup=100", hp.lr, total, &sched) != SURI_OK) ...
 *   for (int64_t s = 0; s < total; s++) {
 *     ... forward/backward into grads ...
 *     suri_optim_step(opt, params, grads, suri_schedule_lr(&sched, s));
 *   }
 *   suri_optim_free(opt);
 *
 * The step functions follow torch.optim (PyTorch 1.13, single-tensor path) exactly: same update
 * order, same first-step rule for the momentum buffer, same bias corrections and eps
 * placement, so a trajectory agrees with torch's up to floating-point rounding. Element-wise
 * arithmetic runs in suri_real; scalar coefficients (bias corrections, step sizes) in double.
 * Every element is updated independently, so results do not depend on the thread count.
 */
#ifndef SURI_OPTIM_H
#define SURI_OPTIM_H

#include "suri/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- SGD (torch.optim.SGD) ---------------------------------------------------------------- */
/* With d = g + weight_decay * p:
 *   momentum == 0:  p -= lr * d
 *   otherwise:      buf = d                                  on the first step (t == 1)
 *                   buf = momentum * buf + (1 - dampening) * d   afterwards
 *                   p -= lr * (nesterov ? d + momentum * buf : buf)
 * Constraints (checked by suri_sgd_check): lr, momentum, weight_decay >= 0 and finite,
 * dampening finite, nesterov needs momentum > 0 and dampening == 0 (as torch). */
typedef struct suri_sgd_hp {
  double lr;           /* 0.01 */
  double momentum;     /* 0 */
  double dampening;    /* 0 */
  double weight_decay; /* 0 (L2 penalty added to the gradient) */
  int nesterov;        /* 0 */
} suri_sgd_hp;

suri_sgd_hp suri_sgd_defaults(void);
/* SURI_ERR_ARG naming the bad field if hp violates the constraints above. */
suri_status suri_sgd_check(const suri_sgd_hp *hp);

/* One SGD step, t = 1, 2, ... counting steps taken with this buffer (t == 1 initialises it).
 * p: (n) parameters, updated in place; g: (n) gradient; buf: (n) momentum buffer (may be NULL
 * when hp->momentum == 0; its contents before the first step are ignored).
 * hp must pass suri_sgd_check. Never allocates. */
void suri_sgd_step(size_t n, suri_real *p, const suri_real *g, suri_real *buf,
                   const suri_sgd_hp *hp, int64_t t);

/* ---- Adam / AdamW / AMSGrad (torch.optim.Adam, torch.optim.AdamW) ------------------------- */
/* At step t (t = 1, 2, ...), with bc1 = 1 - beta1^t, bc2 = 1 - beta2^t (in double):
 *   decoupled (AdamW):  p *= 1 - lr * weight_decay;   d = g
 *   otherwise (Adam):   d = g + weight_decay * p
 *   m = beta1 * m + (1 - beta1) * d
 *   v = beta2 * v + (1 - beta2) * d * d
 *   amsgrad:            vmax = max(vmax, v), and vmax replaces v below
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * Kingma & Ba 2015 (Adam), Loshchilov & Hutter 2019 (AdamW), Reddi et al. 2018 (AMSGrad).
 * Constraints (suri_adam_check): lr, eps, weight_decay >= 0 and finite, 0 <= beta1, beta2 < 1. */
typedef struct suri_adam_hp {
  double lr;           /* 1e-3 */
  double beta1;        /* 0.9 */
  double beta2;        /* 0.999 */
  double eps;          /* 1e-8 */
  double weight_decay; /* Adam: 0; AdamW: 0.01 (torch's defaults) */
  int decoupled;       /* 0: L2 added to the gradient (Adam); 1: decoupled decay (AdamW) */
  int amsgrad;         /* 0 */
} suri_adam_hp;

suri_adam_hp suri_adam_defaults(void);
suri_adam_hp suri_adamw_defaults(void);
suri_status suri_adam_check(const suri_adam_hp *hp);

/* One Adam step. p: (n) updated in place; g: (n); m, v: (n) first and second moments (zero
 * before the first step); vmax: (n) running maximum of v (zero before the first step),
 * required when hp->amsgrad, else ignored (may be NULL). t >= 1 is the number of this step
 * (the bias corrections use it). hp must pass suri_adam_check. Never allocates. */
void suri_adam_step(size_t n, suri_real *p, const suri_real *g, suri_real *m, suri_real *v,
                    suri_real *vmax, const suri_adam_hp *hp, int64_t t);

/* ---- optimizer object --------------------------------------------------------------------- */
typedef enum suri_optim_kind {
  SURI_OPTIM_SGD,      /* plain SGD (momentum 0 unless set) */
  SURI_OPTIM_MOMENTUM, /* SGD with momentum (heavy ball, or Nesterov with nesterov = 1) */
  SURI_OPTIM_ADAM,     /* Adam, L2 weight decay in the gradient */
  SURI_OPTIM_ADAMW,    /* Adam with decoupled weight decay */
  SURI_OPTIM_KIND_COUNT
} suri_optim_kind;

/* The accepted names, for usage texts. */
#define SURI_OPTIM_NAMES "sgd, momentum, adam, adamw"

/* "sgd", "momentum", "adam", "adamw"; SURI_ERR_ARG naming the valid names otherwise. */
suri_status suri_optim_kind_parse(const char *name, suri_optim_kind *out);
/* The name of a kind ("?" if out of range). Borrowed static string. */
const char *suri_optim_kind_name(suri_optim_kind kind);

/* The union of the hyper-parameters; each kind reads its own fields. */
typedef struct suri_optim_hp {
  double lr;           /* all kinds */
  double weight_decay; /* all kinds: L2 in the gradient, decoupled for adamw */
  double momentum;     /* sgd, momentum */
  double dampening;    /* sgd, momentum */
  int nesterov;        /* sgd, momentum */
  double beta1, beta2; /* adam, adamw */
  double eps;          /* adam, adamw */
  int amsgrad;         /* adam, adamw */
} suri_optim_hp;

/* Defaults per kind: sgd: lr 0.01, momentum 0; momentum: lr 0.01, momentum 0.9; adam: lr 1e-3,
 * betas (0.9, 0.999), eps 1e-8, weight_decay 0; adamw: same with weight_decay 0.01. Every other
 * field 0. An out-of-range kind gives the sgd defaults. */
suri_optim_hp suri_optim_defaults(suri_optim_kind kind);

/* SURI_OK, or SURI_ERR_ARG naming the bad field (what suri_optim_new checks; lets a caller
 * get the status instead of a NULL object). */
suri_status suri_optim_check(suri_optim_kind kind, const suri_optim_hp *hp);

typedef struct suri_optim suri_optim;

/* An optimizer for n parameters (hp NULL: the kind's defaults). Allocates all state up front,
 * zero-filled, step count 0. Returns NULL with suri_last_error() set when hp is invalid
 * (SURI_ERR_ARG: names the field; "momentum" kind also needs momentum > 0) or memory runs out. */
suri_optim *suri_optim_new(suri_optim_kind kind, size_t n, const suri_optim_hp *hp);
void suri_optim_free(suri_optim *o);

/* Passed as lr to suri_optim_step: use the hyper-parameter lr. */
#define SURI_LR_DEFAULT (-1.0)

/* One step: p: (n) updated in place from g: (n). lr >= 0 overrides hp.lr for this step (a
 * schedule's value; AdamW's decay uses it too, as in torch); SURI_LR_DEFAULT uses hp.lr.
 * SURI_ERR_ARG for NULL arrays or a negative/non-finite lr (nothing is changed then).
 * Never allocates. */
suri_status suri_optim_step(suri_optim *o, suri_real *p, const suri_real *g, double lr);

/* Steps taken so far (what torch keeps as state["step"]). */
int64_t suri_optim_steps(const suri_optim *o);
/* Restores the step count from a checkpoint (>= 0; with 0 the next step re-initialises the
 * momentum buffer as a first step does). */
void suri_optim_set_steps(suri_optim *o, int64_t steps);
/* Zeroes all state and the step count. */
void suri_optim_reset(suri_optim *o);

suri_optim_kind suri_optim_get_kind(const suri_optim *o);
size_t suri_optim_size(const suri_optim *o);
/* Borrowed; valid until suri_optim_free. */
const suri_optim_hp *suri_optim_get_hp(const suri_optim *o);

/* State arrays for checkpoints, each (n) elements, named as torch's state_dict keys:
 * sgd/momentum with momentum > 0: "momentum_buffer"; sgd with momentum 0: none;
 * adam/adamw: "exp_avg", "exp_avg_sq", and "max_exp_avg_sq" with amsgrad.
 * suri_optim_state returns the i-th array (0 <= i < count) and its name (if name != NULL), or
 * NULL when i is out of range. The pointers are borrowed (owned by o) and writable: copy into
 * them to restore a checkpoint, together with suri_optim_set_steps. */
int suri_optim_state_count(const suri_optim *o);
suri_real *suri_optim_state(suri_optim *o, int i, const char **name);
/* The state array with this name, or NULL. */
suri_real *suri_optim_state_find(suri_optim *o, const char *name);

/* ---- learning-rate schedules -------------------------------------------------------------- */
typedef enum suri_schedule_kind {
  SURI_SCHEDULE_CONSTANT, /* base_lr */
  SURI_SCHEDULE_STEP,     /* base_lr * gamma^floor(s / step_size)            (torch StepLR) */
  SURI_SCHEDULE_COSINE,   /* min + (base - min)(1 + cos(pi s / T)) / 2 (torch CosineAnnealingLR) */
  SURI_SCHEDULE_LINEAR    /* base_lr * (1 - s / T), decaying to 0             (torch LinearLR) */
} suri_schedule_kind;

/* s counts steps after the warm-up and T = total_steps - warmup_steps. During the warm-up
 * (step < warmup_steps) the rate is base_lr * (step + 1) / warmup_steps (torch LinearLR with
 * start_factor 1/N, total_iters N - 1). Past the end (s >= T) cosine stays at min_lr and linear
 * at 0 (torch's cosine would climb again). */
typedef struct suri_schedule {
  suri_schedule_kind kind;
  double base_lr;
  int64_t total_steps;  /* cosine, linear: > warmup_steps; others: unused (may be 0) */
  int64_t step_size;    /* step: >= 1 */
  double gamma;         /* step: > 0 */
  double min_lr;        /* cosine: 0 <= min_lr <= base_lr */
  int64_t warmup_steps; /* >= 0 */
} suri_schedule;

/* Grammar of the spec strings, for usage texts. */
#define SURI_SCHEDULE_SYNTAX \
  "constant | step:STEP_SIZE:GAMMA | cosine[:MIN_LR] | linear, optionally followed by ,warmup=N"

/* A constant schedule at base_lr without warm-up. */
suri_schedule suri_schedule_constant(double base_lr);

/* Parses SURI_SCHEDULE_SYNTAX, e.g. "step:1000:0.1", "cosine:1e-5,warmup=500", "linear".
 * base_lr >= 0; total_steps is the length of the run (needed by cosine and linear).
 * SURI_ERR_ARG with a message naming the bad part. *out is written only on success. */
suri_status suri_schedule_parse(const char *spec, double base_lr, int64_t total_steps,
                                suri_schedule *out);

/* Learning rate for the 0-based step about to be taken (step < 0 counts as 0). */
double suri_schedule_lr(const suri_schedule *s, int64_t step);

/* Human-readable description for help and logs, e.g. "cosine from 0.1 to 0 over 900 steps
 * after 100 warm-up steps". Writes at most n bytes (truncating) and returns buf. */
const char *suri_schedule_describe(const suri_schedule *s, char *buf, size_t n);
/* The spec string that suri_schedule_parse turns back into s (base_lr and total_steps are
 * passed separately), e.g. "cosine:1e-05,warmup=500". Returns buf. */
const char *suri_schedule_format(const suri_schedule *s, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
