/* The journald writer: systemd's native journal protocol, one datagram of fields per record.
 *
 * A field is NAME=value\n, or, for a value with a newline in it, NAME\n, the value's length as a
 * little-endian 64-bit number, the value and \n. A record too big for a datagram is written to a
 * memfd, sealed so that journald can map it safely, and the descriptor is sent alone with
 * SCM_RIGHTS (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "internal.h"
#include "../common/guard.h"

#define NAME_MAX_J 64 /* journald ignores longer field names */

typedef struct journald_writer {
  trace_writer base;
  struct sockaddr_un addr;
  char ident[256];
  char prefix[32];
  uint64_t timeout_ns;
  trace__wlock lock; /* making the socket */
  int fd;            /* atomic: -1 until made */
} journald_writer;

/* ---------------------------------------------------------------------------------------- */
/* Encoding. */

static void put_value(trace__buf *b, const char *v, size_t len) {
  if (!memchr(v, '\n', len)) {
    trace__buf_putc(b, '=');
    trace__buf_put(b, v, len);
    trace__buf_putc(b, '\n');
    return;
  }
  trace__buf_putc(b, '\n');
  unsigned char le[8];
  uint64_t n = len;
  for (int i = 0; i < 8; i++)
    le[i] = (unsigned char)(n >> (8 * i));
  trace__buf_put(b, (const char *)le, 8);
  trace__buf_put(b, v, len);
  trace__buf_putc(b, '\n');
}

/* A name journald accepts, as tracing-journald makes it: '.' becomes '_', leading '_' and any
 * character but [A-Za-z0-9_] dropped, upper-cased; with the prefix ("F_NAME"), or "X" in front of
 * one that would start with a digit or be empty. */
static void put_name(trace__buf *b, const char *prefix, const char *name) {
  size_t n = 0;
  if (prefix && *prefix) {
    for (; *prefix && n < NAME_MAX_J - 2; prefix++, n++)
      trace__buf_putc(b, *prefix);
    trace__buf_putc(b, '_');
    n++;
  }
  size_t start = n;
  bool leading = true;
  for (; *name && n < NAME_MAX_J; name++) {
    char c = *name == '.' ? '_' : *name;
    if (leading && c == '_')
      continue;
    leading = false;
    if (c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      continue;
    if (n == start && start == 0 && c >= '0' && c <= '9') {
      trace__buf_putc(b, 'X');
      n++;
    }
    trace__buf_putc(b, c);
    n++;
  }
  if (n == start)
    trace__buf_putc(b, 'X');
}

static void put_field(trace__buf *b, const char *name, const char *v, size_t len) {
  trace__buf_puts(b, name);
  put_value(b, v, len);
}

typedef struct jstate {
  trace__buf *b;
  const char *prefix;
} jstate;

static void j_field(void *arg, const char *name, const char *text, size_t len, bool quoted) {
  jstate *s = arg;
  (void)quoted;
  put_name(s->b, s->prefix, name);
  put_value(s->b, text, len);
}

static void put_place(trace__buf *b, const char *pre, const trace_metadata *m) {
  char name[32];
  snprintf(name, sizeof name, "%sTARGET", pre);
  put_field(b, name, m->target, strlen(m->target));
  if (m->file) {
    snprintf(name, sizeof name, "%sCODE_FILE", pre);
    put_field(b, name, m->file, strlen(m->file));
  }
  char line[16];
  int n = snprintf(line, sizeof line, "%u", (unsigned)m->line);
  snprintf(name, sizeof name, "%sCODE_LINE", pre);
  put_field(b, name, line, (size_t)n);
}

static void j_span(void *arg, uint32_t depth, const trace_metadata *meta) {
  jstate *s = arg;
  (void)depth;
  put_field(s->b, "SPAN_NAME", meta->name, strlen(meta->name));
  put_place(s->b, "SPAN_", meta);
}

static int journald_encode(trace_writer *base, const trace_record *rec, trace__buf *b) {
  journald_writer *w = (journald_writer *)base;
  static const char prio[] = "33456777"; /* as tracing-journald: ERROR 3 .. TRACE 7 */
  int level = rec->meta->level <= 5 ? rec->meta->level : 5;
  char p[2] = {prio[level], '\0'};
  jstate s = {b, w->prefix};
  static const trace__record_span_fns fns = {j_span, j_field};
  trace__record_spans(rec, &fns, &s);
  put_field(b, "PRIORITY", p, 1);
  put_place(b, "", rec->meta);
  if (rec->meta->function && rec->meta->function[0])
    put_field(b, "CODE_FUNC", rec->meta->function, strlen(rec->meta->function));
  put_field(b, "SYSLOG_IDENTIFIER", w->ident, strlen(w->ident));
  trace__buf_puts(b, "MESSAGE");
  size_t mark = b->len;
  trace__buf_putc(b, '=');
  size_t start = b->len;
  trace__record_message(rec, b);
  if (memchr(b->data + start, '\n', b->len - start)) {
    /* Redo it in the binary form: move the text behind the length. */
    size_t len = b->len - start;
    char le[8];
    for (int i = 0; i < 8; i++)
      le[i] = (char)((uint64_t)len >> (8 * i));
    if (trace__buf_room(b, 8) >= 8) {
      memmove(b->data + start + 8, b->data + start, len);
      b->data[mark] = '\n';
      memcpy(b->data + mark + 1, le, 8);
      b->len = start + 8 + len;
    } else {
      b->truncated = true;
    }
  }
  trace__buf_putc(b, '\n');
  trace__record_fields(rec, j_field, &s);
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Sending. */

static int socket_fd(journald_writer *w) {
  int fd = __atomic_load_n(&w->fd, __ATOMIC_ACQUIRE);
  if (fd >= 0)
    return fd;
  trace__wlock_lock(&w->lock);
  fd = w->fd;
  if (fd < 0) {
    /* The default send buffer bounds a datagram (about 200 KiB): bigger records take the memfd
     * path, as sd_journal_send does. */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    __atomic_store_n(&w->fd, fd, __ATOMIC_RELEASE);
  }
  trace__wlock_unlock(&w->lock);
  return fd;
}

static int send_bounded(journald_writer *w, int fd, struct msghdr *m) {
  uint64_t deadline = 0;
  for (;;) {
    if (sendmsg(fd, m, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
      return 0;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
      return errno;
    /* journald is behind: wait, boundedly, for room in its queue. */
    uint64_t now = trace__mono_ns();
    if (!deadline)
      deadline = now + w->timeout_ns;
    if (now >= deadline)
      return ETIMEDOUT;
    struct pollfd p = {fd, POLLOUT, 0};
    poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
  }
}

/* Too big for a datagram: the payload in a sealed memfd, the descriptor in SCM_RIGHTS. */
static int send_memfd(journald_writer *w, int fd, const char *p, size_t n) {
  int mfd = memfd_create("trace-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    return errno;
  int err = 0;
  for (size_t done = 0; done < n && !err;) {
    ssize_t k = write(mfd, p + done, n - done);
    if (k > 0)
      done += (size_t)k;
    else if (k < 0 && errno != EINTR)
      err = errno;
  }
  if (!err && fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    err = errno;
  if (!err) {
    union {
      struct cmsghdr h;
      char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &w->addr;
    m.msg_namelen = sizeof w->addr;
    m.msg_control = ctl.space;
    m.msg_controllen = sizeof ctl.space;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &mfd, sizeof mfd);
    err = send_bounded(w, fd, &m);
  }
  close(mfd);
  return err;
}

static int journald_put(trace_writer *base, const char *p, size_t n) {
  journald_writer *w = (journald_writer *)base;
  TRACE__KEEP_ERRNO();
  int fd = socket_fd(w);
  int err;
  if (fd < 0) {
    err = errno;
  } else {
    struct iovec iov = {(void *)(uintptr_t)p, n};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = &w->addr;
    m.msg_namelen = sizeof w->addr;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    err = send_bounded(w, fd, &m);
    if (err == EMSGSIZE || err == ENOBUFS)
      err = send_memfd(w, fd, p, n);
  }
  if (err)
    trace__writer_failed(base, err);
  return err;
}

static void journald_destroy(trace_writer *base) {
  journald_writer *w = (journald_writer *)base;
  if (w->fd >= 0)
    close(w->fd);
  trace__free_lines(w);
}

static const writer_ops journald_ops = {
    .put = journald_put,
    .encode = journald_encode,
    .destroy = journald_destroy,
};

void trace_journald_options_init(trace_journald_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->field_prefix = "F";
  o->timeout_ms = 1000;
}

int trace_writer_journald(const trace_journald_options *o, trace_writer **out) {
  if (!out)
    return TRACE_EINVAL;
  *out = NULL;
  if (!o || o->struct_size != sizeof *o)
    return TRACE_EINVAL;
  const char *path = o->socket_path ? o->socket_path : "/run/systemd/journal/socket";
  journald_writer *w = NULL;
  if (path[0] != '/' || strlen(path) >= sizeof w->addr.sun_path)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  w = trace__alloc_lines(sizeof *w);
  if (!w)
    return TRACE_ENOMEM;
  char label[160];
  snprintf(label, sizeof label, "journald at %s", path);
  trace__writer_init(&w->base, &journald_ops, label);
  w->addr.sun_family = AF_UNIX;
  memcpy(w->addr.sun_path, path, strlen(path) + 1);
  snprintf(w->ident, sizeof w->ident, "%s",
           o->identifier && *o->identifier ? o->identifier : trace__program_name());
  /* The prefix becomes part of field names: keep what journald accepts. */
  size_t k = 0;
  for (const char *s = o->field_prefix ? o->field_prefix : ""; *s && k + 1 < sizeof w->prefix; s++) {
    char c = *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9' && k > 0) || (c == '_' && k > 0))
      w->prefix[k++] = c;
  }
  w->prefix[k] = '\0';
  w->timeout_ns = (uint64_t)(o->timeout_ms ? o->timeout_ms : 1000) * 1000000u;
  w->fd = -1;
  *out = &w->base;
  return 0;
}
