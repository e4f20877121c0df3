/* Which layers want which callsite. register_callsite computes, per callsite, the layers that are
 * always enabled and those that must be asked on each hit, and caches both in a table indexed by
 * the callsite's dense id; the event path reads it without a lock. */
#include "../common/alloc.h"
#include "internal.h"

static trace_interest ask_filter(const trace_filter *f, const trace_metadata *meta) {
  if (!f)
    return TRACE_INTEREST_ALWAYS;
  if (f->vt.register_callsite) {
    trace_interest i = f->vt.register_callsite(f->self, meta);
    return i >= TRACE_INTEREST_NEVER && i <= TRACE_INTEREST_ALWAYS ? i : TRACE_INTEREST_SOMETIMES;
  }
  if (f->vt.enabled)
    return TRACE_INTEREST_SOMETIMES; /* only the per-hit answer is known */
  return TRACE_INTEREST_ALWAYS;
}

/* Both must want it: NEVER wins, then SOMETIMES. */
static trace_interest both(trace_interest a, trace_interest b) {
  if (a == TRACE_INTEREST_NEVER || b == TRACE_INTEREST_NEVER)
    return TRACE_INTEREST_NEVER;
  if (a == TRACE_INTEREST_SOMETIMES || b == TRACE_INTEREST_SOMETIMES)
    return TRACE_INTEREST_SOMETIMES;
  return TRACE_INTEREST_ALWAYS;
}

static trace_interest layer_interest(const trace_layer *l, const trace_metadata *meta) {
  trace_interest own = TRACE_INTEREST_ALWAYS;
  if (l->vt.register_callsite) {
    own = l->vt.register_callsite(l->self, meta);
    if (own < TRACE_INTEREST_NEVER || own > TRACE_INTEREST_ALWAYS)
      own = TRACE_INTEREST_SOMETIMES;
  } else if (l->vt.enabled) {
    own = TRACE_INTEREST_SOMETIMES;
  }
  return both(own, ask_filter(l->filter, meta));
}

/* The layer masks of a callsite, computed now. */
static void compute(trace_registry *r, const trace_metadata *meta, cs_info *out) {
  trace_interest g = ask_filter(r->filter, meta);
  out->always = out->sometimes = 0;
  if (g != TRACE_INTEREST_NEVER) {
    for (unsigned i = 0; i < r->nlayers; i++) {
      trace_interest li = layer_interest(r->layers[i], meta);
      if (li == TRACE_INTEREST_ALWAYS && g == TRACE_INTEREST_ALWAYS)
        out->always |= 1ull << i;
      else if (li != TRACE_INTEREST_NEVER)
        out->sometimes |= 1ull << i;
    }
  }
  out->seq = 2;
}

/* Reads a consistent pair; false if the callsite has not been computed yet. */
static bool cs_read(const cs_info *c, cs_info *out) {
  for (;;) {
    uint32_t s1 = TRACE__LOAD_ACQ(&c->seq);
    if (s1 == 0)
      return false;
    if (s1 & 1)
      continue; /* a rebuild is writing it right now */
    out->always = TRACE__LOAD_ACQ(&c->always);
    out->sometimes = TRACE__LOAD_ACQ(&c->sometimes);
    if (TRACE__LOAD(&c->seq) == s1)
      return true;
  }
}

trace_interest trace__reg_register_callsite(void *self, const trace_metadata *meta) {
  trace_registry *r = self;
  if (r->nlayers == 0) {
    /* Without layers nothing consumes events; spans are still stored (current-span tracking),
     * subject to the registry's filter. */
    if (meta->kind != TRACE_KIND_SPAN)
      return TRACE_INTEREST_NEVER;
    return ask_filter(r->filter, meta);
  }
  cs_info info;
  compute(r, meta, &info);
  cs_info *c = trace__idtable_get(&r->cs, meta->callsite_id, sizeof *c);
  if (c) {
    /* Writers are serialised by the core's registration lock. The release stores make a reader
     * that sees new data also see the odd sequence number, and retry. */
    __atomic_fetch_add(&c->seq, 1, __ATOMIC_ACQ_REL);
    TRACE__STORE_REL(&c->always, info.always);
    TRACE__STORE_REL(&c->sometimes, info.sometimes);
    __atomic_fetch_add(&c->seq, 1, __ATOMIC_RELEASE);
  }
  if (!info.always && !info.sometimes)
    return TRACE_INTEREST_NEVER;
  return info.sometimes ? TRACE_INTEREST_SOMETIMES : TRACE_INTEREST_ALWAYS;
}

/* The layers enabled for this hit: the always-layers, plus the sometimes-layers whose filters
 * (and the registry's filter) say yes now. */
uint64_t trace__reg_enabled_mask(trace_registry *r, reg_thread *ts, const trace_metadata *meta) {
  cs_info info;
  const cs_info *c = trace__idtable_find(&r->cs, meta->callsite_id, sizeof *c);
  if (!c || !cs_read(c, &info))
    compute(r, meta, &info);
  uint64_t mask = info.always;
  uint64_t ask = info.sometimes;
  if (!ask)
    return mask;
  trace_ctx ctx = {r, ts, -1, ~0ull, NULL, 0};
  if (r->filter && r->filter->vt.enabled && !r->filter->vt.enabled(r->filter->self, meta, &ctx))
    return mask & 0; /* the registry's filter says no: nothing at all */
  while (ask) {
    unsigned i = (unsigned)__builtin_ctzll(ask);
    ask &= ask - 1;
    const trace_layer *l = r->layers[i];
    ctx.layer = (int)i;
    ctx.bit = 1ull << i;
    if (l->filter && l->filter->vt.enabled && !l->filter->vt.enabled(l->filter->self, meta, &ctx))
      continue;
    if (l->vt.enabled && !l->vt.enabled(l->self, meta, &ctx))
      continue;
    mask |= 1ull << i;
  }
  return mask;
}

int trace__reg_max_level_hint(void *self) {
  trace_registry *r = self;
  int layers = r->nlayers ? TRACE_LEVEL_OFF : TRACE_LEVEL_TRACE;
  for (unsigned i = 0; i < r->nlayers; i++) {
    const trace_layer *l = r->layers[i];
    int hint = TRACE_LEVEL_TRACE;
    if (l->filter && l->filter->vt.max_level_hint) {
      int h = l->filter->vt.max_level_hint(l->filter->self);
      if (h >= 0 && h < hint)
        hint = h;
    }
    if (l->vt.max_level_hint) {
      int h = l->vt.max_level_hint(l->self);
      if (h >= 0 && h < hint)
        hint = h;
    }
    if (hint > layers)
      layers = hint; /* the loudest layer sets the level: a quiet one never lowers it */
  }
  if (r->filter && r->filter->vt.max_level_hint) {
    int g = r->filter->vt.max_level_hint(r->filter->self);
    if (g >= 0 && g < layers)
      layers = g;
  }
  return layers;
}

void trace__reg_cs_destroy(trace_registry *r) {
  trace__idtable_free(&r->cs);
}
