/* fuzz_config_json.c - libFuzzer target for the run configuration that `suri train --resume
 * DIR` reads from DIR/config.json (train_config_parse, cli/train_config.c, built into this
 * target together with cli/util.c; cJSON does the JSON itself). A config that parses must
 * hold values the rest of the command can use as they are: a batch and thread count inside
 * the flags' ranges, a model spec, optimizer and schedule that parse, and for the Langevin
 * samplers and asgd their "sampler" settings in range. The messages for bad
 * files go to stderr, which run.sh closes (-close_fd_mask=2). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "suri/optim.h"
#include "train_cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
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
