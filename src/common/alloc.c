#include "alloc.h"
#include "guard.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

static size_t whole_pages(size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (page == 0 || page == (size_t)-1)
    page = 4096;
  return (size + page - 1) / page * page;
}

void *trace__pages_alloc(size_t size) {
  if (size == 0 || size > SIZE_MAX / 2 || trace__alloc_should_fail())
    return NULL;
  TRACE__KEEP_ERRNO();
  void *p = mmap(NULL, whole_pages(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void trace__pages_free(void *p, size_t size) {
  if (!p)
    return;
  TRACE__KEEP_ERRNO();
  munmap(p, whole_pages(size));
}

bool trace__pages_discard(void *p, size_t size) {
#ifdef __linux__
  TRACE__KEEP_ERRNO();
  return p && madvise(p, whole_pages(size), MADV_DONTNEED) == 0;
#else
  (void)p;
  (void)size;
  return false; /* elsewhere DONTNEED is advice only: the memory need not read as zeros */
#endif
}

bool trace__grow_array(void *items, size_t *cap, size_t elem_size, size_t first) {
  size_t n = *cap ? *cap * 2 : first;
  if (n < *cap || n == 0 || n > SIZE_MAX / elem_size)
    return false;
  void *old;
  memcpy(&old, items, sizeof old); /* items is a T **: read it as the pointer it holds */
  void *grown = trace__realloc(old, n * elem_size);
  if (!grown)
    return false;
  memcpy(items, &grown, sizeof grown);
  *cap = n;
  return true;
}
