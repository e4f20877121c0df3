/* syslog(3) into libtrace (<trace/syslog.h>): priorities become levels, the ident the target, and
 * each call an event through <trace/log.h>, like any bridge a user could write. */
#include "trace/syslog.h"

#include <errno.h>
#include <string.h>

#include "../common/guard.h"
#include "../common/mutex.h"

/* The ident: copied under a lock into one of two buffers, then published; emitters read the
 * published one. Only a second openlog while an emitter is still reading can rewrite the buffer
 * it reads: the emitter may then see a mix of two idents (openlog is a start-up call), never
 * run past the buffer (its last byte is always NUL: copies stop one short of it). */
static char idents[2][64];
static const char *ident = "syslog"; /* atomic */
static unsigned next_ident;
static int logmask = 0xff; /* atomic: LOG_UPTO(LOG_DEBUG) */
static trace__mutex lock;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void) { trace__mutex_init(&lock, TRACE__MUTEX_INNER); }

void trace_openlog(const char *name, int option, int facility) {
  (void)option, (void)facility;
  TRACE__KEEP_ERRNO();
  if (!name) {
    trace_closelog();
    return;
  }
  pthread_once(&once, init_once);
  trace__mutex_lock(&lock);
  char *buf = idents[next_ident++ & 1];
  size_t n = strnlen(name, sizeof idents[0] - 1);
  memcpy(buf, name, n);
  buf[n] = '\0';
  TRACE__STORE_REL(&ident, (const char *)buf);
  trace__mutex_unlock(&lock);
}

void trace_closelog(void) { TRACE__STORE_REL(&ident, "syslog"); }

int trace_setlogmask(int mask) {
  if (mask == 0)
    return TRACE__LOAD(&logmask);
  return __atomic_exchange_n(&logmask, mask, __ATOMIC_RELAXED);
}

int trace_syslog_level(int priority) {
  switch (LOG_PRI(priority)) {
  case LOG_EMERG:
  case LOG_ALERT:
  case LOG_CRIT:
  case LOG_ERR: return TRACE_LEVEL_ERROR;
  case LOG_WARNING: return TRACE_LEVEL_WARN;
  case LOG_NOTICE:
  case LOG_INFO: return TRACE_LEVEL_INFO;
  default: return TRACE_LEVEL_DEBUG;
  }
}

void trace_vsyslog_at(const char *file, unsigned line, const char *function, int priority,
                      const char *format, va_list args) {
  if (!(TRACE__LOAD(&logmask) & LOG_MASK(LOG_PRI(priority))))
    return;
  trace_log_record r = {sizeof r,  trace_syslog_level(priority), TRACE__LOAD_ACQ(&ident), file,
                        line,      function,                     NULL,                     NULL,
                        0};
  trace_log_vemit(&r, format, args);
}

void trace_syslog_at(const char *file, unsigned line, const char *function, int priority,
                     const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  trace_vsyslog_at(file, line, function, priority, format, ap);
  va_end(ap);
}

void trace_vsyslog(int priority, const char *format, va_list args) {
  trace_vsyslog_at(NULL, 0, NULL, priority, format, args);
}

void trace_syslog(int priority, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  trace_vsyslog_at(NULL, 0, NULL, priority, format, ap);
  va_end(ap);
}
