package main

import (
	"runtime"
	"sync/atomic"
	"time"
)

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

const unset = time.Duration(-1)

// written returns the slots a task wrote (not `unset`).
func written(slots []time.Duration) []time.Duration {
	var v []time.Duration
	for _, d := range slots {
		if d != unset {
			v = append(v, d)
		}
	}
	return v
}

// timer_storm: from inside a goroutine spawn N goroutines; goroutine i,
// when it first runs, takes its deadline as now + d_i (d_i =
// splitmix64(0x7157 + i) mod (D + 1), weft's fixed set), time.Sleep()s
// until it and writes lateness = wake - deadline into its own slot. A wake
// before the deadline is a failed check.
func runTimerStorm(p params, _ string) (r result) {
	n := p["n"]
	maxDelay := uint64(p["max_delay_us"]) * 1000
	late := make([]time.Duration, n)
	for i := range late {
		late[i] = unset
	}
	var early atomic.Int64
	sh := newShared(n)
	t0 := time.Now()
	blockOn(func() {
		for i := int64(0); i < n; i++ {
			if faultInjection && i == 0 { // one timer task never spawned
				sh.countDown(1)
				continue
			}
			i := i
			go func() {
				d := time.Duration(splitmix64(0x7157+uint64(i)) % (maxDelay + 1))
				deadline := time.Now().Add(d)
				time.Sleep(d)
				now := time.Now()
				if now.Before(deadline) {
					early.Add(1)
				} else {
					late[i] = now.Sub(deadline)
				}
				sh.countDown(1)
			}()
		}
		<-sh.done
	})
	r.elapsed = time.Since(t0)
	samples := written(late)
	r.units = float64(n)
	r.lat = percentiles(samples)
	r.record("timers_completed", float64(len(samples)))
	r.record("woke_early", float64(early.Load()))
	r.expect("timers that woke before their deadline", early.Load(), 0)
	r.expect("completion signals", sh.signals.Load(), 1)
	r.expect("timers completed", int64(len(samples)), n)
	return
}

// timeout_cancel: the RPC-timeout pattern, N times: arm a 10 s timer
// (time.NewTimer, the timer of `select { case <-resp: case <-t.C: }`), the
// response wins, Stop() cancels it. The pairs are split over T goroutines
// that yield (runtime.Gosched) every 1024 pairs, as weft's tasks do, so they
// interleave on one P too.
func runTimeoutCancel(p params, _ string) (r result) {
	n, tasks := p["n"], p["tasks"]
	if tasks > n {
		tasks = n
	}
	var pairs, fired atomic.Int64
	sh := newShared(tasks)
	t0 := time.Now()
	blockOn(func() {
		for t := int64(0); t < tasks; t++ {
			share := n / tasks
			if t < n%tasks {
				share++
			}
			if faultInjection && t == 0 { // one pair that never happens
				share--
			}
			go func() {
				var done, notStopped int64
				for i := int64(0); i < share; i++ {
					if i > 0 && i%1024 == 0 {
						runtime.Gosched()
					}
					tm := time.NewTimer(10 * time.Second)
					if !tm.Stop() { // false: it fired (or was stopped) before
						notStopped++
					}
					done++
				}
				pairs.Add(done)
				fired.Add(notStopped)
				sh.countDown(1)
			}()
		}
		<-sh.done
	})
	r.elapsed = time.Since(t0)
	r.units = float64(n)
	r.record("pairs", float64(pairs.Load()))
	r.record("timers_fired", float64(fired.Load()))
	// Go shows no count of armed timers: the arms that Stop() did not
	// report removing are the ones that could still be in the timer heap.
	r.record("armed_left", float64(fired.Load()))
	r.expect("timeouts that fired instead of being cancelled", fired.Load(), 0)
	r.expect("arm+cancel pairs", pairs.Load(), n)
	return
}

// interval_jitter: K goroutines each tick an interval of period P until
// their start + L. Tick k is scheduled at start + k P (tick 0 at the first
// run): the goroutine time.Sleep()s until it, or goes on at once when it is
// already late (the burst policy: a late tick moves no later tick, none is
// dropped). jitter = delivery - scheduled time; ticks delivered before
// start + L are counted, and must be ceil(L / P) within 1 % (at least 1).
func runIntervalJitter(p params, _ string) (r result) {
	tasks := p["tasks"]
	period := time.Duration(p["period_us"]) * time.Microsecond
	duration := time.Duration(p["duration_ms"]) * time.Millisecond
	expected := int64((duration + period - 1) / period)
	jitter := make([]time.Duration, tasks*expected)
	for i := range jitter {
		jitter[i] = unset
	}
	ticks := make([]int64, tasks)
	for i := range ticks {
		ticks[i] = -1
	}
	var early, overflow atomic.Int64
	sh := newShared(tasks)
	t0 := time.Now()
	blockOn(func() {
		for t := int64(0); t < tasks; t++ {
			if faultInjection && t == 0 { // one interval task never spawned
				sh.countDown(1)
				continue
			}
			t := t
			go func() {
				start := time.Now()
				k := int64(0)
				for {
					sched := start.Add(time.Duration(k) * period)
					if d := time.Until(sched); d > 0 {
						time.Sleep(d)
					}
					now := time.Now()
					if now.Before(sched) {
						early.Add(1)
					}
					if sched.Sub(start) >= duration { // scheduled past L: not counted (a late tick is jitter)
						break
					}
					if k < expected {
						jitter[t*expected+k] = now.Sub(sched)
					} else {
						overflow.Add(1)
					}
					k++
				}
				ticks[t] = k
				sh.countDown(1)
			}()
		}
		<-sh.done
	})
	r.elapsed = time.Since(t0)
	samples := written(jitter)
	r.lat = percentiles(samples)
	tol := expected / 100
	if tol < 1 {
		tol = 1
	}
	var finished, total int64
	worst, worstTicks := int64(-1), int64(0)
	for t, c := range ticks {
		if c < 0 {
			continue
		}
		finished++
		total += c
		dev := c - expected
		if dev < 0 {
			dev = -dev
		}
		if dev > tol && worst < 0 {
			worst, worstTicks = int64(t), c
		}
	}
	r.units = float64(total)
	r.record("ticks", float64(total))
	r.record("ticks_per_task_expected", float64(expected))
	r.record("early_ticks", float64(early.Load()))
	r.expect("interval tasks that finished", finished, tasks)
	r.expect("ticks delivered before their scheduled time", early.Load(), 0)
	r.expect("jitter samples", int64(len(samples)), total)
	if worst >= 0 {
		r.fail("ticks of task %d: expected %d (+-%d), got %d", worst, expected, tol, worstTicks)
	}
	return
}
