#!/bin/sh
# Installs the Debian packages the build (and, with "test", the tests) need, if missing.
# Usage: deps.sh build|test|bench. Uses apt-get as root, sudo otherwise; says what to install when
# neither is possible.
set -eu
need="cmake make gcc libc6-dev"
if [ "${1:-build}" = test ]; then
  # clang and its runtime (libFuzzer, sanitizers) build and run the fuzzers; jansson is the JSON
  # parser the fmt tests read our JSON back with; pkg-config checks the installed package; curl is
  # the HTTP client of the load example's integration test.
  need="$need g++ libcmocka-dev libjansson-dev binutils pkg-config clang libclang-rt-14-dev curl"
  # packaging (tests/check_package.sh): dpkg-shlibdeps computes the DEB package's dependencies;
  # uv_echo (examples/uv_echo) needs libuv.
  need="$need dpkg-dev libuv1-dev"
  # GLib: the trace_glib bridge (src/glib) and its test.
  need="$need libglib2.0-dev"
fi
# ---- env-filter (filters branch) ----
# libpcre2-dev: pcre2.h, to build the env-filter's regular expressions (PCRE2 itself is loaded at
# run time from libpcre2-8-0, which it depends on) and the differential test's driver. The
# differential test (tests/differential) builds its tracing side offline from Debian's crates
# (librust-tracing-subscriber-dev puts them in /usr/share/cargo/registry) with any cargo from
# Debian 12's (0.66, rustc 1.63) on: one already there (on PATH or rustup's ~/.cargo/bin) is
# used, Debian's is installed otherwise.
need="$need libpcre2-dev"
if [ "${1:-build}" = test ]; then
  need="$need librust-tracing-subscriber-dev"
  command -v cargo >/dev/null 2>&1 || [ -x "${HOME:-/root}/.cargo/bin/cargo" ] || need="$need cargo"
fi
# ---- end of the env-filter block ----
# ---- OTLP (issue 13) ----
# libtrace_otlp: libcurl and zlib to build it; its tests decode what they receive with
# protoc --decode_raw (protobuf-compiler) in a Python receiver. The benchmark's OTLP workloads
# need the library built.
if [ "${1:-build}" = test ]; then
  need="$need libcurl4-openssl-dev zlib1g-dev protobuf-compiler python3"
fi
[ "${1:-build}" = bench ] && need="$need libcurl4-openssl-dev zlib1g-dev"
# ---- end of the OTLP block ----
# valgrind's callgrind counts the instructions of a disabled callsite (benchmarks/compare).
[ "${1:-build}" = bench ] && need="$need valgrind"

missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" = 0 ]; then
  run=""
elif command -v sudo >/dev/null 2>&1; then
  run="sudo"
else
  echo "please install:$missing (as root: apt-get install$missing)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$run apt-get update -qq
# shellcheck disable=SC2086
$run apt-get install -y -qq --no-install-recommends $missing
