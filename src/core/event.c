/* Events: the entry point the event macros call, and message formatting. */
#include <errno.h>

#include "../common/alloc.h"
#include "../text/printf.h"
#include "core.h"
#include "event.h"

void trace__resolve_parent(trace_dispatch *d, int parent_kind, const trace_span *parent,
                           uint32_t *kind, uint64_t *id) {
  *id = 0;
  if (parent_kind == TRACE_I_PK_CURRENT) {
    *kind = TRACE_PARENT_CURRENT;
  } else if (!parent || parent->id == 0 || parent->dispatch != d) {
    /* No parent, a none parent, or one that another subscriber owns (its id would mean
     * nothing here): a root. */
    *kind = TRACE_PARENT_ROOT;
  } else {
    *kind = TRACE_PARENT_EXPLICIT;
    *id = parent->id;
  }
}

void trace__event(trace_callsite *cs, const trace_value *values, int parent_kind,
                  const trace_span *parent, ...) {
  trace__thread *t = trace__thread_enter_guarded();
  if (!t)
    return;
  int saved = trace__errno_get(t);
  trace_dispatch *d = trace__current_dispatch(t);
  if (trace__dispatch_alive(d) && d->vt.event) {
    va_list ap;
    va_start(ap, parent);
    trace_event ev;
    ev.meta = &cs->meta;
    ev.fields.meta = &cs->meta;
    ev.fields.values = values;
    ev.fields.index = NULL;
    ev.fields.count = cs->meta.field_count;
    trace__resolve_parent(d, parent_kind, parent, &ev.parent_kind, &ev.parent_id);
    ev.args_ = &ap;
    t->event_errno = saved;
    if (!d->vt.event_enabled || d->vt.event_enabled(d->self, &ev))
      d->vt.event(d->self, &ev);
    va_end(ap);
  }
  trace__thread_leave(t);
  trace__errno_set(t, saved);
}

void trace__event_format_message(const trace_event *ev, trace__buf *b, trace__escape_mode mode,
                                 bool escape) {
  if (!ev->meta->message || !ev->args_)
    return;
  va_list ap;
  va_copy(ap, *ev->args_);
  trace__vformat(b, ev->meta->message, ap, mode, escape, trace__tls.event_errno);
  va_end(ap);
}

size_t trace_event_message(const trace_event *ev, char *buf, size_t cap) {
  if (!ev || !ev->meta || !ev->meta->message) {
    if (buf && cap)
      buf[0] = '\0';
    return 0;
  }
  int saved = errno;
  char small[1];
  trace__buf b;
  trace__buf_init_fixed(&b, buf && cap ? buf : small, buf && cap ? cap - 1 : 0);
  trace__event_format_message(ev, &b, TRACE__ESC_TEXT, false);
  /* snprintf semantics: the full length, counted (not formatted again into memory: a message
   * can ask for a billion digits). */
  size_t len = b.len + b.dropped;
  if (buf && cap)
    buf[b.len] = '\0';
  errno = saved;
  return len;
}
