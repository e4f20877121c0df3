/* Layers other libraries add to trace_init(): a library such as libtrace_otlp registers a
 * factory when it is loaded (a constructor), and trace_init asks each factory for a layer. The
 * core library thus depends on none of them: linking one is what enables it. */
#include <string.h>

#include "extensions.h"
#include "trace/fmt.h"

enum { MAX_FACTORIES = 8 };

typedef struct factory {
  const char *name;
  trace_init_layer_fn fn;
  void *arg;
  uint8_t ready; /* atomic: the entry is complete */
} factory;

/* Filled by constructors, possibly before anything else of libtrace ran: no lock to set up,
 * entries are claimed with an atomic counter and published by their ready flag. */
static factory factories[MAX_FACTORIES];
static uint32_t claimed;

int trace_init_add_layer_factory(const char *name, trace_init_layer_fn fn, void *arg) {
  if (!name || !fn)
    return TRACE_EINVAL;
  uint32_t n = __atomic_load_n(&claimed, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n && i < MAX_FACTORIES; i++)
    if (__atomic_load_n(&factories[i].ready, __ATOMIC_ACQUIRE) &&
        strcmp(factories[i].name, name) == 0)
      return TRACE_EEXIST;
  uint32_t i = __atomic_fetch_add(&claimed, 1, __ATOMIC_ACQ_REL);
  if (i >= MAX_FACTORIES)
    return TRACE_ERANGE;
  factories[i].name = name;
  factories[i].fn = fn;
  factories[i].arg = arg;
  __atomic_store_n(&factories[i].ready, 1, __ATOMIC_RELEASE);
  return 0;
}

int trace__init_extension_layers(trace_registry *r) {
  uint32_t n = __atomic_load_n(&claimed, __ATOMIC_ACQUIRE);
  int rc = 0;
  for (uint32_t i = 0; i < n && i < MAX_FACTORIES && rc == 0; i++) {
    if (!__atomic_load_n(&factories[i].ready, __ATOMIC_ACQUIRE))
      continue;
    trace_layer *layer = factories[i].fn(factories[i].arg);
    if (layer)
      rc = trace_registry_add_layer(r, layer, NULL);
  }
  return rc;
}
