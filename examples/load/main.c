/* The flagship example: the worked example of the blog post "Diagnostics with Tracing"
 * (shared/seeds/000), in C. An HTTP service ("character repetition as a service") runs on one
 * epoll thread, a load generator hammers it from a few threads, their logs interleave, and the
 * spans say which line belongs to which connection and request. An admin endpoint reloads the
 * filter while it all runs:
 *
 *   $ ./load                                  # 10 seconds; LOAD_FOREVER=1 until Ctrl-C
 *   $ curl -X PUT localhost:3001/filter -d 'gen=debug'
 *   $ curl -X PUT localhost:3001/filter -d '[{req.path="/z"}]=trace'
 *
 * This file: options, start-up, and an orderly shutdown (generator first, so that no request is
 * cut off, then the server, then trace_shutdown, which flushes). The log goes to stderr; the
 * program's own lines (the ports first, "load: done" last) to stdout. */
#define TRACE_TARGET "load"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <trace.h>
#include <trace/collector.h>
#include <trace/fmt.h>
#ifdef LOAD_HAVE_OTLP
#include <trace/otlp.h>
#endif

#include "load.h"

typedef struct options {
  unsigned long port, admin_port, duration, threads, pause_ms, max_conns, admin_max_conns;
  unsigned long read_timeout_ms;
  bool duration_given;
  int time;
  unsigned long flight_mib; /* the flight recorder's memory (0: none) */
  const char *otlp; /* --otlp URL */
} options;

static void usage(FILE *out) {
  fputs("usage: load [options]\n"
        "\n"
        "Character repetition as a service (GET /a with Content-Length: 3 answers aaa), a load\n"
        "generator, and an admin endpoint that reloads the filter while they run.\n"
        "\n"
        "  --port N          the service's port on 127.0.0.1 (default 3000; 0: any free port)\n"
        "  --admin-port N    the admin endpoint's port (default 3001; 0: any free port)\n"
        "  --duration S      run S seconds (default 10); 0: until SIGINT or SIGTERM\n"
        "  --threads N       load generator threads (default 3; 0: none)\n"
        "  --pause MS        each generator thread pauses a random 0..MS ms between requests\n"
        "                    (default 100)\n"
        "  --max-conns N     connections the service holds at once (default 256)\n"
        "  --admin-max-conns N  connections the admin endpoint holds at once (default 8)\n"
        "  --read-timeout MS  a connection has MS ms from its acceptance to send its request\n"
        "                    (default 5000); one still idle or incomplete then gets 408 and is closed\n"
        "  --time KIND       timestamps: none (default, like the blog post), uptime, utc, local\n"
        "  --flight MIB      keep the last MIB MiB of spans and events in memory (default 16; 0:\n"
        "                    off), dumped as a Chrome trace by GET /trace?seconds=N on the admin\n"
        "                    port, or by SIGUSR2 to load-trace-<pid>-<n>.json\n"
        "  --otlp URL        also send spans and events to an OpenTelemetry collector at URL\n"
        "                    (e.g. http://localhost:4318), one trace per request from the\n"
        "                    generator into the server (W3C traceparent); the same as setting\n"
        "                    OTEL_EXPORTER_OTLP_ENDPOINT\n"
        "  -h, --help        this text\n"
        "\n"
        "Environment: LOAD_FOREVER=1 runs until Ctrl-C (unless --duration is given);\n"
        "TRACE_FILTER (default here: debug), TRACE_FORMAT (full, compact, pretty, json), NO_COLOR;\n"
        "the OTEL_* variables of the OTLP exporter (OTEL_SERVICE_NAME defaults to load).\n"
        "\n"
        "Output: the log on stderr; the program's own lines (\"load: listening on 127.0.0.1:3000,\n"
        "admin on 127.0.0.1:3001\" first, \"load: done\" last) on stdout.\n"
        "\n"
        "A full port makes room for a new connection by closing one that only waits on its\n"
        "client: answered and waiting for the client to close, else the one that has waited\n"
        "longest for its request (only when every connection is busy with a response is the new\n"
        "one closed): idle clients cannot lock the operator out of the admin endpoint, whose\n"
        "connections are counted apart from the service's.\n"
        "\n"
        "Admin endpoint: GET /filter, PUT /filter (the body is the new filter), GET /callsites,\n"
        "GET /trace?seconds=N (the last N seconds as a Chrome trace: ui.perfetto.dev).\n"
        "  curl -X PUT localhost:3001/filter -d 'gen=debug'\n"
        "  curl -X PUT localhost:3001/filter -d '[{req.path=\"/z\"}]=trace'\n",
        out);
}

static bool parse_number(const char *text, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(text, &end, 10);
  if (errno || end == text || *end || text[0] == '-' || v > max)
    return false;
  *out = v;
  return true;
}

/* Returns 0 to run, 1 for a bad command line, 2 after --help. */
static int parse_options(int argc, char **argv, options *o) {
  static const struct option longs[] = {
      {"port", required_argument, NULL, 'p'},     {"admin-port", required_argument, NULL, 'a'},
      {"duration", required_argument, NULL, 'd'}, {"threads", required_argument, NULL, 't'},
      {"pause", required_argument, NULL, 'P'},    {"max-conns", required_argument, NULL, 'm'},
      {"time", required_argument, NULL, 'T'},     {"help", no_argument, NULL, 'h'},
      {"admin-max-conns", required_argument, NULL, 'M'},
      {"read-timeout", required_argument, NULL, 'R'},
      {"flight", required_argument, NULL, 'F'},
      {"otlp", required_argument, NULL, 'O'},
      {NULL, 0, NULL, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
    bool ok = true;
    switch (opt) {
    case 'p': ok = parse_number(optarg, 65535, &o->port); break;
    case 'a': ok = parse_number(optarg, 65535, &o->admin_port); break;
    case 'd':
      ok = parse_number(optarg, 86400 * 365, &o->duration);
      o->duration_given = true;
      break;
    case 't': ok = parse_number(optarg, 64, &o->threads); break;
    case 'P': ok = parse_number(optarg, 60000, &o->pause_ms); break;
    case 'm': ok = parse_number(optarg, 65536, &o->max_conns) && o->max_conns > 0; break;
    case 'M':
      ok = parse_number(optarg, 65536, &o->admin_max_conns) && o->admin_max_conns > 0;
      break;
    case 'R':
      ok = parse_number(optarg, 3600000, &o->read_timeout_ms) && o->read_timeout_ms > 0;
      break;
    case 'T':
      if (strcmp(optarg, "none") == 0)
        o->time = TRACE_FMT_TIME_NONE;
      else if (strcmp(optarg, "uptime") == 0)
        o->time = TRACE_FMT_TIME_UPTIME;
      else if (strcmp(optarg, "utc") == 0)
        o->time = TRACE_FMT_TIME_UTC;
      else if (strcmp(optarg, "local") == 0)
        o->time = TRACE_FMT_TIME_LOCAL;
      else
        ok = false;
      break;
    case 'F': ok = parse_number(optarg, 4096, &o->flight_mib); break;
    case 'O': o->otlp = optarg; break;
    case 'h': usage(stdout); return 2;
    default: usage(stderr); return 1;
    }
    if (!ok) {
      const struct option *l = longs;
      while (l->val != opt)
        l++;
      fprintf(stderr, "load: bad value '%s' for --%s\n", optarg, l->name);
      usage(stderr);
      return 1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "load: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 1;
  }
  const char *forever = getenv("LOAD_FOREVER");
  if (!o->duration_given && forever && *forever && strcmp(forever, "0") != 0)
    o->duration = 0;
  return 0;
}

static int init_tracing(const options *o) {
  /* With libtrace_otlp linked, trace_init adds the exporter when the endpoint is set. */
  if (o->otlp) {
#ifdef LOAD_HAVE_OTLP
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", o->otlp, 1);
#else
    fprintf(stderr, "load: --otlp: this build has no OTLP exporter (libtrace_otlp needs libcurl)\n");
    return -1;
#endif
  }
  setenv("OTEL_SERVICE_NAME", "load", 0);
  trace_init_options init;
  trace_init_options_init(&init);
  /* debug shows what the blog post's first output shows: connections, requests, 404s and the
   * generator's errors, but not the TRACE events that explain the 500s. */
  const char *env = getenv("TRACE_FILTER");
  init.filter = env && *env ? env : "debug";
  init.fmt.time = o->time;
  /* The flight recorder: a collector layer next to fmt, under the same filter. */
  if (o->flight_mib) {
    trace_collector_options co;
    trace_collector_options_init(&co);
    co.mode = TRACE_COLLECTOR_FLIGHT;
    co.flight_bytes = (size_t)o->flight_mib << 20;
    co.request_path = "load-trace-%p-%n.json";
    trace_collector *c = NULL;
    int crc = trace_collector_new(&co, &c);
    if (crc != 0)
      fprintf(stderr, "load: no flight recorder: %s\n", trace_strerror(crc));
    else
      init.layer = trace_collector_layer(c);
  }
  int rc = trace_init_with(&init);
  if (rc != 0)
    fprintf(stderr, "load: cannot set up tracing: %s\n", trace_strerror(rc));
  return rc;
}

typedef struct server_thread {
  server *srv;
  pthread_t main_thread;
  int result;
} server_thread;

static void *server_main(void *arg) {
  server_thread *st = arg;
  trace_thread_set_name("server");
  st->result = server_run(st->srv);
  /* A loop that failed on its own wakes main, which would otherwise wait out --duration. */
  if (st->result != 0)
    pthread_kill(st->main_thread, SIGUSR1);
  return NULL;
}

/* Waits for the end of the run: the duration (0: none), SIGINT or SIGTERM, or SIGUSR1 from a
 * failed server thread. Returns the signal, or 0 when the time is up. SIGUSR2 asks the flight
 * recorder for a dump and the wait goes on. */
static int wait_for_end(const sigset_t *signals, unsigned long duration) {
  struct timespec end;
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += (time_t)duration;
  for (;;) {
    int sig;
    if (duration == 0) {
      sig = sigwaitinfo(signals, NULL);
    } else {
      struct timespec now, left;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
        return 0;
      left.tv_sec = end.tv_sec - now.tv_sec;
      left.tv_nsec = end.tv_nsec - now.tv_nsec;
      if (left.tv_nsec < 0) {
        left.tv_sec--;
        left.tv_nsec += 1000000000L;
      }
      sig = sigtimedwait(signals, NULL, &left);
    }
    if (sig == SIGUSR2) {
      /* Taken by sigwait, not by a handler: any call is fine here. */
      if (trace_flight_dump_request() == 0)
        printf("load: SIGUSR2: the flight recorder is being dumped to load-trace-%ld-<n>.json\n",
               (long)getpid());
      continue;
    }
    if (sig > 0)
      return sig;
    /* EINTR (a signal outside the set, e.g. a stopped and continued process) or EAGAIN (time
     * up): the loop decides from the clock. */
  }
}

int main(int argc, char **argv) {
  /* The program's own lines go to stdout, each as soon as it is complete; the log alone goes to
   * stderr, so that TRACE_FORMAT=json ./load 2>log.jsonl stays pure JSON. Errors that stop the
   * program before a run go to stderr. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  options o = {3000, 3001, 10, 3, 100, 256, 8, 5000, false, TRACE_FMT_TIME_NONE, 16, NULL};
  int rc = parse_options(argc, argv, &o);
  if (rc)
    return rc == 2 ? 0 : 2;
  if (init_tracing(&o) != 0)
    return 1;

  /* Every thread inherits this mask, so the signals reach main's sigwait alone, never a thread
   * inside a system call. SIGPIPE cannot happen (MSG_NOSIGNAL everywhere); ignoring it keeps a
   * future plain write() from killing the demo. An example program may do this: the library never
   * installs handlers or changes masks behind the application's back. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  server_thread st = {server_new(), pthread_self(), 0};
  char local[64], admin_local[64];
  if (!st.srv) {
    fprintf(stderr, "load: cannot create the event loop: %s\n", strerror(errno));
    trace_shutdown();
    return 1;
  }
  /* The admin endpoint needs few connections; its own limit keeps a flood of the service's
   * port from locking the operator out, and idle clients of its own port are closed to make
   * room (server.h). */
  server_set_read_timeout(st.srv, (unsigned)o.read_timeout_ms);
  int port = server_listen(st.srv, &load_repeat_service, (uint16_t)o.port, o.max_conns, local,
                           sizeof local);
  int admin_port = port < 0 ? port
                            : server_listen(st.srv, &load_admin_service, (uint16_t)o.admin_port,
                                            o.admin_max_conns, admin_local, sizeof admin_local);
  if (port < 0 || admin_port < 0) {
    fprintf(stderr, "load: cannot listen on 127.0.0.1:%lu: %s (try --port 0 --admin-port 0)\n",
            port < 0 ? o.port : o.admin_port, strerror(port < 0 ? -port : -admin_port));
    server_free(st.srv);
    trace_shutdown();
    return 1;
  }
  printf("load: listening on %s, admin on %s\n", local, admin_local);
  printf("load: reload the filter meanwhile: curl -X PUT localhost:%d/filter -d "
         "\"[{req.path=\\\"/z\\\"}]=trace\"\n"
         "load: or see it: curl localhost:%d/filter; the callsites: curl localhost:%d/callsites\n",
         admin_port, admin_port, admin_port);
  if (o.flight_mib)
    printf("load: the last seconds as a Chrome trace (ui.perfetto.dev): curl -o trace.json "
           "'localhost:%d/trace?seconds=5'\n",
           admin_port);
  if (o.duration)
    printf("load: running for %lu s (LOAD_FOREVER=1 or --duration 0: until Ctrl-C)\n",
           o.duration);
  else
    printf("load: running until Ctrl-C\n");

  pthread_t server_tid;
  rc = pthread_create(&server_tid, NULL, server_main, &st);
  if (rc != 0) {
    fprintf(stderr, "load: cannot start the server thread: %s\n", strerror(rc));
    server_free(st.srv);
    trace_shutdown();
    return 1;
  }
  loadgen *gen = NULL;
  if (o.threads > 0) {
    gen = loadgen_start((uint16_t)port, (unsigned)o.threads, (unsigned)o.pause_ms);
    if (!gen)
      TRACE_ERROR(TF_DISPLAY(error, strerror(errno)), "cannot start the load generator");
  }

  int sig = wait_for_end(&signals, o.duration);
  TRACE_INFO(TF_DISPLAY(reason, sig == 0 ? "time is up" : sig == SIGUSR1 ? "server failed"
                                                                          : strsignal(sig)),
             "shutting down");
  loadgen_stop(gen);
  server_stop(st.srv);
  pthread_join(server_tid, NULL);
  server_free(st.srv);
  TRACE_INFO(TF(exit_code, st.result ? 1 : 0), "stopped");
  trace_shutdown();
#ifdef LOAD_HAVE_OTLP
  trace_otlp *x = trace_otlp_installed();
  if (x) {
    trace_otlp_stats os = trace_otlp_get_stats(x);
    printf("load: otlp: exported %llu spans and %llu events; lost %llu spans and %llu events\n",
           (unsigned long long)os.spans_exported, (unsigned long long)os.logs_exported,
           (unsigned long long)(os.spans_dropped + os.spans_failed),
           (unsigned long long)(os.logs_dropped + os.logs_failed));
    trace_otlp_release(x);
  }
#endif
  /* After trace_shutdown, which flushed every line above: the last line of a complete run. */
  printf("load: done\n");
  return st.result ? 1 : 0;
}
