package main

import "time"

func fibSeq(n int) int64 {
	if n < 2 {
		return int64(n)
	}
	return fibSeq(n-1) + fibSeq(n-2)
}

func fibIter(n int) int64 {
	a, b := int64(0), int64(1)
	for i := 0; i < n; i++ {
		a, b = b, a+b
	}
	return a
}

// fibJoin is fib(n) inside a task, variant "join": for n >= cutoff it
// spawns fib(n-1) as a goroutine whose join handle is a channel of capacity
// 1, computes fib(n-2) inline (a plain call: a goroutine has a real stack,
// where weft needs an explicit stack of frames), then awaits the handle.
func fibJoin(n, cutoff int) int64 {
	if n < cutoff || n < 2 {
		return fibSeq(n)
	}
	h := make(chan int64, 1)
	go fibTask(n-1, cutoff, h)
	inline := fibJoin(n-2, cutoff)
	return inline + <-h
}

// fibTask is the spawned task of variant "join".
func fibTask(n, cutoff int, out chan<- int64) {
	v := fibJoin(n, cutoff)
	if faultInjection && n == 3 { // one unit of work lost, as weft's
		v--
	}
	out <- v
}

// fibSpawn2 is variant "spawn2": both fib(n-1) and fib(n-2) are goroutines,
// joined through one channel of capacity 2.
func fibSpawn2(n, cutoff int, out chan<- int64) {
	if n < cutoff || n < 2 {
		out <- fibSeq(n)
		return
	}
	h := make(chan int64, 2)
	go fibSpawn2(n-1, cutoff, h)
	go fibSpawn2(n-2, cutoff, h)
	v := <-h + <-h
	if faultInjection && n == 3 {
		v--
	}
	out <- v
}

// fib: naive recursive Fibonacci as fork-join goroutines, every call with
// n >= cutoff a task (cutoff 2: every call). Timed around the root task.
func runFib(p params, variant string) (r result) {
	n, cutoff := int(p["n"]), int(p["cutoff"])
	out := make(chan int64, 1)
	t0 := time.Now()
	if variant == "spawn2" {
		go fibSpawn2(n, cutoff, out)
	} else {
		go fibTask(n, cutoff, out)
	}
	res := <-out
	r.elapsed = time.Since(t0)
	// units: the calls of the naive recursion
	r.units = float64(2*fibIter(n+1) - 1)
	r.record("result", float64(res))
	r.expect("fib result", res, fibIter(n))
	return
}
