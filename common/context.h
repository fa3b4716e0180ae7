/*
 * common/context.h - the handles a leaf future needs, passed down in its
 * poll context.
 *
 * A timer future needs a timer driver and a socket future needs a
 * reactor; both belong to the runtime, which sits above timers/ and
 * reactor/. Rather than let those layers ask the runtime ("which driver
 * does the calling thread arm on?"), the worker loop hands the answer
 * down: each worker owns one weft_drivers (its timer shard and the
 * runtime's reactor, fixed at runtime creation) and every weft_context
 * it polls with points at it. Tokio passes a driver handle the same way;
 * libuv's loop owns its parts. A context built outside a worker (a thread
 * awaiting a join handle, a test) has no drivers: timer and socket futures
 * then complete with -ENOTSUP or -EXDEV instead of arming somewhere.
 *
 * Only pointers to incomplete types appear here, so common/ still depends
 * on nothing above it.
 */
#ifndef WEFT_COMMON_CONTEXT_H
#define WEFT_COMMON_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "weft/future.h"

struct timer_driver;
struct timer_pending;
struct reactor;

/* Immutable while the runtime lives; read by the futures of the worker it
 * belongs to. */
struct weft_drivers {
    struct timer_driver *timers; /* the worker's timer shard */
    struct reactor *reactor;     /* the runtime's reactor */
    /* True when cx's waker is the polled task's own and p[0..n) lies inside
     * that task's future state: a leaf future stored there may then keep
     * the waker borrowed, without a reference, because the state (and so
     * the task) outlives every use the future makes of it (the state is
     * dropped by a poller holding the task's queue reference, and the
     * future detaches the waker in its drop). timers/timer.c arms without a
     * clone this way (BORROWED WAKERS there). The runtime, the one layer
     * that knows the task layout, supplies it (schedulers/driver.c); NULL:
     * never borrow. */
    bool (*waker_borrowable)(const weft_context *cx, const void *p, size_t n);
    /* The worker's list of sleeps first polled in the task poll under way,
     * whose deadline the worker stamps when that poll returns
     * (timers/timer.c, DEFERRED STAMP; the list itself is mutable, owner
     * thread only). NULL: stamp at the first poll. */
    struct timer_pending *pending;
};
typedef struct weft_drivers weft_drivers;

static inline struct timer_driver *context_timers(const weft_context *cx)
{
    return cx->drivers ? cx->drivers->timers : NULL;
}

/* See weft_drivers.waker_borrowable; false outside a worker. */
static inline bool context_waker_borrowable(const weft_context *cx, const void *p, size_t n)
{
    return cx->drivers && cx->drivers->waker_borrowable && cx->drivers->waker_borrowable(cx, p, n);
}

static inline struct reactor *context_reactor(const weft_context *cx)
{
    return cx->drivers ? cx->drivers->reactor : NULL;
}

#endif
