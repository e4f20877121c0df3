# A Debian package of everything `cmake --install` installs: `cpack -G DEB` in a build directory
# (tests/check_package.sh builds it, installs it into a scratch root and links a program to it).
#
# One package, without components, so that whatever an install() rule of this project installs
# (a new library, its headers, its pkg-config file) is in it without being listed here. Its
# dependencies are computed by dpkg-shlibdeps from the ELF files it contains (libc6 today; libcurl,
# PCRE2 or GLib when a library linking them is installed), and it ships a shlibs file and the
# ldconfig trigger, so `apt install ./libtrace-c-dev_*.deb` leaves the loader's cache up to date.
#
# Included by the top-level CMakeLists.txt, after the install rules, only when libtrace is the
# top-level project: a project that adds libtrace with add_subdirectory packages itself.

set(CPACK_PACKAGE_NAME "libtrace-c")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Scoped, structured, async-aware diagnostics for C")
if(NOT DEFINED CPACK_PACKAGE_CONTACT)
  set(CPACK_PACKAGE_CONTACT "the libtrace authors")
endif()
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
if(NOT DEFINED CPACK_GENERATOR)
  set(CPACK_GENERATOR DEB)
endif()

# The development package and the run-time library in one: headers, libtrace.so and its
# versioned name, libtrace.a, the CMake package and trace.pc.
set(CPACK_DEBIAN_PACKAGE_NAME "libtrace-c-dev")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# The first line of the description is CPACK_PACKAGE_DESCRIPTION_SUMMARY.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "The C counterpart of Rust's tracing: spans, events, typed fields, subscribers,\n\
a registry with layers, tracing-subscriber's text and JSON output and an\n\
env-filter. Headers, shared and static libraries, CMake package (trace::trace)\n\
and pkg-config file (trace).")
# Debian's libtrace3-dev (WAND's packet-capture library, unrelated) installs a libtrace.so and a
# libtrace.a too, in /usr/lib: with both installed, `-ltrace` links whichever the linker finds
# first. It provides the virtual package libtrace-dev.
set(CPACK_DEBIAN_PACKAGE_CONFLICTS "libtrace-dev, libtrace3-dev")
find_program(TRACE_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(TRACE_DPKG_SHLIBDEPS)
if(TRACE_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  message(STATUS "dpkg-shlibdeps not found (Debian: dpkg-dev): a DEB package made by cpack "
                 "would declare no dependencies")
endif()
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")

include(CPack)
