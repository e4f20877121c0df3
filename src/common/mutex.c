#include "mutex.h"

#include <stdbool.h>

#include "compiler.h"

/* The list of every trace__mutex, itself protected by list_lock (a plain mutex: it is taken
 * last in the fork handler and never while calling out). */
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static trace__mutex *list_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void lock_all(int order) {
  for (trace__mutex *m = list_head; m; m = m->next)
    if (m->order == order)
      pthread_mutex_lock(&m->m);
}

static void prepare(void) {
  pthread_mutex_lock(&list_lock);
  lock_all(TRACE__MUTEX_OUTER);
  lock_all(TRACE__MUTEX_INNER);
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
