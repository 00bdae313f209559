/* nn_internal.h - the model struct, shared by the model's build and run files. */
#ifndef SURI_NN_INTERNAL_H
#define SURI_NN_INTERNAL_H

#include "suri/nn.h"

struct suri_model {
  suri_model_spec spec;
  suri_graph *g;
  suri_node x, target, out, loss;
  suri_real *params, *grads, *state;
  size_t nparam, nstate, numel;
  int n_layers;
  suri_layer layers[SURI_MLP_MAX_LAYERS];
  int n_tensors;
  suri_model_tensor tensors[4 * SURI_MLP_MAX_LAYERS];
  suri_node tensor_nodes[4 * SURI_MLP_MAX_LAYERS];
  double *in_mean, *in_std; /* (IN) input standardisation, or NULL */
};

#endif
