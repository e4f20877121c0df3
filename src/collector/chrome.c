/* The Chrome Trace Event writer, in the JSON Array Format: "[", events separated by ",\n", "]".
 *
 * A file that is killed mid-run must still load. Every commit leaves a complete document: the
 * events and the trailer "\n]\n" go out in writes that each stay within one 4 KiB page of the
 * file, and each write ends with the trailer, which the next write overwrites. Linux copies a
 * write into the page cache page by page and checks for a fatal signal only between pages, so a
 * write within one page is never cut by SIGKILL (nor lost: the data is in the page cache when
 * the process dies). When an event does not fit in the rest of a page, that page's write ends
 * with ",\n" and spaces instead of the trailer, and the next write starts the next page: between
 * the two, the file is the array without its closing bracket, which the format allows ("the ]
 * at the end is optional") and chrome://tracing, Perfetto and speedscope load as it is; a
 * strict JSON parser reads it once the trailing comma is replaced by "]". A failed write (a full
 * disk) puts the trailer back after the last event that was written whole and cuts the file
 * there.
 *
 * Pipes and other outputs that cannot seek get the events in order and the closing bracket at
 * the end (dumps to a callback are written that way too). */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/alloc.h"
#include "../common/warn.h"
#include "../text/escape.h"
#include "../text/number.h"
#include "output.h"

#define TRAILER "\n]\n"
#define TRAILER_LEN 3u
/* Room kept for the event that says the size limit was reached. */
#define LIMIT_NOTE_ROOM 320u

struct col_chrome {
  int fd;                     /* -1: a callback */
  trace_collector_write_fn fn;
  void *arg;
  bool seekable;
  uint64_t max_bytes;
  uint64_t page_off;  /* seekable: the file offset of stage.data[0], at a page boundary */
  uint64_t sent;      /* not seekable: bytes written */
  trace__buf stage;
  uint64_t count;     /* events in the document */
  uint64_t staged;    /* events in stage not yet written */
  uint64_t good_end;  /* seekable: where the trailer of the last complete write is */
  bool full;          /* the size limit was reached */
  bool failed;        /* a write failed: nothing more is written */
  col_out_stats st;
};

static void stage_put(col_chrome *w, const char *s, size_t n) { trace__buf_put(&w->stage, s, n); }

static uint64_t next_offset(const col_chrome *w) {
  return (w->seekable ? w->page_off : w->sent) + w->stage.len;
}

static col_chrome *chrome_new(int fd, trace_collector_write_fn fn, void *arg, uint64_t max_bytes,
                              const char *process_name) {
  col_chrome *w = trace__calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->fd = fd;
  w->fn = fn;
  w->arg = arg;
  w->max_bytes = max_bytes < 8192 ? 8192 : max_bytes;
  struct stat sb;
  w->seekable = fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
  trace__buf_init_growable(&w->stage, (size_t)1 << 30);
  stage_put(w, "[\n", 2);
  /* The first event names the process. */
  char name[64] = "";
  if (process_name) {
    snprintf(name, sizeof name, "%s", process_name);
  } else {
    FILE *f = fopen("/proc/self/comm", "r");
    if (f) {
      if (fgets(name, sizeof name, f))
        name[strcspn(name, "\n")] = '\0';
      fclose(f);
    }
  }
  trace__buf *b = &w->stage;
  trace__buf_puts(b, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":");
  trace__buf_u64(b, (uint64_t)getpid());
  trace__buf_puts(b, ",\"tid\":0,\"args\":{\"name\":\"");
  trace__escape(b, name, strlen(name), TRACE__ESC_JSON);
  trace__buf_puts(b, "\"}}");
  w->count = 1;
  w->staged = 1;
  if (w->stage.truncated) {
    trace__buf_free(&w->stage);
    trace__free(w);
    return NULL;
  }
  /* The file is a complete (empty) document from the start. */
  trace__col_chrome_commit(w);
  return w;
}

col_chrome *trace__col_chrome_file(int fd, uint64_t max_bytes, const char *process_name) {
  return chrome_new(fd, NULL, NULL, max_bytes, process_name);
}

col_chrome *trace__col_chrome_stream(trace_collector_write_fn fn, void *arg,
                                     const char *process_name) {
  return chrome_new(-1, fn, arg, UINT64_MAX, process_name);
}

static void fail(col_chrome *w, int err) {
  if (!w->failed)
    trace__col_warn_write("the Chrome trace", err);
  w->failed = true;
  w->st.write_errors++;
  w->st.last_error = err;
  w->st.events_dropped += w->staged;
  w->staged = 0;
  w->stage.len = 0;
}

/* The bytes go out: to the callback, or to the file at its position. */
static int send(col_chrome *w, const char *data, size_t len, int64_t offset) {
  if (w->fd < 0)
    return w->fn(w->arg, data, len) == 0 ? 0 : EIO;
  return trace__col_write_all(w->fd, data, len, offset);
}

void trace__col_chrome_event(col_chrome *w, const char *json, size_t len) {
  if (w->failed || w->full || len > COL_EVENT_MAX) {
    w->st.events_dropped++;
    return;
  }
  size_t sep = 2;
  uint64_t at = next_offset(w);
  size_t pad = 0;
  if (w->seekable) {
    uint64_t in_page = at % COL_PAGE;
    if (in_page + sep + len + TRAILER_LEN > COL_PAGE)
      pad = COL_PAGE - in_page; /* ",\n" and spaces to the end of the page */
  }
  if (at + pad + sep + len + TRAILER_LEN + LIMIT_NOTE_ROOM > w->max_bytes) {
    /* The limit: a last event says so, in the room kept for it, and the document stays whole. */
    w->full = true;
    w->st.events_dropped++;
    char note[LIMIT_NOTE_ROOM];
    int n = snprintf(note, sizeof note,
                     "{\"name\":\"libtrace: chrome_max_bytes reached, later events dropped\","
                     "\"cat\":\"trace\",\"ph\":\"i\",\"s\":\"g\",\"ts\":0,\"pid\":%ld,\"tid\":0}",
                     (long)getpid());
    if (w->seekable && at % COL_PAGE + sep + (size_t)n + TRAILER_LEN > COL_PAGE)
      return; /* no room in this page: the document ends as it is */
    stage_put(w, ",\n", 2);
    stage_put(w, note, (size_t)n);
    w->count++;
    w->staged++;
    return;
  }
  if (pad) {
    stage_put(w, ",\n", 2);
    trace__buf_fill(&w->stage, ' ', pad - 2);
    sep = 0;
  }
  if (sep)
    stage_put(w, ",\n", 2);
  stage_put(w, json, len);
  w->count++;
  w->staged++;
  if (w->stage.truncated) {
    fail(w, ENOMEM);
    return;
  }
  /* A round that produces a lot is written as it goes. */
  if (w->stage.len >= (size_t)1 << 20)
    trace__col_chrome_commit(w);
}

/* The end of the last whole event in data[0..len) (a page that ends with ",\n" and spaces):
 * raw newlines occur only between events (JSON escapes them inside strings). */
static size_t last_event_end(const char *data, size_t len) {
  for (size_t i = len; i-- > 1;)
    if (data[i] == '\n' && data[i - 1] == ',')
      return i - 1;
  return 0;
}

/* After a failed write: the trailer goes back after the last event written whole, and the file
 * is cut there (shrinking works on a full disk). */
static void repair(col_chrome *w) {
  if (!w->seekable || !w->good_end)
    return;
  if (trace__col_write_all(w->fd, TRAILER, TRAILER_LEN, (int64_t)w->good_end) == 0) {
    int saved = errno;
    if (ftruncate(w->fd, (off_t)(w->good_end + TRAILER_LEN)) != 0)
      errno = saved;
  }
}

static void commit_seekable(col_chrome *w) {
  char page[COL_PAGE];
  size_t done = 0;
  while (done < w->stage.len) {
    size_t chunk = w->stage.len - done;
    bool last = chunk + TRAILER_LEN <= COL_PAGE;
    if (!last)
      chunk = COL_PAGE; /* a page that ends with ",\n" and spaces */
    memcpy(page, w->stage.data + done, chunk);
    size_t n = chunk;
    if (last) {
      memcpy(page + chunk, TRAILER, TRAILER_LEN);
      n += TRAILER_LEN;
    }
    uint64_t off = w->page_off + done;
    int err = trace__col_write_all(w->fd, page, n, (int64_t)off);
    if (err) {
      fail(w, err);
      repair(w);
      return;
    }
    w->good_end = last ? off + chunk : off + last_event_end(page, chunk);
    if (off + n > w->st.bytes_written)
      w->st.bytes_written = off + n;
    done += chunk;
    if (last)
      break;
  }
  /* The last page is written again with the next events: it stays in the stage. */
  size_t keep = w->stage.len % COL_PAGE;
  size_t drop = w->stage.len - keep;
  memmove(w->stage.data, w->stage.data + drop, keep);
  w->stage.len = keep;
  w->page_off += drop;
}

void trace__col_chrome_commit(col_chrome *w) {
  if (w->failed || (!w->staged && w->seekable))
    return;
  if (w->seekable) {
    commit_seekable(w);
  } else if (w->stage.len) {
    int err = send(w, w->stage.data, w->stage.len, -1);
    if (err) {
      fail(w, err);
      return;
    }
    w->sent += w->stage.len;
    w->st.bytes_written = w->sent;
    w->stage.len = 0;
  }
  if (!w->failed) {
    w->st.events_written += w->staged;
    w->staged = 0;
  }
}

int trace__col_chrome_close(col_chrome *w, col_out_stats *final) {
  if (!w)
    return 0;
  trace__col_chrome_commit(w);
  if (!w->seekable && !w->failed) {
    int err = send(w, TRAILER, TRAILER_LEN, -1);
    if (err)
      fail(w, err);
    else
      w->st.bytes_written += TRAILER_LEN;
  }
  int rc = w->failed ? w->st.last_error : 0;
  if (final)
    *final = w->st;
  trace__col_chrome_discard(w);
  return rc;
}

void trace__col_chrome_discard(col_chrome *w) {
  if (!w)
    return;
  if (w->fd >= 0)
    close(w->fd);
  trace__buf_free(&w->stage);
  trace__free(w);
}

void trace__col_chrome_stats(const col_chrome *w, col_out_stats *st) {
  if (w)
    *st = w->st;
}
