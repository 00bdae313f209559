/* mlp.c - builds an MLP graph from a model spec, with the three parametrizations of
 * include/suri/nn.h (standard; NTK: Jacot, Gabriel & Hongler 2018; mean-field output scaling
 * 1/M: Mei, Montanari & Nguyen 2018, Suzuki et al.), and initialises its parameters.
 *   u^l = sw_l W^l h^{l-1} + sb_l b^l,  h^l = act(norm(u^l)),  f = u^L (optionally batch-normed)
 * W^l: (width[l], width[l-1]). Tensor names follow torch.nn conventions so that a
 * safetensors file loads into an equivalent torch module. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

static suri_node activation(suri_graph *g, suri_node u, const suri_model_spec *s) {
  switch (s->act) {
  case SURI_ACT_RELU: return suri_relu(g, u);
  case SURI_ACT_LEAKY_RELU: return suri_leaky_relu(g, u, s->leaky_slope);
  case SURI_ACT_TANH: return suri_tanh(g, u);
  case SURI_ACT_SIGMOID: return suri_sigmoid(g, u);
  case SURI_ACT_GELU: return suri_gelu(g, u);
  case SURI_ACT_ERF: return suri_erf(g, u);
  case SURI_ACT_SOFTPLUS: return suri_softplus(g, u);
  case SURI_ACT_IDENTITY:
  case SURI_ACT_COUNT: break;
  }
  return suri_identity(g, u);
}

static suri_node add_tensor(suri_model *m, const char *prefix, int l, const char *field,
                            int is_state, int rank, int64_t d0) {
  suri_model_tensor *t = &m->tensors[m->n_tensors];
  snprintf(t->name, sizeof t->name, "%s%d.%s", prefix, l, field);
  int64_t dims[2] = {d0, 0};
  suri_node n = is_state ? suri_state(m->g, t->name, rank, dims)
                         : suri_param(m->g, t->name, rank, dims);
  t->is_state = is_state;
  t->rank = rank;
  t->dim[0] = d0;
  t->dim[1] = 0;
  m->tensor_nodes[m->n_tensors++] = n;
  return n;
}

static suri_node add_weight(suri_model *m, int l, int64_t out, int64_t in) {
  suri_model_tensor *t = &m->tensors[m->n_tensors];
  snprintf(t->name, sizeof t->name, "fc%d.weight", l);
  int64_t dims[2] = {out, in};
  suri_node n = suri_param(m->g, t->name, 2, dims);
  t->is_state = 0;
  t->rank = 2;
  t->dim[0] = out;
  t->dim[1] = in;
  m->tensor_nodes[m->n_tensors++] = n;
  return n;
}

static suri_node batch_norm(suri_model *m, suri_node u, int l, int64_t n) {
  const suri_model_spec *s = &m->spec;
  suri_node gm = add_tensor(m, "bn", l, "weight", 0, 1, n);
  suri_node bt = add_tensor(m, "bn", l, "bias", 0, 1, n);
  suri_node rm = add_tensor(m, "bn", l, "running_mean", 1, 1, n);
  suri_node rv = add_tensor(m, "bn", l, "running_var", 1, 1, n);
  return suri_batch_norm(m->g, u, gm, bt, rm, rv, s->bn_eps, s->bn_momentum);
}

/* Multipliers (sw, sb) of layer l (1-based) with fan-in `in`. */
static void layer_scales(const suri_model_spec *s, int l, int last, int64_t in, double *sw,
                         double *sb) {
  if (s->param == SURI_PARAM_STANDARD) {
    *sw = 1.0, *sb = 1.0;
  } else if (s->param == SURI_PARAM_MEANFIELD && last) {
    *sw = 1.0 / (double)s->width[l - 1], *sb = 0.0;
  } else {
    *sw = sqrt(s->sw2 / (double)in), *sb = sqrt(s->sb2);
  }
}

static void build(suri_model *m) {
  const suri_model_spec *s = &m->spec;
  suri_graph *g = m->g;
  int L = s->n_widths - 1;
  int64_t in0 = s->width[0], outw = s->width[L];
  m->x = suri_input(g, "x", 1, &in0);
  m->target = s->loss == SURI_LOSS_CE ? suri_labels(g, "y") : suri_input(g, "target", 1, &outw);
  suri_node h = m->x;
  for (int l = 1; l <= L; l++) {
    int last = l == L;
    int64_t in = s->width[l - 1], out = s->width[l];
    suri_layer *ly = &m->layers[m->n_layers++];
    snprintf(ly->name, sizeof ly->name, "fc%d", l);
    ly->in = in;
    ly->out = out;
    layer_scales(s, l, last, in, &ly->scale_w, &ly->scale_b);
    ly->input = h;
    ly->weight = add_weight(m, l, out, in);
    int has_bias = !(s->param == SURI_PARAM_MEANFIELD && last);
    ly->bias = has_bias ? add_tensor(m, "fc", l, "bias", 0, 1, out) : (suri_node){-1};
    suri_node u = suri_dense(g, h, ly->weight, ly->bias, ly->scale_w, ly->scale_b);
    ly->preact = u;
    if (!last) {
      if (s->norm == SURI_NORM_BATCH) u = batch_norm(m, u, l, out);
      if (s->norm == SURI_NORM_LAYER) {
        suri_node gm = add_tensor(m, "ln", l, "weight", 0, 1, out);
        suri_node bt = add_tensor(m, "ln", l, "bias", 0, 1, out);
        u = suri_layer_norm(g, u, gm, bt, s->ln_eps);
      }
      h = activation(g, u, s);
      if (s->dropout > 0) h = suri_dropout(g, h, s->dropout);
    } else {
      if (s->norm == SURI_NORM_LASTBATCH) u = batch_norm(m, u, l, out);
      m->out = u;
    }
  }
  if (s->loss == SURI_LOSS_CE) m->loss = suri_softmax_ce(g, m->out, m->target);
  else if (s->loss == SURI_LOSS_MSE) m->loss = suri_mse(g, m->out, m->target);
  else m->loss = suri_logistic(g, m->out, m->target);
}

suri_status suri_model_new(const suri_model_spec *spec, int64_t max_batch, suri_model **out) {
  *out = NULL;
  if (!spec || spec->n_widths < 2 || spec->n_widths > SURI_MLP_MAX_LAYERS + 1)
    return suri_fail(SURI_ERR_ARG, "model: invalid spec");
  suri_model *m = calloc(1, sizeof *m);
  if (!m) return suri_fail(SURI_ERR_NOMEM, "cannot allocate model");
  m->spec = *spec;
  m->g = suri_graph_new();
  if (!m->g) {
    free(m);
    return SURI_ERR_NOMEM;
  }
  build(m);
  suri_status st = suri_graph_compile(m->g, max_batch);
  if (st) {
    suri_model_free(m);
    return st;
  }
  m->nparam = suri_graph_param_count(m->g);
  m->nstate = suri_graph_state_count(m->g);
  m->params = suri_calloc(m->nparam ? m->nparam : 1, sizeof(suri_real));
  m->grads = suri_calloc(m->nparam ? m->nparam : 1, sizeof(suri_real));
  m->state = suri_calloc(m->nstate ? m->nstate : 1, sizeof(suri_real));
  if (!m->params || !m->grads || !m->state) {
    size_t np = m->nparam;
    suri_model_free(m);
    return suri_fail(SURI_ERR_NOMEM, "model: cannot allocate %zu parameters", np);
  }
  for (int i = 0; i < m->n_tensors; i++) {
    m->tensors[i].offset = suri_graph_param_offset(m->g, m->tensor_nodes[i]);
    if (!m->tensors[i].is_state)
      m->numel += (size_t)(m->tensors[i].dim[0] * (m->tensors[i].rank == 2 ? m->tensors[i].dim[1] : 1));
  }
  for (int l = 0; l < m->n_layers; l++) {
    suri_layer *ly = &m->layers[l];
    ly->w_offset = suri_graph_param_offset(m->g, ly->weight);
    ly->b_offset = suri_node_ok(ly->bias) ? suri_graph_param_offset(m->g, ly->bias) : SIZE_MAX;
  }
  suri_graph_bind_params(m->g, m->params, m->grads);
  suri_graph_bind_state(m->g, m->state);
  *out = m;
  return SURI_OK;
}

void suri_model_free(suri_model *m) {
  if (!m) return;
  suri_graph_free(m->g);
  suri_free(m->params);
  suri_free(m->grads);
  suri_free(m->state);
  free(m->in_mean);
  free(m->in_std);
  free(m);
}

suri_status suri_model_set_input_norm(suri_model *m, const double *mean, const double *std) {
  int64_t in = m->spec.width[0];
  free(m->in_mean);
  free(m->in_std);
  m->in_mean = m->in_std = NULL;
  if (!mean && !std) return SURI_OK;
  if (!mean || !std) return suri_fail(SURI_ERR_ARG, "input norm: give both mean and std");
  for (int64_t i = 0; i < in; i++)
    if (!isfinite(mean[i]) || !isfinite(std[i]) || !(std[i] > 0))
      return suri_fail(SURI_ERR_ARG, "input norm: feature %lld has mean %g, std %g (need finite, "
                       "std > 0)", (long long)i, mean[i], std[i]);
  m->in_mean = malloc((size_t)in * sizeof(double));
  m->in_std = malloc((size_t)in * sizeof(double));
  if (!m->in_mean || !m->in_std) {
    free(m->in_mean);
    free(m->in_std);
    m->in_mean = m->in_std = NULL;
    return suri_fail(SURI_ERR_NOMEM, "input norm: cannot allocate");
  }
  memcpy(m->in_mean, mean, (size_t)in * sizeof(double));
  memcpy(m->in_std, std, (size_t)in * sizeof(double));
  return SURI_OK;
}

int suri_model_input_norm(const suri_model *m, const double **mean, const double **std) {
  *mean = m->in_mean;
  *std = m->in_std;
  return m->in_mean != NULL;
}

suri_status suri_model_init(suri_model *m, uint64_t seed) {
  const suri_model_spec *s = &m->spec;
  suri_rng r = suri_rng_make(seed, SURI_RNG_INIT);
  memset(m->params, 0, m->nparam * sizeof(suri_real));
  for (int i = 0; i < m->n_tensors; i++) {
    const suri_model_tensor *t = &m->tensors[i];
    size_t n = (size_t)(t->dim[0] * (t->rank == 2 ? t->dim[1] : 1));
    suri_real *p = (t->is_state ? m->state : m->params) + t->offset;
    const char *field = strchr(t->name, '.') + 1;
    if (t->name[0] != 'f') { /* bn / ln */
      double v = (!strcmp(field, "weight") || !strcmp(field, "running_var")) ? 1.0 : 0.0;
      for (size_t k = 0; k < n; k++) p[k] = (suri_real)v;
      continue;
    }
    double std;
    if (s->param == SURI_PARAM_STANDARD)
      std = !strcmp(field, "weight") ? sqrt(s->sw2 / (double)t->dim[1]) : sqrt(s->sb2);
    else std = 1.0;
    if (std > 0) suri_rng_fill_normal(&r, n, p, 0.0, std);
  }
  suri_graph_set_rng(m->g, suri_rng_make(seed, SURI_RNG_DROPOUT));
  suri_graph_set_rng_calls(m->g, 0);
  return SURI_OK;
}

const suri_model_spec *suri_model_get_spec(const suri_model *m) { return &m->spec; }
suri_graph *suri_model_graph(suri_model *m) { return m->g; }
suri_node suri_model_input(const suri_model *m) { return m->x; }
suri_node suri_model_target(const suri_model *m) { return m->target; }
suri_node suri_model_output(const suri_model *m) { return m->out; }
suri_node suri_model_loss(const suri_model *m) { return m->loss; }
suri_real *suri_model_params(suri_model *m) { return m->params; }
suri_real *suri_model_grads(suri_model *m) { return m->grads; }
suri_real *suri_model_state(suri_model *m) { return m->state; }
size_t suri_model_param_count(const suri_model *m) { return m->nparam; }
size_t suri_model_param_numel(const suri_model *m) { return m->numel; }
size_t suri_model_state_count(const suri_model *m) { return m->nstate; }
int64_t suri_model_max_batch(const suri_model *m) { return suri_graph_max_batch(m->g); }
int suri_model_layer_count(const suri_model *m) { return m->n_layers; }
const suri_layer *suri_model_layer(const suri_model *m, int i) {
  return (i >= 0 && i < m->n_layers) ? &m->layers[i] : NULL;
}
int suri_model_tensor_count(const suri_model *m) { return m->n_tensors; }
const suri_model_tensor *suri_model_tensor_at(const suri_model *m, int i) {
  return (i >= 0 && i < m->n_tensors) ? &m->tensors[i] : NULL;
}
