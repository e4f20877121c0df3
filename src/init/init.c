/* trace_init: a registry, an env-filter from TRACE_FILTER and a fmt layer on stderr, installed as
 * the global default in one call. A composition of public pieces: like any application's own
 * set-up, it uses only the public headers (and the common/text helpers). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../common/compiler.h"
#include "../common/warn.h"
#include "../text/buf.h"
#include "../text/escape.h"
#include "extensions.h"
#include "trace/fmt.h"

/* What trace_init installed, for trace_init_filter() and trace_init_writer_stats(): the filter
 * (a reference of ours) and the writer (owned by the fmt layer). Published before the subscriber
 * is installed and forgotten when it is destroyed (trace_dispatch_on_destroy), so neither
 * outlives what it points into. */
typedef struct installed {
  trace_env_filter *filter;
  trace_writer *writer;
} installed;
static installed *current;

static void forget(void *arg) {
  installed *st = arg;
  installed *expected = st;
  __atomic_compare_exchange_n(&current, &expected, NULL, false, __ATOMIC_ACQ_REL,
                              __ATOMIC_ACQUIRE);
  trace_env_filter_release(st->filter);
  trace__free(st);
}

/* Installs r as the global default with st published for it; the registry is consumed. */
static int install(trace_registry *r, installed *st) {
  trace_dispatch *d = trace_registry_dispatch(r); /* frees r on failure */
  if (!d) {
    forget(st);
    return TRACE_ENOMEM;
  }
  installed *expected = NULL;
  if (trace_dispatch_on_destroy(d, forget, st) != 0) {
    forget(st);
    trace_dispatch_release(d);
    return TRACE_ENOMEM;
  }
  /* Another trace_init racing this one: the global default is or will be theirs. */
  if (!__atomic_compare_exchange_n(&current, &expected, st, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    trace_dispatch_release(d); /* destroyed: forget(st) */
    return TRACE_EEXIST;
  }
  int rc = trace_set_global_default(d);
  trace_dispatch_release(d); /* on failure the last reference: destroyed, forget(st) runs */
  return rc;
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
  TRACE__KEEP_ERRNO();
  trace_writer *writer = o->fmt.writer;
  if (trace_global_default()) {
    trace_writer_free(writer);
    return TRACE_EEXIST;
  }
  const char *spec = o->filter;
  if (!spec) {
    spec = getenv("TRACE_FILTER");
    if (!spec || !*spec)
      spec = o->default_filter ? o->default_filter : "info"; /* tracing's would be ERROR */
  }
  trace_env_filter *f = NULL;
  if (o->strict_filter) {
    int rc = trace_env_filter_parse(spec, &f, o->filter_error);
    if (rc != 0) {
      trace_writer_free(writer);
      return rc;
    }
  } else {
    f = trace_env_filter_parse_lossy(spec);
    if (!f) {
      trace_writer_free(writer);
      return TRACE_ENOMEM;
    }
  }
  trace_fmt_options fmt = o->fmt;
  if (!fmt.writer)
    fmt.writer = trace_writer_stderr(); /* made here to be known here (NULL: the layer fails) */
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
    return valid ? TRACE_ENOMEM : TRACE_EINVAL;
  }
  trace_registry_set_filter(r, trace_env_filter_as_filter(f));
  int rc = trace_registry_add_layer(r, layer, NULL);
  if (rc == 0)
    rc = trace__init_extension_layers(r); /* e.g. OTLP, when libtrace_otlp is linked */
  installed *st = rc == 0 ? trace__malloc(sizeof *st) : NULL;
  if (!st) {
    trace_registry_free(r);
    trace_env_filter_release(f);
    return rc ? rc : TRACE_ENOMEM;
  }
  st->filter = f;
  st->writer = writer;
  rc = install(r, st);
  return rc;
}

trace_writer_stats trace_init_writer_stats(void) {
  installed *st = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
  return trace_writer_get_stats(st ? st->writer : NULL); /* NULL: zeros */
}

trace_env_filter *trace_init_filter(void) {
  installed *st = __atomic_load_n(&current, __ATOMIC_ACQUIRE);
  return st ? st->filter : NULL;
}
