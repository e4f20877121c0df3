/* Writers: whole lines under concurrency, short writes and EAGAIN, and every kind of write error
 * (EPIPE with SIGPIPE at its default, ENOSPC, EBADF) counted without harm to the process. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
  assert_int_equal(trace_writer_reopen(w), 0); /* look at it again now */
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

/* ---------------------------------------------------------------------------------------- */
/* SIGPIPE never kills the process: each case runs in a child with SIGPIPE at its default
 * disposition (which kills), and the child must exit normally with 0. */

static void expect_child_survives(void (*body)(void)) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    body();
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status))
    print_error("the child was killed by signal %d\n", WTERMSIG(status));
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

#define CHILD_CHECK(cond, code)                                                                    \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      _exit(code);                                                                                 \
  } while (0)

static void child_dead_pipe(void) {
  int p[2];
  CHILD_CHECK(pipe(p) == 0, 2);
  close(p[0]);
  trace_writer *w = trace_writer_fd(p[1], true);
  CHILD_CHECK(trace_writer_write(w, "line\n", 5) == TRACE_EIO, 3);
  CHILD_CHECK(trace_writer_get_stats(w).last_error == EPIPE, 4);
  trace_writer_free(w);
}

/* Issue 12.10: SIGPIPE ignored when the writer was made, the default again when it writes. The
 * old writer skipped its guard for good in that case, and the process died (exit 141). */
static void child_disposition_reset(void) {
  signal(SIGPIPE, SIG_IGN);
  int p[2];
  CHILD_CHECK(pipe(p) == 0, 2);
  close(p[0]);
  trace_writer *w = trace_writer_fd(p[1], true);
  signal(SIGPIPE, SIG_DFL);
  CHILD_CHECK(trace_writer_write(w, "line\n", 5) == TRACE_EIO, 3);
  trace_writer_free(w);
}

/* A file descriptor replaced by a dead pipe, and the writer told (trace_writer_reopen). */
static void child_dup2_then_reopen(void) {
  int fd = open("/dev/null", O_WRONLY);
  trace_writer *w = trace_writer_fd(fd, true);
  CHILD_CHECK(trace_writer_write(w, "fine\n", 5) == 0, 2);
  replace_with_dead_pipe(fd);
  CHILD_CHECK(trace_writer_reopen(w) == 0, 3);
  CHILD_CHECK(trace_writer_write(w, "line\n", 5) == TRACE_EIO, 4);
  trace_writer_free(w);
}

/* The same without telling it: the writer looks again by itself once 10 ms have passed. */
static void child_dup2_later(void) {
  int fd = open("/dev/null", O_WRONLY);
  trace_writer *w = trace_writer_fd(fd, true);
  CHILD_CHECK(trace_writer_write(w, "fine\n", 5) == 0, 2);
  replace_with_dead_pipe(fd);
  struct timespec wait = {0, 30 * 1000000}; /* past the 10 ms and a tick of the coarse clock */
  nanosleep(&wait, NULL);
  for (int i = 0; i < 3; i++)
    CHILD_CHECK(trace_writer_write(w, "line\n", 5) == TRACE_EIO, 3);
  trace_writer_free(w);
  /* A FILE stream does the same. */
  FILE *f = fopen("/dev/null", "w");
  trace_writer *fw = trace_writer_file(f);
  replace_with_dead_pipe(fileno(f));
  nanosleep(&wait, NULL);
  CHILD_CHECK(trace_writer_write(fw, "x\n", 2) == TRACE_EIO, 4);
  trace_writer_free(fw);
}

/* A socket replaced by a dead pipe: send() says ENOTSOCK before writing anything, and the line
 * goes to the pipe with the guard. */
static void child_socket_replaced(void) {
  int sv[2];
  CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, 2);
  trace_writer *w = trace_writer_fd(sv[0], true);
  CHILD_CHECK(trace_writer_write(w, "fine\n", 5) == 0, 3);
  replace_with_dead_pipe(sv[0]);
  for (int i = 0; i < 2; i++)
    CHILD_CHECK(trace_writer_write(w, "line\n", 5) == TRACE_EIO, 4);
  CHILD_CHECK(trace_writer_get_stats(w).last_error == EPIPE, 5);
  trace_writer_free(w);
}

/* The report of a failure goes to stderr, which may itself be a dead pipe (`prog 2>&1 | head`
 * after head quit): reporting must not kill either. */
static void child_report_to_dead_stderr(void) {
  replace_with_dead_pipe(2);
  trace_writer *w = trace_writer_fd(open("/dev/full", O_WRONLY), true);
  CHILD_CHECK(trace_writer_write(w, "x\n", 2) == TRACE_EIO, 2);
  trace_writer_free(w);
}

/* The non-blocking writer's thread writes to a dead pipe: no guard needed, it keeps SIGPIPE
 * blocked. */
static void child_nonblocking_dead_pipe(void) {
  int p[2];
  CHILD_CHECK(pipe(p) == 0, 2);
  close(p[0]);
  trace_writer *w = trace_writer_nonblocking(trace_writer_fd(p[1], true), NULL);
  CHILD_CHECK(w != NULL, 3);
  for (int i = 0; i < 100; i++)
    trace_writer_write(w, "line\n", 5);
  CHILD_CHECK(trace_writer_flush_timeout(w, 5000) == 0, 4);
  CHILD_CHECK(trace_writer_get_stats(w).lost == 100, 5);
  trace_writer_free(w);
}

static void sigpipe_never_kills(void **state) {
  (void)state;
  expect_child_survives(child_dead_pipe);
  expect_child_survives(child_disposition_reset);
  expect_child_survives(child_dup2_then_reopen);
  expect_child_survives(child_dup2_later);
  expect_child_survives(child_socket_replaced);
  expect_child_survives(child_report_to_dead_stderr);
  expect_child_survives(child_nonblocking_dead_pipe);
}

/* ---------------------------------------------------------------------------------------- */
/* Issue 17.0: a line to a regular file, a terminal or /dev/null costs one system call, the
 * write: no SIGPIPE guard (two rt_sigprocmask per line made an event to /dev/null cost 3.5 us).
 * In a child, after a first line, rt_sigprocmask is made fatal (seccomp) and the thread's write
 * calls are counted (/proc/thread-self/io, syscw): N events must be exactly N writes, and the
 * child must live. */

/* The thread's write system calls so far (-1 if the kernel does not say). */
static long long thread_syscw(void) {
  FILE *f = fopen("/proc/thread-self/io", "r");
  if (!f)
    return -1;
  char key[64];
  long long v, found = -1;
  while (fscanf(f, "%63[^:]: %lld\n", key, &v) == 2)
    if (strcmp(key, "syscw") == 0)
      found = v;
  fclose(f);
  return found;
}

/* From here on, rt_sigprocmask kills this thread's process (SIGSYS). */
static bool forbid_sigprocmask(void) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigprocmask, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof code / sizeof code[0]), code};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

#define QUIET_EVENTS 200
static int quiet_fds[3]; /* /dev/null, a regular file, a terminal */

static void child_one_syscall_per_line(void) {
  trace_writer *w[3];
  for (int k = 0; k < 3; k++)
    CHILD_CHECK((w[k] = trace_writer_fd(quiet_fds[k], false)) != NULL, 2);
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.time = TRACE_FMT_TIME_NONE;
  o.color = TRACE_FMT_COLOR_NEVER;
  trace_registry *r = trace_registry_new();
  for (int k = 0; k < 3; k++) {
    o.writer = w[k];
    CHILD_CHECK(trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL) == 0, 3);
  }
  CHILD_CHECK(trace_registry_install(r) == 0, 4);
  TRACE_INFO(TF(answer, 42), "first"); /* the thread's state is made here */
  long long before = thread_syscw();
  CHILD_CHECK(before >= 0, 5);
  CHILD_CHECK(forbid_sigprocmask(), 6);
  for (int i = 0; i < QUIET_EVENTS; i++)
    TRACE_INFO(TF(answer, i), "hello");
  long long after = thread_syscw();
  /* Three writers: three writes per event, nothing else that writes. */
  CHILD_CHECK(after - before == 3LL * QUIET_EVENTS, 7);
  for (int k = 0; k < 3; k++)
    CHILD_CHECK(trace_writer_get_stats(w[k]).lost == 0, 8);
  _exit(0); /* before trace_shutdown: the test is over, and exit paths may use sigprocmask */
}

static void one_syscall_per_line(void **state) {
  (void)state;
  char path[] = "/tmp/trace-quiet-XXXXXX";
  quiet_fds[0] = open("/dev/null", O_WRONLY | O_CLOEXEC);
  quiet_fds[1] = mkstemp(path);
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  assert_true(quiet_fds[0] >= 0 && quiet_fds[1] >= 0 && master >= 0);
  assert_int_equal(grantpt(master), 0);
  assert_int_equal(unlockpt(master), 0);
  quiet_fds[2] = open(ptsname(master), O_WRONLY | O_NOCTTY);
  assert_true(quiet_fds[2] >= 0);
  assert_true(isatty(quiet_fds[2]));
  /* The terminal's reader: the child's lines must not fill the pty and block it. */
  drain *d = drain_start(master, 0);
  expect_child_survives(child_one_syscall_per_line);
  /* The file holds every line, whole. */
  char *text = NULL;
  size_t cap = 0;
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  int lines = 0;
  while (getline(&text, &cap, f) > 0) {
    char want[64];
    snprintf(want, sizeof want, " INFO test_writer: %s answer=%d\n", lines ? "hello" : "first",
             lines ? lines - 1 : 42);
    assert_string_equal(text, want);
    lines++;
  }
  fclose(f);
  free(text);
  assert_int_equal(lines, QUIET_EVENTS + 1);
  unlink(path);
  close(quiet_fds[0]);
  close(quiet_fds[1]);
  close(quiet_fds[2]); /* the drain sees the end (EIO on the master) */
  drain_finish(d);
  /* The terminal got the same lines (its line discipline may turn \n into \r\n). */
  assert_non_null(strstr(d->data, "INFO test_writer: hello answer=199"));
  free(d->data);
  free(d);
}

/* ---------------------------------------------------------------------------------------- */
/* Issue 12.8: long lines from eight threads on one pipe and on one stream socket stay whole. */

#define LONG_LEN 10000
#define LONG_LINES 200
typedef struct long_arg {
  trace_writer *w;
  int t;
} long_arg;

static void *write_long(void *arg) {
  long_arg *a = arg;
  char *line = malloc(LONG_LEN);
  for (int i = 0; i < LONG_LINES; i++) {
    int n = snprintf(line, LONG_LEN, "t=%d i=%d ", a->t, i);
    memset(line + n, 'a' + a->t, LONG_LEN - 1 - (size_t)n);
    line[LONG_LEN - 1] = '\n';
    assert_int_equal(trace_writer_write(a->w, line, LONG_LEN), 0);
  }
  free(line);
  return NULL;
}

static void check_long_lines(const char *data, size_t len) {
  static unsigned char seen[THREADS][LONG_LINES];
  memset(seen, 0, sizeof seen);
  assert_int_equal(len, (size_t)THREADS * LONG_LINES * LONG_LEN);
  for (size_t off = 0; off < len; off += LONG_LEN) {
    int t, i, n;
    assert_int_equal(sscanf(data + off, "t=%d i=%d %n", &t, &i, &n), 2);
    assert_true(t >= 0 && t < THREADS && i >= 0 && i < LONG_LINES);
    for (size_t k = (size_t)n; k < LONG_LEN - 1; k++)
      if (data[off + k] != 'a' + t) {
        print_error("line t=%d i=%d torn at byte %zu\n", t, i, k);
        fail();
      }
    assert_int_equal(data[off + LONG_LEN - 1], '\n');
    seen[t][i]++;
  }
  for (int t = 0; t < THREADS; t++)
    for (int i = 0; i < LONG_LINES; i++)
      assert_int_equal(seen[t][i], 1);
}

static void long_lines_stay_whole(void **state) {
  (void)state;
  for (int kind = 0; kind < 2; kind++) {
    int p[2];
    if (kind == 0)
      assert_int_equal(pipe(p), 0);
    else
      assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    drain *d = drain_start(p[0], 0);
    trace_writer *w = trace_writer_fd(p[1], true);
    pthread_t th[THREADS];
    long_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
      args[t] = (long_arg){w, t};
      pthread_create(&th[t], NULL, write_long, &args[t]);
    }
    for (int t = 0; t < THREADS; t++)
      pthread_join(th[t], NULL);
    assert_int_equal(trace_writer_get_stats(w).lost, 0);
    trace_writer_free(w);
    drain_finish(d);
    check_long_lines(d->data, d->len);
    free(d->data);
    free(d);
  }
}

/* Issue 12.9: a line over 4 KiB on a full non-blocking pipe is written whole or not at all. The
 * old writer left a 4 KiB fragment in the pipe and glued the next line to it. */
static void eagain_whole_or_nothing(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_true(fcntl(p[1], F_SETPIPE_SZ, 16384) >= 16384);
  fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
  char fill[12000];
  memset(fill, 'f', sizeof fill);
  assert_int_equal(write(p[1], fill, sizeof fill), (ssize_t)sizeof fill);
  trace_writer *w = trace_writer_fd(p[1], false);
  char line[6000];
  memset(line, 'x', sizeof line);
  line[sizeof line - 1] = '\n';
  assert_int_equal(trace_writer_write(w, line, sizeof line), TRACE_EIO); /* after about 1 s */
  assert_int_equal(trace_writer_get_stats(w).lost, 1);
  assert_int_equal(trace_writer_get_stats(w).last_error, EAGAIN);
  int unread = 0;
  ioctl(p[1], FIONREAD, &unread);
  assert_int_equal(unread, (int)sizeof fill); /* nothing of the line went in */
  char buf[16384];
  assert_int_equal(read(p[0], buf, sizeof buf), (ssize_t)sizeof fill);
  assert_int_equal(trace_writer_write(w, "next\n", 5), 0);
  assert_int_equal(read(p[0], buf, sizeof buf), 5);
  assert_memory_equal(buf, "next\n", 5);
  trace_writer_free(w);
  close(p[0]);
  close(p[1]);
}

/* A line bigger than the whole pipe must be written in pieces; if the reader stops half-way, the
 * line is cut, counted, and closed with a newline before the next line. */
static void eagain_cut_line_is_closed(void **state) {
  (void)state;
  int p[2];
  assert_int_equal(pipe(p), 0);
  fcntl(p[1], F_SETPIPE_SZ, 4096);
  int cap = fcntl(p[1], F_GETPIPE_SZ);
  fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
  trace_writer *w = trace_writer_fd(p[1], false);
  size_t len = (size_t)cap * 3;
  char *line = malloc(len);
  memset(line, 'y', len);
  line[len - 1] = '\n';
  assert_int_equal(trace_writer_write(w, line, len), TRACE_EIO);
  assert_int_equal(trace_writer_get_stats(w).lost, 1);
  char *buf = malloc(len + 64);
  ssize_t got = read(p[0], buf, len + 64); /* the fragment: the pipe was full */
  assert_int_equal(got, cap);
  assert_int_equal(trace_writer_write(w, "next\n", 5), 0);
  ssize_t more = read(p[0], buf + got, len);
  assert_int_equal(more, 6);
  assert_memory_equal(buf + got, "\nnext\n", 6); /* the cut line ends before the next begins */
  free(buf);
  free(line);
  trace_writer_free(w);
  close(p[0]);
  close(p[1]);
}

/* trace_writer_open's file moved away (logrotate): reopened by name on request, from a signal
 * handler, and by itself when it sees the name no longer names its file. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return strdup("");
  char *buf = calloc(1, 65536);
  size_t n = fread(buf, 1, 65535, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void open_writer_reopens(void **state) {
  (void)state;
  char dir[] = "/tmp/trace-reopen-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128], moved[128];
  snprintf(path, sizeof path, "%s/app.log", dir);
  snprintf(moved, sizeof moved, "%s/app.log.1", dir);
  trace_writer *w;
  assert_int_equal(trace_writer_open(path, &w), 0);
  trace_writer_write(w, "one\n", 4);
  assert_int_equal(rename(path, moved), 0);
  assert_int_equal(trace_writer_reopen(w), 0);
  trace_writer_write(w, "two\n", 4);
  char *a = slurp(moved), *b = slurp(path);
  assert_string_equal(a, "one\n");
  assert_string_equal(b, "two\n");
  free(a);
  free(b);
  /* From a SIGHUP handler: the helper only bumps a counter; the next line reopens. */
  assert_int_equal(rename(path, moved), 0);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = trace_writer_sighup_handler;
  sigaction(SIGHUP, &sa, &old);
  raise(SIGHUP);
  sigaction(SIGHUP, &old, NULL);
  trace_writer_write(w, "three\n", 6);
  a = slurp(moved);
  b = slurp(path);
  assert_string_equal(a, "two\n");
  assert_string_equal(b, "three\n");
  free(a);
  free(b);
  /* Replaced under the writer, nobody told: within a second (plus a tick) it notices. */
  assert_int_equal(unlink(path), 0);
  trace_writer_write(w, "lost in the deleted file\n", 25);
  struct timespec wait = {1, 100 * 1000000};
  nanosleep(&wait, NULL);
  trace_writer_write(w, "four\n", 5);
  b = slurp(path);
  assert_string_equal(b, "four\n");
  free(b);
  assert_int_equal(trace_writer_get_stats(w).lost, 0);
  trace_writer_free(w);
  unlink(path);
  unlink(moved);
  rmdir(dir);
}

/* A record given to a line writer: its line if it has one, else the plain text form. */
static void records_on_line_writers(void **state) {
  (void)state;
  char *mem = NULL;
  size_t memlen = 0;
  FILE *ms = open_memstream(&mem, &memlen);
  trace_writer *w = trace_writer_file(ms);
  assert_false(trace_writer_wants_records(w));
  static const char *const names[] = {"answer", NULL};
  static const trace_metadata meta = {"event x", "app::net", "x.c", "f", names, NULL, 7, 1,
                                      TRACE_LEVEL_WARN, TRACE_KIND_EVENT, 0, 0};
  trace_record rec = {sizeof rec, &meta, NULL, "hello\nworld", NULL, NULL, NULL, 0};
  assert_int_equal(trace_writer_write_record(w, &rec), 0);
  rec.line = "as formatted\n";
  rec.line_len = 13;
  assert_int_equal(trace_writer_write_record(w, &rec), 0);
  rec.struct_size = 3;
  assert_int_equal(trace_writer_write_record(w, &rec), TRACE_EINVAL);
  assert_int_equal(trace_writer_write_record(NULL, &rec), TRACE_EINVAL);
  trace_writer_free(w);
  fclose(ms);
  assert_string_equal(mem, "WARN app::net: hello\\nworld\nas formatted\n");
  free(mem);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concurrent_lines_stay_whole),
      cmocka_unit_test(closed_pipe),
      cmocka_unit_test(sigpipe_never_kills),
      cmocka_unit_test(one_syscall_per_line),
      cmocka_unit_test(long_lines_stay_whole),
      cmocka_unit_test(eagain_whole_or_nothing),
      cmocka_unit_test(eagain_cut_line_is_closed),
      cmocka_unit_test(open_writer_reopens),
      cmocka_unit_test(records_on_line_writers),
      cmocka_unit_test(host_blocked_sigpipe_is_left_alone),
      cmocka_unit_test(full_disk_and_bad_descriptor),
      cmocka_unit_test(failure_reported_once),
      cmocka_unit_test(short_writes_and_eagain),
      cmocka_unit_test(path_file_callback_writers),
      cmocka_unit_test(callback_failures_counted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
