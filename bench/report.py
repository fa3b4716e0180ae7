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
        valid = [s for s in t.stats if s.ok]
        if not valid:
            continue
        out = made.setdefault(key, [])

        # Scaling: ns/unit (else time) vs workers, one line per scheduler.
        use_npu = all(s.npu_est is not None and s.npu_est.n > 0 for s in valid)
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        scheds = sorted({s.row.scheduler for s in valid},
                        key=lambda x: (x in wb.PEER_RUNTIMES, wb.scheduler_rank(x), x))
        for sch in scheds:
            pts = sorted((s for s in valid if s.row.scheduler == sch),
                         key=lambda s: s.row.workers)
            xs = [s.row.workers for s in pts]
            e = [s.npu_est if use_npu else s.time_est for s in pts]
            ys = [x.centre for x in e]
            lo = [max(0.0, y - x.lo) if x.lo is not None else 0.0 for y, x in zip(ys, e)]
            hi = [max(0.0, x.hi - y) if x.lo is not None else 0.0 for y, x in zip(ys, e)]
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3,
                        linestyle="--" if pts[0].row.kind != "weft" else "-", label=sch)
            if sch == "fifo" and len(pts) == 1:
                ax.axhline(ys[0], linestyle=":", linewidth=1, color="grey")
        ax.set_xscale("log", base=2)
        allw = sorted({s.row.workers for s in valid})
        ax.set_xticks(allw)
        ax.set_xticklabels([str(w) for w in allw])
        ax.set_xlabel("workers")
        ax.set_ylabel("ns per unit (median, 95% CI over launches)" if use_npu else
                      "time per iteration, ns (median, 95% CI over launches)")
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
        ys = [s.centre for s in valid]
        lo = [max(0.0, y - s.est.lo) if s.est.lo is not None else 0.0 for y, s in zip(ys, valid)]
        hi = [max(0.0, s.est.hi - y) if s.est.lo is not None else 0.0 for y, s in zip(ys, valid)]
        colors = ["tab:green" if s is t.best else "tab:blue" if s.row.kind == "weft"
                  else "tab:orange" for s in valid]
        ax.bar(range(len(valid)), ys, yerr=[lo, hi], capsize=3, color=colors)
        ax.set_xticks(range(len(valid)))
        ax.set_xticklabels(labels, rotation=45, ha="right")
        ax.set_ylabel(wb.METRIC_LABEL[t.metric] + " (median, 95% CI)")
        ax.set_title("%s: %s (best weft in green, other runtimes orange)" % (key, wb.METRIC_LABEL[t.metric]))
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

md_table = wb.md_table
md_escape = wb.md_escape
ONE_LAUNCH_NOTE = ("‡ one launch: the interval describes one process only (its "
                   "repetitions), not launch-to-launch variation; treat it as too narrow.")
SLOW_CAL = 1.10      # calibration loop slower than the run's median by 10 %
SLOW_C2C = 1.5       # core-to-core round trip 1.5x the run's median
SLOW_STEAL = 2.0     # percent of CPU time stolen by the hypervisor


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
        if k in ("weft_topology_xml", "weft_workload_defs"):
            continue
        rows.append(("`%s`" % k, fmt_context_value(k, ctx[k])))
    lines += md_table(("field", "value"), rows)
    if "weft_workload_defs" in ctx:
        lines += ["", "`weft_workload_defs` (the workload definitions) is read for the kind "
                  "of work and ranking metric; see the raw JSON."]
    if wrote_xml:
        lines += ["", "The hwloc topology XML (`weft_topology_xml`) is saved as "
                  "[topology.xml](topology.xml)."]
    if ctx.get("library_build_type") == "debug":
        lines += ["", "Google Benchmark reports `library_build_type: debug`: the Debian "
                  "package calls itself a debug build; weft's own code is built as "
                  "`weft_profile`/`weft_cflags` say."]
    if diffs:
        lines += ["", "**Context fields that differ between input files** (the table "
                  "shows the first file):", ""]
        for k, lst in sorted(diffs.items()):
            if k == "weft_topology_xml":
                lines.append("- `%s`: differs in %s" % (k, ", ".join(os.path.basename(p) for p, _ in lst)))
                continue
            for p, v in lst:
                lines.append("- `%s` = `%s` in %s" % (k, md_escape(fmt_context_value(k, v)),
                                                     os.path.basename(p)))
    lines.append("")
    return lines


def identity_section(ctx):
    ident = wb.identity(ctx)
    lines = ["## The machine", ""]
    if not ident:
        return lines + ["No machine identity recorded.", ""]
    rows = [(wb.wb_provenance.LABEL.get(k, k), "`%s`" % k,
             wb.wb_provenance._show(k, v)) for k, v in ident.items()]
    lines += md_table(("what", "key", "value"), rows)
    if "weft_cpu_vendor" not in ctx:
        lines += ["", "An older file: vendor, family, model number and stepping are read "
                  "from the topology XML, cache sizes from Google Benchmark's `caches`."]
    lines.append("")
    return lines


def machine_state_section(launches):
    lines = ["## Machine state per launch", ""]
    if not launches:
        return lines + ["No `launches` array (a file from before the coordinator): one "
                        "process per row, no per-launch machine state recorded.", ""]

    def num(r, k):
        v = r.get(k)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    cal = [num(r, "calibration_ns") for r in launches if num(r, "calibration_ns")]
    c2c = [num(r, "c2c_rt_ns") for r in launches if num(r, "c2c_rt_ns")]
    mcal = wb.median(cal) if cal else None
    mc2c = wb.median(c2c) if c2c else None

    def why_slow(r):
        out = []
        if mcal and num(r, "calibration_ns") and num(r, "calibration_ns") > SLOW_CAL * mcal:
            out.append("calibration %+.0f %%" % (100 * (num(r, "calibration_ns") / mcal - 1)))
        if mc2c and num(r, "c2c_rt_ns") and num(r, "c2c_rt_ns") > SLOW_C2C * mc2c:
            out.append("c2c %.1f× median" % (num(r, "c2c_rt_ns") / mc2c))
        if num(r, "steal_pct") is not None and num(r, "steal_pct") > SLOW_STEAL:
            out.append("steal %.1f %%" % num(r, "steal_pct"))
        if r.get("exit_status") not in (None, 0):
            out.append("exit status %s" % r.get("exit_status"))
        return out
    lines.append("A process ran in a **slow phase** when its calibration loop (a fixed "
                 "single-threaded loop timed just before it started) took more than %d %% "
                 "longer than the run's median (%s ns), its core-to-core round trip was "
                 "above %.1f× the median (%s ns), or the hypervisor stole more than %g %% "
                 "of CPU time during it." % (100 * (SLOW_CAL - 1), wb.fmt_sig(mcal),
                                            SLOW_C2C, wb.fmt_sig(mc2c), SLOW_STEAL))
    lines.append("")
    rounds = {}
    for r in launches:
        rounds.setdefault(r.get("launch"), []).append(r)
    rows = []
    flagged = []
    for l in sorted(rounds, key=lambda x: (x is None, x)):
        rs = rounds[l]
        slow = [r for r in rs if why_slow(r)]
        flagged += slow

        def agg(k, f):
            xs = [num(r, k) for r in rs if num(r, k) is not None]
            return wb.fmt_sig(f(xs)) if xs else "–"
        rows.append((str(l), str(len(rs)), agg("calibration_ns", wb.median),
                     agg("calibration_ns", max), agg("c2c_rt_ns", wb.median),
                     agg("steal_pct", max), agg("loadavg1", max),
                     "**%d slow**" % len(slow) if slow else "ok"))
    lines += md_table(("launch", "processes", "calibration ns (median)", "calibration ns (max)",
                       "c2c ns (median)", "steal % (max)", "loadavg1 (max)", "slow phase"), rows)
    lines.append("")
    whole = [l for l in rounds if 2 * len([r for r in rounds[l] if why_slow(r)]) >= len(rounds[l])
             and any(why_slow(r) for r in rounds[l])]
    single = [r for r in flagged if r.get("launch") not in whole]
    for l in whole:
        lines.append("**Launch %s ran in a slow phase** (%d of its %d processes flagged): every "
                     "row's median of that launch carries it; the paired ratios cancel it, "
                     "since the rows of each workload ran back to back in it." % (
                         l, len([r for r in rounds[l] if why_slow(r)]), len(rounds[l])))
    if whole:
        lines.append("")
    if single:
        lines.append("Single processes in a slow phase (a paired ratio that involves them "
                     "carries it):")
        lines.append("")
        lines += md_table(("process", "launch", "runtime", "workers", "workload", "calibration ns",
                           "c2c ns", "steal %", "loadavg1", "why"),
                          [(str(r.get("process")), str(r.get("launch")), str(r.get("runtime")),
                            "–" if r.get("workers") is None else str(r.get("workers")),
                            str(r.get("workload")),
                            wb.fmt_sig(num(r, "calibration_ns")), wb.fmt_sig(num(r, "c2c_rt_ns")),
                            wb.fmt_sig(num(r, "steal_pct")), wb.fmt_sig(num(r, "loadavg1")),
                            ", ".join(why_slow(r))) for r in single[:30]])
        if len(single) > 30:
            lines.append("")
            lines.append("… and %d more." % (len(single) - 30))
        lines.append("")
    if not flagged:
        lines += ["No process ran in a slow phase.", ""]
    return lines


def describe_rec(rec):
    if rec.winner is None:
        lines = ["- **%s** (%s): %s." % (rec.title, ", ".join(rec.keys) or "–", rec.note)]
        if rec.excluded:
            lines.append("  - left out: %s" % "; ".join("%s (%s)" % e for e in rec.excluded))
        return lines
    w = rec.winner
    head = "- **%s** (%s): " % (rec.title, ", ".join(rec.keys))
    if rec.runner_up is None:
        text = head + "only **%s** ran every one of these workloads." % w.label
    else:
        r = rec.runner_up
        if r.vs_winner is not None and r.vs_winner.lo is not None:
            inv = r.vs_winner
            lead = "%s vs %s: %s (%s)" % (
                w.label, r.label,
                wb.verdict_text(_inverse(inv), w.label, r.label), rec.method)
        else:
            lead = "%s ahead of %s by %.1f %% (geometric mean), p = %s (%s)%s" % (
                w.label, r.label, 100 * rec.margin, wb.fmt_p(r.p_vs_winner), rec.method,
                "; " + r.reason if r.reason else "")
        if not rec.tie:
            text = head + "**%s** leads: %s." % (w.label, lead)
        else:
            text = head + "%s ranked first, but its lead's interval does not lie above +%.0f %%: "\
                "**a tie** (%s)." % (w.label, 100 * rec.min_lead, lead)
    rc = rec.recommended
    if len(rec.tie_group) > 1:
        text += " Tied: %s. Recommended, as the simplest of the tied: **%s with %d worker%s**." % (
            ", ".join(c.label for c in rec.tie_group), rc.config[0], rc.config[1],
            "" if rc.config[1] == 1 else "s")
    else:
        text += " Recommended: **%s with %d worker%s**." % (
            rc.config[0], rc.config[1], "" if rc.config[1] == 1 else "s")
    lines = [text]
    rank = ", ".join("%s %s" % (c.label, "(winner)" if c is w else wb.fmt_ratio_ci(c.vs_winner))
                     for c in rec.ranking[:6])
    if len(rec.ranking) > 6:
        rank += ", … (%d more)" % (len(rec.ranking) - 6)
    lines.append("  - ranking by the geometric mean of the paired ratio to each workload's "
                 "best weft row; each configuration's ratio to the winner [95%% CI]: %s" % rank)
    if rec.excluded:
        lines.append("  - left out: %s" % "; ".join("%s (%s)" % e for e in rec.excluded))
    return lines


def _inverse(r):
    """B/A from A/B (intervals flip)."""
    import copy
    x = copy.copy(r)
    x.ratio = 1.0 / r.ratio
    if r.lo is not None:
        x.lo, x.hi = 1.0 / r.hi, 1.0 / r.lo
    return x


def recommendation_section(kinds, largest, per_count, ctx):
    knobs = str(ctx.get("weft_knobs", "") or "")
    lines = ["## Recommended configuration", ""]
    lines.append("Among weft's configurations (scheduler × workers, knobs `%s`, profile `%s`, "
                 "topology `%s`, pinning `%s`); other runtimes are compared in the next "
                 "section and are not candidates." % (
                     knobs or "(none recorded)", ctx.get("weft_profile", "?"),
                     ctx.get("weft_topology", "?"), ctx.get("weft_pin", "?")))
    lines += ["", "A configuration's score is the geometric mean, over the workloads of a "
              "kind, of its paired ratio to each workload's best weft row. A lead counts "
              "only when the paired interval of the runner-up against the winner (per "
              "launch, mean log ratio over the workloads; t over launches) lies wholly above "
              "1 + %.0f %% (95 %% sure the lead is larger than that); otherwise it is a tie. The tie group is "
              "the winner and every configuration it does not beat, resolved to the "
              "simplest of them (fifo < global < ws < numa, then fewer workers)."
              % (100 * wb.MIN_LEAD), "", "### By kind of work", ""]
    for rec in kinds:
        lines += describe_rec(rec)
    if not kinds:
        lines.append("- no workload of a known kind was measured.")
    lines += ["", "### Overall", ""]
    if largest is not None:
        lines.append("At the largest worker count measured (fifo, one worker by "
                     "construction, included as the baseline):")
        lines.append("")
        lines += describe_rec(largest)
        lines.append("")
        if largest.recommended is not None:
            c = largest.recommended.config
            lines.append("**Recommended overall: scheduler `%s`, %d worker%s, knobs `%s`%s.**" % (
                c[0], c[1], "" if c[1] == 1 else "s", knobs or "(defaults)",
                " (a tie, resolved to the simpler configuration)"
                if largest.tie and c != largest.winner.config else ""))
            lines.append("")
    if len(per_count) > 1:
        lines += ["Per worker count:", ""]
        rows = []
        for rec in per_count:
            if rec.winner is None:
                rows.append((rec.title, "–", "–", "–", rec.note))
                continue
            ru = rec.runner_up
            v = "–"
            if ru is not None:
                v = ("tie" if rec.tie else "lead") + (
                    " (%s)" % wb.fmt_ratio_ci(ru.vs_winner) if ru.vs_winner is not None
                    and ru.vs_winner.lo is not None else " (p = %s)" % wb.fmt_p(ru.p_vs_winner))
            rows.append((rec.title, rec.winner.label, ru.label if ru else "–", v,
                         rec.recommended.label))
        lines += md_table(("workers", "fastest", "runner-up", "runner-up / fastest", "recommended"), rows)
        lines.append("")
    return lines


def peers_section(tables, comparisons, summaries, ctx):
    lines = ["## weft and the runtimes people choose between", ""]
    peers = str(ctx.get("weft_peers", "") or "")
    missing = str(ctx.get("weft_peers_missing", "") or "")
    if not comparisons:
        lines.append("No peer runtime rows in this run%s." % (
            " (asked but not built: %s)" % missing if missing else ""))
        lines.append("")
        return lines
    lines.append("Peers that ran: `%s`%s. For each workload and worker count, weft's best "
                 "policy at that count against each peer at the same count: the paired "
                 "ratio weft/peer of the ranking metric (per launch, ratio of medians; t "
                 "interval over launches; < 1: weft faster), the verdict read from that "
                 "interval, and the two-sided Mann-Whitney U p-value on the pooled "
                 "repetitions (secondary: it treats repetitions as independent)." % (
                     peers or "?", "; asked but not built: %s" % missing if missing else ""))
    lines.append("")
    lines.append("### Summary by kind of work")
    lines.append("")
    pnames = [p for p in wb.PEER_RUNTIMES if any(c.peer.row.scheduler == p for c in comparisons)]
    rows = []
    for ks in summaries:
        lead = "–"
        if ks.runner_up:
            lead = "%s: %s" % (ks.runner_up, wb.fmt_ratio_ci(ks.lead))
            if ks.lead is not None and ks.lead.lo is not None and ks.lead.lo <= 1.0:
                lead += " (**tie**)"
        cells = [ks.kind, "**%s**" % ks.fastest if ks.fastest else "–", lead]
        for p in pnames:
            d = ks.vs_peer.get(p)
            cells.append("beats %d, ties %d, loses %d" % (d["beats"], d["ties"], d["loses"])
                         if d else "–")
        rows.append(cells)
    lines += md_table(["kind of work", "fastest runtime", "next runtime: its time / fastest's [95% CI]"]
                      + ["weft vs %s" % p for p in pnames], rows)
    lines += ["", "\"Fastest runtime\": each runtime's best row per workload (any policy or "
              "worker count), geometric mean over the kind's workloads of its paired ratio "
              "to the fastest row. The weft-vs-peer cells count the workload × worker-count "
              "comparisons below in which weft's best policy beats, ties or loses.", ""]
    lines.append("### By workload")
    lines.append("")
    rows = []
    for c in comparisons:
        rows.append((c.key, str(c.workers), "weft " + c.weft.row.label, c.peer.row.label,
                     wb.fmt_ratio_ci(c.ratio), wb.fmt_p(c.p_u), c.verdict))
    lines += md_table(("workload", "workers", "weft (best policy)", "peer", "weft / peer [95% CI]",
                       "U p", "verdict"), rows)
    lines.append("")
    if any(c.ratio.one_launch for c in comparisons):
        lines += [ONE_LAUNCH_NOTE, ""]
    lines.append("### What each peer could not express exactly")
    lines.append("")
    for p in pnames:
        ver = ctx.get("peer_%s_peer_versions" % p, ctx.get("peer_%s_versions" % p, "?"))
        alloc = ctx.get("peer_%s_peer_allocator" % p, ctx.get("peer_%s_allocator" % p, "?"))
        lines.append("- **%s**: versions `%s`; allocator `%s`." % (p, ver, alloc))
        diff = ctx.get("peer_%s_peer_differences" % p, ctx.get("peer_%s_differences" % p, ""))
        for d in [x.strip() for x in str(diff).split(";") if x.strip()]:
            lines.append("  - %s" % md_escape(d))
        if not str(diff).strip():
            lines.append("  - no difference recorded")
    lines.append("")
    return lines


def workload_section(t, plots, stat_names):
    lines = ["### %s" % t.key, ""]
    valid = t.valid()
    desc = t.kind or "no kind"
    lines.append("Kind of work: %s. Ranked by **%s**. Reference: the best weft row (%s). "
                 "Ratios are paired by launch (< 1: faster than the reference). This run "
                 "could resolve differences of about **±%s** here (median half-width of the "
                 "rows' ratio intervals); smaller ones are ties." % (
                     desc, wb.METRIC_LABEL[t.metric], t.best.row.label if t.best else "none",
                     wb.fmt_pct(t.resolution)))
    lines.append("")
    lat_cols = [c for c in wb.LATENCY_COUNTERS if any(c in s.latency for s in valid)]
    ctr_cols = [c for c in stat_names[0] if any(s.per_unit.get(c, 0) != 0 for s in valid)]
    lvl_cols = [c for c in stat_names[1] if any(c in s.levels for s in valid)]
    per = "unit" if t.has_units else "iter"
    header = ["runtime", "policy", "workers", "launches × reps", "warm-up dropped",
              "median " + ("ns/unit" if t.metric == "ns_per_unit" else "p99 µs" if t.metric == "p99_us"
                           else "time/iter"),
              "95% CI", "CV within / between launches", "× best weft [95% CI]", "× fifo [95% CI]"]
    if t.floor is not None:
        header += ["× floor [95% CI]", "ns/unit above floor"]
    header += ["U p vs best", "verdict vs best"]
    header += [c.replace("_us", " µs") for c in lat_cols]
    header += ["%s/%s" % (c, per) for c in ctr_cols] + lvl_cols
    rows = []
    unit = wb.time_unit_for(t.best.centre) if t.best and t.metric == "time_ns" else None
    for s in t.stats:
        r = s.row
        rt = {"weft": "weft", "peer": "*%s (other runtime)*" % r.scheduler,
              "floor": "*floor (lower bound)*"}.get(r.kind, r.scheduler)
        pol = r.scheduler if r.kind == "weft" else "–"
        if s.is_error:
            cells = [rt, pol, str(r.workers), "–", "–", "**ERROR**"] + ["–"] * (len(header) - 7) + \
                ["ERROR: " + r.error]
            rows.append(cells)
            continue
        if not s.ok:
            rows.append([rt, pol, str(r.workers)] + ["–"] * (len(header) - 3))
            continue
        per_l = sorted({len(v) for v in s.values.values()})
        cells = [rt, pol, str(r.workers),
                 "%d × %s" % (s.est.launches, "/".join(str(x) for x in per_l)) +
                 (" (agg.)" if r.aggregates_only else ""),
                 str(s.n_dropped) if s.n_dropped else "0",
                 wb.fmt_metric(t.metric, s.centre, unit),
                 wb.fmt_ci(s.est.ci, t.metric, unit) + (" ‡" if s.est.one_launch and s.est.ci else ""),
                 "%s / %s" % (wb.fmt_pct(s.est.cv_within), wb.fmt_pct(s.est.cv_between)),
                 "1 (reference)" if s is t.best else wb.fmt_ratio_ci(s.ratio_best),
                 ("1 (fifo)" if s is t.fifo else wb.fmt_ratio_ci(s.ratio_fifo)) if t.fifo else "–"]
        if t.floor is not None:
            cells += [wb.fmt_ratio_ci(s.ratio_floor), wb.fmt_sig(s.floor_distance)]
        cells += ["–" if s is t.best else wb.fmt_p(s.p_best),
                  "**best weft**" if s is t.best else s.verdict]
        cells += [wb.fmt_sig(s.latency[c]) if c in s.latency else "–" for c in lat_cols]
        cells += [wb.fmt_sig(s.per_unit[c]) if c in s.per_unit else "–" for c in ctr_cols]
        cells += [wb.fmt_num(s.levels[c]) if c in s.levels else "–" for c in lvl_cols]
        rows.append(cells)
    lines += md_table(header, rows)
    lines.append("")
    if t.floor is not None:
        lines.append("The floor `%s` (allocate + queue + pop + call + free of a 64-byte task, "
                     "built by the project) costs %s ns/unit [%s]: no runtime can go below it; "
                     "\"above floor\" is each row's ns per unit minus it." % (
                         t.floor.row.name, wb.fmt_sig(t.floor.npu_est.centre),
                         wb.fmt_ci(t.floor.npu_est.ci, "ns_per_unit")))
        lines.append("")
    if any(s.ok and (s.est.one_launch or (s.ratio_best and s.ratio_best.one_launch)) for s in t.stats):
        lines += [ONE_LAUNCH_NOTE, ""]
    c2c = [s.env["c2c_rt_ns"] for s in valid if "c2c_rt_ns" in s.env]
    if c2c and min(c2c) > 0 and max(c2c) / min(c2c) > 1.5:
        lines.append("**Machine mode changed between rows:** the core-to-core round trip "
                     "ranged from %s to %s ns (median per row); multi-worker rows measured at "
                     "the higher value are slower for a reason outside weft." % (
                         wb.fmt_sig(min(c2c)), wb.fmt_sig(max(c2c))))
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
            if k not in same:
                lines.append("`%s` by row: %s." % (k, ", ".join(
                    "%s %s" % (lbl, wb.fmt_num(x)) for lbl, x in v.items())))
        lines.append("")
    for s in t.stats:
        if s.is_error:
            lines.append("- **ERROR** %s: %s" % (s.row.name, md_escape(s.row.error)))
    if any(s.is_error for s in t.stats):
        lines.append("")
    if t.key in plots:
        lines.append(" ".join("![%s](plots/%s)" % (p.split("-", 1)[0], p) for p in plots[t.key]))
        lines.append("")
    return lines


def warmup_section(tables):
    lines = ["## Warm-up dropped", "", "Rule: %s. Dropped repetitions are in the raw JSON "
             "but in no number of this report." % wb.WARMUP_RULE, ""]
    rows = []
    for t in tables.values():
        for s in t.stats:
            for l, k in sorted(s.dropped.items()):
                rows.append((s.row.name, str(l), str(k)))
    if rows:
        lines += md_table(("row", "launch", "repetitions dropped"), rows)
    else:
        lines.append("None.")
    lines.append("")
    return lines


def method_section(alpha):
    return [
        "## Method", "",
        "- **The unit is the launch** (one process, in one round of the coordinator). "
        "**Median**: of every kept repetition. **95 % CI**: Student t over the launch "
        "medians on the log scale. With one launch (older files) the order-statistic "
        "interval of its repetitions is shown and marked ‡ (one process only). `make "
        "reproduce` judges a re-run against the **reproduction interval**, the prediction "
        "interval for a re-run's median (√(1/L + 1/L′) in place of √(1/L)): the CI is about "
        "the centre and catches a re-run's own noisy median only ~85 % of the time.",
        "- **CV within / between launches**: standard deviations of log values (≈ CV): "
        "within = pooled within-launch variance; between = variance of launch means minus "
        "within/n (method of moments, floored at 0).",
        "- **Paired ratios** (× best weft, × fifo, × floor, weft / peer): per launch, the "
        "ratio of the two rows' medians (they ran back to back in that round); geometric "
        "mean and t interval over launches. One launch: Hodges-Lehmann interval of the log "
        "shift (unpaired, ‡).",
        "- **Verdicts** read the interval: \"A is x %% faster than B [lo, hi]\" (A takes x %% "
        "less time, or latency, than B) when it lies below 1, \"slower\" above 1, \"tie: "
        "within ±w %%\" when it contains 1.",
        "- **U p**: two-sided Mann-Whitney U on the pooled repetitions (scipy), secondary "
        "evidence; it assumes independent repetitions, which launches break. With one launch "
        "the recommendation uses it (van Elteren's stratified test over several workloads) at "
        "alpha = %g." % alpha,
        "- **Warm-up**: %s." % wb.WARMUP_RULE,
        "- An **ERROR** row failed its self-check in at least one repetition: no number, no "
        "ranking, no recommendation.",
        "- Details: `docs/results-layout.md`.",
        "",
    ]


def sweep_section(rows, defs, ctx=None):
    """Knob sweeps (rows with /knobs:...) and services (service:NAME rows):
    bench/advise.py's analysis — each knob's main effect with a simultaneous
    interval (Holm-Bonferroni verdicts, Bonferroni intervals), configurations
    ranked with their knobs, services by SLO attainment then throughput, and
    the WEFT_KNOBS line."""
    if not any("[" in r.scheduler or r.workload.startswith("service:") for r in rows.values()):
        return []
    import advise
    text, knobs_line = advise.analyse(rows, defs, ctx)
    if not text:
        return []
    out = ["## Knob sweeps and services", "",
           "Each knob's main effect is the geometric mean, over every pair of rows that differ "
           "only in that knob, of the speed ratio, paired by launch (t interval over launches). "
           "Multiple comparisons: Holm-Bonferroni over all (knob, value, kind of work) tests at a "
           "family-wise 5 %, intervals Bonferroni-adjusted; an effect that Holm does not reject, "
           "or under 1 %, is \"no measurable effect\". Method: `bench/wb_knobs.py`.", "", "```"]
    out += [l.rstrip() for l in "\n".join(text).splitlines()]
    if knobs_line:
        out += ["", knobs_line]
    out += ["```", ""]
    return out


def build_report(docs, rid, alpha=wb.ALPHA, plots_dir=None, wrote_xml=False):
    """(report.md text, analysis dict); writes the PNGs under PLOTS_DIR."""
    ctx, diffs = wb.merged_context(docs)
    rows = wb.collect_rows(docs)
    defs = wb.workload_defs(ctx)
    stat_names = wb.stat_counter_names(ctx)
    tables = wb.analyse(rows, defs, stat_names)
    plots = make_plots(tables, plots_dir) if plots_dir else {}
    kinds, largest, per_count = wb.recommend_all(tables, defs, alpha)
    comps = wb.peer_comparisons(tables)
    sums = wb.kind_summaries(tables, defs, comps)
    launches = wb.launch_records(docs)
    nl = sorted({len(r.launches()) for r in rows.values() if not r.is_error and r.reps})
    nerr = sum(r.is_error for r in rows.values())
    lines = ["# weft benchmark report: %s" % rid, ""]
    lines.append("Inputs: %s — %d rows (%d weft, %d other runtimes, %d floor), %s launch%s per "
                 "row, seed `%s`, %d ERROR row%s. How to read this report: "
                 "`docs/results-layout.md`." % (
                     ", ".join("[%s](raw/%s)" % (n, n) for n in [os.path.basename(p) for p, _ in docs]),
                     len(rows), sum(r.kind == "weft" for r in rows.values()),
                     sum(r.kind == "peer" for r in rows.values()),
                     sum(r.kind == "floor" for r in rows.values()),
                     "/".join(str(n) for n in nl) or "0", "" if nl == [1] else "es",
                     ctx.get("weft_seed", "–"), nerr, "" if nerr == 1 else "s"))
    lines.append("")
    if defs.legacy:
        lines += ["**Legacy file:** no `weft_workload_defs` in the context; kind of work and "
                  "ranking metric come from the legacy table in `bench/wb_parse.py`.", ""]
    if nl == [1]:
        lines += ["**One launch per row:** every interval in this report describes one "
                  "process (marked ‡) and is too narrow for a re-run on another day.", ""]
    lines += identity_section(ctx)
    lines += machine_state_section(launches)
    lines += recommendation_section(kinds, largest, per_count, ctx)
    lines += sweep_section(rows, defs, ctx)
    lines += peers_section(tables, comps, sums, ctx)
    lines += ["## Results by workload", ""]
    for key, t in tables.items():
        lines += workload_section(t, plots, stat_names)
    lines += warmup_section(tables)
    errs = [r for r in rows.values() if r.is_error]
    lines += ["## Errors", ""]
    if errs:
        lines += ["These rows failed their self-check; they are not numbers:", ""]
        lines += ["- `%s`: %s" % (r.name, md_escape(r.error)) for r in errs]
    else:
        lines.append("None: every row passed its self-check.")
    lines.append("")
    other = [r for r in rows.values() if not r.scheduler]
    if other:
        lines += ["## Other rows", "", "Not WORKLOAD/RUNTIME/workers:N, so in no table: " +
                  ", ".join("`%s`" % r.name for r in other), ""]
    lines += method_section(alpha)
    lines += environment_section(ctx, diffs, wrote_xml)
    return "\n".join(lines), {"tables": tables, "kinds": kinds, "largest": largest,
                              "comparisons": comps, "summaries": sums, "ctx": ctx}


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Write a weft result folder (report.md, plots, raw JSON) "
                    "from weft-bench JSON files and print its path.")
    ap.add_argument("files", nargs="+", metavar="FILE.json")
    ap.add_argument("--out-root", default="results",
                    help="folder the result folder goes in (default: results)")
    ap.add_argument("--machine", help="machine label (default: context weft_machine)")
    ap.add_argument("--no-plots", action="store_true", help="write no plots/ (faster)")
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
                               None if args.no_plots else plots_dir, wrote_xml)
        with open(os.path.join(folder, "report.md"), "w", encoding="utf-8") as f:
            f.write(text)
    except wb.BenchError as e:
        print("report.py: %s" % e, file=sys.stderr)
        return 2
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
