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

#include "buf.h"
#include "escape.h"

/* errno_value is what %m prints the description of. */
void trace__vformat(trace__buf *b, const char *fmt, va_list ap, trace__escape_mode mode,
                    bool escape, int errno_value);

#endif
