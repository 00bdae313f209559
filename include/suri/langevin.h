/* suri/langevin.h - Langevin samplers (SGLD, SVRG-LD, SARAH-LD, noisy gradient descent) over a
 * finite-sum "objective", parameter-sample collection (burn-in, thinning, NPY files), Bayesian
 * model averaging for suri models, and averaged SGD in the NTK regime (Nitanda & Suzuki 2021).
 *
 * Specs: docs/algorithms/langevin.md (Kinoshita & Suzuki, NeurIPS 2022; Welling & Teh, ICML
 * 2011) and docs/algorithms/averaged_sgd_ntk.md (Nitanda & Suzuki, ICLR 2021). User guide:
 * docs/langevin.md.
 *
 * ---- The target and every scaling, exactly --------------------------------------------------
 * The objective is the MEAN of n terms, F(x) = (1/n) sum_{i=0..n-1} f_i(x), x in R^d. For a
 * suri model f_i is the model's loss on training sample i (ce: -log softmax; mse: the mean over
 * outputs of (pred - target)^2, no 1/2; logistic: binary cross-entropy). A sampler draws from
 *
 *     nu(x)  proportional to  exp( -gamma * [ F(x) + (lambda/2) ||x||^2 ] ),
 *     gamma = N / T      (inverse temperature of langevin.md)
 *
 * with T = hp.temperature, N = hp.data_size (the data-size factor; 0 means N = n) and
 * lambda = hp.weight_decay. With T = 1 and N = n this is the Bayesian posterior
 * p(x | data) ~ exp(-sum_i f_i(x)) * prior(x) for the Gaussian prior N(0, tau^2 I) with
 * lambda = 1 / (N tau^2) (suri_langevin_prior_decay); T < 1 is a "cold", T > 1 a "warm"
 * posterior; T = 0 switches the noise off (gamma = infinity: SGD / SVRG / SARAH / GD).
 * Every sampler takes the same step, k = 0, 1, 2, ...:
 *
 *     x_{k+1} = x_k - eta * ( v_k + lambda * x_k ) + sqrt(2 eta / gamma) * xi_k,
 *     xi_k ~ N(0, I_d)   (noise std sigma = sqrt(2 eta / gamma) = sqrt(2 eta T / N)),
 *
 * eta = hp.eta is the step on F (the MEAN loss), so a Welling-Teh step epsilon on the summed
 * log posterior corresponds to eta = epsilon * gamma / 2 (noise variance epsilon per
 * coordinate). The kinds differ only in the gradient estimator v_k of grad F(x_k):
 *   SGLD      v_k = (1/B) sum_{i in I_k} grad f_i(x_k)                               (B evals)
 *   SVRG-LD   k mod m == 0: xs = x_k, gs = grad F(xs), v_k = gs                      (n evals)
 *             else v_k = (1/B) sum_{i in I_k} [grad f_i(x_k) - grad f_i(xs)] + gs   (2B evals)
 *   SARAH-LD  k mod m == 0: v_k = grad F(x_k)                                        (n evals)
 *             else v_k = (1/B) sum_{i in I_k} [grad f_i(x_k) - grad f_i(x_{k-1})] + v_{k-1}
 *   NOISY_GD  v_k = grad F(x_k) every step (the unadjusted Langevin algorithm; n evals)
 * I_k: B indices drawn uniformly WITHOUT replacement from {0..n-1}, independently per step.
 * Defaults B = m = round(sqrt(n)) (the theory's choice). At a snapshot step SVRG-LD's
 * difference term is zero (x_k = xs), so it is not evaluated: 2B evals are saved there and
 * the result is identical. The weight decay acts on the drift only; the noise is never scaled
 * by anything but sqrt(2 eta / gamma) (no preconditioner).
 *
 * Closed forms (tests/test_langevin.c checks them): for f_i(x) = ||x - a_i||^2 / 2 and
 * lambda = 0 the chain's stationary law has mean abar and per-coordinate variance
 *   SVRG-LD, SARAH-LD, NOISY_GD:  1 / (gamma (1 - eta/2))
 *   SGLD:                         (2/gamma + eta Xi s^2) / (2 - eta),  Xi = (n-B)/(B(n-1)),
 * s^2 = (1/n) sum_i (a_i - abar)^2 per coordinate (suri_langevin_xi).
 *
 * ---- Randomness and threads -------------------------------------------------------------------
 * Batch I_k: stream (hp.seed, SURI_RNG_SHUFFLE) from block counter k * 2^32 (a partial
 * Fisher-Yates shuffle; suri_langevin_draw_batch). Noise xi_k: stream (hp.noise_seed,
 * SURI_RNG_NOISE), coordinate j from block k * ceil(d/2) + j/2. Both depend only on (seed, k),
 * so a chain is bitwise the same for any thread count (given an objective that is, as the
 * model adapter is) and can be resumed at any step (suri_langevin_set_steps).
 *
 * Usage (posterior samples of a model; see docs/langevin.md):
 *   suri_objective obj;
 *   suri_model_objective *mo;
 *   st = suri_model_objective_new(model, train, &mo, &obj);          // f_i = loss on sample i
 *   suri_langevin_hp hp = suri_langevin_defaults(SURI_LANGEVIN_SVRG);
 *   hp.eta = 1e-3; hp.weight_decay = suri_langevin_prior_decay(1.0, train->n);
 *   suri_langevin *s;  st = suri_langevin_new(SURI_LANGEVIN_SVRG, &obj, &hp, &s);
 *   suri_real *x = malloc(obj.dim * sizeof *x);  suri_model_objective_pack(mo, x);
 *   suri_samples *ss;
 *   st = suri_samples_new(obj.dim, suri_samples_expected(steps, burn_in, every), burn_in, every,
 *                         &ss);
 *   st = suri_langevin_run(s, x, steps, ss, NULL, NULL);
 *   st = suri_samples_write_npy(ss, "samples.npy");                 // (S, P) float32
 *   suri_model_objective_unpack(mo, x);                              // last state -> model
 *   ... suri_bma_predict(model, S, P, suri_samples_data(ss), n, x, probs) ...
 */
#ifndef SURI_LANGEVIN_H
#define SURI_LANGEVIN_H

#include "suri/data.h"
#include "suri/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- objective: F(x) = (1/n) sum_i f_i(x) ------------------------------------------------ */
/* grad: writes g (dim) = (1/count) sum_{j<count} grad f_{idx[j]}(x), the MEAN gradient over
 * the listed terms (not the sum), in double; idx == NULL means all n terms (count == n), the
 * full gradient grad F(x). If loss != NULL it receives (1/count) sum_j f_{idx[j]}(x) (NaN if
 * the objective cannot tell). x: (dim), read only. Must be deterministic (the same x and idx
 * give the same g) and thread-count independent for reproducible chains; SVRG/SARAH evaluate
 * the same batch at two points. Returns SURI_OK or a status with suri_fail's message. */
typedef suri_status (*suri_objective_grad_fn)(void *ctx, const suri_real *x, int64_t count,
                                              const int64_t *idx, double *g, double *loss);

typedef struct suri_objective {
  int64_t n;                   /* number of terms (data size), >= 1 */
  size_t dim;                  /* d, parameter count, >= 1 */
  suri_objective_grad_fn grad; /* mean minibatch gradient (above) */
  void *ctx;                   /* passed to grad */
} suri_objective;

/* The adapter from a model and its training set: f_i(x) = the model's loss on sample i with
 * parameters x, where x is the COMPACT parameter vector: the model's parameter tensors in the
 * model's tensor order (suri_model_tensor_at, parameters only), concatenated without the flat
 * block's alignment padding, so dim = suri_model_param_numel(m). Gradients are computed in
 * chunks of the model's compiled max_batch (full gradients too) and combined in double,
 * weighted by chunk size, so any count works. Labels serve as logistic targets when the set
 * has 0/1 labels but no targets (as suri_train_run does). The model is used as scratch: its
 * parameter block is saved and restored around every evaluation at another point, so passing
 * x = a packed copy is always safe. Refused (SURI_ERR_ARG): dropout > 0 (the terms would be
 * random) and norm=batch|lastbatch (f_i would depend on the rest of the batch). The model and
 * data set are borrowed and must outlive the adapter. *obj is filled on success. */
typedef struct suri_model_objective suri_model_objective;
suri_status suri_model_objective_new(suri_model *m, const suri_dataset *train,
                                     suri_model_objective **out, suri_objective *obj);
void suri_model_objective_free(suri_model_objective *mo);
/* Model parameter block -> x (dim) and back. */
void suri_model_objective_pack(const suri_model_objective *mo, suri_real *x);
void suri_model_objective_unpack(suri_model_objective *mo, const suri_real *x);
/* The same conversions for any model m (params block of m <-> compact x of numel values). */
void suri_model_params_pack(const suri_model *m, suri_real *x);
void suri_model_params_unpack(suri_model *m, const suri_real *x);

/* ---- samplers ------------------------------------------------------------------------------ */
typedef enum suri_langevin_kind {
  SURI_LANGEVIN_SGLD,     /* "sgld" */
  SURI_LANGEVIN_SVRG,     /* "svrg-ld" */
  SURI_LANGEVIN_SARAH,    /* "sarah-ld" */
  SURI_LANGEVIN_NOISY_GD, /* "noisy-gd" (full-gradient Langevin with weight decay) */
  SURI_LANGEVIN_KIND_COUNT
} suri_langevin_kind;

#define SURI_LANGEVIN_NAMES "sgld, svrg-ld, sarah-ld, noisy-gd"
suri_status suri_langevin_kind_parse(const char *name, suri_langevin_kind *out);
const char *suri_langevin_kind_name(suri_langevin_kind k); /* "?" if out of range */

typedef struct suri_langevin_hp {
  double eta;          /* step size on F, > 0                                 (1e-3) */
  double temperature;  /* T >= 0; 0 = no noise                                (1) */
  double data_size;    /* N > 0, or 0 = the objective's n; gamma = N / T      (0) */
  double weight_decay; /* lambda >= 0: drift + lambda x (prior / L2)          (0) */
  int64_t batch;       /* B in 1..n, 0 = round(sqrt(n)) (ignored by noisy-gd) (0) */
  int64_t loop;        /* m >= 1, 0 = round(sqrt(n)) (svrg-ld, sarah-ld)      (0) */
  uint64_t seed;       /* batch stream (SURI_RNG_SHUFFLE)                     (1) */
  uint64_t noise_seed; /* noise stream (SURI_RNG_NOISE)                       (1) */
} suri_langevin_hp;

/* The defaults above (the same for every kind; the kind argument is for future use). */
suri_langevin_hp suri_langevin_defaults(suri_langevin_kind kind);
/* SURI_ERR_ARG naming the field if hp does not fit an objective with n terms. */
suri_status suri_langevin_check(suri_langevin_kind kind, const suri_langevin_hp *hp, int64_t n);
/* round(sqrt(n)) clamped to [1, n]: the default B and m. */
int64_t suri_langevin_default_batch(int64_t n);
/* gamma = N / T for an objective with n terms (INFINITY when T == 0). */
double suri_langevin_gamma(const suri_langevin_hp *hp, int64_t n);
/* sqrt(2 eta / gamma) (0 when T == 0). */
double suri_langevin_noise_std(const suri_langevin_hp *hp, int64_t n);
/* lambda of the Gaussian prior N(0, tau2 I) with data-size factor N: 1 / (N tau2). */
double suri_langevin_prior_decay(double tau2, double N);
/* Finite-population factor Xi = (n - B) / (B (n - 1)) of a without-replacement batch mean
 * (0 for n == 1). */
double suri_langevin_xi(int64_t n, int64_t B);
/* langevin.md's step-size conditions for SVRG-LD / SARAH-LD (other kinds: NaN): with LSI
 * constant alpha, smoothness L, loop m, gamma, dimension d, target KL eps and Xi, the largest
 * eta satisfying both the contraction condition (eta < alpha / (16 sqrt(6) L^2 m gamma),
 * SARAH: sqrt(2)) and the accuracy condition (eta <= 3 alpha eps / (448 gamma d L^2
 * (2 + 3 Xi + 2 m Xi)), SARAH: 64 and (2 + Xi + 2 m Xi)). The SVRG accuracy condition uses
 * the bracketed (smaller) reading, see langevin.md section 3. */
double suri_langevin_eta_theory(suri_langevin_kind kind, double alpha, double L, double m,
                                double gamma, double d, double eps, double Xi);

typedef struct suri_langevin suri_langevin;

/* A sampler for obj (borrowed; must outlive it). Allocates all state up front (no allocation
 * in steps). Errors: SURI_ERR_ARG (hp, obj), SURI_ERR_NOMEM. */
suri_status suri_langevin_new(suri_langevin_kind kind, const suri_objective *obj,
                              const suri_langevin_hp *hp, suri_langevin **out);
void suri_langevin_free(suri_langevin *s);

/* One step k -> k + 1 of the update above on x (dim), in place. If loss != NULL it receives
 * the objective's mean loss over the terms evaluated at x_k (the batch, or all n at a full
 * step). Errors: the objective's status; SURI_ERR_NUMERIC if x or v_k became non-finite
 * (x is then left at x_k). Never allocates. */
suri_status suri_langevin_step(suri_langevin *s, suri_real *x, double *loss);

/* Called after every step of suri_langevin_run with the number of completed steps and the
 * step's loss; a non-zero return stops the run with SURI_ERR_INTERRUPTED. */
typedef int (*suri_langevin_callback)(int64_t step, double loss, const suri_real *x, void *user);

typedef struct suri_samples suri_samples;
/* `steps` steps from x (dim), offering every new state to ss (may be NULL) with
 * suri_samples_offer(ss, completed steps, x); cb may be NULL. */
suri_status suri_langevin_run(suri_langevin *s, suri_real *x, int64_t steps, suri_samples *ss,
                              suri_langevin_callback cb, void *user);

/* Counters and state. grad_evals counts per-sample gradient evaluations grad f_i (a batch of
 * B is B, a full gradient n) since creation (or as set). */
int64_t suri_langevin_steps(const suri_langevin *s);
int64_t suri_langevin_grad_evals(const suri_langevin *s);
int64_t suri_langevin_batch_size(const suri_langevin *s); /* B in use (n for noisy-gd) */
int64_t suri_langevin_loop_size(const suri_langevin *s);  /* m in use (0 unless svrg/sarah) */
double suri_langevin_get_gamma(const suri_langevin *s);
/* v_k of the last step (dim doubles, borrowed): tests compare it with grad F(x_k). */
const double *suri_langevin_estimator(const suri_langevin *s);
/* Checkpoint state (borrowed, writable, dim values; NULL for kinds without it):
 * state_x: SVRG the snapshot xs, SARAH x_{k-1}; state_v: SVRG grad F(xs), SARAH v_{k-1}.
 * To resume: create a sampler with the same hp, copy both arrays back, then set_steps(k)
 * (and grad_evals if wanted). set_steps(0) or any multiple of m needs no state. */
suri_real *suri_langevin_state_x(suri_langevin *s);
double *suri_langevin_state_v(suri_langevin *s);
void suri_langevin_set_steps(suri_langevin *s, int64_t steps, int64_t grad_evals);

/* Batch of step k: B distinct indices of {0..n-1}, uniform, in draw order, written to idx (B);
 * work: (n) scratch that must hold the identity 0..n-1 on entry and holds it again on return
 * (the partial Fisher-Yates swaps are undone), so a draw costs O(B). Depends only on
 * (seed, k, n, B). */
void suri_langevin_draw_batch(uint64_t seed, int64_t k, int64_t n, int64_t B, int64_t *work,
                              int64_t *idx);

/* ---- sample collection ------------------------------------------------------------------- */
/* Keeps the state after step t (t = completed steps, 1-based) when t > burn_in and
 * (t - burn_in) % every == 0, as float32 rows of a (S, dim) array, S <= capacity. For a run
 * of `steps` steps S = suri_samples_expected(steps, burn_in, every). */
int64_t suri_samples_expected(int64_t steps, int64_t burn_in, int64_t every);
/* capacity >= 1, burn_in >= 0, every >= 1 (SURI_ERR_ARG otherwise); SURI_ERR_NOMEM. */
suri_status suri_samples_new(size_t dim, int64_t capacity, int64_t burn_in, int64_t every,
                             suri_samples **out);
void suri_samples_free(suri_samples *ss);
/* Stores x (dim) if step t qualifies (above). SURI_ERR_STATE if it qualifies but the buffer
 * is full. Never allocates. */
suri_status suri_samples_offer(suri_samples *ss, int64_t t, const suri_real *x);
int64_t suri_samples_count(const suri_samples *ss);
size_t suri_samples_dim(const suri_samples *ss);
/* (count, dim) float32 rows, borrowed. */
const float *suri_samples_data(const suri_samples *ss);
/* Sample mean (dim) and, if cov != NULL, the sample covariance (dim, dim) with divisor S - 1
 * (S >= 2), accumulated in double over the stored rows. SURI_ERR_STATE if S is too small. */
suri_status suri_samples_moments(const suri_samples *ss, double *mean, double *cov);
/* Writes the stored rows as an NPY v1 file (S, dim) '<f4', atomically. SURI_ERR_STATE if
 * there are no samples; SURI_ERR_IO names the path. */
suri_status suri_samples_write_npy(const suri_samples *ss, const char *path);
/* Reads an (S, P) f4 or f8 NPY sample file into a suri_alloc'ed float32 (S, P) array (*data,
 * free with suri_free). If P_expect > 0 the file's P must equal it (SURI_ERR_SHAPE naming
 * the file and both sizes). NaN/Inf values are refused (SURI_ERR_NUMERIC, naming row/col). */
suri_status suri_samples_read_npy(const char *path, int64_t P_expect, int64_t *S, int64_t *P,
                                  float **data);

/* ---- Bayesian model average ------------------------------------------------------------- */
/* Posterior predictive over S parameter samples (S, P) float32 rows, P = param_numel(m) in
 * the compact order of suri_model_params_pack: out (n, OUT) =
 *   ce:        (1/S) sum_s softmax(f(x; x_s))   (class probabilities)
 *   logistic:  (1/S) sum_s sigmoid(f(x; x_s))   (probability of class 1)
 *   mse:       (1/S) sum_s f(x; x_s)             (mean prediction)
 * accumulated in double; x: (n, IN) already in the model's input normalisation. The model's
 * parameters are restored on return. SURI_ERR_SHAPE if P does not match. */
suri_status suri_bma_predict(suri_model *m, int64_t S, int64_t P, const float *samples,
                             int64_t n, const suri_real *x, suri_real *out);
/* Loss and accuracy of the averaged predictive on a labelled set: ce: mean -log pbar_y;
 * logistic: mean binary cross-entropy of pbar (targets from d->t, or 0/1 labels); mse: mean
 * over elements of (pbar - t)^2 (the model's mse). accuracy: argmax of pbar (ce), pbar > 1/2
 * (logistic), NaN (mse). Probabilities are clamped at 1e-12 below for the logarithm. */
suri_status suri_bma_evaluate(suri_model *m, int64_t S, int64_t P, const float *samples,
                              const suri_dataset *d, double *loss, double *accuracy);

/* ---- averaged SGD (generic, over an objective) -------------------------------------------- */
/* averaged_sgd_ntk.md section 3 for any objective: with theta0 the initial point,
 *   theta_{t+1} = theta_t - eta * ( (1/B) sum_{i in I_t} grad f_i(theta_t)
 *                                   + lambda * (theta_t - theta0) )
 *   thetabar_t  = thetabar_{t-1} + (theta_t - thetabar_{t-1}) / (t + 1),  thetabar_0 = theta0
 * (uniform average of theta_0..theta_t, including theta_0; kept in double). I_t: consecutive
 * B-blocks of a random permutation of the data per pass (pass e: stream (seed,
 * SURI_RNG_SHUFFLE) at block e * 2^40), so the first pass uses every sample once ("one fresh
 * sample per step" with B = 1, the theory's setting). */
typedef struct suri_asgd_hp {
  double eta;    /* > 0                                                   (0.04) */
  double lambda; /* >= 0, L2 pull toward theta0; the spec's choice T^(-1/2) (0) */
  int64_t batch; /* B in 1..n                                             (1) */
  uint64_t seed; /* sample order                                          (1) */
} suri_asgd_hp;
suri_asgd_hp suri_asgd_defaults(void);

typedef struct suri_asgd suri_asgd;
/* theta0: (dim) initial point (copied). */
suri_status suri_asgd_new(const suri_objective *obj, const suri_asgd_hp *hp,
                          const suri_real *theta0, suri_asgd **out);
void suri_asgd_free(suri_asgd *a);
/* One step on theta (dim) in place, then the running average. loss: the batch's mean loss. */
suri_status suri_asgd_step(suri_asgd *a, suri_real *theta, double *loss);
const double *suri_asgd_average(const suri_asgd *a); /* thetabar (dim), borrowed */
void suri_asgd_average_real(const suri_asgd *a, suri_real *out); /* thetabar rounded */
int64_t suri_asgd_steps(const suri_asgd *a);
int64_t suri_asgd_grad_evals(const suri_asgd *a);
/* Resume: puts a (created with the same objective, hp and theta0) at step t with running
 * average bar (dim doubles, copied); the pass, the position in it and grad_evals follow from
 * (t, n, batch), so the following steps equal those of an uninterrupted run. The caller puts
 * theta_t back itself. SURI_ERR_ARG for t < 0. */
suri_status suri_asgd_set_state(suri_asgd *a, int64_t t, const double *bar);

/* Symmetric initialisation (averaged_sgd_ntk.md section 2) of an initialised two-layer model
 * (mlp:IN-M-OUT, M even, norm=none): hidden unit r + M/2 gets unit r's incoming weights and
 * bias, the output weights of unit r + M/2 become minus those of unit r, and the output bias
 * is zeroed, so the initial function is zero (up to the rounding of the output sum).
 * SURI_ERR_ARG for another architecture. */
suri_status suri_model_symmetric_init(suri_model *m);

/* ---- the two-layer network of averaged_sgd_ntk.md (exact) --------------------------------- */
/* g(x) = (1/sqrt(M)) sum_r a_r act(b_r . x + gamma_b c_r), theta = (a (M), b (M, d), c (M)),
 * symmetric init: a_r = +R (r < M/2), -R (r >= M/2); b_r uniform on S^{d-1} for r < M/2
 * (stream (seed, SURI_RNG_INIT)), b_{r+M/2} = b_r; c = 0. Loss (g - y)^2 / 2 plus
 * (lambda/2) ||theta - theta0||^2 over the trained layers; one sample per step:
 *   a_r -= eta ( e act(u_r) / sqrt(M)                + lambda (a_r - a_r0) )
 *   b_r -= eta ( e a_r act'(u_r) x / sqrt(M)         + lambda (b_r - b_r0) )
 *   c_r -= eta ( e a_r act'(u_r) gamma_b / sqrt(M)   + lambda (c_r - c_r0) )
 * with e = g(x) - y and the pre-update a_r; thetabar is the uniform running mean of
 * theta_0..theta_t. All arithmetic in double (a theory tool: M d is small). With
 * linearized = 1 the network is replaced by its linearisation at theta0,
 * g_lin(x) = grad g_theta0(x) . (theta - theta0), trained by the same rule (kernel SGD with
 * the empirical NTK, section 7.3). */
typedef enum suri_ntk2_act {
  SURI_NTK2_SWISH,   /* u / (1 + exp(-s u)), s = swish_s */
  SURI_NTK2_TANH,
  SURI_NTK2_SIGMOID,
  SURI_NTK2_RELU     /* outside the theory (not smooth); for the closed-form kernel tests */
} suri_ntk2_act;

typedef struct suri_ntk2_hp {
  int64_t width;      /* M, even >= 2                                      (1024) */
  double R;           /* output scale, > 0                                 (1) */
  double gamma_b;     /* bias scale, > 0                                   (1) */
  suri_ntk2_act act;  /*                                                   (swish) */
  double swish_s;     /* swish sharpness                                   (10) */
  double eta;         /* 4 (6 + lambda) eta <= 1 is checked unless unchecked_eta  (0.04) */
  double lambda;      /* >= 0                                              (0) */
  int train_a, train_b; /* train the output layer / the input layer + bias (1, 1) */
  int linearized;     /* 0: the network; 1: its linearisation at theta0    (0) */
  int unchecked_eta;  /* 1: skip the step-size condition                   (0) */
  uint64_t seed;      /* init stream                                       (1) */
} suri_ntk2_hp;
suri_ntk2_hp suri_ntk2_defaults(void);

typedef struct suri_ntk2 suri_ntk2;
/* A network on inputs of dimension d >= 1, initialised symmetrically. */
suri_status suri_ntk2_new(int64_t d, const suri_ntk2_hp *hp, suri_ntk2 **out);
void suri_ntk2_free(suri_ntk2 *net);
/* One averaged-SGD step on the sample (x (d), y). */
void suri_ntk2_step(suri_ntk2 *net, const double *x, double y);
/* g(x) at the current (averaged = 0) or averaged (averaged = 1) parameters; in linearized
 * mode g_lin. The sum runs over pairs (r, r + M/2) first, so g_theta0 == 0 exactly. */
double suri_ntk2_predict(const suri_ntk2 *net, const double *x, int averaged);
/* Empirical NTK at theta0 of the trained layers:
 * (1/M) sum_r [train_a act(u_r) act(u'_r) + train_b R^2 (x.x' + gamma_b^2) act'(u_r) act'(u'_r)]
 * and, if se != NULL, its standard error over the M/2 distinct b_r (sample std / sqrt(M/2)). */
double suri_ntk2_kernel(const suri_ntk2 *net, const double *x, const double *x2, double *se);
/* Infinite-width kernel for act = ReLU, b uniform on S^{d-1} (closed form, section 4):
 * ||x|| ||x'|| (sin phi + (pi - phi) cos phi) / (2 pi d) + R^2 (x.x' + gamma_b^2)(pi - phi)/(2 pi),
 * each term only if its layer is trained. */
double suri_ntk2_kernel_relu_inf(const suri_ntk2 *net, const double *x, const double *x2);
/* Borrowed parameter views: which = 0 current, 1 initial, 2 averaged; a (M), b (M, d), c (M). */
void suri_ntk2_params(const suri_ntk2 *net, int which, const double **a, const double **b,
                      const double **c);
int64_t suri_ntk2_steps(const suri_ntk2 *net);

#ifdef __cplusplus
}
#endif
#endif
