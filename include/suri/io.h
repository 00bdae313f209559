/* suri/io.h - file formats: NPY (v1/v2), IDX (plain or gzip), CSV, safetensors, and atomic file
 * writing (temporary name, flush, fsync, rename: an interrupted write never leaves a partial
 * file under the final name).
 *
 * Every parser checks every length against the file size and bounds every allocation before
 * making it; failures return SURI_ERR_IO (cannot open/read), SURI_ERR_FORMAT (malformed, with
 * the file name and byte offset in suri_last_error()) or SURI_ERR_NOMEM (over max_bytes).
 *
 * Usage:
 *   suri_array a;
 *   if (suri_npy_read("x.npy", 0, &a) != SURI_OK) fprintf(stderr, "%s\n", suri_last_error());
 *   ... a.dtype, a.rank, a.dim[], a.data ...
 *   suri_array_free(&a);
 */
#ifndef SURI_IO_H
#define SURI_IO_H

#include <stdio.h>

#include "suri/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum suri_dtype {
  SURI_DT_F32,
  SURI_DT_F64,
  SURI_DT_U8,
  SURI_DT_I8,
  SURI_DT_I16,
  SURI_DT_I32,
  SURI_DT_I64,
  SURI_DT_F16,  /* safetensors only (read), converted on load */
  SURI_DT_BF16, /* safetensors only (read), converted on load */
  SURI_DT_COUNT
} suri_dtype;

size_t suri_dtype_size(suri_dtype t);
const char *suri_dtype_name(suri_dtype t); /* "f32", "u8", ... */

#define SURI_ARRAY_MAX_RANK 8

/* An owned n-dimensional array in C order. data is suri_alloc'ed (64-byte aligned). */
typedef struct suri_array {
  suri_dtype dtype;
  int rank;
  int64_t dim[SURI_ARRAY_MAX_RANK];
  void *data;
  size_t nbytes;
} suri_array;

void suri_array_free(suri_array *a); /* frees data, zeroes the struct; NULL-safe */
int64_t suri_array_numel(const suri_array *a);
/* Converts element i to double. */
double suri_array_get(const suri_array *a, int64_t i);

/* Default limit for any single file's payload when max_bytes == 0: 8 GiB. */
#define SURI_IO_DEFAULT_MAX ((size_t)8 << 30)

/* NPY v1/v2/v3 readers: dtypes f4, f8, u1, i1, i2, i4, i8 (little-endian, '|' or '<'), C order
 * only (fortran_order True is refused). */
suri_status suri_npy_read(const char *path, size_t max_bytes, suri_array *out);
/* Writes an NPY v1 file atomically. */
suri_status suri_npy_write(const char *path, suri_dtype dtype, int rank, const int64_t *dim,
                           const void *data);

/* IDX (LeCun's MNIST format): magic 0x00 0x00 TYPE RANK, big-endian dims, big-endian data.
 * Types u8, i8, i16, i32, f32, f64. Gzip-compressed files (magic 1f 8b) are detected and
 * decompressed transparently, whatever the file name. */
suri_status suri_idx_read(const char *path, size_t max_bytes, suri_array *out);
/* Writes IDX; gzip-compressed if gzip != 0. Atomic. */
suri_status suri_idx_write(const char *path, suri_dtype dtype, int rank, const int64_t *dim,
                           const void *data, int gzip);

/* CSV: numbers only (after an optional header row). Output is (rows, cols) f64.
 * header: 1 = first row is a header (names returned in header_names if non-NULL, owned by the
 * caller: free each and the array), 0 = none, -1 = detect (a first row with any non-numeric
 * field is a header). Empty lines are skipped; a row with a different field count, an empty or
 * non-numeric field is an error naming line and column. */
typedef struct suri_csv_opts {
  char delimiter; /* default ',' */
  int header;     /* default -1 (detect) */
  size_t max_bytes;
} suri_csv_opts;
suri_csv_opts suri_csv_defaults(void);
suri_status suri_csv_read(const char *path, const suri_csv_opts *o, suri_array *out,
                          char ***header_names, int64_t *n_header);

/* ---- safetensors -------------------------------------------------------------------------- */
/* Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value", ...}}, then the data block. Offsets are relative to
 * the data block, must lie inside it, match dtype size x shape, and must not overlap. */
typedef struct suri_st_tensor {
  const char *name;
  suri_dtype dtype;
  int rank;
  int64_t dim[SURI_ARRAY_MAX_RANK];
  size_t offset, nbytes; /* within the data block */
} suri_st_tensor;

typedef struct suri_safetensors suri_safetensors;

suri_status suri_st_read(const char *path, size_t max_bytes, suri_safetensors **out);
/* Same from memory (copied). `what` names the source in error messages. */
suri_status suri_st_parse(const void *buf, size_t n, const char *what, suri_safetensors **out);
void suri_st_free(suri_safetensors *st);
int64_t suri_st_count(const suri_safetensors *st);
const suri_st_tensor *suri_st_at(const suri_safetensors *st, int64_t i);
const suri_st_tensor *suri_st_find(const suri_safetensors *st, const char *name);
const void *suri_st_data(const suri_safetensors *st, const suri_st_tensor *t);
/* Metadata string for key, or NULL. Borrowed. */
const char *suri_st_meta(const suri_safetensors *st, const char *key);
int64_t suri_st_meta_count(const suri_safetensors *st);
const char *suri_st_meta_key(const suri_safetensors *st, int64_t i);
/* Copies tensor `name` into dst (n elements of suri_real), converting from F32/F64/F16/BF16.
 * Fails with a clear message if it is missing, has another element count, or holds NaN/Inf
 * (when check_finite). Shape is checked against (rank, dim) if rank >= 0. */
suri_status suri_st_get_real(const suri_safetensors *st, const char *name, int rank,
                             const int64_t *dim, suri_real *dst, int check_finite);

typedef struct suri_st_writer suri_st_writer;
suri_st_writer *suri_st_writer_new(void);
void suri_st_writer_free(suri_st_writer *w);
/* Adds a tensor; data is copied (converted to `dtype` when src_is_real: src holds suri_real). */
suri_status suri_st_writer_add(suri_st_writer *w, const char *name, suri_dtype dtype, int rank,
                               const int64_t *dim, const void *data);
suri_status suri_st_writer_add_real(suri_st_writer *w, const char *name, suri_dtype dtype,
                                    int rank, const int64_t *dim, const suri_real *data);
suri_status suri_st_writer_meta(suri_st_writer *w, const char *key, const char *value);
/* Writes atomically (tensors in insertion order, header padded with spaces to 8 bytes). */
suri_status suri_st_writer_write(const suri_st_writer *w, const char *path);

/* ---- atomic files ------------------------------------------------------------------------- */
/* Opens "<path>.tmp.<pid>" for writing; commit flushes, fsyncs, renames over path and fsyncs
 * the directory; abort closes and removes the temporary. Exactly one of them must be called. */
typedef struct suri_atomic_file {
  FILE *f;
  char *path;
  char *tmp;
} suri_atomic_file;
suri_status suri_atomic_open(suri_atomic_file *af, const char *path);
suri_status suri_atomic_commit(suri_atomic_file *af);
void suri_atomic_abort(suri_atomic_file *af);
/* Whole-buffer convenience. */
suri_status suri_write_file_atomic(const char *path, const void *data, size_t n);
/* Reads a whole file (at most max_bytes; 0 = default). *data is suri_alloc'ed, NUL-terminated
 * (one extra byte not counted in *n). */
suri_status suri_read_file(const char *path, size_t max_bytes, void **data, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
