/* What the protobuf and JSON encoders share: valid UTF-8 for every string, the otel.* fields
 * that name a span rather than describe it, severities. */
#include <string.h>
#include <strings.h>

#include "../text/escape.h"
#include "internal.h"

size_t trace__otlp_utf8_valid_prefix(const char *s, size_t len) {
  size_t i = 0;
  while (i + 8 <= len) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080ull)
      break;
    i += 8;
  }
  while (i < len) {
    size_t n = trace__utf8_seq((const unsigned char *)s + i, len - i);
    if (n == 0)
      return i;
    i += n;
  }
  return len;
}

void trace__otlp_put_utf8(trace__buf *b, const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    size_t ok = trace__otlp_utf8_valid_prefix(s + i, len - i);
    trace__buf_put(b, s + i, ok);
    i += ok;
    if (i < len) {
      trace__buf_put(b, "\xEF\xBF\xBD", 3); /* U+FFFD for the byte that starts no sequence */
      i++;
    }
  }
}

void trace__otlp_each_attr(const otlp_site *site, const rec_head *h, const char *values,
                           bool skip_special, otlp_attr_fn fn, void *arg) {
  rec_iter it = rec_values(h, values);
  const char *str;
  for (const rec_value *v; (v = rec_value_next(&it, &str));) {
    if (v->field >= site->nfields)
      continue;
    const char *key = site->fields[v->field];
    if (skip_special && trace__otlp_special_field(key))
      continue;
    fn(arg, key, v, str);
  }
}

bool trace__otlp_special_field(const char *name) {
  return strncmp(name, "otel.", 5) == 0 &&
         (strcmp(name + 5, "name") == 0 || strcmp(name + 5, "kind") == 0 ||
          strcmp(name + 5, "status_code") == 0 || strcmp(name + 5, "status_message") == 0);
}

static bool is(const char *s, size_t n, const char *word) {
  return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

const otlp_site *trace__otlp_span_meta(const trace_otlp *x, const rec_span *s, span_meta *out) {
  const otlp_site *site = trace__otlp_site_by_id(x, s->h.site);
  if (!site)
    return NULL;
  out->name = site->name;
  out->name_len = strlen(site->name);
  out->kind = 1; /* SPAN_KIND_INTERNAL */
  out->status = s->error ? 2 : 0;
  out->status_message = NULL;
  out->status_message_len = 0;
  rec_iter it = rec_values(&s->h, rec_span_values(s));
  const char *str;
  for (const rec_value *v; (v = rec_value_next(&it, &str));) {
    if (v->field >= site->nfields)
      continue;
    const char *f = site->fields[v->field];
    if (strncmp(f, "otel.", 5) != 0 ||
        (v->type != TRACE_VALUE_STR && v->type != TRACE_VALUE_DISPLAY))
      continue;
    if (strcmp(f, "otel.name") == 0) {
      out->name = str;
      out->name_len = v->len;
    } else if (strcmp(f, "otel.kind") == 0) {
      if (is(str, v->len, "server"))
        out->kind = 2;
      else if (is(str, v->len, "client"))
        out->kind = 3;
      else if (is(str, v->len, "producer"))
        out->kind = 4;
      else if (is(str, v->len, "consumer"))
        out->kind = 5;
      else if (is(str, v->len, "internal"))
        out->kind = 1;
    } else if (strcmp(f, "otel.status_code") == 0) {
      /* An explicit status wins over the one an ERROR event implies. */
      if (is(str, v->len, "error"))
        out->status = 2;
      else if (is(str, v->len, "ok"))
        out->status = 1;
      else if (is(str, v->len, "unset"))
        out->status = 0;
    } else if (strcmp(f, "otel.status_message") == 0) {
      out->status_message = str;
      out->status_message_len = v->len;
    }
  }
  return site;
}

int trace__otlp_severity(int level) {
  switch (level) {
  case TRACE_LEVEL_ERROR: return 17;
  case TRACE_LEVEL_WARN: return 13;
  case TRACE_LEVEL_INFO: return 9;
  case TRACE_LEVEL_DEBUG: return 5;
  case TRACE_LEVEL_TRACE: return 1;
  default: return 0;
  }
}

const char *trace__otlp_level_text(int level) { return trace_level_name(level); }
