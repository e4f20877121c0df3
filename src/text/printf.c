#include "printf.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "../common/alloc.h"
#include "number.h"

enum { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_J, LEN_Z, LEN_T, LEN_BIGL };

typedef trace__fmt_spec spec;
typedef trace__printf_arg arg;

/* Pieces of a conversion are often empty (no sign, no digits): a buffer without storage yet
 * (growable, NULL data) must then see no pointer formed into it. */
static inline void put_raw(trace__buf *b, const char *s, size_t n) {
  if (n)
    trace__buf_put(b, s, n);
}

static inline void put_text(trace__buf *b, const char *s, size_t n, trace__escape_mode mode,
                            bool escape) {
  if (escape)
    trace__escape(b, s, n, mode);
  else
    put_raw(b, s, n);
}

/* Padding to a width: trace__buf_fill writes only what the buffer has room for and counts the
 * rest, so a width of INT_MAX costs what the buffer can take, not two gigabytes. */
static void pad(trace__buf *b, int width, size_t used) {
  if (width > 0 && (size_t)width > used)
    trace__buf_fill(b, ' ', (size_t)width - used);
}

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

static void put_integer(trace__buf *b, const spec *sp, uint64_t mag, bool negative) {
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
static void put_grouped(trace__buf *b, const spec *sp, uint64_t mag, bool negative) {
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

static void put_float(trace__buf *b, const spec *sp, const arg *a) {
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
static void put_wide_string(trace__buf *b, const spec *sp, const wchar_t *ws,
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
static void put_wide_char(trace__buf *b, spec *sp, wint_t wc, trace__escape_mode mode,
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
  put_wide_string(b, sp, ws, mode, escape);
}

/* ---- one conversion from its value ---- */

static trace__arg_type arg_type_of(const spec *sp) {
  switch (sp->conv) {
  case 'd':
  case 'i':
    switch (sp->length) {
    case LEN_L: return TRACE__ARG_LONG;
    case LEN_LL:
    case LEN_BIGL: return TRACE__ARG_LLONG; /* %Ld is long long in glibc */
    case LEN_J: return TRACE__ARG_INTMAX;
    case LEN_Z:
    case LEN_T: return TRACE__ARG_PTRDIFF;
    default: return TRACE__ARG_INT;
    }
  case 'u':
  case 'x':
  case 'X':
  case 'o':
    switch (sp->length) {
    case LEN_L: return TRACE__ARG_ULONG;
    case LEN_LL:
    case LEN_BIGL: return TRACE__ARG_ULLONG;
    case LEN_J: return TRACE__ARG_UINTMAX;
    case LEN_Z: return TRACE__ARG_SIZE;
    case LEN_T: return TRACE__ARG_PTRDIFF;
    default: return TRACE__ARG_UINT;
    }
  case 'c': return sp->length == LEN_L ? TRACE__ARG_WINT : TRACE__ARG_INT;
  case 's':
  case 'p':
  case 'n': return TRACE__ARG_PTR;
  case 'f':
  case 'F':
  case 'e':
  case 'E':
  case 'g':
  case 'G':
  case 'a':
  case 'A':
    /* glibc reads both L and ll as long double here */
    return sp->length == LEN_BIGL || sp->length == LEN_LL ? TRACE__ARG_LDOUBLE : TRACE__ARG_DOUBLE;
  default: return TRACE__ARG_NONE; /* %% %m and unknown conversions take nothing */
  }
}

static void fetch(arg *a, va_list *ap) {
  switch (a->type) {
  case TRACE__ARG_INT: a->as.bits = (uint64_t)(int64_t)va_arg(*ap, int); break;
  case TRACE__ARG_UINT: a->as.bits = va_arg(*ap, unsigned); break;
  case TRACE__ARG_LONG: a->as.bits = (uint64_t)(int64_t)va_arg(*ap, long); break;
  case TRACE__ARG_ULONG: a->as.bits = va_arg(*ap, unsigned long); break;
  case TRACE__ARG_LLONG: a->as.bits = (uint64_t)(int64_t)va_arg(*ap, long long); break;
  case TRACE__ARG_ULLONG: a->as.bits = va_arg(*ap, unsigned long long); break;
  case TRACE__ARG_INTMAX: a->as.bits = (uint64_t)(int64_t)va_arg(*ap, intmax_t); break;
  case TRACE__ARG_UINTMAX: a->as.bits = (uint64_t)va_arg(*ap, uintmax_t); break;
  case TRACE__ARG_SIZE: a->as.bits = va_arg(*ap, size_t); break;
  case TRACE__ARG_PTRDIFF: a->as.bits = (uint64_t)(int64_t)va_arg(*ap, ptrdiff_t); break;
  case TRACE__ARG_WINT: a->as.bits = va_arg(*ap, wint_t); break;
  case TRACE__ARG_DOUBLE: a->as.d = va_arg(*ap, double); break;
  case TRACE__ARG_LDOUBLE: a->as.ld = va_arg(*ap, long double); break;
  case TRACE__ARG_PTR: a->as.ptr = va_arg(*ap, const void *); break;
  default: a->as.bits = 0; break;
  }
}

static int64_t signed_value(const spec *sp, uint64_t bits) {
  switch (sp->length) {
  case LEN_HH: return (signed char)bits;
  case LEN_H: return (short)bits;
  case LEN_NONE: return (int)bits;
  case LEN_L: return (long)bits;
  default: return (int64_t)bits;
  }
}

static uint64_t unsigned_value(const spec *sp, uint64_t bits) {
  switch (sp->length) {
  case LEN_HH: return (unsigned char)bits;
  case LEN_H: return (unsigned short)bits;
  case LEN_NONE: return (unsigned)bits;
  case LEN_L: return (unsigned long)bits;
  default: return bits;
  }
}

static void set_width(spec *sp, int w) {
  if (w < 0) {
    sp->left = true;
    w = w == INT_MIN ? INT_MAX : -w;
  }
  sp->width = w;
}

static void set_precision(spec *sp, int p) { sp->precision = p < 0 ? -1 : p; }

/* One conversion whose '*' width and precision are resolved, from its value. */
static void format_value(trace__buf *b, spec *sp, const arg *a, trace__escape_mode mode,
                         bool escape, int errno_value) {
  switch (sp->conv) {
  case 'd':
  case 'i': {
    int64_t v = signed_value(sp, a->as.bits);
    if (!sp->group && sp->width < 0 && sp->precision < 0 && !sp->plus && !sp->space) {
      trace__buf_i64(b, v); /* the common case */
      break;
    }
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (sp->group)
      put_grouped(b, sp, mag, v < 0);
    else
      put_integer(b, sp, mag, v < 0);
    break;
  }
  case 'u':
  case 'x':
  case 'X':
  case 'o': {
    uint64_t v = unsigned_value(sp, a->as.bits);
    if (sp->conv == 'u' && !sp->group && sp->width < 0 && sp->precision < 0) {
      trace__buf_u64(b, v);
      break;
    }
    if (sp->group && sp->conv == 'u')
      put_grouped(b, sp, v, false);
    else
      put_integer(b, sp, v, false);
    break;
  }
  case 'c':
    if (sp->length == LEN_L) {
      put_wide_char(b, sp, (wint_t)a->as.bits, mode, escape);
    } else {
      char c = (char)a->as.bits;
      if (!sp->left)
        pad(b, sp->width, 1);
      put_text(b, &c, 1, mode, escape);
      if (sp->left)
        pad(b, sp->width, 1);
    }
    break;
  case 's':
    if (sp->length == LEN_L) {
      put_wide_string(b, sp, a->as.ptr, mode, escape);
    } else {
      const char *s = a->as.ptr;
      if (!s)
        s = "(null)";
      size_t n = sp->precision >= 0 ? strnlen(s, (size_t)sp->precision) : strlen(s);
      if (!sp->left)
        pad(b, sp->width, n);
      put_text(b, s, n, mode, escape);
      if (sp->left)
        pad(b, sp->width, n);
    }
    break;
  case 'p':
    if (!a->as.ptr) {
      if (!sp->left)
        pad(b, sp->width, 5);
      trace__buf_put(b, "(nil)", 5);
      if (sp->left)
        pad(b, sp->width, 5);
    } else {
      sp->conv = 'x';
      sp->alt = true;
      put_integer(b, sp, (uint64_t)(uintptr_t)a->as.ptr, false);
    }
    break;
  case 'f':
  case 'F':
  case 'e':
  case 'E':
  case 'g':
  case 'G':
  case 'a':
  case 'A':
    put_float(b, sp, a);
    break;
  case '%':
    trace__buf_putc(b, '%'); /* "%5%": flags and width are ignored, as glibc does */
    break;
  case 'n':
    break; /* never written: %n in a log format is an attack, not a need */
  case 'm': {
    const char *s = strerror(errno_value);
    put_text(b, s, strlen(s), mode, escape);
    break;
  }
  default:
    break; /* unknown conversions are printed by the callers, as written */
  }
}

void trace__printf_conv(trace__buf *b, const spec *in, va_list *ap, trace__escape_mode mode,
                        bool escape, int errno_value) {
  spec sp = *in;
  if (sp.width_arg)
    set_width(&sp, va_arg(*ap, int));
  if (sp.precision_arg)
    set_precision(&sp, va_arg(*ap, int));
  arg a;
  a.type = (uint8_t)arg_type_of(&sp);
  fetch(&a, ap);
  format_value(b, &sp, &a, mode, escape, errno_value);
}

/* ---- parsing ---- */

/* Where a conversion takes its arguments from in a positional format (%2$*1$.*3$d): 1-based
 * argument numbers, 0 where none was written. A number that is no argument (0, or past the
 * maximum) is kept as UINT_MAX, so that the conversion prints as written. */
typedef struct positions {
  unsigned value, width, precision;
} positions;

static const char *parse_number(const char *p, const char *end, int *out) {
  long v = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    if (v < 100000000)
      v = v * 10 + (*p - '0');
    p++;
  }
  *out = (int)v;
  return p;
}

/* "<digits>$" at p: sets *pos and returns the end, or returns p (and *pos 0) if there is none. */
static const char *parse_position(const char *p, const char *end, unsigned *pos) {
  const char *q = p;
  unsigned v = 0;
  while (q < end && *q >= '0' && *q <= '9') {
    if (v <= TRACE__PRINTF_ARGS_MAX)
      v = v * 10 + (unsigned)(*q - '0');
    q++;
  }
  if (q == p || q >= end || *q != '$') {
    *pos = 0;
    return p;
  }
  *pos = v >= 1 && v <= TRACE__PRINTF_ARGS_MAX ? v : UINT_MAX;
  return q + 1;
}

static const char *parse_conv(const char *p, const char *end, spec *sp, positions *pos) {
  sp->left = sp->plus = sp->space = sp->alt = sp->zero = sp->group = false;
  sp->width_arg = sp->precision_arg = false;
  sp->width = sp->precision = -1;
  sp->length = LEN_NONE;
  sp->conv = 0;
  p = parse_position(p, end, &pos->value);
  pos->width = pos->precision = 0;
  for (; p < end; p++) {
    if (*p == '-')
      sp->left = true;
    else if (*p == '+')
      sp->plus = true;
    else if (*p == ' ')
      sp->space = true;
    else if (*p == '#')
      sp->alt = true;
    else if (*p == '0')
      sp->zero = true;
    else if (*p == '\'')
      sp->group = true;
    else
      break;
  }
  if (p < end && *p == '*') {
    sp->width_arg = true;
    p = parse_position(p + 1, end, &pos->width);
  } else if (p < end && *p >= '1' && *p <= '9') {
    p = parse_number(p, end, &sp->width);
  }
  if (p < end && *p == '.') {
    p++;
    if (p < end && *p == '*') {
      sp->precision_arg = true;
      p = parse_position(p + 1, end, &pos->precision);
    } else {
      p = parse_number(p, end, &sp->precision);
    }
  }
  if (p < end) {
    switch (*p) {
    case 'h':
      sp->length = p + 1 < end && p[1] == 'h' ? LEN_HH : LEN_H;
      p += sp->length == LEN_HH ? 2 : 1;
      break;
    case 'l':
      sp->length = p + 1 < end && p[1] == 'l' ? LEN_LL : LEN_L;
      p += sp->length == LEN_LL ? 2 : 1;
      break;
    case 'q': sp->length = LEN_LL; p++; break;
    case 'j': sp->length = LEN_J; p++; break;
    case 'z': sp->length = LEN_Z; p++; break;
    case 't': sp->length = LEN_T; p++; break;
    case 'L': sp->length = LEN_BIGL; p++; break;
    default: break;
    }
  }
  if (p >= end)
    return NULL;
  sp->conv = *p++;
  return p;
}

static bool is_positional(const positions *pos) {
  return pos->value || pos->width || pos->precision;
}

const char *trace__printf_parse(const char *p, const char *end, spec *sp) {
  positions pos;
  const char *next = parse_conv(p, end, sp, &pos);
  return next && !is_positional(&pos) ? next : NULL;
}

static bool known_conversion(char c) { return c && strchr("diuxXocspfFeEgGaAnm%", c) != NULL; }

/* ---- whole formats ---- */

/* The format's length without the final newline that is dropped. */
static size_t format_length(const char *fmt) {
  size_t len = strlen(fmt);
  return len && fmt[len - 1] == '\n' ? len - 1 : len;
}

/* The argument numbers of one conversion, as printf counts them: a positional conversion names
 * its own; any other takes the next ones, width and precision first (a format mixing the two is
 * not C; libtrace takes the argument after the one the conversion before used). 0: none. */
typedef struct conv_args {
  unsigned width, precision, value;
} conv_args;

static void number_args(const spec *sp, const positions *pos, unsigned *next, conv_args *ca) {
  ca->width = ca->precision = ca->value = 0;
  if (!known_conversion(sp->conv))
    return; /* printed as written: takes nothing, as on the sequential path */
  if (sp->width_arg)
    ca->width = pos->width ? pos->width : (*next)++;
  if (sp->precision_arg)
    ca->precision = pos->precision ? pos->precision : (*next)++;
  if (arg_type_of(sp) != TRACE__ARG_NONE) {
    ca->value = pos->value ? pos->value : (*next)++;
    if (pos->value && pos->value != UINT_MAX)
      *next = pos->value + 1;
  }
}

static bool is_integer(uint8_t t) { return t >= TRACE__ARG_INT && t <= TRACE__ARG_WINT; }

static size_t type_size(uint8_t t) {
  static const uint8_t sizes[] = {
      [TRACE__ARG_INT] = sizeof(int),           [TRACE__ARG_UINT] = sizeof(unsigned),
      [TRACE__ARG_LONG] = sizeof(long),         [TRACE__ARG_ULONG] = sizeof(unsigned long),
      [TRACE__ARG_LLONG] = sizeof(long long),   [TRACE__ARG_ULLONG] = sizeof(unsigned long long),
      [TRACE__ARG_INTMAX] = sizeof(intmax_t),   [TRACE__ARG_UINTMAX] = sizeof(uintmax_t),
      [TRACE__ARG_SIZE] = sizeof(size_t),       [TRACE__ARG_PTRDIFF] = sizeof(ptrdiff_t),
      [TRACE__ARG_WINT] = sizeof(wint_t),
  };
  return t < TRACE__ARRAY_LEN(sizes) ? sizes[t] : 0;
}

/* Whether a value fetched as type `have` can be formatted as `want`: the same type, or integers
 * of one size (%d and %x of one argument). */
static bool compatible(uint8_t have, uint8_t want) {
  return have == want || (is_integer(have) && is_integer(want) && type_size(have) == type_size(want));
}

/* The argument numbered n (1-based) if it exists and has a type compatible with want. */
static const arg *arg_at(const arg *args, size_t nargs, unsigned n, uint8_t want) {
  if (n == 0 || n > nargs || !compatible(args[n - 1].type, want))
    return NULL;
  return &args[n - 1];
}

static void record_type(uint8_t *types, unsigned n, uint8_t t) {
  if (n >= 1 && n <= TRACE__PRINTF_ARGS_MAX && !types[n])
    types[n] = t; /* the first conversion to name an argument says how it is fetched */
}

/* types[1..]: what each argument is, from the conversions that take it. */
static void collect_types(const char *fmt, const char *end, uint8_t *types) {
  unsigned next = 1;
  for (const char *p = fmt; p < end;) {
    p = memchr(p, '%', (size_t)(end - p));
    if (!p)
      break;
    spec sp;
    positions pos;
    conv_args ca;
    p = parse_conv(p + 1, end, &sp, &pos);
    if (!p)
      break;
    number_args(&sp, &pos, &next, &ca);
    record_type(types, ca.width, TRACE__ARG_INT);
    record_type(types, ca.precision, TRACE__ARG_INT);
    if (ca.value)
      record_type(types, ca.value, (uint8_t)arg_type_of(&sp));
  }
}

static size_t fetchable(const uint8_t *types, size_t cap) {
  size_t n = 0;
  while (n < cap && n < TRACE__PRINTF_ARGS_MAX && types[n + 1])
    n++;
  return n;
}

size_t trace__printf_arg_types(const char *fmt, uint8_t *out, size_t cap) {
  uint8_t types[TRACE__PRINTF_ARGS_MAX + 1] = {0};
  collect_types(fmt, fmt + format_length(fmt), types);
  size_t n = fetchable(types, cap);
  memcpy(out, types + 1, n);
  return n;
}

/* The format from its arguments, already fetched: literal text, then each conversion, or, when
 * its arguments are missing or of another type, the conversion as written. */
static void format_from(trace__buf *b, const char *fmt, const char *end, const arg *args,
                        size_t nargs, trace__escape_mode mode, bool escape, int errno_value) {
  unsigned next = 1;
  const char *p = fmt;
  while (p < end) {
    const char *lit = p;
    p = memchr(p, '%', (size_t)(end - p));
    if (!p)
      p = end;
    if (p > lit)
      put_text(b, lit, (size_t)(p - lit), mode, escape);
    if (p >= end)
      break;
    const char *conv_start = p;
    spec sp;
    positions pos;
    conv_args ca;
    p = parse_conv(p + 1, end, &sp, &pos);
    if (!p) {
      put_text(b, conv_start, (size_t)(end - conv_start), mode, escape); /* dangling */
      break;
    }
    number_args(&sp, &pos, &next, &ca);
    const arg *w = NULL, *pr = NULL, *v = NULL;
    uint8_t type = (uint8_t)arg_type_of(&sp);
    bool ok = known_conversion(sp.conv) &&
              (!sp.width_arg || (w = arg_at(args, nargs, ca.width, TRACE__ARG_INT)) != NULL) &&
              (!sp.precision_arg ||
               (pr = arg_at(args, nargs, ca.precision, TRACE__ARG_INT)) != NULL) &&
              (!ca.value || (v = arg_at(args, nargs, ca.value, type)) != NULL);
    if (!ok) {
      put_text(b, conv_start, (size_t)(p - conv_start), mode, escape); /* as written */
      continue;
    }
    if (w)
      set_width(&sp, (int)w->as.bits);
    if (pr)
      set_precision(&sp, (int)pr->as.bits);
    arg none = {TRACE__ARG_NONE, {0}};
    format_value(b, &sp, v ? v : &none, mode, escape, errno_value);
  }
}

void trace__format_args(trace__buf *b, const char *fmt, const arg *args, size_t nargs,
                        trace__escape_mode mode, bool escape, int errno_value) {
  format_from(b, fmt, fmt + format_length(fmt), args, nargs, mode, escape, errno_value);
}

/* Positional arguments: a va_list can only be read in order and with each argument's type, so
 * the types are collected from the whole format first, then the arguments fetched, then the
 * format written from them. */
static void format_positional(trace__buf *b, const char *fmt, const char *end, va_list ap,
                              trace__escape_mode mode, bool escape, int errno_value) {
  uint8_t types[TRACE__PRINTF_ARGS_MAX + 1] = {0};
  collect_types(fmt, end, types);
  size_t n = fetchable(types, TRACE__PRINTF_ARGS_MAX);
  arg args[TRACE__PRINTF_ARGS_MAX];
  va_list aq;
  va_copy(aq, ap);
  for (size_t i = 0; i < n; i++) {
    args[i].type = types[i + 1];
    fetch(&args[i], &aq);
  }
  va_end(aq);
  format_from(b, fmt, end, args, n, mode, escape, errno_value);
}

void trace__vformat(trace__buf *b, const char *fmt, va_list ap_in, trace__escape_mode mode,
                    bool escape, int errno_value) {
  va_list ap;
  va_copy(ap, ap_in);
  const char *end = fmt + format_length(fmt);
  const char *p = fmt;
  size_t mark = b->len, dropped = b->dropped;
  bool truncated = b->truncated;
  while (p < end) {
    const char *lit = p;
    p = memchr(p, '%', (size_t)(end - p));
    if (!p)
      p = end;
    if (p > lit)
      put_text(b, lit, (size_t)(p - lit), mode, escape);
    if (p >= end)
      break;
    const char *conv_start = p++;
    spec sp;
    positions pos;
    const char *next = parse_conv(p, end, &sp, &pos);
    if (!next) {
      put_text(b, conv_start, (size_t)(end - conv_start), mode, escape); /* dangling */
      break;
    }
    if (is_positional(&pos)) {
      /* Found late, as it is rare: start again on the positional path. */
      b->len = mark;
      b->dropped = dropped;
      b->truncated = truncated;
      format_positional(b, fmt, end, ap_in, mode, escape, errno_value);
      break;
    }
    p = next;
    if (known_conversion(sp.conv))
      trace__printf_conv(b, &sp, &ap, mode, escape, errno_value);
    else
      put_text(b, conv_start, (size_t)(p - conv_start), mode, escape); /* as written */
  }
  va_end(ap);
}
