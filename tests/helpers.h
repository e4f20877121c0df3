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

/* FMT callbacks that break the snprintf contract: every part of the library that calls one has a
 * regression test with these (they once made it read past a buffer or allocate SIZE_MAX + 1). */
static inline size_t fmt_fails(char *buf, size_t cap, const void *arg) {
  (void)buf, (void)cap, (void)arg;
  return (size_t)-1; /* a failed snprintf's -1, passed through */
}
static inline size_t fmt_claims_huge(char *buf, size_t cap, const void *arg) {
  (void)arg;
  snprintf(buf, cap, "abc");
  return (size_t)1 << 40;
}
static inline size_t fmt_claims_more(char *buf, size_t cap, const void *arg) {
  (void)arg;
  snprintf(buf, cap, "hi");
  return 100; /* the rest of the 100 bytes is whatever was in the buffer */
}
static inline size_t fmt_fills_without_nul(char *buf, size_t cap, const void *arg) {
  (void)arg;
  memset(buf, 'y', cap);
  return cap + 10;
}

#endif
