/* optim_internal.h - what the optimizer kernels in src/optim share: the threading policy for
 * element-wise updates.
 *
 * Element-wise updates are split into fixed chunks of SURI_OPTIM_CHUNK elements whose
 * boundaries do not depend on the thread count, so every element goes through the same code
 * path (vector body or scalar remainder) whatever the number of threads: results are bitwise
 * independent of it. Below SURI_OPTIM_OMP_MIN elements the loop stays on one thread, where
 * starting a team would cost more than the update. */
#ifndef SURI_OPTIM_INTERNAL_H
#define SURI_OPTIM_INTERNAL_H

#include <math.h>

#include "suri/core.h"

/* Elements below which an update stays single-threaded (same policy as the ops). */
#define SURI_OPTIM_OMP_MIN 32768
/* Chunk length: a multiple of 64 bytes for float and double, large enough to amortise the
 * scheduling, small enough to balance across threads. */
#define SURI_OPTIM_CHUNK 8192

/* Runtime ISA dispatch for the update loops, as for the activations (src/ops/activation.c):
 * gcc compiles each range kernel for AVX-512, AVX2 and the x86-64 baseline and an ifunc picks
 * one at load time. ISO C mode compiles without FMA contraction, and every version does the
 * same element-wise operations (no reductions; sqrt and division are correctly rounded in
 * every ISA), so all three give bitwise the same parameters; only the speed differs. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define SURI_OPTIM_TARGETS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SURI_OPTIM_TARGETS
#endif

#ifdef SURI_REAL_DOUBLE
#define SURI_OPTIM_SQRT sqrt
#else
#define SURI_OPTIM_SQRT sqrtf
#endif

/* Calls fn(lo, hi, args) for consecutive chunks [lo, hi) covering [0, n), in parallel (OpenMP,
 * static schedule) when n >= SURI_OPTIM_OMP_MIN. Defined in optim.c. */
typedef void (*suri_optim_range_fn)(int64_t lo, int64_t hi, const void *args);
void suri_optim_for_chunks(size_t n, suri_optim_range_fn fn, const void *args);

#endif
