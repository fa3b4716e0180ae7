#!/usr/bin/env bash
# Scaling sweep on a lent many-core machine that has no hwloc, jemalloc or
# Google Benchmark installed: run from the repository root with the release
# weft-bench and the shared libraries `ldd` lists copied into .devrun/
# (see bench/device_prepare.sh). Writes the JSON and a log to $OUT.
set -u
OUT=${OUT:-/tmp/weft-sweep}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/.devrun/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export WEFT_MACHINE=${WEFT_MACHINE:-device-$(nproc)c}
export WEFT_BENCH_TIMEOUT_S=120
{
  echo "== machine"; nproc; uname -a; grep -m1 'model name' /proc/cpuinfo; free -g | head -2
  lscpu | grep -iE 'socket|numa|core|thread' || true
} > "$OUT/machine.txt" 2>&1
timeout "${SWEEP_TIMEOUT:-500}" .devrun/weft-bench --profile=standard --workers=1,2,4,8,16 \
  --benchmark_repetitions="${REPS:-4}" \
  --benchmark_out="$OUT/sweep.json" --benchmark_out_format=json "$@" \
  > "$OUT/sweep.log" 2> "$OUT/sweep.err"
echo "weft-bench exit $?" >> "$OUT/sweep.err"
tail -5 "$OUT/sweep.err"
