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

#include <stddef.h>

#include "weft/future.h"

struct timer_driver;
struct reactor;

/* Immutable while the runtime lives; read by the futures of the worker it
 * belongs to. */
struct weft_drivers {
    struct timer_driver *timers; /* the worker's timer shard */
    struct reactor *reactor;     /* the runtime's reactor */
};
typedef struct weft_drivers weft_drivers;

static inline struct timer_driver *context_timers(const weft_context *cx)
{
    return cx->drivers ? cx->drivers->timers : NULL;
}

static inline struct reactor *context_reactor(const weft_context *cx)
{
    return cx->drivers ? cx->drivers->reactor : NULL;
}
#endif
