/* fuzz_langevin_ckpt.c - libFuzzer target for the checkpoint of the Langevin samplers and asgd
 * (DIR/checkpoint.safetensors of `suri train --optim sgld|svrg-ld|sarah-ld|noisy-gd|asgd`),
 * read by lv_checkpoint_read (cli/train_langevin_io.c, built into this target with
 * cli/train_progress.c and cli/util.c) when `suri train --resume DIR` continues such a run.
 * The reader restores into a run already built from config.json, so the target builds one run
 * per method once, with the settings of the committed seeds (fuzz/make_corpus.sh writes them
 * with the same flags): data gauss:n=24,d=4,classes=3, model mlp:4-8-3, 40 steps, batch 4
 * (noisy-gd: all 24 rows), samples kept from step 10 every 5 steps (asgd: none), built as
 * cli/train_langevin.c builds it (model, objective, sampler, samples buffer). The first input
 * byte picks the method (mod 5: sgld, svrg-ld, sarah-ld, noisy-gd, asgd); the rest is the file.
 * A checkpoint that is accepted must leave the run consistent: its start step within the run's
 * steps and equal to the sampler's step counter, and a non-negative loss count. The messages
 * for bad files go to stderr, which run.sh closes (-close_fd_mask=2). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "suri/data.h"
#include "suri/langevin.h"
#include "suri/nn.h"
#include "train_langevin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_METHODS 5
#define DATA_SPEC "gauss:n=24,d=4,classes=3"
/* The canonical form `suri train` writes into config.json and the checkpoint's model_spec. */
#define MODEL_SPEC "mlp:4-8-3,act=relu,norm=none,param=standard,sw2=2,sb2=0,loss=ce"
#define STEPS 40
#define BURN_IN 10
#define EVERY 5

static const char *const methods[N_METHODS] = {"sgld", "svrg-ld", "sarah-ld", "noisy-gd", "asgd"};

static suri_dataset *train_set;
static train_opts opts[N_METHODS];
static lv_run runs[N_METHODS];

/* Settings as `suri train` resolves them for the seeds' flags (their config.json). */
static void set_opts(train_opts *o, int k) {
  memset(o, 0, sizeof *o);
  snprintf(o->optim, sizeof o->optim, "%s", methods[k]);
  snprintf(o->model, sizeof o->model, "%s", MODEL_SPEC);
  snprintf(o->out, sizeof o->out, "%s", fuzz_dir());
  o->steps = STEPS;
  o->seed = 1;
  o->noise_seed = 1;
  o->temperature = 1;
  o->loop = 5;
  o->batch = k == 3 ? 24 : 4;
  o->lr = k == 4 ? 0.04 : 0.001;
  o->asgd_lambda = k == 4 ? 0.158113883008419 : 0;
  o->burn_in = k == 4 ? 0 : BURN_IN;
  o->sample_every = k == 4 ? 1 : EVERY;
  if (k != 4) snprintf(o->samples_out, sizeof o->samples_out, "samples.npy");
}

/* Model, objective, state vectors and sampler, as build_model and build_sampler do. */
static void build(lv_run *r, train_opts *o, int k) {
  memset(r, 0, sizeof *r);
  r->o = o;
  r->train = train_set;
  r->n = train_set->n;
  r->asgd = k == 4;
  r->total = STEPS;
  r->chunk = r->n;
  r->capacity = r->asgd ? 0 : suri_samples_expected(STEPS, BURN_IN, EVERY);
  suri_model_spec spec;
  if (suri_model_spec_parse(o->model, &spec) || suri_model_new(&spec, r->chunk, &r->m) ||
      suri_model_init(r->m, o->seed) ||
      suri_model_objective_new(r->m, r->train, &r->mo, &r->obj))
    abort();
  r->d = r->obj.dim;
  r->x = malloc(r->d * sizeof(suri_real));
  r->theta0 = malloc(r->d * sizeof(suri_real));
  r->xe = malloc(r->d * sizeof(suri_real));
  if (!r->x || !r->theta0 || !r->xe) abort();
  suri_model_objective_pack(r->mo, r->x);
  memcpy(r->theta0, r->x, r->d * sizeof(suri_real));
  if (r->asgd) {
    suri_asgd_hp hp = suri_asgd_defaults();
    hp.eta = o->lr, hp.lambda = o->asgd_lambda, hp.batch = o->batch, hp.seed = o->seed;
    if (suri_asgd_new(&r->obj, &hp, r->theta0, &r->a)) abort();
    return;
  }
  if (suri_langevin_kind_parse(o->optim, &r->kind)) abort();
  suri_langevin_hp hp = suri_langevin_defaults(r->kind);
  hp.eta = o->lr, hp.temperature = o->temperature, hp.batch = o->batch, hp.loop = o->loop;
  hp.seed = o->seed, hp.noise_seed = o->noise_seed;
  if (suri_langevin_new(r->kind, &r->obj, &hp, &r->s)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (!train_set) {
    if (suri_data_load(DATA_SPEC, &train_set)) abort();
    for (int k = 0; k < N_METHODS; k++) set_opts(&opts[k], k), build(&runs[k], &opts[k], k);
  }
  const int k = data[0] % N_METHODS;
  lv_run *r = &runs[k];
  /* A fresh, empty samples buffer per input, as a resumed run starts with. */
  suri_samples_free(r->ss);
  r->ss = NULL;
  if (r->capacity > 0 &&
      suri_samples_new(r->d, r->capacity, opts[k].burn_in, opts[k].sample_every, &r->ss))
    abort();
  fuzz_write("checkpoint.safetensors", data + 1, size - 1);
  if (lv_checkpoint_read(r) != CLI_OK) return 0;
  if (r->start < 0 || r->start > r->total || lv_steps(r) != r->start || r->loss_n < 0) abort();
  return 0;
}
