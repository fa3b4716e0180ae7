#!/usr/bin/python3
"""compare.py: is run B slower than run A, beyond the noise?

    /usr/bin/python3 bench/compare.py A B [--threshold 0.10]
    /usr/bin/python3 bench/compare.py --reproduce RECORDED NEW

A and B: result folders (raw/*.json) or weft-bench JSON files. First the
machine identity keys that differ between A and B, and what that means.
Then rows are matched by name and compared on the workload's ranking metric
(the one weft_workload_defs names): B/A of the centres with a 95 % interval.
A and B are different runs, so nothing pairs them: with >= 2 launches on
both sides the interval is Welch's t over the launch medians (log scale);
otherwise the Hodges-Lehmann interval of the log shift from the repetitions
(one process per side: too narrow for run-to-run variation, marked ‡).

REGRESSION: B/A above 1 + threshold and the whole interval above 1. A row
that passed its self-check in A and fails in B is a failure (NEW ERROR).
Rows on one side only are listed, not failures.

--reproduce: the four-level judgement of bench/reproduce.py --judge-only.

Exit status: 0 no regression (--reproduce: levels 3 and 4 hold), 1 a
regression or a new ERROR (--reproduce: they do not), 2 a usage error.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weftbench as wb  # noqa: E402
import wb_reproduce as wr  # noqa: E402


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print("compare.py: error: %s" % message, file=sys.stderr)
        sys.exit(2)


def stats_by_name(d):
    return {s.row.name: s for t in d["tables"].values() for s in t.stats}


def cross_run_ratio(sa, sb):
    """B/A for one row measured in two runs (wb_stats.Ratio)."""
    if sa.est.launches >= 2 and sb.est.launches >= 2:
        return wb.welch_log_ratio(list(sb.est.launch_medians.values()),
                                  list(sa.est.launch_medians.values()))
    return wb.paired_ratio({0: sb.pooled()}, {0: sa.pooled()})


def mode_note(sa, sb):
    ca, cb = sa.env.get("c2c_rt_ns"), sb.env.get("c2c_rt_ns")
    if not ca or not cb or max(ca, cb) / min(ca, cb) <= 1.5:
        return ""
    return ("machine mode differs: core-to-core round trip %s ns in A, %s ns in B%s" % (
        wb.fmt_sig(ca), wb.fmt_sig(cb),
        "; with %d workers that alone moves this row" % sa.row.workers if sa.row.workers > 1 else ""))


def compare_row(sa, sb, threshold):
    out = {"cells": None, "fail": False, "note": ""}
    name = sa.row.name
    if sa.is_error or sb.is_error:
        if sa.is_error and sb.is_error:
            v = "ERROR in both"
        elif sb.is_error:
            v, out["fail"] = "NEW ERROR: " + sb.row.error, True
        else:
            v = "fixed (ERROR in A: %s)" % sa.row.error
        out["cells"] = [name, "–", "–", "–", "–", "–", "–", v]
        return out
    if not sa.ok or not sb.ok:
        out["cells"] = [name, "–", "–", "–", "–", "–", "–", "no value"]
        return out
    metric = sa.metric
    unit = wb.time_unit_for(sa.centre) if metric == "time_ns" else None
    r = cross_run_ratio(sa, sb)
    p = wb.mann_whitney_p(sa.pooled(), sb.pooled())
    if r.lo is not None and r.lo > 1.0 and r.ratio > 1.0 + threshold:
        v, out["fail"] = "REGRESSION", True
    elif r.lo is not None and r.hi < 1.0 and r.ratio < 1.0 - threshold:
        v = "improvement"
    elif r.direction != 0:
        v = "%s, within threshold" % ("slower" if r.direction > 0 else "faster")
    elif r.lo is None:
        v = "no interval (too few values)"
    else:
        v = "no significant change"
    label = {"p99_us": "p99 µs", "ns_per_unit": "ns/unit", "time_ns": "time/iter"}[metric]
    out["cells"] = [name, label, wb.fmt_metric(metric, sa.centre, unit),
                    wb.fmt_metric(metric, sb.centre, unit),
                    "%.3f" % r.ratio if r.valid else "–",
                    ("[%.3f, %.3f]%s" % (r.lo, r.hi, " ‡" if r.one_launch else "")) if r.lo is not None else "n/a",
                    wb.fmt_p(p), v]
    notes = []
    ua, ub = sa.row.counter_values("units"), sb.row.counter_values("units")
    if ua and ub and wb.median(ua) != wb.median(ub):
        notes.append("units/iter differ (%s vs %s): same profile?" % (
            wb.fmt_num(wb.median(ua)), wb.fmt_num(wb.median(ub))))
    if mode_note(sa, sb):
        notes.append(mode_note(sa, sb))
    out["note"] = "; ".join(notes)
    return out


def main(argv=None):
    ap = Parser(description="Compare two weft benchmark results row by row "
                            "(exit 1 on a significant regression).")
    ap.add_argument("a", metavar="A")
    ap.add_argument("b", metavar="B")
    ap.add_argument("--threshold", type=float, default=0.10,
                    help="relative slow-down that counts as a regression (default 0.10)")
    ap.add_argument("--alpha", type=float, default=wb.ALPHA,
                    help="significance level for one-launch recommendations (default 0.05)")
    ap.add_argument("--reproduce", action="store_true",
                    help="A is a recorded result, B its re-run: the four-level judgement")
    args = ap.parse_args(argv)
    if not 0 < args.alpha < 1:
        ap.error("--alpha must be between 0 and 1")
    if args.threshold < 0:
        ap.error("--threshold must be >= 0")
    try:
        da, db = wb.load([args.a]), wb.load([args.b])
    except wb.BenchError as e:
        print("compare.py: %s" % e, file=sys.stderr)
        return 2
    if args.reproduce:
        lines, _, status = wr.judge(da, db, args.alpha)
        print("\n".join(lines))
        return status
    for line in wb.identity_lines(da["ctx"], db["ctx"], what="B"):
        print(line)
    print("")
    sa, sb = stats_by_name(da), stats_by_name(db)
    common = [n for n in sa if n in sb]
    only_a = [n for n in sa if n not in sb]
    only_b = [n for n in sb if n not in sa]
    print("A: %s (%d rows)\nB: %s (%d rows)" % (args.a, len(sa), args.b, len(sb)))
    print("B/A = ratio of the centres (median); 95 %% interval: Welch t over launch medians "
          "(log), or ‡ Hodges-Lehmann from the repetitions of one process; REGRESSION = B/A "
          "> %g and the interval above 1; U p = two-sided Mann-Whitney on repetitions "
          "(secondary).\n" % (1 + args.threshold))
    rows, notes, fails = [], [], 0
    for n in common:
        r = compare_row(sa[n], sb[n], args.threshold)
        fails += r["fail"]
        rows.append(r["cells"])
        if r["note"]:
            notes.append("%s: %s" % (n, r["note"]))
    print(wb.text_table(["row", "metric", "A", "B", "B/A", "95% CI", "U p", "verdict"], rows))
    for x in notes:
        print("note: " + x)
    if only_a:
        print("\nonly in %s: %s" % (args.a, ", ".join(only_a)))
    if only_b:
        print("\nonly in %s: %s" % (args.b, ", ".join(only_b)))
    print("\n%d significant regression%s or new error%s in %d common rows" % (
        fails, "" if fails == 1 else "s", "" if fails == 1 else "s", len(common)))
    if not common:
        print("compare.py: no row names in common between %s and %s" % (args.a, args.b),
              file=sys.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
