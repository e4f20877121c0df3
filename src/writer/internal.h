/* What the writers share: the common part of every writer, the operations a kind implements,
 * a lock that survives fork(), the fork epoch, the coarse clock and failure reporting. */
#ifndef TRACE_WRITER_INTERNAL_H
#define TRACE_WRITER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "../common/compiler.h"
#include "../text/buf.h"
#include "trace/writer.h"

typedef struct writer_ops {
  /* One whole unit ending with '\n' (a line; for structured writers an encoded message).
   * Returns 0 or an errno value; the caller counts the failure. */
  int (*put)(trace_writer *w, const char *data, size_t len);
  /* Several whole lines in order, for the non-blocking writer's batches. NULL: put each. Returns
   * the number of units that failed (each already counted with count_failure). */
  size_t (*put_batch)(trace_writer *w, const struct iovec *iov, const uint32_t *units, size_t n);
  /* Structured writers: the record as one unit into b (growable or fixed: a truncated b is
   * retried bigger). NULL: a line writer. Returns 0 or an errno value. */
  int (*encode)(trace_writer *w, const trace_record *rec, trace__buf *b);
  void (*flush)(trace_writer *w);
  /* Non-blocking writers: lines still waiting after timeout_ms. NULL: 0 (flush). */
  size_t (*flush_timeout)(trace_writer *w, uint32_t timeout_ms);
  int (*reopen)(trace_writer *w); /* NULL: nothing to do */
  void (*stats)(const trace_writer *w, trace_writer_stats *s); /* adds what an inner one has */
  void (*destroy)(trace_writer *w); /* frees w */
} writer_ops;

struct trace_writer {
  const writer_ops *ops;
  uint64_t lost;       /* atomic */
  uint64_t dropped;    /* atomic */
  int last_error;      /* atomic */
  uint8_t reported;    /* atomic: the first failure was reported */
  bool terminal;
  bool quiet_reports;  /* stderr itself: nowhere to report to */
  char label[112];     /* what the report calls it: "fd 7", a path, "syslog at ..." */
};

/* Common initialisation of the part every kind embeds first. */
void trace__writer_init(trace_writer *w, const writer_ops *ops, const char *label);
/* Counts one lost line (err: its errno) and reports the writer's first failure on stderr. */
void trace__writer_failed(trace_writer *w, int err);
/* The same for a line that was cut short and closed with a newline. */
void trace__writer_cut(trace_writer *w, int err);
/* "trace: <what><detail, escaped>: <strerror(err)><tail>" on stderr, in one line, safe from
 * SIGPIPE. */
void trace__writer_warn(const char *what, const char *detail, int err, const char *tail);

/* fmt's door: a whole line ending with '\n', without the public entry's checks. */
int trace__writer_put_line(trace_writer *w, const char *line, size_t len);

/* ---------------------------------------------------------------------------------------- */
/* The fork epoch, bumped in the child of every fork() (a handler registered once, when the
 * first writer is made). */
extern uint32_t trace__writer_epoch;
void trace__writer_fork_init(void);
/* trace_writer_request_reopen's counter. */
extern uint32_t trace__writer_reopen_gen;

/* A sleeping lock that survives fork(): the word holds the holder's fork epoch, so the child
 * takes over a lock that a thread of the parent held (that thread does not exist there). Held
 * across blocking writes, so a waiter sleeps (futex) instead of spinning. Zero is unlocked. */
typedef struct trace__wlock {
  uint32_t word;
} trace__wlock;
void trace__wlock_lock(trace__wlock *l);
void trace__wlock_unlock(trace__wlock *l);

/* futex wait (bounded by timeout_ns, 0: none) and wake, for the non-blocking writer. */
void trace__futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns);
void trace__futex_wake(uint32_t *word, int n);

/* CLOCK_MONOTONIC_COARSE in ns: a few ns through the vDSO, advances every tick (1-4 ms). */
static inline uint64_t trace__coarse_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline uint64_t trace__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------- */
/* Descriptors (fd.c), shared by the fd, rolling and syslog writers. */

enum { FD_QUIET = 0, FD_PIPE = 1, FD_STREAM = 2, FD_DGRAM = 3 };
/* What the descriptor is: QUIET for files, terminals and other devices (one write is atomic,
 * SIGPIPE impossible), PIPE (FIFOs), STREAM or DGRAM sockets. */
int trace__fd_kind(int fd);

/* Writes a whole unit to fd, which is of kind: retries short writes and EINTR, waits for a full
 * non-blocking descriptor up to about a second (a unit over PIPE_BUF is only started on a pipe
 * when it fits), never lets SIGPIPE through, and closes with a newline a line it had to cut
 * (*dangling set when even that could not be written: the next unit starts with it). Returns 0 or
 * an errno value; *cut tells whether part of the unit was written. For units of one writer that
 * the kernel may split, the caller holds its lock. */
int trace__fd_write_unit(int fd, int kind, const char *p, size_t n, uint8_t *dangling, bool *cut);
/* The same for several units in one writev where possible. Returns the number of units lost,
 * each counted on w. */
size_t trace__fd_write_units(trace_writer *w, int fd, int kind, const struct iovec *iov,
                             const uint32_t *units, size_t n, uint8_t *dangling);

/* Whether this thread keeps SIGPIPE blocked for good (the non-blocking writer's thread): then a
 * write to a pipe needs no guard, only a SIGPIPE it raised consumed. */
extern __thread bool trace__sigpipe_blocked_here;

/* The rolling writer's clock (CLOCK_REALTIME_COARSE seconds); tests of internals replace it to
 * cross period boundaries without waiting for them. */
extern int64_t (*trace__rolling_clock)(void);

/* Creates the directories of path up to its last '/', mode 0755. 0 or an errno value. */
int trace__mkdirs(const char *dir);

/* ---------------------------------------------------------------------------------------- */
/* Records (record.c), for the structured writers. */

/* The record's message: the explicit one, the event's formatted message, or the value of a field
 * called "message" when the event has no format. Raw bytes (not escaped) into b. */
void trace__record_message(const trace_record *rec, trace__buf *b);
/* The record's message escaped as the fmt layer's text into b, read through scratch (cap bytes):
 * a longer message is cut and marked "...[truncated]". Returns its raw length (0: none). */
size_t trace__record_put_message(const trace_record *rec, trace__buf *b, char *scratch,
                                 size_t cap);
/* Visits the event's fields (the one serving as the message skipped) with their text form.
 * quoted: whether the value is a string (shown quoted in text). */
typedef void (*trace__record_field_fn)(void *arg, const char *name, const char *text, size_t len,
                                       bool quoted);
void trace__record_fields(const trace_record *rec, trace__record_field_fn fn, void *arg);
/* Visits the record's spans, root first: depth, metadata and each field. */
typedef struct trace__record_span_fns {
  void (*span)(void *arg, uint32_t depth, const trace_metadata *meta);
  trace__record_field_fn field;
} trace__record_span_fns;
void trace__record_spans(const trace_record *rec, const trace__record_span_fns *fns, void *arg);
/* "span{k=v}:span: target: message k=v" (escaped as the fmt layer's text; no newline). */
void trace__record_text(const trace_record *rec, trace__buf *b);
/* The program's name (for app names and identifiers). */
const char *trace__program_name(void);

#endif
