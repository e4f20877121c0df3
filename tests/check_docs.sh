#!/bin/sh
# The code in the documentation must compile, so that it cannot rot: every ```c block of
# docs/*.md is extracted into its own file and compiled as C11 with -Wall -Wextra -Werror. A block
# that defines main() is also linked against the library and run (in a scratch directory, with
# TRACE_FILTER, TRACE_FORMAT and NO_COLOR unset), and must exit with 0 within 20 seconds.
# Fragments of a larger program are tagged ```c fragment (highlighted as C, not compiled); other
# languages use their own tag (```text, ```sh, ```cmake, ```cpp).
#
# Usage: check_docs.sh <source dir> <libtrace.so> <work dir>      (CC picks the compiler)
set -eu
src=$1
lib=$2
work=$3
cc=${CC:-cc}
rm -rf "$work"
mkdir -p "$work"

# Extract: one file per block, named after the page and the line of its opening fence.
for md in "$src"/docs/*.md; do
  page=$(basename "$md" .md)
  awk -v dir="$work" -v page="$page" '
    /^[ \t]*```/ {
      if (out != "") { close(out); out = ""; next }
      if (!skip && $0 ~ /^[ \t]*```c[ \t]*$/) { out = sprintf("%s/%s_%04d.c", dir, page, NR); next }
      skip = !skip; next
    }
    out != "" { print > out }
  ' "$md"
done

count=0
failed=0
for c in "$work"/*.c; do
  [ -e "$c" ] || continue
  count=$((count + 1))
  name=$(basename "$c" .c)
  where="docs/${name%_*}.md:$(echo "${name##*_}" | sed 's/^0*//')"
  if grep -Eq '^int main\(' "$c"; then
    if ! $cc -std=c11 -Wall -Wextra -Werror -I"$src/include" "$c" -o "$work/$name" "$lib" \
         -lpthread -lm -Wl,-rpath,"$(dirname "$lib")" 2> "$work/$name.log"; then
      echo "FAIL $where: does not compile and link"; cat "$work/$name.log"; failed=$((failed + 1))
      continue
    fi
    if ! (cd "$work" && env -u TRACE_FILTER -u TRACE_FORMAT -u NO_COLOR \
          timeout 20 "./$name" > "$name.out" 2>&1 < /dev/null); then
      echo "FAIL $where: the program does not exit with 0"; cat "$work/$name.out"
      failed=$((failed + 1))
      continue
    fi
  elif ! $cc -std=c11 -Wall -Wextra -Werror -I"$src/include" -c "$c" -o "$work/$name.o" \
       2> "$work/$name.log"; then
    echo "FAIL $where: does not compile"; cat "$work/$name.log"; failed=$((failed + 1))
    continue
  fi
  echo "ok   $where"
done

if [ "$count" -eq 0 ]; then
  echo "FAIL: no C block found in $src/docs"
  exit 1
fi
echo "$((count - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
