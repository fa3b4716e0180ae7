#!/usr/bin/env bash
# Installs weft from a build tree into a temporary prefix and builds a small
# consumer against it twice: through pkg-config and through CMake's
# find_package(weft), and checks that linking weft leaves the program alone
# (issue 14, item 5): weft.pc and the CMake package name only what the
# runtime needs (hwloc, pthread, libm), and neither consumer ends up with
# jemalloc (its malloc stays the system one) or libcrypto. In a sanitizer build (-DWEFT_SANITIZE=...) the
# consumer is built exactly as a user would, with no flags of its own: the
# package must carry -fsanitize. With SOURCE_DIR it also runs the
# documented `make install PREFIX=...` and checks that it built the library
# only (no tests, no examples, no C++ benchmark).
# Usage: test_install.sh BUILD_DIR C_COMPILER [SOURCE_DIR]
set -euo pipefail
build=$1
cc=${2:-cc}
src=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
fail() { echo "FAIL: $*" >&2; exit 1; }
# A consumer must get the program's own allocator and no libcrypto.
check_consumer() { # BINARY WHAT
    local out
    out=$("$1") || fail "$2: the consumer failed: $out"
    echo "$out"
    case "$out" in
        system:*) ;;
        *) fail "$2: the consumer's malloc is not the system one ($out): weft changed the program's allocator" ;;
    esac
    if ldd "$1" | grep -Eq 'libjemalloc|libcrypto'; then
        fail "$2: the consumer links $(ldd "$1" | grep -Eo 'lib(jemalloc|crypto)[^ ]*' | tr '\n' ' ')"
    fi
}
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/main.c" <<'C'
#include <stdio.h>
#include "weft/runtime.h"
#include "weft/time.h"
typedef struct st { int coro; weft_sleep s; } st;
static weft_poll run(void *p, weft_context *cx, void *out) {
    st *s = p;
    WEFT_CORO_BEGIN(s);
    weft_sleep_init(&s->s, 1 * WEFT_MS);
    WEFT_AWAIT(s, weft_sleep_poll(&s->s, cx));
    WEFT_CORO_RETURN(s, out, int, 42);
    WEFT_CORO_END(s);
}
int main(void) {
    static const weft_future_type t = {"t", run, NULL, sizeof(st), sizeof(int)};
    int out = 0;
    int rc = weft_run(&t, NULL, &out);
    printf("%s: rc=%d out=%d\n", weft_build_allocator(), rc, out);
    return rc == 0 && out == 42 ? 0 : 1;
}
C
# 1. pkg-config (compile and link as two steps, as a Makefile does)
pc() {
  PKG_CONFIG_PATH="$1/lib/pkgconfig:$1/lib/x86_64-linux-gnu/pkgconfig" pkg-config "${@:2}"
}
build_pc() { # PREFIX OUTPUT
  # shellcheck disable=SC2046
  "$cc" -std=c11 $(pc "$1" --cflags weft) -c "$tmp/main.c" -o "$2.o"
  # shellcheck disable=SC2046
  "$cc" "$2.o" -o "$2" $(pc "$1" --libs weft)
}
libs=$(pc "$tmp/prefix" --libs --static weft)
for bad in jemalloc crypto ssl; do
    case " $libs " in *"-l$bad "*) fail "weft.pc lists -l$bad: $libs" ;; esac
done
for need in -lweft -lhwloc -lpthread; do
    case " $libs " in *" $need "*) ;; *) fail "weft.pc lacks $need: $libs" ;; esac
done
build_pc "$tmp/prefix" "$tmp/via-pkgconfig"
check_consumer "$tmp/via-pkgconfig" pkg-config
passed=$((passed + 1))
# 2. CMake package
mkdir -p "$tmp/consumer"
cp "$tmp/main.c" "$tmp/consumer/main.c"
# across.c keeps a local across a WEFT_AWAIT (garbage after the resume): a
# gcc consumer of weft::weft gets -Wjump-misses-init from the package.
cat > "$tmp/consumer/across.c" <<'C'
#include "weft/time.h"
typedef struct st { int coro; weft_sleep s; } st;
weft_poll across(void *p, weft_context *cx, void *out);
weft_poll across(void *p, weft_context *cx, void *out) {
    st *s = p;
    WEFT_CORO_BEGIN(s);
    int n = 42;
    weft_sleep_init(&s->s, 1 * WEFT_MS);
    WEFT_AWAIT(s, weft_sleep_poll(&s->s, cx));
    WEFT_CORO_RETURN(s, out, int, n);
    WEFT_CORO_END(s);
}
C
cat > "$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(weft REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE weft::weft)
add_library(across OBJECT EXCLUDE_FROM_ALL across.c)
target_link_libraries(across PRIVATE weft::weft)
CM
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
check_consumer "$tmp/consumer/build/consumer" "CMake package"
if grep -rqiE 'jemalloc|crypto' "$tmp/prefix"/lib*/cmake/weft/ "$tmp/prefix"/lib/*/cmake/weft/ 2>/dev/null; then
    fail "the CMake package names jemalloc or libcrypto: $(grep -rliE 'jemalloc|crypto' "$tmp/prefix"/lib*/cmake/weft/)"
fi
if ! echo | "$cc" -dM -E - | grep -q __clang__; then
  cmake --build "$tmp/consumer/build" --target across >"$tmp/across.log" 2>&1 || true
  if ! grep -q 'Wjump-misses-init' "$tmp/across.log"; then
    echo "weft::weft gave a gcc consumer no -Wjump-misses-init: a local across an await compiled silently"
    cat "$tmp/across.log"; exit 1
  fi
fi
passed=$((passed + 1))
# 3. make install PREFIX=... builds the library and nothing else
if [ -n "$src" ]; then
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$src" install PREFIX="$tmp/mk-prefix" BUILD="$tmp/mk-build" CC="$cc" CMAKE_FLAGS= \
    >"$tmp/make-install.log" 2>&1 || { cat "$tmp/make-install.log"; exit 1; }
  built=$(find "$tmp/mk-build/release" -type f -perm -u+x \( -name 'test_*' -o -name 'weft-*' \
    -o -name hello -o -name echo_server \) -not -path '*/CMakeFiles/*' | head -5)
  if [ -n "$built" ]; then
    echo "make install built more than the library:"; echo "$built"; exit 1
  fi
  test -f "$tmp/mk-prefix/include/weft/runtime.h"
  build_pc "$tmp/mk-prefix" "$tmp/via-make-install"
  "$tmp/via-make-install"
  passed=$((passed + 1))
fi
echo "$passed passed, 0 failed"
