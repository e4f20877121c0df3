/* A directive set: the parsed directives with their precedence worked out once, so that matching
 * is a walk from the most specific static directive down, and the normalised text of the set. */
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/compiler.h"
#include "../text/buf.h"
#include "../text/number.h"
#include "directive.h"

void trace__directive_clear(trace__directive *d) {
  trace__free(d->target);
  trace__free(d->span);
  for (uint32_t i = 0; i < d->nfields; i++) {
    trace__free(d->fields[i].name);
    trace__free(d->fields[i].text);
    trace__regex_free(d->fields[i].re);
  }
  trace__free(d->fields);
  memset(d, 0, sizeof *d);
}

void trace__directive_set_free(trace__directive_set *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->ndirs; i++)
    trace__directive_clear(&s->dirs[i]);
  trace__free(s->dirs);
  trace__free(s->statics);
  trace__free(s->dynamics);
  trace__free_lines(s);
}

static bool same_text(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_field(const trace__field_match *a, const trace__field_match *b) {
  if (a->kind != b->kind || strcmp(a->name, b->name) != 0)
    return false;
  switch (a->kind) {
  case TRACE__MATCH_BOOL: return a->v.b == b->v.b;
  case TRACE__MATCH_U64: return a->v.u64 == b->v.u64;
  case TRACE__MATCH_I64: return a->v.i64 == b->v.i64;
  case TRACE__MATCH_F64: return memcmp(&a->v.f64, &b->v.f64, sizeof a->v.f64) == 0;
  case TRACE__MATCH_STR:
  case TRACE__MATCH_REGEX:
    return a->text_len == b->text_len && memcmp(a->text, b->text, a->text_len) == 0;
  default: return true;
  }
}

/* Equal directives select the same thing: the later one replaces the earlier (as in tracing). */
static bool same_selector(const trace__directive *a, const trace__directive *b) {
  if (!same_text(a->target, b->target) || !same_text(a->span, b->span) || a->nfields != b->nfields)
    return false;
  for (uint32_t i = 0; i < a->nfields; i++)
    if (!same_field(&a->fields[i], &b->fields[i]))
      return false;
  return true;
}

/* Most specific first, as tracing-subscriber orders its static directives: a longer target (any
 * target before none), then more field names, then (equally specific) the greater target and the
 * greater list of field names. Two directives that cover one callsite with targets of the same
 * length have the same target, so of the tie-breaks only the field names can decide:
 * "[{a}]=warn,[{b}]=debug" gives DEBUG to a span, whatever the order in the text. */
static int specificity(const void *pa, const void *pb) {
  const trace__directive *a = *(const trace__directive *const *)pa;
  const trace__directive *b = *(const trace__directive *const *)pb;
  long ta = a->target ? (long)a->target_len : -1, tb = b->target ? (long)b->target_len : -1;
  if (ta != tb)
    return ta > tb ? -1 : 1;
  if (a->nfields != b->nfields)
    return a->nfields > b->nfields ? -1 : 1;
  int c = a->target && b->target ? strcmp(a->target, b->target) : 0;
  for (uint32_t i = 0; c == 0 && i < a->nfields; i++)
    c = strcmp(a->fields[i].name, b->fields[i].name);
  if (c != 0)
    return c > 0 ? -1 : 1;
  return a->order > b->order ? -1 : a->order < b->order;
}

int trace__directive_set_new(trace__directive *dirs, size_t n, trace__directive_set **out) {
  /* Read by every thread on each span enter: its cache lines are its own (no false sharing). */
  trace__directive_set *s = trace__alloc_lines(sizeof *s);
  if (!s) {
    for (size_t i = 0; i < n; i++)
      trace__directive_clear(&dirs[i]);
    trace__free(dirs);
    return TRACE_ENOMEM;
  }
  s->dirs = dirs;
  s->ndirs = n;
  s->statics = trace__calloc(n ? n : 1, sizeof *s->statics);
  s->dynamics = trace__calloc(n ? n : 1, sizeof *s->dynamics);
  if (!s->statics || !s->dynamics) {
    trace__directive_set_free(s);
    return TRACE_ENOMEM;
  }
  /* Quadratic, but n is at most 1024 and the comparison usually stops at the target. */
  for (size_t i = 1; i < n; i++)
    for (size_t j = 0; j < i; j++)
      if (!dirs[j].replaced && same_selector(&dirs[j], &dirs[i]))
        dirs[j].replaced = true;
  int max = TRACE_LEVEL_OFF;
  bool values = false;
  s->dyn_max = TRACE_LEVEL_OFF;
  for (size_t i = 0; i < n; i++) {
    const trace__directive *d = &dirs[i];
    /* As in tracing, the maximum levels count replaced directives too: "[job]=warn,[job]=off"
     * keeps WARN as the most verbose level, so job spans (always enabled while a dynamic
     * directive covers them) still exist. */
    max = TRACE__MAX(max, d->level);
    if (d->dynamic)
      s->dyn_max = TRACE__MAX(s->dyn_max, d->level);
    if (d->replaced)
      continue;
    if (d->dynamic) {
      s->dynamics[s->ndynamic++] = d;
      values = values || d->value_mask != 0;
    }
    if (d->is_static)
      s->statics[s->nstatic++] = d;
  }
  qsort(s->statics, s->nstatic, sizeof *s->statics, specificity);
  /* As tracing: with field values to match, spans of any level may have to exist to be
   * entered, so none may be skipped by the global maximum level. */
  s->hint = values ? TRACE_LEVEL_TRACE : max;
  *out = s;
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Normalised text. */

static void put_level(trace__buf *o, int level) {
  static const char *const names[] = {"off", "error", "warn", "info", "debug", "trace"};
  trace__buf_puts(o, names[level]);
}

static void put_value(trace__buf *o, const trace__field_match *f) {
  char num[64];
  switch (f->kind) {
  case TRACE__MATCH_BOOL: trace__buf_puts(o, f->v.b ? "true" : "false"); break;
  case TRACE__MATCH_U64: trace__buf_put(o, num, trace__u64_dec(num, f->v.u64)); break;
  case TRACE__MATCH_I64: trace__buf_put(o, num, trace__i64_dec(num, f->v.i64)); break;
  case TRACE__MATCH_F64: {
    /* The shortest text that reads back to the same double; with a '.' or an exponent so that
     * it reads back as a float, not as an integer. */
    trace__buf b;
    trace__buf_init_fixed(&b, num, sizeof num);
    trace__buf_f64(&b, f->v.f64, false);
    trace__buf_put(o, num, b.len);
    if (!memchr(num, '.', b.len) && !memchr(num, 'e', b.len))
      trace__buf_puts(o, ".0");
    break;
  }
  case TRACE__MATCH_STR:
    trace__buf_putc(o, '"');
    for (size_t i = 0; i < f->text_len; i++) {
      if (f->text[i] == '"' || f->text[i] == '\\')
        trace__buf_putc(o, '\\');
      trace__buf_putc(o, f->text[i]);
    }
    trace__buf_putc(o, '"');
    break;
  case TRACE__MATCH_REGEX: trace__buf_put(o, f->text, f->text_len); break;
  default: break;
  }
}

size_t trace__directive_set_format(const trace__directive_set *s, char *buf, size_t cap) {
  trace__buf o;
  trace__buf_init_snprintf(&o, buf, cap);
  bool first = true;
  for (size_t i = 0; i < s->ndirs; i++) {
    const trace__directive *d = &s->dirs[i];
    if (d->replaced)
      continue;
    if (!first)
      trace__buf_putc(&o, ',');
    first = false;
    if (d->target)
      trace__buf_put(&o, d->target, d->target_len);
    if (d->span || d->nfields) {
      trace__buf_putc(&o, '[');
      if (d->span)
        trace__buf_puts(&o, d->span);
      if (d->nfields) {
        trace__buf_putc(&o, '{');
        for (uint32_t k = 0; k < d->nfields; k++) {
          if (k)
            trace__buf_putc(&o, ',');
          trace__buf_puts(&o, d->fields[k].name);
          if (d->fields[k].kind != TRACE__MATCH_PRESENT) {
            trace__buf_putc(&o, '=');
            put_value(&o, &d->fields[k]);
          }
        }
        trace__buf_putc(&o, '}');
      }
      trace__buf_putc(&o, ']');
    }
    if (d->target || d->span || d->nfields)
      trace__buf_putc(&o, '=');
    put_level(&o, d->level);
  }
  return trace__buf_finish_snprintf(&o);
}
