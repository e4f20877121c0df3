/* The OTLP tests' receiver (tests/otlp_receiver.py) driven from C: started on an ephemeral
 * loopback port, polled for what it decoded (one JSON object per request, in OTLP/JSON shape
 * whatever the protocol), stopped. */
#ifndef TRACE_TESTS_OTLP_HELPERS_H
#define TRACE_TESTS_OTLP_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "trace/collector.h"
#include "trace/otlp.h"

#ifndef TRACE_OTLP_RECEIVER
#error "TRACE_OTLP_RECEIVER must name tests/otlp_receiver.py"
#endif

typedef struct receiver {
  pid_t pid;
  int port;
  int stdin_fd;
  char dir[64];
  char out[128];
  char gate[128];
  char url[64]; /* http://127.0.0.1:<port> */
} receiver;

/* Starts the receiver. responses: its --responses script (NULL: always 200); gated: the port
 * refuses connections until receiver_open_gate. Returns false if it could not start. */
static inline bool receiver_start(receiver *r, const char *responses, bool gated) {
  memset(r, 0, sizeof *r);
  strcpy(r->dir, "/tmp/trace-otlp-XXXXXX");
  if (!mkdtemp(r->dir))
    return false;
  snprintf(r->out, sizeof r->out, "%s/requests.jsonl", r->dir);
  snprintf(r->gate, sizeof r->gate, "%s/gate", r->dir);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
    return false;
  const char *argv[10];
  int n = 0;
  argv[n++] = "python3";
  argv[n++] = TRACE_OTLP_RECEIVER;
  argv[n++] = "--out";
  argv[n++] = r->out;
  if (responses) {
    argv[n++] = "--responses";
    argv[n++] = responses;
  }
  if (gated) {
    argv[n++] = "--listen-when";
    argv[n++] = r->gate;
  }
  argv[n] = NULL;
  /* posix_spawn, not fork: the test process's fork handlers (libtrace's) are not involved. */
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  pid_t pid;
  extern char **environ;
  int rc = posix_spawnp(&pid, "python3", &fa, NULL, (char *const *)(uintptr_t)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc != 0)
    return false;
  r->pid = pid;
  r->stdin_fd = in[1];
  char line[64];
  size_t len = 0;
  while (len < sizeof line - 1) {
    ssize_t k = read(out[0], line + len, 1);
    if (k <= 0)
      break;
    if (line[len] == '\n')
      break;
    len++;
  }
  line[len] = '\0';
  close(out[0]);
  if (sscanf(line, "PORT %d", &r->port) != 1)
    return false;
  snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", r->port);
  return true;
}

static inline void receiver_open_gate(receiver *r) {
  int fd = open(r->gate, O_CREAT | O_WRONLY, 0600);
  if (fd >= 0)
    close(fd);
}

static inline void receiver_stop(receiver *r) {
  if (r->pid > 0) {
    close(r->stdin_fd);
    kill(r->pid, SIGTERM);
    int status;
    waitpid(r->pid, &status, 0);
    r->pid = 0;
  }
  unlink(r->out);
  unlink(r->gate);
  rmdir(r->dir);
}

/* Every request decoded so far, as a JSON array (new reference). */
static inline json_t *receiver_requests(const receiver *r) {
  json_t *all = json_array();
  FILE *f = fopen(r->out, "r");
  if (!f)
    return all;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_error_t err;
    json_t *one = json_loads(line, 0, &err);
    if (one)
      json_array_append_new(all, one);
  }
  free(line);
  fclose(f);
  return all;
}

static inline void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls until cond(requests, arg) holds, for at most 60 s (a generous limit on a loaded
 * machine, not a timing assertion); returns the last requests seen. */
static inline json_t *receiver_wait(const receiver *r, bool (*cond)(json_t *reqs, void *arg),
                                    void *arg) {
  for (int i = 0; i < 1200; i++) {
    json_t *reqs = receiver_requests(r);
    if (cond(reqs, arg))
      return reqs;
    json_decref(reqs);
    sleep_ms(50);
  }
  return receiver_requests(r);
}

/* ---------------------------------------------------------------------------------------- */
/* Reading the canonical (OTLP/JSON shaped) bodies. */

/* Calls fn for every item of every request: body.<resources>[].<scopes>[].<items>[]. */
static inline void each_item(json_t *reqs, const char *resources, const char *scopes,
                             const char *items, void (*fn)(json_t *item, json_t *req, void *arg),
                             void *arg) {
  size_t i;
  json_t *req;
  json_array_foreach(reqs, i, req) {
    json_t *rs = json_object_get(json_object_get(req, "body"), resources);
    size_t a, b, c;
    json_t *r1, *s1, *it;
    json_array_foreach(rs, a, r1) {
      json_array_foreach(json_object_get(r1, scopes), b, s1) {
        json_array_foreach(json_object_get(s1, items), c, it) fn(it, req, arg);
      }
    }
  }
}

/* Calls fn for every span of every request to /v1/traces. */
static inline void each_span(json_t *reqs, void (*fn)(json_t *span, json_t *req, void *arg),
                             void *arg) {
  each_item(reqs, "resourceSpans", "scopeSpans", "spans", fn, arg);
}

/* Calls fn for every log record of every request to /v1/logs. */
static inline void each_log(json_t *reqs, void (*fn)(json_t *log, json_t *req, void *arg),
                            void *arg) {
  each_item(reqs, "resourceLogs", "scopeLogs", "logRecords", fn, arg);
}

/* The value object ({"stringValue": ...}) of attribute key in an attributes array, or NULL. */
static inline json_t *attr(json_t *obj, const char *key) {
  size_t i;
  json_t *kv;
  json_array_foreach(json_object_get(obj, "attributes"), i, kv) {
    if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0)
      return json_object_get(kv, "value");
  }
  return NULL;
}

static inline const char *attr_str(json_t *obj, const char *key) {
  return json_string_value(json_object_get(attr(obj, key), "stringValue"));
}

/* An intValue (a decimal string in OTLP/JSON) as a number; -1 when absent. */
static inline long long attr_int(json_t *obj, const char *key) {
  const char *s = json_string_value(json_object_get(attr(obj, key), "intValue"));
  return s ? strtoll(s, NULL, 10) : -1;
}

static inline const char *str_of(json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

typedef struct span_find {
  const char *name;
  json_t *found;
  int count;
} span_find;

static inline void find_span_fn(json_t *span, json_t *req, void *arg) {
  (void)req;
  span_find *f = arg;
  if (strcmp(str_of(span, "name"), f->name) == 0) {
    f->found = span;
    f->count++;
  }
}

/* The (last) span called name among the requests, and how many there are. */
static inline json_t *find_span(json_t *reqs, const char *name, int *count) {
  span_find f = {name, NULL, 0};
  each_span(reqs, find_span_fn, &f);
  if (count)
    *count = f.count;
  return f.found;
}

static inline void count_span_fn(json_t *span, json_t *req, void *arg) {
  (void)span;
  (void)req;
  (*(int *)arg)++;
}
static inline int span_count(json_t *reqs) {
  int n = 0;
  each_span(reqs, count_span_fn, &n);
  return n;
}
static inline int log_count(json_t *reqs) {
  int n = 0;
  each_log(reqs, count_span_fn, &n);
  return n;
}

static inline void collect_fn(json_t *item, json_t *req, void *arg) {
  (void)req;
  json_array_append(arg, item);
}
/* Every log record (or span) of the requests, in order, as a new array. */
static inline json_t *all_logs(json_t *reqs) {
  json_t *a = json_array();
  each_log(reqs, collect_fn, a);
  return a;
}
static inline json_t *all_spans(json_t *reqs) {
  json_t *a = json_array();
  each_span(reqs, collect_fn, a);
  return a;
}

/* Requests to path (/v1/traces or /v1/logs), as a new array. */
static inline json_t *requests_to(json_t *reqs, const char *path) {
  json_t *a = json_array();
  size_t i;
  json_t *req;
  json_array_foreach(reqs, i, req) {
    if (strcmp(json_string_value(json_object_get(req, "path")), path) == 0)
      json_array_append(a, req);
  }
  return a;
}

/* Every request decoded without a schema error (prints the errors otherwise). */
static inline bool all_valid(json_t *reqs) {
  size_t i;
  json_t *req;
  bool ok = true;
  json_array_foreach(reqs, i, req) {
    json_t *errs = json_object_get(req, "errors");
    if (json_array_size(errs)) {
      char *text = json_dumps(errs, 0);
      fprintf(stderr, "receiver: request %zu (%s): %s\n", i, str_of(req, "path"), text);
      free(text);
      ok = false;
    }
  }
  return ok;
}

/* An exporter made with o and fed by a collector installed as the subscriber
 * (trace_otlp_attach): the caller's reference to it, or NULL when a step failed (what was made
 * is released then). */
static inline trace_otlp *otlp_attached(const trace_otlp_options *o) {
  trace_otlp *x = NULL;
  if (trace_otlp_new(o, &x) != 0)
    return NULL;
  trace_collector_options co;
  trace_collector_options_init(&co);
  trace_collector *c = NULL;
  if (trace_otlp_attach(x, &co) != 0 || trace_collector_new(&co, &c) != 0 ||
      trace_collector_install(c) != 0) {
    trace_otlp_release(x);
    return NULL;
  }
  return x;
}

#endif
