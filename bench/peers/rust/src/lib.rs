//! What the two peer programs share: the workload table (parameters and
//! iterations per profile, the same as weft's `weft-bench --list`), the
//! command line of docs/bench-protocol.md, the row loop (warm-up,
//! repetitions, rows shuffled per repetition from --seed), the JSON output,
//! fault injection and the runtime-independent parts of the workloads (the
//! UTS generator, the TCP load clients, busy work, percentiles).
//!
//! A runtime binary supplies one function that runs one iteration of a row
//! and returns an `Outcome`: its measured time, its units and the values its
//! self-check verified (or the first failed check).

pub mod io;
pub mod uts;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// ---- the workload table -------------------------------------------------------------

pub struct Param {
    pub name: &'static str,
    pub help: &'static str,
    /// quick / standard / full
    pub def: [i64; 3],
    pub min: i64,
    pub max: i64,
}

pub struct Workload {
    pub name: &'static str,
    pub unit: &'static str,
    pub description: &'static str,
    pub params: &'static [Param],
    /// iterations per repetition: quick / standard / full (weft's kIterations)
    pub iterations: [u64; 3],
    pub variants: &'static [&'static str],
}

const fn p(name: &'static str, help: &'static str, def: [i64; 3], min: i64, max: i64) -> Param {
    Param { name, help, def, min, max }
}

/// The order and the values of weft's workloads/*.c and bench/driver.cpp.
pub static WORKLOADS: &[Workload] = &[
    Workload { name: "spawn_many", unit: "task", iterations: [20, 30, 5], variants: &[],
        description: "from inside a task, spawn N tasks that count down a shared counter; the last signals",
        params: &[p("n", "tasks spawned", [1000, 10000, 100000], 1, 100000000)] },
    Workload { name: "yield_many", unit: "yield", iterations: [5, 4, 4], variants: &[],
        description: "from outside the runtime, spawn T tasks that each yield Y times, then signal",
        params: &[p("tasks", "tasks spawned", [50, 200, 200], 1, 10000000),
                  p("yields", "yields per task", [200, 1000, 1000], 0, 100000000)] },
    Workload { name: "ping_pong", unit: "round trip", iterations: [20, 100, 10], variants: &[],
        description: "P pings, each spawning a pong and exchanging two one-shot messages with it",
        params: &[p("pings", "ping tasks", [200, 1000, 10000], 1, 100000000)] },
    Workload { name: "chained_spawn", unit: "task", iterations: [50, 300, 40], variants: &[],
        description: "a task spawns a task ... D deep; the last one signals",
        params: &[p("depth", "chain length", [200, 1000, 10000], 0, 100000000)] },
    Workload { name: "spawn_remote", unit: "task", iterations: [1, 1, 1], variants: &[],
        description: "a thread outside the runtime spawns N empty tasks as fast as it can",
        params: &[p("n", "tasks spawned from outside", [10000, 100000, 1000000], 1, 100000000)] },
    Workload { name: "fanout_skew", unit: "task", iterations: [1, 1, 1], variants: &[],
        description: "one task spawns N tasks of W us busy work, no yields: only stealing spreads it",
        params: &[p("n", "tasks", [1000, 10000, 100000], 1, 100000000),
                  p("work_us", "busy work per task (us)", [5, 5, 5], 0, 1000000)] },
    Workload { name: "fib", unit: "call", iterations: [1, 1, 1], variants: &["join", "spawn2"],
        description: "naive recursive Fibonacci, fib(n-1) spawned as a task, fib(n-2) inline or spawned",
        params: &[p("n", "fib(n)", [20, 30, 35], 0, 60),
                  p("cutoff", "below this n, compute sequentially", [2, 2, 2], 2, 60)] },
    Workload { name: "uts", unit: "node", iterations: [1, 1, 1], variants: &["T1", "T3"],
        description: "Unbalanced Tree Search (T1 geometric, T3 binomial): a task per node",
        params: &[p("mode", "0: await children's join handles, 1: count without awaiting", [0, 0, 0], 0, 1),
                  p("quick_tree", "1: the small tree of the same generator (T1-quick, T3-quick)", [1, 0, 0], 0, 1)] },
    Workload { name: "timer_storm", unit: "timer", iterations: [1, 1, 1], variants: &[],
        description: "from inside a task, spawn N tasks; each sleeps until now + d_i (d_i pseudo-random in [0, D], fixed seed) and records lateness = wake - deadline",
        params: &[p("n", "timer tasks", [5000, 100000, 1000000], 1, 100000000),
                  p("max_delay_us", "D: deadlines are drawn from [0, D] (us)", [20000, 50000, 100000], 0, 3600000000)] },
    Workload { name: "timeout_cancel", unit: "arm+cancel", iterations: [1, 1, 1], variants: &[],
        description: "N times: arm a 10 s timeout around a request that is pending, then complete it so the timeout is cancelled (split over T tasks)",
        params: &[p("n", "arm+cancel pairs", [20000, 1000000, 10000000], 1, 1000000000),
                  p("tasks", "tasks sharing the pairs", [16, 16, 16], 1, 100000)] },
    Workload { name: "interval_jitter", unit: "tick", iterations: [1, 1, 1], variants: &[],
        description: "K tasks each tick an interval of period P for L (burst policy: tick k at start + k P); jitter = delivery - scheduled time",
        params: &[p("tasks", "K: interval tasks", [16, 16, 16], 1, 100000),
                  p("period_us", "P: interval period (us)", [1000, 1000, 1000], 1, 60000000),
                  p("duration_ms", "L: how long each task ticks (ms)", [100, 1000, 10000], 1, 3600000)] },
    Workload { name: "tcp_echo", unit: "request", iterations: [1, 1, 1], variants: &[],
        description: "closed-loop echo on 127.0.0.1: C connections from T client threads outside the runtime, each sends S bytes and waits for the echo, R times",
        params: &[p("conns", "C: connections", [8, 64, 256], 1, 10000),
                  p("msg_bytes", "S: message size (bytes)", [64, 64, 64], 1, 16 << 20),
                  p("requests", "R: requests per connection", [100, 1000, 10000], 1, 100000000),
                  p("client_threads", "T: client threads (outside the runtime)", [2, 2, 2], 1, 64)] },
    Workload { name: "tcp_stream", unit: "byte", iterations: [1, 1, 1], variants: &[],
        description: "one connection streams B bytes through an echo task and back (writer and reader threads outside the runtime); checksum and byte count must match",
        params: &[p("bytes", "B: bytes streamed each way", [8 << 20, 256 << 20, 1 << 30], 1, 1 << 40)] },
    Workload { name: "blocking_mix", unit: "short task", iterations: [1, 1, 1], variants: &[],
        description: "S short tasks (sleep 1 ms, done) while J spawn_blocking jobs of CPU work keep the pool busy; latency = completion - (spawn + sleep), jobs joined",
        params: &[p("short_tasks", "S: short async tasks", [200, 1000, 10000], 1, 10000000),
                  p("sleep_us", "each short task's sleep (us)", [1000, 1000, 1000], 0, 60000000),
                  p("blocking_jobs", "J: spawn_blocking jobs", [8, 64, 256], 0, 100000),
                  p("blocking_us", "CPU work per blocking job (us)", [2000, 10000, 10000], 0, 60000000)] },
];

pub const PROFILES: [&str; 3] = ["quick", "standard", "full"];
const REPETITIONS: [u64; 3] = [3, 9, 15];

/// One row's parameter values, by the names of `Workload::params`.
#[derive(Clone)]
pub struct Params(Vec<(&'static str, i64)>);

impl Params {
    pub fn get(&self, name: &str) -> i64 {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no parameter {}", name))
    }
}

// ---- what one iteration returns -----------------------------------------------------

pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

/// Percentiles by nearest rank (weft's hist_percentile rule) over samples in ns.
pub fn latency_of(samples: &mut [u64]) -> Latency {
    samples.sort_unstable();
    let pct = |p: f64| -> f64 {
        let n = samples.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((p * n as f64 / 100.0).ceil() as usize).clamp(1, n);
        samples[rank - 1] as f64 / 1000.0
    };
    Latency { p50_us: pct(50.0), p99_us: pct(99.0), p999_us: pct(99.9) }
}

#[derive(Default)]
pub struct Outcome {
    pub elapsed: Duration,
    pub units: f64,
    pub checks: Vec<(&'static str, f64)>,
    pub latency: Option<Latency>,
    /// the first failed self-check
    pub error: Option<String>,
}

impl Outcome {
    pub fn new(elapsed: Duration, units: f64) -> Self {
        Outcome { elapsed, units, ..Default::default() }
    }
    /// Records a verified quantity under weft's counter name.
    pub fn check(&mut self, name: &'static str, value: f64) -> &mut Self {
        self.checks.push((name, value));
        self
    }
    /// Fails the iteration unless got == want (keeps the first failure).
    pub fn expect_eq(&mut self, what: &str, got: i64, want: i64) -> &mut Self {
        if got != want {
            self.fail(format!("{}: expected {}, got {}", what, want, got));
        }
        self
    }
    pub fn fail(&mut self, msg: String) -> &mut Self {
        if self.error.is_none() {
            self.error = Some(msg);
        }
        self
    }
    pub fn take(&mut self) -> Outcome {
        std::mem::take(self)
    }
}

// ---- shared helpers for the workloads -------------------------------------------------

/// `WEFT_BENCH_FAULT_INJECTION=1`: every workload drops one unit of work.
pub fn fault() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 off, 2 on
    match STATE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var("WEFT_BENCH_FAULT_INJECTION").map_or(false, |v| v == "1");
            STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        s => s == 2,
    }
}

/// How a runtime delivers the one completion message of an iteration.
pub trait Signal: Send + Sync {
    fn signal(&self);
}

/// Shared by the tasks of one iteration (weft's `shared`): a count-down whose
/// last decrement signals, and separate counters of what actually ran.
pub struct Shared<S> {
    pub remaining: AtomicI64,
    pub ran: AtomicI64,
    pub signals: AtomicI64,
    done: S,
}

impl<S: Signal> Shared<S> {
    pub fn new(remaining: i64, done: S) -> Self {
        Shared { remaining: AtomicI64::new(remaining), ran: AtomicI64::new(0), signals: AtomicI64::new(0), done }
    }
    pub fn count_down(&self, n: i64) {
        // acq_rel: the task that takes it to zero sees every other task's counts
        if self.remaining.fetch_sub(n, Ordering::AcqRel) == n {
            self.signal();
        }
    }
    pub fn signal(&self) {
        self.signals.fetch_add(1, Ordering::Relaxed);
        self.done.signal();
    }
    pub fn ran(&self, n: i64) {
        self.ran.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicI64) -> i64 {
        c.load(Ordering::Acquire)
    }
}

/// Busy work of about `ns` nanoseconds (weft's wl_spin_ns: LCG steps until
/// the clock passes the end).
pub fn spin_ns(ns: u64) -> u64 {
    static SINK: AtomicU64 = AtomicU64::new(0);
    let end = Instant::now() + Duration::from_nanos(ns);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    loop {
        for _ in 0..64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
        if Instant::now() >= end {
            break;
        }
    }
    SINK.fetch_add(x, Ordering::Relaxed); // so the loop cannot be removed
    x
}

pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

/// Counts per OS thread (slot = order of first use, modulo 64): fanout_skew's
/// share of the tasks each worker ran.
pub struct PerThread(Vec<AtomicU64>);

impl PerThread {
    pub fn new() -> Self {
        PerThread((0..64).map(|_| AtomicU64::new(0)).collect())
    }
    pub fn add(&self) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local!(static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % 64);
        SLOT.with(|s| self.0[*s].fetch_add(1, Ordering::Relaxed));
    }
    /// The busiest thread's share of all counts: 1.0 = no spreading.
    pub fn max_share(&self) -> f64 {
        let v: Vec<u64> = self.0.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let total: u64 = v.iter().sum();
        if total == 0 { 1.0 } else { *v.iter().max().unwrap() as f64 / total as f64 }
    }
}

impl Default for PerThread {
    fn default() -> Self {
        Self::new()
    }
}

/// fib(n) by iteration: the expected result.
pub fn fib_iter(n: i64) -> i64 {
    let (mut a, mut b) = (0i64, 1i64);
    for _ in 0..n {
        let t = a + b;
        a = b;
        b = t;
    }
    a
}

pub fn fib_seq(n: i64) -> i64 {
    if n < 2 { n } else { fib_seq(n - 1) + fib_seq(n - 2) }
}

// ---- the command line --------------------------------------------------------------

/// What a runtime binary tells the harness about itself.
pub struct Peer {
    pub program: &'static str,
    pub runtimes: &'static [&'static str],
    pub versions: String,
    /// One "workload: ..." entry per workload the runtime cannot express exactly.
    pub differences: &'static [&'static str],
}

pub struct Row {
    pub workload: &'static Workload,
    pub variant: Option<&'static str>,
    pub params: Params,
    pub iterations: u64,
    pub name: String,
}

pub struct Options {
    pub runtime: String,
    pub workers: usize,
    profile: usize,
    workloads: Vec<&'static Workload>,
    repetitions: u64,
    params: HashMap<String, i64>,
    iterations: HashMap<String, u64>,
    seed: u64,
    launch: u64,
    out: Option<String>,
}

fn usage_error(program: &str, msg: &str) -> ! {
    eprintln!("{}: error: {}", program, msg);
    eprintln!("{}: usage: --runtime=NAME --workers=N --profile=quick|standard|full [--workloads=W,...] \
               [--repetitions=R] [--param=WORKLOAD.NAME=VALUE] [--iterations=WORKLOAD=K] [--seed=S] \
               [--launch=I] [--out=FILE] | --list", program);
    std::process::exit(2);
}

fn find_workload(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

fn parse_num<T: std::str::FromStr>(program: &str, flag: &str, v: &str) -> T {
    v.parse().unwrap_or_else(|_| usage_error(program, &format!("{}: '{}' is not a non-negative integer", flag, v)))
}

/// Parses the command line; prints the list and exits for --list.
pub fn parse_args(peer: &Peer) -> Options {
    let prog = peer.program;
    let mut o = Options { runtime: String::new(), workers: 0, profile: usize::MAX, workloads: Vec::new(),
        repetitions: 0, params: HashMap::new(), iterations: HashMap::new(), seed: 0, launch: 0, out: None };
    let mut list = false;
    let (mut param_args, mut iter_args) = (Vec::new(), Vec::new());
    for a in std::env::args().skip(1) {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (a.clone(), String::new()),
        };
        match k.as_str() {
            "--list" if v.is_empty() && !a.contains('=') => list = true,
            "--runtime" => o.runtime = v,
            "--workers" => o.workers = parse_num(prog, &k, &v),
            "--profile" => o.profile = PROFILES.iter().position(|p| *p == v)
                .unwrap_or_else(|| usage_error(prog, &format!("--profile: unknown profile '{}'; known: quick, standard, full", v))),
            "--workloads" => {
                for w in v.split(',') {
                    let wl = find_workload(w).unwrap_or_else(|| usage_error(prog, &format!(
                        "--workloads: unknown workload '{}'; known: {}", w,
                        WORKLOADS.iter().map(|w| w.name).collect::<Vec<_>>().join(", "))));
                    if !o.workloads.iter().any(|x| x.name == wl.name) {
                        o.workloads.push(wl);
                    }
                }
            }
            "--repetitions" => o.repetitions = parse_num(prog, &k, &v),
            "--param" => param_args.push(v),
            "--iterations" => iter_args.push(v),
            "--seed" => o.seed = parse_num(prog, &k, &v),
            "--launch" => o.launch = parse_num(prog, &k, &v),
            "--out" if !v.is_empty() => o.out = Some(v),
            _ => usage_error(prog, &format!("unknown or malformed argument '{}'", a)),
        }
    }
    for a in param_args {
        let bad = || usage_error(prog, &format!("--param={}: expected WORKLOAD.NAME=VALUE", a));
        let (key, val) = a.split_once('=').unwrap_or_else(bad);
        let (w, n) = key.split_once('.').unwrap_or_else(bad);
        let wl = find_workload(w).unwrap_or_else(|| usage_error(prog, &format!("--param: unknown workload '{}'", w)));
        let prm = wl.params.iter().find(|p| p.name == n).unwrap_or_else(|| usage_error(prog, &format!(
            "--param: {}: unknown parameter '{}'; its parameters: {}", w, n,
            wl.params.iter().map(|p| p.name).collect::<Vec<_>>().join(", "))));
        let v: i64 = val.parse().unwrap_or_else(|_| usage_error(prog, &format!("--param: {}.{}: '{}' is not an integer", w, n, val)));
        if v < prm.min || v > prm.max {
            usage_error(prog, &format!("--param: {}.{} = {} is outside {}..{} ({})", w, n, v, prm.min, prm.max, prm.help));
        }
        o.params.insert(key.to_string(), v);
    }
    for a in iter_args {
        let (w, k) = a.split_once('=').unwrap_or_else(|| usage_error(prog, &format!("--iterations={}: expected WORKLOAD=K", a)));
        find_workload(w).unwrap_or_else(|| usage_error(prog, &format!("--iterations: unknown workload '{}'", w)));
        let k: u64 = parse_num(prog, "--iterations", k);
        if k == 0 {
            usage_error(prog, "--iterations: K must be at least 1");
        }
        o.iterations.insert(w.to_string(), k);
    }
    if list {
        print_list(peer);
        std::process::exit(0);
    }
    if !peer.runtimes.contains(&o.runtime.as_str()) {
        usage_error(prog, &format!("--runtime: '{}' is not one of {}", o.runtime, peer.runtimes.join(", ")));
    }
    if o.workers == 0 || o.workers > 1024 {
        usage_error(prog, "--workers: expected 1..1024");
    }
    if o.runtime == "tokio-ct" && o.workers != 1 {
        usage_error(prog, "--workers: tokio-ct runs workers:1 only");
    }
    if o.profile == usize::MAX {
        usage_error(prog, "--profile is required (quick, standard or full)");
    }
    if o.repetitions == 0 {
        o.repetitions = REPETITIONS[o.profile];
    }
    if o.workloads.is_empty() {
        o.workloads = WORKLOADS.iter().collect();
    }
    o
}

fn print_list(peer: &Peer) {
    println!("{} ({}): workloads (parameter defaults per profile: quick / standard / full):", peer.program, peer.runtimes.join(", "));
    for w in WORKLOADS {
        println!("  {}  [unit: {}]\n      {}", w.name, w.unit, w.description);
        for p in w.params {
            println!("      {}.{:<16} {} / {} / {}   ({}..{}) {}", w.name, p.name, p.def[0], p.def[1], p.def[2], p.min, p.max, p.help);
        }
        if !w.variants.is_empty() {
            println!("      variants: {}", w.variants.join(" "));
        }
        println!("      iterations per repetition: quick {}, standard {}, full {}", w.iterations[0], w.iterations[1], w.iterations[2]);
    }
    println!("repetitions: quick 3, standard 9, full 15");
}

impl Options {
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for w in &self.workloads {
            let params = Params(w.params.iter().map(|p| {
                (p.name, *self.params.get(&format!("{}.{}", w.name, p.name)).unwrap_or(&p.def[self.profile]))
            }).collect());
            let iterations = *self.iterations.get(w.name).unwrap_or(&w.iterations[self.profile]);
            let variants: Vec<Option<&'static str>> =
                if w.variants.is_empty() { vec![None] } else { w.variants.iter().map(|v| Some(*v)).collect() };
            for variant in variants {
                let mut name = format!("{}/{}/workers:{}", w.name, self.runtime, self.workers);
                if let Some(v) = variant {
                    name = name + "/" + v;
                }
                rows.push(Row { workload: w, variant, params: params.clone(), iterations, name });
            }
        }
        rows
    }
}

// ---- the row loop and the JSON -------------------------------------------------------

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => { let _ = write!(o, "\\u{:04x}", c as u32); }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(x: f64) -> String {
    if x.is_finite() { format!("{:?}", x) } else { "null".into() }
}

/// What the process actually runs with (jemalloc only if it is mapped).
fn allocator() -> String {
    let preload = std::env::var("LD_PRELOAD").unwrap_or_default();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    if maps.contains("libjemalloc") {
        format!("jemalloc (LD_PRELOAD={})", preload)
    } else if !preload.is_empty() {
        format!("glibc malloc (LD_PRELOAD={} does not map jemalloc)", preload)
    } else {
        "glibc malloc".into()
    }
}

/// Fisher-Yates from splitmix64: the row order of repetition `rep`.
fn shuffled(n: usize, seed: u64, rep: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut s = splitmix64(seed ^ splitmix64(rep.wrapping_add(0x5eed)));
    for i in (1..n).rev() {
        s = splitmix64(s);
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
    v
}

/// One repetition of a row: K iterations, aggregated as weft's driver does
/// (units and checks per iteration on average, ns_per_unit over the whole
/// repetition, latency percentiles averaged over the iterations).
fn repetition(row: &Row, run: &mut dyn FnMut(&Row) -> Outcome) -> Result<String, String> {
    let (mut elapsed, mut units, mut nlat) = (0f64, 0f64, 0f64);
    let mut lat = [0f64; 3];
    let mut checks: Vec<(&'static str, f64)> = Vec::new();
    for _ in 0..row.iterations {
        let o = run(row);
        if let Some(e) = o.error {
            return Err(e);
        }
        elapsed += o.elapsed.as_nanos() as f64;
        units += o.units;
        if let Some(l) = &o.latency {
            lat[0] += l.p50_us;
            lat[1] += l.p99_us;
            lat[2] += l.p999_us;
            nlat += 1.0;
        }
        for (n, v) in o.checks {
            match checks.iter_mut().find(|c| c.0 == n) {
                Some(c) => c.1 += v,
                None => checks.push((n, v)),
            }
        }
    }
    let k = row.iterations as f64;
    let mean_us = elapsed / k / 1000.0;
    let mut s = format!("\"real_time\": {}, \"cpu_time\": {}, \"time_unit\": \"us\", \"units\": {}",
        json_num(mean_us), json_num(mean_us), json_num(units / k));
    if units > 0.0 {
        let _ = write!(s, ", \"ns_per_unit\": {}", json_num(elapsed / units));
    }
    if nlat > 0.0 {
        let _ = write!(s, ", \"p50_us\": {}, \"p99_us\": {}, \"p999_us\": {}",
            json_num(lat[0] / nlat), json_num(lat[1] / nlat), json_num(lat[2] / nlat));
    }
    for (n, v) in checks {
        let _ = write!(s, ", {}: {}", json_str(n), json_num(v / k));
    }
    let _ = write!(s, ", \"label\": {}", json_str(row.workload.unit));
    Ok(s)
}

/// Runs every row (warm-up, then R repetitions in shuffled order) and writes
/// the JSON. `run` runs one iteration of a row on the binary's runtime.
pub fn run_rows(peer: &Peer, o: &Options, run: &mut dyn FnMut(&Row) -> Outcome) {
    let rows = o.rows();
    let mut warm_errors: Vec<Option<String>> = Vec::new();
    for r in &rows {
        warm_errors.push(run(r).error);
    }
    let mut out = Vec::new();
    let mut order = 0u64;
    for rep in 0..o.repetitions {
        for i in shuffled(rows.len(), o.seed, rep) {
            let r = &rows[i];
            let head = format!("{{\"name\": {n}, \"run_name\": {n}, \"run_type\": \"iteration\", \"repetitions\": {}, \
                \"repetition_index\": {}, \"threads\": 1, \"iterations\": {}, \"launch\": {}, \"order\": {}",
                o.repetitions, rep, r.iterations, o.launch, order, n = json_str(&r.name));
            order += 1;
            let res = match &warm_errors[i] {
                Some(e) => Err(format!("warm-up: {}", e)),
                None => repetition(r, run),
            };
            match res {
                Ok(body) => out.push(format!("{}, {}}}", head, body)),
                Err(e) => {
                    let msg = format!("self-check failed: {}", e);
                    eprintln!("{}: {}: {}", peer.program, r.name, msg);
                    out.push(format!("{}, \"error_occurred\": true, \"error_message\": {}, \"real_time\": 0.0, \
                        \"cpu_time\": 0.0, \"time_unit\": \"us\"}}", head, json_str(&msg)));
                }
            }
        }
    }
    let params: Vec<String> = rows.iter().filter(|r| r.variant.map_or(true, |v| r.workload.variants[0] == v))
        .flat_map(|r| r.params.0.iter().map(move |(n, v)| format!("{}.{}={}", r.workload.name, n, v))).collect();
    let ctx = [
        ("peer_runtime", o.runtime.clone()),
        ("peer_program", peer.program.to_string()),
        ("peer_versions", peer.versions.clone()),
        ("peer_allocator", allocator()),
        ("peer_workers", o.workers.to_string()),
        ("peer_profile", PROFILES[o.profile].to_string()),
        ("peer_params", params.join(" ")),
        ("peer_seed", o.seed.to_string()),
        ("peer_launch", o.launch.to_string()),
        ("peer_differences", peer.differences.join("; ")),
    ];
    let mut j = String::from("{\n  \"context\": {\n");
    for (i, (k, v)) in ctx.iter().enumerate() {
        let _ = writeln!(j, "    {}: {}{}", json_str(k), json_str(v), if i + 1 < ctx.len() { "," } else { "" });
    }
    j.push_str("  },\n  \"benchmarks\": [\n");
    j.push_str(&out.iter().map(|r| format!("    {}", r)).collect::<Vec<_>>().join(",\n"));
    j.push_str("\n  ]\n}\n");
    match &o.out {
        Some(f) => {
            if let Err(e) = std::fs::write(f, j) {
                eprintln!("{}: cannot write {}: {}", peer.program, f, e);
                std::process::exit(1);
            }
        }
        None => print!("{}", j),
    }
}

// ---- per-task sample slots and the timer / blocking checks ---------------------------

/// One sample slot per task (u64::MAX = not written): no shared lock or
/// shared line per sample on the hot path, as weft's timer workloads.
pub struct Slots(Vec<AtomicU64>);

impl Slots {
    pub fn new(n: usize) -> Self {
        Slots((0..n).map(|_| AtomicU64::new(u64::MAX)).collect())
    }
    pub fn set(&self, i: usize, v: u64) {
        self.0[i].store(v, Ordering::Relaxed);
    }
    pub fn get(&self, i: usize) -> Option<u64> {
        let v = self.0[i].load(Ordering::Relaxed);
        if v == u64::MAX { None } else { Some(v) }
    }
    pub fn written(&self) -> Vec<u64> {
        (0..self.0.len()).filter_map(|i| self.get(i)).collect()
    }
}

/// Counters that the tasks of a timer or blocking workload add to.
#[derive(Default)]
pub struct Tally {
    pub early: AtomicI64,
    pub off_schedule: AtomicI64,
    pub pairs: AtomicI64,
    pub not_armed: AtomicI64,
    pub fired: AtomicI64,
    pub job_runs: AtomicI64,
    pub jobs_joined_ok: AtomicI64,
}

impl Tally {
    pub fn add(c: &AtomicI64, n: i64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicI64) -> i64 {
        c.load(Ordering::Relaxed)
    }
}

/// timer_storm's deadline offset of task i, in ns (weft: splitmix64(seed + i) mod (D + 1)).
pub fn storm_delay_ns(i: u64, max_delay_us: i64) -> u64 {
    splitmix64(0x7157 + i) % (max_delay_us as u64 * 1000 + 1)
}

pub fn timer_storm_outcome(elapsed: Duration, n: i64, late: &Slots, t: &Tally, signals: i64) -> Outcome {
    let mut s = late.written();
    let mut o = Outcome::new(elapsed, n as f64);
    let completed = s.len() as i64;
    o.latency = Some(latency_of(&mut s));
    o.check("timers_completed", completed as f64).check("woke_early", Tally::get(&t.early) as f64)
        .expect_eq("timers that woke before their deadline", Tally::get(&t.early), 0)
        .expect_eq("completion signals", signals, 1)
        .expect_eq("timers completed", completed, n);
    o.take()
}

pub fn timeout_cancel_outcome(elapsed: Duration, n: i64, t: &Tally) -> Outcome {
    let mut o = Outcome::new(elapsed, n as f64);
    let pairs = Tally::get(&t.pairs);
    o.check("pairs", pairs as f64).check("timers_fired", Tally::get(&t.fired) as f64)
        .expect_eq("arms that did not leave the timer pending", Tally::get(&t.not_armed), 0)
        .expect_eq("timeouts that fired instead of being cancelled", Tally::get(&t.fired), 0)
        .expect_eq("arm+cancel pairs", pairs, n);
    o.take()
}

/// The pairs of timeout_cancel's task t of `tasks` (task 0 one fewer under fault injection).
pub fn timeout_cancel_share(n: i64, tasks: i64, t: i64) -> i64 {
    n / tasks + i64::from(t < n % tasks) - i64::from(fault() && t == 0)
}

/// interval_jitter: ticks per task expected, ceil(L / P).
pub fn interval_expected(period_us: i64, duration_ms: i64) -> i64 {
    (duration_ms * 1_000_000 + period_us * 1000 - 1) / (period_us * 1000)
}

/// interval_jitter's checks: `ticks[t]` = ticks task t delivered before start + L.
pub fn interval_outcome(elapsed: Duration, tasks: i64, expected: i64, ticks: &Slots, jitter: &Slots, t: &Tally) -> Outcome {
    let mut s = jitter.written();
    let samples = s.len() as i64;
    let tol = (expected / 100).max(1);
    let (mut finished, mut total, mut worst) = (0i64, 0i64, None);
    for i in 0..tasks as usize {
        if let Some(c) = ticks.get(i) {
            let c = c as i64;
            finished += 1;
            total += c;
            if (c - expected).abs() > tol && worst.is_none() {
                worst = Some((i, c));
            }
        }
    }
    let mut o = Outcome::new(elapsed, total as f64);
    o.latency = Some(latency_of(&mut s));
    o.check("ticks", total as f64).check("ticks_per_task_expected", expected as f64)
        .check("early_ticks", Tally::get(&t.early) as f64)
        .expect_eq("interval tasks that finished", finished, tasks)
        .expect_eq("ticks delivered before their scheduled time", Tally::get(&t.early), 0)
        .expect_eq("ticks not at start + k * period", Tally::get(&t.off_schedule), 0)
        .expect_eq("jitter samples", samples, total);
    if let Some((i, c)) = worst {
        o.fail(format!("ticks of task {}: expected {} (+-{}), got {}", i, expected, tol, c));
    }
    o.take()
}

pub fn blocking_mix_outcome(elapsed: Duration, nshort: i64, njobs: i64, lat: &Slots, t: &Tally) -> Outcome {
    let mut s = lat.written();
    let completed = s.len() as i64;
    let mut o = Outcome::new(elapsed, nshort as f64);
    o.latency = Some(latency_of(&mut s));
    o.check("short_tasks_completed", completed as f64).check("blocking_jobs_ran", Tally::get(&t.job_runs) as f64)
        .expect_eq("short tasks that finished before spawn + sleep", Tally::get(&t.early), 0)
        .expect_eq("short tasks completed", completed, nshort)
        .expect_eq("blocking jobs that ran", Tally::get(&t.job_runs), njobs)
        .expect_eq("blocking jobs joined with their own result", Tally::get(&t.jobs_joined_ok), njobs);
    o.take()
}

/// uts's checks: against the sequential count of the same tree and the published counts.
pub fn uts_outcome(elapsed: Duration, got: uts::Counts, seq: uts::Counts, want: uts::Counts) -> Outcome {
    let mut o = Outcome::new(elapsed, got.nodes as f64);
    o.check("nodes", got.nodes as f64).check("depth", got.depth as f64).check("leaves", got.leaves as f64)
        .expect_eq("nodes vs the sequential count", got.nodes as i64, seq.nodes as i64)
        .expect_eq("leaves vs the sequential count", got.leaves as i64, seq.leaves as i64)
        .expect_eq("depth vs the sequential count", got.depth as i64, seq.depth as i64)
        .expect_eq("nodes vs the published count", got.nodes as i64, want.nodes as i64)
        .expect_eq("leaves vs the published count", got.leaves as i64, want.leaves as i64)
        .expect_eq("depth vs the published count", got.depth as i64, want.depth as i64);
    o.take()
}

/// fib's check: the result against the closed iteration; units = calls of the naive recursion.
pub fn fib_outcome(elapsed: Duration, n: i64, result: i64) -> Outcome {
    let mut o = Outcome::new(elapsed, (2 * fib_iter(n + 1) - 1) as f64);
    o.check("result", result as f64).expect_eq("fib result", result, fib_iter(n));
    o.take()
}
