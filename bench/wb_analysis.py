"""wb_analysis: per-workload tables, recommendations and the runtime
comparison, built on wb_stats' launch-level estimates and paired ratios.

* One ranking metric per workload: the one `weft_workload_defs` names
  (legacy table without it), else ns per unit when every row has units, else
  time per iteration.
* The workload's *reference* row is its best weft row (lowest centre); "x
  best" and every verdict in the table are paired ratios to it. Peers and the
  floor are rows of the table but never the reference.
* The workload's *resolution* is the median, over its rows, of the half-width
  of their paired ratio interval to the reference: differences smaller than
  that are ties in this run.
* A recommendation ranks weft configurations (scheduler x workers) measured
  without error on every workload of a kind by the geometric mean of their
  paired ratio to each workload's reference. The winner's lead over another
  configuration is real when the combined paired interval (per launch, mean
  log ratio over the kind's workloads; t over launches) lies wholly above
  1 + MIN_LEAD (10 %: 95 % sure the lead exceeds 10 %); otherwise the two
  tie (leads that passed a weaker rule flipped between same-machine runs). The tie group is
  the winner and every configuration it does not beat; the simplest of the
  group is recommended (fifo < global < ws < numa, then fewer workers). With
  one launch (legacy files) the U test / van Elteren test at alpha decides.
"""

import math
from dataclasses import dataclass, field

import wb_parse as wp
import wb_stats as ws

SCHEDULER_ORDER = wp.WEFT_SCHEDULERS
# A recommendation's lead counts only when its whole paired interval lies
# above 1 + MIN_LEAD (a superiority-by-a-margin test: 95 % sure the lead is
# more than 10 %); anything less is a tie. Calibrated on same-machine
# re-runs (docs/results-layout.md has the runs): a point lead above 15 %
# with the interval above 1 still flipped once (IO, AMD, 15.3 % -> 14.2 %).
MIN_LEAD = 0.10
# Rows whose distance to the floor (allocate + queue + pop + call + free of
# a 64-byte task) is shown: at least spawn_many and yield_many, plus any
# workload whose unit is a task or a yield.
FLOOR_WORKLOADS = ("spawn_many", "yield_many")
FLOOR_UNITS = ("task", "tasks", "yield", "yields")

METRIC_LABEL = {
    "p99_us": "p99 latency (µs)",
    "ns_per_unit": "ns per unit",
    "time_ns": "time per iteration (ns)",
}


def scheduler_rank(name):
    try:
        return SCHEDULER_ORDER.index(wp.base_scheduler(name))
    except ValueError:
        return len(SCHEDULER_ORDER)


def row_sort_key(row):
    k = {"weft": 0, "peer": 1, "floor": 2}.get(row.kind, 3)
    if row.kind == "peer":
        sub = wp.PEER_RUNTIMES.index(row.scheduler)
    else:
        sub = scheduler_rank(row.scheduler)
    return (k, sub, row.scheduler, row.workers)


def rank_metric(workload, rows, defs):
    valid = [r for r in rows if not r.is_error and r.n > 0]
    want = defs.metric(workload) if defs is not None else None
    if want == "p99_us":
        if valid and all(r.has_counter("p99_us") for r in valid):
            return "p99_us"
        if valid:
            wp.warn("%s ranks by p99 latency but not every row records p99_us; "
                    "ranked by time instead" % workload, once=True)
    if want == "time_ns":
        return "time_ns"
    if valid and all(r.has_counter("ns_per_unit") or r.has_counter("units") for r in valid):
        return "ns_per_unit"
    return "time_ns"


def rep_metric(rep, metric):
    if metric == "time_ns":
        return rep.time_ns
    if metric == "ns_per_unit":
        if "ns_per_unit" in rep.counters:
            return rep.counters["ns_per_unit"]
        u = rep.counters.get("units", 0)
        return rep.time_ns / u if u > 0 else None
    return rep.counters.get(metric)


def metric_values(row, metric):
    return [v for v in (rep_metric(r, metric) for r in row.reps) if v is not None]


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------

@dataclass
class RowStats:
    row: object
    metric: str = "time_ns"
    kept: dict = field(default_factory=dict)       # launch -> [Rep] after warm-up
    dropped: dict = field(default_factory=dict)    # launch -> number dropped
    values: dict = field(default_factory=dict)     # launch -> [metric value]
    npu_values: dict = field(default_factory=dict)
    est: object = None                              # ws.Estimate of the metric
    time_est: object = None
    npu_est: object = None
    ratio_best: object = None                       # ws.Ratio to the reference
    ratio_fifo: object = None
    ratio_floor: object = None
    floor_distance: float = float("nan")            # ns per unit above the floor
    p_best: float = float("nan")                    # U test, pooled repetitions
    direction: int = 0                              # vs the reference
    verdict: str = ""
    latency: dict = field(default_factory=dict)
    per_unit: dict = field(default_factory=dict)
    levels: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)

    @property
    def is_error(self):
        return self.row.is_error

    @property
    def ok(self):
        return not self.row.is_error and self.est is not None and self.est.n > 0

    @property
    def n(self):
        return self.est.n if self.est else 0

    @property
    def centre(self):
        return self.est.centre if self.est else float("nan")

    def pooled(self):
        return [x for v in self.values.values() for x in v]

    @property
    def n_dropped(self):
        return sum(self.dropped.values())


def _flat(d):
    return [x for v in d.values() for x in v]


def row_stats(row, metric, stat_names):
    st = RowStats(row=row, metric=metric)
    if row.is_error:
        st.verdict = "ERROR"
        return st
    for l, reps in row.by_launch().items():
        vals = [rep_metric(r, metric) for r in reps]
        pairs = [(r, v) for r, v in zip(reps, vals) if v is not None]
        k = ws.warmup_split([v for _, v in pairs])
        st.dropped[l] = k
        st.kept[l] = [r for r, _ in pairs[k:]]
        st.values[l] = [v for _, v in pairs[k:]]
        npu = [rep_metric(r, "ns_per_unit") for r in st.kept[l]]
        st.npu_values[l] = [v for v in npu if v is not None]
    st.dropped = {l: k for l, k in st.dropped.items() if k}
    st.est = ws.launch_estimate(st.values)
    st.time_est = ws.launch_estimate({l: [r.time_ns for r in v] for l, v in st.kept.items()})
    st.npu_est = ws.launch_estimate(st.npu_values)
    kept = _flat(st.kept)
    events, levels = stat_names

    def med_counter(c, per_unit=False):
        xs = []
        for r in kept:
            if c in r.counters:
                u = r.counters.get("units", 0)
                xs.append(r.counters[c] / u if per_unit and u > 0 else r.counters[c])
        return ws.median(xs) if xs else None
    for c in wp.LATENCY_COUNTERS:
        v = med_counter(c)
        if v is not None:
            st.latency[c] = v
    if row.kind == "weft":
        for c in events:
            v = med_counter(c, True)
            if v is not None:
                st.per_unit[c] = v
        for c in levels:
            v = med_counter(c)
            if v is not None:
                st.levels[c] = v
    for c in wp.ENV_COUNTERS:
        v = med_counter(c)
        if v is not None:
            st.env[c] = v
    known = (set(events) | set(levels) | set(wp.LATENCY_COUNTERS) | set(wp.UNIT_COUNTERS)
             | set(wp.ENV_COUNTERS) | set(wp.RATE_COUNTERS))
    for c in sorted({k for r in kept for k in r.counters} - known):
        st.checks[c] = med_counter(c)
    return st


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

@dataclass
class WorkloadTable:
    key: str
    workload: str
    variant: str
    metric: str
    kind: str
    stats: list
    best: RowStats = None          # the reference: best weft row
    fastest: RowStats = None       # fastest row of any runtime (not the floor)
    fifo: RowStats = None
    floor: RowStats = None         # the floor row, when distances are shown
    resolution: float = float("nan")
    has_units: bool = False
    one_launch: bool = False

    def by_config(self, kind="weft"):
        return {s.row.config: s for s in self.stats if s.ok and s.row.kind == kind}

    def valid(self, kinds=("weft", "peer", "floor")):
        return [s for s in self.stats if s.ok and s.row.kind in kinds]


def floor_relevant(workload, defs):
    if workload in FLOOR_WORKLOADS:
        return True
    u = defs.unit(workload) if defs is not None else None
    return bool(u) and str(u).lower() in FLOOR_UNITS


def analyse_workload(rows, defs, stat_names, floor_stats=None):
    rows = sorted(rows, key=row_sort_key)
    workload, variant = rows[0].workload, rows[0].variant
    metric = rank_metric(workload, rows, defs)
    stats = [row_stats(r, metric, stat_names) for r in rows]
    t = WorkloadTable(key=rows[0].key, workload=workload, variant=variant, metric=metric,
                      kind=defs.kind(workload) if defs is not None else None, stats=stats)
    t.has_units = any(s.ok and s.npu_values and any(s.npu_values.values()) for s in stats)
    valid = [s for s in stats if s.ok and not math.isnan(s.centre)]
    if not valid:
        return t
    t.one_launch = all(s.est.launches <= 1 for s in valid)
    weft = [s for s in valid if s.row.kind == "weft"]
    pool = weft or [s for s in valid if s.row.kind != "floor"] or valid
    t.best = min(pool, key=lambda s: (s.centre, row_sort_key(s.row)))
    runtimes = [s for s in valid if s.row.kind != "floor"] or valid
    t.fastest = min(runtimes, key=lambda s: (s.centre, row_sort_key(s.row)))
    fifos = [s for s in weft if s.row.scheduler == "fifo"]
    if fifos:
        t.fifo = min(fifos, key=lambda s: (s.row.workers != 1, s.row.workers))
    if (floor_stats is not None and floor_stats.ok and workload != "floor"
            and floor_relevant(workload, defs) and t.has_units):
        t.floor = floor_stats
    halfs = []
    for s in valid:
        s.ratio_best = ws.paired_ratio(s.values, t.best.values)
        if t.fifo is not None:
            s.ratio_fifo = ws.paired_ratio(s.values, t.fifo.values)
        if t.floor is not None and s.npu_values:
            s.ratio_floor = ws.paired_ratio(s.npu_values, t.floor.npu_values)
            s.floor_distance = s.npu_est.centre - t.floor.npu_est.centre
        if s is t.best:
            s.verdict = "reference (best weft)" if s.row.kind == "weft" else "reference"
            continue
        s.p_best = ws.mann_whitney_p(s.pooled(), t.best.pooled())
        s.direction = s.ratio_best.direction
        s.verdict = ws.verdict_text(s.ratio_best, s.row.label, t.best.row.label)
        if not math.isnan(s.ratio_best.halfwidth):
            halfs.append(s.ratio_best.halfwidth)
    t.resolution = ws.median(halfs) if halfs else float("nan")
    return t


def analyse(rows, defs, stat_names):
    """{workload key: WorkloadTable}: kinds in order, then others by name."""
    groups = {}
    for r in rows.values():
        if not r.scheduler:
            continue
        groups.setdefault(r.key, []).append(r)
    floor_stats = None
    if "floor" in groups:
        fr = [r for r in groups["floor"] if r.kind == "floor"]
        if fr:
            floor_stats = row_stats(fr[0], "ns_per_unit", stat_names)
    kinds = [k for k, _ in defs.kinds({r.workload for r in rows.values() if r.scheduler})]

    def order(key):
        wl = key.split("/", 1)[0]
        k = defs.kind(wl)
        if k in kinds:
            return (kinds.index(k), key)
        return (len(kinds) + (1 if wl == "floor" else 0), key)
    return {k: analyse_workload(groups[k], defs, stat_names, floor_stats)
            for k in sorted(groups, key=order)}


# ---------------------------------------------------------------------------
# Recommendations (weft configurations only)
# ---------------------------------------------------------------------------

@dataclass
class Candidate:
    config: tuple
    score: float
    vs_winner: object = None         # ws.Ratio: this / winner (combined)
    p_vs_winner: float = float("nan")
    significant: bool = False        # the winner is really faster
    reason: str = ""

    @property
    def label(self):
        return "%s/%d" % self.config


@dataclass
class Recommendation:
    title: str
    keys: list
    ranking: list = field(default_factory=list)
    excluded: list = field(default_factory=list)
    method: str = ""
    winner: Candidate = None
    runner_up: Candidate = None
    margin: float = float("nan")
    tie: bool = False
    min_lead: float = MIN_LEAD       # the smallest lead that counts
    tie_group: list = field(default_factory=list)
    recommended: Candidate = None
    note: str = ""


LEAD_RULE_REASON = "lead %.1f %%, but its interval starts at %.1f %%: not above the %.0f %% that counts"


def lead_counts(r, min_lead):
    """Does the winner's lead over a candidate count (paired ratio R =
    candidate / winner, with its interval)? Only when the whole interval
    lies above 1 + MIN_LEAD."""
    return r.lo > 1.0 + min_lead


def recommend(tables, keys, title, alpha=ws.ALPHA, config_filter=None):
    keys = [k for k in keys if k in tables and tables[k].best is not None
            and tables[k].best.row.kind == "weft"]
    rec = Recommendation(title=title, keys=keys)
    if not keys:
        rec.note = "no workload of this kind has a valid weft row"
        return rec
    configs = set()
    for k in keys:
        for s in tables[k].stats:
            if s.row.kind == "weft":
                configs.add(s.row.config)
    if config_filter:
        configs = {c for c in configs if config_filter(c)}
    cands = []
    for c in sorted(configs, key=lambda c: (scheduler_rank(c[0]), c[0], c[1])):
        why = None
        for k in keys:
            st = [s for s in tables[k].stats if s.row.kind == "weft" and s.row.config == c]
            if not st:
                why = "not measured on %s" % k
            elif st[0].is_error:
                why = "ERROR on %s" % k
            elif not st[0].ok or not st[0].ratio_best or not st[0].ratio_best.valid:
                why = "no value on %s" % k
            if why:
                break
        if why:
            rec.excluded.append(("%s/%d" % c, why))
            continue
        cands.append(Candidate(c, ws.geomean(tables[k].by_config()[c].ratio_best.ratio
                                             for k in keys)))
    if not cands:
        rec.note = "no configuration ran every one of these workloads without error"
        return rec
    cands.sort(key=lambda c: (c.score, scheduler_rank(c.config[0]), c.config[1]))
    rec.min_lead = MIN_LEAD
    rec.ranking = cands
    win = rec.winner = cands[0]
    for c in cands[1:]:
        pairs = [(tables[k].by_config()[c.config].values,
                  tables[k].by_config()[win.config].values) for k in keys]
        r = ws.combined_paired(pairs)
        c.vs_winner = r
        if r.lo is not None:
            c.p_vs_winner = r.p
            c.significant = lead_counts(r, rec.min_lead)
            if r.lo > 1.0 and not c.significant:
                c.reason = LEAD_RULE_REASON % (100 * (r.ratio - 1.0), 100 * (r.lo - 1.0),
                                               100 * rec.min_lead)
            rec.method = r.method.split(":")[0] + ": t interval over launches"
            continue
        # one launch: rank tests on the repetitions (legacy files)
        a_b = [(tables[k].by_config()[win.config].pooled(),
                tables[k].by_config()[c.config].pooled()) for k in keys]
        few = [k for k, (a, b) in zip(keys, a_b) if min(len(a), len(b)) < ws.MIN_REPS_FOR_TEST]
        if len(keys) == 1:
            p = ws.mann_whitney_p(*a_b[0])
            favours = win.score <= c.score
            rec.method = "one launch: Mann-Whitney U on repetitions, two-sided"
        else:
            p, z = ws.van_elteren(a_b)
            favours = z <= 0
            rec.method = ("one launch: van Elteren stratified rank-sum over %d workloads, "
                          "two-sided" % len(keys))
        c.p_vs_winner = p
        if few:
            c.reason = "fewer than %d reps per side on %s" % (ws.MIN_REPS_FOR_TEST, ", ".join(few))
        elif not favours:
            c.reason = "ranks disagree with the geometric mean"
        else:
            c.significant = p < alpha
    if len(cands) > 1:
        rec.runner_up = cands[1]
        rec.margin = cands[1].score / win.score - 1.0
        rec.tie = not cands[1].significant
    rec.tie_group = [win] + [c for c in cands[1:] if not c.significant]
    rec.recommended = min(rec.tie_group, key=lambda c: (
        scheduler_rank(c.config[0]), c.config[0], c.config[1], c.score))
    return rec


def recommend_all(tables, defs, alpha=ws.ALPHA):
    """(per-kind recommendations, overall at the largest worker count, per
    worker count)."""
    kinds = []
    for kind, members in defs.kinds({t.workload for t in tables.values()}):
        keys = [k for k in tables if tables[k].workload in members]
        if keys:
            kinds.append(recommend(tables, keys, kind, alpha))
    all_keys = [k for k in tables if tables[k].best is not None
                and defs.kind(tables[k].workload) not in (None, "floor")]
    workers = sorted({s.row.workers for t in tables.values() for s in t.stats
                      if s.row.kind == "weft" and s.row.scheduler != "fifo"})
    per_count = []
    for w in workers:
        per_count.append(recommend(
            tables, all_keys, "%d worker%s" % (w, "" if w == 1 else "s"), alpha,
            config_filter=lambda c, w=w: c[1] == w or c == ("fifo", 1)))
    if not workers:
        per_count.append(recommend(tables, all_keys, "all rows", alpha))
    largest = per_count[-1] if per_count else None
    return kinds, largest, per_count


# ---------------------------------------------------------------------------
# weft and the other runtimes
# ---------------------------------------------------------------------------

@dataclass
class PeerComparison:
    key: str
    workers: int
    weft: RowStats
    peer: RowStats
    ratio: object        # weft / peer
    p_u: float
    outcome: str         # "beats", "ties", "loses"
    verdict: str


def peer_comparisons(tables):
    """For each workload and worker count: weft's best policy at that count
    (fifo counts at 1 worker) against each peer row at the same count."""
    out = []
    for key, t in tables.items():
        peers = [s for s in t.stats if s.ok and s.row.kind == "peer"]
        if not peers:
            continue
        for w in sorted({s.row.workers for s in peers}):
            weft = [s for s in t.stats if s.ok and s.row.kind == "weft" and s.row.workers == w]
            if not weft:
                continue
            best = min(weft, key=lambda s: (s.centre, row_sort_key(s.row)))
            for p in [s for s in peers if s.row.workers == w]:
                r = ws.paired_ratio(best.values, p.values)
                d = r.direction
                out.append(PeerComparison(
                    key, w, best, p, r, ws.mann_whitney_p(best.pooled(), p.pooled()),
                    {-1: "beats", 0: "ties", 1: "loses"}[d],
                    ws.verdict_text(r, "weft " + best.row.label, p.row.label)))
    return out


@dataclass
class KindSummary:
    kind: str
    keys: list
    runtimes: list = field(default_factory=list)   # [(runtime, score)] fastest first
    fastest: str = ""
    runner_up: str = ""
    lead: object = None          # ws.Ratio runner-up / fastest
    left_out: list = field(default_factory=list)
    vs_peer: dict = field(default_factory=dict)    # peer -> {"beats": n, ...}


def runtime_of(s):
    return "weft" if s.row.kind == "weft" else s.row.scheduler


def kind_summaries(tables, defs, comparisons):
    out = []
    for kind, members in defs.kinds({t.workload for t in tables.values()}):
        keys = [k for k in tables if tables[k].workload in members and tables[k].fastest]
        if not keys:
            continue
        ks = KindSummary(kind, keys)
        names = []
        for k in keys:
            for s in tables[k].stats:
                if s.row.kind in ("weft", "peer") and runtime_of(s) not in names:
                    names.append(runtime_of(s))
        best_of = {}
        for rt in names:
            per = []
            for k in keys:
                rows = [s for s in tables[k].stats if s.ok and s.row.kind in ("weft", "peer")
                        and runtime_of(s) == rt]
                if not rows:
                    break
                per.append(min(rows, key=lambda s: (s.centre, row_sort_key(s.row))))
            if len(per) != len(keys):
                ks.left_out.append(rt)
                continue
            best_of[rt] = per
        scored = []
        for rt, per in best_of.items():
            rs = [ws.paired_ratio(s.values, tables[k].fastest.values) for s, k in zip(per, keys)]
            if all(r.valid for r in rs):
                scored.append((rt, ws.geomean(r.ratio for r in rs)))
        scored.sort(key=lambda x: x[1])
        ks.runtimes = scored
        if scored:
            ks.fastest = scored[0][0]
        if len(scored) > 1:
            ks.runner_up = scored[1][0]
            ks.lead = ws.combined_paired([(a.values, b.values) for a, b in
                                          zip(best_of[ks.runner_up], best_of[ks.fastest])])
        for c in comparisons:
            if c.key in keys:
                d = ks.vs_peer.setdefault(c.peer.row.scheduler, {"beats": 0, "ties": 0, "loses": 0})
                d[c.outcome] += 1
        out.append(ks)
    return out
