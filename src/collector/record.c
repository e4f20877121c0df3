/* Writing records with fields: new spans, events, records and follows-from links. Values are
 * copied raw (numbers as they are, strings up to the collector's bound); nothing is formatted
 * here except FMT values (their callback and argument are only valid during the call) and
 * event messages (their arguments likewise).
 *
 * Most records take the simple path: no FMT value and few enough fields that every string at
 * its bound fits in a page, so each string keeps min(length, bound) bytes and the size is known
 * after one pass over the values. The general path shares a page's room among the strings. */
#include "record.h"

#define ROUND8(n) (((n) + 7u) & ~7u)

/* ---------------------------------------------------------------------------------------- */
/* The general path. */

/* Values whose bytes are copied after the slots (a null string has none). */
static inline bool has_bytes(const trace_value *v) {
  return ((v->type == TRACE_VALUE_STR || v->type == TRACE_VALUE_DISPLAY) && v->as.str.ptr) ||
         v->type == TRACE_VALUE_FMT;
}

/* The bytes a text value would keep with the page to itself: at most the bound (a FMT value's
 * length is known only once formatted: it may take the bound). */
static uint32_t wanted_len(const col *c, const trace_value *v) {
  uint32_t n = c->string_bytes;
  if (v->type != TRACE_VALUE_FMT && v->as.str.len < n)
    n = (uint32_t)v->as.str.len;
  return n;
}

/* The bytes of a text value that are kept: at most the bound, the record's share (cap), and
 * what is left of the record's budget. */
static uint32_t kept_len(const col *c, const trace_value *v, uint32_t cap, uint32_t *budget) {
  uint32_t n = wanted_len(c, v);
  if (n > cap)
    n = cap;
  if (n > *budget)
    n = *budget;
  *budget -= ROUND8(n);
  return n;
}

typedef struct col_plan {
  uint32_t n, words, budget;
  uint32_t cap; /* the most bytes one string keeps */
} col_plan;

/* Bytes the text values of vs take when none keeps more than cap. */
static uint32_t bytes_capped(const col *c, const trace_valueset *vs, uint32_t cap) {
  uint32_t total = 0;
  for (uint32_t i = 0; i < vs->count; i++) {
    if (has_bytes(&vs->values[i])) {
      uint32_t n = wanted_len(c, &vs->values[i]);
      total += ROUND8(n < cap ? n : cap);
    }
  }
  return total;
}

/* The layout of a record with fields: the header's words, the field slots, tail_bytes after the
 * strings, and the budget the strings share so that the record fits in a page. When they do not
 * all fit, the longest are cut to the same length (the largest that fits, in words): a short
 * value after long ones stays whole rather than losing its room to them. */
static void plan_fields(const col *c, const trace_valueset *vs, uint32_t head_words,
                        uint32_t tail_bytes, col_plan *plan) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < vs->count; i++)
    n += vs->values[i].type != TRACE_VALUE_EMPTY;
  uint32_t fixed = 8 * head_words + 16 * n + ROUND8(tail_bytes);
  uint32_t budget = fixed >= COL_PAGE ? 0 : (COL_PAGE - fixed) & ~7u;
  uint32_t cap = c->string_bytes;
  if (bytes_capped(c, vs, cap) > budget) {
    uint32_t lo = 0, hi = (cap + 7) / 8; /* in words: lo fits, hi does not */
    while (hi - lo > 1) {
      uint32_t mid = (lo + hi) / 2;
      if (bytes_capped(c, vs, 8 * mid) <= budget)
        lo = mid;
      else
        hi = mid;
    }
    cap = 8 * lo;
  }
  plan->n = n;
  plan->budget = budget;
  plan->cap = cap;
  for (uint32_t i = 0; i < vs->count; i++)
    if (has_bytes(&vs->values[i]))
      (void)kept_len(c, &vs->values[i], cap, &budget);
  plan->words = (fixed + (plan->budget - budget)) / 8;
}

static uint32_t put_fields(const col *c, uint64_t *p, uint32_t at, const trace_valueset *vs,
                           const col_plan *plan) {
  uint32_t strings_at = at + 2 * plan->n;
  uint32_t budget = plan->budget;
  char fmt_text[COL_STRING_MAX + 1];
  for (uint32_t i = 0; i < vs->count; i++) {
    const trace_value *v = &vs->values[i];
    if (v->type == TRACE_VALUE_EMPTY)
      continue;
    uint32_t index = vs->index ? vs->index[i] : i;
    uint64_t value = 0;
    uint32_t len = 0, flags = 0, words = 0;
    switch (v->type) {
    case TRACE_VALUE_BOOL: value = v->as.b; break;
    case TRACE_VALUE_STR:
    case TRACE_VALUE_DISPLAY:
      value = (uint64_t)(uintptr_t)v->as.str.ptr; /* 0: a null string (record.h) */
      if (!value)
        break;
      len = kept_len(c, v, plan->cap, &budget);
      flags = len < v->as.str.len ? COL_FIELD_CUT : 0;
      col_put_bytes(p + strings_at, v->as.str.ptr, len);
      words = ROUND8(len) / 8;
      break;
    case TRACE_VALUE_FMT: {
      uint32_t room = kept_len(c, v, plan->cap, &budget);
      size_t full = 0;
      fmt_text[0] = '\0';
      if (v->as.fmt.fn)
        full = v->as.fmt.fn(fmt_text, (size_t)room + 1, v->as.fmt.arg);
      /* A callback that breaks the contract is contained: the text ends at its first NUL or
       * the length it claims, whichever comes first, and a failure shows as such. */
      if (full == (size_t)-1) {
        memcpy(fmt_text, "<format error>", 15);
        full = 14;
      }
      len = (uint32_t)strnlen(fmt_text, full < room ? full : room);
      value = full;
      flags = full > len ? COL_FIELD_CUT : 0;
      col_put_bytes(p + strings_at, fmt_text, len);
      words = ROUND8(len) / 8; /* the rest of the room counted stays unused at the end */
      break;
    }
    default: value = v->as.u64; break; /* the union's 8 bytes: i64, u64, f64, pointer */
    }
    COL_PUT(&p[at], col_slot_word(v->type, flags, index, len));
    COL_PUT(&p[at + 1], value);
    strings_at += words;
    at += 2;
  }
  return strings_at;
}

/* ---------------------------------------------------------------------------------------- */

/* The words of a new span's record as the fast path writes it (a slot for every value, strings
 * whole), or 0 when it cannot (values not in field order, a FMT value, a string over the bound,
 * a null string with a length). */
static uint32_t simple_words(const col_thread *t, const trace_valueset *vs) {
  if (vs->index)
    return 0;
  uint32_t words = 5 + 2 * vs->count;
  for (uint32_t i = 0; i < vs->count; i++) {
    const trace_value *v = &vs->values[i];
    if (v->type == TRACE_VALUE_FMT)
      return 0;
    if (v->type == TRACE_VALUE_STR || v->type == TRACE_VALUE_DISPLAY) {
      /* Over the bound, or a null string with a length (record.h): the general path. */
      if (v->as.str.len > t->string_bytes || (!v->as.str.ptr && v->as.str.len))
        return 0;
      words += (uint32_t)(v->as.str.len + 7) / 8;
    }
  }
  return words;
}

uint64_t trace__col_record_new_slow(col_thread *t, uint64_t id, uint64_t parent,
                                    const trace_span_attrs *attrs, uint64_t ts, uint64_t flags) {
  const col *c = t->c;
  /* Most records come here because the rest of the page was too short: the next page takes
   * them the fast way. */
  uint32_t words = simple_words(t, &attrs->fields);
  if (words && words * 8 <= COL_PAGE) {
    uint64_t *p = col_reserve(t, words * 8);
    if (TRACE__UNLIKELY(!p))
      return id; /* dropped, and counted */
    COL_PUT(&p[1], id);
    COL_PUT(&p[2], ts);
    COL_PUT(&p[3], (uint64_t)(uintptr_t)attrs->meta);
    COL_PUT(&p[4], parent);
    if (col_put_new_values(t, p, words, attrs, flags))
      return id;
    /* (not reached: the room is the record's size) */
  }
  col_plan plan;
  plan_fields(c, &attrs->fields, 5, 0, &plan);
  uint64_t *p = col_reserve(t, plan.words * 8);
  if (TRACE__UNLIKELY(!p))
    return id; /* dropped, and counted */
  COL_PUT(&p[0], col_w0(COL_NEW, plan.words, plan.n) | flags);
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  COL_PUT(&p[3], (uint64_t)(uintptr_t)attrs->meta);
  COL_PUT(&p[4], parent);
  put_fields(c, p, 5, &attrs->fields, &plan);
  col_commit(t, plan.words * 8);
  return id;
}

uint64_t trace__col_record_new_again(col_thread *t, const uint64_t *head,
                                     const trace_span_attrs *attrs, uint64_t flags) {
  /* Read before the general path reserves: it may mark this place as the page's end. */
  uint64_t id = COL_GET(&head[1]), ts = COL_GET(&head[2]), parent = COL_GET(&head[4]);
  return trace__col_record_new_slow(t, id, parent, attrs, ts, flags);
}

void trace__col_record_event(col_thread *t, uint64_t parent, const trace_event *ev) {
  const col *c = t->c;
  uint64_t ts = col_now(t);
  char msg[COL_STRING_MAX + 1];
  uint32_t msg_len = 0, msg_cut = 0;
  if (ev->meta->message) {
    size_t full = trace_event_message(ev, msg, (size_t)c->string_bytes + 1);
    msg_len = (uint32_t)(full < c->string_bytes ? full : c->string_bytes);
    msg_cut = full > msg_len;
  }
  col_plan plan;
  plan_fields(c, &ev->fields, 5, msg_len, &plan);
  uint64_t *p = col_reserve(t, plan.words * 8);
  if (TRACE__UNLIKELY(!p))
    return;
  COL_PUT(&p[0], col_w0(COL_EVENT, plan.words, plan.n));
  COL_PUT(&p[1], parent);
  COL_PUT(&p[2], ts);
  COL_PUT(&p[3], (uint64_t)(uintptr_t)ev->meta);
  COL_PUT(&p[4], (uint64_t)msg_len | (uint64_t)msg_cut << 32);
  uint32_t end = put_fields(c, p, 5, &ev->fields, &plan);
  /* The message goes last: the plan counted it before sharing the room among the strings. */
  col_put_bytes(p + end, msg, msg_len);
  col_commit(t, plan.words * 8);
}

void trace__col_record_values(col_thread *t, uint64_t id, const trace_metadata *meta,
                              const trace_valueset *vs) {
  const col *c = t->c;
  uint64_t ts = col_now(t);
  col_plan plan;
  plan_fields(c, vs, 4, 0, &plan);
  uint64_t *p = col_reserve(t, plan.words * 8);
  if (TRACE__UNLIKELY(!p))
    return;
  COL_PUT(&p[0], col_w0(COL_RECORD, plan.words, plan.n));
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  COL_PUT(&p[3], (uint64_t)(uintptr_t)meta);
  put_fields(c, p, 4, vs, &plan);
  col_commit(t, plan.words * 8);
}

void trace__col_record_follows(col_thread *t, uint64_t id, uint64_t follows) {
  uint64_t ts = col_now(t);
  uint64_t *p = col_reserve(t, 32);
  if (TRACE__UNLIKELY(!p))
    return;
  COL_PUT(&p[0], col_w0(COL_FOLLOWS, 4, 0));
  COL_PUT(&p[1], id);
  COL_PUT(&p[2], ts);
  COL_PUT(&p[3], follows);
  col_commit(t, 32);
}
