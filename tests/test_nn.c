/* test_nn.c - the MLP model API of include/suri/nn.h (spec strings: test_nn_spec.c): the
 * parametrizations' initial distributions, init determinism, the layer and tensor tables, a
 * whole-model directional-derivative check of the loss gradient, batch norm in eval and
 * training mode against a double-precision reference forward written here, predict and
 * evaluate, and label checking. PyTorch agreement is tested in test_mlp_golden.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/nn.h"
#include "testutil.h"

#ifdef SURI_REAL_DOUBLE
#define IS_DOUBLE 1
#else
#define IS_DOUBLE 0
#endif

/* ---- helpers ------------------------------------------------------------------------------ */
static suri_model *make_model(const char *text, int64_t max_batch, uint64_t seed) {
  suri_model_spec s;
  suri_status st = suri_model_spec_parse(text, &s);
  if (st) fail_msg("parse '%s': %s", text, suri_last_error());
  suri_model *m = NULL;
  st = suri_model_new(&s, max_batch, &m);
  if (st) fail_msg("model_new '%s': %s", text, suri_last_error());
  assert_int_equal(suri_model_init(m, seed), SURI_OK);
  return m;
}

static const suri_model_tensor *find_tensor(const suri_model *m, const char *name) {
  for (int i = 0; i < suri_model_tensor_count(m); i++)
    if (!strcmp(suri_model_tensor_at(m, i)->name, name)) return suri_model_tensor_at(m, i);
  return NULL;
}

static suri_real *tensor_ptr(suri_model *m, const char *name) {
  const suri_model_tensor *t = find_tensor(m, name);
  if (!t) return NULL;
  return (t->is_state ? suri_model_state(m) : suri_model_params(m)) + t->offset;
}

static size_t tensor_numel(const suri_model_tensor *t) {
  return (size_t)(t->dim[0] * (t->rank == 2 ? t->dim[1] : 1));
}

/* Deterministic pseudo-random values in [-1, 1) for test data (no dependence on suri's RNG). */
static double lcg(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double act_ref(suri_act a, double u) {
  switch (a) {
  case SURI_ACT_RELU: return u > 0 ? u : 0;
  case SURI_ACT_TANH: return tanh(u);
  case SURI_ACT_SIGMOID: return 1 / (1 + exp(-u));
  case SURI_ACT_IDENTITY: return u;
  default: fail_msg("act_ref: activation %s not supported here", suri_act_name(a));
  }
  return 0;
}

#define MAXW 64
#define MAXB 16

/* Tensor "<prefix><l>.<field>" of the model (fails the test if absent). */
static const suri_model_tensor *tensor_l(const suri_model *m, const char *prefix, int l,
                                         const char *field) {
  char name[32];
  snprintf(name, sizeof name, "%s%d.%s", prefix, l, field);
  const suri_model_tensor *t = find_tensor(m, name);
  if (!t) fail_msg("model has no tensor %s", name);
  return t;
}

/* u (B, O) <- sw h W^T + sb b, in double */
static void ref_dense(suri_model *m, const suri_layer *ly, int64_t B, const double *h, double *u) {
  const suri_real *P = suri_model_params(m);
  int64_t I = ly->in, O = ly->out;
  for (int64_t i = 0; i < B; i++)
    for (int64_t o = 0; o < O; o++) {
      double acc = 0;
      for (int64_t k = 0; k < I; k++) acc += (double)P[ly->w_offset + o * I + k] * h[i * I + k];
      acc *= ly->scale_w;
      if (ly->b_offset != SIZE_MAX) acc += ly->scale_b * P[ly->b_offset + o];
      u[i * O + o] = acc;
    }
}

/* Batch norm of u (B, O) in place, layer l: batch statistics (biased variance) in training,
 * running ones in eval; new_state gets the momentum-0.1 update with the unbiased variance. */
static void ref_batch_norm(suri_model *m, int l, int64_t B, int64_t O, double *u, int training,
                           double *new_state) {
  const suri_real *P = suri_model_params(m), *S = suri_model_state(m);
  const suri_real *gm = P + tensor_l(m, "bn", l, "weight")->offset;
  const suri_real *bt = P + tensor_l(m, "bn", l, "bias")->offset;
  size_t rm = tensor_l(m, "bn", l, "running_mean")->offset;
  size_t rv = tensor_l(m, "bn", l, "running_var")->offset;
  for (int64_t o = 0; o < O; o++) {
    double mu = S[rm + o], var = S[rv + o];
    if (training) {
      double a = 0, q = 0;
      for (int64_t i = 0; i < B; i++) a += u[i * O + o];
      mu = a / (double)B;
      for (int64_t i = 0; i < B; i++) q += (u[i * O + o] - mu) * (u[i * O + o] - mu);
      var = q / (double)B;
      if (new_state) {
        new_state[rm + o] = 0.9 * S[rm + o] + 0.1 * mu;
        new_state[rv + o] = 0.9 * S[rv + o] + 0.1 * q / (double)(B - 1);
      }
    }
    for (int64_t i = 0; i < B; i++)
      u[i * O + o] = gm[o] * (u[i * O + o] - mu) / sqrt(var + 1e-5) + bt[o];
  }
}

/* Layer norm of each row of u (B, O) in place (biased variance over the row). */
static void ref_layer_norm(suri_model *m, int l, int64_t B, int64_t O, double *u) {
  const suri_real *P = suri_model_params(m);
  const suri_real *gm = P + tensor_l(m, "ln", l, "weight")->offset;
  const suri_real *bt = P + tensor_l(m, "ln", l, "bias")->offset;
  for (int64_t i = 0; i < B; i++) {
    double a = 0, q = 0;
    for (int64_t o = 0; o < O; o++) a += u[i * O + o];
    a /= (double)O;
    for (int64_t o = 0; o < O; o++) q += (u[i * O + o] - a) * (u[i * O + o] - a);
    q /= (double)O;
    for (int64_t o = 0; o < O; o++)
      u[i * O + o] = gm[o] * (u[i * O + o] - a) / sqrt(q + 1e-5) + bt[o];
  }
}

/* Reference forward in double of an MLP (norm none/batch/layer/lastbatch, no dropout) from the
 * model's own parameter block and layer table: x (B, IN) -> out (B, OUT). training selects
 * batch statistics; new_state (if not NULL, state_count entries) receives the running
 * statistics after the pass. */
static void ref_forward(suri_model *m, int64_t B, const suri_real *x, int training, double *out,
                        double *new_state) {
  const suri_model_spec *s = suri_model_get_spec(m);
  if (new_state)
    for (size_t k = 0; k < suri_model_state_count(m); k++) new_state[k] = suri_model_state(m)[k];
  static double h[MAXB * MAXW], u[MAXB * MAXW];
  assert_true(B <= MAXB);
  for (int64_t i = 0; i < B * s->width[0]; i++) h[i] = x[i];
  int L = suri_model_layer_count(m);
  for (int l = 0; l < L; l++) {
    const suri_layer *ly = suri_model_layer(m, l);
    assert_true(ly->out <= MAXW && ly->in <= MAXW);
    ref_dense(m, ly, B, h, u);
    int last = l == L - 1;
    if ((s->norm == SURI_NORM_BATCH && !last) || (s->norm == SURI_NORM_LASTBATCH && last))
      ref_batch_norm(m, l + 1, B, ly->out, u, training, new_state);
    if (s->norm == SURI_NORM_LAYER && !last) ref_layer_norm(m, l + 1, B, ly->out, u);
    for (int64_t k = 0; k < B * ly->out; k++) h[k] = last ? u[k] : act_ref(s->act, u[k]);
  }
  int64_t OUT = s->width[s->n_widths - 1];
  for (int64_t k = 0; k < B * OUT; k++) out[k] = h[k];
}

/* max |a - b| / max(max |b|, 1e-30) */
static double max_rel_diff(size_t n, const suri_real *a, const double *b) {
  double d = 0, s = 0;
  for (size_t i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - b[i]));
    s = fmax(s, fabs(b[i]));
  }
  return d / fmax(s, 1e-30);
}

static void fill_data(uint64_t seed, size_t n, suri_real *x) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) x[i] = (suri_real)(1.5 * lcg(&s));
}

/* ---- initialisation ----------------------------------------------------------------------- */
typedef struct moments {
  double mean, var, frac1; /* frac1: fraction of |x - mean| < sd */
  size_t n;
} moments;

static moments moments_of(const suri_real *p, size_t n) {
  moments r = {0, 0, 0, n};
  for (size_t i = 0; i < n; i++) r.mean += p[i];
  r.mean /= (double)n;
  for (size_t i = 0; i < n; i++) r.var += ((double)p[i] - r.mean) * ((double)p[i] - r.mean);
  r.var /= (double)(n - 1);
  double sd = sqrt(r.var);
  for (size_t i = 0; i < n; i++) r.frac1 += fabs((double)p[i] - r.mean) < sd;
  r.frac1 /= (double)n;
  return r;
}

/* Checks that n values look like N(0, var). For n iid normal draws the sample variance has
 * relative standard deviation sqrt(2/(n-1)), the mean has standard deviation sqrt(var/n), and
 * the fraction inside one standard deviation (0.6827 for a normal; 0.577 for a uniform of the
 * same variance) has standard deviation sqrt(p(1-p)/n). Each bound is 5 standard deviations,
 * so a correct generator fails with probability < 1e-6 per check (and the seed is fixed). */
static void expect_normal(const char *what, const suri_real *p, size_t n, double var) {
  moments r = moments_of(p, n);
  double tol_var = 5 * sqrt(2.0 / (double)(n - 1)), tol_mean = 5 * sqrt(var / (double)n);
  double tol_frac = 5 * sqrt(0.6827 * 0.3173 / (double)n);
  if (fabs(r.var / var - 1) > tol_var)
    fail_msg("%s: variance %g, expected %g (n=%zu, relative tolerance %g)", what, r.var, var, n,
             tol_var);
  if (fabs(r.mean) > tol_mean) fail_msg("%s: mean %g, expected 0 +- %g", what, r.mean, tol_mean);
  if (n >= 2000 && fabs(r.frac1 - 0.6827) > tol_frac)
    fail_msg("%s: %g of the values lie within one sd, a normal has 0.6827 +- %g", what, r.frac1,
             tol_frac);
}

static void test_init_standard(void **state) {
  (void)state;
  /* relu: He variance sw2/fan_in = 2/fan_in; biases zero (sb2 = 0) */
  suri_model *m = make_model("mlp:400-300-200-10", 4, 11);
  for (int l = 0; l < suri_model_layer_count(m); l++) {
    const suri_layer *ly = suri_model_layer(m, l);
    const suri_real *w = suri_model_params(m) + ly->w_offset;
    expect_normal(ly->name, w, (size_t)(ly->in * ly->out), 2.0 / (double)ly->in);
    const suri_real *b = suri_model_params(m) + ly->b_offset;
    for (int64_t j = 0; j < ly->out; j++) assert_true(b[j] == 0);
  }
  suri_model_free(m);
  /* tanh with explicit variances: W ~ N(0, 1.5/fan_in), b ~ N(0, 0.5) (biases pooled) */
  m = make_model("mlp:300-400-300-10,act=tanh,sw2=1.5,sb2=0.5", 4, 12);
  static suri_real pooled[1024];
  size_t nb = 0;
  for (int l = 0; l < suri_model_layer_count(m); l++) {
    const suri_layer *ly = suri_model_layer(m, l);
    expect_normal(ly->name, suri_model_params(m) + ly->w_offset, (size_t)(ly->in * ly->out),
                  1.5 / (double)ly->in);
    memcpy(pooled + nb, suri_model_params(m) + ly->b_offset, (size_t)ly->out * sizeof(suri_real));
    nb += (size_t)ly->out;
  }
  expect_normal("biases", pooled, nb, 0.5);
  suri_model_free(m);
}

static void test_init_ntk_meanfield(void **state) {
  (void)state;
  /* ntk and meanfield: every weight and bias N(0, 1); the scale lives in the multipliers */
  static const char *specs[] = {"mlp:400-300-200-10,param=ntk,sb2=0.1",
                                "mlp:400-300-200-10,act=tanh,param=ntk",
                                "mlp:400-300-200-10,param=meanfield,sb2=0.1"};
  for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
    suri_model *m = make_model(specs[k], 4, 13 + k);
    for (int l = 0; l < suri_model_layer_count(m); l++) {
      const suri_layer *ly = suri_model_layer(m, l);
      expect_normal(specs[k], suri_model_params(m) + ly->w_offset, (size_t)(ly->in * ly->out), 1);
      if (ly->b_offset != SIZE_MAX && ly->out >= 200)
        expect_normal(specs[k], suri_model_params(m) + ly->b_offset, (size_t)ly->out, 1);
    }
    suri_model_free(m);
  }
  /* normalisation layers: gamma 1, beta 0, running mean 0, running variance 1 */
  suri_model *m = make_model("mlp:5-6-7-3,norm=batch", 4, 3);
  suri_model *m2 = make_model("mlp:5-6-7-3,norm=layer", 4, 3);
  static const char *fields[] = {"weight", "bias", "running_mean", "running_var"};
  static const double want[] = {1, 0, 0, 1};
  for (int l = 1; l <= 2; l++)
    for (int f = 0; f < 4; f++) {
      const suri_model_tensor *t = tensor_l(m, "bn", l, fields[f]);
      const suri_real *p = (t->is_state ? suri_model_state(m) : suri_model_params(m)) + t->offset;
      for (size_t i = 0; i < tensor_numel(t); i++) assert_true(p[i] == want[f]);
      if (f >= 2) continue;
      t = tensor_l(m2, "ln", l, fields[f]);
      for (size_t i = 0; i < tensor_numel(t); i++)
        assert_true(suri_model_params(m2)[t->offset + i] == want[f]);
    }
  suri_model_free(m);
  suri_model_free(m2);
}

static void test_init_determinism(void **state) {
  (void)state;
  const char *spec = "mlp:20-30-10,act=tanh,norm=batch,sb2=0.2";
  suri_model *a = make_model(spec, 8, 42), *b = make_model(spec, 8, 42);
  size_t n = suri_model_param_count(a);
  assert_int_equal(n, suri_model_param_count(b));
  assert_memory_equal(suri_model_params(a), suri_model_params(b), n * sizeof(suri_real));
  assert_memory_equal(suri_model_state(a), suri_model_state(b),
                      suri_model_state_count(a) * sizeof(suri_real));
  /* re-initialising after the parameters changed restores the same values */
  for (size_t i = 0; i < n; i++) suri_model_params(b)[i] += (suri_real)1;
  assert_int_equal(suri_model_init(b, 42), SURI_OK);
  assert_memory_equal(suri_model_params(a), suri_model_params(b), n * sizeof(suri_real));
  /* another seed: (almost) every weight differs */
  assert_int_equal(suri_model_init(b, 43), SURI_OK);
  const suri_layer *ly = suri_model_layer(a, 0);
  size_t nw = (size_t)(ly->in * ly->out), same = 0;
  for (size_t i = 0; i < nw; i++)
    same += suri_model_params(a)[ly->w_offset + i] == suri_model_params(b)[ly->w_offset + i];
  if (same > nw / 100) fail_msg("seeds 42 and 43 share %zu of %zu weights", same, nw);
  /* padding between tensors is zero (optimizers and norms run over the whole block) */
  size_t used = 0;
  for (int i = 0; i < suri_model_tensor_count(a); i++)
    if (!suri_model_tensor_at(a, i)->is_state) used += tensor_numel(suri_model_tensor_at(a, i));
  assert_int_equal(used, suri_model_param_numel(a));
  size_t nonzero = 0;
  for (size_t i = 0; i < n; i++) nonzero += suri_model_params(a)[i] != 0;
  assert_true(nonzero <= used);
  suri_model_free(a);
  suri_model_free(b);
}

/* ---- tables ------------------------------------------------------------------------------- */
static void check_node_shape(suri_model *m, suri_node n, int64_t width, const char *what) {
  const suri_shape *sh = suri_graph_shape(suri_model_graph(m), n);
  assert_non_null(sh);
  if (sh->rank != 2 || !sh->batched || sh->dim[0] != suri_model_max_batch(m) || sh->dim[1] != width)
    fail_msg("%s: shape rank %d batched %d (%lld, %lld), expected (B=%lld, %lld)", what, sh->rank,
             sh->batched, (long long)sh->dim[0], (long long)sh->dim[1],
             (long long)suri_model_max_batch(m), (long long)width);
}

/* Checks layer l (0-based) of a 7-16-12-5 model; returns the trainable scalars it holds. */
static size_t check_layer(suri_model *m, int l, const char *spec) {
  static const int64_t w[] = {7, 16, 12, 5};
  const suri_model_spec *s = suri_model_get_spec(m);
  suri_graph *g = suri_model_graph(m);
  const suri_layer *ly = suri_model_layer(m, l);
  char name[16];
  snprintf(name, sizeof name, "fc%d", l + 1);
  assert_string_equal(ly->name, name);
  assert_int_equal(ly->in, w[l]);
  assert_int_equal(ly->out, w[l + 1]);
  int last = l == 2, mf_out = s->param == SURI_PARAM_MEANFIELD && last;
  double sw = 1, sb = 1;
  if (s->param != SURI_PARAM_STANDARD) sw = sqrt(s->sw2 / (double)w[l]), sb = sqrt(s->sb2);
  if (mf_out) sw = 1.0 / 12.0, sb = 0;
  if (fabs(ly->scale_w - sw) > 1e-15 || fabs(ly->scale_b - sb) > 1e-15)
    fail_msg("%s layer %d: scales (%g, %g), expected (%g, %g)", spec, l + 1, ly->scale_w,
             ly->scale_b, sw, sb);
  /* offsets agree with the tensor table and the graph, are 16-aligned and inside the block */
  const suri_model_tensor *tw = tensor_l(m, "fc", l + 1, "weight");
  assert_int_equal(tw->offset, ly->w_offset);
  assert_int_equal(ly->w_offset % 16, 0);
  assert_true(ly->w_offset + (size_t)(ly->in * ly->out) <= suri_model_param_count(m));
  assert_int_equal(suri_graph_param_offset(g, ly->weight), ly->w_offset);
  assert_string_equal(suri_graph_node_kind(g, ly->weight), "param");
  assert_string_equal(suri_graph_node_name(g, ly->weight), tw->name);
  snprintf(name, sizeof name, "fc%d.bias", l + 1);
  const suri_model_tensor *tb = find_tensor(m, name);
  if (mf_out) { /* the mean-field output layer has no bias */
    assert_null(tb);
    assert_true(ly->b_offset == SIZE_MAX);
    assert_false(suri_node_ok(ly->bias));
  } else {
    assert_non_null(tb);
    assert_int_equal(tb->offset, ly->b_offset);
    assert_int_equal(ly->b_offset % 16, 0);
    assert_int_equal(suri_graph_param_offset(g, ly->bias), ly->b_offset);
  }
  /* the input is x for layer 1, else the previous layer's activation; the preact is the dense
   * node */
  check_node_shape(m, ly->input, ly->in, "layer input");
  check_node_shape(m, ly->preact, ly->out, "layer preact");
  assert_string_equal(suri_graph_node_kind(g, ly->preact), "dense");
  if (l == 0) {
    assert_int_equal(ly->input.id, suri_model_input(m).id);
  } else {
    assert_string_equal(suri_graph_node_kind(g, ly->input), suri_act_name(s->act));
    assert_true(ly->input.id > suri_model_layer(m, l - 1)->preact.id);
    assert_true(ly->input.id < ly->preact.id);
  }
  return (size_t)(ly->in * ly->out) + (mf_out ? 0 : (size_t)ly->out);
}

static void test_layer_table(void **state) {
  (void)state;
  static const char *specs[] = {"mlp:7-16-12-5,act=tanh,norm=batch,param=ntk,sw2=1.5,sb2=0.1",
                                "mlp:7-16-12-5,norm=layer",
                                "mlp:7-16-12-5,act=gelu,param=meanfield,sb2=0.1"};
  for (size_t c = 0; c < sizeof specs / sizeof specs[0]; c++) {
    suri_model *m = make_model(specs[c], 9, 1);
    const suri_model_spec *s = suri_model_get_spec(m);
    suri_graph *g = suri_model_graph(m);
    assert_int_equal(suri_model_layer_count(m), 3);
    assert_null(suri_model_layer(m, 3));
    assert_null(suri_model_layer(m, -1));
    assert_int_equal(suri_model_max_batch(m), 9);
    size_t numel = 0;
    for (int l = 0; l < 3; l++) numel += check_layer(m, l, specs[c]);
    /* norm parameters count as trainable scalars */
    if (s->norm == SURI_NORM_BATCH || s->norm == SURI_NORM_LAYER) numel += 2 * (16 + 12);
    assert_int_equal(suri_model_param_numel(m), numel);
    assert_int_equal(suri_model_state_count(m) >= (s->norm == SURI_NORM_BATCH ? 56u : 0u), 1);
    /* output (B, 5) is the last preact; loss is a scalar */
    check_node_shape(m, suri_model_output(m), 5, "output");
    assert_int_equal(suri_model_output(m).id, suri_model_layer(m, 2)->preact.id);
    assert_int_equal(suri_graph_shape(g, suri_model_loss(m))->rank, 0);
    suri_model_free(m);
  }
  /* lastbatch: the output is the batch norm of the last dense layer */
  suri_model *m = make_model("mlp:7-16-5,norm=lastbatch", 4, 1);
  assert_string_equal(suri_graph_node_kind(suri_model_graph(m), suri_model_output(m)),
                      "batch_norm");
  assert_true(suri_model_output(m).id > suri_model_layer(m, 1)->preact.id);
  suri_model_free(m);
}

static void test_tensor_table(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    const char *names[16];
  } cases[] = {
      {"mlp:7-16-12-5,norm=batch",
       {"fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
        "fc2.weight", "fc2.bias", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var",
        "fc3.weight", "fc3.bias", NULL}},
      {"mlp:7-16-12-5,norm=layer",
       {"fc1.weight", "fc1.bias", "ln1.weight", "ln1.bias", "fc2.weight", "fc2.bias",
        "ln2.weight", "ln2.bias", "fc3.weight", "fc3.bias", NULL}},
      {"mlp:7-16-12-5,norm=lastbatch",
       {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias",
        "bn3.weight", "bn3.bias", "bn3.running_mean", "bn3.running_var", NULL}},
      {"mlp:7-16-12-5,param=meanfield",
       {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", NULL}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    suri_model *m = make_model(cases[c].spec, 4, 1);
    int n = 0;
    while (cases[c].names[n]) n++;
    assert_int_equal(suri_model_tensor_count(m), n);
    assert_null(suri_model_tensor_at(m, n));
    /* covered[] marks each element of the blocks: tensors must not overlap */
    size_t np = suri_model_param_count(m), ns = suri_model_state_count(m);
    unsigned char *cov_p = calloc(np + 1, 1), *cov_s = calloc(ns + 1, 1);
    for (int i = 0; i < n; i++) {
      const suri_model_tensor *t = suri_model_tensor_at(m, i);
      assert_string_equal(t->name, cases[c].names[i]);
      int state_tensor = strstr(t->name, "running_") != NULL;
      assert_int_equal(t->is_state, state_tensor);
      int is_w = strstr(t->name, "fc") == t->name && strstr(t->name, ".weight");
      assert_int_equal(t->rank, is_w ? 2 : 1);
      int l = t->name[2] - '0';
      const int64_t w[] = {7, 16, 12, 5};
      assert_int_equal(t->dim[0], w[l]);
      if (is_w) assert_int_equal(t->dim[1], w[l - 1]);
      size_t k = tensor_numel(t);
      unsigned char *cov = t->is_state ? cov_s : cov_p;
      assert_true(t->offset + k <= (t->is_state ? ns : np));
      for (size_t e = 0; e < k; e++) {
        assert_int_equal(cov[t->offset + e], 0);
        cov[t->offset + e] = 1;
      }
    }
    free(cov_p);
    free(cov_s);
    suri_model_free(m);
  }
}

/* ---- gradient: whole-model directional derivative ----------------------------------------- */
/* Along a random unit direction v (zero on padding), (L(p + h v) - L(p - h v)) / 2h must match
 * g . v. Errors of the central difference: truncation h^2/6 |L'''| (|L'''| = O(1) along a unit
 * direction at these scales) and rounding of the loss value, eps |L| / h. Float (eps 6e-8,
 * |L| ~ 2): h = 3e-3 gives ~2e-6 + ~4e-5; double (eps 1e-16): h = 1e-4 gives ~2e-9 + ~2e-12.
 * (Observed: up to 2e-5 in float, 1e-10 in double, with |g| ~ 0.2-0.8.) Tolerances relative
 * to |g| |v| = |g| (|v| = 1): 2e-4 float, 1e-7 double, >= 5x the worst case; |g . v| itself
 * must exceed 10x the tolerance, so that a zero or tiny gradient cannot pass. */
static void directional_check(const char *spec, uint64_t seed, int64_t B) {
  suri_model *m = make_model(spec, B, seed);
  const suri_model_spec *s = suri_model_get_spec(m);
  int64_t IN = s->width[0], OUT = s->width[s->n_widths - 1];
  suri_real *x = malloc((size_t)(B * IN) * sizeof *x), *t = malloc((size_t)(B * OUT) * sizeof *t);
  int32_t *y = malloc((size_t)B * sizeof *y);
  fill_data(seed * 7 + 1, (size_t)(B * IN), x);
  uint64_t r = seed * 13 + 5;
  for (int64_t i = 0; i < B; i++) y[i] = (int32_t)(i % OUT);
  for (int64_t i = 0; i < B * OUT; i++)
    t[i] = (suri_real)(s->loss == SURI_LOSS_LOGISTIC ? (lcg(&r) > 0) : lcg(&r));
  assert_int_equal(suri_model_set_batch(m, B, x, y, t), SURI_OK);
  size_t n = suri_model_param_count(m);
  suri_real *p = suri_model_params(m);
  suri_real *p0 = malloc(n * sizeof *p0), *g = malloc(n * sizeof *g);
  double *v = calloc(n, sizeof *v);
  double L0;
  assert_int_equal(suri_model_loss_grad(m, &L0), SURI_OK);
  memcpy(p0, p, n * sizeof *p0);
  memcpy(g, suri_model_grads(m), n * sizeof *g);
  double gn = 0;
  for (size_t i = 0; i < n; i++) gn += (double)g[i] * g[i];
  gn = sqrt(gn);
  if (!(gn > 1e-3)) fail_msg("%s: gradient norm %g is ~0: nothing to check", spec, gn);
  const double h = IS_DOUBLE ? 1e-4 : 3e-3, tol = IS_DOUBLE ? 1e-7 : 2e-4;
  for (int dir = 0; dir < 3; dir++) {
    double vn = 0;
    memset(v, 0, n * sizeof *v);
    for (int i = 0; i < suri_model_tensor_count(m); i++) {
      const suri_model_tensor *te = suri_model_tensor_at(m, i);
      if (te->is_state) continue;
      for (size_t k = 0; k < tensor_numel(te); k++) {
        v[te->offset + k] = lcg(&r);
        vn += v[te->offset + k] * v[te->offset + k];
      }
    }
    double gv = 0;
    for (size_t i = 0; i < n; i++) {
      v[i] /= sqrt(vn);
      gv += (double)g[i] * v[i];
    }
    double Lp, Lm;
    for (size_t i = 0; i < n; i++) p[i] = (suri_real)(p0[i] + h * v[i]);
    assert_int_equal(suri_model_loss_grad(m, &Lp), SURI_OK);
    for (size_t i = 0; i < n; i++) p[i] = (suri_real)(p0[i] - h * v[i]);
    assert_int_equal(suri_model_loss_grad(m, &Lm), SURI_OK);
    memcpy(p, p0, n * sizeof *p);
    double fd = (Lp - Lm) / (2 * h);
    if (!(fabs(fd - gv) <= tol * gn))
      fail_msg("%s direction %d: g.v = %.10g, central difference %.10g (|g| = %g, tol %g)", spec,
               dir, gv, fd, gn, tol * gn);
    if (!(fabs(gv) > 10 * tol * gn))
      fail_msg("%s direction %d: g.v = %g too small to test", spec, dir, gv);
  }
  free(x);
  free(t);
  free(y);
  free(p0);
  free(g);
  free(v);
  suri_model_free(m);
}

static void test_gradient_directional(void **state) {
  (void)state;
  /* smooth activations only: a relu kink between p - hv and p + hv would spoil the difference */
  directional_check("mlp:6-10-8-4,act=tanh,norm=batch,param=ntk,sw2=1.5,sb2=0.1", 1, 7);
  directional_check("mlp:6-10-8-4,act=gelu,norm=layer,param=meanfield,sb2=0.2,loss=mse", 2, 5);
  directional_check("mlp:6-10-8-1,act=softplus,norm=lastbatch,loss=logistic", 3, 8);
  directional_check("mlp:5-9-3,act=sigmoid,sb2=0.3", 4, 6);
}

/* ---- batch norm: eval vs training mode ---------------------------------------------------- */
static void test_batch_norm_modes(void **state) {
  (void)state;
  /* float: sums of <= 8 products and a 6-row variance, relative rounding ~1e-6; double ~1e-14 */
  const double tol = IS_DOUBLE ? 1e-12 : 2e-5;
  suri_model *m = make_model("mlp:5-8-3,act=tanh,norm=batch,sb2=0.1", 8, 5);
  suri_graph *g = suri_model_graph(m);
  /* non-trivial gamma, beta and running statistics, so that using the wrong ones shows */
  suri_real *gm = tensor_ptr(m, "bn1.weight"), *bt = tensor_ptr(m, "bn1.bias");
  suri_real *rm = tensor_ptr(m, "bn1.running_mean"), *rv = tensor_ptr(m, "bn1.running_var");
  for (int k = 0; k < 8; k++) {
    gm[k] = (suri_real)(1 + 0.05 * k);
    bt[k] = (suri_real)(0.02 * k - 0.05);
    rm[k] = (suri_real)(0.1 * k - 0.3);
    rv[k] = (suri_real)(0.5 + 0.2 * k);
  }
  const int64_t B = 6;
  suri_real x[6 * 5];
  int32_t y[6] = {0, 1, 2, 0, 1, 2};
  fill_data(77, 30, x);
  size_t ns = suri_model_state_count(m);
  suri_real *state0 = malloc(ns * sizeof *state0);
  double *ref_state = malloc(ns * sizeof *ref_state);
  memcpy(state0, suri_model_state(m), ns * sizeof *state0);
  double ref_eval[18], ref_train[18], ref_eval2[18];

  /* eval: running statistics, which stay unchanged */
  ref_forward(m, B, x, 0, ref_eval, NULL);
  assert_int_equal(suri_model_set_batch(m, B, x, y, NULL), SURI_OK);
  suri_graph_set_training(g, 0);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  double d = max_rel_diff(18, suri_graph_value(g, suri_model_output(m)), ref_eval);
  if (d > tol) fail_msg("eval-mode output differs from the reference by %g", d);
  assert_memory_equal(state0, suri_model_state(m), ns * sizeof *state0);

  /* training (loss_grad switches it on): batch statistics, running statistics updated */
  ref_forward(m, B, x, 1, ref_train, ref_state);
  double loss;
  assert_int_equal(suri_model_loss_grad(m, &loss), SURI_OK);
  d = max_rel_diff(18, suri_graph_value(g, suri_model_output(m)), ref_train);
  if (d > tol) fail_msg("training-mode output differs from the reference by %g", d);
  d = max_rel_diff(ns, suri_model_state(m), ref_state);
  if (d > tol) fail_msg("updated running statistics differ from the reference by %g", d);
  double gap = 0;
  for (int k = 0; k < 18; k++) gap = fmax(gap, fabs(ref_eval[k] - ref_train[k]));
  assert_true(gap > 1e-2); /* the two modes really differ on this model */

  /* predict runs in eval mode with the updated statistics and leaves them alone */
  memcpy(state0, suri_model_state(m), ns * sizeof *state0);
  ref_forward(m, B, x, 0, ref_eval2, NULL);
  suri_real out[18];
  assert_int_equal(suri_model_predict(m, B, x, out), SURI_OK);
  d = max_rel_diff(18, out, ref_eval2);
  if (d > tol) fail_msg("predict differs from the eval-mode reference by %g", d);
  assert_memory_equal(state0, suri_model_state(m), ns * sizeof *state0);
  /* ... and restores training mode: the next loss_grad updates the statistics again */
  assert_int_equal(suri_model_set_batch(m, B, x, y, NULL), SURI_OK);
  assert_int_equal(suri_model_loss_grad(m, &loss), SURI_OK);
  assert_true(memcmp(state0, suri_model_state(m), ns * sizeof *state0) != 0);
  free(state0);
  free(ref_state);
  suri_model_free(m);
}

/* ---- predict and evaluate ----------------------------------------------------------------- */
static void test_predict_equals_forward(void **state) {
  (void)state;
  /* 10 rows through a model compiled for 4 (chunks 4, 4, 2) and one compiled for 16 (a single
   * batch): row-independent model (layer norm), so results agree up to GEMM blocking rounding */
  const double tol = IS_DOUBLE ? 1e-12 : 1e-5;
  const char *spec = "mlp:6-9-7-4,act=tanh,norm=layer,param=ntk,sb2=0.1";
  suri_model *a = make_model(spec, 4, 21), *b = make_model(spec, 16, 21);
  suri_real x[10 * 6], out[10 * 4];
  int32_t y[10];
  for (int i = 0; i < 10; i++) y[i] = i % 4;
  fill_data(5, 60, x);
  assert_int_equal(suri_model_predict(a, 10, x, out), SURI_OK);
  assert_int_equal(suri_model_set_batch(b, 10, x, y, NULL), SURI_OK);
  double loss;
  assert_int_equal(suri_model_loss_grad(b, &loss), SURI_OK);
  const suri_real *f = suri_graph_value(suri_model_graph(b), suri_model_output(b));
  double ref[40];
  ref_forward(b, 10, x, 1, ref, NULL);
  for (int k = 0; k < 40; k++) {
    if (!tu_close(out[k], f[k], tol, tol)) fail_msg("predict[%d] = %g, forward %g", k, out[k], f[k]);
    if (!tu_close(out[k], ref[k], tol, tol)) fail_msg("predict[%d] = %g, reference %g", k, out[k], ref[k]);
  }
  /* one row at a time gives the same */
  for (int i = 0; i < 10; i++) {
    suri_real o1[4];
    assert_int_equal(suri_model_predict(b, 1, x + 6 * i, o1), SURI_OK);
    for (int k = 0; k < 4; k++) assert_true(tu_close(o1[k], out[4 * i + k], tol, tol));
  }
  /* predict reads the rows in place (suri_graph_bind_input): the input buffer is not written,
   * and afterwards the passes read that buffer again */
  suri_graph *g = suri_model_graph(a);
  suri_real *xbuf = suri_graph_value(g, suri_model_input(a));
  for (int k = 0; k < 4 * 6; k++) xbuf[k] = (suri_real)0.125;
  assert_int_equal(suri_model_predict(a, 10, x, out), SURI_OK);
  for (int k = 0; k < 4 * 6; k++) assert_true(xbuf[k] == (suri_real)0.125);
  suri_real x2[4 * 6];
  for (int k = 0; k < 4 * 6; k++) x2[k] = -x[k];
  assert_int_equal(suri_model_set_batch(a, 4, x2, y, NULL), SURI_OK);
  suri_graph_set_training(g, 0);
  assert_int_equal(suri_graph_forward(g), SURI_OK);
  ref_forward(a, 4, x2, 0, ref, NULL);
  for (int k = 0; k < 16; k++)
    assert_true(tu_close(suri_graph_value(g, suri_model_output(a))[k], ref[k], tol, tol));
  tu_expect_status(suri_graph_bind_input(g, suri_model_output(a), x), SURI_ERR_ARG,
                   "not a real input");
  suri_model_free(a);
  suri_model_free(b);
}

static void test_evaluate(void **state) {
  (void)state;
  const double tol = IS_DOUBLE ? 1e-12 : 1e-5;
  suri_real x[5 * 3];
  fill_data(9, 15, x);
  double z[5 * 3];
  double loss, acc;

  /* ce: 5 rows, batches of 2 (2, 2, 1); rows 0 and 2 labelled with their argmax, the others
   * with another class, so the accuracy is exactly 2/5 */
  suri_model *m = make_model("mlp:3-4-3,act=tanh,sb2=0.5", 2, 31);
  ref_forward(m, 5, x, 0, z, NULL);
  int32_t y[5];
  double want = 0;
  for (int i = 0; i < 5; i++) {
    int best = 0;
    for (int k = 1; k < 3; k++)
      if (z[3 * i + k] > z[3 * i + best]) best = k;
    y[i] = (i == 0 || i == 2) ? best : (best + 1 + i % 2) % 3;
    double mx = fmax(z[3 * i], fmax(z[3 * i + 1], z[3 * i + 2]));
    double se = exp(z[3 * i] - mx) + exp(z[3 * i + 1] - mx) + exp(z[3 * i + 2] - mx);
    want += mx + log(se) - z[3 * i + y[i]];
  }
  want /= 5;
  assert_int_equal(suri_model_evaluate(m, 5, x, y, NULL, &loss, &acc), SURI_OK);
  if (!tu_close(loss, want, tol, 0)) fail_msg("ce loss %.10g, by hand %.10g", loss, want);
  assert_true(acc == 0.4);
  suri_real pz[15];
  assert_int_equal(suri_model_predict(m, 5, x, pz), SURI_OK);
  assert_int_equal(suri_count_correct(5, 3, pz, y), 2);
  suri_model_free(m);

  /* mse: mean over all 10 elements of (f - t)^2; no accuracy */
  m = make_model("mlp:3-4-2,act=tanh,loss=mse", 2, 32);
  suri_real t[10];
  fill_data(10, 10, t);
  ref_forward(m, 5, x, 0, z, NULL);
  want = 0;
  for (int k = 0; k < 10; k++) want += (z[k] - t[k]) * (z[k] - t[k]);
  want /= 10;
  assert_int_equal(suri_model_evaluate(m, 5, x, NULL, t, &loss, &acc), SURI_OK);
  if (!tu_close(loss, want, tol, 0)) fail_msg("mse loss %.10g, by hand %.10g", loss, want);
  assert_true(isnan(acc));
  suri_model_free(m);

  /* logistic: mean of log(1 + e^z) - t z; accuracy of the sign of z against t */
  m = make_model("mlp:3-4-1,act=tanh,loss=logistic,sb2=0.5", 2, 33);
  ref_forward(m, 5, x, 0, z, NULL);
  suri_real tl[5];
  int correct = 0;
  want = 0;
  for (int i = 0; i < 5; i++) {
    tl[i] = (suri_real)(i == 1 ? (z[i] <= 0) : (z[i] > 0)); /* row 1 is wrong */
    want += log1p(exp(z[i])) - tl[i] * z[i];
    correct += (z[i] > 0) == (tl[i] > 0.5);
  }
  want /= 5;
  assert_int_equal(correct, 4);
  assert_int_equal(suri_model_evaluate(m, 5, x, NULL, tl, &loss, &acc), SURI_OK);
  if (!tu_close(loss, want, tol, 0)) fail_msg("logistic loss %.10g, by hand %.10g", loss, want);
  assert_true(acc == 0.8);
  tu_expect_status(suri_model_evaluate(m, 0, x, NULL, tl, &loss, &acc), SURI_ERR_ARG, "empty");
  suri_model_free(m);
}

static void test_set_batch_checks(void **state) {
  (void)state;
  suri_model *m = make_model("mlp:3-4-5", 4, 1);
  suri_real x[12] = {0};
  int32_t y[4] = {0, 1, 4, 2};
  assert_int_equal(suri_model_set_batch(m, 4, x, y, NULL), SURI_OK);
  y[2] = 5;
  tu_expect_status(suri_model_set_batch(m, 4, x, y, NULL), SURI_ERR_ARG, "label 5 of row 2");
  y[2] = -1;
  tu_expect_status(suri_model_set_batch(m, 4, x, y, NULL), SURI_ERR_ARG, "label -1 of row 2");
  y[2] = 4;
  tu_expect_status(suri_model_set_batch(m, 5, x, y, NULL), SURI_ERR_ARG, "batch 5");
  tu_expect_status(suri_model_set_batch(m, 0, x, y, NULL), SURI_ERR_ARG, "batch 0");
  /* a bad label in evaluate's second chunk is refused too */
  suri_real x8[24] = {0};
  int32_t y8[8] = {0, 1, 2, 3, 4, 0, 7, 1};
  double loss, acc;
  tu_expect_status(suri_model_evaluate(m, 8, x8, y8, NULL, &loss, &acc), SURI_ERR_ARG, "label 7");
  suri_model_free(m);
  /* model_new refuses a spec it cannot hold */
  suri_model_spec s;
  memset(&s, 0, sizeof s);
  suri_model *bad = (suri_model *)&s;
  tu_expect_status(suri_model_new(&s, 4, &bad), SURI_ERR_ARG, NULL);
  assert_null(bad);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_standard),
      cmocka_unit_test(test_init_ntk_meanfield),
      cmocka_unit_test(test_init_determinism),
      cmocka_unit_test(test_layer_table),
      cmocka_unit_test(test_tensor_table),
      cmocka_unit_test(test_gradient_directional),
      cmocka_unit_test(test_batch_norm_modes),
      cmocka_unit_test(test_predict_equals_forward),
      cmocka_unit_test(test_evaluate),
      cmocka_unit_test(test_set_batch_checks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
