/* Events: the entry point the event macros call, and message formatting. */
#include <errno.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../text/printf.h"
#include "core.h"

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
  va_list ap;
  va_start(ap, parent);
  trace__event_va(cs, values, parent_kind, parent, &ap);
  va_end(ap);
}

void trace__event_va(trace_callsite *cs, const trace_value *values, int parent_kind,
                     const trace_span *parent, va_list *ap) {
  trace__guard g = trace__guard_enter(TRACE__GUARD_OUTER);
  if (!g.t)
    return;
  trace_dispatch *d = trace__current_dispatch(g.t);
  if (trace__dispatch_alive(d) && d->vt.event) {
    trace_event ev;
    ev.meta = &cs->meta;
    ev.fields = trace__declared_values(cs, values);
    trace__resolve_parent(d, parent_kind, parent, &ev.parent_kind, &ev.parent_id);
    ev.args_ = ap;
    g.t->event_errno = g.saved_errno;
    if (!d->vt.event_enabled || d->vt.event_enabled(d->self, &ev))
      d->vt.event(d->self, &ev);
  }
  trace__guard_leave(&g);
}

bool trace_event_va_copy(const trace_event *ev, va_list *out) {
  if (!ev || !ev->meta || !ev->meta->message || !ev->args_ || !out)
    return false;
  va_copy(*out, *ev->args_);
  return true;
}

int trace_event_errno(const trace_event *ev) {
  (void)ev; /* kept per thread: the callback runs on the thread that emitted ev */
  return trace__tls.event_errno;
}

size_t trace_event_message(const trace_event *ev, char *buf, size_t cap) {
  if (!ev || !ev->meta || !ev->meta->message) {
    if (buf && cap)
      buf[0] = '\0';
    return 0;
  }
  TRACE__KEEP_ERRNO();
  trace__buf b;
  trace__buf_init_snprintf(&b, buf, cap);
  va_list ap;
  if (trace_event_va_copy(ev, &ap)) {
    trace__vformat(&b, ev->meta->message, ap, TRACE__ESC_TEXT, false, trace_event_errno(ev));
    va_end(ap);
  }
  return trace__buf_finish_snprintf(&b);
}
