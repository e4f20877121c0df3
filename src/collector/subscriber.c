/* The collector as a subscriber of its own: the shortest path from a span macro to a ring. It
 * keeps what the subscriber contract needs and nothing more: span ids with a generation and a
 * reference count (clone, close, stale ids), each thread's entered stack (contextual parents,
 * current_span), and the records. No field values are stored per span (they are in the
 * records), no parent reference is taken (the reporter links spans by id), no layer is asked.
 *
 * Enter and exit read the clock first: the time of an operation is taken before the work of
 * recording it, and the clock's latency overlaps that work. */
#include "../common/thread.h"
#include "record.h"

static inline uint32_t gen_of(uint64_t word) { return (uint32_t)(word >> 32); }
static inline uint32_t refs_of(uint64_t word) { return (uint32_t)word; }

/* The slot of a live span with this id, or NULL (unknown, closed, or stale). */
static TRACE__INLINE col_slot *live_slot(col_slot *const *pages, uint64_t id) {
  col_slot *s = col_slot_find(pages, id);
  if (TRACE__UNLIKELY(!s))
    return NULL;
  uint64_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
  if (TRACE__UNLIKELY(gen_of(st) != (uint32_t)(id >> 32) || refs_of(st) == 0))
    return NULL;
  return s;
}

static TRACE__INLINE uint64_t current_id(const col_thread *t) {
  uint32_t d = t->depth;
  if (d == 0)
    return 0;
  if (TRACE__LIKELY(d <= COL_STACK_MAX))
    return t->stack[d - 1].id;
  return trace__col_innermost(t)->id;
}

static trace_interest sub_register(void *self, const trace_metadata *meta) {
  col *c = self;
  return meta->level <= c->o.max_level ? TRACE_INTEREST_ALWAYS : TRACE_INTEREST_NEVER;
}

static int sub_max_level(void *self) { return ((col *)self)->o.max_level; }

/* The parent a new span or event hangs under. */
static TRACE__INLINE uint64_t parent_of(const col_thread *t, uint32_t kind, uint64_t explicit_id) {
  return kind == TRACE_PARENT_CURRENT ? current_id(t)
         : kind == TRACE_PARENT_EXPLICIT ? explicit_id
                                         : 0;
}

/* The general path of each operation: a thread without its ring yet, an empty slot list, the end
 * of a page, an exit out of order. The fast paths below leave to these by a tail call before
 * changing anything, so that they need no stack frame of their own. */

static TRACE__NOINLINE uint64_t new_span_slow(col *c, const trace_span_attrs *attrs) {
  col_thread *t = col_thread_get(c);
  if (!t)
    return 0;
  uint64_t ts = c->exact ? col_now(t) : 0;
  col_slot *s;
  uint32_t index1;
  uint64_t st;
  do {
    if (!t->free_head && !trace__col_slot_refill(&c->slots, t))
      return 0; /* out of memory or of ids: the span is none */
    index1 = t->free_head;
    s = col_slot_at(&c->slots, index1 - 1);
    t->free_head = s->next_free;
    t->free_count--;
    st = TRACE__LOAD(&s->state);
    /* A slot in use is on this list only after a double close that raced with itself: it is
     * left to its span (and out of the list). */
  } while (refs_of(st) != 0);
  uint64_t gen = gen_of(st);
  TRACE__STORE(&s->meta, attrs->meta);
  __atomic_store_n(&s->state, gen << 32 | 1, __ATOMIC_RELEASE);
  uint64_t id = gen << 32 | index1;
  uint64_t parent = parent_of(t, attrs->parent_kind, attrs->parent_id);
  col_record_new(t, id, parent, attrs, ts, 0);
  if (c->context)
    trace__col_context_new(c, t, s, id, parent, attrs);
  return id;
}

static void enter_slow(col *c, uint64_t id, uint64_t ts);

/* A new span entered at once, the general way: its NEW record, then its ENTER. */
static TRACE__NOINLINE uint64_t new_span_entered_slow(col *c, const trace_span_attrs *attrs) {
  uint64_t id = new_span_slow(c, attrs);
  if (id)
    enter_slow(c, id, 0);
  return id;
}

/* The fast path of a new span on thread t (this thread's, cached). with_context, entered and
 * fast are constants. entered (TRACE_SCOPE, new_span_entered): the span is entered as well, its
 * NEW record saying so (COL_NEW_ENTERED, the time being the enter's) unless lifetimes are
 * exact. fast: t->scope_fast (the TSC, lifetimes not exact). Everything else leaves to a general
 * path by a tail call, and without contexts the record is written last: the path then needs no
 * stack frame. */
static TRACE__INLINE uint64_t new_span_on(col *c, col_thread *t, const trace_span_attrs *attrs,
                                          bool with_context, bool entered, bool fast) {
  bool exact = !fast && c->exact;
  if (TRACE__UNLIKELY(!t->free_head || (entered && (t->depth >= COL_STACK_MAX || exact))))
    return entered ? new_span_entered_slow(c, attrs) : new_span_slow(c, attrs);
  uint32_t d = t->depth; /* below COL_STACK_MAX when entered */
  const trace_metadata *meta = attrs->meta;
  uint64_t ts = !entered && !exact ? 0 : fast ? trace__tsc() : col_now(t);
  uint32_t index1 = t->free_head;
  col_slot *s = col_slot_in(t->pages, index1 - 1);
  uint64_t st = TRACE__LOAD(&s->state);
  if (TRACE__UNLIKELY(refs_of(st) != 0))
    return entered ? new_span_entered_slow(c, attrs) : new_span_slow(c, attrs);
  t->free_head = s->next_free;
  t->free_count--;
  uint64_t gen = gen_of(st);
  TRACE__STORE(&s->meta, meta);
  __atomic_store_n(&s->state, gen << 32 | 1, __ATOMIC_RELEASE);
  uint64_t id = gen << 32 | index1;
  uint64_t parent;
  if (entered && attrs->parent_kind == TRACE_PARENT_CURRENT)
    parent = d ? t->stack[d - 1].id : 0;
  else
    parent = parent_of(t, attrs->parent_kind, attrs->parent_id);
  if (entered) {
    t->stack[d].id = id;
    t->stack[d].meta = meta;
    t->stack[d].slot = s;
    t->depth = d + 1;
  }
  uint64_t flags = entered ? COL_NEW_ENTERED : 0;
  if (!with_context)
    return col_record_new(t, id, parent, attrs, ts, flags);
  col_record_new(t, id, parent, attrs, ts, flags);
  trace__col_context_new(c, t, s, id, parent, attrs);
  return id;
}

/* The entry points: the thread's cached ring, else the general path; the scope fast path, or
 * (another clock, exact lifetimes) a path of its own, tail called. */
#define COL_NEW_SPAN_ENTRY(name, with_context, entered)                                            \
  static TRACE__NOINLINE uint64_t name##_any_clock(col *c, col_thread *t,                          \
                                                   const trace_span_attrs *attrs) {                \
    return new_span_on(c, t, attrs, with_context, entered, false);                                 \
  }                                                                                                \
  static uint64_t name(void *self, const trace_span_attrs *attrs) {                                \
    col *c = self;                                                                                 \
    col_thread *t = col_thread_cached(c);                                                          \
    if (TRACE__UNLIKELY(!t))                                                                       \
      return entered ? new_span_entered_slow(c, attrs) : new_span_slow(c, attrs);                  \
    if (TRACE__UNLIKELY(!t->scope_fast))                                                           \
      return name##_any_clock(c, t, attrs);                                                        \
    return new_span_on(c, t, attrs, with_context, entered, true);                                  \
  }

COL_NEW_SPAN_ENTRY(sub_new_span, false, false)
COL_NEW_SPAN_ENTRY(sub_new_span_ctx, true, false)
COL_NEW_SPAN_ENTRY(sub_new_span_entered, false, true)
COL_NEW_SPAN_ENTRY(sub_new_span_entered_ctx, true, true)

static TRACE__NOINLINE void enter_slow(col *c, uint64_t id, uint64_t ts) {
  col_thread *t = col_thread_get(c);
  if (!t)
    return;
  if (!ts)
    ts = col_now(t);
  col_slot *s = live_slot(c->slots.pages, id);
  if (!s)
    return;
  const trace_metadata *meta = TRACE__LOAD(&s->meta);
  col_entry *e = trace__col_entry_new(t);
  if (e) {
    e->id = id;
    e->meta = meta;
    e->slot = s;
  }
  t->depth++;
  col_record_small(t, COL_ENTER, id, meta, ts);
}

/* Enter on thread t (found). */
static TRACE__INLINE void enter_on(col *c, col_thread *t, uint64_t id) {
  uint64_t ts = col_now(t);
  uint32_t d = t->depth;
  uint64_t pos = t->pos;
  if (TRACE__UNLIKELY(pos + 32 > t->limit || d >= COL_STACK_MAX)) {
    enter_slow(c, id, ts);
    return;
  }
  col_slot *s = live_slot(t->pages, id);
  if (TRACE__UNLIKELY(!s))
    return;
  const trace_metadata *meta = TRACE__LOAD(&s->meta);
  t->stack[d].id = id;
  t->stack[d].meta = meta;
  t->stack[d].slot = s;
  t->depth = d + 1;
  uint64_t *p = (uint64_t *)(void *)(t->data + (pos & t->mask));
  COL_PUT(&p[0], col_w0(COL_ENTER, 4, 0));
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  COL_PUT(&p[3], (uint64_t)(uintptr_t)meta);
  __atomic_store_n(&t->pos, pos + 32, __ATOMIC_RELEASE);
}

static void sub_enter(void *self, uint64_t id) {
  col *c = self;
  col_thread *t = col_thread_find(c);
  if (TRACE__UNLIKELY(!t))
    enter_slow(c, id, 0);
  else
    enter_on(c, t, id);
}

/* An exit that is not of the innermost entered span (or past COL_STACK_MAX): the last entry of
 * id is removed, the rest keeps its order. Returns false if id is not entered. */
static bool exit_out_of_order(col_thread *t, uint64_t id) {
  uint32_t d = t->depth;
  for (uint32_t i = d; i-- > 0;) {
    col_entry *e = col_entry_at(t, i);
    if (!e) {
      /* An entry that could not be kept (out of memory): the innermost is assumed to leave. */
      t->depth = d - 1;
      return true;
    }
    if (e->id != id)
      continue;
    /* Every entry above i was kept: the scan from the top returned at one that was not. */
    for (uint32_t j = i; j + 1 < d; j++)
      *col_entry_at(t, j) = *col_entry_at(t, j + 1);
    t->depth = d - 1;
    return true;
  }
  return false;
}

static TRACE__NOINLINE void exit_slow(col_thread *t, uint64_t id, uint64_t ts) {
  uint32_t d = t->depth;
  if (d - 1 < COL_STACK_MAX && t->stack[d - 1].id == id)
    t->depth = d - 1;
  else if (d == 0 || !exit_out_of_order(t, id))
    return;
  col_record_small(t, COL_EXIT, id, NULL, ts);
  t->exit_end = t->pos;
  t->exit_id = id;
}

static TRACE__INLINE void exit_on(col_thread *t, uint64_t id) {
  uint64_t ts = col_now(t);
  uint32_t d = t->depth;
  uint64_t pos = t->pos;
  if (TRACE__UNLIKELY(pos + 24 > t->limit || d - 1 >= COL_STACK_MAX ||
                      t->stack[d - 1].id != id)) {
    exit_slow(t, id, ts);
    return;
  }
  t->depth = d - 1;
  uint64_t *p = (uint64_t *)(void *)(t->data + (pos & t->mask));
  COL_PUT(&p[0], col_w0(COL_EXIT, 3, 0));
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  __atomic_store_n(&t->pos, pos + 24, __ATOMIC_RELEASE);
  t->exit_end = pos + 24;
  t->exit_id = id;
}

static void sub_exit(void *self, uint64_t id) {
  col_thread *t = col_thread_find(self);
  if (TRACE__LIKELY(t != NULL)) /* else nothing was entered on this thread */
    exit_on(t, id);
}

static uint64_t sub_clone(void *self, uint64_t id) {
  col *c = self;
  col_slot *s = col_slot_of(&c->slots, id);
  if (!s)
    return 0;
  uint64_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
  do {
    if (gen_of(st) != (uint32_t)(id >> 32) || refs_of(st) == 0 || refs_of(st) == UINT32_MAX)
      return 0;
  } while (!__atomic_compare_exchange_n(&s->state, &st, st + 1, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE));
  return id;
}

/* Slot s (index index1) goes to this thread's free list; a long list gives a batch back. */
static TRACE__INLINE void slot_push(col *c, col_thread *t, col_slot *s, uint32_t index1) {
  s->next_free = t->free_head;
  t->free_head = index1;
  if (TRACE__UNLIKELY(++t->free_count >= 2 * COL_BATCH))
    trace__col_slot_spill(&c->slots, t);
}

static void slot_free(col *c, col_thread *t, uint32_t index1) {
  slot_push(c, t, col_slot_at(&c->slots, index1 - 1), index1);
}

/* The span is closed (its slot's generation moved on): its record, and its slot freed. */
static void closed(col *c, col_slot *s, uint64_t id) {
  col_thread *t = col_thread_get(c);
  if (TRACE__LIKELY(t != NULL)) {
    col_record_small(t, COL_CLOSE, id, NULL, col_close_time(t, id, c->exact));
    slot_free(c, t, (uint32_t)id);
  } else {
    /* A thread that cannot have a ring (it is exiting): the slot goes to the shared stack. */
    col_thread none;
    memset(&none, 0, sizeof none);
    none.free_head = (uint32_t)id;
    none.free_count = 1;
    s->next_free = 0;
    trace__col_slot_release_all(&c->slots, &none);
  }
}

static TRACE__NOINLINE int try_close_slow(col *c, col_slot *s, uint64_t id) {
  uint64_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
  for (;;) {
    if (gen_of(st) != (uint32_t)(id >> 32) || refs_of(st) == 0)
      return -1; /* closed already, stale, or forged */
    /* The last reference: the next generation, no reference (ids of this one are stale now). */
    uint64_t want = refs_of(st) > 1 ? st - 1 : (uint64_t)(gen_of(st) + 1) << 32;
    if (__atomic_compare_exchange_n(&s->state, &st, want, true, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
      break;
  }
  if (refs_of(st) > 1)
    return 0;
  closed(c, s, id);
  return 1;
}

static TRACE__NOINLINE int try_close_lookup(col *c, uint64_t id) {
  col_slot *s = col_slot_of(&c->slots, id);
  return s ? try_close_slow(c, s, id) : -1;
}

/* try_close on thread t (NULL: the thread has no ring). */
static TRACE__INLINE int try_close_on(col *c, col_thread *t, uint64_t id) {
  if (TRACE__UNLIKELY(!t))
    return try_close_lookup(c, id);
  col_slot *s = col_slot_find(t->pages, id);
  if (TRACE__UNLIKELY(!s))
    return -1;
  /* The common case: the only reference of a span, closed on a thread with room in its page.
   * With one reference left no other thread may legitimately touch the span (cloning takes a
   * reference of one's own), so the next generation is stored without a locked instruction --
   * which would wait for every store before it to drain, a tenth of a span's cost. Two threads
   * closing the same last reference at the same instant (a double close racing with itself)
   * could both free the slot; the slot lists then skip a slot found in use (sub_new_span). */
  uint64_t st = (id & ~(uint64_t)0xffffffff) | 1;
  if (TRACE__UNLIKELY(t->pos + 24 > t->limit || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != st))
    return try_close_slow(c, s, id);
  __atomic_store_n(&s->state, st + ((uint64_t)1 << 32) - 1, __ATOMIC_RELEASE);
  uint64_t pos = t->pos;
  uint64_t ts = col_close_time(t, id, c->exact);
  uint64_t *p = (uint64_t *)(void *)(t->data + (pos & t->mask));
  COL_PUT(&p[0], col_w0(COL_CLOSE, 3, 0));
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  __atomic_store_n(&t->pos, pos + 24, __ATOMIC_RELEASE);
  slot_push(c, t, s, (uint32_t)id);
  return 1;
}

static int sub_try_close(void *self, uint64_t id) {
  col *c = self;
  return try_close_on(c, col_thread_find(c), id);
}

/* The end of a scope that is not the common case: the exit, then the close. */
static TRACE__NOINLINE int exit_close_pair(col *c, col_thread *t, uint64_t id) {
  exit_on(t, id);
  return try_close_on(c, t, id);
}

static TRACE__NOINLINE int exit_close_general(col *c, uint64_t id) {
  col_thread *t = col_thread_find(c);
  if (!t)
    return try_close_lookup(c, id);
  return exit_close_pair(c, t, id);
}

/* exit and try_close in one call (the end of a TRACE_SCOPE) on thread t. The common case -- the
 * innermost span, its only reference, room in the page -- writes one EXIT record that says the
 * span was closed as well (COL_EXIT_CLOSED); anything else is the pair. fast: a constant,
 * t->scope_fast (the path then calls nothing, and needs no stack frame). */
static TRACE__INLINE int exit_close_on(col *c, col_thread *t, uint64_t id, bool fast) {
  uint32_t d = t->depth;
  uint64_t pos = t->pos;
  uint64_t st = (id & ~(uint64_t)0xffffffff) | 1;
  if (TRACE__UNLIKELY(pos + 24 > t->limit || d - 1 >= COL_STACK_MAX ||
                      t->stack[d - 1].id != id || (!fast && c->exact)))
    return exit_close_pair(c, t, id);
  col_slot *s = t->stack[d - 1].slot;
  if (TRACE__UNLIKELY(__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != st ||
                      t->free_count + 1 >= 2 * COL_BATCH))
    return exit_close_pair(c, t, id);
  uint64_t ts = fast ? trace__tsc() : col_now(t);
  /* The next generation, as try_close_on stores it (see there why without a locked RMW). */
  __atomic_store_n(&s->state, st + ((uint64_t)1 << 32) - 1, __ATOMIC_RELEASE);
  t->depth = d - 1;
  uint64_t *p = (uint64_t *)(void *)(t->data + (pos & t->mask));
  COL_PUT(&p[0], col_w0(COL_EXIT, 3, 0) | COL_EXIT_CLOSED);
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  __atomic_store_n(&t->pos, pos + 24, __ATOMIC_RELEASE);
  /* slot_push without its spill: the list's length was checked above. */
  s->next_free = t->free_head;
  t->free_head = (uint32_t)id;
  t->free_count++;
  return 1;
}

static TRACE__NOINLINE int exit_close_any_clock(col *c, col_thread *t, uint64_t id) {
  return exit_close_on(c, t, id, false);
}

static int sub_exit_close(void *self, uint64_t id) {
  col *c = self;
  col_thread *t = col_thread_cached(c);
  if (TRACE__UNLIKELY(!t))
    return exit_close_general(c, id);
  if (TRACE__UNLIKELY(!t->scope_fast))
    return exit_close_any_clock(c, t, id);
  return exit_close_on(c, t, id, true);
}

static uint64_t sub_current(void *self, const trace_metadata **meta) {
  col *c = self;
  col_thread *t = col_thread_find(c);
  if (!t || t->depth == 0)
    return 0;
  const col_entry *e = trace__col_innermost(t);
  *meta = e->meta;
  return e->id;
}

static void sub_record(void *self, uint64_t id, const trace_valueset *values) {
  col *c = self;
  col_slot *s = live_slot(c->slots.pages, id);
  col_thread *t = s ? col_thread_get(c) : NULL;
  if (t)
    trace__col_record_values(t, id, TRACE__LOAD(&s->meta), values);
}

static void sub_follows(void *self, uint64_t id, uint64_t follows) {
  col *c = self;
  col_thread *t = live_slot(c->slots.pages, id) ? col_thread_get(c) : NULL;
  if (t)
    trace__col_record_follows(t, id, follows);
}

static void sub_event(void *self, const trace_event *ev) {
  col *c = self;
  col_thread *t = col_thread_get(c);
  if (!t)
    return;
  uint64_t parent = 0;
  if (ev->parent_kind == TRACE_PARENT_CURRENT)
    parent = current_id(t);
  else if (ev->parent_kind == TRACE_PARENT_EXPLICIT)
    parent = ev->parent_id;
  trace__col_record_event(t, parent, ev);
}

static void sub_flush(void *self) { (void)trace__col_flush(self); }

static void sub_destroy(void *self) { trace__col_destroy(self); }

static const trace_subscriber_vtable base_vtable = {
    .struct_size = sizeof(trace_subscriber_vtable),
    .register_callsite = sub_register,
    .max_level_hint = sub_max_level,
    .new_span = sub_new_span,
    .record = sub_record,
    .record_follows_from = sub_follows,
    .event = sub_event,
    .enter = sub_enter,
    .exit = sub_exit,
    .clone_span = sub_clone,
    .try_close = sub_try_close,
    .new_span_entered = sub_new_span_entered,
    .exit_close = sub_exit_close,
    .current_span = sub_current,
    .span_context = trace__col_span_context,
    .flush = sub_flush,
    .destroy = sub_destroy,
};

/* The table for c: with contexts, new spans get theirs (a table of its own, so that a collector
 * without them does not test for them). */
void trace__col_subscriber_vtable_for(const col *c, trace_subscriber_vtable *out) {
  *out = base_vtable;
  if (c->context) {
    out->new_span = sub_new_span_ctx;
    out->new_span_entered = sub_new_span_entered_ctx;
  }
}
