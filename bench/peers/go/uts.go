package main

import (
	"crypto/sha1"
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The UTS generator (Olivier et al., LCPC 2006), bit-compatible with the
// reference and with weft's workloads/uts_tree.c: a node is 20 bytes of
// SHA-1 state; child i is SHA-1(parent || i as 4 big-endian bytes).

const (
	utsBin = iota
	utsGeo
)

const utsMaxChildren = 100

type utsTree struct {
	name  string
	typ   int
	b0    float64
	genMx int     // geometric, fixed shape: b0 children while depth < genMx
	q     float64 // binomial
	m     int
	seed  uint32
	want  utsCounts // published (T1, T3) or recorded by weft (the quick trees)
}

type utsCounts struct{ nodes, leaves, maxDepth int64 }

// The trees weft runs (workloads/uts_tree.c's presets): only fixed-shape
// geometric and binomial ones.
var utsTrees = map[string]*utsTree{
	"T1":       {"T1", utsGeo, 4, 10, 0, 0, 19, utsCounts{4130071, 3305118, 10}},
	"T3":       {"T3", utsBin, 2000, 0, 0.124875, 8, 42, utsCounts{4112897, 3599034, 1572}},
	"T1-quick": {"T1-quick", utsGeo, 4, 7, 0, 0, 19, utsCounts{63914, 51124, 7}},
	"T3-quick": {"T3-quick", utsBin, 200, 0, 0.124875, 8, 23, utsCounts{45065, 39456, 252}},
}

type utsNode struct {
	state [20]byte
	depth int32
}

func (t *utsTree) root() utsNode {
	var msg [20]byte
	binary.BigEndian.PutUint32(msg[16:], t.seed)
	return utsNode{sha1.Sum(msg[:]), 0}
}

func (n *utsNode) child(i int) utsNode {
	var msg [24]byte
	copy(msg[:], n.state[:])
	binary.BigEndian.PutUint32(msg[20:], uint32(i))
	return utsNode{sha1.Sum(msg[:]), n.depth + 1}
}

func (n *utsNode) prob() float64 {
	return float64(binary.BigEndian.Uint32(n.state[16:])&0x7FFFFFFF) / 2147483648.0
}

func (t *utsTree) numChildren(n *utsNode) int {
	if t.typ == utsGeo { // fixed shape: b_i = b0 while depth < gen_mx, else 0
		if n.depth > 0 && int(n.depth) >= t.genMx {
			return 0
		}
		p := 1 / (1 + t.b0)
		k := math.Floor(math.Log(1-n.prob()) / math.Log(1-p))
		if k > utsMaxChildren {
			return utsMaxChildren
		}
		return int(k)
	}
	if n.depth == 0 {
		return int(math.Floor(t.b0))
	}
	if n.prob() < t.q {
		if t.m > utsMaxChildren {
			return utsMaxChildren
		}
		return t.m
	}
	return 0
}

// sequential counts the tree depth-first with an explicit stack (T3 is
// 1 572 levels deep).
func (t *utsTree) sequential() utsCounts {
	var c utsCounts
	stack := []utsNode{t.root()}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c.nodes++
		if int64(n.depth) > c.maxDepth {
			c.maxDepth = int64(n.depth)
		}
		k := t.numChildren(&n)
		if k == 0 {
			c.leaves++
		}
		for i := 0; i < k; i++ {
			stack = append(stack, n.child(i))
		}
	}
	return c
}

var utsSeq sync.Map // tree name -> utsCounts, computed once per process

func (t *utsTree) sequentialCached() utsCounts {
	if c, ok := utsSeq.Load(t.name); ok {
		return c.(utsCounts)
	}
	c := t.sequential()
	utsSeq.Store(t.name, c)
	return c
}

// utsAwait is mode 0: the node is a goroutine that spawns one goroutine per
// child and awaits them all (one channel of capacity k that every child
// sends its subtree's counts to), then sends its own subtree's counts.
func utsAwait(t *utsTree, n utsNode, out chan<- utsCounts) {
	k := t.numChildren(&n)
	c := utsCounts{1, 0, int64(n.depth)}
	if k == 0 {
		c.leaves = 1
	}
	if faultInjection && n.depth == 1 && k > 0 { // drop one subtree
		k--
	}
	if k > 0 {
		h := make(chan utsCounts, k)
		for i := 0; i < k; i++ {
			go utsAwait(t, n.child(i), h)
		}
		for i := 0; i < k; i++ {
			s := <-h
			c.nodes += s.nodes
			c.leaves += s.leaves
			if s.maxDepth > c.maxDepth {
				c.maxDepth = s.maxDepth
			}
		}
	}
	out <- c
}

// utsJob is mode 1's shared state: nodes add themselves to counters; the
// node that takes `outstanding` to zero signals.
type utsJob struct {
	t                                    *utsTree
	nodes, leaves, maxDepth, outstanding atomic.Int64
	done                                 chan struct{}
}

func utsCount(j *utsJob, n utsNode) {
	k := j.t.numChildren(&n)
	j.nodes.Add(1)
	if k == 0 {
		j.leaves.Add(1)
	}
	for d := int64(n.depth); ; {
		cur := j.maxDepth.Load()
		if cur >= d || j.maxDepth.CompareAndSwap(cur, d) {
			break
		}
	}
	if faultInjection && n.depth == 1 && k > 0 {
		k--
	}
	j.outstanding.Add(int64(k)) // children count as outstanding before this node stops counting
	for i := 0; i < k; i++ {
		go utsCount(j, n.child(i))
	}
	if j.outstanding.Add(-1) == 0 {
		close(j.done)
	}
}

// uts: Unbalanced Tree Search with a goroutine per node, trees T1 and T3
// (quick_tree: T1-quick, T3-quick); verified against the sequential count of
// the same tree and the published counts. Timed around the root task.
func runUTS(p params, variant string) (r result) {
	name := variant
	if p["quick_tree"] == 1 {
		name += "-quick"
	}
	t := utsTrees[name]
	seq := t.sequentialCached() // set-up, not timed
	var got utsCounts
	t0 := time.Now()
	if p["mode"] == 0 {
		out := make(chan utsCounts, 1)
		go utsAwait(t, t.root(), out)
		got = <-out
		r.elapsed = time.Since(t0)
	} else {
		j := &utsJob{t: t, done: make(chan struct{})}
		j.outstanding.Store(1)
		go utsCount(j, t.root())
		<-j.done
		r.elapsed = time.Since(t0)
		got = utsCounts{j.nodes.Load(), j.leaves.Load(), j.maxDepth.Load()}
	}
	r.units = float64(got.nodes)
	r.record("nodes", float64(got.nodes))
	r.record("depth", float64(got.maxDepth))
	r.record("leaves", float64(got.leaves))
	r.expect("nodes vs the sequential count", got.nodes, seq.nodes)
	r.expect("leaves vs the sequential count", got.leaves, seq.leaves)
	r.expect("depth vs the sequential count", got.maxDepth, seq.maxDepth)
	r.expect("nodes vs the published count", got.nodes, t.want.nodes)
	r.expect("leaves vs the published count", got.leaves, t.want.leaves)
	r.expect("depth vs the published count", got.maxDepth, t.want.maxDepth)
	return
}
