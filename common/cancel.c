/*
 * common/cancel.c - cancellation tokens (weft/cancel.h).
 *
 * ## Design
 * A token is a sticky flag plus the list of waiters that registered before
 * it was set. The flag is an atomic so the common case (not fired, or
 * fired long ago) costs one acquire load; the list is under a spinlock.
 * Registration follows the rule of common/sync.c: register under the lock
 * and read the flag under the same lock, so a fire either sees the waiter
 * or the waiter sees the flag (no lost wake-up, the bug a hand-written
 * "flag + notify_all" invites).
 *
 * Firing sets the flag under the lock, then takes the waiters off the live
 * list WAKE_BATCH at a time (marking them GRANTED and moving their wakers
 * out) and wakes them after unlocking. A waiter dropped meanwhile either is
 * still linked (it unlinks itself) or was granted (its waker is already
 * ours): the fire never walks a list detached from the token, so no waiter
 * memory is touched after its owner could have freed it.
 *
 * ## Children
 * A child is linked into its parent's child list under the parent's lock
 * and holds a reference on the parent. The parent fires its children one at
 * a time: under its lock it unlinks a child and takes a reference on it,
 * then fires it unlocked. A child's own count drops under its parent's lock
 * (release()), so "unlinked by the parent's fire" and "last reference
 * gone" cannot interleave: the fire only takes references on linked
 * children, and a linked child still has one. No code path holds two
 * token locks at once. Rejected: a child that polls its parent's flag on
 * every wait (cheaper to create, but a fire could not wake the child's
 * waiters without each waiter registering on every ancestor).
 *
 * ## Shutdown
 * The wakers are task wakers (or whatever the caller's context holds). A
 * fire from an outside thread racing weft_runtime_free wakes a task that
 * may be cancelled meanwhile: a waker may be called until it is dropped,
 * the remote wake path waits for nothing that the free can remove
 * (schedulers/runtime.c, outside_inflight), and the task's drop function
 * unregisters its waiter under this lock.
 */
#include "common/error.h"
#include "weft/cancel.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/spinlock.h"
#include "common/wlist.h"

struct weft_cancel {
    spinlock lock;
    _Atomic int fired;          /* 0 -> 1 once, stored under lock (release) */
    _Atomic int refs;           /* a child's: changed under its parent's lock */
    wlist waiters;              /* under lock */
    weft_cancel *parent;        /* immutable; holds a reference */
    weft_cancel *children;      /* under lock: linked children */
    weft_cancel *sib_prev, *sib_next; /* under the parent's lock */
    bool linked;                /* under the parent's lock: in its child list */
};

static void token_release(weft_cancel *t);

int weft_cancel_new(weft_cancel **out)
{
    if (!out) return err_fail(-EINVAL, "weft_cancel_new: NULL out");
    weft_cancel *t = calloc(1, sizeof *t);
    *out = t;
    if (!t) return err_fail(-ENOMEM, "weft_cancel_new: out of memory");
    spinlock_init(&t->lock);
    atomic_init(&t->fired, 0);
    atomic_init(&t->refs, 1);
    return 0;
}

int weft_cancel_child_new(weft_cancel *parent, weft_cancel **out)
{
    if (!parent || !out) return err_fail(-EINVAL, "weft_cancel_child_new: NULL parent or out");
    int rc = weft_cancel_new(out);
    if (rc) return rc;
    weft_cancel *c = *out;
    atomic_fetch_add_explicit(&parent->refs, 1, memory_order_relaxed); /* the caller holds one */
    c->parent = parent;
    spinlock_lock(&parent->lock);
    if (atomic_load_explicit(&parent->fired, memory_order_relaxed)) {
        atomic_store_explicit(&c->fired, 1, memory_order_relaxed); /* not yet shared */
    } else {
        c->sib_prev = NULL;
        c->sib_next = parent->children;
        if (parent->children) parent->children->sib_prev = c;
        parent->children = c;
        c->linked = true;
    }
    spinlock_unlock(&parent->lock);
    return 0;
}

int weft_cancel_clone(weft_cancel *t)
{
    if (!t) return err_fail(-EINVAL, "weft_cancel_clone: NULL token");
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed); /* the caller holds one */
    return 0;
}

static void token_release(weft_cancel *t)
{
    weft_cancel *p = t->parent;
    bool last;
    if (p) {
        spinlock_lock(&p->lock);
        /* under the parent's lock: see the essay */
        last = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1;
        if (last && t->linked) {
            if (t->sib_prev) t->sib_prev->sib_next = t->sib_next;
            else p->children = t->sib_next;
            if (t->sib_next) t->sib_next->sib_prev = t->sib_prev;
            t->linked = false;
        }
        spinlock_unlock(&p->lock);
    } else {
        /* acq_rel: the last holder sees every other holder's writes */
        last = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1;
    }
    if (!last) return;
    /* no waiter can remain: each holds the caller's reference until dropped.
     * Children hold a reference on us, so none is linked either. */
    free(t);
    if (p) token_release(p);
}

void weft_cancel_free(weft_cancel *t)
{
    if (t) token_release(t);
}

int weft_cancel_fire(weft_cancel *t)
{
    if (!t) return err_fail(-EINVAL, "weft_cancel_fire: NULL token");
    /* acquire: pairs with the release store below (another firer's) */
    if (atomic_load_explicit(&t->fired, memory_order_acquire)) return 0;
    wake_batch b = {.n = 0};
    spinlock_lock(&t->lock);
    if (atomic_load_explicit(&t->fired, memory_order_relaxed)) {
        spinlock_unlock(&t->lock);
        return 0;
    }
    /* release: pairs with the acquire loads of is_fired and the waiters'
     * fast path, publishing what the firer wrote before firing */
    atomic_store_explicit(&t->fired, 1, memory_order_release);
    for (;;) {
        while (t->waiters.head && b.n < WAKE_BATCH) wake_batch_take(&b, &t->waiters, WL_GRANTED);
        if (!b.n) break;
        spinlock_unlock(&t->lock);
        wake_batch_run(&b);
        spinlock_lock(&t->lock);
    }
    for (;;) {
        weft_cancel *c = t->children;
        if (!c) break;
        t->children = c->sib_next;
        if (c->sib_next) c->sib_next->sib_prev = NULL;
        c->linked = false;
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed); /* linked: it has one */
        spinlock_unlock(&t->lock);
        weft_cancel_fire(c);
        token_release(c); /* takes our lock */
        spinlock_lock(&t->lock);
    }
    spinlock_unlock(&t->lock);
    return 1;
}

int weft_cancel_is_fired(const weft_cancel *t)
{
    if (!t) return err_fail(-EINVAL, "weft_cancel_is_fired: NULL token");
    return atomic_load_explicit(&t->fired, memory_order_acquire); /* pairs with fire's release */
}

/* ---- waiting ------------------------------------------------------------------------- */

void weft_cancel_wait_init(weft_cancel_wait *w, weft_cancel *t)
{
    memset(w, 0, sizeof *w);
    w->token = t;
    w->result = 1;
}

static void wait_unregister(weft_cancel_wait *w)
{
    if (!w->registered) return; /* never linked: nothing shared to undo */
    weft_cancel *t = w->token;
    spinlock_lock(&t->lock);
    if (w->w.state == WL_QUEUED) wlist_remove(&t->waiters, &w->w);
    w->w.state = WL_IDLE;
    weft_waker mine = w->w.waker;
    w->w.waker = WEFT_WAKER_NONE;
    spinlock_unlock(&t->lock);
    weft_waker_drop(&mine);
    w->registered = 0;
}

weft_poll weft_cancel_poll(weft_cancel_wait *w, weft_context *cx, weft_poll inner_result)
{
    weft_cancel *t = w->token;
    if (!t) {
        w->result = err_fail(-EINVAL, "weft_cancel_poll: the waiter has no token");
        return WEFT_READY;
    }
    if (inner_result == WEFT_READY) {
        wait_unregister(w);
        w->result = 0;
        return WEFT_READY;
    }
    /* acquire: pairs with fire's release store */
    if (atomic_load_explicit(&t->fired, memory_order_acquire)) {
        wait_unregister(w);
        w->result = -ECANCELED;
        return WEFT_READY;
    }
    spinlock_lock(&t->lock);
    if (atomic_load_explicit(&t->fired, memory_order_relaxed)) { /* under the lock: fire is done with us */
        spinlock_unlock(&t->lock);
        wait_unregister(w);
        w->result = -ECANCELED;
        return WEFT_READY;
    }
    if (w->w.state == WL_IDLE) wlist_push(&t->waiters, &w->w);
    weft_waker_store(&w->w.waker, weft_context_waker(cx));
    w->registered = 1;
    spinlock_unlock(&t->lock);
    w->result = 1;
    return WEFT_PENDING;
}

weft_poll weft_cancel_wait_poll(weft_cancel_wait *w, weft_context *cx)
{
    if (w->token && !weft_coop_proceed(cx)) return WEFT_PENDING;
    return weft_cancel_poll(w, cx, WEFT_PENDING);
}

int weft_cancel_wait_result(const weft_cancel_wait *w) { return w->result == 1 ? -EAGAIN : w->result; }

void weft_cancel_wait_drop(weft_cancel_wait *w)
{
    if (w->token) wait_unregister(w);
}
