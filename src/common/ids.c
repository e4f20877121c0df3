#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"

/* xorshift64* per thread: the state walks every non-zero 64-bit value once per 2^64 - 1 steps
 * and the output is the state times an odd constant (a bijection), so one thread never repeats
 * an id, and never returns zero; threads start at independent random states, so two threads (or
 * two processes) collide only by chance, as random 64-bit ids do. Four cheap instructions and a
 * multiply per id: span ids are drawn for every exported span. */
typedef struct id_state {
  uint64_t x;     /* never 0 once seeded */
  uint64_t epoch; /* fork_count + 1 when this thread last seeded; 0: never (one compare tells
                     both apart from a thread to seed) */
} id_state;

static __thread id_state ids __attribute__((tls_model("initial-exec")));
static uint32_t fork_count; /* atomic: bumped in every child of fork() */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void child_after_fork(void) { __atomic_add_fetch(&fork_count, 1, __ATOMIC_RELAXED); }
static void register_atfork(void) { pthread_atfork(NULL, NULL, child_after_fork); }

static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static TRACE__NOINLINE void seed(id_state *s) {
  int saved = errno;
  /* Registered before the first id of any thread: a fork after it is always noticed. */
  pthread_once(&atfork_once, register_atfork);
  uint64_t r[2] = {0, 0};
  ssize_t got = getrandom(r, sizeof r, GRND_NONBLOCK);
  if (got != (ssize_t)sizeof r) {
    /* No entropy yet (very early boot) or no getrandom: what differs between threads and
     * processes is mixed instead. Uniqueness within the thread does not depend on it. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r[0] ^= mix((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32);
    r[1] ^= mix((uint64_t)syscall(SYS_gettid) << 32 ^ (uint64_t)getpid() ^ (uintptr_t)s);
  }
  s->x = mix(r[0] ^ mix(r[1]));
  if (s->x == 0)
    s->x = 0x9e3779b97f4a7c15ull;
  s->epoch = (uint64_t)__atomic_load_n(&fork_count, __ATOMIC_RELAXED) + 1;
  errno = saved;
}

/* Whether this thread's generator may be used as it is: seeded, and not since a fork. */
static TRACE__INLINE bool ready(const id_state *s) {
  return s->epoch == (uint64_t)__atomic_load_n(&fork_count, __ATOMIC_RELAXED) + 1;
}

/* This thread's generator, reseeded when new or after a fork. */
static TRACE__INLINE id_state *state(void) {
  id_state *s = &ids;
  if (TRACE__UNLIKELY(!ready(s)))
    seed(s);
  return s;
}

/* The trace id's multipliers: odd, so x * M is never 0 for x != 0. The halves differ except for
 * the 3 outputs x with x * (ROOT_HI - ROOT_LO) == 0 (the multiples of 2^62): 3 in 2^64. A root
 * span's trace id can be worked out from its span id: ids are unique, not secret (nor were they
 * before: the generator is not a cryptographic one). */
#define ROOT_HI 0x9e3779b97f4a7c15ull
#define ROOT_LO 0xbf58476d1ce4e5b9ull

static TRACE__INLINE uint64_t next(id_state *s) {
  uint64_t x = s->x;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s->x = x;
  return x * 0x2545f4914f6cdd1dull;
}

uint64_t trace__id_next(void) { return next(state()); }

void trace__id_span(uint8_t out[8]) { trace__id_store64(out, next(state())); }

static TRACE__NOINLINE void root_after_seed(uint8_t trace[16], uint8_t span[8]) {
  seed(&ids);
  trace__id_root(trace, span);
}

void trace__id_root(uint8_t trace[16], uint8_t span[8]) {
  id_state *s = &ids;
  /* Seeding out of line, then here again: the common path keeps no register across a call. */
  if (TRACE__UNLIKELY(!ready(s))) {
    root_after_seed(trace, span);
    return;
  }
  /* One step of the state for all three words: the span id is what trace__id_span would have
   * drawn, and the trace id's halves are that times two other odd constants. Each is a
   * bijection of a state this thread never repeats, so neither id repeats on this thread (as
   * with three steps; the ids carry the same 64 bits of state either way), and one step instead
   * of three takes two dependent chains of shifts off every root span. */
  uint64_t x = next(s);
  trace__id_store64(trace, x * ROOT_HI);
  trace__id_store64(trace + 8, x * ROOT_LO);
  trace__id_store64(span, x);
}
