/* Span slots of the standalone subscriber. Each thread allocates from and frees to a list of its
 * own; lists move between threads in batches of COL_BATCH through a lock-free stack (a thread
 * that only creates spans and one that only closes them trade a batch every 64 spans, without a
 * lock). New pages of slots are the only allocation, under a lock, when every slot is in use. */
#include "../common/alloc.h"
#include "internal.h"

bool trace__col_slots_init(col_slots *s) {
  memset(s, 0, sizeof *s);
  /* Untouched pointer pages cost no memory: the array is as large as the id space allows. */
  s->pages = trace__calloc(COL_SLOT_PAGES, sizeof *s->pages);
  if (!s->pages)
    return false;
  trace__mutex_init(&s->grow_lock, TRACE__MUTEX_INNER);
  return true;
}

void trace__col_slots_free(col_slots *s) {
  if (!s->pages)
    return;
  uint32_t pages = (s->count + COL_SLOTS_PER_PAGE - 1) / COL_SLOTS_PER_PAGE;
  for (uint32_t i = 0; i < pages; i++) {
    for (uint32_t j = 0; j < COL_SLOTS_PER_PAGE; j++)
      trace__free(s->pages[i][j].tracestate);
    trace__free_lines(s->pages[i]);
  }
  trace__free(s->pages);
  s->pages = NULL;
  trace__mutex_destroy(&s->grow_lock);
}

/* The shared stack of batches: the head word is (tag << 32 | index + 1 of the first slot); the
 * tag changes on every push and pop, so a head that was popped and pushed back in between is
 * not mistaken for the one read (ABA). */
static void batch_push(col_slots *s, uint32_t first, uint32_t count) {
  col_slot *f = col_slot_at(s, first - 1);
  f->batch_count = count;
  uint64_t head = __atomic_load_n(&s->batches, __ATOMIC_ACQUIRE);
  uint64_t want;
  do {
    TRACE__STORE(&f->next_batch, (uint32_t)head);
    want = ((head >> 32) + 1) << 32 | first;
  } while (!__atomic_compare_exchange_n(&s->batches, &head, want, true, __ATOMIC_RELEASE,
                                        __ATOMIC_ACQUIRE));
}

static uint32_t batch_pop(col_slots *s) {
  uint64_t head = __atomic_load_n(&s->batches, __ATOMIC_ACQUIRE);
  for (;;) {
    uint32_t first = (uint32_t)head;
    if (!first)
      return 0;
    /* The slot stays a slot (pages are never freed while the collector lives), so reading its
     * link is safe even if another thread pops the batch first: the CAS then fails. */
    uint32_t next = TRACE__LOAD(&col_slot_at(s, first - 1)->next_batch);
    uint64_t want = ((head >> 32) + 1) << 32 | next;
    if (__atomic_compare_exchange_n(&s->batches, &head, want, true, __ATOMIC_ACQUIRE,
                                    __ATOMIC_ACQUIRE))
      return first;
  }
}

/* A new page of slots, linked as one list; returns its first index + 1, 0 if out of memory or
 * out of ids. */
static uint32_t grow(col_slots *s, uint32_t *count) {
  uint32_t first = 0;
  trace__mutex_lock(&s->grow_lock);
  uint32_t n = s->count;
  uint32_t page = n / COL_SLOTS_PER_PAGE;
  if (page < COL_SLOT_PAGES) {
    col_slot *p = trace__alloc_lines(COL_SLOTS_PER_PAGE * sizeof *p);
    if (p) {
      memset(p, 0, COL_SLOTS_PER_PAGE * sizeof *p);
      for (uint32_t i = 0; i < COL_SLOTS_PER_PAGE; i++) {
        p[i].state = (uint64_t)1 << 32; /* generation 1, no reference */
        p[i].next_free = i + 1 < COL_SLOTS_PER_PAGE ? n + i + 2 : 0;
      }
      __atomic_store_n(&s->pages[page], p, __ATOMIC_RELEASE);
      s->count = n + COL_SLOTS_PER_PAGE;
      first = n + 1;
      *count = COL_SLOTS_PER_PAGE;
    }
  }
  trace__mutex_unlock(&s->grow_lock);
  return first;
}

uint32_t trace__col_slot_refill(col_slots *s, col_thread *t) {
  uint32_t first = batch_pop(s);
  uint32_t count = first ? col_slot_at(s, first - 1)->batch_count : 0;
  if (!first)
    first = grow(s, &count);
  if (!first)
    return 0;
  t->free_head = first;
  t->free_count = count;
  return first;
}

void trace__col_slot_spill(col_slots *s, col_thread *t) {
  /* The first COL_BATCH slots of the list become a batch; the rest stays. */
  uint32_t first = t->free_head;
  col_slot *last = col_slot_at(s, first - 1);
  for (uint32_t i = 1; i < COL_BATCH; i++)
    last = col_slot_at(s, last->next_free - 1);
  t->free_head = last->next_free;
  t->free_count -= COL_BATCH;
  last->next_free = 0;
  batch_push(s, first, COL_BATCH);
}

void trace__col_slot_release_all(col_slots *s, col_thread *t) {
  while (t->free_count >= COL_BATCH)
    trace__col_slot_spill(s, t);
  /* A short remainder is a batch of its own: batches need not be full. */
  if (t->free_head) {
    batch_push(s, t->free_head, t->free_count);
    t->free_head = 0;
    t->free_count = 0;
  }
}
