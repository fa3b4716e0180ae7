#!/usr/bin/env bash
# reproduce.sh: re-run a recorded weft benchmark result and say, row by row,
# whether it reproduces.
#
#   bench/reproduce.sh [--dry-run] RESULT [EXTRA_WEFT_BENCH_ARGS...]
#
# RESULT is a result folder (results/<machine>-<date>-<commit>/) or one
# weft-bench JSON file. The script
#   1. reads the recorded context and row names (bench/weftbench.py,
#      reproduce_plan): profile, knobs, topology, pin policy, and the
#      schedulers, workloads and worker counts of the rows, and the
#      repetition count;
#   2. prints whether this machine differs from the recorded one (CPU model,
#      core count, kernel): a difference there explains a failed reproduction
#      before any number is looked at;
#   3. re-runs weft-bench ($WEFT_BENCH, default build/release/bench/weft-bench
#      under the repository root) with the same --profile --schedulers
#      --workloads --workers --topology --pin --knob flags, a
#      --benchmark_filter naming exactly the recorded rows, and the same
#      --benchmark_repetitions, into a temporary JSON file (kept; its path is
#      printed, so it can be fed to bench/report.py);
#   4. runs bench/compare.py --reproduce RESULT NEW: for each row, is the new
#      median inside the recorded 95 % confidence interval of the median?
#
# --dry-run stops after printing the machine comparison and the command.
# EXTRA_WEFT_BENCH_ARGS are appended to the weft-bench command line.
# A recorded topology of "real" (or none) passes no --topology flag.
#
# Exit status: 0 every row reproduced, 1 some row did not (or newly fails its
# self-check), 2 usage error (no such result, no weft-bench), 3 weft-bench
# itself failed. Python: $WEFT_PYTHON, default /usr/bin/python3 (Debian's,
# which has scipy).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
py=${WEFT_PYTHON:-/usr/bin/python3}
bench=${WEFT_BENCH:-$root/build/release/bench/weft-bench}

usage() {
  echo "usage: bench/reproduce.sh [--dry-run] RESULT_DIR|RESULT.json [EXTRA_WEFT_BENCH_ARGS...]" >&2
}

dry=0
if [[ ${1:-} == --dry-run ]]; then
  dry=1
  shift
fi
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  usage
  exit 0
fi
if (($# < 1)); then
  usage
  exit 2
fi
result=$1
shift
if [[ ! -e $result ]]; then
  echo "reproduce.sh: $result: no such result folder or file" >&2
  exit 2
fi
if [[ ! -x $py ]]; then
  echo "reproduce.sh: $py not found; set WEFT_PYTHON to a python3 with scipy" >&2
  exit 2
fi

argsfile=$(mktemp -t weft-reproduce-args.XXXXXX)
trap 'rm -f "$argsfile"' EXIT

# The plan: the machine comparison on stdout, the weft-bench arguments
# NUL-separated in $argsfile.
if ! "$py" - "$here" "$result" "$argsfile" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import weftbench as wb
try:
    plan = wb.reproduce_plan(sys.argv[2])
except wb.BenchError as e:
    print("reproduce.sh: %s" % e, file=sys.stderr)
    sys.exit(2)
ctx = plan["context"]
print("Recorded on %s (%s), commit %s%s, profile %s, %d repetitions, %d rows." % (
    ctx.get("weft_machine", "?"), ctx.get("weft_date", ctx.get("date", "?")),
    ctx.get("weft_git_commit", "?"),
    " (dirty)" if wb.truthy(ctx.get("weft_git_dirty", False)) else "",
    ctx.get("weft_profile", "?"), plan["repetitions"], len(plan["rows"])))
diffs = plan["differences"]
if not diffs:
    print("This machine: the recorded context names no CPU model, core count or kernel to compare.")
for what, rec, here, same in diffs:
    print("  %-9s %s: recorded %r, here %r" % (what, "same   " if same else "DIFFERS", rec, here))
if any(not d[3] for d in diffs):
    print("This machine DIFFERS from the recorded one: expect numbers to move.")
elif diffs:
    print("This machine matches the recorded CPU model, core count and kernel.")
with open(sys.argv[3], "wb") as f:
    for a in plan["args"]:
        f.write(a.encode() + b"\0")
EOF
then
  exit 2
fi

mapfile -d '' plan_args <"$argsfile"

if [[ ! -x $bench ]]; then
  if ((dry)); then
    echo "note: $bench does not exist (yet)"
  else
    echo "reproduce.sh: weft-bench not found at $bench; build it (cmake --build build/release) or set WEFT_BENCH" >&2
    exit 2
  fi
fi

new=$(mktemp -t weft-reproduce.XXXXXX.json)
cmd=("$bench" "${plan_args[@]}" "--benchmark_out=$new" "--benchmark_out_format=json" "$@")
printf 'Running:'
printf ' %q' "${cmd[@]}"
printf '\n'
if ((dry)); then
  rm -f "$new"
  exit 0
fi

if ! "${cmd[@]}"; then
  echo "reproduce.sh: weft-bench failed; partial output (if any) in $new" >&2
  exit 3
fi
echo "New run written to $new (bench/report.py can make a report of it)."
echo
status=0
"$py" "$here/compare.py" --reproduce "$result" "$new" || status=$?
exit "$status"
