#!/usr/bin/env bash
# tests/test_bench_driver.sh - checks weft-bench, the Google Benchmark driver.
#
# usage: test_bench_driver.sh WEFT_BENCH PYTHON
#   WEFT_BENCH  the weft-bench binary
#   PYTHON      an interpreter for the JSON checks (/usr/bin/python3)
#
# What it checks, on the quick profile (a few seconds in all):
#   * one cheap workload per scheduler (every scheduler of --list): row names
#     are WORKLOAD/SCHEDULER/workers:N once Google Benchmark's suffixes are
#     stripped; every repetition has its own row; the counters (units,
#     ns_per_unit, the scheduler's counters, the self-check's quantities) and
#     the weft_* context keys are there; a single-worker scheduler (fifo) has
#     only workers:1;
#   * a workload with variants gets WORKLOAD/SCHEDULER/workers:N/VARIANT;
#   * --benchmark_filter, --benchmark_repetitions, --param, --knob (both
#     spellings) do what they say;
#   * a failed self-check (WEFT_BENCH_FAULT_INJECTION=1) is an error row with
#     its message, in every repetition, and the run still exits 0;
#   * bad options exit 2, before anything runs, naming the valid values.
# Prints "N passed, M failed" and exits non-zero when anything failed.
set -u

BENCH_BIN=${1:?usage: test_bench_driver.sh WEFT_BENCH PYTHON}
# A hung iteration (a scheduler bug) must fail this test, not stall it: the
# driver's own watchdog names the row after WEFT_BENCH_TIMEOUT_S, and timeout(1)
# is the backstop.
export WEFT_BENCH_TIMEOUT_S=${WEFT_BENCH_TIMEOUT_S:-60}
bench() { timeout 150 "$BENCH_BIN" "$@"; }
BENCH=bench
PY=${2:-/usr/bin/python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAILED: $*"; }

if [ ! -x "$BENCH_BIN" ]; then
  echo "FAILED: $BENCH_BIN is not an executable"
  echo "0 passed, 1 failed"
  exit 1
fi

# ---- --list: the schedulers and workloads to test ---------------------------------
if "$BENCH" --list >"$WORK/list.txt" 2>&1; then
  ok "--list exits 0"
else
  bad "--list exited non-zero: $(head -5 "$WORK/list.txt")"
fi
schedulers=$(awk '/^Schedulers:/{s=1; next} /^$/{s=0} s && NF {print $1}' "$WORK/list.txt")
workloads=$(awk '/^Workloads/{s=1; next} /^$/{s=0} s && /^  [a-z]/ {print $1}' "$WORK/list.txt")
if [ -n "$schedulers" ] && [ -n "$workloads" ]; then
  ok "--list names schedulers ($(echo $schedulers)) and workloads"
else
  bad "--list does not list schedulers and workloads"
fi
has_workload() { echo "$workloads" | grep -qx "$1"; }

# Cheap workloads (quick profile: well under 50 ms a row), rotated over the schedulers.
cheap=()
for w in chained_spawn spawn_many ping_pong; do
  has_workload "$w" && cheap+=("$w")
done
if [ ${#cheap[@]} -eq 0 ]; then
  bad "none of the cheap workloads (chained_spawn spawn_many ping_pong) is registered"
  cheap=($(echo "$workloads" | head -1))
fi

# ---- one cheap workload per scheduler ---------------------------------------------------
i=0
for s in $schedulers; do
  w=${cheap[$((i % ${#cheap[@]}))]}
  i=$((i + 1))
  out="$WORK/run-$s.json"
  if "$BENCH" --profile=quick --workloads="$w" --schedulers="$s" --workers=1,2 \
      --benchmark_format=json --benchmark_out="$out" --benchmark_out_format=json \
      >"$WORK/stdout-$s.json" 2>"$WORK/stderr-$s.txt"; then
    ok "$w on $s: exit 0"
  else
    bad "$w on $s: exit $? ($(tail -3 "$WORK/stderr-$s.txt"))"
    continue
  fi
  if msg=$("$PY" - "$out" "$w" "$s" "$WORK/stdout-$s.json" <<'EOF'
import json, os, re, sys
path, workload, sched, stdout_path = sys.argv[1:5]
doc = json.load(open(path))
json.load(open(stdout_path))  # --benchmark_format=json on stdout is valid JSON too
ctx = doc["context"]
need_ctx = ["weft_cpu_model", "weft_cores", "weft_topology", "weft_topology_xml",
            "weft_numa_nodes", "weft_kernel", "weft_compiler", "weft_cflags",
            "weft_allocator", "weft_git_commit", "weft_git_dirty", "weft_profile",
            "weft_knobs", "weft_pin", "weft_hostname", "weft_machine", "weft_date",
            "weft_schedulers", "weft_workloads", "weft_workers", "weft_repetitions",
            "weft_benchmark_library"]
missing = [k for k in need_ctx if k not in ctx]
assert not missing, "context lacks %s" % missing
assert ctx["weft_profile"] == "quick", ctx["weft_profile"]
assert ctx["weft_topology"] == "real", ctx["weft_topology"]
assert "<topology" in ctx["weft_topology_xml"], "weft_topology_xml is not hwloc XML"
assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", ctx["weft_date"]), ctx["weft_date"]
assert ctx["weft_schedulers"] == sched and ctx["weft_workloads"] == workload
assert int(ctx["weft_cores"]) >= 1 and int(ctx["weft_numa_nodes"]) >= 1
assert "scheduler=" not in ctx["weft_knobs"] and "workers=" not in ctx["weft_knobs"]
assert "budget=" in ctx["weft_knobs"], ctx["weft_knobs"]
reps = int(ctx["weft_repetitions"])
assert reps == 3, "quick profile: 3 repetitions, got %d" % reps

suffix = re.compile(r"/(?:iterations:\d+|repeats:\d+|manual_time|real_time)$")
def strip(n):
    while True:
        m = suffix.sub("", n)
        if m == n:
            return n
        n = m
rows = {}
for b in doc["benchmarks"]:
    # an aggregate is named RUN_NAME_mean (..._median, ...): check its run_name
    agg = b.get("run_type") == "aggregate"
    if agg:
        assert b["name"] == b["run_name"] + "_" + b["aggregate_name"], b["name"]
    name = strip(b["run_name"] if agg else b["name"])
    m = re.fullmatch(r"([a-z0-9_]+)/([a-z0-9_]+)/workers:(\d+)", name)
    assert m, "row name %r is not WORKLOAD/SCHEDULER/workers:N" % b["name"]
    assert m.group(1) == workload and m.group(2) == sched, name
    assert "/manual_time" in b["name"], "%s: not manual time" % b["name"]
    assert not b.get("error_occurred"), "%s: %s" % (name, b.get("error_message"))
    if b.get("run_type") == "iteration":
        rows.setdefault(name, []).append(b)
assert rows, "no per-repetition rows"
workers = sorted(int(n.rsplit(":", 1)[1]) for n in rows)
single = sched == "fifo"
assert workers == ([1] if single else [1, 2]), "worker counts %s" % workers
for name, rs in rows.items():
    assert len(rs) == reps, "%s: %d repetition rows, want %d" % (name, len(rs), reps)
    assert sorted(r["repetition_index"] for r in rs) == list(range(reps))
    for r in rs:
        for c in ("units", "ns_per_unit", "polls", "spawns", "parks", "unparks", "steals",
                  "steal_attempts", "tasks_stolen", "inject_pops", "lifo_hits",
                  "overflow_moves", "queue_hwm", "local_wakes", "remote_wakes",
                  "spurious_unparks", "local_steals", "remote_steals"):
            assert c in r, "%s: counter %s missing" % (name, c)
        assert r["units"] > 0 and r["ns_per_unit"] > 0, name
        assert r["real_time"] > 0 and r["iterations"] >= 1, name
        # ns_per_unit is the manual time spread over the units
        per_iter_ns = r["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[r["time_unit"]]
        assert abs(per_iter_ns / r["units"] - r["ns_per_unit"]) <= 1e-3 * r["ns_per_unit"] + 1e-6, \
            "%s: ns_per_unit %s vs time/units %s" % (name, r["ns_per_unit"], per_iter_ns / r["units"])
        assert r["polls"] >= r["units"] * 0.5, "%s: %s polls for %s units" % (name, r["polls"], r["units"])
        # the machine's core-to-core round trip, measured before the repetition
        # (absent only on a one-CPU machine, where there is no second core; no
        # upper bound: with other tests running, a hand-off waits for a time
        # slice and one trip takes milliseconds, which is what it then reports)
        if os.cpu_count() > 1:
            assert r.get("c2c_rt_ns", 0) > 1, "%s: c2c_rt_ns %s" % (name, r.get("c2c_rt_ns"))
        known = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
                 "repetitions", "repetition_index", "threads", "iterations", "real_time",
                 "cpu_time", "time_unit", "label", "units", "ns_per_unit", "c2c_rt_ns"}
        checks = [k for k in r if k not in known and k not in (
            "polls", "spawns", "parks", "unparks", "steals", "steal_attempts", "tasks_stolen",
            "inject_pops", "lifo_hits", "overflow_moves", "queue_hwm", "local_wakes",
            "remote_wakes", "spurious_unparks", "local_steals", "remote_steals")]
        assert checks, "%s: no self-check quantity among the counters" % name
print("%d rows x %d repetitions" % (len(rows), reps))
EOF
  ); then
    ok "$w on $s: JSON ($msg)"
  else
    bad "$w on $s: JSON check: $msg"
  fi
done

# ---- a workload with variants: NAME/SCHED/workers:N/VARIANT ---------------------------------
vw=""
for cand in uts fib; do
  if has_workload "$cand"; then vw=$cand; break; fi
done
if [ -n "$vw" ]; then
  variant=$(awk -v w="$vw" '$1 == w {s=1; next} /^  [a-z]/ {s=0} s && /variants:/ {print $2; exit}' "$WORK/list.txt")
  s1=$(echo "$schedulers" | tail -1)
  if [ -n "$variant" ] && "$BENCH" --profile=quick --workloads="$vw/$variant" --schedulers="$s1" --workers=1 \
      --benchmark_repetitions=1 --benchmark_out="$WORK/variant.json" --benchmark_out_format=json \
      >/dev/null 2>"$WORK/variant.err"; then
    if msg=$("$PY" - "$WORK/variant.json" "$vw/$s1/workers:1/$variant" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
names = [b["name"] for b in doc["benchmarks"]]
want = sys.argv[2] + "/iterations:"
assert len(names) == 1 and names[0].startswith(want), names
b = doc["benchmarks"][0]
assert not b.get("error_occurred"), b.get("error_message")
assert "/repeats:" not in names[0], "--benchmark_repetitions must replace the profile's count"
print(names[0])
EOF
    ); then ok "variant row: $msg"; else bad "variant row: $msg"; fi
  else
    bad "variant run of $vw/$variant failed: $(tail -3 "$WORK/variant.err")"
  fi
fi

# ---- filter, --param, --knob ------------------------------------------------------------------
w=${cheap[0]}
s1=$(echo "$schedulers" | tail -1)
param=$(awk -v w="$w" '$1 ~ "^" w "\\." {print $1; exit}' "$WORK/list.txt")
if "$BENCH" --profile=quick --workloads="$w" --workers=1,2 --param "$param=7" --knob budget=64 \
    --knob=lifo_slot=0 "--benchmark_filter=^$w/$s1/workers:2" --benchmark_out="$WORK/filter.json" \
    --benchmark_out_format=json >/dev/null 2>"$WORK/filter.err"; then
  if msg=$("$PY" - "$WORK/filter.json" "$w/$s1/workers:2" "$param" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
rows = {b["name"].split("/iterations:")[0] for b in doc["benchmarks"]}
assert rows == {sys.argv[2]}, "filter selected %s" % sorted(rows)
ctx = doc["context"]
assert "budget=64" in ctx["weft_knobs"].split() and "lifo_slot=0" in ctx["weft_knobs"].split(), ctx["weft_knobs"]
assert sys.argv[3] + "=7" in ctx.get("weft_params", "").split(), ctx.get("weft_params")
it = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
assert all(not b.get("error_occurred") for b in it), [b.get("error_message") for b in it]
print("%d rows of %s" % (len(it), sys.argv[2]))
EOF
  ); then ok "--benchmark_filter, --param, --knob: $msg"; else bad "--benchmark_filter/--param/--knob: $msg"; fi
else
  bad "filter run exited non-zero: $(tail -3 "$WORK/filter.err")"
fi

# ---- a failed self-check is an error row, never a time -----------------------------------------
if WEFT_BENCH_FAULT_INJECTION=1 "$BENCH" --profile=quick --workloads="$w" --schedulers="$s1" --workers=1 \
    --benchmark_out="$WORK/fault.json" --benchmark_out_format=json >/dev/null 2>"$WORK/fault.err"; then
  if msg=$("$PY" - "$WORK/fault.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
rows = [b for b in doc["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
assert rows, "no rows"
assert doc["context"].get("weft_fault_injection") == "1"
for b in rows:
    assert b.get("error_occurred") is True, "%s reported a time for a failed check" % b["name"]
    assert b.get("error_message"), b["name"]
    assert "ns_per_unit" not in b and "units" not in b, "%s: counters on a failed row" % b["name"]
print("%d error rows: %s" % (len(rows), rows[0]["error_message"][:80]))
EOF
  ); then ok "fault injection: $msg"; else bad "fault injection: $msg"; fi
  grep -q "FAILED" "$WORK/fault.err" && ok "failed rows are listed on stderr" || bad "failed rows not listed on stderr"
else
  bad "fault-injection run exited non-zero (a failed row must not change the exit status)"
fi

# ---- the watchdog: a hung iteration stops the run, names the row, exit 3 ---------------------
if has_workload interval_jitter; then
  WEFT_BENCH_TIMEOUT_S=1 "$BENCH" --profile=quick --workloads=interval_jitter --schedulers="$s1" \
    --workers=1 --param interval_jitter.duration_ms=4000 --benchmark_repetitions=1 \
    --benchmark_format=json >/dev/null 2>"$WORK/hang.err"
  rc=$?
  if [ $rc -eq 3 ] && grep -q "interval_jitter/$s1/workers:1: one iteration has run for more than" "$WORK/hang.err"; then
    ok "watchdog: a 4 s iteration with WEFT_BENCH_TIMEOUT_S=1 stops the run (exit 3) and names the row"
  else
    bad "watchdog: exit $rc, want 3 and the row named: $(tail -2 "$WORK/hang.err")"
  fi
fi

# ---- bad options: exit 2, nothing runs, the message names what is valid ------------------------------
first_s=$(echo "$schedulers" | head -1)
expect_usage_error() { # DESCRIPTION PATTERN ARGS...
  local what=$1 pattern=$2
  shift 2
  "$BENCH" "$@" --benchmark_out="$WORK/never.json" >"$WORK/bad.out" 2>"$WORK/bad.err"
  local rc=$?
  if [ $rc -ne 2 ]; then
    bad "$what: exit $rc, want 2"
  elif ! grep -qE -- "$pattern" "$WORK/bad.err"; then
    bad "$what: message does not name the valid values /$pattern/: $(cat "$WORK/bad.err")"
  elif [ -e "$WORK/never.json" ] || grep -q '^\[1/' "$WORK/bad.err"; then
    bad "$what: something ran before the error"
  else
    ok "$what: exit 2 ($(head -1 "$WORK/bad.err" | cut -c1-100))"
  fi
}
all_s=$(echo $schedulers | tr ' ' '|')
expect_usage_error "--schedulers=nope" "nope.*($all_s)" --schedulers=nope
expect_usage_error "--workers=0" "1\.\.[0-9]+" --workers=0
expect_usage_error "--workers=two" "1\.\.[0-9]+" --workers=1,two
expect_usage_error "--knob bogus=1" "bogus.*budget" --knob bogus=1
expect_usage_error "--knob=budget=abc" "budget" --knob=budget=abc
expect_usage_error "--knob budget (no value)" "NAME=VALUE" --knob budget
expect_usage_error "--profile=x" "quick, standard, full" --profile=x
expect_usage_error "--topology=pack:x" "synthetic" --topology=pack:x
expect_usage_error "--pin=sideways" "none, compact" --pin=sideways
expect_usage_error "--workloads=nope" "nope.*${cheap[0]}" --workloads=nope
expect_usage_error "--param nope.n=1" "nope" --param nope.n=1
expect_usage_error "--param $w.bogus=1" "bogus" --param "$w.bogus=1"
expect_usage_error "--frobnicate" "unrecognized" --frobnicate
if [ "$first_s" = fifo ] && echo "$schedulers" | grep -qx ws; then
  expect_usage_error "--knob local_queue_capacity=3" "power of two" --knob local_queue_capacity=3 --schedulers=ws
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
