/* Timestamps. The recording path reads the TSC (one instruction) when the CPU says it runs at a
 * constant rate in every power state (the "invariant TSC" bit); the reporter and dumps turn
 * ticks into CLOCK_MONOTONIC nanoseconds with the rate measured between the collector's start
 * and the latest conversion, anchored at the latest (ticks, ns) pair: a record converted a
 * moment after it was made carries almost no error, and nothing has to be measured at start-up
 * (LTTng's users wait up to three seconds for that). Without an invariant TSC every timestamp is
 * a clock_gettime(CLOCK_MONOTONIC). */
#include <time.h>

#include "../common/clock.h"
#include "internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

bool trace__col_tsc_usable(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
    return false;
  __get_cpuid(0x80000007u, &a, &b, &c, &d);
  return (d >> 8) & 1; /* invariant TSC */
#else
  return false;
#endif
}

uint64_t trace__col_clock_slow(const col_clock *k) {
  if (k->kind == COL_CLOCK_CUSTOM)
    return k->fn(k->arg);
  return trace__monotonic_ns();
}

uint64_t trace__col_now_ticks(const col_clock *k) {
  return k->kind == COL_CLOCK_TSC ? trace__tsc() : trace__col_clock_slow(k);
}

void trace__col_clock_init(col_clock *k, int kind, uint64_t (*fn)(void *), void *arg) {
  memset(k, 0, sizeof *k);
  k->kind = kind;
  k->fn = fn;
  k->arg = arg;
  trace__mutex_init(&k->lock, TRACE__MUTEX_INNER);
  if (kind == COL_CLOCK_TSC) {
    k->base_ns = trace__monotonic_ns();
    k->base_ticks = trace__tsc();
    k->anchor_ns = k->base_ns;
    k->anchor_ticks = k->base_ticks;
  }
}

/* CLOCK_REALTIME - CLOCK_MONOTONIC, read as close together as the two calls allow. */
static int64_t unix_offset(void) {
  struct timespec rt;
  uint64_t mono = trace__monotonic_ns();
  trace__realtime(&rt);
  uint64_t real = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
  return (int64_t)(real - mono);
}

col_timemap trace__col_clock_map(col_clock *k) {
  col_timemap m = {k->kind, 0, 0, 1.0, 0};
  if (k->kind == COL_CLOCK_CUSTOM)
    return m;
  m.unix_offset_ns = unix_offset();
  if (k->kind != COL_CLOCK_TSC)
    return m;
  trace__mutex_lock(&k->lock);
  /* The rate over the longest baseline there is. A conversion in the first 100 microseconds
   * of the collector waits for that much baseline (once): shorter, the two clocks' reading
   * jitter would be a visible part of it. */
  uint64_t ns, ticks;
  do {
    ns = trace__monotonic_ns();
    ticks = trace__tsc();
  } while (ns < k->base_ns + 100000);
  if (ticks > k->base_ticks) {
    k->scale = (double)(ns - k->base_ns) / (double)(ticks - k->base_ticks);
    k->anchor_ns = ns;
    k->anchor_ticks = ticks;
  }
  m.anchor_ticks = k->anchor_ticks;
  m.anchor_ns = k->anchor_ns;
  m.scale = k->scale != 0.0 ? k->scale : 1.0;
  trace__mutex_unlock(&k->lock);
  return m;
}

uint64_t trace__col_map_ns(const col_timemap *m, uint64_t ticks) {
  if (m->kind != COL_CLOCK_TSC)
    return ticks;
  double ns = (double)m->anchor_ns + ((double)ticks - (double)m->anchor_ticks) * m->scale;
  return ns <= 0.0 ? 0 : (uint64_t)ns;
}
