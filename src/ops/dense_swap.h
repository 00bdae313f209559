/* dense_swap.h - when the forward product of a dense layer runs with its operands swapped.
 *
 * y (B, OUT) = x (B, IN) W^T is one GEMM; OpenBLAS packs the operand that its column-major
 * view calls A in panels of rows, and for a weight much wider than the batch that packing is a
 * large share of the call. Computing t (OUT, B) = W x^T and transposing t into y gives the same
 * products (bitwise the same with OpenBLAS's SkylakeX kernels) and is faster for
 * 16 <= B <= 128, OUT >= 2 B, IN >= 256. Measured on the 2-core test machine, 1 thread,
 * SkylakeX kernels, time of swapped + transpose over direct: (B, OUT, IN) = (32, 128, 784)
 * 0.81, (64, 256, 784) 0.91, (32, 64, 784) 0.86, (128, 512, 784) 0.96, (128, 512, 512) 0.98;
 * outside the rule it loses: (8, 128, 784) 1.13, (32, 128, 64) 1.04, (256, 1024, 784) 1.01,
 * (1000, 512, 784) 1.08, (32, 10, 128) 1.20. With the Haswell kernels the gains inside the
 * rule are smaller (0.92 at (32, 128, 784)), and the two orders may differ in the last bit.
 * The transpose goes through one transient buffer per graph (src/graph/graph.c), counted by
 * the training memory estimate (src/train/memory.c). */
#ifndef SURI_DENSE_SWAP_H
#define SURI_DENSE_SWAP_H

#include <stdint.h>

/* 1 if the forward product of a dense node (B, IN) -> (B, OUT) runs swapped. */
static inline int suri_dense_swap_pays(int64_t B, int64_t out, int64_t in) {
  return B >= 16 && B <= 128 && out >= 2 * B && in >= 256;
}

/* Elements of the transient (OUT, B) buffer the node needs at batches up to max_batch (the
 * largest B the rule admits), 0 when it never runs swapped. */
static inline int64_t suri_dense_swap_elems(int64_t max_batch, int64_t out, int64_t in) {
  int64_t b = max_batch < 128 ? max_batch : 128;
  if (b > out / 2) b = out / 2;
  return b >= 16 && in >= 256 ? b * out : 0;
}

#endif
