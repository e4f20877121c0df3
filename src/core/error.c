/* Error strings, level names, version. */
#include "trace.h"

const char *trace_strerror(int err) {
  switch (err) {
  case TRACE_OK: return "success";
#define TRACE_I_ERR_CASE(name, value, text)                                                        \
  case TRACE_##name: return text;
    TRACE_ERRNO_MAP(TRACE_I_ERR_CASE)
#undef TRACE_I_ERR_CASE
  default: return "unknown error";
  }
}

const char *trace_level_name(int level) {
  static const char *const names[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
  return level >= 0 && level <= TRACE_LEVEL_TRACE ? names[level] : "?";
}

unsigned trace_version(void) { return TRACE_VERSION_HEX; }
const char *trace_version_string(void) { return TRACE_VERSION_STRING; }
