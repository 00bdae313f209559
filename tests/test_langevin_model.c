/* test_langevin_model.c - the model side of include/suri/langevin.h: the objective adapter
 * (mean minibatch gradients equal the model's own, chunked full gradients, the compact
 * parameter vector, refusals), gradient-evaluation counters, sample files (burn-in, thinning,
 * NPY round trip, bad files), the Bayesian model average (softmax / sigmoid / mean), a whole
 * SVRG-LD run on a model reproduced bitwise at 1 and 2 threads, and the symmetric
 * initialisation of two-layer models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/io.h"
#include "suri/langevin.h"
#include "testutil.h"

#ifdef SURI_REAL_DOUBLE
#define GTOL 1e-12 /* the same gradients summed in another grouping, in double */
#else
#define GTOL 2e-6 /* float gradients of O(1) summed in another grouping */
#endif

static suri_model *make_model(const char *text, int64_t max_batch, uint64_t seed) {
  suri_model_spec s;
  if (suri_model_spec_parse(text, &s)) fail_msg("parse '%s': %s", text, suri_last_error());
  suri_model *m = NULL;
  if (suri_model_new(&s, max_batch, &m)) fail_msg("model_new: %s", suri_last_error());
  assert_int_equal(suri_model_init(m, seed), SURI_OK);
  return m;
}

static suri_dataset *load(const char *spec) {
  suri_dataset *d = NULL;
  if (suri_data_load(spec, &d)) fail_msg("data '%s': %s", spec, suri_last_error());
  return d;
}

/* The model's own mean-loss gradient on the rows idx, packed. */
static void direct_grad(suri_model *m, const suri_dataset *d, const int64_t *idx, int64_t b,
                        suri_real *g, double *loss) {
  int64_t out = suri_model_get_spec(m)->width[suri_model_get_spec(m)->n_widths - 1];
  suri_real *xb = malloc((size_t)(b * d->dim) * sizeof(suri_real));
  suri_real *tb = malloc((size_t)(b * out) * sizeof(suri_real));
  int32_t *yb = malloc((size_t)b * sizeof(int32_t));
  assert_true(xb && tb && yb);
  suri_data_gather(d, idx, b, xb, yb, tb);
  int ce = suri_model_get_spec(m)->loss == SURI_LOSS_CE;
  assert_int_equal(suri_model_set_batch(m, b, xb, ce ? yb : NULL, ce ? NULL : tb), SURI_OK);
  assert_int_equal(suri_model_loss_grad(m, loss), SURI_OK);
  /* pack the gradient block like the parameters */
  suri_real *save = malloc(suri_model_param_count(m) * sizeof(suri_real));
  assert_non_null(save);
  memcpy(save, suri_model_params(m), suri_model_param_count(m) * sizeof(suri_real));
  memcpy(suri_model_params(m), suri_model_grads(m), suri_model_param_count(m) * sizeof(suri_real));
  suri_model_params_pack(m, g);
  memcpy(suri_model_params(m), save, suri_model_param_count(m) * sizeof(suri_real));
  free(save);
  free(xb);
  free(tb);
  free(yb);
}

static void test_model_objective(void **state) {
  (void)state;
  suri_dataset *d = load("gauss:n=50,d=4,classes=3,sep=2,seed=3");
  suri_model *m = make_model("mlp:4-6-5-3,act=tanh", 16, 5);
  suri_model_objective *mo = NULL;
  suri_objective obj;
  assert_int_equal(suri_model_objective_new(m, d, &mo, &obj), SURI_OK);
  size_t P = suri_model_param_numel(m);
  assert_int_equal(obj.n, 50);
  assert_int_equal(obj.dim, P);
  assert_int_equal(P, 4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3);
  suri_real *x = malloc(P * sizeof(suri_real)), *g1 = malloc(P * sizeof(suri_real));
  double *g = malloc(P * sizeof(double)), *acc = calloc(P, sizeof(double));
  suri_real *block = malloc(suri_model_param_count(m) * sizeof(suri_real));
  assert_true(x && g1 && g && acc && block);
  memcpy(block, suri_model_params(m), suri_model_param_count(m) * sizeof(suri_real));
  suri_model_objective_pack(mo, x);
  /* Mean gradient over 3 listed rows == the model's own gradient on that batch. */
  const int64_t idx[3] = {3, 41, 7};
  double loss, loss1;
  assert_int_equal(obj.grad(obj.ctx, x, 3, idx, g, &loss), SURI_OK);
  direct_grad(m, d, idx, 3, g1, &loss1);
  assert_true(tu_close(loss, loss1, GTOL, 0));
  double gmax = 0;
  for (size_t j = 0; j < P; j++) {
    assert_true(tu_close(g[j], (double)g1[j], 1e-5, GTOL));
    gmax = fmax(gmax, fabs(g[j]));
  }
  assert_true(gmax > 1e-3); /* a real gradient */
  /* The full gradient (idx NULL, 4 chunks of max_batch 16) == the mean of per-row ones. */
  double lsum = 0;
  for (int64_t i = 0; i < 50; i++) {
    direct_grad(m, d, &i, 1, g1, &loss1);
    lsum += loss1 / 50;
    for (size_t j = 0; j < P; j++) acc[j] += (double)g1[j] / 50;
  }
  assert_int_equal(obj.grad(obj.ctx, x, 50, NULL, g, &loss), SURI_OK);
  assert_true(tu_close(loss, lsum, 1e-6, 0));
  for (size_t j = 0; j < P; j++) assert_true(tu_close(g[j], acc[j], 1e-5, GTOL));
  /* Evaluating at another point leaves the model's parameters as they were. */
  for (size_t j = 0; j < P; j++) x[j] = (suri_real)(0.5 * (double)x[j] + 0.01);
  assert_int_equal(obj.grad(obj.ctx, x, 3, idx, g, NULL), SURI_OK);
  assert_memory_equal(block, suri_model_params(m), suri_model_param_count(m) * sizeof(suri_real));
  /* unpack(pack) is the identity on the parameter block (padding stays zero). */
  suri_model_objective_unpack(mo, x);
  suri_real *x2 = malloc(P * sizeof(suri_real));
  assert_non_null(x2);
  suri_model_params_pack(m, x2);
  assert_memory_equal(x, x2, P * sizeof(suri_real));
  tu_expect_status(obj.grad(obj.ctx, x, 49, NULL, g, NULL), SURI_ERR_ARG, "count");
  free(x2);
  free(x);
  free(g1);
  free(g);
  free(acc);
  free(block);
  suri_model_objective_free(mo);
  suri_model_free(m);
  /* Refusals: dropout and batch norm make f_i ill-defined. */
  m = make_model("mlp:4-6-3,dropout=0.1", 16, 5);
  tu_expect_status(suri_model_objective_new(m, d, &mo, &obj), SURI_ERR_ARG, "dropout");
  suri_model_free(m);
  m = make_model("mlp:4-6-3,norm=batch", 16, 5);
  tu_expect_status(suri_model_objective_new(m, d, &mo, &obj), SURI_ERR_ARG, "norm=batch");
  suri_model_free(m);
  m = make_model("mlp:5-6-3", 16, 5);
  tu_expect_status(suri_model_objective_new(m, d, &mo, &obj), SURI_ERR_ARG, "features");
  suri_model_free(m);
  suri_dataset_free(d);
}

/* SVRG-LD and SGLD on a model: counters, samples, NPY files; the same at 1 and 2 threads. */
static void test_model_chain_and_files(void **state) {
  (void)state;
  suri_dataset *d = load("gauss:n=64,d=5,classes=2,sep=3,seed=4");
  const char *dir = tu_tmpdir();
  const char *path = tu_join(dir, "samples.npy");
  float *first = NULL;
  int64_t S0 = 0;
  int saved = suri_get_threads();
  for (int r = 0; r < 2; r++) {
    assert_int_equal(suri_set_threads(r + 1), SURI_OK);
    suri_model *m = make_model("mlp:5-16-2,act=tanh", 32, 9);
    suri_model_objective *mo;
    suri_objective obj;
    assert_int_equal(suri_model_objective_new(m, d, &mo, &obj), SURI_OK);
    suri_langevin_hp hp = suri_langevin_defaults(SURI_LANGEVIN_SVRG);
    hp.eta = 0.05;
    hp.seed = hp.noise_seed = 12;
    suri_langevin *s = NULL;
    assert_int_equal(suri_langevin_new(SURI_LANGEVIN_SVRG, &obj, &hp, &s), SURI_OK);
    assert_int_equal(suri_langevin_batch_size(s), 8);
    assert_int_equal(suri_langevin_loop_size(s), 8);
    const int64_t steps = 40, burn = 10, every = 7;
    assert_int_equal(suri_samples_expected(steps, burn, every), 4);
    suri_samples *ss;
    assert_int_equal(suri_samples_new(obj.dim, 4, burn, every, &ss), SURI_OK);
    suri_real *x = malloc(obj.dim * sizeof(suri_real));
    assert_non_null(x);
    suri_model_objective_pack(mo, x);
    assert_int_equal(suri_langevin_run(s, x, steps, ss, NULL, NULL), SURI_OK);
    /* 5 loops of m = 8 steps: a full pass (64) + 7 difference steps of 2B = 16. */
    assert_int_equal(suri_langevin_grad_evals(s), 5 * (64 + 7 * 16));
    assert_int_equal(suri_samples_count(ss), 4);
    /* The last sample (step 38) is not the final state (step 40); the chain moved. */
    const float *rows = suri_samples_data(ss);
    int moved = 0;
    for (size_t j = 0; j < obj.dim; j++) moved += rows[3 * obj.dim + j] != (float)x[j];
    assert_true(moved > 0);
    if (r == 0) {
      assert_int_equal(suri_samples_write_npy(ss, path), SURI_OK);
      int64_t P;
      assert_int_equal(suri_samples_read_npy(path, (int64_t)obj.dim, &S0, &P, &first), SURI_OK);
      assert_int_equal(S0, 4);
      assert_int_equal(P, (int64_t)obj.dim);
      assert_memory_equal(first, rows, 4 * obj.dim * sizeof(float));
      suri_array a;
      assert_int_equal(suri_npy_read(path, 0, &a), SURI_OK);
      assert_true(a.dtype == SURI_DT_F32 && a.rank == 2 && a.dim[0] == 4 &&
                  a.dim[1] == (int64_t)obj.dim);
      suri_array_free(&a);
      float *bad;
      int64_t Sb, Pb;
      tu_expect_status(suri_samples_read_npy(path, 7, &Sb, &Pb, &bad), SURI_ERR_SHAPE, "7");
    } else {
      assert_memory_equal(first, rows, 4 * obj.dim * sizeof(float)); /* 2 threads == 1 thread */
    }
    tu_expect_status(suri_samples_write_npy(ss, tu_join(dir, "no/such/dir/s.npy")), SURI_ERR_IO,
                     NULL);
    free(x);
    suri_samples_free(ss);
    suri_langevin_free(s);
    suri_model_objective_free(mo);
    suri_model_free(m);
  }
  suri_set_threads(saved);
  /* A sample file with NaN or the wrong rank is refused. */
  float vals[4] = {1, NAN, 2, 3};
  assert_int_equal(suri_npy_write(tu_join(dir, "nan.npy"), SURI_DT_F32, 2, (int64_t[]){2, 2}, vals),
                   SURI_OK);
  float *data;
  int64_t S, P;
  tu_expect_status(suri_samples_read_npy(tu_join(dir, "nan.npy"), 0, &S, &P, &data),
                   SURI_ERR_NUMERIC, "sample 0, parameter 1");
  assert_int_equal(suri_npy_write(tu_join(dir, "r1.npy"), SURI_DT_F32, 1, (int64_t[]){4}, vals),
                   SURI_OK);
  tu_expect_status(suri_samples_read_npy(tu_join(dir, "r1.npy"), 0, &S, &P, &data), SURI_ERR_FORMAT,
                   "(S, P)");
  suri_free(first);
  suri_dataset_free(d);
}

/* BMA: averaged softmax (ce), sigmoid (logistic) or prediction (mse) against a direct
 * computation; identical samples reduce to one model. */
static void test_bma(void **state) {
  (void)state;
  const char *specs[3] = {"mlp:3-7-4,act=tanh", "mlp:3-7-1,act=tanh,loss=logistic",
                          "mlp:3-7-2,act=tanh,loss=mse"};
  suri_dataset *d = load("gauss:n=20,d=3,classes=4,seed=2");
  for (int c = 0; c < 3; c++) {
    suri_model *m = make_model(specs[c], 8, 3);
    const suri_model_spec *sp = suri_model_get_spec(m);
    int64_t C = sp->width[2], P = (int64_t)suri_model_param_numel(m), n = d->n, S = 3;
    float *samp = malloc((size_t)(S * P) * sizeof(float));
    suri_real *th = malloc((size_t)P * sizeof(suri_real)),
              *o = malloc((size_t)(n * C) * sizeof(suri_real));
    suri_real *bma = malloc((size_t)(n * C) * sizeof(suri_real));
    double *ref = calloc((size_t)(n * C), sizeof(double));
    assert_true(samp && th && o && bma && ref);
    suri_model_params_pack(m, th);
    suri_rng r = suri_rng_make(4, SURI_RNG_DATA);
    for (int64_t k = 0; k < S * P; k++)
      samp[k] = (float)((double)th[k % P] + 0.5 * suri_rng_normal(&r));
    suri_real *orig = malloc(suri_model_param_count(m) * sizeof(suri_real));
    assert_non_null(orig);
    memcpy(orig, suri_model_params(m), suri_model_param_count(m) * sizeof(suri_real));
    for (int64_t s = 0; s < S; s++) {
      for (int64_t j = 0; j < P; j++) th[j] = (suri_real)samp[s * P + j];
      suri_model_params_unpack(m, th);
      assert_int_equal(suri_model_predict(m, n, d->x, o), SURI_OK);
      for (int64_t i = 0; i < n; i++) {
        double z = 0;
        for (int64_t k = 0; k < C; k++) z += exp((double)o[i * C + k]);
        for (int64_t k = 0; k < C; k++) {
          double v = (double)o[i * C + k];
          ref[i * C + k] += (c == 0 ? exp(v) / z : c == 1 ? 1 / (1 + exp(-v)) : v) / (double)S;
        }
      }
    }
    memcpy(suri_model_params(m), orig, suri_model_param_count(m) * sizeof(suri_real));
    assert_int_equal(suri_bma_predict(m, S, P, samp, n, d->x, bma), SURI_OK);
    assert_memory_equal(orig, suri_model_params(m), suri_model_param_count(m) * sizeof(suri_real));
    double spread = 0;
    for (int64_t k = 0; k < n * C; k++) {
      assert_true(tu_close((double)bma[k], ref[k], 1e-5, 1e-6));
      spread = fmax(spread, fabs(ref[k] - ref[0]));
    }
    assert_true(spread > 1e-3);
    if (c == 0) { /* probabilities sum to one; evaluate agrees with predict */
      double loss, acc, nll = 0;
      int64_t right = 0;
      for (int64_t i = 0; i < n; i++) {
        double sum = 0;
        int64_t best = 0;
        for (int64_t k = 0; k < C; k++) {
          sum += (double)bma[i * C + k];
          if (bma[i * C + k] > bma[i * C + best]) best = k;
        }
        assert_true(fabs(sum - 1) < 1e-5);
        nll -= log((double)bma[i * C + d->y[i]]) / (double)n;
        right += best == d->y[i];
      }
      assert_int_equal(suri_bma_evaluate(m, S, P, samp, d, &loss, &acc), SURI_OK);
      assert_true(tu_close(loss, nll, 1e-5, 0));
      assert_true(acc == (double)right / (double)n);
      /* S = 1 (one sample) is the model's own softmax. */
      assert_int_equal(suri_bma_predict(m, 1, P, samp, n, d->x, bma), SURI_OK);
      assert_true(tu_close((double)bma[0] + (double)bma[1] + (double)bma[2] + (double)bma[3], 1.0,
                           1e-5, 0));
    }
    tu_expect_status(suri_bma_predict(m, S, P - 1, samp, n, d->x, bma), SURI_ERR_SHAPE,
                     "parameters");
    free(orig);
    free(samp);
    free(th);
    free(o);
    free(bma);
    free(ref);
    suri_model_free(m);
  }
  suri_dataset_free(d);
}

/* Symmetric initialisation of a two-layer model: f == 0 up to the rounding of the output sum. */
static void test_symmetric_init(void **state) {
  (void)state;
  suri_dataset *d = load("gauss:n=10,d=3,classes=2,seed=1");
  suri_model *m = make_model("mlp:3-8-2,act=tanh,sb2=0.5", 16, 3);
  assert_int_equal(suri_model_symmetric_init(m), SURI_OK);
  suri_real out[20];
  assert_int_equal(suri_model_predict(m, 10, d->x, out), SURI_OK);
  for (int k = 0; k < 20; k++) assert_true(fabs((double)out[k]) < 1e-5);
  suri_model_free(m);
  m = make_model("mlp:3-7-2", 16, 3);
  tu_expect_status(suri_model_symmetric_init(m), SURI_ERR_ARG, "M even");
  suri_model_free(m);
  m = make_model("mlp:3-8-8-2", 16, 3);
  tu_expect_status(suri_model_symmetric_init(m), SURI_ERR_ARG, "two-layer");
  suri_model_free(m);
  suri_dataset_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model_objective),
      cmocka_unit_test(test_model_chain_and_files),
      cmocka_unit_test(test_bma),
      cmocka_unit_test(test_symmetric_init),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
