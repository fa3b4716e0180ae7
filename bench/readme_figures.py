#!/usr/bin/env python3
"""The README's figures from a result: the medians table and the per-task
cost (issue #11) figures.

  readme_figures.py medians RESULT       the reference-results table (Markdown)
  readme_figures.py per-task RESULT...   the issue #11 figures of each result

RESULT is a result directory (the JSON file under its raw/) or a weft-bench
JSON file. A row's value is the median of every repetition of that row, pooled
over its launches: p99_us for the latency workloads (interval_jitter,
timer_storm, blocking_mix), ns_per_unit for the rest, lower is better for
all of them. Error rows carry no time and are left out; a row the result
does not have prints as a dash, and a figure that needs it is skipped.
"""
import collections
import json
import os
import statistics
import sys

P99 = {"interval_jitter", "timer_storm", "blocking_mix"}
WEFT = ["fifo", "global", "ws", "numa"]
PEERS = [("tokio-ct", 1), ("tokio-mt", 1), ("tokio-mt", 2), ("async-std", 1),
         ("async-std", 2), ("go", 1), ("go", 2)]
TABLE = [("chained_spawn", None), ("spawn_many", None), ("spawn_remote", None),
         ("fanout_skew", None), ("fib", "join"), ("fib", "spawn2"), ("uts", "T1"),
         ("uts", "T3"), ("interval_jitter", None), ("timeout_cancel", None),
         ("timer_storm", None), ("tcp_echo", None), ("tcp_stream", None),
         ("blocking_mix", None), ("ping_pong", None), ("yield_many", None)]


class BadInput(Exception):
    pass


def row_name(name):
    """WORKLOAD/RUNTIME/workers:N[/VARIANT] without Google Benchmark's suffixes."""
    keep = [p for p in name.split("/")
            if not p.startswith(("iterations:", "repeats:", "manual_time", "real_time"))]
    return "/".join(keep)


def load(path):
    f = path
    if os.path.isdir(path):
        # a make bench result holds raw/weft-bench.json, a make reproduce
        # result raw/weft-reproduce.*.json: the one JSON file under raw/
        raw = os.path.join(path, "raw")
        found = sorted(x for x in os.listdir(raw) if x.endswith(".json")) if os.path.isdir(raw) else []
        f = os.path.join(raw, "weft-bench.json" if "weft-bench.json" in found else (found[0] if found else "weft-bench.json"))
    try:
        with open(f) as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as e:
        raise BadInput(f"readme_figures: cannot read {f}: {e}")
    samples = collections.defaultdict(list)
    for b in doc.get("benchmarks", []):
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        n = row_name(b.get("name", ""))
        metric = "p99_us" if n.split("/")[0] in P99 else "ns_per_unit"
        if metric in b:
            samples[n].append(float(b[metric]))
    return {k: statistics.median(v) for k, v in samples.items()}


def key(w, s, n, var=None):
    return f"{w}/{s}/workers:{n}" + (f"/{var}" if var else "")


def fmt(x):
    if x is None:
        return "–"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def best(r, w, n, var=None):
    c = [(r[key(w, s, n, var)], s) for s in WEFT if key(w, s, n, var) in r]
    return min(c) if c else (None, None)


def medians(r):
    out = ["| workload (unit) | best weft/1 | best weft/2 | "
           + " | ".join(f"{p}/{n}" for p, n in PEERS) + " |",
           "|---" * (3 + len(PEERS)) + "|"]
    for w, var in TABLE:
        cells = []
        for n in (1, 2):
            v, s = best(r, w, n, var)
            cells.append(f"{fmt(v)} ({s})" if v is not None else "–")
        cells += [fmt(r.get(key(w, p, n, var))) for p, n in PEERS]
        unit = "p99 µs" if w in P99 else "ns/unit"
        out.append(f"| {w}{'/' + var if var else ''} ({unit}) | " + " | ".join(cells) + " |")
    out.append(f"floor: {fmt(r.get('floor/native/workers:1'))}  "
               f"floor/yield: {fmt(r.get('floor/native/workers:1/yield'))}")
    return out


def ratio(a, b):
    return a / b if a is not None and b else None


def per_task(r):
    g = lambda w, s, n, v=None: r.get(key(w, s, n, v))
    out = []
    for w in ["spawn_many", "yield_many", "ping_pong", "chained_spawn"]:
        v, s = best(r, w, 1)
        t = g(w, "tokio-ct", 1)
        if v is not None and t is not None:
            out.append(f"{w}: best weft/1 {fmt(v)} ({s}), tokio-ct/1 {fmt(t)}: {t / v:.2f}x")
    fl, fy, fs, fyw = (r.get("floor/native/workers:1"), r.get("floor/native/workers:1/yield"),
                       g("spawn_many", "fifo", 1), g("yield_many", "fifo", 1))
    if fl and fs:
        out.append(f"fifo spawn_many {fmt(fs)} / floor {fmt(fl)}: {fs / fl:.2f}x")
    if fyw:
        out.append(f"yield_many fifo/1 {fmt(fyw)} ns (floor/yield {fmt(fy)})")
    for w in ["chained_spawn", "ping_pong"]:
        parts = [f"{s} {ratio(g(w, s, 1), g(w, 'fifo', 1)):.2f}" for s in ["ws", "global", "numa"]
                 if ratio(g(w, s, 1), g(w, "fifo", 1))]
        if parts:
            out.append(f"{w} one worker / fifo: " + ", ".join(parts))
    for w in ["spawn_many", "chained_spawn"]:
        parts = [f"{s} {g(w, s, 2) / g(w, s, 1):.2f} ({fmt(g(w, s, 1))} -> {fmt(g(w, s, 2))})"
                 for s in ["ws", "global", "numa"] if g(w, s, 1) and g(w, s, 2)]
        if parts:
            out.append(f"{w} two workers / one: " + ", ".join(parts))
    for var in ["join", "spawn2"]:
        parts = [f"{s}/1 {fmt(g('fib', s, 1, var))}, /2 {fmt(g('fib', s, 2, var))}, "
                 f"speed-up {g('fib', s, 1, var) / g('fib', s, 2, var):.2f}x"
                 for s in ["ws", "numa"] if g("fib", s, 1, var) and g("fib", s, 2, var)]
        if parts:
            out.append(f"fib/{var} per call: " + "; ".join(parts))
    for w in ["spawn_remote", "timeout_cancel"]:
        for n in (1, 2):
            v, s = best(r, w, n)
            if v is not None:
                out.append(f"{w} best weft/{n}: {fmt(v)} ({s})")
    return out


def main(argv):
    if len(argv) < 2 or argv[0] not in ("medians", "per-task"):
        print("usage: readme_figures.py medians RESULT | per-task RESULT...", file=sys.stderr)
        return 2
    try:
        if argv[0] == "medians":
            if len(argv) != 2:
                print("usage: readme_figures.py medians RESULT", file=sys.stderr)
                return 2
            print("\n".join(medians(load(argv[1]))))
            return 0
        for path in argv[1:]:
            print(f"== {path}")
            print("\n".join("  " + line for line in per_task(load(path))))
        return 0
    except BadInput as e:
        print(e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
