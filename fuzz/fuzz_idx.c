/* fuzz_idx.c - libFuzzer target for the IDX reader (suri_idx_read, src/io/idx.c), plain and
 * gzip. The first input byte picks the mode: even = the rest is the file as it is (which also
 * covers broken gzip streams, since the reader detects gzip by its magic bytes); odd = the
 * rest is gzip-compressed here first, so the fuzzer explores IDX headers and payloads behind a
 * valid gzip stream (dimension claims against deflate's expansion bound, trailing data,
 * truncation inside the payload). Default payload limit, as the CLI uses it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_common.h"
#include "suri/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gzip (RFC 1952) of src into a malloc'ed buffer; *n its length. */
static uint8_t *gzip_bytes(const uint8_t *src, size_t n, size_t *out_n) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
  size_t cap = deflateBound(&z, (uLong)n) + 64;
  uint8_t *out = malloc(cap);
  if (!out) abort();
  z.next_in = (Bytef *)(uintptr_t)src;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
  *out_n = cap - z.avail_out;
  deflateEnd(&z);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *path;
  if (data[0] & 1) {
    size_t gn = 0;
    uint8_t *gz = gzip_bytes(data + 1, size - 1, &gn);
    path = fuzz_write("in.idx.gz", gz, gn);
    free(gz);
  } else {
    path = fuzz_write("in.idx", data + 1, size - 1);
  }
  suri_array a;
  if (suri_idx_read(path, 0, &a) != SURI_OK) {
    if (a.data || a.rank || a.nbytes) abort();
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
