/*
 * timers/timer.c - the runtime's timer driver, and the time futures of
 * weft/time.h built on it.
 *
 * THE DRIVER. One wheel behind one lock (one per worker by default). Futures arm, re-arm
 * and cancel from whichever worker polls them; the one thread that drives
 * timers (the worker parked in the reactor, or the reactor thread) asks
 * for the next deadline before it sleeps and fires what is due after it
 * wakes. The wheel is not thread-safe by itself; every access to it, to an
 * entry's node, waker and `fired` flag, and to parked/parked_until happens
 * under the driver lock (or, on a single-threaded driver, on its one
 * thread: SINGLE-THREADED DRIVERS below). Nothing else is shared, so there are no atomics
 * here beyond the lock's own.
 *
 * LOCKING. Critical sections are a handful of pointer writes (arm: a
 * division, a clz, a list push, a bit set, a waker clone), so the lock is
 * held for nanoseconds and rarely contended. The lock is a futex lock
 * inlined into its callers (Drepper's "mutex 3": one CAS to take it, one
 * exchange to drop it) with a bounded spin before the first futex sleep.
 * It replaced a pthread mutex, whose lock and unlock calls cost about 55
 * instructions per hold (type checks, elision and owner bookkeeping) for
 * the same two atomic operations: timeout_cancel at 1 worker went from
 * 545 to 452 instructions per arm+cancel pair (callgrind, n = 200 000 vs
 * 400 000 of --param timeout_cancel.n, fifo, one worker). It sleeps in the
 * kernel, unlike common/spinlock.h, when threads outnumber cores
 * (blocking-pool threads, oversubscribed tests) and a holder is preempted;
 * unlike the pthread mutex it spins first, as a hold here is far shorter
 * than a futex round trip. Tokio also keeps one mutex-protected
 * wheel per runtime (its sharded timer wheel was tried and reverted). Two
 * workers arming and cancelling at once do collide on one lock, so the
 * runtime can hold one driver per worker (knob timer_shards, see
 * schedulers/driver.c): each driver is this file's driver unchanged, a
 * future arms on its worker's driver and keeps it (entry->owner is the
 * cancel path to the owning wheel), and sleep_bind accepts an owner in the
 * same group (timer.h, Groups). The default is one driver per worker;
 * timer_shards=1 restores one arming order of equal deadlines across the
 * whole runtime (across shards they fire shard by shard).
 *
 * WAKING OUTSIDE THE LOCK. Waker operations run foreign code: wake queues
 * a task (and may take scheduler locks), drop may free a task, whose drop
 * function may cancel its own timers and so take this lock. So no wake and
 * no drop ever runs under the lock: fire moves up to TIMER_FIRE_BATCH wakers
 * out into a local array, marks their entries fired, unlocks and only then
 * wakes them; arm, poll and cancel hand the replaced waker back to be
 * dropped after unlocking. After unlocking, fire never touches an entry
 * again: its owner may free it the moment it sees `fired`. A clone (a
 * reference-count increment) does run under the lock.
 *
 * NOTIFYING A PARKED DRIVER. park_begin records the deadline the parker
 * sleeps until; an arm of an earlier deadline while parked lowers that
 * record and calls notify (outside the lock), which wakes the parker so it
 * recomputes its timeout. Lowering the record under the lock means a burst
 * of arms costs one notify, not one each. A notify racing with the parker
 * entering its sleep is not lost as long as notify is sticky (an eventfd
 * write, a semaphore post), which the contract in timer.h demands.
 *
 * BORROWED WAKERS. An entry normally holds a clone of its waker (for a
 * task's waker, a reference-count increment at arm and a decrement at
 * cancel: two atomic RMWs per arm+cancel pair, and a fifth of
 * timeout_cancel's samples in the arm before this change, perf below).
 * When the future lives inside the state of the task that polls it and
 * the waker is that task's own (weft_drivers.waker_borrowable, supplied by
 * the runtime in the context), the entry stores the waker without a
 * reference (`borrowed`): the state is dropped only by a poller holding a
 * reference, and the drop detaches the entry under the lock, so while the
 * entry is armed the task is alive and counted. The fire clones a borrowed
 * waker under the lock (the entry is armed there, so the count is >= 1)
 * and wakes that clone after unlocking, as before; cancel, destroy and a
 * waker swap simply forget a borrowed one. A task that moves to another
 * worker keeps its memory and its waker, so nothing changes when it is
 * polled or dropped elsewhere. A future polled with another waker (a
 * combinator's) or living outside the task's state gets a clone, as
 * before. Measured with callgrind (weft-bench --profile=quick
 * --workloads=timeout_cancel --schedulers=fifo --workers=1 --param
 * timeout_cancel.n=200000 and =400000, difference of the totals without the
 * harness's c2c probe threads, over the 2 x 200 000 extra pairs): tw_clone
 * and task_drop_reference (34 instructions and both RMWs of the pair) leave
 * the profile; the check itself costs 25 (rt_waker_borrowable).
 *
 * SINGLE-THREADED DRIVERS. With one worker and no reactor thread only that
 * worker ever touches the runtime's wheels: futures arm only from a
 * worker's context, the same worker drives the reactor and fires, and the
 * shutdown destroys the drivers after joining it (a runs_on_caller policy
 * hands the worker from one weft_block_on caller to the next through an
 * acquire/release flag). The runtime then sets td->single_thread and every
 * lock acquire and release is skipped: the four lock RMWs of an arm+cancel
 * pair go. timer_driver_count, which the harness may call from any thread,
 * then reads the count published (relaxed atomic) at the last operation.
 * TSan runs of the one-worker tests check the claim: any second thread on
 * a wheel is a reported race.
 *
 * DEFERRED STAMP. A relative sleep (weft_sleep_init, weft_timeout_init) of
 * d > 0 is PENDING at its first poll whatever the clock says, so that poll
 * needs no clock read, only the deadline does, and the deadline must not
 * be earlier than (the clock at the first poll) + d. On a worker, when the
 * waker is the task's own (borrowable, BORROWED WAKERS), the first poll
 * therefore only stores the waker and links the entry onto the worker's
 * timer_pending list (state UNSTAMPED, two pointer writes, no lock, no
 * wheel); run_task (schedulers/worker.c) calls timer_pending_flush when the
 * task's poll returns PENDING, before the task's state word leaves RUNNING,
 * so no other thread can have seen the entry: one precise clock read, taken
 * after every listed first poll, + d is each deadline, and the entries are
 * armed on their owner driver as before. A poll that returns READY needs no
 * flush: a listed entry lies in the polled task's own state (the borrowing
 * condition), which run_task drops next, and the drop unlinks it (weft/time.h:
 * the drop function must drop its futures; an entry left in freed state
 * was a use-after-free in the wheel before this, too). So the READY path
 * (a spawned leaf's only poll) pays nothing, a PENDING poll one load and
 * compare. Under a join claim-back an inner poll that returns PENDING
 * flushes the outer task's entries too (with a read later than their first
 * polls); one that returns READY leaves them for the outer poll's end. A timeout whose inner future
 * completes later in the same task poll (the RPC-timeout pattern,
 * workloads timeout_cancel) unlinks its entry again: the pair touches
 * neither the clock nor the wheel nor, at two workers, any shared line.
 * The cost of the exactness kept (never early) is lateness: a sleep first
 * polled in a long task poll counts d from the end of that poll, at most
 * that poll's remaining run time later than from its first poll - the time
 * during which its task could not have run anyway, except that a fire
 * meanwhile would have re-queued it at once. A sleep polled with another
 * waker (a combinator's, a test's) could be woken while its poller is
 * still busy (test_time's test_timer_armed_by_busy_worker needs it), so it
 * is stamped at its first poll as before. A second poll in the same task
 * poll, weft_sleep_deadline (stamp on demand), and weft_sleep_reset take
 * an UNSTAMPED entry off the list first (the first two stamp it with a
 * clock read taken then); a drop unlinks it and leaves the sleep NEW.
 * weft_runtime_timers_armed counts the caller's own listed entries as
 * armed. sleep_until and interval deadlines are absolute and are not
 * deferred (their first poll must compare with the clock).
 * Measured with callgrind (weft-bench --profile=quick
 * --workloads=timeout_cancel --schedulers=fifo --workers=1 --param
 * timeout_cancel.n=200000 and =400000, WEFT_BENCH_C2C=0, difference of the
 * totals over the 2 x 200 000 extra pairs): 428 -> 184 instructions per
 * arm+cancel pair; wheel_arm, wheel_cancel, timer_driver_cancel and the
 * clock read leave the profile. The entry points weft_sleep_poll and
 * weft_timeout_poll only dispatch (tail calls, no frame), so the polls that
 * are not deferred pay nothing for the check.
 *
 * THE FUTURES. A weft_sleep embeds a timer_entry. Its first poll binds it
 * to the group of the driver in the context (a later poll on another
 * runtime completes with -EXDEV instead of arming on a driver the entry
 * does not belong to)
 * and, for weft_sleep_init, computes the deadline as now + d. The first
 * poll reads the clock: READY if now >= deadline, else one lock hold arms
 * the entry and stores the waker. A later poll is one lock hold that looks
 * at `fired` first: the usual later poll is the one the fire's wake caused,
 * and then the entry is already detached with its waker moved out, so the
 * poll is READY with no clock read and nothing to cancel (this saved a
 * clock read and a second lock hold per timer in timer_storm). Only when
 * it has not fired is the clock read, under the lock: READY (cancelling the
 * entry) if now >= deadline, else the entry is re-armed if it moved and
 * the waker refreshed. `linked` is an owner-side hint that the entry may be
 * armed, so a finished sleep is dropped without taking the lock.
 */
#include "timers/timer.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/context.h"
#include "common/error.h"
#include "common/spinlock.h" /* cpu_relax */

#define timer_entry_of(we) ((timer_entry *)((char *)(we) - offsetof(timer_entry, w)))

_Static_assert(offsetof(timer_entry, w) == 0, "the wheel node leads the timer entry");
_Static_assert(TIMER_FIRE_BATCH > 0 && TIMER_FIRE_BATCH <= 1024, "fire batch lives on the stack");

/* ---- the lock ---------------------------------------------------------------- */

/* Drepper's mutex ("Futexes Are Tricky", mutex 3) with a bounded spin
 * before the first sleep: the uncontended pair is one CAS and one
 * exchange, inlined; contended, the waiter spins (a critical section here
 * is tens of ns, far shorter than a futex round trip) and only then sleeps
 * in the kernel, so a preempted holder costs no spinning time slice. */
#define TIMER_LOCK_SPINS 128

static inline void timer_lock_init(timer_lock *l) { atomic_init(&l->state, 0); }
static inline void timer_lock_destroy(timer_lock *l) { (void)l; }

static void timer_futex(_Atomic uint32_t *word, int op, uint32_t val)
{
    /* EINTR / EAGAIN need no handling: every caller re-checks the word */
    (void)syscall(SYS_futex, (uint32_t *)word, op, val, NULL, NULL, 0);
}

static __attribute__((noinline)) void timer_lock_slow(timer_lock *l)
{
    for (int i = 0; i < TIMER_LOCK_SPINS; i++) {
        cpu_relax();
        uint32_t c = atomic_load_explicit(&l->state, memory_order_relaxed);
        if (c == 2) break; /* sleepers already: queue behind them */
        /* acquire pairs with the release exchange in timer_lock_release */
        if (c == 0 && atomic_compare_exchange_weak_explicit(&l->state, &c, 1, memory_order_acquire,
                                                            memory_order_relaxed))
            return;
    }
    /* 2: whoever unlocks must wake a sleeper; we may own it with 2 (one
     * spurious wake later at most, as in Drepper's mutex) */
    uint32_t c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
    while (c != 0) {
        timer_futex(&l->state, FUTEX_WAIT_PRIVATE, 2);
        c = atomic_exchange_explicit(&l->state, 2, memory_order_acquire);
    }
}

static inline void timer_lock_acquire(timer_lock *l)
{
    uint32_t c = 0;
    /* acquire pairs with the release exchange in timer_lock_release */
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(&l->state, &c, 1, memory_order_acquire,
                                                                 memory_order_relaxed), 1))
        return;
    timer_lock_slow(l);
}

static inline void timer_lock_release(timer_lock *l)
{
    /* release: the critical section before the next owner's acquire */
    if (__builtin_expect(atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2, 0))
        timer_futex(&l->state, FUTEX_WAKE_PRIVATE, 1);
}

/* ---- the driver -------------------------------------------------------------- */

/* Every unlock of the driver publishes the wheel's count for
 * timer_driver_empty (relaxed: a hint; the lock orders the wheel itself). */
static inline void driver_unlock(timer_driver *td)
{
    atomic_store_explicit(&td->armed, wheel_count(&td->wheel), memory_order_relaxed);
    if (!td->single_thread) timer_lock_release(&td->lock);
}

/* The lock, unless the driver is single-threaded (SINGLE-THREADED DRIVERS). */
static inline void driver_lock(timer_driver *td)
{
    if (!td->single_thread) timer_lock_acquire(&td->lock);
}

/* Under the lock: detaches e's waker; the reference to drop after
 * unlocking, or none if it was borrowed. */
static inline weft_waker timer_take_waker_locked(timer_entry *e)
{
    weft_waker w = e->borrowed ? WEFT_WAKER_NONE : e->waker;
    e->waker = WEFT_WAKER_NONE;
    e->borrowed = 0;
    return w;
}

/* The next group tag; 0 means "unbound" in a future, so tags start at 1. */
static _Atomic uint64_t timer_group_next = 1;

static uint64_t timer_default_now(void *ctx)
{
    (void)ctx;
    return clock_now_ns();
}

int timer_driver_init(timer_driver *td, uint64_t tick_ns, uint64_t (*now)(void *ctx),
                      void *now_ctx, void (*notify)(void *ctx), void *notify_ctx)
{
    if (tick_ns > 3600ull * 1000000000ull) {
        return err_fail(-EINVAL, "timer tick of %llu ns is over an hour; use 1 ms (1000000)",
                        (unsigned long long)tick_ns);
    }
    td->now = now ? now : timer_default_now;
    td->now_ctx = now ? now_ctx : NULL;
    td->notify = notify;
    td->notify_ctx = notify_ctx;
    td->parked = 0;
    td->parked_until = UINT64_MAX;
    td->notify_unparked = 0;
    td->single_thread = 0;
    int rc = wheel_init(&td->wheel, tick_ns, WHEEL_DEFAULT_LEVELS, td->now(td->now_ctx));
    if (rc) return rc;
    atomic_init(&td->armed, 0);
    timer_lock_init(&td->lock);
    /* relaxed: only uniqueness matters; the tag is published with td itself */
    td->group = atomic_fetch_add_explicit(&timer_group_next, 1, memory_order_relaxed);
    return 0;
}

void timer_driver_join_group(timer_driver *td, const timer_driver *leader) { td->group = leader->group; }

void timer_driver_destroy(timer_driver *td)
{
    for (;;) {
        weft_waker batch[TIMER_FIRE_BATCH];
        size_t n = 0;
        driver_lock(td);
        wheel_entry *we;
        while (n < TIMER_FIRE_BATCH && (we = wheel_pop_any(&td->wheel)) != NULL) {
            timer_entry *e = timer_entry_of(we);
            batch[n++] = timer_take_waker_locked(e);
            e->owner = NULL;
        }
        driver_unlock(td);
        for (size_t i = 0; i < n; i++) weft_waker_drop(&batch[i]);
        if (n < TIMER_FIRE_BATCH) break;
    }
    timer_lock_destroy(&td->lock);
}

timer_driver *timer_driver_new(uint64_t tick_ns, uint64_t (*now)(void *ctx), void *now_ctx,
                               void (*notify)(void *ctx), void *notify_ctx)
{
    timer_driver *td = malloc(sizeof *td);
    if (!td) return NULL;
    if (timer_driver_init(td, tick_ns, now, now_ctx, notify, notify_ctx)) {
        free(td);
        return NULL;
    }
    return td;
}

void timer_driver_free(timer_driver *td)
{
    if (!td) return;
    timer_driver_destroy(td);
    free(td);
}

/* timer_entry_init, inlined into the sleep initialisers (one per timeout) */
static inline void timer_entry_init_inline(timer_entry *e)
{
    e->w = (wheel_entry){0}; /* wheel_entry_init: IDLE, unlinked */
    e->waker = WEFT_WAKER_NONE;
    e->owner = NULL;
    e->fired = 0;
    e->borrowed = 0;
}

void timer_entry_init(timer_entry *e) { timer_entry_init_inline(e); }

/* Under the lock: arms e and decides whether the parker must be told.
 * Returns true if notify must be called after unlocking. */
static bool timer_arm_locked(timer_driver *td, timer_entry *e, uint64_t deadline_ns)
{
    /* the first timer while nobody parks: tell the owner (timer.h) */
    bool first = td->notify_unparked && !td->parked && wheel_count(&td->wheel) == 0 &&
                 e->w.state != WHEEL_ARMED;
    wheel_arm(&td->wheel, &e->w, deadline_ns);
    e->owner = td;
    e->fired = 0;
    if (td->parked && deadline_ns < td->parked_until) {
        td->parked_until = deadline_ns; /* one notify per lowering, not per arm */
        return td->notify != NULL;
    }
    return first && td->notify != NULL;
}

/* Under the lock: makes e wake what w wakes. `borrow` (the caller checked
 * context_waker_borrowable): store w itself, no reference; else a clone.
 * Kept as it is when it already wakes the same task (an owned one stays
 * owned; a borrowed one only where borrowing is allowed). Returns the
 * replaced waker if it was owned, to be dropped after unlocking. */
static weft_waker timer_swap_waker_locked(timer_entry *e, const weft_waker *w, bool borrow)
{
    weft_waker old = WEFT_WAKER_NONE;
    if (weft_waker_will_wake(&e->waker, w) && (borrow || !e->borrowed)) return old;
    if (!e->borrowed) old = e->waker;
    e->borrowed = borrow;
    e->waker = borrow ? *w : weft_waker_clone(w);
    return old;
}

int timer_driver_arm(timer_driver *td, timer_entry *e, uint64_t deadline_ns,
                     const weft_waker *waker)
{
    if (e->owner && e->owner != td) return -EXDEV;
    weft_waker old = WEFT_WAKER_NONE;
    driver_lock(td);
    bool notify = timer_arm_locked(td, e, deadline_ns);
    if (waker) old = timer_swap_waker_locked(e, waker, false);
    driver_unlock(td);
    weft_waker_drop(&old);
    if (notify) td->notify(td->notify_ctx);
    return 0;
}

bool timer_driver_cancel(timer_driver *td, timer_entry *e)
{
    driver_lock(td);
    bool was_armed = wheel_cancel(&td->wheel, &e->w);
    weft_waker old = timer_take_waker_locked(e);
    driver_unlock(td);
    weft_waker_drop(&old);
    return was_armed;
}

/* timer_driver_poll_entry with the waker borrowed when `borrow`. */
static inline weft_poll timer_poll_entry(timer_driver *td, timer_entry *e, uint64_t deadline_ns,
                                         const weft_waker *waker, bool borrow)
{
    weft_waker old = WEFT_WAKER_NONE;
    bool notify = false;
    driver_lock(td);
    if (e->fired && e->w.deadline_ns >= deadline_ns) {
        driver_unlock(td);
        return WEFT_READY;
    }
    if (e->w.state != WHEEL_ARMED || e->w.deadline_ns != deadline_ns)
        notify = timer_arm_locked(td, e, deadline_ns);
    old = timer_swap_waker_locked(e, waker, borrow);
    driver_unlock(td);
    weft_waker_drop(&old);
    if (notify) td->notify(td->notify_ctx);
    return WEFT_PENDING;
}

weft_poll timer_driver_poll_entry(timer_driver *td, timer_entry *e, uint64_t deadline_ns,
                                  const weft_waker *waker)
{
    return timer_poll_entry(td, e, deadline_ns, waker, false);
}

uint64_t timer_driver_next_deadline(timer_driver *td)
{
    driver_lock(td);
    uint64_t d = wheel_next_deadline(&td->wheel);
    driver_unlock(td);
    return d;
}

uint64_t timer_driver_park_begin(timer_driver *td)
{
    driver_lock(td);
    uint64_t d = wheel_next_deadline(&td->wheel);
    td->parked = 1;
    td->parked_until = d;
    driver_unlock(td);
    return d;
}

void timer_driver_park_end(timer_driver *td)
{
    driver_lock(td);
    td->parked = 0;
    td->parked_until = UINT64_MAX;
    driver_unlock(td);
}

size_t timer_driver_fire(timer_driver *td, uint64_t now_ns)
{
    size_t total = 0;
    for (;;) {
        weft_waker batch[TIMER_FIRE_BATCH];
        size_t n = 0;
        driver_lock(td);
        wheel_entry *we;
        while (n < TIMER_FIRE_BATCH && (we = wheel_pop_expired(&td->wheel, now_ns)) != NULL) {
            timer_entry *e = timer_entry_of(we);
            /* a borrowed waker is cloned here, while the entry is armed
             * and so its task's state not dropped (BORROWED WAKERS) */
            batch[n++] = e->borrowed ? weft_waker_clone(&e->waker) : e->waker;
            e->waker = WEFT_WAKER_NONE;
            e->borrowed = 0;
            e->fired = 1;
        }
        driver_unlock(td);
        /* From here on no entry is touched: owners may free them. */
        for (size_t i = 0; i < n; i++) weft_waker_wake(&batch[i]);
        total += n;
        if (n < TIMER_FIRE_BATCH) return total;
    }
}

size_t timer_driver_count(timer_driver *td)
{
    /* another thread may ask (weft_runtime_timers_armed): the count the
     * owner published at its last unlock */
    if (td->single_thread) return atomic_load_explicit(&td->armed, memory_order_relaxed);
    driver_lock(td);
    size_t n = wheel_count(&td->wheel);
    driver_unlock(td);
    return n;
}

/* ---- sleep ------------------------------------------------------------------- */

enum {
    SLEEP_NEW = 0,       /* weft_sleep_init: deadline = now + duration at first poll */
    SLEEP_NEW_UNTIL = 1, /* weft_sleep_until_init / reset: deadline known */
    SLEEP_STARTED = 2,   /* deadline fixed, bound to a runtime */
    SLEEP_DONE = 3,      /* READY returned; result final */
    SLEEP_UNSTAMPED = 4  /* first polled in the task poll under way: linked on the worker's
                            timer_pending, deadline not yet computed (DEFERRED STAMP) */
};

static inline uint64_t timer_sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

#define sleep_of(e) ((weft_sleep *)((char *)(e) - offsetof(weft_sleep, entry)))

/* ---- deferred stamps --------------------------------------------------------- */

void timer_pending_init(timer_pending *p) { wheel_entry_init(&p->head); }

/* The list is NULL-terminated with the head as the first entry's prev, so
 * "anything listed?" is one compare with 0 (run_task's check after every
 * PENDING poll) and an entry unlinks without knowing its list. */
static inline void pending_link(timer_pending *p, wheel_entry *we)
{
    wheel_entry *first = p->head.next;
    we->prev = &p->head;
    we->next = first;
    if (first) first->prev = we;
    p->head.next = we;
}

static inline void pending_unlink(wheel_entry *we)
{
    we->prev->next = we->next;
    if (we->next) we->next->prev = we->prev;
    we->prev = we->next = NULL;
}

/* Stamps an unlinked SLEEP_UNSTAMPED sleep with deadline now + d and arms
 * it on td, whose lock the caller holds; true: notify td's driver. */
static inline bool sleep_stamp_locked(timer_driver *td, weft_sleep *s, uint64_t now)
{
    s->deadline_ns = timer_sat_add(now, s->duration_ns);
    s->state = SLEEP_STARTED;
    return timer_arm_locked(td, &s->entry, s->deadline_ns);
}

/* Arms every listed entry at `now` + its sleep's duration, oldest first
 * (the list is newest first): equal deadlines keep their first-poll order
 * (wheel seq). One clock read per owner driver met, taken now, after every
 * listed first poll. */
void timer_pending_flush(timer_pending *p)
{
    wheel_entry *we = p->head.next;
    if (!we) return;
    while (we->next) we = we->next;
    p->head.next = NULL;
    timer_driver *td = NULL;
    uint64_t now = 0;
    bool notify = false;
    while (we != &p->head) {
        wheel_entry *prev = we->prev;
        timer_entry *e = timer_entry_of(we);
        weft_sleep *s = sleep_of(e);
        if (e->owner != td) {
            if (td) {
                driver_unlock(td);
                if (notify) td->notify(td->notify_ctx);
                notify = false;
            }
            td = e->owner;
            /* read after every listed sleep's first poll: never early */
            now = timer_driver_now(td);
            driver_lock(td);
        }
        we->prev = we->next = NULL;
        notify |= sleep_stamp_locked(td, s, now);
        we = prev;
    }
    driver_unlock(td);
    if (notify) td->notify(td->notify_ctx);
}

size_t timer_pending_count(const timer_pending *p)
{
    size_t n = 0;
    for (const wheel_entry *we = p->head.next; we; we = we->next) n++;
    return n;
}

/* An UNSTAMPED sleep stamped now (a later poll in the same task poll, or
 * weft_sleep_deadline): off the list, deadline = a clock read taken now +
 * d, armed on its owner. Owner only. */
static void sleep_stamp(weft_sleep *s)
{
    timer_entry *e = &s->entry;
    timer_driver *td = e->owner;
    pending_unlink(&e->w);
    uint64_t now = timer_driver_now(td);
    driver_lock(td);
    bool notify = sleep_stamp_locked(td, s, now);
    driver_unlock(td);
    if (notify) td->notify(td->notify_ctx);
}

static inline void sleep_init_inline(weft_sleep *s, uint64_t duration_ns)
{
    timer_entry_init_inline(&s->entry);
    s->deadline_ns = 0;
    s->duration_ns = duration_ns;
    s->group = 0;
    s->state = SLEEP_NEW;
    s->result = 0;
    s->linked = 0;
    s->reserved = 0;
}

void weft_sleep_init(weft_sleep *s, uint64_t duration_ns) { sleep_init_inline(s, duration_ns); }

void weft_sleep_until_init(weft_sleep *s, uint64_t deadline_ns)
{
    weft_sleep_init(s, 0);
    s->deadline_ns = deadline_ns;
    s->state = SLEEP_NEW_UNTIL;
}

/* Cancels the entry if it may be armed. Owner only. An UNSTAMPED entry is
 * in no wheel: it leaves the worker's list and drops its waker, no lock,
 * no clock, and the sleep is as if never polled (NEW, same binding). */
static void sleep_unlink(weft_sleep *s)
{
    if (!s->linked) return;
    s->linked = 0;
    if (s->state == SLEEP_UNSTAMPED) {
        pending_unlink(&s->entry.w);
        weft_waker old = timer_take_waker_locked(&s->entry); /* the owner's alone here */
        weft_waker_drop(&old);
        s->state = SLEEP_NEW;
        return;
    }
    timer_driver *owner = s->entry.owner;
    if (owner) timer_driver_cancel(owner, &s->entry);
}

static weft_poll sleep_finish(weft_sleep *s, int result)
{
    sleep_unlink(s);
    s->state = SLEEP_DONE;
    s->result = result;
    return WEFT_READY;
}

/* Binds s to the group of the context's driver; the driver to use, or a
 * negative errno: -ENOTSUP without a driver (outside a worker), -EXDEV
 * when s was first polled in another group (see timer.h, Groups). */
static int sleep_bind(const char *who, weft_sleep *s, weft_context *cx, timer_driver **out)
{
    timer_driver *td = context_timers(cx);
    if (!td)
        return err_fail(-ENOTSUP, "%s: polled outside a weft runtime's task (no timer "
                                  "driver to wait on)", who);
    if (!s->group) s->group = td->group;
    else if (s->group != td->group)
        return err_fail(-EXDEV, "%s: polled on a runtime other than the one of its first "
                                "poll", who);
    /* another shard of the same group keeps an entry it armed: the group
     * is alive, so the shard is */
    timer_driver *owner = s->entry.owner;
    *out = owner ? owner : td;
    return 0;
}

/* Arms or refreshes s for deadline (known to be after `now`). */
static inline __attribute__((always_inline)) weft_poll sleep_wait(weft_sleep *s, timer_driver *td,
                                                                  uint64_t deadline, weft_context *cx)
{
    s->linked = 1;
    bool borrow = context_waker_borrowable(cx, &s->entry, sizeof s->entry);
    if (timer_poll_entry(td, &s->entry, deadline, weft_context_waker(cx), borrow) == WEFT_PENDING)
        return WEFT_PENDING;
    /* Fired between our clock read and the lock: the driver unlinked it and
     * moved its waker out, so there is nothing left to cancel. */
    s->linked = 0;
    return WEFT_READY;
}

/* A later poll of a started sleep, in one lock hold: READY if the driver
 * fired the entry for this deadline (the usual case: the fire woke us; no
 * clock read, nothing left to cancel), else READY if the clock has reached
 * the deadline (the entry is cancelled), else the entry is re-armed if it
 * was moved and the waker refreshed. The clock is read under the lock only
 * when the entry has not fired, so the hold stays a few dozen ns. */
static weft_poll sleep_poll_started(weft_sleep *s, timer_driver *td, weft_context *cx)
{
    timer_entry *e = &s->entry;
    uint64_t deadline = s->deadline_ns;
    weft_waker old = WEFT_WAKER_NONE;
    bool notify = false;
    weft_poll r = WEFT_READY;
    bool borrow = context_waker_borrowable(cx, e, sizeof *e);
    driver_lock(td);
    if (e->fired && e->w.deadline_ns >= deadline) {
        /* detached and its waker moved out by the driver */
    } else if (timer_driver_now(td) >= deadline) {
        wheel_cancel(&td->wheel, &e->w);
        old = timer_take_waker_locked(e);
    } else {
        if (e->w.state != WHEEL_ARMED || e->w.deadline_ns != deadline)
            notify = timer_arm_locked(td, e, deadline);
        old = timer_swap_waker_locked(e, weft_context_waker(cx), borrow);
        r = WEFT_PENDING;
    }
    driver_unlock(td);
    weft_waker_drop(&old);
    if (notify) td->notify(td->notify_ctx);
    if (r == WEFT_PENDING) return WEFT_PENDING;
    s->linked = 0; /* nothing armed any more */
    return sleep_finish(s, 0);
}

/* The first poll of a sleep of d > 0 on a worker: PENDING without a clock
 * read (now + d > now whatever now is), the waker stored, the entry linked
 * on the worker's list for the stamp when the task poll returns. */
static inline weft_poll sleep_defer(weft_sleep *s, timer_driver *td, weft_context *cx,
                                    timer_pending *p)
{
    timer_entry *e = &s->entry;
    /* no lock: the entry is in no wheel, and a new sleep holds no waker;
     * the waker is the task's own (the caller checked), kept borrowed */
    e->waker = *weft_context_waker(cx);
    e->borrowed = 1;
    e->owner = td;
    e->fired = 0;
    pending_link(p, &e->w);
    s->state = SLEEP_UNSTAMPED;
    s->linked = 1;
    return WEFT_PENDING;
}

/* The sleep state machine; `charge` spends a unit of coop budget first. */
static __attribute__((noinline)) weft_poll sleep_poll_slow(const char *who, weft_sleep *s,
                                                           weft_context *cx, bool charge)
{
    if (charge && !weft_coop_proceed(cx)) return WEFT_PENDING;
    if (s->state == SLEEP_DONE) return WEFT_READY;
    timer_driver *td = NULL;
    int err = sleep_bind(who, s, cx, &td);
    if (err) return sleep_finish(s, err);
    if (s->state == SLEEP_STARTED && s->linked) return sleep_poll_started(s, td, cx);
    if (s->state == SLEEP_UNSTAMPED) { /* polled again in the same task poll */
        sleep_stamp(s);
        return sleep_wait(s, td, s->deadline_ns, cx) == WEFT_PENDING ? WEFT_PENDING
                                                                      : sleep_finish(s, 0);
    }
    /* the start is a precise read: a CLOCK_MONOTONIC_COARSE start plus
     * twice its resolution (stop 16 to stop 20) was measured lagging the
     * precise clock by more than that pad in CI, so a sleep woke early */
    uint64_t now = timer_driver_now(td);
    if (s->state == SLEEP_NEW) s->deadline_ns = timer_sat_add(now, s->duration_ns);
    s->state = SLEEP_STARTED;
    if (now >= s->deadline_ns) return sleep_finish(s, 0);
    if (sleep_wait(s, td, s->deadline_ns, cx) == WEFT_PENDING) return WEFT_PENDING;
    return sleep_finish(s, 0);
}

/* The first poll of a relative sleep (d > 0): deferred when polled on a
 * worker by its task with its own waker (sleep_defer), else the slow path.
 * A function of its own, so that the entry points dispatch every other
 * poll to sleep_poll_slow with a tail call and no frame. */
static inline __attribute__((always_inline)) weft_poll sleep_poll_first_body(const char *who,
                                                                            weft_sleep *s,
                                                                            weft_context *cx,
                                                                            bool charge)
{
    const weft_drivers *d = cx->drivers;
    timer_driver *td;
    if (d && d->pending && (td = d->timers) && (!s->group || s->group == td->group) &&
        context_waker_borrowable(cx, &s->entry, sizeof s->entry)) {
        if (charge && !weft_coop_proceed(cx)) return WEFT_PENDING; /* as the slow path's first step */
        s->group = td->group;
        if (s->entry.owner) td = s->entry.owner; /* sleep_bind: the shard it was armed on */
        return sleep_defer(s, td, cx, d->pending);
    }
    return sleep_poll_slow(who, s, cx, charge);
}

static __attribute__((noinline)) weft_poll sleep_poll_first(const char *who, weft_sleep *s,
                                                            weft_context *cx, bool charge)
{
    return sleep_poll_first_body(who, s, cx, charge);
}

static inline __attribute__((always_inline)) weft_poll sleep_poll_impl(const char *who, weft_sleep *s,
                                                                       weft_context *cx, bool charge)
{
    if (s->state == SLEEP_NEW && s->duration_ns) return sleep_poll_first(who, s, cx, charge);
    return sleep_poll_slow(who, s, cx, charge);
}

weft_poll weft_sleep_poll(weft_sleep *s, weft_context *cx)
{
    return sleep_poll_impl("weft_sleep_poll", s, cx, true);
}

int weft_sleep_result(const weft_sleep *s) { return s->result; }

uint64_t weft_sleep_deadline(const weft_sleep *s)
{
    /* stamped on demand (the caller is the owner; s is not const memory) */
    if (s->state == SLEEP_UNSTAMPED) sleep_stamp((weft_sleep *)s);
    return s->state == SLEEP_NEW ? 0 : s->deadline_ns;
}

void weft_sleep_reset(weft_sleep *s, uint64_t deadline_ns)
{
    /* The entry stays where it is: the next poll re-arms it in the same lock
     * hold that refreshes the waker (an armed entry moves in O(1)). A fired
     * entry at an earlier deadline does not count (poll_entry compares). */
    if (s->state == SLEEP_UNSTAMPED) {
        /* off the worker's list; the entry keeps its waker (linked stays
         * set: the next poll swaps it or the drop releases it) */
        pending_unlink(&s->entry.w);
    }
    s->deadline_ns = deadline_ns;
    s->state = SLEEP_NEW_UNTIL;
    s->result = 0;
}

void weft_sleep_drop(weft_sleep *s) { sleep_unlink(s); }

/* ---- timeout ----------------------------------------------------------------- */

void weft_timeout_init(weft_timeout *t, uint64_t duration_ns)
{
    sleep_init_inline(&t->sleep, duration_ns);
    t->done = 0;
    t->result = 0;
}

void weft_timeout_until_init(weft_timeout *t, uint64_t deadline_ns)
{
    weft_sleep_until_init(&t->sleep, deadline_ns);
    t->done = 0;
    t->result = 0;
}

/* The inner future won: the timer is cancelled (or unlinked, if unstamped). */
static __attribute__((noinline)) weft_poll timeout_inner_won(weft_timeout *t)
{
    sleep_finish(&t->sleep, 0);
    t->result = 0;
    t->done = 1;
    return WEFT_READY;
}

/* The timer's verdict once its sleep is READY. */
static inline weft_poll timeout_verdict(weft_timeout *t, weft_poll r)
{
    if (r == WEFT_PENDING) return WEFT_PENDING;
    int res = t->sleep.result;
    t->result = res ? res : -ETIMEDOUT;
    t->done = 1;
    return WEFT_READY;
}

static __attribute__((noinline)) weft_poll timeout_poll_first(weft_timeout *t, weft_context *cx)
{
    return timeout_verdict(t, sleep_poll_first_body("weft_timeout_poll", &t->sleep, cx, false));
}

static __attribute__((noinline)) weft_poll timeout_poll_slow(weft_timeout *t, weft_context *cx)
{
    return timeout_verdict(t, sleep_poll_slow("weft_timeout_poll", &t->sleep, cx, false));
}

/* A dispatch without a frame: each case is a tail call. No budget charge:
 * the inner leaf paid, and the deadline must be seen even when the inner
 * future spends the whole budget every turn. */
weft_poll weft_timeout_poll(weft_timeout *t, weft_context *cx, weft_poll inner_result)
{
    if (t->done) return WEFT_READY;
    if (inner_result == WEFT_READY) return timeout_inner_won(t);
    if (t->sleep.state == SLEEP_NEW && t->sleep.duration_ns) return timeout_poll_first(t, cx);
    return timeout_poll_slow(t, cx);
}

int weft_timeout_result(const weft_timeout *t) { return t->result; }

void weft_timeout_drop(weft_timeout *t) { weft_sleep_drop(&t->sleep); }

/* ---- interval ---------------------------------------------------------------- */

int weft_interval_init(weft_interval *iv, uint64_t period_ns, weft_missed_tick policy)
{
    weft_sleep_init(&iv->sleep, 0);
    iv->period_ns = period_ns;
    iv->next_ns = 0;
    iv->policy = (int32_t)policy;
    iv->started = 0;
    iv->result = 0;
    iv->reserved = 0;
    if (period_ns == 0) {
        iv->result = err_fail(-EINVAL, "weft_interval_init: the period must be > 0 ns");
    } else if (policy != WEFT_MISSED_BURST && policy != WEFT_MISSED_DELAY &&
               policy != WEFT_MISSED_SKIP) {
        iv->result = err_fail(-EINVAL, "weft_interval_init: unknown missed-tick policy %d "
                                       "(WEFT_MISSED_BURST, _DELAY or _SKIP)", (int)policy);
    }
    return iv->result;
}

/* The schedule after a tick scheduled at `sched` was delivered at `now`. */
static uint64_t interval_next(const weft_interval *iv, uint64_t sched, uint64_t now)
{
    uint64_t p = iv->period_ns;
    if (now <= timer_sat_add(sched, WEFT_INTERVAL_MISS_NS)) return timer_sat_add(sched, p);
    switch (iv->policy) {
    case WEFT_MISSED_DELAY:
        return timer_sat_add(now, p);
    case WEFT_MISSED_SKIP:
        return timer_sat_add(now, p - (now - sched) % p);
    default: /* WEFT_MISSED_BURST */
        return timer_sat_add(sched, p);
    }
}

weft_poll weft_interval_poll(weft_interval *iv, weft_context *cx, uint64_t *scheduled_ns_out)
{
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    if (scheduled_ns_out) *scheduled_ns_out = 0;
    if (iv->result) return WEFT_READY;
    timer_driver *td = NULL;
    int err = sleep_bind("weft_interval_poll", &iv->sleep, cx, &td);
    if (err) {
        sleep_finish(&iv->sleep, err);
        iv->result = err;
        return WEFT_READY;
    }
    uint64_t now = timer_driver_now(td);
    if (!iv->started) {
        iv->started = 1;
        iv->next_ns = now; /* tick 0 is due at once */
    }
    if (now < iv->next_ns) {
        if (sleep_wait(&iv->sleep, td, iv->next_ns, cx) == WEFT_PENDING) return WEFT_PENDING;
        now = timer_driver_now(td); /* fired after our read: the clock has passed next_ns */
        if (now < iv->next_ns) now = iv->next_ns;
    }
    /* A still-armed entry for this tick is left in place: the next wait
     * re-arms it in O(1) in the same lock hold, and usually it has fired. */
    uint64_t sched = iv->next_ns;
    iv->next_ns = interval_next(iv, sched, now);
    if (scheduled_ns_out) *scheduled_ns_out = sched;
    return WEFT_READY;
}

int weft_interval_result(const weft_interval *iv) { return iv->result; }

void weft_interval_drop(weft_interval *iv) { weft_sleep_drop(&iv->sleep); }
