#!/usr/bin/python3
"""report.py: turn weft-bench JSON into a result folder a person can read.

    /usr/bin/python3 bench/report.py [--out-root results] [--machine LABEL]
                                     [--alpha 0.05] FILE.json...

writes results/<machine>-<YYYY-MM-DD>-<commit>[-dirty]/ with

    report.md        environment, recommendation, one table per workload
    raw/*.json       the input files, byte for byte
    topology.xml     the hwloc topology XML from the context, when recorded
    plots/*.png      scaling, bar and latency plots

and prints the folder's path. The folder layout and how to read the report
are described in docs/results-layout.md. All computation lives in
bench/weftbench.py (tested by tests/report/test_report.py); this file only
lays it out.

If the folder already exists and holds exactly the same raw files, it is
rewritten in place (re-running the report is idempotent); if it holds other
raw files, a new folder with a "-2", "-3", ... suffix is made, so two runs on
the same day and commit never mix their repetitions.

Must run under /usr/bin/python3 (Debian's, which has matplotlib and scipy).
"""

import argparse
import hashlib
import math
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weftbench as wb  # noqa: E402


# ---------------------------------------------------------------------------
# Folder
# ---------------------------------------------------------------------------

def _digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _raw_names(files):
    """Unique names under raw/ for the input files (basename, then -2 ...)."""
    names, used = [], set()
    for f in files:
        base = os.path.basename(f)
        stem, ext = os.path.splitext(base)
        cand, i = base, 2
        while cand in used:
            cand = "%s-%d%s" % (stem, i, ext)
            i += 1
        used.add(cand)
        names.append(cand)
    return names


def choose_folder(root, rid, files):
    """The folder to write: ROOT/RID, or RID-2, ... when RID holds other data."""
    want = sorted(_digest(f) for f in files)
    i = 1
    while True:
        folder = os.path.join(root, rid if i == 1 else "%s-%d" % (rid, i))
        raw = os.path.join(folder, "raw")
        if not os.path.exists(folder):
            return folder
        have = sorted(_digest(os.path.join(raw, n)) for n in os.listdir(raw)
                      if n.endswith(".json")) if os.path.isdir(raw) else []
        if have == want:
            return folder
        i += 1


def plot_name(kind, key):
    return "%s-%s.png" % (kind, wb.safe_label(key.replace("/", "-")))


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------

def make_plots(tables, plots_dir):
    """Write the PNGs; returns {key: [file names]}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(plots_dir, exist_ok=True)
    made = {}
    for key, t in tables.items():
        valid = [s for s in t.stats if not s.is_error and s.n > 0]
        if not valid:
            continue
        out = made.setdefault(key, [])

        # Scaling: ns/unit (else time) vs workers, one line per scheduler.
        use_npu = all(not math.isnan(s.ns_per_unit) for s in valid)
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        scheds = sorted({s.row.scheduler for s in valid},
                        key=lambda x: (wb.scheduler_rank(x), x))
        for sch in scheds:
            pts = sorted((s for s in valid if s.row.scheduler == sch),
                         key=lambda s: s.row.workers)
            xs = [s.row.workers for s in pts]
            if use_npu:
                ys = [s.ns_per_unit for s in pts]
                cis = [wb.median_ci(wb.ns_per_unit_values(s.row)) for s in pts]
            else:
                ys = [s.time_median for s in pts]
                cis = [s.time_ci for s in pts]
            lo = [y - c[0] if c else 0.0 for y, c in zip(ys, cis)]
            hi = [c[1] - y if c else 0.0 for y, c in zip(ys, cis)]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=sch)
            if sch == "fifo" and len(pts) == 1:
                ax.axhline(ys[0], linestyle=":", linewidth=1, color="grey")
        ax.set_xscale("log", base=2)
        allw = sorted({s.row.workers for s in valid})
        ax.set_xticks(allw)
        ax.set_xticklabels([str(w) for w in allw])
        ax.set_xlabel("workers")
        ax.set_ylabel("ns per unit (median, 95% CI)" if use_npu else
                      "time per iteration, ns (median, 95% CI)")
        ax.set_ylim(bottom=0)
        ax.set_title("%s: scaling" % key)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        name = plot_name("scaling", key)
        fig.savefig(os.path.join(plots_dir, name), dpi=100)
        plt.close(fig)
        out.append(name)

        # Bars: the ranking metric of every row, CI as error bars.
        fig, ax = plt.subplots(figsize=(max(4.0, 0.7 * len(valid) + 2), 4.2))
        labels = [s.row.label for s in valid]
        ys = [s.metric_median for s in valid]
        lo = [y - s.metric_ci[0] if s.metric_ci else 0.0 for y, s in zip(ys, valid)]
        hi = [s.metric_ci[1] - y if s.metric_ci else 0.0 for y, s in zip(ys, valid)]
        colors = ["tab:green" if s is t.best else "tab:blue" for s in valid]
        ax.bar(range(len(valid)), ys, yerr=[lo, hi], capsize=3, color=colors)
        ax.set_xticks(range(len(valid)))
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_ylabel(wb.METRIC_LABEL[t.metric] + " (median, 95% CI)")
        ax.set_title("%s: %s (best in green)" % (key, wb.METRIC_LABEL[t.metric]))
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        name = plot_name("bars", key)
        fig.savefig(os.path.join(plots_dir, name), dpi=100)
        plt.close(fig)
        out.append(name)

        # Latency percentiles, where the rows carry them.
        lat = [s for s in valid if s.latency]
        if lat:
            pcts = [c for c in wb.LATENCY_COUNTERS if any(c in s.latency for s in lat)]
            fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(lat) + 2), 4.2))
            width = 0.8 / len(pcts)
            for i, c in enumerate(pcts):
                xs = [j + (i - (len(pcts) - 1) / 2.0) * width for j in range(len(lat))]
                ax.bar(xs, [s.latency.get(c, 0.0) for s in lat], width,
                       label=c.replace("_us", ""))
            ax.set_xticks(range(len(lat)))
            ax.set_xticklabels([s.row.label for s in lat], rotation=45, ha="right")
            if all(s.latency.get(c, 0) > 0 for s in lat for c in pcts):
                ax.set_yscale("log")
            ax.set_ylabel("latency, µs (median over repetitions)")
            ax.set_title("%s: latency percentiles" % key)
            ax.grid(True, axis="y", alpha=0.3)
            ax.legend()
            fig.tight_layout()
            name = plot_name("latency", key)
            fig.savefig(os.path.join(plots_dir, name), dpi=100)
            plt.close(fig)
            out.append(name)
    return made


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------

def md_escape(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(md_escape(c) for c in r) + " |")
    return out


def fmt_context_value(k, v):
    if k == "caches" and isinstance(v, list):
        parts = []
        for c in v:
            if not isinstance(c, dict):
                continue
            size = c.get("size", 0)
            sz = "%d MiB" % (size >> 20) if size >= (1 << 20) else "%d KiB" % (size >> 10)
            parts.append("L%s %s %s (shared by %s)" % (c.get("level"), c.get("type", ""),
                                                       sz, c.get("num_sharing")))
        return "; ".join(parts)
    if isinstance(v, (list, dict)):
        import json
        return json.dumps(v)
    return str(v)


def environment_section(ctx, diffs, wrote_xml):
    lines = ["## Environment", ""]
    rows = []
    for k in sorted(ctx, key=lambda k: (not k.startswith("weft_"), k)):
        if k == "weft_topology_xml":
            continue
        rows.append(("`%s`" % k, fmt_context_value(k, ctx[k])))
    lines += md_table(("field", "value"), rows)
    if wrote_xml:
        lines += ["", "The hwloc topology XML (`weft_topology_xml`) is saved as "
                  "[topology.xml](topology.xml)."]
    if ctx.get("library_build_type") == "debug":
        lines += ["", "Google Benchmark reports `library_build_type: debug`: the "
                  "Debian package calls itself a debug build; weft's own code is "
                  "built as `weft_profile`/`weft_cflags` say."]
    if diffs:
        lines += ["", "**Context fields that differ between input files** "
                  "(the table shows the first file):", ""]
        for k, lst in sorted(diffs.items()):
            if k == "weft_topology_xml":
                lines.append("- `%s`: differs in %s" % (k, ", ".join(os.path.basename(p) for p, _ in lst)))
                continue
            for p, v in lst:
                lines.append("- `%s` = `%s` in %s" % (k, md_escape(fmt_context_value(k, v)),
                                                     os.path.basename(p)))
    lines.append("")
    return lines


def describe_rec(rec, knobs=""):
    """Markdown lines of one recommendation."""
    if rec.winner is None:
        lines = ["- **%s** (%s): %s." % (rec.title, ", ".join(rec.keys) or "–", rec.note)]
        if rec.excluded:
            lines.append("  - left out: %s" % "; ".join("%s (%s)" % e for e in rec.excluded))
        return lines
    w = rec.winner
    head = "- **%s** (%s): " % (rec.title, ", ".join(rec.keys))
    if rec.runner_up is None:
        text = head + "only **%s** ran every one of these workloads (geometric mean " \
            "of ratio to best %s)." % (w.label, wb.fmt_ratio(w.score))
    else:
        r = rec.runner_up
        pinfo = "p = %s, %s" % (wb.fmt_p(r.p_vs_winner), rec.method)
        if r.reason:
            pinfo += "; %s" % r.reason
        if not rec.tie:
            text = head + "**%s** won, %.1f %% ahead of the runner-up %s " \
                "(geometric mean of ratio to best %s vs %s; %s: **significant**)." % (
                    w.label, 100 * rec.margin, r.label, wb.fmt_ratio(w.score),
                    wb.fmt_ratio(r.score), pinfo)
        else:
            text = head + "%s was fastest, %.1f %% ahead of %s (geometric mean " \
                "%s vs %s), but the difference is **not significant** (%s): " \
                "**a tie**." % (w.label, 100 * rec.margin, r.label,
                                wb.fmt_ratio(w.score), wb.fmt_ratio(r.score), pinfo)
    rec_c = rec.recommended
    if len(rec.tie_group) > 1:
        text += " Tied with the winner: %s. Recommended, as the simplest of " \
            "the tied: **%s with %d worker%s**." % (
                ", ".join(c.label for c in rec.tie_group), rec_c.config[0],
                rec_c.config[1], "" if rec_c.config[1] == 1 else "s")
    else:
        text += " Recommended: **%s with %d worker%s**." % (
            rec_c.config[0], rec_c.config[1], "" if rec_c.config[1] == 1 else "s")
    lines = [text]
    rank = ", ".join("%s %s" % (c.label, wb.fmt_ratio(c.score)) for c in rec.ranking[:6])
    if len(rec.ranking) > 6:
        rank += ", … (%d more)" % (len(rec.ranking) - 6)
    lines.append("  - ranking (geometric mean of ratio to best): %s" % rank)
    if rec.excluded:
        lines.append("  - left out: %s" % "; ".join("%s (%s)" % e for e in rec.excluded))
    return lines


def recommendation_section(tables, kinds, largest, per_count, ctx, alpha):
    knobs = str(ctx.get("weft_knobs", "") or "")
    lines = ["## Recommended configuration", ""]
    lines.append("Every row ran with the knobs `%s` (context `weft_knobs`)%s, "
                 "profile `%s`, topology `%s`, pinning `%s`. A configuration is a "
                 "scheduler and a worker count under those knobs." % (
                     knobs or "(none recorded)", "" if knobs else "",
                     ctx.get("weft_profile", "?"), ctx.get("weft_topology", "?"),
                     ctx.get("weft_pin", "?")))
    lines += ["", "Configurations are ranked by the geometric mean, over the "
              "workloads of a kind, of their ratio to each workload's best row; "
              "a lead that is not significant at alpha = %g is a tie, and a tie is "
              "resolved in favour of the simpler scheduler (fifo < global < ws < "
              "numa), then fewer workers." % alpha, ""]
    lines.append("### By kind of work")
    lines.append("")
    for rec in kinds:
        lines += describe_rec(rec, knobs)
    if not kinds:
        lines.append("- no workload of a known kind was measured.")
    lines += ["", "### Overall", ""]
    if largest is not None:
        lines.append("At the largest worker count measured (fifo, which has one "
                     "worker by construction, included as the baseline):")
        lines.append("")
        lines += describe_rec(largest, knobs)
        lines.append("")
        if largest.recommended is not None:
            c = largest.recommended.config
            lines.append("**Recommended overall: scheduler `%s`, %d worker%s, knobs "
                         "`%s`%s.**" % (c[0], c[1], "" if c[1] == 1 else "s",
                                        knobs or "(defaults)",
                                        " (a tie, resolved to the simpler scheduler)"
                                        if largest.tie and c != largest.winner.config
                                        else ""))
            lines.append("")
    if len(per_count) > 1:
        lines.append("Per worker count:")
        lines.append("")
        rows = []
        for rec in per_count:
            if rec.winner is None:
                rows.append((rec.title, "–", "–", "–", "–", rec.note))
                continue
            ru = rec.runner_up
            rows.append((rec.title, rec.winner.label,
                         "%s (%+.1f %%)" % (ru.label, 100 * rec.margin) if ru else "–",
                         wb.fmt_p(ru.p_vs_winner) if ru else "–",
                         ("tie" if rec.tie else "significant") if ru else "–",
                         rec.recommended.label))
        lines += md_table(("workers", "fastest", "runner-up (slower by)", "p",
                           "verdict", "recommended"), rows)
        lines.append("")
    return lines


def workload_section(t, plots, alpha):
    title = t.key
    lines = ["### %s" % title, ""]
    valid = [s for s in t.stats if not s.is_error and s.n > 0]
    lines.append("Ranked by **%s**%s. Ratios and p-values compare that metric; "
                 "p is the two-sided Mann-Whitney U test against the best row." % (
                     wb.METRIC_LABEL[t.metric],
                     " (its run time is fixed by design)" if t.metric == "p99_us" else ""))
    lines.append("")
    lat_cols = [c for c in wb.LATENCY_COUNTERS if any(c in s.latency for s in valid)]
    ctr_cols = [c for c in wb.SCHED_COUNTERS
                if any(s.per_unit.get(c, 0) != 0 for s in valid)]
    lvl_cols = [c for c in wb.LEVEL_COUNTERS if any(c in s.levels for s in valid)]
    env_cols = [c for c in wb.ENV_COUNTERS if any(c in s.env for s in valid)]
    show_metric = t.metric == "p99_us" and "p99_us" not in lat_cols
    per = "unit" if t.has_units else "iter"
    header = ["scheduler", "workers", "reps", "median time/iter", "95% CI of median",
              "ns/unit", "× best", "× fifo", "p vs best", "verdict"]
    if show_metric:
        header.insert(6, wb.METRIC_LABEL[t.metric])
    header += [c.replace("_us", " µs") for c in lat_cols]
    header += ["%s/%s" % (c, per) for c in ctr_cols] + lvl_cols
    header += ["c2c round trip ns" if c == "c2c_rt_ns" else c for c in env_cols]
    rows = []
    for s in t.stats:
        r = s.row
        if s.is_error:
            cells = [r.scheduler, str(r.workers), "–", "**ERROR**",
                     "–", "–", "–", "–", "–", "ERROR: " + s.row.error]
            if show_metric:
                cells.insert(6, "–")
            rows.append(cells + ["–"] * (len(lat_cols) + len(ctr_cols) + len(lvl_cols) + len(env_cols)))
            continue
        unit = wb.time_unit_for(s.time_median)
        cells = [r.scheduler, str(r.workers), str(s.n) + (" (agg.)" if r.aggregates_only else ""),
                 wb.fmt_time(s.time_median, unit), wb.fmt_ci(s.time_ci, "time_ns", unit),
                 wb.fmt_sig(s.ns_per_unit),
                 wb.fmt_ratio(s.ratio_best), wb.fmt_ratio(s.ratio_fifo),
                 "–" if s.verdict == "best" else wb.fmt_p(s.p_best),
                 "**best**" if s.verdict == "best" else s.verdict]
        if show_metric:
            cells.insert(6, wb.fmt_sig(s.metric_median))
        cells += [wb.fmt_sig(s.latency[c]) if c in s.latency else "–" for c in lat_cols]
        cells += [wb.fmt_sig(s.per_unit[c]) if c in s.per_unit else "–" for c in ctr_cols]
        cells += [wb.fmt_num(s.levels[c]) if c in s.levels else "–" for c in lvl_cols]
        cells += [wb.fmt_sig(s.env[c]) if c in s.env else "–" for c in env_cols]
        rows.append(cells)
    lines += md_table(header, rows)
    lines.append("")
    c2c = [s.env["c2c_rt_ns"] for s in valid if "c2c_rt_ns" in s.env]
    if c2c and min(c2c) > 0 and max(c2c) / min(c2c) > wb.C2C_SPREAD_WARN:
        lines.append("**Machine mode changed between rows:** the core-to-core round trip "
                     "measured before each repetition ranged from %s to %s ns (median per row). "
                     "Rows with more than one worker measured at the higher value are slower "
                     "for a reason outside weft; compare them with care." % (
                         wb.fmt_sig(min(c2c)), wb.fmt_sig(max(c2c))))
        lines.append("")
    if t.metric != "time_ns" and t.metric != "ns_per_unit":
        lines.append("The 95 %% CI of the ranking metric (%s): %s." % (
            wb.METRIC_LABEL[t.metric], "; ".join(
                "%s %s" % (s.row.label, wb.fmt_ci(s.metric_ci, t.metric)) for s in valid)))
        lines.append("")
    checks = {}
    for s in valid:
        for k, v in s.checks.items():
            checks.setdefault(k, {})[s.row.label] = v
    if checks:
        same = {k: next(iter(v.values())) for k, v in checks.items()
                if len(set(v.values())) == 1 and len(v) == len(valid)}
        if same:
            lines.append("Self-check quantities (equal in every row): " + ", ".join(
                "%s = %s" % (k, wb.fmt_num(v)) for k, v in sorted(same.items())) + ".")
        for k, v in sorted(checks.items()):
            if k in same:
                continue
            lines.append("`%s` by row: %s." % (k, ", ".join(
                "%s %s" % (lbl, wb.fmt_num(x)) for lbl, x in v.items())))
        lines.append("")
    errs = [s for s in t.stats if s.is_error]
    if errs:
        for s in errs:
            lines.append("- **ERROR** %s: %s" % (s.row.name, md_escape(s.row.error)))
        lines.append("")
    if t.key in plots:
        lines.append(" ".join("![%s](plots/%s)" % (p.split("-", 1)[0], p) for p in plots[t.key]))
        lines.append("")
    return lines


def method_section(alpha):
    r9 = wb.median_ci_ranks(9)
    return [
        "## Method", "",
        "- **Median time per iteration** over the repetitions (each repetition's "
        "`real_time` is the mean manual time of its iterations).",
        "- **95 %% CI of the median**: distribution-free order-statistic interval "
        "[x(j), x(n−j+1)] with the largest j whose coverage under Binomial(n, ½) "
        "is at least 95 %% (Conover, *Practical Nonparametric Statistics*, §3.2); "
        "e.g. with 9 repetitions it is [2nd, 8th] smallest, coverage %.1f %%. "
        "Fewer than 6 repetitions: n/a." % (100 * r9[2]),
        "- **ns/unit**: the driver's `ns_per_unit` (time per iteration / units of "
        "work per iteration), median over repetitions. Counters are per unit: each "
        "repetition's counter divided by its `units`, median over repetitions.",
        "- **p vs best**: two-sided Mann-Whitney U test (scipy) of the ranking "
        "metric against the best row; **significant** when p < %g. With fewer "
        "than %d repetitions on either side no difference is called significant "
        "(the smallest attainable p is then above 0.05). No correction for "
        "multiple comparisons: read the p-values." % (alpha, wb.MIN_REPS_FOR_TEST),
        "- **Recommendations** over several workloads use van Elteren's stratified "
        "rank-sum test (each workload a stratum) between the winner and each "
        "other configuration.",
        "- An **ERROR** row failed its workload's self-check in at least one "
        "repetition: it has no time and is left out of every ranking.",
        "",
    ]


def build_report(docs, rid, alpha=wb.ALPHA, plots_dir=None, wrote_xml=False):
    """(report.md text, tables); writes the PNGs under PLOTS_DIR when given."""
    ctx, diffs = wb.merged_context(docs)
    rows = wb.collect_rows(docs)
    tables = wb.analyse(rows, alpha)
    plots = make_plots(tables, plots_dir) if plots_dir else {}
    kinds, largest, per_count = wb.recommend_all(tables, alpha)
    lines = ["# weft benchmark report: %s" % rid, ""]
    nreps = sorted({r.n for r in rows.values() if not r.is_error})
    lines.append("Inputs: %s — %d rows, %s repetitions per row, %d ERROR row%s. "
                 "How to read this report: `docs/results-layout.md`." % (
                     ", ".join("[%s](raw/%s)" % (n, n) for n in [os.path.basename(p) for p, _ in docs]),
                     len(rows), "/".join(str(n) for n in nreps) or "0",
                     sum(r.is_error for r in rows.values()),
                     "" if sum(r.is_error for r in rows.values()) == 1 else "s"))
    lines.append("")
    lines += environment_section(ctx, diffs, wrote_xml)
    lines += recommendation_section(tables, kinds, largest, per_count, ctx, alpha)
    lines += ["## Results by workload", ""]
    for key, t in tables.items():
        lines += workload_section(t, plots, alpha)
    errs = [r for r in rows.values() if r.is_error]
    lines += ["## Errors", ""]
    if errs:
        lines.append("These rows failed their self-check; they are not numbers:")
        lines.append("")
        for r in errs:
            lines.append("- `%s`: %s" % (r.name, md_escape(r.error)))
    else:
        lines.append("None: every row passed its self-check.")
    lines.append("")
    other = [r for r in rows.values() if not r.scheduler]
    if other:
        lines += ["## Other rows", "", "Not WORKLOAD/SCHEDULER/workers:N, so in no "
                  "table: " + ", ".join("`%s`" % r.name for r in other), ""]
    lines += method_section(alpha)
    return "\n".join(lines), tables


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Write a weft result folder (report.md, plots, raw JSON) "
                    "from weft-bench JSON files and print its path.")
    ap.add_argument("files", nargs="+", metavar="FILE.json")
    ap.add_argument("--out-root", default="results",
                    help="folder the result folder goes in (default: results)")
    ap.add_argument("--machine", help="machine label (default: context weft_machine)")
    ap.add_argument("--alpha", type=float, default=wb.ALPHA,
                    help="significance level (default 0.05)")
    args = ap.parse_args(argv)
    if not 0 < args.alpha < 1:
        print("report.py: --alpha must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        files = []
        for f in args.files:
            if not os.path.isfile(f):
                raise wb.BenchError("%s: no such file" % f)
            files.append(f)
        docs = [(f, wb.load_json(f)) for f in files]
        ctx, _ = wb.merged_context(docs)
        rid = wb.result_id(ctx, args.machine)
        folder = choose_folder(args.out_root, rid, files)
        os.makedirs(os.path.join(folder, "raw"), exist_ok=True)
        names = _raw_names(files)
        for f, n in zip(files, names):
            dst = os.path.join(folder, "raw", n)
            if not (os.path.exists(dst) and os.path.samefile(f, dst)):
                shutil.copyfile(f, dst)
        docs = [(os.path.join(folder, "raw", n), d) for n, (f, d) in zip(names, docs)]
        xml = ctx.get("weft_topology_xml")
        wrote_xml = bool(xml)
        if wrote_xml:
            with open(os.path.join(folder, "topology.xml"), "w", encoding="utf-8") as f:
                f.write(str(xml))
        plots_dir = os.path.join(folder, "plots")
        if os.path.isdir(plots_dir):
            shutil.rmtree(plots_dir)
        text, _ = build_report(docs, os.path.basename(folder), args.alpha,
                               plots_dir, wrote_xml)
        with open(os.path.join(folder, "report.md"), "w", encoding="utf-8") as f:
            f.write(text)
    except wb.BenchError as e:
        print("report.py: %s" % e, file=sys.stderr)
        return 2
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
