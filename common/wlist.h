/*
 * common/wlist.h - the intrusive waiter list and the wake batch shared by
 * the sync objects (common/sync.c), the MPMC channel (common/mpmc.c), the
 * cancellation token (common/cancel.c), select (common/select.c) and
 * join_all (schedulers/join_all.c).
 *
 * A waiter is embedded in a waiting future (weft_waiter, weft/sync.h) and is
 * linked, unlinked and granted only under its object's lock. Wakers taken
 * out under the lock go into a wake_batch and are woken after the lock is
 * released, so no waker ever runs under a weft lock. WAKE_BATCH bounds the
 * stack used per round: 32 wakers (512 bytes); a caller with more to wake
 * relocks and takes the next batch from the live list (never from a list
 * detached from the object, whose elements could be dropped in between).
 */
#ifndef WEFT_COMMON_WLIST_H
#define WEFT_COMMON_WLIST_H

#include "weft/future.h"
#include "weft/sync.h"

typedef struct wlist {
    weft_waiter *head, *tail;
} wlist;

/* Waiter states in weft_waiter.state. */
enum { WL_IDLE = 0, WL_QUEUED = 1, WL_GRANTED = 2 };

static inline void wlist_push(wlist *l, weft_waiter *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail) l->tail->next = w;
    else l->head = w;
    l->tail = w;
    w->state = WL_QUEUED;
}

static inline void wlist_remove(wlist *l, weft_waiter *w)
{
    if (w->prev) w->prev->next = w->next;
    else l->head = w->next;
    if (w->next) w->next->prev = w->prev;
    else l->tail = w->prev;
    w->prev = w->next = NULL;
}

#define WAKE_BATCH 32
typedef struct wake_batch {
    weft_waker w[WAKE_BATCH];
    int n;
} wake_batch;

/* Under the lock: unlink the head waiter, give it `state`, move its waker
 * into the batch. */
static inline void wake_batch_take(wake_batch *b, wlist *l, int state)
{
    weft_waiter *x = l->head;
    wlist_remove(l, x);
    x->state = state;
    b->w[b->n++] = x->waker;
    x->waker = WEFT_WAKER_NONE;
}

static inline void wake_batch_run(wake_batch *b)
{
    for (int i = 0; i < b->n; i++) weft_waker_wake(&b->w[i]);
    b->n = 0;
}


#endif
