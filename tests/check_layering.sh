#!/bin/sh
# The layering rule of docs/architecture.md, checked on the sources and on the objects:
#   common  <- text  <- core                     (lower modules never reach up)
#   peers: registry fmt filter writer testing init (and every module added since) use the public
#   headers, common and text only; never core's or another peer's internals.
# 1. Includes: every #include "..." in src/<module>/ names a file of an allowed module (or a public
#    header, include/trace.h or include/trace/...).
# 2. Symbols: every trace__* symbol an object of a module uses is defined by an object of an
#    allowed module (or is one of the macro internals that trace.h's own macros call, declared in
#    include/trace/detail/macros.h). Public trace_* functions are anyone's to call, except that
#    common and text call nothing above them at all.
# Usage: check_layering.sh SOURCE_DIR OBJECT_DIR (the object library's .../trace_objects.dir/src)
set -u
src=$1/src
objs=$2
fail=0

allowed() { # MODULE: the modules it may use besides itself
  case $1 in
    common) echo "" ;;
    text) echo "common" ;;
    core) echo "common text" ;;
    *) echo "common text" ;;
  esac
}

# 1. Includes.
for dir in "$src"/*/; do
  m=$(basename "$dir")
  [ "$m" = tools ] && continue
  ok=" $m $(allowed "$m") "
  for f in "$dir"*.c "$dir"*.h; do
    [ -f "$f" ] || continue
    grep -n '^#include "' "$f" | while IFS= read -r line; do
      inc=$(echo "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
      case $inc in
        trace.h|trace/*) continue ;;          # public headers
        ../*/*) target=$(echo "$inc" | cut -d/ -f2) ;;
        *) target=$m ;;                         # same directory
      esac
      case $ok in
        *" $target "*) ;;
        *) echo "FAIL: src/$m/$(basename "$f"):${line%%:*} includes $inc ($m may use: $(allowed "$m"))"
           echo x >> "$objs/../layering.fail" ;;
      esac
    done
  done
done

# 2. Symbols.
macro_internals="trace__callsite_check trace__event trace__span_new trace__span_new_remote trace__register_callsites trace__unregister_callsites"
defined_in() { # MODULE: the trace symbols its objects define
  nm --defined-only "$objs/$1"/*.o 2>/dev/null | awk '$2 ~ /[TDBR]/ && $3 ~ /^trace_/ { print $3 }'
}
for dir in "$objs"/*/; do
  m=$(basename "$dir")
  provided=$(for a in $m $(allowed "$m"); do defined_in "$a"; done | sort -u)
  used=$(nm --undefined-only "$dir"*.o 2>/dev/null | awk '$2 == "U" && $3 ~ /^trace_/ { print $3 }' | sort -u)
  for sym in $used; do
    case " $macro_internals " in *" $sym "*) continue ;; esac
    case $sym in
      trace__*) ;;
      *) [ "$m" = common ] || [ "$m" = text ] || continue ;; # public API: anyone's, but not below
    esac
    if ! echo "$provided" | grep -qx "$sym"; then
      echo "FAIL: src/$m uses $sym, which none of $m $(allowed "$m") defines"
      fail=1
    fi
  done
done
if [ -f "$objs/../layering.fail" ]; then
  rm -f "$objs/../layering.fail"
  fail=1
fi
[ $fail = 0 ] && echo "layering: ok"
exit $fail
