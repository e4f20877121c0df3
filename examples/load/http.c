/* The HTTP/1.1 request parser and response writer of the load example (see http.h). The parser
 * is strict where leniency has been used to smuggle requests (whitespace before a colon, folded
 * header lines, conflicting Content-Length values, control characters) and lenient where it
 * costs nothing (LF alone ends a line, so `nc` users can type requests by hand). */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

size_t http_head_end(const char *buf, size_t len, size_t *scanned) {
  size_t i = *scanned;
  for (;;) {
    const char *nl = i < len ? memchr(buf + i, '\n', len - i) : NULL;
    if (!nl) {
      *scanned = len; /* no LF in [*scanned, len): never look there again */
      return 0;
    }
    i = (size_t)(nl - buf);
    /* The byte(s) after this LF decide; if they have not arrived, look again from this LF. */
    if (i + 1 >= len)
      break;
    if (buf[i + 1] == '\n')
      return i + 2;
    if (buf[i + 1] == '\r') {
      if (i + 2 >= len)
        break;
      if (buf[i + 2] == '\n')
        return i + 3;
    }
    i++;
  }
  *scanned = i;
  return 0;
}

/* RFC 9110 token characters: what methods and header names are made of. */
static bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Header values: visible ASCII, space, tab and obs-text (bytes >= 0x80); no other control. */
static bool is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* Cuts the next line out of buf[*pos, end) and NUL-terminates it over its CR or LF. The head
 * ends with an empty line, so every line found here has its LF. */
static char *next_line(char *buf, size_t end, size_t *pos, size_t *len) {
  char *start = buf + *pos;
  char *nl = memchr(start, '\n', end - *pos);
  if (!nl)
    return NULL;
  size_t n = (size_t)(nl - start);
  *pos += n + 1;
  if (n > 0 && start[n - 1] == '\r')
    n--;
  start[n] = '\0';
  *nl = '\0';
  *len = n;
  return start;
}

static int parse_request_line(char *line, size_t len, http_request *req, const char **error) {
  char *sp1 = memchr(line, ' ', len);
  char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
  if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || memchr(sp2 + 1, ' ', strlen(sp2 + 1))) {
    *error = "malformed request line";
    return 400;
  }
  *sp1 = '\0';
  *sp2 = '\0';
  for (const char *p = line; *p; p++)
    if (!is_tchar((unsigned char)*p)) {
      *error = "malformed method";
      return 400;
    }
  const char *target = sp1 + 1;
  if (target[0] != '/') {
    *error = "the request target must be a path";
    return 400;
  }
  for (const char *p = target; *p; p++)
    if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
      *error = "malformed request target";
      return 400;
    }
  const char *version = sp2 + 1;
  if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0) {
    bool http = strncmp(version, "HTTP/", 5) == 0 && version[5] >= '0' && version[5] <= '9' &&
                version[6] == '.' && version[7] >= '0' && version[7] <= '9' && !version[8];
    *error = http ? "only HTTP/1.0 and HTTP/1.1 are supported" : "malformed HTTP version";
    return http ? 505 : 400;
  }
  req->method = line;
  req->target = target;
  req->version = version;
  return 0;
}

/* Content-Length: digits only (no sign, no list); several headers must agree. The limit keeps
 * the value far from overflow; callers apply their own, much lower, limits. */
static int parse_content_length(const char *v, http_request *req, const char **error) {
  uint64_t n = 0;
  size_t digits = 0;
  for (; *v >= '0' && *v <= '9'; v++, digits++) {
    if (digits == 18) {
      *error = "content-length is too large";
      return 400;
    }
    n = n * 10 + (uint64_t)(*v - '0');
  }
  if (digits == 0 || *v) {
    *error = "malformed content-length";
    return 400;
  }
  if (req->has_content_length && req->content_length != n) {
    *error = "conflicting content-length headers";
    return 400;
  }
  req->has_content_length = true;
  req->content_length = n;
  return 0;
}

static int parse_header(char *line, size_t len, http_request *req, const char **error) {
  if (line[0] == ' ' || line[0] == '\t') {
    *error = "folded header lines are not accepted";
    return 400;
  }
  char *colon = memchr(line, ':', len);
  if (!colon || colon == line) {
    *error = "malformed header line";
    return 400;
  }
  for (char *p = line; p < colon; p++) {
    if (!is_tchar((unsigned char)*p)) {
      *error = "malformed header name";
      return 400;
    }
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  }
  *colon = '\0';
  char *value = colon + 1;
  char *end = line + len;
  while (value < end && (*value == ' ' || *value == '\t'))
    value++;
  while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  *end = '\0';
  for (const char *p = value; p < end; p++)
    if (!is_value_char((unsigned char)*p)) {
      *error = "control character in a header value";
      return 400;
    }
  if (req->header_count == HTTP_MAX_HEADERS) {
    *error = "too many header lines";
    return 431;
  }
  req->headers[req->header_count].name = line;
  req->headers[req->header_count].value = value;
  req->header_count++;
  if (strcmp(line, "content-length") == 0)
    return parse_content_length(value, req, error);
  if (strcmp(line, "transfer-encoding") == 0) {
    *error = "transfer-encoding is not supported";
    return 501;
  }
  return 0;
}

int http_parse_head(char *buf, size_t head_len, http_request *req, const char **error) {
  memset(req, 0, sizeof *req);
  size_t pos = 0, len = 0;
  char *line = next_line(buf, head_len, &pos, &len);
  if (!line || len == 0) {
    *error = "empty request line";
    return 400;
  }
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] == 0x7f) {
      *error = "control character in the request line";
      return 400;
    }
  int status = parse_request_line(line, len, req, error);
  if (status)
    return status;
  while ((line = next_line(buf, head_len, &pos, &len)) != NULL && len > 0) {
    status = parse_header(line, len, req, error);
    if (status)
      return status;
  }
  return 0;
}

const char *http_header_get(const http_request *req, const char *name) {
  for (size_t i = 0; i < req->header_count; i++)
    if (strcmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  return NULL;
}

/* An snprintf-style appender: counts everything, writes what fits (NUL kept in the last byte). */
typedef struct text_out {
  char *buf;
  size_t cap;
  size_t len;
} text_out;

static void out_byte(text_out *o, char c) {
  if (o->len + 1 < o->cap)
    o->buf[o->len] = c;
  o->len++;
}

static void out_str(text_out *o, const char *s) {
  for (; *s; s++)
    out_byte(o, *s);
}

/* Like Rust's Debug of a string: quoted, with \" \\ and \xNN for what is not printable ASCII. */
static void out_quoted(text_out *o, const char *s) {
  static const char hex[] = "0123456789abcdef";
  out_byte(o, '"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out_byte(o, '\\');
      out_byte(o, (char)c);
    } else if (c < 0x20 || c >= 0x7f) {
      out_str(o, "\\x");
      out_byte(o, hex[c >> 4]);
      out_byte(o, hex[c & 15]);
    } else {
      out_byte(o, (char)c);
    }
  }
  out_byte(o, '"');
}

size_t http_format_headers(char *buf, size_t cap, const void *request) {
  const http_request *req = request;
  text_out o = {buf, buf ? cap : 0, 0};
  out_byte(&o, '{');
  for (size_t i = 0; i < req->header_count; i++) {
    if (i)
      out_str(&o, ", ");
    out_quoted(&o, req->headers[i].name);
    out_str(&o, ": ");
    out_quoted(&o, req->headers[i].value);
  }
  out_byte(&o, '}');
  if (o.cap)
    o.buf[o.len < o.cap ? o.len : o.cap - 1] = '\0';
  return o.len;
}

const char *http_reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

void http_response_text(http_response *r, int status, const char *body) {
  http_response_reset(r);
  r->status = status;
  r->body = body;
  r->body_len = strlen(body);
}

void http_response_owned(http_response *r, int status, char *body, size_t len) {
  http_response_reset(r);
  r->status = status;
  r->owned = body;
  r->body = body;
  r->body_len = len;
}

void http_response_fill(http_response *r, int status, char c, size_t n) {
  http_response_reset(r);
  r->status = status;
  r->is_fill = true;
  r->fill = c;
  r->fill_len = n;
}

void http_response_reset(http_response *r) {
  free(r->owned);
  memset(r, 0, sizeof *r);
}

static size_t body_length(const http_response *r) { return r->is_fill ? r->fill_len : r->body_len; }

static void format_head(http_response *r) {
  for (int attempt = 0; attempt < 2; attempt++) {
    int n = snprintf(r->head, sizeof r->head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                     r->status, http_reason(r->status), body_length(r),
                     r->extra_headers ? r->extra_headers : "");
    if (n > 0 && (size_t)n < sizeof r->head) {
      r->head_len = (size_t)n;
      return;
    }
    /* Only over-long extra headers can get here: the head stays valid without them. */
    r->extra_headers = NULL;
  }
}

int http_response_send(int fd, http_response *r) {
  if (!r->head_len)
    format_head(r);
  size_t body_len = body_length(r);
  size_t total = r->head_len + body_len;
  /* A fill body is sent from one chunk repeated in several iovecs: bounded stack, few calls. */
  char chunk[16 * 1024];
  bool chunk_ready = false;
  while (r->sent < total) {
    struct iovec iov[5];
    int n = 0;
    if (r->sent < r->head_len)
      iov[n++] = (struct iovec){r->head + r->sent, r->head_len - r->sent};
    size_t body_off = r->sent > r->head_len ? r->sent - r->head_len : 0;
    size_t left = body_len - body_off;
    if (left && !r->is_fill) {
      /* The iovec type is not const-qualified; sendmsg only reads the bytes. */
      iov[n++] = (struct iovec){(void *)(uintptr_t)(r->body + body_off), left};
    } else if (left) {
      if (!chunk_ready) {
        memset(chunk, r->fill, sizeof chunk);
        chunk_ready = true;
      }
      for (; left && n < 5; n++) {
        size_t k = left < sizeof chunk ? left : sizeof chunk;
        iov[n] = (struct iovec){chunk, k};
        left -= k;
      }
    }
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)n;
    ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return HTTP_SEND_AGAIN;
      return HTTP_SEND_ERROR;
    }
    r->sent += (size_t)w;
  }
  return HTTP_SEND_DONE;
}
