#!/usr/bin/python3
"""reproduce.py: re-run a recorded weft result and judge whether its
conclusions hold (bench/wb_reproduce.py has the four levels).

    /usr/bin/python3 bench/reproduce.py [--dry-run] [--out-root DIR] RESULT [-- EXTRA...]
    /usr/bin/python3 bench/reproduce.py --judge-only RECORDED NEW

RESULT, RECORDED, NEW: result folders (raw/*.json) or weft-bench JSON files.

The run: first the machine identity keys that differ between the record and
this machine (and what that means), the recorded and current commit; then
the coordinator ($WEFT_BENCH, default build/release/bench/weft-bench) with
the recorded --launches --seed --profile --peers --schedulers --workloads
--workers --topology --pin --knob --param --benchmark_repetitions (EXTRA
appended), into a temporary JSON file that bench/report.py turns into a
normal result folder under --out-root (default: results/ of the tree);
`new result: results/<dir>` is printed; then the judgement, whose last line
is

    reproduction: medians A/B, ratios C/D, orderings E/F, recommendations G/H

Exit status: 0 levels 3 (orderings) and 4 (recommendations) hold; 1 they do
not; 2 usage error; 3 weft-bench or report.py failed.
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import weftbench as wb  # noqa: E402
import wb_reproduce as wr  # noqa: E402

ROOT = os.path.dirname(HERE)


def judge_paths(recorded, new):
    rec, nw = wb.load([recorded]), wb.load([new])
    lines, counts, status = wr.judge(rec, nw)
    print("\n".join(lines))
    return status


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description="Re-run a recorded weft result and judge it.")
    ap.add_argument("paths", nargs="*", metavar="PATH")
    ap.add_argument("--judge-only", action="store_true",
                    help="PATHS are RECORDED NEW: judge, run nothing")
    ap.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    ap.add_argument("--out-root", default=os.path.join(ROOT, "results"))
    ap.add_argument("--no-plots", action="store_true", help="the new result without plots/")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        if args.judge_only:
            if len(args.paths) != 2:
                print("reproduce.py: --judge-only takes RECORDED NEW", file=sys.stderr)
                return 2
            return judge_paths(*args.paths)
        if len(args.paths) != 1:
            print("usage: reproduce.py [--dry-run] RESULT [-- EXTRA_WEFT_BENCH_ARGS...]",
                  file=sys.stderr)
            return 2
        result = args.paths[0]
        if not os.path.exists(result):
            print("reproduce.py: %s: no such result folder or file" % result, file=sys.stderr)
            return 2
        bench = os.environ.get("WEFT_BENCH", os.path.join(ROOT, "build/release/bench/weft-bench"))
        fd, tmp = tempfile.mkstemp(prefix="weft-reproduce.", suffix=".json")
        os.close(fd)
        argv_b, notes, ctx = wr.plan(result, bench, tmp)
        argv_b += extra
        # First: what differs about this machine, and what that means.
        for line in wb.identity_lines(ctx, new_ident=wb.local_identity()):
            print(line)
        commit, dirty = wb.git_state(ROOT)
        rc_ = str(ctx.get("weft_git_commit", "") or "")
        if commit:
            print("tree: commit %s%s; the record: %s%s" % (
                commit[:7], " (dirty: files outside results/ changed)" if dirty else "",
                rc_[:7] or "?", " (recorded dirty)" if wb.truthy(ctx.get("weft_git_dirty", False)) else ""))
            if rc_ and not commit.startswith(rc_[:7]):
                print("note: this tree is not the recorded commit: differences may be the code's")
        for n in notes:
            print("note: " + n)
        print("running: " + wr.quote(argv_b))
        sys.stdout.flush()
        if args.dry_run:
            os.unlink(tmp)
            return 0
        if not (os.path.isfile(bench) and os.access(bench, os.X_OK)):
            os.unlink(tmp)
            print("reproduce.py: weft-bench not found at %s; build it (make build) or set "
                  "WEFT_BENCH" % bench, file=sys.stderr)
            return 2
        if subprocess.call(argv_b) != 0:
            print("reproduce.py: weft-bench failed; partial output (if any) in %s" % tmp,
                  file=sys.stderr)
            return 3
        p = subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--out-root",
                            args.out_root] + (["--no-plots"] if args.no_plots else []) + [tmp],
                           stdout=subprocess.PIPE, text=True)
        if p.returncode != 0:
            print("reproduce.py: report.py failed on %s" % tmp, file=sys.stderr)
            return 3
        folder = p.stdout.strip().splitlines()[-1]
        os.unlink(tmp)
        shown = os.path.relpath(folder, ROOT) if os.path.abspath(folder).startswith(ROOT + os.sep) else folder
        print("new result: %s" % shown)
        print("")
        return judge_paths(result, folder)
    except wb.BenchError as e:
        print("reproduce.py: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
