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


def sig(x):
    """X rounded to 10 significant digits (exact values such as 400.0 stay)."""
    return float("%.10g" % x)


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


FIXTURES = {
    "diff.json": lambda: gen_diff(1),
    "diff_rerun.json": lambda: gen_diff(2, jitter=0.005),
    "diff_regressed.json": lambda: gen_diff(2, jitter=0.005, slow="spawn_many/ws/workers:2"),
    "equal.json": lambda: gen_equal(3),
    "error.json": lambda: gen_error(4),
}


def write_all(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, fn in FIXTURES.items():
        doc = fn()
        # The context indented, one benchmark row per line: small and diffable.
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write('{\n  "context": %s,\n  "benchmarks": [\n' % json.dumps(
                doc["context"], indent=2).replace("\n", "\n  "))
            f.write(",\n".join("    " + json.dumps(b) for b in doc["benchmarks"]))
            f.write("\n  ]\n}\n")


if __name__ == "__main__":
    write_all(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
