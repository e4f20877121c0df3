/* uv_echo: a TCP echo server on libuv, instrumented the way docs/async.md describes.
 *
 * libuv calls back into the program for every step of every connection, one callback at a time
 * on one thread, so the log lines of many connections interleave. Each connection therefore
 * keeps its span with its state, in the struct that the handle's data points to, and every
 * callback that works for a connection enters that span first and leaves it before returning to
 * the loop (TRACE_IN_SPAN): whatever the callback logs, and whatever the code it calls logs,
 * carries the connection's id and peer. The span is created when the connection is accepted, as
 * a child of the server's span (given explicitly: the loop is in no span then), gets its byte
 * counts recorded as the connection ends, and is closed in the close callback, the last one
 * libuv makes for the handle.
 *
 *   uv_echo [--host ADDR] [--port N]
 *
 * Listens on ADDR (127.0.0.1) port N (0, the default, lets the kernel choose) and prints
 * "listening on ADDR:PORT" on stdout. The log goes to stderr, filtered by TRACE_FILTER (default
 * info), formatted by TRACE_FORMAT, with a line when a span closes. SIGINT or SIGTERM closes every
 * connection and exits with 0. A client that does not read its echo is not read from either
 * once WRITE_QUEUE_MAX bytes wait for it, so memory stays bounded. */
#define TRACE_TARGET "uv_echo"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <trace.h>
#include <trace/fmt.h>

enum {
  READ_BUFFER = 64 * 1024,
  WRITE_QUEUE_MAX = 1 << 20, /* bytes waiting for a client before reading from it stops */
  PREVIEW_MAX = 64,          /* bytes of the data shown in a log line */
  BACKLOG = 128
};

typedef struct conn conn;

typedef struct server {
  uv_loop_t *loop;
  uv_tcp_t listener;     /* listener.data points to the server */
  uv_signal_t sigint, sigterm;
  trace_span span;       /* "server", from listen to exit */
  uint64_t next_id;
  conn *conns;           /* open connections, to close them on a signal */
  bool stopping;
} server;

struct conn {
  uv_tcp_t handle;       /* handle.data points to the conn */
  server *srv;
  conn *prev, *next;
  trace_span span;       /* "conn", from accept to the close callback */
  uv_shutdown_t shutdown; /* after the client's EOF: our side ends once every echo is out */
  uint64_t bytes_in, bytes_out;
  bool paused;           /* reading stopped: too much waiting for the client */
  bool closing;
};

/* One echo in flight: the bytes read, written back as they are. */
typedef struct echo {
  uv_write_t req;        /* req.data points to the conn */
  uv_buf_t buf;
} echo;

static void on_close(uv_handle_t *h);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Formats a socket address as host:port ([host]:port for IPv6). */
static void format_addr(const struct sockaddr_storage *sa, char *out, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    uv_ip4_name(in, host, sizeof host);
    port = ntohs(in->sin_port);
    snprintf(out, cap, "%s:%d", host, port);
  } else if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(in6, host, sizeof host);
    port = ntohs(in6->sin6_port);
    snprintf(out, cap, "[%s]:%d", host, port);
  } else {
    snprintf(out, cap, "?");
  }
}

/* Starts closing a connection; on_close finishes. Called inside the connection's span. Writes
 * still queued are cancelled: the paths that must not lose an echo (the client's EOF) go through
 * uv_shutdown first. */
static void conn_close(conn *c) {
  if (c->closing)
    return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->handle, on_close);
}

/* The loop's last word on a connection: its span ends here, with the struct that holds it. The
 * byte counts are recorded here, not when closing starts: libuv runs the callbacks of writes
 * that completed meanwhile before this one, and they count. */
static void on_close(uv_handle_t *h) {
  conn *c = h->data;
  server *srv = c->srv;
  TRACE_RECORD(&c->span, bytes_in, c->bytes_in);
  TRACE_RECORD(&c->span, bytes_out, c->bytes_out);
  TRACE_IN_SPAN(&c->span) { TRACE_INFO("connection closed"); }
  trace_span_close(&c->span);
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  free(c);
}

/* libuv asks for a buffer before each read. Nothing is logged here (a failed allocation reaches
 * on_read as UV_ENOBUFS, which logs it inside the span), so the span is not entered. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = malloc(READ_BUFFER);
  buf->len = buf->base ? READ_BUFFER : 0;
}

static void on_write(uv_write_t *req, int status) {
  echo *e = (echo *)req;
  conn *c = req->data;
  TRACE_IN_SPAN(&c->span) {
    if (status == 0) {
      c->bytes_out += e->buf.len;
      TRACE_DEBUG(TF(bytes, (uint64_t)e->buf.len), "echoed");
    } else if (status != UV_ECANCELED) { /* ECANCELED: closed while the write waited */
      TRACE_WARN(TF(error, uv_strerror(status)), "write failed");
      conn_close(c);
    }
    /* The client has caught up: read from it again. */
    if (c->paused && !c->closing &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->handle) < WRITE_QUEUE_MAX / 2) {
      c->paused = false;
      TRACE_DEBUG("client caught up: reading again");
      uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
    }
  }
  free(e->buf.base);
  free(e);
}

/* Every echo has gone out after the client's EOF (or the connection was closed meanwhile:
 * UV_ECANCELED, and conn_close has nothing left to do). */
static void on_shutdown(uv_shutdown_t *req, int status) {
  conn *c = req->handle->data;
  TRACE_IN_SPAN(&c->span) {
    if (status != 0 && status != UV_ECANCELED)
      TRACE_WARN(TF(error, uv_strerror(status)), "shutdown failed");
    conn_close(c);
  }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  conn *c = stream->data;
  TRACE_IN_SPAN(&c->span) {
    if (nread > 0) {
      c->bytes_in += (uint64_t)nread;
      size_t shown = (size_t)nread < PREVIEW_MAX ? (size_t)nread : PREVIEW_MAX;
      TRACE_DEBUG(TF(bytes, (uint64_t)nread), TF_STR(data, buf->base, shown), "read");
      echo *e = malloc(sizeof *e);
      int rc = e ? 0 : UV_ENOMEM;
      if (e) {
        e->req.data = c;
        e->buf = uv_buf_init(buf->base, (unsigned)nread); /* the write owns the buffer now */
        rc = uv_write(&e->req, stream, &e->buf, 1, on_write);
        if (rc != 0)
          free(e);
      }
      if (rc != 0) {
        free(buf->base);
        TRACE_WARN(TF(error, uv_strerror(rc)), "cannot echo");
        conn_close(c);
      } else if (uv_stream_get_write_queue_size(stream) >= WRITE_QUEUE_MAX) {
        c->paused = true;
        TRACE_DEBUG(TF(queued, (uint64_t)uv_stream_get_write_queue_size(stream)),
                    "client is slow to read: pausing");
        uv_read_stop(stream);
      }
    } else {
      free(buf->base);
      if (nread == UV_EOF) {
        /* The client may still be reading: send it every echo queued, then end our side. A
         * close here would cancel the writes still waiting (a client that sends fast and closes
         * its side early would lose the end of its echo). */
        TRACE_INFO("client closed its side");
        uv_read_stop(stream);
        int rc = uv_shutdown(&c->shutdown, stream, on_shutdown);
        if (rc != 0) {
          TRACE_WARN(TF(error, uv_strerror(rc)), "cannot shut down");
          conn_close(c);
        }
      } else if (nread < 0) {
        TRACE_WARN(TF(error, uv_strerror((int)nread)), "read failed");
        conn_close(c);
      }
      /* nread == 0: nothing to read this time (EAGAIN); libuv calls again. */
    }
  }
}

/* A connection that could not be set up: its handle only needs freeing. */
static void on_close_unused(uv_handle_t *h) { free(h); }

static void on_connection(uv_stream_t *listener, int status) {
  server *srv = listener->data;
  TRACE_IN_SPAN(&srv->span) {
    if (status < 0) {
      TRACE_WARN(TF(error, uv_strerror(status)), "accept failed");
      return;
    }
    conn *c = calloc(1, sizeof *c); /* calloc: the span is none until created */
    if (!c) {
      /* libuv accepts nothing more until this connection is taken: take it and drop it. */
      uv_tcp_t *h = malloc(sizeof *h);
      TRACE_ERROR("out of memory: connection dropped");
      if (h && uv_tcp_init(srv->loop, h) == 0) {
        uv_accept(listener, (uv_stream_t *)h);
        uv_close((uv_handle_t *)h, on_close_unused);
      } else {
        free(h);
      }
      return;
    }
    uv_tcp_init(srv->loop, &c->handle);
    int rc = uv_accept(listener, (uv_stream_t *)&c->handle);
    if (rc != 0) {
      TRACE_WARN(TF(error, uv_strerror(rc)), "accept failed");
      uv_close((uv_handle_t *)&c->handle, on_close_unused);
      return;
    }
    c->srv = srv;
    c->handle.data = c;
    c->next = srv->conns;
    if (srv->conns)
      srv->conns->prev = c;
    srv->conns = c;
    struct sockaddr_storage peer;
    int len = sizeof peer;
    char peer_text[64] = "?";
    if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&peer, &len) == 0)
      format_addr(&peer, peer_text, sizeof peer_text);
    uint64_t id = ++srv->next_id; /* not inside TF(): disabled callsites evaluate nothing */
    /* The span goes where the loop will find it again: in the struct the handle points to. */
    c->span = TRACE_SPAN_IN(&srv->span, TRACE_LEVEL_INFO, "conn", TF(id, id), TF(peer, peer_text),
                            TF(bytes_in, TRACE_EMPTY), TF(bytes_out, TRACE_EMPTY));
    TRACE_IN_SPAN(&c->span) {
      TRACE_INFO("accepted connection");
      rc = uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
      if (rc != 0) {
        TRACE_WARN(TF(error, uv_strerror(rc)), "cannot read");
        conn_close(c);
      }
    }
  }
}

static void on_signal(uv_signal_t *sig, int signum) {
  server *srv = sig->data;
  if (srv->stopping)
    return;
  srv->stopping = true;
  TRACE_IN_SPAN(&srv->span) {
    TRACE_INFO(TF(signal, signum), "shutting down");
    for (conn *c = srv->conns; c; c = c->next)
      TRACE_IN_SPAN(&c->span) {
        if (!c->closing) {
          TRACE_INFO("closing connection: shutting down");
          conn_close(c);
        }
      }
  }
  uv_close((uv_handle_t *)&srv->listener, NULL);
  uv_close((uv_handle_t *)&srv->sigint, NULL);
  uv_close((uv_handle_t *)&srv->sigterm, NULL);
  /* uv_run returns once every handle is closed. */
}

static int usage(FILE *f, int rc) {
  fputs("usage: uv_echo [--host ADDR] [--port N]\n"
        "  A TCP echo server on libuv. Prints \"listening on ADDR:PORT\" on stdout; port 0 (the\n"
        "  default) lets the kernel choose. Log on stderr (TRACE_FILTER, TRACE_FORMAT).\n"
        "  SIGINT or SIGTERM: close every connection and exit.\n",
        f);
  return rc;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  long port = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0)
      return usage(stdout, 0);
    if (i + 1 < argc && strcmp(argv[i], "--host") == 0) {
      host = argv[++i];
    } else if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
      char *end;
      port = strtol(argv[++i], &end, 10);
      if (*end || port < 0 || port > 65535)
        return usage(stderr, 2);
    } else {
      return usage(stderr, 2);
    }
  }

  trace_init_options o;
  trace_init_options_init(&o);
  o.fmt.span_events = TRACE_FMT_SPAN_CLOSE; /* a line when a connection's span ends */
  int rc = trace_init_with(&o);
  if (rc != 0) {
    fprintf(stderr, "uv_echo: tracing: %s\n", trace_strerror(rc));
    return 1;
  }

  server srv = {.loop = uv_default_loop(), .span = TRACE_SPAN_NONE_INIT};
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof addr);
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr) != 0) {
    fprintf(stderr, "uv_echo: not an IP address: %s\n", host);
    trace_shutdown();
    return 2;
  }
  uv_tcp_init(srv.loop, &srv.listener);
  srv.listener.data = &srv;
  rc = uv_tcp_bind(&srv.listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&srv.listener, BACKLOG, on_connection);
  if (rc != 0) {
    fprintf(stderr, "uv_echo: cannot listen on %s port %ld: %s\n", host, port, uv_strerror(rc));
    uv_close((uv_handle_t *)&srv.listener, NULL);
    uv_run(srv.loop, UV_RUN_DEFAULT);
    uv_loop_close(srv.loop);
    trace_shutdown();
    return 1;
  }
  struct sockaddr_storage local;
  int len = sizeof local;
  char local_text[64] = "?";
  if (uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&local, &len) == 0)
    format_addr(&local, local_text, sizeof local_text);
  srv.span = TRACE_INFO_SPAN("server", TF(local, local_text));
  TRACE_IN_SPAN(&srv.span) { TRACE_INFO("listening"); }
  printf("listening on %s\n", local_text);
  fflush(stdout);

  uv_signal_init(srv.loop, &srv.sigint);
  uv_signal_init(srv.loop, &srv.sigterm);
  srv.sigint.data = srv.sigterm.data = &srv;
  uv_signal_start(&srv.sigint, on_signal, SIGINT);
  uv_signal_start(&srv.sigterm, on_signal, SIGTERM);

  uv_run(srv.loop, UV_RUN_DEFAULT);

  TRACE_IN_SPAN(&srv.span) { TRACE_INFO("stopped"); }
  trace_span_close(&srv.span);
  uv_loop_close(srv.loop);
  trace_shutdown();
  return 0;
}
