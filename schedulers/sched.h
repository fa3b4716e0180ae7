/*
 * schedulers/sched.h - the scheduling-policy contract and its registry.
 *
 * A scheduler in weft is a policy, not a loop. The runtime core
 * (schedulers/runtime.c, worker.c, park.c, driver.c, blocking.c) owns the
 * threads, the one worker loop, parking and unparking, the reactor and
 * timer driving, the blocking pool and shutdown.
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
 *      by next, steal, drain or take_back (never lost, never twice).
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
 *   E7 Each policy lists its own knobs in its table (sched_ops.knobs: name,
 *      range, default, one line of documentation) and checks them in its
 *      `validate` (the ranges with sched_knobs_check, then any rule between
 *      values); create calls validate first and fails with its message in
 *      `err` (0 or -errno). create sets every worker's local data
 *      (sched_env_set_worker_local); destroy frees what create made. The
 *      core's own knobs (budget, global_interval, the parking, reactor,
 *      timer and blocking-pool knobs) are in schedulers/config.c's table.
 *      Two policies that share a knob (ws and numa) list the same entry.
 *   E8 No policy reads the core's structures, counters or idle state: what
 *      it may know is the environment below, and nothing else.
 *
 * THE ENVIRONMENT (what the core offers a policy; declared below, inline in
 * schedulers/runtime_internal.h, which this header includes at its end):
 *   at create, and immutable while the runtime lives (any thread):
 *     sched_env_nworkers(rt)          the worker count
 *     sched_env_node(rt, i)           worker i's NUMA node (0 without topology)
 *     sched_env_topology(rt)          the topology (NULL for runs_on_caller
 *                                     without pinning or a topology asked for)
 *     sched_env_knobs(rt)             the configuration: the policy reads its
 *                                     own knobs (its table) there
 *     sched_env_set_worker_local(rt, i, p)  create only: worker i's local data
 *   any thread:
 *     sched_env_anyone_hungry(rt)     is any worker idle or searching (a relaxed hint)
 *     sched_env_would_wake(rt)        one idle and none searching (a relaxed hint)
 *     sched_env_wake_near(rt, n)      wake one idle worker, preferring node n (-1: any)
 *     rt_task_alloc/rt_task_free      task memory (a policy may place it on a node)
 *   the worker w that push_local, next and steal run on (owner only):
 *     sched_worker_local(w)           what create set for it
 *     sched_worker_index(w), sched_worker_node(w)
 *     sched_worker_interval_tick(w)   this loop iteration is a global_interval tick
 *     sched_worker_rand(w)            xorshift32, for victim order
 *     WORKER_STAT_INC/ADD/MAX(_BOUNDED)(w, STAT_...) the policy's own counters (it
 *                                     writes them, never reads them: a
 *                                     policy that needs a count keeps its
 *                                     own, as ws's back-off does)
 *
 * Adding a scheduler: write schedulers/<name>.c defining a `const sched_ops
 * sched_<name>` with its knob table, add it to the table in
 * schedulers/registry.c, and the conformance tests, the workloads, the knob
 * parser (weft_config_set, WEFT_KNOBS), the sweeps and the driver's --list
 * pick it up by name. A new knob is also a field of weft_config (the public
 * configuration records every knob, so a result names its whole setting).
 */
#ifndef WEFT_SCHED_SCHED_H
#define WEFT_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schedulers/task.h"
#include "weft/runtime.h"

struct worker;
struct weft_runtime;
struct topo;

typedef enum sched_hint {
    SCHED_SPAWN, /* a new task spawned by the running task */
    SCHED_WAKE,  /* woken by a waker on this worker */
    SCHED_YIELD, /* yielded or re-queued after a poll: goes behind ready work */
} sched_hint;

/* One knob: an int field of weft_config that a policy (or the core) reads.
 * weft_config_default sets `def`, weft_config_set and WEFT_KNOBS refuse a
 * value outside lo..hi with `doc` in the message, and --list prints it. */
typedef struct sched_knob {
    const char *name;  /* the --knob / WEFT_KNOBS name: the field's name */
    size_t offset;     /* offsetof(weft_config, <name>), an int */
    int lo, hi;        /* the accepted range */
    int def;           /* the default */
    const char *doc;   /* one line: what it does (and what 0 means, if special) */
} sched_knob;

#define SCHED_KNOB(field, lo, hi, def, doc) {#field, offsetof(weft_config, field), lo, hi, def, doc}

typedef struct sched_ops {
    const char *name;
    const char *description;
    /* true: exactly one worker, which is the thread inside weft_block_on */
    bool runs_on_caller;
    /* The policy's own knobs (E7), in weft_config's field order; may be
     * NULL with nknobs 0 (fifo has none). */
    const sched_knob *knobs;
    int nknobs;
    /* Checks the policy's knobs in cfg (E7): 0, or -EINVAL with a message in
     * err. Called by weft_config_validate for every registered policy (a
     * configuration is valid for any scheduler it is run with) and by
     * create. NULL: only the table's ranges (sched_knobs_check). */
    int (*validate)(const weft_config *cfg, char *err, size_t errlen);

    /* Creates the policy for rt (sched_env_nworkers workers, its knobs in
     * sched_env_knobs); sets each worker's local data. 0 or -errno, message
     * in err. */
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
    /* Optional (NULL: unsupported). Join claim-back (task.c, weft_join_poll):
     * the running task on worker w awaits t, which is queued and not
     * running. If t sits where only w takes it (ws: the LIFO slot, or the
     * bottom of w's own deque), remove it and return true: the caller now
     * holds t's queue reference and polls t inline, exactly as the worker
     * loop would after `next` returned it (E3: a task taken back counts as
     * returned, and is never returned again). Otherwise change nothing and
     * return false. Owner only (E5); must not block or take a lock a thief
     * holds; a thief racing for the same task is resolved by the queue's
     * own pop (deque_pop_if). */
    bool (*take_back)(void *policy, struct worker *w, task *t);
    /* Optional (NULL: the policy keeps no private tasks). Owner of w only:
     * true when w holds tasks that has_work does not see (ws: the LIFO
     * slot and `later`; global: `pending`, `run`, `out`). A worker's own
     * loop never parks holding them (its next returns them first), but a
     * weft_block_on caller that ran w's loop and leaves at its root's
     * completion may: rt_core_give_back asks this and wakes w's thread. */
    bool (*has_local)(void *policy, struct worker *w);
} sched_ops;

/* Checks cfg's values of knobs[0..n) against their ranges: 0, or -EINVAL
 * with "knob NAME = V is out of range LO..HI (DOC)" in err (config.c). */
int sched_knobs_check(const sched_knob *knobs, int n, const weft_config *cfg, char *err, size_t errlen);
/* The entry of knob `name` in ops's table, or NULL. */
const sched_knob *sched_knob_find(const sched_ops *ops, const char *name);
/* Whether ops reads knob `name`: its own, or a core knob that applies to it
 * (the worker-thread knobs max_searching, spin_before_park, timer_shards and
 * pin do not apply to runs_on_caller policies). config.c. */
bool sched_knob_applies(const sched_ops *ops, const char *name);
/* The one-line documentation of any knob (core or policy), NULL if unknown. */
const char *sched_knob_doc(const char *name);

/* ---- the environment (see above; defined in runtime_internal.h) ---------------- */
static inline int sched_env_nworkers(const struct weft_runtime *rt);
static inline int sched_env_node(const struct weft_runtime *rt, int i);
static inline const struct topo *sched_env_topology(const struct weft_runtime *rt);
static inline const weft_config *sched_env_knobs(const struct weft_runtime *rt);
static inline void sched_env_set_worker_local(struct weft_runtime *rt, int i, void *local);
static inline bool sched_env_anyone_hungry(const struct weft_runtime *rt);
static inline bool sched_env_would_wake(const struct weft_runtime *rt);
static inline void sched_env_wake_near(struct weft_runtime *rt, int node);
static inline void *sched_worker_local(const struct worker *w);
static inline int sched_worker_index(const struct worker *w);
static inline int sched_worker_node(const struct worker *w);
static inline bool sched_worker_interval_tick(const struct worker *w);
static inline uint32_t sched_worker_rand(struct worker *w);

/* The registry (schedulers/registry.c). */
extern const sched_ops *const sched_registry[];
extern const int sched_registry_count;
const sched_ops *sched_find(const char *name);
#endif

/* The definitions of the environment's inline calls (outside the guard, so
 * that whichever of the two headers a file includes first, both are
 * complete at the end of it). */
#include "schedulers/runtime_internal.h"
