/* The admin endpoint of the load example: look at and replace the filter while the program runs,
 * as the blog post does with `curl -X PUT localhost:3001/filter -d "[{req.path=\"/z\"}]=trace"`.
 *
 *   GET /filter      the directives in effect, normalised
 *   PUT /filter      the body is the new filter: 200 and its normal form, or 400 and the parse
 *                    error (the old filter stays)
 *   GET /callsites   every callsite of the program, hit or not, and its current interest
 *
 * It is a service of the same epoll loop as the repetition service, on its own listener with
 * its own connection limit (8, --admin-max-conns). A thread of its own would buy nothing: no
 * request here blocks (a reload takes microseconds), the loop never waits on a slow client, and
 * a flood of the main port cannot take the admin port's connection slots. Nor can idle clients
 * of the admin port itself: a full port closes the connection that has waited longest for its
 * request to let a new one in, and every connection must send its request within the read
 * timeout (5 s, --read-timeout). */
#define TRACE_TARGET "load::admin"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trace/env_filter.h>
#include <trace/fmt.h>

#include "load.h"

static trace_span admin_listener_span(const char *local) {
  return TRACE_INFO_SPAN("admin", TF_DISPLAY(local, local));
}

/* A copy of text with a final newline (curl users get their prompt on the next line). */
static void respond_copy(http_response *rsp, int status, const char *text, size_t len) {
  char *body = malloc(len + 1);
  if (!body) {
    http_response_text(rsp, 500, "out of memory\n");
    return;
  }
  memcpy(body, text, len);
  body[len] = '\n';
  http_response_owned(rsp, status, body, len + 1);
}

/* An snprintf-style producer of text: trace_env_filter_spec or trace_callsites_format. */
typedef size_t (*text_fn)(void *arg, char *buf, size_t cap);

static size_t spec_text(void *filter, char *buf, size_t cap) {
  return trace_env_filter_spec(filter, buf, cap);
}

static size_t callsites_text(void *unused, char *buf, size_t cap) {
  (void)unused;
  return trace_callsites_format(buf, cap);
}

/* Answers with what fn produces, in a buffer of the size it asks for. */
static void respond_text(http_response *rsp, int status, text_fn fn, void *arg) {
  size_t need = fn(arg, NULL, 0);
  /* The text can grow between the two calls (a library loaded meanwhile): measure again. */
  for (int attempt = 0; attempt < 3; attempt++) {
    char *buf = malloc(need + 2);
    if (!buf)
      break;
    size_t n = fn(arg, buf, need + 1);
    if (n <= need) {
      if (n == 0 || buf[n - 1] != '\n')
        buf[n++] = '\n';
      http_response_owned(rsp, status, buf, n);
      return;
    }
    free(buf);
    need = n;
  }
  http_response_text(rsp, 500, "out of memory\n");
}

static void put_filter(trace_env_filter *f, const char *body, size_t body_len,
                       http_response *rsp) {
  if (memchr(body, '\0', body_len)) {
    TRACE_WARN(TF(rsp.status, 400), TF_DISPLAY(rsp.error, "NUL byte in the filter"));
    http_response_text(rsp, 400, "the filter must not contain NUL bytes\n");
    return;
  }
  /* Logged before the reload, so that it passes the filter the operator is leaving: the new one
   * may well hide this target. */
  TRACE_INFO(TF_STR(filter, body, body_len), "reloading filter");
  trace_filter_error err;
  memset(&err, 0, sizeof err);
  int rc = trace_env_filter_reload(f, body, &err);
  if (rc == TRACE_EPARSE) {
    TRACE_WARN(TF(rsp.status, 400), TF_DISPLAY(error, err.message),
               "filter rejected; keeping the old one");
    respond_copy(rsp, 400, err.message, strlen(err.message));
    printf("load: filter rejected, the old one stays: %s\n", err.message);
    return;
  }
  if (rc != 0) {
    TRACE_WARN(TF(rsp.status, 500), TF_DISPLAY(error, trace_strerror(rc)), "reload failed");
    respond_copy(rsp, 500, trace_strerror(rc), strlen(trace_strerror(rc)));
    return;
  }
  respond_text(rsp, 200, spec_text, f);
  if (rsp->status != 200)
    return;
  TRACE_INFO(TF_STR(filter, rsp->body, rsp->body_len - 1), "filter reloaded");
  /* Also among the program's own lines on stdout, which no filter hides: whoever reads the log
   * later sees where and how it changed. */
  printf("load: filter reloaded: %.*s\n", (int)(rsp->body_len - 1), rsp->body);
}

static void method_not_allowed(http_response *rsp, const char *allow) {
  TRACE_WARN(TF(rsp.status, 405));
  http_response_text(rsp, 405, "method not allowed\n");
  rsp->extra_headers = allow;
}

static void admin_handle(const http_request *req, const char *body, size_t body_len,
                         http_response *rsp) {
  bool get = strcmp(req->method, "GET") == 0;
  bool put = strcmp(req->method, "PUT") == 0;
  if (strcmp(req->target, "/filter") == 0) {
    trace_env_filter *f = trace_init_filter();
    if (!f) {
      TRACE_WARN(TF(rsp.status, 503), TF_DISPLAY(rsp.error, "no reloadable filter"));
      http_response_text(rsp, 503, "no reloadable filter: tracing was not set up by trace_init\n");
    } else if (get) {
      respond_text(rsp, 200, spec_text, f);
    } else if (put) {
      put_filter(f, body, body_len, rsp);
    } else {
      method_not_allowed(rsp, "Allow: GET, PUT\r\n");
    }
  } else if (strcmp(req->target, "/callsites") == 0) {
    if (get)
      respond_text(rsp, 200, callsites_text, NULL);
    else
      method_not_allowed(rsp, "Allow: GET\r\n");
  } else {
    TRACE_WARN(TF(rsp.status, 404));
    http_response_text(rsp, 404, "not found: try GET /filter, PUT /filter or GET /callsites\n");
  }
}

const service load_admin_service = {true, admin_listener_span, admin_handle};
