#!/bin/sh
# The installed package works for a consumer: `cmake --install` into a scratch prefix, then a
# small program built against it with find_package(trace) (shared and static targets) and with
# pkg-config, and run. Usage: check_install.sh <build dir> <work dir>
set -eu
build=$1
work=$2
rm -rf "$work"
mkdir -p "$work/src"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cat > "$work/src/main.c" <<'C'
#include <trace.h>
#include <trace/fmt.h>
#include <stdio.h>
int main(void) {
  if (trace_init() != 0)
    return 1;
  TRACE_INFO(TF(version, trace_version_string()), "consumer ok");
  trace_shutdown();
  printf("%s\n", trace_version_string());
  return trace_version() == TRACE_VERSION_HEX ? 0 : 1;
}
C
cat > "$work/src/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(trace 0.1 REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE trace::trace)
add_executable(consumer_static main.c)
target_link_libraries(consumer_static PRIVATE trace::trace_static)
C
cmake -S "$work/src" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64:${LD_LIBRARY_PATH:-}" "$work/build/consumer" 2>"$work/out.txt"
grep -q "INFO main: consumer ok version=" "$work/out.txt" || { echo "FAIL: consumer output"; cat "$work/out.txt"; exit 1; }
"$work/build/consumer_static" 2>/dev/null
# pkg-config
pc=$(find "$work/prefix" -name trace.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no trace.pc installed"; exit 1; }
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs trace)
# shellcheck disable=SC2086
cc -std=c11 "$work/src/main.c" -o "$work/pc_consumer" $flags
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64:${LD_LIBRARY_PATH:-}" "$work/pc_consumer" 2>/dev/null
# C++: trace.hpp and the C++ plumbing it includes are installed too.
cat > "$work/src/main.cpp" <<'CPP'
#include <string>
#include <trace.hpp>
#include <trace/fmt.h>
int main() {
  if (trace_init() != 0)
    return 1;
  {
    trace::entered_span g = TRACE_INFO_SPAN("cxx");
    TRACE_INFO(TF(s, std::string("ok")), "consumer");
  }
  trace_shutdown();
}
CPP
# shellcheck disable=SC2086
c++ -std=c++17 "$work/src/main.cpp" -o "$work/pc_consumer_cxx" $flags
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64:${LD_LIBRARY_PATH:-}" "$work/pc_consumer_cxx" \
  2>"$work/out_cxx.txt"
grep -q 'INFO cxx: main: consumer s="ok"' "$work/out_cxx.txt" || {
  echo "FAIL: C++ consumer output"; cat "$work/out_cxx.txt"; exit 1; }
# --- libtrace_otlp, when it was built: its targets and its pkg-config file. The consumer calls
# nothing of it: trace_init must still find it (it says so through trace_otlp_installed's
# thread, checked by counting the process's threads: the exporter's makes two).
if [ -n "$(find "$work/prefix" -name trace-otlp.pc | head -n 1)" ]; then
  cat > "$work/src/otlp.c" <<'C'
#include <trace.h>
#include <trace/fmt.h>
#include <dirent.h>
#include <stdio.h>
int main(void) {
  if (trace_init() != 0)
    return 1;
  int threads = 0;
  DIR *d = opendir("/proc/self/task");
  while (d && readdir(d))
    threads++;
  if (d)
    closedir(d);
  TRACE_INFO("otlp consumer");
  trace_shutdown();
  printf("%d\n", threads - 2); /* minus . and .. */
  return 0;
}
C
  cat > "$work/src/CMakeLists.txt" <<'C'
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(trace 0.1 REQUIRED)
add_executable(otlp_shared otlp.c)
target_link_libraries(otlp_shared PRIVATE trace::otlp)
add_executable(otlp_static otlp.c)
target_link_libraries(otlp_static PRIVATE trace::otlp_static)
C
  rm -rf "$work/build"
  cmake -S "$work/src" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
  cmake --build "$work/build" >/dev/null
  pc=$(find "$work/prefix" -name trace-otlp.pc | head -n 1)
  # shellcheck disable=SC2086
  cc -std=c11 "$work/src/otlp.c" -o "$work/otlp_pc" \
    $(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs trace-otlp)
  for b in "$work/build/otlp_shared" "$work/build/otlp_static" "$work/otlp_pc"; do
    n=$(env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 OTEL_LOGS_EXPORTER=none \
      LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib64:${LD_LIBRARY_PATH:-}" "$b" 2>/dev/null)
    [ "$n" = 2 ] || { echo "FAIL: $b: trace_init did not add the OTLP exporter ($n threads)"; exit 1; }
  done
  echo "install: libtrace_otlp ok (find_package shared and static, pkg-config)"
fi
echo "install: ok (find_package shared and static, pkg-config, C++)"
