/* "Character repetition as a service", the service of the blog post's worked example:
 * GET /a with Content-Length: 3 answers "aaa". It has a bug on purpose, which only the TRACE
 * level explains: /z fails with an unhelpful 500, and nothing above TRACE says why. The events
 * are those of the original (tracing's examples/tower-load.rs), so the output reads like the
 * post's. */
#define TRACE_TARGET "load"

#include <string.h>

#include "load.h"

/* Bounds the response the way HTTP_REQUEST_MAX bounds the request. */
#define REPEAT_MAX (1024 * 1024)

static const char not_single[] = "path must be a single ASCII character";
static const char internal[] = "unknown internal error";

static trace_span repeat_listener_span(const char *local) {
  return TRACE_INFO_SPAN("server", TF_DISPLAY(name, "serve"), TF_DISPLAY(local, local));
}

static void repeat_handle(const http_request *req, const char *body, size_t body_len,
                          http_response *rsp) {
  (void)body;
  (void)body_len;
  TRACE_TRACE("handling request...");
  if (strcmp(req->method, "GET") != 0) {
    TRACE_TRACE(TF_DISPLAY(rsp.error, "only GET is supported"));
    TRACE_WARN(TF(rsp.status, 405));
    http_response_text(rsp, 405, "only GET is supported");
    rsp->extra_headers = "Allow: GET\r\n";
    return;
  }
  /* The parser let through only visible ASCII, so two bytes are "/" and one ASCII character. */
  if (strlen(req->target) != 2) {
    TRACE_TRACE(TF_DISPLAY(rsp.error, not_single));
    TRACE_WARN(TF(rsp.status, 404));
    http_response_text(rsp, 404, not_single);
    return;
  }
  char letter = req->target[1];
  if (letter == 'z') {
    TRACE_TRACE(TF_DISPLAY(error, "i don't like this letter."), TF_STR(letter, &letter, 1));
    TRACE_TRACE(TF_DISPLAY(rsp.error, internal));
    http_response_text(rsp, 500, internal);
    return;
  }
  uint64_t n = req->has_content_length ? req->content_length : 0;
  if (n > REPEAT_MAX) {
    TRACE_TRACE(TF_DISPLAY(rsp.error, "content-length must be at most 1048576"));
    TRACE_WARN(TF(rsp.status, 400));
    http_response_text(rsp, 400, "content-length must be at most 1048576");
    return;
  }
  http_response_fill(rsp, 200, letter, (size_t)n);
}

const service load_repeat_service = {false, repeat_listener_span, repeat_handle};
