/* GLib's logging into libtrace: a writer function for g_log_set_writer_func, so that g_message,
 * g_warning, g_debug, g_log_structured and the logging of every GLib-based library become libtrace
 * events, filtered per log domain and level by TRACE_FILTER like the rest.
 *
 *   trace_init();
 *   trace_glib_install();   // or g_log_set_writer_func(trace_glib_writer, NULL, NULL)
 *
 * Mapping: the log domain (GLIB_DOMAIN) is the target ("glib" for the default, NULL domain);
 * G_LOG_LEVEL_ERROR and G_LOG_LEVEL_CRITICAL -> ERROR, WARNING -> WARN, MESSAGE and INFO -> INFO,
 * DEBUG -> DEBUG; MESSAGE is the message; CODE_FILE, CODE_LINE and CODE_FUNC are the location
 * (GLib fills them when G_LOG_USE_STRUCTURED is defined, and for g_log_structured); PRIORITY and
 * GLIB_OLD_LOG_API are dropped; every other field becomes a field of the event, with its key as
 * the name (at most 32 fields per message; binary values are shown escaped). GLib itself still
 * aborts on G_LOG_LEVEL_ERROR after the writer returns, as it always does.
 *
 * The library is trace_glib (CMake trace::glib, pkg-config trace-glib), built when GLib is found. */
#ifndef TRACE_GLIB_H
#define TRACE_GLIB_H

#include <glib.h>

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A GLogWriterFunc: hands the message to libtrace and returns G_LOG_WRITER_HANDLED. user_data is
 * unused. Safe from any thread. */
TRACE_API GLogWriterOutput trace_glib_writer(GLogLevelFlags log_level, const GLogField *fields,
                                             gsize n_fields, gpointer user_data);

/* g_log_set_writer_func(trace_glib_writer, NULL, NULL). GLib allows one writer per process, set
 * once, before any message is logged: a second call aborts inside GLib, so call it once, early. */
TRACE_API void trace_glib_install(void);

/* The libtrace level of a GLib level (see above). */
TRACE_API int trace_glib_level(GLogLevelFlags log_level);

#ifdef __cplusplus
}
#endif

#endif
