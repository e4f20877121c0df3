/* GLib's logging into libtrace (<trace/glib.h>): domains as targets filtered by the env-filter,
 * GLib levels as levels, structured fields and locations, old-style g_log. */
#include <glib.h>

#include "helpers.h"
#include "trace/fmt.h"
#include "trace/glib.h"

static text_log out; /* the fmt layer's lines */

static void structured_and_classic(void **state) {
  (void)state;
  text_log_init(&out);
  trace_registry *r = fmt_registry_into(&out, "warn,netd=debug", true);
  assert_int_equal(trace_registry_install(r), 0);
  trace_glib_install();

  g_log_structured("netd", G_LOG_LEVEL_DEBUG, "CODE_FILE", "net.c", "CODE_LINE", "42",
                   "CODE_FUNC", "connect_peer", "PEER", "10.0.0.7", "MESSAGE", "connecting %d",
                   3);
  g_log_structured("quietd", G_LOG_LEVEL_MESSAGE, "MESSAGE", "filtered out");
  g_log("quietd", G_LOG_LEVEL_WARNING, "disk at %d%%", 93); /* classic API, no location */
  g_log(NULL, G_LOG_LEVEL_CRITICAL, "default domain");
  g_log("netd", G_LOG_LEVEL_INFO, "line\nbreak"); /* escaped, one line */
  trace_shutdown();
  assert_text_equal(out.text, "DEBUG netd: net.c:42: connecting 3 PEER=\"10.0.0.7\"\n"
                         " WARN quietd: disk at 93%\n"
                         "ERROR glib: default domain\n"
                         " INFO netd: line\\nbreak\n");
  text_log_destroy(&out);
}

static void level_mapping(void **state) {
  (void)state;
  assert_int_equal(trace_glib_level(G_LOG_LEVEL_ERROR), TRACE_LEVEL_ERROR);
  assert_int_equal(trace_glib_level(G_LOG_LEVEL_CRITICAL), TRACE_LEVEL_ERROR);
  assert_int_equal(trace_glib_level(G_LOG_LEVEL_WARNING), TRACE_LEVEL_WARN);
  assert_int_equal(trace_glib_level(G_LOG_LEVEL_MESSAGE), TRACE_LEVEL_INFO);
  assert_int_equal(trace_glib_level(G_LOG_LEVEL_INFO), TRACE_LEVEL_INFO);
  assert_int_equal(trace_glib_level(G_LOG_LEVEL_DEBUG), TRACE_LEVEL_DEBUG);
  assert_int_equal(trace_glib_level(G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL), TRACE_LEVEL_WARN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(level_mapping),
      cmocka_unit_test(structured_and_classic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
