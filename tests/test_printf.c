/* The printf engine: for every conversion it handles itself, the same bytes as the C library's
 * vsnprintf; plus its deliberate differences (%n, the trailing newline, escaping). */
#include <limits.h>
#include <stdint.h>
#include <wchar.h>

#include "helpers.h"
#include "text/printf.h"

static char ours_out[4096], theirs_out[4096];

static const char *ours_v(const char *fmt, va_list ap, bool escape) {
  trace__buf b;
  trace__buf_init_fixed(&b, ours_out, sizeof ours_out - 1);
  trace__vformat(&b, fmt, ap, TRACE__ESC_TEXT, escape, 2);
  ours_out[b.len] = '\0';
  return ours_out;
}

/* Not format-checked on purpose: the tests pass what a compiler would refuse. */
static const char *ours(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ours_v(fmt, ap, true);
  va_end(ap);
  return ours_out;
}

#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* Formats with both engines and compares. */
static void same(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  ours_v(fmt, ap, false);
  vsnprintf(theirs_out, sizeof theirs_out, fmt, ap2);
  va_end(ap2);
  va_end(ap);
  if (strcmp(ours_out, theirs_out) != 0) {
    print_error("format \"%s\": ours \"%s\", libc \"%s\"\n", fmt, ours_out, theirs_out);
    fail();
  }
}

static void matches_libc(void **state) {
  (void)state;
  same("plain text");
  same("%d %i %d %d", 0, -1, INT_MAX, INT_MIN);
  same("%5d|%-5d|%05d|%+d|% d|%+05d|%-+5d|%.3d|%8.3d|%-8.3d|%.0d|%5.0d", 42, 42, 42, 42, 42, -42,
       42, 7, 7, 7, 0, 0);
  same("%hhd %hd %ld %lld %jd %zd %td", (signed char)-3, (short)-300, LONG_MIN, LLONG_MAX,
       (intmax_t)-9, (ssize_t)-5, (ptrdiff_t)12);
  same("%u %hhu %hu %lu %llu %zu", 4000000000u, (unsigned char)255, (unsigned short)65535,
       ULONG_MAX, ULLONG_MAX, (size_t)123);
  same("%x %X %#x %#X %#o %o %08x %#08x %.4x %#.0x %#x", 255u, 255u, 255u, 255u, 8u, 8u, 0xabcu,
       0xabcu, 0xfu, 0u, 0u);
  same("%lx %llX %hhx %zx", 0xdeadbeefUL, 0xcafebabeULL, (unsigned char)0x1ff, (size_t)4096);
  same("%c%c%3c|%-3c|", 'a', 'b', 'c', 'd');
  same("%s|%10s|%-10s|%.2s|%10.2s|%-10.2s|%.*s|%*s|%-*s", "str", "str", "str", "str", "str", "str",
       2, "str", 6, "str", -6, "str");
  same("%s", (const char *)NULL);
  same("%p %p %20p %-20p|", (void *)0x1234, (void *)NULL, (void *)0x1234, (void *)0x1234);
  same("%f %.2f %10.3f %-10.1f| %e %E %g %G %a", 3.14159, 2.5, -1.5, 0.25, 12345.678, 0.001, 1e-5,
       1e20, 1.0);
  same("%Lf %Lg", (long double)1.5, (long double)2e30);
  same("%%|%5%|");
  same("%'d", 1234567);
  same("%2$s %1$s", "world", "hello");
  same("%*d|%-*d|%.*d", 5, 1, 5, 2, 3, 3);
  same("%ls|%lc", L"wide", (wint_t)L'w');
  same("%.*s", -1, "negative precision means none");
  same("tail %d", 1);
}

static void deliberate_differences(void **state) {
  (void)state;
  int n = 5;
  assert_string_equal(ours("a%nb", &n), "ab"); /* %n writes nothing */
  assert_int_equal(n, 5);
  assert_string_equal(ours("line\n"), "line"); /* the final newline is dropped */
  assert_string_equal(ours("a\nb\n\n"), "a\\nb\\n");
  assert_string_equal(ours("%s", "x\ny"), "x\\ny"); /* %s text is escaped */
  assert_string_equal(ours("%c", '\x1b'), "\\u{1b}");
  assert_string_equal(ours("%m"), "No such file or directory"); /* errno 2 was passed */
  assert_string_equal(ours("%2$s-%1$s\n", "b", "a"), "a-b");
  assert_string_equal(ours("unknown %y conversion"), "unknown %y conversion");
  assert_string_equal(ours("dangling %"), "dangling %");
}

static void truncation_is_marked(void **state) {
  (void)state;
  char out[16];
  trace__buf b;
  trace__buf_init_fixed(&b, out, 10);
  va_list ap;
  (void)ap;
  trace__buf_put(&b, "0123456789abc", 13);
  assert_true(b.truncated);
  assert_int_equal(b.len, 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(matches_libc),
      cmocka_unit_test(deliberate_differences),
      cmocka_unit_test(truncation_is_marked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
