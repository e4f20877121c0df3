/* Field values in the three styles: text (k=v, strings quoted like Rust's Debug), pretty (k: v)
 * and JSON ("k":v). Every string is escaped and cut at the value limit with a visible marker. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "../text/fmt_text.h"
#include "../text/number.h"
#include "internal.h"

/* s cut at max bytes (on a UTF-8 boundary), then "...[N more bytes]" where N counts up to total
 * (the full length, of which s may hold only a part). */
static void put_text_of(trace__buf *b, const char *s, size_t len, size_t total,
                        trace__escape_mode mode, size_t max) {
  if (TRACE__LIKELY(len <= max && total <= len)) {
    trace__escape_fast(b, s, len, mode);
    return;
  }
  size_t cut = TRACE__MIN(len, max);
  while (cut > 0 && cut < len && ((unsigned char)s[cut] & 0xC0) == 0x80)
    cut--; /* do not split a UTF-8 sequence */
  trace__escape(b, s, cut, mode);
  char marker[48];
  int n = snprintf(marker, sizeof marker, "...[%zu more bytes]", TRACE__MAX(total, len) - cut);
  trace__buf_put_whole(b, marker, (size_t)n);
}

void trace__fmt_put_text(trace__buf *b, const char *s, size_t len, trace__escape_mode mode, size_t max) {
  put_text_of(b, s, len, len, mode, max);
}

void trace__fmt_put_message(trace__buf *b, const trace_event *ev, const fmt_site *site,
                     trace__escape_mode mode, size_t max) {
  trace__buf_mark m = trace__buf_limit_push(b, max);
  va_list ap;
  if (!trace_event_va_copy(ev, &ap)) {
    trace__buf_limit_pop(b, m);
    return;
  }
  int errno_value = trace_event_errno(ev);
  if (site && site->nops) {
    /* A local cursor for the common parts, as in trace__fmt_put_site_fields (an index: the data
     * pointer may be NULL while there is no room); b->len is brought up to date before anything
     * else touches the buffer. */
    char *data = b->data;
    size_t len = b->len, cap = b->cap;
    for (uint16_t i = 0; i < site->nops; i++) {
      const fmt_op *op = &site->ops[i];
      if (op->literal.len) {
        if (TRACE__LIKELY(op->literal.len <= TRACE__BUF_PAD && cap - len >= TRACE__BUF_PAD)) {
          memcpy(data + len, site->text + op->literal.off, TRACE__BUF_PAD);
          len += op->literal.len;
          continue;
        }
        b->len = len;
        trace__buf_put(b, site->text + op->literal.off, op->literal.len);
      } else if (op->plain && op->spec.conv == 's') {
        /* %s and %d without flags are most conversions: no detour through the general code. */
        const char *str = va_arg(ap, const char *);
        if (!str)
          str = "(null)";
        size_t slen = strlen(str);
        if (slen <= 16 && cap - len >= 16 && trace__copy_if_plain(data + len, str, slen, mode)) {
          len += slen;
          continue;
        }
        b->len = len;
        trace__escape(b, str, slen, mode);
      } else if (op->plain && (op->spec.conv == 'd' || op->spec.conv == 'i')) {
        int v = va_arg(ap, int);
        if (cap - len >= 21) {
          len += trace__i64_dec(data + len, v);
          continue;
        }
        b->len = len;
        trace__buf_i64(b, v);
      } else {
        b->len = len;
        trace__printf_conv(b, &op->spec, &ap, mode, true, errno_value);
      }
      data = b->data;
      len = b->len;
      cap = b->cap;
    }
    b->len = len;
  } else {
    trace__vformat(b, ev->meta->message, ap, mode, true, errno_value);
  }
  va_end(ap);
  bool cut = trace__buf_limit_pop(b, m);
  if (cut)
    trace__buf_put_whole(b, "...[truncated]", 14);
}

/* A FMT value's text, from its callback, then escaped. */
static void put_fmt(trace__buf *b, const trace_value *v, trace__escape_mode mode, size_t max) {
  trace__fmt_text t;
  /* A few bytes past the cut, so that it can step back to the start of a UTF-8 sequence. */
  trace__fmt_text_get(&t, v, max + 4);
  put_text_of(b, t.ptr, t.len, t.want, mode, max);
  trace__fmt_text_done(&t);
}

void trace__fmt_put_value(trace__buf *b, const trace_value *v, field_style style, size_t max) {
  bool json = style == STYLE_JSON;
  switch (v->type) {
  case TRACE_VALUE_I64: trace__buf_i64(b, v->as.i64); break;
  case TRACE_VALUE_U64: trace__buf_u64(b, v->as.u64); break;
  case TRACE_VALUE_F64: trace__buf_f64(b, v->as.f64, json); break;
  case TRACE_VALUE_BOOL:
    if (v->as.b)
      trace__buf_put(b, "true", 4);
    else
      trace__buf_put(b, "false", 5);
    break;
  case TRACE_VALUE_STR:
    if (!v->as.str.ptr) {
      trace__buf_put(b, "null", 4);
      break;
    }
    trace__buf_putc(b, '"');
    trace__fmt_put_text(b, v->as.str.ptr, v->as.str.len, json ? TRACE__ESC_JSON : TRACE__ESC_QUOTED, max);
    trace__buf_putc(b, '"');
    break;
  case TRACE_VALUE_DISPLAY:
    if (!v->as.str.ptr) {
      trace__buf_put(b, "null", 4);
      break;
    }
    if (json)
      trace__buf_putc(b, '"');
    trace__fmt_put_text(b, v->as.str.ptr, v->as.str.len, json ? TRACE__ESC_JSON : TRACE__ESC_TEXT, max);
    if (json)
      trace__buf_putc(b, '"');
    break;
  case TRACE_VALUE_PTR:
    if (json)
      trace__buf_putc(b, '"');
    trace__buf_ptr(b, v->as.ptr);
    if (json)
      trace__buf_putc(b, '"');
    break;
  case TRACE_VALUE_FMT:
    if (json)
      trace__buf_putc(b, '"');
    put_fmt(b, v, json ? TRACE__ESC_JSON : TRACE__ESC_TEXT, max);
    if (json)
      trace__buf_putc(b, '"');
    break;
  default:
    trace__buf_put(b, "null", 4);
    break;
  }
}

/* JSON object keys must be unique. The keys written so far in one object, to check new ones
 * against: a field that repeats one (or the reserved key) is written as "field.<name>", or, if
 * that is taken too, "<name>#<n>" with n its position. Beyond the capacity of this small table
 * (a set with very many fields) the positional form is used directly, unique by construction. */
typedef struct json_keys {
  const char *keys[32];
  char store[2048];
  size_t used, n;
} json_keys;

static bool key_taken(const json_keys *k, const char *key, const char *reserved) {
  if (reserved && strcmp(key, reserved) == 0)
    return true;
  for (size_t i = 0; i < k->n; i++)
    if (strcmp(k->keys[i], key) == 0)
      return true;
  return false;
}

static void remember_key(json_keys *k, const char *key) {
  size_t len = strlen(key) + 1;
  if (k->n < TRACE__ARRAY_LEN(k->keys) && k->used + len <= sizeof k->store) {
    memcpy(k->store + k->used, key, len);
    k->keys[k->n++] = k->store + k->used;
    k->used += len;
  } else {
    k->n = SIZE_MAX; /* full: see above */
  }
}

/* Field names are escaped too: normally identifiers, but a value set from a custom source may
 * hold anything. */
static void put_json_key(trace__buf *b, json_keys *k, const char *name, uint32_t i,
                         const char *reserved) {
  char alt[160];
  const char *key = name;
  if (k->n == SIZE_MAX) {
    snprintf(alt, sizeof alt, "%s#%u", name, i + 1);
    key = alt;
  } else if (key_taken(k, key, reserved)) {
    snprintf(alt, sizeof alt, "field.%s", name);
    if (key_taken(k, alt, reserved))
      snprintf(alt, sizeof alt, "%s#%u", name, i + 1);
    key = alt;
  }
  if (k->n != SIZE_MAX)
    remember_key(k, key);
  trace__buf_putc(b, '"');
  trace__escape(b, key, strlen(key), TRACE__ESC_JSON);
  trace__buf_put(b, "\":", 2);
}

bool trace__fmt_is_bare_message(const trace_valueset *vs, uint32_t i, field_style style) {
  return style != STYLE_JSON && vs->meta && !vs->meta->message &&
         strcmp(trace_valueset_name(vs, i), "message") == 0;
}

void trace__fmt_sort_by_name(const char *const *names, uint16_t *order, size_t n) {
  for (size_t i = 0; i < n; i++) { /* insertion sort: a callsite has a few fields */
    size_t j = i;
    while (j > 0 && strcmp(names[order[j - 1]], names[i]) > 0) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = (uint16_t)i;
  }
}

/* The order trace__fmt_put_fields writes a set in: a span's fields sorted by name in JSON (up to 64 of
 * them; a larger set keeps its order), otherwise as they come. Returns order or NULL. */
static const uint16_t *field_order(const trace_valueset *vs, field_style style, uint16_t *order) {
  if (style != STYLE_JSON || !vs->meta || vs->meta->kind != TRACE_KIND_SPAN || vs->count < 2 ||
      vs->count > 64)
    return NULL;
  const char *names[64];
  for (uint32_t i = 0; i < vs->count; i++)
    names[i] = trace_valueset_name(vs, i);
  trace__fmt_sort_by_name(names, order, vs->count);
  return order;
}

bool trace__fmt_put_fields(trace__buf *b, const trace_valueset *vs, field_style style, size_t max,
                    bool first, bool ansi, const char *reserved) {
  bool any = false;
  json_keys keys;
  keys.n = keys.used = 0;
  uint16_t order_store[64];
  const uint16_t *order = field_order(vs, style, order_store);
  for (uint32_t k = 0; k < vs->count; k++) {
    uint32_t i = order ? order[k] : k;
    const trace_value *v = &vs->values[i];
    if (v->type == TRACE_VALUE_EMPTY)
      continue;
    const char *name = trace_valueset_name(vs, i);
    if (trace__fmt_is_bare_message(vs, i, style)) {
      /* The message, as tracing prints it: no name, a string unquoted. */
      if (!first)
        trace__buf_puts(b, style == STYLE_PRETTY ? ", " : " ");
      if (v->type == TRACE_VALUE_STR && v->as.str.ptr)
        trace__fmt_put_text(b, v->as.str.ptr, v->as.str.len, TRACE__ESC_TEXT, max);
      else
        trace__fmt_put_value(b, v, style, max);
      first = false;
      any = true;
      continue;
    }
    switch (style) {
    case STYLE_JSON:
      if (!first)
        trace__buf_putc(b, ',');
      put_json_key(b, &keys, name, i, reserved);
      break;
    case STYLE_PRETTY:
      if (!first)
        trace__buf_put(b, ", ", 2);
      if (ansi)
        trace__buf_put(b, ANSI_BOLD, 4);
      trace__escape(b, name, strlen(name), TRACE__ESC_TEXT);
      if (ansi)
        trace__buf_put(b, ANSI_RESET, 4);
      trace__buf_put(b, ": ", 2);
      break;
    default:
      if (!first)
        trace__buf_putc(b, ' ');
      if (ansi)
        trace__buf_put(b, ANSI_ITALIC, 4);
      trace__escape(b, name, strlen(name), TRACE__ESC_TEXT);
      if (ansi)
        trace__buf_put(b, ANSI_RESET ANSI_DIM "=" ANSI_RESET, 13);
      else
        trace__buf_putc(b, '=');
      break;
    }
    trace__fmt_put_value(b, v, style, max);
    first = false;
    any = true;
  }
  return any;
}
