/* The epoll server of the load example (see server.h).
 *
 * One thread multiplexes every connection, the way an async runtime runs many tasks on one
 * worker: their events interleave in the output, and only the spans say which line belongs to
 * which connection and request. Each connection keeps its spans (the listener's, its own conn
 * span, the current request span) and every callback that works for it enters them first and
 * exits them before returning to epoll_wait, so whatever it logs lands in the right context.
 *
 * Robustness: every socket is non-blocking and every callback does a bounded amount of work, so
 * no client can stall the loop. A connection's request must arrive within the read timeout
 * (server_set_read_timeout, READ_TIMEOUT_MS by default) and fit in HTTP_REQUEST_MAX bytes; its
 * response must be taken within WRITE_TIMEOUT_MS; a listener holds at most max_conns
 * connections. Memory is therefore bounded by max_conns buffers. A full listener makes room for
 * a new connection by closing one that only waits on its client (answered and lingering, or the
 * one that has waited longest for its request): idle clients (or slow ones) cannot lock anybody
 * out, not even for the read timeout, nor after it. */
#define TRACE_TARGET "load"

#include "server.h"

#include <trace/context.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
  READ_TIMEOUT_MS = 5000,    /* from accept to a complete request: a slowloris client gets 408 */
  WRITE_TIMEOUT_MS = 10000,  /* for the client to take the whole response */
  LINGER_TIMEOUT_MS = 2000,  /* see PHASE_LINGER */
  LINGER_MAX_BYTES = 1 << 20,
  ACCEPT_BATCH = 32,         /* accepts per wake-up, so a flood cannot starve other sockets */
  ACCEPT_PAUSE_MS = 100,     /* out of descriptors: stop accepting for a moment */
  DROP_REPORT_MS = 1000,     /* at most one "dropping connections" warning per second */
  MAX_LISTENERS = 4,
  MAX_EVENTS = 64
};

/* What an epoll_event's data.ptr points to starts with one of these. */
typedef enum handler_kind { HANDLER_LISTENER, HANDLER_CONN, HANDLER_WAKE } handler_kind;

/* A connection is in exactly one phase, and in that phase's list, ordered by deadline: every
 * deadline of a phase is "entered the phase + the phase's timeout", so appending keeps the order
 * and the earliest deadline of all is one of three list heads. */
typedef enum phase {
  PHASE_READ,   /* reading the request */
  PHASE_WRITE,  /* sending the response */
  /* Response sent and our side shut down: reading (and discarding) until the client closes.
   * Closing at once with unread bytes from the client would make the kernel send a reset, and
   * the client could lose the response it has not read yet. */
  PHASE_LINGER,
  PHASE_COUNT
} phase;


typedef struct conn conn;
typedef struct conn_list {
  conn *head, *tail;
} conn_list;

typedef struct listener {
  handler_kind kind;
  int fd;
  const service *svc;
  trace_span span;
  size_t conns, max_conns;
  uint64_t paused_until;  /* 0: accepting */
  uint64_t dropped;       /* connections dropped since the last report */
  uint64_t evicted;       /* waiting connections closed to make room, since the last report */
  uint64_t last_drop_report;
} listener;

struct conn {
  handler_kind kind;
  int fd;
  listener *l;
  phase ph;
  uint64_t deadline;
  conn *prev, *next;
  uint32_t events; /* what epoll watches for us */
  trace_span span;
  trace_span req_span; /* none outside a request */
  char remote[64];
  char *in; /* HTTP_REQUEST_MAX bytes and a NUL */
  size_t in_len;
  size_t scanned;  /* http_head_end's resume point */
  size_t head_len; /* 0 until the head is complete */
  http_request req;
  http_response rsp;
  size_t drained; /* bytes discarded while lingering */
};

struct server {
  int ep;
  int wake_fd;
  handler_kind wake_kind; /* the epoll handle of wake_fd */
  bool stopping;
  listener listeners[MAX_LISTENERS];
  size_t nlisteners;
  conn_list phases[PHASE_COUNT];
  uint64_t phase_timeout_ms[PHASE_COUNT];
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void format_addr(const struct sockaddr_in *sa, char *buf, size_t cap) {
  char ip[INET_ADDRSTRLEN];
  if (!inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof ip))
    snprintf(ip, sizeof ip, "?");
  snprintf(buf, cap, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
}

/* ---- connections: lists, spans, epoll interest ------------------------------------------- */

static void list_remove(conn_list *list, conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    list->head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    list->tail = c->prev;
  c->prev = c->next = NULL;
}

static void list_append(conn_list *list, conn *c) {
  c->prev = list->tail;
  c->next = NULL;
  if (list->tail)
    list->tail->next = c;
  else
    list->head = c;
  list->tail = c;
}

static void conn_set_phase(server *s, conn *c, phase ph, uint64_t now) {
  list_remove(&s->phases[c->ph], c);
  c->ph = ph;
  c->deadline = now + s->phase_timeout_ms[ph];
  list_append(&s->phases[ph], c);
}

/* Entered in this order, exited in the reverse one. A none span (disabled by the filter, or no
 * request yet) is a no-op; the listener span keeps events in context when the conn span is none. */
static void conn_enter(conn *c) {
  trace_span_enter(&c->l->span);
  trace_span_enter(&c->span);
  trace_span_enter(&c->req_span);
}

static void conn_exit(conn *c) {
  trace_span_exit(&c->req_span);
  trace_span_exit(&c->span);
  trace_span_exit(&c->l->span);
}

/* Ends the request span (entered, like every span of a connection inside its callbacks). */
static void request_end(conn *c) {
  trace_span_exit(&c->req_span);
  trace_span_close(&c->req_span);
}

/* Closes and frees c; called inside c's spans, which it exits. */
static void conn_destroy(server *s, conn *c) {
  request_end(c);
  TRACE_TRACE("closing connection");
  trace_span_exit(&c->span);
  trace_span_close(&c->span);
  trace_span_exit(&c->l->span);
  /* close() removes the descriptor from the epoll set. */
  close(c->fd);
  list_remove(&s->phases[c->ph], c);
  c->l->conns--;
  http_response_reset(&c->rsp);
  free(c->in);
  free(c);
}

static bool conn_watch(server *s, conn *c, uint32_t events) {
  if (c->events == events)
    return true;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.ptr = c;
  if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
    TRACE_WARN(TF_DISPLAY(error, strerror(errno)), "cannot watch the connection; closing it");
    return false;
  }
  c->events = events;
  return true;
}

/* ---- the phases ---------------------------------------------------------------------------- */

static bool conn_write(server *s, conn *c, uint64_t now);

static bool start_response(server *s, conn *c, uint64_t now) {
  conn_set_phase(s, c, PHASE_WRITE, now);
  /* Most responses fit in the socket buffer: try at once rather than wait for EPOLLOUT. */
  return conn_write(s, c, now);
}

/* A response the server itself decides (malformed or oversized request, timeout). */
static bool respond_error(server *s, conn *c, int status, const char *error, uint64_t now) {
  TRACE_WARN(TF(rsp.status, status), TF_DISPLAY(rsp.error, error));
  http_response_text(&c->rsp, status, error);
  return start_response(s, c, now);
}

/* The head is complete in c->in[0, head_len): parse it and open the request span. */
static bool begin_request(server *s, conn *c, uint64_t now) {
  const char *error = NULL;
  int status = http_parse_head(c->in, c->head_len, &c->req, &error);
  if (status)
    return respond_error(s, c, status, error, now);
  /* The caller's trace context (W3C traceparent and tracestate): the request continues its
   * trace, or starts one of its own when there is none (remote is zeroed then). Locally the
   * span stays inside the connection's. */
  trace_context remote;
  trace_header headers[HTTP_MAX_HEADERS];
  for (size_t i = 0; i < c->req.header_count; i++)
    headers[i] = (trace_header){c->req.headers[i].name, c->req.headers[i].value};
  const char *why = NULL;
  trace_context_extract(headers, c->req.header_count, &remote, &why);
  c->req_span = TRACE_INFO_SPAN_FROM(&remote, "request", TF_DISPLAY(req.method, c->req.method),
                                     TF(req.path, c->req.target));
  trace_span_enter(&c->req_span);
  TRACE_DEBUG(TF_FMT(req.headers, http_format_headers, &c->req),
              TF_DISPLAY(req.version, c->req.version), "received request.");
  if (why && http_header_get(&c->req, "traceparent"))
    TRACE_DEBUG(TF_DISPLAY(reason, why), "ignoring the trace context of the request");
  if (c->l->svc->reads_body) {
    uint64_t room = HTTP_REQUEST_MAX - c->head_len;
    if (c->req.content_length > room)
      return respond_error(s, c, 413, "request body too large", now);
  }
  return true;
}

static bool conn_read(server *s, conn *c, uint64_t now) {
  ssize_t n;
  do
    n = recv(c->fd, c->in + c->in_len, HTTP_REQUEST_MAX - c->in_len, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return true;
    TRACE_DEBUG(TF_DISPLAY(error, strerror(errno)), "connection failed while reading the request");
    return false;
  }
  if (n == 0) {
    if (c->in_len > 0)
      TRACE_DEBUG(TF(received, c->in_len), "client disconnected mid-request");
    else
      TRACE_DEBUG("client disconnected without sending a request");
    return false;
  }
  c->in_len += (size_t)n;
  if (!c->head_len) {
    c->head_len = http_head_end(c->in, c->in_len, &c->scanned);
    if (!c->head_len) {
      if (c->in_len == HTTP_REQUEST_MAX)
        return respond_error(s, c, 413, "request head too large", now);
      return true;
    }
    /* A refused request has its answer under way (or its connection failed) already. */
    bool keep = begin_request(s, c, now);
    if (!keep || c->ph != PHASE_READ)
      return keep;
  }
  size_t body_len = 0;
  if (c->l->svc->reads_body) {
    body_len = (size_t)c->req.content_length;
    if (c->in_len - c->head_len < body_len)
      return true; /* the rest of the body is on its way */
  }
  c->in[c->head_len + body_len] = '\0';
  c->l->svc->handle(&c->req, c->in + c->head_len, body_len, &c->rsp);
  return start_response(s, c, now);
}

static bool conn_write(server *s, conn *c, uint64_t now) {
  int rc = http_response_send(c->fd, &c->rsp);
  if (rc == HTTP_SEND_AGAIN)
    return conn_watch(s, c, EPOLLOUT);
  if (rc == HTTP_SEND_ERROR) {
    TRACE_DEBUG(TF(rsp.status, c->rsp.status), TF_DISPLAY(error, strerror(errno)),
                "client went away before the response was sent");
    return false;
  }
  TRACE_TRACE(TF(rsp.status, c->rsp.status), "response sent.");
  request_end(c);
  http_response_reset(&c->rsp);
  if (shutdown(c->fd, SHUT_WR) != 0)
    return false; /* the client is gone already (ENOTCONN): nothing to linger for */
  conn_set_phase(s, c, PHASE_LINGER, now);
  return conn_watch(s, c, EPOLLIN);
}

static bool conn_drain(conn *c) {
  char sink[16 * 1024];
  /* A few reads per wake-up, then back to the loop: fair to the other connections. */
  for (int i = 0; i < 4; i++) {
    ssize_t n = recv(c->fd, sink, sizeof sink, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0)
      return false; /* the client closed: done */
    c->drained += (size_t)n;
    if (c->drained > LINGER_MAX_BYTES)
      return false;
  }
  return true;
}

static void conn_event(server *s, conn *c, uint32_t events) {
  (void)events; /* errors and hang-ups show up in the recv or send of the phase */
  uint64_t now = now_ms();
  conn_enter(c);
  bool keep;
  switch (c->ph) {
  case PHASE_READ: keep = conn_read(s, c, now); break;
  case PHASE_WRITE: keep = conn_write(s, c, now); break;
  default: keep = conn_drain(c); break;
  }
  if (keep)
    conn_exit(c);
  else
    conn_destroy(s, c);
}

static void conn_timeout(server *s, conn *c, uint64_t now) {
  conn_enter(c);
  bool keep = false;
  switch (c->ph) {
  case PHASE_READ:
    /* Too slow (or silent): tell it why, if its socket takes the answer, then close. */
    keep = respond_error(s, c, 408, "timed out waiting for the request", now);
    break;
  case PHASE_WRITE:
    TRACE_DEBUG(TF(rsp.status, c->rsp.status), TF(sent, c->rsp.sent),
                "client too slow to take the response");
    break;
  default: break;
  }
  if (keep)
    conn_exit(c);
  else
    conn_destroy(s, c);
}

/* ---- listeners ----------------------------------------------------------------------------- */

static void report_drops(listener *l, uint64_t now) {
  TRACE_WARN(TF(evicted, l->evicted), TF(dropped, l->dropped), TF(max_conns, l->max_conns),
             "connection limit reached; closed the longest-waiting connections (evicted) or new "
             "ones (dropped)");
  l->dropped = l->evicted = 0;
  l->last_drop_report = now;
}

/* The oldest connection of listener l in phase p (each phase's list is in order of entry). */
static conn *oldest_in_phase(server *s, listener *l, phase p) {
  conn *c = s->phases[p].head;
  while (c && c->l != l)
    c = c->next;
  return c;
}

/* The listener is full: makes room by closing a connection that is only waiting on its client.
 * First one that has had its whole response and lingers for the client to close: an idle client
 * answered 408 by the read timeout never closes, and otherwise keeps its slot for the linger
 * time, so that idle clients would lock the operator out after all, one read timeout later.
 * What it sent since is read first, so that the close sends no reset that could destroy the
 * response it has not read. Then the one that has waited longest for its request. Connections
 * sending a response are left alone. Returns whether there is room now. */
static bool evict_oldest_waiting(server *s, listener *l) {
  conn *c = oldest_in_phase(s, l, PHASE_LINGER);
  if (c)
    (void)conn_drain(c);
  else
    c = oldest_in_phase(s, l, PHASE_READ);
  if (!c)
    return false;
  conn_enter(c);
  TRACE_DEBUG(TF(received, c->in_len), TF(answered, c->ph == PHASE_LINGER),
              TF(max_conns, l->max_conns),
              "connection limit reached; closing the connection that has waited longest");
  conn_destroy(s, c);
  l->evicted++;
  return true;
}

static void listener_pause(server *s, listener *l, uint64_t now) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.data.ptr = l;
  /* Level-triggered, a listener we cannot accept from would wake us in a busy loop. */
  if (epoll_ctl(s->ep, EPOLL_CTL_MOD, l->fd, &ev) == 0)
    l->paused_until = now + ACCEPT_PAUSE_MS;
}

static void listener_resume(server *s, listener *l) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.ptr = l;
  if (epoll_ctl(s->ep, EPOLL_CTL_MOD, l->fd, &ev) == 0)
    l->paused_until = 0;
}

static void accept_one(server *s, listener *l, int fd, const struct sockaddr_in *peer,
                       uint64_t now) {
  if (l->conns >= l->max_conns && !evict_oldest_waiting(s, l)) {
    close(fd);
    l->dropped++;
  }
  if ((l->dropped || l->evicted) && now - l->last_drop_report >= DROP_REPORT_MS)
    report_drops(l, now);
  if (l->conns >= l->max_conns)
    return;
  conn *c = calloc(1, sizeof *c);
  char *in = c ? malloc(HTTP_REQUEST_MAX + 1) : NULL;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.ptr = c;
  if (!in || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
    TRACE_WARN(TF_DISPLAY(error, strerror(in ? errno : ENOMEM)), "cannot take a connection");
    free(in);
    free(c);
    close(fd);
    return;
  }
  c->kind = HANDLER_CONN;
  c->fd = fd;
  c->l = l;
  c->in = in;
  c->events = EPOLLIN;
  c->ph = PHASE_READ;
  c->deadline = now + s->phase_timeout_ms[PHASE_READ];
  list_append(&s->phases[PHASE_READ], c);
  l->conns++;
  format_addr(peer, c->remote, sizeof c->remote);
  c->span = TRACE_INFO_SPAN("conn", TF_DISPLAY(remote, c->remote));
  trace_span_enter(&c->span);
  TRACE_DEBUG("accepted connection");
  trace_span_exit(&c->span);
}

static void listener_event(server *s, listener *l) {
  uint64_t now = now_ms();
  trace_span_enter(&l->span);
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    memset(&peer, 0, sizeof peer);
    int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      accept_one(s, l, fd, &peer, now);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      break;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      TRACE_WARN(TF_DISPLAY(error, strerror(errno)), TF(pause_ms, ACCEPT_PAUSE_MS),
                 "cannot accept connections for now");
      listener_pause(s, l, now);
      break;
    }
    /* EINTR, and the errors of one failed connection (ECONNABORTED, EPROTO, network errors that
     * Linux passes on from the new socket): the next one may well succeed. */
  }
  trace_span_exit(&l->span);
}

/* ---- the loop ---------------------------------------------------------------------------- */

server *server_new(void) {
  server *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->wake_kind = HANDLER_WAKE;
  s->phase_timeout_ms[PHASE_READ] = READ_TIMEOUT_MS;
  s->phase_timeout_ms[PHASE_WRITE] = WRITE_TIMEOUT_MS;
  s->phase_timeout_ms[PHASE_LINGER] = LINGER_TIMEOUT_MS;
  s->ep = epoll_create1(EPOLL_CLOEXEC);
  s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.ptr = &s->wake_kind;
  if (s->ep < 0 || s->wake_fd < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->wake_fd, &ev) != 0) {
    int err = errno;
    server_free(s);
    errno = err;
    return NULL;
  }
  return s;
}

int server_listen(server *s, const service *svc, uint16_t port, size_t max_conns, char *local,
                  size_t local_cap) {
  if (s->nlisteners == MAX_LISTENERS)
    return -ENOSPC;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  listener *l = &s->listeners[s->nlisteners];
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.ptr = l;
  /* SO_REUSEADDR: a restarted demo can bind while old connections sit in TIME_WAIT. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0 ||
      epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  memset(l, 0, sizeof *l);
  l->kind = HANDLER_LISTENER;
  l->fd = fd;
  l->svc = svc;
  l->max_conns = max_conns;
  format_addr(&sa, local, local_cap);
  l->span = svc->listener_span(local);
  s->nlisteners++;
  return ntohs(sa.sin_port);
}

void server_set_read_timeout(server *s, unsigned ms) {
  s->phase_timeout_ms[PHASE_READ] = ms;
}

/* The epoll_wait timeout: until the earliest deadline of a connection or listener. */
static int next_timeout(const server *s, uint64_t now) {
  uint64_t next = UINT64_MAX;
  for (int p = 0; p < PHASE_COUNT; p++)
    if (s->phases[p].head && s->phases[p].head->deadline < next)
      next = s->phases[p].head->deadline;
  for (size_t i = 0; i < s->nlisteners; i++) {
    const listener *l = &s->listeners[i];
    if (l->paused_until && l->paused_until < next)
      next = l->paused_until;
    if ((l->dropped || l->evicted) && l->last_drop_report + DROP_REPORT_MS < next)
      next = l->last_drop_report + DROP_REPORT_MS;
  }
  if (next == UINT64_MAX)
    return -1;
  if (next <= now)
    return 0;
  return next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

static void run_timers(server *s, uint64_t now) {
  for (int p = 0; p < PHASE_COUNT; p++)
    while (s->phases[p].head && s->phases[p].head->deadline <= now)
      conn_timeout(s, s->phases[p].head, now);
  for (size_t i = 0; i < s->nlisteners; i++) {
    listener *l = &s->listeners[i];
    if (l->paused_until && l->paused_until <= now)
      listener_resume(s, l);
    if ((l->dropped || l->evicted) && now - l->last_drop_report >= DROP_REPORT_MS) {
      trace_span_enter(&l->span);
      report_drops(l, now);
      trace_span_exit(&l->span);
    }
  }
}

int server_run(server *s) {
  int result = 0;
  struct epoll_event events[MAX_EVENTS];
  while (!s->stopping) {
    int n = epoll_wait(s->ep, events, MAX_EVENTS, next_timeout(s, now_ms()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      TRACE_ERROR(TF_DISPLAY(error, strerror(errno)), "the event loop failed");
      result = -1;
      break;
    }
    /* The connections' events first, the listeners' last. A connection's handler closes only
     * its own connection, but accepting may close another one to make room
     * (evict_oldest_waiting), whose event could come later in this batch and would then point at
     * freed memory: once the listeners' turn comes, every connection's event has been handled. */
    listener *ready[MAX_LISTENERS]; /* an event names its listener once per batch */
    size_t nready = 0;
    for (int i = 0; i < n; i++) {
      handler_kind *h = events[i].data.ptr;
      if (*h == HANDLER_CONN) {
        conn_event(s, (conn *)h, events[i].events);
      } else if (*h == HANDLER_LISTENER) {
        if (nready < MAX_LISTENERS)
          ready[nready++] = (listener *)h;
      } else {
        uint64_t count;
        ssize_t r = read(s->wake_fd, &count, sizeof count);
        (void)r; /* EAGAIN: someone else drained it; either way we stop */
        s->stopping = true;
      }
    }
    for (size_t i = 0; i < nready; i++)
      listener_event(s, ready[i]);
    run_timers(s, now_ms());
  }
  for (int p = 0; p < PHASE_COUNT; p++)
    while (s->phases[p].head) {
      conn *c = s->phases[p].head;
      conn_enter(c);
      TRACE_DEBUG("server shutting down");
      conn_destroy(s, c);
    }
  for (size_t i = 0; i < s->nlisteners; i++) {
    close(s->listeners[i].fd);
    trace_span_close(&s->listeners[i].span);
  }
  s->nlisteners = 0;
  return result;
}

void server_stop(server *s) {
  uint64_t one = 1;
  ssize_t r;
  /* EAGAIN means the counter is full: the loop has been told already. */
  do
    r = write(s->wake_fd, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

void server_free(server *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nlisteners; i++) {
    close(s->listeners[i].fd);
    trace_span_close(&s->listeners[i].span);
  }
  if (s->wake_fd >= 0)
    close(s->wake_fd);
  if (s->ep >= 0)
    close(s->ep);
  free(s);
}
