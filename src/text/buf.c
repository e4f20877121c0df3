#include "buf.h"

#include "../common/alloc.h"

size_t trace__buf_grow(trace__buf *b, size_t n) {
  size_t want = b->len + n;
  if (want <= b->cap)
    return n;
  if (!b->growable || b->cap >= b->limit)
    return b->cap - b->len;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < want && cap < b->limit)
    cap *= 2;
  if (cap > b->limit)
    cap = b->limit;
  char *p = trace__realloc(b->data, cap);
  if (!p)
    return b->cap - b->len;
  b->data = p;
  b->cap = cap;
  return want <= cap ? n : cap - b->len;
}

void trace__buf_init_growable(trace__buf *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->limit = limit;
  b->truncated = false;
  b->growable = true;
}

void trace__buf_free(trace__buf *b) {
  if (b->growable)
    trace__free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
