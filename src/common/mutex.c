#include "mutex.h"

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

/* The list of every trace__mutex, itself protected by list_lock (a plain mutex: it is taken
 * after a trace__mutex, never while calling out; the fork handler only tries the others). */
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static trace__mutex *list_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Walks every trace__mutex, OUTER ones first: locks them with trylock (unlock false), stopping
 * at the first busy one, or unlocks the first `upto` (unlock true). Returns how many it locked
 * before a busy one, or SIZE_MAX when it took them all. The list is stable: list_lock is held. */
static size_t walk_all(size_t upto, bool unlock) {
  static const int orders[2] = {TRACE__MUTEX_OUTER, TRACE__MUTEX_INNER};
  size_t i = 0;
  for (int o = 0; o < 2; o++)
    for (trace__mutex *m = list_head; m; m = m->next) {
      if (m->order != orders[o])
        continue;
      if (i == upto)
        return i;
      if (unlock)
        pthread_mutex_unlock(&m->m);
      else if (pthread_mutex_trylock(&m->m) != 0)
        return i;
      i++;
    }
  return SIZE_MAX;
}

/* Before fork every lock is taken, so the child inherits none in the middle of an update. The
 * lock order elsewhere is "a trace__mutex, then list_lock" (trace_shutdown destroys a
 * subscriber's mutexes while it holds the dispatch lock), and this walk needs list_lock first:
 * so it only tries each lock and, on a busy one, gives everything back and starts again, letting
 * the holder finish. A blocking walk deadlocked a fork racing trace_shutdown. */
static void prepare(void) {
  for (;;) {
    pthread_mutex_lock(&list_lock);
    size_t locked = walk_all(SIZE_MAX, false);
    if (locked == SIZE_MAX)
      return;
    walk_all(locked, true);
    pthread_mutex_unlock(&list_lock);
    sched_yield();
  }
}

static void parent(void) {
  for (trace__mutex *m = list_head; m; m = m->next)
    pthread_mutex_unlock(&m->m);
  pthread_mutex_unlock(&list_lock);
}

static void child(void) {
  /* The child has one thread, and it holds every lock: re-create them unlocked. */
  for (trace__mutex *m = list_head; m; m = m->next)
    pthread_mutex_init(&m->m, NULL);
  pthread_mutex_init(&list_lock, NULL);
}

static void install_atfork(void) { pthread_atfork(prepare, parent, child); }

void trace__mutex_init(trace__mutex *m, int order) {
  pthread_once(&atfork_once, install_atfork);
  pthread_mutex_init(&m->m, NULL);
  m->order = order;
  pthread_mutex_lock(&list_lock);
  m->prev = NULL;
  m->next = list_head;
  if (list_head)
    list_head->prev = m;
  list_head = m;
  pthread_mutex_unlock(&list_lock);
}

void trace__mutex_destroy(trace__mutex *m) {
  pthread_mutex_lock(&list_lock);
  if (m->prev)
    m->prev->next = m->next;
  else
    list_head = m->next;
  if (m->next)
    m->next->prev = m->prev;
  pthread_mutex_unlock(&list_lock);
  pthread_mutex_destroy(&m->m);
}

void trace__mutex_lock(trace__mutex *m) { pthread_mutex_lock(&m->m); }
void trace__mutex_unlock(trace__mutex *m) { pthread_mutex_unlock(&m->m); }
