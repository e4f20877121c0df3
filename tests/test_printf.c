/* The printf engine: for every conversion it handles itself, the same bytes as the C library's
 * vsnprintf; plus its deliberate differences (%n, the trailing newline, escaping). */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <sys/resource.h>
#include <wchar.h>

#include "helpers.h"
#include "text/printf.h"

/* Large enough for a long double's exact digits (%.17000Le), compared with libc's. */
static char ours_out[32768], theirs_out[32768];
static trace__buf last; /* the buffer of the last ours_v, for its length and dropped bytes */

static const char *ours_v(const char *fmt, va_list ap, bool escape) {
  trace__buf b;
  trace__buf_init_fixed(&b, ours_out, sizeof ours_out - 1);
  trace__vformat(&b, fmt, ap, TRACE__ESC_TEXT, escape, 2);
  ours_out[b.len] = '\0';
  last = b;
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

/* The same without escaping, whose cut keeps counting (for the dropped bytes). */
static const char *raw(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ours_v(fmt, ap, false);
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
  /* Floating point: the width and the padding are laid out by us, the digits come from libc. */
  same("%010.3f|%-10.1f|%+08.2e|%#.0f|%#x|% 09.2f|%-+12.3e|%012a|%-12A|%+013.4a", -1.5, 0.25, 1e5,
       3.0, 0u, 2.5, -7e-9, 1.0, 0.5, -3.75);
  same("%010f|%-10f|%+010f|%010e|%5f|%-6e|", INFINITY, -INFINITY, NAN, -NAN, NAN, INFINITY);
  same("%#g|%#.10g|%g|%.0e|%#.0e|%G|%.3g", 1.0, 1.0 / 3, 1e-10, 5.5, 5.5, 1e300, 123456.0);
  same("%'12d|%'-12d|%'.8d|%'+d|%'012u|%'.0d|", 1234567, -1234567, 42, 5, 99u, 0);
  same("%Ld %Lu %llf %Lg", 5LL, 7ULL, (long double)0.5, (long double)1e-3);
  same("%5ls|%-5ls|%.2ls|%3lc|%-3lc|", L"ab", L"ab", L"abc", (wint_t)L'x', (wint_t)L'y');
  /* Precisions past the digits a value has: the rest are zeros, written without asking libc. */
  same("%.1200f", 1.0 / 3);
  same("%.1200f|%.1100e|%#.1150g|%.1100a", -DBL_TRUE_MIN, DBL_MAX, 0.1, 1.0 / 3);
  same("%.1200g|%.1200G", 0.1, 1e300);
  same("%1300.1200f|%-1300.1200e|%01300.1200f", 2.5, 2.5, -2.5);
  same("%.17000Le", LDBL_TRUE_MIN);
  same("%.17000Lf", 1.0L / 3);
  same("%.17000La|%#.17000Lg", 1.0L / 3, 2.0L);
  /* Positional arguments, done by the engine itself. */
  same("%2$s %1$s", "world", "hello");
  same("%1$s %1$s %2$d %2$x", "twice", 255);
  same("%2$*1$d|%3$-*1$s|%4$.*1$f|%2$0*1$d", 6, 42, "ab", 3.14159);
  same("%1$*2$.*3$d|", 7, 8, 4);
  same("%3$ld %1$hhd %2$Lf %4$zu %5$p %6$c %7$lc", (signed char)-3, (long double)2.5, LONG_MIN,
       (size_t)9, (void *)0x10, 'q', (wint_t)L'z');
  same("%1$.2f %1$e %1$g %1$a", 0.125);
  same("%2$s%%%1$d%%", 1, "x");
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
  /* %ls and %lc are UTF-8 whatever the locale (libc fails the whole call for non-ASCII in the C
   * locale); what is not a character becomes U+FFFD. The precision never cuts a character. */
  assert_string_equal(ours("%ls|%lc|%lc", L"caf\u00e9", (wint_t)0x20AC, (wint_t)0xD800),
                      "caf\xc3\xa9|\xe2\x82\xac|\xef\xbf\xbd");
  assert_string_equal(ours("[%.4ls][%6.4ls][%-6.3ls]", L"a\u00e9\u20ac", L"a\u00e9\u20ac", L"a\u00e9\u20ac"),
                      "[a\xc3\xa9][   a\xc3\xa9][a\xc3\xa9   ]");
  assert_string_equal(ours("%ls", (const wchar_t *)NULL), "(null)");
  assert_string_equal(ours("%lc|%c|%-3lc|", (wint_t)0, 0, (wint_t)0), "\\0|\\0|\\0  |");
  assert_string_equal(ours("%ls", L"a\nb"), "a\\nb"); /* escaped like %s */
}

/* Positional arguments never reach libc: %n writes nothing there either (it once did, through a
 * vsnprintf fallback), and formats libc would misread are printed as written. */
static void positional_arguments(void **state) {
  (void)state;
  int n = -1;
  signed char hh = -1;
  assert_string_equal(ours("%1$s%2$n", "abc", &n), "abc");
  assert_int_equal(n, -1);
  assert_string_equal(ours("%2$hhn%1$s%2$n", "xyz", &hh), "xyz");
  assert_int_equal(hh, -1);
  assert_string_equal(ours("%3$s%1$n%2$d", &n, 5, "s"), "s5");
  assert_int_equal(n, -1);
  /* Mixed with sequential conversions (not C): the next argument after the last one used. */
  assert_string_equal(ours("%2$s %s %1$s %s", "a", "b", "c"), "b c a b");
  /* A gap: argument 1 is named by nothing, so its type is unknown and nothing after it can be
   * read; 0 and numbers past the maximum are no arguments. */
  assert_string_equal(ours("%2$s", "a", "b"), "%2$s");
  assert_string_equal(ours("%1$d %0$d %65$d", 7), "7 %0$d %65$d");
  /* One argument taken as two types of different sizes: the later conversion prints as written. */
  assert_string_equal(ours("%1$d %1$lld %1$x", 255), "255 %1$lld ff");
  /* The final newline is dropped on this path too, and %m takes no argument. */
  assert_string_equal(ours("%1$s %m\n", "e:"), "e: No such file or directory");
  assert_string_equal(ours("%1$s %2$c", "esc", '\x1b'), "esc \\u{1b}");
  /* Positional formats of any width and precision are bounded like the others. */
  assert_string_equal(ours("%1$.3s%2$.*3$f", "abcdef", 1.0, 2), "abc1.00");
}

/* Formatting from an array of typed arguments (the positional path's second half; the fuzzer's
 * way in), with the types the engine collects from the format. */
static void typed_arguments(void **state) {
  (void)state;
  uint8_t types[16];
  assert_int_equal(trace__printf_arg_types("%d %*.*s %Lf %zu %p %lc %% %m %y %hhd", types, 16), 9);
  const uint8_t want[] = {TRACE__ARG_INT,  TRACE__ARG_INT, TRACE__ARG_INT,
                          TRACE__ARG_PTR,  TRACE__ARG_LDOUBLE, TRACE__ARG_SIZE,
                          TRACE__ARG_PTR,  TRACE__ARG_WINT,    TRACE__ARG_INT};
  assert_memory_equal(types, want, sizeof want);
  assert_int_equal(trace__printf_arg_types("%3$d %1$s", types, 16), 1); /* 2 is a gap */
  assert_int_equal(trace__printf_arg_types("%d %d %d", types, 2), 2);

  trace__printf_arg args[3];
  args[0].type = TRACE__ARG_INT;
  args[0].as.bits = (uint64_t)-5;
  args[1].type = TRACE__ARG_PTR;
  args[1].as.ptr = "str\n";
  args[2].type = TRACE__ARG_DOUBLE;
  args[2].as.d = 0.5;
  char out[128];
  trace__buf b;
  trace__buf_init_fixed(&b, out, sizeof out - 1);
  trace__format_args(&b, "%d|%s|%.2f|%d|%2$s\n", args, 3, TRACE__ESC_TEXT, true, 0);
  out[b.len] = '\0';
  /* the fourth conversion has no argument: as written */
  assert_string_equal(out, "-5|str\\n|0.50|%d|str\\n");
  trace__buf_init_fixed(&b, out, sizeof out - 1);
  trace__format_args(&b, "%s %f", args, 3, TRACE__ESC_TEXT, false, 0); /* types do not match */
  out[b.len] = '\0';
  assert_string_equal(out, "%s %f");
}

static long max_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Every conversion costs at most the room left in the buffer. glibc's own %.999999999f took
 * 26 s and 4.9 GB; here each case is cut at the buffer's 4096 bytes and the bytes that did not
 * fit are counted, not produced: the process's peak memory does not move. */
static void huge_widths_and_precisions_are_bounded(void **state) {
  (void)state;
  static const struct {
    const char *fmt;
    const char *start; /* what the output begins with */
    size_t full;       /* the length the text would have */
  } cases[] = {
      {"%.*f", "1.0000", 2 + 999999999u},
      {"%.*e", "1.0000", 2 + 999999999u + 4},
      {"%#.*g", "1.0000", 1 + 999999999u},
      {"%.*a", "0x1.000", 4 + 999999999u + 3},
      {"%*f", "      ", 999999999u},
      {"%-*f", "1.000000   ", 999999999u},
      {"%0*f", "00000", 999999999u},
  };
  long rss = max_rss_kib();
  for (size_t i = 0; i < TRACE__ARRAY_LEN(cases); i++) {
    const char *out = raw(cases[i].fmt, 999999999, 1.0);
    assert_int_equal(last.len, sizeof ours_out - 1);
    assert_true(last.truncated);
    assert_int_equal(last.len + last.dropped, cases[i].full);
    assert_memory_equal(out, cases[i].start, strlen(cases[i].start));
  }
  raw("%.*Lf", INT_MAX, 1.0L);
  assert_int_equal(last.len + last.dropped, 2 + (size_t)INT_MAX);
  assert_true(strspn(ours_out + 2, "0") == sizeof ours_out - 3);
  raw("%*d|%-*d|%.*d|%0*d", INT_MAX, 1, INT_MAX, 2, INT_MAX, 3, INT_MAX, 4);
  assert_int_equal(last.len + last.dropped, 4 * (size_t)INT_MAX + 3);
  raw("%*s%-*s%*c%*p%*ls%*lc%'*d", INT_MAX, "s", INT_MAX, "s", INT_MAX, 'c', INT_MAX, (void *)0,
       INT_MAX, L"w", INT_MAX, (wint_t)L'w', INT_MAX, 5);
  assert_int_equal(last.len + last.dropped, 7 * (size_t)INT_MAX);
  raw("%*d", INT_MIN, 1); /* -INT_MIN: left-aligned, as wide as it can be */
  assert_int_equal(last.len + last.dropped, (size_t)INT_MAX);
  assert_true(ours_out[0] == '1' && ours_out[1] == ' ');
  /* The positional path too. */
  raw("%2$.*1$f", INT_MAX, 1.0);
  assert_int_equal(last.len + last.dropped, 2 + (size_t)INT_MAX);
  /* Nothing held more than the buffer: no peak of hundreds of megabytes. */
  assert_true(max_rss_kib() - rss < 32 * 1024);
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
      cmocka_unit_test(positional_arguments),
      cmocka_unit_test(typed_arguments),
      cmocka_unit_test(huge_widths_and_precisions_are_bounded),
      cmocka_unit_test(truncation_is_marked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
