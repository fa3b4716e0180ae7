/*
 * bench/driver.cpp - weft-bench, the Google Benchmark driver of `make bench`.
 *
 * The problem
 * -----------
 * Every standard workload (docs in ../shared/WORKLOADS.md, code in
 * workloads/) has to be measured on every scheduler at several worker
 * counts, with the same harness, so that rows can be compared and
 * significance-tested (bench/report.py, bench/compare.py). The harness must
 * not add its own noise (thread start-up, allocation of the runtime), must
 * never turn a wrong answer into a time, and must record enough of the
 * machine and the build to tell later whether two files are comparable.
 *
 * The chosen design
 * -----------------
 * * One Google Benchmark row per WORKLOAD/SCHEDULER/workers:N[/VARIANT],
 *   registered at start-up from the workload and scheduler registries (never
 *   a hard-coded list), so the library's own flags (--benchmark_filter,
 *   --benchmark_repetitions, --benchmark_out, --benchmark_format=json) work.
 *   A scheduler that takes exactly one worker (fifo: it runs on the thread
 *   inside weft_block_on) is registered once, at workers:1; which ones those
 *   are is probed with weft_config_validate, not hard-coded.
 * * Manual time. The runtime of a row is created once, before the row's
 *   first iteration, and kept in a one-slot cache keyed by the row name: the
 *   benchmark function runs once per repetition, and the runtime is freed
 *   when the next row starts (or at exit). Each iteration is one
 *   weft_workload_run, and the time reported is the workload's own
 *   result.elapsed_ns (the measured part: set-up and verification excluded).
 * * A failed self-check (weft_workload_run != 0) ends the repetition with
 *   SkipWithError(message) and no time; the remaining repetitions of that
 *   row are skipped with the same message, and the runtime is discarded (it
 *   may hold half-finished tasks).
 * * Fixed iteration counts. Google Benchmark fixes Iterations() at
 *   registration, and an adaptive count (the library's default) makes the
 *   length of a run unpredictable and the rows of different schedulers run
 *   different amounts of work. So kIterations below is a static table per
 *   workload and profile, sized on the 2-vCPU reference machine (see the
 *   table's comment for the measurements). A workload missing from the
 *   table runs 1 iteration per repetition.
 * * Repetitions from the profile (quick 3, standard 9, full 15: with 9 a
 *   two-sided Mann-Whitney U test can reach p < 0.05 comfortably; below 4
 *   it never can) unless --benchmark_repetitions is given; always
 *   ReportAggregatesOnly(false), because report.py needs every repetition.
 * * Counters per row: units and ns_per_unit; p50/p99/p999 latency where the
 *   workload measures it; each quantity its self-check verified (by the
 *   workload's own names); and every scheduler counter of weft_stat_fields
 *   as a delta per iteration (reset before the timed loop, read after), except
 *   the levels (is_max: queue_hwm), which are reported as they are.
 * * The environment goes into the JSON context (weft_* keys; bench/env.cpp).
 *   On the console the topology XML is only summarised.
 * * All of weft's own flags are parsed and removed before
 *   benchmark::Initialize, and every one of them is checked before anything
 *   runs: names against the registries, each (scheduler, workers) pair with
 *   the knobs applied through weft_config_validate, the topology by opening
 *   it once. A bad value exits 2 with a message that lists what is valid.
 *
 * Rejected
 * --------
 * * Creating the runtime per iteration: it would measure thread start-up and
 *   allocation, not scheduling. Per repetition: the same, diluted.
 * * A calibration run at start-up to choose the iteration counts: it would
 *   cost a run of its own, and the counts (hence the work per row) would
 *   differ between machines and runs, which makes rows harder to compare.
 * * Real time: the runtime's own set-up inside an iteration (result
 *   verification, sequential reference counts) would be timed.
 */
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/env.h"
#include "common/topology.h"
#include "weft/runtime.h"
#include "workloads/workload.h"

namespace {

/* ---- profiles and iteration counts ----------------------------------------------- */

const int kProfileRepetitions[3] = {3, 9, 15}; /* quick, standard, full */

/*
 * Iterations per repetition, per workload and profile {quick, standard,
 * full}. Goal: one repetition of a micro-workload takes about 20-50 ms in
 * `standard` on the 2-vCPU reference machine, a few ms in `quick` (the
 * tests), and a workload whose single iteration is already long (> ~20 ms)
 * runs 1 iteration per repetition. The comments give the time of one
 * standard iteration measured there (Release, jemalloc, all four schedulers,
 * 1 and 2 workers, a shared machine: the range is over the seven rows). A
 * workload not listed runs 1 iteration; a --param that resizes a workload
 * does not change its count.
 *
 * Measured whole standard run on that machine (112 rows x 9 repetitions):
 * 338 s wall. The sizes of WORKLOADS.md are kept although four workloads
 * take most of it and cannot be made shorter here without changing the
 * workload: uts T1+T3 (~4.1 M nodes each) 126 s, fib(30) join+spawn2 78 s,
 * interval_jitter (L = 1 s by design) 63 s, tcp_echo 27 s; the other ten
 * together ~45 s. With the machine busier (load ~5), one repetition of
 * every row took 63 s, i.e. ~9.5 minutes for the 9.
 */
struct iteration_plan {
    const char *workload;
    int iterations[3];
};
const iteration_plan kIterations[] = {
    {"spawn_many", {20, 30, 5}},       /* 10 000 tasks: 0.65-1.5 ms */
    {"yield_many", {5, 4, 4}},         /* 200 x 1 000 yields: 3.8-11 ms */
    {"ping_pong", {20, 100, 10}},      /* 1 000 round trips: 0.19-1.0 ms */
    {"chained_spawn", {50, 300, 40}},  /* depth 1 000: 0.04-0.38 ms */
    {"spawn_remote", {1, 1, 1}},       /* 100 000 tasks: 25-96 ms */
    {"fanout_skew", {1, 1, 1}},        /* 10 000 x 5 us: 108-192 ms */
    {"fib", {1, 1, 1}},                /* fib(30), 2.7 M calls: 0.74-1.7 s */
    {"uts", {1, 1, 1}},                /* T1, T3: 1.0-5.6 s */
    {"timer_storm", {1, 1, 1}},        /* 100 000 timers over D = 50 ms */
    {"timeout_cancel", {1, 1, 1}},     /* 1 000 000 arm+cancel */
    {"interval_jitter", {1, 1, 1}},    /* 16 intervals for L = 1 s */
    {"tcp_echo", {1, 1, 1}},           /* 64 connections x 1 000 requests */
    {"tcp_stream", {1, 1, 1}},         /* 256 MiB each way */
    {"blocking_mix", {1, 1, 1}},       /* 1 000 x 1 ms sleeps beside 64 x 10 ms jobs */
};

int iterations_for(const char *workload, weft_profile p)
{
    for (const iteration_plan &ip : kIterations)
        if (strcmp(ip.workload, workload) == 0) return ip.iterations[p];
    return 1;
}

/* ---- errors -------------------------------------------------------------------- */

[[noreturn]] void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "weft-bench: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(weft-bench --help lists the options, --list the workloads, schedulers and knobs)\n");
    va_end(ap);
    exit(2);
}

std::string join(const std::vector<std::string> &v, const char *sep)
{
    std::string s;
    for (size_t i = 0; i < v.size(); i++) s += (i ? sep : "") + v[i];
    return s;
}

std::vector<std::string> scheduler_names()
{
    std::vector<std::string> v;
    for (int i = 0; weft_scheduler_name(i); i++) v.push_back(weft_scheduler_name(i));
    return v;
}

std::vector<std::string> workload_names()
{
    std::vector<std::string> v;
    for (int i = 0; i < weft_workload_count(); i++) v.push_back(weft_workload_at(i)->name);
    return v;
}

std::vector<std::string> knob_names()
{
    std::vector<std::string> v;
    for (const char *const *k = weft_config_knob_names(); *k; k++) v.push_back(*k);
    return v;
}

/* ---- options -------------------------------------------------------------------- */

struct options {
    std::string profile_name = "standard";
    weft_profile profile = WEFT_PROFILE_STANDARD;
    std::vector<std::string> schedulers, workloads; /* empty: all */
    std::string workers_arg;                         /* empty: 1, 2, cores */
    bool topology_set = false;
    std::string topology; /* "real", a synthetic string or an XML path */
    std::string pin = "none";
    std::vector<std::pair<std::string, std::string>> knobs;
    std::vector<std::string> params; /* "WORKLOAD.NAME=VALUE" */
    bool list = false, help = false;
    /* Google Benchmark flags the driver needs to know about */
    int user_repetitions = 0; /* --benchmark_repetitions, 0: not given */
    bool user_aggregates_flag = false;
    std::string format = "console", color = "auto";
    bool tabular = false;
    bool c2c = true; /* WEFT_BENCH_C2C: record c2c_rt_ns on every repetition */
};

bool truthy_flag(const std::string &v) /* as Google Benchmark's IsTruthyFlagValue */
{
    if (v.empty()) return true;
    if (v.size() == 1) return isalnum((unsigned char)v[0]) && !strchr("0fFnN", v[0]);
    std::string l;
    for (char c : v) l += (char)tolower((unsigned char)c);
    return l != "false" && l != "no" && l != "off";
}

std::vector<std::string> split_list(const std::string &flag, const std::string &s)
{
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t comma = s.find(',', start);
        std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (item.empty())
            usage_error("%s: empty item in '%s' (give a comma list without spaces)", flag.c_str(),
                        s.c_str());
        if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

/* Removes weft's own flags from argv; returns what is left for Google
 * Benchmark (argv[0] first). Both "--flag=value" and "--flag value". */
std::vector<char *> parse_args(int argc, char **argv, options *o)
{
    std::vector<char *> rest{argv[0]};
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value_of = [&](const char *flag, std::string *val) -> bool {
            std::string f = flag;
            if (a == f) {
                if (i + 1 >= argc) usage_error("%s needs a value", flag);
                *val = argv[++i];
                return true;
            }
            if (a.compare(0, f.size() + 1, f + "=") == 0) {
                *val = a.substr(f.size() + 1);
                return true;
            }
            return false;
        };
        std::string v;
        if (value_of("--profile", &v)) {
            if (weft_profile_parse(v.c_str(), &o->profile) < 0)
                usage_error("--profile: %s", weft_last_error());
            o->profile_name = v;
        } else if (value_of("--schedulers", &v)) {
            o->schedulers = split_list("--schedulers", v);
        } else if (value_of("--workloads", &v)) {
            o->workloads = split_list("--workloads", v);
        } else if (value_of("--workers", &v)) {
            o->workers_arg = v;
        } else if (value_of("--topology", &v)) {
            o->topology_set = true;
            o->topology = v;
        } else if (value_of("--pin", &v)) {
            o->pin = v;
        } else if (value_of("--knob", &v)) {
            size_t eq = v.find('=');
            if (eq == std::string::npos || eq == 0)
                usage_error("--knob %s: expected NAME=VALUE; knobs: %s", v.c_str(),
                            join(knob_names(), ", ").c_str());
            o->knobs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
        } else if (value_of("--param", &v)) {
            o->params.push_back(v);
        } else if (a == "--list") {
            o->list = true;
        } else if (a == "--help" || a == "-h") {
            o->help = true;
        } else {
            /* Google Benchmark's flags go on; a few of them change what we do */
            auto gb = [&](const char *flag, std::string *val) -> bool {
                std::string f = flag;
                if (a == f) {
                    *val = "";
                    return true;
                }
                if (a.compare(0, f.size() + 1, f + "=") == 0) {
                    *val = a.substr(f.size() + 1);
                    return true;
                }
                return false;
            };
            if (gb("--benchmark_repetitions", &v)) {
                char *end;
                long n = strtol(v.c_str(), &end, 10);
                if (!v.empty() && !*end && n >= 1 && n <= 1000000) o->user_repetitions = (int)n;
                /* otherwise Google Benchmark rejects it below */
            } else if (gb("--benchmark_report_aggregates_only", &v) ||
                       gb("--benchmark_display_aggregates_only", &v)) {
                o->user_aggregates_flag = true;
            } else if (gb("--benchmark_format", &v)) {
                o->format = v;
            } else if (gb("--benchmark_color", &v)) {
                o->color = v;
            } else if (gb("--benchmark_counters_tabular", &v)) {
                o->tabular = truthy_flag(v);
            }
            rest.push_back(argv[i]);
        }
    }
    return rest;
}

void print_help()
{
    printf(
        "usage: weft-bench [weft options] [Google Benchmark options]\n"
        "\n"
        "Runs every selected workload x scheduler x worker count as one Google\n"
        "Benchmark row named WORKLOAD/SCHEDULER/workers:N[/VARIANT] (Google Benchmark\n"
        "appends /iterations:N/repeats:R/manual_time). A scheduler that takes exactly\n"
        "one worker (fifo) runs once per workload, at workers:1.\n"
        "\n"
        "weft options (both --flag=VALUE and --flag VALUE):\n"
        "  --profile=quick|standard|full  workload sizes and repetitions (3, 9, 15)  [standard]\n"
        "  --workloads=A,B[/VARIANT]      workloads (a /VARIANT picks one variant)  [all]\n"
        "  --schedulers=A,B               schedulers                                [all]\n"
        "  --workers=1,2,4                worker counts            [1, 2 and the online CPUs]\n"
        "  --topology=TOPO                real, an hwloc synthetic string such as\n"
        "                                 'pack:2 numa:2 core:4 pu:1', or an XML file [real]\n"
        "  --pin=none|compact|scatter     pinning of the workers                    [none]\n"
        "  --knob NAME=VALUE              a scheduler knob (repeatable; see --list)\n"
        "  --param WORKLOAD.NAME=VALUE    a workload parameter (repeatable; see --list)\n"
        "  --list                         print workloads, parameters, schedulers, knobs\n"
        "  --help                         this text, then Google Benchmark's flags\n"
        "\n"
        "Useful Google Benchmark flags: --benchmark_filter=REGEX,\n"
        "--benchmark_repetitions=N (instead of the profile's), --benchmark_out=FILE\n"
        "--benchmark_out_format=json, --benchmark_format=json.\n"
        "Progress goes to stderr. Exit status: 0 when the rows ran (a row whose self-check\n"
        "failed is an error row in the output, listed at the end on stderr, never a time);\n"
        "2: bad options (nothing ran); 3: an iteration hung (see WEFT_BENCH_TIMEOUT_S).\n"
        "Environment: WEFT_MACHINE (the machine label recorded), WEFT_SOURCE_DIR (the git\n"
        "tree whose commit is recorded), WEFT_BENCH_TIMEOUT_S (an iteration running longer\n"
        "is taken as hung: the run stops with exit status 3 and names the row; default\n"
        "300, 0: no limit), WEFT_BENCH_C2C=0 (skip the core-to-core round trip measured\n"
        "before every repetition, counter c2c_rt_ns: about 5 ms each),\n"
        "WEFT_BENCH_FAULT_INJECTION=1 (tests only: the workloads drop work so that every\n"
        "self-check fails).\n"
        "\n");
    fflush(stdout);
}

/* ---- the rows ------------------------------------------------------------------- */

struct row {
    std::string name;
    const weft_workload *wl;
    std::string variant; /* "" when the workload has none */
    std::string scheduler;
    int workers;
    std::vector<int64_t> params;
    int iterations;
};

struct selection {
    const weft_workload *wl;
    std::vector<std::string> variants; /* {""} without variants */
    std::vector<int64_t> params;
};

options g_opt;
weft_config g_base;                /* knobs applied; scheduler/workers set per row */
std::vector<row> g_rows;           /* fixed before registration: lambdas index it */
std::vector<selection> g_selected;
std::vector<std::string> g_schedulers;
std::vector<int> g_workers;
std::set<std::string> g_single_worker; /* schedulers that take exactly one worker */
int g_repetitions;
std::string g_topology_label = "real", g_topology_xml = "", g_numa_nodes = "1";

/* Validates every option and builds g_rows. Exits 2 on a bad value. */
void resolve_options()
{
    options &o = g_opt;
    if (const char *v = getenv("WEFT_BENCH_C2C")) o.c2c = truthy_flag(v);

    /* schedulers */
    std::vector<std::string> all_s = scheduler_names();
    if (o.schedulers.empty()) o.schedulers = all_s;
    for (const std::string &s : o.schedulers)
        if (std::find(all_s.begin(), all_s.end(), s) == all_s.end())
            usage_error("--schedulers: unknown scheduler '%s'; known schedulers: %s", s.c_str(),
                        join(all_s, ", ").c_str());
    g_schedulers = o.schedulers;
    for (const std::string &s : all_s) {
        weft_config c;
        weft_config_default(&c);
        c.scheduler = s.c_str();
        c.workers = 1;
        bool one_ok = weft_config_validate(&c) == 0;
        c.workers = 2;
        if (one_ok && weft_config_validate(&c) < 0) g_single_worker.insert(s);
    }

    /* workers */
    std::set<int> workers;
    if (o.workers_arg.empty()) {
        workers = {1, 2, std::min(weftbench::env_online_cpus(), WEFT_MAX_WORKERS)};
    } else {
        for (const std::string &w : split_list("--workers", o.workers_arg)) {
            char *end;
            errno = 0;
            long n = strtol(w.c_str(), &end, 10);
            if (errno || end == w.c_str() || *end || n < 1 || n > WEFT_MAX_WORKERS)
                usage_error("--workers: '%s' is not a worker count; give a comma list of integers "
                            "1..%d, e.g. --workers=1,2,4", w.c_str(), WEFT_MAX_WORKERS);
            workers.insert((int)n);
        }
    }
    g_workers.assign(workers.begin(), workers.end());

    /* knobs: scheduler and workers have their own flags; topology and pin
     * are the same as --topology and --pin */
    weft_config_default(&g_base);
    for (auto &kv : o.knobs) {
        if (kv.first == "scheduler" || kv.first == "workers")
            usage_error("--knob %s: use --%s=... instead (a comma list)", kv.first.c_str(),
                        kv.first == "scheduler" ? "schedulers" : "workers");
        if (kv.first == "topology") {
            o.topology_set = true;
            o.topology = kv.second;
        } else if (kv.first == "pin") {
            o.pin = kv.second;
        } else if (weft_config_set(&g_base, kv.first.c_str(), kv.second.c_str()) < 0) {
            usage_error("--knob %s=%s: %s", kv.first.c_str(), kv.second.c_str(), weft_last_error());
        }
    }
    {
        topo_pin pin;
        char err[256] = "";
        if (topo_pin_parse(o.pin.c_str(), &pin, err, sizeof err) < 0)
            usage_error("--pin=%s: %s (give none, compact or scatter)", o.pin.c_str(), err);
    }
    g_base.pin = o.pin.c_str();

    /* topology: open it once, to check it and to record it */
    std::string spec = o.topology_set ? o.topology : "real";
    if (spec.empty()) spec = "real";
    {
        topo *t = nullptr;
        char err[512] = "";
        if (topo_open(&t, spec.c_str(), err, sizeof err) < 0)
            usage_error("--topology=%s: %s; give 'real', an hwloc synthetic string such as "
                        "'pack:2 numa:2 core:4 pu:1' (levels TYPE:COUNT ending in pu), or the path "
                        "of an hwloc XML file", spec.c_str(), err[0] ? err : "cannot open it");
        g_topology_label = spec == "real" ? "real" : spec;
        g_numa_nodes = std::to_string(topo_node_count(t));
        char *xml = nullptr;
        int rc = topo_export_xml(t, &xml);
        g_topology_xml = rc == 0 && xml ? xml : "unavailable: " + std::string(strerror(-rc));
        free(xml);
        topo_close(t);
    }
    g_base.topology = spec == "real" ? nullptr : o.topology.c_str();

    /* every (scheduler, workers) pair with the knobs applied */
    for (const std::string &s : g_schedulers) {
        std::vector<int> ws = g_single_worker.count(s) ? std::vector<int>{1} : g_workers;
        for (int w : ws) {
            weft_config c = g_base;
            c.scheduler = s.c_str();
            c.workers = w;
            if (weft_config_validate(&c) < 0)
                usage_error("scheduler %s with %d worker%s and the knobs given: %s", s.c_str(), w,
                            w == 1 ? "" : "s", weft_last_error());
        }
    }

    /* workloads, with an optional /VARIANT */
    std::vector<std::string> wls = o.workloads;
    if (wls.empty()) wls = workload_names();
    for (const std::string &spec_w : wls) {
        size_t slash = spec_w.find('/');
        std::string name = spec_w.substr(0, slash);
        const weft_workload *w = weft_workload_find(name.c_str());
        if (!w) usage_error("--workloads: %s", weft_last_error());
        std::vector<std::string> all_v;
        for (const char *const *v = w->variants; v && *v; v++) all_v.push_back(*v);
        std::vector<std::string> chosen;
        if (slash != std::string::npos) {
            std::string v = spec_w.substr(slash + 1);
            if (all_v.empty())
                usage_error("--workloads: %s has no variants (got '%s')", name.c_str(),
                            spec_w.c_str());
            if (std::find(all_v.begin(), all_v.end(), v) == all_v.end())
                usage_error("--workloads: %s has no variant '%s'; its variants: %s", name.c_str(),
                            v.c_str(), join(all_v, ", ").c_str());
            chosen.push_back(v);
        } else if (all_v.empty()) {
            chosen.push_back("");
        } else if (o.profile != WEFT_PROFILE_FULL && w->standard_variants) {
            for (const char *const *v = w->standard_variants; *v; v++) chosen.push_back(*v);
        } else {
            chosen = all_v; /* full runs every variant */
        }
        selection *sel = nullptr;
        for (selection &s : g_selected)
            if (s.wl == w) sel = &s;
        if (!sel) {
            size_t np = (size_t)std::max(WEFT_WL_MAX_PARAMS, w->nparams);
            g_selected.push_back({w, {}, std::vector<int64_t>(np)});
            sel = &g_selected.back();
            weft_workload_defaults(w, o.profile, sel->params.data());
        }
        for (const std::string &v : chosen)
            if (std::find(sel->variants.begin(), sel->variants.end(), v) == sel->variants.end())
                sel->variants.push_back(v);
    }

    /* --param WORKLOAD.NAME=VALUE, after the profile's defaults */
    for (const std::string &p : o.params) {
        size_t dot = p.find('.'), eq = p.find('=');
        if (dot == std::string::npos || eq == std::string::npos || eq < dot || dot == 0)
            usage_error("--param %s: expected WORKLOAD.NAME=VALUE, e.g. --param spawn_many.n=1000",
                        p.c_str());
        std::string wname = p.substr(0, dot), pname = p.substr(dot + 1, eq - dot - 1), val = p.substr(eq + 1);
        const weft_workload *w = weft_workload_find(wname.c_str());
        if (!w) usage_error("--param %s: %s", p.c_str(), weft_last_error());
        selection *sel = nullptr;
        for (selection &s : g_selected)
            if (s.wl == w) sel = &s;
        std::vector<int64_t> scratch(WEFT_WL_MAX_PARAMS);
        int64_t *params = sel ? sel->params.data() : scratch.data();
        if (weft_workload_set_param(w, params, pname.c_str(), val.c_str()) < 0)
            usage_error("--param %s: %s", p.c_str(), weft_last_error());
        if (!sel)
            fprintf(stderr, "weft-bench: note: --param %s: workload %s is not selected\n", p.c_str(),
                    wname.c_str());
    }

    g_repetitions = o.user_repetitions ? o.user_repetitions : kProfileRepetitions[o.profile];

    /* rows: workload, variant, scheduler, workers */
    for (const selection &sel : g_selected)
        for (const std::string &v : sel.variants)
            for (const std::string &s : g_schedulers) {
                std::vector<int> ws = g_single_worker.count(s) ? std::vector<int>{1} : g_workers;
                for (int w : ws) {
                    row r;
                    r.name = std::string(sel.wl->name) + "/" + s + "/workers:" + std::to_string(w) +
                             (v.empty() ? "" : "/" + v);
                    r.wl = sel.wl;
                    r.variant = v;
                    r.scheduler = s;
                    r.workers = w;
                    r.params = sel.params;
                    r.iterations = iterations_for(sel.wl->name, o.profile);
                    g_rows.push_back(r);
                }
            }
}

void print_list()
{
    printf("Workloads (parameter defaults per profile: quick / standard / full):\n");
    for (int i = 0; i < weft_workload_count(); i++) {
        const weft_workload *w = weft_workload_at(i);
        printf("  %s  [%s; unit: %s]\n      %s\n", w->name, w->kind ? w->kind : "?",
               w->unit_name ? w->unit_name : "?", w->description ? w->description : "");
        for (int k = 0; k < w->nparams; k++) {
            const weft_wl_param *p = &w->params[k];
            printf("      %s.%-16s %lld / %lld / %lld   (%lld..%lld) %s\n", w->name, p->name,
                   (long long)p->def[0], (long long)p->def[1], (long long)p->def[2], (long long)p->min,
                   (long long)p->max, p->help ? p->help : "");
        }
        if (w->variants) {
            printf("      variants:");
            for (const char *const *v = w->variants; *v; v++) printf(" %s", *v);
            printf("   (quick and standard run:");
            const char *const *sv = w->standard_variants ? w->standard_variants : w->variants;
            for (const char *const *v = sv; *v; v++) printf(" %s", *v);
            printf("; full runs all)\n");
        }
        printf("      iterations per repetition: quick %d, standard %d, full %d\n",
               iterations_for(w->name, WEFT_PROFILE_QUICK), iterations_for(w->name, WEFT_PROFILE_STANDARD),
               iterations_for(w->name, WEFT_PROFILE_FULL));
    }
    printf("\nSchedulers:\n");
    for (int i = 0; weft_scheduler_name(i); i++) {
        const char *d = weft_scheduler_describe(i);
        printf("  %-8s %s\n", weft_scheduler_name(i), d ? d : "");
    }
    printf("\nKnobs (--knob NAME=VALUE; defaults shown):\n");
    weft_config c;
    weft_config_default(&c);
    c.topology = nullptr;
    int need = weft_config_describe(&c, nullptr, 0);
    std::string buf((size_t)need + 1, '\0');
    weft_config_describe(&c, &buf[0], buf.size());
    buf.resize((size_t)need);
    size_t start = 0;
    while (start < buf.size()) {
        size_t sp = buf.find(' ', start);
        std::string tok = buf.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
        std::string name = tok.substr(0, tok.find('='));
        if (name == "scheduler" || name == "workers")
            printf("  %-28s (use --%s)\n", tok.c_str(), name == "scheduler" ? "schedulers" : "workers");
        else if (name == "topology" || name == "pin")
            printf("  %-28s (same as --%s)\n", tok.c_str(), name.c_str());
        else
            printf("  %s\n", tok.c_str());
        if (sp == std::string::npos) break;
        start = sp + 1;
    }
    printf("\nProfiles: quick (%d repetitions), standard (%d), full (%d)\n", kProfileRepetitions[0],
           kProfileRepetitions[1], kProfileRepetitions[2]);
}

/* "budget=128 lifo_slot=1 ...": the base configuration's knobs, without the
 * ones recorded elsewhere (scheduler and workers vary per row; topology and
 * pin are weft_topology and weft_pin, and a synthetic topology has spaces). */
std::string describe_knobs()
{
    weft_config c = g_base;
    c.topology = nullptr;
    int need = weft_config_describe(&c, nullptr, 0);
    std::string buf((size_t)need + 1, '\0');
    weft_config_describe(&c, &buf[0], buf.size());
    buf.resize((size_t)need);
    std::vector<std::string> keep;
    size_t start = 0;
    while (start < buf.size()) {
        size_t sp = buf.find(' ', start);
        std::string tok = buf.substr(start, sp == std::string::npos ? std::string::npos : sp - start);
        std::string name = tok.substr(0, tok.find('='));
        if (!tok.empty() && name != "scheduler" && name != "workers" && name != "topology" && name != "pin")
            keep.push_back(tok);
        if (sp == std::string::npos) break;
        start = sp + 1;
    }
    return join(keep, " ");
}

/* ---- the runtime of the current row ------------------------------------------------ */

struct runtime_cache {
    std::string name;
    weft_runtime *rt = nullptr;
    bool placement_shown = false;
    void drop()
    {
        weft_runtime_free(rt);
        rt = nullptr;
        name.clear();
    }
} g_cache;

weft_runtime *runtime_for(const row &r, std::string *err)
{
    if (g_cache.rt && g_cache.name == r.name) return g_cache.rt;
    g_cache.drop();
    weft_config c = g_base;
    c.scheduler = r.scheduler.c_str();
    c.workers = r.workers;
    weft_runtime *rt = nullptr;
    int rc = weft_runtime_new(&c, &rt);
    if (rc < 0) {
        const char *m = weft_last_error();
        *err = "weft_runtime_new (scheduler " + r.scheduler + ", " + std::to_string(r.workers) +
               " workers): " + (m && *m ? m : strerror(-rc));
        return nullptr;
    }
    g_cache.rt = rt;
    g_cache.name = r.name;
    g_cache.placement_shown = false;
    return rt;
}

/* ---- progress on stderr ------------------------------------------------------------- */

struct progress {
    using clock = std::chrono::steady_clock;
    std::vector<std::string> order;    /* rows the filter selects, in run order */
    std::map<std::string, std::string> workload_of;
    bool known = false;                /* order is exact */
    std::set<std::string> started;
    std::string current;
    clock::time_point row_t0;
    std::map<std::string, std::pair<double, int>> per_workload; /* seconds, rows */
    double total_s = 0;
    int done = 0;

    void close_current()
    {
        if (current.empty()) return;
        double s = std::chrono::duration<double>(clock::now() - row_t0).count();
        auto &pw = per_workload[workload_of[current]];
        pw.first += s;
        pw.second++;
        total_s += s;
        done++;
        current.clear();
    }

    void row_starts(const row &r)
    {
        if (r.name == current) return;
        close_current();
        current = r.name;
        row_t0 = clock::now();
        if (!started.insert(r.name).second) return; /* interleaved repetitions */
        std::string left = "?";
        if (done > 0 && known) {
            double est = 0, avg = total_s / done;
            for (const std::string &n : order) {
                if (started.count(n) && n != r.name) continue;
                auto it = per_workload.find(workload_of[n]);
                est += it != per_workload.end() ? it->second.first / it->second.second : avg;
            }
            char b[32];
            snprintf(b, sizeof b, "%.0f", est);
            left = b;
        }
        std::string n = known ? std::to_string(order.size()) : "?";
        fprintf(stderr, "[%zu/%s] %s (est. %s s left)\n", started.size(), n.c_str(), r.name.c_str(),
                left.c_str());
        fflush(stderr);
    }
} g_progress;

/* The rows Google Benchmark will run: its filter (an extended regex, '-'
 * negates) against the full names with the suffixes it appends. */
void progress_init()
{
    std::string spec = benchmark::GetBenchmarkFilter();
    bool negative = false;
    if (spec.empty() || spec == "all") spec = ".";
    if (spec[0] == '-') {
        negative = true;
        spec = spec.substr(1);
    }
    try {
        std::regex re(spec, std::regex::extended);
        for (const row &r : g_rows) {
            std::string full = r.name + "/iterations:" + std::to_string(r.iterations) +
                               (g_opt.user_repetitions ? "" : "/repeats:" + std::to_string(g_repetitions)) +
                               "/manual_time";
            if (std::regex_search(full, re) != negative) g_progress.order.push_back(r.name);
            g_progress.workload_of[r.name] = r.wl->name;
        }
        g_progress.known = true;
    } catch (const std::regex_error &) {
        g_progress.known = false;
        for (const row &r : g_rows) g_progress.workload_of[r.name] = r.wl->name;
    }
}

/* ---- the watchdog: a hung iteration stops the run with its row's name ------------- */

/* A lost wake-up in a scheduler shows up as an iteration that never ends, and
 * `make bench` would wait forever without saying where. One thread checks
 * once a second how long the current iteration has run; past the limit
 * (WEFT_BENCH_TIMEOUT_S, default 300 s, 0: off; the longest standard
 * iteration is a few seconds) it names the row and ends the process with
 * exit status 3. The hung worker cannot be recovered, so nothing after it can
 * run; the JSON output is left incomplete. */
struct watchdog {
    std::atomic<int64_t> started_ns{0}; /* 0: no iteration running */
    std::atomic<const row *> current{nullptr};
    double limit_s = 300;

    static int64_t now_ns()
    {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    void begin(const row *r)
    {
        /* current is published before the start time: the watchdog reads
         * started_ns (acquire) and then current */
        current.store(r, std::memory_order_relaxed);
        started_ns.store(now_ns(), std::memory_order_release);
    }
    void end() { started_ns.store(0, std::memory_order_release); }

    void start()
    {
        const char *v = getenv("WEFT_BENCH_TIMEOUT_S");
        if (v && *v) {
            char *e;
            double d = strtod(v, &e);
            if (*e || d < 0) usage_error("WEFT_BENCH_TIMEOUT_S=%s: give seconds (0: no limit)", v);
            limit_s = d;
        }
        if (limit_s <= 0) return;
        std::thread([this] {
            for (;;) {
                std::this_thread::sleep_for(std::chrono::seconds(1));
                int64_t t0 = started_ns.load(std::memory_order_acquire);
                if (t0 == 0 || (double)(now_ns() - t0) / 1e9 < limit_s) continue;
                const row *r = current.load(std::memory_order_relaxed);
                fprintf(stderr,
                        "\nweft-bench: error: %s: one iteration has run for more than %.0f s "
                        "(WEFT_BENCH_TIMEOUT_S); it is hung (a lost wake-up?). The run stops here "
                        "and its JSON output is incomplete; rerun the row alone with "
                        "--benchmark_filter to debug it.\n",
                        r ? r->name.c_str() : "?", limit_s);
                fflush(stderr);
                _exit(3);
            }
        }).detach();
    }
} g_watchdog;

/* ---- one repetition of one row --------------------------------------------------- */

std::map<std::string, std::string> g_failed; /* row -> its first failure */
std::vector<std::string> g_failed_order;

void fail_row(benchmark::State &st, const row &r, const std::string &msg)
{
    if (!g_failed.count(r.name)) {
        g_failed[r.name] = msg;
        g_failed_order.push_back(r.name);
    }
    st.SkipWithError(msg.c_str());
}

bool reserved_counter(const std::string &n)
{
    if (n == "units" || n == "ns_per_unit" || n == "p50_us" || n == "p99_us" || n == "p999_us" ||
        n == "c2c_rt_ns")
        return true;
    for (int i = 0; i < weft_stat_field_count; i++)
        if (n == weft_stat_fields[i].name) return true;
    return false;
}

void run_row(benchmark::State &st, const row &r)
{
    g_progress.row_starts(r);
    auto f = g_failed.find(r.name);
    if (f != g_failed.end()) {
        st.SkipWithError(("not run: an earlier repetition failed: " + f->second).c_str());
        return;
    }
    std::string err;
    weft_runtime *rt = runtime_for(r, &err);
    if (!rt) {
        fail_row(st, r, err);
        return;
    }
    const char *variant = r.variant.empty() ? nullptr : r.variant.c_str();
    double units = 0, elapsed_ns = 0, p50 = 0, p99 = 0, p999 = 0;
    int nlat = 0;
    std::vector<std::pair<std::string, double>> checks; /* in the workload's order */
    const char *unit_name = r.wl->unit_name;

    /* The machine's core-to-core round trip right now, outside the timed
     * iterations (manual time): see env_c2c_round_trip_ns. */
    double c2c = g_opt.c2c ? weftbench::env_c2c_round_trip_ns(20000) : -1;

    weft_runtime_stats_reset(rt);
    for (auto _ : st) {
        weft_wl_result res;
        memset(&res, 0, sizeof res);
        g_watchdog.begin(&r);
        int rc = weft_workload_run(r.wl, rt, r.params.data(), variant, &res);
        g_watchdog.end();
        if (rc != 0) {
            std::string msg = res.error[0] ? res.error : weft_last_error();
            if (msg.empty()) msg = strerror(rc < 0 ? -rc : rc);
            msg = r.name + ": " + msg;
            g_cache.drop(); /* it may hold the failed iteration's tasks */
            fail_row(st, r, msg);
            break;
        }
        st.SetIterationTime((double)res.elapsed_ns / 1e9);
        units += res.units;
        elapsed_ns += (double)res.elapsed_ns;
        if (res.unit_name) unit_name = res.unit_name;
        if (res.has_latency) {
            p50 += res.p50_us;
            p99 += res.p99_us;
            p999 += res.p999_us;
            nlat++;
        }
        for (int i = 0; i < res.nchecks && i < WEFT_WL_MAX_CHECKS; i++) {
            if (!res.checks[i].name) continue;
            std::string n = res.checks[i].name;
            if (reserved_counter(n)) n = "check_" + n;
            auto it = std::find_if(checks.begin(), checks.end(),
                                   [&](const std::pair<std::string, double> &c) { return c.first == n; });
            if (it == checks.end())
                checks.emplace_back(n, res.checks[i].value);
            else
                it->second += res.checks[i].value;
        }
    }
    if (st.error_occurred()) return;

    weft_worker_stats total;
    weft_runtime_stats(rt, nullptr, 0, &total);

    /* Where the workers run, once per row when pinning was asked for: after
     * the first repetition, when every worker has bound itself. */
    if (g_opt.pin != "none" && !g_cache.placement_shown) {
        char buf[8192];
        if (weft_runtime_describe_placement(rt, buf, sizeof buf) >= 0) fprintf(stderr, "%s", buf);
        g_cache.placement_shown = true;
    }

    using C = benchmark::Counter;
    st.counters["units"] = C(units, C::kAvgIterations);
    if (units > 0) st.counters["ns_per_unit"] = C(elapsed_ns / units);
    if (nlat > 0) {
        st.counters["p50_us"] = C(p50 / nlat);
        st.counters["p99_us"] = C(p99 / nlat);
        st.counters["p999_us"] = C(p999 / nlat);
    }
    for (auto &c : checks) st.counters[c.first] = C(c.second, C::kAvgIterations);
    if (c2c > 0) st.counters["c2c_rt_ns"] = C(c2c);
    for (int i = 0; i < weft_stat_field_count; i++) {
        const weft_stat_field &sf = weft_stat_fields[i];
        uint64_t v;
        memcpy(&v, (const char *)&total + sf.offset, sizeof v);
        st.counters[sf.name] = sf.is_max ? C((double)v) : C((double)v, C::kAvgIterations);
    }
    if (unit_name) st.SetLabel(unit_name);
}

/* ---- the console: like Google Benchmark's, with the XML summarised ----------------- */

std::vector<std::pair<std::string, std::string>> g_context;

void add_context(const std::string &k, const std::string &v)
{
    g_context.emplace_back(k, v);
    benchmark::AddCustomContext(k, v);
}

class weft_console_reporter : public benchmark::ConsoleReporter {
public:
    explicit weft_console_reporter(OutputOptions o) : ConsoleReporter(o) {}

    bool ReportContext(const Context &c) override
    {
        name_field_width_ = c.name_field_width;
        printed_header_ = false;
        prev_counters_.clear();
        std::ostream &out = GetErrorStream();
        out << "Running " << (Context::executable_name ? Context::executable_name : "weft-bench") << "\n";
        const benchmark::CPUInfo &ci = c.cpu_info;
        char b[128];
        snprintf(b, sizeof b, "Run on (%d X %.0f MHz CPU%s)\n", ci.num_cpus, ci.cycles_per_second / 1e6,
                 ci.num_cpus > 1 ? "s" : "");
        out << b;
        for (const benchmark::CPUInfo::CacheInfo &cache : ci.caches) {
            out << "  L" << cache.level << " " << cache.type << " " << cache.size / 1024 << " KiB";
            if (cache.num_sharing != 0) out << " (x" << ci.num_cpus / cache.num_sharing << ")";
            out << "\n";
        }
        for (auto &kv : g_context) {
            if (kv.first == "weft_topology_xml")
                out << kv.first << ": (" << kv.second.size() << " bytes of hwloc XML, in the JSON output)\n";
            else
                out << kv.first << ": " << kv.second << "\n";
        }
        return true;
    }
};

benchmark::ConsoleReporter::OutputOptions console_options()
{
    int o = 0;
    bool color;
    if (g_opt.color == "auto") {
        const char *term = getenv("TERM");
        color = isatty(STDOUT_FILENO) && term && *term && strcmp(term, "dumb") != 0;
    } else {
        color = truthy_flag(g_opt.color);
    }
    if (color) o |= benchmark::ConsoleReporter::OO_Color;
    if (g_opt.tabular) o |= benchmark::ConsoleReporter::OO_Tabular;
    return (benchmark::ConsoleReporter::OutputOptions)o;
}

void record_context()
{
    int cores = weftbench::env_online_cpus();
    std::string host = weftbench::env_hostname();
    std::string src = weftbench::env_source_dir();
    const char *info = weft_build_info();
    std::vector<std::string> wl_names, worker_list, params, overrides;
    for (const selection &s : g_selected) {
        wl_names.push_back(s.wl->name);
        for (int k = 0; k < s.wl->nparams; k++)
            params.push_back(std::string(s.wl->name) + "." + s.wl->params[k].name + "=" +
                             std::to_string((long long)s.params[(size_t)k]));
    }
    if (!g_opt.workloads.empty()) wl_names = g_opt.workloads; /* with any /VARIANT */
    for (int w : g_workers) worker_list.push_back(std::to_string(w));

    add_context("weft_cpu_model", weftbench::env_cpu_model());
    add_context("weft_cores", std::to_string(cores));
    add_context("weft_topology", g_topology_label);
    add_context("weft_topology_xml", g_topology_xml);
    add_context("weft_numa_nodes", g_numa_nodes);
    add_context("weft_kernel", weftbench::env_kernel());
    add_context("weft_compiler",
                "driver: " + weftbench::env_cxx_compiler() + "; library: " + (info ? info : "?"));
    add_context("weft_cflags", weftbench::env_library_cflags(info));
    add_context("weft_allocator", weft_build_allocator());
    add_context("weft_version", weft_version());
    add_context("weft_git_commit", weftbench::env_git_commit(src));
    add_context("weft_git_dirty", weftbench::env_git_dirty(src));
    add_context("weft_profile", g_opt.profile_name);
    add_context("weft_knobs", describe_knobs());
    add_context("weft_pin", g_opt.pin);
    add_context("weft_hostname", host);
    add_context("weft_machine", weftbench::env_machine_label(cores));
    add_context("weft_date", weftbench::env_date_utc());
    add_context("weft_schedulers", join(g_schedulers, ","));
    add_context("weft_workloads", join(wl_names, ","));
    add_context("weft_workers", join(worker_list, ","));
    add_context("weft_repetitions", std::to_string(g_repetitions));
    add_context("weft_params", join(params, " "));
    add_context("weft_param_overrides", join(g_opt.params, " "));
    add_context("weft_benchmark_library",
                "google-benchmark 1.7.1 (Debian; the library reports itself as a debug build)");
}

} // namespace

int main(int argc, char **argv)
{
    std::vector<char *> gb_args = parse_args(argc, argv, &g_opt);
    if (g_opt.help) {
        print_help();
        static char help_flag[] = "--help";
        std::vector<char *> h{argv[0], help_flag, nullptr};
        int hargc = 2;
        benchmark::Initialize(&hargc, h.data()); /* prints its flags and exits 0 */
        return 0;
    }
    if (g_opt.list) {
        print_list();
        return 0;
    }
    resolve_options();

    int gargc = (int)gb_args.size();
    gb_args.push_back(nullptr);
    benchmark::Initialize(&gargc, gb_args.data());
    if (benchmark::ReportUnrecognizedArguments(gargc, gb_args.data())) {
        fprintf(stderr, "weft-bench: error: unrecognized argument (above); weft's own flags are --profile, "
                        "--workloads, --schedulers, --workers, --topology, --pin, --knob, --param, --list, "
                        "--help; Google Benchmark's are listed by --help\n");
        return 2;
    }

    for (size_t i = 0; i < g_rows.size(); i++) {
        benchmark::internal::Benchmark *b = benchmark::RegisterBenchmark(
            g_rows[i].name.c_str(), [i](benchmark::State &st) { run_row(st, g_rows[i]); });
        b->UseManualTime()->Iterations(g_rows[i].iterations)->Unit(benchmark::kMicrosecond);
        if (!g_opt.user_repetitions) b->Repetitions(g_repetitions);
        if (!g_opt.user_aggregates_flag) b->ReportAggregatesOnly(false);
    }
    record_context();
    /* The driver's own test of the error path: every workload drops one
     * unit of work, so every self-check must fail and no row may get a time.
     * Recorded in the context so such a file is never taken for a result. */
    const char *fi = getenv("WEFT_BENCH_FAULT_INJECTION");
    if (fi && *fi && strcmp(fi, "0") != 0) {
        weft_workload_set_fault_injection(true);
        add_context("weft_fault_injection", "1");
        fprintf(stderr, "weft-bench: WEFT_BENCH_FAULT_INJECTION is set: the workloads drop work on "
                        "purpose and every row must fail its self-check\n");
    }
    progress_init();
    g_watchdog.start();

    auto t0 = std::chrono::steady_clock::now();
    if (g_opt.format == "console") {
        weft_console_reporter display(console_options());
        benchmark::RunSpecifiedBenchmarks(&display);
    } else {
        benchmark::RunSpecifiedBenchmarks();
    }
    g_progress.close_current();
    g_cache.drop();
    benchmark::Shutdown();

    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fprintf(stderr, "weft-bench: %zu row%s in %.1f s", g_progress.started.size(),
            g_progress.started.size() == 1 ? "" : "s", secs);
    if (g_failed_order.empty()) {
        fprintf(stderr, ", none failed\n");
    } else {
        fprintf(stderr, "; %zu FAILED (reported as errors, without times):\n", g_failed_order.size());
        for (const std::string &n : g_failed_order) fprintf(stderr, "  %s\n", g_failed[n].c_str());
    }
    return 0;
}
