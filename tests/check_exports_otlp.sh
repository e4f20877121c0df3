#!/bin/sh
# libtrace_otlp exports its API (trace_otlp_*) and nothing else: its private copies of
# libtrace's helpers are hidden and never stand in for libtrace's own.
set -eu
syms=$(nm -D --defined-only --extern-only "$1" | awk '{print $3}')
bad=$(echo "$syms" | grep -v -E '^(trace_otlp_|__odr_asan)' || true)
if [ -n "$bad" ]; then
  echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
echo "$syms" | grep -q '^trace_otlp_layer_new$' || { echo "trace_otlp_layer_new is not exported"; exit 1; }
echo "otlp exports: ok"
