/* The registry as a subscriber: span storage and lifecycle, per-thread entered stacks, and the
 * fan-out of spans and events to layers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../common/clock.h"
#include "internal.h"

/* ---------------------------------------------------------------------------------------- */
/* Per-thread state. */

static int close_slot(trace_registry *r, reg_thread *ts, slot *s);

static void thread_dtor(void *p) {
  reg_thread *ts = p;
  trace_registry *r = ts->r;
  if (!TRACE__LOAD(&r->destroying)) {
    /* The thread is exiting with spans still entered: release the references those entries
     * hold, so the spans can close. Free slots go back to the shared list. */
    while (ts->depth > 0) {
      slot *s = reg_entry_slot(&ts->stack[--ts->depth]);
      if (s && reg_slot_refs_drop(s, 1) == 0)
        close_slot(r, NULL, s);
    }
    trace__reg_thread_release_slots(r, ts);
  }
  if (ts->stack != ts->inline_stack)
    trace__free(ts->stack);
  trace__free_lines(ts);
}

static void thread_init(void *p, void *r) {
  reg_thread *ts = p;
  ts->r = r;
  ts->stack = ts->inline_stack;
  ts->stack_cap = TRACE__ARRAY_LEN(ts->inline_stack);
}

reg_thread *trace__reg_thread_get_slow(trace_registry *r) {
  return trace__local_make(r->local_key, sizeof(reg_thread), thread_init, r);
}

static bool stack_push(reg_thread *ts, slot *s, uint64_t id) {
  /* Entries whose slot was freed under them (see reg_entry) go as soon as they are on top. */
  while (TRACE__UNLIKELY(ts->depth > 0 && !reg_entry_slot(&ts->stack[ts->depth - 1])))
    ts->depth--;
  if (TRACE__UNLIKELY(ts->depth == ts->stack_cap)) {
    uint32_t cap = ts->stack_cap * 2;
    reg_entry *p = trace__malloc(cap * sizeof *p);
    if (!p)
      return false;
    memcpy(p, ts->stack, ts->depth * sizeof *p);
    reg_entry *old = ts->stack != ts->inline_stack ? ts->stack : NULL;
    ts->stack = p; /* published, then the old one freed: a signal handler or fork() in between
                      never finds freed memory here */
    ts->stack_cap = cap;
    TRACE__RELEASE_FENCE();
    trace__free(old);
  }
  ts->stack[ts->depth++] = (reg_entry){s, id};
  return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Notifications: the registry's filter first, then each layer that enabled the span (its filter
 * before the layer itself). */

/* for each set bit of mask: i is the layer index, l the layer. The body may use continue. */
#define FOR_EACH_LAYER(r, mask, i, l)                                                              \
  for (uint64_t bits_ = (mask); bits_; bits_ &= bits_ - 1)                                         \
    for (unsigned i = (unsigned)__builtin_ctzll(bits_), once_ = 1; once_; once_ = 0)               \
      for (trace_layer *l = (r)->layers[i]; once_; once_ = 0)

static inline trace_ctx ctx_for(trace_registry *r, reg_thread *ts, unsigned i) {
  trace_ctx c = {r, ts, (int)i, 1ull << i, NULL, 0};
  return c;
}

static inline trace_ctx ctx_global(trace_registry *r, reg_thread *ts) {
  trace_ctx c = {r, ts, -1, ~0ull, NULL, 0};
  return c;
}

/* A context for callbacks about span s (its id): trace_ctx_span(ctx, id) then finds it at once. */
static inline trace_ctx ctx_about(trace_ctx c, slot *s, uint64_t id) {
  c.about = s;
  c.about_id = id;
  return c;
}

/* The layers to tell of s's close. Those that hear only of spans whose extension they used skip
 * the others (the refs decrement that brought us here orders every use of the extension before
 * us). */
static inline uint64_t close_mask(const trace_registry *r, const slot *s, uint64_t used) {
  return s->layers & r->has_close & ~(r->close_if_used & ~used);
}

/* Whether anybody is to hear of an enter or an exit of s: checked before the call. */
static inline bool enter_heard(const trace_registry *r, const slot *s) {
  return r->timing || (s->layers & r->has_enter) ||
         (r->filter && r->filter->vt.on_enter && reg_filter_scoped(r->filter));
}
static inline bool exit_heard(const trace_registry *r, const slot *s) {
  return r->timing || (s->layers & r->has_exit) ||
         (r->filter && r->filter->vt.on_exit && reg_filter_scoped(r->filter));
}

/* Tells layer l that s closed: on_close_read with the span's view and values, or on_close. No
 * lock for the values: no reference to s is left (or, at shutdown, no thread is inside the
 * registry), so nothing records into it now. */
static TRACE__INLINE void close_layer(const trace_layer *l, slot *s, uint64_t id,
                                      const trace_ctx *c) {
  if (l->vt.on_close_read) {
    trace_span_view v = {(const trace_span_ref *)(const void *)s, s->meta,
                         l->ext_size ? reg_slot_ext(s, l) : NULL, reg_span_ids(c->r, s)};
    trace_valueset vs = reg_slot_values(s);
    l->vt.on_close_read(l->self, id, &v, &vs, c);
    return;
  }
  l->vt.on_close(l->self, id, c);
}

/* Out of line, like the other notifications below: often nobody is to be told (the fmt layer
 * needs no enter or exit, nor the close of a span no event looked at; the env-filter needs no
 * span callback without span directives), and the fast paths then need no stack frame. */
static TRACE__NOINLINE void notify_close_all(trace_registry *r, reg_thread *ts, slot *s,
                                             uint64_t id) {
  uint64_t used = TRACE__LOAD(&s->ext_used);
  FOR_EACH_LAYER(r, close_mask(r, s, used), i, l) {
    trace_ctx c = ctx_about(ctx_for(r, ts, i), s, id);
    if (l->filter && l->filter->vt.on_close)
      l->filter->vt.on_close(l->filter->self, id, &c);
    if ((l->vt.on_close || l->vt.on_close_read) &&
        (!(l->flags & TRACE_LAYER_CLOSE_IF_EXT_USED) || (used & c.bit)))
      close_layer(l, s, id, &c);
  }
  if (r->filter && r->filter->vt.on_close) {
    trace_ctx c = ctx_about(ctx_global(r, ts), s, id);
    r->filter->vt.on_close(r->filter->self, id, &c);
  }
}

/* Whether mask names one layer, which is to be told by its own callback only, and the
 * registry's filter has nothing to hear (solo: see trace_registry): the common case of one
 * layer per kind of callback, told with a single call, without the loop's frame. */
static inline bool lone_layer(uint64_t mask, uint64_t solo) {
  return (mask & solo) && !(mask & (mask - 1));
}

/* m: close_mask's answer for s, which the caller worked out already. */
static TRACE__NOINLINE void notify_close(trace_registry *r, reg_thread *ts, slot *s, uint64_t id,
                                         uint64_t m) {
  if (TRACE__LIKELY(lone_layer(m, r->solo_close))) {
    unsigned i = (unsigned)__builtin_ctzll(m);
    trace_layer *l = r->layers[i];
    trace_ctx c = ctx_about(ctx_for(r, ts, i), s, id);
    close_layer(l, s, id, &c);
    return;
  }
  notify_close_all(r, ts, s, id);
}

/* The last reference is gone: tell the layers, free the slot, drop the reference on the parent
 * (iteratively: a long chain of parents must not recurse). Returns 1, for reg_try_close. */
static TRACE__NOINLINE int close_slot(trace_registry *r, reg_thread *ts, slot *s) {
  while (s) {
    uint64_t m = close_mask(r, s, TRACE__LOAD(&s->ext_used));
    if (m || (r->filter && r->filter->vt.on_close))
      notify_close(r, ts, s, reg_slot_id(s), m);
    slot *parent = reg_slot_parent(s);
    s->parent = NULL;
    trace__reg_slot_free(r, ts, s);
    s = parent && reg_slot_refs_drop(parent, 1) == 0 ? parent : NULL;
  }
  return 1;
}

/* The layers for this hit: what enabled() decided a moment ago on this thread, or the cached
 * always-layers, or (when that is not enough) the filters asked again. */
static inline uint64_t take_mask(trace_registry *r, reg_thread *ts, const trace_metadata *meta) {
  /* The stash is for the dispatch right after the enabled() call that left it: exactly one
   * outermost libtrace call (that check) has ended on this thread since. A stash left by a
   * check whose callsite was then not dispatched (enabled said no, or the interest changed since
   * to ALWAYS, which skips the check) must not decide a later hit. */
  if (ts->stash_meta == meta) {
    ts->stash_meta = NULL;
    if (TRACE__LIKELY(TRACE__LOAD(&trace__tls.seq) == ts->stash_seq + 1))
      return ts->stash_mask;
  }
  uint64_t mask;
  if (TRACE__LIKELY(reg_cs_fixed_mask(r, meta->callsite_id, &mask)))
    return mask;
  return trace__reg_enabled_mask(r, ts, meta);
}

/* ---------------------------------------------------------------------------------------- */
/* The subscriber vtable. */

/* A thread whose state cannot be allocated (out of memory) has entered no span of this
 * registry: an empty state on the stack says exactly that, so its events are still judged and
 * dispatched rather than lost. Nothing is cached in it; the next call tries to allocate again.
 * Out of line, so that the hot paths' frames do not carry it. */
static void reg_thread_empty(trace_registry *r, reg_thread *empty) {
  memset(empty, 0, sizeof *empty);
  empty->r = r;
  empty->stack = empty->inline_stack;
  empty->stack_cap = TRACE__ARRAY_LEN(empty->inline_stack);
}

static TRACE__INLINE bool enabled_for(trace_registry *r, reg_thread *ts,
                                      const trace_metadata *meta) {
  if (r->nlayers == 0)
    return meta->kind == TRACE_KIND_SPAN;
  uint64_t mask = trace__reg_enabled_mask(r, ts, meta);
  ts->stash_meta = meta;
  ts->stash_mask = mask;
  ts->stash_seq = TRACE__LOAD(&trace__tls.seq);
  return mask != 0;
}

static TRACE__NOINLINE bool enabled_stateless(trace_registry *r, const trace_metadata *meta) {
  reg_thread empty;
  reg_thread_empty(r, &empty);
  return enabled_for(r, &empty, meta);
}

static bool reg_enabled(void *self, const trace_metadata *meta) {
  trace_registry *r = self;
  reg_thread *ts = reg_thread_get(r);
  if (TRACE__UNLIKELY(!ts))
    return enabled_stateless(r, meta);
  return enabled_for(r, ts, meta);
}

static TRACE__NOINLINE void notify_new_span_all(trace_registry *r, reg_thread *ts, slot *s,
                                                uint64_t id, const trace_span_attrs *a) {
  if (r->filter && r->filter->vt.on_new_span) {
    trace_ctx c = ctx_about(ctx_global(r, ts), s, id);
    r->filter->vt.on_new_span(r->filter->self, a, id, &c);
  }
  FOR_EACH_LAYER(r, s->layers & r->has_new_span, i, l) {
    trace_ctx c = ctx_about(ctx_for(r, ts, i), s, id);
    if (l->filter && l->filter->vt.on_new_span)
      l->filter->vt.on_new_span(l->filter->self, a, id, &c);
    if (l->vt.on_new_span)
      l->vt.on_new_span(l->self, a, id, &c);
  }
}

/* m: the layers of s with something to hear of a new span, which the caller worked out. */
static TRACE__NOINLINE void notify_new_span(trace_registry *r, reg_thread *ts, slot *s, uint64_t id,
                                            const trace_span_attrs *a, uint64_t m) {
  if (TRACE__LIKELY(lone_layer(m, r->solo_new_span))) {
    unsigned i = (unsigned)__builtin_ctzll(m);
    trace_layer *l = r->layers[i];
    trace_ctx c = ctx_about(ctx_for(r, ts, i), s, id);
    l->vt.on_new_span(l->self, a, id, &c);
    return;
  }
  notify_new_span_all(r, ts, s, id, a);
}

uint64_t trace_registry_ticks(void) { return TRACE__HAVE_TSC ? trace__tsc() : trace__monotonic_ns(); }

/* TRACE_LAYER_CREATION: when and where s began, into the extension of each layer of mask
 * (inline for one layer, the common case). */
static TRACE__NOINLINE void write_creation_all(trace_registry *r, slot *s, uint64_t mask,
                                               const trace_span_creation *c) {
  FOR_EACH_LAYER(r, mask, i, l) {
    (void)i;
    memcpy(reg_slot_ext(s, l), c, sizeof *c);
  }
}
static TRACE__INLINE void write_creation(trace_registry *r, slot *s, uint64_t mask,
                                         uint64_t ticks) {
  uint32_t thread = trace__tls.number;
  trace_span_creation c = {ticks, thread ? thread : trace_thread_id(), 0};
  if (TRACE__LIKELY(!(mask & (mask - 1))))
    memcpy(reg_slot_ext(s, r->layers[__builtin_ctzll(mask)]), &c, sizeof c);
  else
    write_creation_all(r, s, mask, &c);
}

/* A new span with refs references (2: the handle's and an entry's). One copy, out of line: the
 * helpers it inlines would not be inlined twice. */
static uint64_t new_span(trace_registry *r, const trace_span_attrs *a, uint32_t refs) {
  reg_thread *ts = reg_thread_get(r);
  if (TRACE__UNLIKELY(!ts))
    return 0;
  uint64_t mask = r->nlayers ? take_mask(r, ts, a->meta) : 0;
  if (r->nlayers && !mask)
    return 0;
  /* The clock first, for TRACE_LAYER_CREATION: reading it takes some 40 cycles, which the work
   * below then overlaps (some 7 ns of a span exported by the OTLP layer: 85.6 to 78.3 ns). */
  uint64_t ticks = mask & r->creation_layers ? trace_registry_ticks() : 0;
  slot *parent = NULL;
  if (a->parent_kind == TRACE_PARENT_CURRENT)
    parent = ts->depth ? reg_thread_current(ts) : NULL;
  else if (a->parent_kind == TRACE_PARENT_EXPLICIT)
    parent = reg_lookup(r, a->parent_id);
  slot *s = trace__reg_slot_alloc(r, ts);
  if (TRACE__UNLIKELY(!s))
    return 0;
  s->meta = a->meta;
  s->layers = mask;
  TRACE__STORE(&s->ext_used, 0); /* atomic: see trace_span_ref_ext */
  s->parent = parent;
  s->parent_id = parent ? reg_slot_id(parent) : 0;
  if (parent)
    __atomic_add_fetch(&parent->refs, 1, __ATOMIC_RELAXED);
  s->refs = refs;
  s->nfollows = 0;
  s->entered = 0;
  trace__reg_values_init(s, &a->fields);
  if (r->timing) {
    s->created_ns = s->last_ns = trace__monotonic_ns();
    s->busy_ns = s->idle_ns = 0;
  }
  if (r->ext_clear)
    memset(reg_slot_ext_base(s), 0, r->ext_clear);
  if (TRACE__UNLIKELY(r->context_layers != 0))
    trace__reg_context_new_span(r, s, parent, a, mask);
  if (mask & r->creation_layers)
    write_creation(r, s, mask & r->creation_layers, ticks);
  s->live = 1;
  /* Even: the slot holds a span now, and its id is valid from here on. */
  TRACE__STORE_REL(&s->gen, s->gen + 1);
  uint64_t id = reg_slot_id(s);
  /* TRACE_LAYER_NEW_SPAN_ONCE layers told of a span on this thread already are not told again. */
  uint64_t told = mask & r->has_new_span & ~ts->new_span_told;
  if (told || r->filter_new_span) {
    ts->new_span_told |= told & r->new_span_once;
    notify_new_span(r, ts, s, id, a, told);
  }
  return id;
}

static uint64_t reg_new_span(void *self, const trace_span_attrs *a) { return new_span(self, a, 1); }

static void reg_record(void *self, uint64_t id, const trace_valueset *vs) {
  trace_registry *r = self;
  slot *s = reg_lookup(r, id);
  if (!s) {
    __atomic_add_fetch(&r->stale_ids, 1, __ATOMIC_RELAXED);
    return;
  }
  reg_thread *ts = reg_thread_get(r);
  reg_slot_lock(s);
  trace__reg_values_record(s, vs);
  reg_slot_unlock(s);
  if (r->filter && r->filter->vt.on_record) {
    trace_ctx c = ctx_about(ctx_global(r, ts), s, id);
    r->filter->vt.on_record(r->filter->self, id, vs, &c);
  }
  FOR_EACH_LAYER(r, s->layers & r->has_record, i, l) {
    trace_ctx c = ctx_about(ctx_for(r, ts, i), s, id);
    if (l->filter && l->filter->vt.on_record)
      l->filter->vt.on_record(l->filter->self, id, vs, &c);
    if (l->vt.on_record)
      l->vt.on_record(l->self, id, vs, &c);
  }
}

static void reg_follows_from(void *self, uint64_t id, uint64_t follows) {
  trace_registry *r = self;
  slot *s = reg_lookup(r, id);
  if (!s || !reg_lookup(r, follows)) {
    __atomic_add_fetch(&r->stale_ids, 1, __ATOMIC_RELAXED);
    return;
  }
  reg_slot_lock(s);
  if (s->nfollows == s->follows_cap) {
    uint32_t cap = s->follows_cap ? s->follows_cap * 2 : 4;
    /* Not realloc: it frees the old array before the new one is published, and a fork() in
     * between would leave the child's trace_shutdown the freed one to free again. */
    uint64_t *p = trace__malloc(cap * sizeof *p);
    if (p) {
      uint64_t *old = s->follows;
      if (old)
        memcpy(p, old, s->nfollows * sizeof *p);
      s->follows = p;
      s->follows_cap = cap;
      TRACE__RELEASE_FENCE();
      trace__free(old);
    }
  }
  if (s->nfollows < s->follows_cap)
    s->follows[s->nfollows++] = follows;
  reg_slot_unlock(s);
  reg_thread *ts = reg_thread_get(r);
  FOR_EACH_LAYER(r, s->layers & r->has_follows, i, l) {
    trace_ctx c = ctx_about(ctx_for(r, ts, i), s, id);
    l->vt.on_follows_from(l->self, id, follows, &c);
  }
}

static TRACE__INLINE void event_for(trace_registry *r, reg_thread *ts, const trace_event *ev) {
  uint64_t mask = take_mask(r, ts, ev->meta) & r->has_event;
  if (!mask)
    return;
  if (r->filter && r->filter->vt.event_enabled) {
    trace_ctx c = ctx_global(r, ts);
    if (!r->filter->vt.event_enabled(r->filter->self, ev, &c))
      return;
  }
  FOR_EACH_LAYER(r, mask, i, l) {
    trace_ctx c = ctx_for(r, ts, i);
    if (l->filter && l->filter->vt.event_enabled &&
        !l->filter->vt.event_enabled(l->filter->self, ev, &c))
      continue;
    l->vt.on_event(l->self, ev, &c);
  }
}

static TRACE__NOINLINE void event_stateless(trace_registry *r, const trace_event *ev) {
  reg_thread empty;
  reg_thread_empty(r, &empty);
  event_for(r, &empty, ev);
}

static void reg_event(void *self, const trace_event *ev) {
  trace_registry *r = self;
  reg_thread *ts = reg_thread_get(r);
  if (TRACE__UNLIKELY(!ts))
    event_stateless(r, ev);
  else
    event_for(r, ts, ev);
}

static void timing_enter(slot *s) {
  reg_slot_lock(s);
  if (s->entered++ == 0) {
    uint64_t now = trace__monotonic_ns();
    s->idle_ns += now - s->last_ns;
    s->last_ns = now;
  }
  reg_slot_unlock(s);
}

static void timing_exit(slot *s) {
  reg_slot_lock(s);
  if (s->entered > 0 && --s->entered == 0) {
    uint64_t now = trace__monotonic_ns();
    s->busy_ns += now - s->last_ns;
    s->last_ns = now;
  }
  reg_slot_unlock(s);
}

static TRACE__NOINLINE void notify_enter(trace_registry *r, reg_thread *ts, slot *s, uint64_t id) {
  if (r->timing)
    timing_enter(s);
  if (r->filter && r->filter->vt.on_enter && reg_filter_scoped(r->filter)) {
    trace_ctx c = ctx_about(ctx_global(r, ts), s, id);
    r->filter->vt.on_enter(r->filter->self, id, &c);
  }
  FOR_EACH_LAYER(r, s->layers & r->has_enter, i, l) {
    trace_ctx c = ctx_about(ctx_for(r, ts, i), s, id);
    if (l->filter && l->filter->vt.on_enter && reg_filter_scoped(l->filter))
      l->filter->vt.on_enter(l->filter->self, id, &c);
    if (l->vt.on_enter)
      l->vt.on_enter(l->self, id, &c);
  }
}

/* The reference an entry holds (closing the span's handles while it is entered is harmless), and
 * whoever is to hear of the enter. */
static TRACE__INLINE void entered(trace_registry *r, reg_thread *ts, slot *s, uint64_t id) {
  __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
  if (enter_heard(r, s))
    notify_enter(r, ts, s, id);
}

/* An enter on a thread whose stack needs work first: no state yet, full, stale entries on top. */
static TRACE__NOINLINE void enter_slow(trace_registry *r, slot *s, uint64_t id) {
  reg_thread *ts = reg_thread_get(r);
  if (TRACE__UNLIKELY(!ts) || !stack_push(ts, s, id))
    return;
  entered(r, ts, s, id);
}

/* Pushes the entry when the stack needs no work first (room, no stale entry on top); false
 * leaves it to stack_push. */
static TRACE__INLINE bool push_fast(reg_thread *ts, slot *s, uint64_t id) {
  uint32_t d = ts->depth;
  if (TRACE__UNLIKELY(d == ts->stack_cap || (d > 0 && !reg_entry_slot(&ts->stack[d - 1]))))
    return false;
  ts->stack[d] = (reg_entry){s, id};
  ts->depth = d + 1;
  return true;
}

/* The common enter needs no stack frame: the slow cases and the notifications are tail calls. */
static void reg_enter(void *self, uint64_t id) {
  trace_registry *r = self;
  slot *s = reg_lookup(r, id);
  if (TRACE__UNLIKELY(!s)) {
    __atomic_add_fetch(&r->stale_ids, 1, __ATOMIC_RELAXED);
    return;
  }
  reg_thread *ts = (reg_thread *)trace__local_get(r->local_key);
  if (TRACE__UNLIKELY(!ts || !push_fast(ts, s, id))) {
    enter_slow(r, s, id);
    return;
  }
  entered(r, ts, s, id);
}

static TRACE__NOINLINE void notify_exit(trace_registry *r, reg_thread *ts, slot *s, uint64_t id) {
  FOR_EACH_LAYER(r, s->layers & r->has_exit, i, l) {
    trace_ctx c = ctx_about(ctx_for(r, ts, i), s, id);
    if (l->filter && l->filter->vt.on_exit && reg_filter_scoped(l->filter))
      l->filter->vt.on_exit(l->filter->self, id, &c);
    if (l->vt.on_exit)
      l->vt.on_exit(l->self, id, &c);
  }
  if (r->filter && r->filter->vt.on_exit && reg_filter_scoped(r->filter)) {
    trace_ctx c = ctx_about(ctx_global(r, ts), s, id);
    r->filter->vt.on_exit(r->filter->self, id, &c);
  }
  if (r->timing)
    timing_exit(s);
}

/* Whoever is to hear of the exit, then the entry's reference goes. */
static TRACE__NOINLINE void exit_notify_release(trace_registry *r, reg_thread *ts, slot *s,
                                                uint64_t id) {
  notify_exit(r, ts, s, id);
  if (reg_slot_refs_drop(s, 1) == 0)
    close_slot(r, ts, s);
}

static TRACE__INLINE void exited(trace_registry *r, reg_thread *ts, slot *s, uint64_t id) {
  if (TRACE__UNLIKELY(!s))
    return; /* its slot was freed under the entry (handle copies closed too often) */
  if (exit_heard(r, s)) {
    exit_notify_release(r, ts, s, id);
    return;
  }
  if (reg_slot_refs_drop(s, 1) == 0)
    close_slot(r, ts, s);
}

/* An exit that is not of the innermost entry: found deeper (exits out of order are allowed), or
 * not at all (never entered on this thread: a harmless no-op; a stale id is never found). */
static TRACE__NOINLINE void exit_slow(trace_registry *r, reg_thread *ts, uint64_t id) {
  uint32_t at = ts->depth;
  while (at > 0 && ts->stack[at - 1].id != id)
    at--;
  if (at == 0)
    return;
  slot *s = reg_entry_slot(&ts->stack[at - 1]);
  memmove(&ts->stack[at - 1], &ts->stack[at], (ts->depth - at) * sizeof *ts->stack);
  ts->depth--;
  exited(r, ts, s, id);
}

static void reg_exit(void *self, uint64_t id) {
  trace_registry *r = self;
  /* No state on this thread: it has entered nothing. */
  reg_thread *ts = (reg_thread *)trace__local_get(r->local_key);
  if (TRACE__UNLIKELY(!ts))
    return;
  uint32_t d = ts->depth;
  if (TRACE__UNLIKELY(d == 0 || ts->stack[d - 1].id != id)) {
    exit_slow(r, ts, id);
    return;
  }
  slot *s = reg_entry_slot(&ts->stack[d - 1]);
  ts->depth = d - 1;
  exited(r, ts, s, id);
}

static uint64_t reg_clone_span(void *self, uint64_t id) {
  trace_registry *r = self;
  slot *s = reg_lookup(r, id);
  if (!s) {
    __atomic_add_fetch(&r->stale_ids, 1, __ATOMIC_RELAXED);
    return 0;
  }
  __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
  return id;
}

static int reg_try_close(void *self, uint64_t id) {
  trace_registry *r = self;
  slot *s = reg_lookup(r, id);
  if (TRACE__UNLIKELY(!s)) {
    __atomic_add_fetch(&r->stale_ids, 1, __ATOMIC_RELAXED);
    return TRACE_ECLOSED;
  }
  if (reg_slot_refs_drop(s, 1) != 0)
    return 0;
  return close_slot(r, (reg_thread *)trace__local_get(r->local_key), s);
}

/* new_span and enter in one call (TRACE_SCOPE): the entry's reference is taken with the
 * handle's, by the store that makes the slot, not by a locked add. */
static uint64_t reg_new_span_entered(void *self, const trace_span_attrs *a) {
  trace_registry *r = self;
  uint64_t id = new_span(r, a, 2);
  /* Made: this thread has its state, and the id its slot. */
  reg_thread *ts = (reg_thread *)trace__local_get(r->local_key);
  slot *s = id ? reg_lookup(r, id) : NULL;
  if (TRACE__UNLIKELY(!s || !ts))
    return id;
  if (TRACE__UNLIKELY(!push_fast(ts, s, id)) && !stack_push(ts, s, id)) {
    /* Not entered (no memory for the stack): the entry's reference goes, the span stays. */
    __atomic_sub_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return id;
  }
  if (enter_heard(r, s))
    notify_enter(r, ts, s, id);
  return id;
}

/* exit and try_close in one call (the end of a TRACE_SCOPE): for the innermost entry of a span
 * whose handle is valid, the entry's reference and the handle's go together, in one locked
 * instruction, or none when they are the last two (reg_slot_refs_drop); anything else (an exit
 * out of order, references already short from a closed copy) is the pair, which handles it. */
static int reg_exit_close(void *self, uint64_t id) {
  trace_registry *r = self;
  reg_thread *ts = (reg_thread *)trace__local_get(r->local_key);
  uint32_t d = ts ? ts->depth : 0;
  slot *s = d > 0 && ts->stack[d - 1].id == id ? reg_entry_slot(&ts->stack[d - 1]) : NULL;
  if (TRACE__LIKELY(s != NULL) && reg_lookup(r, id) == s) {
    uint32_t refs = TRACE__LOAD_ACQ(&s->refs);
    while (refs >= 2) {
      /* Exactly the entry's and the handle's: ours alone (see reg_slot_refs_drop). */
      bool ours = refs == 2;
      if (ours)
        TRACE__STORE(&s->refs, 0);
      if (ours || __atomic_compare_exchange_n(&s->refs, &refs, refs - 2, true, __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE)) {
        ts->depth = d - 1;
        if (exit_heard(r, s))
          notify_exit(r, ts, s, id);
        return refs == 2 ? close_slot(r, ts, s) : 0;
      }
    }
  }
  reg_exit(self, id);
  return reg_try_close(self, id);
}

static uint64_t reg_current_span(void *self, const trace_metadata **meta) {
  trace_registry *r = self;
  reg_thread *ts = (reg_thread *)trace__local_get(r->local_key);
  slot *s = ts && ts->depth ? reg_thread_current(ts) : NULL;
  if (!s)
    return 0;
  *meta = s->meta;
  return reg_slot_id(s);
}

static void flush_layers(trace_registry *r) {
  for (unsigned i = 0; i < r->nlayers; i++)
    if (r->layers[i]->vt.flush)
      r->layers[i]->vt.flush(r->layers[i]->self);
}

void trace_registry_flush(trace_registry *r) {
  if (!r)
    return;
  /* Inside libtrace, as trace_flush is: a layer that logs from flush is not dispatched to. */
  trace__thread *t = trace__thread_enter();
  flush_layers(r);
  if (t)
    trace__thread_leave(t);
}

static void reg_flush(void *self) { flush_layers(self); } /* the core has entered already */

typedef struct open_span {
  slot *s;
  uint32_t depth;
} open_span;

static int deeper_first(const void *a, const void *b) {
  uint32_t da = ((const open_span *)a)->depth, db = ((const open_span *)b)->depth;
  return (da < db) - (da > db);
}

/* Spans still open when the registry goes (a TRACE_SCOPE in main around trace_shutdown, a
 * handle never closed): the layers hear of their close, children before parents as in normal
 * closes, so that whatever a layer keeps per span is freed. The slots go with the registry. */
static void close_open_spans(trace_registry *r) {
  uint32_t n = TRACE__LOAD_ACQ(&r->nslots), open = 0;
  for (uint32_t i = 0; i < n; i++) {
    slot *s = reg_slot_at(r, i);
    open += s && s->live;
  }
  if (open == 0 || (!r->has_close && !(r->filter && r->filter->vt.on_close)))
    return;
  open_span *list = trace__malloc(open * sizeof *list);
  uint32_t k = 0;
  for (uint32_t i = 0; i < n && list; i++) {
    slot *s = reg_slot_at(r, i);
    if (!s || !s->live || k == open)
      continue;
    uint32_t depth = 0;
    for (const slot *p = reg_slot_parent(s); p && depth < n; p = reg_slot_parent(p))
      depth++;
    list[k++] = (open_span){s, depth};
  }
  if (list)
    qsort(list, k, sizeof *list, deeper_first);
  /* Without memory for the order, index order: every layer still hears of every span. */
  for (uint32_t i = 0; i < (list ? k : n); i++) {
    slot *s = list ? list[i].s : reg_slot_at(r, i);
    if (s && s->live) {
      notify_close(r, NULL, s, reg_slot_id(s), close_mask(r, s, TRACE__LOAD(&s->ext_used)));
      s->live = 0;
    }
  }
  trace__free(list);
}

void trace_registry_free(trace_registry *r) {
  if (!r)
    return;
  TRACE__KEEP_ERRNO();
  /* The layers' last callbacks run inside libtrace (what they log is not dispatched, and a
   * callsite they hit first is not registered: trace_shutdown may hold the dispatch lock here),
   * and leave without running deferred work for the same reason. */
  trace__thread *t = trace__thread_enter();
  trace__reg_report_unclosed(r);
  close_open_spans(r);
  flush_layers(r);
  if (t)
    trace__thread_leave_quiet(t);
  for (unsigned i = 0; i < r->nlayers; i++)
    trace_layer_free(r->layers[i]);
  trace_filter_free(r->filter);
  if (r->local_key >= 0) {
    TRACE__STORE(&r->destroying, true); /* thread states are just freed now */
    trace__local_key_delete(r->local_key);
  }
  trace__reg_context_destroy(r);
  trace__reg_slots_destroy(r);
  trace__reg_cs_destroy(r);
  trace__mutex_destroy(&r->lock);
  trace__free_lines(r);
}

static void reg_destroy(void *self) { trace_registry_free(self); }

static const trace_subscriber_vtable registry_vtable = {
    .struct_size = sizeof(trace_subscriber_vtable),
    .register_callsite = trace__reg_register_callsite,
    .enabled = reg_enabled,
    .max_level_hint = trace__reg_max_level_hint,
    .new_span = reg_new_span,
    .record = reg_record,
    .record_follows_from = reg_follows_from,
    .event = reg_event,
    .enter = reg_enter,
    .exit = reg_exit,
    .clone_span = reg_clone_span,
    .try_close = reg_try_close,
    .new_span_entered = reg_new_span_entered,
    .exit_close = reg_exit_close,
    .current_span = reg_current_span,
    .flush = reg_flush,
    .destroy = reg_destroy,
    .span_context = trace__reg_span_context,
    .unload_callsites = trace__reg_unload_callsites,
};

/* ---------------------------------------------------------------------------------------- */
/* Construction. */

trace_registry *trace_registry_new(void) {
  trace_registry *r = trace__alloc_lines(sizeof *r);
  if (!r)
    return NULL;
  r->local_key = trace__local_key_create_made(thread_dtor, sizeof(reg_thread), thread_init, r);
  if (r->local_key < 0) {
    trace__free_lines(r);
    return NULL;
  }
  trace__mutex_init(&r->lock, TRACE__MUTEX_INNER);
  return r;
}

static int remember(trace_registry *r, int err) {
  if (r && !r->error)
    r->error = err;
  return err;
}

int trace_registry_add_layer(trace_registry *r, trace_layer *layer, trace_filter *filter) {
  if (!r || !layer) {
    trace_layer_free(layer);
    trace_filter_free(filter);
    return remember(r, TRACE_EINVAL);
  }
  if (r->installed) {
    trace_layer_free(layer);
    trace_filter_free(filter);
    return TRACE_EBUSY;
  }
  if (r->nlayers == TRACE_REGISTRY_MAX_LAYERS) {
    trace_layer_free(layer);
    trace_filter_free(filter);
    return remember(r, TRACE_ERANGE);
  }
  if (layer->filter)
    trace_filter_free(layer->filter);
  layer->filter = filter;
  layer->ext_offset = r->ext_total;
  r->ext_total += (layer->ext_size + 15u) & ~15u;
  if (layer->ext_size && !(layer->flags & TRACE_LAYER_EXT_KEPT))
    r->ext_clear = r->ext_total; /* clear up to the end of the last layer that needs it */
  unsigned i = r->nlayers++;
  r->layers[i] = layer;
  uint64_t bit = 1ull << i;
  r->all_layers |= bit;
  const trace_filter_vtable *fv = filter ? &filter->vt : NULL;
  if (layer->vt.on_new_span || (fv && fv->on_new_span))
    r->has_new_span |= bit;
  if (layer->vt.on_record || (fv && fv->on_record))
    r->has_record |= bit;
  if (layer->vt.on_follows_from)
    r->has_follows |= bit;
  if (layer->vt.on_event)
    r->has_event |= bit;
  if (layer->vt.on_enter || (fv && fv->on_enter))
    r->has_enter |= bit;
  if (layer->vt.on_exit || (fv && fv->on_exit))
    r->has_exit |= bit;
  bool closes = layer->vt.on_close || layer->vt.on_close_read;
  if (closes || (fv && fv->on_close))
    r->has_close |= bit;
  if (layer->vt.on_new_span && !(fv && fv->on_new_span))
    r->lone_new_span |= bit;
  /* A layer told of a close only when it used the extension is lone too: close_mask leaves it
   * out of the mask otherwise. */
  if (closes && !(fv && fv->on_close))
    r->lone_close |= bit;
  if ((layer->flags & TRACE_LAYER_CLOSE_IF_EXT_USED) && !(fv && fv->on_close))
    r->close_if_used |= bit;
  if (layer->flags & TRACE_LAYER_TIMING)
    r->timing = true;
  if (layer->flags & TRACE_LAYER_CONTEXT)
    r->context_layers |= bit;
  if ((layer->flags & TRACE_LAYER_CONTEXT) && layer->vt.sample)
    r->has_sample |= bit;
  if (layer->flags & TRACE_LAYER_CREATION)
    r->creation_layers |= bit;
  if ((layer->flags & TRACE_LAYER_NEW_SPAN_ONCE) && !(fv && fv->on_new_span))
    r->new_span_once |= bit;
  return 0;
}

int trace_registry_set_filter(trace_registry *r, trace_filter *filter) {
  if (!r || !filter) {
    trace_filter_free(filter);
    return remember(r, TRACE_EINVAL);
  }
  if (r->installed) {
    trace_filter_free(filter);
    return TRACE_EBUSY;
  }
  trace_filter_free(r->filter);
  r->filter = filter;
  return 0;
}

trace_dispatch *trace_registry_dispatch(trace_registry *r) {
  if (!r)
    return NULL;
  if (r->error || r->installed) {
    if (!r->installed)
      trace_registry_free(r);
    return NULL;
  }
  /* Fixed from now on: the slot layout (extensions of every layer) is known, and who hears of
   * new spans and closes. */
  r->solo_new_span = r->filter && r->filter->vt.on_new_span ? 0 : r->lone_new_span;
  r->solo_close = r->filter && r->filter->vt.on_close ? 0 : r->lone_close;
  r->filter_new_span = r->filter && r->filter->vt.on_new_span;
  r->ctx_offset = r->ext_total;
  size_t size = sizeof(slot) + SLOT_INLINE_VALUES * sizeof(trace_value) + SLOT_INLINE_ARENA +
                r->ext_total + (r->context_layers ? sizeof(reg_span_ctx) : 0);
  /* Whole cache lines per slot: spans of different threads must not share one. */
  r->slot_size = (uint32_t)((size + TRACE__CACHE_LINE - 1) & ~(size_t)(TRACE__CACHE_LINE - 1));
  r->installed = true;
  return trace_dispatch_new(&registry_vtable, r); /* on failure, destroy freed r */
}

int trace_registry_install(trace_registry *r) {
  int err = r ? r->error : TRACE_EINVAL;
  trace_dispatch *d = trace_registry_dispatch(r);
  if (!d)
    return err ? err : TRACE_ENOMEM;
  int rc = trace_set_global_default(d);
  trace_dispatch_release(d); /* on success the global default holds it; on failure it is freed */
  return rc;
}

trace_registry_stats trace_registry_get_stats(trace_registry *r) {
  trace_registry_stats st;
  memset(&st, 0, sizeof st);
  if (!r)
    return st;
  trace__mutex_lock(&r->lock);
  uint32_t n = TRACE__LOAD_ACQ(&r->nslots);
  for (uint32_t i = 0; i < n; i++) {
    slot *s = reg_slot_at(r, i);
    if (s && TRACE__LOAD(&s->live))
      st.spans_live++;
  }
  st.spans_created = trace__reg_slots_created_locked(r);
  st.slots_returned = (uint64_t)r->returned_pages * SLOTS_PER_PAGE;
  trace__mutex_unlock(&r->lock);
  st.slots = n;
  st.stale_ids = TRACE__LOAD(&r->stale_ids);
  return st;
}
