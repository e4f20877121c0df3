/* libtrace version, at compile time. trace_version() gives the version of the library that is
 * actually loaded, so a program can compare the two. CMake reads the numbers from this file. */
#ifndef TRACE_VERSION_H
#define TRACE_VERSION_H

#define TRACE_VERSION_MAJOR 0
#define TRACE_VERSION_MINOR 1
#define TRACE_VERSION_PATCH 0

#define TRACE_VERSION_STRINGIFY_(x) #x
#define TRACE_VERSION_STRINGIFY(x) TRACE_VERSION_STRINGIFY_(x)
/* "MAJOR.MINOR.PATCH" */
#define TRACE_VERSION_STRING                                                                       \
  TRACE_VERSION_STRINGIFY(TRACE_VERSION_MAJOR)                                                     \
  "." TRACE_VERSION_STRINGIFY(TRACE_VERSION_MINOR) "." TRACE_VERSION_STRINGIFY(TRACE_VERSION_PATCH)
/* One number that orders versions: 0xMMmmpp. */
#define TRACE_VERSION_HEX                                                                          \
  ((TRACE_VERSION_MAJOR << 16) | (TRACE_VERSION_MINOR << 8) | TRACE_VERSION_PATCH)

#endif
