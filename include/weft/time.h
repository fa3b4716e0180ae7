/*
 * weft/time.h - time futures: sleep, sleep_until, timeout and interval.
 *
 * All of them are leaf futures over the runtime's timer driver (one
 * hierarchical timing wheel per runtime, timers/wheel.c). Deadlines are
 * absolute CLOCK_MONOTONIC nanoseconds (weft_now_ns()) and are kept exact:
 * the wheel never rounds them to its tick, the driver sleeps until exactly
 * the earliest one, and a future is never READY before its deadline.
 *
 * Usage inside a coroutine (see weft/future.h):
 *
 *     struct st { int coro; weft_sleep s; };
 *     WEFT_CORO_BEGIN(st);
 *     weft_sleep_init(&st->s, 10 * WEFT_MS);
 *     WEFT_AWAIT(st, weft_sleep_poll(&st->s, cx));
 *     ... weft_sleep_result(&st->s) is 0 ...
 *     weft_sleep_drop(&st->s);              (also from the future's drop fn)
 *
 * Rules common to every future here:
 *   - The structs are visible only so that they can be embedded in a task's
 *     state; every field is private (weft/private.h). Initialise with the
 *     *_init function.
 *   - A future binds to the runtime of its first poll. Polling it later on a
 *     different runtime completes it at once with result -EXDEV (a clear
 *     error, never a hang); polling it with no runtime in the context
 *     completes it with -ENOTSUP.
 *   - The owner must call the *_drop function before the memory goes away
 *     (from its future type's drop function): it cancels an armed timer and
 *     releases the stored waker. Drop is idempotent and cheap once complete.
 *   - Drop must run before the runtime is freed (the runtime drops its
 *     tasks first, so a future inside a task is always in time).
 *   - A future is owned by one task: poll and drop are not thread-safe
 *     against each other (the timer driver is; the future's own fields are
 *     the owner's).
 */
#ifndef WEFT_TIME_H
#define WEFT_TIME_H

#include <stdint.h>

#include "weft/future.h"
#include "weft/runtime.h" /* weft_now_ns, WEFT_US / WEFT_MS / WEFT_SEC */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- private layouts (weft/private.h) ------------------------------------------ */
typedef struct weft_wheel_entry { WEFT_WHEEL_ENTRY_PRIVATE_FIELDS } weft_wheel_entry;
typedef struct weft_timer_entry { WEFT_TIMER_ENTRY_PRIVATE_FIELDS } weft_timer_entry;

/* ---- sleep / sleep_until ------------------------------------------------------ */
typedef struct weft_sleep {
    WEFT_SLEEP_PRIVATE_FIELDS /* private */
} weft_sleep;

/* Sleeps for `duration_ns`, counted from the FIRST poll. A zero-filled
 * weft_sleep is a valid sleep of 0 ns. The deadline is a precise
 * CLOCK_MONOTONIC read (weft_now_ns) + d, never before the clock at the
 * first poll + d: read at the first poll, or, when a task polls it with
 * its own waker, when that task poll returns (one read for every sleep
 * first polled in it; at most the rest of that poll later). */
void weft_sleep_init(weft_sleep *s, uint64_t duration_ns);

/* Sleeps until the absolute CLOCK_MONOTONIC time `deadline_ns`
 * (compare weft_now_ns()). A deadline in the past is READY at once. */
void weft_sleep_until_init(weft_sleep *s, uint64_t deadline_ns);

/* READY once now >= deadline (or on an error, see weft_sleep_result).
 * Charges one unit of the cooperative budget on every call. */
weft_poll weft_sleep_poll(weft_sleep *s, weft_context *cx);

/* After READY: 0, -EXDEV (polled on a runtime other than its first),
 * -ENOTSUP (polled outside a runtime). */
int weft_sleep_result(const weft_sleep *s);

/* Moves the deadline to `deadline_ns` (absolute) and makes the sleep
 * pending again, also after it completed. Keeps the runtime binding. */
void weft_sleep_reset(weft_sleep *s, uint64_t deadline_ns);

/* The absolute deadline, or 0 while a weft_sleep_init sleep has not been
 * polled yet. */
uint64_t weft_sleep_deadline(const weft_sleep *s);

/* Cancels the timer if armed and releases the stored waker. Idempotent. */
void weft_sleep_drop(weft_sleep *s);

/* ---- timeout -------------------------------------------------------------------
 * Bounds another future. Poll the inner future first and hand its result
 * to the timeout, inside one await:
 *
 *     weft_timeout_init(&st->to, 100 * WEFT_MS);
 *     WEFT_AWAIT(st, weft_timeout_poll(&st->to, cx, inner_poll(&st->inner, cx)));
 *     if (weft_timeout_result(&st->to) == -ETIMEDOUT) ... drop st->inner ...
 *
 * READY when the inner result is READY (the timer is cancelled, result 0;
 * the inner wins a tie, as in Tokio) or when the deadline passes (result
 * -ETIMEDOUT; the inner future was not completed and its owner must drop
 * it). The timeout itself charges no budget (the inner leaf did), so a
 * deadline is still noticed when the inner future spends the whole budget.
 * The deadline is computed as weft_sleep_init's (from the first poll). */
typedef struct weft_timeout {
    WEFT_TIMEOUT_PRIVATE_FIELDS /* private */
} weft_timeout;

void weft_timeout_init(weft_timeout *t, uint64_t duration_ns);
void weft_timeout_until_init(weft_timeout *t, uint64_t deadline_ns);
weft_poll weft_timeout_poll(weft_timeout *t, weft_context *cx, weft_poll inner_result);
/* After READY: 0, -ETIMEDOUT, -EXDEV, -ENOTSUP. */
int weft_timeout_result(const weft_timeout *t);
void weft_timeout_drop(weft_timeout *t);

/* ---- interval ------------------------------------------------------------------
 * Tick k is scheduled at start + k * period, start being the first poll
 * (tick 0 is READY at once). When a tick is delivered more than
 * WEFT_INTERVAL_MISS_NS late (Tokio's 5 ms, so ordinary wake-up jitter
 * does not shift the schedule) the policy decides the next one:
 *   BURST: the next tick stays at scheduled + period, so the missed
 *          ticks fire back to back until the schedule is caught up;
 *   DELAY: the next tick is now + period (the schedule shifts);
 *   SKIP:  the next tick is the next multiple of the period after now
 *          on the original schedule (missed ticks are dropped). */
typedef enum weft_missed_tick {
    WEFT_MISSED_BURST = 0,
    WEFT_MISSED_DELAY = 1,
    WEFT_MISSED_SKIP = 2
} weft_missed_tick;

#define WEFT_INTERVAL_MISS_NS 5000000ull

typedef struct weft_interval {
    WEFT_INTERVAL_PRIVATE_FIELDS /* private */
} weft_interval;

/* 0, or -EINVAL for a zero period or an unknown policy (the interval then
 * completes every tick at once with result -EINVAL). */
int weft_interval_init(weft_interval *iv, uint64_t period_ns, weft_missed_tick policy);

/* READY when the next tick is due; *scheduled_ns_out (may be NULL) gets the
 * tick's scheduled time (absolute ns). Charges one unit of budget. On an
 * error it is READY at once, *scheduled_ns_out is 0 and
 * weft_interval_result tells why. */
weft_poll weft_interval_poll(weft_interval *iv, weft_context *cx, uint64_t *scheduled_ns_out);

/* 0, -EINVAL, -EXDEV or -ENOTSUP (sticky). */
int weft_interval_result(const weft_interval *iv);
void weft_interval_drop(weft_interval *iv);

#ifdef __cplusplus
}
#endif
#endif
