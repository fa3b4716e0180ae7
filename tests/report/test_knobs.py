#!/usr/bin/env python3
"""tests/report/test_knobs.py - bench/wb_knobs.py on synthetic launches with
known answers: row-name parsing, a knob with a known main effect on one
kind of work and none elsewhere, a sweep with no effect at all, the
multiple-comparison correction, the WEFT_KNOBS line, and the service
ranking (SLO attainment first, then throughput).

Run with Debian's python3 (scipy). Prints 'N passed, N failed'.
"""
import contextlib
import io
import json
import math
import os
import random
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

import wb_knobs as wk  # noqa: E402
import advise  # noqa: E402

WORKLOADS = {"spawn_many": ("spawn", 800.0), "ping_pong": ("message", 300.0),
             "chain": ("message", 500.0), "fib": ("fork-join", 50.0)}


def synth(effect_of, seed, launches=6, reps=5, noise_launch=0.03, noise_rep=0.01):
    """Cells for ws/2 swept over lifo_slot x steal_batch and global/2 (which
    has neither knob, so it has one row per workload). effect_of(kind,
    knobs) -> speed factor (1: none)."""
    rnd = random.Random(seed)
    cells = []
    launch_noise = [math.exp(rnd.gauss(0, noise_launch)) for _ in range(launches)]
    configs = [("ws", 2, (("lifo_slot", l), ("steal_batch", s))) for l in ("1", "0") for s in ("0", "1")]
    configs.append(("global", 2, ()))
    for w, (kind, base) in WORKLOADS.items():
        for sched, workers, knobs in configs:
            f = (1.3 if sched == "global" else 1.0) / effect_of(kind, dict(knobs))
            vals = {}
            for l in range(launches):
                vals[l] = [base * f * launch_noise[l] * math.exp(rnd.gauss(0, noise_rep))
                           for _ in range(reps)]
            cells.append(wk.Cell(w, kind, sched, workers, "", knobs, vals))
    return cells


def lifo_helps_messages(kind, knobs):
    return 1.2 if kind == "message" and knobs.get("lifo_slot") == "0" else 1.0


def test_names():
    assert wk.split_variant("T1/knobs:lifo_slot=0,steal_batch=1") == \
        ("T1", (("lifo_slot", "0"), ("steal_batch", "1")))
    assert wk.split_variant("knobs:budget=64") == ("", (("budget", "64"),))
    assert wk.split_variant("T1") == ("T1", ())
    assert wk.split_variant("") == ("", ())
    assert wk.parse_service_name("service:api-gateway/ws/workers:2/knobs:lifo_slot=0") == \
        ("api-gateway", "ws", 2, (("lifo_slot", "0"),))
    assert wk.parse_service_name("service:cache/fifo/workers:1") == ("cache", "fifo", 1, ())
    assert wk.parse_service_name("fib/ws/workers:2") is None
    assert wk.config_label(("ws", 2, (("lifo_slot", "0"),))) == "ws/workers:2/knobs:lifo_slot=0"
    try:
        wk.parse_knobs("lifo_slot")
    except ValueError as e:
        assert "NAME=V" in str(e)
    else:
        raise AssertionError("bad knobs text accepted")


def test_known_effect():
    for seed in range(5):
        cells = synth(lifo_helps_messages, seed)
        eff = wk.main_effects(cells)
        by = {(e.knob, e.value, e.kind): e for e in eff}
        m = by[("lifo_slot", "0", "message")]
        assert m.measurable, m.text()
        assert m.lo < 1.2 < m.hi, m.text()
        assert abs(m.ratio - 1.2) < 0.03, m.text()
        for kind in ("spawn", "fork-join"):
            e = by[("lifo_slot", "0", kind)]
            assert not e.measurable, e.text()
        for kind in ("spawn", "message", "fork-join", "all"):
            e = by[("steal_batch", "1", kind)]
            assert not e.measurable, e.text()
            assert "no measurable effect" in e.text()
        lines = wk.effect_lines(eff)
        assert any(l.startswith("lifo_slot=0 (vs 1): +20 %") and "on message" in l
                   and "no measurable effect elsewhere" in l for l in lines), lines
        assert any(l.startswith("steal_batch=1 (vs 0): no measurable effect") for l in lines), lines
        cfg, chosen, none = wk.recommend(cells, eff)
        assert cfg[0] == "ws" and cfg[1] == 2, cfg
        assert chosen == (("lifo_slot", "0"),), chosen
        assert none == ["steal_batch"], none
        assert wk.weft_knobs_line(cfg[0], cfg[1], chosen) == \
            "WEFT_KNOBS=scheduler=ws,workers=2,lifo_slot=0"


def test_no_effect():
    false_hits = 0
    for seed in range(20):
        cells = synth(lambda k, kn: 1.0, 100 + seed)
        eff = wk.main_effects(cells)
        false_hits += sum(e.measurable for e in eff)
        cfg, chosen, none = wk.recommend(cells, eff)
        if not chosen:
            assert wk.weft_knobs_line(cfg[0], cfg[1], chosen) == "WEFT_KNOBS=scheduler=ws,workers=2"
            assert none == ["lifo_slot", "steal_batch"]
    # 20 runs x 10 tests each at a family-wise 5 %: at most a couple of false effects
    assert false_hits <= 2, false_hits


def test_holm():
    adj = wk.holm([0.01, 0.04, 0.03, 0.5])
    assert [round(x, 6) for x in adj] == [0.04, 0.09, 0.09, 0.5], adj
    assert wk.holm([float("nan")]) == [1.0]


def test_ranking_per_kind():
    cells = synth(lifo_helps_messages, 7)
    msg = [c for c in cells if c.kind == "message"]
    r = wk.rank_configs(msg)
    assert r[0].config[2][0] == ("lifo_slot", "0"), wk.config_label(r[0].config)
    assert r[-1].config[0] == "global"
    assert r[-1].beaten
    spawn = wk.rank_configs([c for c in cells if c.kind == "spawn"])
    # on spawn the four ws settings tie: none of them is beaten by the winner
    assert all(not x.beaten for x in spawn if x.config[0] == "ws")
    assert spawn[-1].config[0] == "global" and spawn[-1].beaten


def test_services():
    rows = {
        ("gw", ("ws", 2, ())): {"slo_fraction": [0.995, 0.996], "req_per_s": [3900, 3950], "p99_us": [4000]},
        ("gw", ("global", 2, ())): {"slo_fraction": [0.9995, 0.9994], "req_per_s": [3800, 3850], "p99_us": [3000]},
        ("gw", ("ws", 2, (("lifo_slot", "0"),))): {"slo_fraction": [0.9994, 0.9996], "req_per_s": [3990, 3995],
                                                   "p99_us": [3100]},
        ("gw", ("fifo", 1, ())): {"error": "compute time: ratio 1.2"},
        ("cache", ("ws", 2, ())): {"slo_fraction": [0.5], "req_per_s": [9000]},
    }
    out = wk.rank_services(rows, lambda s: 0.99)
    order = [wk.config_label(r.config) for r in out["gw"]]
    # both at 99.9 % within the SLO: the higher throughput wins; then 99.5 %; the error last
    assert order == ["ws/workers:2/knobs:lifo_slot=0", "global/workers:2", "ws/workers:2",
                     "fifo/workers:1"], order
    assert out["gw"][0].slo_met and out["gw"][-1].error
    assert not out["cache"][0].slo_met


def to_json(cells, services=(), path=None):
    """Google Benchmark-shaped JSON (coordinator fields launch/order/process)
    for the cells, ranked by time; services: [(name, sched, workers, knobs,
    {launch: [(slo_fraction, req_per_s, p99_us)]})]."""
    benches = []
    order = 0
    for c in cells:
        suffix = "/knobs:" + wk.knobs_text(c.knobs) if c.knobs else ""
        name = "%s/%s/workers:%d%s" % (c.workload, c.scheduler, c.workers, suffix)
        for l, vals in sorted(c.values.items()):
            for i, v in enumerate(vals):
                order += 1
                benches.append({"name": name + "/manual_time", "run_name": name + "/manual_time",
                                "run_type": "iteration", "repetitions": len(vals), "repetition_index": i,
                                "iterations": 1, "real_time": v, "cpu_time": v, "time_unit": "ns",
                                "launch": l, "order": order, "process": l, "units": 1.0})
    for svc, sched, workers, knobs, per in services:
        suffix = "/knobs:" + wk.knobs_text(knobs) if knobs else ""
        name = "service:%s/%s/workers:%d%s" % (svc, sched, workers, suffix)
        for l, reps in sorted(per.items()):
            for i, (f, rps, p99) in enumerate(reps):
                order += 1
                benches.append({"name": name + "/manual_time", "run_name": name + "/manual_time",
                                "run_type": "iteration", "repetitions": len(reps), "repetition_index": i,
                                "iterations": 1, "real_time": 1e9, "cpu_time": 1e9, "time_unit": "ns",
                                "launch": l, "order": order, "process": l, "slo_fraction": f,
                                "req_per_s": rps, "p99_us": p99, "slo_quantile": 0.99,
                                "requests": 1000.0})
    defs = [{"name": w, "kind": k, "metric": "time", "unit": "iteration"} for w, (k, _) in WORKLOADS.items()]
    doc = {"context": {"weft_workload_defs": json.dumps(defs), "weft_launches": "6"}, "benchmarks": benches}
    with open(path, "w") as f:
        json.dump(doc, f)


def run_advise(path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = advise.main(["advise.py", path])
    return rc, out.getvalue()


def test_advise_on_fixture_json():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "sweep.json")
        to_json(synth(lifo_helps_messages, 3), path=p)
        rc, out = run_advise(p)
        assert rc == 0, out
        lines = out.strip().splitlines()
        assert lines[-1] == "WEFT_KNOBS=scheduler=ws,workers=2,lifo_slot=0", lines[-1]
        assert any(l.strip().startswith("lifo_slot=0 (vs 1): +20 %") and "on message" in l for l in lines), out
        assert any(l.strip().startswith("steal_batch=1 (vs 0): no measurable effect") for l in lines), out
        assert "### message" in out and "### all work" in out
        p = os.path.join(d, "none.json")
        to_json(synth(lambda k, kn: 1.0, 11), path=p)
        rc, out = run_advise(p)
        assert rc == 0
        assert out.strip().splitlines()[-1] == "WEFT_KNOBS=scheduler=ws,workers=2", out
        assert "lifo_slot=0 (vs 1): no measurable effect" in out, out


def test_advise_services():
    rnd = random.Random(5)

    def launches(f, rps, p99):
        return {l: [(f, rps * (1 + rnd.gauss(0, 0.01)), p99 * (1 + rnd.gauss(0, 0.01))) for _ in range(3)]
                for l in range(5)}
    svcs = [("gw", "ws", 2, (("lifo_slot", "1"),), launches(0.995, 3900, 5200)),
            ("gw", "ws", 2, (("lifo_slot", "0"),), launches(0.9995, 3950, 3000)),
            ("gw", "global", 2, (), launches(0.9995, 3700, 3100))]
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "svc.json")
        to_json([], svcs, path=p)
        rc, out = run_advise(p)
        assert rc == 0, out
        assert "1. ws/workers:2/knobs:lifo_slot=0" in out, out
        assert out.strip().splitlines()[-1] == "WEFT_KNOBS=scheduler=ws,workers=2,lifo_slot=0", out
        with open(os.path.join(d, "empty.json"), "w") as f:
            json.dump({"context": {}, "benchmarks": []}, f)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc, out = run_advise(os.path.join(d, "empty.json"))
        assert rc == 2 and "no weft rows" in err.getvalue(), err.getvalue()


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
            passed += 1
            print("ok   %s" % name)
        except Exception:
            failed += 1
            print("FAIL %s" % name)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
