//! What a trait-based rt would cost yield_many on Rust 1.63: a trait cannot
//! name tokio's `yield_now()` future (an opaque `async fn` type), so it would
//! have to return it boxed. This runs yield_many's tasks (T tasks x Y yields,
//! spawned from outside, the main thread in block_on) with the plain and the
//! boxed yield alternately on one runtime and prints ns per yield.
//!     target/release/examples/boxed_yield_cost ct|mt WORKERS ROUNDS
//! A diagnostic for src/workloads.rs's choice; not built by build.sh.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn boxed_yield() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(tokio::task::yield_now())
}

fn run(rt: &tokio::runtime::Runtime, boxed: bool, tasks: i64, yields: i64) -> f64 {
    let left = Arc::new(AtomicI64::new(tasks));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let t0 = Instant::now();
    for _ in 0..tasks {
        let (left, tx) = (left.clone(), tx.clone());
        rt.spawn(async move {
            for _ in 0..yields {
                if boxed {
                    boxed_yield().await;
                } else {
                    tokio::task::yield_now().await;
                }
            }
            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                if let Some(t) = tx.lock().unwrap().take() {
                    let _ = t.send(());
                }
            }
        });
    }
    let _ = rt.block_on(rx);
    t0.elapsed().as_nanos() as f64 / (tasks * yields) as f64
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let rounds: usize = a[3].parse().unwrap();
    let rt = if a[1] == "ct" {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(a[2].parse().unwrap()).enable_all().build().unwrap()
    };
    run(&rt, false, 200, 1000);
    run(&rt, true, 200, 1000);
    let (mut p, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        p.push(run(&rt, false, 200, 1000));
        b.push(run(&rt, true, 200, 1000));
    }
    let med = |v: &mut Vec<f64>| { v.sort_by(|x, y| x.partial_cmp(y).unwrap()); v[v.len() / 2] };
    let (mp, mb) = (med(&mut p), med(&mut b));
    println!("tokio-{} yield_many 200 x 1000, {} rounds alternating: plain {:.1} ns/yield, boxed {:.1} ns/yield (median), boxed/plain {:.3}; min {:.1} / {:.1}",
        a[1], rounds, mp, mb, mb / mp, p[0], b[0]);
}
