#!/bin/bash
# bench/peers/rust/build.sh OUTDIR: builds weft-peer-tokio and weft-peer-async-std
# (release, offline, Debian's toolchain and crates) and copies them into OUTDIR.
# Exit 3, with one line saying what to install, when the toolchain or a crate
# is missing, so the caller can leave the Rust peers out; 1 on other failures.
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
CARGO=/usr/bin/cargo RUSTC=/usr/bin/rustc
PKGS="cargo rustc librust-tokio-dev librust-async-std-dev librust-async-io-dev librust-futures-lite-dev librust-sha1-dev librust-smallvec-dev librust-libc-dev"
missing() { echo "build.sh: Rust peers not built: $1 (apt-get install $PKGS)" >&2; exit 3; }
[ -x "$CARGO" ] && [ -x "$RUSTC" ] || missing "Debian's cargo/rustc not found at /usr/bin"
reg=/usr/share/cargo/registry
for c in tokio-1.24 async-std-1.12 async-io-1.11 futures-lite-1.12 sha1-0.10 smallvec-1 libc-0.2; do
    compgen -G "$reg/$c*" >/dev/null || missing "crate ${c%-*} not in $reg"
done
mkdir -p "$out" || exit 1
log=$(mktemp)
# Debian's toolchain first on PATH: a rustup cargo/rustc earlier on PATH must not be used
if ! (cd "$here" && PATH=/usr/bin:$PATH RUSTC=$RUSTC "$CARGO" build --release --offline --locked >"$log" 2>&1); then
    if grep -qE "no matching package|failed to select a version|failed to load source" "$log"; then
        missing "a crate is missing from $reg ($(grep -m1 -oE "no matching package named \`[^\`]*\`|failed to select a version for[^.]*" "$log"))"
    fi
    cat "$log" >&2
    rm -f "$log"
    echo "build.sh: cargo build failed" >&2
    exit 1
fi
rm -f "$log"
cp "$here/target/release/weft-peer-tokio" "$here/target/release/weft-peer-async-std" "$out/" || exit 1
echo "build.sh: built $out/weft-peer-tokio $out/weft-peer-async-std"
