/* trace_init and trace_init_with: the one-line start, its defaults, the environment, and its
 * errors (no crash on bad configuration, ownership of the writer on every path). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers.h"
#include "trace/fmt.h"

typedef struct sink {
  pthread_mutex_t lock;
  char data[8192];
  size_t len;
  int destroyed;
} sink;

static int sink_write(void *arg, const char *line, size_t len) {
  sink *s = arg;
  pthread_mutex_lock(&s->lock);
  if (s->len + len < sizeof s->data) {
    memcpy(s->data + s->len, line, len);
    s->len += len;
    s->data[s->len] = '\0';
  }
  pthread_mutex_unlock(&s->lock);
  return 0;
}

static void sink_destroy(void *arg) { ((sink *)arg)->destroyed = 1; }

static sink *sink_new(void) {
  sink *s = calloc(1, sizeof *s);
  pthread_mutex_init(&s->lock, NULL);
  return s;
}

static trace_init_options options_into(sink *s) {
  trace_init_options o;
  trace_init_options_init(&o);
  o.fmt.time = TRACE_FMT_TIME_NONE;
  o.fmt.writer = trace_writer_callback(sink_write, NULL, sink_destroy, s);
  return o;
}

static void defaults_to_info(void **state) {
  (void)state;
  unsetenv("TRACE_FILTER");
  sink *s = sink_new();
  trace_init_options o = options_into(s);
  assert_int_equal(trace_init_with(&o), 0);
  TRACE_INFO("shown");
  TRACE_DEBUG("hidden");
  assert_non_null(trace_init_filter());
  char spec[64];
  trace_env_filter_spec(trace_init_filter(), spec, sizeof spec);
  assert_string_equal(spec, "info");
  trace_shutdown();
  assert_null(trace_init_filter());
  assert_true(s->destroyed);
  assert_text_equal(s->data, " INFO test_init: shown\n");
  free(s);
}

/* The default filter applies when TRACE_FILTER is unset or empty, never over it; RUST_LOG is
 * not read. */
static void default_filter_when_the_variable_is_unset(void **state) {
  (void)state;
  static const struct {
    const char *trace_filter; /* NULL: unset */
    const char *rust_log;     /* NULL: unset */
    const char *want_spec;
    const char *want_output;
  } cases[] = {
      {NULL, NULL, "warn,test_init=debug", "DEBUG test_init: debug\n"},
      {"", NULL, "warn,test_init=debug", "DEBUG test_init: debug\n"},
      {NULL, "trace", "warn,test_init=debug", "DEBUG test_init: debug\n"},
      {"error", NULL, "error", ""},
      {"error", "trace", "error", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i].trace_filter)
      setenv("TRACE_FILTER", cases[i].trace_filter, 1);
    else
      unsetenv("TRACE_FILTER");
    if (cases[i].rust_log)
      setenv("RUST_LOG", cases[i].rust_log, 1);
    else
      unsetenv("RUST_LOG");
    sink *s = sink_new();
    trace_init_options o = options_into(s);
    o.default_filter = "warn,test_init=debug";
    assert_int_equal(trace_init_with(&o), 0);
    TRACE_DEBUG("debug");
    TRACE_TRACE("trace");
    char spec[64];
    trace_env_filter_spec(trace_init_filter(), spec, sizeof spec);
    assert_string_equal(spec, cases[i].want_spec);
    trace_shutdown();
    assert_text_equal(s->data, cases[i].want_output);
    free(s);
  }
  unsetenv("TRACE_FILTER");
  unsetenv("RUST_LOG");
}

static void filter_and_format_from_environment(void **state) {
  (void)state;
  setenv("TRACE_FILTER", "warn,test_init=debug", 1);
  setenv("TRACE_FORMAT", "compact", 1);
  sink *s = sink_new();
  trace_init_options o = options_into(s);
  assert_int_equal(o.fmt.format, TRACE_FMT_COMPACT);
  assert_int_equal(trace_init_with(&o), 0);
  trace_span sp = TRACE_INFO_SPAN("sp", TF(k, 1));
  TRACE_IN_SPAN(&sp) { TRACE_DEBUG("debug here"); }
  trace_span_close(&sp);
  TRACE_TRACE("not at trace");
  /* Reload at run time through the handle trace_init keeps. */
  trace_filter_error err;
  assert_int_equal(trace_env_filter_reload(trace_init_filter(), "test_init=trace", &err), 0);
  TRACE_TRACE("now at trace");
  trace_shutdown();
  unsetenv("TRACE_FILTER");
  unsetenv("TRACE_FORMAT");
  assert_text_equal(s->data, "DEBUG sp: test_init: debug here k=1\n"
                             "TRACE test_init: now at trace\n");
  free(s);
}

static void errors_never_crash(void **state) {
  (void)state;
  /* Strict: a bad directive is an error, with its description; the writer is freed. */
  sink *s = sink_new();
  trace_init_options o = options_into(s);
  trace_filter_error err;
  o.filter = "info,app=verbose";
  o.strict_filter = true;
  o.filter_error = &err;
  assert_int_equal(trace_init_with(&o), TRACE_EPARSE);
  assert_string_equal(err.message, "unknown level 'verbose' at 9");
  assert_true(s->destroyed);
  assert_null(trace_global_default());
  free(s);
  /* Lossy (the default): the bad directive is skipped with a warning, the rest works. */
  s = sink_new();
  o = options_into(s);
  o.filter = "info,app=verbose";
  stderr_capture c = stderr_capture_begin();
  assert_int_equal(trace_init_with(&o), 0);
  char warning[256];
  stderr_capture_end(&c, warning, sizeof warning);
  assert_text_contains(warning, "trace: ignoring 'app=verbose': ");
  TRACE_INFO("still works");
  /* A second init while one is installed: TRACE_EEXIST, and that writer is freed too. */
  sink *t = sink_new();
  trace_init_options o2 = options_into(t);
  assert_int_equal(trace_init_with(&o2), TRACE_EEXIST);
  assert_true(t->destroyed);
  free(t);
  trace_shutdown();
  assert_text_equal(s->data, " INFO test_init: still works\n");
  free(s);
  /* A bad TRACE_FORMAT is reported and ignored; NULL or foreign options are refused. */
  setenv("TRACE_FORMAT", "xml", 1);
  trace_init_options bad;
  trace_init_options_init(&bad);
  assert_int_equal(bad.fmt.format, TRACE_FMT_FULL);
  unsetenv("TRACE_FORMAT");
  assert_int_equal(trace_init_with(NULL), TRACE_EINVAL);
  bad.struct_size = 3;
  assert_int_equal(trace_init_with(&bad), TRACE_EINVAL);
}

/* A span still open at trace_shutdown (a TRACE_SCOPE in main, a forgotten handle) is closed by
 * it: layers hear on_close and free what they keep for it (its formatted fields here, which
 * LeakSanitizer saw leak in the ASan run before). */
static void shutdown_closes_open_spans(void **state) {
  (void)state;
  unsetenv("TRACE_FILTER");
  sink *s = sink_new();
  trace_init_options o = options_into(s);
  o.fmt.span_events = TRACE_FMT_SPAN_CLOSE;
  assert_int_equal(trace_init_with(&o), 0);
  char big[1000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  trace_span outer = TRACE_INFO_SPAN("outer", TF(k, 1));
  trace_span_enter(&outer);
  trace_span inner = TRACE_INFO_SPAN("inner", TF(v, (const char *)big), TF(w, TRACE_EMPTY));
  TRACE_RECORD(&inner, w, (const char *)big);
  trace_span_enter(&inner);
  TRACE_INFO("inside");
  trace_shutdown(); /* neither span exited nor closed */
  trace_span_close(&inner); /* after shutdown: a no-op */
  trace_span_close(&outer);
  const char *close_inner = strstr(s->data, "inner{v=\"xxx");
  assert_non_null(close_inner);
  assert_non_null(strstr(s->data, " INFO outer{k=1}: test_init: close\n"));
  /* Children close before their parents, as in a normal close. */
  assert_true(strstr(s->data, "}: test_init: close\n") < strstr(s->data, " INFO outer{k=1}: test_init: close\n"));
  free(s);
}

static volatile int fork_workers_stop;
static trace_span fork_shared;

static void *fork_worker(void *arg) {
  (void)arg;
  for (unsigned long i = 0; !fork_workers_stop; i++) {
    trace_span s = TRACE_INFO_SPAN("w", TF(i, i), TF(v, TRACE_EMPTY));
    trace_span_enter(&s);
    TRACE_INFO(TF(i, i), "worker");
    TRACE_RECORD(&s, v, "a string value to copy");
    TRACE_RECORD(&fork_shared, v, i); /* the span's lock, and fmt's for its fields */
    trace_span_enter(&fork_shared);
    TRACE_INFO("in shared");
    trace_span_exit(&fork_shared);
    trace_span_exit(&s);
    trace_span_close(&s);
  }
  return NULL;
}

/* fork() while two threads log, record and format in a shared span: the child (only the forking
 * thread) goes on logging in that span and registers new callsites. Children used to hang now and
 * then on a span or field lock held by a thread they do not have. */
static void fork_while_threads_log(void **state) {
  (void)state;
  unsetenv("TRACE_FILTER");
  trace_init_options o;
  trace_init_options_init(&o);
  o.fmt.writer = trace_writer_fd(open("/dev/null", O_WRONLY | O_CLOEXEC), true);
  assert_int_equal(trace_init_with(&o), 0);
  fork_shared = TRACE_INFO_SPAN("shared", TF(v, TRACE_EMPTY));
  fork_workers_stop = 0;
  pthread_t th[2];
  for (int k = 0; k < 2; k++)
    pthread_create(&th[k], NULL, fork_worker, NULL);
  int hung = 0, failed = 0;
  for (int n = 0; n < 100; n++) {
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
      alarm(10);
      for (int j = 0; j < 20; j++) {
        trace_span s = TRACE_INFO_SPAN("child", TF(j, j), TF(v, TRACE_EMPTY));
        trace_span_enter(&s);
        TRACE_RECORD(&fork_shared, v, j);
        trace_span_enter(&fork_shared);
        TRACE_WARN(TF(j, j), "child in shared");
        trace_span_exit(&fork_shared);
        TRACE_RECORD(&s, v, "x");
        trace_span_exit(&s);
        trace_span_close(&s);
      }
      TRACE_ERROR("a callsite first hit in the child");
      trace_shutdown();
      _exit(0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
      hung++;
    else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      failed++;
  }
  fork_workers_stop = 1;
  for (int k = 0; k < 2; k++)
    pthread_join(th[k], NULL);
  trace_span_close(&fork_shared);
  trace_shutdown();
  assert_int_equal(hung, 0);
  assert_int_equal(failed, 0);
}

static int refuse(void *arg, const char *line, size_t len) {
  (void)arg, (void)line, (void)len;
  return -1;
}

/* The writer trace_init made (or was given) can be asked how many lines it lost. */
static void writer_stats_after_init(void **state) {
  (void)state;
  unsetenv("TRACE_FILTER");
  trace_writer_stats none = trace_init_writer_stats();
  assert_int_equal(none.lost, 0);
  trace_init_options o;
  trace_init_options_init(&o);
  o.fmt.writer = trace_writer_callback(refuse, NULL, NULL, NULL);
  stderr_capture c = stderr_capture_begin(); /* the first loss is reported there, once */
  assert_int_equal(trace_init_with(&o), 0);
  TRACE_INFO("lost");
  TRACE_INFO("lost too");
  trace_writer_stats st = trace_init_writer_stats();
  char report[256];
  stderr_capture_end(&c, report, sizeof report);
  assert_text_equal(report, "trace: cannot write to a callback: Input/output error; lines are being "
                            "lost\n");
  assert_int_equal(st.lost, 2);
  assert_int_equal(st.last_error, EIO);
  trace_shutdown();
  assert_int_equal(trace_init_writer_stats().lost, 0);
  /* Bad fmt options: refused, and nothing installed that would print nothing. */
  trace_init_options_init(&o);
  o.fmt.format = 42;
  assert_int_equal(trace_init_with(&o), TRACE_EINVAL);
  assert_null(trace_global_default());
  assert_null(trace_init_filter());
}

/* The warning about a bad TRACE_FORMAT quotes it escaped: the environment cannot forge a line. */
static void bad_format_warning_is_escaped(void **state) {
  (void)state;
  stderr_capture c = stderr_capture_begin();
  setenv("TRACE_FORMAT", "x\n ERROR forged\x1b[2J", 1);
  trace_init_options o;
  trace_init_options_init(&o);
  unsetenv("TRACE_FORMAT");
  char out[512];
  stderr_capture_end(&c, out, sizeof out);
  assert_text_equal(out, "trace: ignoring TRACE_FORMAT='x\\n ERROR forged\\u{1b}[2J': expected "
                         "full, compact, pretty or json\n");
}

static void plain_trace_init(void **state) {
  (void)state;
  /* The real thing, on stderr: installs, and shuts down cleanly. */
  stderr_capture c = stderr_capture_begin();
  assert_int_equal(trace_init(), 0);
  TRACE_WARN(TF(k, "v"), "to stderr");
  trace_shutdown();
  char out[512];
  stderr_capture_end(&c, out, sizeof out);
  assert_text_contains(out, "Z  WARN test_init: to stderr k=\"v\"\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bad_format_warning_is_escaped),
      cmocka_unit_test(writer_stats_after_init),
      cmocka_unit_test(shutdown_closes_open_spans),
      cmocka_unit_test(fork_while_threads_log),
      cmocka_unit_test(defaults_to_info),
      cmocka_unit_test(filter_and_format_from_environment),
      cmocka_unit_test(default_filter_when_the_variable_is_unset),
      cmocka_unit_test(errors_never_crash),
      cmocka_unit_test(plain_trace_init),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
