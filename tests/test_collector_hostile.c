/* The collector under hostile use (issue 14 hardening): what its fast paths must survive and
 * report exactly. Strings of every length around the inline and word boundaries, at every
 * offset of a ring page, whose caller's buffer is overwritten and freed as soon as the call
 * returns; values that try to forge JSON; huge values; the entered stack past its capacity;
 * scopes ended on another thread, twice, out of order; subscribers switched while spans are
 * open; the reporter's span pool past its size and out of memory. Every check reads what a user
 * gets: the spans a sink receives (values byte for byte) and the Chrome trace, parsed. */
#define TRACE_TARGET "hostile"
#include <jansson.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "trace/collector.h"
#include "trace/registry.h"
#include "trace/testing.h"

/* ---------------------------------------------------------------------------------------- */
/* A sink that keeps copies of every span and event it is handed. */

typedef struct got_value {
  char name[32];
  uint32_t type;
  bool null;
  uint64_t number;
  char *str; /* STR and DISPLAY: a copy, NUL-terminated */
  size_t len;
} got_value;

typedef struct got_span {
  char name[32];
  uint64_t id, parent_id;
  bool open, truncated, is_event;
  uint32_t thread;
  uint32_t nvalues;
  got_value *values;
  char *message;
} got_span;

typedef struct got {
  pthread_mutex_t lock;
  got_span *spans;
  size_t n, cap;
  int closes;
} got;

static void got_values(got_span *g, const trace_valueset *vs) {
  g->nvalues = (uint32_t)vs->count;
  g->values = calloc(vs->count ? vs->count : 1, sizeof *g->values);
  for (size_t i = 0; i < vs->count; i++) {
    const trace_value *v = &vs->values[i];
    got_value *o = &g->values[i];
    uint32_t index = vs->index ? vs->index[i] : (uint32_t)i;
    snprintf(o->name, sizeof o->name, "%s", vs->meta->field_names[index]);
    o->type = v->type;
    if (v->type == TRACE_VALUE_STR || v->type == TRACE_VALUE_DISPLAY) {
      o->null = v->as.str.ptr == NULL;
      o->len = v->as.str.len;
      o->str = malloc(o->len + 1);
      if (o->len)
        memcpy(o->str, v->as.str.ptr, o->len);
      o->str[o->len] = '\0';
    } else {
      o->number = v->as.u64;
    }
  }
}

static got_span *got_add(got *g) {
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 1024;
    g->spans = realloc(g->spans, g->cap * sizeof *g->spans);
  }
  got_span *s = &g->spans[g->n++];
  memset(s, 0, sizeof *s);
  return s;
}

static void got_span_fn(void *arg, const trace_collector_span *span) {
  got *g = arg;
  pthread_mutex_lock(&g->lock);
  got_span *s = got_add(g);
  snprintf(s->name, sizeof s->name, "%s", span->meta->name);
  s->id = span->id;
  s->parent_id = span->parent_id;
  s->open = span->open;
  s->truncated = span->truncated;
  s->thread = span->thread;
  got_values(s, &span->fields);
  pthread_mutex_unlock(&g->lock);
}

static void got_event_fn(void *arg, const trace_collector_event *ev) {
  got *g = arg;
  pthread_mutex_lock(&g->lock);
  got_span *s = got_add(g);
  s->is_event = true;
  snprintf(s->name, sizeof s->name, "%s", ev->meta->name);
  s->id = ev->span_id;
  s->truncated = ev->truncated;
  s->thread = ev->thread;
  if (ev->message) {
    s->message = malloc(ev->message_len + 1);
    memcpy(s->message, ev->message, ev->message_len);
    s->message[ev->message_len] = '\0';
  }
  got_values(s, &ev->fields);
  pthread_mutex_unlock(&g->lock);
}

static void got_close_fn(void *arg) { ((got *)arg)->closes++; }

static void got_init(got *g) {
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->lock, NULL);
}

static void got_free(got *g) {
  for (size_t i = 0; i < g->n; i++) {
    for (uint32_t k = 0; k < g->spans[i].nvalues; k++)
      free(g->spans[i].values[k].str);
    free(g->spans[i].values);
    free(g->spans[i].message);
  }
  free(g->spans);
  pthread_mutex_destroy(&g->lock);
}

static const got_value *value_of(const got_span *s, const char *name) {
  const got_value *found = NULL;
  for (uint32_t i = 0; i < s->nvalues; i++)
    if (strcmp(s->values[i].name, name) == 0)
      found = &s->values[i]; /* the last one wins */
  return found;
}

static const got_span *span_named(const got *g, const char *name, size_t nth) {
  for (size_t i = 0; i < g->n; i++)
    if (!g->spans[i].is_event && strcmp(g->spans[i].name, name) == 0 && nth-- == 0)
      return &g->spans[i];
  return NULL;
}

static __attribute__((unused)) const got_span *span_with_id(const got *g, uint64_t id) {
  for (size_t i = 0; i < g->n; i++)
    if (!g->spans[i].is_event && g->spans[i].id == id)
      return &g->spans[i];
  return NULL;
}

static __attribute__((unused)) size_t spans_named(const got *g, const char *name) {
  size_t c = 0;
  for (size_t i = 0; i < g->n; i++)
    c += !g->spans[i].is_event && strcmp(g->spans[i].name, name) == 0;
  return c;
}

/* A STREAM collector with the sink g (and a Chrome file when chrome is set). */
static trace_collector *sink_collector(got *g, trace_collector_options *o,
                                       const char *chrome) {
  static trace_collector_sink sink;
  sink = (trace_collector_sink){got_span_fn, got_event_fn, NULL, got_close_fn, g};
  trace_collector_options defaults;
  if (!o) {
    trace_collector_options_init(&defaults);
    o = &defaults;
  }
  o->sink = &sink;
  o->chrome_path = chrome;
  trace_collector *c = NULL;
  int rc = trace_collector_new(o, &c);
  if (rc != 0)
    print_error("trace_collector_new: %s\n", trace_strerror(rc));
  assert_int_equal(rc, 0);
  return c;
}

/* c installed alone, or as the only layer of a registry. */
static void install_as(trace_collector *c, bool layer) {
  if (layer) {
    trace_registry *r = trace_registry_new();
    assert_int_equal(trace_registry_add_layer(r, trace_collector_layer(c), NULL), 0);
    assert_int_equal(trace_registry_install(r), 0);
  } else {
    assert_int_equal(trace_collector_install(c), 0);
  }
}

/* A flight recorder with rings of ring_bytes, installed. */
static void install_flight(size_t ring_bytes) {
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.mode = TRACE_COLLECTOR_FLIGHT;
  o.flight_bytes = 1 << 20;
  o.thread_buffer_bytes = ring_bytes;
  trace_collector *c = NULL;
  assert_int_equal(trace_collector_new(&o, &c), 0);
  assert_int_equal(trace_collector_install(c), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Scratch files and Chrome traces. */

static char scratch[64];

static int make_scratch(void **state) {
  (void)state;
  return scratch_dir_make(scratch, sizeof scratch, "trace-hostile");
}

static int remove_scratch(void **state) {
  (void)state;
  scratch_dir_remove(scratch);
  return 0;
}

static const char *path_in(const char *name) {
  static char p[256];
  snprintf(p, sizeof p, "%s/%s", scratch, name);
  return p;
}

static json_t *load_trace(const char *path) {
  json_error_t err;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
  if (!j)
    print_error("%s: %s at line %d col %d\n", path, err.text, err.line, err.column);
  assert_non_null(j);
  assert_true(json_is_array(j));
  return j;
}

/* Events of kind ph (NULL: any) named name (NULL: any), and the first of them. */
static size_t count_events(json_t *arr, const char *ph, const char *name, json_t **first) {
  size_t c = 0;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    const char *p = json_string_value(json_object_get(e, "ph"));
    const char *n = json_string_value(json_object_get(e, "name"));
    if ((!ph || (p && strcmp(p, ph) == 0)) && (!name || (n && strcmp(n, name) == 0))) {
      if (c++ == 0 && first)
        *first = e;
    }
  }
  return c;
}

/* ---------------------------------------------------------------------------------------- */
/* Strings. */

/* The bytes of string number i, len long: different for every i and every position. */
static void fill(char *p, size_t len, size_t i) {
  for (size_t k = 0; k < len; k++)
    p[k] = (char)('a' + (i * 7 + k * 3) % 26);
}

static const size_t lengths[] = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33,
                                 63, 64, 65, 127, 128, 129, 200, 255, 256, 257};
#define NLENGTHS (sizeof lengths / sizeof lengths[0])

/* Every length around the word and inline boundaries, at every offset of the ring's pages (the
 * lengths and a padding string shift each record), through each way a span is made: each
 * value arrives byte for byte, although the caller's buffer was overwritten and freed as soon
 * as the span was made (the collector copies; it keeps the pointer only to tell NULL). */
static void strings_every_length_every_offset(void **state) {
  (void)state;
  got g;
  got_init(&g);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.string_bytes = 256;
  o.thread_buffer_bytes = (size_t)1 << 20;
  assert_int_equal(trace_collector_install(sink_collector(&g, &o, NULL)), 0);
  enum { ROUNDS = 3 * 24 * 9 };
  for (size_t i = 0; i < ROUNDS; i++) {
    size_t len = lengths[i % NLENGTHS], pad = (i / NLENGTHS) % 9;
    char *buf = malloc(len + 1), *pbuf = malloc(pad + 1);
    fill(buf, len, i);
    buf[len] = '\0';
    fill(pbuf, pad, i + 1);
    pbuf[pad] = '\0';
    switch (i % 3) {
    case 0: {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "scoped", TF(i, (uint64_t)i), TF(s, trace_value_strn(buf, len)),
                  TF(pad, pbuf), TF(nul, (const char *)NULL), TF(d, trace_value_display(buf)));
      memset(buf, 'X', len);
      memset(pbuf, 'X', pad);
      free(buf);
      free(pbuf);
      break;
    }
    case 1: {
      trace_span s = TRACE_INFO_SPAN("plain", TF(i, (uint64_t)i), TF(s, trace_value_strn(buf, len)),
                                     TF(pad, pbuf), TF(nul, (const char *)NULL),
                                     TF(d, trace_value_display(buf)));
      memset(buf, 'X', len);
      memset(pbuf, 'X', pad);
      free(buf);
      free(pbuf);
      trace_span_enter(&s);
      trace_span_exit(&s);
      trace_span_close(&s);
      break;
    }
    default: {
      /* Values recorded later, and an event's. */
      trace_span s = TRACE_INFO_SPAN("recorded", TF(i, (uint64_t)i), TF(s, TRACE_EMPTY),
                                     TF(pad, TRACE_EMPTY), TF(nul, TRACE_EMPTY),
                                     TF(d, TRACE_EMPTY));
      trace_span_record(&s, "s", trace_value_strn(buf, len));
      trace_span_record(&s, "pad", trace_value_str(pbuf));
      trace_span_record(&s, "nul", trace_value_str(NULL));
      trace_span_record(&s, "d", trace_value_display(buf));
      TRACE_EVENT_IN(&s, TRACE_LEVEL_INFO, TF(i, (uint64_t)i), TF(s, trace_value_strn(buf, len)),
                    TF(nul, (const char *)NULL), "event %zu", i);
      memset(buf, 'X', len);
      memset(pbuf, 'X', pad);
      free(buf);
      free(pbuf);
      trace_span_close(&s);
      break;
    }
    }
  }
  trace_shutdown();
  assert_int_equal(g.closes, 1);
  static const char *names[] = {"scoped", "plain", "recorded"};
  size_t seen[3] = {0, 0, 0}, events = 0;
  char want[300];
  for (size_t k = 0; k < g.n; k++) {
    const got_span *s = &g.spans[k];
    const got_value *iv = value_of(s, "i");
    assert_non_null(iv);
    size_t i = (size_t)iv->number, len = lengths[i % NLENGTHS], pad = (i / NLENGTHS) % 9;
    fill(want, len, i);
    size_t kept = len < 256 ? len : 256; /* the bound: longer ones are cut, and marked */
    const got_value *v = value_of(s, "s");
    assert_non_null(v);
    assert_false(v->null);
    assert_int_equal(v->len, kept);
    assert_memory_equal(v->str, want, kept);
    v = value_of(s, "nul");
    assert_non_null(v);
    assert_true(v->null);
    assert_int_equal(s->truncated, len > 256);
    if (s->is_event) {
      char msg[64];
      snprintf(msg, sizeof msg, "event %zu", i);
      assert_string_equal(s->message, msg);
      events++;
      continue;
    }
    assert_string_equal(s->name, names[i % 3]);
    seen[i % 3]++;
    v = value_of(s, "d");
    assert_non_null(v);
    assert_int_equal(v->type, TRACE_VALUE_DISPLAY);
    assert_int_equal(v->len, kept);
    assert_memory_equal(v->str, want, kept);
    fill(want, pad, i + 1);
    v = value_of(s, "pad");
    assert_non_null(v);
    assert_int_equal(v->len, pad);
    assert_memory_equal(v->str, want, pad);
  }
  assert_int_equal(seen[0], ROUNDS / 3);
  assert_int_equal(seen[1], ROUNDS / 3);
  assert_int_equal(seen[2], ROUNDS / 3);
  assert_int_equal(events, ROUNDS / 3);
  got_free(&g);
}

/* A string value made by hand with a NULL pointer and a length (the struct is public; the
 * constructors never make one): a null string, never a read through the NULL pointer, on every
 * path a value takes. */
static void null_string_with_a_length(void **state) {
  (void)state;
  got g;
  got_init(&g);
  assert_int_equal(trace_collector_install(sink_collector(&g, NULL, NULL)), 0);
  trace_value bad;
  memset(&bad, 0, sizeof bad);
  bad.type = TRACE_VALUE_STR;
  bad.as.str.ptr = NULL;
  bad.as.str.len = 5;
  trace_value huge = bad;
  huge.as.str.len = (size_t)1 << 40;
  {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "scoped", TF(a, bad), TF(b, huge), TF(c, "after"));
  }
  trace_span s = TRACE_INFO_SPAN("plain", TF(a, bad), TF(b, TRACE_EMPTY));
  trace_span_record(&s, "b", huge);
  TRACE_INFO(TF(a, bad), TF(b, huge), "event");
  trace_span_close(&s);
  trace_shutdown();
  const got_span *sc = span_named(&g, "scoped", 0), *pl = span_named(&g, "plain", 0);
  assert_non_null(sc);
  assert_non_null(pl);
  assert_true(value_of(sc, "a")->null);
  assert_true(value_of(sc, "b")->null);
  assert_string_equal(value_of(sc, "c")->str, "after");
  assert_true(value_of(pl, "a")->null);
  assert_true(value_of(pl, "b")->null);
  got_free(&g);
}

/* Values that try to forge JSON structure, control characters, invalid UTF-8 and NUL bytes:
 * the Chrome trace stays one valid document with exactly the events recorded, and the values
 * read back are what was recorded (invalid bytes replaced, nothing dropped after them). */
static void hostile_values_in_the_chrome_trace(void **state) {
  (void)state;
  got g;
  got_init(&g);
  assert_int_equal(trace_collector_install(sink_collector(&g, NULL, path_in("h.json"))), 0);
  static const char forge[] = "\"},{\"ph\":\"X\",\"name\":\"forged\",\"ts\":0,\"dur\":1}]\n[{\"";
  static const char ctrl[] = "a\x01\x02\x1f\x7f\tb\r\n\\\"/";
  static const char bad_utf8[] = "x\xff\xc3\x28\xe2\x82\xf0\x9f\x98y";
  static const char nul_inside[] = "before\0after";
  for (int i = 0; i < 3; i++) {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "hostile", TF(forge, forge), TF(ctrl, ctrl),
                TF(bad, bad_utf8), TF(nul, trace_value_strn(nul_inside, sizeof nul_inside - 1)),
                TF(disp, trace_value_display(forge)));
    TRACE_INFO(TF(forge, forge), "%s", forge);
  }
  trace_shutdown();
  json_t *t = load_trace(path_in("h.json"));
  assert_int_equal(count_events(t, NULL, "forged", NULL), 0);
  json_t *e = NULL;
  assert_int_equal(count_events(t, "X", "hostile", &e), 3);
  json_t *a = json_object_get(e, "args");
  assert_string_equal(json_string_value(json_object_get(a, "forge")), forge);
  assert_string_equal(json_string_value(json_object_get(a, "disp")), forge);
  assert_string_equal(json_string_value(json_object_get(a, "ctrl")), ctrl);
  const char *bad = json_string_value(json_object_get(a, "bad"));
  assert_non_null(bad);
  assert_true(bad[0] == 'x' && bad[strlen(bad) - 1] == 'y');
  json_t *nul = json_object_get(a, "nul");
  assert_int_equal(json_string_length(nul), sizeof nul_inside - 1);
  assert_memory_equal(json_string_value(nul), nul_inside, sizeof nul_inside - 1);
  assert_int_equal(count_events(t, "i", forge, NULL), 3);
  json_decref(t);
  /* The sink has the bytes as they were. */
  const got_span *s = span_named(&g, "hostile", 2);
  assert_non_null(s);
  assert_int_equal(value_of(s, "nul")->len, sizeof nul_inside - 1);
  assert_memory_equal(value_of(s, "nul")->str, nul_inside, sizeof nul_inside - 1);
  assert_string_equal(value_of(s, "bad")->str, bad_utf8);
  got_free(&g);
}

/* Values of MiB: cut to the bound, marked, never more than a page per record, and the values
 * after them kept; as many of them as the macros allow, every string at the bound, share a page. */
static void huge_values_are_cut(void **state) {
  (void)state;
  got g;
  got_init(&g);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.string_bytes = 1024;
  assert_int_equal(trace_collector_install(sink_collector(&g, &o, path_in("huge.json"))), 0);
  size_t big = (size_t)3 << 20;
  char *m = malloc(big + 1);
  fill(m, big, 5);
  m[big] = '\0';
  {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "huge", TF(a, m), TF(n, 7), TF(b, m), TF(c, m), TF(d, m),
                TF(e, m), TF(last, "end"));
    TRACE_INFO(TF(a, m), TF(b, m), TF(c, m), TF(d, m), TF(e, m), "%s", m);
  }
  trace_shutdown();
  const got_span *s = span_named(&g, "huge", 0);
  assert_non_null(s);
  assert_true(s->truncated);
  assert_int_equal(value_of(s, "n")->number, 7);
  assert_string_equal(value_of(s, "last")->str, "end");
  /* The five long values share what the page has left, cut to the same length. */
  size_t total = 0;
  static const char *names[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 5; i++) {
    const got_value *v = value_of(s, names[i]);
    assert_non_null(v);
    assert_int_equal(v->len, value_of(s, "a")->len);
    assert_memory_equal(v->str, m, v->len);
    total += v->len;
  }
  assert_in_range(total, 4096 - 400, 4096);
  /* The event likewise, its message counted first. */
  const got_span *ev = NULL;
  for (size_t i = 0; i < g.n; i++)
    if (g.spans[i].is_event)
      ev = &g.spans[i];
  assert_non_null(ev);
  assert_true(ev->truncated);
  assert_int_equal(strlen(ev->message), 1024);
  assert_memory_equal(ev->message, m, 1024);
  for (int i = 0; i < 5; i++) {
    const got_value *v = value_of(ev, names[i]);
    assert_non_null(v);
    assert_int_equal(v->len, value_of(ev, "a")->len);
    assert_true(v->len > 256);
    assert_memory_equal(v->str, m, v->len);
  }
  /* In the timeline, the span and the event are there, their values cut further to fit an
   * event's bound, visibly; the short value whole. */
  json_t *t = load_trace(path_in("huge.json"));
  json_t *x = NULL;
  assert_int_equal(count_events(t, "X", "huge", &x), 1);
  json_t *a = json_object_get(x, "args");
  assert_string_equal(json_string_value(json_object_get(a, "last")), "end");
  assert_int_equal(json_integer_value(json_object_get(a, "n")), 7);
  const char *av = json_string_value(json_object_get(a, "a"));
  assert_non_null(av);
  assert_true(strlen(av) > 3 && strcmp(av + strlen(av) - 3, "\xE2\x80\xA6") == 0);
  assert_memory_equal(av, m, strlen(av) - 3);
  json_t *i = NULL;
  assert_int_equal(count_events(t, "i", NULL, &i), 1);
  const char *iname = json_string_value(json_object_get(i, "name"));
  assert_memory_equal(iname, m, strlen(iname) - 3);
  json_decref(t);
  free(m);
  got_free(&g);
}

/* Values that escape to six times their length (control characters): every span and event is
 * in the timeline, its values cut to fit an event's bound (the file is written a page at a
 * time), the cut shown; before, such events were dropped. */
static void escaped_values_fit_an_event(void **state) {
  (void)state;
  got g;
  got_init(&g);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.string_bytes = 1024;
  assert_int_equal(trace_collector_install(sink_collector(&g, &o, path_in("esc.json"))), 0);
  char ctl[1025];
  for (int i = 0; i < 1024; i++)
    ctl[i] = (char)(1 + i % 31);
  ctl[1024] = '\0';
  for (int i = 0; i < 4; i++) {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "escaped", TF(a, ctl), TF(b, ctl), TF(c, ctl), TF(k, i));
    trace_span held = TRACE_INFO_SPAN("async", TF(a, ctl), TF(b, ctl));
    TRACE_INFO(TF(a, ctl), TF(b, ctl), "%s", ctl);
    trace_span_close(&held); /* never entered: an async pair with the values */
  }
  trace_shutdown();
  json_t *t = load_trace(path_in("esc.json"));
  assert_int_equal(count_events(t, "X", "escaped", NULL), 4);
  assert_int_equal(count_events(t, "b", "async", NULL), 4);
  assert_int_equal(count_events(t, "e", "async", NULL), 4);
  assert_int_equal(count_events(t, "i", NULL, NULL), 4);
  json_t *x = NULL;
  count_events(t, "X", "escaped", &x);
  json_t *a = json_object_get(x, "args");
  const char *av = json_string_value(json_object_get(a, "a"));
  assert_non_null(av);
  size_t n = strlen(av);
  assert_true(n > 3 && strcmp(av + n - 3, "\xE2\x80\xA6") == 0);
  assert_memory_equal(av, ctl, n - 3);
  assert_int_equal(json_integer_value(json_object_get(a, "k")), 0);
  json_decref(t);
  /* The sink has them whole. */
  const got_span *s = span_named(&g, "escaped", 0);
  assert_non_null(s);
  assert_int_equal(value_of(s, "a")->len, 1024);
  assert_memory_equal(value_of(s, "c")->str, ctl, 1024);
  got_free(&g);
}

/* ---------------------------------------------------------------------------------------- */
/* Rings: wrapping, page ends, records over a page. */

/* A span callsite with the most fields the macros take (63, and its name): odd ones strings of up to 117 bytes
 * (more than a page in all: the general path shares the page), even ones numbers. */
static trace_span span_of_63(const char *buf, int i) {
  return TRACE_INFO_SPAN("wide", TF(f0, (int64_t)(i * 100 + 0)), TF(f1, trace_value_strn(buf, 3)), TF(f2, (int64_t)(i * 100 + 2)), TF(f3, trace_value_strn(buf, 9)), TF(f4, (int64_t)(i * 100 + 4)), TF(f5, trace_value_strn(buf, 15)), TF(f6, (int64_t)(i * 100 + 6)), TF(f7, trace_value_strn(buf, 21)), TF(f8, (int64_t)(i * 100 + 8)), TF(f9, trace_value_strn(buf, 27)), TF(f10, (int64_t)(i * 100 + 10)), TF(f11, trace_value_strn(buf, 33)), TF(f12, (int64_t)(i * 100 + 12)), TF(f13, trace_value_strn(buf, 39)), TF(f14, (int64_t)(i * 100 + 14)), TF(f15, trace_value_strn(buf, 45)), TF(f16, (int64_t)(i * 100 + 16)), TF(f17, trace_value_strn(buf, 51)), TF(f18, (int64_t)(i * 100 + 18)), TF(f19, trace_value_strn(buf, 57)), TF(f20, (int64_t)(i * 100 + 20)), TF(f21, trace_value_strn(buf, 63)), TF(f22, (int64_t)(i * 100 + 22)), TF(f23, trace_value_strn(buf, 69)), TF(f24, (int64_t)(i * 100 + 24)), TF(f25, trace_value_strn(buf, 75)), TF(f26, (int64_t)(i * 100 + 26)), TF(f27, trace_value_strn(buf, 81)), TF(f28, (int64_t)(i * 100 + 28)), TF(f29, trace_value_strn(buf, 87)), TF(f30, (int64_t)(i * 100 + 30)), TF(f31, trace_value_strn(buf, 93)), TF(f32, (int64_t)(i * 100 + 32)), TF(f33, trace_value_strn(buf, 99)), TF(f34, (int64_t)(i * 100 + 34)), TF(f35, trace_value_strn(buf, 105)), TF(f36, (int64_t)(i * 100 + 36)), TF(f37, trace_value_strn(buf, 111)), TF(f38, (int64_t)(i * 100 + 38)), TF(f39, trace_value_strn(buf, 117)), TF(f40, (int64_t)(i * 100 + 40)), TF(f41, trace_value_strn(buf, 3)), TF(f42, (int64_t)(i * 100 + 42)), TF(f43, trace_value_strn(buf, 9)), TF(f44, (int64_t)(i * 100 + 44)), TF(f45, trace_value_strn(buf, 15)), TF(f46, (int64_t)(i * 100 + 46)), TF(f47, trace_value_strn(buf, 21)), TF(f48, (int64_t)(i * 100 + 48)), TF(f49, trace_value_strn(buf, 27)), TF(f50, (int64_t)(i * 100 + 50)), TF(f51, trace_value_strn(buf, 33)), TF(f52, (int64_t)(i * 100 + 52)), TF(f53, trace_value_strn(buf, 39)), TF(f54, (int64_t)(i * 100 + 54)), TF(f55, trace_value_strn(buf, 45)), TF(f56, (int64_t)(i * 100 + 56)), TF(f57, trace_value_strn(buf, 51)), TF(f58, (int64_t)(i * 100 + 58)), TF(f59, trace_value_strn(buf, 57)), TF(f60, (int64_t)(i * 100 + 60)), TF(f61, trace_value_strn(buf, 63)), TF(f62, (int64_t)(i * 100 + 62)));
}

static size_t wide_len(int k) { return (size_t)(k * 3 % 120); }

/* A 16 KiB ring (four pages) wrapped hundreds of times, with every shape of record at every
 * offset: scopes with strings around the boundaries, FMT values, spans of 63 fields, values
 * recorded later, events; the reporter drains it between bursts so that nothing is dropped. */
static size_t fmt_i(char *out, size_t cap, const void *arg) {
  return (size_t)snprintf(out, cap, "fmt-%d", *(const int *)arg);
}

static void ring_wraps_with_every_shape(void **state) {
  (void)state;
  got g;
  got_init(&g);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.thread_buffer_bytes = 16384;
  o.flush_interval_ms = 60000;
  trace_collector *c = sink_collector(&g, &o, path_in("wrap.json"));
  assert_int_equal(trace_collector_install(c), 0);
  char buf[300];
  enum { N = 3000 };
  for (int i = 0; i < N; i++) {
    size_t len = lengths[(size_t)i % NLENGTHS];
    fill(buf, 260, (size_t)i);
    switch (i % 4) {
    case 0: {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "wrap", TF(i, i), TF(s, trace_value_strn(buf, len)),
                  TF_FMT(f, fmt_i, &i));
      break;
    }
    case 1: {
      trace_span w = span_of_63(buf, i);
      trace_span_enter(&w);
      trace_span_exit(&w);
      trace_span_close(&w);
      break;
    }
    case 2: {
      trace_span r = TRACE_INFO_SPAN("wrap", TF(i, i), TF(s, TRACE_EMPTY), TF(f, TRACE_EMPTY));
      trace_span_record(&r, "s", trace_value_strn(buf, len));
      trace_span_record(&r, "f", trace_value_fmt(fmt_i, &i));
      trace_span_close(&r);
      break;
    }
    default:
      TRACE_INFO(TF(i, i), TF(s, trace_value_strn(buf, len)), TF_FMT(f, fmt_i, &i), "ev %d", i);
    }
    if (i % 8 == 7)
      assert_int_equal(trace_collector_flush(c), 0);
  }
  trace_collector_stats st = trace_collector_get_stats(c);
  assert_int_equal(st.records_dropped, 0);
  assert_true(st.bytes_recorded > 100 * 16384); /* wrapped a hundred times at least */
  trace_shutdown();
  size_t seen = 0;
  for (size_t k = 0; k < g.n; k++) {
    const got_span *sp = &g.spans[k];
    if (strcmp(sp->name, "wide") == 0) {
      int i = (int)(value_of(sp, "f0")->number / 100);
      fill(buf, 260, (size_t)i);
      assert_int_equal(sp->nvalues, 63);
      for (int f = 0; f < 63; f++) {
        char name[8];
        snprintf(name, sizeof name, "f%d", f);
        const got_value *v = value_of(sp, name);
        assert_non_null(v);
        if (f % 2) {
          /* the page is shared: each string whole or cut to the same length, never emptied
           * while a longer one keeps more */
          assert_true(v->len <= wide_len(f));
          assert_memory_equal(v->str, buf, v->len);
          if (v->len < wide_len(f))
            assert_true(sp->truncated);
        } else {
          assert_int_equal(v->number, (uint64_t)(i * 100 + f));
        }
      }
      seen++;
      continue;
    }
    int i = (int)value_of(sp, "i")->number;
    size_t len = lengths[(size_t)i % NLENGTHS];
    fill(buf, 260, (size_t)i);
    const got_value *v = value_of(sp, "s");
    assert_non_null(v);
    assert_int_equal(v->len, len < 256 ? len : 256);
    assert_memory_equal(v->str, buf, v->len);
    char want[32];
    snprintf(want, sizeof want, "fmt-%d", i);
    assert_string_equal(value_of(sp, "f")->str, want);
    assert_int_equal(value_of(sp, "f")->type, TRACE_VALUE_DISPLAY);
    if (sp->is_event) {
      snprintf(want, sizeof want, "ev %d", i);
      assert_string_equal(sp->message, want);
    }
    seen++;
  }
  assert_int_equal(seen, N);
  json_t *t = load_trace(path_in("wrap.json"));
  assert_int_equal(count_events(t, "X", "wide", NULL), N / 4);
  json_decref(t);
  got_free(&g);
}

/* A flight recorder's 16 KiB ring overwritten many times: a dump has the last spans whole (their
 * values match their numbers), never a torn one. */
static void flight_ring_wraps(void **state) {
  (void)state;
  install_flight(16384);
  char buf[300];
  for (int i = 0; i < 5000; i++) {
    size_t len = lengths[(size_t)i % NLENGTHS];
    fill(buf, len, (size_t)i);
    TRACE_SCOPE(TRACE_LEVEL_INFO, "fl", TF(i, i), TF(s, trace_value_strn(buf, len)));
  }
  assert_int_equal(trace_flight_dump(path_in("flight.json")), 0);
  trace_shutdown();
  json_t *t = load_trace(path_in("flight.json"));
  size_t n = 0;
  int last = -1;
  for (size_t k = 0; k < json_array_size(t); k++) {
    json_t *e = json_array_get(t, k);
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name || strcmp(name, "fl") != 0)
      continue;
    assert_string_equal(json_string_value(json_object_get(e, "ph")), "X");
    json_t *a = json_object_get(e, "args");
    int i = (int)json_integer_value(json_object_get(a, "i"));
    size_t len = lengths[(size_t)i % NLENGTHS];
    fill(buf, len, (size_t)i);
    json_t *sv = json_object_get(a, "s");
    size_t kept = len < 256 ? len : 256;
    assert_int_equal(json_string_length(sv), kept + (len > 256 ? 3 : 0)); /* cut: an ellipsis */
    assert_memory_equal(json_string_value(sv), buf, kept);
    assert_true(i > last);
    last = i;
    n++;
  }
  assert_true(n > 20);
  assert_int_equal(last, 4999);
  json_decref(t);
}

/* ---------------------------------------------------------------------------------------- */
/* Scopes. */

/* Deeper than the entered stack holds (64): every span's parent is the span it was made in, by
 * TRACE_SCOPE, by TRACE_SPAN inside, and by an event, on the way down and back up. */
#define DEEP 150
static void nest_deep(int depth) {
  TRACE_SCOPE(TRACE_LEVEL_INFO, "deep", TF(depth, depth));
  trace_span side = TRACE_INFO_SPAN("side", TF(depth, depth));
  trace_span_close(&side);
  if (depth + 1 < DEEP)
    nest_deep(depth + 1);
  TRACE_INFO(TF(depth, depth), "back");
  trace_span after = TRACE_INFO_SPAN("after", TF(depth, depth));
  trace_span_enter(&after);
  trace_span_exit(&after);
  trace_span_close(&after);
}

static void deep_nesting_keeps_parents(void **state) {
  (void)state;
  for (int layer = 0; layer < 2; layer++) {
    got g;
    got_init(&g);
    install_as(sink_collector(&g, NULL, path_in("deep.json")), layer);
    nest_deep(0);
    /* Back at the top: nothing is entered any more. */
    trace_span cur = trace_span_current();
    assert_true(trace_span_is_none(&cur));
    trace_shutdown();
    uint64_t deep_id[DEEP];
    for (int d = 0; d < DEEP; d++) {
      const got_span *s = span_named(&g, "deep", (size_t)(DEEP - 1 - d)); /* inner ones first */
      assert_non_null(s);
      assert_int_equal(value_of(s, "depth")->number, d);
      deep_id[d] = s->id;
      assert_int_equal(s->parent_id, d ? deep_id[d - 1] : 0);
    }
    size_t events = 0;
    for (size_t i = 0; i < g.n; i++) {
      const got_span *s = &g.spans[i];
      if (strcmp(s->name, "deep") == 0)
        continue;
      int d = (int)value_of(s, "depth")->number;
      uint64_t want = deep_id[d];
      if (s->is_event)
        events++;
      if (s->id != (s->is_event ? want : 0) && !s->is_event && s->parent_id != want)
        print_error("%s at depth %d: parent %llx, want %llx\n", s->name, d,
                    (unsigned long long)s->parent_id, (unsigned long long)want);
      if (s->is_event)
        assert_int_equal(s->id, want);
      else
        assert_int_equal(s->parent_id, want);
    }
    assert_int_equal(events, DEEP);
    assert_int_equal(spans_named(&g, "side"), DEEP);
    assert_int_equal(spans_named(&g, "after"), DEEP);
    got_free(&g);
    /* The timeline nests too: every "deep" is a complete event. */
    json_t *t = load_trace(path_in("deep.json"));
    assert_int_equal(count_events(t, "X", "deep", NULL), DEEP);
    assert_int_equal(count_events(t, "X", "after", NULL), DEEP);
    json_decref(t);
  }
  /* Out of memory past the stack's 64 entries: the spans all arrive, the deeper ones under the
   * innermost span that could be kept, and the stack comes back to empty. */
  got g;
  got_init(&g);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.flush_interval_ms = 60000; /* no round (which allocates) while allocations fail */
  trace_collector *c = sink_collector(&g, &o, NULL);
  assert_int_equal(trace_collector_install(c), 0);
  {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "warm"); /* the thread's ring */
  }
  /* The reporter's first round runs as soon as its thread starts: it must be over before
   * allocations fail, or it loses what it cannot allocate for (CI saw one "deep" go missing). */
  assert_int_equal(trace_collector_flush(c), 0);
  trace_testing_fail_allocations_after(0);
  nest_deep(0);
  trace_testing_fail_allocations_after(-1);
  trace_span cur = trace_span_current();
  assert_true(trace_span_is_none(&cur));
  trace_shutdown();
  assert_int_equal(spans_named(&g, "deep"), DEEP);
  const got_span *kept = span_named(&g, "deep", DEEP - 64); /* depth 63, the last kept */
  assert_int_equal(value_of(kept, "depth")->number, 63);
  for (int d = 64; d < DEEP; d++)
    assert_int_equal(span_named(&g, "deep", (size_t)(DEEP - 1 - d))->parent_id, kept->id);
  got_free(&g);
}

/* The ways a scope's span can be misused, each with the outcome the contract gives: the span
 * closes once, at the right call; nothing else is touched; the thread's stack ends empty. Run
 * alone and as a registry layer: both must say the same. */
static void *end_elsewhere(void *arg) {
  trace_span_end(arg);
  return NULL;
}

static void scope_misuse(void **state) {
  (void)state;
  for (int layer = 0; layer < 2; layer++) {
    got g;
    got_init(&g);
    install_as(sink_collector(&g, NULL, path_in("misuse.json")), layer);
    /* trace_span_end on a span never entered: closed, nothing exited. */
    trace_span plain = TRACE_INFO_SPAN("never_entered");
    trace_span_end(&plain);
    assert_true(trace_span_is_none(&plain));
    /* Entered twice: one end exits one entry and drops the reference; the span lives on while
     * entered (a clone keeps it), and its last exit is the other entry. */
    trace_span twice = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "twice");
    trace_span_enter(&twice);
    trace_span keep = trace_span_clone(&twice);
    trace_span_end(&twice);
    trace_span cur = trace_span_current();
    assert_string_equal(trace_span_name(&cur), "twice");
    trace_span_close(&cur);
    trace_span_end(&keep);
    cur = trace_span_current();
    assert_true(trace_span_is_none(&cur));
    /* Ended out of order: the outer ends while the inner is still entered. */
    trace_span outer = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "outer");
    trace_span inner = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "inner");
    trace_span_end(&outer);
    cur = trace_span_current();
    assert_string_equal(trace_span_name(&cur), "inner");
    trace_span_close(&cur);
    trace_span child = TRACE_INFO_SPAN("child_of_inner");
    trace_span_close(&child);
    trace_span_end(&inner);
    cur = trace_span_current();
    assert_true(trace_span_is_none(&cur));
    /* A copied handle ended twice: the second end is a no-op, even once the span's slot is
     * reused by a new span, which stays entered and open. */
    trace_span first = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "first");
    trace_span copy = first;
    trace_span_end(&first);
    trace_span reuse = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "reuse");
    trace_span_end(&copy);
    cur = trace_span_current();
    assert_string_equal(trace_span_name(&cur), "reuse");
    trace_span_close(&cur);
    trace_span under = TRACE_INFO_SPAN("under_reuse");
    trace_span_close(&under);
    trace_span_end(&reuse);
    /* Values recorded on a scope's span later. */
    {
      TRACE_SCOPE_NAMED(sc, TRACE_LEVEL_INFO, "recorded_scope", TF(status, TRACE_EMPTY),
                        TF(note, "first"));
      TRACE_RECORD(&sc, status, 200);
      TRACE_RECORD(&sc, note, "second");
    }
    /* Ended on another thread: the exit there is a no-op (it was not entered there), the
     * close drops the reference. */
    trace_span away = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "ended_elsewhere");
    trace_span moved = away;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, end_elsewhere, &moved), 0);
    pthread_join(th, NULL);
    trace_span_exit(&away); /* the entry this thread still has */
    cur = trace_span_current();
    assert_true(trace_span_is_none(&cur));
    trace_span last = TRACE_INFO_SPAN("last");
    trace_span_close(&last);
    trace_shutdown();

    static const char *once[] = {"never_entered", "twice", "outer", "inner", "child_of_inner",
                                 "first", "reuse", "under_reuse", "recorded_scope",
                                 "ended_elsewhere", "last"};
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
      if (spans_named(&g, once[i]) != 1)
        print_error("%s: %zu spans (layer %d)\n", once[i], spans_named(&g, once[i]), layer);
      assert_int_equal(spans_named(&g, once[i]), 1);
      assert_false(span_named(&g, once[i], 0)->open);
    }
    assert_int_equal(span_named(&g, "inner", 0)->parent_id, span_named(&g, "outer", 0)->id);
    assert_int_equal(span_named(&g, "child_of_inner", 0)->parent_id,
                     span_named(&g, "inner", 0)->id);
    assert_int_equal(span_named(&g, "under_reuse", 0)->parent_id, span_named(&g, "reuse", 0)->id);
    assert_int_equal(span_named(&g, "last", 0)->parent_id, 0);
    const got_span *rs = span_named(&g, "recorded_scope", 0);
    assert_int_equal(value_of(rs, "status")->number, 200);
    assert_string_equal(value_of(rs, "note")->str, "second");
    got_free(&g);
    json_t *t = load_trace(path_in("misuse.json"));
    assert_int_equal(count_events(t, "X", "inner", NULL), 1);
    assert_int_equal(count_events(t, "X", "reuse", NULL), 1);
    json_decref(t);
  }
}

/* Subscribers switched while scopes are open, on one thread: each span's calls go to the
 * collector that made it (the thread's cached ring changes hands at every switch), and each
 * collector reports exactly its own spans, with their parents. Then two collectors, one with
 * another clock (off the scope fast path), alternate at every level. */
static trace_dispatch *collector_dispatch(got *g, trace_collector_options *o) {
  trace_dispatch *d = trace_collector_dispatch(sink_collector(g, o, NULL));
  assert_non_null(d);
  return d;
}

static uint64_t fake_now;
static uint64_t fake_clock(void *arg) {
  (void)arg;
  return __atomic_add_fetch(&fake_now, 1000, __ATOMIC_RELAXED);
}

static void subscribers_switched_with_open_scopes(void **state) {
  (void)state;
  got ga, gb;
  got_init(&ga);
  got_init(&gb);
  trace_collector_options ob;
  trace_collector_options_init(&ob);
  ob.clock = TRACE_COLLECTOR_CLOCK_CUSTOM;
  ob.clock_fn = fake_clock;
  trace_dispatch *a = collector_dispatch(&ga, NULL), *b = collector_dispatch(&gb, &ob);
  for (int round = 0; round < 50; round++) {
    trace_default_guard ga_guard = trace_set_default(a);
    trace_span a1 = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "a1");
    trace_default_guard gb_guard = trace_set_default(b);
    trace_span b1 = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "b1");
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "b2");
    }
    trace_default_guard_restore(&gb_guard);
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "a2"); /* a's again: under a1 */
    }
    trace_span_end(&b1); /* b's span, ended while a is the default */
    trace_span_end(&a1);
    trace_default_guard_restore(&ga_guard);
  }
  /* Uninstalled (no default at all) with a span still open: its end still reaches its own. */
  trace_default_guard ga_guard = trace_set_default(a);
  trace_span late = TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, "late");
  trace_default_guard_restore(&ga_guard);
  {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "nowhere"); /* no subscriber: none */
  }
  trace_span_end(&late);
  trace_dispatch_release(a);
  trace_dispatch_release(b);
  assert_int_equal(ga.closes, 1);
  assert_int_equal(gb.closes, 1);
  assert_int_equal(spans_named(&ga, "a1"), 50);
  assert_int_equal(spans_named(&ga, "a2"), 50);
  assert_int_equal(spans_named(&ga, "late"), 1);
  assert_int_equal(spans_named(&gb, "b1"), 50);
  assert_int_equal(spans_named(&gb, "b2"), 50);
  assert_int_equal(ga.n, 101);
  assert_int_equal(gb.n, 100);
  for (size_t i = 0; i < 50; i++) {
    const got_span *a1 = span_named(&ga, "a1", i), *a2 = span_named(&ga, "a2", i);
    const got_span *b1 = span_named(&gb, "b1", i), *b2 = span_named(&gb, "b2", i);
    assert_false(a1->open || a2->open || b1->open || b2->open);
    assert_int_equal(a1->parent_id, 0);
    assert_int_equal(b1->parent_id, 0);
    assert_int_equal(b2->parent_id, b1->id);
    /* a2 is a1's child: found by id among a's spans of any round */
    bool found = false;
    for (size_t k = 0; k < 50; k++)
      found |= span_named(&ga, "a1", k)->id == a2->parent_id;
    assert_true(found);
  }
  got_free(&ga);
  got_free(&gb);
}

/* trace_shutdown while scopes are open: they end afterwards without harm (their handles keep
 * the dispatcher), and are reported closed or open, once. */
static void shutdown_with_open_scopes(void **state) {
  (void)state;
  for (int mode = 0; mode < 2; mode++) {
    got g;
    got_init(&g);
    trace_collector_options o;
    trace_collector_options_init(&o);
    if (mode)
      o.flags = TRACE_COLLECTOR_EXACT_LIFETIMES; /* off the scope fast path */
    assert_int_equal(trace_collector_install(sink_collector(&g, &o, path_in("shut.json"))), 0);
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "outer", TF(s, "v"));
      {
        TRACE_SCOPE(TRACE_LEVEL_INFO, "inner");
        trace_shutdown();
        TRACE_SCOPE(TRACE_LEVEL_INFO, "after_shutdown");
      }
    }
    /* Everything after is a no-op, and a new collector can be installed. */
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "nobody");
    }
    assert_int_equal(spans_named(&g, "outer"), 1);
    assert_int_equal(spans_named(&g, "inner"), 1);
    assert_int_equal(spans_named(&g, "after_shutdown"), 0);
    assert_int_equal(spans_named(&g, "nobody"), 0);
    assert_string_equal(value_of(span_named(&g, "outer", 0), "s")->str, "v");
    assert_int_equal(span_named(&g, "inner", 0)->parent_id, span_named(&g, "outer", 0)->id);
    json_t *t = load_trace(path_in("shut.json"));
    json_decref(t);
    got_free(&g);
  }
}

/* fork inside a scope (a flight recorder): the child starts empty, ends the scope it inherited
 * without harm, and its dump has its own spans only; the parent's has the scope whole. */
static void fork_inside_a_scope(void **state) {
  (void)state;
  install_flight(65536);
  char child_path[256], parent_path[256];
  snprintf(child_path, sizeof child_path, "%s", path_in("fork-child.json"));
  snprintf(parent_path, sizeof parent_path, "%s", path_in("fork-parent.json"));
  pid_t pid;
  {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "around_fork", TF(k, "parent"));
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "before_fork");
    }
    pid = fork();
    if (pid == 0) {
      {
        TRACE_SCOPE(TRACE_LEVEL_INFO, "in_child");
      }
    }
  }
  if (pid == 0) {
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "child_after");
    }
    _exit(trace_flight_dump(child_path) == 0 ? 0 : 1);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  json_t *t = load_trace(child_path);
  assert_int_equal(count_events(t, "X", "in_child", NULL), 1);
  assert_int_equal(count_events(t, "X", "child_after", NULL), 1);
  assert_int_equal(count_events(t, NULL, "before_fork", NULL), 0);
  json_decref(t);
  assert_int_equal(trace_flight_dump(parent_path), 0);
  t = load_trace(parent_path);
  assert_int_equal(count_events(t, "X", "around_fork", NULL), 1);
  assert_int_equal(count_events(t, "X", "before_fork", NULL), 1);
  assert_int_equal(count_events(t, NULL, "in_child", NULL), 0);
  json_decref(t);
  trace_shutdown();
}

/* A handle made up by hand whose id is the one the next span gets (ids are predictable: a slot
 * freed is the next one taken, its generation one higher), given as that span's parent: the
 * span is its own parent, and a cycle through two spans likewise. The reporter must not walk
 * up the parents for ever: the spans are reported (the parent id as recorded, the link not
 * made), and shutdown returns. */
static void forged_parent_cycles(void **state) {
  (void)state;
  for (int open_at_end = 0; open_at_end < 2; open_at_end++) {
    got g;
    got_init(&g);
    assert_int_equal(trace_collector_install(sink_collector(&g, NULL, path_in("cycle.json"))), 0);
    /* Warm: a new page of slots leaves the thread's list long, and each close gives a batch
     * back until it is short; from then on the slot freed last is the next one taken. */
    for (int i = 0; i < 32; i++) {
      trace_span w = TRACE_INFO_SPAN("warm");
      trace_span_close(&w);
    }
    trace_span gone = TRACE_INFO_SPAN("gone");
    trace_span forged = gone;
    trace_span_close(&gone);
    forged.id += (uint64_t)1 << 32; /* the next generation of the same slot */
    trace_span self = TRACE_SPAN_IN(&forged, TRACE_LEVEL_INFO, "self");
    assert_int_equal(self.id, forged.id);
    /* Two spans, each the other's parent: freed p then q, the next spans take q's slot, then
     * p's; a is made under the id b will have, b under a. */
    trace_span p = TRACE_INFO_SPAN("p"), q = TRACE_INFO_SPAN("q");
    trace_span forged_b = p;
    forged_b.id += (uint64_t)1 << 32;
    trace_span_close(&p);
    trace_span_close(&q);
    trace_span a = TRACE_SPAN_IN(&forged_b, TRACE_LEVEL_INFO, "a");
    trace_span b = TRACE_SPAN_IN(&a, TRACE_LEVEL_INFO, "b");
    assert_int_equal(b.id, forged_b.id);
    if (!open_at_end) {
      trace_span_close(&self);
      trace_span_close(&b);
      trace_span_close(&a);
    }
    trace_shutdown(); /* returns: nothing walks up the parents for ever */
    const got_span *sp = span_named(&g, "self", 0), *sa = span_named(&g, "a", 0),
                   *sb = span_named(&g, "b", 0);
    assert_non_null(sp);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_int_equal(sp->open, open_at_end);
    assert_int_equal(sp->parent_id, sp->id); /* as recorded */
    assert_int_equal(sa->parent_id, sb->id);
    assert_int_equal(sb->parent_id, sa->id);
    json_t *t = load_trace(path_in("cycle.json"));
    assert_int_equal(count_events(t, "b", "self", NULL), 1); /* never entered: an async pair */
    json_decref(t);
    got_free(&g);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The reporter's span pool. */

/* Rounds of far more spans than the pool keeps (16,384), their values inline (up to 128 bytes)
 * or allocated, spans kept open across rounds while others are recycled around them: every
 * value arrives intact, every span once. */
#define POOL_SPANS 40000
static void pool_rounds_past_its_size(void **state) {
  (void)state;
  got g;
  got_init(&g);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.thread_buffer_bytes = (size_t)64 << 20;
  o.flush_interval_ms = 60000;
  trace_collector *c = sink_collector(&g, &o, NULL);
  assert_int_equal(trace_collector_install(c), 0);
  char buf[300];
  enum { HELD = 3000 };
  trace_span *held = calloc(HELD, sizeof *held);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < POOL_SPANS; i++) {
      size_t len = (size_t)(i % 7) * 40; /* 0 to 240: inline and allocated */
      fill(buf, len, (size_t)i);
      if (i < HELD && round == 0) {
        held[i] = TRACE_INFO_SPAN("held", TF(i, i), TF(s, trace_value_strn(buf, len)));
        continue;
      }
      TRACE_SCOPE(TRACE_LEVEL_INFO, "pooled", TF(i, i), TF(r, round),
                  TF(s, trace_value_strn(buf, len)), TF(t, trace_value_strn(buf, len / 2)));
    }
    assert_int_equal(trace_collector_flush(c), 0);
  }
  /* Values recorded on the held spans after three rounds of recycling around them. */
  for (int i = 0; i < HELD; i++) {
    TRACE_RECORD(&held[i], i, i + 1);
    trace_span_close(&held[i]);
  }
  free(held);
  trace_shutdown();
  assert_int_equal(spans_named(&g, "pooled"), 3 * POOL_SPANS - HELD);
  assert_int_equal(spans_named(&g, "held"), HELD);
  for (size_t k = 0; k < g.n; k++) {
    const got_span *sp = &g.spans[k];
    bool is_held = strcmp(sp->name, "held") == 0;
    /* held: its creation value, then the one recorded (the last one wins) */
    int i = (int)value_of(sp, "i")->number - is_held;
    size_t len = (size_t)(i % 7) * 40;
    fill(buf, len, (size_t)i);
    const got_value *v = value_of(sp, "s");
    assert_int_equal(v->len, len);
    assert_memory_equal(v->str, buf, len);
    if (!is_held) {
      v = value_of(sp, "t");
      assert_int_equal(v->len, len / 2);
      assert_memory_equal(v->str, buf, len / 2);
    } else {
      assert_int_equal(sp->nvalues, 3);
      assert_int_equal(sp->values[0].number, i);
    }
  }
  got_free(&g);
}

/* The reporter out of memory while it stores long values: spans still arrive (with the values
 * it could keep and truncated set, or none), nothing crashes; then memory comes back and the
 * next spans are whole. */
static void reporter_out_of_memory(void **state) {
  (void)state;
  for (long after = 0; after < 40; after += 3) {
    got g;
    got_init(&g);
    trace_collector_options o;
    trace_collector_options_init(&o);
    o.flush_interval_ms = 60000;
    o.chrome_path = NULL;
    trace_collector *c = sink_collector(&g, &o, path_in("oom.json"));
    assert_int_equal(trace_collector_install(c), 0);
    char buf[256];
    fill(buf, sizeof buf, 1);
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "warm"); /* the ring */
    }
    assert_int_equal(trace_collector_flush(c), 0);
    for (int i = 0; i < 200; i++) {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "starved", TF(i, i), TF(s, trace_value_strn(buf, 200)));
      TRACE_INFO(TF(s, trace_value_strn(buf, 200)), "ev");
    }
    trace_testing_fail_allocations_after(after);
    assert_int_equal(trace_collector_flush(c), 0);
    trace_testing_fail_allocations_after(-1);
    trace_collector_stats st = trace_collector_get_stats(c);
    for (int i = 0; i < 10; i++) {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "fed", TF(i, i), TF(s, trace_value_strn(buf, 200)));
    }
    trace_shutdown();
    size_t starved = spans_named(&g, "starved"), cut = 0;
    for (size_t k = 0; k < starved; k++) {
      const got_span *sp = span_named(&g, "starved", k);
      const got_value *v = value_of(sp, "s");
      if (!v || v->len != 200) {
        assert_true(sp->truncated);
        cut++;
      } else {
        assert_memory_equal(v->str, buf, 200);
      }
    }
    /* What was let go is counted: spans not reported, spans and events without values. */
    size_t events = 0, events_cut = 0;
    for (size_t k = 0; k < g.n; k++) {
      events += g.spans[k].is_event;
      events_cut += g.spans[k].is_event && g.spans[k].nvalues == 0;
    }
    assert_int_equal(events, 200); /* events need no span of their own: all of them arrive */
    assert_true(st.memory_drops >= (200 - starved) + cut + events_cut);
    if (after == 0)
      assert_true(st.memory_drops > 0);
    assert_int_equal(spans_named(&g, "fed"), 10);
    for (size_t k = 0; k < 10; k++) {
      const got_value *v = value_of(span_named(&g, "fed", k), "s");
      assert_non_null(v);
      assert_int_equal(v->len, 200);
    }
    got_free(&g);
  }
}

/* Many threads that exit with records still in their rings (partial pages, no flush): every
 * one of their spans and events is reported, with its values. */
#define EXITERS 64
static void *exiter(void *arg) {
  intptr_t n = (intptr_t)arg;
  char buf[64];
  fill(buf, sizeof buf, (size_t)n);
  for (int i = 0; i < (int)(n % 5) + 1; i++) {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "exiting", TF(n, (int64_t)n), TF(s, trace_value_strn(buf, 64)));
    TRACE_INFO(TF(n, (int64_t)n), "from %d", (int)n);
  }
  return NULL;
}

static void threads_exit_with_partial_rings(void **state) {
  (void)state;
  got g;
  got_init(&g);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.thread_buffer_bytes = 16384;
  assert_int_equal(trace_collector_install(sink_collector(&g, &o, NULL)), 0);
  size_t want = 0;
  for (int wave = 0; wave < 4; wave++) {
    pthread_t th[EXITERS];
    for (intptr_t n = 0; n < EXITERS; n++) {
      assert_int_equal(pthread_create(&th[n], NULL, exiter, (void *)(n + wave * EXITERS)), 0);
      want += (size_t)((n + wave * EXITERS) % 5) + 1;
    }
    for (int n = 0; n < EXITERS; n++)
      pthread_join(th[n], NULL);
  }
  trace_shutdown();
  assert_int_equal(spans_named(&g, "exiting"), want);
  size_t events = 0;
  for (size_t k = 0; k < g.n; k++) {
    const got_span *sp = &g.spans[k];
    int64_t n = (int64_t)value_of(sp, "n")->number;
    if (sp->is_event) {
      char msg[32];
      snprintf(msg, sizeof msg, "from %d", (int)n);
      assert_string_equal(sp->message, msg);
      events++;
      continue;
    }
    char buf[64];
    fill(buf, sizeof buf, (size_t)n);
    assert_int_equal(value_of(sp, "s")->len, 64);
    assert_memory_equal(value_of(sp, "s")->str, buf, 64);
  }
  assert_int_equal(events, want);
  got_free(&g);
}

/* ---------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(strings_every_length_every_offset),
      cmocka_unit_test(null_string_with_a_length),
      cmocka_unit_test(hostile_values_in_the_chrome_trace),
      cmocka_unit_test(huge_values_are_cut),
      cmocka_unit_test(ring_wraps_with_every_shape),
      cmocka_unit_test(flight_ring_wraps),
      cmocka_unit_test(escaped_values_fit_an_event),
      cmocka_unit_test(deep_nesting_keeps_parents),
      cmocka_unit_test(scope_misuse),
      cmocka_unit_test(subscribers_switched_with_open_scopes),
      cmocka_unit_test(forged_parent_cycles),
      cmocka_unit_test(shutdown_with_open_scopes),
      cmocka_unit_test(pool_rounds_past_its_size),
      cmocka_unit_test(reporter_out_of_memory),
      cmocka_unit_test(threads_exit_with_partial_rings),
  };
  /* The fork test runs on its own (collector_hostile_fork), outside the sanitizers, as
   * test_collector's do: a child of a process with threads starts its reporter there. */
  const struct CMUnitTest fork_tests[] = {
      cmocka_unit_test(fork_inside_a_scope),
  };
  if (argc > 1 && strcmp(argv[1], "fork") == 0)
    return cmocka_run_group_tests(fork_tests, make_scratch, remove_scratch);
  if (argc > 1)
    cmocka_set_test_filter(argv[1]); /* one test, by name (a pattern) */
  return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
