/* Warnings about the library's own configuration and failures: one line on stderr, written
 * directly (no stdio buffer of the host's touched), errno kept. Callers escape what they quote. */
#ifndef TRACE_COMMON_WARN_H
#define TRACE_COMMON_WARN_H

#include <stddef.h>

void trace__warn(const char *line, size_t len);

#endif
