/* fuzz_model_spec.c - libFuzzer target for model spec strings (suri_model_spec_parse,
 * src/nn/spec.c), as given to --model and stored in model files. Properties checked beyond
 * "no crash": a spec that parses is in range (2..33 widths, each 1..10^6), and its canonical
 * form (suri_model_spec_format) parses again to the same canonical form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "suri/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char text[4097];
  memcpy(text, data, size);
  text[size] = '\0'; /* an embedded NUL just ends the string early, as in argv */
  suri_model_spec s, s2;
  if (suri_model_spec_parse(text, &s) != SURI_OK) return 0;
  if (s.n_widths < 2 || s.n_widths > SURI_MLP_MAX_LAYERS + 1) abort();
  for (int i = 0; i < s.n_widths; i++)
    if (s.width[i] < 1 || s.width[i] > 1000000) abort();
  char a[1024], b[1024];
  suri_model_spec_format(&s, a, sizeof a);
  if (suri_model_spec_parse(a, &s2) != SURI_OK) abort();
  suri_model_spec_format(&s2, b, sizeof b);
  if (strcmp(a, b) != 0) abort();
  return 0;
}
