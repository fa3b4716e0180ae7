#!/bin/bash
# usage: ab.sh TAG ROUNDS WORKLOADS BIN_A BIN_B [extra weft-bench flags...]
# Alternates A and B processes; writes OUT/TAG_{A,B}_ROUND.json.
tag=$1; rounds=$2; wl=$3; A=$4; B=$5; shift 5
OUT=${OUT:-/tmp/ab}; mkdir -p $OUT
for r in $(seq 1 $rounds); do
  for side in A B; do
    bin=$A; [ $side = B ] && bin=$B
    nice -n 19 $bin --profile=standard --workloads=$wl --schedulers=fifo,global,ws,numa --workers=1,2 --benchmark_repetitions=2 "$@" --benchmark_out=$OUT/${tag}_${side}_$r.json --benchmark_out_format=json >/dev/null 2>&1 || echo "fail $side $r"
  done
done
