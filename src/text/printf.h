/* A printf engine that writes straight into a trace__buf, escaping the text it copies (the
 * format's literal parts, %s strings and %c characters) as it goes. It handles the common
 * conversions itself, which is several times faster than vsnprintf for log-style formats, and
 * hands floating point and rare forms to snprintf one conversion at a time.
 *
 * Differences from printf, on purpose: %n writes nothing (its argument is consumed); a '\n' at
 * the very end of the format is dropped (the line ends anyway; C code often has it by habit);
 * %s of NULL prints (null). Positional arguments (%1$s) fall back to vsnprintf for the whole
 * message. */
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
 * conversion, or NULL for a positional one (%1$s: the whole format needs vsnprintf) or one cut
 * by the end of the format. */
const char *trace__printf_parse(const char *p, const char *end, trace__fmt_spec *sp);
/* Formats one parsed conversion, taking its arguments from *ap. */
void trace__printf_conv(trace__buf *b, const trace__fmt_spec *sp, va_list *ap,
                        trace__escape_mode mode, bool escape, int errno_value);

#endif
