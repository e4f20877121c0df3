/* Every allocation of libtrace goes through these, so an application can supply its allocator
 * (trace_set_allocator) and tests can make allocations fail on purpose. free keeps errno. */
#ifndef TRACE_COMMON_ALLOC_H
#define TRACE_COMMON_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *trace__malloc(size_t size);
void *trace__calloc(size_t n, size_t size);
void *trace__realloc(void *p, size_t size);
void trace__free(void *p);
char *trace__strndup(const char *s, size_t len);

/* Room for more elements in a growable array: *items (a pointer to the array's pointer, any
 * element type) is reallocated to twice *cap elements of elem_size bytes (first when *cap is 0)
 * and *cap updated. false, with the array and *cap unchanged, when the allocation fails or the
 * size would overflow. */
bool trace__grow_array(void *items, size_t *cap, size_t elem_size, size_t first);

/* Memory whose cache lines no other allocation shares: for objects every thread reads on each
 * event (per-callsite tables) and for objects one thread writes on each event (its buffers and
 * state). Sharing a line between the two kinds made two threads slow each other down by a third
 * (false sharing). Zeroed. Free with trace__free_lines; NULL is a no-op. */
#define TRACE__CACHE_LINE 64
void *trace__alloc_lines(size_t size);
void trace__free_lines(void *p);
char *trace__strdup(const char *s);

/* Memory mapped from the system in whole pages (not through the application's allocator), for
 * large tables whose memory is to be given back while their addresses stay valid: other threads
 * may still read an address (and must then read something harmless). Zeroed; NULL on failure
 * or when a test makes allocations fail. trace__pages_discard gives the pages' memory back to
 * the system and leaves the range mapped, reading as zeros again (Linux MADV_DONTNEED on private
 * anonymous memory); it returns false, changing nothing, where that cannot be had. */
void *trace__pages_alloc(size_t size);
void trace__pages_free(void *p, size_t size);
bool trace__pages_discard(void *p, size_t size);

#endif
