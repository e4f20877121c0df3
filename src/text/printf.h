/* A printf engine that writes straight into a trace__buf, escaping the text it copies (the
 * format's literal parts, %s strings and %c characters) as it goes. It handles every conversion
 * itself, positional arguments included, and asks snprintf only for the digits of a floating
 * point number (with a format it builds from fixed pieces, never from the caller's text).
 *
 * Differences from printf, on purpose: %n writes nothing (its argument is consumed); a '\n' at
 * the very end of the format is dropped (the line ends anyway; C code often has it by habit);
 * %s of NULL prints (null); %ls and %lc write UTF-8 whatever the locale.
 *
 * Every conversion is bounded by the room left in the buffer: a width or precision of INT_MAX
 * costs no more time or memory than the bytes the buffer can take (those it cannot are counted
 * in its dropped bytes, so the full length is still known). */
#ifndef TRACE_TEXT_PRINTF_H
#define TRACE_TEXT_PRINTF_H

#include <stdarg.h>
#include <stdint.h>

#include "buf.h"
#include "escape.h"

/* errno_value is what %m prints the description of. */
void trace__vformat(trace__buf *b, const char *fmt, va_list ap, trace__escape_mode mode,
                    bool escape, int errno_value);

/* One conversion, parsed: what a caller that compiles a format once keeps (see fmt/site.c). */
typedef struct trace__fmt_spec {
  bool left, plus, space, alt, zero, group;
  bool width_arg, precision_arg; /* '*': taken from the arguments */
  uint8_t length;
  char conv;
  int width;     /* -1: none */
  int precision; /* -1: none */
} trace__fmt_spec;

/* Parses the conversion after a '%' at p (p points after the '%'). Returns the end of the
 * conversion, or NULL for a positional one (%1$s, %*2$d: the whole format needs the positional
 * path of trace__vformat) or one cut by the end of the format. */
const char *trace__printf_parse(const char *p, const char *end, trace__fmt_spec *sp);
/* Formats one parsed conversion, taking its arguments from *ap. */
void trace__printf_conv(trace__buf *b, const trace__fmt_spec *sp, va_list *ap,
                        trace__escape_mode mode, bool escape, int errno_value);

/* An argument already taken from its va_list, with its C type: what positional formats are
 * formatted from (all arguments are fetched first, in order, once their types are known). */
typedef enum trace__arg_type {
  TRACE__ARG_NONE, /* an argument no conversion names */
  TRACE__ARG_INT,
  TRACE__ARG_UINT,
  TRACE__ARG_LONG,
  TRACE__ARG_ULONG,
  TRACE__ARG_LLONG,
  TRACE__ARG_ULLONG,
  TRACE__ARG_INTMAX,
  TRACE__ARG_UINTMAX,
  TRACE__ARG_SIZE,
  TRACE__ARG_PTRDIFF, /* also %zd, glibc's ssize_t */
  TRACE__ARG_WINT,
  TRACE__ARG_DOUBLE,
  TRACE__ARG_LDOUBLE,
  TRACE__ARG_PTR, /* %s %p %n %ls */
} trace__arg_type;

typedef struct trace__printf_arg {
  uint8_t type; /* trace__arg_type */
  union {
    uint64_t bits; /* integers: sign-extended from their type */
    double d;
    long double ld;
    const void *ptr;
  } as;
} trace__printf_arg;

/* Positional arguments beyond this number are not fetched (their conversions print as written);
 * the logging macros take at most 64 arguments in all. */
#define TRACE__PRINTF_ARGS_MAX 64

/* The types of the arguments fmt takes, in order: types[i] is argument i + 1. Returns how many
 * can be fetched: arguments up to the first one no conversion names (a gap in a positional
 * format: its type is unknown, so neither it nor any after it can be taken from a va_list), and
 * at most cap and TRACE__PRINTF_ARGS_MAX. */
size_t trace__printf_arg_types(const char *fmt, uint8_t *types, size_t cap);
/* trace__vformat with the arguments given as an array instead of a va_list (nargs of them). A
 * conversion whose argument is missing or of another type prints as written. */
void trace__format_args(trace__buf *b, const char *fmt, const trace__printf_arg *args,
                        size_t nargs, trace__escape_mode mode, bool escape, int errno_value);

#endif
