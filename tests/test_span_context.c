/* Span contexts in the registry: ids for the spans a TRACE_LAYER_CONTEXT layer enables, their
 * inheritance (children, other threads, remote parents made with TRACE_SPAN_FROM), the sampled
 * flag and samplers, tracestate carried through, trace_span_context() for propagation, and the
 * cases without contexts (no such layer, a subscriber that keeps none). */
#include <pthread.h>

#include "helpers.h"
#include "trace/context.h"
#include "trace/registry.h"

/* A layer that records, for every span it hears of, its context as the registry gives it. */
typedef struct seen {
  char name[32];
  trace_context c;
  uint8_t parent[8];
  bool has;
  int kind;
  trace_span_ids ids; /* trace_span_ref_ids' answer, when has_ids */
  bool has_ids;
} seen;

typedef struct ctx_layer {
  seen spans[64];
  int n;
  int sample_calls;
  int last_parent_flags;
  int decision; /* -1: no sampler opinion (returns parent's), 0/1: that */
  pthread_mutex_t lock;
} ctx_layer;

static void on_new(void *self, const trace_span_attrs *a, uint64_t id, const trace_ctx *ctx) {
  ctx_layer *l = self;
  const trace_span_ref *ref = trace_ctx_span(ctx, id);
  pthread_mutex_lock(&l->lock);
  seen *s = &l->spans[l->n++];
  snprintf(s->name, sizeof s->name, "%s", a->meta->name);
  s->kind = trace_span_ref_context(ref, ctx, &s->c, s->parent);
  s->has = s->kind != TRACE_SPAN_CONTEXT_NONE;
  const trace_span_ids *ids = trace_span_ref_ids(ref, ctx);
  s->has_ids = ids != NULL;
  if (ids)
    s->ids = *ids;
  pthread_mutex_unlock(&l->lock);
}

static bool sample(void *self, const trace_span_attrs *a, const uint8_t trace_id[16],
                   int parent_flags) {
  (void)a;
  (void)trace_id;
  ctx_layer *l = self;
  l->sample_calls++;
  l->last_parent_flags = parent_flags;
  if (l->decision < 0)
    return parent_flags < 0 || (parent_flags & 1);
  return l->decision != 0;
}

static const trace_layer_vtable ctx_vt = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_new_span = on_new,
};
static const trace_layer_vtable sampling_vt = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_new_span = on_new,
    .sample = sample,
};

static ctx_layer *layer_state(void) {
  ctx_layer *l = calloc(1, sizeof *l);
  pthread_mutex_init(&l->lock, NULL);
  l->decision = -1;
  return l;
}

static const seen *find(const ctx_layer *l, const char *name) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->spans[i].name, name) == 0)
      return &l->spans[i];
  fail_msg("no span %s", name);
  return NULL;
}

static bool zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

/* A registry with the context layer (filter: everything but target "hidden"), optionally a
 * second layer without contexts that sees everything, installed as this thread's default. */
typedef struct fixture {
  ctx_layer *l;
  trace_dispatch *d;
  trace_default_guard g;
} fixture;

static bool not_hidden(void *arg, const trace_metadata *meta) {
  (void)arg;
  return strcmp(meta->target, "hidden") != 0;
}

static fixture setup_fixture(const trace_layer_vtable *vt, bool with_context) {
  fixture f;
  f.l = layer_state();
  trace_registry *r = trace_registry_new();
  static const trace_layer_vtable plain = {.struct_size = sizeof(trace_layer_vtable)};
  assert_int_equal(trace_registry_add_layer(r, trace_layer_new(&plain, NULL, 0, 0), NULL), 0);
  assert_int_equal(trace_registry_add_layer(
                       r, trace_layer_new(vt, f.l, 0, with_context ? TRACE_LAYER_CONTEXT : 0),
                       trace_filter_callback(not_hidden, NULL)),
                   0);
  f.d = trace_registry_dispatch(r);
  assert_non_null(f.d);
  f.g = trace_set_default(f.d);
  return f;
}

static void teardown_fixture(fixture *f) {
  trace_default_guard_restore(&f->g);
  trace_dispatch_release(f->d);
  pthread_mutex_destroy(&f->l->lock);
  free(f->l);
}

#define TRACE_INFO_SPAN_IN(parent, ...) TRACE_SPAN_IN(parent, TRACE_LEVEL_INFO, __VA_ARGS__)
typedef struct on_thread_arg {
  trace_dispatch *d;
  const trace_span *parent;
} on_thread_arg;
static void *child_on_thread(void *arg) {
  on_thread_arg *a = arg;
  TRACE_WITH_DEFAULT(a->d) {
    trace_span s = TRACE_INFO_SPAN_IN(a->parent, "on_thread");
    trace_span_close(&s);
  }
  return NULL;
}

static void ids_and_inheritance(void **state) {
  (void)state;
  fixture f = setup_fixture(&ctx_vt, true);
  trace_span root = TRACE_INFO_SPAN("root");
  trace_span_enter(&root);
  trace_span child = TRACE_INFO_SPAN("child");
  trace_span_enter(&child);
  trace_span grand = TRACE_INFO_SPAN("grand");
  trace_span_exit(&child);
  trace_span_exit(&root);
  pthread_t t;
  on_thread_arg arg = {f.d, &child};
  pthread_create(&t, NULL, child_on_thread, &arg);
  pthread_join(t, NULL);
  trace_span other = TRACE_INFO_SPAN("other_root");

  const seen *r = find(f.l, "root"), *c = find(f.l, "child"), *g = find(f.l, "grand"),
             *th = find(f.l, "on_thread"), *o = find(f.l, "other_root");
  assert_true(r->has && c->has && g->has && th->has && o->has);
  assert_true(trace_context_is_valid(&r->c));
  assert_true(zero(r->parent, 8));
  assert_memory_equal(c->c.trace_id, r->c.trace_id, 16);
  assert_memory_equal(g->c.trace_id, r->c.trace_id, 16);
  assert_memory_equal(th->c.trace_id, r->c.trace_id, 16);
  assert_memory_equal(c->parent, r->c.span_id, 8);
  assert_memory_equal(g->parent, c->c.span_id, 8);
  assert_memory_equal(th->parent, c->c.span_id, 8);
  assert_memory_not_equal(o->c.trace_id, r->c.trace_id, 16);
  assert_memory_not_equal(c->c.span_id, r->c.span_id, 8);
  assert_memory_not_equal(g->c.span_id, c->c.span_id, 8);
  assert_true(trace_context_is_sampled(&r->c) && trace_context_is_sampled(&g->c));

  /* What instrumented code reads to propagate: the same ids. */
  trace_context out;
  assert_int_equal(trace_span_context(&grand, &out), 0);
  assert_memory_equal(out.trace_id, g->c.trace_id, 16);
  assert_memory_equal(out.span_id, g->c.span_id, 8);
  assert_int_equal(out.flags, TRACE_CONTEXT_SAMPLED);
  assert_int_equal(out.tracestate_len, 0);
  char tp[TRACE_TRACEPARENT_SIZE], hex[TRACE_TRACE_ID_HEX_SIZE];
  trace_traceparent_format(&out, tp, sizeof tp);
  trace_trace_id_hex(r->c.trace_id, hex);
  assert_int_equal(strncmp(tp + 3, hex, 32), 0);
  assert_string_equal(tp + 52, "-01");

  trace_span_close(&grand);
  trace_span_close(&child);
  trace_span_close(&root);
  trace_span_close(&other);
  assert_int_equal(trace_span_context(&root, &out), TRACE_ECLOSED); /* none now */
  assert_false(trace_context_is_valid(&out));
  assert_int_equal(trace_span_context(&root, NULL), TRACE_EINVAL);
  teardown_fixture(&f);
}

static const trace_context *counted(const trace_context *c, int *calls) {
  (*calls)++;
  return c;
}

static void remote_parent(void **state) {
  (void)state;
  fixture f = setup_fixture(&ctx_vt, true);
  trace_header h[] = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                      {"tracestate", "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"}};
  trace_context remote;
  const char *why;
  assert_int_equal(trace_context_extract(h, 2, &remote, &why), 0);
  trace_span outer = TRACE_INFO_SPAN("outer");
  trace_span_enter(&outer);
  int calls = 0;
  /* The remote parent wins over the current span in the trace: the request continues the
   * caller's trace. Locally it stays under outer. */
  trace_span req = TRACE_INFO_SPAN_FROM(counted(&remote, &calls), "request", TF(path, "/a"));
  assert_int_equal(calls, 1);
  trace_span_enter(&req);
  trace_span inner = TRACE_INFO_SPAN("inner");
  trace_span_exit(&req);
  trace_span_exit(&outer);

  const seen *r = find(f.l, "request"), *i = find(f.l, "inner"), *o = find(f.l, "outer");
  assert_memory_equal(r->c.trace_id, remote.trace_id, 16);
  assert_memory_equal(r->parent, remote.span_id, 8);
  assert_int_equal(r->kind, TRACE_SPAN_CONTEXT_REMOTE_PARENT);
  assert_int_equal(find(f.l, "inner")->kind, TRACE_SPAN_CONTEXT_LOCAL);
  assert_int_equal(find(f.l, "outer")->kind, TRACE_SPAN_CONTEXT_LOCAL);
  assert_memory_not_equal(r->c.span_id, remote.span_id, 8);
  assert_memory_not_equal(r->c.trace_id, o->c.trace_id, 16);
  assert_memory_equal(i->c.trace_id, remote.trace_id, 16);
  assert_memory_equal(i->parent, r->c.span_id, 8);
  assert_string_equal(r->c.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_string_equal(i->c.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_int_equal(o->c.tracestate_len, 0);

  trace_context out;
  assert_int_equal(trace_span_context(&inner, &out), 0);
  assert_string_equal(out.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_memory_equal(out.span_id, i->c.span_id, 8);

  /* NULL: an ordinary span of the current trace. Zero ids: a new trace, though nested. */
  trace_context blank;
  assert_int_equal(trace_traceparent_parse("bad", 3, &blank, NULL), TRACE_EPARSE);
  trace_span_enter(&outer);
  trace_span a = TRACE_INFO_SPAN_FROM(NULL, "from_null");
  trace_span b = TRACE_INFO_SPAN_FROM(&blank, "from_blank");
  trace_span n = TRACE_INFO_SPAN_FROM(TRACE_NEW_TRACE, "new_trace");
  trace_span_exit(&outer);
  const seen *sa = find(f.l, "from_null"), *sb = find(f.l, "from_blank"),
             *sn = find(f.l, "new_trace");
  assert_memory_equal(sa->c.trace_id, o->c.trace_id, 16);
  assert_memory_equal(sa->parent, o->c.span_id, 8);
  assert_true(zero(sb->parent, 8) && zero(sn->parent, 8));
  assert_true(trace_context_is_valid(&sb->c) && trace_context_is_valid(&sn->c));
  assert_memory_not_equal(sb->c.trace_id, o->c.trace_id, 16);
  assert_memory_not_equal(sn->c.trace_id, o->c.trace_id, 16);
  assert_memory_not_equal(sb->c.trace_id, sn->c.trace_id, 16);
  assert_int_equal(sn->kind, TRACE_SPAN_CONTEXT_LOCAL);
  trace_span_close(&n);

  /* Disabled: the remote expression is not evaluated, and the span is none. */
  calls = 0;
  trace_span off = TRACE_SPAN_NONE_INIT;
  TRACE_WITH_DEFAULT(NULL) { off = TRACE_DEBUG_SPAN_FROM(counted(&remote, &calls), "off"); }
  assert_int_equal(calls, 0);
  assert_true(trace_span_is_none(&off));

  trace_span_close(&a);
  trace_span_close(&b);
  trace_span_close(&inner);
  trace_span_close(&req);
  trace_span_close(&outer);
  teardown_fixture(&f);
}

/* A remote parent that did not sample: the spans exist for local layers, carry sampled = 0, and
 * say so downstream. */
static void remote_not_sampled(void **state) {
  (void)state;
  fixture f = setup_fixture(&ctx_vt, true);
  trace_context remote;
  const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
  assert_int_equal(trace_traceparent_parse(tp, strlen(tp), &remote, NULL), 0);
  trace_span req = TRACE_INFO_SPAN_FROM(&remote, "request");
  trace_span_enter(&req);
  trace_span inner = TRACE_INFO_SPAN("inner");
  assert_false(trace_span_is_none(&req));
  assert_false(trace_span_is_none(&inner));
  assert_false(trace_context_is_sampled(&find(f.l, "request")->c));
  assert_false(trace_context_is_sampled(&find(f.l, "inner")->c));
  trace_context out;
  assert_int_equal(trace_span_context(&inner, &out), 0);
  char text[TRACE_TRACEPARENT_SIZE];
  trace_traceparent_format(&out, text, sizeof text);
  assert_string_equal(text + 52, "-00");
  assert_int_equal(strncmp(text, "00-0af7651916cd43dd8448eb211c80319c-", 36), 0);
  /* Reserved flag bits received are not sent on. */
  tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff";
  assert_int_equal(trace_traceparent_parse(tp, strlen(tp), &remote, NULL), 0);
  trace_span r2 = TRACE_INFO_SPAN_FROM(&remote, "request2");
  assert_int_equal(trace_span_context(&r2, &out), 0);
  assert_int_equal(out.flags, TRACE_CONTEXT_SAMPLED);
  assert_int_equal(find(f.l, "request2")->c.flags, 0xff); /* layers see what came */
  trace_span_close(&r2);
  trace_span_exit(&req);
  trace_span_close(&inner);
  trace_span_close(&req);
  teardown_fixture(&f);
}

static void sampler_decides(void **state) {
  (void)state;
  fixture f = setup_fixture(&sampling_vt, true);
  f.l->decision = 0;
  trace_span root = TRACE_INFO_SPAN("root");
  assert_int_equal(f.l->last_parent_flags, -1);
  trace_span_enter(&root);
  f.l->decision = -1; /* children follow their parent */
  trace_span child = TRACE_INFO_SPAN("child");
  assert_int_equal(f.l->last_parent_flags, 0);
  assert_false(trace_context_is_sampled(&find(f.l, "root")->c));
  assert_false(trace_context_is_sampled(&find(f.l, "child")->c));
  trace_context remote;
  const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  trace_traceparent_parse(tp, strlen(tp), &remote, NULL);
  trace_span r = TRACE_INFO_SPAN_FROM(&remote, "remote_child");
  assert_int_equal(f.l->last_parent_flags, 1);
  assert_true(trace_context_is_sampled(&find(f.l, "remote_child")->c));
  assert_int_equal(f.l->sample_calls, 3);
  trace_span_close(&r);
  trace_span_exit(&root);
  trace_span_close(&child);
  trace_span_close(&root);
  teardown_fixture(&f);
}

/* A span the context layer does not enable has no ids of its own: its children hang under the
 * nearest ancestor that has them, and propagation uses that ancestor's context. */
static void skipped_ancestor(void **state) {
  (void)state;
  fixture f = setup_fixture(&ctx_vt, true);
  trace_span top = TRACE_INFO_SPAN("top");
  trace_span_enter(&top);
  trace_span mid = TRACE_SPAN_AT("hidden", TRACE_LEVEL_INFO, "mid");
  assert_false(trace_span_is_none(&mid)); /* the plain layer wants it */
  trace_span_enter(&mid);
  trace_span leaf = TRACE_INFO_SPAN("leaf");
  const seen *t = find(f.l, "top"), *l = find(f.l, "leaf");
  assert_int_equal(f.l->n, 2); /* mid never reached the layer */
  assert_memory_equal(l->c.trace_id, t->c.trace_id, 16);
  assert_memory_equal(l->parent, t->c.span_id, 8);
  trace_context out;
  assert_int_equal(trace_span_context(&mid, &out), 0);
  assert_memory_equal(out.span_id, t->c.span_id, 8);
  trace_span_exit(&mid);
  trace_span_exit(&top);
  trace_span_close(&leaf);
  trace_span_close(&mid);
  trace_span_close(&top);
  teardown_fixture(&f);
}

/* trace_span_ref_ids gives what trace_span_ref_context does (the tracestate aside) for every
 * kind of span: roots, children, remote parents with and without a tracestate, new traces under
 * a remote-parented span (which still find its tracestate), skipped ancestors. */
static void ids_match_context(const seen *s) {
  assert_true(s->has_ids == s->has);
  if (!s->has)
    return;
  assert_memory_equal(s->ids.trace_id, s->c.trace_id, 16);
  assert_memory_equal(s->ids.span_id, s->c.span_id, 8);
  assert_memory_equal(s->ids.parent_span_id, s->parent, 8);
  assert_int_equal(s->ids.flags, s->c.flags);
  assert_int_equal(s->ids.remote_parent, s->kind == TRACE_SPAN_CONTEXT_REMOTE_PARENT);
  assert_int_equal(s->ids.has_tracestate, s->c.tracestate_len != 0);
  assert_int_equal(s->ids.reserved_, 0);
}

static void ids_in_place(void **state) {
  (void)state;
  fixture f = setup_fixture(&ctx_vt, true);
  trace_header h[] = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                      {"tracestate", "congo=t61rcWkgMzE"}};
  trace_context with_state, without_state;
  assert_int_equal(trace_context_extract(h, 2, &with_state, NULL), 0);
  assert_int_equal(trace_context_extract(h, 1, &without_state, NULL), 0);
  without_state.flags = 0xff;
  trace_span root = TRACE_INFO_SPAN("root");
  trace_span_enter(&root);
  trace_span child = TRACE_INFO_SPAN("child");
  trace_span req = TRACE_INFO_SPAN_FROM(&with_state, "req");
  trace_span_enter(&req);
  trace_span mid = TRACE_SPAN_AT("hidden", TRACE_LEVEL_INFO, "mid"); /* no context of its own */
  trace_span_enter(&mid);
  trace_span inner = TRACE_INFO_SPAN("inner");
  trace_span fresh = TRACE_INFO_SPAN_FROM(TRACE_NEW_TRACE, "fresh");
  trace_span_exit(&mid);
  trace_span_exit(&req);
  trace_span bare = TRACE_INFO_SPAN_FROM(&without_state, "bare");
  trace_span_exit(&root);
  assert_int_equal(f.l->n, 6);
  for (int i = 0; i < f.l->n; i++)
    ids_match_context(&f.l->spans[i]);
  /* The cases the loop covers, as they should be. */
  assert_true(find(f.l, "inner")->ids.has_tracestate && find(f.l, "fresh")->ids.has_tracestate);
  assert_false(find(f.l, "root")->ids.has_tracestate || find(f.l, "bare")->ids.has_tracestate);
  assert_true(find(f.l, "bare")->ids.remote_parent && find(f.l, "req")->ids.remote_parent);
  assert_int_equal(find(f.l, "bare")->ids.flags, 0xff);
  assert_true(zero(find(f.l, "fresh")->ids.parent_span_id, 8));
  assert_null(trace_span_ref_ids(NULL, NULL));
  trace_span spans[] = {bare, fresh, inner, mid, req, child, root};
  for (size_t i = 0; i < sizeof spans / sizeof *spans; i++)
    trace_span_close(&spans[i]);
  teardown_fixture(&f);
  /* Without a context layer, no span has ids. */
  f = setup_fixture(&ctx_vt, false);
  trace_span s = TRACE_INFO_SPAN("s");
  assert_false(find(f.l, "s")->has_ids);
  trace_span_close(&s);
  teardown_fixture(&f);
}

static void without_contexts(void **state) {
  (void)state;
  trace_context out;
  /* A registry without a context layer: spans have no ids, and nothing is paid for them. */
  fixture f = setup_fixture(&ctx_vt, false);
  trace_span s = TRACE_INFO_SPAN("s");
  assert_false(find(f.l, "s")->has);
  assert_int_equal(trace_span_context(&s, &out), TRACE_ENOTSUP);
  assert_false(trace_context_is_valid(&out));
  trace_context remote;
  const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  trace_traceparent_parse(tp, strlen(tp), &remote, NULL);
  trace_span r = TRACE_INFO_SPAN_FROM(&remote, "r"); /* still a span, a local root */
  assert_false(trace_span_is_none(&r));
  trace_span_close(&r);
  trace_span_close(&s);
  teardown_fixture(&f);
  /* A subscriber that keeps no contexts (the capture one): TRACE_ENOTSUP, and its log shows the
   * remote-parented span as a root. */
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
  TRACE_WITH_DEFAULT(trace_capture_dispatch(cap)) {
    trace_span c = TRACE_INFO_SPAN_FROM(&remote, "c");
    assert_int_equal(trace_span_context(&c, &out), TRACE_ENOTSUP);
    /* Locally, a span with a remote parent is where TRACE_SPAN would put it. */
    trace_span_enter(&c);
    trace_span d = TRACE_INFO_SPAN_FROM(&remote, "d");
    trace_span_close(&d);
    trace_span_exit(&c);
    trace_span_close(&c);
  }
  assert_text_contains(trace_capture_log(cap), "new 1 c parent=-\n");
  assert_text_contains(trace_capture_log(cap), "new 2 d parent=1\n");
  trace_capture_free(cap);
  trace_span none = trace_span_none();
  assert_int_equal(trace_span_context(&none, &out), TRACE_ECLOSED);
}

/* ---------------------------------------------------------------------------------------- */
/* The doors this work added for layers outside libtrace: a span's values as one value set,
 * and the calling thread's number and name. */

typedef struct values_seen {
  int calls;
  uint32_t count;
  int64_t id;
  char method[16];
  bool status_empty;
} values_seen;

static void collect_values(void *arg, const trace_valueset *vs) {
  values_seen *v = arg;
  v->calls++;
  v->count = vs->count;
  assert_null(vs->index);
  assert_string_equal(trace_valueset_name(vs, 0), "method");
  snprintf(v->method, sizeof v->method, "%.*s", (int)vs->values[0].as.str.len,
           vs->values[0].as.str.ptr);
  v->id = vs->values[1].as.i64;
  v->status_empty = vs->values[2].type == TRACE_VALUE_EMPTY;
}

static values_seen closing_values;
static void on_close_values(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)self;
  trace_span_ref_values(trace_ctx_span(ctx, id), collect_values, &closing_values);
}

static void span_ref_values(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {.struct_size = sizeof vt, .on_close = on_close_values};
  trace_registry *r = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(r, trace_layer_new(&vt, NULL, 0, 0), NULL), 0);
  trace_dispatch *d = trace_registry_dispatch(r);
  TRACE_WITH_DEFAULT(d) {
    char method[8] = "GET";
    trace_span s = TRACE_INFO_SPAN("req", TF(method, (const char *)method), TF(id, 7),
                                   TF(status, TRACE_EMPTY), TF(later, TRACE_EMPTY));
    strcpy(method, "XXX"); /* the registry keeps its own copy */
    TRACE_RECORD(&s, id, 9);
    trace_span_close(&s);
  }
  trace_dispatch_release(d);
  assert_int_equal(closing_values.calls, 1);
  assert_int_equal(closing_values.count, 4);
  assert_string_equal(closing_values.method, "GET");
  assert_int_equal(closing_values.id, 9);
  assert_true(closing_values.status_empty);
  trace_span_ref_values(NULL, collect_values, &closing_values); /* no-ops */
  assert_int_equal(closing_values.calls, 1);
}

static void *thread_identity(void *arg) {
  uint32_t *out = arg;
  out[0] = trace_thread_id();
  trace_thread_set_name("named-one");
  out[1] = strcmp(trace_thread_name(), "named-one") == 0;
  out[2] = trace_thread_id() == out[0];
  return NULL;
}

static void thread_identity_doors(void **state) {
  (void)state;
  assert_int_equal(trace_thread_id(), 1); /* the main thread */
  assert_string_equal(trace_thread_name(), "main");
  uint32_t got[3];
  pthread_t t;
  pthread_create(&t, NULL, thread_identity, got);
  pthread_join(t, NULL);
  assert_true(got[0] > 1);
  assert_true(got[1]);
  assert_true(got[2]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ids_and_inheritance), cmocka_unit_test(remote_parent),
      cmocka_unit_test(remote_not_sampled),  cmocka_unit_test(sampler_decides),
      cmocka_unit_test(skipped_ancestor),    cmocka_unit_test(ids_in_place),
      cmocka_unit_test(without_contexts),
      cmocka_unit_test(span_ref_values),     cmocka_unit_test(thread_identity_doors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
