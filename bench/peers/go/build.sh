#!/bin/bash
# bench/peers/go/build.sh OUTDIR - builds weft-peer-go into OUTDIR with
# Debian's Go (golang-go, /usr/bin/go; Go 1.19), offline: no module is
# fetched (GOPROXY=off, standard library only) and the build cache lives
# under OUTDIR, so the build does not depend on $HOME.
# Exit 0: built; 3: no Go toolchain (the caller leaves the peer out);
# 2: bad usage; anything else: the build failed.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out=$1
src=$(cd "$(dirname "$0")" && pwd)
go=${GO:-/usr/bin/go}
if [ ! -x "$go" ]; then
    echo "weft-peer-go: not built: no Go toolchain at $go (apt-get install golang-go)" >&2
    exit 3
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
export GOCACHE="$out/.go-cache" GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on GOTOOLCHAIN=local CGO_ENABLED=0
cd "$src"
"$go" build -trimpath -o "$out/weft-peer-go" .
echo "built $out/weft-peer-go ($("$go" version | cut -d' ' -f3))"
