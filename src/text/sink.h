/* snprintf-style output into a caller's buffer: every byte is counted, those that fit are kept,
 * and the text is always NUL-terminated when there is room for anything at all. For the public
 * functions that fill a user buffer and return the full length (spec, inventory). */
#ifndef TRACE_TEXT_SINK_H
#define TRACE_TEXT_SINK_H

#include <stddef.h>
#include <string.h>

typedef struct trace__sink {
  char *buf;  /* may be NULL when cap is 0 */
  size_t cap; /* bytes available, the NUL included */
  size_t len; /* full length so far (may exceed cap) */
} trace__sink;

static inline trace__sink trace__sink_make(char *buf, size_t cap) {
  trace__sink s;
  s.buf = buf;
  s.cap = buf ? cap : 0;
  s.len = 0;
  return s;
}

static inline void trace__sink_put(trace__sink *s, const char *p, size_t n) {
  if (s->len + 1 < s->cap) {
    size_t room = s->cap - 1 - s->len;
    memcpy(s->buf + s->len, p, n < room ? n : room);
  }
  s->len += n;
}

static inline void trace__sink_puts(trace__sink *s, const char *p) { trace__sink_put(s, p, strlen(p)); }

static inline void trace__sink_putc(trace__sink *s, char c) { trace__sink_put(s, &c, 1); }

/* Terminates the text and returns its full length. */
static inline size_t trace__sink_finish(trace__sink *s) {
  if (s->cap)
    s->buf[s->len < s->cap ? s->len : s->cap - 1] = '\0';
  return s->len;
}

#endif
