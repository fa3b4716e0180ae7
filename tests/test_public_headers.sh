#!/usr/bin/env bash
# The public headers (include/weft/*.h):
#   1. each compiles on its own as C11 with -Wall -Wextra -Wpedantic -Werror,
#      and as C++ when a C++ compiler is at hand (they are extern "C");
#   2. the private fields of the embeddable structs (the poll context's task,
#      budget, yielded and drivers, the join handle's task, the timer wheel
#      and reactor layouts of time.h and net.h) are declared only in
#      weft/private.h, through its WEFT_*_PRIVATE_FIELDS macros (libuv's
#      pattern), not in the headers that document the API; so are those of
#      the sync, MPMC, cancel, select and join-all futures (read_exact's and
#      write_all's `done` is public: documented, read after an error).
# Usage: test_public_headers.sh SOURCE_DIR C_COMPILER [CXX_COMPILER]
set -euo pipefail
src=$1
cc=$2
cxx=${3:-}
inc="$src/include"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for h in "$inc"/weft/*.h; do
  name=weft/$(basename "$h")
  printf '#include "%s"\n#include "%s"\n' "$name" "$name" >"$tmp/one.c"
  if ! "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$inc" -c "$tmp/one.c" -o "$tmp/one.o" 2>"$tmp/err"; then
    echo "$name does not compile alone as C11:"; cat "$tmp/err"; fail=1
  fi
  if [ -n "$cxx" ]; then
    cp "$tmp/one.c" "$tmp/one.cpp"
    if ! "$cxx" -std=c++17 -Wall -Wextra -Werror -I"$inc" -c "$tmp/one.cpp" -o "$tmp/one.o" 2>"$tmp/err"; then
      echo "$name does not compile as C++17:"; cat "$tmp/err"; fail=1
    fi
  fi
done
# A field declaration of a private name outside private.h.
private='(task|yielded|drivers|deadline_ns|seq|prev|next|level|slot|token|owner|fired|entry|linked|reactor|io|backoff|backoffs|addrs|addrlens|naddrs|last_err|chan|w|elem|done|result|registered|arms|n|winner|dropped|handles|outs|out_size|results|sem|notify|value)'
for h in "$inc"/weft/*.h; do
  [ "$(basename "$h")" = private.h ] && continue
  hits=$(grep -nE "^[[:space:]]+[A-Za-z_][A-Za-z_0-9 ]*[ *]$private(\[[A-Z_]+\])?;" "$h" | grep -v 'bytes read so far\|bytes written so far' || true)
  if [ -n "$hits" ]; then
    echo "$(basename "$h") declares private fields itself (they belong in weft/private.h):"
    echo "$hits"; fail=1
  fi
done
[ $fail -eq 0 ] && echo "public headers: each compiles alone; private fields only in weft/private.h"
exit $fail
