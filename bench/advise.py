#!/usr/bin/env python3
"""advise.py - which configuration to run, with which knobs, from a sweep.

    bench/advise.py FILE.json...          (make advise SWEEP="..." [WORKLOADS=...] [SERVICES=...])

Reads weft-bench results that hold knob sweeps (rows ending in
/knobs:NAME=V,...) and/or services (rows service:NAME/...), and prints

* each swept knob's main effect, per kind of work and over all work, with a
  simultaneous interval (bench/wb_knobs.py says how: paired by launch,
  Holm-Bonferroni verdicts, Bonferroni intervals), or "no measurable
  effect" within the run's resolution;
* the full configurations (scheduler, workers, knobs) ranked per kind of
  work and overall, and which of them the winner beats;
* each service's configurations ranked by SLO attainment, then throughput;
* and, last, one line to paste into the environment:
  WEFT_KNOBS=scheduler=S,workers=N[,KNOB=V...] (for the first service if
  there are services, else for all the workloads), naming only the knobs
  whose effect was measurable.

Exit 0, or 2 on bad input (no file, no weft rows).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wb_analysis as wa  # noqa: E402
import wb_knobs as wk  # noqa: E402
import wb_parse as wp  # noqa: E402
import wb_stats as ws  # noqa: E402

SERVICE_COUNTERS = ("slo_fraction", "req_per_s", "p99_us", "slo_quantile")


def _values(row, metric):
    """{launch: [metric]} after the report's warm-up rule."""
    return wa.row_stats(row, metric, ([], [])).values


def load(paths):
    docs = wp.load_paths(paths)
    rows = wp.collect_rows(docs)
    ctx, _ = wp.merged_context(docs)
    defs = wp.workload_defs(ctx)
    return rows, defs, ctx


def sweep_baselines(ctx):
    """{knob: the first value of its --sweep} from the context's weft_sweep."""
    out = {}
    for sw in str((ctx or {}).get("weft_sweep") or "").split():
        name, _, vals = sw.partition("=")
        if name and vals:
            out[name] = vals.split(",")[0]
    return out


def workload_cells(rows, defs):
    by_wl = {}
    for r in rows.values():
        if r.kind == "weft" and not r.workload.startswith("service:"):
            by_wl.setdefault(r.workload, []).append(r)
    cells = []
    for wl, rs in by_wl.items():
        metric = wa.rank_metric(wl, rs, defs)
        cells += wk.cells_from_rows(rs, defs, lambda r, m=metric: _values(r, m))
    return cells


def service_data(rows):
    """({(service, config): {counter: [per-launch medians]} or {"error"}},
    [Cell] of p99 latency per service, {service: quantile})."""
    data, cells, quant = {}, [], {}
    for r in rows.values():
        p = wk.parse_service_name(r.name)
        if p is None:
            continue
        svc, sched, workers, knobs = p
        cfg = (sched, workers, knobs)
        if r.is_error:
            data[(svc, cfg)] = {"error": r.error}
            continue
        d = {}
        for c in SERVICE_COUNTERS:
            per = {}
            for rep in r.reps:
                if c in rep.counters:
                    per.setdefault(rep.launch, []).append(rep.counters[c])
            d[c] = [ws.median(v) for _, v in sorted(per.items())]
        if d["slo_quantile"]:
            quant[svc] = d["slo_quantile"][0]
        data[(svc, cfg)] = d
        vals = {}
        for rep in r.reps:
            if rep.counters.get("p99_us", 0) > 0:
                vals.setdefault(rep.launch, []).append(rep.counters["p99_us"])
        if vals:
            cells.append(wk.Cell("service:" + svc, "service:" + svc, sched, workers, "", knobs, vals))
    return data, cells, quant


def ranking_lines(title, ranked, limit=8):
    out = ["", "### %s" % title, ""]
    if not ranked:
        out.append("  (no configuration measured on every workload of it)")
        return out
    for i, r in enumerate(ranked[:limit]):
        if i == 0:
            note = "winner"
        elif r.vs_winner is None or r.vs_winner.lo is None:
            note = "no interval (one launch)"
        elif r.beaten:
            note = "%.2fx the winner's metric [%.2f, %.2f], beaten (Holm p = %.3g)" % (
                r.vs_winner.ratio, r.vs_winner.lo, r.vs_winner.hi, r.p_adj)
        else:
            note = "%.2fx [%.2f, %.2f]: not told apart from the winner" % (
                r.vs_winner.ratio, r.vs_winner.lo, r.vs_winner.hi)
        out.append("  %d. %-48s %.3f  %s" % (i + 1, wk.config_label(r.config), r.score, note))
    if len(ranked) > limit:
        out.append("  ... %d more" % (len(ranked) - limit))
    return out


def analyse(rows, defs, ctx=None):
    """(lines of text, the WEFT_KNOBS line or None), or (None, None) when
    there is no weft row with a sweep or a service."""
    cells = workload_cells(rows, defs)
    sdata, scells, quant = service_data(rows)
    if not cells and not sdata:
        return None, None
    out = []
    allcells = cells + scells
    effects = wk.main_effects(allcells, baselines=sweep_baselines(ctx))
    out.append("## Knob main effects")
    out.append("(speed relative to the first value of each --sweep; paired by launch; verdicts "
          "Holm-Bonferroni over %d tests at a family-wise 5 %%, intervals Bonferroni-adjusted)"
          % len(effects))
    if not effects:
        out.append("  no knob was swept (or no cell has a partner differing only in one knob)")
    for line in wk.effect_lines(effects):
        out.append("  " + line)

    line = None
    if cells:
        out.append("\n## Configurations")
        for kind, members in defs.kinds({c.workload for c in cells}):
            out += ranking_lines(kind, wk.rank_configs([c for c in cells if c.workload in members]))
        out += ranking_lines("all work", wk.rank_configs(cells))
        cfg, chosen, none = wk.recommend(cells, [e for e in effects if not e.kind.startswith("service:")])
        if cfg:
            out.append("\nRecommended for these workloads: %s/workers:%d with %s%s" % (
                cfg[0], cfg[1], wk.knobs_text(chosen) or "the default knobs",
                "; no measurable effect: " + ", ".join(none) if none else ""))
            line = wk.weft_knobs_line(cfg[0], cfg[1], chosen)

    if sdata:
        out.append("\n## Services (ranked by SLO attainment, then throughput)")
        ranked = wk.rank_services(sdata, lambda s: quant.get(s, 0.99))
        first = None
        for svc in sorted(ranked):
            out.append("\n### service:%s (SLO: %.1f %% of requests within the bound)" % (
                svc, 100 * quant.get(svc, 0.99)))
            for i, r in enumerate(ranked[svc][:8]):
                if r.error:
                    out.append("  %d. %-48s ERROR: %s" % (i + 1, wk.config_label(r.config), r.error))
                else:
                    out.append("  %d. %-48s within SLO %.2f %% (%s), %.0f req/s, p99 %.0f us" % (
                        i + 1, wk.config_label(r.config), 100 * r.slo_fraction,
                        "met" if r.slo_met else "missed", r.req_per_s, r.p99_us))
            best = ranked[svc][0]
            if best.error:
                continue
            kind = "service:" + svc
            matters = {e.knob for e in effects if e.kind == kind and e.measurable}
            chosen = tuple(kv for kv in best.config[2] if kv[0] in matters)
            others = sorted({k for k, _ in best.config[2]} - matters)
            out.append("  Run it with %s/workers:%d and %s%s" % (
                best.config[0], best.config[1], wk.knobs_text(chosen) or "the default knobs",
                "; no measurable effect on its p99: " + ", ".join(others) if others else ""))
            if first is None:
                first = wk.weft_knobs_line(best.config[0], best.config[1], chosen)
        if first:
            line = first
    return out, line


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    try:
        rows, defs, ctx = load(argv[1:])
    except wp.BenchError as e:
        print("advise: %s" % e, file=sys.stderr)
        return 2
    lines, line = analyse(rows, defs, ctx)
    if lines is None:
        print("advise: no weft rows in %s" % ", ".join(argv[1:]), file=sys.stderr)
        return 2
    for l in lines:
        print(l)
    if line:
        print()
        print(line)
    return 0



if __name__ == "__main__":
    sys.exit(main(sys.argv))
