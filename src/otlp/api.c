/* The public functions of libtrace_otlp: making the layer, counts, flush, references; and the
 * registration with trace_init() (a constructor: linking the library is enough). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "internal.h"
#include "trace/fmt.h"

static void destroy_exporter(trace_otlp *x) {
  trace__otlp_conf_free(&x->conf);
  trace__otlp_sites_free(x);
  trace__mutex_destroy(&x->sites_lock);
  trace__mutex_destroy(&x->rings_lock);
  trace__mutex_destroy(&x->lock);
  pthread_cond_destroy(&x->cond);
  trace__free_lines(x);
}

void trace_otlp_release(trace_otlp *x) {
  if (!x)
    return;
  TRACE__KEEP_ERRNO();
  if (__atomic_sub_fetch(&x->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  /* An exporter of trace_otlp_new has no layer whose destruction stops its thread: the last
   * reference does (flushing what is queued, as a layer's shutdown does). */
  if (!__atomic_load_n(&x->shut, __ATOMIC_ACQUIRE))
    trace__otlp_shutdown(x);
  destroy_exporter(x);
}

/* An exporter for o with its thread started, refs 1; *out NULL and an error code on failure
 * (the reason written to stderr). What trace_otlp_layer_new and trace_otlp_new share. */
static int exporter_new(const trace_otlp_options *o, trace_otlp **out) {
  *out = NULL;
  if (!o || o->struct_size != sizeof *o)
    return TRACE_EINVAL;
  trace_otlp *x = trace__alloc_lines(sizeof *x);
  if (!x)
    return TRACE_ENOMEM;
  int rc = trace__otlp_conf_resolve(&x->conf, o);
  if (rc != 0) {
    if (rc == TRACE_ENOTSUP && o->disabled)
      trace__otlp_warn("OTEL_SDK_DISABLED is true: no exporter made");
    else if (rc == TRACE_EINVAL)
      trace__otlp_warn("invalid options: no exporter made");
    trace__free_lines(x);
    return rc;
  }
  x->refs = 1;
  x->conf.tsc = trace__otlp_tsc_usable();
  x->clock.tsc = x->conf.tsc;
  trace__otlp_clock_init(&x->clock);
  trace__mutex_init(&x->sites_lock, TRACE__MUTEX_INNER);
  trace__mutex_init(&x->rings_lock, TRACE__MUTEX_INNER);
  trace__mutex_init(&x->lock, TRACE__MUTEX_INNER);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&x->cond, &attr);
  pthread_condattr_destroy(&attr);
  trace__otlp_held_init(&x->held, (size_t)x->conf.max_queue_size * 4);
  trace__buf_init_growable(&x->body, (size_t)256 << 20);
  x->http = x->conf.discard ? NULL : trace__otlp_http_new();
  if (!x->conf.discard && !x->http) {
    trace__otlp_warn("libcurl could not be initialised: no exporter made");
    trace__buf_free(&x->body);
    destroy_exporter(x);
    return TRACE_ENOMEM;
  }
  trace__otlp_exporters_register(x);
  x->fork_gen = TRACE__LOAD(&trace__otlp_fork_gen);
  if (trace__otlp_start(x) != 0) {
    trace__otlp_warn("cannot start the exporter thread: no exporter made");
    trace__otlp_exporters_unregister(x);
    trace__otlp_http_free(x->http);
    trace__buf_free(&x->body);
    destroy_exporter(x);
    return TRACE_EIO;
  }
  *out = x;
  return 0;
}

trace_layer *trace_otlp_layer_new(const trace_otlp_options *o, trace_otlp **exporter, int *error) {
  if (exporter)
    *exporter = NULL;
  TRACE__KEEP_ERRNO();
  trace_otlp *x;
  int rc = exporter_new(o, &x);
  trace_layer *layer = rc == 0 ? trace__otlp_layer(x) : NULL; /* on failure its destroy released x */
  if (rc == 0 && !layer)
    rc = TRACE_ENOMEM;
  if (error)
    *error = rc;
  if (layer && exporter) {
    __atomic_add_fetch(&x->refs, 1, __ATOMIC_RELAXED);
    *exporter = x;
  }
  return layer;
}

int trace_otlp_new(const trace_otlp_options *o, trace_otlp **out) {
  if (!out)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  return exporter_new(o, out);
}

trace_otlp_stats trace_otlp_get_stats(const trace_otlp *x) {
  trace_otlp_stats s;
  memset(&s, 0, sizeof s);
  if (!x)
    return s;
#define GET(f) s.f = __atomic_load_n(&x->stats.f, __ATOMIC_RELAXED)
  GET(spans_exported);
  GET(spans_dropped);
  GET(spans_failed);
  GET(logs_exported);
  GET(logs_dropped);
  GET(logs_failed);
  GET(span_events_dropped);
  GET(requests);
  GET(retries);
  GET(last_status);
#undef GET
  return s;
}

int trace_otlp_flush(trace_otlp *x, uint32_t timeout_ms) {
  if (!x)
    return TRACE_EINVAL;
  if (__atomic_load_n(&x->shut, __ATOMIC_ACQUIRE))
    return TRACE_ECLOSED;
  TRACE__KEEP_ERRNO();
  int rc = trace__otlp_flush_wait(x, timeout_ms);
  return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* trace_init. */

static pthread_mutex_t installed_lock = PTHREAD_MUTEX_INITIALIZER;
static trace_otlp *installed;

trace_otlp *trace_otlp_installed(void) {
  pthread_mutex_lock(&installed_lock);
  trace_otlp *x = installed;
  if (x)
    __atomic_add_fetch(&x->refs, 1, __ATOMIC_RELAXED);
  pthread_mutex_unlock(&installed_lock);
  return x;
}

/* What trace_init() asks: a layer when an endpoint for traces is configured, else nothing. */
static trace_layer *init_factory(void *arg) {
  (void)arg;
  const char *ep = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  const char *tep = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  if ((!ep || !*ep) && (!tep || !*tep))
    return NULL;
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  trace_otlp_options_from_env(&o);
  if (o.disabled)
    return NULL;
  trace_otlp *x = NULL;
  trace_layer *layer = trace_otlp_layer_new(&o, &x, NULL);
  if (!layer)
    return NULL;
  pthread_mutex_lock(&installed_lock);
  trace_otlp *old = installed;
  installed = x;
  pthread_mutex_unlock(&installed_lock);
  trace_otlp_release(old);
  return layer;
}

/* Linking the library is what enables it. Its CMake targets and pkg-config file see that the
 * link keeps it though the application calls nothing of it: the shared library is linked
 * without --as-needed, and static links reference trace_otlp_installed (in this file, so this
 * constructor comes along). */
__attribute__((constructor)) static void register_with_init(void) {
  trace_init_add_layer_factory("otlp", init_factory, NULL);
}
