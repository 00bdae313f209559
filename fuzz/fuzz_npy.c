/* fuzz_npy.c - libFuzzer target for the NPY reader (suri_npy_read, src/io/npy.c): the input is
 * a whole .npy file. With the default payload limit (8 GiB, as the CLI uses it) a header that
 * claims more elements than the file holds must be refused before any allocation, which
 * libFuzzer's -malloc_limit_mb turns into a finding if it is not. On success the array must be
 * self-consistent (nbytes = numel x element size) and every element readable. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "suri/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write("in.npy", data, size);
  suri_array a;
  if (suri_npy_read(path, 0, &a) != SURI_OK) {
    if (a.data || a.rank || a.nbytes) abort(); /* documented: *out is zeroed on failure */
    return 0;
  }
  int64_t n = suri_array_numel(&a);
  if (n < 0 || (size_t)n * suri_dtype_size(a.dtype) != a.nbytes) abort();
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += suri_array_get(&a, i);
  volatile double sink = s;
  (void)sink;
  suri_array_free(&a);
  return 0;
}
