/* suri/mfld.h - two-layer mean-field networks as particle systems, trained by mean-field
 * Langevin dynamics (MFLD), particle dual averaging (PDA) or particle stochastic dual
 * coordinate ascent (P-SDCA). Specifications: docs/algorithms/mfld.md and pda_psdca.md; user
 * guide with the math, defaults and measurements: docs/mfld.md.
 *
 * The network and the objective (notation of mfld.md):
 *   f(x) = (1/M) sum_j h(theta_j, x),   h(theta, x) = alpha(a) act(w . x + b)
 *   theta_j = (w_j, [b_j], [a_j]) in R^p,  alpha(a) = a (head LEARN) | R tanh(a) (BOUNDED)
 *            | +-1 fixed (FIXED_PM1, a not a particle coordinate) | 1 fixed (FIXED_ONE)
 *   F(q) = (1/n) sum_i l(f(x_i), y_i) + lambda1 E_q ||theta||^2,   L(q) = F(q) + lambda2 Ent(q)
 * with the L2 penalty lambda1 ||theta||^2 (gradient 2 lambda1 theta: no factor 1/2) and the
 * entropy weight lambda2. Loss squared (z - y)^2 / 2 or logistic log(1 + exp(-y z)), y = +-1.
 *
 * The MFLD step (Euler-Maruyama, first-variation units):
 *   theta_j <- theta_j - eta [ (1/|I|) sum_{i in I} l'(f(x_i), y_i) grad_theta h(theta_j, x_i)
 *                              + 2 lambda1 theta_j ]  +  sqrt(2 eta lambda2) xi_j,  xi ~ N(0, I_p)
 * THE NOISE IS sqrt(2 eta lambda2) PER COORDINATE, NOT SCALED BY M. Equivalently: plain noisy
 * gradient descent on the raw parameters of the M-neuron network (whose raw risk gradient is
 * 1/M of the drift above) with learning rate eta * M on the data term, eta on the decay term
 * and noise std sqrt(2 eta lambda2). Public code that scales the noise by M, by 1/M, or drops
 * the eta inside the square root samples a different temperature.
 *
 * Storage: the particles are one (M, p) row-major matrix of suri_real with row stride ld >= p
 * (suri_mfld_theta), row j = (w_j[0..d), b_j if bias, a_j if the head is LEARN or BOUNDED), so
 * one step is one GEMM X W^T (B x M pre-activations), one element-wise pass, one GEMM D^T X
 * (the w drift, accumulated straight into the particles), and one pass adding decay and noise.
 *
 * Determinism: noise, initialisation, minibatch order and resampling come from Philox streams
 * (seed, purpose) addressed by counters derived from (step, particle, coordinate), and every
 * reduction over data rows or particles runs over fixed blocks in a fixed order, so for a given
 * seed the particles are bitwise identical for any thread count (suri_set_threads). OpenBLAS's
 * own threading is not bitwise stable across thread counts, so the step runs its GEMMs as
 * fixed blocks of particles in an OpenMP loop with OpenBLAS switched to one thread for their
 * duration (restored afterwards): do not call BLAS from other threads concurrently.
 *
 * Usage:
 *   suri_mfld_config c = suri_mfld_defaults();
 *   c.M = 2000; c.loss = SURI_MFLD_LOSS_LOGISTIC; c.estimator = SURI_MFLD_MINIBATCH;
 *   suri_mfld *m = NULL;
 *   if (suri_mfld_new(&c, train->dim, &m) != SURI_OK ||
 *       suri_mfld_run(m, train, test, on_event, NULL, &summary) != SURI_OK)
 *     fprintf(stderr, "error: %s\n", suri_last_error());
 *   suri_mfld_save(m, "particles.safetensors", 0, NULL, NULL);
 *   suri_mfld_free(m);
 *
 * Errors: SURI_ERR_ARG (bad configuration field or data that does not fit: the message names
 * the field or data set), SURI_ERR_NOMEM, SURI_ERR_NUMERIC (NaN/Inf particles or objective:
 * the message names the step; lower eta), SURI_ERR_INTERRUPTED (stopped by `stop` or by the
 * callback), SURI_ERR_IO / SURI_ERR_FORMAT (files). */
#ifndef SURI_MFLD_H
#define SURI_MFLD_H

#include "suri/data.h"
#include "suri/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum suri_mfld_method {
  SURI_MFLD_METHOD_MFLD,  /* mean-field Langevin dynamics (mfld.md) */
  SURI_MFLD_METHOD_PDA,   /* particle dual averaging (pda_psdca.md section 1) */
  SURI_MFLD_METHOD_PSDCA  /* particle SDCA (pda_psdca.md section 2) */
} suri_mfld_method;

typedef enum suri_mfld_head {
  SURI_MFLD_HEAD_LEARN,     /* alpha = a, a a particle coordinate                 p = d + b + 1 */
  SURI_MFLD_HEAD_BOUNDED,   /* alpha = R tanh(a) (|h| <= R for bounded act, as the theory asks) */
  SURI_MFLD_HEAD_FIXED_PM1, /* alpha_j = +1 (j even), -1 (j odd), frozen           p = d + b */
  SURI_MFLD_HEAD_FIXED_ONE  /* alpha_j = 1 frozen; with act=identity, h = w.x: the linear
                               model of the closed-form checks */
} suri_mfld_head;

typedef enum suri_mfld_loss {
  SURI_MFLD_LOSS_SQUARED,  /* l = (z - y)^2 / 2, l' = z - y,  l*(g) = g^2/2 + g y */
  SURI_MFLD_LOSS_LOGISTIC  /* l = log(1 + e^{-y z}), y = +-1; l*(g) = s log s + (1-s) log(1-s),
                              s = -y g in [0, 1] (+inf outside) */
} suri_mfld_loss;

typedef enum suri_mfld_estimator {
  SURI_MFLD_FULL,      /* all n rows every step (noisy GD) */
  SURI_MFLD_MINIBATCH, /* |I| = batch rows, epoch order from (seed, epoch) */
  SURI_MFLD_SVRG       /* G = drift_I(Theta) - drift_I(snapshot) + drift_full(snapshot) */
} suri_mfld_estimator;

/* Configuration; get it from suri_mfld_defaults() and change fields. Defaults are those of
 * mfld.md section 5 and pda_psdca.md (marked there as choices) unless stated. */
typedef struct suri_mfld_config {
  suri_mfld_method method;       /* MFLD                                                    */
  /* ---- network ---- */
  int64_t M;                     /* particles (width)                                  1000 */
  suri_act act;                  /* SURI_ACT_TANH | SURI_ACT_RELU | SURI_ACT_IDENTITY  tanh */
  int bias;                      /* 1: w.x + b with a trainable bias coordinate b        0 */
  suri_mfld_head head;           /* output weight                                    LEARN */
  double R;                      /* bound of HEAD_BOUNDED                                 1 */
  suri_mfld_loss loss;           /*                                                SQUARED */
  /* ---- objective ---- */
  double lambda1;                /* L2 weight: penalty lambda1 ||theta||^2            1e-3 */
  double lambda2;                /* entropy weight (temperature); Langevin noise std is
                                    sqrt(2 eta lambda2) per coordinate, NOT scaled by M 1e-3 */
  double init_std;               /* theta_j ~ N(0, init_std^2 I); < 0: the Gibbs prior
                                    sqrt(lambda2 / (2 lambda1)) (mfld.md sec. 3)        -1 */
  /* ---- MFLD dynamics ---- */
  double eta;                    /* step in first-variation units (see top)            0.05 */
  suri_mfld_estimator estimator; /*                                                  FULL */
  int64_t batch;                 /* minibatch size (MINIBATCH, SVRG)                    128 */
  int64_t svrg_period;           /* steps between SVRG snapshots; 0 = ceil(n / batch)     0 */
  double anneal;                 /* c > 0: lambda2_k = c / log(e + k eta) (Chizat 2022);
                                    0: constant lambda2                                   0 */
  /* ---- length (an "epoch" is a monitoring period) ---- */
  int64_t epochs;                /*                                                     100 */
  int64_t steps_per_epoch;       /* 0 = auto: MINIBATCH/SVRG ceil(n / batch) (one pass),
                                    FULL 10 steps, PDA ceil(n / pda_batch) outer steps,
                                    P-SDCA n coordinate steps                             0 */
  uint64_t seed;                 /* init, noise, batches, resampling                     1 */
  /* ---- monitoring (every monitor_every epochs and after the last; also at epoch 0) ---- */
  int64_t monitor_every;         /* epochs between monitors                               1 */
  int gap;                       /* duality gap: -1 auto (only when p <= 3, where log Z is a
                                    quadrature), 0 never, 1 always (p > 3: importance-sampled
                                    estimate)                                            -1 */
  int64_t gap_samples;           /* importance samples for log Z when p > 3            4096 */
  int gap_grid;                  /* quadrature points per axis; 0 = auto (p = 1: 4001,
                                    p = 2: 301, p = 3: 64)                                0 */
  int knn;                       /* k of the Kozachenko-Leonenko entropy estimator        5 */
  /* ---- PDA / P-SDCA (double loop; inner Langevin in first-variation units: step
   *      inner_eta on the potential, noise sqrt(2 inner_eta lambda2); the spec's eta_t in
   *      gbar units equals inner_eta * lambda2) ---- */
  double inner_eta;              /* 0 = auto 0.05 / (2 lambda1 + smoothness)              0 */
  double smoothness;             /* data-term smoothness guess for inner_eta (choice)     1 */
  int64_t pda_batch;             /* examples per PDA outer step                          32 */
  int64_t pda_inner;             /* K: inner Langevin steps per PDA outer step           20 */
  int64_t psdca_inner;           /* K: Langevin steps after each P-SDCA resampling       20 */
  double psdca_ess;              /* rho_ESS: resample when ESS < rho M                  0.5 */
  double psdca_safety;           /* factor on the particle-variance curvature s_i       1.5 */
  int psdca_refresh;             /* 1: also resample + psdca_inner Langevin steps at the end
                                    of every epoch (choice: the reweighting is exact only if
                                    the particles sampled the target at the last refresh,
                                    which K steps do not achieve; repeated refreshes let them
                                    equilibrate as g settles)                             1 */
  /* ---- resources ---- */
  int64_t chunk;                 /* data rows per GEMM block (memory (chunk x M) vs speed)
                                                                                       1024 */
  volatile const int *stop;      /* set asynchronously (signal): stop after the step     NULL */
} suri_mfld_config;

suri_mfld_config suri_mfld_defaults(void);
/* Validates every field (SURI_ERR_ARG naming the field and the allowed range). */
suri_status suri_mfld_check(const suri_mfld_config *c);
const char *suri_mfld_method_name(suri_mfld_method k);     /* "mfld" "pda" "psdca" */
const char *suri_mfld_head_name(suri_mfld_head k);         /* "learn" "bounded" "pm1" "one" */
const char *suri_mfld_loss_name(suri_mfld_loss k);         /* "squared" "logistic" */
const char *suri_mfld_estimator_name(suri_mfld_estimator k); /* "full" "minibatch" "svrg" */
/* Name -> value (SURI_ERR_ARG listing the valid names). */
suri_status suri_mfld_method_parse(const char *s, suri_mfld_method *out);
suri_status suri_mfld_head_parse(const char *s, suri_mfld_head *out);
suri_status suri_mfld_loss_parse(const char *s, suri_mfld_loss *out);
suri_status suri_mfld_estimator_parse(const char *s, suri_mfld_estimator *out);

typedef struct suri_mfld suri_mfld;

/* Allocates the particle system for inputs of dimension d and draws the particles from
 * N(0, init_std^2) (stream SURI_RNG_INIT of seed). P-SDCA starts with g = 0 and uniform
 * weights, which represent its first target q[0] exactly only with the default init_std (the
 * Gibbs prior). *out is set only on success. */
suri_status suri_mfld_new(const suri_mfld_config *c, int64_t d, suri_mfld **out);
void suri_mfld_free(suri_mfld *m); /* NULL-safe */

const suri_mfld_config *suri_mfld_get_config(const suri_mfld *m);
int64_t suri_mfld_input_dim(const suri_mfld *m);  /* d */
int64_t suri_mfld_dim(const suri_mfld *m);        /* p, coordinates per particle */
/* The particles: (M, p) with row stride *ld (may be NULL). Borrowed; writable (tests and
 * custom initialisations may set them). */
suri_real *suri_mfld_theta(suri_mfld *m, int64_t *ld);
/* Particle weights (M), summing to 1, once P-SDCA (or suri_psdca_reweight) has started; NULL
 * before (uniform weights). Borrowed. */
const double *suri_mfld_weights(const suri_mfld *m);
/* Langevin steps taken so far (each consumed one block of the noise stream). */
int64_t suri_mfld_steps(const suri_mfld *m);
/* Epochs completed by suri_mfld_run so far (restored by suri_mfld_load). */
int64_t suri_mfld_epochs_done(const suri_mfld *m);
/* Changes the run length of the next suri_mfld_run (e.g. the remaining epochs of a resumed run):
 * epochs >= 0, steps_per_epoch >= 0 (0 = auto). SURI_ERR_ARG otherwise. */
suri_status suri_mfld_set_length(suri_mfld *m, int64_t epochs, int64_t steps_per_epoch);
/* Sets the asynchronous stop flag (a loaded system has none): when *stop becomes non-zero,
 * suri_mfld_run stops after the current step with SURI_ERR_INTERRUPTED. NULL clears it. */
void suri_mfld_set_stop(suri_mfld *m, volatile const int *stop);

/* ---- evaluation ---------------------------------------------------------------------------- */
/* f(x) for n rows: x (n, d), out (n). */
suri_status suri_mfld_predict(suri_mfld *m, int64_t n, const suri_real *x, suri_real *out);
/* Mean loss and error on a data set: err is the 0-1 error of sign(f) for binary labels (or
 * +-1 targets), NaN for regression. */
suri_status suri_mfld_evaluate(suri_mfld *m, const suri_dataset *data, double *loss,
                               double *err);
/* risk = (1/n) sum_i l(f(x_i), y_i) and l2 = lambda1 E_q ||theta||^2 (weighted for P-SDCA);
 * F = risk + l2 is the objective without the entropy term. */
suri_status suri_mfld_objective(suri_mfld *m, const suri_dataset *data, double *risk,
                                double *l2);
/* The first-variation drift without the decay term for every particle, on the rows idx[0..n)
 * of data (idx NULL: all rows, n ignored):
 *   G_j = (1/n) sum_i l'(f(x_i), y_i) grad_theta h(theta_j, x_i),   G: (M, p) row-major.
 * It is M times the gradient of the empirical risk with respect to theta_j. */
suri_status suri_mfld_drift(suri_mfld *m, const suri_dataset *data, const int64_t *idx,
                            int64_t n, suri_real *G);

/* ---- stepping (building blocks of the drivers; also for custom loops) ----------------------- */
/* One MFLD step at temperature lambda2 (use c->lambda2 unless annealing) with the drift
 * estimated on rows idx[0..n) of data (idx NULL: all rows). SVRG is a driver-level estimator
 * (suri_mfld_run). */
suri_status suri_mfld_step(suri_mfld *m, const suri_dataset *data, const int64_t *idx,
                           int64_t n, double lambda2);
/* `steps` Langevin steps on the FROZEN potential
 *   U(theta) = sum_i coef_i h(theta, x_i) + lambda1 ||theta||^2
 * over the rows idx[0..n) of data (idx NULL: all rows), coef: (n):
 *   theta <- theta - eta grad U(theta) + sqrt(2 eta lambda2) xi.
 * Its stationary law is the Gibbs measure exp(-U / lambda2) (up to O(eta)). The inner sampler
 * of PDA and P-SDCA. */
suri_status suri_mfld_langevin(suri_mfld *m, const suri_dataset *data, const int64_t *idx,
                               int64_t n, const double *coef, double eta, int64_t steps);

/* ---- loss, conjugate, duality gap (mfld.md section 4) ------------------------------------- */
double suri_mfld_loss_value(suri_mfld_loss k, double z, double y);
double suri_mfld_loss_deriv(suri_mfld_loss k, double z, double y);
double suri_mfld_loss_conj(suri_mfld_loss k, double g, double y); /* +inf outside the domain */
/* D(g) = -(1/n) sum_i l*(g_i, y_i) - lambda2 logz.  g, y: (n). */
double suri_mfld_dual_value(suri_mfld_loss k, int64_t n, const double *g, const double *y,
                            double lambda2, double logz);
/* y_i as the library reads them (+-1 for binary labels; the target for regression): y (n). */
suri_status suri_mfld_targets(const suri_mfld *m, const suri_dataset *data, double *y);
/* g_q,i = l'(f(x_i), y_i) for every row: g (n). */
suri_status suri_mfld_dual_vector(suri_mfld *m, const suri_dataset *data, double *g);

typedef enum suri_mfld_logz_method {
  SURI_MFLD_LOGZ_AUTO,        /* quadrature when p <= 3, importance sampling otherwise */
  SURI_MFLD_LOGZ_QUADRATURE,  /* adaptive tensor grid, p <= 3: exact to quadrature error */
  SURI_MFLD_LOGZ_IMPORTANCE   /* Gaussian proposal fitted to the particles (mean, covariance
                                 x 1.5): a noisy estimate */
} suri_mfld_logz_method;

/* log Z(g) = log integral exp(-[(1/n) sum_i g_i h(theta, x_i) + lambda1 ||theta||^2] / lambda2)
 * over R^p, at temperature c->lambda2. g: (n) over all rows of data. *se: standard error (0 for
 * quadrature); *used: the method used (may be NULL). HEAD_FIXED_PM1: the mean of the log Z of
 * the two sign populations (alpha = +1 and -1, mass 1/2 each). Needs lambda1, lambda2 > 0. */
suri_status suri_mfld_log_partition(suri_mfld *m, const suri_dataset *data, const double *g,
                                    suri_mfld_logz_method method, double *logz, double *se,
                                    suri_mfld_logz_method *used);
/* Kozachenko-Leonenko k-NN estimate of Ent(q) = integral q log q (negative entropy) of n
 * points in R^p: x (n, ld), weights w (n, summing to 1) or NULL (uniform; weighted points add
 * sum_i w_i log(n w_i), see src/mfld/gap.c). Exact duplicates are not neighbours. */
suri_status suri_mfld_entropy_knn(int64_t n, int64_t p, const suri_real *x, int64_t ld,
                                  const double *w, int k, double *ent);

/* The duality-gap monitor. */
typedef struct suri_mfld_gap {
  int valid;          /* 0: not computed (other fields NaN) */
  int estimate;       /* 1: log Z is an importance-sampled ESTIMATE (p > 3); 0: quadrature */
  suri_mfld_logz_method logz_method;
  double F;           /* risk + lambda1 E||theta||^2 */
  double ent;         /* Ent(q), k-NN estimate from the particles (always an estimate) */
  double primal;      /* L(q) = F + lambda2 ent */
  double conj;        /* -(1/n) sum_i l*(g_i) */
  double logz, logz_se; /* log Z(g) and its standard error (0 for quadrature) */
  double ess;         /* importance sampling effective sample size (NaN for quadrature) */
  double dual;        /* D(g) = conj - lambda2 logz */
  double gap;         /* primal - dual = lambda2 KL(q || p_q) when g = g_q */
} suri_mfld_gap;

/* Gap at the current particles with the dual vector g (n), or g = g_q (g NULL). */
suri_status suri_mfld_gap_compute(suri_mfld *m, const suri_dataset *data, const double *g,
                                  suri_mfld_gap *out);

/* ---- drivers ------------------------------------------------------------------------------ */
typedef struct suri_mfld_event {
  suri_mfld_method method;
  int64_t epoch, epochs;       /* epochs finished (0: the monitor before training) */
  int64_t step, total_steps;   /* outer steps (MFLD steps, PDA outer iterations, P-SDCA
                                  coordinate steps) */
  int64_t langevin_steps;      /* noise steps taken so far */
  double lambda2;              /* temperature in use (annealed) */
  double risk, l2, F;          /* training risk, lambda1 E||theta||^2, F = risk + l2 */
  double train_err;            /* 0-1 error on train (NaN for regression) */
  double test_loss, test_err;  /* NaN without a test set */
  double ess;                  /* P-SDCA: effective sample size / M (1 otherwise) */
  suri_mfld_gap gap;           /* gap.valid says whether it was computed */
  double seconds;              /* since the start of the run */
  double updates_per_s;        /* particle updates (M x Langevin steps) per second of
                                  stepping, monitors excluded */
} suri_mfld_event;

/* Returning non-zero stops the run (SURI_ERR_INTERRUPTED). The callback runs between steps and
 * may read the particles or call suri_mfld_save (checkpoints). */
typedef int (*suri_mfld_callback)(const suri_mfld_event *ev, void *user);

typedef struct suri_mfld_summary {
  int64_t steps, langevin_steps;
  double seconds, step_seconds, updates_per_s;
  suri_mfld_event last;        /* the final monitor */
} suri_mfld_summary;

/* Runs c->method for c->epochs epochs on train (binary labels 0/1 -> y = -1/+1, or one target
 * per sample: squared loss takes it as is, logistic needs 0/1 or -1/+1), monitoring on train
 * and test (may be NULL) at epoch 0, every monitor_every epochs and at the end. cb and out may
 * be NULL. May be called again to continue (the step counters continue, so the noise and the
 * batch order do too). */
suri_status suri_mfld_run(suri_mfld *m, const suri_dataset *train, const suri_dataset *test,
                          suri_mfld_callback cb, void *user, suri_mfld_summary *out);

/* One JSON object (no newline) for an event into buf: keys method, epoch, step,
 * langevin_steps, lambda2, risk, l2, F, train_err, test_loss, test_err, ess, seconds,
 * updates_per_s, and when the gap is valid gap, gap_estimate (true/false), primal, dual, ent,
 * logz, logz_se. NaN is written as null. SURI_ERR_ARG if buf is too small. */
suri_status suri_mfld_event_json(const suri_mfld_event *ev, char *buf, size_t n);

/* ---- PDA and P-SDCA building blocks ------------------------------------------------------- */
/* PDA: the dual-averaging accumulation of outer step t (= previous t + 1) on rows idx[0..n)
 * of data (NULL: all): c_i = l'(f(x_i), y_i), C_i += t c_i / n, S = t (t + 1) / 2. The target
 * of the next inner loop is proportional to exp(-[sum_i (C_i / S) h(theta, x_i) +
 * lambda1 ||theta||^2] / lambda2). */
suri_status suri_pda_accumulate(suri_mfld *m, const suri_dataset *data, const int64_t *idx,
                                int64_t n);
/* Borrowed C (n data rows) and S_t, t (NULL before the first accumulation). */
const double *suri_pda_coef(const suri_mfld *m, double *S, int64_t *t);
/* One PDA outer iteration: accumulate on idx, then pda_inner Langevin steps on the target. */
suri_status suri_pda_outer(suri_mfld *m, const suri_dataset *data, const int64_t *idx,
                           int64_t n);

/* P-SDCA 1-D dual step: argmax_delta -l*(g + delta) + delta hhat - s delta^2 / 2 (squared:
 * closed form (hhat - y - g) / (1 + s); logistic: safeguarded Newton on the domain). */
double suri_psdca_delta(suri_mfld_loss k, double g, double y, double hhat, double s);
/* One coordinate step on example i: hhat_i and s_i from the weighted particles, g_i += delta,
 * reweighting, and when ESS < rho M systematic resampling plus psdca_inner Langevin steps. */
suri_status suri_psdca_step(suri_mfld *m, const suri_dataset *data, int64_t i);
/* Borrowed dual iterate g (n) (NULL before the first step on a data set). */
const double *suri_psdca_dual(const suri_mfld *m);
/* Reweights w_r <- w_r exp(-delta h(theta_r, x_i) / (lambda2 n)) (normalised); returns the
 * ESS / M through ess (may be NULL). n is the data set size. */
suri_status suri_psdca_reweight(suri_mfld *m, const suri_dataset *data, int64_t i, double delta,
                                double *ess);
/* Systematic resampling of the weighted particles (weights become uniform). */
suri_status suri_psdca_resample(suri_mfld *m);

/* ---- files -------------------------------------------------------------------------------- */
/* Safetensors (F32 in float builds, F64 in double builds): "w" (M, d), "b" (M) with bias,
 * "a" (M, raw a) for LEARN/BOUNDED heads, "weights" (M, F64) when non-uniform, "psdca.g" (n,
 * F64), "pda.C" (n, F64) when present; metadata format "suri-mfld", format_version,
 * suri_version, and every configuration field by name (method, M, d, act, bias, head, R,
 * loss, lambda1, lambda2, eta, ..., seed), plus langevin_steps, outer_steps, pda_S, and the
 * n_extra key/value pairs given. Atomic write. */
suri_status suri_mfld_save(const suri_mfld *m, const char *path, int n_extra,
                           const char *const *keys, const char *const *values);
/* Loads a file written by suri_mfld_save: configuration, particles, weights, state and step
 * counters, so a run continues where it stopped. Every tensor is checked (shape, finite). */
suri_status suri_mfld_load(const char *path, suri_mfld **out);

#ifdef __cplusplus
}
#endif
#endif
