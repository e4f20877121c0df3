/* Target matching shared by every filter: a directive's target covers a callsite's target when it
 * is that target or a prefix of it that ends where a segment does. Dots, "::" and "/" separate
 * segments, so "app" covers app, app::net, app.net and app/net, but not app2 (tracing does a raw
 * starts_with there, which lets "app" leak into "app2"). */
#ifndef TRACE_COMMON_TARGET_H
#define TRACE_COMMON_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Whether the first len bytes of prefix are target itself or end on one of its segment
 * boundaries. An empty prefix covers every target. */
static inline bool trace__target_covers(const char *target, const char *prefix, size_t len) {
  if (len == 0)
    return true;
  if (strncmp(target, prefix, len) != 0)
    return false;
  char next = target[len];
  return next == '\0' || next == '.' || next == '/' || (next == ':' && target[len + 1] == ':');
}

#endif
