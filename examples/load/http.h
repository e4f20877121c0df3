/* A small HTTP/1.1 request parser and response writer for the load example: just enough of
 * RFC 9112 for "character repetition as a service", its admin endpoint and its load generator.
 * No keep-alive (every response says Connection: close), no chunked bodies, no 100-continue:
 * a client that sends "Expect: 100-continue" (curl does, above 1 KiB) waits its own timeout,
 * then sends the body anyway. Nothing here allocates except an owned response body. */
#ifndef LOAD_HTTP_H
#define LOAD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most a request (head and body together) may take: a bounded buffer per connection. */
#define HTTP_REQUEST_MAX (64 * 1024)
#define HTTP_MAX_HEADERS 32

typedef struct http_header {
  const char *name; /* lower-cased */
  const char *value; /* without surrounding whitespace */
} http_header;

/* A parsed request head. Every string points into the buffer it was parsed from. */
typedef struct http_request {
  const char *method;
  const char *target;
  const char *version; /* "HTTP/1.0" or "HTTP/1.1" */
  http_header headers[HTTP_MAX_HEADERS];
  size_t header_count;
  bool has_content_length;
  uint64_t content_length;
} http_request;

/* Looks for the blank line that ends a request head in buf[0, len). *scanned is where to resume
 * (0 for a new request; updated, so that a client sending one byte at a time costs linear time,
 * not quadratic). Returns the length of the head including the blank line, or 0 if incomplete.
 * Lines may end in CRLF or, leniently, in LF alone. */
size_t http_head_end(const char *buf, size_t len, size_t *scanned);

/* Parses the head buf[0, head_len) (as found by http_head_end) IN PLACE: the method, target,
 * version and header names and values are NUL-terminated inside buf, and names lower-cased.
 * Returns 0, or the HTTP status to answer (400, 501 or 505) with *error a static description. */
int http_parse_head(char *buf, size_t head_len, http_request *req, const char **error);

/* The value of the first header called name (lower case), or NULL. */
const char *http_header_get(const http_request *req, const char *name);

/* The headers as {"name": "value", ...} (Rust's Debug of a header map), for TF_FMT(req.headers,
 * http_format_headers, &req): a trace_fmt_fn, snprintf-style. */
size_t http_format_headers(char *buf, size_t cap, const void *request);

/* "OK", "Not Found", ...; "Unknown" for codes this example never sends. */
const char *http_reason(int status);

/* A response being sent: a head, then a body that is either bytes (static or owned) or one byte
 * repeated fill_len times, produced while sending so that a 1 MiB answer needs no 1 MiB buffer. */
typedef struct http_response {
  int status;
  const char *extra_headers; /* whole lines, each ending in "\r\n"; NULL: none */
  const char *body;
  size_t body_len;
  char *owned; /* freed by http_response_reset */
  size_t fill_len;
  char fill;
  bool is_fill;
  char head[256];
  size_t head_len; /* 0 until the first send formats the head */
  size_t sent;     /* bytes of head and body sent so far */
} http_response;

/* A response with a static (or longer-living) body. */
void http_response_text(http_response *r, int status, const char *body);
/* A response that takes ownership of body (malloc'ed, len bytes). */
void http_response_owned(http_response *r, int status, char *body, size_t len);
/* A response whose body is c repeated n times. */
void http_response_fill(http_response *r, int status, char c, size_t n);
/* Frees what the response owns and zeroes it. */
void http_response_reset(http_response *r);

enum { HTTP_SEND_DONE = 0, HTTP_SEND_AGAIN = 1, HTTP_SEND_ERROR = -1 };
/* Sends as much of r as the non-blocking socket fd takes. DONE when all is sent; AGAIN when the
 * socket is full (wait for EPOLLOUT and call again); ERROR with errno set (EPIPE, ECONNRESET...).
 * Never raises SIGPIPE. */
int http_response_send(int fd, http_response *r);

#endif
