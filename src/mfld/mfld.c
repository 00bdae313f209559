/* mfld.c - the mean-field particle system object: configuration (defaults of
 * docs/algorithms/mfld.md section 5 and pda_psdca.md), allocation, initialisation from the
 * Gibbs prior N(0, lambda2 / (2 lambda1) I) (mfld.md section 3), the output weights alpha(a) of
 * each head, and evaluation: f(x) = (1/M) sum_j alpha_j act(w_j . x + b_j) (for weighted
 * P-SDCA particles sum_j w_j alpha_j act(...)), risk, L2 term, errors. */
#include <math.h>
#include <string.h>

#include "mfld_internal.h"
#include "suri/linalg.h"

#define OMP_MIN_WORK 32768

suri_mfld_config suri_mfld_defaults(void) {
  suri_mfld_config c;
  memset(&c, 0, sizeof c);
  c.method = SURI_MFLD_METHOD_MFLD;
  c.M = 1000;
  c.act = SURI_ACT_TANH;
  c.bias = 0;
  c.head = SURI_MFLD_HEAD_LEARN;
  c.R = 1.0;
  c.loss = SURI_MFLD_LOSS_SQUARED;
  c.lambda1 = 1e-3;
  c.lambda2 = 1e-3;
  c.init_std = -1.0;
  c.eta = 0.05;
  c.estimator = SURI_MFLD_FULL;
  c.batch = 128;
  c.svrg_period = 0;
  c.anneal = 0.0;
  c.epochs = 100;
  c.steps_per_epoch = 0;
  c.seed = 1;
  c.monitor_every = 1;
  c.gap = -1;
  c.gap_samples = 4096;
  c.gap_grid = 0;
  c.knn = 5;
  c.inner_eta = 0.0;
  c.smoothness = 1.0;
  c.pda_batch = 32;
  c.pda_inner = 20;
  c.psdca_inner = 20;
  c.psdca_ess = 0.5;
  c.psdca_safety = 1.5;
  c.psdca_refresh = 1;
  c.chunk = 1024;
  c.stop = NULL;
  return c;
}

static const char *const method_names[] = {"mfld", "pda", "psdca"};
static const char *const head_names[] = {"learn", "bounded", "pm1", "one"};
static const char *const loss_names[] = {"squared", "logistic"};
static const char *const est_names[] = {"full", "minibatch", "svrg"};

const char *suri_mfld_method_name(suri_mfld_method k) {
  return (unsigned)k < 3 ? method_names[k] : "?";
}
const char *suri_mfld_head_name(suri_mfld_head k) { return (unsigned)k < 4 ? head_names[k] : "?"; }
const char *suri_mfld_loss_name(suri_mfld_loss k) { return (unsigned)k < 2 ? loss_names[k] : "?"; }
const char *suri_mfld_estimator_name(suri_mfld_estimator k) {
  return (unsigned)k < 3 ? est_names[k] : "?";
}

static suri_status parse_name(const char *s, const char *const *names, int n, const char *what,
                              const char *valid, int *out) {
  for (int i = 0; s && i < n; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = i;
      return SURI_OK;
    }
  return suri_fail(SURI_ERR_ARG, "unknown %s \"%s\" (valid: %s)", what, s ? s : "(null)", valid);
}

suri_status suri_mfld_method_parse(const char *s, suri_mfld_method *out) {
  int v = 0;
  suri_status st = parse_name(s, method_names, 3, "mean-field method", "mfld, pda, psdca", &v);
  if (!st && out) *out = (suri_mfld_method)v;
  return st;
}
suri_status suri_mfld_head_parse(const char *s, suri_mfld_head *out) {
  int v = 0;
  suri_status st = parse_name(s, head_names, 4, "mean-field head", "learn, bounded, pm1, one", &v);
  if (!st && out) *out = (suri_mfld_head)v;
  return st;
}
suri_status suri_mfld_loss_parse(const char *s, suri_mfld_loss *out) {
  int v = 0;
  suri_status st = parse_name(s, loss_names, 2, "mean-field loss", "squared, logistic", &v);
  if (!st && out) *out = (suri_mfld_loss)v;
  return st;
}
suri_status suri_mfld_estimator_parse(const char *s, suri_mfld_estimator *out) {
  int v = 0;
  suri_status st = parse_name(s, est_names, 3, "gradient estimator", "full, minibatch, svrg", &v);
  if (!st && out) *out = (suri_mfld_estimator)v;
  return st;
}

#define BAD(...) return suri_fail(SURI_ERR_ARG, __VA_ARGS__)

suri_status suri_mfld_check(const suri_mfld_config *c) {
  if (!c) BAD("mfld: config is NULL");
  if ((unsigned)c->method > SURI_MFLD_METHOD_PSDCA)
    BAD("mfld: method %d is not valid", (int)c->method);
  if (c->M < 1 || c->M > ((int64_t)1 << 26))
    BAD("mfld: M (particles) must be in [1, 2^26] (got %lld)", (long long)c->M);
  if (c->act != SURI_ACT_TANH && c->act != SURI_ACT_RELU && c->act != SURI_ACT_IDENTITY)
    return suri_fail(SURI_ERR_UNSUPPORTED, "mfld: act=%s is not supported (tanh, relu, identity)",
                     suri_act_name(c->act));
  if (c->bias != 0 && c->bias != 1) BAD("mfld: bias must be 0 or 1 (got %d)", c->bias);
  if ((unsigned)c->head > SURI_MFLD_HEAD_FIXED_ONE) BAD("mfld: head %d is not valid", (int)c->head);
  if (!(c->R > 0) || !isfinite(c->R)) BAD("mfld: R must be > 0 and finite (got %g)", c->R);
  if ((unsigned)c->loss > SURI_MFLD_LOSS_LOGISTIC) BAD("mfld: loss %d is not valid", (int)c->loss);
  if (!(c->lambda1 >= 0) || !isfinite(c->lambda1))
    BAD("mfld: lambda1 must be >= 0 and finite (got %g)", c->lambda1);
  if (!(c->lambda2 >= 0) || !isfinite(c->lambda2))
    BAD("mfld: lambda2 must be >= 0 and finite (got %g)", c->lambda2);
  if (c->init_std < 0 && !(c->lambda1 > 0 && c->lambda2 > 0))
    BAD("mfld: init_std < 0 asks for the Gibbs prior sqrt(lambda2/(2 lambda1)), which needs "
        "lambda1 > 0 and lambda2 > 0 (got %g, %g): set init_std",
        c->lambda1, c->lambda2);
  if (!isfinite(c->init_std)) BAD("mfld: init_std must be finite");
  if (!(c->eta > 0) || !isfinite(c->eta)) BAD("mfld: eta must be > 0 and finite (got %g)", c->eta);
  if (c->eta * 2 * c->lambda1 >= 1)
    BAD("mfld: eta * 2 lambda1 = %g must be < 1 (the decay would overshoot)",
        c->eta * 2 * c->lambda1);
  if ((unsigned)c->estimator > SURI_MFLD_SVRG)
    BAD("mfld: estimator %d is not valid", (int)c->estimator);
  if (c->batch < 1) BAD("mfld: batch must be >= 1 (got %lld)", (long long)c->batch);
  if (c->chunk < 1 || c->chunk > (1 << 20))
    BAD("mfld: chunk must be in [1, 2^20] (got %lld)", (long long)c->chunk);
  if (c->batch > c->chunk && c->estimator != SURI_MFLD_FULL)
    BAD("mfld: batch %lld exceeds chunk %lld (raise chunk)", (long long)c->batch,
        (long long)c->chunk);
  if (c->svrg_period < 0)
    BAD("mfld: svrg_period must be >= 0 (got %lld)", (long long)c->svrg_period);
  if (!(c->anneal >= 0) || !isfinite(c->anneal))
    BAD("mfld: anneal must be >= 0 (got %g)", c->anneal);
  if (c->anneal > 0 && c->method != SURI_MFLD_METHOD_MFLD)
    BAD("mfld: anneal applies to method mfld only");
  if (c->epochs < 0) BAD("mfld: epochs must be >= 0 (got %lld)", (long long)c->epochs);
  if (c->steps_per_epoch < 0)
    BAD("mfld: steps_per_epoch must be >= 0 (got %lld)", (long long)c->steps_per_epoch);
  if (c->monitor_every < 1)
    BAD("mfld: monitor_every must be >= 1 (got %lld)", (long long)c->monitor_every);
  if (c->gap < -1 || c->gap > 1) BAD("mfld: gap must be -1 (auto), 0 or 1 (got %d)", c->gap);
  if (c->gap_samples < 16)
    BAD("mfld: gap_samples must be >= 16 (got %lld)", (long long)c->gap_samples);
  if (c->gap_grid != 0 && (c->gap_grid < 8 || c->gap_grid > 100000))
    BAD("mfld: gap_grid must be 0 or in [8, 100000] (got %d)", c->gap_grid);
  if (c->knn < 1 || c->knn > 64) BAD("mfld: knn must be in [1, 64] (got %d)", c->knn);
  if (!(c->inner_eta >= 0) || !isfinite(c->inner_eta))
    BAD("mfld: inner_eta must be >= 0 (got %g)", c->inner_eta);
  if (!(c->smoothness >= 0) || !isfinite(c->smoothness))
    BAD("mfld: smoothness must be >= 0 (got %g)", c->smoothness);
  if (c->pda_batch < 1 || c->pda_batch > c->chunk)
    BAD("mfld: pda_batch must be in [1, chunk] (got %lld)", (long long)c->pda_batch);
  if (c->pda_inner < 0 || c->psdca_inner < 0) BAD("mfld: pda_inner and psdca_inner must be >= 0");
  if (!(c->psdca_ess > 0 && c->psdca_ess <= 1))
    BAD("mfld: psdca_ess must be in (0, 1] (got %g)", c->psdca_ess);
  if (!(c->psdca_safety >= 1) || !isfinite(c->psdca_safety))
    BAD("mfld: psdca_safety must be >= 1 (got %g)", c->psdca_safety);
  if (c->psdca_refresh != 0 && c->psdca_refresh != 1)
    BAD("mfld: psdca_refresh must be 0 or 1 (got %d)", c->psdca_refresh);
  if (c->method != SURI_MFLD_METHOD_MFLD && !(c->lambda2 > 0))
    BAD("mfld: method %s needs lambda2 > 0 (its targets are Gibbs measures at temperature lambda2)",
        suri_mfld_method_name(c->method));
  return SURI_OK;
}

double mf_eta_inner(const suri_mfld *m) {
  if (m->c.inner_eta > 0) return m->c.inner_eta;
  return 0.05 / (2 * m->c.lambda1 + m->c.smoothness);
}

void suri_mfld_free(suri_mfld *m) {
  if (!m) return;
  void *bufs[] = {m->theta,       m->afix,       m->alpha_f,
                  m->alpha,       m->dalpha,     m->bvec,
                  m->w,           m->z,          m->z2,
                  m->xb,          m->yb,         m->cb,
                  m->rloss,       m->tmp,        m->pa,
                  m->pb,          m->acc_a,      m->acc_b,
                  m->acc_a2,      m->acc_b2,     m->gtail,
                  m->G,           m->snap,       m->snap_G,
                  m->s_alpha,     m->s_dalpha,   m->s_bvec,
                  m->s_gtail,     m->gtail2,     m->pda_C,
                  m->pda_coefbuf, m->pda_active, m->pda_is_active,
                  m->sd_g,        m->hbuf,       m->theta_tmp,
                  m->cb_all};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) suri_free(bufs[i]);
  suri_free(m);
}

static void *take(size_t count, size_t size, int *fail) {
  void *p = suri_calloc(count ? count : 1, size);
  if (!p) *fail = 1;
  return p;
}

/* Draws every particle coordinate from N(0, std^2), row by row (stream SURI_RNG_INIT). */
static void init_particles(suri_mfld *m) {
  double sd = m->c.init_std >= 0 ? m->c.init_std : sqrt(m->c.lambda2 / (2 * m->c.lambda1));
  suri_rng r = suri_rng_make(m->c.seed, SURI_RNG_INIT);
  for (int64_t j = 0; j < m->M; j++)
    suri_rng_fill_normal(&r, (size_t)m->p, m->theta + j * m->ld, 0.0, sd);
}

suri_status suri_mfld_new(const suri_mfld_config *c, int64_t d, suri_mfld **out) {
  suri_status st = suri_mfld_check(c);
  if (st) return st;
  if (!out) return suri_fail(SURI_ERR_ARG, "suri_mfld_new: out is NULL");
  if (d < 1 || d > ((int64_t)1 << 24))
    return suri_fail(SURI_ERR_ARG, "mfld: input dimension d must be in [1, 2^24] (got %lld)",
                     (long long)d);
  suri_mfld *m = suri_calloc(1, sizeof *m);
  if (!m) return SURI_ERR_NOMEM;
  m->c = *c;
  m->c.stop = c->stop;
  m->act = c->act == SURI_ACT_TANH ? MF_ACT_TANH
                                   : (c->act == SURI_ACT_RELU ? MF_ACT_RELU : MF_ACT_IDENTITY);
  m->M = c->M;
  m->d = d;
  m->has_a = c->head == SURI_MFLD_HEAD_LEARN || c->head == SURI_MFLD_HEAD_BOUNDED;
  m->col_b = c->bias ? (int)d : -1;
  m->col_a = m->has_a ? (int)(d + c->bias) : -1;
  m->p = d + c->bias + m->has_a;
  const int64_t per_line = 64 / (int64_t)sizeof(suri_real);
  m->ld = (m->p + per_line - 1) / per_line * per_line;
  m->chunk = c->chunk;
  m->nblk = (m->chunk + MF_ROW_BLOCK - 1) / MF_ROW_BLOCK;
  const size_t M = (size_t)m->M, CH = (size_t)m->chunk, T = (size_t)(m->p - d);
  size_t big;
  if (suri_mul_size(CH, M, &big) || big > ((size_t)1 << 34) / sizeof(suri_real) ||
      suri_mul_size(M, (size_t)m->ld, &big) || big > ((size_t)1 << 34) / sizeof(suri_real)) {
    const long long pp = (long long)m->p;
    suri_free(m); /* the message reads c and pp, not the freed m */
    return suri_fail(SURI_ERR_NOMEM, "mfld: M = %lld particles x (chunk %lld, p %lld) is too large",
                     (long long)c->M, (long long)c->chunk, pp);
  }
  int fail = 0;
  m->theta = take(M * (size_t)m->ld, sizeof(suri_real), &fail);
  m->afix = take(M, sizeof(suri_real), &fail);
  m->alpha_f = take(M, sizeof(suri_real), &fail);
  m->alpha = take(M, sizeof(suri_real), &fail);
  m->dalpha = take(M, sizeof(suri_real), &fail);
  m->bvec = take(M, sizeof(suri_real), &fail);
  m->z = take(CH * M, sizeof(suri_real), &fail);
  m->xb = take(CH * (size_t)d, sizeof(suri_real), &fail);
  m->yb = take(CH, sizeof(double), &fail);
  m->cb = take(CH, sizeof(double), &fail);
  m->rloss = take(CH, sizeof(double), &fail);
  m->tmp = take((size_t)m->nblk * M, sizeof(suri_real), &fail);
  m->pa = take((size_t)m->nblk * M, sizeof(double), &fail);
  m->pb = take((size_t)m->nblk * M, sizeof(double), &fail);
  m->acc_a = take(M, sizeof(double), &fail);
  m->acc_b = take(M, sizeof(double), &fail);
  m->acc_a2 = take(M, sizeof(double), &fail);
  m->acc_b2 = take(M, sizeof(double), &fail);
  m->gtail = take(M * (T ? T : 1), sizeof(double), &fail);
  m->G = take(M * (size_t)m->ld, sizeof(suri_real), &fail);
  m->hbuf = take(M, sizeof(suri_real), &fail);
  if (c->estimator == SURI_MFLD_SVRG && c->method == SURI_MFLD_METHOD_MFLD) {
    m->z2 = take(CH * M, sizeof(suri_real), &fail);
    m->snap = take(M * (size_t)m->ld, sizeof(suri_real), &fail);
    m->snap_G = take(M * (size_t)m->ld, sizeof(suri_real), &fail);
    m->s_alpha = take(M, sizeof(suri_real), &fail);
    m->s_dalpha = take(M, sizeof(suri_real), &fail);
    m->s_bvec = take(M, sizeof(suri_real), &fail);
    m->s_gtail = take(M * (T ? T : 1), sizeof(double), &fail);
    m->gtail2 = take(M * (T ? T : 1), sizeof(double), &fail);
  }
  if (fail) {
    const long long pp = (long long)m->p;
    suri_mfld_free(m); /* the message reads c and pp, not the freed m */
    return suri_fail(SURI_ERR_NOMEM,
                     "mfld: cannot allocate the particle system (M %lld, p %lld, chunk %lld)",
                     (long long)c->M, pp, (long long)c->chunk);
  }
  for (int64_t j = 0; j < m->M; j++)
    m->afix[j] = c->head == SURI_MFLD_HEAD_FIXED_PM1 ? (j % 2 ? -1 : 1) : 1;
  init_particles(m);
  m->since_snap = INT64_MAX / 2; /* the first SVRG step takes a snapshot */
  *out = m;
  return SURI_OK;
}

const suri_mfld_config *suri_mfld_get_config(const suri_mfld *m) { return &m->c; }
int64_t suri_mfld_input_dim(const suri_mfld *m) { return m->d; }
int64_t suri_mfld_dim(const suri_mfld *m) { return m->p; }
suri_real *suri_mfld_theta(suri_mfld *m, int64_t *ld) {
  if (ld) *ld = m->ld;
  return m->theta;
}
const double *suri_mfld_weights(const suri_mfld *m) { return m->w; }
int64_t suri_mfld_steps(const suri_mfld *m) { return m->lsteps; }
int64_t suri_mfld_epochs_done(const suri_mfld *m) { return m->epochs_done; }

suri_status suri_mfld_set_length(suri_mfld *m, int64_t epochs, int64_t steps_per_epoch) {
  if (!m || epochs < 0 || steps_per_epoch < 0)
    return suri_fail(SURI_ERR_ARG,
                     "mfld_set_length: epochs and steps_per_epoch must be >= 0 "
                     "(got %lld, %lld)",
                     (long long)epochs, (long long)steps_per_epoch);
  m->c.epochs = epochs;
  m->c.steps_per_epoch = steps_per_epoch;
  return SURI_OK;
}

void suri_mfld_set_stop(suri_mfld *m, volatile const int *stop) {
  if (m) m->c.stop = stop;
}

void mf_view_of(suri_mfld *m, mf_view *v) {
  const suri_mfld_head h = m->c.head;
  for (int64_t j = 0; j < m->M; j++) {
    const suri_real *row = m->theta + j * m->ld;
    double a = m->has_a ? (double)row[m->col_a] : 0.0, al, dal = 1.0;
    if (h == SURI_MFLD_HEAD_LEARN)
      al = a;
    else if (h == SURI_MFLD_HEAD_BOUNDED) {
      double t = tanh(a);
      al = m->c.R * t;
      dal = m->c.R * (1 - t * t);
    } else
      al = (double)m->afix[j];
    m->alpha[j] = (suri_real)al;
    m->dalpha[j] = (suri_real)dal;
    m->alpha_f[j] = (suri_real)(m->w ? al * (double)m->M * m->w[j] : al);
    if (m->col_b >= 0) m->bvec[j] = row[m->col_b];
  }
  v->theta = m->theta;
  v->ld = m->ld;
  v->alpha_f = m->alpha_f;
  v->alpha = m->alpha;
  v->dalpha = m->dalpha;
  v->bvec = m->col_b >= 0 ? m->bvec : NULL;
}

/* y of row i: +-1 for labels 1 / 0; the regression target; for the logistic loss targets 0 / 1
 * (suri's and torch's BCE convention) or -1 / +1, both mapped to -1 / +1. */
double mf_target(const suri_mfld *m, const suri_dataset *d, int64_t i) {
  if (d->t && d->targets >= 1) {
    double t = (double)d->t[i * d->targets];
    return m->c.loss == SURI_MFLD_LOSS_LOGISTIC ? (t > 0.5 ? 1.0 : -1.0) : t;
  }
  return d->y[i] ? 1.0 : -1.0;
}

static int is_binary(const suri_mfld *m, const suri_dataset *d) {
  if (d->y && d->classes <= 2 && !(d->t && d->targets >= 1)) return 1;
  return m->c.loss == SURI_MFLD_LOSS_LOGISTIC;
}

suri_status mf_check_data(const suri_mfld *m, const suri_dataset *d, const char *what) {
  if (!d) return suri_fail(SURI_ERR_ARG, "mfld: %s data is NULL", what);
  if (d->n < 1) return suri_fail(SURI_ERR_ARG, "mfld: %s data '%s' has no samples", what, d->name);
  if (d->dim != m->d)
    return suri_fail(SURI_ERR_ARG,
                     "mfld: %s data '%s' has %lld features but the particles have "
                     "input dimension %lld",
                     what, d->name, (long long)d->dim, (long long)m->d);
  int has_t = d->t && d->targets >= 1, has_y = d->y && d->classes >= 1;
  if (has_t && d->targets != 1)
    return suri_fail(SURI_ERR_ARG,
                     "mfld: %s data '%s' has %lld targets per sample; the "
                     "mean-field network has one output",
                     what, d->name, (long long)d->targets);
  if (!has_t && !has_y)
    return suri_fail(SURI_ERR_ARG, "mfld: %s data '%s' has neither labels nor targets", what,
                     d->name);
  if (!has_t && d->classes > 2)
    return suri_fail(SURI_ERR_ARG,
                     "mfld: %s data '%s' has %lld classes; the mean-field network "
                     "is a binary classifier (labels 0/1 -> y = -1/+1) or a regressor",
                     what, d->name, (long long)d->classes);
  if (has_t && m->c.loss == SURI_MFLD_LOSS_LOGISTIC)
    for (int64_t i = 0; i < d->n; i++) {
      double y = (double)d->t[i];
      if (y != 1.0 && y != -1.0 && y != 0.0)
        return suri_fail(SURI_ERR_ARG,
                         "mfld: %s data '%s': loss=logistic needs targets 0/1 or "
                         "-1/+1 (row %lld has %g) or 0/1 labels",
                         what, d->name, (long long)i, y);
    }
  return SURI_OK;
}

suri_status suri_mfld_targets(const suri_mfld *m, const suri_dataset *data, double *y) {
  suri_status st = mf_check_data(m, data, "target");
  if (st) return st;
  for (int64_t i = 0; i < data->n; i++) y[i] = mf_target(m, data, i);
  return SURI_OK;
}

const suri_real *mf_rows(suri_mfld *m, const suri_dataset *d, const int64_t *idx, int64_t r0,
                         int64_t cnt) {
  for (int64_t k = 0; k < cnt; k++) m->yb[k] = mf_target(m, d, idx ? idx[r0 + k] : r0 + k);
  if (!idx) return d->x + r0 * d->dim;
  suri_data_gather(d, idx + r0, cnt, m->xb, NULL, NULL);
  return m->xb;
}

void mf_forward(suri_mfld *m, const mf_view *v, const suri_real *x, int64_t cnt, double *f) {
  const int64_t M = m->M, nb = (cnt + MF_ROW_BLOCK - 1) / MF_ROW_BLOCK;
  mf_gemm(1, 0, 1, cnt, M, m->d, 1, x, m->d, v->theta, v->ld, 0, m->z, M);
#pragma omp parallel for schedule(static) if (cnt * M > OMP_MIN_WORK)
  for (int64_t b = 0; b < nb; b++) {
    int64_t i1 = (b + 1) * MF_ROW_BLOCK < cnt ? (b + 1) * MF_ROW_BLOCK : cnt;
    for (int64_t i = b * MF_ROW_BLOCK; i < i1; i++)
      f[i] =
          mf_row_forward(m->act, M, m->z + i * M, v->bvec, v->alpha_f, m->tmp + b * M) / (double)M;
  }
}

suri_status suri_mfld_predict(suri_mfld *m, int64_t n, const suri_real *x, suri_real *out) {
  if (!m || (n > 0 && (!x || !out))) return suri_fail(SURI_ERR_ARG, "mfld_predict: NULL argument");
  mf_view v;
  mf_view_of(m, &v);
  double *f = m->rloss;
  for (int64_t r0 = 0; r0 < n; r0 += m->chunk) {
    int64_t cnt = n - r0 < m->chunk ? n - r0 : m->chunk;
    mf_forward(m, &v, x + r0 * m->d, cnt, f);
    for (int64_t i = 0; i < cnt; i++) out[r0 + i] = (suri_real)f[i];
  }
  return SURI_OK;
}

/* Loss sum, misclassification count, over a data set (chunked forward). */
static void loss_err(suri_mfld *m, const suri_dataset *d, double *lsum, int64_t *wrong) {
  mf_view v;
  mf_view_of(m, &v);
  double s = 0;
  int64_t w = 0;
  for (int64_t r0 = 0; r0 < d->n; r0 += m->chunk) {
    int64_t cnt = d->n - r0 < m->chunk ? d->n - r0 : m->chunk;
    const suri_real *x = mf_rows(m, d, NULL, r0, cnt);
    mf_forward(m, &v, x, cnt, m->rloss);
    for (int64_t i = 0; i < cnt; i++) {
      double f = m->rloss[i], y = m->yb[i];
      s += suri_mfld_loss_value(m->c.loss, f, y);
      w += (f > 0 ? 1.0 : -1.0) != y;
    }
  }
  *lsum = s;
  *wrong = w;
}

suri_status suri_mfld_evaluate(suri_mfld *m, const suri_dataset *data, double *loss, double *err) {
  suri_status st = mf_check_data(m, data, "evaluation");
  if (st) return st;
  double s;
  int64_t w;
  loss_err(m, data, &s, &w);
  if (loss) *loss = s / (double)data->n;
  if (err) *err = is_binary(m, data) ? (double)w / (double)data->n : NAN;
  return SURI_OK;
}

double mf_l2(const suri_mfld *m) {
  double s = 0;
  for (int64_t j = 0; j < m->M; j++) {
    const suri_real *row = m->theta + j * m->ld;
    double r = 0;
    for (int64_t k = 0; k < m->p; k++) r += (double)row[k] * row[k];
    s += m->w ? m->w[j] * r : r / (double)m->M;
  }
  return s;
}

suri_status suri_mfld_objective(suri_mfld *m, const suri_dataset *data, double *risk, double *l2) {
  suri_status st = mf_check_data(m, data, "objective");
  if (st) return st;
  double s;
  int64_t w;
  loss_err(m, data, &s, &w);
  if (risk) *risk = s / (double)data->n;
  if (l2) *l2 = m->c.lambda1 * mf_l2(m);
  return SURI_OK;
}

suri_status mf_ensure_pda(suri_mfld *m, int64_t n) {
  if (m->pda_C) {
    if (m->pda_n != n)
      return suri_fail(SURI_ERR_ARG,
                       "pda: the data set has %lld rows but the accumulated "
                       "coefficients belong to one of %lld rows",
                       (long long)n, (long long)m->pda_n);
    return SURI_OK;
  }
  m->pda_C = suri_calloc((size_t)n, sizeof(double));
  m->pda_coefbuf = suri_calloc((size_t)n, sizeof(double));
  m->pda_active = suri_calloc((size_t)n, sizeof(int64_t));
  m->pda_is_active = suri_calloc((size_t)n, 1);
  if (!m->pda_C || !m->pda_coefbuf || !m->pda_active || !m->pda_is_active) {
    suri_free(m->pda_C), suri_free(m->pda_coefbuf), suri_free(m->pda_active);
    suri_free(m->pda_is_active);
    m->pda_C = NULL, m->pda_coefbuf = NULL, m->pda_active = NULL, m->pda_is_active = NULL;
    return suri_fail(SURI_ERR_NOMEM, "pda: cannot allocate state for %lld rows", (long long)n);
  }
  m->pda_n = n;
  return SURI_OK;
}

suri_status mf_ensure_psdca(suri_mfld *m, int64_t n) {
  if (m->sd_g) {
    if (m->sd_n != n)
      return suri_fail(SURI_ERR_ARG,
                       "psdca: the data set has %lld rows but the dual iterate "
                       "belongs to one of %lld rows",
                       (long long)n, (long long)m->sd_n);
    return SURI_OK;
  }
  m->sd_g = suri_calloc((size_t)n, sizeof(double));
  m->cb_all = suri_calloc((size_t)n, sizeof(double));
  if (!m->theta_tmp) m->theta_tmp = suri_calloc((size_t)(m->M * m->ld), sizeof(suri_real));
  if (!m->w) {
    m->w = suri_calloc((size_t)m->M, sizeof(double));
    if (m->w)
      for (int64_t j = 0; j < m->M; j++) m->w[j] = 1.0 / (double)m->M;
  }
  if (!m->sd_g || !m->cb_all || !m->theta_tmp || !m->w) {
    suri_free(m->sd_g), suri_free(m->cb_all);
    m->sd_g = NULL, m->cb_all = NULL;
    return suri_fail(SURI_ERR_NOMEM, "psdca: cannot allocate state for %lld rows", (long long)n);
  }
  m->sd_n = n;
  return SURI_OK;
}
