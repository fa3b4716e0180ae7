//! weft's standard workloads on async-std 1.12: one global executor of N
//! threads (ASYNC_STD_THREAD_COUNT, set before its first use), plus
//! async-io's reactor thread. Every iteration spawns its root task and waits
//! for it with `task::block_on` from the main thread (weft's block_on also
//! runs the root as a task), timed around that.
//! The workload bodies are src/workloads.rs; `rt` is async-std's side of them.

mod rt {
    use async_std::channel::{bounded, Receiver, Sender};
    use async_std::task;
    use futures_lite::StreamExt;
    use std::future::Future;
    use std::time::{Duration, Instant};
    use weft_peers::Signal;

    pub use async_std::future::timeout;
    pub use async_std::net::TcpListener;
    pub use async_std::task::{sleep, yield_now, JoinHandle};
    pub const NAME: &str = "async-std";

    /// The process's one runtime: async-std's global executor.
    pub struct Runtime;

    /// The completion signal: async-std has no oneshot; a bounded(1) channel
    /// (async-channel, re-exported as async_std::channel) stands in for one.
    pub struct Tx(Sender<()>);

    impl Signal for Tx {
        fn signal(&self) {
            let _ = self.0.try_send(());
        }
    }

    pub type Rx = Receiver<()>;

    pub fn completion() -> (Tx, Rx) {
        let (tx, rx) = bounded(1);
        (Tx(tx), rx)
    }

    pub fn wait(rx: Rx) -> impl Future<Output = ()> + Send {
        async move {
            let _ = rx.recv().await;
        }
    }

    /// Runs `root` as a task and waits for it from the calling thread; returns
    /// the root's output and the time of the whole block_on.
    pub fn block_on_task<F>(_: &Runtime, root: F) -> (Option<F::Output>, Duration)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let t0 = Instant::now();
        let r = task::block_on(task::spawn(root));
        (Some(r), t0.elapsed())
    }

    pub fn block_on<F: Future>(_: &Runtime, f: F) -> F::Output {
        task::block_on(f)
    }

    /// Spawns from outside the runtime: every spawn goes to the global queue.
    #[derive(Clone)]
    pub struct Remote;

    pub fn remote(_: &Runtime) -> Remote {
        Remote
    }

    pub fn spawn_remote<F: Future<Output = ()> + Send + 'static>(_: &Remote, f: F) {
        task::spawn(f);
    }

    pub fn spawn<F: Future<Output = ()> + Send + 'static>(f: F) {
        task::spawn(f);
    }

    pub fn spawn_join<F>(f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        task::spawn(f)
    }

    pub fn spawn_blocking<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(f: F) -> JoinHandle<T> {
        task::spawn_blocking(f)
    }

    /// A joined task's output (async-std's handle yields it directly).
    pub fn joined<T>(r: T) -> Option<T> {
        Some(r)
    }

    /// No oneshot: bounded(1) channels.
    pub type OTx<T> = Sender<T>;
    pub type ORx<T> = Receiver<T>;

    pub fn oneshot<T>() -> (OTx<T>, ORx<T>) {
        bounded(1)
    }

    pub fn send<T>(tx: OTx<T>, v: T) {
        let _ = tx.try_send(v);
    }

    pub fn recv<T>(rx: ORx<T>) -> impl Future<Output = Option<T>> {
        async move { rx.recv().await.ok() }
    }

    pub fn sleep_until(t: Instant) -> async_io::Timer {
        async_io::Timer::at(t)
    }

    /// Not needed: async-std has no coop budget.
    pub fn unconstrained<F>(f: F) -> F {
        f
    }

    /// async_io::Timer::interval_at(now, P): async-io reschedules at the
    /// previous deadline + P (the burst policy, tick k at start + k P).
    pub type Interval = async_io::Timer;

    pub fn interval(period: Duration) -> Interval {
        async_io::Timer::interval_at(Instant::now(), period)
    }

    pub fn tick(iv: &mut Interval) -> impl Future<Output = Option<Instant>> + Send + '_ {
        iv.next()
    }

    pub fn listener(_: &Runtime) -> Result<(TcpListener, u16), String> {
        let (l, port) = weft_peers::io::listen().map_err(|e| format!("listen on 127.0.0.1: {}", e))?;
        Ok((TcpListener::from(l), port))
    }

    pub mod io_ext {
        pub use async_std::io::{ReadExt, WriteExt};
    }
}

include!("../workloads.rs");

static DIFFERENCES: &[&str] = &[
    "all: async-std has no oneshot: completion and ping_pong's messages use bounded(1) channels (async-channel); each task holds an Arc of the shared counters (weft: a pointer); the executor is one global pool of N threads (ASYNC_STD_THREAD_COUNT) and async-io runs its own reactor thread besides, which N does not count; the main thread waits in block_on and runs no tasks",
    "fanout_skew: max_worker_share counts the N leaf tasks per OS thread (weft: all polls per worker); async-executor pushes every spawn to one global queue, so there is no single worker's queue to steal from",
    "timer_storm, interval_jitter, blocking_mix: timers are async-io's (a BTreeMap behind the reactor thread; a wake-up is a reactor event plus a global-queue push)",
    "timer_storm: a woken task goes to the back of the global queue, behind the spawned tasks not yet run, where weft's fifo runs woken tasks first: at n = 100 000 most of the lateness is that backlog, not the timers (docs/WORKLOADS.md, timer_storm: the same quantity, a different queue)",
    "timeout_cancel: arm and cancel go through async-io's timer-op queue; the reactor's entry count cannot be read, so armed_left and the seen-armed check are not reported",
    "tcp_echo, tcp_stream: accept has a 10 s timeout instead of weft's select on the clients' exit",
];

fn main() {
    let peer = weft_peers::Peer {
        program: "weft-peer-async-std",
        runtimes: &["async-std"],
        versions: format!("{}; async-std {}", env!("WEFT_PEER_RUSTC"), env!("WEFT_PEER_ASYNC_STD")),
        differences: DIFFERENCES,
    };
    let o = weft_peers::parse_args(&peer);
    // read once, at the executor's first use: before anything spawns
    std::env::set_var("ASYNC_STD_THREAD_COUNT", o.workers.to_string());
    let rt = Runtime;
    weft_peers::run_rows(&peer, &o, &mut |row| run(&rt, row));
}
