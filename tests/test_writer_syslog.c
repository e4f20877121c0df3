/* The syslog writer against a real rsyslogd (Debian's), started by the test with its own
 * configuration: a private unix socket, UDP and TCP on ephemeral loopback ports, everything it
 * receives stored in a file through a template that shows each part of the message. What
 * rsyslogd stored is what is checked. Then the faults: the daemon down (and back), and a daemon
 * too slow to read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "trace/fmt.h"

static char dir[64];
static pid_t rsyslogd = -1;
static int udp_port, tcp_port;

static void path_in(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

static void sleep_ms(int ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

/* The UDP port a process listens on: its socket inodes (/proc/PID/fd) looked up in
 * /proc/net/udp. rsyslog's imudp, unlike imtcp, cannot write its ephemeral port to a file. */
static int udp_port_of(pid_t pid) {
  char fds[64];
  snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
  unsigned long inodes[64];
  int n = 0;
  DIR *d = opendir(fds);
  if (!d)
    return 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 64) {
    char link[320], target[64];
    snprintf(link, sizeof link, "%s/%s", fds, e->d_name);
    ssize_t k = readlink(link, target, sizeof target - 1);
    if (k <= 0)
      continue;
    target[k] = '\0';
    if (sscanf(target, "socket:[%lu]", &inodes[n]) == 1)
      n++;
  }
  closedir(d);
  FILE *f = fopen("/proc/net/udp", "r");
  if (!f)
    return 0;
  char line[512];
  int port = 0;
  while (!port && fgets(line, sizeof line, f)) {
    unsigned addr, p, inode_dummy;
    unsigned long inode;
    (void)inode_dummy;
    if (sscanf(line, " %*d: %x:%x %*x:%*x %*x %*x:%*x %*x:%*x %*x %*u %*u %lu", &addr, &p,
               &inode) != 3)
      continue;
    for (int i = 0; i < n; i++)
      if (inodes[i] == inode)
        port = (int)p;
  }
  fclose(f);
  return port;
}

/* Whether something accepts TCP connections on 127.0.0.1:port. imtcp writes its port file before
 * it listens, so the file alone does not say the daemon is ready (a refused first connection made
 * the TCP test flaky under load). */
static bool tcp_accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static void start_rsyslogd(void) {
  char conf[128], sock[128], portfile[128], out[128], pidfile[128];
  path_in(conf, sizeof conf, "rsyslog.conf");
  path_in(sock, sizeof sock, "log.sock");
  path_in(portfile, sizeof portfile, "tcp.port");
  path_in(out, sizeof out, "out.log");
  path_in(pidfile, sizeof pidfile, "rsyslogd.pid");
  unlink(portfile);
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f,
          "global(workDirectory=\"%s\")\n"
          "module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
          "input(type=\"imuxsock\" Socket=\"%s\" UseSpecialParser=\"off\" ParseHostname=\"on\")\n"
          "module(load=\"imudp\")\n"
          "input(type=\"imudp\" address=\"127.0.0.1\" port=\"0\")\n"
          "module(load=\"imtcp\")\n"
          "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=\"%s\")\n"
          "template(name=\"parts\" type=\"string\" string=\"pri=%%pri%% host=%%hostname%% "
          "app=%%app-name%% procid=%%procid%% msgid=%%msgid%% sd=%%structured-data%% "
          "msg=%%msg%% input=%%inputname%%\\n\")\n"
          "*.* action(type=\"omfile\" file=\"%s\" template=\"parts\")\n",
          dir, sock, portfile, out);
  fclose(f);
  fflush(NULL);
  rsyslogd = fork();
  if (rsyslogd == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    execlp("rsyslogd", "rsyslogd", "-n", "-f", conf, "-i", pidfile, (char *)NULL);
    execl("/usr/sbin/rsyslogd", "rsyslogd", "-n", "-f", conf, "-i", pidfile, (char *)NULL);
    _exit(127);
  }
  assert_true(rsyslogd > 0);
  /* Ready when the socket, the TCP port file and the UDP socket are there (10 s at most). */
  for (int i = 0; i < 1000; i++) {
    struct stat st;
    FILE *pf = fopen(portfile, "r");
    if (pf) {
      if (fscanf(pf, "%d", &tcp_port) != 1)
        tcp_port = 0;
      fclose(pf);
    }
    udp_port = udp_port_of(rsyslogd);
    if (stat(sock, &st) == 0 && tcp_port > 0 && udp_port > 0 && tcp_accepts(tcp_port))
      return;
    int status;
    if (waitpid(rsyslogd, &status, WNOHANG) == rsyslogd) {
      print_error("rsyslogd exited (status %d): is the rsyslog package installed?\n", status);
      fail();
    }
    sleep_ms(10);
  }
  print_error("rsyslogd did not start listening within 10 s\n");
  fail();
}

static void stop_rsyslogd(void) {
  if (rsyslogd > 0) {
    kill(rsyslogd, SIGTERM);
    waitpid(rsyslogd, NULL, 0);
    rsyslogd = -1;
  }
}

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/trace-syslog-XXXXXX");
  assert_non_null(mkdtemp(dir));
  start_rsyslogd();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  stop_rsyslogd();
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
  return 0;
}

/* Waits (at most 10 s) until rsyslogd has stored a line containing needle; returns that line. */
static char *stored_line(const char *needle) {
  char out[128];
  path_in(out, sizeof out, "out.log");
  for (int i = 0; i < 1000; i++) {
    FILE *f = fopen(out, "r");
    if (f) {
      char line[8192];
      while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) {
          fclose(f);
          return strdup(line);
        }
      fclose(f);
    }
    sleep_ms(10);
  }
  print_error("rsyslogd stored no line with '%s'\n", needle);
  fail();
  return NULL;
}

static trace_writer *syslog_writer(const char *address, int format) {
  trace_syslog_options o;
  trace_syslog_options_init(&o);
  o.address = address;
  o.format = format;
  o.facility = 16; /* local0 */
  o.app_name = "myapp";
  o.hostname = "myhost";
  o.timeout_ms = 200;
  trace_writer *w = NULL;
  assert_int_equal(trace_writer_syslog(&o, &w), 0);
  return w;
}

static void log_through(trace_writer *w, const char *tag) {
  trace_fmt_options o;
  trace_fmt_options_init(&o);
  o.writer = w;
  trace_registry *r = trace_registry_new();
  trace_registry_add_layer(r, trace_fmt_layer_new(&o), NULL);
  assert_int_equal(trace_registry_install(r), 0);
  trace_span s = TRACE_INFO_SPAN("request", TF(method, "GET"));
  TRACE_IN_SPAN(&s) {
    TRACE_WARN(TF(answer, 42), TF(user, "fe\"r]ris"), TF(evil, "x\ny"), "hello %s", tag);
  }
  trace_span_close(&s);
  trace_shutdown();
}

static void rfc5424_everywhere(void **state) {
  (void)state;
  char sock[128], addr[160];
  path_in(sock, sizeof sock, "log.sock");
  const char *inputs[3] = {"imuxsock", "imudp", "imtcp"};
  for (int t = 0; t < 3; t++) {
    if (t == 0)
      snprintf(addr, sizeof addr, "unix:%s", sock);
    else
      snprintf(addr, sizeof addr, "%s:127.0.0.1:%d", t == 1 ? "udp" : "tcp",
               t == 1 ? udp_port : tcp_port);
    char tag[32];
    snprintf(tag, sizeof tag, "via-%s", inputs[t]);
    trace_writer *w = syslog_writer(addr, TRACE_SYSLOG_RFC5424);
    log_through(w, tag);
    char needle[64];
    snprintf(needle, sizeof needle, "msg=hello %s", tag);
    char *line = stored_line(needle);
    char expect[512];
    /* local0 (16) * 8 + warning (4) = 132; rsyslogd shows the parsed header parts. */
    snprintf(expect, sizeof expect, "pri=132 host=myhost app=myapp procid=%d msgid=- ",
             (int)getpid());
    assert_text_contains(line, expect);
    assert_text_contains(line, "sd=[trace@32473 target=\"test_writer_syslog\" file=\"");
    assert_text_contains(line, " function=\"log_through\" spans=\"request\" request.method=\"GET\" "
                               "answer=\"42\" user=\"fe\\\"r\\]ris\" evil=\"x\\\\ny\"] ");
    /* the newline escaped as the fmt layer does (\n), then its backslash as RFC 5424 says */
    snprintf(expect, sizeof expect, "input=%s\n", inputs[t]);
    assert_text_contains(line, expect);
    free(line);
  }
}

static void rfc3164_local_and_tcp(void **state) {
  (void)state;
  char sock[128], addr[160];
  path_in(sock, sizeof sock, "log.sock");
  trace_writer *w = syslog_writer(sock, -1); /* a unix socket: RFC 3164 by default */
  log_through(w, "old-style");
  char *line = stored_line("hello old-style");
  assert_text_contains(line, " app=myapp procid=");
  char pid[32];
  snprintf(pid, sizeof pid, "procid=%d ", (int)getpid());
  assert_text_contains(line, pid);
  assert_text_contains(line, "pri=132 ");
  assert_text_contains(line, "msg= request{method=\"GET\"}: test_writer_syslog: hello old-style "
                             "answer=42 user=\"fe\\\"r]ris\" evil=\"x\\ny\" input=imuxsock\n");
  free(line);
  snprintf(addr, sizeof addr, "tcp:127.0.0.1:%d", tcp_port);
  w = syslog_writer(addr, TRACE_SYSLOG_RFC3164);
  log_through(w, "old-over-tcp");
  line = stored_line("hello old-over-tcp");
  assert_text_contains(line, "pri=132 host=myhost app=myapp ");
  assert_text_contains(line, "input=imtcp\n");
  free(line);
}

/* The daemon down: lost lines counted and said once; back up (same socket): written again, the
 * writer having connected again by itself. */
static void daemon_down_and_back(void **state) {
  (void)state;
  char sock[128];
  path_in(sock, sizeof sock, "log.sock");
  trace_writer *w = syslog_writer(sock, TRACE_SYSLOG_RFC5424);
  assert_int_equal(trace_writer_write(w, "first", 5), 0);
  free(stored_line("msg=first"));
  stop_rsyslogd();
  for (int i = 0; i < 3; i++)
    assert_int_equal(trace_writer_write(w, "while down", 10), TRACE_EIO);
  trace_writer_stats st = trace_writer_get_stats(w);
  assert_int_equal(st.lost, 3);
  start_rsyslogd();
  sleep_ms(1100); /* connections are tried again at most once a second */
  assert_int_equal(trace_writer_write(w, "back again", 10), 0);
  free(stored_line("msg=back again"));
  trace_writer_free(w);
  /* TCP to a port nobody listens on any more: refused, counted, never stuck. */
  char addr[64];
  snprintf(addr, sizeof addr, "tcp:127.0.0.1:%d", tcp_port);
  w = syslog_writer(addr, TRACE_SYSLOG_RFC5424);
  stop_rsyslogd();
  assert_int_equal(trace_writer_write(w, "refused", 7), TRACE_EIO);
  assert_int_equal(trace_writer_get_stats(w).last_error, ECONNREFUSED);
  trace_writer_free(w);
}

/* A daemon that does not read (a socket of the test's own, never read): each message waits at
 * most timeout_ms, then is counted as lost. */
static void daemon_too_slow(void **state) {
  (void)state;
  char path[128];
  path_in(path, sizeof path, "stuck.sock");
  int stuck = unix_dgram_bound(path);
  trace_writer *w = syslog_writer(path, TRACE_SYSLOG_RFC3164);
  int failed = 0;
  for (int i = 0; i < 2000 && !failed; i++)
    failed = trace_writer_write(w, "filling", 7) != 0;
  assert_true(failed);
  trace_writer_stats st = trace_writer_get_stats(w);
  assert_int_equal(st.lost, 1);
  assert_int_equal(st.last_error, ETIMEDOUT);
  trace_writer_free(w);
  close(stuck);
}

static void bad_options(void **state) {
  (void)state;
  trace_syslog_options o;
  trace_syslog_options_init(&o);
  trace_writer *w = (trace_writer *)1;
  o.address = "relative/path";
  assert_int_equal(trace_writer_syslog(&o, &w), TRACE_EINVAL);
  assert_null(w);
  o.address = "udp:no-port";
  assert_int_equal(trace_writer_syslog(&o, &w), TRACE_EINVAL);
  o.address = "udp:host.invalid:514";
  assert_int_equal(trace_writer_syslog(&o, &w), TRACE_EIO);
  o.address = NULL;
  o.facility = 24;
  assert_int_equal(trace_writer_syslog(&o, &w), TRACE_EINVAL);
  assert_int_equal(trace_writer_syslog(NULL, &w), TRACE_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(rfc5424_everywhere, setup, teardown),
      cmocka_unit_test_setup_teardown(rfc3164_local_and_tcp, setup, teardown),
      cmocka_unit_test_setup_teardown(daemon_down_and_back, setup, teardown),
      cmocka_unit_test_setup_teardown(daemon_too_slow, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_options, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
