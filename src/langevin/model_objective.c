/* model_objective.c - a suri model and its training set as a finite-sum objective
 * F(x) = (1/n) sum_i f_i(x), f_i = the model's loss on sample i, for the Langevin samplers
 * and averaged SGD; the compact parameter vector (tensors concatenated without the flat
 * block's alignment padding, so padding never receives Langevin noise and sample files hold
 * only real parameters); and the symmetric initialisation of averaged_sgd_ntk.md section 2
 * for two-layer models.
 *
 * A minibatch gradient is the model's mean-loss gradient: suri_model_loss_grad over chunks of
 * the compiled max_batch, each chunk's gradient weighted by its size and summed in double,
 * then divided by the count. That is exactly (1/count) sum_j grad f_{idx[j]} because every
 * accepted model's loss is a mean of per-sample terms (no dropout, no batch norm). */
#include <math.h>
#include <string.h>

#include "suri/langevin.h"
#include "suri/train.h"

struct suri_model_objective {
  suri_model *m;
  const suri_dataset *d;
  size_t P, nparam;
  int64_t maxb, out_w;
  int logistic_from_labels;
  suri_real *saved;   /* (nparam) the model's own parameters during an evaluation */
  suri_real *xb, *tb; /* (maxb, IN), (maxb, OUT) */
  int32_t *yb;        /* (maxb) */
  int64_t *seq;       /* (maxb) consecutive indices for full passes */
  double *acc;        /* (P) */
};

/* Calls fn(offset in block, offset in x, count) for every parameter tensor, in tensor order. */
typedef void (*tensor_fn)(size_t off, size_t pos, size_t cnt, void *u);
static size_t for_each_param(const suri_model *m, tensor_fn fn, void *u) {
  size_t pos = 0;
  for (int i = 0; i < suri_model_tensor_count(m); i++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, i);
    if (t->is_state) continue;
    size_t cnt = (size_t)t->dim[0] * (size_t)(t->rank == 2 ? t->dim[1] : 1);
    if (fn) fn(t->offset, pos, cnt, u);
    pos += cnt;
  }
  return pos;
}

typedef struct copy_args {
  suri_real *block;
  suri_real *x;
  const suri_real *cblock, *cx;
  double *acc;
  double w;
} copy_args;

static void pack_fn(size_t off, size_t pos, size_t cnt, void *u) {
  copy_args *a = u;
  memcpy(a->x + pos, a->cblock + off, cnt * sizeof(suri_real));
}
static void unpack_fn(size_t off, size_t pos, size_t cnt, void *u) {
  copy_args *a = u;
  memcpy(a->block + off, a->cx + pos, cnt * sizeof(suri_real));
}
static void accum_fn(size_t off, size_t pos, size_t cnt, void *u) {
  copy_args *a = u;
  for (size_t e = 0; e < cnt; e++) a->acc[pos + e] += a->w * (double)a->cblock[off + e];
}

void suri_model_params_pack(const suri_model *m, suri_real *x) {
  copy_args a = {0};
  a.x = x;
  a.cblock = suri_model_params((suri_model *)m); /* read only */
  for_each_param(m, pack_fn, &a);
}

void suri_model_params_unpack(suri_model *m, const suri_real *x) {
  copy_args a = {0};
  a.block = suri_model_params(m);
  a.cx = x;
  for_each_param(m, unpack_fn, &a);
}

void suri_model_objective_pack(const suri_model_objective *mo, suri_real *x) {
  suri_model_params_pack(mo->m, x);
}

void suri_model_objective_unpack(suri_model_objective *mo, const suri_real *x) {
  suri_model_params_unpack(mo->m, x);
}

/* One chunk: gather rows, loss and gradient, acc += b * grad. */
static suri_status chunk(suri_model_objective *mo, const int64_t *rows, int64_t b, double *lsum) {
  const suri_model_spec *s = suri_model_get_spec(mo->m);
  suri_data_gather(mo->d, rows, b, mo->xb, mo->yb, mo->tb);
  if (mo->logistic_from_labels)
    for (int64_t i = 0; i < b; i++) mo->tb[i] = (suri_real)mo->yb[i];
  suri_status st = suri_model_set_batch(mo->m, b, mo->xb, s->loss == SURI_LOSS_CE ? mo->yb : NULL,
                                        s->loss == SURI_LOSS_CE ? NULL : mo->tb);
  double loss = 0;
  if (!st) st = suri_model_loss_grad(mo->m, &loss);
  if (st) return st;
  copy_args a = {0};
  a.cblock = suri_model_grads(mo->m);
  a.acc = mo->acc;
  a.w = (double)b;
  for_each_param(mo->m, accum_fn, &a);
  *lsum += loss * (double)b;
  return SURI_OK;
}

static suri_status model_grad(void *ctx, const suri_real *x, int64_t count, const int64_t *idx,
                              double *g, double *loss) {
  suri_model_objective *mo = ctx;
  if (count < 1 || (!idx && count != mo->d->n))
    return suri_fail(SURI_ERR_ARG, "model objective: bad term count %lld (data size %lld)",
                     (long long)count, (long long)mo->d->n);
  suri_real *params = suri_model_params(mo->m);
  memcpy(mo->saved, params, mo->nparam * sizeof(suri_real));
  suri_model_params_unpack(mo->m, x);
  memset(mo->acc, 0, mo->P * sizeof(double));
  double lsum = 0;
  suri_status st = SURI_OK;
  for (int64_t i = 0; i < count && !st; i += mo->maxb) {
    int64_t b = count - i < mo->maxb ? count - i : mo->maxb;
    if (!idx)
      for (int64_t j = 0; j < b; j++) mo->seq[j] = i + j;
    st = chunk(mo, idx ? idx + i : mo->seq, b, &lsum);
  }
  memcpy(params, mo->saved, mo->nparam * sizeof(suri_real));
  if (st) return st;
  for (size_t j = 0; j < mo->P; j++) g[j] = mo->acc[j] / (double)count;
  if (loss) *loss = lsum / (double)count;
  return SURI_OK;
}

void suri_model_objective_free(suri_model_objective *mo) {
  if (!mo) return;
  suri_free(mo->saved);
  suri_free(mo->xb);
  suri_free(mo->tb);
  suri_free(mo->yb);
  suri_free(mo->seq);
  suri_free(mo->acc);
  suri_free(mo);
}

static suri_status check_model(const suri_model *m, const suri_dataset *d) {
  const suri_model_spec *s = suri_model_get_spec(m);
  if (s->dropout > 0)
    return suri_fail(SURI_ERR_ARG, "model objective: dropout=%g makes the loss terms random; "
                     "Langevin samplers and averaged SGD need dropout=0", s->dropout);
  if (s->norm == SURI_NORM_BATCH || s->norm == SURI_NORM_LASTBATCH)
    return suri_fail(SURI_ERR_ARG, "model objective: norm=%s couples the samples of a batch, "
                     "so the loss is not a sum of per-sample terms; use norm=none or layer",
                     suri_norm_name(s->norm));
  if (!d || d->n < 1) return suri_fail(SURI_ERR_ARG, "model objective: empty training set");
  if (s->loss == SURI_LOSS_LOGISTIC && !d->t)
    for (int64_t i = 0; d->y && i < d->n; i++)
      if (d->y[i] != 0 && d->y[i] != 1)
        return suri_fail(SURI_ERR_ARG, "model objective: loss=logistic needs 0/1 labels; "
                         "sample %lld of '%s' has label %d", (long long)i, d->name, d->y[i]);
  return SURI_OK;
}

suri_status suri_model_objective_new(suri_model *m, const suri_dataset *train,
                                     suri_model_objective **out, suri_objective *obj) {
  *out = NULL;
  if (!m || !obj) return suri_fail(SURI_ERR_ARG, "model objective: model or objective is NULL");
  suri_status st = check_model(m, train);
  if (!st) st = suri_train_check_data(m, train, "training");
  if (st) return st;
  const suri_model_spec *s = suri_model_get_spec(m);
  suri_model_objective *mo = suri_calloc(1, sizeof *mo);
  if (!mo) return SURI_ERR_NOMEM;
  mo->m = m;
  mo->d = train;
  mo->nparam = suri_model_param_count(m);
  mo->P = for_each_param(m, NULL, NULL);
  mo->maxb = suri_model_max_batch(m);
  mo->out_w = s->width[s->n_widths - 1];
  mo->logistic_from_labels = s->loss == SURI_LOSS_LOGISTIC && !train->t;
  size_t mb = (size_t)mo->maxb;
  mo->saved = suri_alloc(mo->nparam * sizeof(suri_real));
  mo->xb = suri_alloc(mb * (size_t)train->dim * sizeof(suri_real));
  mo->tb = suri_alloc(mb * (size_t)mo->out_w * sizeof(suri_real));
  mo->yb = suri_alloc(mb * sizeof(int32_t));
  mo->seq = suri_alloc(mb * sizeof(int64_t));
  mo->acc = suri_alloc(mo->P * sizeof(double));
  if (!mo->saved || !mo->xb || !mo->tb || !mo->yb || !mo->seq || !mo->acc) {
    suri_model_objective_free(mo);
    return suri_fail(SURI_ERR_NOMEM, "model objective: cannot allocate buffers");
  }
  obj->n = train->n;
  obj->dim = mo->P;
  obj->grad = model_grad;
  obj->ctx = mo;
  *out = mo;
  return SURI_OK;
}

suri_status suri_model_symmetric_init(suri_model *m) {
  const suri_model_spec *s = suri_model_get_spec(m);
  if (s->n_widths != 3 || s->norm != SURI_NORM_NONE || s->width[1] % 2 != 0)
    return suri_fail(SURI_ERR_ARG, "symmetric init needs a two-layer model mlp:IN-M-OUT with M "
                     "even and norm=none (got %d layers, M = %lld, norm=%s)", s->n_widths - 1,
                     (long long)s->width[1], suri_norm_name(s->norm));
  const suri_layer *l1 = suri_model_layer(m, 0), *l2 = suri_model_layer(m, 1);
  suri_real *p = suri_model_params(m);
  int64_t M = s->width[1], h = M / 2, in = l1->in, out = l2->out;
  for (int64_t r = 0; r < h; r++) {
    memcpy(p + l1->w_offset + (size_t)((r + h) * in), p + l1->w_offset + (size_t)(r * in),
           (size_t)in * sizeof(suri_real));
    if (l1->b_offset != SIZE_MAX) p[l1->b_offset + (size_t)(r + h)] = p[l1->b_offset + (size_t)r];
    for (int64_t k = 0; k < out; k++)
      p[l2->w_offset + (size_t)(k * M + r + h)] = -p[l2->w_offset + (size_t)(k * M + r)];
  }
  if (l2->b_offset != SIZE_MAX)
    for (int64_t k = 0; k < out; k++) p[l2->b_offset + (size_t)k] = 0;
  return SURI_OK;
}
