#include "idtable.h"

#include "alloc.h"

void *trace__idtable_get(trace__idtable *t, uint32_t id, size_t entry_size) {
  void *e = trace__idtable_find(t, id, entry_size);
  if (TRACE__LIKELY(e != NULL))
    return e;
  uint32_t page = id >> TRACE__IDTABLE_PAGE_BITS;
  if (id == 0 || page >= TRACE__IDTABLE_PAGES)
    return NULL;
  char *fresh = trace__alloc_lines(((size_t)1 << TRACE__IDTABLE_PAGE_BITS) * entry_size);
  if (!fresh)
    return NULL;
  char *expected = NULL;
  if (!__atomic_compare_exchange_n(&t->pages[page], &expected, fresh, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    trace__free_lines(fresh); /* another thread published its page first */
  return trace__idtable_find(t, id, entry_size);
}

void trace__idtable_each(trace__idtable *t, size_t entry_size, void (*fn)(void *entry)) {
  for (size_t p = 0; p < TRACE__IDTABLE_PAGES; p++) {
    char *page = TRACE__LOAD_ACQ(&t->pages[p]);
    for (size_t i = 0; page && i < ((size_t)1 << TRACE__IDTABLE_PAGE_BITS); i++)
      fn(page + i * entry_size);
  }
}

void trace__idtable_free(trace__idtable *t) {
  for (size_t p = 0; p < TRACE__IDTABLE_PAGES; p++) {
    char *page = t->pages[p];
    TRACE__STORE(&t->pages[p], NULL); /* unpublished, then freed (fork: never freed twice) */
    TRACE__RELEASE_FENCE();
    trace__free_lines(page);
  }
}
