/* The text of a FMT value (a user callback), got defensively: see fmt_text.h. */
#include "fmt_text.h"

#include <string.h>

#include "../common/alloc.h"
#include "../common/compiler.h"

void trace__fmt_text_get(trace__fmt_text *t, const trace_value *v, size_t limit) {
  t->ptr = t->small;
  t->len = t->want = 0;
  t->cut = false;
  t->heap = NULL;
  if (v->type != TRACE_VALUE_FMT || !v->as.fmt.fn)
    return;
  if (limit > TRACE__FMT_TEXT_MAX)
    limit = TRACE__FMT_TEXT_MAX;
  /* Zeroed, so that a callback that writes less than it claims shows nothing stale. */
  memset(t->small, 0, sizeof t->small);
  size_t need = v->as.fmt.fn(t->small, sizeof t->small, v->as.fmt.arg);
  if (need == (size_t)-1) {
    t->ptr = "<format error>";
    t->len = t->want = strlen(t->ptr);
    return;
  }
  t->small[sizeof t->small - 1] = '\0';
  t->want = need;
  if (need >= sizeof t->small && limit >= sizeof t->small) {
    /* Long text: once more, into a buffer of the size asked for (up to the limit). */
    size_t cap = TRACE__MIN(need, limit) + 1;
    char *big = trace__malloc(cap);
    if (big) {
      memset(big, 0, cap);
      size_t got = v->as.fmt.fn(big, cap, v->as.fmt.arg);
      big[cap - 1] = '\0';
      t->heap = big;
      t->ptr = big;
      t->len = strnlen(big, TRACE__MIN(got, cap - 1));
      t->want = TRACE__MAX(got, t->len);
    } else {
      t->len = strnlen(t->small, sizeof t->small - 1); /* what fitted: better than nothing */
    }
  } else {
    t->len = strnlen(t->small, TRACE__MIN(need, sizeof t->small - 1));
  }
  if (t->len > limit)
    t->len = limit;
  t->cut = t->want > t->len;
}

void trace__fmt_text_done(trace__fmt_text *t) {
  trace__free(t->heap);
  t->heap = NULL;
}
