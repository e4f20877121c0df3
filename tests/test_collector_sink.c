/* Collector sinks: what the reporter hands to a trace_collector_sink -- spans with their values,
 * times, threads and trace contexts, events with their messages -- recorded by the test's sink
 * and checked value by value. A custom clock makes every time exact. */
#define TRACE_TARGET "test"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "trace/collector.h"
#include "trace/context.h"
#include "trace/registry.h"
#include "trace/testing.h"

/* ---------------------------------------------------------------------------------------- */
/* The recording sink: a copy of everything it is given, and the order it was given in. */

typedef struct got_value {
  char name[32];
  uint32_t type;
  bool null;
  uint64_t number; /* integers, bools, doubles' bits */
  char text[64];
  size_t len;
} got_value;

typedef struct got_context {
  bool present;
  trace_context c;
  uint8_t parent_span_id[8];
  bool parent_remote;
} got_context;

typedef struct got_span {
  char name[32];
  got_value v[24];
  uint32_t nv;    /* copied: the last 24 */
  uint32_t count; /* given */
  bool truncated, open;
  uint64_t id, parent_id, start, end, busy, idle;
  uint32_t thread;
  char thread_name[32];
  got_context ctx;
} got_span;

typedef struct got_event {
  char name[48];
  got_value v[8];
  uint32_t nv;
  bool has_message;
  char message[64];
  size_t message_len;
  bool truncated;
  uint64_t time, span_id;
  uint32_t thread;
  char thread_name[32];
  got_context ctx;
} got_event;

enum { MAX_GOT = 64 };

typedef struct recorder {
  got_span spans[MAX_GOT];
  got_event events[MAX_GOT];
  unsigned nspans, nevents;
  char order[4 * MAX_GOT]; /* 'S' span, 'E' event, 'R' round end, 'C' close */
  unsigned norder;
  int rounds, closes;
  bool called_after_close;
} recorder;

static void note(recorder *r, char what) {
  if (r->closes)
    r->called_after_close = true;
  /* Rounds that handed nothing over are one entry: a slow machine has many. */
  if (what == 'R' && r->norder && r->order[r->norder - 1] == 'R')
    return;
  if (r->norder < sizeof r->order - 1)
    r->order[r->norder++] = what;
}

/* The last cap values of vs. */
static void copy_values(const trace_valueset *vs, got_value *out, uint32_t cap, uint32_t *n) {
  *n = 0;
  for (uint32_t i = vs->count > cap ? vs->count - cap : 0; i < vs->count; i++) {
    const trace_value *v = &vs->values[i];
    got_value *g = &out[(*n)++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", trace_valueset_name(vs, i));
    g->type = v->type;
    if (v->type == TRACE_VALUE_STR || v->type == TRACE_VALUE_DISPLAY) {
      g->null = v->as.str.ptr == NULL;
      g->len = v->as.str.len;
      if (v->as.str.ptr)
        memcpy(g->text, v->as.str.ptr, v->as.str.len < sizeof g->text ? v->as.str.len : 0);
    } else if (v->type == TRACE_VALUE_BOOL) {
      g->number = v->as.b;
    } else {
      g->number = v->as.u64;
    }
  }
}

static void copy_context(const trace_context *c, const uint8_t *parent_span_id, bool remote,
                         got_context *out) {
  memset(out, 0, sizeof *out);
  if (!c)
    return;
  out->present = true;
  out->c = *c;
  if (parent_span_id)
    memcpy(out->parent_span_id, parent_span_id, 8);
  out->parent_remote = remote;
}

static void on_span(void *arg, const trace_collector_span *s) {
  recorder *r = arg;
  note(r, 'S');
  assert_true(r->nspans < MAX_GOT);
  got_span *g = &r->spans[r->nspans++];
  memset(g, 0, sizeof *g);
  assert_ptr_equal(s->fields.meta, s->meta);
  snprintf(g->name, sizeof g->name, "%s", s->meta->name);
  copy_values(&s->fields, g->v, 24, &g->nv);
  g->count = s->fields.count;
  g->truncated = s->truncated;
  g->open = s->open;
  g->id = s->id;
  g->parent_id = s->parent_id;
  g->start = s->start_ns;
  g->end = s->end_ns;
  g->busy = s->busy_ns;
  g->idle = s->idle_ns;
  g->thread = s->thread;
  snprintf(g->thread_name, sizeof g->thread_name, "%s", s->thread_name);
  copy_context(s->context, s->parent_span_id, s->parent_remote, &g->ctx);
}

static void on_event(void *arg, const trace_collector_event *e) {
  recorder *r = arg;
  note(r, 'E');
  assert_true(r->nevents < MAX_GOT);
  got_event *g = &r->events[r->nevents++];
  memset(g, 0, sizeof *g);
  snprintf(g->name, sizeof g->name, "%s", e->meta->name);
  copy_values(&e->fields, g->v, 8, &g->nv);
  g->has_message = e->message != NULL;
  if (e->message) {
    g->message_len = e->message_len;
    memcpy(g->message, e->message, e->message_len < sizeof g->message ? e->message_len : 0);
  }
  g->truncated = e->truncated;
  g->time = e->time_ns;
  g->span_id = e->span_id;
  g->thread = e->thread;
  snprintf(g->thread_name, sizeof g->thread_name, "%s", e->thread_name);
  copy_context(e->context, NULL, false, &g->ctx);
}

static void on_round_end(void *arg) {
  recorder *r = arg;
  r->rounds++;
  note(r, 'R');
}

static void on_close(void *arg) {
  recorder *r = arg;
  if (r->closes)
    r->called_after_close = true;
  r->closes++;
  if (r->norder < sizeof r->order - 1)
    r->order[r->norder++] = 'C';
}

static trace_collector_sink sink_of(recorder *r) {
  trace_collector_sink s = {on_span, on_event, on_round_end, on_close, r};
  return s;
}

/* The custom clock: the test says what time it is. */
static uint64_t now_ns = 1000;
static uint64_t test_clock(void *arg) {
  (void)arg;
  return __atomic_load_n(&now_ns, __ATOMIC_RELAXED);
}
static void at(uint64_t ns) { __atomic_store_n(&now_ns, ns, __ATOMIC_RELAXED); }

/* A STREAM collector with no output file, the recorder as its sink, installed globally. */
static void install(recorder *r, uint32_t flags, bool custom_clock) {
  memset(r, 0, sizeof *r);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.string_bytes = 16;
  o.flags = flags;
  if (custom_clock) {
    o.clock = TRACE_COLLECTOR_CLOCK_CUSTOM;
    o.clock_fn = test_clock;
  }
  trace_collector_sink sink = sink_of(r);
  o.sink = &sink; /* copied by trace_collector_new */
  trace_collector *c = NULL;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  assert_int_equal(trace_collector_install(c), 0);
}

static const got_span *span_named(const recorder *r, const char *name) {
  const got_span *found = NULL;
  for (unsigned i = 0; i < r->nspans; i++) {
    if (strcmp(r->spans[i].name, name) == 0) {
      assert_null(found); /* handed over once */
      found = &r->spans[i];
    }
  }
  assert_non_null(found);
  return found;
}

static const got_value *value_at(const got_span *s, uint32_t i, const char *name, uint32_t type) {
  assert_true(i < s->nv);
  assert_string_equal(s->v[i].name, name);
  assert_int_equal(s->v[i].type, type);
  return &s->v[i];
}

/* Where in the order of calls the i-th span / event was handed over. */
static unsigned position(const recorder *r, char what, unsigned i) {
  for (unsigned k = 0, seen = 0; k < r->norder; k++)
    if (r->order[k] == what && seen++ == i)
      return k;
  fail_msg("no %c number %u", what, i);
  return 0;
}

static unsigned span_index(const recorder *r, const got_span *s) { return (unsigned)(s - r->spans); }

/* ---------------------------------------------------------------------------------------- */
/* Values. */

static size_t fmt_answer(char *buf, size_t cap, const void *arg) {
  return (size_t)snprintf(buf, cap, "answer=%d", *(const int *)arg);
}

static void values_of_every_type(void **state) {
  (void)state;
  recorder r;
  install(&r, 0, true);
  int answer = 42;
  const char *none = NULL;
  trace_span s = TRACE_INFO_SPAN("typed", TF(str, "hello"), TF(cut, "0123456789abcdefXYZ"),
                                 TF(neg, -5), TF(big, (uint64_t)1 << 40), TF(yes, (bool)true),
                                 TF(nul, none), TF(dbl, 2.5), TF(fmt, trace_value_fmt(fmt_answer, &answer)),
                                 TF(later, TRACE_EMPTY), TF(again, TRACE_EMPTY));
  TRACE_RECORD(&s, later, 7);
  TRACE_RECORD(&s, again, "first");
  TRACE_RECORD(&s, again, "second");
  trace_span_close(&s);
  trace_shutdown();

  assert_int_equal(r.nspans, 1);
  const got_span *g = span_named(&r, "typed");
  /* Creation values in the callsite's order (declared-only ones have no value yet), then the
   * recorded ones in the order they were recorded. */
  assert_int_equal(g->nv, 11);
  const got_value *v = value_at(g, 0, "str", TRACE_VALUE_STR);
  assert_int_equal(v->len, 5);
  assert_memory_equal(v->text, "hello", 5);
  v = value_at(g, 1, "cut", TRACE_VALUE_STR);
  assert_int_equal(v->len, 16); /* string_bytes */
  assert_memory_equal(v->text, "0123456789abcdef", 16);
  assert_int_equal((int64_t)value_at(g, 2, "neg", TRACE_VALUE_I64)->number, -5);
  assert_int_equal(value_at(g, 3, "big", TRACE_VALUE_U64)->number, (uint64_t)1 << 40);
  assert_int_equal(value_at(g, 4, "yes", TRACE_VALUE_BOOL)->number, 1);
  v = value_at(g, 5, "nul", TRACE_VALUE_STR);
  assert_true(v->null);
  double d;
  memcpy(&d, &value_at(g, 6, "dbl", TRACE_VALUE_F64)->number, sizeof d);
  assert_true(d == 2.5);
  /* A FMT value arrives as its text: its callback lived only while the span was made. */
  v = value_at(g, 7, "fmt", TRACE_VALUE_DISPLAY);
  assert_int_equal(v->len, 9);
  assert_memory_equal(v->text, "answer=42", 9);
  assert_int_equal((int64_t)value_at(g, 8, "later", TRACE_VALUE_I64)->number, 7);
  v = value_at(g, 9, "again", TRACE_VALUE_STR);
  assert_memory_equal(v->text, "first", 5);
  v = value_at(g, 10, "again", TRACE_VALUE_STR);
  assert_memory_equal(v->text, "second", 6);
  assert_true(g->truncated);
  assert_false(g->open);
  assert_false(g->ctx.present); /* no TRACE_COLLECTOR_CONTEXT */
}

static void uncut_values_are_not_truncated(void **state) {
  (void)state;
  recorder r;
  install(&r, 0, true);
  trace_span s = TRACE_INFO_SPAN("short", TF(s, "0123456789abcdef"), TF(empty, ""));
  trace_span_close(&s);
  trace_shutdown();
  const got_span *g = span_named(&r, "short");
  assert_int_equal(g->nv, 2);
  assert_int_equal(value_at(g, 0, "s", TRACE_VALUE_STR)->len, 16);
  const got_value *v = value_at(g, 1, "empty", TRACE_VALUE_STR);
  assert_false(v->null); /* an empty string is not a null one */
  assert_int_equal(v->len, 0);
  assert_false(g->truncated);
}

/* A field recorded over and over: the span keeps a bounded number of values, the last of each
 * field last. */
static void values_recorded_many_times_stay_bounded(void **state) {
  (void)state;
  recorder r;
  install(&r, 0, true);
  trace_span s = TRACE_INFO_SPAN("counter", TF(n, TRACE_EMPTY), TF(name, "c"));
  for (int i = 1; i <= 1000; i++)
    TRACE_RECORD(&s, n, i);
  trace_span_close(&s);
  trace_shutdown();
  const got_span *g = span_named(&r, "counter");
  assert_true(g->count >= 24 && g->count <= 128);
  /* The latest values, in the order they were recorded, 1000 last. */
  assert_int_equal(g->nv, 24);
  for (uint32_t i = 0; i < g->nv; i++) {
    assert_string_equal(g->v[i].name, "n");
    assert_int_equal(g->v[i].number, 1000 - 23 + i);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Times. */

static void times_busy_and_idle(void **state) {
  (void)state;
  recorder r;
  install(&r, TRACE_COLLECTOR_EXACT_LIFETIMES, true);
  at(100);
  trace_span s = TRACE_INFO_SPAN("twice");
  at(200);
  trace_span_enter(&s);
  at(300);
  trace_span_exit(&s);
  at(1000);
  trace_span_enter(&s);
  at(1500);
  trace_span_exit(&s);
  at(2000);
  trace_span_close(&s);
  at(5000);
  trace_shutdown();
  const got_span *g = span_named(&r, "twice");
  /* A custom clock's times are passed on as they are. */
  assert_int_equal(g->start, 100);
  assert_int_equal(g->end, 2000);
  assert_int_equal(g->busy, 600);
  assert_int_equal(g->idle, 1300);
  assert_int_equal(g->thread, trace_thread_id());
  assert_false(g->open);
}

/* Without EXACT_LIFETIMES a span starts at its first enter and ends at its last exit when
 * nothing comes between; entering it again inside itself adds no busy time. */
static void times_of_scoped_and_reentered_spans(void **state) {
  (void)state;
  recorder r;
  install(&r, 0, true);
  at(10);
  trace_span s = TRACE_INFO_SPAN("scoped");
  at(20);
  trace_span_enter(&s);
  at(30);
  trace_span_enter(&s);
  at(50);
  trace_span_exit(&s);
  at(70);
  trace_span_exit(&s);
  trace_span_close(&s);
  at(1000);
  trace_shutdown();
  const got_span *g = span_named(&r, "scoped");
  assert_int_equal(g->start, 20);
  assert_int_equal(g->end, 70);
  assert_int_equal(g->busy, 50);
  assert_int_equal(g->idle, 0);
}

static void unix_times_without_a_custom_clock(void **state) {
  (void)state;
  recorder r;
  struct timespec before, after;
  clock_gettime(CLOCK_REALTIME, &before);
  install(&r, 0, false);
  trace_span s = TRACE_INFO_SPAN("now");
  trace_span_enter(&s);
  TRACE_INFO("inside");
  trace_span_exit(&s);
  trace_span_close(&s);
  trace_shutdown();
  clock_gettime(CLOCK_REALTIME, &after);
  uint64_t lo = (uint64_t)before.tv_sec * 1000000000u + (uint64_t)before.tv_nsec;
  uint64_t hi = (uint64_t)after.tv_sec * 1000000000u + (uint64_t)after.tv_nsec;
  const got_span *g = span_named(&r, "now");
  /* Unix times: the clock of the records (CLOCK_MONOTONIC or the TSC) moved by the offset of
   * the round; a millisecond of slack for the two clocks' readings. */
  assert_true(g->start + 1000000 >= lo && g->start <= g->end && g->end <= hi + 1000000);
  assert_int_equal(r.nevents, 1);
  assert_true(r.events[0].time >= g->start && r.events[0].time <= g->end);
}

/* ---------------------------------------------------------------------------------------- */
/* Structure and order. */

static void nested_spans_and_events_in_order(void **state) {
  (void)state;
  recorder r;
  install(&r, 0, true);
  trace_thread_set_name("main-thread");
  at(100);
  TRACE_WARN(TF(code, 3), "outside %d", 1);
  trace_span parent = TRACE_INFO_SPAN("parent");
  trace_span_enter(&parent);
  at(200);
  trace_span child = TRACE_INFO_SPAN("child", TF(k, 1));
  trace_span_enter(&child);
  at(250);
  TRACE_INFO(TF(x, 9), "in the child");
  at(300);
  trace_span_exit(&child);
  trace_span_close(&child);
  at(400);
  trace_span_exit(&parent);
  trace_span_close(&parent);
  trace_shutdown();

  assert_int_equal(r.nspans, 2);
  assert_int_equal(r.nevents, 2);
  const got_span *p = span_named(&r, "parent"), *c = span_named(&r, "child");
  assert_int_equal(p->parent_id, 0);
  assert_int_equal(c->parent_id, p->id);
  assert_true(p->id != 0 && c->id != p->id);
  assert_string_equal(p->thread_name, "main-thread");
  assert_int_equal(p->busy, 300);

  const got_event *out = &r.events[0], *in = &r.events[1];
  assert_true(out->has_message);
  assert_int_equal(out->message_len, 9);
  assert_memory_equal(out->message, "outside 1", 9);
  assert_int_equal(out->span_id, 0);
  assert_int_equal(out->time, 100);
  assert_int_equal(out->nv, 1);
  assert_string_equal(out->v[0].name, "code");
  assert_int_equal(out->v[0].number, 3);
  assert_int_equal(out->thread, trace_thread_id());
  assert_string_equal(out->thread_name, "main-thread");
  assert_false(out->ctx.present);
  assert_int_equal(in->span_id, c->id);
  assert_int_equal(in->time, 250);
  assert_memory_equal(in->message, "in the child", 12);
  assert_false(in->truncated);

  /* The events, then the child, then its parent; a round's end after them; close last. */
  assert_true(position(&r, 'E', 1) < position(&r, 'S', span_index(&r, c)));
  assert_true(position(&r, 'S', span_index(&r, c)) < position(&r, 'S', span_index(&r, p)));
  assert_true(r.rounds >= 1);
  assert_int_equal(r.closes, 1);
  assert_int_equal(r.order[r.norder - 1], 'C');
  assert_int_equal(r.order[r.norder - 2], 'R');
  assert_false(r.called_after_close);
}

static void events_without_a_message_and_cut_messages(void **state) {
  (void)state;
  recorder r;
  install(&r, 0, true);
  trace_span s = TRACE_INFO_SPAN("s");
  trace_span_enter(&s);
  TRACE_EVENT(TRACE_LEVEL_INFO, TF(only, 1));
  TRACE_INFO("a message longer than sixteen bytes");
  trace_span_exit(&s);
  trace_span_close(&s);
  trace_shutdown();
  assert_int_equal(r.nevents, 2);
  assert_false(r.events[0].has_message);
  assert_false(r.events[0].truncated);
  assert_true(r.events[1].has_message);
  assert_int_equal(r.events[1].message_len, 16);
  assert_memory_equal(r.events[1].message, "a message longer", 16);
  assert_true(r.events[1].truncated);
}

typedef struct thread_arg {
  trace_span *span;
} thread_arg;

static void *enter_elsewhere(void *arg) {
  thread_arg *a = arg;
  trace_thread_set_name("worker");
  at(1000);
  trace_span_enter(a->span);
  at(1250);
  TRACE_INFO("on the worker");
  at(1400);
  trace_span_exit(a->span);
  return NULL;
}

static void spans_crossing_threads(void **state) {
  (void)state;
  recorder r;
  install(&r, TRACE_COLLECTOR_EXACT_LIFETIMES, true);
  trace_thread_set_name("creator");
  at(100);
  trace_span s = TRACE_INFO_SPAN("crossing");
  at(200);
  trace_span_enter(&s);
  at(300);
  trace_span_exit(&s);
  thread_arg a = {&s};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, enter_elsewhere, &a), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  at(2000);
  trace_span_close(&s);
  trace_shutdown();
  const got_span *g = span_named(&r, "crossing");
  assert_int_equal(g->start, 100);
  assert_int_equal(g->end, 2000);
  assert_int_equal(g->busy, 100 + 400); /* on both threads */
  assert_int_equal(g->idle, 1900 - 500);
  assert_int_equal(g->thread, trace_thread_id()); /* the creating thread */
  assert_string_equal(g->thread_name, "creator");
  assert_int_equal(r.nevents, 1);
  assert_int_equal(r.events[0].span_id, g->id);
  assert_string_equal(r.events[0].thread_name, "worker");
  assert_true(r.events[0].thread != g->thread);
  assert_true(position(&r, 'E', 0) < position(&r, 'S', 0));
}

static void open_spans_at_shutdown(void **state) {
  (void)state;
  recorder r;
  install(&r, 0, true);
  at(100);
  trace_span outer = TRACE_INFO_SPAN("outer");
  trace_span_enter(&outer);
  at(150);
  trace_span inner = TRACE_INFO_SPAN("inner");
  trace_span_enter(&inner);
  at(200);
  trace_span_exit(&inner);
  at(300);
  trace_span closed = TRACE_INFO_SPAN("closed");
  trace_span_close(&closed);
  at(900);
  trace_shutdown(); /* outer entered, inner exited: neither closed */
  assert_int_equal(r.nspans, 3);
  const got_span *o = span_named(&r, "outer"), *i = span_named(&r, "inner");
  const got_span *c = span_named(&r, "closed");
  assert_true(o->open);
  assert_true(i->open);
  assert_false(c->open);
  assert_int_equal(o->start, 100);
  assert_int_equal(o->end, 900); /* the time it was reported */
  assert_int_equal(o->busy, 800);
  assert_int_equal(i->start, 150);
  assert_int_equal(i->end, 900);
  assert_int_equal(i->busy, 50);
  assert_int_equal(i->idle, 700);
  /* The child before its parent. */
  assert_true(span_index(&r, i) < span_index(&r, o));
  assert_int_equal(r.closes, 1);
  (void)outer;
  (void)inner;
}

/* As a registry layer, the sink gets the registry's span ids (and no contexts of the
 * collector's own). */
static void sink_of_a_layer(void **state) {
  (void)state;
  recorder r;
  memset(&r, 0, sizeof r);
  trace_collector_sink sink = sink_of(&r);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.sink = &sink;
  trace_collector *c = NULL;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  trace_registry *reg = trace_registry_new();
  assert_non_null(reg);
  assert_int_equal(trace_registry_add_layer(reg, trace_collector_layer(c), NULL), 0);
  assert_int_equal(trace_registry_install(reg), 0);
  trace_span outer = TRACE_INFO_SPAN("outer", TF(n, 1));
  trace_span_enter(&outer);
  uint64_t outer_id = outer.id;
  trace_span inner = TRACE_INFO_SPAN("inner");
  trace_span_enter(&inner);
  uint64_t inner_id = inner.id;
  TRACE_INFO("in inner");
  trace_span_exit(&inner);
  trace_span_close(&inner);
  trace_span_exit(&outer);
  trace_span_close(&outer);
  trace_shutdown();
  const got_span *o2 = span_named(&r, "outer"), *i = span_named(&r, "inner");
  assert_int_equal(o2->id, outer_id);
  assert_int_equal(i->id, inner_id);
  assert_int_equal(i->parent_id, outer_id);
  assert_int_equal(o2->nv, 1);
  assert_int_equal(r.nevents, 1);
  assert_int_equal(r.events[0].span_id, inner_id);
  assert_false(o2->ctx.present);
  assert_int_equal(r.closes, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Ownership and callbacks. */

static void close_runs_once_even_on_errors(void **state) {
  (void)state;
  recorder r;
  memset(&r, 0, sizeof r);
  trace_collector_sink sink = sink_of(&r);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.sink = &sink;
  trace_collector *c = (trace_collector *)&r;

  o.mode = TRACE_COLLECTOR_FLIGHT; /* a flight recorder hands nothing over */
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EINVAL);
  assert_null(c);
  assert_int_equal(r.closes, 1);

  o.mode = TRACE_COLLECTOR_STREAM;
  o.string_bytes = 100000;
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EINVAL);
  assert_int_equal(r.closes, 2);

  o.string_bytes = 256;
  assert_int_equal(trace_collector_new(&o, NULL), TRACE_EINVAL);
  assert_int_equal(r.closes, 3);

  o.chrome_path = "/nonexistent-dir-of-libtrace/t.json";
  errno = 0;
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EIO);
  assert_int_equal(errno, ENOENT);
  assert_int_equal(r.closes, 4);

  /* Out of memory at the first allocation, and later ones. */
  for (int n = 0; n < 8; n++) {
    trace_testing_fail_allocations_after(n);
    int rc = trace_collector_new(&o, &c);
    trace_testing_fail_allocations_after(-1);
    assert_int_equal(r.closes, 5 + n);
    assert_true(rc == TRACE_ENOMEM || rc == TRACE_EIO);
  }

  /* A collector that works: closed when freed, never before; a struct_size not ours is an
   * error without closing (its sink cannot be read). */
  assert_int_equal(r.closes, 12);
  recorder works;
  memset(&works, 0, sizeof works);
  sink = sink_of(&works);
  o.chrome_path = NULL;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  assert_int_equal(trace_collector_flush(c), 0);
  assert_true(works.rounds >= 1);
  assert_int_equal(works.closes, 0);
  trace_collector_free(c);
  assert_int_equal(works.closes, 1);
  assert_false(works.called_after_close);
  o.struct_size = 8;
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EINVAL);
  assert_int_equal(works.closes, 1);
}

static int span_calls;
static void count_span(void *arg, const trace_collector_span *s) {
  (void)arg;
  (void)s;
  span_calls++;
}

static void null_callbacks_are_skipped(void **state) {
  (void)state;
  /* Only spans wanted; no close (arg needs none). */
  trace_collector_sink only_spans = {count_span, NULL, NULL, NULL, NULL};
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.sink = &only_spans;
  trace_collector *c = NULL;
  span_calls = 0;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  assert_int_equal(trace_collector_install(c), 0);
  trace_span s = TRACE_INFO_SPAN("one");
  trace_span_enter(&s);
  TRACE_INFO("an event nobody wants");
  trace_span_exit(&s);
  trace_span_close(&s);
  trace_shutdown();
  assert_int_equal(span_calls, 1);

  /* Nothing wanted at all: the collector runs as without a sink. */
  trace_collector_sink nothing = {NULL, NULL, NULL, NULL, NULL};
  o.sink = &nothing;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  assert_int_equal(trace_collector_install(c), 0);
  trace_span t = TRACE_INFO_SPAN("two");
  trace_span_close(&t);
  assert_int_equal(trace_collector_flush(c), 0);
  trace_shutdown();
  assert_int_equal(span_calls, 1);
}

/* Events go to a sink of events only, in each thread's order. */
static void events_only_in_thread_order(void **state) {
  (void)state;
  recorder r;
  memset(&r, 0, sizeof r);
  trace_collector_sink sink = {NULL, on_event, NULL, on_close, &r};
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.sink = &sink;
  trace_collector *c = NULL;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  assert_int_equal(trace_collector_install(c), 0);
  for (int i = 0; i < 40; i++)
    TRACE_INFO(TF(i, i), "event");
  trace_shutdown();
  assert_int_equal(r.nevents, 40);
  for (unsigned i = 0; i < 40; i++)
    assert_int_equal(r.events[i].v[0].number, i);
  assert_int_equal(r.nspans, 0);
  assert_int_equal(r.closes, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Trace contexts (TRACE_COLLECTOR_CONTEXT). */

static void contexts_of_spans_and_events(void **state) {
  (void)state;
  recorder r;
  install(&r, TRACE_COLLECTOR_CONTEXT, true);
  trace_span root = TRACE_INFO_SPAN("root");
  trace_span_enter(&root);
  trace_span child = TRACE_INFO_SPAN("child");
  trace_span_enter(&child);
  TRACE_INFO("in child");
  trace_context want_child, want_root;
  assert_int_equal(trace_span_context(&child, &want_child), 0);
  assert_int_equal(trace_span_context(&root, &want_root), 0);
  trace_span_exit(&child);
  trace_span_close(&child);
  trace_span_exit(&root);
  trace_span_close(&root);
  trace_shutdown();

  const got_span *p = span_named(&r, "root"), *c = span_named(&r, "child");
  assert_true(p->ctx.present && c->ctx.present);
  assert_memory_equal(p->ctx.c.trace_id, want_root.trace_id, 16);
  assert_memory_equal(p->ctx.c.span_id, want_root.span_id, 8);
  assert_memory_equal(c->ctx.c.span_id, want_child.span_id, 8);
  /* The child is in its parent's trace, under its parent's span id. */
  assert_memory_equal(c->ctx.c.trace_id, p->ctx.c.trace_id, 16);
  assert_memory_equal(c->ctx.parent_span_id, p->ctx.c.span_id, 8);
  assert_false(c->ctx.parent_remote);
  static const uint8_t zero[8];
  assert_memory_equal(p->ctx.parent_span_id, zero, 8); /* a root */
  assert_true(p->ctx.c.flags & TRACE_CONTEXT_SAMPLED);
  assert_int_equal(p->ctx.c.tracestate_len, 0);
  /* The event has its span's context. */
  assert_int_equal(r.nevents, 1);
  assert_true(r.events[0].ctx.present);
  assert_memory_equal(r.events[0].ctx.c.trace_id, want_child.trace_id, 16);
  assert_memory_equal(r.events[0].ctx.c.span_id, want_child.span_id, 8);
}

static void remote_parents_and_tracestate(void **state) {
  (void)state;
  recorder r;
  install(&r, TRACE_COLLECTOR_CONTEXT, true);
  const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  trace_context remote;
  assert_int_equal(trace_traceparent_parse(tp, strlen(tp), &remote, NULL), 0);
  assert_int_equal(trace_tracestate_parse("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", 39, &remote,
                                          NULL),
                   0);
  trace_span req = TRACE_INFO_SPAN_FROM(&remote, "request");
  trace_span_enter(&req);
  TRACE_INFO("handling");
  trace_span inner = TRACE_INFO_SPAN("inner");
  trace_span_close(&inner);
  trace_span_exit(&req);
  trace_span_close(&req);
  trace_span alone = TRACE_INFO_SPAN("alone");
  trace_span_close(&alone);
  trace_shutdown();

  const got_span *q = span_named(&r, "request"), *i = span_named(&r, "inner");
  assert_true(q->ctx.present);
  assert_memory_equal(q->ctx.c.trace_id, remote.trace_id, 16);
  assert_memory_equal(q->ctx.parent_span_id, remote.span_id, 8);
  assert_true(q->ctx.parent_remote);
  assert_int_equal(q->ctx.c.tracestate_len, 39);
  assert_string_equal(q->ctx.c.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_true(q->ctx.c.flags & TRACE_CONTEXT_SAMPLED);
  /* Its child continues the remote trace, with the tracestate, under a local parent. */
  assert_memory_equal(i->ctx.c.trace_id, remote.trace_id, 16);
  assert_memory_equal(i->ctx.parent_span_id, q->ctx.c.span_id, 8);
  assert_false(i->ctx.parent_remote);
  assert_string_equal(i->ctx.c.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_int_equal(r.events[0].ctx.c.tracestate_len, 39);
  /* A root of its own: a new trace. */
  const got_span *a = span_named(&r, "alone");
  assert_memory_not_equal(a->ctx.c.trace_id, remote.trace_id, 16);
  assert_int_equal(a->ctx.c.tracestate_len, 0);
  assert_false(a->ctx.parent_remote);
}

/* The Chrome timeline shows a span's ids, to find it in the distributed trace. */
static void chrome_shows_trace_ids(void **state) {
  (void)state;
  char dir[] = "/tmp/trace-sink-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/t.json", dir);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.chrome_path = path;
  o.flags = TRACE_COLLECTOR_CONTEXT;
  trace_collector *c = NULL;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  assert_int_equal(trace_collector_install(c), 0);
  trace_span s = TRACE_INFO_SPAN("shown");
  trace_span_enter(&s);
  trace_context ctx;
  assert_int_equal(trace_span_context(&s, &ctx), 0);
  trace_span_exit(&s);
  trace_span_close(&s);
  trace_shutdown();
  char text[8192];
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  char want[128], trace_hex[TRACE_TRACE_ID_HEX_SIZE], span_hex[TRACE_SPAN_ID_HEX_SIZE];
  trace_trace_id_hex(ctx.trace_id, trace_hex);
  trace_span_id_hex(ctx.span_id, span_hex);
  snprintf(want, sizeof want, "\"trace_id\":\"%s\",\"span_id\":\"%s\"", trace_hex, span_hex);
  assert_text_contains(text, want);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(values_of_every_type),
      cmocka_unit_test(uncut_values_are_not_truncated),
      cmocka_unit_test(values_recorded_many_times_stay_bounded),
      cmocka_unit_test(times_busy_and_idle),
      cmocka_unit_test(times_of_scoped_and_reentered_spans),
      cmocka_unit_test(unix_times_without_a_custom_clock),
      cmocka_unit_test(nested_spans_and_events_in_order),
      cmocka_unit_test(events_without_a_message_and_cut_messages),
      cmocka_unit_test(spans_crossing_threads),
      cmocka_unit_test(open_spans_at_shutdown),
      cmocka_unit_test(sink_of_a_layer),
      cmocka_unit_test(close_runs_once_even_on_errors),
      cmocka_unit_test(null_callbacks_are_skipped),
      cmocka_unit_test(events_only_in_thread_order),
      cmocka_unit_test(contexts_of_spans_and_events),
      cmocka_unit_test(remote_parents_and_tracestate),
      cmocka_unit_test(chrome_shows_trace_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
