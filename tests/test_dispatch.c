/* Dispatch: the global default (once), thread-scoped defaults, re-entrancy, shutdown, and exact
 * delivery from several threads (run under TSan too). */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"

/* A counting subscriber whose behaviour the tests steer. */
typedef struct counter {
  uint64_t events;    /* atomic */
  int reenter;        /* emit an event from inside event() */
  int slow;           /* sleep inside event() */
  int destroyed;      /* atomic */
  int in_event;       /* atomic */
  int destroyed_while_in_event;
} counter;

static void counter_event(void *self, const trace_event *ev) {
  counter *c = self;
  (void)ev;
  __atomic_store_n(&c->in_event, 1, __ATOMIC_SEQ_CST);
  if (c->reenter)
    TRACE_ERROR("from inside the subscriber"); /* must reach the no-op dispatcher */
  if (c->slow)
    usleep(50000);
  __atomic_fetch_add(&c->events, 1, __ATOMIC_RELAXED);
  __atomic_store_n(&c->in_event, 0, __ATOMIC_SEQ_CST);
}

static void counter_destroy(void *self) {
  counter *c = self;
  if (__atomic_load_n(&c->in_event, __ATOMIC_SEQ_CST))
    c->destroyed_while_in_event = 1;
  __atomic_store_n(&c->destroyed, 1, __ATOMIC_SEQ_CST);
}

static const trace_subscriber_vtable counter_vtable = {
    .struct_size = sizeof(trace_subscriber_vtable),
    .event = counter_event,
    .destroy = counter_destroy,
};

static void global_default_once(void **state) {
  (void)state;
  counter c1 = {0}, c2 = {0};
  trace_dispatch *d1 = trace_dispatch_new(&counter_vtable, &c1);
  trace_dispatch *d2 = trace_dispatch_new(&counter_vtable, &c2);
  assert_null(trace_global_default());
  assert_int_equal(trace_set_global_default(NULL), TRACE_EINVAL);
  assert_int_equal(trace_set_global_default(d1), 0);
  assert_int_equal(trace_set_global_default(d2), TRACE_EEXIST);
  assert_ptr_equal(trace_global_default(), d1);
  TRACE_INFO("one");
  assert_int_equal(c1.events, 1);
  assert_int_equal(c2.events, 0);
  trace_dispatch_release(d1); /* the global keeps its own reference */
  TRACE_INFO("two");
  assert_int_equal(c1.events, 2);
  trace_shutdown();
  assert_true(c1.destroyed);
  assert_null(trace_global_default());
  assert_int_equal(trace_max_level(), TRACE_LEVEL_OFF);
  TRACE_INFO("after shutdown");
  assert_int_equal(c1.events, 2);
  trace_shutdown(); /* twice: harmless */
  /* A new global default may be set after shutdown. */
  assert_int_equal(trace_set_global_default(d2), 0);
  TRACE_INFO("three");
  assert_int_equal(c2.events, 1);
  trace_shutdown();
  trace_dispatch_release(d2);
  assert_true(c2.destroyed);
}

static void dispatch_new_errors(void **state) {
  (void)state;
  counter c = {0};
  assert_null(trace_dispatch_new(NULL, &c));
  trace_testing_fail_allocations_after(0);
  assert_null(trace_dispatch_new(&counter_vtable, &c));
  trace_testing_fail_allocations_after(-1);
  assert_true(c.destroyed); /* ownership was taken even though creation failed */
  trace_dispatch_release(NULL);
  assert_null(trace_dispatch_self(NULL));
}

/* Thread-scoped defaults are per thread and not inherited. */
typedef struct scoped_arg {
  trace_capture *cap;
  trace_capture *inner;
} scoped_arg;

static void *child_thread(void *arg) {
  (void)arg;
  TRACE_INFO("from child");
  return NULL;
}

static void *scoped_thread(void *arg) {
  scoped_arg *a = arg;
  TRACE_WITH_DEFAULT(trace_capture_dispatch(a->cap)) {
    TRACE_INFO("scoped");
    pthread_t t;
    pthread_create(&t, NULL, child_thread, NULL);
    pthread_join(t, NULL);
    TRACE_WITH_DEFAULT(trace_capture_dispatch(a->inner)) { TRACE_INFO("nested"); }
    TRACE_INFO("scoped again");
  }
  TRACE_INFO("global again");
  return NULL;
}

static void scoped_defaults_per_thread(void **state) {
  (void)state;
  trace_capture *global = trace_capture_new(TRACE_LEVEL_TRACE);
  assert_int_equal(trace_set_global_default(trace_capture_dispatch(global)), 0);
  scoped_arg a = {trace_capture_new(TRACE_LEVEL_TRACE), trace_capture_new(TRACE_LEVEL_TRACE)};
  pthread_t t;
  pthread_create(&t, NULL, scoped_thread, &a);
  pthread_join(t, NULL);
  TRACE_INFO("main");
  assert_text_equal(trace_capture_log(a.cap), "event INFO test_dispatch: scoped\n"
                                              "event INFO test_dispatch: scoped again\n");
  assert_text_equal(trace_capture_log(a.inner), "event INFO test_dispatch: nested\n");
  assert_text_equal(trace_capture_log(global), "event INFO test_dispatch: from child\n"
                                               "event INFO test_dispatch: global again\n"
                                               "event INFO test_dispatch: main\n");
  trace_shutdown();
  trace_capture_free(global);
  trace_capture_free(a.cap);
  trace_capture_free(a.inner);
}

static void scoped_null_silences(void **state) {
  (void)state;
  trace_capture *global = trace_capture_new(TRACE_LEVEL_TRACE);
  trace_set_global_default(trace_capture_dispatch(global));
  TRACE_WITH_DEFAULT(NULL) { TRACE_INFO("silenced"); }
  for (int i = 0; i < 3; i++) {
    TRACE_WITH_DEFAULT(NULL) {
      if (i == 1)
        break;
    }
  }
  TRACE_INFO("heard");
  assert_text_equal(trace_capture_log(global), "event INFO test_dispatch: heard\n");
  trace_default_guard g = {0};
  trace_default_guard_restore(&g); /* an inactive guard: no-op */
  trace_default_guard_restore(NULL);
  trace_shutdown();
  trace_capture_free(global);
}

static void reentrancy_guard(void **state) {
  (void)state;
  counter c = {0};
  c.reenter = 1;
  trace_dispatch *d = trace_dispatch_new(&counter_vtable, &c);
  TRACE_WITH_DEFAULT(d) {
    TRACE_ERROR("outer");
    TRACE_ERROR("outer");
  }
  assert_int_equal(c.events, 2); /* the inner events went nowhere, and nothing recursed */
  trace_dispatch_release(d);
}

/* Exact counts from four threads: nothing lost, nothing duplicated. */
#define THREADS 4
#define PER_THREAD 100000
static void *emitter(void *arg) {
  (void)arg;
  for (int i = 0; i < PER_THREAD; i++)
    TRACE_INFO(TF(i, i), "event %d", i);
  return NULL;
}

static void threads_exact_counts(void **state) {
  (void)state;
  counter c = {0};
  trace_dispatch *d = trace_dispatch_new(&counter_vtable, &c);
  assert_int_equal(trace_set_global_default(d), 0);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, emitter, NULL);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(__atomic_load_n(&c.events, __ATOMIC_RELAXED), (uint64_t)THREADS * PER_THREAD);
  trace_shutdown();
  trace_dispatch_release(d);
}

/* Shutdown waits for a thread that is inside the subscriber before destroying it. */
static void *slow_emitter(void *arg) {
  (void)arg;
  TRACE_INFO("slow");
  return NULL;
}

static void shutdown_waits_for_readers(void **state) {
  (void)state;
  counter c = {0};
  c.slow = 1;
  trace_dispatch *d = trace_dispatch_new(&counter_vtable, &c);
  trace_set_global_default(d);
  trace_dispatch_release(d);
  pthread_t t;
  pthread_create(&t, NULL, slow_emitter, NULL);
  while (!__atomic_load_n(&c.in_event, __ATOMIC_SEQ_CST))
    usleep(100);
  trace_shutdown();
  assert_true(c.destroyed);
  assert_false(c.destroyed_while_in_event);
  pthread_join(t, NULL);
  assert_int_equal(c.events, 1);
}

static void spans_survive_shutdown(void **state) {
  (void)state;
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
  trace_set_global_default(trace_capture_dispatch(cap));
  trace_capture_free(cap); /* the global default keeps it alive */
  trace_span s = TRACE_INFO_SPAN("s", TF(a, TRACE_EMPTY));
  assert_false(trace_span_is_none(&s));
  trace_shutdown();
  /* The subscriber is gone; the handle stays safe to use. */
  trace_span_enter(&s);
  trace_span_exit(&s);
  assert_int_equal(TRACE_RECORD(&s, a, 1), 0);
  trace_span c = trace_span_clone(&s);
  assert_true(trace_span_is_none(&c));
  trace_span_close(&s);
  assert_true(trace_span_is_none(&s));
}

static void before_any_subscriber(void **state) {
  (void)state;
  errno = EINTR;
  TRACE_ERROR("nobody listens");
  trace_span s = TRACE_ERROR_SPAN("s");
  assert_true(trace_span_is_none(&s));
  trace_span cur = trace_span_current();
  assert_true(trace_span_is_none(&cur));
  trace_flush();
  trace_shutdown();
  assert_int_equal(errno, EINTR);
}

static void rebuild_busy_inside_callback_impl(void *self, const trace_event *ev) {
  (void)ev;
  int *rc = self;
  rc[0] = trace_rebuild_interest();
  rc[1] = trace_set_global_default((trace_dispatch *)self);
}

static void calls_from_inside_a_callback(void **state) {
  (void)state;
  int rc[2] = {1, 1};
  trace_subscriber_vtable vt = {.struct_size = sizeof vt, .event = rebuild_busy_inside_callback_impl};
  trace_dispatch *d = trace_dispatch_new(&vt, rc);
  TRACE_WITH_DEFAULT(d) { TRACE_INFO("x"); }
  assert_int_equal(rc[0], TRACE_EBUSY);
  assert_int_equal(rc[1], TRACE_EBUSY);
  trace_dispatch_release(d);
}

/* A subscriber that sets errno in every callback: each public call must still leave the caller's
 * errno as it was, on a thread that registers with that very call as well as on one that has
 * called before (errno is reached through a pointer taken when the thread registers). */
static uint64_t clobber_new_span(void *self, const trace_span_attrs *a) {
  (void)self;
  (void)a;
  errno = EIO;
  return 7;
}
static void clobber_id(void *self, uint64_t id) {
  (void)self;
  (void)id;
  errno = EIO;
}
static void clobber_event(void *self, const trace_event *ev) {
  (void)self;
  (void)ev;
  errno = EIO;
}
static bool clobber_enabled(void *self, const trace_event *ev) {
  (void)self;
  (void)ev;
  errno = EIO;
  return true;
}
static uint64_t clobber_clone(void *self, uint64_t id) {
  (void)self;
  errno = EIO;
  return id;
}
static int clobber_close(void *self, uint64_t id) {
  (void)self;
  (void)id;
  errno = EIO;
  return 0;
}
static uint64_t clobber_current(void *self, const trace_metadata **meta) {
  (void)self;
  static trace_metadata m;
  *meta = &m;
  errno = EIO;
  return 7;
}
static void clobber_record(void *self, uint64_t id, const trace_valueset *vs) {
  (void)self;
  (void)id;
  (void)vs;
  errno = EIO;
}
static void clobber_follows(void *self, uint64_t id, uint64_t follows) {
  (void)self;
  (void)id;
  (void)follows;
  errno = EIO;
}

/* Every public call on the span and event path, each checked on its own. */
static void *calls_keep_errno(void *arg) {
  int *failures = arg;
#define KEEPS(call)                                                                                \
  do {                                                                                             \
    errno = EINTR;                                                                                 \
    call;                                                                                          \
    if (errno != EINTR)                                                                            \
      (*failures)++;                                                                               \
  } while (0)
  trace_span s, c, cur;
  KEEPS(s = TRACE_INFO_SPAN("s", TF(a, TRACE_EMPTY)));
  KEEPS(trace_span_enter(&s));
  KEEPS(TRACE_INFO(TF(x, 1), "event %d", 1));
  KEEPS(TRACE_RECORD(&s, a, 2));
  KEEPS(c = trace_span_clone(&s));
  KEEPS(cur = trace_span_current());
  KEEPS(trace_span_follows_from(&c, &s));
  KEEPS(trace_span_exit(&s));
  KEEPS(trace_span_close(&c));
  KEEPS(trace_span_close(&cur));
  KEEPS(trace_span_close(&s));
#undef KEEPS
  return NULL;
}

static void subscriber_cannot_change_errno(void **state) {
  (void)state;
  trace_subscriber_vtable vt = {.struct_size = sizeof vt,
                                .new_span = clobber_new_span,
                                .enter = clobber_id,
                                .exit = clobber_id,
                                .event = clobber_event,
                                .event_enabled = clobber_enabled,
                                .clone_span = clobber_clone,
                                .try_close = clobber_close,
                                .current_span = clobber_current,
                                .record = clobber_record,
                                .record_follows_from = clobber_follows};
  trace_dispatch *d = trace_dispatch_new(&vt, NULL);
  assert_int_equal(trace_set_global_default(d), 0);
  trace_dispatch_release(d);
  int failures = 0;
  calls_keep_errno(&failures); /* this thread has been in libtrace before */
  assert_int_equal(failures, 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, calls_keep_errno, &failures), 0);
  pthread_join(t, NULL); /* a new thread: its first call registers it */
  assert_int_equal(failures, 0);
  trace_shutdown();
}

static void small_vtable_is_accepted(void **state) {
  (void)state;
  /* A subscriber compiled against an older, shorter vtable: entries past struct_size are NULL. */
  counter c = {0};
  trace_subscriber_vtable vt = counter_vtable;
  vt.struct_size = (uint32_t)offsetof(trace_subscriber_vtable, enter);
  trace_dispatch *d = trace_dispatch_new(&vt, &c);
  TRACE_WITH_DEFAULT(d) {
    TRACE_INFO("counted");
    trace_span s = TRACE_INFO_SPAN("s"); /* new_span is NULL here: a none span */
    assert_true(trace_span_is_none(&s));
  }
  trace_dispatch_release(d);
  assert_int_equal(c.events, 1);
  assert_false(c.destroyed); /* destroy is past struct_size */
}

/* trace_dispatch_on_destroy: callbacks run once, newest first, before the subscriber's destroy,
 * both for a dispatcher released by its last reference and for the global default at shutdown. */
typedef struct destroy_log {
  char order[8];
  int n;
  counter *c; /* its destroyed flag must still be 0 when the callbacks run */
  int subscriber_destroyed_first;
} destroy_log;

static void note_a(void *arg) {
  destroy_log *l = arg;
  l->order[l->n++] = 'a';
  if (l->c->destroyed)
    l->subscriber_destroyed_first = 1;
}
static void note_b(void *arg) {
  destroy_log *l = arg;
  l->order[l->n++] = 'b';
}

static void destroy_callbacks(void **state) {
  (void)state;
  counter c = {0};
  destroy_log log = {{0}, 0, &c, 0};
  trace_dispatch *d = trace_dispatch_new(&counter_vtable, &c);
  assert_int_equal(trace_dispatch_on_destroy(d, note_a, &log), 0);
  assert_int_equal(trace_dispatch_on_destroy(d, note_b, &log), 0);
  assert_int_equal(trace_dispatch_on_destroy(d, NULL, &log), TRACE_EINVAL);
  assert_int_equal(trace_dispatch_on_destroy(NULL, note_a, &log), TRACE_EINVAL);
  trace_dispatch_release(d);
  assert_string_equal(log.order, "ba");
  assert_false(log.subscriber_destroyed_first);
  assert_true(c.destroyed);

  counter g = {0};
  destroy_log glog = {{0}, 0, &g, 0};
  d = trace_dispatch_new(&counter_vtable, &g);
  assert_int_equal(trace_dispatch_on_destroy(d, note_a, &glog), 0);
  assert_int_equal(trace_set_global_default(d), 0);
  trace_dispatch_release(d);
  assert_int_equal(glog.n, 0); /* the global default holds it */
  trace_shutdown();
  assert_string_equal(glog.order, "a");
  assert_false(glog.subscriber_destroyed_first);
  assert_int_equal(trace_dispatch_on_destroy(d, note_b, &glog), TRACE_EINVAL); /* too late */
}

/* The doors for subscribers that format messages themselves: the arguments and errno. */
typedef struct message_seen {
  char text[64];
  int err;
  bool had_args;
} message_seen;

static void message_event(void *self, const trace_event *ev) {
  message_seen *m = self;
  va_list ap;
  m->had_args = trace_event_va_copy(ev, &ap);
  if (m->had_args) {
    vsnprintf(m->text, sizeof m->text, "%s=%d", ap); /* the callsite's format is "%s=%d" */
    va_end(ap);
  }
  m->err = trace_event_errno(ev);
  errno = 0; /* and the emitter's errno is restored anyway */
}

static void event_args_and_errno(void **state) {
  (void)state;
  message_seen m = {{0}, 0, false};
  static const trace_subscriber_vtable vt = {
      .struct_size = sizeof(trace_subscriber_vtable),
      .event = message_event,
  };
  trace_dispatch *d = trace_dispatch_new(&vt, &m);
  TRACE_WITH_DEFAULT(d) {
    errno = ENOENT;
    TRACE_INFO("%s=%d", "answer", 42);
    assert_int_equal(errno, ENOENT);
    assert_true(m.had_args);
    assert_string_equal(m.text, "answer=42");
    assert_int_equal(m.err, ENOENT);
    TRACE_INFO(TF(only, 1)); /* no message: no arguments */
    assert_false(m.had_args);
  }
  trace_dispatch_release(d);
  assert_false(trace_event_va_copy(NULL, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(destroy_callbacks),
      cmocka_unit_test(event_args_and_errno),
      cmocka_unit_test(before_any_subscriber),
      cmocka_unit_test(global_default_once),
      cmocka_unit_test(dispatch_new_errors),
      cmocka_unit_test(scoped_defaults_per_thread),
      cmocka_unit_test(scoped_null_silences),
      cmocka_unit_test(reentrancy_guard),
      cmocka_unit_test(threads_exact_counts),
      cmocka_unit_test(shutdown_waits_for_readers),
      cmocka_unit_test(spans_survive_shutdown),
      cmocka_unit_test(calls_from_inside_a_callback),
      cmocka_unit_test(small_vtable_is_accepted),
      cmocka_unit_test(subscriber_cannot_change_errno),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
