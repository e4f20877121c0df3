/* The plumbing of the instrumentation macros of trace.h: the functions they call, the inline
 * checks of the disabled path, value construction, compile-time gating and the expansion of
 * TRACE_EVENT / TRACE_SPAN. Included by trace.h at its end; never include it directly. Nothing
 * here is API: names start with TRACE_I_ / trace_i_ / trace__ and may change in any release. */
#ifndef TRACE_DETAIL_MACROS_H
#define TRACE_DETAIL_MACROS_H

#include "pp.h"

#ifdef __cplusplus
extern "C" {
#endif

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
/* Macro internals. Exported because the macros call them; not API. */

/* The parent kind of a new span or event; for a span, TRACE_I_PK_ENTER added enters it too. */
enum { TRACE_I_PK_CURRENT = 0, TRACE_I_PK_EXPLICIT = 1, TRACE_I_PK_ENTER = 4 };
/* The values of trace_interest (trace/subscriber.h), which the inline checks below compare the
 * callsite's cached interest with; 0 is "not decided yet". */
#define TRACE_I_INTEREST_NEVER 1
#define TRACE_I_INTEREST_SOMETIMES 2
#define TRACE_I_INTEREST_ALWAYS 3
TRACE_API bool trace__callsite_check(trace_callsite *cs);
TRACE_API void trace__event(trace_callsite *cs, const trace_value *values, int parent_kind,
                            const trace_span *parent, ...);
TRACE_API trace_span trace__span_new(trace_callsite *cs, const trace_value *values,
                                     int parent_kind, const trace_span *parent);
struct trace_context;
/* TRACE_SPAN_FROM's: a span under the current one whose parent in the trace is remote. */
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
  return __atomic_load_n(&cs->interest, __ATOMIC_RELAXED) != TRACE_I_INTEREST_NEVER;
}
static inline bool trace_i_callsite_enabled(trace_callsite *cs) {
  /* Acquire: the metadata a subscriber reads was completed before the interest was published
   * (free on x86; the disabled path above is the relaxed level load alone). */
  uint8_t interest = __atomic_load_n(&cs->interest, __ATOMIC_ACQUIRE);
  if (interest == TRACE_I_INTEREST_ALWAYS)
    return true;
  if (interest == TRACE_I_INTEREST_NEVER)
    return false;
  return trace__callsite_check(cs);
}

static inline int trace_i_printf_check(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int trace_i_printf_check(const char *fmt, ...) {
  (void)fmt;
  return 0;
}

/* What a span macro returns, through a function whose result must be used: a TRACE_SPAN whose
 * handle is dropped can never be closed (GCC does not warn for a discarded statement expression
 * by itself, so the warning comes from here). */
static inline __attribute__((warn_unused_result)) trace_span trace_i_span_result(trace_span s) {
  return s;
}

/* The id check is inline so that a disabled or compiled-out scope leaves no call at all. */
static inline void trace_i_scope_end(trace_span *s) {
  if (s->id)
    trace_span_end(s);
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

/* Value construction: _Generic in C, overloads in C++ (detail/cxx.h). */
#ifdef __cplusplus
#include "cxx.h"
#define TRACE_I_VALUE(x) trace_i_make_value(x)
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
#endif

/* Callsite metadata and values, where C and C++ differ (detail/cxx.h says why).
 *   TRACE_I_LITERAL(what, x)         C++: asserts that x (what: format, span_name or target) is a
 *                                    literal and copies it into a constexpr pointer
 *   TRACE_I_LITERAL_USE(what, x)     what the callsite stores: that pointer in C++, x in C
 *   TRACE_I_LITERAL_CHECK(what, x)   C++: the assertion alone, for compiled-out callsites
 *   TRACE_I_VALUES_DECL / _ARG(all)  the values array: a local in C (the cheapest), a temporary
 *                                    of the call expression in C++ */
#ifdef __cplusplus
#define TRACE_I_LITERAL(what, x)                                                                   \
  TRACE_I_LITERAL_CHECK(what, x)                                                                   \
  static constexpr const char *trace_i_##what##_must_be_a_literal =                                \
      trace_i_is_##what<decltype((x))>::value ? trace_i_literal_ptr(x) : nullptr;
#define TRACE_I_LITERAL_USE(what, x) trace_i_##what##_must_be_a_literal
#define TRACE_I_LITERAL_CHECK(what, x)                                                             \
  static_assert(trace_i_is_##what<decltype((x))>::value, TRACE_I_MSG_##what);
#define TRACE_I_VALUES_DECL(all)
#define TRACE_I_VALUES_ARG(all)                                                                    \
  trace_i_values({TRACE_I_MAP(TRACE_I_M_VAL, TRACE_I_STRIP all) trace_value_empty()})
#else
#define TRACE_I_LITERAL(what, x)
#define TRACE_I_LITERAL_USE(what, x) x
#define TRACE_I_LITERAL_CHECK(what, x)
#define TRACE_I_VALUES_DECL(all)                                                                   \
  const trace_value trace_i_vals[] = {                                                             \
      TRACE_I_MAP(TRACE_I_M_VAL, TRACE_I_STRIP all) trace_value_empty()};
#define TRACE_I_VALUES_ARG(all) trace_i_vals
#endif

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

/* Mistakes that would otherwise end in pages of preprocessor errors get one static assertion:
 * too many arguments (pp_map.h counts past 64 as TOO_MANY), and an event with neither a message
 * nor a field (its "format" is then the empty argument: its spelling "" has size 1). */
#define TRACE_I_TOO_MANY_ARGS()                                                                    \
  TRACE_I_STATIC_ASSERT(0, "libtrace: at most 64 fields and message arguments in one macro call")
#define TRACE_I_CHECK_NOT_EMPTY(fmt)                                                               \
  TRACE_I_STATIC_ASSERT(sizeof(TRACE_I_STR_(fmt)) > 1,                                            \
                        "libtrace: an event needs a message or a field: TRACE_INFO(\"text\") or " \
                        "TRACE_INFO(TF(key, value))")
#define TRACE_I_FCAT(a, b) TRACE_I_FCAT_(a, b)
#define TRACE_I_FCAT_(a, b) a##b
#define TRACE_I_FITS(...) TRACE_I_FCAT(TRACE_I_ARGS_FIT_, TRACE_I_NARGS(__VA_ARGS__))

/* Events: split the arguments into fields and message, then pick the form by message kind
 * (N: none, F: format only, A: format and arguments). */
#define TRACE_I_EVENT(tgt, lvl, pk, parent, ...)                                                   \
  TRACE_I_UCAT(TRACE_I_EVENT_, TRACE_I_FITS(__VA_ARGS__))(tgt, lvl, pk, parent, __VA_ARGS__)
#define TRACE_I_EVENT_TOO_MANY(tgt, lvl, pk, parent, ...)                                          \
  do {                                                                                             \
    TRACE_I_TOO_MANY_ARGS();                                                                       \
  } while (0)
#define TRACE_I_EVENT_FIT(tgt, lvl, pk, parent, ...)                                               \
  TRACE_I_EVENT_X(tgt, lvl, pk, parent, (__VA_ARGS__), TRACE_I_MSGLIST(__VA_ARGS__))
#define TRACE_I_EVENT_X(tgt, lvl, pk, parent, all, ...)                                            \
  TRACE_I_EVENT_Y(TRACE_I_KCAT(TRACE_I_MSGK_, TRACE_I_NARGS(__VA_ARGS__)), tgt, lvl, pk, parent,   \
                  all, __VA_ARGS__)
#define TRACE_I_EVENT_Y(kind, ...) TRACE_I_KCAT2(TRACE_I_EVENT_, kind)(__VA_ARGS__)
#define TRACE_I_EVENT_N(tgt, lvl, pk, parent, all, tilde)                                          \
  TRACE_I_EVENT_BODY(tgt, lvl, pk, parent, all, 0, , (void)0)
#define TRACE_I_EVENT_F(tgt, lvl, pk, parent, all, tilde, fmt)                                     \
  TRACE_I_EVENT_BODY(tgt, lvl, pk, parent, all, TRACE_I_LITERAL_USE(format, fmt), ,                \
                     TRACE_I_CHECK_NOT_EMPTY(fmt);                                                 \
                     TRACE_I_LITERAL(format, fmt)                                                  \
                     (void)sizeof(trace_i_printf_check(fmt)))
#define TRACE_I_EVENT_A(tgt, lvl, pk, parent, all, tilde, fmt, ...)                                \
  TRACE_I_EVENT_BODY(tgt, lvl, pk, parent, all, TRACE_I_LITERAL_USE(format, fmt),                  \
                     TRACE_I_COMMA_ARGS(__VA_ARGS__),                                              \
                     TRACE_I_LITERAL(format, fmt)                                                  \
                     (void)sizeof(trace_i_printf_check(fmt, __VA_ARGS__)))
#define TRACE_I_COMMA_ARGS(...) , __VA_ARGS__

#define TRACE_I_EVENT_BODY(tgt, lvl, pk, parent, all, fmt, args, check)                            \
  do {                                                                                             \
    check;                                                                                         \
    TRACE_I_LITERAL(target, tgt)                                                                   \
    static const char *const trace_i_names[] = {                                                 \
        TRACE_I_MAP(TRACE_I_M_NAME, TRACE_I_STRIP all)(const char *)0};                            \
    static trace_callsite trace_i_cs TRACE_I_CALLSITE_ATTRS = TRACE_I_CALLSITE_INIT(               \
        "event " __FILE__ ":" TRACE_I_STR(__LINE__), TRACE_I_LITERAL_USE(target, tgt), lvl,        \
        TRACE_KIND_EVENT, trace_i_names, TRACE_I_FIELD_COUNT(TRACE_I_STRIP all), fmt);             \
    if (TRACE_I_UNLIKELY(trace_i_not_never(&trace_i_cs)) && trace_i_callsite_enabled(&trace_i_cs)) { \
      TRACE_I_VALUES_DECL(all)                                                                     \
      trace__event(&trace_i_cs, TRACE_I_VALUES_ARG(all), pk, parent args);                         \
    }                                                                                              \
  } while (0)

/* A removed event: nothing is emitted, but formats are checked and variables count as used. */
#define TRACE_I_EVENT_OFF(tgt, lvl, pk, parent, ...)                                               \
  TRACE_I_UCAT(TRACE_I_EVENT_OFF_, TRACE_I_FITS(__VA_ARGS__))(tgt, __VA_ARGS__)
#define TRACE_I_EVENT_OFF_TOO_MANY(...) TRACE_I_EVENT_TOO_MANY(, , , , )
#define TRACE_I_EVENT_OFF_FIT(tgt, ...)                                                            \
  TRACE_I_EVENT_OFF_X(tgt, (__VA_ARGS__), TRACE_I_MSGLIST(__VA_ARGS__))
#define TRACE_I_EVENT_OFF_X(tgt, all, ...)                                                         \
  TRACE_I_EVENT_OFF_Y(TRACE_I_KCAT(TRACE_I_MSGK_, TRACE_I_NARGS(__VA_ARGS__)), tgt, all,           \
                      __VA_ARGS__)
#define TRACE_I_EVENT_OFF_Y(kind, ...) TRACE_I_KCAT2(TRACE_I_EVENT_OFF_, kind)(__VA_ARGS__)
#define TRACE_I_EVENT_OFF_N(tgt, all, tilde)                                                       \
  do {                                                                                             \
    TRACE_I_LITERAL_CHECK(target, tgt)                                                             \
    (void)sizeof(TRACE_I_MAP(TRACE_I_M_USE, TRACE_I_STRIP all) 0);                                 \
  } while (0)
#define TRACE_I_EVENT_OFF_F(tgt, all, tilde, fmt)                                                  \
  do {                                                                                             \
    TRACE_I_CHECK_NOT_EMPTY(fmt);                                                                  \
    TRACE_I_LITERAL_CHECK(format, fmt)                                                             \
    TRACE_I_LITERAL_CHECK(target, tgt)                                                             \
    (void)sizeof(TRACE_I_MAP(TRACE_I_M_USE, TRACE_I_STRIP all) 0);                                 \
    (void)sizeof(trace_i_printf_check(fmt));                                                       \
  } while (0)
#define TRACE_I_EVENT_OFF_A(tgt, all, tilde, fmt, ...)                                             \
  do {                                                                                             \
    TRACE_I_LITERAL_CHECK(format, fmt)                                                             \
    TRACE_I_LITERAL_CHECK(target, tgt)                                                             \
    (void)sizeof(TRACE_I_MAP(TRACE_I_M_USE, TRACE_I_STRIP all) 0);                                 \
    (void)sizeof(trace_i_printf_check(fmt, __VA_ARGS__));                                          \
  } while (0)

/* Spans: the one non-field argument is the name. */
#define TRACE_I_SPAN(tgt, lvl, pk, parent, ...)                                                    \
  trace_i_span_result(                                                                             \
      TRACE_I_UCAT(TRACE_I_SPAN_, TRACE_I_FITS(__VA_ARGS__))(tgt, lvl, pk, parent, __VA_ARGS__))
#define TRACE_I_SPAN_TOO_MANY(tgt, lvl, pk, parent, ...)                                           \
  __extension__({                                                                                  \
    TRACE_I_TOO_MANY_ARGS();                                                                       \
    trace_span_none();                                                                             \
  })
#define TRACE_I_SPAN_FIT(tgt, lvl, pk, parent, ...)                                                \
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
  TRACE_I_SPAN_BODY(tgt, lvl, all, name,                                                           \
                    trace__span_new(&trace_i_cs, TRACE_I_VALUES_ARG(all), pk, parent))
/* One body for TRACE_SPAN and TRACE_SPAN_FROM: make is the call that creates the span (it may
 * use trace_i_cs and the values, which are declared here). */
#define TRACE_I_SPAN_BODY(tgt, lvl, all, name, make)                                               \
  __extension__({                                                                                  \
    trace_span trace_i_sp = TRACE_SPAN_NONE_INIT;                                                  \
    TRACE_I_LITERAL(span_name, name)                                                               \
    TRACE_I_LITERAL(target, tgt)                                                                   \
    static const char *const trace_i_names[] = {                                                 \
        TRACE_I_MAP(TRACE_I_M_NAME, TRACE_I_STRIP all)(const char *)0};                            \
    static trace_callsite trace_i_cs TRACE_I_CALLSITE_ATTRS = TRACE_I_CALLSITE_INIT(               \
        TRACE_I_LITERAL_USE(span_name, name), TRACE_I_LITERAL_USE(target, tgt), lvl,               \
        TRACE_KIND_SPAN, trace_i_names, TRACE_I_FIELD_COUNT(TRACE_I_STRIP all), 0);                \
    if (TRACE_I_UNLIKELY(trace_i_not_never(&trace_i_cs)) && trace_i_callsite_enabled(&trace_i_cs)) { \
      TRACE_I_VALUES_DECL(all)                                                                     \
      trace_i_sp = make;                                                                           \
    }                                                                                              \
    trace_i_sp;                                                                                    \
  })
/* Not through trace_i_span_result: Clang 14 no longer folds the checks of a none span passed
 * through a function by value, and a compiled-out scope must leave no call (the enabled form of
 * the same line warns when its result is dropped). */
#define TRACE_I_SPAN_OFF(tgt, lvl, pk, parent, ...)                                                \
  ((void)sizeof(TRACE_I_MAP(TRACE_I_M_USE, __VA_ARGS__) 0), (void)sizeof(parent),                  \
   TRACE_I_SPAN_OFF_CHECKS(tgt, __VA_ARGS__) trace_span_none())
/* C++: the name and the target are literals, as in the enabled form. */
#ifdef __cplusplus
#define TRACE_I_SPAN_OFF_CHECKS(tgt, ...)                                                          \
  (void)sizeof(trace_i_check_target<decltype((tgt))>),                                             \
      TRACE_I_MAP(TRACE_I_M_CHECK_NAME, __VA_ARGS__)
#define TRACE_I_M_CHECK_NAME(x) TRACE_I_IFCAT(TRACE_I_M_CHECK_NAME_, TRACE_I_IS_TF(x))(x)
#define TRACE_I_M_CHECK_NAME_1(x)
#define TRACE_I_M_CHECK_NAME_0(x) (void)sizeof(trace_i_check_name<decltype((x))>),
#else
#define TRACE_I_SPAN_OFF_CHECKS(tgt, ...)
#endif

/* ---------------------------------------------------------------------------------------- */
/* TRACE_SPAN_FROM: TRACE_SPAN with a remote parent. TRACE_I_SPR_<level> is the enabled or the
 * removed form; the removed one is TRACE_I_SPAN_OFF, which leaves nothing. */
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
  trace_i_span_result(                                                                             \
      TRACE_I_UCAT(TRACE_I_SPANR_, TRACE_I_FITS(__VA_ARGS__))(tgt, lvl, pk, remote, __VA_ARGS__))
#define TRACE_I_SPANR_TOO_MANY TRACE_I_SPAN_TOO_MANY
#define TRACE_I_SPANR_FIT(tgt, lvl, pk, remote, ...)                                               \
  TRACE_I_SPANR_X(tgt, lvl, pk, remote, (__VA_ARGS__), TRACE_I_MSGLIST(__VA_ARGS__))
#define TRACE_I_SPANR_X(tgt, lvl, pk, remote, all, ...)                                            \
  TRACE_I_SPANR_Y(TRACE_I_KCAT(TRACE_I_MSGK_, TRACE_I_NARGS(__VA_ARGS__)), tgt, lvl, pk, remote,   \
                  all, __VA_ARGS__)
#define TRACE_I_SPANR_Y(kind, ...) TRACE_I_KCAT2(TRACE_I_SPANR_, kind)(__VA_ARGS__)
#define TRACE_I_SPANR_N TRACE_I_SPAN_N
#define TRACE_I_SPANR_A TRACE_I_SPAN_A
#define TRACE_I_SPANR_F(tgt, lvl, pk, remote, all, tilde, name)                                    \
  TRACE_I_SPAN_BODY(tgt, lvl, all, name,                                                           \
                    trace__span_new_remote(&trace_i_cs, TRACE_I_VALUES_ARG(all), (remote)))

#endif /* TRACE_DETAIL_MACROS_H */
