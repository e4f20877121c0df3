/* The output of the printf conversions that need more than a few lines: integers with their
 * flags, grouped digits, floating point, wide characters. Every width, precision and padding is
 * written through trace__buf_fill and friends, which take only what the buffer has room for. */
#include "printf_put.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "number.h"

/* ---- integers ---- */

/* prefix, zeros and digits laid out in a field of sp's width: padded with spaces on the left
 * (or right, for '-'), or with zeros after the prefix for '0' without a precision. */
static void put_number_field(trace__buf *b, const spec *sp, const char *prefix, size_t np,
                             size_t zeros, const char *digits, size_t nd) {
  size_t body = np + zeros + nd;
  if (sp->zero && !sp->left && sp->precision < 0 && sp->width > 0 && (size_t)sp->width > body) {
    zeros += (size_t)sp->width - body;
    body = (size_t)sp->width;
  }
  if (!sp->left)
    pad(b, sp->width, body);
  put_raw(b, prefix, np);
  trace__buf_fill(b, '0', zeros);
  put_raw(b, digits, nd);
  if (sp->left)
    pad(b, sp->width, body);
}

static const char *sign_prefix(const spec *sp, bool negative) {
  return negative ? "-" : sp->plus ? "+" : sp->space ? " " : "";
}

void trace__printf_put_integer(trace__buf *b, const spec *sp, uint64_t mag, bool negative) {
  char digits[32];
  size_t nd = 0;
  const char *prefix = "";
  if (sp->conv == 'x' || sp->conv == 'X' || sp->conv == 'o') {
    const char *hex = sp->conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    unsigned shift = sp->conv == 'o' ? 3 : 4;
    unsigned mask = sp->conv == 'o' ? 7 : 15;
    char tmp[32];
    size_t n = 0;
    uint64_t v = mag;
    do {
      tmp[n++] = hex[v & mask];
      v >>= shift;
    } while (v);
    for (size_t i = 0; i < n; i++)
      digits[i] = tmp[n - 1 - i];
    nd = n;
    if (sp->alt && mag != 0 && sp->conv != 'o')
      prefix = sp->conv == 'X' ? "0X" : "0x";
  } else {
    nd = trace__u64_dec(digits, mag);
    prefix = sign_prefix(sp, negative);
  }
  if (sp->precision == 0 && mag == 0)
    nd = 0; /* "%.0d" of 0 prints nothing */
  size_t zeros = 0;
  if (sp->precision > 0 && (size_t)sp->precision > nd)
    zeros = (size_t)sp->precision - nd;
  if (sp->conv == 'o' && sp->alt && zeros == 0 && (nd == 0 || digits[0] != '0'))
    zeros = 1;
  put_number_field(b, sp, prefix, strlen(prefix), zeros, digits, nd);
}

/* %'d and %'u: the digits grouped by the C library, as the locale says (the format is a
 * constant: only the magnitude is passed); sign, precision and width laid out here, so that no
 * width or precision ever reaches snprintf. */
void trace__printf_put_grouped(trace__buf *b, const spec *sp, uint64_t mag, bool negative) {
  char digits[64];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat" /* ' is POSIX, not ISO C */
  int n = snprintf(digits, sizeof digits, "%'llu", (unsigned long long)mag);
#pragma GCC diagnostic pop
  size_t nd = n > 0 ? TRACE__MIN((size_t)n, sizeof digits - 1) : 0;
  if (sp->precision == 0 && mag == 0)
    nd = 0;
  size_t zeros = sp->precision > 0 && (size_t)sp->precision > nd ? (size_t)sp->precision - nd : 0;
  const char *prefix = sign_prefix(sp, negative);
  put_number_field(b, sp, prefix, strlen(prefix), zeros, digits, nd);
}

/* ---- floating point ---- */

/* A binary fraction with k bits after the point has exactly k decimal digits after it, so past
 * MANT_DIG - MIN_EXP digits (the smallest subnormal's) every digit of a value of the type is 0.
 * A precision above that is formatted at this one and the rest written as zeros: the same text,
 * without asking snprintf for a billion digits (26 s and 5 GB for %.999999999f in glibc). The
 * same bound also covers %e and %g (at most 767 significant digits for a double, and more than
 * the largest exponent) and %a (16 hex digits at most). */
#define DBL_EXACT_DIGITS (DBL_MANT_DIG - DBL_MIN_EXP + 2)
#define LDBL_EXACT_DIGITS (LDBL_MANT_DIG - LDBL_MIN_EXP + 2)

void trace__printf_put_float(trace__buf *b, const spec *sp, const arg *a) {
  bool ld = a->type == TRACE__ARG_LDOUBLE;
  bool finite = ld ? isfinite(a->as.ld) : isfinite(a->as.d);
  int exact = ld ? LDBL_EXACT_DIGITS : DBL_EXACT_DIGITS;
  int precision = sp->precision;
  size_t zeros = 0; /* digits past the exact ones, all 0 */
  if (precision > exact) {
    char c = sp->conv;
    /* %g drops trailing zeros unless '#' */
    if (finite && (sp->alt || (c != 'g' && c != 'G')))
      zeros = (size_t)(precision - exact);
    precision = exact;
  }
  /* The format from fixed pieces: flags that change the digits, the precision as an argument. */
  char f[16];
  size_t fl = 0;
  f[fl++] = '%';
  if (sp->plus)
    f[fl++] = '+';
  if (sp->space)
    f[fl++] = ' ';
  if (sp->alt)
    f[fl++] = '#';
  if (sp->group)
    f[fl++] = '\'';
  f[fl++] = '.';
  f[fl++] = '*';
  if (ld)
    f[fl++] = 'L';
  f[fl++] = sp->conv; /* one of fFeEgGaA: the caller checked */
  f[fl] = '\0';
  char small[512], *text = small;
  int n;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  n = ld ? snprintf(small, sizeof small, f, precision, a->as.ld)
         : snprintf(small, sizeof small, f, precision, a->as.d);
  if (n >= (int)sizeof small) {
    /* At most a few dozen KiB (a long double's 4933 integer digits and its exact digits). */
    char *big = trace__malloc((size_t)n + 1);
    if (big) {
      text = big;
      n = ld ? snprintf(big, (size_t)n + 1, f, precision, a->as.ld)
             : snprintf(big, (size_t)n + 1, f, precision, a->as.d);
    } else {
      n = (int)sizeof small - 1; /* out of memory: what we have, marked as cut */
      b->truncated = true;
    }
  }
#pragma GCC diagnostic pop
  if (n < 0)
    n = 0;
  size_t len = (size_t)n;
  /* The extra zeros go before the exponent ("1.000e+00"; hex digits may be 'e', so %a looks
   * for the 'p'). */
  size_t at = len;
  if (zeros) {
    const char *exp_chars = sp->conv == 'a' || sp->conv == 'A' ? "pP" : "eE";
    at = strcspn(text, exp_chars);
  }
  /* Zero padding goes after the sign and a hex prefix; infinities and NaN pad with spaces. */
  size_t np = 0;
  if (len && (text[0] == '-' || text[0] == '+' || text[0] == ' '))
    np = 1;
  if ((sp->conv == 'a' || sp->conv == 'A') && len >= np + 2 && text[np] == '0')
    np += 2;
  size_t body = len + zeros;
  size_t fill = sp->width > 0 && (size_t)sp->width > body ? (size_t)sp->width - body : 0;
  bool zero_pad = sp->zero && !sp->left && finite;
  if (!sp->left && !zero_pad)
    trace__buf_fill(b, ' ', fill);
  put_raw(b, text, np);
  if (zero_pad)
    trace__buf_fill(b, '0', fill);
  put_raw(b, text + np, at - np);
  trace__buf_fill(b, '0', zeros);
  put_raw(b, text + at, len - at);
  if (sp->left)
    trace__buf_fill(b, ' ', fill);
  if (text != small)
    trace__free(text);
}

/* ---- wide characters ---- */

/* The UTF-8 form of a code point; U+FFFD for what is not one (a surrogate, past U+10FFFF). */
static size_t utf8_of(uint32_t c, char *out) {
  if (c >= 0xD800 && (c <= 0xDFFF || c > 0x10FFFF))
    c = 0xFFFD;
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | c >> 6);
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | c >> 12);
    out[1] = (char)(0x80 | (c >> 6 & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | c >> 18);
  out[1] = (char)(0x80 | (c >> 12 & 0x3F));
  out[2] = (char)(0x80 | (c >> 6 & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

/* %ls: the precision counts bytes of output, and no character is cut. Converted in pieces that
 * end on a character, so that escaping sees whole sequences. */
void trace__printf_put_wide_string(trace__buf *b, const spec *sp, const wchar_t *ws,
                            trace__escape_mode mode, bool escape) {
  if (!ws)
    ws = L"(null)";
  size_t max = sp->precision >= 0 ? (size_t)sp->precision : SIZE_MAX;
  size_t total = 0, count = 0;
  char u[4];
  if (sp->width > 0) { /* the length first, for the padding */
    for (; ws[count]; count++) {
      size_t n = utf8_of((uint32_t)ws[count], u);
      if (total + n > max)
        break;
      total += n;
    }
    if (!sp->left)
      pad(b, sp->width, total);
  }
  char piece[256];
  size_t used = 0, written = 0;
  for (size_t i = 0; ws[i]; i++) {
    size_t n = utf8_of((uint32_t)ws[i], u);
    if (written + n > max)
      break;
    if (used + n > sizeof piece) {
      put_text(b, piece, used, mode, escape);
      used = 0;
    }
    memcpy(piece + used, u, n);
    used += n;
    written += n;
  }
  put_text(b, piece, used, mode, escape);
  if (sp->width > 0 && sp->left)
    pad(b, sp->width, total);
}

/* %lc: a string of one character (a NUL is written as %c writes it). */
void trace__printf_put_wide_char(trace__buf *b, spec *sp, wint_t wc, trace__escape_mode mode,
                          bool escape) {
  if (wc == 0) {
    if (!sp->left)
      pad(b, sp->width, 1);
    put_text(b, "", 1, mode, escape);
    if (sp->left)
      pad(b, sp->width, 1);
    return;
  }
  const wchar_t ws[2] = {(wchar_t)wc, 0};
  sp->precision = -1; /* a precision does not apply to %lc */
  trace__printf_put_wide_string(b, sp, ws, mode, escape);
}

