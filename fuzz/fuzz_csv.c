/* fuzz_csv.c - libFuzzer target for the CSV reader (suri_csv_read, src/io/csv.c). The first
 * input byte picks the options (header: detect / none / first row; delimiter: ',' ';' tab
 * '|'), the rest is the file. On success the table must be self-consistent and the header
 * names, when returned, one per column. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "suri/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char delims[4] = {',', ';', '\t', '|'};
  suri_csv_opts o = suri_csv_defaults();
  o.header = (int)(data[0] % 3) - 1;
  o.delimiter = delims[(data[0] >> 2) & 3];
  const char *path = fuzz_write("in.csv", data + 1, size - 1);
  suri_array a;
  char **names = NULL;
  int64_t n_names = 0;
  if (suri_csv_read(path, &o, &a, &names, &n_names) != SURI_OK) {
    if (a.data || names || n_names) abort();
    return 0;
  }
  if (a.rank != 2 || a.dtype != SURI_DT_F64 || a.dim[0] < 1 || a.dim[1] < 1) abort();
  if ((size_t)(a.dim[0] * a.dim[1]) * sizeof(double) != a.nbytes) abort();
  if (names && n_names != a.dim[1]) abort();
  size_t len = 0;
  for (int64_t i = 0; i < n_names; i++) len += strlen(names[i]);
  double s = 0;
  for (int64_t i = 0; i < a.dim[0] * a.dim[1]; i++) s += ((const double *)a.data)[i];
  volatile double sink = s + (double)len;
  (void)sink;
  suri_csv_free_names(names, n_names);
  suri_array_free(&a);
  return 0;
}
