#!/bin/sh
# Runs a libFuzzer binary for a few seconds on a copy of a seed corpus.
# Usage: run_smoke.sh FUZZER CORPUS_DIR WORK_DIR SECONDS
set -eu
fuzzer=$1 corpus=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$corpus"/* "$work/corpus/"
exec "$fuzzer" -max_total_time="$seconds" -timeout=5 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus"
