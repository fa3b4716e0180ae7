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
import re
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
import compare as compare_tool  # noqa: E402
import reproduce as reproduce_tool  # noqa: E402
import gen_fixtures  # noqa: E402
import readme_figures  # noqa: E402

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


def call(main, args):
    """(status, stdout, stderr) of a tool's main(ARGS), in this process (no
    interpreter start-up, no second scipy import)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(args)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def run(args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=e, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


# ---------------------------------------------------------------------------
# helpers for the coordinator-shaped fixtures

VAR = os.path.join(TMP, "variants")


def variant(name):
    if not os.path.isdir(VAR):
        gen_fixtures.write_variants(VAR)
    return os.path.join(VAR, name)


_RUN = {}


def run_data():
    if "d" not in _RUN:
        _RUN["d"] = wb.load([fx("run.json")])
    return _RUN["d"]


def stat(d, key, label):
    for s in d["tables"][key].stats:
        if s.row.label == label:
            return s
    raise AssertionError("no %s in %s" % (label, key))


def synth(rng, L, R, mu, sb, sw, drift=None):
    """{launch: [values]}: log x = mu + b_l + e_lr (+ drift_l)."""
    out = {}
    for l in range(L):
        b = rng.gauss(0.0, sb) + (drift[l] if drift else 0.0)
        out[l] = [math.exp(mu + b + rng.gauss(0.0, sw)) for _ in range(R)]
    return out


# ---------------------------------------------------------------------------
# parsing and the legacy files

def test_fixtures_are_deterministic():
    out = os.path.join(TMP, "regen")
    gen_fixtures.write_all(out)
    for name in gen_fixtures.FIXTURES:
        assert filecmp.cmp(os.path.join(out, name), fx(name), shallow=False), \
            "%s differs from a fresh gen_fixtures.py run" % name


def test_name_parsing():
    assert wb.strip_name("uts/ws/workers:2/T1/iterations:5/manual_time") == "uts/ws/workers:2/T1"
    assert wb.strip_name("fib/fifo/workers:1/repeats:9/real_time") == "fib/fifo/workers:1"
    assert wb.parse_name("uts/ws/workers:2/T1/manual_time") == ("uts", "ws", 2, "T1")
    assert wb.parse_name("nonsense") is None
    assert wb.runtime_kind("tokio-ct") == "peer" and wb.runtime_kind("ws") == "weft"
    assert wb.runtime_kind("native") == "floor"


def test_median_ci_order_statistics():
    r = wb.median_ci_ranks(9)
    assert r[:2] == (2, 8) and abs(r[2] - 0.9609375) < 1e-12
    assert wb.median_ci_ranks(5) is None
    assert wb.median_ci(list(range(9, 0, -1)))[:2] == (2, 8)


def test_legacy_file_is_one_launch_with_a_labelled_fallback():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        wb.wb_parse._warned.clear()
        d = wb.load([fx("diff.json")])
    assert "LEGACY" in err.getvalue() and "weft_workload_defs" in err.getvalue()
    assert d["defs"].legacy and d["defs"].kind("timer_storm") == "timers"
    t = d["tables"]["spawn_many"]
    ws2 = [s for s in t.stats if s.row.label == "ws/2"][0]
    assert ws2.est.launches == 1 and ws2.est.one_launch
    assert close(ws2.centre, 40.0) and ws2.est.ci == (38.8, 41.2)   # 2nd and 8th of 9
    assert t.best is ws2 and d["tables"]["timer_storm"].metric == "p99_us"
    g2 = [s for s in t.stats if s.row.label == "global/2"][0]
    assert g2.ratio_best.one_launch and close(g2.ratio_best.ratio, 2.0, 1e-6)
    assert g2.ratio_best.direction == 1 and "2.00× slower" in g2.verdict


def test_workload_defs_from_context():
    d = run_data()
    assert not d["defs"].legacy
    assert d["defs"].kind("tcp_echo") == "IO" and d["defs"].metric("blocking_mix") == "p99_us"
    assert d["tables"]["blocking_mix"].metric == "p99_us"
    assert d["stat_names"][1] == ("queue_hwm",) and "lifo_hits" in d["stat_names"][0]
    # a list or a keyed object, strings or decoded
    assert wb.workload_defs({"weft_workload_defs": {"x": {"kind": "spawn_heavy"}}}).kind("x") == "spawn-heavy"


def test_error_rows_have_no_time():
    d = run_data()
    s = stat(d, "fib/join", "numa/2")      # one repetition of fifteen failed
    assert s.is_error and s.row.reps == [] and s.est is None
    assert "832039" in s.row.error
    s = stat(d, "tcp_echo", "go/2")
    assert s.is_error
    fj = [r for r in wb.recommend_all(d["tables"], d["defs"])[0] if r.title == "fork-join"][0]
    assert ("numa/2", "ERROR on fib/join") in fj.excluded


# ---------------------------------------------------------------------------
# statistics on synthetic samples with known variance

def test_interval_from_launches_covers_at_nominal_rate():
    import random
    rng = random.Random(20261202)
    cover = old_cover = 0
    n = 200
    for seed in range(n):
        data = synth(rng, 5, 3, math.log(100.0), 0.05, 0.02)
        e = wb.launch_estimate(data)
        cover += e.lo <= 100.0 <= e.hi
        pooled = [x for v in data.values() for x in v]
        ci = wb.median_ci(pooled)           # one-process method on pooled reps
        old_cover += ci[0] <= 100.0 <= ci[1]
    # binomial sd at 95 % over 200 seeds is 1.5 %: the band is ~3 sd
    assert 0.90 <= cover / n <= 0.99, cover / n
    assert old_cover / n < 0.85, old_cover / n      # ignores between-launch variance


def test_reproduction_interval_catches_a_rerun_at_nominal_rate():
    # A re-run's median is an estimate too: the interval of the centre
    # (t s / sqrt(L)) catches an independent re-run of the same design well
    # below 95 %; the prediction interval (t s sqrt(1/L + 1/L')) at ~95 %.
    import random
    rng = random.Random(777)
    n = 400
    pred = ci = ratio_pred = 0
    for seed in range(n):
        rec = wb.launch_estimate(synth(rng, 5, 2, math.log(100.0), 0.05, 0.02))
        new = wb.launch_estimate(synth(rng, 5, 2, math.log(100.0), 0.05, 0.02))
        lo, hi = rec.reproduction_interval(new.launches)
        pred += lo <= new.centre <= hi
        ci += rec.contains(new.centre)
        drift = [rng.gauss(0.0, 0.1) for _ in range(5)]
        ra = wb.paired_ratio(synth(rng, 5, 2, math.log(90.0), 0.03, 0.01, drift),
                             synth(rng, 5, 2, math.log(100.0), 0.03, 0.01, drift))
        drift = [rng.gauss(0.0, 0.1) for _ in range(5)]
        rb = wb.paired_ratio(synth(rng, 5, 2, math.log(90.0), 0.03, 0.01, drift),
                             synth(rng, 5, 2, math.log(100.0), 0.03, 0.01, drift))
        rlo, rhi = ra.reproduction_interval(rb.launches)
        ratio_pred += rlo <= rb.ratio <= rhi
    # binomial sd at 95 % over 400 seeds is 1.1 %
    assert 0.91 <= pred / n <= 0.99, pred / n
    assert ci / n < 0.90, ci / n
    assert 0.91 <= ratio_pred / n <= 0.99, ratio_pred / n
    # one launch: no launch-level spread, the interval of the centre is all there is
    one = wb.launch_estimate({0: [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 99.8, 100.1, 99.9]})
    assert one.one_launch and one.reproduction_interval() == one.ci


def test_variance_components():
    import random
    rng = random.Random(5)
    data = synth(rng, 200, 5, 0.0, 0.10, 0.02)
    e = wb.launch_estimate(data)
    assert abs(e.cv_within - 0.02) < 0.003, e.cv_within
    assert abs(e.cv_between - 0.10) < 0.015, e.cv_between


def test_warmup_rule():
    assert wb.warmup_split([130, 100, 101, 99, 100, 101]) == 1
    assert wb.warmup_split([160, 130, 100, 101, 99, 100]) == 2
    assert wb.warmup_split([101, 100, 99, 100, 101, 100]) == 0
    assert wb.warmup_split([130, 100]) == 0              # too short to judge
    assert wb.warmup_split([200, 190, 180, 100, 100, 100]) == 2   # at most n/3
    d = run_data()
    s = stat(d, "spawn_many", "global/2")
    assert s.dropped == {0: 1} and s.n == 14


def test_paired_ratio_cancels_a_drift_the_unpaired_ratio_cannot():
    import random
    rng = random.Random(99)
    n = 200
    paired_right = unpaired_right = paired_cover = 0
    for seed in range(n):
        drift = [rng.gauss(0.0, 0.15) for _ in range(5)]     # the machine's phase
        a = synth(rng, 5, 3, math.log(95.0), 0.01, 0.01, drift)
        b = synth(rng, 5, 3, math.log(100.0), 0.01, 0.01, drift)
        r = wb.paired_ratio(a, b)
        paired_cover += r.lo <= 0.95 <= r.hi
        paired_right += r.direction == -1
        u = wb.welch_log_ratio([wb.median(v) for v in a.values()],
                               [wb.median(v) for v in b.values()])
        unpaired_right += u.direction == -1
    assert paired_right / n >= 0.95, paired_right
    assert 0.90 <= paired_cover / n <= 0.99, paired_cover
    assert unpaired_right / n < 0.5, unpaired_right    # calls most of them a tie


def test_verdict_text():
    r = wb.Ratio()
    r.ratio, r.lo, r.hi = 0.88, 0.84, 0.92
    assert wb.verdict_text(r, "ws/2", "ws/1") == "ws/2 is 12 % faster than ws/1 [8 %, 16 %]"
    r.ratio, r.lo, r.hi = 1.01, 0.98, 1.03
    assert wb.verdict_text(r, "a", "b") == "tie: within ±3 %"
    r.ratio, r.lo, r.hi = 1.20, 1.10, 1.30
    assert wb.verdict_text(r, "a", "b") == "a is 20 % slower than b [10 %, 30 %]"


def test_hodges_lehmann_and_rank_tests():
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    b = [x + 10 for x in a]
    hl = wb.hodges_lehmann_ci(a, b)
    assert hl[0] == -10.0 and hl[1] < -10.0 < hl[2] and hl[3] >= 0.95
    assert wb.hodges_lehmann_ci([1, 2, 3], [4, 5, 6])[1] is None      # too few
    p, _ = wb.van_elteren([(a, b)])
    assert abs(p - wb.mann_whitney_p(a, b)) < 0.01
    assert wb.compare_samples([1, 2, 3], [4, 5, 6])["significant"] is False


# ---------------------------------------------------------------------------
# tables and recommendations on the launch fixture

def test_table_verdicts_and_resolution():
    d = run_data()
    t = d["tables"]["spawn_many"]
    assert t.best.row.label == "ws/2" and t.floor is not None
    assert 0.005 < t.resolution < 0.03
    numa = stat(d, "spawn_many", "numa/2")
    assert numa.direction == 0 and numa.verdict.startswith("tie: within")
    fifo = stat(d, "spawn_many", "fifo/1")
    assert fifo.ratio_best.lo <= 1.25 <= fifo.ratio_best.hi and not fifo.ratio_best.one_launch
    # a 20 % drift between launches, yet the paired interval is ~1 % wide
    assert fifo.est.cv_between > 0.05 and fifo.ratio_best.halfwidth < 0.02
    # the floor: every row's distance to it
    assert stat(d, "spawn_many", "ws/2").ratio_floor.lo <= 2.0 <= stat(d, "spawn_many", "ws/2").ratio_floor.hi
    assert d["tables"]["ping_pong"].floor is None


def test_recommendations_use_paired_verdicts():
    d = run_data()
    kinds = {r.title: r for r in wb.recommend_all(d["tables"], d["defs"])[0]}
    assert list(kinds) == ["spawn-heavy", "message passing", "fork-join", "timers", "IO", "blocking"]
    assert kinds["spawn-heavy"].tie and kinds["spawn-heavy"].recommended.label == "ws/2"
    assert not kinds["message passing"].tie and kinds["message passing"].recommended.label == "fifo/1"
    assert kinds["timers"].recommended.label == "ws/1" and not kinds["timers"].tie
    assert kinds["IO"].tie and kinds["IO"].recommended.label == "global/2"
    # global/2 is ~4 % ahead of fifo/1 with an interval above 1, but not
    # wholly above the +10 % that counts (wb_analysis.MIN_LEAD): a tie that
    # goes to fifo/1
    b = kinds["blocking"]
    assert b.winner.label == "global/2" and b.tie and b.recommended.label == "fifo/1"
    f1 = [c for c in b.ranking if c.label == "fifo/1"][0]
    assert f1.vs_winner.lo > 1.0 and not f1.significant and "not above the 10 %" in f1.reason, f1
    assert f1.vs_winner.lo < 1.0 + wb.MIN_LEAD
    # and the tie group is every configuration the winner does not beat, not
    # only those ranked before the first it beats
    assert all(c.significant for c in b.ranking[1:] if c not in b.tie_group)
    for r in kinds.values():   # peers are never candidates
        assert all(c.config[0] in wb.WEFT_SCHEDULERS for c in r.ranking)


def test_peer_comparisons():
    d = run_data()
    comps = wb.peer_comparisons(d["tables"])
    by = {(c.key, c.peer.row.label): c for c in comps}
    c = by[("yield_many", "tokio-mt/2")]
    assert c.outcome == "loses" and c.weft.row.label == "ws/2" and c.ratio.lo > 1.0
    assert by[("yield_many", "tokio-ct/1")].outcome == "ties"
    assert by[("spawn_many", "go/2")].outcome == "beats"
    assert by[("blocking_mix", "go/2")].outcome == "loses"
    assert ("tcp_echo", "go/2") not in by            # ERROR: no comparison
    sums = {s.kind: s for s in wb.kind_summaries(d["tables"], d["defs"], comps)}
    assert sums["blocking"].fastest == "go" and sums["spawn-heavy"].fastest == "weft"
    assert sums["message passing"].vs_peer["tokio-mt"] == {"beats": 2, "ties": 0, "loses": 2}


# ---------------------------------------------------------------------------
# report.py

def report_of(path, root, *extra):
    rc, out, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", root] + list(extra) + [path])
    assert rc == 0, err
    folder = out.strip()
    return folder, open(os.path.join(folder, "report.md"), encoding="utf-8").read()


def test_report_on_launch_fixture():
    root = os.path.join(TMP, "results-run")
    folder, md = report_of(fx("run.json"), root)
    assert os.path.basename(folder) == "testbox-2026-01-15-0123456"
    for sec in ("## The machine", "## Machine state per launch", "## Recommended configuration",
                "## weft and the runtimes people choose between", "### Summary by kind of work",
                "### What each peer could not express exactly", "## Results by workload",
                "## Warm-up dropped", "## Errors", "## Method"):
        assert sec in md, sec
    assert "**Launch 3 ran in a slow phase**" in md
    assert "| blocking | **go** | weft: " in md
    assert "| spawn-heavy | **weft** | tokio-mt: " in md
    line = [l for l in md.splitlines() if l.startswith("| yield_many | 2 | weft ws/2 | tokio-mt/2 |")][0]
    assert "weft ws/2 is " in line and "slower than tokio-mt/2" in line, line
    assert "| *tokio-ct (other runtime)* |" in md and "*floor (lower bound)*" in md
    assert "× floor [95% CI]" in md and "ns/unit above floor" in md
    assert "Go has no outside thread, a goroutine" in md and "tokio 1.24.2" in md
    assert "`tcp_echo/go/workers:2`: self-check failed" in md
    assert "| spawn_many/global/workers:2 | 0 | 1 |" in md
    row = [l for l in md.splitlines() if l.startswith("| weft | ws | 2 |") and "reference" in l][0]
    assert "**best weft**" in row
    assert "‡" not in md.split("## Method")[0]        # every interval is launch-level
    for f in ("plots/scaling-spawn_many.png", "plots/bars-fib-join.png", "raw/run.json"):
        assert os.path.isfile(os.path.join(folder, f)), f


def test_report_on_legacy_files():
    root = os.path.join(TMP, "results")
    folder, md = report_of(fx("diff.json"), root)
    assert folder == os.path.join(root, "testbox-2026-01-15-0123456")
    assert "**Legacy file:**" in md and "**One launch per row:**" in md and "‡" in md
    assert "<topology" not in md and "weft_topology_xml" in md
    line = [l for l in md.splitlines() if l.startswith("| weft | ws | 2 |")][0]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[5] == "40.0" and cells[6] == "[38.8, 41.2] ‡", cells
    # the same input again: the same folder; other data: a new one
    f2, _ = report_of(fx("diff.json"), root, "--no-plots")
    assert f2 == folder
    f3, md3 = report_of(fx("equal.json"), root, "--no-plots")
    assert f3 == folder + "-2"
    assert "**a tie**" in md3 and "**global with 2 workers**" in md3
    assert "### uts/T1" in md3 and "### uts/T3" in md3
    _, mde = report_of(fx("error.json"), os.path.join(TMP, "results-err"), "--machine", "ci box",
                       "--no-plots")
    assert "`fib/ws/workers:2`: self-check failed: result 832039 != 832040" in mde
    assert "**ERROR**" in mde


def test_report_usage_errors():
    rc, _, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", TMP, "/nonexistent.json"])
    assert rc == 2 and "no such file" in err
    bad = os.path.join(TMP, "bad.json")
    with open(bad, "w") as f:
        f.write("{\"benchmarks\": [")
    rc, _, err = run([PY, os.path.join(BENCH, "report.py"), "--out-root", TMP, bad])
    assert rc == 2 and "not valid JSON" in err


# ---------------------------------------------------------------------------
# compare.py

def test_compare_exit_codes():
    cmp_ = compare_tool.main
    rc, out, err = call(cmp_, [fx("diff.json"), fx("diff_rerun.json")])
    assert rc == 0, out + err
    assert out.startswith("machine identity:")
    rc, out, _ = call(cmp_, [fx("diff_rerun.json"), fx("diff_regressed.json")])
    assert rc == 1, out
    reg = [l for l in out.splitlines() if l.rstrip().endswith("REGRESSION")]
    assert len(reg) == 1 and reg[0].startswith("spawn_many/ws/workers:2") and " 1.200 " in reg[0], reg
    rc, _, _ = call(cmp_, ["--threshold", "0.25", fx("diff.json"), fx("diff_regressed.json")])
    assert rc == 0
    rc, _, err = call(cmp_, [fx("diff.json"), os.path.join(TMP, "missing.json")])
    assert rc == 2 and "no such file" in err
    rc, _, _ = call(cmp_, [fx("diff.json")])
    assert rc == 2
    rc, out, _ = call(cmp_, [fx("diff.json"), fx("error.json")])
    assert rc == 1 and "NEW ERROR" in out and "only in" in out
    # launch-level on both sides: Welch over launch medians
    rc, out, _ = call(cmp_, [fx("run.json"), variant("run_l1.json")])
    line = [l for l in out.splitlines() if l.startswith("tcp_echo/ws/workers:2 ")][0]
    assert "REGRESSION" in line and " 1.250 " in line and "‡" not in line, line


# ---------------------------------------------------------------------------
# the machine's identity

def test_identity_differs_only_in_cache_size():
    a, b = gen_fixtures.run_context("48K"), gen_fixtures.run_context("32K")
    diffs, unknown = wb.identity_differences(a, b)
    assert [d[0] for d in diffs] == ["weft_cpu_cache_l1d"], diffs
    lines = wb.identity_lines(a, b)
    assert lines[1] == ("  L1d 48 KiB vs 32 KiB: a different CPU generation behind the same "
                        "model string: absolute times are not comparable; ratios may be"), lines
    assert wb.identity_differences(a, dict(a))[0] == []
    # an old file: caches from Google Benchmark's context, CPU numbers from the XML
    old = json.load(open(os.path.join(ROOT, "results/vm-2c-2026-11-26-caee667/raw/weft-bench.json")))["context"] \
        if os.path.exists(os.path.join(ROOT, "results/vm-2c-2026-11-26-caee667/raw/weft-bench.json")) else None
    if old is not None:
        ident = wb.identity(old)
        assert ident["weft_cpu_cache_l1d"] == "48K" and ident["weft_cpu_family"] == "26"
    # "unknown" is not a difference; a key only one side has is "not recorded"
    c = dict(a)
    c["weft_cpu_governor"] = "performance"
    assert wb.identity_differences(a, c)[0] == []
    assert wb.fnv1a64("") == "cbf29ce484222325"


def test_dirty_rule_ignores_results():
    assert not wb.porcelain_dirty("?? results/vm-2c-2026-12-01-abc1234/\n")
    assert not wb.porcelain_dirty(" M results/x/report.md\n")
    assert wb.porcelain_dirty("?? results/x/\n M bench/report.py\n")
    assert wb.porcelain_dirty("?? resultsx\n")
    assert not wb.porcelain_dirty("")


# ---------------------------------------------------------------------------
# reproduce

REPRO = os.path.join(BENCH, "reproduce.py")
LAST = re.compile(r"^reproduction: medians (\d+)/(\d+), ratios (\d+)/(\d+), "
                  r"orderings (\d+)/(\d+), recommendations (\d+)/(\d+)$")


def judge(new, cli=False):
    if cli:
        rc, out, err = run([PY, REPRO, "--judge-only", fx("run.json"), new])
    else:
        rc, out, err = call(reproduce_tool.main, ["--judge-only", fx("run.json"), new])
    last = out.rstrip("\n").splitlines()[-1]
    m = LAST.match(last)
    assert m, (last, err)
    return rc, out, [int(x) for x in m.groups()]


def test_reproduce_no_change():
    rc, out, n = judge(variant("run_same.json"), cli=True)
    # 92 rows, 2 ERROR: 90 medians; 8 tables, one reference each: 82 ratios
    assert n[0] == n[1] == 90 and n[2] == n[3] == 82, n
    assert n[4] == n[5] and n[5] > 300 and n[6] == n[7] == 6, n
    assert rc == 0
    assert out.startswith("machine identity: the recorded machine and the new run's agree")


def test_reproduce_level1_medians():
    rc, out, n = judge(variant("run_l1.json"))
    assert n[1] - n[0] == 12 and n[2] == n[3] and n[4] == n[5] and n[6] == n[7], n
    assert rc == 0 and "tcp_echo/ws/workers:2: " in out


def test_reproduce_level2_ratios():
    rc, out, n = judge(variant("run_l2.json"))
    # 12.5 % is inside the median's launch-level interval (launches drift by
    # up to 20 %), but far outside the paired ratio's
    assert n[0] == n[1] and n[3] - n[2] == 1 and n[4] == n[5] and n[6] == n[7], n
    assert rc == 0 and "spawn_many/async-std/workers:1 / ws/2: " in out


def test_reproduce_level3_orderings():
    rc, out, n = judge(variant("run_l3.json"))
    assert n[4] < n[5] and n[6] == n[7], n
    assert rc == 1
    assert "fib/join: go/2 faster than tokio-mt/2" in out and "BROKEN" in out


def test_reproduce_level4_recommendations():
    rc, out, n = judge(variant("run_l4.json"))
    assert n[6] == 5 and n[7] == 6, n
    assert rc == 1 and "timers: recorded ws/1 (lead), now fifo/1" in out


def test_reproduce_runs_the_coordinator():
    fake = os.path.join(TMP, "fake-weft-bench")
    with open(fake, "w") as f:
        f.write("#!%s\nimport os, shutil, sys\n"
                "out = [a.split('=', 1)[1] for a in sys.argv[1:] if a.startswith('--benchmark_out=')][0]\n"
                "open(os.environ['FAKE_ARGS'], 'w').write('\\n'.join(sys.argv[1:]))\n"
                "shutil.copyfile(os.environ['FAKE_JSON'], out)\n" % PY)
    os.chmod(fake, 0o755)
    args_file = os.path.join(TMP, "fake-args")
    root = os.path.join(TMP, "results-repro")
    env = {"WEFT_BENCH": fake, "FAKE_ARGS": args_file, "FAKE_JSON": variant("run_same.json"),
           "TMPDIR": TMP}
    rc, out, err = run([PY, REPRO, "--out-root", root, "--no-plots", fx("run.json"), "--",
                        "--extra"], env)
    assert rc == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("machine identity:")
    new = [l for l in lines if l.startswith("new result: ")]
    assert new and os.path.isdir(new[0][len("new result: "):]), lines
    assert LAST.match(lines[-1])
    args = open(args_file).read().split("\n")
    for a in ("--launches=5", "--seed=7", "--profile=standard",
              "--peers=tokio-mt,tokio-ct,async-std,go", "--schedulers=fifo,global,ws,numa",
              "--workers=1,2", "--topology=pack:1 numa:1 core:2 pu:1", "--pin=compact",
              "--benchmark_repetitions=3", "--benchmark_out_format=json", "--extra"):
        assert a in args, (a, args)
    assert [args[i + 1] for i, a in enumerate(args) if a == "--knob"] == \
        ["budget=128", "lifo_slot=1", "global_interval=61"]
    # the thin shell wrapper, a legacy record (one launch, no peers), usage errors
    env["FAKE_JSON"] = fx("diff_rerun.json")
    rc, out, err = run(["bash", os.path.join(BENCH, "reproduce.sh"), "--out-root", root,
                        "--no-plots", fx("diff.json")], dict(env, WEFT_PYTHON=PY))
    assert LAST.match(out.splitlines()[-1]), out + err
    args = open(args_file).read().split("\n")
    assert "--launches=1" in args and "--peers=none" in args
    rc, _, err = run([PY, REPRO, os.path.join(TMP, "nothing-here")], env)
    assert rc == 2 and "no such result" in err
    env["WEFT_BENCH"] = os.path.join(TMP, "no-such-bench")
    rc, _, err = run([PY, REPRO, fx("diff.json")], env)
    assert rc == 2 and "weft-bench not found" in err
    rc, out, _ = run([PY, REPRO, "--dry-run", fx("diff.json")], env)
    assert rc == 0 and "running: " in out


def test_echo_compare_uses_the_shared_module():
    src = open(os.path.join(BENCH, "echo_compare.sh"), encoding="utf-8").read()
    assert "import weftbench" in src and "def q(" not in src and "def base(" not in src


def test_readme_figures():
    """bench/readme_figures.py on the launch fixture: the medians table has
    a row per workload with the best weft policy named, per-task prints the
    ratios, and bad use is an error with a message, not a traceback."""
    rc, out, err = call(readme_figures.main, ["medians", fx("run.json")])
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("| workload (unit) | best weft/1 | best weft/2 | tokio-ct/1"), lines[0]
    fib = [l for l in lines if l.startswith("| fib/join (ns/unit) |")]
    assert len(fib) == 1 and re.search(r"\| [0-9.]+ \((fifo|global|ws|numa)\) \|", fib[0]), fib
    assert lines[-1].startswith("floor:"), lines[-1]
    rc, out, err = call(readme_figures.main, ["per-task", fx("run.json")])
    assert rc == 0, err
    assert "fib/join per call:" in out and "speed-up" in out, out
    rc, out, err = call(readme_figures.main, ["bogus"])
    assert rc == 2 and "usage" in err, (rc, err)
    rc, out, err = call(readme_figures.main, ["medians", os.path.join(TMP, "missing.json")])
    assert rc != 0 and "cannot read" in err, (rc, err)


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
