/* The env-filter's semantics: a fixed scenario of callsites and nested spans run under a table of
 * filters, each with the events and spans it must let through, both as the registry's filter and
 * as one layer's filter beside an INFO console layer; dynamic directives on values recorded
 * later; reload (also from inside a callback, and under four emitting threads); steady state
 * without allocation; out of memory. */
#include <pthread.h>
#include <stdlib.h>

#include "helpers.h"
#include "trace/env_filter.h"
#include "trace/registry.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------- */
/* A layer that logs "new <span>" and "<message> <target> <LEVEL>" lines. */

typedef struct recorder {
  text_log log;
} recorder;

static void rec_new_span(void *self, const trace_span_attrs *a, uint64_t id, const trace_ctx *ctx) {
  (void)id;
  (void)ctx;
  text_log_printf(&((recorder *)self)->log, "new %s\n", a->meta->name);
}

static void rec_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  (void)ctx;
  char msg[64];
  trace_event_message(ev, msg, sizeof msg);
  text_log_printf(&((recorder *)self)->log, "%s %s %s\n", msg, ev->meta->target,
                  trace_level_name(ev->meta->level));
}

static const trace_layer_vtable recorder_vtable = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_new_span = rec_new_span,
    .on_event = rec_event,
};

static recorder *recorder_new(void) {
  recorder *r = calloc(1, sizeof *r);
  text_log_init(&r->log);
  return r;
}

static void recorder_free(recorder *r) {
  text_log_destroy(&r->log);
  free(r);
}

static trace_env_filter *must_parse(const char *spec) {
  trace_env_filter *f = NULL;
  trace_filter_error err;
  int rc = trace_env_filter_parse(spec, &f, &err);
  if (rc != 0)
    print_error("parse '%s': %s\n", spec, err.message);
  assert_int_equal(rc, 0);
  return f;
}

/* Installs a registry as this thread's default: the env-filter f as the registry's filter in
 * front of layer rec (as_layer false), or as rec's own filter beside a console layer at INFO. */
static trace_dispatch *install(trace_env_filter *f, recorder *rec, recorder *console, bool as_layer,
                               trace_default_guard *g) {
  trace_registry *reg = trace_registry_new();
  assert_non_null(reg);
  if (as_layer) {
    assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(&recorder_vtable, rec, 0, 0),
                                              trace_env_filter_as_filter(f)),
                     0);
    assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(&recorder_vtable, console, 0, 0),
                                              trace_filter_level(TRACE_LEVEL_INFO)),
                     0);
  } else {
    assert_int_equal(
        trace_registry_add_layer(reg, trace_layer_new(&recorder_vtable, rec, 0, 0), NULL), 0);
    assert_int_equal(trace_registry_set_filter(reg, trace_env_filter_as_filter(f)), 0);
  }
  trace_dispatch *d = trace_registry_dispatch(reg);
  assert_non_null(d);
  *g = trace_set_default(d);
  return d;
}

static void uninstall(trace_dispatch *d, trace_default_guard *g) {
  trace_default_guard_restore(g);
  trace_dispatch_release(d);
}

/* One test's recorder behind the env-filter spec (the registry's filter), installed as this
 * thread's default; filtered_end uninstalls it, checks what the recorder saw, frees it all. */
typedef struct filtered {
  recorder *rec;
  trace_env_filter *f;
  trace_default_guard g;
  trace_dispatch *d;
} filtered;

static filtered filtered_begin(const char *spec) {
  filtered fx;
  fx.rec = recorder_new();
  fx.f = must_parse(spec);
  fx.d = install(fx.f, fx.rec, NULL, false, &fx.g);
  return fx;
}

static void filtered_end(filtered *fx, const char *expected) {
  uninstall(fx->d, &fx->g);
  trace_env_filter_release(fx->f);
  assert_text_equal(fx->rec->log.text, expected);
  recorder_free(fx->rec);
}

/* ---------------------------------------------------------------------------------------- */
/* The scenario: events of every level for eight targets, at the root, inside conn, inside
 * conn>request, back in conn after request exits, and at the root again. */

static const char *const targets[] = {"app",  "app::net", "app.net", "app/net",
                                      "app2", "db",       "h2",      "fields"};
static const char *const contexts[] = {"root", "conn", "req", "back", "after"};

#define EMIT_AT(tgt, ctx)                                                                          \
  do {                                                                                             \
    TRACE_EVENT_AT(tgt, TRACE_LEVEL_ERROR, "%s", ctx);                                             \
    TRACE_EVENT_AT(tgt, TRACE_LEVEL_WARN, "%s", ctx);                                              \
    TRACE_EVENT_AT(tgt, TRACE_LEVEL_INFO, "%s", ctx);                                              \
    TRACE_EVENT_AT(tgt, TRACE_LEVEL_DEBUG, "%s", ctx);                                             \
    TRACE_EVENT_AT(tgt, TRACE_LEVEL_TRACE, "%s", ctx);                                             \
  } while (0)

static void emit_all(const char *ctx) {
  EMIT_AT("app", ctx);
  EMIT_AT("app::net", ctx);
  EMIT_AT("app.net", ctx);
  EMIT_AT("app/net", ctx);
  EMIT_AT("app2", ctx);
  EMIT_AT("db", ctx);
  EMIT_AT("h2", ctx);
  /* Events that declare user_id and team, for static directives on field names. */
  TRACE_EVENT_AT("fields", TRACE_LEVEL_ERROR, TF(user_id, 7), TF(team, 1), "%s", ctx);
  TRACE_EVENT_AT("fields", TRACE_LEVEL_WARN, TF(user_id, 7), TF(team, 1), "%s", ctx);
  TRACE_EVENT_AT("fields", TRACE_LEVEL_INFO, TF(user_id, 7), TF(team, 1), "%s", ctx);
  TRACE_EVENT_AT("fields", TRACE_LEVEL_DEBUG, TF(user_id, 7), TF(team, 1), "%s", ctx);
  TRACE_EVENT_AT("fields", TRACE_LEVEL_TRACE, TF(user_id, 7), TF(team, 1), "%s", ctx);
}

static void scenario(void) {
  emit_all("root");
  /* (bool)true: in C, true is an int, and TF would record an i64. */
  trace_span conn = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "conn", TF(peer, "10.0.0.7"),
                                  TF(tls, (bool)true), TF(port, 8080u), TF(load, 0.5));
  trace_span_enter(&conn);
  emit_all("conn");
  trace_span req = TRACE_SPAN_AT("app::net", TRACE_LEVEL_INFO, "request", TF(path, "/z"),
                                 TF(user_id, 42), TF(delta, -3));
  trace_span_enter(&req);
  emit_all("req");
  trace_span_exit(&req);
  emit_all("back");
  trace_span_exit(&conn);
  emit_all("after");
  trace_span_close(&req);
  trace_span_close(&conn);
}

/* The most verbose level expected for (ctx, target) from tokens "[ctx/]target=L" and
 * "[ctx/]*=L" (L one of O E W I D T): ctx/target, then ctx/any, then target, then any. "back"
 * is judged like "conn" and "after" like the root: exits must restore. */
static int expected_level(const char *expect, const char *ctx, const char *target) {
  if (strcmp(ctx, "back") == 0)
    ctx = "conn";
  if (strcmp(ctx, "root") == 0 || strcmp(ctx, "after") == 0)
    ctx = NULL;
  char keys[4][64];
  int n = 0;
  if (ctx) {
    snprintf(keys[n++], sizeof keys[0], "%s/%s=", ctx, target);
    snprintf(keys[n++], sizeof keys[0], "%s/*=", ctx);
  }
  snprintf(keys[n++], sizeof keys[0], "%s=", target);
  snprintf(keys[n++], sizeof keys[0], "*=");
  for (int k = 0; k < n; k++) {
    size_t klen = strlen(keys[k]);
    for (const char *t = expect; *t;) {
      size_t len = strcspn(t, " ");
      if (len > klen && strncmp(t, keys[k], klen) == 0)
        return (int)(strchr("OEWIDT", t[klen]) - "OEWIDT");
      t += len + (t[len] == ' ');
    }
  }
  fail_msg("no expectation for %s in '%s'", target, expect);
  return 0;
}

static bool expects_span(const char *expect, const char *name) {
  const char *s = strstr(expect, "spans=");
  assert_non_null(s);
  s += strlen("spans=");
  size_t n = strlen(name);
  for (;;) {
    size_t len = strcspn(s, ", ");
    if (len == n && strncmp(s, name, n) == 0)
      return true;
    if (s[len] != ',')
      return false;
    s += len + 1;
  }
}

static void expected_log(const char *expect, char *out, size_t cap) {
  size_t len = 0;
  out[0] = '\0';
  for (size_t c = 0; c < N_OF(contexts); c++) {
    if (strcmp(contexts[c], "conn") == 0 && expects_span(expect, "conn"))
      len += (size_t)snprintf(out + len, cap - len, "new conn\n");
    if (strcmp(contexts[c], "req") == 0 && expects_span(expect, "request"))
      len += (size_t)snprintf(out + len, cap - len, "new request\n");
    for (size_t t = 0; t < N_OF(targets); t++) {
      int max = expected_level(expect, contexts[c], targets[t]);
      for (int l = TRACE_LEVEL_ERROR; l <= max; l++)
        len += (size_t)snprintf(out + len, cap - len, "%s %s %s\n", contexts[c], targets[t],
                                trace_level_name(l));
    }
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The table. */

typedef struct row {
  const char *filter;
  const char *expect;       /* see expected_level; "spans=" lists the spans the layer sees */
  const char *expect_layer; /* when it differs as a layer's filter beside the INFO console */
} row;

static const row rows[] = {
    /* REFERENCE section 4, examples table. */
    {"info", "*=I spans=conn,request", NULL},
    {"warn,app=debug", "*=W app=D app::net=D app.net=D app/net=D spans=conn,request", NULL},
    {"app::net=trace,app=info", "*=O app=I app::net=T app.net=I app/net=I spans=conn,request",
     NULL},
    {"app", "*=O app=T app::net=T app.net=T app/net=T spans=conn,request", NULL},
    {"info,db=off", "*=I db=O spans=conn,request", NULL},
    {"2", "*=W spans=-", NULL},
    {"[request]=debug", "*=O req/*=D spans=request", NULL},
    {"app[request]=trace", "*=O req/*=T spans=request", NULL},
    /* As tracing-subscriber 0.3: a field-name directive is static for events that declare the
     * field, static for every span (field names are checked for events only), and dynamic
     * inside spans that declare it (regression: inside request only the fields events were). */
    {"[{user_id}]=debug", "*=O fields=D req/*=D spans=conn,request", NULL},
    {"[{user_id=42}]=trace", "*=O req/*=T spans=request", NULL},
    {"[conn{peer=10\\.0\\..*}]=trace", "*=O conn/*=T req/*=T spans=conn,request", NULL},
    /* Precedence. */
    {"debug,h2=info", "*=D h2=I spans=conn,request", NULL},
    {"db=off,info", "*=I db=O spans=conn,request", NULL},
    {"app=debug,app=warn", "*=O app=W app::net=W app.net=W app/net=W spans=-", NULL},
    {"app=warn,app=debug", "*=O app=D app::net=D app.net=D app/net=D spans=conn,request", NULL},
    {"app=info,app::net=error", "*=O app=I app::net=E app.net=I app/net=I spans=conn", NULL},
    {"app=4,1", "*=E app=D app::net=D app.net=D app/net=D spans=conn,request", NULL},
    {"0", "*=O spans=-", NULL},
    {"5", "*=T spans=conn,request", NULL},
    {"off", "*=O spans=-", NULL},
    {"off,app=info", "*=O app=I app::net=I app.net=I app/net=I spans=conn,request", NULL},
    {"app=", "*=O app=T app::net=T app.net=T app/net=T spans=conn,request", NULL},
    {"app2", "*=O app2=T spans=-", NULL},
    {"WARN,app=DeBuG", "*=W app=D app::net=D app.net=D app/net=D spans=conn,request", NULL},
    {"INFO,App=debug", "*=I spans=conn,request", NULL}, /* targets are case-sensitive */
    {" warn , app = debug ", "*=W app=D app::net=D app.net=D app/net=D spans=conn,request", NULL},
    /* A longer target beats more field names; with equal targets more field names win. */
    {"info,fields=warn,[{user_id}]=trace", "*=I fields=W req/*=T spans=conn,request", NULL},
    {"fields=trace,fields[{user_id}]=warn", "*=O fields=W spans=-", NULL},
    {"fields[{user_id}]=warn,fields=trace", "*=O fields=W spans=-", NULL},
    {"fields[{user_id}]=error,[{user_id}]=trace", "*=O fields=E req/*=T spans=conn,request", NULL},
    /* Equally specific: as tracing, the greater field name decides, whatever the order. */
    {"[{user_id}]=warn,[{team}]=debug", "*=O fields=W req/*=W spans=request", NULL},
    {"[{team}]=debug,[{user_id}]=warn", "*=O fields=W req/*=W spans=request", NULL},
    /* Dynamic: name, name and target. */
    {"db[request]=trace", "*=O spans=-", NULL},
    {"app.net[request]=debug", "*=O spans=-", NULL}, /* app.net is not above app::net */
    {"app::net[request]=debug", "*=O req/*=D spans=request", NULL},
    {"[request{user_id}]=debug", "*=O req/*=D spans=request", NULL},
    {"[request{nope}]=debug", "*=O spans=-", NULL},
    /* Dynamic: fields, several at once, quoted versus regex, typed values. */
    {"[{path=\"/z\",user_id=42}]=debug", "*=O req/*=D spans=request", NULL},
    {"[{path=\"/z\",user_id=43}]=debug", "*=O spans=request", NULL},
    {"[{path=\"/z\"}]=debug", "*=O req/*=D spans=request", NULL},
    {"[{path=\"/\"}]=debug", "*=O spans=request", NULL},
    {"[{path=/.*}]=debug", "*=O req/*=D spans=request", NULL},
    {"[{path=/}]=debug", "*=O spans=request", NULL},         /* anchored: the whole value */
    {"[{path=\"/.*\"}]=debug", "*=O spans=request", NULL},   /* quoted: no regex */
    {"[{user_id=\"42\"}]=debug", "*=O spans=request", NULL}, /* a string never matches a number */
    {"[{user_id=4.2e1}]=debug", "*=O spans=request", NULL},  /* nor a float an integer */
    {"[{user_id=-42}]=debug", "*=O spans=request", NULL},
    {"[{delta=-3}]=debug", "*=O req/*=D spans=request", NULL},
    {"[conn{tls=true}]=debug", "*=O conn/*=D req/*=D spans=conn,request", NULL},
    {"[conn{tls=false}]=debug", "*=O spans=conn", NULL},
    {"[conn{port=8080}]=debug", "*=O conn/*=D req/*=D spans=conn,request", NULL},
    {"[conn{load=0.5}]=debug", "*=O conn/*=D req/*=D spans=conn,request", NULL},
    {"[conn{load=0.25}]=debug", "*=O spans=conn", NULL},
    {"[conn{peer=10\\.1\\..*}]=trace", "*=O spans=conn", NULL},
    {"[conn{peer=10\\.0}]=trace", "*=O spans=conn", NULL},
    {"[conn{peer=\"10.0.0.7\",tls=true,port=8080}]=debug",
     "*=O conn/*=D req/*=D spans=conn,request", NULL},
    {"[conn{peer=\"10.0.0.7\",tls=false}]=debug", "*=O spans=conn", NULL},
    /* Static and dynamic together: dynamic directives only ever enable. */
    {"warn,[request]=debug", "*=W req/*=D spans=request", NULL},
    {"debug,[request]=warn", "*=D spans=conn,request", NULL},
    {"info,[conn]=trace,[request{user_id=42}]=debug", "*=I conn/*=T req/*=T spans=conn,request",
     NULL},
    {"[{user_id=42}]=trace,db=warn", "*=O db=W req/*=T spans=request", NULL},
    /* ours: every matching dynamic directive counts (tracing takes the field matches alone and
     * would give DEBUG inside request here). */
    {"[request]=trace,[request{user_id=42}]=debug", "*=O req/*=T spans=request", NULL},
    {"[request{user_id=42}]=debug,[request]=trace", "*=O req/*=T spans=request", NULL},
    {"[request{user_id=42}]=trace,[request]=debug", "*=O req/*=T spans=request", NULL},
    /* The maximum level: without field values it is the most verbose directive, so an INFO span
     * is skipped before any filter sees it; beside the INFO console it exists. */
    {"[request]=error", "*=O spans=-", "*=O req/*=E spans=request"},
    /* With field values it is TRACE (as tracing), so spans of any level can be matched. */
    {"[request{user_id=42}]=error", "*=O req/*=E spans=request", NULL},
};

/* The first line where the log differs from the expectation, for a readable failure. */
static void report_difference(const char *filter, bool as_layer, const char *got,
                              const char *want) {
  size_t line = 1, i = 0, start = 0;
  while (got[i] && got[i] == want[i]) {
    if (got[i] == '\n') {
      line++;
      start = i + 1;
    }
    i++;
  }
  print_error("filter '%s' as %s: line %zu: got '%.*s', want '%.*s'\n", filter,
              as_layer ? "a layer's filter" : "the registry's filter", line,
              (int)strcspn(got + start, "\n"), got + start, (int)strcspn(want + start, "\n"),
              want + start);
}

static bool run_row(const row *r, bool as_layer) {
  recorder *rec = recorder_new();
  recorder *console = recorder_new();
  trace_env_filter *f = must_parse(r->filter);
  trace_default_guard g;
  trace_dispatch *d = install(f, rec, console, as_layer, &g);
  scenario();
  uninstall(d, &g);
  trace_env_filter_release(f);
  static char want[32768];
  expected_log(as_layer && r->expect_layer ? r->expect_layer : r->expect, want, sizeof want);
  bool ok = strcmp(rec->log.text, want) == 0;
  if (!ok)
    report_difference(r->filter, as_layer, rec->log.text, want);
  if (as_layer) {
    /* The console layer at INFO is not affected by its neighbour's filter. */
    expected_log("*=I spans=conn,request", want, sizeof want);
    assert_text_equal(console->log.text, want);
  }
  recorder_free(rec);
  recorder_free(console);
  return ok;
}

static void semantics_table_as_registry_filter(void **state) {
  (void)state;
  size_t failed = 0;
  for (size_t i = 0; i < N_OF(rows); i++)
    failed += !run_row(&rows[i], false);
  assert_int_equal(failed, 0);
}

static void semantics_table_as_layer_filter(void **state) {
  (void)state;
  size_t failed = 0;
  for (size_t i = 0; i < N_OF(rows); i++)
    failed += !run_row(&rows[i], true);
  assert_int_equal(failed, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Dynamic directives and values recorded after creation. */

static void field_recorded_later_is_judged_at_next_enter(void **state) {
  (void)state;
  filtered fx = filtered_begin("[job{status=500}]=debug");
  trace_span job = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "job", TF(status, TRACE_EMPTY));
  trace_span_enter(&job);
  TRACE_EVENT_AT("db", TRACE_LEVEL_DEBUG, "1 not yet");
  trace_span_exit(&job);
  assert_int_equal(TRACE_RECORD(&job, status, 500), 0);
  trace_span_enter(&job);
  TRACE_EVENT_AT("db", TRACE_LEVEL_DEBUG, "2 recorded 500");
  TRACE_EVENT_AT("db", TRACE_LEVEL_TRACE, "3 above the directive's level");
  trace_span_exit(&job);
  TRACE_EVENT_AT("db", TRACE_LEVEL_DEBUG, "4 exited");
  /* ours: the value is read at each enter, so a later record can also end the match. */
  assert_int_equal(TRACE_RECORD(&job, status, 404), 0);
  trace_span_enter(&job);
  TRACE_EVENT_AT("db", TRACE_LEVEL_DEBUG, "5 now 404");
  trace_span_exit(&job);
  trace_span_close(&job);
  filtered_end(&fx, "new job\n2 recorded 500 db DEBUG\n");
}

typedef struct elsewhere {
  trace_dispatch *d;
  trace_span *span;
} elsewhere;

static void *record_failed_elsewhere(void *arg) {
  elsewhere *e = arg;
  trace_default_guard g = trace_set_default(e->d); /* scoped defaults are not inherited */
  TRACE_RECORD(e->span, status, "failed");
  trace_default_guard_restore(&g);
  return NULL;
}

/* A thread remembers the level a span's values gave it between enters (regexec and the span's
 * lock are not on every enter); a record made on another thread still counts at the next enter,
 * and so does a reload. */
static void remembered_span_levels_follow_records_and_reloads(void **state) {
  (void)state;
  filtered fx = filtered_begin("[job{status=fail.*}]=debug");
  trace_span job = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "job", TF(status, "ok"));
  for (int i = 0; i < 3; i++) {
    trace_span_enter(&job);
    TRACE_EVENT_AT("db", TRACE_LEVEL_DEBUG, "1 not failed");
    trace_span_exit(&job);
  }
  pthread_t t;
  elsewhere e = {fx.d, &job};
  pthread_create(&t, NULL, record_failed_elsewhere, &e);
  pthread_join(t, NULL);
  for (int i = 0; i < 2; i++) {
    trace_span_enter(&job);
    TRACE_EVENT_AT("db", TRACE_LEVEL_DEBUG, "2 failed on another thread");
    trace_span_exit(&job);
  }
  assert_int_equal(trace_env_filter_reload(fx.f, "[job{status=o.*}]=debug", NULL), 0);
  trace_span_enter(&job);
  TRACE_EVENT_AT("db", TRACE_LEVEL_DEBUG, "3 reloaded: ok only");
  trace_span_exit(&job);
  trace_span_close(&job);
  filtered_end(&fx, "new job\n2 failed on another thread db DEBUG\n"
                     "2 failed on another thread db DEBUG\n");
}

/* Nested matching spans: the inner one raises the level, its exit restores the outer's, and
 * exits out of order pop the right entry. */
static void nested_spans_and_out_of_order_exit(void **state) {
  (void)state;
  filtered fx = filtered_begin("warn,[outer]=info,[inner]=trace");
  trace_span outer = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "outer");
  trace_span inner = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "inner");
  trace_span_enter(&outer);
  TRACE_EVENT_AT("x", TRACE_LEVEL_INFO, "1 outer info");
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "no: outer is info");
  trace_span_enter(&inner);
  TRACE_EVENT_AT("x", TRACE_LEVEL_TRACE, "2 inner trace");
  trace_span_enter(&inner); /* re-entered */
  trace_span_exit(&inner);
  TRACE_EVENT_AT("x", TRACE_LEVEL_TRACE, "3 still inner");
  trace_span_exit(&outer); /* out of order: inner stays entered */
  TRACE_EVENT_AT("x", TRACE_LEVEL_TRACE, "4 inner without outer");
  trace_span_exit(&inner);
  TRACE_EVENT_AT("x", TRACE_LEVEL_INFO, "no: nothing entered");
  TRACE_EVENT_AT("x", TRACE_LEVEL_WARN, "5 static warn");
  trace_span_close(&inner);
  trace_span_close(&outer);
  filtered_end(&fx, "new outer\nnew inner\n"
                     "1 outer info x INFO\n2 inner trace x TRACE\n3 still inner x TRACE\n"
                     "4 inner without outer x TRACE\n5 static warn x WARN\n");
}

/* Spans and events of another thread are not in this thread's scope. */
static trace_span *shared_span;
static void *emit_elsewhere(void *arg) {
  (void)arg;
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "other thread, not entered");
  trace_span_enter(shared_span);
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "2 other thread, entered");
  trace_span_exit(shared_span);
  return NULL;
}

static void scope_is_per_thread(void **state) {
  (void)state;
  recorder *rec = recorder_new();
  trace_env_filter *f = must_parse("[job]=debug");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&recorder_vtable, rec, 0, 0), NULL);
  trace_registry_set_filter(reg, trace_env_filter_as_filter(f));
  assert_int_equal(trace_registry_install(reg), 0);
  trace_span job = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "job");
  shared_span = &job;
  trace_span_enter(&job);
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "1 this thread");
  pthread_t t;
  pthread_create(&t, NULL, emit_elsewhere, NULL);
  pthread_join(t, NULL);
  trace_span_exit(&job);
  trace_span_close(&job);
  trace_shutdown();
  trace_env_filter_release(f);
  assert_text_equal(rec->log.text, "new job\n1 this thread x DEBUG\n2 other thread, entered x DEBUG\n");
  recorder_free(rec);
}

/* ---------------------------------------------------------------------------------------- */
/* Reload. */

static void reload_swaps_directives(void **state) {
  (void)state;
  filtered fx = filtered_begin("info");
  TRACE_EVENT_AT("x", TRACE_LEVEL_INFO, "1");
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "no");
  assert_int_equal(trace_env_filter_reload(fx.f, "debug,x=warn,y", NULL), 0);
  char spec[64];
  assert_int_equal(trace_env_filter_spec(fx.f, spec, sizeof spec), strlen("debug,x=warn,y=trace"));
  assert_string_equal(spec, "debug,x=warn,y=trace");
  assert_int_equal(trace_max_level(), TRACE_LEVEL_TRACE);
  TRACE_EVENT_AT("x", TRACE_LEVEL_INFO, "no: x is warn now");
  TRACE_EVENT_AT("z", TRACE_LEVEL_DEBUG, "2");
  TRACE_EVENT_AT("y", TRACE_LEVEL_TRACE, "3");
  /* A bad reload changes nothing and says why. */
  trace_filter_error err;
  assert_int_equal(trace_env_filter_reload(fx.f, "info,app=loud", &err), TRACE_EPARSE);
  assert_string_equal(err.message, "unknown level 'loud' at 9");
  assert_string_equal(err.directive, "app=loud");
  assert_int_equal(err.offset, 9);
  assert_int_equal(trace_env_filter_reload(fx.f, "info,app=loud", NULL), TRACE_EPARSE);
  assert_int_equal(trace_env_filter_reload(fx.f, NULL, NULL), TRACE_EINVAL);
  assert_int_equal(trace_env_filter_reload(NULL, "info", NULL), TRACE_EINVAL);
  trace_env_filter_spec(fx.f, spec, sizeof spec);
  assert_string_equal(spec, "debug,x=warn,y=trace");
  TRACE_EVENT_AT("z", TRACE_LEVEL_DEBUG, "4");
  filtered_end(&fx, "1 x INFO\n2 z DEBUG\n3 y TRACE\n4 z DEBUG\n");
}

/* ours: spans that exist already are judged by the new directives from their next enter (tracing
 * keeps the decision made when the span was created). */
static void reload_rejudges_existing_spans_at_next_enter(void **state) {
  (void)state;
  filtered fx = filtered_begin("info");
  trace_span job = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "job", TF(user, "bob"));
  trace_span_enter(&job);
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "no: info");
  assert_int_equal(trace_env_filter_reload(fx.f, "info,[job{user=\"bob\"}]=debug", NULL), 0);
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "no: entered before the reload");
  trace_span_exit(&job);
  trace_span_enter(&job);
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "1 entered again");
  trace_span_exit(&job);
  assert_int_equal(trace_env_filter_reload(fx.f, "info", NULL), 0);
  trace_span_enter(&job);
  TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "no: reloaded back");
  trace_span_exit(&job);
  trace_span_close(&job);
  filtered_end(&fx, "new job\n1 entered again x DEBUG\n");
}

/* A reload from inside a callback cannot wait for readers nor rebuild the interest there: the old
 * set is retired, and the rebuild happens as soon as the callback's thread leaves libtrace, so the
 * next event is judged by the new set whatever its callsite. */
typedef struct reloader {
  recorder rec;
  trace_env_filter *f;
  const char *next_spec;
  int rc;
} reloader;

static void reloader_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  reloader *r = self;
  rec_event(&r->rec, ev, ctx);
  char msg[16];
  trace_event_message(ev, msg, sizeof msg);
  if (strcmp(msg, "switch") == 0)
    r->rc = trace_env_filter_reload(r->f, r->next_spec, NULL);
}

/* One callsite each, so that the interest cached before a reload is what the next hit uses. */
static void emit_debug(const char *msg) { TRACE_EVENT_AT("x", TRACE_LEVEL_DEBUG, "%s", msg); }
static void emit_trace(const char *msg) { TRACE_EVENT_AT("x", TRACE_LEVEL_TRACE, "%s", msg); }
static void emit_switch(void) { TRACE_EVENT_AT("x", TRACE_LEVEL_INFO, "switch"); }

static void reload_from_inside_a_callback(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {
      .struct_size = sizeof(trace_layer_vtable),
      .on_event = reloader_event,
  };
  reloader *r = calloc(1, sizeof *r);
  text_log_init(&r->rec.log);
  r->f = must_parse("debug");
  r->rc = -100;
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&vt, r, 0, 0), NULL);
  trace_registry_set_filter(reg, trace_env_filter_as_filter(r->f));
  trace_dispatch *d = trace_registry_dispatch(reg);
  trace_default_guard g = trace_set_default(d);
  emit_debug("1");
  r->next_spec = "info";
  emit_switch();
  assert_int_equal(r->rc, 0);
  /* The DEBUG callsite's cached ALWAYS was rebuilt on the way out of the callback. */
  emit_debug("no: info now");
  r->rc = -100;
  r->next_spec = "x=trace";
  emit_switch();
  assert_int_equal(r->rc, 0);
  emit_debug("2");
  /* The maximum level and callsites the old sets disabled outright follow at once too. */
  emit_trace("3");
  assert_int_equal(trace_rebuild_interest(), 0);
  emit_trace("3b");
  /* A reload from outside frees the retired sets (LeakSanitizer checks the rest). */
  assert_int_equal(trace_env_filter_reload(r->f, "trace", NULL), 0);
  emit_trace("4");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  assert_text_equal(r->rec.log.text,
                    "1 x DEBUG\nswitch x INFO\nswitch x INFO\n2 x DEBUG\n3 x TRACE\n3b x TRACE\n"
                    "4 x TRACE\n");
  trace_env_filter_release(r->f);
  text_log_destroy(&r->rec.log);
  free(r);
}

/* The handle outlives the registry, and the registry the handle. */
static void references(void **state) {
  (void)state;
  trace_env_filter *f = must_parse("info");
  assert_ptr_equal(trace_env_filter_ref(f), f);
  trace_env_filter_release(f);
  trace_filter *tf = trace_env_filter_as_filter(f);
  assert_non_null(tf);
  trace_env_filter_release(f); /* the filter still holds one */
  trace_registry *reg = trace_registry_new();
  trace_registry_set_filter(reg, tf);
  trace_registry_free(reg); /* frees the filter: the last reference */
  assert_null(trace_env_filter_as_filter(NULL));
  assert_null(trace_env_filter_ref(NULL));
  trace_env_filter_release(NULL);
  char buf[8] = "x";
  assert_int_equal(trace_env_filter_spec(NULL, buf, sizeof buf), 0);
  assert_string_equal(buf, "");
  /* A filter that never reached a registry. */
  f = must_parse("info");
  trace_filter_free(trace_env_filter_as_filter(f));
  trace_env_filter_release(f);
}

/* ---------------------------------------------------------------------------------------- */
/* Reload under load: four threads emit INFO and DEBUG events while the filter is reloaded
 * between "info" and "debug". The epoch tells each thread what the filter is: even epochs are
 * stable (epoch % 4 == 0: info, == 2: debug), odd ones are reloads in progress. */

#define EMITTERS 4
#define ROUNDS 40

static uint32_t epoch;  /* atomic */
static uint32_t stop;   /* atomic */
static long violations; /* atomic */
static __thread int delivered_info, delivered_debug;

typedef struct emitter_stats {
  uint64_t info_emitted, info_delivered, debug_emitted, debug_delivered;
} emitter_stats;

static void count_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  (void)self;
  (void)ctx;
  if (ev->meta->level == TRACE_LEVEL_INFO)
    delivered_info++;
  else if (ev->meta->level == TRACE_LEVEL_DEBUG)
    delivered_debug++;
}

static const trace_layer_vtable counting_vtable = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_event = count_event,
};

static void violation(const char *what, uint64_t seq, uint32_t e) {
  __atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED);
  print_error("%s: seq %llu epoch %u\n", what, (unsigned long long)seq, e);
}

static void *emitter(void *arg) {
  emitter_stats *st = arg;
  for (uint64_t seq = 0; !__atomic_load_n(&stop, __ATOMIC_SEQ_CST) || seq < 1000; seq++) {
    delivered_info = delivered_debug = 0;
    uint32_t e1 = __atomic_load_n(&epoch, __ATOMIC_SEQ_CST);
    TRACE_EVENT_AT("load", TRACE_LEVEL_INFO, TF(seq, seq), "info");
    TRACE_EVENT_AT("load", TRACE_LEVEL_DEBUG, TF(seq, seq), "debug");
    uint32_t e2 = __atomic_load_n(&epoch, __ATOMIC_SEQ_CST);
    st->info_emitted++;
    st->debug_emitted++;
    st->info_delivered += (uint64_t)delivered_info;
    st->debug_delivered += (uint64_t)delivered_debug;
    if (delivered_info != 1)
      violation("INFO event lost", seq, e1);
    if (e1 == e2 && e1 % 4 == 2 && delivered_debug != 1)
      violation("DEBUG event lost while the filter is debug", seq, e1);
    if (e1 == e2 && e1 % 4 == 0 && delivered_debug != 0)
      violation("DEBUG event delivered while the filter is info", seq, e1);
  }
  return NULL;
}

static void pause_ms(long ms) {
  struct timespec ts = {0, ms * 1000000};
  nanosleep(&ts, NULL);
}

static void reload_under_concurrent_events(void **state) {
  (void)state;
  trace_env_filter *f = must_parse("info");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&counting_vtable, NULL, 0, 0), NULL);
  trace_registry_set_filter(reg, trace_env_filter_as_filter(f));
  assert_int_equal(trace_registry_install(reg), 0);
  epoch = stop = 0;
  violations = 0;
  pthread_t t[EMITTERS];
  emitter_stats st[EMITTERS];
  memset(st, 0, sizeof st);
  for (int i = 0; i < EMITTERS; i++)
    pthread_create(&t[i], NULL, emitter, &st[i]);
  for (uint32_t round = 0; round < ROUNDS; round++) {
    __atomic_store_n(&epoch, 4 * round + 1, __ATOMIC_SEQ_CST);
    assert_int_equal(trace_env_filter_reload(f, "debug", NULL), 0);
    __atomic_store_n(&epoch, 4 * round + 2, __ATOMIC_SEQ_CST);
    pause_ms(2);
    __atomic_store_n(&epoch, 4 * round + 3, __ATOMIC_SEQ_CST);
    assert_int_equal(trace_env_filter_reload(f, "info", NULL), 0);
    __atomic_store_n(&epoch, 4 * round + 4, __ATOMIC_SEQ_CST);
    pause_ms(2);
  }
  __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
  uint64_t debug_delivered = 0, debug_emitted = 0;
  for (int i = 0; i < EMITTERS; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(st[i].info_delivered, st[i].info_emitted);
    debug_delivered += st[i].debug_delivered;
    debug_emitted += st[i].debug_emitted;
  }
  trace_shutdown();
  trace_env_filter_release(f);
  assert_int_equal(violations, 0);
  /* Both phases really happened. */
  assert_true(debug_delivered > 0 && debug_delivered < debug_emitted);
}

/* The same with a dynamic directive: a span's level is judged when it is entered, so an enter
 * and an event inside one stable epoch must follow that epoch's directives exactly. */
static const char *const dynamic_specs[] = {"info,[work{n=1}]=debug", "info,[work{n=2}]=debug"};

static void *span_emitter(void *arg) {
  emitter_stats *st = arg;
  for (uint64_t seq = 0; !__atomic_load_n(&stop, __ATOMIC_SEQ_CST) || seq < 1000; seq++) {
    int n = (int)(seq % 3);
    delivered_info = delivered_debug = 0;
    uint32_t e1 = __atomic_load_n(&epoch, __ATOMIC_SEQ_CST);
    trace_span work = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "work", TF(n, n));
    trace_span_enter(&work);
    TRACE_EVENT_AT("load", TRACE_LEVEL_INFO, "info");
    TRACE_EVENT_AT("load", TRACE_LEVEL_DEBUG, "debug");
    trace_span_exit(&work);
    trace_span_close(&work);
    uint32_t e2 = __atomic_load_n(&epoch, __ATOMIC_SEQ_CST);
    st->info_emitted++;
    st->info_delivered += (uint64_t)delivered_info;
    st->debug_delivered += (uint64_t)delivered_debug;
    if (delivered_info != 1)
      violation("INFO event lost", seq, e1);
    if (e1 == e2 && e1 % 2 == 0) {
      int wanted = (int)(e1 / 2 % 2) + 1; /* the n the stable set enables */
      if (delivered_debug != (n == wanted))
        violation(n == wanted ? "DEBUG lost in a matching span" : "DEBUG in another span", seq, e1);
    }
  }
  return NULL;
}

static void reload_dynamic_under_concurrent_spans(void **state) {
  (void)state;
  trace_env_filter *f = must_parse(dynamic_specs[0]);
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&counting_vtable, NULL, 0, 0),
                           trace_env_filter_as_filter(f));
  assert_int_equal(trace_registry_install(reg), 0);
  epoch = stop = 0;
  violations = 0;
  pthread_t t[EMITTERS];
  emitter_stats st[EMITTERS];
  memset(st, 0, sizeof st);
  for (int i = 0; i < EMITTERS; i++)
    pthread_create(&t[i], NULL, span_emitter, &st[i]);
  for (uint32_t e = 1; e < 4 * ROUNDS; e += 2) {
    __atomic_store_n(&epoch, e, __ATOMIC_SEQ_CST);
    assert_int_equal(trace_env_filter_reload(f, dynamic_specs[(e + 1) / 2 % 2], NULL), 0);
    __atomic_store_n(&epoch, e + 1, __ATOMIC_SEQ_CST);
    pause_ms(2);
  }
  __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < EMITTERS; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(st[i].info_delivered, st[i].info_emitted);
    assert_true(st[i].debug_delivered > 0);
  }
  trace_shutdown();
  trace_env_filter_release(f);
  assert_int_equal(violations, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Costs and failures. */

static void silent_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  (void)self;
  (void)ev;
  (void)ctx;
}

/* Events, enters and exits allocate nothing once the thread's state exists. */
static void steady_state_does_not_allocate(void **state) {
  (void)state;
  static const trace_layer_vtable quiet = {
      .struct_size = sizeof(trace_layer_vtable),
      .on_event = silent_event,
  };
  trace_env_filter *f = must_parse("info,db=off,[job{n=1,kind=\"batch\"}]=debug");
  trace_default_guard g;
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&quiet, NULL, 0, 0), trace_env_filter_as_filter(f));
  trace_dispatch *d = trace_registry_dispatch(reg);
  g = trace_set_default(d);
  long before = 0;
  for (int round = 0; round < 2; round++) {
    if (round == 1)
      before = allocations_so_far();
    for (int i = 0; i < 1000; i++) {
      trace_span job =
          TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "job", TF(n, i % 2), TF(kind, "batch"));
      trace_span_enter(&job);
      TRACE_EVENT_AT("db", TRACE_LEVEL_DEBUG, "query");
      TRACE_EVENT_AT("app", TRACE_LEVEL_TRACE, "no");
      TRACE_EVENT_AT("app", TRACE_LEVEL_INFO, "step %d", i);
      trace_span_exit(&job);
      trace_span_close(&job);
    }
  }
  assert_int_equal(allocations_so_far(), before);
  uninstall(d, &g);
  trace_env_filter_release(f);
}

/* Every allocation failing in turn: an error or a working filter, never a crash or a leak. */
static void out_of_memory_sweep(void **state) {
  (void)state;
  for (long budget = 0; budget < 120; budget++) {
    trace_testing_fail_allocations_after(budget);
    trace_env_filter *f = NULL;
    int rc = trace_env_filter_parse("warn,app=debug,[job{n=1,s=\"x\",r=a.*}]=trace", &f, NULL);
    assert_true(rc == 0 || rc == TRACE_ENOMEM);
    trace_env_filter *lossy = trace_env_filter_parse_lossy("info,[job]=debug");
    trace_env_filter_release(lossy);
    if (rc == 0) {
      trace_registry *reg = trace_registry_new();
      if (reg) {
        trace_registry_add_layer(reg, trace_layer_new(&counting_vtable, NULL, 0, 0),
                                 trace_env_filter_as_filter(f));
        trace_dispatch *d = trace_registry_dispatch(reg);
        if (d) {
          TRACE_WITH_DEFAULT(d) {
            trace_span job =
                TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "job", TF(n, 1), TF(s, "x"), TF(r, "abc"));
            trace_span_enter(&job);
            TRACE_EVENT_AT("db", TRACE_LEVEL_TRACE, "inside");
            rc = trace_env_filter_reload(f, "info,[job{r=b.*}]=debug", NULL);
            assert_true(rc == 0 || rc == TRACE_ENOMEM);
            trace_span_exit(&job);
            trace_span_close(&job);
          }
          trace_dispatch_release(d);
        }
      }
      trace_env_filter_release(f);
    }
    trace_testing_fail_allocations_after(-1);
  }
}

int main(void) {
  if (install_counting_allocator() != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(semantics_table_as_registry_filter),
      cmocka_unit_test(semantics_table_as_layer_filter),
      cmocka_unit_test(field_recorded_later_is_judged_at_next_enter),
      cmocka_unit_test(remembered_span_levels_follow_records_and_reloads),
      cmocka_unit_test(nested_spans_and_out_of_order_exit),
      cmocka_unit_test(scope_is_per_thread),
      cmocka_unit_test(reload_swaps_directives),
      cmocka_unit_test(reload_rejudges_existing_spans_at_next_enter),
      cmocka_unit_test(reload_from_inside_a_callback),
      cmocka_unit_test(references),
      cmocka_unit_test(reload_under_concurrent_events),
      cmocka_unit_test(reload_dynamic_under_concurrent_spans),
      cmocka_unit_test(steady_state_does_not_allocate),
      cmocka_unit_test(out_of_memory_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
