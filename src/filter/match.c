/* Matching directives against callsites and spans: targets on segment boundaries, span names,
 * declared field names, and field values (typed, exact strings, anchored regular expressions).
 * Regular expressions are checked before regcomp sees them so that neither compiling nor
 * matching can take long on hostile input (glibc expands counted repetitions, and nested ones
 * multiply: "((.{0,100}){0,100}){0,100}" alone exhausts memory). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/compiler.h"
#include "../common/target.h"
#include "directive.h"

/* ---------------------------------------------------------------------------------------- */
/* Regular expressions. */

/* The end of the bracket expression opening at p[i] ('['): the index after its ']', or len if
 * it is not closed (regcomp reports that). A ']' right after '[' or '[^' is a member, and
 * [:class:], [.coll.] and [=equiv=] may contain ']'. */
static size_t skip_bracket(const char *p, size_t i, size_t len) {
  size_t j = i + 1;
  if (j < len && p[j] == '^')
    j++;
  if (j < len && p[j] == ']')
    j++;
  while (j < len && p[j] != ']') {
    if (p[j] == '[' && j + 1 < len && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
      char kind = p[j + 1];
      size_t k = j + 2;
      while (k + 1 < len && !(p[k] == kind && p[k + 1] == ']'))
        k++;
      if (k + 1 >= len)
        return len;
      j = k + 2;
      continue;
    }
    j++;
  }
  return j < len ? j + 1 : len;
}

/* Parses an interval "{n}", "{n,}", "{,m}" or "{n,m}" at p[i]. Returns its length (0 if it is not
 * one: regcomp then judges the brace) and the largest bound in *bound (capped). */
static size_t parse_interval(const char *p, size_t i, size_t len, unsigned long *bound) {
  size_t j = i + 1;
  unsigned long n = 0, m = 0;
  bool digits = false, comma = false;
  for (; j < len && p[j] != '}'; j++) {
    char c = p[j];
    if (c >= '0' && c <= '9') {
      unsigned long *x = comma ? &m : &n;
      *x = *x * 10 + (unsigned long)(c - '0');
      if (*x > 1000000)
        *x = 1000000; /* saturated: "1000000+" in the message */
      digits = true;
    } else if (c == ',' && !comma) {
      comma = true;
    } else {
      return 0;
    }
  }
  if (j >= len || !digits)
    return 0;
  *bound = n > m ? n : m;
  return j - i + 1;
}

/* An open group while vetting a pattern. Weights estimate the size of the tree regcomp builds:
 * glibc copies the operand of '+' (a+ is aa*) and of an interval (a{2,4} is aaa?a?), so stacked
 * or nested repetitions multiply it ("x++++..." doubles with every '+'). */
typedef struct group {
  unsigned long long sum;  /* weight of the group so far */
  unsigned long long last; /* weight of the last atom, with its quantifiers */
  bool has_counted;        /* the group contains an interval */
  bool last_counted;       /* the last atom contains an interval */
  bool has_last;           /* there is an atom to repeat */
  bool last_empty;         /* the last atom can match the empty string */
  bool before_empty;       /* so can everything before it in this alternative */
  bool alt_empty;          /* so can a finished alternative of the group */
  size_t at;               /* where it opened */
} group;

static unsigned long long capped(unsigned long long x) {
  return x < (1ull << 40) ? x : (1ull << 40);
}

static void group_open(group *g, size_t at) {
  memset(g, 0, sizeof *g);
  g->before_empty = true;
  g->at = at;
}

/* A new atom in g (which can match the empty string or not). */
static void group_atom(group *g, unsigned long long weight, bool counted, bool empty) {
  if (g->has_last)
    g->before_empty = g->before_empty && g->last_empty;
  g->has_last = true;
  g->last = weight;
  g->last_counted = counted;
  g->last_empty = empty;
  g->sum = capped(g->sum + weight);
}

static bool group_can_be_empty(const group *g) {
  return g->alt_empty || (g->before_empty && (!g->has_last || g->last_empty));
}

/* Rejects what would make regcomp or regexec slow or the anchoring wrong: back-references,
 * intervals with large bounds, many intervals, intervals of something that contains one, trees
 * that repetitions make too big, repetitions of something that can match the empty string
 * (glibc's regcomp takes exponential time on a few dozen of "(a*)*" or "x*+*"; the fuzzer found
 * it, and they never mean more than the inner repetition), and unbalanced parentheses (an
 * unmatched ')' is a literal to glibc, so "a)|(b" would escape the ^( )$ we wrap the pattern
 * in). */
static bool regex_is_safe(const char *p, size_t len, char *why, size_t cap, size_t *at) {
  group groups[TRACE__FILTER_MAX_REGEX / 2 + 2];
  size_t depth = 0;
  unsigned counted = 0;
  group_open(&groups[0], 0);
  for (size_t i = 0; i < len;) {
    group *g = &groups[depth];
    char c = p[i];
    unsigned long bound = 0;
    size_t interval = c == '{' ? parse_interval(p, i, len, &bound) : 0;
    if (c == '(') {
      if (depth + 1 >= TRACE__ARRAY_LEN(groups)) {
        snprintf(why, cap, "parentheses nested too deeply");
        *at = i;
        return false;
      }
      group_open(&groups[++depth], i);
      i++;
    } else if (c == ')') {
      if (depth == 0) {
        snprintf(why, cap, "unmatched ')'");
        *at = i;
        return false;
      }
      group *parent = &groups[depth - 1];
      parent->has_counted = parent->has_counted || g->has_counted;
      group_atom(parent, capped(g->sum + 1), g->has_counted, group_can_be_empty(g));
      depth--;
      i++;
    } else if (c == '|') {
      g->alt_empty = group_can_be_empty(g);
      g->before_empty = true;
      g->has_last = false;
      g->sum = capped(g->sum + 1);
      i++;
    } else if (c == '*' || c == '+' || c == '?' || interval) {
      unsigned long low = 0;
      size_t n = interval ? interval : 1;
      if (interval) {
        low = strtoul(p + i + 1, NULL, 10); /* "{,m}" reads as 0 */
        if (bound > TRACE__FILTER_MAX_REPEAT) {
          snprintf(why, cap, "repetition bound %lu%s is larger than %d", bound,
                   bound >= 1000000 ? "+" : "", TRACE__FILTER_MAX_REPEAT);
          *at = i;
          return false;
        }
        if (++counted > TRACE__FILTER_MAX_COUNTED) {
          snprintf(why, cap, "more than %d counted repetitions", TRACE__FILTER_MAX_COUNTED);
          *at = i;
          return false;
        }
        if (g->has_last && g->last_counted) {
          snprintf(why, cap, "counted repetition of a counted repetition");
          *at = i;
          return false;
        }
      }
      if (!g->has_last) { /* nothing to repeat: regcomp says so */
        i += n;
        continue;
      }
      if (g->last_empty) {
        snprintf(why, cap, "repetition of something that can match the empty string");
        *at = i;
        return false;
      }
      /* '*' and '?' wrap their operand; '+' copies it once, an interval bound times. */
      unsigned long long grown = c == '{' ? g->last * (bound + 1) + 1
                                 : c == '+' ? 2 * g->last + 1
                                            : g->last + 1;
      grown = capped(grown);
      g->sum = capped(g->sum - g->last + grown);
      g->last = grown;
      if (c == '{')
        g->last_counted = g->has_counted = true;
      g->last_empty = c == '*' || c == '?' || (c == '{' && low == 0);
      i += n;
    } else {
      if (c == '\\' && i + 1 < len && p[i + 1] >= '1' && p[i + 1] <= '9') {
        snprintf(why, cap, "back-reference '\\%c' not allowed", p[i + 1]);
        *at = i;
        return false;
      }
      size_t next = c == '[' ? skip_bracket(p, i, len) : c == '\\' && i + 1 < len ? i + 2 : i + 1;
      /* Anchors match the empty string; everything else is one character. */
      group_atom(g, 1, false, c == '^' || c == '$');
      i = next;
    }
    if (groups[depth].sum > TRACE__FILTER_MAX_WEIGHT) {
      snprintf(why, cap, "regular expression too complex (repetitions)");
      *at = i - 1;
      return false;
    }
  }
  if (depth > 0) {
    snprintf(why, cap, "unmatched '('");
    *at = groups[depth].at;
    return false;
  }
  return true;
}

int trace__regex_compile(trace__field_match *f, const char *pattern, size_t len, char *why,
                         size_t why_cap, size_t *at) {
  if (len > TRACE__FILTER_MAX_REGEX) {
    snprintf(why, why_cap, "regular expression longer than %d bytes", TRACE__FILTER_MAX_REGEX);
    *at = 0;
    return TRACE_EPARSE;
  }
  if (!regex_is_safe(pattern, len, why, why_cap, at))
    return TRACE_EPARSE;
  /* regcomp wants a C string; anchor it so that it must match the whole value. */
  char anchored[TRACE__FILTER_MAX_REGEX + 8];
  anchored[0] = '^';
  anchored[1] = '(';
  memcpy(anchored + 2, pattern, len);
  memcpy(anchored + 2 + len, ")$", 3);
  int rc = regcomp(&f->re, anchored, REG_EXTENDED | REG_NOSUB);
  if (rc == REG_ESPACE)
    return TRACE_ENOMEM;
  if (rc != 0) {
    char text[128];
    regerror(rc, &f->re, text, sizeof text);
    snprintf(why, why_cap, "bad regular expression: %s", text);
    *at = 0;
    return TRACE_EPARSE;
  }
  f->compiled = true;
  return 0;
}

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

const trace__directive *trace__static_decider(const trace__directive_set *s,
                                              const trace_metadata *meta) {
  for (size_t i = 0; i < s->nstatic; i++)
    if (trace__directive_covers(s->statics[i], meta))
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

static bool regex_matches(const trace__field_match *f, const char *s, size_t len) {
#ifdef REG_STARTEND
  /* glibc and the BSDs: the value need not be NUL-terminated. */
  regmatch_t range[1];
  range[0].rm_so = 0;
  range[0].rm_eo = (regoff_t)len;
  return regexec(&f->re, s, 1, range, REG_STARTEND) == 0;
#else
  char small[256];
  char *copy = len < sizeof small ? small : trace__malloc(len + 1);
  if (!copy)
    return false;
  memcpy(copy, s, len);
  copy[len] = '\0';
  bool ok = strlen(copy) == len && regexec(&f->re, copy, 0, NULL, 0) == 0;
  if (copy != small)
    trace__free(copy);
  return ok;
#endif
}

/* Strings, displayed values and formatted values (stored as their text) all match as text. */
static void on_text(void *ctx, const char *name, const char *s, size_t len) {
  value_check *vc = ctx;
  uint32_t bit;
  const trace__field_match *f = field_named(vc, name, &bit);
  if (!f || !s)
    return;
  if ((f->kind == TRACE__MATCH_STR && f->text_len == len && memcmp(f->text, s, len) == 0) ||
      (f->kind == TRACE__MATCH_REGEX && regex_matches(f, s, len)))
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
