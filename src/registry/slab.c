/* Span slots: pages of fixed-size slots that are reused, never freed while the registry lives.
 * Each thread keeps a small cache of free slot indices, so allocating and freeing a span takes
 * no lock; the shared free list is touched in batches only. */
#include <string.h>

#include "../common/alloc.h"
#include "internal.h"

/* Moves up to n free indices from the shared list into the thread's cache, creating new slots
 * when the shared list is empty. Under r->lock. */
static void refill_locked(trace_registry *r, reg_thread *ts, uint32_t n) {
  while (n > 0 && r->nfree > 0) {
    ts->free_slots[ts->nfree++] = r->free_list[--r->nfree];
    n--;
  }
  while (n > 0) {
    uint32_t index = r->nslots;
    uint32_t page = index >> SLOT_PAGE_BITS;
    if (page >= SLOT_PAGES)
      return; /* the table is full: allocation fails, the span is not stored */
    if (!r->slot_pages[page]) {
      char *p = trace__alloc_lines(((size_t)1 << SLOT_PAGE_BITS) * r->slot_size);
      if (!p)
        return;
      TRACE__STORE_REL(&r->slot_pages[page], p);
    }
    slot *s = reg_slot_at(r, index);
    s->index = index;
    s->gen = 1; /* odd: free */
    TRACE__STORE_REL(&r->nslots, index + 1);
    ts->free_slots[ts->nfree++] = index;
    n--;
  }
}

slot *reg_slot_alloc(trace_registry *r, reg_thread *ts) {
  if (TRACE__UNLIKELY(ts->nfree == 0)) {
    trace__mutex_lock(&r->lock);
    refill_locked(r, ts, LOCAL_FREE_BATCH);
    trace__mutex_unlock(&r->lock);
    if (ts->nfree == 0)
      return NULL;
  }
  return reg_slot_at(r, ts->free_slots[--ts->nfree]);
}

static bool push_shared_locked(trace_registry *r, uint32_t index) {
  if (r->nfree == r->free_cap) {
    uint32_t cap = r->free_cap ? r->free_cap * 2 : 256;
    uint32_t *p = trace__realloc(r->free_list, cap * sizeof *p);
    if (!p)
      return false;
    r->free_list = p;
    r->free_cap = cap;
  }
  r->free_list[r->nfree++] = index;
  return true;
}

void reg_slot_free(trace_registry *r, reg_thread *ts, slot *s) {
  s->live = 0;
  /* An odd generation: ids of the span that lived here no longer match, and no id can name the
   * free slot. Only the thread freeing the slot writes gen, so a store does (no locked
   * read-modify-write). */
  TRACE__STORE_REL(&s->gen, s->gen + 1);
  if (TRACE__LIKELY(ts && ts->nfree < LOCAL_FREE_MAX)) {
    ts->free_slots[ts->nfree++] = s->index;
    return;
  }
  trace__mutex_lock(&r->lock);
  /* Give back a batch with this one, so the next frees on this thread are lock-free again.
   * If the shared list cannot grow (out of memory), the slot stays unused: a bounded loss. */
  push_shared_locked(r, s->index);
  for (uint32_t i = 0; ts && i < LOCAL_FREE_BATCH && ts->nfree > 0; i++)
    if (!push_shared_locked(r, ts->free_slots[--ts->nfree])) {
      ts->nfree++;
      break;
    }
  trace__mutex_unlock(&r->lock);
}

void reg_thread_release_slots(trace_registry *r, reg_thread *ts) {
  trace__mutex_lock(&r->lock);
  while (ts->nfree > 0 && push_shared_locked(r, ts->free_slots[ts->nfree - 1]))
    ts->nfree--;
  trace__mutex_unlock(&r->lock);
}

void reg_slots_destroy(trace_registry *r) {
  uint32_t n = r->nslots;
  for (uint32_t i = 0; i < n; i++) {
    slot *s = reg_slot_at(r, i);
    if (s)
      reg_values_release(s);
  }
  for (uint32_t p = 0; p < SLOT_PAGES && r->slot_pages[p]; p++)
    trace__free_lines(r->slot_pages[p]);
  trace__free(r->free_list);
}
