/*
 * schedulers/numa.c - NUMA-aware work stealing: ws (schedulers/ws.c, whose
 * essay describes the deque, LIFO slot, `later` list, fairness tick and
 * steal-half this policy shares) plus the machine's topology.
 *
 * THE QUESTION. On a machine with several NUMA nodes a steal across nodes
 * moves the task, and then every cache line it touches, over the
 * interconnect; a remote memory access costs about 1.5-3x a local one. Does
 * keeping work on its node beat plain random stealing? This policy differs
 * from ws in exactly four places, so the two rows of a report isolate them:
 *
 * 1. Victim order. Each worker's victims are split into two tiers by
 *    worker->node (the runtime's placement, common/topology.c): the workers
 *    of its own node, then all others. ws_steal sweeps the near tier in
 *    random order, then its own node's injection queue, and only after that
 *    full local sweep failed does it look at other nodes' injection queues
 *    and then the far tier (ws_victim_order gives the exact order; the tests
 *    check it). With `numa_backoff_us` > 0 it also waits until local sweeps
 *    have failed for that long (counted from the first failed sweep since
 *    the policy last handed the worker a task: its own count, `handed`,
 *    not the core's poll counter) before crossing; the clock is read only
 *    when the knob is non-zero. While it waits, has_work stays true (there
 *    is remote work), so the worker spins in the core's loop instead of
 *    sleeping: the back-off is a busy wait by design, bounded by the knob.
 *    Far-tier victims are not ordered by distance: synthetic topologies
 *    carry no distance matrix, and on two-node machines there is one far
 *    node anyway.
 *
 * 2. One injection queue per node. push_remote picks the node of the CPU
 *    the calling thread runs on (topo_current_node; a hint, the thread may
 *    migrate), or round-robin when the runtime has no topology, skipping
 *    nodes without workers, and returns that node so the core wakes an idle
 *    worker of that node first. A worker takes from its own node's queue in
 *    next() and in the fairness tick, and from other nodes' queues only in
 *    the cross-node part of a steal.
 *
 * 3. Node-local structures. Each worker's scheduling state (the deque's
 *    header with top and bottom, the LIFO slot, `later`, its victim list)
 *    and each node's injection queue header are allocated with
 *    topo_alloc_on_node on that node: bound pages on a real multi-node
 *    machine, plain malloc with first-touch placement elsewhere
 *    (topo_alloc_is_node_local says which; the first touch is then the
 *    creating thread's zeroing, so that memory is on the creator's node).
 *    NOT node-local, stated plainly:
 *     - the deque's slot array: common/deque.c allocates it with malloc. The
 *       initial array is allocated and first touched by the thread that
 *       creates the runtime, so it lives on that thread's node; arrays from
 *       growth are allocated and first touched by the owner on its own node,
 *       so after a worker's first growth its array is node-local in practice
 *       (with the kernel's default first-touch policy). The array holds only
 *       task pointers; the tasks themselves matter more:
 *     - task memory: rt_task_alloc (spawn.c) takes blocks from the calling
 *       worker's task cache (size classes over the program's malloc), which
 *       hands a worker back blocks freed on that same worker, first touched
 *       on this node, so a task spawned and completed on one worker stays
 *       node-local in practice with first-touch; a stolen task is freed into
 *       the thief's cache, and tasks spawned from outside the runtime come
 *       from malloc on the spawning thread. Placing cache refills on the
 *       worker's node would fix both; it is the runtime's to add.
 *     - the futures' own heap data, wakers, timers and the reactor.
 *
 * 4. Counters: local_steals and remote_steals split `steals` by whether the
 *    victim is on the thief's node (ws keeps them too, for comparison);
 *    steals, tasks_stolen and the rest are as in ws.
 *
 * Everything else (the idle protocol, the searching cap, chain wake-up and
 * which idle worker to wake for a given node) is the core's (runtime.c).
 *
 * Rejected: stealing only within a node (work on one node would never
 * reach idle workers of another, so a single producer would use one node);
 * hierarchical per-node "steal leaders" (another level of queues to make
 * consistent, for at most two to four nodes on the machines measured);
 * NUMA-aware wake-up by the policy (the core already prefers the returned
 * node).
 *
 * Synchronisation: none beyond ws's (deque.c, taskq.h), plus the relaxed
 * round-robin counter below.
 */
#include <stdatomic.h>

#include "common/topology.h"
#include "schedulers/sched.h"
#include "schedulers/ws_common.h"

static const sched_knob numa_knobs[] = {
    WS_KNOBS,
    SCHED_KNOB(numa_backoff_us, 0, 1000000, 0, "numa: back-off before cross-node steals"),
};
#define NUMA_NKNOBS ((int)(sizeof numa_knobs / sizeof numa_knobs[0]))

static int numa_validate(const weft_config *cfg, char *err, size_t errlen)
{
    return ws_validate_knobs(numa_knobs, NUMA_NKNOBS, cfg, err, errlen);
}

static int numa_create(struct weft_runtime *rt, void **out, char *err, size_t errlen)
{
    int rc = numa_validate(sched_env_knobs(rt), err, errlen); /* E7 */
    if (rc < 0) return rc;
    const topo *machine = sched_env_topology(rt);
    int nodes = machine ? topo_node_count(machine) : 1;
    const ws_shape shape = {"numa", nodes, true, true, true};
    return ws_policy_create(rt, &shape, out, err, errlen);
}

static int numa_push_remote(void *policy, task *t)
{
    ws_policy *p = policy;
    int node = p->machine ? topo_current_node(p->machine) : -1;
    if (node < 0 || node >= p->ninject || p->inject[node]->workers == 0) {
        /* relaxed: only spreads the load; the queue's lock publishes the task */
        unsigned k = atomic_fetch_add_explicit(&p->rr, 1, memory_order_relaxed);
        node = p->populated[k % (unsigned)p->npopulated];
    }
    ws_inject_push(p, node, t);
    return node;
}

const sched_ops sched_numa = {
    .name = "numa",
    .description = "NUMA-aware work stealing: ws, stealing inside the node first, one injection "
                   "queue per node, node-local queues",
    .runs_on_caller = false,
    .knobs = numa_knobs,
    .nknobs = NUMA_NKNOBS,
    .validate = numa_validate,
    .create = numa_create,
    .destroy = ws_policy_destroy,
    .push_local = ws_push_local,
    .push_remote = numa_push_remote,
    .next = ws_next_counted,
    .steal = ws_steal,
    .has_work = ws_has_work,
    .has_local = ws_has_local,
    .drain = ws_drain,
    .take_back = ws_take_back,
};
