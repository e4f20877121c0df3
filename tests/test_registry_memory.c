/* The registry's memory: values that outgrow the inline arena, broken format callbacks stored
 * safely, no allocation once warm, memory flat over a million spans, out of memory. */
#include "recorder.h"

static size_t fmt_answer(char *buf, size_t cap, const void *arg) {
  return (size_t)snprintf(buf, cap, "answer=%d", *(const int *)arg);
}

/* Strings that outgrow the inline arena while a span's values are being stored, with a
 * formatted value among them: every value arrives intact. */
static void values_outgrow_the_arena(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_default_guard g;
  trace_dispatch *d = scoped_recorder(a, &g);
  int answer = 42;
  const char *s1 = "first string that is fairly long, sixty bytes or so, really";
  const char *s2 = "second string that is fairly long as well, to overflow it!!";
  trace_span x = TRACE_INFO_SPAN("x", TF(a, s1), TF_FMT(f, fmt_answer, &answer), TF(b, s2),
                                 TF(c, 7), TF(d, "short"), TF(e, s1));
  trace_span_close(&x);
  char want[512];
  snprintf(want, sizeof want, "A:close x a=%s f=answer=42 b=%s c=7 d=short e=%s\n", s1, s2, s1);
  assert_text_contains(a->log.text, want);
  scoped_registry_end(d, &g, a);
}

/* Callbacks that fail or claim more than they wrote are stored as what they wrote. */
static void broken_fmt_callbacks_are_stored_safely(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_default_guard g;
  trace_dispatch *d = scoped_recorder(a, &g);
  trace_span x = TRACE_INFO_SPAN("x", TF_FMT(e, fmt_fails, NULL), TF_FMT(h, fmt_claims_huge, NULL),
                                 TF_FMT(m, fmt_claims_more, NULL), TF(y, TRACE_EMPTY));
  trace_span_record(&x, "y", trace_value_fmt(fmt_fills_without_nul, NULL));
  trace_span_close(&x);
  char ys[267];
  memset(ys, 'y', 266);
  ys[266] = '\0';
  char want[512];
  snprintf(want, sizeof want, "A:close x e=<format error> h=abc m=hi y=%s\n", ys);
  assert_text_contains(a->log.text, want);
  scoped_registry_end(d, &g, a);
}

/* Spans with more fields than a slot holds inline, alternating with small ones in the same slots:
 * no allocation once warm (the heap array used to be freed by each small span and allocated
 * again by the next big one). */
static void mixed_span_sizes_allocate_nothing_when_warm(void **state) {
  (void)state;
  static const trace_layer_vtable quiet = {.struct_size = sizeof(trace_layer_vtable)};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&quiet, NULL, 0, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  long before = 0;
  for (int round = 0; round < 2; round++) {
    if (round == 1)
      before = allocations_so_far();
    for (int i = 0; i < 10000; i++) {
      trace_span big =
          TRACE_INFO_SPAN("big", TF(a, 1), TF(b, 2), TF(c, 3), TF(d, 4), TF(e, 5), TF(f, "six"));
      trace_span_close(&big);
      trace_span small = TRACE_INFO_SPAN("small", TF(a, 1));
      trace_span_close(&small);
    }
  }
  assert_int_equal(allocations_so_far() - before, 0);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
}

static void memory_flat_over_a_million_spans(void **state) {
  (void)state;
  for (int layers = 0; layers < 2; layers++) {
    trace_registry *reg = trace_registry_new();
    recorder *a = NULL;
    if (layers) {
      a = recorder_new("A");
      /* A layer without callbacks that would fill the log: only extension and close. */
      static const trace_layer_vtable quiet = {.struct_size = sizeof(trace_layer_vtable)};
      trace_registry_add_layer(reg, trace_layer_new(&quiet, a, 64, 0), NULL);
    }
    trace_default_guard g;
    trace_dispatch *d = scoped_registry(reg, &g);
    trace_registry *r = trace_dispatch_self(d);
    for (int i = 0; i < 1000000; i++) {
      trace_span s = TRACE_INFO_SPAN("churn", TF(i, i), TF(name, "a string value"));
      trace_span_enter(&s);
      trace_span child = TRACE_INFO_SPAN("child");
      trace_span_exit(&s);
      trace_span_close(&s);
      trace_span_close(&child);
    }
    trace_registry_stats st = trace_registry_get_stats(r);
    assert_int_equal(st.spans_live, 0);
    assert_true(st.slots <= 256); /* slots are reused, not accumulated */
    trace_default_guard_restore(&g);
    trace_dispatch_release(d);
    if (a)
      recorder_free(a);
  }
}

/* Every allocation failing in turn: never a crash, and nothing leaks (LeakSanitizer). */
static void out_of_memory_sweep(void **state) {
  (void)state;
  for (long budget = 0; budget < 40; budget++) {
    recorder *a = recorder_new("A");
    trace_testing_fail_allocations_after(budget);
    trace_registry *reg = trace_registry_new();
    trace_registry_add_layer(reg, recorder_layer(a, 0), trace_filter_level(TRACE_LEVEL_INFO));
    trace_dispatch *d = trace_registry_dispatch(reg);
    if (d) {
      TRACE_WITH_DEFAULT(d) {
        trace_span s =
            TRACE_INFO_SPAN("s", TF(text, "a value long enough to need the heap arena "
                                          "because it is longer than ninety-six bytes in "
                                          "total, which is the inline size"));
        trace_span_enter(&s);
        TRACE_INFO("event");
        trace_span_exit(&s);
        trace_span_close(&s);
      }
      trace_dispatch_release(d);
    }
    trace_testing_fail_allocations_after(-1);
    recorder_free(a);
  }
}

int main(void) {
  if (install_counting_allocator() != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(broken_fmt_callbacks_are_stored_safely),
      cmocka_unit_test(mixed_span_sizes_allocate_nothing_when_warm),
      cmocka_unit_test(values_outgrow_the_arena),
      cmocka_unit_test(memory_flat_over_a_million_spans),
      cmocka_unit_test(out_of_memory_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
