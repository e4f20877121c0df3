/* Internals of the registry: span slots, per-thread state, layers and filters. */
#ifndef TRACE_REGISTRY_INTERNAL_H
#define TRACE_REGISTRY_INTERNAL_H

#include "../common/compiler.h"
#include "../common/idtable.h"
#include "../common/mutex.h"
#include "../common/spin.h"
#include "../common/thread.h"
#include "trace/registry.h"

struct trace_filter {
  trace_filter_vtable vt; /* normalised */
  void *self;
  const uint8_t *scope_idle; /* see trace_filter_set_scope_idle; NULL: never idle */
};

/* Whether the filter's on_enter/on_exit may have something to do now (registry.c). */
static inline bool reg_filter_scoped(const trace_filter *f) {
  return !f->scope_idle || !TRACE__LOAD(f->scope_idle);
}

#define TRACE__LAYER_FLAGS                                                                         \
  (TRACE_LAYER_TIMING | TRACE_LAYER_EXT_KEPT | TRACE_LAYER_CLOSE_IF_EXT_USED |                   \
   TRACE_LAYER_CONTEXT | TRACE_LAYER_CREATION | TRACE_LAYER_NEW_SPAN_ONCE)

struct trace_layer {
  trace_layer_vtable vt; /* normalised */
  void *self;
  trace_filter *filter;
  uint32_t ext_size;
  uint32_t ext_offset; /* into the slot's extension area, set when added */
  unsigned flags;
};

/* A stored span. trace_span_ref is this struct seen from outside. Slot memory stays mapped
 * while the registry lives (slots are reused; a page of free slots may have its memory given
 * back, and then reads as zeros), so a stale id can be checked against the slot's generation
 * safely. */
typedef struct slot {
  uint32_t gen;  /* atomic: part of the id; odd while the slot is free, even while it holds a
                    span (bumped at both changes), so an id can never name a free slot */
  uint32_t refs; /* atomic: handles + children + entries on thread stacks */
  uint32_t index;
  uint32_t lock; /* spin lock (spin.h) for values, follows-from and timing */
  uint8_t live;
  uint16_t values_cap;
  const trace_metadata *meta;
  struct slot *parent; /* kept alive by our reference on it; reg_slot_parent checks parent_id */
  uint64_t parent_id;
  uint64_t layers;       /* layers that enabled this span */
  uint64_t ext_used;     /* atomic: layers that obtained this span's extension (for
                            TRACE_LAYER_CLOSE_IF_EXT_USED) */
  trace_value *values;   /* meta->field_count values: inline storage or heap_values */
  trace_value *heap_values; /* kept across reuse of the slot, so spans of mixed sizes do not
                               allocate in steady state */
  uint32_t heap_values_cap;
  char *arena;           /* copies of string values */
  uint32_t arena_len, arena_cap;
  uint64_t *follows;
  uint32_t nfollows, follows_cap;
  /* timing, when some layer asked for it; under lock */
  uint64_t created_ns, last_ns, busy_ns, idle_ns;
  uint32_t entered;
  uint32_t next_free;
  /* followed by: inline values, inline arena, layer extensions */
} slot;

#define SLOT_INLINE_VALUES 4
#define SLOT_INLINE_ARENA 96

/* A seqlock guards the pair, so a reader never combines the halves of two rebuilds (which could
 * drop an event that both the old and the new filter deliver). seq 0: not computed yet. */
typedef struct cs_info {
  uint32_t seq;
  uint64_t always;    /* layers enabled for this callsite without asking */
  uint64_t sometimes; /* layers whose filter must be asked on each hit */
} cs_info;

#define SLOT_PAGE_BITS 9
#define SLOTS_PER_PAGE (1u << SLOT_PAGE_BITS)
#define SLOT_PAGES 4096
/* Pages whose every slot is free and in the shared list are kept up to this many (spans come
 * back in bursts, and a kept page costs nothing to reuse); beyond it their memory goes back to
 * the system (slab.c). */
#define SLOT_PAGES_KEPT_FREE 32
#define LOCAL_FREE_MAX 128
#define LOCAL_FREE_BATCH 32

/* An entered span on a thread's stack, with the id it was entered as: if a C program closes
 * copies of one handle too often, the slot can be freed (and reused) under the entry, and the
 * id is how the entry knows it is no longer about that slot. */
typedef struct reg_entry {
  slot *s;
  uint64_t id;
} reg_entry;

/* Per-thread state of one registry. */
typedef struct reg_thread {
  /* What every event and span reads first, together on the first cache line. */
  struct trace_registry *r;
  reg_entry *stack; /* entered spans, innermost last; each live entry holds a reference */
  uint32_t depth, stack_cap;
  /* What enabled() decided for the callsite about to be dispatched on this thread. */
  const trace_metadata *stash_meta;
  uint64_t stash_mask;
  uint32_t stash_seq; /* trace__tls.seq during the enabled() call that left the stash */
  uint32_t nfree;
  uint64_t new_span_told; /* TRACE_LAYER_NEW_SPAN_ONCE layers told of this thread's first span
                             (no other bit is ever set) */
  reg_entry inline_stack[32];
  uint32_t free_slots[LOCAL_FREE_MAX];
} reg_thread;

struct trace_registry {
  trace_layer *layers[TRACE_REGISTRY_MAX_LAYERS];
  unsigned nlayers;
  trace_filter *filter;
  int error;     /* remembered configuration error */
  bool installed;
  bool destroying; /* thread states are being freed with the registry (see thread_dtor) */
  bool timing;   /* some layer wants span timing */
  uint64_t all_layers;
  /* Which layers have each callback, so the hot paths skip the others without a call. */
  uint64_t has_new_span, has_record, has_follows, has_event, has_enter, has_exit, has_close;
  uint64_t close_if_used; /* layers with TRACE_LAYER_CLOSE_IF_EXT_USED and no filter on_close */
  /* Layers told of new spans / closes by their own callback only (their filter has none): when
   * one such layer is all there is to tell, the notification is a single call (registry.c). */
  uint64_t lone_new_span, lone_close;
  /* The same, left empty when the registry's own filter hears of new spans / closes too (then
   * no layer is all there is to tell): set when the registry is installed. */
  uint64_t solo_new_span, solo_close;
  bool filter_new_span; /* the registry's filter has an on_new_span: set when installed */
  uint64_t context_layers; /* layers with TRACE_LAYER_CONTEXT (context.c) */
  uint64_t creation_layers; /* layers with TRACE_LAYER_CREATION */
  uint64_t new_span_once;   /* layers with TRACE_LAYER_NEW_SPAN_ONCE that it applies to */
  uint64_t has_sample;     /* context layers with a sample callback */
  uint32_t ctx_offset;     /* of each slot's reg_span_ctx in its extension area, when any */
  uint32_t ext_total;
  uint32_t ext_clear; /* bytes of extensions to clear for each new span (0: every layer keeps) */
  uint32_t slot_size;
  int local_key;
  /* Slots: pages of 2^SLOT_PAGE_BITS slots; pages are read without a lock. */
  char *slot_pages[SLOT_PAGES];
  uint32_t nslots; /* atomic */
  trace__mutex lock; /* slot pages and the shared free list (cold: batches only) */
  uint32_t *free_list;
  uint32_t nfree, free_cap;
  /* Giving memory back (slab.c), under lock: per page, how many of its slots are in the shared
   * list, whether its memory went back to the system, and the generation its slots restart
   * from when it is used again (above every id it ever gave, so no stale id can match). */
  uint16_t page_free[SLOT_PAGES];
  uint8_t page_returned[SLOT_PAGES];
  uint32_t page_gen_base[SLOT_PAGES];
  uint32_t full_pages, returned_pages;
  bool pages_stay; /* the system cannot take pages back (trace__pages_discard) */
  uint64_t returned_created; /* spans created in slots whose page was given back */
  /* Per-callsite layer masks, indexed by callsite id. */
  trace__idtable cs; /* of cs_info */
  /* Statistics (the others are counted from the slots) */
  uint64_t stale_ids; /* atomic */
};

struct trace_ctx {
  struct trace_registry *r;
  reg_thread *ts;
  int layer;        /* -1: the registry's filter */
  uint64_t bit;     /* the layer's bit; ~0 for the registry's filter */
  slot *about;      /* the span the callback is about, if any: its lookup needs no table */
  uint64_t about_id;
};

/* Slots (slab.c) */
static inline slot *reg_slot_at(trace_registry *r, uint32_t index) {
  char *page = TRACE__LOAD_ACQ(&r->slot_pages[index >> SLOT_PAGE_BITS]);
  if (TRACE__UNLIKELY(!page))
    return NULL;
  return (slot *)(void *)(page + (size_t)(index & ((1u << SLOT_PAGE_BITS) - 1)) * r->slot_size);
}
static inline uint64_t reg_slot_id(const slot *s) { return ((uint64_t)s->gen << 32) | (s->index + 1); }
/* The live slot for id, or NULL if the id is unknown, stale or forged. */
static inline slot *reg_lookup(trace_registry *r, uint64_t id) {
  uint32_t index = (uint32_t)id - 1;
  /* An odd generation is a free slot's: no span ever had that id (a forged one). Nor did any
   * span have generation 0, which is what the slots of a page given back to the system read.
   * An id with index part 0 gives index UINT32_MAX, above any count of slots. */
  uint32_t gen = (uint32_t)(id >> 32);
  if (TRACE__UNLIKELY(((gen & 1) | (gen == 0)) || index >= TRACE__LOAD_ACQ(&r->nslots)))
    return NULL;
  slot *s = reg_slot_at(r, index);
  if (TRACE__UNLIKELY(!s || TRACE__LOAD_ACQ(&s->gen) != gen))
    return NULL;
  return s;
}
/* The entry's slot if it still holds the span that was entered, else NULL. */
static inline slot *reg_entry_slot(const reg_entry *e) {
  return TRACE__LOAD_ACQ(&e->s->gen) == (uint32_t)(e->id >> 32) ? e->s : NULL;
}
/* The innermost entry of this thread that still holds its span, or NULL. */
static inline slot *reg_thread_current(const reg_thread *ts) {
  for (uint32_t i = ts->depth; i > 0; i--) {
    slot *s = reg_entry_slot(&ts->stack[i - 1]);
    if (TRACE__LIKELY(s != NULL))
      return s;
  }
  return NULL;
}
/* s's parent, if it is still the span s was created under (see reg_entry). */
static inline slot *reg_slot_parent(const slot *s) {
  slot *p = s->parent;
  return p && reg_slot_id(p) == s->parent_id ? p : NULL;
}
static inline char *reg_slot_inline_arena(slot *s) {
  return (char *)(s + 1) + SLOT_INLINE_VALUES * sizeof(trace_value);
}
static inline trace_value *reg_slot_inline_values(slot *s) { return (trace_value *)(void *)(s + 1); }
static inline char *reg_slot_ext_base(slot *s) {
  return (char *)(s + 1) + SLOT_INLINE_VALUES * sizeof(trace_value) + SLOT_INLINE_ARENA;
}
static inline void *reg_slot_ext(slot *s, const trace_layer *l) {
  return reg_slot_ext_base(s) + l->ext_offset;
}

slot *trace__reg_slot_alloc(trace_registry *r, reg_thread *ts);
void trace__reg_slot_free(trace_registry *r, reg_thread *ts, slot *s);
void trace__reg_slots_destroy(trace_registry *r);
void trace__reg_thread_release_slots(trace_registry *r, reg_thread *ts);
uint64_t trace__reg_slots_created_locked(trace_registry *r); /* spans ever created; under r->lock */
/* Spans left behind (orphans.c): a module unloaded under its open spans, and the report of the
 * spans never closed when the registry goes. */
void trace__reg_unload_callsites(void *self, const trace_callsite *start, const trace_callsite *stop);
void trace__reg_report_unclosed(trace_registry *r);

/* Drops n references the caller holds on s; returns how many are left. When the count is n,
 * the caller's are the only ones: no other thread holds one, so none can change the count (a
 * reference is only ever added by a holder of one). A plain store then does the locked
 * instruction's work, which costs as much as a fifth of a whole span here (x86-64: some 5 ns
 * each). That is the usual last drop: the handle's close, or in TRACE_SCOPE the entry's and the
 * handle's together. The acquire load orders the others' earlier drops, and what they did to
 * the span before them, before the close. Adding a reference has no such shortcut: two threads
 * may enter the span through one shared handle at once. */
static inline uint32_t reg_slot_refs_drop(slot *s, uint32_t n) {
  if (TRACE__LOAD_ACQ(&s->refs) == n) {
    TRACE__STORE(&s->refs, 0);
    return 0;
  }
  return __atomic_sub_fetch(&s->refs, n, __ATOMIC_ACQ_REL);
}

static inline void reg_slot_lock(slot *s) { trace__spin_lock(&s->lock); }
static inline void reg_slot_unlock(slot *s) { trace__spin_unlock(&s->lock); }

/* Trace contexts (context.c), stored after the layers' extensions when a layer needs them. */
typedef struct reg_span_ctx {
  trace_span_ids ids; /* what trace_span_ref_ids gives, in place */
  uint8_t has;        /* the span has ids (a context layer enabled it) */
  uint16_t tracestate_len; /* of the tracestate below, kept when ids.remote_parent: the one its
                              trace carries */
  char *tracestate; /* TRACE_TRACESTATE_MAX + 1 bytes, allocated the first time the slot held
                       a span with one, kept across reuse; freed with the registry */
} reg_span_ctx;
static inline reg_span_ctx *reg_slot_ctx(const trace_registry *r, slot *s) {
  return (reg_span_ctx *)(void *)(reg_slot_ext_base(s) + r->ctx_offset);
}
/* s's ids (trace_span_ref_ids), or NULL when it has none. */
static inline const trace_span_ids *reg_span_ids(const trace_registry *r, slot *s) {
  if (!r->context_layers)
    return NULL;
  const reg_span_ctx *c = reg_slot_ctx(r, s);
  return c->has ? &c->ids : NULL;
}
/* The span's stored values as one set: what trace_span_ref_values, trace_ctx_span_read and
 * on_close_read give. */
static inline trace_valueset reg_slot_values(const slot *s) {
  trace_valueset vs = {s->meta, s->values, NULL,
                       TRACE__MIN(s->meta->field_count, (uint32_t)s->values_cap)};
  return vs;
}
void trace__reg_context_new_span(trace_registry *r, slot *s, slot *parent, const trace_span_attrs *a,
                          uint64_t mask);
int trace__reg_span_context(void *self, uint64_t id, trace_context *out);
void trace__reg_context_destroy(trace_registry *r);

/* Values (values.c) */
void trace__reg_values_init(slot *s, const trace_valueset *vs);
void trace__reg_values_record(slot *s, const trace_valueset *vs);
void trace__reg_values_release(slot *s);

/* Per-callsite layer masks (interest.c). The fast path: a callsite whose layers are all decided
 * (no per-hit filter) gives its mask from the table; false sends the caller to
 * trace__reg_enabled_mask. */
static inline bool reg_cs_fixed_mask(trace_registry *r, uint32_t id, uint64_t *mask) {
  const cs_info *c = trace__idtable_find(&r->cs, id, sizeof(cs_info));
  if (TRACE__UNLIKELY(!c))
    return false;
  uint32_t s1 = TRACE__LOAD_ACQ(&c->seq);
  if (TRACE__UNLIKELY(s1 == 0 || (s1 & 1)))
    return false;
  uint64_t always = TRACE__LOAD_ACQ(&c->always);
  uint64_t sometimes = TRACE__LOAD_ACQ(&c->sometimes);
  if (TRACE__UNLIKELY(sometimes != 0 || TRACE__LOAD(&c->seq) != s1))
    return false;
  *mask = always;
  return true;
}
trace_interest trace__reg_register_callsite(void *self, const trace_metadata *meta);
uint64_t trace__reg_enabled_mask(trace_registry *r, reg_thread *ts, const trace_metadata *meta);
int trace__reg_max_level_hint(void *self);
void trace__reg_cs_destroy(trace_registry *r);

/* Per-thread state. */
reg_thread *trace__reg_thread_get_slow(trace_registry *r);
static inline reg_thread *reg_thread_get(trace_registry *r) {
  reg_thread *ts = (reg_thread *)trace__local_get(r->local_key);
  return TRACE__LIKELY(ts != NULL) ? ts : trace__reg_thread_get_slow(r);
}

/* Filters (filter.c) */
trace_filter *reg_filter_wrap(const trace_filter_vtable *vt, void *self);

#endif
