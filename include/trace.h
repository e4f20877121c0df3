/* libtrace: scoped, structured, async-aware diagnostics for C.
 *
 * This header is everything instrumented code uses: events, spans, fields, levels. It costs
 * nothing to include in a library: until an application installs a subscriber (see
 * <trace/subscriber.h>, or trace_init() in <trace/fmt.h>), every macro is one relaxed load and
 * a predicted branch, and its arguments are not evaluated.
 *
 *   #define TRACE_TARGET "net.http"      // optional, before the include (see below)
 *   #include <trace.h>
 *
 *   TRACE_INFO("accepted connection");
 *   TRACE_DEBUG(TF(excitement, "yay!"), "hello! I'm gonna shave a yak.");
 *   TRACE_WARN(TF(req.path, path), TF(rsp.status, 404), "not found");
 *
 *   trace_span s = TRACE_INFO_SPAN("request", TF(method, "GET"), TF(status, TRACE_EMPTY));
 *   trace_span_enter(&s);
 *   ...
 *   TRACE_RECORD(&s, status, 200);
 *   trace_span_exit(&s);
 *   trace_span_close(&s);
 *
 * Targets. Every callsite has a target, the module path filters match on. Define TRACE_TARGET
 * to a string literal before including this header to set it for a file; otherwise the target
 * is the source file's base name without its extension ("http" for src/net/http.c). Dots,
 * "::" and "/" all separate target segments for filtering.
 *
 * Thread safety: every function and macro here may be called from any thread, before a
 * subscriber is installed and after trace_shutdown(); they never change errno.
 *
 * fork(): the child may go on tracing, with the same subscriber, even if other threads were
 * inside libtrace at the moment of the fork (its locks are taken over in the child); a span
 * being updated by such a thread keeps the values it had or gets the new ones. */
#ifndef TRACE_H
#define TRACE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "trace/version.h"

#ifndef TRACE_API
#define TRACE_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Errors: negative ints. A function that fails has no side effect unless its comment says so. */

#define TRACE_ERRNO_MAP(X)                                                                         \
  X(EINVAL, -1, "invalid argument")                                                                \
  X(EEXIST, -2, "a global default subscriber is already set")                                      \
  X(ENOMEM, -3, "out of memory")                                                                   \
  X(ENOFIELD, -4, "the span has no field with this name")                                          \
  X(ECLOSED, -5, "the span is none or closed")                                                     \
  X(EPARSE, -6, "the text could not be parsed")                                                    \
  X(EIO, -7, "an input/output operation failed")                                                   \
  X(EBUSY, -8, "not allowed from inside a subscriber callback")                                    \
  X(ERANGE, -9, "a value is out of range")                                                         \
  X(ENOTSUP, -10, "not supported on this platform or by this subscriber")

enum {
  TRACE_OK = 0,
#define TRACE_I_ERR_ENUM(name, value, text) TRACE_##name = (value),
  TRACE_ERRNO_MAP(TRACE_I_ERR_ENUM)
#undef TRACE_I_ERR_ENUM
};

/* A static, human-readable description of an error code ("unknown error" for unknown codes). */
TRACE_API const char *trace_strerror(int err);

/* The version of the loaded library: TRACE_VERSION_HEX and TRACE_VERSION_STRING as it was built. */
TRACE_API unsigned trace_version(void);
TRACE_API const char *trace_version_string(void);

/* ---------------------------------------------------------------------------------------- */
/* Levels. Lower is more severe; a filter at level L lets through every level <= L. */

typedef enum trace_level {
  TRACE_LEVEL_OFF = 0,
  TRACE_LEVEL_ERROR = 1,
  TRACE_LEVEL_WARN = 2,
  TRACE_LEVEL_INFO = 3,
  TRACE_LEVEL_DEBUG = 4,
  TRACE_LEVEL_TRACE = 5
} trace_level;

/* "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "OFF"; "?" for a value out of range. */
TRACE_API const char *trace_level_name(int level);

/* Compile-time level limit. -DTRACE_MAX_LEVEL=OFF|ERROR|WARN|INFO|DEBUG|TRACE (or 0..5, or
 * TRACE_LEVEL_*) removes every more verbose callsite from the object file: no call, no string.
 * -DTRACE_RELEASE_MAX_LEVEL=... does the same only when NDEBUG is defined, and then wins.
 * Format strings of removed callsites are still type-checked. Use the numeric form if your
 * build defines macros named like a level (DEBUG=1 is common): such a macro would be expanded
 * before libtrace can read the name. */
#include "trace/detail/levels.h"
/* The compile-time maximum level, usable in #if. */
#define TRACE_STATIC_MAX_LEVEL (TRACE_I_SML - 1)

/* ---------------------------------------------------------------------------------------- */
/* Field values. TF(name, value) picks the type from the C type of value:
 *   signed integers and char -> i64, unsigned integers -> u64, float/double -> f64, bool -> bool,
 *   char * / const char * -> string (NULL shows as null), TRACE_EMPTY -> declared, no value yet,
 *   a trace_value -> itself, any other pointer -> pointer.
 * The name is the literal text of the first argument, dots allowed: TF(req.path, p).
 * In C11 the literals true and false are ints (1 and 0): TF(ok, false) is an i64 0; pass a bool
 * variable or write TF(ok, (bool)false) for a bool.
 * In C++ also: std::string, std::string_view and any class with char data() and size() ->
 * string; enum class -> its underlying integer (docs/cxx.md).
 * Strings are not copied by the macro: they must live until the macro returns (in C++,
 * temporaries in a field do: they live until the event or span is made). */

typedef enum trace_value_type {
  TRACE_VALUE_EMPTY = 0, /* declared, not recorded (yet) */
  TRACE_VALUE_I64,
  TRACE_VALUE_U64,
  TRACE_VALUE_F64,
  TRACE_VALUE_BOOL,
  TRACE_VALUE_STR,     /* shown quoted and escaped: name="value" */
  TRACE_VALUE_DISPLAY, /* a string shown bare: name=value (tracing's % sigil) */
  TRACE_VALUE_PTR,     /* shown as 0x... */
  TRACE_VALUE_FMT      /* formatted on demand by a callback, shown bare (tracing's ? sigil) */
} trace_value_type;

/* Formats arg into buf (at most cap bytes including the terminating NUL, snprintf-style) and
 * returns the full length the text needs. Called from any thread, possibly more than once per
 * event, and only while the event or record that carries it is being dispatched.
 * A callback that breaks the contract is contained: the text ends at the first NUL or at the
 * returned length, whichever comes first (claiming more than was written exposes nothing stale);
 * at most 1 MiB is ever asked for (longer text is cut, with the fmt layer's marker); returning
 * (size_t)-1, as a failed snprintf passed through does, shows "<format error>". */
typedef size_t (*trace_fmt_fn)(char *buf, size_t cap, const void *arg);

typedef struct trace_value {
  uint32_t type; /* trace_value_type */
  union {
    int64_t i64;
    uint64_t u64;
    double f64;
    bool b;
    const void *ptr;
    struct {
      const char *ptr; /* NULL: a null string */
      size_t len;
    } str;             /* STR and DISPLAY: bytes, not necessarily NUL-terminated */
    struct {
      trace_fmt_fn fn;
      const void *arg;
    } fmt;
  } as;
} trace_value;

static inline trace_value trace_value_i64(int64_t x) {
  trace_value v;
  v.type = TRACE_VALUE_I64;
  v.as.i64 = x;
  return v;
}
static inline trace_value trace_value_u64(uint64_t x) {
  trace_value v;
  v.type = TRACE_VALUE_U64;
  v.as.u64 = x;
  return v;
}
static inline trace_value trace_value_f64(double x) {
  trace_value v;
  v.type = TRACE_VALUE_F64;
  v.as.f64 = x;
  return v;
}
static inline trace_value trace_value_bool(bool x) {
  trace_value v;
  v.type = TRACE_VALUE_BOOL;
  v.as.b = x;
  return v;
}
/* A string of len bytes (may contain NUL bytes, need not be terminated). */
static inline trace_value trace_value_strn(const char *s, size_t len) {
  trace_value v;
  v.type = TRACE_VALUE_STR;
  v.as.str.ptr = s;
  v.as.str.len = s ? len : 0;
  return v;
}
/* A NUL-terminated string, or NULL. */
static inline trace_value trace_value_str(const char *s) {
  return trace_value_strn(s, s ? strlen(s) : 0);
}
/* A string shown without quotes, like Rust's Display (the % sigil). */
static inline trace_value trace_value_display(const char *s) {
  trace_value v = trace_value_str(s);
  v.type = TRACE_VALUE_DISPLAY;
  return v;
}
static inline trace_value trace_value_ptr(const void *p) {
  trace_value v;
  v.type = TRACE_VALUE_PTR;
  v.as.ptr = p;
  return v;
}
static inline trace_value trace_value_fmt(trace_fmt_fn fn, const void *arg) {
  trace_value v;
  v.type = TRACE_VALUE_FMT;
  v.as.fmt.fn = fn;
  v.as.fmt.arg = arg;
  return v;
}
static inline trace_value trace_value_empty(void) {
  trace_value v;
  memset(&v, 0, sizeof v);
  return v;
}

/* The type of TRACE_EMPTY: "this field is declared; its value is recorded later". */
typedef struct trace_empty_t {
  char unused_;
} trace_empty_t;
#ifdef __cplusplus
#define TRACE_EMPTY (trace_empty_t{})
#else
#define TRACE_EMPTY ((trace_empty_t){0})
#endif

/* ---------------------------------------------------------------------------------------- */
/* Callsite metadata. One static trace_callsite per macro use, created by the macros; never
 * build one by hand. Subscribers see &callsite->meta. The metadata is written exactly once,
 * while the callsite registers (the target derived from __FILE__ and the dense id are filled
 * in then), before any subscriber can see it; that is why it is not const like the style guide
 * would have it. */

typedef enum trace_kind { TRACE_KIND_EVENT = 1, TRACE_KIND_SPAN = 2 } trace_kind;

typedef struct trace_metadata {
  const char *name;     /* span name, or "event <file>:<line>" for events */
  const char *target;   /* see "Targets" above */
  const char *file;     /* __FILE__ */
  const char *function; /* __func__ */
  const char *const *field_names; /* field_count names, then NULL */
  const char *message;  /* the event's printf format, NULL if it has none (and for spans) */
  uint32_t line;
  uint16_t field_count;
  uint8_t level;        /* trace_level */
  uint8_t kind;         /* trace_kind */
  uint32_t callsite_id; /* dense, process-wide, from 1; 0 until registered */
  uint32_t flags;       /* reserved, 0 */
} trace_metadata;

typedef struct trace_callsite {
  trace_metadata meta;
  uint8_t interest; /* 0 unknown, then trace_interest; read with a relaxed atomic load */
  uint8_t state;    /* registration state, internal */
  uint8_t reserved_[6];
  struct trace_callsite *next; /* list of registered callsites, internal */
} trace_callsite;

/* ---------------------------------------------------------------------------------------- */
/* Spans. A trace_span is a small value holding one reference to a span: copy it freely, but
 * close each reference exactly once (trace_span_close sets the handle to none, so closing the
 * same variable twice is harmless). trace_span_clone makes a second reference. A span lives
 * until its last reference is closed and its children are closed. Handles work on any thread.
 * A none span (disabled, closed, or TRACE_SPAN_NONE) accepts every operation as a no-op.
 * A span made by a callsite of a shared object must be closed before that object is dlclose'd
 * (its metadata lives there): the registry then says so on stderr and shows the span as
 * "(unloaded module)", exit and close stay safe, but trace_span_record on a handle to it reads
 * the unloaded module (docs/concepts.md, Guarantees). A span never closed is reported by
 * trace_shutdown. */

struct trace_dispatch;
typedef struct trace_span {
  uint64_t id;                     /* 0: none */
  struct trace_dispatch *dispatch; /* the subscriber that owns the id */
  const trace_metadata *meta;
} trace_span;

#define TRACE_SPAN_NONE_INIT {0, 0, 0}
/* Pass as the parent to TRACE_SPAN_IN / TRACE_EVENT_IN for "no parent" (a root). */
#define TRACE_ROOT ((const trace_span *)0)

static inline trace_span trace_span_none(void) {
  trace_span s = TRACE_SPAN_NONE_INIT; /* not memset: Clang then folds the checks of a none span */
  return s;
}
static inline bool trace_span_is_none(const trace_span *s) { return s == 0 || s->id == 0; }

/* Enters the span on this thread: events and spans created until the matching exit have it as
 * their parent. Re-entering an entered span is allowed (it is exited once per enter). */
TRACE_API void trace_span_enter(const trace_span *s);
/* Exits the most recent entry of the span on this thread; a no-op if it is not entered. */
TRACE_API void trace_span_exit(const trace_span *s);
/* Drops this reference and sets *s to none. The span closes when its last reference does.
 * Closing a copy of a handle whose original was closed already is a bug with bounded effects:
 * once the span is gone the extra close is ignored; while it still lives (entered, or kept by a
 * child) it closes early, and with the registry no other span is affected (ids, parent links
 * and entered stacks are checked). An early close while another thread still uses the span
 * through its own reference (recording into it) races that use, as a use after free does. On a
 * thread-scoped dispatcher (trace_set_default) the extra close also drops the dispatcher
 * reference the handle did not own: keep exactly one close per reference there
 * (trace_span_clone makes another). */
TRACE_API void trace_span_close(trace_span *s);
/* Exits s on this thread, then closes it, as trace_span_exit and trace_span_close would, in one
 * call: the end of a TRACE_SCOPE, and the pair of TRACE_SPAN_ENTERED. A none span is a no-op
 * (*s is set to none either way). */
TRACE_API void trace_span_end(trace_span *s);
/* A new reference to the same span (none for none); close it separately. */
TRACE_API trace_span trace_span_clone(const trace_span *s);
/* The span this thread is in (innermost entered span), as a new reference the caller closes;
 * none if there is none. */
TRACE_API trace_span trace_span_current(void);
/* Records that s follows from cause (a causal link without parenthood). TRACE_ECLOSED if either
 * is none, TRACE_EINVAL if they belong to different subscribers. */
TRACE_API int trace_span_follows_from(const trace_span *s, const trace_span *cause);
/* Sets the field named field (declared when the span was created, e.g. with TRACE_EMPTY) to v.
 * Returns 0; TRACE_ECLOSED for a none span; TRACE_ENOFIELD if the span has no such field: then
 * nothing is recorded, and a WARN event with target "trace" reports the span, the field and the
 * value, once per span callsite and field name, so the mistake is not silent. String values are
 * copied by the subscriber before this returns. The span must keep a reference until this
 * returns: recording through a copy of a handle while another thread closes the span's last
 * reference is a data race in the caller, as using freed memory is (once the close is done,
 * the copy's record is ignored). */
TRACE_API int trace_span_record(const trace_span *s, const char *field, trace_value v);
/* The span's name, or NULL for none. */
static inline const char *trace_span_name(const trace_span *s) {
  return trace_span_is_none(s) ? 0 : s->meta->name;
}

/* ---------------------------------------------------------------------------------------- */
/* Whole-program operations, for applications (see also <trace/subscriber.h>, <trace/fmt.h>). */

/* Flushes the global default subscriber's outputs. Safe at any time. */
TRACE_API void trace_flush(void);
/* Flushes and removes the global default subscriber, then destroys it once no thread is still
 * inside it. Afterwards every macro is a no-op again and a new global default may be set.
 * Spans created before stay valid handles: operations on them are no-ops. The registry closes
 * the spans still open then (children first), so its layers free what they kept for them; with
 * fmt's span events, their close lines are the last output. Before that it writes one line on
 * stderr if some spans were never closed: how many, and the three callsites with the most
 * (spans this thread is in, such as a TRACE_SCOPE around the call, are not counted). */
TRACE_API void trace_shutdown(void);

/* Names the calling thread in diagnostics (fmt's thread names) and, truncated to 15 bytes, for
 * the OS. Without it, a thread's name is "main" for the main thread and the OS name otherwise.
 * The name is copied (up to 31 bytes). TRACE_EINVAL for NULL. */
TRACE_API int trace_thread_set_name(const char *name);
/* A small number that identifies the calling thread in diagnostics: 1 for the main thread, then
 * 2, 3, ... in the order threads first ask (fmt's ThreadId(NN)). Never 0. */
TRACE_API uint32_t trace_thread_id(void);
/* The calling thread's diagnostic name (see trace_thread_set_name), NUL-terminated; the pointer
 * is the thread's own and stays valid until the thread exits or renames itself. */
TRACE_API const char *trace_thread_name(void);

/* ---- signal handlers (docs/concepts.md, "Signals (async-signal safety)") --------------------
 * Makes the calling thread's state ahead of time: its registration with libtrace and the
 * per-thread state of every registry, fmt layer and env filter that exists now (the fmt line
 * buffer with its first 4 KiB). Call it on each thread whose signal handlers log, after the
 * subscriber is installed. Then an event (TRACE_INFO and the like) from a signal handler on
 * that thread takes no lock and makes no allocation, provided that
 *   - its callsite was reached once before outside the handler (the first hit registers it
 *     under a lock, and fmt compiles its format),
 *   - its line fits in 4 KiB (a longer line grows the buffer: an allocation),
 *   - the writer is a descriptor (stderr, trace_writer_fd; not a FILE stream: stdio locks), and
 *     no filter with a regular expression on field values is installed (PCRE2 match data).
 * If the handler interrupted libtrace itself on the same thread (an event being formatted, the
 * thread registering), its event is refused instead: dropped, counted by trace_dropped_events,
 * never a wait. On a thread that was not prepared, the first event allocates: if the handler
 * interrupted malloc there, that allocation can deadlock inside the C library, which libtrace
 * cannot detect. Span operations (enter, exit, record, close) are not async-signal-safe.
 * Returns 0, TRACE_ENOMEM (what was made is kept; prepare again later), or TRACE_EINVAL on a
 * thread that is exiting. Calling it again is cheap and makes what is new since. */
TRACE_API int trace_thread_prepare(void);
/* Events and new spans dropped because their thread was already inside libtrace: a signal
 * handler that interrupted libtrace on its thread, or a subscriber callback that logs (which
 * sees the no-op dispatcher, as in tracing). Since the process started; never reset. */
TRACE_API uint64_t trace_dropped_events(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* ---------------------------------------------------------------------------------------- */
/* Fields. */

/* A field: TF(name, value). The name is taken literally (never macro-expanded). */
#define TRACE_FIELD(name, value) TRACE_I_TF(#name, TRACE_I_VALUE(value))
/* A string of len bytes. */
#define TRACE_FIELD_STR(name, ptr, len) TRACE_I_TF(#name, trace_value_strn((ptr), (len)))
/* A string shown without quotes (Rust's % sigil): TF_DISPLAY(req.method, "GET") -> req.method=GET */
#define TRACE_FIELD_DISPLAY(name, str) TRACE_I_TF(#name, trace_value_display(str))
/* A value formatted by fn(buf, cap, arg) when a subscriber wants its text (Rust's ? sigil). */
#define TRACE_FIELD_FMT(name, fn, arg) TRACE_I_TF(#name, trace_value_fmt((fn), (arg)))

#ifndef TRACE_NO_SHORT_NAMES
#define TF(name, value) TRACE_FIELD(name, value)
#define TF_STR(name, ptr, len) TRACE_FIELD_STR(name, ptr, len)
#define TF_DISPLAY(name, str) TRACE_FIELD_DISPLAY(name, str)
#define TF_FMT(name, fn, arg) TRACE_FIELD_FMT(name, fn, arg)
#endif

#ifndef TRACE_TARGET
#ifdef __cplusplus
#define TRACE_TARGET nullptr /* C++ checks that targets are literals: the default is exempt */
#else
#define TRACE_TARGET ((const char *)0)
#endif
#endif

/* ---------------------------------------------------------------------------------------- */
/* Events.
 *
 *   TRACE_EVENT(level, [fields...,] [format, args...])
 *   TRACE_EVENT_AT(target, level, ...)   the target is a string literal
 *   TRACE_EVENT_IN(parent, level, ...)   explicit parent (const trace_span *, or TRACE_ROOT)
 *   TRACE_ERROR/WARN/INFO/DEBUG/TRACE(...)
 *
 * Fields come first, then an optional printf format (a string literal, checked like printf's)
 * and its arguments; at least one of the two. At most 64 macro arguments after the level.
 * level is a TRACE_LEVEL_* constant or 1..5. Nothing is evaluated unless the callsite is
 * enabled; the message is formatted only if a subscriber asks for it. */

#define TRACE_EVENT(level, ...)                                                                    \
  TRACE_I_LCAT(TRACE_I_EV_, level)(TRACE_TARGET, level, TRACE_I_PK_CURRENT, 0, __VA_ARGS__)
#define TRACE_EVENT_AT(target, level, ...)                                                         \
  TRACE_I_LCAT(TRACE_I_EV_, level)(target, level, TRACE_I_PK_CURRENT, 0, __VA_ARGS__)
#define TRACE_EVENT_IN(parent, level, ...)                                                         \
  TRACE_I_LCAT(TRACE_I_EV_, level)(TRACE_TARGET, level, TRACE_I_PK_EXPLICIT, parent, __VA_ARGS__)
#define TRACE_ERROR(...) TRACE_EVENT(TRACE_LEVEL_ERROR, __VA_ARGS__)
#define TRACE_WARN(...) TRACE_EVENT(TRACE_LEVEL_WARN, __VA_ARGS__)
#define TRACE_INFO(...) TRACE_EVENT(TRACE_LEVEL_INFO, __VA_ARGS__)
#define TRACE_DEBUG(...) TRACE_EVENT(TRACE_LEVEL_DEBUG, __VA_ARGS__)
#define TRACE_TRACE(...) TRACE_EVENT(TRACE_LEVEL_TRACE, __VA_ARGS__)

/* ---------------------------------------------------------------------------------------- */
/* Spans.
 *
 *   trace_span s = TRACE_SPAN(level, "name", [fields...]);
 *   TRACE_SPAN_AT(target, level, "name", ...), TRACE_SPAN_IN(parent_or_TRACE_ROOT, level, ...)
 *   TRACE_ERROR_SPAN("name", ...) ... TRACE_TRACE_SPAN(...)
 *   TRACE_SPAN_FROM(remote, level, "name", ...)   continues a trace of another process:
 *       remote is a const trace_context * (<trace/context.h>, e.g. from a traceparent header),
 *       the span's parent in that trace (exporters take its trace id and parent). A context
 *       with a zero id (TRACE_NEW_TRACE, or what a failed parse left) starts a new trace
 *       instead; NULL makes an ordinary span of the current trace. Locally the span is always
 *       where TRACE_SPAN would put it (under the current span: fmt's scope and the filters see
 *       it there). TRACE_INFO_SPAN_FROM(remote, "name", ...) etc. remote is not evaluated when
 *       the span is disabled.
 *
 * The parent is the span this thread is in, unless given. Returns none when disabled. The name
 * is a string literal (or __func__). Declare fields to record later with TF(name, TRACE_EMPTY).
 *
 *   TRACE_SPAN_ENTERED(level, "name", fields...);  TRACE_SPAN, and the span entered on this
 *                                            thread, in one call; trace_span_end(&s) exits and
 *                                            closes it in one call.
 *   TRACE_SCOPE(level, "name", fields...);  creates and enters a span that is exited and closed
 *                                            when the enclosing block ends (any exit path): a
 *                                            call at each end (TRACE_SPAN_ENTERED, trace_span_end).
 *   TRACE_FN(level, fields...);             the same, named after the function (#[instrument]).
 *   TRACE_SCOPE_NAMED(var, level, "name", fields...);
 *   TRACE_FN_NAMED(var, level, fields...);  the same, with the span in a variable var of the
 *                                            block, for TRACE_RECORD(&var, ...): when the span is
 *                                            disabled var is none and the record does nothing
 *                                            (trace_span_current() would find the caller's span).
 *   TRACE_IN_SPAN(&s) { ... }               runs the block inside s; break, continue, return
 *                                            and goto out of the block all exit the span.
 *   TRACE_RECORD(&s, name, value)            trace_span_record with TF's typing; value is not
 *                                            evaluated for a none span. Returns an error code. */

#define TRACE_SPAN(level, ...)                                                                     \
  TRACE_I_LCAT(TRACE_I_SP_, level)(TRACE_TARGET, level, TRACE_I_PK_CURRENT, 0, __VA_ARGS__)
#define TRACE_SPAN_AT(target, level, ...)                                                          \
  TRACE_I_LCAT(TRACE_I_SP_, level)(target, level, TRACE_I_PK_CURRENT, 0, __VA_ARGS__)
#define TRACE_SPAN_IN(parent, level, ...)                                                          \
  TRACE_I_LCAT(TRACE_I_SP_, level)(TRACE_TARGET, level, TRACE_I_PK_EXPLICIT, parent, __VA_ARGS__)
#define TRACE_SPAN_FROM(remote, level, ...)                                                        \
  TRACE_I_LCAT(TRACE_I_SPR_, level)(TRACE_TARGET, level, 0, remote, __VA_ARGS__)
#define TRACE_ERROR_SPAN_FROM(remote, ...) TRACE_SPAN_FROM(remote, TRACE_LEVEL_ERROR, __VA_ARGS__)
#define TRACE_WARN_SPAN_FROM(remote, ...) TRACE_SPAN_FROM(remote, TRACE_LEVEL_WARN, __VA_ARGS__)
#define TRACE_INFO_SPAN_FROM(remote, ...) TRACE_SPAN_FROM(remote, TRACE_LEVEL_INFO, __VA_ARGS__)
#define TRACE_DEBUG_SPAN_FROM(remote, ...) TRACE_SPAN_FROM(remote, TRACE_LEVEL_DEBUG, __VA_ARGS__)
#define TRACE_TRACE_SPAN_FROM(remote, ...) TRACE_SPAN_FROM(remote, TRACE_LEVEL_TRACE, __VA_ARGS__)
#define TRACE_ERROR_SPAN(...) TRACE_SPAN(TRACE_LEVEL_ERROR, __VA_ARGS__)
#define TRACE_WARN_SPAN(...) TRACE_SPAN(TRACE_LEVEL_WARN, __VA_ARGS__)
#define TRACE_INFO_SPAN(...) TRACE_SPAN(TRACE_LEVEL_INFO, __VA_ARGS__)
#define TRACE_DEBUG_SPAN(...) TRACE_SPAN(TRACE_LEVEL_DEBUG, __VA_ARGS__)
#define TRACE_TRACE_SPAN(...) TRACE_SPAN(TRACE_LEVEL_TRACE, __VA_ARGS__)

#define TRACE_SPAN_ENTERED(level, ...)                                                             \
  TRACE_I_LCAT(TRACE_I_SP_, level)(TRACE_TARGET, level, TRACE_I_PK_CURRENT | TRACE_I_PK_ENTER, 0,  \
                                   __VA_ARGS__)
#define TRACE_SCOPE(...) TRACE_I_SCOPE_(TRACE_I_UNIQ(trace_i_scope_), __VA_ARGS__)
#define TRACE_I_SCOPE_(var, level, ...)                                                            \
  trace_span var TRACE_I_CLEANUP(trace_i_scope_end) __attribute__((unused)) =                        \
      TRACE_SPAN_ENTERED(level, __VA_ARGS__)
#define TRACE_FN(...) TRACE_SCOPE(TRACE_I_FIRST_(__VA_ARGS__, ~), __func__ TRACE_I_REST(__VA_ARGS__))
#define TRACE_SCOPE_NAMED(var, ...) TRACE_I_SCOPE_(var, __VA_ARGS__)
#define TRACE_FN_NAMED(var, ...)                                                                   \
  TRACE_I_SCOPE_(var, TRACE_I_FIRST_(__VA_ARGS__, ~), __func__ TRACE_I_REST(__VA_ARGS__))

#define TRACE_IN_SPAN(span) TRACE_I_IN_SPAN_(TRACE_I_UNIQ(trace_i_in_), span)
#define TRACE_I_IN_SPAN_(g, span)                                                                  \
  for (trace_i_in_span_guard g TRACE_I_CLEANUP(trace_i_in_span_end) = trace_i_in_span_begin(span); \
       g.once; g.once = 0)

#define TRACE_RECORD(span, name, value)                                                            \
  __extension__({                                                                                  \
    const trace_span *trace_i_rs = (span);                                                         \
    trace_span_is_none(trace_i_rs) ? (int)TRACE_ECLOSED                                            \
                                   : trace_span_record(trace_i_rs, #name, TRACE_I_VALUE(value));   \
  })

#include "trace/detail/macros.h"

#endif /* TRACE_H */
