#!/bin/sh
# The env-filter differential test (ctest filter_differential): builds the tracing side
# (tracing/, offline, from Debian's crates: tests/deps.sh test installs librust-tracing-subscriber-dev
# and a cargo), generates the filters, runs them under tracing-subscriber and under libtrace, and
# compares (diff_filters.c). Nothing is written into the source tree: the package is copied to
# WORKDIR and built there; cargo rebuilds nothing when the sources did not change.
#
# Usage: run.sh WORKDIR DIFF_FILTERS [COUNT [SEED]]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
work=$(cd "$1" && pwd)
driver=$2
count=${3:-400}
seed=${4:-20260515}
cargo=$(command -v cargo || true)
[ -n "$cargo" ] || [ ! -x "${HOME:-/root}/.cargo/bin/cargo" ] || cargo=${HOME:-/root}/.cargo/bin/cargo
if [ -z "$cargo" ]; then
  echo "differential: FAILED: no cargo to build the tracing side (tests/deps.sh test installs" \
       "Debian's: apt-get install cargo librust-tracing-subscriber-dev)" >&2
  exit 1
fi
mkdir -p "$work/package/src" "$work/package/.cargo"
cp -p "$here/tracing/Cargo.toml" "$here/tracing/Cargo.lock" "$work/package/"
cp -p "$here/tracing/src/main.rs" "$work/package/src/"
cp -p "$here/tracing/.cargo/config.toml" "$work/package/.cargo/"
if ! (cd "$work/package" && CARGO_TARGET_DIR="$work/target" "$cargo" build --release --quiet --offline); then
  echo "differential: FAILED: the tracing side did not build (Debian's crates are in" \
       "/usr/share/cargo/registry: apt-get install librust-tracing-subscriber-dev)" >&2
  exit 1
fi
"$driver" generate "$count" "$seed" >"$work/filters.txt"
"$work/target/release/filter-differential" <"$work/filters.txt" >"$work/tracing.txt"
"$driver" compare "$count" "$seed" "$work/tracing.txt"
