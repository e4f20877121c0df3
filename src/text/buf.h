/* An append-only text buffer with a hard size limit. Appends past the limit are dropped and
 * mark the buffer truncated, so a formatter can never overflow and can say that it cut; the bytes
 * dropped are counted, so that a fixed buffer also serves the snprintf-style functions that
 * return the full length (trace__buf_init_snprintf). The storage is caller-provided or grown with
 * trace__alloc_lines up to the limit. A temporary, lower limit (trace__buf_limit_push/pop) bounds
 * one part of the output, e.g. one value. */
#ifndef TRACE_TEXT_BUF_H
#define TRACE_TEXT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/compiler.h"

typedef struct trace__buf {
  char *data;
  size_t len;
  size_t cap;   /* writable end: min(alloc, limit) */
  size_t alloc; /* allocated bytes */
  size_t limit; /* never grows past this */
  bool truncated;
  bool growable; /* data came from trace__malloc and may be reallocated */
  /* Bytes refused since init: with len, the length the text would have had without the limit
   * (exact for plain appends; escaping stops at the cut and counts only the piece it tried). */
  size_t dropped;
} trace__buf;

/* Makes room for n more bytes if the limit allows; returns the room available (may be < n). */
size_t trace__buf_grow(trace__buf *b, size_t n);

static TRACE__INLINE size_t trace__buf_room(trace__buf *b, size_t n) {
  if (TRACE__LIKELY(b->cap - b->len >= n))
    return n;
  return trace__buf_grow(b, n);
}

/* Copies of a few bytes are the common case in formatting; fixed-size moves beat a call. */
static TRACE__INLINE void trace__small_copy(char *d, const char *s, size_t n) {
  if (__builtin_constant_p(n)) {
    memcpy(d, s, n); /* the compiler inlines a known size best */
  } else if (n >= 8 && n <= 16) {
    uint64_t a, z;
    memcpy(&a, s, 8);
    memcpy(&z, s + n - 8, 8);
    memcpy(d, &a, 8);
    memcpy(d + n - 8, &z, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t a, z;
    memcpy(&a, s, 4);
    memcpy(&z, s + n - 4, 4);
    memcpy(d, &a, 4);
    memcpy(d + n - 4, &z, 4);
  } else if (n >= 2 && n < 4) {
    uint16_t a, z;
    memcpy(&a, s, 2);
    memcpy(&z, s + n - 2, 2);
    memcpy(d, &a, 2);
    memcpy(d + n - 2, &z, 2);
  } else if (n == 1) {
    d[0] = s[0];
  } else if (n > 16) {
    memcpy(d, s, n);
  }
}

/* The part of trace__buf_put that does not fit: out of line, so that the inlined copy keeps the
   caller's size (a constant, often) and the compiler never sees a clamped length. */
void trace__buf_put_cut(trace__buf *b, const char *s, size_t n);

static TRACE__INLINE void trace__buf_put(trace__buf *b, const char *s, size_t n) {
  if (TRACE__LIKELY(trace__buf_room(b, n) >= n)) {
    trace__small_copy(b->data + b->len, s, n);
    b->len += n;
  } else {
    trace__buf_put_cut(b, s, n);
  }
}

/* Bytes that trace__buf_put_padded may read past a source and write past the end of the text. */
#define TRACE__BUF_PAD 16

/* trace__buf_put for a source that stays readable for TRACE__BUF_PAD bytes whatever n is (static
 * text kept with padding after it): a short piece is moved as one fixed-size block, with no
 * branching on its length; the bytes past n land in the free part of the buffer and are
 * overwritten by what follows. */
static TRACE__INLINE void trace__buf_put_padded(trace__buf *b, const char *s, size_t n) {
  if (TRACE__LIKELY(n <= TRACE__BUF_PAD && b->cap - b->len >= TRACE__BUF_PAD)) {
    memcpy(b->data + b->len, s, TRACE__BUF_PAD);
    b->len += n;
  } else {
    trace__buf_put(b, s, n);
  }
}

/* trace__buf_put for a source that stays readable for TRACE__BUF_PAD bytes past n, of any length:
 * moved in whole blocks of TRACE__BUF_PAD bytes, the last one running into the free part of the
 * buffer (overwritten by what follows). */
static TRACE__INLINE void trace__buf_put_blocks(trace__buf *b, const char *s, size_t n) {
  if (TRACE__LIKELY(b->cap - b->len >= n + TRACE__BUF_PAD)) {
    char *d = b->data + b->len;
    size_t o = 0;
    do { /* at least one block: n is rarely 0, and a block of padding then harms nothing */
      memcpy(d + o, s + o, TRACE__BUF_PAD);
      o += TRACE__BUF_PAD;
    } while (o < n);
    b->len += n;
  } else {
    trace__buf_put(b, s, n);
  }
}

/* All n bytes or none (for a UTF-8 sequence or an escape that must not be cut). */
static TRACE__INLINE void trace__buf_put_whole(trace__buf *b, const char *s, size_t n) {
  if (TRACE__UNLIKELY(trace__buf_room(b, n) < n)) {
    b->truncated = true;
    b->dropped += n;
    return;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
}

static TRACE__INLINE void trace__buf_putc(trace__buf *b, char c) {
  if (TRACE__LIKELY(b->len < b->cap) || trace__buf_grow(b, 1)) {
    b->data[b->len++] = c;
  } else {
    b->truncated = true;
    b->dropped++;
  }
}

static inline void trace__buf_puts(trace__buf *b, const char *s) { trace__buf_put(b, s, strlen(s)); }

/* How many of n bytes about to be written fit (room made first); the rest are counted dropped
 * and the buffer marked truncated. The caller writes that many at data + len, then adds them to
 * len (the data pointer is NULL when a growable buffer could not allocate: write only if > 0). */
static inline size_t trace__buf_claim(trace__buf *b, size_t n) {
  size_t room = trace__buf_room(b, n);
  if (room < n) {
    b->dropped += n - room;
    b->truncated = true;
    return room;
  }
  return n;
}

static inline void trace__buf_fill(trace__buf *b, char c, size_t n) {
  n = trace__buf_claim(b, n);
  if (n)
    memset(b->data + b->len, c, n);
  b->len += n;
}

/* Initialises b over caller storage of cap bytes (not growable). */
static inline void trace__buf_init_fixed(trace__buf *b, char *data, size_t cap) {
  b->data = data;
  b->len = 0;
  b->cap = b->alloc = b->limit = cap;
  b->truncated = false;
  b->growable = false;
  b->dropped = 0;
}

/* snprintf-style output into a caller's buffer of cap bytes (buf may be NULL when cap is 0): at
 * most cap - 1 bytes of text and a NUL; what does not fit is counted, not stored. */
static inline void trace__buf_init_snprintf(trace__buf *b, char *buf, size_t cap) {
  trace__buf_init_fixed(b, buf && cap ? buf : (char *)0, buf && cap ? cap - 1 : 0);
}
/* Terminates the text of a trace__buf_init_snprintf buffer; returns the full length. */
static inline size_t trace__buf_finish_snprintf(trace__buf *b) {
  if (b->data)
    b->data[b->len] = '\0';
  return b->len + b->dropped;
}

void trace__buf_init_growable(trace__buf *b, size_t limit);
void trace__buf_free(trace__buf *b);

/* Limits the next appends to at most n more bytes; returns what pop needs to undo it. The
 * truncated flag then tells whether that part was cut; pop restores the previous flag too. */
typedef struct trace__buf_mark {
  size_t limit;
  bool truncated;
} trace__buf_mark;
static inline trace__buf_mark trace__buf_limit_push(trace__buf *b, size_t n) {
  trace__buf_mark m = {b->limit, b->truncated};
  b->truncated = false;
  if (b->len + n < b->limit) {
    b->limit = b->len + n;
    if (b->cap > b->limit)
      b->cap = b->limit;
  }
  return m;
}
/* Ends the limit; returns whether the limited part was cut. */
static inline bool trace__buf_limit_pop(trace__buf *b, trace__buf_mark m) {
  bool cut = b->truncated;
  b->limit = m.limit;
  b->cap = b->alloc < b->limit ? b->alloc : b->limit;
  b->truncated = m.truncated;
  return cut;
}

#endif
