/* mfld_parity.c - the k-sparse parity experiment: mean-field Langevin dynamics learns
 * y = x_1 x_2 ... x_k on x uniform in {-1, +1}^d with a two-layer network; the same width and
 * activation trained in the NTK regime (suri's model API, mlp:D-M-1,param=ntk,loss=logistic,
 * plain SGD with a small step via suri_train_run) does not, with the same training set and the
 * same number of gradient steps on the same batches sizes (equal data and compute: both do one
 * forward/backward pass over a batch per step). Prints both test errors.
 *
 * Background: feature learning escapes the kernel regime's sample complexity ~ d^k (Ghorbani et
 * al. 2019; Wei, Lee, Liu, Ma 2019); MFLD learns sparse parities with n ~ d samples (Suzuki, Wu,
 * Oko, Nitanda, NeurIPS 2023). docs/mfld.md records the measured numbers.
 *
 *   build/examples/mfld_parity [--d 30] [--k 4] [--n 3000] [--M 1000] [--steps 3000]
 *                              [--batch 250] [--eta 2] [--lambda1 1e-4] [--lambda2 1e-4]
 *                              [--ntk-lr 0.5] [--threads 1] [--seed 1]
 * (about 15 s on one core; MFLD steps are in first-variation units, i.e. learning rate eta M
 * on the raw output weights, see suri/mfld.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <suri.h>
#include <suri/mfld.h>

typedef struct opts {
  int64_t d, k, n, M, steps, batch;
  double eta, lambda1, lambda2, ntk_lr;
  int threads;
  uint64_t seed;
} opts;

/* x uniform in {-1, 1}^d (stream (seed, DATA), rows from their own counter range per split),
 * label and 0/1 target 1 if prod_{i < k} x_i = +1 else 0 (the trainer's logistic loss reads the
 * targets; the mean-field code maps 0/1 to -1/+1). */
static suri_status parity_set(const opts *o, int64_t n, int split, suri_dataset **out) {
  suri_status st = suri_dataset_new(n, o->d, 2, 1, split ? "parity:test" : "parity:train", out);
  if (st) return st;
  suri_rng r = suri_rng_make(o->seed, SURI_RNG_DATA);
  r.counter = (uint64_t)split << 40;
  for (int64_t i = 0; i < n; i++) {
    int prod = 1;
    for (int64_t j = 0; j < o->d; j++) {
      int s = (suri_rng_u32(&r) & 1u) ? 1 : -1;
      (*out)->x[i * o->d + j] = (suri_real)s;
      if (j < o->k) prod *= s;
    }
    (*out)->y[i] = prod > 0;
    (*out)->t[i] = (suri_real)(prod > 0);
  }
  return SURI_OK;
}

static int on_mfld(const suri_mfld_event *ev, void *user) {
  (void)user;
  printf("  mfld  step %6lld  F %.4f  train err %.3f  test err %.3f  (%.1f s)\n",
         (long long)ev->step, ev->F, ev->train_err, ev->test_err, ev->seconds);
  return 0;
}

static int on_ntk(const suri_train_event *ev, void *user) {
  const int64_t every = *(const int64_t *)user; /* print 10 lines per run */
  if (ev->kind == SURI_EV_EPOCH && ((ev->epoch + 1) % every == 0 || ev->epoch + 1 == ev->epochs))
    printf("  ntk   step %6lld  loss %.4f  train err %.3f  test err %.3f  (%.1f s)\n",
           (long long)ev->step, ev->loss, 1 - ev->accuracy, 1 - ev->test_accuracy, ev->seconds);
  return 0;
}

static suri_status run_mfld(const opts *o, const suri_dataset *tr, const suri_dataset *te,
                            double *err, double *secs) {
  suri_mfld_config c = suri_mfld_defaults();
  c.M = o->M, c.bias = 1, c.loss = SURI_MFLD_LOSS_LOGISTIC, c.eta = o->eta;
  c.lambda1 = o->lambda1, c.lambda2 = o->lambda2, c.init_std = 1.0 / sqrt((double)o->d);
  c.estimator = SURI_MFLD_MINIBATCH, c.batch = o->batch, c.seed = o->seed, c.gap = 0;
  c.steps_per_epoch = o->steps / 10, c.epochs = 10;
  suri_mfld *m = NULL;
  suri_mfld_summary s;
  suri_status st = suri_mfld_new(&c, o->d, &m);
  if (!st) st = suri_mfld_run(m, tr, te, on_mfld, NULL, &s);
  if (!st) *err = s.last.test_err, *secs = s.step_seconds;
  suri_mfld_free(m);
  return st;
}

static suri_status run_ntk(const opts *o, const suri_dataset *tr, const suri_dataset *te,
                           double *err, double *secs) {
  char spec_text[128];
  snprintf(spec_text, sizeof spec_text, "mlp:%lld-%lld-1,act=tanh,param=ntk,sb2=1,loss=logistic",
           (long long)o->d, (long long)o->M);
  suri_model_spec spec;
  suri_model *m = NULL;
  suri_train_config c = suri_train_defaults();
  c.optim = "sgd", c.lr = o->ntk_lr, c.batch = o->batch, c.steps = o->steps, c.seed = o->seed;
  c.log_every = 0;
  suri_train_summary s;
  suri_status st = suri_model_spec_parse(spec_text, &spec);
  if (!st) st = suri_model_new(&spec, o->batch, &m);
  if (!st) st = suri_model_init(m, o->seed);
  int64_t epochs = (o->steps * o->batch + tr->n - 1) / tr->n, every = epochs / 10 ? epochs / 10 : 1;
  if (!st) st = suri_train_run(m, tr, te, &c, on_ntk, &every, &s);
  if (!st) *err = 1 - s.test_accuracy, *secs = s.seconds;
  suri_model_free(m);
  return st;
}

static int parse(int argc, char **argv, opts *o) {
  *o = (opts){30, 4, 3000, 1000, 3000, 250, 2.0, 1e-4, 1e-4, 0.5, 1, 1};
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--d"))
      o->d = atoll(v);
    else if (!strcmp(k, "--k"))
      o->k = atoll(v);
    else if (!strcmp(k, "--n"))
      o->n = atoll(v);
    else if (!strcmp(k, "--M"))
      o->M = atoll(v);
    else if (!strcmp(k, "--steps"))
      o->steps = atoll(v);
    else if (!strcmp(k, "--batch"))
      o->batch = atoll(v);
    else if (!strcmp(k, "--eta"))
      o->eta = atof(v);
    else if (!strcmp(k, "--lambda1"))
      o->lambda1 = atof(v);
    else if (!strcmp(k, "--lambda2"))
      o->lambda2 = atof(v);
    else if (!strcmp(k, "--ntk-lr"))
      o->ntk_lr = atof(v);
    else if (!strcmp(k, "--threads"))
      o->threads = atoi(v);
    else if (!strcmp(k, "--seed"))
      o->seed = strtoull(v, NULL, 10);
    else
      return fprintf(stderr, "mfld_parity: unknown option %s\n", k), 0;
  }
  if (argc % 2 == 0 || o->d < 2 || o->k < 1 || o->k > o->d || o->n < 10 || o->M < 1 ||
      o->steps < 10 || o->batch < 1 || o->batch > o->n)
    return fprintf(stderr, "mfld_parity: bad options (see the comment at the top)\n"), 0;
  return 1;
}

int main(int argc, char **argv) {
  opts o;
  if (!parse(argc, argv, &o)) return 2;
  suri_dataset *tr = NULL, *te = NULL;
  double err_mf = NAN, err_ntk = NAN, s_mf = 0, s_ntk = 0;
  suri_status st = suri_set_threads(o.threads);
  if (!st) st = parity_set(&o, o.n, 0, &tr);
  if (!st) st = parity_set(&o, 4000, 1, &te);
  printf(
      "%lld-sparse parity, d = %lld, n = %lld train / 4000 test, width M = %lld, %lld steps of "
      "batch %lld\n",
      (long long)o.k, (long long)o.d, (long long)o.n, (long long)o.M, (long long)o.steps,
      (long long)o.batch);
  if (!st) {
    printf("MFLD (mean-field, eta %g, lambda1 %g, lambda2 %g):\n", o.eta, o.lambda1, o.lambda2);
    st = run_mfld(&o, tr, te, &err_mf, &s_mf);
  }
  if (!st) {
    printf("NTK regime (param=ntk, SGD lr %g):\n", o.ntk_lr);
    st = run_ntk(&o, tr, te, &err_ntk, &s_ntk);
  }
  if (st)
    fprintf(stderr, "mfld_parity: %s\n", suri_last_error());
  else
    printf("test error: MFLD %.3f (%.1f s)   NTK %.3f (%.1f s)   (chance 0.5)\n", err_mf, s_mf,
           err_ntk, s_ntk);
  suri_dataset_free(tr);
  suri_dataset_free(te);
  return st ? 1 : 0;
}
