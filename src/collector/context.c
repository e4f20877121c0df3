/* Trace contexts of the standalone subscriber (TRACE_COLLECTOR_CONTEXT): every span's ids,
 * sampled flag and tracestate, kept in its slot for trace_span_context() and written once, as a
 * CONTEXT record after its NEW record, for the reporter and its sink.
 *
 * The rules are the registry's (src/registry/context.c, docs/context.md): a root draws a new
 * trace id, a child takes its parent's trace id and has its parent's span id as its parent in the
 * trace, a span made with TRACE_SPAN_FROM continues the remote trace (or, given a context without
 * ids, starts a new trace while staying under its local parent), and the sampled flag is the
 * sample callback's decision or else the parent's. The collector takes no reference on a parent:
 * a parent closed (on another thread) while its child is being made is no longer there to inherit
 * from, and the child then starts a trace of its own. */
#include "../common/alloc.h"
#include "../common/ids.h"
#include "record.h"

static inline uint32_t gen_of(uint64_t word) { return (uint32_t)(word >> 32); }
static inline uint32_t refs_of(uint64_t word) { return (uint32_t)word; }

/* What a span takes from its parent. */
typedef struct inherited {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t flags;
  uint16_t tracestate_len;
  char tracestate[TRACE_TRACESTATE_MAX];
} inherited;

/* Copies what the live span id's slot holds into *out; false if id is not a live span (unknown,
 * closed, or reused while it was read). Bytes copied one by one with relaxed loads: another
 * thread may be reusing the slot meanwhile, and the second look at the state says whether what
 * was read is the span's. */
static bool read_slot(const col *c, uint64_t id, inherited *out) {
  col_slot *s = col_slot_of(&c->slots, id);
  if (!s)
    return false;
  uint64_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
  if (gen_of(st) != (uint32_t)(id >> 32) || refs_of(st) == 0)
    return false;
  uint64_t ids[3];
  for (int i = 0; i < 3; i++)
    ids[i] = __atomic_load_n(&s->ids[i], __ATOMIC_RELAXED);
  memcpy(out->trace_id, ids, 16);
  memcpy(out->span_id, ids + 2, 8);
  out->flags = __atomic_load_n(&s->flags, __ATOMIC_RELAXED);
  uint16_t n = __atomic_load_n(&s->tracestate_len, __ATOMIC_RELAXED);
  char *ts = __atomic_load_n(&s->tracestate, __ATOMIC_RELAXED);
  if (n > TRACE_TRACESTATE_MAX || !ts)
    n = 0;
  for (uint16_t i = 0; i < n; i++)
    out->tracestate[i] = __atomic_load_n(&ts[i], __ATOMIC_RELAXED);
  out->tracestate_len = n;
  TRACE__ACQUIRE_FENCE();
  return __atomic_load_n(&s->state, __ATOMIC_RELAXED) == st;
}

/* The slot keeps n bytes of tracestate (a buffer made the first time, kept with the slot). Out
 * of memory: the trace goes on without its tracestate. */
static void keep_tracestate(col_slot *s, const char *ts, size_t n) {
  if (n == 0 || n > TRACE_TRACESTATE_MAX) {
    __atomic_store_n(&s->tracestate_len, 0, __ATOMIC_RELAXED);
    return;
  }
  if (!s->tracestate) {
    char *buf = trace__malloc(TRACE_TRACESTATE_MAX);
    if (!buf) {
      __atomic_store_n(&s->tracestate_len, 0, __ATOMIC_RELAXED);
      return;
    }
    __atomic_store_n(&s->tracestate, buf, __ATOMIC_RELAXED);
  }
  for (size_t i = 0; i < n; i++)
    __atomic_store_n(&s->tracestate[i], ts[i], __ATOMIC_RELAXED);
  __atomic_store_n(&s->tracestate_len, (uint16_t)n, __ATOMIC_RELAXED);
}

static uint64_t word_of(const uint8_t *bytes) {
  uint64_t w;
  memcpy(&w, bytes, 8);
  return w;
}

/* The CONTEXT record (record.h). Dropped with the ring full, as any record. */
static TRACE__INLINE void write_record(col_thread *t, uint64_t id, const col_slot *s,
                         const uint8_t parent_span_id[8], bool remote) {
  uint32_t n = s->tracestate_len;
  uint32_t words = 8 + (n + 7) / 8;
  uint64_t *p = col_reserve(t, words * 8);
  if (TRACE__UNLIKELY(!p))
    return;
  COL_PUT(&p[0], col_w0(COL_CONTEXT, words, 0));
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], 0);
  COL_PUT(&p[3], s->ids[0]);
  COL_PUT(&p[4], s->ids[1]);
  COL_PUT(&p[5], s->ids[2]);
  COL_PUT(&p[6], word_of(parent_span_id));
  COL_PUT(&p[7], (uint64_t)s->flags | (uint64_t)remote << 8 | (uint64_t)n << 16);
  if (n)
    col_put_bytes(p + 8, s->tracestate, n);
  col_commit(t, words * 8);
}

/* Stores the span's ids and flags in its slot and writes its CONTEXT record. */
static TRACE__INLINE void finish(col *c, col_thread *t, col_slot *s, uint64_t id,
                                 const trace_span_attrs *a, const uint8_t trace_id[16],
                                 const uint8_t span_id[8], const uint8_t parent_span_id[8],
                                 int parent_flags, bool remote) {
  bool sampled = c->o.sample ? c->o.sample(c->o.sample_arg, a, trace_id, parent_flags)
                             : parent_flags < 0 || (parent_flags & TRACE_CONTEXT_SAMPLED);
  uint8_t flags = parent_flags < 0 ? 0 : (uint8_t)parent_flags;
  __atomic_store_n(&s->ids[0], word_of(trace_id), __ATOMIC_RELAXED);
  __atomic_store_n(&s->ids[1], word_of(trace_id + 8), __ATOMIC_RELAXED);
  __atomic_store_n(&s->ids[2], word_of(span_id), __ATOMIC_RELAXED);
  __atomic_store_n(&s->flags,
                   (uint8_t)((flags & ~TRACE_CONTEXT_SAMPLED) | (sampled ? TRACE_CONTEXT_SAMPLED : 0)),
                   __ATOMIC_RELAXED);
  write_record(t, id, s, parent_span_id, remote);
}

/* A span with a parent, local or remote (or TRACE_NEW_TRACE). */
static TRACE__NOINLINE void new_with_parent(col *c, col_thread *t, col_slot *s, uint64_t id,
                                            uint64_t parent, const trace_span_attrs *a) {
  static const uint8_t zero[8];
  const trace_context *remote = a->remote_parent;
  uint8_t trace_id[16], span_id[8];
  const uint8_t *parent_span_id = zero;
  int parent_flags = -1;
  bool is_remote = false;
  inherited *from = NULL, local;
  if (parent && read_slot(c, parent, &local))
    from = &local;
  if (remote && trace_context_is_valid(remote)) {
    /* The remote parent wins over the local one, which stays the span's place in the local
     * tree only. */
    memcpy(trace_id, remote->trace_id, 16);
    trace__id_span(span_id);
    parent_span_id = remote->span_id;
    parent_flags = remote->flags;
    is_remote = true;
    keep_tracestate(s, remote->tracestate, remote->tracestate_len);
  } else if (remote || !from) {
    /* A new trace: a root (TRACE_NEW_TRACE keeps its local parent's tracestate, as the
     * registry does). */
    trace__id_root(trace_id, span_id);
    keep_tracestate(s, from ? from->tracestate : NULL, from ? from->tracestate_len : 0);
  } else {
    memcpy(trace_id, from->trace_id, 16);
    trace__id_span(span_id);
    parent_span_id = from->span_id;
    parent_flags = from->flags;
    keep_tracestate(s, from->tracestate, from->tracestate_len);
  }
  finish(c, t, s, id, a, trace_id, span_id, parent_span_id, parent_flags, is_remote);
}

void trace__col_context_new(col *c, col_thread *t, col_slot *s, uint64_t id, uint64_t parent,
                            const trace_span_attrs *a) {
  if (parent || a->remote_parent) {
    new_with_parent(c, t, s, id, parent, a);
    return;
  }
  /* A root: new ids, no tracestate. */
  static const uint8_t zero[8];
  uint8_t trace_id[16], span_id[8];
  trace__id_root(trace_id, span_id);
  __atomic_store_n(&s->tracestate_len, 0, __ATOMIC_RELAXED);
  finish(c, t, s, id, a, trace_id, span_id, zero, -1, false);
}

int trace__col_span_context(void *self, uint64_t id, trace_context *out) {
  const col *c = self;
  inherited got;
  if (!read_slot(c, id, &got))
    return TRACE_ECLOSED;
  if (!c->context)
    return TRACE_ENOTSUP;
  memcpy(out->trace_id, got.trace_id, 16);
  memcpy(out->span_id, got.span_id, 8);
  /* Only "sampled" goes out: the other bits are reserved, and a sender sets them to 0. */
  out->flags = got.flags & TRACE_CONTEXT_SAMPLED;
  out->reserved_ = 0;
  memcpy(out->tracestate, got.tracestate, got.tracestate_len);
  out->tracestate[got.tracestate_len] = '\0';
  out->tracestate_len = got.tracestate_len;
  return 0;
}
