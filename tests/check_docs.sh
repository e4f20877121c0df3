#!/bin/sh
# The code in the documentation must work, so that it cannot rot. For README.md and docs/*.md,
# block by block in page order (the info string after the opening fence says what a block is):
#
#   ```c             compiled as C11 with -Wall -Wextra -Werror. A block that defines main() is
#                    also linked against the library and run in the page's scratch directory,
#                    and must exit with 0 within 20 seconds.
#   ```c file=NAME   the same, and the block is also saved as NAME in the page's scratch
#                    directory, for the shell blocks below it to build ("Saved as NAME").
#   ```c fragment    part of a larger program: highlighted as C, not compiled.
#   ```cpp           the same as ```c, as C++17 (-Wall -Wextra -Werror, linked with -pthread),
#                    by the C++ compiler CXX; ```cpp file=NAME and ```cpp fragment too.
#   ```sh run        run with sh -e in the page's scratch directory; must exit with 0.
#   ```console run   a transcript: each line starting with "$ " is a command, run there with sh,
#                    and the lines up to the next command are what it prints (stdout and stderr
#                    together; the exit status is not checked, the output is).
#   ```text output   what the run block just before it (a C or C++ program, ```sh run) prints.
#
# Other blocks (```sh, ```text, ```cmake, ...) are shown, not run: commands that need
# root, a network service or a long time are not marked run. Printed output is compared after
# RFC 3339 timestamps are replaced by one placeholder on both sides; an expected line "..."
# stands for any number of lines. Everything runs with TRACE_FILTER, TRACE_FORMAT and NO_COLOR
# unset, cc finding the library's headers and the built libtrace through CPATH, LIBRARY_PATH and
# LD_LIBRARY_PATH, and `build` in the scratch directory pointing at the build directory (so that
# `build/examples/...` works as it does from the source tree).
#
# Usage: check_docs.sh [--update] <source dir> <libtrace.so> <work dir> [<build dir>]
#   (CC and CXX pick the compilers of the C and C++ blocks.) --update rewrites the expected output
#   of every block that differs with what was printed (keeping a "..." cut where there was one):
#   the way to regenerate a sample after a change, to be reviewed with git diff.
set -eu
update=0
if [ "${1:-}" = --update ]; then
  update=1
  shift
fi
src=$(cd "$1" && pwd -P)
lib=$2
work=$3
build=${4:+$(cd "$4" && pwd -P)}
cc=${CC:-cc}
cxx=${CXX:-c++}
libdir=$(cd "$(dirname "$lib")" && pwd -P)
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd -P)

# Programs and commands of the pages run in this environment.
run_env() {
  env -u TRACE_FILTER -u TRACE_FORMAT -u NO_COLOR \
    CPATH="$src/include${CPATH:+:$CPATH}" \
    LIBRARY_PATH="$libdir${LIBRARY_PATH:+:$LIBRARY_PATH}" \
    LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
}

# Replaces timestamps by a placeholder.
normalise() {
  sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})/<time>/g' "$1"
}

# Does the output $2 match the expected text $1 ("..." lines match any lines)?
matches() {
  normalise "$1" > "$work/want.n"
  normalise "$2" > "$work/got.n"
  awk '
    BEGIN { m = 0; n = 0 }
    FILENAME == ARGV[1] { w[++m] = $0; next }
    { g[++n] = $0 }
    END {
      # ok[i, j]: the first i expected lines match the first j printed lines.
      ok[0, 0] = 1
      for (i = 1; i <= m; i++) if (w[i] == "..." && ok[i - 1, 0]) ok[i, 0] = 1
      for (i = 1; i <= m; i++)
        for (j = 1; j <= n; j++)
          if (w[i] == "...") ok[i, j] = ok[i - 1, j] || ok[i, j - 1]
          else ok[i, j] = ok[i - 1, j - 1] && w[i] == g[j]
      exit !ok[m, n]
    }' "$work/want.n" "$work/got.n"
}

# The expected text for the output $1 that is to replace $2 in --update: the output, cut the
# way $2 was cut (its lines before its first "..." and after its last one).
regenerate() {
  awk '
    BEGIN { m = 0; n = 0 }
    FILENAME == ARGV[1] { w[++m] = $0; if ($0 == "...") { if (!first) first = m; last = m }; next }
    { g[++n] = $0 }
    END {
      if (!first || n <= m - 1) { for (j = 1; j <= n; j++) print g[j]; exit }
      head = first - 1; tail = m - last
      for (j = 1; j <= head; j++) print g[j]
      print "..."
      for (j = n - tail + 1; j <= n; j++) print g[j]
    }' "$2" "$1"
}

failed=0
count=0
report() { # where, what; the rest of the report is on stdout already
  echo "FAIL $1: $2"
  failed=$((failed + 1))
}

# Records that lines $2..$3 of page $1 (the content of a block) are to become the file $4.
replace_later() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$work/updates"
}

# Compares the expected file $1 (block content at $3:$4-$5) with the printed file $2.
compare() {
  if matches "$1" "$2"; then
    return 0
  fi
  report "$3:$4" "printed output differs from the page (- page, + printed, timestamps as <time>)"
  normalise "$1" > "$work/want.n"
  normalise "$2" > "$work/got.n"
  diff -u "$work/want.n" "$work/got.n" | tail -n +3 || true
  if [ $update = 1 ]; then
    regenerate "$2" "$1" > "$work/regen.$4"
    replace_later "$3" "$4" "$5" "$work/regen.$4"
  fi
  return 1
}

# A ```console run block: its commands, each compared with the lines after it.
run_transcript() { # block file, page dir, page path, first content line
  block=$1
  dir=$2
  md=$3
  first=$4
  n=$(wc -l < "$block")
  : > "$work/transcript.new"
  changed=0
  i=1
  while [ "$i" -le "$n" ]; do
    line=$(sed -n "${i}p" "$block")
    case $line in
      '$ '*) ;;
      *) report "$md:$((first + i - 1))" "transcript line before any command"; return ;;
    esac
    cmd=${line#\$ }
    # The expected output: up to the next command.
    j=$((i + 1))
    while [ "$j" -le "$n" ] && ! sed -n "${j}p" "$block" | grep -q '^\$ '; do
      j=$((j + 1))
    done
    : > "$work/want"
    [ "$j" -gt $((i + 1)) ] && sed -n "$((i + 1)),$((j - 1))p" "$block" > "$work/want"
    (cd "$dir" && run_env timeout 20 sh -c "$cmd" > "$work/got" 2>&1 < /dev/null) || true
    echo "$line" >> "$work/transcript.new"
    if matches "$work/want" "$work/got"; then
      cat "$work/want" >> "$work/transcript.new"
    else
      report "$md:$((first + i - 1))" "\$ $cmd: printed output differs (- page, + printed)"
      normalise "$work/want" > "$work/want.n"
      normalise "$work/got" > "$work/got.n"
      diff -u "$work/want.n" "$work/got.n" | tail -n +3 || true
      regenerate "$work/got" "$work/want" >> "$work/transcript.new"
      changed=1
    fi
    i=$j
  done
  if [ $changed = 1 ] && [ $update = 1 ]; then
    cp "$work/transcript.new" "$work/regen.$first"
    replace_later "$md" "$first" "$((first + n - 1))" "$work/regen.$first"
  fi
}

for md in "$src/README.md" "$src"/docs/*.md; do
  rel=${md#"$src"/}
  page=$(echo "$rel" | sed 's|^docs/||; s|\.md$||; s|/|_|g')
  dir=$work/$page
  mkdir -p "$dir/blocks"
  [ -n "$build" ] && ln -s "$build" "$dir/build"
  # Extract: one file per block, named after the line of its first content line, and a list of
  # "first-line last-line info-string".
  awk -v dir="$dir/blocks" '
    /^[ \t]*```/ {
      if (out != "") { close(out); printf "%d\t%d\t%s\n", start, NR - 1, info; out = ""; next }
      info = $0; sub(/^[ \t]*```/, "", info); sub(/[ \t]+$/, "", info)
      start = NR + 1; out = sprintf("%s/%05d", dir, start); printf "" > out; next
    }
    out != "" { print > out }
  ' "$md" > "$dir/blocks.list"

  pending=""
  while IFS='	' read -r first last info; do
    block=$dir/blocks/$(printf '%05d' "$first")
    where="$rel:$((first - 1))"
    set -f
    # shellcheck disable=SC2086
    set -- $info
    set +f
    lang=${1:-}
    [ $# -gt 0 ] && shift
    flags=" $* "
    kind=shown
    case $lang in
      c) case $flags in *' fragment '*) ;; *) kind=c ;; esac ;;
      cpp) case $flags in *' fragment '*) ;; *) kind=cpp ;; esac ;;
      sh) case $flags in *' run '*) kind=script ;; esac ;;
      console) case $flags in *' run '*) kind=console ;; esac ;;
      text) case $flags in *' output '*) kind=output ;; esac ;;
    esac
    prev_pending=$pending
    pending=""
    case $kind in
      c|cpp)
        count=$((count + 1))
        name=${page}_$first
        if [ $kind = c ]; then
          compile="$cc -std=c11"
          csrc=$dir/$name.c
        else
          compile="$cxx -std=c++17 -pthread"
          csrc=$dir/$name.cpp
        fi
        for f in $flags; do
          case $f in file=*) csrc=$dir/${f#file=} ;; esac
        done
        # (Compiled under its file name when it has one: the default target comes from it.)
        cp "$block" "$csrc"
        if grep -Eq '^int main\(' "$block"; then
          if ! $compile -Wall -Wextra -Werror -I"$src/include" "$csrc" -o "$dir/$name" \
               "$lib" -lpthread -lm -Wl,-rpath,"$libdir" 2> "$dir/$name.log"; then
            report "$where" "does not compile and link"; cat "$dir/$name.log"; continue
          fi
          if ! (cd "$dir" && run_env timeout 20 "./$name" > "$name.out" 2>&1 < /dev/null); then
            report "$where" "the program does not exit with 0"; cat "$dir/$name.out"; continue
          fi
          pending=$dir/$name.out
        elif ! $compile -Wall -Wextra -Werror -I"$src/include" -c "$csrc" \
               -o "$dir/$name.o" 2> "$dir/$name.log"; then
          report "$where" "does not compile"; cat "$dir/$name.log"; continue
        fi
        echo "ok   $where"
        ;;
      script)
        count=$((count + 1))
        if ! (cd "$dir" && run_env timeout 60 sh -e "$block" > "$dir/sh_$first.out" 2>&1 \
              < /dev/null); then
          report "$where" "the commands do not exit with 0"; cat "$dir/sh_$first.out"; continue
        fi
        pending=$dir/sh_$first.out
        echo "ok   $where"
        ;;
      console)
        count=$((count + 1))
        before=$failed
        run_transcript "$block" "$dir" "$rel" "$first"
        [ $failed = "$before" ] && echo "ok   $where"
        ;;
      output)
        count=$((count + 1))
        if [ -z "$prev_pending" ]; then
          report "$where" "an output block that follows no program or run block"
        elif compare "$block" "$prev_pending" "$rel" "$first" "$last"; then
          echo "ok   $where (output)"
        fi
        ;;
    esac
  done < "$dir/blocks.list"
done

# --update: rewrite the blocks, from the bottom of each page up so that line numbers hold.
if [ $update = 1 ] && [ -s "$work/updates" ]; then
  sort -t '	' -k1,1 -k2,2nr "$work/updates" | while IFS='	' read -r rel first last file; do
    awk -v first="$first" -v last="$last" -v file="$file" '
      NR == first { while ((getline l < file) > 0) print l }
      NR >= first && NR <= last { next }
      { print }
    ' "$src/$rel" > "$work/page.new"
    # (An empty block, first > last, gets the lines before its closing fence.)
    cat "$work/page.new" > "$src/$rel"
    echo "updated $rel:$((first - 1))"
  done
fi

if [ "$count" -eq 0 ]; then
  echo "FAIL: no block found in $src/docs"
  exit 1
fi
echo "$((count - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
