#!/bin/bash
# bench/peers/timer_storm_sweep.sh WEFT_BENCH PEERDIR "N1 N2 ..." "D1 D2 ..." [WORKERS]
# timer_storm on weft (fifo and global at 1 worker, ws and global above) and every peer at each n x D (D in us),
# one process per (runtime, n, D), 3 repetitions; prints the medians of the
# elapsed time, the time per timer and the lateness p50/p99. The evidence for
# docs/WORKLOADS.md, "timer_storm: the same quantity, a different queue".
# Not a test; timed: run it un-niced on a quiet machine.
set -u
W=${1:?usage: $0 WEFT_BENCH PEERDIR "N..." "D..." [WORKERS]}; O=${2:?}; NS=${3:?}; DS=${4:?}; NW=${5:-1}
JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$JE" ] || JE=
med() { python3 -c "
import json,sys,statistics as st
d=json.load(sys.stdin); b=[x for x in d['benchmarks'] if x.get('run_type')=='iteration' and not x.get('error_occurred')]
e=[x for x in d['benchmarks'] if x.get('error_occurred')]
if e or not b: print('%-12s n=%-7s D=%-6s ERROR %s'%('$1','$2','$3',e[0].get('error_message') if e else 'no rows')); sys.exit()
f=lambda k:st.median(float(x[k]) for x in b)
print('%-12s n=%-7s D=%-6s elapsed %8.1f ms  per timer %6.2f us  p50 %9.1f us  p99 %9.1f us  (%d reps)'%('$1','$2','$3',f('real_time')/1e3,f('real_time')*1e3/float(b[0]['units'])/1e3,f('p50_us'),f('p99_us'),len(b)))"; }
for n in $NS; do for D in $DS; do
    wp="--param timer_storm.n=$n --param timer_storm.max_delay_us=$D"
    pp="--param=timer_storm.n=$n --param=timer_storm.max_delay_us=$D"
    common="--workers=$NW --profile=standard --workloads=timer_storm --repetitions=3 $pp"
    scheds="fifo global"; [ "$NW" = 1 ] || scheds="ws global"
    for s in $scheds; do
        "$W" --profile=standard --workloads=timer_storm --schedulers=$s --workers=$NW --benchmark_repetitions=3 \
            --benchmark_format=json $wp 2>/dev/null | med "$s/$NW" $n $D
    done
    [ "$NW" = 1 ] && LD_PRELOAD=$JE "$O/weft-peer-tokio" --runtime=tokio-ct $common | med tokio-ct/1 $n $D
    LD_PRELOAD=$JE "$O/weft-peer-tokio" --runtime=tokio-mt $common | med "tokio-mt/$NW" $n $D
    LD_PRELOAD=$JE "$O/weft-peer-async-std" --runtime=async-std $common | med "async-std/$NW" $n $D
    "$O/weft-peer-go" --runtime=go $common 2>/dev/null | med "go/$NW" $n $D
done; done
