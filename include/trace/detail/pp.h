/* Preprocessor plumbing for the instrumentation macros of trace.h. Nothing here is API: names
 * start with TRACE_I_ and may change in any release.
 *
 * The macros take a mixed argument list: TF(name, value) fields first, then an optional printf
 * format and its arguments. TF() expands to a parenthesised tuple whose first element is the
 * function-like macro TRACE_I_PROBE_TF_MARK, so an argument is a field exactly when "peel the
 * first element and call it" yields the probe. That test never pastes tokens, so any printf
 * argument (a string, a cast, a negative number, a call) is classified safely as "not a field". */
#ifndef TRACE_DETAIL_PP_H
#define TRACE_DETAIL_PP_H

#include "pp_map.h"

#define TRACE_I_STR_(x) #x
#define TRACE_I_STR(x) TRACE_I_STR_(x)

/* Separate concatenation helpers per use, so that no macro is re-entered while it is still
 * being expanded (the preprocessor would leave the inner use unexpanded). */
#define TRACE_I_IFCAT(a, b) TRACE_I_IFCAT_(a, b)
#define TRACE_I_IFCAT_(a, b) a##b
#define TRACE_I_KCAT(a, b) TRACE_I_KCAT_(a, b)
#define TRACE_I_KCAT_(a, b) a##b
#define TRACE_I_KCAT2(a, b) TRACE_I_KCAT2_(a, b)
#define TRACE_I_KCAT2_(a, b) a##b
#define TRACE_I_LCAT(a, b) TRACE_I_LCAT_(a, b)
#define TRACE_I_LCAT_(a, b) a##b
#define TRACE_I_UCAT(a, b) TRACE_I_UCAT_(a, b)
#define TRACE_I_UCAT_(a, b) a##b

/* A fresh identifier per use: two macros on one line must not collide. */
#define TRACE_I_UNIQ(prefix) TRACE_I_UCAT(prefix, __COUNTER__)

#define TRACE_I_STRIP(...) __VA_ARGS__
#define TRACE_I_FIRST_(a, ...) a
#define TRACE_I_SECOND_(a, b, ...) b

/* Field tuples: (TRACE_I_PROBE_TF_MARK, "name", value-expression). */
#define TRACE_I_PROBE_TF_MARK() ~, 1
#define TRACE_I_TF(name_str, value_expr) (TRACE_I_PROBE_TF_MARK, name_str, value_expr)
#define TRACE_I_TF_NAME_(mark, name, value) name
#define TRACE_I_TF_VAL_(mark, name, value) value

#define TRACE_I_IS_TF(x) TRACE_I_IS_TF_(TRACE_I_IS_TF_PEEL x())
#define TRACE_I_IS_TF_PEEL(...) TRACE_I_FIRST_(__VA_ARGS__, ~)
#define TRACE_I_IS_TF_(...) TRACE_I_IS_TF__(__VA_ARGS__)
#define TRACE_I_IS_TF__(...) TRACE_I_SECOND_(__VA_ARGS__, 0, ~)

/* Per-argument mappers. */
#define TRACE_I_M_NAME(x) TRACE_I_IFCAT(TRACE_I_M_NAME_, TRACE_I_IS_TF(x))(x)
#define TRACE_I_M_NAME_1(x) TRACE_I_TF_NAME_ x,
#define TRACE_I_M_NAME_0(x)
#define TRACE_I_M_VAL(x) TRACE_I_IFCAT(TRACE_I_M_VAL_, TRACE_I_IS_TF(x))(x)
#define TRACE_I_M_VAL_1(x) TRACE_I_TF_VAL_ x,
#define TRACE_I_M_VAL_0(x)
#define TRACE_I_M_USE(x) TRACE_I_IFCAT(TRACE_I_M_USE_, TRACE_I_IS_TF(x))(x)
#define TRACE_I_M_USE_1(x) (void)(TRACE_I_TF_VAL_ x),
#define TRACE_I_M_USE_0(x)
#define TRACE_I_M_COUNT(x) +TRACE_I_IS_TF(x)
#define TRACE_I_M_MSG(x) TRACE_I_IFCAT(TRACE_I_M_MSG_, TRACE_I_IS_TF(x))(x)
#define TRACE_I_M_MSG_1(x)
#define TRACE_I_M_MSG_0(x) , x

/* "~" followed by every argument that is not a field: the message format and its arguments. */
#define TRACE_I_MSGLIST(...) ~TRACE_I_MAP(TRACE_I_M_MSG, __VA_ARGS__)
#define TRACE_I_FIELD_COUNT(...) (0 TRACE_I_MAP(TRACE_I_M_COUNT, __VA_ARGS__))

/* Everything after the first argument, with a leading comma, or nothing. */
#define TRACE_I_REST(...) TRACE_I_KCAT(TRACE_I_REST_, TRACE_I_KCAT2(TRACE_I_MSGK_, TRACE_I_NARGS(__VA_ARGS__)))(__VA_ARGS__)
#define TRACE_I_REST_N(a)
#define TRACE_I_REST_F(a, b) , b
#define TRACE_I_REST_A(a, ...) , __VA_ARGS__

#endif
