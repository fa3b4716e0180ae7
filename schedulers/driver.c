/*
 * schedulers/driver.c - who drives the reactor and the timers, and the
 * timer shards seen as one.
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
 * The hand-off (a driver leaving with work woken wakes an idle worker
 * while timers are armed) is in park.c, beside the parking it follows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "reactor/reactor.h"
#include "schedulers/runtime_internal.h"
#include "timers/timer.h"

/* ---- the timer shards ---------------------------------------------------------------------
 * rt->timers holds rt->ntimers drivers (knob timer_shards; by default 0:
 * one per worker).
 * A future arms on the shard of the worker polling it (shard 0 off the
 * workers) and stays on that shard for its life, so arm and cancel from
 * different workers take different locks. Whoever drives the timers
 * treats the shards as one: it fires all of them and sleeps until the
 * earliest deadline of any. Equal deadlines fire in arming order within a
 * shard; across shards, shard by shard. */

size_t rt_timers_fire_all(weft_runtime *rt)
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

uint64_t rt_timers_park_begin(weft_runtime *rt)
{
    uint64_t d = UINT64_MAX;
    for (int i = 0; i < rt->ntimers; i++) {
        uint64_t x = timer_driver_park_begin(&rt->timers[i]);
        if (x < d) d = x;
    }
    return d;
}

void rt_timers_park_end(weft_runtime *rt)
{
    for (int i = 0; i < rt->ntimers; i++) timer_driver_park_end(&rt->timers[i]);
}

bool rt_timers_any_armed(weft_runtime *rt)
{
    for (int i = 0; i < rt->ntimers; i++)
        if (timer_driver_next_deadline(&rt->timers[i]) != UINT64_MAX) return true;
    return false;
}

/* Polls the reactor with `timeout_ns` and fires due timers; wakes what is ready.
 * The caller holds driver_busy (or is the dedicated driver thread). */
size_t rt_driver_turn(weft_runtime *rt, uint64_t timeout_ns)
{
    weft_waker ready[256];
    size_t n = 0;
    int rc = reactor_poll(rt->reactor, timeout_ns, ready, sizeof ready / sizeof ready[0], &n);
    /* -EBUSY: another thread polls (the dedicated driver and a worker's
     * maintenance never overlap, but the try-lock is the reactor's). Any
     * other error is the wait itself failing (EINTR is retried inside):
     * it would fail again on every turn, so driving on would spin while
     * no IO or timer ever completes. Stop the runtime and say why. */
    if (rc < 0 && rc != -EBUSY)
        rt_runtime_fault(rt, rc, "the reactor failed (%s); the runtime stopped", strerror(-rc));
    for (size_t i = 0; i < n; i++) weft_waker_wake(&ready[i]);
    return n + rt_timers_fire_all(rt);
}

void rt_runtime_fault(weft_runtime *rt, int err, const char *fmt, ...)
{
    pthread_mutex_lock(&rt->fault_mu);
    if (!atomic_load_explicit(&rt->fault, memory_order_relaxed)) { /* first fault wins */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rt->fault_msg, sizeof rt->fault_msg, fmt, ap);
        va_end(ap);
        /* release: the message before the code (pairs with the waiters' acquire) */
        atomic_store_explicit(&rt->fault, err, memory_order_release);
    }
    rt_fault_wake_waiters(rt);
    pthread_mutex_unlock(&rt->fault_mu);
    /* stop every loop, as runtime_destroy's first step does; the caller's
     * weft_runtime_free then joins and frees as usual */
    atomic_store_explicit(&rt->shutdown, 1, memory_order_release);
    for (int i = 0; i < rt->nworkers; i++)
        if (rt->workers[i].thread_started || rt->ops->runs_on_caller) rt_worker_unpark(&rt->workers[i]);
}

uint64_t rt_timeout_until(uint64_t deadline)
{
    if (deadline == UINT64_MAX) return UINT64_MAX;
    uint64_t now = clock_now_ns();
    return deadline > now ? deadline - now : 0;
}

void rt_maintenance(worker *w)
{
    weft_runtime *rt = w->rt;
    if (rt->cfg.reactor_thread) return;
    /* relaxed peek first (no RMW while someone drives); the acquire exchange
     * pairs with the release store ending the previous driver's turn */
    if (atomic_load_explicit(&rt->driver_busy, memory_order_relaxed)) return;
    if (atomic_exchange_explicit(&rt->driver_busy, 1, memory_order_acquire)) return;
    /* Without registrations the non-blocking epoll call can find nothing,
     * and it would cost a syscall every global_interval polls, a visible
     * share of a yield's cost on fifo; the timers still fire. Without armed
     * timers the clock read and the driver lock are skipped too. */
    if (reactor_has_registrations(rt->reactor)) rt_driver_turn(rt, 0);
    else rt_timers_fire_all(rt);
    atomic_store_explicit(&rt->driver_busy, 0, memory_order_release); /* pairs with the next driver's acquire */
}
void *rt_driver_main(void *arg)
{
    weft_runtime *rt = arg;
    while (!atomic_load_explicit(&rt->shutdown, memory_order_acquire)) {
        uint64_t deadline = rt_timers_park_begin(rt);
        rt_driver_turn(rt, rt_timeout_until(deadline));
        rt_timers_park_end(rt);
    }
    return NULL;
}

/* ---- timer accessors for the harness and the tests (runtime_internal.h) ------------------ */

struct timer_driver *weft_runtime_timers(weft_runtime *rt)
{
    if (!rt || !rt->timers) return NULL;
    worker *w = rt_tls_worker;
    if (rt->ntimers > 1 && w && w->rt == rt) return &rt->timers[w->index % rt->ntimers];
    return &rt->timers[0];
}

size_t weft_runtime_timers_armed(weft_runtime *rt)
{
    size_t n = 0;
    if (rt && rt->timers)
        for (int i = 0; i < rt->ntimers; i++) n += timer_driver_count(&rt->timers[i]);
    /* a task asking from inside its poll also sees the sleeps it first
     * polled in it, armed but not yet stamped (timers/timer.c, DEFERRED
     * STAMP); other workers' lists are theirs alone, and empty between polls */
    worker *w = rt_tls_worker;
    if (rt && w && w->rt == rt) n += timer_pending_count(&w->tpending);
    return n;
}

/* The timer driver's notify: an arm made the earliest deadline earlier than
 * the one the driver sleeps until (wake it to shorten its timeout), or, with
 * notify_unparked, armed the first timer while nobody drives. The hand-off
 * in park.c covers the driver leaving with timers armed; this covers a
 * timer armed afterwards by the busy former driver, which would otherwise
 * wait for that worker while the others sleep on their condition
 * variables: wake one, and it takes the driver when it finds no work. */
void rt_timers_notify(void *ctx)
{
    weft_runtime *rt = ctx;
    /* relaxed: hints; a missed one leaves the timer to the next maintenance
     * tick or park, as before. A parked driver holds driver_busy (or is the
     * reactor thread), so the first case is the original notify. */
    if (rt->cfg.reactor_thread || atomic_load_explicit(&rt->driver_busy, memory_order_relaxed))
        reactor_wake(rt->reactor); /* the driver sleeps in the reactor: shorten its timeout */
    else if (atomic_load_explicit(&rt->num_idle, memory_order_relaxed) != 0)
        rt_notify_parked(rt, -1);
    /* else every worker is busy: their maintenance ticks fire the timer */
}

/* weft_drivers.waker_borrowable (common/context.h): a leaf future inside
 * the polled task's own state may hold the task's waker borrowed. Only a
 * worker's poll (run_task) passes a task's own waker with cx->task that
 * task; every other context has another waker or no task. */
bool rt_waker_borrowable(const weft_context *cx, const void *p, size_t n)
{
    task *t = cx->task;
    if (!t || cx->waker.vtable != &task_waker_vtable || cx->waker.data != t) return false;
    uintptr_t lo = (uintptr_t)task_state_ptr(t), a = (uintptr_t)p;
    return a >= lo && a - lo <= t->type->state_size && n <= t->type->state_size - (a - lo);
}
