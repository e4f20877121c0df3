/* The instrumentation macros of trace.h: every form, field typing, message formatting, the
 * statement/expression shapes C code needs, non-evaluation when disabled, errno. */
#include <errno.h>
#include <math.h>

#include "helpers.h"

static int evaluations;
static int count(int v) {
  evaluations++;
  return v;
}

static int setup(void **state) {
  evaluations = 0;
  return capture_setup(state);
}

static void event_forms(void **state) {
  trace_capture *cap = captured(state);
  const char *who = "ferris";
  int n = 3;
  bool ok = true;
  TRACE_INFO("accepted connection");
  TRACE_INFO("hello %s", who);
  TRACE_DEBUG(TF(excitement, "yay!"), "hello! I'm gonna shave a yak.");
  TRACE_DEBUG(TF(yak, n), TF(shaved, ok));
  TRACE_WARN(TF(req.path, "/"), TF(rsp.status, 404), "not found");
  TRACE_EVENT(TRACE_LEVEL_ERROR, TF(error, "razor"), "failed to shave yak %d", n);
  TRACE_EVENT(2, "numeric level");
  TRACE_EVENT_AT("net.http", TRACE_LEVEL_INFO, TF(a, 1), "override %s", "target");
  TRACE_ERROR("e");
  TRACE_TRACE("t %d %d", 1, 2);
  assert_text_equal(trace_capture_log(cap),
                    "event INFO test_macros: accepted connection\n"
                    "event INFO test_macros: hello ferris\n"
                    "event DEBUG test_macros: hello! I'm gonna shave a yak. excitement=\"yay!\"\n"
                    "event DEBUG test_macros: yak=3 shaved=true\n"
                    "event WARN test_macros: not found req.path=\"/\" rsp.status=404\n"
                    "event ERROR test_macros: failed to shave yak 3 error=\"razor\"\n"
                    "event WARN test_macros: numeric level\n"
                    "event INFO net.http: override target a=1\n"
                    "event ERROR test_macros: e\n"
                    "event TRACE test_macros: t 1 2\n");
}

static size_t fmt_point(char *buf, size_t cap_, const void *arg) {
  const int *p = arg;
  return (size_t)snprintf(buf, cap_, "Point { x: %d, y: %d }", p[0], p[1]);
}

static void field_types(void **state) {
  trace_capture *cap = captured(state);
  const char *null_str = NULL;
  char buf[] = "mutable";
  unsigned char small = 200;
  short s = -7;
  long long big = -9000000000LL;
  unsigned long long ubig = 18446744073709551615ULL;
  float f = 0.5f;
  double d = -3.25;
  bool yes = false;
  int point[2] = {1, 2};
  const void *ptr = (const void *)(uintptr_t)0x1000;
  char c = 'z';
  TRACE_INFO(TF(s, s), TF(small, small), TF(big, big), TF(ubig, ubig), TF(f, f), TF(d, d));
  TRACE_INFO(TF(yes, yes), TF(str, "lit"), TF(buf, buf), TF(null, null_str), TF(ptr, ptr));
  TRACE_INFO(TF_STR(bytes, "abcdef", 3), TF_DISPLAY(method, "GET"), TF_FMT(p, fmt_point, point));
  TRACE_INFO(TF(empty, TRACE_EMPTY), TF(c, c), TF(v, trace_value_u64(5)), TF(sz, sizeof point));
  assert_text_equal(
      trace_capture_log(cap),
      "event INFO test_macros: s=-7 small=200 big=-9000000000 ubig=18446744073709551615 f=0.5 "
      "d=-3.25\n"
      "event INFO test_macros: yes=false str=\"lit\" buf=\"mutable\" null=null ptr=0x1000\n"
      "event INFO test_macros: bytes=\"abc\" method=GET p=Point { x: 1, y: 2 }\n"
      "event INFO test_macros: c=122 v=5 sz=8\n");
}

/* Both macros on this line must be distinct callsites with their own statics. */
static void two_on_one_line(void **state) {
  trace_capture *cap = captured(state);
  TRACE_INFO("first"); TRACE_INFO("second"); /* clang-format off */
  trace_span a = TRACE_INFO_SPAN("a"), b = TRACE_INFO_SPAN("b");
  trace_span_close(&a); trace_span_close(&b);
  assert_text_equal(trace_capture_log(cap), "event INFO test_macros: first\n"
                                            "event INFO test_macros: second\n"
                                            "new 1 a parent=-\n"
                                            "new 2 b parent=-\n"
                                            "close 1\n"
                                            "close 2\n");
}

static void unbraced_if(void **state) {
  trace_capture *cap = captured(state);
  for (int i = 0; i < 2; i++)
    if (i == 0)
      TRACE_INFO("zero");
    else
      TRACE_WARN(TF(i, i));
  if (evaluations == 0)
    TRACE_DEBUG(TF(a, 1), "x %d", 2);
  else
    TRACE_DEBUG("never");
  assert_text_equal(trace_capture_log(cap), "event INFO test_macros: zero\n"
                                            "event WARN test_macros: i=1\n"
                                            "event DEBUG test_macros: x 2 a=1\n");
}

static void not_evaluated_without_subscriber(void **state) {
  (void)state;
  trace_default_guard none = trace_set_default(NULL);
  TRACE_INFO(TF(a, count(1)), "msg %d", count(2));
  trace_span s = TRACE_INFO_SPAN("s", TF(b, count(3)));
  assert_true(trace_span_is_none(&s));
  assert_int_equal(TRACE_RECORD(&s, b, count(4)), TRACE_ECLOSED);
  trace_default_guard_restore(&none);
  assert_int_equal(evaluations, 0);
}

static void not_evaluated_when_level_disabled(void **state) {
  (void)state;
  trace_capture *info = trace_capture_new(TRACE_LEVEL_INFO);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(info)) {
    TRACE_DEBUG(TF(a, count(1)), "msg %d", count(2));
    TRACE_TRACE("msg %d", count(3));
    trace_span s = TRACE_DEBUG_SPAN("s", TF(b, count(4)));
    assert_true(trace_span_is_none(&s));
    TRACE_INFO(TF(c, count(5)));
  }
  assert_int_equal(evaluations, 1);
  assert_text_equal(trace_capture_log(info), "event INFO test_macros: c=5\n");
  trace_capture_free(info);
}

static void span_forms(void **state) {
  trace_capture *cap = captured(state);
  trace_span s = TRACE_SPAN(TRACE_LEVEL_INFO, "request", TF(method, "GET"), TF(path, "/z"),
                            TF(status, TRACE_EMPTY));
  trace_span_enter(&s);
  TRACE_INFO("inside");
  trace_span child = TRACE_DEBUG_SPAN("child");
  trace_span at = TRACE_SPAN_AT("other", TRACE_LEVEL_WARN, "at");
  trace_span root = TRACE_SPAN_IN(TRACE_ROOT, TRACE_LEVEL_INFO, "root");
  trace_span explicit_ = TRACE_SPAN_IN(&child, TRACE_LEVEL_INFO, "explicit");
  TRACE_EVENT_IN(&root, TRACE_LEVEL_INFO, "in root");
  TRACE_EVENT_IN(TRACE_ROOT, TRACE_LEVEL_INFO, "no parent");
  assert_int_equal(TRACE_RECORD(&s, status, 500), 0);
  trace_span_exit(&s);
  trace_span_close(&explicit_);
  trace_span_close(&root);
  trace_span_close(&at);
  trace_span_close(&child);
  trace_span_close(&s);
  trace_span_close(&s); /* double close: harmless */
  assert_text_equal(trace_capture_log(cap),
                    "new 1 request parent=- method=\"GET\" path=\"/z\"\n"
                    "enter 1\n"
                    "event INFO test_macros: inside in=1\n"
                    "new 2 child parent=1\n"
                    "new 3 at parent=1\n"
                    "new 4 root parent=-\n"
                    "new 5 explicit parent=2\n"
                    "event INFO test_macros: in root in=4\n"
                    "event INFO test_macros: no parent\n"
                    "record 1 status=500\n"
                    "exit 1\n"
                    "close 5\n"
                    "close 4\n"
                    "close 3\n"
                    "close 2\n"
                    "close 1\n");
}

static void scoped(int fail) {
  TRACE_SCOPE(TRACE_LEVEL_INFO, "scope", TF(fail, fail));
  if (fail)
    return;
  TRACE_INFO("body");
}

static int traced_function(int x) {
  TRACE_FN(TRACE_LEVEL_DEBUG, TF(x, x));
  TRACE_INFO("in fn");
  return x * 2;
}

static void plain_function(void) { TRACE_FN(TRACE_LEVEL_INFO); }

static void scope_and_fn(void **state) {
  trace_capture *cap = captured(state);
  scoped(0);
  scoped(1);
  assert_int_equal(traced_function(4), 8);
  plain_function();
  assert_text_equal(trace_capture_log(cap), "new 1 scope parent=- fail=0\n"
                                            "enter 1\n"
                                            "event INFO test_macros: body in=1\n"
                                            "exit 1\n"
                                            "close 1\n"
                                            "new 2 scope parent=- fail=1\n"
                                            "enter 2\n"
                                            "exit 2\n"
                                            "close 2\n"
                                            "new 3 traced_function parent=- x=4\n"
                                            "enter 3\n"
                                            "event INFO test_macros: in fn in=3\n"
                                            "exit 3\n"
                                            "close 3\n"
                                            "new 4 plain_function parent=-\n"
                                            "enter 4\n"
                                            "exit 4\n"
                                            "close 4\n");
}

static int in_span_return(const trace_span *s) {
  TRACE_IN_SPAN(s) { return 7; }
  return 0;
}

/* A named scope's TRACE_RECORD reaches its own span, or nothing when that span is disabled; never
 * the caller's span (which trace_span_current() would have found). */
static int record_on_named_scope(int total) {
  TRACE_FN_NAMED(self, TRACE_LEVEL_DEBUG, TF(total, TRACE_EMPTY));
  return TRACE_RECORD(&self, total, total);
}

static void named_scopes(void **state) {
  trace_capture *cap = captured(state);
  trace_span outer = TRACE_INFO_SPAN("outer", TF(total, TRACE_EMPTY));
  TRACE_IN_SPAN(&outer) { assert_int_equal(record_on_named_scope(3), 0); }
  trace_span_close(&outer);
  assert_text_contains(trace_capture_log(cap), "new 2 record_on_named_scope parent=1\n");
  assert_text_contains(trace_capture_log(cap), "record 2 total=3\n");

  /* The same with the function's DEBUG span disabled: the record goes nowhere. */
  trace_capture *info = trace_capture_new(TRACE_LEVEL_INFO);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(info)) {
    trace_span o = TRACE_INFO_SPAN("outer", TF(total, TRACE_EMPTY));
    TRACE_IN_SPAN(&o) { assert_int_equal(record_on_named_scope(4), TRACE_ECLOSED); }
    trace_span_close(&o);
  }
  assert_null(strstr(trace_capture_log(info), "record"));
  assert_null(strstr(trace_capture_log(info), "does not declare"));
  trace_capture_free(info);

  TRACE_SCOPE_NAMED(here, TRACE_LEVEL_INFO, "here", TF(done, TRACE_EMPTY));
  assert_int_equal(TRACE_RECORD(&here, done, (bool)true), 0);
}

static void in_span_block(void **state) {
  trace_capture *cap = captured(state);
  trace_span s = TRACE_INFO_SPAN("s");
  TRACE_IN_SPAN(&s) { TRACE_INFO("a"); }
  TRACE_IN_SPAN(&s) {
    TRACE_INFO("b");
    break;
  }
  for (int i = 0; i < 2; i++) {
    TRACE_IN_SPAN(&s) {
      if (i == 0)
        continue; /* leaves the TRACE_IN_SPAN block */
      TRACE_INFO("c");
    }
  }
  assert_int_equal(in_span_return(&s), 7);
  TRACE_IN_SPAN(&s) { goto out; }
out:
  TRACE_INFO("outside");
  trace_span_close(&s);
  assert_text_equal(trace_capture_log(cap), "new 1 s parent=-\n"
                                            "enter 1\nevent INFO test_macros: a in=1\nexit 1\n"
                                            "enter 1\nevent INFO test_macros: b in=1\nexit 1\n"
                                            "enter 1\nexit 1\n"
                                            "enter 1\nevent INFO test_macros: c in=1\nexit 1\n"
                                            "enter 1\nexit 1\n"
                                            "enter 1\nexit 1\n"
                                            "event INFO test_macros: outside\n"
                                            "close 1\n");
}

static void record_forms(void **state) {
  trace_capture *cap = captured(state);
  trace_span s = TRACE_INFO_SPAN("s", TF(a, TRACE_EMPTY), TF(b.c, TRACE_EMPTY));
  assert_int_equal(TRACE_RECORD(&s, a, 1.5), 0);
  assert_int_equal(TRACE_RECORD(&s, b.c, "x"), 0);
  assert_int_equal(trace_span_record(&s, "a", trace_value_bool(true)), 0);
  assert_int_equal(trace_span_record(&s, NULL, trace_value_bool(true)), TRACE_EINVAL);
  trace_span none = TRACE_SPAN_NONE_INIT;
  assert_int_equal(TRACE_RECORD(&none, a, count(1)), TRACE_ECLOSED);
  assert_int_equal(evaluations, 0);
  trace_span_close(&s);
  assert_int_equal(TRACE_RECORD(&s, a, 1), TRACE_ECLOSED);
  assert_text_equal(trace_capture_log(cap), "new 1 s parent=-\n"
                                            "record 1 a=1.5\n"
                                            "record 1 b.c=\"x\"\n"
                                            "record 1 a=true\n"
                                            "close 1\n");
}

static void message_formatting(void **state) {
  trace_capture *cap = captured(state);
  TRACE_INFO("%d|%5d|%-5d|%05d|%+d|%x|%#X|%o|%u", -1, 42, 42, 42, 7, 255u, 255u, 8u, 4000000000u);
  TRACE_INFO("%s|%.2s|%8s|%-4s|%c|%%|%ld|%zu|%lld", "abc", "abc", "r", "l", 'q', -5L, (size_t)9,
             -1LL);
  TRACE_INFO("%.3f|%g|%e", 3.14159, 0.5, 1e10);
  TRACE_INFO("line one\nline two\n"); /* inner newline escaped, final newline dropped */
  TRACE_INFO("%s", "evil\n ERROR forged");
  assert_text_equal(trace_capture_log(cap),
                    "event INFO test_macros: -1|   42|42   |00042|+7|ff|0XFF|10|4000000000\n"
                    "event INFO test_macros: abc|ab|       r|l   |q|%|-5|9|-1\n"
                    "event INFO test_macros: 3.142|0.5|1.000000e+10\n"
                    "event INFO test_macros: line one\\nline two\n"
                    "event INFO test_macros: evil\\n ERROR forged\n");
}

static void errno_preserved(void **state) {
  (void)state;
  errno = EAGAIN;
  TRACE_INFO("x");
  TRACE_INFO(TF(a, 1));
  trace_span s = TRACE_INFO_SPAN("s", TF(a, TRACE_EMPTY));
  trace_span_enter(&s);
  TRACE_RECORD(&s, a, 2);
  TRACE_RECORD(&s, undeclared, 2);
  trace_span c = trace_span_clone(&s);
  trace_span cur = trace_span_current();
  trace_span_follows_from(&c, &s);
  trace_span_exit(&s);
  trace_span_close(&c);
  trace_span_close(&cur);
  trace_span_close(&s);
  trace_flush();
  assert_int_equal(errno, EAGAIN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(event_forms, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(field_types, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(two_on_one_line, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(unbraced_if, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(not_evaluated_without_subscriber, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(not_evaluated_when_level_disabled, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(span_forms, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(scope_and_fn, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(in_span_block, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(named_scopes, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(record_forms, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(message_formatting, setup, capture_teardown),
      cmocka_unit_test_setup_teardown(errno_preserved, setup, capture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
