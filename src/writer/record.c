/* Reading a record for the structured writers: its message, its fields and its spans' fields as
 * text, and the plain text form "span{k=v}:span: target: message k=v". */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../text/escape.h"
#include "internal.h"

#define SCOPE_MAX 64
#define VALUE_MAX 4096 /* as the fmt layer's default max_value_len */

static bool is_message_field(const trace_record *rec, const char *name) {
  /* Without a format, a field called "message" is the message (as in tracing). */
  return !rec->message && rec->event && !rec->meta->message && strcmp(name, "message") == 0;
}

void trace__record_message(const trace_record *rec, trace__buf *b) {
  if (rec->message) {
    trace__buf_puts(b, rec->message);
    return;
  }
  const trace_event *ev = rec->event;
  if (!ev)
    return;
  if (rec->meta->message) {
    size_t room = trace__buf_room(b, 256);
    size_t len = trace_event_message(ev, b->data ? b->data + b->len : NULL, room);
    if (len >= room) {
      room = trace__buf_room(b, len + 1);
      if (room > len) {
        trace_event_message(ev, b->data + b->len, room);
      } else {
        len = room ? room - 1 : 0;
        if (room)
          trace_event_message(ev, b->data + b->len, room);
        b->truncated = true;
      }
    }
    b->len += len;
    return;
  }
  for (uint32_t i = 0; i < ev->fields.count; i++) {
    const trace_value *v = &ev->fields.values[i];
    if (strcmp(trace_valueset_name(&ev->fields, i), "message") != 0 || v->type == TRACE_VALUE_EMPTY)
      continue;
    if ((v->type == TRACE_VALUE_STR || v->type == TRACE_VALUE_DISPLAY) && v->as.str.ptr) {
      trace__buf_put(b, v->as.str.ptr, v->as.str.len);
    } else {
      char text[VALUE_MAX];
      size_t len = trace_value_text(v, text, sizeof text);
      trace__buf_put(b, text, len < sizeof text ? len : sizeof text - 1);
    }
    return;
  }
}

/* One value's text form, to fn. */
static void visit_value(const char *name, const trace_value *v, trace__record_field_fn fn,
                        void *arg) {
  if ((v->type == TRACE_VALUE_STR || v->type == TRACE_VALUE_DISPLAY) && v->as.str.ptr) {
    fn(arg, name, v->as.str.ptr, v->as.str.len, v->type == TRACE_VALUE_STR);
    return;
  }
  char text[VALUE_MAX];
  size_t len = trace_value_text(v, text, sizeof text);
  fn(arg, name, text, len < sizeof text ? len : sizeof text - 1, false);
}

void trace__record_fields(const trace_record *rec, trace__record_field_fn fn, void *arg) {
  const trace_event *ev = rec->event;
  if (!ev)
    return;
  for (uint32_t i = 0; i < ev->fields.count; i++) {
    const trace_value *v = &ev->fields.values[i];
    const char *name = trace_valueset_name(&ev->fields, i);
    if (v->type == TRACE_VALUE_EMPTY || is_message_field(rec, name))
      continue;
    visit_value(name, v, fn, arg);
  }
}

/* The registry's stored span values come through a visitor: strings (quoted or bare, it does not
 * say) by on_str, everything else as text. */
typedef struct span_visit {
  trace__record_field_fn fn;
  void *arg;
} span_visit;

static void span_str(void *ctx, const char *name, const char *s, size_t len) {
  span_visit *sv = ctx;
  if (s)
    sv->fn(sv->arg, name, s, len, true);
  else
    sv->fn(sv->arg, name, "null", 4, false);
}

static void span_text(void *ctx, const char *name, const char *text, size_t len) {
  span_visit *sv = ctx;
  sv->fn(sv->arg, name, text, len, false);
}

void trace__record_spans(const trace_record *rec, const trace__record_span_fns *fns, void *arg) {
  if (!rec->ctx || !rec->span)
    return;
  const trace_span_ref *scope[SCOPE_MAX];
  size_t n = trace_ctx_scope(rec->ctx, rec->span, scope, SCOPE_MAX);
  if (n > SCOPE_MAX)
    n = SCOPE_MAX; /* the innermost 64, as the fmt layer shows */
  trace_visitor vis;
  memset(&vis, 0, sizeof vis);
  vis.struct_size = sizeof vis;
  vis.on_str = span_str;
  vis.on_text = span_text;
  span_visit sv = {fns->field, arg};
  for (size_t i = 0; i < n; i++) {
    if (fns->span)
      fns->span(arg, (uint32_t)i, trace_span_ref_meta(scope[i]));
    if (fns->field)
      trace_span_ref_visit(scope[i], &vis, &sv);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The plain text form. */

typedef struct text_state {
  trace__buf *b;
  bool first;  /* no field written yet in this list */
  bool in_span; /* a span's name was written: its fields go in braces */
  bool braced;  /* its '{' was written */
} text_state;

static void text_field(void *arg, const char *name, const char *text, size_t len, bool quoted) {
  text_state *t = arg;
  if (t->in_span && !t->braced) {
    trace__buf_putc(t->b, '{');
    t->braced = true;
  } else if (!t->first) {
    trace__buf_putc(t->b, ' ');
  }
  t->first = false;
  trace__escape_cstr(t->b, name, TRACE__ESC_TEXT);
  trace__buf_putc(t->b, '=');
  if (quoted)
    trace__buf_putc(t->b, '"');
  trace__escape(t->b, text, len, quoted ? TRACE__ESC_QUOTED : TRACE__ESC_TEXT);
  if (quoted)
    trace__buf_putc(t->b, '"');
}

static void close_span(text_state *t) {
  if (t->braced)
    trace__buf_putc(t->b, '}');
  trace__buf_putc(t->b, ':');
  t->in_span = t->braced = false;
}

static void text_span(void *arg, uint32_t depth, const trace_metadata *meta) {
  text_state *t = arg;
  (void)depth;
  if (t->in_span)
    close_span(t);
  trace__escape_cstr(t->b, meta->name, TRACE__ESC_TEXT);
  t->in_span = true;
  t->first = true;
}

size_t trace__record_put_message(const trace_record *rec, trace__buf *b, char *scratch,
                                 size_t cap) {
  trace__buf m;
  trace__buf_init_fixed(&m, scratch, cap);
  trace__record_message(rec, &m);
  trace__escape(b, m.data, m.len, TRACE__ESC_TEXT);
  if (m.truncated)
    trace__buf_puts(b, "...[truncated]");
  return m.len;
}

void trace__record_text(const trace_record *rec, trace__buf *b) {
  text_state t = {b, true, false, false};
  static const trace__record_span_fns fns = {text_span, text_field};
  trace__record_spans(rec, &fns, &t);
  if (t.in_span) {
    close_span(&t);
    trace__buf_putc(b, ' ');
  }
  trace__escape_cstr(b, rec->meta->target, TRACE__ESC_TEXT);
  trace__buf_puts(b, ": ");
  char small[1024];
  t.first = trace__record_put_message(rec, b, small, sizeof small) == 0;
  t.in_span = false;
  trace__record_fields(rec, text_field, &t);
}

const char *trace__program_name(void) {
  extern char *program_invocation_short_name;
  return program_invocation_short_name && *program_invocation_short_name
             ? program_invocation_short_name
             : "-";
}
