#include "buf.h"

#include "../common/alloc.h"

size_t trace__buf_grow(trace__buf *b, size_t n) {
  size_t want = b->len + n;
  if (want <= b->cap)
    return n;
  if (b->growable && b->alloc < b->limit && b->alloc < want) {
    size_t alloc = b->alloc ? b->alloc : 256;
    while (alloc < want && alloc < b->limit)
      alloc *= 2;
    /* Buffers are written on every event by one thread: keep their lines to themselves. */
    char *p = trace__alloc_lines(alloc);
    if (p) {
      char *old = b->data;
      if (old)
        memcpy(p, old, b->len);
      b->data = p; /* published before the old block goes (fork: see trace__buf_free) */
      b->alloc = alloc;
      TRACE__RELEASE_FENCE();
      trace__free_lines(old);
    }
  }
  b->cap = b->alloc < b->limit ? b->alloc : b->limit;
  return want <= b->cap ? n : b->cap - b->len;
}

void trace__buf_put_cut(trace__buf *b, const char *s, size_t n) {
  n = trace__buf_claim(b, n);
  if (n)
    memcpy(b->data + b->len, s, n);
  b->len += n;
}

void trace__buf_init_growable(trace__buf *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->alloc = 0;
  b->limit = limit;
  b->truncated = false;
  b->growable = true;
  b->dropped = 0;
}

void trace__buf_free(trace__buf *b) {
  /* Unpublished before it is freed: nothing a fork() in between copies points at freed memory. */
  char *data = b->data;
  b->data = NULL;
  b->len = b->cap = b->alloc = 0;
  TRACE__RELEASE_FENCE();
  if (b->growable)
    trace__free_lines(data);
}
