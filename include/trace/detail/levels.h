/* Compile-time level plumbing for trace.h: TRACE_MAX_LEVEL / TRACE_RELEASE_MAX_LEVEL, given as a
 * name, a number or a TRACE_LEVEL_* constant, become TRACE_I_SML (the static maximum level plus
 * one). Nothing here is API: names start with TRACE_I_ and may change in any release. */
#ifndef TRACE_DETAIL_LEVELS_H
#define TRACE_DETAIL_LEVELS_H

#include "pp.h"

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

#endif
