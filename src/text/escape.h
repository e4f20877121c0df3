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

/* Whether all eight bytes of v can be copied as they are: printable ASCII, and no quote or
 * backslash unless quotes_plain (TEXT mode). SWAR; each "is there a byte" test is exact. */
static TRACE__INLINE bool trace__plain_word(uint64_t v, bool quotes_plain) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint64_t bad = v & highs;                        /* >= 0x80: UTF-8 to validate */
  bad |= (v - ones * 0x20) & ~v & highs;           /* < 0x20 */
  bad |= ((v ^ ones * 0x7f) - ones) & ~(v ^ ones * 0x7f) & highs; /* DEL */
  if (!quotes_plain) {
    uint64_t q = v ^ (ones * '"'), s = v ^ (ones * '\\');
    bad |= ((q - ones) & ~q & highs) | ((s - ones) & ~s & highs);
  }
  return bad == 0;
}

/* Copies len <= 16 bytes from s to d if none needs escaping (4 to 16 bytes: two overlapping
 * loads checked as words; fewer: byte by byte); returns false, having copied nothing that
 * matters, if one does. d must have room for len bytes. */
static TRACE__INLINE bool trace__copy_if_plain(char *d, const char *s, size_t len,
                                              trace__escape_mode mode) {
  bool quotes_plain = mode == TRACE__ESC_TEXT;
  if (len >= 8) {
    uint64_t a, z;
    memcpy(&a, s, 8);
    memcpy(&z, s + len - 8, 8);
    if (!trace__plain_word(a, quotes_plain) || !trace__plain_word(z, quotes_plain))
      return false;
    memcpy(d, &a, 8);
    memcpy(d + len - 8, &z, 8);
    return true;
  }
  if (len >= 4) {
    uint32_t a, z;
    memcpy(&a, s, 4);
    memcpy(&z, s + len - 4, 4);
    if (!trace__plain_word(a | (uint64_t)z << 32, quotes_plain))
      return false;
    memcpy(d, &a, 4);
    memcpy(d + len - 4, &z, 4);
    return true;
  }
  const unsigned char *ok = trace__plain[mode];
  for (size_t i = 0; i < len; i++) {
    if (!ok[(unsigned char)s[i]])
      return false;
    d[i] = s[i];
  }
  return true;
}

/* trace__escape for the common case, inline: a string of up to 16 bytes that needs no escaping
 * is copied as it is checked; anything else goes to the general function. */
static TRACE__INLINE void trace__escape_fast(trace__buf *b, const char *str, size_t len,
                                            trace__escape_mode mode) {
  /* len - 1: an empty string goes to trace__escape, which forms no pointer into a buffer that
   * may have no storage yet. */
  if (TRACE__LIKELY(len - 1 < 16 && trace__buf_room(b, len) == len &&
                    trace__copy_if_plain(b->data + b->len, str, len, mode))) {
    b->len += len;
    return;
  }
  trace__escape(b, str, len, mode);
}

/* A NUL-terminated string (a %s argument): measured (libc's strlen is vectorised), then as
 * trace__escape_fast. */
static TRACE__INLINE void trace__escape_cstr(trace__buf *b, const char *str, trace__escape_mode mode) {
  trace__escape_fast(b, str, strlen(str), mode);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not valid UTF-8. */
size_t trace__utf8_seq(const unsigned char *s, size_t len);

#endif
