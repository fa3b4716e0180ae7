#!/usr/bin/python3
"""compare.py: is run B slower than run A, beyond the noise?

    /usr/bin/python3 bench/compare.py A B [--threshold 0.10] [--alpha 0.05]
    /usr/bin/python3 bench/compare.py --reproduce RECORDED NEW

A and B are result folders (their raw/*.json) or weft-bench JSON files. Rows
are matched by name (WORKLOAD/SCHEDULER/workers:N[/VARIANT], the library's
suffixes stripped) and compared on the workload's ranking metric (ns per unit,
p99 latency for the fixed-duration latency workloads, else time per
iteration; see bench/weftbench.py): the ratio B/A of the medians, both 95 %
confidence intervals of the median, and the two-sided Mann-Whitney U p-value.

A row is a significant REGRESSION when B is slower by more than the threshold
AND p < alpha (with at least 4 repetitions per side; fewer can never be
significant). A row that passed its self-check in A and fails it in B is also
a failure: a wrong answer is worse than a slow one. Rows present on one side
only are listed, not failures.

--reproduce: RECORDED is a result, NEW a re-run of it (bench/reproduce.sh);
for each row, says whether the new median falls inside the recorded 95 % CI
of the median (or, when that interval needs more repetitions than were
recorded, inside the recorded min..max). Note that even an exact
reproduction lands outside the recorded interval now and then (both medians
are noisy); the U-test p-value beside it says whether the difference is
significant.

Exit status: 0 no significant regression (--reproduce: every row inside),
1 a significant regression or a new ERROR (--reproduce: a row outside or a
new ERROR), 2 a usage error (missing file, bad JSON, bad option).
"""

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weftbench as wb  # noqa: E402


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print("compare.py: error: %s" % message, file=sys.stderr)
        sys.exit(2)


def text_table(header, rows):
    widths = [len(h) for h in header]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    out = [fmt(header), fmt(["-" * w for w in widths])]
    out += [fmt(r) for r in rows]
    return "\n".join(out)


def load_side(path):
    docs = wb.load_paths([path])
    return wb.collect_rows(docs)


def fmt_val(metric, v, unit=None):
    return wb.fmt_metric(metric, v, unit)


def metric_cells(a, b, out):
    """The row's ranking metric on both sides: fills out's metric and median
    cells; returns (metric, values A, values B, median A, median B, unit)."""
    metric = wb.rank_metric(a.workload, [a, b])
    va, vb = wb.metric_values(a, metric), wb.metric_values(b, metric)
    out["metric"] = {"p99_us": "p99 µs", "ns_per_unit": "ns/unit",
                     "time_ns": "time/iter"}[metric]
    ma, mb = wb.median(va), wb.median(vb)
    unit = wb.time_unit_for(ma) if metric == "time_ns" else None
    out["a_med"], out["b_med"] = fmt_val(metric, ma, unit), fmt_val(metric, mb, unit)
    return metric, va, vb, ma, mb, unit


def mode_note(a, b):
    """A note when the two sides ran in different machine modes: their
    core-to-core round trips (c2c_rt_ns, recorded by weft-bench before every
    repetition) differ by more than wb.C2C_SPREAD_WARN. Rows with more than
    one worker move with that number on small VMs (docs/results-layout.md)."""
    ca, cb = wb.median(a.counter_values("c2c_rt_ns")), wb.median(b.counter_values("c2c_rt_ns"))
    if math.isnan(ca) or math.isnan(cb) or ca <= 0 or cb <= 0:
        return ""
    if max(ca, cb) / min(ca, cb) <= wb.C2C_SPREAD_WARN:
        return ""
    return ("machine mode differs: core-to-core round trip %s ns in A, %s ns in B%s"
            % (wb.fmt_sig(ca), wb.fmt_sig(cb),
               "; with %d workers that alone moves this row" % a.workers if a.workers > 1 else ""))


def compare_row(a, b, threshold, alpha):
    """One comparison: dict with the cells and flags (regression, error)."""
    out = {"name": a.name, "metric": "", "a_med": "–", "a_ci": "–",
           "b_med": "–", "b_ci": "–", "ratio": "–", "p": "–",
           "verdict": "", "fail": False, "note": ""}
    if a.is_error or b.is_error:
        if a.is_error and b.is_error:
            out["verdict"] = "ERROR in both"
        elif b.is_error:
            out["verdict"] = "NEW ERROR: " + b.error
            out["fail"] = True
        else:
            out["verdict"] = "fixed (ERROR in A: %s)" % a.error
        return out
    metric, va, vb, ma, mb, unit = metric_cells(a, b, out)
    out["a_ci"] = wb.fmt_ci(wb.median_ci(va), metric, unit)
    out["b_ci"] = wb.fmt_ci(wb.median_ci(vb), metric, unit)
    ratio = mb / ma if ma else float("nan")
    out["ratio_value"] = ratio
    out["ratio"] = "%.3f" % ratio if not math.isnan(ratio) else "–"
    c = wb.compare_samples(va, vb, alpha)
    out["p"] = wb.fmt_p(c["p"])
    sig = c["significant"]
    few = " (< %d reps)" % wb.MIN_REPS_FOR_TEST if c["reason"] else ""
    if sig and ratio > 1.0 + threshold:
        out["verdict"] = "REGRESSION"
        out["fail"] = True
    elif sig and ratio < 1.0 - threshold:
        out["verdict"] = "improvement"
    elif sig:
        out["verdict"] = "%s, within threshold" % ("slower" if ratio > 1 else "faster")
    else:
        out["verdict"] = "no significant change" + few
    ua, ub = wb.median(a.counter_values("units")), wb.median(b.counter_values("units"))
    notes = []
    if not math.isnan(ua) and not math.isnan(ub) and ua != ub:
        notes.append("units/iter differ (%s vs %s): same profile?" % (wb.fmt_num(ua), wb.fmt_num(ub)))
    if mode_note(a, b):
        notes.append(mode_note(a, b))
    out["note"] = "; ".join(notes)
    return out


def reproduce_row(a, b, alpha):
    out = {"name": a.name, "metric": "", "a_med": "–", "a_ci": "–",
           "b_med": "–", "ratio": "–", "p": "–", "inside": "", "fail": False,
           "note": ""}
    if a.is_error or b.is_error:
        if b.is_error and not a.is_error:
            out["inside"] = "NEW ERROR: " + b.error
            out["fail"] = True
        elif a.is_error and b.is_error:
            out["inside"] = "ERROR in both (reproduced)"
        else:
            out["inside"] = "recorded ERROR, now passes: " + a.error
            out["fail"] = True
        return out
    metric, va, vb, ma, mb, unit = metric_cells(a, b, out)
    ci = wb.median_ci(va)
    out["a_ci"] = wb.fmt_ci(ci, metric, unit)
    out["ratio"] = "%.3f" % (mb / ma) if ma else "–"
    out["p"] = wb.fmt_p(wb.compare_samples(va, vb, alpha)["p"])
    if ci is not None:
        ok = ci[0] <= mb <= ci[1]
        out["inside"] = "yes" if ok else "NO (%s)" % ("slower" if mb > ci[1] else "faster")
    else:
        ok = min(va) <= mb <= max(va)
        out["inside"] = "n/a: %d reps < 6; %s recorded min..max" % (
            len(va), "inside" if ok else "OUTSIDE")
    out["fail"] = not ok
    out["note"] = mode_note(a, b)
    return out


def main(argv=None):
    ap = Parser(description="Compare two weft benchmark results row by row "
                            "(exit 1 on a significant regression).")
    ap.add_argument("a", metavar="A", help="baseline: result folder or JSON file")
    ap.add_argument("b", metavar="B", help="candidate: result folder or JSON file")
    ap.add_argument("--threshold", type=float, default=0.10,
                    help="relative slow-down that counts as a regression (default 0.10)")
    ap.add_argument("--alpha", type=float, default=wb.ALPHA,
                    help="significance level of the U test (default 0.05)")
    ap.add_argument("--reproduce", action="store_true",
                    help="A is a recorded result, B its re-run: is each new "
                         "median inside the recorded 95%% CI?")
    args = ap.parse_args(argv)
    if not 0 < args.alpha < 1:
        ap.error("--alpha must be between 0 and 1")
    if args.threshold < 0:
        ap.error("--threshold must be >= 0")
    try:
        ra, rb = load_side(args.a), load_side(args.b)
    except wb.BenchError as e:
        print("compare.py: %s" % e, file=sys.stderr)
        return 2
    common = [n for n in ra if n in rb]
    only_a = [n for n in ra if n not in rb]
    only_b = [n for n in rb if n not in ra]
    fails = 0
    if args.reproduce:
        print("recorded: %s (%d rows)\nnew:      %s (%d rows)" % (args.a, len(ra), args.b, len(rb)))
        print("reproduced within interval? = the new median lies inside the "
              "recorded 95% CI of the median (distribution-free order-statistic "
              "interval); p = two-sided Mann-Whitney U, recorded vs new.\n")
        rows = []
        notes = []
        inside = 0
        for n in common:
            r = reproduce_row(ra[n], rb[n], args.alpha)
            fails += r["fail"]
            inside += not r["fail"]
            rows.append([n, r["metric"], r["a_med"], r["a_ci"], r["b_med"],
                         r["ratio"], r["p"], r["inside"]])
            if r["note"]:
                notes.append("%s: %s" % (n, r["note"]))
        print(text_table(["row", "metric", "recorded", "recorded 95% CI", "new",
                          "new/rec", "p", "reproduced within interval?"], rows))
        for x in notes:
            print("note: " + x)
        summary = "\n%d of %d rows reproduced within the recorded interval" % (inside, len(common))
    else:
        print("A: %s (%d rows)\nB: %s (%d rows)" % (args.a, len(ra), args.b, len(rb)))
        print("ratio = median B / median A; REGRESSION = B slower by more than "
              "%g %% and p < %g (two-sided Mann-Whitney U, >= %d reps per side).\n"
              % (100 * args.threshold, args.alpha, wb.MIN_REPS_FOR_TEST))
        rows = []
        notes = []
        for n in common:
            r = compare_row(ra[n], rb[n], args.threshold, args.alpha)
            fails += r["fail"]
            rows.append([n, r["metric"], r["a_med"], r["a_ci"], r["b_med"], r["b_ci"],
                         r["ratio"], r["p"], r["verdict"]])
            if r["note"]:
                notes.append("%s: %s" % (n, r["note"]))
        print(text_table(["row", "metric", "A median", "A 95% CI", "B median",
                          "B 95% CI", "B/A", "p", "verdict"], rows))
        for x in notes:
            print("note: " + x)
        summary = "\n%d significant regression%s or new error%s in %d common rows" % (
            fails, "" if fails == 1 else "s", "" if fails == 1 else "s", len(common))
    if only_a:
        print("\nonly in %s: %s" % (args.a, ", ".join(only_a)))
    if only_b:
        print("\nonly in %s: %s" % (args.b, ", ".join(only_b)))
    print(summary)
    if not common:
        print("compare.py: no row names in common between %s and %s"
              % (args.a, args.b), file=sys.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
