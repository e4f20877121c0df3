/* One line (or, for Pretty, one block) per event, in the layouts of tracing-subscriber's Full,
 * Compact and Pretty formats, and JSON. See ../../../shared/reference/fmt for the byte-exact
 * originals; the order of every part below follows them. */
#include <stdio.h>
#include <string.h>

#include "../text/number.h"
#include "internal.h"

static const char *const level_text[] = {"  OFF", "ERROR", " WARN", " INFO", "DEBUG", "TRACE"};
static const char *const level_json[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
static const char *const level_color[] = {"", "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[34m",
                                          "\x1b[35m"};

/* The level column, with its colour and the space after it, ready to copy. */
static const struct {
  char text[16];
  uint8_t len;
} level_piece[2][6] = {
    {{"  OFF ", 6}, {"ERROR ", 6}, {" WARN ", 6}, {" INFO ", 6}, {"DEBUG ", 6}, {"TRACE ", 6}},
    {{"  OFF ", 6},
     {"\x1b[31mERROR\x1b[0m ", 15},
     {"\x1b[33m WARN\x1b[0m ", 15},
     {"\x1b[32m INFO\x1b[0m ", 15},
     {"\x1b[34mDEBUG\x1b[0m ", 15},
     {"\x1b[35mTRACE\x1b[0m ", 15}},
};
_Static_assert(sizeof level_piece[0][0].text >= TRACE__BUF_PAD, "copied in whole blocks");

static TRACE__INLINE void put_level_column(trace__buf *b, unsigned level, bool ansi) {
  if (TRACE__UNLIKELY(level > TRACE_LEVEL_TRACE))
    level = 0;
  trace__buf_put_padded(b, level_piece[ansi][level].text, level_piece[ansi][level].len);
}

void trace__fmt_put_level_column(trace__buf *b, int level, bool ansi) {
  put_level_column(b, level < 0 ? 0u : (unsigned)level, ansi);
}

void trace__fmt_put_level(trace__buf *b, int level, bool ansi) {
  if (level < 0 || level > TRACE_LEVEL_TRACE)
    level = 0;
  if (ansi)
    trace__buf_put(b, level_color[level], 5);
  trace__buf_put(b, level_text[level], 5);
  if (ansi)
    trace__buf_put(b, ANSI_RESET, 4);
}

static inline void dim(trace__buf *b, bool ansi, const char *s, size_t n) {
  if (ansi)
    trace__buf_put(b, ANSI_DIM, 4);
  trace__buf_put(b, s, n);
  if (ansi)
    trace__buf_put(b, ANSI_RESET, 4);
}

static inline void put_str(trace__buf *b, const char *s) {
  trace__escape_cstr(b, s, TRACE__ESC_TEXT);
}

/* Thread names are right-aligned to the longest seen so far, as tracing does, so that columns
 * line up once every thread has logged. */
static size_t longest_thread_name;

static void put_thread_name(trace__buf *b) {
  const char *name = trace_thread_name();
  size_t len = strlen(name);
  size_t max = TRACE__LOAD(&longest_thread_name);
  while (len > max && !__atomic_compare_exchange_n(&longest_thread_name, &max, len, 0,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  if (max > len)
    trace__buf_fill(b, ' ', max - len);
  put_str(b, name);
}

static void put_thread_id(trace__buf *b, bool pad) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, pad ? "ThreadId(%02u)" : "ThreadId(%u)", trace_thread_id());
  trace__buf_put(b, tmp, (size_t)n);
}

/* The part before the spans, shared by Full and Compact: time, level, thread name and id. */
static TRACE__INLINE void put_prefix(trace__buf *b, const fmt_layer *l, fmt_thread *t, int level) {
  bool ansi = l->ansi;
  if (l->o.time != TRACE_FMT_TIME_NONE) {
    if (ansi)
      trace__buf_put(b, ANSI_DIM, 4);
    trace__fmt_put_time(b, l, t);
    if (ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    trace__buf_putc(b, ' ');
  }
  if (l->o.show_level)
    put_level_column(b, (unsigned)level, ansi);
  if (l->o.show_thread_names) {
    put_thread_name(b);
    trace__buf_putc(b, ' ');
  }
  if (l->o.show_thread_ids) {
    put_thread_id(b, true);
    trace__buf_putc(b, ' ');
  }
}

/* "target: file:line: " as configured: the callsite's pieces, or made now (site.c). */
static TRACE__INLINE void put_location(trace__buf *b, const fmt_layer *l, const fmt_line *line) {
  if (TRACE__LIKELY(line->site != NULL)) {
    trace__buf_put_padded(b, line->site->text + line->site->pieces[0].off,
                          line->site->pieces[0].len);
    return;
  }
  trace__fmt_put_location(b, l, line->meta);
}

/* The event's message and fields, or a span event's message and extra fields. head: the site's
 * head piece was written (with the message, if static). */
static TRACE__INLINE void put_event_fields(trace__buf *b, const fmt_layer *l, const fmt_line *line,
                                           bool head) {
  size_t max = l->o.max_value_len;
  bool first = true;
  if (line->ev) {
    const fmt_site *site = line->site;
    if (line->meta->message) {
      if (head && site->static_message) {
        /* in the head already */
      } else if (site && site->static_message) {
        const fmt_piece *p = &site->pieces[site->nfields + 1];
        trace__buf_put_padded(b, site->text + p->off, p->len);
      } else {
        trace__fmt_put_message(b, line->ev, site,
                        l->style == STYLE_JSON ? TRACE__ESC_JSON : TRACE__ESC_TEXT, max);
      }
      first = false;
    }
    if (site)
      trace__fmt_put_site_fields(b, l, site, &line->ev->fields, first);
    else
      trace__fmt_put_fields(b, &line->ev->fields, l->style, max, first, l->ansi,
                     line->meta->message ? "message" : NULL);
  } else {
    put_str(b, line->message);
    if (line->extra) {
      trace__buf_putc(b, l->style == STYLE_PRETTY ? ',' : ' ');
      if (l->style == STYLE_PRETTY)
        trace__buf_putc(b, ' ');
      trace__buf_puts(b, line->extra);
    }
  }
}

/* The spans of the line's scope, root first, at most the FMT_SCOPE_MAX nearest the event in
 * spans; returns how many there are in all. A cut chain is marked, never silent: "…:" before
 * the spans (Full, Compact), "in … N more spans" after them (Pretty), "spans_omitted" (JSON). */
static TRACE__INLINE size_t scope_of(const trace_ctx *ctx, const fmt_line *line,
                                     const trace_span_ref **spans) {
  /* Outside any span, no call (trace_ctx_scope gives 0 for a NULL leaf). */
  return line->leaf ? trace_ctx_scope(ctx, line->leaf, spans, FMT_SCOPE_MAX) : 0;
}

#define ELLIPSIS "\xe2\x80\xa6"

static fmt_ext *ext_of(const trace_span_ref *s, const trace_ctx *ctx) {
  return trace_span_ref_ext(s, ctx);
}

/* An event in Full or Compact whose site has a head piece (site.c). Outside spans: the head, the
 * rest of the message, the fields, and true. Inside spans: the level column from the head (all
 * of put_prefix then), and false. */
static TRACE__INLINE bool format_from_head(trace__buf *b, const fmt_layer *l, const fmt_line *line,
                                           size_t nspans) {
  const fmt_site *site = line->site;
  if (nspans != 0) {
    trace__buf_put_padded(b, site->text + site->head.off, site->head_level);
    return false;
  }
  trace__buf_put_blocks(b, site->text + site->head.off, site->head.len);
  put_event_fields(b, l, line, true);
  trace__buf_putc(b, '\n');
  return true;
}

static TRACE__INLINE void format_full(trace__buf *b, fmt_layer *l, fmt_thread *t, const trace_ctx *ctx,
                        const fmt_line *line) {
  trace__buf *scratch = &t->scratch;
  bool ansi = l->ansi;
  const trace_span_ref *spans[FMT_SCOPE_MAX];
  size_t n = scope_of(ctx, line, spans);
  if (line->site && line->site->has_head) {
    if (format_from_head(b, l, line, n))
      return;
  } else {
    put_prefix(b, l, t, line->meta->level);
  }
  if (TRACE__UNLIKELY(n > FMT_SCOPE_MAX)) {
    n = FMT_SCOPE_MAX;
    trace__buf_put(b, ELLIPSIS, 3);
    dim(b, ansi, ":", 1);
  }
  for (size_t i = 0; i < n; i++) {
    if (ansi)
      trace__buf_put(b, ANSI_BOLD, 4);
    put_str(b, trace_span_ref_meta(spans[i])->name);
    fmt_ext *e = ext_of(spans[i], ctx);
    if (trace__fmt_ext_len(l, e, spans[i], scratch) > 0) {
      trace__buf_putc(b, '{');
      if (ansi)
        trace__buf_put(b, ANSI_RESET, 4);
      trace__fmt_ext_copy(b, l, e, spans[i], scratch);
      if (ansi)
        trace__buf_put(b, ANSI_BOLD, 4);
      trace__buf_putc(b, '}');
    }
    if (ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    dim(b, ansi, ":", 1);
  }
  if (n)
    trace__buf_putc(b, ' ');
  put_location(b, l, line);
  put_event_fields(b, l, line, false);
  trace__buf_putc(b, '\n');
}

static void format_compact(trace__buf *b, fmt_layer *l, fmt_thread *t, const trace_ctx *ctx,
                           const fmt_line *line) {
  trace__buf *scratch = &t->scratch;
  bool ansi = l->ansi;
  const trace_span_ref *spans[FMT_SCOPE_MAX];
  size_t n = scope_of(ctx, line, spans);
  if (line->site && line->site->has_head) {
    if (format_from_head(b, l, line, n))
      return;
  } else {
    put_prefix(b, l, t, line->meta->level);
  }
  if (TRACE__UNLIKELY(n > FMT_SCOPE_MAX)) {
    n = FMT_SCOPE_MAX;
    trace__buf_put(b, ELLIPSIS ":", 4);
  }
  for (size_t i = 0; i < n; i++) {
    if (ansi)
      trace__buf_put(b, ANSI_BOLD, 4);
    put_str(b, trace_span_ref_meta(spans[i])->name);
    if (ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    trace__buf_putc(b, ':');
  }
  if (n)
    trace__buf_putc(b, ' ');
  put_location(b, l, line);
  put_event_fields(b, l, line, false);
  for (size_t i = 0; i < n; i++) {
    fmt_ext *e = ext_of(spans[i], ctx);
    if (trace__fmt_ext_len(l, e, spans[i], scratch) > 0) {
      trace__buf_putc(b, ' ');
      if (ansi)
        trace__buf_put(b, ANSI_DIM, 4);
      trace__fmt_ext_copy(b, l, e, spans[i], scratch);
      if (ansi)
        trace__buf_put(b, ANSI_RESET, 4);
    }
  }
  trace__buf_putc(b, '\n');
}

static void format_pretty(trace__buf *b, fmt_layer *l, fmt_thread *t, const trace_ctx *ctx,
                          const fmt_line *line) {
  trace__buf *scratch = &t->scratch;
  bool ansi = l->ansi;
  const trace_metadata *m = line->meta;
  trace__buf_put(b, "  ", 2);
  if (l->o.time != TRACE_FMT_TIME_NONE) {
    trace__fmt_put_time(b, l, t);
    trace__buf_putc(b, ' ');
  }
  if (l->o.show_level) {
    trace__fmt_put_level(b, m->level, ansi);
    trace__buf_putc(b, ' ');
  }
  if (l->o.show_target) {
    if (ansi)
      trace__buf_put(b, ANSI_BOLD, 4);
    put_str(b, m->target);
    if (ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    trace__buf_putc(b, ':');
    if (l->o.show_line && m->line && !l->o.show_file) {
      trace__buf_u64(b, m->line);
      trace__buf_putc(b, ':');
    }
  }
  trace__buf_putc(b, ' ');
  put_event_fields(b, l, line, false);
  trace__buf_putc(b, '\n');
  bool thread = l->o.show_thread_names || l->o.show_thread_ids;
  if (l->o.show_file && m->file) {
    trace__buf_put(b, "    ", 4);
    dim(b, ansi, "at", 2);
    trace__buf_putc(b, ' ');
    put_str(b, m->file);
    if (l->o.show_line && m->line) {
      trace__buf_putc(b, ':');
      trace__buf_u64(b, m->line);
    }
    trace__buf_putc(b, thread ? ' ' : '\n');
  } else if (thread) {
    trace__buf_put(b, "    ", 4);
  }
  if (thread) {
    dim(b, ansi, "on", 2);
    trace__buf_putc(b, ' ');
    if (l->o.show_thread_names) {
      put_str(b, trace_thread_name());
      if (l->o.show_thread_ids)
        trace__buf_putc(b, ' ');
    }
    if (l->o.show_thread_ids)
      put_thread_id(b, false);
    trace__buf_putc(b, '\n');
  }
  const trace_span_ref *spans[FMT_SCOPE_MAX];
  size_t n = scope_of(ctx, line, spans), hidden = 0;
  if (TRACE__UNLIKELY(n > FMT_SCOPE_MAX)) {
    hidden = n - FMT_SCOPE_MAX;
    n = FMT_SCOPE_MAX;
  }
  for (size_t i = n; i-- > 0;) { /* innermost first */
    const trace_metadata *sm = trace_span_ref_meta(spans[i]);
    trace__buf_put(b, "    ", 4);
    dim(b, ansi, "in", 2);
    trace__buf_putc(b, ' ');
    if (l->o.show_target) {
      put_str(b, sm->target);
      trace__buf_put(b, "::", 2);
    }
    if (ansi)
      trace__buf_put(b, ANSI_BOLD, 4);
    put_str(b, sm->name);
    if (ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    fmt_ext *e = ext_of(spans[i], ctx);
    if (trace__fmt_ext_len(l, e, spans[i], scratch) > 0) {
      trace__buf_putc(b, ' ');
      dim(b, ansi, "with", 4);
      trace__buf_putc(b, ' ');
      trace__fmt_ext_copy(b, l, e, spans[i], scratch);
    }
    trace__buf_putc(b, '\n');
  }
  if (TRACE__UNLIKELY(hidden)) {
    trace__buf_put(b, "    ", 4);
    dim(b, ansi, "in", 2);
    trace__buf_put(b, " " ELLIPSIS " ", 5);
    trace__buf_u64(b, hidden);
    trace__buf_puts(b, hidden == 1 ? " more span\n" : " more spans\n");
  }
  trace__buf_putc(b, '\n');
}

static void json_span(trace__buf *b, fmt_layer *l, const trace_span_ref *s, const trace_ctx *ctx,
                      trace__buf *scratch) {
  trace__buf_putc(b, '{');
  fmt_ext *e = ext_of(s, ctx);
  if (trace__fmt_ext_len(l, e, s, scratch) > 0) {
    trace__fmt_ext_copy(b, l, e, s, scratch);
    trace__buf_putc(b, ',');
  }
  trace__buf_put(b, "\"name\":\"", 8);
  const char *name = trace_span_ref_meta(s)->name;
  trace__escape(b, name, strlen(name), TRACE__ESC_JSON);
  trace__buf_put(b, "\"}", 2);
}

static void json_string(trace__buf *b, const char *key, const char *value) {
  trace__buf_putc(b, '"');
  trace__buf_puts(b, key);
  trace__buf_put(b, "\":\"", 3);
  trace__escape(b, value, strlen(value), TRACE__ESC_JSON);
  trace__buf_putc(b, '"');
}

static void format_json(trace__buf *b, fmt_layer *l, fmt_thread *t, const trace_ctx *ctx,
                        const fmt_line *line) {
  const trace_metadata *m = line->meta;
  size_t start = b->len;
  trace__buf_putc(b, '{');
  if (l->o.time != TRACE_FMT_TIME_NONE) {
    trace__buf_put(b, "\"timestamp\":\"", 13);
    trace__fmt_put_time(b, l, t);
    trace__buf_put(b, "\",", 2);
  }
  if (l->o.show_level) {
    trace__buf_put(b, "\"level\":\"", 9);
    trace__buf_puts(b, level_json[m->level <= TRACE_LEVEL_TRACE ? m->level : 0]);
    trace__buf_put(b, "\",", 2);
  }
  trace__buf_put(b, "\"fields\":{", 10);
  const fmt_site *site = line->site;
  if (line->ev) {
    bool first = true;
    if (m->message) {
      trace__buf_put(b, "\"message\":\"", 11);
      if (site && site->static_message) {
        const fmt_piece *p = &site->pieces[site->nfields + 1];
        trace__buf_put_padded(b, site->text + p->off, p->len);
      } else {
        trace__fmt_put_message(b, line->ev, site, TRACE__ESC_JSON, l->o.max_value_len);
      }
      trace__buf_putc(b, '"');
      first = false;
    }
    if (site)
      trace__fmt_put_site_fields(b, l, site, &line->ev->fields, first);
    else
      trace__fmt_put_fields(b, &line->ev->fields, STYLE_JSON, l->o.max_value_len, first, false,
                     m->message ? "message" : NULL);
  } else {
    json_string(b, "message", line->message);
    if (line->extra_json) {
      trace__buf_putc(b, ',');
      trace__buf_puts(b, line->extra_json);
    }
  }
  trace__buf_putc(b, '}');
  put_location(b, l, line);
  const trace_span_ref *spans[FMT_SCOPE_MAX];
  size_t n = scope_of(ctx, line, spans), hidden = 0;
  if (TRACE__UNLIKELY(n > FMT_SCOPE_MAX)) {
    hidden = n - FMT_SCOPE_MAX;
    n = FMT_SCOPE_MAX;
  }
  if (n && l->o.json_current_span) {
    trace__buf_put(b, ",\"span\":", 8);
    json_span(b, l, spans[n - 1], ctx, &t->scratch);
  }
  if (n && l->o.json_span_list) {
    trace__buf_put(b, ",\"spans\":[", 10);
    for (size_t i = 0; i < n; i++) {
      if (i)
        trace__buf_putc(b, ',');
      json_span(b, l, spans[i], ctx, &t->scratch);
    }
    trace__buf_putc(b, ']');
    if (TRACE__UNLIKELY(hidden)) {
      trace__buf_puts(b, ",\"spans_omitted\":");
      trace__buf_u64(b, hidden);
    }
  }
  if (l->o.show_thread_names) {
    trace__buf_putc(b, ',');
    json_string(b, "threadName", trace_thread_name());
  }
  if (l->o.show_thread_ids) {
    trace__buf_put(b, ",\"threadId\":\"", 13);
    put_thread_id(b, false);
    trace__buf_putc(b, '"');
  }
  trace__buf_put(b, "}\n", 2);
  if (b->truncated) {
    /* A cut JSON line would be invalid: replace it with a valid, small one that says so. */
    b->len = start;
    b->truncated = false;
    trace__buf_puts(b, "{\"level\":\"");
    trace__buf_puts(b, level_json[m->level <= TRACE_LEVEL_TRACE ? m->level : 0]);
    trace__buf_puts(b, "\",\"fields\":{\"message\":\"(event too large to format)\"},");
    json_string(b, "target", m->target);
    trace__buf_puts(b, "}\n");
  }
}

bool trace__fmt_end_cut_line(trace__buf *b) {
  /* The line hit its end: the 1 MiB ceiling, or, when memory ran out, what the buffer could
   * get. End it visibly, on a newline. */
  static const char marker[] = "...[line truncated]\n";
  size_t need = sizeof marker - 1;
  size_t end = b->cap; /* the writable end: the limit, or less when memory ran out */
  if (end < b->limit && end < FMT_STACK_LINE)
    return false; /* the caller's stack buffer holds more */
  if (b->len + need > end) {
    b->len = end - need;
    while (b->len > 0 && ((unsigned char)b->data[b->len] & 0xC0) == 0x80)
      b->len--; /* do not leave half a UTF-8 sequence */
  } else if (b->len > 0 && b->data[b->len - 1] == '\n') {
    b->len--; /* a whole line with a cut part (a span's fields): the marker ends it */
  }
  b->truncated = false;
  trace__buf_put(b, marker, need);
  return true;
}

bool trace__fmt_format_line(trace__buf *b, fmt_layer *l, fmt_thread *t, const trace_ctx *ctx,
                     const fmt_line *line) {
  /* The default format tested first (a switch tested it last); the layer accepts no other values. */
  if (TRACE__LIKELY(l->o.format == TRACE_FMT_FULL))
    format_full(b, l, t, ctx, line);
  else if (l->o.format == TRACE_FMT_COMPACT)
    format_compact(b, l, t, ctx, line);
  else if (l->o.format == TRACE_FMT_PRETTY)
    format_pretty(b, l, t, ctx, line);
  else
    format_json(b, l, t, ctx, line);
  return TRACE__LIKELY(!b->truncated) || trace__fmt_end_cut_line(b);
}
