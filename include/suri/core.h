/* suri/core.h - scalar type, status codes, errors, allocation, scratch arena, RNG streams,
 * thread policy.
 *
 * Usage:
 *   suri_status st = suri_something(...);
 *   if (st != SURI_OK) fprintf(stderr, "error: %s\n", suri_last_error());
 *
 * The library never prints and never exits: every failure comes back as a suri_status with a
 * detail message in a thread-local buffer (suri_last_error()).
 */
#ifndef SURI_CORE_H
#define SURI_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- scalar type -------------------------------------------------------------------------- */
#ifdef SURI_REAL_DOUBLE
typedef double suri_real;
#define SURI_REAL_NAME "f64"
#else
typedef float suri_real;
#define SURI_REAL_NAME "f32"
#endif

#define SURI_VERSION_MAJOR 0
#define SURI_VERSION_MINOR 1
#define SURI_VERSION_PATCH 0
#define SURI_VERSION_STRING "0.1.0"
/* Version of the model/checkpoint metadata layout written into safetensors files. */
#define SURI_FORMAT_VERSION 1

/* ---- status ------------------------------------------------------------------------------- */
typedef enum suri_status {
  SURI_OK = 0,
  SURI_ERR_ARG,         /* invalid argument (bad value, NULL, out of range) */
  SURI_ERR_SHAPE,       /* shapes do not agree */
  SURI_ERR_NOMEM,       /* allocation failed or a size limit was exceeded */
  SURI_ERR_IO,          /* open/read/write/rename failed */
  SURI_ERR_FORMAT,      /* a file or string is malformed */
  SURI_ERR_NUMERIC,     /* NaN/Inf or a numerical breakdown */
  SURI_ERR_STATE,       /* call made in the wrong state (e.g. run before compile) */
  SURI_ERR_UNSUPPORTED, /* valid request that this build does not support */
  SURI_ERR_COMM,        /* communicator failure */
  SURI_ERR_INTERRUPTED  /* stopped on request (signal) */
} suri_status;

/* Short name of a status ("invalid argument", ...). Never NULL. */
const char *suri_status_name(suri_status st);

/* Detail message of the last failure on this thread ("" if none). Borrowed; valid until the
 * next failing call on the same thread. */
const char *suri_last_error(void);

/* Records a failure message (printf format) for this thread and returns st. Used by the library
 * and available to applications that build on it. */
suri_status suri_fail(suri_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Clears the thread's error message. */
void suri_clear_error(void);

/* ---- allocation --------------------------------------------------------------------------- */
#define SURI_ALIGN 64

/* 64-byte-aligned allocation of n bytes (n may be 0: returns a valid unique pointer).
 * Returns NULL and sets the error message on failure. Free with suri_free. */
void *suri_alloc(size_t n);
/* Same, zero-filled. Refuses n*size overflow. */
void *suri_calloc(size_t count, size_t size);
void suri_free(void *p);

/* Multiplies with overflow check: returns 0 and sets *out on success, -1 on overflow. */
int suri_mul_size(size_t a, size_t b, size_t *out);

/* Scratch arena: one block, bump allocation, mark/rewind. */
typedef struct suri_arena suri_arena;
suri_arena *suri_arena_new(size_t bytes);
void suri_arena_free(suri_arena *a);
/* 64-byte-aligned chunk, or NULL (with error set) if the arena is exhausted. */
void *suri_arena_take(suri_arena *a, size_t bytes);
size_t suri_arena_mark(const suri_arena *a);
void suri_arena_rewind(suri_arena *a, size_t mark);
size_t suri_arena_used(const suri_arena *a);
size_t suri_arena_capacity(const suri_arena *a);

/* ---- random numbers ----------------------------------------------------------------------- */
/* Counter-based Philox4x32-10 streams. A stream is (seed, purpose); draws are addressed by a
 * 64-bit counter, so a value depends only on (seed, purpose, counter) and never on the thread
 * count or the order in which threads draw. The struct is a transparent value type: copy it to
 * save and restore the stream state (checkpoints store `counter`). */
typedef struct suri_rng {
  uint64_t seed;
  uint32_t purpose;
  uint64_t counter; /* next block index; each block yields 4 uint32 */
} suri_rng;

/* Well-known purposes; any other 32-bit value may be used. */
enum {
  SURI_RNG_INIT = 1,    /* parameter initialisation */
  SURI_RNG_SHUFFLE = 2, /* minibatch order */
  SURI_RNG_DROPOUT = 3, /* dropout masks */
  SURI_RNG_DATA = 4,    /* synthetic data */
  SURI_RNG_SPLIT = 5,   /* train/test splits */
  SURI_RNG_NOISE = 6,   /* Langevin noise */
  SURI_RNG_PROBE = 7    /* random probe vectors (analysis) */
};

suri_rng suri_rng_make(uint64_t seed, uint32_t purpose);
/* The 4 uint32 of block `index` of the stream, without touching the stream state. */
void suri_rng_block(const suri_rng *r, uint64_t index, uint32_t out[4]);
/* Sequential draws (advance r->counter by whole blocks). */
uint32_t suri_rng_u32(suri_rng *r);
/* Uniform in (0, 1), never 0 or 1 (53-bit resolution). */
double suri_rng_uniform(suri_rng *r);
/* Standard normal (Box-Muller on one block). */
double suri_rng_normal(suri_rng *r);
/* Fills x[0..n) with N(mean, std^2); uses blocks counter.. counter+ceil(n/2)-1. */
void suri_rng_fill_normal(suri_rng *r, size_t n, suri_real *x, double mean, double std);
/* Uniform integer in [0, n) without modulo bias. n > 0. */
uint64_t suri_rng_below(suri_rng *r, uint64_t n);
/* Fisher-Yates permutation of idx[0..n) (idx filled with 0..n-1 first). */
void suri_rng_permutation(suri_rng *r, size_t n, int64_t *idx);
/* Stateless helpers keyed by (stream, index): value number `index` of the stream. Used where
 * many threads draw independent values (dropout masks). */
double suri_rng_uniform_at(const suri_rng *r, uint64_t index);

/* ---- threads ------------------------------------------------------------------------------ */
/* Sets the number of threads used by suri's own loops and by the BLAS library (n >= 1).
 * 0 means "all cores". */
suri_status suri_set_threads(int n);
int suri_get_threads(void);
/* Name of the BLAS kernel set in use (e.g. "Haswell"). Borrowed static string. */
const char *suri_blas_info(void);

#ifdef __cplusplus
}
#endif
#endif
