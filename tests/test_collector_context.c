/* Trace contexts of the collector used alone (TRACE_COLLECTOR_CONTEXT): the registry's rules
 * (test_span_context.c) through the collector's own span slots, read back with
 * trace_span_context(). What its CONTEXT records carry to a sink is tested with the sinks
 * (test_collector_sink.c). */
#include <pthread.h>
#include <string.h>

#include "helpers.h"
#include "trace/collector.h"
#include "trace/context.h"

typedef struct sampler_state {
  int calls;
  int last_parent_flags;
  int decision; /* 0 or 1; -1: follow the parent (sampled for a root) */
  uint8_t last_trace_id[16];
} sampler_state;

static bool sample(void *arg, const trace_span_attrs *a, const uint8_t trace_id[16],
                   int parent_flags) {
  (void)a;
  sampler_state *s = arg;
  s->calls++;
  s->last_parent_flags = parent_flags;
  memcpy(s->last_trace_id, trace_id, 16);
  if (s->decision >= 0)
    return s->decision != 0;
  return parent_flags < 0 || (parent_flags & TRACE_CONTEXT_SAMPLED);
}

/* A flight collector (nothing written, no reporter work) installed as this thread's default. */
typedef struct fixture {
  trace_dispatch *d;
  trace_default_guard g;
} fixture;

static fixture install(uint32_t flags, sampler_state *sampler) {
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.mode = TRACE_COLLECTOR_FLIGHT;
  o.flight_bytes = 1 << 20;
  o.thread_buffer_bytes = 1 << 16;
  o.flags = flags;
  if (sampler) {
    o.sample = sample;
    o.sample_arg = sampler;
  }
  trace_collector *c = NULL;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  fixture f;
  f.d = trace_collector_dispatch(c);
  assert_non_null(f.d);
  f.g = trace_set_default(f.d);
  return f;
}

static void uninstall(fixture *f) {
  trace_default_guard_restore(&f->g);
  trace_dispatch_release(f->d);
}

static trace_context context_of(const trace_span *s) {
  trace_context c;
  assert_int_equal(trace_span_context(s, &c), 0);
  assert_true(trace_context_is_valid(&c));
  return c;
}

typedef struct on_thread_arg {
  trace_dispatch *d;
  const trace_span *parent;
  trace_context got;
} on_thread_arg;

static void *child_on_thread(void *arg) {
  on_thread_arg *a = arg;
  TRACE_WITH_DEFAULT(a->d) {
    trace_span s = TRACE_SPAN_IN(a->parent, TRACE_LEVEL_INFO, "on_thread");
    a->got = context_of(&s);
    trace_span_close(&s);
  }
  return NULL;
}

static void ids_and_inheritance(void **state) {
  (void)state;
  fixture f = install(TRACE_COLLECTOR_CONTEXT, NULL);
  trace_span root = TRACE_INFO_SPAN("root", TF(n, 1));
  trace_span_enter(&root);
  trace_span child = TRACE_INFO_SPAN("child");
  trace_span_enter(&child);
  trace_span grand = TRACE_INFO_SPAN("grand");
  trace_span_exit(&child);
  trace_span_exit(&root);
  on_thread_arg arg;
  memset(&arg, 0, sizeof arg);
  arg.d = f.d;
  arg.parent = &child;
  pthread_t t;
  pthread_create(&t, NULL, child_on_thread, &arg);
  pthread_join(t, NULL);
  trace_span other = TRACE_INFO_SPAN("other_root");
  trace_span scoped = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "scoped");

  trace_context r = context_of(&root), c = context_of(&child), g = context_of(&grand),
                o = context_of(&other), s = context_of(&scoped);
  assert_memory_equal(c.trace_id, r.trace_id, 16);
  assert_memory_equal(g.trace_id, r.trace_id, 16);
  assert_memory_equal(arg.got.trace_id, r.trace_id, 16);
  assert_memory_not_equal(o.trace_id, r.trace_id, 16);
  assert_memory_not_equal(s.trace_id, r.trace_id, 16); /* entered at the top: a root */
  assert_memory_not_equal(c.span_id, r.span_id, 8);
  assert_memory_not_equal(g.span_id, c.span_id, 8);
  assert_memory_not_equal(arg.got.span_id, c.span_id, 8);
  assert_int_equal(r.flags, TRACE_CONTEXT_SAMPLED);
  assert_int_equal(g.flags, TRACE_CONTEXT_SAMPLED);
  assert_int_equal(r.tracestate_len, 0);
  assert_string_equal(r.tracestate, "");
  /* A span made inside an entered TRACE_SPAN_ENTERED scope is its child. */
  trace_span in_scope = TRACE_INFO_SPAN("in_scope");
  assert_memory_equal(context_of(&in_scope).trace_id, s.trace_id, 16);
  trace_span_close(&in_scope);
  trace_span_end(&scoped);

  /* The context of a span is stable while it lives, and gone once it is closed. */
  trace_context again = context_of(&grand);
  assert_memory_equal(again.span_id, g.span_id, 8);
  trace_span_close(&grand);
  trace_span_close(&child);
  trace_span_close(&root);
  trace_span_close(&other);
  trace_context out;
  assert_int_equal(trace_span_context(&root, &out), TRACE_ECLOSED);
  assert_false(trace_context_is_valid(&out));
  uninstall(&f);
}

static void remote_parent_and_tracestate(void **state) {
  (void)state;
  fixture f = install(TRACE_COLLECTOR_CONTEXT, NULL);
  trace_header h[] = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                      {"tracestate", "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"}};
  trace_context remote;
  assert_int_equal(trace_context_extract(h, 2, &remote, NULL), 0);
  trace_span outer = TRACE_INFO_SPAN("outer");
  trace_span_enter(&outer);
  trace_span req = TRACE_INFO_SPAN_FROM(&remote, "request", TF(path, "/a"));
  trace_span_enter(&req);
  trace_span inner = TRACE_INFO_SPAN("inner");
  trace_span_exit(&req);
  trace_context o = context_of(&outer), r = context_of(&req), i = context_of(&inner);
  assert_memory_equal(r.trace_id, remote.trace_id, 16);
  assert_memory_not_equal(r.span_id, remote.span_id, 8);
  assert_memory_not_equal(r.trace_id, o.trace_id, 16);
  assert_memory_equal(i.trace_id, remote.trace_id, 16);
  assert_string_equal(r.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_string_equal(i.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_int_equal(i.tracestate_len, strlen(i.tracestate));
  assert_int_equal(o.tracestate_len, 0);

  /* NULL: an ordinary span of the current trace; a context without ids or TRACE_NEW_TRACE: a
   * new trace, though nested. */
  trace_context blank;
  assert_int_equal(trace_traceparent_parse("bad", 3, &blank, NULL), TRACE_EPARSE);
  trace_span a = TRACE_INFO_SPAN_FROM(NULL, "from_null");
  trace_span b = TRACE_INFO_SPAN_FROM(&blank, "from_blank");
  trace_span n = TRACE_INFO_SPAN_FROM(TRACE_NEW_TRACE, "new_trace");
  trace_context ca = context_of(&a), cb = context_of(&b), cn = context_of(&n);
  assert_memory_equal(ca.trace_id, o.trace_id, 16);
  assert_memory_not_equal(cb.trace_id, o.trace_id, 16);
  assert_memory_not_equal(cn.trace_id, o.trace_id, 16);
  assert_memory_not_equal(cb.trace_id, cn.trace_id, 16);
  trace_span_exit(&outer);

  /* A remote parent that did not sample: sampled = 0 downstream; reserved bits are not sent. */
  const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
  assert_int_equal(trace_traceparent_parse(tp, strlen(tp), &remote, NULL), 0);
  trace_span unsampled = TRACE_INFO_SPAN_FROM(&remote, "unsampled");
  trace_span_enter(&unsampled);
  trace_span below = TRACE_INFO_SPAN("below");
  trace_span_exit(&unsampled);
  assert_int_equal(context_of(&unsampled).flags, 0);
  assert_int_equal(context_of(&below).flags, 0);
  char text[TRACE_TRACEPARENT_SIZE];
  trace_context cbelow = context_of(&below);
  trace_traceparent_format(&cbelow, text, sizeof text);
  assert_int_equal(strncmp(text, "00-0af7651916cd43dd8448eb211c80319c-", 36), 0);
  assert_string_equal(text + 52, "-00");
  tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff";
  assert_int_equal(trace_traceparent_parse(tp, strlen(tp), &remote, NULL), 0);
  trace_span odd = TRACE_INFO_SPAN_FROM(&remote, "odd_flags");
  assert_int_equal(context_of(&odd).flags, TRACE_CONTEXT_SAMPLED);

  trace_span *all[] = {&odd, &below, &unsampled, &n, &b, &a, &inner, &req, &outer};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
    trace_span_close(all[k]);
  uninstall(&f);
}

static void sampler_decides(void **state) {
  (void)state;
  sampler_state s = {0, 0, 0, {0}};
  fixture f = install(TRACE_COLLECTOR_CONTEXT, &s);
  trace_span root = TRACE_INFO_SPAN("root");
  assert_int_equal(s.calls, 1);
  assert_int_equal(s.last_parent_flags, -1);
  assert_memory_equal(s.last_trace_id, context_of(&root).trace_id, 16);
  assert_int_equal(context_of(&root).flags, 0);
  trace_span_enter(&root);
  s.decision = -1;
  trace_span child = TRACE_INFO_SPAN("child");
  assert_int_equal(s.last_parent_flags, 0);
  assert_int_equal(context_of(&child).flags, 0);
  trace_context remote;
  const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  assert_int_equal(trace_traceparent_parse(tp, strlen(tp), &remote, NULL), 0);
  trace_span r = TRACE_INFO_SPAN_FROM(&remote, "remote_child");
  assert_int_equal(s.last_parent_flags, 1);
  assert_int_equal(context_of(&r).flags, TRACE_CONTEXT_SAMPLED);
  assert_int_equal(s.calls, 3);
  trace_span_exit(&root);
  trace_span_close(&r);
  trace_span_close(&child);
  trace_span_close(&root);
  uninstall(&f);
}

/* Without TRACE_COLLECTOR_CONTEXT spans have no ids (and pay nothing for them); a closed, none or
 * stale span has no context either way. */
static void without_contexts(void **state) {
  (void)state;
  fixture f = install(0, NULL);
  trace_span s = TRACE_INFO_SPAN("plain");
  trace_context out;
  memset(&out, 0xab, sizeof out);
  assert_int_equal(trace_span_context(&s, &out), TRACE_ENOTSUP);
  assert_false(trace_context_is_valid(&out));
  trace_span copy = s;
  trace_span_close(&s);
  assert_int_equal(trace_span_context(&copy, &out), TRACE_ECLOSED);
  trace_span none = TRACE_SPAN_NONE_INIT;
  assert_int_equal(trace_span_context(&none, &out), TRACE_ECLOSED);
  uninstall(&f);

  /* With contexts: a stale copy of a closed span's handle, its slot reused by a new span, is
   * not given the new span's context. */
  f = install(TRACE_COLLECTOR_CONTEXT, NULL);
  trace_span first = TRACE_INFO_SPAN("first");
  trace_span stale = first;
  trace_span_close(&first);
  trace_span second = TRACE_INFO_SPAN("second");
  assert_int_equal(trace_span_context(&stale, &out), TRACE_ECLOSED);
  trace_context fresh = context_of(&second);
  assert_true(trace_context_is_valid(&fresh));
  trace_span_close(&second);
  uninstall(&f);
}

/* Many threads make roots and children at once: every trace id is its root's, and no two roots
 * share one (ids from per-thread generators). Run under TSan with the concurrency tests. */
#define THREADS 4
#define ROOTS 500

typedef struct worker {
  trace_dispatch *d;
  uint8_t roots[ROOTS][16];
  int mismatches;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  TRACE_WITH_DEFAULT(w->d) {
    for (int i = 0; i < ROOTS; i++) {
      trace_span root = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "root", TF(i, i));
      trace_span child = TRACE_INFO_SPAN("child");
      trace_context r, c;
      trace_span_context(&root, &r);
      trace_span_context(&child, &c);
      memcpy(w->roots[i], r.trace_id, 16);
      w->mismatches += memcmp(r.trace_id, c.trace_id, 16) != 0 || !trace_context_is_valid(&c);
      trace_span_close(&child);
      trace_span_end(&root);
    }
  }
  return NULL;
}

static int by_id(const void *a, const void *b) { return memcmp(a, b, 16); }

static void threads_and_uniqueness(void **state) {
  (void)state;
  fixture f = install(TRACE_COLLECTOR_CONTEXT, NULL);
  static worker w[THREADS];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i].d = f.d;
    pthread_create(&t[i], NULL, work, &w[i]);
  }
  static uint8_t all[THREADS * ROOTS][16];
  for (int i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].mismatches, 0);
    memcpy(all[i * ROOTS], w[i].roots, sizeof w[i].roots);
  }
  qsort(all, THREADS * ROOTS, 16, by_id);
  for (int i = 1; i < THREADS * ROOTS; i++)
    assert_memory_not_equal(all[i - 1], all[i], 16);
  uninstall(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ids_and_inheritance),  cmocka_unit_test(remote_parent_and_tracestate),
      cmocka_unit_test(sampler_decides),      cmocka_unit_test(without_contexts),
      cmocka_unit_test(threads_and_uniqueness),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
