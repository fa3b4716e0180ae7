/*
 * schedulers/fifo.c - one worker, one FIFO queue, on the thread that calls
 * weft_block_on.
 *
 * The question it answers: what does a task cost with no synchronisation at
 * all? Spawns and wakes from the worker itself go to an unsynchronised
 * intrusive FIFO (no atomics, no lock). Spawns and wakes from other threads
 * (spawn_remote, the blocking pool, a waker called from a plain thread) go
 * to the injection queue (taskq.h's mpscq: one CAS per push, on a line of
 * its own, fifo.h), and the core wakes the parked worker. The worker
 * takes the injection queue first every `global_interval` ticks and
 * whenever its own queue is empty, moving the whole injected batch with one
 * exchange, so remote spawns cost one atomic per batch on this side.
 *
 * Two local FIFOs: tasks woken by a waker go to `woken`, spawned and
 * yielded tasks to `ready`, and the worker takes `woken` first. A task
 * woken by a timer or a socket has waited for an event and is usually
 * short; putting it behind a backlog of never-run spawned tasks is what
 * makes timer lateness grow with the backlog (timer_storm: 100 000 tasks
 * spawned at once). Every `global_interval` ticks `ready` goes first, so a
 * pair of tasks waking each other forever cannot starve the spawned ones;
 * a yield always goes to the back of `ready`, so yield_now still lets
 * every other ready task run. There is no LIFO slot and nothing to steal.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "schedulers/fifo.h"

static int fifo_create(struct weft_runtime *rt, void **out, char *err, size_t errlen)
{
    fifo_policy *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory for the queues");
        return -ENOMEM;
    }
    taskq_init(&p->woken);
    taskq_init(&p->local);
    mpscq_init(&p->inject);
    sched_env_set_worker_local(rt, 0, p);
    *out = p;
    return 0;
}

static void fifo_destroy(void *policy) { free(policy); }

/* The hot two are in fifo.h, so the core can call them without the vtable. */
static bool fifo_push_local(void *policy, worker *w, task *t, sched_hint hint)
{
    return fifo_push_local_inline(policy, w, t, hint);
}

static int fifo_push_remote(void *policy, task *t)
{
    fifo_push_remote_inline(policy, t);
    return -1;
}

static task *fifo_next(void *policy, worker *w)
{
    return fifo_next_inline(policy, w, sched_worker_interval_tick(w));
}

static bool fifo_has_work(void *policy)
{
    fifo_policy *p = policy;
    return p->local.head || p->woken.head || mpscq_nonempty(&p->inject);
}

static task *fifo_drain(void *policy)
{
    fifo_policy *p = policy;
    /* after the worker stopped (runtime_destroy): the drain owns local */
    task *t = taskq_pop(&p->woken);
    if (t) return t;
    if (!p->local.head) mpscq_take_all(&p->inject, &p->local);
    return taskq_pop(&p->local);
}

const sched_ops sched_fifo = {
    .name = "fifo",
    .description = "one worker, one FIFO queue, on the thread inside block_on",
    .runs_on_caller = true,
    .knobs = NULL, /* none of its own: the core's knobs only */
    .nknobs = 0,
    .validate = NULL,
    .create = fifo_create,
    .destroy = fifo_destroy,
    .push_local = fifo_push_local,
    .push_remote = fifo_push_remote,
    .next = fifo_next,
    .steal = NULL,
    .has_work = fifo_has_work,
    .drain = fifo_drain,
};

/* fifo.h's separation: the outside threads' line is FIFO_SEPARATION bytes
 * from the first byte of each owner queue and from the end of the struct */
_Static_assert(offsetof(fifo_policy, inject) - offsetof(fifo_policy, local) >= FIFO_SEPARATION,
               "fifo's injection queue is off the owner queues' line pair");
_Static_assert(sizeof(fifo_policy) - offsetof(fifo_policy, inject) >= FIFO_SEPARATION,
               "nothing allocated after fifo_policy shares the injection queue's line pair");
