/* The fmt layer: formats events, with the spans they happened in, as lines of text or JSON
 * that users of Rust's tracing-subscriber recognise, and writes them out; and trace_init(), the
 * one-line start.
 *
 * Full (default), with timestamps and colours off:
 *    INFO server{name="serve" local="[::1]:3000"}:request{req.path="/z"}: load: received request version="HTTP/1.1"
 * Compact:
 *    INFO server:request: load: received request version="HTTP/1.1" name="serve" local="[::1]:3000" req.path="/z"
 * Pretty: several lines per event ("at file:line on thread", "in span with fields").
 * JSON: one object per line, always valid RFC 8259 with unique keys:
 *   {"timestamp":"...","level":"INFO","fields":{"message":"...","k":1},"target":"load",
 *    "span":{"req.path":"/z","name":"request"},"spans":[{...,"name":"server"},{...}]}
 *
 * Safety of the text: no control character other than the final newline ever reaches the output
 * (a value containing "\nERROR forged line" stays on its line, escaped); invalid UTF-8 is escaped;
 * each value and the message are cut at max_value_len bytes with a visible marker
 * "...[N more bytes]"; a line never exceeds 1 MiB. */
#ifndef TRACE_FMT_H
#define TRACE_FMT_H

#include "env_filter.h"
#include "registry.h"
#include "writer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum trace_fmt_format {
  TRACE_FMT_FULL = 0,
  TRACE_FMT_COMPACT = 1,
  TRACE_FMT_PRETTY = 2,
  TRACE_FMT_JSON = 3
} trace_fmt_format;

typedef enum trace_fmt_color {
  TRACE_FMT_COLOR_AUTO = 0, /* on when the writer is a terminal and NO_COLOR is unset */
  TRACE_FMT_COLOR_NEVER = 1,
  TRACE_FMT_COLOR_ALWAYS = 2
} trace_fmt_color;

typedef enum trace_fmt_time {
  TRACE_FMT_TIME_UTC = 0,    /* RFC 3339, UTC, microseconds: 2022-02-15T18:40:14.290011Z */
  TRACE_FMT_TIME_LOCAL = 1,  /* RFC 3339, local time with offset: ...14.290011+01:00 */
  TRACE_FMT_TIME_UPTIME = 2, /* seconds since the layer was created:    1.234567890s */
  TRACE_FMT_TIME_NONE = 3
} trace_fmt_time;

/* Synthetic events for span lifecycles (tracing's FmtSpan), at the span's level, with the
 * message "new", "enter", "exit" or "close"; close carries time.busy and time.idle unless time
 * is TRACE_FMT_TIME_NONE (as in tracing, whose without_time() drops them too; set
 * span_timing_always to keep them). */
enum {
  TRACE_FMT_SPAN_NEW = 1,
  TRACE_FMT_SPAN_ENTER = 2,
  TRACE_FMT_SPAN_EXIT = 4,
  TRACE_FMT_SPAN_CLOSE = 8,
  TRACE_FMT_SPAN_ACTIVE = TRACE_FMT_SPAN_ENTER | TRACE_FMT_SPAN_EXIT,
  TRACE_FMT_SPAN_FULL = 15
};

typedef struct trace_fmt_options {
  uint32_t struct_size; /* sizeof(trace_fmt_options), set by trace_fmt_options_init */
  int format;           /* trace_fmt_format */
  int color;            /* trace_fmt_color */
  int time;             /* trace_fmt_time */
  bool show_level;      /* default true */
  bool show_target;     /* default true */
  bool show_thread_ids; /* ThreadId(NN): 01 is the main thread; default false */
  bool show_thread_names; /* "main" for the main thread, else the OS name; default false */
  bool show_file;       /* default false */
  bool show_line;       /* default false */
  bool json_current_span; /* JSON "span": default true */
  bool json_span_list;  /* JSON "spans": default true */
  unsigned span_events; /* TRACE_FMT_SPAN_*; default 0 */
  bool span_timing_always; /* close's time.busy/time.idle also with time NONE; default false */
  size_t max_value_len; /* per value and message; default 4096; 0: the default */
  trace_writer *writer; /* owned by the layer from now on; NULL: stderr */
} trace_fmt_options;

/* The defaults above. */
TRACE_API void trace_fmt_options_init(trace_fmt_options *o);
/* tracing-subscriber's .pretty(): format TRACE_FMT_PRETTY with show_file and show_line on, so
 * that each event has its "at file:line" line. (Setting format alone keeps the other options as
 * they are.) o NULL: nothing. */
TRACE_API void trace_fmt_options_pretty(trace_fmt_options *o);
/* Applies the environment on top of o: TRACE_FORMAT=full|compact|pretty|json (any case; pretty
 * as trace_fmt_options_pretty) and NO_COLOR (set and non-empty: colours off). Returns 0, or
 * TRACE_EINVAL for an unknown TRACE_FORMAT (o unchanged for that variable). */
TRACE_API int trace_fmt_options_from_env(trace_fmt_options *o);

/* A fmt layer for a registry (trace_registry_add_layer). o NULL: defaults. The writer in o, if
 * any, is owned by the layer, also on failure (NULL: out of memory or invalid options such as an
 * unknown format) -- except when o->struct_size is not sizeof(trace_fmt_options): then o cannot
 * be read at all, NULL is returned and the writer stays the caller's. */
TRACE_API trace_layer *trace_fmt_layer_new(const trace_fmt_options *o);

/* ---------------------------------------------------------------------------------------- */
/* The one-line start: a registry, an env-filter from TRACE_FILTER (INFO when unset or empty; bad
 * directives are reported on stderr and skipped), and a fmt layer writing to stderr configured
 * from the environment, installed as the global default. Returns 0; TRACE_EEXIST if a global
 * default is set already; TRACE_ENOMEM. Never exits or aborts. */
TRACE_API int trace_init(void);

typedef struct trace_init_options {
  uint32_t struct_size; /* sizeof(trace_init_options), set by trace_init_options_init */
  const char *filter;   /* directives; NULL: TRACE_FILTER, else default_filter */
  const char *default_filter; /* used when filter is NULL and TRACE_FILTER unset or empty (as
                                 EnvFilter::try_from_default_env().unwrap_or_else(...)); NULL:
                                 "info". RUST_LOG is never read. */
  bool strict_filter;   /* a bad directive fails trace_init_with (TRACE_EPARSE) instead of
                           being skipped with a warning */
  trace_filter_error *filter_error; /* where to describe a strict failure; may be NULL */
  trace_fmt_options fmt; /* defaults + environment after trace_init_options_init */
} trace_init_options;
TRACE_API void trace_init_options_init(trace_init_options *o);
/* Like trace_init with options. The writer in o->fmt is owned by libtrace from now on, also on
 * failure -- except for TRACE_EINVAL from a NULL o or a struct_size that is not ours (o cannot be
 * read then). Returns 0, TRACE_EEXIST, TRACE_EPARSE, TRACE_EINVAL, TRACE_ENOMEM. */
TRACE_API int trace_init_with(const trace_init_options *o);

/* The env-filter that trace_init installed (a borrowed handle, valid until trace_shutdown), or
 * NULL. Reload it at run time with trace_env_filter_reload. */
TRACE_API trace_env_filter *trace_init_filter(void);

/* The counters of the writer trace_init set up (stderr unless o->fmt.writer said otherwise):
 * lines lost to write errors and the last error, as trace_writer_get_stats. Zeros before
 * trace_init and after trace_shutdown (read them before shutting down; not concurrently with
 * trace_shutdown). */
TRACE_API trace_writer_stats trace_init_writer_stats(void);

/* Extensions of trace_init: a library that provides an output (libtrace_otlp does, see
 * <trace/otlp.h>) registers a factory, normally from a constructor so that linking the library
 * is enough. trace_init and trace_init_with call every registered factory after making the fmt
 * layer and add each layer one returns (NULL: nothing to add, e.g. not configured) with no
 * filter of its own, under the env-filter. name identifies the factory: registering a name twice
 * returns TRACE_EEXIST and changes nothing; TRACE_EINVAL for NULL name or fn; TRACE_ERANGE past
 * 8 factories. name must outlive the process (a literal). fn runs on the thread calling
 * trace_init, not from inside a subscriber callback. */
typedef trace_layer *(*trace_init_layer_fn)(void *arg);
TRACE_API int trace_init_add_layer_factory(const char *name, trace_init_layer_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif
