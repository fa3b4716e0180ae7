/*
 * timers/timer.h - the runtime's timer driver: one timing wheel behind one
 * lock, an injectable clock, and wakers on the entries. The time futures
 * of weft/time.h are built on it (timer.c). Design notes are in timer.c.
 *
 * Who calls what:
 *   any thread  timer_driver_arm, timer_driver_cancel, timer_driver_poll_entry,
 *               timer_driver_next_deadline, timer_driver_now
 *   the one thread that drives timers (the worker that parks in the
 *               reactor, or the reactor thread):
 *               timer_driver_park_begin / timer_driver_park_end around its
 *               sleep, timer_driver_fire after it wakes
 *   the runtime, single-threaded: timer_driver_init, timer_driver_destroy,
 *               timer_driver_join_group
 *
 * Which driver a future arms on is not this module's question: the worker
 * loop passes the worker's driver down in the poll context
 * (common/context.h), and nothing here calls up into the runtime.
 *
 * Groups. Every driver carries a group tag, unique among all drivers ever
 * initialised in the process (a counter, never reused). A runtime with
 * several shards puts them in one group (timer_driver_join_group). A
 * future records the group of its first poll and refuses (-EXDEV) a
 * context whose driver is of another group: another runtime, or a freed
 * runtime's successor at the same address. Within its group a future
 * stays on the shard it was first armed on (entry->owner), which is then
 * known to be alive, because the group is.
 *
 * Entry lifetime: an entry belongs to its owner (a future). The driver
 * touches an entry only under its lock; once the owner has seen `fired` or
 * has cancelled it (both under the lock) it may free the entry at once.
 * An entry on a worker's timer_pending list (below) is in no wheel yet and
 * is touched only by that worker's thread, during one task poll.
 */
#ifndef WEFT_TIMERS_TIMER_H
#define WEFT_TIMERS_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/future.h"
#include "weft/time.h"
#include "timers/wheel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fields (see weft/time.h for the layout the futures embed):
 *   w      the wheel node (under the driver lock)
 *   waker  the waker to wake when it fires (under the driver lock)
 *   borrowed  waker holds no reference: it is the polling task's own and
 *          the entry lives in that task's state (timer.c, BORROWED WAKERS)
 *   owner  the driver it was first armed on; set by arm, read by the owner
 *   fired  1 once the driver fired it and moved the waker out, 0 on arm
 *          (under the driver lock) */
typedef weft_timer_entry timer_entry;

#ifndef __cplusplus
#include <stdatomic.h>
#include <stdbool.h>
/* C++ (the benchmarks) sees the driver as opaque: the lock uses C11 atomics. */
/* The lock: a futex lock inlined into its callers (timer.c, LOCKING, says
 * why not a pthread mutex and not a spinlock). state: 0 free, 1 held,
 * 2 held and a thread may sleep on it. */
typedef struct timer_lock { _Atomic uint32_t state; } timer_lock;

typedef struct timer_driver {
    timer_lock lock;
    wheel wheel;                  /* under lock */
    _Atomic size_t armed;         /* the wheel's count, stored (relaxed) before every
                                     unlock: timer_driver_empty's lock-free hint */
    uint64_t parked_until;        /* under lock: the deadline the parker sleeps until */
    int parked;                   /* under lock: between park_begin and park_end */
    uint64_t (*now)(void *ctx);   /* immutable after init */
    void *now_ctx;
    void (*notify)(void *ctx);    /* immutable after init; may be NULL */
    void *notify_ctx;
    uint64_t group;               /* immutable once the runtime runs (see Groups) */
    int notify_unparked;          /* immutable once the runtime runs: see timer_driver_init */
    int single_thread;            /* immutable once the runtime runs: no lock (timer.c,
                                     SINGLE-THREADED DRIVERS) */
} timer_driver;

static inline uint64_t timer_driver_now(const timer_driver *td) { return td->now(td->now_ctx); }

/* True when no timer was armed at the last unlock: a caller that fires
 * opportunistically (the workers' maintenance tick) skips the clock read
 * and the lock. A timer armed a moment later is not due at that moment
 * (an arm whose deadline has passed completes without arming), and the
 * driving thread reads the next deadline under the lock before it sleeps,
 * so a stale answer delays nothing that is due. */
static inline bool timer_driver_empty(timer_driver *td)
{
    return atomic_load_explicit(&td->armed, memory_order_relaxed) == 0;
}
#else
typedef struct timer_driver timer_driver;
#endif

/* Wakers moved out per lock hold in timer_driver_fire: 64 * 16 bytes of
 * stack, and the lock is dropped at least every 64 entries so arms and
 * cancels from other threads never wait behind a long expiry. */
#define TIMER_FIRE_BATCH 64

/* tick_ns 0: 1 ms. now NULL: CLOCK_MONOTONIC (clock_now_ns). notify (may
 * be NULL) is called, outside the lock, when an arm makes the earliest
 * deadline earlier than the one the parker sleeps until: it must wake the
 * parker (e.g. write the reactor's eventfd) and be safe from any thread.
 * With td->notify_unparked set (by the owner, before use) notify is also
 * called when an arm finds the wheel empty and nobody parked: the runtime
 * then hands the driver to an idle worker, so a timer armed by a worker
 * that is about to stay busy does not wait for it.
 * 0 or -EINVAL (message in err_last()). */
int timer_driver_init(timer_driver *td, uint64_t tick_ns, uint64_t (*now)(void *ctx),
                      void *now_ctx, void (*notify)(void *ctx), void *notify_ctx);

/* Detaches every entry still armed and drops its waker. Entries are left
 * IDLE with owner NULL, so a later drop of their future is a no-op. */
void timer_driver_destroy(timer_driver *td);

/* Puts td in leader's group (both initialised, no future bound to td yet). */
void timer_driver_join_group(timer_driver *td, const timer_driver *leader);

/* Heap-allocated driver (same arguments; NULL on failure), for callers that
 * cannot see the struct (C++). */
timer_driver *timer_driver_new(uint64_t tick_ns, uint64_t (*now)(void *ctx), void *now_ctx,
                               void (*notify)(void *ctx), void *notify_ctx);
void timer_driver_free(timer_driver *td);

/* Makes e IDLE, unowned, with no waker. Once, before first use. */
void timer_entry_init(timer_entry *e);

/* Arms (or re-arms) e at deadline_ns. If waker is not NULL a clone of it
 * replaces the stored one (unless it wakes the same task already); NULL
 * keeps the stored waker. Clears `fired`. 0, or -EXDEV if e belongs to
 * another driver. */
int timer_driver_arm(timer_driver *td, timer_entry *e, uint64_t deadline_ns,
                     const weft_waker *waker);

/* Disarms e and drops its waker. True if it was armed (it will not fire),
 * false if it was idle or already fired. */
bool timer_driver_cancel(timer_driver *td, timer_entry *e);

/* The poll step of a timer future, in one lock hold: READY if e fired at a
 * deadline >= deadline_ns; otherwise arms e at deadline_ns if it is not
 * armed there already, stores a clone of `waker` and returns PENDING.
 * e must not belong to another driver (the futures check that first). */
weft_poll timer_driver_poll_entry(timer_driver *td, timer_entry *e, uint64_t deadline_ns,
                                  const weft_waker *waker);

/* Exact earliest deadline, UINT64_MAX if none. */
uint64_t timer_driver_next_deadline(timer_driver *td);

/* Bracket the parker's sleep: park_begin returns the deadline to sleep
 * until (UINT64_MAX: no timer) and from then on an arm of an earlier
 * deadline calls notify. park_end stops that. A notify that arrives
 * between park_begin and the sleep must make the sleep return at once
 * (an eventfd does: the write stays pending). */
uint64_t timer_driver_park_begin(timer_driver *td);
void timer_driver_park_end(timer_driver *td);

/* Fires every entry due at now_ns: under the lock, up to TIMER_FIRE_BATCH
 * expired entries are detached in deadline order, marked fired and their
 * wakers moved into a local array; the lock is dropped and the batch woken;
 * repeat. Returns how many entries fired. */
size_t timer_driver_fire(timer_driver *td, uint64_t now_ns);

/* Armed entries (a snapshot). */
size_t timer_driver_count(timer_driver *td);

/* ---- deferred stamps (timer.c, DEFERRED STAMP) ----
 * A worker's list of the sleeps (and timeouts) first polled in the task
 * poll under way: their entries are linked here through the wheel node's
 * links, not yet in any wheel, deadline not yet computed. Owner thread
 * only; NULL-terminated, head.next the newest, the head the first entry's
 * prev, so an entry unlinks without knowing the list. */
typedef struct timer_pending {
    weft_wheel_entry head;
} timer_pending;

/* Makes p empty. Once, before first use. */
void timer_pending_init(timer_pending *p);

/* True when some sleep waits for its stamp: the worker must call
 * timer_pending_flush before the polled task can be seen by another
 * thread (before its state word leaves RUNNING). */
static inline bool timer_pending_any(const timer_pending *p) { return p->head.next != NULL; }

/* Stamps every listed sleep with one precise clock read (taken now, after
 * each one's first poll) + its duration and arms it on its owner driver;
 * p is empty afterwards. */
void timer_pending_flush(timer_pending *p);

/* Listed sleeps (owner thread only): weft_runtime_timers_armed counts them
 * as armed, which they are from the task's point of view. */
size_t timer_pending_count(const timer_pending *p);

/* Set by the owner before use (td->single_thread = 1) when one thread at a
 * time makes every call on td but timer_driver_count, and whoever calls
 * next orders itself after the previous caller (a thread join, a hand-off
 * by acquire/release): the lock is then skipped. timer_driver_count stays
 * safe from any thread (it reads the count published at the last call). */

#ifdef __cplusplus
}
#endif
#endif
