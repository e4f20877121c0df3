/* Events from other logging systems (<trace/log.h>): filtered per target and level like the
 * macros, located at the caller's file and line, printf messages and preformatted text, fields,
 * sites keyed by content, no allocation once warm, the overflow past the site limit, bad input. */
#include <errno.h>
#include <pthread.h>

#include "helpers.h"
#include "trace/fmt.h"
#include "trace/log.h"

/* The fmt layer's lines, collected. */
static text_log out;

static trace_default_guard guard;
static trace_dispatch *installed;

/* A registry with the env-filter spec and a fmt layer (no time, file and line shown). */
static void install(const char *spec) {
  text_log_init(&out);
  trace_registry *r = fmt_registry_into(&out, spec, true);
  installed = trace_registry_dispatch(r);
  assert_non_null(installed);
  guard = trace_set_default(installed);
}

static int uninstall(void **state) {
  (void)state;
  trace_default_guard_restore(&guard);
  trace_dispatch_release(installed);
  text_log_destroy(&out);
  return 0;
}

/* What an existing LOG_xxx macro set would expand to. */
#define MY_LOG(lvl, tgt, ...)                                                                      \
  trace_log_emit(&(trace_log_record){sizeof(trace_log_record), (lvl), (tgt), "legacy/db.c",        \
                                     __LINE__, __func__, NULL, NULL, 0},                           \
                 __VA_ARGS__)

static void filtered_per_target_and_level(void **state) {
  (void)state;
  install("warn,mylib=debug");
  assert_true(trace_log_enabled(TRACE_LEVEL_DEBUG, "mylib"));
  assert_true(trace_log_enabled(TRACE_LEVEL_DEBUG, "mylib::pool"));
  assert_false(trace_log_enabled(TRACE_LEVEL_TRACE, "mylib"));
  assert_false(trace_log_enabled(TRACE_LEVEL_INFO, "other"));
  assert_true(trace_log_enabled(TRACE_LEVEL_WARN, "other"));
  int line = __LINE__ + 1;
  MY_LOG(TRACE_LEVEL_DEBUG, "mylib", "opened %s with %d rows", "t1", 42);
  MY_LOG(TRACE_LEVEL_INFO, "other", "not shown");
  MY_LOG(TRACE_LEVEL_WARN, "other", "shown %s", "too");
  MY_LOG(TRACE_LEVEL_TRACE, "mylib", "not shown either");
  char expected[256];
  snprintf(expected, sizeof expected,
           "DEBUG mylib: legacy/db.c:%d: opened t1 with 42 rows\n"
           " WARN other: legacy/db.c:%d: shown too\n",
           line, line + 2);
  assert_text_equal(out.text, expected);
}

/* A vsyslog-shaped function: the va_list entry point. */
static void my_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void my_vlog(int level, const char *fmt, va_list ap) {
  trace_log_record r = {sizeof r, level, "sys", NULL, 0, NULL, NULL, NULL, 0};
  trace_log_vemit(&r, fmt, ap);
}
static void my_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void my_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  my_vlog(level, fmt, ap);
  va_end(ap);
}

static void va_list_text_and_fields(void **state) {
  (void)state;
  install("trace");
  my_log(TRACE_LEVEL_ERROR, "disk %s at %d%%", "sda", 93);
  char text[] = {'a', 'b', '\n', 'c', 'X'}; /* 4 bytes of it, not NUL-terminated, a newline */
  trace_log_record r = {sizeof r, TRACE_LEVEL_INFO, "pre", "x.c", 7, "f", NULL, NULL, 0};
  assert_int_equal(trace_log_emit_text(&r, text, 4), 0);
  static const char *const names[] = {"user_id", "ok"};
  trace_value values[] = {trace_value_i64(42), trace_value_bool(true)};
  trace_log_record rf = {sizeof rf, TRACE_LEVEL_WARN, "fields", NULL, 0, NULL, names, values, 2};
  assert_int_equal(trace_log_emit_text(&rf, "login", 5), 0);
  assert_int_equal(trace_log_emit_text(&rf, NULL, 0), 0); /* fields only */
  assert_text_equal(out.text, "ERROR sys: disk sda at 93%\n"
                         " INFO pre: x.c:7: ab\\nc\n"
                         " WARN fields: login user_id=42 ok=true\n"
                         " WARN fields: user_id=42 ok=true\n");
}

/* Sites are keyed by the strings' contents: a buffer reused with another target is another
 * target (a pointer-keyed cache would have kept the first decision). */
static void keyed_by_content(void **state) {
  (void)state;
  install("info,quiet=off");
  char target[16];
  trace_log_record r = {sizeof r, TRACE_LEVEL_INFO, target, NULL, 0, NULL, NULL, NULL, 0};
  strcpy(target, "loud");
  trace_log_emit_text(&r, "one", 3);
  strcpy(target, "quiet");
  trace_log_emit_text(&r, "two", 3);
  strcpy(target, "loud");
  trace_log_emit_text(&r, "three", 5);
  assert_text_equal(out.text, " INFO loud: one\n INFO loud: three\n");
}

static void three_locations(int i) {
  MY_LOG(TRACE_LEVEL_INFO, "warm", "line %d", i);
  MY_LOG(TRACE_LEVEL_DEBUG, "warm", "filtered %d", i);
  MY_LOG(TRACE_LEVEL_ERROR, "quiet", "off %d", i);
}

static void warm_emits_allocate_nothing(void **state) {
  (void)state;
  install("info,quiet=off");
  for (int i = 0; i < 3; i++)
    three_locations(i);
  long before = allocations_so_far();
  for (int i = 0; i < 1000; i++)
    three_locations(i);
  assert_int_equal(allocations_so_far() - before, 0);
}

/* Past TRACE_LOG_MAX_SITES locations, events still go out (target and location as fields), and
 * the first overflow is reported once. Runs last: the sites it makes stay. */
static void overflow_past_the_site_limit(void **state) {
  (void)state;
  install("info");
  trace_log_stats before = trace_log_get_stats();
  stderr_capture c = stderr_capture_begin();
  trace_log_record r = {sizeof r, TRACE_LEVEL_INFO, "many", "gen.c", 0, NULL, NULL, NULL, 0};
  for (uint32_t line = 1; line <= TRACE_LOG_MAX_SITES + 10; line++) {
    r.line = line;
    text_log_clear(&out);
    trace_log_emit(&r, "at %u", line);
  }
  char report[512];
  stderr_capture_end(&c, report, sizeof report);
  trace_log_stats after = trace_log_get_stats();
  assert_int_equal(after.sites, TRACE_LOG_MAX_SITES);
  assert_true(after.overflow - before.overflow >= 10);
  char expected[128];
  snprintf(expected, sizeof expected,
           " INFO trace.log: at %u log.target=\"many\" log.file=\"gen.c\" log.line=%u\n",
           TRACE_LOG_MAX_SITES + 10, TRACE_LOG_MAX_SITES + 10);
  assert_text_equal(out.text, expected);
  assert_text_contains(report, "TRACE_LOG_MAX_SITES");
  assert_null(strstr(strstr(report, "TRACE_LOG_MAX_SITES") + 1, "TRACE_LOG_MAX_SITES"));
}

static void bad_input(void **state) {
  (void)state;
  install("trace");
  errno = EAGAIN;
  trace_log_record r = {sizeof r, 9, "x", NULL, 0, NULL, NULL, NULL, 0};
  assert_int_equal(trace_log_emit_text(&r, "a", 1), TRACE_EINVAL);
  assert_int_equal(trace_log_emit_text(NULL, "a", 1), TRACE_EINVAL);
  r.level = TRACE_LEVEL_INFO;
  r.struct_size = 4;
  assert_int_equal(trace_log_emit_text(&r, "a", 1), TRACE_EINVAL);
  r.struct_size = sizeof r;
  r.nfields = 2; /* no names or values */
  assert_int_equal(trace_log_emit_text(&r, "a", 1), TRACE_EINVAL);
  r.nfields = 0;
  assert_int_equal(trace_log_emit_text(&r, NULL, 3), TRACE_EINVAL);
  assert_false(trace_log_enabled(0, "x"));
  assert_false(trace_log_enabled(6, "x"));
  char hostile[400];
  memset(hostile, 'h', sizeof hostile);
  hostile[sizeof hostile - 1] = '\0';
  r.target = hostile; /* cut at 256 bytes in the site; still filtered and shown */
  assert_int_equal(trace_log_emit_text(&r, "long target", 11), 0);
  assert_int_equal(errno, EAGAIN);
  assert_non_null(strstr(out.text, "long target"));
  assert_int_equal(out.text[0], 'E' - 'E' + ' '); /* " INFO ..." */
}

int main(void) {
  install_counting_allocator();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(filtered_per_target_and_level, uninstall),
      cmocka_unit_test_teardown(va_list_text_and_fields, uninstall),
      cmocka_unit_test_teardown(keyed_by_content, uninstall),
      cmocka_unit_test_teardown(warm_emits_allocate_nothing, uninstall),
      cmocka_unit_test_teardown(bad_input, uninstall),
      cmocka_unit_test_teardown(overflow_past_the_site_limit, uninstall),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
