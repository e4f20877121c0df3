/* The exporter fed by a collector (trace_otlp_attach): the collector used alone records spans at
 * the floor, its reporter thread builds finished spans and events from the records and hands
 * them to this sink, which turns each into the same rec_span / rec_event record the layer
 * (layer.c) writes, in the reporter thread's ring. The exporter thread, the encoders and held.c
 * then do what they do for the layer; the records only say that their times are Unix ns
 * already (rec_head.unix_time), as the collector measured them.
 *
 * What the registry gives the layer and the collector does not, the sink keeps itself, in
 * bounded memory allocated once: the spans an ERROR event happened in (events reach the sink
 * before their span), the thread names announced to the exporter (one ring carries the records
 * of every thread), and a scratch copy of values for spans whose fields were recorded twice.
 * All of it is the reporter thread's alone: one sink per collector. */
#include <string.h>
#include <time.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "internal.h"
#include "write.h"

enum {
  /* Spans with an ERROR event not handed over yet: a set of collector span ids in buckets of
   * ERROR_WAYS. A full bucket forgets one of its ids (that span then shows no ERROR status
   * unless it says so itself with otel.status_code): a bound, not a loss of records. */
  ERROR_BUCKETS = 256,
  ERROR_WAYS = 8,
  NAME_SLOTS = 128,         /* thread names announced, by thread id */
  FIELD_WORDS = 65536 / 64  /* a bit for every field index a callsite can have */
};

typedef struct name_slot {
  uint32_t id;
  uint8_t len;
  char name[31];
} name_slot;

typedef struct otlp_sink {
  trace_collector_sink sink; /* what trace_otlp_attach points the options to */
  trace_otlp *x;             /* a reference, released by close */
  uint64_t errors[ERROR_BUCKETS][ERROR_WAYS];
  name_slot names[NAME_SLOTS]; /* the name last announced for a thread id, direct mapped */
  bool stalled;                /* gave up waiting for room: the exporter was stuck */
  uint64_t stalled_tail;       /* the ring's tail then */
  bool wrote;                  /* records written since the last round_end */
  uint32_t fork_gen;           /* trace__otlp_fork_gen when the names were announced */
  /* Values with each field once (spans whose fields were recorded twice). */
  trace_value *values;
  uint16_t *index;
  size_t values_cap;
  uint64_t seen[FIELD_WORDS];
} otlp_sink;

/* ---------------------------------------------------------------------------------------- */
/* ERROR events, remembered until their span comes. */

static uint64_t *error_bucket(otlp_sink *k, uint64_t id) {
  uint64_t h = id * 0x9E3779B97F4A7C15ull;
  return k->errors[h >> 56]; /* the top 8 bits: ERROR_BUCKETS is 256 */
}

static void error_mark(otlp_sink *k, uint64_t id) {
  uint64_t *b = error_bucket(k, id);
  uint64_t *empty = NULL;
  for (int i = 0; i < ERROR_WAYS; i++) {
    if (b[i] == id)
      return;
    if (!b[i] && !empty)
      empty = &b[i];
  }
  *(empty ? empty : &b[id % ERROR_WAYS]) = id;
}

/* Whether an ERROR event happened in span id, forgetting it. */
static bool error_take(otlp_sink *k, uint64_t id) {
  uint64_t *b = error_bucket(k, id);
  for (int i = 0; i < ERROR_WAYS; i++) {
    if (b[i] == id) {
      b[i] = 0;
      return true;
    }
  }
  return false;
}

/* ---------------------------------------------------------------------------------------- */
/* Room in the ring, names, values. */

/* Requests the exporter has had accepted so far: it makes progress when this moves, even while
 * it sends batch after batch without reading the rings in between. */
static uint64_t exports_accepted(trace_otlp *x) {
  return TRACE__LOAD(&x->requests_accepted);
}

/* The ring is full: the reporter thread is no instrumented thread, so rather than drop what a
 * burst of spans brings, it waits for the exporter to drain, as long as the exporter makes
 * progress at least once per request time-out: it frees ring space, or has a request accepted
 * (it sends every batch that is due before it reads the rings again, each taking up to a
 * request time-out: a slow receiver that still answers is progress). When it makes none (the
 * receiver is down and the exporter's queue full), the record is dropped, as the layer's would
 * be, and the sink does not wait again until the exporter moves. */
static TRACE__NOINLINE char *wait_for_room(otlp_sink *k, ring *r, size_t want, size_t at_least,
                                           size_t *got) {
  trace_otlp *x = k->x;
  uint64_t tail = TRACE__LOAD_ACQ(&r->tail);
  if (k->stalled && tail == k->stalled_tail)
    return NULL;
  k->stalled = false;
  uint64_t patience = (uint64_t)TRACE__MAX(x->conf.traces.timeout_ms, 1000u) * 1000000u;
  uint64_t since = trace__otlp_now_mono_ns();
  uint64_t accepted = exports_accepted(x);
  for (;;) {
    trace__otlp_wake(x);
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    char *at = trace__otlp_ring_reserve(r, want, at_least, got);
    if (at)
      return at;
    uint64_t now = trace__otlp_now_mono_ns(), t = TRACE__LOAD_ACQ(&r->tail);
    uint64_t a = exports_accepted(x);
    if (t != tail || a != accepted) {
      tail = t;
      accepted = a;
      since = now;
    } else if (now - since > patience) {
      k->stalled = true;
      k->stalled_tail = t;
      return NULL;
    }
  }
}

/* A record of kind for meta, want bytes or at least at_least; NULL: dropped and counted. */
static rec_head *sink_record(otlp_sink *k, ring *r, uint8_t kind, const trace_metadata *meta,
                             size_t want, size_t at_least, size_t *got) {
  char *at = trace__otlp_ring_reserve(r, want, at_least, got);
  if (TRACE__UNLIKELY(!at))
    at = wait_for_room(k, r, want, at_least, got);
  if (!at) {
    trace__otlp_drop(k->x, kind == REC_SPAN);
    return NULL;
  }
  k->wrote = true;
  rec_head *h = record_head(at, kind, meta);
  h->unix_time = 1;
  return h;
}

/* Whether slot s holds name (NUL-terminated), compared in place: thread names are short, and a
 * byte loop costs less here than strnlen and memcmp calls (this runs for every record). */
static bool same_name(const name_slot *s, const char *name) {
  size_t i = 0;
  for (; i < sizeof s->name && name[i]; i++)
    if (i >= s->len || s->name[i] != name[i])
      return false;
  return i == s->len;
}

/* Tells the exporter the name of thread id before its first record, and again when it changes. */
static void announce(otlp_sink *k, ring *r, uint32_t id, const char *name) {
  if (id == 0)
    return;
  name = name ? name : "";
  name_slot *s = &k->names[(id * 2654435761u) >> 25]; /* the top 7 bits: NAME_SLOTS is 128 */
  if (TRACE__LIKELY(s->id == id && same_name(s, name)))
    return;
  size_t len = strnlen(name, sizeof s->name);
  if (!trace__otlp_ring_put_name(k->x, r, id, name, len))
    return; /* tried again with the thread's next record */
  s->id = id;
  s->len = (uint8_t)len;
  memcpy(s->name, name, len);
}

/* A span's (or an event's) values as put_values takes them: a field recorded after creation
 * appears twice in the collector's set, and OTLP wants attribute keys once, so only the last
 * value of each field is kept (in the order of those last values). Sets whose fields come in
 * increasing order (no field twice: every span never recorded into) are used as they are,
 * without index when it is the identity (the writer's fast path). */
static trace_valueset unique_values(otlp_sink *k, const trace_valueset *vs) {
  trace_valueset out = *vs;
  if (!vs->index)
    return out;
  bool identity = true, increasing = true;
  for (uint32_t i = 0; i < vs->count; i++) {
    identity &= vs->index[i] == i;
    increasing &= i == 0 || vs->index[i] > vs->index[i - 1];
  }
  if (identity)
    out.index = NULL;
  if (increasing)
    return out;
  if (vs->count > k->values_cap) {
    size_t cap = TRACE__MAX((size_t)vs->count, k->values_cap * 2);
    trace_value *v = trace__realloc(k->values, cap * sizeof *v);
    if (v)
      k->values = v;
    uint16_t *ix = v ? trace__realloc(k->index, cap * sizeof *ix) : NULL;
    if (!ix)
      return out; /* no memory: every value goes, the receiver sees a key twice */
    k->index = ix;
    k->values_cap = cap;
  }
  /* From the last value back: the first seen of a field is its last value. */
  uint32_t n = 0;
  for (uint32_t i = vs->count; i-- > 0;) {
    uint16_t f = vs->index[i];
    uint64_t bit = 1ull << (f & 63);
    if (k->seen[f >> 6] & bit)
      continue;
    k->seen[f >> 6] |= bit;
    k->values[vs->count - 1 - n] = vs->values[i];
    k->index[vs->count - 1 - n] = f;
    n++;
  }
  for (uint32_t i = vs->count - n; i < vs->count; i++)
    k->seen[k->index[i] >> 6] = 0;
  out.values = k->values + (vs->count - n);
  out.index = k->index + (vs->count - n);
  out.count = n;
  return out;
}

/* ---------------------------------------------------------------------------------------- */
/* The callbacks. */

/* After fork(), in the child: its exporter starts afresh and knows no thread names, and the
 * parent's spans with ERROR events are not the child's. */
static TRACE__NOINLINE void sink_after_fork(otlp_sink *k) {
  memset(k->names, 0, sizeof k->names);
  memset(k->errors, 0, sizeof k->errors);
  k->stalled = false;
  k->fork_gen = TRACE__LOAD(&trace__otlp_fork_gen);
}

static inline void sink_check_fork(otlp_sink *k) {
  if (TRACE__UNLIKELY(k->fork_gen != TRACE__LOAD(&trace__otlp_fork_gen)))
    sink_after_fork(k);
}

/* Whether a record can be written: not when the exporter's layer is gone (nothing drains the
 * ring then: the record is counted as dropped). Starts the child's exporter after a fork. */
static bool sink_ready(otlp_sink *k, bool span) {
  if (TRACE__UNLIKELY(TRACE__LOAD_ACQ(&k->x->shut))) {
    trace__otlp_drop(k->x, span);
    return false;
  }
  check_fork(k->x);
  return true;
}

static void on_span(void *arg, const trace_collector_span *sp) {
  otlp_sink *k = arg;
  trace_otlp *x = k->x;
  sink_check_fork(k);
  bool error = error_take(k, sp->id);
  const trace_context *c = sp->context;
  if (!c || !(c->flags & TRACE_CONTEXT_SAMPLED) || !sp->meta)
    return; /* not sampled (or no contexts kept): not exported */
  if (!x->conf.spans_out || !sink_ready(k, true))
    return;
  const otlp_site *site = trace__otlp_site(x, sp->meta);
  ring *r = trace__otlp_ring(x);
  if (TRACE__UNLIKELY(!site || !r)) {
    trace__otlp_drop(x, true);
    return;
  }
  announce(k, r, sp->thread, sp->thread_name);
  size_t tracestate_len = TRACE__MIN((size_t)c->tracestate_len, (size_t)TRACE_TRACESTATE_MAX);
  size_t fixed = sizeof(rec_span) + REC_ALIGN(tracestate_len), got;
  size_t want = site->span_want, at_least = site->span_at_least;
  if (TRACE__UNLIKELY(tracestate_len))
    otlp_record_space(x->conf.thread_buffer_size, site, fixed, &want, &at_least);
  rec_span *s = (rec_span *)(void *)sink_record(k, r, REC_SPAN, sp->meta, want, at_least, &got);
  if (!s)
    return;
  char *p = (char *)s;
  if (TRACE__UNLIKELY(tracestate_len))
    memcpy(p + sizeof *s, c->tracestate, tracestate_len);
  s->h.thread_id = sp->thread;
  s->h.time_ns = sp->start_ns;
  memcpy(s->h.trace_id, c->trace_id, 16);
  memcpy(s->h.span_id, c->span_id, 8);
  memcpy(s->parent_span_id, sp->parent_span_id, 8);
  s->end_ns = sp->end_ns > sp->start_ns ? sp->end_ns : sp->start_ns;
  s->error = error;
  s->timing = x->conf.track_inactivity;
  s->busy_ns = s->timing ? sp->busy_ns : 0;
  s->idle_ns = s->timing ? sp->idle_ns : 0;
  /* Span.flags: the trace flags, "whether the parent is remote is known", and whether it is. */
  s->flags = c->flags | 0x100u | (sp->parent_remote ? 0x200u : 0);
  s->tracestate_len = (uint16_t)tracestate_len;
  trace_valueset vs = unique_values(k, &sp->fields);
  vwriter w = {p + fixed, p + got, x->conf.max_value_len, 0, 0, sp->truncated};
  put_values(&w, &vs);
  end_record(x, r, &s->h, &w);
}

static void on_event(void *arg, const trace_collector_event *ev) {
  otlp_sink *k = arg;
  trace_otlp *x = k->x;
  const trace_metadata *meta = ev->meta;
  if (!meta)
    return;
  sink_check_fork(k);
  if (ev->span_id && meta->level == TRACE_LEVEL_ERROR)
    error_mark(k, ev->span_id);
  const trace_context *c = ev->context;
  bool in_span = c && trace_context_is_valid(c);
  /* Wanted as a log record, or as a span event of a span that is exported. */
  bool as_event = in_span && (c->flags & TRACE_CONTEXT_SAMPLED) && x->conf.traces.url;
  if ((!x->conf.logs.url && !as_event && !x->conf.discard) || !sink_ready(k, false))
    return;
  const otlp_site *site = trace__otlp_site(x, meta);
  ring *r = trace__otlp_ring(x);
  if (TRACE__UNLIKELY(!site || !r)) {
    trace__otlp_drop(x, false);
    return;
  }
  announce(k, r, ev->thread, ev->thread_name);
  size_t msg_room = ev->message ? TRACE__MIN((size_t)x->conf.max_value_len, 1024u) + 8 : 0;
  size_t want, at_least, got;
  otlp_record_space(x->conf.thread_buffer_size, site, sizeof(rec_event) + msg_room, &want,
                    &at_least);
  rec_event *re = (rec_event *)(void *)sink_record(k, r, REC_EVENT, meta, want, at_least, &got);
  if (!re)
    return;
  char *p = (char *)re;
  re->h.thread_id = ev->thread;
  re->h.time_ns = ev->time_ns;
  event_context(re, in_span ? c : NULL);
  memset(re->reserved_, 0, sizeof re->reserved_);
  char *q = p + sizeof *re;
  re->message_len = 0;
  re->has_message = ev->message != NULL;
  uint8_t truncated = ev->truncated;
  if (ev->message) {
    size_t room = TRACE__MIN((size_t)(p + got - q) & ~(size_t)7, (size_t)x->conf.max_value_len);
    size_t n = TRACE__MIN(ev->message_len, room);
    memcpy(q, ev->message, n);
    truncated |= n < ev->message_len;
    re->message_len = (uint32_t)n;
    q += REC_ALIGN(n);
  }
  trace_valueset vs = unique_values(k, &ev->fields);
  vwriter w = {q, p + got, x->conf.max_value_len, 0, 0, truncated};
  put_values(&w, &vs);
  end_record(x, r, &re->h, &w);
}

/* The reporter's round is over: what it handed over may be exported as soon as the exporter's
 * schedule says, so the exporter drains it now rather than when the ring is a quarter full. */
static void on_round_end(void *arg) {
  otlp_sink *k = arg;
  if (k->wrote) {
    k->wrote = false;
    trace__otlp_wake(k->x);
  }
}

/* The collector is freed after its last round: everything it handed over is sent (at most
 * shutdown_timeout_ms) before trace_shutdown returns, then its reference goes. */
static void on_close(void *arg) {
  otlp_sink *k = arg;
  trace__otlp_flush_wait(k->x, k->x->conf.shutdown_timeout_ms);
  trace_otlp_release(k->x);
  trace__free(k->values);
  trace__free(k->index);
  trace__free(k);
}

int trace_otlp_attach(trace_otlp *x, trace_collector_options *o) {
  if (!x || !o || o->struct_size != sizeof *o || o->mode != TRACE_COLLECTOR_STREAM)
    return TRACE_EINVAL;
  if (o->sink)
    return TRACE_EBUSY;
  if (__atomic_load_n(&x->shut, __ATOMIC_ACQUIRE))
    return TRACE_ECLOSED;
  TRACE__KEEP_ERRNO();
  otlp_sink *k = trace__calloc(1, sizeof *k);
  if (!k)
    return TRACE_ENOMEM;
  __atomic_add_fetch(&x->refs, 1, __ATOMIC_RELAXED);
  k->x = x;
  k->fork_gen = TRACE__LOAD(&trace__otlp_fork_gen);
  k->sink.span = on_span;
  k->sink.event = on_event;
  k->sink.round_end = on_round_end;
  k->sink.close = on_close;
  k->sink.arg = k;
  o->flags |= TRACE_COLLECTOR_CONTEXT;
  o->sample = trace__otlp_sampler(x);
  o->sample_arg = x;
  o->sink = &k->sink;
  return 0;
}
