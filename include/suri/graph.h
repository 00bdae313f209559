/* suri/graph.h - static computation graph: build by chained calls, compile once per maximum
 * batch, then forward / backward (seeded from any node) / jvp (forward-mode tangents).
 *
 * Usage (one dense layer and a loss):
 *   suri_graph *g = suri_graph_new();
 *   suri_node x = suri_input(g, "x", 1, (int64_t[]){784});      // x: (B, 784)
 *   suri_node y = suri_labels(g, "y");                           // y: (B) int32
 *   suri_node W = suri_param(g, "fc1.weight", 2, (int64_t[]){10, 784});
 *   suri_node b = suri_param(g, "fc1.bias", 1, (int64_t[]){10});
 *   suri_node z = suri_dense(g, x, W, b, 1.0, 1.0);              // z: (B, 10)
 *   suri_node L = suri_softmax_ce(g, z, y);                      // L: scalar mean loss
 *   if (suri_graph_compile(g, 128) != SURI_OK) ...               // first build error, if any
 *   suri_graph_bind_params(g, params, grads);                   // flat blocks, see param_count
 *   ... fill suri_graph_value(g, x), suri_graph_labels(g, y); suri_graph_set_batch(g, 128);
 *   suri_graph_forward(g); suri_graph_backward(g, L, NULL);
 *
 * Nodes are "batched" when their first dimension is the batch: inputs, labels and everything
 * computed from them. Shapes are given without the batch dimension for batched nodes.
 * Build errors are sticky: the first one is kept, later builder calls return an invalid node,
 * and suri_graph_compile reports it with both shapes named.
 * Ownership: the graph owns every node buffer; pointers it returns are borrowed and stay valid
 * until suri_graph_free. Parameter, gradient and state blocks are owned by the caller.
 */
#ifndef SURI_GRAPH_H
#define SURI_GRAPH_H

#include "suri/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SURI_MAX_RANK 4
#define SURI_MAX_INPUTS 5

typedef struct suri_graph suri_graph;

/* Typed index of a node; id < 0 means invalid (a build error happened). */
typedef struct suri_node {
  int32_t id;
} suri_node;

static inline int suri_node_ok(suri_node n) { return n.id >= 0; }

typedef struct suri_shape {
  int rank;                    /* number of dimensions, batch included (0 = scalar) */
  int64_t dim[SURI_MAX_RANK];  /* dim[0] is the batch for batched nodes */
  int batched;                 /* 1 if dim[0] is the (variable) batch dimension */
} suri_shape;

/* Number of elements (product of dims; 1 for a scalar). */
int64_t suri_shape_numel(const suri_shape *s);
/* Writes "(B, 784)" style text into buf (B marks the batch dimension). */
void suri_shape_str(const suri_shape *s, char *buf, size_t n);

typedef enum suri_op_kind {
  SURI_OP_DENSE,      /* (x (B,IN), W (OUT,IN) [, b (OUT)]) -> sw * x W^T + sb * b */
  SURI_OP_ADD,        /* (a, b) same shape -> a + b */
  SURI_OP_SUB,        /* (a, b) same shape -> a - b */
  SURI_OP_MUL,        /* (a, b) same shape -> a * b */
  SURI_OP_SCALE,      /* (x) -> f[0] * x */
  SURI_OP_BIAS_ADD,   /* (x (B,N), b (N)) -> x + b */
  SURI_OP_RELU,
  SURI_OP_LEAKY_RELU, /* f[0] = negative slope */
  SURI_OP_TANH,
  SURI_OP_SIGMOID,
  SURI_OP_GELU,       /* erf form: x * Phi(x) */
  SURI_OP_ERF,
  SURI_OP_SOFTPLUS,   /* log(1 + e^x), stable */
  SURI_OP_IDENTITY,
  SURI_OP_SUM,        /* i[0] = 0: all elements -> scalar; 1: each row -> (B, 1) */
  SURI_OP_MEAN,       /* as SUM, divided by the number of summed elements */
  SURI_OP_RESHAPE,    /* i[0] = new rank (batch excluded), i[1..] = new dims; same numel */
  SURI_OP_BATCH_NORM, /* (x (B,N), gamma (N), beta (N), running_mean (N), running_var (N));
                         f[0] = eps, f[1] = momentum; train: batch stats, updates running
                         stats (unbiased variance, as PyTorch); eval: running stats */
  SURI_OP_LAYER_NORM, /* (x (B,N), gamma (N), beta (N)); f[0] = eps */
  SURI_OP_DROPOUT,    /* (x); f[0] = drop probability; inverted scaling; identity in eval */
  SURI_OP_SOFTMAX_CE, /* (logits (B,C), labels (B) int32) -> scalar mean cross-entropy */
  SURI_OP_MSE,        /* (pred, target) same shape -> scalar mean over all elements of (p-t)^2 */
  SURI_OP_LOGISTIC,   /* (logit (B,1), target (B,1) in {0,1}) -> scalar mean BCE-with-logits */
  SURI_OP_COUNT
} suri_op_kind;

/* Attributes of an op node: meaning per kind, see above. */
typedef struct suri_op_attr {
  double f[4];
  int64_t i[SURI_MAX_RANK + 1];
} suri_op_attr;

/* ---- building ----------------------------------------------------------------------------- */
suri_graph *suri_graph_new(void);
void suri_graph_free(suri_graph *g);

/* Batched real input: shape (B, dims...). rank excludes the batch (0 <= rank < SURI_MAX_RANK). */
suri_node suri_input(suri_graph *g, const char *name, int rank, const int64_t *dims);
/* Batched int32 label input: shape (B). */
suri_node suri_labels(suri_graph *g, const char *name);
/* Trainable parameter: a view into the flat parameter block, offsets assigned in creation order
 * (each tensor starts at a multiple of 16 elements, so views stay 64-byte aligned). */
suri_node suri_param(suri_graph *g, const char *name, int rank, const int64_t *dims);
/* Non-trainable state (batch-norm running statistics): a view into the flat state block. */
suri_node suri_state(suri_graph *g, const char *name, int rank, const int64_t *dims);

/* Generic op builder; the named builders below call it. */
suri_node suri_graph_op(suri_graph *g, suri_op_kind kind, int n_in, const suri_node *in,
                        const suri_op_attr *attr);

suri_node suri_dense(suri_graph *g, suri_node x, suri_node W, suri_node b, double scale_w,
                     double scale_b); /* b may be invalid ({-1}) for no bias */
suri_node suri_add(suri_graph *g, suri_node a, suri_node b);
suri_node suri_sub(suri_graph *g, suri_node a, suri_node b);
suri_node suri_mul(suri_graph *g, suri_node a, suri_node b);
suri_node suri_scale(suri_graph *g, suri_node x, double s);
suri_node suri_bias_add(suri_graph *g, suri_node x, suri_node b);
suri_node suri_relu(suri_graph *g, suri_node x);
suri_node suri_leaky_relu(suri_graph *g, suri_node x, double slope);
suri_node suri_tanh(suri_graph *g, suri_node x);
suri_node suri_sigmoid(suri_graph *g, suri_node x);
suri_node suri_gelu(suri_graph *g, suri_node x);
suri_node suri_erf(suri_graph *g, suri_node x);
suri_node suri_softplus(suri_graph *g, suri_node x);
suri_node suri_identity(suri_graph *g, suri_node x);
suri_node suri_sum(suri_graph *g, suri_node x, int per_row);
suri_node suri_mean(suri_graph *g, suri_node x, int per_row);
suri_node suri_reshape(suri_graph *g, suri_node x, int rank, const int64_t *dims);
suri_node suri_batch_norm(suri_graph *g, suri_node x, suri_node gamma, suri_node beta,
                          suri_node run_mean, suri_node run_var, double eps, double momentum);
suri_node suri_layer_norm(suri_graph *g, suri_node x, suri_node gamma, suri_node beta,
                          double eps);
suri_node suri_dropout(suri_graph *g, suri_node x, double p);
suri_node suri_softmax_ce(suri_graph *g, suri_node logits, suri_node labels);
suri_node suri_mse(suri_graph *g, suri_node pred, suri_node target);
suri_node suri_logistic(suri_graph *g, suri_node logit, suri_node target);

/* Marks a batched real input as needing its gradient (off by default, to skip the work). */
void suri_graph_want_input_grad(suri_graph *g, suri_node input);

/* Allocates every buffer for batches up to max_batch. Returns the first build error if any.
 * After compile the graph's structure is frozen. */
suri_status suri_graph_compile(suri_graph *g, int64_t max_batch);

/* ---- introspection ------------------------------------------------------------------------ */
int32_t suri_graph_node_count(const suri_graph *g);
const suri_shape *suri_graph_shape(const suri_graph *g, suri_node n); /* max-batch shape */
const char *suri_graph_node_name(const suri_graph *g, suri_node n);  /* "" for op nodes */
const char *suri_graph_node_kind(const suri_graph *g, suri_node n);  /* op name or "input" ... */
size_t suri_graph_param_count(const suri_graph *g); /* elements of the flat parameter block */
size_t suri_graph_state_count(const suri_graph *g); /* elements of the flat state block */
size_t suri_graph_param_offset(const suri_graph *g, suri_node param); /* or state offset */
int64_t suri_graph_max_batch(const suri_graph *g);
/* Bytes of node buffers allocated by compile. */
size_t suri_graph_bytes(const suri_graph *g);

/* ---- running ------------------------------------------------------------------------------ */
/* Binds the caller's flat blocks (param_count elements each; state: state_count). grads may be
 * NULL when no backward pass is run. Parameter gradients ACCUMULATE into grads. */
void suri_graph_bind_params(suri_graph *g, suri_real *params, suri_real *grads);
void suri_graph_bind_state(suri_graph *g, suri_real *state);
/* Lets the passes read a batched real input from the caller's rows x (the live batch, row-major,
 * borrowed and never written) instead of copying them into the input's buffer; x = NULL goes
 * back to the buffer. suri_graph_value keeps returning the input's own buffer, so bind, run
 * the passes and unbind (suri_model_predict does, chunk by chunk). SURI_ERR_ARG if `input` is
 * not a real input node. */
suri_status suri_graph_bind_input(suri_graph *g, suri_node input, const suri_real *x);

/* Actual batch for the next runs, 1 <= b <= max_batch. */
suri_status suri_graph_set_batch(suri_graph *g, int64_t b);
int64_t suri_graph_batch(const suri_graph *g);
/* Training mode (dropout active, batch norm uses and updates batch statistics). Default 1. */
void suri_graph_set_training(suri_graph *g, int training);
int suri_graph_training(const suri_graph *g);

/* Parameter gradients: added to the bound grads block by each backward pass (0, the default),
 * or overwritten (1): the pass then writes every parameter gradient, zero for parameters it
 * does not reach, so the caller needs no memset of the block before it. */
void suri_graph_set_grad_overwrite(suri_graph *g, int overwrite);
/* Dense + point-wise activation fusion (default on). Values and gradients are bitwise the same
 * either way; off is for tests and measurements. */
void suri_graph_set_fusion(suri_graph *g, int on);

/* Plain SGD folded into backward (off by default; SURI_ERR_ARG for an lr that is negative or
 * not finite). While on, each backward pass updates every foldable parameter in place,
 * W -= lr * dL/dW, inside its weight-gradient GEMM (beta = 1 on W), instead of writing dL/dW:
 * the gradient block keeps its old contents for those parameters, and the update pass that
 * would read that gradient and W again is saved. Other parameters get their gradients as
 * usual. A foldable parameter is the weight of a dense node that no other op reads (see
 * suri_graph_param_foldable); its node's input gradient is computed from the weight before the
 * update. The result differs from backward + suri_sgd_step by rounding only (the GEMM adds
 * (-lr sw) times its sum to W, where the separate update rounds sw sum and lr g on their own).
 * With lr = 0 a BLAS may skip the product (alpha = 0; OpenBLAS's Haswell kernels do), and the
 * weights then stay as they are even where the gradient is not finite. Meant to be switched on around one backward pass
 * (suri_model_train_step does, for lr > 0) and off after it. */
suri_status suri_graph_set_sgd_fold(suri_graph *g, int on, double lr);
/* 1 if backward with SGD folding updates parameter node `param` in place (compiled graphs). */
int suri_graph_param_foldable(const suri_graph *g, suri_node param);

/* Dropout randomness: stream and a call counter advanced by each training forward pass. */
void suri_graph_set_rng(suri_graph *g, suri_rng rng);
uint64_t suri_graph_rng_calls(const suri_graph *g);
void suri_graph_set_rng_calls(suri_graph *g, uint64_t calls);

/* Value buffer of a node (row-major, max-batch sized; the first `batch` rows are live).
 * Write inputs here before forward. Borrowed. */
suri_real *suri_graph_value(suri_graph *g, suri_node n);
int32_t *suri_graph_labels(suri_graph *g, suri_node labels);
/* Gradient buffer of a node after backward (NULL if the node needs no gradient). */
suri_real *suri_graph_grad(suri_graph *g, suri_node n);
/* Tangent of a node after jvp (NULL if it is identically zero). */
const suri_real *suri_graph_tangent(suri_graph *g, suri_node n);

/* Runs every op node in topological order. */
suri_status suri_graph_forward(suri_graph *g);
/* Reverse pass from node `from` with seed dL/d(from) (NULL = ones, the usual choice for a
 * scalar loss). Gradients of intermediate nodes are recomputed (nodes the pass does not reach
 * read as zero); parameter gradients accumulate into the bound grads block (see
 * suri_graph_set_grad_overwrite); input gradients (if wanted) are overwritten.
 * Requires a forward pass on the same batch first. */
suri_status suri_graph_backward(suri_graph *g, suri_node from, const suri_real *seed);
/* Forward-mode tangents: param_tangent is a flat vector laid out like the parameters (NULL =
 * zero); input tangents come from suri_graph_set_input_tangent. Requires a forward pass. */
suri_status suri_graph_jvp(suri_graph *g, const suri_real *param_tangent);
/* Tangent of a batched real input for the next jvp (NULL = zero). Borrowed, not copied. */
void suri_graph_set_input_tangent(suri_graph *g, suri_node input, const suri_real *tangent);
/* Forward and backward passes run so far (callers that reuse node values compare it). */
uint64_t suri_graph_pass_count(const suri_graph *g);

/* ---- exact Hessian-vector products (Pearlmutter 1994; src/graph/hvp.c) -------------------- */
/* 1 if every op that the scalar node `loss` depends on through the parameters has a second-
 * order (backward-tangent) rule; otherwise 0 and *missing (if not NULL) names the first op
 * without one (batch_norm, layer_norm). */
int suri_graph_hvp_supported(const suri_graph *g, suri_node loss, const char **missing);
/* Allocates the gradient-tangent buffers (one per op node with a gradient, the size of its
 * gradient buffer) that suri_graph_hvp needs; graphs used only for training never pay for
 * them. Idempotent. SURI_ERR_UNSUPPORTED naming the op when the loss depends on an op without
 * a rule; SURI_ERR_ARG when `loss` is not a scalar depending on the parameters. */
suri_status suri_graph_hvp_prepare(suri_graph *g, suri_node loss);
/* hv (param_count, overwritten; padding 0) = H v, the exact Hessian of the scalar node `loss`
 * with respect to the parameters times the flat parameter direction v (NULL = zero), by a jvp
 * pass along v, a backward pass from `loss` (seed 1) and the reverse sweep of gradient
 * tangents. Input tangents set by suri_graph_set_input_tangent join the direction (set them to
 * NULL for the parameter Hessian). Requires suri_graph_hvp_prepare and a forward pass on the
 * current batch. The backward pass is skipped when the last pass was already a seed-ones
 * backward from `loss` (repeated products at one point); otherwise it adds (or writes, see
 * suri_graph_set_grad_overwrite) the loss gradient to the bound grads block like
 * suri_graph_backward. Node tangents and gradients are overwritten. For ReLU-type activations
 * the result is the almost-everywhere Hessian (f'' = 0), as autograd's double backward. */
suri_status suri_graph_hvp(suri_graph *g, suri_node loss, const suri_real *v, suri_real *hv);

#ifdef __cplusplus
}
#endif
#endif
