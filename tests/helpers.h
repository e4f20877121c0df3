/* Shared by the cmocka tests: a capture subscriber installed for one test, and assertions on its
 * log that print both texts when they differ. */
#ifndef TRACE_TESTS_HELPERS_H
#define TRACE_TESTS_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "trace.h"
#include "trace/subscriber.h"
#include "trace/testing.h"

/* Compares whole texts, printing both on mismatch. */
#define assert_text_equal(actual, expected)                                                        \
  do {                                                                                             \
    const char *a_ = (actual), *e_ = (expected);                                                   \
    if (strcmp(a_, e_) != 0) {                                                                     \
      print_error("--- expected ---\n%s--- actual ---\n%s----------------\n", e_, a_);             \
      fail();                                                                                      \
    }                                                                                              \
  } while (0)

#define assert_text_contains(haystack, needle)                                                     \
  do {                                                                                             \
    const char *h_ = (haystack), *n_ = (needle);                                                   \
    if (!strstr(h_, n_)) {                                                                         \
      print_error("--- expected to contain ---\n%s\n--- in ---\n%s----------------\n", n_, h_);    \
      fail();                                                                                      \
    }                                                                                              \
  } while (0)

#endif
