/* The collector: its outputs are read back with a JSON parser (jansson) and checked as a viewer
 * would need them -- complete events nest on each thread, async begin/end pairs match by id --
 * alone and as a layer, streamed and as a flight recorder, and under the faults of issue 14: a
 * full disk, many threads exiting with partial buffers, spans never closed, a clock going
 * backwards, fork, a crash mid-run. */
#define TRACE_TARGET "test"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "trace/collector.h"
#include "trace/fmt.h"
#include "trace/registry.h"

/* ---------------------------------------------------------------------------------------- */
/* Helpers: a scratch directory, files, and a checker of Chrome traces. */

static char scratch[64];

static int make_scratch(void **state) {
  (void)state;
  return scratch_dir_make(scratch, sizeof scratch, "trace-collector");
}

static int remove_scratch(void **state) {
  (void)state;
  scratch_dir_remove(scratch);
  return 0;
}

static const char *path_in(const char *name) {
  static char p[4][256];
  static int i;
  i = (i + 1) % 4;
  snprintf(p[i], sizeof p[i], "%s/%s", scratch, name);
  return p[i];
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *b = malloc(cap + 1);
  size_t r;
  while ((r = fread(b + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap)
      b = realloc(b, (cap *= 2) + 1);
  }
  fclose(f);
  b[n] = '\0';
  if (len)
    *len = n;
  return b;
}

/* Parses a trace strictly; with repair, a file cut after an event (the array without its
 * closing bracket, as a killed program leaves it at worst) is read once the trailing comma is
 * replaced by the bracket. NULL if it is neither. */
static json_t *parse_trace(const char *text, bool repair, bool *repaired) {
  json_error_t err;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
  if (repaired)
    *repaired = false;
  if (j || !repair)
    return j;
  size_t n = strlen(text);
  char *t = malloc(n + 2);
  memcpy(t, text, n + 1);
  while (n && (t[n - 1] == ' ' || t[n - 1] == '\n'))
    n--;
  if (n && t[n - 1] == ',')
    n--;
  t[n] = ']';
  t[n + 1] = '\0';
  j = json_loads(t, JSON_REJECT_DUPLICATES, &err);
  if (!j)
    print_error("not a trace even repaired: %s at line %d\n", err.text, err.line);
  free(t);
  if (repaired)
    *repaired = j != NULL;
  return j;
}

static json_t *load_trace(const char *path) {
  char *text = read_all(path, NULL);
  assert_non_null(text);
  json_error_t err;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
  if (!j)
    print_error("%s: %s at line %d col %d\n%.*s\n", path, err.text, err.line, err.column, 2000,
                text);
  free(text);
  assert_non_null(j);
  assert_true(json_is_array(j));
  return j;
}

/* Microseconds with three decimals, as nanoseconds. */
static long long ns_of(json_t *v) { return llround(json_number_value(v) * 1000.0); }

typedef struct ival {
  long long start, end;
} ival;

static int by_start(const void *a, const void *b) {
  const ival *x = a, *y = b;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  return x->end > y->end ? -1 : x->end < y->end; /* the longer (outer) first */
}

/* Checks what a viewer relies on: every event has the keys of its kind, complete events nest
 * on each thread (none starts inside another and ends after it), async begins and ends pair up
 * by id with the end not before the begin. Returns the number of events. */
static size_t check_trace(json_t *arr) {
  size_t n = json_array_size(arr);
  ival *iv = calloc(n ? n : 1, sizeof *iv);
  long long *tids = calloc(n ? n : 1, sizeof *tids);
  json_t *open_b = json_object();
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    assert_true(json_is_object(e));
    const char *ph = json_string_value(json_object_get(e, "ph"));
    assert_non_null(ph);
    assert_non_null(json_string_value(json_object_get(e, "name")));
    assert_true(json_is_integer(json_object_get(e, "pid")));
    if (strcmp(ph, "M") == 0)
      continue;
    assert_true(json_is_number(json_object_get(e, "ts")));
    assert_true(json_is_integer(json_object_get(e, "tid")));
    if (strcmp(ph, "X") == 0) {
      assert_true(json_is_number(json_object_get(e, "dur")));
      assert_true(json_number_value(json_object_get(e, "dur")) >= 0);
    } else if (strcmp(ph, "b") == 0 || strcmp(ph, "e") == 0) {
      const char *id = json_string_value(json_object_get(e, "id"));
      assert_non_null(id);
      json_t *b = json_object_get(open_b, id);
      if (ph[0] == 'b') {
        assert_null(b); /* one life per id */
        json_object_set_new(open_b, id, json_real(json_number_value(json_object_get(e, "ts"))));
      } else {
        assert_non_null(b);
        assert_true(json_number_value(json_object_get(e, "ts")) >= json_real_value(b));
        json_object_del(open_b, id);
      }
    } else {
      assert_string_equal(ph, "i");
    }
  }
  assert_int_equal(json_object_size(open_b), 0); /* every begin has its end */
  json_decref(open_b);
  /* Per thread: complete events nest. */
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    tids[i] = json_integer_value(json_object_get(e, "tid"));
  }
  for (size_t i = 0; i < n; i++) {
    long long tid = tids[i];
    bool first = true;
    for (size_t k = 0; k < i; k++)
      first &= tids[k] != tid;
    if (!first)
      continue;
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
      json_t *e = json_array_get(arr, k);
      if (tids[k] != tid || strcmp(json_string_value(json_object_get(e, "ph")), "X") != 0)
        continue;
      iv[m].start = ns_of(json_object_get(e, "ts"));
      iv[m].end = iv[m].start + ns_of(json_object_get(e, "dur"));
      m++;
    }
    qsort(iv, m, sizeof *iv, by_start);
    long long stack[256];
    int depth = 0;
    for (size_t k = 0; k < m; k++) {
      while (depth && stack[depth - 1] <= iv[k].start)
        depth--;
      if (depth && iv[k].end > stack[depth - 1]) {
        print_error("thread %lld: [%lld, %lld] overlaps an interval ending at %lld\n", tid,
                    iv[k].start, iv[k].end, stack[depth - 1]);
        fail();
      }
      if (depth < 256)
        stack[depth++] = iv[k].end;
    }
  }
  free(iv);
  free(tids);
  return n;
}

/* Events of kind ph (NULL: any) named name (NULL: any). */
static size_t count(json_t *arr, const char *ph, const char *name) {
  size_t c = 0;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    if ((!ph || strcmp(json_string_value(json_object_get(e, "ph")), ph) == 0) &&
        (!name || strcmp(json_string_value(json_object_get(e, "name")), name) == 0))
      c++;
  }
  return c;
}

static json_t *find(json_t *arr, const char *ph, const char *name) {
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    if (strcmp(json_string_value(json_object_get(e, "ph")), ph) == 0 &&
        strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
      return e;
  }
  return NULL;
}

static trace_collector *new_collector(trace_collector_options *o) {
  trace_collector *c = NULL;
  int rc = trace_collector_new(o, &c);
  if (rc != 0)
    print_error("trace_collector_new: %s\n", trace_strerror(rc));
  assert_int_equal(rc, 0);
  assert_non_null(c);
  return c;
}

static trace_collector *stream_to(const char *chrome, const char *folded) {
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.chrome_path = chrome;
  o.folded_path = folded;
  return new_collector(&o);
}

/* The workload most tests use: a root with nested and sequential children, an event. */
static void nested_work(int groups) {
  trace_span root = TRACE_INFO_SPAN("root", TF(groups, groups), TF(kind, "test"));
  trace_span_enter(&root);
  for (int g = 0; g < groups; g++) {
    trace_span a = TRACE_INFO_SPAN("outer", TF(g, g), TF(name, "outer"));
    trace_span_enter(&a);
    trace_span b = TRACE_INFO_SPAN("inner", TF(g, g), TF(ok, (bool)(g % 2)));
    trace_span_enter(&b);
    TRACE_INFO(TF(g, g), "working on %d", g);
    trace_span_exit(&b);
    trace_span_close(&b);
    trace_span_exit(&a);
    trace_span_close(&a);
  }
  trace_span_exit(&root);
  trace_span_close(&root);
}

/* ---------------------------------------------------------------------------------------- */
/* Outputs. */

static void stream_chrome_and_folded(void **state) {
  (void)state;
  trace_collector *c = stream_to(path_in("t.json"), path_in("t.folded"));
  assert_int_equal(trace_collector_install(c), 0);
  trace_thread_set_name("tester");
  nested_work(5);
  trace_shutdown();
  json_t *t = load_trace(path_in("t.json"));
  check_trace(t);
  assert_int_equal(count(t, "X", "root"), 1);
  assert_int_equal(count(t, "X", "outer"), 5);
  assert_int_equal(count(t, "X", "inner"), 5);
  assert_int_equal(count(t, "i", "working on 3"), 1);
  assert_int_equal(count(t, "b", NULL), 0); /* everything nested on one thread */
  json_t *pn = find(t, "M", "process_name");
  assert_non_null(pn);
  json_t *tn = find(t, "M", "thread_name");
  assert_non_null(tn);
  assert_string_equal(json_string_value(json_object_get(json_object_get(tn, "args"), "name")),
                      "tester");
  /* Fields are args, with their types. */
  json_t *inner = find(t, "X", "inner");
  json_t *args = json_object_get(inner, "args");
  assert_true(json_is_integer(json_object_get(args, "g")));
  assert_true(json_is_boolean(json_object_get(args, "ok")));
  json_t *outer = find(t, "X", "outer");
  assert_string_equal(json_string_value(json_object_get(json_object_get(outer, "args"), "name")),
                      "outer");
  assert_string_equal(json_string_value(json_object_get(outer, "cat")), "test");
  json_t *ev = find(t, "i", "working on 3");
  assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "args"), "level")),
                      "INFO");
  json_decref(t);
  /* Folded stacks: every stack of the workload, with a count. */
  char *folded = read_all(path_in("t.folded"), NULL);
  assert_non_null(folded);
  assert_text_contains(folded, "root;outer;inner ");
  assert_text_contains(folded, "root;outer ");
  for (char *line = folded; *line;) {
    char *eol = strchr(line, '\n');
    assert_non_null(eol);
    char *sp = eol;
    while (sp > line && sp[-1] != ' ')
      sp--;
    assert_true(sp > line);
    assert_true(strtoull(sp, NULL, 10) > 0);
    line = eol + 1;
  }
  free(folded);
}

static void folded_wall_with_threads(void **state) {
  (void)state;
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.folded_path = path_in("w.folded");
  o.folded_time = TRACE_FOLDED_WALL;
  o.folded_threads = true;
  o.flags = TRACE_COLLECTOR_EXACT_LIFETIMES; /* the span is never entered: see docs/timeline.md */
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  trace_thread_set_name("walls");
  trace_span s = TRACE_INFO_SPAN("never;entered");
  struct timespec ts = {0, 2000000};
  nanosleep(&ts, NULL);
  trace_span_close(&s);
  trace_shutdown();
  char *folded = read_all(path_in("w.folded"), NULL);
  /* Wall time counts a span that was never entered; ';' in a name cannot split a frame. */
  assert_text_contains(folded, "walls;never:entered ");
  unsigned long long v = strtoull(strrchr(folded, ' ') + 1, NULL, 10);
  assert_true(v >= 2000000);
  free(folded);
}

/* The sum of the numbers of the folded lines whose stack is exactly stack (the writer may give
 * a stack one line per reporting round; the tools add them up, and so does this). */
static unsigned long long folded_sum(const char *folded, const char *stack) {
  unsigned long long sum = 0;
  size_t n = strlen(stack);
  for (const char *line = folded; *line;) {
    const char *eol = strchr(line, '\n');
    assert_non_null(eol);
    if (strncmp(line, stack, n) == 0 && line[n] == ' ')
      sum += strtoull(line + n + 1, NULL, 10);
    line = eol + 1;
  }
  return sum;
}

/* A clock the test moves by hand: every timestamp of the collector is known. */
static uint64_t stepped_now;
static uint64_t stepped_clock(void *arg) {
  (void)arg;
  return __atomic_load_n(&stepped_now, __ATOMIC_RELAXED);
}

/* Busy and wall time of the same two spans, with every timestamp chosen:
 *
 *   t:     1000  2000  3000  4000        7000  7500        9000        12000
 *   a:     new   enter                                     exit        close
 *   b:                 new   enter       exit  close
 *
 * busy: a is entered 2000..9000 less b's 4000..7000 = 4000, b 3000;
 * wall: a lives 1000..12000 less b's 3000..7500 = 6500, b 4500. */
static void folded_busy_and_wall_differ(void **state) {
  (void)state;
  const unsigned long long want[2][2] = {{4000, 3000}, {6500, 4500}}; /* [busy|wall][a|a;b] */
  for (int wall = 0; wall < 2; wall++) {
    trace_collector_options o;
    trace_collector_options_init(&o);
    o.folded_path = path_in(wall ? "bw-wall.folded" : "bw-busy.folded");
    o.folded_time = wall ? TRACE_FOLDED_WALL : TRACE_FOLDED_BUSY;
    o.clock = TRACE_COLLECTOR_CLOCK_CUSTOM;
    o.clock_fn = stepped_clock;
    o.flags = TRACE_COLLECTOR_EXACT_LIFETIMES;
    trace_collector *c = new_collector(&o);
    assert_int_equal(trace_collector_install(c), 0);
    stepped_now = 1000;
    trace_span a = TRACE_INFO_SPAN("a");
    stepped_now = 2000;
    trace_span_enter(&a);
    stepped_now = 3000;
    trace_span b = TRACE_INFO_SPAN("b");
    stepped_now = 4000;
    trace_span_enter(&b);
    stepped_now = 7000;
    trace_span_exit(&b);
    stepped_now = 7500;
    trace_span_close(&b);
    stepped_now = 9000;
    trace_span_exit(&a);
    stepped_now = 12000;
    trace_span_close(&a);
    trace_shutdown();
    char *folded = read_all(o.folded_path, NULL);
    assert_non_null(folded);
    assert_int_equal(folded_sum(folded, "a"), want[wall][0]);
    assert_int_equal(folded_sum(folded, "a;b"), want[wall][1]);
    free(folded);
  }
}

static void as_a_layer_with_fmt_and_filters(void **state) {
  (void)state;
  trace_collector *c = stream_to(path_in("l.json"), NULL);
  trace_registry *r = trace_registry_new();
  assert_int_equal(trace_registry_add_layer(r, trace_collector_layer(c),
                                            trace_filter_level(TRACE_LEVEL_INFO)),
                   0);
  trace_capture *cap = NULL;
  assert_int_equal(trace_registry_install(r), 0);
  (void)cap;
  trace_span root = TRACE_INFO_SPAN("root");
  trace_span_enter(&root);
  trace_span dbg = TRACE_DEBUG_SPAN("filtered_out");
  trace_span_enter(&dbg);
  trace_span kid = TRACE_INFO_SPAN("kid", TF(x, 1));
  trace_span_enter(&kid);
  TRACE_WARN("inside the kid");
  trace_span_exit(&kid);
  trace_span_close(&kid);
  trace_span_exit(&dbg);
  trace_span_close(&dbg);
  trace_span_exit(&root);
  trace_span_close(&root);
  assert_int_equal(trace_collector_flush(c), 0);
  trace_shutdown();
  json_t *t = load_trace(path_in("l.json"));
  check_trace(t);
  assert_int_equal(count(t, "X", "root"), 1);
  assert_int_equal(count(t, "X", "kid"), 1);
  assert_int_equal(count(t, NULL, "filtered_out"), 0);
  assert_int_equal(count(t, "i", "inside the kid"), 1);
  json_decref(t);
}

/* A dump's bytes, collected by trace_collector_dump_to. */
typedef struct bytes {
  char *data;
  size_t len;
} bytes;

static int collect(void *arg, const char *data, size_t len) {
  bytes *b = arg;
  b->data = realloc(b->data, b->len + len + 1);
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

static int refuse(void *arg, const char *data, size_t len) {
  (void)arg, (void)data, (void)len;
  return -1;
}

/* trace_init's extra layer: the collector next to fmt, under the env-filter. */
static int count_lines(void *arg, const char *line, size_t len) {
  (void)line, (void)len;
  (*(int *)arg)++;
  return 0;
}

static void next_to_fmt_with_trace_init(void **state) {
  (void)state;
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.mode = TRACE_COLLECTOR_FLIGHT;
  trace_collector *c = new_collector(&o);
  int lines = 0;
  trace_init_options io;
  trace_init_options_init(&io);
  io.filter = "info";
  io.fmt.writer = trace_writer_callback(count_lines, NULL, NULL, &lines);
  io.layer = trace_collector_layer(c);
  assert_int_equal(trace_init_with(&io), 0);
  trace_span hidden = TRACE_DEBUG_SPAN("hidden");
  trace_span_enter(&hidden);
  nested_work(2);
  trace_span_exit(&hidden);
  trace_span_close(&hidden);
  assert_int_equal(lines, 2); /* fmt printed the two events */
  bytes b = {NULL, 0};
  assert_int_equal(trace_collector_dump_to(c, collect, &b, 0), 0);
  json_t *t = parse_trace(b.data, false, NULL);
  free(b.data);
  assert_non_null(t);
  check_trace(t);
  assert_int_equal(count(t, "X", "inner"), 2);
  assert_int_equal(count(t, NULL, "hidden"), 0);
  json_decref(t);
  /* A second trace_init fails and frees the layer it was given (and its collector). */
  trace_collector *c2 = new_collector(&o);
  trace_init_options io2;
  trace_init_options_init(&io2);
  io2.layer = trace_collector_layer(c2);
  assert_int_equal(trace_init_with(&io2), TRACE_EEXIST);
  trace_shutdown();
}

/* Strings are copied up to the bound and cut visibly; nothing a value holds can break the
 * document; FMT values and messages are formatted when recorded; records update the args. */
static size_t fmt_hello(char *buf, size_t cap, const void *arg) {
  return (size_t)snprintf(buf, cap, "hello %d", *(const int *)arg);
}

static void values_of_every_kind(void **state) {
  (void)state;
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.chrome_path = path_in("v.json");
  o.string_bytes = 16;
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  int seven = 7;
  const char hostile[] = "a\"b\\c\n\x01\xff\xfe end";
  trace_span s = TRACE_INFO_SPAN("kinds", TF(i, -5), TF(u, 5u), TF(f, 0.5), TF(b, (bool)true),
                                 TF(p, (void *)0x10), TF(s, "short"),
                                 TF(long_s, "0123456789abcdefghij"), TF(nul, (const char *)NULL),
                                 TF_FMT(fmt, fmt_hello, &seven), TF(hostile, hostile),
                                 TF(later, TRACE_EMPTY), TF(nan, 0.0 / 0.0), TF(empty, ""));
  TRACE_RECORD(&s, later, 42);
  trace_span_enter(&s);
  /* A FMT value keeps only the words its text takes: the message after it is found. */
  TRACE_INFO(TF_FMT(f, fmt_hello, &seven), TF(v, hostile), "message with %s", "\"quotes\"\n");
  trace_span_exit(&s);
  trace_span_close(&s);
  trace_shutdown();
  json_t *t = load_trace(path_in("v.json"));
  check_trace(t);
  json_t *a = json_object_get(find(t, "X", "kinds"), "args");
  assert_int_equal(json_integer_value(json_object_get(a, "i")), -5);
  assert_int_equal(json_integer_value(json_object_get(a, "u")), 5);
  assert_true(json_real_value(json_object_get(a, "f")) == 0.5);
  assert_true(json_is_true(json_object_get(a, "b")));
  assert_string_equal(json_string_value(json_object_get(a, "p")), "0x10");
  assert_string_equal(json_string_value(json_object_get(a, "s")), "short");
  assert_string_equal(json_string_value(json_object_get(a, "long_s")), "0123456789abcdef\xE2\x80\xA6");
  assert_true(json_is_null(json_object_get(a, "nul")));
  assert_string_equal(json_string_value(json_object_get(a, "empty")), ""); /* not null */
  assert_string_equal(json_string_value(json_object_get(a, "fmt")), "hello 7");
  assert_int_equal(json_integer_value(json_object_get(a, "later")), 42);
  assert_true(json_is_null(json_object_get(a, "nan")));
  assert_non_null(json_string_value(json_object_get(a, "hostile")));
  /* The message too is cut at the bound, on a whole character, visibly. */
  assert_int_equal(count(t, "i", "message with \"qu\xE2\x80\xA6"), 1);
  json_t *e = json_object_get(find(t, "i", "message with \"qu\xE2\x80\xA6"), "args");
  assert_string_equal(json_string_value(json_object_get(e, "f")), "hello 7");
  assert_non_null(json_string_value(json_object_get(e, "v")));
  json_decref(t);
}

/* More values than the simple path takes, and names that collide with the keys of the format. */
static void many_fields_and_colliding_names(void **state) {
  (void)state;
  trace_collector *c = stream_to(path_in("m.json"), NULL);
  assert_int_equal(trace_collector_install(c), 0);
  trace_span s = TRACE_INFO_SPAN("many", TF(f0, 0), TF(f1, "one"), TF(f2, 2), TF(f3, "three"),
                                 TF(f4, 4), TF(f5, 5), TF(f6, 6), TF(f7, 7), TF(f8, 8), TF(f9, 9),
                                 TF(f10, 10), TF(f11, 11), TF(f12, 12), TF(f13, 13), TF(f14, 14),
                                 TF(f15, 15), TF(f16, "sixteen"), TF(open, 1));
  trace_span_enter(&s);
  TRACE_INFO(TF(level, "mine"), TF(span, 3), "collide");
  trace_span_exit(&s);
  trace_span_close(&s);
  trace_shutdown();
  json_t *t = load_trace(path_in("m.json"));
  check_trace(t);
  json_t *a = json_object_get(find(t, "X", "many"), "args");
  assert_string_equal(json_string_value(json_object_get(a, "f16")), "sixteen");
  assert_int_equal(json_integer_value(json_object_get(a, "f15")), 15);
  assert_int_equal(json_integer_value(json_object_get(a, "open")), 1);
  json_t *e = json_object_get(find(t, "i", "collide"), "args");
  assert_string_equal(json_string_value(json_object_get(e, "level")), "INFO");
  assert_string_equal(json_string_value(json_object_get(e, "field.level")), "mine");
  assert_int_equal(json_integer_value(json_object_get(e, "field.span")), 3);
  json_decref(t);
}

/* ---------------------------------------------------------------------------------------- */
/* The standalone subscriber's contract. */

static void clone_close_and_stale_ids(void **state) {
  (void)state;
  trace_collector *c = stream_to(path_in("c.json"), NULL);
  assert_int_equal(trace_collector_install(c), 0);
  /* A clone keeps the span alive: one life, ending at the clone's close. */
  trace_span s = TRACE_INFO_SPAN("cloned");
  trace_span k = trace_span_clone(&s);
  assert_false(trace_span_is_none(&k));
  trace_span copy = s;
  trace_span_close(&s);
  trace_span_close(&copy); /* a copy of a closed handle: this reference was the clone's */
  trace_span_close(&k);    /* already closed by the copy: ignored */
  /* A stale id is ignored everywhere. */
  trace_span gone = TRACE_INFO_SPAN("gone");
  trace_span stale = gone;
  trace_span_close(&gone);
  trace_span_enter(&stale);
  trace_span_exit(&stale);
  trace_span_close(&stale);
  assert_true(trace_span_is_none(&stale));
  /* current_span: the innermost entered span of this thread. */
  trace_span outer = TRACE_INFO_SPAN("outer");
  trace_span_enter(&outer);
  trace_span inner = TRACE_INFO_SPAN("inner");
  trace_span_enter(&inner);
  trace_span cur = trace_span_current();
  assert_string_equal(trace_span_name(&cur), "inner");
  trace_span_close(&cur);
  trace_span_exit(&inner);
  trace_span_close(&inner);
  cur = trace_span_current();
  assert_string_equal(trace_span_name(&cur), "outer");
  trace_span_close(&cur);
  /* Exits out of order are taken in any order. */
  trace_span x = TRACE_INFO_SPAN("x");
  trace_span y = TRACE_INFO_SPAN("y");
  trace_span_enter(&x);
  trace_span_enter(&y);
  trace_span_exit(&x);
  trace_span_exit(&y);
  trace_span_close(&x);
  trace_span_close(&y);
  trace_span_exit(&outer);
  trace_span_close(&outer);
  trace_shutdown();
  json_t *t = load_trace(path_in("c.json"));
  check_trace(t);
  assert_int_equal(count(t, "b", "cloned"), 1); /* never entered: its life as an async pair */
  assert_int_equal(count(t, "b", "gone"), 1);
  assert_int_equal(count(t, "X", "gone"), 0);
  assert_int_equal(count(t, "X", "inner"), 1);
  /* x left before y, which was entered inside it: x is an async pair, y a complete event. */
  assert_int_equal(count(t, "X", "x"), 0);
  assert_int_equal(count(t, "b", "x"), 1);
  assert_int_equal(count(t, "X", "y"), 1);
  json_decref(t);
}

/* TRACE_SCOPE's two calls (TRACE_SPAN_ENTERED, trace_span_end), which the collector takes in
 * one go each, record exactly what the four calls one by one record: in order, out of order (a
 * span ended while its child is still entered), and for a span a clone keeps open. The Chrome
 * trace shows the runs, the folded stacks (wall time) the lifetimes. */
static uint64_t counted_now;
static uint64_t counted_clock(void *arg) {
  (void)arg;
  return __atomic_add_fetch(&counted_now, 1000, __ATOMIC_RELAXED);
}

/* Whether every stack of a has the same total in b (see folded_sum: where the writer's rounds
 * end depends on the machine's timing, a loaded machine may start one in the middle of a test). */
static void assert_stacks_in(const char *a, const char *b) {
  for (const char *line = a; *line;) {
    const char *eol = strchr(line, '\n');
    assert_non_null(eol);
    const char *space = memrchr(line, ' ', (size_t)(eol - line));
    assert_non_null(space);
    char stack[1024];
    assert_true((size_t)(space - line) < sizeof stack);
    memcpy(stack, line, (size_t)(space - line));
    stack[space - line] = '\0';
    assert_int_equal(folded_sum(a, stack), folded_sum(b, stack));
    line = eol + 1;
  }
}

#define MADE_ENTERED(scoped, name, ...)                                                            \
  (scoped ? TRACE_SPAN_ENTERED(TRACE_LEVEL_INFO, name, __VA_ARGS__)                                \
          : entered(TRACE_INFO_SPAN(name, __VA_ARGS__)))
static trace_span entered(trace_span s) {
  trace_span_enter(&s);
  return s;
}
static void ended(bool scoped, trace_span *s) {
  if (scoped) {
    trace_span_end(s);
  } else {
    trace_span_exit(s);
    trace_span_close(s);
  }
}

/* Spans nested deeper than the collector's entered stack remembers (64): past it, a scope
 * takes the general path. */
static void nest(bool scoped, int depth) {
  if (depth == 0)
    return;
  trace_span s = MADE_ENTERED(scoped, "deep", TF(depth, depth));
  nest(scoped, depth - 1);
  ended(scoped, &s);
}

static void scope_work(bool scoped) {
  trace_span root = MADE_ENTERED(scoped, "root", TF(kind, "test"));
  nest(scoped, 100);
  for (int g = 0; g < 3; g++) {
    trace_span a = MADE_ENTERED(scoped, "outer", TF(g, g), TF(name, "outer"));
    trace_span b = MADE_ENTERED(scoped, "inner", TF(g, g), TF(ok, (bool)(g % 2)));
    TRACE_INFO(TF(g, g), "working on %d", g);
    ended(scoped, &b);
    ended(scoped, &a);
  }
  trace_span x = MADE_ENTERED(scoped, "x", TF(n, 1));
  trace_span y = MADE_ENTERED(scoped, "y", TF(n, 2));
  ended(scoped, &x); /* y is still entered */
  ended(scoped, &y);
  trace_span kept = MADE_ENTERED(scoped, "kept", TF(n, 3));
  trace_span clone = trace_span_clone(&kept);
  ended(scoped, &kept); /* exits; the clone keeps it open */
  trace_span_close(&clone);
  ended(scoped, &root);
}

/* The events of a Chrome trace without their times: phase, name, args, one line each. */
static char *shape_of(json_t *t) {
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap);
  assert_non_null(out);
  for (size_t i = 0; i < json_array_size(t); i++) {
    json_t *e = json_array_get(t, i);
    char *args = json_dumps(json_object_get(e, "args"), JSON_SORT_KEYS | JSON_COMPACT);
    int n = snprintf(out + len, cap - len, "%s %s %s\n", json_string_value(json_object_get(e, "ph")),
                     json_string_value(json_object_get(e, "name")), args ? args : "-");
    free(args);
    assert_true(n > 0 && (size_t)n < cap - len);
    len += (size_t)n;
  }
  return out;
}

static void scopes_record_what_the_calls_record(void **state) {
  (void)state;
  for (int exact = 0; exact < 2; exact++) {
    char *text[2], *folded[2];
    for (int scoped = 0; scoped < 2; scoped++) {
      trace_collector_options o;
      trace_collector_options_init(&o);
      o.chrome_path = path_in(scoped ? "scoped.json" : "calls.json");
      o.folded_path = path_in(scoped ? "scoped.folded" : "calls.folded");
      o.folded_time = TRACE_FOLDED_WALL;
      o.clock = TRACE_COLLECTOR_CLOCK_CUSTOM;
      o.clock_fn = counted_clock;
      o.flags = exact ? TRACE_COLLECTOR_EXACT_LIFETIMES : 0;
      counted_now = 0;
      assert_int_equal(trace_collector_install(new_collector(&o)), 0);
      scope_work(scoped);
      trace_shutdown();
      text[scoped] = read_all(o.chrome_path, NULL);
      folded[scoped] = read_all(o.folded_path, NULL);
      assert_non_null(text[scoped]);
      assert_non_null(folded[scoped]);
    }
    assert_text_equal(text[1], text[0]);
    assert_stacks_in(folded[0], folded[1]);
    assert_stacks_in(folded[1], folded[0]);
    assert_text_contains(folded[1], "root;outer;inner ");
    json_t *t = load_trace(path_in("scoped.json"));
    check_trace(t);
    assert_int_equal(count(t, "X", "outer"), 3);
    assert_int_equal(count(t, "X", "inner"), 3);
    assert_int_equal(count(t, "i", "working on 2"), 1);
    assert_int_equal(count(t, "b", "x"), 1); /* left before y: an async pair */
    assert_int_equal(count(t, "X", "y"), 1);
    assert_int_equal(count(t, "X", "kept"), 1);
    assert_int_equal(count(t, "X", "deep"), 100);
    /* The machine's own clock (the TSC where it can be: a path of its own) records the same
     * events, at other times. */
    trace_collector_options o;
    trace_collector_options_init(&o);
    o.chrome_path = path_in("own_clock.json");
    o.flags = exact ? TRACE_COLLECTOR_EXACT_LIFETIMES : 0;
    assert_int_equal(trace_collector_install(new_collector(&o)), 0);
    scope_work(true);
    trace_shutdown();
    json_t *own = load_trace(o.chrome_path);
    check_trace(own);
    char *want = shape_of(t), *got = shape_of(own);
    assert_string_equal(got, want);
    free(want);
    free(got);
    json_decref(own);
    json_decref(t);
    for (int i = 0; i < 2; i++) {
      free(text[i]);
      free(folded[i]);
    }
  }
}

/* A span created on one thread and entered on another crosses threads: its life is an async
 * pair, its run a complete event on the thread that entered it. */
static void *enter_elsewhere(void *arg) {
  trace_span *s = arg;
  trace_thread_set_name("worker");
  trace_span_enter(s);
  TRACE_INFO("in the worker");
  trace_span_exit(s);
  trace_span_close(s);
  return NULL;
}

static void spans_crossing_threads(void **state) {
  (void)state;
  trace_collector *c = stream_to(path_in("x.json"), NULL);
  assert_int_equal(trace_collector_install(c), 0);
  trace_span s = TRACE_INFO_SPAN("handed_over", TF(job, 1));
  pthread_t th;
  pthread_create(&th, NULL, enter_elsewhere, &s);
  pthread_join(th, NULL);
  trace_shutdown();
  json_t *t = load_trace(path_in("x.json"));
  check_trace(t);
  assert_int_equal(count(t, "b", "handed_over"), 1);
  json_t *x = find(t, "X", "handed_over");
  assert_non_null(x);
  json_t *b = find(t, "b", "handed_over");
  assert_int_not_equal(json_integer_value(json_object_get(x, "tid")),
                       json_integer_value(json_object_get(b, "tid")));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(x, "args"), "job")), 1);
  json_decref(t);
}

/* ---------------------------------------------------------------------------------------- */
/* Faults. */

static void spans_never_closed_are_open(void **state) {
  (void)state;
  trace_collector *c = stream_to(path_in("o.json"), NULL);
  assert_int_equal(trace_collector_install(c), 0);
  trace_span forever = TRACE_INFO_SPAN("forever", TF(a, 1));
  trace_span_enter(&forever);
  trace_span idle = TRACE_INFO_SPAN("idle");
  nested_work(2);
  trace_shutdown(); /* neither exited nor closed */
  json_t *t = load_trace(path_in("o.json"));
  check_trace(t);
  json_t *f = find(t, "X", "forever");
  assert_non_null(f);
  assert_true(json_is_true(json_object_get(json_object_get(f, "args"), "open")));
  json_t *i = find(t, "b", "idle");
  assert_non_null(i);
  assert_true(json_is_true(json_object_get(json_object_get(i, "args"), "open")));
  assert_int_equal(count(t, "e", "idle"), 1);
  json_decref(t);
  (void)idle;
}

static uint64_t backwards_now = 10000000000ull;
static uint64_t backwards_clock(void *arg) {
  (void)arg;
  /* Forward by 1 ms, then back by 3 ms every third reading. */
  static unsigned n;
  backwards_now += ++n % 3 ? 1000000 : (uint64_t)-3000000;
  return backwards_now;
}

static void clock_going_backwards(void **state) {
  (void)state;
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.chrome_path = path_in("b.json");
  o.folded_path = path_in("b.folded");
  o.clock = TRACE_COLLECTOR_CLOCK_CUSTOM;
  o.clock_fn = backwards_clock;
  o.flags = TRACE_COLLECTOR_EXACT_LIFETIMES;
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(10);
  trace_collector_stats st = trace_collector_get_stats(c);
  trace_collector_flush(c);
  st = trace_collector_get_stats(c);
  assert_true(st.clock_backwards > 0);
  trace_shutdown();
  json_t *t = load_trace(path_in("b.json"));
  check_trace(t); /* durations never negative, intervals still nest */
  assert_int_equal(count(t, "X", "inner"), 10);
  json_decref(t);
}

static void full_disk(void **state) {
  (void)state;
  /* /dev/full: every write fails with ENOSPC. Nothing crashes or hangs; the failure is
   * counted, the records are dropped, and the program goes on. */
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.chrome_path = "/dev/full";
  o.folded_path = "/dev/full";
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(50);
  assert_int_equal(trace_collector_flush(c), 0);
  trace_collector_stats st = trace_collector_get_stats(c);
  assert_true(st.write_errors >= 1);
  assert_int_equal(st.last_error, ENOSPC);
  assert_int_equal(st.events_written, 0);
  assert_true(st.events_dropped > 0);
  trace_shutdown();
}

/* A file that cannot grow past 20 KiB (RLIMIT_FSIZE, like a disk that fills up): the file holds
 * the events that fitted and is a complete document. In a child, which the limit must not
 * outlive. */
static void disk_fills_up_mid_file(void **state) {
  (void)state;
  const char *path = path_in("full.json");
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {20 * 1024, 20 * 1024};
    setrlimit(RLIMIT_FSIZE, &rl);
    trace_collector *c = NULL;
    trace_collector_options o;
    trace_collector_options_init(&o);
    o.chrome_path = path;
    if (trace_collector_new(&o, &c) != 0 || trace_collector_install(c) != 0)
      _exit(2);
    for (int i = 0; i < 20; i++) {
      nested_work(20);
      trace_collector_flush(c);
    }
    trace_collector_stats st = trace_collector_get_stats(c);
    trace_shutdown();
    _exit(st.write_errors >= 1 && st.last_error == EFBIG && st.events_written > 0 ? 0 : 3);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_true(sb.st_size <= 20 * 1024);
  json_t *t = load_trace(path);
  size_t n = check_trace(t);
  assert_true(n > 20);
  json_decref(t);
}

static void size_limit(void **state) {
  (void)state;
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.chrome_path = path_in("s.json");
  o.chrome_max_bytes = 16384;
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(500);
  trace_collector_flush(c);
  trace_collector_stats st = trace_collector_get_stats(c);
  assert_true(st.events_dropped > 0);
  assert_int_equal(st.write_errors, 0);
  trace_shutdown();
  struct stat sb;
  assert_int_equal(stat(path_in("s.json"), &sb), 0);
  assert_true(sb.st_size <= 16384);
  json_t *t = load_trace(path_in("s.json"));
  check_trace(t);
  assert_int_equal(count(t, "i", "libtrace: chrome_max_bytes reached, later events dropped"), 1);
  json_decref(t);
}

/* Threads that record a little and exit: what they recorded is reported, each on its own
 * thread, though none filled a buffer. */
enum { MANY_THREADS = 300 };

/* The reporter falls behind: its output is a pipe nobody reads yet, so it blocks in write(2)
 * while the recording thread goes on. The thread never waits: what its ring cannot hold is
 * dropped and counted, and what the reader finally gets is still a whole trace. */
typedef struct drain {
  int fd;
  bytes out;
} drain;
static void *drain_pipe(void *arg) {
  drain *d = arg;
  char buf[65536];
  ssize_t n;
  while ((n = read(d->fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      collect(&d->out, buf, (size_t)n);
  return NULL;
}

static void reporter_falls_behind(void **state) {
  (void)state;
  const char *fifo = path_in("slow.fifo");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  int rd = open(fifo, O_RDONLY | O_NONBLOCK); /* so that the collector's open does not block */
  assert_true(rd >= 0);
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.chrome_path = fifo;
  o.thread_buffer_bytes = 16384;
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  for (int i = 0; i < 200; i++)
    nested_work(50); /* megabytes of JSON: far past the pipe's 64 KiB */
  trace_collector_stats st = trace_collector_get_stats(c);
  assert_true(st.records_dropped > 0);
  int flags = fcntl(rd, F_GETFL);
  assert_int_equal(fcntl(rd, F_SETFL, flags & ~O_NONBLOCK), 0);
  drain d = {rd, {NULL, 0}};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, drain_pipe, &d), 0);
  trace_shutdown();
  pthread_join(th, NULL);
  close(rd);
  assert_non_null(d.out.data);
  json_t *t = parse_trace(d.out.data, false, NULL);
  assert_non_null(t);
  check_trace(t);
  assert_true(count(t, "X", "inner") < 200 * 50);
  json_decref(t);
  free(d.out.data);
}

static void *short_lived(void *arg) {
  int i = (int)(intptr_t)arg;
  trace_span s = TRACE_INFO_SPAN("short_lived", TF(i, i));
  trace_span_enter(&s);
  TRACE_INFO(TF(i, i), "bye");
  trace_span_exit(&s);
  trace_span_close(&s);
  return NULL;
}

static void many_threads_exiting(void **state) {
  (void)state;
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.chrome_path = path_in("th.json");
  o.thread_buffer_bytes = 16384;
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  for (int round = 0; round < MANY_THREADS / 30; round++) {
    pthread_t th[30];
    for (int i = 0; i < 30; i++)
      assert_int_equal(pthread_create(&th[i], NULL, short_lived, (void *)(intptr_t)(round * 30 + i)), 0);
    for (int i = 0; i < 30; i++)
      pthread_join(th[i], NULL);
  }
  trace_collector_stats st = trace_collector_get_stats(c);
  assert_int_equal(st.threads, MANY_THREADS);
  trace_shutdown();
  json_t *t = load_trace(path_in("th.json"));
  check_trace(t);
  assert_int_equal(count(t, "X", "short_lived"), MANY_THREADS);
  assert_int_equal(count(t, "i", "bye"), MANY_THREADS);
  json_decref(t);
}

/* SIGKILL in the middle of a run: what is on disk is a trace (a complete document, or the array
 * cut after an event, which the format allows). Killed at several moments. */
static void killed_mid_run(void **state) {
  (void)state;
  for (int attempt = 0; attempt < 6; attempt++) {
    const char *path = path_in("k.json");
    unlink(path);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
      close(ready[0]);
      trace_collector *c = NULL;
      trace_collector_options o;
      trace_collector_options_init(&o);
      o.chrome_path = path;
      o.flush_interval_ms = 1;
      if (trace_collector_new(&o, &c) != 0 || trace_collector_install(c) != 0)
        _exit(2);
      nested_work(100);
      trace_collector_flush(c);
      (void)!write(ready[1], "x", 1);
      for (;;)
        nested_work(10);
    }
    close(ready[1]);
    char x;
    assert_int_equal(read(ready[0], &x, 1), 1);
    close(ready[0]);
    struct timespec ts = {0, 1000000 * (attempt * 7 % 20)};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    char *text = read_all(path, NULL);
    assert_non_null(text);
    bool repaired;
    json_t *t = parse_trace(text, true, &repaired);
    free(text);
    assert_non_null(t);
    assert_true(check_trace(t) > 100);
    assert_true(count(t, "X", "inner") >= 100);
    json_decref(t);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The flight recorder. */

static trace_collector *flight(size_t total, size_t per_thread) {
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.mode = TRACE_COLLECTOR_FLIGHT;
  o.flight_bytes = total;
  o.thread_buffer_bytes = per_thread;
  o.request_path = path_in("requested-%n.json");
  return new_collector(&o);
}

static void flight_dump_keeps_the_last_records(void **state) {
  (void)state;
  trace_collector *c = flight(1 << 20, 16384);
  assert_int_equal(trace_collector_install(c), 0);
  assert_int_equal(trace_flight_dump(NULL), TRACE_EINVAL);
  for (int i = 0; i < 200; i++)
    nested_work(10); /* far more than 16 KiB of records */
  trace_span open = TRACE_INFO_SPAN("open_at_dump", TF(n, 1));
  trace_span_enter(&open);
  TRACE_INFO("last words");
  assert_int_equal(trace_flight_dump(path_in("f.json")), 0);
  json_t *t = load_trace(path_in("f.json"));
  size_t n = check_trace(t);
  /* The ring held a few hundred records: the oldest are gone, the newest are there. */
  assert_true(n > 20);
  assert_true(count(t, "X", "inner") < 2000);
  assert_int_equal(count(t, "i", "last words"), 1);
  json_t *o = find(t, "X", "open_at_dump");
  assert_non_null(o);
  assert_true(json_is_true(json_object_get(json_object_get(o, "args"), "open")));
  json_decref(t);
  /* A window: only what ended in the last moment (nothing is older than a second here, all of
   * it; a window of one nanosecond, only what is still open). */
  assert_int_equal(trace_collector_dump(c, path_in("w.json"), 1), 0);
  t = load_trace(path_in("w.json"));
  check_trace(t);
  assert_int_equal(count(t, "X", "inner"), 0);
  assert_int_equal(count(t, "X", "open_at_dump"), 1);
  json_decref(t);
  /* To a callback: the same document; a callback that refuses stops the dump. */
  bytes b = {NULL, 0};
  assert_int_equal(trace_collector_dump_to(NULL, collect, &b, 0), 0);
  t = parse_trace(b.data, false, NULL);
  assert_non_null(t);
  assert_int_equal(count(t, "i", "last words"), 1);
  json_decref(t);
  free(b.data);
  assert_int_equal(trace_collector_dump_to(c, refuse, NULL, 0), TRACE_EIO);
  trace_collector_stats st = trace_collector_get_stats(c);
  assert_int_equal(st.dumps, 3);
  trace_span_exit(&open);
  trace_span_close(&open);
  trace_shutdown();
  assert_int_equal(trace_flight_dump(path_in("none.json")), TRACE_ENOTSUP);
}

/* Dumps while other threads record: each dump is a valid trace, and the recording threads are
 * never stopped (they run to the end while dumps happen). */
static int running;
static void *recorder(void *arg) {
  (void)arg;
  while (__atomic_load_n(&running, __ATOMIC_RELAXED))
    nested_work(3);
  return NULL;
}

static void flight_dumps_while_recording(void **state) {
  (void)state;
  trace_collector *c = flight(4 << 20, 65536);
  assert_int_equal(trace_collector_install(c), 0);
  __atomic_store_n(&running, 1, __ATOMIC_RELAXED);
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    pthread_create(&th[i], NULL, recorder, NULL);
  for (int d = 0; d < 10; d++) {
    assert_int_equal(trace_flight_dump(path_in("live.json")), 0);
    json_t *t = load_trace(path_in("live.json"));
    check_trace(t);
    json_decref(t);
  }
  __atomic_store_n(&running, 0, __ATOMIC_RELAXED);
  for (int i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
  trace_collector_stats st = trace_collector_get_stats(c);
  assert_int_equal(st.dumps, 10);
  trace_shutdown();
}

static void flight_dump_on_request_and_signal(void **state) {
  (void)state;
  assert_int_equal(trace_flight_dump_request(), TRACE_ENOTSUP); /* no recorder yet */
  trace_collector *c = flight(1 << 20, 65536);
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(3);
  assert_int_equal(trace_flight_dump_request(), 0);
  /* The reporter writes it on its next tick; wait for the file (not a timing assertion). */
  for (int i = 0; i < 3000 && access(path_in("requested-1.json"), F_OK) != 0; i++)
    usleep(10000);
  json_t *t = load_trace(path_in("requested-1.json"));
  assert_int_equal(count(t, "X", "inner"), 3);
  json_decref(t);
  /* The opt-in installer, then the signal. */
  assert_int_equal(trace_flight_dump_on_signal(SIGKILL), TRACE_EINVAL);
  assert_int_equal(trace_flight_dump_on_signal(SIGUSR2), 0);
  raise(SIGUSR2);
  for (int i = 0; i < 3000 && access(path_in("requested-2.json"), F_OK) != 0; i++)
    usleep(10000);
  t = load_trace(path_in("requested-2.json"));
  check_trace(t);
  json_decref(t);
  signal(SIGUSR2, SIG_DFL);
  trace_shutdown();
  /* A recorder made later does not answer the requests made before it existed (it once dumped
   * them all as soon as its reporter started). */
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.mode = TRACE_COLLECTOR_FLIGHT;
  o.request_path = path_in("stale-%n.json");
  c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(1);
  trace_shutdown(); /* the reporter's last round has looked at the requests */
  assert_int_equal(access(path_in("stale-1.json"), F_OK), -1);
}

/* fork: the child's recorder starts empty, and records. */
static void fork_child_starts_empty(void **state) {
  (void)state;
  trace_collector *c = flight(1 << 20, 65536);
  assert_int_equal(trace_collector_install(c), 0);
  trace_span p = TRACE_INFO_SPAN("in_the_parent");
  trace_span_enter(&p);
  trace_span_exit(&p);
  trace_span_close(&p);
  pid_t pid = fork();
  if (pid == 0) {
    trace_span k = TRACE_INFO_SPAN("in_the_child");
    trace_span_enter(&k);
    trace_span_exit(&k);
    trace_span_close(&k);
    _exit(trace_flight_dump(path_in("child.json")) == 0 ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  json_t *t = load_trace(path_in("child.json"));
  check_trace(t);
  assert_int_equal(count(t, "X", "in_the_child"), 1);
  assert_int_equal(count(t, NULL, "in_the_parent"), 0);
  json_decref(t);
  assert_int_equal(trace_flight_dump(path_in("parent.json")), 0);
  t = load_trace(path_in("parent.json"));
  assert_int_equal(count(t, "X", "in_the_parent"), 1);
  assert_int_equal(count(t, NULL, "in_the_child"), 0);
  json_decref(t);
  trace_shutdown();
}

/* Forks a child that records one span, "child_span", and shuts down; returns the child's pid
 * once it exited with 0. */
static pid_t fork_with_child_span(void) {
  pid_t pid = fork();
  if (pid == 0) {
    trace_span k = TRACE_INFO_SPAN("child_span");
    trace_span_enter(&k);
    trace_span_exit(&k);
    trace_span_close(&k);
    trace_shutdown();
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  return pid;
}

/* A STREAM collector in a child: with "%p" in the path the child writes its own file. */
static void fork_child_streams_to_its_own_file(void **state) {
  (void)state;
  trace_collector *c = stream_to(path_in("p-%p.json"), NULL);
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(1);
  pid_t pid = fork_with_child_span();
  trace_shutdown();
  char name[64];
  snprintf(name, sizeof name, "p-%ld.json", (long)pid);
  json_t *t = load_trace(path_in(name));
  check_trace(t);
  assert_int_equal(count(t, "X", "child_span"), 1);
  assert_int_equal(count(t, "X", "root"), 0);
  json_decref(t);
  snprintf(name, sizeof name, "p-%ld.json", (long)getpid());
  t = load_trace(path_in(name));
  assert_int_equal(count(t, "X", "root"), 1);
  assert_int_equal(count(t, "X", "child_span"), 0);
  json_decref(t);
}

/* A child writes only the outputs named for it: with "%p" in the folded path alone, the Chrome
 * file stays the parent's (the child used to truncate it and write its own events over it). */
static void fork_child_keeps_the_parents_file(void **state) {
  (void)state;
  trace_collector *c = stream_to(path_in("shared.json"), path_in("f-%p.folded"));
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(1);
  assert_int_equal(trace_collector_flush(c), 0);
  pid_t pid = fork_with_child_span();
  /* As the parent left it (a parent writing on would hide what the child did to it). */
  json_t *t = load_trace(path_in("shared.json"));
  check_trace(t);
  assert_int_equal(count(t, "X", "root"), 1);
  assert_int_equal(count(t, "X", "child_span"), 0);
  json_decref(t);
  nested_work(1);
  trace_shutdown();
  t = load_trace(path_in("shared.json"));
  check_trace(t);
  assert_int_equal(count(t, "X", "root"), 2);
  assert_int_equal(count(t, "X", "child_span"), 0);
  json_decref(t);
  char name[64];
  snprintf(name, sizeof name, "f-%ld.folded", (long)pid);
  FILE *f = fopen(path_in(name), "rb");
  assert_non_null(f);
  char text[256] = "";
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  assert_text_contains(text, "child_span ");
}

/* A sink goes on in a forked child, with the child's spans only (the parent's were the
 * parent's); the child's collector closes the sink when it is freed. */
typedef struct fork_sink {
  int child_spans, parent_spans, closes;
} fork_sink;

static void fork_sink_span(void *arg, const trace_collector_span *s) {
  fork_sink *k = arg;
  if (strcmp(s->meta->name, "child_span") == 0)
    k->child_spans++;
  else
    k->parent_spans++;
}

static void fork_sink_close(void *arg) { ((fork_sink *)arg)->closes++; }

static void fork_child_sink(void **state) {
  (void)state;
  fork_sink k = {0, 0, 0};
  trace_collector_sink sink = {fork_sink_span, NULL, NULL, fork_sink_close, &k};
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.sink = &sink;
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(1); /* 3 spans */
  trace_span open = TRACE_INFO_SPAN("open_in_parent");
  assert_int_equal(trace_collector_flush(c), 0);
  assert_int_equal(k.parent_spans, 3);
  pid_t pid = fork();
  if (pid == 0) {
    trace_span s = TRACE_INFO_SPAN("child_span");
    trace_span_enter(&s);
    trace_span_exit(&s);
    trace_span_close(&s);
    trace_shutdown();
    /* Exactly the child's span, and nothing of the parent's again (its open span included). */
    _exit(k.child_spans == 1 && k.parent_spans == 3 && k.closes == 1 ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  trace_shutdown();
  assert_int_equal(k.child_spans, 0);
  assert_int_equal(k.parent_spans, 4); /* and the open one at the end */
  assert_int_equal(k.closes, 1);
  (void)open;
}

/* ---------------------------------------------------------------------------------------- */
/* Bad input and the steady state. */

static void bad_options_and_arguments(void **state) {
  (void)state;
  trace_collector *c = (trace_collector *)1;
  assert_int_equal(trace_collector_new(NULL, &c), TRACE_EINVAL);
  assert_null(c);
  trace_collector_options o;
  trace_collector_options_init(&o);
  assert_int_equal(trace_collector_new(&o, NULL), TRACE_EINVAL);
  o.struct_size = 3;
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EINVAL);
  trace_collector_options_init(&o);
  o.mode = 7;
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EINVAL);
  trace_collector_options_init(&o);
  o.clock = TRACE_COLLECTOR_CLOCK_CUSTOM;
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EINVAL);
  trace_collector_options_init(&o);
  o.string_bytes = 5000;
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EINVAL);
  trace_collector_options_init(&o);
  o.chrome_path = "/nonexistent-dir/x.json";
  errno = 0;
  assert_int_equal(trace_collector_new(&o, &c), TRACE_EIO);
  assert_int_equal(errno, ENOENT);
  assert_null(trace_collector_dispatch(NULL));
  assert_null(trace_collector_layer(NULL));
  assert_int_equal(trace_collector_install(NULL), TRACE_EINVAL);
  assert_int_equal(trace_collector_flush(NULL), TRACE_EINVAL);
  trace_collector_free(NULL);
  trace_collector_stats st = trace_collector_get_stats(NULL);
  assert_int_equal(st.threads, 0);
  /* A STREAM collector has nothing to dump; one never installed is freed. */
  trace_collector_options_init(&o);
  c = new_collector(&o);
  assert_int_equal(trace_collector_dump(c, path_in("n.json"), 0), TRACE_ENOTSUP);
  assert_int_equal(trace_collector_dump(c, NULL, 0), TRACE_EINVAL);
  assert_int_equal(trace_collector_dump_to(c, NULL, NULL, 0), TRACE_EINVAL);
  /* The caller's errno is kept. */
  errno = EDOM;
  assert_int_equal(trace_collector_dump_to(c, collect, NULL, 0), TRACE_ENOTSUP);
  assert_int_equal(trace_collector_flush(c), 0);
  assert_int_equal(errno, EDOM);
  trace_collector_free(c);
  /* Given to a layer, it cannot be given again. */
  c = new_collector(&o);
  trace_layer *l = trace_collector_layer(c);
  assert_non_null(l);
  assert_null(trace_collector_dispatch(c));
  trace_layer_free(l);
}

static void no_allocation_per_span(void **state) {
  (void)state;
  trace_collector *c = flight(1 << 20, 65536);
  assert_int_equal(trace_collector_install(c), 0);
  nested_work(300); /* warm: the ring, the slots */
  long before = allocations_so_far();
  nested_work(3000);
  assert_int_equal(allocations_so_far() - before, 0);
  trace_shutdown();
  /* As a layer, likewise. */
  c = flight(1 << 20, 65536);
  trace_registry *r = trace_registry_new();
  trace_registry_add_layer(r, trace_collector_layer(c), NULL);
  assert_int_equal(trace_registry_install(r), 0);
  nested_work(300);
  before = allocations_so_far();
  nested_work(3000);
  assert_int_equal(allocations_so_far() - before, 0);
  trace_shutdown();
}

/* The reporter with a sink (what trace_otlp_attach uses) reuses its spans and keeps a span's
 * few values in the span: once warm, rounds of a few thousand spans allocate nothing. */
static void count_span(void *arg, const trace_collector_span *span) {
  (void)span;
  ++*(long *)arg;
}

static void reporter_reuses_spans(void **state) {
  (void)state;
  long spans = 0;
  trace_collector_sink sink = {count_span, NULL, NULL, NULL, &spans};
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.sink = &sink;
  /* Rounds only at the flushes below, each one batch: no tick, no ring half full between. */
  o.flush_interval_ms = 60000;
  o.thread_buffer_bytes = (size_t)4 << 20;
  trace_collector *c = new_collector(&o);
  assert_int_equal(trace_collector_install(c), 0);
  for (int i = 0; i < 3; i++) { /* warm: the rings, the slots, the model's tables */
    nested_work(1000);
    assert_int_equal(trace_collector_flush(c), 0);
  }
  long before = allocations_so_far(), seen = spans;
  for (int i = 0; i < 5; i++) {
    nested_work(1000);
    assert_int_equal(trace_collector_flush(c), 0);
  }
  assert_int_equal(allocations_so_far() - before, 0);
  assert_int_equal(spans - seen, 5 * 2001);
  trace_shutdown();
}

int main(int argc, char **argv) {
  if (install_counting_allocator() != 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stream_chrome_and_folded),
      cmocka_unit_test(folded_wall_with_threads),
      cmocka_unit_test(folded_busy_and_wall_differ),
      cmocka_unit_test(as_a_layer_with_fmt_and_filters),
      cmocka_unit_test(next_to_fmt_with_trace_init),
      cmocka_unit_test(values_of_every_kind),
      cmocka_unit_test(many_fields_and_colliding_names),
      cmocka_unit_test(clone_close_and_stale_ids),
      cmocka_unit_test(scopes_record_what_the_calls_record),
      cmocka_unit_test(spans_crossing_threads),
      cmocka_unit_test(spans_never_closed_are_open),
      cmocka_unit_test(clock_going_backwards),
      cmocka_unit_test(full_disk),
      cmocka_unit_test(disk_fills_up_mid_file),
      cmocka_unit_test(size_limit),
      cmocka_unit_test(many_threads_exiting),
      cmocka_unit_test(reporter_falls_behind),
      cmocka_unit_test(killed_mid_run),
      cmocka_unit_test(flight_dump_keeps_the_last_records),
      cmocka_unit_test(flight_dumps_while_recording),
      cmocka_unit_test(flight_dump_on_request_and_signal),
      cmocka_unit_test(bad_options_and_arguments),
      cmocka_unit_test(no_allocation_per_span),
      cmocka_unit_test(reporter_reuses_spans),
  };
  /* `test_collector fork`: the tests whose forked child starts a thread (tests/CMakeLists.txt
   * runs them apart, outside TSan). */
  const struct CMUnitTest fork_tests[] = {
      cmocka_unit_test(fork_child_starts_empty),
      cmocka_unit_test(fork_child_streams_to_its_own_file),
      cmocka_unit_test(fork_child_keeps_the_parents_file),
      cmocka_unit_test(fork_child_sink),
  };
  if (argc > 1 && strcmp(argv[1], "fork") == 0)
    return cmocka_run_group_tests(fork_tests, make_scratch, remove_scratch);
  return cmocka_run_group_tests(tests, make_scratch, remove_scratch);
}
