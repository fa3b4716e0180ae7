/*
 * common/mpmc.c - bounded MPMC channels of typed elements (weft/mpmc.h).
 *
 * ## Design
 * A spinlock around a ring of `cap` slots of `esize` bytes, two intrusive
 * waiter lists (senders, receivers) and the handle counts. Every operation
 * is a few dozen instructions under the lock; wakers are taken out under it
 * and woken after it (common/wlist.h). The copy in or out happens under the
 * lock, on the thread of the future that owns the buffer: the channel never
 * writes into a waiting future's memory, which is what makes a dropped
 * future trivially safe.
 *
 * Rejected: handing an element straight to a waiting receiver (Go's direct
 * send). It saves a copy but writes into a future that may be dropped at
 * any moment, and the value would then have to be put back into a ring
 * that may have filled meanwhile. Rejected too: a lock-free ring (Vyukov's
 * bounded MPMC queue) for the data path: waiting still needs the waiter
 * lists and their lock, and weft's channels are not the hot path the
 * one-shot is (common/sync.c keeps that one lock-free).
 *
 * ## Receivers: wake one per element, never lose one
 * A push wakes the head receiver waiter and marks it GRANTED ("woken for an
 * element", not "given one"): the element stays in the ring. `rx_woken`
 * counts receivers that were woken and have not come back. A woken
 * receiver that polls takes whatever is there (another receiver may have
 * taken "its" element: it waits again). Invariant, kept under the lock by
 * every push, pop and drop: if len > rx_woken and a receiver waits, one
 * more is woken. So no element sits queued while every receiver sleeps,
 * and a recv future dropped after its wake passes the wake on.
 *
 * ## Senders: FIFO
 * A sender that finds the ring full queues; only the head waiter (or a
 * newcomer when none waits) may push. A pop clones the head sender's waker
 * (it stays queued until it pushed); a push or a dropped head that leaves
 * room wakes the next one.
 *
 * ## Fields: all under `lock` except the immutable esize, cap, drop, buf.
 */
#include "common/error.h"
#include "weft/mpmc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/spinlock.h"
#include "common/wlist.h"

struct weft_mpmc {
    spinlock lock;
    unsigned char *buf;       /* immutable pointer; slots under lock */
    size_t cap, esize;        /* immutable */
    weft_mpmc_drop_fn drop;   /* immutable */
    size_t head, len;         /* ring */
    size_t rx_woken;          /* receivers woken (GRANTED) not yet back */
    int senders, receivers;   /* role handles */
    int refs;                 /* all handles: senders + receivers + observers */
    bool closed;              /* no more sends */
    wlist tx, rx;             /* waiting senders (FIFO) and receivers */
};

static inline unsigned char *slot(weft_mpmc *c, size_t i) { return c->buf + ((c->head + i) % c->cap) * c->esize; }

int weft_mpmc_new(size_t capacity, size_t elem_size, weft_mpmc_drop_fn drop, weft_mpmc **out)
{
    if (!out) return err_fail(-EINVAL, "weft_mpmc_new: NULL out");
    *out = NULL;
    if (capacity < 1 || capacity > WEFT_MPMC_MAX_CAPACITY)
        return err_fail(-EINVAL, "weft_mpmc_new: capacity %zu is not in 1..%u", capacity, WEFT_MPMC_MAX_CAPACITY);
    if (elem_size < 1 || elem_size > WEFT_MPMC_MAX_ELEM_SIZE)
        return err_fail(-EINVAL, "weft_mpmc_new: element size %zu is not in 1..%u", elem_size,
                       WEFT_MPMC_MAX_ELEM_SIZE);
    /* both bounds are 2^24 and 2^20, so the product fits in 44 bits */
    weft_mpmc *c = calloc(1, sizeof *c);
    unsigned char *buf = c ? malloc(capacity * elem_size) : NULL;
    if (!buf) {
        free(c);
        return err_fail(-ENOMEM, "weft_mpmc_new: out of memory for %zu x %zu bytes", capacity, elem_size);
    }
    spinlock_init(&c->lock);
    c->buf = buf;
    c->cap = capacity;
    c->esize = elem_size;
    c->drop = drop;
    c->senders = c->receivers = 1;
    c->refs = 2;
    *out = c;
    return 0;
}

/* ---- wakes under the lock ---------------------------------------------------------- */

/* Keeps the receiver invariant (see the essay): wakes one more waiting
 * receiver when queued elements outnumber the woken ones. */
static void rx_wake_locked(weft_mpmc *c, wake_batch *b)
{
    while (c->rx.head && c->len > c->rx_woken && b->n < WAKE_BATCH) {
        wake_batch_take(b, &c->rx, WL_GRANTED);
        c->rx_woken++;
    }
}

/* The head sender may push now: a clone of its waker (it stays queued). */
static void tx_wake_locked(weft_mpmc *c, wake_batch *b)
{
    if (c->tx.head && c->len < c->cap && b->n < WAKE_BATCH)
        b->w[b->n++] = weft_waker_clone(&c->tx.head->waker);
}

/* Under the lock: marks closed and wakes every waiter, in batches (the lock
 * is dropped while waking; nobody queues once closed). Returns locked. */
static void close_locked(weft_mpmc *c)
{
    c->closed = true;
    wake_batch b = {.n = 0};
    for (;;) {
        while (c->tx.head && b.n < WAKE_BATCH) wake_batch_take(&b, &c->tx, WL_IDLE);
        while (c->rx.head && b.n < WAKE_BATCH) {
            wake_batch_take(&b, &c->rx, WL_GRANTED);
            c->rx_woken++;
        }
        if (!b.n) return;
        spinlock_unlock(&c->lock);
        wake_batch_run(&b);
        spinlock_lock(&c->lock);
    }
}

static void drop_elems(weft_mpmc *c, size_t head, size_t n)
{
    if (!c->drop) return;
    for (size_t i = 0; i < n; i++) c->drop(c->buf + ((head + i) % c->cap) * c->esize);
}

/* Releases one handle reference with the lock held; frees after unlocking. */
static void release_unlock(weft_mpmc *c)
{
    bool last = --c->refs == 0;
    spinlock_unlock(&c->lock);
    if (!last) return;
    drop_elems(c, c->head, c->len); /* receivers gone already discarded them: len is 0 */
    free(c->buf);
    free(c);
}

/* ---- handles ------------------------------------------------------------------------- */

static int clone_role(weft_mpmc *c, int *role, const char *what)
{
    if (!c) return err_fail(-EINVAL, "weft_mpmc_%s_clone: NULL channel", what);
    spinlock_lock(&c->lock);
    int rc = 0;
    if (role && *role == 0) rc = -EPIPE;
    else {
        if (role) (*role)++;
        c->refs++;
    }
    spinlock_unlock(&c->lock);
    if (rc) return err_fail(rc, "weft_mpmc_%s_clone: no %s is left to clone", what, what);
    return 0;
}

int weft_mpmc_sender_clone(weft_mpmc *c) { return clone_role(c, c ? &c->senders : NULL, "sender"); }
int weft_mpmc_receiver_clone(weft_mpmc *c) { return clone_role(c, c ? &c->receivers : NULL, "receiver"); }

int weft_mpmc_clone(weft_mpmc *c)
{
    if (!c) return err_fail(-EINVAL, "weft_mpmc_clone: NULL channel");
    spinlock_lock(&c->lock);
    c->refs++;
    spinlock_unlock(&c->lock);
    return 0;
}

int weft_mpmc_sender_drop(weft_mpmc *c)
{
    if (!c) return err_fail(-EINVAL, "weft_mpmc_sender_drop: NULL channel");
    spinlock_lock(&c->lock);
    if (c->senders == 0) {
        spinlock_unlock(&c->lock);
        return err_fail(-EINVAL, "weft_mpmc_sender_drop: no sender handle is held (released twice?)");
    }
    if (--c->senders == 0 && !c->closed) close_locked(c);
    release_unlock(c);
    return 0;
}

int weft_mpmc_receiver_drop(weft_mpmc *c)
{
    if (!c) return err_fail(-EINVAL, "weft_mpmc_receiver_drop: NULL channel");
    spinlock_lock(&c->lock);
    if (c->receivers == 0) {
        spinlock_unlock(&c->lock);
        return err_fail(-EINVAL, "weft_mpmc_receiver_drop: no receiver handle is held (released twice?)");
    }
    size_t head = 0, n = 0;
    if (--c->receivers == 0) {
        if (!c->closed) close_locked(c);
        /* discard: closed, so nobody pushes into these slots again, and
         * with len 0 nobody pops them; we hold a reference until done */
        head = c->head;
        n = c->len;
        c->len = 0;
    }
    spinlock_unlock(&c->lock);
    drop_elems(c, head, n);
    spinlock_lock(&c->lock);
    release_unlock(c);
    return 0;
}

int weft_mpmc_free(weft_mpmc *c)
{
    if (!c) return err_fail(-EINVAL, "weft_mpmc_free: NULL channel");
    spinlock_lock(&c->lock);
    if (c->refs <= c->senders + c->receivers) {
        spinlock_unlock(&c->lock);
        return err_fail(-EINVAL, "weft_mpmc_free: no observer reference is held (released twice?)");
    }
    release_unlock(c);
    return 0;
}

int weft_mpmc_close(weft_mpmc *c)
{
    if (!c) return err_fail(-EINVAL, "weft_mpmc_close: NULL channel");
    spinlock_lock(&c->lock);
    if (!c->closed) close_locked(c);
    spinlock_unlock(&c->lock);
    return 0;
}

int weft_mpmc_is_closed(weft_mpmc *c)
{
    if (!c) return err_fail(-EINVAL, "weft_mpmc_is_closed: NULL channel");
    spinlock_lock(&c->lock);
    int r = c->closed;
    spinlock_unlock(&c->lock);
    return r;
}

long weft_mpmc_len(weft_mpmc *c)
{
    if (!c) return err_fail(-EINVAL, "weft_mpmc_len: NULL channel");
    spinlock_lock(&c->lock);
    long n = (long)c->len;
    spinlock_unlock(&c->lock);
    return n;
}

/* ---- the data path ------------------------------------------------------------------- */

/* Under the lock: copy in if there is room. */
static int push_locked(weft_mpmc *c, const void *elem, wake_batch *b)
{
    if (c->closed) return -EPIPE;
    if (c->len == c->cap) return -EAGAIN;
    memcpy(slot(c, c->len), elem, c->esize);
    c->len++;
    rx_wake_locked(c, b);
    return 0;
}

/* Under the lock: copy out if there is an element. */
static int pop_locked(weft_mpmc *c, void *out, wake_batch *b)
{
    if (c->len == 0) return c->closed ? -EPIPE : -EAGAIN;
    memcpy(out, slot(c, 0), c->esize);
    c->head = (c->head + 1) % c->cap;
    c->len--;
    tx_wake_locked(c, b);
    rx_wake_locked(c, b);
    return 0;
}

int weft_mpmc_try_send(weft_mpmc *c, const void *elem)
{
    if (!c || !elem) return err_fail(-EINVAL, "weft_mpmc_try_send: NULL channel or element");
    wake_batch b = {.n = 0};
    spinlock_lock(&c->lock);
    int rc = c->tx.head && !c->closed ? -EAGAIN : push_locked(c, elem, &b);
    spinlock_unlock(&c->lock);
    wake_batch_run(&b);
    return rc;
}

int weft_mpmc_try_recv(weft_mpmc *c, void *out)
{
    if (!c || !out) return err_fail(-EINVAL, "weft_mpmc_try_recv: NULL channel or buffer");
    wake_batch b = {.n = 0};
    spinlock_lock(&c->lock);
    int rc = pop_locked(c, out, &b);
    spinlock_unlock(&c->lock);
    wake_batch_run(&b);
    return rc;
}

/* ---- send future ------------------------------------------------------------------------ */

void weft_mpmc_send_init(weft_mpmc_send *op, weft_mpmc *c, void *elem)
{
    memset(op, 0, sizeof *op);
    op->chan = c;
    op->elem = elem;
    op->result = 1; /* not done */
}

static weft_poll op_ready(int32_t *done, int32_t *res_field, int rc, int *result)
{
    *done = 1;
    *res_field = rc;
    if (result) *result = rc;
    return WEFT_READY;
}

weft_poll weft_mpmc_send_poll(weft_mpmc_send *op, weft_context *cx, int *result)
{
    if (op->done) return op_ready(&op->done, &op->result, op->result, result);
    weft_mpmc *c = op->chan;
    if (!c || !op->elem) {
        op->chan = NULL; /* the element stays the caller's */
        return op_ready(&op->done, &op->result, err_fail(-EINVAL, "weft_mpmc_send: NULL channel or element"),
                        result);
    }
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    wake_batch b = {.n = 0};
    spinlock_lock(&c->lock);
    bool queued = op->w.state == WL_QUEUED;
    /* FIFO: only the head waiter, or a newcomer when nobody waits, may push */
    bool my_turn = queued ? c->tx.head == &op->w : !c->tx.head;
    int rc = c->closed ? -EPIPE : my_turn ? push_locked(c, op->elem, &b) : -EAGAIN;
    if (rc == -EAGAIN) {
        if (!queued) wlist_push(&c->tx, &op->w);
        weft_waker_store(&op->w.waker, weft_context_waker(cx));
        spinlock_unlock(&c->lock);
        return WEFT_PENDING;
    }
    if (op->w.state == WL_QUEUED) {
        wlist_remove(&c->tx, &op->w);
        op->w.state = WL_IDLE;
        if (rc == 0) tx_wake_locked(c, &b); /* the next sender may have room too */
    }
    weft_waker mine = op->w.waker;
    op->w.waker = WEFT_WAKER_NONE;
    spinlock_unlock(&c->lock);
    weft_waker_drop(&mine);
    wake_batch_run(&b);
    return op_ready(&op->done, &op->result, rc, result);
}

int weft_mpmc_send_result(const weft_mpmc_send *op) { return op->done ? op->result : -EAGAIN; }

void weft_mpmc_send_drop(weft_mpmc_send *op)
{
    weft_mpmc *c = op->chan;
    if (!c) return;
    op->chan = NULL;
    if (op->done) return; /* sent (the channel owns it) or refused (the caller does) */
    wake_batch b = {.n = 0};
    spinlock_lock(&c->lock);
    if (op->w.state == WL_QUEUED) {
        bool was_head = c->tx.head == &op->w;
        wlist_remove(&c->tx, &op->w);
        if (was_head) tx_wake_locked(c, &b); /* it may have been woken for room */
    }
    op->w.state = WL_IDLE;
    weft_waker mine = op->w.waker;
    op->w.waker = WEFT_WAKER_NONE;
    spinlock_unlock(&c->lock);
    weft_waker_drop(&mine);
    wake_batch_run(&b);
    /* not sent: the future owned the element, so it is dropped, not leaked */
    if (c->drop && op->elem) c->drop(op->elem);
    op->done = 1;
    op->result = -ECANCELED;
}

/* ---- recv future -------------------------------------------------------------------------- */

void weft_mpmc_recv_init(weft_mpmc_recv *op, weft_mpmc *c, void *out)
{
    memset(op, 0, sizeof *op);
    op->chan = c;
    op->out = out;
    op->result = 1;
}

weft_poll weft_mpmc_recv_poll(weft_mpmc_recv *op, weft_context *cx, int *result)
{
    if (op->done) return op_ready(&op->done, &op->result, op->result, result);
    weft_mpmc *c = op->chan;
    if (!c || !op->out) {
        op->chan = NULL;
        return op_ready(&op->done, &op->result, err_fail(-EINVAL, "weft_mpmc_recv: NULL channel or buffer"),
                        result);
    }
    if (!weft_coop_proceed(cx)) return WEFT_PENDING;
    wake_batch b = {.n = 0};
    spinlock_lock(&c->lock);
    if (op->w.state == WL_GRANTED) { /* back from a wake */
        c->rx_woken--;
        op->w.state = WL_IDLE;
    }
    int rc = pop_locked(c, op->out, &b);
    if (rc == -EAGAIN) {
        if (op->w.state == WL_IDLE) wlist_push(&c->rx, &op->w);
        weft_waker_store(&op->w.waker, weft_context_waker(cx));
        spinlock_unlock(&c->lock);
        return WEFT_PENDING;
    }
    if (op->w.state == WL_QUEUED) {
        wlist_remove(&c->rx, &op->w);
        op->w.state = WL_IDLE;
    }
    weft_waker mine = op->w.waker;
    op->w.waker = WEFT_WAKER_NONE;
    spinlock_unlock(&c->lock);
    weft_waker_drop(&mine);
    wake_batch_run(&b);
    return op_ready(&op->done, &op->result, rc, result);
}

int weft_mpmc_recv_result(const weft_mpmc_recv *op) { return op->done ? op->result : -EAGAIN; }

void weft_mpmc_recv_drop(weft_mpmc_recv *op)
{
    weft_mpmc *c = op->chan;
    if (!c) return;
    op->chan = NULL;
    if (op->done) return;
    wake_batch b = {.n = 0};
    spinlock_lock(&c->lock);
    if (op->w.state == WL_QUEUED) {
        wlist_remove(&c->rx, &op->w);
    } else if (op->w.state == WL_GRANTED) { /* woken and never came back: pass it on */
        c->rx_woken--;
        rx_wake_locked(c, &b);
    }
    op->w.state = WL_IDLE;
    weft_waker mine = op->w.waker;
    op->w.waker = WEFT_WAKER_NONE;
    spinlock_unlock(&c->lock);
    weft_waker_drop(&mine);
    wake_batch_run(&b);
    op->done = 1;
    op->result = -ECANCELED;
}
