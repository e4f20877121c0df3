/* A capture subscriber, for testing instrumentation: it records every span operation and event
 * as one line of text in memory, so a test can assert on exactly what its code emitted.
 *
 *   trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
 *   TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) {
 *     code_under_test();
 *   }
 *   assert(strstr(trace_capture_log(cap), "event INFO app: done items=3\n"));
 *   trace_capture_free(cap);
 *
 * Log lines (ids are 1, 2, ... in creation order; parent "-" means root):
 *   new <id> <name> parent=<id|-> [k=v ...]      record <id> k=v ...
 *   enter <id>    exit <id>    close <id>       follows <id> <cause>
 *   event <LEVEL> <target>: [message][ k=v ...] [in=<id>]
 * Strings are written k="v" (escaped like fmt's output), everything else bare. */
#ifndef TRACE_TESTING_H
#define TRACE_TESTING_H

#include "subscriber.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trace_capture trace_capture;

/* A capture that wants every callsite up to max_level. NULL on out of memory. */
TRACE_API trace_capture *trace_capture_new(int max_level);
/* The capture's dispatcher (no new reference: it lives as long as the capture or a span of it). */
TRACE_API trace_dispatch *trace_capture_dispatch(trace_capture *cap);
/* Drops the test's handle. The log stays readable until then, even after the subscriber side
 * was destroyed (by trace_shutdown when it was the global default). */
TRACE_API void trace_capture_free(trace_capture *cap);

/* The log so far, NUL-terminated; valid until the next event or trace_capture_clear. */
TRACE_API const char *trace_capture_log(trace_capture *cap);
TRACE_API void trace_capture_clear(trace_capture *cap);

/* To exercise interest caching: what register_callsite answers for callsites up to max_level
 * (default ALWAYS; more verbose ones are always NEVER), and the max_level_hint (default the
 * max_level; -1: no hint). Take effect at the next trace_rebuild_interest(). */
TRACE_API void trace_capture_set_interest(trace_capture *cap, trace_interest interest);
TRACE_API void trace_capture_set_max_level_hint(trace_capture *cap, int hint);

typedef struct trace_capture_stats {
  uint64_t register_calls; /* register_callsite calls */
  uint64_t enabled_calls;  /* enabled() calls */
  uint64_t events;
  uint64_t spans_new;
  uint64_t spans_closed;
} trace_capture_stats;
TRACE_API trace_capture_stats trace_capture_get_stats(trace_capture *cap);

/* Test hook: from now on, the allocations of libtrace succeed n more times, then fail; -1
 * (the default) never fails. For out-of-memory tests. */
TRACE_API void trace_testing_fail_allocations_after(long n);

/* Test hook: hook (NULL: none) runs on a thread while it registers with libtrace (its first
 * call), with libtrace's thread list locked; for tests of signal handlers that interrupt that
 * moment (see trace_thread_prepare). */
TRACE_API void trace_testing_on_thread_setup(void (*hook)(void));

#ifdef __cplusplus
}
#endif

#endif
