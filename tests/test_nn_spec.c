/* test_nn_spec.c - model spec strings (include/suri/nn.h): defaults per activation, the
 * canonical format round trip (numbers exact), and invalid specs refused with SURI_ERR_ARG and a
 * message naming the bad part. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "suri/nn.h"
#include "testutil.h"

static void test_spec_defaults(void **state) {
  (void)state;
  suri_model_spec s;
  assert_int_equal(suri_model_spec_parse("mlp:784-512-10", &s), SURI_OK);
  assert_int_equal(s.n_widths, 3);
  assert_int_equal(s.width[0], 784);
  assert_int_equal(s.width[1], 512);
  assert_int_equal(s.width[2], 10);
  assert_int_equal(s.act, SURI_ACT_RELU);
  assert_int_equal(s.norm, SURI_NORM_NONE);
  assert_int_equal(s.param, SURI_PARAM_STANDARD);
  assert_int_equal(s.loss, SURI_LOSS_CE);
  assert_true(s.sw2 == 2.0 && s.sb2 == 0.0 && s.dropout == 0.0);
  assert_true(s.leaky_slope == 0.01 && s.bn_eps == 1e-5 && s.bn_momentum == 0.1 &&
              s.ln_eps == 1e-5);
  /* default sw2 per activation: He (2) for relu-like, 1 for the others; sb2 always 0 */
  static const struct {
    const char *act;
    suri_act kind;
    double sw2;
  } acts[] = {{"relu", SURI_ACT_RELU, 2},       {"leaky_relu", SURI_ACT_LEAKY_RELU, 2},
              {"gelu", SURI_ACT_GELU, 2},       {"tanh", SURI_ACT_TANH, 1},
              {"sigmoid", SURI_ACT_SIGMOID, 1}, {"erf", SURI_ACT_ERF, 1},
              {"softplus", SURI_ACT_SOFTPLUS, 1}, {"identity", SURI_ACT_IDENTITY, 1}};
  for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
    char text[64];
    snprintf(text, sizeof text, "mlp:4-3-2,act=%s", acts[i].act);
    assert_int_equal(suri_model_spec_parse(text, &s), SURI_OK);
    assert_int_equal(s.act, acts[i].kind);
    if (s.sw2 != acts[i].sw2 || s.sb2 != 0.0)
      fail_msg("%s: sw2=%g sb2=%g, expected %g, 0", text, s.sw2, s.sb2, acts[i].sw2);
    assert_string_equal(suri_act_name(acts[i].kind), acts[i].act);
  }
  /* an explicit variance wins whatever the option order */
  assert_int_equal(suri_model_spec_parse("mlp:4-3,sw2=3,act=tanh,sb2=0.5", &s), SURI_OK);
  assert_true(s.sw2 == 3.0 && s.sb2 == 0.5 && s.act == SURI_ACT_TANH);
  /* every option */
  assert_int_equal(suri_model_spec_parse("mlp:10-20-30-1,act=softplus,norm=layer,param=ntk,"
                                         "sw2=1.5,sb2=0.25,loss=logistic,dropout=0.3", &s),
                   SURI_OK);
  assert_int_equal(s.n_widths, 4);
  assert_int_equal(s.width[3], 1);
  assert_int_equal(s.act, SURI_ACT_SOFTPLUS);
  assert_int_equal(s.norm, SURI_NORM_LAYER);
  assert_int_equal(s.param, SURI_PARAM_NTK);
  assert_int_equal(s.loss, SURI_LOSS_LOGISTIC);
  assert_true(s.sw2 == 1.5 && s.sb2 == 0.25 && s.dropout == 0.3);
  assert_int_equal(suri_model_spec_parse("mlp:3-4-2,norm=batch,param=meanfield,loss=mse", &s),
                   SURI_OK);
  assert_int_equal(s.norm, SURI_NORM_BATCH);
  assert_int_equal(s.param, SURI_PARAM_MEANFIELD);
  assert_int_equal(s.loss, SURI_LOSS_MSE);
  assert_int_equal(suri_model_spec_parse("mlp:3-2,norm=lastbatch", &s), SURI_OK);
  assert_int_equal(s.norm, SURI_NORM_LASTBATCH);
  /* 32 layers (33 widths) is the maximum */
  char big[256] = "mlp:3";
  for (int i = 0; i < SURI_MLP_MAX_LAYERS; i++) strcat(big, "-2");
  assert_int_equal(suri_model_spec_parse(big, &s), SURI_OK);
  assert_int_equal(s.n_widths, SURI_MLP_MAX_LAYERS + 1);
  /* names of the enums, and "?" out of range */
  assert_string_equal(suri_norm_name(SURI_NORM_LASTBATCH), "lastbatch");
  assert_string_equal(suri_param_name(SURI_PARAM_MEANFIELD), "meanfield");
  assert_string_equal(suri_loss_name(SURI_LOSS_LOGISTIC), "logistic");
  assert_string_equal(suri_act_name(SURI_ACT_COUNT), "?");
}

static int spec_equal(const suri_model_spec *a, const suri_model_spec *b) {
  if (a->n_widths != b->n_widths) return 0;
  for (int i = 0; i < a->n_widths; i++)
    if (a->width[i] != b->width[i]) return 0;
  return a->act == b->act && a->norm == b->norm && a->param == b->param && a->loss == b->loss &&
         a->sw2 == b->sw2 && a->sb2 == b->sb2 && a->dropout == b->dropout;
}

static void test_spec_format_roundtrip(void **state) {
  (void)state;
  suri_model_spec s, t;
  char buf[512], buf2[512];
  assert_int_equal(suri_model_spec_parse("mlp:784-512-10", &s), SURI_OK);
  suri_model_spec_format(&s, buf, sizeof buf);
  assert_string_equal(buf, "mlp:784-512-10,act=relu,norm=none,param=standard,sw2=2,sb2=0,loss=ce");
  assert_int_equal(suri_model_spec_parse("mlp:5-3-1,act=tanh,dropout=0.25,loss=logistic", &s),
                   SURI_OK);
  suri_model_spec_format(&s, buf, sizeof buf);
  assert_string_equal(buf, "mlp:5-3-1,act=tanh,norm=none,param=standard,sw2=1,sb2=0,"
                           "loss=logistic,dropout=0.25");
  static const char *specs[] = {
      "mlp:7-16-12-5,act=tanh,norm=batch,param=ntk,sw2=1.5,sb2=0.1,loss=ce",
      "mlp:2-3,act=identity,loss=mse",
      "mlp:10-20-20-20-1,act=gelu,norm=layer,param=meanfield,sb2=0.05,loss=logistic",
      "mlp:3-8-4,act=leaky_relu,norm=lastbatch,dropout=0.5",
      "mlp:1000000-1-2,act=softplus,sw2=0.123456,sb2=1e-06",
      "mlp:4-4-4,act=erf,param=ntk,sw2=2.5,sb2=0.3,loss=mse"};
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    assert_int_equal(suri_model_spec_parse(specs[i], &s), SURI_OK);
    suri_model_spec_format(&s, buf, sizeof buf);
    if (suri_model_spec_parse(buf, &t) != SURI_OK)
      fail_msg("canonical form '%s' of '%s' does not parse: %s", buf, specs[i], suri_last_error());
    if (!spec_equal(&s, &t)) fail_msg("'%s' -> '%s' changes the spec", specs[i], buf);
    suri_model_spec_format(&t, buf2, sizeof buf2);
    assert_string_equal(buf, buf2); /* the canonical form is a fixed point */
  }
  /* a short buffer truncates without overflow */
  char tiny[8];
  memset(tiny, 'z', sizeof tiny);
  suri_model_spec_format(&s, tiny, sizeof tiny);
  assert_true(memchr(tiny, '\0', sizeof tiny) != NULL);
}

static void test_spec_invalid(void **state) {
  (void)state;
  static const struct {
    const char *text, *fragment;
  } bad[] = {
      {"mlp:4-3,act=swish", "act=swish"},
      {"mlp:4-0-3", "'0'"},
      {"mlp:4--3", "width"},
      {"mlp:4-x-3", "'x'"},
      {"mlp:4-3;act=relu", "';'"},
      {"mlp:", "no layer widths"},
      {"mlp:5", "need at least input and output"},
      {"mlp:5,act=tanh", "need at least input and output"},
      {"mlp:4-3-2,loss=logistic", "logistic needs one output"},
      {"mlp:4-1", "loss=ce needs at least 2 outputs"},
      {"mlp:4-3,foo=1", "unknown option 'foo'"},
      {"mlp:4-3,act", "'act' is not key=value"},
      {"mlp:4-2,param=meanfield", "meanfield needs a hidden layer"},
      {"mlp:4-3,norm=group", "norm=group"},
      {"mlp:4-3,param=mup", "param=mup"},
      {"mlp:4-3,loss=hinge", "loss=hinge"},
      {"mlp:4-3,sw2=-1", "sw2=-1"},
      {"mlp:4-3,sb2=abc", "sb2=abc"},
      {"mlp:4-3,sw2=nan", "sw2=nan"},
      {"mlp:4-3,dropout=1", "dropout=1"},
      {"mlp:4-3,sw2=1x", "sw2=1x"},
      {"net:4-3", "must start with 'mlp:'"},
      {"mlp:4-2000000", "2000000"},
  };
  suri_model_spec s;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    suri_clear_error();
    suri_status st = suri_model_spec_parse(bad[i].text, &s);
    if (st != SURI_ERR_ARG)
      fail_msg("'%s': status %s, expected invalid argument", bad[i].text, suri_status_name(st));
    if (!strstr(suri_last_error(), bad[i].fragment))
      fail_msg("'%s': message \"%s\" does not name \"%s\"", bad[i].text, suri_last_error(),
               bad[i].fragment);
  }
  tu_expect_status(suri_model_spec_parse(NULL, &s), SURI_ERR_ARG, "NULL");
  char big[256] = "mlp:3";
  for (int i = 0; i < SURI_MLP_MAX_LAYERS + 1; i++) strcat(big, "-2");
  tu_expect_status(suri_model_spec_parse(big, &s), SURI_ERR_ARG, "more than 32 layers");
  char longspec[1200] = "mlp:3-2,act=relu";
  while (strlen(longspec) < 1100) strcat(longspec, ",act=relu");
  tu_expect_status(suri_model_spec_parse(longspec, &s), SURI_ERR_ARG, "too long");
}


int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec_defaults),
      cmocka_unit_test(test_spec_format_roundtrip),
      cmocka_unit_test(test_spec_invalid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
