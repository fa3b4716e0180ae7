#!/bin/bash
# tests/test_peer_go.sh BINDIR - checks weft-peer-go (bench/peers/go) against
# docs/bench-protocol.md: the JSON it writes (valid; row names
# WORKLOAD/go/workers:N[/VARIANT]; repetitions, order, launch; units,
# ns_per_unit, the self-check quantities with their expected values, latency
# counters where the workload has them; the context keys), every workload
# once with tiny --param sizes, the quick profile at workers 1 and 2, fault
# injection (every row an error row), bad flags (exit 2 with a message),
# and `go vet` on the sources when Go is installed.
#
# BINDIR holds weft-peer-go (bench/peers/go/build.sh BINDIR builds it).
# Prints one line per check and "N passed, N failed"; exit 0 only if none
# failed.
set -u
if [ $# -ne 1 ] || [ ! -x "$1/weft-peer-go" ]; then
    echo "usage: $0 BINDIR   (BINDIR/weft-peer-go, built by bench/peers/go/build.sh BINDIR)" >&2
    exit 2
fi
bin=$(cd "$1" && pwd)/weft-peer-go
src=$(cd "$(dirname "$0")/../bench/peers/go" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# check_json FILE MODE WORKERS REPS [EXTRA]: MODE is "ok" (every row
# measured) or "fault" (every row an error row). The Python prints one
# "ok: ..." or "FAIL: ..." line per check.
check_json() {
    local out
    out=$("$py" - "$@" <<'EOF'
import json, re, sys
path, mode, workers, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
launch = int(sys.argv[5]) if len(sys.argv) > 5 else 0
res = []
def check(cond, what):
    res.append(("ok: " if cond else "FAIL: ") + what)
try:
    d = json.load(open(path))
except Exception as e:
    print("FAIL: %s is not valid JSON: %s" % (path, e)); sys.exit()
check(True, "%s is valid JSON" % path)
ctx = d.get("context", {})
keys = ["peer_runtime", "peer_program", "peer_versions", "peer_allocator", "peer_workers",
        "peer_profile", "peer_params", "peer_seed", "peer_launch", "peer_differences"]
missing = [k for k in keys if not isinstance(ctx.get(k), str)]
check(not missing, "context has every peer_* key as a string (missing: %s)" % missing)
check(ctx.get("peer_runtime") == "go" and ctx.get("peer_workers") == str(workers)
      and ctx.get("peer_versions", "").startswith("go1.")
      and ctx.get("peer_allocator") == "Go runtime allocator",
      "context: runtime go, workers %d, a Go version, the allocator" % workers)
rows = d.get("benchmarks", [])
check(len(rows) > 0, "%d rows" % len(rows))
name_re = re.compile(r"^([a-z_]+)/go/workers:%d(/(join|spawn2|T1|T3))?$" % workers)
bad_names = [r.get("name") for r in rows if not name_re.match(r.get("name", ""))]
check(not bad_names, "row names are WORKLOAD/go/workers:%d[/VARIANT] (bad: %s)" % (workers, bad_names[:3]))
orders = sorted(r.get("order", -1) for r in rows)
check(orders == list(range(len(rows))), "order runs 0..%d over every row" % (len(rows) - 1))
check(all(r.get("launch") == launch for r in rows), "every row carries launch %d" % launch)
per = {}
for r in rows:
    per.setdefault(r["name"], []).append(r.get("repetition_index"))
check(all(sorted(v) == list(range(reps)) for v in per.values()),
      "every row has repetitions 0..%d" % (reps - 1))
check(all(r.get("repetitions") == reps and r.get("time_unit") == "us" and r.get("run_type") == "iteration"
          and r.get("run_name") == r.get("name") and r.get("threads") == 1 for r in rows),
      "repetitions, time_unit, run_type, run_name, threads as the protocol says")
# the interleaving: within a repetition every row once
by_rep = {}
for r in rows:
    by_rep.setdefault(r["repetition_index"], []).append(r["order"])
spans = [(min(v), max(v)) for k, v in sorted(by_rep.items())]
check(all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1)),
      "repetition r runs every row before repetition r+1 starts")
if mode == "fault":
    errs = [r["name"] for r in rows if not (r.get("error_occurred") is True and r.get("error_message")
            and r.get("real_time") == 0 and "units" not in r)]
    check(not errs, "fault injection: every row is an error row with a message (not: %s)" % errs[:5])
else:
    errs = ["%s: %s" % (r["name"], r.get("error_message")) for r in rows if r.get("error_occurred")]
    check(not errs, "no error rows (%s)" % errs[:3])
    expect = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
    latency = {"timer_storm", "interval_jitter", "tcp_echo", "blocking_mix"}
    counters = {
        "spawn_many": ["tasks_ran"], "yield_many": ["signals", "polls_after_yield"],
        "ping_pong": ["round_trips"], "chained_spawn": ["depth"], "spawn_remote": ["tasks_ran"],
        "fanout_skew": ["tasks_ran", "max_worker_share"], "fib": ["result"],
        "uts": ["nodes", "depth", "leaves"], "timer_storm": ["timers_completed", "woke_early"],
        "timeout_cancel": ["pairs", "timers_fired", "armed_left"],
        "interval_jitter": ["ticks", "ticks_per_task_expected", "early_ticks"],
        "tcp_echo": ["requests", "requests_per_s", "bytes_echoed", "corrupted_echoes"],
        "tcp_stream": ["bytes_returned", "GiB_per_s"],
        "blocking_mix": ["short_tasks_completed", "blocking_jobs_ran"],
    }
    for r in rows:
        if r.get("error_occurred"):
            continue
        n, wl = r["name"], r["name"].split("/")[0]
        need = ["units", "ns_per_unit", "real_time", "label"] + counters.get(wl, ["?"])
        if wl in latency:
            need += ["p50_us", "p99_us", "p999_us"]
        miss = [k for k in need if k not in r]
        check(not miss, "%s rep %d: counters present (missing: %s)" % (n, r["repetition_index"], miss))
        if miss:
            continue
        check(r["real_time"] > 0 and r["units"] > 0 and
              abs(r["ns_per_unit"] - r["real_time"] * 1000 / r["units"]) <= 1e-6 * r["ns_per_unit"],
              "%s: real_time > 0 and ns_per_unit = real_time * 1000 / units" % n)
        if wl in latency:
            check(0 <= r["p50_us"] <= r["p99_us"] <= r["p999_us"], "%s: p50 <= p99 <= p999" % n)
        key = n.split("/", 2)[0] + ("/" + n.split("/")[3] if n.count("/") == 3 else "")
        for k, v in expect.get(key, {}).items():
            check(r.get(k) == v, "%s: %s = %s (got %s)" % (n, k, v, r.get(k)))
for line in res:
    print(line)
EOF
)
    while IFS= read -r line; do
        case $line in
        ok:*) ok "${line#ok: }" ;;
        *) bad "${line#FAIL: }" ;;
        esac
    done <<<"$out"
}

# Every workload with tiny sizes, and the self-check values they must give.
tiny=(--param=spawn_many.n=100 --param=yield_many.tasks=4 --param=yield_many.yields=10
      --param=ping_pong.pings=20 --param=chained_spawn.depth=20 --param=spawn_remote.n=100
      --param=fanout_skew.n=50 --param=fanout_skew.work_us=1 --param=fib.n=10
      --param=uts.quick_tree=1 --param=timer_storm.n=100 --param=timer_storm.max_delay_us=2000
      --param=timeout_cancel.n=1000 --param=timeout_cancel.tasks=4
      --param=interval_jitter.tasks=2 --param=interval_jitter.period_us=20000 --param=interval_jitter.duration_ms=100
      --param=tcp_echo.conns=4 --param=tcp_echo.requests=20 --param=tcp_stream.bytes=1000003
      --param=blocking_mix.short_tasks=20 --param=blocking_mix.blocking_jobs=2
      --param=blocking_mix.blocking_us=1000)
for wl in spawn_many yield_many ping_pong chained_spawn spawn_remote fanout_skew fib uts timer_storm \
          timeout_cancel interval_jitter tcp_echo tcp_stream blocking_mix; do
    tiny+=(--iterations=$wl=2)
done
expect='{"spawn_many": {"tasks_ran": 100, "units": 100}, "yield_many": {"polls_after_yield": 40, "signals": 4},
 "ping_pong": {"round_trips": 20}, "chained_spawn": {"depth": 20}, "spawn_remote": {"tasks_ran": 100},
 "fanout_skew": {"tasks_ran": 50}, "fib/join": {"result": 55, "units": 177}, "fib/spawn2": {"result": 55},
 "uts/T1": {"nodes": 63914, "leaves": 51124, "depth": 7}, "uts/T3": {"nodes": 45065, "leaves": 39456, "depth": 252},
 "timer_storm": {"timers_completed": 100, "woke_early": 0}, "timeout_cancel": {"pairs": 1000, "timers_fired": 0},
 "interval_jitter": {"ticks_per_task_expected": 5, "early_ticks": 0},
 "tcp_echo": {"requests": 80, "bytes_echoed": 5120, "corrupted_echoes": 0},
 "tcp_stream": {"bytes_returned": 1000003}, "blocking_mix": {"short_tasks_completed": 20, "blocking_jobs_ran": 2}}'

for w in 1 2; do
    if "$bin" --runtime=go --workers=$w --profile=quick "${tiny[@]}" --repetitions=2 --seed=5 --launch=3 \
        --out="$tmp/tiny$w.json" 2>"$tmp/tiny$w.err"; then
        ok "every workload, tiny sizes, workers:$w: exit 0"
    else
        bad "every workload, tiny sizes, workers:$w: exit $? ($(tail -2 "$tmp/tiny$w.err"))"
    fi
    check_json "$tmp/tiny$w.json" ok $w 2 3 "$expect"
    n=$("$py" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['benchmarks']))" "$tmp/tiny$w.json" 2>/dev/null)
    [ "$n" = 32 ] && ok "workers:$w: 16 rows x 2 repetitions" || bad "workers:$w: $n rows, expected 32"
done

# The quick profile as the coordinator would run it, for two cheap workloads.
for w in 1 2; do
    if "$bin" --runtime=go --workers=$w --profile=quick --workloads=spawn_many,chained_spawn --seed=11 \
        >"$tmp/quick$w.json" 2>"$tmp/quick$w.err"; then
        ok "quick profile, workers:$w, to standard output: exit 0"
    else
        bad "quick profile, workers:$w: exit $?"
    fi
    check_json "$tmp/quick$w.json" ok $w 3 0 \
        '{"spawn_many": {"units": 1000, "tasks_ran": 1000, "iterations": 20}, "chained_spawn": {"depth": 200, "iterations": 50}}'
done

# The same seed gives the same order; the row order is a shuffle.
"$bin" --workers=1 --profile=quick --workloads=spawn_many,chained_spawn --seed=11 >"$tmp/again.json" 2>/dev/null
order() { "$py" -c "import json,sys; print(sorted((b['order'], b['name']) for b in json.load(open(sys.argv[1]))['benchmarks']))" "$1"; }
[ "$(order "$tmp/quick1.json")" = "$(order "$tmp/again.json")" ] && ok "the same --seed gives the same row order" \
    || bad "the same --seed gave another row order"

# Fault injection: every workload drops one unit of work, every row fails.
fault_tiny=("${tiny[@]}")
for w in 1 2; do
    WEFT_BENCH_FAULT_INJECTION=1 "$bin" --workers=$w --profile=quick "${fault_tiny[@]}" --repetitions=2 \
        --out="$tmp/fault$w.json" 2>/dev/null
    check_json "$tmp/fault$w.json" fault $w 2
done

# Bad flags: exit 2 with a message that starts with the program's name.
while IFS= read -r args; do
    # shellcheck disable=SC2086
    "$bin" $args >/dev/null 2>"$tmp/bad.err"
    rc=$?
    if [ $rc = 2 ] && grep -q '^weft-peer-go: ' "$tmp/bad.err"; then
        ok "'$args': exit 2, $(head -1 "$tmp/bad.err")"
    else
        bad "'$args': exit $rc, stderr: $(head -1 "$tmp/bad.err")"
    fi
done <<'EOF'
--bogus=1
--workers
--workers=0
--workers=two
--runtime=tokio-mt
--profile=huge
--workloads=spawn_many,nope
--param=fib.n
--param=fib.nope=3
--param=nope.n=3
--param=fib.n=61
--param=fib.n=x
--param=tcp_echo.external_port=8080
--iterations=fib=0
--iterations=nope=1
--repetitions=0
EOF

if "$bin" --list >"$tmp/list.txt" 2>&1 && grep -q 'spawn_many.n' "$tmp/list.txt" &&
    grep -q 'iterations per repetition: quick 20, standard 30, full 5' "$tmp/list.txt"; then
    ok "--list prints parameters and iterations, exit 0"
else
    bad "--list"
fi

if [ -x /usr/bin/go ]; then
    if (cd "$src" && GOCACHE="$tmp/gocache" GOFLAGS=-mod=mod GOPROXY=off /usr/bin/go vet . ) >"$tmp/vet.txt" 2>&1; then
        ok "go vet is clean"
    else
        bad "go vet: $(head -3 "$tmp/vet.txt")"
    fi
else
    echo "skip: go vet (no /usr/bin/go)"
fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]
