/* A pthread mutex that stays usable in a child after fork(): every trace__mutex is listed, and
 * fork handlers lock them all before fork and release (parent) or re-create (child) them after,
 * so the child never inherits a mutex held by a thread that does not exist there.
 * Lock order: mutexes created with TRACE__MUTEX_OUTER are taken before others; code must never
 * take an OUTER mutex while holding an inner one. */
#ifndef TRACE_COMMON_MUTEX_H
#define TRACE_COMMON_MUTEX_H

#include <pthread.h>

enum { TRACE__MUTEX_INNER = 0, TRACE__MUTEX_OUTER = 1 };

typedef struct trace__mutex {
  pthread_mutex_t m;
  int order;
  struct trace__mutex *next, *prev;
} trace__mutex;

void trace__mutex_init(trace__mutex *m, int order);
void trace__mutex_destroy(trace__mutex *m);
void trace__mutex_lock(trace__mutex *m);
void trace__mutex_unlock(trace__mutex *m);

#endif
