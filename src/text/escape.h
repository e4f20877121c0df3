/* Escaping of untrusted text on its way into output, so that no value can forge a line, move the
 * cursor, or break a JSON document.
 *
 *   TEXT    for messages and bare values: control characters (C0, DEL, C1), line/paragraph
 *           separators and bidirectional overrides become \n \r \t \0 or \u{XX}; bytes that are
 *           not valid UTF-8 become \xNN. Everything else, quotes and backslashes included, is kept.
 *   QUOTED  TEXT plus \" and \\ (Rust's Debug for strings), for "quoted" values.
 *   JSON    RFC 8259 string content: \" \\ \b \f \n \r \t, \u00XX for other controls, \u2028
 *           and friends escaped too; invalid UTF-8 bytes become the six characters \\xNN (a
 *           visible, valid stand-in for the byte).
 *
 * Valid UTF-8 passes through unchanged, so output is always valid UTF-8. */
#ifndef TRACE_TEXT_ESCAPE_H
#define TRACE_TEXT_ESCAPE_H

#include "buf.h"

typedef enum trace__escape_mode {
  TRACE__ESC_TEXT = 0,
  TRACE__ESC_QUOTED = 1,
  TRACE__ESC_JSON = 2
} trace__escape_mode;

void trace__escape(trace__buf *b, const char *s, size_t len, trace__escape_mode mode);

/* Which bytes need no escaping, per mode (escape.c). */
extern const unsigned char trace__plain[3][256];

/* trace__escape for the common case, inline: a short string that needs no escaping is copied
 * while it is checked; anything else goes to the general function. */
static inline void trace__escape_fast(trace__buf *b, const char *str, size_t len,
                                      trace__escape_mode mode) {
  if (TRACE__LIKELY(len <= 16 && trace__buf_room(b, len) == len)) {
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *ok = trace__plain[mode];
    char *d = b->data + b->len;
    size_t i = 0;
    while (i < len && ok[s[i]]) {
      d[i] = (char)s[i];
      i++;
    }
    b->len += i;
    if (TRACE__LIKELY(i == len))
      return;
    str += i;
    len -= i;
  }
  trace__escape(b, str, len, mode);
}

/* A NUL-terminated string (a %s argument): measured while it is copied, in one pass, when it
 * needs no escaping and fits; otherwise the rest goes through trace__escape. */
static inline void trace__escape_cstr(trace__buf *b, const char *str, trace__escape_mode mode) {
  const unsigned char *s = (const unsigned char *)str;
  const unsigned char *ok = trace__plain[mode]; /* NUL is not plain: the loop stops there */
  size_t room = b->cap - b->len;
  char *d = b->data + b->len;
  size_t i = 0;
  while (i < room && ok[s[i]]) {
    d[i] = (char)s[i];
    i++;
  }
  b->len += i;
  if (TRACE__LIKELY(s[i] == '\0'))
    return;
  trace__escape(b, str + i, strlen(str + i), mode);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not valid UTF-8. */
size_t trace__utf8_seq(const unsigned char *s, size_t len);

#endif
