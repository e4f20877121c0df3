/* Dispatchers: wrapping a subscriber, the global default, thread-scoped defaults, shutdown. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "core.h"

trace__mutex trace__dispatch_lock;
trace_dispatch *trace__live_head;
trace_dispatch *trace__global;
uint32_t trace__scoped_count;

/* Global dispatchers that were shut down. Span handles may still point at them, so they are
 * kept (small, and reachable for leak checkers) rather than freed. */
static trace_dispatch *retired;
static pthread_once_t core_once = PTHREAD_ONCE_INIT;

/* What a thread-scoped default of NULL installs: a dispatcher that wants nothing. Being a real
 * installed dispatcher, it makes the combined interest SOMETIMES, so that on its thread
 * callsites ask it (and get "no") instead of evaluating their arguments for nobody. */
static trace_interest none_register(void *self, const trace_metadata *meta) {
  (void)self;
  (void)meta;
  return TRACE_INTEREST_NEVER;
}
static bool none_enabled(void *self, const trace_metadata *meta) {
  (void)self;
  (void)meta;
  return false;
}
static int none_hint(void *self) {
  (void)self;
  return TRACE_LEVEL_OFF;
}
static trace_dispatch none_dispatch = {
    .vt = {.struct_size = sizeof(trace_subscriber_vtable),
           .register_callsite = none_register,
           .enabled = none_enabled,
           .max_level_hint = none_hint},
    .refs = 1,
    .alive = 1,
    .pinned = 1,
};

uint8_t trace__exiting;

/* exit() runs the handlers registered with atexit before the ELF destructors of every module
 * (glibc registers those first, so they run last): from here on a module's destructor is the
 * process ending, not a dlclose. */
static void mark_exiting(void) { TRACE__STORE(&trace__exiting, 1); }

static void core_init_once(void) {
  trace__mutex_init(&trace__dispatch_lock, TRACE__MUTEX_OUTER);
  atexit(mark_exiting);
  trace__leave_work = trace__rebuild_deferred;
}
void trace__core_init(void) { pthread_once(&core_once, core_init_once); }

trace_dispatch *trace_dispatch_new(const trace_subscriber_vtable *vtable, void *self) {
  if (!vtable)
    return NULL;
  trace_dispatch *d = trace__alloc_lines(sizeof *d);
  if (!d) {
    if (vtable->struct_size > offsetof(trace_subscriber_vtable, destroy) && vtable->destroy)
      vtable->destroy(self);
    return NULL;
  }
  size_t n = vtable->struct_size < sizeof d->vt ? vtable->struct_size : sizeof d->vt;
  memcpy(&d->vt, vtable, n);
  d->vt.struct_size = sizeof d->vt;
  d->self = self;
  d->refs = 1;
  d->alive = 1;
  return d;
}

static void destroy_subscriber(trace_dispatch *d) {
  if (d->destroyed)
    return;
  d->destroyed = 1;
  /* Newest first: a callback registered later may depend on what an earlier one forgets. */
  while (d->on_destroy) {
    trace__destroy_cb *cb = d->on_destroy;
    d->on_destroy = cb->next;
    cb->fn(cb->arg);
    trace__free(cb);
  }
  if (d->vt.destroy)
    d->vt.destroy(d->self);
}

int trace_dispatch_on_destroy(trace_dispatch *d, void (*fn)(void *arg), void *arg) {
  if (!d || !fn)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  trace__destroy_cb *cb = trace__malloc(sizeof *cb);
  int rc = cb ? 0 : TRACE_ENOMEM;
  if (cb) {
    cb->fn = fn;
    cb->arg = arg;
    trace__core_init();
    trace__mutex_lock(&trace__dispatch_lock);
    if (d->destroyed) {
      rc = TRACE_EINVAL;
    } else {
      cb->next = d->on_destroy;
      d->on_destroy = cb;
      cb = NULL;
    }
    trace__mutex_unlock(&trace__dispatch_lock);
    trace__free(cb);
  }
  return rc;
}

trace_dispatch *trace_dispatch_ref(trace_dispatch *d) {
  if (d)
    __atomic_fetch_add(&d->refs, 1, __ATOMIC_RELAXED);
  return d;
}

void trace_dispatch_release(trace_dispatch *d) {
  if (!d)
    return;
  if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  if (TRACE__LOAD_ACQ(&d->pinned))
    return; /* the global default's struct outlives every reference */
  TRACE__KEEP_ERRNO();
  destroy_subscriber(d);
  trace__free_lines(d);
}

void trace__dispatch_span_ref(trace_dispatch *d) {
  if (!TRACE__LOAD(&d->pinned))
    trace_dispatch_ref(d);
}

void trace__dispatch_span_unref(trace_dispatch *d) {
  /* A span created before d was pinned took a reference that is not given back here: harmless,
   * a pinned dispatcher is never freed. The reverse (unref without ref) cannot happen because
   * pinning is permanent. */
  if (!TRACE__LOAD(&d->pinned))
    trace_dispatch_release(d);
}

void *trace_dispatch_self(const trace_dispatch *d) { return d ? d->self : NULL; }

void trace_dispatch_flush(trace_dispatch *d) {
  trace__guard g = trace__guard_enter(TRACE__GUARD_NESTED);
  if (!g.t)
    return;
  if (trace__dispatch_alive(d) && d->vt.flush)
    d->vt.flush(d->self);
  trace__guard_leave(&g);
}

void trace__live_add(trace_dispatch *d) {
  if (d->live_uses++ == 0) {
    d->next_live = trace__live_head;
    trace__live_head = d;
  }
}

void trace__live_remove(trace_dispatch *d) {
  if (--d->live_uses != 0)
    return;
  for (trace_dispatch **p = &trace__live_head; *p; p = &(*p)->next_live) {
    if (*p == d) {
      *p = d->next_live;
      break;
    }
  }
  d->next_live = NULL;
}

int trace_set_global_default(trace_dispatch *d) {
  if (!d)
    return TRACE_EINVAL;
  trace__guard g = trace__guard_enter(TRACE__GUARD_OUTER);
  if (!g.t)
    return TRACE_EBUSY;
  int rc = 0;
  trace__core_init();
  trace__mutex_lock(&trace__dispatch_lock);
  if (TRACE__LOAD(&trace__global)) {
    rc = TRACE_EEXIST;
  } else if (!TRACE__LOAD(&d->alive)) {
    rc = TRACE_EINVAL; /* a dispatcher that was shut down cannot come back */
  } else {
    trace_dispatch_ref(d);
    TRACE__STORE_REL(&d->pinned, 1);
    trace__live_add(d);
    TRACE__STORE_REL(&trace__global, d);
    trace__rebuild_locked();
  }
  trace__mutex_unlock(&trace__dispatch_lock);
  trace__guard_leave(&g);
  return rc;
}

trace_dispatch *trace_global_default(void) { return TRACE__LOAD_ACQ(&trace__global); }

void trace_flush(void) {
  trace_dispatch *d = TRACE__LOAD_ACQ(&trace__global);
  if (d)
    trace_dispatch_flush(d);
}

void trace_shutdown(void) {
  trace__thread *self = &trace__tls;
  if (self->depth != 0)
    return; /* from inside a subscriber callback: cannot wait for ourselves */
  TRACE__KEEP_ERRNO();
  trace__core_init();
  trace_dispatch *d = TRACE__LOAD_ACQ(&trace__global);
  if (!d) {
    return;
  }
  trace_dispatch_flush(d);
  trace__thread *t = trace__thread_enter();
  trace__mutex_lock(&trace__dispatch_lock);
  if (TRACE__LOAD(&trace__global) != d) { /* a concurrent shutdown won */
    trace__mutex_unlock(&trace__dispatch_lock);
    if (t)
      trace__thread_leave(t);
    return;
  }
  TRACE__STORE_REL(&trace__global, NULL);
  TRACE__STORE_REL(&d->alive, 0);
  trace__live_remove(d);
  trace__rebuild_locked();
  trace__mutex_unlock(&trace__dispatch_lock);
  if (t)
    trace__thread_leave(t);
  /* Wait for every thread still inside the subscriber, then destroy it. */
  trace__synchronize();
  trace__mutex_lock(&trace__dispatch_lock);
  destroy_subscriber(d);
  d->next_retired = retired;
  retired = d;
  trace__mutex_unlock(&trace__dispatch_lock);
}

trace_default_guard trace_set_default(trace_dispatch *d) {
  trace_default_guard g;
  memset(&g, 0, sizeof g);
  g.loop_ = 1;
  trace__thread *t = &trace__tls;
  if (t->depth != 0 || (t->state != TRACE__THREAD_LIVE && !trace__thread_register(t)))
    return g; /* inside a callback, or no thread state: an inactive guard, restoring is a no-op */
  TRACE__KEEP_ERRNO();
  trace__core_init();
  if (!d)
    d = &none_dispatch;
  trace_dispatch_ref(d);
  g.prev = t->has_scoped ? t->scoped : TRACE__LOAD_ACQ(&trace__global);
  g.installed = d;
  g.active_ = t->has_scoped ? 2 : 1; /* 2: the previous default was scoped too */
  t->scoped = d;
  t->has_scoped = 1;
  if (t->scoped_depth++ == 0)
    __atomic_fetch_add(&trace__scoped_count, 1, __ATOMIC_SEQ_CST);
  trace__thread *in = trace__thread_enter();
  trace__mutex_lock(&trace__dispatch_lock);
  trace__live_add(d);
  trace__rebuild_locked();
  trace__mutex_unlock(&trace__dispatch_lock);
  if (in)
    trace__thread_leave(in);
  return g;
}

void trace_default_guard_restore(trace_default_guard *g) {
  if (!g || !g->active_)
    return;
  trace__thread *t = &trace__tls;
  TRACE__KEEP_ERRNO();
  bool prev_scoped = g->active_ == 2;
  g->active_ = 0;
  t->scoped = prev_scoped ? g->prev : NULL;
  if (--t->scoped_depth == 0) {
    t->has_scoped = 0;
    __atomic_fetch_sub(&trace__scoped_count, 1, __ATOMIC_SEQ_CST);
  }
  trace__thread *in = trace__thread_enter();
  trace__mutex_lock(&trace__dispatch_lock);
  if (g->installed)
    trace__live_remove(g->installed);
  trace__rebuild_locked();
  trace__mutex_unlock(&trace__dispatch_lock);
  if (in)
    trace__thread_leave(in);
  trace_dispatch_release(g->installed);
  g->installed = NULL;
}
