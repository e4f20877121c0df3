/* Field values: visiting a value set, and the plain text form of a value. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../text/buf.h"
#include "../text/number.h"
#include "core.h"
#include "../text/fmt_text.h"

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
      b->truncated = true; /* past TRACE__FMT_TEXT_MAX: the text is cut, never measured further */
    trace__fmt_text_done(&t);
    break;
  }
  default: break;
  }
}

size_t trace_value_text(const trace_value *v, char *buf, size_t cap) {
  if (!v)
    return 0;
  TRACE__KEEP_ERRNO();
  trace__buf b;
  trace__buf_init_snprintf(&b, buf, cap);
  value_text(&b, v);
  return trace__buf_finish_snprintf(&b);
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
