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

#endif
