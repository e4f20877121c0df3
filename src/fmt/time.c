/* Timestamps. The date and time to the second are formatted once per second per thread; each
 * event only adds the microseconds. */
#include <stdio.h>
#include <time.h>

#include "../common/civil.h"
#include "../common/clock.h"
#include "../text/number.h"
#include "internal.h"

static void put_micros(trace__buf *b, long nsec) {
  char frac[8];
  unsigned us = (unsigned)(nsec / 1000);
  frac[0] = '.';
  for (int i = 6; i >= 1; i--) {
    frac[i] = (char)('0' + us % 10);
    us /= 10;
  }
  trace__buf_put(b, frac, 7);
}

static void two(char *out, int v) {
  out[0] = (char)('0' + (v / 10) % 10);
  out[1] = (char)('0' + v % 10);
}

/* YYYY-MM-DDTHH:MM:SS (19 bytes, then a NUL). Years outside 0..9999 are clamped: RFC 3339 has
 * four digits. */
static void date_time(char *out, const struct tm *tm) {
  int year = tm->tm_year + 1900;
  if (year < 0)
    year = 0;
  if (year > 9999)
    year = 9999;
  two(out, year / 100);
  two(out + 2, year % 100);
  out[4] = '-';
  two(out + 5, tm->tm_mon + 1);
  out[7] = '-';
  two(out + 8, tm->tm_mday);
  out[10] = 'T';
  two(out + 11, tm->tm_hour);
  out[13] = ':';
  two(out + 14, tm->tm_min);
  out[16] = ':';
  two(out + 17, tm->tm_sec);
  out[19] = '\0';
}

void trace__fmt_put_time(trace__buf *b, const fmt_layer *l, fmt_thread *t) {
  switch (l->o.time) {
  case TRACE_FMT_TIME_UTC: {
    struct timespec ts;
    trace__realtime(&ts);
    if (ts.tv_sec != t->utc_sec || !t->utc_prefix[0]) {
      struct tm tm;
      trace__utc_tm(ts.tv_sec, &tm); /* not gmtime_r: see common/civil.h (fork) */
      date_time(t->utc_prefix, &tm);
      t->utc_sec = ts.tv_sec;
    }
    trace__buf_put(b, t->utc_prefix, 19);
    put_micros(b, ts.tv_nsec);
    trace__buf_putc(b, 'Z');
    break;
  }
  case TRACE_FMT_TIME_LOCAL: {
    struct timespec ts;
    trace__realtime(&ts);
    if (ts.tv_sec != t->local_sec || !t->local_prefix[0]) {
      struct tm tm;
      trace__local_tm(ts.tv_sec, &tm);
      date_time(t->local_prefix, &tm);
      long off = tm.tm_gmtoff / 60;
      t->local_offset[0] = off < 0 ? '-' : '+';
      if (off < 0)
        off = -off;
      off %= 100 * 60;
      two(t->local_offset + 1, (int)(off / 60));
      t->local_offset[3] = ':';
      two(t->local_offset + 4, (int)(off % 60));
      t->local_offset[6] = '\0';
      t->local_sec = ts.tv_sec;
    }
    trace__buf_put(b, t->local_prefix, 19);
    put_micros(b, ts.tv_nsec);
    trace__buf_put(b, t->local_offset, 6);
    break;
  }
  case TRACE_FMT_TIME_UPTIME: {
    uint64_t ns = trace__monotonic_ns() - l->start_ns;
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%4llu.%09llus", (unsigned long long)(ns / 1000000000u),
                     (unsigned long long)(ns % 1000000000u));
    trace__buf_put(b, tmp, (size_t)n);
    break;
  }
  default:
    break;
  }
}
