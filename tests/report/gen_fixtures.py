#!/usr/bin/python3
"""Generate the synthetic weft-bench JSON fixtures of tests/report/.

    /usr/bin/python3 tests/report/gen_fixtures.py [OUT_DIR]

(default OUT_DIR: this file's folder). Deterministic: a fixed seed per file,
so running it again writes byte-identical files (test_report.py checks that).

The rows are shaped like Google Benchmark 1.7.1's JSON with
--benchmark_repetitions=N --benchmark_report_aggregates_only=false: N
"iteration" rows per benchmark, then mean/median/stddev/cv aggregates, names
with the library's suffixes (/manual_time, /iterations:N, /repeats:N).

Every timed row is base * (1 + o) with o a shuffled permutation of
OFFSETS_9 (or OFFSETS_3), whose middle value is 0, so the median is exactly
`base` and a test can check the report's medians and ratios by hand:

  diff.json      9 reps. spawn_many, fib, timer_storm with fifo/1, global/1,
                 global/2, ws/1, ws/2; ws/2 is 2x faster than global/2 and
                 clearly the best. Hand values: spawn_many ns/unit fifo/1 100,
                 global/1 110, global/2 80, ws/1 105, ws/2 40.
  diff_rerun.json      the same distributions, another shuffle plus a
                       +-0.5 % jitter: an unchanged re-run.
  diff_regressed.json  diff_rerun with spawn_many/ws/2 20 % slower.
  equal.json     9 reps. spawn_many and uts/T1, uts/T3 (variants): ws/2 and
                 global/2 interleave (ws 0.5 % faster: not significant),
                 fifo/1 2x slower.
  error.json     fib/ws/workers:2 fails its self-check in every repetition,
                 chained_spawn/ws/workers:2 in one; spawn_many has only 3 reps
                 (no CI, cannot be significant); a dirty commit.

The files above are *legacy* (one process, no launch fields, no workload
definitions): they test that old results still read. The coordinator-shaped
fixtures (docs/bench-protocol.md) are made by gen_run():

  run.json       5 launches x 3 repetitions; weft's fifo/1 global/1 global/2
                 ws/1 ws/2 numa/2, the peers tokio-mt/1,2 tokio-ct/1
                 async-std/1,2 go/1,2, and floor/native/workers:1, on
                 spawn_many, yield_many, ping_pong, fib/join, timer_storm,
                 tcp_echo, blocking_mix (one per kind of work, RUN_BASE).
                 Every launch l multiplies every row by DRIFT[l] (launch 3 is a
                 slow phase, also in its calibration_ns); each row gets a
                 +-1.5 % jitter per launch and -1/0/+1 % within it.
                 fib/numa/workers:2 fails one repetition, tcp_echo/go/workers:2
                 all; spawn_many/global/workers:2's first repetition of launch
                 0 is 30 % slow (warm-up).
  (the run_*.json below are VARIANTS, written by the tests, not committed)
  run_same.json  run.json with its launches renumbered (l -> l+2 mod 5): the
                 same numbers, so a reproduction holds at every level.
  run_l1.json    every tcp_echo row 25 % slower (medians move, ratios do not).
  run_l2.json    spawn_many/async-std/workers:1 12.5 % slower (its ratio moves,
                 no ordering flips).
  run_l3.json    fib/join: tokio-mt/2 and go/2 swap (an ordering breaks; weft's
                 recommendations do not change).
  run_l4.json    timer_storm/fifo/workers:1 at 28 µs instead of 40 (fifo/1
                 overtakes ws/1: the timers recommendation changes).
"""

import json
import os
import random
import sys

OFFSETS_9 = [-0.04, -0.03, -0.02, -0.01, 0.0, 0.01, 0.02, 0.03, 0.04]
OFFSETS_3 = [-0.02, 0.0, 0.02]

TOPOLOGY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE topology SYSTEM "hwloc2.dtd">
<topology version="2.0">
  <object type="Machine" os_index="0" cpuset="0x00000003">
    <object type="Package" os_index="0" cpuset="0x00000003">
      <object type="Core" os_index="0" cpuset="0x00000001"><object type="PU" os_index="0" cpuset="0x00000001"/></object>
      <object type="Core" os_index="1" cpuset="0x00000002"><object type="PU" os_index="1" cpuset="0x00000002"/></object>
    </object>
  </object>
</topology>
"""


def context(dirty=False, xml=True):
    c = {
        "date": "2026-01-15T10:00:00+00:00",
        "host_name": "testhost",
        "executable": "build/release/bench/weft-bench",
        "num_cpus": 2,
        "mhz_per_cpu": 2600,
        "cpu_scaling_enabled": False,
        "caches": [
            {"type": "Data", "level": 1, "size": 49152, "num_sharing": 1},
            {"type": "Unified", "level": 2, "size": 1048576, "num_sharing": 1},
        ],
        "load_avg": [0.1, 0.2, 0.3],
        "library_build_type": "debug",
        "weft_cpu_model": "Synthetic CPU @ 2.60GHz",
        "weft_cores": "2",
        "weft_topology": "pack:1 numa:1 core:2 pu:1",
        "weft_kernel": "6.1.0-test-amd64",
        "weft_compiler": "GNU 12.2.0",
        "weft_cflags": "-O2 -g -DNDEBUG",
        "weft_allocator": "jemalloc",
        "weft_git_commit": "0123456789abcdef0123456789abcdef01234567",
        "weft_git_dirty": "1" if dirty else "0",
        "weft_profile": "quick",
        "weft_knobs": "budget=128 lifo_slot=1 global_interval=61",
        "weft_pin": "compact",
        "weft_hostname": "testhost",
        "weft_machine": "testbox",
        "weft_date": "2026-01-15",
    }
    if xml:
        c["weft_topology_xml"] = TOPOLOGY_XML
    return c


def sig(x, digits=10):
    """X rounded to 10 significant digits (exact values such as 400.0 stay)."""
    return float("%.*g" % (digits, x))


class Gen:
    def __init__(self, seed, jitter=0.0):
        self.rng = random.Random(seed)
        self.jitter = jitter
        self.rows = []
        self.family = 0

    def bench(self, name, base_us, units=None, reps=9, suffix="/manual_time",
              counters=None, latency=None, checks=None, errors=(), error_msg="",
              iterations=10):
        """Append N iteration rows and 4 aggregates for one benchmark.

        base_us: median time per iteration in µs. counters: {name: per-unit
        value} (scaled by units, +-3 % noise). latency: {p50_us: v, ...}
        medians, offset like the time. errors: repetition indices that fail
        their self-check (then no aggregates, as the library does).
        """
        full = name + suffix
        offs = list(OFFSETS_9 if reps == 9 else OFFSETS_3)
        assert len(offs) == reps
        self.rng.shuffle(offs)
        lat_offs = list(offs)
        self.rng.shuffle(lat_offs)
        it_rows = []
        for i, o in enumerate(offs):
            j = self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
            r = {
                "name": full, "family_index": self.family,
                "per_family_instance_index": 0, "run_name": full,
                "run_type": "iteration", "repetitions": reps,
                "repetition_index": i, "threads": 1, "iterations": iterations,
            }
            if i in errors:
                r.update({"error_occurred": True, "error_message": error_msg,
                          "iterations": 1, "real_time": 0.0, "cpu_time": 0.0,
                          "time_unit": "us"})
                it_rows.append(r)
                continue
            t = sig(base_us * (1.0 + o + j))
            r.update({"real_time": t, "cpu_time": sig(t * 0.1), "time_unit": "us"})
            if units is not None:
                r["units"] = float(units)
                r["ns_per_unit"] = sig(t * 1000.0 / units)
            for k, v in (counters or {}).items():
                r[k] = round(v * (units or 1) * (1.0 + self.rng.uniform(-0.03, 0.03)), 3)
            for k, v in (latency or {}).items():
                r[k] = sig(v * (1.0 + lat_offs[i] + j))
            for k, v in (checks or {}).items():
                r[k] = float(v)
            it_rows.append(r)
        self.rows += it_rows
        if not errors:
            times = sorted(r["real_time"] for r in it_rows)
            mean = sum(times) / len(times)
            sd = (sum((x - mean) ** 2 for x in times) / (len(times) - 1)) ** 0.5
            for agg, val in (("mean", mean), ("median", times[len(times) // 2]),
                             ("stddev", sd), ("cv", sd / mean)):
                a = {k: v for k, v in it_rows[0].items() if k != "repetition_index"}
                a.update({"name": full + "_" + agg, "run_type": "aggregate",
                          "aggregate_name": agg,
                          "aggregate_unit": "percentage" if agg == "cv" else "time",
                          "iterations": reps, "real_time": sig(val),
                          "cpu_time": sig(val * 0.1)})
                self.rows.append(a)
        self.family += 1

    def doc(self, ctx):
        return {"context": ctx, "benchmarks": self.rows}


SPAWN_UNITS = 10000
FIB_UNITS = 1000000
TIMER_UNITS = 1000

# (scheduler, workers): (spawn_many µs, fib µs, timer_storm p99 µs)
DIFF = {
    ("fifo", 1): (1000.0, 5000.0, 900.0),
    ("global", 1): (1100.0, 5600.0, 950.0),
    ("global", 2): (800.0, 4000.0, 600.0),
    ("ws", 1): (1050.0, 5200.0, 920.0),
    ("ws", 2): (400.0, 2500.0, 300.0),
}
# per-unit counters: the work-stealing rows steal and park less per unit.
COUNTERS = {
    "fifo": {"polls": 1.0, "spawns": 1.0},
    "global": {"polls": 1.0, "spawns": 1.0, "parks": 0.05, "unparks": 0.05,
               "inject_pops": 1.0},
    "ws": {"polls": 1.0, "spawns": 1.0, "steals": 0.01, "steal_attempts": 0.02,
           "tasks_stolen": 0.2, "parks": 0.001, "unparks": 0.001,
           "lifo_hits": 0.5, "inject_pops": 0.0001},
}


def gen_diff(seed, jitter=0.0, slow=None):
    g = Gen(seed, jitter)
    for (sch, w), (sp, fb, p99) in DIFF.items():
        name = "spawn_many/%s/workers:%d" % (sch, w)
        f = 1.2 if slow == name else 1.0
        g.bench(name, sp * f, units=SPAWN_UNITS, counters=COUNTERS[sch],
                checks={"count": 0}, suffix="/iterations:10/manual_time")
    for (sch, w), (sp, fb, p99) in DIFF.items():
        g.bench("fib/%s/workers:%d" % (sch, w), fb, units=FIB_UNITS,
                counters=COUNTERS[sch], checks={"result": 832040})
    for (sch, w), (sp, fb, p99) in DIFF.items():
        g.bench("timer_storm/%s/workers:%d" % (sch, w), 51000.0 + p99 / 10,
                units=TIMER_UNITS, counters=COUNTERS[sch],
                latency={"p50_us": p99 / 4, "p99_us": p99, "p999_us": p99 * 2},
                suffix="/repeats:9/manual_time")
    return g.doc(context())


def gen_equal(seed):
    g = Gen(seed)
    offs_shift = 0.005
    for wl, units, base, variant in (("spawn_many", SPAWN_UNITS, 500.0, ""),
                                     ("uts", 111345, 3000.0, "/T1"),
                                     ("uts", 4112897, 90000.0, "/T3")):
        g.bench("%s/fifo/workers:1%s" % (wl, variant), base * 2, units=units,
                counters=COUNTERS["fifo"])
        # global is ws shifted up by 0.5 %: the ranks interleave.
        g.bench("%s/global/workers:2%s" % (wl, variant), base * (1 + offs_shift),
                units=units, counters=COUNTERS["global"])
        g.bench("%s/ws/workers:2%s" % (wl, variant), base, units=units,
                counters=COUNTERS["ws"])
    return g.doc(context())


def gen_error(seed):
    g = Gen(seed)
    g.bench("fib/fifo/workers:1", 5000.0, units=FIB_UNITS, checks={"result": 832040})
    g.bench("fib/global/workers:2", 4000.0, units=FIB_UNITS, checks={"result": 832040})
    g.bench("fib/ws/workers:2", 2500.0, units=FIB_UNITS,
            errors=range(9), error_msg="self-check failed: result 832039 != 832040")
    g.bench("chained_spawn/global/workers:2", 300.0, units=1000)
    g.bench("chained_spawn/ws/workers:2", 200.0, units=1000, errors=(4,),
            error_msg="self-check failed: depth 999 != 1000")
    g.bench("spawn_many/global/workers:2", 300.0, units=SPAWN_UNITS, reps=3)
    g.bench("spawn_many/ws/workers:2", 100.0, units=SPAWN_UNITS, reps=3)
    return g.doc(context(dirty=True, xml=False))


# ---------------------------------------------------------------------------
# Coordinator-shaped fixtures (launches, peers, floor, workload defs)
# ---------------------------------------------------------------------------

DRIFT = [1.00, 1.12, 0.94, 1.20, 1.05]
RUN_REPS = 3
WEFT_CONFIGS = [("fifo", 1), ("global", 1), ("global", 2), ("ws", 1), ("ws", 2), ("numa", 2)]
PEER_CONFIGS = [("tokio-mt", 1), ("tokio-mt", 2), ("tokio-ct", 1), ("async-std", 1),
                ("async-std", 2), ("go", 1), ("go", 2)]
# workload key -> (kind, metric, unit, units per iteration, {config: base})
# base: ns per unit, or p99 µs for the p99-ranked workloads.
RUN_BASE = {
    "spawn_many": ("spawn-heavy", "ns_per_unit", "task", 10000, {
        ("fifo", 1): 50, ("global", 1): 55, ("global", 2): 170, ("ws", 1): 58,
        ("ws", 2): 40, ("numa", 2): 40.2, ("tokio-mt", 1): 90, ("tokio-mt", 2): 75,
        ("tokio-ct", 1): 85, ("async-std", 1): 120, ("async-std", 2): 150,
        ("go", 1): 100, ("go", 2): 80}),
    "yield_many": ("message passing", "ns_per_unit", "yield", 200000, {
        ("fifo", 1): 8.0, ("global", 1): 9.0, ("global", 2): 30, ("ws", 1): 8.5,
        ("ws", 2): 8.0, ("numa", 2): 8.3, ("tokio-mt", 1): 7.5, ("tokio-mt", 2): 7.0,
        ("tokio-ct", 1): 8.0, ("async-std", 1): 15, ("async-std", 2): 20,
        ("go", 1): 12, ("go", 2): 14}),
    "ping_pong": ("message passing", "ns_per_unit", "round trip", 1000, {
        ("fifo", 1): 180, ("global", 1): 225, ("global", 2): 415, ("ws", 1): 260,
        ("ws", 2): 260, ("numa", 2): 265, ("tokio-mt", 1): 210, ("tokio-mt", 2): 320,
        ("tokio-ct", 1): 185, ("async-std", 1): 300, ("async-std", 2): 350,
        ("go", 1): 250, ("go", 2): 240}),
    "fib/join": ("fork-join", "ns_per_unit", "task", 1664079, {
        ("fifo", 1): 150, ("global", 1): 185, ("global", 2): 190, ("ws", 1): 140,
        ("ws", 2): 75, ("numa", 2): 76, ("tokio-mt", 1): 200, ("tokio-mt", 2): 110,
        ("tokio-ct", 1): 160, ("async-std", 1): 280, ("async-std", 2): 300,
        ("go", 1): 170, ("go", 2): 95}),
    "timer_storm": ("timers", "p99_us", "timer", 100000, {
        ("fifo", 1): 40, ("global", 1): 8000, ("global", 2): 14000, ("ws", 1): 33,
        ("ws", 2): 60, ("numa", 2): 62, ("tokio-mt", 1): 450, ("tokio-mt", 2): 500,
        ("tokio-ct", 1): 45, ("async-std", 1): 800, ("async-std", 2): 900,
        ("go", 1): 250, ("go", 2): 300}),
    "tcp_echo": ("IO", "ns_per_unit", "round trip", 64000, {
        ("fifo", 1): 7500, ("global", 1): 7400, ("global", 2): 5300, ("ws", 1): 7450,
        ("ws", 2): 5300, ("numa", 2): 5310, ("tokio-mt", 1): 8000, ("tokio-mt", 2): 6000,
        ("tokio-ct", 1): 7600, ("async-std", 1): 9000, ("async-std", 2): 6500,
        ("go", 1): 8500, ("go", 2): 6200}),
    "blocking_mix": ("blocking", "p99_us", "job", 1064, {
        ("fifo", 1): 3000, ("global", 1): 15000, ("global", 2): 2900, ("ws", 1): 14000,
        ("ws", 2): 2905, ("numa", 2): 2910, ("tokio-mt", 1): 9000, ("tokio-mt", 2): 3500,
        ("tokio-ct", 1): 3100, ("async-std", 1): 9500, ("async-std", 2): 3200,
        ("go", 1): 8000, ("go", 2): 2800}),
}
FLOOR_BASE = 20.0
RUN_ERRORS = {("fib/join", ("numa", 2)): ({(1, 2)}, "self-check failed: result 832039 != 832040"),
              ("tcp_echo", ("go", 2)): (None, "self-check failed: round_trips 63999 != 64000")}
WARMUP = ("spawn_many", ("global", 2), 0, 0, 1.30)   # workload, config, launch, rep, factor
STAT_FIELDS = "polls,spawns,steals,parks,unparks,inject_pops,lifo_hits,queue_hwm:max"
PEER_INFO = {
    "tokio-mt": ("weft-peer-tokio", "rustc 1.63.0; tokio 1.24.2",
                 "spawn_remote: the outside thread is a std::thread calling Handle::spawn"),
    "tokio-ct": ("weft-peer-tokio", "rustc 1.63.0; tokio 1.24.2",
                 "workers:1 only: the current-thread runtime has one worker"),
    "async-std": ("weft-peer-async-std", "rustc 1.63.0; async-std 1.12.0",
                  "thread count read once from ASYNC_STD_THREAD_COUNT; "
                  "ping_pong: no oneshot, a bounded(1) channel instead"),
    "go": ("weft-peer-go", "go1.19.8", "spawn_remote: Go has no outside thread, a goroutine "
                                      "locked to an OS thread instead"),
}


def run_context(l1d="48K"):
    c = context()
    c.pop("caches", None)
    c.update({
        "weft_cpu_vendor": "AuthenticAMD", "weft_cpu_family": "25", "weft_cpu_model_id": "1",
        "weft_cpu_stepping": "1", "weft_cpu_microcode": "0xa001173",
        "weft_cpu_model": "AMD EPYC", "weft_cpu_cache_l1d": l1d, "weft_cpu_cache_l1i": "32K",
        "weft_cpu_cache_l2": "512K", "weft_cpu_cache_l3": "32768K",
        "weft_cpu_flags_digest": "9c0e5f1d2a3b4c5d", "weft_cpu_flags_count": "118",
        "weft_cpu_smt": "notsupported", "weft_cpu_threads_per_core": "1",
        "weft_cpu_hypervisor": "KVM", "weft_cpu_virtualization": "full",
        "weft_cpu_physical_cores": "2", "weft_cpu_sockets": "1", "weft_numa_nodes": "1",
        "weft_mem_total_kib": "24683584", "weft_cpu_governor": "unknown",
        "weft_cpu_boost": "unknown",
        "weft_launches": str(len(DRIFT)), "weft_seed": "7",
        # as the coordinator writes them: per launch, and the total
        "weft_launch_repetitions": str(RUN_REPS), "weft_repetitions": str(RUN_REPS * len(DRIFT)),
        "weft_profile": "standard",
        "weft_schedulers": "fifo,global,ws,numa", "weft_workers": "1,2",
        "weft_workloads": "spawn_many,yield_many,ping_pong,fib,timer_storm,tcp_echo,blocking_mix,floor",
        "weft_peers": "tokio-mt,tokio-ct,async-std,go", "weft_peers_missing": "",
        "weft_stat_fields": STAT_FIELDS,
    })
    defs = []
    for key, (kind, metric, unit, units, _) in RUN_BASE.items():
        wl = key.split("/")[0]
        defs.append({"name": wl, "kind": kind, "metric": metric, "unit": unit,
                     "description": "synthetic %s" % wl, "params": {}, "iterations": {"standard": 10}})
    defs.append({"name": "floor", "kind": "floor", "metric": "ns_per_unit", "unit": "task",
                 "description": "allocate+queue+pop+call+free of a 64-byte task",
                 "params": {}, "iterations": {"standard": 10}})
    c["weft_workload_defs"] = json.dumps(defs)
    for rt, (prog, ver, diff) in PEER_INFO.items():
        c["peer_%s_program" % rt] = prog
        c["peer_%s_versions" % rt] = ver
        c["peer_%s_allocator" % rt] = ("go runtime" if rt == "go" else
                                       "jemalloc (LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2)")
        c["peer_%s_differences" % rt] = diff
    return c


def gen_run(seed=11, change=None, relabel=0):
    """The coordinator-shaped fixture; CHANGE: None, 'l1', 'l2', 'l3', 'l4'."""
    rng = random.Random(seed)
    base = {k: (v[0], v[1], v[2], v[3], dict(v[4])) for k, v in RUN_BASE.items()}
    if change == "l2":
        base["spawn_many"][4][("async-std", 1)] = 135
    if change == "l3":
        b = base["fib/join"][4]
        b[("tokio-mt", 2)], b[("go", 2)] = b[("go", 2)], b[("tokio-mt", 2)]
    if change == "l4":
        base["timer_storm"][4][("fifo", 1)] = 28
    scale = {"tcp_echo": 1.25} if change == "l1" else {}
    rows, launches = [], []
    order = 0
    process = 0
    # the jitter of every row in every launch, drawn first so that a change
    # in one row leaves every other number as it was
    jit = {}
    keys = list(base) + ["floor"]
    for key in keys:
        cfgs = [("native", 1)] if key == "floor" else WEFT_CONFIGS + PEER_CONFIGS
        for cfg in cfgs:
            for l in range(len(DRIFT)):
                jit[(key, cfg, l)] = rng.uniform(-0.015, 0.015)
                offs = [-0.01, 0.0, 0.01]
                rng.shuffle(offs)
                jit[(key, cfg, l, "offs")] = offs
    for l in range(len(DRIFT)):
        lab = (l + relabel) % len(DRIFT)
        wl_order = list(keys)
        rng.shuffle(wl_order)
        for key in wl_order:
            if key == "floor":
                procs = [("weft", None, [("native", 1)])]
            else:
                procs = [("weft", None, WEFT_CONFIGS)] + [(rt, w, [(rt, w)]) for rt, w in PEER_CONFIGS]
            rng.shuffle(procs)
            for runtime, workers, cfgs in procs:
                t0 = order * 0.1
                for r in range(RUN_REPS):
                    cs = list(cfgs)
                    rng.shuffle(cs)
                    for cfg in cs:
                        rows.append(_run_row(key, cfg, base, scale, jit, l, lab, r, order,
                                             process, runtime))
                        order += 1
                launches.append({
                    "process": process, "launch": lab, "runtime": runtime, "workers": workers,
                    "workload": key.split("/")[0],
                    "calibration_ns": sig(1.0e6 * DRIFT[l] * (1 + rng.uniform(-0.01, 0.01))),
                    "c2c_rt_ns": sig(90.0 * (1 + rng.uniform(-0.05, 0.05))),
                    "steal_pct": round(rng.uniform(0.0, 0.5) + (3.0 if DRIFT[l] >= 1.2 else 0), 3),
                    "loadavg1": round(1.0 + rng.uniform(0, 0.3), 3),
                    "t_start": round(t0, 3), "t_end": round(order * 0.1, 3), "exit_status": 0})
                process += 1
    rows.sort(key=lambda b: b["order"])
    ctx = run_context()
    return {"context": ctx, "benchmarks": rows, "launches": launches}


def _run_row(key, cfg, base, scale, jit, l, lab, r, order, process, runtime):
    wl, _, variant = key.partition("/")
    sched, w = cfg
    name = "%s/%s/workers:%d%s" % (wl, sched, w, "/" + variant if variant else "")
    is_weft = runtime == "weft"
    full = name + ("/iterations:10/repeats:%d/manual_time" % RUN_REPS if is_weft else "")
    if key == "floor":
        kind, metric, unit, units, b = "floor", "ns_per_unit", "task", 10000, FLOOR_BASE
    else:
        kind, metric, unit, units, table = base[key]
        b = table[cfg]
    f = DRIFT[l] * (1 + jit[(key, cfg, l)]) * (1 + jit[(key, cfg, l, "offs")][r]) * scale.get(key, 1.0)
    if (key, cfg, l, r) == WARMUP[:2] + WARMUP[2:4]:
        f *= WARMUP[4]
    row = {"name": full, "run_type": "iteration", "repetitions": RUN_REPS,
           "repetition_index": r, "iterations": 10, "launch": lab,
           "order": order, "process": process, "runtime": runtime}
    err = RUN_ERRORS.get((key, cfg))
    if err and (err[0] is None or (l, r) in err[0]):
        row.update({"error_occurred": True, "error_message": err[1], "real_time": 0.0,
                    "time_unit": "us"})
        return row
    if metric == "p99_us":
        p99 = sig(b * f, 7)
        t = sig(50000.0 * (1 + 0.001 * f), 7)
        row.update({"p50_us": sig(p99 / 4, 7), "p99_us": p99, "p999_us": sig(p99 * 2, 7)})
    else:
        t = sig(b * f * units / 1000.0, 7)
    row.update({"real_time": t, "time_unit": "us", "units": float(units),
                "ns_per_unit": sig(t * 1000.0 / units, 7)})
    if is_weft and sched != "native":
        c = COUNTERS.get(sched, COUNTERS["ws"])
        for k in ("polls", "steals", "parks", "lifo_hits"):
            if c.get(k):
                row[k] = round(c[k] * units, 3)
        row["queue_hwm"] = 256.0
    row["tasks_ran"] = float(units)
    return row


def write_doc(path, doc):
    with open(path, "w", encoding="utf-8") as f:
        f.write('{\n  "context": %s,\n  "benchmarks": [\n' % json.dumps(
            doc["context"], indent=2).replace("\n", "\n  "))
        f.write(",\n".join("    " + json.dumps(b) for b in doc["benchmarks"]))
        f.write("\n  ]")
        if "launches" in doc:
            f.write(',\n  "launches": [\n')
            f.write(",\n".join("    " + json.dumps(b) for b in doc["launches"]))
            f.write("\n  ]")
        f.write("\n}\n")


FIXTURES = {
    "diff.json": lambda: gen_diff(1),
    "diff_rerun.json": lambda: gen_diff(2, jitter=0.005),
    "diff_regressed.json": lambda: gen_diff(2, jitter=0.005, slow="spawn_many/ws/workers:2"),
    "equal.json": lambda: gen_equal(3),
    "error.json": lambda: gen_error(4),
    "run.json": lambda: gen_run(),
}
# Written by the tests into a temporary folder (not committed: each is
# run.json with one change, and 400 kB).
VARIANTS = {
    "run_same.json": lambda: gen_run(relabel=2),
    "run_l1.json": lambda: gen_run(change="l1"),
    "run_l2.json": lambda: gen_run(change="l2"),
    "run_l3.json": lambda: gen_run(change="l3"),
    "run_l4.json": lambda: gen_run(change="l4"),
}


def write_variants(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, fn in VARIANTS.items():
        write_doc(os.path.join(out_dir, name), fn())


def write_all(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, fn in FIXTURES.items():
        # The context indented, one row per line: small and diffable.
        write_doc(os.path.join(out_dir, name), fn())


if __name__ == "__main__":
    write_all(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
