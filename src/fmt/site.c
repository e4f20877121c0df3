/* Per-callsite pieces of output that never change: the escaped target and location, the field
 * name prefixes (with JSON keys already made unique), and the message when it has no
 * conversions. Built once per callsite and layer, on first use, then only copied: escaping and
 * measuring static strings on every event was most of the cost of a line. */
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "../text/number.h"
#include "internal.h"

static void piece_end(trace__buf *b, fmt_piece *p, size_t start) {
  p->off = (uint32_t)start;
  p->len = (uint32_t)(b->len - start);
}

/* The location: Full and Compact "target: file:line: "; JSON ,"target":...,"line_number":N. */
void trace__fmt_put_location(trace__buf *b, const fmt_layer *l, const trace_metadata *m) {
  bool ansi = l->ansi;
  if (l->style == STYLE_JSON) {
    if (l->o.show_target) {
      trace__buf_puts(b, ",\"target\":\"");
      trace__escape(b, m->target, strlen(m->target), TRACE__ESC_JSON);
      trace__buf_putc(b, '"');
    }
    if (l->o.show_file && m->file) {
      trace__buf_puts(b, ",\"filename\":\"");
      trace__escape(b, m->file, strlen(m->file), TRACE__ESC_JSON);
      trace__buf_putc(b, '"');
    }
    if (l->o.show_line && m->line) { /* 0: no line (events made at run time) */
      trace__buf_puts(b, ",\"line_number\":");
      trace__buf_u64(b, m->line);
    }
    return;
  }
  if (l->o.show_target) {
    if (ansi)
      trace__buf_put(b, ANSI_DIM, 4);
    trace__escape(b, m->target, strlen(m->target), TRACE__ESC_TEXT);
    trace__buf_putc(b, ':');
    if (ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    trace__buf_putc(b, ' ');
  }
  if (l->o.show_file && m->file) {
    if (ansi)
      trace__buf_put(b, ANSI_DIM, 4);
    trace__escape(b, m->file, strlen(m->file), TRACE__ESC_TEXT);
    trace__buf_putc(b, ':');
    if (ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    if (!l->o.show_line || !m->line)
      trace__buf_putc(b, ' ');
  }
  if (l->o.show_line && m->line) {
    if (ansi)
      trace__buf_put(b, ANSI_DIM, 4);
    trace__buf_u64(b, m->line);
    trace__buf_putc(b, ':');
    if (ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    trace__buf_putc(b, ' ');
  }
}

/* One field's prefix, separator first: ' name=' (text), ', name: ' (pretty), ',"key":' (JSON);
 * only the separator for a field printed bare. */
static void build_field(trace__buf *b, const fmt_layer *l, const char *key, bool bare) {
  if (bare) {
    trace__buf_puts(b, l->style == STYLE_PRETTY ? ", " : " ");
    return;
  }
  switch (l->style) {
  case STYLE_JSON:
    trace__buf_put(b, ",\"", 2);
    trace__escape(b, key, strlen(key), TRACE__ESC_JSON);
    trace__buf_put(b, "\":", 2);
    break;
  case STYLE_PRETTY:
    trace__buf_put(b, ", ", 2);
    if (l->ansi)
      trace__buf_put(b, ANSI_BOLD, 4);
    trace__escape(b, key, strlen(key), TRACE__ESC_TEXT);
    if (l->ansi)
      trace__buf_put(b, ANSI_RESET, 4);
    trace__buf_put(b, ": ", 2);
    break;
  default:
    trace__buf_putc(b, ' ');
    if (l->ansi)
      trace__buf_put(b, ANSI_ITALIC, 4);
    trace__escape(b, key, strlen(key), TRACE__ESC_TEXT);
    if (l->ansi)
      trace__buf_put(b, ANSI_RESET ANSI_DIM "=" ANSI_RESET, 13);
    else
      trace__buf_putc(b, '=');
    break;
  }
}

/* Compiles a printf format: literal parts escaped into b, conversions parsed. Returns the number
 * of operations, or 0 when the format needs the general path (positional arguments, an unknown
 * or dangling conversion, too many parts): it is then formatted at run time as written. */
static size_t compile_message(trace__buf *b, const fmt_layer *l, const char *fmt, fmt_op *ops,
                              size_t cap) {
  trace__escape_mode mode = l->style == STYLE_JSON ? TRACE__ESC_JSON : TRACE__ESC_TEXT;
  size_t len = strlen(fmt);
  if (len && fmt[len - 1] == '\n')
    len--; /* as trace__vformat drops it */
  const char *p = fmt, *end = fmt + len;
  size_t n = 0;
  while (p < end) {
    const char *lit = p;
    p = memchr(p, '%', (size_t)(end - p));
    if (!p)
      p = end;
    if (p > lit) {
      if (n == cap)
        return 0;
      size_t start = b->len;
      trace__escape(b, lit, (size_t)(p - lit), mode);
      memset(&ops[n].spec, 0, sizeof ops[n].spec);
      ops[n].plain = false;
      piece_end(b, &ops[n].literal, start);
      n++;
    }
    if (p >= end)
      break;
    if (n == cap)
      return 0;
    const char *next = trace__printf_parse(p + 1, end, &ops[n].spec);
    if (!next || !strchr("diuxXocspfFeEgGaAnm%", ops[n].spec.conv))
      return 0;
    ops[n].literal.off = ops[n].literal.len = 0;
    const trace__fmt_spec *sp = &ops[n].spec;
    ops[n].plain = !sp->left && !sp->plus && !sp->space && !sp->alt && !sp->zero && !sp->group &&
                   !sp->width_arg && !sp->precision_arg && sp->width < 0 && sp->precision < 0 &&
                   sp->length == 0;
    n++;
    p = next;
  }
  return n;
}

/* A message without conversions, escaped once, as trace__fmt_put_message would each time. */
static void put_static_message(trace__buf *b, const fmt_layer *l, const char *message) {
  size_t len = strlen(message);
  if (len && message[len - 1] == '\n')
    len--; /* as trace__vformat drops it */
  trace__fmt_put_text(b, message, len, l->style == STYLE_JSON ? TRACE__ESC_JSON : TRACE__ESC_TEXT,
                      l->o.max_value_len);
}

static fmt_site *build(const fmt_layer *l, const trace_metadata *m) {
  trace__buf b;
  trace__buf_init_growable(&b, (size_t)1 << 20);
  size_t n = m->field_count;
  fmt_piece *pieces = trace__calloc(n + 2, sizeof *pieces);
  const char **keys = trace__calloc(n + 1, sizeof *keys);
  if (!pieces || !keys) {
    trace__free(pieces);
    trace__free(keys);
    return NULL;
  }
  size_t start = b.len;
  trace__fmt_put_location(&b, l, m);
  piece_end(&b, &pieces[0], start);
  /* JSON keys: unique within the object, the reserved key excluded ("message" in an event's
   * fields when it has a message, "name" in a span's object). */
  const char *reserved = m->kind == TRACE_KIND_SPAN ? "name" : m->message ? "message" : NULL;
  char alt[160];
  uint64_t bare_mask = 0;
  for (size_t i = 0; i < n; i++) {
    const char *key = m->field_names[i];
    char *owned = NULL;
    if (l->style == STYLE_JSON) {
      bool taken = reserved && strcmp(key, reserved) == 0;
      for (size_t k = 0; k < i && !taken; k++)
        taken = strcmp(keys[k], key) == 0;
      if (taken) {
        snprintf(alt, sizeof alt, "field.%s", m->field_names[i]);
        bool again = reserved && strcmp(alt, reserved) == 0;
        for (size_t k = 0; k < i && !again; k++)
          again = strcmp(keys[k], alt) == 0;
        if (again)
          snprintf(alt, sizeof alt, "%s#%zu", m->field_names[i], i + 1);
        owned = trace__strdup(alt);
        key = owned ? owned : m->field_names[i];
      }
    }
    keys[i] = key;
    start = b.len;
    bool bare = i < 64 && trace__fmt_is_bare_message(&(trace_valueset){m, NULL, NULL, (uint32_t)n},
                                              (uint32_t)i, l->style);
    if (bare)
      bare_mask |= (uint64_t)1 << i;
    build_field(&b, l, key, bare);
    piece_end(&b, &pieces[i + 1], start);
    (void)owned; /* freed below with the other keys that are copies */
  }
  /* The message, when the format has no conversion: escaped once, here. */
  bool static_message = m->message && !strchr(m->message, '%');
  if (static_message) {
    start = b.len;
    put_static_message(&b, l, m->message);
    piece_end(&b, &pieces[n + 1], start);
  }
  /* The head of Full and Compact lines outside spans (fmt_site): made again rather than copied
   * from b, whose storage may move while it grows. */
  bool has_head = (l->o.format == TRACE_FMT_FULL || l->o.format == TRACE_FMT_COMPACT) &&
                  l->o.time == TRACE_FMT_TIME_NONE && !l->o.show_thread_names &&
                  !l->o.show_thread_ids && m->kind == TRACE_KIND_EVENT;
  fmt_piece head = {0, 0};
  size_t head_level = 0;
  if (has_head) {
    start = b.len;
    if (l->o.show_level)
      trace__fmt_put_level_column(&b, m->level, l->ansi);
    head_level = b.len - start;
    trace__fmt_put_location(&b, l, m);
    if (static_message)
      put_static_message(&b, l, m->message);
    piece_end(&b, &head, start);
  }
  for (size_t i = 0; i < n; i++)
    if (keys[i] != m->field_names[i])
      trace__free((void *)(uintptr_t)keys[i]);
  trace__free(keys);
  fmt_op ops[64];
  size_t nops = m->message && !static_message
                    ? compile_message(&b, l, m->message, ops, TRACE__ARRAY_LEN(ops))
                    : 0;
  /* A span's fields in JSON: sorted by name, as tracing writes them. */
  size_t norder = 0;
  if (l->style == STYLE_JSON && m->kind == TRACE_KIND_SPAN && n <= UINT16_MAX) {
    bool sorted = true; /* declared in order already: no order array */
    for (size_t i = 1; i < n && sorted; i++)
      sorted = strcmp(m->field_names[i - 1], m->field_names[i]) <= 0;
    norder = sorted ? 0 : n;
  }
  fmt_site *s = NULL;
  if (!b.truncated && b.len < UINT32_MAX)
    s = trace__alloc_lines(sizeof *s + nops * sizeof *ops + (n + 2) * sizeof *pieces +
                           norder * sizeof(uint16_t) + b.len + TRACE__BUF_PAD);
  if (s) {
    s->nfields = (uint16_t)n;
    s->sep = l->style == STYLE_PRETTY ? 2 : 1;
    s->static_message = static_message;
    s->has_head = has_head;
    s->head = head;
    s->head_level = (uint8_t)head_level;
    s->nops = (uint16_t)nops;
    s->ops = (fmt_op *)(void *)(s + 1);
    memcpy(s->ops, ops, nops * sizeof *ops);
    s->pieces = (fmt_piece *)(void *)(s->ops + nops);
    memcpy(s->pieces, pieces, (n + 2) * sizeof *pieces);
    uint16_t *order = (uint16_t *)(void *)(s->pieces + n + 2);
    if (norder)
      trace__fmt_sort_by_name(m->field_names, order, norder);
    s->order = norder ? order : NULL;
    s->bare = bare_mask;
    s->rare_fields = bare_mask || norder;
    s->text = (char *)(order + norder);
    memcpy(s->text, b.data, b.len);
    memset(s->text + b.len, 0, TRACE__BUF_PAD); /* pieces are copied in whole blocks */
  }
  trace__free(pieces);
  trace__buf_free(&b);
  return s;
}

/* trace__fmt_site_get's first use of a callsite: out of line, so that the lookup needs no frame. */
static TRACE__NOINLINE const fmt_site *site_make(fmt_layer *l, const trace_metadata *m,
                                                 fmt_site **slot) {
  if (!slot) {
    /* A callsite id 0 (not registered) is formatted the slow way. */
    slot = trace__idtable_get(&l->sites, m->callsite_id, sizeof *slot);
    if (!slot)
      return NULL;
    fmt_site *s = TRACE__LOAD_ACQ(slot);
    if (s)
      return s;
  }
  fmt_site *fresh = build(l, m);
  if (!fresh)
    return NULL;
  fmt_site *expected = NULL;
  if (__atomic_compare_exchange_n(slot, &expected, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    return fresh;
  trace__free_lines(fresh); /* another thread built it first */
  return expected;
}

const fmt_site *trace__fmt_site_get(fmt_layer *l, const trace_metadata *m) {
  fmt_site **slot = trace__idtable_find(&l->sites, m->callsite_id, sizeof *slot);
  if (TRACE__LIKELY(slot != NULL)) {
    fmt_site *s = TRACE__LOAD_ACQ(slot);
    if (TRACE__LIKELY(s != NULL))
      return s;
  }
  return site_make(l, m, slot);
}

static void free_site(void *entry) { trace__free_lines(*(fmt_site **)entry); }

void trace__fmt_sites_free(fmt_layer *l) {
  trace__idtable_each(&l->sites, sizeof(fmt_site *), free_site);
  trace__idtable_free(&l->sites);
}

/* The common value types inline; the rest through trace__fmt_put_value. */
static inline void put_value_fast(trace__buf *b, const fmt_layer *l, const trace_value *v) {
  switch (v->type) {
  case TRACE_VALUE_I64:
    trace__buf_i64(b, v->as.i64);
    return;
  case TRACE_VALUE_U64:
    trace__buf_u64(b, v->as.u64);
    return;
  case TRACE_VALUE_STR:
    if (v->as.str.ptr && v->as.str.len <= l->o.max_value_len) {
      trace__buf_putc(b, '"');
      trace__escape_fast(b, v->as.str.ptr, v->as.str.len,
                    l->style == STYLE_JSON ? TRACE__ESC_JSON : TRACE__ESC_QUOTED);
      trace__buf_putc(b, '"');
      return;
    }
    break;
  default:
    break;
  }
  trace__fmt_put_value(b, v, l->style, l->o.max_value_len);
}

/* Fields through the site's prefixes. The common case (a short prefix, a number or a short
 * string that needs no escaping, room to spare) is written through a local cursor: updating
 * b->len after every piece made each append wait for the store of the one before (a chain of
 * store-to-load forwards through memory), where the local stays in a register. Everything else
 * goes through the buffer's functions, with b->len brought up to date first. The cursor is an
 * index, not a pointer: a buffer without storage yet has a NULL data pointer and no room, and
 * the fast path, which needs room, never forms a pointer from it. */
/* trace__fmt_put_site_fields for the rare sites with bare or sorted fields: one field at a time. */
static void put_site_fields_in_order(trace__buf *b, const fmt_layer *l, const fmt_site *site,
                                     const trace_valueset *vs, bool first) {
  uint32_t n = vs->count < site->nfields ? vs->count : site->nfields;
  for (uint32_t k = 0; k < site->nfields; k++) {
    uint32_t i = site->order ? site->order[k] : k;
    if (i >= n || vs->values[i].type == TRACE_VALUE_EMPTY)
      continue;
    const trace_value *v = &vs->values[i];
    const fmt_piece *pc = &site->pieces[i + 1];
    uint32_t skip = first ? site->sep : 0;
    if (pc->len > skip)
      trace__buf_put(b, site->text + pc->off + skip, pc->len - skip);
    first = false;
    if (i < 64 && (site->bare >> i & 1) && v->type == TRACE_VALUE_STR && v->as.str.ptr)
      trace__fmt_put_text(b, v->as.str.ptr, v->as.str.len, TRACE__ESC_TEXT, l->o.max_value_len);
    else
      put_value_fast(b, l, v);
  }
}

static TRACE__INLINE void put_site_fields(trace__buf *b, const fmt_layer *l, const fmt_site *site,
                                          const trace_valueset *vs, bool first) {
  if (TRACE__UNLIKELY(site->rare_fields)) {
    put_site_fields_in_order(b, l, site, vs, first);
    return;
  }
  uint32_t n = vs->count < site->nfields ? vs->count : site->nfields;
  /* In locals: the bytes stored through data are chars, which may alias anything, so fields of
   * site and vs read in the loop would be loaded again after every store. (The layer's style and
   * limit are read where a value needs them: as locals they took registers the loop lacks, and
   * were spilled.) */
  const trace_value *values = vs->values;
  const fmt_piece *pieces = site->pieces + 1;
  const char *text = site->text;
  uint32_t skip = first ? site->sep : 0; /* the separator is left out before the first field */
  char *data = b->data;
  size_t len = b->len, cap = b->cap;
  for (uint32_t i = 0; i < n; i++) {
    const trace_value *v = &values[i];
    if (v->type == TRACE_VALUE_EMPTY)
      continue;
    const char *prefix = text + pieces[i].off + skip;
    size_t plen = pieces[i].len - skip;
    skip = 0;
    /* Room for the prefix block and the largest fast value: a double's stores (TRACE__F64_TEXT_ROOM),
     * which cover 21 digits and 16 bytes + quotes too. */
    if (TRACE__LIKELY(plen <= TRACE__BUF_PAD &&
                      cap - len >= TRACE__BUF_PAD + TRACE__F64_TEXT_ROOM)) {
      char *p = data + len;
      memcpy(p, prefix, TRACE__BUF_PAD);
      p += plen;
      switch (v->type) {
      case TRACE_VALUE_I64: len = (size_t)(p - data) + trace__i64_dec(p, v->as.i64); continue;
      case TRACE_VALUE_U64: len = (size_t)(p - data) + trace__u64_dec(p, v->as.u64); continue;
      case TRACE_VALUE_F64:
        len = (size_t)(p - data) + trace__f64_text(p, v->as.f64, l->style == STYLE_JSON);
        continue;
      case TRACE_VALUE_STR: {
        size_t slen = v->as.str.len;
        if (v->as.str.ptr && slen <= 16 && slen <= l->o.max_value_len &&
            trace__copy_if_plain(p + 1, v->as.str.ptr, slen,
                                 l->style == STYLE_JSON ? TRACE__ESC_JSON : TRACE__ESC_QUOTED)) {
          p[0] = '"';
          p[slen + 1] = '"';
          len = (size_t)(p - data) + slen + 2;
          continue;
        }
        break;
      }
      default: break;
      }
      b->len = (size_t)(p - data);
    } else {
      b->len = len;
      trace__buf_put(b, prefix, plen);
    }
    put_value_fast(b, l, v);
    data = b->data;
    len = b->len;
    cap = b->cap;
  }
  b->len = len;
}

void trace__fmt_put_site_fields(trace__buf *b, const fmt_layer *l, const fmt_site *site,
                                const trace_valueset *vs, bool first) {
  put_site_fields(b, l, site, vs, first);
}

/* The line of an event outside spans whose site has a head piece: all of it here, with the fields
 * inlined, without the general layout's frame (most events of most programs). */
bool trace__fmt_head_line(trace__buf *b, const fmt_layer *l, const fmt_line *line) {
  const fmt_site *site = line->site;
  trace__buf_put_blocks(b, site->text + site->head.off, site->head.len);
  bool first = true;
  if (line->meta->message) {
    if (!site->static_message) /* a static one is in the head */
      trace__fmt_put_message(b, line->ev, site, TRACE__ESC_TEXT, l->o.max_value_len);
    first = false;
  }
  put_site_fields(b, l, site, &line->ev->fields, first);
  trace__buf_putc(b, '\n');
  return TRACE__LIKELY(!b->truncated) || trace__fmt_end_cut_line(b);
}

/* A span's fields in the layer's style (the registry's copy of the values, under its lock). */
void trace__fmt_format_values(void *p, const trace_valueset *vs) {
  fmt_values_arg *a = p;
  const fmt_site *site = vs->index ? NULL : trace__fmt_site_get(a->l, vs->meta);
  if (site)
    trace__fmt_put_site_fields(a->b, a->l, site, vs, true);
  else
    trace__fmt_put_fields(a->b, vs, a->l->style, a->l->o.max_value_len, true,
                   a->l->ansi && a->l->style != STYLE_JSON,
                   a->l->style == STYLE_JSON ? "name" : NULL);
}
