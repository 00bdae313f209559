/* test_speed_paths.c - the start-up and memory paths of issue 6 give the same results as the
 * paths they replace:
 *   - compact u8 storage (suri_data_load_u8): gathered rows, suri_dataset_dense, info,
 *     normalize_like and a whole suri_train_run (parameters, metrics, test evaluation) are
 *     bitwise those of float storage;
 *   - suri_model_loss_grad without the memset of the gradient block equals clearing the block
 *     and accumulating, bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/data.h"
#include "suri/graph.h"
#include "suri/nn.h"
#include "suri/train.h"
#include "testutil.h"

static suri_dataset *load(const char *spec, int u8) {
  suri_dataset *d = NULL;
  suri_status st = u8 ? suri_data_load_u8(spec, &d) : suri_data_load(spec, &d);
  if (st) fail_msg("data '%s': %s", spec, suri_last_error());
  return d;
}

/* ---- compact storage ---------------------------------------------------------------------- */

static void same_rows(const suri_dataset *a, const suri_dataset *b) {
  assert_int_equal(a->n, b->n);
  assert_int_equal(a->dim, b->dim);
  int64_t n = a->n, dim = a->dim, idx[64];
  suri_real *xa = malloc(64 * (size_t)dim * sizeof(suri_real));
  suri_real *xb = malloc(64 * (size_t)dim * sizeof(suri_real));
  int32_t ya[64], yb[64];
  suri_rng r = suri_rng_make(3, 99);
  for (int round = 0; round < 20; round++) {
    for (int k = 0; k < 64; k++) idx[k] = (int64_t)suri_rng_below(&r, (uint64_t)n);
    if (round == 0) idx[0] = 0, idx[1] = n - 1;
    suri_data_gather(a, idx, 64, xa, ya, NULL);
    suri_data_gather(b, idx, 64, xb, yb, NULL);
    assert_memory_equal(xa, xb, 64 * (size_t)dim * sizeof(suri_real));
    assert_memory_equal(ya, yb, sizeof ya);
  }
  free(xa);
  free(xb);
}

static void test_u8_matches_float(void **state) {
  (void)state;
  const char *specs[] = {"mnist10k", "mnist10k:test,norm=none", "mnist10k:all,limit=8100",
                         "mnist10k,limit=333"};
  for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
    suri_dataset *f = load(specs[s], 0), *c = load(specs[s], 1);
    assert_null(f->x8);
    assert_non_null(c->x8); /* a test that cannot fail otherwise: the compact path is taken */
    assert_null(c->x);
    assert_int_equal(c->norm, f->norm);
    assert_int_equal(c->scaled, f->scaled);
    assert_int_equal(c->img_h, 28);
    assert_string_equal(c->name, f->name);
    same_rows(f, c);
    char ia[512], ib[512];
    assert_int_equal(suri_dataset_info(f, ia, sizeof ia), SURI_OK);
    assert_int_equal(suri_dataset_info(c, ib, sizeof ib), SURI_OK);
    assert_string_equal(ia, ib);
    assert_int_equal(suri_dataset_dense(c), SURI_OK);
    assert_null(c->x8);
    assert_memory_equal(f->x, c->x, (size_t)(f->n * f->dim) * sizeof(suri_real));
    suri_dataset_free(f);
    suri_dataset_free(c);
  }
  /* Sets that are not u8 load in float storage either way. */
  suri_dataset *g = load("gauss:n=50,d=4,classes=2,seed=1", 1);
  assert_null(g->x8);
  assert_non_null(g->x);
  suri_dataset_free(g);
  /* norm=standard needs float values: the result is the float path's. */
  suri_dataset *sf = load("mnist10k:test,norm=standard", 0);
  suri_dataset *sc = load("mnist10k:test,norm=standard", 1);
  assert_null(sc->x8);
  assert_memory_equal(sf->x, sc->x, (size_t)(sf->n * sf->dim) * sizeof(suri_real));
  suri_dataset_free(sf);
  suri_dataset_free(sc);
}

/* normalize_like on a compact test set: kept compact when nothing changes, converted (with the
 * float path's values) when the scale or the statistics change. */
static void test_u8_normalize_like(void **state) {
  (void)state;
  const char *trs[] = {"mnist10k,limit=500", "mnist10k,limit=500,norm=none",
                       "mnist10k,limit=500,norm=standard"};
  for (int k = 0; k < 3; k++) {
    suri_dataset *tr = load(trs[k], 0);
    suri_dataset *tf = load("mnist10k:test,limit=300", 0);
    suri_dataset *tc = load("mnist10k:test,limit=300", 1);
    assert_int_equal(suri_dataset_normalize_like(tf, tr), SURI_OK);
    assert_int_equal(suri_dataset_normalize_like(tc, tr), SURI_OK);
    assert_int_equal(tc->x8 != NULL, k == 0);
    assert_int_equal(tc->norm, tf->norm);
    assert_int_equal(tc->scaled, tf->scaled);
    same_rows(tf, tc);
    suri_dataset_free(tr);
    suri_dataset_free(tf);
    suri_dataset_free(tc);
  }
}

static suri_model *make_model(const char *text, int64_t max_batch, uint64_t seed) {
  suri_model_spec s;
  if (suri_model_spec_parse(text, &s)) fail_msg("parse '%s': %s", text, suri_last_error());
  suri_model *m = NULL;
  if (suri_model_new(&s, max_batch, &m)) fail_msg("model_new: %s", suri_last_error());
  assert_int_equal(suri_model_init(m, seed), SURI_OK);
  return m;
}

/* A whole training run (two epochs with test evaluations, momentum, a partial last batch) on
 * compact and on float data: the same parameters, losses and test metrics, bit for bit. */
static void test_u8_train_bitwise(void **state) {
  (void)state;
  suri_model *m[2];
  suri_train_summary s[2];
  for (int u8 = 0; u8 < 2; u8++) {
    suri_dataset *tr = load("mnist10k,limit=700", u8), *te = load("mnist10k:test,limit=230", u8);
    assert_int_equal(tr->x8 != NULL, u8);
    assert_int_equal(te->x8 != NULL, u8);
    m[u8] = make_model("mlp:784-32-10,act=relu", 64, 5);
    suri_train_config c = suri_train_defaults();
    c.optim = "momentum";
    c.lr = 0.05;
    c.batch = 64; /* 700 = 10 x 64 + 60: a partial batch; 230 test rows = 3 x 64 + 38 */
    c.epochs = 2;
    c.seed = 9;
    assert_int_equal(suri_train_run(m[u8], tr, te, &c, NULL, NULL, &s[u8]), SURI_OK);
    suri_dataset_free(tr);
    suri_dataset_free(te);
  }
  size_t np = suri_model_param_count(m[0]);
  assert_memory_equal(suri_model_params(m[0]), suri_model_params(m[1]), np * sizeof(suri_real));
  assert_memory_equal(&s[0].final_loss, &s[1].final_loss, sizeof(double));
  assert_memory_equal(&s[0].test_loss, &s[1].test_loss, sizeof(double));
  assert_memory_equal(&s[0].test_accuracy, &s[1].test_accuracy, sizeof(double));
  assert_true(isfinite(s[0].test_loss) && s[0].test_accuracy > 0.5); /* it did evaluate */
  suri_model_free(m[0]);
  suri_model_free(m[1]);
}

/* ---- loss_grad without the memset ---------------------------------------------------------- */

static void test_loss_grad_overwrite(void **state) {
  (void)state;
  const char *specs[] = {"mlp:12-9-7-4,act=tanh,norm=batch", "mlp:12-16-4,act=relu,dropout=0.3",
                         "mlp:12-5-4,act=gelu,norm=layer"};
  for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
    suri_model *m = make_model(specs[k], 11, 4);
    suri_dataset *d = load("gauss:n=11,d=12,classes=4,seed=2", 0);
    size_t np = suri_model_param_count(m);
    suri_real *ref = malloc(np * sizeof(suri_real));
    for (int pass = 0; pass < 2; pass++) {
      assert_int_equal(suri_model_set_batch(m, 11, d->x, d->y, NULL), SURI_OK);
      suri_graph *g = suri_model_graph(m);
      uint64_t calls = suri_graph_rng_calls(g);
      /* Reference: the old path, a cleared block and an accumulating backward pass. */
      suri_real *gr = suri_model_grads(m);
      for (size_t i = 0; i < np; i++) gr[i] = 0;
      suri_graph_set_training(g, 1);
      assert_int_equal(suri_graph_forward(g), SURI_OK);
      assert_int_equal(suri_graph_backward(g, suri_model_loss(m), NULL), SURI_OK);
      memcpy(ref, gr, np * sizeof(suri_real));
      /* Garbage in the block must not matter now. */
      for (size_t i = 0; i < np; i++) gr[i] = (suri_real)(1e3 * (double)(i % 7) - 5);
      suri_graph_set_rng_calls(g, calls); /* the same dropout mask */
      double loss;
      assert_int_equal(suri_model_loss_grad(m, &loss), SURI_OK);
      /* Every parameter entry (the 64-byte alignment gaps between tensors are no parameter's
       * and nothing reads them as one). */
      int checked = 0;
      for (int t = 0; t < suri_model_tensor_count(m); t++) {
        const suri_model_tensor *T = suri_model_tensor_at(m, t);
        if (T->is_state) continue;
        size_t cnt = (size_t)(T->dim[0] * (T->rank == 2 ? T->dim[1] : 1));
        for (size_t i = T->offset; i < T->offset + cnt; i++, checked++)
          if (!(gr[i] == ref[i]))
            fail_msg("%s: %s[%zu]: %g against %g", specs[k], T->name, i - T->offset,
                     (double)gr[i], (double)ref[i]);
      }
      assert_true(checked > 0);
    }
    free(ref);
    suri_dataset_free(d);
    suri_model_free(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_u8_matches_float), cmocka_unit_test(test_u8_normalize_like),
      cmocka_unit_test(test_u8_train_bitwise), cmocka_unit_test(test_loss_grad_overwrite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
