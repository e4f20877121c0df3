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
#include "trace/subscriber.h"
#include "trace/testing.h"

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
                         "close 3\n";
  const char *log = trace_capture_log(cap);
  if (std::strcmp(log, expected) != 0) {
    print_error("--- expected ---\n%s--- actual ---\n%s", expected, log);
    fail();
  }
  trace_capture_free(cap);
}

int main() {
  const struct CMUnitTest tests[] = {cmocka_unit_test(cxx_macros)};
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
