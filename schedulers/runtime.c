/*
 * schedulers/runtime.c - the runtime core: threads, the one worker loop,
 * parking, the reactor/timer driver, spawn, block_on and shutdown.
 *
 * ## One worker loop
 *
 * Every scheduler runs in worker_loop() below; a policy (sched.h) only says
 * where tasks go and where a worker looks. One iteration:
 *
 *     task = policy.next(w)                  local queue, LIFO slot, shared queue every K ticks
 *     if none: task = policy.steal(w)        only while "searching" (capped)
 *     if task: poll it
 *     else: spin `spin_before_park` rounds, then park
 *
 * and every `global_interval` ticks a worker that finds the driver free
 * polls the reactor and the timers without blocking ("maintenance"), so IO
 * and timers progress while every worker is busy.
 *
 * ## Parking without lost wake-ups
 *
 * The protocol is Tokio's (and Go's spinning-M rule). A worker with no work
 * (1) stops searching (num_searching--), (2) pushes itself on the idle stack
 * (num_idle++ under idle_lock), (3) issues a seq_cst fence, (4) re-checks
 * every queue (policy.has_work), and only then (5) sleeps on its parker. A
 * thread that makes work visible to others (a push to a shared queue, or a
 * local push on a multi-worker runtime) issues a seq_cst fence and then
 * reads num_searching and num_idle: if nobody is searching and somebody is
 * idle, it pops one idle worker, counts it as searching, and unparks it.
 * With the two fences, either the pusher sees the worker on the idle stack
 * or the worker's re-check sees the task (the store-load pattern of
 * Dekker's algorithm; both fences are needed). The parker itself is a
 * permit: an unpark that arrives before the park makes the park return at
 * once, so the window between (4) and (5) loses nothing.
 *
 * At most max_searching workers (half by default) search at once, so an
 * idle runtime does not turn every wake into N thieves hammering N queues;
 * the last searcher to find work wakes the next ("chain wake-up"), so
 * parallelism still ramps up one worker at a time.
 *
 * Local pushes on a multi-worker runtime skip the fence: a missed
 * notification there only delays parallelism (the pushing worker runs the
 * task itself), never loses a task. Remote pushes always fence.
 *
 * ## Who drives the reactor and the timers
 *
 * One driver at a time: a parking worker that wins the driver_busy
 * try-lock blocks in reactor_poll() with timeout = the next timer deadline
 * (exact, in ns: epoll_pwait2), then wakes the IO wakers and fires the
 * timers; the other idle workers sleep on condition variables. Unparking a
 * driving worker writes the reactor's eventfd. With cfg.reactor_thread = 1
 * a dedicated thread drives instead and workers only ever sleep on their
 * condition variables. Arming a timer earlier than the driver's sleep
 * deadline wakes the driver (timer_driver's notify callback).
 *
 * ## Shutdown
 *
 * weft_runtime_free sets `shutdown`, unparks everyone, joins the workers,
 * the driver thread and the blocking pool, then cancels what is left: it
 * drains the policy's queues (each task's future is dropped, its joiner
 * sees -ECANCELED) and aborts every task still on the owned list (tasks
 * waiting on wakers nobody will call), repeating until both are empty
 * (a dropped future may wake or release others). Then the timers and the
 * reactor drop the wakers they still hold, and the last references free
 * the tasks.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomics.h"
#include "common/clock.h"
#include "common/histogram.h"
#include "common/topology.h"
#include "reactor/reactor.h"
#include "schedulers/runtime_internal.h"
#include "schedulers/sched.h"
#include "schedulers/task.h"
#include "timers/timer.h"

#if defined(WEFT_TSAN)
_Atomic int weft_tsan_fence_word;
#endif

/* ---- errors ------------------------------------------------------------------ */

static _Thread_local char last_error[512];

const char *weft_last_error(void) { return last_error; }

int rt_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return err;
}

/* ---- build information ---------------------------------------------------------- */

#ifndef WEFT_ALLOCATOR_NAME
#define WEFT_ALLOCATOR_NAME "system"
#endif
#ifndef WEFT_COMPILER_NAME
#define WEFT_COMPILER_NAME "unknown"
#endif
#ifndef WEFT_BUILD_TYPE
#define WEFT_BUILD_TYPE "unknown"
#endif
#ifndef WEFT_C_FLAGS
#define WEFT_C_FLAGS ""
#endif
#ifndef WEFT_SANITIZER
#define WEFT_SANITIZER ""
#endif
#ifndef WEFT_VERSION_STRING
#define WEFT_VERSION_STRING "0.0.0"
#endif

const char *weft_build_allocator(void) { return WEFT_ALLOCATOR_NAME; }
const char *weft_version(void) { return WEFT_VERSION_STRING; }
const char *weft_build_info(void)
{
    return "weft " WEFT_VERSION_STRING " allocator=" WEFT_ALLOCATOR_NAME " compiler=" WEFT_COMPILER_NAME
           " build=" WEFT_BUILD_TYPE " sanitizer=" WEFT_SANITIZER " cflags=" WEFT_C_FLAGS;
}

uint64_t weft_now_ns(void) { return clock_now_ns(); }

/* ---- counters ------------------------------------------------------------------ */

#define SF(n, max) {#n, offsetof(weft_worker_stats, n), max}
const weft_stat_field weft_stat_fields[] = {
    SF(polls, false), SF(spawns, false), SF(local_wakes, false), SF(remote_wakes, false),
    SF(parks, false), SF(unparks, false), SF(spurious_unparks, false), SF(steal_attempts, false),
    SF(steals, false), SF(tasks_stolen, false), SF(local_steals, false), SF(remote_steals, false),
    SF(inject_pops, false), SF(lifo_hits, false), SF(overflow_moves, false), SF(queue_hwm, true),
};
const int weft_stat_field_count = (int)(sizeof weft_stat_fields / sizeof weft_stat_fields[0]);
_Static_assert(sizeof weft_stat_fields / sizeof weft_stat_fields[0] == STAT_COUNT,
               "one stat field per counter");

static void stats_copy(const worker_stats *s, weft_worker_stats *out)
{
    uint64_t *o = (uint64_t *)out;
    for (int i = 0; i < STAT_COUNT; i++)
        o[i] = atomic_load_explicit(&s->v[i], memory_order_relaxed);
}

int weft_runtime_stats(weft_runtime *rt, weft_worker_stats *per_worker, int max,
                       weft_worker_stats *total)
{
    if (!rt) return rt_fail(-EINVAL, "weft_runtime_stats: NULL runtime");
    weft_worker_stats tmp;
    if (total) memset(total, 0, sizeof *total);
    for (int i = 0; i <= rt->nworkers; i++) {
        stats_copy(i < rt->nworkers ? &rt->workers[i].stats : &rt->external, &tmp);
        if (per_worker && i < max && i < rt->nworkers) per_worker[i] = tmp;
        if (total) {
            uint64_t *t = (uint64_t *)total, *s = (uint64_t *)&tmp;
            for (int k = 0; k < STAT_COUNT; k++)
                t[k] = weft_stat_fields[k].is_max ? (s[k] > t[k] ? s[k] : t[k]) : t[k] + s[k];
        }
    }
    return rt->nworkers;
}

void weft_runtime_stats_reset(weft_runtime *rt)
{
    if (!rt) return;
    for (int i = 0; i <= rt->nworkers; i++) {
        worker_stats *s = i < rt->nworkers ? &rt->workers[i].stats : &rt->external;
        for (int k = 0; k < STAT_COUNT; k++) atomic_store_explicit(&s->v[k], 0, memory_order_relaxed);
        if (i < rt->nworkers && rt->workers[i].latency_hist) hist_reset(rt->workers[i].latency_hist);
    }
}

static void external_stat_inc(weft_runtime *rt, int idx)
{
    atomic_fetch_add_explicit(&rt->external.v[idx], 1, memory_order_relaxed);
}

/* ---- thread-local worker ---------------------------------------------------------- */

static _Thread_local worker *tls_worker;

worker *rt_current_worker(void) { return tls_worker; }

weft_runtime *weft_runtime_current(void) { return tls_worker ? tls_worker->rt : NULL; }

const weft_config *weft_runtime_config(const weft_runtime *rt) { return rt ? &rt->cfg : NULL; }

/* ---- task memory ---------------------------------------------------------------- */

task *rt_task_alloc(weft_runtime *rt, size_t size)
{
    (void)rt;
    return malloc(size);
}

void rt_task_free(task *t) { free(t); }

/* ---- parking -------------------------------------------------------------------- */

static void worker_unpark(worker *w)
{
    pthread_mutex_lock(&w->park_mu);
    int prev = atomic_exchange_explicit(&w->park_state, PARK_NOTIFIED, memory_order_acq_rel);
    if (prev == PARK_PARKED) pthread_cond_signal(&w->park_cv);
    pthread_mutex_unlock(&w->park_mu);
    if (prev == PARK_DRIVING) reactor_wake(w->rt->reactor);
}

/* ---- the timer shards ---------------------------------------------------------------------
 * rt->timers holds rt->ntimers drivers (knob timer_shards; 1 by default).
 * A future arms on the shard of the worker polling it (shard 0 off the
 * workers) and stays on that shard for its life, so arm and cancel from
 * different workers take different locks. Whoever drives the timers
 * treats the shards as one: it fires all of them and sleeps until the
 * earliest deadline of any. Equal deadlines fire in arming order within a
 * shard; across shards, shard by shard. */

static size_t timers_fire_all(weft_runtime *rt)
{
    size_t n = 0;
    uint64_t now = 0;
    for (int i = 0; i < rt->ntimers; i++) {
        if (timer_driver_empty(&rt->timers[i])) continue;
        if (!now) now = clock_now_ns();
        n += timer_driver_fire(&rt->timers[i], now);
    }
    return n;
}

static uint64_t timers_park_begin(weft_runtime *rt)
{
    uint64_t d = UINT64_MAX;
    for (int i = 0; i < rt->ntimers; i++) {
        uint64_t x = timer_driver_park_begin(&rt->timers[i]);
        if (x < d) d = x;
    }
    return d;
}

static void timers_park_end(weft_runtime *rt)
{
    for (int i = 0; i < rt->ntimers; i++) timer_driver_park_end(&rt->timers[i]);
}

static bool timers_any_armed(weft_runtime *rt)
{
    for (int i = 0; i < rt->ntimers; i++)
        if (timer_driver_next_deadline(&rt->timers[i]) != UINT64_MAX) return true;
    return false;
}

/* Polls the reactor with `timeout_ns` and fires due timers; wakes what is ready.
 * The caller holds driver_busy (or is the dedicated driver thread). */
static size_t driver_turn(weft_runtime *rt, uint64_t timeout_ns)
{
    weft_waker ready[256];
    size_t n = 0;
    reactor_poll(rt->reactor, timeout_ns, ready, sizeof ready / sizeof ready[0], &n);
    for (size_t i = 0; i < n; i++) weft_waker_wake(&ready[i]);
    return n + timers_fire_all(rt);
}

static uint64_t timeout_until(uint64_t deadline)
{
    if (deadline == UINT64_MAX) return UINT64_MAX;
    uint64_t now = clock_now_ns();
    return deadline > now ? deadline - now : 0;
}

/* Parks w until unparked (or, when it drives, until IO, a timer or an unpark).
 * Returns true when w drove and leaves the driver with work woken: the
 * caller then hands the driver to an idle worker (see worker_park_idle). */
static bool worker_park(worker *w)
{
    weft_runtime *rt = w->rt;
    WORKER_STAT_INC(w, STAT_PARKS);
    if (!rt->cfg.reactor_thread &&
        !atomic_exchange_explicit(&rt->driver_busy, 1, memory_order_acquire)) {
        pthread_mutex_lock(&w->park_mu);
        int st = atomic_load_explicit(&w->park_state, memory_order_relaxed);
        if (st == PARK_NOTIFIED) {
            atomic_store_explicit(&w->park_state, PARK_EMPTY, memory_order_relaxed);
            pthread_mutex_unlock(&w->park_mu);
            atomic_store_explicit(&rt->driver_busy, 0, memory_order_release);
            return false;
        }
        atomic_store_explicit(&w->park_state, PARK_DRIVING, memory_order_relaxed);
        pthread_mutex_unlock(&w->park_mu);

        uint64_t deadline = timers_park_begin(rt);
        size_t woke = driver_turn(rt, timeout_until(deadline));
        timers_park_end(rt);
        /* release pairs with the acquire exchange of the next driver */
        atomic_store_explicit(&rt->driver_busy, 0, memory_order_release);

        pthread_mutex_lock(&w->park_mu);
        atomic_store_explicit(&w->park_state, PARK_EMPTY, memory_order_relaxed);
        pthread_mutex_unlock(&w->park_mu);
        return woke > 0;
    }
    pthread_mutex_lock(&w->park_mu);
    if (atomic_load_explicit(&w->park_state, memory_order_relaxed) != PARK_NOTIFIED) {
        atomic_store_explicit(&w->park_state, PARK_PARKED, memory_order_relaxed);
        while (atomic_load_explicit(&w->park_state, memory_order_relaxed) != PARK_NOTIFIED)
            pthread_cond_wait(&w->park_cv, &w->park_mu);
    }
    atomic_store_explicit(&w->park_state, PARK_EMPTY, memory_order_relaxed);
    pthread_mutex_unlock(&w->park_mu);
    return false;
}

/* ---- the idle protocol -------------------------------------------------------------- */

static void idle_push(worker *w)
{
    weft_runtime *rt = w->rt;
    spinlock_lock(&rt->idle_lock);
    rt->idle_stack[rt->idle_top++] = w->index;
    w->in_idle = true;
    /* seq_cst: the store half of the Dekker pattern (see the essay) */
    atomic_fetch_add_explicit(&rt->num_idle, 1, memory_order_seq_cst);
    spinlock_unlock(&rt->idle_lock);
}

/* Removes w from the idle stack if it is still there. Returns true if it was
 * (nobody unparked it); false if a notifier popped it (it is now searching). */
static bool idle_remove_self(worker *w)
{
    weft_runtime *rt = w->rt;
    bool was = false;
    spinlock_lock(&rt->idle_lock);
    if (w->in_idle) {
        for (int i = 0; i < rt->idle_top; i++)
            if (rt->idle_stack[i] == w->index) {
                rt->idle_stack[i] = rt->idle_stack[--rt->idle_top];
                break;
            }
        w->in_idle = false;
        atomic_fetch_sub_explicit(&rt->num_idle, 1, memory_order_seq_cst);
        was = true;
    }
    spinlock_unlock(&rt->idle_lock);
    return was;
}

/* Pops one idle worker (preferring `node`), counts it as searching, unparks
 * it. Never the calling worker: a driver is on the idle stack while it
 * drives, and the tasks it wakes must wake somebody else. */
static void idle_wake_one(weft_runtime *rt, int node)
{
    worker *target = NULL, *self = tls_worker;
    int skip = self && self->rt == rt ? self->index : -1;
    spinlock_lock(&rt->idle_lock);
    int pick = -1;
    for (int i = rt->idle_top - 1; i >= 0; i--) { /* most recently idle first: warmest caches */
        int wi = rt->idle_stack[i];
        if (wi == skip) continue;
        if (pick < 0) pick = i;
        if (node < 0 || rt->workers[wi].node == node) {
            pick = i;
            break;
        }
    }
    if (pick >= 0) {
        target = &rt->workers[rt->idle_stack[pick]];
        rt->idle_stack[pick] = rt->idle_stack[--rt->idle_top];
        target->in_idle = false;
        atomic_fetch_sub_explicit(&rt->num_idle, 1, memory_order_seq_cst);
        atomic_fetch_add_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    }
    spinlock_unlock(&rt->idle_lock);
    if (target) worker_unpark(target);
}

void rt_notify_parked(weft_runtime *rt, int node)
{
    /* seq_cst fence: the load half of the Dekker pattern; pairs with the
     * fence in worker_park_idle after idle_push */
    SEQ_CST_FENCE();
    if (atomic_load_explicit(&rt->num_searching, memory_order_seq_cst) != 0) return;
    if (atomic_load_explicit(&rt->num_idle, memory_order_seq_cst) == 0) return;
    if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed)) return;
    idle_wake_one(rt, node);
}

static bool worker_start_searching(worker *w)
{
    if (w->searching) return true;
    weft_runtime *rt = w->rt;
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

static inline void stamp_wake(weft_runtime *rt, task *t)
{
    if (rt->cfg.sched_latency) t->wake_ns = clock_now_ns();
}

void rt_schedule(task *t, sched_hint hint)
{
    weft_runtime *rt = t->rt;
    worker *w = tls_worker;
    stamp_wake(rt, t);
    if (w && w->rt == rt) {
        if (hint == SCHED_WAKE) WORKER_STAT_INC(w, STAT_LOCAL_WAKES);
        if (rt->ops->push_local(rt->policy, w, t, hint)) {
            /* fast path without the fence: see the essay */
            if (atomic_load_explicit(&rt->num_idle, memory_order_relaxed) != 0 &&
                atomic_load_explicit(&rt->num_searching, memory_order_relaxed) == 0)
                rt_notify_parked(rt, w->node);
        }
    } else {
        if (hint == SCHED_WAKE) external_stat_inc(rt, STAT_REMOTE_WAKES);
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

static void task_cancel_running(task *t)
{
    if (t->type->drop) t->type->drop(task_state_ptr(t));
    task_complete(t, true);
}

/* Puts a task that stays runnable after its poll behind the ready work. */
static void requeue(worker *w, task *t)
{
    weft_runtime *rt = w->rt;
    stamp_wake(rt, t);
    if (rt->ops->push_local(rt->policy, w, t, SCHED_YIELD) &&
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
        task_cancel_running(t);
        return;
    }
    weft_context cx = {task_waker_borrowed(t), rt, t, rt->cfg.budget, 0};
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
        task_cancel_running(t);
        break;
    }
}

/* ---- the worker loop -------------------------------------------------------------------- */

static void maintenance(worker *w)
{
    weft_runtime *rt = w->rt;
    if (rt->cfg.reactor_thread) return;
    if (atomic_load_explicit(&rt->driver_busy, memory_order_relaxed)) return;
    if (atomic_exchange_explicit(&rt->driver_busy, 1, memory_order_acquire)) return;
    /* Without registrations the non-blocking epoll call can find nothing,
     * and it cost a syscall every global_interval polls (about 3 ns of a
     * 19 ns yield on fifo); the timers still fire. Without armed timers the
     * clock read and the driver lock are skipped too (about 0.5 ns of a
     * 7.5 ns yield). */
    if (reactor_has_registrations(rt->reactor)) driver_turn(rt, 0);
    else timers_fire_all(rt);
    atomic_store_explicit(&rt->driver_busy, 0, memory_order_release);
}

static bool loop_should_stop(worker *w, _Atomic int *until)
{
    if (until && atomic_load_explicit(until, memory_order_acquire)) return true;
    return atomic_load_explicit(&w->rt->shutdown, memory_order_acquire) != 0;
}

/* Parks w unless work appears; returns when it should look for work again. */
static void worker_park_idle(worker *w, _Atomic int *until)
{
    weft_runtime *rt = w->rt;
    if (w->searching) {
        w->searching = false;
        atomic_fetch_sub_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    }
    owned_reap(rt, (uint32_t)w->index); /* do not hold completed tasks while asleep */
    idle_push(w);
    /* seq_cst fence: pairs with rt_notify_parked's fence (Dekker) */
    SEQ_CST_FENCE();
    /* Re-check only while nobody searches. A searcher is responsible for
     * the work it may find: it either takes it, or, parking as the last
     * searcher, comes through here with num_searching == 0 and re-checks;
     * and a searcher that finds work wakes the next worker (chain wake-up).
     * Re-checking while someone else searches turned the worker into a
     * spinner whenever the searcher's own deque was busy (it could not
     * search past the cap, and has_work stayed true). */
    if ((atomic_load_explicit(&rt->num_searching, memory_order_seq_cst) == 0 &&
         rt->ops->has_work(rt->policy)) ||
        loop_should_stop(w, until)) {
        if (!idle_remove_self(w)) w->searching = true; /* a notifier counted us searching */
        return;
    }
    bool handoff = worker_park(w);
    if (idle_remove_self(w)) {
        /* nobody unparked us: the driver returned (IO, timer) or a spurious wake */
        if (!rt->ops->has_work(rt->policy)) WORKER_STAT_INC(w, STAT_SPURIOUS_UNPARKS);
    } else {
        w->searching = true;
        WORKER_STAT_INC(w, STAT_UNPARKS);
    }
    /* Driver hand-off. w leaves the driver to run what it woke; if other
     * workers sleep on their condition variables and timers are still
     * armed, wake one so it takes the driver when it finds no work.
     * Otherwise a task that blocks w (or simply runs long) would hold every
     * timer of the runtime hostage while idle workers sleep (Go's netpoller
     * hand-off, "wakep"). Costs one unpark per driver exit, only when
     * someone is idle. */
    if (handoff && atomic_load_explicit(&rt->num_idle, memory_order_relaxed) != 0 &&
        timers_any_armed(rt) &&
        !atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
        idle_wake_one(rt, -1);
}

static void worker_loop(worker *w, _Atomic int *until)
{
    weft_runtime *rt = w->rt;
    const sched_ops *ops = rt->ops;
    int spins = 0;
    const uint32_t interval = (uint32_t)rt->cfg.global_interval;
    while (!loop_should_stop(w, until)) {
        w->tick++;
        /* computed once here for the policies (fifo, ws read interval_tick) */
        w->interval_tick = --w->interval_left == 0;
        if (w->interval_tick) {
            w->interval_left = interval;
            maintenance(w);
        }
        task *t = ops->next(rt->policy, w);
        if (!t && ops->steal && worker_start_searching(w)) t = ops->steal(rt->policy, w);
        if (t) {
            if (w->searching) worker_stop_searching(w);
            spins = 0;
            run_task(w, t);
            continue;
        }
        if (spins < rt->cfg.spin_before_park) {
            spins++;
            cpu_relax();
            continue;
        }
        spins = 0;
        worker_park_idle(w, until);
    }
    if (w->searching) {
        w->searching = false;
        atomic_fetch_sub_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    weft_runtime *rt = w->rt;
    tls_worker = w;
    if (rt->topo) {
        char err[256];
        topo_bind_current_thread(rt->topo, rt->placement, w->index, err, sizeof err);
    }
    /* release: publishes this worker's binding result to describe_placement */
    atomic_fetch_add_explicit(&rt->workers_started, 1, memory_order_release);
    worker_loop(w, NULL);
    tls_worker = NULL;
    return NULL;
}

static void *driver_main(void *arg)
{
    weft_runtime *rt = arg;
    while (!atomic_load_explicit(&rt->shutdown, memory_order_acquire)) {
        uint64_t deadline = timers_park_begin(rt);
        driver_turn(rt, timeout_until(deadline));
        timers_park_end(rt);
    }
    return NULL;
}

/* ---- accessors the timer and reactor modules use ---------------------------------------- */

struct timer_driver *weft_runtime_timers(weft_runtime *rt)
{
    if (!rt || !rt->timers) return NULL;
    worker *w = tls_worker;
    if (rt->ntimers > 1 && w && w->rt == rt) return &rt->timers[w->index % rt->ntimers];
    return &rt->timers[0];
}

bool weft_runtime_owns_timers(weft_runtime *rt, const struct timer_driver *td)
{
    return rt && rt->timers && td >= rt->timers && td < rt->timers + rt->ntimers;
}

size_t weft_runtime_timers_armed(weft_runtime *rt)
{
    size_t n = 0;
    if (rt && rt->timers)
        for (int i = 0; i < rt->ntimers; i++) n += timer_driver_count(&rt->timers[i]);
    return n;
}
struct reactor *weft_runtime_reactor(weft_runtime *rt) { return rt ? rt->reactor : NULL; }

static void timers_notify(void *ctx)
{
    weft_runtime *rt = ctx;
    reactor_wake(rt->reactor); /* the driver sleeps in the reactor: shorten its timeout */
}

/* ---- runtime lifecycle ------------------------------------------------------------------ */

static int copy_strings(weft_runtime *rt)
{
    const char *s[3] = {rt->cfg.scheduler, rt->cfg.topology, rt->cfg.pin};
    size_t need = 0;
    for (int i = 0; i < 3; i++) need += (s[i] ? strlen(s[i]) : 0) + 1;
    rt->cfg_strings = malloc(need);
    if (!rt->cfg_strings) return -ENOMEM;
    char *p = rt->cfg_strings;
    const char **dst[3] = {&rt->cfg.scheduler, &rt->cfg.topology, &rt->cfg.pin};
    for (int i = 0; i < 3; i++) {
        if (!s[i]) continue;
        size_t n = strlen(s[i]) + 1;
        memcpy(p, s[i], n);
        *dst[i] = p;
        p += n;
    }
    return 0;
}

static void runtime_destroy(weft_runtime *rt);

int weft_runtime_new(const weft_config *cfg_in, weft_runtime **out)
{
    if (!out) return rt_fail(-EINVAL, "weft_runtime_new: NULL output pointer");
    *out = NULL;
    weft_config defaults;
    if (!cfg_in) {
        weft_config_default(&defaults);
        cfg_in = &defaults;
    }
    int rc = weft_config_validate(cfg_in);
    if (rc < 0) return rc;
    weft_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return rt_fail(-ENOMEM, "weft_runtime_new: out of memory");
    rt->cfg = *cfg_in;
    if (copy_strings(rt) < 0) {
        free(rt);
        return rt_fail(-ENOMEM, "weft_runtime_new: out of memory");
    }
    rt->ops = sched_find(rt->cfg.scheduler);
    rt->nworkers = rt->cfg.workers;
    rt->max_searching = rt->cfg.max_searching ? rt->cfg.max_searching
                                              : (rt->nworkers + 1) / 2;
    spinlock_init(&rt->idle_lock);
    rt->idle_stack = calloc((size_t)rt->nworkers, sizeof(int));
    rt->workers = aligned_alloc(CACHE_LINE, sizeof(worker) * (size_t)rt->nworkers);
    rt->owned = aligned_alloc(CACHE_LINE, sizeof(owned_shard) * (size_t)(rt->nworkers + 1));
    if (!rt->idle_stack || !rt->workers || !rt->owned) {
        runtime_destroy(rt);
        return rt_fail(-ENOMEM, "weft_runtime_new: out of memory");
    }
    memset(rt->workers, 0, sizeof(worker) * (size_t)rt->nworkers);
    for (int i = 0; i <= rt->nworkers; i++) {
        spinlock_init(&rt->owned[i].lock);
        rt->owned[i].head = NULL;
        atomic_init(&rt->owned[i].reap, NULL);
    }
    for (int i = 0; i < rt->nworkers; i++) {
        worker *w = &rt->workers[i];
        w->rt = rt;
        w->index = i;
        w->rng = 0x9e3779b9u * (uint32_t)(i + 1);
        w->interval_left = (uint32_t)rt->cfg.global_interval;
        atomic_init(&w->park_state, PARK_EMPTY);
        pthread_mutex_init(&w->park_mu, NULL);
        pthread_cond_init(&w->park_cv, NULL);
        if (rt->cfg.sched_latency) {
            w->latency_hist = malloc(sizeof(hist));
            if (!w->latency_hist || hist_init(w->latency_hist, 1, 3600ull * 1000000000ull, 3) < 0) {
                free(w->latency_hist);
                w->latency_hist = NULL;
                runtime_destroy(rt);
                return rt_fail(-ENOMEM, "weft_runtime_new: out of memory");
            }
        }
    }

    /* topology and placement */
    char err[512];
    bool want_topo = rt->ops != sched_find("fifo") || (rt->cfg.pin && strcmp(rt->cfg.pin, "none")) ||
                     (rt->cfg.topology && *rt->cfg.topology);
    if (want_topo) {
        topo_pin pin;
        if ((rc = topo_pin_parse(rt->cfg.pin ? rt->cfg.pin : "none", &pin, err, sizeof err)) < 0 ||
            (rc = topo_open(&rt->topo, rt->cfg.topology ? rt->cfg.topology : "", err, sizeof err)) < 0) {
            runtime_destroy(rt);
            return rt_fail(rc, "%s", err);
        }
        rt->placement = calloc(1, sizeof(topo_placement));
        if (!rt->placement) { runtime_destroy(rt); return rt_fail(-ENOMEM, "out of memory"); }
        if ((rc = topo_place_workers(rt->topo, rt->nworkers, pin, rt->placement, err, sizeof err)) < 0) {
            runtime_destroy(rt);
            return rt_fail(rc, "%s", err);
        }
        for (int i = 0; i < rt->nworkers; i++)
            rt->workers[i].node = ((topo_placement *)rt->placement)->slot[i].node;
    } else {
        snprintf(rt->placement_desc, sizeof rt->placement_desc,
                 "worker 0 -> the thread inside weft_block_on (unpinned, node 0)\n");
    }

    int shards = rt->cfg.timer_shards == 0 || rt->cfg.timer_shards > rt->nworkers ? rt->nworkers
                                                                                  : rt->cfg.timer_shards;
    rt->timers = calloc((size_t)shards, sizeof(timer_driver));
    if (!rt->timers) {
        runtime_destroy(rt);
        return rt_fail(-ENOMEM, "weft_runtime_new: cannot create the timer driver");
    }
    for (; rt->ntimers < shards; rt->ntimers++)
        if (timer_driver_init(&rt->timers[rt->ntimers], (uint64_t)rt->cfg.timer_tick_us * 1000u,
                              NULL, NULL, timers_notify, rt) < 0) {
            runtime_destroy(rt);
            return rt_fail(-ENOMEM, "weft_runtime_new: cannot create the timer driver");
        }
    if ((rc = reactor_new(&rt->reactor, rt->cfg.reactor_events)) < 0) {
        runtime_destroy(rt);
        return rt_fail(rc, "weft_runtime_new: cannot create the reactor: %s", strerror(-rc));
    }
    if ((rc = blocking_pool_new(rt, &rt->blocking)) < 0) {
        runtime_destroy(rt);
        return rt_fail(rc, "weft_runtime_new: cannot create the blocking pool");
    }
    if ((rc = rt->ops->create(rt, &rt->policy, err, sizeof err)) < 0) {
        const char *name = rt->ops->name; /* static: outlives rt */
        rt->policy = NULL;
        runtime_destroy(rt);
        return rt_fail(rc, "scheduler %s: %s", name, err);
    }
    if (!rt->ops->runs_on_caller) {
        for (int i = 0; i < rt->nworkers; i++) {
            if ((rc = pthread_create(&rt->workers[i].thread, NULL, worker_main, &rt->workers[i]))) {
                runtime_destroy(rt);
                return rt_fail(-rc, "weft_runtime_new: cannot start worker %d: %s", i, strerror(rc));
            }
            rt->workers[i].thread_started = true;
        }
        /* wait until every worker has bound itself, so the placement can be
         * described (and a failed binding is known) when new() returns */
        while (atomic_load_explicit(&rt->workers_started, memory_order_acquire) < rt->nworkers)
            sched_yield();
    }
    if (rt->cfg.reactor_thread) {
        if ((rc = pthread_create(&rt->driver_thread, NULL, driver_main, rt))) {
            runtime_destroy(rt);
            return rt_fail(-rc, "weft_runtime_new: cannot start the driver thread: %s", strerror(rc));
        }
        rt->driver_thread_started = true;
    }
    *out = rt;
    return 0;
}

/* Aborts one task found on the owned list so the drain below drops it. */
static bool shutdown_abort_one(weft_runtime *rt)
{
    for (int s = 0; s <= rt->nworkers; s++) {
        owned_shard *sh = &rt->owned[s];
        spinlock_lock(&sh->lock);
        task *t = sh->head;
        if (t) atomic_fetch_add_explicit(&t->state, TASK_REF_ONE, memory_order_relaxed);
        spinlock_unlock(&sh->lock);
        if (!t) continue;
        weft_join_handle h = {t};
        weft_join_abort(&h); /* queues it unless queued or running (nothing runs now) */
        task_drop_reference(t);
        return true;
    }
    return false;
}

static void shutdown_drain(weft_runtime *rt)
{
    for (;;) {
        task *t;
        while ((t = rt->ops->drain(rt->policy))) {
            (void)task_begin_poll(t); /* cancelled or not, it is dropped */
            task_cancel_running(t);
        }
        /* every worker is joined: this thread may reap every shard */
        for (int s = 0; s < rt->nworkers; s++) owned_reap(rt, (uint32_t)s);
        if (!shutdown_abort_one(rt)) break;
    }
}

static void runtime_destroy(weft_runtime *rt)
{
    atomic_store_explicit(&rt->shutdown, 1, memory_order_release);
    if (rt->workers)
        for (int i = 0; i < rt->nworkers; i++)
            if (rt->workers[i].thread_started) worker_unpark(&rt->workers[i]);
    if (rt->reactor) reactor_wake(rt->reactor);
    if (rt->workers)
        for (int i = 0; i < rt->nworkers; i++)
            if (rt->workers[i].thread_started) pthread_join(rt->workers[i].thread, NULL);
    if (rt->driver_thread_started) {
        reactor_wake(rt->reactor);
        pthread_join(rt->driver_thread, NULL);
    }
    if (rt->blocking) blocking_pool_free(rt->blocking); /* waits for running jobs, cancels queued */
    rt->blocking = NULL;
    if (rt->policy) shutdown_drain(rt);
    /* an outside thread may still be inside rt_schedule for a task that
     * has completed (see rt_schedule); acquire pairs with its release dec */
    while (atomic_load_explicit(&rt->outside_inflight, memory_order_acquire) != 0) sched_yield();
    if (rt->timers) {
        for (int i = 0; i < rt->ntimers; i++) timer_driver_destroy(&rt->timers[i]);
        free(rt->timers);
    }
    if (rt->reactor) reactor_free(rt->reactor);
    if (rt->policy) rt->ops->destroy(rt->policy);
    if (rt->workers)
        for (int i = 0; i < rt->nworkers; i++) {
            pthread_mutex_destroy(&rt->workers[i].park_mu);
            pthread_cond_destroy(&rt->workers[i].park_cv);
            if (rt->workers[i].latency_hist) {
                hist_destroy(rt->workers[i].latency_hist);
                free(rt->workers[i].latency_hist);
            }
        }
    if (rt->topo) topo_close(rt->topo);
    if (rt->placement) topo_placement_free(rt->placement);
    free(rt->placement);
    free(rt->workers);
    free(rt->owned);
    free(rt->idle_stack);
    free(rt->cfg_strings);
    free(rt);
}

void weft_runtime_free(weft_runtime *rt)
{
    if (!rt) return;
    runtime_destroy(rt);
}

int weft_runtime_describe_placement(weft_runtime *rt, char *buf, size_t len)
{
    if (!rt || !buf) return rt_fail(-EINVAL, "weft_runtime_describe_placement: NULL argument");
    if (rt->topo && rt->placement) {
        /* acquire pairs with each worker's release after binding */
        if (atomic_load_explicit(&rt->workers_started, memory_order_acquire) < rt->nworkers &&
            !rt->ops->runs_on_caller)
            return rt_fail(-EAGAIN, "weft_runtime_describe_placement: workers still starting");
        int rc = topo_describe(rt->topo, rt->placement, buf, len);
        return rc < 0 ? rc : (int)strlen(buf);
    }
    return snprintf(buf, len, "%s", rt->placement_desc);
}

int weft_runtime_sched_latency(weft_runtime *rt, uint64_t *p50, uint64_t *p99, uint64_t *max,
                               uint64_t *count)
{
    if (!rt) return rt_fail(-EINVAL, "weft_runtime_sched_latency: NULL runtime");
    if (!rt->cfg.sched_latency)
        return rt_fail(-ENOTSUP, "schedule latency is off: set the knob sched_latency=1");
    hist all;
    if (hist_init(&all, 1, 3600ull * 1000000000ull, 3) < 0) return -ENOMEM;
    for (int i = 0; i < rt->nworkers; i++) hist_merge(&all, rt->workers[i].latency_hist);
    if (p50) *p50 = hist_percentile(&all, 50.0);
    if (p99) *p99 = hist_percentile(&all, 99.0);
    if (max) *max = hist_max(&all);
    if (count) *count = hist_count(&all);
    hist_destroy(&all);
    return 0;
}

/* ---- spawn -------------------------------------------------------------------------- */

static task *task_new(weft_runtime *rt, const weft_future_type *type, const void *init,
                      uint64_t extra_flags, int refs)
{
    size_t state = (type->state_size + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1);
    size_t size = TASK_HEADER_SIZE + state + type->output_size;
    task *t = rt_task_alloc(rt, size);
    if (!t) return NULL;
    atomic_init(&t->state, TASK_NOTIFIED | extra_flags | ((uint64_t)refs << TASK_REF_SHIFT));
    t->type = type;
    t->rt = rt;
    t->next = NULL;
    t->join_waker = WEFT_WAKER_NONE;
    t->join_waker_set = 0;
    t->cancelled = 0;
    t->is_blocking = 0;
    t->carried = 0;
    t->output_off = TASK_HEADER_SIZE + state;
    if (type->state_size) {
        if (init) memcpy(task_state_ptr(t), init, type->state_size);
        else memset(task_state_ptr(t), 0, type->state_size);
    }
    return t;
}

void owned_insert(weft_runtime *rt, task *t, uint32_t shard);

int weft_spawn(weft_runtime *rt, const weft_future_type *type, const void *init,
               weft_join_handle *handle)
{
    if (handle) handle->task = NULL;
    if (!rt) return rt_fail(-EINVAL, "weft_spawn: NULL runtime");
    if (!type || !type->poll) return rt_fail(-EINVAL, "weft_spawn: NULL future type or poll function");
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire))
        return rt_fail(-ESHUTDOWN, "weft_spawn: the runtime is shutting down");
    /* owned list + queue (+ join handle) */
    task *t = task_new(rt, type, init, handle ? TASK_JOIN_INTEREST : 0, handle ? 3 : 2);
    if (!t) return rt_fail(-ENOMEM, "weft_spawn: out of memory");
    worker *w = tls_worker;
    bool local = w && w->rt == rt;
    owned_insert(rt, t, local ? (uint32_t)w->index : (uint32_t)rt->nworkers);
    if (handle) handle->task = t;
    if (local) WORKER_STAT_INC(w, STAT_SPAWNS);
    else external_stat_inc(rt, STAT_SPAWNS);
    rt_schedule(t, SCHED_SPAWN);
    return 0;
}

/* ---- blocking jobs ------------------------------------------------------------------ */

typedef struct blocking_state {
    weft_blocking_fn fn;
    void *arg;
    weft_blocking_drop_fn arg_drop; /* may be NULL; run once by blocking_drop */
} blocking_state;

static weft_poll blocking_poll(void *st, weft_context *cx, void *out)
{
    blocking_state *b = st;
    *(void **)out = b->fn(b->arg);
    return WEFT_READY;
}
/* The job's argument belongs to the job: released exactly once, after fn
 * returned or instead of running it (cancelled while queued, by abort or
 * shutdown, or a failed submit). */
static void blocking_drop(void *st)
{
    blocking_state *b = st;
    if (b->arg_drop) b->arg_drop(b->arg);
}
static const weft_future_type blocking_type = {"blocking", blocking_poll, blocking_drop,
                                               sizeof(blocking_state), sizeof(void *)};

void blocking_run_task(task *t)
{
    if (!task_transition_to_running(t)) {
        blocking_drop(task_state_ptr(t));
        task_complete(t, true);
        return;
    }
    weft_context cx = {WEFT_WAKER_NONE, t->rt, t, -1, 0};
    t->type->poll(task_state_ptr(t), &cx, task_output_ptr(t));
    blocking_drop(task_state_ptr(t));
    task_complete(t, false);
}

void blocking_cancel_queued(task *t)
{
    (void)task_transition_to_running(t);
    blocking_drop(task_state_ptr(t));
    task_complete(t, true);
}

int weft_spawn_blocking_ex(weft_runtime *rt, weft_blocking_fn fn, void *arg,
                           weft_blocking_drop_fn arg_drop, weft_join_handle *handle)
{
    if (handle) handle->task = NULL;
    if (!rt || !fn) {
        if (arg_drop) arg_drop(arg);
        return rt_fail(-EINVAL, "weft_spawn_blocking: NULL runtime or function");
    }
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire)) {
        if (arg_drop) arg_drop(arg);
        return rt_fail(-ESHUTDOWN, "weft_spawn_blocking: the runtime is shutting down");
    }
    blocking_state st = {fn, arg, arg_drop};
    task *t = task_new(rt, &blocking_type, &st, handle ? TASK_JOIN_INTEREST : 0, handle ? 2 : 1);
    if (!t) {
        if (arg_drop) arg_drop(arg);
        return rt_fail(-ENOMEM, "weft_spawn_blocking: out of memory");
    }
    t->is_blocking = 1;
    if (handle) handle->task = t;
    int rc = blocking_pool_submit(rt->blocking, t);
    if (rc < 0) {
        if (handle) handle->task = NULL;
        blocking_drop(task_state_ptr(t));
        rt_task_free(t);
        return rt_fail(rc, "weft_spawn_blocking: cannot start a pool thread: %s", strerror(-rc));
    }
    return 0;
}

int weft_spawn_blocking(weft_runtime *rt, weft_blocking_fn fn, void *arg, weft_join_handle *handle)
{
    return weft_spawn_blocking_ex(rt, fn, arg, NULL, handle);
}

/* ---- block_on ----------------------------------------------------------------------- */

typedef struct until_flag {
    _Atomic int done;
} until_flag;

static weft_waker uf_clone(const void *d);
static void uf_wake_by_ref(const void *d)
{
    /* release pairs with loop_should_stop's acquire */
    atomic_store_explicit(&((until_flag *)d)->done, 1, memory_order_release);
}
static void uf_noop(const void *d) { (void)d; }
static const weft_waker_vtable until_vtable = {uf_clone, uf_wake_by_ref, uf_wake_by_ref, uf_noop};
static weft_waker uf_clone(const void *d) { return (weft_waker){&until_vtable, d}; }

int weft_block_on(weft_runtime *rt, const weft_future_type *type, const void *init, void *out)
{
    if (!rt) return rt_fail(-EINVAL, "weft_block_on: NULL runtime");
    if (!type || !type->poll) return rt_fail(-EINVAL, "weft_block_on: NULL future type or poll function");
    worker *cur = tls_worker;
    if (cur && cur->rt == rt)
        return rt_fail(-EDEADLK, "weft_block_on: called from inside the runtime it would block on; "
                                 "spawn the future and await its join handle instead");
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire))
        return rt_fail(-ESHUTDOWN, "weft_block_on: the runtime is shutting down");
    if (!rt->ops->runs_on_caller) {
        weft_join_handle h;
        int rc = weft_spawn(rt, type, init, &h);
        if (rc < 0) return rc;
        return weft_join_wait(&h, out);
    }
    if (atomic_exchange_explicit(&rt->block_on_active, 1, memory_order_acquire))
        return rt_fail(-EBUSY, "weft_block_on: another thread is inside weft_block_on on this "
                               "'%s' runtime, which has one worker", rt->ops->name);
    if (cur) {
        atomic_store_explicit(&rt->block_on_active, 0, memory_order_release);
        return rt_fail(-EDEADLK, "weft_block_on: this thread is a worker of another runtime");
    }
    weft_join_handle h;
    int rc = weft_spawn(rt, type, init, &h);
    if (rc < 0) {
        atomic_store_explicit(&rt->block_on_active, 0, memory_order_release);
        return rc;
    }
    until_flag uf;
    atomic_init(&uf.done, 0);
    weft_context ucx = {{&until_vtable, &uf}, rt, NULL, -1, 0};
    int result = 0;
    worker *w = &rt->workers[0];
    tls_worker = w;
    if (weft_join_poll(&h, &ucx, out, &result) == WEFT_PENDING) {
        worker_loop(w, &uf.done);
        if (weft_join_poll(&h, &ucx, out, &result) == WEFT_PENDING) {
            /* the loop stopped for shutdown */
            weft_join_detach(&h);
            result = rt_fail(-ESHUTDOWN, "weft_block_on: the runtime shut down before the future completed");
        }
    }
    tls_worker = NULL;
    atomic_store_explicit(&rt->block_on_active, 0, memory_order_release);
    return result;
}

/* ---- the default runtime ----------------------------------------------------------------- */

static pthread_mutex_t default_mu = PTHREAD_MUTEX_INITIALIZER;
static weft_runtime *default_rt;
static bool default_atexit;

weft_runtime *weft_default_runtime(void)
{
    pthread_mutex_lock(&default_mu);
    if (!default_rt) {
        weft_config cfg;
        weft_config_default(&cfg);
        if (weft_config_from_env(&cfg) == 0 && weft_runtime_new(&cfg, &default_rt) == 0 &&
            !default_atexit) {
            atexit(weft_default_shutdown);
            default_atexit = true;
        }
    }
    weft_runtime *rt = default_rt;
    pthread_mutex_unlock(&default_mu);
    return rt;
}

void weft_default_shutdown(void)
{
    pthread_mutex_lock(&default_mu);
    weft_runtime *rt = default_rt;
    default_rt = NULL;
    pthread_mutex_unlock(&default_mu);
    weft_runtime_free(rt);
}

int weft_run(const weft_future_type *type, const void *init, void *out)
{
    weft_runtime *rt = weft_default_runtime();
    if (!rt) return -EINVAL; /* weft_last_error() says why */
    return weft_block_on(rt, type, init, out);
}

int weft_spawn_default(const weft_future_type *type, const void *init, weft_join_handle *handle)
{
    weft_runtime *rt = weft_default_runtime();
    if (!rt) return -EINVAL;
    return weft_spawn(rt, type, init, handle);
}

int weft_main_run(const weft_future_type *type, void *init, size_t argc_off, size_t argv_off,
                  int argc, char **argv)
{
    weft_config cfg;
    weft_config_default(&cfg);
    weft_runtime *rt = NULL;
    int rc = weft_config_from_env(&cfg);
    if (rc == 0) rc = weft_runtime_new(&cfg, &rt);
    if (rc < 0) {
        fprintf(stderr, "%s: cannot start the weft runtime: %s\n", argc > 0 ? argv[0] : "weft",
                weft_last_error());
        return 2;
    }
    memcpy((char *)init + argc_off, &argc, sizeof argc);
    memcpy((char *)init + argv_off, &argv, sizeof argv);
    int code = 0;
    rc = weft_block_on(rt, type, init, &code);
    weft_runtime_free(rt);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", argc > 0 ? argv[0] : "weft", weft_last_error());
        return 1;
    }
    return code;
}
