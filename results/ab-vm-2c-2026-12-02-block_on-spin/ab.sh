#!/bin/bash
# usage: ab.sh TAG ROUNDS WORKLOADS BIN_A BIN_B
tag=$1; rounds=$2; wl=$3; A=$4; B=$5
for r in $(seq 1 $rounds); do
  for side in A B; do
    bin=$A; [ $side = B ] && bin=$B
    $bin --profile=standard --workloads=$wl --schedulers=fifo,global,ws,numa --workers=1,2 --benchmark_repetitions=2 --benchmark_out=/tmp/ab_${tag}_${side}_$r.json --benchmark_out_format=json >/dev/null 2>&1 || echo "fail $side $r"
  done
done
