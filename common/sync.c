/*
 * common/sync.c - one-shot channels, bounded channels, notify, semaphores.
 *
 * The one-shot channel is lock-free: it is on the hot path of message
 * passing (ping_pong creates two per round trip). Its state word follows
 * the join handle's protocol (schedulers/task.c): the receiver writes its
 * waker into rx_waker and publishes it by setting RX_WAKER with a CAS that
 * fails once the sender closed; the sender closes with one CAS that sets
 * VALUE/TX_CLOSED and clears RX_WAKER, and thereby takes the waker if it
 * was published. Exactly one side consumes each waker.
 *
 * The other objects are a spinlock around a small structure plus an
 * intrusive list of waiters embedded in the waiting futures. Waiters are
 * granted (and their wakers moved out) under the lock, and woken after it
 * is released, so a waker never runs under a weft lock. A waiting future
 * that is dropped unlinks itself under the lock; if it had been granted a
 * value or permits it never observed, it hands them back.
 */
#include "weft/sync.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/spinlock.h"
#include "common/wlist.h"

/* ---- one-shot ------------------------------------------------------------------- */

enum { OS_VALUE = 1, OS_TX_CLOSED = 2, OS_RX_CLOSED = 4, OS_RX_WAKER = 8 };

struct weft_oneshot {
    _Atomic uint32_t state;
    _Atomic int refs;
    uint64_t value;       /* written by the sender before OS_VALUE (release) */
    weft_waker rx_waker;  /* see the protocol above */
};

int weft_oneshot_new(weft_oneshot **out)
{
    weft_oneshot *o = malloc(sizeof *o);
    if (!o) return -ENOMEM;
    atomic_init(&o->state, 0);
    atomic_init(&o->refs, 2);
    o->value = 0;
    o->rx_waker = WEFT_WAKER_NONE;
    *out = o;
    return 0;
}

static void oneshot_release(weft_oneshot *o)
{
    /* acq_rel: the last side to leave sees the other's writes, then frees */
    if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1) free(o);
}

static int oneshot_close_tx(weft_oneshot *o, bool with_value, uint64_t value)
{
    if (with_value) o->value = value;
    uint32_t add = OS_TX_CLOSED | (with_value ? OS_VALUE : 0);
    uint32_t cur = atomic_load_explicit(&o->state, memory_order_relaxed);
    /* release publishes value; acquire sees the receiver's rx_waker write */
    while (!atomic_compare_exchange_weak_explicit(&o->state, &cur, (cur | add) & ~(uint32_t)OS_RX_WAKER,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
    }
    if (cur & OS_RX_WAKER) {
        weft_waker w = o->rx_waker; /* ours now */
        weft_waker_wake(&w);
    }
    int rc = (cur & OS_RX_CLOSED) ? -EPIPE : 0;
    oneshot_release(o);
    return rc;
}

int weft_oneshot_send(weft_oneshot *o, uint64_t value)
{
    if (!o) return -EINVAL;
    return oneshot_close_tx(o, true, value);
}

void weft_oneshot_sender_drop(weft_oneshot *o)
{
    if (o) oneshot_close_tx(o, false, 0);
}

static weft_poll oneshot_take(weft_oneshot *o, uint32_t cur, uint64_t *value, int *result)
{
    if (cur & OS_VALUE) {
        if (value) *value = o->value;
        *result = 0;
    } else {
        *result = -EPIPE;
    }
    oneshot_release(o);
    return WEFT_READY;
}

weft_poll weft_oneshot_recv_poll(weft_oneshot *o, weft_context *cx, uint64_t *value, int *result)
{
    int dummy;
    if (!result) result = &dummy;
    if (!o) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    /* the budget is charged first, ready or not (as for join handles) */
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    /* acquire pairs with the sender's release */
    uint32_t cur = atomic_load_explicit(&o->state, memory_order_acquire);
    if (cur & OS_TX_CLOSED) return oneshot_take(o, cur, value, result);
    const weft_waker *w = weft_context_waker(cx);
    if (cur & OS_RX_WAKER) {
        if (weft_waker_will_wake(&o->rx_waker, w)) return WEFT_PENDING;
        while (!(cur & OS_TX_CLOSED) &&
               !atomic_compare_exchange_weak_explicit(&o->state, &cur, cur & ~(uint32_t)OS_RX_WAKER,
                                                      memory_order_acq_rel, memory_order_acquire)) {
        }
        if (cur & OS_TX_CLOSED) return oneshot_take(o, cur, value, result); /* sender took it */
        weft_waker_drop(&o->rx_waker);
    }
    o->rx_waker = weft_waker_clone(w);
    /* acquire (load and CAS failure) pairs with the sender's release of value */
    cur = atomic_load_explicit(&o->state, memory_order_acquire);
    for (;;) {
        if (cur & OS_TX_CLOSED) {
            weft_waker_drop(&o->rx_waker); /* never published */
            return oneshot_take(o, cur, value, result);
        }
        /* release publishes rx_waker to the sender */
        if (atomic_compare_exchange_weak_explicit(&o->state, &cur, cur | OS_RX_WAKER,
                                                  memory_order_acq_rel, memory_order_acquire))
            return WEFT_PENDING;
    }
}

void weft_oneshot_receiver_drop(weft_oneshot *o)
{
    if (!o) return;
    uint32_t cur = atomic_load_explicit(&o->state, memory_order_acquire);
    while (!atomic_compare_exchange_weak_explicit(&o->state, &cur,
                                                  (cur | OS_RX_CLOSED) & ~(uint32_t)OS_RX_WAKER,
                                                  memory_order_acq_rel, memory_order_acquire)) {
    }
    if (cur & OS_RX_WAKER) weft_waker_drop(&o->rx_waker); /* took it back before the sender */
    oneshot_release(o);
}

/* The waiter lists and wake batches are common/wlist.h's. A semaphore
 * waiter has one state beyond WL_GRANTED: */
enum { SEM_OBSERVED = 3 }; /* granted and seen by its poll: the permits are the caller's */

/* ---- bounded channel ----------------------------------------------------------------- */

struct weft_channel {
    spinlock lock;
    uint64_t *buf;
    size_t cap, head, len;   /* ring, under lock */
    int senders;             /* under lock */
    bool rx_closed;          /* under lock */
    weft_waker rx_waker;     /* under lock */
    wlist send_waiters;      /* under lock */
};

int weft_channel_new(size_t capacity, weft_channel **out)
{
    if (!out || capacity < 1 || capacity > (1u << 24)) return -EINVAL;
    weft_channel *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->buf = malloc(capacity * sizeof(uint64_t));
    if (!c->buf) {
        free(c);
        return -ENOMEM;
    }
    spinlock_init(&c->lock);
    c->cap = capacity;
    c->senders = 1;
    c->rx_waker = WEFT_WAKER_NONE;
    *out = c;
    return 0;
}

static void channel_maybe_free(weft_channel *c)
{
    /* called with the lock released, when senders == 0 and rx_closed */
    free(c->buf);
    free(c);
}

void weft_channel_sender_clone(weft_channel *c)
{
    spinlock_lock(&c->lock);
    c->senders++;
    spinlock_unlock(&c->lock);
}

void weft_channel_sender_drop(weft_channel *c)
{
    if (!c) return;
    weft_waker w = WEFT_WAKER_NONE;
    spinlock_lock(&c->lock);
    bool last = --c->senders == 0;
    if (last) {
        w = c->rx_waker;
        c->rx_waker = WEFT_WAKER_NONE;
    }
    bool free_it = last && c->rx_closed;
    spinlock_unlock(&c->lock);
    weft_waker_wake(&w);
    if (free_it) channel_maybe_free(c);
}

void weft_channel_receiver_drop(weft_channel *c)
{
    if (!c) return;
    wake_batch b = {.n = 0};
    spinlock_lock(&c->lock);
    c->rx_closed = true;
    weft_waker_drop(&c->rx_waker);
    /* every waiting sender learns the receiver is gone */
    for (;;) {
        while (c->send_waiters.head && b.n < WAKE_BATCH) wake_batch_take(&b, &c->send_waiters, WL_GRANTED);
        if (!b.n) break;
        spinlock_unlock(&c->lock);
        wake_batch_run(&b);
        spinlock_lock(&c->lock);
    }
    bool free_it = c->senders == 0;
    spinlock_unlock(&c->lock);
    if (free_it) channel_maybe_free(c);
}

/* Under the lock: push if there is room; returns the receiver's waker to wake. */
static int channel_push_locked(weft_channel *c, uint64_t v, weft_waker *wake)
{
    if (c->rx_closed) return -EPIPE;
    if (c->len == c->cap) return -EAGAIN;
    c->buf[(c->head + c->len) % c->cap] = v;
    c->len++;
    *wake = c->rx_waker;
    c->rx_waker = WEFT_WAKER_NONE;
    return 0;
}

int weft_channel_try_send(weft_channel *c, uint64_t value)
{
    if (!c) return -EINVAL;
    weft_waker w = WEFT_WAKER_NONE;
    spinlock_lock(&c->lock);
    int rc = c->send_waiters.head && !c->rx_closed ? -EAGAIN : channel_push_locked(c, value, &w);
    spinlock_unlock(&c->lock);
    weft_waker_wake(&w);
    return rc;
}

void weft_channel_send_init(weft_channel_send *op, weft_channel *c, uint64_t value)
{
    memset(op, 0, sizeof *op);
    op->chan = c;
    op->w.value = value;
}

weft_poll weft_channel_send_poll(weft_channel_send *op, weft_context *cx, int *result)
{
    int dummy;
    if (!result) result = &dummy;
    weft_channel *c = op->chan;
    if (!c) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    weft_waker w = WEFT_WAKER_NONE;
    spinlock_lock(&c->lock);
    if (op->w.state == WL_GRANTED) { /* the receiver went away while we waited */
        spinlock_unlock(&c->lock);
        op->w.state = WL_IDLE;
        *result = -EPIPE;
        return WEFT_READY;
    }
    /* FIFO among senders: only the first waiter (or a newcomer with no queue) may push */
    bool my_turn = op->w.state == WL_QUEUED ? c->send_waiters.head == &op->w : !c->send_waiters.head;
    int rc = my_turn ? channel_push_locked(c, op->w.value, &w) : -EAGAIN;
    if (rc == -EAGAIN) {
        if (op->w.state == WL_IDLE) wlist_push(&c->send_waiters, &op->w);
        weft_waker_store(&op->w.waker, weft_context_waker(cx));
        spinlock_unlock(&c->lock);
        return WEFT_PENDING;
    }
    if (op->w.state == WL_QUEUED) {
        wlist_remove(&c->send_waiters, &op->w);
        op->w.state = WL_IDLE;
    }
    weft_waker mine = op->w.waker;
    op->w.waker = WEFT_WAKER_NONE;
    /* the next waiting sender may have room now */
    weft_waker next = WEFT_WAKER_NONE;
    if (c->send_waiters.head && c->len < c->cap) next = weft_waker_clone(&c->send_waiters.head->waker);
    spinlock_unlock(&c->lock);
    weft_waker_drop(&mine);
    weft_waker_wake(&w);
    weft_waker_wake(&next);
    *result = rc;
    return WEFT_READY;
}

void weft_channel_send_drop(weft_channel_send *op)
{
    weft_channel *c = op->chan;
    if (!c) return;
    weft_waker next = WEFT_WAKER_NONE;
    spinlock_lock(&c->lock);
    if (op->w.state == WL_QUEUED) {
        bool was_head = c->send_waiters.head == &op->w;
        wlist_remove(&c->send_waiters, &op->w);
        /* Only the head may push, and a freed slot wakes only the head: if
         * that was us, we may have been woken for room we will never use.
         * Pass the wake on to the new head, or it waits for a wake that
         * never comes (try_send refuses newcomers while senders queue). */
        if (was_head && c->send_waiters.head && c->len < c->cap)
            next = weft_waker_clone(&c->send_waiters.head->waker);
    }
    op->w.state = WL_IDLE;
    weft_waker w = op->w.waker;
    op->w.waker = WEFT_WAKER_NONE;
    spinlock_unlock(&c->lock);
    weft_waker_drop(&w);
    weft_waker_wake(&next);
    op->chan = NULL;
}

static int channel_pop_locked(weft_channel *c, uint64_t *value, weft_waker *wake_sender)
{
    if (c->len == 0) return c->senders == 0 ? -EPIPE : -EAGAIN;
    if (value) *value = c->buf[c->head];
    c->head = (c->head + 1) % c->cap;
    c->len--;
    if (c->send_waiters.head) *wake_sender = weft_waker_clone(&c->send_waiters.head->waker);
    return 0;
}

int weft_channel_try_recv(weft_channel *c, uint64_t *value)
{
    if (!c) return -EINVAL;
    weft_waker w = WEFT_WAKER_NONE;
    spinlock_lock(&c->lock);
    int rc = channel_pop_locked(c, value, &w);
    spinlock_unlock(&c->lock);
    weft_waker_wake(&w);
    return rc;
}

weft_poll weft_channel_recv_poll(weft_channel *c, weft_context *cx, uint64_t *value, int *result)
{
    int dummy;
    if (!result) result = &dummy;
    if (!c) {
        *result = -EINVAL;
        return WEFT_READY;
    }
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    weft_waker w = WEFT_WAKER_NONE;
    spinlock_lock(&c->lock);
    int rc = channel_pop_locked(c, value, &w);
    if (rc == -EAGAIN) {
        weft_waker_store(&c->rx_waker, weft_context_waker(cx));
        spinlock_unlock(&c->lock);
        return WEFT_PENDING;
    }
    spinlock_unlock(&c->lock);
    weft_waker_wake(&w);
    *result = rc;
    return WEFT_READY;
}

size_t weft_channel_len(weft_channel *c)
{
    spinlock_lock(&c->lock);
    size_t n = c->len;
    spinlock_unlock(&c->lock);
    return n;
}

/* ---- notify ---------------------------------------------------------------------------- */

struct weft_notify {
    spinlock lock;
    bool permit;      /* under lock */
    uint64_t all_gen; /* under lock: notify_all calls so far */
    wlist waiters;    /* under lock; a queued waiter's value is all_gen when it queued */
};

int weft_notify_new(weft_notify **out)
{
    weft_notify *n = calloc(1, sizeof *n);
    if (!n) return -ENOMEM;
    spinlock_init(&n->lock);
    *out = n;
    return 0;
}

void weft_notify_free(weft_notify *n) { free(n); }

void weft_notify_one(weft_notify *n)
{
    weft_waker w = WEFT_WAKER_NONE;
    spinlock_lock(&n->lock);
    weft_waiter *x = n->waiters.head;
    if (x) {
        wlist_remove(&n->waiters, x);
        x->state = WL_GRANTED;
        x->value = 1; /* granted by notify_one */
        w = x->waker;
        x->waker = WEFT_WAKER_NONE;
    } else {
        n->permit = true;
    }
    spinlock_unlock(&n->lock);
    weft_waker_wake(&w);
}

void weft_notify_all(weft_notify *n)
{
    wake_batch b = {.n = 0};
    spinlock_lock(&n->lock);
    /* Wake the waiters queued before this call, and not those that queue
     * while we wake (between batches, with the lock released): those carry
     * the new generation. The waiters stay on the live list until taken, so
     * one dropped between batches unlinks itself as usual (a detached list
     * would still point at it after it is freed). Waiters queue at the tail
     * with the current generation, so the ones to wake are a prefix. */
    uint64_t gen = ++n->all_gen;
    for (;;) {
        while (n->waiters.head && n->waiters.head->value < gen && b.n < WAKE_BATCH) {
            n->waiters.head->value = 0; /* granted by notify_all */
            wake_batch_take(&b, &n->waiters, WL_GRANTED);
        }
        if (!b.n) break;
        spinlock_unlock(&n->lock);
        wake_batch_run(&b);
        spinlock_lock(&n->lock);
    }
    spinlock_unlock(&n->lock);
}

void weft_notified_init(weft_notified *op, weft_notify *n)
{
    memset(op, 0, sizeof *op);
    op->notify = n;
}

weft_poll weft_notified_poll(weft_notified *op, weft_context *cx)
{
    weft_notify *n = op->notify;
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    spinlock_lock(&n->lock);
    if (op->w.state == WL_GRANTED) {
        spinlock_unlock(&n->lock);
        op->w.state = WL_IDLE;
        return WEFT_READY;
    }
    if (op->w.state == WL_IDLE && n->permit) {
        n->permit = false;
        spinlock_unlock(&n->lock);
        return WEFT_READY;
    }
    if (op->w.state == WL_IDLE) {
        wlist_push(&n->waiters, &op->w);
        op->w.value = n->all_gen; /* woken by the notify_all calls after this one */
    }
    weft_waker_store(&op->w.waker, weft_context_waker(cx));
    spinlock_unlock(&n->lock);
    return WEFT_PENDING;
}

void weft_notified_drop(weft_notified *op)
{
    weft_notify *n = op->notify;
    if (!n) return;
    spinlock_lock(&n->lock);
    int st = op->w.state;
    if (st == WL_QUEUED) wlist_remove(&n->waiters, &op->w);
    weft_waker w = op->w.waker;
    op->w.waker = WEFT_WAKER_NONE;
    op->w.state = WL_IDLE;
    spinlock_unlock(&n->lock);
    weft_waker_drop(&w);
    /* notified but never observed: pass the notification on, or it is lost
     * (notify_all's wakes are not passed on: they were meant for everyone) */
    if (st == WL_GRANTED && op->w.value == 1) weft_notify_one(n);
    op->notify = NULL;
}

/* ---- semaphore ---------------------------------------------------------------------------- */

struct weft_semaphore {
    spinlock lock;
    uint64_t permits; /* under lock */
    wlist waiters;    /* under lock, FIFO */
};

int weft_semaphore_new(uint64_t permits, weft_semaphore **out)
{
    weft_semaphore *s = calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    spinlock_init(&s->lock);
    s->permits = permits;
    *out = s;
    return 0;
}

void weft_semaphore_free(weft_semaphore *s) { free(s); }

/* Under the lock: grant permits to waiters in order; collect their wakers. */
static void sem_grant_locked(weft_semaphore *s, wake_batch *b)
{
    while (s->waiters.head && b->n < WAKE_BATCH && s->waiters.head->value <= s->permits) {
        s->permits -= s->waiters.head->value;
        wake_batch_take(b, &s->waiters, WL_GRANTED);
    }
}

void weft_semaphore_release(weft_semaphore *s, uint64_t permits)
{
    wake_batch b = {.n = 0};
    spinlock_lock(&s->lock);
    s->permits += permits;
    for (;;) {
        sem_grant_locked(s, &b);
        if (!b.n) break;
        spinlock_unlock(&s->lock);
        wake_batch_run(&b);
        spinlock_lock(&s->lock);
    }
    spinlock_unlock(&s->lock);
}

int weft_semaphore_try_acquire(weft_semaphore *s, uint64_t permits)
{
    spinlock_lock(&s->lock);
    int rc = -EAGAIN;
    if (!s->waiters.head && s->permits >= permits) {
        s->permits -= permits;
        rc = 0;
    }
    spinlock_unlock(&s->lock);
    return rc;
}

uint64_t weft_semaphore_available(weft_semaphore *s)
{
    spinlock_lock(&s->lock);
    uint64_t n = s->permits;
    spinlock_unlock(&s->lock);
    return n;
}

void weft_semaphore_acquire_init(weft_semaphore_acquire *op, weft_semaphore *s, uint64_t permits)
{
    memset(op, 0, sizeof *op);
    op->sem = s;
    op->w.value = permits;
}

weft_poll weft_semaphore_acquire_poll(weft_semaphore_acquire *op, weft_context *cx)
{
    weft_semaphore *s = op->sem;
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    spinlock_lock(&s->lock);
    if (op->w.state == WL_GRANTED) {
        op->w.state = SEM_OBSERVED;
        spinlock_unlock(&s->lock);
        return WEFT_READY;
    }
    if (op->w.state == WL_IDLE && !s->waiters.head && s->permits >= op->w.value) {
        s->permits -= op->w.value;
        op->w.state = SEM_OBSERVED;
        spinlock_unlock(&s->lock);
        return WEFT_READY;
    }
    if (op->w.state == WL_IDLE) wlist_push(&s->waiters, &op->w);
    weft_waker_store(&op->w.waker, weft_context_waker(cx));
    spinlock_unlock(&s->lock);
    return WEFT_PENDING;
}

void weft_semaphore_acquire_drop(weft_semaphore_acquire *op)
{
    weft_semaphore *s = op->sem;
    if (!s) return;
    spinlock_lock(&s->lock);
    int st = op->w.state;
    if (st == WL_QUEUED) wlist_remove(&s->waiters, &op->w);
    weft_waker w = op->w.waker;
    op->w.waker = WEFT_WAKER_NONE;
    op->w.state = WL_IDLE;
    spinlock_unlock(&s->lock);
    weft_waker_drop(&w);
    if (st == WL_GRANTED) weft_semaphore_release(s, op->w.value); /* granted, never observed */
    else if (st == WL_QUEUED) weft_semaphore_release(s, 0);       /* we may have blocked those behind us */
    op->sem = NULL;
}
