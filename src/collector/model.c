/* The model of spans the reporter and dumps build from records (see model.h). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../text/escape.h"
#include "../text/number.h"
#include "model.h"
#include "output.h"

/* ---------------------------------------------------------------------------------------- */
/* Decoding. */

int trace__col_decode(const uint64_t *p, uint32_t avail, col_rec *r) {
  uint64_t w0 = p[0];
  unsigned kind = col_w0_kind(w0);
  if (kind == COL_PAD)
    return 0;
  static const uint8_t min_words[] = {0, 5, 4, 3, 3, 5, 4, 4, 8};
  uint32_t words = col_w0_words(w0);
  if (kind > COL_CONTEXT || words < min_words[kind] || words * 8 > avail)
    return -1;
  r->kind = kind;
  r->nfields = col_w0_nfields(w0);
  r->flags = col_w0_flags(w0);
  r->id = p[1];
  r->ticks = p[2];
  bool has_meta = kind == COL_NEW || kind == COL_ENTER || kind == COL_EVENT || kind == COL_RECORD;
  r->meta = has_meta ? (const trace_metadata *)(uintptr_t)p[3] : NULL;
  if ((kind == COL_NEW || kind == COL_EVENT) && !r->meta)
    return -1; /* written with their callsite's, always (an ENTER's or a RECORD's may be NULL) */
  r->w = p;
  r->nwords = words;
  /* The fields must fit in the record: a torn record is not read past its end. */
  uint32_t at = kind == COL_RECORD ? 4 : 5;
  if (r->nfields && at + 2 * r->nfields > r->nwords)
    return -1;
  return (int)(words * 8);
}

/* A field of a record (strings point into the record) or of a stored span (into its copy). */
typedef struct m_field {
  uint16_t index;
  uint8_t type;
  uint8_t flags;
  uint32_t len;
  uint64_t value; /* numbers; for strings the full length */
  const char *str;
} m_field;

/* The fields of record r, from word at; returns how many were read into out (cap of them). */
static uint32_t decode_fields(const col_rec *r, uint32_t at, m_field *out, uint32_t cap) {
  uint32_t n = r->nfields < cap ? r->nfields : cap;
  uint32_t strings = at + 2 * r->nfields;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t a = r->w[at + 2 * i];
    m_field *f = &out[kept];
    f->type = (uint8_t)(a & 0xff);
    f->flags = (uint8_t)(a >> 8 & 0xff);
    f->index = r->flags & col_w0_flags(COL_IN_ORDER) ? (uint16_t)i : (uint16_t)(a >> 16);
    f->len = col_slot_len(a);
    uint32_t words = col_slot_words(a);
    f->value = r->w[at + 2 * i + 1];
    if ((f->type == TRACE_VALUE_STR || f->type == TRACE_VALUE_DISPLAY) && f->value == 0)
      f->flags |= COL_FIELD_NULL;
    f->str = NULL;
    if (words) {
      if (strings + words > r->nwords)
        break; /* torn: the rest is not trusted */
      f->str = (const char *)(r->w + strings);
      strings += words;
    }
    if (f->type == TRACE_VALUE_EMPTY || f->type > TRACE_VALUE_FMT ||
        (r->meta && f->index >= r->meta->field_count))
      continue;
    kept++;
  }
  return kept;
}

/* ---------------------------------------------------------------------------------------- */
/* Spans, threads and the model. */

/* Bytes of values a span keeps without an allocation: four values and their strings, or two
 * with 80 bytes of strings. Spans kept for reuse: at most this many (some 6 MiB), so that rounds
 * of up to that many spans allocate none. */
#define SPAN_INLINE_BYTES 128u
#define SPARE_SPANS 16384u

typedef struct m_span {
  uint64_t id;
  const trace_metadata *meta;
  uint64_t parent_id;
  struct m_span *parent;
  uint32_t refs; /* its own until closed, each child's, each frame or pending entry holding it */
  uint32_t nfields;
  m_field *fields; /* strings in one allocation with the array */
  uint64_t t_new, t_close, t_first_enter;
  uint32_t new_thread, run_thread;
  uint8_t known;    /* its creation record was read */
  uint8_t closed;
  uint8_t new_pending; /* created without a timestamp, waiting for its thread's next one */
  uint8_t entered;
  uint8_t async;    /* crossed threads or overlapped: shown as an async pair */
  uint8_t blocked;  /* closed and childless, waiting for an ancestor's creation record */
  uint8_t blocked_rounds;
  uint64_t busy_self;
  uint64_t busy;    /* entered, on any thread (a thread entering it again inside adds nothing) */
  uint32_t frames;  /* entries of it on the threads' stacks */
  uint64_t wall_children;
  uint64_t follows[4];
  uint32_t nfollows;
  struct m_span *next_blocked;
  /* The sink's side: closed in this round (held by the done list until its end), open at the
   * end, rounds it waited for its creation record. */
  uint8_t done;
  uint8_t open_at_end;
  uint8_t done_rounds;
  uint8_t values_lost; /* some of its values could not be kept (out of memory) */
  struct m_span *next_done;
  /* Its CONTEXT record (TRACE_COLLECTOR_CONTEXT). */
  uint8_t has_context;
  uint8_t context_flags;
  uint8_t parent_remote;
  uint16_t tracestate_len;
  uint8_t trace_id[16], span_id[8], parent_span_id[8];
  char *tracestate; /* tracestate_len bytes, NULL when 0 */
  struct m_span *next_spare; /* on the model's list of spare spans */
  /* A few values and their strings (the usual span's) are kept here rather than allocated. */
  union {
    m_field f[SPAN_INLINE_BYTES / sizeof(m_field)];
    char bytes[SPAN_INLINE_BYTES];
  } inline_fields;
} m_span;

typedef struct m_frame {
  m_span *span;
  uint64_t start;
} m_frame;

typedef struct m_thread {
  uint32_t number;
  char name[32];
  char shown[32]; /* the name the output has (a thread_name event was written) */
  bool named;
  m_frame *stack;
  uint32_t depth, cap;
  uint64_t last_ns;        /* its latest timestamp (times never go back within a thread) */
  uint64_t last_transition; /* its latest enter or exit */
  m_span **pending;         /* created without a timestamp */
  uint32_t npending, cap_pending;
} m_thread;

struct col_model {
  col_model_config cfg;
  col_timemap map;
  m_span **table; /* open addressing on the id, linear probing */
  uint32_t table_cap, table_used;
  m_thread **threads; /* by thread number */
  uint32_t threads_cap;
  m_thread *cur;
  m_span *blocked;
  m_span *done_head, **done_tail; /* closed this round, in the order they closed */
  trace_value *values;           /* the sink's copy of a span's or an event's values */
  uint16_t *index;
  uint32_t values_cap;
  trace_context context;         /* the one a sink is given */
  trace__buf ev;
  uint32_t pid;
  bool finishing;
  /* Spans freed, kept for the next ones (at most SPARE_SPANS): in steady state the reporter
   * allocates nothing per span. */
  m_span *spare;
  uint32_t nspare;
};

/* A span's struct, from the spares or the heap, zeroed. */
static m_span *span_alloc(col_model *m) {
  m_span *s = m->spare;
  if (!s)
    return trace__calloc(1, sizeof *s);
  m->spare = s->next_spare;
  m->nspare--;
  memset(s, 0, sizeof *s);
  return s;
}

static void fields_free(m_span *s) {
  if (s->fields != s->inline_fields.f)
    trace__free(s->fields);
  s->fields = NULL;
}

/* The span's memory back: its values, its tracestate, the struct to the spares or the heap. */
static void span_recycle(col_model *m, m_span *s) {
  fields_free(s);
  trace__free(s->tracestate);
  if (m->nspare < SPARE_SPANS) {
    s->next_spare = m->spare;
    m->spare = s;
    m->nspare++;
  } else {
    trace__free(s);
  }
}

static inline uint32_t id_hash(uint64_t id, uint32_t cap) {
  return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

static m_span *span_find(col_model *m, uint64_t id) {
  if (!m->table_cap)
    return NULL;
  for (uint32_t i = id_hash(id, m->table_cap);; i = (i + 1) & (m->table_cap - 1)) {
    m_span *s = m->table[i];
    if (!s)
      return NULL;
    if (s->id == id)
      return s;
  }
}

static bool table_put(col_model *m, m_span *s) {
  if ((m->table_used + 1) * 2 > m->table_cap) {
    uint32_t cap = m->table_cap ? m->table_cap * 2 : 1024;
    m_span **t = trace__calloc(cap, sizeof *t);
    if (!t)
      return false;
    for (uint32_t i = 0; i < m->table_cap; i++) {
      m_span *o = m->table[i];
      if (!o)
        continue;
      uint32_t j = id_hash(o->id, cap);
      while (t[j])
        j = (j + 1) & (cap - 1);
      t[j] = o;
    }
    trace__free(m->table);
    m->table = t;
    m->table_cap = cap;
  }
  uint32_t i = id_hash(s->id, m->table_cap);
  while (m->table[i])
    i = (i + 1) & (m->table_cap - 1);
  m->table[i] = s;
  m->table_used++;
  return true;
}

static void table_remove(col_model *m, m_span *s) {
  uint32_t mask = m->table_cap - 1;
  uint32_t i = id_hash(s->id, m->table_cap);
  while (m->table[i] != s)
    i = (i + 1) & mask;
  /* Backward shift: later entries of the probe run move up so that no lookup stops early. */
  for (uint32_t j = (i + 1) & mask; m->table[j]; j = (j + 1) & mask) {
    uint32_t home = id_hash(m->table[j]->id, m->table_cap);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      m->table[i] = m->table[j];
      i = j;
    }
  }
  m->table[i] = NULL;
  m->table_used--;
}

/* A record, or values, let go for lack of memory: counted (stats.memory_drops). */
static void memory_drop(col_model *m) {
  if (m->cfg.memory_drops)
    __atomic_add_fetch(m->cfg.memory_drops, 1, __ATOMIC_RELAXED);
}

/* The span with this id, created as a placeholder (its creation not read yet) if needed. */
static m_span *span_get(col_model *m, uint64_t id, const trace_metadata *meta) {
  m_span *s = span_find(m, id);
  if (s) {
    if (!s->meta)
      s->meta = meta;
    return s;
  }
  s = span_alloc(m);
  if (s) {
    s->id = id;
    s->meta = meta;
    s->refs = 1;
    if (table_put(m, s))
      return s;
    span_recycle(m, s);
  }
  memory_drop(m); /* the record is let go: a span whose creation it was is not reported */
  return NULL;
}

static m_thread *thread_get(col_model *m, uint32_t number) {
  if (number >= m->threads_cap) {
    uint32_t cap = m->threads_cap ? m->threads_cap : 16;
    while (cap <= number)
      cap *= 2;
    m_thread **t = trace__realloc(m->threads, cap * sizeof *t);
    if (!t)
      return NULL;
    memset(t + m->threads_cap, 0, (cap - m->threads_cap) * sizeof *t);
    m->threads = t;
    m->threads_cap = cap;
  }
  if (!m->threads[number]) {
    m_thread *t = trace__calloc(1, sizeof *t);
    if (!t)
      return NULL;
    t->number = number;
    m->threads[number] = t;
  }
  return m->threads[number];
}

col_model *trace__col_model_new(const col_model_config *cfg) {
  col_model *m = trace__calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->cfg = *cfg;
  m->map.kind = COL_CLOCK_MONO;
  m->map.scale = 1.0;
  m->pid = (uint32_t)getpid();
  m->done_tail = &m->done_head;
  trace__buf_init_growable(&m->ev, (size_t)1 << 20);
  return m;
}

void trace__col_model_set_time(col_model *m, const col_timemap *map) { m->map = *map; }

/* ---------------------------------------------------------------------------------------- */
/* Chrome events. */

static void put_us(trace__buf *b, uint64_t ns) {
  /* Microseconds with three decimals: exact, where a double would round. */
  char digits[3];
  trace__buf_u64(b, ns / 1000);
  unsigned frac = (unsigned)(ns % 1000);
  digits[0] = (char)('0' + frac / 100);
  digits[1] = (char)('0' + frac / 10 % 10);
  digits[2] = (char)('0' + frac % 10);
  trace__buf_putc(b, '.');
  trace__buf_put(b, digits, 3);
}

static void put_json_str(trace__buf *b, const char *s, size_t len) {
  trace__buf_putc(b, '"');
  trace__escape(b, s, len, TRACE__ESC_JSON);
  trace__buf_putc(b, '"');
}

static void put_json_cstr(trace__buf *b, const char *s) { put_json_str(b, s ? s : "", s ? strlen(s) : 0); }

static void put_hex_id(trace__buf *b, uint64_t id) {
  static const char hex[] = "0123456789abcdef";
  char tmp[20];
  char *q = tmp + sizeof tmp;
  do {
    *--q = hex[id & 0xf];
    id >>= 4;
  } while (id);
  *--q = 'x';
  *--q = '0';
  trace__buf_putc(b, '"');
  trace__buf_put(b, q, (size_t)(tmp + sizeof tmp - q));
  trace__buf_putc(b, '"');
}

/* A cut string ends on a whole UTF-8 sequence, then shows that it was cut. */
static size_t whole_utf8(const char *s, size_t len) {
  size_t back = 0;
  while (back < 3 && back < len && ((unsigned char)s[len - 1 - back] & 0xC0) == 0x80)
    back++;
  if (back < len) {
    unsigned char lead = (unsigned char)s[len - 1 - back];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > back + 1)
      return len - 1 - back;
  }
  return len;
}

/* Strings of an event's values and its name (a message) keep at most this many bytes at each
 * try of build_and_emit: none, then shorter and shorter, until the event fits in COL_EVENT_MAX;
 * at the last try the values are left out. */
static const size_t value_caps[] = {SIZE_MAX, 512, 128, 32, 0, 0};
#define CAP_TRIES (sizeof value_caps / sizeof value_caps[0])
#define CAP_NO_VALUES (CAP_TRIES - 1)

/* A string, cut (on a whole character, then an ellipsis) when it was cut when recorded or is
 * longer than cap. */
static void put_json_cut(trace__buf *b, const char *s, size_t len, bool cut, size_t cap) {
  if (len > cap) {
    len = cap;
    cut = true;
  }
  trace__buf_putc(b, '"');
  trace__escape(b, s, cut ? whole_utf8(s, len) : len, TRACE__ESC_JSON);
  trace__buf_puts(b, cut ? "\xE2\x80\xA6\"" : "\"");
}

static void put_value(trace__buf *b, const m_field *f, size_t cap) {
  switch (f->type) {
  case TRACE_VALUE_I64: trace__buf_i64(b, (int64_t)f->value); break;
  case TRACE_VALUE_U64: trace__buf_u64(b, f->value); break;
  case TRACE_VALUE_F64: {
    double d;
    memcpy(&d, &f->value, 8);
    trace__buf_f64(b, d, true);
    break;
  }
  case TRACE_VALUE_BOOL: trace__buf_puts(b, f->value & 1 ? "true" : "false"); break;
  case TRACE_VALUE_PTR: {
    trace__buf_putc(b, '"');
    trace__buf_ptr(b, (const void *)(uintptr_t)f->value);
    trace__buf_putc(b, '"');
    break;
  }
  default:
    if (f->flags & COL_FIELD_NULL)
      trace__buf_puts(b, "null");
    else
      put_json_cut(b, f->str ? f->str : "", f->str ? f->len : 0,
                   (f->flags & COL_FIELD_CUT) != 0, cap);
  }
}

/* Keys of one args object, so that none repeats: a field named like one of ours, or twice in a
 * callsite, becomes field.<name> (and field.<name>.2, ... if that is taken too), as fmt's JSON
 * does. */
typedef struct keys {
  const char *k[COL_FIELDS_MAX + 8];
  unsigned n;
} keys;

static bool key_taken(const keys *ks, const char *k, size_t len) {
  for (unsigned i = 0; i < ks->n; i++)
    if (strncmp(ks->k[i], k, len) == 0 && ks->k[i][len] == '\0')
      return true;
  return false;
}

static void put_key(trace__buf *b, keys *ks, const char *name) {
  char alt[160];
  const char *k = name;
  if (key_taken(ks, name, strlen(name))) {
    for (unsigned n = 1;; n++) {
      int len = n == 1 ? snprintf(alt, sizeof alt, "field.%s", name)
                       : snprintf(alt, sizeof alt, "field.%s.%u", name, n);
      if (len < 0 || (size_t)len >= sizeof alt || !key_taken(ks, alt, (size_t)len))
        break;
    }
    k = alt;
  }
  if (b->len && b->data[b->len - 1] != '{')
    trace__buf_putc(b, ',');
  put_json_cstr(b, k);
  trace__buf_putc(b, ':');
  if (ks->n < TRACE__ARRAY_LEN(ks->k))
    ks->k[ks->n++] = k == alt ? "" : name; /* an alternative name is not a name of a field */
}

/* Whether a later value of f[0..n) has the same field as f[i] (a span's values are kept in the
 * order they were recorded: the last one wins). */
static bool replaced_later(const m_field *f, uint32_t i, uint32_t n) {
  for (uint32_t j = i + 1; j < n; j++)
    if (f[j].index == f[i].index)
      return true;
  return false;
}

/* The values, their strings cut to value_caps[try]; at the last try none. "values_cut": true
 * says that some are missing (left out here, or lost: values the model could not keep). */
static void put_fields(trace__buf *b, keys *ks, const trace_metadata *meta, const m_field *f,
                       uint32_t n, unsigned try, bool lost) {
  if (lost || (try == CAP_NO_VALUES && n)) {
    put_key(b, ks, "values_cut");
    trace__buf_puts(b, "true");
  }
  if (try == CAP_NO_VALUES)
    return;
  for (uint32_t i = 0; i < n; i++) {
    if (replaced_later(f, i, n))
      continue;
    const char *name = meta && f[i].index < meta->field_count ? meta->field_names[f[i].index] : "?";
    put_key(b, ks, name);
    put_value(b, &f[i], value_caps[try]);
  }
}

/* A span's trace ids (TRACE_COLLECTOR_CONTEXT), to find a timeline's span in a distributed
 * trace. */
static void put_context(trace__buf *b, keys *ks, const m_span *s) {
  if (!s->has_context)
    return;
  char hex[TRACE_TRACE_ID_HEX_SIZE];
  put_key(b, ks, "trace_id");
  trace_trace_id_hex(s->trace_id, hex);
  put_json_cstr(b, hex);
  put_key(b, ks, "span_id");
  trace_span_id_hex(s->span_id, hex);
  put_json_cstr(b, hex);
}

static const char *target_of(const trace_metadata *meta) {
  return meta && meta->target ? meta->target : "";
}

static const char *name_of(const m_span *s) {
  return s->meta && s->meta->name ? s->meta->name : "(unknown span)";
}

/* Writes the event built in m->ev; false, with nothing written, when it is longer than an event
 * may be and this was not the last try (the caller builds it again with its values cut shorter,
 * see value_caps). */
static bool emit(col_model *m, unsigned try) {
  if (m->ev.truncated) {
    /* Bounded by the writer; an event that could not even be built is not written. */
    m->ev.len = 0;
    m->ev.truncated = false;
    return true;
  }
  if (m->ev.len > COL_EVENT_MAX && try + 1 < CAP_TRIES) {
    m->ev.len = 0;
    return false;
  }
  trace__col_chrome_event(m->cfg.chrome, m->ev.data, m->ev.len);
  m->ev.len = 0;
  return true;
}

/* The start of an event: name (cut: it ends with an ellipsis), cat, ph, ts, pid, tid. */
static void event_head(col_model *m, const char *name, size_t name_len, bool cut, const char *cat,
                       char ph, uint64_t ts, uint32_t tid) {
  trace__buf *b = &m->ev;
  b->len = 0;
  trace__buf_puts(b, "{\"name\":\"");
  trace__escape(b, name, name_len, TRACE__ESC_JSON);
  trace__buf_puts(b, cut ? "\xE2\x80\xA6\"" : "\"");
  trace__buf_puts(b, ",\"cat\":");
  put_json_cstr(b, cat);
  trace__buf_puts(b, ",\"ph\":\"");
  trace__buf_putc(b, ph);
  trace__buf_puts(b, "\",\"ts\":");
  put_us(b, ts);
  trace__buf_puts(b, ",\"pid\":");
  trace__buf_u64(b, m->pid);
  trace__buf_puts(b, ",\"tid\":");
  trace__buf_u64(b, tid);
}

static void thread_name_event(col_model *m, m_thread *t) {
  if (!m->cfg.chrome || (t->named && strcmp(t->shown, t->name) == 0))
    return;
  trace__buf *b = &m->ev;
  b->len = 0;
  trace__buf_puts(b, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":");
  trace__buf_u64(b, m->pid);
  trace__buf_puts(b, ",\"tid\":");
  trace__buf_u64(b, t->number);
  trace__buf_puts(b, ",\"args\":{\"name\":");
  put_json_cstr(b, t->name[0] ? t->name : "thread");
  trace__buf_puts(b, "}}");
  (void)emit(m, CAP_TRIES - 1);
  memcpy(t->shown, t->name, sizeof t->shown);
  t->named = true;
}

static bool in_window(const col_model *m, uint64_t end) {
  return end >= m->cfg.window_start_ns;
}

/* A complete event for one interval a span was entered on thread t. */
static void emit_interval(col_model *m, m_thread *t, m_span *s, uint64_t start, uint64_t end,
                          bool open) {
  if (!m->cfg.chrome || !in_window(m, end))
    return;
  thread_name_event(m, t);
  const char *name = name_of(s);
  unsigned try = 0;
  do {
    event_head(m, name, strlen(name), false, target_of(s->meta), 'X', start, t->number);
    trace__buf *b = &m->ev;
    trace__buf_puts(b, ",\"dur\":");
    put_us(b, end - start);
    trace__buf_puts(b, ",\"args\":{");
    keys ks = {{0}, 0};
    if (open) {
      put_key(b, &ks, "open");
      trace__buf_puts(b, "true");
    }
    put_context(b, &ks, s);
    put_fields(b, &ks, s->meta, s->fields, s->nfields, try, s->values_lost);
    trace__buf_puts(b, "}}");
  } while (!emit(m, try++));
}

/* An async pair (b and e, matched by id) for a span's whole life. */
static void emit_async(col_model *m, m_span *s, bool open) {
  if (!m->cfg.chrome || !in_window(m, s->t_close))
    return;
  uint32_t tid = s->new_thread ? s->new_thread : s->run_thread;
  m_thread *t = thread_get(m, tid);
  if (t)
    thread_name_event(m, t);
  const char *name = name_of(s);
  for (int end = 0; end < 2; end++) {
    unsigned try = 0;
  again:
    event_head(m, name, strlen(name), false, target_of(s->meta), end ? 'e' : 'b',
               end ? s->t_close : s->t_new, tid);
    trace__buf *b = &m->ev;
    trace__buf_puts(b, ",\"id\":");
    put_hex_id(b, s->id);
    if (!end) {
      trace__buf_puts(b, ",\"args\":{");
      keys ks = {{0}, 0};
      if (open) {
        put_key(b, &ks, "open");
        trace__buf_puts(b, "true");
      }
      if (s->nfollows) {
        put_key(b, &ks, "follows_from");
        trace__buf_putc(b, '[');
        for (uint32_t i = 0; i < s->nfollows; i++) {
          if (i)
            trace__buf_putc(b, ',');
          put_hex_id(b, s->follows[i]);
        }
        trace__buf_putc(b, ']');
      }
      put_context(b, &ks, s);
      put_fields(b, &ks, s->meta, s->fields, s->nfields, try, s->values_lost);
      trace__buf_putc(b, '}');
    }
    trace__buf_putc(b, '}');
    if (!emit(m, try++))
      goto again;
  }
}

/* An EVENT record's values and message. */
typedef struct m_event {
  m_field f[COL_FIELDS_MAX];
  uint32_t n;
  const char *msg; /* NULL: none */
  uint32_t msg_len;
  bool msg_cut;
} m_event;

static void decode_event(const col_rec *r, m_event *e) {
  e->n = decode_fields(r, 5, e->f, COL_FIELDS_MAX);
  /* The message, after the strings: its length is in word 4. */
  e->msg_len = (uint32_t)r->w[4];
  e->msg_cut = (r->w[4] >> 32) != 0;
  /* In 64 bits: the slots' lengths are the record's word, not to be trusted to add up. */
  uint64_t strings = 5 + 2 * (uint64_t)r->nfields;
  for (uint32_t i = 0; i < r->nfields; i++)
    strings += col_slot_words(r->w[5 + 2 * i]);
  e->msg = NULL;
  if (e->msg_len && strings * 8 + e->msg_len <= (uint64_t)r->nwords * 8)
    e->msg = (const char *)(r->w + strings);
  else
    e->msg_len = 0;
}

static void emit_instant(col_model *m, m_thread *t, const col_rec *r, const m_event *e,
                         uint64_t ts) {
  if (!m->cfg.chrome || !in_window(m, ts))
    return;
  thread_name_event(m, t);
  const m_field *f = e->f;
  uint32_t n = e->n;
  const char *msg = e->msg;
  bool msg_cut = e->msg_cut;
  const char *name = msg ? msg : r->meta->name;
  unsigned try = 0;
  do {
    /* A message is cut with the values (a message of control characters escapes to six times
     * its length). */
    size_t cap = value_caps[try], name_len = msg ? e->msg_len : strlen(name);
    bool cut = msg && (msg_cut || name_len > cap);
    if (msg && name_len > cap)
      name_len = cap;
    event_head(m, name, cut ? whole_utf8(name, name_len) : name_len, cut, target_of(r->meta),
               'i', ts, t->number);
    trace__buf *b = &m->ev;
    trace__buf_puts(b, ",\"s\":\"t\",\"args\":{");
    keys ks = {{0}, 0};
    put_key(b, &ks, "level");
    put_json_cstr(b, trace_level_name(r->meta->level));
    if (r->id) {
      put_key(b, &ks, "span");
      put_hex_id(b, r->id);
    }
    put_fields(b, &ks, r->meta, f, n, try, false);
    trace__buf_puts(b, "}}");
  } while (!emit(m, try++));
}

/* Rounds a span waits for its own or an ancestor's creation record: one read in a later round
 * than the span's other records comes within a round or two; one that was dropped never comes,
 * and the span is then taken with what is known. */
#define BLOCKED_ROUNDS_MAX 3

/* ---------------------------------------------------------------------------------------- */
/* The sink: finished spans and events as trace_collector_span and trace_collector_event. */

static const char *thread_name_of(const col_model *m, uint32_t number) {
  const m_thread *t = number < m->threads_cap ? m->threads[number] : NULL;
  return t ? t->name : "";
}

/* fields as a value set (m->values, m->index); *truncated is set if one was cut. A FMT value
 * is its text, as DISPLAY: the callback lived only during the call that recorded it. Out of
 * memory: no values, *truncated set, counted. */
static void to_values(col_model *m, const trace_metadata *meta, const m_field *f, uint32_t n,
                      trace_valueset *vs, bool *truncated) {
  vs->meta = meta;
  if (n > m->values_cap) {
    trace_value *v = trace__realloc(m->values, n * sizeof *v);
    if (v)
      m->values = v;
    uint16_t *x = v ? trace__realloc(m->index, n * sizeof *x) : NULL;
    if (!x) {
      vs->values = NULL;
      vs->index = NULL;
      vs->count = 0;
      *truncated = true;
      memory_drop(m);
      return;
    }
    m->index = x;
    m->values_cap = n;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    /* A value of a field its callsite does not have (read from a record of another callsite
     * with the span's id) never reaches a sink, which indexes the field names with it. */
    if (meta && f[i].index >= meta->field_count)
      continue;
    trace_value *v = &m->values[k];
    v->type = f[i].type;
    v->as.u64 = f[i].value;
    m->index[k++] = f[i].index;
    switch (f[i].type) {
    case TRACE_VALUE_BOOL: v->as.b = (f[i].value & 1) != 0; break;
    case TRACE_VALUE_STR:
    case TRACE_VALUE_DISPLAY:
    case TRACE_VALUE_FMT:
      if (f[i].type == TRACE_VALUE_FMT)
        v->type = TRACE_VALUE_DISPLAY;
      if (f[i].flags & COL_FIELD_NULL) {
        v->as.str.ptr = NULL;
        v->as.str.len = 0;
      } else {
        v->as.str.ptr = f[i].str ? f[i].str : "";
        v->as.str.len = f[i].str ? f[i].len : 0;
      }
      *truncated |= (f[i].flags & COL_FIELD_CUT) != 0;
      break;
    default: break;
    }
  }
  vs->values = m->values;
  vs->index = m->index;
  vs->count = k;
}

/* The context a sink is given for span s (NULL: it has none). */
static const trace_context *context_of(col_model *m, const m_span *s) {
  if (!s || !s->has_context)
    return NULL;
  trace_context *c = &m->context;
  memcpy(c->trace_id, s->trace_id, 16);
  memcpy(c->span_id, s->span_id, 8);
  c->flags = s->context_flags;
  c->reserved_ = 0;
  c->tracestate_len = s->tracestate_len;
  if (s->tracestate_len)
    memcpy(c->tracestate, s->tracestate, s->tracestate_len);
  c->tracestate[s->tracestate_len] = '\0';
  return c;
}

static void hand_span(col_model *m, const m_span *s) {
  const trace_collector_sink *sink = m->cfg.sink;
  if (!s->meta)
    return; /* neither its creation nor an enter was read: nothing to say what it was */
  trace_collector_span out;
  memset(&out, 0, sizeof out);
  out.meta = s->meta;
  to_values(m, s->meta, s->fields, s->nfields, &out.fields, &out.truncated);
  out.truncated |= s->values_lost != 0;
  out.open = s->open_at_end != 0;
  out.id = s->id;
  out.parent_id = s->parent_id;
  out.start_ns = col_unix_ns(&m->map, s->t_new);
  out.end_ns = col_unix_ns(&m->map, s->t_close);
  uint64_t wall = s->t_close > s->t_new ? s->t_close - s->t_new : 0;
  out.busy_ns = s->busy;
  out.idle_ns = wall > s->busy ? wall - s->busy : 0;
  out.thread = s->known || !s->run_thread ? s->new_thread : s->run_thread;
  out.thread_name = thread_name_of(m, out.thread);
  out.context = context_of(m, s);
  if (out.context) {
    memcpy(out.parent_span_id, s->parent_span_id, 8);
    out.parent_remote = s->parent_remote != 0;
  }
  sink->span(sink->arg, &out);
}

static void hand_event(col_model *m, const m_thread *t, const col_rec *r, const m_event *e,
                       uint64_t ts) {
  const trace_collector_sink *sink = m->cfg.sink;
  trace_collector_event out;
  memset(&out, 0, sizeof out);
  out.meta = r->meta;
  to_values(m, r->meta, e->f, e->n, &out.fields, &out.truncated);
  if (r->meta->message) {
    out.message = e->msg ? e->msg : "";
    out.message_len = e->msg_len;
    out.truncated |= e->msg_cut;
  }
  out.time_ns = col_unix_ns(&m->map, ts);
  out.span_id = r->id;
  out.thread = t->number;
  out.thread_name = t->name;
  out.context = r->id ? context_of(m, span_find(m, r->id)) : NULL;
  sink->event(sink->arg, &out);
}

/* A span closed in this round goes to the sink at its end, after the records of the other
 * threads read in the same round (an event in it, its last exit on another thread). The done
 * list holds a reference. */
static void done_add(col_model *m, m_span *s, bool open) {
  if (!m->cfg.sink || !m->cfg.sink->span || s->done)
    return;
  s->done = 1;
  s->open_at_end = open;
  s->refs++;
  s->next_done = NULL;
  *m->done_tail = s;
  m->done_tail = &s->next_done;
}

static void span_unref(col_model *m, m_span *s);

/* Hands the spans closed in the round over. One whose creation record was not read yet (made on
 * a thread whose ring was read before it was made, used and closed on another) waits for it a
 * few rounds, as the folded stacks do (below). */
static void hand_done(col_model *m) {
  m_span *list = m->done_head;
  m->done_head = NULL;
  m->done_tail = &m->done_head;
  while (list) {
    m_span *s = list;
    list = s->next_done;
    if (!s->known && !m->finishing && s->done_rounds < BLOCKED_ROUNDS_MAX) {
      s->done_rounds++;
      s->next_done = NULL;
      *m->done_tail = s;
      m->done_tail = &s->next_done;
      continue;
    }
    hand_span(m, s);
    span_unref(m, s);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Folded stacks: a span is counted once it is closed and its children are gone (for wall
 * time, what the children took is then known), with the names of its ancestors. */

static bool ancestry_known(const m_span *s) {
  for (const m_span *p = s->parent; p; p = p->parent)
    if (!p->known)
      return false;
  return true;
}


static void count_folded(col_model *m, m_span *s) {
  if (!m->cfg.folded)
    return;
  uint64_t value;
  if (m->cfg.folded_time == TRACE_FOLDED_WALL) {
    uint64_t wall = s->t_close > s->t_new ? s->t_close - s->t_new : 0;
    value = wall > s->wall_children ? wall - s->wall_children : 0;
  } else {
    value = s->busy_self;
  }
  if (!value)
    return;
  const char *names[256];
  unsigned n = 0;
  for (const m_span *p = s; p && n < TRACE__ARRAY_LEN(names); p = p->parent)
    names[n++] = name_of(p);
  const char *thread = NULL;
  if (m->cfg.folded_threads) {
    uint32_t tid = s->run_thread ? s->run_thread : s->new_thread;
    m_thread *t = tid < m->threads_cap ? m->threads[tid] : NULL;
    thread = t && t->name[0] ? t->name : "thread";
  }
  trace__col_folded_add(m->cfg.folded, thread, names, n, value);
}

static void span_release(col_model *m, m_span *s);

static void span_unref(col_model *m, m_span *s) {
  if (--s->refs == 0)
    span_release(m, s);
}

/* The last reference: counted in the folded stacks (unless an ancestor's creation is still to
 * come: then it waits for the next round) and freed. */
static void span_release(col_model *m, m_span *s) {
  if (!m->finishing && s->blocked_rounds < BLOCKED_ROUNDS_MAX && !ancestry_known(s)) {
    if (!s->blocked) {
      s->blocked = 1;
      s->blocked_rounds++;
      s->refs++;
      s->next_blocked = m->blocked;
      m->blocked = s;
    }
    return;
  }
  count_folded(m, s);
  if (s->parent) {
    uint64_t wall = s->t_close > s->t_new ? s->t_close - s->t_new : 0;
    s->parent->wall_children += wall;
  }
  table_remove(m, s);
  m_span *parent = s->parent;
  span_recycle(m, s);
  if (parent)
    span_unref(m, parent);
}

/* Closed: the span's life is known; an async pair is written if it crossed threads, overlapped
 * another span on a thread, or was never entered. */
static void span_close(col_model *m, m_span *s, uint64_t t_close, bool open) {
  if (s->closed)
    return;
  s->closed = 1;
  s->t_close = t_close;
  if (!s->known && s->t_first_enter)
    s->t_new = s->t_first_enter;
  if (s->new_pending || s->t_new > s->t_close) {
    s->new_pending = 0; /* its thread's pending list lets go of it when it is resolved */
    s->t_new = s->t_close;
  }
  /* A span still alive at a dump or at the end is shown with its whole life, open. One whose
   * creation and enters were not read (a flight dump's window begins after them) has nothing to
   * show. */
  if ((s->known || s->entered) &&
      (open || s->async || !s->entered || (s->known && s->run_thread != s->new_thread)))
    emit_async(m, s, open);
  done_add(m, s, open);
  span_unref(m, s);
}

/* ---------------------------------------------------------------------------------------- */
/* Feeding. */

void trace__col_model_thread(col_model *m, uint32_t number, const char *name) {
  m->cur = thread_get(m, number);
  if (m->cur && name)
    strncpy(m->cur->name, name, sizeof m->cur->name - 1);
}

/* Values a span keeps before the ones recorded again are let go (see store_fields). */
#define SPAN_VALUES_MAX (2 * COL_FIELDS_MAX)

/* Adds a record's fields to s's values: after them (values recorded later), or before them
 * (creation values read after values recorded on another thread, a rare order). A span's values
 * stay in the order they were recorded, a field recorded again appearing again (the sink's
 * contract: the last one wins), except that a span recorded over and over keeps only the latest
 * value of each field once it holds SPAN_VALUES_MAX. */
static void store_fields(col_model *m, m_span *s, const col_rec *r, uint32_t at, bool front) {
  m_field f[COL_FIELDS_MAX];
  uint32_t n = decode_fields(r, at, f, COL_FIELDS_MAX);
  if (!n)
    return;
  m_field both[SPAN_VALUES_MAX + COL_FIELDS_MAX];
  m_field *all = f; /* the common case: the first values the span gets */
  uint32_t count = n;
  if (s->nfields) {
    const m_field *first = front ? f : s->fields, *second = front ? s->fields : f;
    uint32_t nfirst = front ? n : s->nfields, nsecond = front ? s->nfields : n;
    memcpy(both, first, nfirst * sizeof both[0]);
    memcpy(both + nfirst, second, nsecond * sizeof both[0]);
    all = both;
    count = nfirst + nsecond;
  }
  if (count > SPAN_VALUES_MAX) {
    uint32_t kept = 0;
    for (uint32_t i = 0; i < count; i++)
      if (!replaced_later(all, i, count))
        all[kept++] = all[i];
    count = kept;
  }
  if (count > SPAN_VALUES_MAX) { /* fields a span without metadata cannot have: the latest */
    memmove(all, all + (count - SPAN_VALUES_MAX), SPAN_VALUES_MAX * sizeof all[0]);
    count = SPAN_VALUES_MAX;
  }
  size_t bytes = 0;
  for (uint32_t i = 0; i < count; i++)
    bytes += all[i].str ? all[i].len : 0;
  size_t size = count * sizeof(m_field) + bytes;
  /* Small enough: built in a scratch buffer (the old values, which may be in the span's own
   * buffer, are read meanwhile), then moved into the span. */
  _Alignas(m_field) char scratch[SPAN_INLINE_BYTES];
  m_field *copy = size <= sizeof scratch ? (m_field *)(void *)scratch : trace__malloc(size);
  if (!copy) {
    /* The old values stay; the span says that it lost some, once. */
    if (!s->values_lost)
      memory_drop(m);
    s->values_lost = 1;
    return;
  }
  char *text = (char *)(copy + count);
  for (uint32_t i = 0; i < count; i++) {
    copy[i] = all[i];
    if (all[i].str) {
      memcpy(text, all[i].str, all[i].len);
      copy[i].str = text;
      text += all[i].len;
    }
  }
  fields_free(s);
  if (copy == (m_field *)(void *)scratch) {
    memcpy(s->inline_fields.bytes, scratch, size);
    copy = s->inline_fields.f;
    for (uint32_t i = 0; i < count; i++)
      if (copy[i].str)
        copy[i].str = s->inline_fields.bytes + (copy[i].str - scratch);
  }
  s->fields = copy;
  s->nfields = count;
}

/* A span's CONTEXT record, right after its NEW record (record.h). */
static void feed_context(col_model *m, const col_rec *r) {
  m_span *s = span_find(m, r->id);
  if (!s || s->has_context)
    return;
  uint64_t w7 = r->w[7];
  uint32_t len = (uint32_t)(w7 >> 16 & 0xffff);
  if (len > TRACE_TRACESTATE_MAX || 8 + (len + 7) / 8 > r->nwords)
    return; /* not a record this version writes */
  if (len && !(s->tracestate = trace__malloc(len)))
    len = 0; /* out of memory: the ids without the tracestate */
  if (len)
    memcpy(s->tracestate, r->w + 8, len);
  s->tracestate_len = (uint16_t)len;
  memcpy(s->trace_id, r->w + 3, 16);
  memcpy(s->span_id, r->w + 5, 8);
  memcpy(s->parent_span_id, r->w + 6, 8);
  s->context_flags = (uint8_t)w7;
  s->parent_remote = (uint8_t)(w7 >> 8 & 1);
  s->has_context = 1;
}

void trace__col_model_feed_new(col_model *m, const col_rec *r) {
  if (r->kind == COL_CONTEXT) {
    feed_context(m, r);
    return;
  }
  if (!m->cur || r->kind != COL_NEW)
    return;
  m_span *s = span_get(m, r->id, r->meta);
  if (!s || s->known)
    return;
  s->known = 1;
  s->meta = r->meta;
  s->new_thread = m->cur->number;
  s->parent_id = r->w[4];
  if (s->parent_id) {
    m_span *p = span_get(m, s->parent_id, NULL);
    /* A span is never its own ancestor: with ids reused (a registry's), a stale handle given
     * as the parent may carry the new span's id, or a descendant's. The id stays, the link does
     * not (the walks up the parents would never end). */
    for (const m_span *a = p; a; a = a->parent) {
      if (a == s) {
        p = NULL;
        break;
      }
    }
    if (p) {
      s->parent = p;
      p->refs++;
    }
  }
  store_fields(m, s, r, 5, true);
}


static void resolve_pending(col_model *m, m_thread *t, uint64_t ts) {
  for (uint32_t i = 0; i < t->npending; i++) {
    m_span *s = t->pending[i];
    if (s->new_pending) {
      s->new_pending = 0;
      s->t_new = ts;
    }
    span_unref(m, s);
  }
  t->npending = 0;
}

static void frame_push(m_thread *t, m_span *s, uint64_t ts) {
  if (t->depth == t->cap) {
    uint32_t cap = t->cap ? t->cap * 2 : 16;
    m_frame *f = trace__realloc(t->stack, cap * sizeof *f);
    if (!f)
      return;
    t->stack = f;
    t->cap = cap;
  }
  s->refs++;
  s->frames++;
  t->stack[t->depth++] = (m_frame){s, ts};
}

/* The frame at i of t's stack ends at end (it is removed by the caller): its time is the span's
 * busy time, unless the thread had entered the span already (an outer frame counts it). */
static void frame_end(m_thread *t, uint32_t i, uint64_t end) {
  const m_frame *f = &t->stack[i];
  m_span *s = f->span;
  bool outer = false;
  if (s->frames > 1)
    for (uint32_t j = 0; j < i && !outer; j++)
      outer = t->stack[j].span == s;
  if (!outer && end > f->start)
    s->busy += end - f->start;
  s->frames--;
}

/* Busy time: what passed since the thread's last enter or exit belongs to its innermost span. */
static void attribute(m_thread *t, uint64_t ts) {
  if (t->depth && ts > t->last_transition)
    t->stack[t->depth - 1].span->busy_self += ts - t->last_transition;
  t->last_transition = ts;
}

/* The span of r is entered on t at ts (an ENTER record, or a NEW that says so). */
static void feed_enter(col_model *m, m_thread *t, const col_rec *r, uint64_t ts) {
  m_span *s = span_get(m, r->id, r->meta);
  if (!s)
    return;
  attribute(t, ts);
  if (!s->entered) {
    s->entered = 1;
    s->run_thread = t->number;
    s->t_first_enter = ts;
  } else if (s->run_thread != t->number) {
    s->async = 1; /* entered on several threads */
  }
  frame_push(t, s, ts);
}

static void feed_exit(col_model *m, m_thread *t, const col_rec *r, uint64_t ts) {
  for (uint32_t i = t->depth; i-- > 0;) {
    m_span *s = t->stack[i].span;
    if (s->id != r->id)
      continue;
    attribute(t, ts);
    frame_end(t, i, ts);
    if (i == t->depth - 1) {
      emit_interval(m, t, s, t->stack[i].start, ts, false);
    } else {
      /* Exited before spans entered after it: the intervals do not nest, so the span is an
       * async pair rather than a complete event. */
      s->async = 1;
      memmove(&t->stack[i], &t->stack[i + 1], (t->depth - 1 - i) * sizeof t->stack[0]);
    }
    t->depth--;
    span_unref(m, s);
    return;
  }
  /* its enter was not read (dropped, or overwritten before a dump) */
}

/* The span's last reference dropped on t (a CLOSE record, or an EXIT that says so). */
static void feed_close(col_model *m, m_thread *t, const col_rec *r, uint64_t ts) {
  m_span *s = span_get(m, r->id, NULL);
  if (!s)
    return;
  if (!s->new_thread && !s->run_thread)
    s->new_thread = t->number; /* its creation and enters were not read */
  span_close(m, s, ts ? ts : t->last_ns, false);
}

void trace__col_model_feed(col_model *m, const col_rec *r) {
  m_thread *t = m->cur;
  if (!t)
    return;
  uint64_t ts = 0;
  if (r->ticks) {
    ts = trace__col_map_ns(&m->map, r->ticks);
    if (ts < t->last_ns) {
      /* A clock that went back (a custom clock, a TSC out of step between CPUs): the thread's
       * times stay ordered, so its intervals still nest. */
      if (m->cfg.clock_backwards)
        __atomic_add_fetch(m->cfg.clock_backwards, 1, __ATOMIC_RELAXED);
      ts = t->last_ns;
    }
    t->last_ns = ts;
    if (t->npending)
      resolve_pending(m, t, ts);
  }
  switch (r->kind) {
  case COL_NEW: {
    if (r->flags & col_w0_flags(COL_NEW_ENTERED)) {
      /* Made and entered at ts: the enter, which finds (or makes) the span, and its time. */
      feed_enter(m, t, r, ts);
      m_span *s = span_find(m, r->id);
      if (s && !s->closed)
        s->t_new = ts;
      return;
    }
    m_span *s = span_find(m, r->id);
    if (!s || s->closed)
      return;
    if (ts) {
      s->t_new = ts;
    } else if (!s->new_pending) {
      /* Its time is that of the thread's next timestamp (docs/timeline.md). */
      if (t->npending == t->cap_pending) {
        uint32_t cap = t->cap_pending ? t->cap_pending * 2 : 16;
        m_span **p = trace__realloc(t->pending, cap * sizeof *p);
        if (!p) {
          s->t_new = t->last_ns;
          return;
        }
        t->pending = p;
        t->cap_pending = cap;
      }
      s->new_pending = 1;
      s->refs++;
      t->pending[t->npending++] = s;
    }
    return;
  }
  case COL_ENTER:
    feed_enter(m, t, r, ts);
    return;
  case COL_EXIT:
    feed_exit(m, t, r, ts);
    if (r->flags & col_w0_flags(COL_EXIT_CLOSED))
      feed_close(m, t, r, ts);
    return;
  case COL_CLOSE:
    feed_close(m, t, r, ts);
    return;
  case COL_EVENT: {
    bool to_sink = m->cfg.sink && m->cfg.sink->event;
    if (!to_sink && !m->cfg.chrome)
      return;
    m_event e;
    decode_event(r, &e);
    emit_instant(m, t, r, &e, ts);
    if (to_sink)
      hand_event(m, t, r, &e, ts);
    return;
  }
  case COL_RECORD: {
    m_span *s = span_find(m, r->id);
    if (s && !s->closed)
      store_fields(m, s, r, 4, false);
    return;
  }
  case COL_FOLLOWS: {
    m_span *s = span_find(m, r->id);
    if (s && s->nfollows < TRACE__ARRAY_LEN(s->follows))
      s->follows[s->nfollows++] = r->w[3];
    return;
  }
  default: return;
  }
}

void trace__col_model_round_end(col_model *m) {
  hand_done(m);
  m_span *list = m->blocked;
  m->blocked = NULL;
  while (list) {
    m_span *s = list;
    list = s->next_blocked;
    s->blocked = 0;
    span_unref(m, s); /* released again, or blocked again */
  }
  if (m->cfg.folded)
    trace__col_folded_commit(m->cfg.folded);
  if (m->cfg.chrome)
    trace__col_chrome_commit(m->cfg.chrome);
  if (m->cfg.sink && m->cfg.sink->round_end)
    m->cfg.sink->round_end(m->cfg.sink->arg);
}

static uint32_t depth_of(const m_span *s) {
  uint32_t d = 0;
  for (const m_span *p = s->parent; p; p = p->parent)
    d++;
  return d;
}

/* Children before their parents, as spans closed in their lifetime go. */
static int deeper_first(const void *a, const void *b) {
  uint32_t da = depth_of(*(m_span *const *)a), db = depth_of(*(m_span *const *)b);
  return da > db ? -1 : da < db;
}

void trace__col_model_finish(col_model *m, uint64_t end_ns) {
  m->finishing = true;
  /* Spans still entered: their open interval, innermost first (what nests stays nested). */
  for (uint32_t n = 0; n < m->threads_cap; n++) {
    m_thread *t = m->threads[n];
    if (!t)
      continue;
    uint64_t end = end_ns > t->last_ns ? end_ns : t->last_ns;
    attribute(t, end);
    while (t->depth) {
      frame_end(t, t->depth - 1, end);
      m_frame f = t->stack[--t->depth];
      emit_interval(m, t, f.span, f.start, end, true);
      span_unref(m, f.span);
    }
    if (t->npending)
      resolve_pending(m, t, end);
  }
  /* Spans never closed: shown open, ending now. Each is held while the others are closed (one
   * closing may free another). */
  m_span **open = m->table_used ? trace__malloc(m->table_used * sizeof *open) : NULL;
  uint32_t nopen = 0;
  for (uint32_t i = 0; open && i < m->table_cap; i++) {
    m_span *s = m->table[i];
    if (s && !s->closed) {
      s->refs++;
      open[nopen++] = s;
    }
  }
  if (nopen > 1)
    qsort(open, nopen, sizeof *open, deeper_first);
  for (uint32_t i = 0; i < nopen; i++) {
    m_span *s = open[i];
    if (!s->known && !s->entered) {
      /* Only heard of as a parent: it has no life of its own to show. */
      s->closed = 1;
      s->t_new = s->t_close = end_ns;
      span_unref(m, s);
    } else if (!s->closed) {
      span_close(m, s, end_ns > s->t_new ? end_ns : s->t_new, true);
    }
  }
  for (uint32_t i = 0; i < nopen; i++)
    span_unref(m, open[i]);
  trace__free(open);
  trace__col_model_round_end(m);
}

void trace__col_model_free(col_model *m) {
  if (!m)
    return;
  for (uint32_t i = 0; i < m->table_cap; i++) {
    if (m->table[i]) {
      fields_free(m->table[i]);
      trace__free(m->table[i]->tracestate);
      trace__free(m->table[i]);
    }
  }
  trace__free(m->table);
  for (m_span *s = m->spare, *next; s; s = next) {
    next = s->next_spare;
    trace__free(s);
  }
  for (uint32_t n = 0; n < m->threads_cap; n++) {
    if (m->threads[n]) {
      trace__free(m->threads[n]->stack);
      trace__free(m->threads[n]->pending);
      trace__free(m->threads[n]);
    }
  }
  trace__free(m->threads);
  trace__free(m->values);
  trace__free(m->index);
  trace__buf_free(&m->ev);
  trace__free(m);
}
