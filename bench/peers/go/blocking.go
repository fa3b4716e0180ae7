package main

import (
	"sync/atomic"
	"time"
)

// blocking_mix: the root spawns J "blocking" jobs of W us of CPU work each
// (Go has no spawn_blocking: a job is a plain goroutine spinning as weft's
// wl_spin_ns does), then S short goroutines, each with its spawn time; a
// short task time.Sleep()s 1 ms and writes latency = completion - (spawn +
// sleep) into its own slot. The root waits for every short task, then joins
// every job (each returns its own index on its own channel).
func runBlockingMix(p params, _ string) (r result) {
	nshort, njobs := p["short_tasks"], p["blocking_jobs"]
	sleep := time.Duration(p["sleep_us"]) * time.Microsecond
	work := time.Duration(p["blocking_us"]) * time.Microsecond
	lat := make([]time.Duration, nshort)
	for i := range lat {
		lat[i] = unset
	}
	var early, jobRuns atomic.Int64
	var joinedOK int64
	sh := newShared(nshort)
	t0 := time.Now()
	blockOn(func() {
		handles := make([]chan int64, njobs)
		for j := int64(0); j < njobs; j++ {
			handles[j] = make(chan int64, 1)
			go func(j int64) {
				spinSink.Add(spin(work))
				jobRuns.Add(1)
				handles[j] <- j
			}(j)
		}
		for i := int64(0); i < nshort; i++ {
			if faultInjection && i == 0 { // one short task that never runs
				sh.countDown(1)
				continue
			}
			go func(i int64, spawned time.Time) {
				time.Sleep(sleep)
				now, ideal := time.Now(), spawned.Add(sleep)
				if now.Before(ideal) {
					early.Add(1)
				} else {
					lat[i] = now.Sub(ideal)
				}
				sh.countDown(1)
			}(i, time.Now())
		}
		<-sh.done
		for j, h := range handles {
			if <-h == int64(j) {
				joinedOK++
			}
		}
	})
	r.elapsed = time.Since(t0)
	samples := written(lat)
	r.lat = percentiles(samples)
	r.units = float64(nshort)
	r.record("short_tasks_completed", float64(len(samples)))
	r.record("blocking_jobs_ran", float64(jobRuns.Load()))
	r.expect("short tasks that finished before spawn + sleep", early.Load(), 0)
	r.expect("short tasks completed", int64(len(samples)), nshort)
	r.expect("blocking jobs that ran", jobRuns.Load(), njobs)
	r.expect("blocking jobs joined with their own result", joinedOK, njobs)
	return
}
