/* Field values: visiting a value set, and the plain text form of a value. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "../text/buf.h"
#include "../text/number.h"
#include "core.h"
#include "fmt_text.h"

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

/* The text form into b; shared by trace_value_text and the visitor's fallback. */
static void value_text(trace__buf *b, const trace_value *v) {
  switch (v->type) {
  case TRACE_VALUE_I64: trace__buf_i64(b, v->as.i64); break;
  case TRACE_VALUE_U64: trace__buf_u64(b, v->as.u64); break;
  case TRACE_VALUE_F64: trace__buf_f64(b, v->as.f64, false); break;
  case TRACE_VALUE_BOOL: trace__buf_puts(b, v->as.b ? "true" : "false"); break;
  case TRACE_VALUE_STR:
  case TRACE_VALUE_DISPLAY:
    if (v->as.str.ptr)
      trace__buf_put(b, v->as.str.ptr, v->as.str.len);
    else
      trace__buf_puts(b, "null");
    break;
  case TRACE_VALUE_PTR: trace__buf_ptr(b, v->as.ptr); break;
  case TRACE_VALUE_FMT: {
    trace__fmt_text t;
    trace__fmt_text_get(&t, v, TRACE__FMT_TEXT_MAX);
    trace__buf_put(b, t.ptr, t.len);
    if (t.cut)
      b->truncated = true;
    trace__fmt_text_done(&t);
    break;
  }
  default: break;
  }
}

size_t trace_value_text(const trace_value *v, char *buf, size_t cap) {
  if (!v)
    return 0;
  int saved = errno;
  char small[1];
  trace__buf b;
  trace__buf_init_fixed(&b, buf && cap ? buf : small, buf && cap ? cap - 1 : 0);
  value_text(&b, v);
  size_t len = b.len;
  if (b.truncated) {
    trace__buf full;
    trace__buf_init_growable(&full, (size_t)1 << 30);
    value_text(&full, v);
    len = full.len;
    trace__buf_free(&full);
  }
  if (buf && cap)
    buf[b.len] = '\0';
  errno = saved;
  return len;
}

void trace_valueset_visit(const trace_valueset *vs, const trace_visitor *vis, void *ctx) {
  if (!vs || !vis)
    return;
  trace_visitor v = {0};
  size_t n = vis->struct_size < sizeof v ? vis->struct_size : sizeof v;
  memcpy(&v, vis, n);
  char small[256];
  for (uint32_t i = 0; i < vs->count; i++) {
    const trace_value *val = &vs->values[i];
    const char *name = trace_valueset_name(vs, i);
    switch (val->type) {
    case TRACE_VALUE_EMPTY: continue;
    case TRACE_VALUE_I64:
      if (v.on_i64) {
        v.on_i64(ctx, name, val->as.i64);
        continue;
      }
      break;
    case TRACE_VALUE_U64:
      if (v.on_u64) {
        v.on_u64(ctx, name, val->as.u64);
        continue;
      }
      break;
    case TRACE_VALUE_F64:
      if (v.on_f64) {
        v.on_f64(ctx, name, val->as.f64);
        continue;
      }
      break;
    case TRACE_VALUE_BOOL:
      if (v.on_bool) {
        v.on_bool(ctx, name, val->as.b);
        continue;
      }
      break;
    case TRACE_VALUE_STR:
    case TRACE_VALUE_DISPLAY:
      if (v.on_str) {
        v.on_str(ctx, name, val->as.str.ptr, val->as.str.len);
        continue;
      }
      break;
    case TRACE_VALUE_PTR:
      if (v.on_ptr) {
        v.on_ptr(ctx, name, val->as.ptr);
        continue;
      }
      break;
    default: break;
    }
    if (!v.on_text)
      continue;
    trace__buf fixed;
    trace__buf_init_fixed(&fixed, small, sizeof small);
    value_text(&fixed, val);
    if (!fixed.truncated) {
      v.on_text(ctx, name, small, fixed.len);
    } else {
      trace__buf big;
      trace__buf_init_growable(&big, (size_t)1 << 24);
      value_text(&big, val);
      v.on_text(ctx, name, big.data ? big.data : "", big.len);
      trace__buf_free(&big);
    }
  }
}
