package main

import (
	"fmt"
	"os"
	"sort"
	"time"
)

// The profiles, in weft's order (quick, standard, full).
var profileNames = []string{"quick", "standard", "full"}

// Repetitions per profile: weft-bench's kProfileRepetitions.
var profileRepetitions = [3]int{3, 9, 15}

// param is one workload parameter, named and bounded exactly as weft's
// (`weft-bench --list`), with its default per profile.
type param struct {
	name, help string
	def        [3]int64
	min, max   int64
}

// workload is one standard workload: weft's name, unit label, parameters
// and iterations per repetition (weft's definition; left out: one in every
// profile, filled in by init), and the function that runs one iteration.
type workload struct {
	name, desc, unit string
	params           []param
	iterations       [3]int
	variants         []string // nil: one row without a variant
	run              func(p params, variant string) result
	// differs says where the Go version departs from weft's definition
	// (empty: it does not); it goes into peer_differences.
	differs string
}

// params are the values of one workload's parameters, by name.
type params map[string]int64

var registry = []*workload{
	{name: "spawn_many", unit: "task",
		desc:       "from inside a goroutine, spawn N goroutines that count down a shared counter; the last signals",
		params:     []param{{"n", "tasks spawned", [3]int64{1000, 10000, 100000}, 1, 100000000}},
		iterations: [3]int{20, 30, 5}, run: runSpawnMany},
	{name: "yield_many", unit: "yield",
		desc: "from the main goroutine, spawn T goroutines that each runtime.Gosched() Y times, then signal",
		params: []param{{"tasks", "tasks spawned", [3]int64{50, 200, 200}, 1, 10000000},
			{"yields", "yields per task", [3]int64{200, 1000, 1000}, 0, 100000000}},
		iterations: [3]int{5, 4, 4}, run: runYieldMany,
		differs: "yield_many: 'outside the runtime' is the main goroutine, which needs one of the N Ps to spawn; " +
			"a yield is runtime.Gosched(), which puts the goroutine on Go's global run queue"},
	{name: "ping_pong", unit: "round trip",
		desc:       "P pings, each spawning a pong and exchanging two one-shot messages (channels of capacity 1) with it",
		params:     []param{{"pings", "ping tasks", [3]int64{200, 1000, 10000}, 1, 100000000}},
		iterations: [3]int{20, 100, 10}, run: runPingPong},
	{name: "chained_spawn", unit: "task",
		desc:       "a goroutine spawns a goroutine ... D deep; the last one signals",
		params:     []param{{"depth", "chain length", [3]int64{200, 1000, 10000}, 0, 100000000}},
		iterations: [3]int{50, 300, 40}, run: runChainedSpawn},
	{name: "spawn_remote", unit: "task",
		desc:   "a goroutine locked to its own OS thread spawns N empty goroutines as fast as it can",
		params: []param{{"n", "tasks spawned from outside", [3]int64{10000, 100000, 1000000}, 1, 100000000}},
		run:    runSpawnRemote,
		differs: "spawn_remote: Go has no thread outside the scheduler; the spawner is a goroutine locked to its own " +
			"OS thread (runtime.LockOSThread), which still holds one of the N Ps while it spawns, and go statements " +
			"land in that P's local queue, not an injection queue"},
	{name: "fanout_skew", unit: "task",
		desc: "one goroutine spawns N goroutines of W us busy work (spinning on the monotonic clock), no yields",
		params: []param{{"n", "tasks", [3]int64{1000, 10000, 100000}, 1, 100000000},
			{"work_us", "busy work per task (us)", [3]int64{5, 5, 5}, 0, 1000000}},
		run: runFanoutSkew,
		differs: "fanout_skew: max_worker_share is the busiest OS thread's share of the N tasks (each task reads " +
			"gettid(), ~0.1 us of its W us), because Go exposes no P id; weft counts every poll per worker; " +
			"Go preempts a goroutine after 10 ms, weft never preempts"},
	{name: "fib", unit: "call",
		desc: "naive recursive Fibonacci, fib(n-1) spawned as a goroutine, fib(n-2) inline (join) or spawned (spawn2)",
		params: []param{{"n", "fib(n)", [3]int64{20, 30, 35}, 0, 60},
			{"cutoff", "below this n, compute sequentially", [3]int64{2, 2, 2}, 2, 60}},
		variants: []string{"join", "spawn2"}, run: runFib,
		differs: "fib: the join handle is a channel of capacity 1 (spawn2: one channel of capacity 2 for both " +
			"children); the inline fib(n-2) is a plain recursive call on the goroutine's stack"},
	{name: "uts", unit: "node",
		desc: "Unbalanced Tree Search (T1 geometric, T3 binomial): a goroutine per node",
		params: []param{{"mode", "0: await children's join handles, 1: count without awaiting", [3]int64{0, 0, 0}, 0, 1},
			{"quick_tree", "1: the small tree of the same generator (T1-quick, T3-quick)", [3]int64{1, 0, 0}, 0, 1}},
		variants: []string{"T1", "T3"}, run: runUTS,
		differs: "uts: a node's join on its k children is one channel of capacity k that every child sends its " +
			"subtree counts to (weft awaits k join handles in order); SHA-1 is Go's crypto/sha1, not OpenSSL"},
	{name: "timer_storm", unit: "timer",
		desc: "from inside a goroutine, spawn N goroutines; each time.Sleep()s d_i (pseudo-random in [0, D], fixed seed) " +
			"and records lateness = wake - deadline",
		params: []param{{"n", "timer tasks", [3]int64{5000, 100000, 1000000}, 1, 100000000},
			{"max_delay_us", "D: deadlines are drawn from [0, D] (us)", [3]int64{20000, 50000, 100000}, 0, 3600000000}},
		run: runTimerStorm,
		differs: "timer_storm: the sleep is time.Sleep (Go's per-P timer heaps); percentiles are exact nearest-rank " +
			"over the raw samples, weft's come from a 3-significant-digit histogram; timer_storm: a woken goroutine " +
			"takes its P's runnext (the last woken runs first, the one it displaces goes behind the spawned " +
			"goroutines not yet run): a low p50 and, at n = 100 000, a tail that is that backlog " +
			"(docs/WORKLOADS.md, timer_storm: the same quantity, a different queue)"},
	{name: "timeout_cancel", unit: "arm+cancel",
		desc: "N times: arm a 10 s time.NewTimer around a request, then Stop() it as the response wins (split over T goroutines)",
		params: []param{{"n", "arm+cancel pairs", [3]int64{20000, 1000000, 10000000}, 1, 1000000000},
			{"tasks", "tasks sharing the pairs", [3]int64{16, 16, 16}, 1, 100000}},
		run: runTimeoutCancel,
		differs: "timeout_cancel: a pair is time.NewTimer(10 s) + Stop() with no poll in between (weft polls a " +
			"timeout future twice); Go shows no count of armed timers, so armed_left counts the Stop() calls that " +
			"did not report removing a pending timer, and the 'saw its entry in the driver' check is not made"},
	{name: "interval_jitter", unit: "tick",
		desc: "K goroutines each tick an interval of period P for L (burst policy: tick k at start + k P, each a " +
			"time.Sleep until it); jitter = delivery - scheduled time",
		params: []param{{"tasks", "K: interval tasks", [3]int64{16, 16, 16}, 1, 100000},
			{"period_us", "P: interval period (us)", [3]int64{1000, 1000, 1000}, 1, 60000000},
			{"duration_ms", "L: how long each task ticks (ms)", [3]int64{100, 1000, 10000}, 1, 3600000}},
		run: runIntervalJitter,
		differs: "interval_jitter: time.Ticker drops ticks a slow receiver misses (skip policy), so each tick is a " +
			"time.Sleep until start + k P (returning at once when already late): the burst policy weft uses"},
	{name: "tcp_echo", unit: "request",
		desc: "closed-loop echo on 127.0.0.1: C connections from T client threads in a separate load-client process, " +
			"each sends S bytes and waits for the echo, R times; latency from each request's actual send",
		params: []param{{"conns", "C: connections", [3]int64{8, 64, 256}, 1, 10000},
			{"msg_bytes", "S: message size (bytes)", [3]int64{64, 64, 64}, 1, 16 << 20},
			{"requests", "R: requests per connection", [3]int64{100, 1000, 10000}, 1, 100000000},
			{"client_threads", "T: client threads (outside the runtime)", [3]int64{2, 2, 2}, 1, 64},
			{"external_port", "0 only: the peer always measures its own echo server", [3]int64{0, 0, 0}, 0, 0}},
		run: runTCPEcho,
		differs: "tcp_echo: every Go goroutine needs one of the N Ps, so the load client runs in a child process " +
			"(this binary, --load-client, GOMAXPROCS = T) with T goroutines locked to OS threads driving raw " +
			"sockets with poll(2), as weft's client threads do; the iteration time includes one pipe round trip " +
			"to that process; the server is net.Listener + one goroutine per connection; external_port accepts only 0"},
	{name: "tcp_stream", unit: "byte",
		desc: "one connection streams B bytes through an echo goroutine and back (writer and reader threads in the " +
			"load-client process); checksum and byte count must match",
		params: []param{{"bytes", "B: bytes streamed each way", [3]int64{8 << 20, 256 << 20, 1 << 30}, 1, 1 << 40}},
		run:    runTCPStream,
		differs: "tcp_stream: the writer and reader run in the load-client child process (locked OS threads, blocking " +
			"raw sockets), not in threads of the measured process; the time includes one pipe round trip"},
	{name: "blocking_mix", unit: "short task",
		desc: "S short goroutines (time.Sleep 1 ms, done) while J goroutines of 10 ms CPU work run beside them; " +
			"latency = completion - (spawn + sleep), jobs joined",
		params: []param{{"short_tasks", "S: short async tasks", [3]int64{200, 1000, 10000}, 1, 10000000},
			{"sleep_us", "each short task's sleep (us)", [3]int64{1000, 1000, 1000}, 0, 60000000},
			{"blocking_jobs", "J: spawn_blocking jobs", [3]int64{8, 64, 256}, 0, 100000},
			{"blocking_us", "CPU work per blocking job (us)", [3]int64{2000, 10000, 10000}, 0, 60000000}},
		run: runBlockingMix,
		differs: "blocking_mix: Go has no spawn_blocking; a blocking job is a plain goroutine spinning on the CPU, " +
			"so it runs on the same N Ps as the short tasks (Go preempts it every 10 ms); only blocking system " +
			"calls hand their P to another thread"},
}

// Ten of the fourteen workloads run one iteration per repetition in every
// profile; their entries leave `iterations` out rather than repeat it.
func init() {
	for _, w := range registry {
		if w.iterations == ([3]int{}) {
			w.iterations = [3]int{1, 1, 1}
		}
	}
}

func findWorkload(name string) *workload {
	for _, w := range registry {
		if w.name == name {
			return w
		}
	}
	return nil
}

func workloadNames() []string {
	var v []string
	for _, w := range registry {
		v = append(v, w.name)
	}
	return v
}

func (w *workload) defaults(profile int) params {
	p := params{}
	for _, pp := range w.params {
		p[pp.name] = pp.def[profile]
	}
	return p
}

func (w *workload) param(name string) *param {
	for i := range w.params {
		if w.params[i].name == name {
			return &w.params[i]
		}
	}
	return nil
}

// printList writes what --list shows: workloads, parameters, iterations.
func printList() {
	fmt.Println("Workloads (parameter defaults per profile: quick / standard / full):")
	for _, w := range registry {
		fmt.Printf("  %s  [unit: %s]\n      %s\n", w.name, w.unit, w.desc)
		for _, p := range w.params {
			fmt.Printf("      %-28s %d / %d / %d   (%d..%d) %s\n", w.name+"."+p.name, p.def[0], p.def[1], p.def[2],
				p.min, p.max, p.help)
		}
		if w.variants != nil {
			fmt.Printf("      variants: %v\n", w.variants)
		}
		fmt.Printf("      iterations per repetition: quick %d, standard %d, full %d\n",
			w.iterations[0], w.iterations[1], w.iterations[2])
	}
	fmt.Printf("\nProfiles: quick (%d repetitions), standard (%d), full (%d)\n",
		profileRepetitions[0], profileRepetitions[1], profileRepetitions[2])
}

// ---- results ---------------------------------------------------------------------

type check struct {
	name  string
	value float64
}

// result is one iteration: its measured time, its work, the quantities it
// verified (weft's counter names, weft's order), latency percentiles where
// the workload has them, and the first failed check.
type result struct {
	elapsed time.Duration
	units   float64
	checks  []check
	lat     *latency
	err     string
}

type latency struct{ p50, p99, p999 float64 } // microseconds

func (r *result) record(name string, v float64) { r.checks = append(r.checks, check{name, v}) }

// expect fails the iteration (first failure wins) unless got == want.
func (r *result) expect(what string, got, want int64) {
	if r.err == "" && got != want {
		r.err = fmt.Sprintf("%s: expected %d, got %d", what, want, got)
	}
}

func (r *result) fail(format string, a ...interface{}) {
	if r.err == "" {
		r.err = fmt.Sprintf(format, a...)
	}
}

// percentiles: nearest rank (weft's hist_percentile rule) over the exact
// samples, in microseconds. Sorts samples.
func percentiles(samples []time.Duration) *latency {
	if len(samples) == 0 {
		return &latency{}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	at := func(p float64) float64 {
		n := len(samples)
		rank := int(ceil(p * float64(n) / 100))
		if rank < 1 {
			rank = 1
		}
		if rank > n {
			rank = n
		}
		return float64(samples[rank-1]) / 1e3
	}
	return &latency{at(50), at(99), at(99.9)}
}

func ceil(x float64) float64 {
	i := float64(int64(x))
	if i < x {
		return i + 1
	}
	return i
}

// faultInjection: WEFT_BENCH_FAULT_INJECTION=1 makes every workload drop one
// unit of work, so that every self-check fails.
var faultInjection = os.Getenv("WEFT_BENCH_FAULT_INJECTION") == "1"
