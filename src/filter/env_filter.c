/* The env-filter as a trace_filter: per-callsite decisions cached in a lock-free table, dynamic
 * directives judged at a span's enter against its stored values (remembered per thread until a
 * record or a reload), a per-thread stack of the levels the entered spans enable, and reload by
 * publishing a new directive set.
 *
 * Readers (register_callsite, enabled, event_enabled, enter, exit) load the set with one acquire
 * load and never lock or wait. A reload builds the new set completely, swaps the pointer, waits
 * until no thread is inside libtrace (trace__synchronize) and frees the old set; from inside a
 * callback that wait is impossible, so the old set goes on a retire list freed by a later reload
 * or with the filter. Cached decisions carry the generation of the set they were computed from,
 * so a reload is effective at the next hit of a callsite even before the interest rebuild. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/guard.h"
#include "../common/alloc.h"
#include "../common/compiler.h"
#include "../common/idtable.h"
#include "../common/mutex.h"
#include "../common/thread.h"
#include "directive.h"

/* Per-callsite decisions: one 64-bit word per callsite id, (generation << 32) | bits. */
enum {
  DECIDED = 1,  /* the word holds a decision (a generation may wrap to 0) */
  STATIC_ON = 2, /* the most specific static directive enables the callsite */
  DYN_SPAN = 4   /* a span callsite a dynamic directive may match: always enabled */
};

struct trace_env_filter {
  uint32_t refs;              /* atomic */
  trace__directive_set *set;  /* atomic: the published set */
  uint8_t no_dynamic;         /* atomic: the published set has no span directives */
  trace__mutex lock;          /* reloads, the retire list, spec */
  uint32_t generation;        /* under lock */
  trace__directive_set *retired; /* under lock */
  trace__idtable cache;        /* of uint64_t words, freed with the filter */
};

/* ---------------------------------------------------------------------------------------- */
/* Decisions. */

static unsigned compute(const trace__directive_set *s, const trace_metadata *meta) {
  unsigned bits = DECIDED;
  const trace__directive *d = trace__static_decider(s, meta);
  if (d && (int)meta->level <= d->level)
    bits |= STATIC_ON;
  if (meta->kind == TRACE_KIND_SPAN) {
    for (size_t i = 0; i < s->ndynamic; i++) {
      if (trace__directive_covers(s->dynamics[i], meta)) {
        bits |= DYN_SPAN;
        break;
      }
    }
  }
  return bits;
}

static unsigned decide(trace_env_filter *f, const trace__directive_set *s,
                       const trace_metadata *meta) {
  uint64_t *w = trace__idtable_get(&f->cache, meta->callsite_id, sizeof *w);
  if (TRACE__LIKELY(w != NULL)) {
    uint64_t v = TRACE__LOAD(w);
    if (TRACE__LIKELY((uint32_t)(v >> 32) == s->generation && (v & DECIDED)))
      return (unsigned)v;
  }
  unsigned bits = compute(s, meta);
  if (w)
    TRACE__STORE(w, ((uint64_t)s->generation << 32) | bits);
  return bits;
}

/* ---------------------------------------------------------------------------------------- */
/* Per-thread scope: the levels of the spans entered on this thread (through this filter). */

typedef struct scope_entry {
  uint64_t id;
  int level;
} scope_entry;

/* What a span's dynamic directives gave it, remembered by the thread that entered it: event
 * loops and pools enter the same spans again and again, and matching field values means reading
 * them under the span's lock and running regular expressions over them. Valid
 * while the directive set (generation) and the filter's record count are those it was made with. */
typedef struct span_level {
  uint64_t id; /* 0: empty */
  uint32_t generation;
  uint32_t records;
  int level;
} span_level;

#define SPAN_LEVELS 32 /* direct-mapped by id */

typedef struct scope {
  uint32_t depth, cap;
  int max; /* the most verbose level on the stack */
  scope_entry *entries;
  scope_entry inline_entries[16];
  span_level levels[SPAN_LEVELS];
} scope;

static void scope_free(void *p) {
  scope *sc = p;
  if (sc->entries != sc->inline_entries)
    trace__free(sc->entries);
  trace__free_lines(sc);
}

/* One trace_filter made by trace_env_filter_as_filter: it is used by one registry or layer, so
 * its per-thread stacks hold the span ids of that registry only. */
typedef struct binding {
  trace_env_filter *f;
  int key;          /* trace__local key of the scope stacks */
  uint32_t records; /* atomic: records of spans seen, the per-thread span levels' validity */
} binding;

static void scope_init(void *p, void *arg) {
  scope *sc = p;
  (void)arg;
  sc->entries = sc->inline_entries;
  sc->cap = TRACE__ARRAY_LEN(sc->inline_entries);
}

static scope *scope_get(const binding *b) {
  return trace__local_lazy(b->key, sizeof(scope), scope_init, NULL);
}

static bool scope_push(scope *sc, uint64_t id, int level) {
  if (TRACE__UNLIKELY(sc->depth == sc->cap)) {
    uint32_t cap = sc->cap * 2;
    scope_entry *p = trace__malloc(cap * sizeof *p);
    if (!p)
      return false;
    memcpy(p, sc->entries, sc->depth * sizeof *p);
    scope_entry *old = sc->entries != sc->inline_entries ? sc->entries : NULL;
    sc->entries = p; /* published, then the old one freed (fork, signals) */
    sc->cap = cap;
    TRACE__RELEASE_FENCE();
    trace__free(old);
  }
  sc->entries[sc->depth++] = (scope_entry){id, level};
  if (level > sc->max)
    sc->max = level;
  return true;
}

/* Removes the innermost entry of id, as the registry removes the innermost entry of an exited
 * span (exits need not be in order). */
static void scope_pop(scope *sc, uint64_t id) {
  uint32_t at = sc->depth;
  while (at > 0 && sc->entries[at - 1].id != id)
    at--;
  if (at == 0)
    return;
  int level = sc->entries[at - 1].level;
  memmove(&sc->entries[at - 1], &sc->entries[at], (sc->depth - at) * sizeof *sc->entries);
  sc->depth--;
  if (level == sc->max) {
    sc->max = TRACE_LEVEL_OFF;
    for (uint32_t i = 0; i < sc->depth; i++)
      if (sc->entries[i].level > sc->max)
        sc->max = sc->entries[i].level;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The filter vtable. */

static trace_interest ef_register(void *self, const trace_metadata *meta) {
  binding *b = self;
  const trace__directive_set *s = TRACE__LOAD_ACQ(&b->f->set);
  unsigned bits = decide(b->f, s, meta);
  if (bits & (STATIC_ON | DYN_SPAN))
    return TRACE_INTEREST_ALWAYS;
  /* Only a dynamic directive can enable it now, and only while a matching span is entered. */
  return (int)meta->level <= s->dyn_max ? TRACE_INTEREST_SOMETIMES : TRACE_INTEREST_NEVER;
}

static bool judge(const binding *b, const trace_metadata *meta) {
  const trace__directive_set *s = TRACE__LOAD_ACQ(&b->f->set);
  unsigned bits = decide(b->f, s, meta);
  if (bits & (STATIC_ON | DYN_SPAN))
    return true;
  if ((int)meta->level > s->dyn_max)
    return false;
  const scope *sc = trace__local_get(b->key);
  return sc && (int)meta->level <= sc->max;
}

static bool ef_enabled(void *self, const trace_metadata *meta, const trace_ctx *ctx) {
  (void)ctx;
  return judge(self, meta);
}

static int ef_hint(void *self) {
  binding *b = self;
  const trace__directive_set *s = TRACE__LOAD_ACQ(&b->f->set);
  return s->hint;
}

static void ef_enter(void *self, uint64_t id, const trace_ctx *ctx) {
  binding *b = self;
  /* Without dynamic directives there is nothing to track (an exit then finds no entry and does
   * nothing). With them, every enter pushes, even at OFF, so that exits pop symmetrically
   * whatever the sets said. */
  const trace__directive_set *s = TRACE__LOAD_ACQ(&b->f->set);
  if (TRACE__LIKELY(!s->ndynamic))
    return;
  scope *sc = scope_get(b);
  if (TRACE__UNLIKELY(!sc))
    return;
  int level = TRACE_LEVEL_OFF;
  const trace_span_ref *span = trace_ctx_span(ctx, id);
  const trace_metadata *meta = trace_span_ref_meta(span);
  if (meta && (decide(b->f, s, meta) & DYN_SPAN)) {
    /* The count is read before the values: a record racing with this enter leaves an entry
     * that the record's count already invalidates. */
    uint32_t records = TRACE__LOAD_ACQ(&b->records);
    span_level *known = &sc->levels[(id ^ (id >> 32)) % SPAN_LEVELS];
    if (known->id == id && known->generation == s->generation && known->records == records) {
      level = known->level;
    } else {
      level = trace__span_level(s, span, meta);
      *known = (span_level){id, s->generation, records, level};
    }
  }
  scope_push(sc, id, level);
}

/* A record may change what a span's field values match: forget every remembered level. */
static void ef_record(void *self, uint64_t id, const trace_valueset *values, const trace_ctx *ctx) {
  (void)id, (void)values, (void)ctx;
  binding *b = self;
  const trace__directive_set *s = TRACE__LOAD_ACQ(&b->f->set);
  if (s->ndynamic)
    __atomic_add_fetch(&b->records, 1, __ATOMIC_RELEASE);
}

static void ef_exit(void *self, uint64_t id, const trace_ctx *ctx) {
  binding *b = self;
  (void)ctx;
  scope *sc = trace__local_get(b->key);
  if (sc && sc->depth)
    scope_pop(sc, id);
}

static void ef_destroy(void *self) {
  binding *b = self;
  trace__local_key_delete(b->key);
  trace_env_filter_release(b->f);
  trace__free_lines(b);
}

trace_filter *trace_env_filter_as_filter(trace_env_filter *f) {
  static const trace_filter_vtable vt = {
      .struct_size = sizeof(trace_filter_vtable),
      .register_callsite = ef_register,
      .enabled = ef_enabled,
      .max_level_hint = ef_hint,
      .on_record = ef_record,
      .on_enter = ef_enter,
      .on_exit = ef_exit,
      .destroy = ef_destroy,
  };
  if (!f)
    return NULL;
  TRACE__KEEP_ERRNO();
  trace_filter *filter = NULL;
  binding *b = trace__alloc_lines(sizeof *b);
  if (b) {
    b->key = trace__local_key_create_made(scope_free, sizeof(scope), scope_init, NULL);
    if (b->key < 0) {
      trace__free_lines(b);
      b = NULL;
    }
  }
  if (b) {
    b->f = trace_env_filter_ref(f);
    filter = trace_filter_new(&vt, b); /* on failure it ran ef_destroy */
    /* Without span directives enter/exit track nothing: the registry may skip the calls. */
    trace_filter_set_scope_idle(filter, &f->no_dynamic);
  }
  return filter;
}

/* ---------------------------------------------------------------------------------------- */
/* Construction, reload, lifetime. */

static trace_env_filter *make(trace__directive_set *s) {
  trace_env_filter *f = trace__alloc_lines(sizeof *f);
  if (!f) {
    trace__directive_set_free(s);
    return NULL;
  }
  f->refs = 1;
  f->generation = 1;
  s->generation = 1;
  f->set = s;
  f->no_dynamic = s->ndynamic == 0;
  trace__mutex_init(&f->lock, TRACE__MUTEX_INNER);
  return f;
}

int trace_env_filter_parse(const char *spec, trace_env_filter **out, trace_filter_error *err) {
  if (out)
    *out = NULL;
  if (!spec || !out)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  trace__directive_set *s;
  int rc = trace__filter_parse(spec, false, &s, err);
  if (rc == 0 && !(*out = make(s)))
    rc = TRACE_ENOMEM;
  return rc;
}

trace_env_filter *trace_env_filter_parse_lossy(const char *spec) {
  TRACE__KEEP_ERRNO();
  trace__directive_set *s;
  trace_env_filter *f = NULL;
  if (trace__filter_parse(spec ? spec : "", true, &s, NULL) == 0)
    f = make(s);
  return f;
}

trace_env_filter *trace_env_filter_from_env(const char *var, const char *default_spec) {
  const char *v = getenv(var ? var : "TRACE_FILTER");
  if (!v || !*v)
    v = default_spec ? default_spec : "info";
  return trace_env_filter_parse_lossy(v);
}

int trace_env_filter_reload(trace_env_filter *f, const char *spec, trace_filter_error *err) {
  if (!f || !spec)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  trace__directive_set *fresh;
  int rc = trace__filter_parse(spec, false, &fresh, err);
  if (rc != 0) {
    return rc;
  }
  trace__mutex_lock(&f->lock);
  if (++f->generation == 0)
    f->generation = 1; /* cache words of generation 0 may be left from the start */
  fresh->generation = f->generation;
  trace__directive_set *old = f->set;
  TRACE__STORE_REL(&f->set, fresh);
  TRACE__STORE(&f->no_dynamic, (uint8_t)(fresh->ndynamic == 0));
  old->next_retired = f->retired;
  trace__directive_set *unpublished = old;
  f->retired = NULL;
  trace__mutex_unlock(&f->lock);
  /* Every set taken here was unpublished before the wait began: once no thread is inside
   * libtrace, none can still be reading them. */
  if (trace__synchronize()) {
    while (unpublished) {
      trace__directive_set *next = unpublished->next_retired;
      trace__directive_set_free(unpublished);
      unpublished = next;
    }
  } else {
    trace__mutex_lock(&f->lock);
    trace__directive_set *last = unpublished;
    while (last->next_retired)
      last = last->next_retired;
    last->next_retired = f->retired;
    f->retired = unpublished;
    trace__mutex_unlock(&f->lock);
  }
  /* Inside a callback the rebuild is deferred until the thread leaves libtrace; meanwhile the
   * generation-tagged decisions judge callsites that reach the filter by the new set, and the
   * others keep the old set's answer, whole, never a mix. */
  trace_rebuild_interest();
  return 0;
}

size_t trace_env_filter_spec(trace_env_filter *f, char *buf, size_t cap) {
  if (!f)
    return trace__directive_set_format(&(trace__directive_set){0}, buf, cap);
  TRACE__KEEP_ERRNO();
  /* Under the lock: no reload can unpublish (and later free) the set while it is printed. */
  trace__mutex_lock(&f->lock);
  size_t n = trace__directive_set_format(f->set, buf, cap);
  trace__mutex_unlock(&f->lock);
  return n;
}

trace_env_filter *trace_env_filter_ref(trace_env_filter *f) {
  if (f)
    __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
  return f;
}

void trace_env_filter_release(trace_env_filter *f) {
  if (!f || __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  TRACE__KEEP_ERRNO();
  /* The last reference: no binding is left, so no reader either. */
  trace__directive_set_free(f->set);
  while (f->retired) {
    trace__directive_set *gone = f->retired;
    f->retired = gone->next_retired; /* unlinked, then freed: never reachable once freed */
    TRACE__RELEASE_FENCE();
    trace__directive_set_free(gone);
  }
  trace__idtable_free(&f->cache);
  trace__mutex_destroy(&f->lock);
  trace__free_lines(f);
}
