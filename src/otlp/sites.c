/* Callsites as the exporter knows them: copied on the first record of each (under a lock, with
 * allocation: once per callsite, never in steady state), then found by id without a lock. */
#include <string.h>

#include "../common/alloc.h"
#include "internal.h"

static void site_free(otlp_site *s) {
  if (!s)
    return;
  trace__free(s->name);
  trace__free(s->target);
  trace__free(s->file);
  for (uint16_t i = 0; s->fields && i < s->nfields; i++)
    trace__free(s->fields[i]);
  trace__free(s->fields);
  trace__free(s);
}

static otlp_site *site_copy(const trace_metadata *m) {
  otlp_site *s = trace__calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->name = trace__strdup(m->name ? m->name : "");
  s->target = trace__strdup(m->target ? m->target : "");
  s->file = trace__strdup(m->file ? m->file : "");
  s->line = m->line;
  s->level = m->level;
  s->kind = m->kind;
  s->nfields = m->field_count;
  s->fields = trace__calloc(m->field_count ? m->field_count : 1, sizeof *s->fields);
  bool ok = s->name && s->target && s->file && s->fields;
  for (uint16_t i = 0; ok && i < m->field_count; i++)
    ok = (s->fields[i] = trace__strdup(m->field_names[i])) != NULL;
  if (!ok) {
    site_free(s);
    return NULL;
  }
  return s;
}

static TRACE__NOINLINE const otlp_site *intern(trace_otlp *x, const trace_metadata *m) {
  uint32_t id = m->callsite_id;
  if (id == 0 || (id >> SITE_PAGE_BITS) >= SITE_PAGES)
    return NULL;
  otlp_site *found = NULL;
  trace__mutex_lock(&x->sites_lock);
  otlp_site **page = x->site_pages[id >> SITE_PAGE_BITS];
  if (!page) {
    page = trace__calloc((size_t)1 << SITE_PAGE_BITS, sizeof *page);
    if (page)
      TRACE__STORE_REL(&x->site_pages[id >> SITE_PAGE_BITS], page);
  }
  if (page) {
    found = page[id & ((1u << SITE_PAGE_BITS) - 1)];
    if (!found) {
      found = site_copy(m);
      if (found) {
        /* Every value's rec_value, and room for a string of each up to a bound: longer ones
         * are cut to what the record got (see record_space in layer.c). */
        found->values_room = (size_t)m->field_count * otlp_value_share(x->conf.max_value_len);
        otlp_record_space(x->conf.thread_buffer_size, found, sizeof(rec_span), &found->span_want,
                          &found->span_at_least);
        TRACE__STORE_REL(&page[id & ((1u << SITE_PAGE_BITS) - 1)], found);
      }
    }
  }
  trace__mutex_unlock(&x->sites_lock);
  return found;
}

const otlp_site *trace__otlp_site_by_id(const trace_otlp *x, uint32_t id) {
  if (id == 0 || (id >> SITE_PAGE_BITS) >= SITE_PAGES)
    return NULL;
  otlp_site **page = TRACE__LOAD_ACQ(&x->site_pages[id >> SITE_PAGE_BITS]);
  return page ? TRACE__LOAD_ACQ(&page[id & ((1u << SITE_PAGE_BITS) - 1)]) : NULL;
}

const otlp_site *trace__otlp_site_slow(trace_otlp *x, const trace_metadata *meta) {
  return intern(x, meta);
}

void trace__otlp_sites_free(trace_otlp *x) {
  for (size_t p = 0; p < SITE_PAGES; p++) {
    otlp_site **page = x->site_pages[p];
    if (!page)
      continue;
    for (size_t i = 0; i < ((size_t)1 << SITE_PAGE_BITS); i++)
      site_free(page[i]);
    trace__free(page);
    x->site_pages[p] = NULL;
  }
}
