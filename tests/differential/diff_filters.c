/* The env-filter differential test: libtrace's side of it, and the driver that compares it with
 * tracing-subscriber's (tracing/src/main.rs runs the same scenario under EnvFilter).
 *
 *   diff_filters generate COUNT SEED           the filters, one per line, generated from SEED
 *   diff_filters compare COUNT SEED TRACING    runs every filter under libtrace and compares with
 *                                              tracing's results (the lines tracing/src/main.rs
 *                                              printed for the same filters); exit status 1 on any
 *                                              difference that is not a documented deviation
 *
 * The scenario: events of every level for eight targets (and events that declare user_id or
 * team) in eleven contexts: at the root, inside conn, conn>request, conn>request>query, and so on
 * (see scenario()). For each filter both sides print which events and spans got through. Both
 * sides' filters are the registry's (tracing: registry().with(filter).with(recorder)).
 *
 * A difference is accepted only when the filter uses a feature listed in the deviation table of
 * docs/filtering.md ("Differences from tracing-subscriber"), and only when that feature can change
 * the outcome for this scenario: deviations() decides it per filter, each check naming its row.
 * Such a filter is skipped whole and counted under its row; every other filter must agree exactly,
 * parse errors included. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trace.h>
#include <trace/env_filter.h>
#include <trace/registry.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------- */
/* The scenario (keep it identical to tracing/src/main.rs). */

enum { PER_CONTEXT = 50, CONTEXTS = 11, SPANS = 6, EVENTS = PER_CONTEXT * CONTEXTS };

/* The targets of the scenario's events, in the order emit_all emits them. */
static const char *const emit_order[] = {"app",     "app::net", "app::net::http", "app2",
                                         "app.net", "db",       "db_pool",        "h2"};
static const char *const context_names[] = {"root",  "conn",  "conn>request", "conn>request>query",
                                            "conn>request (back)", "conn (back)", "conn>idle",
                                            "root (back)", "request#2", "job", "root (end)"};
static const char *const span_names[] = {"conn", "request", "query", "idle", "request#2", "job"};

/* Five events, ERROR to TRACE, carrying the indexes n to n + 4 as their message; FIVE_WITH also
 * declares a field. */
#define FIVE_WITH(target, n, field)                                                                \
  do {                                                                                             \
    unsigned n_ = (n);                                                                             \
    TRACE_EVENT_AT(target, TRACE_LEVEL_ERROR, field, "%u", n_);                                    \
    TRACE_EVENT_AT(target, TRACE_LEVEL_WARN, field, "%u", n_ + 1);                                 \
    TRACE_EVENT_AT(target, TRACE_LEVEL_INFO, field, "%u", n_ + 2);                                 \
    TRACE_EVENT_AT(target, TRACE_LEVEL_DEBUG, field, "%u", n_ + 3);                                \
    TRACE_EVENT_AT(target, TRACE_LEVEL_TRACE, field, "%u", n_ + 4);                                \
  } while (0)
#define FIVE(target, n)                                                                            \
  do {                                                                                             \
    unsigned n_ = (n);                                                                             \
    TRACE_EVENT_AT(target, TRACE_LEVEL_ERROR, "%u", n_);                                           \
    TRACE_EVENT_AT(target, TRACE_LEVEL_WARN, "%u", n_ + 1);                                        \
    TRACE_EVENT_AT(target, TRACE_LEVEL_INFO, "%u", n_ + 2);                                        \
    TRACE_EVENT_AT(target, TRACE_LEVEL_DEBUG, "%u", n_ + 3);                                       \
    TRACE_EVENT_AT(target, TRACE_LEVEL_TRACE, "%u", n_ + 4);                                       \
  } while (0)

static void emit_all(unsigned context) {
  unsigned base = context * PER_CONTEXT;
  FIVE("app", base);
  FIVE("app::net", base + 5);
  FIVE("app::net::http", base + 10);
  FIVE("app2", base + 15);
  FIVE("app.net", base + 20);
  FIVE("db", base + 25);
  FIVE("db_pool", base + 30);
  FIVE("h2", base + 35);
  FIVE_WITH("app", base + 40, TF(user_id, (int64_t)7));
  FIVE_WITH("db", base + 45, TF(team, "core"));
}

static trace_span request(const char *path, int64_t user_id, int64_t delta) {
  return TRACE_SPAN_AT("app::net", TRACE_LEVEL_INFO, "request", TF(path, path),
                       TF(user_id, user_id), TF(delta, delta), TF(method, "GET"));
}

static void scenario(bool spans[SPANS]) {
  emit_all(0);
  trace_span conn = TRACE_SPAN_AT("app", TRACE_LEVEL_INFO, "conn", TF(peer, "10.0.0.7"),
                                  TF(tls, (bool)true), TF(port, (uint64_t)8080), TF(load, 0.5));
  spans[0] = !trace_span_is_none(&conn);
  trace_span_enter(&conn);
  emit_all(1);
  trace_span req = request("/z", 42, -3);
  spans[1] = !trace_span_is_none(&req);
  trace_span_enter(&req);
  emit_all(2);
  trace_span query = TRACE_SPAN_AT("db", TRACE_LEVEL_DEBUG, "query", TF(sql, "SELECT 1"),
                                   TF(rows, (uint64_t)3));
  spans[2] = !trace_span_is_none(&query);
  trace_span_enter(&query);
  emit_all(3);
  trace_span_exit(&query);
  emit_all(4);
  trace_span_exit(&req);
  emit_all(5);
  trace_span idle = TRACE_SPAN_AT("h2", TRACE_LEVEL_TRACE, "idle");
  spans[3] = !trace_span_is_none(&idle);
  trace_span_enter(&idle);
  emit_all(6);
  trace_span_exit(&idle);
  trace_span_exit(&conn);
  emit_all(7);
  trace_span req2 = request("/a/b", 7, 3);
  spans[4] = !trace_span_is_none(&req2);
  trace_span_enter(&req2);
  emit_all(8);
  trace_span_exit(&req2);
  trace_span job = TRACE_SPAN_AT("app", TRACE_LEVEL_WARN, "job", TF(status, TRACE_EMPTY),
                                 TF(owner, "ops"));
  TRACE_RECORD(&job, status, (int64_t)500);
  spans[5] = !trace_span_is_none(&job);
  trace_span_enter(&job);
  emit_all(9);
  trace_span_exit(&job);
  emit_all(10);
  trace_span_close(&query);
  trace_span_close(&req);
  trace_span_close(&idle);
  trace_span_close(&conn);
  trace_span_close(&req2);
  trace_span_close(&job);
}

/* The string values the scenario gives each field (what a regular expression or a quoted value
 * can meet), NULL-terminated; fields not listed hold no string. */
typedef struct string_field {
  const char *name;
  const char *values[3];
} string_field;

static const string_field string_fields[] = {
    {"peer", {"10.0.0.7", NULL}}, {"path", {"/z", "/a/b", NULL}}, {"method", {"GET", NULL}},
    {"sql", {"SELECT 1", NULL}},  {"owner", {"ops", NULL}},       {"team", {"core", NULL}},
};

static const char *const *string_values(const char *field) {
  for (size_t i = 0; i < N_OF(string_fields); i++)
    if (strcmp(string_fields[i].name, field) == 0)
      return string_fields[i].values;
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Running a filter under libtrace. */

static void on_event(void *self, const trace_event *ev, const trace_ctx *ctx) {
  (void)ctx;
  char msg[32];
  trace_event_message(ev, msg, sizeof msg);
  unsigned long i = strtoul(msg, NULL, 10);
  if (i < EVENTS)
    ((char *)self)[i] = '1';
}

static const trace_layer_vtable recorder = {
    .struct_size = sizeof(trace_layer_vtable),
    .on_event = on_event,
};

/* Fills out with tracing's line format ("E<bits> S<bits>", or "ERR <reason>"). */
static void run_libtrace(const char *spec, char *out, size_t cap) {
  trace_env_filter *f = NULL;
  trace_filter_error err;
  if (trace_env_filter_parse(spec, &f, &err) != 0) {
    snprintf(out, cap, "ERR %s", err.message);
    return;
  }
  char events[EVENTS + 1];
  memset(events, '0', EVENTS);
  events[EVENTS] = '\0';
  trace_registry *reg = trace_registry_new();
  if (!reg || trace_registry_add_layer(reg, trace_layer_new(&recorder, events, 0, 0), NULL) != 0 ||
      trace_registry_set_filter(reg, trace_env_filter_as_filter(f)) != 0) {
    fprintf(stderr, "diff_filters: could not set up a registry\n");
    exit(2);
  }
  trace_env_filter_release(f);
  trace_dispatch *d = trace_registry_dispatch(reg);
  trace_default_guard g = trace_set_default(d);
  bool spans[SPANS];
  scenario(spans);
  trace_default_guard_restore(&g);
  trace_dispatch_release(d);
  char sbits[SPANS + 1];
  for (int i = 0; i < SPANS; i++)
    sbits[i] = spans[i] ? '1' : '0';
  sbits[SPANS] = '\0';
  snprintf(out, cap, "E%s S%s", events, sbits);
}

/* ---------------------------------------------------------------------------------------- */
/* Generated filters. */

static uint64_t rng_state;

static uint64_t next_random(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static size_t pick(size_t n) { return (size_t)(next_random() % n); }
#define PICK(a) ((a)[pick(N_OF(a))])

typedef struct field_choice {
  const char *name;
  const char *values[12]; /* NULL-terminated */
} field_choice;

/* Values for each field: matching and not, of its own type and of others, quoted and not, and
 * regular expressions in Rust's syntax that tracing's directive grammar can carry (no ',', ']',
 * '}', '=' or anchors, which it cannot parse). */
static const field_choice field_choices[] = {
    {"peer", {"\"10.0.0.7\"", "10\\.0\\..*", ".*\\.7", "\\d+\\.\\d+\\.\\d+\\.\\d+", "10.0.0.7",
              "0\\.7", "10\\.1\\..*", "(?i)10.0.0.7", "10.*?7", "\\d", NULL}},
    {"tls", {"true", "false", "1", "\"true\"", "t.*", NULL}},
    {"port", {"8080", "+8080", "08080", "8081", "8080.0", "\"8080\"", "80.*", NULL}},
    {"load", {"0.5", "0.25", "5e-1", ".5", "1", "\"0.5\"", "0\\.5", NULL}},
    {"path", {"/z", "\"/z\"", "/.*", "/a/b", "/a/b|/z", "/z|/a/b", "/\\w", "z", "b", "\\w",
              "(?i)/Z", NULL}},
    {"user_id", {"42", "7", "+42", "0042", "-42", "43", "4.2e1", "\"42\"", "4\\d", NULL}},
    {"delta", {"-3", "3", "+3", "-3.0", "\"-3\"", "-\\d", NULL}},
    {"method", {"GET", "\"GET\"", "(?i)get", "G.*", "G.*?", "ET", "T", "G|GE|GET", "GET|G",
                "\\w+", "\\p{Lu}+", NULL}},
    {"sql", {"SELECT\\s\\d", "SELECT.*", "\"SELECT 1\"", "(?i)select 1", "\\d", NULL}},
    {"rows", {"3", "4", "\"3\"", NULL}},
    {"status", {"500", "5\\d\\d", "501", NULL}},
    {"owner", {"ops", "\"ops\"", "o.s", "(?i)OPS", "p.*", NULL}},
    {"team", {"core", "\"core\"", "c.*", NULL}},
    {"nope", {"1", "x", NULL}},
};

static const char *const directive_targets[] = {
    "app", "app::net", "app::net::http", "app2", "db", "db_pool", "h2", "ap", "app::",
    "app::n", "db_", "x", "app::net::http::deep", "app.net", "app/net", "app_2",
};
static const char *const directive_spans[] = {"conn", "request", "query", "idle", "job", "nope"};
static const char *const levels[] = {"off",  "error", "warn", "info", "debug", "trace", "OFF",
                                     "Info", "DEBUG", "0",    "1",    "2",     "3",     "4",
                                     "5",    "WaRn"};

typedef struct field_spec {
  const char *name;
  const char *value; /* NULL: the name alone */
} field_spec;

typedef struct directive_spec {
  const char *target; /* NULL: none */
  const char *span;   /* NULL: none */
  field_spec fields[2];
  int nfields;
  const char *level; /* NULL: no '='; "" : '=' and no level */
  bool bare_level;   /* the level alone */
} directive_spec;

typedef struct filter_spec {
  directive_spec d[5];
  int n;
  char text[512];
} filter_spec;

static const field_choice *random_field(void) { return &PICK(field_choices); }

static const char *random_value(const field_choice *f) {
  size_t n = 0;
  while (f->values[n])
    n++;
  return f->values[pick(n)];
}

static const char *random_level_or_none(void) {
  size_t r = pick(10);
  return r == 0 ? NULL : r == 1 ? "" : PICK(levels);
}

static void random_directive(directive_spec *d) {
  memset(d, 0, sizeof *d);
  size_t kind = pick(100);
  if (kind < 15) {
    d->bare_level = true;
    d->level = PICK(levels);
    return;
  }
  d->level = random_level_or_none();
  if (kind < 45) {
    d->target = PICK(directive_targets);
    return;
  }
  if (pick(3) == 0)
    d->target = PICK(directive_targets);
  if (kind < 60) { /* a span name */
    d->span = PICK(directive_spans);
    return;
  }
  if (pick(2) == 0)
    d->span = PICK(directive_spans);
  const field_choice *f = random_field();
  d->nfields = 1;
  d->fields[0].name = f->name;
  if (kind >= 75) /* a field value */
    d->fields[0].value = random_value(f);
  if (kind >= 97) { /* two fields in one directive */
    const field_choice *g = random_field();
    if (strcmp(g->name, f->name) != 0) {
      d->fields[1].name = g->name;
      d->fields[1].value = pick(2) ? random_value(g) : NULL;
      d->nfields = 2;
    }
  }
}

static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strlen(buf);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

static void format_directive(const directive_spec *d, char *buf, size_t cap) {
  if (d->bare_level) {
    append(buf, cap, "%s", d->level);
    return;
  }
  if (d->target)
    append(buf, cap, "%s", d->target);
  if (d->span || d->nfields) {
    append(buf, cap, "[%s", d->span ? d->span : "");
    for (int i = 0; i < d->nfields; i++) {
      append(buf, cap, "%s%s", i ? "," : "{", d->fields[i].name);
      if (d->fields[i].value)
        append(buf, cap, "=%s", d->fields[i].value);
    }
    append(buf, cap, "%s]", d->nfields ? "}" : "");
  }
  if (d->level)
    append(buf, cap, "=%s", d->level);
}

static void generate(filter_spec *f) {
  memset(f, 0, sizeof *f);
  f->n = 1 + (int)pick(4);
  for (int i = 0; i < f->n; i++) {
    random_directive(&f->d[i]);
    /* Now and then the same selector again with another level: the later one replaces it. */
    if (i > 0 && pick(8) == 0) {
      f->d[i] = f->d[pick((size_t)i)];
      f->d[i].level = PICK(levels);
    }
  }
  for (int i = 0; i < f->n; i++) {
    if (i)
      append(f->text, sizeof f->text, ",");
    format_directive(&f->d[i], f->text, sizeof f->text);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* The documented deviations (docs/filtering.md, "Differences from tracing-subscriber"). Each
 * check says whether a filter uses the feature in a way that can change this scenario's outcome. */

static bool segment_covers(const char *target, const char *prefix) {
  size_t len = strlen(prefix);
  if (strncmp(target, prefix, len) != 0)
    return false;
  char next = target[len];
  return next == '\0' || next == '.' || next == '/' || (next == ':' && target[len + 1] == ':');
}

/* Row "Targets match on segment boundaries": app does not cover app2 here; tracing's
 * starts_with does. Only a directive target that is a prefix of a scenario target without
 * ending on a segment boundary tells the two apart, and then only for the callsites of that
 * target: returns them as a bit per emit_order entry. */
static unsigned segment_targets(const directive_spec *d) {
  unsigned bits = 0;
  for (size_t i = 0; d->target && i < N_OF(emit_order); i++) {
    const char *t = emit_order[i];
    if ((strncmp(t, d->target, strlen(d->target)) == 0) != segment_covers(t, d->target))
      bits |= 1u << i;
  }
  return bits;
}

/* The targets of the scenario's spans (emit_order bits): when one of them is judged differently
 * the whole subtree of its span is, and the filter is skipped; otherwise only the events of the
 * targets judged differently are left out of the comparison. */
static const unsigned span_target_bits = 1u << 0 | 1u << 1 | 1u << 5 | 1u << 7; /* app app::net db h2 */

/* Row "Targets may contain '.' and '/'": tracing's grammar ([\w:-]+) rejects such a target. */
static bool deviates_target_chars(const directive_spec *d) {
  return d->target && strpbrk(d->target, "./") != NULL;
}

/* Row "Several fields in one directive": tracing cuts the filter at every comma first. */
static bool deviates_several_fields(const directive_spec *d) { return d->nfields > 1; }

/* Whether tracing reads the value as a bool or a number (its field values try bool, u64, i64,
 * then f64 before a regular expression). The generated values are plain: digits with a sign,
 * decimals and exponents; libtrace reads every one of them the same way (test_filter_parse). */
static bool is_typed(const char *v) {
  if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
    return true;
  if (strspn(v, "0123456789+-.eE") != strlen(v) || !strpbrk(v, "0123456789"))
    return false;
  char *end;
  strtod(v, &end);
  return *end == '\0';
}

/* Row "Quoted values match exactly": "text" is that string here; tracing compiles the quotes
 * into its regular expression, and the scenario's values hold no quote, so there it matches
 * nothing. The outcome differs only if the quoted text is one of the field's values. */
static bool deviates_quoted(const field_spec *f) {
  const char *v = f->value;
  const char *const *values = string_values(f->name);
  if (!v || v[0] != '"' || !values)
    return false;
  size_t len = strlen(v) - 2;
  for (size_t i = 0; values[i]; i++)
    if (strlen(values[i]) == len && strncmp(values[i], v + 1, len) == 0)
      return true;
  return false;
}

/* Row "Regular expressions match the whole value": tracing's matcher is a DFA that searches
 * (unanchored) and then must be in a match state when the value ends, which happens exactly when
 * the leftmost-first match ends at the end of the value ("z" and "\w" match "/z" there, "/" does
 * not; "\w" does not match "/a/b", "b" does). Both are computed with PCRE2 for each value of the
 * field: only a regular expression for which they disagree on one of them can change the
 * outcome. */
static bool deviates_regex(const field_spec *f) {
  const char *const *values = string_values(f->name);
  if (!f->value || f->value[0] == '"' || is_typed(f->value) || !values)
    return false;
  int code;
  PCRE2_SIZE at;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)f->value, PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
  if (!re) {
    fprintf(stderr, "diff_filters: PCRE2 rejects the generated value '%s'\n", f->value);
    exit(2);
  }
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  bool differs = false;
  for (size_t i = 0; values[i]; i++) {
    PCRE2_SPTR s = (PCRE2_SPTR)values[i];
    size_t len = strlen(values[i]);
    bool whole = pcre2_match(re, s, len, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, NULL) >= 0;
    bool ends = pcre2_match(re, s, len, 0, 0, md, NULL) >= 0 &&
                pcre2_get_ovector_pointer(md)[1] == len;
    differs = differs || whole != ends;
  }
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return differs;
}

enum {
  DEV_SEGMENT_TARGET,
  DEV_TARGET_CHARS,
  DEV_SEVERAL_FIELDS,
  DEV_QUOTED,
  DEV_REGEX,
  DEV_COUNT
};

static const char *const deviation_rows[DEV_COUNT] = {
    "targets match on segment boundaries",
    "targets may contain '.' and '/'",
    "several fields in one directive",
    "quoted values match exactly",
    "regular expressions match the whole value",
};

/* A bit per deviation the filter exercises (the segment-boundary one only if a span is
 * concerned), and in *masked the targets whose events are left out of the comparison. */
static unsigned deviations(const filter_spec *f, unsigned *masked) {
  unsigned bits = 0;
  *masked = 0;
  for (int i = 0; i < f->n; i++) {
    const directive_spec *d = &f->d[i];
    *masked |= segment_targets(d);
    if (*masked & span_target_bits)
      bits |= 1u << DEV_SEGMENT_TARGET;
    if (deviates_target_chars(d))
      bits |= 1u << DEV_TARGET_CHARS;
    if (deviates_several_fields(d))
      bits |= 1u << DEV_SEVERAL_FIELDS;
    for (int k = 0; k < d->nfields; k++) {
      if (deviates_quoted(&d->fields[k]))
        bits |= 1u << DEV_QUOTED;
      if (deviates_regex(&d->fields[k]))
        bits |= 1u << DEV_REGEX;
    }
  }
  return bits;
}

/* ---------------------------------------------------------------------------------------- */
/* Comparing. */

static void describe_event(size_t i, char *buf, size_t cap) {
  static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
  size_t c = i / PER_CONTEXT, j = i % PER_CONTEXT;
  const char *what = j < 40 ? emit_order[j / 5] : j < 45 ? "app{user_id}" : "db{team}";
  snprintf(buf, cap, "event %s %s in %s", what, level_names[j % 5], context_names[c]);
}

static void report(const char *spec, const char *ours, const char *theirs) {
  printf("DIFFERENCE for '%s':\n", spec);
  if (strncmp(ours, "ERR", 3) == 0 || strncmp(theirs, "ERR", 3) == 0) {
    printf("  libtrace: %s\n  tracing:  %s\n", ours, theirs);
    return;
  }
  int shown = 0;
  char what[128];
  for (size_t i = 0; i < EVENTS && shown < 8; i++) {
    if (ours[1 + i] != theirs[1 + i]) {
      describe_event(i, what, sizeof what);
      printf("  %s: libtrace %s, tracing %s\n", what, ours[1 + i] == '1' ? "on" : "off",
             theirs[1 + i] == '1' ? "on" : "off");
      shown++;
    }
  }
  const char *os = strchr(ours, 'S'), *ts = strchr(theirs, 'S');
  for (int i = 0; i < SPANS && os && ts; i++)
    if (os[1 + i] != ts[1 + i])
      printf("  span %s: libtrace %s, tracing %s\n", span_names[i], os[1 + i] == '1' ? "on" : "off",
             ts[1 + i] == '1' ? "on" : "off");
}

static int compare(unsigned long count, const char *tracing_path) {
  FILE *in = fopen(tracing_path, "r");
  if (!in) {
    perror(tracing_path);
    return 2;
  }
  static char theirs[EVENTS + 64], ours[EVENTS + 64];
  unsigned long equal = 0, differ = 0, both_rejected = 0, masked_filters = 0;
  unsigned long skipped[DEV_COUNT] = {0};
  for (unsigned long n = 0; n < count; n++) {
    filter_spec f;
    generate(&f);
    if (!fgets(theirs, sizeof theirs, in)) {
      fprintf(stderr, "diff_filters: tracing's output ends after %lu filters\n", n);
      return 2;
    }
    theirs[strcspn(theirs, "\n")] = '\0';
    unsigned masked;
    unsigned dev = deviations(&f, &masked);
    if (dev) {
      for (int k = 0; k < DEV_COUNT; k++)
        if (dev & (1u << k)) {
          skipped[k]++;
          break;
        }
      continue;
    }
    run_libtrace(f.text, ours, sizeof ours);
    if (masked) {
      for (size_t i = 0; i < EVENTS; i++)
        if (i % PER_CONTEXT < 40 && (masked & (1u << (i % PER_CONTEXT / 5))) && ours[0] == 'E' &&
            theirs[0] == 'E')
          ours[1 + i] = theirs[1 + i] = '-';
      masked_filters++;
    }
    bool ours_err = strncmp(ours, "ERR", 3) == 0, theirs_err = strncmp(theirs, "ERR", 3) == 0;
    if (ours_err && theirs_err) {
      both_rejected++;
    } else if (!ours_err && !theirs_err && strcmp(ours, theirs) == 0) {
      equal++;
    } else {
      differ++;
      report(f.text, ours, theirs);
    }
  }
  fclose(in);
  unsigned long skipped_total = 0;
  for (int k = 0; k < DEV_COUNT; k++)
    skipped_total += skipped[k];
  printf("differential: %lu filters: %lu agree on every event and span, %lu rejected by both, "
         "%lu differ; %lu skipped for a documented deviation:\n",
         count, equal, both_rejected, differ, skipped_total);
  for (int k = 0; k < DEV_COUNT; k++)
    printf("  %4lu  %s\n", skipped[k], deviation_rows[k]);
  printf("  (and %lu compared without the events of a target that only tracing's prefix rule "
         "covers)\n", masked_filters);
  /* A generator or a classifier gone wrong must not pass by comparing nothing. */
  if (equal < count / 2) {
    printf("differential: FAILED: fewer than half of the filters were compared\n");
    return 1;
  }
  printf("%lu passed, %lu failed\n", equal + both_rejected, differ);
  return differ ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: diff_filters generate COUNT SEED | compare COUNT SEED TRACING_OUTPUT\n");
    return 2;
  }
  unsigned long count = strtoul(argv[2], NULL, 10);
  rng_state = strtoull(argv[3], NULL, 0);
  if (strcmp(argv[1], "generate") == 0) {
    for (unsigned long n = 0; n < count; n++) {
      filter_spec f;
      generate(&f);
      printf("%s\n", f.text);
    }
    return 0;
  }
  if (strcmp(argv[1], "compare") == 0 && argc == 5)
    return compare(count, argv[4]);
  fprintf(stderr, "diff_filters: unknown command %s\n", argv[1]);
  return 2;
}
