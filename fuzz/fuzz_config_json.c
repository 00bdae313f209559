/* fuzz_config_json.c - libFuzzer target for the run configuration that `suri train --resume
 * DIR` reads from DIR/config.json. Like the command (cli/cmd_train.c: wants_particle_method,
 * train_config_peek_optim), it picks the reader by the file's "optim": mfld, pda or psdca go to
 * the particle methods' reader (mfld_config_parse, cli/train_mfld_config.c), anything else to
 * the ordinary one (train_config_parse, cli/train_config.c); both are built into this target
 * together with cli/util.c, and cJSON does the JSON itself. No input byte is spent on the
 * choice, so the corpus from before the particle reader kept its meaning. A config that parses
 * must hold values the rest of the command can use as they are: a batch and thread count
 * inside the flags' ranges, a model spec, optimizer and schedule that parse, and for the
 * Langevin samplers and asgd their "sampler" settings in range; for the particle methods a
 * configuration suri_mfld_check accepts, the method named by "optim", at least one epoch and
 * terminated data specs. The messages for bad files go to stderr, which run.sh closes
 * (-close_fd_mask=2). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "suri/mfld.h"
#include "suri/optim.h"
#include "train_cli.h"
#include "train_mfld.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The "optim" of the text when it names a particle method (the CLI's test: exactly mfld, pda
 * or psdca, which suri_mfld_method_parse accepts); -1 otherwise. */
static int particle_method(const uint8_t *data, size_t size) {
  cJSON *j = cJSON_ParseWithLength((const char *)data, size);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "optim");
  suri_mfld_method k = SURI_MFLD_METHOD_MFLD;
  int r = -1;
  if (cJSON_IsString(v) && v->valuestring && suri_mfld_method_parse(v->valuestring, &k) == SURI_OK)
    r = (int)k;
  cJSON_Delete(j);
  return r;
}

static void particle_config(const uint8_t *data, size_t size, int method) {
  mfld_opts o;
  memset(&o, 0, sizeof o);
  if (mfld_config_parse((const char *)data, size, "fuzz/config.json", &o) != CLI_OK) return;
  if (suri_mfld_check(&o.c) != SURI_OK || (int)o.c.method != method || o.c.epochs < 1 ||
      o.threads < 0 || o.threads > 1024 || o.checkpoint_every < 0)
    abort();
  if (memchr(o.data, '\0', sizeof o.data) == NULL ||
      memchr(o.test_data, '\0', sizeof o.test_data) == NULL)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int method = particle_method(data, size);
  if (method >= 0) {
    particle_config(data, size, method);
    return 0;
  }
  train_opts o;
  memset(&o, 0, sizeof o);
  if (train_config_parse((const char *)data, size, "fuzz/config.json", &o) != CLI_OK) return 0;
  suri_model_spec spec;
  suri_optim_kind kind;
  if (o.batch < 1 || o.batch > (1 << 20) || o.threads < 0 || o.threads > 1024) abort();
  if (o.epochs < 0 || o.steps < 0 || (o.epochs == 0 && o.steps == 0)) abort();
  if (suri_model_spec_parse(o.model, &spec)) abort();
  if (!train_is_sampler(o.optim) && suri_optim_kind_parse(o.optim, &kind)) abort();
  /* The samplers' settings (the "sampler" object) are in their flags' ranges. */
  if (train_is_sampler(o.optim) && (!(o.temperature >= 0) || !(o.data_size >= 0) ||
                                    !(o.prior_var >= 0) || !(o.asgd_lambda >= 0) ||
                                    o.loop < 1 || o.burn_in < 0 || o.sample_every < 1 ||
                                    memchr(o.samples_out, '\0', sizeof o.samples_out) == NULL))
    abort();
  if (memchr(o.data, '\0', sizeof o.data) == NULL) abort(); /* strings stay terminated */
  return 0;
}
