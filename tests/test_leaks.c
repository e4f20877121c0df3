/* Spans never closed (docs/concepts.md, Guarantees, "Spans never closed"): trace_shutdown says
 * how many and where from, in one line on stderr; and the registry gives back the memory of
 * span slots it no longer needs, above a high-water mark. */
#include <pthread.h>

#include "helpers.h"
#include "trace/fmt.h"
#include "trace/registry.h"
#include "trace/writer.h"

static int discard_line(void *arg, const char *line, size_t len) {
  (void)arg;
  (void)line;
  (void)len;
  return 0;
}

/* A registry with an fmt layer writing nowhere: spans are stored as in a real program. */
static trace_dispatch *registry_dispatch(trace_registry **out) {
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.writer = trace_writer_callback(discard_line, NULL, NULL, NULL);
  trace_registry *r = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL), 0);
  trace_dispatch *d = trace_registry_dispatch(r);
  assert_non_null(d);
  if (out)
    *out = r;
  return d;
}

/* That registry as the global default. */
static void install_global(void) {
  trace_dispatch *d = registry_dispatch(NULL);
  assert_int_equal(trace_set_global_default(d), 0);
  trace_dispatch_release(d);
}

/* trace_shutdown, with what it says on stderr into err. */
static void shutdown_saying(char *err, size_t cap) {
  stderr_capture c = stderr_capture_begin();
  trace_shutdown();
  stderr_capture_end(&c, err, cap);
}

static int leaky_line, other_line;
static trace_span leaky(void) {
  leaky_line = __LINE__ + 1;
  return TRACE_INFO_SPAN("leaky", TF(n, 1));
}
static trace_span other(void) {
  other_line = __LINE__ + 1;
  return TRACE_INFO_SPAN("other");
}

/* The report names the callsites with the most spans left open, most first; a span this thread
 * is in (the TRACE_SCOPE around trace_shutdown) and a parent kept open only by its children are
 * not counted: nothing was forgotten there. */
static void shutdown_reports_unclosed_spans(void **state) {
  (void)state;
  install_global();
  for (int i = 0; i < 4; i++)
    (void)leaky(); /* the handle is dropped: the leak under test */
  trace_span holder = TRACE_INFO_SPAN("holder");
  trace_span_enter(&holder);
  trace_span child = leaky(); /* a fifth, whose parent's handle is closed properly */
  (void)child;
  trace_span_exit(&holder);
  trace_span_close(&holder);
  (void)other();
  (void)other();
  for (int i = 0; i < 3; i++) {
    trace_span closed = leaky();
    trace_span_close(&closed);
  }
  char err[2048];
  {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "main_scope");
    shutdown_saying(err, sizeof err);
  }
  char expected[1024];
  snprintf(expected, sizeof expected,
           "trace: 7 spans were never closed, most from span \"leaky\" (%s:%d) x5, span \"other\" "
           "(%s:%d) x2; close every span handle once (trace_span_close)\n",
           __FILE__, leaky_line, __FILE__, other_line);
  assert_text_equal(err, expected);
}

/* One span never closed: said in the singular, with no count per callsite. Nothing said when
 * every span was closed. */
static void shutdown_report_one_or_none(void **state) {
  (void)state;
  install_global();
  trace_span s = other();
  trace_span_close(&s);
  (void)leaky();
  char err[1024];
  shutdown_saying(err, sizeof err);
  char expected[512];
  snprintf(expected, sizeof expected,
           "trace: 1 span was never closed: span \"leaky\" (%s:%d); close every span handle once "
           "(trace_span_close)\n",
           __FILE__, leaky_line);
  assert_text_equal(err, expected);

  install_global();
  s = other();
  trace_span_close(&s);
  shutdown_saying(err, sizeof err);
  assert_text_equal(err, "");
}

enum { MANY = 100000, SLOTS_PER_PAGE = 512, KEPT_PAGES = 32 };

/* Regression (issue 12.16): after 100,000 spans were open at once and closed, every slot kept
 * its memory for good. Now all but 32 pages of free slots go back to the system; the slots come
 * back when spans need them again, and no stale handle ever names one of the new spans. */
static void closed_spans_give_memory_back(void **state) {
  (void)state;
  trace_registry *r;
  trace_dispatch *d = registry_dispatch(&r);
  trace_span *spans = calloc(MANY, sizeof *spans);
  assert_non_null(spans);
  TRACE_WITH_DEFAULT(d) {
    for (int i = 0; i < MANY; i++)
      spans[i] = TRACE_INFO_SPAN("many", TF(i, i));
    trace_registry_stats st = trace_registry_get_stats(r);
    assert_int_equal(st.spans_live, MANY);
    assert_int_equal(st.slots_returned, 0);
    uint64_t slots = st.slots;
    assert_true(slots >= MANY);
    trace_span stale = spans[MANY - 1]; /* a copy kept after its span is closed */
    for (int i = 0; i < MANY; i++)
      trace_span_close(&spans[i]);
    st = trace_registry_get_stats(r);
    assert_int_equal(st.spans_live, 0);
    assert_int_equal(st.spans_created, MANY);
    /* 196 pages; kept: 32 whole pages, fewer than 9 more not worth a pass, the partial last
     * page and those in this thread's cache. */
    assert_true(st.slots_returned >= (uint64_t)(196 - KEPT_PAGES - 8 - 2) * SLOTS_PER_PAGE);
    assert_true(st.slots_returned <= slots - (uint64_t)KEPT_PAGES * SLOTS_PER_PAGE);
    uint64_t stale_before = st.stale_ids;
    trace_span_enter(&stale); /* its slot's memory is gone: the id matches nothing */
    assert_int_equal(trace_registry_get_stats(r).stale_ids, stale_before + 1);

    for (int i = 0; i < MANY; i++)
      spans[i] = TRACE_INFO_SPAN("many", TF(i, i));
    st = trace_registry_get_stats(r);
    assert_int_equal(st.spans_live, MANY);
    assert_int_equal(st.spans_created, 2 * MANY); /* counted across the pages' return */
    /* The slots given back were reused: at most a thread's refill batch (32) more were made. */
    assert_true(st.slots >= slots && st.slots < slots + 32);
    assert_int_equal(st.slots_returned, 0);
    trace_span_enter(&stale); /* its slot holds a new span now: still no match */
    assert_int_equal(trace_registry_get_stats(r).stale_ids, stale_before + 2);
    /* The new spans work: enter, record, close. */
    trace_span_enter(&spans[7]);
    assert_int_equal(trace_span_record(&spans[7], "i", trace_value_i64(70)), 0);
    trace_span_exit(&spans[7]);
    for (int i = 0; i < MANY; i++)
      trace_span_close(&spans[i]);
    assert_int_equal(trace_registry_get_stats(r).spans_live, 0);
  }
  free(spans);
  trace_dispatch_release(d);
}

/* Threads opening and closing spans while pages go back and come again (run under TSan): a
 * slot in a thread's cache is never given back under it. */
typedef struct churn {
  trace_dispatch *d;
  int thread;
} churn;

static void *open_close(void *arg) {
  churn *c = arg;
  enum { N = 20000 };
  trace_span *spans = calloc(N, sizeof *spans);
  TRACE_WITH_DEFAULT(c->d) {
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < N; i++)
        spans[i] = TRACE_INFO_SPAN("churn", TF(t, c->thread), TF(i, i));
      for (int i = 0; i < N; i++) {
        trace_span_enter(&spans[i]);
        TRACE_INFO("in");
        trace_span_exit(&spans[i]);
        trace_span_close(&spans[i]);
      }
    }
  }
  free(spans);
  return NULL;
}

static void pages_return_while_threads_churn(void **state) {
  (void)state;
  trace_registry *r;
  trace_dispatch *d = registry_dispatch(&r);
  pthread_t threads[4];
  churn args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (churn){d, i};
    assert_int_equal(pthread_create(&threads[i], NULL, open_close, &args[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_join(threads[i], NULL), 0);
  trace_registry_stats st = trace_registry_get_stats(r);
  assert_int_equal(st.spans_live, 0);
  assert_int_equal(st.spans_created, 4 * 3 * 20000);
  assert_int_equal(st.stale_ids, 0);
  assert_true(st.slots_returned > 0);
  trace_dispatch_release(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(shutdown_reports_unclosed_spans),
      cmocka_unit_test(shutdown_report_one_or_none),
      cmocka_unit_test(closed_spans_give_memory_back),
      cmocka_unit_test(pages_return_while_threads_churn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
