/* The collector: span and event collection at the floor, turned into pictures people read at a
 * glance -- Chrome/Perfetto timelines and flame graphs -- or kept in memory as a flight recorder.
 *
 * Spans and events are recorded as compact binary records (the callsite's metadata pointer, span
 * ids, a timestamp, the raw field values: numbers inline, strings copied up to a bound) into a
 * ring owned by the recording thread: no lock, no allocation and no system call on the caller's
 * path once the thread has its ring. What happens to the records depends on the mode:
 *
 *   STREAM  a background reporter thread reads every thread's ring in batches and writes the
 *           outputs: a Chrome Trace Event JSON file (chrome://tracing, ui.perfetto.dev,
 *           speedscope) and/or folded stacks (flamegraph.pl, inferno, speedscope).
 *   FLIGHT  the rings keep the last N MiB of records, overwritten in place, and nothing is
 *           written until a dump (trace_flight_dump, trace_collector_dump, or a signal the
 *           application routes to trace_flight_dump_request).
 *
 * The collector works two ways:
 *
 *   // 1. Alone: the fastest span path (its own span ids, entered stacks and reference counts).
 *   trace_collector_options o;
 *   trace_collector_options_init(&o);
 *   o.chrome_path = "trace.json";
 *   trace_collector *c;
 *   if (trace_collector_new(&o, &c) == 0 && trace_collector_install(c) == 0) { ... }
 *   ...
 *   trace_shutdown();   // drains every thread's ring, completes the file
 *
 *   // 2. As a registry layer, next to fmt and under filters.
 *   trace_registry_add_layer(r, trace_collector_layer(c), trace_filter_level(TRACE_LEVEL_DEBUG));
 *
 * What the outputs contain, how timestamps are taken, and what each costs: docs/timeline.md. */
#ifndef TRACE_COLLECTOR_H
#define TRACE_COLLECTOR_H

#include "context.h"
#include "registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trace_collector trace_collector;

typedef enum trace_collector_mode {
  TRACE_COLLECTOR_STREAM = 0, /* a reporter thread writes the outputs as records come in */
  TRACE_COLLECTOR_FLIGHT = 1  /* records stay in memory, overwritten; written only by a dump */
} trace_collector_mode;

typedef enum trace_collector_clock {
  TRACE_COLLECTOR_CLOCK_AUTO = 0,      /* the TSC when it is invariant, else CLOCK_MONOTONIC */
  TRACE_COLLECTOR_CLOCK_MONOTONIC = 1, /* clock_gettime(CLOCK_MONOTONIC) for every timestamp */
  TRACE_COLLECTOR_CLOCK_CUSTOM = 2     /* clock_fn: simulations, replay, deterministic tests */
} trace_collector_clock;

/* What a folded stack line's number measures. */
typedef enum trace_folded_time {
  TRACE_FOLDED_BUSY = 0, /* time the span was entered and none of its children was (self time) */
  TRACE_FOLDED_WALL = 1  /* creation to close, less the children's creation-to-close */
} trace_folded_time;

enum {
  /* Two more clock readings per span, at creation and at close, for exact lifetimes of spans
   * created long before they are entered or closed long after their last exit. Without it,
   * creation takes the time of the span's first enter and close the time of its last exit when
   * they follow each other on the thread with no record between (docs/timeline.md). */
  TRACE_COLLECTOR_EXACT_LIFETIMES = 1,
  /* Every span gets a trace context (<trace/context.h>) when the collector is used alone: a
   * 64-bit span id and the 128-bit trace id of its trace (a root draws a new one, a child
   * inherits its parent's, a span made with TRACE_SPAN_FROM continues the remote trace or starts
   * a new one), the tracestate it continues, and the sampled flag (see sample below).
   * trace_span_context() reads it, records carry it, sinks receive it. As a registry layer the
   * collector has no contexts of its own (the registry's serve its layers). */
  TRACE_COLLECTOR_CONTEXT = 2
};

/* A span the reporter has finished with (STREAM mode), handed to a sink. Every pointer is valid
 * during the callback only: copy what you keep. A span whose creation record and enters were all
 * lost (a full ring: stats.records_dropped) is not handed over: nothing says what it was. */
typedef struct trace_collector_span {
  const trace_metadata *meta; /* the callsite: name, target, file, line, level, field names */
  /* Its values: those given at creation, then those recorded later (trace_span_record) in the
   * order they were recorded (a field recorded twice appears twice: the last one wins). index
   * is set. Strings are cut to string_bytes (truncated then says so). A FMT value arrives as
   * DISPLAY, its text (the callback lived only during the call that recorded it). A span
   * recorded over and over keeps at most 128 values: past that, the earlier values of fields
   * recorded again are let go. */
  trace_valueset fields;
  bool truncated;
  bool open;         /* still open at the end (trace_shutdown, the collector freed) */
  uint64_t id;        /* its id: the span handle's (trace_span.id), the registry's in a layer */
  uint64_t parent_id; /* its local parent's, 0 for none */
  /* Unix time (CLOCK_REALTIME) in ns: the collector's clock moved by the REALTIME - MONOTONIC
   * offset read at each reporting round (a step of the wall clock moves later spans, never a
   * span's duration). With TRACE_COLLECTOR_CLOCK_CUSTOM, the custom clock's nanoseconds as they
   * are. Without TRACE_COLLECTOR_EXACT_LIFETIMES, start is the first enter and end the last exit
   * when nothing was recorded between them on the thread (docs/timeline.md). For an open span,
   * end_ns is the time it was reported. */
  uint64_t start_ns, end_ns;
  /* busy: the time it was entered, summed over its enter-exit intervals on every thread (a
   * thread entering it again while inside adds nothing; two threads inside at once both count,
   * so busy may pass end - start). idle: end - start - busy, 0 when that is negative. */
  uint64_t busy_ns, idle_ns;
  uint32_t thread;           /* trace_thread_id() of the thread that created it */
  const char *thread_name;   /* that thread's name, "" when it has none */
  /* TRACE_COLLECTOR_CONTEXT: the span's context (its ids, flags, the tracestate it continues)
   * and its parent's span id in the trace (zeros for a root), which is a span of another
   * process when parent_remote is set. NULL context: the collector keeps no contexts. */
  const trace_context *context;
  uint8_t parent_span_id[8];
  bool parent_remote;
} trace_collector_span;

/* An event, as the reporter reads it (STREAM mode), handed to a sink. */
typedef struct trace_collector_event {
  const trace_metadata *meta;
  trace_valueset fields; /* index is set; strings cut to string_bytes */
  const char *message;   /* its formatted message (message_len bytes, cut to string_bytes), or
                            NULL when the callsite has none */
  size_t message_len;
  bool truncated;       /* a value or the message was cut */
  uint64_t time_ns;     /* Unix time in ns (the custom clock's ns as they are, as for spans) */
  uint64_t span_id;     /* the id of the span it happened in (as a span's id), 0 for none */
  uint32_t thread;      /* trace_thread_id() of the thread it happened on */
  const char *thread_name;
  /* TRACE_COLLECTOR_CONTEXT: the context of the span it happened in (NULL: none, or no
   * contexts kept). */
  const trace_context *context;
} trace_collector_event;

/* Where finished spans and events go besides the outputs (STREAM mode): an exporter (the OTLP
 * exporter through trace_otlp_attach, <trace/otlp.h>), a test, a custom format. Every callback
 * runs on the reporter thread, one at a time (only a collector without a reporter -- a forked
 * child that never recorded, one whose reporter could not start -- runs its last round on the
 * thread that frees it); a callback must not wait for instrumented threads and must not call
 * trace_collector_flush. Events reach the sink in each thread's order and before the span they
 * happened in is handed over (an event of another thread recorded at the very moment the span
 * closes may come in the next round); spans are handed over at the end of the reporting round in
 * which they closed, and those still open at the end with open set (children before their parents
 * as a rule: a parent closed first is handed over first). NULL callbacks are skipped. Flight dumps
 * never call a sink (a FLIGHT collector cannot have one). */
typedef struct trace_collector_sink {
  void (*span)(void *arg, const trace_collector_span *span);
  void (*event)(void *arg, const trace_collector_event *event);
  /* The end of a reporting round (every flush_interval_ms, trace_collector_flush, the end): what
   * was handed over so far may be sent on. */
  void (*round_end)(void *arg);
  /* The collector is being freed, after its last round: arg is not used again. */
  void (*close)(void *arg);
  void *arg;
} trace_collector_sink;

typedef struct trace_collector_options {
  uint32_t struct_size; /* sizeof(trace_collector_options), set by trace_collector_options_init */
  uint32_t mode;        /* trace_collector_mode; default STREAM */
  /* Bytes of each recording thread's ring, rounded up to a power of two, at least 16 KiB.
   * Default: 256 KiB in STREAM mode (a batch the reporter takes at a time), 1 MiB in FLIGHT. */
  size_t thread_buffer_bytes;
  /* FLIGHT: the memory all rings together may use (the "last N MiB"), default 64 MiB. Rings of
   * threads that exited are kept (their records are part of the history) and reused, oldest
   * first, when a new thread would go past this; a live thread always gets a ring. */
  size_t flight_bytes;
  /* STREAM: the Chrome Trace Event file (created or truncated), NULL for none. "%p" in the path
   * is replaced by the process id, so that a forked child writes its own file. */
  const char *chrome_path;
  /* STREAM: the Chrome file never grows past this many bytes (default 1 GiB); events past it are
   * counted (stats.events_dropped) and the file stays a complete document. */
  uint64_t chrome_max_bytes;
  /* STREAM: folded stacks ("a;b;c 1234", one line per stack and reporting round, summed by the
   * tools), NULL for none. "%p" as for chrome_path. */
  const char *folded_path;
  uint32_t folded_time;  /* trace_folded_time; default BUSY */
  bool folded_threads;   /* each stack starts with the thread's name (tracing-flame's default) */
  /* Strings (and formatted FMT values, and event messages) are copied up to this many bytes
   * (default 256, at most 1024); longer ones are cut and marked. */
  uint32_t string_bytes;
  int max_level;          /* the most verbose level recorded when used alone; default TRACE */
  uint32_t clock;         /* trace_collector_clock; default AUTO */
  uint64_t (*clock_fn)(void *arg); /* CUSTOM: nanoseconds; may go backwards (it is handled) */
  void *clock_arg;
  uint32_t flags;          /* TRACE_COLLECTOR_* */
  uint32_t flush_interval_ms; /* STREAM: the longest a record waits to be written; default 100 */
  const char *process_name;   /* Chrome's process_name; NULL: the program's name */
  /* FLIGHT: where dumps asked for with trace_flight_dump_request go. "%p" is the process id,
   * "%n" a dump counter. NULL: "trace-flight-%p-%n.json" in the working directory. */
  const char *request_path;
  /* TRACE_COLLECTOR_CONTEXT: decides whether a new span is sampled (its trace recorded, see
   * <trace/context.h>); trace_id is the span's, parent_flags its parent's trace flags (local or
   * remote), -1 for a root. Called on the creating thread for every span (keep it cheap; the
   * OTLP exporter's follows OTEL_TRACES_SAMPLER). NULL: a child keeps its parent's decision, a
   * root is sampled. */
  bool (*sample)(void *arg, const trace_span_attrs *attrs, const uint8_t trace_id[16],
                 int parent_flags);
  void *sample_arg;
  /* STREAM: finished spans and events also go to this sink (the struct is copied; NULL: none);
   * no output file is needed besides. The collector owns what arg holds from trace_collector_new
   * on: close runs once, when the collector is freed (after its last round), or before
   * trace_collector_new returns an error -- any error, for an o with the right struct_size,
   * including a FLIGHT o with a sink (TRACE_EINVAL). */
  const trace_collector_sink *sink;
} trace_collector_options;

/* Defaults, as documented above. NULL is a no-op. */
TRACE_API void trace_collector_options_init(trace_collector_options *o);

/* A new collector and its reporter thread; *out receives it (NULL on error). The output files
 * are created now, so that a bad path is an error here and not a silent loss later. Returns 0,
 * TRACE_EINVAL (NULL argument, struct_size not ours, a value out of range, CUSTOM without
 * clock_fn, a sink in FLIGHT mode), TRACE_EIO (an output file cannot be created: errno says
 * why), TRACE_ENOMEM, or TRACE_ENOTSUP (the reporter thread could not be started). */
TRACE_API int trace_collector_new(const trace_collector_options *o, trace_collector **out);

/* The collector as a subscriber of its own: what reaches the floor, with nothing between the
 * span macros and the rings. The dispatcher owns c from now on (c stays valid for the calls
 * below while the dispatcher lives). NULL for a NULL c or a c already given away, or out of
 * memory (then c is freed). */
TRACE_API trace_dispatch *trace_collector_dispatch(trace_collector *c);
/* trace_collector_dispatch + trace_set_global_default + release. 0 or an error code (c is
 * freed on error, as trace_registry_install). */
TRACE_API int trace_collector_install(trace_collector *c);
/* The collector as a registry layer (span ids, parents and filtering are the registry's). The
 * layer owns c from now on. NULL for a NULL c or a c already given away, or out of memory (then
 * c is freed). */
TRACE_API trace_layer *trace_collector_layer(trace_collector *c);
/* Frees a collector never given to a dispatcher or a layer; NULL is a no-op. */
TRACE_API void trace_collector_free(trace_collector *c);

/* STREAM: returns once every record made before the call, on every thread, is written to the
 * outputs (not fsync'ed). FLIGHT: nothing to do. 0, or TRACE_EINVAL for NULL, TRACE_EBUSY from
 * inside a subscriber callback (the reporter would wait for us). */
TRACE_API int trace_collector_flush(trace_collector *c);

/* Receives a dump's bytes in order; returns 0, or non-zero to stop the dump (TRACE_EIO). */
typedef int (*trace_collector_write_fn)(void *arg, const char *data, size_t len);

/* FLIGHT: writes what the rings hold as a Chrome trace: the last last_ns nanoseconds of it (0:
 * all), spans still open shown open (args "open": true, ending at the dump). Recording threads
 * are never stopped or waited for: each ring is copied and the part overwritten during the copy
 * left out. path is written as path.tmp.<pid> and renamed, so path is always a complete
 * document. c NULL: the flight recorder in use (the most recently created FLIGHT collector still
 * alive). 0, TRACE_EINVAL (NULL path), TRACE_ENOTSUP (c is a STREAM collector, or no flight
 * recorder is in use), TRACE_EIO (errno says why), TRACE_ENOMEM, TRACE_EBUSY (from inside a
 * subscriber callback). */
TRACE_API int trace_collector_dump(trace_collector *c, const char *path, uint64_t last_ns);
/* The same, to a callback (an HTTP response, a pipe). */
TRACE_API int trace_collector_dump_to(trace_collector *c, trace_collector_write_fn fn, void *arg,
                                      uint64_t last_ns);
/* trace_collector_dump(NULL, path, 0). */
TRACE_API int trace_flight_dump(const char *path);

/* Async-signal-safe: asks the flight recorder in use to dump to its request_path (see the
 * options); the reporter thread does it within flush_interval_ms. Returns 0, or TRACE_ENOTSUP if
 * no flight recorder is in use. Nothing else is touched, so a signal handler of the
 * application may call it:
 *
 *   static void on_usr2(int sig) { (void)sig; trace_flight_dump_request(); }
 *   ...  sigaction(SIGUSR2, &(struct sigaction){.sa_handler = on_usr2}, NULL);
 *
 * libtrace never installs a handler by itself; trace_flight_dump_on_signal does this one for
 * you when asked. */
TRACE_API int trace_flight_dump_request(void);
/* Opt-in: installs (sigaction, SA_RESTART) a handler for signo that calls
 * trace_flight_dump_request. The previous disposition is replaced; the application owns the
 * signal from then on. 0, or TRACE_EINVAL for a signal that cannot be caught. */
TRACE_API int trace_flight_dump_on_signal(int signo);

typedef struct trace_collector_stats {
  uint64_t bytes_recorded;   /* bytes of records written into the rings */
  uint64_t records_dropped;  /* STREAM: a thread's ring was full (the reporter fell behind) */
  uint64_t events_written;   /* Chrome events written */
  uint64_t events_dropped;   /* Chrome events past chrome_max_bytes or lost to write errors */
  uint64_t bytes_written;    /* to the outputs */
  uint64_t write_errors;     /* failed writes (the first one is also reported on stderr) */
  int last_error;            /* errno of the last failed write, 0 if none */
  uint64_t clock_backwards;  /* timestamps earlier than the previous one of their thread */
  uint64_t threads;          /* threads that recorded */
  uint64_t dumps;            /* dumps written */
  uint64_t dump_copy_ns_max; /* the longest copy of one ring during a dump */
  /* Records and values the reporter or a dump let go for lack of memory: a span whose creation
   * record was let go is not reported; a span or event whose values were (all or some) is, and
   * a sink receives it with truncated set. */
  uint64_t memory_drops;
} trace_collector_stats;
/* A snapshot of the counters; zeros for NULL. */
TRACE_API trace_collector_stats trace_collector_get_stats(trace_collector *c);

#ifdef __cplusplus
}
#endif

#endif
