/* The subscriber interface: what a collector of spans and events implements, and how an
 * application installs one. Most applications use the bundled registry (<trace/registry.h>)
 * and fmt layer (<trace/fmt.h>) instead of writing a subscriber; this header is for those who
 * do (see examples/custom_subscriber.c) and for the dispatch controls (global and scoped
 * defaults, interest rebuild).
 *
 * Callbacks run on the thread that emitted the event or operated on the span, possibly on many
 * threads at once; a subscriber is responsible for its own thread safety. While a callback runs,
 * instrumentation on the same thread goes to a no-op dispatcher, so a subscriber that logs does
 * not recurse into itself. */
#ifndef TRACE_SUBSCRIBER_H
#define TRACE_SUBSCRIBER_H

#include "../trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How much a subscriber cares about a callsite, decided once per callsite and cached:
 * NEVER skips it without a call, ALWAYS dispatches without asking, SOMETIMES calls enabled()
 * on every hit. With several subscribers installed, different answers combine to SOMETIMES. */
typedef enum trace_interest {
  TRACE_INTEREST_NEVER = TRACE_I_INTEREST_NEVER, /* 1: the macros compare with these numbers */
  TRACE_INTEREST_SOMETIMES = TRACE_I_INTEREST_SOMETIMES,
  TRACE_INTEREST_ALWAYS = TRACE_I_INTEREST_ALWAYS
} trace_interest;

/* Where a new span or event hangs in the tree. */
typedef enum trace_parent_kind {
  TRACE_PARENT_CURRENT = 0,  /* the span the thread is in (the subscriber knows which) */
  TRACE_PARENT_EXPLICIT = 1, /* parent_id */
  TRACE_PARENT_ROOT = 2      /* no parent */
} trace_parent_kind;

/* A span's identity in a distributed trace: <trace/context.h>. */
typedef struct trace_context trace_context;

/* A set of field values. Either the values of every declared field in order (index == NULL,
 * count == meta->field_count, as for new spans and events), or count (index, value) pairs (a
 * record). Empty values (TRACE_VALUE_EMPTY) are declared fields without a value. All pointers
 * are valid only during the callback: copy what you keep. */
typedef struct trace_valueset {
  const trace_metadata *meta;
  const trace_value *values;
  const uint16_t *index; /* NULL, or the field index of each value */
  uint32_t count;
} trace_valueset;

/* The name of the i-th value of a set. */
static inline const char *trace_valueset_name(const trace_valueset *vs, uint32_t i) {
  return vs->meta->field_names[vs->index ? vs->index[i] : i];
}

/* A new span: its metadata, values and parent. */
typedef struct trace_span_attrs {
  const trace_metadata *meta;
  trace_valueset fields;
  uint32_t parent_kind; /* trace_parent_kind */
  uint64_t parent_id;   /* when parent_kind is EXPLICIT */
  /* TRACE_SPAN_FROM: with valid ids, the span continues this trace of another process, whose
   * span is its parent in the trace (exporters take its trace id and make its span id the
   * parent's); with a zero id, the span starts a new trace. Either way the local parent above
   * is unchanged, for local layers (fmt's scope, filters). NULL: an ordinary span. */
  const trace_context *remote_parent;
} trace_span_attrs;

/* An event. The message, if the callsite has one, is formatted on demand with
 * trace_event_message(); meta->message is its printf format. */
typedef struct trace_event {
  const trace_metadata *meta;
  trace_valueset fields;
  uint32_t parent_kind; /* trace_parent_kind */
  uint64_t parent_id;   /* when parent_kind is EXPLICIT */
  va_list *args_;       /* internal: the message arguments */
} trace_event;

/* Formats the event's message into buf (at most cap bytes, always NUL-terminated when cap > 0)
 * and returns its full length, like snprintf; 0 if the event has no message. May be called any
 * number of times during the callback that received ev. */
TRACE_API size_t trace_event_message(const trace_event *ev, char *buf, size_t cap);

/* For a subscriber that formats the message itself (its own printf engine, or one that keeps the
 * arguments): va_copy's the message's arguments into *out and returns true; the caller va_end's
 * *out. false (and *out untouched) when the event has no message. Call it during the callback
 * that received ev, as often as needed. */
TRACE_API bool trace_event_va_copy(const trace_event *ev, va_list *out);

/* errno as it was when the event was emitted: what %m in the message prints. Call it during the
 * callback that received ev, on the thread that emitted it (where callbacks run). */
TRACE_API int trace_event_errno(const trace_event *ev);

/* Typed callbacks for the values of a set; a NULL callback falls back to on_text with the
 * value's text form (numbers in decimal, bools as true/false, pointers as 0x..., strings as
 * they are, FMT values as their callback wrote them). Empty values are skipped. */
typedef struct trace_visitor {
  uint32_t struct_size; /* sizeof(trace_visitor) */
  void (*on_i64)(void *ctx, const char *name, int64_t v);
  void (*on_u64)(void *ctx, const char *name, uint64_t v);
  void (*on_f64)(void *ctx, const char *name, double v);
  void (*on_bool)(void *ctx, const char *name, bool v);
  void (*on_str)(void *ctx, const char *name, const char *s, size_t len); /* s NULL: null */
  void (*on_ptr)(void *ctx, const char *name, const void *p);
  void (*on_text)(void *ctx, const char *name, const char *text, size_t len); /* fallback */
} trace_visitor;

/* Calls the visitor for every non-empty value of vs, in order. */
TRACE_API void trace_valueset_visit(const trace_valueset *vs, const trace_visitor *visitor,
                                    void *ctx);

/* Writes the text form of v (see trace_visitor) into buf, snprintf-style: returns the full
 * length, writes at most cap bytes including the NUL. EMPTY gives "". */
TRACE_API size_t trace_value_text(const trace_value *v, char *buf, size_t cap);

/* The subscriber vtable. struct_size comes first so the struct can grow: set it to
 * sizeof(trace_subscriber_vtable); entries past a smaller struct_size count as NULL. Any entry
 * may be NULL; the comment says what NULL means. self is the pointer given to
 * trace_dispatch_new. Span ids are chosen by the subscriber: non-zero, unique among live spans. */
typedef struct trace_subscriber_vtable {
  uint32_t struct_size;
  /* Once per callsite (and again on trace_rebuild_interest). NULL: enabled() ? ALWAYS : NEVER. */
  trace_interest (*register_callsite)(void *self, const trace_metadata *meta);
  /* Whether this callsite is wanted now (SOMETIMES callsites, every hit). NULL: true. */
  bool (*enabled)(void *self, const trace_metadata *meta);
  /* The most verbose level this subscriber will ever want, or -1 if it cannot tell (then
   * TRACE is assumed). Asked when interest is rebuilt. NULL: -1. */
  int (*max_level_hint)(void *self);
  /* A span was created; return its id, or 0 to drop it (the handle becomes none). NULL: 0. */
  uint64_t (*new_span)(void *self, const trace_span_attrs *attrs);
  /* Values recorded on span id after creation. NULL: ignored. */
  void (*record)(void *self, uint64_t id, const trace_valueset *values);
  /* Span id follows from span follows. NULL: ignored. */
  void (*record_follows_from)(void *self, uint64_t id, uint64_t follows);
  /* A last look at an event with its values, before event(). NULL: true. */
  bool (*event_enabled)(void *self, const trace_event *ev);
  /* An event happened. NULL: ignored. */
  void (*event)(void *self, const trace_event *ev);
  /* The thread entered / exited span id. NULL: ignored. */
  void (*enter)(void *self, uint64_t id);
  void (*exit)(void *self, uint64_t id);
  /* A handle to span id was cloned; return the id for the clone (normally id). NULL: id. */
  uint64_t (*clone_span)(void *self, uint64_t id);
  /* A handle was closed. Return 1 if that was the last reference and the span closed, 0 if it
   * is still open, and a negative value if the id is unknown (closed already, stale, forged):
   * then the core knows the handle held nothing and stays consistent when a C program closes two
   * copies of one handle. NULL: 0. */
  int (*try_close)(void *self, uint64_t id);
  /* The span this thread is in: its id (0 for none) and metadata. NULL: none. */
  uint64_t (*current_span)(void *self, const trace_metadata **meta);
  /* Write out whatever is buffered. NULL: nothing to do. */
  void (*flush)(void *self);
  /* Free self. Called once, after the last use. NULL: self is not freed. */
  void (*destroy)(void *self);
  /* The trace context of span id, for trace_span_context() (<trace/context.h>): fill *out and
   * return 0, or return TRACE_ENOTSUP if the span has none, TRACE_ECLOSED if id is unknown.
   * NULL: TRACE_ENOTSUP. */
  int (*span_context)(void *self, uint64_t id, trace_context *out);
  /* A module is being unloaded (dlclose): the callsites in [start, stop) and the metadata in
   * them (names, targets, files, field names) are unmapped as soon as this returns, so a
   * subscriber that kept pointers to that metadata (open spans) must stop using them now. Called
   * for every installed dispatcher (global and scoped), on the unloading thread, with libtrace's
   * registration lock held: do not log or change defaults from here. Not called at process exit,
   * where nothing is unmapped. Spans of the module used on another thread during the dlclose
   * stay the caller's race (see "Modules unloaded" in docs/concepts.md). NULL: nothing kept.
   * Older vtables (a smaller struct_size) simply lack it and what follows. */
  void (*unload_callsites)(void *self, const trace_callsite *start, const trace_callsite *stop);
  /* Two steps in one call, for a subscriber that does them cheaper together (TRACE_SCOPE and
   * TRACE_SPAN_ENTERED make a span and enter it, trace_span_end exits and closes it). Each must
   * do exactly what its pair does; NULL (or an older vtable without them): the core calls the
   * pair in turn. new_span_entered: new_span, then enter of the new span on this thread (not
   * called without new_span). exit_close: exit of span id on this thread, then try_close,
   * whose result it returns (on a thread that is exiting the core calls try_close alone). */
  uint64_t (*new_span_entered)(void *self, const trace_span_attrs *attrs);
  int (*exit_close)(void *self, uint64_t id);
} trace_subscriber_vtable;

/* A dispatcher: a subscriber (vtable + self) with a reference count. */
typedef struct trace_dispatch trace_dispatch;

/* Wraps a subscriber. The vtable is copied (it may be temporary); self is owned by the returned
 * dispatch from now on: vtable->destroy(self) runs when the last reference goes. Returns NULL
 * on NULL vtable (then nothing is destroyed) or out of memory (then destroy(self) has run). */
TRACE_API trace_dispatch *trace_dispatch_new(const trace_subscriber_vtable *vtable, void *self);
/* Another reference; returns d. */
TRACE_API trace_dispatch *trace_dispatch_ref(trace_dispatch *d);
/* Drops a reference; NULL is a no-op. Spans keep their dispatch alive. */
TRACE_API void trace_dispatch_release(trace_dispatch *d);
/* The subscriber's self pointer, for code that knows the vtable. */
TRACE_API void *trace_dispatch_self(const trace_dispatch *d);
/* Calls the subscriber's flush. */
TRACE_API void trace_dispatch_flush(trace_dispatch *d);
/* Runs fn(arg) once, when the subscriber behind d is destroyed, right before its destroy
 * callback: for whoever keeps pointers into the subscriber (trace_init forgets its filter and
 * writer handles this way). Several callbacks run in the reverse order of registration.
 * Returns 0; TRACE_EINVAL for NULL d or fn, or once d is destroyed; TRACE_ENOMEM. */
TRACE_API int trace_dispatch_on_destroy(trace_dispatch *d, void (*fn)(void *arg), void *arg);

/* Installs d as the process-wide default, for every thread without a scoped default. Takes
 * its own reference (release yours when you like). Once only: returns TRACE_EEXIST (and changes
 * nothing) if a global default is already set, until trace_shutdown() removes it; TRACE_EINVAL
 * for NULL or for a dispatcher that was shut down already (it cannot come back); TRACE_EBUSY
 * from inside a subscriber callback. Libraries must not call this; applications do, once, at
 * start-up. */
TRACE_API int trace_set_global_default(trace_dispatch *d);
/* The global default, or NULL; no reference is taken. */
TRACE_API trace_dispatch *trace_global_default(void);

/* Thread-scoped defaults: until the guard is restored, this thread dispatches to d instead of
 * the global default (NULL: to nothing). New threads do not inherit it. Guards nest and must be
 * restored in reverse order on the thread that made them. The guard holds a reference on d.
 * Called from inside a subscriber callback it does nothing (the guard is inactive). */
typedef struct trace_default_guard {
  trace_dispatch *prev;
  trace_dispatch *installed;
  int loop_; /* internal, for TRACE_WITH_DEFAULT */
  int active_;
} trace_default_guard;
TRACE_API trace_default_guard trace_set_default(trace_dispatch *d);
/* Restores the previous default; restoring a guard twice is a no-op. */
TRACE_API void trace_default_guard_restore(trace_default_guard *guard);

/* Runs the following block with d as this thread's default; any way out of the block restores
 * the previous one.  TRACE_WITH_DEFAULT(d) { ... } */
#define TRACE_WITH_DEFAULT(d) TRACE_I_WITH_DEFAULT_(TRACE_I_UNIQ(trace_i_wd_), d)
#define TRACE_I_WITH_DEFAULT_(g, d)                                                                \
  for (trace_default_guard g TRACE_I_CLEANUP(trace_default_guard_restore) = trace_set_default(d); \
       g.loop_; g.loop_ = 0)

/* Re-asks every installed subscriber about every registered callsite and recomputes the global
 * maximum level. Call it when a subscriber's answers change (a filter was reloaded). Returns 0,
 * or TRACE_EBUSY when called from inside a subscriber callback: the rebuild is then deferred
 * and done as soon as that thread returns from libtrace. */
TRACE_API int trace_rebuild_interest(void);

/* The current global maximum level (the max of every installed subscriber's hint). */
TRACE_API int trace_max_level(void);

/* Callsite inventory: calls fn for every callsite known to the process, registered or not yet
 * hit (on ELF platforms every callsite compiled into a loaded module is known; elsewhere only
 * those hit at least once). interest is the callsite's current cached interest: 0 = not
 * decided yet, else trace_interest. Returns the number of callsites visited. fn must not
 * emit events, nor dlopen or dlclose. Safe while other threads dlopen and dlclose modules: the
 * walk holds libtrace's registration lock, which a module's unloading waits for, so the modules
 * walked stay mapped until it ends and a module unloaded before is not visited. */
typedef void (*trace_callsite_fn)(void *ctx, const trace_metadata *meta, int interest);
TRACE_API size_t trace_callsites_foreach(trace_callsite_fn fn, void *ctx);

/* The allocator libtrace uses for everything it allocates (spans' storage, buffers, filters).
 * Set it before anything else of libtrace runs (before the first subscriber is created);
 * setting it later mixes allocators. Returns TRACE_EINVAL for a NULL or incomplete struct. */
typedef struct trace_allocator {
  uint32_t struct_size; /* sizeof(trace_allocator) */
  void *(*malloc_fn)(size_t size);
  void *(*realloc_fn)(void *p, size_t size);
  void (*free_fn)(void *p);
} trace_allocator;
TRACE_API int trace_set_allocator(const trace_allocator *allocator);

#ifdef __cplusplus
}
#endif

#endif
