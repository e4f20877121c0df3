#!/bin/sh
# The C++ tests with a second compiler: CMake builds them (as C++17 and C++20) with one C++
# compiler per build directory, so the other one (g++ or clang++) builds and runs them here, as
# C++17 and C++20, with the warnings of the build (-Werror). trace.h alone must also compile as
# C++11 and C++14, and trace.hpp must say that it needs C++17.
# Usage: check_cxx_compilers.sh SOURCE_DIR LIBTRACE_SO WORK_DIR CXX...
set -u
src=$1
lib=$2
work=$3
shift 3
libdir=$(cd "$(dirname "$lib")" && pwd -P)
mkdir -p "$work"
fail=0
cat > "$work/cxx11.cpp" <<'CPP'
#include <trace.h>
enum class mode : int { fast = 1 };
struct text {
  const char *data() const { return "text"; }
  unsigned long size() const { return 4; }
};
int f(int x);
int f(int x) {
  TRACE_FN(TRACE_LEVEL_INFO, TF(x, x));
  TRACE_INFO(TF(m, mode::fast), TF(t, text()), "x=%d", x);
  trace_span s = TRACE_INFO_SPAN("s", TF(t, text()));
  TRACE_RECORD(&s, t, mode::fast);
  trace_span_close(&s);
  return x;
}
CPP
printf '#include <trace.hpp>\n' > "$work/hpp14.cpp"
ran=0
for cxx in "$@"; do
  if ! command -v "$cxx" >/dev/null 2>&1; then
    echo "FAIL: $cxx is not installed (tests/deps.sh installs g++ and clang)"; fail=1; continue
  fi
  warn="-Wall -Wextra -Wpedantic -Werror"
  for std in c++11 c++14; do
    # shellcheck disable=SC2086
    if ! $cxx -std=$std $warn -I"$src/include" -c "$work/cxx11.cpp" -o "$work/cxx11.o"; then
      echo "FAIL: $cxx -std=$std: trace.h does not compile"; fail=1
    fi
  done
  if $cxx -std=c++14 -I"$src/include" -c "$work/hpp14.cpp" -o "$work/hpp14.o" 2> "$work/hpp14.log" \
     || ! grep -q 'trace.hpp needs C++17' "$work/hpp14.log"; then
    echo "FAIL: $cxx -std=c++14: trace.hpp does not say that it needs C++17"; fail=1
  fi
  for std in c++17 c++20; do
    for t in cxx trace_hpp; do
      exe="$work/test_${t}_${cxx}_$std"
      # shellcheck disable=SC2086
      if ! $cxx -std=$std $warn -I"$src/include" "$src/tests/test_$t.cpp" -o "$exe" "$lib" \
           -lcmocka -pthread -Wl,-rpath,"$libdir"; then
        echo "FAIL: $cxx -std=$std: tests/test_$t.cpp does not compile"; fail=1; continue
      fi
      if ! (cd "$work" && "$exe" > "$exe.out" 2>&1); then
        echo "FAIL: $cxx -std=$std: test_$t"; cat "$exe.out"; fail=1; continue
      fi
      ran=$((ran + 1))
      echo "ok   $cxx -std=$std test_$t"
    done
  done
done
[ $ran = 0 ] && { echo "FAIL: no compiler given"; fail=1; }
[ $fail = 0 ] && echo "C++ with $*: ok"
exit $fail
