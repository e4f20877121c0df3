/* Writers from text (TRACE_WRITER): every kind and option, the errors with their reasons, and
 * trace_init's use of the variable with one warning for a bad value. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "trace/fmt.h"

static char dir[64];

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/trace-spec-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  return 0;
}

static trace_writer *make(const char *spec) {
  trace_writer *w = NULL;
  char err[256];
  int rc = trace_writer_from_spec(spec, &w, err, sizeof err);
  if (rc != 0) {
    print_error("%s: %s (%d)\n", spec, err, rc);
    fail();
  }
  assert_non_null(w);
  return w;
}

static void every_kind(void **state) {
  (void)state;
  char spec[256], path[200];
  trace_writer_free(make("stderr"));
  trace_writer_free(make("STDOUT"));
  snprintf(path, sizeof path, "%s/plain.log", dir);
  snprintf(spec, sizeof spec, "file:%s", path);
  trace_writer *w = make(spec);
  trace_writer_write(w, "plain\n", 6);
  trace_writer_free(w);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 6);
  /* rolling: DIR/PREFIX.SUFFIX, options, non-blocking on top. */
  snprintf(spec, sizeof spec,
           "rolling:%s/logs/app.log,never,max_size=1K,max_files=2,mode=0600,nonblocking", dir);
  w = make(spec);
  assert_false(trace_writer_wants_records(w));
  for (int i = 0; i < 100; i++)
    trace_writer_write(w, "0123456789012345678901234567890123456789\n", 41);
  trace_writer_free(w);
  snprintf(path, sizeof path, "%s/logs/app.4.log", dir);
  assert_int_equal(stat(path, &st), 0); /* rolled by size (24 lines a file) */
  assert_int_equal(st.st_mode & 0777, 0600);
  static const char *const gone[] = {"app.log", "app.1.log", "app.2.log"};
  for (int i = 0; i < 3; i++) { /* the oldest beyond max_files=2 */
    snprintf(path, sizeof path, "%s/logs/%s", dir, gone[i]);
    assert_int_not_equal(stat(path, &st), 0);
  }
  /* syslog and journald (nobody needs to listen for the writer to be made). */
  w = make("syslog");
  assert_true(trace_writer_wants_records(w));
  trace_writer_free(w);
  trace_writer_free(make("syslog:udp:127.0.0.1:5514,rfc3164,facility=local3,app=x"));
  trace_writer_free(make("syslog:tcp:[::1]:5514,facility=daemon"));
  snprintf(spec, sizeof spec, "syslog:unix:%s/log.sock,rfc5424,nonblocking=block,queue=4M", dir);
  w = make(spec);
  assert_true(trace_writer_wants_records(w));
  trace_writer_free(w);
  trace_writer_free(make("journald"));
  snprintf(spec, sizeof spec, "journald:%s/j.sock,prefix=APP,app=me,nonblocking", dir);
  trace_writer_free(make(spec));
}

static void errors_say_why(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    int rc;
    const char *why;
  } cases[] = {
      {"", TRACE_EPARSE, "expected a writer"},
      {"xml", TRACE_EPARSE, "unknown writer 'xml'"},
      {"file:", TRACE_EPARSE, "file: expected file:PATH"},
      {"stderr:x", TRACE_EPARSE, "stderr takes no argument"},
      {"stderr,fast", TRACE_EPARSE, "unknown option 'fast' for stderr"},
      {"rolling:app.log", TRACE_EPARSE, "expected DIR/PREFIX.SUFFIX"},
      {"rolling:/tmp/x/a.log,weekly", TRACE_EPARSE, "unknown option 'weekly'"},
      {"rolling:/tmp/x/a.log,max_size=12Q", TRACE_EPARSE, "max_size=12Q"},
      {"syslog,facility=local9", TRACE_EPARSE, "facility=local9"},
      {"syslog:relative", TRACE_EPARSE, "expected /PATH, unix:/PATH"},
      {"stderr,nonblocking=maybe", TRACE_EPARSE, "expected lossy or block"},
      {"file:/nonexistent-dir/x.log", TRACE_EIO, "cannot open /nonexistent-dir/x.log"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    trace_writer *w = (trace_writer *)1;
    char err[256];
    assert_int_equal(trace_writer_from_spec(cases[i].spec, &w, err, sizeof err), cases[i].rc);
    assert_null(w);
    assert_text_contains(err, cases[i].why);
  }
  trace_writer *w;
  assert_int_equal(trace_writer_from_spec(NULL, &w, NULL, 0), TRACE_EINVAL);
  assert_int_equal(trace_writer_from_spec("stderr", NULL, NULL, 0), TRACE_EINVAL);
}

/* trace_init takes its writer from TRACE_WRITER; a bad value is one warning naming the variable,
 * the reason and stderr, the writer used instead. */
static void trace_init_uses_the_variable(void **state) {
  (void)state;
  char path[200];
  snprintf(path, sizeof path, "%s/init.log", dir);
  char spec[256];
  snprintf(spec, sizeof spec, "file:%s,nonblocking", path);
  setenv("TRACE_WRITER", spec, 1);
  trace_init_options o;
  trace_init_options_init(&o);
  o.fmt.time = TRACE_FMT_TIME_NONE;
  assert_int_equal(trace_init_with(&o), 0);
  TRACE_INFO("to the file");
  trace_shutdown();
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char buf[256] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  assert_int_equal(n, strlen(buf));
  assert_string_equal(buf, " INFO test_writer_spec: to the file\n");

  setenv("TRACE_WRITER", "carrier-pigeon", 1);
  int p[2];
  assert_int_equal(pipe(p), 0);
  int saved = dup(2);
  dup2(p[1], 2);
  close(p[1]);
  trace_writer *w = trace_writer_from_env();
  dup2(saved, 2);
  close(saved);
  char msg[512] = {0};
  assert_true(read(p[0], msg, sizeof msg - 1) > 0);
  close(p[0]);
  assert_string_equal(msg, "trace: ignoring TRACE_WRITER='carrier-pigeon': unknown writer "
                           "'carrier-pigeon': expected stderr, stdout, file:PATH, rolling:PATH, "
                           "syslog[:ADDRESS] or journald[:PATH]; writing to stderr\n");
  assert_non_null(w);
  trace_writer_free(w);
  unsetenv("TRACE_WRITER");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(every_kind, setup, teardown),
      cmocka_unit_test_setup_teardown(errors_say_why, setup, teardown),
      cmocka_unit_test_setup_teardown(trace_init_uses_the_variable, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
