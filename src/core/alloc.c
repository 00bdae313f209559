/* alloc.c - 64-byte-aligned allocation with overflow checks, and the scratch arena
 * (one block, bump allocation, mark/rewind) used for per-call temporaries. */
#include <stdlib.h>
#include <string.h>

#include "suri/core.h"

int suri_mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return -1;
  *out = a * b;
  return 0;
}

void *suri_alloc(size_t n) {
  size_t rounded = (n + SURI_ALIGN - 1) / SURI_ALIGN * SURI_ALIGN;
  if (rounded < n) {
    suri_fail(SURI_ERR_NOMEM, "allocation of %zu bytes overflows", n);
    return NULL;
  }
  if (rounded == 0) rounded = SURI_ALIGN;
  void *p = aligned_alloc(SURI_ALIGN, rounded);
  if (!p) suri_fail(SURI_ERR_NOMEM, "cannot allocate %zu bytes", n);
  return p;
}

void *suri_calloc(size_t count, size_t size) {
  size_t n;
  if (suri_mul_size(count, size, &n)) {
    suri_fail(SURI_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
    return NULL;
  }
  void *p = suri_alloc(n);
  if (p) memset(p, 0, n);
  return p;
}

void suri_free(void *p) { free(p); }

struct suri_arena {
  unsigned char *base;
  size_t cap, used;
};

suri_arena *suri_arena_new(size_t bytes) {
  suri_arena *a = malloc(sizeof *a);
  if (!a) {
    suri_fail(SURI_ERR_NOMEM, "cannot allocate arena");
    return NULL;
  }
  a->base = suri_alloc(bytes);
  if (!a->base) {
    free(a);
    return NULL;
  }
  a->cap = bytes;
  a->used = 0;
  return a;
}

void suri_arena_free(suri_arena *a) {
  if (!a) return;
  suri_free(a->base);
  free(a);
}

void *suri_arena_take(suri_arena *a, size_t bytes) {
  size_t start = (a->used + SURI_ALIGN - 1) / SURI_ALIGN * SURI_ALIGN;
  if (start > a->cap || bytes > a->cap - start) {
    suri_fail(SURI_ERR_NOMEM, "scratch arena exhausted: need %zu bytes, %zu of %zu free", bytes,
              a->cap > start ? a->cap - start : 0, a->cap);
    return NULL;
  }
  a->used = start + bytes;
  return a->base + start;
}

size_t suri_arena_mark(const suri_arena *a) { return a->used; }
void suri_arena_rewind(suri_arena *a, size_t mark) {
  if (mark <= a->used) a->used = mark;
}
size_t suri_arena_used(const suri_arena *a) { return a->used; }
size_t suri_arena_capacity(const suri_arena *a) { return a->cap; }
