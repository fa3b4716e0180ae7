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
 * lock. There is no LIFO slot and nothing to steal (steal is NULL, so the
 * core never counts this policy's workers as searching); the knobs
 * lifo_slot, lifo_cap, steal_batch and local_queue_capacity do not apply,
 * and global_interval only paces the core's reactor maintenance.
 *
 * Two modes, chosen by the knob global_batch (B):
 *
 * B = 1, the pure shared queue (global_batch = 1). A pop takes exactly
 * one task; spawns and wakes are pushed at once. One combining step keeps
 * the baseline honest rather than a strawman: a yielded task (SCHED_YIELD,
 * re-queued by the core after its poll) is parked in the worker's `pending`
 * field and pushed by that worker's very next `next`, under the same lock
 * hold as its pop: one lock round trip per yield instead of two, and still
 * strict FIFO (the yielded task goes to the back before the front is
 * taken; a second push while `pending` is taken sends the older one to the
 * queue first). The core calls `next` right after the re-queue, with no
 * task code in between (at most the non-blocking reactor maintenance), so
 * the task is invisible to other workers only for that instant; the worker
 * holding it cannot park (its `next` returns a task), and drain takes it at
 * shutdown.
 *
 * B = 1 with the hold (the default with two or more workers,
 * global_batch = 0). `pending` holds a worker's spawns and wakes as well
 * as its yields: the newest one waits there until the worker's next `next`,
 * and a second one sends the older to the queue (with the core's
 * notification). If the queue is then empty (its relaxed length), `next`
 * runs the held task without the lock: pushing it to an empty queue and
 * popping the front would hand it straight back. A chain of spawns
 * (chained_spawn) or a wake ping-pong then stays on one worker without a
 * lock round trip, where the pure queue took the lock twice per link and
 * let the other worker pop every link, its lines crossing cores
 * (chained_spawn at 2 workers: inject_pops per 1000-link iteration 1003
 * -> 1; callgrind, depth 1000 vs 2000 at --profile=quick, 356 -> 314
 * instructions per link; the commits have the commands). The price is Tokio's LIFO slot's (ws.c,
 * point 3): the one held task waits for the rest of its spawner's poll,
 * however idle the other workers are. A burst of spawns is still published
 * task by task, each one as the next arrives.
 *
 * B > 1, batches (Go's globrunqget). When its private `run` list is empty,
 * a worker takes one lock and, in that one hold, appends its private `out`
 * list to the back of the queue and moves min(len / workers + 1, B) tasks
 * from the front into `run` (Go's fair share, so the batch of one worker
 * is never the whole queue while others wait). Its spawns, wakes and
 * yields go to `out`; with two or more workers the B-th of them publishes
 * the lot at once (one lock hold, and the core's notification), so a burst
 * of spawns costs one lock round trip per B tasks, not one per task. Order
 * stays FIFO from a single worker's point of view: `run` holds the oldest
 * tasks, then the shared queue, then `out`. A worker whose queue is empty
 * (its relaxed length) takes no lock for its own tasks: a lone worker
 * splices `out` into `run` (nobody to publish to, nothing to put in
 * front); with more workers a lone task in `out` is run at once (the hold
 * above, for the same chains), and two or more are published and a share
 * taken back.
 * The cost is visibility, and it is why batches are not the default with
 * two or more workers. The taken tasks in `run` and the pushes in `out`
 * are private: another worker cannot run them, and a task that keeps its
 * worker for long (a CPU-bound poll, or a blocking wait on a sibling)
 * strands them behind it, up to B - 1 each, however idle the other workers
 * are (the hold strands one). Two rules narrow it: a take while some
 * worker is hungry (idle or searching, the relaxed hint) keeps one task
 * and leaves it the rest, with the wake E4 asks for; and a worker popping
 * from `run` that sees a hungry worker gives the rest of its batch back to
 * the front of the queue. Neither helps a worker that is already inside a
 * long poll: two barrier tasks spawned from outside run side by side
 * (test_stress_idle_spin's global_batch=32 case; the take of both hung it
 * before the first rule), but test_time's shard-move test, whose blocker
 * holds a worker while runnable movers wait in that worker's batch, hangs
 * with explicit batches and passes with the default. A worker never parks
 * holding private tasks (its `next` flushes and takes before it can
 * return NULL).
 * What batches buy at two workers, one binary, global_batch=32 against
 * the default, alternating processes: see the README's "global's batches"
 * (spawn_many, yield_many, ping_pong, fib and uts all faster).
 *
 * The default, global_batch = 0, is B = unbounded with one worker (a take
 * splices the whole queue into `run` in O(1), like fifo's injection queue)
 * and B = 1 with the hold with more. With one worker there is nobody the
 * private lists could hide work from, and the lock round trip per
 * operation (comparable to a whole fifo yield) would be pure overhead; with
 * more workers the default keeps the row what it is for: every task on one
 * shared queue, but for the one a worker holds, and no task stranded
 * behind a long poll but that one.
 * Set global_batch explicitly to measure batches at any worker count, or 1
 * to measure the pure queue's lock cost, without the hold, at any worker
 * count.
 *
 * Rejected: a pthread mutex (its uncontended pair costs several times the
 * spinlock's, see common/spinlock.h, and the critical section is
 * four pointer writes, so sleeping in the kernel never pays); a lock-free
 * MPMC queue (Vyukov's bounded ring or a Michael-Scott list): an optional
 * knob in the issue, left out because it needs either a bound (and an
 * overflow path) or per-node memory reclamation, and the point of this row
 * is the plain shared queue.
 *
 * Counters: inject_pops counts every task taken from the shared queue (all
 * of them with two or more workers; a lone worker's own spawns and yields
 * that it spliced from `out` past an empty queue are not); queue_hwm the queue length a worker saw after
 * its own push.
 *
 * Synchronisation: all of it is the injectq's spinlock (acquire on lock,
 * release on unlock) for the list, and the relaxed length for hints. The
 * core's idle protocol brackets has_work with seq_cst fences, so a relaxed
 * length read there cannot miss a push that the pusher's notify missed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "schedulers/sched.h"
#include "schedulers/taskq.h"

/* 128 bytes between data that different threads write (adjacent-line
 * prefetch, as in common/deque.h). Padding, not _Alignas: malloc memory. */
#define GLOBAL_SEPARATION 128

/* One worker's private state; owner only. */
typedef struct global_worker {
    task *pending; /* B = 1: the yielded task its next `next` pushes */
    taskq run;     /* B > 1: taken from the queue, run in order */
    taskq out;     /* B > 1: its own pushes, published at its next take or at B */
    char pad[GLOBAL_SEPARATION - sizeof(task *) - 2 * sizeof(taskq)];
} global_worker;

typedef struct global_policy {
    char pad_head[GLOBAL_SEPARATION];
    injectq q; /* any thread */
    char pad_tail[GLOBAL_SEPARATION];
    struct weft_runtime *rt; /* for the hints and sched_env_wake_near (E4) */
    int nworkers;
    size_t batch;           /* B (SIZE_MAX: the whole queue) */
    bool hold_spawns;       /* B = 1 by default (global_batch = 0): a worker's spawns and
                               wakes are held in `pending` too (the hold, in the essay) */
    global_worker *workers; /* [nworkers] */
} global_policy;

static void global_destroy(void *policy)
{
    global_policy *p = policy;
    if (!p) return;
    free(p->workers);
    free(p);
}

static const sched_knob global_knobs[] = {
    SCHED_KNOB(global_batch, 0, 4096, 0,
               "global: tasks taken per lock hold (0: auto: all at 1 worker, else 1)"),
};
#define GLOBAL_NKNOBS ((int)(sizeof global_knobs / sizeof global_knobs[0]))

static int global_validate(const weft_config *cfg, char *err, size_t errlen)
{
    return sched_knobs_check(global_knobs, GLOBAL_NKNOBS, cfg, err, errlen);
}

static int global_create(struct weft_runtime *rt, void **out, char *err, size_t errlen)
{
    int rc = global_validate(sched_env_knobs(rt), err, errlen); /* E7 */
    if (rc < 0) return rc;
    int n = sched_env_nworkers(rt);
    global_policy *p = calloc(1, sizeof *p);
    if (p) p->workers = calloc((size_t)n, sizeof *p->workers);
    if (!p || !p->workers) {
        global_destroy(p);
        snprintf(err, errlen, "out of memory for the shared queue");
        return -ENOMEM;
    }
    injectq_init(&p->q);
    p->rt = rt;
    p->nworkers = n;
    int b = sched_env_knobs(rt)->global_batch;
    p->batch = b > 0 ? (size_t)b : n == 1 ? SIZE_MAX : 1;
    p->hold_spawns = p->batch == 1 && b == 0;
    for (int i = 0; i < n; i++) {
        taskq_init(&p->workers[i].run);
        taskq_init(&p->workers[i].out);
        sched_env_set_worker_local(rt, i, &p->workers[i]);
    }
    *out = p;
    return 0;
}

/* B > 1: moves gw->out to the back of the queue in one lock hold. */
static __attribute__((noinline)) void global_publish(global_policy *p, worker *w, global_worker *gw)
{
    injectq *iq = &p->q;
    spinlock_lock(&iq->lock);
    injectq_absorb(iq); /* the remote pushes before ours */
    taskq_append(&iq->q, &gw->out);
    size_t len = iq->q.len;
    /* relaxed: the lock orders the list; len is a hint (see taskq.h) */
    atomic_store_explicit(&iq->len, len, memory_order_relaxed);
    spinlock_unlock(&iq->lock);
    WORKER_STAT_MAX(w, STAT_QUEUE_HWM, len);
}

/* B > 1: moves what is left of gw->run back to the front of the queue (its
 * tasks are older than everything queued) in one lock hold, and wakes a
 * parked worker for them (E4). */
static __attribute__((noinline)) void global_unshare(global_policy *p, global_worker *gw)
{
    injectq *iq = &p->q;
    spinlock_lock(&iq->lock);
    injectq_absorb(iq);
    taskq_append(&gw->run, &iq->q);
    iq->q = gw->run;
    taskq_init(&gw->run);
    atomic_store_explicit(&iq->len, iq->q.len, memory_order_relaxed);
    spinlock_unlock(&iq->lock);
    if (sched_env_would_wake(p->rt)) sched_env_wake_near(p->rt, -1);
}

/* B = 1: t to the back of the queue (out of line, see global_flush_take). */
static __attribute__((noinline)) void global_push_queue(global_policy *p, worker *w, task *t)
{
    injectq_push(&p->q, t);
    WORKER_STAT_MAX(w, STAT_QUEUE_HWM, injectq_len(&p->q));
}

static bool global_push_local(void *policy, worker *w, task *t, sched_hint hint)
{
    global_policy *p = policy;
    global_worker *gw = sched_worker_local(w);
    if (p->batch > 1) {
        /* private until our next take, or until B of them wait: then all
         * are published and the core notifies (true) */
        taskq_push(&gw->out, t);
        if (p->nworkers == 1 || gw->out.len < p->batch) return false;
        global_publish(p, w, gw);
        return true;
    }
    if (hint == SCHED_YIELD || p->hold_spawns) {
        task *held = gw->pending;
        gw->pending = t; /* pushed (or run) by our next `next` */
        if (!held) return false;
        /* the slot was taken: the older task goes to the queue first, so
         * the queue order is the order of the pushes */
        t = held;
    }
    global_push_queue(p, w, t);
    return true;
}

/* Pushes y at the back and pops the front, in one lock hold. */
static task *global_push_pop(global_policy *p, worker *w, task *y)
{
    injectq *iq = &p->q;
    spinlock_lock(&iq->lock);
    injectq_absorb(iq); /* the remote pushes before y */
    taskq_push(&iq->q, y);
    size_t len = iq->q.len;
    task *t = taskq_pop(&iq->q);
    /* relaxed: the lock orders the list; len is a hint (see taskq.h) */
    atomic_store_explicit(&iq->len, iq->q.len, memory_order_relaxed);
    spinlock_unlock(&iq->lock);
    WORKER_STAT_MAX(w, STAT_QUEUE_HWM, len);
    return t;
}

/* B > 1: appends gw->out to the queue and takes a fair-share batch into
 * gw->run, in one lock hold; returns the batch's first task. Out of line,
 * as global_unshare and global_publish: global_next's and
 * global_push_local's common paths then need no saved registers (perf,
 * chained_spawn global/1: the prologue's pushes were a fifth of
 * global_next's samples). */
static __attribute__((noinline)) task *global_flush_take(global_policy *p, worker *w, global_worker *gw)
{
    injectq *iq = &p->q;
    if (injectq_len(iq) == 0 && !gw->out.head) return NULL;
    size_t published = gw->out.len;
    spinlock_lock(&iq->lock);
    injectq_absorb(iq);
    taskq_append(&iq->q, &gw->out);
    size_t len = iq->q.len;
    size_t want = len / (size_t)p->nworkers + 1;
    if (want > p->batch) want = p->batch;
    /* a hungry worker: take one and leave it the rest (the wake below) */
    if (want > 1 && p->nworkers > 1 && sched_env_anyone_hungry(p->rt)) want = 1;
    if (want >= len) {
        taskq_append(&gw->run, &iq->q); /* the whole queue: a splice, no walk */
    } else {
        for (size_t i = 0; i < want; i++) taskq_push(&gw->run, taskq_pop(&iq->q));
    }
    size_t left = iq->q.len;
    /* relaxed: the lock orders the list; len is a hint (see taskq.h) */
    atomic_store_explicit(&iq->len, left, memory_order_relaxed);
    spinlock_unlock(&iq->lock);
    WORKER_STAT_MAX(w, STAT_QUEUE_HWM, len);
    size_t got = len < want ? len : want;
    if (got) WORKER_STAT_ADD(w, STAT_INJECT_POPS, got);
    /* E4: tasks another worker can now take that no push announced (ours,
     * or remote ones left behind a share cut to one); the relaxed look
     * first, as the core's pushes do */
    if (left && (published || got == 1) && p->nworkers > 1 && sched_env_would_wake(p->rt))
        sched_env_wake_near(p->rt, -1);
    return taskq_pop(&gw->run);
}

/* Off the workers, with one worker: the queue's lock-free intake
 * (taskq.h), which every locked operation of the queue absorbs first, in
 * push order, so the order is the one of a locked push. With the lock, a
 * spawner outside and the worker draining its pushes took the lock in
 * turns, one task at a time once the worker kept up (spawn_remote
 * global/1 0.85x). With more workers the locked push stays: the absorbing
 * worker's walk touched every task's line and another worker then ran
 * most of them (spawn_remote global/2 1.23x with the intake). A/B in
 * results/ab-vm-2c-2026-12-05-outside-blocks (gi_*, gi2_*). */
static int global_push_remote(void *policy, task *t)
{
    global_policy *p = policy;
    if (p->nworkers == 1) injectq_push_intake(&p->q, t);
    else injectq_push(&p->q, t);
    return -1; /* any idle worker will do */
}

/* B = 1: the pending yield pushed and the front popped, in one hold.
 * Out of line, for global_next's batch path (see global_flush_take). */
static __attribute__((noinline)) task *global_next_one(global_policy *p, worker *w, global_worker *gw)
{
    task *t, *y = gw->pending;
    if (y) {
        gw->pending = NULL;
        /* The hold: nothing queued to put in front of y (the relaxed
         * length), so the push and pop would hand y straight back; run it
         * without the lock. A push racing the load is concurrent with y's
         * and may go either side. Explicit global_batch = 1 keeps the
         * round trip (the pure queue's cost, measured). */
        if (p->hold_spawns && injectq_len(&p->q) == 0) return y;
        t = global_push_pop(p, w, y);
    } else {
        t = injectq_pop(&p->q);
    }
    if (t) WORKER_STAT_INC(w, STAT_INJECT_POPS);
    return t;
}

static task *global_next(void *policy, worker *w)
{
    global_policy *p = policy;
    global_worker *gw = sched_worker_local(w);
    if (p->batch > 1) {
        task *r = taskq_pop(&gw->run);
        if (!r) {
            if (gw->out.head && injectq_len(&p->q) == 0) {
                /* One worker and nothing queued that the lock would put in
                 * front of `out`: splice `out` into `run` without the lock
                 * round trip (no other worker could take from the queue
                 * what the flush would publish). FIFO holds: `out` is this
                 * worker's own pushes; a remote push racing the relaxed
                 * load is concurrent with them and may go either side, and
                 * is taken at the next empty `run`, which reads the length
                 * again. chained_spawn global/1 took the lock once per link
                 * without this (the commit has the callgrind count). */
                if (p->nworkers == 1) {
                    taskq_append(&gw->run, &gw->out);
                    return taskq_pop(&gw->run);
                }
                /* More workers, one task of ours: run it without the lock,
                 * as the hold does (publishing it to an empty queue and
                 * taking the front would hand it straight back) */
                if (gw->out.len == 1) return taskq_pop(&gw->out);
            }
            return global_flush_take(p, w, gw);
        }
        /* the rest of a batch is private: a worker that went hungry since
         * the take gets it back at this scheduling point (ws's `later`);
         * relaxed hints, as the core's pushes read them */
        if (gw->run.head && p->nworkers > 1 && sched_env_anyone_hungry(p->rt)) global_unshare(p, gw);
        return r;
    }
    return global_next_one(p, w, gw);
}

/* A worker's private tasks (pending, run, out) are left out: that worker
 * runs or publishes them before it can park. */
static bool global_has_work(void *policy) { return injectq_len(&((global_policy *)policy)->q) != 0; }

static bool global_has_local(void *policy, worker *w)
{
    (void)policy;
    const global_worker *gw = sched_worker_local(w);
    return gw->pending != NULL || gw->run.len != 0 || gw->out.len != 0;
}

static task *global_drain(void *policy)
{
    global_policy *p = policy;
    for (int i = 0; i < p->nworkers; i++) {
        global_worker *gw = &p->workers[i];
        task *t = gw->pending;
        if (t) {
            gw->pending = NULL;
            return t;
        }
        if ((t = taskq_pop(&gw->run)) || (t = taskq_pop(&gw->out))) return t;
    }
    return injectq_pop(&p->q);
}

const sched_ops sched_global = {
    .name = "global",
    .description = "N workers sharing one FIFO queue under a spinlock (the scaling baseline)",
    .runs_on_caller = false,
    .knobs = global_knobs,
    .nknobs = GLOBAL_NKNOBS,
    .validate = global_validate,
    .create = global_create,
    .destroy = global_destroy,
    .push_local = global_push_local,
    .push_remote = global_push_remote,
    .next = global_next,
    .steal = NULL,
    .has_work = global_has_work,
    .has_local = global_has_local,
    .drain = global_drain,
};
