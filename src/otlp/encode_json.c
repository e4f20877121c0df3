/* OTLP/HTTP JSON bodies, as the OTLP specification maps protobuf to JSON: field names in
 * lowerCamelCase, trace and span ids as lowercase hex (not base64), enums as integers, 64-bit
 * integers as decimal strings, doubles as numbers ("NaN", "Infinity", "-Infinity" as strings). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../text/escape.h"
#include "../text/number.h"
#include "internal.h"

static const char hexd[] = "0123456789abcdef";

/* A JSON string: quotes, backslashes and control characters escaped, invalid UTF-8 replaced
 * by U+FFFD (as the protobuf encoder does). */
static void jstr(trace__buf *b, const char *s, size_t n) {
  trace__buf_putc(b, '"');
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      size_t j = i + 1;
      while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x80 && s[j] != '"' &&
             s[j] != '\\')
        j++;
      trace__buf_put(b, s + i, j - i);
      i = j;
    } else if (c < 0x80) {
      char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
      size_t len = 2;
      switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      case '\b': esc[1] = 'b'; break;
      case '\f': esc[1] = 'f'; break;
      default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hexd[c >> 4];
        esc[5] = hexd[c & 15];
        len = 6;
      }
      trace__buf_put(b, esc, len);
      i++;
    } else {
      size_t k = trace__utf8_seq((const unsigned char *)s + i, n - i);
      if (k) {
        trace__buf_put(b, s + i, k);
        i += k;
      } else {
        trace__buf_put(b, "\xEF\xBF\xBD", 3);
        i++;
      }
    }
  }
  trace__buf_putc(b, '"');
}

static void jcstr(trace__buf *b, const char *s) { jstr(b, s, strlen(s)); }

static void jhex(trace__buf *b, const uint8_t *p, size_t n) {
  char tmp[34];
  tmp[0] = '"';
  for (size_t i = 0; i < n; i++) {
    tmp[1 + 2 * i] = hexd[p[i] >> 4];
    tmp[2 + 2 * i] = hexd[p[i] & 15];
  }
  tmp[1 + 2 * n] = '"';
  trace__buf_put(b, tmp, 2 * n + 2);
}

/* A 64-bit integer as JSON wants it from protobuf: a decimal string. */
static void jint64(trace__buf *b, int64_t v) {
  trace__buf_putc(b, '"');
  trace__buf_i64(b, v);
  trace__buf_putc(b, '"');
}
static void juint64(trace__buf *b, uint64_t v) {
  trace__buf_putc(b, '"');
  trace__buf_u64(b, v);
  trace__buf_putc(b, '"');
}

static void key(trace__buf *b, const char *k) {
  trace__buf_putc(b, '"');
  trace__buf_puts(b, k);
  trace__buf_put(b, "\":", 2);
}

/* {"key":"k","value":{"stringValue":"v"}} and friends; comma-separated by the caller. */
static void kv_open(trace__buf *b, bool *first, const char *k, size_t klen) {
  if (!*first)
    trace__buf_putc(b, ',');
  *first = false;
  trace__buf_puts(b, "{\"key\":");
  jstr(b, k, klen);
  trace__buf_puts(b, ",\"value\":{");
}
static void kv_str(trace__buf *b, bool *first, const char *k, const char *v, size_t n) {
  kv_open(b, first, k, strlen(k));
  key(b, "stringValue");
  jstr(b, v, n);
  trace__buf_puts(b, "}}");
}
static void kv_int(trace__buf *b, bool *first, const char *k, int64_t v) {
  kv_open(b, first, k, strlen(k));
  key(b, "intValue");
  jint64(b, v);
  trace__buf_puts(b, "}}");
}

static void any_value(trace__buf *b, const rec_value *v, const char *str) {
  switch (v->type) {
  case TRACE_VALUE_I64:
    key(b, "intValue");
    jint64(b, v->as.i64);
    break;
  case TRACE_VALUE_U64:
    if (v->as.u64 <= (uint64_t)INT64_MAX) {
      key(b, "intValue");
      juint64(b, v->as.u64);
    } else {
      key(b, "stringValue");
      juint64(b, v->as.u64);
    }
    break;
  case TRACE_VALUE_F64:
    key(b, "doubleValue");
    if (isnan(v->as.f64))
      trace__buf_puts(b, "\"NaN\"");
    else if (isinf(v->as.f64))
      trace__buf_puts(b, v->as.f64 < 0 ? "\"-Infinity\"" : "\"Infinity\"");
    else
      trace__buf_f64(b, v->as.f64, true);
    break;
  case TRACE_VALUE_BOOL:
    key(b, "boolValue");
    trace__buf_puts(b, v->as.b ? "true" : "false");
    break;
  case TRACE_VALUE_PTR: {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "0x%llx", (unsigned long long)v->as.u64);
    key(b, "stringValue");
    jstr(b, tmp, (size_t)n);
    break;
  }
  default:
    key(b, "stringValue");
    jstr(b, str, v->len);
    break;
  }
}

typedef struct attr_out {
  trace__buf *b;
  bool *first;
} attr_out;

static void field_attr(void *arg, const char *key, const rec_value *v, const char *str) {
  attr_out *o = arg;
  kv_open(o->b, o->first, key, strlen(key));
  any_value(o->b, v, str);
  trace__buf_puts(o->b, "}}");
}

static void field_attrs(trace__buf *b, bool *first, const otlp_site *site, const rec_head *h,
                        const char *values, bool skip_special) {
  attr_out o = {b, first};
  trace__otlp_each_attr(site, h, values, skip_special, field_attr, &o);
}

static void thread_attrs(trace__buf *b, const trace_otlp *x, bool *first, const rec_head *h) {
  kv_int(b, first, "thread.id", h->thread_id);
  size_t len;
  const char *name = trace__otlp_thread_name(x, h->thread_id, &len);
  if (len)
    kv_str(b, first, "thread.name", name, len);
}

static void resource_and_scope_open(trace__buf *b, const trace_otlp *x, const char *top,
                                    const char *scoped, const char *items) {
  trace__buf_puts(b, "{\"");
  trace__buf_puts(b, top);
  trace__buf_puts(b, "\":[{\"resource\":{\"attributes\":[");
  bool first = true;
  for (size_t i = 0; i < x->conf.nresource; i++)
    kv_str(b, &first, x->conf.resource[i].key, x->conf.resource[i].value,
           strlen(x->conf.resource[i].value));
  trace__buf_puts(b, "]},\"");
  trace__buf_puts(b, scoped);
  trace__buf_puts(b, "\":[{\"scope\":{\"name\":\"libtrace\",\"version\":");
  jcstr(b, TRACE_VERSION_STRING);
  trace__buf_puts(b, "},\"");
  trace__buf_puts(b, items);
  trace__buf_puts(b, "\":[");
}

static bool nonzero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc != 0;
}

static void span_event(trace__buf *b, const trace_otlp *x, const rec_event *e, bool *first_ev) {
  const otlp_site *site = trace__otlp_site_by_id(x, e->h.site);
  if (!site)
    return;
  if (!*first_ev)
    trace__buf_putc(b, ',');
  *first_ev = false;
  trace__buf_puts(b, "{\"timeUnixNano\":");
  juint64(b, e->h.time_ns);
  trace__buf_puts(b, ",\"name\":");
  if (e->has_message)
    jstr(b, rec_after(e, sizeof *e), e->message_len);
  else
    jcstr(b, site->name);
  trace__buf_puts(b, ",\"attributes\":[");
  bool first = true;
  field_attrs(b, &first, site, &e->h, rec_event_values(e), false);
  const char *level = trace__otlp_level_text(e->h.level);
  kv_str(b, &first, "level", level, strlen(level));
  kv_str(b, &first, "target", site->target, strlen(site->target));
  kv_str(b, &first, "code.filepath", site->file, strlen(site->file));
  kv_int(b, &first, "code.lineno", site->line);
  trace__buf_putc(b, ']');
  if (e->h.dropped_values) {
    trace__buf_puts(b, ",\"droppedAttributesCount\":");
    trace__buf_u64(b, e->h.dropped_values);
  }
  trace__buf_putc(b, '}');
}

static void span(trace__buf *b, const trace_otlp *x, const span_item *it, bool *first_span) {
  const rec_span *s = it->rec;
  span_meta sm;
  const otlp_site *site = trace__otlp_span_meta(x, s, &sm);
  if (!site)
    return;
  if (!*first_span)
    trace__buf_putc(b, ',');
  *first_span = false;
  trace__buf_puts(b, "{\"traceId\":");
  jhex(b, s->h.trace_id, 16);
  trace__buf_puts(b, ",\"spanId\":");
  jhex(b, s->h.span_id, 8);
  if (s->tracestate_len) {
    trace__buf_puts(b, ",\"traceState\":");
    jstr(b, rec_after(s, sizeof *s), s->tracestate_len);
  }
  if (nonzero(s->parent_span_id, 8)) {
    trace__buf_puts(b, ",\"parentSpanId\":");
    jhex(b, s->parent_span_id, 8);
  }
  trace__buf_puts(b, ",\"flags\":");
  trace__buf_u64(b, s->flags);
  trace__buf_puts(b, ",\"name\":");
  jstr(b, sm.name, sm.name_len);
  trace__buf_puts(b, ",\"kind\":");
  trace__buf_u64(b, (uint64_t)sm.kind);
  trace__buf_puts(b, ",\"startTimeUnixNano\":");
  juint64(b, s->h.time_ns);
  trace__buf_puts(b, ",\"endTimeUnixNano\":");
  juint64(b, s->end_ns);
  trace__buf_puts(b, ",\"attributes\":[");
  bool first = true;
  field_attrs(b, &first, site, &s->h, rec_span_values(s), true);
  kv_str(b, &first, "code.namespace", site->target, strlen(site->target));
  kv_str(b, &first, "code.filepath", site->file, strlen(site->file));
  kv_int(b, &first, "code.lineno", site->line);
  thread_attrs(b, x, &first, &s->h);
  if (s->timing) {
    kv_int(b, &first, "busy_ns", (int64_t)s->busy_ns);
    kv_int(b, &first, "idle_ns", (int64_t)s->idle_ns);
  }
  trace__buf_putc(b, ']');
  if (s->h.dropped_values) {
    trace__buf_puts(b, ",\"droppedAttributesCount\":");
    trace__buf_u64(b, s->h.dropped_values);
  }
  if (it->events) {
    trace__buf_puts(b, ",\"events\":[");
    bool first_ev = true;
    for (const held_event *e = it->events; e; e = e->next_in_span)
      span_event(b, x, held_record(e), &first_ev);
    trace__buf_putc(b, ']');
  }
  if (it->dropped_events) {
    trace__buf_puts(b, ",\"droppedEventsCount\":");
    trace__buf_u64(b, it->dropped_events);
  }
  if (sm.status || sm.status_message_len) {
    trace__buf_puts(b, ",\"status\":{");
    bool comma = false;
    if (sm.status_message_len) {
      trace__buf_puts(b, "\"message\":");
      jstr(b, sm.status_message, sm.status_message_len);
      comma = true;
    }
    if (sm.status) {
      if (comma)
        trace__buf_putc(b, ',');
      trace__buf_puts(b, "\"code\":");
      trace__buf_u64(b, (uint64_t)sm.status);
    }
    trace__buf_putc(b, '}');
  }
  trace__buf_putc(b, '}');
}

void trace__otlp_encode_spans_json(trace__buf *b, const trace_otlp *x, const span_item *items,
                                   size_t n) {
  resource_and_scope_open(b, x, "resourceSpans", "scopeSpans", "spans");
  bool first = true;
  for (size_t i = 0; i < n; i++)
    span(b, x, &items[i], &first);
  trace__buf_puts(b, "]}]}]}");
}

static void log_record(trace__buf *b, const trace_otlp *x, const rec_event *e, bool *first_rec) {
  const otlp_site *site = trace__otlp_site_by_id(x, e->h.site);
  if (!site)
    return;
  if (!*first_rec)
    trace__buf_putc(b, ',');
  *first_rec = false;
  trace__buf_puts(b, "{\"timeUnixNano\":");
  juint64(b, e->h.time_ns);
  trace__buf_puts(b, ",\"observedTimeUnixNano\":");
  juint64(b, e->h.time_ns);
  trace__buf_puts(b, ",\"severityNumber\":");
  trace__buf_u64(b, (uint64_t)trace__otlp_severity(e->h.level));
  trace__buf_puts(b, ",\"severityText\":");
  jcstr(b, trace__otlp_level_text(e->h.level));
  if (e->has_message) {
    trace__buf_puts(b, ",\"body\":{\"stringValue\":");
    jstr(b, rec_after(e, sizeof *e), e->message_len);
    trace__buf_putc(b, '}');
  }
  trace__buf_puts(b, ",\"attributes\":[");
  bool first = true;
  field_attrs(b, &first, site, &e->h, rec_event_values(e), false);
  kv_str(b, &first, "code.namespace", site->target, strlen(site->target));
  kv_str(b, &first, "code.filepath", site->file, strlen(site->file));
  kv_int(b, &first, "code.lineno", site->line);
  thread_attrs(b, x, &first, &e->h);
  trace__buf_putc(b, ']');
  if (e->h.dropped_values) {
    trace__buf_puts(b, ",\"droppedAttributesCount\":");
    trace__buf_u64(b, e->h.dropped_values);
  }
  if (nonzero(e->h.span_id, 8)) {
    trace__buf_puts(b, ",\"flags\":");
    trace__buf_u64(b, e->trace_flags);
    trace__buf_puts(b, ",\"traceId\":");
    jhex(b, e->h.trace_id, 16);
    trace__buf_puts(b, ",\"spanId\":");
    jhex(b, e->h.span_id, 8);
  }
  trace__buf_putc(b, '}');
}

void trace__otlp_encode_logs_json(trace__buf *b, const trace_otlp *x,
                                  const rec_event *const *logs, size_t n) {
  resource_and_scope_open(b, x, "resourceLogs", "scopeLogs", "logRecords");
  bool first = true;
  for (size_t i = 0; i < n; i++)
    log_record(b, x, logs[i], &first);
  trace__buf_puts(b, "]}]}]}");
}
