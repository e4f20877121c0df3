/* Span handles: reference counting through clone/close, current span, follows-from, record of
 * declared and undeclared fields, use across threads. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "helpers.h"


static void clone_and_close(void **state) {
  trace_capture *cap = captured(state);
  trace_span s = TRACE_INFO_SPAN("s");
  trace_span c = trace_span_clone(&s);
  assert_int_equal(c.id, s.id);
  trace_span_close(&s);
  assert_true(trace_span_is_none(&s));
  assert_null(strstr(trace_capture_log(cap), "close"));
  trace_span_close(&c);
  assert_text_equal(trace_capture_log(cap), "new 1 s parent=-\nclose 1\n");
  trace_span none = trace_span_none();
  trace_span c2 = trace_span_clone(&none);
  assert_true(trace_span_is_none(&c2));
  trace_span_close(NULL);
  trace_span_enter(NULL);
  trace_span_exit(&none);
  assert_null(trace_span_name(&none));
}

static void current_span(void **state) {
  trace_capture *cap = captured(state);
  trace_span cur = trace_span_current();
  assert_true(trace_span_is_none(&cur));
  trace_span s = TRACE_INFO_SPAN("outer");
  trace_span_enter(&s);
  cur = trace_span_current();
  assert_int_equal(cur.id, s.id);
  assert_string_equal(trace_span_name(&cur), "outer");
  trace_span_exit(&s);
  trace_span_close(&s);
  assert_null(strstr(trace_capture_log(cap), "close")); /* cur still holds it */
  trace_span_close(&cur);
  assert_text_contains(trace_capture_log(cap), "close 1\n");
}

static void follows_from(void **state) {
  trace_capture *cap = captured(state);
  trace_span a = TRACE_INFO_SPAN("a");
  trace_span b = TRACE_INFO_SPAN("b");
  trace_span none = trace_span_none();
  assert_int_equal(trace_span_follows_from(&b, &a), 0);
  assert_int_equal(trace_span_follows_from(&b, &none), TRACE_ECLOSED);
  assert_int_equal(trace_span_follows_from(NULL, &a), TRACE_ECLOSED);
  trace_capture *other = trace_capture_new(TRACE_LEVEL_TRACE);
  trace_span o = trace_span_none();
  TRACE_WITH_DEFAULT(trace_capture_dispatch(other)) { o = TRACE_INFO_SPAN("o"); }
  assert_int_equal(trace_span_follows_from(&b, &o), TRACE_EINVAL);
  trace_span_close(&o);
  trace_capture_free(other);
  trace_span_close(&a);
  trace_span_close(&b);
  assert_text_equal(trace_capture_log(cap),
                    "new 1 a parent=-\nnew 2 b parent=-\nfollows 2 1\nclose 1\nclose 2\n");
}

static void record_undeclared_is_reported_once(void **state) {
  trace_capture *cap = captured(state);
  trace_span s = TRACE_INFO_SPAN("request", TF(status, TRACE_EMPTY));
  assert_int_equal(TRACE_RECORD(&s, status, 200), 0);
  assert_int_equal(TRACE_RECORD(&s, stauts, 200), TRACE_ENOFIELD);
  assert_int_equal(TRACE_RECORD(&s, stauts, 201), TRACE_ENOFIELD);
  trace_span_close(&s);
  const char *log = trace_capture_log(cap);
  assert_text_contains(log, "record 1 status=200\n");
  assert_text_contains(log, "event WARN trace: recorded a field the span does not declare; declare "
                            "it with TF(name, TRACE_EMPTY) span=\"request\" field=\"stauts\" "
                            "value=200 file=\"");
  /* Reported once per callsite and field, and the value was not recorded. */
  assert_null(strstr(log, "value=201"));
  assert_null(strstr(log, "record 1 stauts"));
}

/* TRACE_SPAN_ENTERED and trace_span_end (what TRACE_SCOPE expands to) are the four calls in
 * two: a subscriber without the shortcuts sees the four, in order. */
static void entered_and_ended(void **state) {
  trace_capture *cap = captured(state);
  errno = EDOM;
  trace_span s = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "s", TF(n, 1));
  trace_span cur = trace_span_current();
  assert_int_equal(cur.id, s.id);
  trace_span_close(&cur);
  trace_span_end(&s);
  assert_true(trace_span_is_none(&s));
  assert_int_equal(errno, EDOM);
  {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "scope");
    TRACE_INFO("inside");
  }
  trace_span none = trace_span_none();
  trace_span_end(&none);
  trace_span_end(NULL);
  assert_text_equal(trace_capture_log(cap), "new 1 s parent=- n=1\n"
                                            "enter 1\n"
                                            "exit 1\n"
                                            "close 1\n"
                                            "new 2 scope parent=-\n"
                                            "enter 2\n"
                                            "event INFO test_span: inside in=2\n"
                                            "exit 2\n"
                                            "close 2\n");
}

/* A subscriber with the shortcuts gets them instead of the pairs (and the pairs for the rest). */
static char shortcut_log[512];
static uint64_t shortcut_ids;
static void shortcut_note(const char *what, uint64_t id) {
  size_t n = strlen(shortcut_log);
  snprintf(shortcut_log + n, sizeof shortcut_log - n, "%s %llu\n", what, (unsigned long long)id);
}
static uint64_t sc_new(void *self, const trace_span_attrs *a) {
  (void)self;
  (void)a;
  shortcut_note("new", ++shortcut_ids);
  return shortcut_ids;
}
static uint64_t sc_new_entered(void *self, const trace_span_attrs *a) {
  (void)self;
  (void)a;
  shortcut_note("new_entered", ++shortcut_ids);
  return shortcut_ids;
}
static void sc_enter(void *self, uint64_t id) {
  (void)self;
  shortcut_note("enter", id);
}
static void sc_exit(void *self, uint64_t id) {
  (void)self;
  shortcut_note("exit", id);
}
static int sc_try_close(void *self, uint64_t id) {
  (void)self;
  shortcut_note("close", id);
  return 1;
}
static int sc_exit_close(void *self, uint64_t id) {
  (void)self;
  shortcut_note("exit_close", id);
  errno = EIO; /* the core keeps the caller's errno around it */
  return 1;
}

static void shortcuts_are_used(void **state) {
  (void)state;
  trace_subscriber_vtable vt = {.struct_size = sizeof vt,
                                .new_span = sc_new,
                                .enter = sc_enter,
                                .exit = sc_exit,
                                .try_close = sc_try_close,
                                .new_span_entered = sc_new_entered,
                                .exit_close = sc_exit_close};
  trace_dispatch *d = trace_dispatch_new(&vt, NULL);
  assert_non_null(d);
  shortcut_log[0] = 0;
  errno = EDOM;
  TRACE_WITH_DEFAULT(d) {
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "scoped");
    }
    trace_span s = TRACE_INFO_SPAN("plain");
    trace_span_enter(&s);
    trace_span_end(&s);
    trace_span t = TRACE_INFO_SPAN("pairs");
    trace_span_enter(&t);
    trace_span_exit(&t);
    trace_span_close(&t);
  }
  assert_int_equal(errno, EDOM);
  assert_text_equal(shortcut_log, "new_entered 1\nexit_close 1\n"
                                  "new 2\nenter 2\nexit_close 2\n"
                                  "new 3\nenter 3\nexit 3\nclose 3\n");
  trace_dispatch_release(d);
}

/* A span created on one thread, entered on another, closed on a third. */
static void *enter_elsewhere(void *arg) {
  trace_span *s = arg;
  trace_span_enter(s);
  TRACE_INFO("on another thread");
  trace_span_exit(s);
  return NULL;
}

static void *close_elsewhere(void *arg) {
  trace_span_close(arg);
  return NULL;
}

static void cross_thread(void **state) {
  trace_capture *cap = captured(state);
  trace_span s = TRACE_INFO_SPAN("shared");
  pthread_t t;
  /* The worker threads have no scoped default: make the capture global for them. */
  assert_int_equal(trace_set_global_default(trace_capture_dispatch(cap)), 0);
  pthread_create(&t, NULL, enter_elsewhere, &s);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, close_elsewhere, &s);
  pthread_join(t, NULL);
  assert_text_equal(trace_capture_log(cap), "new 1 shared parent=-\n"
                                            "enter 1\n"
                                            "event INFO test_span: on another thread in=1\n"
                                            "exit 1\n"
                                            "close 1\n");
  trace_shutdown();
}

/* Eight threads creating, entering and closing spans at once (TSan run). */
static void *span_churn(void *arg) {
  (void)arg;
  for (int i = 0; i < 2000; i++) {
    trace_span s = TRACE_INFO_SPAN("churn", TF(i, i));
    trace_span_enter(&s);
    trace_span c = trace_span_current();
    TRACE_DEBUG("in churn");
    trace_span_exit(&s);
    trace_span_close(&c);
    trace_span_close(&s);
  }
  return NULL;
}

static void concurrent_spans(void **state) {
  (void)state;
  trace_capture *g = trace_capture_new(TRACE_LEVEL_TRACE);
  assert_int_equal(trace_set_global_default(trace_capture_dispatch(g)), 0);
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, span_churn, NULL);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  trace_capture_stats st = trace_capture_get_stats(g);
  assert_int_equal(st.spans_new, 16000);
  assert_int_equal(st.spans_closed, 16000);
  assert_int_equal(st.events, 16000);
  trace_shutdown();
  trace_capture_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(clone_and_close, capture_setup, capture_teardown),
      cmocka_unit_test_setup_teardown(current_span, capture_setup, capture_teardown),
      cmocka_unit_test_setup_teardown(follows_from, capture_setup, capture_teardown),
      cmocka_unit_test_setup_teardown(record_undeclared_is_reported_once, capture_setup, capture_teardown),
      cmocka_unit_test_setup_teardown(entered_and_ended, capture_setup, capture_teardown),
      cmocka_unit_test(shortcuts_are_used),
      cmocka_unit_test_setup_teardown(cross_thread, capture_setup, capture_teardown),
      cmocka_unit_test(concurrent_spans),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
