/* data_internal.h - private declarations shared by the sources of src/data: the parsed data
 * spec, option readers, the per-kind loaders and small conversion helpers. */
#ifndef SURI_DATA_INTERNAL_H
#define SURI_DATA_INTERNAL_H

#include <float.h>

#include "suri/data.h"
#include "suri/io.h"

#define DSPEC_MAX_POS 4
#define DSPEC_MAX_OPT 24

typedef struct dspec_opt {
  const char *key, *val; /* point into dspec.buf */
  int used;
} dspec_opt;

/* A spec "KIND[:ARG,...][,key=value...]" split in place. */
typedef struct dspec {
  const char *text; /* the whole spec as given (borrowed), for messages */
  char *buf;        /* owned, NUL-separated copy */
  char kind[32];
  int npos;
  const char *pos[DSPEC_MAX_POS];
  int nopt;
  dspec_opt opt[DSPEC_MAX_OPT];
} dspec;

suri_status dspec_parse(const char *text, dspec *s);
void dspec_free(dspec *s);
/* Value of option key (marked used), or NULL if absent. */
const char *dspec_take(dspec *s, const char *key);
/* Integer / real option in [lo, hi]; def if absent. */
suri_status dspec_int(dspec *s, const char *key, int64_t def, int64_t lo, int64_t hi, int64_t *out);
suri_status dspec_real(dspec *s, const char *key, double def, double lo, double hi, double *out);
/* Fails on options no loader took; `known` lists the kind's options for the message. */
suri_status dspec_check_used(const dspec *s, const char *known);
/* Fails unless the number of positional arguments lies in [lo, hi]; `usage` shows the form. */
suri_status dspec_npos(const dspec *s, int lo, int hi, const char *usage);

/* Re-raises the current error message with a prefix: "<prefix>: <previous message>". */
suri_status data_wrap(suri_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Loaders: build *out from the spec, keeping at most `limit` samples. *is_u8 tells whether the
 * features came from u8 values (which makes norm=scale the default). */
typedef suri_status (*data_loader)(dspec *s, int64_t limit, suri_dataset **out, int *is_u8);
suri_status data_load_mnist10k(dspec *s, int64_t limit, suri_dataset **out, int *is_u8);
suri_status data_load_idx(dspec *s, int64_t limit, suri_dataset **out, int *is_u8);
suri_status data_load_npy(dspec *s, int64_t limit, suri_dataset **out, int *is_u8);
suri_status data_load_csv(dspec *s, int64_t limit, suri_dataset **out, int *is_u8);
suri_status data_load_gauss(dspec *s, int64_t limit, suri_dataset **out, int *is_u8);
suri_status data_load_teacher(dspec *s, int64_t limit, suri_dataset **out, int *is_u8);
suri_status data_load_parity(dspec *s, int64_t limit, suri_dataset **out, int *is_u8);

/* Largest finite suri_real: a double beyond it cannot be converted (that is undefined). */
#ifdef SURI_REAL_DOUBLE
#define DATA_REAL_MAX DBL_MAX
#else
#define DATA_REAL_MAX FLT_MAX
#endif

/* Largest number of feature values a data set may hold (2^31: 8 GiB of f32). */
#define DATA_MAX_VALUES ((int64_t)1 << 31)

/* Copies the first `rows` rows of array a (rows of `cols` values, C order) into dst (rows,
 * cols - 1 if skip >= 0 else cols), leaving out column `skip`; SURI_ERR_FORMAT naming `file`,
 * row and column on a value that is not finite in suri_real. */
suri_status data_copy_columns(const dspec *s, const char *file, const suri_array *a,
                              int64_t rows, int64_t cols, int64_t skip, suri_real *dst);
/* Class labels of d's n rows from column `col` of a (rows of `cols` values): integers in
 * [0, 2^31); sets d->y and d->classes = max + 1. */
suri_status data_copy_labels(const dspec *s, const char *file, const suri_array *a,
                             int64_t cols, int64_t col, suri_dataset *d);

/* x = raw / 255 on every feature; used for norm=scale (a compact set only records it). */
void data_scale_u8(suri_dataset *d);

/* How data_new allocates the features: zeroed floats, uninitialised floats (the caller writes
 * every value), u8 values in x8 (compact storage, x = NULL), or nothing (the caller sets x8 to
 * a suri_alloc'ed buffer of at least n * dim bytes). */
typedef enum data_store { DATA_ZERO, DATA_UNINIT, DATA_U8, DATA_EMPTY } data_store;
suri_status data_new(int64_t n, int64_t dim, int64_t classes, int64_t targets, const char *name,
                     data_store store, suri_dataset **out);
/* dst[0..count) = the float values of the raw u8 features src[0..count) of compact set d
 * (p / 255 when d is scaled, else p). */
void data_u8_row(const suri_dataset *d, const uint8_t *src, int64_t count, suri_real *dst);
/* Nonzero while suri_data_load_u8 runs on this thread: u8 loaders then keep compact storage. */
int data_want_u8(void);

#endif
