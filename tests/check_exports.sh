#!/bin/sh
# The shared library exports the API (trace_*) and the few macro internals (trace__*), nothing
# else: every other symbol is hidden.
set -eu
bad=$(nm -D --defined-only --extern-only "$1" | awk '{print $3}' | grep -v -E '^(trace_|__odr_asan)' || true)
if [ -n "$bad" ]; then
  echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
internal=$(nm -D --defined-only --extern-only "$1" | awk '{print $3}' | grep -E '^trace__' | sort | tr '\n' ' ')
expected="trace__callsite_check trace__event trace__register_callsites trace__span_new trace__span_new_remote trace__unregister_callsites "
if [ "$internal" != "$expected" ]; then
  echo "macro internals exported: $internal"; echo "expected: $expected"; exit 1
fi
echo "exports: ok"
