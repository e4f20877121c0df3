/* Trace context (<trace/context.h>): traceparent and tracestate against W3C Trace Context level
 * 1 (the 82 cases of the W3C test suite's data, tests/data/w3c-trace-context-tests.json, and the
 * rules one by one), header extraction, and the id generator (src/common/ids.c). The registry's
 * part (ids of spans, sampling, TRACE_SPAN_FROM) is in test_span_context.c. */
#include <jansson.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ids.h"
#include "helpers.h"
#include "trace/context.h"

#ifndef TRACE_TEST_DATA_DIR
#error "TRACE_TEST_DATA_DIR must name tests/data"
#endif

static const char valid_tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static void parse_ok(const char *text, const char *trace_hex, const char *span_hex, int flags) {
  trace_context c;
  const char *why = "unset";
  int rc = trace_traceparent_parse(text, strlen(text), &c, &why);
  if (rc != 0)
    print_error("%s: %s\n", text, why);
  assert_int_equal(rc, 0);
  assert_null(why);
  char t[TRACE_TRACE_ID_HEX_SIZE], s[TRACE_SPAN_ID_HEX_SIZE];
  trace_trace_id_hex(c.trace_id, t);
  trace_span_id_hex(c.span_id, s);
  assert_string_equal(t, trace_hex);
  assert_string_equal(s, span_hex);
  assert_int_equal(c.flags, flags);
  assert_int_equal(c.tracestate_len, 0);
}

static void parse_bad(const char *text, const char *reason_part) {
  trace_context c;
  memset(&c, 0xab, sizeof c);
  const char *why = NULL;
  int rc = trace_traceparent_parse(text, strlen(text), &c, &why);
  if (rc != TRACE_EPARSE)
    print_error("accepted: '%s'\n", text);
  assert_int_equal(rc, TRACE_EPARSE);
  assert_non_null(why);
  if (!strstr(why, reason_part))
    print_error("'%s': reason '%s' lacks '%s'\n", text, why, reason_part);
  assert_non_null(strstr(why, reason_part));
  assert_false(trace_context_is_valid(&c)); /* zeroed on failure */
  assert_int_equal(c.flags, 0);
  assert_int_equal(c.tracestate_len, 0);
}

static void traceparent_rules(void **state) {
  (void)state;
  parse_ok(valid_tp, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1);
  parse_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
           "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 0);
  /* Version 00 keeps every flag bit it received; a later version only "sampled". */
  parse_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
           "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 9);
  parse_ok("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-extra",
           "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1);
  parse_ok(" \t" "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 \t",
           "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1);
  parse_bad("", "empty");
  parse_bad("   ", "empty");
  parse_bad("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "trace id");
  parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", "parent id");
  /* Found by the fuzzer: a non-hex digit was shifted as -1 (undefined; UBSan build). */
  parse_bad("00-4bf92f31~7b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "trace id");
  parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", "flags");
  parse_bad("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version");
  parse_bad("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "ff");
  parse_bad("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "all zeros");
  parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "all zeros");
  parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "exactly 55");
  parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "shorter");
  parse_bad("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "dash");
  parse_bad("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", "dashes");
  parse_bad("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x", "later version");
  /* Never reads past len: the text goes on, but len says 54. */
  trace_context c;
  assert_int_equal(trace_traceparent_parse(valid_tp, 54, &c, NULL), TRACE_EPARSE);
  /* A NUL inside the length is just a bad character. */
  char withnul[sizeof valid_tp];
  memcpy(withnul, valid_tp, sizeof valid_tp);
  withnul[10] = '\0';
  assert_int_equal(trace_traceparent_parse(withnul, 55, &c, NULL), TRACE_EPARSE);
  assert_int_equal(trace_traceparent_parse(NULL, 3, &c, NULL), TRACE_EINVAL);
  assert_int_equal(trace_traceparent_parse(valid_tp, 55, NULL, NULL), TRACE_EINVAL);
  assert_int_equal(trace_traceparent_parse(NULL, 0, &c, NULL), TRACE_EPARSE);
}

static void traceparent_format(void **state) {
  (void)state;
  trace_context c;
  assert_int_equal(trace_traceparent_parse(valid_tp, strlen(valid_tp), &c, NULL), 0);
  char buf[TRACE_TRACEPARENT_SIZE];
  assert_int_equal(trace_traceparent_format(&c, buf, sizeof buf), 55);
  assert_string_equal(buf, valid_tp);
  /* snprintf-style: cut, terminated, full length returned. */
  char small[10];
  assert_int_equal(trace_traceparent_format(&c, small, sizeof small), 55);
  assert_string_equal(small, "00-4bf92f");
  assert_int_equal(trace_traceparent_format(&c, NULL, 0), 55);
  /* A later version is written back as version 00 with its parsed fields. */
  const char *v1 = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
  assert_int_equal(trace_traceparent_parse(v1, strlen(v1), &c, NULL), 0);
  trace_traceparent_format(&c, buf, sizeof buf);
  assert_string_equal(buf, valid_tp);
  memset(&c, 0, sizeof c);
  strcpy(buf, "x");
  assert_int_equal(trace_traceparent_format(&c, buf, sizeof buf), 0);
  assert_string_equal(buf, "");
  assert_int_equal(trace_traceparent_format(NULL, buf, sizeof buf), 0);
}

static int tracestate(const char *text, trace_context *c, const char **why) {
  return trace_tracestate_parse(text, strlen(text), c, why);
}

static void tracestate_rules(void **state) {
  (void)state;
  trace_context c;
  memset(&c, 0, sizeof c);
  const char *why;
  /* Normal form: optional whitespace and empty members gone, order kept. */
  assert_int_equal(tracestate(" rojo=00f067aa0ba902b7 ,, \t congo=t61rcWkgMzE ,", &c, &why), 0);
  assert_null(why);
  assert_string_equal(c.tracestate, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  assert_int_equal(c.tracestate_len, strlen(c.tracestate));
  /* Leading spaces of a value are part of it. */
  assert_int_equal(tracestate("a=  x y", &c, &why), 0);
  assert_string_equal(c.tracestate, "a=  x y");
  assert_int_equal(tracestate("tenant1@sys=v,0tenant@s_-*/=w", &c, &why), 0);
  assert_int_equal(tracestate("", &c, &why), 0);
  assert_int_equal(c.tracestate_len, 0);
  static const struct {
    const char *text, *reason;
  } bad[] = {
      {"foo", "no ="},           {"=1", "empty key"},          {"foo=", "empty value"},
      {"Foo=1", "lowercase"},     {"1foo=1", "lowercase letter"}, {"fo o=1", "character"},
      {"foo=a,b=c,foo=d", "twice"}, {"foo=a=b", "printable"},   {"foo=a\tb", "printable"},
      {"foo=\x7f", "printable"},  {"@s=1", "empty tenant"},      {"t@=1", "empty"},
      {"t@1s=1", "system does not start"}, {"_t@s=1", "tenant does not start"},
      {"t@s@u=1", "more than one @"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(tracestate("keep=1", &c, &why), 0);
    int rc = tracestate(bad[i].text, &c, &why);
    if (rc != TRACE_EPARSE || !why || !strstr(why, bad[i].reason))
      print_error("'%s': rc %d, reason '%s'\n", bad[i].text, rc, why ? why : "(none)");
    assert_int_equal(rc, TRACE_EPARSE);
    assert_non_null(strstr(why, bad[i].reason));
    assert_int_equal(c.tracestate_len, 0); /* dropped whole, never half kept */
    assert_string_equal(c.tracestate, "");
  }
  /* The ids and flags are none of its business. */
  assert_int_equal(trace_traceparent_parse(valid_tp, strlen(valid_tp), &c, NULL), 0);
  assert_int_equal(tracestate("a=1", &c, NULL), 0);
  assert_true(trace_context_is_valid(&c));
  assert_int_equal(tracestate("A=1", &c, NULL), TRACE_EPARSE);
  assert_true(trace_context_is_valid(&c));
  assert_int_equal(c.flags, 1);
}

/* Key and value length limits, exactly at and one past them. */
static void tracestate_limits(void **state) {
  (void)state;
  trace_context c;
  char text[1200];
  const char *why;
  memset(text, 'k', 256);
  strcpy(text + 256, "=v");
  assert_int_equal(tracestate(text, &c, &why), 0);
  memset(text, 'k', 257);
  strcpy(text + 257, "=v");
  assert_int_equal(tracestate(text, &c, &why), TRACE_EPARSE);
  memset(text, 't', 241);
  text[241] = '@';
  memset(text + 242, 's', 14);
  strcpy(text + 256, "=v");
  assert_int_equal(tracestate(text, &c, &why), 0);
  memset(text, 't', 242);
  text[242] = '@';
  strcpy(text + 243, "s=v");
  assert_int_equal(tracestate(text, &c, &why), TRACE_EPARSE);
  strcpy(text, "t@");
  memset(text + 2, 's', 15);
  strcpy(text + 17, "=v");
  assert_int_equal(tracestate(text, &c, &why), TRACE_EPARSE);
  strcpy(text, "k=");
  memset(text + 2, 'v', 256);
  text[258] = '\0';
  assert_int_equal(tracestate(text, &c, &why), 0);
  strcpy(text, "k=");
  memset(text + 2, 'v', 257);
  text[259] = '\0';
  assert_int_equal(tracestate(text, &c, &why), TRACE_EPARSE);
}

/* Over 32 members or 512 bytes: whole members go, those over 128 bytes first, then the rightmost. */
static void tracestate_truncation(void **state) {
  (void)state;
  trace_context c;
  char text[4096], expect[4096];
  size_t n = 0, e = 0;
  for (int i = 1; i <= 40; i++) {
    n += (size_t)sprintf(text + n, "%sk%02d=%d", i > 1 ? "," : "", i, i);
    if (i <= 32)
      e += (size_t)sprintf(expect + e, "%sk%02d=%d", i > 1 ? "," : "", i, i);
  }
  assert_int_equal(tracestate(text, &c, NULL), 0);
  assert_string_equal(c.tracestate, expect);
  /* A long member in the middle is dropped before shorter ones at the end. */
  char longv[200];
  memset(longv, 'L', 150);
  longv[150] = '\0';
  n = (size_t)sprintf(text, "a=%s,b=%s,big=%s", longv, longv, longv);
  n += (size_t)sprintf(text + n, ",c=%s", longv); /* total 4 x ~152 > 512 */
  assert_int_equal(tracestate(text, &c, NULL), 0);
  assert_true(c.tracestate_len <= TRACE_TRACESTATE_MAX);
  /* All four are over 128: the rightmost ones go until it fits, the first three stay. */
  assert_int_equal(strncmp(c.tracestate, "a=", 2), 0);
  assert_null(strstr(c.tracestate, "c=L"));
  memset(longv, 'L', 100);
  longv[100] = '\0';
  sprintf(text, "a=%s,b=%s,big=%s%s,c=%s,d=%s", longv, longv, longv, longv, longv, longv);
  assert_int_equal(tracestate(text, &c, NULL), 0);
  /* big (over 128) went first; then the rest fit in 512. */
  assert_null(strstr(c.tracestate, "big="));
  assert_non_null(strstr(c.tracestate, ",d="));
  assert_true(c.tracestate_len <= TRACE_TRACESTATE_MAX);
  /* Far too many members: refused, with a reason. */
  n = 0;
  for (int i = 0; i < 130; i++)
    n += (size_t)sprintf(text + n, "%sk%d=1", i ? "," : "", i);
  const char *why;
  assert_int_equal(tracestate(text, &c, &why), TRACE_EPARSE);
  assert_non_null(strstr(why, "128"));
}

/* The W3C test suite's data: each case is a header list and whether the traceparent and the
 * tracestate it carries are valid. */
static void w3c_suite(void **state) {
  (void)state;
  json_error_t jerr;
  json_t *cases = json_load_file(TRACE_TEST_DATA_DIR "/w3c-trace-context-tests.json", 0, &jerr);
  if (!cases)
    print_error("%s:%d: %s\n", jerr.source, jerr.line, jerr.text);
  assert_non_null(cases);
  assert_int_equal(json_array_size(cases), 82);
  size_t i;
  json_t *tc;
  json_array_foreach(cases, i, tc) {
    json_t *hs = json_object_get(tc, "headers");
    trace_header headers[16];
    size_t n = json_array_size(hs);
    assert_true(n <= 16);
    for (size_t k = 0; k < n; k++) {
      headers[k].name = json_string_value(json_array_get(json_array_get(hs, k), 0));
      headers[k].value = json_string_value(json_array_get(json_array_get(hs, k), 1));
    }
    bool parent_valid = json_is_true(json_object_get(tc, "is_traceparent_valid"));
    json_t *state_valid = json_object_get(tc, "is_tracestate_valid");
    trace_context c;
    const char *why = NULL;
    int rc = trace_context_extract(headers, n, &c, &why);
    if ((rc == 0) != parent_valid)
      print_error("case %zu: traceparent %s, expected %s (%s)\n", i, rc == 0 ? "valid" : "invalid",
                  parent_valid ? "valid" : "invalid", why ? why : "");
    assert_int_equal(rc == 0, parent_valid);
    if (!parent_valid) {
      assert_non_null(why);
      assert_false(trace_context_is_valid(&c));
      continue;
    }
    /* Every valid case of the suite has this trace id and parent id. */
    char t[TRACE_TRACE_ID_HEX_SIZE], s[TRACE_SPAN_ID_HEX_SIZE];
    trace_trace_id_hex(c.trace_id, t);
    trace_span_id_hex(c.span_id, s);
    assert_string_equal(t, "12345678901234567890123456789012");
    assert_string_equal(s, "1234567890123456");
    if (state_valid) {
      bool ok = json_is_true(state_valid);
      if ((why == NULL) != ok)
        print_error("case %zu: tracestate %s, expected %s (%s)\n", i, why ? "invalid" : "valid",
                    ok ? "valid" : "invalid", why ? why : "");
      assert_int_equal(why == NULL, ok);
      if (ok) {
        assert_true(c.tracestate_len > 0);
        assert_true(c.tracestate_len <= TRACE_TRACESTATE_MAX);
      } else {
        assert_int_equal(c.tracestate_len, 0);
      }
    }
  }
  json_decref(cases);
}

static void extract_details(void **state) {
  (void)state;
  trace_context c;
  const char *why;
  trace_header h[] = {{"TraceParent", valid_tp},
                      {"tracestate", "rojo=1, congo=2"},
                      {"x-other", "y"},
                      {NULL, "ignored"},
                      {"TRACESTATE", " "},
                      {"tracestate", "vendor=3"}};
  assert_int_equal(trace_context_extract(h, 6, &c, &why), 0);
  assert_null(why);
  assert_string_equal(c.tracestate, "rojo=1,congo=2,vendor=3");
  trace_header dup[] = {{"tracestate", "a=1"}, {"tracestate", "a=2"}, {"traceparent", valid_tp}};
  assert_int_equal(trace_context_extract(dup, 3, &c, &why), 0);
  assert_non_null(why);
  assert_non_null(strstr(why, "twice"));
  assert_int_equal(c.tracestate_len, 0);
  assert_true(trace_context_is_valid(&c));
  assert_int_equal(trace_context_extract(h + 2, 1, &c, &why), TRACE_EPARSE);
  assert_string_equal(why, "no traceparent header");
  trace_header two[] = {{"traceparent", valid_tp}, {"traceparent", valid_tp}};
  assert_int_equal(trace_context_extract(two, 2, &c, &why), TRACE_EPARSE);
  assert_string_equal(why, "more than one traceparent header");
  assert_int_equal(trace_context_extract(NULL, 1, &c, &why), TRACE_EINVAL);
  assert_int_equal(trace_context_extract(NULL, 0, &c, &why), TRACE_EPARSE);
}

/* ---------------------------------------------------------------------------------------- */
/* Ids. */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void *draw(void *arg) {
  uint64_t *out = arg;
  for (int i = 0; i < 50000; i++)
    out[i] = trace__id_next();
  return NULL;
}

static void ids_unique_nonzero(void **state) {
  (void)state;
  enum { PER = 50000, THREADS = 4 };
  uint64_t *all = malloc(sizeof(uint64_t) * PER * THREADS);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, draw, all + i * PER);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  qsort(all, PER * THREADS, sizeof *all, cmp_u64);
  assert_true(all[0] != 0);
  for (size_t i = 1; i < PER * THREADS; i++)
    assert_true(all[i] != all[i - 1]);
  free(all);
  uint8_t tid[16], sid[8], sid2[8];
  trace__id_root(tid, sid);
  trace__id_span(sid2);
  uint64_t hi = trace__id_load64(tid), lo = trace__id_load64(tid + 8);
  assert_true(hi != 0 && lo != 0 && trace__id_load64(sid) != 0 && trace__id_load64(sid2) != 0);
  assert_true(hi != lo && trace__id_load64(sid) != trace__id_load64(sid2));
  uint8_t b[8];
  trace__id_store64(b, 0x0102030405060708ull);
  assert_int_equal(b[0], 1);
  assert_int_equal(b[7], 8);
}

/* The child of a fork draws ids the parent does not: its generator is reseeded. */
static void ids_fork(void **state) {
  (void)state;
  (void)trace__id_next(); /* seeded in the parent */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    uint64_t v[64];
    for (int i = 0; i < 64; i++)
      v[i] = trace__id_next();
    ssize_t w = write(fds[1], v, sizeof v);
    _exit(w == (ssize_t)sizeof v ? 0 : 1);
  }
  uint64_t mine[64], theirs[64];
  for (int i = 0; i < 64; i++)
    mine[i] = trace__id_next();
  size_t got = 0;
  while (got < sizeof theirs) {
    ssize_t r = read(fds[0], (char *)theirs + got, sizeof theirs - got);
    assert_true(r > 0);
    got += (size_t)r;
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(fds[0]);
  close(fds[1]);
  for (int i = 0; i < 64; i++)
    for (int k = 0; k < 64; k++)
      assert_true(mine[i] != theirs[k]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(traceparent_rules),   cmocka_unit_test(traceparent_format),
      cmocka_unit_test(tracestate_rules),    cmocka_unit_test(tracestate_limits),
      cmocka_unit_test(tracestate_truncation), cmocka_unit_test(w3c_suite),
      cmocka_unit_test(extract_details),     cmocka_unit_test(ids_unique_nonzero),
      cmocka_unit_test(ids_fork),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
