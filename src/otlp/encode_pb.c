/* OTLP/HTTP protobuf bodies: ExportTraceServiceRequest and ExportLogsServiceRequest, written
 * field by field from the records (field numbers of opentelemetry-proto's trace.proto,
 * logs.proto, common.proto and resource.proto). */
#include <stdio.h>
#include <string.h>

#include "pb.h"

void trace__otlp_pb_end_long(trace__buf *b, size_t start, size_t len) {
  if (b->truncated)
    return;
  size_t extra = pb_varint_len(len) - 1;
  if (trace__buf_room(b, extra) < extra) {
    b->truncated = true;
    return;
  }
  memmove(b->data + start + extra, b->data + start, len);
  b->len += extra;
  uint64_t v = len;
  char *p = b->data + start - 1;
  while (v >= 0x80) {
    *p++ = (char)(v | 0x80);
    v >>= 7;
  }
  *p = (char)v;
}

/* ---------------------------------------------------------------------------------------- */
/* KeyValue (common.proto): key = 1, value = 2; AnyValue: string_value = 1, bool_value = 2,
 * int_value = 3, double_value = 4. */

static size_t kv_begin(trace__buf *b, unsigned field, const char *key, size_t klen) {
  size_t m = pb_begin(b, field);
  pb_string(b, 1, key, klen);
  return m;
}

static void kv_str(trace__buf *b, unsigned field, const char *key, const char *s, size_t n) {
  size_t m = kv_begin(b, field, key, strlen(key));
  size_t v = pb_begin(b, 2);
  pb_string(b, 1, s, n);
  pb_end(b, v);
  pb_end(b, m);
}

static void kv_int(trace__buf *b, unsigned field, const char *key, int64_t i) {
  size_t m = kv_begin(b, field, key, strlen(key));
  size_t v = pb_begin(b, 2);
  pb_uint(b, 3, (uint64_t)i);
  pb_end(b, v);
  pb_end(b, m);
}

/* A record's value as an AnyValue. u64 beyond int64 and pointers go as strings. */
static void any_value(trace__buf *b, const rec_value *v, const char *str) {
  switch (v->type) {
  case TRACE_VALUE_I64: pb_uint(b, 3, (uint64_t)v->as.i64); break;
  case TRACE_VALUE_U64:
    if (v->as.u64 <= (uint64_t)INT64_MAX) {
      pb_uint(b, 3, v->as.u64);
    } else {
      char tmp[24];
      int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v->as.u64);
      pb_bytes(b, 1, tmp, (size_t)n);
    }
    break;
  case TRACE_VALUE_F64: {
    uint64_t bits;
    memcpy(&bits, &v->as.f64, 8);
    pb_fixed64(b, 4, bits);
    break;
  }
  case TRACE_VALUE_BOOL: pb_uint(b, 2, v->as.b ? 1 : 0); break;
  case TRACE_VALUE_PTR: {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "0x%llx", (unsigned long long)v->as.u64);
    pb_bytes(b, 1, tmp, (size_t)n);
    break;
  }
  default: pb_string(b, 1, str, v->len); break;
  }
}

/* The record's fields as attributes (the otel.* ones that name the span excepted). */
typedef struct attr_out {
  trace__buf *b;
  unsigned field;
} attr_out;

static void field_attr(void *arg, const char *key, const rec_value *v, const char *str) {
  attr_out *o = arg;
  size_t m = kv_begin(o->b, o->field, key, strlen(key));
  size_t a = pb_begin(o->b, 2);
  any_value(o->b, v, str);
  pb_end(o->b, a);
  pb_end(o->b, m);
}

static void field_attrs(trace__buf *b, unsigned field, const otlp_site *site, const rec_head *h,
                        const char *values, bool skip_special) {
  attr_out o = {b, field};
  trace__otlp_each_attr(site, h, values, skip_special, field_attr, &o);
}

static void thread_attrs(trace__buf *b, const trace_otlp *x, unsigned field, const rec_head *h) {
  kv_int(b, field, "thread.id", h->thread_id);
  size_t len;
  const char *name = trace__otlp_thread_name(x, h->thread_id, &len);
  if (len)
    kv_str(b, field, "thread.name", name, len);
}

/* Resource (resource.proto): attributes = 1. InstrumentationScope: name = 1, version = 2. */
static void resource_and_scope_open(trace__buf *b, const trace_otlp *x, size_t *outer,
                                    size_t *scoped) {
  *outer = pb_begin(b, 1); /* resource_spans / resource_logs */
  size_t r = pb_begin(b, 1);
  for (size_t i = 0; i < x->conf.nresource; i++)
    kv_str(b, 1, x->conf.resource[i].key, x->conf.resource[i].value,
           strlen(x->conf.resource[i].value));
  pb_end(b, r);
  *scoped = pb_begin(b, 2); /* scope_spans / scope_logs */
  size_t s = pb_begin(b, 1);
  pb_cstring(b, 1, "libtrace");
  pb_cstring(b, 2, TRACE_VERSION_STRING);
  pb_end(b, s);
}

static bool nonzero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc != 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Spans (trace.proto): ResourceSpans{resource 1, scope_spans 2}; ScopeSpans{scope 1, spans 2};
 * Span{trace_id 1, span_id 2, trace_state 3, parent_span_id 4, name 5, kind 6, start 7, end 8,
 * attributes 9, dropped_attributes_count 10, events 11, dropped_events_count 12, status 15,
 * flags 16}; Event{time 1, name 2, attributes 3, dropped_attributes_count 4};
 * Status{message 2, code 3}. */

static void span_event(trace__buf *b, const trace_otlp *x, const rec_event *e) {
  const otlp_site *site = trace__otlp_site_by_id(x, e->h.site);
  if (!site)
    return;
  size_t m = pb_begin(b, 11);
  pb_fixed64(b, 1, e->h.time_ns);
  if (e->has_message)
    pb_string(b, 2, rec_after(e, sizeof *e), e->message_len);
  else
    pb_cstring(b, 2, site->name);
  field_attrs(b, 3, site, &e->h, rec_event_values(e), false);
  kv_str(b, 3, "level", trace__otlp_level_text(e->h.level), strlen(trace__otlp_level_text(e->h.level)));
  kv_str(b, 3, "target", site->target, strlen(site->target));
  kv_str(b, 3, "code.filepath", site->file, strlen(site->file));
  kv_int(b, 3, "code.lineno", site->line);
  if (e->h.dropped_values)
    pb_uint(b, 4, e->h.dropped_values);
  pb_end(b, m);
}

static void span(trace__buf *b, const trace_otlp *x, const span_item *it) {
  const rec_span *s = it->rec;
  span_meta sm;
  const otlp_site *site = trace__otlp_span_meta(x, s, &sm);
  if (!site)
    return;
  size_t m = pb_begin(b, 2);
  pb_bytes(b, 1, s->h.trace_id, 16);
  pb_bytes(b, 2, s->h.span_id, 8);
  if (s->tracestate_len)
    pb_string(b, 3, rec_after(s, sizeof *s), s->tracestate_len);
  if (nonzero(s->parent_span_id, 8))
    pb_bytes(b, 4, s->parent_span_id, 8);
  pb_string(b, 5, sm.name, sm.name_len);
  pb_uint(b, 6, (uint64_t)sm.kind);
  pb_fixed64(b, 7, s->h.time_ns);
  pb_fixed64(b, 8, s->end_ns);
  field_attrs(b, 9, site, &s->h, rec_span_values(s), true);
  kv_str(b, 9, "code.namespace", site->target, strlen(site->target));
  kv_str(b, 9, "code.filepath", site->file, strlen(site->file));
  kv_int(b, 9, "code.lineno", site->line);
  thread_attrs(b, x, 9, &s->h);
  if (s->timing) {
    kv_int(b, 9, "busy_ns", (int64_t)s->busy_ns);
    kv_int(b, 9, "idle_ns", (int64_t)s->idle_ns);
  }
  if (s->h.dropped_values)
    pb_uint(b, 10, s->h.dropped_values);
  for (const held_event *e = it->events; e; e = e->next_in_span)
    span_event(b, x, held_record(e));
  if (it->dropped_events)
    pb_uint(b, 12, it->dropped_events);
  if (sm.status || sm.status_message_len) {
    size_t st = pb_begin(b, 15);
    if (sm.status_message_len)
      pb_string(b, 2, sm.status_message, sm.status_message_len);
    if (sm.status)
      pb_uint(b, 3, (uint64_t)sm.status);
    pb_end(b, st);
  }
  pb_fixed32(b, 16, s->flags);
  pb_end(b, m);
}

void trace__otlp_encode_spans_pb(trace__buf *b, const trace_otlp *x, const span_item *items,
                                 size_t n) {
  size_t outer, scoped;
  resource_and_scope_open(b, x, &outer, &scoped);
  for (size_t i = 0; i < n; i++)
    span(b, x, &items[i]);
  pb_end(b, scoped);
  pb_end(b, outer);
}

/* ---------------------------------------------------------------------------------------- */
/* Logs (logs.proto): ResourceLogs{resource 1, scope_logs 2}; ScopeLogs{scope 1,
 * log_records 2}; LogRecord{time 1, severity_number 2, severity_text 3, body 5, attributes 6,
 * dropped_attributes_count 7, flags 8, trace_id 9, span_id 10, observed_time 11}. */

static void log_record(trace__buf *b, const trace_otlp *x, const rec_event *e) {
  const otlp_site *site = trace__otlp_site_by_id(x, e->h.site);
  if (!site)
    return;
  size_t m = pb_begin(b, 2);
  pb_fixed64(b, 1, e->h.time_ns);
  pb_uint(b, 2, (uint64_t)trace__otlp_severity(e->h.level));
  pb_cstring(b, 3, trace__otlp_level_text(e->h.level));
  if (e->has_message) {
    size_t body = pb_begin(b, 5);
    pb_string(b, 1, rec_after(e, sizeof *e), e->message_len);
    pb_end(b, body);
  }
  field_attrs(b, 6, site, &e->h, rec_event_values(e), false);
  kv_str(b, 6, "code.namespace", site->target, strlen(site->target));
  kv_str(b, 6, "code.filepath", site->file, strlen(site->file));
  kv_int(b, 6, "code.lineno", site->line);
  thread_attrs(b, x, 6, &e->h);
  if (e->h.dropped_values)
    pb_uint(b, 7, e->h.dropped_values);
  if (nonzero(e->h.span_id, 8)) {
    pb_fixed32(b, 8, e->trace_flags);
    pb_bytes(b, 9, e->h.trace_id, 16);
    pb_bytes(b, 10, e->h.span_id, 8);
  }
  pb_fixed64(b, 11, e->h.time_ns);
  pb_end(b, m);
}

void trace__otlp_encode_logs_pb(trace__buf *b, const trace_otlp *x, const rec_event *const *logs,
                                size_t n) {
  size_t outer, scoped;
  resource_and_scope_open(b, x, &outer, &scoped);
  for (size_t i = 0; i < n; i++)
    log_record(b, x, logs[i]);
  pb_end(b, scoped);
  pb_end(b, outer);
}
