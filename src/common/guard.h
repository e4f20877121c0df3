/* The two things every public entry point of libtrace does, written once: keep the caller's
 * errno, and mark the thread as inside libtrace (thread.h: the re-entrancy guard and the
 * quiescence that lets a writer free what it unpublished).
 *
 *   TRACE__KEEP_ERRNO();            errno is restored however the function returns (cold paths)
 *
 *   trace__guard g = trace__guard_enter(TRACE__GUARD_NESTED);
 *   if (!g.t) return;               the thread cannot dispatch (exiting, no state)
 *   ...
 *   trace__guard_leave(&g);         leaves, then restores errno
 *
 * The guard reads and restores errno through the thread's saved &errno (thread.h): glibc's errno
 * is a call into libc, and the span path is short enough for two calls to show. */
#ifndef TRACE_COMMON_GUARD_H
#define TRACE_COMMON_GUARD_H

#include <errno.h>

#include "compiler.h"
#include "thread.h"

static inline void trace__errno_restore(const int *saved) { errno = *saved; }
#define TRACE__KEEP_ERRNO()                                                                        \
  int trace__kept_errno __attribute__((cleanup(trace__errno_restore), unused)) = errno

enum {
  TRACE__GUARD_NESTED = 0, /* allowed inside a subscriber callback (span operations) */
  TRACE__GUARD_OUTER = 1   /* refused there (new events and spans: the no-op dispatcher) */
};

typedef struct trace__guard {
  trace__thread *t; /* NULL: not entered */
  int saved_errno;
} trace__guard;

static TRACE__INLINE trace__guard trace__guard_enter(int kind) {
  trace__guard g;
  g.t = kind == TRACE__GUARD_OUTER ? trace__thread_enter_guarded() : trace__thread_enter();
  g.saved_errno = g.t ? trace__errno_get(g.t) : 0;
  return g;
}

static TRACE__INLINE void trace__guard_leave(trace__guard *g) {
  trace__thread_leave(g->t);
  trace__errno_set(g->t, g->saved_errno);
}

#endif
