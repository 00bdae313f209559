/* test_model_file.c - models as safetensors files (src/nn/model_file.c): a save/load round trip
 * is exact (parameters, batch-norm state, spec with 17-digit variances, input statistics), and
 * bad files - missing tensor, wrong shape, NaN, foreign file, half of the input statistics -
 * are refused with a message naming the file and the tensor. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "suri/io.h"
#include "suri/nn.h"
#include "testutil.h"

static suri_model *make_model(const char *text, uint64_t seed) {
  suri_model_spec s;
  if (suri_model_spec_parse(text, &s)) fail_msg("parse '%s': %s", text, suri_last_error());
  suri_model *m = NULL;
  if (suri_model_new(&s, 8, &m)) fail_msg("model_new: %s", suri_last_error());
  assert_int_equal(suri_model_init(m, seed), SURI_OK);
  return m;
}

#define SPEC "mlp:5-7-3,act=tanh,norm=batch,param=ntk,sw2=1.2345678901234567,sb2=0.1"

static void test_round_trip(void **state) {
  (void)state;
  suri_model *m = make_model(SPEC, 3);
  /* Make the state non-trivial so that it is really saved. */
  for (int k = 0; k < suri_model_tensor_count(m); k++) {
    const suri_model_tensor *t = suri_model_tensor_at(m, k);
    if (!t->is_state) continue;
    for (int64_t i = 0; i < t->dim[0]; i++) suri_model_state(m)[t->offset + (size_t)i] += (suri_real)(0.25 * (double)i);
  }
  double mean[5] = {0.1, -0.2, 0.3, 0, 5}, sd[5] = {1, 2, 0.5, 3, 1e-3};
  assert_int_equal(suri_model_set_input_norm(m, mean, sd), SURI_OK);
  const char *path = tu_join(tu_tmpdir(), "m.safetensors");
  assert_int_equal(suri_model_save(m, path, 77, 1, (const char *[]){"note"}, (const char *[]){"hi"}), SURI_OK);
  suri_model *r = NULL;
  uint64_t seed = 0;
  assert_int_equal(suri_model_load(path, 4, &r, &seed), SURI_OK);
  assert_int_equal(seed, 77);
  assert_true(suri_model_get_spec(r)->sw2 == 1.2345678901234567);
  assert_int_equal(suri_model_param_count(r), suri_model_param_count(m));
  assert_memory_equal(suri_model_params(r), suri_model_params(m),
                      suri_model_param_count(m) * sizeof(suri_real));
  assert_memory_equal(suri_model_state(r), suri_model_state(m),
                      suri_model_state_count(m) * sizeof(suri_real));
  const double *rm, *rs;
  assert_int_equal(suri_model_input_norm(r, &rm, &rs), 1);
  assert_memory_equal(rm, mean, sizeof mean);
  assert_memory_equal(rs, sd, sizeof sd);
  suri_safetensors *st;
  assert_int_equal(suri_st_read(path, 0, &st), SURI_OK);
  assert_string_equal(suri_st_meta(st, "note"), "hi");
  assert_string_equal(suri_st_meta(st, "format"), "suri");
  assert_non_null(suri_st_find(st, "fc1.weight"));
  assert_non_null(suri_st_find(st, "bn1.running_var"));
  suri_st_free(st);
  suri_model_free(m);
  suri_model_free(r);
}

/* Rewrites a saved model with one tensor replaced (or dropped when data == NULL). */
static void rewrite(const char *src, const char *dst, const char *name, suri_dtype dt, int rank,
                    const int64_t *dim, const void *data, int drop_meta) {
  suri_safetensors *st;
  assert_int_equal(suri_st_read(src, 0, &st), SURI_OK);
  suri_st_writer *w = suri_st_writer_new();
  for (int64_t i = 0; i < suri_st_count(st); i++) {
    const suri_st_tensor *t = suri_st_at(st, i);
    if (!strcmp(t->name, name)) {
      if (data) assert_int_equal(suri_st_writer_add(w, name, dt, rank, dim, data), SURI_OK);
      continue;
    }
    assert_int_equal(suri_st_writer_add(w, t->name, t->dtype, t->rank, t->dim, suri_st_data(st, t)), SURI_OK);
  }
  for (int64_t i = 0; i < suri_st_meta_count(st); i++) {
    const char *k = suri_st_meta_key(st, i);
    if (drop_meta && !strcmp(k, "model_spec")) continue;
    assert_int_equal(suri_st_writer_meta(w, k, suri_st_meta(st, k)), SURI_OK);
  }
  assert_int_equal(suri_st_writer_write(w, dst), SURI_OK);
  suri_st_writer_free(w);
  suri_st_free(st);
}

static void test_bad_files(void **state) {
  (void)state;
  suri_model *m = make_model("mlp:5-7-3,act=tanh", 3);
  double mean[5] = {0}, sd[5] = {1, 1, 1, 1, 1};
  assert_int_equal(suri_model_set_input_norm(m, mean, sd), SURI_OK);
  const char *dir = tu_tmpdir(), *good = tu_join(dir, "good.safetensors");
  assert_int_equal(suri_model_save(m, good, 1, 0, NULL, NULL), SURI_OK);
  suri_model *r = NULL;
  const char *bad = tu_join(dir, "bad.safetensors");

  rewrite(good, bad, "fc2.bias", SURI_DT_F32, 0, NULL, NULL, 0);
  tu_expect_status(suri_model_load(bad, 4, &r, NULL), SURI_ERR_FORMAT, "'fc2.bias' is missing");
  assert_null(r);

  float w[7 * 4] = {0};
  rewrite(good, bad, "fc1.weight", SURI_DT_F32, 2, (int64_t[]){7, 4}, w, 0);
  suri_status st = suri_model_load(bad, 4, &r, NULL);
  assert_int_not_equal(st, SURI_OK);
  assert_non_null(strstr(suri_last_error(), "fc1.weight"));

  float nanb[3] = {0, NAN, 0};
  rewrite(good, bad, "fc2.bias", SURI_DT_F32, 1, (int64_t[]){3}, nanb, 0);
  tu_expect_status(suri_model_load(bad, 4, &r, NULL), SURI_ERR_NUMERIC, "fc2.bias");

  rewrite(good, bad, "input_norm.std", SURI_DT_F64, 0, NULL, NULL, 0);
  tu_expect_status(suri_model_load(bad, 4, &r, NULL), SURI_ERR_FORMAT, "input_norm");

  double zero_std[5] = {1, 1, 0, 1, 1};
  rewrite(good, bad, "input_norm.std", SURI_DT_F64, 1, (int64_t[]){5}, zero_std, 0);
  tu_expect_status(suri_model_load(bad, 4, &r, NULL), SURI_ERR_FORMAT, "feature 2");

  rewrite(good, bad, "none", SURI_DT_F32, 0, NULL, NULL, 1);
  tu_expect_status(suri_model_load(bad, 4, &r, NULL), SURI_ERR_FORMAT, "not a suri model");

  tu_expect_status(suri_model_load(tu_join(dir, "absent.safetensors"), 4, &r, NULL), SURI_ERR_IO,
                   "absent.safetensors");
  assert_null(r);
  suri_model_free(m);
}

static void test_input_norm_args(void **state) {
  (void)state;
  suri_model *m = make_model("mlp:2-3-2", 1);
  double mean[2] = {0, 0}, sd[2] = {1, -1};
  tu_expect_status(suri_model_set_input_norm(m, mean, sd), SURI_ERR_ARG, "feature 1");
  tu_expect_status(suri_model_set_input_norm(m, mean, NULL), SURI_ERR_ARG, "both");
  const double *a, *b;
  assert_int_equal(suri_model_input_norm(m, &a, &b), 0);
  assert_null(a);
  suri_model_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_bad_files),
      cmocka_unit_test(test_input_norm_args),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
