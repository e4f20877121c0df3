/* The registry: the subscriber most applications use. It stores spans (their fields, parents,
 * timing, follows-from links and per-layer data), tracks which spans each thread has entered, and
 * fans spans and events out to layers, each with its own optional filter: console at INFO and a
 * JSON file at DEBUG in one process, for example.
 *
 *   trace_registry *r = trace_registry_new();
 *   trace_registry_add_layer(r, trace_fmt_layer_new(NULL), trace_filter_level(TRACE_LEVEL_INFO));
 *   trace_registry_add_layer(r, my_json_layer(), trace_filter_level(TRACE_LEVEL_DEBUG));
 *   if (trace_registry_install(r) != 0) { ... }   // global default; r now belongs to libtrace
 *   ...
 *   trace_shutdown();                              // flushes every layer and frees everything
 *
 * Spans: ids are non-zero 64-bit values that carry a generation, so a stale or forged id is
 * detected and ignored rather than reaching a reused slot. A child holds a reference on its
 * parent; a span closes when its last handle is closed and its last child is gone; close
 * notifies the layers once, then the slot is reused. Entering a span holds a reference until the
 * matching exit, so closing a span that is still entered somewhere is harmless. Spans may be
 * created, entered and closed on different threads. The hot paths take no global lock and do not
 * allocate in steady state.
 *
 * Filtering: a callsite is enabled if the registry's filter (if any) and at least one layer's
 * filter enable it; each layer sees only the spans and events its filter enabled, and ancestors
 * it did not enable are skipped in its view of the span tree. Interest and the maximum level
 * combine so that adding a quiet layer never silences a loud one. */
#ifndef TRACE_REGISTRY_H
#define TRACE_REGISTRY_H

#include "subscriber.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct trace_registry trace_registry;
typedef struct trace_layer trace_layer;
typedef struct trace_filter trace_filter;
/* The context handed to layer and filter callbacks: which registry, which layer, which thread.
 * Valid only during the callback. */
typedef struct trace_ctx trace_ctx;
/* A stored span, as seen from a callback. Valid during the callback that obtained it (the span
 * it came from keeps it alive). */
typedef struct trace_span_ref trace_span_ref;

/* ---------------------------------------------------------------------------------------- */
/* Context and stored spans. Every lookup answers for the calling layer: spans that layer's filter
 * did not enable are invisible to it (NULL, or skipped when walking parents). */

/* The stored span with this id, or NULL (unknown, closed, stale, or not enabled for the layer). */
TRACE_API const trace_span_ref *trace_ctx_span(const trace_ctx *ctx, uint64_t id);
/* The innermost span this thread has entered, or NULL. */
TRACE_API const trace_span_ref *trace_ctx_current(const trace_ctx *ctx);
/* The span an event happened in: its explicit parent, or the current span, or NULL for a root. */
TRACE_API const trace_span_ref *trace_ctx_event_span(const trace_ctx *ctx, const trace_event *ev);
/* The span a new span will hang under (attrs' parent resolved like trace_ctx_event_span). */
TRACE_API const trace_span_ref *trace_ctx_new_span_parent(const trace_ctx *ctx,
                                                          const trace_span_attrs *attrs);
/* The spans from the root down to leaf (inclusive) into out, root first. Returns how many there
 * are; if more than cap, out holds the cap spans nearest the leaf. leaf NULL gives 0. */
TRACE_API size_t trace_ctx_scope(const trace_ctx *ctx, const trace_span_ref *leaf,
                                 const trace_span_ref **out, size_t cap);

TRACE_API uint64_t trace_span_ref_id(const trace_span_ref *span);
TRACE_API const trace_metadata *trace_span_ref_meta(const trace_span_ref *span);
/* The nearest ancestor the calling layer sees, or NULL. */
TRACE_API const trace_span_ref *trace_span_ref_parent(const trace_span_ref *span,
                                                      const trace_ctx *ctx);
/* The calling layer's extension: ext_size bytes (see trace_layer_new), zeroed when the span was
 * created (unless the layer has TRACE_LAYER_EXT_KEPT), owned by the layer (free what it points
 * to in on_close). NULL if ext_size was 0. A filter's context has no extension. Obtaining it
 * marks the span as one whose close the layer hears of (see TRACE_LAYER_CLOSE_IF_EXT_USED). */
TRACE_API void *trace_span_ref_ext(const trace_span_ref *span, const trace_ctx *ctx);
/* trace_span_ref_ext(trace_ctx_span(ctx, id), ctx) in one call: the calling layer's extension
 * of the span with this id, or NULL (no such span for the layer, no extension, NULL ctx). */
TRACE_API void *trace_ctx_span_ext(const trace_ctx *ctx, uint64_t id);
/* Visits the span's stored field values (copies, owned by the registry; strings stay valid
 * during the visit), holding the span's lock against a concurrent record: do not record into
 * the same span from the visitor. FMT values were formatted when recorded and appear as text. */
TRACE_API void trace_span_ref_visit(const trace_span_ref *span, const trace_visitor *visitor,
                                    void *visitor_ctx);
/* Calls fn with the span's stored field values as one value set (every declared field in order;
 * fields without a value are TRACE_VALUE_EMPTY), holding the span's lock against a concurrent
 * record, so fn sees each field once with its latest value: fn must not record into the same
 * span. The values are the registry's copies (FMT values as their text, DISPLAY), valid during
 * fn. Nothing happens for a NULL span or fn. */
TRACE_API void trace_span_ref_values(const trace_span_ref *span,
                                     void (*fn)(void *arg, const trace_valueset *values),
                                     void *arg);
/* Up to cap ids of spans this span follows from, into out; returns how many there are. */
TRACE_API size_t trace_span_ref_follows(const trace_span_ref *span, uint64_t *out, size_t cap);

/* The span's trace context, for layers with TRACE_LAYER_CONTEXT (<trace/context.h>): its trace
 * id, its own span id, its flags (sampled) and the tracestate it continues into *out, and, when
 * parent_span_id is not NULL, its parent's span id there (the remote parent's for a span made
 * with TRACE_SPAN_FROM, the nearest ancestor with a context otherwise; zeros for a root).
 * Returns TRACE_SPAN_CONTEXT_LOCAL (a root, or a local parent), TRACE_SPAN_CONTEXT_REMOTE_PARENT
 * (the parent is in another process), or TRACE_SPAN_CONTEXT_NONE (0, *out left alone) when the
 * span has no context: no layer with TRACE_LAYER_CONTEXT enabled it. */
enum {
  TRACE_SPAN_CONTEXT_NONE = 0,
  TRACE_SPAN_CONTEXT_LOCAL = 1,
  TRACE_SPAN_CONTEXT_REMOTE_PARENT = 2
};
TRACE_API int trace_span_ref_context(const trace_span_ref *span, const trace_ctx *ctx,
                                     trace_context *out, uint8_t parent_span_id[8]);

/* A span's ids as the registry keeps them, for layers with TRACE_LAYER_CONTEXT: what
 * trace_span_ref_context gives but the tracestate, read in place. */
typedef struct trace_span_ids {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t parent_span_id[8]; /* as trace_span_ref_context gives it; zeros for a root */
  uint8_t flags;             /* TRACE_CONTEXT_SAMPLED and the bits a remote parent sent */
  uint8_t remote_parent;     /* 1: the parent is in another process (TRACE_SPAN_FROM) */
  uint8_t has_tracestate;    /* 1: the span's trace carries a tracestate (when the span was
                                made): trace_span_ref_context gives it */
  uint8_t reserved_;         /* 0 */
} trace_span_ids;
/* The span's ids, owned by the registry, unchanged while the span lives and valid during the
 * callback; NULL for a NULL span or ctx, or a span without a context (no layer with
 * TRACE_LAYER_CONTEXT enabled it). A load or two instead of trace_span_ref_context's copy of a
 * whole trace_context: for layers that read them for every span (an exporter). */
TRACE_API const trace_span_ids *trace_span_ref_ids(const trace_span_ref *span,
                                                   const trace_ctx *ctx);

/* What a layer reads of a span on every callback, found in one call: the span, its callsite,
 * the calling layer's extension (as trace_span_ref_ext gives it, marking it used) and its ids
 * (as trace_span_ref_ids gives them). Valid during the callback, like the doors it stands for. */
typedef struct trace_span_view {
  const trace_span_ref *span;
  const trace_metadata *meta;
  void *ext;                  /* NULL: the layer has no extension, or ctx is a filter's */
  const trace_span_ids *ids;  /* NULL: the span has no context */
} trace_span_view;
/* Fills *out for the span with this id and returns true; false, with *out zeroed, when
 * trace_ctx_span(ctx, id) would give NULL; false for a NULL out. */
TRACE_API bool trace_ctx_span_view(const trace_ctx *ctx, uint64_t id, trace_span_view *out);
/* What an exporting layer reads of a span, in one call: calls fn(arg, &view, &values) with the
 * view trace_ctx_span_view gives and the span's stored values as trace_span_ref_values gives
 * them, holding the span's lock as that does (fn must not record into the same span). Both are
 * valid during fn only. Returns whether fn was called: false when trace_ctx_span(ctx, id) would
 * give NULL, or fn is NULL. */
TRACE_API bool trace_ctx_span_read(const trace_ctx *ctx, uint64_t id,
                                   void (*fn)(void *arg, const trace_span_view *view,
                                              const trace_valueset *values),
                                   void *arg);

typedef struct trace_span_timing {
  uint64_t created_ns; /* CLOCK_MONOTONIC at creation */
  uint64_t busy_ns;    /* total time entered (on any thread) */
  uint64_t idle_ns;    /* total time not entered since creation */
} trace_span_timing;
/* The span's timing so far, if a layer asked for timing (TRACE_LAYER_TIMING); false otherwise. */
TRACE_API bool trace_span_ref_timing(const trace_span_ref *span, trace_span_timing *out);

/* ---------------------------------------------------------------------------------------- */
/* Filters: decide which callsites (and, for dynamic filters, which span instances) are enabled.
 * The bundled ones are below; the env-filter (<trace/env_filter.h>) is another. A filter is used
 * by one registry or one layer, which owns it from then on. */

typedef struct trace_filter_vtable {
  uint32_t struct_size; /* sizeof(trace_filter_vtable) */
  /* Once per callsite (and on rebuild). NULL: SOMETIMES when enabled is set (it is then asked on
   * every hit: its answer may change), ALWAYS otherwise. */
  trace_interest (*register_callsite)(void *self, const trace_metadata *meta);
  /* For SOMETIMES callsites, on every hit; ctx gives the current span. NULL: true. */
  bool (*enabled)(void *self, const trace_metadata *meta, const trace_ctx *ctx);
  /* Most verbose level ever enabled, -1 if unknown. NULL: -1. */
  int (*max_level_hint)(void *self);
  /* A last look at an event with its values. NULL: true. */
  bool (*event_enabled)(void *self, const trace_event *ev, const trace_ctx *ctx);
  /* Span lifecycle, for filters that depend on spans (dynamic filters). Called for the spans
   * this filter enabled. All NULL-able. */
  void (*on_new_span)(void *self, const trace_span_attrs *attrs, uint64_t id, const trace_ctx *ctx);
  void (*on_record)(void *self, uint64_t id, const trace_valueset *values, const trace_ctx *ctx);
  void (*on_enter)(void *self, uint64_t id, const trace_ctx *ctx);
  void (*on_exit)(void *self, uint64_t id, const trace_ctx *ctx);
  void (*on_close)(void *self, uint64_t id, const trace_ctx *ctx);
  void (*destroy)(void *self);
} trace_filter_vtable;

/* Wraps a filter implementation; self is owned from now on (destroy runs once). NULL vtable:
 * NULL. Out of memory: destroy(self) runs and NULL is returned. */
TRACE_API trace_filter *trace_filter_new(const trace_filter_vtable *vtable, void *self);
/* Frees a filter that was not given to a registry or layer. NULL is a no-op. */
TRACE_API void trace_filter_free(trace_filter *filter);
/* A hint for the registry, from filters whose on_enter/on_exit only track spans some of the time
 * (the env-filter tracks entered spans only while it has span directives): while *idle is
 * nonzero, the registry does not call the filter's on_enter and on_exit at all. idle is read on
 * every enter and exit without a lock, so the filter must keep it valid as long as the filter
 * lives, and both callbacks must stay correct whether they are called or not around a change
 * (an exit without the matching enter must be harmless). NULL idle removes the hint. */
TRACE_API void trace_filter_set_scope_idle(trace_filter *filter, const uint8_t *idle);

/* Everything at max_level or more severe. */
TRACE_API trace_filter *trace_filter_level(int max_level);

/* A target table: for each callsite the entry with the longest target that is a prefix of the
 * callsite's target on a segment boundary ("app" matches "app", "app::net", "app.net",
 * "app/net", not "app2") gives the level; default_level when none matches. The strings are
 * copied. NULL on out of memory or NULL table with n > 0. */
typedef struct trace_target_level {
  const char *target;
  int level;
} trace_target_level;
TRACE_API trace_filter *trace_filter_targets(const trace_target_level *table, size_t n,
                                             int default_level);

/* A user callback deciding per callsite. Static: fn is asked once per callsite (again after
 * trace_rebuild_interest) and the answer cached. */
typedef bool (*trace_filter_fn)(void *arg, const trace_metadata *meta);
TRACE_API trace_filter *trace_filter_callback(trace_filter_fn fn, void *arg);
/* The same, asked on every hit (for answers that change, e.g. a runtime switch). */
TRACE_API trace_filter *trace_filter_callback_dynamic(trace_filter_fn fn, void *arg);

/* ---------------------------------------------------------------------------------------- */
/* Layers. */

typedef struct trace_layer_vtable {
  uint32_t struct_size; /* sizeof(trace_layer_vtable) */
  /* The layer's own interest in a callsite, combined with its filter's. NULL: SOMETIMES when
   * enabled is set (asked on every hit), ALWAYS otherwise. */
  trace_interest (*register_callsite)(void *self, const trace_metadata *meta);
  /* The layer's own per-hit check for SOMETIMES callsites. NULL: true. */
  bool (*enabled)(void *self, const trace_metadata *meta, const trace_ctx *ctx);
  void (*on_new_span)(void *self, const trace_span_attrs *attrs, uint64_t id, const trace_ctx *ctx);
  void (*on_record)(void *self, uint64_t id, const trace_valueset *values, const trace_ctx *ctx);
  void (*on_follows_from)(void *self, uint64_t id, uint64_t follows, const trace_ctx *ctx);
  void (*on_event)(void *self, const trace_event *ev, const trace_ctx *ctx);
  void (*on_enter)(void *self, uint64_t id, const trace_ctx *ctx);
  void (*on_exit)(void *self, uint64_t id, const trace_ctx *ctx);
  /* The span closed; its data is still readable through ctx during this call. */
  void (*on_close)(void *self, uint64_t id, const trace_ctx *ctx);
  void (*flush)(void *self);
  void (*destroy)(void *self);
  /* The most verbose level the layer itself wants, -1: no limit. NULL: -1. */
  int (*max_level_hint)(void *self);
  /* For layers with TRACE_LAYER_CONTEXT: whether a new span is sampled (its trace recorded and
   * exported), decided once its ids are drawn, before any on_new_span. parent_flags are the
   * flags of its parent's context (remote: as received; local: as decided), -1 for a root.
   * Among the layers that enabled the span, the first (in the order added) with a sample
   * callback decides. NULL for every layer: a child keeps its parent's decision, a root is
   * sampled. */
  bool (*sample)(void *self, const trace_span_attrs *attrs, const uint8_t trace_id[16],
                 int parent_flags);
  /* The span closed, with what an exporter reads of it: called instead of on_close when set,
   * with view and values as trace_ctx_span_read would give them (this layer's extension, the
   * ids, the latest stored values), valid during the call. No lock is taken: the span has no
   * reference left (or, for a span still open at shutdown, no thread is inside the registry any
   * more), so nothing can record into it meanwhile (recording through a handle whose last
   * reference another thread is closing is the caller's data race: see trace_span_record).
   * TRACE_LAYER_CLOSE_IF_EXT_USED applies as it does to on_close. */
  void (*on_close_read)(void *self, uint64_t id, const trace_span_view *view,
                        const trace_valueset *values, const trace_ctx *ctx);
} trace_layer_vtable;

enum {
  TRACE_LAYER_TIMING = 1,  /* the registry measures busy/idle time of spans for this layer */
  /* The extension is zero the first time a slot is used and afterwards holds whatever this
   * layer's on_close left in it: the registry does not clear it for each new span. For layers
   * that leave it clean themselves (it saves clearing it on every span). It is zero again when
   * the registry gave the slot's memory back (trace_registry_stats.slots_returned), so what
   * on_close leaves there must own nothing: a pointer left in it would be lost. */
  TRACE_LAYER_EXT_KEPT = 2,
  /* on_close (or on_close_read) is called only for spans whose extension this layer obtained
   * (trace_span_ref_ext, from any of its callbacks): for layers whose on_close only cleans up
   * what they put there.
   * Most spans are never looked at by such a layer (no event in them was enabled for it), and
   * their close then costs no call. The layer's filter still hears of every close. */
  TRACE_LAYER_CLOSE_IF_EXT_USED = 4,
  /* The layer needs trace contexts (an exporter): the registry gives every span this layer
   * enables a trace id and a span id (trace_span_ref_context) and keeps its sampled flag. Spans
   * no such layer enables get no ids and cost nothing more. */
  TRACE_LAYER_CONTEXT = 8,
  /* The registry writes a trace_span_creation at the start of this layer's extension when it
   * creates a span this layer enables (ext_size must hold one): for layers that would need
   * on_new_span only to note when and on which thread a span began (an exporter). */
  TRACE_LAYER_CREATION = 16,
  /* on_new_span is called only for the first span each thread creates that this layer enables
   * (per registry): for a layer that sets up per-thread state there and, with
   * TRACE_LAYER_CREATION, needs no call for the others. Ignored when the layer's filter has an
   * on_new_span (the filter hears of every span). */
  TRACE_LAYER_NEW_SPAN_ONCE = 32
};

/* What TRACE_LAYER_CREATION writes at the start of the layer's extension. */
typedef struct trace_span_creation {
  uint64_t ticks;     /* trace_registry_ticks() when the span was created */
  uint32_t thread_id; /* trace_thread_id() of the thread that created it */
  uint32_t zero;      /* 0: for the layer's own use until the span closes (flags, say) */
} trace_span_creation;

/* The clock of trace_span_creation.ticks: the CPU's time stamp counter on x86-64 (rdtsc, whose
 * rate a layer calibrates itself), CLOCK_MONOTONIC nanoseconds elsewhere. */
TRACE_API uint64_t trace_registry_ticks(void);

/* Wraps a layer implementation: self is owned from now on (destroy runs once); ext_size bytes of
 * per-span storage are reserved for it (0 for none; at most 64 KiB); flags are TRACE_LAYER_*.
 * NULL vtable: NULL. An ext_size over 64 KiB, a flag that is not TRACE_LAYER_*, or
 * TRACE_LAYER_CLOSE_IF_EXT_USED with ext_size 0 (on_close could never be called), or
 * TRACE_LAYER_CREATION with an ext_size below sizeof(trace_span_creation), or out of memory:
 * destroy(self) runs, NULL is returned. */
TRACE_API trace_layer *trace_layer_new(const trace_layer_vtable *vtable, void *self,
                                       size_t ext_size, unsigned flags);
/* Frees a layer that was not added to a registry. NULL is a no-op. */
TRACE_API void trace_layer_free(trace_layer *layer);

/* ---------------------------------------------------------------------------------------- */
/* Registry. */

#define TRACE_REGISTRY_MAX_LAYERS 64

/* A new registry without layers or filter; NULL on out of memory. */
TRACE_API trace_registry *trace_registry_new(void);
/* Adds a layer with an optional filter (NULL: the layer sees everything the registry's filter
 * lets through). Layers are called in the order they were added. Takes ownership of both, also on
 * error: TRACE_EINVAL for a NULL registry or layer (so that trace_registry_add_layer(r,
 * make_layer(), f) reports a failed make_layer), TRACE_ERANGE past 64 layers, TRACE_EBUSY once
 * the registry is installed. An error is remembered and returned again by
 * trace_registry_dispatch/install. */
TRACE_API int trace_registry_add_layer(trace_registry *r, trace_layer *layer, trace_filter *filter);
/* Sets the filter for the whole registry (every layer sees only what it enables), replacing a
 * previous one. Takes ownership, also on error (TRACE_EINVAL, TRACE_EBUSY as above). */
TRACE_API int trace_registry_set_filter(trace_registry *r, trace_filter *filter);
/* Turns the registry into a dispatcher (see <trace/subscriber.h>): the dispatcher owns it from now
 * on. NULL if r is NULL, a configuration error was remembered, or out of memory; r is freed then. */
TRACE_API trace_dispatch *trace_registry_dispatch(trace_registry *r);
/* trace_registry_dispatch + trace_set_global_default + release: the usual one call. Returns 0 or
 * an error code (the registry is freed on error). */
TRACE_API int trace_registry_install(trace_registry *r);
/* Frees a registry that was never turned into a dispatcher; NULL is a no-op. */
TRACE_API void trace_registry_free(trace_registry *r);
/* Flushes every layer. r is the registry given to trace_registry_dispatch (still valid while its
 * dispatcher lives). */
TRACE_API void trace_registry_flush(trace_registry *r);

typedef struct trace_registry_stats {
  uint64_t spans_live;    /* spans stored now */
  uint64_t spans_created; /* since creation */
  uint64_t slots;         /* span slots ever made (the high-water mark of spans open at once) */
  uint64_t stale_ids;     /* operations on unknown, closed or stale ids, ignored */
  /* Of those slots, how many hold no memory now: when more than 32 pages of 512 slots are
   * free at once, the registry gives the memory of the others back to the system (Linux), and
   * takes it again when spans need it. */
  uint64_t slots_returned;
} trace_registry_stats;
TRACE_API trace_registry_stats trace_registry_get_stats(trace_registry *r);

#ifdef __cplusplus
}
#endif

#endif
