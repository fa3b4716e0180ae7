//! The load side of tcp_echo and tcp_stream, a port of weft's workloads/io.c
//! clients: plain OS threads with std sockets and poll(2), no runtime code,
//! so the load costs the same whatever runtime serves it. The server half is
//! runtime-specific and lives in each binary.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A client call that makes no progress for this long fails the iteration.
pub const STALL: Duration = Duration::from_secs(10);

/// A listener on 127.0.0.1, port 0, non-blocking (for the runtime to adopt).
pub fn listen() -> std::io::Result<(TcpListener, u16)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    l.set_nonblocking(true)?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

fn connect(port: u16) -> Result<TcpStream, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect to 127.0.0.1:{}: {}", port, e))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

// ---- tcp_echo: closed loop ------------------------------------------------------------

/// The message of request `req` on connection `conn` (weft's te_fill).
fn fill(buf: &mut [u8], conn: u64, req: u64) {
    let mut x = crate::splitmix64((conn << 32) ^ req);
    for b in buf.iter_mut() {
        *b = (x >> 56) as u8;
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    }
}

#[derive(Default)]
pub struct EchoResult {
    pub completed: u64,
    pub corrupt: u64,
    pub rx_bytes: u64,
    pub latency_ns: Vec<u64>,
    pub error: Option<String>,
}

struct Conn {
    s: TcpStream,
    id: u64,
    req: u64,
    sent: usize,
    rcvd: usize,
    t_send: Instant,
    tx: Vec<u8>,
    rx: Vec<u8>,
    open: bool,
}

/// One client thread: connections [first, first + count), driven with poll().
fn echo_thread(port: u16, first: u64, count: u64, msg: usize, reqs: u64) -> EchoResult {
    let mut r = EchoResult::default();
    if let Err(e) = echo_loop(port, first, count, msg, reqs, &mut r) {
        r.error = Some(e);
    }
    r
}

fn echo_loop(port: u16, first: u64, count: u64, msg: usize, reqs: u64, r: &mut EchoResult) -> Result<(), String> {
    let mut conns = Vec::new();
    for i in 0..count {
        let s = connect(port)?;
        s.set_nonblocking(true).map_err(|e| format!("O_NONBLOCK: {}", e))?;
        conns.push(Conn { s, id: first + i, req: 0, sent: 0, rcvd: 0, t_send: Instant::now(),
            tx: vec![0; msg], rx: vec![0; msg], open: true });
    }
    for c in conns.iter_mut() {
        start(c)?;
    }
    let mut active = conns.len();
    while active > 0 {
        let mut pfd: Vec<libc::pollfd> = Vec::with_capacity(active);
        let mut idx = Vec::with_capacity(active);
        for (i, c) in conns.iter().enumerate().filter(|(_, c)| c.open) {
            let ev = libc::POLLIN | if c.sent < msg { libc::POLLOUT } else { 0 };
            pfd.push(libc::pollfd { fd: c.s.as_raw_fd(), events: ev, revents: 0 });
            idx.push(i);
        }
        let n = unsafe { libc::poll(pfd.as_mut_ptr(), pfd.len() as libc::nfds_t, STALL.as_millis() as i32) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {}", e));
        }
        if n == 0 {
            return Err(format!("no echo for {} ms ({} of {} connections unfinished)", STALL.as_millis(), active, count));
        }
        for (k, p) in pfd.iter().enumerate() {
            if p.revents == 0 {
                continue;
            }
            let c = &mut conns[idx[k]];
            if p.revents & libc::POLLOUT != 0 {
                send_more(c)?;
            }
            if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                recv(c, reqs, r, &mut active)?;
            }
        }
    }
    Ok(())
}

fn start(c: &mut Conn) -> Result<(), String> {
    fill(&mut c.tx, c.id, c.req);
    c.sent = 0;
    c.rcvd = 0;
    c.t_send = Instant::now();
    send_more(c)
}

fn send_more(c: &mut Conn) -> Result<(), String> {
    while c.sent < c.tx.len() {
        match c.s.write(&c.tx[c.sent..]) {
            Ok(n) => c.sent += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(format!("connection {}: send: {}", c.id, e)),
        }
    }
    Ok(())
}

fn recv(c: &mut Conn, reqs: u64, r: &mut EchoResult, active: &mut usize) -> Result<(), String> {
    loop {
        let msg = c.rx.len();
        match c.s.read(&mut c.rx[c.rcvd..]) {
            Ok(0) => return Err(format!("connection {}, request {}: the server closed the connection", c.id, c.req)),
            Ok(n) => {
                c.rcvd += n;
                r.rx_bytes += n as u64;
                if c.rcvd < msg {
                    continue;
                }
                r.latency_ns.push(c.t_send.elapsed().as_nanos() as u64);
                if c.tx != c.rx {
                    r.corrupt += 1;
                }
                r.completed += 1;
                c.req += 1;
                if c.req == reqs {
                    c.open = false;
                    let _ = c.s.shutdown(Shutdown::Both);
                    *active -= 1;
                    return Ok(());
                }
                start(c)?;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(format!("connection {}, request {}: {}", c.id, c.req, e)),
        }
    }
}

/// Starts the client threads: `conns` connections spread over `threads`.
pub fn start_echo_clients(port: u16, conns: u64, msg: usize, reqs: u64, threads: u64) -> Vec<JoinHandle<EchoResult>> {
    let threads = threads.min(conns);
    let mut first = 0;
    (0..threads).map(|t| {
        let count = conns / threads + u64::from(t < conns % threads);
        let f = first;
        first += count;
        std::thread::spawn(move || echo_thread(port, f, count, msg, reqs))
    }).collect()
}

pub fn join_echo_clients(h: Vec<JoinHandle<EchoResult>>) -> EchoResult {
    let mut all = EchoResult::default();
    for r in h.into_iter().map(|h| h.join().unwrap_or_else(|_| EchoResult {
        error: Some("client thread panicked".into()), ..Default::default() })) {
        all.completed += r.completed;
        all.corrupt += r.corrupt;
        all.rx_bytes += r.rx_bytes;
        all.latency_ns.extend(r.latency_ns);
        if all.error.is_none() {
            all.error = r.error;
        }
    }
    all
}

// ---- tcp_stream ---------------------------------------------------------------------

const CHUNK: usize = 256 << 10;
const FNV_PRIME: u64 = 0x100000001b3;
const FNV_BASIS: u64 = 0xcbf29ce484222325;

/// weft's 4-lane FNV-1a over 64-bit little-endian words, independent of how
/// the stream was cut into calls.
pub struct Fnv4 {
    h: [u64; 4],
    tail: [u8; 32],
    ntail: usize,
    total: u64,
}

impl Fnv4 {
    pub fn new() -> Self {
        Fnv4 { h: [FNV_BASIS, FNV_BASIS + 1, FNV_BASIS + 2, FNV_BASIS + 3], tail: [0; 32], ntail: 0, total: 0 }
    }
    fn block(h: &mut [u64; 4], p: &[u8]) {
        for (i, w) in p.chunks_exact(8).enumerate() {
            h[i] = (h[i] ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(FNV_PRIME);
        }
    }
    pub fn update(&mut self, mut p: &[u8]) {
        self.total += p.len() as u64;
        if self.ntail > 0 {
            let k = (32 - self.ntail).min(p.len());
            self.tail[self.ntail..self.ntail + k].copy_from_slice(&p[..k]);
            self.ntail += k;
            p = &p[k..];
            if self.ntail < 32 {
                return;
            }
            let t = self.tail;
            Self::block(&mut self.h, &t);
            self.ntail = 0;
        }
        let mut it = p.chunks_exact(32);
        for b in &mut it {
            Self::block(&mut self.h, b);
        }
        let rest = it.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.ntail = rest.len();
    }
    pub fn finish(mut self) -> u64 {
        if self.ntail > 0 {
            for b in &mut self.tail[self.ntail..] {
                *b = 0;
            }
            let t = self.tail;
            Self::block(&mut self.h, &t);
        }
        let mut h = self.total;
        for x in self.h {
            h = (h ^ x).wrapping_mul(FNV_PRIME);
        }
        h
    }
}

impl Default for Fnv4 {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Default)]
pub struct Side {
    pub bytes: u64,
    pub hash: u64,
    pub error: Option<String>,
}

/// One connection, connected before the clock starts; the writer and reader
/// threads are started by `start`.
pub struct StreamClient {
    s: TcpStream,
    bytes: u64,
}

impl StreamClient {
    pub fn connect(port: u16, bytes: u64) -> Result<Self, String> {
        let s = connect(port)?;
        let _ = s.set_write_timeout(Some(STALL));
        let _ = s.set_read_timeout(Some(STALL));
        Ok(StreamClient { s, bytes })
    }

    /// Starts the writer (a Weyl sequence of 64-bit words, then a half-close)
    /// and the reader (until EOF); each hashes what it sent / received.
    pub fn start(self) -> (JoinHandle<Side>, JoinHandle<Side>) {
        let mut ws = self.s.try_clone().expect("dup socket");
        let mut rs = self.s;
        let total = self.bytes;
        let w = std::thread::spawn(move || {
            let mut side = Side::default();
            let mut f = Fnv4::new();
            let mut buf = vec![0u8; CHUNK];
            let mut word: u64 = 0;
            while side.bytes < total {
                let n = ((total - side.bytes) as usize).min(CHUNK);
                for w8 in buf[..(n + 7) / 8 * 8].chunks_exact_mut(8) {
                    word += 1;
                    w8.copy_from_slice(&word.wrapping_mul(0x9e3779b97f4a7c15).to_le_bytes());
                }
                f.update(&buf[..n]);
                if let Err(e) = ws.write_all(&buf[..n]) {
                    side.error = Some(format!("writer: send after {} bytes: {}", side.bytes, e));
                    let _ = ws.shutdown(Shutdown::Both);
                    break;
                }
                side.bytes += n as u64;
            }
            if side.error.is_none() {
                if let Err(e) = ws.shutdown(Shutdown::Write) {
                    side.error = Some(format!("writer: shutdown: {}", e));
                }
            }
            side.hash = f.finish();
            side
        });
        let r = std::thread::spawn(move || {
            let mut side = Side::default();
            let mut f = Fnv4::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                match rs.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        f.update(&buf[..n]);
                        side.bytes += n as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        side.error = Some(format!("reader: recv after {} bytes: {}", side.bytes, e));
                        let _ = rs.shutdown(Shutdown::Both);
                        break;
                    }
                }
            }
            side.hash = f.finish();
            side
        });
        (w, r)
    }
}

pub fn join_side(h: JoinHandle<Side>) -> Side {
    h.join().unwrap_or_else(|_| Side { error: Some("client thread panicked".into()), ..Default::default() })
}

#[cfg(test)]
mod tests {
    use super::Fnv4;
    #[test]
    fn fnv4_independent_of_cuts() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut a = Fnv4::new();
        a.update(&data);
        let mut b = Fnv4::new();
        for c in data.chunks(13) {
            b.update(c);
        }
        assert_eq!(a.finish(), b.finish());
    }
}

// ---- what the server saw, and the self-checks of both IO workloads -----------------

/// Counters of the runtime's echo server, shared by its tasks.
#[derive(Default)]
pub struct ServerStats {
    pub accepted: std::sync::atomic::AtomicU64,
    pub echoed: std::sync::atomic::AtomicU64,
    errors: std::sync::Mutex<Vec<String>>,
    fault_done: std::sync::atomic::AtomicBool,
}

impl ServerStats {
    pub fn error(&self, e: String) {
        self.errors.lock().unwrap().push(e);
    }
    /// Fault injection: corrupt one byte of one echoed read, once per iteration.
    pub fn maybe_corrupt(&self, buf: &mut [u8]) {
        use std::sync::atomic::Ordering::Relaxed;
        if crate::fault() && !buf.is_empty() && !self.fault_done.swap(true, Relaxed) {
            let n = buf.len();
            buf[n - 1] ^= 0x5a;
        }
    }
    fn first_error(&self) -> Option<String> {
        let e = self.errors.lock().unwrap();
        e.first().map(|f| format!("server errors: expected 0, got {} (the first: {})", e.len(), f))
    }
}

/// tcp_echo's counters and checks, as weft's run_tcp_echo.
pub fn echo_outcome(elapsed: Duration, conns: u64, msg: u64, reqs: u64, mut c: EchoResult, s: &ServerStats) -> crate::Outcome {
    use std::sync::atomic::Ordering::Relaxed;
    let mut o = crate::Outcome::new(elapsed, (conns * reqs) as f64);
    o.latency = Some(crate::latency_of(&mut c.latency_ns));
    let echoed = s.echoed.load(Relaxed);
    o.check("requests", c.completed as f64)
        .check("requests_per_s", c.completed as f64 / elapsed.as_secs_f64())
        .check("bytes_echoed", echoed as f64)
        .check("corrupted_echoes", c.corrupt as f64);
    if let Some(e) = c.error {
        o.fail(format!("client: {}", e));
    }
    if let Some(e) = s.first_error() {
        o.fail(e);
    }
    o.expect_eq("connections accepted", s.accepted.load(Relaxed) as i64, conns as i64)
        .expect_eq("corrupted echoes", c.corrupt as i64, 0)
        .expect_eq("requests completed", c.completed as i64, (conns * reqs) as i64)
        .expect_eq("bytes echoed by the server", echoed as i64, (conns * reqs * msg) as i64);
    o.take()
}

/// tcp_stream's counters and checks, as weft's run_tcp_stream.
pub fn stream_outcome(elapsed: Duration, bytes: u64, w: Side, r: Side, s: &ServerStats) -> crate::Outcome {
    use std::sync::atomic::Ordering::Relaxed;
    let mut o = crate::Outcome::new(elapsed, bytes as f64);
    o.check("bytes_returned", r.bytes as f64)
        .check("GiB_per_s", bytes as f64 / (1u64 << 30) as f64 / elapsed.as_secs_f64());
    if let Some(e) = w.error.or(r.error) {
        o.fail(format!("client {}", e));
    }
    if let Some(e) = s.first_error() {
        o.fail(e);
    }
    o.expect_eq("connections accepted", s.accepted.load(Relaxed) as i64, 1)
        .expect_eq("bytes sent", w.bytes as i64, bytes as i64)
        .expect_eq("bytes echoed by the server", s.echoed.load(Relaxed) as i64, bytes as i64)
        .expect_eq("bytes returned", r.bytes as i64, bytes as i64);
    if w.hash != r.hash {
        o.fail(format!("checksum of the returned stream: expected {:016x}, got {:016x}", w.hash, r.hash));
    }
    o.take()
}
