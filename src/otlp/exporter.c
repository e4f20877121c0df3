/* The exporter thread: drains the threads' rings, keeps events until their span comes, and
 * exports batches with retries. It sleeps until a ring is a quarter full, the schedule delay
 * passes, a flush is asked for, or the layer goes away.
 *
 * Joining events to spans: an event's record can reach the exporter after its span's (they are
 * written by different threads to different rings), but not by more than one pass over the
 * rings when it happened before the span closed. So a span drained in one pass is exported only
 * after the next pass ("settled"); a flush or the shutdown passes twice. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/alloc.h"
#include "../common/ids.h"
#include "internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Pending records. */

static bool list_push(rec_list *l, const rec_head *h) {
  if (l->len + h->size > l->cap) {
    size_t cap = TRACE__MAX(l->cap * 2, l->len + h->size + 4096);
    char *d = trace__realloc(l->data, cap);
    if (!d)
      return false;
    l->data = d;
    l->cap = cap;
  }
  if (l->n == l->cap_n && !trace__grow_array(&l->offs, &l->cap_n, sizeof *l->offs, 256))
    return false;
  memcpy(l->data + l->len, h, h->size);
  l->offs[l->n++] = (uint32_t)l->len;
  l->len += h->size;
  return true;
}

static size_t list_count(const rec_list *l) { return l->n - l->head; }

/* The i-th pending record. */
static const rec_head *list_at(const rec_list *l, size_t i) {
  return (const rec_head *)(const void *)(l->data + l->offs[l->head + i]);
}

static rec_head *list_last(rec_list *l) {
  return (rec_head *)(void *)(l->data + l->offs[l->n - 1]);
}

/* Removes the first k pending records: moves what remains to the front only once the removed
 * part is the larger (moving it at every batch made a long queue quadratic). */
static void list_shift(rec_list *l, size_t k) {
  l->head += TRACE__MIN(k, list_count(l));
  if (l->head == l->n) {
    l->head = l->n = l->len = 0;
    return;
  }
  if (l->head * 2 < l->n)
    return;
  size_t from = l->offs[l->head];
  memmove(l->data, l->data + from, l->len - from);
  l->len -= from;
  for (size_t i = l->head; i < l->n; i++)
    l->offs[i - l->head] = l->offs[i] - (uint32_t)from;
  l->n -= l->head;
  l->head = 0;
}

static void list_free(rec_list *l) {
  trace__free(l->data);
  trace__free(l->offs);
  memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------------------------------- */
/* Draining. */

static bool span_sampled_event(const rec_event *e) {
  uint8_t acc = 0;
  for (int i = 0; i < 8; i++)
    acc |= e->h.span_id[i];
  return acc && (e->trace_flags & TRACE_CONTEXT_SAMPLED);
}

/* ---------------------------------------------------------------------------------------- */
/* Thread names. */

static size_t thread_slot(const trace_otlp *x, uint32_t id) {
  uint32_t h = id * 2654435761u;
  return (size_t)h & (x->threads_cap - 1);
}

static void thread_remember(trace_otlp *x, const rec_name *n) {
  if (!x->threads) {
    x->threads_cap = 64;
    x->threads = trace__calloc(x->threads_cap, sizeof *x->threads);
    if (!x->threads)
      return;
  }
  size_t used = 0;
  for (size_t i = 0; i < x->threads_cap; i++)
    used += x->threads[i].id != 0;
  if (used * 2 >= x->threads_cap && x->threads_cap < 4096) {
    struct thread_entry *old = x->threads;
    size_t old_cap = x->threads_cap;
    struct thread_entry *t = trace__calloc(old_cap * 2, sizeof *t);
    if (t) {
      x->threads = t;
      x->threads_cap = old_cap * 2;
      for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].id)
          continue;
        size_t k = thread_slot(x, old[i].id);
        while (x->threads[k].id)
          k = (k + 1) & (x->threads_cap - 1);
        x->threads[k] = old[i];
      }
      trace__free(old);
    }
  }
  size_t k = thread_slot(x, n->thread_id);
  for (size_t probes = 0; probes < x->threads_cap; probes++, k = (k + 1) & (x->threads_cap - 1))
    if (x->threads[k].id == n->thread_id || !x->threads[k].id)
      break;
  /* Full (4096 threads): overwrite where the probe ended. */
  struct thread_entry *e = &x->threads[k];
  e->id = n->thread_id;
  e->len = (uint8_t)TRACE__MIN(n->len, sizeof e->name);
  memcpy(e->name, n->name, sizeof e->name);
}

const char *trace__otlp_thread_name(const trace_otlp *x, uint32_t id, size_t *len) {
  *len = 0;
  if (!x->threads)
    return "";
  size_t k = thread_slot(x, id);
  for (size_t probes = 0; probes < x->threads_cap; probes++, k = (k + 1) & (x->threads_cap - 1)) {
    if (x->threads[k].id == id) {
      *len = x->threads[k].len;
      return x->threads[k].name;
    }
    if (!x->threads[k].id)
      break;
  }
  return "";
}

/* Clock ticks of a record just copied into a pending list, into Unix ns and ns (records of the
 * collector's sink carry those already). */
static void convert_times(const trace_otlp *x, rec_head *h) {
  if (h->unix_time)
    return;
  const otlp_clock *c = &x->clock;
  h->time_ns = trace__otlp_clock_unix_ns(c, h->time_ns);
  if (h->kind == REC_SPAN) {
    rec_span *s = (rec_span *)(void *)h;
    uint64_t end = trace__otlp_clock_unix_ns(c, s->end_ns);
    s->end_ns = end > h->time_ns ? end : h->time_ns;
    s->busy_ns = trace__otlp_clock_ns(c, s->busy_ns);
    s->idle_ns = trace__otlp_clock_ns(c, s->idle_ns);
  }
}

static bool drain_record(void *arg, const ring *r, const rec_head *h) {
  (void)r;
  trace_otlp *x = arg;
  if (h->kind == REC_NAME) {
    thread_remember(x, (const rec_name *)(const void *)h);
    return true;
  }
  if (x->conf.discard) { /* counted per pass (drain_all) */
    if (h->kind == REC_SPAN)
      x->discarded_spans++;
    else
      x->discarded_logs++;
    return true;
  }
  uint64_t now = x->pass_ns;
  if (h->kind == REC_SPAN) {
    if (list_count(&x->spans) >= x->conf.max_queue_size)
      return false; /* the queue is full: the record waits in its ring */
    if (!list_push(&x->spans, h))
      return false;
    convert_times(x, list_last(&x->spans));
    if (list_count(&x->spans) == 1)
      x->oldest_span_ns = now;
    return true;
  }
  if (h->kind != REC_EVENT)
    return true;
  const rec_event *e = (const rec_event *)(const void *)h;
  bool as_log = x->conf.logs.url != NULL;
  if (as_log && list_count(&x->logs) >= x->conf.max_queue_size)
    return false;
  if (as_log) {
    if (!list_push(&x->logs, h))
      return false;
    rec_head *last = list_last(&x->logs);
    convert_times(x, last);
    e = (const rec_event *)(const void *)last;
    if (list_count(&x->logs) == 1)
      x->oldest_log_ns = now;
  }
  if (x->conf.traces.url && span_sampled_event(e)) {
    rec_event *copy = NULL;
    if (!as_log) { /* not converted yet: convert a copy's time */
      copy = trace__malloc(h->size);
      if (!copy)
        return true;
      memcpy(copy, h, h->size);
      convert_times(x, &copy->h);
      e = copy;
    }
    size_t lost = trace__otlp_held_add(&x->held, e);
    trace__free(copy);
    if (lost)
      OTLP_STAT_ADD(x, span_events_dropped, lost);
  }
  return true;
}

static void drain_all(trace_otlp *x) {
  /* Ticks are converted with a rate measured over 20 ms at least: in the exporter's first
   * 20 ms, it waits for that first. */
  while (!trace__otlp_clock_update(&x->clock)) {
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
  }
  /* What came in earlier passes may be joined with its events now. */
  x->settled = list_count(&x->spans);
  x->pass_ns = trace__otlp_now_mono_ns();
  trace__mutex_lock(&x->rings_lock);
  for (ring *r = x->rings; r; r = r->next)
    trace__otlp_ring_drain(r, drain_record, x);
  trace__mutex_unlock(&x->rings_lock);
  if (x->discarded_spans || x->discarded_logs) {
    OTLP_STAT_ADD(x, spans_exported, x->discarded_spans);
    OTLP_STAT_ADD(x, logs_exported, x->discarded_logs);
    x->discarded_spans = x->discarded_logs = 0;
  }
}

/* Whether a ring is still more than a quarter full after a pass: the threads write faster than
 * the exporter slept, and it should pass again at once. */
static bool rings_busy(trace_otlp *x) {
  bool busy = false;
  trace__mutex_lock(&x->rings_lock);
  for (ring *r = x->rings; r && !busy; r = r->next)
    busy = TRACE__LOAD_ACQ(&r->head) - r->tail > r->cap / 4;
  trace__mutex_unlock(&x->rings_lock);
  return busy;
}

/* A flush (or the shutdown) covers what the rings held when it began: their heads then. */
static void mark_heads(trace_otlp *x) {
  trace__mutex_lock(&x->rings_lock);
  for (ring *r = x->rings; r; r = r->next)
    r->flush_mark = TRACE__LOAD_ACQ(&r->head);
  trace__mutex_unlock(&x->rings_lock);
}

/* Bytes written before the marks and not drained yet (the tails are the exporter's own). */
static uint64_t behind_marks(trace_otlp *x) {
  uint64_t left = 0;
  trace__mutex_lock(&x->rings_lock);
  for (ring *r = x->rings; r; r = r->next)
    left += r->flush_mark > r->tail ? r->flush_mark - r->tail : 0;
  trace__mutex_unlock(&x->rings_lock);
  return left;
}

/* ---------------------------------------------------------------------------------------- */
/* Sending. */

/* Sleeps until the monotonic time until, or until the exporter must stop at once. Returns
 * false when it must stop. */
static bool sleep_until(trace_otlp *x, uint64_t until, uint64_t hard_deadline) {
  trace__mutex_lock(&x->lock);
  for (;;) {
    uint64_t now = trace__otlp_now_mono_ns();
    if (x->stop && now >= x->stop_deadline_ns)
      break;
    if (now >= until)
      break;
    uint64_t wake = until;
    if (x->stop && x->stop_deadline_ns < wake)
      wake = x->stop_deadline_ns;
    struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
    pthread_cond_timedwait(&x->cond, &x->lock.m, &ts);
  }
  bool go_on = trace__otlp_now_mono_ns() < hard_deadline;
  trace__mutex_unlock(&x->lock);
  return go_on;
}

/* One warning per change of the way exports fail, so a collector that is down is reported
 * once, not per batch. */
static void report(trace_otlp *x, const otlp_signal *sig, const otlp_response *res, bool gave_up) {
  long key = res->status ? res->status : -res->transport_error;
  if (x->warned_url == sig->url && x->warned_key == key)
    return;
  x->warned_url = sig->url;
  x->warned_key = key;
  trace__otlp_warn("export to %s %s: %s", sig->url, gave_up ? "failed, batch dropped" : "failed, retrying",
                   res->error[0] ? res->error : "no response");
}

/* Posts body, retrying what may be retried until it is accepted or the deadline passes. */
static bool send_batch(trace_otlp *x, const otlp_signal *sig, const char *body, size_t len) {
  uint64_t start = trace__otlp_now_mono_ns();
  uint64_t deadline = start + (uint64_t)x->conf.export_timeout_ms * 1000000u;
  trace__mutex_lock(&x->lock);
  if (x->stop && x->stop_deadline_ns < deadline)
    deadline = x->stop_deadline_ns;
  trace__mutex_unlock(&x->lock);
  uint64_t backoff_ms = x->conf.retry_initial_ms;
  for (;;) {
    otlp_response res;
    OTLP_STAT_ADD(x, requests, 1);
    trace__otlp_http_post(x->http, sig, body, len, deadline, NULL, &res);
    __atomic_store_n(&x->stats.last_status, (int32_t)res.status, __ATOMIC_RELAXED);
    if (res.transport_error == 0 && res.status >= 200 && res.status < 300) {
      __atomic_add_fetch(&x->requests_accepted, 1, __ATOMIC_RELAXED);
      return true;
    }
    uint64_t now = trace__otlp_now_mono_ns();
    /* Full jitter over the upper half: between backoff/2 and backoff. */
    uint64_t wait_ms = backoff_ms / 2 + trace__id_next() % (backoff_ms / 2 + 1);
    if (res.retry_after_ms > wait_ms)
      wait_ms = res.retry_after_ms;
    bool retry = res.retryable && now + wait_ms * 1000000u < deadline;
    report(x, sig, &res, !retry);
    if (!retry)
      return false;
    if (!sleep_until(x, now + wait_ms * 1000000u, deadline))
      return false;
    OTLP_STAT_ADD(x, retries, 1);
    backoff_ms = TRACE__MIN(backoff_ms * 2, (uint64_t)x->conf.retry_max_ms);
  }
}

static void export_spans(trace_otlp *x, size_t n) {
  span_item *items = trace__calloc(n, sizeof *items);
  if (!items) {
    OTLP_STAT_ADD(x, spans_failed, n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    const rec_span *s = (const rec_span *)(const void *)list_at(&x->spans, i);
    items[i].rec = s;
    uint32_t count = 0;
    items[i].events = trace__otlp_held_take(&x->held, trace__otlp_span_key(s->h.span_id), &count);
    /* Keep the first max_events_per_span, count the others. */
    uint32_t keep = TRACE__MIN(count, x->conf.max_events_per_span);
    held_event **p = &items[i].events;
    for (uint32_t k = 0; k < keep && *p; k++)
      p = &(*p)->next_in_span;
    trace__otlp_held_free_list(*p);
    *p = NULL;
    items[i].nevents = keep;
    items[i].dropped_events = count - keep;
    if (count > keep)
      OTLP_STAT_ADD(x, span_events_dropped, count - keep);
  }
  trace__buf *b = &x->body;
  b->len = 0;
  b->truncated = false;
  if (x->conf.traces.protocol == TRACE_OTLP_HTTP_JSON)
    trace__otlp_encode_spans_json(b, x, items, n);
  else
    trace__otlp_encode_spans_pb(b, x, items, n);
  bool ok = !b->truncated && send_batch(x, &x->conf.traces, b->data, b->len);
  if (ok)
    OTLP_STAT_ADD(x, spans_exported, n);
  else
    OTLP_STAT_ADD(x, spans_failed, n);
  for (size_t i = 0; i < n; i++)
    trace__otlp_held_free_list(items[i].events);
  trace__free(items);
}

static void export_logs(trace_otlp *x, size_t n) {
  const rec_event **recs = trace__calloc(n, sizeof *recs);
  if (!recs) {
    OTLP_STAT_ADD(x, logs_failed, n);
    return;
  }
  for (size_t i = 0; i < n; i++)
    recs[i] = (const rec_event *)(const void *)list_at(&x->logs, i);
  trace__buf *b = &x->body;
  b->len = 0;
  b->truncated = false;
  if (x->conf.logs.protocol == TRACE_OTLP_HTTP_JSON)
    trace__otlp_encode_logs_json(b, x, recs, n);
  else
    trace__otlp_encode_logs_pb(b, x, recs, n);
  bool ok = !b->truncated && send_batch(x, &x->conf.logs, b->data, b->len);
  if (ok)
    OTLP_STAT_ADD(x, logs_exported, n);
  else
    OTLP_STAT_ADD(x, logs_failed, n);
  trace__free(recs);
}

/* Exports what is due: full batches, everything older than the schedule delay, or (force) all
 * that is pending. */
static void export_due(trace_otlp *x, bool force) {
  size_t batch = x->conf.max_export_batch_size;
  uint64_t delay = (uint64_t)x->conf.schedule_delay_ms * 1000000u;
  for (;;) {
    size_t ready = force ? list_count(&x->spans) : x->settled;
    bool old = ready > 0 && trace__otlp_now_mono_ns() - x->oldest_span_ns >= delay;
    if (ready == 0 || (ready < batch && !old && !force))
      break;
    size_t n = TRACE__MIN(ready, batch);
    export_spans(x, n);
    list_shift(&x->spans, n);
    x->settled = x->settled > n ? x->settled - n : 0;
    x->oldest_span_ns = trace__otlp_now_mono_ns();
  }
  for (;;) {
    size_t ready = list_count(&x->logs);
    bool old = ready > 0 && trace__otlp_now_mono_ns() - x->oldest_log_ns >= delay;
    if (ready == 0 || (ready < batch && !old && !force))
      break;
    size_t n = TRACE__MIN(ready, batch);
    export_logs(x, n);
    list_shift(&x->logs, n);
    x->oldest_log_ns = trace__otlp_now_mono_ns();
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The thread. */

static void *thread_main(void *arg) {
  trace_otlp *x = arg;
  trace__mutex_lock(&x->lock);
  for (;;) {
    uint64_t now = trace__otlp_now_mono_ns();
    uint64_t delay = (uint64_t)x->conf.schedule_delay_ms * 1000000u;
    /* Sleep at most the schedule delay: the rings are looked at that often anyway. */
    uint64_t until = now + (delay ? delay : 1000000u);
    if (list_count(&x->spans) && x->oldest_span_ns + delay < until)
      until = x->oldest_span_ns + delay;
    if (list_count(&x->logs) && x->oldest_log_ns + delay < until)
      until = x->oldest_log_ns + delay;
    bool busy = rings_busy(x);
    while (!busy && !x->stop && !TRACE__LOAD_ACQ(&x->wake_pending) &&
           x->flush_requested == x->flush_done && now < until) {
      struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
      pthread_cond_timedwait(&x->cond, &x->lock.m, &ts);
      now = trace__otlp_now_mono_ns();
    }
    __atomic_store_n(&x->wake_pending, 0, __ATOMIC_RELEASE);
    bool stop = x->stop;
    uint64_t flush = x->flush_requested;
    bool force = stop || flush != x->flush_done;
    trace__mutex_unlock(&x->lock);

    if (force)
      mark_heads(x);
    drain_all(x);
    if (force)
      drain_all(x); /* settles everything drained so far */
    export_due(x, force);
    /* A pass takes at most the queue's size from the rings: a flush goes on until everything
     * written before it began is exported (stopping, past the deadline, let go and counted). It
     * ends early only when a pass takes nothing (a record the queue cannot take: no memory). */
    for (uint64_t left = force ? behind_marks(x) : 0, before = UINT64_MAX; left && left < before;) {
      drain_all(x);
      drain_all(x);
      export_due(x, true);
      before = left;
      left = behind_marks(x);
    }
    trace__otlp_rings_free(x, false);

    trace__mutex_lock(&x->lock);
    if (flush != x->flush_done) {
      x->flush_done = flush;
      pthread_cond_broadcast(&x->cond);
    }
    if (stop)
      break;
  }
  trace__mutex_unlock(&x->lock);
  return NULL;
}

int trace__otlp_start(trace_otlp *x) {
  sigset_t all, old;
  sigfillset(&all);
  /* The thread inherits this mask: signals go to the application's threads, never to ours. */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&x->thread, NULL, thread_main, x);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0)
    return TRACE_EIO;
  pthread_setname_np(x->thread, "trace-otlp");
  x->running = true;
  return 0;
}

int trace__otlp_flush_wait(trace_otlp *x, uint32_t timeout_ms) {
  uint64_t deadline = trace__otlp_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
  trace__mutex_lock(&x->lock);
  if (!x->running || x->stop || TRACE__LOAD(&x->fork_gen) != TRACE__LOAD(&trace__otlp_fork_gen)) {
    trace__mutex_unlock(&x->lock);
    return TRACE_ECLOSED;
  }
  uint64_t seq = ++x->flush_requested;
  pthread_cond_broadcast(&x->cond);
  int rc = 0;
  while (x->flush_done < seq && x->running) {
    uint64_t now = trace__otlp_now_mono_ns();
    if (now >= deadline) {
      rc = TRACE_EBUSY;
      break;
    }
    struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
    pthread_cond_timedwait(&x->cond, &x->lock.m, &ts);
  }
  trace__mutex_unlock(&x->lock);
  return rc;
}

static void report_totals(trace_otlp *x) {
  trace_otlp_stats s = trace_otlp_get_stats(x);
  if (s.spans_dropped || s.spans_failed || s.logs_dropped || s.logs_failed ||
      s.span_events_dropped)
    trace__otlp_warn("exported %llu spans and %llu logs; lost %llu spans (%llu buffers full, %llu "
                     "failed exports), %llu logs (%llu, %llu), %llu span events",
                     (unsigned long long)s.spans_exported, (unsigned long long)s.logs_exported,
                     (unsigned long long)(s.spans_dropped + s.spans_failed),
                     (unsigned long long)s.spans_dropped, (unsigned long long)s.spans_failed,
                     (unsigned long long)(s.logs_dropped + s.logs_failed),
                     (unsigned long long)s.logs_dropped, (unsigned long long)s.logs_failed,
                     (unsigned long long)s.span_events_dropped);
}

void trace__otlp_shutdown(trace_otlp *x) {
  bool forked = TRACE__LOAD(&x->fork_gen) != TRACE__LOAD(&trace__otlp_fork_gen);
  trace__mutex_lock(&x->lock);
  bool join = x->running && !forked;
  if (join) {
    x->stop = true;
    uint64_t grace = __atomic_load_n(&x->flush_gave_up, __ATOMIC_RELAXED)
                         ? 0
                         : (uint64_t)x->conf.shutdown_timeout_ms * 1000000u;
    x->stop_deadline_ns = trace__otlp_now_mono_ns() + grace;
    pthread_cond_broadcast(&x->cond);
  }
  trace__mutex_unlock(&x->lock);
  if (join)
    pthread_join(x->thread, NULL);
  trace__mutex_lock(&x->lock);
  x->running = false;
  trace__mutex_unlock(&x->lock);
  __atomic_store_n(&x->shut, 1, __ATOMIC_RELEASE);
  trace__otlp_exporters_unregister(x);
  /* What could not be sent in time is lost now: counted as failed. */
  if (!forked) {
    OTLP_STAT_ADD(x, spans_failed, list_count(&x->spans));
    OTLP_STAT_ADD(x, logs_failed, list_count(&x->logs));
    list_free(&x->spans);
    list_free(&x->logs);
    trace__otlp_held_destroy(&x->held);
    trace__otlp_http_free(x->http);
    trace__buf_free(&x->body);
    trace__free(x->threads);
    x->threads = NULL;
  } else {
    /* The parent's exporter thread may have been half way through changing these: leave them. */
    trace__otlp_http_abandon(x->http);
  }
  x->http = NULL;
  trace__otlp_rings_free(x, true);
  report_totals(x);
}

void trace__otlp_restart_after_fork(trace_otlp *x) {
  trace__mutex_lock(&x->lock);
  uint32_t gen = TRACE__LOAD(&trace__otlp_fork_gen);
  if (TRACE__LOAD(&x->fork_gen) == gen || TRACE__LOAD(&x->shut)) {
    trace__mutex_unlock(&x->lock);
    return;
  }
  /* The parent's thread does not exist here. Its private state may have been half updated at
   * the fork: it is forgotten (a little memory, once per fork), never freed. */
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&x->cond, &attr);
  pthread_condattr_destroy(&attr);
  trace__otlp_rings_after_fork(x);
  memset(&x->spans, 0, sizeof x->spans);
  memset(&x->logs, 0, sizeof x->logs);
  x->settled = 0;
  x->threads = NULL; /* the parent's names: this process's threads have others */
  x->threads_cap = 0;
  trace__otlp_held_init(&x->held, (size_t)x->conf.max_queue_size * 4);
  trace__otlp_http_abandon(x->http);
  x->http = trace__otlp_http_new();
  trace__buf_init_growable(&x->body, (size_t)256 << 20);
  x->flush_requested = x->flush_done = 0;
  x->stop = false;
  x->running = false;
  __atomic_store_n(&x->wake_pending, 0, __ATOMIC_RELAXED);
  TRACE__STORE_REL(&x->fork_gen, gen);
  if (x->http || x->conf.discard) {
    if (trace__otlp_start(x) != 0)
      trace__otlp_warn("cannot start the exporter thread in the child process: its spans are "
                       "dropped");
  }
  trace__mutex_unlock(&x->lock);
}
