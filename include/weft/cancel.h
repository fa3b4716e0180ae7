/*
 * weft/cancel.h - cancellation tokens.
 *
 * A token is fired once, from any thread (a task, a signal-handling thread,
 * a thread of no runtime), and stays fired. Every future waiting on it is
 * woken; every later wait is READY at once. A child token (weft_cancel_child_new)
 * fires when its parent fires, and can also be fired alone (cancelling a
 * subtree of the work without touching the rest).
 *
 * ## Safety
 * The token is heap-allocated and reference counted: _new gives one
 * reference, _clone adds one, _free releases one, the last frees it. A
 * child holds a reference to its parent. Firing is safe from any thread at
 * any time the caller holds a reference, including while the runtimes
 * whose tasks wait on it are being freed: firing takes each waiter's waker
 * out under the token's lock and wakes it after, and a waker may be woken
 * at any time before it is dropped (a task dropped by shutdown has
 * completed, so its wake is a no-op). A task that waits on a token must
 * call weft_cancel_wait_drop from its drop function.
 *
 * ## Waiting, and composing like weft_timeout
 *     weft_cancel_wait_init(&st->stop, token);
 *     WEFT_AWAIT(st, weft_cancel_poll(&st->stop, cx, inner_poll(&st->inner, cx)));
 *     if (weft_cancel_wait_result(&st->stop) == -ECANCELED) ... drop st->inner ...
 * READY when the inner result is READY (result 0: the inner wins a tie, as
 * for weft_timeout; the waiter is unregistered) or once the token is fired
 * (result -ECANCELED; the inner future did not complete and its owner must
 * drop it). The waiter can be awaited again after READY (a loop of reads
 * bounded by one token re-uses it). weft_cancel_wait_poll waits for the
 * token alone (and charges one unit of budget; the combinator charges none,
 * its inner leaf did).
 *
 * Errors: NULL arguments are -EINVAL with a message in weft_last_error(); a
 * waiter initialised with a NULL token is READY with result -EINVAL.
 */
#ifndef WEFT_CANCEL_H
#define WEFT_CANCEL_H

#include <stdint.h>

#include "weft/future.h"
#include "weft/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_cancel weft_cancel;

int weft_cancel_new(weft_cancel **out);                             /* 0, -EINVAL, -ENOMEM */
/* A child starts fired when its parent already is. */
int weft_cancel_child_new(weft_cancel *parent, weft_cancel **out); /* 0, -EINVAL, -ENOMEM */
int weft_cancel_clone(weft_cancel *t);                              /* 0, -EINVAL */
void weft_cancel_free(weft_cancel *t);                              /* NULL: no-op */

/* 1 if this call fired the token, 0 if it was already fired, -EINVAL.
 * Wakes every waiter (outside the token's lock) and fires every child. */
int weft_cancel_fire(weft_cancel *t);
/* 1 fired, 0 not yet, -EINVAL. acquire: what the firing thread wrote
 * before weft_cancel_fire is visible after a 1. */
int weft_cancel_is_fired(const weft_cancel *t);

typedef struct weft_cancel_wait {
    WEFT_CANCEL_WAIT_PRIVATE_FIELDS /* private */
} weft_cancel_wait;

void weft_cancel_wait_init(weft_cancel_wait *w, weft_cancel *t);
/* The combinator (see above). */
weft_poll weft_cancel_poll(weft_cancel_wait *w, weft_context *cx, weft_poll inner_result);
/* READY once fired (result -ECANCELED). */
weft_poll weft_cancel_wait_poll(weft_cancel_wait *w, weft_context *cx);
/* After READY: 0 (inner completed), -ECANCELED (fired), -EINVAL. */
int weft_cancel_wait_result(const weft_cancel_wait *w);
/* Unregisters and releases the stored waker. Idempotent. */
void weft_cancel_wait_drop(weft_cancel_wait *w);

#ifdef __cplusplus
}
#endif
#endif
