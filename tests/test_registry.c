/* The registry and its layers: span lifecycle and reference counting, per-layer filtering and
 * the view of the span tree each layer gets, ids that go stale, cross-thread use, memory that
 * returns, and concurrency (TSan). */
#include <pthread.h>
#include <stdlib.h>

#include "helpers.h"
#include "trace/registry.h"

/* A layer that writes what it sees into a text log, using the context API to describe spans. */
typedef struct recorder {
  char name[8];
  pthread_mutex_t lock;
  char log[65536];
  size_t len;
  int closes;
  uint64_t last_busy, last_idle;
  int timing_seen;
} recorder;

static void rec_printf(recorder *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_printf(recorder *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&r->lock);
  int n = vsnprintf(r->log + r->len, sizeof r->log - r->len, fmt, ap);
  if (n > 0 && (size_t)n < sizeof r->log - r->len)
    r->len += (size_t)n;
  pthread_mutex_unlock(&r->lock);
  va_end(ap);
}

/* "root>child>leaf" as this layer sees it. */
static void scope_text(const trace_ctx *ctx, const trace_span_ref *leaf, char *out, size_t cap) {
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

static void rec_new_span(void *self, const trace_span_attrs *a, uint64_t id, const trace_ctx *ctx) {
  recorder *r = self;
  (void)id;
  char scope[256];
  scope_text(ctx, trace_ctx_new_span_parent(ctx, a), scope, sizeof scope);
  int *ext = trace_span_ref_ext(trace_ctx_span(ctx, id), ctx);
  if (ext) {
    assert_int_equal(*ext, 0); /* extensions start zeroed */
    *ext = 7;
  }
  rec_printf(r, "%s:new %s in %s\n", r->name, a->meta->name, scope);
}

static void rec_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  recorder *r = self;
  char scope[256], msg[128];
  scope_text(ctx, trace_ctx_event_span(ctx, ev), scope, sizeof scope);
  trace_event_message(ev, msg, sizeof msg);
  rec_printf(r, "%s:event %s %s in %s\n", r->name, trace_level_name(ev->meta->level), msg, scope);
}

static void rec_enter(void *self, uint64_t id, const trace_ctx *ctx) {
  recorder *r = self;
  rec_printf(r, "%s:enter %s\n", r->name, trace_span_ref_meta(trace_ctx_span(ctx, id))->name);
}

static void rec_exit(void *self, uint64_t id, const trace_ctx *ctx) {
  recorder *r = self;
  rec_printf(r, "%s:exit %s\n", r->name, trace_span_ref_meta(trace_ctx_span(ctx, id))->name);
}

static void rec_text(void *c, const char *name, const char *text, size_t len) {
  recorder *r = c;
  rec_printf(r, " %s=%.*s", name, (int)len, text);
}

static void rec_close(void *self, uint64_t id, const trace_ctx *ctx) {
  recorder *r = self;
  const trace_span_ref *s = trace_ctx_span(ctx, id);
  int *ext = trace_span_ref_ext(s, ctx);
  assert_true(!ext || *ext == 7);
  rec_printf(r, "%s:close %s", r->name, trace_span_ref_meta(s)->name);
  trace_visitor v = {.struct_size = sizeof v, .on_text = rec_text};
  trace_span_ref_visit(s, &v, r);
  rec_printf(r, "\n");
  trace_span_timing t;
  if (trace_span_ref_timing(s, &t)) {
    r->timing_seen = 1;
    r->last_busy = t.busy_ns;
    r->last_idle = t.idle_ns;
  }
  pthread_mutex_lock(&r->lock);
  r->closes++;
  pthread_mutex_unlock(&r->lock);
}

static void rec_record(void *self, uint64_t id, const trace_valueset *vs, const trace_ctx *ctx) {
  recorder *r = self;
  rec_printf(r, "%s:record %s", r->name, trace_span_ref_meta(trace_ctx_span(ctx, id))->name);
  trace_visitor v = {.struct_size = sizeof v, .on_text = rec_text};
  trace_valueset_visit(vs, &v, r);
  rec_printf(r, "\n");
}

static void rec_follows(void *self, uint64_t id, uint64_t follows, const trace_ctx *ctx) {
  recorder *r = self;
  uint64_t ids[4];
  size_t n = trace_span_ref_follows(trace_ctx_span(ctx, id), ids, 4);
  assert_int_equal(ids[n - 1], follows);
  rec_printf(r, "%s:follows %s <- %s (%zu)\n", r->name,
             trace_span_ref_meta(trace_ctx_span(ctx, id))->name,
             trace_span_ref_meta(trace_ctx_span(ctx, follows))->name, n);
}

static const trace_layer_vtable recorder_vtable = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_new_span = rec_new_span,
    .on_record = rec_record,
    .on_follows_from = rec_follows,
    .on_event = rec_event,
    .on_enter = rec_enter,
    .on_exit = rec_exit,
    .on_close = rec_close,
};

static recorder *recorder_new(const char *name) {
  recorder *r = calloc(1, sizeof *r);
  snprintf(r->name, sizeof r->name, "%s", name);
  pthread_mutex_init(&r->lock, NULL);
  return r;
}

static void recorder_free(recorder *r) {
  pthread_mutex_destroy(&r->lock);
  free(r);
}

static trace_layer *recorder_layer(recorder *r, unsigned flags) {
  return trace_layer_new(&recorder_vtable, r, sizeof(int), flags);
}

/* Installs a registry as this thread's default for a test; returns it for stats. */
static trace_dispatch *scoped_registry(trace_registry *reg, trace_default_guard *g) {
  trace_dispatch *d = trace_registry_dispatch(reg);
  assert_non_null(d);
  *g = trace_set_default(d);
  return d;
}

static void lifecycle_and_refcounts(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(reg, recorder_layer(a, 0), NULL), 0);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);

  trace_span parent = TRACE_INFO_SPAN("parent", TF(k, "v"));
  trace_span_enter(&parent);
  trace_span child = TRACE_INFO_SPAN("child");
  trace_span_exit(&parent);
  trace_span_close(&parent); /* the child keeps it alive */
  assert_int_equal(a->closes, 0);
  trace_span_enter(&child);
  TRACE_INFO("in child");
  trace_span_exit(&child);
  trace_span_close(&child); /* closes child, then parent */
  assert_int_equal(a->closes, 2);
  assert_text_equal(a->log, "A:new parent in -\n"
                            "A:enter parent\n"
                            "A:new child in parent\n"
                            "A:exit parent\n"
                            "A:enter child\n"
                            "A:event INFO in child in parent>child\n"
                            "A:exit child\n"
                            "A:close child\n"
                            "A:close parent k=v\n");
  trace_registry_stats st = trace_registry_get_stats(trace_dispatch_self(d));
  assert_int_equal(st.spans_live, 0);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

/* A layer with TRACE_LAYER_CLOSE_IF_EXT_USED: its on_event counts events in the span's
 * extension, and its on_close logs the span; only spans whose extension it obtained close for
 * it. Its filter, and a layer without the flag, hear of every close. */
static void ext_user_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  (void)self;
  int *n = trace_span_ref_ext(trace_ctx_event_span(ctx, ev), ctx);
  if (n)
    __atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
}
static void ext_user_close(void *self, uint64_t id, const trace_ctx *ctx) {
  recorder *r = self;
  const trace_span_ref *s = trace_ctx_span(ctx, id);
  int *n = trace_span_ref_ext(s, ctx);
  rec_printf(r, "%s:close %s events=%d\n", r->name, trace_span_ref_meta(s)->name, *n);
  *n = 0; /* TRACE_LAYER_EXT_KEPT: left clean for the slot's next span */
}
static const trace_layer_vtable ext_user_vtable = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_event = ext_user_event,
    .on_close = ext_user_close,
};
static void counting_filter_close(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)id;
  (void)ctx;
  __atomic_add_fetch((int *)self, 1, __ATOMIC_RELAXED);
}
static const trace_filter_vtable counting_filter_vtable = {
    .struct_size = sizeof(trace_filter_vtable),
    .on_close = counting_filter_close,
};
typedef struct span_and_dispatch {
  trace_span *span;
  trace_dispatch *d;
} span_and_dispatch;
static void *event_in(void *arg) {
  span_and_dispatch *sd = arg;
  trace_default_guard g = trace_set_default(sd->d); /* the test's default is per thread */
  TRACE_IN_SPAN(sd->span) { TRACE_INFO("on another thread"); }
  trace_default_guard_restore(&g);
  return NULL;
}

static void close_only_for_spans_whose_extension_was_used(void **state) {
  (void)state;
  recorder *a = recorder_new("A"), *b = recorder_new("B"), *c = recorder_new("C");
  int filter_closes = 0;
  trace_registry *reg = trace_registry_new();
  unsigned flags = TRACE_LAYER_EXT_KEPT | TRACE_LAYER_CLOSE_IF_EXT_USED;
  assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(&ext_user_vtable, a, sizeof(int), flags), NULL), 0);
  assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(&ext_user_vtable, b, sizeof(int), flags),
                                            trace_filter_new(&counting_filter_vtable, &filter_closes)),
                   0);
  assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(&ext_user_vtable, c, sizeof(int), 0), NULL), 0);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  for (int round = 0; round < 2; round++) { /* the second round reuses the slots */
    trace_span quiet = TRACE_INFO_SPAN("quiet");
    trace_span_enter(&quiet); /* no event in it: its extension is not used */
    trace_span_exit(&quiet);
    trace_span_close(&quiet);
    trace_span busy = TRACE_INFO_SPAN("busy");
    TRACE_IN_SPAN(&busy) { TRACE_INFO("one"); }
    trace_span_close(&busy);
    trace_span elsewhere = TRACE_INFO_SPAN("elsewhere");
    pthread_t t;
    span_and_dispatch sd = {&elsewhere, d};
    assert_int_equal(pthread_create(&t, NULL, event_in, &sd), 0);
    pthread_join(t, NULL);
    trace_span_close(&elsewhere); /* used on another thread, closed here */
  }
  assert_text_equal(a->log, "A:close busy events=1\nA:close elsewhere events=1\n"
                            "A:close busy events=1\nA:close elsewhere events=1\n");
  assert_text_equal(b->log, "B:close busy events=1\nB:close elsewhere events=1\n"
                            "B:close busy events=1\nB:close elsewhere events=1\n");
  assert_int_equal(filter_closes, 6); /* B's filter: every span */
  assert_text_equal(c->log, "C:close quiet events=0\nC:close busy events=1\nC:close elsewhere events=1\n"
                            "C:close quiet events=0\nC:close busy events=1\nC:close elsewhere events=1\n");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
  recorder_free(b);
  recorder_free(c);
}

static void entered_span_survives_close(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span s = TRACE_INFO_SPAN("s");
  trace_span copy = s;
  trace_span_enter(&s);
  trace_span_close(&s); /* a bug in user code: closed while entered */
  TRACE_INFO("still inside");
  trace_span_exit(&copy); /* the entry's reference was the last one */
  assert_int_equal(a->closes, 1);
  /* The copy is stale now: every operation is a harmless no-op. */
  trace_span_enter(&copy);
  trace_span_exit(&copy);
  assert_int_equal(TRACE_RECORD(&copy, x, 1), TRACE_ENOFIELD);
  trace_span stale = trace_span_clone(&copy);
  assert_true(trace_span_is_none(&stale));
  trace_span forged = copy;
  trace_span_close(&copy);
  /* Forged ids. */
  forged.id = 0x123456789abcdefull;
  trace_span_enter(&forged);
  trace_span_close(&forged);
  assert_int_equal(a->closes, 1);
  assert_true(trace_registry_get_stats(trace_dispatch_self(d)).stale_ids >= 4);
  assert_text_contains(a->log, "A:event INFO still inside in s\n");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

/* An id one or two generations ahead of a closed span's: the first names the free slot, the
 * second the span that will take it. Neither may reach the slot (the first once closed the free
 * slot a second time, and the next two spans shared one id). */
static void forged_ids_never_reach_a_free_slot(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span victim = TRACE_INFO_SPAN("victim");
  trace_span ahead1 = victim, ahead2 = victim;
  ahead1.id += (uint64_t)1 << 32;
  ahead2.id += (uint64_t)2 << 32;
  trace_span_close(&victim);
  uint64_t stale = trace_registry_get_stats(trace_dispatch_self(d)).stale_ids;
  for (int i = 0; i < 2; i++) {
    trace_span *f = i ? &ahead2 : &ahead1;
    trace_span_enter(f);
    TRACE_RECORD(f, k, 1);
    trace_span copy = trace_span_clone(f);
    assert_true(trace_span_is_none(&copy));
    trace_span_follows_from(f, f);
    trace_span_exit(f);
    trace_span_close(f);
  }
  assert_true(trace_registry_get_stats(trace_dispatch_self(d)).stale_ids > stale);
  assert_int_equal(a->closes, 1);
  trace_span s1 = TRACE_INFO_SPAN("s1");
  trace_span s2 = TRACE_INFO_SPAN("s2");
  assert_true(s1.id != s2.id);
  trace_span_close(&s1);
  assert_int_equal(a->closes, 2);
  trace_span_enter(&s2); /* still a span of its own */
  trace_span cur = trace_span_current();
  assert_true(cur.id == s2.id);
  trace_span_close(&cur);
  trace_span_exit(&s2);
  trace_span_close(&s2);
  assert_int_equal(a->closes, 3);
  assert_int_equal(trace_registry_get_stats(trace_dispatch_self(d)).spans_live, 0);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

/* Copies of one handle closed twice (a misuse) free the span early; that must stay its own
 * problem: the slot's next span keeps its parent link, references and place on the stack. */
static void handle_copies_closed_twice_hurt_no_other_span(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  /* Global: a global default is never freed by references (an extra close of a handle on a
   * thread-scoped dispatcher also drops a reference on the dispatcher: see trace_span_close). */
  assert_int_equal(trace_registry_install(reg), 0);
  /* A parent closed under its live child; its slot goes to x. */
  trace_span p = TRACE_INFO_SPAN("p");
  trace_span p_copy = p;
  trace_span child = TRACE_SPAN_IN(&p, TRACE_LEVEL_INFO, "child");
  trace_span_close(&p);
  trace_span_close(&p_copy);
  trace_span x = TRACE_INFO_SPAN("x");
  trace_span_close(&child); /* must not drop a reference on x */
  trace_span_enter(&x);
  trace_span cur = trace_span_current();
  assert_true(cur.id == x.id);
  trace_span_close(&cur);
  trace_span_exit(&x);
  assert_null(strstr(a->log, "A:close x"));
  trace_span_close(&x);
  assert_text_contains(a->log, "A:close x");
  /* A span freed while entered: its entry no longer counts as the current span. */
  trace_span e = TRACE_INFO_SPAN("e");
  trace_span e_copy = e;
  trace_span_enter(&e);
  trace_span_close(&e);
  trace_span_close(&e_copy);
  trace_span y = TRACE_INFO_SPAN("y"); /* takes e's slot; not entered */
  trace_span none = trace_span_current();
  assert_true(trace_span_is_none(&none));
  trace_span_close(&y);
  assert_int_equal(trace_registry_get_stats(reg).spans_live, 0);
  trace_shutdown();
  recorder_free(a);
}

static void reentry_and_stray_exit(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span s = TRACE_INFO_SPAN("s");
  trace_span t = TRACE_INFO_SPAN("t");
  trace_span_exit(&s); /* not entered: no-op */
  trace_span_enter(&s);
  trace_span_enter(&t);
  trace_span_enter(&s); /* re-enter */
  trace_span_exit(&s);  /* removes the last entry of s: t is current again */
  TRACE_INFO("x");
  trace_span_exit(&t);
  trace_span_exit(&s);
  trace_span_exit(&s); /* no longer entered: no-op */
  trace_span_close(&t);
  trace_span_close(&s);
  assert_text_equal(a->log, "A:new s in -\nA:new t in -\n"
                            "A:enter s\nA:enter t\nA:enter s\nA:exit s\n"
                            "A:event INFO x in t\n"
                            "A:exit t\nA:exit s\n"
                            "A:close t\nA:close s\n");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

static void per_layer_filters(void **state) {
  (void)state;
  recorder *info = recorder_new("I");
  recorder *debug = recorder_new("D");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(info, 0), trace_filter_level(TRACE_LEVEL_INFO));
  trace_registry_add_layer(reg, recorder_layer(debug, 0), trace_filter_level(TRACE_LEVEL_DEBUG));
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  assert_int_equal(trace_max_level(), TRACE_LEVEL_DEBUG);
  trace_span outer = TRACE_INFO_SPAN("outer");
  trace_span_enter(&outer);
  trace_span mid = TRACE_DEBUG_SPAN("mid");
  trace_span_enter(&mid);
  TRACE_INFO("info event");
  TRACE_DEBUG("debug event");
  TRACE_TRACE("trace event");
  trace_span_exit(&mid);
  trace_span_close(&mid);
  trace_span_exit(&outer);
  trace_span_close(&outer);
  /* The INFO layer never hears of "mid" and sees the INFO event directly under "outer". */
  assert_text_equal(info->log, "I:new outer in -\n"
                               "I:enter outer\n"
                               "I:event INFO info event in outer\n"
                               "I:exit outer\n"
                               "I:close outer\n");
  assert_text_equal(debug->log, "D:new outer in -\n"
                                "D:enter outer\n"
                                "D:new mid in outer\n"
                                "D:enter mid\n"
                                "D:event INFO info event in outer>mid\n"
                                "D:event DEBUG debug event in outer>mid\n"
                                "D:exit mid\n"
                                "D:close mid\n"
                                "D:exit outer\n"
                                "D:close outer\n");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(info);
  recorder_free(debug);
}

static bool only_net(void *arg, const trace_metadata *meta) {
  (void)arg;
  return strcmp(meta->target, "net") == 0;
}

static int switch_on;
static bool runtime_switch(void *arg, const trace_metadata *meta) {
  (void)arg;
  (void)meta;
  return __atomic_load_n(&switch_on, __ATOMIC_RELAXED);
}

/* Adding a quiet layer must never silence a loud one, whatever the filter kinds. */
static void quiet_layer_never_silences_loud(void **state) {
  (void)state;
  for (int variant = 0; variant < 4; variant++) {
    recorder *loud = recorder_new("L");
    recorder *quiet = recorder_new("Q");
    trace_registry *reg = trace_registry_new();
    trace_registry_add_layer(reg, recorder_layer(loud, 0), trace_filter_level(TRACE_LEVEL_TRACE));
    trace_filter *qf = NULL;
    switch (variant) {
    case 0: qf = trace_filter_level(TRACE_LEVEL_WARN); break;
    case 1: qf = trace_filter_level(TRACE_LEVEL_OFF); break;
    case 2: qf = trace_filter_callback(only_net, NULL); break;
    case 3: qf = trace_filter_callback_dynamic(runtime_switch, NULL); break;
    }
    trace_registry_add_layer(reg, recorder_layer(quiet, 0), qf);
    trace_default_guard g;
    trace_dispatch *d = scoped_registry(reg, &g);
    assert_int_equal(trace_max_level(), TRACE_LEVEL_TRACE);
    TRACE_TRACE("trace %d", variant);
    TRACE_EVENT_AT("net", TRACE_LEVEL_DEBUG, "net debug");
    char want[64];
    snprintf(want, sizeof want, "L:event TRACE trace %d in -\n", variant);
    assert_text_contains(loud->log, want);
    assert_text_contains(loud->log, "L:event DEBUG net debug in -\n");
    if (variant == 2)
      assert_text_equal(quiet->log, "Q:event DEBUG net debug in -\n");
    else
      assert_text_equal(quiet->log, "");
    trace_default_guard_restore(&g);
    trace_dispatch_release(d);
    recorder_free(loud);
    recorder_free(quiet);
  }
}

static int stash_always, stash_events, stash_spans;
static trace_interest stash_register(void *self, const trace_metadata *m) {
  (void)self, (void)m;
  return stash_always ? TRACE_INTEREST_ALWAYS : TRACE_INTEREST_SOMETIMES;
}
static bool stash_enabled(void *self, const trace_metadata *m, const trace_ctx *c) {
  (void)self, (void)m, (void)c;
  return stash_always;
}
static void stash_event(void *self, const trace_event *e, const trace_ctx *c) {
  (void)self, (void)e, (void)c;
  stash_events++;
}
static void stash_new_span(void *self, const trace_span_attrs *a, uint64_t id, const trace_ctx *c) {
  (void)self, (void)a, (void)id, (void)c;
  stash_spans++;
}
static void stash_hit(void) {
  TRACE_INFO("m");
  trace_span s = TRACE_INFO_SPAN("s");
  trace_span_close(&s);
}

/* enabled() says no to a SOMETIMES callsite; the interest then becomes ALWAYS (enabled() is not
 * asked any more): the next hit is delivered. (The registry kept what that last enabled() said
 * for the dispatch it expected next, and the next hit used it: one lost event and span.) */
static void refused_hit_leaves_no_decision_behind(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {.struct_size = sizeof(trace_layer_vtable),
                                        .register_callsite = stash_register,
                                        .enabled = stash_enabled,
                                        .on_event = stash_event,
                                        .on_new_span = stash_new_span};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&vt, NULL, 0, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  stash_hit();
  assert_int_equal(stash_events + stash_spans, 0);
  stash_always = 1;
  trace_rebuild_interest();
  stash_hit();
  assert_int_equal(stash_events, 1);
  assert_int_equal(stash_spans, 1);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
}

static void registry_filter_and_dynamic_switch(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), trace_filter_callback_dynamic(runtime_switch, NULL));
  trace_registry_set_filter(reg, trace_filter_level(TRACE_LEVEL_INFO));
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  assert_int_equal(trace_max_level(), TRACE_LEVEL_INFO);
  __atomic_store_n(&switch_on, 0, __ATOMIC_RELAXED);
  TRACE_INFO("off");
  __atomic_store_n(&switch_on, 1, __ATOMIC_RELAXED);
  TRACE_INFO("on");
  TRACE_DEBUG("debug is above the registry filter");
  assert_text_equal(a->log, "A:event INFO on in -\n");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

static void target_table_filter(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_target_level table[] = {{"app", TRACE_LEVEL_DEBUG}, {"app::db", TRACE_LEVEL_ERROR}};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), trace_filter_targets(table, 2, TRACE_LEVEL_WARN));
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  TRACE_EVENT_AT("app", TRACE_LEVEL_DEBUG, "1 app debug");
  TRACE_EVENT_AT("app.net", TRACE_LEVEL_DEBUG, "2 app.net debug");
  TRACE_EVENT_AT("app/net", TRACE_LEVEL_DEBUG, "3 app/net debug");
  TRACE_EVENT_AT("app::db", TRACE_LEVEL_WARN, "no: app::db is ERROR");
  TRACE_EVENT_AT("app::db::pool", TRACE_LEVEL_ERROR, "4 app::db::pool error");
  TRACE_EVENT_AT("app2", TRACE_LEVEL_INFO, "no: app2 is not under app");
  TRACE_EVENT_AT("other", TRACE_LEVEL_WARN, "5 default warn");
  assert_text_equal(a->log, "A:event DEBUG 1 app debug in -\n"
                            "A:event DEBUG 2 app.net debug in -\n"
                            "A:event DEBUG 3 app/net debug in -\n"
                            "A:event ERROR 4 app::db::pool error in -\n"
                            "A:event WARN 5 default warn in -\n");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

static void follows_record_and_copies(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  char buf[32];
  strcpy(buf, "original");
  trace_span x = TRACE_INFO_SPAN("x", TF(name, buf), TF(status, TRACE_EMPTY), TF(n, TRACE_EMPTY));
  trace_span y = TRACE_INFO_SPAN("y");
  strcpy(buf, "CHANGED"); /* the registry kept its own copy */
  assert_int_equal(trace_span_follows_from(&y, &x), 0);
  strcpy(buf, "recorded");
  TRACE_RECORD(&x, status, buf);
  strcpy(buf, "CHANGED AGAIN");
  /* Many records of growing strings: the arena compacts instead of growing without end. */
  for (int i = 0; i < 200; i++) {
    char v[64];
    snprintf(v, sizeof v, "value-%d-%s", i, i % 2 ? "odd-and-longer-than-before" : "even");
    TRACE_RECORD(&x, n, v);
  }
  TRACE_RECORD(&x, n, 42);
  trace_span_close(&y);
  trace_span_close(&x);
  assert_text_contains(a->log, "A:follows y <- x (1)\n");
  assert_text_contains(a->log, "A:record x status=recorded\n");
  assert_text_contains(a->log, "A:close x name=original status=recorded n=42\n");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

/* trace_span_ref_values: every declared field in order, empty ones as EMPTY, latest values. */
static char values_seen[256];
static void describe_values(void *arg, const trace_valueset *vs) {
  (void)arg;
  values_seen[0] = '\0';
  for (uint32_t i = 0; i < vs->count; i++) {
    char text[64];
    if (vs->values[i].type == TRACE_VALUE_EMPTY)
      snprintf(text, sizeof text, "%s:- ", trace_valueset_name(vs, i));
    else
      snprintf(text, sizeof text, "%s:%u ", trace_valueset_name(vs, i), (unsigned)vs->values[i].type);
    strncat(values_seen, text, sizeof values_seen - strlen(values_seen) - 1);
  }
}
static void values_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  (void)self;
  trace_span_ref_values(trace_ctx_event_span(ctx, ev), describe_values, NULL);
}

static void span_values_as_one_set(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {.struct_size = sizeof vt, .on_event = values_event};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&vt, NULL, 0, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span s = TRACE_INFO_SPAN("s", TF(a, 1), TF(b, TRACE_EMPTY), TF(c, "x"));
  TRACE_IN_SPAN(&s) {
    TRACE_INFO("look");
    assert_string_equal(values_seen, "a:1 b:- c:5 ");
    TRACE_RECORD(&s, b, (bool)true);
    TRACE_INFO("again");
    assert_string_equal(values_seen, "a:1 b:4 c:5 ");
  }
  trace_span_close(&s);
  trace_span_ref_values(NULL, describe_values, NULL); /* harmless */
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
}

/* trace_filter_set_scope_idle: while the byte is set, the filter's enter/exit are not called. */
static int scope_calls;
static void count_scope(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)self, (void)id, (void)ctx;
  scope_calls++;
}

static void scope_idle_hint(void **state) {
  (void)state;
  static const trace_filter_vtable fv = {
      .struct_size = sizeof fv, .on_enter = count_scope, .on_exit = count_scope};
  static uint8_t idle = 1;
  trace_filter *f = trace_filter_new(&fv, NULL);
  trace_filter_set_scope_idle(f, &idle);
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  trace_registry_set_filter(reg, f);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span s = TRACE_INFO_SPAN("s");
  TRACE_IN_SPAN(&s) {}
  assert_int_equal(scope_calls, 0);
  __atomic_store_n(&idle, 0, __ATOMIC_RELAXED);
  TRACE_IN_SPAN(&s) {}
  assert_int_equal(scope_calls, 2);
  trace_span_close(&s);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

static size_t fmt_answer(char *buf, size_t cap, const void *arg) {
  return (size_t)snprintf(buf, cap, "answer=%d", *(const int *)arg);
}

/* Strings that outgrow the inline arena while a span's values are being stored, with a
 * formatted value among them: every value arrives intact. */
static void values_outgrow_the_arena(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  int answer = 42;
  const char *s1 = "first string that is fairly long, sixty bytes or so, really";
  const char *s2 = "second string that is fairly long as well, to overflow it!!";
  trace_span x = TRACE_INFO_SPAN("x", TF(a, s1), TF_FMT(f, fmt_answer, &answer), TF(b, s2),
                                 TF(c, 7), TF(d, "short"), TF(e, s1));
  trace_span_close(&x);
  char want[512];
  snprintf(want, sizeof want, "A:close x a=%s f=answer=42 b=%s c=7 d=short e=%s\n", s1, s2, s1);
  assert_text_contains(a->log, want);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

/* Callbacks that fail or claim more than they wrote are stored as what they wrote. */
static void broken_fmt_callbacks_are_stored_safely(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span x = TRACE_INFO_SPAN("x", TF_FMT(e, fmt_fails, NULL), TF_FMT(h, fmt_claims_huge, NULL),
                                 TF_FMT(m, fmt_claims_more, NULL), TF(y, TRACE_EMPTY));
  trace_span_record(&x, "y", trace_value_fmt(fmt_fills_without_nul, NULL));
  trace_span_close(&x);
  char ys[267];
  memset(ys, 'y', 266);
  ys[266] = '\0';
  char want[512];
  snprintf(want, sizeof want, "A:close x e=<format error> h=abc m=hi y=%s\n", ys);
  assert_text_contains(a->log, want);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

/* Spans with more fields than a slot holds inline, alternating with small ones in the same slots:
 * no allocation once warm (the heap array used to be freed by each small span and allocated
 * again by the next big one). */
static void mixed_span_sizes_allocate_nothing_when_warm(void **state) {
  (void)state;
  static const trace_layer_vtable quiet = {.struct_size = sizeof(trace_layer_vtable)};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&quiet, NULL, 0, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  long before = 0;
  for (int round = 0; round < 2; round++) {
    if (round == 1)
      before = allocations_so_far();
    for (int i = 0; i < 10000; i++) {
      trace_span big = TRACE_INFO_SPAN("big", TF(a, 1), TF(b, 2), TF(c, 3), TF(d, 4), TF(e, 5),
                                       TF(f, "six"));
      trace_span_close(&big);
      trace_span small = TRACE_INFO_SPAN("small", TF(a, 1));
      trace_span_close(&small);
    }
  }
  assert_int_equal(allocations_so_far() - before, 0);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
}

static int flush_events;
static void flush_logs(void *self) {
  (void)self;
  TRACE_WARN("logged from a layer's flush"); /* must not come back into the registry */
}
static void flush_count_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  (void)self, (void)ev, (void)ctx;
  flush_events++;
}

/* trace_registry_get_stats counts the spans ever created; trace_registry_flush is inside
 * libtrace like trace_flush, so a layer that logs from flush is not dispatched to. */
static void stats_and_flush(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {.struct_size = sizeof(trace_layer_vtable),
                                        .on_event = flush_count_event,
                                        .flush = flush_logs};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&vt, NULL, 0, 0), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span kept = TRACE_INFO_SPAN("kept");
  for (int i = 0; i < 1000; i++) {
    trace_span s = TRACE_INFO_SPAN("s");
    trace_span_close(&s);
  }
  trace_registry_stats st = trace_registry_get_stats(reg);
  assert_int_equal(st.spans_created, 1001);
  assert_int_equal(st.spans_live, 1);
  trace_span_close(&kept);
  TRACE_INFO("counted");
  assert_int_equal(flush_events, 1);
  trace_registry_flush(reg);
  trace_flush();
  assert_int_equal(flush_events, 1);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
}

static void flush_rebuilds(void *self) {
  (void)self;
  trace_rebuild_interest(); /* from inside libtrace: deferred */
}
static void close_logs(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)self, (void)id, (void)ctx;
  TRACE_WARN("a callsite first hit while the registry is destroyed");
}

/* trace_shutdown destroys the registry under the dispatch lock: a layer that asks for a rebuild
 * from flush, or hits a new callsite from on_close there, must not make it wait for itself. */
static void shutdown_with_busy_layer_callbacks(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {.struct_size = sizeof(trace_layer_vtable),
                                        .on_close = close_logs,
                                        .flush = flush_rebuilds};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&vt, NULL, 0, 0), NULL);
  assert_int_equal(trace_registry_install(reg), 0);
  trace_span open = TRACE_INFO_SPAN("still open at shutdown");
  trace_flush();
  trace_shutdown(); /* hung here */
  trace_span_close(&open);
  TRACE_INFO("after shutdown: a no-op");
}

static void timing_is_measured(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, TRACE_LAYER_TIMING), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span s = TRACE_INFO_SPAN("timed");
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, NULL); /* idle */
  trace_span_enter(&s);
  nanosleep(&ts, NULL); /* busy */
  trace_span_exit(&s);
  trace_span_close(&s);
  assert_true(a->timing_seen);
  assert_true(a->last_busy >= 1000000);
  assert_true(a->last_idle >= 1000000);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  recorder_free(a);
}

/* Create on one thread, enter on a second, close on a third. */
static void *enter_here(void *arg) {
  trace_span *s = arg;
  trace_span_enter(s);
  TRACE_INFO("worker");
  trace_span_exit(s);
  return NULL;
}
static void *close_here(void *arg) {
  trace_span_close(arg);
  return NULL;
}

static void cross_thread_use(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  assert_int_equal(trace_registry_install(reg), 0);
  trace_span s = TRACE_INFO_SPAN("job");
  pthread_t t;
  pthread_create(&t, NULL, enter_here, &s);
  pthread_join(t, NULL);
  pthread_create(&t, NULL, close_here, &s);
  pthread_join(t, NULL);
  assert_text_equal(a->log, "A:new job in -\nA:enter job\nA:event INFO worker in job\nA:exit job\n"
                            "A:close job\n");
  trace_shutdown();
  recorder_free(a);
}

/* A thread that exits with a span still entered gives its reference back. */
static void *exit_while_entered(void *arg) {
  trace_span *s = arg;
  trace_span_enter(s);
  trace_span_close(s);
  return NULL; /* never exits the span */
}

static void thread_exit_releases_entries(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, recorder_layer(a, 0), NULL);
  assert_int_equal(trace_registry_install(reg), 0);
  trace_span s = TRACE_INFO_SPAN("abandoned");
  pthread_t t;
  pthread_create(&t, NULL, exit_while_entered, &s);
  pthread_join(t, NULL);
  assert_int_equal(a->closes, 1);
  trace_shutdown();
  recorder_free(a);
}

static void memory_flat_over_a_million_spans(void **state) {
  (void)state;
  for (int layers = 0; layers < 2; layers++) {
    trace_registry *reg = trace_registry_new();
    recorder *a = NULL;
    if (layers) {
      a = recorder_new("A");
      /* A layer without callbacks that would fill the log: only extension and close. */
      static const trace_layer_vtable quiet = {.struct_size = sizeof(trace_layer_vtable)};
      trace_registry_add_layer(reg, trace_layer_new(&quiet, a, 64, 0), NULL);
    }
    trace_default_guard g;
    trace_dispatch *d = scoped_registry(reg, &g);
    trace_registry *r = trace_dispatch_self(d);
    for (int i = 0; i < 1000000; i++) {
      trace_span s = TRACE_INFO_SPAN("churn", TF(i, i), TF(name, "a string value"));
      trace_span_enter(&s);
      trace_span child = TRACE_INFO_SPAN("child");
      trace_span_exit(&s);
      trace_span_close(&s);
      trace_span_close(&child);
    }
    trace_registry_stats st = trace_registry_get_stats(r);
    assert_int_equal(st.spans_live, 0);
    assert_true(st.slots <= 256); /* slots are reused, not accumulated */
    trace_default_guard_restore(&g);
    trace_dispatch_release(d);
    if (a)
      recorder_free(a);
  }
}

/* Eight threads creating, entering, recording and closing spans with a shared parent. */
static trace_span shared_parent;
static void *churn(void *arg) {
  (void)arg;
  for (int i = 0; i < 5000; i++) {
    trace_span s = TRACE_SPAN_IN(&shared_parent, TRACE_LEVEL_INFO, "work", TF(i, i), TF(r, TRACE_EMPTY));
    trace_span_enter(&s);
    trace_span inner = TRACE_DEBUG_SPAN("inner");
    TRACE_RECORD(&s, r, "done");
    trace_span_enter(&inner);
    TRACE_DEBUG("tick");
    trace_span_exit(&inner);
    trace_span_close(&inner);
    trace_span_exit(&s);
    trace_span_close(&s);
  }
  return NULL;
}

static void concurrent_threads(void **state) {
  (void)state;
  static const trace_layer_vtable counting = {.struct_size = sizeof(trace_layer_vtable)};
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&counting, NULL, 16, TRACE_LAYER_TIMING), NULL);
  trace_dispatch *d = trace_registry_dispatch(reg);
  assert_int_equal(trace_set_global_default(d), 0);
  shared_parent = TRACE_INFO_SPAN("parent");
  pthread_t t[8];
  for (int i = 0; i < 8; i++)
    pthread_create(&t[i], NULL, churn, NULL);
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  trace_registry *r = trace_dispatch_self(d);
  assert_int_equal(trace_registry_get_stats(r).spans_live, 1);
  trace_span_close(&shared_parent);
  assert_int_equal(trace_registry_get_stats(r).spans_live, 0);
  trace_dispatch_release(d);
  trace_shutdown();
}

static void configuration_errors(void **state) {
  (void)state;
  assert_int_equal(trace_registry_add_layer(NULL, NULL, trace_filter_level(1)), TRACE_EINVAL);
  assert_int_equal(trace_registry_install(NULL), TRACE_EINVAL);
  trace_registry *reg = trace_registry_new();
  /* A layer constructor that failed: remembered, reported at install, registry freed. */
  assert_int_equal(trace_registry_add_layer(reg, NULL, trace_filter_level(1)), TRACE_EINVAL);
  assert_int_equal(trace_registry_install(reg), TRACE_EINVAL);
  assert_null(trace_global_default());
  /* Too many layers. */
  reg = trace_registry_new();
  static const trace_layer_vtable empty = {.struct_size = sizeof(trace_layer_vtable)};
  for (int i = 0; i < 64; i++)
    assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(&empty, NULL, 0, 0), NULL), 0);
  assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(&empty, NULL, 0, 0), NULL),
                   TRACE_ERANGE);
  trace_registry_free(reg);
  assert_null(trace_layer_new(&empty, NULL, 1 << 20, 0)); /* extension too large */
  assert_null(trace_layer_new(&empty, NULL, 8, 0x100));   /* not a TRACE_LAYER_* flag */
  /* A close that could never be heard: no extension to obtain. */
  assert_null(trace_layer_new(&empty, NULL, 0, TRACE_LAYER_CLOSE_IF_EXT_USED));
  trace_layer_free(trace_layer_new(&empty, NULL, 8, TRACE_LAYER_CLOSE_IF_EXT_USED));
  assert_null(trace_filter_targets(NULL, 1, 3));
  assert_null(trace_filter_callback(NULL, NULL));
  trace_registry_free(NULL);
  trace_layer_free(NULL);
  trace_filter_free(NULL);
}

static void registry_without_layers(void **state) {
  (void)state;
  trace_registry *reg = trace_registry_new();
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span s = TRACE_INFO_SPAN("stored");
  trace_span_enter(&s);
  trace_span cur = trace_span_current();
  assert_int_equal(cur.id, s.id);
  TRACE_INFO("nobody listens");
  trace_span_exit(&s);
  trace_span_close(&cur);
  trace_span_close(&s);
  assert_int_equal(trace_registry_get_stats(trace_dispatch_self(d)).spans_live, 0);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
}

/* Every allocation failing in turn: never a crash, and nothing leaks (LeakSanitizer). */
static void out_of_memory_sweep(void **state) {
  (void)state;
  for (long budget = 0; budget < 40; budget++) {
    recorder *a = recorder_new("A");
    trace_testing_fail_allocations_after(budget);
    trace_registry *reg = trace_registry_new();
    trace_registry_add_layer(reg, recorder_layer(a, 0), trace_filter_level(TRACE_LEVEL_INFO));
    trace_dispatch *d = trace_registry_dispatch(reg);
    if (d) {
      TRACE_WITH_DEFAULT(d) {
        trace_span s = TRACE_INFO_SPAN("s", TF(text, "a value long enough to need the heap arena "
                                                     "because it is longer than ninety-six bytes in "
                                                     "total, which is the inline size"));
        trace_span_enter(&s);
        TRACE_INFO("event");
        trace_span_exit(&s);
        trace_span_close(&s);
      }
      trace_dispatch_release(d);
    }
    trace_testing_fail_allocations_after(-1);
    recorder_free(a);
  }
}

int main(void) {
  if (install_counting_allocator() != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lifecycle_and_refcounts),
      cmocka_unit_test(span_values_as_one_set),
      cmocka_unit_test(scope_idle_hint),
      cmocka_unit_test(entered_span_survives_close),
      cmocka_unit_test(close_only_for_spans_whose_extension_was_used),
      cmocka_unit_test(forged_ids_never_reach_a_free_slot),
      cmocka_unit_test(handle_copies_closed_twice_hurt_no_other_span),
      cmocka_unit_test(reentry_and_stray_exit),
      cmocka_unit_test(per_layer_filters),
      cmocka_unit_test(quiet_layer_never_silences_loud),
      cmocka_unit_test(registry_filter_and_dynamic_switch),
      cmocka_unit_test(refused_hit_leaves_no_decision_behind),
      cmocka_unit_test(target_table_filter),
      cmocka_unit_test(follows_record_and_copies),
      cmocka_unit_test(broken_fmt_callbacks_are_stored_safely),
      cmocka_unit_test(mixed_span_sizes_allocate_nothing_when_warm),
      cmocka_unit_test(stats_and_flush),
      cmocka_unit_test(shutdown_with_busy_layer_callbacks),
      cmocka_unit_test(values_outgrow_the_arena),
      cmocka_unit_test(timing_is_measured),
      cmocka_unit_test(cross_thread_use),
      cmocka_unit_test(thread_exit_releases_entries),
      cmocka_unit_test(memory_flat_over_a_million_spans),
      cmocka_unit_test(concurrent_threads),
      cmocka_unit_test(configuration_errors),
      cmocka_unit_test(registry_without_layers),
      cmocka_unit_test(out_of_memory_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
