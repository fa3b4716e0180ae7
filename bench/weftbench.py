#!/usr/bin/python3
"""weftbench: parsing and statistics shared by report.py, compare.py and
reproduce.sh.

The problem
-----------
`weft-bench` (the C++ Google Benchmark 1.7.1 driver) writes one JSON file per
run, with one row per repetition of every WORKLOAD/SCHEDULER/workers:N[/VARIANT]
benchmark, plus the library's own aggregates (mean, median, stddev, cv). A
reader has to turn that into numbers a person can act on: which scheduler is
faster, by how much, and whether the difference is larger than the noise.

The chosen design
-----------------
* Parsing keeps the per-repetition rows and ignores the library's aggregates
  (it only falls back to the "median" aggregate when a file holds nothing
  else, and then marks the row as untestable). The statistics need the
  repetitions: an aggregate cannot be U-tested and has no interval.
* A row that failed its self-check in any repetition is an ERROR row. It
  carries its message and no numbers at all: a wrong answer is never a time.
* One ranking metric per workload (`metric_of`): the median over repetitions
  of ns per unit of work (the driver's `ns_per_unit` counter, else time/units,
  else plain time per iteration). Workloads whose run time is fixed by design
  (timer_storm sleeps to its deadlines, interval_jitter runs for L, blocking_mix
  waits for its 1 ms sleeps) rank by p99 latency instead, because their time
  says nothing about the scheduler. Every tool uses the same metric, so a
  report, a comparison and a reproduction all talk about the same number.
* Statistics are distribution-free, since benchmark times are skewed and
  heavy-tailed and 9 repetitions are too few to check normality:
    - the 95 % confidence interval of the median is the order-statistic
      interval [x_(j), x_(n-j+1)] with the largest j whose binomial coverage
      P(j <= B <= n-j), B ~ Binomial(n, 1/2), is still >= 95 % (Conover,
      Practical Nonparametric Statistics, 3rd ed., sec. 3.2). It exists from
      6 repetitions on; with fewer it is "n/a". Its exact coverage is reported.
    - two rows are compared with the two-sided Mann-Whitney U test
      (scipy.stats.mannwhitneyu), alpha 0.05, as Google Benchmark's own
      compare.py does. With fewer than 4 repetitions on a side the smallest
      possible two-sided p is 0.057 (4 vs 3) or more, so such a pair is never
      called significant and the report says why.
    - a recommendation over several workloads compares two configurations
      with van Elteren's stratified rank-sum test (van Elteren 1960; the
      Mann-Whitney statistic summed over workloads with weights 1/(N_i + 1),
      normal approximation with tie correction): each workload is one
      stratum, so a noisy workload cannot drown a quiet one, and the scale of
      each workload does not matter.
* A recommendation ranks the configurations (scheduler x workers) measured on
  every workload of a kind by the geometric mean of their ratio to the best
  row of each workload (the geometric mean is the only mean of ratios that
  does not depend on which row is the reference: Fleming & Wallace, CACM
  1986). A winner whose lead over a configuration is not significant is tied
  with it; among tied configurations the simplest scheduler is recommended
  (fifo < global < ws < numa), then the fewest workers. The tied
  configurations are the winner and those that follow it in the ranking up
  to the first one it beats significantly.

Rejected
--------
* Mean and standard deviation with a t interval: wrong for skewed times and
  for 9 samples. Bootstrap intervals: random, and unreliable for n < 20.
* Pooling the repetitions of all workloads of a kind into one U test: the
  workloads differ in scale and variance, and the pooled test then measures
  the mix, not the schedulers.
* Correcting alpha for multiple comparisons: the report is a guide for a
  person who reads the p-values, not a confirmatory study; alpha is stated
  and each p-value is printed so a reader can apply Holm or Bonferroni.

Units: all times are kept in nanoseconds internally; counters are per
iteration (as the driver records them), so counter/units is a per-unit cost.

Only the Python standard library, scipy and (in report.py) matplotlib are
used, under /usr/bin/python3 (Debian's interpreter, which has them).
"""

import glob
import importlib.util
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field

if importlib.util.find_spec("scipy") is None:
    # Exit 2 (usage error), never 1: compare.py's 1 means "regression".
    print("weftbench: scipy is missing from %s; run the benchmark tools with "
          "/usr/bin/python3 (Debian's python3-scipy and python3-matplotlib)"
          % sys.executable, file=sys.stderr)
    sys.exit(2)

# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

ALPHA = 0.05
CONFIDENCE = 0.95
# Below this many repetitions per side a two-sided U test cannot reach
# p < 0.05 (4 vs 3 gives at best p = 0.057), so it is never "significant".
MIN_REPS_FOR_TEST = 4

# Simplest first: the order in which ties are broken and tables are sorted.
SCHEDULER_ORDER = ("fifo", "global", "ws", "numa")

CATEGORIES = (
    ("spawn-heavy", ("spawn_many", "spawn_remote", "chained_spawn")),
    ("message passing", ("ping_pong", "yield_many")),
    ("fork-join", ("fib", "uts", "fanout_skew")),
    ("timers", ("timer_storm", "timeout_cancel", "interval_jitter")),
    ("IO", ("tcp_echo", "tcp_stream")),
    ("blocking", ("blocking_mix",)),
)

# Workloads whose time per iteration is fixed by their design: ranked by p99.
RANK_BY_LATENCY = frozenset(("timer_storm", "interval_jitter", "blocking_mix"))

LATENCY_COUNTERS = ("p50_us", "p99_us", "p999_us")

# Scheduler counters, counted per iteration; shown per unit of work.
SCHED_COUNTERS = (
    "polls", "spawns", "steals", "steal_attempts", "tasks_stolen",
    "local_steals", "remote_steals", "parks", "unparks", "spurious_unparks",
    "inject_pops", "lifo_hits", "overflow_moves", "local_wakes",
    "remote_wakes",
)
# Scheduler counters that are levels, not events: shown as they are.
LEVEL_COUNTERS = ("queue_hwm",)

UNIT_COUNTERS = ("units", "ns_per_unit")

# The machine, not the scheduler: the core-to-core cache-line round trip
# weft-bench measures before every repetition (bench/env.h). On a small VM
# it moves between modes (about 85-135 ns and about 400 ns on the 2-vCPU
# development VM) as the host places the vCPUs, and every cross-worker row
# moves with it.
ENV_COUNTERS = ("c2c_rt_ns",)
# Rows of one table whose c2c medians differ by more than this factor were
# measured in different machine modes; the report says so.
C2C_SPREAD_WARN = 1.5

# Fields Google Benchmark 1.7.1 writes itself; every other numeric field of a
# row is a user counter.
GB_ROW_FIELDS = frozenset((
    "name", "family_index", "per_family_instance_index", "run_name",
    "run_type", "repetitions", "repetition_index", "threads", "iterations",
    "real_time", "cpu_time", "time_unit", "aggregate_name", "aggregate_unit",
    "error_occurred", "error_message", "label", "big_o", "rms",
    "complexity_n",
))

TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Suffixes Google Benchmark appends to a registered name (NOTES.md).
NAME_SUFFIX_RE = re.compile(
    r"/(?:iterations:\d+|manual_time|real_time|process_time|repeats:\d+|"
    r"threads:\d+|min_time:[0-9.eE+-]+s?x?|min_warmup_time:[0-9.eE+-]+s?)$")
NAME_RE = re.compile(
    r"^(?P<workload>[^/]+)/(?P<scheduler>[^/]+)/workers:(?P<workers>\d+)"
    r"(?:/(?P<variant>.+))?$")


class BenchError(Exception):
    """Bad input a person must fix (missing file, not benchmark JSON, ...)."""


def warn(msg):
    print("warning: " + msg, file=sys.stderr)


def scheduler_rank(name):
    """Position of a scheduler in the simplest-first order (unknown last)."""
    try:
        return SCHEDULER_ORDER.index(name)
    except ValueError:
        return len(SCHEDULER_ORDER)


def category_of(workload):
    for cat, members in CATEGORIES:
        if workload in members:
            return cat
    return None


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

def strip_name(name):
    """Remove the suffixes Google Benchmark appends (/iterations:N, ...)."""
    while True:
        stripped = NAME_SUFFIX_RE.sub("", name)
        if stripped == name:
            return name
        name = stripped


def parse_name(name):
    """'uts/ws/workers:2/T1/manual_time' -> ('uts', 'ws', 2, 'T1').

    Returns None for a name that is not WORKLOAD/SCHEDULER/workers:N[/VARIANT].
    """
    m = NAME_RE.match(strip_name(name))
    if not m:
        return None
    return (m.group("workload"), m.group("scheduler"), int(m.group("workers")),
            m.group("variant") or "")


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def result_files(path):
    """JSON files named by PATH: the file itself, or a result folder's raw
    copies (raw/*.json, else *.json directly in it)."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "raw", "*.json")))
        if not files:
            files = sorted(glob.glob(os.path.join(path, "*.json")))
        if not files:
            raise BenchError("%s: folder holds no benchmark JSON (looked for "
                             "raw/*.json and *.json)" % path)
        return files
    if os.path.isfile(path):
        return [path]
    raise BenchError("%s: no such file or folder" % path)


def load_json(path):
    """Read and check one Google Benchmark JSON file."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise BenchError("%s: cannot read: %s" % (path, e.strerror))
    except ValueError as e:
        raise BenchError("%s: not valid JSON (%s); was the run cut short?"
                         % (path, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise BenchError("%s: not Google Benchmark JSON (no \"benchmarks\" "
                         "list); write it with --benchmark_out_format=json"
                         % path)
    if not isinstance(doc.get("context", {}), dict):
        raise BenchError("%s: \"context\" is not an object" % path)
    doc.setdefault("context", {})
    return doc


def load_paths(paths):
    """[(file, doc)] for every JSON file named by PATHS (files or folders)."""
    out = []
    for p in paths:
        for f in result_files(p):
            out.append((f, load_json(f)))
    return out


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------

@dataclass
class Rep:
    """One repetition: its time per iteration and its counters."""
    time_ns: float
    counters: dict
    index: int = 0


@dataclass
class Row:
    """All repetitions of one benchmark, under its canonical name."""
    name: str                 # WORKLOAD/SCHEDULER/workers:N[/VARIANT]
    workload: str
    scheduler: str
    workers: int
    variant: str
    reps: list = field(default_factory=list)
    error: str = None         # the self-check message when it failed
    aggregates_only: bool = False
    sources: list = field(default_factory=list)
    repetitions: int = 0      # as declared by the library

    @property
    def key(self):
        """The workload key a table is made for: 'uts/T1' or 'fib'."""
        return self.workload + ("/" + self.variant if self.variant else "")

    @property
    def config(self):
        return (self.scheduler, self.workers)

    @property
    def label(self):
        return "%s/%d" % (self.scheduler, self.workers)

    @property
    def is_error(self):
        return self.error is not None

    @property
    def n(self):
        return len(self.reps)

    def counter_values(self, name):
        return [r.counters[name] for r in self.reps if name in r.counters]

    def has_counter(self, name):
        return any(name in r.counters for r in self.reps)


def _counters_of(b):
    out = {}
    for k, v in b.items():
        if k in GB_ROW_FIELDS:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            continue
        out[k] = float(v)
    return out


def _time_ns(b, path):
    unit = b.get("time_unit", "ns")
    if unit not in TIME_UNIT_NS:
        raise BenchError("%s: row %r has unknown time_unit %r"
                         % (path, b.get("name"), unit))
    t = b.get("real_time")
    if not isinstance(t, (int, float)):
        raise BenchError("%s: row %r has no numeric real_time"
                         % (path, b.get("name")))
    return float(t) * TIME_UNIT_NS[unit]


def collect_rows(docs):
    """{canonical name: Row} from [(path, doc)], in first-seen order.

    Per-repetition ("iteration") rows become Reps. An error in any repetition
    makes the row an ERROR row. A name with no iteration rows but a "median"
    aggregate gets that one value and is marked aggregates_only.
    """
    rows = {}
    medians = {}
    seen_in = {}
    for path, doc in docs:
        names_here = set()
        for b in doc["benchmarks"]:
            if not isinstance(b, dict) or "name" not in b:
                raise BenchError("%s: a benchmark entry has no name" % path)
            raw = b.get("run_name") or b["name"]
            run_type = b.get("run_type", "iteration")
            if run_type == "aggregate":
                if b.get("aggregate_name") == "median" and not b.get("error_occurred"):
                    canon = strip_name(raw)
                    medians.setdefault(canon, (path, b))
                continue
            canon = strip_name(raw)
            row = rows.get(canon)
            if row is None:
                parsed = parse_name(canon)
                if parsed is None:
                    warn("%s: row %r is not WORKLOAD/SCHEDULER/workers:N"
                         "[/VARIANT]; kept for compare, left out of tables"
                         % (path, canon))
                    parsed = (canon, "", 0, "")
                row = Row(canon, parsed[0], parsed[1], parsed[2], parsed[3])
                rows[canon] = row
            if path not in row.sources:
                row.sources.append(path)
            names_here.add(canon)
            row.repetitions = max(row.repetitions, int(b.get("repetitions", 1) or 1))
            if b.get("error_occurred"):
                if row.error is None:
                    row.error = str(b.get("error_message") or "error (no message)")
                continue
            row.reps.append(Rep(_time_ns(b, path), _counters_of(b),
                                int(b.get("repetition_index", len(row.reps)))))
        for canon in names_here:
            if canon in seen_in and seen_in[canon] != path:
                warn("row %s appears in %s and %s; their repetitions are pooled"
                     % (canon, seen_in[canon], path))
            seen_in.setdefault(canon, path)
    agg_only = {}
    for canon, (path, b) in medians.items():
        if canon in rows:
            continue
        parsed = parse_name(canon) or (canon, "", 0, "")
        row = Row(canon, parsed[0], parsed[1], parsed[2], parsed[3],
                  aggregates_only=True, sources=[path])
        row.reps.append(Rep(_time_ns(b, path), _counters_of(b)))
        row.repetitions = int(b.get("repetitions", 1) or 1)
        rows[canon] = row
        agg_only.setdefault(path, []).append(canon)
    for path, names in agg_only.items():
        warn("%s: %d row%s (%s%s) have only aggregates: their median aggregate "
             "is used, with no interval and no U test (run weft-bench with "
             "--benchmark_report_aggregates_only=false)" % (
                 path, len(names), "" if len(names) == 1 else "s",
                 ", ".join(names[:3]), ", ..." if len(names) > 3 else ""))
    for row in rows.values():
        if row.is_error:
            row.reps = []   # a failed self-check is never a number
    return rows


def merged_context(docs):
    """(context of the first file, {field: [(file, value)]} that differ)."""
    if not docs:
        return {}, {}
    base = dict(docs[0][1].get("context", {}))
    diffs = {}
    for path, doc in docs[1:]:
        for k, v in doc.get("context", {}).items():
            if k in ("load_avg", "date", "executable"):
                continue
            if base.get(k) != v:
                diffs.setdefault(k, []).append((path, v))
    return base, diffs


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------

def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return float("nan")
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def binom_half_cdf(k, n):
    """P(B <= k) for B ~ Binomial(n, 1/2), exactly."""
    if k < 0:
        return 0.0
    return sum(math.comb(n, i) for i in range(0, min(k, n) + 1)) / float(2 ** n)


def median_ci_ranks(n, conf=CONFIDENCE):
    """(j, k, coverage): 1-based ranks of the order-statistic interval
    [x_(j), x_(k)], k = n-j+1, for the median with coverage >= conf, or None
    when even [min, max] covers less (n < 6 for 95 %)."""
    best = None
    for j in range(1, n // 2 + 1):
        cov = 1.0 - 2.0 * binom_half_cdf(j - 1, n)
        if cov >= conf:
            best = (j, n - j + 1, cov)
        else:
            break
    return best


def median_ci(xs, conf=CONFIDENCE):
    """(lo, hi, coverage) of the distribution-free CI of the median, or None."""
    r = median_ci_ranks(len(xs), conf)
    if r is None:
        return None
    s = sorted(xs)
    return (s[r[0] - 1], s[r[1] - 1], r[2])


def mann_whitney_p(a, b):
    """Two-sided Mann-Whitney U p-value (scipy); 1.0 when undefined."""
    if not a or not b:
        return float("nan")
    from scipy.stats import mannwhitneyu
    if len(set(a) | set(b)) == 1:
        return 1.0          # all values equal: no evidence of any difference
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p


def _ranks(values):
    """Mid-ranks (1-based) of VALUES and the tie correction sum(t^3 - t)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        r = (i + j) / 2.0 + 1.0
        for t in range(i, j + 1):
            ranks[order[t]] = r
        cnt = j - i + 1
        ties += cnt ** 3 - cnt
        i = j + 1
    return ranks, ties


def van_elteren(strata):
    """Stratified two-sided rank-sum test of A vs B over STRATA [(a, b)].

    Returns (p, z); z < 0 means A tends to be smaller than B. Normal
    approximation with tie correction; strata where either side is empty
    are skipped.
    """
    from scipy.stats import norm
    t_sum = e_sum = v_sum = 0.0
    for a, b in strata:
        m, n = len(a), len(b)
        if m == 0 or n == 0:
            continue
        big_n = m + n
        ranks, ties = _ranks(list(a) + list(b))
        w_a = sum(ranks[:m])
        weight = 1.0 / (big_n + 1.0)
        var = m * n / 12.0 * ((big_n + 1.0) - ties / (big_n * (big_n - 1.0)))
        t_sum += weight * w_a
        e_sum += weight * m * (big_n + 1.0) / 2.0
        v_sum += weight * weight * var
    if v_sum <= 0.0:
        return 1.0, 0.0
    z = (t_sum - e_sum) / math.sqrt(v_sum)
    return float(2.0 * norm.sf(abs(z))), z


def geomean(xs):
    xs = list(xs)
    if not xs or any(x <= 0 for x in xs):
        return float("nan")
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def compare_samples(a, b, alpha=ALPHA):
    """U test of A vs B: {'p', 'significant', 'reason'}.

    'reason' explains a verdict that is not simply p vs alpha.
    """
    na, nb = len(a), len(b)
    p = mann_whitney_p(a, b)
    if min(na, nb) < MIN_REPS_FOR_TEST:
        return {"p": p, "significant": False,
                "reason": "fewer than %d reps per side (%d vs %d): cannot be "
                          "significant" % (MIN_REPS_FOR_TEST, na, nb)}
    return {"p": p, "significant": (p < alpha), "reason": ""}


# ---------------------------------------------------------------------------
# The metric a workload is ranked by
# ---------------------------------------------------------------------------

def rank_metric(workload, rows):
    """('p99_us', 'p99 latency (µs)') for a latency-ranked workload whose rows
    carry p99, else ('ns_per_unit', ...) when units are known, else time."""
    valid = [r for r in rows if not r.is_error]
    if workload in RANK_BY_LATENCY and valid and all(r.has_counter("p99_us") for r in valid):
        return "p99_us"
    if valid and all(r.has_counter("ns_per_unit") or r.has_counter("units") for r in valid):
        return "ns_per_unit"
    return "time_ns"


METRIC_LABEL = {
    "p99_us": "p99 latency (µs)",
    "ns_per_unit": "ns per unit",
    "time_ns": "time per iteration (ns)",
}


def ns_per_unit_values(row):
    """Per-repetition ns per unit of work: the driver's counter, else time /
    units; [] when neither is known."""
    out = []
    for r in row.reps:
        if "ns_per_unit" in r.counters:
            out.append(r.counters["ns_per_unit"])
        elif r.counters.get("units", 0) > 0:
            out.append(r.time_ns / r.counters["units"])
    return out


def metric_values(row, metric):
    if metric == "time_ns":
        return [r.time_ns for r in row.reps]
    if metric == "ns_per_unit":
        return ns_per_unit_values(row)
    return row.counter_values(metric)


def per_unit_values(row, counter):
    """Per-repetition COUNTER / units (or the raw counter without units)."""
    out = []
    for r in row.reps:
        if counter not in r.counters:
            continue
        u = r.counters.get("units", 0)
        out.append(r.counters[counter] / u if u > 0 else r.counters[counter])
    return out


# ---------------------------------------------------------------------------
# Per-workload tables
# ---------------------------------------------------------------------------

@dataclass
class RowStats:
    row: Row
    n: int = 0
    time_median: float = float("nan")      # ns per iteration
    time_ci: tuple = None                  # (lo, hi, coverage) in ns
    metric_values: list = field(default_factory=list)
    metric_median: float = float("nan")
    metric_ci: tuple = None
    ns_per_unit: float = float("nan")
    ratio_best: float = float("nan")
    ratio_fifo: float = float("nan")
    p_best: float = float("nan")
    significant: bool = False
    verdict: str = ""
    latency: dict = field(default_factory=dict)     # p50_us... -> median
    per_unit: dict = field(default_factory=dict)    # counter -> median per unit
    levels: dict = field(default_factory=dict)      # queue_hwm -> median
    env: dict = field(default_factory=dict)         # c2c_rt_ns -> median
    checks: dict = field(default_factory=dict)      # self-check quantities

    @property
    def is_error(self):
        return self.row.is_error


@dataclass
class WorkloadTable:
    key: str
    workload: str
    variant: str
    metric: str
    stats: list            # RowStats, sorted simplest scheduler first
    best: RowStats = None
    fifo: RowStats = None
    has_units: bool = False

    def by_config(self):
        return {s.row.config: s for s in self.stats if not s.is_error and s.n > 0}


def row_stats(row, metric):
    st = RowStats(row=row)
    if row.is_error:
        st.verdict = "ERROR"
        return st
    st.n = row.n
    times = [r.time_ns for r in row.reps]
    st.time_median = median(times)
    st.time_ci = median_ci(times)
    st.metric_values = metric_values(row, metric)
    st.metric_median = median(st.metric_values)
    st.metric_ci = median_ci(st.metric_values)
    npu = ns_per_unit_values(row)
    if npu:
        st.ns_per_unit = median(npu)
    for c in LATENCY_COUNTERS:
        v = row.counter_values(c)
        if v:
            st.latency[c] = median(v)
    for c in SCHED_COUNTERS:
        v = per_unit_values(row, c)
        if v:
            st.per_unit[c] = median(v)
    for c in LEVEL_COUNTERS:
        v = row.counter_values(c)
        if v:
            st.levels[c] = median(v)
    for c in ENV_COUNTERS:
        v = row.counter_values(c)
        if v:
            st.env[c] = median(v)
    known = (set(SCHED_COUNTERS) | set(LEVEL_COUNTERS) | set(LATENCY_COUNTERS) |
             set(UNIT_COUNTERS) | set(ENV_COUNTERS))
    names = sorted({k for r in row.reps for k in r.counters} - known)
    for c in names:
        st.checks[c] = median(row.counter_values(c))
    return st


def table_sort_key(st):
    r = st.row
    return (scheduler_rank(r.scheduler), r.scheduler, r.workers)


def analyse_workload(rows, alpha=ALPHA):
    """WorkloadTable for the rows of one workload key."""
    rows = list(rows)
    workload, variant = rows[0].workload, rows[0].variant
    metric = rank_metric(workload, rows)
    stats = sorted((row_stats(r, metric) for r in rows), key=table_sort_key)
    t = WorkloadTable(key=rows[0].key, workload=workload, variant=variant,
                      metric=metric, stats=stats)
    t.has_units = any(not math.isnan(s.ns_per_unit) for s in stats)
    valid = [s for s in stats if not s.is_error and s.n > 0
             and not math.isnan(s.metric_median)]
    if not valid:
        return t
    t.best = min(valid, key=lambda s: (s.metric_median, table_sort_key(s)))
    fifos = [s for s in valid if s.row.scheduler == "fifo"]
    if fifos:
        t.fifo = min(fifos, key=lambda s: (s.row.workers != 1, s.row.workers))
    for s in valid:
        s.ratio_best = s.metric_median / t.best.metric_median if t.best.metric_median else float("nan")
        if t.fifo is not None and t.fifo.metric_median:
            s.ratio_fifo = s.metric_median / t.fifo.metric_median
        if s is t.best:
            s.verdict = "best"
            continue
        c = compare_samples(s.metric_values, t.best.metric_values, alpha)
        s.p_best = c["p"]
        s.significant = c["significant"]
        if c["reason"]:
            s.verdict = "not significant (< %d reps)" % MIN_REPS_FOR_TEST
        else:
            s.verdict = "significant" if c["significant"] else "not significant"
    return t


def analyse(rows, alpha=ALPHA):
    """{workload key: WorkloadTable} for every parsed row, in a stable order:
    categories in CATEGORIES order, then other workloads alphabetically."""
    groups = {}
    for r in rows.values():
        if not r.scheduler:        # unparsable name
            continue
        groups.setdefault(r.key, []).append(r)

    def order(key):
        wl = key.split("/", 1)[0]
        for i, (_, members) in enumerate(CATEGORIES):
            if wl in members:
                return (i, members.index(wl), key)
        return (len(CATEGORIES), 0, key)

    return {k: analyse_workload(groups[k], alpha) for k in sorted(groups, key=order)}


# ---------------------------------------------------------------------------
# Recommendations
# ---------------------------------------------------------------------------

@dataclass
class Candidate:
    config: tuple           # (scheduler, workers)
    score: float            # geometric mean of ratio to best
    p_vs_winner: float = float("nan")
    significant: bool = False   # winner significantly better than this one
    reason: str = ""

    @property
    def label(self):
        return "%s/%d" % self.config


@dataclass
class Recommendation:
    title: str
    keys: list                                  # workload keys considered
    ranking: list = field(default_factory=list)  # Candidates, best first
    excluded: list = field(default_factory=list)  # (label, why)
    method: str = ""
    winner: Candidate = None
    runner_up: Candidate = None
    margin: float = float("nan")   # runner-up score / winner score - 1
    tie: bool = False
    tie_group: list = field(default_factory=list)
    recommended: Candidate = None
    note: str = ""


def recommend(tables, keys, title, alpha=ALPHA, config_filter=None):
    """Rank the configurations measured (without error) on every workload in
    KEYS by the geometric mean of their ratio to each workload's best row."""
    keys = [k for k in keys if k in tables and tables[k].best is not None]
    rec = Recommendation(title=title, keys=keys)
    if not keys:
        rec.note = "no workload of this kind has a valid row"
        return rec
    all_configs = set()
    for k in keys:
        for s in tables[k].stats:
            all_configs.add(s.row.config)
    if config_filter:
        all_configs = {c for c in all_configs if config_filter(c)}
    cands = []
    for c in sorted(all_configs, key=lambda c: (scheduler_rank(c[0]), c[0], c[1])):
        why = None
        for k in keys:
            st = [s for s in tables[k].stats if s.row.config == c]
            if not st:
                why = "not measured on %s" % k
                break
            if st[0].is_error:
                why = "ERROR on %s" % k
                break
            if st[0].n == 0 or math.isnan(st[0].ratio_best):
                why = "no value on %s" % k
                break
        if why:
            rec.excluded.append(("%s/%d" % c, why))
            continue
        cands.append(Candidate(c, geomean(tables[k].by_config()[c].ratio_best for k in keys)))
    if not cands:
        rec.note = "no configuration ran every one of these workloads without error"
        return rec
    cands.sort(key=lambda c: (c.score, scheduler_rank(c.config[0]), c.config[1]))
    rec.ranking = cands
    win = cands[0]
    rec.winner = win
    if len(keys) == 1:
        rec.method = "Mann-Whitney U, two-sided"
    else:
        rec.method = "van Elteren stratified rank-sum over %d workloads, two-sided" % len(keys)
    for c in cands[1:]:
        a_b = [(tables[k].by_config()[win.config].metric_values,
                tables[k].by_config()[c.config].metric_values) for k in keys]
        few = [k for k, (a, b) in zip(keys, a_b) if min(len(a), len(b)) < MIN_REPS_FOR_TEST]
        if len(keys) == 1:
            p = mann_whitney_p(a_b[0][0], a_b[0][1])
            favours_winner = tables[keys[0]].by_config()[win.config].metric_median <= \
                tables[keys[0]].by_config()[c.config].metric_median
        else:
            p, z = van_elteren(a_b)
            favours_winner = z <= 0
        c.p_vs_winner = p
        if few:
            c.reason = "fewer than %d reps per side on %s" % (MIN_REPS_FOR_TEST, ", ".join(few))
            c.significant = False
        elif not favours_winner:
            c.reason = "ranks disagree with the geometric mean"
            c.significant = False
        else:
            c.significant = p < alpha
    if len(cands) > 1:
        rec.runner_up = cands[1]
        rec.margin = cands[1].score / win.score - 1.0
        rec.tie = not cands[1].significant
    # The tie group is the winner and the configurations after it in the
    # ranking up to the first one it beats significantly: a noisy row far
    # down the ranking does not join a tie the runner-up has already lost.
    rec.tie_group = [win]
    for c in cands[1:]:
        if c.significant:
            break
        rec.tie_group.append(c)
    rec.recommended = min(rec.tie_group, key=lambda c: (
        scheduler_rank(c.config[0]), c.config[0], c.config[1], c.score))
    return rec


def recommend_all(tables, alpha=ALPHA):
    """(per-kind recommendations, overall at the largest worker count,
    overall per worker count)."""
    kinds = []
    for cat, members in CATEGORIES:
        keys = [k for k in tables if tables[k].workload in members]
        if keys:
            kinds.append(recommend(tables, keys, cat, alpha))
    all_keys = [k for k in tables if tables[k].best is not None]
    workers = sorted({s.row.workers for t in tables.values() for s in t.stats
                      if s.row.scheduler != "fifo"})
    per_count = []
    for w in workers:
        # fifo has one worker by construction; it is the baseline every
        # worker count is compared against.
        per_count.append(recommend(
            tables, all_keys, "%d worker%s" % (w, "" if w == 1 else "s"), alpha,
            config_filter=lambda c, w=w: c[1] == w or c == ("fifo", 1)))
    if not workers:
        per_count.append(recommend(tables, all_keys, "all rows", alpha))
    largest = per_count[-1] if per_count else None
    return kinds, largest, per_count


# ---------------------------------------------------------------------------
# Result folders and reproduction
# ---------------------------------------------------------------------------

def safe_label(s):
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(s)).strip("-.")
    return s or "unknown"


def truthy(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return str(v).strip().lower() in ("1", "true", "yes", "dirty", "y")


def result_id(ctx, machine=None):
    """'<machine>-<YYYY-MM-DD>-<commit>[-dirty]' for a context."""
    label = machine or ctx.get("weft_machine")
    if not label:
        label = ctx.get("weft_hostname") or ctx.get("host_name")
        if label:
            warn("context has no weft_machine; using host name %r (pass "
                 "--machine LABEL to choose one)" % label)
        else:
            raise BenchError("no machine label: context has no weft_machine "
                             "or host name; pass --machine LABEL")
    date = None
    for k in ("weft_date", "date"):
        m = re.search(r"(\d{4})-(\d{2})-(\d{2})", str(ctx.get(k, "")))
        if m:
            date = m.group(0)
            break
    if date is None:
        raise BenchError("context has no date (weft_date or date) in "
                         "YYYY-MM-DD form")
    commit = str(ctx.get("weft_git_commit") or "").strip()
    commit = safe_label(commit[:7]) if commit else "nocommit"
    if truthy(ctx.get("weft_git_dirty", False)):
        commit += "-dirty"
    return "%s-%s-%s" % (safe_label(label), date, commit)


def parse_knobs(s):
    """'budget=128 lifo_slot=1' -> [('budget', '128'), ('lifo_slot', '1')]."""
    out = []
    for tok in str(s or "").replace(",", " ").split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out.append((k, v))
    return out


def _regex_escape_ere(s):
    return re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", s)


def local_machine():
    """CPU model, PU count, physical core count and kernel of this machine."""
    model = None
    cores = set()
    pkg = core = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "model name" and model is None:
                    model = v
                elif k == "physical id":
                    pkg = v
                elif k == "core id":
                    core = v
                elif not k and pkg is not None and core is not None:
                    cores.add((pkg, core))
                    pkg = core = None
        if pkg is not None and core is not None:
            cores.add((pkg, core))
    except OSError:
        pass
    import platform
    return {"cpu_model": model or platform.processor() or "unknown",
            "pus": os.cpu_count() or 0,
            "cores": len(cores) or (os.cpu_count() or 0),
            "kernel": platform.release()}


def machine_differences(ctx, here=None):
    """[(what, recorded, here, same?)] for CPU model, core count and kernel."""
    here = here or local_machine()
    out = []
    rec_model = ctx.get("weft_cpu_model")
    if rec_model is not None:
        out.append(("CPU model", str(rec_model), here["cpu_model"],
                    " ".join(str(rec_model).split()) == " ".join(here["cpu_model"].split())))
    rec_cores = ctx.get("weft_cores", ctx.get("num_cpus"))
    if rec_cores is not None:
        try:
            rc = int(float(rec_cores))
        except (TypeError, ValueError):
            rc = None
        out.append(("cores", str(rec_cores),
                    "%d (%d PUs)" % (here["cores"], here["pus"]),
                    rc in (here["cores"], here["pus"])))
    rec_kernel = ctx.get("weft_kernel")
    if rec_kernel is not None:
        rk = str(rec_kernel)
        out.append(("kernel", rk, here["kernel"],
                    here["kernel"] in rk or rk in here["kernel"]))
    return out


def reproduce_plan(result_path):
    """What reproduce.sh needs: the weft-bench arguments that re-run the
    recorded rows, the repetition count, and the machine comparison."""
    docs = load_paths([result_path])
    ctx, _ = merged_context(docs)
    rows = collect_rows(docs)
    parsed = [r for r in rows.values() if r.scheduler]
    if not parsed:
        raise BenchError("%s: no WORKLOAD/SCHEDULER/workers:N rows to re-run"
                         % result_path)
    scheds = sorted({r.scheduler for r in parsed}, key=lambda s: (scheduler_rank(s), s))
    workloads = []
    for r in parsed:
        if r.workload not in workloads:
            workloads.append(r.workload)
    workers = sorted({r.workers for r in parsed})
    reps = max(r.repetitions for r in parsed) or 1
    args = []
    if ctx.get("weft_profile"):
        args.append("--profile=%s" % ctx["weft_profile"])
    args += ["--schedulers=" + ",".join(scheds),
             "--workloads=" + ",".join(workloads),
             "--workers=" + ",".join(str(w) for w in workers)]
    topo = str(ctx.get("weft_topology", "") or "")
    if topo and topo != "real":
        args.append("--topology=" + topo)
    if ctx.get("weft_pin"):
        args.append("--pin=%s" % ctx["weft_pin"])
    for k, v in parse_knobs(ctx.get("weft_knobs")):
        args += ["--knob", "%s=%s" % (k, v)]
    names = sorted(rows)
    args.append("--benchmark_filter=^(%s)(/|$)" % "|".join(_regex_escape_ere(n) for n in names))
    args += ["--benchmark_repetitions=%d" % reps,
             "--benchmark_report_aggregates_only=false"]
    return {"args": args, "repetitions": reps, "context": ctx,
            "differences": machine_differences(ctx), "rows": names}


# ---------------------------------------------------------------------------
# Formatting helpers shared by the tools
# ---------------------------------------------------------------------------

def fmt_time(ns, unit=None):
    """'1.23 ms'; UNIT forces the unit (for intervals beside a median)."""
    if ns is None or (isinstance(ns, float) and math.isnan(ns)):
        return "–"
    unit = unit or time_unit_for(ns)
    return "%s %s" % (fmt_sig(ns / TIME_UNIT_NS[unit]), unit)


def time_unit_for(ns):
    a = abs(ns)
    if a >= 1e9:
        return "s"
    if a >= 1e6:
        return "ms"
    if a >= 1e3:
        return "us"
    return "ns"


def fmt_sig(x, digits=3):
    """X with DIGITS significant digits, no exponent for everyday sizes."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x == 0:
        return "0"
    mag = int(math.floor(math.log10(abs(x))))
    if mag >= 6 or mag < -4:
        return "%.*g" % (digits, x)
    decimals = max(0, digits - 1 - mag)
    return "%.*f" % (decimals, x)


def fmt_num(x):
    """Integers as integers, other values with 4 significant digits."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if float(x).is_integer() and abs(x) < 1e15:
        return "%d" % int(x)
    return fmt_sig(x, 4)


def fmt_p(p):
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    if p < 1e-4:
        return "%.1e" % p
    return "%.2g" % p if p < 0.01 else "%.3f" % p


def fmt_ratio(r):
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return "–"
    return "%.3f×" % r


def fmt_metric(metric, v, unit=None):
    if metric == "time_ns":
        return fmt_time(v, unit)
    return fmt_sig(v)


def fmt_ci(ci, metric="time_ns", unit=None):
    """'[lo, hi]' or 'n/a'."""
    if ci is None:
        return "n/a"
    if metric == "time_ns":
        unit = unit or time_unit_for(ci[0])
        return "[%s, %s] %s" % (fmt_sig(ci[0] / TIME_UNIT_NS[unit]),
                                fmt_sig(ci[1] / TIME_UNIT_NS[unit]), unit)
    return "[%s, %s]" % (fmt_sig(ci[0]), fmt_sig(ci[1]))
