/* The writers' synchronisation: the fork epoch, a sleeping lock that a forked child can take
 * over, and futex waits. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/spin.h"
#include "internal.h"
#include "../common/guard.h"

uint32_t trace__writer_epoch;
uint32_t trace__writer_reopen_gen;

static void child_after_fork(void) {
  __atomic_store_n(&trace__writer_epoch, trace__writer_epoch + 1, __ATOMIC_RELAXED);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork_handler(void) { pthread_atfork(NULL, NULL, child_after_fork); }

void trace__writer_fork_init(void) { pthread_once(&fork_once, register_fork_handler); }

void trace__futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns) {
  struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
  TRACE__KEEP_ERRNO();
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout_ns ? &ts : NULL, NULL, 0);
}

void trace__futex_wake(uint32_t *word, int n) {
  TRACE__KEEP_ERRNO();
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* The word: 0 is free; otherwise bit 0 says held, bit 1 that someone may sleep on it, and the
 * bits above hold the fork epoch the holder lived in. */
#define WL_HELD 1u
#define WL_WAITERS 2u

static uint32_t held_word(void) {
  return (__atomic_load_n(&trace__writer_epoch, __ATOMIC_RELAXED) << 2) | WL_HELD;
}

void trace__wlock_lock(trace__wlock *l) {
  uint32_t me = held_word();
  uint32_t w = 0;
  if (TRACE__LIKELY(__atomic_compare_exchange_n(&l->word, &w, me, false, __ATOMIC_ACQUIRE,
                                                __ATOMIC_RELAXED)))
    return;
  for (int spin = 0;; spin++) {
    w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
    if (w == 0 || (w >> 2) != (me >> 2)) {
      /* Free, or held in an earlier epoch: by a thread of the parent that this child lacks. */
      if (__atomic_compare_exchange_n(&l->word, &w, me, false, __ATOMIC_ACQUIRE,
                                      __ATOMIC_RELAXED))
        return;
      continue;
    }
    if (spin < 64) {
      TRACE__SPIN_PAUSE();
      continue;
    }
    /* Announce a sleeper, then sleep while the word says held-with-sleepers. Whoever unlocks
     * with the bit set wakes one; a woken thread takes the lock with the bit set, in case others
     * still sleep (a spurious wake-up at worst). */
    if (!(w & WL_WAITERS) &&
        !__atomic_compare_exchange_n(&l->word, &w, w | WL_WAITERS, false, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
      continue;
    trace__futex_wait(&l->word, w | WL_WAITERS, 0);
    me |= WL_WAITERS;
  }
}

void trace__wlock_unlock(trace__wlock *l) {
  uint32_t w = __atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE);
  if (w & WL_WAITERS)
    trace__futex_wake(&l->word, 1);
}
