/* A table indexed by callsite id (dense, from 1), read on every event without a lock: the
 * registry's per-callsite layer masks, the env-filter's cached decisions and the fmt layer's
 * prebuilt line pieces all live in one. Pages of 2^10 fixed-size entries are made (zeroed) on
 * first use and published with a compare-and-swap (a thread that loses the race frees its page);
 * they never move and are freed with the table, so an entry's address is stable. What an entry
 * means, and how its words are read and written, is the owner's business. */
#ifndef TRACE_COMMON_IDTABLE_H
#define TRACE_COMMON_IDTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

#define TRACE__IDTABLE_PAGE_BITS 10
#define TRACE__IDTABLE_PAGES 4096 /* ids up to 2^22: four million callsites */

typedef struct trace__idtable {
  char *pages[TRACE__IDTABLE_PAGES]; /* atomic */
} trace__idtable;

/* The entry for id, or NULL when id is 0, past the table, or its page is not made yet. */
static TRACE__INLINE void *trace__idtable_find(trace__idtable *t, uint32_t id, size_t entry_size) {
  uint32_t page = id >> TRACE__IDTABLE_PAGE_BITS;
  if (TRACE__UNLIKELY(id == 0 || page >= TRACE__IDTABLE_PAGES))
    return NULL;
  char *p = TRACE__LOAD_ACQ(&t->pages[page]);
  if (TRACE__UNLIKELY(!p))
    return NULL;
  return p + (size_t)(id & ((1u << TRACE__IDTABLE_PAGE_BITS) - 1)) * entry_size;
}

/* The entry for id, making its page if need be; NULL for id 0, past the table, or out of memory. */
void *trace__idtable_get(trace__idtable *t, uint32_t id, size_t entry_size);

/* Calls fn on every entry of every page made (for owners whose entries own memory). */
void trace__idtable_each(trace__idtable *t, size_t entry_size, void (*fn)(void *entry));

/* Frees the pages (not what entries point to: see trace__idtable_each). */
void trace__idtable_free(trace__idtable *t);

#endif
