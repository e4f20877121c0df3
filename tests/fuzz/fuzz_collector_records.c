/* libFuzzer target for the collector's reader: arbitrary bytes as the rings of up to three
 * threads, read the way the reporter reads them (trace__col_walk, the creations first, then
 * everything) into the model with a Chrome writer, folded stacks and a sink, then finished. A
 * ring is only ever read where its thread wrote whole records, but a reader that trusts a
 * record's own lengths (its size, its slots' kept lengths, a message's or a tracestate's length)
 * must still never read outside the record: this is what the fuzzer checks, under ASan and
 * UBSan. A record's metadata pointer cannot be checked by the reader (the writer puts one of
 * its callsites' there): the fuzzer puts one of four callsites (or NULL) in its place.
 *
 *   run: build/tests/fuzz/fuzz_collector_records tests/fuzz/corpus/collector_records (on a
 *        copy: libFuzzer adds what it finds to the first directory) */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/model.h"
#include "collector/output.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const no_fields[] = {NULL};
static const char *const span_fields[] = {"a", "b", "c", NULL};
static const char *const event_fields[] = {"x", "message", NULL};

static trace_metadata metas[4] = {
    {"span0", "fuzz", "f.c", "fn", no_fields, NULL, 1, 0, TRACE_LEVEL_INFO, TRACE_KIND_SPAN, 1, 0},
    {"span3", "fuzz", "f.c", "fn", span_fields, NULL, 2, 3, TRACE_LEVEL_DEBUG, TRACE_KIND_SPAN, 2,
     0},
    {"event f.c:3", "fuzz", "f.c", "fn", event_fields, "hello %s", 3, 2, TRACE_LEVEL_WARN,
     TRACE_KIND_EVENT, 3, 0},
    {"event f.c:4", "fuzz", "f.c", "fn", event_fields, NULL, 4, 2, TRACE_LEVEL_ERROR,
     TRACE_KIND_EVENT, 4, 0},
};

typedef struct feed {
  col_model *m;
  bool all;
} feed;

static void one(void *arg, const col_rec *r) {
  feed *f = arg;
  col_rec copy = *r;
  if (copy.meta)
    copy.meta = &metas[(uintptr_t)copy.meta % 4];
  if (f->all)
    trace__col_model_feed(f->m, &copy);
  else
    trace__col_model_feed_new(f->m, &copy);
}

/* The sink reads every byte it is given. */
static volatile unsigned sink_sum;
static void touch(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    sink_sum += b[i];
}
static void touch_values(const trace_valueset *vs) {
  for (size_t i = 0; i < vs->count; i++) {
    const trace_value *v = &vs->values[i];
    if ((v->type == TRACE_VALUE_STR || v->type == TRACE_VALUE_DISPLAY) && v->as.str.ptr)
      touch(v->as.str.ptr, v->as.str.len);
    if (vs->index && vs->index[i] >= vs->meta->field_count)
      abort(); /* a value of a field its callsite does not have */
  }
}
static void sink_span(void *arg, const trace_collector_span *s) {
  (void)arg;
  touch_values(&s->fields);
  touch(s->thread_name, strlen(s->thread_name));
  if (s->context)
    touch(s->context->tracestate, s->context->tracestate_len);
}
static void sink_event(void *arg, const trace_collector_event *e) {
  (void)arg;
  touch_values(&e->fields);
  if (e->message)
    touch(e->message, e->message_len);
}
static const trace_collector_sink sink = {sink_span, sink_event, NULL, NULL, NULL};

static int discard(void *arg, const char *p, size_t n) {
  (void)arg;
  touch(p, n);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  unsigned mode = data[0];
  data++;
  size--;
  /* Up to three rings, the bytes split evenly, each a whole number of words (the reader reads
   * words at 8-byte alignment). */
  unsigned rings = 1 + mode % 3;
  size_t each = (size / rings) & ~(size_t)7;
  uint64_t *words = malloc(each ? each : 8);
  if (!words)
    return 0;
  col_chrome *chrome = trace__col_chrome_stream(discard, NULL, "fuzz");
  int fd = open("/dev/null", O_WRONLY);
  col_folded *folded = fd >= 0 ? trace__col_folded_file(fd) : NULL;
  uint64_t backwards = 0, drops = 0;
  col_model_config cfg = {chrome,    folded,   (int)(mode >> 2 & 1), (mode >> 3 & 1) != 0,
                          0,         &backwards, (mode & 16) ? &sink : NULL, &drops};
  col_model *m = trace__col_model_new(&cfg);
  if (m) {
    col_timemap map = {COL_CLOCK_MONO, 0, 0, 1.0, 0};
    trace__col_model_set_time(m, &map);
    for (int pass = 0; pass < 2; pass++) {
      feed f = {m, pass == 1};
      for (unsigned i = 0; i < rings; i++) {
        memcpy(words, data + i * each, each);
        trace__col_model_thread(m, i + 1, i ? "worker" : "main");
        trace__col_walk((const unsigned char *)words, ~(uint64_t)0, 0, each, one, &f);
      }
    }
    trace__col_model_round_end(m);
    trace__col_model_finish(m, UINT64_MAX / 2);
    trace__col_model_free(m);
  }
  if (chrome)
    trace__col_chrome_close(chrome, NULL);
  if (folded)
    trace__col_folded_close(folded, NULL);
  else if (fd >= 0)
    close(fd);
  free(words);
  return 0;
}
