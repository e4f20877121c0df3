/* The guarantees of docs/concepts.md ("Guarantees") that cut across modules: what holds when the
 * host forks while threads log, when a signal handler logs, and when memory runs out. Each test
 * here is named in that section. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "helpers.h"
#include "trace/fmt.h"
#include "trace/registry.h"
#include "trace/writer.h"

/* Lines a callback writer received, each checked as it arrives: a line is never empty, ends with
 * its one newline and has no other; cut lines end with the marker. Atomic counters, no lock: a child of fork() must not find
 * the lock held by a thread it does not have. */
typedef struct lines {
  long count, empty, unterminated, cut;
  char text[4096]; /* the first lines, for tests that look for one (single-threaded ones) */
  size_t len;
} lines;

static void count(long *c) { __atomic_add_fetch(c, 1, __ATOMIC_RELAXED); }

static int lines_write(void *arg, const char *line, size_t len) {
  lines *s = arg;
  count(&s->count);
  if (len <= 1) /* nothing, or a newline alone */
    count(&s->empty);
  else if (line[len - 1] != '\n' || memchr(line, '\n', len - 1)) {
    count(&s->unterminated);
    fprintf(stderr, "not one line: [%.*s]\n", (int)len, line);
  }
  else if (memmem(line, len, "...[line truncated]\n", 20))
    count(&s->cut);
  if (s->len + len < sizeof s->text) {
    memcpy(s->text + s->len, line, len);
    s->len += len;
  }
  return 0;
}

/* A registry with one fmt layer writing to s; *w gets its writer. */
static trace_dispatch *fmt_to(lines *s, trace_writer **w) {
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.time = TRACE_FMT_TIME_NONE;
  o.writer = trace_writer_callback(lines_write, NULL, NULL, s);
  *w = o.writer;
  trace_registry *r = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL), 0);
  trace_dispatch *d = trace_registry_dispatch(r);
  assert_non_null(d);
  return d;
}

static trace_dispatch *oom_dispatch;

/* The global default of the tests that need one (fork, signals): installed once, as a program
 * would; the fork test, last, shuts it down. */
static lines global_lines;
static void install_global(void) {
  static int done;
  if (done++)
    return;
  trace_writer *w;
  assert_int_equal(trace_set_global_default(fmt_to(&global_lines, &w)), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Out of memory. */

enum { OOM_EVENTS = 6 };

static void oom_events(void) {
  trace_span s = TRACE_INFO_SPAN("oom", TF(path, "/a/path/long/enough/to/need/the/heap/0123456789"
                                                  "0123456789012345678901234567890123456789"));
  trace_span_enter(&s);
  for (int i = 0; i < OOM_EVENTS; i++)
    TRACE_INFO(TF(i, i), TF(text, "some text"), "event %d of %s", i, "a run under memory pressure");
  trace_span_exit(&s);
  trace_span_close(&s);
}

static void *oom_thread(void *arg) {
  long budget = *(long *)arg;
  TRACE_WITH_DEFAULT(oom_dispatch) {
    trace_testing_fail_allocations_after(budget);
    oom_events();
    trace_testing_fail_allocations_after(-1);
  }
  return NULL;
}

/* Every event under an allocation failure, at every point a thread's first events allocate: each
 * one is a line, non-empty and ending with its newline, or a counted loss. Lines used to come out
 * empty, without a newline, when the thread's line buffer could not be allocated. */
static void oom_every_event_is_a_line_or_counted(void **state) {
  (void)state;
  lines s = {0};
  trace_writer *w;
  oom_dispatch = fmt_to(&s, &w);
  TRACE_WITH_DEFAULT(oom_dispatch) {
    oom_events(); /* callsites registered and their formats compiled while memory lasts */
  }
  long runs = 0;
  for (long budget = 0; budget < 40; budget++, runs++) {
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, oom_thread, &budget), 0);
    pthread_join(th, NULL);
  }
  trace_writer_stats st = trace_writer_get_stats(w);
  long events = (runs + 1) * OOM_EVENTS;
  assert_int_equal(s.empty, 0);
  assert_int_equal(s.unterminated, 0);
  assert_int_equal(s.count + (long)st.lost, events);
  trace_dispatch_release(oom_dispatch);
}

/* ------------------------------------------------------------------------------------------ */
/* fork. */

enum { FORK_THREADS = 8, FORKS = 300 };
static int fork_stop;

/* Spans whose formatted fields outgrow the inline text (a heap buffer, replaced by a record), closed
 * all the time: what fmt and the registry free while the host forks. */
static void *fork_logger(void *arg) {
  (void)arg;
  /* The lowest priority: the forking thread and its children get the cores, or 300 forks take
   * minutes on two cores under ASan. Linux applies it to this thread alone. */
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
  for (unsigned long i = 0; !__atomic_load_n(&fork_stop, __ATOMIC_RELAXED); i++) {
    trace_span s = TRACE_INFO_SPAN("w", TF(i, i), TF(v, "a value long enough that the formatted "
                                                        "fields of the span go to the heap ........"));
    trace_span_enter(&s);
    TRACE_INFO(TF(i, i), "worker");
    TRACE_RECORD(&s, v, "a longer value, so that the heap buffer is replaced by a bigger one: "
                        "................................................................");
    TRACE_INFO("after record");
    trace_span_exit(&s);
    trace_span_close(&s);
  }
  return NULL;
}

/* fork() repeatedly while 8 threads log, the child logs and shuts down: no double free, no hang
 * (the ASan pass of make test runs it). A span closed at the moment of a fork used to have its
 * field buffer freed by its thread and, in the child, freed again by trace_shutdown. */
static void fork_while_8_threads_log(void **state) {
  (void)state;
  install_global();
  lines *s = &global_lines;
  fork_stop = 0;
  pthread_t th[FORK_THREADS];
  for (int k = 0; k < FORK_THREADS; k++)
    assert_int_equal(pthread_create(&th[k], NULL, fork_logger, NULL), 0);
  int failed = 0;
  for (int n = 0; n < FORKS; n++) {
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
      alarm(30);
      trace_span c = TRACE_INFO_SPAN("child", TF(n, n));
      trace_span_enter(&c);
      TRACE_WARN(TF(n, n), "in the child");
      trace_span_exit(&c);
      trace_span_close(&c);
      trace_shutdown();
      _exit(s->count > 0 ? 0 : 3);
    }
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "fork %d: child %s %d\n", n, WIFEXITED(st) ? "exited" : "killed by signal",
              WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
      failed++;
    }
  }
  __atomic_store_n(&fork_stop, 1, __ATOMIC_RELAXED);
  for (int k = 0; k < FORK_THREADS; k++)
    pthread_join(th[k], NULL);
  trace_shutdown();
  assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Signals. */

/* An allocator that stands for malloc with its lock: a thread "inside malloc" holds alloc_lock,
 * and an allocation that finds it held there is one that would deadlock in the C library
 * (counted, and refused instead of waiting). Armed, the next allocation on the armed thread
 * raises SIGUSR1 first: a handler interrupting libtrace while it makes a thread's state. */
static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static long would_deadlock;
static int raise_on_alloc;
static pthread_t raise_thread;

static void *locked_malloc(size_t n) {
  if (__atomic_exchange_n(&raise_on_alloc, 0, __ATOMIC_RELAXED)) {
    if (pthread_equal(pthread_self(), raise_thread))
      raise(SIGUSR1);
    else
      __atomic_store_n(&raise_on_alloc, 1, __ATOMIC_RELAXED);
  }
  if (pthread_mutex_trylock(&alloc_lock) != 0) {
    count(&would_deadlock);
    return NULL;
  }
  void *p = malloc(n);
  pthread_mutex_unlock(&alloc_lock);
  return p;
}
static void *locked_realloc(void *p, size_t n) {
  if (pthread_mutex_trylock(&alloc_lock) != 0) {
    count(&would_deadlock);
    return NULL;
  }
  void *q = realloc(p, n);
  pthread_mutex_unlock(&alloc_lock);
  return q;
}

/* Runs fn on a new thread and waits for it; global_lines.text then holds what it wrote. */
static void run_thread(void *(*fn)(void *)) {
  global_lines.len = 0;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, fn, NULL), 0);
  pthread_join(th, NULL);
  global_lines.text[global_lines.len] = '\0';
}

static void on_signal(int sig) { TRACE_INFO(TF(sig, sig), "from a signal handler"); }

/* Each signal test runs with the allocator above; the others with malloc (what it allocated is
 * malloc's too). */
static int signal_setup(void **state) {
  (void)state;
  install_global();
  static const trace_allocator a = {sizeof(trace_allocator), locked_malloc, locked_realloc, free};
  assert_int_equal(trace_set_allocator(&a), 0);
  static int done;
  if (done++)
    return 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
  on_signal(0); /* the handler's callsite, reached once outside a handler */
  return 0;
}

static int signal_teardown(void **state) {
  (void)state;
  static const trace_allocator plain = {sizeof(trace_allocator), malloc, realloc, free};
  return trace_set_allocator(&plain);
}

static void *prepared_thread(void *arg) {
  (void)arg;
  assert_int_equal(trace_thread_prepare(), 0);
  pthread_mutex_lock(&alloc_lock); /* this thread is inside malloc... */
  raise(SIGUSR1);                  /* ...when the signal comes */
  pthread_mutex_unlock(&alloc_lock);
  return NULL;
}

/* A prepared thread's handler logs while the thread is inside malloc: the line is written, and
 * libtrace allocated nothing (an allocation would have deadlocked). */
static void signal_on_prepared_thread_logs(void **state) {
  (void)state;
  uint64_t dropped = trace_dropped_events();
  run_thread(prepared_thread);
  assert_text_contains(global_lines.text, "from a signal handler sig=10\n");
  assert_int_equal(would_deadlock, 0);
  assert_int_equal(trace_dropped_events(), dropped);
}

static void *unprepared_thread(void *arg) {
  (void)arg;
  raise_thread = pthread_self();
  __atomic_store_n(&raise_on_alloc, 1, __ATOMIC_RELAXED);
  TRACE_INFO("first event of an unprepared thread"); /* its state is allocated: the signal */
  __atomic_store_n(&raise_on_alloc, 0, __ATOMIC_RELAXED);
  return NULL;
}

/* On a thread that was not prepared, a handler that interrupts libtrace making the thread's
 * state (an allocation for the first event): its event is dropped and counted, the
 * interrupted event is written, nothing waits. */
static void signal_during_thread_state_allocation_is_counted(void **state) {
  (void)state;
  uint64_t dropped = trace_dropped_events();
  run_thread(unprepared_thread);
  assert_text_contains(global_lines.text, "first event of an unprepared thread\n");
  assert_null(strstr(global_lines.text, "from a signal handler"));
  assert_int_equal(trace_dropped_events(), dropped + 1);
  assert_int_equal(would_deadlock, 0);
}

static void raise_now(void) { raise(SIGUSR1); }

static void *first_event_thread(void *arg) {
  (void)arg;
  TRACE_INFO("first event of an unprepared thread");
  return NULL;
}

/* A handler that interrupts a thread registering with libtrace (its first call, with the thread
 * list locked): dropped and counted, not a deadlock on that lock. In a child with an alarm, so
 * that a regression fails instead of hanging the suite. */
static void signal_during_thread_registration_is_counted(void **state) {
  (void)state;
  pid_t p = fork();
  assert_true(p >= 0);
  if (p == 0) {
    alarm(10);
    uint64_t dropped = trace_dropped_events();
    trace_testing_on_thread_setup(raise_now);
    run_thread(first_event_thread);
    trace_testing_on_thread_setup(NULL);
    bool ok = strstr(global_lines.text, "first event of an unprepared thread\n") &&
              !strstr(global_lines.text, "from a signal handler") &&
              trace_dropped_events() == dropped + 1;
    if (!ok)
      fprintf(stderr, "dropped %llu more; output:\n%s", (unsigned long long)(trace_dropped_events() - dropped),
              global_lines.text);
    _exit(ok ? 0 : 1);
  }
  int st = 0;
  assert_int_equal(waitpid(p, &st, 0), p);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

/* An argument runs only the tests whose names match it (cmocka's filter, e.g. "fork*"). */
int main(int argc, char **argv) {
  if (argc > 1)
    cmocka_set_test_filter(argv[1]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(oom_every_event_is_a_line_or_counted),
      cmocka_unit_test_setup_teardown(signal_on_prepared_thread_logs, signal_setup,
                                      signal_teardown),
      cmocka_unit_test_setup_teardown(signal_during_thread_state_allocation_is_counted,
                                      signal_setup, signal_teardown),
      cmocka_unit_test_setup_teardown(signal_during_thread_registration_is_counted, signal_setup,
                                      signal_teardown),
      cmocka_unit_test(fork_while_8_threads_log), /* last: it shuts libtrace down */
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
