/* W3C tracestate (level 1): validation of the combined header value, its normal form, and
 * truncation to what we carry (32 members, 512 bytes). Header extraction (trace_context_extract)
 * is here too: it is mostly about combining tracestate lines. */
#include <string.h>
#include <strings.h>

#include "context_internal.h"

/* More members than this is not a tracestate anybody sent in good faith; refusing it bounds the
 * duplicate check (quadratic) and the stack. The specification allows 32; a few more are accepted
 * (the rightmost are then dropped) because the W3C test suite passes 33 as valid. */
enum { MEMBERS_MAX = 128, KEY_MAX = 256, TENANT_MAX = 241, SYSTEM_MAX = 14, VALUE_MAX = 256,
       LONG_MEMBER = 128 };

typedef struct member {
  const char *p;
  size_t len;     /* "key=value" */
  size_t key_len;
} member;

static inline bool lcalpha(char c) { return c >= 'a' && c <= 'z'; }
static inline bool digit(char c) { return c >= '0' && c <= '9'; }
static inline bool keychar(char c) {
  return lcalpha(c) || digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

/* key = simple-key / multi-tenant-key (level 1). */
static const char *check_key(const char *k, size_t n) {
  if (n == 0)
    return "a tracestate member has an empty key";
  const char *at = memchr(k, '@', n);
  if (!at) {
    if (!lcalpha(k[0]))
      return "a tracestate key does not start with a lowercase letter";
    if (n > KEY_MAX)
      return "a tracestate key is longer than 256 characters";
    for (size_t i = 1; i < n; i++)
      if (!keychar(k[i]))
        return "a tracestate key has a character other than a-z 0-9 _ - * /";
    return NULL;
  }
  size_t tenant = (size_t)(at - k), system = n - tenant - 1;
  if (tenant == 0 || system == 0)
    return "a tracestate key has an empty tenant or system before or after @";
  if (tenant > TENANT_MAX)
    return "a tracestate key's tenant is longer than 241 characters";
  if (system > SYSTEM_MAX)
    return "a tracestate key's system is longer than 14 characters";
  if (!(lcalpha(k[0]) || digit(k[0])))
    return "a tracestate key's tenant does not start with a lowercase letter or digit";
  if (!lcalpha(at[1]))
    return "a tracestate key's system does not start with a lowercase letter";
  for (size_t i = 1; i < n; i++)
    if (k + i != at && !keychar(k[i]))
      return k[i] == '@' ? "a tracestate key has more than one @"
                         : "a tracestate key has a character other than a-z 0-9 _ - * / @";
  return NULL;
}

/* value = 0*255(chr) nblk-chr: printable ASCII but , and =, not ending in a space. */
static const char *check_value(const char *v, size_t n) {
  if (n == 0)
    return "a tracestate member has an empty value";
  if (n > VALUE_MAX)
    return "a tracestate value is longer than 256 characters";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
      return "a tracestate value has a character outside printable ASCII, or , or =";
  }
  if (v[n - 1] == ' ')
    return "a tracestate value ends with a space";
  return NULL;
}

static int drop(trace_context *out, const char **reason, const char *why) {
  out->tracestate_len = 0;
  out->tracestate[0] = '\0';
  if (reason)
    *reason = why;
  return TRACE_EPARSE;
}

/* Removes member i, keeping the order of the others. */
static void remove_member(member *m, size_t *n, size_t i) {
  memmove(&m[i], &m[i + 1], (*n - i - 1) * sizeof *m);
  (*n)--;
}

int trace__tracestate_parse_lines(const char *const *lines, const size_t *lens, size_t count,
                                  trace_context *out, const char **reason) {
  if (reason)
    *reason = NULL;
  if (!out)
    return TRACE_EINVAL;
  member m[MEMBERS_MAX];
  size_t n = 0;
  for (size_t l = 0; l < count; l++) {
    const char *s = lines[l];
    size_t len = lens[l];
    if (!s && len > 0)
      return drop(out, reason, "invalid argument");
    size_t at = 0;
    while (at <= len && len > 0) {
      const char *comma = memchr(s + at, ',', len - at);
      size_t end = comma ? (size_t)(comma - s) : len;
      const char *p = s + at;
      size_t plen = end - at;
      trace__context_trim(&p, &plen);
      if (plen > 0) { /* empty and whitespace-only members are allowed, and carry nothing */
        const char *eq = memchr(p, '=', plen);
        if (!eq)
          return drop(out, reason, "a tracestate member has no =");
        size_t klen = (size_t)(eq - p);
        const char *why = check_key(p, klen);
        if (!why)
          why = check_value(eq + 1, plen - klen - 1);
        if (why)
          return drop(out, reason, why);
        for (size_t i = 0; i < n; i++)
          if (m[i].key_len == klen && memcmp(m[i].p, p, klen) == 0)
            return drop(out, reason, "a tracestate key appears twice");
        if (n == MEMBERS_MAX)
          return drop(out, reason, "the tracestate has more than 128 members");
        m[n++] = (member){p, plen, klen};
      }
      if (!comma)
        break;
      at = end + 1;
    }
  }
  /* Truncation, whole members only: long members first, then from the right. */
  size_t size = 0;
  for (size_t i = 0; i < n; i++)
    size += m[i].len + (i > 0);
  while (n > TRACE_TRACESTATE_MAX_MEMBERS || size > TRACE_TRACESTATE_MAX) {
    size_t victim = n - 1;
    for (size_t i = n; i > 0; i--) {
      if (m[i - 1].len > LONG_MEMBER) {
        victim = i - 1;
        break;
      }
    }
    size -= m[victim].len + (n > 1);
    remove_member(m, &n, victim);
  }
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      out->tracestate[w++] = ',';
    memcpy(out->tracestate + w, m[i].p, m[i].len);
    w += m[i].len;
  }
  out->tracestate[w] = '\0';
  out->tracestate_len = (uint16_t)w;
  return 0;
}

int trace_tracestate_parse(const char *s, size_t len, trace_context *out, const char **reason) {
  if (!out || (!s && len > 0)) {
    if (reason)
      *reason = "invalid argument";
    if (out)
      drop(out, NULL, NULL);
    return TRACE_EINVAL;
  }
  return trace__tracestate_parse_lines(&s, &len, 1, out, reason);
}

int trace_context_extract(const trace_header *h, size_t count, trace_context *out,
                          const char **reason) {
  if (reason)
    *reason = NULL;
  if (!out || (!h && count > 0)) {
    if (reason)
      *reason = "invalid argument";
    return TRACE_EINVAL;
  }
  const char *traceparent = NULL;
  size_t parents = 0, states = 0;
  for (size_t i = 0; i < count; i++) {
    if (!h[i].name || !h[i].value)
      continue;
    if (strcasecmp(h[i].name, "traceparent") == 0) {
      traceparent = h[i].value;
      parents++;
    } else if (strcasecmp(h[i].name, "tracestate") == 0) {
      states++;
    }
  }
  if (parents != 1) {
    memset(out, 0, offsetof(trace_context, tracestate) + 1);
    if (reason)
      *reason = parents ? "more than one traceparent header" : "no traceparent header";
    return TRACE_EPARSE;
  }
  int rc = trace_traceparent_parse(traceparent, strlen(traceparent), out, reason);
  if (rc != 0 || states == 0)
    return rc;
  /* The tracestate lines, in order, as one combined value. Past MEMBERS_MAX lines the value could
   * not be valid anyway (every line that is not blank holds at least one member). */
  const char *lines[MEMBERS_MAX];
  size_t lens[MEMBERS_MAX], k = 0;
  for (size_t i = 0; i < count; i++) {
    if (!h[i].name || !h[i].value || strcasecmp(h[i].name, "tracestate") != 0)
      continue;
    const char *v = h[i].value;
    size_t vlen = strlen(v);
    const char *t = v;
    size_t tlen = vlen;
    trace__context_trim(&t, &tlen);
    if (tlen == 0)
      continue; /* an empty line adds nothing */
    if (k == MEMBERS_MAX) {
      drop(out, reason, "the tracestate has more than 128 members");
      return 0;
    }
    lines[k] = v;
    lens[k++] = vlen;
  }
  const char *why = NULL;
  if (trace__tracestate_parse_lines(lines, lens, k, out, &why) != 0 && reason)
    *reason = why;
  return 0;
}
