/* The filter text parser. The text is first cut into directives at commas that are outside
 * brackets, braces and quotes (tracing cuts at every comma, so "[{a=1,b=2}]" cannot be written
 * there), then each directive is parsed:
 *
 *   directive := LEVEL | TARGET | [TARGET] ['[' [SPAN] ['{' FIELD (',' FIELD)* '}'] ']'] ['=' [LEVEL]]
 *   FIELD     := name ['=' ("quoted" | true | false | number | regex)]
 *
 * Every problem is reported with its byte offset in the whole text: as the error of a strict
 * parse, or as one line on stderr per skipped directive for a lossy one. Any input is safe: the
 * text is bounded (64 KiB, 1024 directives, 32 fields, nesting 64), scanning is linear, and
 * regular expressions are PCRE2's, with limits (regex.c). */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/compiler.h"
#include "../common/warn.h"
#include "../text/buf.h"
#include "../text/escape.h"
#include "directive.h"

typedef struct parser {
  const char *in;
  size_t len;
  bool lossy;
  bool failed; /* strict: the first error is recorded, stop */
  bool oom;
  trace_filter_error *err;
  trace__directive *dirs;
  size_t ndirs, cap;
} parser;

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_control(char c) { return (unsigned char)c < 0x20 || c == 0x7f; }

static void trim(const parser *p, size_t *a, size_t *b) {
  while (*a < *b && is_space(p->in[*a]))
    (*a)++;
  while (*b > *a && is_space(p->in[*b - 1]))
    (*b)--;
}

/* ---------------------------------------------------------------------------------------- */
/* Reporting. */

/* Appends n bytes of s as they may appear in a message: control characters and invalid UTF-8
 * escaped (the text may be binary), at most max bytes shown, "..." after a cut. */
static void show(trace__buf *b, const char *s, size_t n, size_t max) {
  trace__escape(b, s, n > max ? max : n, TRACE__ESC_TEXT);
  if (n > max)
    trace__buf_puts(b, "...");
}

/* A token for a message, in out (which it returns). */
static const char *tok(char *out, size_t cap, const char *s, size_t n) {
  trace__buf b;
  trace__buf_init_fixed(&b, out, cap - 1);
  show(&b, s, n, 32);
  out[b.len] = '\0';
  return out;
}

/* The directive [start, end) has a problem at offset at: record it (strict) or print it. */
static void report(parser *p, size_t start, size_t end, size_t at, const char *fmt, ...)
    TRACE__PRINTF(5, 6);
static void report(parser *p, size_t start, size_t end, size_t at, const char *fmt, ...) {
  char reason[192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  trim(p, &start, &end);
  if (!p->lossy) {
    if (p->failed)
      return;
    p->failed = true;
    if (!p->err)
      return;
    p->err->offset = at;
    trace__buf b;
    trace__buf_init_fixed(&b, p->err->directive, sizeof p->err->directive - 1);
    show(&b, p->in + start, end - start, 96);
    p->err->directive[b.len] = '\0';
    snprintf(p->err->message, sizeof p->err->message, "%s at %zu", reason, at);
    return;
  }
  char line[768];
  trace__buf b;
  trace__buf_init_fixed(&b, line, sizeof line);
  trace__buf_puts(&b, "trace: ignoring '");
  show(&b, p->in + start, end - start, 200);
  trace__buf_puts(&b, "': ");
  trace__buf_puts(&b, reason);
  char at_text[32];
  int n = snprintf(at_text, sizeof at_text, " at %zu\n", at);
  trace__buf_put(&b, at_text, (size_t)n);
  if (b.truncated) /* keep the line a line */
    b.data[b.len - 1] = '\n';
  trace__warn(line, b.len);
}

/* ---------------------------------------------------------------------------------------- */
/* Structure: brackets, braces, quotes and escapes. */

typedef struct problem {
  bool set;
  size_t at;
  char text[96];
} problem;

static void problem_at(problem *pr, size_t at, const char *fmt, ...) TRACE__PRINTF(3, 4);
static void problem_at(problem *pr, size_t at, const char *fmt, ...) {
  if (pr->set)
    return;
  pr->set = true;
  pr->at = at;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pr->text, sizeof pr->text, fmt, ap);
  va_end(ap);
}

/* The index after the quoted run starting at in[i] ('"'), or len if it is not closed. */
static size_t skip_quoted(const parser *p, size_t i, size_t end) {
  size_t k = i + 1;
  while (k < end && p->in[k] != '"')
    k += p->in[k] == '\\' && k + 1 < end ? 2 : 1;
  return k < end ? k + 1 : end + 1;
}

/* Scans one directive from `from`: returns the index of the comma that ends it (outside
 * brackets, braces and quotes) or the end of the text. After a structural problem (which *pr
 * describes) any comma ends the directive, so a lossy parse loses as little as possible. */
static size_t scan_directive(const parser *p, size_t from, problem *pr) {
  char open[TRACE__FILTER_MAX_NESTING];
  size_t open_at[TRACE__FILTER_MAX_NESTING];
  size_t depth = 0;
  size_t j = from;
  while (j < p->len) {
    char c = p->in[j];
    if (c == '\\') {
      j += j + 1 < p->len ? 2 : 1;
      continue;
    }
    if (c == '"') {
      size_t k = skip_quoted(p, j, p->len);
      if (k > p->len) {
        problem_at(pr, j, "unterminated quote");
        return p->len;
      }
      j = k;
      continue;
    }
    if (c == ',' && (depth == 0 || pr->set))
      return j;
    if (!pr->set && (c == '[' || c == '{')) {
      if (depth == TRACE__FILTER_MAX_NESTING) {
        problem_at(pr, j, "nesting deeper than %d", TRACE__FILTER_MAX_NESTING);
      } else {
        open[depth] = c;
        open_at[depth++] = j;
      }
    } else if (!pr->set && (c == ']' || c == '}')) {
      char want = c == ']' ? '[' : '{';
      if (depth == 0)
        problem_at(pr, j, "unexpected '%c'", c);
      else if (open[depth - 1] != want)
        problem_at(pr, j, "unexpected '%c' (the '%c' at %zu is still open)", c, open[depth - 1],
                   open_at[depth - 1]);
      else
        depth--;
    }
    j++;
  }
  if (!pr->set && depth > 0)
    problem_at(pr, open_at[depth - 1], "unclosed '%c'", open[depth - 1]);
  return j;
}

/* The first index in [from, to) holding one of chars outside brackets, braces and quotes
 * (relative to from), or to. The structure of the range is known to be sound. */
static size_t find_top(const parser *p, size_t from, size_t to, const char *chars) {
  size_t depth = 0;
  for (size_t j = from; j < to;) {
    char c = p->in[j];
    if (c == '\\') {
      j += 2;
      continue;
    }
    if (c == '"') {
      j = skip_quoted(p, j, to);
      continue;
    }
    if (depth == 0 && strchr(chars, c))
      return j;
    if (c == '[' || c == '{')
      depth++;
    else if (c == ']' || c == '}')
      depth--;
    j++;
  }
  return to;
}

/* The index of the bracket or brace closing the one at open: the first closing one at the top
 * level of what follows it. */
static size_t find_close(const parser *p, size_t open, size_t to) {
  return find_top(p, open + 1, to, "]}");
}

/* ---------------------------------------------------------------------------------------- */
/* Pieces. */

static int parse_level(const char *s, size_t n) {
  static const char *const names[] = {"off", "error", "warn", "info", "debug", "trace"};
  if (n == 1 && s[0] >= '0' && s[0] <= '5')
    return s[0] - '0';
  for (int l = 0; l < (int)TRACE__ARRAY_LEN(names); l++) {
    size_t k = 0;
    if (strlen(names[l]) != n)
      continue;
    /* ASCII case folding: the locale must not change what a level is called. */
    while (k < n && (s[k] | 0x20) == names[l][k])
      k++;
    if (k == n)
      return l;
  }
  return -1;
}

/* The first byte of [a, b) that may not appear in a name (targets, span and field names), or b.
 * Spaces are allowed inside span names only. */
static size_t bad_name_char(const parser *p, size_t a, size_t b, bool spaces) {
  for (size_t k = a; k < b; k++) {
    char c = p->in[k];
    if (is_control(c) || (is_space(c) && !spaces) || strchr("[]{}=,\"\\", c))
      return k;
  }
  return b;
}

static char *copy(parser *p, size_t a, size_t b) {
  char *s = trace__strndup(p->in + a, b - a);
  if (!s)
    p->oom = true;
  return s;
}

/* A C locale for strtod_l: the application's locale must not change what 0.5 means. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* true/false, then u64 (digits, optional '+'), then negative i64, then a finite f64 (only the
 * characters of a decimal number), as tracing tries bool, u64, i64, f64. */
static bool parse_typed(trace__field_match *f, const char *s, size_t n) {
  if (n == 4 && memcmp(s, "true", 4) == 0) {
    f->kind = TRACE__MATCH_BOOL;
    f->v.b = true;
    return true;
  }
  if (n == 5 && memcmp(s, "false", 5) == 0) {
    f->kind = TRACE__MATCH_BOOL;
    f->v.b = false;
    return true;
  }
  bool neg = s[0] == '-';
  size_t i = s[0] == '+' || neg ? 1 : 0;
  size_t digits = 0;
  uint64_t u = 0;
  bool overflow = false;
  for (; i + digits < n && s[i + digits] >= '0' && s[i + digits] <= '9'; digits++) {
    unsigned d = (unsigned)(s[i + digits] - '0');
    if (u > (UINT64_MAX - d) / 10)
      overflow = true;
    u = u * 10 + d;
  }
  if (digits > 0 && i + digits == n && !overflow) {
    if (!neg) {
      f->kind = TRACE__MATCH_U64;
      f->v.u64 = u;
      return true;
    }
    /* Only negative values are i64 ("-0" is not: it reads as the f64 -0.0). */
    if (u > 0 && u <= (uint64_t)INT64_MAX + 1) {
      f->kind = TRACE__MATCH_I64;
      f->v.i64 = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
      return true;
    }
  }
  char text[512];
  if (n >= sizeof text)
    return false;
  memcpy(text, s, n);
  text[n] = '\0';
  if (strspn(text, "0123456789+-.eE") != n || !strpbrk(text, "0123456789"))
    return false;
  pthread_once(&c_locale_once, make_c_locale);
  char *end;
  double x = c_locale ? strtod_l(text, &end, c_locale) : strtod(text, &end);
  if (end != text + n || !isfinite(x))
    return false;
  f->kind = TRACE__MATCH_F64;
  f->v.f64 = x;
  return true;
}

/* The string of the quoted value starting at in[a] ('"') into f: \" and \\ are escapes, any
 * other backslash is kept. Returns the index after the closing quote. */
static size_t parse_quoted(parser *p, size_t a, size_t b, trace__field_match *f) {
  char *s = trace__malloc(b - a);
  if (!s) {
    p->oom = true;
    return b;
  }
  size_t n = 0, k = a + 1;
  while (k < b && p->in[k] != '"') {
    if (p->in[k] == '\\' && k + 1 < b && (p->in[k + 1] == '"' || p->in[k + 1] == '\\'))
      k++;
    s[n++] = p->in[k++];
  }
  s[n] = '\0';
  f->kind = TRACE__MATCH_STR;
  f->text = s;
  f->text_len = n;
  return k + 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Directives. */

static void field_clear(trace__field_match *f) {
  trace__free(f->name);
  trace__free(f->text);
  trace__regex_free(f->re);
  memset(f, 0, sizeof *f);
}

/* Parses the field [a, b) of the directive [ds, de) into f. false after a report. */
static bool parse_field(parser *p, size_t ds, size_t de, size_t a, size_t b,
                        const trace__field_match *prev, uint32_t nprev, trace__field_match *f) {
  size_t fa = a, fb = b;
  char t[256];
  trim(p, &fa, &fb);
  if (fa == fb) {
    report(p, ds, de, a, "empty field");
    return false;
  }
  size_t eq = find_top(p, fa, fb, "=");
  size_t na = fa, nb = eq;
  trim(p, &na, &nb);
  if (na == nb) {
    report(p, ds, de, fa, "missing field name");
    return false;
  }
  size_t bad = bad_name_char(p, na, nb, false);
  if (bad < nb) {
    report(p, ds, de, bad, "invalid character '%s' in field name", tok(t, sizeof t, p->in + bad, 1));
    return false;
  }
  for (uint32_t i = 0; i < nprev; i++) {
    if (strlen(prev[i].name) == nb - na && memcmp(prev[i].name, p->in + na, nb - na) == 0) {
      report(p, ds, de, na, "duplicate field '%s'", tok(t, sizeof t, p->in + na, nb - na));
      return false;
    }
  }
  if (!(f->name = copy(p, na, nb)))
    return false;
  if (eq == fb)
    return true; /* a name alone: the field must be declared */
  size_t va = eq + 1, vb = fb;
  trim(p, &va, &vb);
  if (va == vb) {
    report(p, ds, de, eq + 1, "missing value for field '%s'", tok(t, sizeof t, p->in + na, nb - na));
    return false;
  }
  if (p->in[va] == '"') {
    size_t after = parse_quoted(p, va, vb, f);
    if (p->oom)
      return false;
    if (after < vb) {
      report(p, ds, de, after, "unexpected '%s' after the closing quote",
             tok(t, sizeof t, p->in + after, 1));
      return false;
    }
    return true;
  }
  if (parse_typed(f, p->in + va, vb - va))
    return true;
  char why[160];
  size_t at = 0;
  f->kind = TRACE__MATCH_REGEX;
  if (!(f->text = copy(p, va, vb)))
    return false;
  f->text_len = vb - va;
  int rc = trace__regex_compile(p->in + va, vb - va, &f->re, why, sizeof why, &at);
  if (rc == TRACE_ENOMEM)
    p->oom = true;
  else if (rc != 0)
    report(p, ds, de, va + at, "%s", why);
  return rc == 0;
}

static int field_order(const void *a, const void *b) {
  return strcmp(((const trace__field_match *)a)->name, ((const trace__field_match *)b)->name);
}

/* Parses the field list [a, b) (inside the braces) into d. false after a report. */
static bool parse_fields(parser *p, size_t ds, size_t de, size_t a, size_t b, trace__directive *d) {
  trace__field_match fields[TRACE__FILTER_MAX_FIELDS];
  uint32_t n = 0;
  bool ok = true;
  for (size_t k = a;;) {
    size_t comma = find_top(p, k, b, ",");
    if (n == TRACE__FILTER_MAX_FIELDS) {
      report(p, ds, de, k, "more than %d fields", TRACE__FILTER_MAX_FIELDS);
      ok = false;
      break;
    }
    memset(&fields[n], 0, sizeof fields[n]);
    if (!parse_field(p, ds, de, k, comma, fields, n, &fields[n])) {
      field_clear(&fields[n]);
      ok = false;
      break;
    }
    n++;
    if (comma >= b)
      break;
    k = comma + 1;
  }
  if (ok && !(d->fields = trace__malloc(n * sizeof *fields))) {
    p->oom = true;
    ok = false;
  }
  if (!ok) {
    for (uint32_t i = 0; i < n; i++)
      field_clear(&fields[i]);
    return false;
  }
  /* Sorted by name: equal directives compare field by field, and the spec reads the same. */
  qsort(fields, n, sizeof *fields, field_order);
  memcpy(d->fields, fields, n * sizeof *fields);
  d->nfields = n;
  for (uint32_t i = 0; i < n; i++)
    if (fields[i].kind != TRACE__MATCH_PRESENT)
      d->value_mask |= 1u << i;
  return true;
}

static void add(parser *p, trace__directive *d) {
  if (p->ndirs == p->cap && !trace__grow_array(&p->dirs, &p->cap, sizeof *p->dirs, 8)) {
    trace__directive_clear(d);
    p->oom = true;
    return;
  }
  d->order = (uint32_t)p->ndirs;
  p->dirs[p->ndirs++] = *d;
}

/* Parses the target and the [span{fields}] part [a, b) into d. false after a report. */
static bool parse_selector(parser *p, size_t ds, size_t de, size_t a, size_t b,
                           trace__directive *d) {
  char t[256];
  size_t lb = find_top(p, a, b, "[");
  size_t ta = a, tb = lb;
  trim(p, &ta, &tb);
  size_t bad = bad_name_char(p, ta, tb, false);
  if (bad < tb) {
    char c = p->in[bad];
    if (c == '{')
      report(p, ds, de, bad, "unexpected '{' (fields go inside '[...]')");
    else
      report(p, ds, de, bad, "invalid character '%s' in target", tok(t, sizeof t, p->in + bad, 1));
    return false;
  }
  if (ta < tb) {
    if (!(d->target = copy(p, ta, tb)))
      return false;
    d->target_len = tb - ta;
  }
  if (lb == b)
    return true;
  size_t rb = find_close(p, lb, b);
  for (size_t k = rb + 1; k < b; k++) {
    if (!is_space(p->in[k])) {
      report(p, ds, de, k, "unexpected '%s' after ']'", tok(t, sizeof t, p->in + k, 1));
      return false;
    }
  }
  size_t lc = find_top(p, lb + 1, rb, "{");
  size_t sa = lb + 1, sb = lc;
  trim(p, &sa, &sb);
  bad = bad_name_char(p, sa, sb, true);
  if (bad < sb) {
    report(p, ds, de, bad, "invalid character '%s' in span name", tok(t, sizeof t, p->in + bad, 1));
    return false;
  }
  if (sa == sb && lc == rb) {
    report(p, ds, de, lb, "empty '[]'");
    return false;
  }
  if (sa < sb && !(d->span = copy(p, sa, sb)))
    return false;
  if (lc == rb)
    return true;
  size_t rc = find_close(p, lc, rb);
  for (size_t k = rc + 1; k < rb; k++) {
    if (!is_space(p->in[k])) {
      report(p, ds, de, k, "unexpected '%s' after '}'", tok(t, sizeof t, p->in + k, 1));
      return false;
    }
  }
  size_t fa = lc + 1, fb = rc;
  trim(p, &fa, &fb);
  if (fa == fb) {
    report(p, ds, de, lc, "empty field list '{}'");
    return false;
  }
  return parse_fields(p, ds, de, lc + 1, rc, d);
}

/* Parses the directive [ds, de) (sound structure) and adds it, or reports why not. */
static void parse_directive(parser *p, size_t ds, size_t de) {
  char t[256];
  size_t a = ds, b = de;
  trim(p, &a, &b);
  if (a == b) {
    report(p, ds, de, a, "empty directive");
    return;
  }
  trace__directive d;
  memset(&d, 0, sizeof d);
  size_t eq = find_top(p, a, b, "=");
  if (eq < b) {
    size_t again = find_top(p, eq + 1, b, "=");
    if (again < b) {
      report(p, ds, de, again, "unexpected '='");
      return;
    }
  }
  size_t la = a, lb = eq;
  trim(p, &la, &lb);
  d.level = TRACE_LEVEL_TRACE; /* a target alone, or an empty level, means everything */
  if (eq < b) {
    size_t va = eq + 1, vb = b;
    trim(p, &va, &vb);
    if (va < vb && (d.level = parse_level(p->in + va, vb - va)) < 0) {
      report(p, ds, de, va, "unknown level '%s'", tok(t, sizeof t, p->in + va, vb - va));
      return;
    }
    if (la == lb) {
      report(p, ds, de, a, "missing target before '='");
      return;
    }
  } else if (find_top(p, la, lb, "[") == lb) {
    int level = parse_level(p->in + la, lb - la);
    if (level >= 0) { /* a bare level: everything at that level */
      d.level = level;
      d.is_static = true;
      add(p, &d);
      return;
    }
  }
  if (!parse_selector(p, ds, de, la, lb, &d)) {
    trace__directive_clear(&d);
    return;
  }
  d.is_static = d.span == NULL && d.value_mask == 0;
  d.dynamic = d.span != NULL || d.nfields != 0;
  add(p, &d);
}

static void parse_all(parser *p) {
  size_t k = 0;
  while (k < p->len && is_space(p->in[k]))
    k++;
  if (k == p->len)
    return; /* no directive at all (the empty filter) */
  size_t start = 0;
  for (unsigned count = 0;; count++) {
    problem pr;
    pr.set = false;
    size_t end = scan_directive(p, start, &pr);
    if (count == TRACE__FILTER_MAX_DIRECTIVES) {
      report(p, start, p->len, start, "more than %d directives", TRACE__FILTER_MAX_DIRECTIVES);
      return;
    }
    if (pr.set)
      report(p, start, end, pr.at, "%s", pr.text);
    else
      parse_directive(p, start, end);
    if (p->failed || p->oom || end >= p->len)
      return;
    start = end + 1;
  }
}

int trace__filter_parse(const char *spec, bool lossy, trace__directive_set **out,
                        trace_filter_error *err) {
  parser p;
  memset(&p, 0, sizeof p);
  p.in = spec;
  p.len = strnlen(spec, TRACE__FILTER_MAX_INPUT + 1);
  p.lossy = lossy;
  p.err = err;
  *out = NULL;
  if (p.len > TRACE__FILTER_MAX_INPUT)
    report(&p, 0, p.len, TRACE__FILTER_MAX_INPUT, "filter longer than %d bytes",
           TRACE__FILTER_MAX_INPUT);
  else
    parse_all(&p);
  if (!p.oom && !p.failed && p.ndirs == 0 && lossy) {
    trace__directive d; /* nothing usable: tracing's default, ERROR */
    memset(&d, 0, sizeof d);
    d.level = TRACE_LEVEL_ERROR;
    d.is_static = true;
    add(&p, &d);
  }
  if (p.oom || p.failed) {
    for (size_t i = 0; i < p.ndirs; i++)
      trace__directive_clear(&p.dirs[i]);
    trace__free(p.dirs);
    return p.oom ? TRACE_ENOMEM : TRACE_EPARSE;
  }
  return trace__directive_set_new(p.dirs, p.ndirs, out);
}
