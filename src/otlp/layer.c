/* The OTLP layer: the callbacks that run on instrumented threads. They read what the registry
 * keeps (ids, values) through the public doors and append one record per finished span or event
 * to the thread's ring. No lock, no allocation, no system call in steady state (a thread's
 * first record allocates its ring; a callsite's first record copies its metadata). */
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "internal.h"
#include "write.h"

/* Per span, in the registry's extension for this layer. Times in clock ticks (otlp_clock). Its
 * first 16 bytes are what the registry writes there with TRACE_LAYER_CREATION (a
 * trace_span_creation: start, thread, then zeros for the two flags), or on_new_span without. */
typedef struct span_ext {
  uint64_t start;
  uint32_t thread_id;
  uint8_t error;  /* atomic: an ERROR event happened in it */
  uint8_t closed; /* on_close_read ran for it */
  uint8_t unused_[2];
  uint64_t last; /* the last enter or exit, for busy and idle time */
  uint64_t busy, idle;
  uint32_t entered; /* under lock */
  uint32_t lock;    /* a spin lock for the four fields above */
} span_ext;
_Static_assert(offsetof(span_ext, start) == offsetof(trace_span_creation, ticks) &&
                   offsetof(span_ext, thread_id) == offsetof(trace_span_creation, thread_id) &&
                   offsetof(span_ext, error) == offsetof(trace_span_creation, zero) &&
                   offsetof(span_ext, last) == sizeof(trace_span_creation),
               "span_ext starts with a trace_span_creation");

static inline void ext_lock(span_ext *e) {
  while (__atomic_exchange_n(&e->lock, 1, __ATOMIC_ACQUIRE))
    while (TRACE__LOAD(&e->lock))
      __builtin_ia32_pause();
}
static inline void ext_unlock(span_ext *e) { __atomic_store_n(&e->lock, 0, __ATOMIC_RELEASE); }

static span_ext *ext_of(uint64_t id, const trace_ctx *ctx) { return trace_ctx_span_ext(ctx, id); }

static void on_new_span(void *self, const trace_span_attrs *a, uint64_t id, const trace_ctx *ctx) {
  (void)a;
  trace_otlp *x = self;
  /* No check_fork: nothing is written here (the records come at close, which checks). */
  span_ext *e = ext_of(id, ctx);
  if (!e)
    return;
  /* The ring, made now if this thread has none yet, announces the creating thread's name. */
  ring *r = trace__otlp_ring(x);
  uint64_t now = otlp_ticks(x->conf.tsc);
  e->start = now;
  if (x->conf.track_inactivity) { /* what on_enter, on_exit and on_close_read read only then */
    e->last = now;
    e->busy = e->idle = 0;
    e->entered = 0;
    e->lock = 0;
  }
  e->error = 0;
  e->closed = 0;
  e->thread_id = TRACE__LIKELY(r != NULL) ? r->thread_id : trace_thread_id();
}

/* With TRACE_LAYER_CREATION (see creation_by_registry) the registry notes each span's start and
 * thread, and the layer hears only of a thread's first span: its ring, made now, announces the
 * thread's name before any record of a span it made (which another thread may close). */
static void on_first_span(void *self, const trace_span_attrs *a, uint64_t id,
                          const trace_ctx *ctx) {
  (void)a, (void)id, (void)ctx;
  (void)trace__otlp_ring(self);
}

/* Whether the registry's trace_span_creation can stand for on_new_span: its ticks are the time
 * stamp counter, which the records carry when it is usable (conf.tsc), and nothing else is to
 * be set up per span (busy and idle time are not tracked). */
static bool creation_by_registry(const trace_otlp *x) {
  return x->conf.tsc && !x->conf.track_inactivity; /* conf.tsc: trace_registry_ticks is the TSC */
}

static void on_enter(void *self, uint64_t id, const trace_ctx *ctx) {
  trace_otlp *x = self;
  span_ext *e = ext_of(id, ctx);
  if (!e || e->closed)
    return;
  uint64_t now = otlp_ticks(x->conf.tsc);
  ext_lock(e);
  if (e->entered++ == 0) {
    e->idle += now > e->last ? now - e->last : 0;
    e->last = now;
  }
  ext_unlock(e);
}

static void on_exit(void *self, uint64_t id, const trace_ctx *ctx) {
  trace_otlp *x = self;
  span_ext *e = ext_of(id, ctx);
  if (!e || e->closed)
    return;
  uint64_t now = otlp_ticks(x->conf.tsc);
  ext_lock(e);
  if (e->entered > 0 && --e->entered == 0) {
    e->busy += now > e->last ? now - e->last : 0;
    e->last = now;
  }
  ext_unlock(e);
}

/* The tracestate the span's trace carries, into tc; returns its length. Out of line: few
 * traces carry one. */
static TRACE__NOINLINE size_t tracestate_of(const trace_span_ref *ref, const trace_ctx *ctx,
                                            trace_context *tc) {
  return trace_span_ref_context(ref, ctx, tc, NULL) ? tc->tracestate_len : 0;
}

/* A span closed: its record, from what the registry hands over (on_close_read: the view and
 * the stored values, with no lookup and no lock). */
static void on_close_read(void *self, uint64_t id, const trace_span_view *v,
                          const trace_valueset *values, const trace_ctx *ctx) {
  (void)id;
  trace_otlp *x = self;
  /* The clock first: its latency then overlaps the work below. */
  uint64_t end = otlp_ticks(x->conf.tsc);
  span_ext *e = v->ext;
  if (!e || e->closed)
    return;
  e->closed = 1;
  if (!x->conf.spans_out)
    return;
  const trace_span_ids *ids = v->ids;
  if (!ids || !(ids->flags & TRACE_CONTEXT_SAMPLED))
    return; /* not sampled: not exported */
  check_fork(x);
  const trace_metadata *meta = v->meta;
  const otlp_site *site = trace__otlp_site(x, meta);
  ring *r = trace__otlp_ring(x);
  if (TRACE__UNLIKELY(!site || !r)) {
    trace__otlp_drop(x, true);
    return;
  }
  trace_context tc;
  size_t tracestate_len =
      TRACE__UNLIKELY(ids->has_tracestate) ? tracestate_of(v->span, ctx, &tc) : 0;
  size_t fixed = sizeof(rec_span) + REC_ALIGN(tracestate_len), got;
  size_t want = site->span_want, at_least = site->span_at_least;
  if (TRACE__UNLIKELY(tracestate_len))
    otlp_record_space(x->conf.thread_buffer_size, site, fixed, &want, &at_least);
  rec_span *s = (rec_span *)(void *)begin_record(x, r, REC_SPAN, meta, want, at_least, &got);
  if (!s)
    return;
  char *p = (char *)s;
  if (TRACE__UNLIKELY(tracestate_len))
    memcpy(p + sizeof *s, tc.tracestate, tracestate_len);
  s->h.thread_id = e->thread_id;
  s->h.time_ns = e->start;
  memcpy(s->h.trace_id, ids->trace_id, 16);
  memcpy(s->h.span_id, ids->span_id, 8);
  memcpy(s->parent_span_id, ids->parent_span_id, 8);
  s->end_ns = end;
  s->error = __atomic_load_n(&e->error, __ATOMIC_RELAXED);
  s->timing = x->conf.track_inactivity;
  if (s->timing) {
    ext_lock(e);
    s->busy_ns = e->busy;
    s->idle_ns = e->idle + (end > e->last && !e->entered ? end - e->last : 0);
    ext_unlock(e);
  } else {
    s->busy_ns = s->idle_ns = 0;
  }
  /* Span.flags: the trace flags, "whether the parent is remote is known", and whether it is. */
  s->flags = ids->flags | 0x100u | (uint32_t)(ids->remote_parent != 0) << 9;
  s->tracestate_len = (uint16_t)tracestate_len;
  vwriter w = {p + fixed, p + got, x->conf.max_value_len, 0, 0, 0};
  put_values(&w, values);
  end_record(x, r, &s->h, &w);
}

/* ---------------------------------------------------------------------------------------- */
/* Events. */

static void on_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  trace_otlp *x = self;
  check_fork(x);
  const trace_span_ref *span = trace_ctx_event_span(ctx, ev);
  trace_context tc;
  bool in_span = span && trace_span_ref_context(span, ctx, &tc, NULL) != TRACE_SPAN_CONTEXT_NONE;
  if (span && ev->meta->level == TRACE_LEVEL_ERROR) {
    span_ext *e = trace_span_ref_ext(span, ctx);
    if (e)
      __atomic_store_n(&e->error, 1, __ATOMIC_RELAXED);
  }
  /* Wanted as a log record, or as a span event of a span that is exported. */
  bool as_event = in_span && (tc.flags & TRACE_CONTEXT_SAMPLED) && x->conf.traces.url;
  if (!x->conf.logs.url && !as_event && !x->conf.discard)
    return;
  const trace_metadata *meta = ev->meta;
  const otlp_site *site = trace__otlp_site(x, meta);
  ring *r = trace__otlp_ring(x);
  if (TRACE__UNLIKELY(!site || !r)) {
    trace__otlp_drop(x, false);
    return;
  }
  size_t msg_room = meta->message ? TRACE__MIN((size_t)x->conf.max_value_len, 1024u) + 8 : 0;
  size_t want, at_least, got;
  otlp_record_space(x->conf.thread_buffer_size, site, sizeof(rec_event) + msg_room, &want,
                    &at_least);
  rec_event *re = (rec_event *)(void *)begin_record(x, r, REC_EVENT, meta, want, at_least, &got);
  if (!re)
    return;
  char *p = (char *)re;
  re->h.thread_id = r->thread_id;
  re->h.time_ns = otlp_ticks(x->conf.tsc);
  event_context(re, in_span ? &tc : NULL);
  char *q = p + sizeof *re;
  re->message_len = 0;
  re->has_message = meta->message != NULL;
  uint8_t truncated = 0;
  if (meta->message) {
    size_t room = TRACE__MIN((size_t)(p + got - q) & ~(size_t)7, (size_t)x->conf.max_value_len + 1);
    size_t full = room ? trace_event_message(ev, q, room) : 0;
    size_t n = room ? TRACE__MIN(full, room - 1) : 0;
    truncated = full > n;
    re->message_len = (uint32_t)n;
    q += REC_ALIGN(n);
  }
  vwriter w = {q, p + got, x->conf.max_value_len, 0, 0, truncated};
  put_values(&w, &ev->fields);
  end_record(x, r, &re->h, &w);
}

/* ---------------------------------------------------------------------------------------- */
/* Sampling (OTEL_TRACES_SAMPLER). */

static bool ratio_sampled(const trace_otlp *x, const uint8_t trace_id[16]) {
  if (x->conf.ratio_bound == UINT64_MAX)
    return true;
  uint64_t low = 0;
  for (int i = 8; i < 16; i++)
    low = low << 8 | trace_id[i];
  return low < x->conf.ratio_bound;
}

static bool sample(void *self, const trace_span_attrs *a, const uint8_t trace_id[16],
                   int parent_flags) {
  (void)a;
  const trace_otlp *x = self;
  switch (x->conf.sampler) {
  case TRACE_OTLP_SAMPLER_ALWAYS_ON: return true;
  case TRACE_OTLP_SAMPLER_ALWAYS_OFF: return false;
  case TRACE_OTLP_SAMPLER_TRACEIDRATIO: return ratio_sampled(x, trace_id);
  default: break;
  }
  if (parent_flags >= 0)
    return (parent_flags & TRACE_CONTEXT_SAMPLED) != 0;
  switch (x->conf.sampler) {
  case TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF: return false;
  case TRACE_OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO: return ratio_sampled(x, trace_id);
  default: return true;
  }
}

otlp_sample_fn trace__otlp_sampler(const trace_otlp *x) {
  /* The default sampler decides as the registry and the collector do without one (a child
   * keeps its parent's decision, a root is sampled): no call per span for it. */
  return x->conf.sampler == TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_ON ? NULL : sample;
}

/* ---------------------------------------------------------------------------------------- */

/* trace_flush, and the registry's last flush before it destroys the layer: the shutdown that
 * follows then gives the export no second period of grace when this one ran out. */
static void flush(void *self) {
  trace_otlp *x = self;
  int rc = trace__otlp_flush_wait(x, x->conf.shutdown_timeout_ms);
  __atomic_store_n(&x->flush_gave_up, rc == TRACE_EBUSY, __ATOMIC_RELAXED);
}

static void destroy(void *self) {
  trace_otlp *x = self;
  trace__otlp_shutdown(x);
  trace_otlp_release(x);
}

trace_layer *trace__otlp_layer(trace_otlp *x) {
  trace_layer_vtable vt;
  memset(&vt, 0, sizeof vt);
  vt.struct_size = sizeof vt;
  bool creation = creation_by_registry(x);
  vt.on_new_span = creation ? on_first_span : on_new_span;
  vt.on_event = on_event;
  vt.on_close_read = on_close_read;
  vt.flush = flush;
  vt.destroy = destroy;
  vt.sample = trace__otlp_sampler(x);
  if (x->conf.track_inactivity) {
    vt.on_enter = on_enter;
    vt.on_exit = on_exit;
  }
  unsigned flags = TRACE_LAYER_CONTEXT | TRACE_LAYER_EXT_KEPT;
  if (creation)
    flags |= TRACE_LAYER_CREATION | TRACE_LAYER_NEW_SPAN_ONCE;
  return trace_layer_new(&vt, x, sizeof(span_ext), flags);
}
