/* The standard workloads of benchmarks/peers/rust-tracing/src/main.rs, with the same names and
 * semantics: same fields and message, filter "info,bench::quiet=off", Full format without time
 * unless the workload says time or JSON, output to a writer that discards bytes without a system
 * call, best of 5 timed batches after a warm-up. Prints "<name> <ns_per_op>".
 *
 *   bench WORKLOAD [--iters-scale X]     one workload (each runs in its own process, like the peer)
 *   bench --allocs                       heap allocations per event / per span in steady state
 *   bench flight_dump_pause              what flight dumps cost a recording thread (issue 14)
 *   bench --insn-loop LOOP N             a loop callgrind counts (see benchmarks/compare):
 *                                        empty, disabled (no subscriber), disabled_by_level,
 *                                        disabled_by_target (the benchmark's subscriber installed)
 *
 * Allocations are counted by interposing malloc and friends in this program, so everything the
 * process allocates is seen, not only what goes through libtrace's allocator. The interposers
 * must be exported (the project builds with hidden visibility): --allocs checks that setting up
 * the subscriber was counted, and fails otherwise, so a counter that sees nothing cannot report
 * a reassuring zero. */
#define TRACE_TARGET "bench"
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <trace.h>
#include <trace/collector.h>
#include <trace/fmt.h>

/* ---------------------------------------------------------------------------------------- */
/* Counting allocator. */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static unsigned long allocations; /* atomic */
static __thread unsigned long thread_allocations; /* this thread's share */

#define INTERPOSED __attribute__((visibility("default")))
INTERPOSED void *malloc(size_t n);
INTERPOSED void *calloc(size_t n, size_t m);
INTERPOSED void *realloc(void *p, size_t n);
INTERPOSED void free(void *p);

void *malloc(size_t n) {
  __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  thread_allocations++;
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
  __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  thread_allocations++;
  return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
  __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
  thread_allocations++;
  return __libc_realloc(p, n);
}
void free(void *p) { __libc_free(p); }

/* ---------------------------------------------------------------------------------------- */

#define black_box(x) __asm__ volatile("" : : "r"(x) : "memory")

static double scale = 1.0;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Runs f(iters/10) as a warm-up, then 5 batches of f(iters); prints the best ns per op. */
static void timed(const char *name, unsigned long iters, void (*f)(unsigned long)) {
  iters = (unsigned long)((double)iters * scale);
  if (iters < 10)
    iters = 10;
  f(iters / 10);
  double best = 1e300;
  for (int b = 0; b < 5; b++) {
    double t = now_ns();
    f(iters);
    double ns = (now_ns() - t) / (double)iters;
    if (ns < best)
      best = ns;
  }
  printf("%s %.2f\n", name, best);
  fflush(stdout);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The discarding writer: no system call, the line is dropped. */
static int discard(void *arg, const char *line, size_t len) {
  (void)arg;
  black_box(line);
  black_box(len);
  return 0;
}

enum { MODE_FULL, MODE_TIME, MODE_JSON };
static trace_writer *install_writer; /* writers workloads: the writer to install instead */

/* The benchmark's filter; the dynamic-directive workloads set their own before install(). */
static const char *bench_filter = "info,bench::quiet=off";

static void install(int mode) {
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.color = TRACE_FMT_COLOR_NEVER;
  o.time = mode == MODE_TIME ? TRACE_FMT_TIME_UTC : TRACE_FMT_TIME_NONE;
  o.format = mode == MODE_JSON ? TRACE_FMT_JSON : TRACE_FMT_FULL;
  o.writer = install_writer ? install_writer : trace_writer_callback(discard, NULL, NULL, NULL);
  trace_env_filter *f = NULL;
  trace_filter_error err;
  if (trace_env_filter_parse(bench_filter, &f, &err) != 0) {
    fprintf(stderr, "bench: filter: %s\n", err.message);
    exit(1);
  }
  trace_registry *r = trace_registry_new();
  trace_registry_set_filter(r, trace_env_filter_as_filter(f));
  trace_env_filter_release(f);
  trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL);
  if (trace_registry_install(r) != 0) {
    fprintf(stderr, "bench: could not install the subscriber\n");
    exit(1);
  }
}

static void disabled(unsigned long k) {
  for (unsigned long i = 0; i < k; i++) {
    TRACE_DEBUG(TF(i, i), "not recorded");
    black_box(i);
  }
}

static void disabled_by_target(unsigned long k) {
  for (unsigned long i = 0; i < k; i++) {
    TRACE_EVENT_AT("bench::quiet", TRACE_LEVEL_INFO, TF(i, i), "not recorded");
    black_box(i);
  }
}

static void event(unsigned long k) {
  for (unsigned long i = 0; i < k; i++)
    TRACE_INFO(TF(answer, 42), TF(user, "ferris"), TF(i, i), "hello %s", "world");
}

/* ---- issue 12 item 14: float fields (a value that changes every event, as measurements do). */

static void event_float_field(unsigned long k) {
  for (unsigned long i = 0; i < k; i++)
    TRACE_INFO(TF(x, 0.1 * (double)i), "measured");
}

static void event_4_fields_mixed(unsigned long k) {
  for (unsigned long i = 0; i < k; i++)
    TRACE_INFO(TF(id, (int64_t)i), TF(secs, (double)i * 1e-6), TF(ok, (bool)(i % 2 == 0)),
               TF(user, "ferris"), "request done");
}

/* ---- end of issue 12 item 14 */

static void span_lifecycle(unsigned long k) {
  for (unsigned long i = 0; i < k; i++) {
    trace_span s = TRACE_INFO_SPAN("request", TF(method, "GET"), TF(i, i));
    trace_span_enter(&s);
    trace_span_exit(&s);
    trace_span_close(&s);
  }
}

/* Three entered spans around the loop, as the peer does. */
typedef struct three {
  trace_span a, b, c;
} three;

static three enter_three(void) {
  three t;
  t.a = TRACE_INFO_SPAN("server", TF(port, 8080));
  trace_span_enter(&t.a);
  t.b = TRACE_INFO_SPAN("conn", TF(remote, "10.0.0.1:5555"));
  trace_span_enter(&t.b);
  t.c = TRACE_INFO_SPAN("request", TF(path, "/z"));
  trace_span_enter(&t.c);
  return t;
}

static void leave_three(three *t) {
  trace_span_exit(&t->c);
  trace_span_close(&t->c);
  trace_span_exit(&t->b);
  trace_span_close(&t->b);
  trace_span_exit(&t->a);
  trace_span_close(&t->a);
}

static void event_in_3_spans(unsigned long k) {
  three t = enter_three();
  for (unsigned long i = 0; i < k; i++)
    TRACE_INFO(TF(i, i), "handled");
  leave_three(&t);
}

static void disabled_in_3_spans(unsigned long k) {
  three t = enter_three();
  for (unsigned long i = 0; i < k; i++) {
    TRACE_DEBUG(TF(i, i), "not recorded");
    black_box(i);
  }
  leave_three(&t);
}

static void *event_thread(void *arg) {
  event((unsigned long)(uintptr_t)arg);
  return NULL;
}

/* Wall time divided by the events each thread emits: equals event_fmt_sink under perfect
 * scaling. */
static void event_2threads(unsigned long k) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&t[i], NULL, event_thread, (void *)(uintptr_t)k);
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Trace context and OTLP export (issue 13). Ours only: the peer has no such workloads here; the
 * bars are against our own span_lifecycle and tracing's (benchmarks/compare).
 *
 *   span_lifecycle_otlp     span_lifecycle's span (2 fields, enter, exit, close) through the
 *                           registry's env-filter and the OTLP layer alone, with default options
 *                           (busy/idle time off): the instrumented thread's side. The exporter
 *                           drains and counts (discard); what an exporter thread costs is
 *                           measured below. Timed as span_lifecycle_otlp_collector is: batches
 *                           of 20,000 spans that fit a quarter of the thread's 16 MiB ring (the
 *                           exporter is not woken during one), a flush between them (not
 *                           timed), best of 5, the median on stderr, a warning there if any
 *                           span was dropped (a dropped span flatters the caller's side). The
 *                           ring's pages are touched once by warm-up batches first: a page
 *                           fault per 28 spans is the kernel's cost, not the layer's.
 *   span_lifecycle_otlp_live
 *                           the same span with the exporter draining alongside (every 1 ms,
 *                           32 MiB ring), timed as span_lifecycle is: what the caller pays when
 *                           the exporter thread shares the machine's caches and memory with it
 *                           (on 2 cores, a busy neighbour). No bar; the drops it saw on stderr.
 *   span_lifecycle_otlp_collector
 *                           the same span with the collector alone as the subscriber (STREAM,
 *                           no output file, 64 MiB rings, zeroed when made) feeding the
 *                           exporter (trace_otlp_attach, discard): the cheapest exported span.
 *                           Batches of 150,000 spans that fit the ring, timed as above.
 *   traceparent_parse / traceparent_format
 *   otlp_export_throughput  spans per second encoded (protobuf) and posted to a loopback HTTP
 *                           receiver (a thread of this program), default batches of 512. */

#include <trace/context.h>
#ifdef BENCH_HAVE_OTLP
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <trace/otlp.h>

static trace_otlp *bench_otlp;

static void install_otlp(const trace_otlp_options *o) {
  trace_env_filter *f = NULL;
  if (trace_env_filter_parse("info,bench::quiet=off", &f, NULL) != 0)
    exit(1);
  trace_registry *r = trace_registry_new();
  trace_registry_set_filter(r, trace_env_filter_as_filter(f));
  trace_env_filter_release(f);
  int err = 0;
  trace_layer *layer = trace_otlp_layer_new(o, &bench_otlp, &err);
  if (!layer || trace_registry_add_layer(r, layer, NULL) != 0 || trace_registry_install(r) != 0) {
    fprintf(stderr, "bench: could not install the OTLP layer: %s\n", trace_strerror(err));
    exit(1);
  }
}

static void install_otlp_discard(void) {
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  o.discard = true;
  o.schedule_delay_ms = 1;
  /* Room for a few milliseconds of spans: on a loaded machine the exporter thread may wait
   * that long for a core. */
  o.thread_buffer_size = (size_t)32 << 20;
  install_otlp(&o);
}

/* Shuts down, saying on stderr what share of the spans the exporter thread did not take in
 * time (a dropped span costs its thread less than an exported one: the figure then flatters
 * the caller's side; on a loaded machine the exporter may wait milliseconds for a core). */
static void otlp_done(bool report_drops) {
  trace_shutdown();
  trace_otlp_stats st = trace_otlp_get_stats(bench_otlp);
  trace_otlp_release(bench_otlp);
  uint64_t all = st.spans_exported + st.spans_dropped;
  if (report_drops && st.spans_dropped)
    fprintf(stderr, "bench: %.2f%% of the spans were dropped (the exporter thread did not keep up)\n",
            100.0 * (double)st.spans_dropped / (double)(all ? all : 1));
}

/* The collector alone as the subscriber, feeding an exporter that drains and counts. */
static trace_collector *bench_collector;

static void install_otlp_collector(void) {
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  o.discard = true;
  o.schedule_delay_ms = 1;
  o.thread_buffer_size = (size_t)32 << 20; /* the reporter thread's ring: every thread's spans */
  trace_collector_options co;
  trace_collector_options_init(&co);
  co.mode = TRACE_COLLECTOR_STREAM;
  co.thread_buffer_bytes = (size_t)64 << 20;
  int rc = trace_otlp_new(&o, &bench_otlp);
  if (rc == 0)
    rc = trace_otlp_attach(bench_otlp, &co);
  if (rc == 0)
    rc = trace_collector_new(&co, &bench_collector);
  if (rc == 0)
    rc = trace_collector_install(bench_collector);
  if (rc != 0) {
    fprintf(stderr, "bench: could not install the collector with OTLP: %s\n", trace_strerror(rc));
    exit(1);
  }
  /* The thread's ring is made (and zeroed) with its first span: here, not in the span_lifecycle
   * callgrind counts. */
  trace_span warm = TRACE_INFO_SPAN("warm");
  trace_span_close(&warm);
}

/* The thread's ring for span_lifecycle_otlp: the exporter is woken when it is a quarter full
 * (ring.c), so a batch of 20,000 spans (some 2.9 MB) never wakes it. */
#define BENCH_OTLP_RING ((size_t)16 << 20)

static void install_otlp_batches(void) {
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  o.discard = true;
  o.schedule_delay_ms = 60000; /* woken by the flushes only */
  o.thread_buffer_size = BENCH_OTLP_RING;
  install_otlp(&o);
}

static void flush_otlp(void) { trace_otlp_flush(bench_otlp, 60000); }
static void flush_collector(void) { trace_collector_flush(bench_collector); }

/* Spans dropped so far by either recorder: a drop in a timed batch flatters the caller. */
static uint64_t otlp_drops(void) {
  uint64_t n = trace_otlp_get_stats(bench_otlp).spans_dropped;
  return bench_collector ? n + trace_collector_get_stats(bench_collector).records_dropped : n;
}

/* span_lifecycle_otlp and span_lifecycle_otlp_collector (see above), once installed: warm
 * spans (in batches, each flushed) then five timed batches, each followed by a flush that is
 * not timed. f is called through a pointer so that callgrind's --toggle-collect=span_lifecycle
 * finds it; stderr says how many spans it ran, to divide callgrind's count by. */
static void otlp_batches(const char *name, unsigned long iters, unsigned long max_batch,
                         unsigned long warm, void (*flush)(void),
                         void (*volatile f)(unsigned long)) {
  iters = (unsigned long)((double)iters * scale);
  unsigned long batch = iters < max_batch ? (iters < 10 ? 10 : iters) : max_batch;
  unsigned long ran = 0;
  do {
    unsigned long n = warm < batch ? (warm ? warm : batch / 10) : batch;
    f(n);
    flush();
    ran += n;
    warm -= warm < n ? warm : n;
  } while (warm > 0);
  uint64_t dropped0 = otlp_drops();
  double ns[5];
  for (int b = 0; b < 5; b++) {
    double t = now_ns();
    f(batch);
    ns[b] = (now_ns() - t) / (double)batch;
    flush();
  }
  uint64_t dropped = otlp_drops() - dropped0;
  qsort(ns, 5, sizeof ns[0], cmp_double);
  printf("%s %.2f\n", name, ns[0]);
  fflush(stdout);
  fprintf(stderr, "bench: %s median %.2f ns; span_lifecycle ran %lu spans\n", name, ns[2],
          ran + 5 * batch);
  if (dropped)
    fprintf(stderr, "bench: %s dropped %llu spans or records in timed batches\n", name,
            (unsigned long long)dropped);
  otlp_done(true);
  bench_collector = NULL;
}

/* A loopback HTTP receiver that reads each request whole and answers 200: no decoding, so that
 * the exporter's side is what is measured. */
typedef struct sink {
  int listen_fd;
  uint16_t port;
  pthread_t thread;
} sink;

static bool read_full(int fd, char *buf, size_t n) {
  while (n > 0) {
    ssize_t k = read(fd, buf, n);
    if (k <= 0)
      return false;
    buf += k;
    n -= (size_t)k;
  }
  return true;
}

static void *sink_main(void *arg) {
  sink *s = arg;
  static char buf[1 << 20];
  for (;;) {
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0)
      return NULL;
    size_t len = 0;
    for (;;) {
      char *end = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
      if (!end) {
        ssize_t k = read(fd, buf + len, sizeof buf - len);
        if (k <= 0)
          break;
        len += (size_t)k;
        continue;
      }
      size_t head = (size_t)(end + 4 - buf);
      unsigned long body = 0;
      char *cl = strcasestr(buf, "content-length:");
      if (cl && cl < end)
        body = strtoul(cl + 15, NULL, 10);
      size_t have = len - head;
      while (have < body) { /* the rest of the body, a buffer at a time */
        size_t want = body - have > sizeof buf - head ? sizeof buf - head : body - have;
        if (!read_full(fd, buf + head, want))
          goto closed;
        have += want;
      }
      size_t extra = have > body ? have - body : 0; /* the start of the next request */
      memmove(buf, buf + head + body, extra);
      len = extra;
      static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      if (write(fd, ok, sizeof ok - 1) < 0)
        break;
    }
  closed:
    close(fd);
  }
}

static void sink_start(sink *s) {
  s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->listen_fd, 8) != 0 ||
      getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
    perror("bench: sink");
    exit(1);
  }
  s->port = ntohs(a.sin_port);
  pthread_create(&s->thread, NULL, sink_main, s);
}

static void otlp_throughput(void) {
  sink s;
  sink_start(&s);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)s.port);
  unsigned long n = (unsigned long)(400000 * scale);
  if (n < 2000)
    n = 2000;
  trace_otlp_options o;
  trace_otlp_options_init(&o);
  o.endpoint = url;
  o.export_logs = false;
  o.max_queue_size = (uint32_t)n; /* every span fits: the exporter's pace is measured */
  o.thread_buffer_size = (size_t)256 << 20;
  o.schedule_delay_ms = 1;
  install_otlp(&o);
  span_lifecycle(n / 100); /* warm: the connection, the callsite */
  trace_otlp_flush(bench_otlp, 60000);
  uint64_t before = trace_otlp_get_stats(bench_otlp).spans_exported;
  double t0 = now_ns();
  span_lifecycle(n);
  trace_otlp_flush(bench_otlp, 600000);
  double secs = (now_ns() - t0) / 1e9;
  trace_otlp_stats st = trace_otlp_get_stats(bench_otlp);
  if (st.spans_exported - before != n || st.spans_dropped || st.spans_failed) {
    fprintf(stderr, "bench: exported %llu of %lu spans (%llu dropped, %llu failed)\n",
            (unsigned long long)(st.spans_exported - before), n,
            (unsigned long long)st.spans_dropped, (unsigned long long)st.spans_failed);
    exit(1);
  }
  printf("otlp_export_throughput %.0f\n", (double)n / secs);
  otlp_done(false);
}
#endif

static const char bench_tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static void traceparent_parse(unsigned long k) {
  trace_context c;
  for (unsigned long i = 0; i < k; i++) {
    const char *p = bench_tp;
    black_box(p);
    if (trace_traceparent_parse(p, sizeof bench_tp - 1, &c, NULL) != 0)
      abort();
    black_box(c.span_id[7]);
  }
}

static void traceparent_format(unsigned long k) {
  trace_context c;
  trace_traceparent_parse(bench_tp, sizeof bench_tp - 1, &c, NULL);
  char out[TRACE_TRACEPARENT_SIZE];
  for (unsigned long i = 0; i < k; i++) {
    c.span_id[7] = (uint8_t)i;
    black_box(&c);
    trace_traceparent_format(&c, out, sizeof out);
    black_box(out[54]);
  }
}

/* Returns whether w was one of these workloads (and ran it). */
static bool context_workload(const char *w, unsigned long m) {
  if (strcmp(w, "traceparent_parse") == 0) {
    timed(w, m * 10, traceparent_parse);
    return true;
  }
  if (strcmp(w, "traceparent_format") == 0) {
    timed(w, m * 10, traceparent_format);
    return true;
  }
#ifdef BENCH_HAVE_OTLP
  if (strcmp(w, "span_lifecycle_otlp") == 0) {
    install_otlp_batches();
    /* A span's record is some 144 bytes: the warm-up writes the whole ring once. */
    otlp_batches(w, m, 20000, BENCH_OTLP_RING / 128, flush_otlp, span_lifecycle);
    return true;
  }
  if (strcmp(w, "span_lifecycle_otlp_live") == 0) {
    install_otlp_discard();
    timed(w, m, span_lifecycle);
    otlp_done(true);
    return true;
  }
  if (strcmp(w, "span_lifecycle_otlp_collector") == 0) {
    install_otlp_collector();
    otlp_batches(w, m, 150000, 0, flush_collector, span_lifecycle);
    return true;
  }
  if (strcmp(w, "otlp_export_throughput") == 0) {
    otlp_throughput();
    return true;
  }
#else
  if (strcmp(w, "span_lifecycle_otlp") == 0 || strcmp(w, "otlp_export_throughput") == 0 ||
      strcmp(w, "span_lifecycle_otlp_collector") == 0 ||
      strcmp(w, "span_lifecycle_otlp_live") == 0) {
    printf("%s unavailable (built without libtrace_otlp)\n", w);
    return true;
  }
#endif
  return false;
}

/* Allocations per span through the OTLP layer once warm (the exporter thread drains and counts:
 * it allocates nothing either). */
static void report_allocs_otlp(void) {
#ifdef BENCH_HAVE_OTLP
  install_otlp_discard();
  span_lifecycle(10000);
  trace_otlp_flush(bench_otlp, 10000);
  const unsigned long n = 100000;
  unsigned long before = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  span_lifecycle(n);
  unsigned long after = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  printf("allocs_per_span_otlp %.4f\n", (double)(after - before) / (double)n);
  otlp_done(false);
  /* The collector feeding the exporter: the instrumented thread's allocations (the bar), and
   * the other threads' (the collector's reporter with the sink, the exporter), the flushes
   * inside the count, said on stderr when there are any. */
  install_otlp_collector();
  span_lifecycle(10000);
  trace_collector_flush(bench_collector);
  trace_otlp_flush(bench_otlp, 10000);
  before = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  unsigned long own = thread_allocations;
  span_lifecycle(n);
  own = thread_allocations - own;
  trace_collector_flush(bench_collector);
  trace_otlp_flush(bench_otlp, 10000);
  after = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  printf("allocs_per_span_otlp_collector %.4f\n", (double)own / (double)n);
  if (after - before > own)
    fprintf(stderr, "bench: allocs_per_span_otlp_collector: the background threads (the "
                    "collector's reporter and the exporter) allocate %.4f per span\n",
            (double)(after - before - own) / (double)n);
  otlp_done(false);
#endif
}
/* ---------------------------------------------------------------------------------------- */

/* ---- env-filter dynamic directives (filters branch) ------------------------------------- */
/* A request span per iteration whose path a field-value directive matches with a regular
 * expression, and a DEBUG event inside it that only that directive enables: the cost of judging
 * a new span's values at its first enter (not remembered: every span is new). The filter is
 * DYNAMIC_FILTER; span_in_dynamic_filter is the same loop under a span-name directive, which
 * judges no value. */
#define DYNAMIC_FILTER "info,[request{path=/api/.*}]=debug"
#define SPAN_NAME_FILTER "info,[request]=debug"

static void dynamic_request(unsigned long k) {
  for (unsigned long i = 0; i < k; i++) {
    trace_span s = TRACE_INFO_SPAN("request", TF(path, "/api/v1/users/42"), TF(i, i));
    trace_span_enter(&s);
    TRACE_DEBUG(TF(i, i), "inside");
    trace_span_exit(&s);
    trace_span_close(&s);
  }
}
/* ---- end of the env-filter block ---------------------------------------------------------- */

/* ---------------------------------------------------------------------------------------- */
/* Issue 14: span collection. spans_100 is one root span and 99 children, nested three deep and
 * sequential (33 times a span, its child and its grandchild), two fields each, every span
 * created, entered, exited and closed; the collector alone is installed (FLIGHT mode: records
 * kept in the thread's ring, nothing written), the peer's registry has one layer that keeps
 * span timings. ns per 100 spans. Written as C code writes nested scopes, with TRACE_SCOPE (the
 * peer's spans are entered through guards, as Rust code writes them): a call where a scope
 * begins, one where it ends. spans_100_calls is the same with the four calls of each span made
 * one by one (TRACE_SPAN, trace_span_enter, trace_span_exit, trace_span_close).
 * spans_100_layer is spans_100 with the collector as a layer of the registry: the difference is
 * what the registry's generic fan-out costs. */

static void spans_100(unsigned long k) {
  for (unsigned long i = 0; i < k; i++) {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "root", TF(i, i), TF(kind, "bench"));
    for (int g = 0; g < 33; g++) {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "a", TF(g, g), TF(kind, "outer"));
      TRACE_SCOPE(TRACE_LEVEL_INFO, "b", TF(g, g), TF(kind, "middle"));
      TRACE_SCOPE(TRACE_LEVEL_INFO, "c", TF(g, g), TF(kind, "inner"));
    }
  }
}

static void spans_100_calls(unsigned long k) {
  for (unsigned long i = 0; i < k; i++) {
    trace_span root = TRACE_INFO_SPAN("root", TF(i, i), TF(kind, "bench"));
    trace_span_enter(&root);
    for (int g = 0; g < 33; g++) {
      trace_span a = TRACE_INFO_SPAN("a", TF(g, g), TF(kind, "outer"));
      trace_span_enter(&a);
      trace_span b = TRACE_INFO_SPAN("b", TF(g, g), TF(kind, "middle"));
      trace_span_enter(&b);
      trace_span c = TRACE_INFO_SPAN("c", TF(g, g), TF(kind, "inner"));
      trace_span_enter(&c);
      trace_span_exit(&c);
      trace_span_close(&c);
      trace_span_exit(&b);
      trace_span_close(&b);
      trace_span_exit(&a);
      trace_span_close(&a);
    }
    trace_span_exit(&root);
    trace_span_close(&root);
  }
}

static trace_collector *new_flight_collector(void) {
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.mode = TRACE_COLLECTOR_FLIGHT;
  trace_collector *c = NULL;
  if (trace_collector_new(&o, &c) != 0) {
    fprintf(stderr, "bench: could not create the collector\n");
    exit(1);
  }
  return c;
}

static void install_collector(bool as_layer) {
  trace_collector *c = new_flight_collector();
  int rc;
  if (as_layer) {
    trace_registry *r = trace_registry_new();
    trace_registry_add_layer(r, trace_collector_layer(c), NULL);
    rc = trace_registry_install(r);
  } else {
    rc = trace_collector_install(c);
  }
  if (rc != 0) {
    fprintf(stderr, "bench: could not install the collector\n");
    exit(1);
  }
}

/* flight_dump_pause: what a flight dump costs the threads that record. A thread runs spans_100
 * in a loop and times each iteration, first alone, then while the main thread dumps the flight
 * recorder again and again (to a callback that drops the bytes). Prints the iterations' median,
 * 99.9th percentile and maximum in both phases, and what the dumps took. The recording thread is
 * never made to wait (dump.c); what a dump can cost it is cache misses on its ring. */
enum { PAUSE_SAMPLES = 400000 };
static double *pause_samples;
static size_t pause_count;
static int pause_phase; /* atomic: 0 run, 1 stop */

static void *pause_recorder(void *arg) {
  (void)arg;
  trace_thread_set_name("recorder");
  pause_count = 0;
  while (!__atomic_load_n(&pause_phase, __ATOMIC_ACQUIRE) && pause_count < PAUSE_SAMPLES) {
    double t = now_ns();
    spans_100(1);
    pause_samples[pause_count++] = now_ns() - t;
  }
  return NULL;
}

static int drop_bytes(void *arg, const char *data, size_t len) {
  *(size_t *)arg += len;
  black_box(data);
  return 0;
}

static void pause_phase_run(const char *label, bool dump) {
  pthread_t th;
  __atomic_store_n(&pause_phase, 0, __ATOMIC_RELEASE);
  pthread_create(&th, NULL, pause_recorder, NULL);
  double start = now_ns(), longest = 0;
  unsigned dumps = 0;
  size_t bytes = 0;
  while (now_ns() - start < 2e9 * scale) {
    if (dump) {
      double t = now_ns();
      if (trace_collector_dump_to(NULL, drop_bytes, &bytes, 0) == 0)
        dumps++;
      double d = now_ns() - t;
      if (d > longest)
        longest = d;
    } else {
      struct timespec ts = {0, 10000000};
      nanosleep(&ts, NULL);
    }
  }
  __atomic_store_n(&pause_phase, 1, __ATOMIC_RELEASE);
  pthread_join(th, NULL);
  qsort(pause_samples, pause_count, sizeof *pause_samples, cmp_double);
  size_t n = pause_count ? pause_count : 1;
  printf("flight_dump_pause[%s] spans_100 iterations %zu: median %.0f ns, p99.9 %.0f ns, max %.0f ns",
         label, pause_count, pause_samples[n / 2], pause_samples[n * 999 / 1000],
         pause_samples[n - 1]);
  if (dump)
    printf("; %u dumps, %.1f MiB each, the longest %.1f ms", dumps,
           dumps ? (double)bytes / dumps / 1048576.0 : 0.0, longest / 1e6);
  printf("\n");
}

static void flight_dump_pause(void) {
  trace_collector *c = new_flight_collector();
  if (trace_collector_install(c) != 0)
    exit(1);
  pause_samples = malloc(PAUSE_SAMPLES * sizeof *pause_samples);
  spans_100(20000); /* fills the ring: a dump copies all of it */
  pause_phase_run("alone", false);
  pause_phase_run("dumping", true);
  trace_collector_stats st = trace_collector_get_stats(c);
  printf("flight_dump_pause: longest copy of one ring %.1f us\n", (double)st.dump_copy_ns_max / 1e3);
  free(pause_samples);
  trace_shutdown();
}

/* Heap allocations per operation once warm. */
static int report_allocs(void) {
  unsigned long start = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  install(MODE_FULL);
  if (__atomic_load_n(&allocations, __ATOMIC_RELAXED) == start) {
    fprintf(stderr, "bench: the allocation counter saw no allocation while the subscriber was "
                    "set up: malloc is not interposed\n");
    return 1;
  }
  event(1000);
  span_lifecycle(1000);
  event_in_3_spans(1000);
  const unsigned long n = 100000;
  unsigned long before = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  event(n);
  unsigned long mid = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  span_lifecycle(n);
  unsigned long after = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  event_in_3_spans(n);
  unsigned long last = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  printf("allocs_per_event %.4f\n", (double)(mid - before) / (double)n);
  printf("allocs_per_span %.4f\n", (double)(after - mid) / (double)n);
  printf("allocs_per_event_in_3_spans %.4f\n", (double)(last - after) / (double)n);
  trace_shutdown();
  /* The collector alone, then as a layer: spans_100 once warm. */
  for (int layer = 0; layer < 2; layer++) {
    install_collector(layer);
    spans_100(100);
    unsigned long b = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
    spans_100(1000);
    unsigned long a = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
    printf("allocs_per_span[spans_100%s] %.4f\n", layer ? "_layer" : "", (double)(a - b) / 1e5);
    trace_shutdown();
  }
  report_allocs_otlp();
  return 0;
}

/* The loops callgrind measures: the same loop with and without a disabled callsite. */
__attribute__((noinline)) void insn_disabled(unsigned long k);
__attribute__((noinline)) void insn_disabled(unsigned long k) { disabled(k); }
__attribute__((noinline)) void insn_disabled_by_target(unsigned long k);
__attribute__((noinline)) void insn_disabled_by_target(unsigned long k) { disabled_by_target(k); }
__attribute__((noinline)) void insn_empty(unsigned long k);
__attribute__((noinline)) void insn_empty(unsigned long k) {
  for (unsigned long i = 0; i < k; i++)
    black_box(i);
}

/* ---------------------------------------------------------------------------------------- */
/* Writers (issue 17): the same event, through real writers instead of the discarding one.
 *
 *   event_fmt_devnull                   the fd writer on /dev/null (one write(2) per line)
 *   write_devnull                       the floor under it: write(2) alone of a line as long as
 *                                       the event's (86 bytes) to /dev/null, what every logger
 *                                       that writes each line pays (the peer too)
 *   event_fmt_file                      trace_writer_open on a file in /tmp
 *   event_fmt_file_nonblocking          the same behind the non-blocking writer: the caller's
 *                                       cost in bursts of 20,000 events, which the default queue
 *                                       holds (best of 25 bursts; each burst's lines are written
 *                                       out, untimed, before the next); drops on stderr
 *   event_fmt_file_nonblocking_latency  each call timed alone (rdtsc): "p50 p99 p99.9" in ns
 *   file_throughput_2threads            two threads as fast as they can through the non-blocking
 *                                       writer to a file: "lines/s dropped" until all is written */

static char bench_file[64];
#define BURST 20000ul

static trace_writer *open_bench_file(void) {
  snprintf(bench_file, sizeof bench_file, "/tmp/trace-bench-%d.log", (int)getpid());
  unlink(bench_file);
  trace_writer *wr = NULL;
  if (trace_writer_open(bench_file, &wr) != 0) {
    perror(bench_file);
    exit(1);
  }
  return wr;
}

static double tsc_ns_per_tick(void) {
  double t0 = now_ns();
  uint64_t c0 = __builtin_ia32_rdtsc();
  struct timespec pause = {0, 50000000};
  nanosleep(&pause, NULL);
  return (now_ns() - t0) / (double)(__builtin_ia32_rdtsc() - c0);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void *throughput_thread(void *arg) {
  event((unsigned long)(uintptr_t)arg);
  return NULL;
}

static int devnull_fd = -1;

static void write_devnull(unsigned long k) {
  static const char line[] = "2026-12-05T20:00:00.000000Z  INFO bench: hello world answer=42 "
                               "user=\"ferris\" i=123456\n";
  for (unsigned long i = 0; i < k; i++)
    if (write(devnull_fd, line, sizeof line - 1) != (ssize_t)sizeof line - 1)
      exit(1);
}

static int writer_workload(const char *w, unsigned long iters) {
  iters = (unsigned long)((double)iters * scale);
  if (iters < 10)
    iters = 10;
  if (strcmp(w, "write_devnull") == 0) {
    devnull_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    timed(w, iters, write_devnull);
    close(devnull_fd);
    return 0;
  }
  bool nonblocking = strstr(w, "nonblocking") || strcmp(w, "file_throughput_2threads") == 0;
  if (strcmp(w, "event_fmt_devnull") == 0) {
    install_writer = trace_writer_fd(open("/dev/null", O_WRONLY | O_CLOEXEC), true);
  } else {
    install_writer = open_bench_file();
    if (nonblocking)
      install_writer = trace_writer_nonblocking(install_writer, NULL);
  }
  trace_writer *wr = install_writer;
  install(MODE_FULL);
  int rc = 0;
  if (strcmp(w, "event_fmt_devnull") == 0 || strcmp(w, "event_fmt_file") == 0) {
    timed(w, iters, event);
  } else if (strcmp(w, "event_fmt_file_nonblocking") == 0) {
    unsigned long burst = iters < BURST ? iters : BURST;
    for (int b = 0; b < 4; b++) { /* warm-up: every page of the queue touched */
      event(burst);
      trace_writer_flush_timeout(wr, 60000);
    }
    uint64_t dropped0 = trace_writer_get_stats(wr).dropped;
    double best = 1e300;
    for (int b = 0; b < 25; b++) {
      double t = now_ns();
      event(burst);
      double ns = (now_ns() - t) / (double)burst;
      if (ns < best)
        best = ns;
      trace_writer_flush_timeout(wr, 60000);
    }
    printf("%s %.2f\n", w, best);
    fprintf(stderr, "%s: dropped %llu of %lu lines\n", w,
            (unsigned long long)(trace_writer_get_stats(wr).dropped - dropped0), burst * 25);
  } else if (strcmp(w, "event_fmt_file_nonblocking_latency") == 0) {
    double tick = tsc_ns_per_tick();
    uint64_t *lat = malloc(iters * sizeof *lat);
    for (int b = 0; b < 4; b++) {
      event(BURST);
      trace_writer_flush_timeout(wr, 60000);
    }
    for (unsigned long i = 0; i < iters; i++) {
      if (i % BURST == 0)
        trace_writer_flush_timeout(wr, 60000); /* bursts the queue holds, as above */
      uint64_t c0 = __builtin_ia32_rdtsc();
      TRACE_INFO(TF(answer, 42), TF(user, "ferris"), TF(i, i), "hello %s", "world");
      lat[i] = __builtin_ia32_rdtsc() - c0;
    }
    trace_writer_flush_timeout(wr, 60000);
    qsort(lat, iters, sizeof *lat, cmp_u64);
    printf("%s %.0f %.0f %.0f\n", w, (double)lat[iters / 2] * tick,
           (double)lat[iters * 99 / 100] * tick, (double)lat[iters * 999 / 1000] * tick);
    fprintf(stderr, "%s: dropped %llu\n", w,
            (unsigned long long)trace_writer_get_stats(wr).dropped);
    free(lat);
  } else if (strcmp(w, "file_throughput_2threads") == 0) {
    unsigned long per = iters * 5;
    event(iters / 10);
    trace_writer_flush_timeout(wr, 60000);
    uint64_t dropped0 = trace_writer_get_stats(wr).dropped;
    double t = now_ns();
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
      pthread_create(&th[i], NULL, throughput_thread, (void *)(uintptr_t)per);
    for (int i = 0; i < 2; i++)
      pthread_join(th[i], NULL);
    trace_writer_flush_timeout(wr, 60000); /* until the file has every line kept */
    double s = (now_ns() - t) / 1e9;
    uint64_t dropped = trace_writer_get_stats(wr).dropped - dropped0;
    printf("%s %.0f %llu\n", w, (double)(2 * per - dropped) / s, (unsigned long long)dropped);
  } else {
    fprintf(stderr, "bench: unknown workload %s\n", w);
    rc = 2;
  }
  trace_shutdown();
  if (bench_file[0])
    unlink(bench_file);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench WORKLOAD [--iters-scale X] | --allocs | --insn-loop LOOP N\n");
    return 2;
  }
  for (int i = 2; i + 1 < argc; i++)
    if (strcmp(argv[i], "--iters-scale") == 0)
      scale = atof(argv[i + 1]);
  const char *w = argv[1];
  const unsigned long n = 20000000, m = 1000000;
  if (strcmp(w, "--allocs") == 0)
    return report_allocs();
  if (strcmp(w, "--insn-loop") == 0 && argc >= 4) {
    unsigned long k = strtoul(argv[3], NULL, 10);
    const char *loop = argv[2];
    if (strcmp(loop, "disabled_by_level") == 0 || strcmp(loop, "disabled_by_target") == 0)
      install(MODE_FULL);
    if (strcmp(loop, "disabled") == 0 || strcmp(loop, "disabled_by_level") == 0)
      insn_disabled(k); /* the same code: only the installed subscriber differs */
    else if (strcmp(loop, "disabled_by_target") == 0)
      insn_disabled_by_target(k);
    else if (strcmp(loop, "empty") == 0)
      insn_empty(k);
    else {
      fprintf(stderr, "bench: unknown loop %s\n", loop);
      return 2;
    }
    return 0;
  }
  if (strcmp(w, "disabled_no_subscriber") == 0) {
    timed(w, n, disabled);
    return 0;
  }
  if (strcmp(w, "flight_dump_pause") == 0) {
    flight_dump_pause();
    return 0;
  }
  if (strcmp(w, "spans_100") == 0 || strcmp(w, "spans_100_layer") == 0 ||
      strcmp(w, "spans_100_calls") == 0) {
    install_collector(strcmp(w, "spans_100_layer") == 0);
    timed(w, 20000, strcmp(w, "spans_100_calls") == 0 ? spans_100_calls : spans_100);
    trace_shutdown();
    return 0;
  }
  if (strncmp(w, "event_fmt_devnull", 17) == 0 || strncmp(w, "event_fmt_file", 14) == 0 ||
      strcmp(w, "file_throughput_2threads") == 0 || strcmp(w, "write_devnull") == 0)
    return writer_workload(w, m / 5);
  /* env-filter dynamic directives (filters branch). */
  if (strcmp(w, "request_regex_directive") == 0 || strcmp(w, "request_span_directive") == 0) {
    bench_filter = strcmp(w, "request_regex_directive") == 0 ? DYNAMIC_FILTER : SPAN_NAME_FILTER;
    install(MODE_FULL);
    timed(w, m, dynamic_request);
    trace_shutdown();
    return 0;
  }
  if (context_workload(w, m))
    return 0;
  int mode = strcmp(w, "event_fmt_time_sink") == 0 ? MODE_TIME
             : strcmp(w, "event_json_sink") == 0   ? MODE_JSON
                                                   : MODE_FULL;
  install(mode);
  if (strcmp(w, "disabled_by_level") == 0)
    timed(w, n, disabled);
  else if (strcmp(w, "disabled_by_target") == 0)
    timed(w, n, disabled_by_target);
  else if (strcmp(w, "event_fmt_sink") == 0 || strcmp(w, "event_fmt_time_sink") == 0 ||
           strcmp(w, "event_json_sink") == 0)
    timed(w, m, event);
  else if (strcmp(w, "span_lifecycle") == 0)
    timed(w, m, span_lifecycle);
  else if (strcmp(w, "event_in_3_spans") == 0)
    timed(w, m, event_in_3_spans);
  else if (strcmp(w, "disabled_in_3_spans") == 0)
    timed(w, n, disabled_in_3_spans);
  else if (strcmp(w, "event_fmt_sink_2threads") == 0)
    timed(w, m, event_2threads);
  else if (strcmp(w, "event_float_field") == 0)
    timed(w, m, event_float_field);
  else if (strcmp(w, "event_4_fields_mixed") == 0)
    timed(w, m, event_4_fields_mixed);
  else {
    fprintf(stderr, "bench: unknown workload %s\n", w);
    return 2;
  }
  trace_shutdown();
  return 0;
}
