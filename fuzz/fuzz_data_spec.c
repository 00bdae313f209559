/* fuzz_data_spec.c - libFuzzer target for data spec strings (suri_data_load, src/data/spec.c
 * and the loaders it dispatches to), as given to --data and --test-data. The target runs in a
 * scratch directory holding small valid data files (x.npy, y.npy, t.npy, x.idx, y.idx, x.idx.gz,
 * a.csv, b.csv and a tiny mnist10k/), so specs that name them reach the loaders' option
 * handling (label/target columns, limit, norm, delimiters) and not only "file not found".
 *
 * Two limits keep this a test of parsing and not of the machine's memory, and are documented
 * in docs/reliability.md: inputs containing '/' are skipped (a spec may name any file, e.g.
 * /dev/zero; reading arbitrary system files is not what this target is about), and so are
 * inputs with a run of 4 or more digits (gauss/teacher sizes like n=10000000 are valid requests
 * whose memory is refused up front by the CLI's memory check, not by the parser). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "suri/data.h"
#include "suri/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void put_text(const char *name, const char *text) {
  fuzz_write(name, (const uint8_t *)text, strlen(text));
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  const char *dir = fuzz_dir();
  if (chdir(dir) != 0) abort();
  setenv("SURI_DATA_DIR", dir, 1);
  float x[24];
  int32_t y[6] = {0, 1, 2, 0, 1, 2};
  double t[12];
  unsigned char img[6 * 28 * 28], lab[6] = {0, 1, 2, 3, 4, 5};
  for (int i = 0; i < 24; i++) x[i] = (float)(i % 7) - 3.0f;
  for (int i = 0; i < 12; i++) t[i] = 0.5 * i;
  for (int i = 0; i < 6 * 28 * 28; i++) img[i] = (unsigned char)(i * 37);
  int64_t dx[2] = {6, 4}, dy[1] = {6}, dt[2] = {6, 2}, di[3] = {6, 2, 2}, dm[3] = {6, 28, 28};
  (void)mkdir("mnist10k", 0700); /* exists already when libFuzzer re-runs the init */
  if (suri_npy_write("x.npy", SURI_DT_F32, 2, dx, x) || suri_npy_write("y.npy", SURI_DT_I32, 1, dy, y) ||
      suri_npy_write("t.npy", SURI_DT_F64, 2, dt, t) ||
      suri_idx_write("x.idx", SURI_DT_U8, 3, di, img, 0) ||
      suri_idx_write("y.idx", SURI_DT_U8, 1, dy, lab, 0) ||
      suri_idx_write("x.idx.gz", SURI_DT_U8, 3, di, img, 1) ||
      suri_idx_write("mnist10k/train-images-idx3-ubyte.gz", SURI_DT_U8, 3, dm, img, 1) ||
      suri_idx_write("mnist10k/train-labels-idx1-ubyte.gz", SURI_DT_U8, 1, dy, lab, 1) ||
      suri_idx_write("mnist10k/test-images-idx3-ubyte.gz", SURI_DT_U8, 3, dm, img, 1) ||
      suri_idx_write("mnist10k/test-labels-idx1-ubyte.gz", SURI_DT_U8, 1, dy, lab, 1))
    abort();
  put_text("a.csv", "f1,f2,f3,label\n1,2,3,0\n4,5,6,1\n7,8,9,2\n1.5,-2,3e2,1\n");
  put_text("b.csv", "1;2;0.5\n3;4;1.5\n\n5;6;2.5\n");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 512) return 0;
  char text[513];
  int digits = 0;
  for (size_t i = 0; i < size; i++) {
    if (data[i] == '/') return 0;
    digits = (data[i] >= '0' && data[i] <= '9') ? digits + 1 : 0;
    if (digits >= 4) return 0;
  }
  memcpy(text, data, size);
  text[size] = '\0';
  suri_dataset *d = NULL;
  if (suri_data_load(text, &d) != SURI_OK) {
    if (d) abort();
    return 0;
  }
  if (d->n < 1 || d->dim < 1 || !d->x) abort();
  char info[1024];
  (void)suri_dataset_info(d, info, sizeof info);
  suri_dataset_free(d);
  return 0;
}
