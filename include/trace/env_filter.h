/* The env-filter: TRACE_FILTER-style directives that enable callsites by target and level, and
 * whole subtrees of execution by span name and field values, reloadable at run time.
 *
 *   TRACE_FILTER="warn,app::net=debug,[request{path=/z}]=trace"
 *
 *   filter    := directive (',' directive)*
 *   directive := LEVEL                               everything at LEVEL
 *              | TARGET                              TARGET (and below it) at TRACE
 *              | [TARGET] ['[' [SPAN] ['{' FIELD (',' FIELD)* '}'] ']'] ['=' [LEVEL]]
 *   FIELD     := name ['=' value]
 *   LEVEL     := off|error|warn|info|debug|trace (any case) | 0..5 (0 = off); empty = trace
 *
 * Targets match on segment boundaries: "app" matches app, app::net, app.net and app/net, not app2.
 * Static directives (no span, no field values) are decided once per callsite and cached; of the
 * static directives that match a callsite, only the most specific decides (longer target, then
 * more field names, then the later one): "debug,h2=info" limits h2 to info.
 * Dynamic directives (a span name and/or field values) enable, while a matching span is entered
 * on a thread, every event and span of any target at or below their level; they only ever enable.
 * Field values: true/false, integers and floats match exactly by type; a "quoted" value matches
 * that exact string; any other value is a regular expression in Rust's syntax (\d, \w, (?i), lazy
 * repetitions) that must match the whole string ([conn{peer=10\.0\..*}]), run by PCRE2, which is
 * loaded at run time (dlopen of libpcre2-8.so.0) the first time a filter holds one; without it
 * such a directive is a parse error. A match gives up (no match) after 100000 backtracking steps.
 * A field name alone ([{user_id}]) enables events that declare it, everything inside spans that
 * declare it, and every span, up to its level (as tracing-subscriber).
 * See docs/filtering.md for every rule with examples, and its table of differences from
 * tracing-subscriber. */
#ifndef TRACE_ENV_FILTER_H
#define TRACE_ENV_FILTER_H

#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A reloadable filter. Reference counted: the creator holds one reference, and the trace_filter
 * made by trace_env_filter_as_filter holds another, so an application can keep reloading through
 * its handle for as long as it holds it, whatever happens to the registry. */
typedef struct trace_env_filter trace_env_filter;

/* What went wrong in a strict parse. */
typedef struct trace_filter_error {
  size_t offset;       /* byte offset of the problem in the whole input */
  char directive[128]; /* the directive it is in (truncated to fit, NUL-terminated) */
  char message[256];   /* e.g. "unknown level 'verbose' at 12" (NUL-terminated) */
} trace_filter_error;

/* Strict parse: 0 and a new filter in *out, or TRACE_EPARSE (with *err filled if err is not
 * NULL, and *out NULL) for the first bad directive; TRACE_ENOMEM; TRACE_EINVAL for NULL spec/out.
 * Any input is safe: huge, binary, unbalanced, bad regular expressions; parse time is bounded
 * (inputs over 64 KiB are rejected). A regular expression without PCRE2 (not built with pcre2.h,
 * or libpcre2-8.so.0 not loadable) is TRACE_EPARSE with a message saying so. */
TRACE_API int trace_env_filter_parse(const char *spec, trace_env_filter **out,
                                     trace_filter_error *err);

/* Lossy parse: every bad directive is reported on stderr as
 *   trace: ignoring '<directive>': <reason>
 * and skipped; the rest is kept. NULL spec or one with no valid directive gives the ERROR level
 * (as tracing does). NULL only on out of memory. */
TRACE_API trace_env_filter *trace_env_filter_parse_lossy(const char *spec);

/* Lossy parse of getenv(var) (var NULL: "TRACE_FILTER"); default_spec (NULL: "info") when the
 * variable is unset or empty. */
TRACE_API trace_env_filter *trace_env_filter_from_env(const char *var, const char *default_spec);

/* A trace_filter for trace_registry_set_filter or trace_registry_add_layer, holding its own
 * reference on f (dropped when the registry or layer frees the filter). Make one per registry or
 * layer: each keeps its own per-thread scope of entered spans. NULL on out of memory, for NULL f,
 * or when the process already uses all 64 per-thread slots (each live registry and each filter
 * made here takes one). */
TRACE_API trace_filter *trace_env_filter_as_filter(trace_env_filter *f);

/* Replaces every directive of f at once with those of spec (strict parse), then rebuilds the
 * interest of every callsite. Events are judged by the old or the new filter, never by a mix and
 * never dropped by the swap; readers (event, enter, exit) take no lock and never wait. Spans that
 * exist already are judged by the new directives from their next enter. On error nothing
 * changes: TRACE_EPARSE (err filled), TRACE_ENOMEM, TRACE_EINVAL.
 * Called from inside a subscriber callback, the interest cannot be rebuilt there: the rebuild is
 * deferred to the moment that thread returns from libtrace; meanwhile callsites that reach the
 * filter are judged by the new directives, the others by the old ones. */
TRACE_API int trace_env_filter_reload(trace_env_filter *f, const char *spec,
                                      trace_filter_error *err);

/* The directives in effect, normalised (levels lower-case, one comma between directives), into
 * buf, snprintf-style: returns the full length; at most cap bytes written, NUL included. */
TRACE_API size_t trace_env_filter_spec(trace_env_filter *f, char *buf, size_t cap);

TRACE_API trace_env_filter *trace_env_filter_ref(trace_env_filter *f);
/* Drops a reference; NULL is a no-op. */
TRACE_API void trace_env_filter_release(trace_env_filter *f);

/* The callsite inventory as text, one line per callsite known to the process (including those
 * never hit yet, see trace_callsites_foreach), sorted by file and line:
 *   <file>:<line> <span|event> <LEVEL> <target> <name> <never|sometimes|always|unknown>
 * The name of an event is "event <file>:<line>": read the interest from the end of the line.
 * snprintf-style: returns the full length, writes at most cap bytes including the NUL (out of
 * memory, only the lines that could be collected). */
TRACE_API size_t trace_callsites_format(char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
