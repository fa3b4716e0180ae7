//! Where timer_storm's lateness comes from on Tokio (docs/WORKLOADS.md,
//! "timer_storm: the same quantity, a different queue"): the workload of
//! weft-peer-tokio with every task's first-poll, deadline and wake times kept,
//! so the lateness splits into the timers that fell due while never-run
//! spawned tasks were still queued and the ones that fell due after.
//!     cargo build --release --offline --example timer_storm_probe   (Debian's cargo, as build.sh)
//!     target/release/examples/timer_storm_probe ct|mt N D_US [WORKERS]
//! Not built by build.sh; not part of the harness.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ct = args[1] == "ct";
    let n: usize = args[2].parse().unwrap();
    let dmax: u64 = args[3].parse().unwrap(); // us
    let mut b = if ct { tokio::runtime::Builder::new_current_thread() } else { let mut b = tokio::runtime::Builder::new_multi_thread(); b.worker_threads(args[4].parse().unwrap()); b };
    let rt = b.enable_all().build().unwrap();
    for it in 0..3 {
        let first = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let dl = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let wake = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>());
        let t0 = Instant::now();
        let (f, d, w) = (first.clone(), dl.clone(), wake.clone());
        let spawn_end = rt.block_on(async move { tokio::spawn(async move {
            let mut hs = Vec::with_capacity(n);
            for i in 0..n {
                let (f, d, w) = (f.clone(), d.clone(), w.clone());
                hs.push(tokio::spawn(async move {
                    let now = Instant::now();
                    let deadline = now + Duration::from_nanos(weft_peers::storm_delay_ns(i as u64, dmax as i64));
                    f[i].store((now - t0).as_nanos() as u64, Ordering::Relaxed);
                    d[i].store((deadline - t0).as_nanos() as u64, Ordering::Relaxed);
                    tokio::time::sleep_until(deadline.into()).await;
                    w[i].store((Instant::now() - t0).as_nanos() as u64, Ordering::Relaxed);
                }));
            }
            let se = t0.elapsed();
            for h in hs { let _ = h.await; }
            se
        }).await.unwrap() });
        let el = t0.elapsed();
        let g = |v: &Vec<AtomicU64>, i: usize| v[i].load(Ordering::Relaxed);
        let last_first = (0..n).map(|i| g(&first, i)).max().unwrap();
        let first_first = (0..n).map(|i| g(&first, i)).min().unwrap();
        let mut late: Vec<u64> = (0..n).map(|i| g(&wake, i) - g(&dl, i)).collect();
        let mut late_before: Vec<u64> = (0..n).filter(|&i| g(&dl, i) < last_first).map(|i| g(&wake, i) - g(&dl, i)).collect();
        let mut late_after: Vec<u64> = (0..n).filter(|&i| g(&dl, i) >= last_first).map(|i| g(&wake, i) - g(&dl, i)).collect();
        let pct = |v: &mut Vec<u64>, p: f64| { v.sort_unstable(); if v.is_empty() { 0.0 } else { v[((p * v.len() as f64 / 100.0).ceil() as usize).clamp(1, v.len()) - 1] as f64 / 1e3 } };
        println!("it {} {}: elapsed {:.1} ms, spawn loop {:.1} ms, first polls from {:.1} to {:.1} ms; lateness p50 {:.0} p99 {:.0} us; deadline before the last first poll: {} timers p50 {:.0} p99 {:.0} us; after: {} p50 {:.0} p99 {:.0} us",
            it, if ct {"ct"} else {"mt"}, el.as_secs_f64()*1e3, spawn_end.as_secs_f64()*1e3, first_first as f64/1e6, last_first as f64/1e6,
            pct(&mut late, 50.0), pct(&mut late, 99.0), late_before.len(), pct(&mut late_before, 50.0), pct(&mut late_before, 99.0), late_after.len(), pct(&mut late_after, 50.0), pct(&mut late_after, 99.0));
    }
}
