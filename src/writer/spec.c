/* Writers from text: trace_writer_from_spec (the grammar is in writer.h) and TRACE_WRITER. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/warn.h"
#include "../text/escape.h"
#include "internal.h"
#include "../common/guard.h"

#define SPEC_MAX 4096

typedef struct spec_error {
  char *buf;
  size_t cap;
} spec_error;

static TRACE__PRINTF(2, 3) int fail(const spec_error *e, const char *fmt, ...) {
  if (e->buf && e->cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf, e->cap, fmt, ap);
    va_end(ap);
  }
  return TRACE_EPARSE;
}

/* "123", "64K", "10M", "1G" (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || errno || s[0] == '-')
    return false;
  uint64_t mul = 1;
  switch (*end) {
  case '\0': break;
  case 'k': case 'K': mul = 1024; end++; break;
  case 'm': case 'M': mul = 1024 * 1024; end++; break;
  case 'g': case 'G': mul = 1024 * 1024 * 1024; end++; break;
  default: return false;
  }
  if (*end || (v && mul > UINT64_MAX / v))
    return false;
  *out = v * mul;
  return true;
}

static bool parse_uint(const char *s, int base, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, base);
  if (end == s || *end || errno || s[0] == '-' || v > max)
    return false;
  *out = v;
  return true;
}

static int facility_of(const char *s) {
  static const char *const names[] = {"kern", "user", "mail", "daemon", "auth", "syslog", "lpr",
                                      "news", "uucp", "cron", "authpriv", "ftp"};
  for (int i = 0; i < (int)TRACE__ARRAY_LEN(names); i++)
    if (strcasecmp(s, names[i]) == 0)
      return i;
  if (strncasecmp(s, "local", 5) == 0 && s[5] >= '0' && s[5] <= '7' && !s[6])
    return 16 + (s[5] - '0');
  unsigned long v;
  return parse_uint(s, 10, 23, &v) ? (int)v : -1;
}

typedef struct parsed {
  char kind[16];
  const char *arg; /* after "kind:", or NULL */
  bool nonblocking;
  trace_nonblocking_options nb;
  trace_rolling_options roll;
  trace_syslog_options sys;
  trace_journald_options jd;
} parsed;

/* One option (key or key=value) for kind. */
static int option(parsed *p, char *opt, const spec_error *e) {
  char *eq = strchr(opt, '=');
  const char *value = eq ? eq + 1 : NULL;
  if (eq)
    *eq = '\0';
  uint64_t size;
  unsigned long n;
  if (strcmp(opt, "nonblocking") == 0) {
    p->nonblocking = true;
    if (!value || strcmp(value, "lossy") == 0)
      p->nb.policy = TRACE_NONBLOCKING_LOSSY;
    else if (strcmp(value, "block") == 0 || strcmp(value, "blocking") == 0)
      p->nb.policy = TRACE_NONBLOCKING_BLOCKING;
    else
      return fail(e, "nonblocking=%s: expected lossy or block", value);
    return 0;
  }
  if (strcmp(opt, "queue") == 0 && value) {
    if (!parse_size(value, &size))
      return fail(e, "queue=%s: expected a size such as 8M", value);
    p->nb.queue_bytes = (size_t)size;
    p->nonblocking = true;
    return 0;
  }
  if (strcmp(opt, "block_timeout") == 0 && value) {
    if (!parse_uint(value, 10, 3600000, &n))
      return fail(e, "block_timeout=%s: expected milliseconds", value);
    p->nb.block_timeout_ms = (uint32_t)n;
    return 0;
  }
  if (strcmp(p->kind, "rolling") == 0) {
    static const char *const rot[] = {"never", "minutely", "hourly", "daily"};
    for (int i = 0; i < 4; i++)
      if (!value && strcmp(opt, rot[i]) == 0) {
        p->roll.rotation = i;
        return 0;
      }
    if (!value && strcmp(opt, "local") == 0) {
      p->roll.local_time = true;
      return 0;
    }
    if (strcmp(opt, "max_size") == 0 && value) {
      if (!parse_size(value, &size))
        return fail(e, "max_size=%s: expected a size such as 100M", value);
      p->roll.max_size = size;
      return 0;
    }
    if (strcmp(opt, "max_files") == 0 && value) {
      if (!parse_uint(value, 10, 1000000, &n))
        return fail(e, "max_files=%s: expected a number", value);
      p->roll.max_files = (unsigned)n;
      return 0;
    }
    if (strcmp(opt, "mode") == 0 && value) {
      if (!parse_uint(value, 8, 07777, &n))
        return fail(e, "mode=%s: expected an octal mode such as 0640", value);
      p->roll.file_mode = (unsigned)n;
      return 0;
    }
  }
  if (strcmp(p->kind, "syslog") == 0) {
    if (!value && strcmp(opt, "rfc5424") == 0) {
      p->sys.format = TRACE_SYSLOG_RFC5424;
      return 0;
    }
    if (!value && strcmp(opt, "rfc3164") == 0) {
      p->sys.format = TRACE_SYSLOG_RFC3164;
      return 0;
    }
    if (strcmp(opt, "facility") == 0 && value) {
      int f = facility_of(value);
      if (f < 0)
        return fail(e, "facility=%s: expected user, daemon, local0..local7, ... or 0..23", value);
      p->sys.facility = f;
      return 0;
    }
    if (strcmp(opt, "app") == 0 && value) {
      p->sys.app_name = value;
      return 0;
    }
  }
  if (strcmp(p->kind, "journald") == 0) {
    if (strcmp(opt, "prefix") == 0 && value) {
      p->jd.field_prefix = value;
      return 0;
    }
    if (strcmp(opt, "app") == 0 && value) {
      p->jd.identifier = value;
      return 0;
    }
  }
  return fail(e, "unknown option '%s%s%s' for %s", opt, value ? "=" : "", value ? value : "",
              p->kind);
}

/* Splits "DIR/PREFIX.SUFFIX" into the rolling options' parts (in place). */
static int rolling_path(parsed *p, char *path, const spec_error *e) {
  char *slash = strrchr(path, '/');
  if (!slash || !slash[1])
    return fail(e, "rolling:%s: expected DIR/PREFIX.SUFFIX, e.g. /var/log/app/app.log", path);
  *slash = '\0';
  p->roll.directory = slash == path ? "/" : path;
  char *name = slash + 1;
  char *dot = strrchr(name, '.');
  if (dot && dot != name) {
    *dot = '\0';
    p->roll.prefix = name;
    p->roll.suffix = dot + 1;
  } else {
    p->roll.prefix = dot ? "" : name;
    p->roll.suffix = dot ? dot + 1 : "";
  }
  return 0;
}

static int make(parsed *p, trace_writer **out, const spec_error *e) {
  int rc = 0;
  const char *arg = p->arg;
  if (strcmp(p->kind, "stderr") == 0 || strcmp(p->kind, "stdout") == 0) {
    if (arg)
      return fail(e, "%s takes no argument", p->kind);
    *out = p->kind[3] == 'e' ? trace_writer_stderr() : trace_writer_stdout();
    rc = *out ? 0 : TRACE_ENOMEM;
  } else if (strcmp(p->kind, "file") == 0) {
    if (!arg || !*arg)
      return fail(e, "file: expected file:PATH");
    rc = trace_writer_open(arg, out);
    if (rc == TRACE_EIO)
      fail(e, "cannot open %s: %s", arg, strerror(errno));
  } else if (strcmp(p->kind, "rolling") == 0) {
    rc = trace_writer_rolling(&p->roll, out);
    if (rc == TRACE_EIO)
      fail(e, "cannot open a log file in %s: %s", p->roll.directory, strerror(errno));
    else if (rc == TRACE_EINVAL)
      rc = fail(e, "rolling: needs a prefix or a suffix with rotation never");
  } else if (strcmp(p->kind, "syslog") == 0) {
    p->sys.address = arg;
    rc = trace_writer_syslog(&p->sys, out);
    if (rc == TRACE_EINVAL)
      rc = fail(e, "syslog:%s: expected /PATH, unix:/PATH, udp:HOST:PORT or tcp:HOST:PORT",
                arg ? arg : "");
    else if (rc == TRACE_EIO)
      fail(e, "syslog:%s: the host name does not resolve", arg ? arg : "");
  } else if (strcmp(p->kind, "journald") == 0) {
    p->jd.socket_path = arg;
    rc = trace_writer_journald(&p->jd, out);
    if (rc == TRACE_EINVAL)
      rc = fail(e, "journald:%s: expected an absolute socket path", arg ? arg : "");
  } else {
    return fail(e, "unknown writer '%s': expected stderr, stdout, file:PATH, rolling:PATH, "
                   "syslog[:ADDRESS] or journald[:PATH]",
                p->kind);
  }
  if (rc == 0 && p->nonblocking) {
    *out = trace_writer_nonblocking(*out, &p->nb);
    if (!*out) {
      fail(e, "the non-blocking writer could not start its thread");
      rc = TRACE_ENOMEM;
    }
  }
  return rc;
}

int trace_writer_from_spec(const char *spec, trace_writer **out, char *err, size_t errlen) {
  if (err && errlen)
    err[0] = '\0';
  if (!out)
    return TRACE_EINVAL;
  *out = NULL;
  spec_error e = {err, errlen};
  if (!spec) {
    fail(&e, "no writer given");
    return TRACE_EINVAL;
  }
  TRACE__KEEP_ERRNO();
  char text[SPEC_MAX];
  if (strlen(spec) >= sizeof text) {
    return fail(&e, "the text is longer than %d bytes", SPEC_MAX - 1);
  }
  strcpy(text, spec);
  parsed p;
  memset(&p, 0, sizeof p);
  trace_nonblocking_options_init(&p.nb);
  trace_rolling_options_init(&p.roll);
  trace_syslog_options_init(&p.sys);
  trace_journald_options_init(&p.jd);
  char *opts = strchr(text, ',');
  if (opts)
    *opts++ = '\0';
  char *colon = strchr(text, ':');
  if (colon) {
    *colon = '\0';
    p.arg = colon + 1;
  }
  int rc = 0;
  if (strlen(text) >= sizeof p.kind || !text[0]) {
    rc = fail(&e, "expected a writer such as stderr, file:PATH or syslog before '%s'",
              colon ? colon + 1 : "");
  } else {
    for (char *c = text; *c; c++)
      *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    memcpy(p.kind, text, strlen(text) + 1); /* shorter than p.kind: checked above */
    if (strcmp(p.kind, "rolling") == 0) {
      if (!p.arg || !*p.arg)
        rc = fail(&e, "rolling: expected rolling:DIR/PREFIX.SUFFIX");
      else
        rc = rolling_path(&p, (char *)(uintptr_t)p.arg, &e);
    }
  }
  while (rc == 0 && opts) {
    char *next = strchr(opts, ',');
    if (next)
      *next++ = '\0';
    if (*opts)
      rc = option(&p, opts, &e);
    opts = next;
  }
  if (rc == 0)
    rc = make(&p, out, &e);
  return rc;
}

trace_writer *trace_writer_from_env(void) {
  const char *spec = getenv("TRACE_WRITER");
  if (!spec || !*spec)
    return trace_writer_stderr();
  char why[256];
  trace_writer *w = NULL;
  if (trace_writer_from_spec(spec, &w, why, sizeof why) == 0)
    return w;
  /* Bad configuration is reported, not fatal: stderr, the default, is used instead. */
  char msg[768];
  trace__buf b;
  trace__buf_init_fixed(&b, msg, sizeof msg - 1);
  size_t len = strlen(spec);
  trace__buf_puts(&b, "trace: ignoring TRACE_WRITER='");
  trace__escape(&b, spec, len > 100 ? 100 : len, TRACE__ESC_TEXT);
  trace__buf_puts(&b, len > 100 ? "...': " : "': ");
  trace__escape(&b, why, strlen(why), TRACE__ESC_TEXT);
  trace__buf_puts(&b, "; writing to stderr\n");
  if (b.truncated)
    msg[b.len++] = '\n';
  trace__warn(msg, b.len);
  return trace_writer_stderr();
}
