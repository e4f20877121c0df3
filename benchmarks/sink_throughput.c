/* The collector's reporter with and without a sink: how many spans a second it turns from
 * records into finished spans (the model), with folded stacks written to /dev/null and no sink,
 * the same plus a sink whose callbacks only count, and the sink alone (how trace_otlp_attach uses
 * the collector). The recording thread writes batches of spans into a ring large enough that the
 * reporter sleeps meanwhile; the time of the trace_collector_flush that follows is the reporter
 * reading the batch. Each batch is spans_100's shape: a root and 99 children nested three deep,
 * two fields each, one event per ten spans. Prints the median of 7 batches per configuration.
 *
 *   build/benchmarks/sink_throughput [spans per batch, default 200000] [folded|both|sink]
 *
 * A configuration named alone runs by itself (for valgrind --tool=callgrind). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <trace.h>
#include <trace/collector.h>

static uint64_t spans_seen, events_seen;

static void count_span(void *arg, const trace_collector_span *s) {
  (void)arg;
  spans_seen += s->fields.count != 0;
}

static void count_event(void *arg, const trace_collector_event *e) {
  (void)arg;
  events_seen += e->message != NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100 spans as spans_100 makes them, one event per ten. */
static void hundred(int k) {
  TRACE_SCOPE(TRACE_LEVEL_INFO, "root", TF(k, k), TF(kind, "root"));
  for (int i = 0; i < 33; i++) {
    TRACE_SCOPE(TRACE_LEVEL_INFO, "a", TF(i, i), TF(kind, "a"));
    {
      TRACE_SCOPE(TRACE_LEVEL_INFO, "b", TF(i, i), TF(kind, "b"));
      TRACE_SCOPE(TRACE_LEVEL_INFO, "c", TF(i, i), TF(kind, "c"));
      if (i % 3 == 0)
        TRACE_INFO(TF(i, i), "step %d", i);
    }
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double run(const char *folded, const trace_collector_sink *sink, int spans) {
  trace_collector_options o;
  trace_collector_options_init(&o);
  o.folded_path = folded;
  o.sink = sink;
  o.thread_buffer_bytes = (size_t)256 << 20; /* never half full: the reporter sleeps */
  o.flush_interval_ms = 600000;
  trace_collector *c = NULL;
  if (trace_collector_new(&o, &c) != 0 || trace_collector_install(c) != 0) {
    fprintf(stderr, "sink_throughput: could not install the collector\n");
    exit(1);
  }
  double rates[7];
  for (int rep = 0; rep < 7; rep++) {
    for (int k = 0; k < spans / 100; k++)
      hundred(k);
    double t0 = now_s();
    trace_collector_flush(c);
    rates[rep] = (double)(spans / 100 * 100) / (now_s() - t0);
  }
  trace_shutdown();
  qsort(rates, 7, sizeof rates[0], cmp);
  return rates[3];
}

int main(int argc, char **argv) {
  int spans = argc > 1 ? atoi(argv[1]) : 200000;
  if (spans < 100)
    spans = 100;
  const char *only = argc > 2 ? argv[2] : "";
  trace_collector_sink counting = {count_span, count_event, NULL, NULL, NULL};
  double folded = !*only || !strcmp(only, "folded") ? run("/dev/null", NULL, spans) : 0;
  double both = !*only || !strcmp(only, "both") ? run("/dev/null", &counting, spans) : 0;
  double alone = !*only || !strcmp(only, "sink") ? run(NULL, &counting, spans) : 0;
  printf("reporter, %d spans a batch (median of 7), million spans/s:\n", spans);
  printf("  folded stacks, no sink      %6.2f\n", folded / 1e6);
  printf("  folded stacks + a sink      %6.2f\n", both / 1e6);
  printf("  the sink alone              %6.2f\n", alone / 1e6);
  printf("  (the sink saw %llu spans, %llu events)\n", (unsigned long long)spans_seen,
         (unsigned long long)events_seen);
  return 0;
}
