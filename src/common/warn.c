#include "warn.h"
#include "guard.h"

#include <errno.h>
#include <unistd.h>

void trace__warn(const char *line, size_t len) {
  TRACE__KEEP_ERRNO();
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, line, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; /* stderr is gone: nowhere left to say it */
    line += n;
    len -= (size_t)n;
  }
}
