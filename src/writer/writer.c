/* What every writer shares: the public entry points, which dispatch to the kind's operations,
 * and the counting and one-time reporting of failures. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../common/alloc.h"
#include "../common/warn.h"
#include "../text/escape.h"
#include "internal.h"
#include "../common/guard.h"

void trace__writer_init(trace_writer *w, const writer_ops *ops, const char *label) {
  trace__writer_fork_init();
  w->ops = ops;
  snprintf(w->label, sizeof w->label, "%s", label);
}

void trace__writer_warn(const char *what, const char *detail, int err, const char *tail) {
  char msg[512];
  trace__buf b;
  trace__buf_init_fixed(&b, msg, sizeof msg - 1);
  trace__buf_puts(&b, "trace: ");
  trace__buf_puts(&b, what);
  trace__escape_cstr(&b, detail, TRACE__ESC_TEXT); /* a path or an address is anyone's text */
  trace__buf_puts(&b, ": ");
  trace__buf_puts(&b, err ? strerror(err) : "failed");
  trace__buf_puts(&b, tail);
  trace__buf_putc(&b, '\n');
  if (b.truncated)
    msg[b.len++] = '\n'; /* keep the line a line */
  trace__warn(msg, b.len);
}

static void report_once(trace_writer *w, int err) {
  __atomic_store_n(&w->last_error, err ? err : EIO, __ATOMIC_RELAXED);
  if (w->quiet_reports || __atomic_exchange_n(&w->reported, 1, __ATOMIC_RELAXED))
    return;
  /* Once per writer: a failing log output must not go unnoticed, and stderr is the place to say
   * so. Further losses are counted (trace_writer_get_stats). */
  trace__writer_warn("cannot write to ", w->label, err, "; lines are being lost");
}

void trace__writer_failed(trace_writer *w, int err) {
  __atomic_add_fetch(&w->lost, 1, __ATOMIC_RELAXED);
  report_once(w, err);
}

void trace__writer_cut(trace_writer *w, int err) { trace__writer_failed(w, err); }

int trace__writer_put_line(trace_writer *w, const char *line, size_t len) {
  return TRACE__LIKELY(w->ops->put(w, line, len) == 0) ? 0 : TRACE_EIO;
}

static const char *const no_fields[] = {NULL};
static const trace_metadata line_meta = {"line", "trace_writer_write", __FILE__, "", no_fields,
                                         NULL, __LINE__, 0, TRACE_LEVEL_INFO, TRACE_KIND_EVENT,
                                         0, 0};

/* The len bytes of line and then last, in small when they fit (cap bytes), else in a new block
 * (NULL when out of memory); the caller frees a copy that is not small. */
static char *copy_line(const char *line, size_t len, char last, char *small, size_t cap) {
  char *copy = len < cap ? small : trace__malloc(len + 1);
  if (!copy)
    return NULL;
  if (len)
    memcpy(copy, line, len);
  copy[len] = last;
  return copy;
}

/* A text line given to a structured writer: an INFO record whose message is the line. */
static int write_line_as_record(trace_writer *w, const char *line, size_t len) {
  if (len > 0 && line[len - 1] == '\n')
    len--;
  TRACE__KEEP_ERRNO();
  char small[4096];
  char *copy = copy_line(line, len, '\0', small, sizeof small); /* a NUL inside cuts it there */
  if (!copy)
    return TRACE_ENOMEM;
  trace_record rec = {sizeof rec, &line_meta, NULL, copy, NULL, NULL, NULL, 0};
  int rc = trace_writer_write_record(w, &rec);
  if (copy != small)
    trace__free(copy);
  return rc;
}

/* trace_writer_write's rare cases: a structured writer, or a line without its newline. Out of
 * line, so that the common case does not pay for this frame (the 4 KiB copy, the saved
 * registers): that was most of the cost of handing the fmt layer's line over. */
static TRACE__NOINLINE int write_rare(trace_writer *w, const char *line, size_t len) {
  if (w->ops->encode)
    return write_line_as_record(w, line ? line : "", len);
  /* Add the newline: the line must still go out in one write. */
  TRACE__KEEP_ERRNO();
  char small[4096];
  char *copy = copy_line(line, len, '\n', small, sizeof small);
  if (!copy)
    return TRACE_ENOMEM;
  int rc = trace__writer_put_line(w, copy, len + 1);
  if (copy != small)
    trace__free(copy);
  return rc;
}

int trace_writer_write(trace_writer *w, const char *line, size_t len) {
  if (!w || (!line && len))
    return TRACE_EINVAL;
  if (TRACE__LIKELY(!w->ops->encode && len > 0 && line[len - 1] == '\n'))
    return trace__writer_put_line(w, line, len);
  return write_rare(w, line, len);
}

bool trace_writer_wants_records(const trace_writer *w) { return w && w->ops->encode; }

/* The largest record a structured writer is given: far past any datagram, the memfd's business. */
#define RECORD_MAX ((size_t)64 << 20)
#define PLAIN_LINE_MAX ((size_t)1 << 20) /* as the fmt layer's lines */

/* The record as the writer's unit: its encoding, or for a line writer the plain text line. */
static int render(trace_writer *w, const trace_record *rec, trace__buf *b) {
  if (w->ops->encode)
    return w->ops->encode(w, rec, b);
  trace__buf_puts(b, trace_level_name(rec->meta->level));
  trace__buf_putc(b, ' ');
  trace__record_text(rec, b);
  trace__buf_putc(b, '\n');
  return 0;
}

int trace_writer_write_record(trace_writer *w, const trace_record *rec) {
  if (!w || !rec || rec->struct_size != sizeof *rec || !rec->meta)
    return TRACE_EINVAL;
  if (!w->ops->encode && rec->line)
    return trace_writer_write(w, rec->line, rec->line_len);
  TRACE__KEEP_ERRNO();
  char stack[8192];
  trace__buf b;
  trace__buf_init_fixed(&b, stack, sizeof stack);
  int err = render(w, rec, &b);
  if (!err && b.truncated) {
    size_t limit = w->ops->encode ? RECORD_MAX : PLAIN_LINE_MAX;
    trace__buf_init_growable(&b, limit);
    err = render(w, rec, &b);
    if (!err && b.truncated) {
      if (w->ops->encode) {
        err = EMSGSIZE;
      } else if (b.cap < 64) {
        err = ENOMEM;
      } else { /* as the fmt layer does: a visible cut, and the line stays a line */
        static const char mark[] = "...[line truncated]\n";
        b.len = b.cap - (sizeof mark - 1);
        while (b.len > 0 && ((unsigned char)b.data[b.len] & 0xc0) == 0x80)
          b.len--; /* not inside a UTF-8 character */
        memcpy(b.data + b.len, mark, sizeof mark - 1);
        b.len += sizeof mark - 1;
      }
    }
  }
  int rc = 0;
  if (err) {
    if (!b.data)
      err = ENOMEM;
    trace__writer_failed(w, err);
    rc = err == ENOMEM ? TRACE_ENOMEM : TRACE_EIO;
  } else {
    rc = trace__writer_put_line(w, b.data, b.len);
  }
  if (b.data != stack)
    trace__buf_free(&b);
  return rc;
}

void trace_writer_free(trace_writer *w) {
  if (!w)
    return;
  TRACE__KEEP_ERRNO();
  trace_writer_flush(w);
  w->ops->destroy(w);
}

void trace_writer_flush(trace_writer *w) {
  if (!w)
    return;
  TRACE__KEEP_ERRNO();
  if (w->ops->flush)
    w->ops->flush(w);
}

size_t trace_writer_flush_timeout(trace_writer *w, uint32_t timeout_ms) {
  if (!w)
    return 0;
  TRACE__KEEP_ERRNO();
  size_t left = 0;
  if (w->ops->flush_timeout)
    left = w->ops->flush_timeout(w, timeout_ms);
  else if (w->ops->flush)
    w->ops->flush(w);
  return left;
}

int trace_writer_reopen(trace_writer *w) {
  if (!w)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  int err = w->ops->reopen ? w->ops->reopen(w) : 0;
  return err ? TRACE_EIO : 0;
}

void trace_writer_request_reopen(void) {
  __atomic_add_fetch(&trace__writer_reopen_gen, 1, __ATOMIC_RELAXED);
}

void trace_writer_sighup_handler(int signo) {
  (void)signo;
  trace_writer_request_reopen();
}

bool trace_writer_is_terminal(const trace_writer *w) { return w && w->terminal; }

trace_writer_stats trace_writer_get_stats(const trace_writer *w) {
  trace_writer_stats s = {0, 0, 0};
  if (w) {
    s.lost = __atomic_load_n(&w->lost, __ATOMIC_RELAXED);
    s.last_error = __atomic_load_n(&w->last_error, __ATOMIC_RELAXED);
    s.dropped = __atomic_load_n(&w->dropped, __ATOMIC_RELAXED);
    if (w->ops->stats)
      w->ops->stats(w, &s);
  }
  return s;
}
