/* Options: defaults, the OTEL_* environment variables (one warning per bad value, naming the
 * variable and the default kept), and their resolution into what the exporter uses (URLs,
 * header lines, the resource). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../common/warn.h"
#include "../text/escape.h"
#include "internal.h"

void trace__otlp_warn(const char *fmt, ...) {
  TRACE__KEEP_ERRNO();
  char raw[768];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof raw)
    n = sizeof raw - 1;
  /* Values quoted in warnings come from the environment: escaped, they cannot forge a line. */
  char line[1024];
  trace__buf b;
  trace__buf_init_fixed(&b, line, sizeof line - 1);
  trace__buf_puts(&b, "trace: otlp: ");
  trace__escape(&b, raw, (size_t)n, TRACE__ESC_TEXT);
  line[b.len] = '\n';
  trace__warn(line, b.len + 1);
}

void trace_otlp_options_init(trace_otlp_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->traces_protocol = o->logs_protocol = TRACE_OTLP_HTTP_PROTOBUF;
  o->traces_timeout_ms = o->logs_timeout_ms = 10000;
  o->export_traces = o->export_logs = true;
  o->sampler = TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_ON;
  o->sampler_arg = 1.0;
  o->schedule_delay_ms = 5000;
  o->export_timeout_ms = 30000;
  o->max_queue_size = 2048;
  o->max_export_batch_size = 512;
  o->track_inactivity = false;
  o->retry_initial_ms = 1000;
  o->retry_max_ms = 30000;
  o->shutdown_timeout_ms = 5000;
  o->max_events_per_span = 128;
  o->max_value_len = 4096;
  o->thread_buffer_size = 256 * 1024;
}

/* ---------------------------------------------------------------------------------------- */
/* The environment. Each reader leaves the field alone on a bad value and says so once. */

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static void bad(const char *var, const char *value, const char *expected, const char *used) {
  trace__otlp_warn("ignoring %s='%.60s%s': expected %s; using %s", var, value,
                   strlen(value) > 60 ? "..." : "", expected, used);
}

static bool read_u32(const char *var, uint32_t *out, uint32_t min, int *bads) {
  const char *v = env(var);
  if (!v)
    return false;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || end == v || *end || v[0] == '-' || n < min || n > UINT32_MAX) {
    char used[24];
    snprintf(used, sizeof used, "%u", (unsigned)*out);
    char expected[64];
    snprintf(expected, sizeof expected, "an integer from %u to %u", (unsigned)min, UINT32_MAX);
    bad(var, v, expected, used);
    (*bads)++;
    return false;
  }
  *out = (uint32_t)n;
  return true;
}

static void read_protocol(const char *var, int *out, int *bads) {
  const char *v = env(var);
  if (!v)
    return;
  if (strcmp(v, "http/protobuf") == 0) {
    *out = TRACE_OTLP_HTTP_PROTOBUF;
  } else if (strcmp(v, "http/json") == 0) {
    *out = TRACE_OTLP_HTTP_JSON;
  } else if (strcmp(v, "grpc") == 0) {
    trace__otlp_warn("%s=grpc is not supported by libtrace (it exports OTLP over HTTP, port "
                     "4318); using %s",
                     var, *out == TRACE_OTLP_HTTP_JSON ? "http/json" : "http/protobuf");
    (*bads)++;
  } else {
    bad(var, v, "http/protobuf, http/json or grpc",
        *out == TRACE_OTLP_HTTP_JSON ? "http/json" : "http/protobuf");
    (*bads)++;
  }
}

static void read_compression(const char *var, int *out, int *bads) {
  const char *v = env(var);
  if (!v)
    return;
  if (strcasecmp(v, "gzip") == 0)
    *out = TRACE_OTLP_COMPRESSION_GZIP;
  else if (strcasecmp(v, "none") == 0)
    *out = TRACE_OTLP_COMPRESSION_NONE;
  else {
    bad(var, v, "gzip or none", *out == TRACE_OTLP_COMPRESSION_GZIP ? "gzip" : "none");
    (*bads)++;
  }
}

/* OTEL_TRACES_EXPORTER / OTEL_LOGS_EXPORTER: "otlp" or "none" (a list is allowed by the
 * specification; we can do only otlp). */
static void read_exporter(const char *var, bool *out, int *bads) {
  const char *v = env(var);
  if (!v)
    return;
  if (strcmp(v, "otlp") == 0)
    *out = true;
  else if (strcmp(v, "none") == 0)
    *out = false;
  else {
    bad(var, v, "otlp or none", *out ? "otlp" : "none");
    (*bads)++;
  }
}

static const char *const sampler_names[] = {
    [TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_ON] = "parentbased_always_on",
    [TRACE_OTLP_SAMPLER_ALWAYS_ON] = "always_on",
    [TRACE_OTLP_SAMPLER_ALWAYS_OFF] = "always_off",
    [TRACE_OTLP_SAMPLER_TRACEIDRATIO] = "traceidratio",
    [TRACE_OTLP_SAMPLER_PARENTBASED_ALWAYS_OFF] = "parentbased_always_off",
    [TRACE_OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO] = "parentbased_traceidratio",
};

static void read_sampler(trace_otlp_options *o, int *bads) {
  const char *v = env("OTEL_TRACES_SAMPLER");
  if (v) {
    bool found = false;
    for (size_t i = 0; i < TRACE__ARRAY_LEN(sampler_names); i++) {
      if (strcmp(v, sampler_names[i]) == 0) {
        o->sampler = (int)i;
        found = true;
      }
    }
    if (!found) {
      int cur = o->sampler >= 0 && (size_t)o->sampler < TRACE__ARRAY_LEN(sampler_names)
                    ? o->sampler
                    : 0;
      bad("OTEL_TRACES_SAMPLER", v,
          "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off "
          "or parentbased_traceidratio",
          sampler_names[cur]);
      (*bads)++;
    }
  }
  const char *arg = env("OTEL_TRACES_SAMPLER_ARG");
  if (arg) {
    char *end;
    errno = 0;
    double r = strtod(arg, &end);
    if (errno || end == arg || *end || !(r >= 0.0 && r <= 1.0)) {
      char used[32];
      snprintf(used, sizeof used, "%g", o->sampler_arg);
      bad("OTEL_TRACES_SAMPLER_ARG", arg, "a number from 0 to 1", used);
      (*bads)++;
    } else {
      o->sampler_arg = r;
    }
  }
}

int trace_otlp_options_from_env(trace_otlp_options *o) {
  if (!o || o->struct_size != sizeof *o)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  int bads = 0;
  const char *v;
  if ((v = env("OTEL_SDK_DISABLED"))) {
    if (strcasecmp(v, "true") == 0)
      o->disabled = true;
    else if (strcasecmp(v, "false") == 0)
      o->disabled = false;
    else {
      bad("OTEL_SDK_DISABLED", v, "true or false", o->disabled ? "true" : "false");
      bads++;
    }
  }
  if ((v = env("OTEL_EXPORTER_OTLP_ENDPOINT")))
    o->endpoint = v;
  if ((v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")))
    o->traces_endpoint = v;
  if ((v = env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")))
    o->logs_endpoint = v;
  if ((v = env("OTEL_EXPORTER_OTLP_HEADERS")))
    o->headers = v;
  if ((v = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")))
    o->traces_headers = v;
  if ((v = env("OTEL_EXPORTER_OTLP_LOGS_HEADERS")))
    o->logs_headers = v;
  /* The common variable first, then each signal's own. */
  int proto = o->traces_protocol;
  read_protocol("OTEL_EXPORTER_OTLP_PROTOCOL", &proto, &bads);
  if (env("OTEL_EXPORTER_OTLP_PROTOCOL"))
    o->traces_protocol = o->logs_protocol = proto;
  read_protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", &o->traces_protocol, &bads);
  read_protocol("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", &o->logs_protocol, &bads);
  uint32_t timeout = o->traces_timeout_ms;
  if (read_u32("OTEL_EXPORTER_OTLP_TIMEOUT", &timeout, 1, &bads))
    o->traces_timeout_ms = o->logs_timeout_ms = timeout;
  read_u32("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", &o->traces_timeout_ms, 1, &bads);
  read_u32("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", &o->logs_timeout_ms, 1, &bads);
  int comp = o->traces_compression;
  read_compression("OTEL_EXPORTER_OTLP_COMPRESSION", &comp, &bads);
  if (env("OTEL_EXPORTER_OTLP_COMPRESSION"))
    o->traces_compression = o->logs_compression = comp;
  read_compression("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", &o->traces_compression, &bads);
  read_compression("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", &o->logs_compression, &bads);
  read_exporter("OTEL_TRACES_EXPORTER", &o->export_traces, &bads);
  read_exporter("OTEL_LOGS_EXPORTER", &o->export_logs, &bads);
  if ((v = env("OTEL_SERVICE_NAME")))
    o->service_name = v;
  if ((v = env("OTEL_RESOURCE_ATTRIBUTES"))) {
    otlp_attr *attrs = NULL;
    size_t n = 0;
    if (trace__otlp_parse_pairs(v, &attrs, &n)) {
      o->resource_attributes = v;
    } else {
      bad("OTEL_RESOURCE_ATTRIBUTES", v, "key=value pairs separated by commas",
          o->resource_attributes ? "the value set in code" : "none");
      bads++;
    }
    for (size_t i = 0; i < n; i++) {
      trace__free(attrs[i].key);
      trace__free(attrs[i].value);
    }
    trace__free(attrs);
  }
  read_sampler(o, &bads);
  read_u32("OTEL_BSP_SCHEDULE_DELAY", &o->schedule_delay_ms, 0, &bads);
  read_u32("OTEL_BSP_EXPORT_TIMEOUT", &o->export_timeout_ms, 1, &bads);
  read_u32("OTEL_BSP_MAX_QUEUE_SIZE", &o->max_queue_size, 1, &bads);
  read_u32("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &o->max_export_batch_size, 1, &bads);
  if (o->max_export_batch_size > o->max_queue_size) {
    trace__otlp_warn("OTEL_BSP_MAX_EXPORT_BATCH_SIZE (%u) is larger than OTEL_BSP_MAX_QUEUE_SIZE "
                     "(%u); using %u",
                     (unsigned)o->max_export_batch_size, (unsigned)o->max_queue_size,
                     (unsigned)o->max_queue_size);
    o->max_export_batch_size = o->max_queue_size;
    bads++;
  }
  return bads;
}

/* ---------------------------------------------------------------------------------------- */
/* Resolution. */

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* s[0, n) trimmed of spaces and tabs, percent-decoded when decode is set; NULL on a bad escape
 * or out of memory. */
static char *decoded(const char *s, size_t n, bool decode) {
  while (n && (*s == ' ' || *s == '\t')) {
    s++;
    n--;
  }
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  char *out = trace__malloc(n + 1);
  if (!out)
    return NULL;
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    if (decode && s[i] == '%') {
      int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        trace__free(out);
        return NULL;
      }
      out[w++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[w++] = s[i];
    }
  }
  out[w] = '\0';
  return out;
}

bool trace__otlp_parse_pairs(const char *text, otlp_attr **out, size_t *count) {
  *out = NULL;
  *count = 0;
  if (!text)
    return true;
  size_t cap = 0;
  const char *p = text;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    bool blank = true;
    for (size_t i = 0; i < len; i++)
      blank &= p[i] == ' ' || p[i] == '\t';
    if (!blank) {
      if (!eq)
        return false;
      char *k = decoded(p, (size_t)(eq - p), false);
      char *v = decoded(eq + 1, len - (size_t)(eq - p) - 1, true);
      if (!k || !v || !*k) {
        trace__free(k);
        trace__free(v);
        return false;
      }
      if (*count == cap && !trace__grow_array(out, &cap, sizeof **out, 8)) {
        trace__free(k);
        trace__free(v);
        return false;
      }
      (*out)[(*count)++] = (otlp_attr){k, v};
    }
    if (!comma)
      return true;
    p = comma + 1;
  }
}

static void free_pairs(otlp_attr *a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    trace__free(a[i].key);
    trace__free(a[i].value);
  }
  trace__free(a);
}

static bool url_ok(const char *u) {
  return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

static char *join_url(const char *base, const char *path) {
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/')
    n--;
  size_t m = strlen(path);
  char *u = trace__malloc(n + m + 1);
  if (u) {
    memcpy(u, base, n);
    memcpy(u + n, path, m + 1);
  }
  return u;
}

/* An HTTP header name is a token (RFC 9110); a value has no control character. */
static bool header_ok(const char *k, const char *v) {
  if (!*k)
    return false;
  for (const char *p = k; *p; p++)
    if (!(*p > 32 && *p < 127 && !strchr("()<>@,;:\\\"/[]?={}", *p)))
      return false;
  for (const char *p = v; *p; p++)
    if ((unsigned char)*p < 32 && *p != '\t')
      return false;
  return true;
}

/* The signal's header lines: common ones, then the signal's own (which replace a common one
 * of the same name). */
static int header_lines(const char *common, const char *own, const char *var, char ***out) {
  otlp_attr *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  if (!trace__otlp_parse_pairs(common, &a, &na) || !trace__otlp_parse_pairs(own, &b, &nb)) {
    trace__otlp_warn("malformed headers in %s: expected key=value pairs separated by commas", var);
    free_pairs(a, na);
    free_pairs(b, nb);
    return TRACE_EINVAL;
  }
  char **lines = trace__calloc(na + nb + 1, sizeof *lines);
  int rc = lines ? 0 : TRACE_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < na + nb && rc == 0; i++) {
    otlp_attr *h = i < na ? &a[i] : &b[i - na];
    bool replaced = false;
    for (size_t j = 0; i < na && j < nb; j++)
      replaced |= strcasecmp(b[j].key, h->key) == 0;
    if (replaced)
      continue;
    if (!header_ok(h->key, h->value)) {
      trace__otlp_warn("the header '%.60s' in %s is not a valid HTTP header", h->key, var);
      rc = TRACE_EINVAL;
      break;
    }
    size_t n = strlen(h->key) + strlen(h->value) + 3;
    lines[k] = trace__malloc(n);
    if (!lines[k]) {
      rc = TRACE_ENOMEM;
      break;
    }
    snprintf(lines[k++], n, "%s: %s", h->key, h->value);
  }
  free_pairs(a, na);
  free_pairs(b, nb);
  if (rc != 0 && lines) {
    for (size_t i = 0; i < k; i++)
      trace__free(lines[i]);
    trace__free(lines);
    lines = NULL;
  }
  *out = lines;
  return rc;
}

static int resolve_signal(otlp_signal *s, bool wanted, const char *own_url, const char *base,
                          const char *path, const char *url_var, const char *common_headers,
                          const char *own_headers, const char *headers_var, int protocol,
                          int compression, uint32_t timeout_ms) {
  memset(s, 0, sizeof *s);
  if (!wanted || (!own_url && !base))
    return 0;
  if (protocol == TRACE_OTLP_GRPC) {
    trace__otlp_warn("the grpc protocol is not supported by libtrace; use http/protobuf or "
                     "http/json (port 4318)");
    return TRACE_ENOTSUP;
  }
  if (protocol != TRACE_OTLP_HTTP_PROTOBUF && protocol != TRACE_OTLP_HTTP_JSON)
    return TRACE_EINVAL;
  if (compression != TRACE_OTLP_COMPRESSION_NONE && compression != TRACE_OTLP_COMPRESSION_GZIP)
    return TRACE_EINVAL;
  const char *u = own_url ? own_url : base;
  if (!url_ok(u)) {
    trace__otlp_warn("%s='%.80s' is not an http:// or https:// URL", own_url ? url_var :
                     "OTEL_EXPORTER_OTLP_ENDPOINT", u);
    return TRACE_EINVAL;
  }
  s->url = own_url ? trace__strdup(own_url) : join_url(base, path);
  if (!s->url)
    return TRACE_ENOMEM;
  s->protocol = protocol;
  s->compression = compression;
  s->timeout_ms = timeout_ms ? timeout_ms : 10000;
  return header_lines(common_headers, own_headers, headers_var, &s->headers);
}

static void free_signal(otlp_signal *s) {
  trace__free(s->url);
  for (char **h = s->headers; h && *h; h++)
    trace__free(*h);
  trace__free(s->headers);
  memset(s, 0, sizeof *s);
}

static int add_attr(otlp_conf *c, const char *k, const char *v) {
  for (size_t i = 0; i < c->nresource; i++) {
    if (strcmp(c->resource[i].key, k) == 0) {
      char *nv = trace__strdup(v);
      if (!nv)
        return TRACE_ENOMEM;
      trace__free(c->resource[i].value);
      c->resource[i].value = nv;
      return 0;
    }
  }
  otlp_attr *a = trace__realloc(c->resource, (c->nresource + 1) * sizeof *a);
  if (!a)
    return TRACE_ENOMEM;
  c->resource = a;
  a[c->nresource].key = trace__strdup(k);
  a[c->nresource].value = trace__strdup(v);
  if (!a[c->nresource].key || !a[c->nresource].value) {
    trace__free(a[c->nresource].key);
    trace__free(a[c->nresource].value);
    return TRACE_ENOMEM;
  }
  c->nresource++;
  return 0;
}

extern char *program_invocation_short_name;

static int resolve_resource(otlp_conf *c, const trace_otlp_options *o) {
  otlp_attr *pairs = NULL;
  size_t n = 0;
  if (!trace__otlp_parse_pairs(o->resource_attributes, &pairs, &n)) {
    trace__otlp_warn("malformed resource attributes: expected key=value pairs");
    return TRACE_EINVAL;
  }
  char unknown[160];
  snprintf(unknown, sizeof unknown, "unknown_service:%s",
           program_invocation_short_name ? program_invocation_short_name : "");
  int rc = add_attr(c, "service.name", unknown);
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = add_attr(c, pairs[i].key, pairs[i].value);
  if (rc == 0 && o->service_name && *o->service_name)
    rc = add_attr(c, "service.name", o->service_name);
  if (rc == 0)
    rc = add_attr(c, "telemetry.sdk.name", "libtrace");
  if (rc == 0)
    rc = add_attr(c, "telemetry.sdk.language", "c");
  if (rc == 0)
    rc = add_attr(c, "telemetry.sdk.version", TRACE_VERSION_STRING);
  free_pairs(pairs, n);
  return rc;
}

int trace__otlp_conf_resolve(otlp_conf *c, const trace_otlp_options *o) {
  memset(c, 0, sizeof *c);
  if (o->disabled)
    return TRACE_ENOTSUP;
  if (o->max_queue_size == 0 || o->max_export_batch_size == 0 || o->thread_buffer_size < 4096 ||
      o->thread_buffer_size > ((size_t)1 << 30) || o->sampler < 0 ||
      o->sampler > TRACE_OTLP_SAMPLER_PARENTBASED_TRACEIDRATIO || !(o->sampler_arg >= 0.0) ||
      !(o->sampler_arg <= 1.0))
    return TRACE_EINVAL;
  int rc = resolve_signal(&c->traces, o->export_traces, o->traces_endpoint, o->endpoint,
                          "/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", o->headers,
                          o->traces_headers, "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                          o->traces_protocol, o->traces_compression, o->traces_timeout_ms);
  if (rc == 0)
    rc = resolve_signal(&c->logs, o->export_logs, o->logs_endpoint, o->endpoint, "/v1/logs",
                        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", o->headers, o->logs_headers,
                        "OTEL_EXPORTER_OTLP_LOGS_HEADERS", o->logs_protocol,
                        o->logs_compression, o->logs_timeout_ms);
  if (rc == 0 && !c->traces.url && !c->logs.url && !o->discard) {
    trace__otlp_warn("no endpoint: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318)");
    rc = TRACE_EINVAL;
  }
  if (rc == 0)
    rc = resolve_resource(c, o);
  if (rc != 0) {
    trace__otlp_conf_free(c);
    return rc;
  }
  c->sampler = o->sampler;
  c->ratio = o->sampler_arg;
  c->ratio_bound = o->sampler_arg >= 1.0 ? UINT64_MAX
                                          : (uint64_t)ldexp(o->sampler_arg, 64);
  c->schedule_delay_ms = o->schedule_delay_ms;
  c->export_timeout_ms = o->export_timeout_ms ? o->export_timeout_ms : 30000;
  c->max_queue_size = o->max_queue_size;
  c->max_export_batch_size = TRACE__MIN(o->max_export_batch_size, o->max_queue_size);
  c->retry_initial_ms = o->retry_initial_ms ? o->retry_initial_ms : 1;
  c->retry_max_ms = TRACE__MAX(o->retry_max_ms, c->retry_initial_ms);
  c->shutdown_timeout_ms = o->shutdown_timeout_ms;
  c->max_events_per_span = o->max_events_per_span;
  c->max_value_len = o->max_value_len ? o->max_value_len : 4096;
  /* A power of two: a record's place in the ring is then a mask, not a division. */
  c->thread_buffer_size = (size_t)1 << (64 - __builtin_clzll((unsigned long long)o->thread_buffer_size - 1));
  c->track_inactivity = o->track_inactivity;
  c->discard = o->discard;
  c->spans_out = c->traces.url || c->discard;
  return 0;
}

void trace__otlp_conf_free(otlp_conf *c) {
  free_signal(&c->traces);
  free_signal(&c->logs);
  free_pairs(c->resource, c->nresource);
  c->resource = NULL;
  c->nresource = 0;
}
