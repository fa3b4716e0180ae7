/*
 * schedulers/taskq.h - intrusive task queues through task->next.
 *
 *   taskq       an unsynchronised FIFO: one owner thread (fifo's run queue).
 *   injectq     a FIFO any thread may push to and pop from: a spinlock over a
 *               taskq plus an atomic length, so "is it empty?" costs one
 *               relaxed load and no lock (the idle re-check and the
 *               every-K-ticks check read it). Tokio's inject queue is the
 *               same shape under a mutex.
 *   mpscq       many producers, one consumer that takes everything at once
 *               (fifo's injection queue): a Treiber stack. A push is one CAS
 *               on `head` and a write of the pushed task's own `next`; the
 *               consumer's take is one exchange of `head` with NULL and a
 *               walk that reverses the taken chain into push order. No lock,
 *               no length, and neither side writes a line of a task the other
 *               side holds (injectq's push writes the previous tail's `next`,
 *               a task the consumer may be running). No ABA: nobody pops a
 *               single element, the consumer only swaps the whole stack out.
 *
 * A task is in at most one queue: its NOTIFIED bit and the queue reference
 * it stands for are created once per enqueue (task.h), so `next` has one
 * owner at a time.
 */
#ifndef WEFT_SCHED_TASKQ_H
#define WEFT_SCHED_TASKQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/spinlock.h"
#include "schedulers/task.h"

typedef struct taskq {
    task *head, *tail;
    size_t len;
} taskq;

static inline void taskq_init(taskq *q) { q->head = q->tail = NULL; q->len = 0; }

static inline void taskq_push(taskq *q, task *t)
{
    t->next = NULL;
    if (q->tail) q->tail->next = t;
    else q->head = t;
    q->tail = t;
    q->len++;
}


static inline task *taskq_pop(taskq *q)
{
    task *t = q->head;
    if (!t) return NULL;
    q->head = t->next;
    if (!q->head) q->tail = NULL;
    q->len--;
    /* t->next is left stale: every push writes it first (taskq_push, the
     * reap stack), and nothing reads the link of a task in no queue */
    return t;
}

/* Appends all of src to q and empties src. */
static inline void taskq_append(taskq *q, taskq *src)
{
    if (!src->head) return;
    if (q->tail) q->tail->next = src->head;
    else q->head = src->head;
    q->tail = src->tail;
    q->len += src->len;
    taskq_init(src);
}

/* Appends a Treiber stack's chain h (newest first, linked through `next`,
 * NULL-terminated) to q in push order; returns how many. mpscq_take_all's
 * and injectq_absorb's walk. */
static inline size_t taskq_append_stack(taskq *q, task *h)
{
    task *first = h, *rev = NULL; /* first: the newest, the last after reversal */
    size_t n = 0;
    while (h) {
        task *nx = h->next;
        h->next = rev;
        rev = h;
        h = nx;
        n++;
    }
    if (!n) return 0;
    if (q->tail) q->tail->next = rev;
    else q->head = rev;
    q->tail = first;
    q->len += n;
    return n;
}

typedef struct injectq {
    spinlock lock;
    taskq q;               /* under lock */
    _Atomic size_t len;    /* written under lock, read anywhere (relaxed) */
    /* injectq_push_intake's lock-free side: a Treiber stack (mpscq's push),
     * newest first, moved into q under the lock by every pop before it
     * takes anything (injectq_absorb). Next to len, so injectq_len, which
     * every empty-queue check reads, touches one line. */
    _Atomic(task *) intake;
} injectq;

static inline void injectq_init(injectq *iq)
{
    spinlock_init(&iq->lock);
    taskq_init(&iq->q);
    atomic_init(&iq->len, 0);
    atomic_init(&iq->intake, NULL);
}

/* A hint (relaxed loads): the locked list's length, plus one when the
 * intake holds anything (its length is unknown until a pop absorbs it). */
static inline size_t injectq_len(injectq *iq)
{
    return atomic_load_explicit(&iq->len, memory_order_relaxed) +
           (atomic_load_explicit(&iq->intake, memory_order_relaxed) != NULL);
}

/* Any thread, no lock: t onto the intake (one CAS; the producer writes only
 * t's own `next`). seq_cst, as mpscq_push: the store half of the park
 * protocol's Dekker pattern when the caller's notify has no fence of its
 * own (rt_notify_parked has one). FIFO per producer: pops absorb the
 * intake in push order, behind what the locked list already holds. */
static inline void injectq_push_intake(injectq *iq, task *t)
{
    task *h = atomic_load_explicit(&iq->intake, memory_order_relaxed);
    do {
        t->next = h;
    } while (!atomic_compare_exchange_weak_explicit(&iq->intake, &h, t, memory_order_seq_cst,
                                                    memory_order_relaxed));
}

/* Under iq->lock: moves every intake task to the back of q, in push order. */
static inline void injectq_absorb(injectq *iq)
{
    if (!atomic_load_explicit(&iq->intake, memory_order_relaxed)) return;
    /* acquire pairs with the producers' CASes: their tasks' headers and
     * `next` links are visible */
    (void)taskq_append_stack(&iq->q, atomic_exchange_explicit(&iq->intake, NULL, memory_order_acquire));
}

static inline void injectq_push(injectq *iq, task *t)
{
    spinlock_lock(&iq->lock);
    taskq_push(&iq->q, t);
    /* relaxed: the lock orders the list; readers only use len as a hint and
     * take the lock before touching the list */
    atomic_store_explicit(&iq->len, iq->q.len, memory_order_relaxed);
    spinlock_unlock(&iq->lock);
}

static inline task *injectq_pop(injectq *iq)
{
    if (injectq_len(iq) == 0) return NULL;
    spinlock_lock(&iq->lock);
    injectq_absorb(iq);
    task *t = taskq_pop(&iq->q);
    atomic_store_explicit(&iq->len, iq->q.len, memory_order_relaxed);
    spinlock_unlock(&iq->lock);
    return t;
}

/* Under iq->lock: moves up to max tasks of q into out (in order), updates
 * len; returns how many. */
static inline size_t injectq_take_locked(injectq *iq, taskq *out, size_t max)
{
    size_t n = 0;
    if (iq->q.len <= max) {
        n = iq->q.len;
        taskq_append(out, &iq->q);
    } else {
        for (task *t; n < max && (t = taskq_pop(&iq->q)); n++) taskq_push(out, t);
    }
    atomic_store_explicit(&iq->len, iq->q.len, memory_order_relaxed);
    return n;
}

/* Moves up to max tasks into out (in order); returns how many. */
static inline size_t injectq_pop_batch(injectq *iq, taskq *out, size_t max)
{
    if (injectq_len(iq) == 0) return 0;
    spinlock_lock(&iq->lock);
    injectq_absorb(iq);
    size_t n = injectq_take_locked(iq, out, max);
    spinlock_unlock(&iq->lock);
    return n;
}

/* injectq_pop_batch of a fair share, computed under the lock after the
 * intake is absorbed (its length is unknown before): min(len / workers + 1,
 * max) tasks, Go's globrunqget share. */
static inline size_t injectq_pop_share(injectq *iq, taskq *out, size_t workers, size_t max)
{
    if (injectq_len(iq) == 0) return 0;
    spinlock_lock(&iq->lock);
    injectq_absorb(iq);
    size_t want = iq->q.len / (workers ? workers : 1) + 1;
    size_t n = injectq_take_locked(iq, out, want < max ? want : max);
    spinlock_unlock(&iq->lock);
    return n;
}

typedef struct mpscq {
    _Atomic(task *) head; /* newest first; NULL when empty */
} mpscq;

static inline void mpscq_init(mpscq *q) { atomic_init(&q->head, NULL); }

/* Any thread. "Is it empty?" for the idle re-check and the every-K-ticks
 * check: one relaxed load (the park protocol's fences order it, park.c). */
static inline bool mpscq_nonempty(mpscq *q)
{
    return atomic_load_explicit(&q->head, memory_order_relaxed) != NULL;
}

/* Any thread. */
static inline void mpscq_push(mpscq *q, task *t)
{
    task *h = atomic_load_explicit(&q->head, memory_order_relaxed);
    do {
        t->next = h;
        /* release would publish t (its header, t->next) to the consumer's
         * acquire exchange; seq_cst also makes the push the store half of
         * the park protocol's Dekker pattern, so the notify after it needs
         * no fence (rt_notify_parked_after_sc_push, park.c). On x86 both
         * are the same lock cmpxchg. */
    } while (!atomic_compare_exchange_weak_explicit(&q->head, &h, t, memory_order_seq_cst,
                                                    memory_order_relaxed));
}

/* The consumer only: appends every queued task to out in push order (per
 * producer; pushes of different producers in the order of their CASes) and
 * returns how many. */
static inline size_t mpscq_take_all(mpscq *q, taskq *out)
{
    if (!mpscq_nonempty(q)) return 0;
    /* acquire pairs with the pushes' release CASes */
    return taskq_append_stack(out, atomic_exchange_explicit(&q->head, NULL, memory_order_acquire));
}
#endif
