//! weft's standard workloads on Tokio: `tokio-mt` (multi-thread scheduler,
//! N workers) and `tokio-ct` (current-thread scheduler, workers:1). The
//! runtime is built once per process; every iteration runs its root task with
//! `rt.block_on(spawn(root))` (weft's block_on also runs the root as a task)
//! and is timed around that, as weft and Tokio's own benches time block_on.
//! The workload bodies are src/workloads.rs; `rt` is Tokio's side of them.

mod rt {
    use std::future::Future;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    use tokio::sync::oneshot;
    use weft_peers::Signal;

    pub use tokio::net::TcpListener;
    pub use tokio::runtime::Runtime;
    pub use tokio::task::{unconstrained, yield_now, JoinHandle};
    pub const NAME: &str = "Tokio";

    /// The completion signal: a Tokio oneshot, sent by whoever takes it first.
    pub struct Tx(Mutex<Option<oneshot::Sender<()>>>);

    impl Signal for Tx {
        fn signal(&self) {
            if let Some(t) = self.0.lock().unwrap().take() {
                let _ = t.send(());
            }
        }
    }

    pub type Rx = oneshot::Receiver<()>;

    pub fn completion() -> (Tx, Rx) {
        let (tx, rx) = oneshot::channel();
        (Tx(Mutex::new(Some(tx))), rx)
    }

    pub fn wait(rx: Rx) -> impl Future<Output = ()> + Send {
        async move {
            let _ = rx.await;
        }
    }

    /// Runs `root` as a task and waits for it from the calling thread; returns
    /// the root's output and the time of the whole block_on.
    pub fn block_on_task<F>(rt: &Runtime, root: F) -> (Option<F::Output>, Duration)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let t0 = Instant::now();
        let r = rt.block_on(async move { tokio::spawn(root).await.ok() });
        (r, t0.elapsed())
    }

    pub fn block_on<F: Future>(rt: &Runtime, f: F) -> F::Output {
        rt.block_on(f)
    }

    /// Spawns from outside the runtime through a Handle (the inject queue).
    pub type Remote = tokio::runtime::Handle;

    pub fn remote(rt: &Runtime) -> Remote {
        rt.handle().clone()
    }

    pub fn spawn_remote<F: Future<Output = ()> + Send + 'static>(h: &Remote, f: F) {
        h.spawn(f);
    }

    pub fn spawn<F: Future<Output = ()> + Send + 'static>(f: F) {
        tokio::spawn(f);
    }

    pub fn spawn_join<F>(f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(f)
    }

    pub fn spawn_blocking<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(f: F) -> JoinHandle<T> {
        tokio::task::spawn_blocking(f)
    }

    /// A joined task's output (None: it panicked or was cancelled).
    pub fn joined<T>(r: Result<T, tokio::task::JoinError>) -> Option<T> {
        r.ok()
    }

    pub type OTx<T> = oneshot::Sender<T>;
    pub type ORx<T> = oneshot::Receiver<T>;

    pub fn oneshot<T>() -> (OTx<T>, ORx<T>) {
        oneshot::channel()
    }

    pub fn send<T>(tx: OTx<T>, v: T) {
        let _ = tx.send(v);
    }

    pub fn recv<T>(rx: ORx<T>) -> impl Future<Output = Option<T>> {
        async move { rx.await.ok() }
    }

    pub fn sleep(d: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(d)
    }

    pub fn sleep_until(t: Instant) -> tokio::time::Sleep {
        tokio::time::sleep_until(t.into())
    }

    pub fn timeout<F: Future>(d: Duration, f: F) -> tokio::time::Timeout<F> {
        tokio::time::timeout(d, f)
    }

    /// tokio::time::interval with MissedTickBehavior::Burst: tick k at start + k P.
    pub type Interval = tokio::time::Interval;

    pub fn interval(period: Duration) -> Interval {
        let mut iv = tokio::time::interval(period);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        iv
    }

    pub fn tick(iv: &mut Interval) -> impl Future<Output = Option<Instant>> + Send + '_ {
        async move { Some(iv.tick().await.into_std()) }
    }

    pub fn listener(rt: &Runtime) -> Result<(TcpListener, u16), String> {
        let (l, port) = weft_peers::io::listen().map_err(|e| format!("listen on 127.0.0.1: {}", e))?;
        let _g = rt.enter();
        Ok((TcpListener::from_std(l).map_err(|e| e.to_string())?, port))
    }

    pub mod io_ext {
        pub use tokio::io::{AsyncReadExt, AsyncWriteExt};
    }
}

include!("../workloads.rs");

static DIFFERENCES: &[&str] = &[
    "all: completion is a tokio::sync::oneshot; each task holds an Arc of the shared counters (weft: a pointer)",
    "spawn_remote (tokio-ct): the outside thread spawns through a Handle into the inject queue, drained by the thread in block_on",
    "fanout_skew: max_worker_share counts the N leaf tasks per OS thread (weft: all polls per worker)",
    "timer_storm, interval_jitter, blocking_mix: Tokio's timer wheel has 1 ms resolution (deadlines round up to the next ms tick), so lateness and jitter include up to 1 ms of rounding (interval_jitter's last tick often lands past L: one tick short, inside the 1 % tolerance)",
    "timer_storm: a timer's wake goes to the back of the run queue that also holds the spawned tasks not yet run (tokio-mt: all but the last wake of a driver turn, which takes the LIFO slot), where weft's fifo runs woken tasks first: at n = 100 000 most of the lateness is that backlog, not the timer wheel (docs/WORKLOADS.md, timer_storm: the same quantity, a different queue)",
    "timeout_cancel: the tasks run in tokio::task::unconstrained (under the coop budget a timer poll past 128 per task poll returns Pending without arming); the driver's entry count cannot be read, so armed_left and the seen-armed check are not reported",
    "tcp_echo, tcp_stream: accept has a 10 s timeout instead of weft's select on the clients' exit",
];

fn main() {
    let peer = weft_peers::Peer {
        program: "weft-peer-tokio",
        runtimes: &["tokio-mt", "tokio-ct"],
        versions: format!("{}; tokio {}", env!("WEFT_PEER_RUSTC"), env!("WEFT_PEER_TOKIO")),
        differences: DIFFERENCES,
    };
    let o = weft_peers::parse_args(&peer);
    let mut b = if o.runtime == "tokio-ct" {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(o.workers);
        b
    };
    let rt = b.enable_all().build().unwrap_or_else(|e| {
        eprintln!("weft-peer-tokio: cannot build the runtime: {}", e);
        std::process::exit(1);
    });
    weft_peers::run_rows(&peer, &o, &mut |row| run(&rt, row));
}
