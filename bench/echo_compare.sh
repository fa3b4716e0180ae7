#!/usr/bin/env bash
# bench/echo_compare.sh - weft's tcp_echo against the classic single-threaded
# libuv echo server (bench/libuv_echo.c), both driven by the SAME load client:
# weft's own tcp_echo client threads (workloads/io.c), which with
# `--param tcp_echo.external_port=P` connect to 127.0.0.1:P and start no weft
# server task. Same messages, same byte check of every echo, same histogram,
# same clock; only the server differs. Method and results:
# docs/echo-vs-libuv.md.
#
# Builds nothing. Usage:
#   bench/echo_compare.sh WEFT_BENCH LIBUV_ECHO [extra weft-bench options...]
# e.g. (Release build in /tmp/uvb):
#   bench/echo_compare.sh /tmp/uvb/bench/weft-bench /tmp/uvb/bench/libuv_echo
# Extra options go to both weft-bench runs (e.g. --param tcp_echo.conns=256).
#
# Environment:
#   REPS=9            repetitions per row (9: enough for a Mann-Whitney U test)
#   ROUNDS=1          alternate libuv / weft this many times and pool the
#                     repetitions (on a shared machine, drift in the background
#                     load then hits both sides alike)
#   SCHEDULERS=fifo,ws  WORKERS=1,2    the weft rows (fifo runs at workers:1 only)
#   LIBUV_MALLOC="glibc jemalloc"  the allocators libuv_echo runs with, one
#                     libuv row each: glibc (as built) and jemalloc through
#                     LD_PRELOAD (weft-bench links jemalloc, so this is the
#                     like-for-like row; the textbook server mallocs 64 KiB per
#                     read, and glibc trims and regrows its heap with brk()
#                     about once every 3 requests). jemalloc is skipped where
#                     libjemalloc.so.2 is not installed. Sanitizer builds of
#                     libuv_echo need LIBUV_MALLOC=glibc (a preloaded
#                     allocator under ASan/TSan crashes at start-up).
#   OUT=DIR           keep the JSON files and logs there (default: a temp dir,
#                     removed at exit)
#   ROW_TIMEOUT_S=60  bound on one repetition; a run is killed after
#                     ROW_TIMEOUT_S x repetitions x rows + 60 s
#
# One repetition = one tcp_echo iteration (standard: C = 64 connections x
# R = 1000 requests of S = 64 B, 2 client threads). requests/s = 1e9 /
# ns_per_unit of each repetition's JSON row. The weft-bench row of the libuv
# run is named tcp_echo/fifo/workers:1: the weft runtime exists but does
# nothing (no server task, no block_on); the summary calls it "libuv".
# "vs libuv" in the summary is relative to the faster libuv row (the
# stricter floor).
# Loopback only.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[ $# -ge 2 ] || usage
BENCH=$1
UVECHO=$2
shift 2
[ -x "$BENCH" ] || { echo "echo_compare: $BENCH: not an executable (the weft-bench binary)" >&2; exit 2; }
[ -x "$UVECHO" ] || { echo "echo_compare: $UVECHO: not an executable (build the libuv_echo target; needs libuv1-dev)" >&2; exit 2; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

REPS=${REPS:-9}
ROUNDS=${ROUNDS:-1}
SCHEDULERS=${SCHEDULERS:-fifo,ws}
WORKERS=${WORKERS:-1,2}
ROW_TIMEOUT_S=${ROW_TIMEOUT_S:-60}
LIBUV_MALLOC=${LIBUV_MALLOC:-glibc jemalloc}
JEMALLOC_SO=
for f in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 \
         /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2 /usr/local/lib/libjemalloc.so.2; do
    [ -e "$f" ] && { JEMALLOC_SO=$f; break; }
done
ALLOCS=
for a in $LIBUV_MALLOC; do
    case "$a" in
    glibc) ALLOCS="$ALLOCS glibc" ;;
    jemalloc)
        if [ -n "$JEMALLOC_SO" ]; then ALLOCS="$ALLOCS jemalloc"
        else echo "echo_compare: note: libjemalloc.so.2 not found: no libuv+jemalloc row" >&2; fi ;;
    *) echo "echo_compare: LIBUV_MALLOC: unknown allocator '$a' (glibc, jemalloc)" >&2; exit 2 ;;
    esac
done
[ -n "$ALLOCS" ] || { echo "echo_compare: LIBUV_MALLOC selects no allocator" >&2; exit 2; }
case "$REPS$ROUNDS$ROW_TIMEOUT_S" in *[!0-9]*) echo "echo_compare: REPS, ROUNDS, ROW_TIMEOUT_S must be integers" >&2; exit 2 ;; esac

if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    DIR=$OUT
    KEEP=1
else
    DIR=$(mktemp -d /tmp/echo_compare.XXXXXX)
    KEEP=0
fi

SERVER_PID=
# shellcheck disable=SC2317  # reached through the EXIT trap
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
    [ "$KEEP" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts libuv_echo on a free port (the kernel picks it: port 0) and sets
# PORT once it prints "listening on 127.0.0.1:P".
start_server() {
    local log=$1 alloc=$2
    if [ "$alloc" = jemalloc ]; then
        LD_PRELOAD=$JEMALLOC_SO "$UVECHO" 0 >"$log.out" 2>"$log.err" &
    else
        "$UVECHO" 0 >"$log.out" 2>"$log.err" &
    fi
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$log.out")
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "echo_compare: libuv_echo did not start:" >&2
    cat "$log.err" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    local rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=
    [ "$rc" = 0 ] || echo "echo_compare: note: libuv_echo exited with status $rc" >&2
}

# run_bench NAME ROWS [weft-bench options...]: one weft-bench run, bounded.
run_bench() {
    local name=$1 rows=$2
    shift 2
    local limit=$((ROW_TIMEOUT_S * REPS * rows + 60))
    echo "== $name: $BENCH $* (limit ${limit} s)" >&2
    WEFT_BENCH_TIMEOUT_S=$ROW_TIMEOUT_S timeout --kill-after=10 "$limit" \
        "$BENCH" --workloads=tcp_echo --benchmark_repetitions="$REPS" \
        --benchmark_out="$DIR/$name.json" --benchmark_out_format=json "$@" \
        >"$DIR/$name.log" 2>&1 || {
        local rc=$?
        echo "echo_compare: $name: weft-bench exited with status $rc; its output:" >&2
        tail -30 "$DIR/$name.log" >&2
        exit 1
    }
}

# Number of weft rows (for the time bound): fifo takes one worker count.
nworkers=$(echo "$WORKERS" | tr ',' '\n' | grep -c .)
weft_rows=0
for s in $(echo "$SCHEDULERS" | tr ',' ' '); do
    if [ "$s" = fifo ]; then weft_rows=$((weft_rows + 1)); else weft_rows=$((weft_rows + nworkers)); fi
done

echo "loadavg before: $(cat /proc/loadavg)" | tee "$DIR/loadavg.txt" >&2
START=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
    for a in $ALLOCS; do
        start_server "$DIR/libuv_echo.$a.$r" "$a"
        echo "== round $r: libuv_echo ($a malloc) pid $SERVER_PID on 127.0.0.1:$PORT" >&2
        run_bench "libuv-$a.$r" 1 --schedulers=fifo --param tcp_echo.external_port="$PORT" "$@"
        stop_server
        echo "loadavg after libuv ($a) round $r: $(cat /proc/loadavg)" | tee -a "$DIR/loadavg.txt" >&2
    done
    run_bench "weft.$r" "$weft_rows" --schedulers="$SCHEDULERS" --workers="$WORKERS" "$@"
    echo "loadavg after weft round $r: $(cat /proc/loadavg)" | tee -a "$DIR/loadavg.txt" >&2
done
echo "== wall: $(( $(date +%s) - START )) s" >&2

# shellcheck disable=SC2086  # $ALLOCS: one argument per allocator
"$PY" - "$(dirname "$0")" "$DIR" "$ROUNDS" $ALLOCS <<'EOF'
import json, os, sys

sys.path.insert(0, sys.argv[1])
import weftbench as wb   # the shared, tested name stripping, median, quantile and U test

d, rounds, allocs = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
rows = {}      # label -> list of (req/s, p50_us, p99_us)
context = None
base = wb.strip_name
for r in range(1, rounds + 1):
    for side in ["libuv-" + a for a in allocs] + ["weft"]:
        with open(os.path.join(d, "%s.%d.json" % (side, r))) as f:
            j = json.load(f)
        context = context or j.get("context", {})
        for b in j["benchmarks"]:
            if b.get("run_type") != "iteration":
                continue
            name = base(b["name"])
            if b.get("error_occurred"):
                sys.exit("echo_compare: %s (%s) failed: %s" % (name, side, b.get("error_message")))
            label = ("libuv " + side[6:] if side != "weft" else "weft " + name.split("/", 1)[1])
            rows.setdefault(label, []).append((1e9 / b["ns_per_unit"], b.get("p50_us"), b.get("p99_us")))

q = wb.quantile
median = wb.median
libuv_labels = ["libuv " + a for a in allocs]
ref_label = max(libuv_labels, key=lambda l: median(x[0] for x in rows[l]))
ref = [x[0] for x in rows[ref_label]]
ref_med = median(ref)
print()
print("tcp_echo, %s; requests/s per repetition = 1e9 / ns_per_unit" %
      " ".join(p for p in context.get("weft_params", "").split() if "external_port" not in p))
print("machine: %s (%s, %s CPUs), weft %s, %s, allocator %s; libuv rows: libuv_echo, single thread" % (
    context.get("weft_machine", "?"), context.get("weft_cpu_model", "?"), context.get("num_cpus", "?"),
    context.get("weft_git_commit", "?")[:7] + ("-dirty" if wb.truthy(context.get("weft_git_dirty", False)) else ""),
    context.get("weft_cflags", "?"), context.get("weft_allocator", "?")))
print()
hdr = "%-22s %4s %12s %12s %12s %10s %9s %9s %9s" % (
    "server", "n", "median req/s", "min", "max", "IQR %", "vs libuv", "p50 us", "p99 us")
print(hdr)
print("-" * len(hdr))
for label, xs in rows.items():
    rps = [x[0] for x in xs]
    med = median(rps)
    iqr = (q(rps, 0.75) - q(rps, 0.25)) / med * 100
    p50 = median([x[1] for x in xs if x[1] is not None] or [0])
    p99 = median([x[2] for x in xs if x[2] is not None] or [0])
    vs = "%+.1f %%" % ((med / ref_med - 1) * 100) if label != ref_label else "ref"
    print("%-22s %4d %12.0f %12.0f %12.0f %10.1f %9s %9.1f %9.1f" %
          (label, len(rps), med, min(rps), max(rps), iqr, vs, p50, p99))
# two-sided U test of each row's repetitions against the libuv reference
print()
for label, xs in rows.items():
    if label == ref_label:
        continue
    rps = [x[0] for x in xs]
    p = wb.mann_whitney_p(rps, ref)
    print("%-22s vs %s: Mann-Whitney U two-sided p = %.3g%s" %
          (label, ref_label, p, " (significant at 0.05)" if p < 0.05 else ""))
EOF
echo
cat "$DIR/loadavg.txt"
[ "$KEEP" = 1 ] && echo "JSON and logs: $DIR"
exit 0
