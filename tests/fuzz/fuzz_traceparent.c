/* libFuzzer target for trace context parsing: arbitrary bytes as a traceparent, as a tracestate
 * and as a list of headers (lines "name: value"). Whatever parses must format back to a
 * traceparent that parses to the same context, and a tracestate's normal form must parse back to
 * itself within the limits (32 members, 512 bytes); failures must come with a reason and leave
 * nothing behind.
 *
 *   run: build/tests/fuzz/fuzz_traceparent tests/fuzz/corpus/traceparent (on a copy: libFuzzer
 *        adds what it finds to the first directory) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace/context.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_traceparent(const char *s, size_t n) {
  trace_context c;
  const char *why = NULL;
  int rc = trace_traceparent_parse(s, n, &c, &why);
  if (rc != 0) {
    if (rc != TRACE_EPARSE || !why || !*why || trace_context_is_valid(&c) || c.flags)
      abort();
    return;
  }
  if (why || !trace_context_is_valid(&c))
    abort();
  char text[TRACE_TRACEPARENT_SIZE];
  if (trace_traceparent_format(&c, text, sizeof text) != TRACE_TRACEPARENT_LEN ||
      strlen(text) != TRACE_TRACEPARENT_LEN)
    abort();
  trace_context again;
  if (trace_traceparent_parse(text, strlen(text), &again, NULL) != 0 ||
      memcmp(again.trace_id, c.trace_id, 16) != 0 || memcmp(again.span_id, c.span_id, 8) != 0 ||
      again.flags != c.flags)
    abort();
}

static void check_tracestate(const char *s, size_t n) {
  trace_context c;
  memset(&c, 0, sizeof c);
  const char *why = NULL;
  int rc = trace_tracestate_parse(s, n, &c, &why);
  if (rc != 0) {
    if (rc != TRACE_EPARSE || !why || c.tracestate_len != 0 || c.tracestate[0])
      abort();
    return;
  }
  if (c.tracestate_len > TRACE_TRACESTATE_MAX || strlen(c.tracestate) != c.tracestate_len)
    abort();
  size_t members = c.tracestate_len ? 1 : 0;
  for (size_t i = 0; i < c.tracestate_len; i++)
    members += c.tracestate[i] == ',';
  if (members > TRACE_TRACESTATE_MAX_MEMBERS)
    abort();
  trace_context again;
  memset(&again, 0, sizeof again);
  if (trace_tracestate_parse(c.tracestate, c.tracestate_len, &again, NULL) != 0 ||
      strcmp(again.tracestate, c.tracestate) != 0)
    abort();
}

/* Lines "name:value" become headers (at most 16); a line without a colon is skipped. */
static void check_headers(char *text) {
  trace_header h[16];
  size_t n = 0;
  for (char *line = text; line && n < 16;) {
    char *next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    char *colon = strchr(line, ':');
    if (colon) {
      *colon = '\0';
      h[n].name = line;
      h[n].value = colon + 1;
      n++;
    }
    line = next;
  }
  trace_context c;
  const char *why = NULL;
  int rc = trace_context_extract(h, n, &c, &why);
  if (rc != 0 && (rc != TRACE_EPARSE || !why || trace_context_is_valid(&c)))
    abort();
  if (rc == 0 && (!trace_context_is_valid(&c) || c.tracestate_len > TRACE_TRACESTATE_MAX ||
                  (why && c.tracestate_len)))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: the parsers must not read past the length they are given. */
  char *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  check_traceparent(copy, size);
  check_tracestate(copy, size);
  free(copy);
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  check_headers(text);
  free(text);
  return 0;
}
