#include "number.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char trace__digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                    "31323334353637383940414243444546474849505152535455565758596061"
                                    "62636465666768697071727374757677787980818283848586878889909192"
                                    "93949596979899";

void trace__buf_ptr(trace__buf *b, const void *p) {
  static const char hex[] = "0123456789abcdef";
  char tmp[18];
  uintptr_t v = (uintptr_t)p;
  char *q = tmp + sizeof tmp;
  do {
    *--q = hex[v & 0xF];
    v >>= 4;
  } while (v);
  *--q = 'x';
  *--q = '0';
  trace__buf_put(b, q, (size_t)(tmp + sizeof tmp - q));
}

/* Digits and decimal exponent of the shortest %e form that round-trips. */
static int shortest_digits(double v, char *digits, int *exp10) {
  char tmp[40];
  for (int prec = 0; prec <= 16; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec, v);
    if (prec == 16 || strtod(tmp, NULL) == v)
      break;
  }
  /* tmp is d[.ddd]e[+-]xx */
  int n = 0;
  const char *p = tmp;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9')
      digits[n++] = *p;
  *exp10 = atoi(p + 1);
  while (n > 1 && digits[n - 1] == '0')
    n--;
  digits[n] = '\0';
  return n;
}

void trace__buf_f64(trace__buf *b, double v, bool json) {
  if (isnan(v)) {
    trace__buf_puts(b, json ? "null" : "NaN");
    return;
  }
  if (isinf(v)) {
    trace__buf_puts(b, json ? "null" : (v < 0 ? "-inf" : "inf"));
    return;
  }
  if (signbit(v)) {
    trace__buf_putc(b, '-');
    v = -v;
  }
  if (v == 0) {
    trace__buf_put(b, "0.0", 3);
    return;
  }
  /* Small integers are common and exact: print them without the round-trip search. */
  if (v < 1e15 && v == (double)(uint64_t)v) {
    trace__buf_u64(b, (uint64_t)v);
    trace__buf_put(b, ".0", 2);
    return;
  }
  char digits[24];
  int e;
  int n = shortest_digits(v, digits, &e);
  if (e < -4 || e >= 16) { /* Rust switches to exponents outside [1e-4, 1e16) */
    /* d[.ddd]e<exp> */
    trace__buf_putc(b, digits[0]);
    if (n > 1) {
      trace__buf_putc(b, '.');
      trace__buf_put(b, digits + 1, (size_t)(n - 1));
    }
    trace__buf_putc(b, 'e');
    trace__buf_i64(b, e);
  } else if (e < 0) {
    trace__buf_put(b, "0.", 2);
    trace__buf_fill(b, '0', (size_t)(-e - 1));
    trace__buf_put(b, digits, (size_t)n);
  } else if (n <= e + 1) {
    trace__buf_put(b, digits, (size_t)n);
    trace__buf_fill(b, '0', (size_t)(e + 1 - n));
    trace__buf_put(b, ".0", 2);
  } else {
    trace__buf_put(b, digits, (size_t)(e + 1));
    trace__buf_putc(b, '.');
    trace__buf_put(b, digits + e + 1, (size_t)(n - e - 1));
  }
}
