/* Clock ticks for records: the time stamp counter where it can be trusted, Unix ns otherwise,
 * and their conversion to Unix ns on the exporter's side. A TSC read is one instruction; a
 * clock_gettime through the vDSO takes about three times as long on the machines this was
 * measured on, and a span needs two of them. */
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "internal.h"

uint64_t trace__otlp_now_unix_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t trace__otlp_now_mono_ns(void) { return trace__monotonic_ns(); }

/* Usable: an invariant TSC (it ticks at one rate whatever the power state) that the kernel
 * itself keeps time with (clocksource tsc, or kvm-clock, which a hypervisor bases on a TSC it
 * keeps in step across virtual CPUs): then ticks read on different CPUs compare. */
bool trace__otlp_tsc_usable(void) {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(0x80000007, &a, &b, &c, &d) || !(d & (1u << 8)))
    return false;
  FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
  if (!f)
    return false;
  char name[32] = "";
  bool ok = fgets(name, sizeof name, f) != NULL;
  fclose(f);
  name[strcspn(name, "\n")] = '\0';
  return ok && (strcmp(name, "tsc") == 0 || strcmp(name, "kvm-clock") == 0);
#else
  return false;
#endif
}

/* Ticks, monotonic and real time read as close together as possible (the read in the middle
 * of the two monotonic ones whose gap is the smallest of a few tries). */
static void anchor(const otlp_clock *c, uint64_t *t, uint64_t *m, uint64_t *r) {
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 4; i++) {
    uint64_t m_a = trace__otlp_now_mono_ns();
    uint64_t tt = otlp_ticks(c->tsc);
    uint64_t rr = trace__otlp_now_unix_ns();
    uint64_t m_b = trace__otlp_now_mono_ns();
    if (m_b - m_a < best) {
      best = m_b - m_a;
      *t = tt;
      *m = m_a + (m_b - m_a) / 2;
      *r = rr;
    }
  }
}

void trace__otlp_clock_init(otlp_clock *c) {
  uint64_t r;
  anchor(c, &c->t0, &c->m0, &r);
  c->t1 = c->t0;
  c->m1 = c->m0;
  c->r1 = r;
  c->ns_per_tick = 1.0;
}

bool trace__otlp_clock_update(otlp_clock *c) {
  if (!c->tsc)
    return true;
  anchor(c, &c->t1, &c->m1, &c->r1);
  if (c->t1 > c->t0 && c->m1 > c->m0)
    c->ns_per_tick = (double)(c->m1 - c->m0) / (double)(c->t1 - c->t0);
  return c->m1 - c->m0 >= 20000000u;
}

uint64_t trace__otlp_clock_unix_ns(const otlp_clock *c, uint64_t ticks) {
  if (!c->tsc)
    return ticks;
  /* In integers where the magnitudes are large: a double holds Unix ns only to 256 ns. */
  int64_t dt = (int64_t)(ticks - c->t1);
  int64_t dns = (int64_t)((double)dt * c->ns_per_tick);
  return dns < 0 && (uint64_t)-dns > c->r1 ? 0 : c->r1 + (uint64_t)dns;
}

uint64_t trace__otlp_clock_ns(const otlp_clock *c, uint64_t ticks) {
  if (!c->tsc)
    return ticks;
  return (uint64_t)((double)ticks * c->ns_per_tick);
}
