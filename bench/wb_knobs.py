"""wb_knobs.py - knob sweeps and user services in the report.

* Row names: `WORKLOAD/SCHEDULER/workers:N[/VARIANT]/knobs:NAME=V,...` (a
  sweep) and `service:NAME/SCHEDULER/workers:N[/knobs:...]` (a service file).
* Each knob's **main effect**: for a knob K swept over values v0 (the
  baseline), v1, ..., the effect of K = v is the geometric mean, over every
  cell that differs only in K (same workload, variant, scheduler, workers and
  other knobs), of speed(K = v) / speed(K = v0), where speed = 1 / metric
  (every ranking metric is lower-is-better). Its interval comes from the
  launches, paired: per launch, the mean of the cells' log ratios of
  medians, and a t interval over launches (wb_stats.combined_paired), so the
  noise that moves a whole launch cancels.
* Multiple comparisons: one test per (knob, value, kind of work) and one for
  "all work". The verdicts use **Holm-Bonferroni** on the paired t tests'
  p-values (family-wise error rate alpha = 0.05 over all of them); the
  intervals printed are **Bonferroni-adjusted** (confidence 1 - alpha / m
  for m tests) so that they hold simultaneously and agree with the verdicts
  in the conservative direction. An effect is "measurable" only when Holm
  rejects it and its adjusted interval excludes 1; otherwise it is reported
  as "no measurable effect" with the run's resolution (the adjusted
  interval's half-width), never picked at random. An effect under
  MIN_EFFECT (1 %) is not measurable either, however narrow its interval.
* Configurations (scheduler, workers, knobs) are ranked per kind of work and
  overall by the geometric mean over workloads of metric / best metric; the
  winner is compared with every other candidate by a paired ratio over
  launches, Holm-adjusted across candidates; candidates the winner does not
  beat form the tie group.
* The recommended configuration: the overall winner's scheduler and workers,
  and of the swept knobs only those with a measurable overall effect, at
  the winner's values. The rest stay at their defaults and are listed as
  "no measurable effect". `weft_knobs_line` prints it as one line a user can
  paste: `WEFT_KNOBS=scheduler=ws,workers=2,lifo_slot=0` (weft_config_from_env
  reads scheduler and workers from WEFT_KNOBS too).
* Services are ranked by SLO attainment (the median over launches of
  slo_fraction, in 0.1 % steps; met when it reaches the SLO's quantile),
  then throughput (median req_per_s, in 1 % steps), then the lower p99.
"""

import math
import re
from dataclasses import dataclass, field

import wb_stats as ws

KNOBS_SUFFIX_RE = re.compile(r"(?:^|/)knobs:(?P<knobs>[^/]+)$")
SERVICE_RE = re.compile(
    r"^service:(?P<service>[^/]+)/(?P<scheduler>[^/]+)/workers:(?P<workers>\d+)"
    r"(?:/knobs:(?P<knobs>[^/]+))?$")
ALPHA = 0.05
# Effects smaller than this are not reported as measurable even when the
# statistics reject "none": a benchmark run's systematic noise (order,
# frequency drift, placement) is of this size, and a recommendation should
# not switch a knob for it.
MIN_EFFECT = 0.01


def parse_knobs(text):
    """'lifo_slot=0,steal_batch=1' -> (('lifo_slot', '0'), ('steal_batch', '1'))."""
    out = []
    for part in text.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k or not v:
            raise ValueError("bad knobs text %r: expected NAME=V,NAME=V" % text)
        out.append((k, v))
    return tuple(out)


def split_variant(variant):
    """A row's variant 'T1/knobs:a=1' -> ('T1', (('a', '1'),)); 'knobs:a=1' ->
    ('', ...); 'T1' -> ('T1', ())."""
    m = KNOBS_SUFFIX_RE.search(variant or "")
    if not m:
        return variant or "", ()
    return variant[:m.start()].rstrip("/"), parse_knobs(m.group("knobs"))


def parse_service_name(name):
    """'service:gw/ws/workers:2/knobs:a=1' -> ('gw', 'ws', 2, (('a','1'),)), or None."""
    m = SERVICE_RE.match(name)
    if not m:
        return None
    return (m.group("service"), m.group("scheduler"), int(m.group("workers")),
            parse_knobs(m.group("knobs")) if m.group("knobs") else ())


def knobs_text(knobs):
    return ",".join("%s=%s" % kv for kv in knobs)


def config_label(cfg):
    sched, workers, knobs = cfg
    return "%s/workers:%d%s" % (sched, workers, "/knobs:" + knobs_text(knobs) if knobs else "")


@dataclass
class Cell:
    """One measured configuration of one workload: values by launch."""
    workload: str
    kind: str
    scheduler: str
    workers: int
    variant: str
    knobs: tuple                  # ((name, value), ...) in the fixed order
    values: dict                  # launch -> [metric values], lower is better

    @property
    def config(self):
        return (self.scheduler, self.workers, self.knobs)

    @property
    def key(self):
        return self.workload + ("/" + self.variant if self.variant else "")


def cells_from_rows(rows, defs, metric_of):
    """Cells from wb_parse Rows: `metric_of(row)` -> {launch: [values]}
    (the caller's warm-up rule and metric). Error rows are left out."""
    cells = []
    for r in rows:
        if r.is_error or r.kind != "weft":
            continue
        variant, knobs = split_variant(r.variant)
        sched = r.scheduler
        if "[" in sched and sched.endswith("]"):   # wb_parse folds the knobs in: ws[a=1]
            knobs = parse_knobs(sched.split("[", 1)[1][:-1])
            sched = sched.split("[", 1)[0]
        vals = metric_of(r)
        if not vals:
            continue
        cells.append(Cell(r.workload, defs.kind(r.workload) or "other", sched, r.workers,
                          variant, knobs, vals))
    return cells


def _speed(values):
    return {l: [1.0 / x for x in v if x > 0] for l, v in values.items()}


def holm(pvalues):
    """Holm-Bonferroni adjusted p-values, in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adj = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        p = pvalues[i]
        p = 1.0 if math.isnan(p) else p
        running = max(running, min(1.0, (m - rank) * p))
        adj[i] = running
    return adj


@dataclass
class Effect:
    knob: str
    value: str
    baseline: str
    kind: str                       # a kind of work, or "all"
    pairs: int = 0
    ratio: float = float("nan")     # speed(value) / speed(baseline): > 1 is faster
    lo: float = None
    hi: float = None
    p: float = float("nan")
    p_adj: float = float("nan")
    measurable: bool = False
    method: str = ""

    @property
    def resolution(self):
        if self.lo is None or self.lo <= 0:
            return float("nan")
        return math.sqrt(self.hi / self.lo) - 1.0

    def text(self):
        head = "%s=%s (vs %s)" % (self.knob, self.value, self.baseline)
        where = "all work" if self.kind == "all" else self.kind
        if self.measurable:
            return "%s: %+.0f %% [%+.0f %%, %+.0f %%] on %s" % (
                head, 100 * (self.ratio - 1), 100 * (self.lo - 1), 100 * (self.hi - 1), where)
        if self.lo is None:
            return "%s: no measurable effect on %s (no interval: %s)" % (head, where, self.method)
        res = self.resolution
        return "%s: no measurable effect on %s (within the run's resolution, %s)" % (
            head, where, "+/-%.1f %%" % (100 * res) if res < 1 else "wider than +/-100 %: too few launches")


def swept_values(cells):
    """{knob: [values in first-seen order]} over the cells."""
    out = {}
    for c in cells:
        for k, v in c.knobs:
            lst = out.setdefault(k, [])
            if v not in lst:
                lst.append(v)
    return out


def main_effects(cells, alpha=ALPHA, baselines=None):
    """[Effect] for every swept knob, every non-baseline value, every kind of
    work and "all". baselines: {knob: value} (advise.py: the first value of
    its --sweep, from the context); default the first value seen."""
    baselines = {k: v for k, v in (baselines or {}).items()}
    values = swept_values(cells)
    for k, v in list(baselines.items()):
        if k not in values or v not in values[k]:
            del baselines[k]
    index = {}
    for c in cells:
        index[(c.key, c.scheduler, c.workers, c.knobs)] = c
    kinds = sorted({c.kind for c in cells})
    effects = []
    for knob, vals in values.items():
        base = baselines.get(knob, vals[0])
        for v in vals:
            if v == base:
                continue
            per_kind = {k: [] for k in kinds}
            for c in cells:
                kd = dict(c.knobs)
                if kd.get(knob) != v:
                    continue
                partner_knobs = tuple((k, base if k == knob else x) for k, x in c.knobs)
                p = index.get((c.key, c.scheduler, c.workers, partner_knobs))
                if p is None:
                    continue
                per_kind[c.kind].append((_speed(c.values), _speed(p.values)))
            groups = [(k, per_kind[k]) for k in kinds if per_kind[k]]
            if len(groups) > 1 or not groups:
                groups.append(("all", [x for k in kinds for x in per_kind[k]]))
            for kind, pairs in groups:
                if pairs:
                    effects.append(Effect(knob, v, base, kind, pairs=len(pairs)))
                    effects[-1]._pairs = pairs
    m = len(effects)
    conf = 1.0 - alpha / max(1, m)
    for e in effects:
        r = ws.combined_paired(e._pairs, conf)
        e.ratio = r.ratio
        e.p = r.p
        e.method = r.method
        if r.lo is not None:
            e.lo, e.hi = r.lo, r.hi
        del e._pairs
    for e, pa in zip(effects, holm([e.p for e in effects])):
        e.p_adj = pa
        e.measurable = (e.lo is not None and pa < alpha and (e.lo > 1.0 or e.hi < 1.0)
                        and abs(e.ratio - 1.0) >= MIN_EFFECT)
    return effects


def effect_lines(effects):
    """One line per knob value: its measurable effects, else 'no measurable
    effect' (with the resolution of the 'all' estimate)."""
    lines = []
    seen = []
    for e in effects:
        if (e.knob, e.value) not in seen:
            seen.append((e.knob, e.value))
    for knob, value in seen:
        es = [e for e in effects if e.knob == knob and e.value == value]
        hits = [e for e in es if e.measurable and e.kind != "all"]
        allk = [e for e in es if e.kind == "all"]
        if not hits and allk and allk[0].measurable:
            hits = allk
        if hits:
            parts = ["%+.0f %% [%+.0f %%, %+.0f %%] on %s" % (
                100 * (e.ratio - 1), 100 * (e.lo - 1), 100 * (e.hi - 1),
                "all work" if e.kind == "all" else e.kind) for e in hits]
            rest = [e.kind for e in es if not e.measurable and e.kind != "all"]
            lines.append("%s=%s (vs %s): %s%s" % (knob, value, es[0].baseline, ", ".join(parts),
                                                  ", no measurable effect elsewhere" if rest else ""))
        else:
            ref = allk[0] if allk else es[0]
            lines.append(ref.text().replace(" on all work", ""))
    return lines


@dataclass
class Ranked:
    config: tuple
    score: float                     # geomean of metric / best metric: 1 is best
    vs_winner: object = None
    p_adj: float = float("nan")
    beaten: bool = False             # the winner is faster beyond the noise


def rank_configs(cells, alpha=ALPHA):
    """Full configurations ranked over the cells given (one kind of work, or
    all): [Ranked], best first. Only configurations measured on every
    workload of the set are ranked."""
    keys = sorted({c.key for c in cells})
    by = {}
    for c in cells:
        by.setdefault(c.config, {})[c.key] = c
    best = {}
    for k in keys:
        meds = [ws.median([x for v in c.values.values() for x in v])
                for c in cells if c.key == k]
        best[k] = min(meds)
    ranked = []
    for cfg, per in by.items():
        if set(per) != set(keys):
            continue
        score = ws.geomean(ws.median([x for v in per[k].values.values() for x in v]) / best[k]
                           for k in keys)
        ranked.append(Ranked(cfg, score))
    ranked.sort(key=lambda r: (r.score, r.config[0], r.config[1], r.config[2]))
    if len(ranked) < 2:
        return ranked
    win = by[ranked[0].config]
    ps = []
    for r in ranked[1:]:
        pairs = [(by[r.config][k].values, win[k].values) for k in keys]
        r.vs_winner = ws.combined_paired(pairs)
        ps.append(r.vs_winner.p if r.vs_winner.lo is not None else 1.0)
    for r, pa in zip(ranked[1:], holm(ps)):
        r.p_adj = pa
        r.beaten = r.vs_winner.lo is not None and pa < alpha and r.vs_winner.ratio > 1.0
    return ranked


def recommend(cells, effects, alpha=ALPHA):
    """(config, [(knob, value)] set, [knob with no measurable effect]) from
    the overall ranking and the 'all work' effects."""
    ranked = rank_configs(cells, alpha)
    if not ranked:
        return None, (), sorted(swept_values(cells))
    sched, workers, knobs = ranked[0].config
    measurable = {e.knob for e in effects if e.measurable and e.kind == "all"}
    # a knob with an effect on one kind only still matters for that kind
    measurable |= {e.knob for e in effects if e.measurable}
    chosen = tuple((k, v) for k, v in knobs if k in measurable)
    none = sorted(set(swept_values(cells)) - {k for k, _ in chosen})
    return (sched, workers, knobs), chosen, none


def weft_knobs_line(sched, workers, chosen):
    parts = ["scheduler=%s" % sched, "workers=%d" % workers] + ["%s=%s" % kv for kv in chosen]
    return "WEFT_KNOBS=" + ",".join(parts)


@dataclass
class ServiceRank:
    config: tuple
    slo_fraction: float
    slo_met: bool
    req_per_s: float
    p99_us: float
    launches: int = 0
    error: str = None


def rank_services(service_rows, quantile_of):
    """service_rows: {(service, config): {"slo_fraction": [...], "req_per_s":
    [...], "p99_us": [...]} or {"error": msg}}; quantile_of(service) -> the
    SLO's quantile (0.99 for p99_ms). -> {service: [ServiceRank], best first}:
    SLO attainment first (rounded to 0.1 %, so noise in the fourth digit does
    not decide), then throughput."""
    out = {}
    for (svc, cfg), d in service_rows.items():
        if d.get("error"):
            out.setdefault(svc, []).append(ServiceRank(cfg, float("nan"), False, float("nan"),
                                                       float("nan"), 0, d["error"]))
            continue
        f = ws.median(d["slo_fraction"])
        out.setdefault(svc, []).append(ServiceRank(
            cfg, f, f >= quantile_of(svc), ws.median(d["req_per_s"]),
            ws.median(d.get("p99_us") or [float("nan")]), len(d["slo_fraction"])))
    def bucket(x, step):
        return round(math.log(x) / math.log(1 + step)) if x > 0 and not math.isnan(x) else -10 ** 9

    for svc, lst in out.items():
        # attainment in 0.1 % steps, throughput in 1 % steps (an open arrival's
        # throughput is its offered rate for every configuration that keeps
        # up): ties on both go to the lower p99, then the simpler configuration
        lst.sort(key=lambda r: (r.error is not None,
                                -(round(r.slo_fraction * 1000) if not math.isnan(r.slo_fraction) else -1),
                                -bucket(r.req_per_s, 0.01),
                                r.p99_us if not math.isnan(r.p99_us) else float("inf"),
                                r.config))
    return out
