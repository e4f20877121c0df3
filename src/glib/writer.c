/* GLib's structured logging into libtrace (<trace/glib.h>): a GLogWriterFunc written on the
 * public <trace/log.h>, like any bridge a user could write. */
#include "trace/glib.h"

#include <stdlib.h>
#include <string.h>

#define FIELDS_MAX 32

int trace_glib_level(GLogLevelFlags log_level) {
  if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return TRACE_LEVEL_ERROR;
  if (log_level & G_LOG_LEVEL_WARNING)
    return TRACE_LEVEL_WARN;
  if (log_level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return TRACE_LEVEL_INFO;
  return TRACE_LEVEL_DEBUG;
}

/* A field's value as text: GLib gives length -1 for a NUL-terminated string. */
static size_t value_len(const GLogField *f) {
  return f->length < 0 ? strlen(f->value) : (size_t)f->length;
}

static unsigned parse_line(const GLogField *f) {
  char digits[16];
  size_t n = value_len(f);
  if (n == 0 || n >= sizeof digits)
    return 0;
  memcpy(digits, f->value, n);
  digits[n] = '\0';
  char *end;
  unsigned long v = strtoul(digits, &end, 10);
  return *end == '\0' && v <= UINT32_MAX ? (unsigned)v : 0;
}

GLogWriterOutput trace_glib_writer(GLogLevelFlags log_level, const GLogField *fields,
                                   gsize n_fields, gpointer user_data) {
  (void)user_data;
  int level = trace_glib_level(log_level);
  const char *domain = NULL, *file = NULL, *function = NULL, *message = NULL;
  size_t message_len = 0;
  unsigned line = 0;
  /* The location's strings must be NUL-terminated: GLib passes them so (length -1). */
  const char *names[FIELDS_MAX];
  trace_value values[FIELDS_MAX];
  size_t n = 0;
  for (gsize i = 0; i < n_fields; i++) {
    const GLogField *f = &fields[i];
    if (!f->key || !f->value)
      continue;
    if (strcmp(f->key, "MESSAGE") == 0) {
      message = f->value;
      message_len = value_len(f);
    } else if (strcmp(f->key, "GLIB_DOMAIN") == 0 && f->length < 0) {
      domain = f->value;
    } else if (strcmp(f->key, "CODE_FILE") == 0 && f->length < 0) {
      file = f->value;
    } else if (strcmp(f->key, "CODE_FUNC") == 0 && f->length < 0) {
      function = f->value;
    } else if (strcmp(f->key, "CODE_LINE") == 0) {
      line = parse_line(f);
    } else if (strcmp(f->key, "PRIORITY") != 0 && strcmp(f->key, "GLIB_OLD_LOG_API") != 0 &&
               n < FIELDS_MAX) {
      names[n] = f->key;
      values[n] = trace_value_strn(f->value, value_len(f));
      n++;
    }
  }
  if (!trace_log_enabled(level, domain ? domain : "glib"))
    return G_LOG_WRITER_HANDLED;
  trace_log_record r = {sizeof r, level, domain ? domain : "glib", file, line, function,
                        names,    values, n};
  trace_log_emit_text(&r, message, message ? message_len : 0);
  return G_LOG_WRITER_HANDLED;
}

void trace_glib_install(void) { g_log_set_writer_func(trace_glib_writer, NULL, NULL); }
