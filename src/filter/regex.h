/* Regular expressions of the env-filter's field values: Rust regex syntax (\d, \w, (?i), lazy
 * repetitions, Unicode classes), matched against the whole value, through PCRE2 with its JIT and
 * a match limit. PCRE2 is not a link dependency of libtrace: libpcre2-8.so.0 is loaded with
 * dlopen the first time a filter holds a regular expression (see regex.c for why). Without it,
 * such a filter is a parse error that says so; quoted values, numbers and bools need nothing. */
#ifndef TRACE_FILTER_REGEX_H
#define TRACE_FILTER_REGEX_H

#include <stddef.h>

typedef struct trace__regex trace__regex;

enum {
  TRACE__REGEX_MAX_LEN = 1024,           /* bytes of one regular expression */
  TRACE__REGEX_MATCH_LIMIT = 100000      /* PCRE2 match limit: steps of one match */
};

/* The outcome of a match. */
enum { TRACE__REGEX_NO = 0, TRACE__REGEX_YES = 1, TRACE__REGEX_GAVE_UP = -1 };

/* Compiles pattern (len bytes, not NUL-terminated) into *out. 0, TRACE_ENOMEM, or TRACE_EPARSE
 * with a reason in why (NUL-terminated, at most why_cap bytes) and the offset of the problem
 * within the pattern in *at. */
int trace__regex_compile(const char *pattern, size_t len, trace__regex **out, char *why,
                         size_t why_cap, size_t *at);
void trace__regex_free(trace__regex *re);

/* Whether re matches all of s (len bytes; invalid UTF-8 never matches a character): YES, NO, or
 * GAVE_UP when the match limit was reached (a pathological pattern on a long value) or memory
 * ran out, which callers treat as no match. Thread-safe without a lock: the compiled pattern is
 * read-only and the match data is the calling thread's. */
int trace__regex_match(const trace__regex *re, const char *s, size_t len);

#endif
