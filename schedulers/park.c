/*
 * schedulers/park.c - idling: the idle stack, parking a worker, waking one,
 * and the driver hand-off, without lost wake-ups.
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
 */
#include <pthread.h>
#include <stdatomic.h>

#include "common/atomics.h"
#include "common/spinlock.h"
#include "reactor/reactor.h"
#include "schedulers/runtime_internal.h"
#include "schedulers/sched.h"

/* ---- parking -------------------------------------------------------------------- */

void rt_worker_unpark(worker *w)
{
    pthread_mutex_lock(&w->park_mu);
    /* park_state is read and written under park_mu everywhere (the mutex
     * orders it; relaxed would do); acq_rel keeps the permit's hand-over
     * explicit should a lock-free fast path ever read it */
    int prev = atomic_exchange_explicit(&w->park_state, PARK_NOTIFIED, memory_order_acq_rel);
    if (prev == PARK_PARKED) pthread_cond_signal(&w->park_cv);
    pthread_mutex_unlock(&w->park_mu);
    if (prev == PARK_DRIVING) reactor_wake(w->rt->reactor);
}

/* Parks w until unparked (or, when it drives, until IO, a timer or an unpark).
 * Returns true when w drove and leaves the driver with work woken: the
 * caller then hands the driver to an idle worker (see rt_worker_park_idle). */
static bool worker_park(worker *w)
{
    weft_runtime *rt = w->rt;
    WORKER_STAT_INC(w, STAT_PARKS);
    if (!rt->cfg.reactor_thread &&
        /* with the core hand-off, a worker with nothing to drive sleeps on
         * its condition variable, where a block_on caller can take its core
         * (see the essay) */
        !(rt->handoff && rt->nworkers == 1 && !rt_timers_any_armed(rt) &&
          !reactor_has_registrations(rt->reactor)) &&
        /* acquire pairs with the release store that ended the previous
         * driver's turn (below, rt_maintenance): its reactor and timer
         * state is ours now */
        !atomic_exchange_explicit(&rt->driver_busy, 1, memory_order_acquire)) {
        pthread_mutex_lock(&w->park_mu);
        int st = atomic_load_explicit(&w->park_state, memory_order_relaxed); /* under park_mu */
        if (st == PARK_NOTIFIED) {
            atomic_store_explicit(&w->park_state, PARK_EMPTY, memory_order_relaxed);
            pthread_mutex_unlock(&w->park_mu);
            atomic_store_explicit(&rt->driver_busy, 0, memory_order_release);
            return false;
        }
        atomic_store_explicit(&w->park_state, PARK_DRIVING, memory_order_relaxed);
        pthread_mutex_unlock(&w->park_mu);

        uint64_t deadline = rt_timers_park_begin(rt);
        size_t woke = rt_driver_turn(rt, rt_timeout_until(deadline));
        rt_timers_park_end(rt);
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
        /* a lent core (rt_core_take) keeps the thread here whatever the
         * permit says: the caller is w until rt_core_give_back */
        while (atomic_load_explicit(&w->park_state, memory_order_relaxed) != PARK_NOTIFIED ||
               w->core_lent)
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
    worker *target = NULL, *self = rt_tls_worker;
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
    if (target) rt_worker_unpark(target);
}

void rt_notify_parked(weft_runtime *rt, int node)
{
    /* seq_cst fence: the load half of the Dekker pattern; pairs with the
     * fence in rt_worker_park_idle after idle_push */
    SEQ_CST_FENCE();
    rt_notify_parked_after_sc_push(rt, node);
}

/* rt_notify_parked without the fence, for a pusher whose push was a seq_cst
 * read-modify-write of the word has_work reads (fifo's mpscq_push, from
 * rt_schedule). That RMW stands in for the fence: if the parker's fence
 * follows it in the single total order S, the parker's re-check (sequenced
 * after its fence) reads the push or a later value (C11 7.17.3p10); if the
 * parker's fence comes first, its num_idle increment precedes our seq_cst
 * loads in S and they read it. Either the worker sees the task or we see the
 * worker. Under TSan the fence stays: TSan does not model seq_cst order, and
 * its SEQ_CST_FENCE is the shared-word RMW the parker's side pairs with. */
void rt_notify_parked_after_sc_push(weft_runtime *rt, int node)
{
#if defined(WEFT_TSAN)
    SEQ_CST_FENCE();
#endif
    if (atomic_load_explicit(&rt->num_searching, memory_order_seq_cst) != 0) return;
    if (atomic_load_explicit(&rt->num_idle, memory_order_seq_cst) == 0) return;
    if (atomic_load_explicit(&rt->shutdown, memory_order_relaxed)) return;
    idle_wake_one(rt, node);
}
/* Parks w unless work appears; returns when it should look for work again. */
void rt_worker_park_idle(worker *w, _Atomic int *until)
{
    weft_runtime *rt = w->rt;
    if (w->searching) {
        w->searching = false;
        atomic_fetch_sub_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    }
    owned_reap(rt, (uint32_t)w->index); /* do not hold completed tasks while asleep */
    rt_task_cache_trim_idle(w);         /* nor much free task memory */
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
        rt_loop_should_stop(w, until)) {
        /* Either a notifier counted us searching, or we count ourselves
         * (Go's findrunnable re-acquires "spinning" when its last check
         * finds work). The recheck ran because nobody searched, so pushers
         * of the work it found may have relied on a searcher that has since
         * stopped: as a searcher, taking the task wakes the next worker
         * (worker_stop_searching's chain wake). As a plain worker it woke
         * nobody, and a second task pushed in that window waited behind a
         * busy worker while another slept (tests/test_stress_idle_spin.c). */
        if (idle_remove_self(w)) atomic_fetch_add_explicit(&rt->num_searching, 1, memory_order_seq_cst);
        w->searching = true;
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
        rt_timers_any_armed(rt) &&
        !atomic_load_explicit(&rt->shutdown, memory_order_relaxed))
        idle_wake_one(rt, -1);
}

/* ---- the core hand-off ------------------------------------------------------------------
 *
 * On a one-worker ws/global/numa runtime, weft_block_on used to spawn its
 * root from outside and wait: the spawn unparked the worker's thread (a
 * futex wake, or an eventfd write when it drove the reactor) and the
 * caller spun, then slept, until the root completed. With block_on_handoff
 * (default 1) the caller takes the worker's role instead, as fifo's caller
 * always is its worker and as Tokio's current_thread hands its core to
 * whichever thread is in block_on:
 *
 *  take (rt_core_take): under w->park_mu, if w's thread is PARKED on its
 *    condition variable (not driving, not running) and the core is not
 *    lent, set core_lent. The thread then stays in worker_park whatever
 *    its permit says (its wait loop tests core_lent), so exactly one
 *    thread is w. The caller removes w from the idle stack; if a notifier
 *    popped it first, that notifier counted w searching (and unparks a
 *    thread that keeps waiting), and the caller inherits the count.
 *  run: the caller is w (rt_tls_worker): it spawns the root on w's queue,
 *    runs rt_worker_loop(w, until) and owns w's queues, cache, stats and,
 *    one worker having no lock on its wheels, w's timer wheel. The lent
 *    loop never parks: where it would, it returns, and weft_block_on
 *    gives the core back and waits the old way (rt_block_on_wait) for a
 *    root that waits on IO, a timer or an outside wake.
 *  give back (rt_core_give_back): the caller parks w for its thread
 *    (idle_push, the Dekker fence, the re-check of rt_worker_park_idle),
 *    then, under park_mu, clears core_lent. If w holds private tasks
 *    (sched_ops.has_local: ws's LIFO slot and `later`, global's held task
 *    and batch lists; the lent loop left at its root's completion, not
 *    where a worker parks, so they can be there: test_two_callers hung 1
 *    run in ~30 without this, a second caller's root stranded in global's
 *    private run list), or the re-check finds work
 *    (pushed by an outside thread that saw nobody idle while the core was
 *    lent), a shutdown, armed timers or IO registrations (which need a
 *    driver), it hands the thread a permit and counts it searching, as a
 *    notifier would; otherwise the thread sleeps on, still PARKED, and the
 *    next block_on takes the core again without any wake-up.
 * park_mu orders everything: what the thread did before parking happens
 * before the take (the caller locks the mutex the thread's cond_wait
 * released), and what the caller did as w happens before the thread runs
 * again (the give-back's unlock before the thread's relock). A worker with
 * nothing to drive (no armed timer, no IO registration) sleeps on its
 * condition variable instead of in the reactor (worker_park), so that the
 * core can be taken; a worker that drives cannot lend (block_on then takes
 * the old path). Lost wake-ups: while lent, w is off the idle stack, so a
 * pusher wakes nobody and the lent loop, or the give-back's re-check after
 * its fence, sees the work (the same store-load pair as parking).
 *
 * The caller's thread is not pinned: with pin=compact|scatter, the tasks
 * it runs as w run wherever the caller runs.
 *
 * At any worker count (block_on_handoff=2, the default): onto an idle
 * runtime (no queued work: queued work means awake workers, which the
 * root's spawn need not wake), the caller takes the first worker whose
 * thread sleeps on its condition variable (at most one worker drives, so
 * with two or more one usually does); none asleep, it takes the old path.
 * Where the lent loop would park it first spins as a searcher for the
 * caller's block_on spin (worker.c, worker_lent_spin), which the caller
 * then skips. Everything above holds per worker; what differs is
 * that the others run beside the lent loop: they steal from w's deque and
 * set its `want`, a root stolen or woken elsewhere completes on another
 * thread, and a timer or IO event may be left with no driver while w's
 * thread, the one that could drive, is off the idle stack, so the
 * give-back also wakes it when timers or IO are registered and nobody
 * drives. Saved per block_on: the outside spawn's unpark of a worker and
 * that worker's wake-up latency (the completion's wake of the caller was
 * mostly absorbed by its spin already). This mode was first tried before
 * the has_local hook and taken out after heap corruption about once in
 * 100 runs of test_stress_core_handoff at 2 and 8 workers; the cause, found
 * under ASan when it came back: the lent loop's until flag lived on the
 * caller's stack, and a root completed on another worker's thread is
 * woken after COMPLETE is published (task_complete), when the caller may
 * already have returned. The flag is now counted (spawn.c). */
bool rt_core_take(worker *w)
{
    bool took = false;
    pthread_mutex_lock(&w->park_mu);
    if (!w->core_lent && atomic_load_explicit(&w->park_state, memory_order_relaxed) == PARK_PARKED) {
        w->core_lent = 1;
        w->core_takes++;
        took = true;
    }
    pthread_mutex_unlock(&w->park_mu);
    if (!took) return false;
    rt_tls_worker = w;
    /* still idle: w is no longer (the lent loop is not parked); popped: a
     * notifier counted w searching, and that count is the caller's now */
    if (!idle_remove_self(w)) w->searching = true;
    return true;
}

void rt_core_give_back(worker *w)
{
    weft_runtime *rt = w->rt;
    if (w->searching) { /* the loop stops searching when it ends; a loop never run did not */
        w->searching = false;
        atomic_fetch_sub_explicit(&rt->num_searching, 1, memory_order_seq_cst);
    }
    /* tasks only w sees (a LIFO slot, a held or batched task): the lent
     * loop left at its root's completion, not where a worker parks (its
     * next would have returned them), so w's thread must run them */
    bool local = rt->ops->has_local && rt->ops->has_local(rt->policy, w);
    idle_push(w);
    /* seq_cst fence: pairs with rt_notify_parked's fence (Dekker), as in
     * rt_worker_park_idle */
    SEQ_CST_FENCE();
    bool wake = local ||
                (atomic_load_explicit(&rt->num_searching, memory_order_seq_cst) == 0 &&
                 rt->ops->has_work(rt->policy)) ||
                atomic_load_explicit(&rt->shutdown, memory_order_acquire) ||
                /* timers or IO need a driver: at one worker, w's thread;
                 * at more, w's thread when nobody drives (while lent, w was
                 * off the idle stack, where a leaving driver looks for a
                 * successor) */
                (!rt->cfg.reactor_thread &&
                 (rt->nworkers == 1 || !atomic_load_explicit(&rt->driver_busy, memory_order_relaxed)) &&
                 (rt_timers_any_armed(rt) || reactor_has_registrations(rt->reactor)));
    if (wake) {
        /* as idle_wake_one would; if a notifier popped w first, it counted */
        if (idle_remove_self(w)) atomic_fetch_add_explicit(&rt->num_searching, 1, memory_order_seq_cst);
        w->searching = true;
    }
    rt_tls_worker = NULL;
    pthread_mutex_lock(&w->park_mu);
    w->core_lent = 0;
    if (wake) atomic_store_explicit(&w->park_state, PARK_NOTIFIED, memory_order_relaxed);
    /* a permit set while lent (a notifier, a shutdown) wakes the thread too */
    if (atomic_load_explicit(&w->park_state, memory_order_relaxed) == PARK_NOTIFIED)
        pthread_cond_signal(&w->park_cv);
    pthread_mutex_unlock(&w->park_mu);
}

worker *rt_core_take_any(weft_runtime *rt)
{
    for (int i = 0; i < rt->nworkers; i++)
        if (rt_core_take(&rt->workers[i])) return &rt->workers[i];
    return NULL;
}

uint64_t rt_core_handoffs(weft_runtime *rt)
{
    uint64_t n = 0;
    for (int i = 0; i < rt->nworkers; i++) {
        worker *w = &rt->workers[i];
        pthread_mutex_lock(&w->park_mu);
        n += w->core_takes;
        pthread_mutex_unlock(&w->park_mu);
    }
    return n;
}
