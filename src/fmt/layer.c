/* The fmt layer: formats each event into this thread's reused buffer and hands the line to the
 * writer in one call; keeps each span's fields pre-formatted in its extension. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../common/clock.h"
#include "../common/thread.h"
#include "internal.h"

static void thread_free(void *p) {
  fmt_thread *t = p;
  trace__buf_free(&t->line);
  trace__buf_free(&t->scratch);
  trace__free_lines(t);
}

static void thread_init(void *p, void *arg) {
  fmt_thread *t = p;
  (void)arg;
  trace__buf_init_growable(&t->line, FMT_LINE_MAX);
  trace__buf_init_growable(&t->scratch, FMT_LINE_MAX);
  /* Most lines fit: made now, the buffer needs no allocation on a later event (the promise of
   * trace_thread_prepare to signal handlers). Out of memory, it grows on first use instead. */
  trace__buf_grow(&t->line, FMT_PREPARED_LINE);
}

/* The thread's first event: out of line, so that emit's common path needs no frame for it. */
static TRACE__NOINLINE fmt_thread *fmt_thread_make(fmt_layer *l) {
  return trace__local_make(l->key, sizeof(fmt_thread), thread_init, NULL);
}

static inline fmt_thread *fmt_thread_state(fmt_layer *l) {
  fmt_thread *t = trace__local_get(l->key);
  return TRACE__LIKELY(t != NULL) ? t : fmt_thread_make(l);
}

/* Formats and writes one line on the stack: when the thread's state or its line buffer cannot
 * be allocated (out of memory). Shorter lines, cut with the marker, but never an empty one and
 * nothing lost silently. Out of line: the hot path's frame does not carry the buffers. */
static TRACE__NOINLINE void emit_on_stack(fmt_layer *l, const trace_ctx *ctx, const fmt_line *line,
                                          const fmt_thread *t) {
  char text[FMT_STACK_LINE], scratch[FMT_STACK_SCRATCH];
  fmt_thread fallback;
  memset(&fallback, 0, sizeof fallback);
  if (t) /* keep the timestamp caches */
    memcpy(&fallback, t, sizeof fallback);
  trace__buf_init_fixed(&fallback.line, text, sizeof text);
  trace__buf_init_fixed(&fallback.scratch, scratch, sizeof scratch);
  trace__fmt_format_line(&fallback.line, l, &fallback, ctx, line); /* a fixed buffer: always whole */
  trace_writer_write(l->writer, fallback.line.data, fallback.line.len);
}

/* Formats and writes one line, in this thread's reused buffer. */
static TRACE__INLINE void emit(fmt_layer *l, const trace_ctx *ctx, const fmt_line *line) {
  if (TRACE__UNLIKELY(l->records)) {
    /* syslog, journald: they encode the event themselves; a text line would be wasted work. */
    trace_record rec = {sizeof rec, line->meta, line->ev, line->message, ctx, line->leaf, NULL, 0};
    trace_writer_write_record(l->writer, &rec);
    return;
  }
  fmt_thread *t = fmt_thread_state(l);
  if (TRACE__UNLIKELY(!t)) {
    emit_on_stack(l, ctx, line, NULL);
    return;
  }
  trace__buf *b = &t->line;
  b->len = 0;
  b->truncated = false;
  bool whole = line->leaf == NULL && line->site && line->site->has_head
                   ? trace__fmt_head_line(b, l, line)
                   : trace__fmt_format_line(b, l, t, ctx, line);
  if (TRACE__UNLIKELY(!whole)) {
    emit_on_stack(l, ctx, line, t);
    return;
  }
  trace_writer_write(l->writer, b->data, b->len); /* ends with its newline */
}

/* tracing's TimingDisplay: three significant digits, ns/µs/ms/s. */
static int format_duration(char *out, size_t cap, uint64_t ns) {
  static const char *const units[] = {"ns", "\xc2\xb5s", "ms", "s"};
  double v = (double)ns;
  for (int i = 0; i < 4; i++) {
    if (v < 10.0)
      return snprintf(out, cap, "%.2f%s", v, units[i]);
    if (v < 100.0)
      return snprintf(out, cap, "%.1f%s", v, units[i]);
    if (v < 1000.0 || i == 3)
      return snprintf(out, cap, "%.0f%s", v, units[i]);
    v /= 1000.0;
  }
  return 0;
}

static void span_event(fmt_layer *l, uint64_t id, const trace_ctx *ctx, const char *message) {
  const trace_span_ref *s = trace_ctx_span(ctx, id);
  if (!s)
    return;
  fmt_line line = {trace_span_ref_meta(s), NULL, message, s, NULL, NULL, NULL};
  char extra[96], extra_json[112];
  trace_span_timing timing;
  bool timing_shown = l->o.time != TRACE_FMT_TIME_NONE || l->o.span_timing_always;
  if (timing_shown && strcmp(message, "close") == 0 && trace_span_ref_timing(s, &timing)) {
    char busy[32], idle[32];
    format_duration(busy, sizeof busy, timing.busy_ns);
    format_duration(idle, sizeof idle, timing.idle_ns);
    snprintf(extra, sizeof extra,
             l->style == STYLE_PRETTY ? "time.busy: %s, time.idle: %s" : "time.busy=%s time.idle=%s",
             busy, idle);
    snprintf(extra_json, sizeof extra_json, "\"time.busy\":\"%s\",\"time.idle\":\"%s\"", busy, idle);
    line.extra = extra;
    line.extra_json = extra_json;
  }
  emit(l, ctx, &line);
}

static void fmt_on_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  fmt_layer *l = self;
  fmt_line line = {ev->meta, ev, NULL, trace_ctx_event_span(ctx, ev), NULL, NULL,
                   trace__fmt_site_get(l, ev->meta)};
  emit(l, ctx, &line);
}

/* The fields are formatted when an event first needs them (see fmt_ext): nothing to do here
 * unless span events are on. */
static void fmt_on_new_span(void *self, const trace_span_attrs *attrs, uint64_t id,
                            const trace_ctx *ctx) {
  fmt_layer *l = self;
  (void)attrs;
  if (l->o.span_events & TRACE_FMT_SPAN_NEW)
    span_event(l, id, ctx, "new");
}

/* A record makes the formatted fields stale; the next reader formats them again from the
 * registry's values: each field once, in declaration order, with its latest value. */
static void fmt_on_record(void *self, uint64_t id, const trace_valueset *values,
                          const trace_ctx *ctx) {
  (void)self;
  (void)values;
  fmt_ext *e = trace_span_ref_ext(trace_ctx_span(ctx, id), ctx);
  if (e && TRACE__LOAD(&e->ready))
    trace__fmt_ext_invalidate(e);
}

static void fmt_on_enter(void *self, uint64_t id, const trace_ctx *ctx) {
  fmt_layer *l = self;
  if (l->o.span_events & TRACE_FMT_SPAN_ENTER)
    span_event(l, id, ctx, "enter");
}

static void fmt_on_exit(void *self, uint64_t id, const trace_ctx *ctx) {
  fmt_layer *l = self;
  if (l->o.span_events & TRACE_FMT_SPAN_EXIT)
    span_event(l, id, ctx, "exit");
}

static void fmt_on_close(void *self, uint64_t id, const trace_ctx *ctx) {
  fmt_layer *l = self;
  if (l->o.span_events & TRACE_FMT_SPAN_CLOSE)
    span_event(l, id, ctx, "close");
  fmt_ext *e = trace_span_ref_ext(trace_ctx_span(ctx, id), ctx);
  if (e)
    trace__fmt_ext_release(e);
}

static void fmt_flush(void *self) { trace_writer_flush(((fmt_layer *)self)->writer); }

static void fmt_destroy(void *self) {
  fmt_layer *l = self;
  trace_writer_free(l->writer);
  trace__fmt_sites_free(l);
  trace__local_key_delete(l->key);
  trace__free_lines(l);
}

void trace_fmt_options_init(trace_fmt_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->format = TRACE_FMT_FULL;
  o->color = TRACE_FMT_COLOR_AUTO;
  o->time = TRACE_FMT_TIME_UTC;
  o->show_level = true;
  o->show_target = true;
  o->json_current_span = true;
  o->json_span_list = true;
  o->max_value_len = FMT_DEFAULT_VALUE_MAX;
}

void trace_fmt_options_pretty(trace_fmt_options *o) {
  if (!o)
    return;
  o->format = TRACE_FMT_PRETTY;
  o->show_file = true;
  o->show_line = true;
}

static bool env_is(const char *v, const char *want) { return strcasecmp(v, want) == 0; }

int trace_fmt_options_from_env(trace_fmt_options *o) {
  if (!o)
    return TRACE_EINVAL;
  int rc = 0;
  const char *f = getenv("TRACE_FORMAT");
  if (f && *f) {
    if (env_is(f, "full"))
      o->format = TRACE_FMT_FULL;
    else if (env_is(f, "compact"))
      o->format = TRACE_FMT_COMPACT;
    else if (env_is(f, "pretty"))
      trace_fmt_options_pretty(o);
    else if (env_is(f, "json"))
      o->format = TRACE_FMT_JSON;
    else
      rc = TRACE_EINVAL;
  }
  const char *nc = getenv("NO_COLOR");
  if (nc && *nc)
    o->color = TRACE_FMT_COLOR_NEVER;
  return rc;
}

static bool ansi_wanted(const trace_fmt_options *o, const trace_writer *w) {
  if (o->format == TRACE_FMT_JSON || o->color == TRACE_FMT_COLOR_NEVER)
    return false;
  if (o->color == TRACE_FMT_COLOR_ALWAYS)
    return true;
  const char *nc = getenv("NO_COLOR");
  return trace_writer_is_terminal(w) && !(nc && *nc);
}

trace_layer *trace_fmt_layer_new(const trace_fmt_options *opts) {
  /* Callbacks the options do not need are left out, so the registry skips them without a call. */
  static const trace_layer_vtable vt = {
      .struct_size = sizeof(trace_layer_vtable),
      .on_record = fmt_on_record,
      .on_event = fmt_on_event,
      .on_close = fmt_on_close,
      .flush = fmt_flush,
      .destroy = fmt_destroy,
  };
  static const trace_layer_vtable vt_spans = {
      .struct_size = sizeof(trace_layer_vtable),
      .on_new_span = fmt_on_new_span,
      .on_record = fmt_on_record,
      .on_event = fmt_on_event,
      .on_enter = fmt_on_enter,
      .on_exit = fmt_on_exit,
      .on_close = fmt_on_close,
      .flush = fmt_flush,
      .destroy = fmt_destroy,
  };
  TRACE__KEEP_ERRNO();
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  if (opts) {
    if (opts->struct_size != sizeof o || opts->format < TRACE_FMT_FULL ||
        opts->format > TRACE_FMT_JSON || opts->time < TRACE_FMT_TIME_UTC ||
        opts->time > TRACE_FMT_TIME_NONE || opts->color < TRACE_FMT_COLOR_AUTO ||
        opts->color > TRACE_FMT_COLOR_ALWAYS) {
      if (opts->struct_size == sizeof o)
        trace_writer_free(opts->writer);
      return NULL;
    }
    o = *opts;
    if (!o.max_value_len)
      o.max_value_len = FMT_DEFAULT_VALUE_MAX;
  }
  fmt_layer *l = trace__alloc_lines(sizeof *l);
  trace_writer *w = o.writer ? o.writer : trace_writer_stderr();
  if (!l || !w) {
    trace__free_lines(l);
    trace_writer_free(w);
    return NULL;
  }
  l->o = o;
  l->writer = w;
  l->records = trace_writer_wants_records(w);
  l->style = o.format == TRACE_FMT_JSON ? STYLE_JSON : o.format == TRACE_FMT_PRETTY ? STYLE_PRETTY : STYLE_TEXT;
  l->ansi = ansi_wanted(&o, w);
  l->start_ns = trace__monotonic_ns();
  l->key = trace__local_key_create_made(thread_free, sizeof(fmt_thread), thread_init, NULL);
  if (l->key < 0) {
    trace_writer_free(w);
    trace__free_lines(l);
    return NULL;
  }
  /* trace__fmt_ext_release leaves the extension as a new span needs it: the registry need not clear it.
   * Unless close lines are printed, a span whose fields were never formatted (no event in it)
   * has nothing to release, and its close need not reach us. */
  unsigned flags = TRACE_LAYER_EXT_KEPT;
  if (o.span_events & TRACE_FMT_SPAN_CLOSE)
    flags |= TRACE_LAYER_TIMING;
  else
    flags |= TRACE_LAYER_CLOSE_IF_EXT_USED;
  const trace_layer_vtable *v = o.span_events ? &vt_spans : &vt;
  trace_layer *layer = trace_layer_new(v, l, sizeof(fmt_ext), flags);
  return layer;
}
