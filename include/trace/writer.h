/* Writers: where formatted lines go. A writer receives whole lines (each ends with '\n') and
 * writes each with one write call, so lines from concurrent threads, and from other processes
 * appending to the same file or pipe, never interleave (on pipes, up to PIPE_BUF = 4096 bytes per
 * line, the kernel's guarantee). Short writes and EINTR are retried. Write errors (EPIPE, ENOSPC,
 * EBADF, ...) never crash or stop the program: SIGPIPE is never delivered for our writes (MSG_NOSIGNAL
 * on sockets; otherwise the signal is blocked for the write and one the write raised consumed,
 * also when the descriptor was replaced by a pipe with dup2 after the writer was made; skipped,
 * for speed, when the process ignores SIGPIPE at creation or the writer opened the file), the line
 * is counted as lost, and the first error of a writer that is not stderr is reported once on
 * stderr. All writers are safe to use from many threads at once. */
#ifndef TRACE_WRITER_H
#define TRACE_WRITER_H

#include <stdio.h>

#include "../trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trace_writer trace_writer;

/* Standard error (the default for fmt: C diagnostics go to stderr) and standard output, by file
 * descriptor 2 and 1. Not closed when freed. */
TRACE_API trace_writer *trace_writer_stderr(void);
TRACE_API trace_writer *trace_writer_stdout(void);
/* A file descriptor; closed when the writer is freed if close_on_free. */
TRACE_API trace_writer *trace_writer_fd(int fd, bool close_on_free);
/* A stdio stream, written with fwrite + fflush under the stream's lock (works for streams without
 * a descriptor, like open_memstream). Not closed when freed. */
TRACE_API trace_writer *trace_writer_file(FILE *file);
/* A file opened for appending (created with mode 0644 if missing). Returns 0 and the writer in
 * *out, or TRACE_EIO with errno set (and *out NULL) if it cannot be opened, TRACE_EINVAL for
 * NULL arguments, TRACE_ENOMEM. */
TRACE_API int trace_writer_open(const char *path, trace_writer **out);

/* A user callback receiving each line (len bytes, ending with '\n', not NUL-terminated). write
 * returns 0 or a negative value for a failed line (counted). Called from any thread, possibly
 * concurrently. flush and destroy may be NULL; destroy(arg) runs when the writer is freed. */
typedef int (*trace_write_fn)(void *arg, const char *line, size_t len);
TRACE_API trace_writer *trace_writer_callback(trace_write_fn write, void (*flush)(void *arg),
                                              void (*destroy)(void *arg), void *arg);

/* Frees the writer (closing what it owns). NULL is a no-op. A writer given to a fmt layer is
 * owned by that layer. */
TRACE_API void trace_writer_free(trace_writer *w);

/* Writes one line (a trailing '\n' is added if missing). Returns 0 or a negative error code. */
TRACE_API int trace_writer_write(trace_writer *w, const char *line, size_t len);
TRACE_API void trace_writer_flush(trace_writer *w);
/* Whether the writer is a terminal (for automatic colours). */
TRACE_API bool trace_writer_is_terminal(const trace_writer *w);

/* Failures only: counting successes would put a shared counter on every thread's hot path. */
typedef struct trace_writer_stats {
  uint64_t lost;  /* lines that could not be written */
  int last_error; /* errno of the last failure, 0 if none */
} trace_writer_stats;
TRACE_API trace_writer_stats trace_writer_get_stats(const trace_writer *w);

#ifdef __cplusplus
}
#endif

#endif
