/* Writers: one write call per line, retried on short writes and EINTR, never killed by SIGPIPE,
 * errors counted and reported once. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/compiler.h"
#include "../common/warn.h"
#include "../text/escape.h"
#include "trace/writer.h"

enum { W_FD, W_FILE, W_CALLBACK };
enum { FD_PLAIN, FD_PIPE, FD_SOCKET };

struct trace_writer {
  int kind;
  int fd;
  int fd_type;                 /* atomic (relaxed): revised when a socket turns out replaced */
  bool guard_sigpipe;          /* block SIGPIPE around writes (see needs_guard) */
  bool close_fd;
  bool terminal;
  FILE *file;
  trace_write_fn fn;
  void (*flush_fn)(void *);
  void (*destroy_fn)(void *);
  void *arg;
  uint64_t lost;               /* atomic */
  int last_error;              /* atomic */
  uint8_t reported;            /* atomic: the first failure was reported */
  char label[96];
};

static int classify(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0)
    return FD_PLAIN;
  if (S_ISFIFO(st.st_mode))
    return FD_PIPE;
  if (S_ISSOCK(st.st_mode))
    return FD_SOCKET;
  return FD_PLAIN;
}

/* Whether writes to the descriptor need SIGPIPE blocked around them while it is not a socket
 * (sockets are written with send and MSG_NOSIGNAL). A descriptor that is a file or a terminal now
 * can be replaced by a pipe with dup2 at any time (a pager, a supervisor), and the write that
 * finds the pipe's reader gone would kill the process. Two exceptions, checked once: a
 * descriptor we opened ourselves that is not a pipe (no one else knows to dup2 over it), and a
 * process that already ignores SIGPIPE when the writer is created (servers usually do). */
static bool needs_guard(int fd_type, bool owned) {
  if (owned && fd_type == FD_PLAIN)
    return false;
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
    return false;
  return true;
}

static trace_writer *writer_new(int kind, const char *label) {
  trace_writer *w = trace__alloc_lines(sizeof *w);
  if (!w)
    return NULL;
  w->kind = kind;
  w->fd = -1;
  snprintf(w->label, sizeof w->label, "%s", label);
  return w;
}

trace_writer *trace_writer_fd(int fd, bool close_on_free) {
  int saved = errno;
  char label[32];
  snprintf(label, sizeof label, fd == 2 ? "stderr" : fd == 1 ? "stdout" : "fd %d", fd);
  trace_writer *w = writer_new(W_FD, label);
  if (w) {
    w->fd = fd;
    w->close_fd = close_on_free;
    w->fd_type = classify(fd);
    w->guard_sigpipe = needs_guard(w->fd_type, false);
    w->terminal = fd >= 0 && isatty(fd);
  }
  errno = saved;
  return w;
}

trace_writer *trace_writer_stderr(void) { return trace_writer_fd(2, false); }
trace_writer *trace_writer_stdout(void) { return trace_writer_fd(1, false); }

trace_writer *trace_writer_file(FILE *file) {
  if (!file)
    return NULL;
  int saved = errno;
  trace_writer *w = writer_new(W_FILE, "a FILE stream");
  if (w) {
    w->file = file;
    w->fd = fileno(file);
    w->fd_type = classify(w->fd);
    w->guard_sigpipe = needs_guard(w->fd_type, false);
    w->terminal = w->fd >= 0 && isatty(w->fd);
  }
  errno = saved;
  return w;
}

int trace_writer_open(const char *path, trace_writer **out) {
  if (!path || !out)
    return TRACE_EINVAL;
  *out = NULL;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return TRACE_EIO;
  int saved = errno;
  trace_writer *w = trace_writer_fd(fd, true);
  if (!w) {
    close(fd);
    errno = saved;
    return TRACE_ENOMEM;
  }
  snprintf(w->label, sizeof w->label, "%s", path);
  w->guard_sigpipe = needs_guard(w->fd_type, true);
  *out = w;
  return 0;
}

trace_writer *trace_writer_callback(trace_write_fn write_fn, void (*flush)(void *arg),
                                    void (*destroy)(void *arg), void *arg) {
  if (!write_fn)
    return NULL;
  trace_writer *w = writer_new(W_CALLBACK, "a callback");
  if (!w) {
    if (destroy)
      destroy(arg);
    return NULL;
  }
  w->fn = write_fn;
  w->flush_fn = flush;
  w->destroy_fn = destroy;
  w->arg = arg;
  return w;
}

void trace_writer_free(trace_writer *w) {
  if (!w)
    return;
  int saved = errno;
  trace_writer_flush(w);
  if (w->kind == W_FD && w->close_fd)
    close(w->fd);
  if (w->kind == W_CALLBACK && w->destroy_fn)
    w->destroy_fn(w->arg);
  trace__free_lines(w);
  errno = saved;
}

/* Blocks SIGPIPE on this thread around a write to a pipe, and consumes the signal if the write
 * raised it, so the process is never killed by it and its signal state is left as it was. */
typedef struct sigpipe_guard {
  sigset_t old;
  bool was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g) {
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &g->old);
  /* A SIGPIPE pending for this thread can only exist if the thread had it blocked already (else
   * it would have been delivered): only then is there a pending one of the host's to leave. */
  g->was_pending = false;
  if (sigismember(&g->old, SIGPIPE) == 1) {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
  }
}

static void sigpipe_unblock(sigpipe_guard *g, bool epipe) {
  if (epipe && !g->was_pending) {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&block, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Waits (boundedly) until a non-blocking descriptor can take more. */
static bool wait_writable(int fd) {
  struct pollfd p = {fd, POLLOUT, 0};
  int rc;
  do {
    rc = poll(&p, 1, 1000);
  } while (rc < 0 && errno == EINTR);
  return rc > 0 && (p.revents & POLLOUT);
}

/* Returns 0 or an errno value. */
static int fd_write_all(trace_writer *w, int fd_type, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = fd_type == FD_SOCKET ? send(w->fd, p, n, MSG_NOSIGNAL) : write(w->fd, p, n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable(w->fd))
        continue;
      if (errno == ENOTSOCK && fd_type == FD_SOCKET)
        return ENOTSOCK; /* replaced (dup2) since we looked: the caller looks again */
      return errno;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static void report_failure(trace_writer *w, int err) {
  __atomic_add_fetch(&w->lost, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&w->last_error, err ? err : EIO, __ATOMIC_RELAXED);
  if (w->fd == 2 || __atomic_exchange_n(&w->reported, 1, __ATOMIC_RELAXED))
    return;
  /* Once per writer: a failing log output must not go unnoticed, and stderr is the place to say
   * so. Further losses are counted (trace_writer_get_stats). */
  char msg[512];
  trace__buf b;
  trace__buf_init_fixed(&b, msg, sizeof msg - 1);
  trace__buf_puts(&b, "trace: cannot write to ");
  trace__escape_cstr(&b, w->label, TRACE__ESC_TEXT); /* a path is anyone's text */
  trace__buf_puts(&b, ": ");
  trace__buf_puts(&b, err ? strerror(err) : "write failed");
  trace__buf_puts(&b, "; lines are being lost\n");
  if (b.truncated)
    msg[b.len++] = '\n'; /* keep the line a line */
  trace__warn(msg, b.len);
}

static int put_line(trace_writer *w, const char *line, size_t len);

int trace_writer_write(trace_writer *w, const char *line, size_t len) {
  if (!w || (!line && len))
    return TRACE_EINVAL;
  if (len > 0 && line[len - 1] == '\n')
    return put_line(w, line, len);
  /* Add the newline: the line must still go out in one write. */
  char small[4096];
  char *copy = len < sizeof small ? small : trace__malloc(len + 1);
  if (!copy)
    return TRACE_ENOMEM;
  memcpy(copy, line, len);
  copy[len] = '\n';
  int rc = put_line(w, copy, len + 1);
  if (copy != small)
    trace__free(copy);
  return rc;
}

/* A whole line, ending with '\n' (the fmt layer's path: no checks). */
static int put_line(trace_writer *w, const char *line, size_t len) {
  if (w->kind == W_CALLBACK && w->fd_type == FD_PLAIN) {
    /* Most common in benchmarks and tests: no errno dance needed, the callback owns that. */
    if (TRACE__LIKELY(w->fn(w->arg, line, len) >= 0))
      return 0;
    report_failure(w, EIO);
    return TRACE_EIO;
  }
  int saved = errno;
  int err = 0;
  int fd_type = __atomic_load_n(&w->fd_type, __ATOMIC_RELAXED);
  /* stdio writes with write(2): a socket under a FILE is no safer than a pipe. */
  bool guard = w->guard_sigpipe && (fd_type != FD_SOCKET || w->kind == W_FILE);
  sigpipe_guard g;
  if (guard)
    sigpipe_block(&g);
  switch (w->kind) {
  case W_FD:
    err = fd_write_all(w, fd_type, line, len);
    if (TRACE__UNLIKELY(err == ENOTSOCK)) {
      /* A socket replaced by something else: whatever it is now, write with the guard. */
      __atomic_store_n(&w->fd_type, classify(w->fd), __ATOMIC_RELAXED);
      if (!guard)
        sigpipe_block(&g);
      guard = true;
      err = fd_write_all(w, FD_PLAIN, line, len);
    }
    break;
  case W_FILE:
    flockfile(w->file);
    if (fwrite(line, 1, len, w->file) != len || fflush(w->file) != 0)
      err = errno ? errno : EIO;
    if (err)
      clearerr(w->file);
    funlockfile(w->file);
    break;
  default:
    err = w->fn(w->arg, line, len) < 0 ? EIO : 0;
    break;
  }
  if (guard)
    sigpipe_unblock(&g, err == EPIPE);
  if (TRACE__UNLIKELY(err))
    report_failure(w, err);
  errno = saved;
  return err ? TRACE_EIO : 0;
}

void trace_writer_flush(trace_writer *w) {
  if (!w)
    return;
  int saved = errno;
  if (w->kind == W_FILE)
    fflush(w->file);
  else if (w->kind == W_CALLBACK && w->flush_fn)
    w->flush_fn(w->arg);
  errno = saved;
}

bool trace_writer_is_terminal(const trace_writer *w) { return w && w->terminal; }

trace_writer_stats trace_writer_get_stats(const trace_writer *w) {
  trace_writer_stats s = {0, 0};
  if (w) {
    s.lost = __atomic_load_n(&w->lost, __ATOMIC_RELAXED);
    s.last_error = __atomic_load_n(&w->last_error, __ATOMIC_RELAXED);
  }
  return s;
}
