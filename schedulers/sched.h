/*
 * schedulers/sched.h - the scheduling-policy contract and its registry.
 *
 * A scheduler in weft is a policy, not a loop. The runtime core
 * (schedulers/runtime.c) owns the threads, the one worker loop, parking and
 * unparking, the reactor and timer driving, the blocking pool and shutdown.
 * A policy answers only these questions:
 *
 *   - where does a task go when it is spawned, woken or yields?
 *       push_local  (from one of the runtime's workers; owner thread only;
 *                    says whether others could take the task)
 *       push_remote (from any other thread: the injection path)
 *   - where does a worker look for work?
 *       next        (its own queues: local queue, LIFO slot, the shared or
 *                    injection queue every `global_interval` ticks)
 *       steal       (other workers' queues; NULL for single-queue policies)
 *   - is there work anywhere? (has_work: the re-check before parking that
 *     makes parking free of lost wake-ups; a racy estimate is fine because
 *     the caller brackets it with seq_cst fences)
 *   - whom to wake: push_remote returns the NUMA node whose idle workers
 *     should be woken first (-1: any); the core picks the idle worker;
 *   - which counters it keeps: it increments its worker's counters through
 *     WORKER_STAT_INC (steals, inject_pops, lifo_hits, overflow_moves, ...).
 *
 * The policy never blocks, never owns a thread and never touches the reactor
 * or the timers, so two rows of a report differ only in these functions.
 *
 * Adding a scheduler: write schedulers/<name>.c defining a `const sched_ops
 * sched_<name>`, add it to the table in schedulers/registry.c, and the
 * conformance tests, the workloads and the driver pick it up by name.
 */
#ifndef WEFT_SCHED_SCHED_H
#define WEFT_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>

#include "schedulers/task.h"

struct worker;
struct weft_runtime;

typedef enum sched_hint {
    SCHED_SPAWN, /* a new task spawned by the running task */
    SCHED_WAKE,  /* woken by a waker on this worker */
    SCHED_YIELD, /* yielded or re-queued after a poll: goes behind ready work */
} sched_hint;

typedef struct sched_ops {
    const char *name;
    const char *description;
    /* true: exactly one worker, which is the thread inside weft_block_on */
    bool runs_on_caller;

    /* Creates the policy for rt (rt->nworkers workers, rt->cfg knobs);
     * sets worker->policy_local for each worker. 0 or -errno, message in err. */
    int (*create)(struct weft_runtime *rt, void **policy, char *err, size_t errlen);
    void (*destroy)(void *policy);

    /* Returns true when the task landed where other workers can take it
     * (a shared queue or a stealable deque), so the core should wake an
     * idle worker; false for private places (a LIFO slot, a yield list,
     * a single worker's queue). */
    bool (*push_local)(void *policy, struct worker *w, task *t, sched_hint hint);
    int (*push_remote)(void *policy, task *t); /* returns the node to wake on, or -1 */
    task *(*next)(void *policy, struct worker *w);
    task *(*steal)(void *policy, struct worker *w); /* may be NULL */
    bool (*has_work)(void *policy);
    /* Shutdown, all workers stopped: pop any task still queued, NULL when empty. */
    task *(*drain)(void *policy);
} sched_ops;

/* The registry (schedulers/registry.c). */
extern const sched_ops *const sched_registry[];
extern const int sched_registry_count;
const sched_ops *sched_find(const char *name);
#endif
