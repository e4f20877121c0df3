/* Clocks. CLOCK_MONOTONIC for durations, CLOCK_REALTIME for timestamps; both go through the vDSO
 * (no system call). */
#ifndef TRACE_COMMON_CLOCK_H
#define TRACE_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t trace__monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void trace__realtime(struct timespec *ts) { clock_gettime(CLOCK_REALTIME, ts); }

/* The CPU's time stamp counter, where there is one (TRACE__HAVE_TSC): one instruction, ticks at
 * a rate each user calibrates (and checks is constant) itself. 0 elsewhere. */
#if defined(__x86_64__) || defined(__i386__)
#define TRACE__HAVE_TSC 1
static inline uint64_t trace__tsc(void) { return __builtin_ia32_rdtsc(); }
#else
#define TRACE__HAVE_TSC 0
static inline uint64_t trace__tsc(void) { return 0; }
#endif

#endif
