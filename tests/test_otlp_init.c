/* trace_init() and libtrace_otlp: linking the library is all it takes. This program references
 * nothing of libtrace_otlp, and is built twice, against the shared libraries and against the
 * static ones (where the library's registering constructor is kept by the link option its CMake
 * target carries): with OTEL_EXPORTER_OTLP_ENDPOINT set, trace_init adds the OTLP layer next to
 * fmt; without it, or with OTEL_SDK_DISABLED=true, nothing changes (no exporter thread). */
#include <dirent.h>

#include "helpers.h"
#include "otlp_helpers.h"
#include "trace/fmt.h"

static receiver rcv;

static int setup(void **state) {
  (void)state;
  unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  unsetenv("OTEL_SDK_DISABLED");
  unsetenv("OTEL_TRACES_EXPORTER");
  unsetenv("OTEL_LOGS_EXPORTER");
  return receiver_start(&rcv, NULL, false) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  receiver_stop(&rcv);
  unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  unsetenv("OTEL_SDK_DISABLED");
  return 0;
}

/* Whether a thread of this process is called name. */
static bool thread_named(const char *name) {
  DIR *d = opendir("/proc/self/task");
  bool found = false;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char path[300], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (f) {
      if (fgets(comm, sizeof comm, f))
        comm[strcspn(comm, "\n")] = '\0';
      fclose(f);
    }
    found |= strcmp(comm, name) == 0;
  }
  if (d)
    closedir(d);
  return found;
}

static void run(void) {
  assert_int_equal(trace_init(), 0);
  trace_span s = TRACE_INFO_SPAN("init_span", TF(n, 1));
  trace_span_enter(&s);
  TRACE_INFO("hello from init");
  trace_span_exit(&s);
  trace_span_close(&s);
}

/* run() when trace_init must install no exporter: no export thread, nothing received. */
static void run_without_exporter(void) {
  run();
  assert_false(thread_named("trace-otlp"));
  trace_shutdown();
  json_t *reqs = receiver_requests(&rcv);
  assert_int_equal(json_array_size(reqs), 0);
  json_decref(reqs);
}

static void with_endpoint(void **state) {
  (void)state;
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.url, 1);
  setenv("OTEL_SERVICE_NAME", "init-test", 1);
  run();
  assert_true(thread_named("trace-otlp"));
  trace_shutdown();
  assert_false(thread_named("trace-otlp"));
  json_t *reqs = receiver_requests(&rcv);
  assert_true(all_valid(reqs));
  int count = 0;
  json_t *sp = find_span(reqs, "init_span", &count);
  assert_int_equal(count, 1);
  assert_int_equal(attr_int(sp, "n"), 1);
  assert_int_equal(log_count(reqs), 1);
  json_decref(reqs);
}

static void without_endpoint(void **state) {
  (void)state;
  run_without_exporter();
}

static void sdk_disabled(void **state) {
  (void)state;
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.url, 1);
  setenv("OTEL_SDK_DISABLED", "true", 1);
  run_without_exporter();
}

/* The registration API itself: a second factory of the same name is refused, bad arguments
 * too, and a factory's layer is added by trace_init (here one that counts spans). */
static int counted_spans;
static void count_span(void *self, const trace_span_attrs *a, uint64_t id, const trace_ctx *ctx) {
  (void)self, (void)a, (void)id, (void)ctx;
  counted_spans++;
}
static trace_layer *counting_factory(void *arg) {
  static const trace_layer_vtable vt = {.struct_size = sizeof vt, .on_new_span = count_span};
  return trace_layer_new(&vt, arg, 0, 0);
}

static void factory_api(void **state) {
  (void)state;
  assert_int_equal(trace_init_add_layer_factory("otlp", counting_factory, NULL), TRACE_EEXIST);
  assert_int_equal(trace_init_add_layer_factory(NULL, counting_factory, NULL), TRACE_EINVAL);
  assert_int_equal(trace_init_add_layer_factory("counting", NULL, NULL), TRACE_EINVAL);
  assert_int_equal(trace_init_add_layer_factory("counting", counting_factory, NULL), 0);
  assert_int_equal(trace_init_add_layer_factory("counting", counting_factory, NULL), TRACE_EEXIST);
  run();
  trace_shutdown();
  assert_int_equal(counted_spans, 1);
}

int main(void) {
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  unsetenv("TRACE_FILTER");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(with_endpoint, setup, teardown),
      cmocka_unit_test_setup_teardown(without_endpoint, setup, teardown),
      cmocka_unit_test_setup_teardown(sdk_disabled, setup, teardown),
      cmocka_unit_test_setup_teardown(factory_api, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
