/* suri/analysis.h - curvature and kernel analysis of a model over a data set: matrix-free
 * Fisher / empirical Fisher / Gauss-Newton / Hessian operators, eigen-solvers for any symmetric
 * operator (power iteration with deflation, Lanczos with full reorthogonalisation), Hutchinson
 * trace, stochastic Lanczos quadrature spectral density, dense Gram eigendecomposition, the
 * empirical neural tangent kernel, and the infinite-width NNGP / NTK kernels of MLPs.
 * The mathematics and every scaling convention are in docs/analysis.md.
 *
 * Usage (top-5 eigenvalues and the spectral density of the true Fisher over a data set):
 *   suri_analysis_data d = suri_analysis_data_of(train);        // borrowed views of the set
 *   suri_curv_opts co = suri_curv_defaults();                   // true Fisher, all parameters
 *   suri_curv *F = NULL;
 *   if (suri_curv_new(model, &d, &co, &F) != SURI_OK) ... suri_last_error() ...
 *   suri_linop A = suri_curv_linop(F);                          // n = trainable scalars
 *   suri_eig_opts eo = suri_eig_defaults();
 *   eo.k = 5;
 *   double lam[5], res[5];
 *   double *vec = malloc(5 * A.n * sizeof *vec);               // (5, n) Ritz vectors
 *   suri_solver_info info;
 *   suri_eig_lanczos(&A, &eo, lam, vec, res, &info);            // lam descending
 *   suri_slq_result dens;
 *   suri_slq_density(&A, NULL, &dens, &info);                   // defaults; free below
 *   suri_slq_result_free(&dens);
 *   suri_curv_free(F);
 *
 * Conventions.
 * - All analysis numerics are double. Vectors given to operators and solvers are double.
 * - Operators evaluate the model in EVAL mode (dropout off, batch norm with its running
 *   statistics), so every sample is independent and the operators are sums over samples.
 *   suri_curv_opts.batch_stats = 1 asks for training-mode batch norm (statistics of each chunk
 *   of max_batch rows; the samples of a chunk then interact, so the result depends on the chunk
 *   size); the running statistics are restored afterwards.
 * - Side effects: the curvature operators and the empirical NTK run the model's graph: they
 *   overwrite its node buffers and its gradient block (suri_model_grads), and leave the graph
 *   in training mode (the default mode, as suri_model_predict does). Parameters and state are
 *   left bit-for-bit as they were (the central-difference Hessian perturbs and restores
 *   them; exact Hessian products do not touch them).
 * - Speed paths (docs/analysis.md section 2): with the data in one chunk (n <= the model's max
 *   batch) and eval mode, the Fisher kinds, the GGN and the exact Hessian run the forward pass
 *   once and reuse the graph's values while the batch, input rows, parameters and outputs are
 *   unchanged (checked at every application, so running the model in between is safe; the
 *   exact Hessian also reuses the node gradients while no other graph pass ran); the compact
 *   operator of the empirical Fisher of a dense-only network uses per-layer factors when they
 *   fit the operator's memory bound of 8 P doubles (the same operator to rounding).
 * - Nothing here prints or exits; failures return a status with suri_last_error() set.
 */
#ifndef SURI_ANALYSIS_H
#define SURI_ANALYSIS_H

#include "suri/core.h"
#include "suri/data.h"
#include "suri/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RNG purpose of Monte-Carlo Fisher labels (SURI_RNG_PROBE is used for probe/start vectors). */
#define SURI_RNG_MC_LABELS 0x414e0001u

/* ==== symmetric linear operators ============================================================ */
typedef struct suri_linop suri_linop;
/* out = A v. v, out: (n), never aliased. Must be linear, symmetric and deterministic (the
 * same v gives the same out). */
typedef suri_status (*suri_linop_fn)(const suri_linop *self, const double *v, double *out);
struct suri_linop {
  int64_t n;           /* dimension */
  suri_linop_fn apply;
  void *ctx;           /* whatever apply needs (borrowed) */
};

/* A symmetric row-major (n, n) matrix A as an operator (A borrowed, must outlive the op). */
suri_linop suri_linop_dense(int64_t n, const double *A);
/* Materialises an operator: A (n, n) row-major, column j = op(e_j) (n applications), then
 * symmetrised as (A + A^T)/2 only if sym != 0. For tests and small problems. */
suri_status suri_linop_to_dense(const suri_linop *op, int sym, double *A);

/* ==== solver results ======================================================================== */
/* Every solver reports this. */
typedef struct suri_solver_info {
  int iterations;        /* power: total iterations over all pairs; Lanczos: Krylov steps;
                            Hutchinson: probes; SLQ: total Lanczos steps over all probes;
                            dense: 1 */
  double residual;       /* eigen-solvers: max_i ||A v_i - lambda_i v_i|| / max_i |lambda_i|;
                            Hutchinson: standard error of the trace estimate; SLQ: standard
                            error of the quadrature mean (= trace / n) over the probes */
  int converged;         /* 1 if every requested quantity met the tolerance */
  int64_t applications;  /* operator applications (matrix-vector products) */
} suri_solver_info;

/* ==== eigen-solvers ========================================================================= */
typedef enum suri_eig_which {
  SURI_EIG_LARGEST,      /* algebraically largest (default) */
  SURI_EIG_SMALLEST,     /* algebraically smallest (e.g. negative Hessian curvature) */
  SURI_EIG_MAGNITUDE     /* largest |lambda| */
} suri_eig_which;

typedef struct suri_eig_opts {
  int k;                 /* pairs wanted, 1 <= k <= n (default 1) */
  int max_iter;          /* power: iterations per pair; Lanczos: Krylov dimension cap.
                            0 (default) = 1000 for power, min(n, max(2k + 40, 80)) for Lanczos */
  double tol;            /* pair i converged when ||A v_i - lambda_i v_i|| <= tol * |lambda_1|
                            (|lambda_1| = largest magnitude found; default 1e-6) */
  uint64_t seed;         /* start vectors: stream (seed, SURI_RNG_PROBE) */
  suri_eig_which which;  /* Lanczos only; power iteration always finds largest |lambda| */
} suri_eig_opts;
suri_eig_opts suri_eig_defaults(void);

/* Power iteration with projection deflation: pair j iterates v <- P A P v / ||.|| with
 * P = I - sum_{i<j} v_i v_i^T until the residual meets tol (or max_iter), so it finds the k
 * eigenvalues of largest magnitude, in the order found (descending |lambda| when the spectrum
 * is well separated). values: (k); vectors: (k, n) unit eigenvectors or NULL; residuals: (k)
 * absolute ||A v - lambda v|| or NULL. info may be NULL. Non-convergence is not an error:
 * info->converged = 0. */
suri_status suri_eig_power(const suri_linop *A, const suri_eig_opts *o, double *values,
                           double *vectors, double *residuals, suri_solver_info *info);

/* Lanczos with full reorthogonalisation (after the three-term recurrence, a Gram-Schmidt pass
 * against every basis vector, and a second one when the first cancelled: DGKS), a start vector
 * with uniform(-1, 1) entries from (seed, SURI_RNG_PROBE), Ritz pairs of the tridiagonal
 * matrix; stops when the k wanted Ritz pairs have residual
 * |beta_m s_{m,i}| <= tol |lambda_1| or the Krylov dimension reaches max_iter. An invariant
 * subspace (beta ~ 0, e.g. a low-rank Fisher) reached with fewer than k Ritz values restarts
 * with a fresh random vector orthogonal to the basis (so a k larger than the rank returns the
 * zero eigenvalues too). As for any single-vector Krylov method, an eigenvalue of multiplicity
 * > 1 shows up once per Krylov space: further copies only appear after such a restart. Stores
 * the basis: (m + 1) n doubles (SURI_ERR_NOMEM names the size). values: (k) in the order of
 * `which` (descending for LARGEST and MAGNITUDE by value / |value|, ascending for SMALLEST);
 * vectors (k, n) or NULL; residuals (k) or NULL. */
suri_status suri_eig_lanczos(const suri_linop *A, const suri_eig_opts *o, double *values,
                             double *vectors, double *residuals, suri_solver_info *info);

/* Top-k eigenpairs of a dense symmetric (n, n) matrix K (e.g. an NTK or Fisher Gram) by LAPACK
 * (suri_syev); K is not modified. values: (k) descending; vectors: (k, n) or NULL. info gets
 * the relative residual actually achieved. */
suri_status suri_eig_dense(int64_t n, const double *K, int k, double *values, double *vectors,
                           suri_solver_info *info);

/* ==== trace and spectral density ============================================================ */
typedef struct suri_trace_opts {
  int probes;            /* maximum number of Rademacher probes (default 100) */
  int min_probes;        /* at least this many before the tolerance is checked (default 10) */
  double rtol;           /* stop when std_err <= rtol |estimate| (0 = run all probes; default) */
  uint64_t seed;         /* probes: stream (seed, SURI_RNG_PROBE) */
} suri_trace_opts;
suri_trace_opts suri_trace_defaults(void);

/* Hutchinson's estimator tr(A) ~ (1/s) sum_j z_j^T A z_j with Rademacher z_j (Hutchinson
 * 1990): *trace = the mean, *std_err = the sample standard deviation / sqrt(s) (s >= 2).
 * opts NULL = defaults. info->converged = 1 when rtol is 0 or was met. */
suri_status suri_trace_hutchinson(const suri_linop *A, const suri_trace_opts *o, double *trace,
                                  double *std_err, suri_solver_info *info);

typedef struct suri_slq_opts {
  int probes;            /* random starting vectors (default 10) */
  int steps;             /* Lanczos steps per probe, m (default 80; capped at n) */
  uint64_t seed;         /* probes: Rademacher, normalised to unit length */
  int grid;              /* density grid points (default 1000) */
  double sigma;          /* Gaussian broadening (0 = default: 1% of the node range, see docs) */
  double lo, hi;         /* grid range (lo == hi: default [min node - 5 sigma, max node + 5 sigma]) */
} suri_slq_opts;
suri_slq_opts suri_slq_defaults(void);

/* Stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019).
 * For each probe v (unit norm), m Lanczos steps give T_m = S diag(theta) S^T; the Gauss
 * quadrature of the spectral measure mu_v = sum_i (u_i . v)^2 delta(lambda_i) has nodes theta_j
 * and weights tau_j = S_{1j}^2 (sum_j tau_j = 1 exactly). The density estimate is
 *   phi(t) = (1/probes) sum_probes sum_j tau_j N(t; theta_j, sigma^2),
 * the density of eigenvalues normalised to integrate to 1 (multiply by n for counts); its mean
 * sum tau theta averaged over probes is a trace estimate / n. */
typedef struct suri_slq_result {
  int probes, steps;     /* steps = columns of nodes/weights */
  int64_t n;             /* operator dimension */
  double *nodes;         /* (probes, steps) Ritz values, ascending per probe */
  double *weights;       /* (probes, steps); a probe that found an invariant subspace after
                            m' < steps steps has nodes/weights 0 in columns >= m' */
  int grid;
  double *t, *density;   /* (grid) grid points and phi(t) */
  double sigma;          /* broadening used */
  double mass;           /* trapezoid integral of density over the grid (~1 if the grid
                            covers the nodes +- 5 sigma and resolves sigma) */
  double mean, second;   /* quadrature moments: E[lambda] = tr(A)/n, E[lambda^2] = tr(A^2)/n */
} suri_slq_result;

/* out is filled (arrays allocated here); free with suri_slq_result_free. opts NULL = defaults.
 * info->residual = standard error of `mean` over the probes. */
suri_status suri_slq_density(const suri_linop *A, const suri_slq_opts *o, suri_slq_result *out,
                             suri_solver_info *info);
void suri_slq_result_free(suri_slq_result *r); /* NULL-safe; zeroes the struct */

/* ==== curvature operators =================================================================== */
typedef enum suri_curv_kind {
  SURI_CURV_FISHER,      /* true Fisher: (1/N) sum_t J_t^T Lambda_t J_t (Lambda: below) */
  SURI_CURV_FISHER_MC,   /* Monte-Carlo Fisher: labels drawn from the model, k per input */
  SURI_CURV_FISHER_EMP,  /* empirical Fisher: (1/N) sum_t g_t g_t^T, observed labels */
  SURI_CURV_GGN,         /* Gauss-Newton J^T H_loss J of the model's mean loss */
  SURI_CURV_HESSIAN,     /* Hessian of the model's mean loss (exact products; see hess_method) */
  SURI_CURV_COUNT
} suri_curv_kind;
/* "fisher", "mc_fisher", "emp_fisher", "ggn", "hessian". */
const char *suri_curv_name(suri_curv_kind k);
/* Parses those names (also "gn", "empirical_fisher", "true_fisher"); SURI_ERR_ARG otherwise. */
suri_status suri_curv_kind_parse(const char *text, suri_curv_kind *out);

/* Scalings (C outputs, N samples; J_t = d f(x_t) / d theta, (C, P)):
 *   Fisher kinds use the negative log-likelihood of the model's predictive distribution:
 *     ce: categorical softmax(f),  Lambda_t = diag(p_t) - p_t p_t^T;
 *     mse: Gaussian N(f, I),       Lambda_t = I  (unit variance, whatever the loss scaling);
 *     logistic: Bernoulli(sigmoid(f)), Lambda_t = s_t (1 - s_t).
 *     The per-sample gradient is g_t = J_t^T r_t with r_t = d NLL / d f (ce: p - e_y;
 *     mse: f - y; logistic: s - y), so E_{y ~ model}[g g^T] = the true Fisher for every kind.
 *   GGN and Hessian are those of the model's own mean loss L = (1/N) sum_t loss_t:
 *     ce, logistic: GGN = true Fisher exactly; mse (mean over N*C elements of (f-y)^2):
 *     GGN = (2/C) * true Fisher. */
/* Hessian-vector products: AUTO (default) = EXACT when every op of the model has a
 * second-order rule (dense, activations, dropout, losses, ...; not batch_norm/layer_norm),
 * else DIFF; EXACT = forward-over-reverse (Pearlmutter 1994), suri_curv_new fails with
 * SURI_ERR_UNSUPPORTED when an op lacks the rule; DIFF = central difference of full-data
 * gradients with step hess_eps (docs/analysis.md section 2.3). */
typedef enum suri_hess_method { SURI_HESS_AUTO, SURI_HESS_EXACT, SURI_HESS_DIFF } suri_hess_method;

typedef struct suri_curv_opts {
  suri_curv_kind kind;   /* default SURI_CURV_FISHER */
  int layer;             /* -1 (default): all parameters; i >= 0: only the W and b of layer
                            table entry i (the operator is P_i A P_i restricted to that block) */
  int mc_samples;        /* labels per input for SURI_CURV_FISHER_MC (default 1) */
  uint64_t seed;         /* MC labels: stream (seed, SURI_RNG_MC_LABELS), drawn by sample index,
                            so every application uses the same labels */
  double hess_eps;       /* Hessian step of the central difference: eps = hess_eps *
                            ||theta_active|| / ||v|| (0 = default 1e-5 in double builds, 3e-4 in
                            float builds; see docs); unused by exact products */
  suri_hess_method hess_method; /* how Hessian-vector products are made (default AUTO) */
  int batch_stats;       /* 0 (default): eval mode; 1: training-mode batch norm per chunk */
} suri_curv_opts;
suri_curv_opts suri_curv_defaults(void);

/* A data set as borrowed views. labels: class labels (ce; 0/1 labels also serve logistic);
 * targets: (n, OUT) regression or 0/1 targets (mse, logistic). Only the empirical Fisher and
 * the Hessian need labels/targets. */
typedef struct suri_analysis_data {
  int64_t n;
  const suri_real *x;        /* (n, IN) */
  const int32_t *labels;     /* (n) or NULL */
  const suri_real *targets;  /* (n, OUT) or NULL */
  int64_t dim, target_dim;   /* features and targets per sample, checked against the model
                                when non-zero (suri_analysis_data_of sets them) */
} suri_analysis_data;
suri_analysis_data suri_analysis_data_of(const suri_dataset *d);

typedef struct suri_curv suri_curv;

/* Creates the operator of model m over data d (both borrowed: they must outlive it and the
 * parameters must not change while it is used). Checks the data against the model (input width,
 * labels in range, targets present when needed) and allocates all work memory here; applying
 * allocates nothing. An exact Hessian also prepares the model's graph for Hessian-vector
 * products (suri_graph_hvp_prepare: one gradient-tangent buffer per node with a gradient,
 * owned by the graph and kept until the model is freed). */
suri_status suri_curv_new(suri_model *m, const suri_analysis_data *d, const suri_curv_opts *o,
                          suri_curv **out);
void suri_curv_free(suri_curv *c);
/* Dimension of the operator: trainable scalars of the model (suri_model_param_numel) or of the
 * restricted layer. */
int64_t suri_curv_dim(const suri_curv *c);
/* out = A v on the flat parameter layout: v, out: (suri_model_param_count). Entries of v
 * outside the active block (alignment padding, other layers) are ignored; those of out are 0. */
suri_status suri_curv_apply(suri_curv *c, const double *v, double *out);
/* The operator in compact coordinates (the active scalars in flat order, no padding), for the
 * solvers. The linop borrows c. */
suri_linop suri_curv_linop(suri_curv *c);
/* Conversions between compact (dim) and flat (param_count) vectors; expand zeroes the rest. */
void suri_curv_compact(const suri_curv *c, const double *flat, double *compact);
void suri_curv_expand(const suri_curv *c, const double *compact, double *flat);
int64_t suri_curv_applications(const suri_curv *c);
/* The Hessian's actual step for the last application (0 for other kinds and exact products). */
double suri_curv_last_eps(const suri_curv *c);
/* Which method makes this operator's Hessian-vector products: "exact" or "central_difference";
 * "" for the other kinds. */
const char *suri_curv_hess_method(const suri_curv *c);

/* ==== empirical neural tangent kernel ======================================================= */
typedef enum suri_ntk_mode {
  SURI_NTK_FULL,         /* K: (n1 C, n2 C), K[i C + k, j C + k'] = grad f_k(x_i) . grad f_k'(x_j) */
  SURI_NTK_TRACE,        /* K: (n1, n2), sum over k of Theta_kk(x_i, x_j) */
  SURI_NTK_DIAG          /* K: (n1, C), Theta_kk(x_i, x_i); x2 must be NULL */
} suri_ntk_mode;

typedef struct suri_ntk_opts {
  suri_ntk_mode mode;    /* default SURI_NTK_TRACE */
  int layer;             /* -1 (default): all parameters (norm gamma/beta included); i >= 0:
                            only the W and b of layer table entry i */
  size_t max_bytes;      /* scratch budget (default 256 MiB); the output K is the caller's */
} suri_ntk_opts;
suri_ntk_opts suri_ntk_defaults(void);

/* Empirical NTK of model m at its current parameters, eval mode, by the per-layer Gram trick:
 *   Theta_kk'(x, x') = sum_l (delta_l^k(x) . delta_l^k'(x')) (sw_l^2 h_{l-1}(x) . h_{l-1}(x')
 *                      + sb_l^2 [layer has a bias]) + norm-layer terms,
 * delta_l^k = d f_k / d u_l from batched backward passes with seed e_k in every row. Norm
 * layers (batch norm in eval mode, layer norm) add their gamma/beta per-sample gradient inner
 * products sum_j dy_j dy'_j (xh_j xh'_j + 1), dy = d f_k / d(norm output). Samples are
 * processed in blocks sized so the scratch stays within max_bytes (SURI_ERR_NOMEM with the
 * estimate if one sample per block does not fit). x1: (n1, IN); x2: (n2, IN) or NULL for
 * x2 = x1 (then K is exactly symmetric). K layout: see suri_ntk_mode. */
suri_status suri_ntk_gram(suri_model *m, int64_t n1, const suri_real *x1, int64_t n2,
                          const suri_real *x2, const suri_ntk_opts *o, double *K);
/* Scratch bytes the Gram needs with blocks of `block` samples (for the CLI's estimates). */
size_t suri_ntk_scratch_bytes(const suri_model *m, suri_ntk_mode mode, int layer, int64_t block);

/* ==== infinite-width kernels ================================================================ */
/* An MLP with L hidden layers of activation act and a linear output, in one of the three
 * parametrizations of suri/nn.h. Widths matter only for standard and mean-field (their NTK
 * grows with / shrinks with the width); the NTK parametrization has a width-free limit. */
typedef struct suri_kernel_spec {
  int hidden;                          /* L >= 0 */
  int64_t width[SURI_MLP_MAX_LAYERS + 1]; /* width[0] = input dim n_0; width[1..L] hidden */
  suri_act act;
  double leaky_slope;
  double sw2, sb2;
  suri_param_kind param;
  int quad_nodes;                      /* Gauss-Hermite nodes per dimension (default 64) for
                                          activations without a closed form */
} suri_kernel_spec;
/* From a model spec; refuses norm layers (SURI_ERR_UNSUPPORTED): they have no kernel here. */
suri_status suri_kernel_spec_from_model(const suri_model_spec *m, suri_kernel_spec *out);

/* Gaussian moments of an activation: for (u, v) ~ N(0, [[s11, s12], [s12, s22]]),
 * e_phi = E[phi(u) phi(v)], e_dphi = E[phi'(u) phi'(v)]. Closed forms for relu and leaky relu
 * (arc-cosine kernels, Cho & Saul 2009), erf (Williams 1997) and identity; Gauss-Hermite
 * quadrature with `quad_nodes` nodes per dimension otherwise. */
suri_status suri_act_gauss_moments(suri_act act, double leaky_slope, double s11, double s12,
                                   double s22, int quad_nodes, double *e_phi, double *e_dphi);

/* Infinite-width NNGP kernel Sigma^{L+1}(x, x') and NTK Theta^{L+1}(x, x') of a scalar output
 * (for C outputs both are K (x) I_C). x1: (n1, n_0), x2: (n2, n_0) or NULL (= x1);
 * nngp, ntk: (n1, n2), either may be NULL. Recursion in docs/analysis.md (ntk.md section 3). */
suri_status suri_kernel_infinite(const suri_kernel_spec *s, int64_t n1, const suri_real *x1,
                                 int64_t n2, const suri_real *x2, double *nngp, double *ntk);

#ifdef __cplusplus
}
#endif
#endif
