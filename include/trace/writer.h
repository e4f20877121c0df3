/* Writers: where formatted lines (and, for syslog and journald, structured records) go.
 *
 * Kinds: a file descriptor (stderr, stdout, any fd, a file opened by path), a stdio stream, a
 * callback, a rolling file (rotated by time and size), syslog (RFC 5424 or RFC 3164, over
 * /dev/log, a unix socket, UDP or TCP), journald (its native protocol), and the non-blocking
 * writer, which wraps any of them: the caller copies the line into a bounded queue and a
 * background thread writes batches. docs/writers.md shows each one and the environment variable
 * TRACE_WRITER that picks one for trace_init().
 *
 * Lines. A writer receives whole lines (each ends with '\n'). A descriptor writer writes each line
 * with one write(2) when the descriptor takes it whole (files, terminals, /dev/null always do: one
 * system call per line, no lock). Lines are never torn or interleaved by the threads of the
 * process, whatever their length and whatever the descriptor: on pipes and stream sockets, where
 * the kernel may split a long write and let another write in between, the writes of one writer are
 * serialised. Between processes writing to one pipe, only lines up to PIPE_BUF (4096 bytes) are
 * kept whole by the kernel. A line is written whole or not at all as far as the descriptor allows:
 * a line the descriptor stopped taking half-way (a non-blocking descriptor full for a second,
 * a disk that filled up) is finished with a newline (at once or before the next line) and counted
 * as lost, so the next line always starts on a line of its own.
 *
 * Errors. A failed line is counted (trace_writer_get_stats), the first failure of a writer that
 * is not stderr is reported once on stderr, and the program goes on. SIGPIPE never kills the
 * process for a write of libtrace: sockets are written with MSG_NOSIGNAL, pipes with SIGPIPE
 * blocked on the writing thread for the write (and a SIGPIPE it raised consumed), whatever the
 * disposition of SIGPIPE was when the writer was made or is now; the non-blocking writer's thread
 * keeps SIGPIPE blocked for good. One exception, for the descriptor writers only: a descriptor
 * that was a file, a terminal or /dev/null when the writer last looked (it looks again at most
 * every 10 ms of writing, and at trace_writer_reopen) and has since been replaced (dup2) by a pipe
 * or socket whose reader is already gone, written to within those 10 ms, raises SIGPIPE once.
 * Call trace_writer_reopen(w) right after such a dup2, ignore SIGPIPE, or use the non-blocking
 * writer, and the exception cannot happen. docs/writers.md ("SIGPIPE") has the reasoning.
 *
 * Threads and fork: every writer may be used from many threads at once. After fork(), the child
 * can go on writing with the same writers (their locks are taken over, the non-blocking writer
 * starts its own thread and never writes the lines the parent had queued). errno is kept by every
 * call here. */
#ifndef TRACE_WRITER_H
#define TRACE_WRITER_H

#include <stdio.h>

#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trace_writer trace_writer;

/* ---------------------------------------------------------------------------------------- */
/* Plain writers: the calling thread writes each line. */

/* Standard error (the default for fmt: C diagnostics go to stderr) and standard output, by file
 * descriptor 2 and 1, followed if the program replaces them (dup2). Not closed when freed. NULL
 * on out of memory. */
TRACE_API trace_writer *trace_writer_stderr(void);
TRACE_API trace_writer *trace_writer_stdout(void);
/* A file descriptor; closed when the writer is freed if close_on_free. NULL on out of memory. */
TRACE_API trace_writer *trace_writer_fd(int fd, bool close_on_free);
/* A stdio stream, written with fwrite + fflush under the stream's lock (works for streams without
 * a descriptor, like open_memstream). Not closed when freed. NULL for NULL or out of memory. */
TRACE_API trace_writer *trace_writer_file(FILE *file);
/* A file opened for appending (O_APPEND | O_CLOEXEC, created with mode 0644 if missing). The file
 * is opened again by trace_writer_reopen, after trace_writer_request_reopen, and by itself when the
 * writer sees (at most once a second) that the path no longer names the file it writes to: moved
 * or deleted, as logrotate does. Returns 0 and the writer in *out, or TRACE_EIO with errno set
 * (and *out NULL) if it cannot be opened, TRACE_EINVAL for NULL arguments, TRACE_ENOMEM. */
TRACE_API int trace_writer_open(const char *path, trace_writer **out);

/* A user callback receiving each line (len bytes, ending with '\n', not NUL-terminated). write
 * returns 0 or a negative value for a failed line (counted). Called from any thread, possibly
 * concurrently. flush and destroy may be NULL; destroy(arg) runs when the writer is freed. NULL
 * for a NULL write or out of memory (destroy(arg) has run then). */
typedef int (*trace_write_fn)(void *arg, const char *line, size_t len);
TRACE_API trace_writer *trace_writer_callback(trace_write_fn write, void (*flush)(void *arg),
                                              void (*destroy)(void *arg), void *arg);

/* ---------------------------------------------------------------------------------------- */
/* The non-blocking writer: the caller copies the line into a bounded lock-free queue and
 * returns; a background thread writes the lines in batches (writev) to the inner writer.
 *
 * - Order: the lines of one thread are written in the order they were queued; lines are kept
 *   whole. Structured writers (syslog, journald) keep working through it: the record is encoded
 *   by the caller, the message sent by the thread.
 * - A full queue: LOSSY (the default) drops the line and counts it; BLOCKING makes the caller wait
 *   for room, at most block_timeout_ms, and then drops and counts it. The next batch written is
 *   preceded by one line saying how many lines were dropped (in JSON if the lines are JSON).
 * - Nothing queued is lost at a normal exit: trace_writer_free (and so trace_shutdown) writes
 *   what is queued, and so does exit() from any thread and returning from main (an atexit
 *   handler, registered once, writes every live non-blocking writer's queue, waiting at most
 *   exit_timeout_ms; lines queued after it ran are written by the caller directly). _exit(), a
 *   crash or a kill loses what is queued.
 * - fork(): the child's writer starts empty with a thread of its own; the parent's queued lines
 *   are written by the parent only.
 * - The thread blocks every signal, so it never runs the program's handlers nor takes its
 *   process-directed signals, and SIGPIPE cannot touch it.
 * - The caller never makes a system call, except to wake the thread after it has been idle for
 *   about 10 ms, and under the BLOCKING policy when the queue is full. */
enum { TRACE_NONBLOCKING_LOSSY = 0, TRACE_NONBLOCKING_BLOCKING = 1 };
typedef struct trace_nonblocking_options {
  uint32_t struct_size;      /* sizeof(trace_nonblocking_options), set by ..._options_init */
  int policy;                /* TRACE_NONBLOCKING_LOSSY (default) or _BLOCKING */
  size_t queue_bytes;        /* queue size; default 8 MiB, at least 2 MiB (a 1 MiB line fits) */
  uint32_t block_timeout_ms; /* BLOCKING: the longest wait for room; default 100 */
  uint32_t exit_timeout_ms;  /* the longest wait at free and at exit; default 5000 */
} trace_nonblocking_options;
TRACE_API void trace_nonblocking_options_init(trace_nonblocking_options *o);
/* Wraps inner, which the returned writer owns from now on (also on failure: then inner is freed).
 * o NULL: the defaults. NULL on out of memory, when the thread cannot be started, for a NULL
 * inner, or for options with a struct_size that is not ours or an unknown policy. */
TRACE_API trace_writer *trace_writer_nonblocking(trace_writer *inner,
                                                 const trace_nonblocking_options *o);

/* ---------------------------------------------------------------------------------------- */
/* The rolling file writer: a file per period and/or per size, named like tracing-appender's:
 * prefix.2026-12-05.suffix (daily), prefix.2026-12-05-14.suffix (hourly), prefix.2026-12-05-14-30
 * .suffix (minutely), prefix.suffix (never); a file that reaches max_size is followed by
 * prefix.2026-12-05.1.suffix, .2, and so on. An empty prefix or suffix is left out with its dot.
 * After a restart the writer appends to the newest file of the current period.
 *
 * Files are opened O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC with file_mode; the directory is
 * created (with its parents, mode 0755) if missing. When a file is opened, the oldest files of
 * this prefix and suffix beyond max_files are deleted. No line is split across two files: each
 * line goes whole to one file, and a line written while the next file is being opened goes to the
 * old one or the new one. If the next file cannot be opened, lines keep going to the current one,
 * the failure is reported once and the roll is tried again a second later. The file is opened
 * again (same name) on trace_writer_reopen and trace_writer_request_reopen, and by itself when
 * its name no longer names it (moved or deleted), checked at most once a second. */
enum {
  TRACE_ROLL_NEVER = 0,
  TRACE_ROLL_MINUTELY = 1,
  TRACE_ROLL_HOURLY = 2,
  TRACE_ROLL_DAILY = 3
};
typedef struct trace_rolling_options {
  uint32_t struct_size; /* sizeof(trace_rolling_options), set by ..._options_init */
  const char *directory; /* required */
  const char *prefix;    /* e.g. "app"; NULL or "": none */
  const char *suffix;    /* e.g. "log"; NULL or "": none */
  int rotation;          /* TRACE_ROLL_*; default DAILY */
  bool local_time;       /* periods and names in local time; default false (UTC, as tracing) */
  uint64_t max_size;     /* bytes per file, 0 (default): no limit. A file may exceed it by the
                            lines being written by other threads when it is reached */
  unsigned max_files;    /* files of this prefix/suffix kept; 0 (default): all */
  unsigned file_mode;    /* default 0644 (before the umask) */
} trace_rolling_options;
TRACE_API void trace_rolling_options_init(trace_rolling_options *o);
/* Returns 0 and the writer in *out; TRACE_EINVAL for NULL arguments, a missing directory option,
 * a struct_size that is not ours or an unknown rotation; TRACE_EIO with errno set when the
 * directory or the first file cannot be made; TRACE_ENOMEM. *out is NULL on failure. */
TRACE_API int trace_writer_rolling(const trace_rolling_options *o, trace_writer **out);

/* ---------------------------------------------------------------------------------------- */
/* Structured records: what syslog and journald (and any writer that wants more than a line)
 * receive. The fmt layer passes one for every event when its writer wants records
 * (trace_writer_wants_records); a layer of your own can do the same from its on_event. */
typedef struct trace_record {
  uint32_t struct_size;        /* sizeof(trace_record) */
  const trace_metadata *meta;  /* the event's or span's metadata: level, target, place; required */
  const trace_event *event;    /* the event with its fields, or NULL (a line about a span) */
  const char *message;         /* the message if not the event's (span events: "new", "close"),
                                  NUL-terminated; NULL: the event's */
  const trace_ctx *ctx;        /* the callback's context, for span, or NULL */
  const trace_span_ref *span;  /* the innermost span the record happened in (its fields and its
                                  parents' are included), or NULL */
  const char *line;            /* the formatted line, ending with '\n', for writers that write
                                  lines; NULL: they write "LEVEL target: message k=v" */
  size_t line_len;
} trace_record;
/* Writes a record: structured writers encode it (syslog, journald), line writers write
 * rec->line. Must be called during the callback that received the event and ctx (their pointers
 * are read now, never kept). Returns 0, TRACE_EINVAL (NULL or a struct_size not ours or no meta),
 * TRACE_EIO (counted as lost), TRACE_ENOMEM. */
TRACE_API int trace_writer_write_record(trace_writer *w, const trace_record *rec);
/* Whether the writer makes use of records (syslog, journald, or a non-blocking writer around one):
 * then formatting a text line for it is wasted work. */
TRACE_API bool trace_writer_wants_records(const trace_writer *w);

/* ---------------------------------------------------------------------------------------- */
/* syslog. Each record is one message: PRI from the facility and the level (ERROR 3 err, WARN 4
 * warning, INFO 6 info, DEBUG and TRACE 7 debug), the time (UTC, microseconds, in RFC 5424; local
 * "Mmm dd hh:mm:ss" in RFC 3164), the host name, app_name and the process id.
 * RFC 5424: MSG is the message; the structured data element [sd_id ...] carries target, file,
 * line and function, the event's fields, and the fields of its spans as span.field (root first;
 * names cut to 32 bytes, '=', ' ', ']' and '"' replaced by '_'; values escaped as the RFC says).
 * RFC 3164: MSG is "span{k=v}:span: target: message k=v" (no structured data in that format).
 * Control characters are escaped as in the fmt layer: a value can never start a message of its
 * own. Datagram sockets (unix, UDP) carry one message each; stream sockets (TCP, unix stream)
 * carry RFC 6587 octet-counted frames ("LEN SP MSG").
 *
 * Never blocks the caller for longer than timeout_ms: a daemon that is down, or too slow to take
 * a message within that time, costs the message (counted, the first failure reported once); the
 * writer connects again (at most once a second) when the daemon is back. */
enum { TRACE_SYSLOG_RFC5424 = 0, TRACE_SYSLOG_RFC3164 = 1 };
typedef struct trace_syslog_options {
  uint32_t struct_size; /* sizeof(trace_syslog_options), set by ..._options_init */
  /* NULL: "/dev/log". "unix:PATH" or "/PATH" (datagram, else stream), "udp:HOST:PORT",
   * "tcp:HOST:PORT" (HOST a name, an IPv4 address or [IPv6]). */
  const char *address;
  int format;           /* TRACE_SYSLOG_*; default: RFC3164 for unix sockets (what /dev/log
                           daemons parse), RFC5424 for UDP and TCP; -1: that default */
  int facility;         /* 0..23 (LOG_USER is 1, LOG_LOCAL0 is 16); default 1 (user) */
  const char *app_name; /* default: the program's name (program_invocation_short_name) */
  const char *hostname; /* default: gethostname() */
  const char *sd_id;    /* RFC 5424 SD-ID; default "trace@32473" (RFC 5612's example number) */
  uint32_t timeout_ms;  /* the longest wait to connect or send; default 1000 */
} trace_syslog_options;
TRACE_API void trace_syslog_options_init(trace_syslog_options *o);
/* Returns 0 and the writer in *out, also when the daemon is not there yet (messages are counted
 * as lost until it is); TRACE_EINVAL for NULL, a struct_size not ours, a bad address, format or
 * facility; TRACE_EIO for a host name that does not resolve; TRACE_ENOMEM. */
TRACE_API int trace_writer_syslog(const trace_syslog_options *o, trace_writer **out);

/* journald, with its native protocol (as tracing-journald): every record is one datagram of
 * fields: PRIORITY (ERROR 3, WARN 4, INFO 5, DEBUG 6, TRACE 7, as tracing-journald), MESSAGE,
 * SYSLOG_IDENTIFIER, TARGET, CODE_FILE, CODE_LINE, CODE_FUNC, the event's fields as
 * <prefix>_<NAME> (names upper-cased, '.' and other characters made '_'), and for each span, root
 * first, SPAN_NAME, SPAN_TARGET, SPAN_CODE_FILE, SPAN_CODE_LINE and its fields as
 * <prefix>_<NAME>. Values with a newline use the binary length-prefixed form. A record too big for
 * one datagram goes in a sealed memfd passed with SCM_RIGHTS. Never blocks the caller for longer
 * than timeout_ms; failures are counted and the first one reported once. */
typedef struct trace_journald_options {
  uint32_t struct_size;       /* sizeof(trace_journald_options), set by ..._options_init */
  const char *socket_path;    /* default "/run/systemd/journal/socket" */
  const char *identifier;     /* SYSLOG_IDENTIFIER; default: the program's name */
  const char *field_prefix;   /* default "F"; "" or NULL: none */
  uint32_t timeout_ms;        /* the longest wait to send; default 1000 */
} trace_journald_options;
TRACE_API void trace_journald_options_init(trace_journald_options *o);
/* Returns 0 and the writer in *out (also when journald is not there: messages are then counted
 * as lost); TRACE_EINVAL for NULL or a struct_size not ours; TRACE_ENOMEM. */
TRACE_API int trace_writer_journald(const trace_journald_options *o, trace_writer **out);

/* ---------------------------------------------------------------------------------------- */
/* Choosing a writer from text: what TRACE_WRITER holds.
 *
 *   stderr | stdout | file:PATH | rolling:DIR/PREFIX.SUFFIX | syslog[:ADDRESS] | journald[:PATH]
 *
 * followed by options, each after a comma:
 *   any kind:  nonblocking (lossy) | nonblocking=lossy|block | queue=SIZE | block_timeout=MS
 *   rolling:   never|minutely|hourly|daily | local | max_size=SIZE | max_files=N | mode=OCTAL
 *   syslog:    rfc5424|rfc3164 | facility=NAME|N (user, daemon, local0..local7, ...) | app=NAME
 *   journald:  prefix=TEXT | app=NAME
 * SIZE is bytes with an optional K, M or G. A path may not contain a comma.
 * Examples: "rolling:/var/log/app/app.log,daily,max_files=7,nonblocking",
 *           "syslog:udp:10.0.0.5:514,facility=local0", "file:/tmp/app.log,nonblocking=block".
 * Returns 0 and the writer in *out; TRACE_EINVAL for NULL arguments; TRACE_EPARSE for text that
 * does not parse; TRACE_EIO when the writer cannot be made (a file that cannot be opened);
 * TRACE_ENOMEM. On failure *out is NULL and, if err is not NULL, a one-line reason (no newline)
 * is written to err (at most errlen bytes, NUL-terminated). */
TRACE_API int trace_writer_from_spec(const char *spec, trace_writer **out, char *err,
                                     size_t errlen);
/* The writer TRACE_WRITER asks for (trace_init's, when its options give none), or stderr when it
 * is unset or empty. A value that does not parse or whose writer cannot be made is reported on
 * stderr in one line naming the variable, the reason and the writer used instead (stderr). NULL
 * only when out of memory. */
TRACE_API trace_writer *trace_writer_from_env(void);

/* ---------------------------------------------------------------------------------------- */
/* Using a writer. */

/* Frees the writer (writing what a non-blocking writer has queued, closing what it owns). NULL is
 * a no-op. A writer given to a fmt layer is owned by that layer. */
TRACE_API void trace_writer_free(trace_writer *w);

/* Writes one line (a trailing '\n' is added if missing). Returns 0 or a negative error code:
 * TRACE_EINVAL, TRACE_EIO (counted as lost; also a line dropped by a full non-blocking queue),
 * TRACE_ENOMEM. */
TRACE_API int trace_writer_write(trace_writer *w, const char *line, size_t len);
/* Flushes a FILE, calls the callback's flush, and for a non-blocking writer waits until what was
 * queued before the call is written (at most exit_timeout_ms). */
TRACE_API void trace_writer_flush(trace_writer *w);
/* trace_writer_flush with a deadline: returns how many lines queued before the call were still
 * waiting when timeout_ms passed (0: everything was written). Only a non-blocking writer (or a
 * structure around one) can have lines waiting. */
TRACE_API size_t trace_writer_flush_timeout(trace_writer *w, uint32_t timeout_ms);
/* Whether the writer is a terminal (for automatic colours). */
TRACE_API bool trace_writer_is_terminal(const trace_writer *w);

/* Reopening, for log rotation by moving files (logrotate's default "create"): writers of a path
 * (trace_writer_open, rolling) open their file again by its name; a descriptor writer looks again
 * at what its descriptor is (after a dup2); syslog and journald connect again; a non-blocking
 * writer passes it on. Returns 0, or TRACE_EIO when the file cannot be opened (the writer keeps
 * writing to the file it had; reported once). */
TRACE_API int trace_writer_reopen(trace_writer *w);
/* Asks every writer of the process to reopen before it writes its next line. Async-signal-safe
 * (it only increments a counter): call it from your own SIGHUP handler. */
TRACE_API void trace_writer_request_reopen(void);
/* A signal handler that does only that, for sigaction/signal if you have no handler of your own:
 *   signal(SIGHUP, trace_writer_sighup_handler);
 * libtrace never installs it (or any handler) by itself. */
TRACE_API void trace_writer_sighup_handler(int signo);

/* Failures only: counting successes would put a shared counter on every thread's hot path. */
typedef struct trace_writer_stats {
  uint64_t lost;    /* lines that could not be written (errors, lines cut short) */
  int last_error;   /* errno of the last failure, 0 if none */
  uint64_t dropped; /* lines a full non-blocking queue turned away (not included in lost) */
} trace_writer_stats;
TRACE_API trace_writer_stats trace_writer_get_stats(const trace_writer *w);

#ifdef __cplusplus
}
#endif

#endif
