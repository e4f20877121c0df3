/* A subscriber written from scratch against the vtable of <trace/subscriber.h>: it prints each
 * event with the name of the span it happened in, and counts events per level. The pattern for
 * your own integrations (a metrics exporter, a ring buffer, a test double).
 *
 *   $ ./custom_subscriber
 *   [INFO ] shaving_yaks: starting yak_count=3
 *   ...
 *   events per level: ERROR=1 WARN=0 INFO=3 DEBUG=3 TRACE=0
 */
#include <stdio.h>
#include <string.h>

#include <trace.h>
#include <trace/subscriber.h>

/* The subscriber's state: counters, and a small span table. Real subscribers need locking or
 * thread-local storage for spans used on several threads; this one runs on one thread. */
typedef struct counting {
  unsigned long per_level[6];
  struct {
    uint64_t id;
    const char *name;
    unsigned refs;
  } spans[64];
  uint64_t next_id;
  uint64_t stack[64]; /* entered spans, innermost last */
  int depth;
} counting;

static int find(counting *c, uint64_t id) {
  for (int i = 0; i < 64; i++)
    if (c->spans[i].id == id)
      return i;
  return -1;
}

static bool enabled(void *self, const trace_metadata *meta) {
  (void)self;
  return meta->level <= TRACE_LEVEL_DEBUG;
}

static uint64_t new_span(void *self, const trace_span_attrs *attrs) {
  counting *c = self;
  int slot = find(c, 0);
  if (slot < 0)
    return 0; /* full: the span becomes none, which is always safe */
  c->spans[slot].id = ++c->next_id;
  c->spans[slot].name = attrs->meta->name;
  c->spans[slot].refs = 1;
  return c->spans[slot].id;
}

static void enter(void *self, uint64_t id) {
  counting *c = self;
  if (c->depth < 64)
    c->stack[c->depth++] = id;
}

static void exit_(void *self, uint64_t id) {
  counting *c = self;
  if (c->depth > 0 && c->stack[c->depth - 1] == id)
    c->depth--;
}

static uint64_t clone_span(void *self, uint64_t id) {
  counting *c = self;
  int slot = find(c, id);
  if (slot >= 0)
    c->spans[slot].refs++;
  return id;
}

/* 1: closed now, 0: still referenced, negative: an id we do not know (a handle closed twice). */
static int try_close(void *self, uint64_t id) {
  counting *c = self;
  int slot = find(c, id);
  if (slot < 0)
    return TRACE_ECLOSED;
  if (--c->spans[slot].refs > 0)
    return 0;
  c->spans[slot].id = 0;
  return 1;
}

/* Field values arrive through a visitor; on_text receives every type as text. */
static void print_field(void *ctx, const char *name, const char *text, size_t len) {
  (void)ctx;
  fprintf(stderr, " %s=%.*s", name, (int)len, text);
}

static void event(void *self, const trace_event *ev) {
  counting *c = self;
  c->per_level[ev->meta->level]++;
  char message[256];
  trace_event_message(ev, message, sizeof message);
  const char *span = "-";
  if (c->depth > 0) {
    int slot = find(c, c->stack[c->depth - 1]);
    if (slot >= 0)
      span = c->spans[slot].name;
  }
  fprintf(stderr, "[%-5s] %s: %s", trace_level_name(ev->meta->level), span, message);
  trace_visitor v = {.struct_size = sizeof v, .on_text = print_field};
  trace_valueset_visit(&ev->fields, &v, NULL);
  fputc('\n', stderr);
}

static const trace_subscriber_vtable counting_vtable = {
    .struct_size = sizeof(trace_subscriber_vtable),
    .enabled = enabled,
    .new_span = new_span,
    .event = event,
    .enter = enter,
    .exit = exit_,
    .clone_span = clone_span,
    .try_close = try_close,
};

/* Some instrumented code. */
static void shave(int yak) {
  TRACE_SCOPE(TRACE_LEVEL_DEBUG, "shave", TF(yak, yak));
  TRACE_DEBUG(TF(excitement, "yay!"), "hello! I'm gonna shave a yak");
  if (yak == 3)
    TRACE_ERROR(TF(yak, yak), "could not locate yak");
  else
    TRACE_INFO("yak shaved successfully");
  TRACE_TRACE("too verbose: filtered by enabled()");
}

int main(void) {
  counting state;
  memset(&state, 0, sizeof state);
  trace_dispatch *d = trace_dispatch_new(&counting_vtable, &state);
  trace_set_global_default(d);
  trace_dispatch_release(d); /* the global default holds its own reference */

  trace_span s = TRACE_INFO_SPAN("shaving_yaks", TF(yak_count, 3));
  TRACE_IN_SPAN(&s) {
    TRACE_INFO(TF(yak_count, 3), "starting");
    for (int yak = 1; yak <= 3; yak++)
      shave(yak);
  }
  trace_span_close(&s);

  printf("events per level: ERROR=%lu WARN=%lu INFO=%lu DEBUG=%lu TRACE=%lu\n",
         state.per_level[1], state.per_level[2], state.per_level[3], state.per_level[4],
         state.per_level[5]);
  trace_shutdown(); /* the vtable has no destroy: state lives on the stack */
  return 0;
}
