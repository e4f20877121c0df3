#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Byte classes: 0 = copy, 1 = ASCII control, 2 = '"' or '\\', 3 = start of a multi-byte sequence,
 * 4 = never valid in UTF-8. */
static const unsigned char byte_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
    0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, /* 0x50 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* 0x70: DEL */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0x80: continuation bytes */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xC0, 0xC1 are overlong */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xE0 */
    3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xF0..0xF4; 0xF5.. invalid */
};

static const char hex_digits[] = "0123456789abcdef";

size_t trace__utf8_seq(const unsigned char *s, size_t len) {
  unsigned c = s[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned min;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (len < n)
    return 0;
  unsigned cp = c & (0x7F >> n);
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

static unsigned decode(const unsigned char *s, size_t n) {
  unsigned cp = s[0] & (0x7F >> n);
  for (size_t i = 1; i < n; i++)
    cp = (cp << 6) | (s[i] & 0x3F);
  return cp;
}

/* Code points that must not reach a terminal or a JS parser raw: C1 controls, line and
 * paragraph separators, bidirectional embeddings, overrides and isolates. */
static int dangerous_code_point(unsigned cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061C ||
         cp == 0x200E || cp == 0x200F;
}

static void put_code_point_escape(trace__buf *b, unsigned cp, trace__escape_mode mode) {
  char tmp[16];
  size_t n = 0;
  if (mode == TRACE__ESC_JSON) {
    tmp[n++] = '\\';
    tmp[n++] = 'u';
    for (int shift = 12; shift >= 0; shift -= 4)
      tmp[n++] = hex_digits[(cp >> shift) & 0xF];
  } else {
    tmp[n++] = '\\';
    tmp[n++] = 'u';
    tmp[n++] = '{';
    int shift = 20;
    while (shift > 0 && ((cp >> shift) & 0xF) == 0)
      shift -= 4;
    for (; shift >= 0; shift -= 4)
      tmp[n++] = hex_digits[(cp >> shift) & 0xF];
    tmp[n++] = '}';
  }
  trace__buf_put_whole(b, tmp, n);
}

static void put_control(trace__buf *b, unsigned char c, trace__escape_mode mode) {
  const char *short_form = NULL;
  switch (c) {
  case '\n': short_form = "\\n"; break;
  case '\r': short_form = "\\r"; break;
  case '\t': short_form = "\\t"; break;
  case '\b': short_form = mode == TRACE__ESC_JSON ? "\\b" : NULL; break;
  case '\f': short_form = mode == TRACE__ESC_JSON ? "\\f" : NULL; break;
  case '\0': short_form = mode == TRACE__ESC_JSON ? NULL : "\\0"; break;
  default: break;
  }
  if (short_form)
    trace__buf_put_whole(b, short_form, 2);
  else
    put_code_point_escape(b, c, mode);
}

static void put_invalid_byte(trace__buf *b, unsigned char c, trace__escape_mode mode) {
  char tmp[6];
  size_t n = 0;
  tmp[n++] = '\\';
  if (mode == TRACE__ESC_JSON)
    tmp[n++] = '\\';
  tmp[n++] = 'x';
  tmp[n++] = hex_digits[c >> 4];
  tmp[n++] = hex_digits[c & 0xF];
  trace__buf_put_whole(b, tmp, n);
}

/* Length of the prefix of s (up to n) that needs no escaping at all: printable ASCII, and no
 * quote or backslash unless quotes_plain. Eight bytes at a time. */
static inline size_t clean_prefix(const unsigned char *s, size_t n, bool quotes_plain) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, s + i, 8);
    if (!trace__plain_word(v, quotes_plain))
      break;
  }
  for (; i < n; i++) {
    unsigned char k = byte_class[s[i]];
    if (k != 0 && !(k == 2 && quotes_plain))
      break;
  }
  return i;
}

/* Whether a byte can be copied as it is, per mode (derived from byte_class): printable ASCII;
 * TEXT also keeps quotes and backslashes (q: 1 in TEXT, 0 in QUOTED and JSON). */
#define ESC_COPY8 1, 1, 1, 1, 1, 1, 1, 1
#define ESC_KEEP8 0, 0, 0, 0, 0, 0, 0, 0
#define ESC_KEEP32 ESC_KEEP8, ESC_KEEP8, ESC_KEEP8, ESC_KEEP8
#define ESC_PLAIN_ROW(q)                                                                           \
  {                                                                                                \
    ESC_KEEP32,                                                     /* 0x00: controls */           \
    1, 1, q, 1, 1, 1, 1, 1, ESC_COPY8, ESC_COPY8, ESC_COPY8,        /* 0x20: '"' */                \
    ESC_COPY8, ESC_COPY8, ESC_COPY8, 1, 1, 1, 1, q, 1, 1, 1,        /* 0x40: '\\' */               \
    ESC_COPY8, ESC_COPY8, ESC_COPY8, 1, 1, 1, 1, 1, 1, 1, 0,        /* 0x60: DEL */                \
    ESC_KEEP32, ESC_KEEP32, ESC_KEEP32, ESC_KEEP32                  /* 0x80: not ASCII */          \
  }
const unsigned char trace__plain[3][256] = {ESC_PLAIN_ROW(1), ESC_PLAIN_ROW(0), ESC_PLAIN_ROW(0)};

/* Everything past the first byte that needs attention (kept out of line: the fast path below
 * then needs no stack frame). */
static TRACE__NOINLINE void escape_slow(trace__buf *b, const unsigned char *s, const unsigned char *end,
                                        trace__escape_mode mode);

void trace__escape(trace__buf *b, const char *str, size_t len, trace__escape_mode mode) {
  if (len == 0)
    return; /* b may have no storage yet: no pointer into it is formed */
  const unsigned char *s = (const unsigned char *)str;
  const unsigned char *end = s + len;
  /* Short strings (most field values): check and copy in one pass. */
  if (len <= 32 && TRACE__LIKELY(trace__buf_room(b, len) == len)) {
    const unsigned char *ok = trace__plain[mode];
    char *d = b->data + b->len;
    size_t i = 0;
    for (; i < len; i++) {
      unsigned char c = s[i];
      if (!ok[c])
        break;
      d[i] = (char)c;
    }
    b->len += i;
    s += i;
    if (s == end)
      return;
  }
  escape_slow(b, s, end, mode);
}

static void escape_slow(trace__buf *b, const unsigned char *s, const unsigned char *end,
                        trace__escape_mode mode) {
  bool quotes_plain = mode == TRACE__ESC_TEXT;
  while (s < end && !b->truncated) {
    size_t run = clean_prefix(s, (size_t)(end - s), quotes_plain);
    if (run)
      trace__buf_put(b, (const char *)s, run);
    s += run;
    if (s == end)
      break;
    unsigned char c = *s;
    switch (byte_class[c]) {
    case 0:
    case 2:
      if (quotes_plain || byte_class[c] == 0) {
        trace__buf_putc(b, (char)c);
      } else {
        char esc[2] = {'\\', (char)c};
        trace__buf_put_whole(b, esc, 2);
      }
      s++;
      break;
    case 1:
      put_control(b, c, mode);
      s++;
      break;
    case 3: {
      size_t n = trace__utf8_seq(s, (size_t)(end - s));
      if (n == 0) {
        put_invalid_byte(b, c, mode);
        s++;
      } else if (dangerous_code_point(decode(s, n))) {
        put_code_point_escape(b, decode(s, n), mode);
        s += n;
      } else {
        trace__buf_put_whole(b, (const char *)s, n);
        s += n;
      }
      break;
    }
    default:
      put_invalid_byte(b, c, mode);
      s++;
      break;
    }
  }
}
