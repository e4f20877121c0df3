/* OTLP export: spans and events sent to an OpenTelemetry Collector, Jaeger, Tempo, Honeycomb or
 * anything else that speaks OTLP/HTTP, configured by the OpenTelemetry environment variables.
 * A separate library: link libtrace_otlp (CMake trace::otlp, pkg-config trace-otlp), which needs
 * libcurl; libtrace itself keeps no dependency.
 *
 * The one-line way: link the library and set the endpoint; trace_init() adds the layer.
 *
 *   $ OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=shop ./app
 *
 * Or in code, next to other layers:
 *
 *   trace_otlp_options o;
 *   trace_otlp_options_init(&o);
 *   trace_otlp_options_from_env(&o);          // optional: OTEL_* override the defaults
 *   o.endpoint = "http://collector:4318";     // and code overrides both
 *   o.service_name = "shop";
 *   trace_registry_add_layer(r, trace_otlp_layer_new(&o, NULL, NULL), NULL);
 *
 * What is sent (docs/collector.md has the full mapping): each closed span the layer's filter
 * enabled becomes an OTLP span (name, ids, parent, kind, start and end in Unix ns, its fields as
 * typed attributes, code.namespace = target, code.filepath, code.lineno, thread.id, thread.name,
 * busy_ns and idle_ns, the events inside it as span events, status ERROR when an ERROR event
 * happened inside; otel.name, otel.kind, otel.status_code and otel.status_message fields override
 * as in tracing-opentelemetry); each event becomes an OTLP log record with its severity, message,
 * fields and the trace and span id of its span.
 *
 * Cost on the instrumented threads: each thread appends its finished spans and events to a
 * buffer of its own (no lock, no allocation, no system call); a background thread batches and
 * exports them. When a buffer is full (the collector is down or slow and the exporter's queue is
 * full), new records are dropped and counted, never waited for: see trace_otlp_get_stats(); the
 * first drop is reported on stderr once, the totals at shutdown.
 *
 * Sampling: the layer samples root spans as OTEL_TRACES_SAMPLER says (default parentbased
 * always_on); a span whose remote parent was not sampled is not exported, and its children
 * neither (see <trace/context.h>). Events are exported as logs whatever the sampling.
 *
 * Export: batches of up to max_export_batch_size records, at least every schedule_delay_ms;
 * each request times out after the signal's timeout; failed requests are retried with
 * exponential backoff and jitter, only on HTTP 429, 502, 503, 504 and connection errors, for at
 * most export_timeout_ms per batch, waiting at least what a Retry-After header asks. Other
 * failures drop the batch (counted). trace_shutdown() flushes what is queued and gives up after
 * shutdown_timeout_ms. After fork(), the child starts an exporter of its own on its first span;
 * what the parent had queued is the parent's to send.
 *
 * Threads: the layer's callbacks may run on any thread; the exporter thread blocks every signal
 * and never calls back into instrumented code. */
#ifndef TRACE_OTLP_H
#define TRACE_OTLP_H

#include "collector.h"
#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum trace_otlp_protocol {
  TRACE_OTLP_HTTP_PROTOBUF = 0, /* "http/protobuf": the default */
  TRACE_OTLP_HTTP_JSON = 1,     /* "http/json" */
  TRACE_OTLP_GRPC = 2           /* "grpc": not supported (use port 4318 and HTTP) */
} trace_otlp_protocol;

typedef enum trace_otlp_compression {
  TRACE_OTLP_COMPRESSION_NONE = 0,
  TRACE_OTLP_COMPRESSION_GZIP = 1
} trace_otlp_compression;

/* OTEL_TRACES_SAMPLER values. */
typedef enum trace_otlp_sampler {
  TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_ON = 0, /* the default */
  TRACE_OTLP_SAMPLER_ALWAYS_ON = 1,
  TRACE_OTLP_SAMPLER_ALWAYS_OFF = 2,
  TRACE_OTLP_SAMPLER_TRACEIDRATIO = 3,
  TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF = 4,
  TRACE_OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO = 5
} trace_otlp_sampler;

/* Options. Strings are copied by trace_otlp_layer_new; NULL means "not set". The comment of each
 * field names the variable trace_otlp_options_from_env reads into it. */
typedef struct trace_otlp_options {
  uint32_t struct_size; /* sizeof(trace_otlp_options), set by trace_otlp_options_init */
  /* OTEL_EXPORTER_OTLP_ENDPOINT: base URL, e.g. http://localhost:4318; the signals' paths
   * /v1/traces and /v1/logs are appended. */
  const char *endpoint;
  const char *traces_endpoint; /* OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: full URL, used as is */
  const char *logs_endpoint;   /* OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: full URL, used as is */
  /* OTEL_EXPORTER_OTLP_HEADERS and _TRACES_HEADERS / _LOGS_HEADERS: "key=value,key2=value2",
   * values percent-decoded; a signal's own headers win over the common ones. */
  const char *headers;
  const char *traces_headers;
  const char *logs_headers;
  int traces_protocol, logs_protocol;       /* OTEL_EXPORTER_OTLP_[TRACES_|LOGS_]PROTOCOL */
  uint32_t traces_timeout_ms, logs_timeout_ms; /* OTEL_EXPORTER_OTLP_[..._]TIMEOUT; 10000 */
  int traces_compression, logs_compression; /* OTEL_EXPORTER_OTLP_[..._]COMPRESSION: none/gzip */
  bool export_traces; /* OTEL_TRACES_EXPORTER=otlp (default) or none */
  bool export_logs;   /* OTEL_LOGS_EXPORTER=otlp (default) or none: events as log records */
  /* OTEL_SERVICE_NAME; default "unknown_service:<program name>" */
  const char *service_name;
  /* OTEL_RESOURCE_ATTRIBUTES: "key=value,..." added to the resource (service.name from
   * service_name wins). */
  const char *resource_attributes;
  int sampler;         /* OTEL_TRACES_SAMPLER: trace_otlp_sampler */
  double sampler_arg;  /* OTEL_TRACES_SAMPLER_ARG: the ratio of the *traceidratio samplers, 1.0 */
  uint32_t schedule_delay_ms;     /* OTEL_BSP_SCHEDULE_DELAY: 5000 */
  uint32_t export_timeout_ms;     /* OTEL_BSP_EXPORT_TIMEOUT: 30000, a batch with its retries */
  uint32_t max_queue_size;        /* OTEL_BSP_MAX_QUEUE_SIZE: 2048 records waiting to export */
  uint32_t max_export_batch_size; /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 512, at most the queue */
  bool disabled;                  /* OTEL_SDK_DISABLED=true: trace_otlp_layer_new refuses */
  /* Not from the environment: */
  /* busy_ns / idle_ns attributes: default false. They take a clock read and a lock at every
   * enter and exit (measured: span_lifecycle_otlp 200 -> 320 ns on the benchmark machine), which
   * is why they are not on by default here (tracing-opentelemetry's are). */
  bool track_inactivity;
  uint32_t retry_initial_ms;      /* first backoff: 1000; doubled up to retry_max_ms */
  uint32_t retry_max_ms;          /* 30000 */
  uint32_t shutdown_timeout_ms;   /* what trace_shutdown waits at most to flush: 5000 */
  uint32_t max_events_per_span;   /* span events kept per span: 128; more are counted */
  uint32_t max_value_len;         /* bytes of a string value or message: 4096; cut beyond */
  size_t thread_buffer_size;      /* each thread's buffer: 256 KiB; 4 KiB to 1 GiB, rounded up to a
                                     power of two */
  /* For benchmarks: drain and count what threads buffer, encode and send nothing (measures the
   * instrumented threads' side alone). */
  bool discard;
} trace_otlp_options;

/* The defaults above (no endpoint: nothing is exported until one is set). */
TRACE_API void trace_otlp_options_init(trace_otlp_options *o);

/* Reads the OTEL_* variables named above into o (unset ones leave o alone). A bad value (not a
 * number, out of range, an unknown word) leaves the field alone and writes one warning on stderr
 * naming the variable, the value and the default used. The pointers stored point into the
 * environment: create the layer before changing it. Returns how many values were bad, or
 * TRACE_EINVAL for a NULL or uninitialised o. */
TRACE_API int trace_otlp_options_from_env(trace_otlp_options *o);

/* An exporter: the layer's state, its thread and its counters. Reference counted. */
typedef struct trace_otlp trace_otlp;

/* A layer exporting to the endpoints of o (add it to a registry; it owns its exporter). Starts
 * the exporter thread. When exporter is not NULL, *exporter receives a reference for
 * trace_otlp_get_stats / trace_otlp_flush, released with trace_otlp_release (it stays valid,
 * with its final counts, after the layer is gone). Returns NULL and sets *error (when error is
 * not NULL): TRACE_EINVAL for NULL or uninitialised options, a URL that is not http:// or
 * https://, no endpoint for any signal, or bad numbers; TRACE_ENOTSUP for the grpc protocol or
 * OTEL_SDK_DISABLED (o->disabled); TRACE_ENOMEM; TRACE_EIO if the thread cannot start. The
 * reason is also written to stderr. */
TRACE_API trace_layer *trace_otlp_layer_new(const trace_otlp_options *o, trace_otlp **exporter,
                                            int *error);

typedef struct trace_otlp_stats {
  uint64_t spans_exported; /* accepted by the receiver */
  uint64_t spans_dropped;  /* a thread's buffer was full (the exporter could not keep up) */
  uint64_t spans_failed;   /* in batches that failed for good (after retries, or not retryable) */
  uint64_t logs_exported, logs_dropped, logs_failed; /* the same for events sent as logs */
  uint64_t span_events_dropped; /* over max_events_per_span, or evicted while held */
  uint64_t requests;            /* HTTP requests made, retries included */
  uint64_t retries;
  int32_t last_status; /* HTTP status of the last response, 0 if none (connection error) */
} trace_otlp_stats;

/* The counts so far (zeros for NULL). */
TRACE_API trace_otlp_stats trace_otlp_get_stats(const trace_otlp *x);

/* An exporter without a layer, to be fed by a collector (trace_otlp_attach): starts the exporter
 * thread; *out receives a reference (release with trace_otlp_release). The last reference (yours
 * or a collector's) stops the thread, exporting what is queued first (at most
 * shutdown_timeout_ms). Returns 0 or the errors of trace_otlp_layer_new (*out is then NULL),
 * TRACE_EINVAL for a NULL out. */
TRACE_API int trace_otlp_new(const trace_otlp_options *o, trace_otlp **out);

/* Makes the collector created with o export its spans and events through x: sets
 * TRACE_COLLECTOR_CONTEXT in o->flags, o->sample and o->sample_arg (x's sampler,
 * OTEL_TRACES_SAMPLER; NULL for the default parentbased_always_on, which the collector applies
 * by itself) and o->sink (a sink of its own for this collector: it takes finished spans and
 * events on the collector's reporter thread and holds a reference to x). The collector owns the
 * sink from trace_collector_new on (also when that fails); when it is freed, the sink exports
 * what it was handed (at most shutdown_timeout_ms) and releases x. The cheapest way to export:
 * the collector alone is the subscriber, no registry between (docs/collector.md, "The cheapest
 * path"). o must be a STREAM collector's options; the outputs (Chrome, folded) may be set as
 * well. Spans not sampled are not exported, nor any span of a collector used as a registry
 * layer (it keeps no contexts); events go as logs as with the layer. Returns 0,
 * TRACE_EINVAL for NULL, uninitialised or FLIGHT options, TRACE_EBUSY when o->sink is set
 * already (o is then untouched), TRACE_ECLOSED for an exporter whose layer is gone,
 * TRACE_ENOMEM. */
TRACE_API int trace_otlp_attach(trace_otlp *x, trace_collector_options *o);

/* Exports everything the instrumented threads had finished before the call and waits for it,
 * at most timeout_ms. Returns 0, TRACE_EBUSY on time-out, TRACE_ECLOSED once the layer is gone,
 * TRACE_EINVAL for NULL. Must not be called from a layer callback. */
TRACE_API int trace_otlp_flush(trace_otlp *x, uint32_t timeout_ms);

/* Drops a reference from trace_otlp_layer_new, trace_otlp_new or trace_otlp_installed. NULL is a
 * no-op. */
TRACE_API void trace_otlp_release(trace_otlp *x);

/* The exporter trace_init() added (a new reference), or NULL if it added none. */
TRACE_API trace_otlp *trace_otlp_installed(void);

#ifdef __cplusplus
}
#endif

#endif
