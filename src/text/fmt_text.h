/* The text of a FMT value (a user callback), for every part of the library that needs it. */
#ifndef TRACE_TEXT_FMT_TEXT_H
#define TRACE_TEXT_FMT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "trace.h"

/* A FMT value's text, got from its callback defensively: the text ends at the returned length or
 * the first NUL, whichever comes first (a callback that claims more than it wrote exposes no
 * stale memory), and is cut at `limit` bytes (cut is then set) whatever length it claims. A
 * callback returning (size_t)-1 (a failed snprintf passed through) gives "<format error>". */
typedef struct trace__fmt_text {
  const char *ptr; /* the text: in small, or in heap */
  size_t len;
  size_t want; /* the length the callback claimed (>= len; larger when cut) */
  bool cut;
  char *heap; /* freed by trace__fmt_text_done */
  char small[256];
} trace__fmt_text;

/* Longest callback text any part of the library asks for (1 MiB). */
#define TRACE__FMT_TEXT_MAX ((size_t)1 << 20)

void trace__fmt_text_get(trace__fmt_text *t, const trace_value *v, size_t limit);
void trace__fmt_text_done(trace__fmt_text *t);

#endif
