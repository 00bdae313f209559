/* suri/theory.h - mean-field statistics of the Fisher information of a random MLP, predicted
 * from its spec alone (Karakida, Akaho & Amari, AISTATS 2019 and NeurIPS 2019;
 * docs/algorithms/fisher_statistics.md): the order parameters q, qhat, qtil and kappa_1, kappa_2,
 * the mean eigenvalue, second moment and largest eigenvalue of the Fisher, the largest
 * eigenvalue with batch-norm centring in the last layer, and the critical learning rate
 * 2 / lambda_max. The mathematics, scalings and how to compare with measurements are in
 * docs/analysis.md, section "Theory".
 *
 * Usage (predicted sharpness of a network over T = 1000 samples of standardised data):
 *   suri_model_spec s;
 *   suri_model_spec_parse("mlp:784-400-400-10,act=relu,loss=mse", &s);
 *   suri_theory_opts o = suri_theory_defaults();
 *   suri_theory_input_stats(train, 0, &o.input_q1, &o.input_q2);  // or keep 1, 0
 *   suri_fisher_theory th;
 *   if (suri_theory_fisher(&s, 1000, &o, &th) != SURI_OK) ... suri_last_error() ...
 *   printf("lambda_max %g, critical lr %g\n", th.lambda_max, th.critical_lr);
 *
 * What the prediction is of. F_T = (1/T) sum_t sum_k grad f_k(x_t) grad f_k(x_t)^T, the Fisher of
 * the unit-variance Gaussian output model N(f, I) over the C outputs on T samples (T = 0: the
 * true Fisher, T -> infinity), at random initialisation, to leading order in the width. In
 * suri/analysis.h this is exactly SURI_CURV_FISHER of a loss=mse model over T samples (eval
 * mode); for a ce model that operator is the softmax Fisher, which this does not predict (use
 * critical_lr_loss for the model's own loss). All numbers are for the mean-field assumption
 * (forward and backward weights independent; inputs with E x_i^2 = input_q1 and the overlap
 * E x_i x'_i = input_q2 of different samples).
 *
 * Supported specs: at least one hidden layer; any activation (closed forms for relu, leaky relu,
 * erf, identity; kink-aware polar Gauss quadrature otherwise); hidden widths may differ; the
 * standard, NTK and mean-field parametrizations (the last two through the per-sample Gram:
 * docs); norm=none or norm=lastbatch (the order parameters are those of the dense layers; in
 * eval mode at initialisation the last-layer batch norm is the identity up to 1/sqrt(1 + eps));
 * dropout (the theory describes the network with dropout off). norm=batch and norm=layer (in
 * hidden layers) are refused with SURI_ERR_UNSUPPORTED.
 */
#ifndef SURI_THEORY_H
#define SURI_THEORY_H

#include "suri/core.h"
#include "suri/data.h"
#include "suri/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Index conventions: l = 1..L for the dense layers (l = L is the output layer, width C);
 * index 0 of qhat is the input. Entries beyond L are 0. */
typedef struct suri_fisher_theory {
  int L;                                /* number of dense layers (n_widths - 1) */
  double q1[SURI_MLP_MAX_LAYERS + 1];   /* pre-activation variance q_1^l = E (u_i^l)^2, l = 1..L */
  double q2[SURI_MLP_MAX_LAYERS + 1];   /* overlap q_2^l = E u_i^l(x) u_i^l(x'), x != x' */
  double qhat1[SURI_MLP_MAX_LAYERS + 1];/* activation order parameters (1/M_l) sum_i h_i^2 and */
  double qhat2[SURI_MLP_MAX_LAYERS + 1];/* (1/M_l) sum_i h_i(x) h_i(x'), l = 0..L-1 (0 = input) */
  double qtil1[SURI_MLP_MAX_LAYERS + 1];/* backward order parameters: sums over the units of */
  double qtil2[SURI_MLP_MAX_LAYERS + 1];/* delta_i^l(x)^2 and delta_i^l(x) delta_i^l(x'),
                                           delta^l = d f_k / d u^l for one output k; l = 1..L */
  double alpha;                         /* sum_{l=1..L-1} alpha_l alpha_{l-1}, alpha_l = M_l / M:
                                           P ~ alpha M^2 (output layer and biases excluded) */
  int64_t M;                            /* width scale: the first hidden width, width[1] */
  int64_t C;                            /* outputs */
  int64_t T;                            /* samples (0 = true Fisher, T -> infinity) */
  double kappa1, kappa2;                /* sum_l (alpha_{l-1}/alpha) qhat_i^{l-1} qtil_i^l
                                           (standard param.; others: gram_i / (alpha M)) */
  double mean_eig;                      /* m_lambda = C kappa1 / M */
  double second_moment;                 /* s_lambda = C alpha (kappa2^2 + (kappa1^2 - kappa2^2)/T)
                                           (T = 0: C alpha kappa2^2) */
  double lambda_max;                    /* alpha (kappa2 + (kappa1 - kappa2)/T) M
                                           (T = 0: alpha kappa2 M) */
  double lambda_max_bn_last;            /* alpha (kappa1 - kappa2) M / T: per-sample gradients
                                           centred over the T samples (the mean subtraction of a
                                           last-layer batch norm); 0 for T = 1, NaN for T = 0 */
  double critical_lr;                   /* 2 / lambda_max: full-batch GD on the squared loss
                                           (1/(2T)) sum_t ||f(x_t) - y_t||^2 (INFINITY if
                                           lambda_max = 0) */
  /* ---- additions beyond the leading-order formulas ---- */
  int64_t P;                            /* trainable scalars of the spec's model (exact count,
                                           = suri_model_param_numel; biases, output layer and
                                           norm parameters included) */
  double gram1, gram2;                  /* expected per-output Gram entries of the finite-width
                                           network, biases included: grad f_k(x) . grad f_k(x)
                                           and grad f_k(x) . grad f_k(x'), x != x' (= the
                                           NTK Theta(x, x), Theta(x, x') of suri_kernel_infinite
                                           for inputs with these statistics) */
  double trace;                         /* expected Tr F_T = C gram1 (any T) */
  double mean_eig_finite;               /* trace / P */
  double lambda_max_finite;             /* gram2 + (gram1 - gram2)/T (T = 0: gram2): lambda_max
                                           with the bias (and norm) terms kept; it differs from
                                           lambda_max only by O(1/M) relative unless kappa2 ~ 0,
                                           where the bias gradients alone make an O(1) outlier */
  double bn_last_var;                   /* (1 - 1/T)(q_1^L - q_2^L) (T = 0: q_1^L - q_2^L): the
                                           expected batch variance (biased, as batch norm
                                           normalises) of an output pre-activation over T
                                           samples. A training-mode last-layer batch norm also
                                           divides the centred gradients by the batch std:
                                           expect lambda_max_bn_last / (bn_last_var + bn_eps)
                                           on average over networks (docs: large scatter) */
  double loss_curv_scale;               /* lambda_max(GGN of the spec's own mean loss) ~= this
                                           x lambda_max(F) near init: mse 2/C (exact); logistic
                                           E sigma'(f); ce E_m lambda_max(E_e[diag p - p p^T]),
                                           p = softmax(m + e), by fixed-seed Monte Carlo; 0 for
                                           ce with C = 1 (approximations in expectation over
                                           networks; docs) */
  double critical_lr_loss;              /* 2 / (loss_curv_scale lambda_max_finite): the critical
                                           full-batch GD learning rate for the spec's own mean
                                           loss (what suri train minimises) */
} suri_fisher_theory;

typedef struct suri_theory_opts {
  double input_q1;  /* E x_i^2 of the inputs (mean over features), default 1 */
  double input_q2;  /* E x_i x'_i for two different samples (mean over features), default 0;
                       |input_q2| <= input_q1 */
  int quad_nodes;   /* quadrature nodes per dimension, default 64 (0 = default; 2..512) */
} suri_theory_opts;
suri_theory_opts suri_theory_defaults(void);

/* Predicted Fisher statistics of a random network with this spec on T samples (T >= 0;
 * 0 = true Fisher). o NULL = defaults. SURI_ERR_UNSUPPORTED (message naming the part) for hidden
 * norm layers or no hidden layer; SURI_ERR_ARG for bad options. */
suri_status suri_theory_fisher(const suri_model_spec *spec, int64_t T, const suri_theory_opts *o,
                               suri_fisher_theory *out);

/* Input statistics measured from data, for input_q1 / input_q2: q1 = mean of x_i^2 over samples
 * and features; q2 = mean of x_i x'_i over ordered pairs of different samples and features
 * (computed as (|sum_t x_t|^2 - sum_t |x_t|^2) / (n (n - 1) dim), in double). Uses the first
 * min(n, max_samples) samples (max_samples <= 0: all); needs at least 2. */
suri_status suri_theory_input_stats(const suri_dataset *d, int64_t max_samples, double *q1,
                                    double *q2);

/* Gaussian moments of an activation for the recursion: with (u, u') centred Gaussian,
 * Var u = Var u' = q1, Cov = q2 (|q2| <= q1):
 *   m[0] = E phi(u)^2,  m[1] = E phi(u) phi(u'),  m[2] = E phi'(u)^2,  m[3] = E phi'(u) phi'(u').
 * quadrature = 0: closed forms where they exist (relu, leaky relu, erf, identity, through
 * suri_act_gauss_moments), quadrature otherwise; quadrature = 1: always the quadrature (for
 * tests). The quadrature is exact for piecewise-linear activations (docs): 1-D generalised
 * Gauss-Laguerre in z^2/2 on z and -z; 2-D polar Gauss-Legendre in the angle, split where u or
 * u' changes sign, times Gauss-Laguerre in r^2/2 on the lines through the origin.
 * quad_nodes: 0 (64) or 2..512 per dimension. */
suri_status suri_theory_act_moments(suri_act act, double leaky_slope, double q1, double q2,
                                    int quad_nodes, int quadrature, double m[4]);

#ifdef __cplusplus
}
#endif
#endif
