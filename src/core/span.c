/* Span handles: creation (called by the span macros), enter/exit, clone/close, record,
 * follows-from, current. Span operations use the dispatcher stored in the handle, so a span
 * works on any thread and under any default; only creating one consults the current default. */
#define TRACE_TARGET "trace"
#include <errno.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "core.h"
#include "trace/context.h"

/* parent_kind and parent: the local parent, with TRACE_I_PK_ENTER when the new span is also
 * entered (TRACE_SCOPE, TRACE_SPAN_ENTERED: one call and one guard where two would do the same);
 * remote: the parent in a trace of another process. Inlined into both entry points: a span
 * costs no extra call for the remote form's sake. */
static TRACE__INLINE trace_span span_new(trace_callsite *cs, const trace_value *values,
                                         int parent_kind, const trace_span *parent,
                                         const trace_context *remote) {
  trace_span s = trace_span_none();
  trace__guard g = trace__guard_enter(TRACE__GUARD_OUTER);
  if (!g.t)
    return s;
  trace_dispatch *d = trace__current_dispatch(g.t);
  if (trace__dispatch_alive(d) && d->vt.new_span) {
    trace_span_attrs attrs;
    attrs.meta = &cs->meta;
    attrs.fields = trace__declared_values(cs, values);
    trace__resolve_parent(d, parent_kind & ~TRACE_I_PK_ENTER, parent, &attrs.parent_kind,
                          &attrs.parent_id);
    attrs.remote_parent = remote;
    bool enter = parent_kind & TRACE_I_PK_ENTER;
    uint64_t id = enter && d->vt.new_span_entered ? d->vt.new_span_entered(d->self, &attrs)
                                                  : d->vt.new_span(d->self, &attrs);
    if (id) {
      s.id = id;
      s.dispatch = d;
      s.meta = &cs->meta;
      trace__dispatch_span_ref(d);
      if (enter && !d->vt.new_span_entered && d->vt.enter)
        d->vt.enter(d->self, id);
    }
  }
  trace__guard_leave(&g);
  return s;
}

trace_span trace__span_new(trace_callsite *cs, const trace_value *values, int parent_kind,
                           const trace_span *parent) {
  return span_new(cs, values, parent_kind, parent, NULL);
}

trace_span trace__span_new_remote(trace_callsite *cs, const trace_value *values,
                                  const trace_context *remote) {
  /* NULL: an ordinary span. A context with a zero id starts a new trace: the subscriber sees
   * it as it is. */
  return span_new(cs, values, TRACE_I_PK_CURRENT, NULL, remote);
}

/* A handle with an id but no dispatcher was not made by libtrace: treat it as none. */
static inline bool usable(const trace_span *s) { return !trace_span_is_none(s) && s->dispatch; }

typedef void (*span_fn)(void *self, uint64_t id);

/* Enter and exit: the vtable entry at offset `entry` (a constant once inlined) with s's id. */
static TRACE__INLINE void notify(const trace_span *s, size_t entry) {
  if (!usable(s))
    return;
  trace__guard g = trace__guard_enter(TRACE__GUARD_NESTED);
  if (!g.t)
    return;
  trace_dispatch *d = s->dispatch;
  span_fn fn;
  memcpy(&fn, (const char *)&d->vt + entry, sizeof fn);
  if (trace__dispatch_alive(d) && fn)
    fn(d->self, s->id);
  trace__guard_leave(&g);
}

void trace_span_enter(const trace_span *s) { notify(s, offsetof(trace_subscriber_vtable, enter)); }
void trace_span_exit(const trace_span *s) { notify(s, offsetof(trace_subscriber_vtable, exit)); }

/* Drops s's reference, exiting the span first when exit is set (trace_span_end: one call and
 * one guard for the pair). The close proceeds even on a thread that is exiting (t == NULL), so
 * the span is not leaked; the exit, which needs the thread's state, does not. */
static TRACE__INLINE void finish(trace_span *s, bool exit) {
  if (!usable(s)) {
    if (s)
      *s = trace_span_none();
    return;
  }
  trace_span c = *s;
  *s = trace_span_none();
  trace__thread *t = trace__thread_enter();
  int *err = t ? t->errno_at : &errno;
  int saved = *err;
  int rc = 0;
  trace_dispatch *d = c.dispatch;
  if (!trace__dispatch_alive(d)) {
    /* shut down: nothing to tell */
  } else if (exit && t && d->vt.exit_close) {
    rc = d->vt.exit_close(d->self, c.id);
  } else {
    if (exit && t && d->vt.exit)
      d->vt.exit(d->self, c.id);
    if (d->vt.try_close)
      rc = d->vt.try_close(d->self, c.id);
  }
  if (t)
    trace__thread_leave(t);
  /* An id the subscriber does not know (a second copy of a closed handle) held no reference. */
  if (rc >= 0)
    trace__dispatch_span_unref(d);
  *err = saved;
}

void trace_span_close(trace_span *s) { finish(s, false); }
void trace_span_end(trace_span *s) { finish(s, true); }

trace_span trace_span_clone(const trace_span *s) {
  trace_span c = trace_span_none();
  if (!usable(s))
    return c;
  trace__guard g = trace__guard_enter(TRACE__GUARD_NESTED);
  if (!g.t)
    return c;
  trace_dispatch *d = s->dispatch;
  if (trace__dispatch_alive(d)) {
    uint64_t id = d->vt.clone_span ? d->vt.clone_span(d->self, s->id) : s->id;
    if (id) {
      c = *s;
      c.id = id;
      trace__dispatch_span_ref(d);
    }
  }
  trace__guard_leave(&g);
  return c;
}

trace_span trace_span_current(void) {
  trace_span c = trace_span_none();
  trace__guard g = trace__guard_enter(TRACE__GUARD_OUTER);
  if (!g.t)
    return c;
  trace_dispatch *d = trace__current_dispatch(g.t);
  if (trace__dispatch_alive(d) && d->vt.current_span) {
    const trace_metadata *meta = NULL;
    uint64_t id = d->vt.current_span(d->self, &meta);
    if (id && meta) {
      uint64_t cid = d->vt.clone_span ? d->vt.clone_span(d->self, id) : id;
      if (cid) {
        c.id = cid;
        c.dispatch = d;
        c.meta = meta;
        trace__dispatch_span_ref(d);
      }
    }
  }
  trace__guard_leave(&g);
  return c;
}

int trace_span_context(const trace_span *s, trace_context *out) {
  if (!out)
    return TRACE_EINVAL;
  memset(out, 0, offsetof(trace_context, tracestate) + 1);
  if (!usable(s))
    return TRACE_ECLOSED;
  trace__thread *t = trace__thread_enter();
  if (!t)
    return TRACE_ENOTSUP;
  int saved = trace__errno_get(t);
  trace_dispatch *d = s->dispatch;
  int rc = TRACE_ENOTSUP;
  if (!trace__dispatch_alive(d))
    rc = TRACE_ECLOSED;
  else if (d->vt.span_context)
    rc = d->vt.span_context(d->self, s->id, out);
  if (rc != 0)
    memset(out, 0, offsetof(trace_context, tracestate) + 1);
  trace__thread_leave(t);
  trace__errno_set(t, saved);
  return rc;
}

int trace_span_follows_from(const trace_span *s, const trace_span *cause) {
  if (!usable(s) || !usable(cause))
    return TRACE_ECLOSED;
  if (s->dispatch != cause->dispatch)
    return TRACE_EINVAL;
  trace__guard g = trace__guard_enter(TRACE__GUARD_NESTED);
  if (!g.t)
    return 0;
  trace_dispatch *d = s->dispatch;
  if (trace__dispatch_alive(d) && d->vt.record_follows_from)
    d->vt.record_follows_from(d->self, s->id, cause->id);
  trace__guard_leave(&g);
  return 0;
}

int trace_span_record(const trace_span *s, const char *field, trace_value v) {
  if (!usable(s) || !s->meta)
    return TRACE_ECLOSED;
  if (!field)
    return TRACE_EINVAL;
  const trace_metadata *m = s->meta;
  int index = -1;
  for (int i = 0; i < m->field_count; i++) {
    if (strcmp(m->field_names[i], field) == 0) {
      index = i;
      break;
    }
  }
  if (index < 0) {
    trace__report_undeclared(m, field, &v);
    return TRACE_ENOFIELD;
  }
  trace__guard g = trace__guard_enter(TRACE__GUARD_NESTED);
  if (!g.t)
    return 0;
  trace_dispatch *d = s->dispatch;
  if (trace__dispatch_alive(d) && d->vt.record) {
    uint16_t ix = (uint16_t)index;
    trace_valueset vs = {m, &v, &ix, 1};
    d->vt.record(d->self, s->id, &vs);
  }
  trace__guard_leave(&g);
  return 0;
}

/* (callsite, field) pairs already reported; a mistake is reported once, not per call. */
typedef struct reported {
  const trace_metadata *meta;
  struct reported *next;
  char field[];
} reported;
static reported *reported_head;

void trace__report_undeclared(const trace_metadata *meta, const char *field, const trace_value *v) {
  if (trace__tls.depth != 0)
    return; /* inside a subscriber: the warning could not be delivered anyway */
  TRACE__KEEP_ERRNO();
  trace__core_init();
  bool first = true;
  trace__mutex_lock(&trace__dispatch_lock);
  for (reported *r = reported_head; r; r = r->next)
    if (r->meta == meta && strcmp(r->field, field) == 0)
      first = false;
  if (first) {
    size_t n = strlen(field);
    reported *r = trace__malloc(sizeof *r + n + 1);
    if (r) {
      r->meta = meta;
      memcpy(r->field, field, n + 1);
      r->next = reported_head;
      reported_head = r;
    }
  }
  trace__mutex_unlock(&trace__dispatch_lock);
  if (first)
    TRACE_WARN(TF(span, meta->name), TF(field, field), TF(value, *v), TF(file, meta->file),
               TF(line, meta->line),
               "recorded a field the span does not declare; declare it with TF(name, TRACE_EMPTY)");
}
