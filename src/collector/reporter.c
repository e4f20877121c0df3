/* The reporter: a background thread that reads every thread's ring in rounds (STREAM), feeds
 * the model, which writes the outputs, and writes the dumps asked for by signal (FLIGHT). It
 * sleeps on a futex between rounds, woken by a thread whose ring is half full, by a flush, or by
 * its timer (flush_interval_ms). */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/clock.h"
#include "../common/spin.h"
#include "../common/thread.h"
#include "model.h"
#include "output.h"

/* ---------------------------------------------------------------------------------------- */
/* Outputs. */

/* path with "%p" replaced by the process id and "%n" by n ("%%" is "%"). */
size_t trace__col_expand_path(const char *path, uint64_t n, char *out, size_t cap) {
  trace__buf b;
  trace__buf_init_fixed(&b, out, cap - 1);
  for (const char *p = path; *p; p++) {
    if (p[0] == '%' && (p[1] == 'p' || p[1] == 'n' || p[1] == '%')) {
      char num[24];
      int len = p[1] == '%' ? snprintf(num, sizeof num, "%%")
                : p[1] == 'p' ? snprintf(num, sizeof num, "%ld", (long)getpid())
                              : snprintf(num, sizeof num, "%llu", (unsigned long long)n);
      trace__buf_put(&b, num, (size_t)len);
      p++;
    } else {
      trace__buf_putc(&b, *p);
    }
  }
  out[b.len] = '\0';
  return b.truncated ? 0 : b.len;
}

static int open_output(const char *path) {
  char name[4096];
  if (!trace__col_expand_path(path, 0, name, sizeof name)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* Whether the output at path is opened: always at the start; in a forked child only when its
 * name is the child's own ("%p"), the parent's file being the parent's. */
static bool opens(const char *path, bool forked) {
  return path && (!forked || strstr(path, "%p"));
}

int trace__col_open_outputs(col *c, bool forked) {
  if (c->mode != TRACE_COLLECTOR_STREAM)
    return 0;
  int chrome_fd = -1, folded_fd = -1;
  if (opens(c->o.chrome_path, forked) && (chrome_fd = open_output(c->o.chrome_path)) < 0)
    return TRACE_EIO;
  if (opens(c->o.folded_path, forked) && (folded_fd = open_output(c->o.folded_path)) < 0) {
    int err = errno;
    if (chrome_fd >= 0)
      close(chrome_fd);
    errno = err;
    return TRACE_EIO;
  }
  if (chrome_fd >= 0 && !(c->chrome = trace__col_chrome_file(chrome_fd, c->o.chrome_max_bytes,
                                                                 c->o.process_name)))
    close(chrome_fd);
  if (folded_fd >= 0 && !(c->folded = trace__col_folded_file(folded_fd)))
    close(folded_fd);
  if ((chrome_fd >= 0 && !c->chrome) || (folded_fd >= 0 && !c->folded))
    return TRACE_ENOMEM;
  if (c->chrome || c->folded || c->o.sink) {
    col_model_config cfg = {c->chrome, c->folded, (int)c->o.folded_time, c->o.folded_threads,
                            0, &c->clock_backwards, c->o.sink, &c->memory_drops};
    if (!(c->model = trace__col_model_new(&cfg)))
      return TRACE_ENOMEM;
  }
  return 0;
}

/* The outputs' counters, copied where trace_collector_get_stats reads them (under c->lock: the
 * writers themselves belong to the reporter). */
static void publish_stats(col *c) {
  col_out_stats a = c->out_chrome, b = c->out_folded;
  trace__col_chrome_stats(c->chrome, &a);
  trace__col_folded_stats(c->folded, &b);
  trace__mutex_lock(&c->lock);
  c->out_chrome = a;
  c->out_folded = b;
  trace__mutex_unlock(&c->lock);
}

/* Completes the outputs (STREAM): spans still open are shown open, the documents closed. */
static void close_outputs(col *c) {
  if (c->model) {
    col_timemap map = trace__col_clock_map(&c->clock);
    trace__col_model_set_time(c->model, &map);
    trace__col_model_finish(c->model, trace__col_map_ns(&map, trace__col_now_ticks(&c->clock)));
    trace__col_model_free(c->model);
    c->model = NULL;
  }
  col_out_stats a = c->out_chrome, b = c->out_folded;
  if (c->chrome)
    trace__col_chrome_close(c->chrome, &a);
  if (c->folded)
    trace__col_folded_close(c->folded, &b);
  c->chrome = NULL;
  c->folded = NULL;
  trace__mutex_lock(&c->lock);
  c->out_chrome = a;
  c->out_folded = b;
  trace__mutex_unlock(&c->lock);
}

void trace__col_output_stats(col *c, trace_collector_stats *st) {
  trace__mutex_lock(&c->lock);
  col_out_stats a = c->out_chrome, b = c->out_folded;
  trace__mutex_unlock(&c->lock);
  st->events_written = a.events_written;
  st->events_dropped = a.events_dropped;
  st->bytes_written = a.bytes_written + b.bytes_written;
  st->write_errors = a.write_errors + b.write_errors;
  st->last_error = b.last_error ? b.last_error : a.last_error;
}

/* ---------------------------------------------------------------------------------------- */
/* Rounds. */

typedef struct ring_view {
  col_thread *t;
  uint64_t from, to;
  uint32_t number;
  char name[32];
} ring_view;

void trace__col_walk(const unsigned char *data, uint64_t mask, uint64_t from, uint64_t to,
                     void (*fn)(void *arg, const col_rec *r), void *arg) {
  uint64_t pos = from;
  while (pos < to) {
    uint64_t page_end = (pos | (COL_PAGE - 1)) + 1;
    uint64_t avail = (page_end < to ? page_end : to) - pos;
    col_rec r;
    int n = trace__col_decode((const uint64_t *)(const void *)(data + (pos & mask)),
                              (uint32_t)avail, &r);
    if (n <= 0) {
      pos = page_end; /* the rest of the page is empty (or not a record) */
      continue;
    }
    fn(arg, &r);
    pos += (uint64_t)n;
  }
}

static void feed_new(void *m, const col_rec *r) { trace__col_model_feed_new(m, r); }
static void feed_all(void *m, const col_rec *r) { trace__col_model_feed(m, r); }

/* One round: every ring read up to where its thread was when the round began. Creations are
 * read first, from every ring, so that a span created on one thread and entered on another in
 * the same round has its fields when its enter is read. */
static void round_stream(col *c) {
  trace__mutex_lock(&c->lock);
  size_t n = 0;
  for (col_thread *t = c->threads; t; t = t->next)
    n++;
  if (n > c->views_cap) {
    ring_view *v = trace__realloc(c->views, n * sizeof *v);
    if (!v) {
      trace__mutex_unlock(&c->lock);
      return; /* the next round tries again */
    }
    c->views = v;
    c->views_cap = n;
  }
  ring_view *views = c->views;
  n = 0;
  for (col_thread *t = c->threads; t; t = t->next) {
    views[n].t = t;
    views[n].number = t->number;
    memcpy(views[n].name, t->name, sizeof views[n].name);
    n++;
  }
  trace__mutex_unlock(&c->lock);
  for (size_t i = 0; i < n; i++) {
    views[i].from = TRACE__LOAD(&views[i].t->tail);
    views[i].to = __atomic_load_n(&views[i].t->pos, __ATOMIC_ACQUIRE);
  }
  if (c->model) {
    col_timemap map = trace__col_clock_map(&c->clock);
    trace__col_model_set_time(c->model, &map);
    for (size_t i = 0; i < n; i++) {
      trace__col_model_thread(c->model, views[i].number, views[i].name);
      trace__col_walk(views[i].t->data, views[i].t->mask, views[i].from, views[i].to, feed_new,
                      c->model);
    }
    for (size_t i = 0; i < n; i++) {
      trace__col_model_thread(c->model, views[i].number, views[i].name);
      trace__col_walk(views[i].t->data, views[i].t->mask, views[i].from, views[i].to, feed_all,
                      c->model);
    }
  }
  for (size_t i = 0; i < n; i++)
    __atomic_store_n(&views[i].t->tail, views[i].to, __ATOMIC_RELEASE);
  if (c->model)
    trace__col_model_round_end(c->model);
  publish_stats(c);
  trace__col_rings_reap(c);
}

static void handle_requests(col *c) {
  uint32_t asked = __atomic_load_n(&trace__col_flight_requests, __ATOMIC_ACQUIRE);
  if (asked != c->requests_seen) {
    c->requests_seen = asked;
    trace__col_dump_requested(c);
  }
}

static void *reporter_main(void *arg) {
  col *c = arg;
  /* Not a thread of the application: nothing it records is of interest, and its own warnings go
   * straight to stderr. */
  pthread_setname_np(pthread_self(), "trace-reporter");
  for (;;) {
    uint32_t seen = __atomic_load_n(&c->wake, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&c->flush_lock);
    uint64_t asked = c->flush_asked;
    pthread_mutex_unlock(&c->flush_lock);
    bool stop = __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);
    if (c->mode == TRACE_COLLECTOR_STREAM)
      round_stream(c);
    else
      handle_requests(c);
    pthread_mutex_lock(&c->flush_lock);
    c->flush_done = asked;
    pthread_cond_broadcast(&c->flush_cond);
    pthread_mutex_unlock(&c->flush_lock);
    if (stop)
      break;
    __atomic_store_n(&c->sleeping, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&c->wake, __ATOMIC_SEQ_CST) == seen) {
      uint32_t ms = c->o.flush_interval_ms ? c->o.flush_interval_ms : 100;
      struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
      syscall(SYS_futex, &c->wake, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
    }
    __atomic_store_n(&c->sleeping, 0, __ATOMIC_RELAXED);
  }
  if (c->mode == TRACE_COLLECTOR_STREAM)
    close_outputs(c);
  return NULL;
}

int trace__col_reporter_start(col *c) {
  /* The reporter must never run the application's signal handlers: it starts with every signal
   * blocked, and keeps them blocked. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&c->reporter, NULL, reporter_main, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0)
    return TRACE_ENOTSUP;
  __atomic_store_n(&c->reporter_running, true, __ATOMIC_RELEASE);
  return 0;
}

void trace__col_reporter_stop(col *c) {
  if (c->reporter_running) {
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
    trace__col_wake_reporter(c);
    pthread_join(c->reporter, NULL);
    c->reporter_running = false;
  } else if (c->mode == TRACE_COLLECTOR_STREAM) {
    /* No reporter (it never started, or this is a forked child that has not restarted it):
     * the last round runs here. */
    round_stream(c);
    close_outputs(c);
  }
}

int trace__col_flush(col *c) {
  if (c->mode != TRACE_COLLECTOR_STREAM)
    return 0;
  trace__col_reporter_ensure(c);
  if (!c->reporter_running)
    return TRACE_ENOTSUP;
  pthread_mutex_lock(&c->flush_lock);
  uint64_t want = ++c->flush_asked;
  trace__col_wake_reporter(c);
  while (c->flush_done < want)
    pthread_cond_wait(&c->flush_cond, &c->flush_lock);
  pthread_mutex_unlock(&c->flush_lock);
  return 0;
}

/* A forked child has no reporter: it is started on the first occasion (a thread's first page,
 * a flush), not in the fork handler. */
void trace__col_reporter_ensure(col *c) {
  if (TRACE__LIKELY(TRACE__LOAD(&c->reporter_running)) || TRACE__LOAD(&c->destroying))
    return;
  trace__mutex_lock(&c->lock);
  bool start = !c->reporter_running && !c->starting;
  c->starting = true;
  trace__mutex_unlock(&c->lock);
  if (!start)
    return;
  if (c->mode == TRACE_COLLECTOR_STREAM && c->reopen_outputs) {
    c->reopen_outputs = false;
    if (trace__col_open_outputs(c, true) != 0)
      trace__col_warn_write("the collector's outputs in a forked child", errno);
  }
  if (trace__col_reporter_start(c) == 0)
    __atomic_store_n(&c->reporter_running, true, __ATOMIC_RELEASE);
  trace__mutex_lock(&c->lock);
  c->starting = false;
  trace__mutex_unlock(&c->lock);
}

void trace__col_fork_child(col *c) {
  col_thread *self = trace__local_get(c->local_key);
  for (col_thread *t = c->threads, *next; t; t = next) {
    next = t->next;
    if (t != self) {
      trace__col_stack_free(t);
      trace__free_lines(t->data);
      trace__free_lines(t);
    }
  }
  c->threads = self;
  if (self) {
    self->next = NULL;
    __atomic_store_n(&self->pos, 0, __ATOMIC_RELAXED);
    self->limit = 0;
    self->tail = 0;
    self->woke = 0;
    self->dropped = 0;
  }
  c->ring_total = self ? c->ring_bytes : 0;
  c->recorded_total = c->dropped_total = 0;
  c->threads_seen = self ? 1 : 0;
  /* The parent's outputs and what was read for them are the parent's: the child writes its own
   * files when the paths have a %p, none otherwise. */
  if (c->model) {
    trace__col_model_free(c->model);
    c->model = NULL;
  }
  trace__col_chrome_discard(c->chrome);
  trace__col_folded_discard(c->folded);
  c->chrome = NULL;
  c->folded = NULL;
  memset(&c->out_chrome, 0, sizeof c->out_chrome);
  memset(&c->out_folded, 0, sizeof c->out_folded);
  c->reopen_outputs = opens(c->o.chrome_path, true) || opens(c->o.folded_path, true) ||
                      c->o.sink != NULL;
  pthread_mutex_init(&c->flush_lock, NULL);
  pthread_cond_init(&c->flush_cond, NULL);
  c->flush_asked = c->flush_done = 0;
  c->reporter_running = false;
  c->starting = false;
  c->sleeping = 0;
  c->stop = 0;
}

/* ---------------------------------------------------------------------------------------- */

void trace__col_destroy(col *c) {
  if (!c)
    return;
  __atomic_store_n(&c->destroying, 1, __ATOMIC_RELEASE);
  trace__col_list_remove(c);
  if (c->local_key >= 0 || c->reporter_running)
    trace__col_reporter_stop(c);
  if (c->local_key >= 0)
    trace__local_key_delete(c->local_key);
  /* After the last round (trace__col_reporter_stop): the sink has had everything. */
  const trace_collector_sink *sink = c->o.sink;
  c->o.sink = NULL;
  if (sink && sink->close)
    sink->close(sink->arg);
  trace__col_rings_free(c);
  trace__col_slots_free(&c->slots);
  trace__free(c->views);
  trace__col_chrome_discard(c->chrome);
  trace__col_folded_discard(c->folded);
  trace__mutex_destroy(&c->lock);
  trace__mutex_destroy(&c->clock.lock);
  pthread_mutex_destroy(&c->flush_lock);
  pthread_cond_destroy(&c->flush_cond);
  for (size_t i = 0; i < TRACE__ARRAY_LEN(c->strings); i++)
    trace__free(c->strings[i]);
  trace__free_lines(c);
}
