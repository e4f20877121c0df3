/* Trace context: the identity of a span in a distributed trace, and its W3C Trace Context form
 * (https://www.w3.org/TR/trace-context/, level 1) for propagation between processes.
 *
 * A span has a trace context when the registry serves a layer that needs one (an exporter such as
 * the OTLP layer, <trace/otlp.h>): the registry then gives each span a 64-bit span id, and the
 * 128-bit trace id of its trace (a root draws a new one, a child inherits its parent's, a span
 * created with TRACE_SPAN_FROM continues the remote trace). Spans no such layer sees get no ids
 * and pay nothing for them.
 *
 * Propagation, the client side: read the current request span's context and send it.
 *
 *   trace_context c;
 *   if (trace_span_context(&request_span, &c) == 0) {
 *     char tp[TRACE_TRACEPARENT_SIZE];
 *     trace_traceparent_format(&c, tp, sizeof tp);           // "00-<trace>-<span>-01"
 *     add_header("traceparent", tp);
 *     if (c.tracestate_len) add_header("tracestate", c.tracestate);
 *   }
 *
 * The server side: parse what came in and make it the parent of the request's span. A missing
 * or malformed header leaves remote zeroed, and the request then starts a trace of its own.
 *
 *   trace_context remote;
 *   if (trace_traceparent_parse(tp, strlen(tp), &remote, NULL) == 0)
 *     trace_tracestate_parse(ts, ts_len, &remote, NULL);     // optional; never affects the ids
 *   trace_span s = TRACE_SPAN_FROM(&remote, TRACE_LEVEL_INFO, "request", TF(path, p));
 *
 * (trace_context_extract does both from a list of headers.)
 *
 * Sampling: the sampled flag (bit 0 of flags) says whether the trace is recorded. A span whose
 * remote parent is not sampled is still created, entered and seen by every local layer (fmt
 * prints its events as usual); it carries sampled = 0, exporters skip it, and the flag goes on to
 * the next service. Local roots are sampled unless a layer's sampler says otherwise (see
 * trace_layer_vtable.sample in <trace/registry.h>; the OTLP layer's follows OTEL_TRACES_SAMPLER).
 *
 * Everything here is plain data and pure functions: safe from any thread, before initialisation
 * and after trace_shutdown(); errno is kept. Parsing never reads past the given length and never
 * needs a terminating NUL. */
#ifndef TRACE_CONTEXT_H
#define TRACE_CONTEXT_H

#include "../trace.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  TRACE_CONTEXT_SAMPLED = 0x01, /* flags: the trace is recorded (W3C "sampled") */
  TRACE_TRACESTATE_MAX = 512,   /* bytes of tracestate carried (W3C: at least 512) */
  TRACE_TRACESTATE_MAX_MEMBERS = 32,
  TRACE_TRACEPARENT_LEN = 55,  /* "00-" + 32 + "-" + 16 + "-" + 2 */
  TRACE_TRACEPARENT_SIZE = 56, /* the same with its NUL */
  TRACE_TRACE_ID_HEX_SIZE = 33,
  TRACE_SPAN_ID_HEX_SIZE = 17
};

/* A span's identity in its trace. A value: copy it freely. Ids are bytes in the order of their
 * hex form (trace_id[0] is the first two hex digits); all-zero ids are invalid.
 * tracestate is the W3C tracestate to pass on with it: list members in order, separated by
 * single commas, without optional whitespace, NUL-terminated; tracestate_len 0 means none. */
struct trace_context {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t flags;      /* TRACE_CONTEXT_SAMPLED; other bits as received, 0 when made here */
  uint8_t reserved_;  /* 0 */
  uint16_t tracestate_len;
  char tracestate[TRACE_TRACESTATE_MAX + 1];
};
typedef struct trace_context trace_context;

/* A context with zero ids: given to TRACE_SPAN_FROM, the span starts a new trace (a root in
 * the trace, new trace id) while it stays under the current span locally: a request of a
 * long-lived worker, a message a consumer takes off a queue. */
TRACE_API extern const trace_context trace_context_none;
#define TRACE_NEW_TRACE (&trace_context_none)

/* Whether both ids are non-zero (a context that can be a parent or be sent). NULL: false. */
TRACE_API bool trace_context_is_valid(const trace_context *c);
/* Whether the sampled flag is set. NULL: false. */
static inline bool trace_context_is_sampled(const trace_context *c) {
  return c && (c->flags & TRACE_CONTEXT_SAMPLED) != 0;
}

/* The context of span s, to inject into an outgoing request: its trace id, its own span id, the
 * sampled flag (only that flag: the other bits are reserved and sent as 0) and the tracestate it
 * continues. A span no context-needing layer sees has no ids of its own: it gives the context of
 * its nearest ancestor that has one (so the downstream service hangs under the nearest exported
 * span). Returns 0; TRACE_ECLOSED for a none or closed span; TRACE_ENOTSUP when neither s nor an
 * ancestor has a context (no layer needs one, or the subscriber does not keep contexts); *out is
 * then zeroed. TRACE_EINVAL for NULL out. */
TRACE_API int trace_span_context(const trace_span *s, trace_context *out);

/* Parses a traceparent header value (len bytes; optional spaces and tabs around it allowed, as in
 * any HTTP field). Version 00 must be exactly "00-<32 hex>-<16 hex>-<2 hex>", lowercase, ids not
 * all zero. A higher version (not ff) is read as W3C level 1 says: the same first 55 characters,
 * then nothing or "-" and fields that are ignored; only its sampled bit is kept. On success *out
 * holds the ids and flags and an empty tracestate; returns 0. On failure returns TRACE_EPARSE,
 * *out is zeroed and *reason (if reason is not NULL) points to a static sentence saying what is
 * wrong ("the trace id is all zeros"); TRACE_EINVAL for NULL s with len > 0 or NULL out. */
TRACE_API int trace_traceparent_parse(const char *s, size_t len, trace_context *out,
                                      const char **reason);

/* Writes c as a version 00 traceparent ("00-<trace id>-<span id>-<flags>", lowercase hex) into
 * buf, snprintf-style: returns 55 (the length the text needs) and writes at most cap bytes
 * including the NUL; TRACE_TRACEPARENT_SIZE bytes always suffice. Returns 0 (writing "" when cap
 * allows) for NULL c or a context with a zero id. */
TRACE_API size_t trace_traceparent_format(const trace_context *c, char *buf, size_t cap);

/* Parses a tracestate header value (len bytes; the values of several tracestate header lines
 * joined with commas, as HTTP combines them) into out->tracestate, leaving the ids and flags
 * alone. The whole value is validated first (W3C level 1: keys "name" or "tenant@system" of
 * lowercase letters, digits and _-* /, values of printable ASCII without , and =, no key twice,
 * optional whitespace and empty members allowed); when it is valid, its members are kept in
 * order, in normal form, up to 32 members and 512 bytes: past those limits, members longer than
 * 128 bytes go first and then the rightmost ones, as the specification asks. An empty value
 * gives an empty tracestate. Returns 0; TRACE_EPARSE with a static reason when invalid (the
 * tracestate is then emptied: a bad tracestate is dropped, never half kept); TRACE_EINVAL for
 * NULL out or NULL s with len > 0. */
TRACE_API int trace_tracestate_parse(const char *s, size_t len, trace_context *out,
                                     const char **reason);

/* One HTTP header: name and value, NUL-terminated. */
typedef struct trace_header {
  const char *name;
  const char *value;
} trace_header;

/* Extracts a context from a request's headers as W3C Trace Context processing says: names are
 * matched without regard to case; exactly one traceparent must be there and be valid, else
 * TRACE_EPARSE with *reason saying why ("no traceparent header", "more than one traceparent
 * header", or the parse failure) and *out zeroed. Every tracestate header is then combined, in
 * order, and parsed; an invalid one is dropped without affecting the traceparent: the call still
 * returns 0, *out has an empty tracestate, and *reason says what was wrong with the tracestate.
 * On complete success *reason is NULL. Entries with a NULL name or value are skipped. */
TRACE_API int trace_context_extract(const trace_header *headers, size_t count, trace_context *out,
                                    const char **reason);

/* Lowercase hex of an id, NUL-terminated: 32 digits for a trace id into TRACE_TRACE_ID_HEX_SIZE
 * bytes, 16 for a span id into TRACE_SPAN_ID_HEX_SIZE bytes. */
TRACE_API void trace_trace_id_hex(const uint8_t id[16], char out[TRACE_TRACE_ID_HEX_SIZE]);
TRACE_API void trace_span_id_hex(const uint8_t id[8], char out[TRACE_SPAN_ID_HEX_SIZE]);

#ifdef __cplusplus
}
#endif

#endif
