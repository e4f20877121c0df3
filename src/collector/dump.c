/* Flight dumps: what the rings hold, as a Chrome trace, while the threads go on recording.
 *
 * Nothing stops a recording thread. Each ring is copied word by word with relaxed loads between
 * two reads of its thread's position, h1 before and h2 after. The thread may have overwritten,
 * during the copy, whatever lies less than a ring's size behind where it got to -- at most h2
 * plus one record in progress, and a record is at most a page -- so the copy keeps only what
 * lies from the first page boundary at or after h2 + page - size, up to h1. The pause a dump
 * costs a recording thread is the cache misses of its ring being read, nothing more (the copy
 * time of each ring is in the stats, and docs/timeline.md has the measurement). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/clock.h"
#include "../common/guard.h"
#include "model.h"
#include "output.h"

typedef struct ring_copy {
  uint64_t *words;
  uint64_t from, to; /* positions of what is kept */
  uint64_t base;     /* the position of words[0] */
  uint32_t number;
  char name[32];
} ring_copy;

static void copy_ring(col *c, col_thread *t, ring_copy *out) {
  uint64_t size = t->size;
  uint64_t start_ns = trace__monotonic_ns();
  uint64_t h1 = __atomic_load_n(&t->pos, __ATOMIC_ACQUIRE);
  uint64_t lo = h1 > size ? (h1 - size + COL_PAGE - 1) & ~(uint64_t)(COL_PAGE - 1) : 0;
  out->base = lo;
  out->from = out->to = lo;
  uint64_t n = (h1 - lo) / 8 + 1;
  out->words = trace__malloc(n * 8);
  if (!out->words)
    return;
  const uint64_t *ring = (const uint64_t *)(const void *)t->data;
  uint64_t mask = t->mask / 8;
  for (uint64_t i = 0, p = lo / 8; p < (h1 + 7) / 8; i++, p++)
    out->words[i] = __atomic_load_n(&ring[p & mask], __ATOMIC_RELAXED);
  TRACE__ACQUIRE_FENCE();
  uint64_t h2 = __atomic_load_n(&t->pos, __ATOMIC_RELAXED);
  uint64_t safe = h2 + COL_PAGE > size ? h2 + COL_PAGE - size : 0;
  safe = (safe + COL_PAGE - 1) & ~(uint64_t)(COL_PAGE - 1);
  out->from = safe > lo ? safe : lo;
  out->to = out->from > h1 ? out->from : h1;
  uint64_t took = trace__monotonic_ns() - start_ns;
  uint64_t max = TRACE__LOAD(&c->dump_copy_ns_max);
  while (took > max && !__atomic_compare_exchange_n(&c->dump_copy_ns_max, &max, took, true,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

typedef struct feed_ctx {
  col_model *m;
  bool all;
} feed_ctx;

static void feed(void *arg, const col_rec *r) {
  feed_ctx *f = arg;
  if (f->all)
    trace__col_model_feed(f->m, r);
  else
    trace__col_model_feed_new(f->m, r);
}

static int dump_with(col *c, col_chrome *w, uint64_t last_ns) {
  trace__mutex_lock(&c->lock);
  size_t n = 0;
  for (col_thread *t = c->threads; t; t = t->next)
    n++;
  ring_copy *copies = trace__calloc(n ? n : 1, sizeof *copies);
  col_thread **rings = trace__calloc(n ? n : 1, sizeof *rings);
  if (!copies || !rings) {
    trace__mutex_unlock(&c->lock);
    trace__free(copies);
    trace__free(rings);
    return TRACE_ENOMEM;
  }
  n = 0;
  for (col_thread *t = c->threads; t; t = t->next) {
    rings[n] = t;
    copies[n].number = t->number;
    memcpy(copies[n].name, t->name, sizeof copies[n].name);
    n++;
  }
  c->dumping++; /* no ring is reused for a new thread until the copies are done */
  trace__mutex_unlock(&c->lock);
  for (size_t i = 0; i < n; i++)
    copy_ring(c, rings[i], &copies[i]);
  trace__mutex_lock(&c->lock);
  c->dumping--;
  trace__mutex_unlock(&c->lock);

  col_timemap map = trace__col_clock_map(&c->clock);
  uint64_t now = trace__col_map_ns(&map, trace__col_now_ticks(&c->clock));
  /* A dump is a picture of the past: the sink has seen (or will see) these spans already. */
  col_model_config cfg = {w, NULL, 0, false, last_ns && last_ns < now ? now - last_ns : 0,
                          &c->clock_backwards, NULL, &c->memory_drops};
  col_model *m = trace__col_model_new(&cfg);
  int rc = m ? 0 : TRACE_ENOMEM;
  if (m) {
    trace__col_model_set_time(m, &map);
    for (int pass = 0; pass < 2; pass++) {
      feed_ctx f = {m, pass == 1};
      for (size_t i = 0; i < n; i++) {
        const ring_copy *rc2 = &copies[i];
        if (!rc2->words || rc2->from >= rc2->to)
          continue;
        trace__col_model_thread(m, rc2->number, rc2->name);
        /* The copy holds positions [base, to) from words[0]: walked as a ring whose mask
         * leaves positions as they are, relative to base. */
        trace__col_walk((const unsigned char *)rc2->words, ~(uint64_t)0, rc2->from - rc2->base,
                        rc2->to - rc2->base, feed, &f);
      }
    }
    trace__col_model_finish(m, now);
    trace__col_model_free(m);
  }
  for (size_t i = 0; i < n; i++)
    trace__free(copies[i].words);
  trace__free(copies);
  trace__free(rings);
  return rc;
}

static int dump(col *c, col_chrome *w, uint64_t last_ns) {
  int rc = w ? dump_with(c, w, last_ns) : TRACE_ENOMEM;
  col_out_stats st = {0, 0, 0, 0, 0};
  int err = trace__col_chrome_close(w, &st);
  if (rc == 0 && err) {
    errno = err;
    rc = TRACE_EIO;
  }
  if (rc == 0)
    __atomic_add_fetch(&c->dumps, 1, __ATOMIC_RELAXED);
  return rc;
}

static int write_fd(void *arg, const char *data, size_t len) {
  int err = trace__col_write_all(*(int *)arg, data, len, -1);
  if (err)
    errno = err;
  return err;
}

/* Writes path.tmp.<pid> and renames it over path: path is never a partial document. */
static int dump_to_path(col *c, const char *path, uint64_t last_ns) {
  char tmp[4200];
  int len = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  if (len < 0 || (size_t)len >= sizeof tmp) {
    errno = ENAMETOOLONG;
    return TRACE_EIO;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return TRACE_EIO;
  int rc = dump(c, trace__col_chrome_stream(write_fd, &fd, c->o.process_name), last_ns);
  int err = errno;
  if (close(fd) != 0 && rc == 0) {
    err = errno;
    rc = TRACE_EIO;
  }
  if (rc == 0 && rename(tmp, path) != 0) {
    err = errno;
    rc = TRACE_EIO;
  }
  if (rc != 0)
    unlink(tmp);
  errno = err;
  return rc;
}

/* c, or the flight recorder in use when c is NULL, with the list lock held (a recorder is not
 * destroyed while it is dumped). NULL: none. */
static col *pick(col *c) {
  trace__mutex_lock(&trace__col_list_lock);
  if (!c)
    c = trace__col_flight_current();
  if (!c)
    trace__mutex_unlock(&trace__col_list_lock);
  return c;
}

int trace_collector_dump(trace_collector *c, const char *path, uint64_t last_ns) {
  if (!path)
    return TRACE_EINVAL;
  int saved = errno;
  c = pick(c);
  if (!c) {
    errno = saved;
    return TRACE_ENOTSUP;
  }
  int rc = c->mode == TRACE_COLLECTOR_FLIGHT ? dump_to_path(c, path, last_ns) : TRACE_ENOTSUP;
  trace__mutex_unlock(&trace__col_list_lock);
  if (rc != TRACE_EIO)
    errno = saved;
  return rc;
}

int trace_collector_dump_to(trace_collector *c, trace_collector_write_fn fn, void *arg,
                            uint64_t last_ns) {
  if (!fn)
    return TRACE_EINVAL;
  TRACE__KEEP_ERRNO();
  c = pick(c);
  if (!c)
    return TRACE_ENOTSUP;
  int rc = c->mode == TRACE_COLLECTOR_FLIGHT
               ? dump(c, trace__col_chrome_stream(fn, arg, c->o.process_name), last_ns)
               : TRACE_ENOTSUP;
  trace__mutex_unlock(&trace__col_list_lock);
  return rc;
}

int trace_flight_dump(const char *path) { return trace_collector_dump(NULL, path, 0); }

void trace__col_dump_requested(col *c) {
  trace__mutex_lock(&trace__col_list_lock);
  bool in_use = trace__col_flight_current() == c;
  trace__mutex_unlock(&trace__col_list_lock);
  if (!in_use)
    return;
  const char *tpl = c->o.request_path ? c->o.request_path : "trace-flight-%p-%n.json";
  char path[4096];
  uint64_t n = __atomic_add_fetch(&c->dump_counter, 1, __ATOMIC_RELAXED);
  if (!trace__col_expand_path(tpl, n, path, sizeof path))
    return;
  int saved = errno;
  if (trace_collector_dump(c, path, 0) == TRACE_EIO)
    trace__col_warn_write("a requested flight dump", errno);
  errno = saved;
}
