/* libFuzzer target for the env-filter: arbitrary bytes go to the strict and the lossy parser;
 * whatever parses must print a normal form that parses back to itself, answer for a few fixed
 * callsites, reload, and drive a registry through spans and events. Bytes after a first NUL are
 * a second filter to reload with.
 *
 *   build: part of the CMake build when clang is available (TRACE_BUILD_FUZZERS)
 *   run:   build/tests/fuzz/fuzz_env_filter tests/fuzz/corpus/env_filter  (copy it first: libFuzzer
 *          adds what it finds to the first directory) */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry/internal.h" /* struct trace_filter: to ask the vtable about fixed metadata */
#include "trace/env_filter.h"
#include "trace/registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Where ASan and UBSan write their reports (stderr is silenced around the lossy parser). */
void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

static int devnull = -1, real_stderr = -1;
static trace_env_filter *live; /* the registry's filter, reloaded with every input that parses */

static void ignore_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  (void)self;
  (void)ev;
  (void)ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  devnull = open("/dev/null", O_WRONLY);
  real_stderr = dup(2);
  if (__sanitizer_set_report_fd)
    __sanitizer_set_report_fd((void *)(intptr_t)real_stderr);
  live = trace_env_filter_parse_lossy("info");
  static const trace_layer_vtable layer = {
      .struct_size = sizeof(trace_layer_vtable),
      .on_event = ignore_event,
  };
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&layer, NULL, 0, 0), trace_env_filter_as_filter(live));
  trace_dispatch *d = trace_registry_dispatch(reg);
  if (!live || !d)
    abort();
  trace_set_default(d); /* for the whole run */
  return 0;
}

static const char *const span_fields[] = {"path", "user_id", "peer", "ok", "load", NULL};
static const char *const event_fields[] = {"user_id", NULL};
static trace_metadata fixed[] = {
    {"request", "app::net", "f.c", "f", span_fields, NULL, 1, 5, TRACE_LEVEL_INFO, TRACE_KIND_SPAN, 0, 0},
    {"conn", "app", "f.c", "f", span_fields, NULL, 2, 5, TRACE_LEVEL_TRACE, TRACE_KIND_SPAN, 4000, 0},
    {"event f.c:3", "db", "f.c", "f", event_fields, "x", 3, 1, TRACE_LEVEL_DEBUG, TRACE_KIND_EVENT, 4001, 0},
    {"event f.c:4", "app2", "f.c", "f", event_fields + 1, "x", 4, 0, TRACE_LEVEL_ERROR, TRACE_KIND_EVENT, 0, 0},
};

static void ask(trace_env_filter *f) {
  trace_filter *tf = trace_env_filter_as_filter(f);
  if (!tf)
    return;
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    trace_interest interest = tf->vt.register_callsite(tf->self, &fixed[i]);
    bool on = tf->vt.enabled(tf->self, &fixed[i], NULL);
    if (interest < TRACE_INTEREST_NEVER || interest > TRACE_INTEREST_ALWAYS ||
        (interest == TRACE_INTEREST_ALWAYS && !on))
      abort();
  }
  int hint = tf->vt.max_level_hint(tf->self);
  if (hint < TRACE_LEVEL_OFF || hint > TRACE_LEVEL_TRACE)
    abort();
  trace_filter_free(tf);
}

static void run_scenario(void) {
  TRACE_EVENT_AT("app", TRACE_LEVEL_INFO, "root");
  trace_span conn = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "conn", TF(peer, "10.0.0.7"),
                                  TF(ok, (bool)true), TF(load, 0.5));
  trace_span_enter(&conn);
  trace_span req = TRACE_SPAN_AT("app::net", TRACE_LEVEL_DEBUG, "request", TF(path, "/z"),
                                 TF(user_id, 42), TF(status, TRACE_EMPTY));
  TRACE_RECORD(&req, status, 500);
  trace_span_enter(&req);
  TRACE_EVENT_AT("db", TRACE_LEVEL_TRACE, TF(user_id, 7), "query");
  TRACE_EVENT_AT("h2", TRACE_LEVEL_DEBUG, "frame");
  trace_span_exit(&req);
  trace_span_exit(&conn);
  trace_span_close(&req);
  trace_span_close(&conn);
}

/* The normal form of f, which must parse back to itself; NULL if it does not fit. */
static char *normal_form(trace_env_filter *f) {
  size_t n = trace_env_filter_spec(f, NULL, 0);
  char *text = malloc(n + 1);
  if (!text || trace_env_filter_spec(f, text, n + 1) != n)
    abort();
  trace_env_filter *again = NULL;
  if (trace_env_filter_parse(text, &again, NULL) != 0)
    abort();
  char *text2 = malloc(n + 1);
  if (!text2 || trace_env_filter_spec(again, text2, n + 1) != n || strcmp(text, text2) != 0)
    abort();
  free(text2);
  trace_env_filter_release(again);
  return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *spec = malloc(size + 1);
  if (!spec)
    return 0;
  memcpy(spec, data, size);
  spec[size] = '\0';
  size_t first = strlen(spec);
  const char *second = first < size ? spec + first + 1 : "info";

  trace_env_filter *f = NULL;
  trace_filter_error err;
  int rc = trace_env_filter_parse(spec, &f, &err);
  if (rc == 0) {
    char *text = normal_form(f);
    ask(f);
    if (trace_env_filter_reload(live, text, NULL) != 0)
      abort();
    run_scenario();
    if (trace_env_filter_reload(f, second, NULL) == 0)
      free(normal_form(f));
    ask(f);
    free(text);
    trace_env_filter_release(f);
  } else if (rc != TRACE_EPARSE || f || err.offset > first || !err.message[0]) {
    abort();
  }

  dup2(devnull, 2);
  trace_env_filter *lossy = trace_env_filter_parse_lossy(spec);
  dup2(real_stderr, 2);
  if (!lossy)
    abort();
  free(normal_form(lossy));
  trace_env_filter_release(lossy);
  free(spec);
  return 0;
}
