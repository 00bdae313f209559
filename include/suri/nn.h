/* suri/nn.h - models: an MLP built from a spec string, its parametrization and initialisation,
 * the flat parameter/gradient/state blocks, and the layer table.
 *
 * Spec grammar: "mlp:IN-H1-...-OUT[,key=value...]" with keys
 *   act=relu|leaky_relu|tanh|sigmoid|gelu|erf|softplus|identity   (default relu)
 *   norm=none|batch|layer|lastbatch   (batch/layer: after every hidden dense layer, before the
 *        activation; lastbatch: batch norm on the output layer only (Karakida et al. 2019))
 *   param=standard|ntk|meanfield      (default standard)
 *   sw2=X, sb2=X                      (weight/bias variances; defaults depend on act, below)
 *   loss=ce|mse|logistic              (default ce; logistic needs OUT = 1)
 *   dropout=P                         (after every hidden activation; default 0)
 * Parametrizations (h^0 = x, u^l = pre-activation of layer l, fan_in = width of h^{l-1}):
 *   standard:  u = W h + b,                          W ~ N(0, sw2/fan_in), b ~ N(0, sb2)
 *   ntk:       u = sqrt(sw2/fan_in) W h + sqrt(sb2) b,  W, b ~ N(0, 1)
 *   meanfield: hidden layers as ntk; the output layer is u = (1/M) a h (no bias) with
 *              a ~ N(0, 1), M = width of the last hidden layer, so a two-layer net computes
 *              f(x) = (1/M) sum_j a_j act(w_j . x sqrt(sw2/d) + ...).
 * Default (sw2, sb2): relu, leaky_relu, gelu: (2, 0); tanh, erf, sigmoid, softplus,
 * identity: (1, 0). With sb2 = 0 biases start at zero (standard) or are multiplied by zero
 * (ntk: they then stay inert, as in the theory).
 * Safetensors keys: fc1.weight (OUT, IN), fc1.bias (OUT), ..., bn1.weight, bn1.bias,
 * bn1.running_mean, bn1.running_var (torch.nn.BatchNorm1d names), ln1.weight, ln1.bias.
 */
#ifndef SURI_NN_H
#define SURI_NN_H

#include "suri/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SURI_MLP_MAX_LAYERS 32

typedef enum suri_act {
  SURI_ACT_RELU, SURI_ACT_LEAKY_RELU, SURI_ACT_TANH, SURI_ACT_SIGMOID, SURI_ACT_GELU,
  SURI_ACT_ERF, SURI_ACT_SOFTPLUS, SURI_ACT_IDENTITY, SURI_ACT_COUNT
} suri_act;
typedef enum suri_norm { SURI_NORM_NONE, SURI_NORM_BATCH, SURI_NORM_LAYER, SURI_NORM_LASTBATCH } suri_norm;
typedef enum suri_param_kind { SURI_PARAM_STANDARD, SURI_PARAM_NTK, SURI_PARAM_MEANFIELD } suri_param_kind;
typedef enum suri_loss_kind { SURI_LOSS_CE, SURI_LOSS_MSE, SURI_LOSS_LOGISTIC } suri_loss_kind;

typedef struct suri_model_spec {
  int n_widths;                          /* IN, hidden..., OUT: number of entries (>= 2) */
  int64_t width[SURI_MLP_MAX_LAYERS + 1];
  suri_act act;
  suri_norm norm;
  suri_param_kind param;
  double sw2, sb2;
  suri_loss_kind loss;
  double dropout;
  double leaky_slope;                    /* 0.01, as torch */
  double bn_eps, bn_momentum;            /* 1e-5, 0.1 as torch */
  double ln_eps;                         /* 1e-5 */
} suri_model_spec;

/* Parses a spec string; SURI_ERR_ARG with a message naming the bad part. */
suri_status suri_model_spec_parse(const char *text, suri_model_spec *out);
/* Canonical text form (every option written out). */
void suri_model_spec_format(const suri_model_spec *s, char *buf, size_t n);
const char *suri_act_name(suri_act a);
const char *suri_norm_name(suri_norm n);
const char *suri_param_name(suri_param_kind p);
const char *suri_loss_name(suri_loss_kind l);

/* One dense layer of the model (the layer table used by analysis, pruning, K-FAC, files). */
typedef struct suri_layer {
  char name[16];          /* "fc1" ... */
  int64_t in, out;        /* W: (out, in) */
  size_t w_offset;        /* offset of W in the flat parameter block */
  size_t b_offset;        /* offset of b, or SIZE_MAX if the layer has no bias */
  double scale_w, scale_b;/* multipliers of the parametrization */
  suri_node input;        /* h^{l-1}: the layer's input activation node, (B, in) */
  suri_node preact;       /* u^l: the dense output node, (B, out) */
  suri_node weight, bias; /* param nodes (bias invalid if none) */
} suri_layer;

/* A named tensor of the model for files: parameters and state (running statistics). */
typedef struct suri_model_tensor {
  char name[32];
  int is_state;           /* 0: in the parameter block, 1: in the state block */
  size_t offset;
  int rank;
  int64_t dim[2];
} suri_model_tensor;

typedef struct suri_model suri_model;

/* Builds and compiles the graph for batches up to max_batch and allocates zeroed parameter,
 * gradient and state blocks. Parameters are not initialised: call suri_model_init. */
suri_status suri_model_new(const suri_model_spec *spec, int64_t max_batch, suri_model **out);
void suri_model_free(suri_model *m);
/* Draws parameters from the parametrization's distribution (stream SURI_RNG_INIT of seed),
 * sets batch-norm gamma=1, beta=0, running mean 0, var 1. Same seed, same parameters. */
suri_status suri_model_init(suri_model *m, uint64_t seed);

const suri_model_spec *suri_model_get_spec(const suri_model *m);
suri_graph *suri_model_graph(suri_model *m);
suri_node suri_model_input(const suri_model *m);   /* x: (B, IN) */
suri_node suri_model_target(const suri_model *m);  /* labels (B) int32 for ce, else (B, OUT) */
suri_node suri_model_output(const suri_model *m);  /* f(x): (B, OUT) logits / predictions */
suri_node suri_model_loss(const suri_model *m);    /* scalar */
suri_real *suri_model_params(suri_model *m);
suri_real *suri_model_grads(suri_model *m);
suri_real *suri_model_state(suri_model *m);
size_t suri_model_param_count(const suri_model *m);  /* block length (with alignment padding) */
size_t suri_model_param_numel(const suri_model *m);  /* trainable scalars (no padding) */
size_t suri_model_state_count(const suri_model *m);
int64_t suri_model_max_batch(const suri_model *m);
int suri_model_layer_count(const suri_model *m);
const suri_layer *suri_model_layer(const suri_model *m, int i);
int suri_model_tensor_count(const suri_model *m);
const suri_model_tensor *suri_model_tensor_at(const suri_model *m, int i);

/* Copies a batch in: x (b, IN); labels (b) for ce, targets (b, OUT) for mse/logistic (the
 * other pointer may be NULL). Checks labels are in [0, OUT). x may be the input node's own
 * buffer (suri_graph_value of suri_model_input), filled in place: nothing is copied then. */
suri_status suri_model_set_batch(suri_model *m, int64_t b, const suri_real *x,
                                 const int32_t *labels, const suri_real *targets);
/* Training step core: forward (training mode), zero grads, backward of the loss.
 * Returns the mean loss of the batch in *loss. */
suri_status suri_model_loss_grad(suri_model *m, double *loss);
/* Inference (eval mode) over n rows of x in chunks of max_batch: out (n, OUT). */
suri_status suri_model_predict(suri_model *m, int64_t n, const suri_real *x, suri_real *out);
/* Mean loss and accuracy (classification; for mse accuracy is NaN) over a set, eval mode. */
suri_status suri_model_evaluate(suri_model *m, int64_t n, const suri_real *x,
                                const int32_t *labels, const suri_real *targets, double *loss,
                                double *accuracy);

/* Number of correct argmax predictions in out (b, C) against labels. */
int64_t suri_count_correct(int64_t b, int64_t C, const suri_real *out, const int32_t *labels);

/* ---- model files (safetensors) ------------------------------------------------------------ */
/* Saves parameters and state as safetensors (F32 in float builds, F64 in double builds) with
 * metadata: format "suri", format_version, suri_version, model_spec (canonical), param, act,
 * seed, and the extra key/value pairs given (n_extra pairs; may be 0). Atomic write. */
suri_status suri_model_save(const suri_model *m, const char *path, uint64_t seed,
                            int n_extra, const char *const *keys, const char *const *values);
/* Loads a model saved by suri_model_save (or any safetensors file with a "model_spec" metadata
 * entry and every tensor of that spec, F32/F64/F16/BF16), compiled for max_batch. Every tensor
 * is checked for shape and finiteness; the message names the file and tensor. If seed is not
 * NULL it receives the metadata seed (0 if absent). */
suri_status suri_model_load(const char *path, int64_t max_batch, suri_model **out,
                            uint64_t *seed);
/* Input standardisation the model was trained with (norm=standard data): callers feed
 * x = (raw - mean) / std. mean, std: (IN) doubles, std > 0; both NULL clears it. Saved in model
 * files as the F64 tensors "input_norm.mean" and "input_norm.std" (not part of the network:
 * skip them when loading into torch), so eval and predict can apply the training statistics. */
suri_status suri_model_set_input_norm(suri_model *m, const double *mean, const double *std);
/* 1 and the borrowed (IN) arrays if the model has input statistics, else 0 (pointers NULL). */
int suri_model_input_norm(const suri_model *m, const double **mean, const double **std);

/* Copies parameters and state from `src` (same spec) into `dst`. */
suri_status suri_model_copy_params(suri_model *dst, const suri_model *src);

#ifdef __cplusplus
}
#endif
#endif
