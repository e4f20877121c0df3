/* The collector's internals: the per-thread rings, the span slots of the standalone
 * subscriber, and the declarations the files of src/collector share. The records are described
 * in record.h.
 *
 * Every word of a ring is written with a relaxed atomic store (a plain mov on x86) and the
 * thread's position published with a release store after each record, so that a dump may read
 * a ring while its thread writes it: the reader copies with relaxed loads and then keeps only
 * what the writer cannot have touched during the copy (dump.c). */
#ifndef TRACE_COLLECTOR_INTERNAL_H
#define TRACE_COLLECTOR_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../common/clock.h"
#include "../common/compiler.h"
#include "../common/mutex.h"
#include "../common/thread.h"
#include "../text/buf.h"
#include "trace/collector.h"

#define COL_PAGE 4096u
#define COL_STACK_MAX 64u     /* entered spans in the thread's struct; deeper ones in deep[] */
#define COL_FIELDS_MAX 64u    /* the macros allow no more */
#define COL_STRING_MAX 1024u  /* the highest string_bytes */

#define COL_PUT(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define COL_GET(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/* ---------------------------------------------------------------------------------------- */
/* Clocks. */

enum { COL_CLOCK_TSC = 0, COL_CLOCK_MONO = 1, COL_CLOCK_CUSTOM = 2 };

typedef struct col_clock {
  int kind;
  uint64_t (*fn)(void *arg);
  void *arg;
  /* TSC ticks to nanoseconds: ns = anchor_ns + (ticks - anchor_ticks) * scale, where scale is
   * measured from (base_ticks, base_ns), taken at the start, to the latest anchor. For MONO and
   * CUSTOM, ticks are nanoseconds already. Only the reporter and dumps convert (under lock for
   * the anchor update; conversions read what the last calibration left). */
  uint64_t base_ticks, base_ns, anchor_ticks, anchor_ns;
  double scale;
  trace__mutex lock; /* calibration */
} col_clock;

bool trace__col_tsc_usable(void);
void trace__col_clock_init(col_clock *k, int kind, uint64_t (*fn)(void *), void *arg);
uint64_t trace__col_clock_slow(const col_clock *k); /* MONO and CUSTOM */
/* A conversion from ticks to nanoseconds, taken with a fresh (ticks, ns) pair: a reporting round
 * or a dump takes one and converts with it. */
typedef struct col_timemap {
  int kind;
  uint64_t anchor_ticks, anchor_ns;
  double scale;
  /* CLOCK_REALTIME - CLOCK_MONOTONIC when the map was taken, for the Unix times sinks receive;
   * 0 for a custom clock, whose times are passed on as they are. */
  int64_t unix_offset_ns;
} col_timemap;
col_timemap trace__col_clock_map(col_clock *k);
uint64_t trace__col_map_ns(const col_timemap *m, uint64_t ticks);
/* The Unix time of a time in ns of the collector's clock (unchanged for a custom clock). */
static inline uint64_t col_unix_ns(const col_timemap *m, uint64_t ns) {
  int64_t t = (int64_t)ns + m->unix_offset_ns;
  return t > 0 ? (uint64_t)t : 0;
}
/* The current time in the collector's clock, as ticks and as ns. */
uint64_t trace__col_now_ticks(const col_clock *k);

/* ---------------------------------------------------------------------------------------- */
/* Per-thread state. */

struct col_slot;

typedef struct col_entry {
  uint64_t id;
  const trace_metadata *meta;
  struct col_slot *slot; /* the span's (its end finds it here, not through the pages) */
} col_entry;

struct trace_collector;

typedef struct col_thread {
  /* The recording thread's hot data, one cache line. pos is also the published head: release
   * stores by the owner, acquire loads by the reporter and the dumper. */
  uint64_t pos;
  uint64_t limit; /* records go in without further checks while pos + size <= limit */
  unsigned char *data;
  uint64_t mask;
  struct trace_collector *c;
  struct col_slot **pages; /* c->slots.pages: slots found from the thread, not the collector
                             (see col_tcache) */
  uint32_t string_bytes;  /* c->string_bytes */
  uint8_t clock;  /* COL_CLOCK_* */
  /* The clock is the TSC and lifetimes are not exact (TRACE_COLLECTOR_EXACT_LIFETIMES): what
   * the scope fast paths (subscriber.c) assume, tested once. */
  uint8_t scope_fast;
  uint16_t unused_;
  uint32_t depth; /* entered spans: stack[], then deep[] past COL_STACK_MAX */
  uint32_t free_head; /* standalone: this thread's free span slots (index + 1, 0: none) */
  uint32_t free_count;
  /* The last EXIT record: where it ends and whose it is. A CLOSE right after it (nothing
   * recorded between) takes its time and reads no clock. */
  uint64_t exit_end, exit_id;
  col_entry stack[COL_STACK_MAX];

  /* The reporter's side (STREAM): how far it has read. Its own line. */
  uint64_t tail __attribute__((aligned(64)));

  /* Cold: bookkeeping under the collector's lock. */
  uint64_t size;   /* ring bytes */
  uint64_t dropped;  /* STREAM: records lost to a full ring (atomic) */
  uint32_t number; /* trace__thread_number of the thread */
  uint8_t exited;  /* atomic: the thread is gone, no more records */
  uint8_t woke;    /* STREAM: the reporter was woken for this ring since it last read it */
  uint64_t retired_seq; /* FLIGHT: order in which exited rings are reused */
  char name[32];   /* under c->lock */
  struct col_thread *next;
  /* The recording thread's: entered spans past COL_STACK_MAX (deep[i] is entry COL_STACK_MAX +
   * i), grown on the general path; entries it could not hold (out of memory) are counted in
   * depth only, the innermost known one standing for them. Freed when the thread exits. */
  col_entry *deep;
  uint32_t deep_cap;
} col_thread;

/* The entered span at position i < t->depth of t's stack, NULL if it could not be kept. */
static inline col_entry *col_entry_at(col_thread *t, uint32_t i) {
  if (i < COL_STACK_MAX)
    return &t->stack[i];
  return i - COL_STACK_MAX < t->deep_cap ? &t->deep[i - COL_STACK_MAX] : NULL;
}
/* The innermost entered span that is known (depth > 0). */
const col_entry *trace__col_innermost(const col_thread *t);
/* Where the entry at position depth goes when a span is entered: stack[], or deep[] grown as
 * needed; NULL when it cannot be kept (out of memory). */
col_entry *trace__col_entry_new(col_thread *t);
/* Frees what t's entered stack allocated. */
void trace__col_stack_free(col_thread *t);

/* ---------------------------------------------------------------------------------------- */
/* Span slots of the standalone subscriber. A span id is (generation << 32 | index + 1); the
 * slot's state word is (generation << 32 | references), so a stale or forged id never reaches
 * a reused slot: every change is a compare-and-swap on a state whose generation matches. */

typedef struct col_slot {
  uint64_t state; /* atomic */
  const trace_metadata *meta; /* atomic */
  uint32_t next_free;  /* index + 1 of the next free slot in a free list, 0: end */
  uint32_t next_batch;  /* for the first slot of a batch on the shared stack */
  uint32_t batch_count; /* for the first slot of a batch: its length */
  /* TRACE_COLLECTOR_CONTEXT (context.c): the span's trace context, written by its creating
   * thread before the id is returned; other threads read it knowing the id, and check the state
   * word again afterwards (the slot may have been reused meanwhile). */
  uint8_t flags;          /* trace flags: TRACE_CONTEXT_SAMPLED */
  uint8_t unused_;
  uint16_t tracestate_len; /* bytes in tracestate */
  uint64_t ids[3]; /* the trace id's bytes, then the span id's, 8 to a word in memory order */
  char *tracestate; /* made the first time the slot carries one, kept with the slot */
} col_slot;
_Static_assert(sizeof(col_slot) == 64, "a slot is a cache line");

#define COL_SLOTS_PER_PAGE 1024u
#define COL_SLOT_PAGES 65536u
#define COL_BATCH 64u

typedef struct col_slots {
  col_slot **pages;      /* COL_SLOT_PAGES entries, each published (release) when made */
  uint32_t count;        /* atomic: slots that exist */
  uint64_t batches;      /* atomic: (tag << 32 | index + 1 of a batch's first slot) */
  trace__mutex grow_lock;
} col_slots;

bool trace__col_slots_init(col_slots *s);
void trace__col_slots_free(col_slots *s);
/* A slot for this thread, from its list, the shared stack or a new page; index + 1, 0 if out of
 * memory. */
uint32_t trace__col_slot_refill(col_slots *s, col_thread *t);
/* Gives a batch of this thread's free slots back to the shared stack. */
void trace__col_slot_spill(col_slots *s, col_thread *t);
/* A thread's free list, all of it, back to the shared stack (the thread is gone). */
void trace__col_slot_release_all(col_slots *s, col_thread *t);

/* The slot of an index that exists (pages: the collector's page array, or a thread's copy of
 * the pointer to it). */
static TRACE__INLINE col_slot *col_slot_in(col_slot *const *pages, uint32_t index) {
  return &pages[index / COL_SLOTS_PER_PAGE][index % COL_SLOTS_PER_PAGE];
}
/* The slot of id, or NULL if the id cannot be one (no such page; the generation is checked by
 * the caller against the state word). */
static TRACE__INLINE col_slot *col_slot_find(col_slot *const *pages, uint64_t id) {
  uint32_t index = (uint32_t)id - 1;
  if (TRACE__UNLIKELY(index / COL_SLOTS_PER_PAGE >= COL_SLOT_PAGES))
    return 0;
  col_slot *page = __atomic_load_n(&pages[index / COL_SLOTS_PER_PAGE], __ATOMIC_ACQUIRE);
  if (TRACE__UNLIKELY(!page))
    return 0;
  return &page[index % COL_SLOTS_PER_PAGE];
}
static TRACE__INLINE col_slot *col_slot_at(const col_slots *s, uint32_t index) {
  return col_slot_in(s->pages, index);
}
static TRACE__INLINE col_slot *col_slot_of(const col_slots *s, uint64_t id) {
  return col_slot_find(s->pages, id);
}

/* ---------------------------------------------------------------------------------------- */
/* Trace contexts of the standalone subscriber (context.c). */

/* Gives the new span id (slot s, made by thread t under parent, 0 for none) its context and
 * writes its CONTEXT record. */
void trace__col_context_new(struct trace_collector *c, col_thread *t, col_slot *s, uint64_t id,
                            uint64_t parent, const trace_span_attrs *attrs);
/* The subscriber's span_context. */
int trace__col_span_context(void *self, uint64_t id, trace_context *out);

/* ---------------------------------------------------------------------------------------- */
/* The collector. */

typedef struct col_model col_model;
typedef struct col_chrome col_chrome;
typedef struct col_folded col_folded;
typedef struct ring_view ring_view;

/* An output's counters (output.h). */
typedef struct col_out_stats {
  uint64_t events_written, events_dropped, bytes_written, write_errors;
  int last_error;
} col_out_stats;

struct trace_collector {
  trace_collector_options o; /* its strings and sink point at the copies below */
  char *strings[4];
  trace_collector_sink sink;
  int mode;
  bool exact;      /* TRACE_COLLECTOR_EXACT_LIFETIMES */
  bool context;    /* TRACE_COLLECTOR_CONTEXT, used alone */
  bool given;      /* turned into a dispatcher or a layer */
  int local_key;   /* trace__local_* slot of this collector's col_thread */
  uint64_t gen;    /* unique among collectors (col_tcache) */
  uint64_t ring_bytes;
  col_clock clock;
  col_slots slots;
  uint32_t string_bytes;
  uint32_t simple_fields; /* records with at most this many values take the simple path */

  trace__mutex lock;      /* threads list, names, published counters */
  col_thread *threads;    /* every ring: live, exited not yet drained (STREAM), kept (FLIGHT) */
  col_thread *free_rings; /* STREAM: drained rings of exited threads, for new threads */
  uint64_t ring_total;    /* bytes of all rings */
  uint64_t retire_seq;
  uint64_t threads_seen;
  uint32_t dumping;       /* dumps copying rings now: exited rings are not reused meanwhile */
  int destroying;         /* atomic */

  /* The reporter. */
  pthread_t reporter;
  bool reporter_running;  /* atomic */
  bool starting;          /* under lock: a forked child is starting its reporter */
  bool reopen_outputs;    /* a forked child opens its own files ("%p" in the paths) */
  uint32_t wake;          /* futex word: bumped to wake the reporter */
  uint32_t sleeping;      /* atomic: the reporter waits on wake */
  uint64_t flush_asked;   /* under flush_lock */
  uint64_t flush_done;
  pthread_mutex_t flush_lock;
  pthread_cond_t flush_cond;
  int stop;               /* atomic */
  uint32_t requests_seen; /* trace__col_flight_requests already handled */
  ring_view *views;       /* the reporter's list of rings for a round */
  size_t views_cap;

  /* STREAM outputs, the reporter's (and destroy's once it has stopped). */
  col_model *model;
  col_chrome *chrome;
  col_folded *folded;
  col_out_stats out_chrome, out_folded; /* published under lock after each round */

  /* Counters (atomic). Rings that are reused add what they counted here. */
  uint64_t recorded_total;
  uint64_t dropped_total;
  uint64_t clock_backwards;
  uint64_t memory_drops;
  uint64_t dumps;
  uint64_t dump_copy_ns_max;
  uint64_t dump_counter;

  struct trace_collector *next_all; /* every collector alive, newest first */
};

typedef struct trace_collector col;

/* ---------------------------------------------------------------------------------------- */
/* Rings (ring.c). */

col_thread *trace__col_thread_new(col *c); /* the calling thread's, registered; NULL: none */
/* The slow part of col_reserve: a new page, a full ring, a thread without a ring yet. Returns
 * where to write size bytes, or NULL to drop the record. */
uint64_t *trace__col_reserve_slow(col_thread *t, uint32_t size);
void trace__col_thread_exit(void *thread); /* trace__local key destructor */
void trace__col_rings_free(col *c);
/* STREAM: frees (to the pool) the rings of exited threads the reporter has read to the end. */
void trace__col_rings_reap(col *c);
void trace__col_wake_reporter(col *c);

/* The ring a thread used last, and for which collector. Looking the ring up through the
 * collector (its thread-local key, then the thread's slot array) made the address of every
 * access to the ring depend on loads from the subscriber's self pointer, and those chains cost
 * about 5 ns per call in spans_100 (the recording thread's stores to its ring waited for them);
 * from this thread-local, the address depends on the thread pointer alone, and the collector is
 * only compared. gen tells a collector from a later one at the same address. */
typedef struct col_tcache {
  const struct trace_collector *c;
  uint64_t gen;
  col_thread *t;
} col_tcache;
extern __thread col_tcache trace__col_tcache __attribute__((tls_model("initial-exec")));

/* The ring this thread used last, if it is c's; NULL otherwise (it may have one all the same:
 * col_thread_find says). For fast paths that leave everything else to a general path. */
static TRACE__INLINE col_thread *col_thread_cached(const col *c) {
  const col_tcache *k = &trace__col_tcache;
  return TRACE__LIKELY(k->c == c && k->gen == c->gen) ? k->t : NULL;
}
/* The calling thread's ring for c, made on its first record (NULL: it cannot have one). */
col_thread *trace__col_thread_slow(col *c);
static TRACE__INLINE col_thread *col_thread_get(col *c) {
  col_thread *t = col_thread_cached(c);
  return TRACE__LIKELY(t != NULL) ? t : trace__col_thread_slow(c);
}
/* The same without making one. */
col_thread *trace__col_thread_find(col *c);
static TRACE__INLINE col_thread *col_thread_find(col *c) {
  col_thread *t = col_thread_cached(c);
  return TRACE__LIKELY(t != NULL) ? t : trace__col_thread_find(c);
}

/* Where the next record of size bytes (a multiple of 8, at most a page) goes, or NULL when it
 * is dropped. */
static TRACE__INLINE uint64_t *col_reserve(col_thread *t, uint32_t size) {
  uint64_t pos = t->pos;
  if (TRACE__UNLIKELY(pos + size > t->limit))
    return trace__col_reserve_slow(t, size);
  return (uint64_t *)(void *)(t->data + (pos & t->mask));
}

static TRACE__INLINE void col_commit(col_thread *t, uint32_t size) {
  __atomic_store_n(&t->pos, t->pos + size, __ATOMIC_RELEASE);
}

static TRACE__INLINE uint64_t col_now(const col_thread *t) {
  if (TRACE__LIKELY(t->clock == COL_CLOCK_TSC))
    return trace__tsc();
  return trace__col_clock_slow(&t->c->clock);
}

/* A CLOSE record's time: none (0: the reader takes the time of the EXIT just before it) when
 * it follows its span's EXIT directly, as in TRACE_SCOPE and TRACE_FN; else the clock. */
static TRACE__INLINE uint64_t col_close_time(const col_thread *t, uint64_t id, bool exact) {
  if (TRACE__LIKELY(!exact && t->exit_end == t->pos && t->exit_id == id))
    return 0;
  return col_now(t);
}

/* ---------------------------------------------------------------------------------------- */
/* The reporter (reporter.c), the model (model.c), outputs (chrome.c, folded.c), dumps
 * (dump.c), the standalone subscriber (subscriber.c) and the layer (layer.c). */

int trace__col_reporter_start(col *c);
void trace__col_reporter_stop(col *c); /* drains everything, completes the outputs */
void trace__col_reporter_ensure(col *c); /* a forked child starts its reporter */
int trace__col_flush(col *c);
void trace__col_destroy(col *c);
void trace__col_fork_child(col *c);
/* STREAM: creates the output files and the model; forked: in a child, only the files named
 * for it ("%p"). 0 or an error code. */
int trace__col_open_outputs(col *c, bool forked);
/* path with "%p" replaced by the process id, "%n" by n and "%%" by "%", into out (cap bytes);
 * the length, 0 if it does not fit. */
size_t trace__col_expand_path(const char *path, uint64_t n, char *out, size_t cap);

/* The standalone subscriber's table for c (subscriber.c). */
void trace__col_subscriber_vtable_for(const struct trace_collector *c, trace_subscriber_vtable *out);
extern const trace_layer_vtable trace__col_layer_vtable;

/* Collectors alive (collector.c): for fork, trace_flight_dump and dump requests. */
extern trace__mutex trace__col_list_lock;
extern col *trace__col_list_head;
extern uint32_t trace__col_flight_requests; /* atomic, bumped by trace_flight_dump_request */
void trace__col_list_add(col *c);
void trace__col_list_remove(col *c);
/* The flight recorder in use (the newest FLIGHT collector), under trace__col_list_lock. */
col *trace__col_flight_current(void);
void trace__col_dump_requested(col *c); /* reporter: writes a requested dump if c is in use */
void trace__col_output_stats(col *c, trace_collector_stats *st);

#endif
