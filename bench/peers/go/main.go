// weft-peer-go: weft's standard workloads on Go goroutines (GOMAXPROCS = N),
// the Go peer of weft-bench. The command line, the rows and the JSON follow
// docs/bench-protocol.md; the workloads follow docs/WORKLOADS.md, and where
// Go cannot express a definition exactly the difference is in the
// peer_differences context line and in docs/WORKLOADS.md ("Peer runtimes:
// where they differ", "Go").
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

const program = "weft-peer-go"

type options struct {
	workers, profile, repetitions int
	workloads                     []*workload
	params                        map[*workload]params
	iterations                    map[*workload]int
	seed                          int64
	launch                        int
	out                           string
}

func usageError(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, program+": "+format+"\n", a...)
	fmt.Fprintf(os.Stderr, "(%s --help lists the options, --list the workloads)\n", program)
	os.Exit(2)
}

const usage = `usage: weft-peer-go --runtime=go --workers=N --profile=quick|standard|full
            [--workloads=W1,W2,...] [--repetitions=R] [--param=WORKLOAD.NAME=VALUE]...
            [--iterations=WORKLOAD=K]... [--seed=S] [--launch=I] [--out=FILE] [--list]
The contract: docs/bench-protocol.md. WEFT_BENCH_FAULT_INJECTION=1 makes every row an error row.
(--load-client is internal: the load-client child process of tcp_echo and tcp_stream.)
`

func atoi(flag, v string, min, max int64) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		usageError("%s=%s: give an integer in %d..%d", flag, v, min, max)
	}
	return n
}

func parseArgs(args []string) *options {
	o := &options{workers: 1, profile: 1, params: map[*workload]params{}, iterations: map[*workload]int{}}
	var paramArgs, iterArgs []string
	workloadsArg := ""
	for _, a := range args {
		name, val, hasVal := strings.Cut(a, "=")
		switch {
		case a == "--list":
			printList()
			os.Exit(0)
		case a == "--help" || a == "-h":
			fmt.Print(usage)
			os.Exit(0)
		case !hasVal:
			usageError("unknown or incomplete flag '%s'", a)
		case name == "--runtime":
			if val != "go" {
				usageError("--runtime=%s: this program runs only the runtime 'go'", val)
			}
		case name == "--workers":
			o.workers = int(atoi(name, val, 1, 1024))
		case name == "--profile":
			o.profile = -1
			for i, p := range profileNames {
				if p == val {
					o.profile = i
				}
			}
			if o.profile < 0 {
				usageError("--profile=%s: known profiles: quick, standard, full", val)
			}
		case name == "--workloads":
			workloadsArg = val
		case name == "--repetitions":
			o.repetitions = int(atoi(name, val, 1, 1000000))
		case name == "--param":
			paramArgs = append(paramArgs, val)
		case name == "--iterations":
			iterArgs = append(iterArgs, val)
		case name == "--seed":
			o.seed = atoi(name, val, -1<<63, 1<<63-1)
		case name == "--launch":
			o.launch = int(atoi(name, val, 0, 1<<31-1))
		case name == "--out":
			o.out = val
		default:
			usageError("unknown flag '%s'", name)
		}
	}
	if o.repetitions == 0 {
		o.repetitions = profileRepetitions[o.profile]
	}
	if workloadsArg == "" {
		o.workloads = registry
	} else {
		for _, n := range strings.Split(workloadsArg, ",") {
			w := findWorkload(n)
			if w == nil {
				usageError("unknown workload '%s'; known workloads: %s", n, strings.Join(workloadNames(), ", "))
			}
			o.workloads = append(o.workloads, w)
		}
	}
	for _, w := range registry {
		o.params[w] = w.defaults(o.profile)
		o.iterations[w] = w.iterations[o.profile]
	}
	for _, a := range paramArgs {
		key, val, ok := strings.Cut(a, "=")
		wn, pn, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 {
			usageError("--param=%s: give WORKLOAD.NAME=VALUE", a)
		}
		w := findWorkload(wn)
		if w == nil {
			usageError("--param=%s: unknown workload '%s'", a, wn)
		}
		p := w.param(pn)
		if p == nil {
			var names []string
			for _, pp := range w.params {
				names = append(names, pp.name)
			}
			usageError("--param=%s: %s has no parameter '%s'; its parameters: %s", a, wn, pn, strings.Join(names, ", "))
		}
		o.params[w][pn] = atoi("--param="+key, val, p.min, p.max)
	}
	for _, a := range iterArgs {
		wn, val, ok := strings.Cut(a, "=")
		w := findWorkload(wn)
		if !ok || w == nil {
			usageError("--iterations=%s: give WORKLOAD=K with a known workload", a)
		}
		o.iterations[w] = int(atoi("--iterations="+wn, val, 1, 100000000))
	}
	return o
}

// ---- the rows ----------------------------------------------------------------------

type row struct {
	w       *workload
	variant string
	name    string
	warmed  bool
	failed  string // the message of the first failed repetition
}

// kv is a JSON object that keeps its keys in the order they were added.
type kv []struct {
	k string
	v interface{}
}

func (o *kv) add(k string, v interface{}) {
	*o = append(*o, struct {
		k string
		v interface{}
	}{k, v})
}

func (o kv) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.k, err)
		}
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// runRepetition runs one repetition of a row (K iterations) and returns its
// JSON row: Google Benchmark's shape, the counters weft's driver computes
// (units and checks averaged per iteration, ns_per_unit over the whole
// repetition, percentiles averaged over iterations).
func runRepetition(o *options, r *row, rep, order int) kv {
	k := o.iterations[r.w]
	p := o.params[r.w]
	var j kv
	j.add("name", r.name)
	j.add("run_name", r.name)
	j.add("run_type", "iteration")
	j.add("repetitions", o.repetitions)
	j.add("repetition_index", rep)
	j.add("threads", 1)
	j.add("iterations", k)
	errorRow := func(msg string) kv {
		j.add("error_occurred", true)
		j.add("error_message", msg)
		j.add("real_time", 0.0)
		j.add("cpu_time", 0.0)
		j.add("time_unit", "us")
		j.add("launch", o.launch)
		j.add("order", order)
		return j
	}
	if r.failed != "" {
		return errorRow("not run: an earlier repetition failed: " + r.failed)
	}
	// A clean heap for every repetition (outside the timed part), so that
	// no row pays for collecting the garbage of the row before it.
	runtime.GC()
	if !r.warmed {
		r.warmed = true
		if res := r.w.run(p, r.variant); res.err != "" {
			r.failed = r.name + ": warm-up: " + res.err
			return errorRow(r.failed)
		}
		runtime.GC()
	}
	var elapsed, units, p50, p99, p999 float64
	nlat := 0
	var checks []check
	for i := 0; i < k; i++ {
		res := r.w.run(p, r.variant)
		if res.err != "" {
			r.failed = r.name + ": " + res.err
			return errorRow(r.failed)
		}
		elapsed += float64(res.elapsed.Nanoseconds())
		units += res.units
		if res.lat != nil {
			p50, p99, p999 = p50+res.lat.p50, p99+res.lat.p99, p999+res.lat.p999
			nlat++
		}
		for ci, c := range res.checks {
			if i == 0 {
				checks = append(checks, c)
			} else if ci < len(checks) {
				checks[ci].value += c.value
			}
		}
	}
	us := elapsed / 1e3 / float64(k)
	j.add("real_time", us)
	j.add("cpu_time", us)
	j.add("time_unit", "us")
	j.add("units", units/float64(k))
	if units > 0 {
		j.add("ns_per_unit", elapsed/units)
	}
	if nlat > 0 {
		j.add("p50_us", p50/float64(nlat))
		j.add("p99_us", p99/float64(nlat))
		j.add("p999_us", p999/float64(nlat))
	}
	for _, c := range checks {
		j.add(c.name, c.value/float64(k))
	}
	j.add("launch", o.launch)
	j.add("order", order)
	j.add("label", r.w.unit)
	return j
}

func context(o *options) kv {
	var ps, diffs []string
	for _, w := range o.workloads {
		for _, p := range w.params {
			ps = append(ps, fmt.Sprintf("%s.%s=%d", w.name, p.name, o.params[w][p.name]))
		}
		ps = append(ps, fmt.Sprintf("%s.iterations=%d", w.name, o.iterations[w]))
		if w.differs != "" {
			diffs = append(diffs, w.differs)
		}
	}
	var c kv
	c.add("peer_runtime", "go")
	c.add("peer_program", program)
	c.add("peer_versions", runtime.Version())
	c.add("peer_allocator", "Go runtime allocator")
	c.add("peer_workers", strconv.Itoa(o.workers))
	c.add("peer_profile", profileNames[o.profile])
	c.add("peer_params", strings.Join(ps, " "))
	c.add("peer_seed", strconv.FormatInt(o.seed, 10))
	c.add("peer_launch", strconv.Itoa(o.launch))
	c.add("peer_differences", strings.Join(diffs, "; "))
	return c
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--load-client" {
		loadClientMain()
		return
	}
	o := parseArgs(os.Args[1:])
	runtime.GOMAXPROCS(o.workers)

	var out io.Writer = os.Stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: --out=%s: %v\n", program, o.out, err)
			os.Exit(1)
		}
		defer f.Close()
		out = f
	}

	var rows []*row
	for _, w := range o.workloads {
		base := fmt.Sprintf("%s/go/workers:%d", w.name, o.workers)
		if w.variants == nil {
			rows = append(rows, &row{w: w, name: base})
		}
		for _, v := range w.variants {
			rows = append(rows, &row{w: w, variant: v, name: base + "/" + v})
		}
	}

	// Repetition r runs every row once, in an order shuffled from the seed
	// and r; a row's warm-up iteration runs just before its first repetition.
	var bench []kv
	for rep := 0; rep < o.repetitions; rep++ {
		perm := append([]*row(nil), rows...)
		rng := rand.New(rand.NewSource(o.seed*1000003 + int64(rep)))
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for _, r := range perm {
			fmt.Fprintf(os.Stderr, "[%d/%d] %s\n", rep+1, o.repetitions, r.name)
			bench = append(bench, runRepetition(o, r, rep, len(bench)))
		}
	}
	stopLoadClient()

	// Rows sorted by name then repetition, as Google Benchmark writes them;
	// `order` keeps the run order.
	sort.SliceStable(bench, func(i, j int) bool { return bench[i][0].v.(string) < bench[j][0].v.(string) })
	doc := kv{}
	doc.add("context", context(o))
	doc.add("benchmarks", bench)
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: writing the JSON: %v\n", program, err)
		os.Exit(1)
	}
	b = append(b, '\n')
	if _, err := out.Write(b); err != nil {
		fmt.Fprintf(os.Stderr, "%s: writing the JSON: %v\n", program, err)
		os.Exit(1)
	}
}
