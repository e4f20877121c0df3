/* Callsites made at run time, for events whose level, target and location are data (bridges
 * from other logging systems, <trace/log.h>). Two kinds, both ordinary trace_callsites to the
 * rest of libtrace once made: a "pair" site per (level, target), whose cached interest is the
 * early "is anybody interested" answer, and a "location" site per (level, target, file, line,
 * function, format, field names), which the event is dispatched through. Sites are found by a
 * hash of the strings' contents in a table read without a lock; they are made under a mutex,
 * with copies of their strings, and never freed (subscribers may keep metadata pointers). */
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../common/mutex.h"
#include "../common/warn.h"
#include "../text/buf.h"
#include "../text/printf.h"
#include "core.h"
#include "trace/log.h"

#define STRING_MAX 256 /* each string of a site is cut here */
#define FIELDS_MAX 64
#define BUCKETS 1024   /* a power of two */

enum { KIND_PAIR = 1, KIND_LOCATION = 2 };

typedef struct dyn_site {
  trace_callsite cs; /* first: &site->cs is what the core and subscribers see */
  uint64_t hash;
  uint8_t kind;
  struct dyn_site *next; /* in its bucket; published with a release store */
  /* the strings and the field name array follow, in one allocation */
} dyn_site;

/* A lookup key: what identifies a site, with the strings as given (not yet cut). */
typedef struct key {
  uint8_t kind;
  int level;
  const char *target, *file, *function, *format;
  uint32_t line;
  const char *const *names;
  size_t nnames;
} key;

static dyn_site *buckets[BUCKETS]; /* atomic heads */
static trace__mutex lock;          /* making sites */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t nsites, noverflow; /* atomic */
static uint8_t overflow_reported;  /* atomic */

static void init_once(void) { trace__mutex_init(&lock, TRACE__MUTEX_INNER); }

static size_t cut_len(const char *s) { return s ? strnlen(s, STRING_MAX) : 0; }

static uint64_t mix(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ull; /* FNV-1a */
  return h;
}

/* Strings hash with their (cut) length, so that NULL, "" and adjacent strings stay apart. */
static uint64_t mix_str(uint64_t h, const char *s) {
  size_t n = cut_len(s);
  uint64_t tag = s ? n + 1 : 0;
  h = mix(h, &tag, sizeof tag);
  return mix(h, s ? s : "", n);
}

static uint64_t key_hash(const key *k) {
  uint64_t h = 0xcbf29ce484222325ull;
  uint64_t head = ((uint64_t)k->kind << 56) | ((uint64_t)(uint8_t)k->level << 48) | k->line;
  h = mix(h, &head, sizeof head);
  h = mix_str(h, k->target);
  if (k->kind == KIND_PAIR)
    return h;
  h = mix_str(h, k->file);
  h = mix_str(h, k->function);
  h = mix_str(h, k->format);
  for (size_t i = 0; i < k->nnames; i++)
    h = mix_str(h, k->names[i]);
  return h;
}

static bool same_str(const char *stored, const char *given) {
  if (!stored || !given)
    return stored == given;
  size_t n = cut_len(given);
  return strncmp(stored, given, n) == 0 && stored[n] == '\0';
}

static bool matches(const dyn_site *s, const key *k, uint64_t h) {
  const trace_metadata *m = &s->cs.meta;
  if (s->hash != h || s->kind != k->kind || m->level != k->level || !same_str(m->target, k->target))
    return false;
  if (k->kind == KIND_PAIR)
    return true;
  if (m->line != k->line || m->field_count != k->nnames || !same_str(m->file, k->file) ||
      !same_str(m->function, k->function) || !same_str(m->message, k->format))
    return false;
  for (size_t i = 0; i < k->nnames; i++)
    if (!same_str(m->field_names[i], k->names[i]))
      return false;
  return true;
}

static dyn_site *find(const key *k, uint64_t h) {
  for (dyn_site *s = TRACE__LOAD_ACQ(&buckets[h & (BUCKETS - 1)]); s; s = TRACE__LOAD_ACQ(&s->next))
    if (matches(s, k, h))
      return s;
  return NULL;
}

/* Copies a (cut) string into the site's block at *at; NULL stays NULL. */
static const char *put_str(char **at, const char *s) {
  if (!s)
    return NULL;
  size_t n = cut_len(s);
  char *d = *at;
  memcpy(d, s, n);
  d[n] = '\0';
  *at += n + 1;
  return d;
}

/* Makes the site for k (under lock); NULL out of memory or past TRACE_LOG_MAX_SITES. */
static dyn_site *make_locked(const key *k, uint64_t h) {
  if (TRACE__LOAD(&nsites) >= TRACE_LOG_MAX_SITES)
    return NULL;
  char name[STRING_MAX + 64];
  if (k->kind == KIND_PAIR)
    snprintf(name, sizeof name, "log %.*s", STRING_MAX, k->target);
  else
    snprintf(name, sizeof name, "event %.*s:%u", STRING_MAX, k->file ? k->file : "?", k->line);
  size_t bytes = sizeof(dyn_site) + (k->nnames + 1) * sizeof(char *) + strlen(name) + 1;
  const char *strs[] = {k->target, k->file, k->function, k->format};
  for (size_t i = 0; i < TRACE__ARRAY_LEN(strs); i++)
    bytes += cut_len(strs[i]) + 1;
  for (size_t i = 0; i < k->nnames; i++)
    bytes += cut_len(k->names[i]) + 1;
  dyn_site *s = trace__calloc(1, bytes);
  if (!s)
    return NULL;
  const char **names = (const char **)(void *)(s + 1);
  char *at = (char *)(names + k->nnames + 1);
  trace_metadata *m = &s->cs.meta;
  m->name = put_str(&at, name);
  m->target = put_str(&at, k->target);
  if (k->kind == KIND_LOCATION) {
    m->file = put_str(&at, k->file);
    m->function = put_str(&at, k->function);
    m->message = put_str(&at, k->format);
    m->line = k->line;
    for (size_t i = 0; i < k->nnames; i++)
      names[i] = put_str(&at, k->names[i] ? k->names[i] : "?");
  }
  names[k->nnames] = NULL;
  m->field_names = names;
  m->field_count = (uint16_t)k->nnames;
  m->level = (uint8_t)k->level;
  m->kind = TRACE_KIND_EVENT;
  s->hash = h;
  s->kind = k->kind;
  dyn_site **head = &buckets[h & (BUCKETS - 1)];
  s->next = *head;
  TRACE__STORE_REL(head, s);
  __atomic_add_fetch(&nsites, 1, __ATOMIC_RELAXED);
  return s;
}

static dyn_site *site_for(const key *k) {
  uint64_t h = key_hash(k);
  dyn_site *s = find(k, h);
  if (TRACE__LIKELY(s != NULL))
    return s;
  pthread_once(&once, init_once);
  trace__mutex_lock(&lock);
  s = find(k, h);
  if (!s)
    s = make_locked(k, h);
  trace__mutex_unlock(&lock);
  return s;
}

static bool wanted(trace_callsite *cs) {
  return trace_i_not_never(cs) && trace_i_callsite_enabled(cs);
}

static bool valid(const trace_log_record *r) {
  return r && r->struct_size >= sizeof(trace_log_record) && r->level >= TRACE_LEVEL_ERROR &&
         r->level <= TRACE_LEVEL_TRACE && (r->nfields == 0 || (r->field_names && r->field_values));
}

bool trace_log_enabled(int level, const char *target) {
  if (level < TRACE_LEVEL_ERROR || level > TRACE_LEVEL_TRACE)
    return false;
  if (level > TRACE__LOAD(&trace__max_level))
    return false; /* nobody wants this level at all: no lookup */
  TRACE__KEEP_ERRNO();
  key k = {KIND_PAIR, level, target ? target : "log", NULL, NULL, NULL, 0, NULL, 0};
  dyn_site *s = site_for(&k);
  return !s || wanted(&s->cs); /* without a site (out of memory), let the event decide */
}

/* ---------------------------------------------------------------------------------------- */
/* The overflow callsites: one per level, used past TRACE_LOG_MAX_SITES (and without memory for a
 * site). The message is formatted here; target and location become fields. */

static const char *const overflow_names[] = {"log.target", "log.file", "log.line", NULL};
#define OVERFLOW_SITE(lvl)                                                                         \
  {{"event (bridged, past the callsite limit)", "trace.log", NULL, NULL, overflow_names, "%s", 0,  \
    3, (uint8_t)(lvl), TRACE_KIND_EVENT, 0, 0},                                                    \
   0, 0, {0, 0, 0, 0, 0, 0}, 0}
static trace_callsite overflow_sites[] = {OVERFLOW_SITE(1), OVERFLOW_SITE(2), OVERFLOW_SITE(3),
                                          OVERFLOW_SITE(4), OVERFLOW_SITE(5)};

static void report_overflow(void) {
  if (__atomic_exchange_n(&overflow_reported, 1, __ATOMIC_RELAXED))
    return;
  static const char msg[] =
      "trace: more than 4096 bridged event locations (TRACE_LOG_MAX_SITES): further ones go "
      "through target trace.log, with their target and location as fields\n";
  trace__warn(msg, sizeof msg - 1);
}

static void emit_overflow(const trace_log_record *r, const char *format, va_list *ap,
                          int errno_value) {
  trace_callsite *cs = &overflow_sites[r->level - 1];
  __atomic_add_fetch(&noverflow, 1, __ATOMIC_RELAXED);
  report_overflow();
  if (!wanted(cs))
    return;
  char text[1024];
  trace__buf b;
  trace__buf_init_fixed(&b, text, sizeof text - 1);
  if (format)
    trace__vformat(&b, format, *ap, TRACE__ESC_TEXT, false, errno_value);
  text[b.len] = '\0';
  trace_value values[3] = {trace_value_str(r->target ? r->target : "log"),
                           trace_value_str(r->file), trace_value_u64(r->line)};
  trace__event(cs, values, TRACE_I_PK_CURRENT, NULL, text);
}

/* ---------------------------------------------------------------------------------------- */

static int emit(const trace_log_record *r, const char *format, va_list *ap) {
  if (!valid(r))
    return TRACE_EINVAL;
  if (!trace_log_enabled(r->level, r->target))
    return 0;
  TRACE__KEEP_ERRNO();
  key k = {KIND_LOCATION, r->level, r->target ? r->target : "log", r->file, r->function, format,
           r->line, r->field_names, TRACE__MIN(r->nfields, (size_t)FIELDS_MAX)};
  dyn_site *s = site_for(&k);
  errno = trace__kept_errno; /* making a site may have touched it: %m prints the caller's */
  if (TRACE__UNLIKELY(!s)) {
    emit_overflow(r, format, ap, trace__kept_errno);
    return 0;
  }
  if (wanted(&s->cs))
    trace__event_va(&s->cs, r->field_values, TRACE_I_PK_CURRENT, NULL, ap);
  return 0;
}

int trace_log_vemit(const trace_log_record *r, const char *format, va_list args) {
  va_list ap;
  va_copy(ap, args);
  int rc = emit(r, format, &ap);
  va_end(ap);
  return rc;
}

int trace_log_emit(const trace_log_record *r, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int rc = emit(r, format, &ap);
  va_end(ap);
  return rc;
}

/* The text goes through the format "%.*s", so one callsite serves every text of a location. */
static int emit_args(const trace_log_record *r, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int rc = emit(r, format, &ap);
  va_end(ap);
  return rc;
}

int trace_log_emit_text(const trace_log_record *r, const char *text, size_t len) {
  if (!text)
    return len ? TRACE_EINVAL : emit_args(r, NULL);
  return emit_args(r, "%.*s", (int)TRACE__MIN(len, (size_t)INT32_MAX), text);
}

trace_log_stats trace_log_get_stats(void) {
  trace_log_stats st = {TRACE__LOAD(&nsites), TRACE__LOAD(&noverflow)};
  return st;
}
