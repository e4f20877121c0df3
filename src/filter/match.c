/* Matching directives against callsites and spans: targets on segment boundaries, span names,
 * declared field names, and field values (typed, exact strings, regular expressions that must
 * match the whole value: regex.c). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../common/target.h"
#include "directive.h"

/* ---------------------------------------------------------------------------------------- */
/* Callsites. */

static bool declares(const trace_metadata *meta, const char *name) {
  for (uint16_t i = 0; i < meta->field_count; i++)
    if (meta->field_names[i] && strcmp(meta->field_names[i], name) == 0)
      return true;
  return false;
}

bool trace__directive_covers(const trace__directive *d, const trace_metadata *meta) {
  if (d->target && !trace__target_covers(meta->target ? meta->target : "", d->target, d->target_len))
    return false;
  if (d->span && (meta->kind != TRACE_KIND_SPAN || !meta->name || strcmp(d->span, meta->name) != 0))
    return false;
  for (uint32_t i = 0; i < d->nfields; i++)
    if (!declares(meta, d->fields[i].name))
      return false;
  return true;
}

/* A static directive's field names select events only, as in tracing-subscriber: a span callsite
 * is covered by target alone (so "[{user_id}]=debug" enables every span up to DEBUG; the spans
 * that declare user_id are its dynamic side, which enables what happens inside them). */
static bool static_covers(const trace__directive *d, const trace_metadata *meta) {
  if (d->target && !trace__target_covers(meta->target ? meta->target : "", d->target, d->target_len))
    return false;
  if (meta->kind == TRACE_KIND_SPAN)
    return true;
  for (uint32_t i = 0; i < d->nfields; i++)
    if (!declares(meta, d->fields[i].name))
      return false;
  return true;
}

const trace__directive *trace__static_decider(const trace__directive_set *s,
                                              const trace_metadata *meta) {
  for (size_t i = 0; i < s->nstatic; i++)
    if (static_covers(s->statics[i], meta))
      return s->statics[i];
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Field values of a span. */

typedef struct value_check {
  const trace__directive *d;
  uint32_t matched; /* bit i: fields[i] matched */
} value_check;

/* The field of the directive with this name, or NULL (fields are few: a linear scan). */
static const trace__field_match *field_named(const value_check *vc, const char *name,
                                             uint32_t *bit) {
  for (uint32_t i = 0; i < vc->d->nfields; i++) {
    if (strcmp(vc->d->fields[i].name, name) == 0) {
      *bit = 1u << i;
      return &vc->d->fields[i];
    }
  }
  return NULL;
}

static void on_i64(void *ctx, const char *name, int64_t v) {
  value_check *vc = ctx;
  uint32_t bit;
  const trace__field_match *f = field_named(vc, name, &bit);
  /* As tracing: an unsigned directive value also matches a signed field holding it (C's
   * TF(id, 42) records an int). */
  if (f && ((f->kind == TRACE__MATCH_I64 && f->v.i64 == v) ||
            (f->kind == TRACE__MATCH_U64 && v >= 0 && (uint64_t)v == f->v.u64)))
    vc->matched |= bit;
}

static void on_u64(void *ctx, const char *name, uint64_t v) {
  value_check *vc = ctx;
  uint32_t bit;
  const trace__field_match *f = field_named(vc, name, &bit);
  if (f && f->kind == TRACE__MATCH_U64 && f->v.u64 == v)
    vc->matched |= bit;
}

static void on_f64(void *ctx, const char *name, double v) {
  value_check *vc = ctx;
  uint32_t bit;
  const trace__field_match *f = field_named(vc, name, &bit);
  if (f && f->kind == TRACE__MATCH_F64 && fabs(v - f->v.f64) < DBL_EPSILON)
    vc->matched |= bit;
}

static void on_bool(void *ctx, const char *name, bool v) {
  value_check *vc = ctx;
  uint32_t bit;
  const trace__field_match *f = field_named(vc, name, &bit);
  if (f && f->kind == TRACE__MATCH_BOOL && f->v.b == v)
    vc->matched |= bit;
}

/* Strings, displayed values and formatted values (stored as their text) all match as text. */
static void on_text(void *ctx, const char *name, const char *s, size_t len) {
  value_check *vc = ctx;
  uint32_t bit;
  const trace__field_match *f = field_named(vc, name, &bit);
  if (!f || !s)
    return;
  if ((f->kind == TRACE__MATCH_STR && f->text_len == len && memcmp(f->text, s, len) == 0) ||
      (f->kind == TRACE__MATCH_REGEX && trace__regex_match(f->re, s, len) == TRACE__REGEX_YES))
    vc->matched |= bit;
}

static void on_ptr(void *ctx, const char *name, const void *p) {
  (void)ctx;
  (void)name;
  (void)p; /* addresses never match a directive value */
}

static bool values_match(const trace__directive *d, const trace_span_ref *span) {
  static const trace_visitor visitor = {
      .struct_size = sizeof(trace_visitor),
      .on_i64 = on_i64,
      .on_u64 = on_u64,
      .on_f64 = on_f64,
      .on_bool = on_bool,
      .on_str = on_text,
      .on_ptr = on_ptr,
      .on_text = on_text,
  };
  value_check vc = {d, 0};
  trace_span_ref_visit(span, &visitor, &vc);
  return (vc.matched & d->value_mask) == d->value_mask;
}

int trace__span_level(const trace__directive_set *s, const trace_span_ref *span,
                      const trace_metadata *meta) {
  int best = TRACE_LEVEL_OFF;
  for (size_t i = 0; i < s->ndynamic && best < TRACE_LEVEL_TRACE; i++) {
    const trace__directive *d = s->dynamics[i];
    if (d->level > best && trace__directive_covers(d, meta) &&
        (d->value_mask == 0 || values_match(d, span)))
      best = d->level;
  }
  return best;
}
