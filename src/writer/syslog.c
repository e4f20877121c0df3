/* The syslog writer: RFC 5424 (structured data carrying the fields) or RFC 3164, over a unix
 * socket (/dev/log), UDP or TCP. Every wait is bounded by timeout_ms: the socket is non-blocking
 * and a send that cannot go out in time is counted as lost, so a daemon that is down or stuck
 * never stops the program. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/civil.h"
#include "../text/escape.h"
#include "internal.h"
#include "../common/guard.h"

#define RETRY_NS 1000000000u /* a failed connection is tried again after a second */

enum { T_UNIX, T_UDP, T_TCP };

typedef struct syslog_writer {
  trace_writer base;
  int transport;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int format;
  int facility;
  char app[49];
  char host[256];
  char sd_id[33];
  uint64_t timeout_ns;
  trace__wlock lock; /* the connection; on streams also keeps frames whole */
  int fd;            /* under the lock; -1: not connected */
  int socktype;      /* of fd */
  uint64_t retry_at; /* under the lock */
  uint32_t pid_epoch; /* atomic */
  int pid;            /* atomic: getpid() cached per fork epoch */
} syslog_writer;

/* ---------------------------------------------------------------------------------------- */
/* Encoding. */

static int severity(int level) {
  switch (level) {
  case TRACE_LEVEL_ERROR: return 3;
  case TRACE_LEVEL_WARN: return 4;
  case TRACE_LEVEL_INFO: return 6;
  default: return 7;
  }
}

static int current_pid(syslog_writer *w) {
  uint32_t epoch = __atomic_load_n(&trace__writer_epoch, __ATOMIC_RELAXED);
  if (__atomic_load_n(&w->pid_epoch, __ATOMIC_ACQUIRE) != epoch || !w->pid) {
    __atomic_store_n(&w->pid, (int)getpid(), __ATOMIC_RELAXED);
    __atomic_store_n(&w->pid_epoch, epoch, __ATOMIC_RELEASE);
  }
  return __atomic_load_n(&w->pid, __ATOMIC_RELAXED);
}

/* PARAM-NAME: 1 to 32 printable US-ASCII characters other than '=', ' ', ']' and '"'. */
static void put_param_name(trace__buf *b, const char *prefix, const char *name) {
  size_t n = 0;
  for (int part = 0; part < 2; part++) {
    const char *s = part ? name : prefix;
    if (!s)
      continue;
    for (; *s && n < 32; s++, n++) {
      unsigned char c = (unsigned char)*s;
      trace__buf_putc(b, c > 32 && c < 127 && c != '=' && c != ']' && c != '"' ? (char)c : '_');
    }
    if (!part && prefix && n < 32) {
      trace__buf_putc(b, '.');
      n++;
    }
  }
  if (n == 0)
    trace__buf_putc(b, '_');
}

/* PARAM-VALUE: control characters escaped as the fmt layer does, then '"', '\' and ']' escaped
 * with a backslash as RFC 5424 says. */
static void put_param_value(trace__buf *b, const char *s, size_t len) {
  char small[4096];
  trace__buf t;
  trace__buf_init_fixed(&t, small, sizeof small);
  trace__escape(&t, s, len, TRACE__ESC_TEXT);
  for (size_t i = 0; i < t.len; i++) {
    char c = t.data[i];
    if (c == '"' || c == '\\' || c == ']')
      trace__buf_putc(b, '\\');
    trace__buf_putc(b, c);
  }
  if (t.truncated)
    trace__buf_puts(b, "...[truncated]");
}

typedef struct sd_state {
  trace__buf *b;
  const char *span; /* the span whose fields these are, or NULL */
} sd_state;

static void sd_field(void *arg, const char *name, const char *text, size_t len, bool quoted) {
  sd_state *s = arg;
  (void)quoted;
  trace__buf_putc(s->b, ' ');
  put_param_name(s->b, s->span, name);
  trace__buf_puts(s->b, "=\"");
  put_param_value(s->b, text, len);
  trace__buf_putc(s->b, '"');
}

static void sd_span(void *arg, uint32_t depth, const trace_metadata *meta) {
  (void)depth;
  ((sd_state *)arg)->span = meta->name;
}

/* The span names, root first, as "a:b:c", for the spans parameter. */
static void names_span(void *arg, uint32_t depth, const trace_metadata *meta) {
  trace__buf *b = arg;
  if (depth)
    trace__buf_putc(b, ':');
  trace__buf_puts(b, meta->name);
}

static void encode_5424(syslog_writer *w, const trace_record *rec, trace__buf *b) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  trace__utc_tm(ts.tv_sec, &tm);
  char head[400];
  int n = snprintf(head, sizeof head, "<%d>1 %04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s %s %d - ",
                   w->facility * 8 + severity(rec->meta->level), tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000, w->host, w->app, current_pid(w));
  trace__buf_put(b, head, (size_t)n);
  trace__buf_putc(b, '[');
  trace__buf_puts(b, w->sd_id);
  sd_state s = {b, NULL};
  sd_field(&s, "target", rec->meta->target, strlen(rec->meta->target), true);
  if (rec->meta->file)
    sd_field(&s, "file", rec->meta->file, strlen(rec->meta->file), true);
  char line[16];
  int ll = snprintf(line, sizeof line, "%u", (unsigned)rec->meta->line);
  sd_field(&s, "line", line, (size_t)ll, false);
  if (rec->meta->function && rec->meta->function[0])
    sd_field(&s, "function", rec->meta->function, strlen(rec->meta->function), true);
  char names[512];
  trace__buf nb;
  trace__buf_init_fixed(&nb, names, sizeof names);
  static const trace__record_span_fns name_fns = {names_span, NULL};
  trace__record_spans(rec, &name_fns, &nb);
  if (nb.len)
    sd_field(&s, "spans", nb.data, nb.len, true);
  static const trace__record_span_fns fns = {sd_span, sd_field};
  trace__record_spans(rec, &fns, &s);
  s.span = NULL;
  trace__record_fields(rec, sd_field, &s);
  trace__buf_putc(b, ']');
  size_t before = b->len;
  trace__buf_putc(b, ' ');
  char small[2048];
  trace__record_put_message(rec, b, small, sizeof small);
  if (b->len == before + 1)
    b->len = before; /* no message: the structured data is all */
}

static void encode_3164(syslog_writer *w, const trace_record *rec, trace__buf *b) {
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL);
  struct tm tm;
  trace__local_tm(now, &tm);
  char head[400];
  /* Local daemons (/dev/log) take the host from the socket; the network format names it. */
  int n = snprintf(head, sizeof head, "<%d>%s %2d %02d:%02d:%02d %s%s%.32s[%d]: ",
                   w->facility * 8 + severity(rec->meta->level), months[tm.tm_mon], tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, w->transport == T_UNIX ? "" : w->host,
                   w->transport == T_UNIX ? "" : " ", w->app, current_pid(w));
  trace__buf_put(b, head, (size_t)n);
  trace__record_text(rec, b);
}

static int syslog_encode(trace_writer *base, const trace_record *rec, trace__buf *b) {
  syslog_writer *w = (syslog_writer *)base;
  if (w->format == TRACE_SYSLOG_RFC5424)
    encode_5424(w, rec, b);
  else
    encode_3164(w, rec, b);
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Sending. */

static bool wait_fd(int fd, short events, uint64_t deadline) {
  uint64_t now = trace__mono_ns();
  if (now >= deadline)
    return false;
  struct pollfd p = {fd, events, 0};
  int rc = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
  return rc > 0 || (rc < 0 && errno == EINTR);
}

/* Under the lock. Returns 0 or an errno value. */
static int connect_locked(syslog_writer *w) {
  uint64_t now = trace__coarse_ns();
  if (now < w->retry_at)
    return ENOTCONN; /* the last attempt failed less than a second ago */
  int family = w->addr.ss_family;
  int types[2] = {w->transport == T_TCP ? SOCK_STREAM : SOCK_DGRAM, SOCK_STREAM};
  int err = 0;
  for (int t = 0; t < (w->transport == T_UNIX ? 2 : 1); t++) {
    int fd = socket(family, types[t] | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      err = errno;
      break;
    }
    int rc = connect(fd, (const struct sockaddr *)&w->addr, w->addrlen);
    if (rc != 0 && errno == EINPROGRESS) { /* TCP: wait for the handshake, boundedly */
      uint64_t deadline = trace__mono_ns() + w->timeout_ns;
      int result = ETIMEDOUT;
      for (uint64_t at; (at = trace__mono_ns()) < deadline;) {
        struct pollfd p = {fd, POLLOUT, 0};
        int pr = poll(&p, 1, (int)((deadline - at) / 1000000u) + 1);
        if (pr > 0) {
          int so = 0;
          socklen_t sl = sizeof so;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl);
          result = so;
          break;
        }
        if (pr < 0 && errno != EINTR) {
          result = errno;
          break;
        }
      }
      rc = result ? -1 : 0;
      errno = result;
    }
    if (rc == 0) {
      w->fd = fd;
      w->socktype = types[t];
      return 0;
    }
    err = errno;
    close(fd);
    if (err != EPROTOTYPE)
      break; /* /dev/log may be a stream socket: only then the second try */
  }
  w->retry_at = now + RETRY_NS;
  return err ? err : ENOTCONN;
}

/* One message, framed for streams ("LEN SP MSG"), within the deadline. */
static int send_locked(syslog_writer *w, const char *p, size_t n, uint64_t deadline) {
  char frame[24];
  size_t flen = 0;
  if (w->socktype == SOCK_STREAM)
    flen = (size_t)snprintf(frame, sizeof frame, "%zu ", n);
  struct iovec iov[2] = {{frame, flen}, {(void *)(uintptr_t)p, n}};
  size_t total = flen + n, done = 0;
  while (done < total) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    struct iovec part[2];
    int cnt = 0;
    size_t skip = done;
    for (int i = 0; i < 2; i++) {
      if (skip >= iov[i].iov_len) {
        skip -= iov[i].iov_len;
        continue;
      }
      part[cnt].iov_base = (char *)iov[i].iov_base + skip;
      part[cnt++].iov_len = iov[i].iov_len - skip;
      skip = 0;
    }
    m.msg_iov = part[0].iov_len ? part : part + 1;
    m.msg_iovlen = part[0].iov_len ? (size_t)cnt : (size_t)cnt - 1;
    ssize_t k = sendmsg(w->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k >= 0) {
      done += (size_t)k;
      if (w->socktype != SOCK_STREAM)
        break;
      continue;
    }
    if (errno == EINTR)
      continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) &&
        wait_fd(w->fd, POLLOUT, deadline))
      continue;
    int err = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
    if (done > 0 || w->socktype == SOCK_STREAM || err != ETIMEDOUT) {
      /* A frame cut half-way would corrupt the stream, and a refused datagram means the
       * daemon went away: start again with a new connection next time. */
      close(w->fd);
      w->fd = -1;
    }
    return err;
  }
  return 0;
}

static int syslog_put(trace_writer *base, const char *p, size_t n) {
  syslog_writer *w = (syslog_writer *)base;
  TRACE__KEEP_ERRNO();
  uint64_t deadline = trace__mono_ns() + w->timeout_ns;
  trace__wlock_lock(&w->lock);
  int err = 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    bool fresh = w->fd < 0;
    if (fresh && (err = connect_locked(w)) != 0)
      break;
    err = send_locked(w, p, n, deadline);
    /* A connection that was made earlier and broke (the daemon restarted): one more try on a
     * new one. A fresh connection that fails is not tried again now. */
    if (!err || fresh || w->fd >= 0 || err == ETIMEDOUT)
      break;
  }
  trace__wlock_unlock(&w->lock);
  if (err)
    trace__writer_failed(base, err);
  return err;
}

static int syslog_reopen(trace_writer *base) {
  syslog_writer *w = (syslog_writer *)base;
  trace__wlock_lock(&w->lock);
  if (w->fd >= 0)
    close(w->fd);
  w->fd = -1;
  w->retry_at = 0;
  trace__wlock_unlock(&w->lock);
  return 0;
}

static void syslog_destroy(trace_writer *base) {
  syslog_writer *w = (syslog_writer *)base;
  if (w->fd >= 0)
    close(w->fd);
  trace__free_lines(w);
}

static const writer_ops syslog_ops = {
    .put = syslog_put,
    .encode = syslog_encode,
    .reopen = syslog_reopen,
    .destroy = syslog_destroy,
};

/* ---------------------------------------------------------------------------------------- */

void trace_syslog_options_init(trace_syslog_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->format = -1;
  o->facility = 1;
  o->timeout_ms = 1000;
}

/* "HOST:PORT" or "[V6]:PORT" into an address. Returns 0, TRACE_EINVAL or TRACE_EIO. */
static int resolve(const char *spec, int socktype, struct sockaddr_storage *out, socklen_t *len) {
  char host[256];
  const char *port;
  if (spec[0] == '[') {
    const char *end = strchr(spec, ']');
    if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof host)
      return TRACE_EINVAL;
    memcpy(host, spec + 1, (size_t)(end - spec - 1));
    host[end - spec - 1] = '\0';
    port = end + 2;
  } else {
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host)
      return TRACE_EINVAL;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    port = colon + 1;
  }
  if (!*port || !*host)
    return TRACE_EINVAL;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = socktype;
  if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
    return TRACE_EIO;
  memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

int trace_writer_syslog(const trace_syslog_options *o, trace_writer **out) {
  if (!out)
    return TRACE_EINVAL;
  *out = NULL;
  if (!o || o->struct_size != sizeof *o || o->facility < 0 || o->facility > 23 ||
      o->format < -1 || o->format > TRACE_SYSLOG_RFC3164)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  syslog_writer *w = trace__alloc_lines(sizeof *w);
  if (!w)
    return TRACE_ENOMEM;
  const char *addr = o->address ? o->address : "/dev/log";
  int rc = 0;
  if (strncmp(addr, "udp:", 4) == 0 || strncmp(addr, "tcp:", 4) == 0) {
    w->transport = addr[0] == 'u' ? T_UDP : T_TCP;
    rc = resolve(addr + 4, w->transport == T_UDP ? SOCK_DGRAM : SOCK_STREAM, &w->addr,
                 &w->addrlen);
  } else {
    const char *path = strncmp(addr, "unix:", 5) == 0 ? addr + 5 : addr;
    struct sockaddr_un *un = (struct sockaddr_un *)&w->addr;
    w->transport = T_UNIX;
    if (path[0] != '/' || strlen(path) >= sizeof un->sun_path) {
      rc = TRACE_EINVAL;
    } else {
      un->sun_family = AF_UNIX;
      memcpy(un->sun_path, path, strlen(path) + 1);
      w->addrlen = (socklen_t)sizeof *un;
    }
  }
  if (rc) {
    trace__free_lines(w);
    return rc;
  }
  char label[160];
  snprintf(label, sizeof label, "syslog at %s", addr);
  trace__writer_init(&w->base, &syslog_ops, label);
  w->format = o->format >= 0 ? o->format
                             : w->transport == T_UNIX ? TRACE_SYSLOG_RFC3164 : TRACE_SYSLOG_RFC5424;
  w->facility = o->facility;
  w->timeout_ns = (uint64_t)(o->timeout_ms ? o->timeout_ms : 1000) * 1000000u;
  w->fd = -1;
  /* APP-NAME, HOSTNAME and SD-ID: printable ASCII without spaces, or the header would not parse. */
  const char *src[3] = {o->app_name && *o->app_name ? o->app_name : trace__program_name(), NULL,
                        o->sd_id && *o->sd_id ? o->sd_id : "trace@32473"};
  char host[256] = "-";
  if (o->hostname && *o->hostname)
    snprintf(host, sizeof host, "%s", o->hostname);
  else if (gethostname(host, sizeof host) != 0 || !host[0])
    snprintf(host, sizeof host, "-");
  host[sizeof host - 1] = '\0';
  src[1] = host;
  char *dst[3] = {w->app, w->host, w->sd_id};
  size_t cap[3] = {sizeof w->app, sizeof w->host, sizeof w->sd_id};
  for (int i = 0; i < 3; i++) {
    size_t k = 0;
    for (const char *s = src[i]; *s && k + 1 < cap[i]; s++) {
      unsigned char c = (unsigned char)*s;
      dst[i][k++] = c > 32 && c < 127 && !(i == 2 && (c == '=' || c == ']' || c == '"')) ? (char)c
                                                                                          : '_';
    }
    dst[i][k] = '\0';
  }
  *out = &w->base;
  return 0;
}
