/* threads.c - one thread policy for suri's OpenMP loops and OpenBLAS: both use the same count,
 * and they never run at the same time, so the cores are never oversubscribed. */
#include <unistd.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "suri/core.h"

static int current_threads = 1;

suri_status suri_set_threads(int n) {
  if (n < 0) return suri_fail(SURI_ERR_ARG, "thread count must be >= 0 (got %d)", n);
  if (n == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 0 ? (int)c : 1;
  }
  if (n > 1024) return suri_fail(SURI_ERR_ARG, "thread count %d is too large (max 1024)", n);
  current_threads = n;
  openblas_set_num_threads(n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  return SURI_OK;
}

int suri_get_threads(void) { return current_threads; }

const char *suri_blas_info(void) { return openblas_get_corename(); }
