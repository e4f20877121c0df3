/* Spin locks for short critical sections on data that has no mutex of its own (a span's values,
 * a span's formatted fields), safe across fork(). The lock word holds its holder's fork epoch
 * plus one; the child of a fork() has a new epoch, so a lock that a thread of the parent held at
 * that moment (a thread the child does not have) is taken over instead of waited for forever.
 * What it guarded may then be half updated: the structures behind these locks stay memory-safe
 * in that state, their content at worst stale. In the parent the epoch never changes, so a lock
 * is never taken from a live holder. */
#ifndef TRACE_COMMON_SPIN_H
#define TRACE_COMMON_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

extern uint32_t trace__fork_epoch; /* thread.c: bumped in the child after fork() */

#if defined(__x86_64__) || defined(__i386__)
#define TRACE__SPIN_PAUSE() __builtin_ia32_pause()
#else
#define TRACE__SPIN_PAUSE() __asm__ __volatile__("" ::: "memory")
#endif

static inline uint32_t trace__spin_owner(void) { return TRACE__LOAD(&trace__fork_epoch) + 1; }

/* Held by a thread of an earlier epoch: by no thread of this process. */
static inline bool trace__spin_orphaned(const uint32_t *word) {
  uint32_t w = TRACE__LOAD(word);
  return w != 0 && w != trace__spin_owner();
}

static inline void trace__spin_lock(uint32_t *word) {
  uint32_t me = trace__spin_owner();
  for (;;) {
    uint32_t w = TRACE__LOAD(word);
    if (w != me &&
        __atomic_compare_exchange_n(word, &w, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
      return;
    TRACE__SPIN_PAUSE();
  }
}

static inline void trace__spin_unlock(uint32_t *word) {
  __atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

#endif
