/* The rolling file writer: a new file per period (minute, hour, day) and per max_size bytes.
 *
 * The writer keeps one descriptor number for its whole life. Rolling opens the next file and puts
 * it in place of the current one with dup3, so a thread writing at that moment writes its line
 * whole to the old file or the new one: no line is split across a roll, none is written to a
 * closed or reused descriptor, and a line costs one write(2) with no lock, as for any file. The
 * size of the current file is counted with an atomic add per line only when max_size is set. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/civil.h"
#include "internal.h"
#include "../common/guard.h"

#define RETRY_NS 1000000000u      /* a failed roll is tried again after a second */
#define PATH_CHECK_NS 1000000000u /* is the file still under its name? once a second */

typedef struct rolling_writer {
  trace_writer base;
  char *dir, *prefix, *suffix;
  int rotation;
  bool local;
  uint64_t max_size;
  unsigned max_files;
  unsigned mode;
  int fd;               /* the one descriptor number, for the writer's life */
  uint64_t size;        /* atomic: bytes in the current file (with max_size) */
  uint32_t gen;         /* atomic: bumped by every roll */
  int64_t next_roll;    /* atomic: CLOCK_REALTIME second the period ends; INT64_MAX: never */
  uint64_t retry_at;    /* atomic: coarse ns before which a failed roll is not tried again */
  uint64_t path_checked; /* atomic */
  uint32_t reopen_gen;  /* atomic */
  uint8_t dangling;
  uint8_t roll_reported; /* atomic: a failed roll was reported */
  trace__wlock lock;    /* rolls, reopens, and finishing a short write */
  /* Under the lock: */
  char period[32];
  unsigned index;
  dev_t dev;
  ino_t ino;
  char path[PATH_MAX];
} rolling_writer;

static int64_t real_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return (int64_t)ts.tv_sec;
}

int64_t (*trace__rolling_clock)(void) = real_now_s;

static int64_t coarse_now_s(void) { return trace__rolling_clock(); }

/* The period that contains t, as text, and the second at which it ends. */
static int64_t period_of(const rolling_writer *w, int64_t t, char *out, size_t cap) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (w->local)
    trace__local_tm(t, &tm);
  else
    trace__utc_tm(t, &tm);
  out[0] = '\0';
  if (w->rotation == TRACE_ROLL_NEVER)
    return INT64_MAX;
  /* 2026-12-05, then -14 for hours and -30 for minutes: names that sort by time. */
  int n = snprintf(out, cap, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  if (w->rotation != TRACE_ROLL_DAILY && n > 0 && (size_t)n < cap)
    n += snprintf(out + n, cap - (size_t)n, "-%02d", tm.tm_hour);
  if (w->rotation == TRACE_ROLL_MINUTELY && n > 0 && (size_t)n < cap)
    snprintf(out + n, cap - (size_t)n, "-%02d", tm.tm_min);
  /* UTC, or a child of fork() that may not call mktime (common/civil.h): the next multiple of
   * the period in the time of the names, which is the calendar's boundary except, in local time,
   * across a daylight-saving change. */
  if (!w->local || !trace__local_tz_callable()) {
    int64_t len = w->rotation == TRACE_ROLL_MINUTELY ? 60 : w->rotation == TRACE_ROLL_HOURLY ? 3600
                                                                                            : 86400;
    int64_t off = w->local ? tm.tm_gmtoff : 0;
    return ((t + off) / len + 1) * len - off;
  }
  /* Local time: the next boundary by the calendar (a day is 23 or 25 hours across DST). */
  tm.tm_sec = 0;
  if (w->rotation == TRACE_ROLL_MINUTELY) {
    tm.tm_min++;
  } else if (w->rotation == TRACE_ROLL_HOURLY) {
    tm.tm_min = 0;
    tm.tm_hour++;
  } else {
    tm.tm_min = 0;
    tm.tm_hour = 0;
    tm.tm_mday++;
  }
  tm.tm_isdst = -1;
  time_t next = mktime(&tm);
  return next > tt ? (int64_t)next : t + 60;
}

/* prefix.period.index.suffix, leaving out what is empty (and index 0). */
static void file_name(const rolling_writer *w, const char *period, unsigned index, char *out,
                      size_t cap) {
  char idx[16] = "";
  if (index)
    snprintf(idx, sizeof idx, "%u", index);
  const char *parts[4] = {w->prefix, period, idx, w->suffix};
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < 4; i++) {
    if (!parts[i][0])
      continue;
    int n = snprintf(out + len, cap - len, "%s%s", len ? "." : "", parts[i]);
    if (n < 0 || (size_t)n >= cap - len)
      return;
    len += (size_t)n;
  }
}

/* Whether name is one of ours; if so its period text and index. */
static bool parse_name(const rolling_writer *w, const char *name, char *period, size_t cap,
                       unsigned *index) {
  size_t pl = strlen(w->prefix), sl = strlen(w->suffix), nl = strlen(name);
  const char *mid = name;
  size_t ml = nl;
  if (pl) {
    if (nl < pl + 1 || strncmp(name, w->prefix, pl) != 0 || name[pl] != '.')
      return false;
    mid += pl + 1;
    ml -= pl + 1;
  }
  if (sl) {
    if (ml == sl && strcmp(mid, w->suffix) == 0) /* "prefix.suffix": nothing between */
      ml = 0;
    else if (ml < sl + 1 || strcmp(mid + ml - sl, w->suffix) != 0 || mid[ml - sl - 1] != '.')
      return false;
    else
      ml -= sl + 1;
  }
  /* mid[0..ml) is "period", "period.N", "N" or "" (NEVER). */
  /* %Y-%m-%d is 10 characters, each further field 3. */
  size_t want = w->rotation == TRACE_ROLL_DAILY ? 10 : w->rotation == TRACE_ROLL_HOURLY ? 13
         : w->rotation == TRACE_ROLL_MINUTELY ? 16 : 0;
  if (ml < want)
    return false;
  for (size_t i = 0; i < want; i++)
    if (!(mid[i] >= '0' && mid[i] <= '9') && mid[i] != '-')
      return false;
  if (want >= cap)
    return false;
  memcpy(period, mid, want);
  period[want] = '\0';
  *index = 0;
  size_t rest = want;
  if (rest < ml) {
    if (want) {
      if (mid[rest] != '.')
        return false;
      rest++;
    }
    if (rest == ml)
      return false;
    unsigned v = 0;
    for (; rest < ml; rest++) {
      if (mid[rest] < '0' || mid[rest] > '9' || v > 100000000u)
        return false;
      v = v * 10 + (unsigned)(mid[rest] - '0');
    }
    *index = v;
  } else if (!want && !pl && !sl) {
    return false;
  }
  return true;
}

typedef struct old_file {
  char period[32];
  unsigned index;
  char name[NAME_MAX + 1];
} old_file;

static int older(const void *a, const void *b) {
  const old_file *x = a, *y = b;
  int c = strcmp(x->period, y->period);
  if (c)
    return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Our files in the directory, oldest first; *n of them (the caller frees). */
static old_file *list_files(const rolling_writer *w, size_t *n) {
  *n = 0;
  DIR *d = opendir(w->dir);
  if (!d)
    return NULL;
  old_file *files = NULL;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    old_file f;
    if (!parse_name(w, e->d_name, f.period, sizeof f.period, &f.index))
      continue;
    if (*n == cap && !trace__grow_array(&files, &cap, sizeof *files, 16))
      break;
    snprintf(f.name, sizeof f.name, "%s", e->d_name);
    files[(*n)++] = f;
  }
  closedir(d);
  if (*n)
    qsort(files, *n, sizeof *files, older);
  return files;
}

/* Deletes the oldest of our files beyond max_files (the current one is the newest). */
static void prune(rolling_writer *w) {
  if (!w->max_files)
    return;
  size_t n;
  old_file *files = list_files(w, &n);
  for (size_t i = 0; i + w->max_files < n; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", w->dir, files[i].name);
    if (strcmp(path, w->path) != 0)
      unlink(path);
  }
  trace__free(files);
}

/* Opens the file for (period, index) and puts it on the writer's descriptor. Under the lock (or
 * before anyone else can see the writer). Returns 0 or an errno value (the current file stays). */
static int open_file(rolling_writer *w, const char *period, unsigned index) {
  char name[NAME_MAX + 1], path[PATH_MAX];
  file_name(w, period, index, name, sizeof name);
  snprintf(path, sizeof path, "%s/%s", w->dir, name);
  int nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, (mode_t)w->mode);
  if (nfd < 0 && errno == ENOENT && trace__mkdirs(w->dir) == 0) /* the directory went away */
    nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, (mode_t)w->mode);
  if (nfd < 0)
    return errno;
  struct stat st;
  if (fstat(nfd, &st) != 0)
    st.st_size = 0;
  if (w->fd < 0) {
    w->fd = nfd;
  } else if (dup3(nfd, w->fd, O_CLOEXEC) < 0) {
    int err = errno;
    close(nfd);
    return err;
  } else {
    close(nfd);
  }
  snprintf(w->path, sizeof w->path, "%s", path);
  snprintf(w->period, sizeof w->period, "%s", period);
  w->index = index;
  w->dev = st.st_dev;
  w->ino = st.st_ino;
  __atomic_store_n(&w->size, (uint64_t)st.st_size, __ATOMIC_RELAXED);
  __atomic_add_fetch(&w->gen, 1, __ATOMIC_RELEASE);
  prune(w);
  return 0;
}

/* The newest index of this period already on disk (appended to after a restart). */
static unsigned newest_index(const rolling_writer *w, const char *period) {
  size_t n;
  old_file *files = list_files(w, &n);
  unsigned best = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(files[i].period, period) == 0 && files[i].index > best)
      best = files[i].index;
  trace__free(files);
  return best;
}

/* A roll that could not open its file: lines go on to the current one; said once, tried again a
 * second later. */
static void roll_failed(rolling_writer *w, const char *period, unsigned index, int err) {
  __atomic_store_n(&w->retry_at, trace__coarse_ns() + RETRY_NS, __ATOMIC_RELAXED);
  __atomic_store_n(&w->base.last_error, err, __ATOMIC_RELAXED);
  if (__atomic_exchange_n(&w->roll_reported, 1, __ATOMIC_RELAXED))
    return;
  char name[NAME_MAX + 1], path[PATH_MAX + 64];
  file_name(w, period, index, name, sizeof name);
  snprintf(path, sizeof path, "%s/%s", w->dir, name);
  trace__writer_warn("cannot open the next log file ", path, err,
                     "; writing on to the current one");
}

/* Rolls if the period is over, and reopens if asked to or if the file left its name. */
static TRACE__NOINLINE void maintain(rolling_writer *w, int64_t now_s, uint64_t now_ns) {
  TRACE__KEEP_ERRNO();
  trace__wlock_lock(&w->lock);
  uint32_t rgen = __atomic_load_n(&trace__writer_reopen_gen, __ATOMIC_RELAXED);
  bool reopen = rgen != __atomic_load_n(&w->reopen_gen, __ATOMIC_RELAXED);
  __atomic_store_n(&w->reopen_gen, rgen, __ATOMIC_RELAXED);
  if (now_s >= __atomic_load_n(&w->next_roll, __ATOMIC_RELAXED) &&
      now_ns >= __atomic_load_n(&w->retry_at, __ATOMIC_RELAXED)) {
    char period[32];
    int64_t next = period_of(w, now_s, period, sizeof period);
    unsigned index = strcmp(period, w->period) == 0 ? w->index : 0;
    int err = open_file(w, period, index);
    if (err) {
      roll_failed(w, period, index, err);
    } else {
      __atomic_store_n(&w->next_roll, next, __ATOMIC_RELAXED);
      reopen = false;
    }
  }
  if (!reopen && now_ns - __atomic_load_n(&w->path_checked, __ATOMIC_RELAXED) >= PATH_CHECK_NS) {
    __atomic_store_n(&w->path_checked, now_ns, __ATOMIC_RELAXED);
    struct stat st;
    reopen = stat(w->path, &st) != 0 || st.st_dev != w->dev || st.st_ino != w->ino;
  }
  if (reopen && now_ns >= __atomic_load_n(&w->retry_at, __ATOMIC_RELAXED)) {
    char period[32];
    snprintf(period, sizeof period, "%s", w->period);
    int err = open_file(w, period, w->index); /* the same name, a new file */
    if (err)
      roll_failed(w, period, w->index, err);
  }
  trace__wlock_unlock(&w->lock);
}

static bool due(rolling_writer *w, int64_t *now_s, uint64_t *now_ns) {
  *now_s = coarse_now_s();
  *now_ns = trace__coarse_ns();
  return *now_s >= __atomic_load_n(&w->next_roll, __ATOMIC_RELAXED) ||
         *now_ns - __atomic_load_n(&w->path_checked, __ATOMIC_RELAXED) >= PATH_CHECK_NS ||
         __atomic_load_n(&trace__writer_reopen_gen, __ATOMIC_RELAXED) !=
             __atomic_load_n(&w->reopen_gen, __ATOMIC_RELAXED);
}

/* Rolls to the next index, unless another thread did since gen. Returns whether the current
 * file is a new one (false: the roll failed or waits for its retry). */
static bool roll_for_size(rolling_writer *w, uint32_t gen) {
  TRACE__KEEP_ERRNO();
  trace__wlock_lock(&w->lock);
  if (__atomic_load_n(&w->gen, __ATOMIC_RELAXED) == gen &&
      trace__coarse_ns() >= __atomic_load_n(&w->retry_at, __ATOMIC_RELAXED)) {
    char period[32];
    snprintf(period, sizeof period, "%s", w->period);
    int err = open_file(w, period, w->index + 1);
    if (err)
      roll_failed(w, period, w->index + 1, err);
  }
  bool rolled = __atomic_load_n(&w->gen, __ATOMIC_RELAXED) != gen;
  trace__wlock_unlock(&w->lock);
  return rolled;
}

/* With max_size: counts n more bytes, rolling to the next index first if they would not fit
 * (unless the file is empty: a line longer than max_size still goes somewhere). */
static void count_bytes(rolling_writer *w, uint64_t n) {
  for (;;) {
    uint32_t gen = __atomic_load_n(&w->gen, __ATOMIC_ACQUIRE);
    uint64_t old = __atomic_fetch_add(&w->size, n, __ATOMIC_RELAXED);
    if (old == 0 || old + n <= w->max_size || !roll_for_size(w, gen))
      return; /* fits, or cannot roll now: the current file takes it */
  }
}

static int rolling_put(trace_writer *base, const char *p, size_t n) {
  rolling_writer *w = (rolling_writer *)base;
  int64_t now_s;
  uint64_t now_ns;
  if (TRACE__UNLIKELY(due(w, &now_s, &now_ns)))
    maintain(w, now_s, now_ns);
  if (w->max_size)
    count_bytes(w, n);
  TRACE__KEEP_ERRNO();
  if (TRACE__LIKELY(!__atomic_load_n(&w->dangling, __ATOMIC_RELAXED))) {
    ssize_t k = write(w->fd, p, n);
    if (TRACE__LIKELY(k == (ssize_t)n))
      return 0;
    if (k < 0 && errno != EINTR && errno != EAGAIN) {
      int err = errno;
      trace__writer_failed(base, err);
      return err;
    }
    /* Short (the disk filled up): finish or close it under the lock. */
    size_t done = k > 0 ? (size_t)k : 0;
    trace__wlock_lock(&w->lock);
    bool cut;
    int err = trace__fd_write_unit(w->fd, FD_QUIET, p + done, n - done, &w->dangling, &cut);
    trace__wlock_unlock(&w->lock);
    if (err)
      trace__writer_cut(base, err);
    return err;
  }
  trace__wlock_lock(&w->lock);
  bool cut;
  int err = trace__fd_write_unit(w->fd, FD_QUIET, p, n, &w->dangling, &cut);
  trace__wlock_unlock(&w->lock);
  if (err) {
    if (cut)
      trace__writer_cut(base, err);
    else
      trace__writer_failed(base, err);
  }
  return err;
}

/* A batch of the non-blocking writer's thread: writev as much as the current file takes, roll,
 * go on. */
static size_t rolling_put_batch(trace_writer *base, const struct iovec *iov, const uint32_t *units,
                                size_t n) {
  rolling_writer *w = (rolling_writer *)base;
  int64_t now_s;
  uint64_t now_ns;
  if (due(w, &now_s, &now_ns))
    maintain(w, now_s, now_ns);
  size_t lost = 0;
  size_t u = 0, i = 0;
  bool force = false; /* the roll failed: the current file takes the next line anyway */
  while (u < n) {
    size_t first_u = u, first_i = i;
    uint64_t bytes = 0;
    uint32_t gen = __atomic_load_n(&w->gen, __ATOMIC_ACQUIRE);
    uint64_t size = w->max_size ? __atomic_load_n(&w->size, __ATOMIC_RELAXED) : 0;
    while (u < n) {
      uint64_t len = iov[i].iov_len + (units[u] > 1 ? iov[i + 1].iov_len : 0);
      if (w->max_size && size + bytes > 0 && size + bytes + len > w->max_size &&
          !(force && u == first_u))
        break;
      bytes += len;
      i += units[u];
      u++;
    }
    force = false;
    if (u == first_u) {
      force = !roll_for_size(w, gen);
      continue;
    }
    if (w->max_size)
      __atomic_add_fetch(&w->size, bytes, __ATOMIC_RELAXED);
    trace__wlock_lock(&w->lock);
    lost += trace__fd_write_units(base, w->fd, FD_QUIET, iov + first_i, units + first_u,
                                  u - first_u, &w->dangling);
    trace__wlock_unlock(&w->lock);
  }
  return lost;
}

static int rolling_reopen(trace_writer *base) {
  rolling_writer *w = (rolling_writer *)base;
  TRACE__KEEP_ERRNO();
  trace__wlock_lock(&w->lock);
  char period[32];
  snprintf(period, sizeof period, "%s", w->period);
  int err = open_file(w, period, w->index);
  if (err)
    roll_failed(w, period, w->index, err);
  trace__wlock_unlock(&w->lock);
  return err;
}

static void rolling_destroy(trace_writer *base) {
  rolling_writer *w = (rolling_writer *)base;
  if (w->fd >= 0)
    close(w->fd);
  trace__free(w->dir);
  trace__free(w->prefix);
  trace__free(w->suffix);
  trace__free_lines(w);
}

static const writer_ops rolling_ops = {
    .put = rolling_put,
    .put_batch = rolling_put_batch,
    .reopen = rolling_reopen,
    .destroy = rolling_destroy,
};

void trace_rolling_options_init(trace_rolling_options *o) {
  if (!o)
    return;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->rotation = TRACE_ROLL_DAILY;
  o->file_mode = 0644;
}

int trace__mkdirs(const char *dir) {
  char path[PATH_MAX];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof path)
    return ENAMETOOLONG;
  memcpy(path, dir, len + 1);
  for (char *p = path + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return errno;
      *p = c;
      if (!c)
        break;
    }
  }
  struct stat st;
  if (stat(dir, &st) != 0)
    return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

int trace_writer_rolling(const trace_rolling_options *o, trace_writer **out) {
  if (!out)
    return TRACE_EINVAL;
  *out = NULL;
  if (!o || o->struct_size != sizeof *o || !o->directory || !o->directory[0] ||
      o->rotation < TRACE_ROLL_NEVER || o->rotation > TRACE_ROLL_DAILY)
    return TRACE_EINVAL;
  const char *prefix = o->prefix ? o->prefix : "", *suffix = o->suffix ? o->suffix : "";
  if ((!prefix[0] && !suffix[0] && o->rotation == TRACE_ROLL_NEVER) || strchr(prefix, '/') ||
      strchr(suffix, '/'))
    return TRACE_EINVAL; /* no name at all, or a name that is a path */
  /* errno by hand, not TRACE__KEEP_ERRNO: a file that cannot be opened leaves its errno for the
   * caller (writer.h), which a restore at scope exit would undo. */
  int saved = errno;
  rolling_writer *w = trace__alloc_lines(sizeof *w);
  if (!w) {
    errno = saved;
    return TRACE_ENOMEM;
  }
  char label[128];
  snprintf(label, sizeof label, "%s/%s*%s", o->directory, prefix, suffix);
  trace__writer_init(&w->base, &rolling_ops, label);
  w->fd = -1;
  w->dir = trace__strdup(o->directory);
  w->prefix = trace__strdup(prefix);
  w->suffix = trace__strdup(suffix);
  w->rotation = o->rotation;
  w->local = o->local_time;
  w->max_size = o->max_size;
  w->max_files = o->max_files;
  w->mode = o->file_mode ? o->file_mode : 0644;
  int rc = 0;
  if (!w->dir || !w->prefix || !w->suffix) {
    rc = TRACE_ENOMEM;
  } else {
    size_t dl = strlen(w->dir);
    while (dl > 1 && w->dir[dl - 1] == '/')
      w->dir[--dl] = '\0';
    int err = trace__mkdirs(w->dir);
    if (!err) {
      char period[32];
      int64_t now = coarse_now_s();
      /* The coarse clock may lag the precise one by a tick: name the file by the precise one. */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      if ((int64_t)ts.tv_sec > now && trace__rolling_clock == real_now_s)
        now = (int64_t)ts.tv_sec;
      w->next_roll = period_of(w, now, period, sizeof period);
      unsigned index = newest_index(w, period);
      err = open_file(w, period, index);
      if (!err && w->max_size && w->size >= w->max_size)
        err = open_file(w, period, index + 1);
    }
    if (err) {
      rc = TRACE_EIO;
      saved = err;
    }
  }
  if (rc) {
    rolling_destroy(&w->base);
    errno = saved;
    return rc;
  }
  w->path_checked = trace__coarse_ns();
  w->reopen_gen = __atomic_load_n(&trace__writer_reopen_gen, __ATOMIC_RELAXED);
  *out = &w->base;
  errno = saved;
  return 0;
}
