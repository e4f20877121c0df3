/* trace_init: a registry, an env-filter from TRACE_FILTER and a fmt layer on stderr, installed as
 * the global default in one call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/compiler.h"
#include "../common/warn.h"
#include "../text/escape.h"
#include "../core/core.h"
#include "internal.h"

/* The filter trace_init installed, for trace_init_filter(); a reference, dropped at shutdown. */
static trace_env_filter *installed_filter;
/* Its writer, for trace_init_writer_stats(); owned by the fmt layer, forgotten at shutdown. */
static trace_writer *installed_writer;

static void release_on_shutdown(void) {
  __atomic_store_n(&installed_writer, NULL, __ATOMIC_RELEASE);
  trace_env_filter *f = __atomic_exchange_n(&installed_filter, NULL, __ATOMIC_ACQ_REL);
  trace_env_filter_release(f);
}

void trace_init_options_init(trace_init_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  trace_fmt_options_init(&o->fmt);
  if (trace_fmt_options_from_env(&o->fmt) != 0) {
    /* Bad configuration is reported, not fatal: the default format stays. */
    const char *value = getenv("TRACE_FORMAT");
    size_t len = value ? strlen(value) : 0;
    char msg[512];
    trace__buf b;
    trace__buf_init_fixed(&b, msg, sizeof msg);
    trace__buf_puts(&b, "trace: ignoring TRACE_FORMAT='");
    trace__escape(&b, value ? value : "", len > 60 ? 60 : len, TRACE__ESC_TEXT);
    trace__buf_puts(&b, len > 60 ? "...'" : "'");
    trace__buf_puts(&b, ": expected full, compact, pretty or json\n");
    trace__warn(msg, b.len);
  }
}

int trace_init(void) {
  trace_init_options o;
  trace_init_options_init(&o);
  return trace_init_with(&o);
}

int trace_init_with(const trace_init_options *o) {
  if (!o || o->struct_size != sizeof *o)
    return TRACE_EINVAL;
  int saved = errno;
  trace_writer *writer = o->fmt.writer;
  if (trace_global_default()) {
    trace_writer_free(writer);
    errno = saved;
    return TRACE_EEXIST;
  }
  const char *spec = o->filter;
  if (!spec) {
    spec = getenv("TRACE_FILTER");
    if (!spec || !*spec)
      spec = "info"; /* ours: INFO when unset or empty (tracing's default would be ERROR) */
  }
  trace_env_filter *f = NULL;
  if (o->strict_filter) {
    int rc = trace_env_filter_parse(spec, &f, o->filter_error);
    if (rc != 0) {
      trace_writer_free(writer);
      errno = saved;
      return rc;
    }
  } else {
    f = trace_env_filter_parse_lossy(spec);
    if (!f) {
      trace_writer_free(writer);
      errno = saved;
      return TRACE_ENOMEM;
    }
  }
  trace_fmt_options fmt = o->fmt;
  if (!fmt.writer)
    fmt.writer = trace_writer_from_env(); /* TRACE_WRITER, else stderr (NULL: the layer fails) */
  writer = fmt.writer;
  bool valid = fmt.struct_size == sizeof fmt && fmt.format >= TRACE_FMT_FULL &&
               fmt.format <= TRACE_FMT_JSON && fmt.time >= TRACE_FMT_TIME_UTC &&
               fmt.time <= TRACE_FMT_TIME_NONE && fmt.color >= TRACE_FMT_COLOR_AUTO &&
               fmt.color <= TRACE_FMT_COLOR_ALWAYS;
  trace_layer *layer = trace_fmt_layer_new(&fmt); /* frees the writer when it fails */
  trace_registry *r = layer ? trace_registry_new() : NULL;
  if (!r) {
    /* Without its fmt layer there would be a subscriber that prints nothing: refuse instead. */
    trace_layer_free(layer);
    trace_env_filter_release(f);
    errno = saved;
    return valid ? TRACE_ENOMEM : TRACE_EINVAL;
  }
  trace_registry_set_filter(r, trace_env_filter_as_filter(f));
  int rc = trace_registry_add_layer(r, layer, NULL);
  if (rc == 0)
    rc = trace_registry_install(r);
  else
    trace_registry_free(r);
  if (rc == 0) {
    trace__shutdown_hook = release_on_shutdown;
    __atomic_store_n(&installed_writer, writer, __ATOMIC_RELEASE);
    trace_env_filter *old = __atomic_exchange_n(&installed_filter, f, __ATOMIC_ACQ_REL);
    trace_env_filter_release(old);
  } else {
    trace_env_filter_release(f);
  }
  errno = saved;
  return rc;
}

trace_writer_stats trace_init_writer_stats(void) {
  trace_writer *w = __atomic_load_n(&installed_writer, __ATOMIC_ACQUIRE);
  return trace_writer_get_stats(w); /* NULL: zeros */
}

trace_env_filter *trace_init_filter(void) { return __atomic_load_n(&installed_filter, __ATOMIC_ACQUIRE); }
