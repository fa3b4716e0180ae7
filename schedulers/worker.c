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
 * policy goes through its sched_ops. */
static inline bool policy_push_local(weft_runtime *rt, worker *w, task *t, sched_hint hint)
{
    if (rt->ops == &sched_fifo) return fifo_push_local_inline(rt->policy, w, t, hint);
    return rt->ops->push_local(rt->policy, w, t, hint);
}

static inline task *policy_next(weft_runtime *rt, worker *w)
{
    if (rt->ops == &sched_fifo) return fifo_next_inline(rt->policy, w);
    return rt->ops->next(rt->policy, w);
}

static inline void stamp_wake(weft_runtime *rt, task *t)
{
    if (rt->cfg.sched_latency) t->wake_ns = clock_now_ns();
}

void rt_schedule(task *t, sched_hint hint)
{
    weft_runtime *rt = t->rt;
    worker *w = rt_tls_worker;
    stamp_wake(rt, t);
    if (w && w->rt == rt) {
        if (hint == SCHED_WAKE) WORKER_STAT_INC(w, STAT_LOCAL_WAKES);
        if (policy_push_local(rt, w, t, hint)) {
            /* fast path without the fence: see the essay */
            if (atomic_load_explicit(&rt->num_idle, memory_order_relaxed) != 0 &&
                atomic_load_explicit(&rt->num_searching, memory_order_relaxed) == 0)
                rt_notify_parked(rt, w->node);
        }
    } else {
        if (hint == SCHED_WAKE) rt_external_stat_inc(rt, STAT_REMOTE_WAKES);
        /* Outside wakes and weft_runtime_free: until the push, rt cannot
         * go away (the task is not COMPLETE and sits in no queue, so no
         * shutdown can finish); from the push on, a worker may run the task
         * to completion and its block_on caller may free rt while this
         * thread is still in rt_notify_parked. So the push is bracketed by
         * outside_inflight. relaxed inc: the push's release orders it before
         * the task is visible, and whoever frees rt saw the task's
         * completion, hence the push, hence the inc. release dec: pairs with
         * the acquire spin in runtime_destroy, so every read of rt here
         * happens before the free. */
        atomic_fetch_add_explicit(&rt->outside_inflight, 1, memory_order_relaxed);
        int node = rt->ops->push_remote(rt->policy, t);
        rt_notify_parked(rt, node);
        atomic_fetch_sub_explicit(&rt->outside_inflight, 1, memory_order_release);
    }
}

/* ---- running a task ------------------------------------------------------------------ */

void rt_task_cancel_running(task *t)
{
    if (t->type->drop) t->type->drop(task_state_ptr(t));
    task_complete(t, true);
}

/* Puts a task that stays runnable after its poll behind the ready work. */
static void requeue(worker *w, task *t)
{
    weft_runtime *rt = w->rt;
    stamp_wake(rt, t);
    if (policy_push_local(rt, w, t, SCHED_YIELD) &&
        atomic_load_explicit(&rt->num_idle, memory_order_relaxed) != 0 &&
        atomic_load_explicit(&rt->num_searching, memory_order_relaxed) == 0)
        rt_notify_parked(rt, w->node);
}

static void run_task(worker *w, task *t)
{
    weft_runtime *rt = w->rt;
    WORKER_STAT_INC(w, STAT_POLLS);
    if (w->latency_hist) {
        uint64_t now = clock_now_ns();
        hist_record(w->latency_hist, now > t->wake_ns ? now - t->wake_ns : 0);
    }
    if (!task_begin_poll(t)) {
        rt_task_cancel_running(t);
        return;
    }
    weft_context cx = {task_waker_borrowed(t), rt, t, rt->cfg.budget, 0, &w->drivers};
    weft_poll r = t->type->poll(task_state_ptr(t), &cx, task_output_ptr(t));
    if (r == WEFT_READY) {
        if (t->type->drop) t->type->drop(task_state_ptr(t));
        task_complete(t, false);
        return;
    }
    /* A yield is carried: re-queued still RUNNING, without the two CASes
     * of an idle round trip (schedulers/task.h). */
    if (cx.yielded && task_try_carry(t)) {
        requeue(w, t);
        return;
    }
    switch (task_transition_to_idle(t, cx.yielded != 0)) {
    case TASK_AFTER_IDLE:
        break;
    case TASK_AFTER_REQUEUE:
        requeue(w, t);
        break;
    case TASK_AFTER_CANCEL:
        rt_task_cancel_running(t);
        break;
    }
}

/* ---- the worker loop -------------------------------------------------------------------- */

/* ---- the idle spin ----------------------------------------------------------------------- */

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
     * attempt) or becomes one now; past the cap it parks */
    if (!worker_start_searching(w)) return false;
    uint64_t now = clock_now_ns();
    if (*deadline == 0) *deadline = now + (uint64_t)rt->cfg.idle_spin_us * 1000u;
    while (now < *deadline) {
        for (int i = 0; i < 16; i++) {
            if (rt->ops->has_work(rt->policy) || rt_loop_should_stop(w, until)) return true;
            cpu_relax();
        }
        sched_yield();
        now = clock_now_ns();
    }
    return false; /* still searching: rt_worker_park_idle stops it before idle_push */
}

void rt_worker_loop(worker *w, _Atomic int *until)
{
    weft_runtime *rt = w->rt;
    const sched_ops *ops = rt->ops;
    int spins = 0;
    uint64_t idle_deadline = 1; /* worker_idle_spin's: 0 may spin, 1 may not, else the deadline */
    const uint32_t interval = (uint32_t)rt->cfg.global_interval;
    while (!rt_loop_should_stop(w, until)) {
        w->tick++;
        /* computed once here for the policies (fifo, ws read interval_tick) */
        w->interval_tick = --w->interval_left == 0;
        if (w->interval_tick) {
            w->interval_left = interval;
            rt_maintenance(w);
        }
        task *t = policy_next(rt, w);
        if (!t && ops->steal && worker_start_searching(w)) t = ops->steal(rt->policy, w);
        if (t) {
            if (w->searching) worker_stop_searching(w);
            spins = 0;
            idle_deadline = 0;
            run_task(w, t);
            continue;
        }
        if (spins < rt->cfg.spin_before_park) {
            spins++;
            cpu_relax();
            continue;
        }
        if (worker_idle_spin(w, until, &idle_deadline)) continue;
        spins = 0;
        idle_deadline = 1;
        rt_worker_park_idle(w, until);
    }
    if (w->searching) {
        w->searching = false;
        atomic_fetch_sub_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    }
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
