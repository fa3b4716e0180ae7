package main

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// shared is what the tasks of one scheduler micro-workload iteration share,
// as in weft's sched_micro.c: what ran is counted apart from the count-down
// that signals completion, so a lost task is a failed check, not a hang.
type shared struct {
	remaining, ran, signals atomic.Int64
	done                    chan struct{} // capacity 1: the one-shot completion signal
}

func newShared(remaining int64) *shared {
	s := &shared{done: make(chan struct{}, 1)}
	s.remaining.Store(remaining)
	return s
}

func (s *shared) signal() {
	s.signals.Add(1)
	select {
	case s.done <- struct{}{}:
	default: // a second signal: counted, and the check fails
	}
}

// countDown: the task that takes `remaining` to zero signals.
func (s *shared) countDown(n int64) {
	if s.remaining.Add(-n) == 0 {
		s.signal()
	}
}

// blockOn runs root as a goroutine and waits for it to return: weft's
// weft_block_on, seen from the calling (main) goroutine.
func blockOn(root func()) {
	finished := make(chan struct{})
	go func() {
		root()
		close(finished)
	}()
	<-finished
}

// spawn_many: from inside a goroutine, spawn N goroutines that each count
// down a shared counter; the one that reaches zero signals the root, which
// was waiting. Timed around the whole blockOn, like weft's block_on.
func runSpawnMany(p params, _ string) (r result) {
	n := p["n"]
	sh := newShared(n)
	t0 := time.Now()
	blockOn(func() {
		k := n
		if faultInjection { // one task's work is dropped but still counted down
			k--
			sh.countDown(1)
		}
		for i := int64(0); i < k; i++ {
			go func() {
				sh.ran.Add(1)
				sh.countDown(1)
			}()
		}
		<-sh.done
	})
	r.elapsed = time.Since(t0)
	r.units = float64(n)
	r.record("tasks_ran", float64(sh.ran.Load()))
	r.expect("completion signals", sh.signals.Load(), 1)
	r.expect("counter", sh.remaining.Load(), 0)
	r.expect("tasks that ran", sh.ran.Load(), n)
	return
}

// yield_many: from outside (the main goroutine) spawn T goroutines that
// each yield Y times with runtime.Gosched, add the polls that resumed after
// a yield, and count down; the main goroutine waits for the signal.
func runYieldMany(p params, _ string) (r result) {
	tasks, yields := p["tasks"], p["yields"]
	sh := newShared(tasks)
	t0 := time.Now()
	for i := int64(0); i < tasks; i++ {
		if faultInjection && i == 0 { // one task's yields go missing
			sh.countDown(1)
			continue
		}
		go func() {
			var polls int64
			for j := int64(0); j < yields; j++ {
				runtime.Gosched()
				polls++
			}
			sh.ran.Add(polls)
			sh.countDown(1)
		}()
	}
	<-sh.done
	r.elapsed = time.Since(t0)
	r.units = float64(tasks * yields)
	r.record("signals", float64(tasks-sh.remaining.Load()))
	r.record("polls_after_yield", float64(sh.ran.Load()))
	r.expect("completion signals", sh.signals.Load(), 1)
	r.expect("polls after a yield", sh.ran.Load(), tasks*yields)
	return
}

// ping_pong: from inside a goroutine spawn P pings; each makes two one-shot
// channels (capacity 1), spawns a pong that receives on the first and sends
// on the second, sends, receives the answer (checking its value), counts
// down.
func runPingPong(p params, _ string) (r result) {
	n := p["pings"]
	sh := newShared(n)
	t0 := time.Now()
	blockOn(func() {
		for i := int64(0); i < n; i++ {
			if faultInjection && i == 0 { // a round trip that never happens
				sh.countDown(1)
				continue
			}
			go func() {
				c1, c2 := make(chan int, 1), make(chan int, 1)
				go func() {
					<-c1
					c2 <- 2
				}()
				c1 <- 1
				if <-c2 == 2 {
					sh.ran.Add(1)
				}
				sh.countDown(1)
			}()
		}
		<-sh.done
	})
	r.elapsed = time.Since(t0)
	r.units = float64(n)
	r.record("round_trips", float64(sh.ran.Load()))
	r.expect("completion signals", sh.signals.Load(), 1)
	r.expect("round trips completed", sh.ran.Load(), n)
	return
}

// chained_spawn: a goroutine spawns a goroutine ... D deep; the last signals.
func runChainedSpawn(p params, _ string) (r result) {
	depth := p["depth"]
	sh := newShared(0)
	var link func(left int64)
	link = func(left int64) {
		sh.ran.Add(1)
		if left == 0 || (faultInjection && left == 1) {
			sh.signal()
			return
		}
		go link(left - 1)
	}
	t0 := time.Now()
	blockOn(func() {
		go link(depth)
		<-sh.done
	})
	r.elapsed = time.Since(t0)
	r.units = float64(depth)
	// depth D: the first link plus D spawned links ran
	r.record("depth", float64(sh.ran.Load()-1))
	r.expect("completion signals", sh.signals.Load(), 1)
	r.expect("depth reached", sh.ran.Load()-1, depth)
	return
}

// spawn_remote: a spawner "outside" - a goroutine locked to its own OS
// thread, the nearest Go has to a thread outside the scheduler - spawns N
// empty goroutines as fast as it can; the main goroutine waits for all.
// Timed from starting the spawner to the completion signal, as weft times
// from pthread_create to the end of block_on.
func runSpawnRemote(p params, _ string) (r result) {
	n := p["n"]
	sh := newShared(n)
	spawned := make(chan struct{})
	t0 := time.Now()
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		k := n
		if faultInjection {
			k--
			sh.countDown(1)
		}
		for i := int64(0); i < k; i++ {
			go func() {
				sh.ran.Add(1)
				sh.countDown(1)
			}()
		}
		close(spawned)
	}()
	<-sh.done
	r.elapsed = time.Since(t0)
	<-spawned // the join of the spawner thread, after the clock as in weft
	r.units = float64(n)
	r.record("tasks_ran", float64(sh.ran.Load()))
	r.expect("tasks that ran", sh.ran.Load(), n)
	return
}

var spinSink atomic.Uint64

// spin is busy work for about d, spinning on the monotonic clock between
// blocks of 64 multiply-adds, as weft's wl_spin_ns.
func spin(d time.Duration) uint64 {
	start := time.Now()
	x := uint64(0x9e3779b97f4a7c15)
	for {
		for i := 0; i < 64; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		if time.Since(start) >= d {
			return x
		}
	}
}

// fanout_skew: one goroutine spawns N goroutines of W us of busy work each,
// with no yields; all start on the spawner's P and only Go's work stealing
// spreads them. Each task writes the OS thread it ran on into its own slot,
// and max_worker_share is the busiest thread's share.
func runFanoutSkew(p params, _ string) (r result) {
	n := p["n"]
	work := time.Duration(p["work_us"]) * time.Microsecond
	sh := newShared(n)
	tids := make([]int32, n)
	t0 := time.Now()
	blockOn(func() {
		k := n
		if faultInjection {
			k--
			sh.countDown(1)
		}
		for i := int64(0); i < k; i++ {
			i := i
			go func() {
				spinSink.Add(spin(work))
				tids[i] = int32(syscall.Gettid())
				sh.ran.Add(1)
				sh.countDown(1)
			}()
		}
		<-sh.done
	})
	r.elapsed = time.Since(t0)
	perThread := map[int32]int{}
	maxRuns, total := 0, 0
	for _, t := range tids {
		if t != 0 {
			perThread[t]++
			total++
			if perThread[t] > maxRuns {
				maxRuns = perThread[t]
			}
		}
	}
	share := 1.0
	if total > 0 {
		share = float64(maxRuns) / float64(total)
	}
	r.units = float64(n)
	r.record("tasks_ran", float64(sh.ran.Load()))
	r.record("max_worker_share", share)
	r.expect("tasks that ran", sh.ran.Load(), n)
	return
}
