/*
 * schedulers/global.c - N workers, one shared FIFO queue under one spinlock.
 *
 * The question it answers: where does a shared queue stop scaling? Every
 * spawn, wake and yield, from a worker or from any other thread, goes to the
 * back of the one queue; every worker takes the front. It is the textbook
 * thread pool (and what Tokio's inject queue, Go's global runq and a
 * mutex-guarded std::deque all are), and the reference that `ws` and `numa`
 * must beat as workers are added: its cost is one lock round trip per push
 * and per pop, on one cache line that every worker writes.
 *
 * Design. The queue is taskq.h's injectq: an intrusive list through
 * task->next under a test-and-test-and-set spinlock, plus an atomic length
 * that lets has_work and an empty `next` answer with one relaxed load and no
 * lock. A pop takes exactly one task: taking a batch into a private buffer
 * (Go's globrunqget) would halve the lock traffic but make the batch
 * invisible to idle workers, which turns this baseline into a different
 * scheduler; `ws` is where batches live. There is no LIFO slot and nothing
 * to steal (steal is NULL, so the core never counts this policy's workers
 * as searching); the knobs lifo_slot, lifo_cap, steal_batch and
 * local_queue_capacity do not apply, and global_interval only paces the
 * core's reactor maintenance.
 *
 * One combining step keeps the baseline honest rather than a strawman: a
 * yielded task (SCHED_YIELD, re-queued by the core after its poll) is parked
 * in the worker's `pending` field and pushed by that worker's very next
 * `next`, under the same lock hold as its pop: one lock round trip per
 * yield instead of two, and still strict FIFO (the yielded task goes to the
 * back before the front is taken). The core calls `next` right after the
 * re-queue, with no task code in between (at most the non-blocking reactor
 * maintenance, whose wakes are pushed at once), so the task is invisible to
 * other workers only for that instant; the worker holding it cannot park
 * (its `next` returns a task), and drain takes it at shutdown. Spawns and
 * wakes are pushed at once: task code may run for a long time after them.

 * Rejected: a pthread mutex (its uncontended pair costs about three times
 * the spinlock's, measured in common/spinlock.h, and the critical section is
 * four pointer writes, so sleeping in the kernel never pays); a lock-free
 * MPMC queue (Vyukov's bounded ring or a Michael-Scott list): an optional
 * knob in the issue, left out because it needs either a bound (and an
 * overflow path) or per-node memory reclamation, and the point of this row
 * is the plain shared queue.
 *
 * Counters: inject_pops counts every task taken from the shared queue (all
 * of them, under this policy); queue_hwm the queue length a worker saw after
 * its own push.
 *
 * Synchronisation: all of it is the injectq's spinlock (acquire on lock,
 * release on unlock) for the list, and the relaxed length for hints. The
 * core's idle protocol brackets has_work with seq_cst fences, so a relaxed
 * length read there cannot miss a push that the pusher's notify missed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "schedulers/runtime_internal.h"
#include "schedulers/sched.h"
#include "schedulers/taskq.h"

/* 128 bytes between data that different threads write (adjacent-line
 * prefetch, as in common/deque.h). Padding, not _Alignas: malloc memory. */
#define GLOBAL_SEPARATION 128

/* One worker's yielded task awaiting its next `next`; owner only. */
typedef struct global_worker {
    task *pending;
    char pad[GLOBAL_SEPARATION - sizeof(task *)];
} global_worker;

typedef struct global_policy {
    char pad_head[GLOBAL_SEPARATION];
    injectq q; /* any thread */
    char pad_tail[GLOBAL_SEPARATION];
    int nworkers;
    global_worker *workers; /* [nworkers] */
} global_policy;

static void global_destroy(void *policy)
{
    global_policy *p = policy;
    if (!p) return;
    free(p->workers);
    free(p);
}

static int global_create(struct weft_runtime *rt, void **out, char *err, size_t errlen)
{
    global_policy *p = calloc(1, sizeof *p);
    if (p) p->workers = calloc((size_t)rt->nworkers, sizeof *p->workers);
    if (!p || !p->workers) {
        global_destroy(p);
        snprintf(err, errlen, "out of memory for the shared queue");
        return -ENOMEM;
    }
    injectq_init(&p->q);
    p->nworkers = rt->nworkers;
    for (int i = 0; i < rt->nworkers; i++) rt->workers[i].policy_local = &p->workers[i];
    *out = p;
    return 0;
}

static bool global_push_local(void *policy, worker *w, task *t, sched_hint hint)
{
    global_policy *p = policy;
    global_worker *gw = w->policy_local;
    if (hint == SCHED_YIELD && !gw->pending) { /* pushed by our next `next` */
        gw->pending = t;
        return false;
    }
    injectq_push(&p->q, t);
    WORKER_STAT_MAX(w, STAT_QUEUE_HWM, injectq_len(&p->q));
    return true;
}

/* Pushes y at the back and pops the front, in one lock hold. */
static task *global_push_pop(global_policy *p, worker *w, task *y)
{
    injectq *iq = &p->q;
    spinlock_lock(&iq->lock);
    taskq_push(&iq->q, y);
    size_t len = iq->q.len;
    task *t = taskq_pop(&iq->q);
    /* relaxed: the lock orders the list; len is a hint (see taskq.h) */
    atomic_store_explicit(&iq->len, iq->q.len, memory_order_relaxed);
    spinlock_unlock(&iq->lock);
    WORKER_STAT_MAX(w, STAT_QUEUE_HWM, len);
    return t;
}

static int global_push_remote(void *policy, task *t)
{
    injectq_push(&((global_policy *)policy)->q, t);
    return -1; /* any idle worker will do */
}

static task *global_next(void *policy, worker *w)
{
    global_policy *p = policy;
    global_worker *gw = w->policy_local;
    task *t, *y = gw->pending;
    if (y) {
        gw->pending = NULL;
        t = global_push_pop(p, w, y);
    } else {
        t = injectq_pop(&p->q);
    }
    if (t) WORKER_STAT_INC(w, STAT_INJECT_POPS);
    return t;
}

/* A worker's pending yield is left out: that worker is about to push it
 * and cannot park before it does. */
static bool global_has_work(void *policy) { return injectq_len(&((global_policy *)policy)->q) != 0; }

static task *global_drain(void *policy)
{
    global_policy *p = policy;
    for (int i = 0; i < p->nworkers; i++) {
        task *t = p->workers[i].pending;
        if (t) {
            p->workers[i].pending = NULL;
            return t;
        }
    }
    return injectq_pop(&p->q);
}

const sched_ops sched_global = {
    .name = "global",
    .description = "N workers sharing one FIFO queue under a spinlock (the scaling baseline)",
    .runs_on_caller = false,
    .create = global_create,
    .destroy = global_destroy,
    .push_local = global_push_local,
    .push_remote = global_push_remote,
    .next = global_next,
    .steal = NULL,
    .has_work = global_has_work,
    .drain = global_drain,
};
