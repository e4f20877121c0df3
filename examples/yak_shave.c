/* The yak-shaving example of tracing's documentation (shared/seeds/001), in C.
 *
 *   $ ./yak_shave                      # everything (TRACE_FILTER defaults to trace here)
 *   $ TRACE_FILTER=info ./yak_shave    # INFO and above
 *   $ TRACE_FORMAT=json ./yak_shave    # one JSON object per line
 */
#include <stdbool.h>
#include <stdlib.h>

#include <trace.h>
#include <trace/fmt.h>

/* Returns 0 on success, -1 when the yak cannot be found. TRACE_FN makes a span named "shave"
 * for the call, with the argument as a field, like #[instrument]. */
static int shave(int yak) {
  TRACE_FN(TRACE_LEVEL_INFO, TF(yak, yak));
  TRACE_DEBUG(TF(excitement, "yay!"), "hello! I'm gonna shave a yak.");
  if (yak == 3) {
    TRACE_WARN("could not locate yak!");
    return -1;
  }
  TRACE_DEBUG("yak shaved successfully");
  return 0;
}

static int shave_all(int yaks) {
  /* A span named "shaving_yaks" at the TRACE level with a field "yaks", entered for the rest of
   * the function. */
  TRACE_SCOPE(TRACE_LEVEL_TRACE, "shaving_yaks", TF(yaks, yaks));
  TRACE_INFO("shaving yaks");
  int yaks_shaved = 0;
  for (int yak = 1; yak <= yaks; yak++) {
    int res = shave(yak);
    bool shaved = res == 0;
    TRACE_DEBUG(TF(yak, yak), TF(shaved, shaved));
    if (!shaved)
      TRACE_ERROR(TF(yak, yak), TF_DISPLAY(error, "shaving yak failed!"), "failed to shave yak!");
    else
      yaks_shaved++;
    TRACE_DEBUG(TF(yaks_shaved, yaks_shaved));
  }
  return yaks_shaved;
}

int main(void) {
  trace_init_options o;
  trace_init_options_init(&o);
  const char *env = getenv("TRACE_FILTER");
  o.filter = env && *env ? env : "trace";
  if (trace_init_with(&o) != 0)
    return 1;
  int n = 5;
  TRACE_INFO(TF(number_of_yaks, n), "preparing to shave yaks");
  int shaved = shave_all(n);
  TRACE_INFO(TF(all_yaks_shaved, (bool)(shaved == n)), "yak shaving completed");
  trace_shutdown();
  return 0;
}
