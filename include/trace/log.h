/* Events from code that already logs: level, target, file, line and function given at run time
 * (tracing-log's job). Any LOG_INFO(fmt, ...) macro set, a vsyslog-shaped function or GLib's
 * writer (<trace/glib.h>) can route into libtrace this way, and filters keep working per target
 * and level: TRACE_FILTER="warn,mylib=debug" applies to bridged events exactly as to TRACE_INFO.
 *
 *   #define LOG_INFO(...) \
 *     trace_log_emit(&(trace_log_record){sizeof(trace_log_record), TRACE_LEVEL_INFO, "mylib", \
 *                                        __FILE__, __LINE__, __func__, 0, 0, 0}, __VA_ARGS__)
 *
 * How it stays cheap: each distinct (level, target) pair gets a callsite of its own, made on
 * first use, whose cached interest answers "is anybody interested" in one lookup; each distinct
 * location (level, target, file, line, function, format, field names) gets a callsite too, so
 * subscribers see ordinary metadata (the fmt layer's file:line, the inventory) and cache their
 * decisions by callsite id as for static callsites. The lookups hash the strings' contents (a
 * buffer reused with other contents is another callsite, never a wrong one); after the first use
 * of a location nothing is allocated.
 *
 * Limits: at most TRACE_LOG_MAX_SITES callsites are made (strings copied, never freed: like
 * static callsites, subscribers may keep their metadata). Past that, events still go out, through
 * a callsite per level with target "trace.log" and the real target, file and line as the fields
 * log.target, log.file and log.line; the first overflow is reported once on stderr. Strings are
 * cut at 256 bytes, field names at 64 per event.
 *
 * Thread safety: every function may be called from any thread, before a subscriber is installed
 * and after trace_shutdown(); errno is kept. From inside a subscriber callback events are
 * dropped (the no-op dispatcher), as for the macros. */
#ifndef TRACE_LOG_H
#define TRACE_LOG_H

#include "../trace.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TRACE_LOG_MAX_SITES 4096

/* Where an event comes from. struct_size first (set it to sizeof(trace_log_record)), so the
 * struct can grow. Every pointer may be NULL: target NULL is "log"; file, function NULL: unknown.
 * Field names must be identifiers or dotted paths (shown as they are); values follow
 * trace_value's rules (strings are copied by subscribers that keep them). */
typedef struct trace_log_record {
  uint32_t struct_size;
  int level;                      /* TRACE_LEVEL_ERROR .. TRACE_LEVEL_TRACE */
  const char *target;
  const char *file;
  uint32_t line;
  const char *function;
  const char *const *field_names; /* nfields names */
  const trace_value *field_values;
  size_t nfields;
} trace_log_record;

/* Whether an event of this level and target would be wanted by anybody now: a cached answer
 * after the first call for the pair. For bridges that want to skip formatting arguments. */
TRACE_API bool trace_log_enabled(int level, const char *target);

/* An event with a printf-style message (libtrace's printf engine: %n writes nothing; see
 * docs/macros.md). Does nothing for a NULL record, a bad level or struct_size, or when nobody is
 * interested. Returns 0, TRACE_EINVAL for such input. */
TRACE_API int trace_log_vemit(const trace_log_record *record, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));
TRACE_API int trace_log_emit(const trace_log_record *record, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* An event with a message formatted already: len bytes of text (not NUL-terminated necessarily;
 * escaped on output like any message). text NULL with len 0: no message. */
TRACE_API int trace_log_emit_text(const trace_log_record *record, const char *text, size_t len);

typedef struct trace_log_stats {
  uint64_t sites;    /* callsites made so far */
  uint64_t overflow; /* events sent through the overflow callsites (see Limits) */
} trace_log_stats;
TRACE_API trace_log_stats trace_log_get_stats(void);

#ifdef __cplusplus
}
#endif

#endif
