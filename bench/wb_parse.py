"""wb_parse: reading weft-bench JSON into rows of samples grouped by launch.

What a reader gets from one or more files (docs/bench-protocol.md is the
contract):

* `Row`: every repetition of one WORKLOAD/RUNTIME/workers:N[/VARIANT] row,
  each `Rep` keeping its `launch` (the coordinator's round), `process` (index
  into the file's `launches` array), `order` (position in the whole run) and
  `repetition_index`. Files without launch fields (every result committed
  before the coordinator) are read as one launch, 0.
* The row's kind: `weft` (one of weft's schedulers), `peer` (tokio-mt,
  tokio-ct, async-std, go: other runtimes, never candidates for weft's
  recommendation) or `floor` (`floor/native/workers:1`, a project-built lower
  bound).
* An error in any repetition makes the row an ERROR row, with no numbers.
* `WorkloadDefs`: kind of work, ranking metric and unit per workload, read
  from the context's `weft_workload_defs`. A file without it (every file
  before the coordinator) gets the LEGACY table below, with a warning: that
  table is kept only so old results still read.
* `stat_counter_names`: the scheduler counters (C `weft_stat_fields`) from the
  context's `weft_stat_fields` when the driver writes it, else the legacy
  list, with a warning.
"""

import glob
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field

PEER_RUNTIMES = ("tokio-mt", "tokio-ct", "async-std", "go")
WEFT_SCHEDULERS = ("fifo", "global", "ws", "numa")
FLOOR_SCHEDULER = "native"
FLOOR_ROW = "floor/native/workers:1"

TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

LATENCY_COUNTERS = ("p50_us", "p99_us", "p999_us")
UNIT_COUNTERS = ("units", "ns_per_unit")
# Throughput figures peers and weft write beside the time (not self-checks).
RATE_COUNTERS = ("requests_per_s", "GiB_per_s")
# The machine, not the scheduler (bench/env.h): core-to-core round trip.
ENV_COUNTERS = ("c2c_rt_ns",)

# --- LEGACY fallbacks: only for files written before weft_workload_defs and
# weft_stat_fields existed. New files carry these facts in their context.
LEGACY_CATEGORIES = (
    ("spawn-heavy", ("spawn_many", "spawn_remote", "chained_spawn")),
    ("message passing", ("ping_pong", "yield_many")),
    ("fork-join", ("fib", "uts", "fanout_skew")),
    ("timers", ("timer_storm", "timeout_cancel", "interval_jitter")),
    ("IO", ("tcp_echo", "tcp_stream")),
    ("blocking", ("blocking_mix",)),
)
LEGACY_RANK_BY_LATENCY = frozenset(("timer_storm", "interval_jitter", "blocking_mix"))
LEGACY_STAT_COUNTERS = (
    "polls", "spawns", "steals", "steal_attempts", "tasks_stolen",
    "local_steals", "remote_steals", "parks", "unparks", "spurious_unparks",
    "inject_pops", "lifo_hits", "overflow_moves", "local_wakes",
    "remote_wakes",
)
LEGACY_LEVEL_COUNTERS = ("queue_hwm",)

# The order kinds of work are shown in (unknown kinds follow, by name).
KIND_ORDER = ("spawn-heavy", "message passing", "fork-join", "timers", "IO", "blocking")
_KIND_ALIASES = {
    "spawn": "spawn-heavy", "spawn-heavy": "spawn-heavy", "spawn heavy": "spawn-heavy",
    "spawn_heavy": "spawn-heavy", "message passing": "message passing",
    "message-passing": "message passing", "message_passing": "message passing",
    "messaging": "message passing", "fork-join": "fork-join", "fork join": "fork-join",
    "fork_join": "fork-join", "forkjoin": "fork-join", "timers": "timers", "timer": "timers",
    "io": "IO", "i/o": "IO", "blocking": "blocking", "floor": "floor",
}
_METRIC_ALIASES = {
    "p99_us": "p99_us", "p99": "p99_us", "p99 latency": "p99_us", "latency": "p99_us",
    "p99_latency": "p99_us", "ns_per_unit": "ns_per_unit", "ns/unit": "ns_per_unit",
    "time_per_unit": "ns_per_unit", "per_unit": "ns_per_unit", "throughput": "ns_per_unit",
    "time": "time_ns", "time_ns": "time_ns", "real_time": "time_ns",
}

GB_ROW_FIELDS = frozenset((
    "name", "family_index", "per_family_instance_index", "run_name",
    "run_type", "repetitions", "repetition_index", "threads", "iterations",
    "real_time", "cpu_time", "time_unit", "aggregate_name", "aggregate_unit",
    "error_occurred", "error_message", "label", "big_o", "rms",
    "complexity_n", "launch", "order", "process", "runtime",
))

NAME_SUFFIX_RE = re.compile(
    r"/(?:iterations:\d+|manual_time|real_time|process_time|repeats:\d+|"
    r"threads:\d+|min_time:[0-9.eE+-]+s?x?|min_warmup_time:[0-9.eE+-]+s?)$")
NAME_RE = re.compile(
    r"^(?P<workload>[^/]+)/(?P<scheduler>[^/]+)/workers:(?P<workers>\d+)"
    r"(?:/(?P<variant>.+))?$")


class BenchError(Exception):
    """Bad input a person must fix (missing file, not benchmark JSON, ...)."""


_warned = set()


def warn(msg, once=False):
    if once:
        if msg in _warned:
            return
        _warned.add(msg)
    print("warning: " + msg, file=sys.stderr)


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


KNOBS_SUFFIX_RE = re.compile(r"(?:^|/)knobs:(?P<knobs>[^/]+)$")


def parse_name(name):
    """'uts/ws/workers:2/T1/manual_time' -> ('uts', 'ws', 2, 'T1'), or None.

    A knob sweep's suffix /knobs:NAME=V,... goes into the RUNTIME field as
    'ws[lifo_slot=0]', so every table, ranking and ratio treats a knob
    setting as a configuration of its own (scheduler, workers, knobs), not as
    another workload: 'ping_pong/ws/workers:2/knobs:lifo_slot=0' ->
    ('ping_pong', 'ws[lifo_slot=0]', 2, '')."""
    m = NAME_RE.match(strip_name(name))
    if not m:
        return None
    sched, variant = m.group("scheduler"), m.group("variant") or ""
    k = KNOBS_SUFFIX_RE.search(variant)
    if k:
        sched = "%s[%s]" % (sched, k.group("knobs"))
        variant = variant[:k.start()].rstrip("/")
    return (m.group("workload"), sched, int(m.group("workers")), variant)


def base_scheduler(scheduler):
    """'ws[lifo_slot=0]' -> 'ws'."""
    return (scheduler or "").split("[", 1)[0]


def scheduler_knobs(scheduler):
    """'ws[lifo_slot=0,steal_batch=1]' -> (('lifo_slot', '0'), ('steal_batch', '1'))."""
    if "[" not in (scheduler or "") or not scheduler.endswith("]"):
        return ()
    inner = scheduler.split("[", 1)[1][:-1]
    return tuple(tuple(kv.split("=", 1)) for kv in inner.split(",") if "=" in kv)


def runtime_kind(scheduler):
    """'weft', 'peer', 'floor' or '' (unknown) for a row's RUNTIME field."""
    scheduler = base_scheduler(scheduler)
    if scheduler in PEER_RUNTIMES:
        return "peer"
    if scheduler == FLOOR_SCHEDULER:
        return "floor"
    if scheduler:
        return "weft"
    return ""


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def result_files(path):
    """JSON files named by PATH: the file, or a result folder's raw/*.json."""
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
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise BenchError("%s: cannot read: %s" % (path, e.strerror))
    except ValueError as e:
        raise BenchError("%s: not valid JSON (%s); was the run cut short?" % (path, e))
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise BenchError("%s: not Google Benchmark JSON (no \"benchmarks\" "
                         "list); write it with --benchmark_out_format=json" % path)
    if not isinstance(doc.get("context", {}), dict):
        raise BenchError("%s: \"context\" is not an object" % path)
    doc.setdefault("context", {})
    return doc


def load_paths(paths):
    out = []
    for p in paths:
        for f in result_files(p):
            out.append((f, load_json(f)))
    return out


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


def launch_records(docs):
    """The `launches` arrays of the files (per-process machine state), each
    record tagged with its file. [] for files written before the coordinator."""
    out = []
    for path, doc in docs:
        for rec in doc.get("launches") or []:
            if isinstance(rec, dict):
                r = dict(rec)
                r["_file"] = path
                out.append(r)
    return out


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------

@dataclass
class Rep:
    """One repetition: its time per iteration, counters and where it ran."""
    time_ns: float
    counters: dict
    index: int = 0            # repetition_index within its process
    launch: int = 0
    process: int = -1
    order: int = -1


@dataclass
class Row:
    name: str                 # WORKLOAD/RUNTIME/workers:N[/VARIANT]
    workload: str
    scheduler: str            # weft scheduler, peer runtime or "native"
    workers: int
    variant: str
    reps: list = field(default_factory=list)
    error: str = None
    aggregates_only: bool = False
    sources: list = field(default_factory=list)
    repetitions: int = 0

    @property
    def key(self):
        return self.workload + ("/" + self.variant if self.variant else "")

    @property
    def config(self):
        return (self.scheduler, self.workers)

    @property
    def label(self):
        return "%s/%d" % (self.scheduler, self.workers)

    @property
    def kind(self):
        return runtime_kind(self.scheduler)

    @property
    def is_error(self):
        return self.error is not None

    @property
    def n(self):
        return len(self.reps)

    def launches(self):
        """Sorted launch indices that hold a repetition."""
        return sorted({r.launch for r in self.reps})

    def by_launch(self):
        """{launch: [Rep]} in run order (order, else repetition_index)."""
        out = {}
        for r in self.reps:
            out.setdefault(r.launch, []).append(r)
        for lst in out.values():
            lst.sort(key=lambda r: (r.order if r.order >= 0 else 0, r.index))
        return dict(sorted(out.items()))

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
        raise BenchError("%s: row %r has unknown time_unit %r" % (path, b.get("name"), unit))
    t = b.get("real_time")
    if not isinstance(t, (int, float)):
        raise BenchError("%s: row %r has no numeric real_time" % (path, b.get("name")))
    return float(t) * TIME_UNIT_NS[unit]


def _int_field(b, k, default):
    v = b.get(k)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return default
    return int(v)


def collect_rows(docs):
    """{canonical name: Row} from [(path, doc)], in first-seen order.

    Files without launch fields (written before the coordinator) are read as
    launch 0: one process per row. A row found in several such files has its
    repetitions pooled, with a warning. A name with only a "median" aggregate
    gets that value and is marked aggregates_only.
    """
    rows, medians = {}, {}
    legacy_seen = {}
    for path, doc in docs:
        for b in doc["benchmarks"]:
            if not isinstance(b, dict) or "name" not in b:
                raise BenchError("%s: a benchmark entry has no name" % path)
            raw = b.get("run_name") or b["name"]
            canon = strip_name(raw)
            if b.get("run_type", "iteration") == "aggregate":
                if b.get("aggregate_name") == "median" and not b.get("error_occurred"):
                    medians.setdefault(canon, (path, b))
                continue
            row = rows.get(canon)
            if row is None:
                parsed = parse_name(canon)
                if parsed is None:
                    warn("%s: row %r is not WORKLOAD/RUNTIME/workers:N[/VARIANT]; "
                         "kept for compare, left out of tables" % (path, canon))
                    parsed = (canon, "", 0, "")
                row = Row(canon, *parsed)
                rows[canon] = row
            if path not in row.sources:
                row.sources.append(path)
                if "launch" not in b:
                    if canon in legacy_seen:
                        warn("row %s appears in %s and %s without launch fields; "
                             "their repetitions are pooled as one launch"
                             % (canon, legacy_seen[canon], path))
                    legacy_seen.setdefault(canon, path)
            row.repetitions = max(row.repetitions, int(b.get("repetitions", 1) or 1))
            if b.get("error_occurred"):
                if row.error is None:
                    row.error = str(b.get("error_message") or "error (no message)")
                continue
            row.reps.append(Rep(_time_ns(b, path), _counters_of(b),
                                index=_int_field(b, "repetition_index", len(row.reps)),
                                launch=_int_field(b, "launch", 0),
                                process=_int_field(b, "process", -1),
                                order=_int_field(b, "order", -1)))
    agg_only = []
    for canon, (path, b) in medians.items():
        if canon in rows:
            continue
        parsed = parse_name(canon) or (canon, "", 0, "")
        row = Row(canon, *parsed, aggregates_only=True, sources=[path])
        row.reps.append(Rep(_time_ns(b, path), _counters_of(b)))
        row.repetitions = int(b.get("repetitions", 1) or 1)
        rows[canon] = row
        agg_only.append(canon)
    if agg_only:
        warn("%d row%s (%s%s) have only aggregates: their median aggregate is "
             "used, with no interval and no test (run weft-bench with "
             "--benchmark_report_aggregates_only=false)" % (
                 len(agg_only), "" if len(agg_only) == 1 else "s",
                 ", ".join(agg_only[:3]), ", ..." if len(agg_only) > 3 else ""))
    for row in rows.values():
        if row.is_error:
            row.reps = []   # a failed self-check is never a number
    return rows


# ---------------------------------------------------------------------------
# Workload definitions and counter names, from the context
# ---------------------------------------------------------------------------

def canonical_kind(k):
    if k is None:
        return None
    s = str(k).strip()
    return _KIND_ALIASES.get(s.lower(), s)


def canonical_metric(m):
    if m is None:
        return None
    return _METRIC_ALIASES.get(str(m).strip().lower())


@dataclass
class WorkloadDefs:
    """Kind of work and ranking metric per workload. `legacy` is True when
    they come from LEGACY_CATEGORIES (the file has no weft_workload_defs)."""
    defs: dict = field(default_factory=dict)    # workload -> raw object
    legacy: bool = True

    def kind(self, workload):
        if not self.legacy:
            d = self.defs.get(workload)
            if d is None:
                return None
            return canonical_kind(d.get("kind", d.get("category", d.get("kind_of_work"))))
        if workload == "floor":
            return "floor"
        for cat, members in LEGACY_CATEGORIES:
            if workload in members:
                return cat
        return None

    def metric(self, workload):
        """'p99_us', 'ns_per_unit', 'time_ns' or None (let the data decide)."""
        if not self.legacy:
            d = self.defs.get(workload) or {}
            for k in ("metric", "ranking_metric", "rank_metric", "rank_by", "ranking"):
                if k in d:
                    return canonical_metric(d[k])
            return None
        return "p99_us" if workload in LEGACY_RANK_BY_LATENCY else None

    def unit(self, workload):
        d = self.defs.get(workload) or {}
        return d.get("unit")

    def description(self, workload):
        d = self.defs.get(workload) or {}
        return d.get("description", d.get("desc"))

    def kinds(self, workloads):
        """[(kind, [workload])] in KIND_ORDER, then other kinds by name;
        the floor and workloads of no kind are left out."""
        groups = {}
        for w in workloads:
            k = self.kind(w)
            if k and k != "floor":
                groups.setdefault(k, []).append(w)
        order = sorted(groups, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER
                                              else len(KIND_ORDER), k))
        return [(k, groups[k]) for k in order]


def workload_defs(ctx):
    """WorkloadDefs from the context's weft_workload_defs (a JSON string or
    an already-decoded value: a list of objects with "name", or an object
    keyed by workload). Without it: the legacy table, with a warning."""
    raw = ctx.get("weft_workload_defs")
    if raw is None or raw == "":
        warn("the context has no weft_workload_defs (a file from before the "
             "coordinator): kind of work and ranking metric come from the LEGACY "
             "table in bench/wb_parse.py", once=True)
        return WorkloadDefs({}, True)
    val = raw
    if isinstance(raw, str):
        try:
            val = json.loads(raw)
        except ValueError as e:
            raise BenchError("weft_workload_defs is not valid JSON: %s" % e)
    defs = {}
    if isinstance(val, dict):
        items = val.get("workloads", val)
        if isinstance(items, list):
            val = items
        else:
            for k, v in items.items():
                if isinstance(v, dict):
                    defs[k] = v
    if isinstance(val, list):
        for d in val:
            if isinstance(d, dict) and (d.get("name") or d.get("workload")):
                defs[d.get("name") or d.get("workload")] = d
    if not defs:
        raise BenchError("weft_workload_defs holds no workload definition")
    return WorkloadDefs(defs, False)


def stat_counter_names(ctx):
    """(event counters, level counters) of weft's scheduler stats: from the
    context's weft_stat_fields ("polls,spawns,...,queue_hwm:max"; a ':max'
    suffix marks a level) with weft_stat_levels as an alternative way to name
    the levels; without it the legacy list, with a warning."""
    raw = ctx.get("weft_stat_fields")
    if raw is None or raw == "":
        warn("the context has no weft_stat_fields: scheduler counter names come "
             "from the LEGACY list in bench/wb_parse.py", once=True)
        return LEGACY_STAT_COUNTERS, LEGACY_LEVEL_COUNTERS
    if isinstance(raw, str):
        items = [t for t in re.split(r"[,\s]+", raw) if t]
    else:
        items = [str(t) for t in raw]
    levels = set(t for t in re.split(r"[,\s]+", str(ctx.get("weft_stat_levels", ""))) if t)
    events, lv = [], []
    for t in items:
        name, _, tag = t.partition(":")
        (lv if tag == "max" or name in levels else events).append(name)
    return tuple(events), tuple(lv)
