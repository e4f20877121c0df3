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

static void release_on_shutdown(void) {
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
  trace_registry *r = trace_registry_new();
  trace_registry_set_filter(r, trace_env_filter_as_filter(f));
  trace_registry_add_layer(r, trace_fmt_layer_new(&o->fmt), NULL);
  int rc = trace_registry_install(r);
  if (rc == 0) {
    trace__shutdown_hook = release_on_shutdown;
    trace_env_filter *old = __atomic_exchange_n(&installed_filter, f, __ATOMIC_ACQ_REL);
    trace_env_filter_release(old);
  } else {
    trace_env_filter_release(f);
  }
  errno = saved;
  return rc;
}

trace_env_filter *trace_init_filter(void) { return __atomic_load_n(&installed_filter, __ATOMIC_ACQUIRE); }
