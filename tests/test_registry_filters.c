/* The registry's filters: per-layer filters, a quiet layer never silencing a loud one, the
 * registry's own filter, dynamic switches and target tables, refused hits. */
#include "recorder.h"

static void per_layer_filters(void **state) {
  (void)state;
  recorder *info = recorder_new("I");
  recorder *debug = recorder_new("D");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(info, 0), trace_filter_level(TRACE_LEVEL_INFO));
  trace_registry_add_layer(reg, recorder_layer(debug, 0), trace_filter_level(TRACE_LEVEL_DEBUG));
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  assert_int_equal(trace_max_level(), TRACE_LEVEL_DEBUG);
  trace_span outer = TRACE_INFO_SPAN("outer");
  trace_span_enter(&outer);
  trace_span mid = TRACE_DEBUG_SPAN("mid");
  trace_span_enter(&mid);
  TRACE_INFO("info event");
  TRACE_DEBUG("debug event");
  TRACE_TRACE("trace event");
  trace_span_exit(&mid);
  trace_span_close(&mid);
  trace_span_exit(&outer);
  trace_span_close(&outer);
  /* The INFO layer never hears of "mid" and sees the INFO event directly under "outer". */
  assert_text_equal(info->log.text, "I:new outer in -\n"
                                    "I:enter outer\n"
                                    "I:event INFO info event in outer\n"
                                    "I:exit outer\n"
                                    "I:close outer\n");
  assert_text_equal(debug->log.text, "D:new outer in -\n"
                                     "D:enter outer\n"
                                     "D:new mid in outer\n"
                                     "D:enter mid\n"
                                     "D:event INFO info event in outer>mid\n"
                                     "D:event DEBUG debug event in outer>mid\n"
                                     "D:exit mid\n"
                                     "D:close mid\n"
                                     "D:exit outer\n"
                                     "D:close outer\n");
  scoped_registry_end(d, &g, info);
  recorder_free(debug);
}

static bool only_net(void *arg, const trace_metadata *meta) {
  (void)arg;
  return strcmp(meta->target, "net") == 0;
}

static int switch_on;
static bool runtime_switch(void *arg, const trace_metadata *meta) {
  (void)arg;
  (void)meta;
  return __atomic_load_n(&switch_on, __ATOMIC_RELAXED);
}

/* Adding a quiet layer must never silence a loud one, whatever the filter kinds. */
static void quiet_layer_never_silences_loud(void **state) {
  (void)state;
  for (int variant = 0; variant < 4; variant++) {
    recorder *loud = recorder_new("L");
    recorder *quiet = recorder_new("Q");
    trace_registry *reg = trace_registry_new();
    trace_registry_add_layer(reg, recorder_layer(loud, 0), trace_filter_level(TRACE_LEVEL_TRACE));
    trace_filter *qf = NULL;
    switch (variant) {
    case 0:
      qf = trace_filter_level(TRACE_LEVEL_WARN);
      break;
    case 1:
      qf = trace_filter_level(TRACE_LEVEL_OFF);
      break;
    case 2:
      qf = trace_filter_callback(only_net, NULL);
      break;
    case 3:
      qf = trace_filter_callback_dynamic(runtime_switch, NULL);
      break;
    }
    trace_registry_add_layer(reg, recorder_layer(quiet, 0), qf);
    trace_default_guard g;
    trace_dispatch *d = scoped_registry(reg, &g);
    assert_int_equal(trace_max_level(), TRACE_LEVEL_TRACE);
    TRACE_TRACE("trace %d", variant);
    TRACE_EVENT_AT("net", TRACE_LEVEL_DEBUG, "net debug");
    char want[64];
    snprintf(want, sizeof want, "L:event TRACE trace %d in -\n", variant);
    assert_text_contains(loud->log.text, want);
    assert_text_contains(loud->log.text, "L:event DEBUG net debug in -\n");
    if (variant == 2)
      assert_text_equal(quiet->log.text, "Q:event DEBUG net debug in -\n");
    else
      assert_text_equal(quiet->log.text, "");
    scoped_registry_end(d, &g, loud);
    recorder_free(quiet);
  }
}

static int stash_always, stash_events, stash_spans;
static trace_interest stash_register(void *self, const trace_metadata *m) {
  (void)self, (void)m;
  return stash_always ? TRACE_INTEREST_ALWAYS : TRACE_INTEREST_SOMETIMES;
}
static bool stash_enabled(void *self, const trace_metadata *m, const trace_ctx *c) {
  (void)self, (void)m, (void)c;
  return stash_always;
}
static void stash_event(void *self, const trace_event *e, const trace_ctx *c) {
  (void)self, (void)e, (void)c;
  stash_events++;
}
static void stash_new_span(void *self, const trace_span_attrs *a, uint64_t id, const trace_ctx *c) {
  (void)self, (void)a, (void)id, (void)c;
  stash_spans++;
}
static void stash_hit(void) {
  TRACE_INFO("m");
  trace_span s = TRACE_INFO_SPAN("s");
  trace_span_close(&s);
}

/* enabled() says no to a SOMETIMES callsite; the interest then becomes ALWAYS (enabled() is not
 * asked any more): the next hit is delivered. (The registry kept what that last enabled() said
 * for the dispatch it expected next, and the next hit used it: one lost event and span.) */
static void refused_hit_leaves_no_decision_behind(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {.struct_size = sizeof(trace_layer_vtable),
                                        .register_callsite = stash_register,
                                        .enabled = stash_enabled,
                                        .on_event = stash_event,
                                        .on_new_span = stash_new_span};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&vt, NULL, 0, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  stash_hit();
  assert_int_equal(stash_events + stash_spans, 0);
  stash_always = 1;
  trace_rebuild_interest();
  stash_hit();
  assert_int_equal(stash_events, 1);
  assert_int_equal(stash_spans, 1);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
}

static void registry_filter_and_dynamic_switch(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0),
                           trace_filter_callback_dynamic(runtime_switch, NULL));
  trace_registry_set_filter(reg, trace_filter_level(TRACE_LEVEL_INFO));
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  assert_int_equal(trace_max_level(), TRACE_LEVEL_INFO);
  __atomic_store_n(&switch_on, 0, __ATOMIC_RELAXED);
  TRACE_INFO("off");
  __atomic_store_n(&switch_on, 1, __ATOMIC_RELAXED);
  TRACE_INFO("on");
  TRACE_DEBUG("debug is above the registry filter");
  assert_text_equal(a->log.text, "A:event INFO on in -\n");
  scoped_registry_end(d, &g, a);
}

static void target_table_filter(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_target_level table[] = {{"app", TRACE_LEVEL_DEBUG}, {"app::db", TRACE_LEVEL_ERROR}};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0),
                           trace_filter_targets(table, 2, TRACE_LEVEL_WARN));
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  TRACE_EVENT_AT("app", TRACE_LEVEL_DEBUG, "1 app debug");
  TRACE_EVENT_AT("app.net", TRACE_LEVEL_DEBUG, "2 app.net debug");
  TRACE_EVENT_AT("app/net", TRACE_LEVEL_DEBUG, "3 app/net debug");
  TRACE_EVENT_AT("app::db", TRACE_LEVEL_WARN, "no: app::db is ERROR");
  TRACE_EVENT_AT("app::db::pool", TRACE_LEVEL_ERROR, "4 app::db::pool error");
  TRACE_EVENT_AT("app2", TRACE_LEVEL_INFO, "no: app2 is not under app");
  TRACE_EVENT_AT("other", TRACE_LEVEL_WARN, "5 default warn");
  assert_text_equal(a->log.text, "A:event DEBUG 1 app debug in -\n"
                                 "A:event DEBUG 2 app.net debug in -\n"
                                 "A:event DEBUG 3 app/net debug in -\n"
                                 "A:event ERROR 4 app::db::pool error in -\n"
                                 "A:event WARN 5 default warn in -\n");
  scoped_registry_end(d, &g, a);
}

int main(void) {
  if (install_counting_allocator() != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(per_layer_filters),
      cmocka_unit_test(quiet_layer_never_silences_loud),
      cmocka_unit_test(registry_filter_and_dynamic_switch),
      cmocka_unit_test(refused_hit_leaves_no_decision_behind),
      cmocka_unit_test(target_table_filter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
