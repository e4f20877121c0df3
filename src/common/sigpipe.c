#include "sigpipe.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static void pipe_set(sigset_t *s) {
  sigemptyset(s);
  sigaddset(s, SIGPIPE);
}

void trace__sigpipe_block(trace__sigpipe_guard *g) {
  sigset_t block;
  pipe_set(&block);
  pthread_sigmask(SIG_BLOCK, &block, &g->old);
  /* A SIGPIPE pending for this thread can only exist if the thread had it blocked already (else
   * it would have been delivered): only then is there one of the host's to leave alone. */
  g->was_pending = false;
  if (sigismember(&g->old, SIGPIPE) == 1) {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
  }
}

void trace__sigpipe_consume(void) {
  sigset_t block;
  pipe_set(&block);
  struct timespec zero = {0, 0};
  int saved = errno;
  while (sigtimedwait(&block, NULL, &zero) < 0 && errno == EINTR) {
  }
  errno = saved;
}

void trace__sigpipe_restore(trace__sigpipe_guard *g, bool epipe) {
  int saved = errno;
  if (epipe && !g->was_pending)
    trace__sigpipe_consume();
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
  errno = saved;
}
