/* Broken-down time without the C library's lock (src/common/civil.c): trace__utc_tm against
 * gmtime_r over dates that test the calendar, trace__local_tm against localtime_r, and the
 * forked child of a parent whose threads hold glibc's time zone lock. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/civil.h"

static void assert_same_tm(const struct tm *want, const struct tm *got, int64_t t) {
  int w[] = {want->tm_year, want->tm_mon, want->tm_mday, want->tm_hour,
             want->tm_min,  want->tm_sec, want->tm_wday, want->tm_yday};
  int g[] = {got->tm_year, got->tm_mon, got->tm_mday, got->tm_hour,
             got->tm_min,  got->tm_sec, got->tm_wday, got->tm_yday};
  for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
    if (w[i] != g[i])
      fail_msg("t=%lld: field %zu is %d, gmtime_r says %d", (long long)t, i, g[i], w[i]);
  assert_int_equal(want->tm_gmtoff, got->tm_gmtoff);
}

/* The edges of the calendar: the epoch and the second before it, leap days (2000 is a leap year,
 * 1900 and 2100 are not), year ends, the 32-bit time_t limit, far past and future. */
static const int64_t utc_table[] = {
    0,          -1,         86399,      86400,        951782400,    951868799, 951868800,
    4107542399, 4107542400, 4107628800, -2203891200,  -2203977600,  978307199, 978307200,
    2147483647, 2147483648, 1796502197, -62135596800, 253402300799, -86401,    1709164800,
    1709251199, 1709251200, 4102444800,
};

static void utc_matches_gmtime(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof utc_table / sizeof utc_table[0]; i++) {
    time_t t = (time_t)utc_table[i];
    struct tm want, got;
    assert_non_null(gmtime_r(&t, &want));
    trace__utc_tm(utc_table[i], &got);
    assert_same_tm(&want, &got, utc_table[i]);
  }
  /* And a walk through four centuries in steps that hit every hour and weekday. */
  for (int64_t t = -12219292800; t < 13000000000; t += 7 * 86400 + 3601) {
    time_t tt = (time_t)t;
    struct tm want, got;
    assert_non_null(gmtime_r(&tt, &want));
    trace__utc_tm(t, &got);
    assert_same_tm(&want, &got, t);
  }
}

static void local_matches_localtime(void **state) {
  (void)state;
  const char *zones[] = {"UTC", "XXX-02", "Europe/Paris", "America/St_Johns"};
  for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
    setenv("TZ", zones[z], 1);
    tzset();
    for (int64_t t = 1700000000; t < 1760000000; t += 86400 * 13 + 1234) {
      time_t tt = (time_t)t;
      struct tm want, got;
      assert_non_null(localtime_r(&tt, &want));
      trace__local_tm(t, &got);
      assert_same_tm(&want, &got, t);
    }
  }
  unsetenv("TZ");
  tzset();
}

/* Threads that keep glibc's time zone lock busy, while the main thread forks: every child
 * formats UTC and local time at once. Before these helpers a child that forked while a thread
 * held the lock waited forever in gmtime_r (an alarm turns that into a failure here). */
static volatile int lockers_stop;

static void *tz_locker(void *arg) {
  (void)arg;
  time_t t = 1796502197;
  struct tm tm;
  while (!lockers_stop) {
    localtime_r(&t, &tm);
    gmtime_r(&t, &tm);
  }
  return NULL;
}

static void fork_while_the_lock_is_held(void **state) {
  (void)state;
  setenv("TZ", "XXX-02", 1);
  tzset();
  struct tm parent;
  trace__local_tm(1796502197, &parent); /* the parent has used local time: children may not */
  assert_int_equal(parent.tm_gmtoff, 7200);
  lockers_stop = 0;
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    pthread_create(&th[i], NULL, tz_locker, NULL);
  int failed = 0;
  for (int n = 0; n < 300 && !failed; n++) {
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
      alarm(5);
      struct tm u, l;
      trace__utc_tm(1796502197, &u);
      trace__local_tm(1796502197, &l);
      /* 2026-12-05 20:23:17 UTC; 22:23:17 two hours east, by the offset the parent saw. */
      bool ok = u.tm_hour == 20 && u.tm_min == 23 && l.tm_hour == 22 && l.tm_gmtoff == 7200 &&
                !trace__local_tz_callable();
      _exit(ok ? 0 : 1);
    }
    int st = 0;
    waitpid(p, &st, 0);
    failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  lockers_stop = 1;
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  unsetenv("TZ");
  tzset();
  assert_int_equal(failed, 0);
  assert_true(trace__local_tz_callable()); /* the parent itself still asks the C library */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(utc_matches_gmtime),
      cmocka_unit_test(local_matches_localtime),
      cmocka_unit_test(fork_while_the_lock_is_held),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
