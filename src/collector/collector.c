/* The collector's public API: options, creation, the two ways of installing it, flush, stats,
 * the flight recorders in use and the async-signal-safe dump request. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../common/spin.h"
#include "../common/thread.h"
#include "record.h"

trace__mutex trace__col_list_lock;
col *trace__col_list_head;
uint32_t trace__col_flight_requests;
static uint32_t flight_alive; /* atomic: flight recorders alive, read by the signal path */
static pthread_once_t module_once = PTHREAD_ONCE_INIT;

static void fork_child(void) {
  /* Only this thread exists in the child, and trace__mutex's own handler (registered before
   * this one, so run before it) has re-created every lock: the collectors are reset without
   * waiting for anybody. */
  for (col *c = trace__col_list_head; c; c = c->next_all)
    trace__col_fork_child(c);
}

static void module_init(void) {
  trace__mutex_init(&trace__col_list_lock, TRACE__MUTEX_OUTER);
  pthread_atfork(NULL, NULL, fork_child);
}

void trace_collector_options_init(trace_collector_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->mode = TRACE_COLLECTOR_STREAM;
  o->flight_bytes = (size_t)64 << 20;
  o->chrome_max_bytes = (uint64_t)1 << 30;
  o->folded_time = TRACE_FOLDED_BUSY;
  o->string_bytes = 256;
  o->max_level = TRACE_LEVEL_TRACE;
  o->clock = TRACE_COLLECTOR_CLOCK_AUTO;
  o->flush_interval_ms = 100;
}

static uint64_t pow2_at_least(uint64_t n) {
  uint64_t p = 16384;
  while (p < n && p < ((uint64_t)1 << 40))
    p <<= 1;
  return p;
}

static bool options_valid(const trace_collector_options *o) {
  return o->struct_size == sizeof *o &&
         (o->mode == TRACE_COLLECTOR_STREAM || o->mode == TRACE_COLLECTOR_FLIGHT) &&
         o->folded_time <= TRACE_FOLDED_WALL && o->string_bytes <= COL_STRING_MAX &&
         o->max_level >= TRACE_LEVEL_OFF && o->max_level <= TRACE_LEVEL_TRACE &&
         o->clock <= TRACE_COLLECTOR_CLOCK_CUSTOM &&
         (o->clock != TRACE_COLLECTOR_CLOCK_CUSTOM || o->clock_fn) &&
         (o->flags & ~(uint32_t)(TRACE_COLLECTOR_EXACT_LIFETIMES | TRACE_COLLECTOR_CONTEXT)) == 0 &&
         o->thread_buffer_bytes <= ((size_t)1 << 32) &&
         (!o->sink || o->mode == TRACE_COLLECTOR_STREAM);
}

/* The sink given with o is ours from the call on: a call that fails closes it (when o is an
 * options struct at all, so that its sink can be read). */
static void close_given_sink(const trace_collector_options *o) {
  if (o && o->struct_size == sizeof *o && o->sink && o->sink->close)
    o->sink->close(o->sink->arg);
}

/* The collector keeps its own copies of the options' strings (the caller's may be temporaries);
 * c->o points at them. */
static bool copy_strings(col *c) {
  const char **in[] = {&c->o.chrome_path, &c->o.folded_path, &c->o.process_name,
                       &c->o.request_path};
  for (size_t i = 0; i < TRACE__ARRAY_LEN(in); i++) {
    if (*in[i] && !(c->strings[i] = trace__strdup(*in[i])))
      return false;
    *in[i] = c->strings[i];
  }
  return true;
}

int trace_collector_new(const trace_collector_options *o, trace_collector **out) {
  if (out)
    *out = NULL;
  int saved = errno;
  if (!o || !out || !options_valid(o)) {
    close_given_sink(o);
    errno = saved;
    return TRACE_EINVAL;
  }
  pthread_once(&module_once, module_init);
  col *c = trace__alloc_lines(sizeof *c);
  if (!c) {
    close_given_sink(o);
    errno = saved;
    return TRACE_ENOMEM;
  }
  c->o = *o;
  if (!copy_strings(c)) {
    for (size_t i = 0; i < TRACE__ARRAY_LEN(c->strings); i++)
      trace__free(c->strings[i]);
    trace__free_lines(c);
    close_given_sink(o);
    errno = saved;
    return TRACE_ENOMEM;
  }
  if (o->sink) {
    c->sink = *o->sink;
    c->o.sink = &c->sink;
  }
  c->mode = (int)o->mode;
  c->exact = (o->flags & TRACE_COLLECTOR_EXACT_LIFETIMES) != 0;
  c->context = (o->flags & TRACE_COLLECTOR_CONTEXT) != 0;
  c->string_bytes = o->string_bytes;
  /* Slots, strings at the bound, the NEW header: all in a page. */
  uint32_t per_value = 16 + ((o->string_bytes + 7) & ~7u);
  c->simple_fields = (COL_PAGE - 64) / per_value;
  if (c->simple_fields > COL_FIELDS_MAX)
    c->simple_fields = COL_FIELDS_MAX;
  uint64_t want = o->thread_buffer_bytes;
  if (!want)
    want = c->mode == TRACE_COLLECTOR_FLIGHT ? (1u << 20) : (256u << 10);
  c->ring_bytes = pow2_at_least(want);
  int kind = o->clock == TRACE_COLLECTOR_CLOCK_CUSTOM      ? COL_CLOCK_CUSTOM
             : o->clock == TRACE_COLLECTOR_CLOCK_MONOTONIC ? COL_CLOCK_MONO
             : trace__col_tsc_usable()                     ? COL_CLOCK_TSC
                                                           : COL_CLOCK_MONO;
  trace__col_clock_init(&c->clock, kind, o->clock_fn, o->clock_arg);
  trace__mutex_init(&c->lock, TRACE__MUTEX_INNER);
  pthread_mutex_init(&c->flush_lock, NULL);
  pthread_cond_init(&c->flush_cond, NULL);
  c->local_key = -1;
  static uint64_t next_gen;
  c->gen = __atomic_add_fetch(&next_gen, 1, __ATOMIC_RELAXED);
  int rc = TRACE_ENOMEM;
  if (!trace__col_slots_init(&c->slots))
    goto fail;
  c->local_key = trace__local_key_create(trace__col_thread_exit);
  if (c->local_key < 0)
    goto fail;
  rc = trace__col_open_outputs(c, false);
  if (rc != 0)
    goto fail;
  /* Requests made before this collector existed were for another one (or for none): only the
   * ones made from now on are ours. */
  c->requests_seen = __atomic_load_n(&trace__col_flight_requests, __ATOMIC_ACQUIRE);
  rc = trace__col_reporter_start(c);
  if (rc != 0)
    goto fail;
  trace__col_list_add(c);
  *out = c;
  errno = saved;
  return 0;
fail:
  saved = rc == TRACE_EIO ? errno : saved;
  trace__col_destroy(c);
  errno = saved;
  return rc;
}

trace_dispatch *trace_collector_dispatch(trace_collector *c) {
  if (!c || c->given)
    return NULL;
  c->given = true;
  trace_subscriber_vtable vt;
  trace__col_subscriber_vtable_for(c, &vt);
  return trace_dispatch_new(&vt, c);
}

int trace_collector_install(trace_collector *c) {
  trace_dispatch *d = trace_collector_dispatch(c);
  if (!d)
    return c ? TRACE_ENOMEM : TRACE_EINVAL;
  int rc = trace_set_global_default(d);
  trace_dispatch_release(d);
  return rc;
}

trace_layer *trace_collector_layer(trace_collector *c) {
  if (!c || c->given)
    return NULL;
  c->given = true;
  return trace_layer_new(&trace__col_layer_vtable, c, 0, 0);
}

void trace_collector_free(trace_collector *c) {
  if (c && !c->given)
    trace__col_destroy(c);
}

int trace_collector_flush(trace_collector *c) {
  if (!c)
    return TRACE_EINVAL;
  if (trace__tls.depth != 0)
    return TRACE_EBUSY;
  TRACE__KEEP_ERRNO();
  return trace__col_flush(c);
}

trace_collector_stats trace_collector_get_stats(trace_collector *c) {
  trace_collector_stats st;
  memset(&st, 0, sizeof st);
  if (!c)
    return st;
  trace__mutex_lock(&c->lock);
  for (col_thread *t = c->threads; t; t = t->next) {
    st.records_dropped += TRACE__LOAD(&t->dropped);
    st.bytes_recorded += __atomic_load_n(&t->pos, __ATOMIC_ACQUIRE);
  }
  st.threads = c->threads_seen;
  trace__mutex_unlock(&c->lock);
  st.bytes_recorded += TRACE__LOAD(&c->recorded_total);
  st.records_dropped += TRACE__LOAD(&c->dropped_total);
  st.clock_backwards = TRACE__LOAD(&c->clock_backwards);
  st.memory_drops = TRACE__LOAD(&c->memory_drops);
  st.dumps = TRACE__LOAD(&c->dumps);
  st.dump_copy_ns_max = TRACE__LOAD(&c->dump_copy_ns_max);
  trace__col_output_stats(c, &st);
  return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Collectors alive, and the flight recorder in use. */

void trace__col_list_add(col *c) {
  trace__mutex_lock(&trace__col_list_lock);
  c->next_all = trace__col_list_head;
  trace__col_list_head = c;
  if (c->mode == TRACE_COLLECTOR_FLIGHT)
    __atomic_add_fetch(&flight_alive, 1, __ATOMIC_RELEASE);
  trace__mutex_unlock(&trace__col_list_lock);
}

void trace__col_list_remove(col *c) {
  pthread_once(&module_once, module_init);
  trace__mutex_lock(&trace__col_list_lock);
  for (col **p = &trace__col_list_head; *p; p = &(*p)->next_all) {
    if (*p == c) {
      *p = c->next_all;
      if (c->mode == TRACE_COLLECTOR_FLIGHT)
        __atomic_sub_fetch(&flight_alive, 1, __ATOMIC_RELEASE);
      break;
    }
  }
  trace__mutex_unlock(&trace__col_list_lock);
}

col *trace__col_flight_current(void) {
  for (col *c = trace__col_list_head; c; c = c->next_all)
    if (c->mode == TRACE_COLLECTOR_FLIGHT)
      return c;
  return NULL;
}

int trace_flight_dump_request(void) {
  /* Two atomic operations on static words: nothing a signal handler may not do. */
  if (__atomic_load_n(&flight_alive, __ATOMIC_ACQUIRE) == 0)
    return TRACE_ENOTSUP;
  __atomic_add_fetch(&trace__col_flight_requests, 1, __ATOMIC_RELEASE);
  return 0;
}

static void on_dump_signal(int signo) {
  (void)signo;
  TRACE__KEEP_ERRNO(); /* a handler must leave errno as it found it */
  (void)trace_flight_dump_request();
}

int trace_flight_dump_on_signal(int signo) {
  if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_dump_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  return sigaction(signo, &sa, NULL) == 0 ? 0 : TRACE_EINVAL;
}
