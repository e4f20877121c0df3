/* Every allocation of libtrace goes through these, so an application can supply its allocator
 * (trace_set_allocator) and tests can make allocations fail on purpose. free keeps errno. */
#ifndef TRACE_COMMON_ALLOC_H
#define TRACE_COMMON_ALLOC_H

#include <stddef.h>

void *trace__malloc(size_t size);
void *trace__calloc(size_t n, size_t size);
void *trace__realloc(void *p, size_t size);
void trace__free(void *p);
char *trace__strndup(const char *s, size_t len);
char *trace__strdup(const char *s);

#endif
