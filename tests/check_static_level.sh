#!/bin/sh
# Compile-time level gating, checked on real object files: with -DTRACE_MAX_LEVEL=INFO the DEBUG
# and TRACE callsites leave no string and no call in the object, at -O0 and -O2 (scopes: at -O2),
# and their format strings are still checked (a bad one fails to compile). Usage: check_static_level.sh
# <source dir> <work dir>
set -eu
src=$1
work=$2
# With the build's compiler, and with Clang too when it is here: the two fold differently (Clang
# once kept the calls of a compiled-out TRACE_SCOPE that GCC removed). Then the same sources as
# C++17 with g++ and clang++, whose expansion differs (detail/cxx.h).
if [ -z "${TRACE_STATIC_LEVEL_ONE:-}" ]; then
  rc=0
  TRACE_STATIC_LEVEL_ONE=1 sh "$0" "$src" "$work/cc" || rc=1
  if command -v clang >/dev/null 2>&1; then
    echo "with clang:"
    TRACE_STATIC_LEVEL_ONE=1 CC=clang sh "$0" "$src" "$work/clang" || rc=1
  fi
  for cxx in g++ clang++; do
    command -v $cxx >/dev/null 2>&1 || continue
    echo "with $cxx (C++17):"
    TRACE_STATIC_LEVEL_ONE=1 CC="$cxx -x c++" TRACE_STATIC_LEVEL_STD=c++17 sh "$0" "$src" \
      "$work/$cxx" || rc=1
  done
  exit $rc
fi
cc=${CC:-cc}
std=-std=${TRACE_STATIC_LEVEL_STD:-c11}
mkdir -p "$work"
cat > "$work/sample.c" <<'C'
#include <trace.h>
void sample(int n);
void sample(int n) {
  int only_used_in_debug = n * 2;
  TRACE_INFO("kept-info-message %d", n);
  TRACE_DEBUG(TF(only_used_in_debug, only_used_in_debug), "removed-debug-message %d", n);
  TRACE_TRACE("removed-trace-message");
  TRACE_EVENT(TRACE_LEVEL_DEBUG, "removed-event-debug");
  trace_span s = TRACE_DEBUG_SPAN("removed-debug-span", TF(n, n));
  trace_span_close(&s);
  trace_span r = TRACE_DEBUG_SPAN_FROM((const struct trace_context *)0, "removed-remote-span", TF(n, n));
  trace_span_close(&r);
  TRACE_SCOPE(TRACE_LEVEL_TRACE, "removed-trace-scope");
}
C
# The section size of an object with exactly one callsite, for comparison.
cat > "$work/one.c" <<'C'
#include <trace.h>
void one(int n);
void one(int n) { TRACE_INFO("kept-info-message %d", n); }
C
$cc $std -O2 -I"$src/include" -c "$work/one.c" -o "$work/one.o"
one_size=$(objdump -h "$work/one.o" | awk '$2=="trace_callsites"{print $3}')
fail=0
for opt in -O0 -O2; do
  for flags in "-DTRACE_MAX_LEVEL=INFO" "-DTRACE_MAX_LEVEL=3" "-DNDEBUG -DTRACE_RELEASE_MAX_LEVEL=info"; do
    obj="$work/sample$opt.o"
    # shellcheck disable=SC2086
    $cc $std -Wall -Wextra -Wpedantic -Werror $opt $flags -I"$src/include" -c "$work/sample.c" -o "$obj"
    if ! strings "$obj" | grep -q kept-info-message; then
      echo "FAIL ($opt $flags): the INFO message is missing"; fail=1
    fi
    if strings "$obj" | grep -q removed-; then
      echo "FAIL ($opt $flags): a removed level left strings:"; strings "$obj" | grep removed-; fail=1
    fi
    calls=$(nm "$obj" | grep -c ' U trace__event$' || true)
    spans=$(nm "$obj" | grep -c ' U trace__span_new\(_remote\)\?$' || true)
    if [ "$spans" != 0 ]; then
      echo "FAIL ($opt $flags): removed spans still call trace__span_new"; fail=1
    fi
    sites=$(objdump -h "$obj" | grep -c trace_callsites || true)
    size=$(objdump -h "$obj" | awk '$2=="trace_callsites"{print $3}')
    # One callsite (the INFO event) must remain.
    if [ "$sites" != 1 ] || [ "$size" != "$one_size" ]; then
      echo "FAIL ($opt $flags): expected exactly one callsite, section size $size"; fail=1
    fi
    [ "$calls" = 1 ] || { echo "FAIL ($opt $flags): expected one trace__event reference"; fail=1; }
  done
done
# Everything on: all five callsites are there.
$cc $std -O2 -I"$src/include" -c "$work/sample.c" -o "$work/all.o"
strings "$work/all.o" | grep -q removed-debug-message || { echo "FAIL: DEBUG missing without a limit"; fail=1; }
# A removed callsite's format is still checked.
cat > "$work/bad.c" <<'C'
#include <trace.h>
void bad(void);
void bad(void) { TRACE_TRACE("%s needs a string", 42); }
C
if $cc $std -Wall -Werror -DTRACE_MAX_LEVEL=OFF -I"$src/include" -c "$work/bad.c" -o "$work/bad.o" 2>/dev/null; then
  echo "FAIL: a removed callsite's bad format was accepted"; fail=1
fi
# Scopes of a removed level leave no call at all once optimised (the guards' id checks fold).
cat > "$work/scopes.c" <<'C'
#include <trace.h>
int scoped(int n);
int scoped(int n) {
  TRACE_FN(TRACE_LEVEL_DEBUG, TF(n, n));
  TRACE_SCOPE(TRACE_LEVEL_TRACE, "removed-inner");
  trace_span none = TRACE_DEBUG_SPAN("removed-span");
  TRACE_IN_SPAN(&none) { n++; }
  return n;
}
C
$cc $std -Wall -Wextra -Werror -O2 -DTRACE_MAX_LEVEL=INFO -I"$src/include" -c "$work/scopes.c" \
  -o "$work/scopes.o"
if nm "$work/scopes.o" | grep -q ' U trace_span_'; then
  echo "FAIL: removed scopes still call:"; nm "$work/scopes.o" | grep ' U trace_span_'; fail=1
fi
[ $fail = 0 ] && echo "static level gating: ok"
exit $fail
