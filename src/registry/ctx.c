/* What layers and filters can ask from their callbacks: stored spans, the current span, the
 * scope of a span, a span's fields, extension and timing. Every answer is for the calling layer:
 * spans its filter did not enable are not visible to it. */
#include <string.h>

#include "internal.h"

/* A filter's context has every bit set, and a live span some layer's bit unless there are no
 * layers: the first test answers for filters too. */
static inline bool visible(const trace_ctx *ctx, const slot *s) {
  return (s->layers & ctx->bit) != 0 || ctx->r->nlayers == 0;
}

static const trace_span_ref *as_ref(const slot *s) { return (const trace_span_ref *)(const void *)s; }
static const slot *as_slot(const trace_span_ref *r) { return (const slot *)(const void *)r; }

/* s or its nearest visible ancestor. */
static const slot *nearest_visible(const trace_ctx *ctx, const slot *s) {
  while (s && !visible(ctx, s))
    s = reg_slot_parent(s);
  return s;
}

static TRACE__INLINE slot *span_of(const trace_ctx *ctx, uint64_t id) {
  if (TRACE__LIKELY(ctx->about && ctx->about_id == id))
    return visible(ctx, ctx->about) ? ctx->about : NULL;
  slot *s = reg_lookup(ctx->r, id);
  return s && visible(ctx, s) ? s : NULL;
}

const trace_span_ref *trace_ctx_span(const trace_ctx *ctx, uint64_t id) {
  return ctx ? as_ref(span_of(ctx, id)) : NULL;
}

const trace_span_ref *trace_ctx_current(const trace_ctx *ctx) {
  if (!ctx || !ctx->ts)
    return NULL;
  for (uint32_t i = ctx->ts->depth; i > 0; i--) {
    const slot *s = reg_entry_slot(&ctx->ts->stack[i - 1]);
    if (s && visible(ctx, s))
      return as_ref(s);
  }
  return NULL;
}

static const trace_span_ref *resolve(const trace_ctx *ctx, uint32_t kind, uint64_t id) {
  if (kind == TRACE_PARENT_ROOT)
    return NULL;
  if (kind == TRACE_PARENT_EXPLICIT) {
    const slot *s = reg_lookup(ctx->r, id);
    return s ? as_ref(nearest_visible(ctx, s)) : NULL;
  }
  return trace_ctx_current(ctx);
}

const trace_span_ref *trace_ctx_event_span(const trace_ctx *ctx, const trace_event *ev) {
  return ctx && ev ? resolve(ctx, ev->parent_kind, ev->parent_id) : NULL;
}

const trace_span_ref *trace_ctx_new_span_parent(const trace_ctx *ctx, const trace_span_attrs *a) {
  return ctx && a ? resolve(ctx, a->parent_kind, a->parent_id) : NULL;
}

size_t trace_ctx_scope(const trace_ctx *ctx, const trace_span_ref *leaf, const trace_span_ref **out,
                       size_t cap) {
  if (!ctx || !leaf)
    return 0;
  size_t n = 0;
  for (const slot *s = nearest_visible(ctx, as_slot(leaf)); s; s = nearest_visible(ctx, reg_slot_parent(s)))
    n++;
  /* Fill from the leaf backwards, keeping the cap spans nearest the leaf. */
  size_t k = n < cap ? n : cap;
  size_t i = k;
  for (const slot *s = nearest_visible(ctx, as_slot(leaf)); s && i > 0;
       s = nearest_visible(ctx, reg_slot_parent(s)))
    out[--i] = as_ref(s);
  return n;
}

uint64_t trace_span_ref_id(const trace_span_ref *span) {
  return span ? reg_slot_id(as_slot(span)) : 0;
}

const trace_metadata *trace_span_ref_meta(const trace_span_ref *span) {
  return span ? as_slot(span)->meta : NULL;
}

const trace_span_ref *trace_span_ref_parent(const trace_span_ref *span, const trace_ctx *ctx) {
  if (!span || !ctx)
    return NULL;
  return as_ref(nearest_visible(ctx, reg_slot_parent(as_slot(span))));
}

static TRACE__INLINE void *ext_of(slot *s, const trace_ctx *ctx) {
  if (ctx->layer < 0)
    return NULL;
  const trace_layer *l = ctx->r->layers[ctx->layer];
  if (!l->ext_size)
    return NULL;
  /* Only a layer told of a close when it used the extension (TRACE_LAYER_CLOSE_IF_EXT_USED)
   * needs the mark, set once per span; a locked instruction per span for every other layer
   * would be paid for nothing. */
  if ((l->flags & TRACE_LAYER_CLOSE_IF_EXT_USED) &&
      TRACE__UNLIKELY(!(TRACE__LOAD(&s->ext_used) & ctx->bit)))
    __atomic_fetch_or(&s->ext_used, ctx->bit, __ATOMIC_RELAXED);
  return reg_slot_ext(s, l);
}

void *trace_span_ref_ext(const trace_span_ref *span, const trace_ctx *ctx) {
  if (!span || !ctx)
    return NULL;
  return ext_of((slot *)(uintptr_t)as_slot(span), ctx);
}

void *trace_ctx_span_ext(const trace_ctx *ctx, uint64_t id) {
  slot *s = ctx ? span_of(ctx, id) : NULL;
  return s ? ext_of(s, ctx) : NULL;
}

static TRACE__INLINE void view_of(const trace_ctx *ctx, slot *s, trace_span_view *out) {
  out->span = as_ref(s);
  out->meta = s->meta;
  out->ext = ext_of(s, ctx);
  out->ids = reg_span_ids(ctx->r, s);
}

bool trace_ctx_span_view(const trace_ctx *ctx, uint64_t id, trace_span_view *out) {
  slot *s = ctx && out ? span_of(ctx, id) : NULL;
  if (!s) {
    if (out)
      memset(out, 0, sizeof *out);
    return false;
  }
  view_of(ctx, s, out);
  return true;
}

bool trace_ctx_span_read(const trace_ctx *ctx, uint64_t id,
                         void (*fn)(void *arg, const trace_span_view *view,
                                    const trace_valueset *values),
                         void *arg) {
  slot *s = ctx && fn ? span_of(ctx, id) : NULL;
  if (!s)
    return false;
  trace_span_view v;
  view_of(ctx, s, &v);
  reg_slot_lock(s);
  trace_valueset vs = reg_slot_values(s);
  fn(arg, &v, &vs);
  reg_slot_unlock(s);
  return true;
}

void trace_span_ref_values(const trace_span_ref *span,
                           void (*fn)(void *arg, const trace_valueset *vs), void *arg) {
  if (!span || !fn)
    return;
  slot *s = (slot *)(uintptr_t)as_slot(span);
  reg_slot_lock(s);
  trace_valueset vs = reg_slot_values(s);
  fn(arg, &vs);
  reg_slot_unlock(s);
}

typedef struct visit_arg {
  const trace_visitor *visitor;
  void *ctx;
} visit_arg;

static void visit_values(void *arg, const trace_valueset *vs) {
  const visit_arg *a = arg;
  trace_valueset_visit(vs, a->visitor, a->ctx);
}

void trace_span_ref_visit(const trace_span_ref *span, const trace_visitor *visitor, void *vctx) {
  if (!visitor)
    return;
  visit_arg a = {visitor, vctx};
  trace_span_ref_values(span, visit_values, &a);
}

size_t trace_span_ref_follows(const trace_span_ref *span, uint64_t *out, size_t cap) {
  if (!span)
    return 0;
  slot *s = (slot *)(uintptr_t)as_slot(span);
  reg_slot_lock(s);
  size_t n = s->nfollows;
  if (out)
    memcpy(out, s->follows, TRACE__MIN(n, cap) * sizeof *out);
  reg_slot_unlock(s);
  return n;
}

bool trace_span_ref_timing(const trace_span_ref *span, trace_span_timing *out) {
  if (!span || !out)
    return false;
  slot *s = (slot *)(uintptr_t)as_slot(span);
  /* The registry of a slot is not reachable from it; timing is on iff created_ns was set. */
  reg_slot_lock(s);
  bool on = s->created_ns != 0;
  if (on) {
    out->created_ns = s->created_ns;
    out->busy_ns = s->busy_ns;
    out->idle_ns = s->idle_ns;
    /* Count the current stretch too: a span closes while not entered, normally. */
    if (s->last_ns) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
      if (s->entered)
        out->busy_ns += now - s->last_ns;
      else
        out->idle_ns += now - s->last_ns;
    }
  }
  reg_slot_unlock(s);
  return on;
}
