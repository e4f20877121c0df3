/* syslog(3) into libtrace: a drop-in for code that logs with syslog/vsyslog, keeping its calls.
 *
 *   #define TRACE_SYSLOG_REPLACE       // before the include: syslog(...) and vsyslog(...) become
 *   #include <trace/syslog.h>          // libtrace events that carry the caller's file and line
 *   ...
 *   trace_openlog("mydaemon", LOG_PID, LOG_DAEMON);     // the target of the events
 *   syslog(LOG_WARNING, "disk %s at %d%%: %m", dev, pct);
 *
 * Priorities map to levels: LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR -> ERROR; LOG_WARNING ->
 * WARN; LOG_NOTICE, LOG_INFO -> INFO; LOG_DEBUG -> DEBUG. The facility part of a priority is
 * ignored; the ident given to trace_openlog is the target (copied; "syslog" before any
 * trace_openlog), so TRACE_FILTER="warn,mydaemon=debug" applies. trace_setlogmask filters first,
 * as setlogmask does. %m prints strerror(errno). Nothing is sent to the system's syslog: to keep
 * doing that, install libtrace's syslog writer (<trace/writer.h>) or call the real syslog too.
 * Every function may be called from any thread; errno is kept. */
#ifndef TRACE_SYSLOG_H
#define TRACE_SYSLOG_H

#include <stdarg.h>
#include <syslog.h>

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sets the target (ident copied, at most 63 bytes; NULL: "syslog"). option and facility are
 * accepted for compatibility and ignored. */
TRACE_API void trace_openlog(const char *ident, int option, int facility);
/* Forgets the ident ("syslog" again). */
TRACE_API void trace_closelog(void);
/* The priority mask, as setlogmask(3): mask 0 leaves it and returns the current one. The
 * default lets every priority through. */
TRACE_API int trace_setlogmask(int mask);

/* syslog(3) and vsyslog(3) without a location, and with one (what the replacement macros call). */
TRACE_API void trace_syslog(int priority, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
TRACE_API void trace_vsyslog(int priority, const char *format, va_list args)
    __attribute__((format(printf, 2, 0)));
TRACE_API void trace_syslog_at(const char *file, unsigned line, const char *function, int priority,
                               const char *format, ...) __attribute__((format(printf, 5, 6)));
TRACE_API void trace_vsyslog_at(const char *file, unsigned line, const char *function,
                                int priority, const char *format, va_list args)
    __attribute__((format(printf, 5, 0)));

/* The level a syslog priority maps to (see above). */
TRACE_API int trace_syslog_level(int priority);

#ifdef TRACE_SYSLOG_REPLACE
#undef syslog /* glibc's fortified headers may define them as macros */
#undef vsyslog
#define syslog(...) trace_syslog_at(__FILE__, __LINE__, __func__, __VA_ARGS__)
#define vsyslog(priority, format, args)                                                            \
  trace_vsyslog_at(__FILE__, __LINE__, __func__, priority, format, args)
#define openlog trace_openlog
#define closelog trace_closelog
#define setlogmask trace_setlogmask
#endif

#ifdef __cplusplus
}
#endif

#endif
