/* W3C traceparent: parsing (level 1, with its rules for higher versions) and formatting, and the
 * hex forms of ids. Pure functions over caller memory. */
#include <errno.h>
#include <string.h>

#include "context_internal.h"

static const char hex_digits[] = "0123456789abcdef";

const trace_context trace_context_none;

/* Value of each byte as a lowercase hex digit, or 0xff (uppercase is not allowed: HEXDIGLC). */
static const uint8_t hexval[256] = {
    ['0'] = 0,  ['1'] = 1,  ['2'] = 2,  ['3'] = 3,  ['4'] = 4,  ['5'] = 5,
    ['6'] = 6,  ['7'] = 7,  ['8'] = 8,  ['9'] = 9,  ['a'] = 10, ['b'] = 11,
    ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
};
static const uint8_t hexok[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
};

/* n bytes from 2n lowercase hex digits; false on any other character. Branch-free per digit:
 * a header is read on every request a service receives. */
static bool hex_bytes(const char *s, uint8_t *out, size_t n) {
  unsigned ok = 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char hi = (unsigned char)s[2 * i], lo = (unsigned char)s[2 * i + 1];
    ok &= (unsigned)hexok[hi] & hexok[lo];
    out[i] = (uint8_t)(hexval[hi] << 4 | hexval[lo]);
  }
  return ok != 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc == 0;
}

void trace__context_trim(const char **s, size_t *len) {
  const char *p = *s;
  size_t n = *len;
  while (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
    p++;
    n--;
  }
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  *s = p;
  *len = n;
}

static int fail(trace_context *out, const char **reason, const char *why) {
  memset(out, 0, offsetof(trace_context, tracestate) + 1);
  if (reason)
    *reason = why;
  return TRACE_EPARSE;
}

int trace_traceparent_parse(const char *s, size_t len, trace_context *out, const char **reason) {
  if (reason)
    *reason = NULL;
  if (!out || (!s && len > 0)) {
    if (reason)
      *reason = "invalid argument";
    return TRACE_EINVAL;
  }
  trace__context_trim(&s, &len);
  if (len < 3 || s[2] != '-')
    return fail(out, reason, len == 0 ? "the traceparent is empty"
                                      : "the version is not two hex digits and a dash");
  uint8_t version;
  if (!hex_bytes(s, &version, 1))
    return fail(out, reason, "the version is not two lowercase hex digits");
  if (version == 0xff)
    return fail(out, reason, "version ff is forbidden");
  if (len < TRACE_TRACEPARENT_LEN)
    return fail(out, reason, "the traceparent is shorter than 55 characters");
  if (version == 0 && len > TRACE_TRACEPARENT_LEN)
    return fail(out, reason, "a version 00 traceparent has exactly 55 characters");
  if (s[35] != '-' || s[52] != '-')
    return fail(out, reason, "the fields are not separated by dashes where expected");
  trace_context c;
  memset(&c, 0, offsetof(trace_context, tracestate) + 1);
  uint8_t flags;
  if (!hex_bytes(s + 3, c.trace_id, 16))
    return fail(out, reason, "the trace id is not 32 lowercase hex digits");
  if (!hex_bytes(s + 36, c.span_id, 8))
    return fail(out, reason, "the parent id is not 16 lowercase hex digits");
  if (!hex_bytes(s + 53, &flags, 1))
    return fail(out, reason, "the flags are not two lowercase hex digits");
  if (len > TRACE_TRACEPARENT_LEN && s[TRACE_TRACEPARENT_LEN] != '-')
    return fail(out, reason, "the flags of a later version are not followed by a dash");
  if (all_zero(c.trace_id, 16))
    return fail(out, reason, "the trace id is all zeros");
  if (all_zero(c.span_id, 8))
    return fail(out, reason, "the parent id is all zeros");
  /* A later version's other flags mean nothing to level 1: only "sampled" is read. */
  c.flags = version == 0 ? flags : (uint8_t)(flags & TRACE_CONTEXT_SAMPLED);
  memcpy(out, &c, offsetof(trace_context, tracestate) + 1);
  return 0;
}

static inline void put_hex(char *d, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    d[2 * i] = hex_digits[p[i] >> 4];
    d[2 * i + 1] = hex_digits[p[i] & 15];
  }
}

bool trace_context_is_valid(const trace_context *c) {
  return c && !all_zero(c->trace_id, 16) && !all_zero(c->span_id, 8);
}

size_t trace_traceparent_format(const trace_context *c, char *buf, size_t cap) {
  if (!trace_context_is_valid(c)) {
    if (buf && cap)
      buf[0] = '\0';
    return 0;
  }
  char text[TRACE_TRACEPARENT_SIZE];
  text[0] = '0';
  text[1] = '0';
  text[2] = '-';
  put_hex(text + 3, c->trace_id, 16);
  text[35] = '-';
  put_hex(text + 36, c->span_id, 8);
  text[52] = '-';
  put_hex(text + 53, &c->flags, 1);
  text[55] = '\0';
  if (buf && cap) {
    size_t n = cap < sizeof text ? cap - 1 : TRACE_TRACEPARENT_LEN;
    memcpy(buf, text, n);
    buf[n] = '\0';
  }
  return TRACE_TRACEPARENT_LEN;
}

void trace_trace_id_hex(const uint8_t id[16], char out[TRACE_TRACE_ID_HEX_SIZE]) {
  put_hex(out, id, 16);
  out[32] = '\0';
}

void trace_span_id_hex(const uint8_t id[8], char out[TRACE_SPAN_ID_HEX_SIZE]) {
  put_hex(out, id, 8);
  out[16] = '\0';
}
