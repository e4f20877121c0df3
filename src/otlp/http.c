/* HTTP for the exporter: libcurl does the protocol (TLS, proxies from the usual variables,
 * keep-alive: one easy handle is reused, so batches go over one connection), this file the
 * OTLP parts: content type, gzip, Retry-After, which failures may be retried. Only the exporter
 * thread calls it. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "../common/alloc.h"
#include "internal.h"

enum { MAX_SOCKETS = 8, RESPONSE_MAX = 4096 };

struct otlp_http {
  CURL *easy;
  char errbuf[CURL_ERROR_SIZE];
  /* The sockets libcurl opened, so that a forked child can close its copies without speaking
   * on the parent's connections (a TLS close alert written by the child would break them). */
  curl_socket_t sockets[MAX_SOCKETS];
  size_t nsockets;
  uint64_t retry_after_ms;
  uint64_t deadline_ns;
  const uint8_t *abort_flag;
  char response[RESPONSE_MAX];
  size_t response_len;
  trace__buf gz;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
/* Thread-safe since libcurl 7.84; done once, never undone (the application may use libcurl). */
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a) {
  (void)purpose;
  otlp_http *h = arg;
  curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd != CURL_SOCKET_BAD && h->nsockets < MAX_SOCKETS)
    h->sockets[h->nsockets++] = fd;
  return fd;
}

static int close_socket(void *arg, curl_socket_t fd) {
  otlp_http *h = arg;
  for (size_t i = 0; i < h->nsockets; i++) {
    if (h->sockets[i] == fd) {
      h->sockets[i] = h->sockets[--h->nsockets];
      break;
    }
  }
  return close(fd);
}

/* Retry-After: seconds, or an HTTP date. */
static size_t on_header(char *line, size_t size, size_t n, void *arg) {
  otlp_http *h = arg;
  size_t len = size * n;
  static const char name[] = "retry-after:";
  if (len > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
    char value[64];
    size_t vlen = TRACE__MIN(len - (sizeof name - 1), sizeof value - 1);
    memcpy(value, line + sizeof name - 1, vlen);
    value[vlen] = '\0';
    char *v = value;
    while (*v == ' ' || *v == '\t')
      v++;
    for (char *e = v + strlen(v); e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ');)
      *--e = '\0';
    char *end;
    errno = 0;
    unsigned long long secs = strtoull(v, &end, 10);
    if (!errno && end != v && !*end) {
      h->retry_after_ms = secs > 86400 ? 86400000ull : secs * 1000ull;
    } else {
      time_t when = curl_getdate(v, NULL);
      time_t now = time(NULL);
      if (when > now)
        h->retry_after_ms = (uint64_t)(when - now) * 1000ull;
    }
  }
  return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  otlp_http *h = arg;
  size_t len = size * n;
  size_t room = sizeof h->response - 1 - h->response_len;
  size_t k = TRACE__MIN(len, room);
  memcpy(h->response + h->response_len, p, k);
  h->response_len += k;
  return len;
}

/* Stops a transfer once the deadline has passed or the exporter must stop at once. */
static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  otlp_http *h = arg;
  if (h->abort_flag && __atomic_load_n(h->abort_flag, __ATOMIC_RELAXED))
    return 1;
  return h->deadline_ns && trace__otlp_now_mono_ns() > h->deadline_ns;
}

otlp_http *trace__otlp_http_new(void) {
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return NULL;
  otlp_http *h = trace__calloc(1, sizeof *h);
  if (!h)
    return NULL;
  h->easy = curl_easy_init();
  if (!h->easy) {
    trace__free(h);
    return NULL;
  }
  trace__buf_init_growable(&h->gz, (size_t)256 << 20);
  CURL *e = h->easy;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, h);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "libtrace-otlp/" TRACE_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  return h;
}

void trace__otlp_http_free(otlp_http *h) {
  if (!h)
    return;
  curl_easy_cleanup(h->easy);
  trace__buf_free(&h->gz);
  trace__free(h);
}

void trace__otlp_http_abandon(otlp_http *h) {
  if (!h)
    return;
  for (size_t i = 0; i < h->nsockets; i++)
    close(h->sockets[i]);
  /* The handle itself is left alone: cleaning it up could write on those connections. */
}

static bool gzip_into(trace__buf *out, const char *p, size_t n) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return false;
  size_t bound = deflateBound(&z, (uLong)n);
  out->len = 0;
  out->truncated = false;
  if (trace__buf_room(out, bound) < bound) {
    deflateEnd(&z);
    return false;
  }
  z.next_in = (Bytef *)(uintptr_t)p;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out->data;
  z.avail_out = (uInt)bound;
  int rc = deflate(&z, Z_FINISH);
  out->len = z.total_out;
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

static bool retryable_transport(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE: return true;
  default: return false;
  }
}

void trace__otlp_http_post(otlp_http *h, const otlp_signal *sig, const char *body, size_t len,
                           uint64_t deadline_ns, const uint8_t *abort_flag, otlp_response *out) {
  memset(out, 0, sizeof *out);
  h->retry_after_ms = 0;
  h->response_len = 0;
  h->errbuf[0] = '\0';
  h->abort_flag = abort_flag;
  h->deadline_ns = deadline_ns;
  uint64_t now = trace__otlp_now_mono_ns();
  uint64_t left_ms = deadline_ns > now ? (deadline_ns - now) / 1000000u : 0;
  long timeout = (long)TRACE__MIN((uint64_t)sig->timeout_ms, TRACE__MAX(left_ms, 1u));
  struct curl_slist *headers = NULL, *tmp;
  bool ok = true;
#define ADD(line)                                                                                  \
  do {                                                                                             \
    tmp = curl_slist_append(headers, line);                                                        \
    if (tmp)                                                                                       \
      headers = tmp;                                                                               \
    else                                                                                           \
      ok = false;                                                                                  \
  } while (0)
  ADD(sig->protocol == TRACE_OTLP_HTTP_JSON ? "Content-Type: application/json"
                                            : "Content-Type: application/x-protobuf");
  ADD("Expect:"); /* no 100-continue round trip before each body */
  for (char **line = sig->headers; line && *line; line++)
    ADD(*line);
  if (sig->compression == TRACE_OTLP_COMPRESSION_GZIP) {
    if (gzip_into(&h->gz, body, len)) {
      ADD("Content-Encoding: gzip");
      body = h->gz.data;
      len = h->gz.len;
    }
  }
#undef ADD
  if (!ok) {
    curl_slist_free_all(headers);
    out->transport_error = CURLE_OUT_OF_MEMORY;
    snprintf(out->error, sizeof out->error, "out of memory");
    return;
  }
  CURL *e = h->easy;
  curl_easy_setopt(e, CURLOPT_URL, sig->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout);
  CURLcode rc = curl_easy_perform(e);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(headers);
  out->retry_after_ms = h->retry_after_ms;
  if (rc != CURLE_OK) {
    out->transport_error = (int)rc;
    out->retryable = retryable_transport(rc);
    snprintf(out->error, sizeof out->error, "%.150s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
    return;
  }
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  out->status = status;
  out->retryable = status == 429 || status == 502 || status == 503 || status == 504;
  if (status < 200 || status >= 300) {
    h->response[h->response_len] = '\0';
    snprintf(out->error, sizeof out->error, "HTTP %ld%s%.120s", status,
             h->response_len ? ": " : "", h->response);
  }
}
