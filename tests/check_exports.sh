#!/bin/sh
# What libtrace's libraries make visible to the programs that link them.
#   check_exports.sh <libtrace.so> [<other library (.so or .a)>...]
# - libtrace.so exports the API (trace_*) and the few macro internals (trace__*), nothing else.
# - Every other shared library (trace-glib, trace-otlp, ...) exports only API (trace_*, no trace__).
# - A static library's every defined global is trace_* (API, exported by one of the shared
#   libraries given) or trace__* (internal): at static link time nothing else can collide with
#   the program's own names (an internal fmt_format_line once could).
set -eu
core=$1
shift
syms_so() { nm -D --defined-only --extern-only "$1" | awk '{print $3}' | grep -v '^__odr_asan' || true; }
syms_a() { nm -g --defined-only "$1" 2>/dev/null | awk 'NF == 3 {print $3}' | grep -v '^__odr_asan' | sort -u || true; }
fail=0
bad=$(syms_so "$core" | grep -v -E '^trace_' || true)
if [ -n "$bad" ]; then
  echo "$core: unexpected exported symbols:"; echo "$bad"; fail=1
fi
internal=$(syms_so "$core" | grep -E '^trace__' | sort | tr '\n' ' ')
expected="trace__callsite_check trace__event trace__register_callsites trace__span_new trace__span_new_remote trace__unregister_callsites "
if [ "$internal" != "$expected" ]; then
  echo "$core: macro internals exported: $internal"; echo "expected: $expected"; fail=1
fi
api=$(mktemp)
trap 'rm -f "$api"' EXIT
syms_so "$core" > "$api"
for lib in "$@"; do
  case "$lib" in *.so*) syms_so "$lib" >> "$api" ;; esac
done
for lib in "$@"; do
  case "$lib" in
    *.so*)
      bad=$(syms_so "$lib" | grep -v -E '^trace_[^_]' || true)
      [ -z "$bad" ] || { echo "$lib: exports more than its API:"; echo "$bad"; fail=1; } ;;
    *.a)
      bad=$(syms_a "$lib" | grep -v -E '^trace_' || true)
      [ -z "$bad" ] || { echo "$lib: globals without the trace__ prefix:"; echo "$bad"; fail=1; }
      bad=$(syms_a "$lib" | grep -E '^trace_[^_]' | grep -v -x -F -f "$api" || true)
      [ -z "$bad" ] || { echo "$lib: trace_* globals that no shared library exports (internal: trace__):"; echo "$bad"; fail=1; } ;;
  esac
done
[ "$fail" -eq 0 ] || exit 1
echo "exports: ok ($# more libraries)"
