/* Per-thread rings: each thread appends its records to a buffer of its own (one per exporter),
 * published with a release store; the exporter thread reads them and frees the space the same
 * way. Neither side takes a lock or allocates in steady state; a full ring drops the record.
 *
 * Lifetime: a ring belongs to its exporter. When its thread exits, it is marked orphaned (the
 * exporter frees it once drained); the exporter frees every ring when it is destroyed. Threads
 * find their ring through a thread-local list keyed by the exporter's serial number, so a list
 * entry of an exporter that is gone is never followed. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "internal.h"

__thread otlp_tls_ring *trace__otlp_tls __attribute__((tls_model("initial-exec")));
uint32_t trace__otlp_fork_gen;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static trace__mutex live_lock; /* the live exporters' list */
static trace_otlp *live_head;

static void child_after_fork(void) { __atomic_add_fetch(&trace__otlp_fork_gen, 1, __ATOMIC_RELAXED); }

static trace_otlp *live_find(uint64_t serial) {
  for (trace_otlp *x = live_head; x; x = x->next_live)
    if (x->serial == serial)
      return x;
  return NULL;
}

/* A thread exits: its rings are orphaned, and its list freed. */
static void thread_exit(void *arg) {
  otlp_tls_ring *t = arg;
  trace__mutex_lock(&live_lock);
  while (t) {
    otlp_tls_ring *next = t->next;
    if (live_find(t->serial))
      __atomic_store_n(&t->r->orphaned, 1, __ATOMIC_RELEASE);
    trace__free(t);
    t = next;
  }
  trace__mutex_unlock(&live_lock);
  trace__otlp_tls = NULL;
}

static void init_once(void) {
  trace__mutex_init(&live_lock, TRACE__MUTEX_INNER);
  pthread_key_create(&exit_key, thread_exit);
  pthread_atfork(NULL, NULL, child_after_fork);
}

void trace__otlp_exporters_register(trace_otlp *x) {
  pthread_once(&once, init_once);
  static uint64_t next_serial = 1;
  trace__mutex_lock(&live_lock);
  x->serial = next_serial++;
  x->next_live = live_head;
  live_head = x;
  trace__mutex_unlock(&live_lock);
}

void trace__otlp_exporters_unregister(trace_otlp *x) {
  trace__mutex_lock(&live_lock);
  for (trace_otlp **p = &live_head; *p; p = &(*p)->next_live) {
    if (*p == x) {
      *p = x->next_live;
      break;
    }
  }
  trace__mutex_unlock(&live_lock);
}

/* Whether the thread's name differs from the one its ring last announced. */
static bool name_changed(const ring *r) {
  const char *name = trace_thread_name();
  size_t n = name ? strnlen(name, sizeof r->name - 1) : 0;
  return n != r->name_len || memcmp(name, r->name, n) != 0;
}

/* A REC_NAME record at at: thread id's name is name (len bytes, cut to what a record holds). */
static size_t put_name(char *at, uint32_t id, const char *name, size_t len) {
  rec_name *rn = (rec_name *)(void *)at;
  memset(rn, 0, sizeof *rn);
  rn->size = sizeof *rn;
  rn->kind = REC_NAME;
  rn->len = (uint8_t)TRACE__MIN(len, sizeof rn->name - 1);
  rn->thread_id = id;
  memcpy(rn->name, name, rn->len);
  return sizeof *rn;
}

/* Announces the thread's name to the exporter: a REC_NAME record at position head. */
static size_t write_name(ring *r, char *at) {
  const char *name = trace_thread_name();
  size_t n = name ? strnlen(name, sizeof r->name - 1) : 0;
  memset(r->name, 0, sizeof r->name);
  memcpy(r->name, name, n);
  r->name_len = (uint8_t)n;
  return put_name(at, r->thread_id, r->name, n);
}

bool trace__otlp_ring_put_name(trace_otlp *x, ring *r, uint32_t id, const char *name,
                               size_t len) {
  size_t got;
  char *at = trace__otlp_ring_reserve(r, sizeof(rec_name), sizeof(rec_name), &got);
  if (!at)
    return false;
  trace__otlp_ring_commit(x, r, put_name(at, id, name, len));
  return true;
}

TRACE__NOINLINE ring *trace__otlp_ring_slow(trace_otlp *x) {
  TRACE__KEEP_ERRNO();
  /* Known already (another exporter was used last), dropping entries of exporters gone. */
  trace__mutex_lock(&live_lock);
  otlp_tls_ring **p = &trace__otlp_tls, *found = NULL;
  while (*p) {
    otlp_tls_ring *t = *p;
    if (t->serial == x->serial) {
      *p = t->next;
      found = t;
    } else if (!live_find(t->serial)) {
      *p = t->next;
      trace__free(t);
    } else {
      p = &t->next;
    }
  }
  trace__mutex_unlock(&live_lock);
  if (!found) {
    ring *r = trace__calloc(1, sizeof *r);
    char *buf = r ? trace__malloc(x->conf.thread_buffer_size) : NULL;
    found = buf ? trace__malloc(sizeof *found) : NULL;
    if (!found) {
      trace__free(buf);
      trace__free(r);
      pthread_setspecific(exit_key, trace__otlp_tls);
      return NULL;
    }
    r->buf = buf;
    r->cap = (uint32_t)x->conf.thread_buffer_size;
    r->thread_id = trace_thread_id();
    r->os_tid = (int)syscall(SYS_gettid);
    r->head = write_name(r, r->buf); /* published with the ring, under the lock below */
    r->wake_check = r->cap / 8;
    trace__mutex_lock(&x->rings_lock);
    r->next = x->rings;
    x->rings = r;
    trace__mutex_unlock(&x->rings_lock);
    found->serial = x->serial;
    found->r = r;
  }
  found->next = trace__otlp_tls;
  trace__otlp_tls = found;
  pthread_setspecific(exit_key, found);
  return found->r;
}

char *trace__otlp_ring_reserve_slow(ring *r, size_t want, size_t at_least, size_t *got) {
  uint64_t head = r->head;
  size_t cap = r->cap;
  /* Always a fresh look here (the end of the buffer or a full ring: rare): a stale tail that
   * leaves room for want but not for a pad and at_least would refuse every record for ever,
   * since nothing is committed then and nothing else looks again. */
  r->tail_seen = TRACE__LOAD_ACQ(&r->tail);
  size_t free = cap - (size_t)(head - r->tail_seen);
  size_t off = (size_t)head & (cap - 1), contig = cap - off; /* cap: a power of two */
  if (TRACE__LIKELY(contig >= want && free >= want)) {
    *got = want;
    return r->buf + off;
  }
  if (contig >= at_least && free >= contig && contig < want) {
    *got = contig;
    return r->buf + off;
  }
  if (contig < at_least) {
    /* Not enough before the end: pad to it and start again at the beginning. */
    if (contig + at_least > free)
      return NULL;
    rec_head *pad = (rec_head *)(void *)(r->buf + off);
    pad->size = (uint32_t)contig;
    pad->kind = REC_PAD;
    r->pad = (uint32_t)contig;
    free -= contig;
    *got = TRACE__MIN(want, TRACE__MIN(free, cap));
    return r->buf;
  }
  if (free < at_least)
    return NULL;
  *got = TRACE__MIN(want, free);
  return r->buf + off;
}

/* Every eighth of the ring written (trace__otlp_ring_commit), a look at how full it is: a
 * quarter full, the exporter should drain it soon. Between looks the producer reads nothing the
 * exporter writes. */
TRACE__NOINLINE void trace__otlp_ring_check(trace_otlp *x, ring *r) {
  uint64_t head = r->head;
  r->wake_check = head + r->cap / 8;
  r->tail_seen = TRACE__LOAD_ACQ(&r->tail);
  if (head - r->tail_seen > r->cap / 4)
    trace__otlp_wake(x);
  /* A thread renamed since its last record is seen with its new name soon. */
  size_t got;
  char *at;
  if (name_changed(r) &&
      (at = trace__otlp_ring_reserve(r, sizeof(rec_name), sizeof(rec_name), &got))) {
    size_t n = write_name(r, at);
    TRACE__STORE_REL(&r->head, r->head + r->pad + n);
    r->pad = 0;
  }
}

void trace__otlp_ring_drain(ring *r, ring_fn fn, void *arg) {
  uint64_t head = TRACE__LOAD_ACQ(&r->head);
  uint64_t tail = r->tail;
  while (tail < head) {
    size_t off = (size_t)tail & (r->cap - 1);
    const rec_head *h = (const rec_head *)(const void *)(r->buf + off);
    /* A record is whole, 8-aligned and inside what was published; anything else is a bug or
     * memory a forked parent left half written: skip the lot rather than loop on it. */
    if (h->size < 8 || (h->size & 7) || h->size > head - tail || h->size > r->cap - off) {
      tail = head;
      break;
    }
    if (h->kind != REC_PAD && !fn(arg, r, h))
      break;
    tail += h->size;
  }
  TRACE__STORE_REL(&r->tail, tail);
}

void trace__otlp_rings_free(trace_otlp *x, bool all) {
  trace__mutex_lock(&x->rings_lock);
  for (ring **p = &x->rings; *p;) {
    ring *r = *p;
    if (all || (TRACE__LOAD_ACQ(&r->orphaned) && TRACE__LOAD_ACQ(&r->head) == r->tail)) {
      *p = r->next;
      trace__free(r->buf);
      trace__free(r);
    } else {
      p = &r->next;
    }
  }
  trace__mutex_unlock(&x->rings_lock);
}

void trace__otlp_rings_after_fork(trace_otlp *x) {
  /* The forking thread is the only one here (with a new thread id): its ring is the one its
   * thread-local list names. */
  ring *own = NULL;
  for (otlp_tls_ring *t = trace__otlp_tls; t; t = t->next)
    if (t->serial == x->serial)
      own = t->r;
  trace__mutex_lock(&x->rings_lock);
  for (ring *r = x->rings; r; r = r->next) {
    /* What the parent had buffered is the parent's to send. */
    r->tail = r->head;
    r->tail_seen = r->head;
    r->pad = 0;
    if (r == own)
      r->os_tid = (int)syscall(SYS_gettid);
    else
      r->orphaned = 1; /* its thread does not exist here */
  }
  trace__mutex_unlock(&x->rings_lock);
}

void trace__otlp_wake(trace_otlp *x) {
  if (TRACE__LOAD(&x->wake_pending) || __atomic_exchange_n(&x->wake_pending, 1, __ATOMIC_ACQ_REL))
    return;
  trace__mutex_lock(&x->lock);
  pthread_cond_signal(&x->cond);
  trace__mutex_unlock(&x->lock);
}

void trace__otlp_drop(trace_otlp *x, bool span) {
  if (span)
    OTLP_STAT_ADD(x, spans_dropped, 1);
  else
    OTLP_STAT_ADD(x, logs_dropped, 1);
  if (!__atomic_exchange_n(&x->warned_drop, true, __ATOMIC_RELAXED))
    trace__otlp_warn("dropping %s: a thread's buffer is full (the exporter is behind or the "
                     "collector unreachable); counted in trace_otlp_get_stats, totals at shutdown",
                     span ? "spans" : "events");
}
