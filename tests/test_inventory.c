/* The callsite inventory (trace_callsites_format): every callsite compiled into the program is
 * listed with its place, kind, level, target, name and interest, sorted by file and line, also
 * those in functions that never ran. */
#include <errno.h>
#include <stdlib.h>

#include "helpers.h"
#include "trace/env_filter.h"
#include "trace/registry.h"

/* Never called: its callsites are known from the trace_callsites section alone (ELF). */
void inventory_never_called(void);
static const unsigned never_line = __LINE__ + 2;
void inventory_never_called(void) {
  trace_span s = TRACE_SPAN_AT("inv::db", TRACE_LEVEL_DEBUG, "query");
  TRACE_EVENT_AT("inv::db", TRACE_LEVEL_WARN, "slow");
  TRACE_EVENT_AT("inv::db", TRACE_LEVEL_INFO, "fast");
  trace_span_close(&s);
}

/* Hostile names: the listing stays one line per callsite. */
void inventory_hostile_names(void);
void inventory_hostile_names(void) {
  trace_span s = TRACE_SPAN_AT("inv\nERROR forged", TRACE_LEVEL_DEBUG, "bad\x1b[2Jname");
  trace_span_close(&s);
}

static void called(void) { TRACE_EVENT_AT("inv", TRACE_LEVEL_ERROR, "hit"); }
static const unsigned called_line = __LINE__ - 1;

static char *format_all(void) {
  size_t n = trace_callsites_format(NULL, 0);
  char *text = malloc(n + 1);
  assert_int_equal(trace_callsites_format(text, n + 1), n);
  assert_int_equal(strlen(text), n);
  return text;
}

static void lists_every_callsite_sorted(void **state) {
  (void)state;
  trace_env_filter *f = NULL;
  assert_int_equal(trace_env_filter_parse("inv=warn,[query]=trace", &f, NULL), 0);
  trace_registry *reg = trace_registry_new();
  static const trace_layer_vtable quiet = {.struct_size = sizeof(trace_layer_vtable)};
  trace_registry_add_layer(reg, trace_layer_new(&quiet, NULL, 0, 0), trace_env_filter_as_filter(f));
  trace_dispatch *d = trace_registry_dispatch(reg);
  trace_default_guard g = trace_set_default(d);
  called();
  char *text = format_all();
  char want[512];
  /* The span matches a dynamic directive (always); WARN passes inv=warn (always); INFO could
   * only pass inside a matching span (sometimes). */
  snprintf(want, sizeof want,
           "%s:%u span DEBUG inv::db query always\n"
           "%s:%u event WARN inv::db event %s:%u always\n"
           "%s:%u event INFO inv::db event %s:%u sometimes\n",
           __FILE__, never_line, __FILE__, never_line + 1, __FILE__, never_line + 1, __FILE__,
           never_line + 2, __FILE__, never_line + 2);
  assert_text_contains(text, want);
  assert_text_contains(text, " span DEBUG inv\\nERROR forged bad\\u{1b}[2Jname ");
  assert_null(strstr(text, "\nERROR forged"));
  snprintf(want, sizeof want, "%s:%u event ERROR inv event %s:%u always\n", __FILE__, called_line,
           __FILE__, called_line);
  assert_text_contains(text, want);
  /* Sorted by file, then line. */
  const char *prev_file = NULL;
  size_t prev_len = 0;
  unsigned long prev_line = 0;
  for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
    const char *colon = strchr(l, ':');
    while (colon && !(colon[1] >= '0' && colon[1] <= '9'))
      colon = strchr(colon + 1, ':');
    assert_non_null(colon);
    size_t len = (size_t)(colon - l);
    unsigned long line = strtoul(colon + 1, NULL, 10);
    if (prev_file) {
      int c = memcmp(prev_file, l, prev_len < len ? prev_len : len);
      if (c == 0)
        c = (prev_len > len) - (prev_len < len);
      assert_true(c < 0 || (c == 0 && prev_line <= line));
    }
    prev_file = l;
    prev_len = len;
    prev_line = line;
  }
  free(text);
  /* A reload changes the interest shown. */
  assert_int_equal(trace_env_filter_reload(f, "inv=info", NULL), 0);
  text = format_all();
  snprintf(want, sizeof want, "%s:%u event INFO inv::db event %s:%u always\n", __FILE__,
           never_line + 2, __FILE__, never_line + 2);
  assert_text_contains(text, want);
  snprintf(want, sizeof want, "%s:%u span DEBUG inv::db query never\n", __FILE__, never_line);
  assert_text_contains(text, want);
  free(text);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  trace_env_filter_release(f);
}

static void output_is_snprintf_like(void **state) {
  (void)state;
  size_t n = trace_callsites_format(NULL, 0);
  assert_true(n > 0);
  char small[16];
  memset(small, 'x', sizeof small);
  assert_int_equal(trace_callsites_format(small, sizeof small), n);
  assert_int_equal(strlen(small), sizeof small - 1);
  errno = 42;
  char one[1] = {'x'};
  assert_int_equal(trace_callsites_format(one, 1), n);
  assert_int_equal(one[0], '\0');
  assert_int_equal(errno, 42);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lists_every_callsite_sorted),
      cmocka_unit_test(output_is_snprintf_like),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
