#!/bin/sh
# Mistakes in instrumentation meet one clear diagnostic, first, with GCC and Clang, in C and C++:
#   an event with neither message nor field, too many arguments (static assertions), and a span
#   whose handle is dropped (a warning: it could never be closed).
# Usage: check_macro_errors.sh SOURCE_DIR WORK_DIR
set -u
src=$1
work=$2
mkdir -p "$work"
fail=0
cat > "$work/empty.c" <<'C'
#include <trace.h>
void f(void);
void f(void) { TRACE_INFO(); }
C
{
  echo '#include <trace.h>'
  echo 'void f(void);'
  printf 'void f(void) { TRACE_INFO('
  i=0
  while [ $i -lt 70 ]; do printf 'TF(f%d, %d), ' $i $i; i=$((i + 1)); done
  echo '"m"); }'
} > "$work/many.c"
cat > "$work/dropped.c" <<'C'
#include <trace.h>
void f(void);
void f(void) { TRACE_INFO_SPAN("dropped"); }
C
# COMPILER LANGFLAGS FILE EXPECTED: the first diagnostic must contain EXPECTED.
first_diagnostic() {
  $1 $2 -I"$src/include" -c "$3" -o "$work/out.o" 2>&1 | grep -E ': (fatal )?error|: warning' | head -n 1
}
check() {
  line=$(first_diagnostic "$1" "$2" "$3")
  case $line in
    *"$4"*) ;;
    *) echo "FAIL: $1 $2 $(basename "$3"): expected '$4' first, got: $line"; fail=1 ;;
  esac
}
for cc in gcc clang; do
  command -v $cc >/dev/null 2>&1 || continue
  cxx=g++
  [ $cc = clang ] && cxx=clang++
  for lang in "$cc -std=c11" "$cxx -x c++ -std=c++17"; do
    comp=${lang%% *}
    flags=${lang#* }
    command -v "$comp" >/dev/null 2>&1 || continue
    check "$comp" "$flags" "$work/empty.c" "an event needs a message or a field"
    check "$comp" "$flags" "$work/many.c" "at most 64 fields and message arguments"
    check "$comp" "$flags -Wall" "$work/dropped.c" "warn_unused_result"
    if $comp $flags -Wall -Werror -I"$src/include" -c "$work/dropped.c" -o "$work/out.o" 2>/dev/null; then
      echo "FAIL: $comp $flags: a dropped span compiled without a warning"; fail=1
    fi
  done
done
[ $fail = 0 ] && echo "macro errors: ok"
exit $fail
