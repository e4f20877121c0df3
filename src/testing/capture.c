/* The capture subscriber of <trace/testing.h>: a mutex-protected text log of every operation.
 * Simple rather than fast; it exists for tests. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/thread.h"
#include "../text/buf.h"
#include "../text/escape.h"
#include "../text/number.h"
#include "../text/printf.h"
#include "trace/testing.h"

typedef struct cap_span {
  uint64_t id;
  uint32_t refs;
  const trace_metadata *meta;
} cap_span;

typedef struct stack {
  uint64_t ids[256];
  size_t n;
} stack;

struct trace_capture {
  pthread_mutex_t lock;
  trace_dispatch *dispatch;
  int max_level;
  int hint;
  trace_interest interest;
  trace__buf log;
  cap_span *spans;
  size_t nspans, capspans;
  uint64_t next_id;
  int stack_key;
  trace_capture_stats stats;
  int owners; /* atomic: the test's handle and the subscriber; freed when both are gone */
};

static void stack_free(void *p) { trace__free(p); }

static stack *thread_stack(trace_capture *c) {
  stack *s = trace__local_get(c->stack_key);
  if (!s) {
    s = trace__calloc(1, sizeof *s);
    if (s && !trace__local_set(c->stack_key, s)) {
      trace__free(s);
      s = NULL;
    }
  }
  return s;
}

static cap_span *find(trace_capture *c, uint64_t id) {
  for (size_t i = 0; i < c->nspans; i++)
    if (c->spans[i].id == id)
      return &c->spans[i];
  return NULL;
}

static void put_values(trace__buf *b, const trace_valueset *vs) {
  for (uint32_t i = 0; i < vs->count; i++) {
    const trace_value *v = &vs->values[i];
    if (v->type == TRACE_VALUE_EMPTY)
      continue;
    trace__buf_putc(b, ' ');
    trace__buf_puts(b, trace_valueset_name(vs, i));
    trace__buf_putc(b, '=');
    if (v->type == TRACE_VALUE_STR && v->as.str.ptr) {
      trace__buf_putc(b, '"');
      trace__escape(b, v->as.str.ptr, v->as.str.len, TRACE__ESC_QUOTED);
      trace__buf_putc(b, '"');
    } else {
      char tmp[512];
      size_t n = trace_value_text(v, tmp, sizeof tmp);
      trace__escape(b, tmp, n < sizeof tmp ? n : sizeof tmp - 1, TRACE__ESC_TEXT);
    }
  }
}

static trace_interest cap_register(void *self, const trace_metadata *meta) {
  trace_capture *c = self;
  pthread_mutex_lock(&c->lock);
  c->stats.register_calls++;
  trace_interest i = meta->level <= c->max_level ? c->interest : TRACE_INTEREST_NEVER;
  pthread_mutex_unlock(&c->lock);
  return i;
}

static bool cap_enabled(void *self, const trace_metadata *meta) {
  trace_capture *c = self;
  pthread_mutex_lock(&c->lock);
  c->stats.enabled_calls++;
  pthread_mutex_unlock(&c->lock);
  return meta->level <= c->max_level;
}

static int cap_hint(void *self) {
  trace_capture *c = self;
  pthread_mutex_lock(&c->lock);
  int hint = c->hint;
  pthread_mutex_unlock(&c->lock);
  return hint;
}

static uint64_t cap_new_span(void *self, const trace_span_attrs *a) {
  trace_capture *c = self;
  stack *st = thread_stack(c);
  pthread_mutex_lock(&c->lock);
  if (c->nspans == c->capspans) {
    size_t n = c->capspans ? c->capspans * 2 : 16;
    cap_span *p = trace__realloc(c->spans, n * sizeof *p);
    if (!p) {
      pthread_mutex_unlock(&c->lock);
      return 0;
    }
    c->spans = p;
    c->capspans = n;
  }
  uint64_t id = ++c->next_id;
  c->spans[c->nspans++] = (cap_span){id, 1, a->meta};
  c->stats.spans_new++;
  uint64_t parent = 0;
  if (a->parent_kind == TRACE_PARENT_EXPLICIT)
    parent = a->parent_id;
  else if (a->parent_kind == TRACE_PARENT_CURRENT && st && st->n)
    parent = st->ids[st->n - 1];
  trace__buf_puts(&c->log, "new ");
  trace__buf_u64(&c->log, id);
  trace__buf_putc(&c->log, ' ');
  trace__buf_puts(&c->log, a->meta->name);
  trace__buf_puts(&c->log, " parent=");
  if (parent)
    trace__buf_u64(&c->log, parent);
  else
    trace__buf_putc(&c->log, '-');
  put_values(&c->log, &a->fields);
  trace__buf_putc(&c->log, '\n');
  pthread_mutex_unlock(&c->lock);
  return id;
}

static void log_id(trace_capture *c, const char *what, uint64_t id) {
  pthread_mutex_lock(&c->lock);
  trace__buf_puts(&c->log, what);
  trace__buf_putc(&c->log, ' ');
  trace__buf_u64(&c->log, id);
  trace__buf_putc(&c->log, '\n');
  pthread_mutex_unlock(&c->lock);
}

static void cap_record(void *self, uint64_t id, const trace_valueset *vs) {
  trace_capture *c = self;
  pthread_mutex_lock(&c->lock);
  trace__buf_puts(&c->log, "record ");
  trace__buf_u64(&c->log, id);
  put_values(&c->log, vs);
  trace__buf_putc(&c->log, '\n');
  pthread_mutex_unlock(&c->lock);
}

static void cap_follows(void *self, uint64_t id, uint64_t cause) {
  trace_capture *c = self;
  pthread_mutex_lock(&c->lock);
  trace__buf_puts(&c->log, "follows ");
  trace__buf_u64(&c->log, id);
  trace__buf_putc(&c->log, ' ');
  trace__buf_u64(&c->log, cause);
  trace__buf_putc(&c->log, '\n');
  pthread_mutex_unlock(&c->lock);
}

static void cap_event(void *self, const trace_event *ev) {
  trace_capture *c = self;
  stack *st = thread_stack(c);
  pthread_mutex_lock(&c->lock);
  c->stats.events++;
  trace__buf *b = &c->log;
  trace__buf_puts(b, "event ");
  trace__buf_puts(b, trace_level_name(ev->meta->level));
  trace__buf_putc(b, ' ');
  trace__buf_puts(b, ev->meta->target);
  trace__buf_puts(b, ":");
  if (ev->meta->message) {
    trace__buf_putc(b, ' ');
    va_list ap;
    if (trace_event_va_copy(ev, &ap)) {
      trace__vformat(b, ev->meta->message, ap, TRACE__ESC_TEXT, true, trace_event_errno(ev));
      va_end(ap);
    }
  }
  put_values(b, &ev->fields);
  uint64_t parent = 0;
  if (ev->parent_kind == TRACE_PARENT_EXPLICIT)
    parent = ev->parent_id;
  else if (ev->parent_kind == TRACE_PARENT_CURRENT && st && st->n)
    parent = st->ids[st->n - 1];
  if (parent) {
    trace__buf_puts(b, " in=");
    trace__buf_u64(b, parent);
  }
  trace__buf_putc(b, '\n');
  pthread_mutex_unlock(&c->lock);
}

static void cap_enter(void *self, uint64_t id) {
  trace_capture *c = self;
  stack *st = thread_stack(c);
  if (st && st->n < TRACE__ARRAY_LEN(st->ids))
    st->ids[st->n++] = id;
  log_id(c, "enter", id);
}

static void cap_exit(void *self, uint64_t id) {
  trace_capture *c = self;
  stack *st = thread_stack(c);
  if (st) {
    for (size_t i = st->n; i-- > 0;) {
      if (st->ids[i] == id) {
        memmove(&st->ids[i], &st->ids[i + 1], (st->n - i - 1) * sizeof st->ids[0]);
        st->n--;
        break;
      }
    }
  }
  log_id(c, "exit", id);
}

static uint64_t cap_clone(void *self, uint64_t id) {
  trace_capture *c = self;
  pthread_mutex_lock(&c->lock);
  cap_span *s = find(c, id);
  if (s)
    s->refs++;
  pthread_mutex_unlock(&c->lock);
  return s ? id : 0;
}

static int cap_try_close(void *self, uint64_t id) {
  trace_capture *c = self;
  pthread_mutex_lock(&c->lock);
  cap_span *s = find(c, id);
  int closed = s ? 0 : TRACE_ECLOSED;
  if (s && --s->refs == 0) {
    *s = c->spans[--c->nspans];
    closed = 1;
    c->stats.spans_closed++;
  }
  pthread_mutex_unlock(&c->lock);
  if (closed == 1)
    log_id(c, "close", id);
  return closed;
}

static uint64_t cap_current(void *self, const trace_metadata **meta) {
  trace_capture *c = self;
  stack *st = thread_stack(c);
  if (!st || !st->n)
    return 0;
  uint64_t id = st->ids[st->n - 1];
  pthread_mutex_lock(&c->lock);
  cap_span *s = find(c, id);
  *meta = s ? s->meta : NULL;
  pthread_mutex_unlock(&c->lock);
  return s ? id : 0;
}

static void cap_drop(trace_capture *c) {
  if (__atomic_sub_fetch(&c->owners, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  trace__local_key_delete(c->stack_key);
  trace__buf_free(&c->log);
  trace__free(c->spans);
  pthread_mutex_destroy(&c->lock);
  trace__free(c);
}

static void cap_destroy(void *self) { cap_drop(self); }

static const trace_subscriber_vtable cap_vtable = {
    .struct_size = sizeof(trace_subscriber_vtable),
    .register_callsite = cap_register,
    .enabled = cap_enabled,
    .max_level_hint = cap_hint,
    .new_span = cap_new_span,
    .record = cap_record,
    .record_follows_from = cap_follows,
    .event = cap_event,
    .enter = cap_enter,
    .exit = cap_exit,
    .clone_span = cap_clone,
    .try_close = cap_try_close,
    .current_span = cap_current,
    .destroy = cap_destroy,
};

trace_capture *trace_capture_new(int max_level) {
  trace_capture *c = trace__calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->stack_key = trace__local_key_create(stack_free);
  if (c->stack_key < 0) {
    trace__free(c);
    return NULL;
  }
  pthread_mutex_init(&c->lock, NULL);
  c->max_level = max_level;
  c->hint = max_level;
  c->interest = TRACE_INTEREST_ALWAYS;
  trace__buf_init_growable(&c->log, (size_t)1 << 30);
  c->owners = 2;
  c->dispatch = trace_dispatch_new(&cap_vtable, c);
  if (!c->dispatch) {
    cap_drop(c); /* destroy already dropped the subscriber's share */
    return NULL;
  }
  return c;
}

trace_dispatch *trace_capture_dispatch(trace_capture *cap) { return cap ? cap->dispatch : NULL; }

void trace_capture_free(trace_capture *cap) {
  if (!cap)
    return;
  trace_dispatch_release(cap->dispatch);
  cap_drop(cap);
}

const char *trace_capture_log(trace_capture *c) {
  pthread_mutex_lock(&c->lock);
  trace__buf_putc(&c->log, '\0');
  c->log.len--;
  const char *s = c->log.data ? c->log.data : "";
  pthread_mutex_unlock(&c->lock);
  return s;
}

void trace_capture_clear(trace_capture *c) {
  pthread_mutex_lock(&c->lock);
  c->log.len = 0;
  pthread_mutex_unlock(&c->lock);
}

void trace_capture_set_interest(trace_capture *c, trace_interest interest) {
  pthread_mutex_lock(&c->lock);
  c->interest = interest;
  pthread_mutex_unlock(&c->lock);
}

void trace_capture_set_max_level_hint(trace_capture *c, int hint) {
  pthread_mutex_lock(&c->lock);
  c->hint = hint;
  pthread_mutex_unlock(&c->lock);
}

trace_capture_stats trace_capture_get_stats(trace_capture *c) {
  pthread_mutex_lock(&c->lock);
  trace_capture_stats s = c->stats;
  pthread_mutex_unlock(&c->lock);
  return s;
}
