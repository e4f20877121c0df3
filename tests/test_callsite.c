/* Callsites: registration, interest caching (enabled() asked once for ALWAYS/NEVER callsites,
 * on every hit for SOMETIMES), rebuilds, the global max level, derived targets, inventory. */
#include <pthread.h>

#include "helpers.h"

static void hit_a(void) { TRACE_INFO("a"); }
static void hit_b(void) { TRACE_INFO("b"); }
static void hit_c(void) { TRACE_INFO("c"); }
static void hit_d(void) { TRACE_DEBUG("d"); }
static void hit_e(void) { TRACE_INFO("e"); }

/* What a callsite's interest costs over 100 hits (each case its own callsite, registered on its
 * first hit): ALWAYS and NEVER are cached (enabled() never asked), SOMETIMES asks on every hit. */
static const struct interest_case {
  trace_interest interest;
  void (*hit)(void);
  uint64_t enabled_calls, events;
} interest_cases[] = {
    {TRACE_INTEREST_ALWAYS, hit_a, 0, 100},
    {TRACE_INTEREST_NEVER, hit_b, 0, 0},
    {TRACE_INTEREST_SOMETIMES, hit_c, 100, 100},
};

static void interest_is_cached_unless_sometimes(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof interest_cases / sizeof interest_cases[0]; i++) {
    const struct interest_case *c = &interest_cases[i];
    trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
    trace_capture_set_interest(cap, c->interest);
    TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) {
      trace_capture_stats before = trace_capture_get_stats(cap);
      for (int k = 0; k < 100; k++)
        c->hit();
      trace_capture_stats after = trace_capture_get_stats(cap);
      assert_int_equal(after.register_calls - before.register_calls, 1); /* first hit */
      assert_int_equal(after.enabled_calls - before.enabled_calls, c->enabled_calls);
      assert_int_equal(after.events - before.events, c->events);
    }
    trace_capture_free(cap);
  }
}

static void rebuild_reasks_and_updates_level(void **state) {
  (void)state;
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_INFO);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) {
    assert_int_equal(trace_max_level(), TRACE_LEVEL_INFO);
    hit_d(); /* DEBUG: filtered by the max level, never even registered */
    hit_e();
    assert_int_equal(trace_capture_get_stats(cap).events, 1);
    /* The subscriber changes its mind: it now wants nothing from here on. */
    trace_capture_set_interest(cap, TRACE_INTEREST_NEVER);
    hit_e();
    assert_int_equal(trace_capture_get_stats(cap).events, 2); /* cached ALWAYS until rebuilt */
    uint64_t reg = trace_capture_get_stats(cap).register_calls;
    assert_int_equal(trace_rebuild_interest(), 0);
    assert_true(trace_capture_get_stats(cap).register_calls > reg);
    hit_e();
    assert_int_equal(trace_capture_get_stats(cap).events, 2);
    trace_capture_set_max_level_hint(cap, TRACE_LEVEL_ERROR);
    trace_rebuild_interest();
    assert_int_equal(trace_max_level(), TRACE_LEVEL_ERROR);
    trace_capture_set_max_level_hint(cap, -1); /* no hint: TRACE */
    trace_rebuild_interest();
    assert_int_equal(trace_max_level(), TRACE_LEVEL_TRACE);
  }
  trace_capture_free(cap);
  assert_int_equal(trace_max_level(), TRACE_LEVEL_OFF); /* nothing installed any more */
}

static void combined_interest_of_two_subscribers(void **state) {
  (void)state;
  /* A global that wants nothing and a scoped one that wants everything: the callsite must be
   * SOMETIMES, so that both get the right answer on their threads. */
  trace_capture *quiet = trace_capture_new(TRACE_LEVEL_TRACE);
  trace_capture_set_interest(quiet, TRACE_INTEREST_NEVER);
  trace_capture *loud = trace_capture_new(TRACE_LEVEL_TRACE);
  trace_default_guard g1 = trace_set_default(trace_capture_dispatch(quiet));
  trace_default_guard g2 = trace_set_default(trace_capture_dispatch(loud));
  TRACE_INFO("combined");
  trace_default_guard_restore(&g2);
  TRACE_INFO("combined");
  trace_default_guard_restore(&g1);
  assert_int_equal(trace_capture_get_stats(loud).events, 1);
  assert_int_equal(trace_capture_get_stats(quiet).events, 0);
  trace_capture_free(quiet);
  trace_capture_free(loud);
}

/* External linkage keeps the function (and so its callsite) in the binary although nothing
 * calls it. */
void never_called(void);
void never_called(void) { TRACE_WARN(TF(k, 1), "never-hit-marker"); }

typedef struct inventory {
  int found_never_hit;
  int found_hit;
  char target[64];
  int level, kind, interest;
  unsigned line;
} inventory;

static void collect(void *ctx, const trace_metadata *meta, int interest) {
  inventory *inv = ctx;
  if (meta->message && strcmp(meta->message, "never-hit-marker") == 0) {
    inv->found_never_hit++;
    snprintf(inv->target, sizeof inv->target, "%s", meta->target);
    inv->level = meta->level;
    inv->kind = meta->kind;
    inv->interest = interest;
    inv->line = meta->line;
    assert_int_equal(meta->field_count, 1);
    assert_string_equal(meta->field_names[0], "k");
    assert_non_null(strstr(meta->file, "test_callsite.c"));
    assert_string_equal(meta->function, "never_called");
  }
  if (meta->message && strcmp(meta->message, "a") == 0)
    inv->found_hit++;
}

static void inventory_lists_callsites_never_hit(void **state) {
  (void)state;
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) {
    hit_a();
    inventory inv = {0};
    size_t n = trace_callsites_foreach(collect, &inv);
    assert_true(n >= 7);
    assert_int_equal(inv.found_never_hit, 1);
    assert_int_equal(inv.found_hit, 1);
    assert_string_equal(inv.target, "test_callsite");
    assert_int_equal(inv.level, TRACE_LEVEL_WARN);
    assert_int_equal(inv.kind, TRACE_KIND_EVENT);
    assert_int_equal(inv.interest, TRACE_INTEREST_ALWAYS);
    assert_true(inv.line > 0);
  }
  assert_int_equal(trace_callsites_foreach(NULL, NULL), 0);
  trace_capture_free(cap);
}

/* The default target is the file's base name without its extension (the part after the last
 * dot): derived.target.c gives "derived.target". */
void derived_target_event(void);
static void derived_target_keeps_inner_dots(void **state) {
  (void)state;
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) { derived_target_event(); }
  assert_text_equal(trace_capture_log(cap), "event INFO derived.target: from a dotted file name\n");
  trace_capture_free(cap);
}

/* Eight threads hit one fresh callsite at the same moment: they all wait for its registration
 * and every event arrives. */
static trace_capture *race_cap;
static pthread_barrier_t race_barrier;
static void *racer(void *arg) {
  (void)arg;
  pthread_barrier_wait(&race_barrier);
  for (int i = 0; i < 1000; i++)
    TRACE_INFO("race");
  return NULL;
}

static void concurrent_first_hit(void **state) {
  (void)state;
  race_cap = trace_capture_new(TRACE_LEVEL_TRACE);
  assert_int_equal(trace_set_global_default(trace_capture_dispatch(race_cap)), 0);
  pthread_t t[8];
  pthread_barrier_init(&race_barrier, NULL, 8);
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, racer, NULL);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  pthread_barrier_destroy(&race_barrier);
  assert_int_equal(trace_capture_get_stats(race_cap).events, 8000);
  trace_shutdown();
  trace_capture_free(race_cap);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(interest_is_cached_unless_sometimes),
      cmocka_unit_test(rebuild_reasks_and_updates_level),
      cmocka_unit_test(combined_interest_of_two_subscribers),
      cmocka_unit_test(inventory_lists_callsites_never_hit),
      cmocka_unit_test(derived_target_keeps_inner_dots),
      cmocka_unit_test(concurrent_first_hit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
