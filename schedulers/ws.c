/*
 * schedulers/ws.c - work stealing: a Chase-Lev deque per worker, a LIFO
 * slot, a private "later" list for yields, an injection queue, and random-
 * victim stealing of half a queue. This file is also the engine that `numa`
 * (numa.c) reuses with a different shape; ws_common.h is its interface.
 *
 * THE PROBLEM. With one shared queue (global.c) every push and every pop of
 * every worker takes the same lock on the same cache line, so adding workers
 * adds contention, not throughput. Work stealing gives each worker its own
 * queue: the owner pushes and pops without contention, and only a worker
 * that has run out of work touches anyone else's queue, taking the oldest
 * work, which for fork-join programs is the biggest piece (Blumofe &
 * Leiserson, "Scheduling multithreaded computations by work stealing",
 * JACM 1999: randomised stealing is within a constant of optimal).
 *
 * THE DESIGN, piece by piece.
 *
 * 1. The local queue is the Chase-Lev deque of common/deque.c (Chase & Lev,
 *    "Dynamic Circular Work-Stealing Deque", SPAA 2005), with the C11 memory
 *    orders proved by Lê, Pop, Cohen & Zappa Nardelli, "Correct and
 *    Efficient Work-Stealing for Weak Memory Models" (PPoPP 2013), and the
 *    fixes model checkers found since (common/deque.c lists them).
 *    The owner's push is plain stores and a release fence (free on x86); its
 *    pop is one seq_cst fence, plus a CAS only for the last item; a thief
 *    pays a fence and a CAS. The deque starts at `local_queue_capacity`
 *    slots and doubles when full instead of overflowing, so `overflow_moves`
 *    counts only tasks sent to the injection queue because growing failed
 *    (ENOMEM): 0 in any healthy run. Growths are not counted.
 *
 * 2. The owner pops LIFO, the newest task first: the "work-first" order of
 *    Cilk, whose newest task's data is still in cache and which keeps a
 *    fork-join tree's queue as short as its depth. Thieves take the oldest.
 *
 * 3. The LIFO slot (Tokio's `lifo_slot`, Go's `runnext`): a task spawned or
 *    woken (SCHED_SPAWN, SCHED_WAKE) by the running task goes to a one-task
 *    slot and runs next; the slot's previous occupant goes to the deque.
 *    Over an owner-LIFO deque the slot adds two things: it is owner-only and
 *    NOT stealable (as in Tokio), so a message-passing pair stays on one
 *    worker with its data in one cache; and it is capped: after `lifo_cap`
 *    consecutive slot runs (Tokio: 3) the slot's task is sent behind the
 *    ready work (to `later`, point 4), so two tasks ping-ponging cannot
 *    starve the queue. `lifo_slot = 0` sends spawns and wakes to the deque.
 *
 * 4. Yields go to `later`, a private FIFO behind the ready work. An
 *    owner-LIFO deque would pop a yielded task straight back: yield would be
 *    a no-op, a task yielding until another task sets a flag would livelock
 *    on one worker, and a task out of cooperative budget would starve the
 *    others. `later` is Tokio's `defer` list (yield_now's deferred wakers,
 *    woken at the next park or maintenance tick): a plain list, no atomics,
 *    run when the deque and the injection queue are empty. Slot evictions
 *    (point 3) go there too. Because it is private, other workers cannot
 *    steal from it; so whenever the owner takes from `later` while another
 *    worker is idle or searching (sched_env_anyone_hungry: two relaxed loads)
 *    and more tasks wait there, it publishes them into its deque and calls
 *    sched_env_wake_near. A stale read only delays that by one task: the owner
 *    runs its private work itself and never parks holding it.
 *
 * 5. The fairness tick. Every `global_interval` ticks (61, Go's and Tokio's
 *    prime) the worker first takes one task from the head of a queue that
 *    LIFO order would otherwise postpone: its injection queue, `later`, or
 *    the oldest task of its own deque (a deque_steal on itself), rotating
 *    which is tried first. So behind any chain of spawns or wakes, the head
 *    of each of these queues moves within 3 * global_interval ticks.
 *    (global_interval = 1 makes every turn a fairness turn: the worker then
 *    runs oldest-first and the LIFO slot only when the rest is empty.)
 *
 * 6. The injection queue receives spawns and wakes from threads outside the
 *    runtime (taskq.h's injectq: a spinlock and an atomic length, plus a
 *    lock-free intake: an outside push is one CAS on a Treiber stack that
 *    the next pop moves under the lock, so a producer never waits for a
 *    worker's lock hold nor writes a task a worker may be running;
 *    alternating A/B, 4 processes a side: spawn_remote ws/1 191 -> 126,
 *    numa/1 197 -> 129 ns per task, yield_many 0.86-0.97x). Besides
 *    the fairness tick it is read when the local queues are empty, moving
 *    min(len / workers + 1, 128) tasks in one lock hold (Tokio's batch;
 *    the share is computed after the intake is absorbed):
 *    one runs, the rest go to the deque, where thieves can reach them.
 *
 * 7. Stealing is one sweep per call: the core already counts searching
 *    workers, caps them at `max_searching` (half, Tokio's and Go's rule)
 *    and wakes the next when the last searcher finds work, so ws_steal only
 *    tries every other worker once, in random order starting at
 *    sched_worker_rand(w) % n (Go's stealOrder, Tokio's random start), then the
 *    injection queue. `steal_batch = 0` takes half the victim's deque
 *    rounded up (Go's runqsteal, Tokio's steal_into) with deque_steal_half,
 *    one CAS per task (a multi-item CAS races the CAS-free owner pop; see
 *    deque.c), keeps them in the thief's own deque, where they can be stolen
 *    again, and runs the newest; `steal_batch = 1` takes one. A victim whose
 *    relaxed length estimate is 0 is passed over without a fence; a steal
 *    that loses a race (DEQUE_ABORT: someone else made progress) retries
 *    that victim up to WS_STEAL_RETRIES times.
 *
 * 8. Join claim-back (ws_take_back; task.c's essay has the protocol). A task
 *    awaiting a child that is still in this worker's LIFO slot or at the
 *    bottom of its deque takes it back and polls it inline: fork-join code
 *    then runs depth-first on one stack, as Cilk's and rayon's join do,
 *    with no waker, no wake and no re-poll of the joiner. Only those two
 *    places: anything deeper in the deque is older work that thieves are
 *    meant to take, and `later` holds yields that must go behind ready
 *    work. The deque's last item is raced for by deque_pop_if, which is
 *    deque_pop and its CAS.
 *
 * 9. Steal pay-off (steal_pay_ns, default 300) and the steal bound
 *    (steal_max, default 128). Moving a task to another
 *    core costs its lines (header, state, the deque slot) and whatever it
 *    touches that the victim also touches, several core-to-core transfers;
 *    a leaf that runs for less than that is cheaper where it was spawned.
 *    spawn_many at two workers showed it: the thief stole half the deque
 *    over and over, ran each stolen leaf slower than the spawner would
 *    have (its lines and the completion counter's crossing cores), and the
 *    round ended on its tail: 2 workers slower than 1 (README's #11
 *    figures). So the thief measures: after a steal that returned a task it
 *    notes the time and the tasks moved, and when it next comes to steal
 *    (it ran out of what the steal gave it, and of what those tasks
 *    spawned) it compares the time it stayed busy with moved *
 *    steal_pay_ns. A steal that kept it busy that long (fib's and uts's
 *    subtrees, fanout_skew's 5 us leaves) clears the count; one that did
 *    not (a batch of tiny leaves) makes the thief hold off before its next
 *    sweep: WS_HOLD_NS, doubling with each consecutive steal that did not
 *    pay up to WS_HOLD_NS << WS_HOLD_MAX_SHIFT, and that sweep takes one
 *    task, not half: stealing half after a hold took a bigger batch of the
 *    same tiny leaves. A single task that pays (a fork-join subtree) clears
 *    the count and the next steal takes half again. It holds off asleep and
 *    still counted as searching, so pushers do not wake it (or a third
 *    worker) for every push in the meantime; it then sweeps as usual, and
 *    parks through the core's protocol if there is nothing, so no task is
 *    left behind a hold for longer than the hold (a sleeping searcher only
 *    delays the chain wake-up, as a long steal sweep would). Costs: two
 *    clock reads per successful steal, none per task.
 *    The bound: a judgement comes only after the thief ran what it took,
 *    and half of an unbounded deque is unbounded: spawn_many's spawner
 *    had thousands queued when the thief first swept, so its first steal
 *    alone moved them (8 400 of 10 000 tasks per round in 13-18 steals,
 *    one CAS each, a fifth of the profile in deque_steal) before any
 *    judgement. steal_max caps a steal at 128 (Tokio's and Go's steal is
 *    half of a 256-slot ring), so an unpaid batch costs at most that.
 *    The numbers (Intel Xeon 2 vCPU, weft-bench --profile=standard
 *    --workers=2, one binary, steal_pay_ns=0 and 300 in alternating
 *    processes, medians over them): spawn_many ws 109 -> 61 ns per task
 *    (0.56x), numa 111 -> 68 (0.61x), 6 processes a side; fib join/spawn2
 *    0.96-1.05x and uts T1/T3 0.98-1.03x, 10 a side (both sides had the
 *    same rare slow processes). Where the threshold sits, from a histogram
 *    of busy / moved per judged steal (3 repetitions each): spawn_many's
 *    batches 32-255 ns per task, its single-task steals 256-511 (the
 *    steal's own cost); uts's batches mostly 256 ns - 16 us (6 of ~95
 *    below 256); fib's all >= 512. The bound alone did nothing
 *    (spawn_many 102-107); 600 slowed uts T3 in one round of two (107 vs
 *    87), and an earlier A/B at 1000 read uts T3 1.41-1.51x slower. A
 *    fixed threshold is a machine's: where core-to-core transfers cost
 *    more, raise it.
 *
 * 10. The split deque (split_deque, default 1; Lace's idea: van Dijk and
 *    van de Pol, "Lace: non-blocking split deque for work-stealing",
 *    Euro-Par 2014 workshops). With two or more workers every Chase-Lev
 *    pop pays a seq_cst fence (deque_pop; at one worker deque_pop_unshared
 *    has none), and a thief probing the deque pulls its lines. An
 *    experiment with the fence taken out (unsafe, stealing held off)
 *    read spawn_many ws/2 50.6 -> 40.4 ns per task: a fifth of the
 *    two-worker price was the fence. So a worker keeps its newest tasks
 *    in a private part, pv: a plain array (owner-only, doubling, never
 *    fewer than local_queue_capacity slots) above the deque. Pushes go to
 *    pv and pops take pv's newest, with no atomics; the deque holds older,
 *    published work, which the owner pops (with the fence) only when pv
 *    is empty. A thief that finds a victim's deque empty sets the
 *    victim's `want` flag (relaxed, on a line of its own; read before
 *    written, so asking twice costs no write); the owner reads it at
 *    every push and pop, and answers by publishing the oldest half of pv
 *    (at most steal_max, what one steal moves; at a pop it keeps the task
 *    it is about to run) and notifying (E4: the asker may have parked).
 *    A push also publishes when the core would wake a sleeper for a
 *    stealable task (sched_env_would_wake: one idle, none searching), so
 *    an idle runtime still gets its second worker going at the first
 *    spawn. The deque's order is kept: pv holds the newest, the published
 *    half are its oldest, thieves take the deque's oldest. Claim-back
 *    (point 8) takes pv's newest (the bottom) when pv is not empty;
 *    the fairness tick's "oldest of its own" is the deque's top, else
 *    pv's oldest. Nothing is lost: pv is private like the LIFO slot and
 *    `later`, a worker never parks holding it (ws_next returns it
 *    first), has_local counts it for the hand-off, drain empties it.
 *    The price is the LIFO slot's known limit, widened: a task in pv
 *    waits for its owner's next push or pop (or a sleeper's wake at its
 *    push) when every other worker is busy or searching; a poll that
 *    spawns and then computes for long keeps its children to itself
 *    until it returns. Alternating A/B, split_deque=0 against 1, one
 *    binary, 4 processes a side at 2 workers (Intel Xeon 2 vCPU,
 *    --profile=standard): spawn_many ws 60.7 -> 39.2, numa 66.9 -> 40.1;
 *    fib spawn2 0.72x, join 0.89x; ping_pong 0.91x; uts T1 0.90x, T3
 *    0.98-1.00x; yield_many 1.04-1.07x (within its spread).
 *
 * REJECTED.
 *  - Tokio's and Go's local queue, a fixed 256-slot ring whose owner pops
 *    FIFO with a CAS: fair by construction, but bounded (overflow moves half
 *    to the shared queue under its lock) and a CAS per owner pop. The issue
 *    asks for Chase-Lev; fairness here comes from points 3-5 instead.
 *  - Owner-FIFO on the Chase-Lev deque (the owner steals from its own top):
 *    a fence and a CAS per task, twice the owner's cost of a LIFO pop, to
 *    buy the FIFO order that only yields and wake chains need.
 *  - Yields to the deque's bottom: a no-op yield (point 4).
 *  - A stealable LIFO slot: every spawn would pay an atomic exchange, and a
 *    stolen slot task loses the locality it is there for (Tokio declined it).
 *  - Choosing the longest victim queue: n cache misses per sweep to read the
 *    lengths, and a herd on one victim; random is the analysed choice.
 *  - Spinning inside ws_steal until something appears: the core's searching
 *    cap, spin_before_park and chain wake-up already decide that.
 *
 * KNOWN LIMITS. A task in the LIFO slot, in pv (point 10) or in `later`
 * waits for its own worker: a long poll delays it however idle the others are (Tokio's slot
 * has the same limit). Publishing `later` needs one task turn to notice a
 * hungry worker.
 *
 * PARKING. The core re-checks has_work between its seq_cst fences before a
 * worker sleeps. ws_has_work sees every deque and injection queue; the LIFO
 * slot and `later` are private to a worker that cannot park while they hold
 * anything (ws_next returns their tasks first), so leaving them out loses no
 * wake-up.
 *
 * SYNCHRONISATION. Every cross-thread access is inside deque.c (the orders
 * above) or taskq.h (the spinlock). This file adds the core's hint
 * sched_env_anyone_hungry (relaxed loads, see point 4) and the relaxed
 * round-robin counter of push_remote (a spread, nothing is published by it).
 *
 * COUNTERS (per worker, weft_worker_stats): steal_attempts (victims tried,
 * including those passed over as empty), steals (successful steal
 * operations), tasks_stolen (tasks they moved, the one run included),
 * local_steals / remote_steals (the victim on the thief's NUMA node or not:
 * kept by ws as well, to show the cross-node traffic numa avoids),
 * inject_pops (tasks taken from any injection queue), lifo_hits (tasks run
 * from the slot), overflow_moves (point 1), queue_hwm (deque length after a
 * push or a steal into it).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/topology.h"
#include "schedulers/sched.h"
#include "schedulers/taskq.h"
#include "schedulers/ws_common.h"

/* A lost race means another thread progressed; a few retries keep a hot
 * victim from being skipped for one unlucky CAS without letting one thief
 * spin on it. */
#define WS_STEAL_RETRIES 3

/* Most tasks moved from an injection queue in one lock hold: Tokio moves up
 * to half its 256-slot ring. The deque here grows, so the initial capacity
 * (local_queue_capacity) bounds nothing; the cap only keeps one worker from
 * hoarding a burst that a batch-sized share (len / workers + 1) would not
 * already limit. */
#define WS_INJECT_BATCH_MAX 128

/* Point 9's hold: the first after a steal that did not pay, and how often
 * it doubles. Not swept: the hold only has to be long against a stolen
 * tiny leaf (tens of ns) and short against the IO and timer latencies a
 * searcher's absence could add to (timer ticks of timer_tick_us = 1000);
 * 20 us doubling three times stays within 160 us. */
#define WS_HOLD_NS 20000u
#define WS_HOLD_MAX_SHIFT 3u

/* ---- allocation ---------------------------------------------------------------- */

static void *ws_alloc(const ws_policy *p, size_t size, int node, bool on_node)
{
    void *m = on_node && p->topo ? topo_alloc_on_node(p->topo, size, node) : malloc(size);
    if (m) memset(m, 0, size);
    return m;
}

static void ws_free(const ws_policy *p, void *m, size_t size, bool on_node)
{
    if (!m) return;
    if (on_node && p->topo) topo_free(p->topo, m, size);
    else free(m);
}

bool ws_local_check(const ws_policy *p, const ws_local *l)
{
    size_t n = 0;
    for (const task *t = l->later.head; t; t = t->next) n++;
    if (n != l->later.len || (n == 0) != (l->later.tail == NULL)) return false;
    if (l->lifo_run > p->lifo_cap || l->nlocal + l->nremote != p->nworkers - 1) return false;
    if (l->pv_lo > l->pv_hi || l->pv_hi > l->pv_cap || (l->pv_cap && !l->pv) || (l->pv_cap && !p->split))
        return false;
    for (int i = 0; i < l->nlocal + l->nremote; i++) {
        int v = l->victims[i];
        if (v < 0 || v >= p->nworkers || v == l->index) return false;
        for (int j = 0; j < i; j++)
            if (l->victims[j] == v) return false;
    }
    return l->inject >= 0 && l->inject < p->ninject;
}

void ws_policy_destroy(void *policy)
{
    ws_policy *p = policy;
    if (!p) return;
    if (p->locals)
        for (int i = 0; i < p->nworkers; i++) {
            ws_local *l = p->locals[i];
            if (!l) continue;
            if (l->dq_live) deque_destroy(&l->dq);
            free(l->pv);
            ws_free(p, l, l->alloc_size, l->node_alloc);
        }
    if (p->inject)
        for (int q = 0; q < p->ninject; q++) ws_free(p, p->inject[q], sizeof(ws_inject), true);
    free(p->locals);
    free(p->inject);
    free(p->populated);
    free(p);
}

int ws_policy_create(struct weft_runtime *rt, const ws_shape *shape, void **out, char *err,
                     size_t errlen)
{
    const weft_config *cfg = sched_env_knobs(rt);
    int n = sched_env_nworkers(rt);
    if (shape->ninject < 1) {
        snprintf(err, errlen, "%s: needs at least one injection queue", shape->name);
        return -EINVAL;
    }
    ws_policy *p = calloc(1, sizeof *p);
    if (!p) goto nomem;
    p->rt = rt;
    p->machine = sched_env_topology(rt);
    p->topo = shape->node_local_alloc ? p->machine : NULL;
    p->nworkers = n;
    p->ninject = shape->ninject;
    p->lifo_slot = cfg->lifo_slot != 0;
    p->lifo_cap = (uint32_t)cfg->lifo_cap;
    p->steal_one = cfg->steal_batch == 1;
    p->inject_batch = WS_INJECT_BATCH_MAX;
    p->backoff_ns = shape->backoff ? (uint64_t)cfg->numa_backoff_us * 1000u : 0;
    p->pay_ns = n > 1 ? (uint64_t)cfg->steal_pay_ns : 0; /* one worker never steals */
    p->steal_max = (size_t)cfg->steal_max;
    p->split = n > 1 && cfg->split_deque; /* one worker pops without a fence already */
    p->hold_ns = WS_HOLD_NS;
    p->hold_max_shift = WS_HOLD_MAX_SHIFT;
    atomic_init(&p->rr, 0);
    p->locals = calloc((size_t)n, sizeof *p->locals);
    p->inject = calloc((size_t)p->ninject, sizeof *p->inject);
    p->populated = calloc((size_t)p->ninject, sizeof *p->populated);
    if (!p->locals || !p->inject || !p->populated) goto nomem;

    for (int q = 0; q < p->ninject; q++) {
        p->inject[q] = ws_alloc(p, sizeof(ws_inject), q, true);
        if (!p->inject[q]) goto nomem;
        injectq_init(&p->inject[q]->q);
    }
    for (int i = 0; i < n; i++) {
        int node = sched_env_node(rt, i);
        int q = p->ninject == 1 ? 0 : node;
        if (q < 0 || q >= p->ninject) {
            snprintf(err, errlen, "%s: worker %d is on NUMA node %d but the topology has %d node(s)",
                     shape->name, i, node, p->ninject);
            ws_policy_destroy(p);
            return -EINVAL;
        }
        size_t size = sizeof(ws_local) + (size_t)(n > 1 ? n - 1 : 1) * sizeof(int);
        ws_local *l = ws_alloc(p, size, node, true);
        if (!l) goto nomem;
        p->locals[i] = l;
        l->alloc_size = size;
        l->node_alloc = p->topo != NULL;
        l->index = i;
        l->node = node;
        l->inject = q;
        l->own_inject = &p->inject[q]->q;
        taskq_init(&l->later);
        p->inject[q]->workers++;
        /* victims: the near tier (same node under node_tiers, else everyone) then the rest */
        for (int v = 0; v < n; v++)
            if (v != i && (!shape->node_tiers || sched_env_node(rt, v) == node))
                l->victims[l->nlocal++] = v;
        for (int v = 0; v < n; v++)
            if (v != i && shape->node_tiers && sched_env_node(rt, v) != node)
                l->victims[l->nlocal + l->nremote++] = v;
        int rc = deque_init(&l->dq, (size_t)cfg->local_queue_capacity);
        if (rc < 0) {
            snprintf(err, errlen, "%s: cannot create a local queue of capacity %d: %s", shape->name,
                     cfg->local_queue_capacity, strerror(-rc));
            ws_policy_destroy(p);
            return rc;
        }
        l->dq_live = true;
        if (p->split) {
            l->pv_cap = (uint32_t)cfg->local_queue_capacity;
            l->pv = malloc(sizeof(task *) * l->pv_cap);
            if (!l->pv) goto nomem;
        }
        atomic_init(&l->want, 0);
        assert(ws_local_check(p, l));
        sched_env_set_worker_local(rt, i, l);
    }
    for (int q = 0; q < p->ninject; q++)
        if (p->inject[q]->workers) p->populated[p->npopulated++] = q;
    *out = p;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory for %d workers' queues", n);
    ws_policy_destroy(p);
    return -ENOMEM;
}

/* ---- the owner's side ------------------------------------------------------------ */

/* OWNER. Push t on w's deque; if the deque cannot grow, the task goes to the
 * injection queue instead (an overflow move), never lost. */
static void ws_deque_push(ws_policy *p, worker *w, ws_local *l, task *t)
{
    if (deque_push(&l->dq, t) == 0) {
        /* The high-water mark without reading top per push (the line the
         * thieves CAS): the length can exceed the mark only when its bound
         * does, and then the exact length is read (refreshing the bound). */
        WORKER_STAT_MAX_BOUNDED(w, STAT_QUEUE_HWM, deque_len_bound_owner(&l->dq),
                                deque_len_sync_owner(&l->dq));
        return;
    }
    injectq_push(&p->inject[l->inject]->q, t);
    WORKER_STAT_INC(w, STAT_OVERFLOW_MOVES);
}

/* OWNER. Point 10: the private part pv[pv_lo, pv_hi). */
static inline uint32_t ws_pv_len(const ws_local *l) { return l->pv_hi - l->pv_lo; }

/* OWNER. The newest private task (pv must not be empty). */
static inline task *ws_pv_pop_newest(ws_local *l)
{
    task *t = l->pv[--l->pv_hi];
    if (l->pv_hi == l->pv_lo) l->pv_lo = l->pv_hi = 0;
    return t;
}

/* OWNER. Publishes the oldest ceil(len / 2) private tasks, at most
 * steal_max (what one steal moves), to the deque, where thieves reach
 * them; returns how many. */
static __attribute__((noinline)) uint32_t ws_publish(ws_policy *p, worker *w, ws_local *l, uint32_t len)
{
    uint32_t k = len - len / 2;
    if (k > p->steal_max) k = (uint32_t)p->steal_max;
    for (uint32_t i = 0; i < k; i++) ws_deque_push(p, w, l, l->pv[l->pv_lo++]);
    if (l->pv_lo == l->pv_hi) l->pv_lo = l->pv_hi = 0;
    return k;
}

/* The rare half of ws_pv_push, out of line: a full private part compacts
 * (when at least half of it is free at the front) or doubles; when it
 * cannot grow, t goes to the deque instead (public, never lost) and this
 * returns false. */
static __attribute__((noinline)) bool ws_pv_make_room(ws_policy *p, worker *w, ws_local *l, task *t)
{
    if (l->pv_lo >= l->pv_cap / 2) {
        uint32_t n = ws_pv_len(l);
        memmove(l->pv, l->pv + l->pv_lo, sizeof(task *) * n);
        l->pv_lo = 0;
        l->pv_hi = n;
        return true;
    }
    task **grown = l->pv_cap <= UINT32_MAX / 2 ? realloc(l->pv, sizeof(task *) * 2 * l->pv_cap) : NULL;
    if (!grown) {
        ws_deque_push(p, w, l, t);
        return false;
    }
    l->pv = grown;
    l->pv_cap *= 2;
    return true;
}

/* OWNER. t onto the private part's newest end. */
static inline void ws_pv_push(ws_policy *p, worker *w, ws_local *l, task *t)
{
    if (l->pv_hi == l->pv_cap && !ws_pv_make_room(p, w, l, t)) return;
    l->pv[l->pv_hi++] = t;
    WORKER_STAT_MAX(w, STAT_QUEUE_HWM, ws_pv_len(l));
}

/* OWNER. push_local's split-deque half (point 10), out of line so that
 * ws_push_local, whose yields and one-worker pushes never come here, saves
 * no registers (inlined, it made ws/1 yield_many 1.17x slower; callgrind,
 * weft-bench --profile=quick --workloads=yield_many --schedulers=ws
 * --workers=1: ws_push_local 720 k -> 1 680 k instructions in all, 720 k
 * again out of line). Publish when a thief
 * asked, or when the core would wake a sleeper for a stealable task (so it
 * has one to find); the caller then notifies as for any deque push.
 * Otherwise the task stays private. */
static __attribute__((noinline)) bool ws_push_private(ws_policy *p, worker *w, ws_local *l, task *t)
{
    ws_pv_push(p, w, l, t);
    if (atomic_load_explicit(&l->want, memory_order_relaxed) || sched_env_would_wake(p->rt)) {
        atomic_store_explicit(&l->want, 0, memory_order_relaxed);
        ws_publish(p, w, l, ws_pv_len(l));
        return true;
    }
    return false;
}

bool ws_push_local(void *policy, worker *w, task *t, sched_hint hint)
{
    ws_policy *p = policy;
    ws_local *l = sched_worker_local(w);
    if (hint == SCHED_YIELD) { /* behind the ready work, never the slot */
        taskq_push(&l->later, t);
        return false;         /* private until published (ws_take_later) */
    }
    if (p->lifo_slot) {
        task *prev = l->lifo;
        l->lifo = t;
        if (!prev) return false; /* the LIFO slot is not stealable */
        t = prev; /* the displaced task becomes ordinary ready work */
    }
    if (!p->split) {
        ws_deque_push(p, w, l, t);
        return true;
    }
    return ws_push_private(p, w, l, t); /* a tail call: see ws_push_private */
}

/* Takes up to a batch from injection queue q: returns one task, moves the
 * rest into w's deque where thieves can reach them. */
static task *ws_inject_take(ws_policy *p, worker *w, ws_local *l, int q, size_t max)
{
    ws_inject *iq = p->inject[q];
    if (injectq_len(&iq->q) == 0) return NULL;
    taskq batch;
    taskq_init(&batch);
    size_t got = injectq_pop_share(&iq->q, &batch, (size_t)iq->workers, max);
    if (got == 0) return NULL;
    WORKER_STAT_ADD(w, STAT_INJECT_POPS, got);
    task *first = taskq_pop(&batch);
    if (!batch.head) return first;
    for (task *t; (t = taskq_pop(&batch));) ws_deque_push(p, w, l, t);
    /* The rest were in transit: popped from the injection queue, then
     * pushed on the deque; a parking worker's has_work between the two saw
     * neither, and their pusher's notification may have been spent on this
     * worker. Notify again (fenced, E4), or the batch waits behind whatever
     * `first` does (tests/test_stress_idle_spin.c, numa workers=2 round 0:
     * 1 of 2 tasks started). */
    if (p->nworkers > 1) sched_env_wake_near(p->rt, l->node);
    return first;
}

/* True when another worker could use work that w holds privately. */
static bool ws_someone_hungry(const ws_policy *p)
{
    /* a hint (see point 4 of the essay); no data is read on its strength */
    return sched_env_anyone_hungry(p->rt);
}

/* OWNER. The oldest task of `later`; publishes the rest to the deque when
 * somebody is hungry. */
static inline task *ws_later_take(ws_policy *p, worker *w, ws_local *l)
{
    task *t = taskq_pop(&l->later);
    if (p->nworkers > 1 && t && l->later.head && ws_someone_hungry(p)) {
        for (task *u; (u = taskq_pop(&l->later));) ws_deque_push(p, w, l, u);
        sched_env_wake_near(p->rt, l->node); /* E4 in sched.h */
    }
    return t;
}

/* OWNER. The fairness tick (point 5): one task from the head of the
 * injection queue, `later` or the deque's top, rotating the first choice. */
static task *ws_fair_pick(ws_policy *p, worker *w, ws_local *l)
{
    uint32_t first = l->fair_turn++ % 3u;
    for (uint32_t k = 0; k < 3; k++) {
        task *t = NULL;
        switch ((first + k) % 3u) {
        case 0:
            t = ws_inject_take(p, w, l, l->inject, 1);
            break;
        case 1:
            t = taskq_pop(&l->later);
            break;
        default: /* the oldest of the deque, else of the private part */
            if (deque_len_owner(&l->dq) > 0) t = deque_steal(&l->dq, NULL);
            else if (ws_pv_len(l)) {
                t = l->pv[l->pv_lo++];
                if (l->pv_lo == l->pv_hi) l->pv_lo = l->pv_hi = 0;
            }
            break;
        }
        if (t) return t;
    }
    return NULL;
}

/* OWNER. What ws_next returns (inlined into both entry points below). */
static inline __attribute__((always_inline)) task *ws_pick(ws_policy *p, worker *w, ws_local *l, bool split)
{
    task *t;
    if (sched_worker_interval_tick(w) && (t = ws_fair_pick(p, w, l))) {
        l->lifo_run = 0;
        return t;
    }
    if ((t = l->lifo)) {
        l->lifo = NULL;
        if (l->lifo_run < p->lifo_cap) {
            l->lifo_run++;
            WORKER_STAT_INC(w, STAT_LIFO_HITS);
            return t;
        }
        taskq_push(&l->later, t); /* the cap: behind the ready work */
    }
    l->lifo_run = 0;
    uint32_t n;
    /* the private part first: the newest, no fence (`split` is a constant
     * in each of the two copies: the plain one reads nothing of pv) */
    if (split && (n = ws_pv_len(l))) {
        if (n >= 2 && atomic_load_explicit(&l->want, memory_order_relaxed)) {
            /* a thief asked: give it the older half (we keep the newest),
             * then notify as a pusher does (E4: it may have parked) */
            atomic_store_explicit(&l->want, 0, memory_order_relaxed);
            ws_publish(p, w, l, n - 1);
            sched_env_wake_near(p->rt, l->node);
        }
        return ws_pv_pop_newest(l);
    }
    /* the length check spares pop's fence when the deque is empty; with one
     * worker nobody steals, so the pop needs no fence at all */
    if (deque_len_owner(&l->dq) > 0 &&
        (t = p->nworkers == 1 ? deque_pop_unshared(&l->dq) : deque_pop(&l->dq)))
        return t;
    /* the length check, inlined here, spares the call when the queue is empty */
    if (injectq_len(l->own_inject) && (t = ws_inject_take(p, w, l, l->inject, p->inject_batch)))
        return t;
    return ws_later_take(p, w, l);
}

/* Two copies of the pick: with one worker (or split_deque = 0) the private
 * part's test is compiled out. Both are out of line behind ws_lifo_hit
 * (below), so neither's prologue is paid on a LIFO-slot hit, and the
 * split copy's publish and wake calls cost the plain one nothing (see
 * ws_push_private for what an inlined private path cost). */
static __attribute__((noinline)) task *ws_next_split(ws_policy *p, worker *w, ws_local *l)
{
    return ws_pick(p, w, l, true);
}

static __attribute__((noinline)) task *ws_next_plain(ws_policy *p, worker *w, ws_local *l)
{
    return ws_pick(p, w, l, false);
}

/* OWNER. ws_pick's commonest answer, the LIFO slot under its cap on a
 * tick that is not a fairness tick (a spawn chain, a wake ping-pong), in
 * front of the two out-of-line picks, so that path saves no registers
 * (perf, chained_spawn ws/1: ws_next 7.5 % of the samples, its prologue's
 * pushes among them). ws_pick answers the same for the same state. */
static inline __attribute__((always_inline)) task *ws_lifo_hit(ws_policy *p, worker *w, ws_local *l)
{
    task *t = l->lifo;
    if (!t || l->lifo_run >= p->lifo_cap || sched_worker_interval_tick(w)) return NULL;
    l->lifo = NULL;
    l->lifo_run++;
    WORKER_STAT_INC(w, STAT_LIFO_HITS);
    return t;
}

task *ws_next(void *policy, worker *w)
{
    ws_policy *p = policy;
    ws_local *l = sched_worker_local(w);
    task *t = ws_lifo_hit(p, w, l);
    if (t) return t;
    return p->split ? ws_next_split(p, w, l) : ws_next_plain(p, w, l);
}

/* numa's next: the same, counting the tasks handed out for the back-off
 * (ws_backoff_elapsed); ws has no back-off and does not pay the count. */
task *ws_next_counted(void *policy, worker *w)
{
    ws_local *l = sched_worker_local(w);
    ws_policy *p = policy;
    task *t = ws_lifo_hit(p, w, l);
    if (!t) t = p->split ? ws_next_split(p, w, l) : ws_next_plain(p, w, l);
    l->handed += t != NULL;
    return t;
}

/* OWNER. Join claim-back (sched.h, take_back): t leaves the LIFO slot, or
 * the bottom of w's deque, so the joining task can poll it inline. A task
 * anywhere else (deeper in the deque, `later`, an injection queue, another
 * worker) stays where it is. With two or more workers the deque's own pop
 * decides a race with a thief for the last item (deque_pop_if), so t is
 * either ours or the thief's, never both. */
bool ws_take_back(void *policy, worker *w, task *t)
{
    ws_policy *p = policy;
    ws_local *l = sched_worker_local(w);
    if (l->lifo == t) {
        l->lifo = NULL;
        return true;
    }
    if (p->split && ws_pv_len(l)) { /* the bottom is the private part's newest */
        if (l->pv[l->pv_hi - 1] != t) return false;
        (void)ws_pv_pop_newest(l);
        return true;
    }
    return p->nworkers == 1 ? deque_pop_if_unshared(&l->dq, t) : deque_pop_if(&l->dq, t);
}

/* ---- the thief's side ------------------------------------------------------------- */

static inline int ws_victim_at(const ws_local *l, uint32_t r, int i)
{
    if (i < l->nlocal) return l->victims[(int)((r + (uint32_t)i) % (uint32_t)l->nlocal)];
    i -= l->nlocal;
    return l->victims[l->nlocal + (int)((r + (uint32_t)i) % (uint32_t)l->nremote)];
}

int ws_victim_order(const ws_policy *p, int self, uint32_t r, int *order, int *nlocal)
{
    const ws_local *l = p->locals[self];
    int n = l->nlocal + l->nremote;
    for (int i = 0; i < n; i++) order[i] = ws_victim_at(l, r, i);
    if (nlocal) *nlocal = l->nlocal;
    return n;
}

/* OWNER (thief w). Tries victims [from, to) of w's order; a task or NULL. */
static task *ws_sweep(ws_policy *p, worker *w, ws_local *l, uint32_t r, int from, int to)
{
    for (int i = from; i < to; i++) {
        int v = ws_victim_at(l, r, i);
        ws_local *vl = p->locals[v];
        WORKER_STAT_INC(w, STAT_STEAL_ATTEMPTS);
        int64_t est = deque_len_estimate(&vl->dq);
        if (est == 0) {
            /* ask for its private part (point 10); read first, so a thief
             * that already asked does not write the line again */
            if (p->split && !atomic_load_explicit(&vl->want, memory_order_relaxed))
                atomic_store_explicit(&vl->want, 1, memory_order_relaxed);
            continue;
        }
        task *t = NULL;
        size_t moved = 0;
        /* one task, not half, after a steal that did not pay (point 9) */
        if (p->steal_one || est == 1 || l->pay_bad) {
            for (int tries = 0; tries <= WS_STEAL_RETRIES; tries++) {
                int status;
                t = deque_steal(&vl->dq, &status);
                if (t || status == DEQUE_EMPTY) break;
            }
            moved = t != NULL;
        } else {
            moved = deque_steal_half_max(&vl->dq, &l->dq, p->steal_max);
            if (moved) {
                WORKER_STAT_MAX(w, STAT_QUEUE_HWM, moved);
                /* NULL only if other thieves already took all of them from us */
                t = deque_pop(&l->dq);
            }
        }
        if (moved == 0) continue;
        if (p->pay_ns && t) {
            l->pay_t0 = clock_now_ns();
            l->pay_moved = moved;
        }
        WORKER_STAT_INC(w, STAT_STEALS);
        WORKER_STAT_ADD(w, STAT_TASKS_STOLEN, moved);
        WORKER_STAT_INC(w, vl->node == l->node ? STAT_LOCAL_STEALS : STAT_REMOTE_STEALS);
        if (t) return t;
    }
    return NULL;
}

/* OWNER. The numa back-off: may w cross nodes yet? A streak of failed local
 * sweeps starts at the first one and ends when the policy hands w a task
 * (which the core then polls): `handed`, the policy's own count (E8: no
 * policy reads the core's counters). */
static bool ws_backoff_elapsed(ws_policy *p, ws_local *l)
{
    uint64_t now = clock_now_ns();
    if (!l->fail_streak || l->fail_handed != l->handed) {
        l->fail_streak = true;
        l->fail_since = now;
        l->fail_handed = l->handed;
    }
    return now - l->fail_since >= p->backoff_ns;
}

static task *ws_steal_find(ws_policy *p, worker *w, ws_local *l)
{
    uint32_t r = sched_worker_rand(w);
    task *t = ws_sweep(p, w, l, r, 0, l->nlocal);
    if (t) return t;
    /* the length check, inlined here, spares the call when the queue is empty */
    if (injectq_len(&p->inject[l->inject]->q) && (t = ws_inject_take(p, w, l, l->inject, p->inject_batch)))
        return t;
    if (l->nremote == 0 && p->ninject == 1) return NULL;
    /* numa: only after a full local sweep failed (and the back-off, if any) */
    if (p->backoff_ns && !ws_backoff_elapsed(p, l)) return NULL;
    for (int k = 1; k < p->ninject; k++) {
        int q = (l->inject + k) % p->ninject;
        if ((t = ws_inject_take(p, w, l, q, p->inject_batch))) return t;
    }
    return ws_sweep(p, w, l, r, l->nlocal, l->nlocal + l->nremote);
}

/* OWNER (thief). Point 9: did the last steal pay? Called when w comes to
 * steal again, i.e. it ran out of the work that steal gave it. Sleeps
 * (still searching) for the hold when it did not. */
static void ws_pay_judge(ws_policy *p, ws_local *l)
{
    uint64_t now = clock_now_ns();
    uint64_t busy = now - l->pay_t0;
    l->pay_t0 = 0;
    if (busy >= l->pay_moved * p->pay_ns) {
        l->pay_bad = 0;
        return;
    }
    if (l->pay_bad < p->hold_max_shift + 1) l->pay_bad++;
    uint64_t hold = p->hold_ns << (l->pay_bad - 1);
    struct timespec ts = {(time_t)(hold / 1000000000u), (long)(hold % 1000000000u)};
    nanosleep(&ts, NULL);
}

task *ws_steal(void *policy, worker *w)
{
    ws_policy *p = policy;
    ws_local *l = sched_worker_local(w);
    if (l->pay_t0) ws_pay_judge(p, l);
    task *t = ws_steal_find(policy, w, l);
    l->handed += t != NULL; /* the back-off's count (numa's next counts the rest) */
    return t;
}

/* ---- any thread / shutdown -------------------------------------------------------- */

bool ws_has_work(void *policy)
{
    ws_policy *p = policy;
    for (int q = 0; q < p->ninject; q++)
        if (injectq_len(&p->inject[q]->q)) return true;
    for (int i = 0; i < p->nworkers; i++)
        if (deque_len_estimate(&p->locals[i]->dq) > 0) return true;
    return false;
}

bool ws_has_local(void *policy, worker *w)
{
    (void)policy;
    const ws_local *l = sched_worker_local(w);
    return l->lifo != NULL || l->later.len != 0 || ws_pv_len(l) != 0;
}

/* Outside threads' pushes (push_remote, numa's per node): the lock-free
 * intake, so a producer never waits for a worker taking a batch under the
 * lock (taskq.h). */
void ws_inject_push(ws_policy *p, int q, task *t) { injectq_push_intake(&p->inject[q]->q, t); }

task *ws_drain(void *policy)
{
    ws_policy *p = policy;
    for (int i = 0; i < p->nworkers; i++) {
        ws_local *l = p->locals[i];
        task *t = l->lifo;
        if (t) {
            l->lifo = NULL;
            return t;
        }
        if ((t = taskq_pop(&l->later))) return t;
        if (ws_pv_len(l)) return ws_pv_pop_newest(l);
        /* the workers are joined: this thread may act as every deque's owner */
        if ((t = deque_pop(&l->dq))) return t;
    }
    for (int q = 0; q < p->ninject; q++) {
        task *t = injectq_pop(&p->inject[q]->q);
        if (t) return t;
    }
    return NULL;
}

/* ---- knobs ------------------------------------------------------------------------ */

int ws_validate_knobs(const sched_knob *knobs, int n, const weft_config *cfg, char *err, size_t errlen)
{
    int rc = sched_knobs_check(knobs, n, cfg, err, errlen);
    if (rc < 0) return rc;
    int cap = cfg->local_queue_capacity; /* >= 2 by the range */
    if (cap & (cap - 1)) {
        snprintf(err, errlen, "local_queue_capacity = %d: must be a power of two >= 2", cap);
        return -EINVAL;
    }
    return 0;
}

/* ---- the ws policy: one injection queue, one victim tier ---------------------------- */

static const sched_knob ws_knobs[] = {WS_KNOBS};
#define WS_NKNOBS ((int)(sizeof ws_knobs / sizeof ws_knobs[0]))

static int ws_validate(const weft_config *cfg, char *err, size_t errlen)
{
    return ws_validate_knobs(ws_knobs, WS_NKNOBS, cfg, err, errlen);
}

static int ws_create(struct weft_runtime *rt, void **out, char *err, size_t errlen)
{
    int rc = ws_validate(sched_env_knobs(rt), err, errlen); /* E7 */
    if (rc < 0) return rc;
    const ws_shape shape = {"ws", 1, false, false, false};
    return ws_policy_create(rt, &shape, out, err, errlen);
}

static int ws_push_remote(void *policy, task *t)
{
    ws_inject_push(policy, 0, t);
    return -1; /* any idle worker */
}

const sched_ops sched_ws = {
    .name = "ws",
    .description = "work stealing: Chase-Lev deque per worker, LIFO slot, injection queue, "
                   "random-victim steal-half",
    .runs_on_caller = false,
    .knobs = ws_knobs,
    .nknobs = WS_NKNOBS,
    .validate = ws_validate,
    .create = ws_create,
    .destroy = ws_policy_destroy,
    .push_local = ws_push_local,
    .push_remote = ws_push_remote,
    .next = ws_next,
    .steal = ws_steal,
    .has_work = ws_has_work,
    .has_local = ws_has_local,
    .drain = ws_drain,
    .take_back = ws_take_back,
};
