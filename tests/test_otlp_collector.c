/* The OTLP exporter fed by a collector (trace_otlp_attach) against the real receiver
 * (tests/otlp_receiver.py): first the sink's callbacks called by hand with made-up spans and
 * events, so that every field of trace_collector_span / trace_collector_event is checked against
 * what the receiver decodes; then the collector used alone as the subscriber, end to end. */
#include <pthread.h>

#include "common/compiler.h"
#include "helpers.h"
#include "otlp/internal.h"
#include "otlp_helpers.h"
#include "trace/collector.h"
#include "trace/context.h"
#include "trace/otlp.h"
#include "trace/testing.h"

static receiver rcv;

static int setup(void **state) {
  (void)state;
  return receiver_start(&rcv, NULL, false) ? 0 : -1;
}
static int teardown(void **state) {
  (void)state;
  receiver_stop(&rcv);
  return 0;
}

/* Options for the receiver: no export before a flush or the shutdown. */
/* The receiver decodes a request (protoc, then Python) before it answers it: a batch of 2048
 * spans took 2 to 6.5 s on a loaded machine, and more than the default request time-out of
 * 10 s at times, and the sink waits for room in the exporter's rings only as long as that
 * time-out. Generous limits: a request, a batch and the shutdown's flush end when the receiver
 * has answered, never sooner. */
static trace_otlp_options options(int protocol) {
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  o.endpoint = rcv.url;
  o.traces_protocol = o.logs_protocol = protocol;
  o.service_name = "collector-svc";
  o.schedule_delay_ms = 60000;
  o.traces_timeout_ms = o.logs_timeout_ms = 120000;
  o.export_timeout_ms = 240000;
  o.shutdown_timeout_ms = 240000;
  o.retry_initial_ms = 20;
  o.retry_max_ms = 100;
  o.track_inactivity = true;
  return o;
}

static bool has_spans(json_t *reqs, void *arg) { return span_count(reqs) >= *(int *)arg; }

/* ---------------------------------------------------------------------------------------- */
/* The sink called by hand. */

/* Callsites made by hand (the collector hands over the real ones): ids far above what this
 * test's macros register. */
static const char *const request_fields[] = {"method", "i",      "big",     "ratio", "ok",
                                             "p",      "status", "bad_utf8", "nothing", NULL};
static trace_metadata request_meta = {"request", "shop::http", "src/http.c", "serve",
                                      request_fields, NULL, 10, 9, TRACE_LEVEL_INFO,
                                      TRACE_KIND_SPAN, 900001, 0};
static const char *const db_fields[] = {"otel.name", "otel.kind", "rows", NULL};
static trace_metadata db_meta = {"db", "shop::db", "src/db.c", "query", db_fields, NULL, 20, 3,
                                 TRACE_LEVEL_DEBUG, TRACE_KIND_SPAN, 900002, 0};
static const char *const server_fields[] = {"path", NULL};
static trace_metadata server_meta = {"server", "shop::http", "src/http.c", "serve",
                                     server_fields, NULL, 30, 1, TRACE_LEVEL_INFO,
                                     TRACE_KIND_SPAN, 900003, 0};
static trace_metadata unsampled_meta = {"unsampled", "shop::http", "src/http.c", "serve", NULL,
                                        NULL, 40, 0, TRACE_LEVEL_INFO, TRACE_KIND_SPAN, 900004, 0};
static const char *const query_fields[] = {"query", NULL};
static trace_metadata query_meta = {"event src/db.c:21", "shop::db", "src/db.c", "query",
                                    query_fields, "querying %s", 21, 1, TRACE_LEVEL_INFO,
                                    TRACE_KIND_EVENT, 900005, 0};
static const char *const failed_fields[] = {"code", NULL};
static trace_metadata failed_meta = {"event src/db.c:22", "shop::db", "src/db.c", "query",
                                     failed_fields, "it failed", 22, 1, TRACE_LEVEL_ERROR,
                                     TRACE_KIND_EVENT, 900006, 0};
static trace_metadata outside_meta = {"event src/main.c:5", "shop", "src/main.c", "main", NULL,
                                      "outside", 5, 0, TRACE_LEVEL_WARN, TRACE_KIND_EVENT,
                                      900007, 0};

static const uint64_t T0 = 1700000000000000000ull;

static trace_context context(uint8_t trace_byte, uint8_t span_byte, bool sampled) {
  trace_context c;
  memset(&c, 0, sizeof c);
  for (int i = 0; i < 16; i++)
    c.trace_id[i] = (uint8_t)(trace_byte + i);
  for (int i = 0; i < 8; i++)
    c.span_id[i] = (uint8_t)(span_byte + i);
  c.flags = sampled ? TRACE_CONTEXT_SAMPLED : 0;
  return c;
}

static trace_collector_span span_of(const trace_metadata *meta, uint64_t id,
                                    const trace_context *c, uint32_t thread, const char *name) {
  trace_collector_span s;
  memset(&s, 0, sizeof s);
  s.meta = meta;
  s.fields.meta = meta;
  s.id = id;
  s.context = c;
  s.thread = thread;
  s.thread_name = name;
  return s;
}

static trace_collector_event event_of(const trace_metadata *meta, const char *message,
                                      uint64_t span_id, const trace_context *c, uint64_t time_ns,
                                      uint32_t thread, const char *name) {
  trace_collector_event e;
  memset(&e, 0, sizeof e);
  e.meta = meta;
  e.fields.meta = meta;
  e.message = message;
  e.message_len = message ? strlen(message) : 0;
  e.span_id = span_id;
  e.context = c;
  e.time_ns = time_ns;
  e.thread = thread;
  e.thread_name = name;
  return e;
}

/* What the collector of one made-up request hands over: a root on thread 1 ("main") with a
 * value of every type (status declared empty, then recorded), a child on thread 9
 * ("worker-1") with two events (one ERROR), a span whose parent is remote (tracestate), an
 * unsampled span with an event, and an event outside every span. */
static void feed(const trace_collector_sink *k) {
  trace_context root_c = context(0x10, 0xa0, true), db_c = context(0x10, 0xb0, true);
  trace_context remote_c = context(0x40, 0xc0, true), un_c = context(0x70, 0xd0, false);
  const char *ts = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  memcpy(remote_c.tracestate, ts, strlen(ts) + 1);
  remote_c.tracestate_len = (uint16_t)strlen(ts);

  uint16_t q_index[] = {0};
  trace_value q_values[] = {trace_value_str("select")};
  trace_collector_event query =
      event_of(&query_meta, "querying users", 2, &db_c, T0 + 2500, 9, "worker-1");
  query.fields.values = q_values;
  query.fields.index = q_index;
  query.fields.count = 1;
  k->event(k->arg, &query);
  uint16_t f_index[] = {0};
  trace_value f_values[] = {trace_value_i64(5)};
  trace_collector_event failed =
      event_of(&failed_meta, "it failed", 2, &db_c, T0 + 2600, 9, "worker-1");
  failed.fields.values = f_values;
  failed.fields.index = f_index;
  failed.fields.count = 1;
  k->event(k->arg, &failed);

  uint16_t db_index[] = {0, 1, 2};
  trace_value db_values[] = {trace_value_str("SELECT users"), trace_value_str("client"),
                             trace_value_u64(3)};
  trace_collector_span db = span_of(&db_meta, 2, &db_c, 9, "worker-1");
  db.fields.values = db_values;
  db.fields.index = db_index;
  db.fields.count = 3;
  db.parent_id = 1;
  memcpy(db.parent_span_id, root_c.span_id, 8);
  db.start_ns = T0 + 2000;
  db.end_ns = T0 + 3000;
  db.busy_ns = 600;
  db.idle_ns = 400;
  k->span(k->arg, &db);

  trace_value empty;
  memset(&empty, 0, sizeof empty);
  empty.type = TRACE_VALUE_EMPTY;
  trace_value null_str = trace_value_str("x");
  null_str.as.str.ptr = NULL;
  null_str.as.str.len = 0;
  /* Fields in declaration order, then "status" recorded once more: the last value wins. */
  uint16_t r_index[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 6};
  trace_value r_values[] = {trace_value_str("GET"),
                            trace_value_i64(-5),
                            trace_value_u64(UINT64_MAX),
                            trace_value_f64(0.25),
                            trace_value_bool(true),
                            trace_value_ptr((const void *)(uintptr_t)0x1234),
                            empty,
                            trace_value_str("caf\xe9\n"),
                            null_str,
                            trace_value_i64(200)};
  trace_collector_span root = span_of(&request_meta, 1, &root_c, 1, "main");
  root.fields.values = r_values;
  root.fields.index = r_index;
  root.fields.count = 10;
  root.start_ns = T0 + 1000;
  root.end_ns = T0 + 9000;
  root.busy_ns = 5000;
  root.idle_ns = 3000;
  k->span(k->arg, &root);

  trace_collector_event outside = event_of(&outside_meta, "outside", 0, NULL, T0 + 9500, 1, "main");
  k->event(k->arg, &outside);

  uint16_t s_index[] = {0};
  trace_value s_values[] = {trace_value_str("/a")};
  trace_collector_span server = span_of(&server_meta, 3, &remote_c, 1, "main");
  server.fields.values = s_values;
  server.fields.index = s_index;
  server.fields.count = 1;
  for (int i = 0; i < 8; i++)
    server.parent_span_id[i] = (uint8_t)(0xe0 + i);
  server.parent_remote = true;
  server.start_ns = T0 + 10000;
  server.end_ns = T0 + 11000;
  k->span(k->arg, &server);

  trace_collector_event in_un = event_of(&outside_meta, "in unsampled", 4, &un_c, T0 + 12500, 1,
                                         "main");
  k->event(k->arg, &in_un);
  trace_collector_span un = span_of(&unsampled_meta, 4, &un_c, 1, "main");
  un.start_ns = T0 + 12000;
  un.end_ns = T0 + 13000;
  k->span(k->arg, &un);
  k->round_end(k->arg);
}

static void count_key(json_t *obj, const char *key, int *n) {
  size_t i;
  json_t *kv;
  *n = 0;
  json_array_foreach(json_object_get(obj, "attributes"), i, kv) {
    if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0)
      (*n)++;
  }
}

static long long num(json_t *obj, const char *key) {
  const char *s = str_of(obj, key);
  return s ? strtoll(s, NULL, 10) : -1;
}

static void check_feed(json_t *reqs) {
  assert_true(all_valid(reqs));
  assert_int_equal(span_count(reqs), 3);
  json_t *root = find_span(reqs, "request", NULL), *db = find_span(reqs, "SELECT users", NULL),
         *server = find_span(reqs, "server", NULL);
  assert_non_null(root);
  assert_non_null(db);
  assert_non_null(server);
  assert_null(find_span(reqs, "unsampled", NULL));
  /* Ids, parents, flags, tracestate. */
  assert_string_equal(str_of(root, "traceId"), "101112131415161718191a1b1c1d1e1f");
  assert_string_equal(str_of(root, "spanId"), "a0a1a2a3a4a5a6a7");
  assert_null(json_object_get(root, "parentSpanId"));
  assert_string_equal(str_of(db, "traceId"), "101112131415161718191a1b1c1d1e1f");
  assert_string_equal(str_of(db, "spanId"), "b0b1b2b3b4b5b6b7");
  assert_string_equal(str_of(db, "parentSpanId"), "a0a1a2a3a4a5a6a7");
  assert_int_equal(json_integer_value(json_object_get(root, "flags")), 0x101);
  assert_int_equal(json_integer_value(json_object_get(server, "flags")), 0x301);
  assert_string_equal(str_of(server, "parentSpanId"), "e0e1e2e3e4e5e6e7");
  assert_string_equal(str_of(server, "traceState"), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_null(json_object_get(root, "traceState"));
  /* Times as given, not converted. */
  assert_int_equal(num(root, "startTimeUnixNano"), (long long)(T0 + 1000));
  assert_int_equal(num(root, "endTimeUnixNano"), (long long)(T0 + 9000));
  assert_int_equal(num(db, "startTimeUnixNano"), (long long)(T0 + 2000));
  assert_int_equal(attr_int(root, "busy_ns"), 5000);
  assert_int_equal(attr_int(root, "idle_ns"), 3000);
  assert_int_equal(attr_int(db, "busy_ns"), 600);
  /* Values of every type; status once, with its recorded value. */
  assert_string_equal(attr_str(root, "method"), "GET");
  assert_int_equal(attr_int(root, "i"), -5);
  assert_string_equal(attr_str(root, "big"), "18446744073709551615");
  assert_true(json_real_value(json_object_get(attr(root, "ratio"), "doubleValue")) == 0.25);
  assert_true(json_is_true(json_object_get(attr(root, "ok"), "boolValue")));
  assert_string_equal(attr_str(root, "p"), "0x1234");
  assert_string_equal(attr_str(root, "bad_utf8"), "caf\xef\xbf\xbd\n");
  assert_string_equal(attr_str(root, "nothing"), "null");
  int n;
  count_key(root, "status", &n);
  assert_int_equal(n, 1);
  assert_int_equal(attr_int(root, "status"), 200);
  assert_string_equal(attr_str(root, "code.namespace"), "shop::http");
  assert_string_equal(attr_str(root, "code.filepath"), "src/http.c");
  assert_int_equal(attr_int(root, "code.lineno"), 10);
  /* Threads. */
  assert_int_equal(attr_int(root, "thread.id"), 1);
  assert_string_equal(attr_str(root, "thread.name"), "main");
  assert_int_equal(attr_int(db, "thread.id"), 9);
  assert_string_equal(attr_str(db, "thread.name"), "worker-1");
  /* otel.* fields and the ERROR event's status. */
  assert_int_equal(json_integer_value(json_object_get(db, "kind")), 3);
  assert_null(attr(db, "otel.name"));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(db, "status"), "code")), 2);
  assert_null(json_object_get(root, "status"));
  /* Span events. */
  json_t *evs = json_object_get(db, "events");
  assert_int_equal(json_array_size(evs), 2);
  json_t *e0 = json_array_get(evs, 0), *e1 = json_array_get(evs, 1);
  assert_string_equal(str_of(e0, "name"), "querying users");
  assert_int_equal(num(e0, "timeUnixNano"), (long long)(T0 + 2500));
  assert_string_equal(attr_str(e0, "query"), "select");
  assert_string_equal(str_of(e1, "name"), "it failed");
  assert_int_equal(attr_int(e1, "code"), 5);
  assert_null(json_object_get(root, "events"));
  /* Logs: every event, with the ids of its span (an unsampled one's too, flags 0). */
  json_t *logs = all_logs(reqs);
  assert_int_equal(json_array_size(logs), 4);
  json_t *l0 = json_array_get(logs, 0), *l2 = json_array_get(logs, 2),
         *l3 = json_array_get(logs, 3);
  assert_string_equal(str_of(json_object_get(l0, "body"), "stringValue"), "querying users");
  assert_string_equal(str_of(l0, "traceId"), "101112131415161718191a1b1c1d1e1f");
  assert_string_equal(str_of(l0, "spanId"), "b0b1b2b3b4b5b6b7");
  assert_int_equal(json_integer_value(json_object_get(l0, "flags")), 1);
  assert_string_equal(attr_str(l0, "thread.name"), "worker-1");
  assert_int_equal(num(l0, "timeUnixNano"), (long long)(T0 + 2500));
  assert_string_equal(str_of(json_object_get(l2, "body"), "stringValue"), "outside");
  assert_null(json_object_get(l2, "traceId"));
  assert_int_equal(json_integer_value(json_object_get(l2, "severityNumber")), 13);
  assert_string_equal(str_of(l3, "traceId"), "707172737475767778797a7b7c7d7e7f");
  assert_int_equal(json_integer_value(json_object_get(l3, "flags")), 0);
  json_decref(logs);
}

static void run_feed(int protocol) {
  trace_otlp_options o = options(protocol);
  trace_otlp *x = NULL;
  assert_int_equal(trace_otlp_new(&o, &x), 0);
  assert_non_null(x);
  trace_collector_options co;
  trace_collector_options_init(&co);
  assert_int_equal(trace_otlp_attach(x, &co), 0);
  assert_true(co.flags & TRACE_COLLECTOR_CONTEXT);
  assert_non_null(co.sink);
  assert_null(co.sample); /* the default sampler: no call per span */
  feed(co.sink);
  assert_int_equal(trace_otlp_flush(x, 60000), 0);
  int want = 3;
  json_t *reqs = receiver_wait(&rcv, has_spans, &want);
  check_feed(reqs);
  json_decref(reqs);
  trace_otlp_stats st = trace_otlp_get_stats(x);
  assert_int_equal(st.spans_exported, 3);
  assert_int_equal(st.logs_exported, 4);
  assert_int_equal(st.spans_dropped + st.logs_dropped + st.spans_failed + st.logs_failed, 0);
  co.sink->close(co.sink->arg); /* what the collector does when it is freed */
  trace_otlp_release(x);
}

static void sink_protobuf(void **state) {
  (void)state;
  run_feed(TRACE_OTLP_HTTP_PROTOBUF);
}
static void sink_json(void **state) {
  (void)state;
  run_feed(TRACE_OTLP_HTTP_JSON);
}

/* Thread names follow renames; a span handed over when the collector ends while it is open
 * goes out with the time it was reported as its end. */
static void sink_thread_rename(void **state) {
  (void)state;
  trace_otlp_options o = options(TRACE_OTLP_HTTP_PROTOBUF);
  o.track_inactivity = false;
  trace_otlp *x = NULL;
  assert_int_equal(trace_otlp_new(&o, &x), 0);
  trace_collector_options co;
  trace_collector_options_init(&co);
  assert_int_equal(trace_otlp_attach(x, &co), 0);
  const trace_collector_sink *k = co.sink;
  trace_context a = context(0x20, 0x30, true), b = context(0x20, 0x40, true);
  trace_collector_span s1 = span_of(&server_meta, 1, &a, 5, "before");
  s1.start_ns = T0;
  s1.end_ns = T0 + 10;
  k->span(k->arg, &s1);
  k->round_end(k->arg);
  assert_int_equal(trace_otlp_flush(x, 60000), 0);
  trace_collector_span s2 = span_of(&server_meta, 2, &b, 5, "after");
  s2.start_ns = T0 + 20;
  s2.end_ns = T0 + 30;
  s2.open = true;
  k->span(k->arg, &s2);
  k->close(k->arg); /* sends what it has before it returns */
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  json_t *spans = all_spans(reqs);
  assert_int_equal(json_array_size(spans), 2);
  json_t *j1 = json_array_get(spans, 0), *j2 = json_array_get(spans, 1);
  assert_string_equal(attr_str(j1, "thread.name"), "before");
  assert_string_equal(attr_str(j2, "thread.name"), "after");
  assert_int_equal(attr_int(j2, "thread.id"), 5);
  assert_int_equal(num(j2, "endTimeUnixNano"), (long long)(T0 + 30));
  assert_int_equal(attr_int(j2, "busy_ns"), -1); /* not tracked: not there */
  json_decref(spans);
  json_decref(reqs);
  trace_otlp_release(x);
}

/* ---------------------------------------------------------------------------------------- */
/* trace_otlp_attach's refusals and the sampler it installs. */

static void attach_refusals(void **state) {
  (void)state;
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  o.endpoint = "http://127.0.0.1:9";
  o.discard = true;
  trace_otlp *x = NULL;
  assert_int_equal(trace_otlp_new(NULL, &x), TRACE_EINVAL);
  assert_null(x);
  assert_int_equal(trace_otlp_new(&o, NULL), TRACE_EINVAL);
  assert_int_equal(trace_otlp_new(&o, &x), 0);
  trace_collector_options co;
  trace_collector_options_init(&co);
  assert_int_equal(trace_otlp_attach(NULL, &co), TRACE_EINVAL);
  assert_int_equal(trace_otlp_attach(x, NULL), TRACE_EINVAL);
  co.mode = TRACE_COLLECTOR_FLIGHT;
  assert_int_equal(trace_otlp_attach(x, &co), TRACE_EINVAL);
  assert_int_equal(co.flags, 0);
  assert_null(co.sink);
  co.mode = TRACE_COLLECTOR_STREAM;
  trace_collector_sink other;
  memset(&other, 0, sizeof other);
  co.sink = &other;
  assert_int_equal(trace_otlp_attach(x, &co), TRACE_EBUSY);
  assert_true(co.sink == &other);
  /* Out of memory: o untouched. */
  co.sink = NULL;
  trace_testing_fail_allocations_after(0);
  assert_int_equal(trace_otlp_attach(x, &co), TRACE_ENOMEM);
  trace_testing_fail_allocations_after(-1);
  assert_null(co.sink);
  assert_int_equal(co.flags, 0);
  /* A collector that cannot be made closes the sink, which releases its reference (the
   * sanitizer build's leak check sees one that is not). */
  assert_int_equal(trace_otlp_attach(x, &co), 0);
  co.chrome_path = "/nonexistent-dir-of-libtrace/t.json";
  trace_collector *c = NULL;
  assert_int_equal(trace_collector_new(&co, &c), TRACE_EIO);
  assert_null(c);
  trace_otlp_release(x);
}

static void attach_sampler(void **state) {
  (void)state;
  static const struct {
    int sampler;
    double arg;
    bool installed;
    bool root, parent_sampled, parent_unsampled; /* decisions */
  } cases[] = {
      {TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_ON, 1.0, false, true, true, false},
      {TRACE_OTLP_SAMPLER_ALWAYS_ON, 1.0, true, true, true, true},
      {TRACE_OTLP_SAMPLER_ALWAYS_OFF, 1.0, true, false, false, false},
      {TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF, 1.0, true, false, true, false},
      {TRACE_OTLP_SAMPLER_TRACEIDRATIO, 0.0, true, false, false, false},
      {TRACE_OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO, 0.0, true, false, true, false},
      {TRACE_OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO, 1.0, true, true, true, false},
  };
  uint8_t id[16];
  memset(id, 0x55, sizeof id);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    trace_otlp_options o;
    trace_otlp_options_init(&o);
    o.endpoint = "http://127.0.0.1:9";
    o.discard = true;
    o.sampler = cases[i].sampler;
    o.sampler_arg = cases[i].arg;
    trace_otlp *x = NULL;
    assert_int_equal(trace_otlp_new(&o, &x), 0);
    trace_collector_options co;
    trace_collector_options_init(&co);
    assert_int_equal(trace_otlp_attach(x, &co), 0);
    assert_int_equal(co.sample != NULL, cases[i].installed);
    if (co.sample) {
      assert_true(co.sample_arg == x);
      assert_int_equal(co.sample(co.sample_arg, NULL, id, -1), cases[i].root);
      assert_int_equal(co.sample(co.sample_arg, NULL, id, TRACE_CONTEXT_SAMPLED),
                       cases[i].parent_sampled);
      assert_int_equal(co.sample(co.sample_arg, NULL, id, 0), cases[i].parent_unsampled);
    }
    co.sink->close(co.sink->arg);
    trace_otlp_release(x);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* End to end: the collector alone as the subscriber, with the exporter attached. */

static trace_otlp *attached(trace_otlp_options *o) {
  trace_otlp *x = otlp_attached(o);
  assert_non_null(x);
  return x;
}

typedef struct worker_arg {
  trace_span parent;
  trace_context ctx; /* the worker span's, read on the worker */
  uint32_t thread;
} worker_arg;

static void *worker(void *arg) {
  worker_arg *w = arg;
  trace_thread_set_name("worker-1");
  w->thread = trace_thread_id();
  trace_span s = TRACE_SPAN_IN(&w->parent, TRACE_LEVEL_INFO, "on_worker", TF(job, 7));
  trace_span_enter(&s);
  assert_int_equal(trace_span_context(&s, &w->ctx), 0);
  TRACE_WARN(TF(attempt, 2), "retrying %s", "job");
  trace_span_exit(&s);
  trace_span_close(&s);
  return NULL;
}

static const char remote_tp[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

static void span_id_hex_of(const trace_context *c, char *trace, char *span) {
  trace_trace_id_hex(c->trace_id, trace);
  trace_span_id_hex(c->span_id, span);
}

static void collector_end_to_end(void **state) {
  (void)state;
  /* JSON: the ids are compared with trace_span_context's, and random ids sent as protobuf
   * bytes can be ambiguous to the receiver's protoc --decode_raw (it may take them for a
   * message; the hand-made tests above check protobuf with ids that are not). */
  trace_otlp_options o = options(TRACE_OTLP_HTTP_JSON);
  trace_otlp *x = attached(&o);
  trace_span root = TRACE_INFO_SPAN("request", TF(method, "GET"), TF(n, 3));
  trace_span_enter(&root);
  trace_context root_ctx;
  assert_int_equal(trace_span_context(&root, &root_ctx), 0);
  trace_span db = TRACE_DEBUG_SPAN("db", TF(rows, 2u));
  trace_span_enter(&db);
  TRACE_INFO(TF(query, "select"), "querying");
  TRACE_ERROR(TF(code, 5), "it failed");
  trace_span_exit(&db);
  trace_span_close(&db);
  worker_arg w = {trace_span_clone(&root), {{0}, {0}, 0, 0, 0, {0}}, 0};
  pthread_t t;
  pthread_create(&t, NULL, worker, &w);
  pthread_join(t, NULL);
  trace_span_close(&w.parent);
  trace_span_exit(&root);
  trace_span_close(&root);
  /* A request from another service. */
  trace_context remote;
  assert_int_equal(trace_traceparent_parse(remote_tp, strlen(remote_tp), &remote, NULL), 0);
  assert_int_equal(trace_tracestate_parse("congo=t61rcWkgMzE", 17, &remote, NULL), 0);
  trace_span server = TRACE_INFO_SPAN_FROM(&remote, "server", TF(path, "/a"));
  trace_span_enter(&server);
  TRACE_INFO("in server");
  trace_span_exit(&server);
  trace_span_close(&server);
  TRACE_INFO(TF(outside, true), "no span here");
  trace_shutdown(); /* exports everything before it returns */
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  assert_int_equal(span_count(reqs), 4);
  assert_int_equal(log_count(reqs), 5);
  json_t *jr = find_span(reqs, "request", NULL), *jd = find_span(reqs, "db", NULL),
         *jw = find_span(reqs, "on_worker", NULL), *js = find_span(reqs, "server", NULL);
  assert_non_null(jr);
  assert_non_null(jd);
  assert_non_null(jw);
  assert_non_null(js);
  /* The ids trace_span_context gave are the ones exported. */
  char trace[TRACE_TRACE_ID_HEX_SIZE], span[TRACE_SPAN_ID_HEX_SIZE];
  span_id_hex_of(&root_ctx, trace, span);
  assert_string_equal(str_of(jr, "traceId"), trace);
  assert_string_equal(str_of(jr, "spanId"), span);
  assert_null(json_object_get(jr, "parentSpanId"));
  assert_string_equal(str_of(jd, "traceId"), trace);
  assert_string_equal(str_of(jd, "parentSpanId"), span);
  assert_string_equal(str_of(jw, "parentSpanId"), span);
  span_id_hex_of(&w.ctx, trace, span);
  assert_string_equal(str_of(jw, "spanId"), span);
  assert_int_equal(json_integer_value(json_object_get(jr, "flags")), 0x101);
  /* The remote parent. */
  assert_string_equal(str_of(js, "traceId"), "0af7651916cd43dd8448eb211c80319c");
  assert_string_equal(str_of(js, "parentSpanId"), "b7ad6b7169203331");
  assert_string_equal(str_of(js, "traceState"), "congo=t61rcWkgMzE");
  assert_int_equal(json_integer_value(json_object_get(js, "flags")), 0x301);
  /* Values, threads, times, status, events. */
  assert_string_equal(attr_str(jr, "method"), "GET");
  assert_int_equal(attr_int(jr, "n"), 3);
  assert_int_equal(attr_int(jd, "rows"), 2);
  assert_int_equal(attr_int(jr, "thread.id"), trace_thread_id());
  assert_int_equal(attr_int(jw, "thread.id"), w.thread);
  assert_string_equal(attr_str(jw, "thread.name"), "worker-1");
  assert_string_equal(attr_str(jr, "code.namespace"), "test_otlp_collector");
  long long start = num(jr, "startTimeUnixNano"), end = num(jr, "endTimeUnixNano");
  assert_true(start > 1600000000000000000LL && end >= start);
  assert_true(num(jd, "startTimeUnixNano") >= start && num(jd, "endTimeUnixNano") <= end);
  assert_true(attr_int(jr, "busy_ns") >= 0 && attr_int(jr, "idle_ns") >= 0);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(jd, "status"), "code")), 2);
  assert_null(json_object_get(jr, "status"));
  json_t *evs = json_object_get(jd, "events");
  assert_int_equal(json_array_size(evs), 2);
  assert_string_equal(str_of(json_array_get(evs, 0), "name"), "querying");
  assert_string_equal(str_of(json_array_get(evs, 1), "name"), "it failed");
  assert_string_equal(str_of(json_array_get(json_object_get(jw, "events"), 0), "name"),
                      "retrying job");
  /* Logs carry the ids of their span. */
  json_t *logs = all_logs(reqs);
  size_t i;
  json_t *l;
  int found = 0;
  json_array_foreach(logs, i, l) {
    const char *body = str_of(json_object_get(l, "body"), "stringValue");
    if (strcmp(body, "querying") == 0) {
      assert_string_equal(str_of(l, "spanId"), str_of(jd, "spanId"));
      assert_string_equal(str_of(l, "traceId"), str_of(jd, "traceId"));
      found++;
    } else if (strcmp(body, "in server") == 0) {
      assert_string_equal(str_of(l, "spanId"), str_of(js, "spanId"));
      found++;
    } else if (strcmp(body, "no span here") == 0) {
      assert_null(json_object_get(l, "traceId"));
      found++;
    }
  }
  assert_int_equal(found, 3);
  json_decref(logs);
  json_decref(reqs);
  trace_otlp_stats st = trace_otlp_get_stats(x);
  assert_int_equal(st.spans_exported, 4);
  assert_int_equal(st.spans_dropped + st.logs_dropped + st.spans_failed + st.logs_failed, 0);
  trace_otlp_release(x);
}

/* always_off: spans are made, entered and closed, none is exported; their events still go as
 * logs, with the ids and an unsampled flag. */
static void collector_always_off(void **state) {
  (void)state;
  trace_otlp_options o = options(TRACE_OTLP_HTTP_JSON);
  o.sampler = TRACE_OTLP_SAMPLER_ALWAYS_OFF;
  trace_otlp *x = attached(&o);
  for (int i = 0; i < 10; i++) {
    trace_span s = TRACE_INFO_SPAN("off", TF(i, i));
    trace_span_enter(&s);
    if (i == 0)
      TRACE_INFO("inside");
    trace_span_exit(&s);
    trace_span_close(&s);
  }
  trace_shutdown();
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  assert_int_equal(span_count(reqs), 0);
  json_t *traces = requests_to(reqs, "/v1/traces");
  assert_int_equal(json_array_size(traces), 0);
  json_decref(traces);
  json_t *logs = all_logs(reqs);
  assert_int_equal(json_array_size(logs), 1);
  assert_int_equal(strlen(str_of(json_array_get(logs, 0), "traceId")), 32);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(logs, 0), "flags")), 0);
  json_decref(logs);
  json_decref(reqs);
  assert_int_equal(trace_otlp_get_stats(x).spans_exported, 0);
  trace_otlp_release(x);
}

/* Many spans from several threads, more than the reporter's ring of the exporter holds at once:
 * trace_shutdown loses none. */
enum { MANY_THREADS = 4, MANY_SPANS = 5000 };

static void *many(void *arg) {
  (void)arg;
  for (int i = 0; i < MANY_SPANS; i++) {
    trace_span s = TRACE_INFO_SPAN("many", TF(i, i), TF(pad, "some text to make it bigger"));
    trace_span_enter(&s);
    trace_span_exit(&s);
    trace_span_close(&s);
  }
  return NULL;
}

/* A collector feeding an exporter with options o (traces only, no sampling left to chance)
 * while produce() makes expected spans: every one of them reaches the receiver, none dropped by
 * the collector or the exporter, none failed. */
static void nothing_lost(trace_otlp_options *o, void (*produce)(void), int expected) {
  o->export_logs = false;
  trace_otlp *x = NULL;
  assert_int_equal(trace_otlp_new(o, &x), 0);
  trace_collector_options co;
  trace_collector_options_init(&co);
  co.thread_buffer_bytes = (size_t)16 << 20;
  assert_int_equal(trace_otlp_attach(x, &co), 0);
  trace_collector *c = NULL;
  assert_int_equal(trace_collector_new(&co, &c), 0);
  assert_int_equal(trace_collector_install(c), 0);
  produce();
  uint64_t dropped = trace_collector_get_stats(c).records_dropped;
  trace_shutdown();
  trace_otlp_stats st = trace_otlp_get_stats(x);
  assert_int_equal(dropped, 0);
  assert_int_equal(st.spans_dropped, 0);
  assert_int_equal(st.spans_failed, 0);
  assert_int_equal(st.spans_exported, expected);
  json_t *reqs = receiver_requests(&rcv);
  assert_int_equal(span_count(reqs), expected);
  json_decref(reqs);
  trace_otlp_release(x);
}

static void many_threads(void) {
  pthread_t t[MANY_THREADS];
  for (int i = 0; i < MANY_THREADS; i++)
    pthread_create(&t[i], NULL, many, NULL);
  for (int i = 0; i < MANY_THREADS; i++)
    pthread_join(t[i], NULL);
}

static void collector_nothing_lost(void **state) {
  (void)state;
  trace_otlp_options o = options(TRACE_OTLP_HTTP_PROTOBUF);
  o.thread_buffer_size = 16384; /* a few dozen spans: the reporter must wait for room */
  o.max_queue_size = 100000;
  o.max_export_batch_size = 2048;
  nothing_lost(&o, many_threads, MANY_THREADS * MANY_SPANS);
}

/* A slow collector that still answers: once its queue is full (1024 spans, drained from a ring
 * that holds more), the exporter sends every batch that is due (16, 0.4 s each at least) before
 * it reads its rings again, longer than a request's time-out (3 s). The sink, waiting for room
 * meanwhile, must take each accepted batch for progress and keep waiting, not drop (what it did
 * before: it looked only at the rings). */
enum { SLOW_SPANS = 2700 };

static int setup_slow(void **state) {
  (void)state;
  return receiver_start(&rcv, "traces=200@0.4", false) ? 0 : -1;
}

static void slow_spans(void) {
  for (int i = 0; i < SLOW_SPANS; i++) {
    trace_span s = TRACE_INFO_SPAN("slow", TF(i, i), TF(pad, "some text to make it bigger"));
    trace_span_close(&s);
  }
}

static void collector_waits_for_a_slow_receiver(void **state) {
  (void)state;
  trace_otlp_options o = options(TRACE_OTLP_HTTP_PROTOBUF);
  o.thread_buffer_size = 262144; /* some 1,600 spans: fewer than SLOW_SPANS - max_queue_size */
  o.max_export_batch_size = 64;
  o.max_queue_size = 1024; /* 16 batches sent in a row once the queue is full */
  o.traces_timeout_ms = 3000;
  nothing_lost(&o, slow_spans, SLOW_SPANS);
}

/* ---------------------------------------------------------------------------------------- */
/* The ring's slow path (what collector_nothing_lost found): the producer's stale view of the
 * consumer's tail leaves room for the record but not for a pad to the end of the buffer and the
 * record at the start; the consumer has in fact drained everything. The reservation must look
 * at the tail again, not refuse (nothing else would ever look again: no record is committed). */
static void ring_full_looks_again(void **state) {
  (void)state;
  static char buf[4096] __attribute__((aligned(8)));
  ring r;
  memset(&r, 0, sizeof r);
  r.buf = buf;
  r.cap = sizeof buf;
  r.head = 4096 + 3072;        /* 1024 bytes before the end of the buffer */
  r.tail_seen = r.head - 2596; /* seen 1500 bytes free: enough for 1152, not for 1024 + 1152 */
  r.tail = r.head;             /* everything drained */
  size_t got = 0;
  char *at = trace__otlp_ring_reserve(&r, 1152, 1152, &got);
  assert_true(at == buf);
  assert_int_equal(got, 1152);
  assert_int_equal(r.pad, 1024);
  /* A ring really full is still refused. */
  memset(&r, 0, sizeof r);
  r.buf = buf;
  r.cap = sizeof buf;
  r.head = 4096 + 3072;
  r.tail_seen = r.tail = r.head - 2596;
  assert_null(trace__otlp_ring_reserve(&r, 1152, 1152, &got));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(sink_protobuf, setup, teardown),
      cmocka_unit_test_setup_teardown(sink_json, setup, teardown),
      cmocka_unit_test_setup_teardown(sink_thread_rename, setup, teardown),
      cmocka_unit_test(attach_refusals),
      cmocka_unit_test(attach_sampler),
      cmocka_unit_test(ring_full_looks_again),
      cmocka_unit_test_setup_teardown(collector_end_to_end, setup, teardown),
      cmocka_unit_test_setup_teardown(collector_always_off, setup, teardown),
      cmocka_unit_test_setup_teardown(collector_nothing_lost, setup, teardown),
      cmocka_unit_test_setup_teardown(collector_waits_for_a_slow_receiver, setup_slow, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
