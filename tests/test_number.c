/* Number formatting: integers and the shortest round-trip doubles in Rust's Debug style. */
#include <math.h>

#include "helpers.h"
#include "text/number.h"

static void integers(void **state) {
  (void)state;
  char out[32];
  struct {
    int64_t v;
    const char *s;
  } table[] = {{0, "0"}, {9, "9"}, {10, "10"}, {-1, "-1"}, {99, "99"}, {100, "100"},
               {1234567890123LL, "1234567890123"}, {INT64_MIN, "-9223372036854775808"},
               {INT64_MAX, "9223372036854775807"}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    size_t n = trace__i64_dec(out, table[i].v);
    out[n] = '\0';
    assert_string_equal(out, table[i].s);
  }
  size_t n = trace__u64_dec(out, UINT64_MAX);
  out[n] = '\0';
  assert_string_equal(out, "18446744073709551615");
}

static void doubles(void **state) {
  (void)state;
  struct {
    double v;
    const char *text, *json;
  } table[] = {
      {0.5, "0.5", "0.5"},
      {1.0, "1.0", "1.0"},
      {-3.0, "-3.0", "-3.0"},
      {0.1, "0.1", "0.1"},
      {0.30000000000000004, "0.30000000000000004", "0.30000000000000004"},
      {1e16, "1e16", "1e16"},
      {1e15, "1000000000000000.0", "1000000000000000.0"},
      {1.5e-7, "1.5e-7", "1.5e-7"},
      {0.0001, "0.0001", "0.0001"},
      {123.456, "123.456", "123.456"},
      {-0.0, "-0.0", "-0.0"},
      {NAN, "NaN", "null"},
      {INFINITY, "inf", "null"},
      {-INFINITY, "-inf", "null"},
      {1.7976931348623157e308, "1.7976931348623157e308", "1.7976931348623157e308"},
      {5e-324, "5e-324", "5e-324"},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    for (int json = 0; json < 2; json++) {
      char out[64];
      trace__buf b;
      trace__buf_init_fixed(&b, out, sizeof out - 1);
      trace__buf_f64(&b, table[i].v, json);
      out[b.len] = '\0';
      const char *want = json ? table[i].json : table[i].text;
      if (strcmp(out, want) != 0) {
        print_error("row %zu json=%d: got %s want %s\n", i, json, out, want);
        fail();
      }
    }
  }
}

static void pointers(void **state) {
  (void)state;
  char out[32];
  trace__buf b;
  trace__buf_init_fixed(&b, out, sizeof out - 1);
  trace__buf_ptr(&b, (void *)(uintptr_t)0xabc);
  out[b.len] = '\0';
  assert_string_equal(out, "0xabc");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(integers),
      cmocka_unit_test(doubles),
      cmocka_unit_test(pointers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
