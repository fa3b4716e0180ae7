/*
 * weft/mpmc.h - bounded multi-producer multi-consumer channels of typed
 * elements.
 *
 * Elements are values of a size fixed at creation, copied in by a send and
 * out by a recv. Each element sent is received exactly once, by one of any
 * number of receivers. An element that is never received (still queued
 * when the last receiver goes away, or when the channel is freed) is passed
 * to the channel's drop function, so pointer payloads do not leak.
 *
 * ## Handles
 * The channel is reference counted. weft_mpmc_new gives the caller one
 * sender and one receiver handle (both are the same pointer; what a call
 * releases is said by its name). More are made with *_clone; an observer
 * (a monitor that only reads len or closes) holds a plain reference from
 * weft_mpmc_clone. Each handle is released exactly once (sender_drop,
 * receiver_drop, weft_mpmc_free); the last release frees the channel. Every call
 * is safe on a channel the caller holds a handle of, from any thread, at
 * any time. A send/recv future borrows its caller's handle: drop the future
 * before releasing the handle.
 *
 * ## Closing, and what the other side sees
 *   weft_mpmc_close (any handle) or the last sender_drop: no more sends.
 *       Sends (try, and every pending send future) fail with -EPIPE, the
 *       value staying the caller's; receivers drain what is queued, then
 *       get -EPIPE.
 *   the last receiver_drop: no more sends (-EPIPE as above) and every
 *       queued element is dropped at once (the drop function, outside any
 *       lock, on the thread that released the last receiver).
 *
 * ## The futures (embedded: _init, WEFT_AWAIT the _poll, _drop)
 *   send: from _init the future owns the element at `elem` (the caller's
 *       buffer, which must stay put until READY or _drop). READY 0: moved
 *       into the channel. READY -EPIPE: not sent, the element is the
 *       caller's again (still in its buffer). Dropped before READY: not
 *       sent, and the drop function runs on it (not leaked).
 *   recv: READY 0: the element is in `out` and is the caller's. READY
 *       -EPIPE: closed and drained. Dropped before READY: nothing is lost
 *       (elements stay queued until a recv returns them; a receiver that
 *       was woken for an element and dropped passes the wake on).
 * Senders are served FIFO (a newcomer does not overtake a waiting sender);
 * receivers that wait are woken one per queued element.
 *
 * Errors: bad arguments are -EINVAL with a message in weft_last_error();
 * a future initialised with a NULL channel is READY with -EINVAL.
 */
#ifndef WEFT_MPMC_H
#define WEFT_MPMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/future.h"
#include "weft/sync.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_MPMC_MAX_CAPACITY (1u << 24)
#define WEFT_MPMC_MAX_ELEM_SIZE (1u << 20)

typedef struct weft_mpmc weft_mpmc;
typedef void (*weft_mpmc_drop_fn)(void *elem);

/* capacity 1..WEFT_MPMC_MAX_CAPACITY, elem_size 1..WEFT_MPMC_MAX_ELEM_SIZE,
 * drop may be NULL (plain values). 0, -EINVAL, -ENOMEM. */
int weft_mpmc_new(size_t capacity, size_t elem_size, weft_mpmc_drop_fn drop, weft_mpmc **out);

/* 0, -EINVAL (NULL), -EPIPE (no sender / receiver is left to clone). */
int weft_mpmc_sender_clone(weft_mpmc *c);
int weft_mpmc_receiver_clone(weft_mpmc *c);
int weft_mpmc_clone(weft_mpmc *c);
/* 0, -EINVAL (NULL, or no such handle is held: a double release). */
int weft_mpmc_sender_drop(weft_mpmc *c);
int weft_mpmc_receiver_drop(weft_mpmc *c);
int weft_mpmc_free(weft_mpmc *c);

/* Closes for sending (see above). 0, or -EINVAL. Idempotent. */
int weft_mpmc_close(weft_mpmc *c);
/* 1 closed for sending, 0 open, -EINVAL. */
int weft_mpmc_is_closed(weft_mpmc *c);
/* Queued elements (>= 0), or -EINVAL. */
long weft_mpmc_len(weft_mpmc *c);

/* Non-blocking. try_send copies *elem in: 0 (moved), -EAGAIN (full, or
 * senders are waiting), -EPIPE (closed); on failure the element stays the
 * caller's. try_recv: 0 (*out set), -EAGAIN (empty), -EPIPE (closed and
 * drained). */
int weft_mpmc_try_send(weft_mpmc *c, const void *elem);
int weft_mpmc_try_recv(weft_mpmc *c, void *out);

typedef struct weft_mpmc_send {
    WEFT_MPMC_SEND_PRIVATE_FIELDS /* private */
} weft_mpmc_send;
void weft_mpmc_send_init(weft_mpmc_send *op, weft_mpmc *c, void *elem);
/* READY with *result (may be NULL) 0, -EPIPE or -EINVAL; charges one unit
 * of budget. Polling again after READY returns the same result. */
weft_poll weft_mpmc_send_poll(weft_mpmc_send *op, weft_context *cx, int *result);
int weft_mpmc_send_result(const weft_mpmc_send *op);
void weft_mpmc_send_drop(weft_mpmc_send *op);

typedef struct weft_mpmc_recv {
    WEFT_MPMC_RECV_PRIVATE_FIELDS /* private */
} weft_mpmc_recv;
void weft_mpmc_recv_init(weft_mpmc_recv *op, weft_mpmc *c, void *out);
/* READY with *result 0 (*out set), -EPIPE (closed and drained) or -EINVAL. */
weft_poll weft_mpmc_recv_poll(weft_mpmc_recv *op, weft_context *cx, int *result);
int weft_mpmc_recv_result(const weft_mpmc_recv *op);
void weft_mpmc_recv_drop(weft_mpmc_recv *op);

#ifdef __cplusplus
}
#endif
#endif
