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
 *   different amounts of work. So each workload's definition (workloads/,
 *   field iterations) gives the count per profile, with its parameters, unit,
 *   kind of work and ranking metric; the driver checks the registry at
 *   start-up (a missing field stops it) and exports all of it as the context
 *   key weft_workload_defs.
 * * Separate launches (issue 10): with --launches=L (or --peers) weft-bench is
 *   the coordinator of docs/bench-protocol.md. It runs every row in L launch
 *   rounds of child processes (one weft-bench --child per workload, one peer
 *   program per peer runtime and worker count), in orders shuffled from
 *   --seed, times a calibration loop and the core-to-core round trip before
 *   each child, reads steal time and load around it, and merges the
 *   children's JSON into one file. A child runs one untimed warm-up
 *   iteration per row, then its repetitions interleaved: repetition r runs
 *   every row once in an order shuffled from (seed, launch, r).
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
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/env.h"
#include "common/topology.h"
#include "weft/runtime.h"
#include "workloads/service_model.h"
#include "workloads/sweep.h"
#include "workloads/workload.h"

using json = nlohmann::ordered_json;

namespace {

/* ---- profiles and iteration counts ----------------------------------------------- */

const int kProfileRepetitions[3] = {3, 9, 15}; /* quick, standard, full */

/* Repetitions of one child process of the coordinator (--launches): a few
 * per launch, the launches give the rest (standard: 5 launches x 2: the
 * variation that matters is between launches, docs/results-layout.md). */
const int kLaunchRepetitions[3] = {2, 2, 5};

int iterations_for(const weft_workload *w, weft_profile p) { return w->iterations[p]; }

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
    std::vector<std::string> sweeps;   /* --sweep NAME=v1,v2 (repeatable) */
    std::vector<std::string> services; /* --service FILE.json (repeatable) */
    bool list = false, help = false;
    /* Google Benchmark flags the driver needs to know about */
    int user_repetitions = 0; /* --benchmark_repetitions, 0: not given */
    bool user_aggregates_flag = false;
    std::string format = "console", color = "auto";
    bool tabular = false;
    bool c2c = true; /* WEFT_BENCH_C2C: record c2c_rt_ns on every repetition */
    /* the coordinator and its children (docs/bench-protocol.md) */
    int launches = 0;           /* --launches, 0: not given */
    bool seed_set = false;
    uint64_t seed = 1;          /* --seed */
    bool peers_set = false;
    std::vector<std::string> peers; /* --peers (empty with "none") */
    std::string peers_dir;      /* --peers-dir */
    bool child = false;         /* --child: one process of the coordinator's plan */
    int launch = 0;             /* --launch, in a child */
    std::string out;            /* --benchmark_out */
    bool out_given = false;
    std::string filter;         /* --benchmark_filter */
    bool list_json = false;     /* --list=json */
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
            if (v.empty())
                usage_error("--schedulers: empty; give a comma list of schedulers, e.g. --schedulers=ws,fifo");
            o->schedulers = split_list("--schedulers", v);
        } else if (value_of("--workloads", &v)) {
            if (v.empty())
                usage_error("--workloads: empty; give a comma list of workloads, e.g. --workloads=spawn_many");
            o->workloads = split_list("--workloads", v);
        } else if (value_of("--workers", &v)) {
            if (v.empty())
                usage_error("--workers: empty; give a comma list of worker counts, e.g. --workers=1,2");
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
        } else if (value_of("--sweep", &v)) {
            o->sweeps.push_back(v);
        } else if (value_of("--service", &v)) {
            o->services.push_back(v);
        } else if (value_of("--launches", &v)) {
            char *end;
            errno = 0;
            long n = strtol(v.c_str(), &end, 10);
            if (errno || v.empty() || *end || n < 1 || n > 1000)
                usage_error("--launches=%s: give the number of launch rounds, 1..1000", v.c_str());
            o->launches = (int)n;
        } else if (value_of("--seed", &v)) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(v.c_str(), &end, 10);
            if (errno || v.empty() || *end || v[0] == '-')
                usage_error("--seed=%s: give a non-negative integer", v.c_str());
            o->seed = n;
            o->seed_set = true;
        } else if (value_of("--launch", &v)) {
            char *end;
            errno = 0;
            long n = strtol(v.c_str(), &end, 10);
            if (errno || v.empty() || *end || n < 0 || n > 1000000)
                usage_error("--launch=%s: give the launch index, an integer >= 0", v.c_str());
            o->launch = (int)n;
        } else if (value_of("--peers", &v)) {
            o->peers_set = true;
            o->peers.clear();
            if (v != "none") o->peers = split_list("--peers", v);
        } else if (value_of("--peers-dir", &v)) {
            if (v.empty()) usage_error("--peers-dir: give a directory");
            o->peers_dir = v;
        } else if (a == "--child") {
            o->child = true;
        } else if (a == "--list=json") {
            o->list = true;
            o->list_json = true;
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
                errno = 0;
                long n = strtol(v.c_str(), &end, 10);
                /* Google Benchmark itself takes 0 and -1 for "the default" */
                if (errno || v.empty() || *end || n < 1 || n > 1000000)
                    usage_error("--benchmark_repetitions=%s: give a number of repetitions, 1..1000000",
                                v.c_str());
                o->user_repetitions = (int)n;
            } else if (gb("--benchmark_out", &v)) {
                if (v.empty()) usage_error("--benchmark_out: give a file name");
                o->out = v;
                o->out_given = true;
            } else if (gb("--benchmark_filter", &v)) {
                o->filter = v;
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
        "  --sweep NAME=v1,v2,...         run every row at each value of a knob (repeatable: the\n"
        "                                 product); rows get /knobs:NAME=V,...; a knob a scheduler\n"
        "                                 does not have is not swept for it\n"
        "  --service FILE.json            run a service described in FILE (docs/service-model.md) on\n"
        "                                 every configuration, as service:NAME/SCHED/workers:N rows\n"
        "                                 (repeatable; alone it runs only the services)\n"
        "  --param WORKLOAD.NAME=VALUE    a workload parameter (repeatable; see --list)\n"
        "  --list                         print workloads (their whole definitions), schedulers, knobs\n"
        "  --list=json                    the workload definitions as JSON (weft_workload_defs)\n"
        "\n"
        "Separate launches and peer runtimes (docs/bench-protocol.md):\n"
        "  --launches=L                   run every row in L launch rounds of separate processes,\n"
        "                                 in orders shuffled from --seed; merge into --benchmark_out\n"
        "  --seed=S                       the seed of those orders (recorded)              [1]\n"
        "  --peers=tokio-mt,tokio-ct,async-std,go|none\n"
        "                                 peer runtimes measured beside weft (implies the\n"
        "                                 coordinator; a peer not built is left out)      [none]\n"
        "  --peers-dir=DIR                where the peer programs are     [BINDIR/../../peers]\n"
        "  The pseudo-workload 'floor' (in the default selection) is the project's floor row\n"
        "  floor/native/workers:1[/yield]: the task loop without a runtime.\n"
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
    std::string workload;   /* wl->name, or "floor" */
    std::string floor;      /* "" for a workload row; "spawn" or "yield": the floor row */
    const weft_workload *wl;
    std::string variant; /* "" when the workload has none */
    std::string scheduler;
    int workers;
    std::vector<int64_t> params;
    int iterations;
    sweep_point point{};  /* the swept knobs of this row (point.n == 0: none) */
    int service = -1;     /* a --service row: index into g_services */
};

struct selection {
    const weft_workload *wl;
    std::vector<std::string> variants; /* {""} without variants */
    std::vector<int64_t> params;
};

options g_opt;
weft_config g_base;                /* knobs applied; scheduler/workers set per row */
std::vector<row> g_rows;           /* fixed before registration: lambdas index it */
sweep g_sweep;                     /* --sweep, validated */
std::vector<svc_model *> g_services; /* --service, loaded and validated */
std::vector<selection> g_selected;
std::vector<std::string> g_schedulers;
std::vector<int> g_workers;
std::set<std::string> g_single_worker; /* schedulers that take exactly one worker */
int g_repetitions;
std::string g_topology_label = "real", g_topology_xml = "", g_numa_nodes = "1";
bool g_floor = false;              /* the floor rows are selected */
std::vector<std::string> g_floor_variants; /* "spawn", "yield" */
std::vector<std::string> g_workload_specs; /* as given or all, with floor; for the children */

/* The floor (issue 11): what a task costs with no runtime at all. */
const char *const kFloorDescription =
    "the task loop without a runtime: allocate a 64-byte task, link it into a FIFO, pop it, call it "
    "through a pointer, free it (spawn_many's n per iteration); variant yield: one call per yield "
    "through a ring buffer of yield_many's tasks x yields. One thread, no synchronisation, the "
    "driver's allocator";

/* Validates every option and builds g_rows. Exits 2 on a bad value. */
void resolve_options()
{
    options &o = g_opt;
    /* A child of the coordinator leaves the round trip to the coordinator,
     * which measures it before every process (the launches array): on a
     * loaded two-core machine each measurement can take seconds. */
    if (o.child) o.c2c = false;
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
    /* --sweep: every knob and value checked before anything runs */
    sweep_init(&g_sweep);
    for (const std::string &sw : o.sweeps) {
        char err[2048];
        if (sweep_add(&g_sweep, sw.c_str(), err, sizeof err) < 0) usage_error("%s", err);
        std::string name = sw.substr(0, sw.find('='));
        for (auto &kv : o.knobs)
            if (kv.first == name)
                usage_error("--sweep %s: knob %s is also set by --knob %s=%s; give one or the other", sw.c_str(),
                            name.c_str(), kv.first.c_str(), kv.second.c_str());
    }
    /* --service: every file parsed and validated before anything runs */
    for (const std::string &path : o.services) {
        char err[1024];
        svc_model *m = nullptr;
        if (svc_model_load(path.c_str(), &m, err, sizeof err) < 0) usage_error("--service %s", err);
        for (svc_model *x : g_services)
            if (strcmp(x->name, m->name) == 0)
                usage_error("--service %s: a service named '%s' is already given; names must differ (they "
                            "name the rows)", path.c_str(), m->name);
        g_services.push_back(m);
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
            std::vector<sweep_point> pts((size_t)sweep_points(&g_sweep, s.c_str(), nullptr, 0));
            sweep_points(&g_sweep, s.c_str(), pts.data(), (int)pts.size());
            for (const sweep_point &pt : pts) {
                weft_config c = g_base;
                c.scheduler = s.c_str();
                c.workers = w;
                char kn[512];
                sweep_point_knobs(&g_sweep, &pt, kn, sizeof kn);
                if (sweep_point_apply(&g_sweep, &pt, &c) < 0 || weft_config_validate(&c) < 0)
                    usage_error("scheduler %s with %d worker%s and the knobs given%s%s: %s", s.c_str(), w,
                                w == 1 ? "" : "s", pt.n ? " and swept (" : "", pt.n ? (std::string(kn) + ")").c_str() : "",
                                weft_last_error());
            }
        }
    }

    /* workloads, with an optional /VARIANT */
    std::vector<std::string> wls = o.workloads;
    if (wls.empty() && o.services.empty()) { /* --service alone runs only the services */
        wls = workload_names();
        wls.insert(wls.begin(), "floor");
    }
    g_workload_specs = wls;
    for (const std::string &spec_w : wls) {
        size_t slash = spec_w.find('/');
        std::string name = spec_w.substr(0, slash);
        if (name == "floor") {
            g_floor = true;
            std::string v = slash == std::string::npos ? "" : spec_w.substr(slash + 1);
            if (v != "" && v != "spawn" && v != "yield")
                usage_error("--workloads: floor has the variants spawn and yield (got '%s')", spec_w.c_str());
            for (const char *fv : {"spawn", "yield"})
                if ((v.empty() || v == fv) &&
                    std::find(g_floor_variants.begin(), g_floor_variants.end(), fv) == g_floor_variants.end())
                    g_floor_variants.push_back(fv);
            continue;
        }
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

    g_repetitions = o.user_repetitions ? o.user_repetitions
                    : (o.child || o.launches > 1 || o.peers_set) ? kLaunchRepetitions[o.profile]
                                                                 : kProfileRepetitions[o.profile];

    /* --benchmark_filter: Google Benchmark takes an extended regex and, when
     * it does not compile, runs nothing and exits 0 */
    if (!o.filter.empty()) {
        std::string f = o.filter[0] == '-' ? o.filter.substr(1) : o.filter;
        try {
            std::regex re(f, std::regex::extended);
        } catch (const std::regex_error &e) {
            usage_error("--benchmark_filter=%s: not an extended regular expression (%s)", o.filter.c_str(),
                        e.what());
        }
    }
    /* --benchmark_out: its directory must exist, before anything runs */
    if (o.out_given) {
        size_t sl = o.out.rfind('/');
        std::string dir = sl == std::string::npos ? "." : sl == 0 ? "/" : o.out.substr(0, sl);
        struct stat sb;
        if (stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode))
            usage_error("--benchmark_out=%s: the directory %s does not exist", o.out.c_str(), dir.c_str());
        if (access(dir.c_str(), W_OK) != 0)
            usage_error("--benchmark_out=%s: the directory %s is not writable", o.out.c_str(), dir.c_str());
    }

    /* rows: the floor first, then workload, variant, scheduler, workers */
    for (const std::string &fv : g_floor_variants) {
        row r;
        r.name = std::string("floor/native/workers:1") + (fv == "yield" ? "/yield" : "");
        r.workload = "floor";
        r.floor = fv;
        r.wl = nullptr;
        r.variant = fv == "yield" ? "yield" : "";
        r.scheduler = "native";
        r.workers = 1;
        /* the same work as the rows it is the floor of */
        const weft_workload *base = weft_workload_find(fv == "yield" ? "yield_many" : "spawn_many");
        r.params.assign((size_t)WEFT_WL_MAX_PARAMS, 0);
        weft_workload_defaults(base, o.profile, r.params.data());
        for (const selection &sel : g_selected)
            if (sel.wl == base) r.params = sel.params;
        for (const std::string &p : o.params)
            if (p.compare(0, strlen(base->name) + 1, std::string(base->name) + ".") == 0) {
                size_t eq = p.find('=');
                std::string pname = p.substr(strlen(base->name) + 1, eq - strlen(base->name) - 1);
                weft_workload_set_param(base, r.params.data(), pname.c_str(), p.substr(eq + 1).c_str());
            }
        r.iterations = iterations_for(base, o.profile);
        g_rows.push_back(r);
    }
    for (const selection &sel : g_selected)
        for (const std::string &v : sel.variants)
            for (const std::string &s : g_schedulers) {
                std::vector<int> ws = g_single_worker.count(s) ? std::vector<int>{1} : g_workers;
                std::vector<sweep_point> pts((size_t)sweep_points(&g_sweep, s.c_str(), nullptr, 0));
                sweep_points(&g_sweep, s.c_str(), pts.data(), (int)pts.size());
                for (int w : ws)
                    for (const sweep_point &pt : pts) {
                        row r;
                        char suffix[512];
                        sweep_point_suffix(&g_sweep, &pt, suffix, sizeof suffix);
                        r.name = std::string(sel.wl->name) + "/" + s + "/workers:" + std::to_string(w) +
                                 (v.empty() ? "" : "/" + v) + (pt.n ? "/" + std::string(suffix) : "");
                        r.wl = sel.wl;
                        r.workload = sel.wl->name;
                        r.variant = v;
                        r.scheduler = s;
                        r.workers = w;
                        r.params = sel.params;
                        r.iterations = iterations_for(sel.wl, o.profile);
                        r.point = pt;
                        g_rows.push_back(r);
                    }
            }
    /* services: service:NAME/SCHEDULER/workers:N[/knobs:...], one run of the service per iteration */
    for (size_t i = 0; i < g_services.size(); i++)
        for (const std::string &s : g_schedulers) {
            std::vector<int> ws = g_single_worker.count(s) ? std::vector<int>{1} : g_workers;
            std::vector<sweep_point> pts((size_t)sweep_points(&g_sweep, s.c_str(), nullptr, 0));
            sweep_points(&g_sweep, s.c_str(), pts.data(), (int)pts.size());
            for (int w : ws)
                for (const sweep_point &pt : pts) {
                    row r;
                    char suffix[512];
                    sweep_point_suffix(&g_sweep, &pt, suffix, sizeof suffix);
                    r.workload = std::string("service:") + g_services[i]->name;
                    r.name = r.workload + "/" + s + "/workers:" + std::to_string(w) +
                             (pt.n ? "/" + std::string(suffix) : "");
                    r.wl = nullptr;
                    r.scheduler = s;
                    r.workers = w;
                    r.iterations = 1;
                    r.point = pt;
                    r.service = (int)i;
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
               iterations_for(w, WEFT_PROFILE_QUICK), iterations_for(w, WEFT_PROFILE_STANDARD),
               iterations_for(w, WEFT_PROFILE_FULL));
        printf("      ranked by: %s, %s is better\n", w->rank_metric, w->rank_better);
        if (w->standard_trim && *w->standard_trim) printf("      standard profile: %s\n", w->standard_trim);
    }
    printf("  floor  [floor; unit: task / yield]\n      %s\n", kFloorDescription);
    printf("\nSchedulers:\n");
    for (int i = 0; weft_scheduler_name(i); i++) {
        const char *d = weft_scheduler_describe(i);
        printf("  %-8s %s\n", weft_scheduler_name(i), d ? d : "");
    }
    printf("\nKnobs (--knob NAME=VALUE; defaults shown; from the core's and each scheduler's own table):\n");
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
        /* which schedulers read it, unless all of them do */
        std::vector<std::string> has;
        int nsched = 0;
        for (int i = 0; weft_scheduler_name(i); i++, nsched++)
            if (sweep_knob_applies(weft_scheduler_name(i), name.c_str())) has.push_back(weft_scheduler_name(i));
        std::string only = (int)has.size() == nsched ? "" : "  [" + join(has, ", ") + "]";
        const char *doc = sweep_knob_doc(name.c_str());
        if (name == "scheduler" || name == "workers")
            printf("  %-28s (use --%s)\n", tok.c_str(), name == "scheduler" ? "schedulers" : "workers");
        else if (name == "topology" || name == "pin")
            printf("  %-28s (same as --%s)%s\n", tok.c_str(), name.c_str(), only.c_str());
        else
            printf("  %-28s %s%s\n", tok.c_str(), doc ? doc : "", only.c_str());
        if (sp == std::string::npos) break;
        start = sp + 1;
    }
    printf("\nProfiles: quick (%d repetitions), standard (%d), full (%d); per launch with --launches: "
           "%d / %d / %d\n", kProfileRepetitions[0], kProfileRepetitions[1], kProfileRepetitions[2],
           kLaunchRepetitions[0], kLaunchRepetitions[1], kLaunchRepetitions[2]);
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
    if (r.point.n && sweep_point_apply(&g_sweep, &r.point, &c) < 0) {
        *err = "knobs of " + r.name + ": " + weft_last_error();
        return nullptr;
    }
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
            g_progress.workload_of[r.name] = r.workload;
        }
        g_progress.known = true;
    } catch (const std::regex_error &) {
        g_progress.known = false;
        for (const row &r : g_rows) g_progress.workload_of[r.name] = r.workload;
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

/* ---- the floor: the task loop with no runtime -------------------------------------- */

struct floor_task {
    floor_task *next;
    void (*fn)(floor_task *, uint64_t *);
    uint64_t left; /* yields still to make (the yield floor) */
    char pad[64 - 2 * sizeof(void *) - sizeof(uint64_t)];
};
static_assert(sizeof(floor_task) == 64, "the floor's task is 64 bytes");

__attribute__((noinline)) void floor_call(floor_task *t, uint64_t *ran)
{
    (void)t;
    ++*ran;
}

__attribute__((noinline)) void floor_yield(floor_task *t, uint64_t *ran)
{
    ++*ran;
    t->left--;
}

/* One iteration of the floor row; the same self-check rules as a workload:
 * every task (every yield) ran exactly once. */
int floor_run(const row &r, weft_wl_result *out)
{
    memset(out, 0, sizeof *out);
    void (*volatile call)(floor_task *, uint64_t *) = r.floor == "yield" ? floor_yield : floor_call;
    uint64_t ran = 0;
    bool drop = weft_workload_fault_injection();
    if (r.floor == "spawn") {
        uint64_t n = (uint64_t)r.params[0];
        auto t0 = std::chrono::steady_clock::now();
        floor_task *head = nullptr, **tail = &head;
        for (uint64_t i = 0; i < n; i++) {
            floor_task *t = (floor_task *)malloc(sizeof(floor_task));
            if (!t) return -ENOMEM;
            t->fn = call;
            t->next = nullptr;
            *tail = t;
            tail = &t->next;
        }
        while (head) {
            floor_task *t = head;
            head = t->next;
            if (!(drop && !head)) t->fn(t, &ran);
            free(t);
        }
        auto t1 = std::chrono::steady_clock::now();
        out->elapsed_ns = (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        out->units = (double)n;
        out->unit_name = "task";
        out->nchecks = 1;
        out->checks[0].name = "tasks_ran";
        out->checks[0].value = (double)ran;
        if (ran != n)
            snprintf(out->error, sizeof out->error, "tasks that ran: expected %llu, got %llu",
                     (unsigned long long)n, (unsigned long long)ran);
    } else {
        uint64_t tasks = (uint64_t)r.params[0], yields = (uint64_t)r.params[1];
        std::vector<floor_task *> all(tasks), ring(tasks + 1);
        for (uint64_t i = 0; i < tasks; i++) {
            all[i] = ring[i] = (floor_task *)malloc(sizeof(floor_task));
            if (!ring[i]) {
                for (uint64_t k = 0; k < i; k++) free(all[k]);
                return -ENOMEM;
            }
            ring[i]->fn = call;
            ring[i]->left = yields;
        }
        size_t cap = ring.size(), head = 0, tail = tasks;
        auto t0 = std::chrono::steady_clock::now();
        while (head != tail) {
            floor_task *t = ring[head];
            head = head + 1 == cap ? 0 : head + 1;
            if (t->left == 0) continue; /* done: leaves the ring */
            t->fn(t, &ran);
            ring[tail] = t;
            tail = tail + 1 == cap ? 0 : tail + 1;
        }
        auto t1 = std::chrono::steady_clock::now();
        for (floor_task *t : all) free(t); /* the ring's slots were reused */
        if (drop && ran) ran--;
        out->elapsed_ns = (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        out->units = (double)(tasks * yields);
        out->unit_name = "yield";
        out->nchecks = 1;
        out->checks[0].name = "yields";
        out->checks[0].value = (double)ran;
        if (ran != tasks * yields)
            snprintf(out->error, sizeof out->error, "yields: expected %llu, got %llu",
                     (unsigned long long)(tasks * yields), (unsigned long long)ran);
    }
    return out->error[0] ? -EPROTO : 0;
}

/* ---- one repetition of one row (both the Google Benchmark path and the child) ---- */

/* What the iterations of one repetition add up to. */
struct rep_accum {
    double units = 0, elapsed_ns = 0, p50 = 0, p99 = 0, p999 = 0;
    int nlat = 0, iterations = 0;
    std::vector<std::pair<std::string, double>> checks; /* in the workload's order */
    const char *unit_name = nullptr;
};

/* One run of a --service row's service (workloads/service.c): its latency,
 * throughput, SLO attainment and self-check quantities into acc. The seed is
 * --seed for every configuration and repetition, so all of them serve the
 * same requests (a paired comparison). */
bool service_iteration(const row &r, weft_runtime *rt, rep_accum *acc, std::string *err, uint64_t *elapsed)
{
    const svc_model *m = g_services[(size_t)r.service];
    svc_result res;
    g_watchdog.begin(&r);
    int rc = svc_run(m, rt, g_opt.seed, &res);
    g_watchdog.end();
    if (rc != 0) {
        *err = r.name + ": " + (res.error[0] ? res.error : strerror(rc < 0 ? -rc : rc));
        if (rt) g_cache.drop();
        return false;
    }
    *elapsed = (uint64_t)(res.elapsed_s * 1e9);
    if (!acc) return true;
    acc->iterations++;
    acc->units += (double)res.completed;
    acc->elapsed_ns += res.elapsed_s * 1e9;
    acc->unit_name = "request";
    acc->p50 += res.p50_us;
    acc->p99 += res.p99_us;
    acc->p999 += res.p999_us;
    acc->nlat++;
    const std::pair<const char *, double> q[] = {
        {"requests", (double)res.requests},
        {"req_per_s", res.req_per_s},
        {"slo_fraction", res.slo_fraction},
        {"slo_quantile", m->slo_quantile},
        {"slo_ms", m->slo_ms},
        {"slo_met", res.slo_met ? 1.0 : 0.0},
        {"service_p50_us", res.service_p50_us},
        {"service_p99_us", res.service_p99_us},
        {"max_us", res.max_us},
        {"completed_once", (double)res.completed},
        {"steps_compute", (double)res.ran.ops[SVC_OP_COMPUTE]},
        {"steps_sleep", (double)res.ran.ops[SVC_OP_SLEEP]},
        {"steps_fanout", (double)res.ran.ops[SVC_OP_FANOUT]},
        {"steps_blocking", (double)res.ran.ops[SVC_OP_BLOCKING]},
        {"steps_channel_hops", (double)res.ran.ops[SVC_OP_CHANNEL_HOPS]},
        {"steps_tcp_roundtrip", (double)res.ran.ops[SVC_OP_TCP_ROUNDTRIP]},
        {"hops", (double)res.ran.hops},
        {"tcp_bytes", (double)res.ran.tcp_bytes},
        {"compute_drawn_ms", (double)res.expected.compute_ns / 1e6},
        {"compute_ratio", res.compute_ratio},
        {"timeouts", (double)res.timeouts},
        {"generator_late_max_us", (double)res.max_lateness_ns / 1e3},
        {"seed", (double)res.seed},
    };
    for (auto &c : q) {
        auto it = std::find_if(acc->checks.begin(), acc->checks.end(),
                               [&](const std::pair<std::string, double> &x) { return x.first == c.first; });
        if (it == acc->checks.end())
            acc->checks.emplace_back(c.first, c.second);
        else
            it->second += c.second;
    }
    return true;
}

/* One iteration of r into acc: true, or false and the error message (the
 * runtime is then dropped: it may hold the failed iteration's tasks). */
bool run_iteration(const row &r, weft_runtime *rt, rep_accum *acc, std::string *err, uint64_t *elapsed)
{
    if (r.service >= 0) return service_iteration(r, rt, acc, err, elapsed);
    weft_wl_result res;
    memset(&res, 0, sizeof res);
    g_watchdog.begin(&r);
    int rc = r.floor.empty()
                 ? weft_workload_run(r.wl, rt, r.params.data(), r.variant.empty() ? nullptr : r.variant.c_str(), &res)
                 : floor_run(r, &res);
    g_watchdog.end();
    if (rc != 0) {
        std::string msg = res.error[0] ? res.error : weft_last_error();
        if (msg.empty()) msg = strerror(rc < 0 ? -rc : rc);
        *err = r.name + ": " + msg;
        if (rt) g_cache.drop();
        return false;
    }
    *elapsed = res.elapsed_ns;
    if (!acc) return true; /* the warm-up: not recorded */
    acc->iterations++;
    acc->units += res.units;
    acc->elapsed_ns += (double)res.elapsed_ns;
    if (res.unit_name) acc->unit_name = res.unit_name;
    if (res.has_latency) {
        acc->p50 += res.p50_us;
        acc->p99 += res.p99_us;
        acc->p999 += res.p999_us;
        acc->nlat++;
    }
    for (int i = 0; i < res.nchecks && i < WEFT_WL_MAX_CHECKS; i++) {
        if (!res.checks[i].name) continue;
        std::string n = res.checks[i].name;
        if (reserved_counter(n)) n = "check_" + n;
        auto it = std::find_if(acc->checks.begin(), acc->checks.end(),
                               [&](const std::pair<std::string, double> &c) { return c.first == n; });
        if (it == acc->checks.end())
            acc->checks.emplace_back(n, res.checks[i].value);
        else
            it->second += res.checks[i].value;
    }
    return true;
}

/* The counters of one repetition, per iteration (levels as they are). */
std::vector<std::pair<std::string, double>> rep_counters(const rep_accum &acc, weft_runtime *rt, double c2c)
{
    std::vector<std::pair<std::string, double>> c;
    double it = acc.iterations > 0 ? acc.iterations : 1;
    c.emplace_back("units", acc.units / it);
    if (acc.units > 0) c.emplace_back("ns_per_unit", acc.elapsed_ns / acc.units);
    if (acc.nlat > 0) {
        c.emplace_back("p50_us", acc.p50 / acc.nlat);
        c.emplace_back("p99_us", acc.p99 / acc.nlat);
        c.emplace_back("p999_us", acc.p999 / acc.nlat);
    }
    for (auto &ch : acc.checks) c.emplace_back(ch.first, ch.second / it);
    if (c2c > 0) c.emplace_back("c2c_rt_ns", c2c);
    if (rt) {
        weft_worker_stats total;
        weft_runtime_stats(rt, nullptr, 0, &total);
        for (int i = 0; i < weft_stat_field_count; i++) {
            const weft_stat_field &sf = weft_stat_fields[i];
            uint64_t v;
            memcpy(&v, (const char *)&total + sf.offset, sizeof v);
            c.emplace_back(sf.name, sf.is_max ? (double)v : (double)v / it);
        }
    }
    return c;
}

/* The warm-up iteration of each row, once per process, before its first
 * repetition: untimed, unrecorded, but checked like any other. */
std::set<std::string> g_warmed;

bool warm_up(const row &r, weft_runtime *rt, std::string *err)
{
    if (!g_warmed.insert(r.name).second) return true;
    uint64_t ns;
    return run_iteration(r, rt, nullptr, err, &ns);
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
    weft_runtime *rt = nullptr;
    if (r.floor.empty()) {
        rt = runtime_for(r, &err);
        if (!rt) {
            fail_row(st, r, err);
            return;
        }
    }
    if (!warm_up(r, rt, &err)) {
        fail_row(st, r, err);
        return;
    }
    rep_accum acc;
    acc.unit_name = r.wl ? r.wl->unit_name : nullptr;

    /* The machine's core-to-core round trip right now, outside the timed
     * iterations (manual time): see env_c2c_round_trip_ns. */
    double c2c = g_opt.c2c ? weftbench::env_c2c_round_trip_ns(20000) : -1;

    if (rt) weft_runtime_stats_reset(rt);
    for (auto _ : st) {
        uint64_t ns = 0;
        if (!run_iteration(r, rt, &acc, &err, &ns)) {
            fail_row(st, r, err);
            break;
        }
        st.SetIterationTime((double)ns / 1e9);
    }
    if (st.error_occurred()) return;

    /* Where the workers run, once per row when pinning was asked for: after
     * the first repetition, when every worker has bound itself. */
    if (rt && g_opt.pin != "none" && !g_cache.placement_shown) {
        char buf[8192];
        if (weft_runtime_describe_placement(rt, buf, sizeof buf) >= 0) fprintf(stderr, "%s", buf);
        g_cache.placement_shown = true;
    }
    for (auto &c : rep_counters(acc, rt, c2c)) st.counters[c.first] = benchmark::Counter(c.second);
    if (acc.unit_name) st.SetLabel(acc.unit_name);
}

/* ---- the console: like Google Benchmark's, with the XML summarised ----------------- */

std::vector<std::pair<std::string, std::string>> g_context;

void add_context(const std::string &k, const std::string &v)
{
    for (auto &kv : g_context)
        if (kv.first == k) {
            kv.second = v;
            return;
        }
    g_context.emplace_back(k, v);
}

/* weft_workload_defs: every workload's one definition, as JSON. */
json workload_defs_json()
{
    json defs = json::array();
    const char *pn[3] = {"quick", "standard", "full"};
    for (int i = 0; i < weft_workload_count(); i++) {
        const weft_workload *w = weft_workload_at(i);
        json d;
        d["name"] = w->name;
        d["description"] = w->description;
        d["unit"] = w->unit_name;
        d["kind"] = w->kind;
        d["kind_title"] = weft_workload_kind_title(w->kind);
        d["rank_metric"] = w->rank_metric;
        d["rank_better"] = w->rank_better;
        json vars = json::array(), svars = json::array();
        for (const char *const *v = w->variants; v && *v; v++) vars.push_back(*v);
        for (const char *const *v = w->standard_variants ? w->standard_variants : w->variants; v && *v; v++)
            svars.push_back(*v);
        d["variants"] = vars;
        d["standard_variants"] = svars;
        json it, params = json::array();
        for (int p = 0; p < 3; p++) it[pn[p]] = w->iterations[p];
        d["iterations"] = it;
        for (int k = 0; k < w->nparams; k++) {
            const weft_wl_param *wp = &w->params[k];
            json pj;
            pj["name"] = wp->name;
            pj["help"] = wp->help;
            for (int p = 0; p < 3; p++) pj[pn[p]] = wp->def[p];
            pj["min"] = wp->min;
            pj["max"] = wp->max;
            params.push_back(pj);
        }
        d["params"] = params;
        d["standard_trim"] = w->standard_trim;
        defs.push_back(d);
    }
    /* each --service is a workload of its own kind, ranked by its p99 latency
     * (the report ranks its configurations by SLO attainment, then throughput) */
    for (size_t i = 0; i < g_services.size(); i++) {
        const svc_model *m = g_services[i];
        json d;
        d["name"] = std::string("service:") + m->name;
        d["description"] = std::string("the service of ") + (i < g_opt.services.size() ? g_opt.services[i] : "?") +
                           " (" + (m->arrival == SVC_ARRIVAL_OPEN ? "open" : "closed") + " arrival; SLO " +
                           m->slo_field + " " + std::to_string(m->slo_ms) + ")";
        d["unit"] = "request";
        d["kind"] = "service";
        d["kind_title"] = "user services";
        d["rank_metric"] = "p99_us";
        d["rank_better"] = "lower";
        d["slo_quantile"] = m->slo_quantile;
        d["slo_ms"] = m->slo_ms;
        defs.push_back(d);
    }
    return defs;
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

    std::vector<std::string> identity_keys;
    for (auto &kv : weftbench::env_machine_identity()) {
        add_context(kv.first, kv.second);
        identity_keys.push_back(kv.first);
        if (kv.first == "weft_mem_total_kib") { /* the documented order */
            add_context("weft_numa_nodes", g_numa_nodes);
            identity_keys.push_back("weft_numa_nodes");
        }
    }
    add_context("weft_cpu_identity_keys", join(identity_keys, ","));
    add_context("weft_topology", g_topology_label);
    add_context("weft_topology_xml", g_topology_xml);
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
    add_context("weft_workload_defs", workload_defs_json().dump());
    add_context("weft_floor", kFloorDescription);
    {
        /* the scheduler counters every weft row carries, from the library's
         * own table (levels marked ":max"), so the reports never re-list them */
        std::vector<std::string> fields;
        for (int i = 0; i < weft_stat_field_count; i++)
            fields.push_back(std::string(weft_stat_fields[i].name) + (weft_stat_fields[i].is_max ? ":max" : ""));
        add_context("weft_stat_fields", join(fields, ","));
    }
    add_context("weft_seed", std::to_string(g_opt.seed));
    add_context("weft_warmup", "one untimed iteration per row per process, before its first repetition");
    add_context("weft_sweep", join(g_opt.sweeps, " "));
    {
        std::vector<std::string> sv;
        for (size_t i = 0; i < g_services.size() && i < g_opt.services.size(); i++)
            sv.push_back(std::string(g_services[i]->name) + "=" + g_opt.services[i]);
        add_context("weft_services", join(sv, " "));
    }
}

/* ---- seeded orders ---------------------------------------------------------------------- */

uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Fisher-Yates from a splitmix64 stream of (seed, a, b): the same order on
 * every machine and standard library (std::shuffle's is not specified). */
template <class T> void seeded_shuffle(std::vector<T> &v, uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t st = mix64(mix64(mix64(seed) ^ a) ^ (b * 0x2545f4914f6cdd1dull));
    for (size_t i = v.size(); i > 1; i--) {
        st = mix64(st);
        size_t j = (size_t)(st % i);
        std::swap(v[i - 1], v[j]);
    }
}

json context_json()
{
    json c = json::object();
    for (auto &kv : g_context) c[kv.first] = kv.second;
    return c;
}

/* Google Benchmark's own context keys that readers use (date, host, CPUs). */
void add_gb_like_context(json &c)
{
    time_t now = time(nullptr);
    struct tm tm;
    char buf[64];
    if (localtime_r(&now, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm)) c["date"] = buf;
    c["host_name"] = weftbench::env_hostname();
    c["num_cpus"] = weftbench::env_online_cpus();
    c["library_build_type"] = "weft-bench";
}

bool write_file(const std::string &path, const std::string &text)
{
    std::string tmp = path + ".tmp";
    {
        std::ofstream o(tmp);
        if (!o) return false;
        o << text;
        if (!o.good()) return false;
    }
    return rename(tmp.c_str(), path.c_str()) == 0;
}

/* ---- a child: one process of the coordinator's plan ------------------------------------- */

/* Runs every row (warm-up, then g_repetitions repetitions interleaved in an
 * order shuffled from seed, launch and repetition) and writes the protocol's
 * JSON to --benchmark_out (standard output without it). */
int run_child()
{
    json rows = json::array();
    int order = 0;
    std::vector<size_t> idx(g_rows.size());
    for (size_t i = 0; i < idx.size(); i++) idx[i] = i;
    for (int rep = 0; rep < g_repetitions; rep++) {
        std::vector<size_t> ord = idx;
        seeded_shuffle(ord, g_opt.seed, (uint64_t)g_opt.launch, (uint64_t)rep + 1);
        for (size_t i : ord) {
            const row &r = g_rows[i];
            json j;
            j["name"] = r.name;
            j["run_name"] = r.name;
            j["run_type"] = "iteration";
            j["repetitions"] = g_repetitions;
            j["repetition_index"] = rep;
            j["threads"] = 1;
            j["iterations"] = r.iterations;
            std::string err;
            auto f = g_failed.find(r.name);
            weft_runtime *rt = nullptr;
            bool ok = f == g_failed.end();
            if (!ok) err = "not run: an earlier repetition failed: " + f->second;
            if (ok && r.floor.empty()) {
                rt = runtime_for(r, &err);
                ok = rt != nullptr;
            }
            if (ok) ok = warm_up(r, rt, &err);
            if (ok && r.floor.empty()) { /* runtime_for again: a failed warm-up dropped it */
                rt = runtime_for(r, &err);
                ok = rt != nullptr;
            }
            rep_accum acc;
            acc.unit_name = r.wl ? r.wl->unit_name : "task";
            double c2c = -1;
            if (ok) {
                c2c = g_opt.c2c ? weftbench::env_c2c_round_trip_ns(2000) : -1;
                if (rt) weft_runtime_stats_reset(rt);
                for (int it = 0; it < r.iterations && ok; it++) {
                    uint64_t ns;
                    ok = run_iteration(r, rt, &acc, &err, &ns);
                }
                if (!ok && !g_failed.count(r.name)) {
                    g_failed[r.name] = err;
                    g_failed_order.push_back(r.name);
                }
            } else if (f == g_failed.end() && !g_failed.count(r.name)) {
                g_failed[r.name] = err;
                g_failed_order.push_back(r.name);
            }
            if (ok) {
                double mean_us = acc.elapsed_ns / 1000.0 / (acc.iterations ? acc.iterations : 1);
                j["real_time"] = mean_us;
                j["cpu_time"] = mean_us;
                j["time_unit"] = "us";
                for (auto &c : rep_counters(acc, rt, c2c)) j[c.first] = c.second;
                if (acc.unit_name) j["label"] = acc.unit_name;
            } else {
                j["error_occurred"] = true;
                j["error_message"] = err;
                j["real_time"] = 0.0;
                j["cpu_time"] = 0.0;
                j["time_unit"] = "us";
            }
            j["launch"] = g_opt.launch;
            j["order"] = order++;
            rows.push_back(j);
        }
    }
    g_cache.drop();
    json c = context_json();
    add_gb_like_context(c);
    c["weft_launch"] = std::to_string(g_opt.launch);
    json doc;
    doc["context"] = c;
    doc["benchmarks"] = rows;
    std::string text = doc.dump(2) + "\n";
    if (!g_opt.out_given) {
        fwrite(text.data(), 1, text.size(), stdout);
    } else if (!write_file(g_opt.out, text)) {
        fprintf(stderr, "weft-bench: error: cannot write %s: %s\n", g_opt.out.c_str(), strerror(errno));
        return 1;
    }
    for (const std::string &n : g_failed_order) fprintf(stderr, "weft-bench: FAILED %s\n", g_failed[n].c_str());
    return 0;
}

/* ---- the coordinator -------------------------------------------------------------------- */

struct peer_info {
    std::string runtime, program, path;
    bool present = false;
    std::string why; /* when not present */
    std::map<std::string, std::set<std::string>> params; /* workload -> parameter names */
};

const char *peer_program_of(const std::string &rt)
{
    if (rt == "tokio-mt" || rt == "tokio-ct") return "weft-peer-tokio";
    if (rt == "async-std") return "weft-peer-async-std";
    if (rt == "go") return "weft-peer-go";
    return nullptr;
}

const char *kJemallocPreload = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

bool is_rust_peer(const std::string &rt) { return rt == "tokio-mt" || rt == "tokio-ct" || rt == "async-std"; }

/* Runs argv with the extra environment, stdout to out_path (or /dev/null),
 * stderr inherited; kills it after limit_s. Returns the exit status as the
 * launches array records it: the code, or 128 + signal. */
/* The child running now: a SIGINT or SIGTERM to the coordinator ends it too. */
volatile sig_atomic_t g_child_pid = 0;

void forward_signal(int sig)
{
    pid_t p = (pid_t)g_child_pid;
    if (p > 0) kill(p, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

int run_process(const std::vector<std::string> &argv, const std::vector<std::pair<std::string, std::string>> &env,
                const std::string &stdout_path, double limit_s, bool *timed_out)
{
    *timed_out = false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        for (auto &kv : env) setenv(kv.first.c_str(), kv.second.c_str(), 1);
        int fd = open(stdout_path.empty() ? "/dev/null" : stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        std::vector<char *> av;
        for (const std::string &a : argv) av.push_back(const_cast<char *>(a.c_str()));
        av.push_back(nullptr);
        execv(av[0], av.data());
        fprintf(stderr, "weft-bench: cannot run %s: %s\n", av[0], strerror(errno));
        _exit(127);
    }
    g_child_pid = pid;
    auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) return 127;
        if (limit_s > 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > limit_s && !*timed_out) {
            *timed_out = true;
            kill(pid, SIGKILL);
        }
        usleep(2000);
    }
    g_child_pid = 0;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 127;
}

std::string self_exe()
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "weft-bench";
    buf[n] = 0;
    return buf;
}

/* Asks a peer program which workloads and parameters it implements: the
 * `--list` lines "  WORKLOAD  [..." and "      WORKLOAD.PARAM  ...". */
bool peer_list(peer_info *p, const std::string &tmpdir)
{
    std::string out = tmpdir + "/list-" + p->program + ".txt";
    bool to;
    int rc = run_process({p->path, "--list"}, {}, out, 30, &to);
    if (rc != 0) {
        p->why = p->program + " --list exited " + std::to_string(rc);
        return false;
    }
    std::ifstream in(out);
    std::string line;
    std::regex wl_re("^  ([a-z0-9_]+)  \\["), par_re("^      ([a-z0-9_]+)\\.([a-z0-9_]+) ");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, wl_re))
            p->params[m[1]];
        else if (std::regex_search(line, m, par_re))
            p->params[m[1]].insert(m[2]);
    }
    if (p->params.empty()) {
        p->why = p->program + " --list names no workload";
        return false;
    }
    return true;
}

struct process_plan {
    std::string workload; /* a weft workload name or "floor" */
    std::string runtime;  /* "weft" or a peer runtime */
    int workers = 0;      /* the peer's; 0 for weft (its rows have several) */
};

int run_coordinator(int argc, char **argv)
{
    (void)argc;
    auto run_t0 = std::chrono::steady_clock::now();
    const options &o = g_opt;
    signal(SIGINT, forward_signal);
    signal(SIGTERM, forward_signal);
    if (!o.out_given) usage_error("--launches/--peers: give --benchmark_out=FILE for the merged JSON");
    int L = o.launches > 0 ? o.launches : 1;
    std::string exe = self_exe();
    char tmpl[] = "/tmp/weft-bench-run.XXXXXX";
    std::string tmpdir = mkdtemp(tmpl) ? tmpl : "/tmp";

    /* the peers */
    const std::vector<std::string> known_peers = {"tokio-mt", "tokio-ct", "async-std", "go"};
    std::string pdir = o.peers_dir;
    if (pdir.empty()) {
        std::string d = exe.substr(0, exe.rfind('/'));
        pdir = d + "/../../peers"; /* build/release/bench -> build/peers, where make peers puts them */
    }
    std::vector<peer_info> peers;
    std::vector<std::string> missing, ran_peers;
    std::map<std::string, peer_info> by_program;
    for (const std::string &rt : o.peers) {
        if (!peer_program_of(rt))
            usage_error("--peers: unknown peer runtime '%s'; known: %s, or none", rt.c_str(),
                        join(known_peers, ", ").c_str());
    }
    for (const std::string &rt : o.peers) {
        peer_info p;
        p.runtime = rt;
        p.program = peer_program_of(rt);
        p.path = pdir + "/" + p.program;
        auto it = by_program.find(p.program);
        if (it != by_program.end()) {
            peer_info q = it->second;
            q.runtime = rt;
            p = q;
        } else if (access(p.path.c_str(), X_OK) != 0) {
            p.why = p.program + " not built (no " + p.path + "; make peers)";
        } else {
            p.present = peer_list(&p, tmpdir);
        }
        by_program[p.program] = p;
        if (!p.present) {
            fprintf(stderr, "weft-bench: peer %s left out: %s\n", rt.c_str(), p.why.c_str());
            missing.push_back(rt + ": " + p.why);
        } else {
            ran_peers.push_back(rt);
        }
        peers.push_back(p);
    }

    /* the plan: per workload, weft's child and one process per peer and worker count */
    std::vector<std::string> groups;
    for (const row &r : g_rows)
        if (std::find(groups.begin(), groups.end(), r.workload) == groups.end()) groups.push_back(r.workload);
    std::map<std::string, std::vector<process_plan>> procs;
    for (const std::string &w : groups) {
        procs[w].push_back({w, "weft", 0});
        for (const peer_info &p : peers) {
            if (!p.present || !p.params.count(w)) continue;
            std::vector<int> ws = p.runtime == "tokio-ct" ? std::vector<int>{1} : g_workers;
            for (int n : ws) procs[w].push_back({w, p.runtime, n});
        }
    }
    size_t total = 0;
    for (auto &kv : procs) total += kv.second.size();
    total *= (size_t)L;

    std::string preload = access(kJemallocPreload, R_OK) == 0 ? kJemallocPreload : "";
    add_context("weft_launches", std::to_string(L));
    add_context("weft_seed", std::to_string(o.seed));
    add_context("weft_launch_repetitions", std::to_string(g_repetitions));
    add_context("weft_repetitions", std::to_string(g_repetitions * L));
    add_context("weft_peers", join(ran_peers, ","));
    add_context("weft_peers_missing", join(missing, "; "));
    add_context("weft_peers_dir", pdir);
    add_context("weft_peer_ld_preload", preload.empty() ? "none (" + std::string(kJemallocPreload) + " not found)"
                                                        : "Rust peers: LD_PRELOAD=" + preload);
    add_context("weft_process_order",
                "launch rounds; per round the workloads shuffled from (seed, round); per workload its "
                "processes shuffled from (seed, round, workload)");

    fprintf(stderr, "weft-bench: coordinator: %d launch%s x %zu workload%s, %zu processes, seed %llu, "
                    "%d repetitions each%s%s\n",
            L, L == 1 ? "" : "es", groups.size(), groups.size() == 1 ? "" : "s", total,
            (unsigned long long)o.seed, g_repetitions, ran_peers.empty() ? "" : "; peers: ",
            join(ran_peers, ",").c_str());
    for (auto &kv : g_context)
        if (kv.first.compare(0, 9, "weft_cpu_") == 0 || kv.first == "weft_cores" || kv.first == "weft_kernel" ||
            kv.first == "weft_mem_total_kib" || kv.first == "weft_numa_nodes")
            fprintf(stderr, "  %s: %s\n", kv.first.c_str(), kv.second.c_str());

    /* the user's options that every weft child gets */
    std::vector<std::string> common = {"--profile=" + o.profile_name, "--schedulers=" + join(g_schedulers, ",")};
    {
        std::vector<std::string> ws;
        for (int w : g_workers) ws.push_back(std::to_string(w));
        common.push_back("--workers=" + join(ws, ","));
    }
    if (o.topology_set) common.push_back("--topology=" + o.topology);
    common.push_back("--pin=" + o.pin);
    for (auto &kv : o.knobs)
        if (kv.first != "topology" && kv.first != "pin") common.push_back("--knob=" + kv.first + "=" + kv.second);
    for (const std::string &sw : o.sweeps) common.push_back("--sweep=" + sw);
    common.push_back("--benchmark_repetitions=" + std::to_string(g_repetitions));
    common.push_back("--seed=" + std::to_string(o.seed));

    json rows = json::array(), launches = json::array();
    std::map<std::string, std::string> peer_ctx;
    int order = 0, pidx = 0;
    std::vector<std::string> failures;
    double limit = 1800;
    if (const char *v = getenv("WEFT_BENCH_TIMEOUT_S")) {
        double d = atof(v);
        if (d > 0) limit = d * 4;
    }
    for (int l = 0; l < L; l++) {
        std::vector<std::string> worder = groups;
        seeded_shuffle(worder, o.seed, (uint64_t)l, 0);
        for (size_t gi = 0; gi < worder.size(); gi++) {
            const std::string &w = worder[gi];
            std::vector<process_plan> pl = procs[w];
            size_t wpos = (size_t)(std::find(groups.begin(), groups.end(), w) - groups.begin());
            seeded_shuffle(pl, o.seed, (uint64_t)l, 1000 + wpos);
            for (const process_plan &pp : pl) {
                std::string out = tmpdir + "/p" + std::to_string(pidx) + ".json";
                std::vector<std::string> av;
                std::vector<std::pair<std::string, std::string>> env;
                std::string stdout_path;
                if (pp.runtime == "weft") {
                    av = {exe, "--child", "--launch=" + std::to_string(l), "--benchmark_out=" + out};
                    av.insert(av.end(), common.begin(), common.end());
                    if (w.compare(0, 8, "service:") == 0) { /* the service's own child: only it */
                        for (size_t si = 0; si < g_services.size(); si++)
                            if (w == std::string("service:") + g_services[si]->name)
                                av.push_back("--service=" + o.services[si]);
                    } else {
                        std::vector<std::string> specs;
                        for (const std::string &sp : g_workload_specs)
                            if (sp.substr(0, sp.find('/')) == w) specs.push_back(sp);
                        av.push_back("--workloads=" + join(specs, ","));
                    }
                    for (const std::string &p : o.params) {
                        std::string pw = p.substr(0, p.find('.'));
                        if (pw == w || (w == "floor" && (pw == "spawn_many" || pw == "yield_many")))
                            av.push_back("--param=" + p);
                    }
                    env.emplace_back("WEFT_BENCH_QUIET", "1");
                } else {
                    const peer_info *pi = nullptr;
                    for (const peer_info &p : peers)
                        if (p.runtime == pp.runtime) pi = &p;
                    av = {pi->path, "--runtime=" + pp.runtime, "--workers=" + std::to_string(pp.workers),
                          "--profile=" + o.profile_name, "--workloads=" + w,
                          "--repetitions=" + std::to_string(g_repetitions), "--seed=" + std::to_string(o.seed),
                          "--launch=" + std::to_string(l), "--out=" + out};
                    /* the same work by construction: weft's parameters and iterations */
                    const selection *sel = nullptr;
                    for (const selection &sx : g_selected)
                        if (w == sx.wl->name) sel = &sx;
                    if (sel) {
                        av.push_back("--iterations=" + w + "=" + std::to_string(iterations_for(sel->wl, o.profile)));
                        const std::set<std::string> &known = pi->params.at(w);
                        for (int k = 0; k < sel->wl->nparams; k++)
                            if (known.count(sel->wl->params[k].name))
                                av.push_back("--param=" + w + "." + sel->wl->params[k].name + "=" +
                                             std::to_string((long long)sel->params[(size_t)k]));
                    }
                    if (is_rust_peer(pp.runtime) && !preload.empty()) env.emplace_back("LD_PRELOAD", preload);
                }
                fprintf(stderr, "[%d/%zu] launch %d: %s on %s%s (%.0f s so far)\n", pidx + 1, total, l, w.c_str(),
                        pp.runtime.c_str(),
                        pp.workers ? ("/workers:" + std::to_string(pp.workers)).c_str() : "",
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count());
                double cal = weftbench::env_calibration_ns();
                double c2c = weftbench::env_c2c_round_trip_ns(2000);
                weftbench::cpu_times before = weftbench::env_cpu_times();
                double ts = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count();
                bool timed_out = false;
                int st = run_process(av, env, stdout_path, limit, &timed_out);
                double te = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count();
                weftbench::cpu_times after = weftbench::env_cpu_times();
                json lj;
                lj["process"] = pidx;
                lj["launch"] = l;
                lj["runtime"] = pp.runtime;
                lj["workers"] = pp.workers ? json(pp.workers) : json(nullptr);
                lj["workload"] = w;
                lj["calibration_ns"] = cal;
                lj["c2c_rt_ns"] = c2c > 0 ? json(c2c) : json(nullptr);
                double sp = weftbench::env_steal_pct(before, after);
                lj["steal_pct"] = sp >= 0 ? json(sp) : json(nullptr);
                double la = weftbench::env_loadavg1();
                lj["loadavg1"] = la >= 0 ? json(la) : json(nullptr);
                lj["t_start"] = ts;
                lj["t_end"] = te;
                lj["exit_status"] = st;
                std::string what = w + " on " + pp.runtime +
                                   (pp.workers ? "/workers:" + std::to_string(pp.workers) : std::string()) +
                                   " (launch " + std::to_string(l) + ")";
                json doc;
                bool read_ok = false;
                if (st == 0) {
                    std::ifstream in(out);
                    try {
                        doc = json::parse(in);
                        read_ok = doc.contains("benchmarks") && doc["benchmarks"].is_array();
                        if (!read_ok) failures.push_back(what + ": its JSON has no benchmarks array");
                    } catch (const std::exception &e) {
                        failures.push_back(what + ": its JSON does not parse: " + e.what());
                    }
                } else {
                    failures.push_back(what + ": exit status " + std::to_string(st) +
                                       (timed_out ? " (killed after " + std::to_string((int)limit) + " s)" : ""));
                }
                if (read_ok) {
                    std::vector<json> rs(doc["benchmarks"].begin(), doc["benchmarks"].end());
                    std::stable_sort(rs.begin(), rs.end(), [](const json &a, const json &b) {
                        return a.value("order", 0.0) < b.value("order", 0.0);
                    });
                    for (json &r : rs) {
                        if (r.contains("order")) r["process_order"] = r["order"];
                        r["launch"] = l;
                        r["order"] = order++;
                        r["process"] = pidx;
                        r["runtime"] = pp.runtime;
                        rows.push_back(r);
                    }
                    if (pp.runtime != "weft" && doc.contains("context") && doc["context"].is_object())
                        for (auto it = doc["context"].begin(); it != doc["context"].end(); ++it) {
                            const std::string &k = it.key();
                            if (k.compare(0, 5, "peer_") != 0) continue;
                            std::string mk = "peer_" + pp.runtime + "_" + k.substr(5);
                            if (!peer_ctx.count(mk))
                                peer_ctx[mk] = it.value().is_string() ? it.value().get<std::string>()
                                                                      : it.value().dump();
                        }
                }
                launches.push_back(lj);
                remove(out.c_str());
                pidx++;
            }
        }
    }
    rmdir(tmpdir.c_str());

    json c = context_json();
    add_gb_like_context(c);
    c["executable"] = exe;
    for (auto &kv : peer_ctx) c[kv.first] = kv.second;
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_t0).count();
    c["weft_wall_s"] = std::to_string(wall);
    json doc;
    doc["context"] = c;
    doc["benchmarks"] = rows;
    doc["launches"] = launches;
    if (!write_file(o.out, doc.dump(1) + "\n")) {
        fprintf(stderr, "weft-bench: error: cannot write %s: %s\n", o.out.c_str(), strerror(errno));
        return 1;
    }
    size_t nerr = 0;
    std::set<std::string> names;
    for (const json &r : rows) {
        names.insert(r.value("run_name", std::string()));
        if (r.value("error_occurred", false)) nerr++;
    }
    fprintf(stderr, "weft-bench: %zu rows (%zu samples, %zu error rows) from %d processes in %d launch%s: "
                    "wall time %.1f s; merged into %s\n",
            names.size(), rows.size(), nerr, pidx, L, L == 1 ? "" : "es", wall, o.out.c_str());
    for (const std::string &f : failures) fprintf(stderr, "weft-bench: FAILED process: %s\n", f.c_str());
    bool weft_failed = false;
    for (const json &lj : launches)
        if (lj["runtime"] == "weft" && lj["exit_status"] != 0) weft_failed = true;
    (void)argv;
    return weft_failed ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
    /* one definition per workload: a definition without a field stops here */
    if (weft_workload_check_registry() < 0) {
        fprintf(stderr, "weft-bench: error: %s\n", weft_last_error());
        return 2;
    }
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
        if (g_opt.list_json)
            printf("%s\n", workload_defs_json().dump(2).c_str());
        else
            print_list();
        return 0;
    }
    resolve_options();
    bool coordinator = !g_opt.child && (g_opt.launches > 1 || (g_opt.peers_set && !g_opt.peers.empty()));
    if (g_opt.child || coordinator) {
        /* the other Google Benchmark flags mean nothing here: refuse them */
        for (size_t i = 1; i < gb_args.size(); i++) {
            std::string a = gb_args[i];
            if (a.compare(0, 23, "--benchmark_repetitions") == 0 || a.compare(0, 15, "--benchmark_out") == 0 ||
                a.compare(0, 18, "--benchmark_format") == 0 || a.compare(0, 17, "--benchmark_color") == 0)
                continue;
            usage_error("%s: not with --launches/--peers (the coordinator runs its own processes)", gb_args[i]);
        }
        record_context();
        if (!g_opt.child) add_context("weft_workloads", join(g_workload_specs, ","));
        const char *fi = getenv("WEFT_BENCH_FAULT_INJECTION");
        if (fi && *fi && strcmp(fi, "0") != 0) {
            weft_workload_set_fault_injection(true);
            add_context("weft_fault_injection", "1");
        }
        if (g_opt.child) {
            g_watchdog.start();
            return run_child();
        }
        return run_coordinator(argc, argv);
    }

    int gargc = (int)gb_args.size();
    gb_args.push_back(nullptr);
    benchmark::Initialize(&gargc, gb_args.data());
    if (benchmark::ReportUnrecognizedArguments(gargc, gb_args.data())) {
        fprintf(stderr, "weft-bench: error: unrecognized argument (above); weft's own flags are --profile, "
                        "--workloads, --schedulers, --workers, --topology, --pin, --knob, --sweep, --service, --param, --launches, "
                        "--seed, --peers, --peers-dir, --list, --help; Google Benchmark's are listed by --help\n");
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
    add_context("weft_launches", "1");
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
    for (auto &kv : g_context) benchmark::AddCustomContext(kv.first, kv.second);
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
