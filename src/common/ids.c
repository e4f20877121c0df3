#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"

/* SplitMix64 over a per-thread counter: the mix is a bijection, so one thread never repeats an
 * id before 2^64 of them; threads start at independent random points, so two threads (or two
 * processes) collide only by chance, as random 64-bit ids do. */
typedef struct id_state {
  uint64_t counter;
  uint64_t step;   /* odd: every counter value is visited once per 2^64 steps */
  uint32_t forks;  /* the value of fork_count when this thread last seeded */
  uint8_t seeded;
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
  s->counter = r[0];
  s->step = (r[1] | 1) * 0x9e3779b97f4a7c15ull | 1;
  s->forks = __atomic_load_n(&fork_count, __ATOMIC_RELAXED);
  s->seeded = 1;
  errno = saved;
}

uint64_t trace__id_next(void) {
  id_state *s = &ids;
  if (TRACE__UNLIKELY(!s->seeded || s->forks != __atomic_load_n(&fork_count, __ATOMIC_RELAXED)))
    seed(s);
  for (;;) {
    s->counter += s->step;
    uint64_t v = mix(s->counter);
    if (TRACE__LIKELY(v != 0))
      return v;
  }
}

void trace__id_trace(uint8_t out[16]) {
  trace__id_store64(out, trace__id_next());
  trace__id_store64(out + 8, trace__id_next());
}

void trace__id_span(uint8_t out[8]) { trace__id_store64(out, trace__id_next()); }
