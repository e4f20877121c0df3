// The public headers and their macros from C++17: overloads stand in for _Generic.
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <setjmp.h>
#include <string>

extern "C" {
#include <cmocka.h>
}

#include "trace.h"
#include "trace/context.h"
#include "trace/env_filter.h"
#include "trace/fmt.h"
#include "trace/registry.h"
#include "trace/subscriber.h"
#include "trace/testing.h"
#include "trace/version.h"
#include "trace/writer.h"

static int answer(int x) {
  TRACE_FN(TRACE_LEVEL_INFO, TF(x, x));
  return x + 1;
}

static void cxx_macros(void **) {
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) {
    std::string s = "str";
    unsigned u = 7;
    TRACE_INFO(TF(i, 1), TF(u, u), TF(d, 0.25), TF(b, true), TF(s, s.c_str()), "hello %s", "c++");
    TRACE_DEBUG(TF(p, nullptr), TF(e, TRACE_EMPTY));
    trace_span sp = TRACE_INFO_SPAN("span", TF(k, TRACE_EMPTY));
    TRACE_IN_SPAN(&sp) { TRACE_WARN("inside"); }
    TRACE_RECORD(&sp, k, 5L);
    trace_span_close(&sp);
    { TRACE_SCOPE(TRACE_LEVEL_INFO, "scope"); }
    assert_int_equal(answer(1), 2);
    trace_context remote;
    const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    assert_int_equal(trace_traceparent_parse(tp, std::strlen(tp), &remote, nullptr), 0);
    trace_span from = TRACE_INFO_SPAN_FROM(&remote, "from", TF(k, 1));
    trace_span_close(&from);
    trace_span from_null = TRACE_INFO_SPAN_FROM(nullptr, "from_null");
    trace_span_close(&from_null);
  }
  const char *expected = "event INFO test_cxx: hello c++ i=1 u=7 d=0.25 b=true s=\"str\"\n"
                         "event DEBUG test_cxx: p=0x0\n"
                         "new 1 span parent=-\n"
                         "enter 1\n"
                         "event WARN test_cxx: inside in=1\n"
                         "exit 1\n"
                         "record 1 k=5\n"
                         "close 1\n"
                         "new 2 scope parent=-\n"
                         "enter 2\n"
                         "exit 2\n"
                         "close 2\n"
                         "new 3 answer parent=- x=1\n"
                         "enter 3\n"
                         "exit 3\n"
                         "close 3\n"
                         "new 4 from parent=- k=1\n"
                         "close 4\n"
                         "new 5 from_null parent=-\n"
                         "close 5\n";
  const char *log = trace_capture_log(cap);
  if (std::strcmp(log, expected) != 0) {
    print_error("--- expected ---\n%s--- actual ---\n%s", expected, log);
    fail();
  }
  trace_capture_free(cap);
}

static int to_string(void *arg, const char *line, size_t len) {
  static_cast<std::string *>(arg)->append(line, len);
  return 0;
}

// The registry, an env-filter and the fmt layer set up from C++.
static void cxx_registry_fmt_env_filter(void **) {
  std::string out;
  trace_env_filter *f = nullptr;
  assert_int_equal(trace_env_filter_parse("info,cxx=debug", &f, nullptr), 0);
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.time = TRACE_FMT_TIME_NONE;
  o.writer = trace_writer_callback(to_string, nullptr, nullptr, &out);
  trace_registry *r = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(r, trace_fmt_layer_new(&o), trace_env_filter_as_filter(f)),
                   0);
  trace_env_filter_release(f);
  trace_dispatch *d = trace_registry_dispatch(r);
  trace_default_guard g = trace_set_default(d);
  TRACE_EVENT_AT("cxx", TRACE_LEVEL_DEBUG, TF(n, 1), "from C++");
  TRACE_EVENT_AT("other", TRACE_LEVEL_DEBUG, "filtered out");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  assert_string_equal(out.c_str(), "DEBUG cxx: from C++ n=1\n");
}

int main() {
  const struct CMUnitTest tests[] = {cmocka_unit_test(cxx_macros),
                                     cmocka_unit_test(cxx_registry_fmt_env_filter)};
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
