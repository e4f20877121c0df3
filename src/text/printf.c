/* The printf engine (printf.h): parsing, argument numbering and fetching, one conversion from
 * its value, whole formats sequential or positional. The longer conversions are in
 * printf_put.c. */
#include "printf.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "number.h"
#include "printf_put.h"

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
      trace__printf_put_grouped(b, sp, mag, v < 0);
    else
      trace__printf_put_integer(b, sp, mag, v < 0);
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
      trace__printf_put_grouped(b, sp, v, false);
    else
      trace__printf_put_integer(b, sp, v, false);
    break;
  }
  case 'c':
    if (sp->length == LEN_L) {
      trace__printf_put_wide_char(b, sp, (wint_t)a->as.bits, mode, escape);
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
      trace__printf_put_wide_string(b, sp, a->as.ptr, mode, escape);
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
      trace__printf_put_integer(b, sp, (uint64_t)(uintptr_t)a->as.ptr, false);
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
    trace__printf_put_float(b, sp, a);
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

/* Writes the literal text from p to the next '%' or the end; returns that '%', or NULL. */
static const char *put_literal(trace__buf *b, const char *p, const char *end,
                               trace__escape_mode mode, bool escape) {
  const char *pct = memchr(p, '%', (size_t)(end - p));
  const char *stop = pct ? pct : end;
  if (stop > p)
    put_text(b, p, (size_t)(stop - p), mode, escape);
  return pct;
}

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
  for (const char *p = fmt; (p = put_literal(b, p, end, mode, escape)) != NULL;) {
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
  size_t mark = b->len, dropped = b->dropped;
  bool truncated = b->truncated;
  for (const char *p = fmt; (p = put_literal(b, p, end, mode, escape)) != NULL;) {
    const char *conv_start = p;
    spec sp;
    positions pos;
    const char *next = parse_conv(p + 1, end, &sp, &pos);
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
