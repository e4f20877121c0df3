/* Writers: whole lines under concurrency, short writes and EAGAIN, and every kind of write error
 * (EPIPE with SIGPIPE at its default, ENOSPC, EBADF) counted without harm to the process. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "trace/fmt.h"

/* Reads a descriptor to its end into memory, on its own thread. */
typedef struct drain {
  int fd;
  char *data;
  size_t len, cap;
  int delay_us; /* per read, to make the writer wait */
  pthread_t thread;
} drain;

static void *drain_run(void *arg) {
  drain *d = arg;
  for (;;) {
    if (d->len + 65536 > d->cap) {
      d->cap = (d->cap + 65536) * 2;
      d->data = realloc(d->data, d->cap);
    }
    ssize_t n = read(d->fd, d->data + d->len, 4096);
    if (n <= 0)
      break;
    d->len += (size_t)n;
    if (d->delay_us)
      usleep((useconds_t)d->delay_us);
  }
  return NULL;
}

static drain *drain_start(int fd, int delay_us) {
  drain *d = calloc(1, sizeof *d);
  d->fd = fd;
  d->delay_us = delay_us;
  pthread_create(&d->thread, NULL, drain_run, d);
  return d;
}

static void drain_finish(drain *d) {
  pthread_join(d->thread, NULL);
  close(d->fd);
  if (!d->data)
    d->data = calloc(1, 1);
  else
    d->data[d->len] = '\0';
}

/* Eight threads, 10,000 events each, through one fmt layer into one pipe. */
#define THREADS 8
#define EVENTS 10000
static void *emit_many(void *arg) {
  int t = (int)(intptr_t)arg;
  for (int i = 0; i < EVENTS; i++)
    TRACE_INFO(TF(t, t), TF(i, i), TF(pad, "some padding so that lines are not tiny"), "event");
  return NULL;
}

static void concurrent_lines_stay_whole(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  drain *d = drain_start(p[0], 0);
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.time = TRACE_FMT_TIME_NONE;
  o.writer = trace_writer_fd(p[1], true);
  trace_registry *r = trace_registry_new();
  trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL);
  assert_int_equal(trace_registry_install(r), 0);
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++)
    pthread_create(&th[t], NULL, emit_many, (void *)(intptr_t)t);
  for (int t = 0; t < THREADS; t++)
    pthread_join(th[t], NULL);
  trace_shutdown(); /* closes the write end */
  drain_finish(d);
  /* Every line is whole and every (t, i) appears exactly once. */
  static unsigned char seen[THREADS][EVENTS];
  memset(seen, 0, sizeof seen);
  int lines = 0;
  for (char *line = d->data; *line;) {
    char *eol = strchr(line, '\n');
    assert_non_null(eol);
    *eol = '\0';
    int t, i;
    if (sscanf(line, " INFO test_writer: event t=%d i=%d pad=\"some padding so that lines are not "
                     "tiny\"",
               &t, &i) != 2 ||
        t < 0 || t >= THREADS || i < 0 || i >= EVENTS) {
      print_error("damaged line: %s\n", line);
      fail();
    }
    seen[t][i]++;
    lines++;
    line = eol + 1;
  }
  assert_int_equal(lines, THREADS * EVENTS);
  for (int t = 0; t < THREADS; t++)
    for (int i = 0; i < EVENTS; i++)
      assert_int_equal(seen[t][i], 1);
  free(d->data);
  free(d);
}

/* A pipe whose reader has gone: EPIPE, and no death by SIGPIPE although its disposition is the
 * default (which kills). The signal mask and pending set are left as they were. */
static void closed_pipe(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_DFL);
  int p[2];
  assert_int_equal(pipe(p), 0);
  close(p[0]);
  trace_writer *w = trace_writer_fd(p[1], true);
  for (int i = 0; i < 3; i++)
    assert_int_equal(trace_writer_write(w, "line\n", 5), TRACE_EIO);
  trace_writer_stats st = trace_writer_get_stats(w);
  assert_int_equal(st.lost, 3);
  assert_int_equal(st.last_error, EPIPE);
  sigset_t pending, mask;
  sigpending(&pending);
  assert_false(sigismember(&pending, SIGPIPE));
  pthread_sigmask(SIG_BLOCK, NULL, &mask);
  assert_false(sigismember(&mask, SIGPIPE));
  trace_writer_free(w);
  /* A FILE stream on a pipe gets the same protection. */
  assert_int_equal(pipe(p), 0);
  close(p[0]);
  FILE *f = fdopen(p[1], "w");
  trace_writer *fw = trace_writer_file(f);
  assert_int_equal(trace_writer_write(fw, "x\n", 2), TRACE_EIO);
  assert_int_equal(trace_writer_get_stats(fw).lost, 1);
  trace_writer_free(fw);
  fclose(f);
}

/* Puts a pipe whose reader has gone in place of fd (as dup2 after the writer was made does). */
static void replace_with_dead_pipe(int fd) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  close(p[0]);
  assert_int_equal(dup2(p[1], fd), fd);
  close(p[1]);
}

static void assert_signal_state_untouched(void) {
  sigset_t pending, mask;
  sigemptyset(&pending);
  sigpending(&pending);
  assert_false(sigismember(&pending, SIGPIPE));
  pthread_sigmask(SIG_BLOCK, NULL, &mask);
  assert_false(sigismember(&mask, SIGPIPE));
}

/* A descriptor that was a file, a socket or a FILE stream when the writer was made, replaced by a
 * dead pipe later: still EPIPE, never death by SIGPIPE (it used to kill the process: the type was
 * only looked at once). */
static void descriptor_replaced_by_a_dead_pipe(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_DFL);
  int fd = open("/dev/null", O_WRONLY);
  trace_writer *w = trace_writer_fd(fd, true);
  assert_int_equal(trace_writer_write(w, "fine\n", 5), 0);
  replace_with_dead_pipe(fd);
  assert_int_equal(trace_writer_write(w, "line\n", 5), TRACE_EIO);
  assert_int_equal(trace_writer_get_stats(w).last_error, EPIPE);
  assert_signal_state_untouched();
  trace_writer_free(w);

  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  trace_writer *sw = trace_writer_fd(sv[0], true);
  assert_int_equal(trace_writer_write(sw, "fine\n", 5), 0);
  replace_with_dead_pipe(sv[0]);
  for (int i = 0; i < 2; i++) /* the first finds out (ENOTSOCK), the second knows */
    assert_int_equal(trace_writer_write(sw, "line\n", 5), TRACE_EIO);
  trace_writer_stats st = trace_writer_get_stats(sw);
  assert_int_equal(st.lost, 2);
  assert_int_equal(st.last_error, EPIPE);
  assert_signal_state_untouched();
  trace_writer_free(sw);
  close(sv[1]);

  FILE *f = fopen("/dev/null", "w");
  trace_writer *fw = trace_writer_file(f);
  replace_with_dead_pipe(fileno(f));
  assert_int_equal(trace_writer_write(fw, "x\n", 2), TRACE_EIO);
  assert_signal_state_untouched();
  trace_writer_free(fw);
  fclose(f);

  /* A process that ignores SIGPIPE has nothing to guard against: EPIPE all the same. */
  signal(SIGPIPE, SIG_IGN);
  fd = open("/dev/null", O_WRONLY);
  trace_writer *iw = trace_writer_fd(fd, true);
  replace_with_dead_pipe(fd);
  assert_int_equal(trace_writer_write(iw, "line\n", 5), TRACE_EIO);
  assert_int_equal(trace_writer_get_stats(iw).last_error, EPIPE);
  trace_writer_free(iw);
  signal(SIGPIPE, SIG_DFL);
}

/* The host blocks SIGPIPE and has one pending of its own: ours is consumed, its own left. */
static void host_blocked_sigpipe_is_left_alone(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_DFL);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  int fd = open("/dev/null", O_WRONLY);
  trace_writer *w = trace_writer_fd(fd, true);
  replace_with_dead_pipe(fd);
  assert_int_equal(trace_writer_write(w, "line\n", 5), TRACE_EIO);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  assert_false(sigismember(&pending, SIGPIPE)); /* ours: consumed */
  pthread_kill(pthread_self(), SIGPIPE);        /* the host's own */
  assert_int_equal(trace_writer_write(w, "line\n", 5), TRACE_EIO);
  sigemptyset(&pending);
  sigpending(&pending);
  assert_true(sigismember(&pending, SIGPIPE)); /* still there for the host */
  struct timespec zero = {0, 0};
  assert_int_equal(sigtimedwait(&block, NULL, &zero), SIGPIPE);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  trace_writer_free(w);
}

static void full_disk_and_bad_descriptor(void **state) {
  (void)state;
  int fd = open("/dev/full", O_WRONLY);
  assert_true(fd >= 0);
  trace_writer *w = trace_writer_fd(fd, true);
  assert_int_equal(trace_writer_write(w, "no space\n", 9), TRACE_EIO);
  assert_int_equal(trace_writer_get_stats(w).last_error, ENOSPC);
  trace_writer_free(w);
  w = trace_writer_fd(987, false); /* not open */
  assert_int_equal(trace_writer_write(w, "bad\n", 4), TRACE_EIO);
  assert_int_equal(trace_writer_get_stats(w).last_error, EBADF);
  trace_writer_free(w);
  /* Through a fmt layer: events keep flowing (nothing crashes), losses are counted. */
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.writer = trace_writer_fd(open("/dev/full", O_WRONLY), true);
  trace_registry *r = trace_registry_new();
  trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL);
  trace_dispatch *d = trace_registry_dispatch(r);
  TRACE_WITH_DEFAULT(d) {
    for (int i = 0; i < 100; i++)
      TRACE_ERROR("lost %d", i);
  }
  trace_dispatch_release(d);
}

/* The first failure of a writer that is not stderr is reported once on stderr. */
static void failure_reported_once(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  int saved_stderr = dup(2);
  dup2(p[1], 2);
  close(p[1]);
  trace_writer *w = trace_writer_fd(open("/dev/full", O_WRONLY), true);
  for (int i = 0; i < 5; i++)
    trace_writer_write(w, "x\n", 2);
  trace_writer_free(w);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  char buf[1024] = {0};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  assert_true(n > 0);
  /* Exactly one line, naming the output and the error. */
  assert_int_equal(strncmp(buf, "trace: cannot write to fd ", 26), 0);
  assert_text_contains(buf, ": No space left on device; lines are being lost\n");
  assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
}

static void short_writes_and_eagain(void **state) {
  (void)state;
  for (int nonblock = 0; nonblock < 2; nonblock++) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    if (nonblock)
      fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
    drain *d = drain_start(p[0], 200); /* a slow reader */
    trace_writer *w = trace_writer_fd(p[1], true);
    size_t len = 100000;
    char *line = malloc(len);
    for (size_t i = 0; i < len - 1; i++)
      line[i] = (char)('a' + i % 26);
    line[len - 1] = '\n';
    assert_int_equal(trace_writer_write(w, line, len), 0);
    trace_writer_free(w); /* closes: the reader sees the end */
    drain_finish(d);
    assert_int_equal(d->len, len);
    assert_memory_equal(d->data, line, len);
    free(line);
    free(d->data);
    free(d);
  }
}

static void path_file_callback_writers(void **state) {
  (void)state;
  char path[] = "/tmp/trace-writer-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  unlink(path); /* created again by the writer */
  trace_writer *a, *b;
  assert_int_equal(trace_writer_open(path, &a), 0);
  assert_int_equal(trace_writer_open(path, &b), 0);
  trace_writer_write(a, "first\n", 6);
  trace_writer_write(b, "second", 6); /* the newline is added */
  trace_writer_write(a, "third\n", 6);
  trace_writer_free(a);
  trace_writer_free(b);
  FILE *f = fopen(path, "r");
  char buf[64] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  assert_int_equal(n, 19);
  assert_string_equal(buf, "first\nsecond\nthird\n");
  struct stat st;
  stat(path, &st);
  assert_int_equal(st.st_mode & 0777, 0644);
  unlink(path);
  trace_writer *bad = (trace_writer *)1;
  assert_int_equal(trace_writer_open("/nonexistent-dir/x.log", &bad), TRACE_EIO);
  assert_null(bad);
  assert_int_equal(trace_writer_open(NULL, &bad), TRACE_EINVAL);

  char *mem = NULL;
  size_t memlen = 0;
  FILE *ms = open_memstream(&mem, &memlen);
  trace_writer *fw = trace_writer_file(ms);
  trace_writer_write(fw, "to memory\n", 10);
  trace_writer_free(fw);
  fclose(ms);
  assert_string_equal(mem, "to memory\n");
  free(mem);
  assert_null(trace_writer_file(NULL));
  assert_null(trace_writer_callback(NULL, NULL, NULL, NULL));
  trace_writer_free(NULL);
}

static int failing(void *arg, const char *line, size_t len) {
  (void)arg;
  (void)line;
  (void)len;
  return -1;
}

static void callback_failures_counted(void **state) {
  (void)state;
  trace_writer *w = trace_writer_callback(failing, NULL, NULL, NULL);
  trace_writer_write(w, "a\n", 2);
  trace_writer_write(w, "b\n", 2);
  assert_int_equal(trace_writer_get_stats(w).lost, 2);
  assert_false(trace_writer_is_terminal(w));
  trace_writer_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concurrent_lines_stay_whole),
      cmocka_unit_test(closed_pipe),
      cmocka_unit_test(descriptor_replaced_by_a_dead_pipe),
      cmocka_unit_test(host_blocked_sigpipe_is_left_alone),
      cmocka_unit_test(full_disk_and_bad_descriptor),
      cmocka_unit_test(failure_reported_once),
      cmocka_unit_test(short_writes_and_eagain),
      cmocka_unit_test(path_file_callback_writers),
      cmocka_unit_test(callback_failures_counted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
