/* Per-thread state of libtrace: the dispatch depth (re-entrancy guard and quiescence), the
 * thread's scoped default, its diagnostic number and name, and per-instance thread-local slots
 * ("locals") that registries, filters and formatters keep their per-thread data in.
 *
 * Quiescence (trace__synchronize): a writer that unpublishes a structure (a subscriber at
 * shutdown, a filter at reload) must wait until no thread still uses it. Readers mark the time
 * they spend inside libtrace with depth > 0 at no cost beyond two thread-local stores; the
 * writer issues membarrier() (an asymmetric fence: the readers pay nothing) and waits for every
 * thread that was inside to leave. */
#ifndef TRACE_COMMON_THREAD_H
#define TRACE_COMMON_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

struct trace_dispatch;

/* FENCED: live, on a system without membarrier (old kernel, seccomp): its enters take the slow
 * path, which adds the full fence the synchronizer cannot issue for it. The fast path checks one
 * byte for both. */
enum {
  TRACE__THREAD_NEW = 0,
  TRACE__THREAD_LIVE = 1,
  TRACE__THREAD_DEAD = 2,
  TRACE__THREAD_FENCED = 3
};
#define TRACE__LOCALS_MAX 64

typedef struct trace__thread {
  /* depth: > 0 while inside a dispatch on this thread; seq: bumped when depth returns to 0. One
   * word (atomic, read whole by synchronize): leaving is a single store. Only the thread itself
   * writes it. */
  union {
    uint64_t quiesce;
    struct {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      uint32_t depth, seq;
#else
      uint32_t seq, depth;
#endif
    };
  };
  uint8_t state; /* TRACE__THREAD_* */
  uint8_t setup;  /* registering: a signal handler's call on this thread is refused then */
  uint8_t has_scoped;
  uint32_t scoped_depth;
  struct trace_dispatch *scoped; /* valid when has_scoped */
  void **locals;                 /* TRACE__LOCALS_MAX slots, allocated on first use */
  int event_errno;               /* errno when the event being dispatched was emitted (%m) */
  int *errno_at;                 /* &errno: fixed for the thread's life, so taken once when it
                                    registers (glibc's errno is a call into libc, and saving it
                                    around every call was a tenth of a span's lifecycle) */
  uint32_t number;               /* 0 until asked */
  uint8_t named;
  char name[32];
  struct trace__thread *next, *prev;
} trace__thread;

extern __thread trace__thread trace__tls __attribute__((tls_model("initial-exec")));

/* Makes t live (LIVE or FENCED); false when it cannot be (the thread is exiting, or this is a
 * signal handler's call during its registration). True at once for a live thread. */
bool trace__thread_register(trace__thread *t);
static inline bool trace__thread_live(const trace__thread *t) {
  return t->state == TRACE__THREAD_LIVE || t->state == TRACE__THREAD_FENCED;
}

/* trace__thread_enter for a thread that is not LIVE: registers it, or fences. */
trace__thread *trace__thread_enter_slow(trace__thread *t);

/* Returns this thread's state with depth raised, or NULL when the thread cannot dispatch (it
 * is exiting or its state could not be set up). */
static TRACE__INLINE trace__thread *trace__thread_enter(void) {
  trace__thread *t = &trace__tls;
  if (TRACE__UNLIKELY(t->state != TRACE__THREAD_LIVE))
    return trace__thread_enter_slow(t);
  __atomic_store_n(&t->quiesce, t->quiesce + 1, __ATOMIC_RELAXED);
  __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the synchronizer's membarrier orders the rest */
  return t;
}

/* errno of a thread trace__thread_enter returned: every public call keeps it unchanged. */
static TRACE__INLINE int trace__errno_get(const trace__thread *t) { return *t->errno_at; }
static TRACE__INLINE void trace__errno_set(const trace__thread *t, int e) { *t->errno_at = e; }

/* Events and new spans refused because their thread was already inside libtrace (see
 * trace_dropped_events in trace.h); atomic. */
extern uint64_t trace__dropped;
static inline void trace__count_dropped(void) {
  __atomic_add_fetch(&trace__dropped, 1, __ATOMIC_RELAXED);
}

/* Like trace__thread_enter, but NULL also when already inside a dispatch on this thread: what
 * new events and spans use, so that a subscriber that logs sees the no-op dispatcher, and a
 * signal handler that interrupted libtrace on this thread takes no lock libtrace holds there
 * and touches no state half updated. Counted. */
static TRACE__INLINE trace__thread *trace__thread_enter_guarded(void) {
  trace__thread *t = &trace__tls;
  if (TRACE__UNLIKELY(t->depth != 0)) {
    trace__count_dropped();
    return 0;
  }
  return trace__thread_enter();
}

/* Work that cannot be done inside a callback (an interest rebuild asked for there), run as soon as
 * a thread leaves libtrace: the module that owns the work sets trace__leave_work once, then
 * raises trace__leave_pending (atomic) whenever there is some. common/ only runs it: the
 * dependency points down (core -> common), never up. */
extern uint8_t trace__leave_pending;
extern void (*trace__leave_work)(void);

/* Leaves without running deferred work: for callers that may hold the dispatch lock (a
 * subscriber destroyed by trace_shutdown); the next ordinary leave does it. */
/* Release: a synchronizer that sees the new word sees our reads of what it unpublished done. */
static TRACE__INLINE bool trace__thread_leave_quiet(trace__thread *t) {
  uint64_t q = t->quiesce - 1;
  bool out = (uint32_t)q == 0;
  if (out)
    q += (uint64_t)1 << 32; /* seq */
  __atomic_store_n(&t->quiesce, q, __ATOMIC_RELEASE);
  return out;
}

static TRACE__INLINE void trace__thread_leave(trace__thread *t) {
  /* Acquire (a plain load on x86): trace__leave_work was set before the flag was raised. */
  if (trace__thread_leave_quiet(t) && TRACE__UNLIKELY(TRACE__LOAD_ACQ(&trace__leave_pending)))
    trace__leave_work();
}

/* Waits until every thread that might still use something unpublished before this call has
 * left libtrace. Must not be called from inside a dispatch (returns false then, and the caller
 * must keep the old structure alive). */
bool trace__synchronize(void);

/* Per-instance thread-local slots. */
int trace__local_key_create(void (*dtor)(void *value));
/* The same, for a key whose values trace__local_make(key, size, prepare, arg) makes: given the
 * recipe, trace_thread_prepare makes this thread's value ahead of time, so that a signal
 * handler's event never allocates it. */
int trace__local_key_create_made(void (*dtor)(void *value), size_t size,
                                 void (*prepare)(void *value, void *arg), void *arg);
void trace__local_key_delete(int key); /* runs dtor on every thread's value */
static inline void *trace__local_get(int key) {
  void **l = trace__tls.locals;
  return l ? l[key] : 0;
}
bool trace__local_set(int key, void *value);

/* This thread's value for key, made on first use: size zeroed bytes of their own cache lines
 * (trace__alloc_lines), prepared by prepare(value, arg) when it is not NULL, then stored; the
 * key's destructor frees them at thread exit. NULL when they cannot be made or stored (out of
 * memory, an exiting thread): nothing is kept then (the destructor ran on what was made). The
 * one way registries, filters and layers get their per-thread state. */
void *trace__local_make(int key, size_t size, void (*prepare)(void *value, void *arg), void *arg);
static TRACE__INLINE void *trace__local_lazy(int key, size_t size,
                                             void (*prepare)(void *value, void *arg), void *arg) {
  void *v = trace__local_get(key);
  return TRACE__LIKELY(v != NULL) ? v : trace__local_make(key, size, prepare, arg);
}

#endif
