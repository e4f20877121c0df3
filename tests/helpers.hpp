// Shared by the C++ tests (the C ones have helpers.h): a capture subscriber around some code, and
// the comparison of its whole log.
#ifndef TRACE_TESTS_HELPERS_HPP
#define TRACE_TESTS_HELPERS_HPP

#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <setjmp.h>

extern "C" {
#include <cmocka.h>
}

#include "trace.h"
#include "trace/subscriber.h"
#include "trace/testing.h"

// Runs fn with a capture subscriber (every level) as this thread's default, and compares its log
// with expected, printing both when they differ.
template <class F> static void expect_log(F fn, const char *expected) {
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) { fn(); }
  const char *log = trace_capture_log(cap);
  if (std::strcmp(log, expected) != 0) {
    print_error("--- expected ---\n%s--- actual ---\n%s", expected, log);
    fail();
  }
  trace_capture_free(cap);
}

#endif
