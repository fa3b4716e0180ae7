/*
 * weft/sync.h - synchronisation between tasks (and plain threads):
 * one-shot channels, bounded multi-producer channels, notify, and a fair
 * semaphore (an async mutex is a semaphore of 1).
 *
 * The objects are heap-allocated and opaque. The futures that wait on them
 * (recv, send, notified, acquire) are small structs a coroutine embeds in
 * its state: init, WEFT_AWAIT the poll, and call the matching *_drop from
 * the task's drop function so a task cancelled mid-wait leaves no waiter
 * behind. Every call returns 0 or a negative errno; a peer that went away
 * is -EPIPE. Wakes happen outside the objects' locks.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- one-shot channel --------------------------------------------------------
 * One value, one sender, one receiver. new() returns an object owned by both
 * sides: each side releases it exactly once (send or sender_drop;
 * a READY recv_poll or receiver_drop). */
typedef struct weft_oneshot weft_oneshot;
int weft_oneshot_new(weft_oneshot **out);
/* Sends and releases the sender side. -EPIPE if the receiver is gone (the
 * value is discarded). */
int weft_oneshot_send(weft_oneshot *o, uint64_t value);
void weft_oneshot_sender_drop(weft_oneshot *o);
/* READY with *result 0 and *value set, or *result -EPIPE when the sender was
 * dropped without sending; READY releases the receiver side. */
weft_poll weft_oneshot_recv_poll(weft_oneshot *o, weft_context *cx, uint64_t *value, int *result);
void weft_oneshot_receiver_drop(weft_oneshot *o);

/* ---- bounded multi-producer channel -------------------------------------------
 * Capacity 1..2^24 values. Senders: the creator holds one; clone more with
 * weft_channel_sender_clone; each is released with weft_channel_sender_drop.
 * When every sender is gone the receiver drains what is left, then gets
 * -EPIPE. One receiver, released with weft_channel_receiver_drop; after that
 * sends fail with -EPIPE. */
typedef struct weft_channel weft_channel;
int weft_channel_new(size_t capacity, weft_channel **out);
void weft_channel_sender_clone(weft_channel *c);
void weft_channel_sender_drop(weft_channel *c);
void weft_channel_receiver_drop(weft_channel *c);
/* Non-blocking: 0, -EAGAIN (full), -EPIPE (receiver gone). */
int weft_channel_try_send(weft_channel *c, uint64_t value);
/* Non-blocking: 0, -EAGAIN (empty), -EPIPE (empty and every sender gone). */
int weft_channel_try_recv(weft_channel *c, uint64_t *value);
size_t weft_channel_len(weft_channel *c);

/* A waiter (private fields: weft/private.h): embedded in the send/notified/acquire futures. */
typedef struct weft_waiter {
    WEFT_WAITER_PRIVATE_FIELDS /* private */
} weft_waiter;

typedef struct weft_channel_send {
    WEFT_CHANNEL_SEND_PRIVATE_FIELDS /* private */
} weft_channel_send;
void weft_channel_send_init(weft_channel_send *op, weft_channel *c, uint64_t value);
/* READY with *result 0 (sent) or -EPIPE (receiver gone). */
weft_poll weft_channel_send_poll(weft_channel_send *op, weft_context *cx, int *result);
void weft_channel_send_drop(weft_channel_send *op);

/* READY with *result 0 and *value, or -EPIPE once empty with no senders. */
weft_poll weft_channel_recv_poll(weft_channel *c, weft_context *cx, uint64_t *value, int *result);

/* ---- notify --------------------------------------------------------------------
 * notify_one wakes one waiter, or stores a single permit that the next
 * notified() consumes at once (Tokio's semantics); notify_all wakes every
 * current waiter and stores nothing. */
typedef struct weft_notify weft_notify;
int weft_notify_new(weft_notify **out);
void weft_notify_free(weft_notify *n);
void weft_notify_one(weft_notify *n);
void weft_notify_all(weft_notify *n);

typedef struct weft_notified {
    WEFT_NOTIFIED_PRIVATE_FIELDS /* private */
} weft_notified;
void weft_notified_init(weft_notified *op, weft_notify *n);
weft_poll weft_notified_poll(weft_notified *op, weft_context *cx);
void weft_notified_drop(weft_notified *op);

/* ---- semaphore (and async mutex) -------------------------------------------------
 * FIFO-fair: a waiter asking for more permits than are free blocks those
 * behind it. */
typedef struct weft_semaphore weft_semaphore;
int weft_semaphore_new(uint64_t permits, weft_semaphore **out);
void weft_semaphore_free(weft_semaphore *s);
void weft_semaphore_release(weft_semaphore *s, uint64_t permits);
int weft_semaphore_try_acquire(weft_semaphore *s, uint64_t permits); /* 0 or -EAGAIN */
uint64_t weft_semaphore_available(weft_semaphore *s);

typedef struct weft_semaphore_acquire {
    WEFT_SEMAPHORE_ACQUIRE_PRIVATE_FIELDS /* private */
} weft_semaphore_acquire;
void weft_semaphore_acquire_init(weft_semaphore_acquire *op, weft_semaphore *s, uint64_t permits);
/* READY once the permits are held (release them with weft_semaphore_release). */
weft_poll weft_semaphore_acquire_poll(weft_semaphore_acquire *op, weft_context *cx);
/* If granted but never observed, the permits are given back. */
void weft_semaphore_acquire_drop(weft_semaphore_acquire *op);

#ifdef __cplusplus
}
#endif
#endif
