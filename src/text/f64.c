/* The shortest decimal that reads back as a given double, the way Rust's {:?} and the ryu crate
 * choose it, without a loop over snprintf and strtod.
 *
 * The method is Giulietti's Schubfach ("The Schubfach way to render doubles", 2020), written here
 * from the paper's argument:
 *
 * A positive double is v = c * 2^q. Every real number in its rounding interval R = [v - l, v + r]
 * reads back as v (l = r = 2^q / 2, except that below a power of two the next double is half as far
 * away; the ends belong to R when c is even, since strtod breaks ties to even). Let k be the
 * largest integer with 10^k <= width(R). Then R holds at least one multiple of 10^k and at most one
 * multiple of 10^(k+1). If it holds a multiple of 10^(k+1), that one is the answer: every decimal
 * with fewer digits is a multiple of 10^(k+1) too, and no other multiple of 10^k is as short.
 * Otherwise the answer has k as its last digit's exponent, and it is the multiple of 10^k in R
 * nearest to v: floor(v / 10^k) or the one after it. So four candidates are tested against the ends
 * of R, and v is compared with a midpoint for the last choice.
 *
 * The tests need v / 10^k and the ends of R scaled the same way, each to within less than what
 * separates them from the integers they are compared with. They are computed as c' * g(k) * 2^h /
 * 2^128, where c' is 4c, 4c - 2 (or 4c - 1) and 4c + 2, g(k) is 10^-k scaled into [2^126, 2^127)
 * and rounded up (the table), and the power of two h is in 2..5. The result is at most 2^-68 above
 * the exact value, so a fraction of at least 2^-64 says for certain that the exact value is not an
 * integer and has the same integer part; a smaller fraction means the value is an integer (which
 * exact divisibility by powers of 2 and 5 decides) or, in principle, lies just below one, in which
 * case big-number arithmetic decides. Giulietti proves the second never happens for doubles; here
 * it would be slow and right, and the tests run every step of it.
 *
 * Each scaled value is then kept as its integer part with the lowest bit set when it has a fraction
 * ("rounded to odd"): compared with the even numbers the tests use, that gives the same answers as
 * the exact value would. */
#include "f64.h"

#include <stdbool.h>
#include <string.h>

#include "../common/compiler.h"
#include "f64_table.h"
#include "number.h"

#define K_MIN (-324)

/* A fixed-point number: w2 is the integer part, w1:w0 the fraction in units of 2^-128. */
typedef struct fixed {
  uint64_t w2, w1, w0;
} fixed;

static inline uint64_t mul_64(uint64_t a, uint64_t b, uint64_t *hi) {
#ifdef __SIZEOF_INT128__
  __extension__ typedef unsigned __int128 u128;
  u128 p = (u128)a * b;
  *hi = (uint64_t)(p >> 64);
  return (uint64_t)p;
#else
  uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
  uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;
  *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  return (mid << 32) | (uint32_t)ll;
#endif
}

/* g * x / 2^128, exactly, for the 127-bit g and x < 2^61. */
static inline fixed scale(const uint64_t g[2], uint64_t x) {
  uint64_t lo_hi, hi_hi;
  uint64_t lo_lo = mul_64(g[1], x, &lo_hi);
  uint64_t hi_lo = mul_64(g[0], x, &hi_hi);
  fixed f;
  f.w0 = lo_lo;
  f.w1 = lo_hi + hi_lo;
  f.w2 = hi_hi + (f.w1 < lo_hi);
  return f;
}

static inline fixed fixed_add(fixed a, fixed b) {
  fixed s;
  s.w0 = a.w0 + b.w0;
  uint64_t c0 = s.w0 < a.w0;
  s.w1 = a.w1 + b.w1;
  uint64_t c1 = s.w1 < a.w1;
  s.w1 += c0;
  c1 += s.w1 < c0;
  s.w2 = a.w2 + b.w2 + c1;
  return s;
}

static inline fixed fixed_sub(fixed a, fixed b) {
  fixed d;
  d.w0 = a.w0 - b.w0;
  uint64_t b0 = a.w0 < b.w0;
  d.w1 = a.w1 - b.w1;
  uint64_t b1 = a.w1 < b.w1;
  b1 += d.w1 < b0;
  d.w1 -= b0;
  d.w2 = a.w2 - b.w2 - b1;
  return d;
}

/* ---------------------------------------------------------------------------------------- */
/* Exact comparison, for the values the approximation cannot settle (and for the tests). */

enum { BIG_LIMBS = 72 }; /* 2304 bits: 128 + 1100 + 400 * log2(5) fit */

typedef struct big {
  uint32_t d[BIG_LIMBS]; /* little-endian limbs */
  int n;                 /* limbs in use; no leading zero limb */
} big;

static void big_set(big *b, uint64_t hi, uint64_t lo) {
  b->d[0] = (uint32_t)lo;
  b->d[1] = (uint32_t)(lo >> 32);
  b->d[2] = (uint32_t)hi;
  b->d[3] = (uint32_t)(hi >> 32);
  b->n = 4;
  while (b->n > 0 && b->d[b->n - 1] == 0)
    b->n--;
}

static void big_mul_small(big *b, uint32_t m) {
  uint64_t carry = 0;
  for (int i = 0; i < b->n; i++) {
    uint64_t t = (uint64_t)b->d[i] * m + carry;
    b->d[i] = (uint32_t)t;
    carry = t >> 32;
  }
  if (carry)
    b->d[b->n++] = (uint32_t)carry;
}

static void big_mul_pow5(big *b, int e) {
  for (; e >= 13; e -= 13)
    big_mul_small(b, 1220703125u); /* 5^13, the largest power of five below 2^32 */
  uint32_t m = 1;
  while (e-- > 0)
    m *= 5;
  big_mul_small(b, m);
}

static void big_shl(big *b, int s) {
  if (b->n == 0)
    return;
  int limbs = s / 32, bits = s % 32;
  if (bits) {
    uint32_t carry = 0;
    for (int i = 0; i < b->n; i++) {
      uint32_t t = b->d[i];
      b->d[i] = (t << bits) | carry;
      carry = t >> (32 - bits);
    }
    if (carry)
      b->d[b->n++] = carry;
  }
  if (limbs) {
    memmove(b->d + limbs, b->d, (size_t)b->n * sizeof b->d[0]);
    memset(b->d, 0, (size_t)limbs * sizeof b->d[0]);
    b->n += limbs;
  }
}

static int big_cmp(const big *a, const big *b) {
  if (a->n != b->n)
    return a->n < b->n ? -1 : 1;
  for (int i = a->n - 1; i >= 0; i--)
    if (a->d[i] != b->d[i])
      return a->d[i] < b->d[i] ? -1 : 1;
  return 0;
}

int trace__f64_scaled_cmp(uint64_t x_hi, uint64_t x_lo, int p2, int p5, uint64_t y_hi,
                          uint64_t y_lo) {
  /* Negative powers move to the other side, so both sides are integers. */
  big x, y;
  big_set(&x, x_hi, x_lo);
  big_set(&y, y_hi, y_lo);
  if (p5 >= 0)
    big_mul_pow5(&x, p5);
  else
    big_mul_pow5(&y, -p5);
  if (p2 >= 0)
    big_shl(&x, p2);
  else
    big_shl(&y, -p2);
  return big_cmp(&x, &y);
}

void trace__f64_pow10_entry(int k, uint64_t *hi, uint64_t *lo) {
  *hi = f64_pow10[k - K_MIN][0];
  *lo = f64_pow10[k - K_MIN][1];
}

/* ---------------------------------------------------------------------------------------- */

bool trace__f64_is_integer(uint64_t cp, int q, int k) {
  if (k > 0) {
    /* The power of two is then at least 2^2 (10^k <= 2^q), so only the fives matter; c' < 2^56 <
     * 5^24 cannot hold more than 23 of them. */
    uint64_t p = 1;
    if (k > 23)
      return false;
    for (int i = 0; i < k; i++)
      p *= 5;
    return cp % p == 0;
  }
  int twos = k - q; /* the twos c' must supply; 10^-k contributes the fives */
  return twos <= 0 || (twos < 64 && (cp & ((UINT64_C(1) << twos) - 1)) == 0);
}

/* settle() when the fraction is too small to tell (or the tests ask for exactness): rare. */
static TRACE__NOINLINE uint64_t settle_slow(fixed x, uint64_t cp, int q, int k, unsigned flags) {
  if (!(flags & TRACE__F64_EXACT)) {
    if (trace__f64_is_integer(cp, q, k))
      return x.w2;
  } else if (trace__f64_scaled_cmp(0, cp, q - k, -k, 0, x.w2) == 0) {
    return x.w2;
  }
  /* Not an integer, and within 2^-64 above x.w2 or just below it: decide which, exactly. */
  return (trace__f64_scaled_cmp(0, cp, q - k, -k, 0, x.w2) < 0 ? x.w2 - 1 : x.w2) | 1;
}

/* The integer part of x, with the lowest bit set if x has a fraction, where x approximates
 * c' * 2^q * 10^-k from above by less than 2^-68. */
static TRACE__INLINE uint64_t settle(fixed x, uint64_t cp, int q, int k, unsigned flags) {
  if (TRACE__LIKELY(x.w1 != 0 && !(flags & TRACE__F64_EXACT)))
    return x.w2 | 1;
  return settle_slow(x, cp, q, k, flags);
}

trace__f64_decimal trace__f64_to_decimal(double v, unsigned flags) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
  int e = (int)(bits >> 52) & 0x7FF;
  uint64_t c = e ? m | UINT64_C(1) << 52 : m;
  int q = e ? e - 1075 : -1074;
  /* Below a power of two the next double down is half an ulp away. Rust takes the narrow interval
   * for every normal power of two, ryu not for the smallest normal one (whose neighbour below, the
   * largest subnormal, is a whole ulp away); both read back right. */
  bool narrow = m == 0 && e > ((flags & TRACE__F64_RYU) ? 1 : 0);
  int k = narrow ? trace__f64_floor_log10_three_quarters_pow2(q) : trace__f64_floor_log10_pow2(q);
  int h = q + trace__f64_floor_log2_pow10(-k) + 2; /* 2..5: g(k) * 2^h / 2^128 = 10^-k * 2^q */
  const uint64_t *g = f64_pow10[k - K_MIN];

  /* 4v, and the lower and upper ends of its interval times 4, divided by 10^k. */
  uint64_t cb = c << 2, cbl = cb - 2 + narrow, cbr = cb + 2;
  fixed vb = scale(g, cb << h);
  fixed dr; /* g * 2^(h+1) / 2^128: the distance to the upper end (h + 1 <= 6) */
  dr.w0 = g[1] << (h + 1);
  dr.w1 = g[0] << (h + 1) | g[1] >> (63 - h);
  dr.w2 = g[0] >> (63 - h);
  fixed dl = dr; /* the distance to the lower end: half of that below a power of two */
  if (narrow) {
    dl.w0 = dr.w0 >> 1 | dr.w1 << 63;
    dl.w1 = dr.w1 >> 1 | dr.w2 << 63;
    dl.w2 = dr.w2 >> 1;
  }
  uint64_t rb = settle(vb, cb, q, k, flags);
  uint64_t rl = settle(fixed_sub(vb, dl), cbl, q, k, flags);
  uint64_t rr = settle(fixed_add(vb, dr), cbr, q, k, flags);

  /* An odd c excludes the ends: "lower end <= x" becomes "lower end + 1 <= x" on these even x. */
  uint64_t out = c & 1;
  uint64_t s = rb >> 2; /* floor(v / 10^k) */
  uint64_t s10 = s / 10;
  uint64_t below = s10 * 10, above = below + 10; /* the multiples of 10^(k+1) around v */
  bool below_in = rl + out <= below << 2, above_in = (above << 2) + out <= rr;
  trace__f64_decimal d;
  if (below_in != above_in) { /* never both: the interval is narrower than 10^(k+1) */
    d.digits = below_in ? s10 : s10 + 1;
    d.exp10 = k + 1;
    return d;
  }
  uint64_t t = s + 1;
  bool s_in = rl + out <= s << 2, t_in = (t << 2) + out <= rr;
  d.exp10 = k;
  if (s_in != t_in) { /* at least one: the interval is at least 10^k wide */
    d.digits = s_in ? s : t;
    return d;
  }
  uint64_t mid = (s << 2) + 2; /* 4 * (s + 1/2) */
  if (rb != mid)
    d.digits = rb < mid ? s : t;
  else /* v is exactly halfway */
    d.digits = (flags & TRACE__F64_RYU) && (s & 1) == 0 ? s : t;
  return d;
}

/* ---------------------------------------------------------------------------------------- */
/* Layout, as Rust's {:?} writes a double (and the ryu crate, for JSON).
 *
 * The digits stay in registers from the first to the last step, and the text is put together
 * with stores only: reading back bytes just stored in pieces of other sizes (to count zeros, or
 * to move the digits after the point) stalls the processor for longer than the rest takes. */

/* The 8 decimal digits of v < 10^8 as the bytes of a word, the first digit in the lowest byte
 * (values 0 to 9, not yet characters). The two halves of four digits, then the four pairs, then
 * the eight digits, each in lanes of one word, divided by 100 and by 10 with a multiplication
 * and a shift (exact below 43699 and 179: these are below 10000 and 100) that no lane carries
 * out of. */
static TRACE__INLINE uint64_t digits8(uint32_t v) {
  uint64_t halves = (v / 10000) | (uint64_t)(v % 10000) << 32; /* 2 x 32 bits */
  uint64_t hundreds = ((halves * 5243) >> 19) & UINT64_C(0x000000FF000000FF);
  uint64_t pairs = hundreds | (halves - hundreds * 100) << 16; /* 4 x 16 bits */
  uint64_t tens = ((pairs * 103) >> 10) & UINT64_C(0x000F000F000F000F);
  return tens | (pairs - tens * 10) << 8; /* 8 x 8 bits */
}

/* Stores 8 characters, the one in the lowest byte of w first. */
static TRACE__INLINE void store8(char *p, uint64_t w) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  memcpy(p, &w, 8);
}

#define ZEROS8 UINT64_C(0x3030303030303030) /* "00000000" */

/* How many of the digits in w (as from digits8) are zeros at its end: 8 when w is 0. */
static TRACE__INLINE int zeros_at_end(uint64_t w) { return w ? __builtin_clzll(w) / 8 : 8; }

/* The text is written with fixed-size stores that may run past its end: the room it needs. */
enum { F64_TEXT_ROOM = TRACE__F64_TEXT_ROOM };

/* Writes the text of a finite, positive v that is not an integer below 1e16 into p (which has
 * F64_TEXT_ROOM bytes); returns its length. Rust writes d.ddde<exp> outside [1e-4, 1e16), ryu
 * outside [1e-5, 1e16), plain decimals inside, with ".0" after an integer. */
static size_t f64_digits_text(char *p, double v, unsigned flags) {
  trace__f64_decimal d = trace__f64_to_decimal(v, flags);
  /* Scaled to exactly 17 digits, so the first one is always in the same place. Normal doubles
   * have 15 to 17 (the interval is about 10^k wide); only subnormals have fewer. */
  uint64_t x = d.digits;
  int e = d.exp10 + 16; /* the exponent of the first digit, once x has 17 */
  if (TRACE__LIKELY(x >= UINT64_C(100000000000000))) {
    static const uint64_t pow10_up[3] = {1, 10, 100}; /* a load, not two branches */
    int up = (x < UINT64_C(10000000000000000)) + (x < UINT64_C(1000000000000000));
    x *= pow10_up[up];
    e -= up;
  } else {
    for (; x < UINT64_C(10000000000000000); x *= 10)
      e--;
  }
  char top = (char)('0' + x / UINT64_C(10000000000000000));
  uint64_t rest = x % UINT64_C(10000000000000000);
  uint64_t a = digits8((uint32_t)(rest / 100000000)), b = digits8((uint32_t)(rest % 100000000));
  int zeros = zeros_at_end(b);
  zeros += zeros == 8 ? zeros_at_end(a) : 0;
  int n = 17 - zeros; /* significant digits */
  a += ZEROS8;
  b += ZEROS8;
  char *start = p;
  if (e < ((flags & TRACE__F64_RYU) ? -5 : -4) || e >= 16) {
    p[0] = top;
    p[1] = '.';
    store8(p + 2, a);
    store8(p + 10, b);
    p += n > 1 ? n + 1 : 1;
    *p++ = 'e';
    if (e < 0) {
      *p++ = '-';
      e = -e;
    }
    p += trace__u64_dec(p, (uint64_t)e);
  } else if (e < 0) {
    store8(p, ZEROS8);
    p[1] = '.'; /* "0.000000": "0." and up to five zeros */
    p += 1 - e;
    *p = top;
    store8(p + 1, a);
    store8(p + 9, b);
    p += n;
  } else if (n <= e + 1) { /* an integer (not one below 1e16: those never come here) */
    *p = top;
    store8(p + 1, a);
    store8(p + 9, b);
    store8(p + n, ZEROS8);
    store8(p + n + 8, ZEROS8);
    memcpy(p + e + 1, ".0", 2);
    p += e + 3;
  } else {
    /* The digits up to the point, the point, and the rest: digits e + 1 on, the 16 bytes of a
     * and b shifted down by e bytes. */
    *p = top;
    store8(p + 1, a);
    store8(p + 9, b);
    p[e + 1] = '.';
    uint64_t lo = a, hi = b;
    if (e >= 8) {
      lo = b >> (8 * (e - 8));
      hi = 0;
    } else if (e > 0) {
      lo = a >> (8 * e) | b << (64 - 8 * e);
      hi = b >> (8 * e);
    }
    store8(p + e + 2, lo);
    store8(p + e + 10, hi);
    p += n + 1;
  }
  return (size_t)(p - start);
}

size_t trace__f64_text(char *p, double v, bool json) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (TRACE__UNLIKELY(((bits >> 52) & 0x7FF) == 0x7FF)) {
    const char *s = json                                      ? "null"
                    : (bits & ((UINT64_C(1) << 52) - 1)) != 0 ? "NaN"
                    : (bits >> 63)                            ? "-inf"
                                                              : "inf";
    size_t n = strlen(s);
    memcpy(p, s, n);
    return n;
  }
  size_t sign = bits >> 63;
  *p = '-';
  bits &= ~(UINT64_C(1) << 63);
  memcpy(&v, &bits, sizeof v);
  if (bits == 0) {
    memcpy(p + sign, "0.0", 3);
    return sign + 3;
  }
  /* Integers below 1e16 are common, and their shortest form is all their digits. */
  if (v < 1e16 && v == (double)(int64_t)v) {
    size_t n = trace__u64_dec(p + sign, (uint64_t)v);
    memcpy(p + sign + n, ".0", 2);
    return sign + n + 2;
  }
  return sign + f64_digits_text(p + sign, v, json ? TRACE__F64_RYU : 0);
}

void trace__buf_f64(trace__buf *b, double v, bool json) {
  if (TRACE__LIKELY(trace__buf_room(b, F64_TEXT_ROOM) == F64_TEXT_ROOM)) {
    b->len += trace__f64_text(b->data + b->len, v, json); /* straight into the buffer */
    return;
  }
  char tmp[F64_TEXT_ROOM];
  trace__buf_put(b, tmp, trace__f64_text(tmp, v, json));
}
