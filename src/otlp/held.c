/* Events waiting for their span's record on the exporter's side: a hash map from span id to the
 * span's events in arrival order, and one list of all of them by age, so that the oldest go first
 * when the map is full (a span that never closes must not hold memory forever). */
#include <string.h>

#include "../common/alloc.h"
#include "internal.h"

enum { KEY_EMPTY = 0, KEY_DELETED = 1 };

uint64_t trace__otlp_span_key(const uint8_t id[8]) {
  uint64_t k = 0;
  for (int i = 0; i < 8; i++)
    k = k << 8 | id[i];
  return k > KEY_DELETED ? k : k + 2; /* ids 0 and 1 cannot be keys; such ids are not made */
}

static size_t hash(uint64_t k, size_t cap) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (size_t)k & (cap - 1);
}

void trace__otlp_held_init(held_map *m, size_t max_events) {
  memset(m, 0, sizeof *m);
  m->max_events = max_events;
}

static held_slot *find(held_map *m, uint64_t key, bool insert) {
  if (!m->cap)
    return NULL;
  size_t i = hash(key, m->cap);
  held_slot *tomb = NULL;
  for (size_t probes = 0; probes < m->cap; probes++, i = (i + 1) & (m->cap - 1)) {
    held_slot *s = &m->slots[i];
    if (s->key == key)
      return s;
    if (s->key == KEY_DELETED && !tomb)
      tomb = s;
    if (s->key == KEY_EMPTY)
      return insert ? (tomb ? tomb : s) : NULL;
  }
  return insert ? tomb : NULL;
}

static bool grow(held_map *m) {
  size_t cap = m->cap ? m->cap * 2 : 64;
  if (m->live * 2 < m->cap)
    cap = m->cap; /* mostly tombstones: rebuild at the same size */
  held_slot *old = m->slots;
  size_t old_cap = m->cap;
  held_slot *slots = trace__calloc(cap, sizeof *slots);
  if (!slots)
    return false;
  m->slots = slots;
  m->cap = cap;
  m->used = m->live = 0;
  for (size_t i = 0; i < old_cap; i++) {
    if (old[i].key > KEY_DELETED) {
      held_slot *s = find(m, old[i].key, true);
      *s = old[i];
      m->used++;
      m->live++;
    }
  }
  trace__free(old);
  return true;
}

static void unlink_fifo(held_map *m, held_event *e) {
  if (e->prev_fifo)
    e->prev_fifo->next_fifo = e->next_fifo;
  else
    m->fifo_head = e->next_fifo;
  if (e->next_fifo)
    e->next_fifo->prev_fifo = e->prev_fifo;
  else
    m->fifo_tail = e->prev_fifo;
}

/* Removes the oldest event of all (the first of its span's list). */
static void evict_oldest(held_map *m) {
  held_event *e = m->fifo_head;
  if (!e)
    return;
  unlink_fifo(m, e);
  held_slot *s = find(m, e->span_key, false);
  if (s && s->first == e) {
    s->first = e->next_in_span;
    if (--s->count == 0) {
      s->key = KEY_DELETED;
      s->first = s->last = NULL;
      m->live--;
    }
  }
  m->events--;
  trace__free(e);
}

size_t trace__otlp_held_add(held_map *m, const rec_event *ev) {
  size_t evicted = 0;
  while (m->events >= m->max_events && m->fifo_head) {
    evict_oldest(m);
    evicted++;
  }
  if (m->max_events == 0)
    return evicted + 1;
  if ((m->used + 1) * 4 > m->cap * 3 && !grow(m))
    return evicted + 1;
  held_event *e = trace__malloc(sizeof *e + ev->h.size);
  if (!e)
    return evicted + 1;
  memcpy(e + 1, ev, ev->h.size);
  e->span_key = trace__otlp_span_key(ev->h.span_id);
  e->next_in_span = e->next_fifo = NULL;
  e->prev_fifo = m->fifo_tail;
  held_slot *s = find(m, e->span_key, true);
  if (s->key != e->span_key) {
    if (s->key == KEY_EMPTY)
      m->used++;
    s->key = e->span_key;
    s->first = s->last = NULL;
    s->count = 0;
    m->live++;
  }
  if (s->last)
    s->last->next_in_span = e;
  else
    s->first = e;
  s->last = e;
  s->count++;
  if (m->fifo_tail)
    m->fifo_tail->next_fifo = e;
  else
    m->fifo_head = e;
  m->fifo_tail = e;
  m->events++;
  return evicted;
}

held_event *trace__otlp_held_take(held_map *m, uint64_t key, uint32_t *count) {
  *count = 0;
  held_slot *s = find(m, key, false);
  if (!s)
    return NULL;
  held_event *list = s->first;
  *count = s->count;
  for (held_event *e = list; e; e = e->next_in_span)
    unlink_fifo(m, e);
  m->events -= s->count;
  s->key = KEY_DELETED;
  s->first = s->last = NULL;
  s->count = 0;
  m->live--;
  return list;
}

void trace__otlp_held_free_list(held_event *e) {
  while (e) {
    held_event *next = e->next_in_span;
    trace__free(e);
    e = next;
  }
}

void trace__otlp_held_destroy(held_map *m) {
  held_event *e = m->fifo_head;
  while (e) {
    held_event *next = e->next_fifo;
    trace__free(e);
    e = next;
  }
  trace__free(m->slots);
  memset(m, 0, sizeof *m);
}
