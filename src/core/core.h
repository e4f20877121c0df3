/* Internals shared by the core modules (callsites, dispatch, spans, events). */
#ifndef TRACE_CORE_CORE_H
#define TRACE_CORE_CORE_H

#include "../common/compiler.h"
#include "../common/mutex.h"
#include "../common/thread.h"
#include "trace/subscriber.h"

struct trace_dispatch {
  trace_subscriber_vtable vt; /* normalised: struct_size is ours, missing entries NULL */
  void *self;
  uint32_t refs;     /* atomic */
  uint8_t alive;     /* atomic: 0 once shut down (global) */
  uint8_t pinned;    /* atomic: set once installed as the global default; never freed then */
  uint8_t destroyed; /* subscriber destroyed */
  uint32_t live_uses;            /* installed as global or scoped somewhere; under dispatch_lock */
  struct trace_dispatch *next_live; /* list of installed dispatchers; under dispatch_lock */
  struct trace_dispatch *next_retired;
  struct trace__destroy_cb *on_destroy; /* trace_dispatch_on_destroy; under dispatch_lock */
};

typedef struct trace__destroy_cb {
  void (*fn)(void *arg);
  void *arg;
  struct trace__destroy_cb *next;
} trace__destroy_cb;

/* The lock that orders dispatcher changes, registration and interest rebuilds (cold paths). */
extern trace__mutex trace__dispatch_lock;
void trace__core_init(void);
/* Set (atomic) once exit() has begun: module destructors then mean the process is ending. */
extern uint8_t trace__exiting;

/* Installed dispatchers (global + scoped), for interest computation; under dispatch_lock. */
extern trace_dispatch *trace__live_head;
void trace__live_add(trace_dispatch *d);    /* under dispatch_lock */
void trace__live_remove(trace_dispatch *d); /* under dispatch_lock */
void trace__rebuild_locked(void);           /* under dispatch_lock, depth > 0 */
void trace__rebuild_deferred(void);         /* trace__leave_work: a rebuild asked for in a callback */

extern trace_dispatch *trace__global;  /* atomic */
extern uint8_t trace__max_level;       /* atomic: the max of every installed dispatcher's hint */
extern uint32_t trace__scoped_count;   /* atomic: threads with a scoped default */

static inline trace_dispatch *trace__current_dispatch(trace__thread *t) {
  if (TRACE__UNLIKELY(TRACE__LOAD(&trace__scoped_count) != 0) && t->has_scoped)
    return t->scoped;
  return TRACE__LOAD_ACQ(&trace__global);
}

static inline bool trace__dispatch_alive(const trace_dispatch *d) {
  return d && TRACE__LOAD_ACQ(&d->alive);
}

/* A span handle's dispatch reference: pinned (global) dispatchers are never freed, so their
 * spans skip the shared reference count. */
void trace__dispatch_span_ref(trace_dispatch *d);
void trace__dispatch_span_unref(trace_dispatch *d);

trace_interest trace__dispatch_register(trace_dispatch *d, const trace_metadata *meta);

/* trace__event with the message arguments as a va_list (events made at run time: dynamic.c). */
void trace__event_va(trace_callsite *cs, const trace_value *values, int parent_kind,
                     const trace_span *parent, va_list *ap);

/* The value set of a new span or event: every declared field of cs, in order. */
static inline trace_valueset trace__declared_values(const trace_callsite *cs,
                                                    const trace_value *values) {
  trace_valueset vs = {&cs->meta, values, NULL, cs->meta.field_count};
  return vs;
}

/* Where a new span or event hangs: the parent kind and id the subscriber sees. */
void trace__resolve_parent(struct trace_dispatch *d, int parent_kind, const trace_span *parent,
                           uint32_t *kind, uint64_t *id);

/* Reports a record of an undeclared field (once per callsite and field). */
void trace__report_undeclared(const trace_metadata *meta, const char *field, const trace_value *v);

#endif
