/* The OTLP exporter's internals. The module is a registry layer written against the public
 * headers (and src/common, src/text); it is its own library (libtrace_otlp).
 *
 * The flow of a span:
 *   caller thread   on_new_span: start time and creating thread into the span's extension;
 *                   on_close_read: the span's ids, times and values become one record appended
 *                   to the thread's ring (ring.c): no lock, no allocation, no system call;
 *   exporter thread drains every ring (exporter.c), holds events until their span's record
 *                   comes (held.c), and exports batches (encode_pb.c / encode_json.c) over HTTP
 *                   with libcurl (http.c), retrying what may be retried.
 * A full ring drops the record (counted): the caller never waits for the exporter. */
#ifndef TRACE_OTLP_INTERNAL_H
#define TRACE_OTLP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/clock.h"
#include "../common/compiler.h"
#include "../common/mutex.h"
#include "../text/buf.h"
#include "trace/context.h"
#include "trace/otlp.h"

/* ---------------------------------------------------------------------------------------- */
/* Records: what a caller thread appends to its ring. Sizes are multiples of 8; every record
 * starts with a rec_head; its values (rec_value, each followed by its string bytes padded to 8)
 * come last. */

enum { REC_PAD = 1, REC_SPAN = 2, REC_EVENT = 3, REC_NAME = 4 };
#define REC_ALIGN(n) (((n) + 7u) & ~(size_t)7u)

typedef struct rec_head {
  uint32_t size; /* the whole record, multiple of 8 */
  uint8_t kind;  /* REC_* */
  uint8_t level; /* trace_level */
  uint16_t nvalues;
  uint32_t site;      /* the callsite id (sites.c has its metadata) */
  uint32_t thread_id; /* span: the thread that created it; event: where it happened (its name:
                         REC_NAME records, kept by the exporter) */
  uint64_t time_ns;   /* a span's start, an event's time: clock ticks in the ring (see
                         otlp_clock), Unix ns once the exporter has drained it; Unix ns from
                         the start when unix_time is set */
  uint8_t trace_id[16];
  uint8_t span_id[8]; /* a span's own; an event's span (zeros: none) */
  uint8_t truncated;  /* values were cut or dropped for room */
  /* Times (and busy_ns / idle_ns) are Unix ns and ns already, not clock ticks: the collector's
   * sink (sink.c) writes the times the collector measured. */
  uint8_t unix_time;
  uint16_t dropped_values;
  uint32_t reserved2_;
} rec_head;

/* A thread's name, written to its ring before its first record and again when it changes. */
typedef struct rec_name {
  uint32_t size;
  uint8_t kind; /* REC_NAME */
  uint8_t len;
  uint16_t reserved_;
  uint32_t thread_id;
  char name[32];
  uint32_t reserved2_;
} rec_name;

typedef struct rec_span {
  rec_head h;
  uint8_t parent_span_id[8]; /* zeros for a root */
  uint64_t end_ns;            /* ticks, then Unix ns, as h.time_ns */
  uint64_t busy_ns, idle_ns;  /* ticks, then ns */
  uint32_t flags; /* OTLP Span.flags: trace flags, "is remote known" and "parent is remote" */
  uint8_t error;  /* an ERROR event happened in the span */
  uint8_t timing; /* busy_ns and idle_ns are measured */
  uint16_t tracestate_len; /* bytes after this struct, padded to 8 */
} rec_span;

typedef struct rec_event {
  rec_head h;
  uint32_t message_len; /* bytes after this struct, padded to 8 */
  uint8_t has_message;
  uint8_t trace_flags; /* of its span */
  uint8_t reserved_[2];
} rec_event;

typedef struct rec_value {
  uint16_t field; /* index into the callsite's field names */
  uint8_t type;   /* trace_value_type; strings of every kind come as STR or DISPLAY */
  uint8_t cut;    /* the string was cut */
  uint32_t len;   /* string bytes after this struct, padded to 8 */
  union {
    int64_t i64;
    uint64_t u64;
    double f64;
    uint64_t b;
  } as;
} rec_value;

_Static_assert(sizeof(rec_head) % 8 == 0, "records are 8-aligned");
_Static_assert(sizeof(rec_span) % 8 == 0, "records are 8-aligned");
_Static_assert(sizeof(rec_event) % 8 == 0, "records are 8-aligned");
_Static_assert(sizeof(rec_value) == 16, "values are 16 bytes");
_Static_assert(sizeof(rec_name) % 8 == 0, "records are 8-aligned");

/* The bytes a record reserves for each value of its callsite: the rec_value and a string's
 * share, up to 512 bytes (sites.c). A longer string is cut to what the record got, so a string
 * that fits its share is never cut for room (layer.c counts on it). */
static inline size_t otlp_value_share(uint32_t max_value_len) {
  return sizeof(rec_value) + (max_value_len < 504u ? max_value_len : 504u) + 8u;
}

static inline const char *rec_after(const void *p, size_t n) { return (const char *)p + n; }

/* Iterates the values of a record: first with rec_values(), then rec_value_next(). */
typedef struct rec_iter {
  const char *p, *end;
  uint32_t left;
} rec_iter;
static inline rec_iter rec_values(const rec_head *h, const char *values_start) {
  rec_iter it = {values_start, (const char *)h + h->size, h->nvalues};
  return it;
}
static inline const rec_value *rec_value_next(rec_iter *it, const char **str) {
  if (it->left == 0 || it->end - it->p < (ptrdiff_t)sizeof(rec_value))
    return NULL;
  const rec_value *v = (const rec_value *)(const void *)it->p;
  *str = it->p + sizeof *v;
  it->p += sizeof *v + REC_ALIGN(v->len);
  it->left--;
  return v;
}
/* Where a span's / an event's values start. */
static inline const char *rec_span_values(const rec_span *s) {
  return rec_after(s, sizeof *s + REC_ALIGN(s->tracestate_len));
}
static inline const char *rec_event_values(const rec_event *e) {
  return rec_after(e, sizeof *e + REC_ALIGN(e->message_len));
}

/* Clocks. Records carry clock ticks, read on instrumented threads: the time stamp counter where
 * it is usable (x86-64 with an invariant TSC that the kernel's clock itself is based on: an
 * instruction, a third of a clock_gettime here), Unix ns otherwise. The exporter turns ticks
 * into Unix ns when it drains a record (clock.c). */
typedef struct otlp_clock {
  bool tsc;
  /* Anchors (exporter thread): ticks, CLOCK_MONOTONIC and CLOCK_REALTIME read together, at the
   * start and at the latest pass; the rate comes from the monotonic clock, which is never
   * stepped. */
  uint64_t t0, m0;
  uint64_t t1, m1, r1;
  double ns_per_tick;
} otlp_clock;
uint64_t trace__otlp_now_unix_ns(void);
uint64_t trace__otlp_now_mono_ns(void);
bool trace__otlp_tsc_usable(void);
static TRACE__INLINE uint64_t otlp_ticks(bool tsc) {
  if (TRACE__HAVE_TSC && TRACE__LIKELY(tsc))
    return trace__tsc();
  return trace__otlp_now_unix_ns();
}
void trace__otlp_clock_init(otlp_clock *c);
/* A new anchor; returns whether ticks can be converted precisely yet (20 ms of calibration). */
bool trace__otlp_clock_update(otlp_clock *c);
uint64_t trace__otlp_clock_unix_ns(const otlp_clock *c, uint64_t ticks);
uint64_t trace__otlp_clock_ns(const otlp_clock *c, uint64_t ticks); /* a duration */

/* ---------------------------------------------------------------------------------------- */
/* Callsites, copied the first time one is seen (sites.c): records carry only the id, and the
 * exporter never reads metadata a module being unloaded could take away. */

typedef struct otlp_site {
  char *name, *target, *file;
  char **fields;      /* nfields names */
  size_t values_room; /* the bytes a record wants for this callsite's values (layer.c) */
  size_t span_want, span_at_least; /* otlp_record_space of a span without a tracestate */
  uint32_t line;
  uint16_t nfields;
  uint8_t level, kind;
} otlp_site;

/* The space a record of a callsite wants: its fixed part, then every scalar and room for
 * strings (the callsite's values_room); at least the scalars. Records stay under a quarter of
 * the ring (buffer_size bytes) so that a full lap always fits some. */
static inline void otlp_record_space(size_t buffer_size, const otlp_site *site, size_t fixed,
                                     size_t *want, size_t *at_least) {
  size_t quarter = buffer_size / 4;
  *want = TRACE__MIN(REC_ALIGN(fixed + site->values_room), quarter);
  *at_least = *want;
  if (TRACE__UNLIKELY(*want > 2048))
    *at_least = TRACE__MIN(REC_ALIGN(fixed + site->nfields * sizeof(rec_value) + 256), *want);
}

#define SITE_PAGE_BITS 10
#define SITE_PAGES 4096

/* ---------------------------------------------------------------------------------------- */
/* Rings (ring.c): one per thread and exporter, written by its thread, read by the exporter. */

typedef struct ring {
  /* The producer's line. */
  char *buf;
  uint32_t pad; /* a PAD record written before the reserved space, published by commit */
  uint32_t cap;      /* bytes, a power of two (config.c) */
  uint64_t head;     /* bytes written since the start; atomic (release by the producer) */
  uint64_t tail_seen; /* the producer's last look at tail */
  uint64_t wake_check; /* head past which the producer looks whether to wake the exporter */
  uint64_t dropped_spans, dropped_events; /* atomic, relaxed */
  uint32_t thread_id;
  uint8_t name_len;
  char name[32]; /* as last written in a REC_NAME record */
  int os_tid;
  /* The consumer's line. */
  uint64_t tail __attribute__((aligned(64))); /* atomic (release by the exporter) */
  uint8_t orphaned;                           /* atomic: its thread is gone */
  uint64_t flush_mark; /* the head when the exporter's last flush began (exporter only) */
  struct ring *next;                          /* the exporter's list, under rings_lock */
} ring;

/* ---------------------------------------------------------------------------------------- */
/* The resolved configuration: what trace_otlp_options said, copied and checked. */

typedef struct otlp_signal {
  char *url; /* NULL: this signal is not exported */
  int protocol;
  int compression;
  uint32_t timeout_ms;
  char **headers; /* "Name: value" lines for libcurl, NULL-terminated */
} otlp_signal;

typedef struct otlp_attr {
  char *key, *value;
} otlp_attr;

typedef struct otlp_conf {
  otlp_signal traces, logs;
  otlp_attr *resource;
  size_t nresource;
  int sampler;
  double ratio;
  uint64_t ratio_bound; /* traceidratio: sampled when the id's low 64 bits are below it */
  uint32_t schedule_delay_ms, export_timeout_ms, max_queue_size, max_export_batch_size;
  uint32_t retry_initial_ms, retry_max_ms, shutdown_timeout_ms;
  uint32_t max_events_per_span;
  uint32_t max_value_len;
  size_t thread_buffer_size;
  bool track_inactivity;
  bool discard;
  bool spans_out; /* spans are exported (traces.url) or discarded after the ring: the layer
                     writes their records */
  bool tsc; /* records carry TSC ticks (see otlp_clock) */
} otlp_conf;

int trace__otlp_conf_resolve(otlp_conf *c, const trace_otlp_options *o);
void trace__otlp_conf_free(otlp_conf *c);
/* "k=v,k2=v2" (W3C baggage style, values percent-decoded) into *out; false on a malformed list. */
bool trace__otlp_parse_pairs(const char *text, otlp_attr **out, size_t *n);

/* ---------------------------------------------------------------------------------------- */
/* Pending records on the exporter's side (exporter.c). */

typedef struct rec_list {
  char *data;
  size_t len, cap;
  uint32_t *offs;
  size_t head, n, cap_n; /* entries [head, n) are pending */
} rec_list;

/* Events waiting for their span (held.c). */
typedef struct held_event {
  struct held_event *next_in_span, *next_fifo, *prev_fifo;
  uint64_t span_key;
  /* followed by the record */
} held_event;
typedef struct held_slot {
  uint64_t key; /* 0: empty; 1: deleted */
  held_event *first, *last;
  uint32_t count;
} held_slot;
typedef struct held_map {
  held_slot *slots;
  size_t cap, used, live;
  held_event *fifo_head, *fifo_tail;
  size_t events, max_events;
} held_map;

static inline const rec_event *held_record(const held_event *e) {
  return (const rec_event *)(const void *)(e + 1);
}
uint64_t trace__otlp_span_key(const uint8_t span_id[8]);
void trace__otlp_held_init(held_map *m, size_t max_events);
/* Keeps a copy of the event; returns the number of events evicted to make room. */
size_t trace__otlp_held_add(held_map *m, const rec_event *e);
/* Takes the events of span key out of the map (a list in arrival order, next_in_span), or NULL. */
held_event *trace__otlp_held_take(held_map *m, uint64_t key, uint32_t *count);
void trace__otlp_held_free_list(held_event *e);
void trace__otlp_held_destroy(held_map *m);

/* ---------------------------------------------------------------------------------------- */
/* The exporter. */

typedef struct otlp_http otlp_http;

struct trace_otlp {
  uint32_t refs; /* atomic */
  struct trace_otlp *next_live; /* the process's live exporters (ring.c), under its lock */
  uint64_t serial; /* unique per exporter made in this process */
  otlp_conf conf;
  /* Callsites. */
  trace__mutex sites_lock;
  otlp_site **site_pages[SITE_PAGES];
  /* Rings. */
  trace__mutex rings_lock;
  ring *rings;
  /* The exporter thread and how it is woken. */
  trace__mutex lock;
  pthread_cond_t cond; /* with lock, on CLOCK_MONOTONIC */
  pthread_t thread;
  bool running;    /* under lock */
  bool stop;       /* under lock */
  uint64_t stop_deadline_ns;
  uint64_t flush_requested, flush_done; /* under lock: sequence numbers */
  uint8_t wake_pending;                 /* atomic */
  uint8_t shut;                         /* atomic: the layer was destroyed */
  uint32_t fork_gen;                    /* atomic: otlp_fork_gen when the thread was started */
  bool warned_drop;                     /* atomic-ish: one warning on the first drop */
  bool flush_gave_up;                   /* atomic: the layer's last flush timed out */
  /* The exporter thread's own state. */
  rec_list spans, logs;
  size_t settled; /* spans[0, settled) were drained before the last pass: safe to join */
  uint64_t pass_ns; /* monotonic time the current pass began */
  uint64_t discarded_spans, discarded_logs; /* discard mode: this pass's counts */
  uint64_t oldest_span_ns, oldest_log_ns; /* monotonic time the oldest pending came */
  held_map held;
  otlp_http *http;
  trace__buf body;
  otlp_clock clock;
  /* Thread names by thread id, from REC_NAME records: open addressing, at most 4096 (then the
   * oldest name is overwritten: a thread.name may then be missing, never wrong). */
  struct thread_entry {
    uint32_t id;
    uint8_t len;
    char name[32];
  } *threads;
  size_t threads_cap;
  const char *warned_url; /* the last failure reported, to report each kind once */
  long warned_key;
  /* Statistics (atomic, relaxed). */
  trace_otlp_stats stats;
  /* Requests answered with success (atomic, relaxed): the exporter's progress as the collector's
   * sink sees it while the rings wait (sink.c). */
  uint64_t requests_accepted;
};

/* Allocation-free wake-up of the exporter, for producers. */
void trace__otlp_wake(trace_otlp *x);

/* Sites. */
const otlp_site *trace__otlp_site_by_id(const trace_otlp *x, uint32_t id);
const otlp_site *trace__otlp_site_slow(trace_otlp *x, const trace_metadata *meta);
/* The copy of meta's callsite, made the first time (NULL when that cannot be done). Inline: it
 * is two loads on every record. */
static TRACE__INLINE const otlp_site *trace__otlp_site(trace_otlp *x, const trace_metadata *meta) {
  uint32_t id = meta->callsite_id;
  otlp_site **page = (id >> SITE_PAGE_BITS) < SITE_PAGES
                         ? TRACE__LOAD_ACQ(&x->site_pages[id >> SITE_PAGE_BITS])
                         : NULL;
  const otlp_site *s = page ? TRACE__LOAD_ACQ(&page[id & ((1u << SITE_PAGE_BITS) - 1)]) : NULL;
  return TRACE__LIKELY(s != NULL) ? s : trace__otlp_site_slow(x, meta);
}
void trace__otlp_sites_free(trace_otlp *x);

/* Rings. */
ring *trace__otlp_ring_slow(trace_otlp *x);
extern __thread struct otlp_tls_ring *trace__otlp_tls;
typedef struct otlp_tls_ring {
  uint64_t serial;
  ring *r;
  struct otlp_tls_ring *next;
} otlp_tls_ring;
static TRACE__INLINE ring *trace__otlp_ring(trace_otlp *x) {
  otlp_tls_ring *t = trace__otlp_tls;
  if (TRACE__LIKELY(t != 0 && t->serial == x->serial))
    return t->r;
  return trace__otlp_ring_slow(x);
}
/* Reserves want bytes (a multiple of 8) of contiguous space, or as much as can be had down to
 * at_least; returns where to write and sets *got, or NULL when the ring is full (the record is
 * dropped). Commit with trace__otlp_ring_commit. */
char *trace__otlp_ring_reserve_slow(ring *r, size_t want, size_t at_least, size_t *got);
static TRACE__INLINE char *trace__otlp_ring_reserve(ring *r, size_t want, size_t at_least,
                                                   size_t *got) {
  /* The common case inline: want fits before the end of the buffer and in what the exporter
   * was last seen to have freed. */
  size_t off = (size_t)r->head & (r->cap - 1); /* cap: a power of two */
  if (TRACE__LIKELY(r->cap - off >= want && r->cap - (size_t)(r->head - r->tail_seen) >= want + 8)) {
    *got = want;
    return r->buf + off;
  }
  return trace__otlp_ring_reserve_slow(r, want, at_least, got);
}
void trace__otlp_ring_check(trace_otlp *x, ring *r);
/* A record lost to a full ring: counted, and reported on stderr the first time. */
void trace__otlp_drop(trace_otlp *x, bool span);
/* Appends a REC_NAME record for a thread other than the ring's own (the collector's sink writes
 * the spans of many threads into one ring); false when the ring is full. */
bool trace__otlp_ring_put_name(trace_otlp *x, ring *r, uint32_t id, const char *name,
                               size_t len);
/* Publishes the record reserved last (size bytes) to the exporter. */
static TRACE__INLINE void trace__otlp_ring_commit(trace_otlp *x, ring *r, size_t size) {
  uint64_t head = r->head + r->pad + size;
  r->pad = 0;
  TRACE__STORE_REL(&r->head, head);
  if (TRACE__UNLIKELY(head >= r->wake_check))
    trace__otlp_ring_check(x, r);
}
/* Exporter side: calls fn for every complete record of r, stopping early when fn returns
 * false; frees the ring's space. */
typedef bool (*ring_fn)(void *arg, const ring *r, const rec_head *h);
void trace__otlp_ring_drain(ring *r, ring_fn fn, void *arg);
void trace__otlp_rings_free(trace_otlp *x, bool all);
uint64_t trace__otlp_rings_dropped(trace_otlp *x, bool spans);
/* After fork(), in the child: every other thread's ring is abandoned, this thread's emptied. */
void trace__otlp_rings_after_fork(trace_otlp *x);
void trace__otlp_exporters_register(trace_otlp *x);
void trace__otlp_exporters_unregister(trace_otlp *x);
extern uint32_t trace__otlp_fork_gen; /* atomic: bumped in every child of fork() */

/* The layer (layer.c). */
trace_layer *trace__otlp_layer(trace_otlp *x);
/* OTEL_TRACES_SAMPLER's decision for a new span (self: the exporter; parent_flags -1 for a
 * root), for the layer and the collector alike; NULL when the default (parentbased_always_on)
 * decides as the registry and the collector do without a sampler, saving a call per span. */
typedef bool (*otlp_sample_fn)(void *self, const trace_span_attrs *a, const uint8_t trace_id[16],
                               int parent_flags);
otlp_sample_fn trace__otlp_sampler(const trace_otlp *x);

/* The exporter thread (exporter.c). */
int trace__otlp_start(trace_otlp *x);
void trace__otlp_shutdown(trace_otlp *x);
int trace__otlp_flush_wait(trace_otlp *x, uint32_t timeout_ms);
void trace__otlp_restart_after_fork(trace_otlp *x);

/* Encoding (encode_pb.c, encode_json.c, encode.c). A batch of spans: the records and, for each,
 * its events. */
typedef struct span_item {
  const rec_span *rec;
  held_event *events;
  uint32_t nevents, dropped_events;
} span_item;
/* The name of thread id as the exporter knows it ("" if not). */
const char *trace__otlp_thread_name(const trace_otlp *x, uint32_t id, size_t *len);
void trace__otlp_encode_spans_pb(trace__buf *b, const trace_otlp *x, const span_item *items,
                                 size_t n);
void trace__otlp_encode_logs_pb(trace__buf *b, const trace_otlp *x, const rec_event *const *logs,
                                size_t n);
void trace__otlp_encode_spans_json(trace__buf *b, const trace_otlp *x, const span_item *items,
                                   size_t n);
void trace__otlp_encode_logs_json(trace__buf *b, const trace_otlp *x,
                                  const rec_event *const *logs, size_t n);

/* What the two encoders share: a span's name, kind and status after otel.* fields. */
typedef struct span_meta {
  const char *name;
  size_t name_len;
  int kind;        /* OTLP SpanKind */
  int status;      /* OTLP StatusCode */
  const char *status_message;
  size_t status_message_len;
} span_meta;
/* Looks up the span's site and fills out from it and the span's values; returns the site, or NULL
 * (out untouched) when the site is unknown: the span is skipped then. */
const otlp_site *trace__otlp_span_meta(const trace_otlp *x, const rec_span *s, span_meta *out);
/* Calls fn for each of a record's values that is an attribute, in order (the otel.* fields that
 * name a span left out when skip_special): its key, the value, its string bytes. */
typedef void (*otlp_attr_fn)(void *arg, const char *key, const rec_value *v, const char *str);
void trace__otlp_each_attr(const otlp_site *site, const rec_head *h, const char *values,
                           bool skip_special, otlp_attr_fn fn, void *arg);
/* Whether a field is one of the otel.* fields that are not attributes. */
bool trace__otlp_special_field(const char *name);
/* SeverityNumber and text of a level. */
int trace__otlp_severity(int level);
const char *trace__otlp_level_text(int level);
/* Writes s as valid UTF-8: invalid sequences become U+FFFD. */
void trace__otlp_put_utf8(trace__buf *b, const char *s, size_t len);
/* The bytes of s up to the first invalid UTF-8 sequence, for fast paths. */
size_t trace__otlp_utf8_valid_prefix(const char *s, size_t len);

/* HTTP (http.c). */
typedef struct otlp_response {
  long status;         /* HTTP status, 0 when there was no response */
  int transport_error; /* 0, or a libcurl error */
  bool retryable;
  uint64_t retry_after_ms; /* from Retry-After, 0: none */
  char error[160];
} otlp_response;
otlp_http *trace__otlp_http_new(void);
void trace__otlp_http_free(otlp_http *h);
void trace__otlp_http_abandon(otlp_http *h); /* after fork: close its sockets, forget it */
void trace__otlp_http_post(otlp_http *h, const otlp_signal *sig, const char *body, size_t len,
                           uint64_t deadline_ns, const uint8_t *abort_flag, otlp_response *out);

/* Warnings: "trace: otlp: ..." on stderr, escaped. */
void trace__otlp_warn(const char *fmt, ...) TRACE__PRINTF(1, 2);

#define OTLP_STAT_ADD(x, field, n) __atomic_add_fetch(&(x)->stats.field, (n), __ATOMIC_RELAXED)

#endif
