#include "civil.h"

#include <pthread.h>

#include "compiler.h"

/* Days since 1970-01-01 to a proleptic Gregorian date: the eras of 400 years (146097 days) make
 * every step a division of non-negative numbers (Howard Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468; /* days from 0000-03-01 */
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);                          /* [0, 146096] */
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
  unsigned mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

void trace__utc_tm(int64_t t, struct tm *tm) {
  int64_t days = t / 86400, secs = t % 86400;
  if (secs < 0) {
    secs += 86400;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  static const short before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  tm->tm_year = (int)(y - 1900);
  tm->tm_mon = (int)m - 1;
  tm->tm_mday = (int)d;
  tm->tm_hour = (int)(secs / 3600);
  tm->tm_min = (int)(secs / 60 % 60);
  tm->tm_sec = (int)(secs % 60);
  tm->tm_wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
  tm->tm_yday = before[m - 1] + (int)d - 1 + (m > 2 && leap(y));
  tm->tm_isdst = 0;
  tm->tm_gmtoff = 0;
  tm->tm_zone = "UTC";
}

/* The generation of this process in its line of forks (bumped in every child), and the offset
 * trace__local_tm last had from localtime_r with the generation it had it in. Atomics: threads
 * format their time stamps at once. */
static uint32_t fork_gen;
static uint64_t last_offset; /* generation << 32 | (offset + 2^31); 0: none yet */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void child_after_fork(void) { __atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED); }
static void register_atfork(void) { pthread_atfork(NULL, NULL, child_after_fork); }

bool trace__local_tz_callable(void) {
  uint64_t last = __atomic_load_n(&last_offset, __ATOMIC_RELAXED);
  return last == 0 || (uint32_t)(last >> 32) == __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
}

void trace__local_tm(int64_t t, struct tm *tm) {
  /* Registered before the first offset is kept: every later fork is counted. */
  pthread_once(&atfork_once, register_atfork);
  if (trace__local_tz_callable()) {
    time_t tt = (time_t)t;
    if (localtime_r(&tt, tm)) {
      uint64_t gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
      uint64_t off = (uint64_t)((int64_t)tm->tm_gmtoff + ((int64_t)1 << 31)) & 0xffffffffu;
      __atomic_store_n(&last_offset, gen << 32 | off, __ATOMIC_RELAXED);
      return;
    }
  }
  uint64_t last = __atomic_load_n(&last_offset, __ATOMIC_RELAXED);
  long off = last ? (long)((int64_t)(last & 0xffffffffu) - ((int64_t)1 << 31)) : 0;
  trace__utc_tm(t + off, tm);
  tm->tm_gmtoff = off;
  tm->tm_zone = NULL;
}
