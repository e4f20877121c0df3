/* An application using yaklib, three ways:
 *
 *   library_app none   installs no subscriber: the library's instrumentation costs one load and
 *                      a branch per callsite, nothing is printed, no field is computed.
 *   library_app fmt    trace_init(): output on stderr, filtered by TRACE_FILTER
 *                      (try TRACE_FILTER=yaklib=trace or TRACE_FILTER=warn).
 *   library_app_info   the same program built with -DTRACE_MAX_LEVEL=INFO (library included):
 *                      DEBUG and TRACE callsites are not even in the binary.
 */
#include <stdio.h>
#include <string.h>

#include <trace.h>
#include <trace/fmt.h>

#include "yaklib.h"

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "fmt";
  if (strcmp(mode, "fmt") == 0 && trace_init() != 0) {
    fprintf(stderr, "library_app: could not set up tracing\n");
    return 1;
  }
  int shaved = yaklib_shave_all(10);
  printf("shaved %d yaks (mode %s, compiled max level %d, TRACE-level fields computed %d times)\n",
         shaved, mode, TRACE_STATIC_MAX_LEVEL, yaklib_checks());
  trace_shutdown();
  return 0;
}
