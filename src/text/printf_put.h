/* Inside the printf engine: the output of the conversions that need more than a few lines
 * (printf_put.c), and what they share with the engine (printf.c). Not for other modules: they
 * use printf.h. */
#ifndef TRACE_TEXT_PRINTF_PUT_H
#define TRACE_TEXT_PRINTF_PUT_H

#include <wchar.h>

#include "printf.h"

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
static inline void pad(trace__buf *b, int width, size_t used) {
  if (width > 0 && (size_t)width > used)
    trace__buf_fill(b, ' ', (size_t)width - used);
}


/* %d %u %x %X %o (and %p, as %#x) of a magnitude, with sign, precision and width. */
void trace__printf_put_integer(trace__buf *b, const spec *sp, uint64_t mag, bool negative);
/* %'d and %'u: digits grouped as the locale says. */
void trace__printf_put_grouped(trace__buf *b, const spec *sp, uint64_t mag, bool negative);
/* %f %F %e %E %g %G %a %A of a double or long double argument. */
void trace__printf_put_float(trace__buf *b, const spec *sp, const arg *a);
/* %ls and %lc, as UTF-8 (%lc has no precision: put_wide_char clears sp's). */
void trace__printf_put_wide_string(trace__buf *b, const spec *sp, const wchar_t *ws,
                                   trace__escape_mode mode, bool escape);
void trace__printf_put_wide_char(trace__buf *b, spec *sp, wint_t wc, trace__escape_mode mode,
                                 bool escape);

#endif
