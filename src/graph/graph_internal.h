/* graph_internal.h - node storage shared by the graph's build, compile and run files. */
#ifndef SURI_GRAPH_INTERNAL_H
#define SURI_GRAPH_INTERNAL_H

#include "../ops/op.h"

typedef enum node_type { NODE_INPUT, NODE_LABELS, NODE_PARAM, NODE_STATE, NODE_OP } node_type;

typedef struct graph_node {
  node_type type;
  suri_op_kind op;
  int n_in;
  int32_t in[SURI_MAX_INPUTS];
  suri_op_attr attr;
  suri_shape shape; /* max-batch shape */
  char name[64];
  size_t offset;     /* param/state: offset in the flat block */
  int needs_grad;    /* gradient flows into this node */
  suri_real *value;  /* op/input: own buffer; param/state: view (set on bind) */
  int32_t *ivalue;   /* labels */
  const suri_real *bound; /* input: caller's rows the passes read instead of value, or NULL */
  suri_real *grad;   /* op/wanted input: own buffer; param: view into grads */
  suri_real *tan;    /* op: own tangent buffer */
  const suri_real *tan_view; /* current tangent (NULL = zero) */
  suri_real *gtan;   /* op needing a gradient: tangent of grad (hvp.c; only after
                        suri_graph_hvp_prepare, else NULL) */
  void *scratch;
  size_t scratch_bytes;
  int touched;       /* backward: gradient received something (its first writer overwrote) */
  int bias_done;     /* backward: a fused activation already wrote this dense node's db */
  int32_t n_consumers; /* op nodes reading this node's value */
  int foldable;      /* param: a dense weight read by that dense node only, so backward may update
                        it in place (suri_graph_set_sgd_fold) */
  int32_t fuse;      /* dense: id of the activation fused into it; activation: id of its dense
                        producer; -1 = not fused (see graph.c, plan_fusion) */
  suri_shape live;   /* shape with the current batch */
  suri_rng rng;      /* op: dropout stream of this node */
  suri_op_ctx ctx;   /* op: prepared context (shapes, value buffers); per-call fields are set
                        by run.c before each kernel call */
} graph_node;

struct suri_graph {
  graph_node *nodes;
  int32_t n, cap;
  suri_status err;     /* first build error (sticky) */
  char errmsg[512];
  int compiled;
  int64_t max_batch, batch;
  size_t nparam, nstate;
  suri_real *params, *grads, *state;
  int training;
  suri_rng rng;
  uint64_t rng_calls;
  void *block; /* all node buffers */
  size_t bytes;
  int grad_overwrite; /* backward overwrites parameter gradients instead of adding */
  int fusion;         /* dense + activation fusion enabled (default 1) */
  int sgd_fold;       /* backward updates foldable weights in place (suri_graph_set_sgd_fold) */
  double sgd_lr;      /* their learning rate */
  uint64_t passes;    /* forward and backward passes run (suri_graph_pass_count) */
  int32_t last_bwd;   /* node the last pass was a seed-ones backward from; -1 otherwise */
  suri_real *swap_tmp; /* transient buffer of swapped dense products (src/ops/dense_swap.h) */
  void *gtan_block;   /* gradient tangents (hvp.c), allocated by suri_graph_hvp_prepare */
};

/* Live shape of node i for the current batch. */
void suri_graph_live_shape(const suri_graph *g, const graph_node *nd, suri_shape *out);
/* Fills the prepared contexts of every op node from the current buffers and bindings. */
void suri_graph_prepare_ctx(suri_graph *g);

#endif
