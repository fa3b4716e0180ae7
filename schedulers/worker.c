/*
 * schedulers/worker.c - how a worker runs tasks: the one worker loop, the
 * searching count, placing a task (rt_schedule) and polling it.
 *
 * ## One worker loop
 *
 * Every scheduler runs in rt_worker_loop() below; a policy (sched.h) only says
 * where tasks go and where a worker looks. One iteration:
 *
 *     task = policy.next(w)                  local queue, LIFO slot, shared queue every K ticks
 *     if none: task = policy.steal(w)        only while "searching" (capped)
 *     if task: poll it
 *     else: spin `spin_before_park` rounds, then the idle spin, then park
 *
 * and every `global_interval` ticks a worker that finds the driver free
 * polls the reactor and the timers without blocking ("maintenance"), so IO
 * and timers progress while every worker is busy.
 *
 * The loop is written once and compiled twice (worker_loop, always
 * inline, called by rt_worker_loop with `fifo` constant): fifo's copy has
 * its queue operations, run_task, requeue and a private leaf's completion
 * inlined and no policy test per task; the other copy calls the policy
 * through sched_ops. On fifo/1 this took a yield from 134 to 102
 * instructions (callgrind, yield_many; the commit that made it has the
 * command). fifo's copy runs only under block_on's `until` (fifo is
 * runs_on_caller), so its stop check reads *until and rt->shutdown with
 * no NULL test; both copies build the poll context once (worker_context)
 * and re-arm four fields per poll. With those, a yield was 92 and a
 * spawned task 242 instructions (callgrind, the commits have the
 * commands). fifo's copy then also runs only without a latency histogram
 * (sched_latency runs the other copy), keeps its queues' pointer, the
 * budget and its poll count in registers (the count reaches w's counters
 * on every interval tick, before a park and when the loop ends), reads
 * rt->shutdown only on interval ticks and when it finds no task, and
 * re-queues a yield without the queue_hwm test (fifo.h): 91 -> 72
 * instructions per yield; carrying a yield with no flag of its own
 * (task.h, "Carried yields") took it to 68 (callgrind, yield_many fifo/1,
 * yields 200 vs 400; the commits have the commands).
 *
 * Parking is in park.c; driving the reactor and the timers in driver.c.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/histogram.h"
#include "common/topology.h"
#include "schedulers/fifo.h"
#include "schedulers/runtime_internal.h"
#include "schedulers/sched.h"
#include "schedulers/task.h"

/* ---- thread-local worker ---------------------------------------------------------- */

/* The worker the calling thread is (NULL off the workers). Declared hidden
 * in runtime_internal.h: the same TLS access model as the file-static
 * variable it was before the core was split into files. */
_Thread_local worker *rt_tls_worker;

worker *rt_current_worker(void) { return rt_tls_worker; }

weft_runtime *weft_runtime_current(void) { return rt_tls_worker ? rt_tls_worker->rt : NULL; }
static bool worker_start_searching(worker *w)
{
    if (w->searching) return true;
    weft_runtime *rt = w->rt;
    /* relaxed: the cap is a heuristic (two workers may both pass it); the
     * seq_cst add below is the Dekker store the essay relies on */
    int n = atomic_load_explicit(&rt->num_searching, memory_order_relaxed);
    if (n >= rt->max_searching) return false;
    atomic_fetch_add_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    w->searching = true;
    return true;
}

static void worker_stop_searching(worker *w)
{
    w->searching = false;
    /* the last searcher to find work wakes the next one (chain wake-up) */
    if (atomic_fetch_sub_explicit(&w->rt->num_searching, 1, memory_order_seq_cst) == 1)
        rt_notify_parked(w->rt, w->node);
}

/* ---- scheduling ------------------------------------------------------------------- */

/* The policy's push_local and next. fifo's are called directly (inlined from
 * fifo.h): on a one-worker runtime the two indirect calls per task were a
 * visible share of a yield and of a spawned task, and inlined, fifo's
 * "nobody to wake" return folds the idle check below away. Every other
 * policy goes through its sched_ops. `fifo` is rt->ops == &sched_fifo; the
 * worker loop passes it as a constant (below), so its fifo copy has no
 * policy test at all. */
#define WORKER_INLINE static inline __attribute__((always_inline))
WORKER_INLINE bool policy_push_local(weft_runtime *rt, worker *w, task *t, sched_hint hint, bool fifo)
{
    if (fifo) return fifo_push_local_inline(rt->policy, w, t, hint);
    return rt->ops->push_local(rt->policy, w, t, hint);
}

WORKER_INLINE task *policy_next(weft_runtime *rt, worker *w, bool fifo)
{
    if (fifo) return fifo_next_inline(rt->policy, w, sched_worker_interval_tick(w));
    return rt->ops->next(rt->policy, w);
}

static inline void stamp_wake(weft_runtime *rt, task *t)
{
    if (rt->cfg.sched_latency) t->wake_ns = clock_now_ns();
}

WORKER_INLINE void schedule_local(weft_runtime *rt, worker *w, task *t, sched_hint hint)
{
    stamp_wake(rt, t);
    if (hint == SCHED_WAKE) WORKER_STAT_INC(w, STAT_LOCAL_WAKES);
    if (policy_push_local(rt, w, t, hint, rt->ops == &sched_fifo)) {
        /* fast path without the fence: see the essay */
        if (sched_env_would_wake(rt)) rt_notify_parked(rt, w->node);
    }
}

void rt_schedule_spawned(worker *w, task *t) { schedule_local(t->rt, w, t, SCHED_SPAWN); }

void rt_schedule(task *t, sched_hint hint)
{
    weft_runtime *rt = t->rt;
    worker *w = rt_tls_worker;
    if (w && w->rt == rt) {
        schedule_local(rt, w, t, hint);
    } else {
        stamp_wake(rt, t);
        if (hint == SCHED_WAKE) rt_external_stat_inc(rt, STAT_REMOTE_WAKES);
        /* Outside wakes and weft_runtime_free: until the push, rt cannot
         * go away (the task is not COMPLETE and sits in no queue, so no
         * shutdown can finish); from the push on, a worker may run the task
         * to completion and its block_on caller may free rt while this
         * thread is still in rt_notify_parked. So the push is bracketed by
         * this thread's outside record (runtime_internal.h; the orders are
         * there): two plain stores where a shared counter took two RMWs
         * (spawn_remote fifo/1 without them, an unsafe experiment: 0.62x,
         * 10 processes a side; the commit has the A/B). */
        outside_rec *rec = rt_outside_enter(rt);
        if (rt->ops == &sched_fifo) {
            /* a seq_cst push: the notify needs no fence (park.c) */
            fifo_push_remote_inline(rt->policy, t);
            rt_notify_parked_after_sc_push(rt, -1);
        } else {
            int node = rt->ops->push_remote(rt->policy, t);
            rt_notify_parked(rt, node);
        }
        rt_outside_leave(rt, rec);
    }
}

/* ---- running a task ------------------------------------------------------------------ */

void rt_task_cancel_running(task *t)
{
    if (t->type->drop) t->type->drop(task_state_ptr(t));
    task_complete(t, true);
}

/* Puts a task that stays runnable after its poll behind the ready work.
 * `fifo`: the fifo copy of the loop, which runs without a latency
 * histogram (rt_worker_loop), so its copy has no test for one; `fp` is
 * rt->policy there (the loop keeps it in a register). */
WORKER_INLINE void requeue(weft_runtime *rt, worker *w, task *t, bool fifo, fifo_policy *fp)
{
    if (fifo) {
        (void)fifo_push_local_inline(fp, w, t, SCHED_YIELD);
        return;
    }
    /* stamp_wake's test: a worker has a latency histogram exactly when
     * cfg.sched_latency is set (runtime_new), and w's is in a register */
    if (w->latency_hist) t->wake_ns = clock_now_ns();
    if (policy_push_local(rt, w, t, SCHED_YIELD, fifo) && sched_env_would_wake(rt))
        rt_notify_parked(rt, w->node);
}

/* The poll context a worker loop builds once (worker_loop) and run_task
 * re-arms per poll: the waker's vtable, the runtime and the drivers are the
 * same for every task of the loop, so a poll writes only the four fields
 * that change (the task, twice, the budget and the yield flag). Nothing
 * writes those three fields of a context it was handed (a combinator that
 * needs a different waker builds its own context), and the loop's context
 * lives on the loop's stack: a nested claim-back poll (rt_claim_and_run)
 * builds its own, so the outer poll's context is untouched by it. */
static inline weft_context worker_context(weft_runtime *rt, worker *w)
{
    return (weft_context){task_waker_borrowed(NULL), rt, NULL, 0, 0, &w->drivers};
}

/* Polls t, whose queue reference the caller holds, with cx (worker_context
 * of this rt and w) and a fresh `budget` (rt->cfg.budget, which the loops
 * keep in a register). `claimed`: t was taken
 * back by its joiner (rt_claim_and_run); a READY poll then completes it with
 * task_complete_claimed when it can, and returns true (rt_claim_and_run
 * then copies its output out and frees it).
 * The loops pass false, a constant the inlined copies fold away. `fifo`:
 * the fifo copy, which counts its polls itself (worker_loop) and has no
 * latency histogram; fp is its rt->policy. */
WORKER_INLINE bool run_task(weft_runtime *rt, worker *w, task *t, bool fifo, bool claimed,
                            weft_context *cx, int32_t budget, fifo_policy *fp)
{
    if (!fifo) WORKER_STAT_INC(w, STAT_POLLS);
    if (!fifo && w->latency_hist) {
        uint64_t now = clock_now_ns();
        hist_record(w->latency_hist, now > t->wake_ns ? now - t->wake_ns : 0);
    }
    /* `claimed` is a constant in each inlined copy */
    if (!(claimed ? task_begin_poll_claimed(t) : task_begin_poll(t))) {
        rt_task_cancel_running(t);
        return false;
    }
    cx->waker.data = t;
    cx->task = t;
    cx->budget = budget;
    cx->yielded = 0;
    weft_poll r = t->type->poll(task_state_ptr(t), cx, task_output_ptr(t));
    if (r == WEFT_READY) {
        /* the drop unlinks every sleep of t's state still on w->tpending
         * (only those are listed, timers/timer.c, DEFERRED STAMP); an outer
         * task's, under a claim-back, stay for its own poll's end */
        if (t->type->drop) t->type->drop(task_state_ptr(t));
        if (claimed && task_complete_claimed(t)) return true;
        task_complete_inline(w, t);
        return false;
    }
    /* sleeps first polled in this poll get their deadline now, while t is
     * still RUNNING and so seen by no other thread (timers/timer.c, DEFERRED STAMP) */
    if (__builtin_expect(timer_pending_any(&w->tpending), 0)) timer_pending_flush(&w->tpending);
    /* A yield is carried: re-queued still RUNNING, without the two CASes
     * of an idle round trip and without a look at the word (an abort is
     * seen by the pop; schedulers/task.h, "Carried yields"). */
    if (cx->yielded) {
        requeue(rt, w, t, fifo, fp);
        return false;
    }
    switch (task_transition_to_idle(t, false)) { /* a yield was carried above */
    case TASK_AFTER_IDLE:
        break;
    case TASK_AFTER_REQUEUE:
        requeue(rt, w, t, fifo, fp);
        break;
    case TASK_AFTER_CANCEL:
        rt_task_cancel_running(t);
        break;
    }
    return false;
}

/* Nested inline polls of one worker thread (join claim-back): each level
 * is a run_task, a poll and a join_poll on the stack, so the chain is
 * bounded; fork-join recursion nests about as deep as its recursion (fib(n):
 * n - 2 levels under the task the loop polled), and a join past the bound
 * waits the ordinary way. */
#define RT_CLAIM_DEPTH_MAX 48
static _Thread_local uint32_t rt_claim_depth;

rt_claim rt_claim_and_run(task *t, void *out)
{
    weft_runtime *rt = t->rt;
    worker *w = rt_tls_worker;
    /* the caller checked that the policy has take_back (a policy without
     * it pays no call) */
    if (!w || w->rt != rt || rt_claim_depth >= RT_CLAIM_DEPTH_MAX) return RT_CLAIM_NONE;
    if (!rt->ops->take_back(rt->policy, w, t)) return RT_CLAIM_NONE;
    rt_claim_depth++;
    weft_context cx = worker_context(rt, w);
    bool held = run_task(rt, w, t, false, true, &cx, rt->cfg.budget, NULL); /* fifo has no take_back */
    rt_claim_depth--;
    if (!held) return RT_CLAIM_POLLED;
    /* the join's READY: the output, then the free into this worker's cache
     * (w is the polling worker, of t->rt: no second look-up) */
    if (out) task_output_copy(out, task_output_ptr(t), t->type->output_size);
    rt_task_free_on(w, t);
    return RT_CLAIM_HELD;
}

/* ---- the idle spin ----------------------------------------------------------------------- */

/* The spin of both idle stretches below, as a searcher (the caller made w
 * one): watches has_work and the loop's stop until *deadline, which it
 * sets to now + ns when 0 (one deadline per idle stretch). True when the
 * loop should look again, false at the deadline, still searching. */
static bool worker_search_spin(worker *w, _Atomic int *until, uint64_t *deadline, uint64_t ns)
{
    weft_runtime *rt = w->rt;
    uint64_t now = clock_now_ns();
    if (*deadline == 0) *deadline = now + ns;
    while (now < *deadline) {
        for (int i = 0; i < 16; i++) {
            if (rt->ops->has_work(rt->policy) || rt_loop_should_stop(w, until)) return true;
            cpu_relax();
        }
        sched_yield();
        now = clock_now_ns();
    }
    return false;
}

/* A worker that ran out of work right after running some stays awake for up
 * to `idle_spin_us`, watching has_work, before it parks. Parking and the
 * unpark that follows are two futex calls; a block_on loop on an outside
 * thread (chained_spawn, ping_pong) spawns its next root a few microseconds
 * after the previous one completed, so without the spin every iteration of
 * a one-worker ws/global/numa runtime paid an unpark.
 *
 * The spinner is a SEARCHER (Go's spinning M, Tokio's searching worker):
 * it is counted in num_searching, under the max_searching cap, for the
 * whole spin. That is what keeps wake-ups from being lost, the reason the
 * first version of this spin (neither idle nor searching) was taken out:
 *  - a pusher that sees num_searching != 0 wakes nobody and relies on the
 *    searchers; the spinner honours that: it either takes the work (the
 *    loop's policy_next/steal), or it parks through rt_worker_park_idle,
 *    which drops it from num_searching before idle_push and, being the
 *    last searcher, re-checks has_work between the Dekker fences;
 *  - when it takes a task, worker_stop_searching runs, and as the last
 *    searcher it wakes the next parked worker (chain wake-up), exactly
 *    like a searcher that stole; so work pushed while it spun and not
 *    taken by it still gets a worker.
 * A worker that cannot become a searcher (the cap is reached) parks at once:
 * the searchers are responsible for the work then.
 *
 * Cost bounds, for a 2-vCPU machine where a spinner takes CPU from the
 * block_on caller and the other workers: at most max_searching workers spin
 * (half of them by default); the spin is sched_yield between bursts of 16
 * pause rounds; one deadline per idle stretch, kept until a task runs (so a
 * has_work that stays true for work this worker cannot take ends at the
 * deadline instead of looping); and only an idle stretch that follows a
 * task spins (*deadline == 1 after a park: a worker woken for nothing goes
 * back to sleep without spinning). Threaded runtimes only: a
 * runs_on_caller worker is the caller and must return to it. While it
 * spins the worker does not drive the reactor: a timer or IO event due
 * then is seen up to idle_spin_us late unless another worker drives.
 *
 * Returns true when the loop should look again (work appeared, or it
 * should stop), false when the worker should park. */
static bool worker_idle_spin(worker *w, _Atomic int *until, uint64_t *deadline)
{
    weft_runtime *rt = w->rt;
    if (rt->ops->runs_on_caller || rt->cfg.idle_spin_us <= 0 || *deadline == 1) return false;
    /* already searching (a previous round of this stretch, or a steal
     * attempt) or becomes one now; past the cap it parks. Past the
     * deadline it is still searching: rt_worker_park_idle stops it before
     * idle_push */
    if (!worker_start_searching(w)) return false;
    return worker_search_spin(w, until, deadline, (uint64_t)rt->cfg.idle_spin_us * 1000u);
}

/* A lent loop (park.c, the core hand-off) at more than one worker, where
 * it would park: it cannot park (the thread is the block_on caller's), and
 * leaving at once gave the core back at every idle moment of a parallel
 * root while the other workers still made work. So it spins as a searcher
 * for the time the caller would spin on the root's COMPLETE bit after the
 * give-back (RT_BLOCK_ON_SPIN_NS, which the caller then skips). Alternating
 * A/B in ABBA order, 16 processes a side, block_on_handoff=2 without and
 * with this spin (the second binary also has the idle-runtime test of
 * weft_block_on and 133bc4b's cache-line layout;
 * results/ab-vm-2c-2026-12-04-handoff2/lent_*): uts ws/2 0.81-0.87x,
 * numa/2 0.86-0.88x, fib at two workers 0.73-0.87x. Returns
 * true when the loop should look again, false when it should give the
 * core back (past the deadline, or the searcher cap is reached: the
 * searchers are responsible for the work then). */
static bool worker_lent_spin(worker *w, _Atomic int *until, uint64_t *deadline)
{
    if (w->rt->nworkers == 1 || !worker_start_searching(w)) return false;
    return worker_search_spin(w, until, deadline, RT_BLOCK_ON_SPIN_NS);
}

/* ---- the worker loop -------------------------------------------------------------------- */

/* rt_loop_should_stop, with fifo's copy's facts folded in: that copy runs
 * only with an `until` (rt_worker_loop) and rt is in a register, and it
 * reads rt->shutdown only on an interval tick (worker_loop) and when it
 * finds no task: a shutdown (weft_runtime_free from another thread, a
 * fault) stops it within global_interval polls, as the fairness tick
 * bounds everything else, and the block_on it serves returns then. */
WORKER_INLINE bool loop_should_stop(weft_runtime *rt, worker *w, _Atomic int *until, bool fifo)
{
    if (!fifo) return rt_loop_should_stop(w, until);
    /* the acquire: rt_loop_should_stop's */
    return atomic_load_explicit(until, memory_order_acquire);
}

/* The fifo copy's shutdown test (above). */
WORKER_INLINE bool loop_shutdown(weft_runtime *rt)
{
    /* the acquire: rt_loop_should_stop's */
    return atomic_load_explicit(&rt->shutdown, memory_order_acquire) != 0;
}

/* The loop, instantiated twice (rt_worker_loop, below): once for fifo, with
 * its queue operations, run_task and requeue inlined and no policy test per
 * task, and once for the policies called through sched_ops. */
WORKER_INLINE void worker_loop(worker *w, _Atomic int *until, bool fifo)
{
    weft_runtime *rt = w->rt;
    const sched_ops *ops = rt->ops;
    int spins = 0;
    uint64_t idle_deadline = 1; /* worker_idle_spin's: 0 may spin, 1 may not, else the deadline */
    uint64_t lent_deadline = 0; /* worker_lent_spin's: 0 none set, else the deadline */
    const uint32_t interval = (uint32_t)rt->cfg.global_interval;
    const int32_t budget = rt->cfg.budget;
    /* fifo's copy: its queues (rt->policy, immutable) and its poll count in
     * registers; the count is added to w's counters on every interval tick,
     * before it parks and when the loop ends (before block_on returns), so
     * a reader off the worker sees it at most global_interval polls late */
    fifo_policy *fp = fifo ? rt->policy : NULL;
    uint64_t polls = 0;
    /* the count-down lives in a register while the loop runs: one decrement
     * per iteration (a tick counter beside it cost gcc a vector add) */
    uint32_t left = w->interval_left;
    weft_context cx = worker_context(rt, w);
    while (!loop_should_stop(rt, w, until, fifo)) {
        /* computed once here for the policies (fifo, ws read interval_tick;
         * fifo's copy hands it to fifo_next_inline instead) */
        bool tick = --left == 0;
        if (!fifo) w->interval_tick = tick;
        if (tick) {
            left = interval;
            if (fifo) {
                WORKER_STAT_ADD(w, STAT_POLLS, polls);
                polls = 0;
                if (loop_shutdown(rt)) break;
            }
            rt_maintenance(w);
        }
        task *t = fifo ? fifo_next_inline(fp, w, tick) : policy_next(rt, w, fifo);
        if (!fifo && !t && ops->steal && worker_start_searching(w)) t = ops->steal(rt->policy, w);
        if (t) {
            if (!fifo && w->searching) worker_stop_searching(w);
            spins = 0;
            if (!fifo) idle_deadline = lent_deadline = 0; /* fifo's copy never idle-spins (runs_on_caller) */
            if (fifo) polls++;
            run_task(rt, w, t, fifo, false, &cx, budget, fp);
            continue;
        }
        if (fifo && loop_shutdown(rt)) break;
        if (spins < rt->cfg.spin_before_park) {
            spins++;
            cpu_relax();
            continue;
        }
        /* a block_on caller holding w's core (park.c, the core hand-off)
         * does not park as w: it returns and waits the old way */
        if (!fifo && w->core_lent) {
            if (worker_lent_spin(w, until, &lent_deadline)) continue;
            break;
        }
        if (worker_idle_spin(w, until, &idle_deadline)) continue;
        spins = 0;
        idle_deadline = 1;
        if (fifo) {
            WORKER_STAT_ADD(w, STAT_POLLS, polls);
            polls = 0;
        }
        rt_worker_park_idle(w, until);
    }
    if (fifo) WORKER_STAT_ADD(w, STAT_POLLS, polls);
    w->interval_left = left;
    if (w->searching) {
        w->searching = false;
        atomic_fetch_sub_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    }
}

void rt_worker_loop(worker *w, _Atomic int *until)
{
    /* fifo's copy wants an until (block_on's; a runs_on_caller policy has
     * no threads of its own, so it always has one), and no latency
     * histogram (the sched_latency measurement runs in the other copy);
     * the other copy serves every policy, fifo included, through sched_ops */
    if (w->rt->ops == &sched_fifo && until && !w->latency_hist) worker_loop(w, until, true);
    else worker_loop(w, until, false);
}

void *rt_worker_main(void *arg)
{
    worker *w = arg;
    weft_runtime *rt = w->rt;
    rt_tls_worker = w;
    if (rt->topo) {
        char err[256];
        topo_bind_current_thread(rt->topo, rt->placement, w->index, err, sizeof err);
    }
    /* release: publishes this worker's binding result to describe_placement */
    atomic_fetch_add_explicit(&rt->workers_started, 1, memory_order_release);
    rt_worker_loop(w, NULL);
    rt_tls_worker = NULL;
    return NULL;
}
