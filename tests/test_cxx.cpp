// The public headers and their macros from C++17: overloads stand in for _Generic, C++ types
// are fields, and temporaries in fields live until the event is dispatched.
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <setjmp.h>
#include <string>
#include <string_view>
#include <vector>

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

#include "helpers.hpp"

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

enum class color : unsigned char { red = 1, green = 2 };
enum class delta : long long { down = -3 };
enum plain { plain_a, plain_b };

// A string-like class of our own: anything with char data() and size() is a string.
struct name_buf {
  char text[8];
  const char *data() const { return text; }
  std::size_t size() const { return std::strlen(text); }
};

// TF takes std::string, std::string_view, char containers, string-likes and enums as they are.
static void cxx_field_types(void **) {
  expect_log(
      [] {
        std::string s = "a \"quoted\" string";
        std::string_view v = std::string_view("view-and-more").substr(0, 4);
        std::vector<char> bytes{'x', '\0', 'y'};
        const std::string cs = "const";
        name_buf nb = {"buf"};
        TRACE_INFO(TF(s, s), TF(v, v), TF(bytes, bytes), TF(cs, cs), TF(nb, nb), "strings");
        TRACE_INFO(TF(c, color::green), TF(d, delta::down), TF(p, plain_b), "enums");
        trace_span sp = TRACE_INFO_SPAN("span", TF(s, s), TF(state, TRACE_EMPTY));
        TRACE_RECORD(&sp, state, color::red);
        TRACE_RECORD(&sp, s, std::string_view("recorded"));
        trace_span_close(&sp);
      },
      "event INFO test_cxx: strings s=\"a \\\"quoted\\\" string\" v=\"view\" bytes=\"x\\0y\" "
      "cs=\"const\" nb=\"buf\"\n"
      "event INFO test_cxx: enums c=2 d=-3 p=1\n"
      "new 1 span parent=- s=\"a \\\"quoted\\\" string\"\n"
      "record 1 state=1\n"
      "record 1 s=\"recorded\"\n"
      "close 1\n");
}

// A string that scribbles over its text when destroyed (through volatile, so that the stores
// stay), to show in any build, not only under ASan, whether a field outlived its temporary.
struct scribbled {
  char text[24];
  explicit scribbled(const char *s) { std::snprintf(text, sizeof text, "%s", s); }
  ~scribbled() {
    volatile char *p = text;
    for (std::size_t i = 0; i + 1 < sizeof text; i++)
      p[i] = '#';
  }
  const char *c_str() const { return text; }
  const char *data() const { return text; }
  std::size_t size() const { return std::strlen(text); }
};

static std::string long_text(int n) { return "a heap-allocated string, number " + std::to_string(n); }

// Temporaries in fields live until the event or span is made: the values are a temporary of the
// call expression, not a separate array initialised (and its temporaries destroyed) before it.
// Under ASan the std::string cases read freed memory otherwise; scribbled shows it everywhere.
static void cxx_temporaries_outlive_the_call(void **) {
  expect_log(
      [] {
        for (int n = 1; n <= 2; n++) {
          TRACE_INFO(TF(a, scribbled("first").c_str()), TF(b, long_text(n).c_str()),
                     TF(c, std::to_string(n * 100).c_str()), TF(d, scribbled("second")),
                     TF(e, long_text(n)), TF(f, std::to_string(n)), "n=%d %s", n,
                     long_text(n).c_str());
        }
        trace_span sp = TRACE_INFO_SPAN("tmp", TF(a, scribbled("span").c_str()),
                                        TF(b, long_text(3)), TF(r, TRACE_EMPTY));
        TRACE_RECORD(&sp, r, long_text(4).c_str());
        trace_span_close(&sp);
      },
      "event INFO test_cxx: n=1 a heap-allocated string, number 1 a=\"first\" "
      "b=\"a heap-allocated string, number 1\" c=\"100\" d=\"second\" "
      "e=\"a heap-allocated string, number 1\" f=\"1\"\n"
      "event INFO test_cxx: n=2 a heap-allocated string, number 2 a=\"first\" "
      "b=\"a heap-allocated string, number 2\" c=\"200\" d=\"second\" "
      "e=\"a heap-allocated string, number 2\" f=\"2\"\n"
      "new 1 tmp parent=- a=\"span\" b=\"a heap-allocated string, number 3\"\n"
      "record 1 r=\"a heap-allocated string, number 4\"\n"
      "close 1\n");
}

static const char static_name[] = "static-array";
template <class T> static void named_by_template(T) { TRACE_FN(TRACE_LEVEL_INFO); }

// What the literal-only rule keeps accepting in C++: literals, __func__ (TRACE_FN and by hand),
// static arrays, literal targets, and the default target (the file's name). The rejected forms
// are compile errors, checked by tests/check_macro_errors.sh.
static void cxx_literal_metadata(void **) {
  expect_log(
      [] {
        for (int i = 0; i < 2; i++) {
          trace_span a = TRACE_INFO_SPAN(__func__);
          trace_span b = TRACE_SPAN_AT("cxx.target", TRACE_LEVEL_INFO, static_name, TF(i, i));
          TRACE_EVENT_AT("cxx.target", TRACE_LEVEL_INFO, "at %d", i);
          TRACE_EVENT_IN(&b, TRACE_LEVEL_INFO, TF(i, i));
          trace_span_close(&b);
          trace_span_close(&a);
        }
        named_by_template(1);
      },
      "new 1 operator() parent=-\n"
      "new 2 static-array parent=- i=0\n"
      "event INFO cxx.target: at 0\n"
      "event INFO test_cxx: i=0 in=2\n"
      "close 2\n"
      "close 1\n"
      "new 3 operator() parent=-\n"
      "new 4 static-array parent=- i=1\n"
      "event INFO cxx.target: at 1\n"
      "event INFO test_cxx: i=1 in=4\n"
      "close 4\n"
      "close 3\n"
      "new 5 named_by_template parent=-\n"
      "enter 5\n"
      "exit 5\n"
      "close 5\n");
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
                                     cmocka_unit_test(cxx_field_types),
                                     cmocka_unit_test(cxx_temporaries_outlive_the_call),
                                     cmocka_unit_test(cxx_literal_metadata),
                                     cmocka_unit_test(cxx_registry_fmt_env_filter)};
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
