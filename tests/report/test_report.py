#!/usr/bin/python3
"""Tests of bench/weftbench.py, bench/report.py, bench/compare.py and
bench/reproduce.sh on the synthetic fixtures of this folder.

    /usr/bin/python3 tests/report/test_report.py

Prints one line per test and "N passed, M failed"; exits 1 on any failure.
The expected numbers are computed by hand from the fixture design in
gen_fixtures.py (every timed row is base * (1 + o) with o a permutation of
-4 %..+4 % in 1 % steps, so its median is exactly `base`), not by the code
under test. Everything is written under a temporary folder, removed at the
end.
"""

import contextlib
import filecmp
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)
sys.path.insert(0, HERE)

import weftbench as wb  # noqa: E402
import gen_fixtures  # noqa: E402

PY = sys.executable
TMP = tempfile.mkdtemp(prefix="weft-report-test.")


def fx(name):
    return os.path.join(HERE, name)


def tables_of(name):
    rows = wb.collect_rows(wb.load_paths([fx(name)]))
    return rows, wb.analyse(rows)


def row(table, sched, workers):
    for s in table.stats:
        if s.row.scheduler == sched and s.row.workers == workers:
            return s
    raise AssertionError("no row %s/%d in %s" % (sched, workers, table.key))


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def run(args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=e, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------------------

def test_fixtures_are_deterministic():
    out = os.path.join(TMP, "regen")
    gen_fixtures.write_all(out)
    for name in gen_fixtures.FIXTURES:
        assert filecmp.cmp(os.path.join(out, name), fx(name), shallow=False), \
            "%s differs from a fresh gen_fixtures.py run" % name


def test_name_parsing():
    assert wb.strip_name("uts/ws/workers:2/T1/iterations:5/manual_time") == "uts/ws/workers:2/T1"
    assert wb.strip_name("fib/fifo/workers:1/repeats:9/real_time") == "fib/fifo/workers:1"
    assert wb.strip_name("x/manual_time_median") == "x/manual_time_median"  # aggregates use run_name
    assert wb.parse_name("uts/ws/workers:2/T1/manual_time") == ("uts", "ws", 2, "T1")
    assert wb.parse_name("spawn_many/global/workers:16") == ("spawn_many", "global", 16, "")
    assert wb.parse_name("BM_something/8") is None


def test_median_ci_order_statistics():
    j, k, cov = wb.median_ci_ranks(9)
    assert (j, k) == (2, 8)
    assert close(cov, 1 - 2 * (1 + 9) / 512.0)
    assert wb.median_ci_ranks(5) is None           # [min,max] covers 93.75 %
    assert wb.median_ci_ranks(6)[:2] == (1, 6)     # covers 96.9 %
    assert wb.median_ci([5, 1, 4, 2, 3, 9, 8, 7, 6])[:2] == (2, 8)
    assert wb.median([3, 1, 2]) == 2 and wb.median([4, 1, 2, 3]) == 2.5


def test_table_medians_and_ratios():
    rows, t = tables_of("diff.json")
    sp = t["spawn_many"]
    assert sp.metric == "ns_per_unit"
    # hand values: median time = base; ns/unit = base_us * 1000 / 10000
    want = {("fifo", 1): (1000e3, 100.0), ("global", 1): (1100e3, 110.0),
            ("global", 2): (800e3, 80.0), ("ws", 1): (1050e3, 105.0),
            ("ws", 2): (400e3, 40.0)}
    for (s, w), (t_ns, npu) in want.items():
        st = row(sp, s, w)
        assert st.n == 9
        assert close(st.time_median, t_ns), (s, w, st.time_median)
        assert close(st.ns_per_unit, npu), (s, w, st.ns_per_unit)
        assert close(st.ratio_best, npu / 40.0), (s, w, st.ratio_best)
        assert close(st.ratio_fifo, npu / 100.0), (s, w, st.ratio_fifo)
    assert sp.best is row(sp, "ws", 2) and sp.fifo is row(sp, "fifo", 1)
    # CI of the median with 9 reps: 2nd and 8th smallest = base * (1 -+ 3 %)
    lo, hi, _ = row(sp, "ws", 2).time_ci
    assert close(lo, 400e3 * 0.97) and close(hi, 400e3 * 1.03)
    fib = t["fib"]
    assert close(row(fib, "ws", 2).ns_per_unit, 2.5)
    assert close(row(fib, "global", 2).ratio_best, 1.6)
    assert close(row(fib, "ws", 2).ratio_fifo, 0.5)
    # timer_storm runs for a fixed time: ranked by p99 latency
    ts = t["timer_storm"]
    assert ts.metric == "p99_us"
    assert ts.best is row(ts, "ws", 2)
    assert close(row(ts, "fifo", 1).ratio_best, 3.0)
    assert close(row(ts, "ws", 2).latency["p99_us"], 300.0)
    assert close(row(ts, "ws", 2).latency["p50_us"], 75.0)
    # counters per unit: ws steals 0.01 per unit (+-3 % noise)
    assert abs(row(sp, "ws", 2).per_unit["steals"] - 0.01) < 0.0004
    assert "steals" not in row(sp, "global", 2).per_unit


def test_u_test_significant_for_known_difference():
    _, t = tables_of("diff.json")
    for key in ("spawn_many", "fib", "timer_storm"):
        st = row(t[key], "global", 2)
        assert st.p_best < 0.001, (key, st.p_best)
        assert st.significant and st.verdict == "significant"
        assert row(t[key], "ws", 2).verdict == "best"


def test_u_test_not_significant_for_equal_case():
    _, t = tables_of("equal.json")
    for key in ("spawn_many", "uts/T1", "uts/T3"):
        st = row(t[key], "global", 2)
        assert st.p_best > 0.5, (key, st.p_best)
        assert not st.significant and st.verdict == "not significant"
        assert close(st.ratio_best, 1.005)
        assert row(t[key], "fifo", 1).significant


def test_too_few_reps_never_significant():
    _, t = tables_of("error.json")
    sp = t["spawn_many"]
    st = row(sp, "global", 2)
    assert st.n == 3 and st.time_ci is None
    assert close(st.ratio_best, 3.0)
    assert not st.significant
    assert st.verdict == "not significant (< 4 reps)"
    c = wb.compare_samples([1, 2, 3], [10, 11, 12])
    assert not c["significant"] and "fewer than 4" in c["reason"]


def test_van_elteren_one_stratum_matches_mann_whitney():
    from scipy.stats import mannwhitneyu
    a = [1.0, 2.5, 3.1, 4.7, 5.2, 6.0, 7.3]
    b = [2.0, 4.1, 5.5, 6.6, 8.1, 9.0, 9.5, 10.2]
    p, z = wb.van_elteren([(a, b)])
    ref = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic",
                       use_continuity=False).pvalue
    assert close(p, ref, 1e-9), (p, ref)
    assert z < 0          # a tends to be smaller
    assert wb.van_elteren([(a, a)])[0] > 0.99


def test_recommendation_picks_winner():
    _, t = tables_of("diff.json")
    kinds, largest, per_count = wb.recommend_all(t)
    by = {r.title: r for r in kinds}
    assert set(by) == {"spawn-heavy", "fork-join", "timers"}
    for title in by:
        r = by[title]
        assert r.winner.config == ("ws", 2), (title, r.winner)
        assert r.runner_up.config == ("global", 2)
        assert not r.tie and r.runner_up.significant
        assert r.recommended.config == ("ws", 2)
    sh = by["spawn-heavy"]
    assert close(sh.margin, 1.0)            # global/2 is 2x ws/2
    assert close(by["fork-join"].margin, 0.6)
    assert largest.title == "2 workers" and largest.recommended.config == ("ws", 2)
    # geometric mean of ratio to best of global/2 over the 3 workloads
    assert close(largest.runner_up.score, (2.0 * 1.6 * 2.0) ** (1 / 3.0))
    assert [r.title for r in per_count] == ["1 worker", "2 workers"]


def test_recommendation_calls_equal_case_a_tie():
    _, t = tables_of("equal.json")
    kinds, largest, _ = wb.recommend_all(t)
    by = {r.title: r for r in kinds}
    for title in ("spawn-heavy", "fork-join"):
        r = by[title]
        assert r.winner.config == ("ws", 2), (title, r.winner.config)
        assert r.tie, title
        assert [c.config for c in r.tie_group] == [("ws", 2), ("global", 2)]
        assert r.recommended.config == ("global", 2)     # the simpler one
        assert r.ranking[-1].config == ("fifo", 1) and r.ranking[-1].significant
    assert "van Elteren" in by["fork-join"].method   # two strata: uts/T1, uts/T3
    assert largest.tie and largest.recommended.config == ("global", 2)


def test_tie_group_stops_at_first_significant_loss():
    # ws/2 beats global/2 clearly; fifo/1 has 3 reps, so it can never be
    # significantly slower, but it must not join a tie the runner-up lost.
    def mk(sched, workers, base, offs):
        r = wb.Row("spawn_many/%s/workers:%d" % (sched, workers), "spawn_many",
                   sched, workers, "")
        r.reps = [wb.Rep(base * (1 + o) * 1000.0, {"units": 1000.0}) for o in offs]
        return r
    o9 = gen_fixtures.OFFSETS_9
    rows = {r.name: r for r in (mk("ws", 2, 100.0, o9), mk("global", 2, 130.0, o9),
                                mk("fifo", 1, 200.0, gen_fixtures.OFFSETS_3))}
    t = wb.analyse(rows)
    rec = wb.recommend(t, ["spawn_many"], "spawn-heavy")
    assert [c.config for c in rec.ranking] == [("ws", 2), ("global", 2), ("fifo", 1)]
    assert not rec.tie and rec.runner_up.significant
    assert not rec.ranking[2].significant and "fewer than 4" in rec.ranking[2].reason
    assert [c.config for c in rec.tie_group] == [("ws", 2)]
    assert rec.recommended.config == ("ws", 2)
    assert close(rec.margin, 0.3)


def test_error_row_has_no_time():
    rows, t = tables_of("error.json")
    r = rows["fib/ws/workers:2"]
    assert r.is_error and r.reps == [] and "832039" in r.error
    st = row(t["fib"], "ws", 2)
    assert st.verdict == "ERROR" and math.isnan(st.time_median) and st.n == 0
    # an error in one repetition of nine makes the whole row an ERROR
    assert rows["chained_spawn/ws/workers:2"].is_error
    assert t["fib"].best is row(t["fib"], "global", 2)
    kinds, _, _ = wb.recommend_all(t)
    fj = [k for k in kinds if k.title == "fork-join"][0]
    assert ("ws/2", "ERROR on fib") in fj.excluded
    assert fj.recommended.config == ("global", 2)


def test_report_writes_folder():
    root = os.path.join(TMP, "results")
    rc, out, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", root, fx("diff.json")])
    assert rc == 0, err
    folder = out.strip()
    assert folder == os.path.join(root, "testbox-2026-01-15-0123456"), folder
    for f in ("report.md", "topology.xml", "raw/diff.json", "plots/scaling-spawn_many.png",
              "plots/bars-spawn_many.png", "plots/scaling-fib.png",
              "plots/latency-timer_storm.png"):
        assert os.path.isfile(os.path.join(folder, f)), f
    with open(os.path.join(folder, "plots/scaling-spawn_many.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert filecmp.cmp(os.path.join(folder, "raw/diff.json"), fx("diff.json"), shallow=False)
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    assert "<topology" not in md and "weft_topology_xml" in md
    assert "## Environment" in md and "budget=128 lifo_slot=1 global_interval=61" in md
    assert "## Recommended configuration" in md
    assert "order-statistic" in md and "Mann-Whitney" in md
    line = [l for l in md.splitlines() if l.startswith("| ws | 2 |")][0]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == "400 us" and cells[4] == "[388, 412] us", cells
    assert cells[5] == "40.0" and cells[6] == "1.000×" and cells[7] == "0.400×", cells
    assert cells[9] == "**best**"
    # the same input again: the same folder; other data: a new one
    rc, out2, _ = run([PY, os.path.join(BENCH, "report.py"), "--out-root", root, fx("diff.json")])
    assert rc == 0 and out2.strip() == folder
    rc, out3, _ = run([PY, os.path.join(BENCH, "report.py"), "--out-root", root, fx("equal.json")])
    assert rc == 0 and out3.strip() == folder + "-2"
    md = open(os.path.join(out3.strip(), "report.md"), encoding="utf-8").read()
    assert "**a tie**" in md and "**global with 2 workers**" in md
    assert "### uts/T1" in md and "### uts/T3" in md


def test_report_error_rows():
    root = os.path.join(TMP, "results-err")
    rc, out, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", root,
                        "--machine", "ci box", fx("error.json")])
    assert rc == 0, err
    folder = out.strip()
    assert os.path.basename(folder) == "ci-box-2026-01-15-0123456-dirty", folder
    md = open(os.path.join(folder, "report.md"), encoding="utf-8").read()
    line = [l for l in md.splitlines() if l.startswith("| ws | 2 |") and "832039" in l][0]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == "**ERROR**" and all(c == "–" for c in cells[4:9]), cells
    assert "`fib/ws/workers:2`: self-check failed: result 832039 != 832040" in md
    assert "n/a" in md and "not significant (< 4 reps)" in md
    assert not os.path.exists(os.path.join(folder, "topology.xml"))


def test_report_usage_errors():
    rc, _, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", TMP, "/nonexistent.json"])
    assert rc == 2 and "no such file" in err
    bad = os.path.join(TMP, "bad.json")
    with open(bad, "w") as f:
        f.write("{\"benchmarks\": [")
    rc, _, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", TMP, bad])
    assert rc == 2 and "not valid JSON" in err


def test_compare_exit_codes():
    cmp_ = os.path.join(BENCH, "compare.py")
    rc, out, err = run([PY, cmp_, fx("diff.json"), fx("diff_rerun.json")])
    assert rc == 0, out + err
    assert not [l for l in out.splitlines() if l.rstrip().endswith("REGRESSION")]
    assert "0 significant regressions" in out
    # diff_regressed is diff_rerun (same seed, same jitter) with one row
    # 20 % slower: the ratio is exactly 1.2 there and 1.0 elsewhere
    rc, out, _ = run([PY, cmp_, fx("diff_rerun.json"), fx("diff_regressed.json")])
    assert rc == 1, out
    reg = [l for l in out.splitlines() if l.rstrip().endswith("REGRESSION")]
    assert len(reg) == 1 and reg[0].startswith("spawn_many/ws/workers:2"), reg
    assert " 1.200 " in reg[0], reg
    assert len([l for l in out.splitlines() if " 1.000 " in l]) == 14
    rc, _, _ = run([PY, cmp_, fx("diff.json"), fx("diff_regressed.json")])
    assert rc == 1
    # a 20 % slow-down is no regression at a 25 % threshold
    rc, _, _ = run([PY, cmp_, "--threshold", "0.25", fx("diff.json"), fx("diff_regressed.json")])
    assert rc == 0
    # a result folder works as well as a JSON file
    folder = os.path.join(TMP, "results", "testbox-2026-01-15-0123456")
    if not os.path.isdir(folder):
        run([PY, os.path.join(BENCH, "report.py"), "--out-root", os.path.join(TMP, "results"), fx("diff.json")])
    rc, _, _ = run([PY, cmp_, folder, fx("diff_regressed.json")])
    assert rc == 1
    rc, _, err = run([PY, cmp_, fx("diff.json"), os.path.join(TMP, "missing.json")])
    assert rc == 2 and "no such file" in err
    rc, _, _ = run([PY, cmp_, fx("diff.json")])
    assert rc == 2
    # a row that newly fails its self-check fails the comparison; rows on
    # one side only are listed, not failures
    rc, out, _ = run([PY, cmp_, fx("diff.json"), fx("error.json")])
    assert rc == 1 and "NEW ERROR" in out and "only in" in out
    rc, out, _ = run([PY, cmp_, fx("error.json"), fx("diff.json")])
    assert rc == 0 and "fixed" in out


def test_compare_reproduce_mode():
    cmp_ = os.path.join(BENCH, "compare.py")
    rc, out, _ = run([PY, cmp_, "--reproduce", fx("diff.json"), fx("diff_rerun.json")])
    assert rc == 0 and "15 of 15 rows reproduced" in out, out
    rc, out, _ = run([PY, cmp_, "--reproduce", fx("diff.json"), fx("diff_regressed.json")])
    assert rc == 1 and "14 of 15 rows reproduced" in out
    line = [l for l in out.splitlines() if l.startswith("spawn_many/ws/workers:2")][0]
    assert "NO (slower)" in line


def test_reproduce_script():
    fake = os.path.join(TMP, "fake-weft-bench")
    with open(fake, "w") as f:
        f.write("#!%s\nimport os, shutil, sys\n"
                "out = [a.split('=', 1)[1] for a in sys.argv[1:] if a.startswith('--benchmark_out=')][0]\n"
                "open(os.environ['FAKE_ARGS'], 'w').write('\\n'.join(sys.argv[1:]))\n"
                "shutil.copyfile(os.environ['FAKE_JSON'], out)\n" % PY)
    os.chmod(fake, 0o755)
    args_file = os.path.join(TMP, "fake-args")
    sh = os.path.join(BENCH, "reproduce.sh")
    env = {"WEFT_BENCH": fake, "FAKE_ARGS": args_file, "WEFT_PYTHON": PY,
           "FAKE_JSON": fx("diff_rerun.json"), "TMPDIR": TMP}
    rc, out, err = run(["bash", sh, fx("diff.json")], env)
    assert rc == 0, out + err
    assert "CPU model" in out and "15 of 15 rows reproduced" in out
    kept = [l for l in out.splitlines() if l.startswith("New run written to ")]
    assert kept and kept[0].split()[4].startswith(TMP), kept
    args = open(args_file).read().split("\n")
    for a in ("--profile=quick", "--schedulers=fifo,global,ws",
              "--workloads=spawn_many,fib,timer_storm", "--workers=1,2",
              "--topology=pack:1 numa:1 core:2 pu:1", "--pin=compact",
              "--benchmark_repetitions=9", "--benchmark_report_aggregates_only=false",
              "--benchmark_out_format=json"):
        assert a in args, (a, args)
    knobs = [args[i + 1] for i, a in enumerate(args) if a == "--knob"]
    assert knobs == ["budget=128", "lifo_slot=1", "global_interval=61"], knobs
    env["FAKE_JSON"] = fx("diff_regressed.json")
    rc, out, _ = run(["bash", sh, fx("diff.json")], env)
    assert rc == 1 and "NO (slower)" in out
    rc, _, err = run(["bash", sh, os.path.join(TMP, "nothing-here")], env)
    assert rc == 2 and "no such result" in err
    env["WEFT_BENCH"] = os.path.join(TMP, "no-such-bench")
    rc, _, err = run(["bash", sh, fx("diff.json")], env)
    assert rc == 2 and "weft-bench not found" in err


def test_machine_differences():
    ctx = {"weft_cpu_model": "X  CPU", "weft_cores": "4", "weft_kernel": "Linux 6.1.0-9"}
    here = {"cpu_model": "X CPU", "pus": 8, "cores": 4, "kernel": "6.1.0-9"}
    d = {w: same for w, _, _, same in wb.machine_differences(ctx, here)}
    assert d == {"CPU model": True, "cores": True, "kernel": True}
    here = {"cpu_model": "Y CPU", "pus": 2, "cores": 2, "kernel": "6.5.0"}
    d = {w: same for w, _, _, same in wb.machine_differences(ctx, here)}
    assert d == {"CPU model": False, "cores": False, "kernel": False}


def test_aggregates_only_input():
    doc = json.load(open(fx("diff.json")))
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b["run_type"] == "aggregate"]
    p = os.path.join(TMP, "agg.json")
    json.dump(doc, open(p, "w"))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rows = wb.collect_rows(wb.load_paths([p]))
    assert "15 rows" in err.getvalue() and "only aggregates" in err.getvalue()
    r = rows["spawn_many/ws/workers:2"]
    assert r.aggregates_only and r.n == 1 and close(r.reps[0].time_ns, 400e3)


# ---------------------------------------------------------------------------

def test_compare_notes_machine_mode():
    """compare and reproduce say when the two sides' core-to-core round trips
    differ by more than 1.5x; the verdicts themselves do not change."""
    cmp_ = os.path.join(BENCH, "compare.py")
    paths = []
    for name, c2c in (("diff_rerun.json", 85.0), ("diff_regressed.json", 420.0)):
        with open(fx(name), encoding="utf-8") as f:
            doc = json.load(f)
        for b in doc["benchmarks"]:
            b["c2c_rt_ns"] = c2c
        paths.append(os.path.join(TMP, "mode-" + name))
        with open(paths[-1], "w", encoding="utf-8") as f:
            json.dump(doc, f)
    rc, out, _ = run([PY, cmp_, paths[0], paths[1]])
    assert rc == 1, out  # the injected regression is still flagged
    notes = [l for l in out.splitlines() if l.startswith("note: ") and "machine mode differs" in l]
    assert notes and any(l.startswith("note: spawn_many/ws/workers:2: ") and
                         "85.0 ns in A, 420 ns in B; with 2 workers" in l for l in notes), out
    rc, out, _ = run([PY, cmp_, "--reproduce", paths[0], paths[1]])
    assert "note: spawn_many/ws/workers:2: machine mode differs" in out, out
    # the same mode on both sides: no note
    rc, out, _ = run([PY, cmp_, paths[0], paths[0]])
    assert rc == 0 and "machine mode differs" not in out


def test_c2c_column_and_mode_warning():
    """c2c_rt_ns (the machine's core-to-core round trip, measured before
    every repetition) is a column of its own, not a self-check quantity,
    and a spread over 1.5x between rows of a table is called out."""
    with open(fx("diff.json"), encoding="utf-8") as f:
        doc = json.load(f)
    for b in doc["benchmarks"]:
        slow = "/ws/workers:2/" in b["name"]
        b["c2c_rt_ns"] = 400.0 if slow else 85.0
    mixed = os.path.join(TMP, "c2c-mixed.json")
    with open(mixed, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    rows = wb.collect_rows(wb.load_paths([mixed]))
    t = wb.analyse(rows)["spawn_many"]
    assert row(t, "ws", 2).env["c2c_rt_ns"] == 400.0
    assert "c2c_rt_ns" not in row(t, "ws", 2).checks
    root = os.path.join(TMP, "results-c2c")
    rc, out, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", root, mixed])
    assert rc == 0, err
    md = open(os.path.join(out.strip(), "report.md"), encoding="utf-8").read()
    assert "c2c round trip ns" in md
    assert "**Machine mode changed between rows:**" in md and "from 85.0 to 400 ns" in md, md
    # one mode everywhere: the column, no warning
    for b in doc["benchmarks"]:
        b["c2c_rt_ns"] = 85.0
    with open(mixed, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    rc, out, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", root, mixed])
    assert rc == 0, err
    md = open(os.path.join(out.strip(), "report.md"), encoding="utf-8").read()
    assert "c2c round trip ns" in md and "Machine mode changed" not in md


def main():
    tests = [(n, f) for n, f in sorted(globals().items(), key=lambda kv: kv[1].__code__.co_firstlineno
                                       if callable(kv[1]) and hasattr(kv[1], "__code__") else 0)
             if n.startswith("test_") and callable(f)]
    passed = failed = 0
    try:
        for name, fn in tests:
            try:
                fn()
            except Exception:
                failed += 1
                print("FAIL %s" % name)
                traceback.print_exc()
            else:
                passed += 1
                print("ok   %s" % name)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
