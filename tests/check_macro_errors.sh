#!/bin/sh
# Mistakes in instrumentation meet one clear diagnostic, first, with GCC and Clang, in C and C++:
#   an event with neither message nor field, too many arguments (static assertions), and a span
#   whose handle is dropped (a warning: it could never be closed). In C++ also, as the only
#   error: a runtime string as a format, span name or target (C rejects those as non-constant
#   static initialisers; C++ would freeze the first call's value into the callsite), enabled and
#   compiled out, and a TF() value of a type it does not take.
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
# C++ only, one case a line: NAME, what GCC's and Clang's error says (FMT, NAME, TARGET: the
# three messages), the body of a function with std::string m and const S *s in scope.
cat > "$work/cxx_cases" <<'CASES'
format	FMT	FMT	TRACE_INFO(m.c_str());
format_args	FMT	FMT	TRACE_WARN(m.c_str(), 1);
span_name	NAME	NAME	trace_span x = TRACE_INFO_SPAN(m.c_str()); trace_span_close(&x);
span_name_string	NAME	NAME	trace_span x = TRACE_SPAN(TRACE_LEVEL_DEBUG, m, TF(k, 1)); trace_span_close(&x);
scope_name	NAME	NAME	TRACE_SCOPE(TRACE_LEVEL_INFO, m.c_str());
scope_named	NAME	NAME	TRACE_SCOPE_NAMED(sp, TRACE_LEVEL_INFO, m.data());
event_target	TARGET	TARGET	TRACE_EVENT_AT(m.c_str(), TRACE_LEVEL_INFO, "x");
span_target	TARGET	TARGET	trace_span x = TRACE_SPAN_AT(m.c_str(), TRACE_LEVEL_INFO, "x"); trace_span_close(&x);
member_array	is not a constant expression	'trace_i_span_name_must_be_a_literal'	TRACE_SCOPE(TRACE_LEVEL_INFO, s->name);
field_type	TF() takes	TF() takes	TRACE_INFO(TF(v, std::vector<int>()));
CASES
cxx_source() { # BODY [PREAMBLE]
  printf '%s\n' "${2:-}" '#include <string>' '#include <vector>' '#include <trace.h>' \
    'struct S { const char name[8]; };' 'void f(const std::string &m, const S *s);' \
    "void f(const std::string &m, const S *s) { (void)m; (void)s; $1 }"
}
# The first diagnostic contains EXPECTED, and it is the only error.
check_one() { # COMPILER FLAGS FILE EXPECTED
  check "$1" "$2" "$3" "$4"
  errors=$($1 $2 -I"$src/include" -c "$3" -o "$work/out.o" 2>&1 | grep -cE ': (fatal )?error' || true)
  if [ "$errors" != 1 ]; then
    echo "FAIL: $1 $2 $(basename "$3"): $errors errors, expected one"; fail=1
  fi
}
for cc in gcc clang; do
  command -v $cc >/dev/null 2>&1 || continue
  cxx=g++
  [ $cc = clang ] && cxx=clang++
  command -v $cxx >/dev/null 2>&1 || { echo "FAIL: $cxx is missing"; fail=1; continue; }
  while IFS='	' read -r case gcc_expect clang_expect body; do
    expect=$gcc_expect
    [ $cc = clang ] && expect=$clang_expect
    case $expect in
      FMT) expect="the message format must be a string literal" ;;
      NAME) expect="a span name must be a string literal" ;;
      TARGET) expect="a target must be a string literal" ;;
    esac
    cxx_source "$body" > "$work/cxx_$case.cpp"
    before=$fail
    fail=0
    check_one $cxx "-std=c++17 -Wall" "$work/cxx_$case.cpp" "$expect"
    # Compiled out, the literal rule and TF's types still hold (the member array aside: its
    # type is right and nothing is stored).
    [ "$case" = member_array ] || check_one $cxx "-std=c++17 -Wall -DTRACE_MAX_LEVEL=OFF" \
      "$work/cxx_$case.cpp" "$expect"
    [ $fail = 0 ] || echo "  ($case: $body)"
    [ "$before" = 0 ] || fail=1
  done < "$work/cxx_cases"
  cxx_source 'TRACE_INFO("x");' '#define TRACE_TARGET target_of_the_day()
const char *target_of_the_day();' > "$work/cxx_trace_target.cpp"
  check_one $cxx "-std=c++17 -Wall" "$work/cxx_trace_target.cpp" "a target must be a string literal"
done
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
