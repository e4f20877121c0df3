/* The callsite inventory as text: what TRACE_FILTER can select, one line per callsite, sorted by
 * file and line. Lines are formatted while libtrace holds its callsite list (a module unloaded
 * right after cannot leave dangling strings behind), then sorted and copied out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/guard.h"
#include "../text/buf.h"
#include "../text/escape.h"
#include "../text/number.h"
#include "trace/env_filter.h"

typedef struct line {
  const char *text; /* set once every line is in the arena (which moves while it grows) */
  size_t at, len;   /* the line's text in the arena */
  size_t file_len;  /* its file name is the start of the text */
  uint32_t number;
} line;

typedef struct inventory {
  trace__buf text; /* every line, back to back */
  line *lines;
  size_t n, cap;
  bool oom;
} inventory;

static void collect(void *ctx, const trace_metadata *meta, int interest) {
  static const char *const interests[] = {"unknown", "never", "sometimes", "always"};
  inventory *inv = ctx;
  if (inv->oom)
    return;
  if (inv->n == inv->cap && !trace__grow_array(&inv->lines, &inv->cap, sizeof *inv->lines, 256)) {
    inv->oom = true;
    return;
  }
  trace__buf *b = &inv->text;
  line *l = &inv->lines[inv->n];
  const char *file = meta->file ? meta->file : "?";
  l->at = b->len;
  l->number = meta->line;
  /* Names come from anyone's source (or a binding's strings): the listing must stay one line per
   * callsite, so they are escaped like values. */
  trace__escape_cstr(b, file, TRACE__ESC_TEXT);
  l->file_len = b->len - l->at;
  trace__buf_putc(b, ':');
  trace__buf_u64(b, meta->line);
  trace__buf_puts(b, meta->kind == TRACE_KIND_SPAN ? " span " : " event ");
  trace__buf_puts(b, trace_level_name(meta->level));
  trace__buf_putc(b, ' ');
  trace__escape_cstr(b, meta->target ? meta->target : "?", TRACE__ESC_TEXT);
  trace__buf_putc(b, ' ');
  trace__escape_cstr(b, meta->name ? meta->name : "?", TRACE__ESC_TEXT);
  trace__buf_putc(b, ' ');
  trace__buf_puts(b, interests[interest >= 0 && interest <= 3 ? interest : 0]);
  trace__buf_putc(b, '\n');
  if (b->truncated) {
    inv->oom = true;
    return;
  }
  l->len = b->len - l->at;
  inv->n++;
}

static int by_place(const void *pa, const void *pb) {
  const line *a = pa, *b = pb;
  size_t n = a->file_len < b->file_len ? a->file_len : b->file_len;
  int c = memcmp(a->text, b->text, n);
  if (c == 0 && a->file_len != b->file_len)
    c = a->file_len < b->file_len ? -1 : 1;
  if (c == 0 && a->number != b->number)
    c = a->number < b->number ? -1 : 1;
  if (c == 0) { /* several callsites on one line: by the rest of the text */
    size_t m = a->len < b->len ? a->len : b->len;
    c = memcmp(a->text, b->text, m);
    if (c == 0)
      c = (a->len > b->len) - (a->len < b->len);
  }
  return c;
}

size_t trace_callsites_format(char *buf, size_t cap) {
  TRACE__KEEP_ERRNO();
  inventory inv;
  memset(&inv, 0, sizeof inv);
  trace__buf_init_growable(&inv.text, (size_t)1 << 30);
  trace_callsites_foreach(collect, &inv);
  for (size_t i = 0; i < inv.n; i++)
    inv.lines[i].text = inv.text.data + inv.lines[i].at;
  if (inv.n)
    qsort(inv.lines, inv.n, sizeof *inv.lines, by_place);
  trace__buf o;
  trace__buf_init_snprintf(&o, buf, cap);
  for (size_t i = 0; i < inv.n; i++)
    trace__buf_put(&o, inv.lines[i].text, inv.lines[i].len);
  size_t n = trace__buf_finish_snprintf(&o);
  trace__free(inv.lines);
  trace__buf_free(&inv.text);
  return n;
}
