/* GLib's logging into libtrace (<trace/glib.h>): domains as targets filtered by the env-filter,
 * GLib levels as levels, structured fields and locations, old-style g_log. */
#include <glib.h>

#include "helpers.h"
#include "trace/fmt.h"
#include "trace/glib.h"

static char out[16384];
static size_t out_len;
static int collect(void *arg, const char *line, size_t len) {
  (void)arg;
  if (out_len + len < sizeof out) {
    memcpy(out + out_len, line, len);
    out_len += len;
    out[out_len] = '\0';
  }
  return 0;
}

static void structured_and_classic(void **state) {
  (void)state;
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.time = TRACE_FMT_TIME_NONE;
  o.color = TRACE_FMT_COLOR_NEVER;
  o.show_file = true;
  o.show_line = true;
  o.writer = trace_writer_callback(collect, NULL, NULL, NULL);
  trace_registry *r = trace_registry_new();
  trace_env_filter *f = NULL;
  assert_int_equal(trace_env_filter_parse("warn,netd=debug", &f, NULL), 0);
  trace_registry_set_filter(r, trace_env_filter_as_filter(f));
  trace_env_filter_release(f);
  trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL);
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
  assert_text_equal(out, "DEBUG netd: net.c:42: connecting 3 PEER=\"10.0.0.7\"\n"
                         " WARN quietd: disk at 93%\n"
                         "ERROR glib: default domain\n"
                         " INFO netd: line\\nbreak\n");
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
