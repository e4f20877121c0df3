/* stdio stream and callback writers. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/sigpipe.h"
#include "internal.h"
#include "../common/guard.h"

#define RECHECK_NS (10u * 1000000u)

typedef struct file_writer {
  trace_writer base;
  FILE *file;
  int fd;           /* fileno, -1 for streams without one */
  int kind;         /* atomic: FD_*, looked at again as the fd writer does */
  uint64_t checked; /* atomic */
} file_writer;

static int file_put(trace_writer *base, const char *p, size_t n) {
  file_writer *w = (file_writer *)base;
  TRACE__KEEP_ERRNO();
  uint64_t now = trace__coarse_ns();
  if (w->fd >= 0 && now - __atomic_load_n(&w->checked, __ATOMIC_RELAXED) >= RECHECK_NS) {
    __atomic_store_n(&w->checked, now, __ATOMIC_RELAXED);
    __atomic_store_n(&w->kind, trace__fd_kind(w->fd), __ATOMIC_RELAXED);
  }
  /* stdio writes with write(2): a socket under a FILE is no safer than a pipe. */
  int kind = __atomic_load_n(&w->kind, __ATOMIC_RELAXED);
  bool guard = (kind == FD_PIPE || kind == FD_STREAM) && !trace__sigpipe_blocked_here;
  trace__sigpipe_guard g;
  if (guard)
    trace__sigpipe_block(&g);
  int err = 0;
  flockfile(w->file);
  errno = 0;
  if (fwrite(p, 1, n, w->file) != n || fflush(w->file) != 0)
    err = errno ? errno : EIO;
  if (err)
    clearerr(w->file);
  funlockfile(w->file);
  if (guard)
    trace__sigpipe_restore(&g, err == EPIPE);
  else if (err == EPIPE)
    trace__sigpipe_consume();
  if (err)
    trace__writer_failed(base, err);
  return err;
}

static void file_flush(trace_writer *base) { fflush(((file_writer *)base)->file); }

static void file_destroy(trace_writer *base) { trace__free_lines(base); }

static const writer_ops file_ops = {
    .put = file_put,
    .flush = file_flush,
    .destroy = file_destroy,
};

trace_writer *trace_writer_file(FILE *file) {
  if (!file)
    return NULL;
  TRACE__KEEP_ERRNO();
  file_writer *w = trace__alloc_lines(sizeof *w);
  if (w) {
    trace__writer_init(&w->base, &file_ops, "a FILE stream");
    w->file = file;
    w->fd = fileno(file);
    w->kind = w->fd >= 0 ? trace__fd_kind(w->fd) : FD_QUIET;
    w->checked = trace__coarse_ns();
    w->base.terminal = w->fd >= 0 && isatty(w->fd);
    w->base.quiet_reports = w->fd == 2;
  }
  return w ? &w->base : NULL;
}

typedef struct callback_writer {
  trace_writer base;
  trace_write_fn fn;
  void (*flush_fn)(void *);
  void (*destroy_fn)(void *);
  void *arg;
} callback_writer;

static int callback_put(trace_writer *base, const char *p, size_t n) {
  callback_writer *w = (callback_writer *)base;
  if (TRACE__LIKELY(w->fn(w->arg, p, n) >= 0))
    return 0;
  trace__writer_failed(base, EIO);
  return EIO;
}

static void callback_flush(trace_writer *base) {
  callback_writer *w = (callback_writer *)base;
  if (w->flush_fn)
    w->flush_fn(w->arg);
}

static void callback_destroy(trace_writer *base) {
  callback_writer *w = (callback_writer *)base;
  if (w->destroy_fn)
    w->destroy_fn(w->arg);
  trace__free_lines(w);
}

static const writer_ops callback_ops = {
    .put = callback_put,
    .flush = callback_flush,
    .destroy = callback_destroy,
};

trace_writer *trace_writer_callback(trace_write_fn write_fn, void (*flush)(void *arg),
                                    void (*destroy)(void *arg), void *arg) {
  if (!write_fn)
    return NULL;
  TRACE__KEEP_ERRNO();
  callback_writer *w = trace__alloc_lines(sizeof *w);
  if (!w) {
    if (destroy)
      destroy(arg);
    return NULL;
  }
  trace__writer_init(&w->base, &callback_ops, "a callback");
  w->fn = write_fn;
  w->flush_fn = flush;
  w->destroy_fn = destroy;
  w->arg = arg;
  return &w->base;
}
