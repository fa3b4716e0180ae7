//! The UTS tree generator (Olivier et al., LCPC 2006), a port of weft's
//! workloads/uts_tree.c, which matches the reference bit for bit: node state
//! is a SHA-1 splittable stream (child i = SHA-1(parent || be32(i))), child
//! counts are drawn from the node's own state. Only the trees the workload
//! uses: T1, T3 and their quick versions.

use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy)]
pub enum Kind {
    /// geometric, fixed shape: b_i = depth < gen_mx ? b0 : 0
    GeoFixed { b0: f64, gen_mx: u32 },
    /// binomial: the root has floor(b0) children, others m with probability q
    Bin { b0: f64, q: f64, m: u32 },
}

#[derive(Clone, Copy)]
pub struct Tree {
    pub kind: Kind,
    pub seed: u32,
    /// nodes, leaves, depth: the published counts (recorded ones for the quick trees)
    pub expected: Counts,
}

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Counts {
    pub nodes: u64,
    pub leaves: u64,
    pub depth: u64,
}

impl Counts {
    pub fn add(&mut self, c: Counts) {
        self.nodes += c.nodes;
        self.leaves += c.leaves;
        self.depth = self.depth.max(c.depth);
    }
}

#[derive(Clone, Copy)]
pub struct Node {
    pub state: [u8; 20],
    pub depth: u32,
}

const fn c(nodes: u64, leaves: u64, depth: u64) -> Counts {
    Counts { nodes, leaves, depth }
}

static PRESETS: [(&str, Tree); 4] = [
    ("T1", Tree { kind: Kind::GeoFixed { b0: 4.0, gen_mx: 10 }, seed: 19, expected: c(4130071, 3305118, 10) }),
    ("T3", Tree { kind: Kind::Bin { b0: 2000.0, q: 0.124875, m: 8 }, seed: 42, expected: c(4112897, 3599034, 1572) }),
    // weft's quick trees: T1 cut at depth 7; T3's rule with 200 root children, seed 23
    ("T1-quick", Tree { kind: Kind::GeoFixed { b0: 4.0, gen_mx: 7 }, seed: 19, expected: c(63914, 51124, 7) }),
    ("T3-quick", Tree { kind: Kind::Bin { b0: 200.0, q: 0.124875, m: 8 }, seed: 23, expected: c(45065, 39456, 252) }),
];

pub fn preset(name: &str) -> Option<&'static Tree> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
}

const MAX_CHILDREN: u32 = 100;

impl Tree {
    pub fn root(&self) -> Node {
        let mut msg = [0u8; 20];
        msg[16..].copy_from_slice(&self.seed.to_be_bytes());
        Node { state: Sha1::digest(msg).into(), depth: 0 }
    }

    pub fn child(&self, parent: &Node, i: u32) -> Node {
        let mut msg = [0u8; 24];
        msg[..20].copy_from_slice(&parent.state);
        msg[20..].copy_from_slice(&i.to_be_bytes());
        Node { state: Sha1::digest(msg).into(), depth: parent.depth + 1 }
    }

    pub fn num_children(&self, n: &Node) -> u32 {
        let s = &n.state;
        let r = u32::from_be_bytes([s[16], s[17], s[18], s[19]]) & 0x7FFF_FFFF;
        let u = r as f64 / 2147483648.0;
        match self.kind {
            Kind::GeoFixed { b0, gen_mx } => {
                let b_i = if n.depth < gen_mx { b0 } else { 0.0 };
                if !(b_i > 0.0) {
                    return 0;
                }
                let prob = 1.0 / (1.0 + b_i);
                let k = ((1.0 - u).ln() / (1.0 - prob).ln()).floor();
                if k > MAX_CHILDREN as f64 { MAX_CHILDREN } else { k as u32 }
            }
            Kind::Bin { b0, q, m } => {
                if n.depth == 0 {
                    b0.floor() as u32
                } else if u < q {
                    m.min(MAX_CHILDREN)
                } else {
                    0
                }
            }
        }
    }

    /// Depth-first count with an explicit stack (T3 is 1 572 levels deep).
    pub fn count_sequential(&self) -> Counts {
        let mut c = Counts::default();
        let mut stack = vec![self.root()];
        while let Some(n) = stack.pop() {
            c.nodes += 1;
            c.depth = c.depth.max(n.depth as u64);
            let k = self.num_children(&n);
            if k == 0 {
                c.leaves += 1;
            }
            for i in 0..k {
                stack.push(self.child(&n, i));
            }
        }
        c
    }
}

/// The sequential count of a tree, computed once per process (not timed).
pub fn sequential_counts(name: &str, t: &Tree) -> Counts {
    static CACHE: Mutex<Option<HashMap<String, Counts>>> = Mutex::new(None);
    let mut g = CACHE.lock().unwrap();
    *g.get_or_insert_with(HashMap::new).entry(name.to_string()).or_insert_with(|| t.count_sequential())
}

/// Mode 1 ("count"): shared counts that every node adds itself to, and an
/// outstanding-node counter whose last decrement sends the signal.
pub struct CountJob<S> {
    nodes: AtomicU64,
    leaves: AtomicU64,
    depth: AtomicU64,
    outstanding: AtomicU64,
    done: S,
}

impl<S: crate::Signal> CountJob<S> {
    pub fn new(done: S) -> Self {
        CountJob { nodes: AtomicU64::new(0), leaves: AtomicU64::new(0), depth: AtomicU64::new(0),
            outstanding: AtomicU64::new(1), done }
    }
    pub fn node(&self, n: &Node, leaf: bool) {
        self.nodes.fetch_add(1, Ordering::Relaxed);
        if leaf {
            self.leaves.fetch_add(1, Ordering::Relaxed);
        }
        self.depth.fetch_max(n.depth as u64, Ordering::Relaxed);
    }
    /// Children count as outstanding before their parent stops counting.
    pub fn expect(&self, k: u32) {
        self.outstanding.fetch_add(k as u64, Ordering::Relaxed);
    }
    pub fn finished(&self) {
        // acq_rel: the node that takes it to zero sees every other node's counts
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.signal();
        }
    }
    pub fn counts(&self) -> Counts {
        Counts { nodes: self.nodes.load(Ordering::Acquire), leaves: self.leaves.load(Ordering::Relaxed),
            depth: self.depth.load(Ordering::Relaxed) }
    }
}
