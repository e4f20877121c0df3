/* Per-thread rings: created on a thread's first record, written without locks, read by the
 * reporter (STREAM) or a dump (FLIGHT), kept past the thread's exit until they are read (STREAM)
 * or reused (FLIGHT). */
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/thread.h"
#include "record.h"

__thread col_tcache trace__col_tcache __attribute__((tls_model("initial-exec")));

static void remember(col *c, col_thread *t) {
  trace__col_tcache.c = c;
  trace__col_tcache.gen = c->gen;
  trace__col_tcache.t = t;
}

col_thread *trace__col_thread_find(col *c) {
  col_thread *t = trace__local_get(c->local_key);
  if (t)
    remember(c, t);
  return t;
}

col_thread *trace__col_thread_slow(col *c) {
  col_thread *t = trace__col_thread_find(c);
  if (t)
    return t;
  t = trace__col_thread_new(c);
  if (t)
    remember(c, t);
  return t;
}

const col_entry *trace__col_innermost(const col_thread *t) {
  uint32_t top = t->depth - 1; /* the entries kept: the first COL_STACK_MAX, then deep_cap */
  if (top < COL_STACK_MAX)
    return &t->stack[top];
  if (top - COL_STACK_MAX < t->deep_cap)
    return &t->deep[top - COL_STACK_MAX];
  return t->deep_cap ? &t->deep[t->deep_cap - 1] : &t->stack[COL_STACK_MAX - 1];
}

col_entry *trace__col_entry_new(col_thread *t) {
  uint32_t d = t->depth;
  if (d < COL_STACK_MAX)
    return &t->stack[d];
  uint32_t i = d - COL_STACK_MAX;
  if (i == t->deep_cap) {
    /* Grown only at its end: every entry below the capacity was written when it was entered
     * (past an entry that could not be kept, none is kept until the stack is back below it). */
    uint32_t cap = t->deep_cap ? 2 * t->deep_cap : COL_STACK_MAX;
    col_entry *deep = cap > t->deep_cap ? trace__realloc(t->deep, cap * sizeof *deep) : NULL;
    if (!deep)
      return NULL;
    t->deep = deep;
    t->deep_cap = cap;
  }
  return i < t->deep_cap ? &t->deep[i] : NULL;
}

void trace__col_stack_free(col_thread *t) {
  trace__free(t->deep);
  t->deep = NULL;
  t->deep_cap = 0;
}

static void thread_reset(col_thread *t) {
  /* limit 0: the first record takes the slow path, which opens the first page. */
  __atomic_store_n(&t->pos, 0, __ATOMIC_RELEASE);
  t->limit = 0;
  __atomic_store_n(&t->tail, 0, __ATOMIC_RELEASE);
  t->woke = 0;
}

/* A ring for a new thread: a drained one from the pool (STREAM), the oldest ring of an exited
 * thread when the flight budget is spent (FLIGHT), or a new one. Under c->lock. */
static col_thread *ring_take(col *c) {
  col_thread *t = NULL;
  if (c->free_rings) {
    t = c->free_rings;
    c->free_rings = t->next;
  } else if (c->mode == TRACE_COLLECTOR_FLIGHT && !c->dumping &&
             c->ring_total + c->ring_bytes > c->o.flight_bytes) {
    col_thread **oldest = NULL;
    for (col_thread **p = &c->threads; *p; p = &(*p)->next)
      if (TRACE__LOAD(&(*p)->exited) && (!oldest || (*p)->retired_seq < (*oldest)->retired_seq))
        oldest = p;
    if (oldest) {
      t = *oldest;
      *oldest = t->next;
    }
  }
  if (t) {
    trace__col_stack_free(t);
    /* What the ring counted stays counted. */
    c->recorded_total += t->pos;
    c->dropped_total += t->dropped;
    unsigned char *data = t->data;
    uint64_t size = t->size;
    memset(t, 0, sizeof *t);
    t->data = data;
    t->size = size;
    return t;
  }
  t = trace__alloc_lines(sizeof *t);
  if (!t)
    return NULL;
  t->data = trace__alloc_lines(c->ring_bytes);
  if (!t->data) {
    trace__free_lines(t);
    return NULL;
  }
  t->size = c->ring_bytes;
  c->ring_total += c->ring_bytes;
  return t;
}

col_thread *trace__col_thread_new(col *c) {
  if (TRACE__LOAD(&c->destroying))
    return NULL;
  trace__mutex_lock(&c->lock);
  col_thread *t = ring_take(c);
  if (t) {
    t->c = c;
    t->pages = c->slots.pages;
    t->string_bytes = c->string_bytes;
    t->mask = t->size - 1;
    t->clock = (uint8_t)c->clock.kind;
    t->scope_fast = t->clock == COL_CLOCK_TSC && !c->exact;
    t->number = trace_thread_id();
    const char *name = trace_thread_name();
    strncpy(t->name, name, sizeof t->name - 1);
    thread_reset(t);
    t->next = c->threads;
    c->threads = t;
    c->threads_seen++;
  }
  trace__mutex_unlock(&c->lock);
  if (t && !trace__local_set(c->local_key, t)) {
    /* No thread-local slot (out of memory): the ring goes back; this thread does not record. */
    trace__mutex_lock(&c->lock);
    TRACE__STORE(&t->exited, 1);
    t->retired_seq = ++c->retire_seq;
    trace__mutex_unlock(&c->lock);
    return NULL;
  }
  return t;
}

void trace__col_thread_exit(void *thread) {
  col_thread *t = thread;
  col *c = t->c;
  /* Whatever this thread records from now on (a later destructor that logs) finds no ring. */
  if (trace__col_tcache.t == t)
    memset(&trace__col_tcache, 0, sizeof trace__col_tcache);
  if (TRACE__LOAD(&c->destroying))
    return; /* the collector frees every ring itself */
  trace__col_stack_free(t);
  trace__col_slot_release_all(&c->slots, t);
  trace__mutex_lock(&c->lock);
  t->retired_seq = ++c->retire_seq;
  __atomic_store_n(&t->exited, 1, __ATOMIC_RELEASE);
  trace__mutex_unlock(&c->lock);
  /* Its last records are reported without waiting for the next round's timer. */
  if (c->mode == TRACE_COLLECTOR_STREAM)
    trace__col_wake_reporter(c);
}

void trace__col_rings_reap(col *c) {
  trace__mutex_lock(&c->lock);
  for (col_thread **p = &c->threads; *p;) {
    col_thread *t = *p;
    if (__atomic_load_n(&t->exited, __ATOMIC_ACQUIRE) &&
        TRACE__LOAD(&t->tail) == __atomic_load_n(&t->pos, __ATOMIC_ACQUIRE)) {
      *p = t->next;
      t->next = c->free_rings;
      c->free_rings = t;
      continue;
    }
    p = &t->next;
  }
  trace__mutex_unlock(&c->lock);
}

void trace__col_rings_free(col *c) {
  col_thread *lists[2] = {c->threads, c->free_rings};
  for (int i = 0; i < 2; i++) {
    for (col_thread *t = lists[i], *next; t; t = next) {
      next = t->next;
      trace__col_stack_free(t);
      trace__free_lines(t->data);
      trace__free_lines(t);
    }
  }
  c->threads = c->free_rings = NULL;
}

void trace__col_wake_reporter(col *c) {
  __atomic_add_fetch(&c->wake, 1, __ATOMIC_RELEASE);
  if (__atomic_load_n(&c->sleeping, __ATOMIC_ACQUIRE)) {
    int saved = errno;
    syscall(SYS_futex, &c->wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
  }
}

/* The next page: the rest of this one is marked empty, then the limit is set to the end of the
 * new page or, in STREAM mode, to what the reporter has freed, whichever comes first. In STREAM
 * mode nothing is written at a position the reporter has not read yet (pos - tail never exceeds
 * the ring's size). */
uint64_t *trace__col_reserve_slow(col_thread *t, uint32_t size) {
  col *c = t->c;
  uint64_t pos = t->pos;
  uint64_t in_page = pos & (COL_PAGE - 1);
  uint64_t free_end = UINT64_MAX;
  if (c->mode == TRACE_COLLECTOR_STREAM) {
    uint64_t tail = __atomic_load_n(&t->tail, __ATOMIC_ACQUIRE);
    free_end = tail + t->size;
    /* Half full: the reporter is told now rather than at its next tick, once per fill. */
    if (pos - tail >= t->size / 2) {
      if (!t->woke) {
        t->woke = 1;
        trace__col_wake_reporter(c);
      }
    } else {
      t->woke = 0;
    }
  }
  if (in_page + size > COL_PAGE) {
    /* The record does not fit in the rest of this page: the rest is marked empty and skipped,
     * once the reporter is done with what was there. */
    uint64_t next = pos - in_page + COL_PAGE;
    if (next > free_end)
      goto drop;
    COL_PUT((uint64_t *)(void *)(t->data + (pos & t->mask)), col_w0(COL_PAD, 0, 0));
    pos = next;
    __atomic_store_n(&t->pos, pos, __ATOMIC_RELEASE);
  }
  uint64_t limit = (pos | (COL_PAGE - 1)) + 1;
  if (free_end < limit)
    limit = free_end;
  t->limit = limit;
  if (pos + size > limit)
    goto drop;
  trace__col_reporter_ensure(c); /* a forked child's first page */
  /* A thread renamed since its last page: the reporter and dumps see the new name. */
  const char *name = trace_thread_name();
  if (TRACE__UNLIKELY(strncmp(name, t->name, sizeof t->name - 1) != 0)) {
    trace__mutex_lock(&c->lock);
    strncpy(t->name, name, sizeof t->name - 1);
    trace__mutex_unlock(&c->lock);
  }
  return (uint64_t *)(void *)(t->data + (pos & t->mask));
drop:
  /* STREAM, and the reporter is behind: the record is lost, and counted. The limit makes the
   * next record check again. */
  t->limit = pos;
  __atomic_add_fetch(&t->dropped, 1, __ATOMIC_RELAXED);
  return NULL;
}
