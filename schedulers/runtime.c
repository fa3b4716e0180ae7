/*
 * schedulers/runtime.c - creating and destroying a runtime: configuration,
 * workers, topology and placement, timers, reactor, blocking pool, policy;
 * and shutdown.
 *
 * The runtime core is split by the question each file answers:
 *   worker.c   how a worker runs tasks (the one worker loop, rt_schedule)
 *   park.c     how an idle worker parks and who wakes it
 *   driver.c   who drives the reactor and the timers
 *   runtime.c  how a runtime is made and torn down (this file)
 *   spawn.c    how a task is made: spawn, spawn_blocking, block_on
 *   stats.c    what the runtime reports: counters, latency, build information
 *   default_runtime.c  the process-wide default runtime and WEFT_MAIN
 * Their shared structures and internal calls are in runtime_internal.h.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/histogram.h"
#include "common/topology.h"
#include "reactor/reactor.h"
#include "schedulers/runtime_internal.h"
#include "schedulers/sched.h"
#include "schedulers/task.h"
#include "timers/timer.h"

const weft_config *weft_runtime_config(const weft_runtime *rt) { return rt ? &rt->cfg : NULL; }

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
    if (!out) return err_fail(-EINVAL, "weft_runtime_new: NULL output pointer");
    *out = NULL;
    weft_config defaults;
    if (!cfg_in) {
        weft_config_default(&defaults);
        cfg_in = &defaults;
    }
    int rc = weft_config_validate(cfg_in);
    if (rc < 0) return rc;
    weft_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return err_fail(-ENOMEM, "weft_runtime_new: out of memory");
    rt->cfg = *cfg_in;
    if (copy_strings(rt) < 0) {
        free(rt);
        return err_fail(-ENOMEM, "weft_runtime_new: out of memory");
    }
    rt->ops = sched_find(rt->cfg.scheduler);
    rt->nworkers = rt->cfg.workers;
    rt->max_searching = rt->cfg.max_searching ? rt->cfg.max_searching
                                              : (rt->nworkers + 1) / 2;
    /* the core hand-off (park.c): one worker thread, whose role a
     * weft_block_on caller may take */
    rt->handoff = !rt->ops->runs_on_caller &&
                  (rt->cfg.block_on_handoff == 2 || (rt->cfg.block_on_handoff == 1 && rt->nworkers == 1));
    spinlock_init(&rt->idle_lock);
    pthread_mutex_init(&rt->fault_mu, NULL);
    atomic_init(&rt->fault, 0);
    rt->idle_stack = calloc((size_t)rt->nworkers, sizeof(int));
    rt->workers = aligned_alloc(CACHE_LINE, sizeof(worker) * (size_t)rt->nworkers);
    rt->owned = aligned_alloc(CACHE_LINE, sizeof(owned_shard) * (size_t)(rt->nworkers + 1));
    if (!rt->idle_stack || !rt->workers || !rt->owned) {
        runtime_destroy(rt);
        return err_fail(-ENOMEM, "weft_runtime_new: out of memory");
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
                return err_fail(-ENOMEM, "weft_runtime_new: out of memory");
            }
        }
    }
    rt->workers_ready = true; /* park_mu/park_cv of every worker initialised */

    /* topology and placement */
    char err[512];
    bool want_topo = !rt->ops->runs_on_caller || (rt->cfg.pin && strcmp(rt->cfg.pin, "none")) ||
                     (rt->cfg.topology && *rt->cfg.topology);
    if (want_topo) {
        topo_pin pin;
        if ((rc = topo_pin_parse(rt->cfg.pin ? rt->cfg.pin : "none", &pin, err, sizeof err)) < 0 ||
            (rc = topo_open(&rt->topo, rt->cfg.topology ? rt->cfg.topology : "", err, sizeof err)) < 0) {
            runtime_destroy(rt);
            return err_fail(rc, "%s", err);
        }
        rt->placement = calloc(1, sizeof(topo_placement));
        if (!rt->placement) { runtime_destroy(rt); return err_fail(-ENOMEM, "out of memory"); }
        if ((rc = topo_place_workers(rt->topo, rt->nworkers, pin, rt->placement, err, sizeof err)) < 0) {
            runtime_destroy(rt);
            return err_fail(rc, "%s", err);
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
        return err_fail(-ENOMEM, "weft_runtime_new: cannot create the timer driver");
    }
    for (; rt->ntimers < shards; rt->ntimers++)
        if (timer_driver_init(&rt->timers[rt->ntimers], (uint64_t)rt->cfg.timer_tick_us * 1000u,
                              NULL, NULL, rt_timers_notify, rt) < 0) {
            runtime_destroy(rt);
            return err_fail(-ENOMEM, "weft_runtime_new: cannot create the timer driver");
        }
    /* the hand-off for timers armed while nobody drives (driver.c): only
     * where a parked worker drives and another worker exists to take over */
    for (int i = 0; i < rt->ntimers; i++)
        rt->timers[i].notify_unparked = !rt->cfg.reactor_thread && rt->nworkers > 1;
    /* One worker and no reactor thread: only that worker touches the
     * wheels (futures arm only from a worker's context, the worker drives,
     * shutdown destroys them after the join), so they run without their
     * lock (timers/timer.c, SINGLE-THREADED DRIVERS). */
    for (int i = 0; i < rt->ntimers; i++)
        rt->timers[i].single_thread = !rt->cfg.reactor_thread && rt->nworkers == 1;
    if ((rc = reactor_new(&rt->reactor, rt->cfg.reactor_events)) < 0) {
        runtime_destroy(rt);
        return err_fail(rc, "weft_runtime_new: cannot create the reactor: %s", strerror(-rc));
    }
    /* the shards are one group: a future armed on one may be polled on any
     * worker (timer.h, Groups); each worker hands its own shard down */
    for (int i = 1; i < rt->ntimers; i++) timer_driver_join_group(&rt->timers[i], &rt->timers[0]);
    for (int i = 0; i < rt->nworkers; i++) {
        timer_pending_init(&rt->workers[i].tpending);
        rt->workers[i].drivers = (weft_drivers){&rt->timers[i % rt->ntimers], rt->reactor,
                                                rt_waker_borrowable, &rt->workers[i].tpending};
    }
    if ((rc = blocking_pool_new(rt, &rt->blocking)) < 0) {
        runtime_destroy(rt);
        return err_fail(rc, "weft_runtime_new: cannot create the blocking pool");
    }
    if ((rc = rt->ops->create(rt, &rt->policy, err, sizeof err)) < 0) {
        const char *name = rt->ops->name; /* static: outlives rt */
        rt->policy = NULL;
        runtime_destroy(rt);
        return err_fail(rc, "scheduler %s: %s", name, err);
    }
    if (!rt->ops->runs_on_caller) {
        for (int i = 0; i < rt->nworkers; i++) {
            if ((rc = pthread_create(&rt->workers[i].thread, NULL, rt_worker_main, &rt->workers[i]))) {
                runtime_destroy(rt);
                return err_fail(-rc, "weft_runtime_new: cannot start worker %d: %s", i, strerror(rc));
            }
            rt->workers[i].thread_started = true;
        }
        /* wait until every worker has bound itself, so the placement can be
         * described (and a failed binding is known) when new() returns */
        while (atomic_load_explicit(&rt->workers_started, memory_order_acquire) < rt->nworkers)
            sched_yield();
    }
    if (rt->cfg.reactor_thread) {
        if ((rc = pthread_create(&rt->driver_thread, NULL, rt_driver_main, rt))) {
            runtime_destroy(rt);
            return err_fail(-rc, "weft_runtime_new: cannot start the driver thread: %s", strerror(rc));
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
        /* relaxed: a reference increment (the shard lock keeps t alive until
         * we hold it; the decrement's acq_rel orders the free) */
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
            rt_task_cancel_running(t);
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
            if (rt->workers[i].thread_started) rt_worker_unpark(&rt->workers[i]);
    if (rt->ops && rt->ops->runs_on_caller && rt->workers_ready) {
        /* The one worker is whichever thread is inside weft_block_on: unpark
         * it (with reactor_thread=1 it sleeps on its condition variable,
         * which nothing else would signal) and wait until it has left, so
         * nothing below races with it and the policy's unsynchronised
         * queues are drained by this thread alone. acquire pairs with
         * block_on's release store of block_on_active. */
        while (atomic_load_explicit(&rt->block_on_active, memory_order_acquire)) {
            rt_worker_unpark(&rt->workers[0]);
            sched_yield();
        }
    }
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
     * has completed (see rt_schedule); acquire pairs with its release dec
     * or its record's release store */
    while (atomic_load_explicit(&rt->outside_inflight, memory_order_acquire) != 0) sched_yield();
    rt_outside_quiesce();
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
            if (rt->workers_ready) rt_task_cache_release(&rt->workers[i]); /* no thread is this worker any more */
            if (rt->workers[i].latency_hist) {
                hist_destroy(rt->workers[i].latency_hist);
                free(rt->workers[i].latency_hist);
            }
        }
    rt_task_ret_release(rt);
    if (rt->topo) topo_close(rt->topo);
    if (rt->placement) topo_placement_free(rt->placement);
    free(rt->placement);
    free(rt->workers);
    free(rt->owned);
    free(rt->idle_stack);
    free(rt->cfg_strings);
    pthread_mutex_destroy(&rt->fault_mu);
    free(rt);
}

void weft_runtime_free(weft_runtime *rt)
{
    if (!rt) return;
    /* From one of rt's own workers (a task, or a drop function running on
     * one) the free would wait for the very thread that calls it: it spun
     * at 100 % CPU for ever. weft_block_on refuses the same mistake with
     * -EDEADLK; this function returns nothing, and returning without
     * freeing would leave the caller believing rt is gone, so it stops the
     * program with the reason (documented in weft/runtime.h). */
    worker *cur = rt_tls_worker;
    if (cur && cur->rt == rt) {
        fprintf(stderr, "weft: weft_runtime_free called from inside a task of the runtime it "
                        "would free (it would wait for itself); free it from the thread that "
                        "created it, after weft_block_on returns\n");
        abort();
    }
    runtime_destroy(rt);
}

int weft_runtime_describe_placement(weft_runtime *rt, char *buf, size_t len)
{
    if (!rt || !buf) return err_fail(-EINVAL, "weft_runtime_describe_placement: NULL argument");
    if (rt->topo && rt->placement) {
        /* acquire pairs with each worker's release after binding */
        if (atomic_load_explicit(&rt->workers_started, memory_order_acquire) < rt->nworkers &&
            !rt->ops->runs_on_caller)
            return err_fail(-EAGAIN, "weft_runtime_describe_placement: workers still starting");
        int rc = topo_describe(rt->topo, rt->placement, buf, len);
        return rc < 0 ? rc : (int)strlen(buf);
    }
    return snprintf(buf, len, "%s", rt->placement_desc);
}

/* ---- the outside bracket's records (runtime_internal.h) ------------------------------
 * Why records and not one counter: an outside spawn took four atomic RMWs
 * (the external counter, the bracket's inc and dec, the push's CAS), and
 * the bracket's two were the most expensive (spawn_remote fifo/1 0.62x
 * without them; each locked instruction waits for the task's fresh stores
 * to drain). A thread's own record takes plain stores.
 *
 * Why it is enough: runtime_destroy runs after the caller saw every task
 * complete, so after every push into rt (release) and everything sequenced
 * before it, the odd store included; its acquire load of a record then reads
 * that odd value or a later one. Odd: it waits until the value changes,
 * which is the release store after the thread's last read of rt (or a later
 * bracket's, whose push is then of a task into another runtime, or a
 * failed one). Even: the thread has left every bracket into rt. A thread
 * waits at most one bracket per record: push, notify, done.
 *
 * The list is process-wide (a record is per thread, not per runtime) and
 * the wait covers brackets into other runtimes too: short, and it keeps a
 * record's life independent of any runtime's. A thread's record is freed
 * by its thread key's destructor at thread exit, under the list's lock,
 * which the waiter holds while it reads the records. */
_Thread_local outside_rec *rt_outside_tls;
static pthread_mutex_t outside_mu = PTHREAD_MUTEX_INITIALIZER;
static outside_rec *outside_list;
static pthread_key_t outside_key;
static pthread_once_t outside_once = PTHREAD_ONCE_INIT;
static bool outside_key_ok;

static void outside_rec_free(void *p)
{
    outside_rec *r = p;
    rt_outside_tls = NULL; /* this thread's: a later destructor's spawn registers anew */
    pthread_mutex_lock(&outside_mu);
    if (r->prev) r->prev->next = r->next;
    else outside_list = r->next;
    if (r->next) r->next->prev = r->prev;
    pthread_mutex_unlock(&outside_mu);
    rt_outside_blocks_free(r);
    free(r);
}

static void outside_key_init(void) { outside_key_ok = pthread_key_create(&outside_key, outside_rec_free) == 0; }

outside_rec *rt_outside_register(void)
{
    pthread_once(&outside_once, outside_key_init);
    if (!outside_key_ok) return NULL;
    outside_rec *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    atomic_init(&r->seq, 0);
    if (pthread_setspecific(outside_key, r) != 0) {
        free(r);
        return NULL;
    }
    pthread_mutex_lock(&outside_mu);
    r->next = outside_list;
    if (outside_list) outside_list->prev = r;
    outside_list = r;
    pthread_mutex_unlock(&outside_mu);
    rt_outside_tls = r;
    return r;
}

void rt_outside_quiesce(void)
{
    pthread_mutex_lock(&outside_mu);
    for (outside_rec *r = outside_list; r; r = r->next) {
        uint64_t s = atomic_load_explicit(&r->seq, memory_order_acquire);
        if (s & 1)
            while (atomic_load_explicit(&r->seq, memory_order_acquire) == s) sched_yield();
    }
    pthread_mutex_unlock(&outside_mu);
}
