#include "warn.h"
#include "guard.h"

#include <errno.h>
#include <unistd.h>

#include "sigpipe.h"

void trace__warn(const char *line, size_t len) {
  TRACE__KEEP_ERRNO();
  /* stderr may be a pipe whose reader is gone (`prog 2>&1 | head`): a warning must not be what
   * kills the program. Warnings are rare; the guard's two calls do not matter here. */
  trace__sigpipe_guard g;
  trace__sigpipe_block(&g);
  bool epipe = false;
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, line, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      epipe = n < 0 && errno == EPIPE;
      break; /* stderr is gone: nowhere left to say it */
    }
    line += n;
    len -= (size_t)n;
  }
  trace__sigpipe_restore(&g, epipe);
}
