#include "thread.h"
#include "guard.h"
#include "spin.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "mutex.h"
#include "trace.h"
#include "trace/testing.h"

__thread trace__thread trace__tls __attribute__((tls_model("initial-exec")));
int trace__fence_word; /* the RMW target of TRACE__FULL_FENCE under TSan */
uint8_t trace__leave_pending;
void (*trace__leave_work)(void);

/* Registered threads, for synchronize and for deleting locals; and the local keys' destructors. */
static trace__mutex threads_lock;
static trace__thread *threads_head;
static void (*key_dtors[TRACE__LOCALS_MAX])(void *);
static bool key_used[TRACE__LOCALS_MAX];
/* Destructors running on exiting threads, per key: deleting a key waits for them, so an
 * instance is never freed under a thread that is still cleaning up its part of it. */
static uint32_t key_busy[TRACE__LOCALS_MAX];
/* How each key's values are made (trace__local_key_create_made), for trace_thread_prepare. */
typedef struct key_recipe {
  size_t size; /* 0: none */
  void (*prepare)(void *value, void *arg);
  void *arg;
} key_recipe;
static key_recipe key_recipes[TRACE__LOCALS_MAX];
uint64_t trace__dropped;
/* Test hook (trace_testing_on_thread_setup): runs while a thread registers. */
static void (*setup_hook)(void);
static pthread_key_t exit_key;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool membarrier_ok;
static uint32_t next_number = 2; /* 1 is the main thread's */

static void thread_exit(void *arg);

uint32_t trace__fork_epoch;

static void child_after_fork(void) {
  /* Spin locks held by the threads left behind are orphaned from now on (spin.h). */
  TRACE__STORE(&trace__fork_epoch, trace__fork_epoch + 1);
  /* Only the forking thread exists in the child: forget the others, or synchronize would wait
   * for threads that will never leave. */
  trace__thread *self = &trace__tls;
  bool live = trace__thread_live(self);
  threads_head = live ? self : NULL;
  if (live)
    self->next = self->prev = NULL;
}

static void init(void) {
  trace__mutex_init(&threads_lock, TRACE__MUTEX_INNER);
  pthread_key_create(&exit_key, thread_exit);
  /* Registration makes later MEMBARRIER_CMD_PRIVATE_EXPEDITED calls cheap; without it (old
   * kernel, seccomp), readers fall back to a full fence each. */
  long ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
  membarrier_ok = ok == 0;
  pthread_atfork(NULL, NULL, child_after_fork);
}

bool trace__thread_register(trace__thread *t) {
  if (trace__thread_live(t))
    return true;
  if (t->state == TRACE__THREAD_DEAD)
    return false;
  if (t->setup) {
    /* A signal handler interrupted this thread's registration, which holds threads_lock (or
     * runs pthread_once): waiting would never end. Refused, and counted. */
    trace__count_dropped();
    return false;
  }
  t->setup = 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the flag is set before the lock is taken */
  TRACE__KEEP_ERRNO();
  pthread_once(&init_once, init);
  bool ok = pthread_setspecific(exit_key, t) == 0;
  if (ok) {
    trace__mutex_lock(&threads_lock);
    void (*hook)(void) = TRACE__LOAD(&setup_hook);
    if (TRACE__UNLIKELY(hook != NULL))
      hook();
    t->prev = NULL;
    t->next = threads_head;
    if (threads_head)
      threads_head->prev = t;
    threads_head = t;
    t->errno_at = &errno;
    t->state = membarrier_ok ? TRACE__THREAD_LIVE : TRACE__THREAD_FENCED;
    trace__mutex_unlock(&threads_lock);
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  t->setup = 0;
  return ok;
}

trace__thread *trace__thread_enter_slow(trace__thread *t) {
  if (!trace__thread_register(t))
    return NULL;
  __atomic_store_n(&t->quiesce, t->quiesce + 1, __ATOMIC_RELAXED);
  if (t->state == TRACE__THREAD_FENCED)
    TRACE__FULL_FENCE(); /* the synchronizer has no membarrier to order our reads after it */
  else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
  return t;
}

void trace_testing_on_thread_setup(void (*hook)(void)) { TRACE__STORE(&setup_hook, hook); }

uint64_t trace_dropped_events(void) { return __atomic_load_n(&trace__dropped, __ATOMIC_RELAXED); }

static void thread_exit(void *arg) {
  trace__thread *t = arg;
  trace__mutex_lock(&threads_lock);
  if (t->prev)
    t->prev->next = t->next;
  else if (threads_head == t)
    threads_head = t->next;
  if (t->next)
    t->next->prev = t->prev;
  t->state = TRACE__THREAD_DEAD;
  void **locals = t->locals;
  t->locals = NULL;
  void (*dtors[TRACE__LOCALS_MAX])(void *);
  memcpy(dtors, key_dtors, sizeof dtors);
  for (int k = 0; locals && k < TRACE__LOCALS_MAX; k++)
    if (locals[k] && dtors[k])
      __atomic_add_fetch(&key_busy[k], 1, __ATOMIC_RELAXED);
  trace__mutex_unlock(&threads_lock);
  /* Outside the lock: a destructor may call back into libtrace. */
  if (locals) {
    for (int k = 0; k < TRACE__LOCALS_MAX; k++) {
      if (locals[k] && dtors[k]) {
        dtors[k](locals[k]);
        __atomic_sub_fetch(&key_busy[k], 1, __ATOMIC_RELEASE);
      }
    }
    trace__free_lines(locals);
  }
}

bool trace__synchronize(void) {
  trace__thread *self = &trace__tls;
  if (self->depth != 0)
    return false;
  pthread_once(&init_once, init);
  if (membarrier_ok)
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  else
    TRACE__FULL_FENCE();
  /* Holding threads_lock while waiting keeps the blocks alive; a thread inside a dispatch never
   * needs this lock to get out (it registered before it entered). */
  trace__mutex_lock(&threads_lock);
  for (trace__thread *t = threads_head; t; t = t->next) {
    if (t == self)
      continue;
    /* Inside (depth, the low half, > 0) when we looked: wait until it leaves to depth 0, which
     * bumps seq (the high half), or is seen outside. */
    uint64_t q = TRACE__LOAD_ACQ(&t->quiesce), now = q;
    unsigned spins = 0;
    while ((uint32_t)now != 0 && now >> 32 == q >> 32) {
      if (++spins < 64) {
        sched_yield();
      } else {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
      }
      now = TRACE__LOAD_ACQ(&t->quiesce);
    }
  }
  trace__mutex_unlock(&threads_lock);
  return true;
}

int trace__local_key_create_made(void (*dtor)(void *value), size_t size,
                                 void (*prepare)(void *value, void *arg), void *arg) {
  pthread_once(&init_once, init);
  int key = TRACE_ENOMEM;
  trace__mutex_lock(&threads_lock);
  for (int k = 0; k < TRACE__LOCALS_MAX; k++) {
    if (!key_used[k]) {
      key_used[k] = true;
      key_dtors[k] = dtor;
      key_recipes[k] = (key_recipe){size, prepare, arg};
      key = k;
      break;
    }
  }
  trace__mutex_unlock(&threads_lock);
  return key;
}

int trace__local_key_create(void (*dtor)(void *value)) {
  return trace__local_key_create_made(dtor, 0, NULL, NULL);
}

/* Registers the thread and makes its value of every key made with a recipe, inside libtrace
 * (depth raised): a signal handler that interrupts this is refused, and no instance is freed
 * under it (its owner synchronizes first). */
int trace_thread_prepare(void) {
  TRACE__KEEP_ERRNO();
  trace__thread *t = trace__thread_enter();
  if (!t)
    return TRACE_EINVAL; /* the thread is exiting */
  int rc = 0;
  /* The thread's slot array, made by storing into a slot that has no value yet (no key has a
   * value on a thread without the array). */
  if (!t->locals && !trace__local_set(0, NULL))
    rc = TRACE_ENOMEM;
  for (int k = 0; rc == 0 && k < TRACE__LOCALS_MAX; k++) {
    trace__mutex_lock(&threads_lock);
    key_recipe r = key_used[k] ? key_recipes[k] : (key_recipe){0, NULL, NULL};
    trace__mutex_unlock(&threads_lock);
    if (r.size && !trace__local_get(k) && !trace__local_make(k, r.size, r.prepare, r.arg))
      rc = TRACE_ENOMEM;
  }
  trace__thread_leave(t);
  return rc;
}

void trace__local_key_delete(int key) {
  if (key < 0 || key >= TRACE__LOCALS_MAX)
    return;
  trace__mutex_lock(&threads_lock);
  void (*dtor)(void *) = key_dtors[key];
  for (trace__thread *t = threads_head; t; t = t->next) {
    void **locals = TRACE__LOAD_ACQ(&t->locals);
    void *v = locals ? __atomic_exchange_n(&locals[key], NULL, __ATOMIC_ACQ_REL) : NULL;
    if (v && dtor)
      dtor(v);
  }
  key_dtors[key] = NULL;
  key_recipes[key] = (key_recipe){0, NULL, NULL};
  trace__mutex_unlock(&threads_lock);
  while (TRACE__LOAD_ACQ(&key_busy[key]) != 0)
    sched_yield();
  trace__mutex_lock(&threads_lock);
  key_used[key] = false; /* only now may the key be handed out again */
  trace__mutex_unlock(&threads_lock);
}

/* Without threads_lock: a thread inside a dispatch may set its locals (a registry's or a filter's
 * state for a thread it has not seen yet) while trace__synchronize holds that lock waiting for
 * the thread to leave. Only this thread writes its array; key_delete, which clears slots of
 * other threads under threads_lock, reads the array pointer and swaps slots atomically. */
bool trace__local_set(int key, void *value) {
  trace__thread *t = &trace__tls;
  if (t->state != TRACE__THREAD_LIVE && !trace__thread_register(t))
    return false;
  if (!t->locals) {
    void **l = trace__alloc_lines(TRACE__LOCALS_MAX * sizeof(void *));
    if (!l)
      return false;
    TRACE__STORE_REL(&t->locals, l);
  }
  __atomic_store_n(&t->locals[key], value, __ATOMIC_RELEASE);
  return true;
}

void *trace__local_make(int key, size_t size, void (*prepare)(void *value, void *arg), void *arg) {
  void *v = trace__alloc_lines(size);
  if (!v)
    return NULL;
  if (prepare)
    prepare(v, arg);
  if (!trace__local_set(key, v)) {
    void (*dtor)(void *) = key_dtors[key];
    if (dtor)
      dtor(v);
    else
      trace__free_lines(v);
    return NULL;
  }
  return v;
}

static bool is_main_thread(void) { return syscall(SYS_gettid) == getpid(); }

/* The main thread is 1; a thread's OS name is read once and cached (see trace.h). */
uint32_t trace_thread_id(void) {
  trace__thread *t = &trace__tls;
  if (TRACE__UNLIKELY(t->number == 0))
    t->number = is_main_thread() ? 1 : __atomic_fetch_add(&next_number, 1, __ATOMIC_RELAXED);
  return t->number;
}

const char *trace_thread_name(void) {
  trace__thread *t = &trace__tls;
  if (TRACE__UNLIKELY(!t->named)) {
    TRACE__KEEP_ERRNO();
    if (is_main_thread()) {
      strcpy(t->name, "main");
    } else {
      char name[17] = {0};
      if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0)
        name[0] = '\0';
      memcpy(t->name, name, sizeof name);
    }
    t->named = 1;
  }
  return t->name;
}

int trace_thread_set_name(const char *name) {
  if (!name)
    return TRACE_EINVAL;
  trace__thread *t = &trace__tls;
  size_t n = strlen(name);
  if (n >= sizeof t->name)
    n = sizeof t->name - 1;
  memcpy(t->name, name, n);
  t->name[n] = '\0';
  t->named = 1;
  TRACE__KEEP_ERRNO();
  char os[16];
  size_t m = n < sizeof os - 1 ? n : sizeof os - 1;
  memcpy(os, name, m);
  os[m] = '\0';
  pthread_setname_np(pthread_self(), os);
  return 0;
}
