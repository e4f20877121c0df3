/* Shared by the cmocka tests: a capture subscriber installed for one test, and assertions on its
 * log that print both texts when they differ. */
#ifndef TRACE_TESTS_HELPERS_H
#define TRACE_TESTS_HELPERS_H

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "trace.h"
#include "trace/fmt.h"
#include "trace/subscriber.h"
#include "trace/testing.h"

/* Compares whole texts, printing both on mismatch. */
#define assert_text_equal(actual, expected)                                                        \
  do {                                                                                             \
    const char *a_ = (actual), *e_ = (expected);                                                   \
    if (strcmp(a_, e_) != 0) {                                                                     \
      /* cmocka's print_error cuts at 1 KiB: stderr shows the whole text and the first diff. */    \
      size_t at_ = 0;                                                                              \
      while (a_[at_] && a_[at_] == e_[at_])                                                        \
        at_++;                                                                                     \
      fprintf(stderr, "--- expected ---\n%s--- actual ---\n%s--- first difference at byte %zu\n",  \
              e_, a_, at_);                                                                        \
      fail();                                                                                      \
    }                                                                                              \
  } while (0)

#define assert_text_contains(haystack, needle)                                                     \
  do {                                                                                             \
    const char *h_ = (haystack), *n_ = (needle);                                                   \
    if (!strstr(h_, n_)) {                                                                         \
      print_error("--- expected to contain ---\n%s\n--- in ---\n%s----------------\n", n_, h_);    \
      fail();                                                                                      \
    }                                                                                              \
  } while (0)

/* The cmocka fixture most tests start from: a capture subscriber at TRACE installed as this
 * thread's default for one test (cmocka_unit_test_setup_teardown(t, capture_setup,
 * capture_teardown)); the test reads it with captured(state). */
typedef struct capture_fixture {
  trace_capture *cap;
  trace_default_guard guard;
} capture_fixture;

static inline int capture_setup(void **state) {
  capture_fixture *f = calloc(1, sizeof *f);
  if (!f || !(f->cap = trace_capture_new(TRACE_LEVEL_TRACE))) {
    free(f);
    return -1;
  }
  f->guard = trace_set_default(trace_capture_dispatch(f->cap));
  *state = f;
  return 0;
}

static inline int capture_teardown(void **state) {
  capture_fixture *f = *state;
  trace_default_guard_restore(&f->guard);
  trace_capture_free(f->cap);
  free(f);
  return 0;
}

static inline trace_capture *captured(void **state) {
  return ((capture_fixture *)*state)->cap;
}

/* A text log that layers of several threads append to: what does not fit is dropped (the tests'
 * expected texts are far shorter). Embedded in the tests' recording layers. */
typedef struct text_log {
  pthread_mutex_t lock;
  size_t len;
  char text[65536];
} text_log;

static inline void text_log_init(text_log *l) {
  pthread_mutex_init(&l->lock, NULL);
  l->len = 0;
  l->text[0] = '\0';
}

static inline void text_log_destroy(text_log *l) { pthread_mutex_destroy(&l->lock); }

static inline void text_log_printf(text_log *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void text_log_printf(text_log *l, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&l->lock);
  int n = vsnprintf(l->text + l->len, sizeof l->text - l->len, fmt, ap);
  if (n > 0 && (size_t)n < sizeof l->text - l->len)
    l->len += (size_t)n;
  pthread_mutex_unlock(&l->lock);
  va_end(ap);
}

/* Empties the log (it stays initialised). */
static inline void text_log_clear(text_log *l) {
  pthread_mutex_lock(&l->lock);
  l->len = 0;
  l->text[0] = '\0';
  pthread_mutex_unlock(&l->lock);
}

/* A writer callback appending each line to the text_log given as its argument:
 * trace_writer_callback(text_log_collect, NULL, NULL, &log). */
static inline int text_log_collect(void *log, const char *line, size_t len) {
  text_log_printf(log, "%.*s", (int)len, line);
  return 0;
}

/* A registry behind the env-filter spec (which must parse) with one fmt layer writing plain lines
 * into log: no time, no colour, line numbers, and file names when show_file. The caller installs
 * it (trace_registry_install) or takes its dispatch (trace_registry_dispatch). */
static inline trace_registry *fmt_registry_into(text_log *log, const char *spec, bool show_file) {
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.time = TRACE_FMT_TIME_NONE;
  o.color = TRACE_FMT_COLOR_NEVER;
  o.show_file = show_file;
  o.show_line = true;
  o.writer = trace_writer_callback(text_log_collect, NULL, NULL, log);
  trace_registry *r = trace_registry_new();
  trace_env_filter *f = NULL;
  assert_int_equal(trace_env_filter_parse(spec, &f, NULL), 0);
  trace_registry_set_filter(r, trace_env_filter_as_filter(f));
  trace_env_filter_release(f);
  trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL);
  return r;
}

/* A datagram socket bound to the unix socket path (which must not exist yet): the tests' stand-in
 * for a local daemon (journald, syslog) that reads what it is sent, or never does. */
static inline int unix_dgram_bound(const char *path) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  assert_true(strlen(path) < sizeof a.sun_path);
  strcpy(a.sun_path, path);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

/* Captures what is written to stderr (fd 2) between begin and end, into out (NUL-terminated). */
typedef struct stderr_capture {
  int saved, read_end;
} stderr_capture;

static inline stderr_capture stderr_capture_begin(void) {
  stderr_capture c;
  int p[2];
  assert_int_equal(pipe(p), 0);
  c.saved = dup(2);
  c.read_end = p[0];
  dup2(p[1], 2);
  close(p[1]);
  return c;
}

static inline void stderr_capture_end(stderr_capture *c, char *out, size_t cap) {
  dup2(c->saved, 2); /* the pipe's last write end goes: the read below ends */
  close(c->saved);
  size_t len = 0;
  ssize_t n;
  while (len + 1 < cap && (n = read(c->read_end, out + len, cap - 1 - len)) > 0)
    len += (size_t)n;
  out[len] = '\0';
  close(c->read_end);
}

/* A counting allocator, for tests of "no allocation once warm": install it first thing in main
 * with install_counting_allocator(), read the count with allocations_so_far(). It can also be
 * told to refuse every allocation (refuse_allocations), for tests of running out of memory. */
static inline long *allocation_counter(void) {
  static long count; /* atomic */
  return &count;
}
static inline int *allocation_refusal(void) {
  static int refuse; /* atomic */
  return &refuse;
}
static inline void refuse_allocations(bool refuse) {
  __atomic_store_n(allocation_refusal(), refuse, __ATOMIC_RELAXED);
}
static inline void *counting_malloc(size_t n) {
  __atomic_add_fetch(allocation_counter(), 1, __ATOMIC_RELAXED);
  return __atomic_load_n(allocation_refusal(), __ATOMIC_RELAXED) ? NULL : malloc(n);
}
static inline void *counting_realloc(void *p, size_t n) {
  __atomic_add_fetch(allocation_counter(), 1, __ATOMIC_RELAXED);
  return __atomic_load_n(allocation_refusal(), __ATOMIC_RELAXED) ? NULL : realloc(p, n);
}
static inline int install_counting_allocator(void) {
  static const trace_allocator counting = {sizeof(trace_allocator), counting_malloc,
                                           counting_realloc, free};
  return trace_set_allocator(&counting);
}
static inline long allocations_so_far(void) {
  return __atomic_load_n(allocation_counter(), __ATOMIC_RELAXED);
}

/* FMT callbacks that break the snprintf contract: every part of the library that calls one has a
 * regression test with these (they once made it read past a buffer or allocate SIZE_MAX + 1). */
static inline size_t fmt_fails(char *buf, size_t cap, const void *arg) {
  (void)buf, (void)cap, (void)arg;
  return (size_t)-1; /* a failed snprintf's -1, passed through */
}
static inline size_t fmt_claims_huge(char *buf, size_t cap, const void *arg) {
  (void)arg;
  snprintf(buf, cap, "abc");
  return (size_t)1 << 40;
}
static inline size_t fmt_claims_more(char *buf, size_t cap, const void *arg) {
  (void)arg;
  snprintf(buf, cap, "hi");
  return 100; /* the rest of the 100 bytes is whatever was in the buffer */
}
static inline size_t fmt_fills_without_nul(char *buf, size_t cap, const void *arg) {
  (void)arg;
  memset(buf, 'y', cap);
  return cap + 10;
}

/* A fresh directory of the tests' files: /tmp/<prefix>-XXXXXX into dir (cap bytes); 0, or -1. */
static inline int scratch_dir_make(char *dir, size_t cap, const char *prefix) {
  snprintf(dir, cap, "/tmp/%s-XXXXXX", prefix);
  return mkdtemp(dir) ? 0 : -1;
}
/* Removes the directory and the files in it. */
static inline void scratch_dir_remove(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      char p[512];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (e->d_name[0] != '.')
        unlink(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

#endif
