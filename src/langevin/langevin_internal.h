/* langevin_internal.h - what the files of src/langevin share: chunking constants and the
 * counter-based Gaussian noise kernel. */
#ifndef SURI_LANGEVIN_INTERNAL_H
#define SURI_LANGEVIN_INTERNAL_H

#include "suri/langevin.h"

/* Coordinates per parallel chunk of the update. Chunk boundaries do not depend on the thread
 * count, and each coordinate's noise comes from its own Philox block, so the update is
 * bitwise the same for any number of threads. */
#define LANGEVIN_CHUNK 4096
/* Below this many coordinates the update stays on one thread. */
#define LANGEVIN_OMP_MIN 32768
/* Block-counter stride between the batches of consecutive steps (suri_langevin_draw_batch):
 * a batch uses B blocks plus the rare rejection redraws, far below 2^32. */
#define LANGEVIN_BATCH_STRIDE ((uint64_t)1 << 32)

/* Normals number 2i and 2i + 1 of the stream (seed, purpose) (Box-Muller on block base + i,
 * in double). */
void langevin_normal_pair(uint64_t seed, uint32_t purpose, uint64_t block, double *z0,
                          double *z1);

#endif
