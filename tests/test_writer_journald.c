/* The journald writer against a datagram receiver that parses the native protocol: the fields
 * (with spans, through the fmt layer), the binary form for values with newlines, a large record
 * through a sealed memfd, a socket nobody listens on, a receiver too slow to keep up, and the
 * writer behind the non-blocking one. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "trace/fmt.h"

static char dir[64], sock_path[128];
static int rx = -1;

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/trace-jd-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(sock_path, sizeof sock_path, "%s/journal.sock", dir);
  rx = unix_dgram_bound(sock_path);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  close(rx);
  unlink(sock_path);
  rmdir(dir);
  return 0;
}

/* One received entry: its fields, in order (a name may repeat). */
typedef struct entry {
  int n;
  char *name[256];
  char *value[256];
  size_t len[256];
  bool binary[256]; /* sent in the length-prefixed form */
  bool via_memfd;
  int seals;
} entry;

static void parse(entry *e, const char *p, size_t len) {
  const char *end = p + len;
  while (p < end && e->n < 256) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eq = memchr(p, '=', (size_t)(end - p));
    assert_non_null(nl);
    int i = e->n++;
    if (eq && eq < nl) {
      e->name[i] = strndup(p, (size_t)(eq - p));
      e->value[i] = strndup(eq + 1, (size_t)(nl - eq - 1));
      e->len[i] = (size_t)(nl - eq - 1);
      p = nl + 1;
    } else {
      e->name[i] = strndup(p, (size_t)(nl - p));
      assert_true(end - nl >= 9);
      uint64_t vlen = 0;
      for (int k = 0; k < 8; k++)
        vlen |= (uint64_t)(unsigned char)nl[1 + k] << (8 * k);
      assert_true((uint64_t)(end - nl - 9) >= vlen + 1);
      e->value[i] = malloc(vlen + 1);
      memcpy(e->value[i], nl + 9, vlen);
      e->value[i][vlen] = '\0';
      e->len[i] = vlen;
      e->binary[i] = true;
      assert_int_equal(nl[9 + vlen], '\n');
      p = nl + 10 + vlen;
    }
  }
}

/* Receives one entry (waiting at most 5 s), from a datagram or from a memfd. */
static bool receive(entry *e) {
  memset(e, 0, sizeof *e);
  struct timeval tv = {5, 0};
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  static char buf[1 << 20];
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } ctl;
  struct iovec iov = {buf, sizeof buf};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                     .msg_controllen = sizeof ctl.space};
  ssize_t n = recvmsg(rx, &m, 0);
  if (n < 0)
    return false;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (c && c->cmsg_type == SCM_RIGHTS) {
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    e->via_memfd = true;
    e->seals = fcntl(fd, F_GET_SEALS);
    off_t size = lseek(fd, 0, SEEK_END);
    char *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(map != MAP_FAILED);
    parse(e, map, (size_t)size);
    munmap(map, (size_t)size);
    close(fd);
    return true;
  }
  parse(e, buf, (size_t)n);
  return true;
}

static const char *field(const entry *e, const char *name, int nth) {
  for (int i = 0; i < e->n; i++)
    if (strcmp(e->name[i], name) == 0 && nth-- == 0)
      return e->value[i];
  return NULL;
}

static void entry_free(entry *e) {
  for (int i = 0; i < e->n; i++) {
    free(e->name[i]);
    free(e->value[i]);
  }
}

static void assert_field(const entry *e, const char *name, const char *value) {
  const char *v = field(e, name, 0);
  if (!v) {
    print_error("no field %s\n", name);
    fail();
  }
  assert_string_equal(v, value);
}

static trace_writer *journald(void) {
  trace_journald_options o;
  trace_journald_options_init(&o);
  o.socket_path = sock_path;
  o.timeout_ms = 50;
  trace_writer *w = NULL;
  assert_int_equal(trace_writer_journald(&o, &w), 0);
  assert_true(trace_writer_wants_records(w));
  return w;
}

static void install(trace_writer *w) {
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.writer = w;
  trace_registry *r = trace_registry_new();
  trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL);
  assert_int_equal(trace_registry_install(r), 0);
}

static void fields_and_spans(void **state) {
  (void)state;
  install(journald());
  int line = 0;
  trace_span s = TRACE_INFO_SPAN("request", TF(method, "GET"), TF(req.path, "/z"));
  TRACE_IN_SPAN(&s) {
    line = __LINE__ + 1;
    TRACE_WARN(TF(answer, 42), TF(user, "ferris"), TF(text, "two\nlines"), "hello %s", "world");
  }
  trace_span_close(&s);
  TRACE_ERROR(TF(message, "no format: this field is the message"), TF(_lead.ing, 1));
  trace_shutdown();
  entry e;
  assert_true(receive(&e));
  assert_field(&e, "PRIORITY", "4");
  assert_field(&e, "MESSAGE", "hello world");
  assert_field(&e, "SYSLOG_IDENTIFIER", "test_writer_journald");
  assert_field(&e, "TARGET", "test_writer_journald");
  assert_text_contains(field(&e, "CODE_FILE", 0), "test_writer_journald.c");
  char ln[16];
  snprintf(ln, sizeof ln, "%d", line);
  assert_field(&e, "CODE_LINE", ln);
  assert_field(&e, "CODE_FUNC", "fields_and_spans");
  assert_field(&e, "F_ANSWER", "42");
  assert_field(&e, "F_USER", "ferris");
  assert_field(&e, "F_TEXT", "two\nlines");
  for (int i = 0; i < e.n; i++)
    if (strcmp(e.name[i], "F_TEXT") == 0)
      assert_true(e.binary[i]); /* a newline: the length-prefixed form */
  assert_field(&e, "SPAN_NAME", "request");
  assert_field(&e, "SPAN_TARGET", "test_writer_journald");
  assert_field(&e, "F_METHOD", "GET");
  assert_field(&e, "F_REQ_PATH", "/z");
  assert_false(e.via_memfd);
  entry_free(&e);
  assert_true(receive(&e));
  assert_field(&e, "PRIORITY", "3");
  assert_field(&e, "MESSAGE", "no format: this field is the message");
  assert_null(field(&e, "F_MESSAGE", 0));
  assert_field(&e, "F_LEAD_ING", "1");
  assert_null(field(&e, "SPAN_NAME", 0));
  entry_free(&e);
}

/* A record bigger than a datagram goes through a sealed memfd. */
static void large_record_through_memfd(void **state) {
  (void)state;
  trace_writer *w = journald();
  size_t big = 600 * 1024;
  char *value = malloc(big + 1);
  memset(value, 'v', big);
  value[big] = '\0';
  install(w);
  TRACE_INFO(TF(blob, value), "big");
  trace_shutdown();
  entry e;
  assert_true(receive(&e));
  assert_true(e.via_memfd);
  int want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
  assert_int_equal(e.seals & want, want);
  assert_field(&e, "MESSAGE", "big");
  assert_int_equal(strlen(field(&e, "F_BLOB", 0)), big);
  entry_free(&e);
  free(value);
}

/* A text line written directly becomes an INFO entry with the line as MESSAGE; the non-blocking
 * writer passes records on (encoded by the caller, sent by its thread). */
static void lines_and_nonblocking(void **state) {
  (void)state;
  trace_writer *w = trace_writer_nonblocking(journald(), NULL);
  assert_true(trace_writer_wants_records(w));
  assert_int_equal(trace_writer_write(w, "plain line\n", 11), 0);
  install(w);
  TRACE_INFO(TF(k, "v"), "queued");
  trace_shutdown();
  entry e;
  assert_true(receive(&e));
  assert_field(&e, "MESSAGE", "plain line");
  assert_field(&e, "PRIORITY", "5");
  entry_free(&e);
  assert_true(receive(&e));
  assert_field(&e, "MESSAGE", "queued");
  assert_field(&e, "F_K", "v");
  entry_free(&e);
}

/* Nobody listens: counted and said once, the program goes on. A receiver that does not read:
 * each send waits at most timeout_ms, then the entry is counted as lost. */
static void refused_and_slow(void **state) {
  (void)state;
  trace_journald_options o;
  trace_journald_options_init(&o);
  char nobody[160];
  snprintf(nobody, sizeof nobody, "%s/nobody.sock", dir);
  o.socket_path = nobody;
  trace_writer *w;
  assert_int_equal(trace_writer_journald(&o, &w), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(trace_writer_write(w, "x", 1), TRACE_EIO);
  trace_writer_stats st = trace_writer_get_stats(w);
  assert_int_equal(st.lost, 3);
  assert_int_equal(st.last_error, ENOENT);
  trace_writer_free(w);

  w = journald(); /* rx is never read here: its queue fills up */
  int lost_before_full = -1;
  for (int i = 0; i < 5000; i++)
    if (trace_writer_write(w, "filling", 7) != 0) {
      lost_before_full = i;
      break;
    }
  assert_true(lost_before_full > 0);
  st = trace_writer_get_stats(w);
  assert_int_equal(st.lost, 1);
  assert_int_equal(st.last_error, ETIMEDOUT);
  trace_writer_free(w);
  char buf[256];
  while (recv(rx, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
}

static void bad_options(void **state) {
  (void)state;
  trace_writer *w = (trace_writer *)1;
  assert_int_equal(trace_writer_journald(NULL, &w), TRACE_EINVAL);
  assert_null(w);
  trace_journald_options o;
  trace_journald_options_init(&o);
  o.socket_path = "relative";
  assert_int_equal(trace_writer_journald(&o, &w), TRACE_EINVAL);
  o.socket_path = NULL;
  o.struct_size = 0;
  assert_int_equal(trace_writer_journald(&o, &w), TRACE_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(fields_and_spans, setup, teardown),
      cmocka_unit_test_setup_teardown(large_record_through_memfd, setup, teardown),
      cmocka_unit_test_setup_teardown(lines_and_nonblocking, setup, teardown),
      cmocka_unit_test_setup_teardown(refused_and_slow, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_options, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
