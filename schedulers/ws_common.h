/*
 * schedulers/ws_common.h - the work-stealing engine shared by the `ws` and
 * `numa` policies. The engine and its design essay are in schedulers/ws.c;
 * numa.c adds the NUMA shape (victim tiers by node, one injection queue per
 * node, node-local allocation) and its own push_remote.
 *
 * Ownership in the names, as in common/deque.h:
 *   owner only (worker w's thread)   ws_push_local, ws_next, ws_steal,
 *                                    ws_take_back
 *   any thread                       ws_has_work, ws_inject_push
 *   single-threaded                  ws_policy_create, ws_policy_destroy,
 *                                    ws_drain, ws_victim_order (reads only
 *                                    immutable data: any thread, in fact)
 */
#ifndef WEFT_SCHED_WS_COMMON_H
#define WEFT_SCHED_WS_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/deque.h"
#include "schedulers/sched.h"
#include "schedulers/taskq.h"

/* The knobs ws and numa share (E7 in sched.h): one definition, listed in
 * both tables. numa adds numa_backoff_us. */
#define WS_KNOBS                                                                             \
    SCHED_KNOB(local_queue_capacity, 2, 1 << 24, 256, /* Tokio's and Go's local ring size */ \
               "local queue capacity (power of two)"),                                      \
    SCHED_KNOB(lifo_slot, 0, 1, 1, "LIFO slot on/off"),                                     \
    SCHED_KNOB(lifo_cap, 1, 1 << 20, 3, /* Tokio's cap */ "consecutive LIFO-slot runs"),     \
    SCHED_KNOB(steal_batch, 0, 1, 0, "0: steal half, 1: steal one"),                        \
    /* 300: spawn_many ws/2 and numa/2 about 2x faster, uts and fib within noise; at  \
     * 1000 uts T3 was 1.41-1.51x slower (ws.c, point 9) */                                 \
    SCHED_KNOB(steal_pay_ns, 0, 1000000, 300,                                               \
               "busy ns per stolen task a steal must buy, else hold off (0: off)"),         \
    SCHED_KNOB(steal_max, 1, 1 << 24, 128, /* half of Tokio's and Go's 256-slot ring */    \
               "most tasks one steal moves"),                                          \
    SCHED_KNOB(split_deque, 0, 1, 1, "newest tasks private (no fence) until a thief asks")

/* Validates ws's knobs as listed in `knobs` (a table holding WS_KNOBS): the
 * ranges, and local_queue_capacity a power of two. */
int ws_validate_knobs(const sched_knob *knobs, int n, const weft_config *cfg, char *err, size_t errlen);

/* Bytes kept between structures that different threads write (the adjacent-
 * line prefetcher pairs 64-byte lines; see DEQUE_SEPARATION). */
#define WS_SEPARATION 128

/* One injection queue alone on its lines (padding, not _Alignas: the memory
 * may come from malloc). Any thread pushes and pops. */
typedef struct ws_inject {
    char pad_head[WS_SEPARATION];
    injectq q;
    int workers; /* immutable: how many workers take from it as their own */
    char pad_tail[WS_SEPARATION];
} ws_inject;

/*
 * One worker's scheduling state.
 *
 * Who writes / who reads:
 *   dq          owner pushes and pops; thieves steal (common/deque.h)
 *   lifo        owner only: the task spawned or woken last by the running
 *               task, run next; never stolen, invisible to has_work
 *   lifo_run    owner only: consecutive runs from the slot
 *   later       owner only: yielded tasks and slot evictions, FIFO, run
 *               behind ready work; invisible to thieves until published
 *   pv          owner only: its newest tasks (the private part, point 10)
 *   want        thieves set it (relaxed), the owner reads and clears it
 *   fair_turn, handed, fail_*  owner only
 *   everything else    immutable after ws_policy_create
 * Invariants (ws_local_check): lifo_run <= lifo_cap; later.len counts its
 * list; pv_lo <= pv_hi <= pv_cap; a worker whose lifo, pv or later is
 * non-empty never gets NULL from
 * ws_next (so it never parks holding private work); victims[] is every
 * other worker exactly once, the first `nlocal` in the near tier.
 */
typedef struct ws_local {
    deque dq; /* padded inside: top and bottom on lines of their own */
    task *lifo;
    uint32_t lifo_run;
    uint32_t fair_turn;
    taskq later;
    uint64_t handed;       /* numa: tasks next and steal returned (owner-only tick counter) */
    bool fail_streak;      /* numa back-off: a failed local sweep is pending */
    uint64_t fail_since;   /* when the streak started (clock_now_ns) */
    uint64_t fail_handed;  /* `handed` then: a task handed out since ends the streak */
    int index;             /* the worker */
    int node;              /* its NUMA node (worker->node) */
    int inject;            /* its own injection queue */
    injectq *own_inject;   /* &p->inject[inject]->q, for the hot path */
    int nlocal, nremote;   /* victim tiers: same node, other nodes */
    size_t alloc_size;     /* for topo_free / free */
    bool node_alloc;       /* allocated with topo_alloc_on_node */
    bool dq_live;          /* deque_init succeeded: destroy must deque_destroy */
    /* the private part (point 10), owner only: pv[pv_lo, pv_hi), oldest
     * first; the owner's newest tasks, invisible to thieves until published */
    task **pv;
    uint32_t pv_lo, pv_hi, pv_cap;
    /* set by a thief that found dq empty (relaxed; a hint): publish */
    char want_pad0[WS_SEPARATION];
    _Atomic uint32_t want;
    char want_pad1[WS_SEPARATION];
    /* steal pay-off (point 9), owner only */
    uint64_t pay_t0;       /* when the last steal returned a task (0: none pending) */
    uint64_t pay_moved;    /* tasks it moved */
    uint32_t pay_bad;      /* consecutive steals that did not pay */
    int victims[];         /* nlocal + nremote worker indices */
} ws_local;

/* How ws and numa differ, given to ws_policy_create. */
typedef struct ws_shape {
    const char *name;
    /* injection queues: 1 for ws; for numa one per NUMA node, queue i
     * belonging to the workers of node i */
    int ninject;
    /* tier victims by NUMA node (numa) or put every victim in one tier (ws) */
    bool node_tiers;
    /* allocate per-worker and per-queue structures on their node */
    bool node_local_alloc;
    /* read numa_backoff_us (numa's knob) */
    bool backoff;
} ws_shape;

typedef struct ws_policy {
    struct weft_runtime *rt; /* for the environment's calls (sched.h) */
    const struct topo *topo; /* node-local allocation's topology: NULL for ws or without one */
    const struct topo *machine; /* the topology (numa's push_remote), NULL without one */
    int nworkers;
    int ninject;
    /* knobs, copied from the configuration */
    bool lifo_slot;
    uint32_t lifo_cap;
    bool steal_one;
    size_t inject_batch;     /* most tasks moved from an injection queue at once */
    uint64_t backoff_ns;     /* numa_backoff_us in ns; 0: no clock reads */
    size_t steal_max;        /* most tasks one steal moves (steal_max) */
    bool split;              /* split_deque with more than one worker (point 10) */
    uint64_t pay_ns;         /* steal pay-off: busy ns per moved task a steal must buy (0: off) */
    uint64_t hold_ns;        /* first hold after a steal that did not pay */
    uint32_t hold_max_shift; /* holds double up to hold_ns << hold_max_shift */
    ws_local **locals;       /* [nworkers] */
    ws_inject **inject;      /* [ninject] */
    int *populated;          /* injection queues with workers, [npopulated] */
    int npopulated;
    _Atomic unsigned rr;     /* push_remote round-robin without a topology */
} ws_policy;

int ws_policy_create(struct weft_runtime *rt, const ws_shape *shape, void **out, char *err,
                     size_t errlen);
void ws_policy_destroy(void *policy);

bool ws_push_local(void *policy, worker *w, task *t, sched_hint hint);
task *ws_next(void *policy, worker *w);
task *ws_next_counted(void *policy, worker *w); /* ws_next that counts `handed` (numa) */
task *ws_steal(void *policy, worker *w);
bool ws_has_work(void *policy);
/* Owner of w: its LIFO slot or `later` holds a task (sched_ops.has_local). */
bool ws_has_local(void *policy, struct worker *w);
task *ws_drain(void *policy);
bool ws_take_back(void *policy, worker *w, task *t); /* owner only: join claim-back */

/* Any thread: queue t on injection queue `q` (0 <= q < ninject). */
void ws_inject_push(ws_policy *p, int q, task *t);

/* The order in which worker `self` tries its victims in one sweep whose
 * random draw is `r` (ws_steal draws r = sched_worker_rand(w)): writes the
 * nworkers - 1 indices to order[] and the size of the near tier (tried first,
 * starting at r % nlocal) to *nlocal; the far tier follows, starting at
 * r % nremote. Returns nworkers - 1. ws_steal walks the same order inline
 * (without the array); the tests use this to check it. */
int ws_victim_order(const ws_policy *p, int self, uint32_t r, int *order, int *nlocal);

/* Always-on check of the invariants above (for tests and assert()). */
bool ws_local_check(const ws_policy *p, const ws_local *l);
#endif
