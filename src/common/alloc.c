#include "alloc.h"
#include "guard.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "trace/subscriber.h"
#include "trace/testing.h"

static trace_allocator trace__allocator = {sizeof(trace_allocator), malloc, realloc, free};
/* Test hook (see <trace/testing.h>): fail every allocation after this many more succeed;
 * negative means never. */
static long trace__alloc_budget = -1;

static int trace__alloc_should_fail(void) {
  long budget = TRACE__LOAD(&trace__alloc_budget);
  if (TRACE__LIKELY(budget < 0))
    return 0;
  /* Decrement without going below zero; at zero, fail. */
  while (budget > 0) {
    if (__atomic_compare_exchange_n(&trace__alloc_budget, &budget, budget - 1, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
      return 0;
  }
  return budget == 0;
}

int trace_set_allocator(const trace_allocator *a) {
  if (!a || a->struct_size < sizeof(trace_allocator) || !a->malloc_fn || !a->realloc_fn ||
      !a->free_fn)
    return TRACE_EINVAL;
  trace__allocator = *a;
  return 0;
}

void trace_testing_fail_allocations_after(long n) { TRACE__STORE(&trace__alloc_budget, n); }

void *trace__malloc(size_t size) {
  if (trace__alloc_should_fail())
    return NULL;
  return trace__allocator.malloc_fn(size ? size : 1);
}

void *trace__calloc(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size)
    return NULL;
  void *p = trace__malloc(n * size);
  if (p)
    memset(p, 0, n * size);
  return p;
}

void *trace__realloc(void *p, size_t size) {
  if (trace__alloc_should_fail())
    return NULL;
  return trace__allocator.realloc_fn(p, size ? size : 1);
}

void trace__free(void *p) {
  if (!p)
    return;
  TRACE__KEEP_ERRNO();
  trace__allocator.free_fn(p);
}

char *trace__strndup(const char *s, size_t len) {
  char *d = trace__malloc(len + 1);
  if (d) {
    memcpy(d, s, len);
    d[len] = '\0';
  }
  return d;
}

char *trace__strdup(const char *s) { return trace__strndup(s, strlen(s)); }

void *trace__alloc_lines(size_t size) {
  if (size > SIZE_MAX - 3 * TRACE__CACHE_LINE)
    return NULL;
  /* Room to align the start, a pointer to the block just before it, and a tail pad. */
  char *raw = trace__malloc(size + 3 * TRACE__CACHE_LINE);
  if (!raw)
    return NULL;
  uintptr_t start = ((uintptr_t)raw + 2 * TRACE__CACHE_LINE) & ~(uintptr_t)(TRACE__CACHE_LINE - 1);
  char *p = (char *)start;
  memcpy(p - sizeof raw, &raw, sizeof raw);
  memset(p, 0, size);
  return p;
}

void trace__free_lines(void *p) {
  if (!p)
    return;
  char *raw;
  memcpy(&raw, (char *)p - sizeof raw, sizeof raw);
  trace__free(raw);
}
