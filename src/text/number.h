/* Number formatting for output: fast decimal integers, hexadecimal, and doubles in the shortest
 * form that reads back to the same value (Rust's Debug style: 0.5, 1.0, 1e16, -3.5e-7). */
#ifndef TRACE_TEXT_NUMBER_H
#define TRACE_TEXT_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

extern const char trace__digit_pairs[201];

static inline unsigned trace__digits10(uint64_t v) {
  unsigned n = 1;
  for (;;) {
    if (v < 10)
      return n;
    if (v < 100)
      return n + 1;
    if (v < 1000)
      return n + 2;
    if (v < 10000)
      return n + 3;
    v /= 10000;
    n += 4;
  }
}

/* Writes the decimal digits of v into out (at least 20 bytes); returns the length. Inline: it is
 * on every event with a number. */
static inline size_t trace__u64_dec(char *out, uint64_t v) {
  unsigned n = trace__digits10(v);
  char *p = out + n;
  while (v >= 100) {
    unsigned r = (unsigned)(v % 100);
    v /= 100;
    p -= 2;
    p[0] = trace__digit_pairs[2 * r];
    p[1] = trace__digit_pairs[2 * r + 1];
  }
  if (v >= 10) {
    p[-2] = trace__digit_pairs[2 * v];
    p[-1] = trace__digit_pairs[2 * v + 1];
  } else {
    p[-1] = (char)('0' + v);
  }
  return n;
}

static inline size_t trace__i64_dec(char *out, int64_t v) { /* at least 21 bytes */
  if (v < 0) {
    out[0] = '-';
    return 1 + trace__u64_dec(out + 1, (uint64_t)0 - (uint64_t)v);
  }
  return trace__u64_dec(out, (uint64_t)v);
}

static inline void trace__buf_u64(trace__buf *b, uint64_t v) {
  if (TRACE__LIKELY(trace__buf_room(b, 20) == 20)) {
    b->len += trace__u64_dec(b->data + b->len, v); /* straight into the buffer */
    return;
  }
  char tmp[20];
  trace__buf_put(b, tmp, trace__u64_dec(tmp, v));
}

static inline void trace__buf_i64(trace__buf *b, int64_t v) {
  if (TRACE__LIKELY(trace__buf_room(b, 21) == 21)) {
    b->len += trace__i64_dec(b->data + b->len, v);
    return;
  }
  char tmp[21];
  trace__buf_put(b, tmp, trace__i64_dec(tmp, v));
}
/* 0x-prefixed lowercase hex, as Rust prints pointers. */
void trace__buf_ptr(trace__buf *b, const void *p);
/* The shortest form that reads back as v, as tracing writes it (src/text/f64.c): Rust's {:?} (json:
 * false; NaN, inf, -inf) or serde_json's (json: true; null for NaN and infinities). */
void trace__buf_f64(trace__buf *b, double v, bool json);
/* The same text written at p, which must have TRACE__F64_TEXT_ROOM bytes (it is stored in
 * fixed-size pieces that may run past its end); returns its length. For callers that write
 * through a cursor of their own (the fmt layer's fields). */
#define TRACE__F64_TEXT_ROOM 48
size_t trace__f64_text(char *p, double v, bool json);

#endif
