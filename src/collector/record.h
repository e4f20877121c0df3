/* Records: their layout, and the inline parts of writing them (the span lifecycle's records are
 * on the fastest path libtrace has).
 *
 * A record is a whole number of 8-byte words in its thread's ring. Word 0 is
 *
 *   kind (8 bits) | size in words (16 bits) | field count (8 bits) | flags (32 bits)
 *
 * and the others depend on the kind (ts: clock ticks, 0 when not read, see "Timestamps" in
 * docs/timeline.md; meta: the callsite's metadata):
 *
 *   ENTER    id, ts, meta
 *   EXIT     id, ts; flag COL_EXIT_CLOSED: its last reference was dropped at ts as well (the
 *            end of a TRACE_SCOPE: one record for EXIT and CLOSE)
 *   CLOSE    id, ts
 *   NEW      id, ts, meta, parent id, fields; flag COL_NEW_ENTERED: the span was entered at ts
 *            as well (TRACE_SCOPE: one record where NEW and ENTER would say the same)
 *   EVENT    parent id (0: none), ts, meta, message length | cut << 32, fields, message
 *   RECORD   id, ts, meta, fields
 *   FOLLOWS  id, ts, the id it follows from
 *   CONTEXT  id, 0, trace id (2 words), span id, parent span id, flags | remote << 8 |
 *            tracestate length << 16, tracestate bytes: a span's trace context
 *            (TRACE_COLLECTOR_CONTEXT), right after its NEW record in the same ring; ids are
 *            their bytes in order (trace_context's), remote says the parent is another process's
 *
 * Fields are 16-byte slots (type (8 bits) | flags (8) | field index (16) | kept length (32),
 * and the value: the number, a BOOL's in its low bit (the other bytes are the union's), for a
 * STR or DISPLAY the caller's pointer (0: a null string), for a FMT value the full length of
 * its text) followed by the strings' kept bytes, each padded to a word (col_slot_words). Records never straddle a 4 KiB page of the ring (the rest of a page a record did not fit
 * in starts with a PAD word), so a reader can start at any page boundary: a flight dump does,
 * in a ring that is being overwritten while it is read. */
#ifndef TRACE_COLLECTOR_RECORD_H
#define TRACE_COLLECTOR_RECORD_H

#include "internal.h"

enum col_kind {
  COL_PAD = 0, /* the rest of the page is empty */
  COL_NEW = 1,
  COL_ENTER = 2,
  COL_EXIT = 3,
  COL_CLOSE = 4,
  COL_EVENT = 5,
  COL_RECORD = 6,
  COL_FOLLOWS = 7,
  COL_CONTEXT = 8
};

/* Flags of word 0 (its upper half), by kind; COL_IN_ORDER: a record with fields has a slot for
 * each of its callsite's fields in order, whose index (0 in the slot) is its position. */
#define COL_NEW_ENTERED ((uint64_t)1 << 32)
#define COL_EXIT_CLOSED ((uint64_t)1 << 32)
#define COL_IN_ORDER ((uint64_t)1 << 33)
static inline uint32_t col_w0_flags(uint64_t w) { return (uint32_t)(w >> 32); }

/* Field slot flags: CUT, the string was cut at the bound; NULL is set by readers (a string's
 * value 0), never written. */
enum { COL_FIELD_CUT = 1, COL_FIELD_NULL = 2 };

static TRACE__INLINE uint64_t col_w0(unsigned kind, unsigned words, unsigned nfields) {
  return (uint64_t)kind | (uint64_t)words << 8 | (uint64_t)nfields << 24;
}
static inline unsigned col_w0_kind(uint64_t w) { return (unsigned)(w & 0xff); }
static inline unsigned col_w0_words(uint64_t w) { return (unsigned)(w >> 8 & 0xffff); }
static inline unsigned col_w0_nfields(uint64_t w) { return (unsigned)(w >> 24 & 0xff); }

static TRACE__INLINE uint64_t col_slot_word(uint32_t type, uint32_t flags, uint32_t index,
                                            uint32_t len) {
  return (uint64_t)type | (uint64_t)flags << 8 | (uint64_t)index << 16 | (uint64_t)len << 32;
}
static inline uint32_t col_slot_len(uint64_t w) { return (uint32_t)(w >> 32); }
/* The words a field's kept bytes take after the slots. */
static inline uint32_t col_slot_words(uint64_t w) { return (col_slot_len(w) + 7) / 8; }

/* The first n < 8 bytes of s as a word, the rest zero, without reading past s + n. */
static TRACE__INLINE uint64_t col_tail_word(const char *s, uint32_t n) {
  if (n >= 4) {
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    return (uint64_t)a | (uint64_t)b << (8 * (n - 4));
  }
  uint64_t w = 0;
  if (n > 0)
    w = (unsigned char)s[0];
  if (n > 1)
    w |= (uint64_t)(unsigned char)s[1] << 8;
  if (n > 2)
    w |= (uint64_t)(unsigned char)s[2] << 16;
  return w;
}

/* Copies n bytes into the ring as whole words (the last one zero-padded). */
static TRACE__INLINE void col_put_bytes(uint64_t *p, const char *s, uint32_t n) {
  for (; n >= 8; n -= 8, s += 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    COL_PUT(p++, w);
  }
  if (n)
    COL_PUT(p, col_tail_word(s, n));
}

/* A record of three or four words: ENTER (with meta, which may be NULL: a layer's span the
 * registry no longer knows), EXIT and CLOSE. The size goes by the kind, never by meta: a
 * three-word ENTER is not a record to the reader, which would skip the rest of its page. */
static TRACE__INLINE void col_record_small(col_thread *t, unsigned kind, uint64_t id,
                                           const trace_metadata *meta, uint64_t ts) {
  uint32_t words = kind == COL_ENTER ? 4 : 3;
  uint64_t *p = col_reserve(t, words * 8);
  if (TRACE__UNLIKELY(!p))
    return;
  COL_PUT(&p[0], col_w0(kind, words, 0));
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  if (kind == COL_ENTER)
    COL_PUT(&p[3], (uint64_t)(uintptr_t)meta);
  col_commit(t, words * 8);
}

/* flags: of word 0 (COL_NEW_ENTERED or 0). Returns id (fast paths end with a tail call). */
uint64_t trace__col_record_new_slow(col_thread *t, uint64_t id, uint64_t parent,
                                    const trace_span_attrs *attrs, uint64_t ts, uint64_t flags);
void trace__col_record_event(col_thread *t, uint64_t parent, const trace_event *ev);
void trace__col_record_values(col_thread *t, uint64_t id, const trace_metadata *meta,
                              const trace_valueset *vs);
void trace__col_record_follows(col_thread *t, uint64_t id, uint64_t follows);

/* A string's bytes at bytes (room for them checked): one word for the usual short string,
 * without the general loop's setup. */
static TRACE__INLINE void col_put_string(uint64_t *bytes, const char *s, uint32_t n) {
  if (TRACE__LIKELY(n - 4 <= 4)) { /* 4 to 8 bytes: two loads that may overlap */
    uint32_t a, b;
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    COL_PUT(bytes, (uint64_t)a | (uint64_t)b << (8 * (n - 4)));
  } else if (n < 4) {
    if (n)
      COL_PUT(bytes, col_tail_word(s, n));
  } else {
    col_put_bytes(bytes, s, n);
  }
}

/* The general path of a new span's record when the fast one gave up after writing its header
 * at head (a string too long for the rest of the page, an FMT value): the header's id, time
 * and parent are read back from there, so that the fast path keeps none of them alive. Returns
 * the id. */
uint64_t trace__col_record_new_again(col_thread *t, const uint64_t *head,
                                     const trace_span_attrs *attrs, uint64_t flags);

/* A new span's values after its header at p (room: words left in the page, at least the
 * header's and the slots'): a slot for every value (EMPTY ones too, which readers skip), the
 * strings' bytes after the slots. Publishes the record and returns true; false, with nothing
 * published, when a string is longer than the bound or the page's rest, a value is FMT, or a null
 * string carries a length. */
static TRACE__INLINE bool col_put_new_values(col_thread *t, uint64_t *p, size_t room,
                                             const trace_span_attrs *attrs, uint64_t flags) {
  const trace_value *v = attrs->fields.values, *v_end = v + attrs->fields.count;
  uint64_t *slot = p + 5, *bytes = slot + 2 * (size_t)attrs->fields.count;
  /* Bytes the strings may take: the page's rest after the slots. */
  size_t left = 8 * room - 8 * (size_t)(bytes - p);
  for (; v != v_end; v++, slot += 2) {
    uint32_t type = v->type;
    uint64_t value = v->as.u64, word = type; /* the index is the position (COL_IN_ORDER) */
    if (type == TRACE_VALUE_STR || type == TRACE_VALUE_DISPLAY) {
      size_t len = v->as.str.len; /* 0 for a null string */
      size_t padded = (len + 7) & ~(size_t)7;
      if (TRACE__UNLIKELY(len > t->string_bytes || padded > left))
        return false;
      /* A null string with a length: the constructors never make one, but the struct is public
       * and one made by hand may carry a length. The general path keeps it as null without
       * reading through its pointer. */
      if (TRACE__UNLIKELY(!value) && len)
        return false;
      left -= padded;
      col_put_string(bytes, (const char *)(uintptr_t)value, (uint32_t)len);
      bytes += padded / 8;
      word |= (uint64_t)len << 32;
    } else if (TRACE__UNLIKELY(type == TRACE_VALUE_FMT)) {
      return false;
    }
    COL_PUT(&slot[0], word);
    COL_PUT(&slot[1], value);
  }
  uint32_t words = (uint32_t)(bytes - p);
  COL_PUT(&p[0], col_w0(COL_NEW, words, (uint32_t)attrs->fields.count) | COL_IN_ORDER | flags);
  __atomic_store_n(&t->pos, t->pos + words * 8, __ATOMIC_RELEASE);
  return true;
}

/* A new span's record, written straight into the rest of the page when it fits there (strings
 * at most at the bound, no FMT value), else by the general path. The header's words go first:
 * the loop over the values then keeps little alive (see trace__col_record_new_again). flags:
 * COL_NEW_ENTERED or 0, a constant where inlined. Returns id. */
static TRACE__INLINE uint64_t col_record_new(col_thread *t, uint64_t id, uint64_t parent,
                                             const trace_span_attrs *attrs, uint64_t ts,
                                             uint64_t flags) {
  uint64_t pos = t->pos;
  size_t room = (size_t)(t->limit - pos) / 8; /* words left in the page */
  if (TRACE__UNLIKELY(room < 5 + 2 * (size_t)attrs->fields.count || attrs->fields.index)) {
    return trace__col_record_new_slow(t, id, parent, attrs, ts, flags);
  }
  uint64_t *p = (uint64_t *)(void *)(t->data + (pos & t->mask));
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  COL_PUT(&p[3], (uint64_t)(uintptr_t)attrs->meta);
  COL_PUT(&p[4], parent);
  if (TRACE__UNLIKELY(!col_put_new_values(t, p, room, attrs, flags)))
    return trace__col_record_new_again(t, p, attrs, flags);
  return COL_GET(&p[1]); /* id, which the loop then need not keep (only this thread writes p) */
}

#endif
