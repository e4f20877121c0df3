/* Protocol buffers wire format, writing only: varints, fixed-width numbers, length-delimited
 * fields. A nested message is opened with pb_begin (one byte reserved for its length) and closed
 * with pb_end, which moves the content when the length needs more than one byte. */
#ifndef TRACE_OTLP_PB_H
#define TRACE_OTLP_PB_H

#include <string.h>

#include "../text/buf.h"
#include "internal.h"

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

static inline size_t pb_varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static inline void pb_raw_varint(trace__buf *b, uint64_t v) {
  if (TRACE__LIKELY(trace__buf_room(b, 10) >= 10)) {
    char *p = b->data + b->len;
    while (v >= 0x80) {
      *p++ = (char)(v | 0x80);
      v >>= 7;
    }
    *p++ = (char)v;
    b->len = (size_t)(p - b->data);
    return;
  }
  while (v >= 0x80) { /* near the limit: byte by byte, cut where it must be */
    trace__buf_putc(b, (char)(v | 0x80));
    v >>= 7;
  }
  trace__buf_putc(b, (char)v);
}

static inline void pb_tag(trace__buf *b, unsigned field, unsigned wire) {
  pb_raw_varint(b, (uint64_t)field << 3 | wire);
}

static inline void pb_uint(trace__buf *b, unsigned field, uint64_t v) {
  pb_tag(b, field, PB_VARINT);
  pb_raw_varint(b, v);
}

static inline void pb_fixed64(trace__buf *b, unsigned field, uint64_t v) {
  char tmp[8];
  for (int i = 0; i < 8; i++)
    tmp[i] = (char)(v >> (8 * i));
  pb_tag(b, field, PB_I64);
  trace__buf_put(b, tmp, 8);
}

static inline void pb_fixed32(trace__buf *b, unsigned field, uint32_t v) {
  char tmp[4];
  for (int i = 0; i < 4; i++)
    tmp[i] = (char)(v >> (8 * i));
  pb_tag(b, field, PB_I32);
  trace__buf_put(b, tmp, 4);
}

static inline void pb_bytes(trace__buf *b, unsigned field, const void *p, size_t n) {
  pb_tag(b, field, PB_LEN);
  pb_raw_varint(b, n);
  trace__buf_put(b, (const char *)p, n);
}

/* Opens a nested message (or a string whose length is not known yet); returns its start. */
static inline size_t pb_begin(trace__buf *b, unsigned field) {
  pb_tag(b, field, PB_LEN);
  trace__buf_putc(b, 0);
  return b->len;
}

void trace__otlp_pb_end_long(trace__buf *b, size_t start, size_t len);

static inline void pb_end(trace__buf *b, size_t start) {
  size_t len = b->len - start;
  if (TRACE__LIKELY(len < 0x80 && !b->truncated))
    b->data[start - 1] = (char)len;
  else
    trace__otlp_pb_end_long(b, start, len);
}

/* A string field, as valid UTF-8 (proto3 requires it of string fields). */
static inline void pb_string(trace__buf *b, unsigned field, const char *s, size_t n) {
  if (TRACE__LIKELY(trace__otlp_utf8_valid_prefix(s, n) == n)) {
    pb_bytes(b, field, s, n);
  } else {
    size_t m = pb_begin(b, field);
    trace__otlp_put_utf8(b, s, n);
    pb_end(b, m);
  }
}

static inline void pb_cstring(trace__buf *b, unsigned field, const char *s) {
  pb_string(b, field, s, strlen(s));
}

#endif
