/* Folded stacks ("root;child;leaf 1234"), the input of flamegraph.pl, inferno and speedscope.
 * Stacks are summed in memory and each round appends a line for every stack that grew; the
 * tools add up lines with the same stack, so the file is usable at any point. */
#include <errno.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/warn.h"
#include "../text/number.h"
#include "output.h"

typedef struct stack_entry {
  char *key;
  size_t len;
  uint64_t hash;
  uint64_t pending;
  struct stack_entry *next_dirty;
  bool dirty;
} stack_entry;

struct col_folded {
  int fd;
  bool failed;
  stack_entry **table;
  size_t cap, used;
  stack_entry *dirty;
  trace__buf key, out;
  col_out_stats st;
};

col_folded *trace__col_folded_file(int fd) {
  col_folded *w = trace__calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->fd = fd;
  trace__buf_init_growable(&w->key, (size_t)1 << 16);
  trace__buf_init_growable(&w->out, (size_t)1 << 30);
  return w;
}

static uint64_t fnv(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static bool grow(col_folded *w) {
  size_t cap = w->cap ? w->cap * 2 : 256;
  stack_entry **t = trace__calloc(cap, sizeof *t);
  if (!t)
    return false;
  for (size_t i = 0; i < w->cap; i++) {
    stack_entry *e = w->table[i];
    if (!e)
      continue;
    size_t j = e->hash & (cap - 1);
    while (t[j])
      j = (j + 1) & (cap - 1);
    t[j] = e;
  }
  trace__free(w->table);
  w->table = t;
  w->cap = cap;
  return true;
}

/* A frame name as the format needs it: ';' separates frames and the last space the count, so
 * ';' becomes ':' and control characters '?'. */
static void put_frame(trace__buf *b, const char *name) {
  for (const char *p = name; *p; p++) {
    char c = *p;
    trace__buf_putc(b, c == ';' ? ':' : ((unsigned char)c < 0x20 || c == 0x7f) ? '?' : c);
  }
}

void trace__col_folded_add(col_folded *w, const char *thread, const char *const *names,
                           unsigned n, uint64_t value) {
  if (w->failed)
    return;
  trace__buf *k = &w->key;
  k->len = 0;
  k->truncated = false;
  if (thread) {
    put_frame(k, thread);
    if (n)
      trace__buf_putc(k, ';');
  }
  for (unsigned i = n; i-- > 0;) {
    put_frame(k, names[i]);
    if (i)
      trace__buf_putc(k, ';');
  }
  if (k->truncated || !k->len)
    return;
  if ((w->used + 1) * 2 > w->cap && !grow(w))
    return;
  uint64_t h = fnv(k->data, k->len);
  size_t i = h & (w->cap - 1);
  stack_entry *e;
  for (;; i = (i + 1) & (w->cap - 1)) {
    e = w->table[i];
    if (!e) {
      e = trace__calloc(1, sizeof *e);
      if (!e || !(e->key = trace__strndup(k->data, k->len))) {
        trace__free(e);
        return;
      }
      e->len = k->len;
      e->hash = h;
      w->table[i] = e;
      w->used++;
      break;
    }
    if (e->hash == h && e->len == k->len && memcmp(e->key, k->data, k->len) == 0)
      break;
  }
  e->pending += value;
  if (!e->dirty) {
    e->dirty = true;
    e->next_dirty = w->dirty;
    w->dirty = e;
  }
}

void trace__col_folded_commit(col_folded *w) {
  trace__buf *b = &w->out;
  b->len = 0;
  for (stack_entry *e = w->dirty; e; e = e->next_dirty) {
    e->dirty = false;
    trace__buf_put(b, e->key, e->len);
    trace__buf_putc(b, ' ');
    trace__buf_u64(b, e->pending);
    trace__buf_putc(b, '\n');
    e->pending = 0;
  }
  w->dirty = NULL;
  if (!b->len || w->failed)
    return;
  int err = b->truncated ? ENOMEM : trace__col_write_all(w->fd, b->data, b->len, -1);
  if (err) {
    trace__col_warn_write("the folded stacks", err);
    w->failed = true;
    w->st.write_errors++;
    w->st.last_error = err;
    return;
  }
  w->st.bytes_written += b->len;
}

int trace__col_folded_close(col_folded *w, col_out_stats *final) {
  if (!w)
    return 0;
  trace__col_folded_commit(w);
  int rc = w->failed ? w->st.last_error : 0;
  if (final)
    *final = w->st;
  trace__col_folded_discard(w);
  return rc;
}

void trace__col_folded_discard(col_folded *w) {
  if (!w)
    return;
  for (size_t i = 0; i < w->cap; i++) {
    if (w->table[i]) {
      trace__free(w->table[i]->key);
      trace__free(w->table[i]);
    }
  }
  trace__free(w->table);
  trace__buf_free(&w->key);
  trace__buf_free(&w->out);
  close(w->fd);
  trace__free(w);
}

void trace__col_folded_stats(const col_folded *w, col_out_stats *st) {
  if (w)
    *st = w->st;
}

int trace__col_write_all(int fd, const char *data, size_t len, int64_t offset) {
  while (len) {
    ssize_t n = offset >= 0 ? pwrite(fd, data, len, (off_t)offset) : write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (n == 0)
      return EIO;
    data += n;
    len -= (size_t)n;
    if (offset >= 0)
      offset += n;
  }
  return 0;
}

void trace__col_warn_write(const char *what, int err) {
  char msg[256];
  trace__buf b;
  trace__buf_init_fixed(&b, msg, sizeof msg);
  trace__buf_puts(&b, "trace: collector: cannot write ");
  trace__buf_puts(&b, what);
  trace__buf_puts(&b, ": ");
  trace__buf_puts(&b, strerror(err));
  trace__buf_puts(&b, "; what follows is dropped and counted (trace_collector_get_stats)\n");
  trace__warn(msg, b.len);
}
