/* Every file of the library says which target it logs under: applications filter on it
 * (TRACE_FILTER=yaklib=debug). */
#define TRACE_TARGET "yaklib"
#include "yaklib.h"

#include <trace.h>

static int checks;

/* Counts how often field values are computed: they must not be when the callsite is off.
 * Marked unused: with TRACE_MAX_LEVEL=INFO its only use is compiled out, and Clang then warns
 * that the function is not needed (-Wunneeded-internal-declaration). */
__attribute__((unused)) static int expensive_check(int yak) {
  checks++;
  return yak * 7 % 5;
}

static int shave(int yak) {
  TRACE_FN(TRACE_LEVEL_DEBUG, TF(yak, yak));
  TRACE_TRACE(TF(check, expensive_check(yak)), "inspecting the yak");
  if (yak % 4 == 0) {
    TRACE_WARN("this yak is too fluffy");
    return 0;
  }
  TRACE_DEBUG("shaved");
  return 1;
}

int yaklib_shave_all(int n) {
  TRACE_SCOPE(TRACE_LEVEL_INFO, "shave_all", TF(n, n));
  int shaved = 0;
  for (int yak = 1; yak <= n; yak++)
    shaved += shave(yak);
  TRACE_INFO(TF(shaved, shaved), TF(checks, checks), "done");
  return shaved;
}

int yaklib_checks(void) { return checks; }
