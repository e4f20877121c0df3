/* Trace and span ids: a per-thread generator, seeded from getrandom(), that never returns zero
 * and never repeats the parent's ids in a child after fork() (each thread reseeds when it sees
 * that a fork happened). One id costs a thread-local add and a mix, no system call and no
 * shared memory. Used by the registry (trace contexts) and by anything else that mints ids. */
#ifndef TRACE_COMMON_IDS_H
#define TRACE_COMMON_IDS_H

#include <stdint.h>

/* A random non-zero 64-bit value (a span id). */
uint64_t trace__id_next(void);
/* A random non-zero span id, big-endian bytes. */
void trace__id_span(uint8_t out[8]);
/* Both ids of a new root span, big-endian bytes, in one call (every exported root span draws
 * both): a trace id, neither half zero, and a span id as trace__id_span's, all three words made
 * from one 64-bit random state (as three draws were before: the generator's state is 64 bits). */
void trace__id_root(uint8_t trace[16], uint8_t span[8]);

/* Stores v in 8 bytes, most significant first (the order of an id's hex form). */
static inline void trace__id_store64(uint8_t *out, uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  __builtin_memcpy(out, &v, 8);
}

static inline uint64_t trace__id_load64(const uint8_t *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | in[i];
  return v;
}

#endif
