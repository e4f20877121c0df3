/* The syslog(3) drop-in (<trace/syslog.h>): priorities as levels, the ident as target and
 * filter key, the caller's location through the replacement macros, %m, setlogmask. */
#include <errno.h>

#include "helpers.h"
#include "trace/fmt.h"
#define TRACE_SYSLOG_REPLACE
#include "trace/syslog.h"

static text_log out; /* the fmt layer's lines */

static trace_default_guard guard;
static trace_dispatch *installed;

static int setup(void **state) {
  (void)state;
  text_log_init(&out);
  trace_registry *r = fmt_registry_into(&out, "warn,shimd=debug", false);
  installed = trace_registry_dispatch(r);
  guard = trace_set_default(installed);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  trace_default_guard_restore(&guard);
  trace_dispatch_release(installed);
  text_log_destroy(&out);
  closelog();
  setlogmask(0xff);
  return 0;
}

static void priorities_targets_and_locations(void **state) {
  (void)state;
  openlog("shimd", LOG_PID, LOG_DAEMON);
  int line = __LINE__ + 1;
  syslog(LOG_DEBUG | LOG_LOCAL0, "debug %d", 1);
  syslog(LOG_NOTICE, "notice");
  errno = ENOENT;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat" /* -Wpedantic: ISO C has no %m (glibc's printf has) */
  syslog(LOG_CRIT, "open failed: %m");
#pragma GCC diagnostic pop
  assert_int_equal(errno, ENOENT);
  closelog(); /* target "syslog": WARN and above only */
  syslog(LOG_INFO, "not shown");
  syslog(LOG_WARNING, "shown");
  char expected[512];
  snprintf(expected, sizeof expected,
           "DEBUG shimd: %d: debug 1\n"
           " INFO shimd: %d: notice\n"
           "ERROR shimd: %d: open failed: No such file or directory\n"
           " WARN syslog: %d: shown\n",
           line, line + 1, line + 5, line + 10);
  assert_text_equal(out.text, expected);
}

static void logmask_filters_first(void **state) {
  (void)state;
  openlog("shimd", 0, 0);
  assert_int_equal(setlogmask(LOG_UPTO(LOG_WARNING)), 0xff);
  assert_int_equal(setlogmask(0), LOG_UPTO(LOG_WARNING));
  trace_syslog(LOG_INFO, "masked");
  trace_syslog(LOG_ERR, "kept");
  assert_text_equal(out.text, "ERROR shimd: kept\n");
}

static void level_mapping(void **state) {
  (void)state;
  static const struct {
    int priority, level;
  } table[] = {
      {LOG_EMERG, TRACE_LEVEL_ERROR},  {LOG_ALERT, TRACE_LEVEL_ERROR},
      {LOG_CRIT, TRACE_LEVEL_ERROR},   {LOG_ERR, TRACE_LEVEL_ERROR},
      {LOG_WARNING, TRACE_LEVEL_WARN}, {LOG_NOTICE, TRACE_LEVEL_INFO},
      {LOG_INFO, TRACE_LEVEL_INFO},    {LOG_DEBUG, TRACE_LEVEL_DEBUG},
      {LOG_ERR | LOG_USER, TRACE_LEVEL_ERROR},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    assert_int_equal(trace_syslog_level(table[i].priority), table[i].level);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(priorities_targets_and_locations, setup, teardown),
      cmocka_unit_test_setup_teardown(logmask_filters_first, setup, teardown),
      cmocka_unit_test(level_mapping),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
