#!/bin/sh
# What a packager or a user installing libtrace gets, checked on the real artefacts.
#
#   check_package.sh paths <source dir> <build dir> <work dir>
#     `cmake --install` of the build into a scratch prefix: no installed file holds the source
#     directory, the build directory or the prefix (strings of every file, and the DWARF of the
#     libraries as readelf decodes it, so compressed sections are read too; every compilation
#     directory is relative), the library's own callsites name their files relative to the source
#     tree, and pkg-config prints what docs/getting-started.md shows. The scan is first shown to
#     find a path in an object compiled without the prefix maps.
#   check_package.sh deb <source dir> <build dir> <work dir>
#     `cpack -G DEB`: the package holds exactly what `cmake --install` installs and declares its
#     conflict with Debian's libtrace3-dev; `dpkg -i` into a scratch root (a chroot holding only
#     a shell, ldconfig and the C library, its dpkg database listing the host's packages that the
#     package depends on) runs its scripts, whose ldconfig makes a program linked with pkg-config
#     and no rpath run in that root; a package named libtrace3-dev is refused next to it; and
#     `dpkg -r` removes every file and the loader cache entry.
#   check_package.sh bare <source dir> <build dir> <work dir>
#     The README's build-and-install command, run verbatim on a copy of the sources with CMake
#     unable to find any library, header or package (as on a machine with only a compiler and
#     CMake): it configures with the tests off, builds and installs (into DESTDIR). Controls: the
#     same configuration with -DTRACE_BUILD_TESTS=ON fails naming cmocka, and without the
#     blindfold the tests default to on. The installed files hold no path of that build either.
#
# dpkg runs package scripts in a chroot: the deb check runs as root, or in a user namespace
# (unshare -r) otherwise.
set -eu
mode=$1
src=$(cd "$2" && pwd -P)
build=$(cd "$3" && pwd -P)
work=$4

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The paths that must not appear: each argument, as given and resolved.
forbidden_list() {
  for p in "$@"; do
    echo "$p"
    [ -d "$p" ] && (cd "$p" && pwd -P)
  done | sort -u
}

# Prints every file under $1 that holds one of the paths in the file $2, with what holds it;
# returns 1 if there is one.
scan_paths() {
  dir=$1
  pats=$2
  bad=0
  for f in $(find "$dir" -type f | sort); do
    if strings -a "$f" | grep -F -f "$pats" > "$work/hit" ||
       readelf --debug-dump=info,line "$f" 2>/dev/null | grep -v "^File: " |
         grep -F -f "$pats" > "$work/hit"; then
      echo "  $f: $(head -n 1 "$work/hit")"
      bad=1
    fi
    # A compilation directory must be relative: debuggers join it to relative file names.
    if readelf --debug-dump=info "$f" 2>/dev/null | grep 'DW_AT_comp_dir' |
       sed 's/.*: //' | grep '^/' > "$work/hit"; then
      echo "  $f: compilation directory $(head -n 1 "$work/hit")"
      bad=1
    fi
  done
  return $bad
}

check_paths() {
  rm -rf "$work"
  mkdir -p "$work"
  work=$(cd "$work" && pwd -P)
  # The scan finds what it is meant to find: an object with its DWARF paths left as they are.
  mkdir -p "$work/control"
  echo 'int trace_control(void) { return 1; }' > "$work/control/control.c"
  (cd "$work/control" && cc -g -c "$work/control/control.c" -o control.o)
  forbidden_list "$work/control" > "$work/control.pats"
  scan_paths "$work/control" "$work/control.pats" > /dev/null &&
    fail "the scan does not see the path of an object compiled with -g"

  prefix=$work/prefix
  cmake --install "$build" --prefix "$prefix" > /dev/null
  forbidden_list "$src" "$build" "$prefix" > "$work/pats"
  if ! scan_paths "$prefix" "$work/pats" > "$work/found"; then
    cat "$work/found"
    fail "installed files hold absolute paths of the build (-ffile-prefix-map)"
  fi

  lib=$(find "$prefix" -name 'libtrace.so.*.*' | head -n 1)
  [ -n "$lib" ] || fail "no libtrace.so.X.Y installed"
  # The library's own events (the callsites that __FILE__ names) say src/..., not /home/...
  strings -a "$lib" | grep -Eq '^event src/[a-z_/]+\.c:[0-9]+$' ||
    fail "no callsite of the library named relative to the source tree"

  # pkg-config prints what docs/getting-started.md says it prints (prefix /opt/trace there).
  pcdir=$(dirname "$(find "$prefix" -name trace.pc | head -n 1)")
  doc=$src/docs/getting-started.md
  want=$(awk '/^\$ PKG_CONFIG_PATH=\/opt\/trace\/[^ ]* pkg-config --cflags --libs trace$/ {
                getline; print; exit }' "$doc")
  [ -n "$want" ] || fail "$doc: no pkg-config transcript for /opt/trace"
  got=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs trace | sed "s|$prefix|/opt/trace|g")
  # (pkg-config ends its line with a space.)
  [ "${got% }" = "${want% }" ] ||
    fail "pkg-config --cflags --libs trace: '$got', $doc shows '$want'"

  # The name clash of docs/getting-started.md: another libtrace.so (soname libtrace.so.3, as
  # Debian's libtrace3-dev) in a directory the compiler searches before ours (LIBRARY_PATH
  # directories come after -L ones, as gcc's own /usr/lib does).
  # (Both directories end in lib: gcc treats such LIBRARY_PATH entries alike.)
  mkdir -p "$work/wand/lib"
  echo 'int trace_create(const char *uri) { return uri != 0; }' > "$work/wand/wand.c"
  cc -shared -fPIC -Wl,-soname,libtrace.so.3 "$work/wand/wand.c" -o "$work/wand/lib/libtrace.so"
  cat > "$work/clash.c" <<'C'
#include <trace.h>
#include <trace/fmt.h>
int main(void) {
  if (trace_init() != 0)
    return 1;
  TRACE_INFO("linked the right one");
  trace_shutdown();
  return 0;
}
C
  libdir=$(dirname "$lib")
  clash() { # name, link arguments...
    out=$work/clash-$1
    shift
    LIBRARY_PATH="$work/wand/lib:$libdir" cc -std=c11 -I"$prefix/include" "$work/clash.c" \
      -o "$out" "$@" > "$out.log" 2>&1
  }
  clash plain -ltrace && fail "-ltrace linked although another libtrace.so comes first"
  grep -q "undefined reference to .trace_init'" "$work/clash-plain.log" ||
    { cat "$work/clash-plain.log"; fail "-ltrace with the other libtrace.so first: not the documented error"; }
  # shellcheck disable=SC2046
  clash pkgconfig $(PKG_CONFIG_PATH=$pcdir pkg-config --libs trace) ||
    { cat "$work/clash-pkgconfig.log"; fail "linking with pkg-config next to another libtrace.so"; }
  clash soname -l:libtrace.so.0 ||
    { cat "$work/clash-soname.log"; fail "linking with -l:libtrace.so.0"; }
  clash fullpath "$libdir/libtrace.so" ||
    { cat "$work/clash-fullpath.log"; fail "linking by full path"; }
  for way in pkgconfig soname fullpath; do
    LD_LIBRARY_PATH=$libdir "$work/clash-$way" 2>&1 | grep -q "linked the right one" ||
      fail "linked by $way despite the other libtrace.so: does not run"
  done
  echo "paths: ok (no build path in $(find "$prefix" -type f | wc -l) installed files; pkg-config;" \
    "the other libtrace.so avoided by pkg-config, soname and full path)"
}

# Copies into the scratch root $1 the libraries the programs $3... need (resolving libtrace and
# its own dependencies in the root's directory $2), libtrace itself apart: the package has it.
copy_libs() {
  root=$1
  libdir=$2
  shift 2
  for f in "$@"; do
    LD_LIBRARY_PATH=$libdir ldd "$f" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'
  done | grep -v "^$root/" | sort -u | while read -r l; do
    mkdir -p "$root$(dirname "$l")"
    cp -L "$l" "$root$l"
  done
}

# A scratch root in which dpkg can run package scripts: a shell, ldconfig, and a dpkg database.
make_root() {
  root=$1
  mkdir -p "$root/bin" "$root/sbin" "$root/etc" "$root/tmp" "$root/var/lib/dpkg/info" \
    "$root/var/lib/dpkg/updates"
  cp /bin/sh "$root/bin/sh"
  cp "$(command -v ldconfig || echo /sbin/ldconfig)" "$root/sbin/ldconfig"
  : > "$root/etc/ld.so.conf"
  : > "$root/var/lib/dpkg/available"
  : > "$root/var/lib/dpkg/status"
  copy_libs "$root" /nonexistent /bin/sh
}

# Copies the host's dpkg status of every package the .deb $1 depends on into the scratch
# database directory $2, so that dpkg checks the dependencies against what really is installed.
copy_depends() {
  deps=$(dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/ //g; s/:.*//')
  for d in $deps; do
    dpkg-query -s "$d" > "$work/stanza" 2>/dev/null ||
      fail "the package depends on $d, which the host does not have"
    sed '/^Conffiles:/,/^[^ ]/{/^Conffiles:/d;/^ /d}' "$work/stanza" >> "$2/status"
    echo >> "$2/status"
    # No files of its own in the root.
    : > "$2/info/$d.list"
    : > "$2/info/$d:$(sed -n 's/^Architecture: //p' "$work/stanza").list"
  done
}

check_deb() {
  if [ "$(id -u)" != 0 ] && [ -z "${TRACE_IN_USERNS:-}" ]; then
    TRACE_IN_USERNS=1 exec unshare -r sh "$0" "$@"
  fi
  rm -rf "$work"
  mkdir -p "$work"
  work=$(cd "$work" && pwd -P)
  cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" > "$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log"; fail "cpack -G DEB"; }
  set -- "$work"/out/*.deb
  if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    fail "cpack made $# packages: $*"
  fi
  deb=$1
  name=$(dpkg-deb -f "$deb" Package)
  version=$(dpkg-deb -f "$deb" Version)
  want_version=$(sed -n 's/^Version: //p' "$build/trace.pc")
  [ "$version" = "$want_version" ] || fail "package version '$version', libtrace $want_version"
  dpkg-deb -f "$deb" Conflicts | grep -q 'libtrace3-dev' ||
    fail "$name does not declare its conflict with libtrace3-dev"
  dpkg-deb -f "$deb" Depends | grep -q 'libc6' || fail "$name: no dependency on libc6"

  # Exactly what `cmake --install` installs (the package has no components).
  cmake --install "$build" --prefix "$work/prefix" > /dev/null
  (cd "$work/prefix" && find . ! -type d | sed 's|^\./||' | sort) > "$work/installed"
  dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./usr/||' | sort > "$work/packaged"
  diff -u "$work/installed" "$work/packaged" > "$work/diff" ||
    { cat "$work/diff"; fail "$name does not hold what cmake --install installs"; }

  # A consumer linked with pkg-config against the package's files, with no rpath: it runs in
  # the root only because the package's script ran ldconfig there.
  root=$work/root
  make_root "$root"
  copy_depends "$deb" "$root/var/lib/dpkg"
  dpkg --root="$root" -i "$deb" > "$work/dpkg.log" 2>&1 ||
    { cat "$work/dpkg.log"; fail "dpkg -i $name into a scratch root"; }
  dpkg --root="$root" -s "$name" | grep -q '^Status: install ok installed' ||
    fail "$name is not installed in the scratch root"
  ldconfig -C "$root/etc/ld.so.cache" -p | grep -q 'libtrace\.so\.[0-9]' ||
    fail "the package's scripts did not run ldconfig"
  forbidden_list "$src" "$build" > "$work/pats"
  if ! scan_paths "$root/usr" "$work/pats" > "$work/found"; then
    cat "$work/found"
    fail "packaged files hold absolute paths of the build"
  fi
  pcdir=$(dirname "$(find "$root/usr" -name trace.pc | head -n 1)")
  cat > "$work/main.c" <<'C'
#include <trace.h>
#include <trace/fmt.h>
#include <stdio.h>
int main(void) {
  if (trace_init() != 0)
    return 1;
  TRACE_INFO(TF(version, trace_version_string()), "packaged");
  trace_shutdown();
  return 0;
}
C
  # shellcheck disable=SC2046
  cc -std=c11 "$work/main.c" -o "$root/consumer" $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs trace)
  readelf -d "$root/consumer" | grep -Eq 'RPATH|RUNPATH' && fail "the consumer has an rpath"
  copy_libs "$root" "$(dirname "$(find "$root/usr" -name 'libtrace.so.*.*' | head -n 1)")" \
    "$root/consumer"
  chroot "$root" /consumer 2> "$work/consumer.out" ||
    { cat "$work/consumer.out"; fail "the consumer does not run in the scratch root"; }
  grep -q "INFO main: packaged version=\"$version\"" "$work/consumer.out" ||
    { cat "$work/consumer.out"; fail "consumer output"; }

  # Debian's unrelated libtrace3-dev installs /usr/lib/libtrace.so too: dpkg refuses it.
  mkdir -p "$work/wand/DEBIAN" "$work/wand/usr/lib"
  : > "$work/wand/usr/lib/libtrace.so"
  cat > "$work/wand/DEBIAN/control" <<EOF
Package: libtrace3-dev
Version: 3.0.22-0.1
Architecture: all
Maintainer: nobody <nobody@example.org>
Provides: libtrace-dev
Description: stands in for WAND's packet-capture library
EOF
  dpkg-deb --build "$work/wand" "$work/wand.deb" > /dev/null
  if dpkg --root="$root" -i "$work/wand.deb" > "$work/wand.log" 2>&1; then
    fail "dpkg installed libtrace3-dev next to $name"
  fi
  grep -q "conflicting packages - not installing libtrace3-dev" "$work/wand.log" ||
    { cat "$work/wand.log"; fail "libtrace3-dev refused for another reason than the conflict"; }

  dpkg --root="$root" -r "$name" > "$work/remove.log" 2>&1 ||
    { cat "$work/remove.log"; fail "dpkg -r $name"; }
  left=$(find "$root/usr" ! -type d 2>/dev/null || true)
  [ -z "$left" ] || fail "dpkg -r left files: $left"
  ldconfig -C "$root/etc/ld.so.cache" -p | grep -q 'libtrace\.so' &&
    fail "the loader cache still lists libtrace after dpkg -r"
  echo "deb: ok ($(basename "$deb"): installs, links, runs, conflicts, removes)"
}

# A copy of the sources: the git checkout's files (committed or not, ignored ones apart), or
# everything but the build directories.
copy_sources() {
  mkdir -p "$1"
  if git -C "$src" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    # (--ignore-failed-read: a tracked file deleted in the work tree is not copied.)
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
       tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$1" -xf -
  else
    tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$1" -xf -
  fi
}

check_bare() {
  rm -rf "$work"
  mkdir -p "$work/empty/pkgconfig"
  work=$(cd "$work" && pwd -P)
  cmd=$(grep -m 1 -E '^cmake -S \. -B build .*cmake --install build$' "$src/README.md") ||
    fail "README.md: no 'cmake -S . -B build ... && cmake --install build' command"
  copy_sources "$work/src"
  # CMake's find_* commands and pkg-config see an empty system; the compiler is the only tool
  # that knows where the C library is.
  cat > "$work/blind.cmake" <<EOF
set(CMAKE_FIND_ROOT_PATH "$work/empty")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
EOF
  blind() {
    env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$work/empty/pkgconfig" \
      CMAKE_TOOLCHAIN_FILE="$work/blind.cmake" "$@"
  }

  # Control: blindfolded, asking for the tests fails, and names what is missing.
  if blind cmake -S "$work/src" -B "$work/tests-on" -DTRACE_BUILD_TESTS=ON \
       > "$work/tests-on.log" 2>&1; then
    fail "-DTRACE_BUILD_TESTS=ON configured although cmocka is hidden: the blindfold leaks"
  fi
  grep -q CMOCKA "$work/tests-on.log" ||
    { cat "$work/tests-on.log"; fail "-DTRACE_BUILD_TESTS=ON without cmocka: no word of cmocka"; }
  # Control: without the blindfold the tests default to on, so the blindfold is what turns
  # them off below.
  cmake -S "$work/src" -B "$work/seeing" > "$work/seeing.log" 2>&1 ||
    { cat "$work/seeing.log"; fail "configuring with cmocka visible"; }
  grep -q '^TRACE_BUILD_TESTS:BOOL=ON$' "$work/seeing/CMakeCache.txt" ||
    fail "with cmocka found, the tests are not on by default"

  # The README's command, verbatim, in the copy; installed under DESTDIR instead of /usr/local.
  (cd "$work/src" && blind env DESTDIR="$work/dest" CMAKE_BUILD_PARALLEL_LEVEL=2 sh -ec "$cmd") \
    > "$work/readme.log" 2>&1 || { tail -n 40 "$work/readme.log"; fail "the README's command: $cmd"; }
  cache=$work/src/build/CMakeCache.txt
  grep -q '^TRACE_BUILD_TESTS:BOOL=OFF$' "$cache" || fail "the tests are on without cmocka"
  grep -q '^CMOCKA_INCLUDE_DIR:PATH=CMOCKA_INCLUDE_DIR-NOTFOUND$' "$cache" ||
    fail "cmocka was found through the blindfold"
  [ -z "$(find "$work/src/build" -name 'test_*' -type f)" ] || fail "test programs were built"
  lib=$(find "$work/dest" -name 'libtrace.so' | head -n 1)
  if [ -z "$lib" ] || [ ! -f "$(find "$work/dest" -name trace.h | head -n 1)" ]; then
    fail "the README's command installed no library or header"
  fi
  # A Release build (the README's) carries no build path either.
  forbidden_list "$work/src" "$work/src/build" > "$work/pats"
  if ! scan_paths "$work/dest" "$work/pats" > "$work/found"; then
    cat "$work/found"
    fail "the README's Release build installs absolute paths of the build"
  fi
  echo "bare: ok (README: $cmd)"
}

case $mode in
  paths) check_paths ;;
  deb) check_deb "$@" ;;
  bare) check_bare ;;
  *) fail "unknown mode $mode (paths, deb or bare)" ;;
esac
