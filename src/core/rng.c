/* rng.c - counter-based random streams on Random123's Philox4x32-10 (Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
 * Key = (seed low 32 bits ^ purpose mix, seed high 32 bits); counter = (block index lo, hi,
 * purpose, 0). A value therefore depends only on (seed, purpose, index): results are the same
 * for any thread count. Normals use Box-Muller on one block (two normals per block; the
 * sequential API uses the first). */
#include <math.h>

#include <Random123/philox.h>

#include "suri/core.h"

suri_rng suri_rng_make(uint64_t seed, uint32_t purpose) {
  suri_rng r = {seed, purpose, 0};
  return r;
}

void suri_rng_block(const suri_rng *r, uint64_t index, uint32_t out[4]) {
  philox4x32_ctr_t c = {{(uint32_t)index, (uint32_t)(index >> 32), r->purpose, 0x5352u}};
  philox4x32_key_t k = {{(uint32_t)r->seed, (uint32_t)(r->seed >> 32)}};
  philox4x32_ctr_t v = philox4x32(c, k);
  out[0] = v.v[0];
  out[1] = v.v[1];
  out[2] = v.v[2];
  out[3] = v.v[3];
}

/* 53-bit uniform in (0, 1) from two 32-bit words. */
static double u01(uint32_t a, uint32_t b) {
  uint64_t m = ((uint64_t)a << 21) ^ (uint64_t)(b >> 11);
  m &= (1ull << 53) - 1;
  return ((double)m + 0.5) * (1.0 / 9007199254740992.0);
}

uint32_t suri_rng_u32(suri_rng *r) {
  uint32_t b[4];
  suri_rng_block(r, r->counter++, b);
  return b[0];
}

double suri_rng_uniform(suri_rng *r) {
  uint32_t b[4];
  suri_rng_block(r, r->counter++, b);
  return u01(b[0], b[1]);
}

double suri_rng_uniform_at(const suri_rng *r, uint64_t index) {
  uint32_t b[4];
  suri_rng_block(r, index, b);
  return u01(b[0], b[1]);
}

static void box_muller(const uint32_t b[4], double *z0, double *z1) {
  double u1 = u01(b[0], b[1]), u2 = u01(b[2], b[3]);
  double rad = sqrt(-2.0 * log(u1));
  double ang = 6.283185307179586476925286766559 * u2;
  *z0 = rad * cos(ang);
  *z1 = rad * sin(ang);
}

double suri_rng_normal(suri_rng *r) {
  uint32_t b[4];
  double z0, z1;
  suri_rng_block(r, r->counter++, b);
  box_muller(b, &z0, &z1);
  return z0;
}

void suri_rng_fill_normal(suri_rng *r, size_t n, suri_real *x, double mean, double std) {
  for (size_t i = 0; i < n; i += 2) {
    uint32_t b[4];
    double z0, z1;
    suri_rng_block(r, r->counter++, b);
    box_muller(b, &z0, &z1);
    x[i] = (suri_real)(mean + std * z0);
    if (i + 1 < n) x[i + 1] = (suri_real)(mean + std * z1);
  }
}

uint64_t suri_rng_below(suri_rng *r, uint64_t n) {
  /* Rejection on 64-bit draws: unbiased for any n. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    uint32_t b[4];
    suri_rng_block(r, r->counter++, b);
    uint64_t v = ((uint64_t)b[0] << 32) | b[1];
    if (v < limit) return v % n;
  }
}

void suri_rng_permutation(suri_rng *r, size_t n, int64_t *idx) {
  for (size_t i = 0; i < n; i++) idx[i] = (int64_t)i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)suri_rng_below(r, i);
    int64_t t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
}
