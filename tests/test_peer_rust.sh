#!/bin/bash
# tests/test_peer_rust.sh BINDIR - checks the Rust peer programs (weft-peer-tokio,
# weft-peer-async-std in BINDIR, e.g. the OUTDIR of bench/peers/rust/build.sh)
# against docs/bench-protocol.md: JSON shape, row names, counters, context keys,
# self-checks under fault injection, and exit 2 on bad flags.
# Exit 0 if every check passed, 1 otherwise, 77 (skip) if the binaries are missing.
set -u
bindir=${1:?usage: tests/test_peer_rust.sh BINDIR}
PY=/usr/bin/python3
tok=$bindir/weft-peer-tokio
asd=$bindir/weft-peer-async-std
if [ ! -x "$tok" ] || [ ! -x "$asd" ]; then
    echo "SKIP: $tok or $asd not built (bench/peers/rust/build.sh BINDIR)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' "$2" | head -20; }

# Every workload once, with sizes small enough for a whole run in seconds.
# interval_jitter ticks every 10 ms for 1 s: its tolerance (1 tick) is then
# 10 ms of lag at the end, which a loaded 2-core machine keeps (at P = 1 ms,
# Tokio's 1 ms timer rounding alone uses up most of it).
TINY="--param=spawn_many.n=200 --param=yield_many.tasks=8 --param=yield_many.yields=20
 --param=ping_pong.pings=50 --param=chained_spawn.depth=30 --param=spawn_remote.n=500
 --param=fanout_skew.n=50 --param=fanout_skew.work_us=2 --param=fib.n=12
 --param=timer_storm.n=300 --param=timer_storm.max_delay_us=3000 --param=timeout_cancel.n=3000
 --param=timeout_cancel.tasks=4 --param=interval_jitter.tasks=2 --param=interval_jitter.period_us=10000 --param=interval_jitter.duration_ms=1000
 --param=tcp_echo.conns=4 --param=tcp_echo.requests=20 --param=tcp_stream.bytes=1000003
 --param=blocking_mix.short_tasks=20 --param=blocking_mix.blocking_jobs=3 --param=blocking_mix.blocking_us=1000"

# check.py FILE RUNTIME WORKERS MODE [WORKLOADS] [REPS]: MODE ok | fault
cat >"$tmp/check.py" <<'EOF'
import json, sys
path, runtime, workers, mode = sys.argv[1:5]
workloads = sys.argv[5].split(",") if len(sys.argv) > 5 and sys.argv[5] else None
reps = int(sys.argv[6]) if len(sys.argv) > 6 else 1
d = json.load(open(path))
errs = []
ctx = d["context"]
for k in ["peer_runtime", "peer_program", "peer_versions", "peer_allocator", "peer_workers", "peer_profile",
          "peer_params", "peer_seed", "peer_launch", "peer_differences"]:
    if not isinstance(ctx.get(k), str) or (k != "peer_launch" and not ctx[k]):
        errs.append("context key %s missing or empty: %r" % (k, ctx.get(k)))
if ctx.get("peer_runtime") != runtime or ctx.get("peer_workers") != workers:
    errs.append("context runtime/workers: %r %r" % (ctx.get("peer_runtime"), ctx.get("peer_workers")))
if "rustc" not in ctx.get("peer_versions", ""):
    errs.append("peer_versions without rustc: %r" % ctx.get("peer_versions"))
# self-check counters per workload; latency workloads also carry p50/p99/p999
checks = {
    "spawn_many": ["tasks_ran"], "yield_many": ["signals", "polls_after_yield"], "ping_pong": ["round_trips"],
    "chained_spawn": ["depth"], "spawn_remote": ["tasks_ran"], "fanout_skew": ["tasks_ran", "max_worker_share"],
    "fib": ["result"], "uts": ["nodes", "leaves", "depth"], "timer_storm": ["timers_completed", "woke_early"],
    "timeout_cancel": ["pairs", "timers_fired"], "interval_jitter": ["ticks", "ticks_per_task_expected", "early_ticks"],
    "tcp_echo": ["requests", "requests_per_s", "bytes_echoed", "corrupted_echoes"],
    "tcp_stream": ["bytes_returned", "GiB_per_s"], "blocking_mix": ["short_tasks_completed", "blocking_jobs_ran"],
}
latency = {"timer_storm", "interval_jitter", "tcp_echo", "blocking_mix"}
variants = {"fib": ["join", "spawn2"], "uts": ["T1", "T3"]}
want = set()
for w in (workloads or list(checks)):
    base = "%s/%s/workers:%s" % (w, runtime, workers)
    want |= {base + "/" + v for v in variants[w]} if w in variants else {base}
rows = d["benchmarks"]
names = [b["name"] for b in rows]
for n in want:
    if names.count(n) != reps:
        errs.append("row %s: %d repetitions, expected %d" % (n, names.count(n), reps))
for n in set(names) - want:
    errs.append("unexpected row %s" % n)
if sorted(b["order"] for b in rows) != list(range(len(rows))):
    errs.append("order is not 0..%d" % (len(rows) - 1))
for b in rows:
    n, w = b["name"], b["name"].split("/")[0]
    for k in ["run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations", "real_time",
              "cpu_time", "time_unit", "launch", "order"]:
        if k not in b:
            errs.append("%s: no %s" % (n, k))
    if b.get("time_unit") != "us" or b.get("run_name") != n:
        errs.append("%s: time_unit/run_name" % n)
    if mode == "fault":
        if b.get("error_occurred") is not True or "self-check failed" not in b.get("error_message", ""):
            errs.append("%s: not an error row under fault injection: %s" % (n, b.get("error_message")))
        continue
    if b.get("error_occurred"):
        errs.append("%s: error row: %s" % (n, b.get("error_message")))
        continue
    need = ["units", "ns_per_unit", "label"] + checks.get(w, []) + (["p50_us", "p99_us", "p999_us"] if w in latency else [])
    for k in need:
        if k not in b:
            errs.append("%s: no counter %s" % (n, k))
    if any(k in b for k in ["p50_us"]) and w not in latency:
        errs.append("%s: latency counters on a non-latency workload" % n)
    if b.get("real_time", 0) <= 0 or abs(b["ns_per_unit"] - b["real_time"] * 1000 / b["units"]) > 1e-6 * b["ns_per_unit"]:
        errs.append("%s: real_time %r / ns_per_unit %r / units %r inconsistent" % (n, b.get("real_time"), b.get("ns_per_unit"), b.get("units")))
    # the verified quantities agree with the units of work
    same = {"spawn_many": "tasks_ran", "spawn_remote": "tasks_ran", "fanout_skew": "tasks_ran", "ping_pong": "round_trips",
            "chained_spawn": "depth", "yield_many": "polls_after_yield", "uts": "nodes", "timer_storm": "timers_completed",
            "timeout_cancel": "pairs", "tcp_echo": "requests", "tcp_stream": "bytes_returned",
            "blocking_mix": "short_tasks_completed", "interval_jitter": "ticks"}
    if w in same and b.get(same[w]) != b.get("units"):
        errs.append("%s: %s = %r but units = %r" % (n, same[w], b.get(same[w]), b.get("units")))
    if w == "fanout_skew" and not (0 < b["max_worker_share"] <= 1):
        errs.append("%s: max_worker_share %r" % (n, b["max_worker_share"]))
    if w in latency and not (0 <= b["p50_us"] <= b["p99_us"] <= b["p999_us"]):
        errs.append("%s: percentiles not ordered" % n)
print("\n".join(errs))
sys.exit(1 if errs else 0)
EOF

configs=("$tok tokio-mt 1" "$tok tokio-mt 2" "$tok tokio-ct 1" "$asd async-std 1" "$asd async-std 2")
for cfg in "${configs[@]}"; do
    set -- $cfg
    bin=$1 rt=$2 w=$3
    name="$rt workers:$w"
    # the quick profile, two cheap workloads, two repetitions
    if timeout 120 "$bin" --runtime="$rt" --workers="$w" --profile=quick --workloads=spawn_many,chained_spawn \
        --repetitions=2 --seed=7 --launch=3 --out="$tmp/q.json" 2>"$tmp/err" &&
        $PY "$tmp/check.py" "$tmp/q.json" "$rt" "$w" ok spawn_many,chained_spawn 2 >"$tmp/err" 2>&1 &&
        $PY -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(any(b['launch']!=3 for b in d['benchmarks']) or d['context']['peer_seed']!='7')" "$tmp/q.json"; then
        ok "$name: quick profile, spawn_many + chained_spawn x2"
    else
        ko "$name: quick profile, spawn_many + chained_spawn x2" "$tmp/err"
    fi
    # every workload once, tiny sizes
    if timeout 300 "$bin" --runtime="$rt" --workers="$w" --profile=quick --repetitions=1 $TINY >"$tmp/all.json" 2>"$tmp/err" &&
        $PY "$tmp/check.py" "$tmp/all.json" "$rt" "$w" ok >"$tmp/err" 2>&1; then
        ok "$name: every workload, tiny sizes"
    else
        ko "$name: every workload, tiny sizes" "$tmp/err"
    fi
    # fault injection: every row an error row
    if WEFT_BENCH_FAULT_INJECTION=1 timeout 300 "$bin" --runtime="$rt" --workers="$w" --profile=quick --repetitions=2 \
        $TINY >"$tmp/f.json" 2>/dev/null && $PY "$tmp/check.py" "$tmp/f.json" "$rt" "$w" fault "" 2 >"$tmp/err" 2>&1; then
        ok "$name: fault injection makes every row an error row"
    else
        ko "$name: fault injection makes every row an error row" "$tmp/err"
    fi
done

# --param / --iterations reach the row; --list prints every parameter
if "$tok" --runtime=tokio-mt --workers=1 --profile=quick --workloads=spawn_many --param=spawn_many.n=77 \
    --iterations=spawn_many=3 --repetitions=1 >"$tmp/p.json" 2>"$tmp/err" &&
    $PY -c "import json,sys; b=json.load(open(sys.argv[1]))['benchmarks'][0]; sys.exit(not(b['units']==77 and b['tasks_ran']==77 and b['iterations']==3))" "$tmp/p.json"; then
    ok "--param and --iterations reach the row"
else
    ko "--param and --iterations reach the row" "$tmp/err"
fi
for bin in "$tok" "$asd"; do
    if "$bin" --list >"$tmp/list" 2>&1 && grep -q "spawn_many.n " "$tmp/list" && grep -q "blocking_mix.blocking_us" "$tmp/list" &&
        grep -q "iterations per repetition: quick 50, standard 300, full 40" "$tmp/list"; then
        ok "$(basename "$bin") --list"
    else
        ko "$(basename "$bin") --list" "$tmp/list"
    fi
done

# bad flags: exit 2, a message that starts with the program's name
bad() {
    local prog=$1
    shift
    "$@" >/dev/null 2>"$tmp/err"
    local rc=$?
    if [ $rc -eq 2 ] && head -1 "$tmp/err" | grep -q "^$prog: "; then
        ok "exit 2: $prog ${*:2}"
    else
        echo "rc=$rc" >>"$tmp/err"
        ko "exit 2: $prog ${*:2}" "$tmp/err"
    fi
}
base="--workers=1 --profile=quick --workloads=spawn_many"
bad weft-peer-tokio "$tok" --runtime=tokio-mt $base --bogus
bad weft-peer-tokio "$tok" --runtime=async-std $base
bad weft-peer-tokio "$tok" --runtime=tokio-ct --workers=2 --profile=quick
bad weft-peer-tokio "$tok" --runtime=tokio-mt --workers=0 --profile=quick
bad weft-peer-tokio "$tok" --runtime=tokio-mt --workers=1 --profile=huge
bad weft-peer-tokio "$tok" --runtime=tokio-mt --workers=1
bad weft-peer-tokio "$tok" --runtime=tokio-mt $base --workloads=nope
bad weft-peer-tokio "$tok" --runtime=tokio-mt $base --param=spawn_many.nope=1
bad weft-peer-tokio "$tok" --runtime=tokio-mt $base --param=spawn_many.n=0
bad weft-peer-tokio "$tok" --runtime=tokio-mt $base --param=spawn_many.n=x
bad weft-peer-tokio "$tok" --runtime=tokio-mt $base --iterations=spawn_many=0
bad weft-peer-tokio "$tok" --runtime=tokio-mt $base --seed=-1
bad weft-peer-async-std "$asd" --runtime=tokio-mt $base
bad weft-peer-async-std "$asd" --runtime=async-std $base --repetitions=x

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
