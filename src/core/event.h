/* Internal helpers around trace_event, for the built-in subscribers. */
#ifndef TRACE_CORE_EVENT_H
#define TRACE_CORE_EVENT_H

#include "../text/buf.h"
#include "../text/escape.h"
#include "trace/subscriber.h"

/* Formats the event's message into b (escaped with mode when escape is set). */
void trace__event_format_message(const trace_event *ev, trace__buf *b, trace__escape_mode mode,
                                 bool escape);

void trace__resolve_parent(struct trace_dispatch *d, int parent_kind, const trace_span *parent,
                           uint32_t *kind, uint64_t *id);

#endif
