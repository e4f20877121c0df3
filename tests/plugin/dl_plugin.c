/* A plugin for test_dlclose: a module with callsites, built without TRACE_TARGET (so its
 * targets are derived from this file's name: "dl_plugin"), dlopen'ed and dlclose'd by the test. */
#include "trace.h"

#define DL_PLUGIN_API __attribute__((visibility("default")))

/* What test_dlclose looks up with dlsym. */
DL_PLUGIN_API void dl_plugin_log(int i);
DL_PLUGIN_API trace_span dl_plugin_span(void);
DL_PLUGIN_API void dl_plugin_never_called(void);

DL_PLUGIN_API void dl_plugin_log(int i) { TRACE_INFO(TF(i, i), "plugin says hello"); }

/* A span the caller owns: the test closes it after the module is gone. */
DL_PLUGIN_API trace_span dl_plugin_span(void) {
  return TRACE_INFO_SPAN("plugin_work", TF(job, 7));
}

/* Many callsites never hit (512): the inventory registers them one by one, which leaves a wide
 * window for a concurrent dlclose. */
#define DL_SITE(n) TRACE_TRACE("site " #n);
#define DL_SITES8(n) DL_SITE(n##0) DL_SITE(n##1) DL_SITE(n##2) DL_SITE(n##3) \
  DL_SITE(n##4) DL_SITE(n##5) DL_SITE(n##6) DL_SITE(n##7)
#define DL_SITES64(n) DL_SITES8(n##0) DL_SITES8(n##1) DL_SITES8(n##2) DL_SITES8(n##3) \
  DL_SITES8(n##4) DL_SITES8(n##5) DL_SITES8(n##6) DL_SITES8(n##7)
DL_PLUGIN_API void dl_plugin_never_called(void) {
  DL_SITES64(1) DL_SITES64(2) DL_SITES64(3) DL_SITES64(4) DL_SITES64(5) DL_SITES64(6)
  DL_SITES64(7) DL_SITES64(8)
}
