/* The load generator of the load example: a few threads sending random single-letter requests
 * to the server, with "/" and "/z" often enough (10% each) to show its 404s and its mysterious
 * 500s. Each thread lives in a load_gen span and each request in a request span, so that a
 * filter like [{req.path="/z"}]=trace follows a request from the client into the server.
 *
 * Plain blocking sockets: these threads are the clients, not the subject of the example. Send and
 * receive time-outs keep a stuck server from hanging them (and the program's shutdown). */
#define TRACE_TARGET "gen"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <trace/context.h>

#include "load.h"

enum {
  IO_TIMEOUT_S = 5,
  RESPONSE_MAX = 64 * 1024, /* far above what the generator asks for */
  COUNT_MAX = 32            /* Content-Length values 0..31: short enough to read in the output */
};

typedef struct worker {
  struct loadgen *g;
  unsigned index;
  pthread_t thread;
  uint64_t rng;
  char response[RESPONSE_MAX + 1];
} worker;

struct loadgen {
  struct sockaddr_in server;
  char addr[32];
  unsigned pause_ms;
  unsigned nworkers;
  worker *workers;
  pthread_mutex_t lock;
  pthread_cond_t wake; /* on CLOCK_MONOTONIC: wall-clock jumps do not change the pauses */
  bool stop;
  /* Updated with relaxed atomics: only the summary at the end reads them. */
  uint64_t requests, ok, errors, failures;
};

/* xorshift64*: good enough to pick letters, and per thread, so no lock and no rand(). */
static uint64_t next_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static void count(uint64_t *counter) { __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

/* Waits ms milliseconds unless told to stop; returns whether to stop. */
static bool pause_or_stop(loadgen *g, unsigned ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += (time_t)(ms / 1000);
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&g->lock);
  while (!g->stop && pthread_cond_timedwait(&g->wake, &g->lock, &until) != ETIMEDOUT) {
  }
  bool stop = g->stop;
  pthread_mutex_unlock(&g->lock);
  return stop;
}

static int send_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads until the server closes; returns the length, or -1 (errno set; EMSGSIZE if too long). */
static ssize_t recv_all(int fd, char *buf, size_t cap) {
  size_t len = 0;
  for (;;) {
    if (len == cap) {
      errno = EMSGSIZE;
      return -1;
    }
    ssize_t n = recv(fd, buf + len, cap - len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0)
      return (ssize_t)len;
    len += (size_t)n;
  }
}

static int connect_server(const loadgen *g) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct timeval tv = {IO_TIMEOUT_S, 0};
  /* On Linux SO_SNDTIMEO also bounds connect(). */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
      connect(fd, (const struct sockaddr *)&g->server, sizeof g->server) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

static void request_failed(loadgen *g, const char *what) {
  char buf[128];
  count(&g->failures);
  TRACE_WARN(TF_DISPLAY(error, strerror_r(errno, buf, sizeof buf)), "%s", what);
}

/* The request span's trace context as W3C headers (traceparent, and tracestate when the trace
 * carries one), when a layer keeps trace contexts (OTLP export); "" otherwise. */
static void context_headers(const trace_span *span, char *out, size_t cap) {
  trace_context c;
  out[0] = '\0';
  if (trace_span_context(span, &c) != 0)
    return;
  char tp[TRACE_TRACEPARENT_SIZE];
  trace_traceparent_format(&c, tp, sizeof tp);
  snprintf(out, cap, "traceparent: %s\r\n%s%s%s", tp, c.tracestate_len ? "tracestate: " : "",
           c.tracestate, c.tracestate_len ? "\r\n" : "");
}

/* One request, inside its request span. */
static void send_request(worker *w, const trace_span *span, const char *path, unsigned n) {
  loadgen *g = w->g;
  count(&g->requests);
  TRACE_TRACE("sending request...");
  char context[TRACE_TRACEPARENT_SIZE + TRACE_TRACESTATE_MAX + 40];
  context_headers(span, context, sizeof context);
  char req[128 + sizeof context];
  int len = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\ncontent-length: %u\r\nhost: %s\r\n%s\r\n", path, n,
                     g->addr, context);
  int fd = connect_server(g);
  if (fd < 0) {
    request_failed(g, "could not connect");
    return;
  }
  if (send_all(fd, req, (size_t)len) != 0) {
    request_failed(g, "could not send the request");
    close(fd);
    return;
  }
  ssize_t got = recv_all(fd, w->response, RESPONSE_MAX);
  close(fd);
  if (got < 0) {
    request_failed(g, "no complete response");
    return;
  }
  if (got == 0) {
    count(&g->failures);
    TRACE_WARN("the server closed the connection without a response");
    return;
  }
  w->response[got] = '\0';
  char *body = strstr(w->response, "\r\n\r\n");
  int status = 0;
  if (!body || sscanf(w->response, "HTTP/1.%*1[01] %3d ", &status) != 1) {
    count(&g->failures);
    TRACE_WARN(TF(received, got), "malformed response");
    return;
  }
  body += 4;
  size_t body_len = (size_t)(w->response + got - body);
  if (status != 200) {
    count(&g->errors);
    TRACE_ERROR(TF(status, status), "error received from server!");
  } else if (body_len != n || strspn(body, path + 1) != n) {
    count(&g->errors);
    TRACE_ERROR(TF(expected, n), TF(received, body_len), "wrong response body!");
  } else {
    count(&g->ok);
  }
  TRACE_TRACE(TF_DISPLAY(rsp.body, body), "response complete.");
}

static void *worker_main(void *arg) {
  worker *w = arg;
  loadgen *g = w->g;
  char name[16];
  snprintf(name, sizeof name, "gen-%u", w->index + 1);
  trace_thread_set_name(name);
  static const char letters[] = "abcdefghijklmnopqrstuvwxyABCDEFGHIJKLMNOPQRSTUVWXYZ";
  trace_span gen = TRACE_INFO_SPAN("load_gen", TF_DISPLAY(remote.addr, g->addr));
  trace_span_enter(&gen);
  do {
    uint64_t r = next_random(&w->rng);
    char path[3] = {'/', 0, 0};
    if (r % 100 >= 20)
      path[1] = letters[(r >> 8) % (sizeof letters - 1)];
    else if (r % 100 >= 10)
      path[1] = 'z';
    unsigned n = (unsigned)((r >> 24) % COUNT_MAX);
    /* Each request is a trace of its own (the load_gen span lasts the whole run), still
     * inside load_gen here, for the log's scope. */
    trace_span req = TRACE_INFO_SPAN_FROM(TRACE_NEW_TRACE, "request", TF_DISPLAY(req.method, "GET"),
                                          TF(req.path, (const char *)path));
    trace_span_enter(&req);
    send_request(w, &req, path, n);
    trace_span_exit(&req);
    trace_span_close(&req);
  } while (!pause_or_stop(g, (unsigned)(next_random(&w->rng) % (g->pause_ms + 1u))));
  trace_span_exit(&gen);
  trace_span_close(&gen);
  return NULL;
}

static void stop_and_join(loadgen *g, unsigned started) {
  pthread_mutex_lock(&g->lock);
  g->stop = true;
  pthread_cond_broadcast(&g->wake);
  pthread_mutex_unlock(&g->lock);
  for (unsigned i = 0; i < started; i++)
    pthread_join(g->workers[i].thread, NULL);
}

static void destroy(loadgen *g) {
  pthread_cond_destroy(&g->wake);
  pthread_mutex_destroy(&g->lock);
  free(g->workers);
  free(g);
}

loadgen *loadgen_start(uint16_t port, unsigned threads, unsigned pause_ms) {
  loadgen *g = calloc(1, sizeof *g);
  worker *workers = g ? calloc(threads ? threads : 1, sizeof *workers) : NULL;
  if (!workers) {
    free(g);
    errno = ENOMEM;
    return NULL;
  }
  g->workers = workers;
  g->nworkers = threads;
  g->pause_ms = pause_ms;
  g->server.sin_family = AF_INET;
  g->server.sin_port = htons(port);
  g->server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  snprintf(g->addr, sizeof g->addr, "127.0.0.1:%u", (unsigned)port);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&g->wake, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_init(&g->lock, NULL);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  for (unsigned i = 0; i < threads; i++) {
    worker *w = &workers[i];
    w->g = g;
    w->index = i;
    w->rng = ((uint64_t)now.tv_nsec ^ (uint64_t)now.tv_sec << 30) + (i + 1) * 0x9E3779B97F4A7C15ull;
    if (!w->rng)
      w->rng = 1; /* xorshift's one fixed point */
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
      stop_and_join(g, i);
      destroy(g);
      errno = rc;
      return NULL;
    }
  }
  return g;
}

void loadgen_stop(loadgen *g) {
  if (!g)
    return;
  stop_and_join(g, g->nworkers);
  TRACE_INFO(TF(requests, g->requests), TF(ok, g->ok), TF(errors, g->errors),
             TF(failures, g->failures), "load generator stopped");
  destroy(g);
}
