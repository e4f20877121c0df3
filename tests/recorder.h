/* Shared by the registry tests: a layer that writes what it sees into a text log, using only the
 * public context API to describe spans, and a registry installed as one test's default. */
#ifndef TRACE_TESTS_RECORDER_H
#define TRACE_TESTS_RECORDER_H

#include <pthread.h>
#include <stdlib.h>

#include "helpers.h"
#include "trace/registry.h"

/* A layer that writes what it sees into a text log, using the context API to describe spans. */
typedef struct recorder {
  char name[8];
  text_log log;
  int closes;
  uint64_t last_busy, last_idle;
  int timing_seen;
} recorder;

/* "root>child>leaf" as this layer sees it. */
static inline void scope_text(const trace_ctx *ctx, const trace_span_ref *leaf, char *out,
                              size_t cap) {
  const trace_span_ref *spans[16];
  size_t n = trace_ctx_scope(ctx, leaf, spans, 16);
  out[0] = '\0';
  for (size_t i = 0; i < n && i < 16; i++) {
    if (i)
      strncat(out, ">", cap - strlen(out) - 1);
    strncat(out, trace_span_ref_meta(spans[i])->name, cap - strlen(out) - 1);
  }
  if (n == 0)
    strncat(out, "-", cap - strlen(out) - 1);
}

static inline void rec_new_span(void *self, const trace_span_attrs *a, uint64_t id,
                                const trace_ctx *ctx) {
  recorder *r = self;
  (void)id;
  char scope[256];
  scope_text(ctx, trace_ctx_new_span_parent(ctx, a), scope, sizeof scope);
  int *ext = trace_span_ref_ext(trace_ctx_span(ctx, id), ctx);
  if (ext) {
    assert_int_equal(*ext, 0); /* extensions start zeroed */
    *ext = 7;
  }
  text_log_printf(&r->log, "%s:new %s in %s\n", r->name, a->meta->name, scope);
}

static inline void rec_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  recorder *r = self;
  char scope[256], msg[128];
  scope_text(ctx, trace_ctx_event_span(ctx, ev), scope, sizeof scope);
  trace_event_message(ev, msg, sizeof msg);
  text_log_printf(&r->log, "%s:event %s %s in %s\n", r->name, trace_level_name(ev->meta->level),
                  msg, scope);
}

static inline void rec_enter(void *self, uint64_t id, const trace_ctx *ctx) {
  recorder *r = self;
  text_log_printf(&r->log, "%s:enter %s\n", r->name,
                  trace_span_ref_meta(trace_ctx_span(ctx, id))->name);
}

static inline void rec_exit(void *self, uint64_t id, const trace_ctx *ctx) {
  recorder *r = self;
  text_log_printf(&r->log, "%s:exit %s\n", r->name,
                  trace_span_ref_meta(trace_ctx_span(ctx, id))->name);
}

static inline void rec_text(void *c, const char *name, const char *text, size_t len) {
  recorder *r = c;
  text_log_printf(&r->log, " %s=%.*s", name, (int)len, text);
}

static inline void rec_close(void *self, uint64_t id, const trace_ctx *ctx) {
  recorder *r = self;
  const trace_span_ref *s = trace_ctx_span(ctx, id);
  int *ext = trace_span_ref_ext(s, ctx);
  assert_true(!ext || *ext == 7);
  text_log_printf(&r->log, "%s:close %s", r->name, trace_span_ref_meta(s)->name);
  trace_visitor v = {.struct_size = sizeof v, .on_text = rec_text};
  trace_span_ref_visit(s, &v, r);
  text_log_printf(&r->log, "\n");
  trace_span_timing t;
  if (trace_span_ref_timing(s, &t)) {
    r->timing_seen = 1;
    r->last_busy = t.busy_ns;
    r->last_idle = t.idle_ns;
  }
  pthread_mutex_lock(&r->log.lock);
  r->closes++;
  pthread_mutex_unlock(&r->log.lock);
}

static inline void rec_record(void *self, uint64_t id, const trace_valueset *vs,
                              const trace_ctx *ctx) {
  recorder *r = self;
  text_log_printf(&r->log, "%s:record %s", r->name,
                  trace_span_ref_meta(trace_ctx_span(ctx, id))->name);
  trace_visitor v = {.struct_size = sizeof v, .on_text = rec_text};
  trace_valueset_visit(vs, &v, r);
  text_log_printf(&r->log, "\n");
}

static inline void rec_follows(void *self, uint64_t id, uint64_t follows, const trace_ctx *ctx) {
  recorder *r = self;
  uint64_t ids[4];
  size_t n = trace_span_ref_follows(trace_ctx_span(ctx, id), ids, 4);
  assert_int_equal(ids[n - 1], follows);
  text_log_printf(&r->log, "%s:follows %s <- %s (%zu)\n", r->name,
                  trace_span_ref_meta(trace_ctx_span(ctx, id))->name,
                  trace_span_ref_meta(trace_ctx_span(ctx, follows))->name, n);
}

static const trace_layer_vtable recorder_vtable_ = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_new_span = rec_new_span,
    .on_record = rec_record,
    .on_follows_from = rec_follows,
    .on_event = rec_event,
    .on_enter = rec_enter,
    .on_exit = rec_exit,
    .on_close = rec_close,
};

static inline recorder *recorder_new(const char *name) {
  recorder *r = calloc(1, sizeof *r);
  snprintf(r->name, sizeof r->name, "%s", name);
  text_log_init(&r->log);
  return r;
}

static inline void recorder_free(recorder *r) {
  text_log_destroy(&r->log);
  free(r);
}

static inline trace_layer *recorder_layer(recorder *r, unsigned flags) {
  return trace_layer_new(&recorder_vtable_, r, sizeof(int), flags);
}

/* Installs a registry as this thread's default for a test; returns it for stats. */
static inline trace_dispatch *scoped_registry(trace_registry *reg, trace_default_guard *g) {
  trace_dispatch *d = trace_registry_dispatch(reg);
  assert_non_null(d);
  *g = trace_set_default(d);
  return d;
}

/* A registry whose only layer is recorder a. */
static inline trace_registry *recorder_registry(recorder *a) {
  trace_registry *reg = trace_registry_new();
  assert_non_null(reg);
  assert_int_equal(trace_registry_add_layer(reg, recorder_layer(a, 0), NULL), 0);
  return reg;
}

/* That registry installed as this thread's default for a test (scoped_registry). */
static inline trace_dispatch *scoped_recorder(recorder *a, trace_default_guard *g) {
  return scoped_registry(recorder_registry(a), g);
}

/* Undoes scoped_registry (or scoped_recorder) and frees the test's recorder a. */
static inline void scoped_registry_end(trace_dispatch *d, trace_default_guard *g, recorder *a) {
  trace_default_guard_restore(g);
  trace_dispatch_release(d);
  recorder_free(a);
}

/* The same, after checking that the layer heard log and that no span is left open. */
static inline void scoped_registry_end_closed(trace_dispatch *d, trace_default_guard *g,
                                              recorder *a, const char *log) {
  assert_text_equal(a->log.text, log);
  trace_registry_stats st = trace_registry_get_stats(trace_dispatch_self(d));
  assert_int_equal(st.spans_live, 0);
  scoped_registry_end(d, g, a);
}

#endif
