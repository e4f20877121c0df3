/* The rolling file writer: names, periods in UTC and local time, size rolls, pruning, restart,
 * modes, whole lines across rolls under concurrency, and its faults (the next file cannot be
 * opened, the directory removed, a full disk, permission denied, the file replaced). A clock the
 * test sets (trace__rolling_clock) crosses period boundaries without waiting for them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "writer/internal.h"

static int64_t fake_now;
static int64_t fake_clock(void) { return __atomic_load_n(&fake_now, __ATOMIC_RELAXED); }
static void set_now(int64_t t) { __atomic_store_n(&fake_now, t, __ATOMIC_RELAXED); }
#define T_2026_12_05_235959 1796515199 /* 2026-12-05T23:59:59Z */

static char dir[64];

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/trace-roll-XXXXXX");
  assert_non_null(mkdtemp(dir));
  trace__rolling_clock = fake_clock;
  set_now(T_2026_12_05_235959);
  return 0;
}

static void rm_rf(const char *path) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", path, path);
  assert_int_equal(system(cmd), 0);
}

static int teardown(void **state) {
  (void)state;
  rm_rf(dir);
  return 0;
}

static char *slurp(const char *name) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char *buf = calloc(1, 1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void assert_file(const char *name, const char *content) {
  char *got = slurp(name);
  if (!got) {
    print_error("no file %s in %s\n", name, dir);
    fail();
  }
  assert_text_equal(got, content);
  free(got);
}

/* The sorted names in dir, joined by spaces. */
static void listing(char *out, size_t cap) {
  struct dirent **list;
  int n = scandir(dir, &list, NULL, alphasort);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (list[i]->d_name[0] != '.') {
      strncat(out, list[i]->d_name, cap - strlen(out) - 2);
      strncat(out, " ", cap - strlen(out) - 1);
    }
    free(list[i]);
  }
  free(list);
}

/* The options most tests start from: files <prefix>.<date>.log in directory. */
static trace_rolling_options options_in(const char *directory, const char *prefix) {
  trace_rolling_options o;
  trace_rolling_options_init(&o);
  o.directory = directory;
  o.prefix = prefix;
  o.suffix = "log";
  return o;
}

static trace_writer *make(int rotation, uint64_t max_size, unsigned max_files) {
  trace_rolling_options o = options_in(dir, "app");
  o.rotation = rotation;
  o.max_size = max_size;
  o.max_files = max_files;
  trace_writer *w = NULL;
  assert_int_equal(trace_writer_rolling(&o, &w), 0);
  return w;
}

static void daily_in_utc(void **state) {
  (void)state;
  trace_writer *w = make(TRACE_ROLL_DAILY, 0, 0);
  trace_writer_write(w, "late\n", 5);
  set_now(T_2026_12_05_235959 + 1);
  trace_writer_write(w, "next day\n", 9);
  trace_writer_free(w);
  char names[512];
  listing(names, sizeof names);
  assert_string_equal(names, "app.2026-12-05.log app.2026-12-06.log ");
  assert_file("app.2026-12-05.log", "late\n");
  assert_file("app.2026-12-06.log", "next day\n");
}

static void names_per_rotation(void **state) {
  (void)state;
  static const struct {
    int rotation;
    const char *prefix, *suffix, *name;
  } cases[] = {
      {TRACE_ROLL_MINUTELY, "app", "log", "app.2026-12-05-23-59.log"},
      {TRACE_ROLL_HOURLY, "app", "log", "app.2026-12-05-23.log"},
      {TRACE_ROLL_DAILY, "app", "", "app.2026-12-05"},
      {TRACE_ROLL_DAILY, "", "log", "2026-12-05.log"},
      {TRACE_ROLL_NEVER, "app", "log", "app.log"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    trace_rolling_options o;
    trace_rolling_options_init(&o);
    o.directory = dir;
    o.prefix = cases[i].prefix;
    o.suffix = cases[i].suffix;
    o.rotation = cases[i].rotation;
    trace_writer *w;
    assert_int_equal(trace_writer_rolling(&o, &w), 0);
    trace_writer_write(w, "x\n", 2);
    trace_writer_free(w);
    assert_file(cases[i].name, "x\n");
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, cases[i].name);
    unlink(path);
  }
  /* Minutely: the next minute is a new file. */
  trace_writer *w = make(TRACE_ROLL_MINUTELY, 0, 0);
  set_now(T_2026_12_05_235959 + 61);
  trace_writer_write(w, "y\n", 2);
  trace_writer_free(w);
  assert_file("app.2026-12-06-00-01.log", "y\n");
}

/* Writes "a" one second before local midnight and "b" at it, two hours east of UTC; false if
 * the writer could not be made (no cmocka assertion: a forked child runs this too). */
static bool across_local_midnight(const char *prefix) {
  setenv("TZ", "XXX-02", 1);
  tzset();
  trace_rolling_options o = options_in(dir, prefix);
  o.local_time = true;
  set_now(T_2026_12_05_235959 - 2 * 3600); /* 21:59:59Z, 23:59:59 local */
  trace_writer *w;
  bool ok = trace_writer_rolling(&o, &w) == 0;
  if (ok) {
    trace_writer_write(w, "a\n", 2);
    set_now(T_2026_12_05_235959 - 2 * 3600 + 1); /* local midnight */
    trace_writer_write(w, "b\n", 2);
    trace_writer_free(w);
  }
  unsetenv("TZ");
  tzset();
  return ok;
}

static void local_time(void **state) {
  (void)state;
  assert_true(across_local_midnight("app"));
  assert_file("app.2026-12-05.log", "a\n");
  assert_file("app.2026-12-06.log", "b\n");
}

/* A child of a process that used local time may not call mktime (common/civil.h: the C
 * library's time zone lock may be held for ever there): it rolls by the offset it inherited,
 * at the same local midnight, under the same names. */
static void local_time_in_forked_child(void **state) {
  (void)state;
  assert_true(across_local_midnight("parent"));
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    _exit(across_local_midnight("child") ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  assert_file("child.2026-12-05.log", "a\n");
  assert_file("child.2026-12-06.log", "b\n");
}

static void by_size_with_pruning_and_restart(void **state) {
  (void)state;
  trace_writer *w = make(TRACE_ROLL_DAILY, 100, 3);
  char line[41];
  memset(line, 's', 39);
  line[39] = '\n';
  for (int i = 0; i < 10; i++) { /* two 40-byte lines per file: five files, three kept */
    line[0] = (char)('0' + i);
    trace_writer_write(w, line, 40);
  }
  trace_writer_free(w);
  char names[512];
  listing(names, sizeof names);
  assert_string_equal(names, "app.2026-12-05.2.log app.2026-12-05.3.log app.2026-12-05.4.log ");
  char *last = slurp("app.2026-12-05.4.log");
  assert_int_equal(strlen(last), 80);
  assert_int_equal(last[0], '8');
  assert_int_equal(last[40], '9');
  free(last);
  /* A restart appends to the newest file of the period, and rolls when it is full. */
  w = make(TRACE_ROLL_DAILY, 100, 3);
  trace_writer_write(w, "after restart\n", 14); /* 80 + 14 bytes: fits in .4 */
  memset(line, 'r', 39);
  trace_writer_write(w, line, 40); /* does not */
  trace_writer_free(w);
  listing(names, sizeof names);
  assert_string_equal(names, "app.2026-12-05.3.log app.2026-12-05.4.log app.2026-12-05.5.log ");
  char *four = slurp("app.2026-12-05.4.log");
  assert_int_equal(strlen(four), 94);
  assert_string_equal(four + 80, "after restart\n");
  free(four);
  assert_file("app.2026-12-05.5.log", "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr\n");
  /* Files not of this name pattern are never touched. */
  char other[256];
  snprintf(other, sizeof other, "%s/app.notes.log", dir);
  close(open(other, O_CREAT | O_WRONLY, 0644));
  w = make(TRACE_ROLL_DAILY, 10, 1);
  trace_writer_write(w, "a line longer than ten bytes goes whole to one file\n", 52);
  trace_writer_free(w);
  listing(names, sizeof names);
  assert_string_equal(names, "app.2026-12-05.6.log app.notes.log ");
}

static void directory_and_mode(void **state) {
  (void)state;
  char sub[128];
  snprintf(sub, sizeof sub, "%s/a/b/c", dir);
  trace_rolling_options o = options_in(sub, "m");
  o.file_mode = 0600;
  mode_t old = umask(022);
  trace_writer *w;
  assert_int_equal(trace_writer_rolling(&o, &w), 0);
  umask(old);
  trace_writer_write(w, "z\n", 2);
  trace_writer_free(w);
  char path[256];
  snprintf(path, sizeof path, "%s/m.2026-12-05.log", sub);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  int fd = open(path, O_RDONLY);
  int fl = fcntl(fd, F_GETFL);
  close(fd);
  (void)fl;
  /* Bad options. */
  trace_writer *bad = (trace_writer *)1;
  assert_int_equal(trace_writer_rolling(NULL, &bad), TRACE_EINVAL);
  assert_null(bad);
  o.directory = NULL;
  assert_int_equal(trace_writer_rolling(&o, &bad), TRACE_EINVAL);
  o.directory = dir;
  o.rotation = 9;
  assert_int_equal(trace_writer_rolling(&o, &bad), TRACE_EINVAL);
  o.rotation = TRACE_ROLL_NEVER;
  o.prefix = o.suffix = "";
  assert_int_equal(trace_writer_rolling(&o, &bad), TRACE_EINVAL);
  o.prefix = "a/b";
  assert_int_equal(trace_writer_rolling(&o, &bad), TRACE_EINVAL);
}

/* Eight threads write while the files roll by size: every line whole, in exactly one file. */
#define THREADS 8
#define LINES 2000
static void *roll_writer(void *arg) {
  trace_writer *w = arg;
  static int next_id;
  int t = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
  char line[64];
  for (int i = 0; i < LINES; i++) {
    int n = snprintf(line, sizeof line, "t=%d i=%d end\n", t, i);
    trace_writer_write(w, line, (size_t)n);
  }
  return NULL;
}

static void no_line_split_across_rolls(void **state) {
  (void)state;
  for (int nb = 0; nb < 2; nb++) {
    trace_writer *w = make(TRACE_ROLL_DAILY, 4096, 0);
    if (nb) {
      trace_nonblocking_options o;
      trace_nonblocking_options_init(&o);
      o.policy = TRACE_NONBLOCKING_BLOCKING;
      o.block_timeout_ms = 60000;
      w = trace_writer_nonblocking(w, &o); /* batches: writev cut at the size limit */
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
      pthread_create(&th[t], NULL, roll_writer, w);
    for (int t = 0; t < THREADS; t++)
      pthread_join(th[t], NULL);
    trace_writer_free(w);
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    size_t lines = 0, files = 0;
    for (int i = 0; i < n; i++) {
      if (list[i]->d_name[0] != '.') {
        char *data = slurp(list[i]->d_name);
        files++;
        assert_true(strlen(data) <= 4096 + 8 * 32); /* over by at most the lines in flight */
        for (char *p = data; *p;) {
          char *eol = strchr(p, '\n');
          assert_non_null(eol);
          int t, k, m = 0;
          assert_int_equal(sscanf(p, "t=%d i=%d end%n", &t, &k, &m), 2);
          assert_int_equal(p + m, eol);
          lines++;
          p = eol + 1;
        }
        free(data);
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        unlink(path);
      }
      free(list[i]);
    }
    free(list);
    assert_int_equal(lines, THREADS * LINES);
    assert_true(files > 10);
  }
}

/* The next file cannot be opened (its name is taken by a directory): the lines go on to the
 * current file, the failure is said once, and the roll happens when it can. */
static void next_file_cannot_be_opened(void **state) {
  (void)state;
  char blocker[256];
  snprintf(blocker, sizeof blocker, "%s/app.2026-12-06.log", dir);
  assert_int_equal(mkdir(blocker, 0755), 0);
  trace_writer *w = make(TRACE_ROLL_DAILY, 0, 0);
  set_now(T_2026_12_05_235959 + 1);
  trace_writer_write(w, "still here\n", 11);
  trace_writer_write(w, "and here\n", 9);
  trace_writer_stats st = trace_writer_get_stats(w);
  assert_int_equal(st.lost, 0);
  assert_int_equal(st.last_error, EISDIR);
  assert_file("app.2026-12-05.log", "still here\nand here\n");
  rmdir(blocker);
  struct timespec wait = {1, 100000000}; /* the retry comes a second later */
  nanosleep(&wait, NULL);
  trace_writer_write(w, "rolled\n", 7);
  trace_writer_free(w);
  assert_file("app.2026-12-06.log", "rolled\n");
}

/* The directory removed under the writer: the next roll makes it again. */
static void directory_removed(void **state) {
  (void)state;
  char sub[128];
  snprintf(sub, sizeof sub, "%s/logs", dir);
  trace_rolling_options o = options_in(sub, "app");
  trace_writer *w;
  assert_int_equal(trace_writer_rolling(&o, &w), 0);
  trace_writer_write(w, "before\n", 7);
  rm_rf(sub);
  trace_writer_write(w, "into the removed file\n", 22); /* no error: the inode lives on */
  set_now(T_2026_12_05_235959 + 1);
  trace_writer_write(w, "after\n", 6);
  trace_writer_free(w);
  char path[256];
  snprintf(path, sizeof path, "%s/app.2026-12-06.log", sub);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char buf[64] = {0};
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  assert_int_equal(got, 6);
  assert_string_equal(buf, "after\n");
}

/* A full disk (the file is /dev/full through a symlink): counted, said once, no crash. */
static void disk_full(void **state) {
  (void)state;
  char link[256];
  snprintf(link, sizeof link, "%s/app.2026-12-05.log", dir);
  assert_int_equal(symlink("/dev/full", link), 0);
  trace_writer *w = make(TRACE_ROLL_DAILY, 0, 0);
  for (int i = 0; i < 5; i++)
    assert_int_equal(trace_writer_write(w, "lost\n", 5), TRACE_EIO);
  trace_writer_stats st = trace_writer_get_stats(w);
  assert_int_equal(st.lost, 5);
  assert_int_equal(st.last_error, ENOSPC);
  set_now(T_2026_12_05_235959 + 1); /* the next day's file is a real one again */
  assert_int_equal(trace_writer_write(w, "written\n", 8), 0);
  trace_writer_free(w);
  assert_file("app.2026-12-06.log", "written\n");
}

/* Permission denied: the writer cannot be made (EIO with errno EACCES). As root, in a child that
 * gives up root first, since root may write anywhere. */
static void permission_denied(void **state) {
  (void)state;
  char locked[128];
  snprintf(locked, sizeof locked, "%s/locked", dir);
  assert_int_equal(mkdir(locked, 0500), 0);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
      _exit(2);
    trace_rolling_options o;
    trace_rolling_options_init(&o);
    o.directory = locked;
    o.prefix = "app";
    trace_writer *w = (trace_writer *)1;
    int rc = trace_writer_rolling(&o, &w);
    _exit(rc == TRACE_EIO && errno == EACCES && w == NULL ? 0 : 3);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* Moved away (logrotate) and reopened on request: same name, a new file. */
static void reopen_after_move(void **state) {
  (void)state;
  trace_writer *w = make(TRACE_ROLL_NEVER, 0, 0);
  trace_writer_write(w, "one\n", 4);
  char from[256], to[256];
  snprintf(from, sizeof from, "%s/app.log", dir);
  snprintf(to, sizeof to, "%s/app.log.old", dir);
  assert_int_equal(rename(from, to), 0);
  trace_writer_request_reopen();
  trace_writer_write(w, "two\n", 4);
  trace_writer_free(w);
  assert_file("app.log.old", "one\n");
  assert_file("app.log", "two\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(daily_in_utc, setup, teardown),
      cmocka_unit_test_setup_teardown(names_per_rotation, setup, teardown),
      cmocka_unit_test_setup_teardown(local_time, setup, teardown),
      cmocka_unit_test_setup_teardown(local_time_in_forked_child, setup, teardown),
      cmocka_unit_test_setup_teardown(by_size_with_pruning_and_restart, setup, teardown),
      cmocka_unit_test_setup_teardown(directory_and_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(no_line_split_across_rolls, setup, teardown),
      cmocka_unit_test_setup_teardown(next_file_cannot_be_opened, setup, teardown),
      cmocka_unit_test_setup_teardown(directory_removed, setup, teardown),
      cmocka_unit_test_setup_teardown(disk_full, setup, teardown),
      cmocka_unit_test_setup_teardown(permission_denied, setup, teardown),
      cmocka_unit_test_setup_teardown(reopen_after_move, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
