/* The outputs: a Chrome Trace Event JSON writer and a folded-stacks writer. */
#ifndef TRACE_COLLECTOR_OUTPUT_H
#define TRACE_COLLECTOR_OUTPUT_H

#include "internal.h"

/* An event never takes more than this (its args are cut to fit): a page of the file holds it
 * with room to spare, so that each write stays within one page (see chrome.c). */
#define COL_EVENT_MAX 3968u

/* A writer to fd (owned: closed by trace__col_chrome_close), at most max_bytes long. */
col_chrome *trace__col_chrome_file(int fd, uint64_t max_bytes, const char *process_name);
/* A writer to a callback (dumps): written in order, completed by trace__col_chrome_close. */
col_chrome *trace__col_chrome_stream(trace_collector_write_fn fn, void *arg,
                                     const char *process_name);
/* Adds one event (a JSON object of at most COL_EVENT_MAX bytes). */
void trace__col_chrome_event(col_chrome *w, const char *json, size_t len);
/* Writes what was added since the last commit; the file is a complete document afterwards. */
void trace__col_chrome_commit(col_chrome *w);
/* Commits, completes the document, closes and frees; final receives the counters. Returns 0 or
 * the errno of a failure. */
int trace__col_chrome_close(col_chrome *w, col_out_stats *final);
/* Closes and frees without writing anything more (a forked child's copy). NULL: no-op. */
void trace__col_chrome_discard(col_chrome *w);
/* The counters so far (st unchanged for NULL). */
void trace__col_chrome_stats(const col_chrome *w, col_out_stats *st);

col_folded *trace__col_folded_file(int fd);
/* Adds value to the stack names[n-1];...;names[0] (names[0] is the leaf), prefixed by thread
 * when it is not NULL. */
void trace__col_folded_add(col_folded *w, const char *thread, const char *const *names,
                           unsigned n, uint64_t value);
/* Writes a line per stack that grew since the last commit. */
void trace__col_folded_commit(col_folded *w);
int trace__col_folded_close(col_folded *w, col_out_stats *final);
void trace__col_folded_discard(col_folded *w);
void trace__col_folded_stats(const col_folded *w, col_out_stats *st);

/* Writes all of len bytes at offset (or at the file position when offset < 0), retrying short
 * writes and EINTR; returns 0 or an errno. */
int trace__col_write_all(int fd, const char *data, size_t len, int64_t offset);
/* Reports a failed write of an output once on stderr. */
void trace__col_warn_write(const char *what, int err);

#endif
