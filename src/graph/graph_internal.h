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
  suri_real *grad;   /* op/wanted input: own buffer; param: view into grads */
  suri_real *tan;    /* op: own tangent buffer */
  const suri_real *tan_view; /* current tangent (NULL = zero) */
  void *scratch;
  size_t scratch_bytes;
  int touched;       /* backward: gradient received something */
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
};

/* Live shape of node i for the current batch. */
void suri_graph_live_shape(const suri_graph *g, const graph_node *nd, suri_shape *out);

#endif
