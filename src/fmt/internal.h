/* Internals of the fmt layer. */
#ifndef TRACE_FMT_INTERNAL_H
#define TRACE_FMT_INTERNAL_H

#include <time.h>

#include "../common/compiler.h"
#include "../common/idtable.h"
#include "../text/buf.h"
#include "../text/escape.h"
#include "../text/printf.h"
#include "trace/fmt.h"

#define FMT_LINE_MAX ((size_t)1 << 20) /* a line never exceeds 1 MiB */
/* What a line gets when its thread's buffers cannot be allocated (out of memory): buffers on the
 * stack, for the line and for span fields formatted meanwhile (docs/output.md). */
#define FMT_STACK_LINE 2048
#define FMT_STACK_SCRATCH 1024
/* The line buffer each thread's state starts with (trace_thread_prepare: 4 KiB lines). */
#define FMT_PREPARED_LINE 4096
#define FMT_DEFAULT_VALUE_MAX 4096
#define FMT_SCOPE_MAX 64 /* spans shown per event; deeper trees show the innermost 64 */

typedef enum field_style { STYLE_TEXT, STYLE_PRETTY, STYLE_JSON } field_style;

/* Static pieces of a callsite's output (site.c). */
typedef struct fmt_piece {
  uint32_t off, len;
} fmt_piece;
/* A message format compiled once: literal parts already escaped, conversions parsed. */
typedef struct fmt_op {
  fmt_piece literal; /* len 0: a conversion */
  bool plain;        /* a conversion without flags, width, precision or length */
  trace__fmt_spec spec;
} fmt_op;
typedef struct fmt_site {
  uint16_t nfields;
  uint8_t sep; /* bytes of separator at the start of each field piece */
  bool static_message;
  bool rare_fields; /* bare or order below: the fields are written one by one */
  uint16_t nops; /* compiled message; 0: format it at run time */
  /* Full and Compact lines of events outside spans, when nothing before the fields changes from
   * event to event (no time, no thread): the level column, the location and a static message in
   * one piece. Inside spans, its first head_level bytes are the level column. */
  bool has_head;
  uint8_t head_level;
  fmt_piece head;
  fmt_piece *pieces; /* [0] location, [1..n] field prefixes, [n+1] static message */
  fmt_op *ops;
  char *text;
  /* Rare layouts, as tracing writes them (site.c): fields called "message" that are printed
   * bare, as the message (bit i: field i; text styles, callsites without a format), and the
   * order of a span's fields in JSON (sorted by name; NULL: declaration order). */
  uint64_t bare;
  const uint16_t *order;
} fmt_site;

typedef struct fmt_layer {
  trace_fmt_options o;
  trace_writer *writer;
  bool records; /* the writer wants structured records (syslog, journald), not lines */
  field_style style;
  bool ansi;
  int key; /* per-thread state */
  uint64_t start_ns;
  trace__idtable sites; /* of fmt_site *, by callsite id; read without a lock */
} fmt_layer;

const fmt_site *trace__fmt_site_get(fmt_layer *l, const trace_metadata *m);
/* The location part of a line ("target: file:line: ", or JSON's keys), as the options say. */
void trace__fmt_put_location(trace__buf *b, const fmt_layer *l, const trace_metadata *m);
void trace__fmt_sites_free(fmt_layer *l);
void trace__fmt_put_site_fields(trace__buf *b, const fmt_layer *l, const fmt_site *site,
                         const trace_valueset *vs, bool first);

/* Per-thread state: the reused line buffer and the timestamp caches. */
typedef struct fmt_thread {
  trace__buf line;
  trace__buf scratch; /* span fields being reformatted */
  time_t utc_sec, local_sec;
  char utc_prefix[24];   /* YYYY-MM-DDTHH:MM:SS */
  char local_prefix[24];
  char local_offset[8]; /* +hh:mm or Z */
} fmt_thread;

/* The layer's extension in each span: the span's fields, formatted in the layer's style the first
 * time an event needs them (many spans never see an event) from the values the registry keeps,
 * then read by every event inside the span. A record only marks them stale. A sequence lock lets
 * readers on other threads copy them without writing shared memory; writers are serialised by
 * it. Buffers outgrown are kept until the span closes, because a reader may still be copying
 * from one (it retries when it sees the sequence change). */
#define FMT_EXT_INLINE 80
typedef struct fmt_retired {
  struct fmt_retired *next;
} fmt_retired;
typedef struct fmt_ext {
  uint32_t seq;  /* odd while being written */
  uint32_t lock; /* the writers' spin lock (spin.h: a writer lost to fork() is replaced) */
  uint32_t len;
  uint32_t ready; /* the text matches the span's values */
  char *heap; /* NULL: the text is in inline_text */
  uint32_t heap_cap;
  uint32_t cut; /* the text was cut (out of memory when it was made): lines say so */
  fmt_retired *retired;
  char inline_text[FMT_EXT_INLINE];
} fmt_ext;

/* fields.c */
void trace__fmt_put_value(trace__buf *b, const trace_value *v, field_style style, size_t max);
/* The fields of a set (empty values skipped), separated per style. first: nothing has been
 * written in this list yet (no separator before the first field). Returns whether any was written.
 * reserved is a key that JSON must not repeat ("name" in span objects, "message" in event
 * fields when there is a message), or NULL. */
bool trace__fmt_put_fields(trace__buf *b, const trace_valueset *vs, field_style style, size_t max,
                    bool first, bool ansi, const char *reserved);
/* Whether field i of the set is a "message" field printed bare, as tracing prints the message:
 * in the text styles, when the callsite has no format (the field is the message then). */
bool trace__fmt_is_bare_message(const trace_valueset *vs, uint32_t i, field_style style);
/* tracing writes a span's fields in JSON sorted by name (its JSON layer keeps them in a map
 * ordered by key): order[] gets 0..n-1 sorted by names[], by byte value, stable. */
void trace__fmt_sort_by_name(const char *const *names, uint16_t *order, size_t n);
/* Text truncated to max bytes with the marker, escaped for mode. */
void trace__fmt_put_text(trace__buf *b, const char *s, size_t len, trace__escape_mode mode, size_t max);
/* The event's message, escaped, cut at max with a marker; through the site's compiled format
 * when there is one. */
struct fmt_site;
void trace__fmt_put_message(trace__buf *b, const trace_event *ev, const struct fmt_site *site,
                     trace__escape_mode mode, size_t max);

/* ext.c: the fields of span s (whose extension is e) as text, formatted now (through scratch) if
 * stale. */
uint32_t trace__fmt_ext_len(fmt_layer *l, fmt_ext *e, const trace_span_ref *s, trace__buf *scratch);
void trace__fmt_ext_copy(trace__buf *b, fmt_layer *l, fmt_ext *e, const trace_span_ref *s,
                  trace__buf *scratch);
void trace__fmt_ext_invalidate(fmt_ext *e);
void trace__fmt_ext_release(fmt_ext *e);
/* site.c: a span's fields in the layer's style; arg is a fmt_values_arg. */
typedef struct fmt_values_arg {
  fmt_layer *l;
  trace__buf *b;
} fmt_values_arg;
void trace__fmt_format_values(void *arg, const trace_valueset *vs);

/* time.c */
void trace__fmt_put_time(trace__buf *b, const fmt_layer *l, fmt_thread *t);

/* styles.c: ANSI colours, written only when the layer has them on. */
#define ANSI_RESET "\x1b[0m"
#define ANSI_BOLD "\x1b[1m"
#define ANSI_DIM "\x1b[2m"
#define ANSI_ITALIC "\x1b[3m"
void trace__fmt_put_level(trace__buf *b, int level, bool ansi);
/* The level column of Full and Compact lines, with its colour and the space after it. */
void trace__fmt_put_level_column(trace__buf *b, int level, bool ansi);

/* line.c: one event (or span event) into b, ending with '\n'. span_self: for span events, the
 * span the line is about (included in the scope); message overrides ev's for span events. */
typedef struct fmt_line {
  const trace_metadata *meta; /* the event's (or span's) metadata */
  const trace_event *ev;      /* NULL for span events */
  const char *message;        /* span events: "new", "close"... */
  const trace_span_ref *leaf; /* innermost span of the scope, or NULL */
  const char *extra;          /* span close: "time.busy=... time.idle=..." preformatted, or NULL */
  const char *extra_json;     /* the same for JSON: "\"time.busy\":\"...\",..." */
  const fmt_site *site;       /* events: the callsite's static pieces, or NULL */
} fmt_line;
/* Returns false, with a partial line in b, when memory ran out before the line was complete
 * and b holds less than FMT_STACK_LINE: the caller formats it again on its stack. Otherwise b
 * holds the whole line, or the line cut with the marker "...[line truncated]". */
bool trace__fmt_format_line(trace__buf *b, fmt_layer *l, fmt_thread *t, const trace_ctx *ctx,
                     const fmt_line *line);
/* The same for an event outside spans whose site has a head piece (site.c), and only for those:
 * line->site has_head, line->leaf NULL. */
bool trace__fmt_head_line(trace__buf *b, const fmt_layer *l, const fmt_line *line);
/* A line that was cut (b->truncated), ended with the marker; the return value of
 * trace__fmt_format_line. */
bool trace__fmt_end_cut_line(trace__buf *b);

#endif
