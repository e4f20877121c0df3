/* Writing to a pipe without risking SIGPIPE: the signal is blocked on this thread around the
 * write and, if the write raised it, consumed, so the process is never killed by it and its
 * signal state (mask, pending set, handlers) is left as it was. */
#ifndef TRACE_COMMON_SIGPIPE_H
#define TRACE_COMMON_SIGPIPE_H

#include <signal.h>
#include <stdbool.h>

typedef struct trace__sigpipe_guard {
  sigset_t old;
  bool was_pending; /* the thread had a SIGPIPE of the host's pending already */
} trace__sigpipe_guard;

void trace__sigpipe_block(trace__sigpipe_guard *g);
/* epipe: the write failed with EPIPE (and so raised SIGPIPE). */
void trace__sigpipe_restore(trace__sigpipe_guard *g, bool epipe);
/* For a thread that keeps SIGPIPE blocked itself: takes the one a write just raised. */
void trace__sigpipe_consume(void);

#endif
