#!/usr/bin/env bash
# Copies the release weft-bench and the non-libc shared libraries it needs
# into .devrun/ (ignored by git) so a machine without the Debian packages
# can run it with LD_LIBRARY_PATH (bench/device_sweep.sh).
set -euo pipefail
bin=${1:-build/release/bench/weft-bench}
rm -rf .devrun && mkdir -p .devrun/lib
cp "$bin" .devrun/weft-bench
ldd "$bin" | awk '/=>/ {print $3}' | grep -vE '/(libc|libm|libpthread|libdl|librt)\.so' |
  while read -r lib; do cp -L "$lib" .devrun/lib/; done
ls -la .devrun .devrun/lib
