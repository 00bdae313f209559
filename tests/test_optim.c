/* test_optim.c - optimizers and learning-rate schedules against torch.optim.
 *
 * Golden data: tests/fixtures/optim/{trajectories,schedules}.txt, written by
 * tests/ref/make_optim_fixtures.py (plain text, parsed here). Also: parser errors, state
 * save/restore continuing bitwise, and bitwise independence of the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suri/optim.h"
#include "testutil.h"

/* ---- fixture files ------------------------------------------------------------------------ */
#define MAXN 64
#define MAXSTEPS 10
#define MAXCASES 16

typedef struct tcase {
  char name[32], kind[16];
  double lr, momentum, dampening, weight_decay, beta1, beta2, eps;
  int nesterov, amsgrad;
  double p[MAXSTEPS][MAXN]; /* parameters after step t + 1 */
} tcase;

typedef struct traj_fixture {
  int n, steps, n_cases;
  double p0[MAXN];
  double g[MAXSTEPS][MAXN];
  tcase c[MAXCASES];
} traj_fixture;

static traj_fixture *fx;

/* Reads `count` numbers from s into out; fails the test if the line has fewer or more. */
static void read_numbers(const char *s, double *out, int count, const char *what) {
  char *end;
  for (int i = 0; i < count; i++) {
    out[i] = strtod(s, &end);
    if (end == s) fail_msg("fixture: %s has %d numbers, expected %d", what, i, count);
    s = end;
  }
  while (*s == ' ' || *s == '\n') s++;
  if (*s) fail_msg("fixture: %s has more than %d numbers", what, count);
}

static void parse_case_header(const char *line, tcase *c) {
  double nest, ams;
  if (sscanf(line, "case %31s %15s %lf %lf %lf %lf %lf %lf %lf %lf %lf", c->name, c->kind,
             &c->lr, &c->momentum, &c->dampening, &c->weight_decay, &nest, &c->beta1,
             &c->beta2, &c->eps, &ams) != 11)
    fail_msg("fixture: bad case line: %s", line);
  c->nesterov = nest != 0;
  c->amsgrad = ams != 0;
}

static int load_trajectories(void **state) {
  (void)state;
  const char *path = tu_src_path("tests/fixtures/optim/trajectories.txt");
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("cannot open %s", path);
  fx = calloc(1, sizeof *fx);
  assert_non_null(fx);
  static char line[16384];
  tcase *cur = NULL;
  int t;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    if (sscanf(line, "n %d", &fx->n) == 1 && strncmp(line, "n ", 2) == 0) {
      assert_true(fx->n > 0 && fx->n <= MAXN);
    } else if (strncmp(line, "steps ", 6) == 0) {
      assert_int_equal(sscanf(line, "steps %d", &fx->steps), 1);
      assert_true(fx->steps > 0 && fx->steps <= MAXSTEPS);
    } else if (strncmp(line, "p0 ", 3) == 0) {
      read_numbers(line + 3, fx->p0, fx->n, "p0");
    } else if (sscanf(line, "g %d", &t) == 1 && line[0] == 'g') {
      assert_true(t >= 1 && t <= fx->steps);
      read_numbers(strchr(line + 2, ' '), fx->g[t - 1], fx->n, "g");
    } else if (strncmp(line, "case ", 5) == 0) {
      assert_true(fx->n_cases < MAXCASES);
      cur = &fx->c[fx->n_cases++];
      parse_case_header(line, cur);
    } else if (sscanf(line, "p %d", &t) == 1 && cur) {
      assert_true(t >= 1 && t <= fx->steps);
      read_numbers(strchr(line + 2, ' '), cur->p[t - 1], fx->n, cur->name);
    } else if (strncmp(line, "end", 3) == 0) {
      cur = NULL;
    } else {
      fail_msg("fixture: unexpected line: %.60s", line);
    }
  }
  fclose(f);
  assert_int_equal(fx->n_cases, 12);
  return 0;
}

static int free_trajectories(void **state) {
  (void)state;
  free(fx);
  fx = NULL;
  return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static suri_optim_kind parse_kind_or_fail(const char *name) {
  suri_optim_kind k;
  suri_status st = suri_optim_kind_parse(name, &k);
  if (st != SURI_OK) fail_msg("%s", suri_last_error());
  return k;
}

static suri_optim_hp case_hp(const tcase *c) {
  suri_optim_hp hp = suri_optim_defaults(parse_kind_or_fail(c->kind));
  hp.lr = c->lr;
  hp.momentum = c->momentum;
  hp.dampening = c->dampening;
  hp.weight_decay = c->weight_decay;
  hp.nesterov = c->nesterov;
  hp.beta1 = c->beta1;
  hp.beta2 = c->beta2;
  hp.eps = c->eps;
  hp.amsgrad = c->amsgrad;
  return hp;
}

/* Tolerances against torch's float64 trajectory.
 * double: both sides evaluate the same formulas in IEEE double and differ only in rounding
 * order (torch may fuse a multiply-add): a few ulp per operation, observed <= 2.3e-16 after 10
 * steps. 1e-12 leaves a wide margin yet catches any formula slip (those show at >= 1e-5).
 * float: p0 and the gradients are exact floats, so the gap is suri's float rounding alone:
 * each step rounds p (2^-24 ~ 6e-8 relative) and the update (a few 2^-24 of lr * step), and
 * momentum carries earlier rounding forward; over 10 steps that stays below ~10 * 2 * 6e-8
 * ~ 1e-6 of max(|p|, 1) (|p| is O(1) here; observed 1.8e-7). */
#ifdef SURI_REAL_DOUBLE
#define TRAJ_RTOL 1e-12
#define TRAJ_ATOL 1e-12
#else
#define TRAJ_RTOL 1e-6
#define TRAJ_ATOL 1e-6
#endif

static void compare_step(const tcase *c, int t, const suri_real *p, const char *how) {
  for (int i = 0; i < fx->n; i++) {
    double want = c->p[t][i], got = (double)p[i];
    if (!tu_close(got, want, TRAJ_RTOL, TRAJ_ATOL))
      fail_msg("%s (%s): step %d, p[%d] = %.17g, torch %.17g (diff %.3g)", c->name, how, t + 1,
               i, got, want, got - want);
  }
}

static void load_real(suri_real *dst, const double *src, int n) {
  for (int i = 0; i < n; i++) dst[i] = (suri_real)src[i];
}

/* ---- trajectories vs torch.optim ----------------------------------------------------------- */

static void test_trajectories_object(void **state) {
  (void)state;
  suri_real p[MAXN], g[MAXN];
  for (int k = 0; k < fx->n_cases; k++) {
    const tcase *c = &fx->c[k];
    suri_optim_hp hp = case_hp(c);
    suri_optim *o = suri_optim_new(parse_kind_or_fail(c->kind), (size_t)fx->n, &hp);
    if (!o) fail_msg("%s: %s", c->name, suri_last_error());
    load_real(p, fx->p0, fx->n);
    for (int t = 0; t < fx->steps; t++) {
      load_real(g, fx->g[t], fx->n);
      assert_int_equal(suri_optim_step(o, p, g, SURI_LR_DEFAULT), SURI_OK);
      assert_int_equal(suri_optim_steps(o), t + 1);
      compare_step(c, t, p, "optimizer object");
    }
    suri_optim_free(o);
  }
}

/* The flat-array functions directly, with the buffers' initial contents set to NaN where the
 * semantics say they are ignored (SGD's momentum buffer before its first step). */
static void test_trajectories_raw(void **state) {
  (void)state;
  suri_real p[MAXN], g[MAXN], a[MAXN], b[MAXN], vmax[MAXN];
  for (int k = 0; k < fx->n_cases; k++) {
    const tcase *c = &fx->c[k];
    int adam = strncmp(c->kind, "adam", 4) == 0;
    load_real(p, fx->p0, fx->n);
    for (int i = 0; i < fx->n; i++) {
      a[i] = adam ? 0 : (suri_real)NAN;
      b[i] = vmax[i] = 0;
    }
    suri_sgd_hp sh = {c->lr, c->momentum, c->dampening, c->weight_decay, c->nesterov};
    suri_adam_hp ah = {c->lr, c->beta1, c->beta2, c->eps, c->weight_decay,
                       strcmp(c->kind, "adamw") == 0, c->amsgrad};
    assert_int_equal(adam ? suri_adam_check(&ah) : suri_sgd_check(&sh), SURI_OK);
    for (int t = 0; t < fx->steps; t++) {
      load_real(g, fx->g[t], fx->n);
      if (adam)
        suri_adam_step((size_t)fx->n, p, g, a, b, c->amsgrad ? vmax : NULL, &ah, t + 1);
      else
        suri_sgd_step((size_t)fx->n, p, g, c->momentum != 0 ? a : NULL, &sh, t + 1);
      compare_step(c, t, p, "flat-array function");
    }
  }
}

/* ---- schedules vs torch.optim.lr_scheduler ------------------------------------------------ */

/* torch steps its schedulers by chainable recurrences (lr *= factor) while suri evaluates closed
 * forms; the two agree to a few ulp per step, ~1e-14 relative over 100 steps. */
#define SCHED_RTOL 1e-12

static void test_schedules_vs_torch(void **state) {
  (void)state;
  const char *path = tu_src_path("tests/fixtures/optim/schedules.txt");
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("cannot open %s", path);
  char line[512], spec[128];
  double base;
  long long total;
  int count, n_scheds = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') continue;
    if (sscanf(line, "sched %127s %lf %lld %d", spec, &base, &total, &count) != 4)
      fail_msg("schedules fixture: bad line %s", line);
    suri_schedule s;
    if (suri_schedule_parse(spec, base, (int64_t)total, &s) != SURI_OK)
      fail_msg("%s: %s", spec, suri_last_error());
    for (int i = 0; i < count; i++) {
      long long step = 0;
      double want = 0;
      if (!fgets(line, sizeof line, f) || sscanf(line, "%lld %lf", &step, &want) != 2)
        fail_msg("schedules fixture: truncated after %s", spec);
      double got = suri_schedule_lr(&s, (int64_t)step);
      if (!tu_close(got, want, SCHED_RTOL, 1e-15 * base))
        fail_msg("%s: step %lld: lr %.17g, torch %.17g", spec, step, got, want);
    }
    n_scheds++;
  }
  fclose(f);
  assert_int_equal(n_scheds, 11);
}

static void test_schedule_edges(void **state) {
  (void)state;
  suri_schedule s;
  /* warmup=1: the first step already runs at the base rate. */
  assert_int_equal(suri_schedule_parse("step:2:0.5,warmup=1", 0.4, 10, &s), SURI_OK);
  assert_true(suri_schedule_lr(&s, 0) == 0.4);
  assert_true(suri_schedule_lr(&s, 1) == 0.4);
  assert_true(suri_schedule_lr(&s, 2) == 0.4);
  assert_true(suri_schedule_lr(&s, 3) == 0.2);
  /* Past the end: cosine rests at MIN_LR, linear at 0; negative steps count as step 0. */
  assert_int_equal(suri_schedule_parse("cosine:0.01,warmup=3", 0.1, 13, &s), SURI_OK);
  assert_true(suri_schedule_lr(&s, -5) == suri_schedule_lr(&s, 0));
  assert_true(fabs(suri_schedule_lr(&s, 0) - 0.1 / 3) < 1e-17);
  assert_true(suri_schedule_lr(&s, 3) == 0.1);
  assert_true(fabs(suri_schedule_lr(&s, 8) - 0.055) < 1e-15); /* halfway: (base+min)/2 */
  assert_true(suri_schedule_lr(&s, 13) == 0.01);
  assert_true(suri_schedule_lr(&s, 1000) == 0.01);
  assert_int_equal(suri_schedule_parse("linear", 0.1, 10, &s), SURI_OK);
  assert_true(suri_schedule_lr(&s, 9) > 0);
  assert_true(suri_schedule_lr(&s, 10) == 0);
  assert_true(suri_schedule_lr(&s, 11) == 0);
  /* constant and step need no run length. */
  assert_int_equal(suri_schedule_parse("step:100:0.1", 1.0, 0, &s), SURI_OK);
  assert_true(fabs(suri_schedule_lr(&s, 250) - 0.01) < 1e-16);
  s = suri_schedule_constant(0.25);
  assert_true(suri_schedule_lr(&s, 123456) == 0.25);
}

static void test_schedule_text(void **state) {
  (void)state;
  const char *specs[] = {"constant",      "constant,warmup=7",   "step:1000:0.1",
                         "step:3:0.5,warmup=2", "cosine", "cosine:1e-05,warmup=500",
                         "linear",        "linear,warmup=9"};
  char buf[256], desc[256];
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    suri_schedule s, r;
    assert_int_equal(suri_schedule_parse(specs[i], 0.1, 1000, &s), SURI_OK);
    /* format is the canonical spec: it reads back to the same schedule and the same text. */
    assert_string_equal(suri_schedule_format(&s, buf, sizeof buf), specs[i]);
    assert_int_equal(suri_schedule_parse(buf, 0.1, 1000, &r), SURI_OK);
    assert_int_equal(r.kind, s.kind);
    assert_true(r.gamma == s.gamma && r.min_lr == s.min_lr && r.step_size == s.step_size &&
                r.warmup_steps == s.warmup_steps);
    suri_schedule_describe(&s, desc, sizeof desc);
    assert_true(strlen(desc) > 8);
    assert_non_null(strstr(desc, "0.1"));
    if (s.warmup_steps) assert_non_null(strstr(desc, "warm-up"));
  }
  suri_schedule s;
  assert_int_equal(suri_schedule_parse("cosine:0.001,warmup=100", 0.1, 1000, &s), SURI_OK);
  assert_string_equal(suri_schedule_describe(&s, desc, sizeof desc),
                      "linear warm-up to 0.1 over 100 steps, then cosine from 0.1 to 0.001 "
                      "over 900 steps");
  /* Truncation keeps the buffer terminated. */
  suri_schedule_describe(&s, desc, 10);
  assert_int_equal(strlen(desc), 9);
}

static void test_schedule_parse_errors(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    double base;
    long long total;
    const char *fragment;
  } bad[] = {
      {"", 0.1, 100, "no schedule name"},
      {",warmup=3", 0.1, 100, "no schedule name"},
      {"cosin", 0.1, 100, "unknown schedule \"cosin\""},
      {"Cosine", 0.1, 100, "unknown schedule"},
      {"step:1000", 0.1, 100, "takes 2 parameters, got 1"},
      {"step:10:0.1:3", 0.1, 100, "takes 2 parameters, got 3"},
      {"step:1:2:3:4:5", 0.1, 100, "too many"},
      {"step:0:0.1", 0.1, 100, "STEP_SIZE \"0\""},
      {"step:abc:0.1", 0.1, 100, "STEP_SIZE \"abc\""},
      {"step:-5:0.1", 0.1, 100, "STEP_SIZE \"-5\""},
      {"step:10:0", 0.1, 100, "GAMMA \"0\""},
      {"step:10:-1", 0.1, 100, "GAMMA \"-1\""},
      {"step:10:nan", 0.1, 100, "GAMMA \"nan\""},
      {"step:10:", 0.1, 100, "GAMMA \"\""},
      {"cosine:x", 0.1, 100, "MIN_LR \"x\""},
      {"cosine:-0.1", 0.1, 100, "MIN_LR \"-0.1\""},
      {"cosine:1e999", 0.1, 100, "MIN_LR \"1e999\""},
      {"cosine:0.5", 0.1, 100, "above the base learning rate"},
      {"cosine:0.01:3", 0.1, 100, "takes 0 to 1 parameters"},
      {"constant:3", 0.1, 100, "\"constant\" takes no parameters"},
      {"linear:0", 0.1, 100, "\"linear\" takes no parameters"},
      {"linear,warmup=abc", 0.1, 100, "warmup \"abc\""},
      {"linear,warmup=-3", 0.1, 100, "warmup \"-3\""},
      {"linear,warmup=", 0.1, 100, "warmup \"\""},
      {"linear,foo=3", 0.1, 100, "unknown option \"foo=3\""},
      {"linear,", 0.1, 100, "unknown option \"\""},
      {"linear,warmup=5,warmup=6", 0.1, 100, "warmup is given twice"},
      {"cosine", 0.1, 0, "leaves none after 0 warm-up"},
      {"linear,warmup=100", 0.1, 100, "leaves none after 100 warm-up"},
      {"constant,warmup=200", 0.1, 100, "warmup 200 is longer than the run"},
      {"constant", -1, 100, "base learning rate"},
      {"constant", NAN, 100, "base learning rate"},
      {"constant", 0.1, -5, "total steps must be >= 0"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    suri_schedule s = suri_schedule_constant(123.0);
    suri_status st = suri_schedule_parse(bad[i].spec, bad[i].base, bad[i].total, &s);
    if (st != SURI_ERR_ARG || !strstr(suri_last_error(), bad[i].fragment))
      fail_msg("spec \"%s\": status %d, message \"%s\", expected \"%s\"", bad[i].spec, (int)st,
               suri_last_error(), bad[i].fragment);
    /* The message quotes the spec and *out is untouched. */
    assert_non_null(strstr(suri_last_error(), "schedule"));
    assert_true(s.base_lr == 123.0 && s.kind == SURI_SCHEDULE_CONSTANT);
  }
  tu_expect_status(suri_schedule_parse(NULL, 0.1, 1, NULL), SURI_ERR_ARG, "NULL");
}

/* ---- optimizer object ----------------------------------------------------------------------- */

static void test_kind_names(void **state) {
  (void)state;
  const char *names[] = {"sgd", "momentum", "adam", "adamw"};
  for (int k = 0; k < 4; k++) {
    suri_optim_kind kind = SURI_OPTIM_KIND_COUNT;
    assert_int_equal(suri_optim_kind_parse(names[k], &kind), SURI_OK);
    assert_int_equal(kind, k);
    assert_string_equal(suri_optim_kind_name(kind), names[k]);
  }
  suri_optim_kind kind = SURI_OPTIM_ADAM;
  tu_expect_status(suri_optim_kind_parse("Adam", &kind), SURI_ERR_ARG,
                   "unknown optimizer \"Adam\" (valid: sgd, momentum, adam, adamw)");
  assert_int_equal(kind, SURI_OPTIM_ADAM);
  tu_expect_status(suri_optim_kind_parse("", &kind), SURI_ERR_ARG, "valid: sgd");
  tu_expect_status(suri_optim_kind_parse(NULL, &kind), SURI_ERR_ARG, "NULL");
  assert_string_equal(suri_optim_kind_name((suri_optim_kind)99), "?");
}

/* torch's defaults (torch.optim.Adam / AdamW 1.13); SGD's lr is suri's own choice (torch 1.13
 * has none). */
static void test_defaults(void **state) {
  (void)state;
  suri_adam_hp a = suri_adam_defaults(), w = suri_adamw_defaults();
  assert_true(a.lr == 1e-3 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8);
  assert_true(a.weight_decay == 0 && !a.decoupled && !a.amsgrad);
  assert_true(w.lr == 1e-3 && w.weight_decay == 0.01 && w.decoupled && !w.amsgrad);
  suri_sgd_hp s = suri_sgd_defaults();
  assert_true(s.lr == 0.01 && s.momentum == 0 && s.dampening == 0 && !s.nesterov);
  assert_true(suri_optim_defaults(SURI_OPTIM_SGD).momentum == 0);
  assert_true(suri_optim_defaults(SURI_OPTIM_MOMENTUM).momentum == 0.9);
  assert_true(suri_optim_defaults(SURI_OPTIM_ADAMW).weight_decay == 0.01);
  assert_true(suri_optim_defaults(SURI_OPTIM_ADAM).weight_decay == 0);
  assert_true(suri_optim_defaults(SURI_OPTIM_ADAM).beta2 == 0.999);
}

static void test_state_layout(void **state) {
  (void)state;
  static const struct {
    suri_optim_kind kind;
    int amsgrad;
    int count;
    const char *names[3];
  } want[] = {
      {SURI_OPTIM_SGD, 0, 0, {NULL}},
      {SURI_OPTIM_MOMENTUM, 0, 1, {"momentum_buffer"}},
      {SURI_OPTIM_ADAM, 0, 2, {"exp_avg", "exp_avg_sq"}},
      {SURI_OPTIM_ADAMW, 1, 3, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
  };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    suri_optim_hp hp = suri_optim_defaults(want[k].kind);
    hp.amsgrad = want[k].amsgrad;
    suri_optim *o = suri_optim_new(want[k].kind, 13, &hp);
    assert_non_null(o);
    assert_int_equal(suri_optim_state_count(o), want[k].count);
    assert_int_equal(suri_optim_size(o), 13);
    assert_int_equal(suri_optim_get_kind(o), want[k].kind);
    assert_true(suri_optim_get_hp(o)->lr == hp.lr);
    for (int i = 0; i < want[k].count; i++) {
      const char *name = NULL;
      suri_real *x = suri_optim_state(o, i, &name);
      assert_non_null(x);
      assert_string_equal(name, want[k].names[i]);
      assert_ptr_equal(suri_optim_state_find(o, name), x);
      assert_int_equal((uintptr_t)x % SURI_ALIGN, 0);
      for (int j = 0; j < 13; j++) assert_true(x[j] == 0);
    }
    const char *name = "x";
    assert_null(suri_optim_state(o, want[k].count, &name));
    assert_null(name);
    assert_null(suri_optim_state(o, -1, NULL));
    assert_null(suri_optim_state_find(o, "nope"));
    suri_optim_free(o);
  }
  /* hp NULL gives the defaults; sgd with momentum keeps a buffer. */
  suri_optim *o = suri_optim_new(SURI_OPTIM_MOMENTUM, 5, NULL);
  assert_non_null(o);
  assert_true(suri_optim_get_hp(o)->momentum == 0.9);
  suri_optim_free(o);
  suri_optim_hp hp = suri_optim_defaults(SURI_OPTIM_SGD);
  hp.momentum = 0.5;
  o = suri_optim_new(SURI_OPTIM_SGD, 5, &hp);
  assert_int_equal(suri_optim_state_count(o), 1);
  suri_optim_free(o);
  suri_optim_free(NULL);
}

static void test_invalid_hp(void **state) {
  (void)state;
  static const struct {
    suri_optim_kind kind;
    const char *field;
    double value;
    const char *fragment;
  } bad[] = {
      {SURI_OPTIM_SGD, "lr", -0.1, "sgd: lr must be finite and >= 0 (got -0.1)"},
      {SURI_OPTIM_SGD, "lr", NAN, "sgd: lr"},
      {SURI_OPTIM_SGD, "lr", INFINITY, "sgd: lr"},
      {SURI_OPTIM_SGD, "momentum", -0.5, "sgd: momentum"},
      {SURI_OPTIM_SGD, "weight_decay", -1, "sgd: weight_decay"},
      {SURI_OPTIM_SGD, "nesterov", 1, "nesterov needs momentum > 0"},
      {SURI_OPTIM_MOMENTUM, "momentum", 0, "use \"sgd\" for plain SGD"},
      {SURI_OPTIM_MOMENTUM, "dampening", NAN, "dampening must be finite"},
      {SURI_OPTIM_ADAM, "beta1", 1, "adam: beta1 must be in [0, 1) (got 1)"},
      {SURI_OPTIM_ADAM, "beta2", -0.1, "adam: beta2"},
      {SURI_OPTIM_ADAM, "eps", -1e-8, "adam: eps"},
      {SURI_OPTIM_ADAMW, "weight_decay", -0.01, "adamw: weight_decay"},
      {SURI_OPTIM_ADAMW, "lr", NAN, "adamw: lr"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    suri_optim_hp hp = suri_optim_defaults(bad[i].kind);
    if (strcmp(bad[i].field, "lr") == 0) hp.lr = bad[i].value;
    if (strcmp(bad[i].field, "momentum") == 0) hp.momentum = bad[i].value;
    if (strcmp(bad[i].field, "dampening") == 0) hp.dampening = bad[i].value;
    if (strcmp(bad[i].field, "weight_decay") == 0) hp.weight_decay = bad[i].value;
    if (strcmp(bad[i].field, "nesterov") == 0) hp.nesterov = (int)bad[i].value;
    if (strcmp(bad[i].field, "beta1") == 0) hp.beta1 = bad[i].value;
    if (strcmp(bad[i].field, "beta2") == 0) hp.beta2 = bad[i].value;
    if (strcmp(bad[i].field, "eps") == 0) hp.eps = bad[i].value;
    tu_expect_status(suri_optim_check(bad[i].kind, &hp), SURI_ERR_ARG, bad[i].fragment);
    suri_clear_error();
    suri_optim *o = suri_optim_new(bad[i].kind, 4, &hp);
    if (o || !strstr(suri_last_error(), bad[i].fragment))
      fail_msg("case %zu (%s): optimizer %p, message \"%s\", expected \"%s\"", i, bad[i].field,
               (void *)o, suri_last_error(), bad[i].fragment);
  }
  /* Nesterov with dampening, as torch refuses it. */
  suri_optim_hp hp = suri_optim_defaults(SURI_OPTIM_MOMENTUM);
  hp.nesterov = 1;
  hp.dampening = 0.1;
  assert_null(suri_optim_new(SURI_OPTIM_MOMENTUM, 4, &hp));
  assert_non_null(strstr(suri_last_error(), "dampening 0.1"));
  suri_optim_hp ok = suri_optim_defaults(SURI_OPTIM_ADAMW);
  assert_int_equal(suri_optim_check(SURI_OPTIM_ADAMW, &ok), SURI_OK);
  tu_expect_status(suri_optim_check(SURI_OPTIM_ADAM, NULL), SURI_ERR_ARG, "NULL");
  assert_null(suri_optim_new((suri_optim_kind)7, 4, NULL));
  assert_non_null(strstr(suri_last_error(), "valid: sgd"));
}

static void test_step_arguments(void **state) {
  (void)state;
  suri_real p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1};
  suri_optim *o = suri_optim_new(SURI_OPTIM_ADAM, 4, NULL);
  assert_non_null(o);
  tu_expect_status(suri_optim_step(o, NULL, g, SURI_LR_DEFAULT), SURI_ERR_ARG, "parameter");
  tu_expect_status(suri_optim_step(o, p, NULL, SURI_LR_DEFAULT), SURI_ERR_ARG, "gradient");
  tu_expect_status(suri_optim_step(o, p, g, -0.5), SURI_ERR_ARG,
                   "learning rate must be finite and >= 0 (got -0.5)");
  tu_expect_status(suri_optim_step(o, p, g, NAN), SURI_ERR_ARG, "learning rate");
  tu_expect_status(suri_optim_step(NULL, p, g, 0.1), SURI_ERR_ARG, "NULL");
  /* A refused step changes nothing. */
  assert_int_equal(suri_optim_steps(o), 0);
  assert_true(p[0] == 1 && p[3] == 4 && suri_optim_state(o, 0, NULL)[0] == 0);
  /* lr 0 is a valid rate: moments move, parameters do not. */
  assert_int_equal(suri_optim_step(o, p, g, 0.0), SURI_OK);
  assert_true(p[0] == 1 && p[3] == 4 && suri_optim_state(o, 0, NULL)[0] != 0);
  suri_optim_reset(o);
  assert_int_equal(suri_optim_steps(o), 0);
  assert_true(suri_optim_state(o, 0, NULL)[0] == 0 && suri_optim_state(o, 1, NULL)[0] == 0);
  suri_optim_free(o);
  /* n == 0 needs no arrays. */
  o = suri_optim_new(SURI_OPTIM_MOMENTUM, 0, NULL);
  assert_non_null(o);
  assert_int_equal(suri_optim_step(o, NULL, NULL, SURI_LR_DEFAULT), SURI_OK);
  assert_int_equal(suri_optim_steps(o), 1);
  suri_optim_free(o);
}

/* An explicit lr equals the same value given as hp.lr (AdamW's decay included), bitwise. */
static void test_lr_override(void **state) {
  (void)state;
  suri_real p1[MAXN], p2[MAXN], g[MAXN];
  for (int k = 0; k < fx->n_cases; k++) {
    const tcase *c = &fx->c[k];
    suri_optim_hp hp = case_hp(c), other = hp;
    other.lr = 0.7;
    suri_optim_kind kind = parse_kind_or_fail(c->kind);
    suri_optim *a = suri_optim_new(kind, (size_t)fx->n, &hp);
    suri_optim *b = suri_optim_new(kind, (size_t)fx->n, &other);
    assert_true(a && b);
    load_real(p1, fx->p0, fx->n);
    load_real(p2, fx->p0, fx->n);
    for (int t = 0; t < fx->steps; t++) {
      load_real(g, fx->g[t], fx->n);
      assert_int_equal(suri_optim_step(a, p1, g, SURI_LR_DEFAULT), SURI_OK);
      assert_int_equal(suri_optim_step(b, p2, g, c->lr), SURI_OK);
    }
    assert_memory_equal(p1, p2, sizeof(suri_real) * (size_t)fx->n);
    compare_step(c, fx->steps - 1, p2, "lr override");
    suri_optim_free(a);
    suri_optim_free(b);
  }
}

/* ---- checkpoints and threads ---------------------------------------------------------------- */

/* Run 4 steps, save (state arrays by name + step count) into plain buffers, free the
 * optimizer, restore into a new one, run the remaining steps: parameters and state must equal
 * an uninterrupted run bit for bit. Restoring without the step count must not (the test can
 * fail). */
static void test_checkpoint_resume(void **state) {
  (void)state;
  enum { CUT = 4 };
  suri_real pa[MAXN], pb[MAXN], pc[MAXN], g[MAXN], saved[3][MAXN];
  const char *names[3];
  for (int k = 0; k < fx->n_cases; k++) {
    const tcase *c = &fx->c[k];
    suri_optim_hp hp = case_hp(c);
    suri_optim_kind kind = parse_kind_or_fail(c->kind);
    size_t n = (size_t)fx->n, bytes = n * sizeof(suri_real);
    suri_optim *a = suri_optim_new(kind, n, &hp), *b = suri_optim_new(kind, n, &hp);
    load_real(pa, fx->p0, fx->n);
    load_real(pb, fx->p0, fx->n);
    for (int t = 0; t < fx->steps; t++) {
      load_real(g, fx->g[t], fx->n);
      suri_optim_step(a, pa, g, SURI_LR_DEFAULT);
      if (t < CUT) suri_optim_step(b, pb, g, SURI_LR_DEFAULT);
    }
    int count = suri_optim_state_count(b);
    int64_t steps = suri_optim_steps(b);
    assert_int_equal(steps, CUT);
    for (int i = 0; i < count; i++) memcpy(saved[i], suri_optim_state(b, i, &names[i]), bytes);
    suri_optim_free(b);
    memcpy(pc, pb, bytes);

    suri_optim *r = suri_optim_new(kind, n, &hp), *bad = suri_optim_new(kind, n, &hp);
    assert_int_equal(suri_optim_state_count(r), count);
    for (int i = 0; i < count; i++) {
      memcpy(suri_optim_state_find(r, names[i]), saved[i], bytes);
      memcpy(suri_optim_state_find(bad, names[i]), saved[i], bytes);
    }
    suri_optim_set_steps(r, steps); /* bad keeps step 0 */
    for (int t = CUT; t < fx->steps; t++) {
      load_real(g, fx->g[t], fx->n);
      suri_optim_step(r, pb, g, SURI_LR_DEFAULT);
      suri_optim_step(bad, pc, g, SURI_LR_DEFAULT);
    }
    assert_int_equal(suri_optim_steps(r), fx->steps);
    assert_memory_equal(pa, pb, bytes);
    for (int i = 0; i < count; i++)
      assert_memory_equal(suri_optim_state(a, i, NULL), suri_optim_state(r, i, NULL), bytes);
    /* Plain SGD has no state, so only the stateful optimizers must notice the lost count. */
    if (count > 0 && memcmp(pa, pc, bytes) == 0)
      fail_msg("%s: resuming without the step count gave the same result", c->name);
    suri_optim_free(a);
    suri_optim_free(r);
    suri_optim_free(bad);
  }
}

/* Every fixture case on a block large enough for the parallel path (n above the OpenMP
 * threshold and not a multiple of the chunk), 1 thread vs 2: bitwise equal parameters and
 * state. */
static void test_thread_independence(void **state) {
  (void)state;
  const size_t n = 100003;
  suri_real *p0 = suri_alloc(n * sizeof(suri_real)), *g = suri_alloc(3 * n * sizeof(suri_real));
  suri_real *p[2] = {suri_alloc(n * sizeof(suri_real)), suri_alloc(n * sizeof(suri_real))};
  assert_true(p0 && g && p[0] && p[1]);
  suri_rng rng = suri_rng_make(11, SURI_RNG_DATA);
  suri_rng_fill_normal(&rng, n, p0, 0, 1);
  suri_rng_fill_normal(&rng, 3 * n, g, 0, 1);
  int saved_threads = suri_get_threads();
  for (int k = 0; k < fx->n_cases; k++) {
    const tcase *c = &fx->c[k];
    suri_optim_hp hp = case_hp(c);
    suri_optim *o[2];
    for (int r = 0; r < 2; r++) {
      assert_int_equal(suri_set_threads(r + 1), SURI_OK);
      o[r] = suri_optim_new(parse_kind_or_fail(c->kind), n, &hp);
      assert_non_null(o[r]);
      memcpy(p[r], p0, n * sizeof(suri_real));
      for (int t = 0; t < 3; t++)
        assert_int_equal(suri_optim_step(o[r], p[r], g + (size_t)t * n, SURI_LR_DEFAULT),
                         SURI_OK);
    }
    assert_memory_equal(p[0], p[1], n * sizeof(suri_real));
    assert_memory_not_equal(p[0], p0, n * sizeof(suri_real));
    for (int i = 0; i < suri_optim_state_count(o[0]); i++)
      assert_memory_equal(suri_optim_state(o[0], i, NULL), suri_optim_state(o[1], i, NULL),
                          n * sizeof(suri_real));
    suri_optim_free(o[0]);
    suri_optim_free(o[1]);
  }
  suri_set_threads(saved_threads);
  suri_free(p0);
  suri_free(g);
  suri_free(p[0]);
  suri_free(p[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trajectories_object),
      cmocka_unit_test(test_trajectories_raw),
      cmocka_unit_test(test_lr_override),
      cmocka_unit_test(test_checkpoint_resume),
      cmocka_unit_test(test_thread_independence),
      cmocka_unit_test(test_schedules_vs_torch),
      cmocka_unit_test(test_schedule_edges),
      cmocka_unit_test(test_schedule_text),
      cmocka_unit_test(test_schedule_parse_errors),
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_state_layout),
      cmocka_unit_test(test_invalid_hp),
      cmocka_unit_test(test_step_arguments),
  };
  return cmocka_run_group_tests(tests, load_trajectories, free_trajectories);
}
