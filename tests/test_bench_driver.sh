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


# ---- bad options (issue 14 section 7): a weft-bench message and exit 2 --------------------
expect_usage_error "--benchmark_filter='('" "weft-bench: error: --benchmark_filter" --benchmark_filter='(' --workloads=floor
expect_usage_error "--benchmark_repetitions=0" "weft-bench: error: --benchmark_repetitions" --benchmark_repetitions=0
expect_usage_error "--benchmark_repetitions=-1" "weft-bench: error: --benchmark_repetitions" --benchmark_repetitions=-1
expect_usage_error "--workers= (empty)" "weft-bench: error: --workers: empty" --workers=
expect_usage_error "--schedulers= (empty)" "weft-bench: error: --schedulers: empty" --schedulers=
expect_usage_error "--launches=0" "weft-bench: error: --launches" --launches=0
expect_usage_error "--peers=nope" "weft-bench: error: --peers: unknown peer runtime 'nope'" --peers=nope --launches=2
"$BENCH" --profile=quick --workloads=floor --benchmark_out="$WORK/no/such/dir/x.json" >"$WORK/bad.out" 2>"$WORK/bad.err"
rc=$?
if [ $rc -eq 2 ] && grep -q "weft-bench: error: --benchmark_out=.*does not exist" "$WORK/bad.err"; then
  ok "--benchmark_out into a missing directory: exit 2 ($(head -1 "$WORK/bad.err" | cut -c1-90))"
else
  bad "--benchmark_out into a missing directory: exit $rc: $(cat "$WORK/bad.err")"
fi

# ---- --list=json and the context: definitions, identity, seed ------------------------------
if "$BENCH" --list=json >"$WORK/defs.json" 2>"$WORK/defs.err" &&
   "$PY" - "$WORK/defs.json" <<'PYEOF'
import json, sys
defs = json.load(open(sys.argv[1]))
need = ("name", "description", "unit", "kind", "kind_title", "rank_metric", "rank_better",
        "iterations", "params", "standard_trim", "variants")
for d in defs:
    missing = [k for k in need if k not in d]
    assert not missing, (d.get("name"), missing)
    assert set(d["iterations"]) == {"quick", "standard", "full"}, d["name"]
    assert d["rank_better"] in ("lower", "higher"), d["name"]
    for p in d["params"]:
        assert {"name", "quick", "standard", "full", "min", "max"} <= set(p), (d["name"], p)
assert len(defs) >= 14, len(defs)
PYEOF
then ok "--list=json: every workload's whole definition"; else bad "--list=json: $(tail -3 "$WORK/defs.err")"; fi
if "$BENCH" --list | grep -q "ranked by: ns_per_unit, lower is better"; then
  ok "--list prints the ranking metric"; else bad "--list does not print the ranking metric"; fi

ctxjson="$WORK/ctx.json"
if "$BENCH" --profile=quick --workloads=floor --benchmark_repetitions=2 --seed=42 \
    --benchmark_out="$ctxjson" --benchmark_out_format=json >/dev/null 2>"$WORK/ctx.err" &&
   "$PY" - "$ctxjson" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["context"]
keys = c["weft_cpu_identity_keys"].split(",")
for k in ("weft_cpu_vendor", "weft_cpu_family", "weft_cpu_model_id", "weft_cpu_stepping",
          "weft_cpu_microcode", "weft_cpu_model", "weft_cpu_cache_l1d", "weft_cpu_cache_l1i",
          "weft_cpu_cache_l2", "weft_cpu_cache_l3", "weft_cpu_flags_digest", "weft_cpu_flags_count",
          "weft_cpu_smt", "weft_cpu_threads_per_core", "weft_cpu_hypervisor",
          "weft_cpu_virtualization", "weft_cores", "weft_cpu_physical_cores", "weft_cpu_sockets",
          "weft_numa_nodes", "weft_mem_total_kib", "weft_kernel", "weft_cpu_governor",
          "weft_cpu_boost"):
    assert k in keys, ("not in weft_cpu_identity_keys", k)
    assert k in c and c[k] != "", ("missing", k)
assert len(c["weft_cpu_flags_digest"]) == 16 or c["weft_cpu_flags_digest"] == "unknown"
defs = json.loads(c["weft_workload_defs"])
assert any(x["name"] == "spawn_many" for x in defs)
stat = c["weft_stat_fields"].split(",")
assert "polls" in stat and "steal_attempts" in stat and "queue_hwm:max" in stat, stat
assert c["weft_seed"] == "42", c["weft_seed"]
assert c["weft_launches"] == "1"
names = {b["run_name"].split("/iterations")[0] for b in d["benchmarks"]}
assert names == {"floor/native/workers:1", "floor/native/workers:1/yield"}, names
for b in d["benchmarks"]:
    assert not b.get("error_occurred"), b
    if b.get("run_type") == "iteration":
        assert b["ns_per_unit"] > 0 and b["units"] > 0, b
PYEOF
then ok "context: machine identity keys, weft_workload_defs parses, seed; the floor rows"
else bad "context/floor: $(tail -5 "$WORK/ctx.err")"; fi

# ---- weft_git_dirty: a tree whose only changes are under results/ is clean ------------------
gt="$WORK/gitdirty"
if command -v git >/dev/null; then
  mkdir -p "$gt" && git -C "$gt" init -q && touch "$gt/a" && git -C "$gt" add a &&
    git -C "$gt" -c user.email=t@t -c user.name=t commit -qm init
  mkdir -p "$gt/results/x" && echo 1 >"$gt/results/x/r.json"
  dirty() { WEFT_SOURCE_DIR="$gt" "$BENCH" --profile=quick --workloads=floor/spawn --benchmark_repetitions=1 \
      --benchmark_out="$WORK/gd.json" --benchmark_out_format=json >/dev/null 2>&1
    "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['context']['weft_git_dirty'])" "$WORK/gd.json"; }
  d1=$(dirty); echo x >"$gt/b"; d2=$(dirty)
  if [ "$d1" = false ] && [ "$d2" = true ]; then
    ok "weft_git_dirty: results/ only -> false, another untracked file -> true"
  else
    bad "weft_git_dirty: results/ only -> $d1 (want false), another file -> $d2 (want true)"
  fi
fi

# ---- the coordinator: launches, interleaving, a fake peer, a missing peer --------------------
fake="$WORK/peers"
mkdir -p "$fake"
cat >"$fake/weft-peer-go" <<'SHEOF'
#!/bin/bash
# A stand-in for a peer program: protocol flags in, protocol JSON out.
r=3 n=0 it=1 l=0 w=1 rt=go out=/dev/stdout
for a in "$@"; do case $a in
  --list) printf 'Workloads (parameter defaults per profile: quick / standard / full):\n  spawn_many  [unit: task]\n      fake\n      spawn_many.n                 1000 / 10000 / 100000   (1..100000000) tasks spawned\n'; exit 0;;
  --runtime=*) rt=${a#*=};; --workers=*) w=${a#*=};; --launch=*) l=${a#*=};; --out=*) out=${a#*=};;
  --repetitions=*) r=${a#*=};; --param=spawn_many.n=*) n=${a##*=};; --iterations=spawn_many=*) it=${a##*=};;
esac; done
echo "$*" >>"$(dirname "$0")/args.log"
[ "$GOMAXPROCS_CHECK" = 1 ] && [ -n "$LD_PRELOAD" ] && exit 9
{ printf '{"context":{"peer_runtime":"%s","peer_program":"weft-peer-go","peer_versions":"fake 1.0","peer_workers":"%s"},"benchmarks":[' "$rt" "$w"
  for i in $(seq 0 $((r - 1))); do
    [ "$i" -gt 0 ] && printf ','
    printf '{"name":"spawn_many/%s/workers:%s","run_name":"spawn_many/%s/workers:%s","run_type":"iteration","repetitions":%s,"repetition_index":%s,"threads":1,"iterations":%s,"real_time":10.0,"cpu_time":10.0,"time_unit":"us","units":%s,"ns_per_unit":1.0,"tasks_ran":%s,"launch":%s,"order":%s,"label":"task"}' \
      "$rt" "$w" "$rt" "$w" "$r" "$i" "$it" "$n" "$n" "$l" "$i"
  done
  printf ']}\n'; } >"$out"
SHEOF
chmod +x "$fake/weft-peer-go"
coord="$WORK/coord.json"
GOMAXPROCS_CHECK=1 "$BENCH" --profile=quick --workloads=spawn_many,floor --schedulers=fifo,ws --workers=1,2 \
  --param=spawn_many.n=300 --launches=2 --seed=5 --benchmark_repetitions=2 \
  --peers=go,tokio-mt --peers-dir="$fake" --benchmark_out="$coord" >"$WORK/coord.out" 2>"$WORK/coord.err"
rc=$?
if [ $rc -eq 0 ]; then ok "coordinator with a fake peer: exit 0"; else bad "coordinator: exit $rc: $(tail -5 "$WORK/coord.err")"; fi
nmiss=$(grep -c "peer tokio-mt left out" "$WORK/coord.err")
if [ "$nmiss" = 1 ]; then ok "a peer whose binary is absent: one line"; else bad "missing peer: $nmiss lines (want 1)"; fi
if grep -q -- "--param=spawn_many.n=300" "$fake/args.log" && grep -q -- "--iterations=spawn_many=20" "$fake/args.log" &&
   grep -q -- "--repetitions=2" "$fake/args.log" && grep -q -- "--launch=1" "$fake/args.log"; then
  ok "the peer gets weft's parameters, iterations, repetitions and launch explicitly"
else
  bad "the peer's arguments: $(head -2 "$fake/args.log")"
fi
if [ $rc -eq 0 ] && "$PY" - "$coord" <<'PYEOF'
import json, sys, collections
d = json.load(open(sys.argv[1]))
c, rows, launches = d["context"], d["benchmarks"], d["launches"]
assert c["weft_launches"] == "2" and c["weft_seed"] == "5", (c["weft_launches"], c["weft_seed"])
assert c["weft_peers"] == "go", c["weft_peers"]
assert "tokio-mt" in c["weft_peers_missing"], c["weft_peers_missing"]
assert c["peer_go_versions"] == "fake 1.0"
json.loads(c["weft_workload_defs"])
# 2 launches x (spawn_many: weft + go/1 + go/2; floor: weft)
assert len(launches) == 8, len(launches)
for i, l in enumerate(launches):
    assert l["process"] == i
    for k in ("launch", "runtime", "workers", "workload", "calibration_ns", "c2c_rt_ns", "steal_pct",
              "loadavg1", "t_start", "t_end", "exit_status"):
        assert k in l, (k, l)
    assert l["exit_status"] == 0 and l["calibration_ns"] > 0 and l["t_end"] >= l["t_start"], l
assert [l["launch"] for l in launches] == [0] * 4 + [1] * 4
orders = [r["order"] for r in rows]
assert orders == list(range(len(rows))), "order is the position in the whole run"
per = collections.Counter()
for r in rows:
    for k in ("launch", "order", "process", "runtime"):
        assert k in r, (k, r)
    assert launches[r["process"]]["launch"] == r["launch"]
    assert launches[r["process"]]["runtime"] == r["runtime"]
    assert not r.get("error_occurred"), r
    per[(r["run_name"], r["launch"])] += 1
names = {n for n, _ in per}
want = {"spawn_many/fifo/workers:1", "spawn_many/ws/workers:1", "spawn_many/ws/workers:2",
        "spawn_many/go/workers:1", "spawn_many/go/workers:2", "floor/native/workers:1",
        "floor/native/workers:1/yield"}
assert names == want, names ^ want
assert all(v == 2 for v in per.values()), per        # 2 repetitions per launch
weft = [r for r in rows if r["runtime"] == "weft" and r["run_name"].startswith("spawn_many")]
assert all(r["units"] == 300 for r in weft)
# interleaved: within a weft process the rows alternate, repetition by repetition
p0 = [r for r in rows if r["process"] == weft[0]["process"]]
assert [r["repetition_index"] for r in p0] == [0, 0, 0, 1, 1, 1], [r["repetition_index"] for r in p0]
PYEOF
then ok "coordinator: launch/order/process/runtime on every row, the launches array, peer context"
else bad "coordinator JSON (above)"; fi
# the same seed, the same order
"$BENCH" --profile=quick --workloads=spawn_many,floor --schedulers=fifo,ws --workers=1,2 \
  --param=spawn_many.n=300 --launches=2 --seed=5 --benchmark_repetitions=2 --peers=none \
  --benchmark_out="$WORK/c2.json" >/dev/null 2>&1
"$BENCH" --profile=quick --workloads=spawn_many,floor --schedulers=fifo,ws --workers=1,2 \
  --param=spawn_many.n=300 --launches=2 --seed=5 --benchmark_repetitions=2 --peers=none \
  --benchmark_out="$WORK/c3.json" >/dev/null 2>&1
if "$PY" -c "
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
key = lambda d: [(r['run_name'], r['launch'], r['process']) for r in d['benchmarks']]
assert key(a) == key(b) and len(key(a)) == 2 * 2 * 5
" "$WORK/c2.json" "$WORK/c3.json"; then ok "--seed: the same seed gives the same order (--peers=none, --launches=2)"
else bad "--seed: two runs with the same seed ran in different orders"; fi

# ---- --sweep and --service (issue 13) ------------------------------------------------------
expect_usage_error "--sweep lifo=0,1" "unknown knob 'lifo'; knobs that can be swept: budget" --sweep lifo=0,1
expect_usage_error "--sweep lifo_slot=0,2" "lifo_slot: 2 is out of range 0\.\.1" --sweep lifo_slot=0,2
expect_usage_error "--sweep lifo_slot=0,0" "value 0 given twice" --sweep lifo_slot=0,0
expect_usage_error "--sweep workers=1,2" "not swept" --sweep workers=1,2
expect_usage_error "--sweep with --knob of the same knob" "also set by --knob" --sweep lifo_slot=0,1 --knob lifo_slot=1
expect_usage_error "--service missing file" "cannot open" --service "$WORK/none.json"
echo '{"name":"s","arrival":{"mode":"open","rate_per_s":10,"duration_s":1},"request":[{"op":"spin"}],"slo":{"p99_ms":1}}' >"$WORK/bad_service.json"
expect_usage_error "--service bad op" "request\[0\]\.op: unknown op .*allowed: compute" --service "$WORK/bad_service.json"
if echo "$schedulers" | grep -qx ws && echo "$schedulers" | grep -qx global; then
  "$BENCH" --sweep steal_batch=0,1 --sweep lifo_slot=1,0 --workloads=spawn_many --schedulers=global,ws \
    --workers=2 --profile=quick --benchmark_list_tests >"$WORK/sweep.txt" 2>/dev/null
  got=$(sed 's|/iterations.*||' "$WORK/sweep.txt" | tr '\n' ' ')
  want="spawn_many/global/workers:2 spawn_many/ws/workers:2/knobs:lifo_slot=1,steal_batch=0 spawn_many/ws/workers:2/knobs:lifo_slot=1,steal_batch=1 spawn_many/ws/workers:2/knobs:lifo_slot=0,steal_batch=0 spawn_many/ws/workers:2/knobs:lifo_slot=0,steal_batch=1 "
  if [ "$got" = "$want" ]; then ok "--sweep: the product, in a fixed knob order, global not swept (no duplicate rows)"
  else bad "--sweep rows: got '$got', want '$want'"; fi
  cat >"$WORK/svc.json" <<'SVC'
{"name":"tiny","arrival":{"mode":"closed","clients":4,"requests":60},
 "request":[{"op":"compute","us":{"dist":"fixed","value":10}},{"op":"sleep","us":{"dist":"fixed","value":100}},
            {"op":"channel_hops","n":2},{"op":"tcp_roundtrip","bytes":64}],
 "slo":{"p99_ms":50}}
SVC
  if "$BENCH" --service "$WORK/svc.json" --sweep lifo_slot=0,1 --schedulers=global,ws --workers=2 --profile=quick \
       --launches=2 --peers=none --benchmark_repetitions=2 --benchmark_out="$WORK/svc_out.json" >/dev/null 2>"$WORK/svc.err" &&
     "$PY" - "$WORK/svc_out.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted({b["name"] for b in d["benchmarks"]})
assert names == ["service:tiny/global/workers:2", "service:tiny/ws/workers:2/knobs:lifo_slot=0",
                 "service:tiny/ws/workers:2/knobs:lifo_slot=1"], names
for b in d["benchmarks"]:
    assert not b.get("error_occurred"), b
    for c in ("requests", "req_per_s", "p50_us", "p99_us", "p999_us", "slo_fraction", "steps_compute",
              "hops", "tcp_bytes", "compute_ratio"):
        assert c in b, (c, b["name"])
    assert b["requests"] == 60 and b["completed_once"] == 60 and b["hops"] == 120 and b["tcp_bytes"] == 60 * 64
    assert 0.95 <= b["compute_ratio"] <= 1.05
assert "lifo_slot=0,1" in d["context"]["weft_sweep"]
assert "tiny=" in d["context"]["weft_services"]
PYEOF
  then ok "--service with --sweep under the coordinator: service:NAME rows, counters, self-check, context"
  else bad "--service rows (above; stderr: $(tail -3 "$WORK/svc.err"))"; fi
  if "$PY" "$(dirname "$0")/../bench/advise.py" "$WORK/svc_out.json" >"$WORK/advise.txt" 2>&1 &&
     tail -1 "$WORK/advise.txt" | grep -qE '^WEFT_KNOBS=scheduler=(global|ws),workers=2(,lifo_slot=[01])?$'; then
    ok "advise.py on the run ends in a WEFT_KNOBS= line ($(tail -1 "$WORK/advise.txt"))"
  else bad "advise.py: $(tail -5 "$WORK/advise.txt")"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
