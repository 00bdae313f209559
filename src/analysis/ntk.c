/* ntk.c - empirical neural tangent kernel Theta_kk'(x, x') = grad f_k(x) . grad f_k'(x') of a
 * model at its current parameters (Jacot, Gabriel & Hongler 2018), eval mode, without forming
 * any Jacobian (ntk.md section 2): for a dense layer u = sw W h + sb b the per-sample gradients
 * are d f_k / d W = sw delta^k h^T and d f_k / d b = sb delta^k (delta^k = d f_k / d u), and
 * the inner product of two rank-one matrices factorises:
 *
 *   Theta_kk'(x, x') = sum_l (delta_l^k(x) . delta_l^k'(x')) (sw_l^2 h_{l-1}(x) . h_{l-1}(x')
 *                      + sb_l^2 [bias]) + sum_norm sum_j dy^k_j dy^k'_j (xh_j xh'_j + 1).
 *
 * The last sum is the gamma/beta contribution of normalisation layers, y = gamma xh + beta:
 * d y_j / d gamma_j = xh_j and d y_j / d beta_j = 1 with dy = d f_k / d y; xh is recomputed in
 * double from the dense output u (batch norm, eval: (u - running_mean) / sqrt(running_var +
 * eps); layer norm: per-row mean and biased variance, as torch). Samples are independent in
 * eval mode, so ONE backward pass with seed e_k in every row yields delta_l^k for all rows of a
 * chunk at once: C backward passes per chunk. The features (h per layer, delta per layer and
 * output, norm terms) of a block of samples are kept in double; Grams of two blocks are dgemm
 * products combined entrywise. Blocks are sized so that the scratch memory stays within the
 * budget; the symmetric case computes only blocks J >= I and mirrors them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_internal.h"
#include "suri/linalg.h"

suri_ntk_opts suri_ntk_defaults(void) {
  suri_ntk_opts o = {SURI_NTK_TRACE, -1, (size_t)256 << 20};
  return o;
}

typedef struct ntk_layer {
  int64_t in, out;
  double sw2, sb2;          /* sw^2 and sb^2 (0 if the layer has no bias) */
  suri_node input, preact;
  int norm;                 /* 0 none, 1 batch norm, 2 layer norm after this dense layer */
  suri_node norm_node;
  const suri_real *rm, *rv; /* batch norm running statistics (state block) */
  double eps;
} ntk_layer;

typedef struct ntk_ctx {
  suri_model *m;
  suri_graph *g;
  int64_t IN, C, B;
  int nl;                   /* active dense layers */
  ntk_layer L[SURI_MLP_MAX_LAYERS];
  int64_t per_sample;       /* doubles of features per sample */
  suri_real *seed;          /* (B, C) */
  int32_t *lab;             /* (B) */
  suri_real *tgt;           /* (B, C) */
  double *xh;               /* (B, max norm width) */
} ntk_ctx;

/* Features of a block: rows samples; per layer h (rows, in), d (rows C, out), norm
 * nf (rows C, 2 n) = [dy * xh, dy] per (sample, output). */
typedef struct ntk_feat {
  int64_t rows;
  double *h[SURI_MLP_MAX_LAYERS], *d[SURI_MLP_MAX_LAYERS], *nf[SURI_MLP_MAX_LAYERS];
  double *block;
} ntk_feat;

static const suri_real *state_tensor(const suri_model *m, const char *name) {
  for (int i = 0; i < suri_model_tensor_count(m); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    if (t->is_state && !strcmp(t->name, name))
      return suri_model_state((suri_model *)(uintptr_t)m) + t->offset;
  }
  return NULL;
}

/* The normalisation node following dense layer li (before the next dense op), if any. */
static void find_norm(const suri_model *m, int li, ntk_layer *ly) {
  suri_graph *g = suri_model_graph((suri_model *)(uintptr_t)m);
  const suri_model_spec *s = suri_model_get_spec(m);
  ly->norm = 0;
  for (int32_t id = ly->preact.id + 1; id < suri_graph_node_count(g); id++) {
    const char *kind = suri_graph_node_kind(g, (suri_node){id});
    if (!strcmp(kind, "dense")) break;
    int bn = !strcmp(kind, "batch_norm"), ln = !strcmp(kind, "layer_norm");
    if (!bn && !ln) continue;
    char name[32];
    ly->norm = bn ? 1 : 2;
    ly->norm_node = (suri_node){id};
    ly->eps = bn ? s->bn_eps : s->ln_eps;
    snprintf(name, sizeof name, "bn%d.running_mean", li + 1);
    ly->rm = bn ? state_tensor(m, name) : NULL;
    snprintf(name, sizeof name, "bn%d.running_var", li + 1);
    ly->rv = bn ? state_tensor(m, name) : NULL;
    if (bn && (!ly->rm || !ly->rv)) ly->norm = 0; /* cannot happen for suri's MLPs */
    break;
  }
}

static void ctx_layers(ntk_ctx *c, const suri_model *m, int layer) {
  c->nl = 0;
  c->per_sample = 0;
  for (int li = 0; li < suri_model_layer_count(m); li++) {
    if (layer >= 0 && li != layer) continue;
    const suri_layer *s = suri_model_layer(m, li);
    ntk_layer *ly = &c->L[c->nl++];
    ly->in = s->in, ly->out = s->out;
    ly->sw2 = s->scale_w * s->scale_w;
    ly->sb2 = s->b_offset != SIZE_MAX ? s->scale_b * s->scale_b : 0.0;
    ly->input = s->input, ly->preact = s->preact;
    find_norm(m, li, ly);
    if (layer >= 0) ly->norm = 0; /* restriction: W and b only */
    c->per_sample += ly->in + c->C * ly->out + (ly->norm ? 2 * c->C * ly->out : 0);
  }
}

static size_t fixed_bytes(const ntk_ctx *c) {
  int64_t maxn = 1;
  for (int l = 0; l < c->nl; l++) maxn = c->L[l].out > maxn ? c->L[l].out : maxn;
  return (size_t)(c->B * c->C) * 2 * sizeof(suri_real) + (size_t)c->B * sizeof(int32_t) +
         (size_t)(c->B * maxn) * sizeof(double);
}

/* Scratch bytes for blocks of bs samples (two feature blocks and the Gram work). */
static size_t block_bytes(const ntk_ctx *c, suri_ntk_mode mode, int64_t bs) {
  double f = (double)c->per_sample * 8.0 * (mode == SURI_NTK_DIAG ? 1.0 : 2.0) * (double)bs;
  double gram = mode == SURI_NTK_FULL ? (double)(bs * bs) * (double)(c->C * c->C + 1)
              : mode == SURI_NTK_TRACE ? 2.0 * (double)(bs * bs) : 0.0;
  double total = f + 8.0 * gram + (double)fixed_bytes(c);
  return total > (double)SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)total;
}

size_t suri_ntk_scratch_bytes(const suri_model *m, suri_ntk_mode mode, int layer, int64_t block) {
  ntk_ctx c;
  memset(&c, 0, sizeof c);
  const suri_model_spec *s = suri_model_get_spec(m);
  c.C = s->width[s->n_widths - 1];
  c.B = suri_model_max_batch(m);
  ctx_layers(&c, m, layer);
  return block_bytes(&c, mode, block);
}

static suri_status feat_alloc(const ntk_ctx *c, int64_t cap, ntk_feat *f) {
  memset(f, 0, sizeof *f);
  f->block = malloc((size_t)(c->per_sample * cap) * sizeof(double));
  if (!f->block) return suri_fail(SURI_ERR_NOMEM, "NTK: cannot allocate features");
  double *p = f->block;
  for (int l = 0; l < c->nl; l++) {
    f->h[l] = p, p += cap * c->L[l].in;
    f->d[l] = p, p += cap * c->C * c->L[l].out;
    if (c->L[l].norm) f->nf[l] = p, p += cap * 2 * c->C * c->L[l].out;
  }
  return SURI_OK;
}

/* xh (b, n) of the norm after layer ly, from its dense output u. */
static void norm_xhat(const ntk_ctx *c, const ntk_layer *ly, int64_t b) {
  const suri_real *u = suri_graph_value(c->g, ly->preact);
  int64_t n = ly->out;
  for (int64_t i = 0; i < b; i++) {
    const suri_real *ui = u + i * n;
    double *x = c->xh + i * n, mu = 0, var = 0;
    if (ly->norm == 2) {
      for (int64_t j = 0; j < n; j++) mu += ui[j];
      mu /= (double)n;
      for (int64_t j = 0; j < n; j++) var += ((double)ui[j] - mu) * ((double)ui[j] - mu);
      var /= (double)n;
    }
    for (int64_t j = 0; j < n; j++)
      x[j] = ly->norm == 1 ? ((double)ui[j] - ly->rm[j]) / sqrt((double)ly->rv[j] + ly->eps)
                           : ((double)ui[j] - mu) / sqrt(var + ly->eps);
  }
}

/* Features of rows [r0, r0 + b) of x (one chunk <= B) into f at row offset fr. */
static suri_status feat_chunk(ntk_ctx *c, const suri_real *x, int64_t r0, int64_t b,
                              ntk_feat *f, int64_t fr) {
  suri_analysis_data d = {r0 + b, x, NULL, NULL, 0, 0};
  suri_status st = an_load_chunk(c->m, &d, r0, b, c->lab, c->tgt);
  if (!st) st = suri_graph_forward(c->g);
  if (st) return st;
  int64_t C = c->C;
  for (int l = 0; l < c->nl; l++) {
    const ntk_layer *ly = &c->L[l];
    const suri_real *h = suri_graph_value(c->g, ly->input);
    for (int64_t i = 0; i < b * ly->in; i++) f->h[l][fr * ly->in + i] = (double)h[i];
  }
  size_t P = suri_model_param_count(c->m);
  for (int64_t k = 0; k < C; k++) {
    memset(c->seed, 0, (size_t)(b * C) * sizeof *c->seed);
    for (int64_t i = 0; i < b; i++) c->seed[i * C + k] = 1;
    memset(suri_model_grads(c->m), 0, P * sizeof(suri_real)); /* unused; keep it bounded */
    st = suri_graph_backward(c->g, suri_model_output(c->m), c->seed);
    if (st) return st;
    for (int l = 0; l < c->nl; l++) {
      const ntk_layer *ly = &c->L[l];
      int64_t n = ly->out;
      const suri_real *dl = suri_graph_grad(c->g, ly->preact);
      for (int64_t i = 0; i < b; i++) {
        double *row = f->d[l] + ((fr + i) * C + k) * n;
        for (int64_t j = 0; j < n; j++) row[j] = (double)dl[i * n + j];
      }
      if (!ly->norm) continue;
      norm_xhat(c, ly, b); /* one buffer shared by the layers: recomputed (O(b n), cheap) */
      const suri_real *dy = suri_graph_grad(c->g, ly->norm_node);
      for (int64_t i = 0; i < b; i++) {
        double *row = f->nf[l] + ((fr + i) * C + k) * 2 * n;
        for (int64_t j = 0; j < n; j++) {
          row[j] = (double)dy[i * n + j] * c->xh[i * n + j];
          row[n + j] = (double)dy[i * n + j];
        }
      }
    }
  }
  return SURI_OK;
}

static suri_status feat_block(ntk_ctx *c, const suri_real *x, int64_t r0, int64_t rows,
                              ntk_feat *f) {
  f->rows = rows;
  for (int64_t i = 0; i < rows; i += c->B) {
    int64_t b = rows - i < c->B ? rows - i : c->B;
    suri_status st = feat_chunk(c, x, r0 + i, b, f, i);
    if (st) return st;
  }
  return SURI_OK;
}

/* ---- Gram of two feature blocks ----------------------------------------------------------- */
typedef struct ntk_work {
  double *gd, *gh; /* (bs C, bs C) or (bs, bs); (bs, bs) */
} ntk_work;

static void gram_full(const ntk_ctx *c, const ntk_feat *I, const ntk_feat *J, double *K,
                      int64_t ldk, const ntk_work *w) {
  int64_t bi = I->rows, bj = J->rows, C = c->C, ldg = bj * C;
  for (int l = 0; l < c->nl; l++) {
    const ntk_layer *ly = &c->L[l];
    suri_dgemm(0, 1, bi, bj, ly->in, 1.0, I->h[l], ly->in, J->h[l], ly->in, 0.0, w->gh, bj);
    suri_dgemm(0, 1, bi * C, bj * C, ly->out, 1.0, I->d[l], ly->out, J->d[l], ly->out, 0.0, w->gd,
               ldg);
    for (int64_t i = 0; i < bi; i++)
      for (int64_t j = 0; j < bj; j++) {
        double hh = ly->sw2 * w->gh[i * bj + j] + ly->sb2;
        for (int64_t k = 0; k < C; k++)
          for (int64_t q = 0; q < C; q++)
            K[(i * C + k) * ldk + j * C + q] += w->gd[(i * C + k) * ldg + j * C + q] * hh;
      }
    if (!ly->norm) continue;
    suri_dgemm(0, 1, bi * C, bj * C, 2 * ly->out, 1.0, I->nf[l], 2 * ly->out, J->nf[l],
               2 * ly->out, 0.0, w->gd, ldg);
    for (int64_t r = 0; r < bi * C; r++)
      for (int64_t s = 0; s < bj * C; s++) K[r * ldk + s] += w->gd[r * ldg + s];
  }
}

static void gram_trace(const ntk_ctx *c, const ntk_feat *I, const ntk_feat *J, double *K,
                       int64_t ldk, const ntk_work *w) {
  int64_t bi = I->rows, bj = J->rows, C = c->C;
  for (int l = 0; l < c->nl; l++) {
    const ntk_layer *ly = &c->L[l];
    int64_t wd = C * ly->out; /* (sample, [k, unit]) rows: the product sums over k too */
    suri_dgemm(0, 1, bi, bj, ly->in, 1.0, I->h[l], ly->in, J->h[l], ly->in, 0.0, w->gh, bj);
    suri_dgemm(0, 1, bi, bj, wd, 1.0, I->d[l], wd, J->d[l], wd, 0.0, w->gd, bj);
    for (int64_t i = 0; i < bi; i++)
      for (int64_t j = 0; j < bj; j++)
        K[i * ldk + j] += w->gd[i * bj + j] * (ly->sw2 * w->gh[i * bj + j] + ly->sb2);
    if (!ly->norm) continue;
    suri_dgemm(0, 1, bi, bj, 2 * wd, 1.0, I->nf[l], 2 * wd, J->nf[l], 2 * wd, 0.0, w->gd, bj);
    for (int64_t i = 0; i < bi; i++)
      for (int64_t j = 0; j < bj; j++) K[i * ldk + j] += w->gd[i * bj + j];
  }
}

/* Diagonal Theta_kk(x_i, x_i) of a feature block into K (rows, C). */
static void gram_diag(const ntk_ctx *c, const ntk_feat *f, double *K) {
  int64_t C = c->C;
  for (int64_t i = 0; i < f->rows; i++)
    for (int64_t k = 0; k < C; k++) {
      double s = 0;
      for (int l = 0; l < c->nl; l++) {
        const ntk_layer *ly = &c->L[l];
        const double *h = f->h[l] + i * ly->in, *d = f->d[l] + (i * C + k) * ly->out;
        double hh = 0, dd = 0;
        for (int64_t j = 0; j < ly->in; j++) hh += h[j] * h[j];
        for (int64_t j = 0; j < ly->out; j++) dd += d[j] * d[j];
        s += dd * (ly->sw2 * hh + ly->sb2);
        if (!ly->norm) continue;
        const double *nf = f->nf[l] + (i * C + k) * 2 * ly->out;
        for (int64_t j = 0; j < 2 * ly->out; j++) s += nf[j] * nf[j];
      }
      K[i * C + k] = s;
    }
}

/* ---- driver ------------------------------------------------------------------------------- */
static suri_status ntk_check(const suri_model *m, int64_t n1, const suri_real *x1, int64_t n2,
                             const suri_real *x2, const suri_ntk_opts *o, const double *K) {
  if (!m || !x1 || !K || n1 < 1)
    return suri_fail(SURI_ERR_ARG, "NTK: need a model, x1 with n1 >= 1 and an output (n1 = %lld)",
                     (long long)n1);
  if (x2 && n2 < 1) return suri_fail(SURI_ERR_ARG, "NTK: n2 must be >= 1 (got %lld)", (long long)n2);
  if (o->mode == SURI_NTK_DIAG && x2)
    return suri_fail(SURI_ERR_ARG, "NTK: the diagonal mode takes one set (x2 must be NULL)");
  if (o->mode < SURI_NTK_FULL || o->mode > SURI_NTK_DIAG)
    return suri_fail(SURI_ERR_ARG, "NTK: invalid mode %d", (int)o->mode);
  if (o->layer < -1 || o->layer >= suri_model_layer_count(m))
    return suri_fail(SURI_ERR_ARG, "NTK: layer %d does not exist (the model has %d dense layers, "
                     "0..%d)", o->layer, suri_model_layer_count(m), suri_model_layer_count(m) - 1);
  return SURI_OK;
}

static suri_status ntk_ctx_init(ntk_ctx *c, suri_model *m, int layer) {
  memset(c, 0, sizeof *c);
  const suri_model_spec *s = suri_model_get_spec(m);
  c->m = m, c->g = suri_model_graph(m);
  c->IN = s->width[0], c->C = s->width[s->n_widths - 1], c->B = suri_model_max_batch(m);
  ctx_layers(c, m, layer);
  int64_t maxn = 1;
  for (int l = 0; l < c->nl; l++) maxn = c->L[l].out > maxn ? c->L[l].out : maxn;
  c->seed = calloc((size_t)(c->B * c->C), sizeof *c->seed);
  c->tgt = calloc((size_t)(c->B * c->C), sizeof *c->tgt);
  c->lab = calloc((size_t)c->B, sizeof *c->lab);
  c->xh = calloc((size_t)(c->B * maxn), sizeof *c->xh);
  if (!c->seed || !c->tgt || !c->lab || !c->xh)
    return suri_fail(SURI_ERR_NOMEM, "NTK: cannot allocate chunk buffers");
  return SURI_OK;
}

static void ntk_ctx_free(ntk_ctx *c) { free(c->seed), free(c->tgt), free(c->lab), free(c->xh); }

/* Largest block size in [1, nmax] within the budget, or 0. */
static int64_t pick_block(const ntk_ctx *c, suri_ntk_mode mode, int64_t nmax, size_t budget) {
  if (block_bytes(c, mode, 1) > budget) return 0;
  int64_t lo = 1, hi = nmax;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo + 1) / 2;
    if (block_bytes(c, mode, mid) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

static suri_status ntk_blocks(ntk_ctx *c, suri_ntk_mode mode, int64_t bs, int64_t n1,
                              const suri_real *x1, int64_t n2, const suri_real *x2, int sym,
                              double *K) {
  ntk_feat FI = {0}, FJ = {0};
  ntk_work w = {NULL, NULL};
  int64_t C = c->C, ldk = mode == SURI_NTK_FULL ? n2 * C : n2;
  suri_status st = feat_alloc(c, bs, &FI);
  if (!st) st = feat_alloc(c, bs, &FJ);
  if (!st) {
    w.gd = malloc((size_t)(bs * bs) * (size_t)(mode == SURI_NTK_FULL ? C * C : 1) * sizeof(double));
    w.gh = malloc((size_t)(bs * bs) * sizeof(double));
    if (!w.gd || !w.gh) st = suri_fail(SURI_ERR_NOMEM, "NTK: cannot allocate Gram work");
  }
  for (int64_t i0 = 0; i0 < n1 && !st; i0 += bs) {
    st = feat_block(c, x1, i0, n1 - i0 < bs ? n1 - i0 : bs, &FI);
    for (int64_t j0 = sym ? i0 : 0; j0 < n2 && !st; j0 += bs) {
      const ntk_feat *J = &FI;
      if (!(sym && j0 == i0)) {
        st = feat_block(c, x2, j0, n2 - j0 < bs ? n2 - j0 : bs, &FJ);
        J = &FJ;
      }
      if (st) break;
      if (mode == SURI_NTK_FULL) gram_full(c, &FI, J, K + (i0 * C) * ldk + j0 * C, ldk, &w);
      else gram_trace(c, &FI, J, K + i0 * ldk + j0, ldk, &w);
    }
  }
  free(FI.block), free(FJ.block), free(w.gd), free(w.gh);
  if (st || !sym) return st;
  int64_t N = mode == SURI_NTK_FULL ? n1 * C : n1; /* exact symmetry: lower = upper */
  for (int64_t r = 0; r < N; r++)
    for (int64_t s = r + 1; s < N; s++) K[s * N + r] = K[r * N + s];
  return SURI_OK;
}

suri_status suri_ntk_gram(suri_model *m, int64_t n1, const suri_real *x1, int64_t n2,
                          const suri_real *x2, const suri_ntk_opts *o, double *K) {
  suri_ntk_opts op = o ? *o : suri_ntk_defaults();
  suri_status st = ntk_check(m, n1, x1, n2, x2, &op, K);
  if (st) return st;
  int sym = x2 == NULL;
  if (sym) x2 = x1, n2 = n1;
  ntk_ctx c;
  st = ntk_ctx_init(&c, m, op.layer);
  int64_t nmax = op.mode == SURI_NTK_DIAG ? (n1 < c.B ? n1 : c.B) : (n1 > n2 ? n1 : n2);
  int64_t bs = st ? 0 : pick_block(&c, op.mode, nmax, op.max_bytes);
  if (!st && bs == 0)
    st = suri_fail(SURI_ERR_NOMEM, "NTK: one sample per block needs %zu bytes of scratch, over "
                   "the budget of %zu bytes (%lld feature doubles per sample); raise max_bytes",
                   block_bytes(&c, op.mode, 1), op.max_bytes, (long long)c.per_sample);
  if (st) {
    ntk_ctx_free(&c);
    return st;
  }
  int training0 = suri_graph_training(c.g);
  suri_graph_set_training(c.g, 0);
  if (op.mode == SURI_NTK_DIAG) {
    ntk_feat F;
    st = feat_alloc(&c, bs, &F);
    for (int64_t i0 = 0; i0 < n1 && !st; i0 += bs) {
      st = feat_block(&c, x1, i0, n1 - i0 < bs ? n1 - i0 : bs, &F);
      if (!st) gram_diag(&c, &F, K + i0 * c.C);
    }
    if (F.block) free(F.block);
  } else {
    int64_t rows = op.mode == SURI_NTK_FULL ? n1 * c.C : n1;
    int64_t cols = op.mode == SURI_NTK_FULL ? n2 * c.C : n2;
    memset(K, 0, (size_t)(rows * cols) * sizeof *K);
    st = ntk_blocks(&c, op.mode, bs, n1, x1, n2, x2, sym, K);
  }
  suri_graph_set_training(c.g, training0);
  ntk_ctx_free(&c);
  return st;
}
