#include "printf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "../common/alloc.h"
#include "number.h"

enum { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_J, LEN_Z, LEN_T, LEN_BIGL };

typedef trace__fmt_spec spec;

static inline void put_text(trace__buf *b, const char *s, size_t n, trace__escape_mode mode,
                            bool escape) {
  if (escape)
    trace__escape(b, s, n, mode);
  else
    trace__buf_put(b, s, n);
}

static void pad(trace__buf *b, int width, size_t used) {
  if (width > 0 && (size_t)width > used)
    trace__buf_fill(b, ' ', (size_t)width - used);
}

static void put_integer(trace__buf *b, const spec *sp, uint64_t mag, bool negative) {
  char digits[32];
  size_t nd = 0;
  const char *prefix = "";
  size_t np = 0;
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
    if (sp->alt && mag != 0 && sp->conv != 'o') {
      prefix = sp->conv == 'X' ? "0X" : "0x";
      np = 2;
    }
  } else {
    nd = trace__u64_dec(digits, mag);
    if (negative) {
      prefix = "-";
      np = 1;
    } else if (sp->plus) {
      prefix = "+";
      np = 1;
    } else if (sp->space) {
      prefix = " ";
      np = 1;
    }
  }
  if (sp->precision == 0 && mag == 0)
    nd = 0; /* "%.0d" of 0 prints nothing */
  size_t zeros = 0;
  if (sp->precision > 0 && (size_t)sp->precision > nd)
    zeros = (size_t)sp->precision - nd;
  if (sp->conv == 'o' && sp->alt && zeros == 0 && (nd == 0 || digits[0] != '0'))
    zeros = 1;
  size_t body = np + zeros + nd;
  if (sp->zero && !sp->left && sp->precision < 0 && sp->width > 0 && (size_t)sp->width > body) {
    zeros += (size_t)sp->width - body;
    body = (size_t)sp->width;
  }
  if (!sp->left)
    pad(b, sp->width, body);
  trace__buf_put(b, prefix, np);
  trace__buf_fill(b, '0', zeros);
  trace__buf_put(b, digits, nd);
  if (sp->left)
    pad(b, sp->width, body);
}

/* Rebuilds the conversion text "%<flags><width>.<prec><len><conv>" with * already resolved. */
static void spec_text(const spec *sp, const char *len, char *out, size_t cap) {
  char w[16] = "", p[16] = "";
  if (sp->width >= 0)
    snprintf(w, sizeof w, "%d", sp->width);
  if (sp->precision >= 0)
    snprintf(p, sizeof p, ".%d", sp->precision);
  snprintf(out, cap, "%%%s%s%s%s%s%s%s%s%s%c", sp->left ? "-" : "", sp->plus ? "+" : "",
           sp->space ? " " : "", sp->alt ? "#" : "", sp->zero ? "0" : "", sp->group ? "'" : "", w,
           p, len, sp->conv);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void put_float(trace__buf *b, const spec *sp, va_list *ap) {
  char f[48], tmp[512];
  spec_text(sp, sp->length == LEN_BIGL ? "L" : "", f, sizeof f);
  int n;
  if (sp->length == LEN_BIGL)
    n = snprintf(tmp, sizeof tmp, f, va_arg(*ap, long double));
  else
    n = snprintf(tmp, sizeof tmp, f, va_arg(*ap, double));
  if (n < 0)
    return;
  if ((size_t)n >= sizeof tmp) {
    /* Huge widths or precisions: print what fits and mark the cut. */
    trace__buf_put(b, tmp, sizeof tmp - 1);
    b->truncated = true;
    return;
  }
  trace__buf_put(b, tmp, (size_t)n);
}

static void put_wide(trace__buf *b, const spec *sp, va_list *ap, trace__escape_mode mode,
                     bool escape) {
  char f[48], tmp[1024];
  spec_text(sp, "l", f, sizeof f);
  int n;
  if (sp->conv == 'c')
    n = snprintf(tmp, sizeof tmp, f, va_arg(*ap, wint_t));
  else
    n = snprintf(tmp, sizeof tmp, f, va_arg(*ap, const wchar_t *));
  if (n < 0)
    return;
  put_text(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1, mode, escape);
}

static void put_grouped(trace__buf *b, const spec *sp, uint64_t mag, bool negative, bool is_signed) {
  char f[48], tmp[128];
  spec_text(sp, "ll", f, sizeof f);
  int n = is_signed ? snprintf(tmp, sizeof tmp, f, negative ? -(long long)mag : (long long)mag)
                    : snprintf(tmp, sizeof tmp, f, (unsigned long long)mag);
  if (n > 0)
    trace__buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* The whole message through vsnprintf (positional arguments). */
static void fallback_whole(trace__buf *b, const char *fmt, va_list ap, trace__escape_mode mode,
                           bool escape) {
  char small[512];
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  if (n >= 0 && (size_t)n < sizeof small) {
    put_text(b, small, (size_t)n, mode, escape);
  } else if (n >= 0) {
    char *big = trace__malloc((size_t)n + 1);
    if (big) {
      vsnprintf(big, (size_t)n + 1, fmt, again);
      put_text(b, big, (size_t)n, mode, escape);
      trace__free(big);
    } else {
      put_text(b, small, sizeof small - 1, mode, escape);
      b->truncated = true;
    }
  }
  va_end(again);
}
#pragma GCC diagnostic pop

static const char *parse_number(const char *p, int *out) {
  long v = 0;
  while (*p >= '0' && *p <= '9') {
    if (v < 100000000)
      v = v * 10 + (*p - '0');
    p++;
  }
  *out = (int)v;
  return p;
}

const char *trace__printf_parse(const char *p, const char *end, spec *sp) {
  sp->left = sp->plus = sp->space = sp->alt = sp->zero = sp->group = false;
  sp->width_arg = sp->precision_arg = false;
  sp->width = sp->precision = -1;
  sp->length = LEN_NONE;
  sp->conv = 0;
  {
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9')
      q++;
    if (q > p && q < end && *q == '$')
      return NULL; /* positional */
  }
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
    p++;
  } else if (p < end && *p >= '1' && *p <= '9') {
    p = parse_number(p, &sp->width);
  }
  if (p < end && *p == '.') {
    p++;
    if (p < end && *p == '*') {
      sp->precision_arg = true;
      p++;
    } else {
      p = parse_number(p, &sp->precision);
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

void trace__printf_conv(trace__buf *b, const spec *in, va_list *ap, trace__escape_mode mode,
                        bool escape, int errno_value) {
  spec sp = *in;
  if (sp.width_arg) {
    int w = va_arg(*ap, int);
    if (w < 0) {
      sp.left = true;
      w = w == INT32_MIN ? 0 : -w;
    }
    sp.width = w;
  }
  if (sp.precision_arg) {
    int pr = va_arg(*ap, int);
    sp.precision = pr < 0 ? -1 : pr;
  }
  switch (sp.conv) {
  case 'd':
  case 'i': {
    int64_t v;
    switch (sp.length) {
    case LEN_HH: v = (signed char)va_arg(*ap, int); break;
    case LEN_H: v = (short)va_arg(*ap, int); break;
    case LEN_L: v = va_arg(*ap, long); break;
    case LEN_LL: v = va_arg(*ap, long long); break;
    case LEN_J: v = va_arg(*ap, intmax_t); break;
    case LEN_Z: v = va_arg(*ap, ptrdiff_t); break; /* signed size_t */
    case LEN_T: v = va_arg(*ap, ptrdiff_t); break;
    default: v = va_arg(*ap, int); break;
    }
    if (!sp.group && sp.width < 0 && sp.precision < 0 && !sp.plus && !sp.space) {
      trace__buf_i64(b, v); /* the common case */
      break;
    }
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (sp.group)
      put_grouped(b, &sp, mag, v < 0, true);
    else
      put_integer(b, &sp, mag, v < 0);
    break;
  }
  case 'u':
  case 'x':
  case 'X':
  case 'o': {
    uint64_t v;
    switch (sp.length) {
    case LEN_HH: v = (unsigned char)va_arg(*ap, unsigned); break;
    case LEN_H: v = (unsigned short)va_arg(*ap, unsigned); break;
    case LEN_L: v = va_arg(*ap, unsigned long); break;
    case LEN_LL: v = va_arg(*ap, unsigned long long); break;
    case LEN_J: v = va_arg(*ap, uintmax_t); break;
    case LEN_Z: v = va_arg(*ap, size_t); break;
    case LEN_T: v = (uint64_t)va_arg(*ap, ptrdiff_t); break;
    default: v = va_arg(*ap, unsigned); break;
    }
    if (sp.conv == 'u' && !sp.group && sp.width < 0 && sp.precision < 0) {
      trace__buf_u64(b, v);
      break;
    }
    if (sp.group && sp.conv == 'u')
      put_grouped(b, &sp, v, false, false);
    else
      put_integer(b, &sp, v, false);
    break;
  }
  case 'c':
    if (sp.length == LEN_L) {
      put_wide(b, &sp, ap, mode, escape);
    } else {
      char c = (char)va_arg(*ap, int);
      if (!sp.left)
        pad(b, sp.width, 1);
      put_text(b, &c, 1, mode, escape);
      if (sp.left)
        pad(b, sp.width, 1);
    }
    break;
  case 's':
    if (sp.length == LEN_L) {
      put_wide(b, &sp, ap, mode, escape);
    } else {
      const char *s = va_arg(*ap, const char *);
      if (!s)
        s = "(null)";
      size_t n = sp.precision >= 0 ? strnlen(s, (size_t)sp.precision) : strlen(s);
      if (!sp.left)
        pad(b, sp.width, n);
      put_text(b, s, n, mode, escape);
      if (sp.left)
        pad(b, sp.width, n);
    }
    break;
  case 'p': {
    const void *ptr = va_arg(*ap, const void *);
    if (!ptr) {
      if (!sp.left)
        pad(b, sp.width, 5);
      trace__buf_put(b, "(nil)", 5);
      if (sp.left)
        pad(b, sp.width, 5);
    } else {
      sp.conv = 'x';
      sp.alt = true;
      put_integer(b, &sp, (uint64_t)(uintptr_t)ptr, false);
    }
    break;
  }
  case 'f':
  case 'F':
  case 'e':
  case 'E':
  case 'g':
  case 'G':
  case 'a':
  case 'A':
    put_float(b, &sp, ap);
    break;
  case '%':
    trace__buf_putc(b, '%'); /* "%5%": flags and width are ignored, as glibc does */
    break;
  case 'n':
    (void)va_arg(*ap, void *); /* never written: %n in a log format is an attack, not a need */
    break;
  case 'm': {
    const char *s = strerror(errno_value);
    put_text(b, s, strlen(s), mode, escape);
    break;
  }
  default:
    break; /* unknown conversions are printed by the callers, as written */
  }
}

static bool known_conversion(char c) { return c && strchr("diuxXocspfFeEgGaAnm%", c) != NULL; }

void trace__vformat(trace__buf *b, const char *fmt, va_list ap_in, trace__escape_mode mode,
                    bool escape, int errno_value) {
  va_list start, ap;
  va_copy(start, ap_in);
  va_copy(ap, ap_in);
  size_t full_len = strlen(fmt);
  size_t fmt_len = full_len;
  if (fmt_len && fmt[fmt_len - 1] == '\n')
    fmt_len--;
  const char *end = fmt + fmt_len;
  const char *p = fmt;
  size_t mark = b->len;
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
    const char *next = trace__printf_parse(p, end, &sp);
    if (!next) {
      bool positional = false;
      for (const char *q = p; q < end && *q >= '0' && *q <= '9'; q++)
        positional = q + 1 < end && q[1] == '$';
      if (positional) {
        /* vsnprintf needs a terminated format without the newline we drop. */
        b->len = mark;
        char *f = trace__strndup(fmt, fmt_len);
        if (f) {
          fallback_whole(b, f, start, mode, escape);
          trace__free(f);
        } else {
          b->truncated = true;
        }
      } else {
        put_text(b, conv_start, (size_t)(end - conv_start), mode, escape); /* dangling */
      }
      break;
    }
    p = next;
    if (known_conversion(sp.conv))
      trace__printf_conv(b, &sp, &ap, mode, escape, errno_value);
    else
      put_text(b, conv_start, (size_t)(p - conv_start), mode, escape); /* as written */
  }
  va_end(start);
  va_end(ap);
}
