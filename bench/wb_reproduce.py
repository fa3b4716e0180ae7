"""wb_reproduce: re-running a recorded result, and judging a re-run.

The plan re-runs the recorded configuration through the coordinator
(docs/bench-protocol.md): the same launches, seed, profile, peers,
schedulers, workloads, worker counts, topology, pinning, knobs, parameter
overrides and repetitions per launch.

The judgement has four levels, each a count "held / judged":

1. medians: the new median of each row lies inside the recorded 95 %
   reproduction interval of that row (the prediction interval for a re-run's
   median, Estimate.reproduction_interval; rows with a recorded interval; a
   new ERROR counts as outside); the count inside the narrower interval of
   the centre is printed beside it;
2. ratios: each row's paired ratio to its workload's recorded reference row
   (the recorded best weft row) lies inside the recorded ratio's 95 %
   reproduction interval;
3. orderings: every pair of rows of one workload that the record calls
   different (paired interval excludes 1: "A faster than B") is still in the
   same order in the new run (its new paired ratio on the same side of 1); a
   pair whose row is missing or ERROR in the new run is broken;
4. recommendations: the recommended weft configuration per kind of work is
   the same; a tie that became a lead, or the reverse, is named.

The last line is `reproduction: medians A/B, ratios C/D, orderings E/F,
recommendations G/H`; the exit status is 0 when levels 3 and 4 hold.
"""

import shlex

import wb_parse as wp
import wb_provenance as wv
import wb_stats as ws
import wb_analysis as wa
from wb_format import fmt_sig


def plan(result_path, bench, out_file):
    """(argv, notes) for the coordinator to re-run RESULT into OUT_FILE."""
    docs = wp.load_paths([result_path])
    ctx, _ = wp.merged_context(docs)
    rows = wp.collect_rows(docs)
    parsed = [r for r in rows.values() if r.scheduler]
    if not parsed:
        raise wp.BenchError("%s: no WORKLOAD/RUNTIME/workers:N rows to re-run" % result_path)
    notes = []
    args = [bench]
    launches = ctx.get("weft_launches")
    if launches in (None, ""):
        launches = max(len(r.launches()) for r in parsed) or 1
        notes.append("the record has no weft_launches (a file from before the coordinator): "
                     "re-run as %s launch%s" % (launches, "" if launches == 1 else "es"))
    args.append("--launches=%s" % launches)
    if ctx.get("weft_seed") not in (None, ""):
        args.append("--seed=%s" % ctx["weft_seed"])
    else:
        notes.append("the record has no weft_seed: the coordinator's default seed is used")
    if ctx.get("weft_profile"):
        args.append("--profile=%s" % ctx["weft_profile"])
    peers = ctx.get("weft_peers")
    if peers in (None, ""):
        peers = ",".join(sorted({r.scheduler for r in parsed if r.kind == "peer"},
                                key=wp.PEER_RUNTIMES.index)) or "none"
    args.append("--peers=%s" % peers)
    weft_rows = [r for r in parsed if r.kind == "weft"]
    scheds = ctx.get("weft_schedulers") or ",".join(
        sorted({wp.base_scheduler(r.scheduler) for r in weft_rows}, key=lambda s: (wa.scheduler_rank(s), s)))
    wls = ctx.get("weft_workloads")
    if not wls:
        seen = []
        for r in parsed:
            if r.workload not in seen and r.kind != "floor" and not r.workload.startswith("service:"):
                seen.append(r.workload)
        wls = ",".join(seen)
    workers = ctx.get("weft_workers") or ",".join(str(w) for w in sorted({r.workers for r in parsed}))
    args += ["--schedulers=%s" % scheds]
    if wls:
        args.append("--workloads=%s" % wls)
    args.append("--workers=%s" % workers)
    sweeps = str(ctx.get("weft_sweep") or "").split()
    swept = {sw.split("=", 1)[0] for sw in sweeps}
    for sw in sweeps:
        args.append("--sweep=%s" % sw)
    for tok in str(ctx.get("weft_services") or "").split():
        if "=" in tok:
            args.append("--service=%s" % tok.split("=", 1)[1])
    topo = str(ctx.get("weft_topology", "") or "")
    if topo and topo != "real":
        args.append("--topology=" + topo)
    if ctx.get("weft_pin"):
        args.append("--pin=%s" % ctx["weft_pin"])
    for tok in str(ctx.get("weft_knobs") or "").replace(",", " ").split():
        if "=" in tok and tok.split("=", 1)[0] not in swept:
            args += ["--knob", tok]
    for tok in str(ctx.get("weft_param_overrides") or "").split():
        args.append("--param=%s" % tok)
    # --benchmark_repetitions is per process (per launch) for the
    # coordinator; weft_repetitions is the total over the launches
    reps = ctx.get("weft_launch_repetitions")
    if reps in (None, ""):
        reps = ctx.get("weft_repetitions")
        if reps not in (None, "") and str(launches) not in ("", "1"):
            try:
                reps = str(max(1, int(reps) // int(launches)))
            except ValueError:
                pass
    if reps not in (None, ""):
        args.append("--benchmark_repetitions=%s" % reps)
    args += ["--benchmark_out=%s" % out_file, "--benchmark_out_format=json"]
    return args, notes, ctx


def _limit(lines, n=25):
    if len(lines) <= n:
        return lines
    return lines[:n] + ["    ... and %d more" % (len(lines) - n)]


def judge(rec, new, alpha=ws.ALPHA):
    """(output lines, counts dict, exit status) for RECORDED and NEW, each the
    dict weftbench.load returns."""
    out = []
    out += wv.identity_lines(rec["ctx"], new["ctx"], what="the new run's")
    rc, nc = rec["ctx"], new["ctx"]
    out.append("recorded: commit %s%s, %s launch(es), seed %s, profile %s; new: commit %s%s, "
               "%s launch(es), seed %s, profile %s" % (
                   str(rc.get("weft_git_commit", "?"))[:7],
                   " (dirty)" if wv.truthy(rc.get("weft_git_dirty", False)) else "",
                   rc.get("weft_launches", "1"), rc.get("weft_seed", "–"), rc.get("weft_profile", "?"),
                   str(nc.get("weft_git_commit", "?"))[:7],
                   " (dirty)" if wv.truthy(nc.get("weft_git_dirty", False)) else "",
                   nc.get("weft_launches", "1"), nc.get("weft_seed", "–"), nc.get("weft_profile", "?")))
    rt, nt = rec["tables"], new["tables"]

    def new_stats(key, name):
        t = nt.get(key)
        if t is None:
            return None
        for s in t.stats:
            if s.row.name == name:
                return s
        return None

    # 1. medians
    m_ok = m_n = m_ci = 0
    bad = []
    one = False
    for key, t in rt.items():
        for s in t.stats:
            if not s.ok or s.est.ci is None:
                continue
            one = one or s.est.one_launch
            m_n += 1
            ns = new_stats(key, s.row.name)
            if ns is None or not ns.ok:
                bad.append("  %s: %s in the new run" % (
                    s.row.name, "ERROR" if ns is not None and ns.is_error else "missing"))
                continue
            m_ci += s.est.contains(ns.centre)
            lo, hi = s.est.reproduction_interval(ns.est.launches)
            if lo <= ns.centre <= hi:
                m_ok += 1
            else:
                bad.append("  %s: %s, recorded %s, reproduction interval [%s, %s] (%s)" % (
                    s.row.name, fmt_sig(ns.centre), fmt_sig(s.centre),
                    fmt_sig(lo), fmt_sig(hi), "slower" if ns.centre > hi else "faster"))
    out.append("")
    out.append("1. medians inside the recorded 95 %% reproduction interval: %d/%d%s" % (
        m_ok, m_n, " (recorded intervals from one launch: too narrow, see the report's ‡)"
        if one else ""))
    out.append("   (inside the recorded 95 %% CI of the centre, which a re-run's own median "
               "hits only ~85 %% of the time when launches are all that varies: %d/%d)"
               % (m_ci, m_n))
    out += _limit(bad)

    # 2. ratios to the recorded reference row
    r_ok = r_n = 0
    bad = []
    for key, t in rt.items():
        if t.best is None:
            continue
        nref = new_stats(key, t.best.row.name)
        for s in t.stats:
            if s is t.best or not s.ok or s.ratio_best is None or s.ratio_best.lo is None:
                continue
            r_n += 1
            ns = new_stats(key, s.row.name)
            if ns is None or not ns.ok or nref is None or not nref.ok:
                bad.append("  %s / %s: missing or ERROR in the new run" % (s.row.name, t.best.row.label))
                continue
            nr = ws.paired_ratio(ns.values, nref.values)
            lo, hi = s.ratio_best.reproduction_interval(nr.launches)
            if nr.valid and lo <= nr.ratio <= hi:
                r_ok += 1
            else:
                bad.append("  %s / %s: %.3f, recorded %.3f, reproduction interval [%.3f, %.3f]" % (
                    s.row.name, t.best.row.label, nr.ratio, s.ratio_best.ratio, lo, hi))
    out.append("2. ratios to the workload's reference row inside the recorded 95 %% reproduction "
               "interval: %d/%d" % (r_ok, r_n))
    out += _limit(bad)

    # 3. orderings
    o_ok = o_n = 0
    bad = []
    for key, t in rt.items():
        valid = [s for s in t.stats if s.ok]
        for i, a in enumerate(valid):
            for b in valid[i + 1:]:
                r = ws.paired_ratio(a.values, b.values)
                d = r.direction
                if d == 0:
                    continue
                fast, slow = (a, b) if d < 0 else (b, a)
                o_n += 1
                nf, nsl = new_stats(key, fast.row.name), new_stats(key, slow.row.name)
                if nf is None or nsl is None or not nf.ok or not nsl.ok:
                    bad.append("  %s: %s faster than %s: a row is missing or ERROR now" % (
                        key, fast.row.label, slow.row.label))
                    continue
                nr = ws.paired_ratio(nf.values, nsl.values)
                if nr.valid and nr.ratio < 1.0:
                    o_ok += 1
                else:
                    bad.append("  %s: %s faster than %s (recorded %.3f): BROKEN, now %.3f" % (
                        key, fast.row.label, slow.row.label, 1.0 / r.ratio if d > 0 else r.ratio,
                        nr.ratio))
    out.append("3. orderings the record calls significant that still hold: %d/%d" % (o_ok, o_n))
    out += _limit(bad, 40)

    # 4. recommendations per kind
    rk, _, _ = wa.recommend_all(rt, rec["defs"], alpha)
    nk, _, _ = wa.recommend_all(nt, new["defs"], alpha)
    nk = {r.title: r for r in nk}
    g = h = 0
    bad = []
    for r in rk:
        if r.recommended is None:
            continue
        h += 1
        n = nk.get(r.title)
        if n is None or n.recommended is None:
            bad.append("  %s: recorded %s, no recommendation in the new run" % (r.title, r.recommended.label))
            continue
        same = n.recommended.config == r.recommended.config
        g += same
        rs = "tie" if len(r.tie_group) > 1 else "lead"
        ns_ = "tie" if len(n.tie_group) > 1 else "lead"
        if not same:
            bad.append("  %s: recorded %s (%s), now %s (%s)" % (
                r.title, r.recommended.label, rs, n.recommended.label, ns_))
        elif rs != ns_:
            bad.append("  %s: %s unchanged, but the recorded %s is now a %s (%s)" % (
                r.title, r.recommended.label, rs, ns_,
                ", ".join(c.label for c in n.tie_group)))
    out.append("4. recommended configuration per kind of work unchanged: %d/%d" % (g, h))
    out += _limit(bad)
    out.append("")
    out.append("reproduction: medians %d/%d, ratios %d/%d, orderings %d/%d, recommendations %d/%d"
               % (m_ok, m_n, r_ok, r_n, o_ok, o_n, g, h))
    counts = {"medians": (m_ok, m_n), "ratios": (r_ok, r_n), "orderings": (o_ok, o_n),
              "recommendations": (g, h)}
    return out, counts, 0 if (o_ok == o_n and g == h) else 1


def quote(argv):
    return " ".join(shlex.quote(a) for a in argv)
