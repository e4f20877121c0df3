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

/* Options for the receiver: quick retries, and no export before a flush or the shutdown. */
static trace_otlp_options options(int protocol) {
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  o.endpoint = rcv.url;
  o.traces_protocol = o.logs_protocol = protocol;
  o.service_name = "test-svc";
  o.resource_attributes = "deployment.environment=ci,team=c%20people";
  o.schedule_delay_ms = 60000;
  o.retry_initial_ms = 20;
  o.retry_max_ms = 100;
  o.headers = "X-Test=yes";
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

static int start_receiver(const char *script, bool gated) {
  return receiver_start(&rcv, script, gated) ? 0 : -1;
}
static int setup(void **state) {
  (void)state;
  return start_receiver(NULL, false);
}
static int teardown(void **state) {
  (void)state;
  if (exporter)
    finish();
  receiver_stop(&rcv);
  return 0;
}

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

static void check_scenario(json_t *reqs, bool json) {
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
  assert_true(attr_int(root, "busy_ns") >= 0 && attr_int(root, "idle_ns") >= 0);
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

static void run_protocol(int protocol, int compression) {
  trace_otlp_options o = options(protocol);
  o.traces_compression = o.logs_compression = compression;
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
  check_scenario(reqs, protocol == TRACE_OTLP_HTTP_JSON);
  assert_int_equal(span_count(reqs), 4);
  json_decref(reqs);
}

static void protobuf_spans(void **state) {
  (void)state;
  run_protocol(TRACE_OTLP_HTTP_PROTOBUF, TRACE_OTLP_COMPRESSION_NONE);
}
static void json_spans_gzip(void **state) {
  (void)state;
  run_protocol(TRACE_OTLP_HTTP_JSON, TRACE_OTLP_COMPRESSION_GZIP);
}

int main(void) {
  /* Straight to the loopback receiver, whatever proxy the environment names. */
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("https_proxy");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(protobuf_spans, setup, teardown),
      cmocka_unit_test_setup_teardown(json_spans_gzip, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
