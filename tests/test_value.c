/* Values: their text form, the visitor (typed callbacks and the text fallback), and
 * trace_event_message's snprintf contract, seen from a hand-written subscriber. */
#include <limits.h>

#include "helpers.h"

static size_t long_fmt(char *buf, size_t cap, const void *arg) {
  (void)arg;
  char text[600];
  memset(text, 'x', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  return (size_t)snprintf(buf, cap, "%s", text);
}

static void value_text(void **state) {
  (void)state;
  struct {
    trace_value v;
    const char *text;
  } table[] = {
      {trace_value_i64(-42), "-42"},
      {trace_value_i64(INT64_MIN), "-9223372036854775808"},
      {trace_value_u64(UINT64_MAX), "18446744073709551615"},
      {trace_value_f64(0.5), "0.5"},
      {trace_value_f64(2.0), "2.0"},
      {trace_value_bool(true), "true"},
      {trace_value_str("héllo"), "héllo"},
      {trace_value_str(NULL), "null"},
      {trace_value_strn("abcdef", 2), "ab"},
      {trace_value_display("GET"), "GET"},
      {trace_value_ptr((void *)(uintptr_t)0xdeadbeef), "0xdeadbeef"},
      {trace_value_empty(), ""},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    char buf[64];
    size_t n = trace_value_text(&table[i].v, buf, sizeof buf);
    assert_string_equal(buf, table[i].text);
    assert_int_equal(n, strlen(table[i].text));
  }
  /* snprintf contract: truncation reports the full length, NULL buffer measures. */
  trace_value v = trace_value_str("0123456789");
  char small[4];
  assert_int_equal(trace_value_text(&v, small, sizeof small), 10);
  assert_string_equal(small, "012");
  assert_int_equal(trace_value_text(&v, NULL, 0), 10);
  trace_value f = trace_value_fmt(long_fmt, NULL);
  assert_int_equal(trace_value_text(&f, small, sizeof small), 599);
  assert_string_equal(small, "xxx");
  char big[700];
  assert_int_equal(trace_value_text(&f, big, sizeof big), 599);
  assert_int_equal(strlen(big), 599);
}

/* Callbacks that lie about their length or fail: the text is what they wrote, never more. */
static void value_text_of_broken_callbacks(void **state) {
  (void)state;
  char buf[512];
  trace_value v = trace_value_fmt(fmt_fails, NULL);
  assert_int_equal(trace_value_text(&v, buf, sizeof buf), 14);
  assert_string_equal(buf, "<format error>");
  v = trace_value_fmt(fmt_claims_huge, NULL);
  assert_int_equal(trace_value_text(&v, buf, sizeof buf), 3);
  assert_string_equal(buf, "abc");
  v = trace_value_fmt(fmt_claims_more, NULL);
  assert_int_equal(trace_value_text(&v, buf, sizeof buf), 2);
  assert_string_equal(buf, "hi");
  v = trace_value_fmt(fmt_fills_without_nul, NULL);
  /* 256 bytes asked for 266: the second call fills 267 and the last is the terminator's. */
  assert_int_equal(trace_value_text(&v, buf, sizeof buf), 266);
  assert_int_equal(strlen(buf), 266);
  assert_int_equal(strspn(buf, "y"), 266);
  v = trace_value_fmt(NULL, NULL);
  assert_int_equal(trace_value_text(&v, buf, sizeof buf), 0);
  assert_string_equal(buf, "");
}

typedef struct seen {
  char log[512];
} seen;

static void add(seen *s, const char *what) {
  strncat(s->log, what, sizeof s->log - strlen(s->log) - 1);
}
static void on_i64(void *ctx, const char *name, int64_t v) {
  char b[64];
  snprintf(b, sizeof b, "i64:%s=%lld ", name, (long long)v);
  add(ctx, b);
}
static void on_str(void *ctx, const char *name, const char *s, size_t len) {
  char b[64];
  snprintf(b, sizeof b, "str:%s=%.*s ", name, (int)len, s ? s : "(null)");
  add(ctx, b);
}
static void on_text(void *ctx, const char *name, const char *text, size_t len) {
  char b[128];
  snprintf(b, sizeof b, "text:%s=%.*s ", name, (int)len, text);
  add(ctx, b);
}

static void visitor(void **state) {
  (void)state;
  static const char *const names[] = {"a", "b", "c", "d", "e", NULL};
  trace_metadata meta = {0};
  meta.field_names = names;
  meta.field_count = 5;
  trace_value values[5] = {trace_value_i64(1), trace_value_str("s"), trace_value_bool(false),
                           trace_value_empty(), trace_value_f64(1.5)};
  trace_valueset vs = {&meta, values, NULL, 5};
  trace_visitor v = {sizeof v, on_i64, NULL, NULL, NULL, on_str, NULL, on_text};
  seen s = {{0}};
  trace_valueset_visit(&vs, &v, &s);
  assert_string_equal(s.log, "i64:a=1 str:b=s text:c=false text:e=1.5 ");
  /* A record-style set: explicit indices. */
  uint16_t index[2] = {4, 0};
  trace_value rec[2] = {trace_value_u64(9), trace_value_i64(-1)};
  trace_valueset rs = {&meta, rec, index, 2};
  memset(&s, 0, sizeof s);
  trace_valueset_visit(&rs, &v, &s);
  assert_string_equal(s.log, "text:e=9 i64:a=-1 ");
  /* An old, smaller visitor: callbacks past struct_size are not used. */
  trace_visitor old = v;
  old.struct_size = (uint32_t)offsetof(trace_visitor, on_str);
  memset(&s, 0, sizeof s);
  trace_valueset_visit(&vs, &old, &s);
  assert_string_equal(s.log, "i64:a=1 ");
  trace_valueset_visit(NULL, &v, &s);
  trace_valueset_visit(&vs, NULL, &s);
}

/* A subscriber that formats the message twice, into a small and a large buffer. */
typedef struct msg_sub {
  size_t len_small, len_big;
  char small[8];
  char big[256];
} msg_sub;

static void msg_event(void *self, const trace_event *ev) {
  msg_sub *m = self;
  m->len_small = trace_event_message(ev, m->small, sizeof m->small);
  m->len_big = trace_event_message(ev, m->big, sizeof m->big);
}

static void event_message(void **state) {
  (void)state;
  msg_sub m = {0};
  trace_subscriber_vtable vt = {.struct_size = sizeof vt, .event = msg_event};
  trace_dispatch *d = trace_dispatch_new(&vt, &m);
  TRACE_WITH_DEFAULT(d) {
    TRACE_INFO("hello %s, %d times", "world", 3);
    assert_int_equal(m.len_small, 20);
    assert_string_equal(m.small, "hello w");
    assert_string_equal(m.big, "hello world, 3 times");
    TRACE_INFO(TF(a, 1));
    assert_int_equal(m.len_big, 0);
    assert_string_equal(m.big, "");
  }
  trace_dispatch_release(d);
}

/* The full length of a message that asks for a billion digits is counted, not produced (it was
 * formatted again into a buffer of up to 1 GiB, by a vsnprintf that took 26 s and 4.9 GB), and
 * %n writes nothing on the positional path either (a vsnprintf fallback once set n to 3). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat" /* %1$s is POSIX; %n is the point */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wformat-non-iso"
#endif
static void event_message_bounded(void **state) {
  (void)state;
  msg_sub m = {0};
  trace_subscriber_vtable vt = {.struct_size = sizeof vt, .event = msg_event};
  trace_dispatch *d = trace_dispatch_new(&vt, &m);
  TRACE_WITH_DEFAULT(d) {
    int n = -1;
    TRACE_INFO("%1$s%2$n", "abc", &n);
    assert_int_equal(n, -1);
    assert_string_equal(m.big, "abc");
    assert_int_equal(m.len_big, 3);
    TRACE_INFO("%2$s|%1$.*3$f|%4$n", 0.5, "half", 3, &n);
    assert_int_equal(n, -1);
    assert_string_equal(m.big, "half|0.500|");
    TRACE_INFO("%.*f", 999999999, 1.0);
    assert_int_equal(m.len_small, 2 + 999999999);
    assert_string_equal(m.small, "1.00000");
    assert_int_equal(m.len_big, 2 + 999999999);
    assert_int_equal(strspn(m.big + 2, "0"), sizeof m.big - 3);
    TRACE_INFO("%*d%s", INT_MAX, 1, "x");
    assert_int_equal(m.len_small, (size_t)INT_MAX + 1);
  }
  trace_dispatch_release(d);
}
#pragma GCC diagnostic pop

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(value_text),
      cmocka_unit_test(value_text_of_broken_callbacks),
      cmocka_unit_test(visitor),
      cmocka_unit_test(event_message),
      cmocka_unit_test(event_message_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
