/* A span's stored field values: copies of what was given at creation and recorded since, with
 * strings in a per-slot arena. The arena's storage is kept when the slot is reused, so steady
 * state does not allocate; records that outgrow it compact it (only live strings are kept). */
#include <string.h>

#include "../common/alloc.h"
#include "../text/fmt_text.h"
#include "../text/buf.h"
#include "internal.h"

static bool is_text(const trace_value *v) {
  return (v->type == TRACE_VALUE_STR || v->type == TRACE_VALUE_DISPLAY) && v->as.str.ptr;
}

/* Values [0, valid) are in place (the others are being initialised and must not be touched). */
/* Makes sure the arena has room for n more bytes: compacts, then grows. false on out of memory.
 * Only the first `valid` values are live. */
static bool arena_reserve_n(slot *s, size_t n, uint16_t valid) {
  if ((size_t)s->arena_cap - s->arena_len >= n)
    return true;
  size_t live = 0;
  uint16_t count = TRACE__MIN(valid, s->values_cap);
  for (uint16_t i = 0; i < count; i++)
    if (is_text(&s->values[i]))
      live += s->values[i].as.str.len;
  if (n > UINT32_MAX - live)
    return false; /* the arena's offsets are 32-bit; and cap *= 2 below must not wrap */
  size_t cap = s->arena_cap ? s->arena_cap : SLOT_INLINE_ARENA;
  while (cap < live + n)
    cap *= 2;
  if (cap > UINT32_MAX)
    return false;
  char *fresh = trace__malloc(cap);
  if (!fresh)
    return false;
  size_t len = 0;
  for (uint16_t i = 0; i < count; i++) {
    trace_value *v = &s->values[i];
    if (is_text(v)) {
      memcpy(fresh + len, v->as.str.ptr, v->as.str.len);
      v->as.str.ptr = fresh + len;
      len += v->as.str.len;
    }
  }
  /* The new arena is in place before the old one goes: a fork() between the two (its lock then
   * taken over in the child, spin.h) leaves nothing pointing at freed memory. */
  char *old = s->arena;
  s->arena = fresh;
  s->arena_cap = (uint32_t)cap;
  s->arena_len = (uint32_t)len;
  TRACE__RELEASE_FENCE();
  if (old != reg_slot_inline_arena(s))
    trace__free(old);
  return true;
}

static const char *arena_copy(slot *s, const char *p, size_t n, uint16_t valid) {
  if (!arena_reserve_n(s, n, valid))
    return NULL;
  char *d = s->arena + s->arena_len;
  memcpy(d, p, n);
  s->arena_len += (uint32_t)n;
  return d;
}

/* Stores one value, copying what it points to; values [0, valid) are live. */
static void store(slot *s, trace_value *dst, const trace_value *src, uint16_t valid) {
  switch (src->type) {
  case TRACE_VALUE_STR:
  case TRACE_VALUE_DISPLAY:
    *dst = *src;
    if (src->as.str.ptr) {
      dst->type = TRACE_VALUE_EMPTY; /* not visible half-copied to a compaction */
      const char *copy = arena_copy(s, src->as.str.ptr, src->as.str.len, valid);
      if (copy) {
        *dst = *src;
        dst->as.str.ptr = copy;
      } else {
        *dst = trace_value_display("<out of memory>");
      }
    }
    break;
  case TRACE_VALUE_FMT: {
    /* The callback's argument may not outlive this call: keep its text instead. */
    trace__fmt_text t;
    trace__fmt_text_get(&t, src, TRACE__FMT_TEXT_MAX);
    dst->type = TRACE_VALUE_EMPTY; /* not visible half-copied to a compaction */
    const char *copy = arena_copy(s, t.ptr, t.len, valid);
    if (copy) {
      dst->as.str.ptr = copy;
      dst->as.str.len = t.len;
      dst->type = TRACE_VALUE_DISPLAY;
    } else
      *dst = trace_value_display("<out of memory>");
    trace__fmt_text_done(&t);
    break;
  }
  default:
    *dst = *src;
    break;
  }
}

void trace__reg_values_init(slot *s, const trace_valueset *vs) {
  uint16_t count = s->meta->field_count;
  if (count <= SLOT_INLINE_VALUES) {
    s->values = reg_slot_inline_values(s);
    s->values_cap = SLOT_INLINE_VALUES;
  } else if (s->heap_values_cap >= count) {
    s->values = s->heap_values;
    s->values_cap = count;
  } else {
    trace_value *v = trace__malloc(count * sizeof *v);
    if (v) {
      /* Published before the old array goes (fork: see trace__reg_values_release). */
      trace_value *old = s->heap_values;
      s->heap_values = s->values = v;
      s->heap_values_cap = s->values_cap = count;
      TRACE__RELEASE_FENCE();
      trace__free(old);
    } else {
      /* Keep what fits inline rather than lose the span. */
      count = SLOT_INLINE_VALUES;
      s->values = reg_slot_inline_values(s);
      s->values_cap = SLOT_INLINE_VALUES;
    }
  }
  if (!s->arena) {
    s->arena = reg_slot_inline_arena(s);
    s->arena_cap = SLOT_INLINE_ARENA;
  }
  s->arena_len = 0;
  /* A new span's set holds every declared field in order: store them one after the other.
   * Strings go to the arena; growing it keeps only the values stored so far. Each value is
   * copied whole first (what every scalar needs), then a string's pointer moved to its copy:
   * the common loop is a copy and a test per value. */
  uint32_t n = TRACE__MIN((uint32_t)count, vs->count);
  const trace_value *src = vs->values;
  trace_value *dst = s->values;
  for (uint32_t i = 0; i < n; i++, src++, dst++) {
    *dst = *src;
    uint32_t type = src->type;
    if (type == TRACE_VALUE_STR || type == TRACE_VALUE_DISPLAY) {
      const char *p = src->as.str.ptr;
      size_t len = src->as.str.len;
      if (!p)
        continue;
      if (TRACE__LIKELY((size_t)s->arena_cap - s->arena_len >= len) ||
          arena_reserve_n(s, len, (uint16_t)i)) {
        char *d = s->arena + s->arena_len;
        trace__small_copy(d, p, len);
        s->arena_len += (uint32_t)len;
        dst->as.str.ptr = d;
      } else {
        *dst = trace_value_display("<out of memory>");
      }
    } else if (TRACE__UNLIKELY(type == TRACE_VALUE_FMT)) {
      dst->type = TRACE_VALUE_EMPTY;
      store(s, dst, src, (uint16_t)i);
    }
  }
  for (uint32_t i = n; i < count; i++)
    s->values[i].type = TRACE_VALUE_EMPTY;
}

void trace__reg_values_record(slot *s, const trace_valueset *vs) {
  uint16_t count = s->meta->field_count < s->values_cap ? s->meta->field_count : s->values_cap;
  for (uint32_t i = 0; i < vs->count; i++) {
    uint32_t index = vs->index ? vs->index[i] : i;
    if (index < count)
      store(s, &s->values[index], &vs->values[i], count);
  }
}

void trace__reg_values_release(slot *s) {
  /* Unpublished, then freed: a fork() in between leaves the child's trace_shutdown nothing to
   * free a second time (a leak in the child at worst). The fence keeps the stores first. */
  trace_value *values = s->heap_values;
  char *arena = s->arena != reg_slot_inline_arena(s) ? s->arena : NULL;
  uint64_t *follows = s->follows;
  s->heap_values = NULL;
  s->heap_values_cap = 0;
  s->values = NULL;
  s->arena = NULL;
  s->follows = NULL;
  TRACE__RELEASE_FENCE();
  trace__free(values);
  trace__free(arena);
  trace__free(follows);
}
