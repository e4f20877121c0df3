/* Doubles to their shortest decimal form: the fewest significant digits that read back as the same
 * double, the nearest such decimal when several have that many digits. trace__buf_f64 (number.h)
 * lays the digits out; these are the parts underneath it, exposed for the tests. */
#ifndef TRACE_TEXT_F64_H
#define TRACE_TEXT_F64_H

#include <stdbool.h>
#include <stdint.h>

/* digits * 10^exp10. digits may end in zeros (the caller strips them). */
typedef struct trace__f64_decimal {
  uint64_t digits;
  int exp10;
} trace__f64_decimal;

enum {
  /* What tracing's JSON output (serde_json, through the ryu crate) prints: a tie between two
   * nearest candidates goes to the even one, and the smallest normal double has the ordinary,
   * symmetric rounding interval. Without it: what Rust's {:?} prints (tracing's text output), where
   * a tie goes to the larger candidate and every power of two has the narrower interval below it.
   * The two differ on values like 562949953421312.25 (.3 against .2). */
  TRACE__F64_RYU = 1,
  /* Tests only: decide every step with exact big-number arithmetic instead of the 128-bit
   * approximation, so the approximation can be checked against the definition. */
  TRACE__F64_EXACT = 2
};

/* floor(q * log10(2)), floor(q * log10(2) + log10(3/4)) and floor(k * log2(10)) for the ranges
 * doubles need (|q| <= 1080, |k| <= 330): the constants are log10(2) * 2^20, log10(3/4) * 2^20 and
 * log2(10) * 2^19, checked for every value in those ranges by tests/test_number.c. The shifts of
 * negative values are arithmetic in GCC and Clang. */
static inline int trace__f64_floor_log10_pow2(int q) { return (q * 315653) >> 20; }
static inline int trace__f64_floor_log10_three_quarters_pow2(int q) {
  return (q * 315653 - 131007) >> 20;
}
static inline int trace__f64_floor_log2_pow10(int k) { return (k * 1741647) >> 19; }

/* The shortest decimal of v, which must be finite and greater than zero. */
trace__f64_decimal trace__f64_to_decimal(double v, unsigned flags);

/* The sign of x * 2^p2 * 5^p5 - y, computed exactly, for 128-bit x and y given as high and low
 * halves and |p2|, |p5| up to 1100 and 400: the slow path of trace__f64_to_decimal, and what the
 * tests check its table with. */
int trace__f64_scaled_cmp(uint64_t x_hi, uint64_t x_lo, int p2, int p5, uint64_t y_hi,
                          uint64_t y_lo);

/* Is c' * 2^q * 10^-k an integer, for c' < 2^56 and k = floor(log10(2^q)) or one less: what
 * trace__f64_to_decimal asks when its approximation has no fraction to speak of. */
bool trace__f64_is_integer(uint64_t cp, int q, int k);

/* Entry k of the table of powers of ten (-324 <= k <= 292), for the tests. */
void trace__f64_pow10_entry(int k, uint64_t *hi, uint64_t *lo);

#endif
