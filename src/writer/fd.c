/* Descriptor writers: stderr, stdout, any fd, a file opened by path.
 *
 * The cost that matters is the system calls: on this kind of machine each costs 1.3 to 1.9 µs,
 * twenty times the formatting of a line. So a line to a file, a terminal or /dev/null is one
 * write(2) and nothing else: no lock (the kernel makes one write to those atomic against other
 * writes, whatever its length) and no SIGPIPE guard (they cannot raise SIGPIPE). Pipes and stream
 * sockets are where a long write can be split and another write land in between: their lines go
 * under the writer's lock, pipes with SIGPIPE blocked around the write (whatever the disposition
 * is, which the program may change at any time), sockets with MSG_NOSIGNAL.
 *
 * What a descriptor is can change under us (dup2 of a pipe over stderr, as pagers and
 * supervisors do), so the writer looks again (fstat) when at least 10 ms of the coarse clock have
 * passed since it last looked: a few ns per line to read the clock, one fstat per 10 ms. The
 * window this leaves (a pipe dup2'ed in and its reader gone within those 10 ms) is documented in
 * writer.h; trace_writer_reopen closes it on demand. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/sigpipe.h"
#include "internal.h"
#include "../common/guard.h"

#define RECHECK_NS (10u * 1000000u)    /* look at the descriptor again after 10 ms */
#define PATH_CHECK_NS (1000000000u)    /* look at a path writer's file name once a second */
#define WAIT_NS (1000000000u)          /* the longest wait for a full non-blocking descriptor */

__thread bool trace__sigpipe_blocked_here;

int trace__fd_kind(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0)
    return FD_QUIET; /* a bad descriptor fails the write with EBADF, no signal */
  if (S_ISFIFO(st.st_mode))
    return FD_PIPE;
  if (S_ISSOCK(st.st_mode)) {
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM)
      return FD_DGRAM;
    return FD_STREAM;
  }
  return FD_QUIET;
}

static ssize_t raw_write(int fd, int kind, const char *p, size_t n) {
  if (kind == FD_STREAM || kind == FD_DGRAM)
    return send(fd, p, n, MSG_NOSIGNAL);
  return write(fd, p, n);
}

static bool wait_writable(int fd, uint64_t deadline) {
  uint64_t now = trace__mono_ns();
  if (now >= deadline)
    return false;
  struct pollfd pfd = {fd, POLLOUT, 0};
  int ms = (int)((deadline - now) / 1000000u) + 1;
  int rc = poll(&pfd, 1, ms);
  return rc >= 0 || errno == EINTR;
}

/* A unit longer than PIPE_BUF on a non-blocking pipe: the kernel writes what fits and returns,
 * which would leave a fragment if the rest then never fits. Start only when the whole unit fits
 * (counting two partly used pages of slack), waiting up to the deadline; a unit bigger than the
 * pipe can never fit and is written in pieces. Returns false if the deadline passed. */
static bool wait_pipe_room(int fd, size_t n, uint64_t deadline) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || !(flags & O_NONBLOCK))
    return true; /* a blocking write waits for room by itself */
  long page = 4096;
  for (;;) {
    int cap = fcntl(fd, F_GETPIPE_SZ);
    int unread = 0;
    if (cap <= 0 || ioctl(fd, FIONREAD, &unread) != 0)
      return true; /* cannot tell: just write */
    long free_pages = cap / page - (unread / page + 2);
    if ((long)n > cap - 2 * page || free_pages * page >= (long)n)
      return true;
    uint64_t now = trace__mono_ns();
    if (now >= deadline)
      return false;
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
}

/* Closes a cut line: one newline, tried once; *dangling remembers it when even that fails. */
static void close_cut_line(int fd, int kind, uint8_t *dangling) {
  ssize_t k;
  do {
    k = raw_write(fd, kind, "\n", 1);
  } while (k < 0 && errno == EINTR);
  __atomic_store_n(dangling, k == 1 ? 0 : 1, __ATOMIC_RELAXED);
}

static int write_unit_from(int fd, int kind, const char *p, size_t n, size_t done,
                           uint8_t *dangling, bool *cut) {
  *cut = false;
  uint64_t deadline = 0;
  if (__atomic_load_n(dangling, __ATOMIC_RELAXED)) {
    /* The line before was cut and its newline could not be written then: write it first, or
     * this line would be glued to the fragment. */
    close_cut_line(fd, kind, dangling);
    if (*dangling)
      return errno ? errno : EIO;
  }
  if (done == 0 && kind == FD_PIPE && n > PIPE_BUF) {
    deadline = trace__mono_ns() + WAIT_NS;
    if (!wait_pipe_room(fd, n, deadline))
      return EAGAIN; /* nothing written: the line is lost whole */
  }
  int err = 0;
  while (done < n) {
    ssize_t k = raw_write(fd, kind, p + done, n - done);
    if (k > 0) {
      done += (size_t)k;
      continue;
    }
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!deadline)
        deadline = trace__mono_ns() + WAIT_NS;
      if (wait_writable(fd, deadline))
        continue;
      err = EAGAIN;
      break;
    }
    err = k < 0 ? errno : EIO;
    break;
  }
  if (err && done > 0 && kind != FD_DGRAM) {
    *cut = true;
    close_cut_line(fd, kind, dangling);
  }
  return err;
}

int trace__fd_write_unit(int fd, int kind, const char *p, size_t n, uint8_t *dangling, bool *cut) {
  return write_unit_from(fd, kind, p, n, 0, dangling, cut);
}

/* A unit that wrapped around a ring (its two vectors, len bytes in all) joined in a new block for
 * its single write; NULL when out of memory. */
static char *join_unit(const struct iovec *iov, size_t len) {
  char *joined = trace__malloc(len);
  if (joined) {
    memcpy(joined, iov[0].iov_base, iov[0].iov_len);
    memcpy(joined + iov[0].iov_len, iov[1].iov_base, iov[1].iov_len);
  }
  return joined;
}

/* Counts a unit lost with err on w, as cut when part of it went out. */
static void unit_lost(trace_writer *w, int err, bool cut) {
  if (cut)
    trace__writer_cut(w, err);
  else
    trace__writer_failed(w, err);
}

size_t trace__fd_write_units(trace_writer *w, int fd, int kind, const struct iovec *iov,
                             const uint32_t *units, size_t n, uint8_t *dangling) {
  size_t lost = 0;
  bool cut = false;
  if (kind == FD_DGRAM || __atomic_load_n(dangling, __ATOMIC_RELAXED)) {
    /* One datagram per unit; and after a cut line, the careful path restores the newline. */
    for (size_t u = 0, i = 0; u < n; i += units[u], u++) {
      const char *p = iov[i].iov_base;
      size_t len = iov[i].iov_len;
      char *joined = NULL;
      if (units[u] > 1) { /* a unit wrapped around a ring: join it for the single write */
        len += iov[i + 1].iov_len;
        p = joined = join_unit(iov + i, len);
        if (!joined) {
          trace__writer_failed(w, ENOMEM);
          lost++;
          continue;
        }
      }
      int err = write_unit_from(fd, kind, p, len, 0, dangling, &cut);
      trace__free(joined);
      if (err) {
        unit_lost(w, err, cut);
        lost++;
      }
    }
    return lost;
  }
  /* Whole batches with writev, IOV_MAX vectors at a time, cut at unit boundaries. */
  size_t i = 0, u = 0;
  while (u < n) {
    size_t first_u = u, first_i = i, bytes = 0, cnt = 0;
    while (u < n && cnt + units[u] <= IOV_MAX) {
      for (uint32_t j = 0; j < units[u]; j++)
        bytes += iov[i + j].iov_len;
      cnt += units[u];
      i += units[u];
      u++;
    }
    ssize_t k = writev(fd, iov + first_i, (int)cnt);
    if (k == (ssize_t)bytes)
      continue;
    /* A short write or an error: finish unit by unit from where the kernel stopped. */
    size_t done = k > 0 ? (size_t)k : 0;
    int first_err = k < 0 ? errno : 0;
    for (size_t uu = first_u, ii = first_i; uu < u; ii += units[uu], uu++) {
      size_t len = iov[ii].iov_len + (units[uu] > 1 ? iov[ii + 1].iov_len : 0);
      if (done >= len) {
        done -= len;
        continue;
      }
      int err;
      cut = false; /* whatever the unit before did: this one starts untouched */
      if (first_err && first_err != EINTR && first_err != EAGAIN && done == 0) {
        err = first_err; /* a hard error (EBADF, ENOSPC, EPIPE): the rest fails the same */
      } else {
        char *joined = NULL;
        const char *p = iov[ii].iov_base;
        if (units[uu] > 1)
          p = joined = join_unit(iov + ii, len);
        err = p ? write_unit_from(fd, kind, p, len, done, dangling, &cut) : ENOMEM;
        trace__free(joined);
        if (err && done > 0)
          cut = true;
      }
      done = 0;
      if (err) {
        unit_lost(w, err, cut);
        lost++;
        first_err = err;
      } else {
        first_err = 0;
      }
    }
  }
  return lost;
}

/* ---------------------------------------------------------------------------------------- */

typedef struct fd_writer {
  trace_writer base;
  int fd;
  int kind;            /* atomic: FD_* */
  uint64_t checked;    /* atomic: coarse ns when the descriptor was last looked at */
  uint32_t reopen_gen; /* atomic: the trace__writer_reopen_gen last acted on */
  uint8_t dangling;    /* atomic: a cut line still needs its newline */
  bool close_fd;
  trace__wlock lock;   /* pipes and stream sockets, reopening */
  char *path;          /* trace_writer_open: opened again by name */
  uint64_t path_checked; /* atomic: coarse ns of the last look at the name */
  dev_t dev;
  ino_t ino;
} fd_writer;

static int open_path(const char *path) {
  return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

/* Opens the path again and puts the new file in place of the old one on the same descriptor
 * number (dup3), so that a thread writing at this moment writes its line whole to one or the
 * other, and never to a closed or reused descriptor. Under the lock. */
static int reopen_locked(fd_writer *w) {
  int nfd = open_path(w->path);
  if (nfd < 0)
    return errno;
  int err = 0;
  if (nfd != w->fd && dup3(nfd, w->fd, O_CLOEXEC) < 0)
    err = errno;
  if (nfd != w->fd)
    close(nfd);
  struct stat st;
  if (!err && fstat(w->fd, &st) == 0) {
    w->dev = st.st_dev;
    w->ino = st.st_ino;
  }
  __atomic_store_n(&w->kind, trace__fd_kind(w->fd), __ATOMIC_RELAXED);
  return err;
}

/* Whether the path still names the file we write to (false: moved, deleted or replaced). */
static bool path_is_ours(const fd_writer *w) {
  struct stat st;
  return stat(w->path, &st) == 0 && st.st_dev == w->dev && st.st_ino == w->ino;
}

static void fd_look_again(fd_writer *w, uint64_t now) {
  TRACE__KEEP_ERRNO();
  __atomic_store_n(&w->checked, now, __ATOMIC_RELAXED);
  uint32_t gen = __atomic_load_n(&trace__writer_reopen_gen, __ATOMIC_RELAXED);
  bool asked = gen != __atomic_load_n(&w->reopen_gen, __ATOMIC_RELAXED);
  if (asked)
    __atomic_store_n(&w->reopen_gen, gen, __ATOMIC_RELAXED);
  if (w->path && (asked || now - __atomic_load_n(&w->path_checked, __ATOMIC_RELAXED) >=
                               PATH_CHECK_NS)) {
    __atomic_store_n(&w->path_checked, now, __ATOMIC_RELAXED);
    if (asked || !path_is_ours(w)) {
      trace__wlock_lock(&w->lock);
      int err = reopen_locked(w);
      trace__wlock_unlock(&w->lock);
      if (err)
        trace__writer_failed(&w->base, err); /* keeps writing to the file it has */
    }
  } else {
    __atomic_store_n(&w->kind, trace__fd_kind(w->fd), __ATOMIC_RELAXED);
  }
}

/* Everything but a whole single write to a quiet descriptor: under the lock. */
static TRACE__NOINLINE int fd_put_slow(fd_writer *w, const char *p, size_t n, size_t done) {
  TRACE__KEEP_ERRNO();
  int kind = __atomic_load_n(&w->kind, __ATOMIC_RELAXED);
  bool locked = kind != FD_DGRAM;
  if (locked)
    trace__wlock_lock(&w->lock);
  bool cut = false;
  int err;
  for (int attempt = 0;; attempt++) {
    trace__sigpipe_guard g;
    bool guard = kind == FD_PIPE && !trace__sigpipe_blocked_here;
    if (guard)
      trace__sigpipe_block(&g);
    err = write_unit_from(w->fd, kind, p, n, done, &w->dangling, &cut);
    if (guard)
      trace__sigpipe_restore(&g, err == EPIPE);
    else if (err == EPIPE && kind == FD_PIPE)
      trace__sigpipe_consume();
    if (err == ENOTSOCK && done == 0 && attempt == 0) {
      /* A socket replaced (dup2) since we looked: nothing was sent; whatever it is now, look
       * and write again (a pipe gets its guard). */
      kind = trace__fd_kind(w->fd);
      __atomic_store_n(&w->kind, kind, __ATOMIC_RELAXED);
      continue;
    }
    break;
  }
  if (locked)
    trace__wlock_unlock(&w->lock);
  if (err) {
    if (cut || done > 0)
      trace__writer_cut(&w->base, err);
    else
      trace__writer_failed(&w->base, err);
  }
  return err;
}

static int fd_put(trace_writer *base, const char *p, size_t n) {
  fd_writer *w = (fd_writer *)base;
  uint64_t now = trace__coarse_ns();
  if (TRACE__UNLIKELY(now - __atomic_load_n(&w->checked, __ATOMIC_RELAXED) >= RECHECK_NS ||
                      __atomic_load_n(&trace__writer_reopen_gen, __ATOMIC_RELAXED) !=
                          __atomic_load_n(&w->reopen_gen, __ATOMIC_RELAXED)))
    fd_look_again(w, now);
  if (TRACE__LIKELY(__atomic_load_n(&w->kind, __ATOMIC_RELAXED) == FD_QUIET &&
                    !__atomic_load_n(&w->dangling, __ATOMIC_RELAXED))) {
    TRACE__KEEP_ERRNO();
    ssize_t k = write(w->fd, p, n);
    if (TRACE__LIKELY(k == (ssize_t)n))
      return 0;
    int err = errno;
    if (k < 0 && err != EINTR && err != EAGAIN && err != EWOULDBLOCK) {
      trace__writer_failed(base, err); /* nothing written: lost whole */
      return err;
    }
    /* Short (a disk filling up, a non-blocking terminal): finish it under the lock. */
    return fd_put_slow(w, p, n, k > 0 ? (size_t)k : 0);
  }
  return fd_put_slow(w, p, n, 0);
}

static size_t fd_put_batch(trace_writer *base, const struct iovec *iov, const uint32_t *units,
                           size_t n) {
  fd_writer *w = (fd_writer *)base;
  uint64_t now = trace__coarse_ns();
  if (now - __atomic_load_n(&w->checked, __ATOMIC_RELAXED) >= RECHECK_NS ||
      __atomic_load_n(&trace__writer_reopen_gen, __ATOMIC_RELAXED) !=
          __atomic_load_n(&w->reopen_gen, __ATOMIC_RELAXED))
    fd_look_again(w, now);
  TRACE__KEEP_ERRNO();
  int kind = __atomic_load_n(&w->kind, __ATOMIC_RELAXED);
  bool locked = kind == FD_PIPE || kind == FD_STREAM;
  if (locked)
    trace__wlock_lock(&w->lock);
  trace__sigpipe_guard g;
  bool guard = kind == FD_PIPE && !trace__sigpipe_blocked_here;
  if (guard)
    trace__sigpipe_block(&g);
  uint64_t lost_before = __atomic_load_n(&base->lost, __ATOMIC_RELAXED);
  size_t lost = trace__fd_write_units(base, w->fd, kind, iov, units, n, &w->dangling);
  bool epipe = lost && __atomic_load_n(&base->last_error, __ATOMIC_RELAXED) == EPIPE &&
               __atomic_load_n(&base->lost, __ATOMIC_RELAXED) != lost_before;
  if (guard)
    trace__sigpipe_restore(&g, epipe);
  else if (epipe && kind == FD_PIPE)
    trace__sigpipe_consume();
  if (locked)
    trace__wlock_unlock(&w->lock);
  return lost;
}

static int fd_reopen(trace_writer *base) {
  fd_writer *w = (fd_writer *)base;
  TRACE__KEEP_ERRNO();
  int err = 0;
  __atomic_store_n(&w->checked, trace__coarse_ns(), __ATOMIC_RELAXED);
  if (w->path) {
    trace__wlock_lock(&w->lock);
    err = reopen_locked(w);
    trace__wlock_unlock(&w->lock);
    if (err)
      trace__writer_failed(base, err);
  } else {
    __atomic_store_n(&w->kind, trace__fd_kind(w->fd), __ATOMIC_RELAXED);
  }
  return err;
}

static void fd_destroy(trace_writer *base) {
  fd_writer *w = (fd_writer *)base;
  if (w->close_fd)
    close(w->fd);
  trace__free(w->path);
  trace__free_lines(w);
}

static const writer_ops fd_ops = {
    .put = fd_put,
    .put_batch = fd_put_batch,
    .reopen = fd_reopen,
    .destroy = fd_destroy,
};

static fd_writer *fd_writer_new(int fd, bool close_on_free, const char *label) {
  fd_writer *w = trace__alloc_lines(sizeof *w);
  if (!w)
    return NULL;
  trace__writer_init(&w->base, &fd_ops, label);
  w->fd = fd;
  w->close_fd = close_on_free;
  w->kind = trace__fd_kind(fd);
  w->checked = trace__coarse_ns();
  w->reopen_gen = __atomic_load_n(&trace__writer_reopen_gen, __ATOMIC_RELAXED);
  w->base.terminal = fd >= 0 && isatty(fd);
  w->base.quiet_reports = fd == 2;
  return w;
}

trace_writer *trace_writer_fd(int fd, bool close_on_free) {
  TRACE__KEEP_ERRNO();
  char label[32];
  snprintf(label, sizeof label, fd == 2 ? "stderr" : fd == 1 ? "stdout" : "fd %d", fd);
  fd_writer *w = fd_writer_new(fd, close_on_free, label);
  return w ? &w->base : NULL;
}

trace_writer *trace_writer_stderr(void) { return trace_writer_fd(2, false); }
trace_writer *trace_writer_stdout(void) { return trace_writer_fd(1, false); }

int trace_writer_open(const char *path, trace_writer **out) {
  if (!path || !out)
    return TRACE_EINVAL;
  *out = NULL;
  int fd = open_path(path);
  if (fd < 0)
    return TRACE_EIO;
  TRACE__KEEP_ERRNO();
  fd_writer *w = fd_writer_new(fd, true, path);
  char *copy = w ? trace__strdup(path) : NULL;
  if (!copy) {
    if (w)
      trace__free_lines(w);
    close(fd);
    return TRACE_ENOMEM;
  }
  w->path = copy;
  w->path_checked = w->checked;
  struct stat st;
  if (fstat(fd, &st) == 0) {
    w->dev = st.st_dev;
    w->ino = st.st_ino;
  }
  *out = &w->base;
  return 0;
}
