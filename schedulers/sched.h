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
 * WHAT THE CORE EXPECTS OF A POLICY (every policy; the conformance suites
 * tests/test_conformance.c and tests/test_sched_mt.c check them by name):
 *   E1 `next` never returns NULL while the policy holds a task only this
 *      worker can run (a LIFO slot, a private yield or batch list): the
 *      core parks a worker whose next and steal both return NULL, and
 *      has_work may leave such private places out only because of E1.
 *   E2 `has_work` sees every place another worker could take a task from
 *      (shared queues, stealable deques, injection queues). It may be a
 *      racy estimate: the core brackets it with seq_cst fences.
 *   E3 Every task handed to push_local/push_remote is returned exactly once
 *      by next, steal or drain (never lost, never twice).
 *   E4 push_local's return value is the only wake channel for local pushes:
 *      true when the task landed where another worker can take it. A policy
 *      that later publishes private work (ws's `later` list) calls
 *      sched_env_wake_near itself, once, after making it visible.
 *   E5 push_local, next and steal run on the worker `w` only (owner-only
 *      state needs no synchronisation); push_remote on any thread, also
 *      concurrently with the owner; drain only after every worker stopped.
 *   E6 A runs_on_caller policy has exactly one worker, run by the thread
 *      inside weft_block_on; the core creates no worker threads for it and
 *      skips topology unless pinning or a topology is asked for.
 *   E7 create validates the policy's own knobs (rt->cfg) and fails with a
 *      message in `err` (0 or -errno); it sets worker->policy_local of
 *      every worker. destroy frees what create made.
 *   E8 No policy reads the core's counters or idle state directly: what it
 *      may know is the environment below.
 *
 * THE ENVIRONMENT (what the core offers a policy; all any-thread unless
 * said otherwise):
 *   rt->nworkers                the worker count
 *   rt->workers[i].node         each worker's NUMA node (0 without topology)
 *   rt->topo                    the topology (NULL for runs_on_caller without pinning)
 *   rt->cfg                     the knobs (the policy's own included)
 *   w->interval_tick            this loop iteration is a global_interval tick
 *   worker_rand(w)              owner-only xorshift, for victim order
 *   WORKER_STAT_INC(w, ...)     the policy's own counters (owner only)
 *   sched_env_anyone_hungry(rt) is any worker idle or searching (a relaxed hint)
 *   sched_env_wake_near(rt, n)  wake one idle worker, preferring node n (-1: any)
 *   rt_task_alloc/rt_task_free  task memory (a policy may place it on a node)
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

/* The two calls of the environment, sched_env_anyone_hungry and
 * sched_env_wake_near, are static inline in runtime_internal.h (they read
 * the core's structure, and ws calls the first on its yield path). */

/* The registry (schedulers/registry.c). */
extern const sched_ops *const sched_registry[];
extern const int sched_registry_count;
const sched_ops *sched_find(const char *name);
#endif
