/* A hint the bundled filters give the registry: while *idle is nonzero, the filter's on_enter and
 * on_exit would do nothing (the env-filter without span directives), so the registry does not
 * call them. The callbacks must still be correct when called, and when not called: a filter
 * reloaded meanwhile sees a stale hint exactly as it would see its previous configuration. idle
 * must outlive the filter object. */
#ifndef TRACE_REGISTRY_FILTER_HINT_H
#define TRACE_REGISTRY_FILTER_HINT_H

#include <stdint.h>

#include "trace/registry.h"

void trace__filter_set_scope_idle(trace_filter *f, const uint8_t *idle);

#endif
