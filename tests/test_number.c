/* Number formatting: integers, and doubles in their shortest round-trip form as Rust prints them
 * ({:?}, tracing's text output) and as serde_json does (tracing's JSON output). The doubles are
 * checked against a table of edge cases, against tests/data/f64_vectors.txt (written by Rust
 * itself: tests/gen/f64_vectors.sh), against the exact big-number form of the same algorithm, and
 * for reading back and being shortest over millions of random doubles. */
#include <math.h>

#include "helpers.h"
#include "text/f64.h"
#include "text/number.h"

#ifndef TRACE_TEST_DATA_DIR
#error "TRACE_TEST_DATA_DIR must name tests/data"
#endif

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

static uint64_t f64_bits(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static double bits_f64(uint64_t u) {
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* One line of tests/data/f64_vectors.txt: a double and the texts Rust printed for it. */
typedef struct {
  uint64_t bits;
  char text[64], json[64];
} rust_line;

/* Reads the next line of f (comments skipped) into *r; false at the end. */
static bool next_rust_line(FILE *f, rust_line *r) {
  char line[256];
  unsigned long long bits;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#')
      continue;
    assert_int_equal(sscanf(line, "%llx %63s %63s", &bits, r->text, r->json), 3);
    if (strcmp(r->json, "=") == 0)
      strcpy(r->json, r->text);
    r->bits = bits;
    return true;
  }
  return false;
}

/* What Rust printed for the double with these bits (false if the file has no line for it). */
static bool rust_says(uint64_t bits, rust_line *out) {
  FILE *f = fopen(TRACE_TEST_DATA_DIR "/f64_vectors.txt", "r");
  assert_non_null(f);
  bool found = false;
  while (!found && next_rust_line(f, out))
    found = out->bits == bits;
  fclose(f);
  return found;
}

/* The text of v as trace__buf_f64 writes it, NUL-terminated. */
static const char *f64_text(double v, bool json) {
  static char out[64];
  trace__buf b;
  trace__buf_init_fixed(&b, out, sizeof out - 1);
  trace__buf_f64(&b, v, json);
  assert_false(b.truncated);
  out[b.len] = '\0';
  return out;
}

/* The edge cases tracing users meet, readable here; each row is also checked against the line
 * Rust wrote for the same bits in tests/data/f64_vectors.txt, so the expected strings are Rust's
 * and not ours. */
static void doubles(void **state) {
  (void)state;
  struct {
    double v;
    const char *text, *json;
  } table[] = {
      {0.5, "0.5", "0.5"},
      {1.0, "1.0", "1.0"},
      {2.0, "2.0", "2.0"},
      {-3.0, "-3.0", "-3.0"},
      {0.1, "0.1", "0.1"},
      {0.2, "0.2", "0.2"},
      {0.30000000000000004, "0.30000000000000004", "0.30000000000000004"},
      {1.0 / 3.0, "0.3333333333333333", "0.3333333333333333"},
      {1e16, "1e16", "1e16"},
      {1e15, "1000000000000000.0", "1000000000000000.0"},
      {9007199254740992.0, "9007199254740992.0", "9007199254740992.0"},
      {9999999999999998.0, "9999999999999998.0", "9999999999999998.0"},
      {123456789012345680.0, "1.2345678901234568e17", "1.2345678901234568e17"},
      {1e21, "1e21", "1e21"},
      {1e23, "1e23", "1e23"},
      {1e-7, "1e-7", "1e-7"},
      {1.5e-7, "1.5e-7", "1.5e-7"},
      {0.0001, "0.0001", "0.0001"},
      {9.999999999999999e-5, "9.999999999999999e-5", "0.00009999999999999999"},
      /* tracing's JSON (ryu) writes decimals down to 1e-5, its text ({:?}) down
         to 1e-4 */
      {1e-5, "1e-5", "0.00001"},
      {3e-5, "3e-5", "0.00003"},
      {9.999999999999999e-6, "9.999999999999999e-6", "9.999999999999999e-6"},
      {123.456, "123.456", "123.456"},
      {-123.456, "-123.456", "-123.456"},
      {-0.0, "-0.0", "-0.0"},
      {0.0, "0.0", "0.0"},
      {NAN, "NaN", "null"},
      {-NAN, "NaN", "null"},
      {INFINITY, "inf", "null"},
      {-INFINITY, "-inf", "null"},
      {1.7976931348623157e308, "1.7976931348623157e308", "1.7976931348623157e308"}, /* f64::MAX */
      {-1.7976931348623157e308, "-1.7976931348623157e308", "-1.7976931348623157e308"},
      {2.2250738585072014e-308, "2.2250738585072014e-308", "2.2250738585072014e-308"},
      {2.225073858507201e-308, "2.225073858507201e-308", "2.225073858507201e-308"},
      {5e-324, "5e-324", "5e-324"},
      {-5e-324, "-5e-324", "-5e-324"},
      {1e-323, "1e-323", "1e-323"},
      /* Exactly halfway between the two nearest shortest candidates: Rust takes the larger, ryu the
       * even one. snprintf's rounding (the even one) printed .2 in text. */
      {562949953421312.25, "562949953421312.3", "562949953421312.2"},
      {562949953421312.75, "562949953421312.8", "562949953421312.8"},
      {0x1p-25, "2.9802322387695313e-8", "2.9802322387695312e-8"},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    rust_line rust;
    if (!rust_says(f64_bits(table[i].v), &rust)) {
      print_error("row %zu (%a): not in f64_vectors.txt: add it to tests/gen/f64_vectors.rs\n", i,
                  table[i].v);
      fail();
    }
    assert_string_equal(table[i].text, rust.text);
    assert_string_equal(table[i].json, rust.json);
    for (int json = 0; json < 2; json++) {
      const char *out = f64_text(table[i].v, json);
      const char *want = json ? table[i].json : table[i].text;
      if (strcmp(out, want) != 0) {
        print_error("row %zu json=%d: got %s want %s\n", i, json, out, want);
        fail();
      }
    }
  }
}

/* A number that does not fit is cut at the buffer's end and says so, as any text is. */
static void doubles_cut(void **state) {
  (void)state;
  for (size_t cap = 0; cap < 19; cap++) { /* the text has 19 bytes */
    char out[32];
    trace__buf b;
    trace__buf_init_fixed(&b, out, cap);
    trace__buf_f64(&b, 0.30000000000000004, false);
    assert_int_equal(b.len, cap);
    assert_true(b.truncated);
    assert_memory_equal(out, "0.30000000000000004", cap);
  }
}


/* The big-number form decides every step exactly: the fast one must agree with it. */
static void expect_exact_agrees(double v, unsigned flags) {
  trace__f64_decimal fast = trace__f64_to_decimal(v, flags);
  trace__f64_decimal exact = trace__f64_to_decimal(v, flags | TRACE__F64_EXACT);
  if (fast.digits != exact.digits || fast.exp10 != exact.exp10) {
    print_error("%a (flags %u): %llue%d, exactly %llue%d\n", v, flags,
                (unsigned long long)fast.digits, fast.exp10, (unsigned long long)exact.digits,
                exact.exp10);
    fail();
  }
}

/* Every line of the file Rust wrote, byte for byte, in both styles. */
static void doubles_like_rust(void **state) {
  (void)state;
  FILE *f = fopen(TRACE_TEST_DATA_DIR "/f64_vectors.txt", "r");
  assert_non_null(f);
  int rows = 0, bad = 0;
  rust_line r;
  while (next_rust_line(f, &r)) {
    double v = bits_f64(r.bits);
    for (int j = 0; j < 2; j++) {
      const char *out = f64_text(v, j);
      const char *want = j ? r.json : r.text;
      if (strcmp(out, want) != 0 && bad++ < 20)
        print_error("%016llx json=%d: got %s, Rust %s\n", (unsigned long long)r.bits, j, out,
                    want);
    }
    if (isfinite(v) && v != 0) {
      expect_exact_agrees(fabs(v), 0);
      expect_exact_agrees(fabs(v), TRACE__F64_RYU);
    }
    rows++;
  }
  fclose(f);
  assert_int_equal(bad, 0);
  assert_true(rows > 10000); /* the whole file was read */
}

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* The digits of text (a %e-like or decimal number) with one digit fewer, rounded down and up: if
 * either reads back as v, the text was not the shortest. */
static bool has_shorter(const char *text, double v) {
  char digits[32];
  int n = 0, point = 0, e = 0;
  const char *p = text;
  bool seen_point = false, leading = true;
  for (; *p && *p != 'e'; p++) {
    if (*p == '.') {
      seen_point = true;
      continue;
    }
    if (*p == '-')
      continue;
    if (leading && *p == '0') {
      if (seen_point)
        point--;
      continue;
    }
    leading = false;
    digits[n++] = *p;
    if (!seen_point)
      point++;
  }
  if (*p == 'e')
    e = atoi(p + 1);
  while (n > 1 && digits[n - 1] == '0') /* "100.0": one digit */
    n--;
  if (n <= 1)
    return false;
  /* value = 0.d1d2...dn * 10^(point + e); try d1..d(n-1) and that plus one in the last place */
  char shorter[64];
  for (int up = 0; up < 2; up++) {
    char d[32];
    memcpy(d, digits, (size_t)(n - 1));
    int m = n - 1, i = m - 1, carry = 0;
    if (up) {
      while (i >= 0 && d[i] == '9')
        d[i--] = '0';
      if (i >= 0) {
        d[i]++;
      } else { /* 0.99 up is 1.0: 0.10 with the exponent one higher */
        d[0] = '1';
        carry = 1;
      }
    }
    snprintf(shorter, sizeof shorter, "%s0.%.*se%d", v < 0 ? "-" : "", m, d, point + e + carry);
    if (strtod(shorter, NULL) == v)
      return true;
  }
  return false;
}

/* Reads back as the same double, and nothing one digit shorter does: over a few million random bit
 * patterns (every exponent alike), in both styles, with the exact form checked on some. */
static void doubles_round_trip(void **state) {
  (void)state;
  uint64_t seed = 0x9E3779B97F4A7C15u;
  const int n = 2000000;
  for (int i = 0; i < n; i++) {
    uint64_t bits = xorshift(&seed);
    if (i & 1) /* half of them in the commonest range, 1e-9 to 1e9 */
      bits = (bits & 0x800FFFFFFFFFFFFFu) | (uint64_t)(1023 - 30 + (int)(bits >> 52 & 63)) << 52;
    double v = bits_f64(bits);
    if (!isfinite(v))
      continue;
    for (int json = 0; json < 2; json++) {
      const char *out = f64_text(v, json);
      double back = strtod(out, NULL);
      if (f64_bits(back) != bits) {
        print_error("%016llx json=%d: %s reads back as %a\n", (unsigned long long)bits, json, out,
                    back);
        fail();
      }
      if (i % 8 == 0 && has_shorter(out, v)) {
        print_error("%016llx json=%d: %s is not the shortest\n", (unsigned long long)bits, json,
                    out);
        fail();
      }
    }
    if (i % 64 == 0 && v != 0) {
      expect_exact_agrees(fabs(v), 0);
      expect_exact_agrees(fabs(v), TRACE__F64_RYU);
    }
  }
}

/* Every binary exponent: its smallest, largest and a few random significands, exact against fast,
 * and reading back. */
static void doubles_every_exponent(void **state) {
  (void)state;
  uint64_t seed = 12345;
  for (uint64_t e = 0; e < 2047; e++) {
    uint64_t ms[] = {0,
                     1,
                     2,
                     3,
                     (UINT64_C(1) << 52) - 1,
                     (UINT64_C(1) << 52) - 2,
                     xorshift(&seed) >> 12,
                     xorshift(&seed) >> 12};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
      double v = bits_f64(e << 52 | ms[i]);
      if (v == 0)
        continue;
      expect_exact_agrees(v, 0);
      expect_exact_agrees(v, TRACE__F64_RYU);
      assert_true(strtod(f64_text(v, false), NULL) == v);
    }
  }
}

/* The three logarithms the algorithm computes with multiplications and shifts, against their
 * definitions, for every argument doubles need; and the power of two they give stays in 2..5. */
static void doubles_log_constants(void **state) {
  (void)state;
  for (int q = -1080; q <= 980; q++) {
    /* 10^k <= 2^q < 10^(k+1), that is 2^(k-q) * 5^k <= 1 < 2^(k+1-q) * 5^(k+1)
     * */
    int k = trace__f64_floor_log10_pow2(q);
    assert_true(trace__f64_scaled_cmp(0, 1, k - q, k, 0, 1) <= 0);
    assert_true(trace__f64_scaled_cmp(0, 1, k + 1 - q, k + 1, 0, 1) > 0);
    int h = q + trace__f64_floor_log2_pow10(-k) + 2;
    assert_in_range(h, 2, 5);
    /* 10^k <= 3/4 * 2^q, that is 2^(k+2-q) * 5^k <= 3 */
    k = trace__f64_floor_log10_three_quarters_pow2(q);
    assert_true(trace__f64_scaled_cmp(0, 1, k + 2 - q, k, 0, 3) <= 0);
    assert_true(trace__f64_scaled_cmp(0, 1, k + 3 - q, k + 1, 0, 3) > 0);
    h = q + trace__f64_floor_log2_pow10(-k) + 2;
    assert_in_range(h, 2, 5);
  }
  for (int k = -330; k <= 330; k++) {
    /* 2^e <= 10^k < 2^(e+1), that is 2^(e-k) * 5^-k <= 1 < 2^(e+1-k) * 5^-k */
    int e = trace__f64_floor_log2_pow10(k);
    assert_true(trace__f64_scaled_cmp(0, 1, e - k, -k, 0, 1) <= 0);
    assert_true(trace__f64_scaled_cmp(0, 1, e + 1 - k, -k, 0, 1) > 0);
  }
}

/* trace__f64_is_integer against big-number arithmetic: floor(x) found by bisection, and x compared
 * with it. Only small |q| can give integers (c' has at most 60 bits), so those are checked with
 * significands made of twos and fives, the rest with a few others. c' is 4c - 2, 4c - 1, 4c or 4c +
 * 2 for a significand c < 2^53. */
static void doubles_integer_test(void **state) {
  (void)state;
  uint64_t seed = 99;
  for (int q = -1074; q <= 971; q++) {
    if ((q < -130 || q > 130) && q % 37 != 0)
      continue;
    for (int narrow = 0; narrow < 2; narrow++) {
      int k =
          narrow ? trace__f64_floor_log10_three_quarters_pow2(q) : trace__f64_floor_log10_pow2(q);
      uint64_t cs[] = {UINT64_C(1) << 52,
                       (UINT64_C(1) << 53) - 1,
                       (UINT64_C(1) << 52) | xorshift(&seed) >> 12,
                       UINT64_C(1) << 52 | 1,
                       1,
                       5,
                       25};
      for (size_t i = 0; i < sizeof cs / sizeof cs[0] + 24; i++) {
        uint64_t c = i < sizeof cs / sizeof cs[0] ? cs[i] : 0;
        if (!c) { /* 5^j times the power of two that brings it to 53 bits */
          c = 1;
          for (size_t j = 0; j < i - sizeof cs / sizeof cs[0]; j++)
            c *= 5;
          while (c < UINT64_C(1) << 52)
            c <<= 1;
        }
        uint64_t cps[] = {4 * c, 4 * c - 2, 4 * c + 2, 4 * c - 1};
        for (size_t j = 0; j < sizeof cps / sizeof cps[0]; j++) {
          uint64_t lo = 0, hi = UINT64_C(1) << 62; /* floor(x) in [lo, hi) */
          if (trace__f64_scaled_cmp(0, cps[j], q - k, -k, 0, hi) >= 0)
            continue; /* out of the range the function is for */
          while (hi - lo > 1) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (trace__f64_scaled_cmp(0, cps[j], q - k, -k, 0, mid) >= 0)
              lo = mid;
            else
              hi = mid;
          }
          bool integer = trace__f64_scaled_cmp(0, cps[j], q - k, -k, 0, lo) == 0;
          if (trace__f64_is_integer(cps[j], q, k) != integer) {
            print_error("c'=%llu q=%d k=%d: integer=%d\n", (unsigned long long)cps[j], q, k,
                        integer);
            fail();
          }
        }
      }
    }
  }
}

/* Every entry of the table is the ceiling of its definition, 10^-k * 2^(126 - floor(log2 10^-k)),
 * checked with big numbers rather than trusted to its generator. */
static void doubles_table(void **state) {
  (void)state;
  for (int k = -324; k <= 292; k++) {
    uint64_t hi, lo;
    trace__f64_pow10_entry(k, &hi, &lo);
    assert_true(hi >> 62 == 1);                         /* 2^126 <= g < 2^127 */
    int p2 = 126 - trace__f64_floor_log2_pow10(-k) - k; /* 10^-k * 2^s = 2^(s-k) * 5^-k */
    assert_true(trace__f64_scaled_cmp(0, 1, p2, -k, hi, lo) <= 0);                /* exact <= g */
    assert_true(trace__f64_scaled_cmp(0, 1, p2, -k, hi - (lo == 0), lo - 1) > 0); /* > g - 1 */
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
      cmocka_unit_test(doubles_cut),
      cmocka_unit_test(doubles_like_rust),
      cmocka_unit_test(doubles_round_trip),
      cmocka_unit_test(doubles_every_exponent),
      cmocka_unit_test(doubles_log_constants),
      cmocka_unit_test(doubles_table),
      cmocka_unit_test(doubles_integer_test),
      cmocka_unit_test(pointers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
