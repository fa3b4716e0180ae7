// The workload bodies of both Rust peers, written once: `include!`d by
// src/bin/weft-peer-tokio.rs and src/bin/weft-peer-async-std.rs, each of
// which first defines `mod rt`, its runtime's verbs:
//
//   Runtime                     what an iteration runs on (Tokio's Runtime; async-std: a unit struct)
//   NAME                        the runtime's name in messages
//   Tx (: Signal), Rx           the completion signal; completion() -> (Tx, Rx); wait(rx): a future
//   block_on_task(rt, root)     runs root as a task, waits for it from this thread -> (Option<out>, time)
//   block_on(rt, f)             waits for f from this (outside) thread
//   Remote, remote(rt), spawn_remote(&Remote, f)   spawns from a thread outside the runtime
//   spawn(f)                    detached task; spawn_join(f) -> JoinHandle<T>; joined(h.await) -> Option<T>
//   spawn_blocking(f)           -> JoinHandle<T>
//   yield_now()
//   oneshot::<T>() -> (OTx<T>, ORx<T>), send(tx, v), recv(rx): a future of Option<T>
//   sleep(d), sleep_until(Instant), timeout(d, f), unconstrained(f)
//   Interval, interval(P) (burst: tick k at start + k P), tick(&mut iv): a future of Option<Instant>
//   TcpListener, listener(rt), io_ext (the read / write_all extension traits)
//
// Why a shared source file and not a generic module over a trait: Rust 1.63
// has no generic associated types and no `impl Trait` in associated types,
// so a trait cannot name the futures of `yield_now`, `sleep`, `timeout` or a
// channel's `recv` (opaque `async fn` types) without boxing each one: one
// allocation per yield, per sleep, per message. Included into each binary,
// every call here resolves statically to that runtime's own function,
// exactly as when each binary had its own copy.

use smallvec::SmallVec;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
#[allow(unused_imports)]
use rt::io_ext::*;
use rt::{JoinHandle, Runtime, Tx};
use weft_peers::{fault, io, uts, Outcome, Row, Shared, Slots, Tally};

fn shared(remaining: i64) -> (Arc<Shared<Tx>>, rt::Rx) {
    let (tx, rx) = rt::completion();
    (Arc::new(Shared::new(remaining, tx)), rx)
}

/// spawn_many: a root task spawns N tasks; each counts down a shared
/// counter and the one that reaches zero signals the root.
fn spawn_many(r: &Runtime, n: i64) -> Outcome {
    let (sh, rx) = shared(n);
    let s = sh.clone();
    let (_, el) = rt::block_on_task(r, async move {
        let mut k = n;
        if fault() {
            k -= 1;
            s.count_down(1);
        }
        for _ in 0..k {
            let s = s.clone();
            rt::spawn(async move {
                s.ran(1);
                s.count_down(1);
            });
        }
        rt::wait(rx).await;
    });
    let mut o = Outcome::new(el, n as f64);
    o.check("tasks_ran", Shared::<Tx>::get(&sh.ran) as f64)
        .expect_eq("completion signals", Shared::<Tx>::get(&sh.signals), 1)
        .expect_eq("counter", Shared::<Tx>::get(&sh.remaining), 0)
        .expect_eq("tasks that ran", Shared::<Tx>::get(&sh.ran), n);
    o.take()
}

/// yield_many: the main thread (outside the runtime) spawns T tasks; each
/// yields Y times, adds its resumed polls once, and counts down; the main
/// thread waits in block_on.
fn yield_many(r: &Runtime, tasks: i64, yields: i64) -> Outcome {
    let (sh, rx) = shared(tasks);
    let h = rt::remote(r);
    let t0 = Instant::now();
    for i in 0..tasks {
        if fault() && i == 0 {
            sh.count_down(1);
            continue;
        }
        let s = sh.clone();
        rt::spawn_remote(&h, async move {
            let mut done = 0;
            for _ in 0..yields {
                rt::yield_now().await;
                done += 1;
            }
            s.ran(done);
            s.count_down(1);
        });
    }
    rt::block_on(r, rt::wait(rx));
    let el = t0.elapsed();
    let mut o = Outcome::new(el, (tasks * yields) as f64);
    o.check("signals", (tasks - Shared::<Tx>::get(&sh.remaining)) as f64)
        .check("polls_after_yield", Shared::<Tx>::get(&sh.ran) as f64)
        .expect_eq("completion signals", Shared::<Tx>::get(&sh.signals), 1)
        .expect_eq("polls after a yield", Shared::<Tx>::get(&sh.ran), tasks * yields);
    o.take()
}

/// ping_pong: a root spawns P pings; each creates two one-shots, spawns a
/// pong that awaits the first and answers on the second, sends, awaits the
/// answer (checked: value 2) and counts down.
fn ping_pong(r: &Runtime, pings: i64) -> Outcome {
    let (sh, rx) = shared(pings);
    let s = sh.clone();
    let (_, el) = rt::block_on_task(r, async move {
        for i in 0..pings {
            if fault() && i == 0 {
                s.count_down(1);
                continue;
            }
            let s = s.clone();
            rt::spawn(async move {
                let (tx1, rx1) = rt::oneshot::<u64>();
                let (tx2, rx2) = rt::oneshot::<u64>();
                rt::spawn(async move {
                    if rt::recv(rx1).await.is_some() {
                        rt::send(tx2, 2);
                    }
                });
                rt::send(tx1, 1);
                if rt::recv(rx2).await == Some(2) {
                    s.ran(1);
                }
                s.count_down(1);
            });
        }
        rt::wait(rx).await;
    });
    let mut o = Outcome::new(el, pings as f64);
    o.check("round_trips", Shared::<Tx>::get(&sh.ran) as f64)
        .expect_eq("completion signals", Shared::<Tx>::get(&sh.signals), 1)
        .expect_eq("round trips completed", Shared::<Tx>::get(&sh.ran), pings);
    o.take()
}

/// chained_spawn: a task spawns a task ... D deep; the last one signals.
fn chained_spawn(r: &Runtime, depth: i64) -> Outcome {
    fn link(s: Arc<Shared<Tx>>, left: i64) {
        rt::spawn(async move {
            s.ran(1);
            if left == 0 || (fault() && left == 1) {
                s.signal();
            } else {
                link(s, left - 1);
            }
        });
    }
    let (sh, rx) = shared(0);
    let s = sh.clone();
    let (_, el) = rt::block_on_task(r, async move {
        link(s, depth);
        rt::wait(rx).await;
    });
    let mut o = Outcome::new(el, depth as f64);
    // depth D: the first link plus D spawned links ran
    o.check("depth", (Shared::<Tx>::get(&sh.ran) - 1) as f64)
        .expect_eq("completion signals", Shared::<Tx>::get(&sh.signals), 1)
        .expect_eq("depth reached", Shared::<Tx>::get(&sh.ran) - 1, depth);
    o.take()
}

/// spawn_remote: a plain OS thread spawns N empty tasks as fast as it can
/// (the runtime's queue for spawns from outside); the main thread waits in
/// block_on.
fn spawn_remote(r: &Runtime, n: i64) -> Outcome {
    let (sh, rx) = shared(n);
    let (s, h) = (sh.clone(), rt::remote(r));
    let t0 = Instant::now();
    let th = std::thread::spawn(move || {
        let mut k = n;
        if fault() {
            k -= 1;
            s.count_down(1);
        }
        for _ in 0..k {
            let s = s.clone();
            rt::spawn_remote(&h, async move {
                s.ran(1);
                s.count_down(1);
            });
        }
    });
    rt::block_on(r, rt::wait(rx));
    let el = t0.elapsed();
    let _ = th.join();
    let mut o = Outcome::new(el, n as f64);
    o.check("tasks_ran", Shared::<Tx>::get(&sh.ran) as f64)
        .expect_eq("tasks that ran", Shared::<Tx>::get(&sh.ran), n);
    o.take()
}

/// fanout_skew: one root task spawns N tasks of W us busy work with no
/// yields, all into its own worker's queue; max_worker_share = the busiest
/// thread's share of the N tasks.
fn fanout_skew(r: &Runtime, n: i64, work_us: i64) -> Outcome {
    let (sh, rx) = shared(n);
    let per = Arc::new(weft_peers::PerThread::new());
    let (s, pt) = (sh.clone(), per.clone());
    let (_, el) = rt::block_on_task(r, async move {
        let mut k = n;
        if fault() {
            k -= 1;
            s.count_down(1);
        }
        for _ in 0..k {
            let (s, pt) = (s.clone(), pt.clone());
            rt::spawn(async move {
                weft_peers::spin_ns(work_us as u64 * 1000);
                pt.add();
                s.ran(1);
                s.count_down(1);
            });
        }
        rt::wait(rx).await;
    });
    let mut o = Outcome::new(el, n as f64);
    o.check("tasks_ran", Shared::<Tx>::get(&sh.ran) as f64)
        .check("max_worker_share", per.max_share())
        .expect_eq("tasks that ran", Shared::<Tx>::get(&sh.ran), n);
    o.take()
}

/// fib, variant join: a task for fib(n) spawns fib(n-1) and goes on inline
/// with fib(n-2), which spawns fib(n-3) ..., down to the cutoff (weft's
/// explicit frame stack); then it awaits the handles, innermost first.
fn fib_join(n: i64, cutoff: i64) -> impl Future<Output = i64> + Send {
    async move {
        let mut handles: SmallVec<[JoinHandle<i64>; 4]> = SmallVec::new();
        let mut m = n;
        while m >= cutoff && m >= 2 {
            handles.push(rt::spawn_join(fib_join(m - 1, cutoff)));
            m -= 2;
        }
        let mut acc = weft_peers::fib_seq(m);
        for h in handles.into_iter().rev() {
            acc += rt::joined(h.await).unwrap_or(0); // a lost child: the result check catches it
        }
        acc - i64::from(fault() && n == 3)
    }
}

/// fib, variant spawn2: both fib(n-1) and fib(n-2) are tasks.
fn fib_spawn2(n: i64, cutoff: i64) -> impl Future<Output = i64> + Send {
    async move {
        if n < cutoff || n < 2 {
            return weft_peers::fib_seq(n);
        }
        let a = rt::spawn_join(fib_spawn2(n - 1, cutoff));
        let b = rt::spawn_join(fib_spawn2(n - 2, cutoff));
        rt::joined(a.await).unwrap_or(0) + rt::joined(b.await).unwrap_or(0) - i64::from(fault() && n == 3)
    }
}

fn fib(r: &Runtime, n: i64, cutoff: i64, spawn2: bool) -> Outcome {
    let (res, el) = if spawn2 {
        rt::block_on_task(r, fib_spawn2(n, cutoff))
    } else {
        rt::block_on_task(r, fib_join(n, cutoff))
    };
    weft_peers::fib_outcome(el, n, res.unwrap_or(-1))
}

/// uts mode 0: every node is a task that spawns one task per child and
/// awaits their handles, returning its subtree's counts.
fn uts_node(t: &'static uts::Tree, node: uts::Node) -> impl Future<Output = uts::Counts> + Send {
    async move {
        let mut k = t.num_children(&node);
        let mut acc = uts::Counts { nodes: 1, leaves: u64::from(k == 0), depth: node.depth as u64 };
        if fault() && node.depth == 1 {
            k = k.saturating_sub(1); // drop one subtree
        }
        let hs: SmallVec<[JoinHandle<uts::Counts>; 4]> =
            (0..k).map(|i| rt::spawn_join(uts_node(t, t.child(&node, i)))).collect();
        for h in hs {
            if let Some(c) = rt::joined(h.await) {
                acc.add(c);
            }
        }
        acc
    }
}

/// uts mode 1: children are spawned detached; every node adds itself to
/// shared counts; the outstanding-node counter reaching zero signals.
fn uts_count_node(t: &'static uts::Tree, node: uts::Node, job: Arc<uts::CountJob<Tx>>) {
    rt::spawn(async move {
        let mut k = t.num_children(&node);
        job.node(&node, k == 0);
        if fault() && node.depth == 1 {
            k = k.saturating_sub(1);
        }
        job.expect(k);
        for i in 0..k {
            uts_count_node(t, t.child(&node, i), job.clone());
        }
        job.finished();
    });
}

fn uts_row(r: &Runtime, tree: &str, mode: i64) -> Outcome {
    let t = uts::preset(tree).expect("uts tree");
    let seq = uts::sequential_counts(tree, t);
    let (got, el) = if mode == 0 {
        let (res, el) = rt::block_on_task(r, uts_node(t, t.root()));
        (res.unwrap_or_default(), el)
    } else {
        let (tx, rx) = rt::completion();
        let job = Arc::new(uts::CountJob::new(tx));
        let j = job.clone();
        let (_, el) = rt::block_on_task(r, async move {
            uts_count_node(t, t.root(), j);
            rt::wait(rx).await;
        });
        (job.counts(), el)
    };
    weft_peers::uts_outcome(el, got, seq, t.expected)
}

/// timer_storm: a root spawns N tasks; task i, when it first runs, sleeps
/// until now + d_i (rt::sleep_until) and records its lateness.
fn timer_storm(r: &Runtime, n: i64, max_delay_us: i64) -> Outcome {
    let (sh, rx) = shared(n);
    let late = Arc::new(Slots::new(n as usize));
    let tally = Arc::new(Tally::default());
    let (s, l, t) = (sh.clone(), late.clone(), tally.clone());
    let (_, el) = rt::block_on_task(r, async move {
        for i in 0..n {
            if fault() && i == 0 {
                s.count_down(1);
                continue;
            }
            let (s, l, t) = (s.clone(), l.clone(), t.clone());
            rt::spawn(async move {
                let deadline = Instant::now() + Duration::from_nanos(weft_peers::storm_delay_ns(i as u64, max_delay_us));
                rt::sleep_until(deadline).await;
                let now = Instant::now();
                if now < deadline {
                    Tally::add(&t.early, 1);
                } else {
                    l.set(i as usize, (now - deadline).as_nanos() as u64);
                }
                s.count_down(1);
            });
        }
        rt::wait(rx).await;
    });
    weft_peers::timer_storm_outcome(el, n, &late, &tally, Shared::<Tx>::get(&sh.signals))
}

/// An inner future that is pending on its first poll and ready on the second
/// (a response that arrives after the request was sent).
struct PendingOnce(bool);

impl Future for PendingOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// timeout_cancel: T tasks share N pairs; a pair wraps a PendingOnce in a
/// 10 s rt::timeout, polls it twice in the same task poll (the first arms
/// the timer, the second completes the inner and the drop cancels the
/// timer); a task yields every 1024 pairs. The tasks run in
/// rt::unconstrained (Tokio: under its coop budget the 129th timer poll of a
/// task poll would return Pending without arming).
fn timeout_cancel(r: &Runtime, n: i64, tasks: i64) -> Outcome {
    let tasks = tasks.min(n);
    let (sh, rx) = shared(tasks);
    let tally = Arc::new(Tally::default());
    let (s, tl) = (sh.clone(), tally.clone());
    let (_, el) = rt::block_on_task(r, async move {
        for ti in 0..tasks {
            let (s, tl) = (s.clone(), tl.clone());
            let share = weft_peers::timeout_cancel_share(n, tasks, ti);
            rt::spawn(rt::unconstrained(async move {
                let (mut pairs, mut not_armed, mut fired) = (0, 0, 0);
                for i in 0..share {
                    if i > 0 && i % 1024 == 0 {
                        rt::yield_now().await;
                    }
                    futures_lite::future::poll_fn(|cx| {
                        let to = rt::timeout(Duration::from_secs(10), PendingOnce(false));
                        futures_lite::pin!(to);
                        if to.as_mut().poll(cx).is_ready() {
                            not_armed += 1;
                        } else if !matches!(to.as_mut().poll(cx), Poll::Ready(Ok(()))) {
                            fired += 1;
                        }
                        pairs += 1;
                        Poll::Ready(())
                    })
                    .await;
                }
                Tally::add(&tl.pairs, pairs);
                Tally::add(&tl.not_armed, not_armed);
                Tally::add(&tl.fired, fired);
                s.count_down(1);
            }));
        }
        rt::wait(rx).await;
    });
    weft_peers::timeout_cancel_outcome(el, n, &tally)
}

/// interval_jitter: K tasks each tick an rt::interval of period P (burst
/// policy: tick k at start + k P) until start + L; jitter = delivery -
/// scheduled time.
fn interval_jitter(r: &Runtime, tasks: i64, period_us: i64, duration_ms: i64) -> Outcome {
    let expected = weft_peers::interval_expected(period_us, duration_ms);
    let (sh, rx) = shared(tasks);
    let ticks = Arc::new(Slots::new(tasks as usize));
    let jitter = Arc::new(Slots::new((tasks * expected) as usize));
    let tally = Arc::new(Tally::default());
    let (s, tk, jt, tl) = (sh.clone(), ticks.clone(), jitter.clone(), tally.clone());
    let (period, dur) = (Duration::from_micros(period_us as u64), Duration::from_millis(duration_ms as u64));
    let (_, el) = rt::block_on_task(r, async move {
        for idx in 0..tasks {
            if fault() && idx == 0 {
                s.count_down(1);
                continue;
            }
            let (s, tk, jt, tl) = (s.clone(), tk.clone(), jt.clone(), tl.clone());
            rt::spawn(async move {
                let mut iv = rt::interval(period);
                let (mut k, mut start) = (0i64, None);
                loop {
                    let sched = match rt::tick(&mut iv).await {
                        Some(t) => t,
                        None => break,
                    };
                    let now = Instant::now();
                    let st = *start.get_or_insert(sched);
                    if sched != st + period * k as u32 {
                        Tally::add(&tl.off_schedule, 1);
                    }
                    if now < sched {
                        Tally::add(&tl.early, 1);
                    }
                    if sched >= st + dur {
                        break; // scheduled past L: not counted (a late tick is jitter)
                    }
                    if k < expected {
                        jt.set((idx * expected + k) as usize, (now - sched).as_nanos() as u64);
                    }
                    k += 1;
                }
                tk.set(idx as usize, k as u64);
                s.count_down(1);
            });
        }
        rt::wait(rx).await;
    });
    weft_peers::interval_outcome(el, tasks, expected, &ticks, &jitter, &tally)
}

/// tcp_echo / tcp_stream server: accept `conns` connections (10 s watchdog
/// per accept), one echo task per connection (read up to `buf`, write it
/// all back, until EOF), then await every echo task.
async fn serve(l: rt::TcpListener, conns: u64, buf: usize, st: Arc<io::ServerStats>) {
    let mut hs = Vec::new();
    for _ in 0..conns {
        let (mut s, _) = match rt::timeout(io::STALL, l.accept()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return st.error(format!("accept: {}", e)),
            Err(_) => return st.error("accept: no connection for 10 s".into()),
        };
        st.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = s.set_nodelay(true);
        let st = st.clone();
        hs.push(rt::spawn_join(async move {
            let mut b = vec![0u8; buf];
            let mut bytes = 0u64;
            loop {
                let n = match s.read(&mut b).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        st.error(format!("read: {}", e));
                        break;
                    }
                };
                st.maybe_corrupt(&mut b[..n]);
                if let Err(e) = s.write_all(&b[..n]).await {
                    st.error(format!("write: {}", e));
                    break;
                }
                bytes += n as u64;
            }
            st.echoed.fetch_add(bytes, Ordering::Relaxed);
        }));
    }
    for h in hs {
        let _ = h.await;
    }
}

/// tcp_echo: the server on the runtime, C connections from T client threads
/// outside it (closed loop); timed from starting the clients to joining them.
fn tcp_echo(r: &Runtime, conns: i64, msg: i64, reqs: i64, threads: i64) -> Outcome {
    let (l, port) = match rt::listener(r) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let st = Arc::new(io::ServerStats::default());
    let s = st.clone();
    let t0 = Instant::now();
    let clients = io::start_echo_clients(port, conns as u64, msg as usize, reqs as u64, threads as u64);
    rt::block_on_task(r, serve(l, conns as u64, 4096, s));
    let res = io::join_echo_clients(clients);
    io::echo_outcome(t0.elapsed(), conns as u64, msg as u64, reqs as u64, res, &st)
}

/// tcp_stream: one connection (made before the clock) streams B bytes
/// through an echo task and back; writer and reader are plain threads.
fn tcp_stream(r: &Runtime, bytes: i64) -> Outcome {
    let (l, port) = match rt::listener(r) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let client = match io::StreamClient::connect(port, bytes as u64) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let st = Arc::new(io::ServerStats::default());
    let s = st.clone();
    let t0 = Instant::now();
    let (w, rd) = client.start();
    rt::block_on_task(r, serve(l, 1, 64 << 10, s));
    let (w, rd) = (io::join_side(w), io::join_side(rd));
    io::stream_outcome(t0.elapsed(), bytes as u64, w, rd, &st)
}

/// blocking_mix: the root spawns J spawn_blocking jobs of busy CPU work,
/// then S short tasks that sleep 1 ms and record completion - (spawn +
/// sleep); it awaits the short tasks' count-down, then joins every job.
fn blocking_mix(r: &Runtime, nshort: i64, sleep_us: i64, njobs: i64, blocking_us: i64) -> Outcome {
    let (sh, rx) = shared(nshort);
    let lat = Arc::new(Slots::new(nshort as usize));
    let tally = Arc::new(Tally::default());
    let (s, l, tl) = (sh.clone(), lat.clone(), tally.clone());
    let sleep = Duration::from_micros(sleep_us as u64);
    let (_, el) = rt::block_on_task(r, async move {
        let jobs: Vec<JoinHandle<i64>> = (0..njobs).map(|j| {
            let tl = tl.clone();
            rt::spawn_blocking(move || {
                weft_peers::spin_ns(blocking_us as u64 * 1000);
                Tally::add(&tl.job_runs, 1);
                j
            })
        }).collect();
        for i in 0..nshort {
            if fault() && i == 0 {
                s.count_down(1);
                continue;
            }
            let (s, l, tl) = (s.clone(), l.clone(), tl.clone());
            let spawned = Instant::now();
            rt::spawn(async move {
                rt::sleep(sleep).await;
                let (now, ideal) = (Instant::now(), spawned + sleep);
                if now < ideal {
                    Tally::add(&tl.early, 1);
                } else {
                    l.set(i as usize, (now - ideal).as_nanos() as u64);
                }
                s.count_down(1);
            });
        }
        rt::wait(rx).await;
        for (j, h) in jobs.into_iter().enumerate() {
            if rt::joined(h.await) == Some(j as i64) {
                Tally::add(&tl.jobs_joined_ok, 1);
            }
        }
    });
    weft_peers::blocking_mix_outcome(el, nshort, njobs, &lat, &tally)
}

fn fail(e: String) -> Outcome {
    let mut o = Outcome::default();
    o.fail(e);
    o
}

fn run(r: &Runtime, row: &Row) -> Outcome {
    let p = |n| row.params.get(n);
    match row.workload.name {
        "spawn_many" => spawn_many(r, p("n")),
        "yield_many" => yield_many(r, p("tasks"), p("yields")),
        "ping_pong" => ping_pong(r, p("pings")),
        "chained_spawn" => chained_spawn(r, p("depth")),
        "spawn_remote" => spawn_remote(r, p("n")),
        "fanout_skew" => fanout_skew(r, p("n"), p("work_us")),
        "fib" => fib(r, p("n"), p("cutoff"), row.variant == Some("spawn2")),
        "uts" => {
            let tree = format!("{}{}", row.variant.unwrap_or("T1"), if p("quick_tree") == 1 { "-quick" } else { "" });
            uts_row(r, &tree, p("mode"))
        }
        "timer_storm" => timer_storm(r, p("n"), p("max_delay_us")),
        "timeout_cancel" => timeout_cancel(r, p("n"), p("tasks")),
        "interval_jitter" => interval_jitter(r, p("tasks"), p("period_us"), p("duration_ms")),
        "tcp_echo" => tcp_echo(r, p("conns"), p("msg_bytes"), p("requests"), p("client_threads")),
        "tcp_stream" => tcp_stream(r, p("bytes")),
        "blocking_mix" => blocking_mix(r, p("short_tasks"), p("sleep_us"), p("blocking_jobs"), p("blocking_us")),
        w => fail(format!("{}: not implemented on {}", w, rt::NAME)),
    }
}
