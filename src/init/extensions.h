/* trace_init's extension layers (extensions.c). */
#ifndef TRACE_INIT_EXTENSIONS_H
#define TRACE_INIT_EXTENSIONS_H

#include "trace/registry.h"

/* Adds the layer of every registered factory that makes one to r; returns 0 or the error of
 * trace_registry_add_layer. */
int trace__init_extension_layers(trace_registry *r);

#endif
