/* Spans left behind by their owner: spans still open when the module whose callsites made them
 * is unloaded, and spans never closed when the registry goes. Both are the program's mistakes;
 * both are said once on stderr, so they are found, and neither may crash the host. */
#include <stdlib.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/warn.h"
#include "../text/buf.h"
#include "../text/escape.h"
#include "../text/number.h"
#include "internal.h"

/* ---------------------------------------------------------------------------------------- */
/* A module unloaded under its open spans. */

/* What such spans point to from then on: their own metadata is about to be unmapped. No fields
 * (their values stay stored, but nobody reads them by name any more), no file. */
static const char *const no_fields[] = {NULL};
static const trace_metadata unloaded_meta = {
    "(unloaded module)", "(unloaded module)", NULL, NULL, no_fields, NULL, 0, 0,
    TRACE_LEVEL_INFO, TRACE_KIND_SPAN, 0, 0};

static bool in_module(const trace_metadata *m, const trace_callsite *start,
                      const trace_callsite *stop) {
  const char *p = (const char *)m;
  return p >= (const char *)start && p < (const char *)stop;
}

/* Says where one span comes from: span "name" (file:line). Escaped: names are anyone's text. */
static void put_origin(trace__buf *b, const trace_metadata *m) {
  trace__buf_puts(b, "span \"");
  trace__escape_cstr(b, m->name ? m->name : "?", TRACE__ESC_QUOTED);
  trace__buf_puts(b, "\" (");
  trace__escape_cstr(b, m->file ? m->file : "?", TRACE__ESC_TEXT);
  trace__buf_putc(b, ':');
  trace__buf_u64(b, m->line);
  trace__buf_putc(b, ')');
}

/* Ends a warning: a line cut short stays a line. */
static void warn_line(trace__buf *b, char *msg, size_t cap) {
  if (b->len >= cap - 1)
    b->len = cap - 2;
  msg[b->len++] = '\n';
  trace__warn(msg, b->len);
}

/* The core calls this from the module's destructor, before the module is unmapped: the live
 * spans it made point at the placeholder from now on, so what layers print of them later (a
 * child's span chain, their close) reads memory that exists. The slot's meta is swapped with a
 * release store; a thread using one of these spans during the dlclose is the program's race. */
void trace__reg_unload_callsites(void *self, const trace_callsite *start, const trace_callsite *stop) {
  trace_registry *r = self;
  char msg[512];
  trace__buf b;
  trace__buf_init_fixed(&b, msg, sizeof msg);
  uint64_t count = 0;
  trace__mutex_lock(&r->lock); /* pages given back are skipped: they hold no span */
  uint32_t n = TRACE__LOAD_ACQ(&r->nslots);
  for (uint32_t i = 0; i < n; i++) {
    slot *s = r->page_returned[i >> SLOT_PAGE_BITS] ? NULL : reg_slot_at(r, i);
    if (!s || !TRACE__LOAD(&s->live) || !in_module(s->meta, start, stop))
      continue;
    if (count++ == 0)
      put_origin(&b, s->meta);
    TRACE__STORE_REL(&s->meta, &unloaded_meta);
  }
  trace__mutex_unlock(&r->lock);
  if (count == 0)
    return;
  char line[640];
  trace__buf w;
  trace__buf_init_fixed(&w, line, sizeof line);
  trace__buf_puts(&w, "trace: a module was unloaded with ");
  trace__buf_u64(&w, count);
  trace__buf_puts(&w, count == 1 ? " of its spans still open, " : " of its spans still open, first ");
  trace__buf_put(&w, msg, b.len);
  trace__buf_puts(&w, "; they show as \"(unloaded module)\" now: close a module's spans before "
                      "dlclose (docs/concepts.md, Guarantees)");
  warn_line(&w, line, sizeof line);
}

/* ---------------------------------------------------------------------------------------- */
/* Spans never closed. */

typedef struct site_count {
  const trace_metadata *meta;
  uint64_t n;
} site_count;

static int by_meta(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (const trace_metadata *const *)a;
  uintptr_t y = (uintptr_t) * (const trace_metadata *const *)b;
  return (x > y) - (x < y);
}

#define REPORT_SITES 3

/* The REPORT_SITES callsites with the most spans in metas (sorted), most first. */
static unsigned top_sites(const trace_metadata **metas, uint64_t count, site_count *top) {
  unsigned ntop = 0;
  for (uint64_t i = 0; i < count;) {
    uint64_t j = i;
    while (j < count && metas[j] == metas[i])
      j++;
    site_count c = {metas[i], j - i};
    unsigned at = ntop < REPORT_SITES ? ntop++ : REPORT_SITES;
    while (at > 0 && top[at - 1].n < c.n) {
      if (at < REPORT_SITES)
        top[at] = top[at - 1];
      at--;
    }
    if (at < REPORT_SITES)
      top[at] = c;
    i = j;
  }
  return ntop;
}

/* A live span is never closed when its references are more than its open children account
 * for: some handle to it was never closed. A span this thread is in (a TRACE_SCOPE around
 * trace_shutdown) is open, not forgotten, and so is a parent kept open only by its children.
 * Spans entered on other threads at this moment count: shutting down under them is a leak. */
void trace__reg_report_unclosed(trace_registry *r) {
  uint32_t n = TRACE__LOAD_ACQ(&r->nslots);
  uint32_t *explained = n ? trace__calloc(n, sizeof *explained) : NULL;
  if (!explained)
    return; /* nothing was stored, or no memory to tell: the spans still close below */
  uint64_t live = 0;
  for (uint32_t i = 0; i < n; i++) {
    slot *s = reg_slot_at(r, i);
    if (!s || !TRACE__LOAD(&s->live))
      continue;
    live++;
    slot *p = reg_slot_parent(s);
    if (p && p->live)
      explained[p->index]++;
  }
  /* A span this thread is in is open on purpose (its handle closes when the scope ends). */
  reg_thread *ts = r->local_key >= 0 ? (reg_thread *)trace__local_get(r->local_key) : NULL;
  for (uint32_t d = 0; ts && d < ts->depth; d++) {
    slot *s = reg_entry_slot(&ts->stack[d]);
    if (s && s->live)
      explained[s->index] = UINT32_MAX;
  }
  const trace_metadata **metas = live ? trace__malloc(live * sizeof *metas) : NULL;
  uint64_t count = 0;
  for (uint32_t i = 0; i < n && metas; i++) {
    slot *s = reg_slot_at(r, i);
    if (s && s->live && TRACE__LOAD(&s->refs) > explained[i] && count < live)
      metas[count++] = s->meta;
  }
  trace__free(explained);
  if (count == 0) {
    trace__free(metas);
    return;
  }
  qsort(metas, count, sizeof *metas, by_meta);
  site_count top[REPORT_SITES];
  unsigned ntop = top_sites(metas, count, top);
  trace__free(metas);
  char line[1024];
  trace__buf b;
  trace__buf_init_fixed(&b, line, sizeof line);
  trace__buf_puts(&b, "trace: ");
  trace__buf_u64(&b, count);
  trace__buf_puts(&b, count == 1 ? " span was never closed: " : " spans were never closed, most from ");
  for (unsigned i = 0; i < ntop; i++) {
    if (i > 0)
      trace__buf_puts(&b, ", ");
    put_origin(&b, top[i].meta);
    if (count > 1) {
      trace__buf_puts(&b, " x");
      trace__buf_u64(&b, top[i].n);
    }
  }
  trace__buf_puts(&b, "; close every span handle once (trace_span_close)");
  warn_line(&b, line, sizeof line);
}
