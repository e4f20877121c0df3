/* Broken-down time without the C library's time zone lock.
 *
 * glibc's gmtime_r, localtime_r and mktime take one process-wide lock. A child of fork()
 * inherits it locked when another thread of the parent held it at the moment of the fork, and
 * the child's first call then waits forever: a program whose threads log while it forks must
 * never reach that lock in the child (tests/test_init.c, fork_racing_shutdown, hung one child in
 * about two hundred before these helpers).
 *
 * UTC is arithmetic (trace__utc_tm): no lock, no table, and cheaper than gmtime_r. Local time
 * needs the time zone rules, which only the C library has: trace__local_tm asks localtime_r,
 * except in a child of fork() whose parent (or an earlier ancestor) already asked, where the
 * lock may be held: there it adds the offset the ancestor last saw to UTC. Such a child sees a
 * daylight-saving change only once it execs; a process that forks before it formats local time
 * (daemon(3) at start) asks localtime_r itself and is not limited. */
#ifndef TRACE_COMMON_CIVIL_H
#define TRACE_COMMON_CIVIL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* gmtime_r's result for t (tm_year, tm_mon, tm_mday, tm_hour, tm_min, tm_sec, tm_wday,
 * tm_yday; tm_isdst and tm_gmtoff 0, tm_zone "UTC"), for any t of 64 bits. */
void trace__utc_tm(int64_t t, struct tm *tm);

/* localtime_r's result for t where the lock may be taken; else UTC plus the last offset seen
 * (tm_gmtoff is the offset in seconds east of UTC either way). */
void trace__local_tm(int64_t t, struct tm *tm);

/* Whether this process may call the C library's local time functions (localtime_r, mktime):
 * false in a child of fork() whose ancestor used them through trace__local_tm. */
bool trace__local_tz_callable(void);

#endif
