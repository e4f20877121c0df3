/* Callsites: first-hit registration, the cached interest, the global maximum level, interest
 * rebuilds, and the inventory (ELF sections of every loaded module). */
#include <errno.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "core.h"

uint8_t trace__max_level; /* TRACE_LEVEL_OFF until a subscriber is installed */


enum { CS_UNREGISTERED = 0, CS_REGISTERED = 2 };

/* Registered callsites: a lock-free push-only list (readers walk it under dispatch_lock). */
static trace_callsite *registered_head;
static uint32_t next_callsite_id = 1;

/* Sections of loaded modules, from the constructor each translation unit gets from trace.h.
 * Every TU of a module reports the same range, so ranges are reference counted. */
typedef struct section_range {
  trace_callsite *start, *stop;
  unsigned uses;
  struct section_range *next;
} section_range;
static section_range *sections;

/* Targets derived from __FILE__, interned so every callsite of a file shares one string. The
 * file name is copied, never kept by pointer: __FILE__ lives in the module that logged, and a
 * dlclose'd module's strings are unmapped (comparing against one crashed the next registration).
 * Each entry counts the registered callsites that use it; unloading a module gives those uses
 * back and frees the entries nobody uses any more. Under dispatch_lock. */
typedef struct derived_target {
  struct derived_target *next;
  size_t uses;
  const char *file; /* the copy, after target in the same block */
  char target[];
} derived_target;
static derived_target *derived_targets;

static const char *derive_target_locked(const char *file) {
  if (!file)
    return "unknown";
  for (derived_target *t = derived_targets; t; t = t->next)
    if (strcmp(t->file, file) == 0) {
      t->uses++;
      return t->target;
    }
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  const char *dot = strrchr(base, '.'); /* the extension: the part after the last dot */
  size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
  size_t file_len = strlen(file);
  derived_target *t = trace__malloc(sizeof *t + len + 1 + file_len + 1);
  if (!t)
    return "unknown";
  memcpy(t->target, base, len);
  t->target[len] = '\0';
  memcpy(t->target + len + 1, file, file_len + 1);
  t->file = t->target + len + 1;
  t->uses = 1;
  t->next = derived_targets;
  derived_targets = t;
  return t->target;
}

/* cs is leaving (its module is unloaded): if its target was derived, give the use back. */
static void release_target_locked(const trace_callsite *cs) {
  for (derived_target **link = &derived_targets; *link; link = &(*link)->next) {
    derived_target *t = *link;
    if (t->target != cs->meta.target)
      continue;
    if (--t->uses == 0) {
      *link = t->next;
      trace__free(t);
    }
    return;
  }
}

trace_interest trace__dispatch_register(trace_dispatch *d, const trace_metadata *meta) {
  if (!trace__dispatch_alive(d))
    return TRACE_INTEREST_NEVER;
  if (d->vt.register_callsite) {
    trace_interest i = d->vt.register_callsite(d->self, meta);
    if (i >= TRACE_INTEREST_NEVER && i <= TRACE_INTEREST_ALWAYS)
      return i;
    return TRACE_INTEREST_SOMETIMES; /* a bad answer must not silence anything */
  }
  if (!d->vt.enabled)
    return TRACE_INTEREST_ALWAYS;
  return d->vt.enabled(d->self, meta) ? TRACE_INTEREST_ALWAYS : TRACE_INTEREST_NEVER;
}

/* The combined interest of every installed dispatcher; under dispatch_lock with depth > 0. A
 * callsite more verbose than the global maximum level is NEVER whatever the subscribers say:
 * the macros check nothing else on the disabled path. */
static trace_interest compute_interest_locked(const trace_metadata *meta) {
  if (meta->level > TRACE__LOAD(&trace__max_level))
    return TRACE_INTEREST_NEVER;
  int combined = 0;
  for (trace_dispatch *d = trace__live_head; d; d = d->next_live) {
    trace_interest i = trace__dispatch_register(d, meta);
    if (combined == 0)
      combined = (int)i;
    else if (combined != (int)i)
      combined = TRACE_INTEREST_SOMETIMES;
  }
  return combined ? (trace_interest)combined : TRACE_INTEREST_NEVER;
}

/* Registers cs if nobody has; returns once it is registered. Everything happens under the
 * dispatch lock, which the fork handlers hold across fork(): a child can never inherit a
 * callsite half registered by a thread it does not have (it would wait for it forever). */
static void register_locked(trace_callsite *cs) {
  if (TRACE__LOAD_ACQ(&cs->state) == CS_REGISTERED) /* another thread was first */
    return;
  if (!cs->meta.target)
    cs->meta.target = derive_target_locked(cs->meta.file);
  cs->meta.callsite_id = __atomic_fetch_add(&next_callsite_id, 1, __ATOMIC_RELAXED);
  trace_callsite *head = TRACE__LOAD(&registered_head);
  do {
    cs->next = head;
  } while (!__atomic_compare_exchange_n(&registered_head, &head, cs, 1, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED));
  TRACE__STORE_REL(&cs->interest, (uint8_t)compute_interest_locked(&cs->meta));
  TRACE__STORE_REL(&cs->state, CS_REGISTERED);
}

static void register_callsite(trace_callsite *cs) {
  trace__core_init();
  trace__mutex_lock(&trace__dispatch_lock);
  register_locked(cs);
  trace__mutex_unlock(&trace__dispatch_lock);
}

bool trace__callsite_check(trace_callsite *cs) {
  trace__guard g = trace__guard_enter(TRACE__GUARD_OUTER);
  if (!g.t)
    return false;
  if (TRACE__UNLIKELY(TRACE__LOAD_ACQ(&cs->state) != CS_REGISTERED))
    register_callsite(cs);
  bool enabled = false;
  uint8_t interest = TRACE__LOAD_ACQ(&cs->interest);
  if (interest == TRACE_INTEREST_ALWAYS) {
    enabled = true;
  } else if (interest == TRACE_INTEREST_SOMETIMES) {
    trace_dispatch *d = trace__current_dispatch(g.t);
    if (trace__dispatch_alive(d))
      enabled = !d->vt.enabled || d->vt.enabled(d->self, &cs->meta);
  }
  trace__guard_leave(&g);
  return enabled;
}

void trace__rebuild_locked(void) {
  int max = TRACE_LEVEL_OFF;
  for (trace_dispatch *d = trace__live_head; d; d = d->next_live) {
    if (!trace__dispatch_alive(d))
      continue;
    int hint = d->vt.max_level_hint ? d->vt.max_level_hint(d->self) : -1;
    if (hint < 0 || hint > TRACE_LEVEL_TRACE)
      hint = TRACE_LEVEL_TRACE;
    if (hint > max)
      max = hint;
  }
  TRACE__STORE(&trace__max_level, (uint8_t)max);
  for (trace_callsite *cs = TRACE__LOAD_ACQ(&registered_head); cs; cs = cs->next)
    TRACE__STORE_REL(&cs->interest, (uint8_t)compute_interest_locked(&cs->meta));
}

int trace_rebuild_interest(void) {
  trace__thread *t = trace__thread_enter_guarded();
  if (!t) {
    /* Inside a callback the registration lock may be held up the stack: the rebuild happens as
     * soon as this thread leaves libtrace. */
    if (trace__tls.depth != 0) {
      trace__core_init(); /* it set trace__leave_work */
      TRACE__STORE_REL(&trace__leave_pending, 1);
    }
    return TRACE_EBUSY;
  }
  TRACE__STORE(&trace__leave_pending, 0);
  TRACE__KEEP_ERRNO();
  trace__core_init();
  trace__mutex_lock(&trace__dispatch_lock);
  trace__rebuild_locked();
  trace__mutex_unlock(&trace__dispatch_lock);
  trace__thread_leave(t);
  return 0;
}

void trace__rebuild_deferred(void) {
  if (__atomic_exchange_n(&trace__leave_pending, 0, __ATOMIC_ACQ_REL))
    trace_rebuild_interest();
}

int trace_max_level(void) { return TRACE__LOAD(&trace__max_level); }

void trace__register_callsites(trace_callsite *start, trace_callsite *stop) {
  if (!start || start >= stop)
    return;
  TRACE__KEEP_ERRNO();
  trace__core_init();
  trace__mutex_lock(&trace__dispatch_lock);
  section_range *r;
  for (r = sections; r; r = r->next)
    if (r->start == start)
      break;
  if (r) {
    r->uses++;
  } else if ((r = trace__malloc(sizeof *r)) != NULL) {
    r->start = start;
    r->stop = stop;
    r->uses = 1;
    r->next = sections;
    sections = r;
  }
  trace__mutex_unlock(&trace__dispatch_lock);
}

void trace__unregister_callsites(trace_callsite *start, trace_callsite *stop) {
  if (!start || start >= stop)
    return;
  TRACE__KEEP_ERRNO();
  trace__core_init();
  trace__mutex_lock(&trace__dispatch_lock);
  section_range **link = &sections;
  while (*link && (*link)->start != start)
    link = &(*link)->next;
  section_range *r = *link;
  if (r && --r->uses == 0) {
    *link = r->next;
    trace__free(r);
    /* The module is going away (dlclose or exit): its callsites must leave the list that
     * rebuilds walk, and give back their derived targets. Pushes happen under this lock too,
     * so unlinking is safe. */
    trace_callsite **p = &registered_head;
    while (*p) {
      trace_callsite *cs = *p;
      if (cs >= start && cs < stop) {
        *p = cs->next;
        release_target_locked(cs);
      } else {
        p = &cs->next;
      }
    }
    /* Subscribers that keep metadata pointers (the registry's open spans) let go of this
     * module's now. At exit nothing is unmapped and the spans may still be used by later
     * destructors, so they are left alone. */
    if (!TRACE__LOAD(&trace__exiting))
      for (trace_dispatch *d = trace__live_head; d; d = d->next_live)
        if (trace__dispatch_alive(d) && d->vt.unload_callsites)
          d->vt.unload_callsites(d->self, start, stop);
  }
  trace__mutex_unlock(&trace__dispatch_lock);
}

/* Registers every not yet registered callsite of every known module, so that each has its
 * target and an interest to show, whether or not it ever ran. The walk holds dispatch_lock
 * throughout: a module's destructor takes it before the module is unmapped, so no range can
 * vanish under the walk (copying the ranges and walking them unlocked raced dlclose). */
static void register_all_sections_locked(void) {
  for (section_range *r = sections; r; r = r->next)
    for (trace_callsite *cs = r->start; cs < r->stop; cs++)
      register_locked(cs);
}

size_t trace_callsites_foreach(trace_callsite_fn fn, void *ctx) {
  if (!fn)
    return 0;
  trace__guard g = trace__guard_enter(TRACE__GUARD_OUTER);
  if (!g.t)
    return 0;
  trace__core_init();
  size_t n = 0;
  trace__mutex_lock(&trace__dispatch_lock);
  register_all_sections_locked();
  for (trace_callsite *cs = TRACE__LOAD_ACQ(&registered_head); cs; cs = cs->next) {
    fn(ctx, &cs->meta, TRACE__LOAD(&cs->interest));
    n++;
  }
  trace__mutex_unlock(&trace__dispatch_lock);
  trace__guard_leave(&g);
  return n;
}
