/* The model: what the reporter and dumps make of records. Spans are looked up by id as their
 * records come in from each thread's ring, in order per thread and in any order across threads
 * (a span's creation may be read after its first enter on another thread: it is then a
 * placeholder until its creation record comes; its CONTEXT record, read with the creations,
 * gives it its trace context); each thread's entered stack is replayed to find
 * the intervals that nest (Chrome complete events) and those that do not (async pairs); a span
 * leaves the model when it is closed and its children are gone, and is then counted in the
 * folded stacks. */
#ifndef TRACE_COLLECTOR_MODEL_H
#define TRACE_COLLECTOR_MODEL_H

#include "record.h"

/* One record as read from a ring (pointers into the copy being read). */
typedef struct col_rec {
  unsigned kind;
  unsigned nfields;
  uint32_t flags; /* of word 0: COL_NEW_ENTERED, COL_EXIT_CLOSED (record.h) */
  uint64_t id;    /* the span's; an event's parent */
  uint64_t ticks; /* 0: not read (see docs/timeline.md, "Timestamps") */
  const trace_metadata *meta;
  const uint64_t *w; /* the whole record, nwords words */
  uint32_t nwords;
} col_rec;

/* Decodes the record at p (at most avail bytes, within one page); returns its size in bytes, 0
 * for a PAD (the rest of the page is empty), or -1 if the bytes are not a record (a dump's
 * overwritten tail: the rest of the page is skipped). */
int trace__col_decode(const uint64_t *p, uint32_t avail, col_rec *r);

/* Calls fn for each record of a ring's data between positions from and to (records never cross
 * a page; what is not a record ends its page). */
void trace__col_walk(const unsigned char *data, uint64_t mask, uint64_t from, uint64_t to,
                     void (*fn)(void *arg, const col_rec *r), void *arg);

typedef struct col_model_config {
  col_chrome *chrome;       /* NULL: no timeline */
  col_folded *folded;       /* NULL: no folded stacks */
  int folded_time;          /* trace_folded_time */
  bool folded_threads;
  uint64_t window_start_ns; /* a dump's window: what ended before is left out; 0: none */
  uint64_t *clock_backwards; /* counter to add to (atomic) */
  /* STREAM: finished spans and events also go here (NULL: none; dumps have none). */
  const trace_collector_sink *sink;
  /* Counter to add to (atomic): records and values let go for lack of memory (NULL: none). */
  uint64_t *memory_drops;
} col_model_config;

col_model *trace__col_model_new(const col_model_config *cfg);
void trace__col_model_free(col_model *m);
/* The conversion for the records fed until the next call. */
void trace__col_model_set_time(col_model *m, const col_timemap *map);
/* Records of one thread follow, from the first pass (creations only) or the second (all but
 * creations, in order). */
void trace__col_model_thread(col_model *m, uint32_t number, const char *name);
void trace__col_model_feed_new(col_model *m, const col_rec *r);
void trace__col_model_feed(col_model *m, const col_rec *r);
/* The end of a round: the spans closed in it go to the sink, spans waiting for an ancestor's
 * creation are tried again, outputs are written, the sink's round_end is called. */
void trace__col_model_round_end(col_model *m);
/* The end: spans still open are shown open (and handed to the sink open), ending at end_ns;
 * everything waiting is emitted. */
void trace__col_model_finish(col_model *m, uint64_t end_ns);

#endif
