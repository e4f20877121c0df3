/* Shared by the trace context module's files. */
#ifndef TRACE_CONTEXT_INTERNAL_H
#define TRACE_CONTEXT_INTERNAL_H

#include <stddef.h>

#include "trace/context.h"

/* Removes HTTP optional whitespace (spaces and tabs) from both ends of s[0, len). */
void trace__context_trim(const char **s, size_t *len);

/* Parses the values of count tracestate header lines as one combined value (HTTP joins them with
 * commas, so no member spans two lines) into out's tracestate. See trace_tracestate_parse. */
int trace__tracestate_parse_lines(const char *const *lines, const size_t *lens, size_t count,
                                  trace_context *out, const char **reason);

#endif
