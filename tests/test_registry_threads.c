/* The registry across threads: a span used on three threads, a thread exiting with a span entered,
 * eight threads churning spans under one parent, the last references dropped on several threads
 * at once, references dropped step by step on several threads, a first enter racing a clone's
 * close (TSan). */
#include "recorder.h"

/* Create on one thread, enter on a second, close on a third. */
static void *enter_here(void *arg) {
  trace_span *s = arg;
  trace_span_enter(s);
  TRACE_INFO("worker");
  trace_span_exit(s);
  return NULL;
}
static void *close_here(void *arg) {
  trace_span_close(arg);
  return NULL;
}

static void cross_thread_use(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  assert_int_equal(trace_registry_install(recorder_registry(a)), 0);
  trace_span s = TRACE_INFO_SPAN("job");
  pthread_t t;
  pthread_create(&t, NULL, enter_here, &s);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, close_here, &s);
  pthread_join(t, NULL);
  assert_text_equal(a->log.text,
                    "A:new job in -\nA:enter job\nA:event INFO worker in job\nA:exit job\n"
                    "A:close job\n");
  trace_shutdown();
  recorder_free(a);
}

/* A thread that exits with a span still entered gives its reference back. */
static void *exit_while_entered(void *arg) {
  trace_span *s = arg;
  trace_span_enter(s);
  trace_span_close(s);
  return NULL; /* never exits the span */
}

static void thread_exit_releases_entries(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  assert_int_equal(trace_registry_install(recorder_registry(a)), 0);
  trace_span s = TRACE_INFO_SPAN("abandoned");
  pthread_t t;
  pthread_create(&t, NULL, exit_while_entered, &s);
  pthread_join(t, NULL);
  assert_int_equal(a->closes, 1);
  trace_shutdown();
  recorder_free(a);
}

/* Eight threads creating, entering, recording and closing spans with a shared parent. */
static trace_span shared_parent;
static void *churn(void *arg) {
  (void)arg;
  for (int i = 0; i < 5000; i++) {
    trace_span s =
        TRACE_SPAN_IN(&shared_parent, TRACE_LEVEL_INFO, "work", TF(i, i), TF(r, TRACE_EMPTY));
    trace_span_enter(&s);
    trace_span inner = TRACE_DEBUG_SPAN("inner");
    TRACE_RECORD(&s, r, "done");
    trace_span_enter(&inner);
    TRACE_DEBUG("tick");
    trace_span_exit(&inner);
    trace_span_close(&inner);
    trace_span_exit(&s);
    trace_span_close(&s);
  }
  return NULL;
}

/* A registry with one layer, installed as the global default; the caller releases it. */
static trace_dispatch *install_one_layer(const trace_layer_vtable *vt, size_t ext_size,
                                         unsigned flags) {
  trace_registry *reg = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(vt, NULL, ext_size, flags), NULL),
                   0);
  trace_dispatch *d = trace_registry_dispatch(reg);
  assert_int_equal(trace_set_global_default(d), 0);
  return d;
}

static void concurrent_threads(void **state) {
  (void)state;
  static const trace_layer_vtable counting = {.struct_size = sizeof(trace_layer_vtable)};
  trace_dispatch *d = install_one_layer(&counting, 16, TRACE_LAYER_TIMING);
  shared_parent = TRACE_INFO_SPAN("parent");
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, churn, NULL);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  trace_registry *r = trace_dispatch_self(d);
  assert_int_equal(trace_registry_get_stats(r).spans_live, 1);
  trace_span_close(&shared_parent);
  assert_int_equal(trace_registry_get_stats(r).spans_live, 0);
  trace_dispatch_release(d);
  trace_shutdown();
}

/* The last references dropped on several threads at once, round after round: every worker
 * holds a clone and is inside the span through it when the creating thread closes the original,
 * and the workers exit and close their clones meanwhile. Whoever drops the last reference does
 * it with a plain store when the count says the references are its own (reg_slot_refs_drop):
 * the span must still close exactly once per round, after every exit. */
#define RACE_THREADS 4
#define RACE_ROUNDS 3000
static trace_span race_span;
static pthread_barrier_t race_ready, race_end;
static unsigned race_exits, race_closes, race_exits_at_close; /* atomic */

static void race_on_exit(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)self, (void)id, (void)ctx;
  __atomic_add_fetch(&race_exits, 1, __ATOMIC_RELAXED);
}
static void race_on_close(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)self, (void)id, (void)ctx;
  __atomic_store_n(&race_exits_at_close, __atomic_load_n(&race_exits, __ATOMIC_RELAXED),
                   __ATOMIC_RELAXED);
  __atomic_add_fetch(&race_closes, 1, __ATOMIC_RELAXED);
}

static void *race_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < RACE_ROUNDS; i++) {
    pthread_barrier_wait(&race_ready); /* the round's span is made */
    trace_span mine = trace_span_clone(&race_span);
    trace_span_enter(&mine);
    pthread_barrier_wait(&race_ready); /* every worker is inside */
    trace_span_exit(&mine);
    trace_span_close(&mine);
    pthread_barrier_wait(&race_end);
  }
  return NULL;
}

static void last_references_race(void **state) {
  (void)state;
  trace_layer_vtable vt = {.struct_size = sizeof vt};
  vt.on_exit = race_on_exit;
  vt.on_close = race_on_close;
  trace_dispatch *d = install_one_layer(&vt, 0, 0);
  pthread_barrier_init(&race_ready, NULL, RACE_THREADS + 1);
  pthread_barrier_init(&race_end, NULL, RACE_THREADS + 1);
  pthread_t t[RACE_THREADS];
  for (int i = 0; i < RACE_THREADS; i++)
    pthread_create(&t[i], NULL, race_worker, NULL);
  unsigned bad_rounds = 0;
  for (unsigned i = 0; i < RACE_ROUNDS; i++) {
    race_span = TRACE_INFO_SPAN("race");
    pthread_barrier_wait(&race_ready);
    pthread_barrier_wait(&race_ready);
    trace_span_close(&race_span); /* while the workers exit and close their clones */
    pthread_barrier_wait(&race_end);
    bool once = __atomic_load_n(&race_closes, __ATOMIC_RELAXED) == i + 1;
    bool after_exits =
        __atomic_load_n(&race_exits_at_close, __ATOMIC_RELAXED) == (i + 1) * RACE_THREADS;
    bad_rounds += !(once && after_exits);
  }
  for (int i = 0; i < RACE_THREADS; i++)
    pthread_join(t[i], NULL);
  pthread_barrier_destroy(&race_ready);
  pthread_barrier_destroy(&race_end);
  assert_int_equal(bad_rounds, 0);
  assert_int_equal(race_closes, RACE_ROUNDS);
  assert_int_equal(trace_registry_get_stats(trace_dispatch_self(d)).spans_live, 0);
  trace_dispatch_release(d);
  trace_shutdown();
}

/* References across threads, step by step: whatever the order of enters, exits, clones and
 * closes, and whichever thread does them, the span closes exactly at the step that drops its
 * last reference. Each row is a sequence of steps, each step an operation and the thread it runs
 * on (m: the creating thread, o: another one, a new thread each time), and the step after which
 * the span must be closed. */
/* COPY keeps a copy of the handle (not a reference: trace_span_close sets the handle itself to
 * none, after which exiting through it would be a no-op) for EXIT_COPY. */
typedef enum {
  ENTER, EXIT, CLOSE, END, CLONE, ENTER_CLONE, EXIT_CLONE, CLOSE_CLONE, COPY, EXIT_COPY,
  ENTER_END /* enter, then end, on one thread (each 'o' step has a thread of its own) */
} life_op;
typedef struct life_step {
  life_op op;
  char thread;
} life_step;
typedef struct life_case {
  const char *name;
  life_step steps[8];
  int nsteps;
  int closed_after; /* 0-based index of the step that closes the span */
} life_case;

static trace_span life_handle, life_clone, life_copy;

static void life_do(life_op op) {
  switch (op) {
  case ENTER: trace_span_enter(&life_handle); break;
  case EXIT: trace_span_exit(&life_handle); break;
  case CLOSE: trace_span_close(&life_handle); break;
  case END: trace_span_end(&life_handle); break;
  case CLONE: life_clone = trace_span_clone(&life_handle); break;
  case ENTER_CLONE: trace_span_enter(&life_clone); break;
  case EXIT_CLONE: trace_span_exit(&life_clone); break;
  case CLOSE_CLONE: trace_span_close(&life_clone); break;
  case COPY: life_copy = life_handle; break;
  case EXIT_COPY: trace_span_exit(&life_copy); break;
  case ENTER_END:
    trace_span_enter(&life_handle);
    trace_span_end(&life_handle);
    break;
  }
}

static void *life_thread(void *arg) {
  life_do(*(const life_op *)arg);
  return NULL;
}

static const life_case life_cases[] = {
    {"made, closed", {{CLOSE, 'm'}}, 1, 0},
    {"entered, exited, closed", {{ENTER, 'm'}, {EXIT, 'm'}, {CLOSE, 'm'}}, 3, 2},
    {"closed while entered", {{ENTER, 'm'}, {COPY, 'm'}, {CLOSE, 'm'}, {EXIT_COPY, 'm'}}, 4, 3},
    {"entered twice", {{ENTER, 'm'}, {ENTER, 'm'}, {EXIT, 'm'}, {EXIT, 'm'}, {CLOSE, 'm'}}, 5, 4},
    {"ended (exit and close in one)", {{ENTER, 'm'}, {END, 'm'}}, 2, 1},
    {"ended, never entered", {{END, 'm'}}, 1, 0},
    {"entered elsewhere, ended there", {{ENTER_END, 'o'}}, 1, 0},
    {"entered elsewhere, ended there, entered here too",
     {{ENTER, 'm'}, {COPY, 'm'}, {ENTER_END, 'o'}, {EXIT_COPY, 'm'}},
     4,
     3},
    {"closed elsewhere, never entered", {{CLOSE, 'o'}}, 1, 0},
    {"entered here, closed elsewhere, exited",
     {{ENTER, 'm'}, {COPY, 'm'}, {CLOSE, 'o'}, {EXIT_COPY, 'm'}},
     4,
     3},
    {"cloned, the clone entered here",
     {{CLONE, 'm'}, {ENTER_CLONE, 'm'}, {CLOSE, 'm'}, {EXIT_CLONE, 'm'}, {CLOSE_CLONE, 'm'}},
     5,
     4},
    {"cloned, closed elsewhere first",
     {{CLONE, 'm'}, {CLOSE, 'o'}, {ENTER_CLONE, 'm'}, {EXIT_CLONE, 'm'}, {CLOSE_CLONE, 'o'}},
     5,
     4},
    {"entered elsewhere then here",
     {{ENTER, 'o'}, {ENTER, 'm'}, {EXIT, 'm'}, {CLOSE, 'm'}}, 4, 3},
};

static void reference_lifecycles(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = recorder_registry(a);
  trace_dispatch *d = trace_registry_dispatch(reg);
  assert_int_equal(trace_set_global_default(d), 0);
  trace_registry *r = trace_dispatch_self(d);
  for (size_t c = 0; c < sizeof life_cases / sizeof life_cases[0]; c++) {
    const life_case *lc = &life_cases[c];
    int closes0 = a->closes;
    life_handle = TRACE_INFO_SPAN("life");
    life_clone = trace_span_none();
    for (int i = 0; i < lc->nsteps; i++) {
      life_op op = lc->steps[i].op;
      if (lc->steps[i].thread == 'm') {
        life_do(op);
      } else {
        pthread_t t;
        pthread_create(&t, NULL, life_thread, &op);
        pthread_join(t, NULL);
      }
      int want = i >= lc->closed_after ? 1 : 0;
      if (a->closes - closes0 != want)
        fail_msg("%s: after step %d the span was closed %d times, not %d", lc->name, i,
                 a->closes - closes0, want);
    }
    if (trace_registry_get_stats(r).spans_live != 0)
      fail_msg("%s: a span is left open", lc->name);
  }
  trace_dispatch_release(d);
  trace_shutdown();
  recorder_free(a);
}

/* The creating thread's first enter while another thread closes its clone of the span, round
 * after round: the span must close only after the creator's own close, never at an exit before
 * it. (A reference taken ahead for that first enter, given back by whichever handle closed first,
 * was counted twice when the two met: the span closed at the creator's exit.) */
#define ENTER_RACE_ROUNDS 4000
static trace_span enter_race_clone;
static pthread_barrier_t enter_race_go, enter_race_end;
static unsigned enter_race_creator_closed, enter_race_early; /* atomic */

static void enter_race_on_close(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)self, (void)id, (void)ctx;
  if (!__atomic_load_n(&enter_race_creator_closed, __ATOMIC_ACQUIRE))
    __atomic_add_fetch(&enter_race_early, 1, __ATOMIC_RELAXED);
}

static void *enter_race_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < ENTER_RACE_ROUNDS; i++) {
    pthread_barrier_wait(&enter_race_go);
    trace_span_close(&enter_race_clone);
    pthread_barrier_wait(&enter_race_end);
  }
  return NULL;
}

static void first_enter_races_a_clone_close(void **state) {
  (void)state;
  trace_layer_vtable vt = {.struct_size = sizeof vt};
  vt.on_close = enter_race_on_close;
  trace_dispatch *d = install_one_layer(&vt, 0, 0);
  pthread_barrier_init(&enter_race_go, NULL, 2);
  pthread_barrier_init(&enter_race_end, NULL, 2);
  pthread_t t;
  pthread_create(&t, NULL, enter_race_worker, NULL);
  for (int i = 0; i < ENTER_RACE_ROUNDS; i++) {
    __atomic_store_n(&enter_race_creator_closed, 0, __ATOMIC_RELEASE);
    trace_span s = TRACE_INFO_SPAN("raced");
    enter_race_clone = trace_span_clone(&s);
    pthread_barrier_wait(&enter_race_go);
    trace_span_enter(&s); /* the first enter, while the worker closes its clone */
    trace_span_exit(&s);
    pthread_barrier_wait(&enter_race_end);
    __atomic_store_n(&enter_race_creator_closed, 1, __ATOMIC_RELEASE);
    trace_span_close(&s);
  }
  pthread_join(t, NULL);
  pthread_barrier_destroy(&enter_race_go);
  pthread_barrier_destroy(&enter_race_end);
  assert_int_equal(enter_race_early, 0);
  assert_int_equal(trace_registry_get_stats(trace_dispatch_self(d)).spans_live, 0);
  trace_dispatch_release(d);
  trace_shutdown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cross_thread_use),
      cmocka_unit_test(thread_exit_releases_entries),
      cmocka_unit_test(concurrent_threads),
      cmocka_unit_test(last_references_race),
      cmocka_unit_test(reference_lifecycles),
      cmocka_unit_test(first_enter_races_a_clone_close),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
