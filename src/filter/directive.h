/* The env-filter's directives: what the parser (parse.c) produces, what a directive set (set.c)
 * orders and prints, and what the matcher (match.c) reads on the hot paths. A directive set is
 * immutable once built; the filter (env_filter.c) publishes one at a time through an atomic
 * pointer, so readers never lock. */
#ifndef TRACE_FILTER_DIRECTIVE_H
#define TRACE_FILTER_DIRECTIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regex.h"
#include "trace/env_filter.h"

/* Limits that bound parse time on any input (regular expressions have theirs in regex.h). */
enum {
  TRACE__FILTER_MAX_INPUT = 65536,    /* bytes of filter text */
  TRACE__FILTER_MAX_DIRECTIVES = 1024,
  TRACE__FILTER_MAX_FIELDS = 32,      /* per directive (a uint32_t mask of matched fields) */
  TRACE__FILTER_MAX_NESTING = 64      /* [ { nesting in the filter text */
};

typedef enum trace__match_kind {
  TRACE__MATCH_PRESENT = 0, /* a name without value: the callsite declares the field */
  TRACE__MATCH_BOOL,
  TRACE__MATCH_U64, /* also matches an i64 field with the same (non-negative) value */
  TRACE__MATCH_I64, /* negative numbers only: the others parse as u64 */
  TRACE__MATCH_F64,
  TRACE__MATCH_STR,  /* "quoted": exactly this string */
  TRACE__MATCH_REGEX /* anything else: a regular expression that must match the whole string */
} trace__match_kind;

typedef struct trace__field_match {
  char *name;
  char *text;      /* STR: the unescaped string; REGEX: the pattern as written; else NULL */
  size_t text_len;
  uint8_t kind;    /* trace__match_kind */
  union {
    bool b;
    uint64_t u64;
    int64_t i64;
    double f64;
  } v;
  trace__regex *re; /* REGEX: the compiled expression (owned) */
} trace__field_match;

typedef struct trace__directive {
  char *target;               /* NULL: every target */
  size_t target_len;
  char *span;                 /* NULL: no span name (static, or fields only) */
  trace__field_match *fields; /* nfields, sorted by name */
  uint32_t nfields;
  uint32_t value_mask; /* bit i: fields[i] has a value; the others only need to be declared */
  uint32_t order;    /* position in the filter text, for "the later one wins" */
  int level;         /* trace_level */
  /* As in tracing-subscriber, a directive is static when it has neither a span name nor a field
   * value (decided once per callsite), dynamic when it has a span name or any field (judged per
   * span instance), and a field-name-only directive ([{user_id}]) is both. */
  bool is_static;
  bool dynamic;
  bool replaced;     /* a later equal directive replaces this one */
} trace__directive;

typedef struct trace__directive_set {
  trace__directive *dirs; /* in filter order, replaced ones included (and skipped) */
  size_t ndirs;
  const trace__directive **statics;  /* most specific first */
  size_t nstatic;
  const trace__directive **dynamics; /* filter order */
  size_t ndynamic;
  int dyn_max;  /* most verbose level of a dynamic directive; OFF without any */
  int hint;     /* max_level_hint */
  uint32_t generation; /* stamped by the filter when published; tags cached decisions */
  struct trace__directive_set *next_retired;
} trace__directive_set;

/* parse.c. Parses spec into a new set (*out). Strict: the first bad directive makes it return
 * TRACE_EPARSE with *err filled (if err), nothing allocated. Lossy: every bad directive is
 * reported on stderr and skipped; with nothing valid the set is the ERROR level. TRACE_ENOMEM on
 * out of memory (nothing allocated). spec must not be NULL. */
int trace__filter_parse(const char *spec, bool lossy, trace__directive_set **out,
                        trace_filter_error *err);

/* set.c. Takes ownership of dirs (n of them, from trace__malloc) also on error: marks replaced
 * directives, orders the static ones by specificity, computes the levels. 0 or TRACE_ENOMEM. */
int trace__directive_set_new(trace__directive *dirs, size_t n, trace__directive_set **out);
void trace__directive_set_free(trace__directive_set *s);
/* Frees what d owns (not d itself). */
void trace__directive_clear(trace__directive *d);
/* The set as normalised filter text, snprintf-style. */
size_t trace__directive_set_format(const trace__directive_set *s, char *buf, size_t cap);

/* match.c. */
/* Whether the dynamic directive d applies to the callsite: target, span name and declared field
 * names. */
bool trace__directive_covers(const trace__directive *d, const trace_metadata *meta);
/* The static directive that decides for meta (the most specific one that covers it), or NULL. */
const trace__directive *trace__static_decider(const trace__directive_set *s,
                                              const trace_metadata *meta);
/* The most verbose level of the dynamic directives matching the span's current values (OFF if
 * none): every directive that covers the callsite and whose field values all match. */
int trace__span_level(const trace__directive_set *s, const trace_span_ref *span,
                      const trace_metadata *meta);

#endif
