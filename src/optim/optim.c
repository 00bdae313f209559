/* optim.c - the optimizer object: one kind, its hyper-parameters, its state arrays (allocated
 * once, zero-filled) and the step count, over the kernels in sgd.c and adam.c. The state is
 * exposed by name (torch's state_dict keys) so checkpoints can save and restore it; a restored
 * run continues bitwise as an uninterrupted one. Also the chunked OpenMP driver the kernels
 * share (see optim_internal.h for why the chunks are fixed). */
#include <math.h>
#include <string.h>

#include "optim_internal.h"
#include "suri/optim.h"

#define MAX_STATES 3

struct suri_optim {
  suri_optim_kind kind;
  size_t n;
  suri_optim_hp hp;
  int64_t steps;
  int n_states;
  const char *state_name[MAX_STATES];
  suri_real *state[MAX_STATES]; /* views into block, each (n), 64-byte aligned */
  suri_real *block;
};

static int64_t chunk_end(int64_t c, int64_t n) {
  int64_t e = (c + 1) * SURI_OPTIM_CHUNK;
  return e < n ? e : n;
}

void suri_optim_for_chunks(size_t n, suri_optim_range_fn fn, const void *args) {
  const int64_t nn = (int64_t)n;
  const int64_t n_chunks = (nn + SURI_OPTIM_CHUNK - 1) / SURI_OPTIM_CHUNK;
  if (nn < SURI_OPTIM_OMP_MIN) {
    for (int64_t c = 0; c < n_chunks; c++) fn(c * SURI_OPTIM_CHUNK, chunk_end(c, nn), args);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n_chunks; c++) fn(c * SURI_OPTIM_CHUNK, chunk_end(c, nn), args);
}

static const char *const kind_names[SURI_OPTIM_KIND_COUNT] = {"sgd", "momentum", "adam",
                                                              "adamw"};

suri_status suri_optim_kind_parse(const char *name, suri_optim_kind *out) {
  if (!name) return suri_fail(SURI_ERR_ARG, "optimizer name is NULL (valid: " SURI_OPTIM_NAMES ")");
  for (int k = 0; k < SURI_OPTIM_KIND_COUNT; k++) {
    if (strcmp(name, kind_names[k]) == 0) {
      if (out) *out = (suri_optim_kind)k;
      return SURI_OK;
    }
  }
  return suri_fail(SURI_ERR_ARG, "unknown optimizer \"%s\" (valid: " SURI_OPTIM_NAMES ")", name);
}

const char *suri_optim_kind_name(suri_optim_kind kind) {
  return (int)kind >= 0 && kind < SURI_OPTIM_KIND_COUNT ? kind_names[kind] : "?";
}

suri_optim_hp suri_optim_defaults(suri_optim_kind kind) {
  suri_optim_hp hp = {0};
  if (kind == SURI_OPTIM_ADAM || kind == SURI_OPTIM_ADAMW) {
    suri_adam_hp a = kind == SURI_OPTIM_ADAMW ? suri_adamw_defaults() : suri_adam_defaults();
    hp.lr = a.lr;
    hp.beta1 = a.beta1;
    hp.beta2 = a.beta2;
    hp.eps = a.eps;
    hp.weight_decay = a.weight_decay;
    hp.amsgrad = a.amsgrad;
  } else {
    suri_sgd_hp s = suri_sgd_defaults();
    hp.lr = s.lr;
    hp.momentum = kind == SURI_OPTIM_MOMENTUM ? 0.9 : s.momentum;
    hp.dampening = s.dampening;
    hp.weight_decay = s.weight_decay;
    hp.nesterov = s.nesterov;
  }
  return hp;
}

static int is_adam(suri_optim_kind k) { return k == SURI_OPTIM_ADAM || k == SURI_OPTIM_ADAMW; }

static suri_sgd_hp sgd_hp(const suri_optim_hp *hp, double lr) {
  suri_sgd_hp s;
  s.lr = lr;
  s.momentum = hp->momentum;
  s.dampening = hp->dampening;
  s.weight_decay = hp->weight_decay;
  s.nesterov = hp->nesterov;
  return s;
}

static suri_adam_hp adam_hp(suri_optim_kind kind, const suri_optim_hp *hp, double lr) {
  suri_adam_hp a;
  a.lr = lr;
  a.beta1 = hp->beta1;
  a.beta2 = hp->beta2;
  a.eps = hp->eps;
  a.weight_decay = hp->weight_decay;
  a.decoupled = kind == SURI_OPTIM_ADAMW;
  a.amsgrad = hp->amsgrad != 0;
  return a;
}

suri_status suri_optim_check(suri_optim_kind kind, const suri_optim_hp *hp) {
  if ((int)kind < 0 || kind >= SURI_OPTIM_KIND_COUNT)
    return suri_fail(SURI_ERR_ARG, "optimizer kind %d out of range (valid: " SURI_OPTIM_NAMES ")",
                     (int)kind);
  if (!hp) return suri_fail(SURI_ERR_ARG, "%s: hyper-parameters are NULL", kind_names[kind]);
  if (is_adam(kind)) {
    suri_adam_hp a = adam_hp(kind, hp, hp->lr);
    return suri_adam_check(&a);
  }
  if (kind == SURI_OPTIM_MOMENTUM && !(hp->momentum > 0))
    return suri_fail(SURI_ERR_ARG,
                     "momentum: momentum must be > 0 (got %g; use \"sgd\" for plain SGD)",
                     hp->momentum);
  suri_sgd_hp s = sgd_hp(hp, hp->lr);
  return suri_sgd_check(&s);
}

/* Rounds n up so that every state array starts on a 64-byte boundary. */
static size_t padded(size_t n) {
  const size_t per = SURI_ALIGN / sizeof(suri_real);
  return (n + per - 1) / per * per;
}

suri_optim *suri_optim_new(suri_optim_kind kind, size_t n, const suri_optim_hp *hp) {
  suri_optim_hp h = hp ? *hp : suri_optim_defaults(kind);
  if (suri_optim_check(kind, &h) != SURI_OK) return NULL;
  if (n > SIZE_MAX / 2 - SURI_ALIGN) {
    suri_fail(SURI_ERR_NOMEM, "optimizer: %zu parameters is too many", n);
    return NULL;
  }
  suri_optim *o = suri_calloc(1, sizeof *o);
  if (!o) return NULL;
  o->kind = kind;
  o->n = n;
  o->hp = h;
  if (is_adam(kind)) {
    o->state_name[o->n_states++] = "exp_avg";
    o->state_name[o->n_states++] = "exp_avg_sq";
    if (h.amsgrad) o->state_name[o->n_states++] = "max_exp_avg_sq";
  } else if (h.momentum != 0) {
    o->state_name[o->n_states++] = "momentum_buffer";
  }
  size_t stride = padded(n), total;
  if (suri_mul_size(stride, (size_t)o->n_states, &total) != 0) {
    suri_fail(SURI_ERR_NOMEM, "optimizer: state for %zu parameters overflows", n);
    suri_free(o);
    return NULL;
  }
  o->block = suri_calloc(total, sizeof(suri_real));
  if (!o->block) {
    suri_free(o);
    return NULL;
  }
  for (int i = 0; i < o->n_states; i++) o->state[i] = o->block + (size_t)i * stride;
  return o;
}

void suri_optim_free(suri_optim *o) {
  if (!o) return;
  suri_free(o->block);
  suri_free(o);
}

suri_status suri_optim_step(suri_optim *o, suri_real *p, const suri_real *g, double lr) {
  if (!o) return suri_fail(SURI_ERR_ARG, "optimizer step: optimizer is NULL");
  if (o->n > 0 && (!p || !g))
    return suri_fail(SURI_ERR_ARG, "%s step: %s array is NULL", kind_names[o->kind],
                     !p ? "parameter" : "gradient");
  if (lr == SURI_LR_DEFAULT) lr = o->hp.lr;
  if (!(lr >= 0) || !isfinite(lr))
    return suri_fail(SURI_ERR_ARG, "%s step: learning rate must be finite and >= 0 (got %g)",
                     kind_names[o->kind], lr);
  int64_t t = o->steps + 1;
  if (is_adam(o->kind)) {
    suri_adam_hp a = adam_hp(o->kind, &o->hp, lr);
    suri_adam_step(o->n, p, g, o->state[0], o->state[1], a.amsgrad ? o->state[2] : NULL, &a, t);
  } else {
    suri_sgd_hp s = sgd_hp(&o->hp, lr);
    suri_sgd_step(o->n, p, g, o->n_states ? o->state[0] : NULL, &s, t);
  }
  o->steps = t;
  return SURI_OK;
}

int64_t suri_optim_steps(const suri_optim *o) { return o ? o->steps : 0; }

void suri_optim_set_steps(suri_optim *o, int64_t steps) {
  if (o) o->steps = steps > 0 ? steps : 0;
}

void suri_optim_reset(suri_optim *o) {
  if (!o) return;
  o->steps = 0;
  for (int i = 0; i < o->n_states; i++) memset(o->state[i], 0, o->n * sizeof(suri_real));
}

suri_optim_kind suri_optim_get_kind(const suri_optim *o) { return o ? o->kind : SURI_OPTIM_SGD; }
size_t suri_optim_size(const suri_optim *o) { return o ? o->n : 0; }
const suri_optim_hp *suri_optim_get_hp(const suri_optim *o) { return o ? &o->hp : NULL; }
int suri_optim_state_count(const suri_optim *o) { return o ? o->n_states : 0; }

suri_real *suri_optim_state(suri_optim *o, int i, const char **name) {
  if (!o || i < 0 || i >= o->n_states) {
    if (name) *name = NULL;
    return NULL;
  }
  if (name) *name = o->state_name[i];
  return o->state[i];
}

suri_real *suri_optim_state_find(suri_optim *o, const char *name) {
  if (!o || !name) return NULL;
  for (int i = 0; i < o->n_states; i++)
    if (strcmp(o->state_name[i], name) == 0) return o->state[i];
  return NULL;
}
