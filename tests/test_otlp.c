/* The OTLP exporter against a real receiver (tests/otlp_receiver.py: protoc --decode_raw for
 * protobuf, Python's json for JSON, both checked against the OTLP schema): spans across threads
 * with their fields, events and status, a remote parent from a traceparent, logs with trace ids,
 * both protocols and gzip, retries (429, 503 with Retry-After, a receiver that is down and comes
 * up), a receiver that hangs, full buffers, the flush at shutdown, sampling, fork, and the
 * OTEL_* configuration. */
#include <pthread.h>

#include "common/compiler.h"
#include "helpers.h"
#include "otlp_helpers.h"
#include "trace/context.h"
#include "trace/otlp.h"
#include "trace/registry.h"

static receiver rcv;
static trace_otlp *exporter;

/* Options for the receiver: quick retries, and no export before a flush or the shutdown.
 * The receiver decodes a request (protoc, then Python) before it answers it: on a loaded machine
 * one batch took longer than the default request time-out of 10 s (seen in otlp_collector),
 * and a request that times out is sent again (the receiver then records its spans twice), so
 * the limits are generous: a request, a batch and the shutdown's flush end when the receiver
 * has answered, never sooner. The tests of time-outs set their own. */
static trace_otlp_options options(int protocol) {
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  o.endpoint = rcv.url;
  o.traces_protocol = o.logs_protocol = protocol;
  o.service_name = "test-svc";
  o.resource_attributes = "deployment.environment=ci,team=c%20people";
  o.schedule_delay_ms = 60000;
  o.traces_timeout_ms = o.logs_timeout_ms = 120000;
  o.export_timeout_ms = 240000;
  o.shutdown_timeout_ms = 240000;
  o.retry_initial_ms = 20;
  o.retry_max_ms = 100;
  o.headers = "X-Test=yes";
  o.track_inactivity = true;
  return o;
}

/* A registry with the OTLP layer (everything up to TRACE), installed globally. */
static void install(const trace_otlp_options *o) {
  int err = 0;
  trace_layer *layer = trace_otlp_layer_new(o, &exporter, &err);
  assert_int_equal(err, 0);
  assert_non_null(layer);
  trace_registry *r = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(r, layer, trace_filter_level(TRACE_LEVEL_TRACE)), 0);
  assert_int_equal(trace_registry_install(r), 0);
}

static void finish(void) {
  trace_shutdown();
  trace_otlp_release(exporter);
  exporter = NULL;
}

/* The receiver's responses script (receiver_start) comes as the test's initial state: NULL for
 * always 200, GATED for a port that refuses connections until the test opens the gate. */
static const char GATED[] = "(gated)";
static int setup(void **state) {
  const char *script = *state;
  return receiver_start(&rcv, script == GATED ? NULL : script, script == GATED) ? 0 : -1;
}
static int teardown(void **state) {
  (void)state;
  if (exporter)
    finish();
  receiver_stop(&rcv);
  return 0;
}
#define receiver_test(test, script)                                                                \
  cmocka_unit_test_prestate_setup_teardown(test, setup, teardown, (void *)(uintptr_t)(script))

static bool has_spans(json_t *reqs, void *arg) { return span_count(reqs) >= *(int *)arg; }
static TRACE__UNUSED bool has_logs(json_t *reqs, void *arg) { return log_count(reqs) >= *(int *)arg; }
static TRACE__UNUSED bool has_requests(json_t *reqs, void *arg) {
  return json_array_size(reqs) >= (size_t)*(int *)arg;
}

/* ---------------------------------------------------------------------------------------- */
/* The scenario of the first tests: nested spans on two threads, fields of every type, events,
 * an ERROR event, otel.* overrides. */

static size_t fmt_answer(char *buf, size_t cap, const void *arg) {
  (void)arg;
  return (size_t)snprintf(buf, cap, "answer{%d}", 42);
}

typedef struct worker_arg {
  trace_span parent;
} worker_arg;

static void *worker(void *arg) {
  worker_arg *w = arg;
  trace_thread_set_name("worker-1");
  trace_span s = TRACE_SPAN_IN(&w->parent, TRACE_LEVEL_INFO, "on_worker", TF(job, 7));
  trace_span_enter(&s);
  TRACE_WARN(TF(attempt, 2), "retrying %s", "job");
  trace_span_exit(&s);
  trace_span_close(&s);
  return NULL;
}

static void scenario(void) {
  trace_span root = TRACE_INFO_SPAN("request", TF(method, "GET"), TF(i, -5),
                                    TF(big, (unsigned long long)UINT64_MAX), TF(ratio, 0.25),
                                    TF(ok, (bool)true), TF(status, TRACE_EMPTY),
                                    TF_FMT(answer, fmt_answer, NULL),
                                    TF(bad_utf8, "caf\xe9\n"));
  trace_span_enter(&root);
  TRACE_RECORD(&root, status, 200);
  trace_span child = TRACE_DEBUG_SPAN("db", TF(otel.name, "SELECT users"),
                                      TF(otel.kind, "client"), TF(rows, 3u));
  trace_span_enter(&child);
  TRACE_INFO(TF(query, "select"), "querying");
  TRACE_ERROR(TF(code, 5), "it failed");
  trace_span_exit(&child);
  trace_span_close(&child);
  worker_arg w = {trace_span_clone(&root)};
  pthread_t t;
  pthread_create(&t, NULL, worker, &w);
  pthread_join(t, NULL);
  trace_span_close(&w.parent);
  trace_span status = TRACE_INFO_SPAN("explicit", TF(otel.status_code, "ERROR"),
                                      TF(otel.status_message, "bad input"));
  trace_span_close(&status);
  trace_span_exit(&root);
  trace_span_close(&root);
  TRACE_INFO(TF(outside, true), "no span here");
}

static void check_scenario(json_t *reqs, bool json, bool timing) {
  assert_true(all_valid(reqs));
  json_t *root = find_span(reqs, "request", NULL), *db = find_span(reqs, "SELECT users", NULL),
         *w = find_span(reqs, "on_worker", NULL), *st = find_span(reqs, "explicit", NULL);
  assert_non_null(root);
  assert_non_null(db);
  assert_non_null(w);
  assert_non_null(st);
  /* The request that carried them. */
  size_t i;
  json_t *req;
  json_array_foreach(reqs, i, req) {
    assert_string_equal(str_of(req, "content_type"),
                        json ? "application/json" : "application/x-protobuf");
    assert_string_equal(str_of(req, "x_test"), "yes");
    assert_non_null(strstr(str_of(req, "user_agent"), "libtrace-otlp/"));
  }
  json_t *first = json_array_get(reqs, 0);
  json_t *res = json_object_get(json_array_get(json_object_get(json_object_get(first, "body"),
                                                               "resourceSpans"),
                                               0),
                                "resource");
  if (!res) /* the first request may be the logs' */
    res = json_object_get(json_array_get(json_object_get(json_object_get(first, "body"),
                                                         "resourceLogs"),
                                         0),
                          "resource");
  assert_string_equal(attr_str(res, "service.name"), "test-svc");
  assert_string_equal(attr_str(res, "deployment.environment"), "ci");
  assert_string_equal(attr_str(res, "team"), "c people");
  assert_string_equal(attr_str(res, "telemetry.sdk.name"), "libtrace");
  /* Ids and links. */
  const char *trace = str_of(root, "traceId");
  assert_int_equal(strlen(trace), 32);
  assert_string_equal(str_of(db, "traceId"), trace);
  assert_string_equal(str_of(w, "traceId"), trace);
  assert_string_equal(str_of(db, "parentSpanId"), str_of(root, "spanId"));
  assert_string_equal(str_of(w, "parentSpanId"), str_of(root, "spanId"));
  assert_null(json_object_get(root, "parentSpanId"));
  assert_string_not_equal(str_of(db, "spanId"), str_of(root, "spanId"));
  /* Times. */
  long long start = strtoll(str_of(root, "startTimeUnixNano"), NULL, 10);
  long long end = strtoll(str_of(root, "endTimeUnixNano"), NULL, 10);
  assert_true(start > 1600000000000000000LL && end >= start);
  assert_true(strtoll(str_of(db, "startTimeUnixNano"), NULL, 10) >= start);
  /* Kind, flags, status. */
  assert_int_equal(json_integer_value(json_object_get(root, "kind")), 1);
  assert_int_equal(json_integer_value(json_object_get(db, "kind")), 3);
  assert_int_equal(json_integer_value(json_object_get(root, "flags")), 0x101);
  assert_null(json_object_get(root, "status"));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(db, "status"), "code")), 2);
  json_t *sst = json_object_get(st, "status");
  assert_int_equal(json_integer_value(json_object_get(sst, "code")), 2);
  assert_string_equal(str_of(sst, "message"), "bad input");
  assert_null(attr(st, "otel.status_code"));
  assert_null(attr(db, "otel.name"));
  /* Attributes with their types. */
  assert_string_equal(attr_str(root, "method"), "GET");
  assert_int_equal(attr_int(root, "i"), -5);
  assert_int_equal(attr_int(root, "status"), 200);
  assert_string_equal(attr_str(root, "big"), "18446744073709551615");
  assert_true(json_real_value(json_object_get(attr(root, "ratio"), "doubleValue")) == 0.25);
  assert_true(json_is_true(json_object_get(attr(root, "ok"), "boolValue")));
  assert_string_equal(attr_str(root, "answer"), "answer{42}");
  assert_string_equal(attr_str(root, "bad_utf8"), "caf\xef\xbf\xbd\n"); /* U+FFFD */
  assert_int_equal(attr_int(db, "rows"), 3);
  assert_string_equal(attr_str(root, "code.namespace"), "test_otlp");
  assert_non_null(strstr(attr_str(root, "code.filepath"), "test_otlp.c"));
  assert_true(attr_int(root, "code.lineno") > 0);
  assert_int_equal(attr_int(root, "thread.id"), 1);
  assert_string_equal(attr_str(root, "thread.name"), "main");
  assert_string_equal(attr_str(w, "thread.name"), "worker-1");
  assert_true(attr_int(w, "thread.id") > 1);
  /* Busy and idle time: both measured, together the span's duration (within the clock
   * conversion's rounding). */
  if (timing) {
    long long busy = attr_int(root, "busy_ns"), idle = attr_int(root, "idle_ns");
    assert_true(busy > 0 && idle >= 0);
    assert_true(busy + idle <= (end - start) + (end - start) / 100 + 1000);
    assert_true(busy + idle >= (end - start) - (end - start) / 100 - 1000);
  } else {
    assert_null(attr(root, "busy_ns"));
    assert_null(attr(root, "idle_ns"));
  }
  /* Events inside spans. */
  json_t *evs = json_object_get(db, "events");
  assert_int_equal(json_array_size(evs), 2);
  json_t *e0 = json_array_get(evs, 0), *e1 = json_array_get(evs, 1);
  assert_string_equal(str_of(e0, "name"), "querying");
  assert_string_equal(attr_str(e0, "query"), "select");
  assert_string_equal(attr_str(e0, "level"), "INFO");
  assert_string_equal(str_of(e1, "name"), "it failed");
  assert_string_equal(attr_str(e1, "level"), "ERROR");
  assert_int_equal(attr_int(e1, "code"), 5);
  json_t *wev = json_array_get(json_object_get(w, "events"), 0);
  assert_string_equal(str_of(wev, "name"), "retrying job");
  assert_null(json_object_get(root, "events"));
}

static void run_protocol(int protocol, int compression, bool timing) {
  trace_otlp_options o = options(protocol);
  o.traces_compression = o.logs_compression = compression;
  o.track_inactivity = timing;
  install(&o);
  scenario();
  finish(); /* the shutdown flushes */
  int want = 4;
  json_t *reqs = receiver_wait(&rcv, has_spans, &want);
  if (compression) {
    size_t i;
    json_t *req;
    json_array_foreach(reqs, i, req) assert_string_equal(str_of(req, "content_encoding"), "gzip");
  }
  check_scenario(reqs, protocol == TRACE_OTLP_HTTP_JSON, timing);
  assert_int_equal(span_count(reqs), 4);
  json_decref(reqs);
}

static void protobuf_spans(void **state) {
  (void)state;
  run_protocol(TRACE_OTLP_HTTP_PROTOBUF, TRACE_OTLP_COMPRESSION_NONE, true);
}
static void json_spans_gzip(void **state) {
  (void)state;
  run_protocol(TRACE_OTLP_HTTP_JSON, TRACE_OTLP_COMPRESSION_GZIP, true);
}
/* Without busy and idle time the registry notes each span's start and thread
 * (TRACE_LAYER_CREATION, where the time stamp counter is usable) and the layer hears only of
 * each thread's first span: the same spans come out, without busy_ns and idle_ns. */
static void protobuf_spans_untimed(void **state) {
  (void)state;
  run_protocol(TRACE_OTLP_HTTP_PROTOBUF, TRACE_OTLP_COMPRESSION_NONE, false);
}

/* A span made on a thread that writes nothing else, closed on another: its thread's name (which
 * only that thread can tell) comes with it. */
typedef struct handoff {
  trace_span span;
  uint32_t thread_id;
} handoff;
static void *make_span(void *arg) {
  handoff *h = arg;
  trace_thread_set_name("maker");
  h->span = TRACE_INFO_SPAN("handed_over", TF(n, 1));
  h->thread_id = trace_thread_id();
  return NULL;
}
typedef struct handoff_seen {
  uint32_t thread_ids[2];
  int spans, right;
} handoff_seen;
static void check_handoff(json_t *span, json_t *req, void *arg) {
  (void)req;
  handoff_seen *h = arg;
  h->spans++;
  long long id = attr_int(span, "thread.id");
  const char *name = attr_str(span, "thread.name");
  h->right += name && strcmp(name, "maker") == 0 &&
              (id == h->thread_ids[0] || id == h->thread_ids[1]);
}
static void span_made_elsewhere_keeps_its_thread(void **state) {
  (void)state;
  handoff_seen seen = {{0, 0}, 0, 0};
  for (int timing = 0; timing < 2; timing++) { /* with and without TRACE_LAYER_CREATION */
    trace_otlp_options o = options(TRACE_OTLP_HTTP_JSON);
    o.track_inactivity = timing;
    install(&o);
    handoff h;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, make_span, &h), 0);
    pthread_join(t, NULL);
    trace_span_close(&h.span);
    finish();
    seen.thread_ids[timing] = h.thread_id;
  }
  int want = 2;
  json_t *reqs = receiver_wait(&rcv, has_spans, &want);
  each_span(reqs, check_handoff, &seen);
  assert_int_equal(seen.spans, 2);
  assert_int_equal(seen.right, 2);
  json_decref(reqs);
}

/* ---------------------------------------------------------------------------------------- */
/* A remote parent from a traceparent; logs carry the ids of their span. */

static const char remote_tp[] = "00-0012e2d6c8b3f5a1d5b1f0c4b6e8a7d9-00a1b2c3d4e5f607-01";

static void remote_parent_and_logs(void **state) {
  (void)state;
  trace_otlp_options o = options(TRACE_OTLP_HTTP_PROTOBUF);
  o.track_inactivity = false;
  install(&o);
  trace_header h[] = {{"traceparent", remote_tp}, {"tracestate", "congo=t61rcWkgMzE"}};
  trace_context remote;
  assert_int_equal(trace_context_extract(h, 2, &remote, NULL), 0);
  trace_span s = TRACE_INFO_SPAN_FROM(&remote, "server_request", TF(path, "/a"));
  trace_span_enter(&s);
  TRACE_WARN(TF(user, 7), "inside %s", "request");
  trace_span_exit(&s);
  trace_span_close(&s);
  TRACE_DEBUG("outside");
  /* A remote parent that did not sample: no span, but its event still goes as a log. */
  const char *unsampled = "00-00f0e2d6c8b3f5a1d5b1f0c4b6e8a7d9-00a1b2c3d4e5f607-00";
  assert_int_equal(trace_traceparent_parse(unsampled, strlen(unsampled), &remote, NULL), 0);
  trace_span u = TRACE_INFO_SPAN_FROM(&remote, "unsampled");
  trace_span_enter(&u);
  TRACE_INFO("in unsampled");
  trace_span_exit(&u);
  trace_span_close(&u);
  finish();
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  int count;
  json_t *sp = find_span(reqs, "server_request", &count);
  assert_int_equal(count, 1);
  assert_null(find_span(reqs, "unsampled", NULL));
  assert_string_equal(str_of(sp, "traceId"), "0012e2d6c8b3f5a1d5b1f0c4b6e8a7d9");
  assert_string_equal(str_of(sp, "parentSpanId"), "00a1b2c3d4e5f607");
  assert_string_equal(str_of(sp, "traceState"), "congo=t61rcWkgMzE");
  assert_int_equal(json_integer_value(json_object_get(sp, "flags")), 0x301); /* remote parent */
  assert_int_equal(attr_int(sp, "busy_ns"), -1); /* not tracked: not there */
  json_t *logs = all_logs(reqs);
  assert_int_equal(json_array_size(logs), 3);
  json_t *in = json_array_get(logs, 0), *out = json_array_get(logs, 1),
         *un = json_array_get(logs, 2);
  assert_string_equal(str_of(json_object_get(in, "body"), "stringValue"), "inside request");
  assert_int_equal(json_integer_value(json_object_get(in, "severityNumber")), 13);
  assert_string_equal(str_of(in, "severityText"), "WARN");
  assert_string_equal(str_of(in, "traceId"), str_of(sp, "traceId"));
  assert_string_equal(str_of(in, "spanId"), str_of(sp, "spanId"));
  assert_int_equal(json_integer_value(json_object_get(in, "flags")), 1);
  assert_int_equal(attr_int(in, "user"), 7);
  assert_string_equal(attr_str(in, "code.namespace"), "test_otlp");
  assert_string_equal(attr_str(in, "thread.name"), "main");
  assert_string_equal(str_of(json_object_get(out, "body"), "stringValue"), "outside");
  assert_int_equal(json_integer_value(json_object_get(out, "severityNumber")), 5);
  assert_null(json_object_get(out, "traceId"));
  assert_null(json_object_get(out, "spanId"));
  assert_string_equal(str_of(un, "traceId"), "00f0e2d6c8b3f5a1d5b1f0c4b6e8a7d9");
  assert_int_equal(json_integer_value(json_object_get(un, "flags")), 0);
  assert_true(strtoll(str_of(in, "timeUnixNano"), NULL, 10) > 1600000000000000000LL);
  json_decref(logs);
  json_decref(reqs);
}

/* stderr into a fresh temporary file (tests of this file run concurrently in several builds)
 * and back; stderr_back returns what was written meanwhile. */
static char capture_path[64];
static int stderr_to(void) {
  fflush(stderr);
  snprintf(capture_path, sizeof capture_path, "/tmp/trace-otlp-stderr-XXXXXX");
  int fd = mkstemp(capture_path);
  assert_true(fd >= 0);
  int saved = dup(2);
  dup2(fd, 2);
  close(fd);
  return saved;
}
static char *stderr_back(int saved) {
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  FILE *f = fopen(capture_path, "r");
  static char text[8192];
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  text[n] = '\0';
  if (f)
    fclose(f);
  unlink(capture_path);
  return text;
}

/* ---------------------------------------------------------------------------------------- */
/* Retries. */

static void emit(int n, const char *name) {
  for (int i = 0; i < n; i++) {
    trace_span s = TRACE_SPAN_AT("t", TRACE_LEVEL_INFO, "batch_span", TF(i, i), TF(name, name));
    trace_span_close(&s);
  }
}

static trace_otlp_options traces_only(void) {
  trace_otlp_options o = options(TRACE_OTLP_HTTP_PROTOBUF);
  o.export_logs = false;
  return o;
}

/* emit(n, name) through an exporter with options o, then a flush that must complete: the
 * exporter's stats then. */
static trace_otlp_stats export_and_flush_with(const trace_otlp_options *o, int n, const char *name) {
  install(o);
  emit(n, name);
  assert_int_equal(trace_otlp_flush(exporter, 30000), 0);
  return trace_otlp_get_stats(exporter);
}

/* The same through an exporter of traces only. */
static trace_otlp_stats export_and_flush(int n, const char *name) {
  trace_otlp_options o = traces_only();
  return export_and_flush_with(&o, n, name);
}

/* 429, then success: the same batch is sent again. */
static void retry_429(void **state) {
  (void)state;
  trace_otlp_stats st = export_and_flush(10, "a");
  assert_int_equal(st.spans_exported, 10);
  assert_int_equal(st.spans_failed, 0);
  assert_int_equal(st.retries, 1);
  assert_int_equal(st.requests, 2);
  assert_int_equal(st.last_status, 200);
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  assert_int_equal(json_array_size(reqs), 2);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 429);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 1), "status")), 200);
  json_t *a = all_spans(reqs);
  assert_int_equal(json_array_size(a), 20); /* the batch twice */
  assert_string_equal(str_of(json_array_get(a, 0), "spanId"), str_of(json_array_get(a, 10), "spanId"));
  json_decref(a);
  json_decref(reqs);
  finish();
}

/* 503 with Retry-After: 1: the retry waits the second asked for (the backoff alone would be
 * 20 ms). */
static void retry_after_503(void **state) {
  (void)state;
  trace_otlp_stats st = export_and_flush(3, "b");
  assert_int_equal(st.spans_exported, 3);
  assert_int_equal(st.retries, 1);
  json_t *reqs = receiver_requests(&rcv);
  assert_int_equal(json_array_size(reqs), 2);
  double t0 = json_real_value(json_object_get(json_array_get(reqs, 0), "t"));
  double t1 = json_real_value(json_object_get(json_array_get(reqs, 1), "t"));
  assert_true(t1 - t0 >= 0.95);
  json_decref(reqs);
  finish();
}

/* 400 is not retried: the batch is dropped and counted. */
static void no_retry_400(void **state) {
  (void)state;
  trace_otlp_stats st = export_and_flush(4, "c");
  assert_int_equal(st.spans_exported, 0);
  assert_int_equal(st.spans_failed, 4);
  assert_int_equal(st.requests, 1);
  assert_int_equal(st.retries, 0);
  assert_int_equal(st.last_status, 400);
  finish();
}

/* The collector is down (connections refused), then comes up: the batch goes through. */
static void down_then_up(void **state) {
  (void)state;
  trace_otlp_options o = traces_only();
  install(&o);
  emit(5, "d");
  /* Still refused: the flush cannot complete, and says so. */
  assert_int_equal(trace_otlp_flush(exporter, 300), TRACE_EBUSY);
  assert_true(trace_otlp_get_stats(exporter).retries >= 1);
  assert_int_equal(trace_otlp_get_stats(exporter).last_status, 0);
  receiver_open_gate(&rcv);
  int want = 5;
  json_t *reqs = receiver_wait(&rcv, has_spans, &want);
  assert_int_equal(span_count(reqs), 5);
  json_decref(reqs);
  assert_int_equal(trace_otlp_flush(exporter, 30000), 0);
  assert_int_equal(trace_otlp_get_stats(exporter).spans_exported, 5);
  finish();
}

/* ---------------------------------------------------------------------------------------- */
/* A receiver that hangs: requests time out, nobody instrumented waits, and every span is
 * accounted for (exported, dropped or failed). */

static void hanging_receiver(void **state) {
  (void)state;
  trace_otlp_options o = traces_only();
  o.traces_timeout_ms = 200;
  o.export_timeout_ms = 500;
  o.max_queue_size = 64;
  o.max_export_batch_size = 32;
  o.schedule_delay_ms = 0;
  o.thread_buffer_size = 8192;
  o.shutdown_timeout_ms = 1000;
  install(&o);
  int saved = stderr_to();
  /* The exporter is stuck in a request that never ends; this loop is not: the buffer fills and
   * spans are dropped, never waited for (a blocking caller would hang the test). */
  enum { N = 3000 };
  emit(N, "e");
  trace_otlp_stats st = trace_otlp_get_stats(exporter);
  assert_true(st.spans_dropped > 0);
  trace_otlp *x = exporter;
  exporter = NULL;
  trace_shutdown();
  char *text = stderr_back(saved);
  st = trace_otlp_get_stats(x);
  /* The drops are reported: the first at once (once), the totals at shutdown. */
  const char *first = "trace: otlp: dropping spans: a thread's buffer is full";
  assert_text_contains(text, first);
  assert_null(strstr(strstr(text, first) + 1, first));
  char totals[200];
  snprintf(totals, sizeof totals,
           "trace: otlp: exported 0 spans and 0 logs; lost %d spans (%llu buffers full, %llu "
           "failed exports)",
           N, (unsigned long long)st.spans_dropped, (unsigned long long)st.spans_failed);
  assert_text_contains(text, totals);
  assert_int_equal(st.spans_exported, 0);
  assert_true(st.spans_failed > 0);
  assert_int_equal(st.spans_exported + st.spans_dropped + st.spans_failed, N);
  assert_true(st.requests >= 1);
  trace_otlp_release(x);
}

/* ---------------------------------------------------------------------------------------- */
/* What was queued before the shutdown is sent by it: several threads, no flush. */

static void *emit_thread(void *arg) {
  emit(500, (const char *)arg);
  return NULL;
}

static void shutdown_flushes(void **state) {
  (void)state;
  trace_otlp_options o = traces_only();
  o.schedule_delay_ms = 600000; /* nothing goes before the shutdown */
  /* Fewer than are waiting: one pass over the rings cannot take them all (the shutdown once
   * exported that many and let the rest go uncounted). */
  o.max_queue_size = 256;
  install(&o);
  pthread_t t[3];
  const char *names[3] = {"t1", "t2", "t3"};
  for (int i = 0; i < 3; i++)
    pthread_create(&t[i], NULL, emit_thread, (void *)(uintptr_t)names[i]);
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  trace_otlp *x = exporter;
  exporter = NULL;
  trace_shutdown();
  trace_otlp_stats st = trace_otlp_get_stats(x);
  trace_otlp_release(x);
  assert_int_equal(st.spans_exported, 1500);
  assert_int_equal(st.spans_dropped + st.spans_failed, 0);
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  assert_int_equal(span_count(reqs), 1500);
  assert_true(json_array_size(reqs) >= 3); /* batches of 512 */
  json_decref(reqs);
}

/* A flush exports everything finished before it, more than the queue holds (one pass over the
 * rings takes at most the queue's size: the flush once ended after that pass, 64 of 1000). */
static void flush_exports_more_than_the_queue(void **state) {
  (void)state;
  trace_otlp_options o = traces_only();
  o.schedule_delay_ms = 600000; /* nothing goes before the flush */
  o.max_queue_size = 64;
  o.max_export_batch_size = 64;
  o.thread_buffer_size = (size_t)1 << 20; /* the 1000 spans wait in the ring */
  trace_otlp_stats st = export_and_flush_with(&o, 1000, "queued");
  assert_int_equal(st.spans_exported, 1000);
  assert_int_equal(st.spans_dropped + st.spans_failed, 0);
  json_t *reqs = receiver_requests(&rcv);
  assert_int_equal(span_count(reqs), 1000);
  json_decref(reqs);
}

/* A thread buffer of a size that is not a power of two is rounded up to one (5000 bytes: 8 KiB)
 * and its records wrap around it many times, none lost or garbled: the receiver's decoder sees
 * every span. */
static void odd_buffer_size(void **state) {
  (void)state;
  trace_otlp_options o = traces_only();
  o.thread_buffer_size = 5000;
  install(&o);
  for (int round = 0; round < 40; round++) {
    emit(10, "wraps");
    assert_int_equal(trace_otlp_flush(exporter, 30000), 0);
  }
  trace_otlp_stats st = trace_otlp_get_stats(exporter);
  assert_int_equal(st.spans_exported, 400);
  assert_int_equal(st.spans_dropped + st.spans_failed, 0);
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  assert_int_equal(span_count(reqs), 400);
  json_decref(reqs);
  finish();
}

/* ---------------------------------------------------------------------------------------- */
/* Sampling. */

static int sampled_roots(int sampler, double arg, const char *tp, int n) {
  trace_otlp_options o = traces_only();
  o.sampler = sampler;
  o.sampler_arg = arg;
  install(&o);
  trace_context remote;
  if (tp)
    assert_int_equal(trace_traceparent_parse(tp, strlen(tp), &remote, NULL), 0);
  for (int i = 0; i < n; i++) {
    trace_span s = tp ? TRACE_INFO_SPAN_FROM(&remote, "sampled") : TRACE_INFO_SPAN("sampled");
    trace_span_enter(&s);
    trace_span c = TRACE_INFO_SPAN("child");
    trace_span_close(&c);
    trace_span_exit(&s);
    trace_span_close(&s);
  }
  trace_otlp *x = exporter;
  exporter = NULL;
  trace_shutdown();
  int exported = (int)trace_otlp_get_stats(x).spans_exported;
  trace_otlp_release(x);
  return exported;
}

static void sampling(void **state) {
  (void)state;
  const char *on = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const char *off = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
  assert_int_equal(sampled_roots(TRACE_OTLP_SAMPLER_ALWAYS_OFF, 1, NULL, 10), 0);
  assert_int_equal(sampled_roots(TRACE_OTLP_SAMPLER_ALWAYS_ON, 1, off, 10), 20);
  assert_int_equal(sampled_roots(TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_ON, 1, off, 10), 0);
  assert_int_equal(sampled_roots(TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF, 1, on, 10), 20);
  assert_int_equal(sampled_roots(TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF, 1, NULL, 10), 0);
  assert_int_equal(sampled_roots(TRACE_OTLP_SAMPLER_TRACEIDRATIO, 0.0, NULL, 10), 0);
  assert_int_equal(sampled_roots(TRACE_OTLP_SAMPLER_TRACEIDRATIO, 1.0, NULL, 10), 20);
  /* Half the traces, whole: a trace's spans are sampled together. */
  int half = sampled_roots(TRACE_OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO, 0.5, NULL, 400);
  assert_true(half % 2 == 0);
  assert_true(half > 200 && half < 600); /* 400 traces of 2 spans: about 400 */
}

/* ---------------------------------------------------------------------------------------- */
/* Events inside a span beyond the limit are counted, not kept. */

static void event_limit(void **state) {
  (void)state;
  trace_otlp_options o = options(TRACE_OTLP_HTTP_JSON);
  o.max_events_per_span = 3;
  o.export_logs = false;
  install(&o);
  trace_span s = TRACE_INFO_SPAN("chatty");
  trace_span_enter(&s);
  for (int i = 0; i < 5; i++)
    TRACE_INFO(TF(i, i), "event");
  trace_span_exit(&s);
  trace_span_close(&s);
  finish();
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  json_t *sp = find_span(reqs, "chatty", NULL);
  /* Logs export is off: the events are span events only, nothing went to /v1/logs. */
  assert_int_equal(log_count(reqs), 0);
  size_t i;
  json_t *req;
  json_array_foreach(reqs, i, req) assert_string_equal(str_of(req, "path"), "/v1/traces");
  assert_int_equal(json_array_size(json_object_get(sp, "events")), 3);
  assert_int_equal(json_integer_value(json_object_get(sp, "droppedEventsCount")), 2);
  assert_int_equal(attr_int(json_array_get(json_object_get(sp, "events"), 2), "i"), 2);
  json_decref(reqs);
}

/* ---------------------------------------------------------------------------------------- */
/* Configuration. */

static const char *const otel_vars[] = {
    "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER",
    "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"};

static void clear_env(void) {
  for (size_t i = 0; i < sizeof otel_vars / sizeof otel_vars[0]; i++)
    unsetenv(otel_vars[i]);
}

static void env_good_values(void **state) {
  (void)state;
  clear_env();
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/", 1);
  setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4318/custom", 1);
  setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret,X-A=1%202", 1);
  setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
  setenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf", 1);
  setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
  setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
  setenv("OTEL_SERVICE_NAME", "shop", 1);
  setenv("OTEL_RESOURCE_ATTRIBUTES", "a=1,b=2", 1);
  setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
  setenv("OTEL_TRACES_SAMPLER_ARG", "0.25", 1);
  setenv("OTEL_BSP_SCHEDULE_DELAY", "100", 1);
  setenv("OTEL_BSP_EXPORT_TIMEOUT", "7000", 1);
  setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100", 1);
  setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10", 1);
  setenv("OTEL_LOGS_EXPORTER", "none", 1);
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  int saved = stderr_to();
  int bads = trace_otlp_options_from_env(&o);
  char *text = stderr_back(saved);
  assert_int_equal(bads, 0);
  assert_string_equal(text, "");
  assert_string_equal(o.endpoint, "http://collector:4318/");
  assert_string_equal(o.logs_endpoint, "http://logs:4318/custom");
  assert_null(o.traces_endpoint);
  assert_string_equal(o.headers, "api-key=secret,X-A=1%202");
  assert_int_equal(o.traces_protocol, TRACE_OTLP_HTTP_JSON);
  assert_int_equal(o.logs_protocol, TRACE_OTLP_HTTP_PROTOBUF);
  assert_int_equal(o.traces_timeout_ms, 2500);
  assert_int_equal(o.logs_timeout_ms, 2500);
  assert_int_equal(o.traces_compression, TRACE_OTLP_COMPRESSION_GZIP);
  assert_string_equal(o.service_name, "shop");
  assert_int_equal(o.sampler, TRACE_OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO);
  assert_true(o.sampler_arg == 0.25);
  assert_int_equal(o.schedule_delay_ms, 100);
  assert_int_equal(o.export_timeout_ms, 7000);
  assert_int_equal(o.max_queue_size, 100);
  assert_int_equal(o.max_export_batch_size, 10);
  assert_false(o.export_logs);
  assert_true(o.export_traces);
  clear_env();
}

static void env_bad_values(void **state) {
  (void)state;
  clear_env();
  setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
  setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon", 1);
  setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", 1);
  setenv("OTEL_TRACES_SAMPLER", "jaeger_remote", 1);
  setenv("OTEL_TRACES_SAMPLER_ARG", "2", 1);
  setenv("OTEL_BSP_MAX_QUEUE_SIZE", "-4", 1);
  setenv("OTEL_BSP_SCHEDULE_DELAY", "99999999999", 1);
  setenv("OTEL_SDK_DISABLED", "maybe", 1);
  setenv("OTEL_LOGS_EXPORTER", "console", 1);
  setenv("OTEL_RESOURCE_ATTRIBUTES", "novalue", 1);
  setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5000\n", 1);
  trace_otlp_options o, defaults;
  trace_otlp_options_init(&o);
  trace_otlp_options_init(&defaults);
  int saved = stderr_to();
  int bads = trace_otlp_options_from_env(&o);
  char *text = stderr_back(saved);
  assert_int_equal(bads, 11);
  static const char *const expect[] = {
      "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported by libtrace (it exports OTLP over HTTP, port 4318); using http/protobuf\n",
      "ignoring OTEL_EXPORTER_OTLP_TRACES_TIMEOUT='soon': expected an integer from 1 to 4294967295; using 10000\n",
      "ignoring OTEL_EXPORTER_OTLP_COMPRESSION='zstd': expected gzip or none; using none\n",
      "ignoring OTEL_TRACES_SAMPLER='jaeger_remote': expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio; using parentbased_always_on\n",
      "ignoring OTEL_TRACES_SAMPLER_ARG='2': expected a number from 0 to 1; using 1\n",
      "ignoring OTEL_BSP_MAX_QUEUE_SIZE='-4': expected an integer from 1 to 4294967295; using 2048\n",
      "ignoring OTEL_BSP_SCHEDULE_DELAY='99999999999': expected an integer from 0 to 4294967295; using 5000\n",
      "ignoring OTEL_SDK_DISABLED='maybe': expected true or false; using false\n",
      "ignoring OTEL_LOGS_EXPORTER='console': expected otlp or none; using otlp\n",
      "ignoring OTEL_RESOURCE_ATTRIBUTES='novalue': expected key=value pairs separated by commas; using none\n",
      /* A control character in a value is escaped, so it cannot forge a line. */
      "ignoring OTEL_BSP_MAX_EXPORT_BATCH_SIZE='5000\\n': expected an integer from 1 to 4294967295; using 512\n",
  };
  for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
    char line[600];
    snprintf(line, sizeof line, "trace: otlp: %s", expect[i]);
    assert_text_contains(text, line);
    assert_null(strstr(strstr(text, line) + 1, line)); /* once */
  }
  int lines = 0;
  for (const char *p = text; *p; p++)
    lines += *p == '\n';
  assert_int_equal(lines, 11);
  /* Every bad value left its field at the default. */
  assert_int_equal(o.traces_protocol, defaults.traces_protocol);
  assert_int_equal(o.traces_timeout_ms, defaults.traces_timeout_ms);
  assert_int_equal(o.max_queue_size, defaults.max_queue_size);
  assert_int_equal(o.schedule_delay_ms, defaults.schedule_delay_ms);
  assert_true(o.sampler_arg == 1.0);
  assert_false(o.disabled);
  assert_true(o.export_logs);
  assert_null(o.resource_attributes);
  clear_env();
}

static void layer_refusals(void **state) {
  (void)state;
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  int err = 0;
  int saved = stderr_to();
  assert_null(trace_otlp_layer_new(&o, NULL, &err)); /* no endpoint */
  assert_int_equal(err, TRACE_EINVAL);
  o.endpoint = "ftp://x";
  assert_null(trace_otlp_layer_new(&o, NULL, &err));
  assert_int_equal(err, TRACE_EINVAL);
  o.endpoint = "http://127.0.0.1:4318";
  o.traces_protocol = TRACE_OTLP_GRPC;
  assert_null(trace_otlp_layer_new(&o, NULL, &err));
  assert_int_equal(err, TRACE_ENOTSUP);
  o.traces_protocol = TRACE_OTLP_HTTP_PROTOBUF;
  o.disabled = true;
  trace_otlp *x = (trace_otlp *)&o;
  assert_null(trace_otlp_layer_new(&o, &x, &err));
  assert_int_equal(err, TRACE_ENOTSUP);
  assert_null(x);
  o.disabled = false;
  o.headers = "bad header=1";
  assert_null(trace_otlp_layer_new(&o, NULL, &err));
  assert_int_equal(err, TRACE_EINVAL);
  o.struct_size = 3;
  assert_null(trace_otlp_layer_new(&o, NULL, &err));
  assert_int_equal(err, TRACE_EINVAL);
  assert_null(trace_otlp_layer_new(NULL, NULL, NULL));
  char *text = stderr_back(saved);
  assert_text_contains(text, "trace: otlp: no endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT");
  assert_text_contains(text, "is not an http:// or https:// URL");
  assert_text_contains(text, "the grpc protocol is not supported by libtrace");
  assert_text_contains(text, "OTEL_SDK_DISABLED is true");
  assert_text_contains(text, "the header 'bad header' in OTEL_EXPORTER_OTLP_TRACES_HEADERS is not a valid HTTP header");
  trace_otlp_stats st = trace_otlp_get_stats(NULL);
  assert_int_equal(st.requests, 0);
  assert_int_equal(trace_otlp_flush(NULL, 1), TRACE_EINVAL);
  trace_otlp_release(NULL);
  assert_null(trace_otlp_installed());
}

#ifdef TEST_OTLP_FORK
/* ---------------------------------------------------------------------------------------- */
/* fork(): the child exports its own spans with an exporter of its own; what the parent had
 * queued is sent once, by the parent. */

/* The collector feeding the exporter (trace_otlp_attach) instead of the layer. */
static void install_attached(const trace_otlp_options *o) {
  exporter = otlp_attached(o);
  assert_non_null(exporter);
}

static void fork_child_exports_with(bool attached) {
  trace_otlp_options o = traces_only();
  if (attached)
    install_attached(&o);
  else
    install(&o);
  emit(2, "before_fork"); /* queued, not sent yet */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    trace_span s = TRACE_INFO_SPAN("in_child");
    trace_span_close(&s);
    trace_shutdown();
    _exit(trace_otlp_get_stats(exporter).spans_exported == 1 ? 0 : 3);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  trace_span s = TRACE_INFO_SPAN("in_parent");
  trace_span_close(&s);
  finish();
  json_t *reqs = receiver_requests(&rcv);
  int child = 0, parent = 0;
  find_span(reqs, "in_child", &child);
  find_span(reqs, "in_parent", &parent);
  int before = 0;
  find_span(reqs, "batch_span", &before);
  assert_int_equal(child, 1);
  assert_int_equal(parent, 1);
  assert_int_equal(before, 2);
  json_decref(reqs);
}

static void fork_child_exports(void **state) {
  (void)state;
  fork_child_exports_with(false);
}

/* The same with a collector feeding the exporter: the records the parent's collector had not
 * reported at the fork are the parent's alone (the child's rings start empty). */
static void fork_child_exports_attached(void **state) {
  (void)state;
  fork_child_exports_with(true);
}

#endif

int main(void) {
  /* Straight to the loopback receiver, whatever proxy the environment names. */
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("https_proxy");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
#ifdef TEST_OTLP_FORK
  /* A program of its own: ThreadSanitizer cannot follow a child that starts threads after a
   * fork, so this one is not in the TSan run (the other tests are). */
  const struct CMUnitTest fork_tests[] = {
      receiver_test(fork_child_exports, NULL),
      receiver_test(fork_child_exports_attached, NULL),
  };
  (void)has_spans;
  return cmocka_run_group_tests(fork_tests, NULL, NULL);
#endif
  const struct CMUnitTest tests[] = {
      receiver_test(protobuf_spans, NULL),
      receiver_test(json_spans_gzip, NULL),
      receiver_test(protobuf_spans_untimed, NULL),
      receiver_test(span_made_elsewhere_keeps_its_thread, NULL),
      receiver_test(remote_parent_and_logs, NULL),
      receiver_test(retry_429, "traces=429,200"),
      receiver_test(retry_after_503, "traces=503:1,200"),
      receiver_test(no_retry_400, "traces=400"),
      receiver_test(down_then_up, GATED),
      receiver_test(hanging_receiver, "traces=hang"),
      receiver_test(shutdown_flushes, NULL),
      receiver_test(flush_exports_more_than_the_queue, NULL),
      receiver_test(odd_buffer_size, NULL),
      receiver_test(sampling, NULL),
      receiver_test(event_limit, NULL),
      cmocka_unit_test(env_good_values),
      cmocka_unit_test(env_bad_values),
      cmocka_unit_test(layer_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
