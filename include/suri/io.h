/* suri/io.h - file formats: NPY (v1/v2/v3), IDX (plain or gzip), CSV, safetensors, and atomic
 * file writing (temporary name, flush, fsync, rename: an interrupted write never leaves a partial
 * file under the final name).
 *
 * Every parser checks every length against the file size and bounds every allocation before
 * making it; failures return SURI_ERR_IO (cannot open/read: the message names the file and
 * strerror), SURI_ERR_FORMAT (malformed, with the file name and byte offset or field in
 * suri_last_error()) or SURI_ERR_NOMEM (the payload is over max_bytes, or memory ran out).
 * max_bytes == 0 everywhere means SURI_IO_DEFAULT_MAX. All multi-byte data is decoded from its
 * file byte order explicitly, so the readers also work on big-endian hosts.
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
  SURI_DT_F16,  /* safetensors only (read/write); suri_st_get_real converts */
  SURI_DT_BF16, /* safetensors only (read/write); suri_st_get_real converts */
  SURI_DT_COUNT
} suri_dtype;

/* Bytes per element (0 for an invalid dtype). */
size_t suri_dtype_size(suri_dtype t);
const char *suri_dtype_name(suri_dtype t); /* "f32", "u8", ... ("?" for an invalid dtype) */

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
/* Converts element i (flat C-order index, 0 <= i < numel) to double; F16/BF16 are decoded. */
double suri_array_get(const suri_array *a, int64_t i);

/* Default limit for any single file's payload when max_bytes == 0: 8 GiB. */
#define SURI_IO_DEFAULT_MAX ((size_t)8 << 30)

/* NPY v1/v2/v3 readers: dtypes f4, f8, u1, i1, i2, i4, i8 (little-endian, '|' or '<') and b1
 * (bool, read as u8), C order only (fortran_order True is refused), any rank up to
 * SURI_ARRAY_MAX_RANK (rank 0 = one scalar). The header dict is parsed as the Python literal it
 * is (keys in any order, trailing comma, spaces); the data must fill the rest of the file
 * exactly. On failure *out is zeroed. */
suri_status suri_npy_read(const char *path, size_t max_bytes, suri_array *out);
/* Writes an NPY v1 file atomically, byte for byte as numpy's np.save does (header padded with
 * spaces so the data starts at a multiple of 64). dtype: F32, F64, U8, I8, I16, I32, I64; rank
 * 0..SURI_ARRAY_MAX_RANK; data: numel elements of that dtype in host order. */
suri_status suri_npy_write(const char *path, suri_dtype dtype, int rank, const int64_t *dim,
                           const void *data);

/* IDX (LeCun's MNIST format): magic 0x00 0x00 TYPE RANK, RANK big-endian u32 dims, big-endian
 * data. Types 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64; rank 0..8. Gzip-
 * compressed files (magic 1f 8b) are detected and decompressed transparently, whatever the file
 * name; a truncated or corrupt gzip stream, or one that would decompress to more than max_bytes
 * or more than deflate's 1032:1 ratio allows, is refused. The data must end the file exactly.
 * On failure *out is zeroed. */
suri_status suri_idx_read(const char *path, size_t max_bytes, suri_array *out);
/* Writes IDX; gzip-compressed if gzip != 0. Atomic. dtype: F32, F64, U8, I8, I16, I32 (I64 and
 * F16/BF16 have no IDX type code: SURI_ERR_ARG); every dim must fit in a u32. */
suri_status suri_idx_write(const char *path, suri_dtype dtype, int rank, const int64_t *dim,
                           const void *data, int gzip);

/* CSV: numbers only (after an optional header row). Output is (rows, cols) f64.
 * header: 1 = first row is a header (names returned in header_names if non-NULL, owned by the
 * caller: free each and the array, e.g. with suri_csv_free_names), 0 = none, -1 = detect (a
 * first row with any non-numeric field is a header). Empty lines are skipped; a row with a
 * different field count, an empty or non-numeric field is an error naming line and column.
 * Details: numbers are parsed with strtod in the C locale (so "nan"/"inf" parse; the data layer
 * decides about non-finite values); spaces/tabs around a field are ignored; a field may be
 * quoted ("a,b" and "" for a quote; no newline inside quotes); CRLF line ends and a UTF-8 byte
 * order mark are tolerated; at most 1,000,000 columns. A file with no data row is an error.
 * When there is no header, *header_names = NULL and *n_header = 0. Linear time. */
typedef struct suri_csv_opts {
  char delimiter; /* default ',' */
  int header;     /* default -1 (detect) */
  size_t max_bytes;
} suri_csv_opts;
suri_csv_opts suri_csv_defaults(void);
suri_status suri_csv_read(const char *path, const suri_csv_opts *o, suri_array *out,
                          char ***header_names, int64_t *n_header);
/* Frees header names returned by suri_csv_read (NULL-safe). */
void suri_csv_free_names(char **names, int64_t n);
#define SURI_CSV_MAX_COLS 1000000

/* ---- safetensors -------------------------------------------------------------------------- */
/* Format (https://huggingface.co/docs/safetensors): 8-byte little-endian header length N, N
 * bytes of UTF-8 JSON (starting with '{', possibly padded with trailing spaces)
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value", ...}}, then the data block. Offsets are relative to
 * the data block, must lie inside it, match dtype size x shape, and must not overlap; as the
 * reference implementation does, the tensors must also cover the data block without holes.
 * dtypes read: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL (BOOL reads as U8). N is at most 100 MB
 * (the reference limit); duplicate names are refused. Tensors are kept in header order. */
typedef struct suri_st_tensor {
  const char *name;
  suri_dtype dtype;
  int rank;
  int64_t dim[SURI_ARRAY_MAX_RANK];
  size_t offset, nbytes; /* within the data block */
} suri_st_tensor;

typedef struct suri_safetensors suri_safetensors;

/* Reads the whole file (at most max_bytes) and validates the header. *out is NULL on failure. */
suri_status suri_st_read(const char *path, size_t max_bytes, suri_safetensors **out);
/* Same from memory (copied). `what` names the source in error messages. */
suri_status suri_st_parse(const void *buf, size_t n, const char *what, suri_safetensors **out);
void suri_st_free(suri_safetensors *st);
int64_t suri_st_count(const suri_safetensors *st);
const suri_st_tensor *suri_st_at(const suri_safetensors *st, int64_t i);
const suri_st_tensor *suri_st_find(const suri_safetensors *st, const char *name);
/* Borrowed pointer to t's nbytes bytes (little-endian). It may be unaligned for the dtype:
 * read it with memcpy. */
const void *suri_st_data(const suri_safetensors *st, const suri_st_tensor *t);
/* Metadata string for key, or NULL. Borrowed. */
const char *suri_st_meta(const suri_safetensors *st, const char *key);
int64_t suri_st_meta_count(const suri_safetensors *st);
const char *suri_st_meta_key(const suri_safetensors *st, int64_t i);
/* Copies tensor `name` into dst (n elements of suri_real), converting from F32/F64/F16/BF16.
 * Fails with a clear message if it is missing (SURI_ERR_FORMAT), is not a float dtype
 * (SURI_ERR_FORMAT), has another shape or element count (SURI_ERR_SHAPE), or holds NaN/Inf or
 * a value that overflows suri_real (SURI_ERR_NUMERIC, naming the tensor and the index, when
 * check_finite). rank >= 0: the shape must equal (rank, dim). rank < 0: only the element count
 * is checked, against dim[0] when dim is non-NULL (dst must hold the tensor's numel otherwise).
 * Messages name the source (file) and the tensor. On a NaN/Inf failure dst may be partly
 * written. */
suri_status suri_st_get_real(const suri_safetensors *st, const char *name, int rank,
                             const int64_t *dim, suri_real *dst, int check_finite);

typedef struct suri_st_writer suri_st_writer;
suri_st_writer *suri_st_writer_new(void);
void suri_st_writer_free(suri_st_writer *w);
/* Adds a tensor; data (numel elements of dtype, host order) is copied. Names are non-empty
 * UTF-8, unique, and not "__metadata__" (SURI_ERR_ARG otherwise). */
suri_status suri_st_writer_add(suri_st_writer *w, const char *name, suri_dtype dtype, int rank,
                               const int64_t *dim, const void *data);
/* Same from suri_real values converted to dtype F32, F64, F16 or BF16 (round to nearest even;
 * values beyond the F16/BF16 range become Inf). */
suri_status suri_st_writer_add_real(suri_st_writer *w, const char *name, suri_dtype dtype,
                                    int rank, const int64_t *dim, const suri_real *data);
/* Sets a "__metadata__" entry (UTF-8 key and value, copied; a key set twice is SURI_ERR_ARG). */
suri_status suri_st_writer_meta(suri_st_writer *w, const char *key, const char *value);
/* Writes atomically (tensors in insertion order, header padded with spaces to 8 bytes). */
suri_status suri_st_writer_write(const suri_st_writer *w, const char *path);

/* ---- atomic files ------------------------------------------------------------------------- */
/* Opens "<path>.tmp.<pid>" (same directory, so rename is atomic) for writing; write through
 * af->f. commit checks the stream's error flag, flushes, fsyncs, closes, renames over path and
 * fsyncs the directory; abort closes and removes the temporary. Exactly one of them must be
 * called; both leave *af zeroed. On any failure the temporary is removed, an existing file at
 * path is left untouched, and SURI_ERR_IO names the path and strerror. A path that is an
 * existing directory is refused. A replaced file's permission bits are kept. (One exception:
 * if only the final directory fsync fails, the new file is already in place when SURI_ERR_IO
 * comes back.) */
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
