/* Writing records into a ring: what the layer (layer.c) and the collector's sink (sink.c) share,
 * so that both write exactly the same records and the exporter, the encoders and held.c need not
 * know where a record came from. */
#ifndef TRACE_OTLP_WRITE_H
#define TRACE_OTLP_WRITE_H

#include <string.h>

#include "internal.h"

/* After fork() the child's first callback starts its own exporter (cold, once per fork). */
static inline void check_fork(trace_otlp *x) {
  if (TRACE__UNLIKELY(TRACE__LOAD(&x->fork_gen) != TRACE__LOAD(&trace__otlp_fork_gen)))
    trace__otlp_restart_after_fork(x);
}

/* ---------------------------------------------------------------------------------------- */
/* Values into a record. */

typedef struct vwriter {
  char *p, *end;
  uint32_t max_len;
  uint16_t n, dropped;
  uint8_t truncated;
} vwriter;

/* Up to len bytes of s after v (as many as fit and max_len allows), cut marked; returns the
 * position after them. */
static TRACE__INLINE char *put_str(vwriter *w, rec_value *v, char *p, const char *s, size_t len) {
  size_t room = (size_t)(w->end - p) & ~(size_t)7;
  size_t n = TRACE__MIN(len, w->max_len);
  if (n > room)
    n = room;
  if (TRACE__UNLIKELY(n < len)) {
    v->cut = 1;
    w->truncated = 1;
  }
  trace__small_copy(p, s, n); /* a span's strings are short: no call for them */
  v->len = (uint32_t)n;
  return p + REC_ALIGN(n);
}

/* A NULL string: the text null, as put_str would write it (not through put_str: its inlined
 * copy has a path for long strings that GCC then warns reads past the constant). */
static TRACE__NOINLINE char *put_null(vwriter *w, rec_value *v, char *p) {
  v->type = TRACE_VALUE_DISPLAY;
  size_t room = (size_t)(w->end - p) & ~(size_t)7;
  size_t n = TRACE__MIN(TRACE__MIN((size_t)4, (size_t)w->max_len), room);
  if (n < 4) {
    v->cut = 1;
    w->truncated = 1;
  }
  memcpy(p, "null", n);
  v->len = (uint32_t)n;
  return p + REC_ALIGN(n);
}

/* A FMT value (and anything newer): its text, formatted straight into the record. */
static TRACE__NOINLINE char *put_text(vwriter *w, rec_value *r, char *p, const trace_value *v) {
  r->type = TRACE_VALUE_DISPLAY;
  size_t room = (size_t)(w->end - p) & ~(size_t)7;
  size_t cap = TRACE__MIN(room, (size_t)w->max_len + 1);
  size_t full = cap ? trace_value_text(v, p, cap) : 0;
  size_t n = cap ? TRACE__MIN(full, cap - 1) : 0;
  n = n ? strnlen(p, n) : 0;
  r->cut = full > n;
  w->truncated |= r->cut;
  r->len = (uint32_t)n;
  return p + REC_ALIGN(n);
}

/* One value's rec_value, its string bytes still to come. */
static TRACE__INLINE rec_value *value_head(char *p, uint32_t field, uint32_t type, size_t len) {
  rec_value *r = (rec_value *)(void *)p;
  r->field = (uint16_t)field;
  r->type = (uint8_t)type;
  r->cut = 0;
  r->len = (uint32_t)len;
  return r;
}

/* n bytes from s to d without a call (a call would make the loop below save registers for
 * every record): blocks of 16, the last one overlapping the one before. */
static TRACE__INLINE void copy_inline(char *d, const char *s, size_t n) {
  if (n <= 16) {
    trace__small_copy(d, s, n < 16 ? n : 16);
    return;
  }
  for (size_t i = 0; i + 16 < n; i += 16)
    memcpy(d + i, s + i, 16);
  memcpy(d + n - 16, s + n - 16, 16);
}

/* The values of vs from the first on, while no value needs a check for room: the record has
 * each value's full share left (what a record reserves per field, otlp_value_share), and every
 * string so far is short enough for its share. That is almost always every value, and the
 * loop then costs a few instructions a value. It stops at the first value it leaves to
 * put_checked (a null string, a string longer than its share, a value to format) and returns
 * its index. */
static TRACE__INLINE uint32_t put_shared(vwriter *w, const trace_valueset *vs) {
  uint32_t count = vs->count;
  if (vs->index || (size_t)(w->end - w->p) < (size_t)count * otlp_value_share(w->max_len))
    return 0;
  size_t str_max = TRACE__MIN((size_t)w->max_len, (size_t)512);
  char *p = w->p;
  uint32_t n = 0, i = 0;
  const trace_value *v = vs->values;
  for (; i < count; i++, v++) {
    uint32_t type = v->type;
    if (type == TRACE_VALUE_STR || type == TRACE_VALUE_DISPLAY) {
      size_t len = v->as.str.len;
      if (TRACE__UNLIKELY(!v->as.str.ptr || len > str_max))
        break;
      value_head(p, i, type, len)->as.u64 = 0;
      copy_inline(p + sizeof(rec_value), v->as.str.ptr, len);
      p += sizeof(rec_value) + REC_ALIGN(len);
    } else if (type == TRACE_VALUE_I64 || type == TRACE_VALUE_U64 || type == TRACE_VALUE_F64) {
      memcpy(&value_head(p, i, type, 0)->as, &v->as, 8);
      p += sizeof(rec_value);
    } else if (type == TRACE_VALUE_PTR) {
      value_head(p, i, type, 0)->as.u64 = (uint64_t)(uintptr_t)v->as.ptr;
      p += sizeof(rec_value);
    } else if (type == TRACE_VALUE_BOOL) {
      value_head(p, i, type, 0)->as.u64 = v->as.b;
      p += sizeof(rec_value);
    } else if (type == TRACE_VALUE_EMPTY) {
      continue;
    } else {
      break;
    }
    n++;
  }
  w->p = p;
  w->n = (uint16_t)(w->n + n);
  return i;
}

/* The values of vs from index i on, each checked against the room left: a 16-byte rec_value
 * each (EMPTY ones skipped), a string's bytes after its rec_value, cut to what fits. */
static TRACE__NOINLINE void put_checked(vwriter *w, const trace_valueset *vs, uint32_t i) {
  char *p = w->p;
  const trace_value *v = vs->values + i;
  for (; i < vs->count; i++, v++) {
    int field = vs->index ? vs->index[i] : (int)i;
    if (v->type == TRACE_VALUE_EMPTY)
      continue;
    if (TRACE__UNLIKELY(field < 0 || (size_t)(w->end - p) < sizeof(rec_value))) {
      w->dropped++;
      w->truncated = 1;
      continue;
    }
    rec_value *r = value_head(p, (uint32_t)field, v->type, 0);
    p += sizeof *r;
    w->n++;
    switch (v->type) {
    case TRACE_VALUE_I64:
    case TRACE_VALUE_U64:
    case TRACE_VALUE_F64: memcpy(&r->as, &v->as, 8); break;
    case TRACE_VALUE_BOOL: r->as.u64 = v->as.b; break;
    case TRACE_VALUE_PTR: r->as.u64 = (uint64_t)(uintptr_t)v->as.ptr; break;
    case TRACE_VALUE_STR:
    case TRACE_VALUE_DISPLAY:
      r->as.u64 = 0;
      if (TRACE__LIKELY(v->as.str.ptr != NULL))
        p = put_str(w, r, p, v->as.str.ptr, v->as.str.len);
      else
        p = put_null(w, r, p);
      break;
    default:
      r->as.u64 = 0;
      p = put_text(w, r, p, v);
      break;
    }
  }
  w->p = p;
}

/* The values of vs into the record. */
static TRACE__INLINE void put_values(vwriter *w, const trace_valueset *vs) {
  uint32_t i = put_shared(w, vs);
  if (TRACE__UNLIKELY(i < vs->count))
    put_checked(w, vs, i);
}

/* The common part of a record's head, for a callsite, at h. */
static TRACE__INLINE rec_head *record_head(void *at, uint8_t kind, const trace_metadata *meta) {
  rec_head *h = (rec_head *)at;
  h->kind = kind;
  h->level = meta->level;
  h->site = meta->callsite_id;
  h->unix_time = 0;
  h->reserved2_ = 0;
  return h;
}

/* Reserves a record of kind for a callsite (want and at_least bytes: otlp_record_space) and
 * fills the head's common part; NULL (the record is dropped and counted) when the ring is full. */
static TRACE__INLINE rec_head *begin_record(trace_otlp *x, ring *r, uint8_t kind,
                                            const trace_metadata *meta, size_t want,
                                            size_t at_least, size_t *got) {
  char *at = trace__otlp_ring_reserve(r, want, at_least, got);
  if (TRACE__UNLIKELY(!at)) {
    trace__otlp_drop(x, kind == REC_SPAN);
    return NULL;
  }
  return record_head(at, kind, meta);
}

/* An event's trace and span ids and trace flags: those of c, zeros when c is NULL (no span). */
static TRACE__INLINE void event_context(rec_event *re, const trace_context *c) {
  if (c) {
    memcpy(re->h.trace_id, c->trace_id, 16);
    memcpy(re->h.span_id, c->span_id, 8);
    re->trace_flags = c->flags;
  } else {
    memset(re->h.trace_id, 0, 16);
    memset(re->h.span_id, 0, 8);
    re->trace_flags = 0;
  }
}

/* Ends a record whose values w wrote: the head's counts and size, then the commit. */
static TRACE__INLINE void end_record(trace_otlp *x, ring *r, rec_head *h, const vwriter *w) {
  h->nvalues = w->n;
  h->dropped_values = w->dropped;
  h->truncated = w->truncated;
  h->size = (uint32_t)(w->p - (char *)h);
  trace__otlp_ring_commit(x, r, h->size);
}

#endif
