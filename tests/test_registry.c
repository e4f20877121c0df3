/* The registry: span lifecycle and reference counting, handles and ids that go stale, extensions,
 * follows-from, values and timing, stats, flush and shutdown, configuration errors. */
#include "recorder.h"

static void lifecycle_and_refcounts(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_default_guard g;
  trace_dispatch *d = scoped_recorder(a, &g);

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
  scoped_registry_end_closed(d, &g, a,
                             "A:new parent in -\n"
                             "A:enter parent\n"
                             "A:new child in parent\n"
                             "A:exit parent\n"
                             "A:enter child\n"
                             "A:event INFO in child in parent>child\n"
                             "A:exit child\n"
                             "A:close child\n"
                             "A:close parent k=v\n");
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
  text_log_printf(&r->log, "%s:close %s events=%d\n", r->name, trace_span_ref_meta(s)->name,
                  *n);
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

/* Twice (the second round reuses the slots): a span whose extension is not used, one with an
 * event in it, and one with an event in it on another thread, closed here. */
static void spans_quiet_and_busy(trace_dispatch *d) {
  for (int round = 0; round < 2; round++) {
    trace_span quiet = TRACE_INFO_SPAN("quiet");
    trace_span_enter(&quiet);
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
    trace_span_close(&elsewhere);
  }
}

static void close_only_for_spans_whose_extension_was_used(void **state) {
  (void)state;
  recorder *a = recorder_new("A"), *b = recorder_new("B"), *c = recorder_new("C");
  int filter_closes = 0;
  trace_registry *reg = trace_registry_new();
  unsigned flags = TRACE_LAYER_EXT_KEPT | TRACE_LAYER_CLOSE_IF_EXT_USED;
  assert_int_equal(
      trace_registry_add_layer(reg, trace_layer_new(&ext_user_vtable, a, sizeof(int), flags), NULL),
      0);
  assert_int_equal(
      trace_registry_add_layer(reg, trace_layer_new(&ext_user_vtable, b, sizeof(int), flags),
                               trace_filter_new(&counting_filter_vtable, &filter_closes)),
      0);
  assert_int_equal(
      trace_registry_add_layer(reg, trace_layer_new(&ext_user_vtable, c, sizeof(int), 0), NULL), 0);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  spans_quiet_and_busy(d);
  assert_text_equal(a->log.text, "A:close busy events=1\nA:close elsewhere events=1\n"
                                 "A:close busy events=1\nA:close elsewhere events=1\n");
  assert_text_equal(b->log.text, "B:close busy events=1\nB:close elsewhere events=1\n"
                                 "B:close busy events=1\nB:close elsewhere events=1\n");
  assert_int_equal(filter_closes, 6); /* B's filter: every span */
  assert_text_equal(c->log.text,
                    "C:close quiet events=0\nC:close busy events=1\nC:close elsewhere events=1\n"
                    "C:close quiet events=0\nC:close busy events=1\nC:close elsewhere events=1\n");
  scoped_registry_end(d, &g, a);
  recorder_free(b);
  recorder_free(c);
}

/* The same spans through one layer alone (its close told with a single call, no loop), through
 * one layer whose filter hears of closes too (then it hears of every one), and through one
 * layer with the registry's own filter hearing of closes (both are told: the layer is not
 * alone then). */
static void close_of_a_lone_layer(void **state) {
  (void)state;
  unsigned flags = TRACE_LAYER_EXT_KEPT | TRACE_LAYER_CLOSE_IF_EXT_USED;
  for (int with_filter = 0; with_filter < 3; with_filter++) {
    recorder *a = recorder_new("A");
    int filter_closes = 0;
    trace_registry *reg = trace_registry_new();
    trace_filter *f =
        with_filter ? trace_filter_new(&counting_filter_vtable, &filter_closes) : NULL;
    if (with_filter == 2) {
      trace_registry_set_filter(reg, f);
      f = NULL;
    }
    assert_int_equal(trace_registry_add_layer(
                         reg, trace_layer_new(&ext_user_vtable, a, sizeof(int), flags), f),
                     0);
    trace_default_guard g;
    trace_dispatch *d = scoped_registry(reg, &g);
    spans_quiet_and_busy(d);
    assert_text_equal(a->log.text, "A:close busy events=1\nA:close elsewhere events=1\n"
                                   "A:close busy events=1\nA:close elsewhere events=1\n");
    assert_int_equal(filter_closes, with_filter ? 6 : 0);
    scoped_registry_end(d, &g, a);
  }
}

/* trace_ctx_span_view: what trace_ctx_span, trace_span_ref_meta, trace_span_ref_ext and
 * trace_span_ref_ids give, in one call; nothing for a stale id, a NULL ctx or a NULL out. And
 * trace_ctx_span_ext, the extension alone. */
static void view_new(void *self, const trace_span_attrs *a, uint64_t id, const trace_ctx *ctx) {
  (void)a;
  recorder *r = self;
  trace_span_view v, stale, none;
  bool ok = trace_ctx_span_view(ctx, id, &v);
  const trace_span_ref *s = trace_ctx_span(ctx, id);
  bool same = ok && v.span == s && v.meta == trace_span_ref_meta(s) &&
              v.ext == trace_span_ref_ext(s, ctx) && v.ids == trace_span_ref_ids(s, ctx) &&
              v.ext == trace_ctx_span_ext(ctx, id);
  memset(&stale, 0xff, sizeof stale);
  memset(&none, 0xff, sizeof none);
  bool nothing = !trace_ctx_span_view(ctx, id ^ (2ull << 32), &stale) && !stale.span &&
                 !stale.meta && !stale.ext && !stale.ids && !trace_ctx_span_view(ctx, id, NULL) &&
                 !trace_ctx_span_view(NULL, id, &none) && !none.span &&
                 !trace_ctx_span_ext(ctx, id ^ (2ull << 32)) && !trace_ctx_span_ext(NULL, id);
  text_log_printf(&r->log, "%s:new %s same=%d nothing=%d ext=%d ids=%d\n", r->name,
                  v.meta ? v.meta->name : "?", same, nothing, v.ext != NULL, v.ids != NULL);
}
static const trace_layer_vtable view_vtable = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_new_span = view_new,
};

static void span_view_and_ext_in_one_call(void **state) {
  (void)state;
  recorder *a = recorder_new("A"), *b = recorder_new("B");
  trace_registry *reg = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(
                       reg, trace_layer_new(&view_vtable, a, sizeof(int), TRACE_LAYER_CONTEXT),
                       NULL),
                   0);
  assert_int_equal(trace_registry_add_layer(reg, trace_layer_new(&view_vtable, b, 0, 0), NULL), 0);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span s = TRACE_INFO_SPAN("viewed");
  trace_span_close(&s);
  assert_text_equal(a->log.text, "A:new viewed same=1 nothing=1 ext=1 ids=1\n");
  /* B has no extension; the span's ids are there for every layer that asks. */
  assert_text_equal(b->log.text, "B:new viewed same=1 nothing=1 ext=0 ids=1\n");
  recorder_free(b);
  scoped_registry_end(d, &g, a);
}

static void entered_span_survives_close(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_default_guard g;
  trace_dispatch *d = scoped_recorder(a, &g);
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
  assert_text_contains(a->log.text, "A:event INFO still inside in s\n");
  scoped_registry_end(d, &g, a);
}

/* TRACE_SCOPE's two calls, which the registry takes in one go each (the entry's reference with
 * the handle's): the layers hear what the four calls would tell them, and the references come
 * out right when the shortcut does not apply (a clone open, an end out of order, a copy of the
 * handle closed before: then the end closes the span once, as the pair would). */
static void scopes_end_as_the_calls_do(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_default_guard g;
  trace_dispatch *d = scoped_recorder(a, &g);
  {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "parent", TF(k, "v"));
    TRACE_SCOPE(TRACE_LEVEL_INFO, "child");
    TRACE_INFO("in child");
  }
  assert_int_equal(a->closes, 2);
  trace_span s = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "kept");
  trace_span k = trace_span_clone(&s);
  trace_span_end(&s); /* exits; the clone keeps it open */
  assert_int_equal(a->closes, 2);
  trace_span_close(&k);
  assert_int_equal(a->closes, 3);
  trace_span x = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "x");
  trace_span y = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "y");
  trace_span_end(&x); /* out of order: y stays current */
  TRACE_INFO("in y");
  trace_span_end(&y);
  trace_span m = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "misused");
  trace_span copy = m;
  trace_span_close(&copy); /* a bug in user code: only the entry holds the span now */
  trace_span_end(&m);
  assert_int_equal(a->closes, 6);
  scoped_registry_end_closed(d, &g, a,
                             "A:new parent in -\n"
                             "A:enter parent\n"
                             "A:new child in parent\n"
                             "A:enter child\n"
                             "A:event INFO in child in parent>child\n"
                             "A:exit child\n"
                             "A:close child\n"
                             "A:exit parent\n"
                             "A:close parent k=v\n"
                             "A:new kept in -\n"
                             "A:enter kept\n"
                             "A:exit kept\n"
                             "A:close kept\n"
                             "A:new x in -\n"
                             "A:enter x\n"
                             "A:new y in x\n"
                             "A:enter y\n"
                             "A:exit x\n" /* y, its child, keeps it open */
                             "A:event INFO in y in x>y\n"
                             "A:exit y\n"
                             "A:close y\n"
                             "A:close x\n"
                             "A:new misused in -\n"
                             "A:enter misused\n"
                             "A:exit misused\n"
                             "A:close misused\n");
}

/* An id one or two generations ahead of a closed span's: the first names the free slot, the
 * second the span that will take it. Neither may reach the slot (the first once closed the free
 * slot a second time, and the next two spans shared one id). */
static void forged_ids_never_reach_a_free_slot(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_default_guard g;
  trace_dispatch *d = scoped_recorder(a, &g);
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
  scoped_registry_end(d, &g, a);
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
  assert_null(strstr(a->log.text, "A:close x"));
  trace_span_close(&x);
  assert_text_contains(a->log.text, "A:close x");
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
  trace_default_guard g;
  trace_dispatch *d = scoped_recorder(a, &g);
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
  assert_text_equal(a->log.text, "A:new s in -\nA:new t in -\n"
                                 "A:enter s\nA:enter t\nA:enter s\nA:exit s\n"
                                 "A:event INFO x in t\n"
                                 "A:exit t\nA:exit s\n"
                                 "A:close t\nA:close s\n");
  scoped_registry_end(d, &g, a);
}

static void follows_record_and_copies(void **state) {
  (void)state;
  recorder *a = recorder_new("A");
  trace_default_guard g;
  trace_dispatch *d = scoped_recorder(a, &g);
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
  assert_text_contains(a->log.text, "A:follows y <- x (1)\n");
  assert_text_contains(a->log.text, "A:record x status=recorded\n");
  assert_text_contains(a->log.text, "A:close x name=original status=recorded n=42\n");
  scoped_registry_end(d, &g, a);
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
      snprintf(text, sizeof text, "%s:%u ", trace_valueset_name(vs, i),
               (unsigned)vs->values[i].type);
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

/* trace_ctx_span_read: the view trace_ctx_span_view gives and the values trace_span_ref_values
 * gives, in one call, at close too (latest values); false without a call for a stale id, a NULL
 * ctx or a NULL fn. */
typedef struct read_seen {
  const trace_ctx *ctx;
  uint64_t id;
  int calls, same;
} read_seen;
static void read_fn(void *arg, const trace_span_view *v, const trace_valueset *vs) {
  read_seen *r = arg;
  trace_span_view direct;
  r->calls++;
  r->same = trace_ctx_span_view(r->ctx, r->id, &direct) && direct.span == v->span &&
            direct.meta == v->meta && direct.ext == v->ext && direct.ids == v->ids &&
            vs->meta == v->meta;
  describe_values(NULL, vs);
}
static char read_log[512];
static void read_close(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)self;
  read_seen r = {ctx, id, 0, 0};
  bool ok = trace_ctx_span_read(ctx, id, read_fn, &r);
  read_seen none = {ctx, id, 0, 0};
  bool nothing = !trace_ctx_span_read(ctx, id ^ (2ull << 32), read_fn, &none) &&
                 !trace_ctx_span_read(NULL, id, read_fn, &none) &&
                 !trace_ctx_span_read(ctx, id, NULL, &none) && none.calls == 0;
  snprintf(read_log + strlen(read_log), sizeof read_log - strlen(read_log),
           "ok=%d calls=%d same=%d nothing=%d values=%s\n", ok, r.calls, r.same, nothing,
           values_seen);
}

static void span_read_in_one_call(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {.struct_size = sizeof vt, .on_close = read_close};
  read_log[0] = '\0';
  trace_registry *reg = trace_registry_new();
  trace_registry_add_layer(reg, trace_layer_new(&vt, NULL, 8, TRACE_LAYER_CONTEXT), NULL);
  trace_default_guard g;
  trace_dispatch *d = scoped_registry(reg, &g);
  trace_span s = TRACE_INFO_SPAN("s", TF(a, 1), TF(b, TRACE_EMPTY), TF(c, "x"));
  TRACE_RECORD(&s, b, (bool)true);
  trace_span_close(&s);
  assert_string_equal(read_log, "ok=1 calls=1 same=1 nothing=1 values=a:1 b:4 c:5 \n");
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
}

/* on_close_read: instead of on_close, the span's view (what trace_ctx_span_view gives during the
 * call) and its latest stored values, without a lookup; TRACE_LAYER_CLOSE_IF_EXT_USED applies
 * as to on_close; spans still open at shutdown are handed over the same way. The ids are the
 * span's, for every layer, as trace_span_ref_ids gives them. */
static char close_read_log[1024];
static void close_read_logged(void *self, uint64_t id, const trace_span_view *v,
                              const trace_valueset *vs, const trace_ctx *ctx) {
  trace_span_view direct;
  bool same = trace_ctx_span_view(ctx, id, &direct) && direct.span == v->span &&
              direct.meta == v->meta && direct.ext == v->ext && direct.ids == v->ids &&
              vs->meta == v->meta;
  int *events = v->ext;
  describe_values(NULL, vs);
  size_t used = strlen(close_read_log);
  snprintf(close_read_log + used, sizeof close_read_log - used,
           "%s:read %s events=%d same=%d ids=%d values=%s\n", (const char *)self, v->meta->name,
           *events, same, v->ids != NULL, values_seen);
  *events = 0; /* TRACE_LAYER_EXT_KEPT: left clean for the slot's next span */
}
static void close_not_read(void *self, uint64_t id, const trace_ctx *ctx) {
  (void)id, (void)ctx;
  size_t used = strlen(close_read_log);
  snprintf(close_read_log + used, sizeof close_read_log - used, "%s:on_close\n",
           (const char *)self);
}

static void close_read_hands_over_the_span(void **state) {
  (void)state;
  static const trace_layer_vtable vt = {.struct_size = sizeof vt,
                                        .on_event = ext_user_event,
                                        .on_close = close_not_read,
                                        .on_close_read = close_read_logged};
  static char name_a[] = "A", name_c[] = "C";
  close_read_log[0] = '\0';
  trace_registry *reg = trace_registry_new();
  unsigned used_only = TRACE_LAYER_EXT_KEPT | TRACE_LAYER_CLOSE_IF_EXT_USED | TRACE_LAYER_CONTEXT;
  assert_int_equal(
      trace_registry_add_layer(reg, trace_layer_new(&vt, name_a, sizeof(int), used_only), NULL), 0);
  assert_int_equal(
      trace_registry_add_layer(reg, trace_layer_new(&vt, name_c, sizeof(int), TRACE_LAYER_EXT_KEPT),
                               NULL),
      0);
  assert_int_equal(trace_registry_install(reg), 0);
  trace_span quiet = TRACE_INFO_SPAN("quiet", TF(a, 1));
  trace_span_close(&quiet);
  trace_span busy = TRACE_INFO_SPAN("busy", TF(a, 1), TF(b, TRACE_EMPTY), TF(c, "x"));
  TRACE_IN_SPAN(&busy) { TRACE_INFO("one"); }
  TRACE_RECORD(&busy, b, (bool)true);
  trace_span_close(&busy);
  trace_span open = TRACE_INFO_SPAN("open", TF(c, "y"));
  TRACE_IN_SPAN(&open) { TRACE_INFO("two"); }
  trace_shutdown(); /* closes open */
  trace_span_close(&open);
  assert_text_equal(close_read_log, "C:read quiet events=0 same=1 ids=1 values=a:1 \n"
                                    "A:read busy events=1 same=1 ids=1 values=a:1 b:4 c:5 \n"
                                    "C:read busy events=1 same=1 ids=1 values=a:1 b:4 c:5 \n"
                                    "A:read open events=1 same=1 ids=1 values=c:5 \n"
                                    "C:read open events=1 same=1 ids=1 values=c:5 \n");
}

/* TRACE_LAYER_CREATION: each span's extension starts with when (trace_registry_ticks) and on
 * which thread it was made, its last word zero, whatever the layer left there
 * (TRACE_LAYER_EXT_KEPT). TRACE_LAYER_NEW_SPAN_ONCE: on_new_span for each thread's first span
 * only, unless the layer's filter hears of new spans (then for every one). */
typedef struct creation_seen {
  int new_spans, closes, bad;
  trace_span_creation last;
} creation_seen;
static void creation_new(void *self, const trace_span_attrs *a, uint64_t id,
                         const trace_ctx *ctx) {
  (void)a, (void)id, (void)ctx;
  ((creation_seen *)self)->new_spans++;
}
static void creation_close(void *self, uint64_t id, const trace_ctx *ctx) {
  creation_seen *c = self;
  trace_span_creation *e = trace_ctx_span_ext(ctx, id);
  c->closes++;
  c->last = *e;
  c->bad += e->zero != 0;
  e->zero = 0xdeadbeef; /* left for the slot's next span: the registry writes 0 again */
}
static const trace_layer_vtable creation_vtable = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_new_span = creation_new,
    .on_close = creation_close,
};
typedef struct thread_span {
  trace_dispatch *d;
  uint32_t id;
} thread_span;
static void *span_on_thread(void *arg) {
  thread_span *t = arg;
  trace_default_guard g = trace_set_default(t->d);
  trace_span s = TRACE_INFO_SPAN("elsewhere");
  trace_span_close(&s);
  t->id = trace_thread_id();
  trace_default_guard_restore(&g);
  return NULL;
}
static void new_span_filter(void *self, const trace_span_attrs *a, uint64_t id,
                            const trace_ctx *ctx) {
  (void)a, (void)id, (void)ctx;
  (*(int *)self)++;
}

static void creation_written_and_new_span_once(void **state) {
  (void)state;
  static const trace_filter_vtable fv = {.struct_size = sizeof fv,
                                         .on_new_span = new_span_filter};
  for (int with_filter = 0; with_filter < 2; with_filter++) {
    creation_seen seen = {0};
    int filter_new_spans = 0;
    trace_registry *reg = trace_registry_new();
    trace_filter *f = with_filter ? trace_filter_new(&fv, &filter_new_spans) : NULL;
    unsigned flags = TRACE_LAYER_CREATION | TRACE_LAYER_NEW_SPAN_ONCE | TRACE_LAYER_EXT_KEPT;
    assert_int_equal(trace_registry_add_layer(
                         reg, trace_layer_new(&creation_vtable, &seen, 32, flags), f),
                     0);
    trace_default_guard g;
    trace_dispatch *d = scoped_registry(reg, &g);
    for (int i = 0; i < 3; i++) {
      uint64_t before = trace_registry_ticks();
      trace_span s = TRACE_INFO_SPAN("here");
      uint64_t after = trace_registry_ticks();
      trace_span_close(&s);
      assert_true(seen.last.ticks >= before && seen.last.ticks <= after);
      assert_int_equal(seen.last.thread_id, trace_thread_id());
    }
    thread_span other = {d, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, span_on_thread, &other), 0);
    pthread_join(t, NULL);
    assert_int_equal(seen.closes, 4);
    assert_int_equal(seen.bad, 0); /* the word left 0xdeadbeef was zero again for each span */
    assert_int_equal(seen.last.thread_id, other.id);
    assert_true(other.id != trace_thread_id());
    /* Once per thread: here and on the other thread; every span when the filter hears. */
    assert_int_equal(seen.new_spans, with_filter ? 4 : 2);
    assert_int_equal(filter_new_spans, with_filter ? 4 : 0);
    trace_default_guard_restore(&g);
    trace_dispatch_release(d);
  }
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
  scoped_registry_end(d, &g, a);
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
  static const trace_layer_vtable vt = {
      .struct_size = sizeof(trace_layer_vtable), .on_close = close_logs, .flush = flush_rebuilds};
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
  scoped_registry_end(d, &g, a);
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
  /* No room for the trace_span_creation the registry would write. */
  assert_null(trace_layer_new(&empty, NULL, sizeof(trace_span_creation) - 1, TRACE_LAYER_CREATION));
  trace_layer_free(trace_layer_new(&empty, NULL, sizeof(trace_span_creation), TRACE_LAYER_CREATION));
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lifecycle_and_refcounts),
      cmocka_unit_test(span_values_as_one_set),
      cmocka_unit_test(span_read_in_one_call),
      cmocka_unit_test(close_read_hands_over_the_span),
      cmocka_unit_test(creation_written_and_new_span_once),
      cmocka_unit_test(scope_idle_hint),
      cmocka_unit_test(entered_span_survives_close),
      cmocka_unit_test(scopes_end_as_the_calls_do),
      cmocka_unit_test(close_only_for_spans_whose_extension_was_used),
      cmocka_unit_test(close_of_a_lone_layer),
      cmocka_unit_test(span_view_and_ext_in_one_call),
      cmocka_unit_test(forged_ids_never_reach_a_free_slot),
      cmocka_unit_test(handle_copies_closed_twice_hurt_no_other_span),
      cmocka_unit_test(reentry_and_stray_exit),
      cmocka_unit_test(follows_record_and_copies),
      cmocka_unit_test(stats_and_flush),
      cmocka_unit_test(shutdown_with_busy_layer_callbacks),
      cmocka_unit_test(timing_is_measured),
      cmocka_unit_test(configuration_errors),
      cmocka_unit_test(registry_without_layers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
