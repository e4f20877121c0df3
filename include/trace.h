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
#include "trace/detail/pp.h"

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
#define TRACE_I_LVL_OFF 1
#define TRACE_I_LVL_ERROR 2
#define TRACE_I_LVL_WARN 3
#define TRACE_I_LVL_INFO 4
#define TRACE_I_LVL_DEBUG 5
#define TRACE_I_LVL_TRACE 6
#define TRACE_I_LVL_off 1
#define TRACE_I_LVL_error 2
#define TRACE_I_LVL_warn 3
#define TRACE_I_LVL_info 4
#define TRACE_I_LVL_debug 5
#define TRACE_I_LVL_trace 6
#define TRACE_I_LVL_0 1
#define TRACE_I_LVL_1 2
#define TRACE_I_LVL_2 3
#define TRACE_I_LVL_3 4
#define TRACE_I_LVL_4 5
#define TRACE_I_LVL_5 6
#define TRACE_I_LVL_TRACE_LEVEL_OFF 1
#define TRACE_I_LVL_TRACE_LEVEL_ERROR 2
#define TRACE_I_LVL_TRACE_LEVEL_WARN 3
#define TRACE_I_LVL_TRACE_LEVEL_INFO 4
#define TRACE_I_LVL_TRACE_LEVEL_DEBUG 5
#define TRACE_I_LVL_TRACE_LEVEL_TRACE 6

#if defined(NDEBUG) && defined(TRACE_RELEASE_MAX_LEVEL)
#define TRACE_I_SML TRACE_I_LCAT(TRACE_I_LVL_, TRACE_RELEASE_MAX_LEVEL)
#elif defined(TRACE_MAX_LEVEL)
#define TRACE_I_SML TRACE_I_LCAT(TRACE_I_LVL_, TRACE_MAX_LEVEL)
#else
#define TRACE_I_SML 6
#endif
#if !defined(TRACE_I_SML) || (TRACE_I_SML) < 1 || (TRACE_I_SML) > 6
#error "TRACE_MAX_LEVEL / TRACE_RELEASE_MAX_LEVEL must be OFF, ERROR, WARN, INFO, DEBUG, TRACE or 0..5"
#endif
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
 * Strings are not copied by the macro: they must live until the macro returns. */

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
static inline trace_value trace_i_v_empty(trace_empty_t e) {
  (void)e;
  return trace_value_empty();
}
static inline trace_value trace_i_v_self(trace_value v) { return v; }
static inline trace_value trace_i_v_str(const char *s) { return trace_value_str(s); }
static inline trace_value trace_i_v_i64(int64_t x) { return trace_value_i64(x); }
static inline trace_value trace_i_v_u64(uint64_t x) { return trace_value_u64(x); }
static inline trace_value trace_i_v_f64(double x) { return trace_value_f64(x); }
static inline trace_value trace_i_v_bool(bool x) { return trace_value_bool(x); }
static inline trace_value trace_i_v_ptr(const void *p) { return trace_value_ptr(p); }

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
 * A none span (disabled, closed, or TRACE_SPAN_NONE) accepts every operation as a no-op. */

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
  trace_span s;
  memset(&s, 0, sizeof s);
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
 * and entered stacks are checked). On a thread-scoped dispatcher (trace_set_default) the extra
 * close also drops the dispatcher reference the handle did not own: keep exactly one close per
 * reference there (trace_span_clone makes another). */
TRACE_API void trace_span_close(trace_span *s);
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
 * copied by the subscriber before this returns. */
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
 * fmt's span events, their close lines are the last output. */
TRACE_API void trace_shutdown(void);

/* Names the calling thread in diagnostics (fmt's thread names) and, truncated to 15 bytes, for
 * the OS. Without it, a thread's name is "main" for the main thread and the OS name otherwise.
 * The name is copied (up to 31 bytes). TRACE_EINVAL for NULL. */
TRACE_API int trace_thread_set_name(const char *name);
/* The calling thread's number in diagnostics: 1 for the main thread, then 2, 3... in the order
 * threads first ask (fmt's ThreadId(NN), an exporter's thread.id). Never 0. */
TRACE_API uint32_t trace_thread_id(void);
/* The calling thread's name as trace_thread_set_name left it, else "main" for the main thread
 * and the OS name otherwise (possibly ""). Valid until the thread exits or renames itself. */
TRACE_API const char *trace_thread_name(void);

/* ---------------------------------------------------------------------------------------- */
/* Macro internals. Exported because the macros call them; not API. */

enum { TRACE_I_PK_CURRENT = 0, TRACE_I_PK_EXPLICIT = 1 };
TRACE_API bool trace__callsite_check(trace_callsite *cs);
TRACE_API void trace__event(trace_callsite *cs, const trace_value *values, int parent_kind,
                            const trace_span *parent, ...);
TRACE_API trace_span trace__span_new(trace_callsite *cs, const trace_value *values,
                                     int parent_kind, const trace_span *parent);
struct trace_context;
TRACE_API trace_span trace__span_new_remote(trace_callsite *cs, const trace_value *values,
                                            const struct trace_context *remote);
TRACE_API void trace__register_callsites(trace_callsite *start, trace_callsite *stop);
TRACE_API void trace__unregister_callsites(trace_callsite *start, trace_callsite *stop);

#ifdef __cplusplus
#define TRACE_I_STATIC_ASSERT(c, msg) static_assert(c, msg)
#else
#define TRACE_I_STATIC_ASSERT(c, msg) _Static_assert(c, msg)
#endif
#define TRACE_I_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TRACE_I_CLEANUP(fn) __attribute__((cleanup(fn)))

/* The disabled path: one relaxed load of the callsite's own cached interest and one predicted
 * branch. The interest folds in the global maximum level (a callsite more verbose than every
 * subscriber wants is NEVER), so this one check covers "no subscriber", "level too verbose" and
 * "target filtered out" alike. A callsite not hit before (interest 0) takes the unlikely branch
 * once, registers, and from then on is cached. */
static inline bool trace_i_not_never(const trace_callsite *cs) {
  return __atomic_load_n(&cs->interest, __ATOMIC_RELAXED) != 1 /* never */;
}
static inline bool trace_i_callsite_enabled(trace_callsite *cs) {
  /* Acquire: the metadata a subscriber reads was completed before the interest was published
   * (free on x86; the disabled path above is the relaxed level load alone). */
  uint8_t interest = __atomic_load_n(&cs->interest, __ATOMIC_ACQUIRE);
  if (interest == 3 /* always */)
    return true;
  if (interest == 1 /* never */)
    return false;
  return trace__callsite_check(cs);
}

static inline int trace_i_printf_check(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int trace_i_printf_check(const char *fmt, ...) {
  (void)fmt;
  return 0;
}

/* The id checks are inline so that a disabled or compiled-out scope leaves no call at all. */
static inline trace_span trace_i_scope_begin(trace_span s) {
  if (s.id) {
    /* Entered through a copy: were s's own address passed on, Clang could no longer fold the
     * checks of a none span (a compiled-out scope) and would leave the calls in. */
    trace_span entered = s;
    trace_span_enter(&entered);
  }
  return s;
}
static inline void trace_i_scope_end(trace_span *s) {
  if (s->id) {
    trace_span_exit(s);
    trace_span_close(s);
  }
}
typedef struct trace_i_in_span_guard {
  const trace_span *span;
  int once;
} trace_i_in_span_guard;
static inline trace_i_in_span_guard trace_i_in_span_begin(const trace_span *s) {
  trace_i_in_span_guard g;
  if (s && s->id)
    trace_span_enter(s);
  g.span = s;
  g.once = 1;
  return g;
}
static inline void trace_i_in_span_end(trace_i_in_span_guard *g) {
  if (g->span && g->span->id)
    trace_span_exit(g->span);
}

/* Callsites live in an ELF section so that the inventory can list those never hit yet. The
 * explicit alignment stops the compiler from padding them apart (the section is walked as an
 * array). Elsewhere they are listed once hit. */
#if defined(__ELF__) && !defined(TRACE_NO_CALLSITE_SECTION)
#define TRACE_I_CALLSITE_ATTRS __attribute__((section("trace_callsites"), used, aligned(8)))
extern trace_callsite __start_trace_callsites[] __attribute__((weak, visibility("hidden")));
extern trace_callsite __stop_trace_callsites[] __attribute__((weak, visibility("hidden")));
__attribute__((constructor, unused)) static void trace_i_register_section(void) {
  trace__register_callsites(__start_trace_callsites, __stop_trace_callsites);
}
/* At dlclose (and exit) the module's callsites leave libtrace's lists before they vanish. */
__attribute__((destructor, unused)) static void trace_i_unregister_section(void) {
  trace__unregister_callsites(__start_trace_callsites, __stop_trace_callsites);
}
#else
#define TRACE_I_CALLSITE_ATTRS
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

/* Value construction: _Generic in C, overloads in C++. */
#ifdef __cplusplus
static inline trace_value trace_i_make_value(bool x) { return trace_value_bool(x); }
static inline trace_value trace_i_make_value(char x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(signed char x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(short x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(int x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(long x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(long long x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(unsigned char x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(unsigned short x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(unsigned x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(unsigned long x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(unsigned long long x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(float x) { return trace_value_f64(x); }
static inline trace_value trace_i_make_value(double x) { return trace_value_f64(x); }
static inline trace_value trace_i_make_value(long double x) { return trace_value_f64((double)x); }
static inline trace_value trace_i_make_value(const char *x) { return trace_value_str(x); }
static inline trace_value trace_i_make_value(const void *x) { return trace_value_ptr(x); }
static inline trace_value trace_i_make_value(decltype(nullptr)) { return trace_value_ptr(0); }
static inline trace_value trace_i_make_value(trace_empty_t) { return trace_value_empty(); }
static inline trace_value trace_i_make_value(trace_value v) { return v; }
#define TRACE_I_VALUE(x) trace_i_make_value(x)
#define TRACE_EMPTY (trace_empty_t{})
#else
/* char is i64 here: log a character as a string with TF_STR(name, &c, 1). */
#define TRACE_I_VALUE(x)                                                                           \
  _Generic((x),                                                                                    \
      _Bool: trace_i_v_bool,                                                                       \
      char: trace_i_v_i64,                                                                         \
      signed char: trace_i_v_i64,                                                                  \
      short: trace_i_v_i64,                                                                        \
      int: trace_i_v_i64,                                                                          \
      long: trace_i_v_i64,                                                                         \
      long long: trace_i_v_i64,                                                                    \
      unsigned char: trace_i_v_u64,                                                                \
      unsigned short: trace_i_v_u64,                                                               \
      unsigned: trace_i_v_u64,                                                                     \
      unsigned long: trace_i_v_u64,                                                                \
      unsigned long long: trace_i_v_u64,                                                           \
      float: trace_i_v_f64,                                                                        \
      double: trace_i_v_f64,                                                                       \
      long double: trace_i_v_f64,                                                                  \
      char *: trace_i_v_str,                                                                       \
      const char *: trace_i_v_str,                                                                 \
      trace_empty_t: trace_i_v_empty,                                                              \
      trace_value: trace_i_v_self,                                                                 \
      default: trace_i_v_ptr)(x)
#define TRACE_EMPTY ((trace_empty_t){0})
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
#define TRACE_TARGET ((const char *)0)
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
 *   TRACE_SCOPE(level, "name", fields...);  creates and enters a span that is exited and closed
 *                                            when the enclosing block ends (any exit path).
 *   TRACE_FN(level, fields...);             the same, named after the function (#[instrument]).
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

#define TRACE_SCOPE(...) TRACE_I_SCOPE_(TRACE_I_UNIQ(trace_i_scope_), __VA_ARGS__)
#define TRACE_I_SCOPE_(var, level, ...)                                                            \
  trace_span var TRACE_I_CLEANUP(trace_i_scope_end) __attribute__((unused)) =                        \
      trace_i_scope_begin(TRACE_SPAN(level, __VA_ARGS__))
#define TRACE_FN(...) TRACE_SCOPE(TRACE_I_FIRST_(__VA_ARGS__, ~), __func__ TRACE_I_REST(__VA_ARGS__))

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

/* ---------------------------------------------------------------------------------------- */
/* Compile-time gating: TRACE_I_EV_<level> / TRACE_I_SP_<level> are the enabled or the
 * removed form of the macro, chosen by the preprocessor so that removed levels leave nothing. */

#define TRACE_I_EV_TRACE_LEVEL_ERROR TRACE_I_EV_1
#define TRACE_I_EV_TRACE_LEVEL_WARN TRACE_I_EV_2
#define TRACE_I_EV_TRACE_LEVEL_INFO TRACE_I_EV_3
#define TRACE_I_EV_TRACE_LEVEL_DEBUG TRACE_I_EV_4
#define TRACE_I_EV_TRACE_LEVEL_TRACE TRACE_I_EV_5
#define TRACE_I_SP_TRACE_LEVEL_ERROR TRACE_I_SP_1
#define TRACE_I_SP_TRACE_LEVEL_WARN TRACE_I_SP_2
#define TRACE_I_SP_TRACE_LEVEL_INFO TRACE_I_SP_3
#define TRACE_I_SP_TRACE_LEVEL_DEBUG TRACE_I_SP_4
#define TRACE_I_SP_TRACE_LEVEL_TRACE TRACE_I_SP_5

#if TRACE_STATIC_MAX_LEVEL >= 1
#define TRACE_I_EV_1 TRACE_I_EVENT
#define TRACE_I_SP_1 TRACE_I_SPAN
#else
#define TRACE_I_EV_1 TRACE_I_EVENT_OFF
#define TRACE_I_SP_1 TRACE_I_SPAN_OFF
#endif
#if TRACE_STATIC_MAX_LEVEL >= 2
#define TRACE_I_EV_2 TRACE_I_EVENT
#define TRACE_I_SP_2 TRACE_I_SPAN
#else
#define TRACE_I_EV_2 TRACE_I_EVENT_OFF
#define TRACE_I_SP_2 TRACE_I_SPAN_OFF
#endif
#if TRACE_STATIC_MAX_LEVEL >= 3
#define TRACE_I_EV_3 TRACE_I_EVENT
#define TRACE_I_SP_3 TRACE_I_SPAN
#else
#define TRACE_I_EV_3 TRACE_I_EVENT_OFF
#define TRACE_I_SP_3 TRACE_I_SPAN_OFF
#endif
#if TRACE_STATIC_MAX_LEVEL >= 4
#define TRACE_I_EV_4 TRACE_I_EVENT
#define TRACE_I_SP_4 TRACE_I_SPAN
#else
#define TRACE_I_EV_4 TRACE_I_EVENT_OFF
#define TRACE_I_SP_4 TRACE_I_SPAN_OFF
#endif
#if TRACE_STATIC_MAX_LEVEL >= 5
#define TRACE_I_EV_5 TRACE_I_EVENT
#define TRACE_I_SP_5 TRACE_I_SPAN
#else
#define TRACE_I_EV_5 TRACE_I_EVENT_OFF
#define TRACE_I_SP_5 TRACE_I_SPAN_OFF
#endif

#define TRACE_I_CALLSITE_INIT(name, target, level, kind, names, count, message)                    \
  {{(name), (target), __FILE__, __func__, (names), (message), __LINE__, (uint16_t)(count),         \
    (uint8_t)(level), (uint8_t)(kind), 0, 0},                                                      \
   0, 0, {0, 0, 0, 0, 0, 0}, 0}

/* Events: split the arguments into fields and message, then pick the form by message kind
 * (N: none, F: format only, A: format and arguments). */
#define TRACE_I_EVENT(tgt, lvl, pk, parent, ...)                                                   \
  TRACE_I_EVENT_X(tgt, lvl, pk, parent, (__VA_ARGS__), TRACE_I_MSGLIST(__VA_ARGS__))
#define TRACE_I_EVENT_X(tgt, lvl, pk, parent, all, ...)                                            \
  TRACE_I_EVENT_Y(TRACE_I_KCAT(TRACE_I_MSGK_, TRACE_I_NARGS(__VA_ARGS__)), tgt, lvl, pk, parent,   \
                  all, __VA_ARGS__)
#define TRACE_I_EVENT_Y(kind, ...) TRACE_I_KCAT2(TRACE_I_EVENT_, kind)(__VA_ARGS__)
#define TRACE_I_EVENT_N(tgt, lvl, pk, parent, all, tilde)                                          \
  TRACE_I_EVENT_BODY(tgt, lvl, pk, parent, all, 0, , (void)0)
#define TRACE_I_EVENT_F(tgt, lvl, pk, parent, all, tilde, fmt)                                     \
  TRACE_I_EVENT_BODY(tgt, lvl, pk, parent, all, fmt, , (void)sizeof(trace_i_printf_check(fmt)))
#define TRACE_I_EVENT_A(tgt, lvl, pk, parent, all, tilde, fmt, ...)                                \
  TRACE_I_EVENT_BODY(tgt, lvl, pk, parent, all, fmt, TRACE_I_COMMA_ARGS(__VA_ARGS__),              \
                     (void)sizeof(trace_i_printf_check(fmt, __VA_ARGS__)))
#define TRACE_I_COMMA_ARGS(...) , __VA_ARGS__

#define TRACE_I_EVENT_BODY(tgt, lvl, pk, parent, all, fmt, args, check)                            \
  do {                                                                                             \
    static const char *const trace_i_names[] = {                                                 \
        TRACE_I_MAP(TRACE_I_M_NAME, TRACE_I_STRIP all)(const char *)0};                            \
    static trace_callsite trace_i_cs TRACE_I_CALLSITE_ATTRS = TRACE_I_CALLSITE_INIT(               \
        "event " __FILE__ ":" TRACE_I_STR(__LINE__), tgt, lvl, TRACE_KIND_EVENT, trace_i_names,    \
        TRACE_I_FIELD_COUNT(TRACE_I_STRIP all), fmt);                                              \
    check;                                                                                         \
    if (TRACE_I_UNLIKELY(trace_i_not_never(&trace_i_cs)) && trace_i_callsite_enabled(&trace_i_cs)) { \
      const trace_value trace_i_vals[] = {                                                         \
          TRACE_I_MAP(TRACE_I_M_VAL, TRACE_I_STRIP all) trace_value_empty()};                      \
      trace__event(&trace_i_cs, trace_i_vals, pk, parent args);                                    \
    }                                                                                              \
  } while (0)

/* A removed event: nothing is emitted, but formats are checked and variables count as used. */
#define TRACE_I_EVENT_OFF(tgt, lvl, pk, parent, ...)                                               \
  TRACE_I_EVENT_OFF_X((__VA_ARGS__), TRACE_I_MSGLIST(__VA_ARGS__))
#define TRACE_I_EVENT_OFF_X(all, ...)                                                              \
  TRACE_I_EVENT_OFF_Y(TRACE_I_KCAT(TRACE_I_MSGK_, TRACE_I_NARGS(__VA_ARGS__)), all, __VA_ARGS__)
#define TRACE_I_EVENT_OFF_Y(kind, ...) TRACE_I_KCAT2(TRACE_I_EVENT_OFF_, kind)(__VA_ARGS__)
#define TRACE_I_EVENT_OFF_N(all, tilde)                                                            \
  do {                                                                                             \
    (void)sizeof(TRACE_I_MAP(TRACE_I_M_USE, TRACE_I_STRIP all) 0);                                 \
  } while (0)
#define TRACE_I_EVENT_OFF_F(all, tilde, fmt)                                                       \
  do {                                                                                             \
    (void)sizeof(TRACE_I_MAP(TRACE_I_M_USE, TRACE_I_STRIP all) 0);                                 \
    (void)sizeof(trace_i_printf_check(fmt));                                                       \
  } while (0)
#define TRACE_I_EVENT_OFF_A(all, tilde, fmt, ...)                                                  \
  do {                                                                                             \
    (void)sizeof(TRACE_I_MAP(TRACE_I_M_USE, TRACE_I_STRIP all) 0);                                 \
    (void)sizeof(trace_i_printf_check(fmt, __VA_ARGS__));                                          \
  } while (0)

/* Spans: the one non-field argument is the name. */
#define TRACE_I_SPAN(tgt, lvl, pk, parent, ...)                                                    \
  TRACE_I_SPAN_X(tgt, lvl, pk, parent, (__VA_ARGS__), TRACE_I_MSGLIST(__VA_ARGS__))
#define TRACE_I_SPAN_X(tgt, lvl, pk, parent, all, ...)                                             \
  TRACE_I_SPAN_Y(TRACE_I_KCAT(TRACE_I_MSGK_, TRACE_I_NARGS(__VA_ARGS__)), tgt, lvl, pk, parent,    \
                 all, __VA_ARGS__)
#define TRACE_I_SPAN_Y(kind, ...) TRACE_I_KCAT2(TRACE_I_SPAN_, kind)(__VA_ARGS__)
#define TRACE_I_SPAN_N(tgt, lvl, pk, parent, all, tilde)                                           \
  __extension__({                                                                                  \
    TRACE_I_STATIC_ASSERT(0, "a span needs a name: TRACE_SPAN(level, \"name\", fields...)");              \
    trace_span_none();                                                                             \
  })
#define TRACE_I_SPAN_A(tgt, lvl, pk, parent, all, tilde, ...)                                      \
  __extension__({                                                                                  \
    TRACE_I_STATIC_ASSERT(0, "a span takes one name and TF() fields, nothing else");                      \
    trace_span_none();                                                                             \
  })
#define TRACE_I_SPAN_F(tgt, lvl, pk, parent, all, tilde, name)                                     \
  __extension__({                                                                                  \
    trace_span trace_i_sp = TRACE_SPAN_NONE_INIT;                                                  \
    static const char *const trace_i_names[] = {                                                 \
        TRACE_I_MAP(TRACE_I_M_NAME, TRACE_I_STRIP all)(const char *)0};                            \
    static trace_callsite trace_i_cs TRACE_I_CALLSITE_ATTRS =                                      \
        TRACE_I_CALLSITE_INIT(name, tgt, lvl, TRACE_KIND_SPAN, trace_i_names,                      \
                              TRACE_I_FIELD_COUNT(TRACE_I_STRIP all), 0);                          \
    if (TRACE_I_UNLIKELY(trace_i_not_never(&trace_i_cs)) && trace_i_callsite_enabled(&trace_i_cs)) { \
      const trace_value trace_i_vals[] = {                                                         \
          TRACE_I_MAP(TRACE_I_M_VAL, TRACE_I_STRIP all) trace_value_empty()};                      \
      trace_i_sp = trace__span_new(&trace_i_cs, trace_i_vals, pk, parent);                         \
    }                                                                                              \
    trace_i_sp;                                                                                    \
  })
#define TRACE_I_SPAN_OFF(tgt, lvl, pk, parent, ...)                                                \
  ((void)sizeof(TRACE_I_MAP(TRACE_I_M_USE, __VA_ARGS__) 0), (void)sizeof(parent), trace_span_none())

/* ---------------------------------------------------------------------------------------- */
/* TRACE_SPAN_FROM: the span forms of above with a remote parent. TRACE_I_SPR_<level> is the
 * enabled or the removed form; the removed one is TRACE_I_SPAN_OFF, which leaves nothing. */

#define TRACE_I_SPR_TRACE_LEVEL_ERROR TRACE_I_SPR_1
#define TRACE_I_SPR_TRACE_LEVEL_WARN TRACE_I_SPR_2
#define TRACE_I_SPR_TRACE_LEVEL_INFO TRACE_I_SPR_3
#define TRACE_I_SPR_TRACE_LEVEL_DEBUG TRACE_I_SPR_4
#define TRACE_I_SPR_TRACE_LEVEL_TRACE TRACE_I_SPR_5
#if TRACE_STATIC_MAX_LEVEL >= 1
#define TRACE_I_SPR_1 TRACE_I_SPAN_REMOTE
#else
#define TRACE_I_SPR_1 TRACE_I_SPAN_OFF
#endif
#if TRACE_STATIC_MAX_LEVEL >= 2
#define TRACE_I_SPR_2 TRACE_I_SPAN_REMOTE
#else
#define TRACE_I_SPR_2 TRACE_I_SPAN_OFF
#endif
#if TRACE_STATIC_MAX_LEVEL >= 3
#define TRACE_I_SPR_3 TRACE_I_SPAN_REMOTE
#else
#define TRACE_I_SPR_3 TRACE_I_SPAN_OFF
#endif
#if TRACE_STATIC_MAX_LEVEL >= 4
#define TRACE_I_SPR_4 TRACE_I_SPAN_REMOTE
#else
#define TRACE_I_SPR_4 TRACE_I_SPAN_OFF
#endif
#if TRACE_STATIC_MAX_LEVEL >= 5
#define TRACE_I_SPR_5 TRACE_I_SPAN_REMOTE
#else
#define TRACE_I_SPR_5 TRACE_I_SPAN_OFF
#endif

#define TRACE_I_SPAN_REMOTE(tgt, lvl, pk, remote, ...)                                             \
  TRACE_I_SPAN_REMOTE_X(tgt, lvl, remote, (__VA_ARGS__), TRACE_I_MSGLIST(__VA_ARGS__))
#define TRACE_I_SPAN_REMOTE_X(tgt, lvl, remote, all, ...)                                          \
  TRACE_I_SPAN_REMOTE_Y(TRACE_I_KCAT(TRACE_I_MSGK_, TRACE_I_NARGS(__VA_ARGS__)), tgt, lvl, remote, \
                        all, __VA_ARGS__)
#define TRACE_I_SPAN_REMOTE_Y(kind, ...) TRACE_I_KCAT2(TRACE_I_SPAN_REMOTE_, kind)(__VA_ARGS__)
#define TRACE_I_SPAN_REMOTE_N(tgt, lvl, remote, all, tilde) TRACE_I_SPAN_N(tgt, lvl, 0, remote, all, tilde)
#define TRACE_I_SPAN_REMOTE_A(tgt, lvl, remote, all, tilde, ...)                                   \
  TRACE_I_SPAN_A(tgt, lvl, 0, remote, all, tilde, __VA_ARGS__)
#define TRACE_I_SPAN_REMOTE_F(tgt, lvl, remote, all, tilde, name)                                  \
  __extension__({                                                                                  \
    trace_span trace_i_sp = TRACE_SPAN_NONE_INIT;                                                  \
    static const char *const trace_i_names[] = {                                                   \
        TRACE_I_MAP(TRACE_I_M_NAME, TRACE_I_STRIP all)(const char *)0};                            \
    static trace_callsite trace_i_cs TRACE_I_CALLSITE_ATTRS =                                      \
        TRACE_I_CALLSITE_INIT(name, tgt, lvl, TRACE_KIND_SPAN, trace_i_names,                      \
                              TRACE_I_FIELD_COUNT(TRACE_I_STRIP all), 0);                          \
    if (TRACE_I_UNLIKELY(trace_i_not_never(&trace_i_cs)) && trace_i_callsite_enabled(&trace_i_cs)) { \
      const trace_value trace_i_vals[] = {                                                         \
          TRACE_I_MAP(TRACE_I_M_VAL, TRACE_I_STRIP all) trace_value_empty()};                      \
      trace_i_sp = trace__span_new_remote(&trace_i_cs, trace_i_vals, (remote));                  \
    }                                                                                              \
    trace_i_sp;                                                                                    \
  })

#endif /* TRACE_H */
