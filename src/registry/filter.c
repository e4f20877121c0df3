/* Layer and filter objects, and the bundled filters: by level, by target table, by callback. */
#include <string.h>

#include "../common/alloc.h"
#include "../common/target.h"
#include "internal.h"

trace_filter *trace_filter_new(const trace_filter_vtable *vt, void *self) {
  if (!vt)
    return NULL;
  trace_filter *f = trace__calloc(1, sizeof *f);
  if (!f) {
    if (vt->struct_size > offsetof(trace_filter_vtable, destroy) && vt->destroy)
      vt->destroy(self);
    return NULL;
  }
  size_t n = vt->struct_size < sizeof f->vt ? vt->struct_size : sizeof f->vt;
  memcpy(&f->vt, vt, n);
  f->vt.struct_size = sizeof f->vt;
  f->self = self;
  return f;
}

void trace_filter_set_scope_idle(trace_filter *f, const uint8_t *idle) {
  if (f)
    f->scope_idle = idle;
}

void trace_filter_free(trace_filter *f) {
  if (!f)
    return;
  if (f->vt.destroy)
    f->vt.destroy(f->self);
  trace__free(f);
}

trace_layer *trace_layer_new(const trace_layer_vtable *vt, void *self, size_t ext_size,
                             unsigned flags) {
  if (!vt)
    return NULL;
  /* Unknown flags, and a close that could never be heard (no extension to use), are mistakes. */
  bool ok = ext_size <= 65536 && !(flags & ~(unsigned)TRACE__LAYER_FLAGS) &&
            !((flags & TRACE_LAYER_CLOSE_IF_EXT_USED) && ext_size == 0) &&
            !((flags & TRACE_LAYER_CREATION) && ext_size < sizeof(trace_span_creation));
  trace_layer *l = ok ? trace__calloc(1, sizeof *l) : NULL;
  if (!l) {
    if (vt->struct_size > offsetof(trace_layer_vtable, destroy) && vt->destroy)
      vt->destroy(self);
    return NULL;
  }
  size_t n = vt->struct_size < sizeof l->vt ? vt->struct_size : sizeof l->vt;
  memcpy(&l->vt, vt, n);
  l->vt.struct_size = sizeof l->vt;
  l->self = self;
  l->ext_size = (uint32_t)ext_size;
  l->flags = flags;
  return l;
}

void trace_layer_free(trace_layer *l) {
  if (!l)
    return;
  trace_filter_free(l->filter);
  if (l->vt.destroy)
    l->vt.destroy(l->self);
  trace__free(l);
}

/* ---------------------------------------------------------------------------------------- */
/* By level. The level lives in the self pointer: no allocation besides the filter itself. */

static trace_interest level_register(void *self, const trace_metadata *meta) {
  return (int)meta->level <= (int)(intptr_t)self ? TRACE_INTEREST_ALWAYS : TRACE_INTEREST_NEVER;
}
static bool level_enabled(void *self, const trace_metadata *meta, const trace_ctx *ctx) {
  (void)ctx;
  return (int)meta->level <= (int)(intptr_t)self;
}
static int level_hint(void *self) { return (int)(intptr_t)self; }

trace_filter *trace_filter_level(int max_level) {
  static const trace_filter_vtable vt = {
      .struct_size = sizeof(trace_filter_vtable),
      .register_callsite = level_register,
      .enabled = level_enabled,
      .max_level_hint = level_hint,
  };
  if (max_level < TRACE_LEVEL_OFF)
    max_level = TRACE_LEVEL_OFF;
  if (max_level > TRACE_LEVEL_TRACE)
    max_level = TRACE_LEVEL_TRACE;
  return trace_filter_new(&vt, (void *)(intptr_t)max_level);
}

/* ---------------------------------------------------------------------------------------- */
/* By target table. */

typedef struct targets {
  int default_level;
  size_t n;
  struct {
    char *target;
    size_t len;
    int level;
  } rows[];
} targets;

static int targets_level(const targets *t, const char *target) {
  int level = t->default_level;
  size_t best = 0;
  bool found = false;
  for (size_t i = 0; i < t->n; i++) {
    if ((!found || t->rows[i].len >= best) && trace__target_covers(target, t->rows[i].target, t->rows[i].len)) {
      best = t->rows[i].len;
      level = t->rows[i].level;
      found = true;
    }
  }
  return level;
}

static trace_interest targets_register(void *self, const trace_metadata *meta) {
  return (int)meta->level <= targets_level(self, meta->target) ? TRACE_INTEREST_ALWAYS
                                                               : TRACE_INTEREST_NEVER;
}
static bool targets_enabled(void *self, const trace_metadata *meta, const trace_ctx *ctx) {
  (void)ctx;
  return (int)meta->level <= targets_level(self, meta->target);
}
static int targets_hint(void *self) {
  const targets *t = self;
  int max = t->default_level;
  for (size_t i = 0; i < t->n; i++)
    if (t->rows[i].level > max)
      max = t->rows[i].level;
  return max;
}
static void targets_destroy(void *self) {
  targets *t = self;
  for (size_t i = 0; i < t->n; i++)
    trace__free(t->rows[i].target);
  trace__free(t);
}

trace_filter *trace_filter_targets(const trace_target_level *table, size_t n, int default_level) {
  static const trace_filter_vtable vt = {
      .struct_size = sizeof(trace_filter_vtable),
      .register_callsite = targets_register,
      .enabled = targets_enabled,
      .max_level_hint = targets_hint,
      .destroy = targets_destroy,
  };
  if (!table && n > 0)
    return NULL;
  targets *t = trace__calloc(1, sizeof *t + n * sizeof t->rows[0]);
  if (!t)
    return NULL;
  t->default_level = default_level;
  for (size_t i = 0; i < n; i++) {
    const char *name = table[i].target ? table[i].target : "";
    t->rows[i].target = trace__strdup(name);
    if (!t->rows[i].target) {
      targets_destroy(t);
      return NULL;
    }
    t->n = i + 1;
    t->rows[i].len = strlen(name);
    t->rows[i].level = table[i].level;
  }
  return trace_filter_new(&vt, t);
}

/* ---------------------------------------------------------------------------------------- */
/* By callback. */

typedef struct callback {
  trace_filter_fn fn;
  void *arg;
} callback;

static trace_interest callback_register(void *self, const trace_metadata *meta) {
  callback *c = self;
  return c->fn(c->arg, meta) ? TRACE_INTEREST_ALWAYS : TRACE_INTEREST_NEVER;
}
static trace_interest callback_register_dynamic(void *self, const trace_metadata *meta) {
  (void)self;
  (void)meta;
  return TRACE_INTEREST_SOMETIMES;
}
static bool callback_enabled(void *self, const trace_metadata *meta, const trace_ctx *ctx) {
  callback *c = self;
  (void)ctx;
  return c->fn(c->arg, meta);
}
static void callback_destroy(void *self) { trace__free(self); }

static trace_filter *make_callback(trace_filter_fn fn, void *arg, const trace_filter_vtable *vt) {
  if (!fn)
    return NULL;
  callback *c = trace__malloc(sizeof *c);
  if (!c)
    return NULL;
  c->fn = fn;
  c->arg = arg;
  return trace_filter_new(vt, c);
}

trace_filter *trace_filter_callback(trace_filter_fn fn, void *arg) {
  static const trace_filter_vtable vt = {
      .struct_size = sizeof(trace_filter_vtable),
      .register_callsite = callback_register,
      .enabled = callback_enabled,
      .destroy = callback_destroy,
  };
  return make_callback(fn, arg, &vt);
}

trace_filter *trace_filter_callback_dynamic(trace_filter_fn fn, void *arg) {
  static const trace_filter_vtable vt = {
      .struct_size = sizeof(trace_filter_vtable),
      .register_callsite = callback_register_dynamic,
      .enabled = callback_enabled,
      .destroy = callback_destroy,
  };
  return make_callback(fn, arg, &vt);
}
