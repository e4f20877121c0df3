/* The non-blocking writer: a bounded lock-free queue of whole lines and a thread that writes
 * them in batches.
 *
 * The queue is Vyukov's bounded MPMC array used by many producers and one consumer: each 128-byte
 * slot has a sequence number saying whose turn it is; a producer claims one or more consecutive
 * slots with a compare-and-swap on head (after checking that the last of them is free, which
 * means all are: slots are freed in order), copies the line in, and publishes it by storing the
 * first slot's sequence. A line longer than a slot takes several, and one that runs past the end
 * of the array continues at its start (the thread writes it as two pieces of one writev).
 * Claims are made in order, so the lines of one thread are written in the order it queued them.
 *
 * The thread takes every published line from the tail, writes them with one writev (up to
 * IOV_MAX lines), then frees their slots. When it finds nothing, it naps for a millisecond ten
 * times (a caller never pays to wake it during a burst), then says it sleeps and waits on a
 * futex: the next caller that publishes sees the flag and wakes it. That is Dekker's pattern
 * (store, then load the other's flag), which needs a full fence on both sides; the caller's side
 * is the hot one, so the thread pays for both with membarrier() (an asymmetric fence, as
 * trace__synchronize uses): after it, a caller either sees the flag or its line is seen. Where
 * membarrier is unavailable, callers publish with a sequentially consistent store instead. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/civil.h"
#include "internal.h"
#include "../common/guard.h"

#define SLOT 64u /* a typical line (50 to 120 bytes) takes one or two */
#define BATCH_IOV 1024 /* IOV_MAX on Linux */
#define BATCH_BYTES ((size_t)4 << 20)
#define NAPS 10
#define QUEUE_DEFAULT ((size_t)4 << 20)
#define QUEUE_MIN ((size_t)2 << 20)

typedef struct nb_hdr {
  uint64_t seq;  /* atomic: position when free for it, position + 1 when a line starts here */
  uint32_t len;  /* atomic (relaxed; published by seq): the line's bytes */
  uint32_t span; /* atomic (relaxed; published by seq): its slots */
} nb_hdr;

typedef struct nb_writer {
  trace_writer base;
  trace_writer *inner;
  int policy;
  uint64_t block_timeout_ns, exit_timeout_ns;
  uint64_t nslots, mask;
  nb_hdr *hdr;
  char *data;
  uint32_t epoch; /* atomic: the fork epoch whose thread serves the queue */
  uint8_t direct; /* atomic: after the exit flush, callers write to inner themselves */
  /* Producers' line. */
  uint64_t head __attribute__((aligned(64))); /* atomic: next position to claim */
  uint32_t waiters;                           /* atomic: callers waiting on progress */
  /* The thread's line. */
  uint64_t tail __attribute__((aligned(64))); /* atomic: next position to write */
  uint32_t progress;                          /* atomic, futex: bumped after every batch */
  uint32_t sleeping;                          /* atomic, futex: the thread sleeps */
  uint32_t stop;                              /* atomic */
  uint64_t dropped_pending;                   /* atomic: drops not yet reported in the output */
  bool running;
  pthread_t thread;
  trace__wlock fork_lock;
  struct nb_writer *next, *prev; /* live writers, for the exit flush */
} nb_writer;

/* ---------------------------------------------------------------------------------------- */
/* The live list and the exit flush. */

static trace__wlock live_lock;
static nb_writer *live_head;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

static void after_fork(nb_writer *w);
static size_t flush_within(nb_writer *w, uint64_t timeout_ns);

/* exit() from any thread and a return from main come here: write what is queued (bounded), and
 * from then on let callers write directly, for lines logged by atexit handlers that run later. */
static void at_exit(void) {
  trace__wlock_lock(&live_lock);
  for (nb_writer *w = live_head; w; w = w->next) {
    if (__atomic_load_n(&w->epoch, __ATOMIC_ACQUIRE) != __atomic_load_n(&trace__writer_epoch,
                                                                       __ATOMIC_RELAXED))
      after_fork(w);
    size_t left = flush_within(w, w->exit_timeout_ns);
    __atomic_store_n(&w->direct, 1, __ATOMIC_RELEASE);
    if (left) {
      __atomic_add_fetch(&w->base.lost, left, __ATOMIC_RELAXED);
      trace__writer_warn("exit: lines still queued could not be written to ", w->inner->label,
                         ETIMEDOUT, "; lines are being lost");
    }
  }
  trace__wlock_unlock(&live_lock);
}

static void register_at_exit(void) { atexit(at_exit); }

static void live_add(nb_writer *w) {
  pthread_once(&atexit_once, register_at_exit);
  trace__wlock_lock(&live_lock);
  w->prev = NULL;
  w->next = live_head;
  if (live_head)
    live_head->prev = w;
  live_head = w;
  trace__wlock_unlock(&live_lock);
}

static void live_remove(nb_writer *w) {
  trace__wlock_lock(&live_lock);
  if (w->prev)
    w->prev->next = w->next;
  else if (live_head == w)
    live_head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  trace__wlock_unlock(&live_lock);
}

/* ---------------------------------------------------------------------------------------- */
/* The thread. */

/* membarrier(PRIVATE_EXPEDITED) works in this process: callers need no fence of their own. */
static int asym_fence;
static pthread_once_t fence_once = PTHREAD_ONCE_INIT;
static void fence_init(void) {
  int ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  __atomic_store_n(&asym_fence, ok, __ATOMIC_RELEASE);
}

/* The thread's side of the sleep handshake: a full fence on every thread of the process. */
static void heavy_fence(void) {
  if (__atomic_load_n(&asym_fence, __ATOMIC_ACQUIRE) &&
      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
    return;
  TRACE__FULL_FENCE();
}

static const char *const no_fields[] = {NULL};
static const trace_metadata drop_meta = {
    "lines dropped", "trace::writer", __FILE__, "trace_writer_nonblocking", no_fields, NULL,
    __LINE__, 0, TRACE_LEVEL_WARN, TRACE_KIND_EVENT, 0, 0};

/* One line before the batch: how many lines a full queue turned away since the last one; JSON
 * when the batch's lines are JSON objects, a structured record for syslog and journald. */
static void report_drops(nb_writer *w, uint64_t n, bool json) {
  char msg[128];
  snprintf(msg, sizeof msg, "%llu lines dropped: the non-blocking writer's queue was full",
           (unsigned long long)n);
  trace_writer *in = w->inner;
  if (in->ops->encode) {
    trace_record rec = {sizeof rec, &drop_meta, NULL, msg, NULL, NULL, NULL, 0};
    trace_writer_write_record(in, &rec);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  trace__utc_tm(ts.tv_sec, &tm);
  char when[96];
  snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
  char line[512];
  int len;
  if (json)
    len = snprintf(line, sizeof line,
                   "{\"timestamp\":\"%s\",\"level\":\"WARN\",\"fields\":{\"message\":\"%s\","
                   "\"dropped\":%llu},\"target\":\"trace::writer\"}\n",
                   when, msg, (unsigned long long)n);
  else
    len = snprintf(line, sizeof line, "%s  WARN trace::writer: %s dropped=%llu\n", when, msg,
                   (unsigned long long)n);
  in->ops->put(in, line, (size_t)len);
}

/* Writes units one at a time, joining a unit that wrapped around the array. */
static void put_each(trace_writer *in, const struct iovec *iov, const uint32_t *units, size_t n) {
  for (size_t u = 0, i = 0; u < n; i += units[u], u++) {
    if (units[u] == 1) {
      in->ops->put(in, iov[i].iov_base, iov[i].iov_len);
      continue;
    }
    size_t len = iov[i].iov_len + iov[i + 1].iov_len;
    char *joined = trace__malloc(len);
    if (!joined) {
      trace__writer_failed(in, ENOMEM);
      continue;
    }
    memcpy(joined, iov[i].iov_base, iov[i].iov_len);
    memcpy(joined + iov[i].iov_len, iov[i + 1].iov_base, iov[i + 1].iov_len);
    in->ops->put(in, joined, len);
    trace__free(joined);
  }
}

static bool published(nb_writer *w, uint64_t pos) {
  return __atomic_load_n(&w->hdr[pos & w->mask].seq, __ATOMIC_ACQUIRE) == pos + 1;
}

static void *run(void *arg) {
  nb_writer *w = arg;
  trace__sigpipe_blocked_here = true; /* the whole mask is blocked (see start) */
  pthread_setname_np(pthread_self(), "trace-writer");
  struct iovec iov[BATCH_IOV]; /* 20 KiB of this thread's stack */
  uint32_t units[BATCH_IOV];
  const size_t total = (size_t)(w->nslots * SLOT);
  int naps = 0;
  for (;;) {
    uint64_t tail = __atomic_load_n(&w->tail, __ATOMIC_RELAXED);
    uint64_t pos = tail;
    size_t niov = 0, nu = 0, bytes = 0;
    while (niov + 2 <= BATCH_IOV && bytes < BATCH_BYTES && published(w, pos)) {
      const nb_hdr *h = &w->hdr[pos & w->mask];
      size_t off = (size_t)((pos & w->mask) * SLOT);
      size_t len = __atomic_load_n(&h->len, __ATOMIC_RELAXED);
      if (off + len <= total) {
        iov[niov++] = (struct iovec){w->data + off, len};
        units[nu++] = 1;
      } else {
        iov[niov++] = (struct iovec){w->data + off, total - off};
        iov[niov++] = (struct iovec){w->data, len - (total - off)};
        units[nu++] = 2;
      }
      pos += __atomic_load_n(&h->span, __ATOMIC_RELAXED);
      bytes += len;
    }
    if (nu == 0) {
      if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
        break;
      if (naps < NAPS) { /* a burst may go on: look again soon, without making callers wake us */
        naps++;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        continue;
      }
      __atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
      heavy_fence();
      if (__atomic_load_n(&w->hdr[tail & w->mask].seq, __ATOMIC_SEQ_CST) != tail + 1 &&
          !__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST))
        trace__futex_wait(&w->sleeping, 1, 0);
      __atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
      naps = 0;
      continue;
    }
    naps = 0;
    uint64_t dropped = __atomic_exchange_n(&w->dropped_pending, 0, __ATOMIC_RELAXED);
    if (dropped)
      report_drops(w, dropped, ((const char *)iov[0].iov_base)[0] == '{');
    if (w->inner->ops->put_batch)
      w->inner->ops->put_batch(w->inner, iov, units, nu);
    else
      put_each(w->inner, iov, units, nu);
    /* Free the slots in position order, reading each line's span before its header can be
     * reused. The order is what makes a caller's check sound: it claims its slots when the last
     * of them is free, so every slot before that one must have been freed already. Freed last
     * first, a caller could claim a line's slots, publish its own line in the first, and then
     * see this loop mark that slot free: the line was lost and the queue stalled on it. */
    for (uint64_t p = tail; p < pos;) {
      uint32_t span = __atomic_load_n(&w->hdr[p & w->mask].span, __ATOMIC_RELAXED);
      for (uint32_t j = 0; j < span; j++)
        __atomic_store_n(&w->hdr[(p + j) & w->mask].seq, p + j + w->nslots, __ATOMIC_RELEASE);
      p += span;
    }
    __atomic_store_n(&w->tail, pos, __ATOMIC_RELEASE);
    __atomic_add_fetch(&w->progress, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&w->waiters, __ATOMIC_SEQ_CST))
      trace__futex_wake(&w->progress, INT_MAX);
  }
  return NULL;
}

/* Starts the thread with every signal blocked: it must never run the program's handlers, take a
 * signal meant for the program's own threads, or be killed by SIGPIPE. */
static bool start(nb_writer *w) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&w->thread, NULL, run, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  w->running = rc == 0;
  return w->running;
}

static void wake(nb_writer *w) {
  if (__atomic_exchange_n(&w->sleeping, 0, __ATOMIC_SEQ_CST))
    trace__futex_wake(&w->sleeping, 1);
}

/* In the child of a fork: the parent's queued lines are the parent's to write. Start empty, with
 * a thread of our own. */
static TRACE__NOINLINE void after_fork(nb_writer *w) {
  TRACE__KEEP_ERRNO();
  trace__wlock_lock(&w->fork_lock);
  uint32_t now = __atomic_load_n(&trace__writer_epoch, __ATOMIC_RELAXED);
  if (__atomic_load_n(&w->epoch, __ATOMIC_RELAXED) != now) {
    for (uint64_t i = 0; i < w->nslots; i++)
      w->hdr[i].seq = i;
    w->head = w->tail = 0;
    w->waiters = w->progress = w->sleeping = w->stop = 0;
    w->dropped_pending = 0;
    w->running = false;
    if (!__atomic_load_n(&w->direct, __ATOMIC_RELAXED) && !start(w))
      __atomic_store_n(&w->direct, 1, __ATOMIC_RELAXED); /* no thread: write directly */
    __atomic_store_n(&w->epoch, now, __ATOMIC_RELEASE);
  }
  trace__wlock_unlock(&w->fork_lock);
}

/* ---------------------------------------------------------------------------------------- */
/* Callers. */

static TRACE__NOINLINE int drop(nb_writer *w) {
  __atomic_add_fetch(&w->base.dropped, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&w->dropped_pending, 1, __ATOMIC_RELAXED);
  return EAGAIN;
}

/* BLOCKING: waits for the thread's next batch, at most until the deadline. */
static TRACE__NOINLINE bool wait_for_room(nb_writer *w, uint64_t *deadline, uint64_t last) {
  uint64_t now = trace__mono_ns();
  if (!*deadline)
    *deadline = now + w->block_timeout_ns;
  if (now >= *deadline)
    return false;
  TRACE__KEEP_ERRNO();
  __atomic_add_fetch(&w->waiters, 1, __ATOMIC_SEQ_CST);
  uint32_t seen = __atomic_load_n(&w->progress, __ATOMIC_SEQ_CST);
  wake(w);
  if ((int64_t)(__atomic_load_n(&w->hdr[last & w->mask].seq, __ATOMIC_ACQUIRE) - last) < 0) {
    uint64_t left = *deadline - now;
    trace__futex_wait(&w->progress, seen, left < 10000000u ? left : 10000000u);
  }
  __atomic_sub_fetch(&w->waiters, 1, __ATOMIC_RELAXED);
  return true;
}

static int nb_put(trace_writer *base, const char *p, size_t n) {
  nb_writer *w = (nb_writer *)base;
  if (TRACE__UNLIKELY(__atomic_load_n(&w->epoch, __ATOMIC_ACQUIRE) !=
                      __atomic_load_n(&trace__writer_epoch, __ATOMIC_RELAXED)))
    after_fork(w);
  if (TRACE__UNLIKELY(__atomic_load_n(&w->direct, __ATOMIC_ACQUIRE)))
    return w->inner->ops->put(w->inner, p, n);
  uint64_t k = (n + SLOT - 1) / SLOT;
  if (TRACE__UNLIKELY(k > w->nslots / 2)) {
    trace__writer_failed(base, EMSGSIZE); /* longer than half the queue: never queued */
    return EMSGSIZE;
  }
  uint64_t pos = __atomic_load_n(&w->head, __ATOMIC_RELAXED), deadline = 0;
  for (;;) {
    uint64_t last = pos + k - 1;
    uint64_t seq = __atomic_load_n(&w->hdr[last & w->mask].seq, __ATOMIC_ACQUIRE);
    int64_t diff = (int64_t)(seq - last);
    if (TRACE__LIKELY(diff == 0)) {
      if (__atomic_compare_exchange_n(&w->head, &pos, pos + k, true, __ATOMIC_RELAXED,
                                      __ATOMIC_RELAXED))
        break;
    } else if (diff < 0) { /* full */
      if (w->policy == TRACE_NONBLOCKING_LOSSY || !wait_for_room(w, &deadline, last))
        return drop(w);
      pos = __atomic_load_n(&w->head, __ATOMIC_RELAXED);
    } else {
      pos = __atomic_load_n(&w->head, __ATOMIC_RELAXED);
    }
  }
  const size_t total = (size_t)(w->nslots * SLOT);
  size_t off = (size_t)((pos & w->mask) * SLOT);
  if (TRACE__LIKELY(off + n <= total)) {
    memcpy(w->data + off, p, n);
  } else {
    memcpy(w->data + off, p, total - off);
    memcpy(w->data, p + (total - off), n - (total - off));
  }
  nb_hdr *h = &w->hdr[pos & w->mask];
  __atomic_store_n(&h->len, (uint32_t)n, __ATOMIC_RELAXED);
  __atomic_store_n(&h->span, (uint32_t)k, __ATOMIC_RELAXED);
  if (TRACE__LIKELY(__atomic_load_n(&asym_fence, __ATOMIC_RELAXED))) {
    __atomic_store_n(&h->seq, pos + 1, __ATOMIC_RELEASE);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the thread's membarrier does the rest */
  } else {
    __atomic_store_n(&h->seq, pos + 1, __ATOMIC_SEQ_CST);
  }
  if (TRACE__UNLIKELY(__atomic_load_n(&w->sleeping, __ATOMIC_RELAXED)))
    wake(w);
  return 0;
}

/* Lines from the tail to target still to be written (approximate while callers are queueing). */
static size_t lines_between(nb_writer *w, uint64_t from, uint64_t to) {
  size_t n = 0;
  for (uint64_t p = from; p < to; n++) {
    const nb_hdr *h = &w->hdr[p & w->mask];
    uint32_t span = __atomic_load_n(&h->seq, __ATOMIC_ACQUIRE) == p + 1
                        ? __atomic_load_n(&h->span, __ATOMIC_RELAXED)
                        : 1;
    p += span ? span : 1;
  }
  return n;
}

static size_t flush_within(nb_writer *w, uint64_t timeout_ns) {
  if (__atomic_load_n(&w->epoch, __ATOMIC_ACQUIRE) !=
      __atomic_load_n(&trace__writer_epoch, __ATOMIC_RELAXED))
    after_fork(w);
  uint64_t target = __atomic_load_n(&w->head, __ATOMIC_ACQUIRE);
  uint64_t deadline = trace__mono_ns() + timeout_ns;
  for (;;) {
    uint64_t tail = __atomic_load_n(&w->tail, __ATOMIC_ACQUIRE);
    if (tail >= target || !w->running)
      return tail >= target ? 0 : lines_between(w, tail, target);
    uint64_t now = trace__mono_ns();
    if (now >= deadline)
      return lines_between(w, tail, target);
    __atomic_add_fetch(&w->waiters, 1, __ATOMIC_SEQ_CST);
    uint32_t seen = __atomic_load_n(&w->progress, __ATOMIC_SEQ_CST);
    wake(w);
    if (__atomic_load_n(&w->tail, __ATOMIC_ACQUIRE) < target) {
      uint64_t left = deadline - now;
      trace__futex_wait(&w->progress, seen, left < 10000000u ? left : 10000000u);
    }
    __atomic_sub_fetch(&w->waiters, 1, __ATOMIC_RELAXED);
  }
}

static size_t nb_flush_timeout(trace_writer *base, uint32_t timeout_ms) {
  nb_writer *w = (nb_writer *)base;
  size_t left = flush_within(w, (uint64_t)timeout_ms * 1000000u);
  trace_writer_flush(w->inner);
  return left;
}

static void nb_flush(trace_writer *base) {
  nb_writer *w = (nb_writer *)base;
  nb_flush_timeout(base, (uint32_t)(w->exit_timeout_ns / 1000000u));
}

static int nb_encode(trace_writer *base, const trace_record *rec, trace__buf *b) {
  trace_writer *in = ((nb_writer *)base)->inner;
  return in->ops->encode(in, rec, b);
}

static int nb_reopen(trace_writer *base) { return trace_writer_reopen(((nb_writer *)base)->inner); }

static void nb_stats(const trace_writer *base, trace_writer_stats *s) {
  trace_writer_stats in = trace_writer_get_stats(((const nb_writer *)base)->inner);
  s->lost += in.lost;
  s->dropped += in.dropped;
  if (in.last_error)
    s->last_error = in.last_error;
}

static void nb_destroy(trace_writer *base) {
  nb_writer *w = (nb_writer *)base;
  live_remove(w);
  if (__atomic_load_n(&w->epoch, __ATOMIC_ACQUIRE) !=
      __atomic_load_n(&trace__writer_epoch, __ATOMIC_RELAXED))
    after_fork(w);
  if (w->running) {
    __atomic_store_n(&w->stop, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST); /* so that wake() always wakes */
    wake(w);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + w->exit_timeout_ns;
    until.tv_sec += (time_t)(ns / 1000000000u);
    until.tv_nsec = (long)(ns % 1000000000u);
    if (pthread_timedjoin_np(w->thread, NULL, &until) != 0) {
      /* The thread is stuck in a write that does not return (a pipe nobody reads): it still
       * uses the queue and the inner writer, so they are left to it rather than freed. */
      pthread_detach(w->thread);
      trace__writer_warn("the non-blocking writer's thread is stuck writing to ", w->inner->label,
                         ETIMEDOUT, "; lines are being lost");
      return;
    }
  }
  trace_writer_free(w->inner);
  trace__free_lines(w->hdr);
  trace__free_lines(w->data);
  trace__free_lines(w);
}

static const writer_ops nb_ops = {
    .put = nb_put,
    .flush = nb_flush,
    .flush_timeout = nb_flush_timeout,
    .reopen = nb_reopen,
    .stats = nb_stats,
    .destroy = nb_destroy,
};
static const writer_ops nb_record_ops = {
    .put = nb_put,
    .encode = nb_encode,
    .flush = nb_flush,
    .flush_timeout = nb_flush_timeout,
    .reopen = nb_reopen,
    .stats = nb_stats,
    .destroy = nb_destroy,
};

void trace_nonblocking_options_init(trace_nonblocking_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->policy = TRACE_NONBLOCKING_LOSSY;
  o->queue_bytes = QUEUE_DEFAULT;
  o->block_timeout_ms = 100;
  o->exit_timeout_ms = 5000;
}

trace_writer *trace_writer_nonblocking(trace_writer *inner, const trace_nonblocking_options *opts) {
  if (!inner)
    return NULL;
  TRACE__KEEP_ERRNO();
  trace_nonblocking_options o;
  trace_nonblocking_options_init(&o);
  if (opts)
    o = *opts;
  nb_writer *w = NULL;
  if (o.struct_size != sizeof o ||
      (o.policy != TRACE_NONBLOCKING_LOSSY && o.policy != TRACE_NONBLOCKING_BLOCKING))
    goto fail;
  w = trace__alloc_lines(sizeof *w);
  if (!w)
    goto fail;
  char label[128];
  snprintf(label, sizeof label, "%s", inner->label);
  trace__writer_init(&w->base, inner->ops->encode ? &nb_record_ops : &nb_ops, label);
  w->base.terminal = inner->terminal;
  w->base.quiet_reports = inner->quiet_reports;
  w->inner = inner;
  w->policy = o.policy;
  w->block_timeout_ns = (uint64_t)o.block_timeout_ms * 1000000u;
  w->exit_timeout_ns = (uint64_t)o.exit_timeout_ms * 1000000u;
  size_t bytes = o.queue_bytes < QUEUE_MIN ? QUEUE_MIN : o.queue_bytes;
  w->nslots = 1;
  while (w->nslots * SLOT < bytes)
    w->nslots <<= 1;
  w->mask = w->nslots - 1;
  w->hdr = trace__alloc_lines((size_t)w->nslots * sizeof *w->hdr);
  w->data = trace__alloc_lines((size_t)(w->nslots * SLOT));
  if (!w->hdr || !w->data)
    goto fail;
  for (uint64_t i = 0; i < w->nslots; i++)
    w->hdr[i].seq = i;
  w->epoch = __atomic_load_n(&trace__writer_epoch, __ATOMIC_RELAXED);
  pthread_once(&fence_once, fence_init);
  if (!start(w))
    goto fail;
  live_add(w);
  return &w->base;
fail:
  if (w) {
    trace__free_lines(w->hdr);
    trace__free_lines(w->data);
    trace__free_lines(w);
  }
  trace_writer_free(inner);
  return NULL;
}
