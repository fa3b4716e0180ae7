#!/usr/bin/env bash
# Installs weft from a build tree into a temporary prefix and builds a small
# consumer against it twice: through pkg-config and through CMake's
# find_package(weft), and checks that linking weft leaves the program alone
# (issue 14, item 5): weft.pc and the CMake package name only what the
# runtime needs (hwloc, pthread, libm), and neither consumer ends up with
# jemalloc (its malloc stays the system one) or libcrypto.
# Usage: test_install.sh BUILD_DIR C_COMPILER
set -euo pipefail
build=$1
cc=${2:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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
# 1. pkg-config
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig"
libs=$(pkg-config --libs --static weft)
for bad in jemalloc crypto ssl; do
    case " $libs " in *"-l$bad "*) fail "weft.pc lists -l$bad: $libs" ;; esac
done
for need in -lweft -lhwloc -lpthread; do
    case " $libs " in *" $need "*) ;; *) fail "weft.pc lacks $need: $libs" ;; esac
done
bash -c "$cc -std=c11 \$(pkg-config --cflags weft) '$tmp/main.c' -o '$tmp/via-pkgconfig' \$(pkg-config --libs weft)"
check_consumer "$tmp/via-pkgconfig" pkg-config
# 2. CMake package
mkdir -p "$tmp/consumer"
cp "$tmp/main.c" "$tmp/consumer/main.c"
cat > "$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(weft REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE weft::weft)
CM
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
check_consumer "$tmp/consumer/build/consumer" "CMake package"
if grep -rqiE 'jemalloc|crypto' "$tmp/prefix"/lib*/cmake/weft/ "$tmp/prefix"/lib/*/cmake/weft/ 2>/dev/null; then
    fail "the CMake package names jemalloc or libcrypto: $(grep -rliE 'jemalloc|crypto' "$tmp/prefix"/lib*/cmake/weft/)"
fi
echo "2 passed, 0 failed"
