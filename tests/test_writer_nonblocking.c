/* The non-blocking writer: order and wholeness from many threads, the two full-queue policies
 * and the drop report, flush with a deadline, the exit flush, and (run apart, outside the TSan
 * pass: see main) fork. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/compiler.h" /* TRACE__TSAN */
#include "helpers.h"
#include "trace/fmt.h"

/* An inner writer that appends to a file descriptor, and can be held shut (a stuck output). */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open = 1;
static int gate_held; /* writes waiting at the shut gate */

static void gate_set(int open_) {
  pthread_mutex_lock(&gate_lock);
  gate_open = open_;
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_lock);
}

static int gated_write(void *arg, const char *line, size_t len) {
  pthread_mutex_lock(&gate_lock);
  while (!gate_open) {
    gate_held++;
    pthread_cond_broadcast(&gate_cv); /* for gate_wait_held */
    pthread_cond_wait(&gate_cv, &gate_lock);
    gate_held--;
  }
  pthread_mutex_unlock(&gate_lock);
  int fd = (int)(intptr_t)arg;
  return write(fd, line, len) == (ssize_t)len ? 0 : -1;
}

/* Waits until a write is held at the shut gate: the writer's thread is then parked in
 * pthread_cond_wait, in none of the C library's or a sanitizer's locks. */
static void gate_wait_held(void) {
  pthread_mutex_lock(&gate_lock);
  while (!gate_held)
    pthread_cond_wait(&gate_cv, &gate_lock);
  pthread_mutex_unlock(&gate_lock);
}

static int temp_file(char *path) {
  strcpy(path, "/tmp/trace-nb-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  return open(path, O_WRONLY | O_APPEND | O_TRUNC);
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* ---------------------------------------------------------------------------------------- */

/* Each shape below turns the 2 MiB queue (32768 slots) over at least twice: 4 x 12000 lines
 * take 71000 slots when mixed, 96000 at two slots each. Under ThreadSanitizer, where every
 * atomic operation is a call into its runtime and the 2-core machine is shared with other
 * builds, that many do it and keep the run short; the plain and ASan passes write more. */
#define THREADS 4
#ifdef TRACE__TSAN
#define LINES 12000
#else
#define LINES 20000
#endif

/* The shapes of the lines the producers queue: the queue's slots are 64 bytes. */
enum shape {
  MIXED,     /* mostly one slot, every 97th line 48 (and sometimes wrapping the array) */
  TWO_SLOTS, /* all 100 bytes: each line starts where a line of the last lap started */
};

/* The filler after "t=T i=I " (head bytes) in line i. */
static size_t pad_of(enum shape shape, int i, size_t head) {
  if (shape == TWO_SLOTS)
    return 100 - 1 - head;
  return i % 97 == 0 ? 3000 : (size_t)(i % 50);
}

typedef struct producer {
  trace_writer *w;
  enum shape shape;
  int t;
  int failed_at; /* the first line the writer refused, or -1 (cmocka asserts in main only) */
} producer;

static void *produce(void *arg) {
  producer *p = arg;
  char line[3100];
  for (int i = 0; i < LINES; i++) {
    size_t head = (size_t)snprintf(line, sizeof line, "t=%d i=%d ", p->t, i);
    size_t pad = pad_of(p->shape, i, head);
    memset(line + head, 'a' + p->t, pad);
    line[head + pad] = '\n';
    if (trace_writer_write(p->w, line, head + pad + 1) != 0) {
      p->failed_at = i;
      break;
    }
  }
  return NULL;
}

/* Every line of every thread is written whole and in its thread's order, nothing dropped, while
 * the queue turns over several times: with lines of mixed lengths, and with lines of two slots,
 * where a caller claims the slots of a line the thread is still freeing (the thread once freed a
 * line's slots last first, and a caller that saw the last one free could publish its line in the
 * first before the thread marked that one free too: the line was lost and the queue stalled). */
static void order_and_wholeness(void **state) {
  (void)state;
  static const enum shape shapes[] = {MIXED, TWO_SLOTS};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    char path[32];
    int fd = temp_file(path);
    trace_nonblocking_options o;
    trace_nonblocking_options_init(&o);
    o.policy = TRACE_NONBLOCKING_BLOCKING; /* nothing may be dropped here */
    o.block_timeout_ms = 60000;
    o.queue_bytes = 2u << 20;
    trace_writer *w = trace_writer_nonblocking(trace_writer_fd(fd, true), &o);
    assert_non_null(w);
    pthread_t th[THREADS];
    producer ps[THREADS];
    for (int t = 0; t < THREADS; t++) {
      ps[t] = (producer){w, shapes[s], t, -1};
      pthread_create(&th[t], NULL, produce, &ps[t]);
    }
    for (int t = 0; t < THREADS; t++)
      pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
      assert_int_equal(ps[t].failed_at, -1);
    assert_int_equal(trace_writer_flush_timeout(w, 30000), 0);
    trace_writer_stats st = trace_writer_get_stats(w);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.lost, 0);
    trace_writer_free(w);
    size_t len;
    char *data = read_all(path, &len);
    int next[THREADS] = {0};
    size_t lines = 0;
    for (char *line = data; *line; lines++) {
      char *eol = strchr(line, '\n');
      assert_non_null(eol);
      int t, i, n;
      assert_int_equal(sscanf(line, "t=%d i=%d%n", &t, &i, &n), 2);
      n++; /* the space */
      assert_true(t >= 0 && t < THREADS);
      assert_int_equal(i, next[t]); /* each thread's lines in its order */
      next[t]++;
      size_t pad = pad_of(shapes[s], i, (size_t)n);
      assert_int_equal((size_t)(eol - line), (size_t)n + pad);
      for (char *c = line + n; c < eol; c++)
        assert_int_equal(*c, 'a' + t);
      line = eol + 1;
    }
    assert_int_equal(lines, (size_t)THREADS * LINES);
    free(data);
    unlink(path);
  }
}

/* LOSSY: a full queue drops, and the next batch starts with one line saying how many. */
static void lossy_drops_are_reported(void **state) {
  (void)state;
  for (int json = 0; json < 2; json++) {
    char path[32];
    int fd = temp_file(path);
    trace_nonblocking_options o;
    trace_nonblocking_options_init(&o);
    o.queue_bytes = 2u << 20;
    trace_writer *w = trace_writer_nonblocking(
        trace_writer_callback(gated_write, NULL, NULL, (void *)(intptr_t)fd), &o);
    gate_set(0);
    char line[1000];
    memset(line, 'z', sizeof line);
    if (json)
      line[0] = '{', line[sizeof line - 2] = '}';
    line[sizeof line - 1] = '\n';
    int failed = 0;
    for (int i = 0; i < 5000; i++)
      failed += trace_writer_write(w, line, sizeof line) != 0;
    trace_writer_stats st = trace_writer_get_stats(w);
    assert_true(st.dropped > 0);
    assert_int_equal(st.dropped, (uint64_t)failed);
    gate_set(1);
    assert_int_equal(trace_writer_flush_timeout(w, 30000), 0);
    assert_int_equal(trace_writer_write(w, line, sizeof line), 0); /* the next batch */
    trace_writer_free(w);
    close(fd);
    size_t len;
    char *data = read_all(path, &len);
    /* Each notice precedes the next batch written and counts the drops up to then: the worker
     * may take its first batch while the caller still fills the queue, so the drops can come
     * in two notices (before the blocked batch and the next); together they count them all. */
    const char *tail = json ? " lines dropped: the non-blocking writer's queue was full\""
                            : " lines dropped: the non-blocking writer's queue was full dropped=";
    const char *head = json ? "\"message\":\"" : " WARN trace::writer: ";
    unsigned long long reported = 0;
    int notices = 0;
    for (const char *at = strstr(data, tail); at; at = strstr(at + 1, tail)) {
      const char *digits = at;
      while (digits > data && digits[-1] >= '0' && digits[-1] <= '9')
        digits--;
      assert_true(digits < at);
      assert_true((size_t)(digits - data) >= strlen(head));
      assert_memory_equal(digits - strlen(head), head, strlen(head));
      reported += strtoull(digits, NULL, 10);
      notices++;
    }
    assert_in_range(notices, 1, 2); /* a notice per batch with drops, not one per drop */
    assert_int_equal(reported, st.dropped);
    assert_int_equal(count_lines(data), 5000 - st.dropped + (uint64_t)notices + 1);
    free(data);
    unlink(path);
  }
}

/* BLOCKING: the caller waits for room at most block_timeout_ms, then the line is dropped. */
static void blocking_waits_boundedly(void **state) {
  (void)state;
  char path[32];
  int fd = temp_file(path);
  trace_nonblocking_options o;
  trace_nonblocking_options_init(&o);
  o.policy = TRACE_NONBLOCKING_BLOCKING;
  o.block_timeout_ms = 20;
  o.queue_bytes = 2u << 20;
  trace_writer *w = trace_writer_nonblocking(
      trace_writer_callback(gated_write, NULL, NULL, (void *)(intptr_t)fd), &o);
  gate_set(0);
  char line[1000];
  memset(line, 'b', sizeof line);
  line[sizeof line - 1] = '\n';
  int failed = 0;
  for (int i = 0; i < 2100; i++)
    failed += trace_writer_write(w, line, sizeof line) == TRACE_EIO;
  assert_true(failed > 0); /* it returned: the wait is bounded */
  assert_int_equal(trace_writer_get_stats(w).dropped, (uint64_t)failed);
  /* flush with a deadline says what is still waiting while the output is stuck. */
  assert_true(trace_writer_flush_timeout(w, 50) > 0);
  gate_set(1);
  assert_int_equal(trace_writer_flush_timeout(w, 30000), 0);
  trace_writer_free(w);
  close(fd);
  unlink(path);
}

/* exit() from another thread, and a return from main, write what is queued. The exiting process
 * is a program of its own (this one, run as `test_writer_nonblocking exit HOW PATH`) rather than
 * a forked child, so that ThreadSanitizer follows its threads like any others. */
static void *exit_from_thread(void *arg) {
  (void)arg;
  exit(0);
}

/* The child: what main returns. Its lines are still queued when the exit begins: the output is
 * held shut while they are queued. */
static int exit_child(const char *how, const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND);
  if (fd < 0)
    return 2;
  gate_set(0);
  trace_writer *w = trace_writer_nonblocking(
      trace_writer_callback(gated_write, NULL, NULL, (void *)(intptr_t)fd), NULL);
  for (int i = 0; i < 1000; i++)
    trace_writer_write(w, "queued at exit\n", 15);
  gate_set(1);
  if (strcmp(how, "thread") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, exit_from_thread, NULL);
    pthread_join(t, NULL);
  }
  return 0;
}

static void exit_flushes(void **state) {
  (void)state;
  static const char *const hows[] = {"thread", "main"};
  for (size_t h = 0; h < sizeof hows / sizeof hows[0]; h++) {
    char path[32];
    close(temp_file(path));
    char arg0[] = "test_writer_nonblocking", arg1[] = "exit", how[8];
    snprintf(how, sizeof how, "%s", hows[h]);
    char *argv[] = {arg0, arg1, how, path, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* a sanitizer's report would make it non-zero */
    size_t len;
    char *data = read_all(path, &len);
    assert_int_equal(count_lines(data), 1000);
    free(data);
    unlink(path);
  }
}

/* After fork the child writes its own lines with its own thread, never the parent's queued ones. */
static void fork_child_has_its_own_queue(void **state) {
  (void)state;
  char path[32];
  int fd = temp_file(path);
  trace_writer *w = trace_writer_nonblocking(
      trace_writer_callback(gated_write, NULL, NULL, (void *)(intptr_t)fd), NULL);
  gate_set(0);
  for (int i = 0; i < 100; i++)
    trace_writer_write(w, "parent\n", 7);
  /* Fork once the parent's thread waits at the gate with its batch. A fork taken while it was
   * still starting, inside AddressSanitizer's allocator (GCC 12's does not hold its locks across
   * fork), left the child's own thread waiting for ever on that allocator's lock. */
  gate_wait_held();
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    gate_set(1);
    for (int i = 0; i < 10; i++)
      trace_writer_write(w, "child\n", 6);
    int ok = trace_writer_flush_timeout(w, 10000) == 0;
    _exit(ok ? 0 : 1);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  gate_set(1);
  trace_writer_free(w);
  close(fd);
  size_t len;
  char *data = read_all(path, &len);
  size_t parent = 0, child = 0;
  for (char *p = data; (p = strstr(p, "parent\n")); p++)
    parent++;
  for (char *p = data; (p = strstr(p, "child\n")); p++)
    child++;
  assert_int_equal(parent, 100);
  assert_int_equal(child, 10);
  free(data);
  unlink(path);
}

/* Through the fmt layer: the caller formats and queues; shutdown writes everything. */
static void with_the_fmt_layer(void **state) {
  (void)state;
  char path[32];
  int fd = temp_file(path);
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.time = TRACE_FMT_TIME_NONE;
  o.writer = trace_writer_nonblocking(trace_writer_fd(fd, true), NULL);
  trace_registry *r = trace_registry_new();
  trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL);
  assert_int_equal(trace_registry_install(r), 0);
  for (int i = 0; i < 1000; i++)
    TRACE_INFO(TF(i, i), "queued");
  trace_shutdown();
  size_t len;
  char *data = read_all(path, &len);
  assert_int_equal(count_lines(data), 1000);
  assert_text_contains(data, " INFO test_writer_nonblocking: queued i=999\n");
  free(data);
  unlink(path);
}

static void bad_arguments(void **state) {
  (void)state;
  assert_null(trace_writer_nonblocking(NULL, NULL));
  trace_nonblocking_options o;
  trace_nonblocking_options_init(&o);
  o.policy = 7;
  assert_null(trace_writer_nonblocking(trace_writer_stderr(), &o)); /* the inner is freed */
  o.policy = TRACE_NONBLOCKING_LOSSY;
  o.struct_size = 1;
  assert_null(trace_writer_nonblocking(trace_writer_stderr(), &o));
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "exit") == 0)
    return exit_child(argv[2], argv[3]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(order_and_wholeness),
      cmocka_unit_test(lossy_drops_are_reported),
      cmocka_unit_test(blocking_waits_boundedly),
      cmocka_unit_test(exit_flushes),
      cmocka_unit_test(with_the_fmt_layer),
      cmocka_unit_test(bad_arguments),
  };
  /* `test_writer_nonblocking fork`: the child of this one starts a writer thread after a fork
   * taken while the parent's thread runs, which ThreadSanitizer does not support, so
   * tests/CMakeLists.txt runs it apart, in the plain and ASan passes. */
  const struct CMUnitTest fork_tests[] = {
      cmocka_unit_test(fork_child_has_its_own_queue),
  };
  if (argc > 1 && strcmp(argv[1], "fork") == 0)
    return cmocka_run_group_tests(fork_tests, NULL, NULL);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
