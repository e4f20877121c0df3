/* The collector as a registry layer: the registry owns span ids, parents, reference counts and
 * entered stacks, and filters what the layer sees; the layer only writes records. What this
 * costs compared with the collector alone is the registry's work (docs/performance.md). */
#include "record.h"

static trace_interest layer_register(void *self, const trace_metadata *meta) {
  col *c = self;
  return meta->level <= c->o.max_level ? TRACE_INTEREST_ALWAYS : TRACE_INTEREST_NEVER;
}

static int layer_max_level(void *self) { return ((col *)self)->o.max_level; }

static const trace_metadata *meta_of(const trace_ctx *ctx, uint64_t id) {
  const trace_span_ref *s = trace_ctx_span(ctx, id);
  return s ? trace_span_ref_meta(s) : NULL;
}

static void layer_new_span(void *self, const trace_span_attrs *attrs, uint64_t id,
                           const trace_ctx *ctx) {
  col *c = self;
  col_thread *t = col_thread_get(c);
  if (!t)
    return;
  uint64_t ts = c->exact ? col_now(t) : 0;
  const trace_span_ref *parent = trace_ctx_new_span_parent(ctx, attrs);
  col_record_new(t, id, parent ? trace_span_ref_id(parent) : 0, attrs, ts, 0);
}

static void layer_enter(void *self, uint64_t id, const trace_ctx *ctx) {
  col *c = self;
  col_thread *t = col_thread_get(c);
  if (!t)
    return;
  uint64_t ts = col_now(t);
  col_record_small(t, COL_ENTER, id, meta_of(ctx, id), ts);
}

static void layer_exit(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)ctx;
  col *c = self;
  col_thread *t = col_thread_get(c);
  if (!t)
    return;
  uint64_t ts = col_now(t);
  col_record_small(t, COL_EXIT, id, NULL, ts);
  t->exit_end = t->pos;
  t->exit_id = id;
}

static void layer_close(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)ctx;
  col *c = self;
  col_thread *t = col_thread_get(c);
  if (!t)
    return;
  col_record_small(t, COL_CLOSE, id, NULL, col_close_time(t, id, c->exact));
}

static void layer_record(void *self, uint64_t id, const trace_valueset *values,
                         const trace_ctx *ctx) {
  col *c = self;
  col_thread *t = col_thread_get(c);
  if (t)
    trace__col_record_values(t, id, meta_of(ctx, id), values);
}

static void layer_follows(void *self, uint64_t id, uint64_t follows, const trace_ctx *ctx) {
  (void)ctx;
  col_thread *t = col_thread_get(self);
  if (t)
    trace__col_record_follows(t, id, follows);
}

static void layer_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  col_thread *t = col_thread_get(self);
  if (!t)
    return;
  const trace_span_ref *parent = trace_ctx_event_span(ctx, ev);
  trace__col_record_event(t, parent ? trace_span_ref_id(parent) : 0, ev);
}

static void layer_flush(void *self) { (void)trace__col_flush(self); }

static void layer_destroy(void *self) { trace__col_destroy(self); }

const trace_layer_vtable trace__col_layer_vtable = {
    .struct_size = sizeof(trace_layer_vtable),
    .register_callsite = layer_register,
    .on_new_span = layer_new_span,
    .on_record = layer_record,
    .on_follows_from = layer_follows,
    .on_event = layer_event,
    .on_enter = layer_enter,
    .on_exit = layer_exit,
    .on_close = layer_close,
    .flush = layer_flush,
    .destroy = layer_destroy,
    .max_level_hint = layer_max_level,
};
