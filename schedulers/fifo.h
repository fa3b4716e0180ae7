/*
 * schedulers/fifo.h - fifo's queues and its two hot functions, visible to
 * the core.
 *
 * The worker loop calls a policy through sched_ops (sched.h). For fifo, the
 * per-task path (yield_many: pop, poll, push back; spawn_many: push, pop) is
 * short enough that two indirect calls per task are a visible share of it
 * and also keep the compiler from folding the push and the pop into the
 * loop. So fifo's push_local and next are defined here as static inline
 * functions: fifo.c's sched_ops entries are thin wrappers over them, and the
 * core (worker.c) calls them directly when rt->ops == &sched_fifo. The
 * behaviour is the same function either way; nothing here is a second
 * policy.
 */
#ifndef WEFT_SCHED_FIFO_H
#define WEFT_SCHED_FIFO_H

#include <stdint.h>

#include "schedulers/sched.h"
#include "schedulers/taskq.h"

/* Spawns and wakes from other threads go to `inject`, an mpscq (taskq.h):
 * one CAS per push, one exchange per batch on the worker. It is kept
 * FIFO_SEPARATION bytes from the owner's queues, which the worker writes on
 * every task: when it shared their cache line (the injectq's lock sat at
 * byte 48, beside `local`), every outside push took that line from the
 * worker and the worker took it back on its next push or pop. The
 * separation is by padding (as common/deque.h's, and for its reason: 128
 * for the adjacent-line prefetcher, and no over-aligned type in a calloc'ed
 * struct); the trailing pad keeps the next allocation off inject's line. */
#define FIFO_SEPARATION 128
typedef struct fifo_policy {
    taskq woken;   /* owner (worker 0) only: woken by wakers */
    taskq local;   /* owner (worker 0) only: spawned and yielded */
    char pad0[FIFO_SEPARATION];
    mpscq inject;  /* any thread pushes; the owner (or the drain) takes */
    char pad1[FIFO_SEPARATION - sizeof(mpscq)];
} fifo_policy;

extern const sched_ops sched_fifo;

/* queue_hwm is the queues' length after a spawn or a wake pushed, or after
 * an injected batch moved in (fifo_next_inline). A yield's re-queue does
 * not count: it gives back the place its task's pop freed, so a poll that
 * pushed nothing leaves the length where it was before that pop (already
 * recorded), and one that spawned k tasks and then yielded leaves the mark
 * at the length after its last spawn, one below the moment after the
 * re-queue (tests/test_hot_path.c has the exact marks). So a yield pays no
 * test of the mark: a share of the 91 -> 72 instructions per yield of the
 * commit that made it (callgrind, yield_many fifo/1; the commit has the
 * command). */
static inline bool fifo_push_local_inline(fifo_policy *p, worker *w, task *t, sched_hint hint)
{
    if (hint == SCHED_YIELD) {
        taskq_push(&p->local, t);
        return false;
    }
    taskq *q = hint == SCHED_WAKE ? &p->woken : &p->local;
    taskq_push(q, t);
    WORKER_STAT_MAX(w, STAT_QUEUE_HWM, p->local.len + p->woken.len);
    return false; /* one worker: nobody else to wake */
}

/* From any thread: the injection queue (the core calls it directly from
 * rt_schedule, then rt_notify_parked_after_sc_push: mpscq_push is seq_cst). */
static inline void fifo_push_remote_inline(fifo_policy *p, task *t) { mpscq_push(&p->inject, t); }

/* woken first, then local; every global_interval ticks (fair_tick: the
 * caller passes sched_worker_interval_tick(w), or the value it is about to
 * store there) the
 * injection queue is moved into local first and local goes first; when both
 * are empty, the injection queue is moved in. The common case (no tick,
 * woken or local not empty) is tested first: two pops and no other test. */
static inline task *fifo_next_inline(fifo_policy *p, worker *w, bool fair_tick)
{
    task *t;
    if (!fair_tick) {
        if ((t = taskq_pop(&p->woken))) return t;
        if ((t = taskq_pop(&p->local))) return t;
    }
    size_t n = mpscq_take_all(&p->inject, &p->local);
    if (n) {
        WORKER_STAT_ADD(w, STAT_INJECT_POPS, n);
        WORKER_STAT_MAX(w, STAT_QUEUE_HWM, p->local.len + p->woken.len);
    }
    if ((t = taskq_pop(&p->local))) return t;
    return taskq_pop(&p->woken); /* a fair tick with local empty */
}
#endif
