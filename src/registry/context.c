/* Trace contexts: ids for the spans that a layer with TRACE_LAYER_CONTEXT enables, the sampled
 * decision, and what layers and trace_span_context() read back. Only registries with such a
 * layer reach this file; their slots carry a reg_span_ctx after the layers' extensions. */
#include <string.h>

#include "../common/alloc.h"
#include "../common/ids.h"
#include "internal.h"
#include "trace/context.h"

/* The nearest span from s up (s included) that has a context, or NULL. */
static slot *with_context(const trace_registry *r, slot *s) {
  while (s && !reg_slot_ctx(r, s)->has)
    s = reg_slot_parent(s);
  return s;
}

/* The tracestate s's trace carries: that of the nearest span up from s whose parent is remote
 * (the span where this process joined the trace), if any. */
static const reg_span_ctx *tracestate_owner(const trace_registry *r, slot *s) {
  for (; s; s = reg_slot_parent(s)) {
    const reg_span_ctx *c = reg_slot_ctx(r, s);
    if (c->has && c->ids.remote_parent)
      return c;
  }
  return NULL;
}

static void keep_tracestate(reg_span_ctx *c, const trace_context *remote) {
  size_t n = remote->tracestate_len;
  if (n == 0 || n > TRACE_TRACESTATE_MAX)
    return;
  if (!c->tracestate) {
    c->tracestate = trace__malloc(TRACE_TRACESTATE_MAX + 1);
    if (!c->tracestate)
      return; /* out of memory: the trace goes on without its tracestate */
  }
  memcpy(c->tracestate, remote->tracestate, n);
  c->tracestate[n] = '\0';
  c->tracestate_len = (uint16_t)n;
}

void trace__reg_context_new_span(trace_registry *r, slot *s, slot *parent, const trace_span_attrs *a,
                          uint64_t mask) {
  reg_span_ctx *c = reg_slot_ctx(r, s);
  c->ids.remote_parent = 0;
  c->ids.has_tracestate = 0;
  c->ids.reserved_ = 0;
  c->tracestate_len = 0;
  if (!(mask & r->context_layers)) {
    c->has = 0;
    return;
  }
  int parent_flags = -1;
  slot *p;
  if (a->remote_parent && !trace_context_is_valid(a->remote_parent)) {
    /* A new trace (TRACE_NEW_TRACE, or what a failed parse left): a root, whatever the local
     * parent. */
    trace__id_root(c->ids.trace_id, c->ids.span_id);
    memset(c->ids.parent_span_id, 0, sizeof c->ids.parent_span_id);
    /* Its tracestate is still looked for up the local tree (tracestate_owner). */
    if ((p = with_context(r, parent)))
      c->ids.has_tracestate = reg_slot_ctx(r, p)->ids.has_tracestate;
  } else if (a->remote_parent) {
    /* The remote parent wins over the local one, which stays the span's place in the local
     * tree only. */
    const trace_context *rp = a->remote_parent;
    memcpy(c->ids.trace_id, rp->trace_id, sizeof c->ids.trace_id);
    memcpy(c->ids.parent_span_id, rp->span_id, sizeof c->ids.parent_span_id);
    parent_flags = rp->flags;
    c->ids.remote_parent = 1;
    keep_tracestate(c, rp);
    c->ids.has_tracestate = c->tracestate_len != 0;
    trace__id_span(c->ids.span_id);
  } else if ((p = with_context(r, parent))) {
    const reg_span_ctx *pc = reg_slot_ctx(r, p);
    memcpy(c->ids.trace_id, pc->ids.trace_id, sizeof c->ids.trace_id);
    memcpy(c->ids.parent_span_id, pc->ids.span_id, sizeof c->ids.parent_span_id);
    parent_flags = pc->ids.flags;
    /* The tracestate this span's trace carries is its parent's (tracestate_owner). */
    c->ids.has_tracestate = pc->ids.has_tracestate;
    trace__id_span(c->ids.span_id);
  } else {
    trace__id_root(c->ids.trace_id, c->ids.span_id);
    memset(c->ids.parent_span_id, 0, sizeof c->ids.parent_span_id);
  }
  bool sampled = parent_flags < 0 || (parent_flags & TRACE_CONTEXT_SAMPLED);
  uint64_t samplers = mask & r->has_sample;
  if (samplers) {
    trace_layer *l = r->layers[__builtin_ctzll(samplers)];
    sampled = l->vt.sample(l->self, a, c->ids.trace_id, parent_flags);
  }
  uint8_t flags = parent_flags < 0 ? 0 : (uint8_t)parent_flags;
  c->ids.flags = (uint8_t)((flags & ~TRACE_CONTEXT_SAMPLED) | (sampled ? TRACE_CONTEXT_SAMPLED : 0));
  c->has = 1;
}

/* Fills out from c (ids, flags as given) and the tracestate of s's trace. */
static void fill(const trace_registry *r, slot *s, const reg_span_ctx *c, trace_context *out,
                 uint8_t flags_mask) {
  memcpy(out->trace_id, c->ids.trace_id, sizeof out->trace_id);
  memcpy(out->span_id, c->ids.span_id, sizeof out->span_id);
  out->flags = c->ids.flags & flags_mask;
  out->reserved_ = 0;
  const reg_span_ctx *owner = tracestate_owner(r, s);
  size_t n = owner && owner->tracestate ? owner->tracestate_len : 0;
  if (n)
    memcpy(out->tracestate, owner->tracestate, n);
  out->tracestate[n] = '\0';
  out->tracestate_len = (uint16_t)n;
}

int trace_span_ref_context(const trace_span_ref *span, const trace_ctx *ctx, trace_context *out,
                           uint8_t parent_span_id[8]) {
  if (!span || !ctx || !out || !ctx->r->context_layers)
    return TRACE_SPAN_CONTEXT_NONE;
  slot *s = (slot *)(uintptr_t)(const void *)span;
  const reg_span_ctx *c = reg_slot_ctx(ctx->r, s);
  if (!c->has)
    return TRACE_SPAN_CONTEXT_NONE;
  fill(ctx->r, s, c, out, 0xff);
  if (parent_span_id)
    memcpy(parent_span_id, c->ids.parent_span_id, 8);
  return c->ids.remote_parent ? TRACE_SPAN_CONTEXT_REMOTE_PARENT : TRACE_SPAN_CONTEXT_LOCAL;
}

const trace_span_ids *trace_span_ref_ids(const trace_span_ref *span, const trace_ctx *ctx) {
  return span && ctx ? reg_span_ids(ctx->r, (slot *)(uintptr_t)(const void *)span) : NULL;
}

int trace__reg_span_context(void *self, uint64_t id, trace_context *out) {
  trace_registry *r = self;
  slot *s = reg_lookup(r, id);
  if (!s)
    return TRACE_ECLOSED;
  if (!r->context_layers)
    return TRACE_ENOTSUP;
  slot *p = with_context(r, s);
  if (!p)
    return TRACE_ENOTSUP;
  /* Only "sampled" goes out: the other bits are reserved, and a sender sets them to 0. */
  fill(r, p, reg_slot_ctx(r, p), out, TRACE_CONTEXT_SAMPLED);
  return 0;
}

void trace__reg_context_destroy(trace_registry *r) {
  if (!r->context_layers || !r->slot_size)
    return;
  uint32_t n = TRACE__LOAD_ACQ(&r->nslots);
  for (uint32_t i = 0; i < n; i++) {
    slot *s = reg_slot_at(r, i);
    if (s)
      trace__free(reg_slot_ctx(r, s)->tracestate);
  }
}
