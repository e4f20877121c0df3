/* Span slots: pages of fixed-size slots that are reused. Each thread keeps a small cache of free
 * slot indices, so allocating and freeing a span takes no lock; the shared free list is touched
 * in batches only.
 *
 * Memory goes back to the system above a high-water mark: a program that once had a million
 * spans open would otherwise keep their slots (over 400 MB) for good. A page can go when every
 * one of its slots is in the shared free list (none is live, none is in a thread's cache, where
 * its thread could take it without the lock). Its memory is discarded but stays mapped, so a
 * stale id looked up concurrently reads generation 0, which no id has: the lookup fails as it
 * should. The page's indices leave the free list and come back, with generations above every id
 * the page ever gave, when the list runs dry. */
#include <string.h>

#include "../common/alloc.h"
#include "internal.h"

static size_t page_bytes(const trace_registry *r) { return (size_t)SLOTS_PER_PAGE * r->slot_size; }

/* The shared free list, with the per-page counts that find pages whose slots are all free. */
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
  if (++r->page_free[index >> SLOT_PAGE_BITS] == SLOTS_PER_PAGE)
    r->full_pages++;
  return true;
}

static uint32_t pop_shared_locked(trace_registry *r) {
  uint32_t index = r->free_list[--r->nfree];
  if (r->page_free[index >> SLOT_PAGE_BITS]-- == SLOTS_PER_PAGE)
    r->full_pages--;
  return index;
}

/* Brings back a page given back to the system: its slots restart above its old generations
 * (no stale id can match a new span), and join the shared list. Under r->lock. */
static bool reuse_returned_page_locked(trace_registry *r) {
  uint32_t pages = TRACE__LOAD(&r->nslots) >> SLOT_PAGE_BITS;
  for (uint32_t p = 0; p < pages; p++) {
    if (!r->page_returned[p])
      continue;
    if (r->free_cap - r->nfree < SLOTS_PER_PAGE) {
      uint32_t cap = r->free_cap ? r->free_cap : 256;
      while (cap - r->nfree < SLOTS_PER_PAGE)
        cap *= 2;
      uint32_t *list = trace__realloc(r->free_list, cap * sizeof *list);
      if (!list)
        return false;
      r->free_list = list;
      r->free_cap = cap;
    }
    r->page_returned[p] = 0;
    r->returned_pages--;
    /* Highest index first, so the lowest is taken first. */
    for (uint32_t i = SLOTS_PER_PAGE; i > 0; i--) {
      uint32_t index = (p << SLOT_PAGE_BITS) + i - 1;
      slot *s = reg_slot_at(r, index);
      s->index = index;
      TRACE__STORE_REL(&s->gen, r->page_gen_base[p] + 1);
      push_shared_locked(r, index);
    }
    return true;
  }
  return false;
}

/* Moves up to n free indices from the shared list into the thread's cache, creating new slots
 * when the shared list is empty. Under r->lock. */
static void refill_locked(trace_registry *r, reg_thread *ts, uint32_t n) {
  while (n > 0) {
    if (r->nfree == 0 && r->returned_pages > 0)
      reuse_returned_page_locked(r); /* before making new slots */
    if (r->nfree > 0) {
      ts->free_slots[ts->nfree++] = pop_shared_locked(r);
      n--;
      continue;
    }
    uint32_t index = r->nslots;
    uint32_t page = index >> SLOT_PAGE_BITS;
    if (page >= SLOT_PAGES)
      return; /* the table is full: allocation fails, the span is not stored */
    if (!r->slot_pages[page]) {
      char *p = trace__pages_alloc(page_bytes(r));
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

slot *trace__reg_slot_alloc(trace_registry *r, reg_thread *ts) {
  if (TRACE__UNLIKELY(ts->nfree == 0)) {
    trace__mutex_lock(&r->lock);
    refill_locked(r, ts, LOCAL_FREE_BATCH);
    trace__mutex_unlock(&r->lock);
    if (ts->nfree == 0)
      return NULL;
  }
  return reg_slot_at(r, ts->free_slots[--ts->nfree]);
}

/* Gives back the memory of the pages whose slots are all in the shared list, beyond the ones
 * kept. Under r->lock. Only when enough can go: the list is compacted in one pass, and each pass
 * must free at least an eighth of the list's length, so the work per freed span stays bounded
 * however fragmented the pages are. */
static void return_pages_locked(trace_registry *r) {
  if (r->full_pages <= SLOT_PAGES_KEPT_FREE + 8 || r->pages_stay)
    return;
  uint32_t excess = r->full_pages - SLOT_PAGES_KEPT_FREE;
  if ((uint64_t)excess * SLOTS_PER_PAGE * 8 < r->nfree)
    return;
  uint32_t pages = TRACE__LOAD(&r->nslots) >> SLOT_PAGE_BITS, marked = 0;
  for (uint32_t p = pages; p > 0 && marked < excess; p--) { /* the highest pages first */
    uint32_t page = p - 1;
    if (r->page_free[page] != SLOTS_PER_PAGE)
      continue;
    /* What the free slots still own (value storage kept for reuse) goes first; the newest
     * generation is where the page's slots restart if it is used again. */
    uint32_t base = r->page_gen_base[page], top = base;
    for (uint32_t i = 0; i < SLOTS_PER_PAGE; i++) {
      slot *s = reg_slot_at(r, (page << SLOT_PAGE_BITS) + i);
      uint32_t gen = TRACE__LOAD(&s->gen);
      r->returned_created += (gen - base) / 2;
      if (gen > top)
        top = gen;
      trace__reg_values_release(s);
    }
    /* Even, one below the newest (odd) generation: a slot restarts free at base + 1, and
     * (gen - base) / 2 counts the spans it held since. */
    r->page_gen_base[page] = top - 1; /* the counts stay right whether or not the page goes */
    if (!trace__pages_discard(r->slot_pages[page], page_bytes(r))) {
      r->pages_stay = true; /* this system cannot: stop trying */
      break;
    }
    r->page_returned[page] = 1;
    r->returned_pages++;
    marked++;
  }
  if (marked == 0)
    return;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < r->nfree; i++) {
    uint32_t index = r->free_list[i];
    uint32_t page = index >> SLOT_PAGE_BITS;
    if (r->page_returned[page]) {
      if (r->page_free[page]-- == SLOTS_PER_PAGE)
        r->full_pages--;
    } else {
      r->free_list[kept++] = index;
    }
  }
  r->nfree = kept;
}

void trace__reg_slot_free(trace_registry *r, reg_thread *ts, slot *s) {
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
  return_pages_locked(r);
  trace__mutex_unlock(&r->lock);
}

void trace__reg_thread_release_slots(trace_registry *r, reg_thread *ts) {
  trace__mutex_lock(&r->lock);
  while (ts->nfree > 0 && push_shared_locked(r, ts->free_slots[ts->nfree - 1]))
    ts->nfree--;
  return_pages_locked(r);
  trace__mutex_unlock(&r->lock);
}

uint64_t trace__reg_slots_created_locked(trace_registry *r) {
  uint64_t created = r->returned_created;
  uint32_t n = TRACE__LOAD_ACQ(&r->nslots);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t page = i >> SLOT_PAGE_BITS;
    slot *s = reg_slot_at(r, i);
    /* A slot's generation goes up by two per span it held (odd: free, even: in use), from its
     * page's base: the spans ever created are counted with no counter on the span path. */
    if (s && !r->page_returned[page])
      created += (TRACE__LOAD_ACQ(&s->gen) - r->page_gen_base[page]) / 2;
  }
  return created;
}

void trace__reg_slots_destroy(trace_registry *r) {
  uint32_t n = r->nslots;
  for (uint32_t i = 0; i < n; i++) {
    slot *s = reg_slot_at(r, i);
    if (s && !r->page_returned[i >> SLOT_PAGE_BITS])
      trace__reg_values_release(s);
  }
  for (uint32_t p = 0; p < SLOT_PAGES && r->slot_pages[p]; p++)
    trace__pages_free(r->slot_pages[p], page_bytes(r));
  trace__free(r->free_list);
}
