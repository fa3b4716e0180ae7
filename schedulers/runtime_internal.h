/*
 * schedulers/runtime_internal.h - the runtime core's structures, shared by
 * runtime.c, the policies and the blocking pool. Nothing here is public.
 */
#ifndef WEFT_SCHED_RUNTIME_INTERNAL_H
#define WEFT_SCHED_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/spinlock.h"
#include "schedulers/sched.h"
#include "schedulers/task.h"
#include "weft/runtime.h"

#define CACHE_LINE 64

/* Counter indices, in the order of weft_worker_stats and weft_stat_fields. */
enum worker_stat {
    STAT_POLLS, STAT_SPAWNS, STAT_LOCAL_WAKES, STAT_REMOTE_WAKES, STAT_PARKS, STAT_UNPARKS,
    STAT_SPURIOUS_UNPARKS, STAT_STEAL_ATTEMPTS, STAT_STEALS, STAT_TASKS_STOLEN,
    STAT_LOCAL_STEALS, STAT_REMOTE_STEALS, STAT_INJECT_POPS, STAT_LIFO_HITS,
    STAT_OVERFLOW_MOVES, STAT_QUEUE_HWM, STAT_COUNT
};
_Static_assert(STAT_COUNT * sizeof(uint64_t) == sizeof(weft_worker_stats),
               "worker_stat must list every weft_worker_stats field");

/* Counters are written by one thread (their worker) and read by any: a
 * relaxed load + relaxed store is enough (no lost updates with one writer)
 * and costs a plain add on x86. */
typedef struct worker_stats {
    _Atomic uint64_t v[STAT_COUNT];
} worker_stats;

#define WORKER_STAT_ADD(w, idx, n)                                                          \
    atomic_store_explicit(&(w)->stats.v[idx],                                               \
                          atomic_load_explicit(&(w)->stats.v[idx], memory_order_relaxed) + (n), \
                          memory_order_relaxed)
#define WORKER_STAT_INC(w, idx) WORKER_STAT_ADD(w, idx, 1)
#define WORKER_STAT_MAX(w, idx, val)                                                        \
    do {                                                                                    \
        uint64_t wsm_v = (uint64_t)(val);                                                   \
        if (wsm_v > atomic_load_explicit(&(w)->stats.v[idx], memory_order_relaxed))         \
            atomic_store_explicit(&(w)->stats.v[idx], wsm_v, memory_order_relaxed);         \
    } while (0)

/* A permit-based parker: unpark before park makes park return at once. */
enum { PARK_EMPTY = 0, PARK_PARKED = 1, PARK_NOTIFIED = 2, PARK_DRIVING = 3 };

typedef struct worker {
    /* owner-written, read by anyone */
    worker_stats stats;
    struct weft_runtime *rt;
    int index;
    int node;                 /* NUMA node from the placement (0 without topology) */
    void *policy_local;       /* the policy's per-worker data */
    uint32_t rng;             /* owner only: xorshift state for victim order */
    uint32_t tick;            /* owner only: loop iterations */
    uint32_t interval_left;   /* owner only: iterations until the next interval tick */
    bool interval_tick;       /* owner only: this iteration is a global_interval tick
                                 (set by the core's loop, read by the policies) */
    bool searching;           /* owner only: counted in rt->num_searching */
    bool in_idle;             /* under rt->idle_lock */
    /* parking */
    _Atomic int park_state;   /* PARK_* */
    pthread_mutex_t park_mu;
    pthread_cond_t park_cv;
    pthread_t thread;
    bool thread_started;
    /* sched_latency samples, owner only */
    void *latency_hist;
} __attribute__((aligned(CACHE_LINE))) worker;

typedef struct owned_shard {
    spinlock lock;          /* only the outside threads' shard uses it */
    task *head;             /* owner only (see task.c) */
    _Atomic(task *) reap;   /* tasks completed elsewhere, for the owner to unlink */
} __attribute__((aligned(CACHE_LINE))) owned_shard;
_Static_assert(sizeof(owned_shard) == CACHE_LINE, "one owned-list shard per cache line");

struct timer_driver;
struct reactor;
struct blocking_pool;
struct topo;

struct weft_runtime {
    weft_config cfg;
    char *cfg_strings;            /* owned copies of cfg's strings */
    const sched_ops *ops;
    void *policy;
    int nworkers;
    worker *workers;              /* nworkers entries */
    worker_stats external;        /* counters of threads outside the runtime (atomic adds) */
    /* Schedules by threads outside the runtime that have not finished with
     * rt yet (rt_schedule's remote branch); runtime_destroy waits for 0
     * before it frees what they touch. Beside `external`, which the same
     * threads write, so it costs no extra cache line. */
    _Atomic int outside_inflight;

    /* idle protocol (see runtime.c's essay) */
    _Atomic int num_searching;
    _Atomic int num_idle;
    int max_searching;
    spinlock idle_lock;
    int *idle_stack;              /* worker indices, under idle_lock */
    int idle_top;

    /* the driver: one worker at a time drives reactor + timers */
    _Atomic int driver_busy;
    struct timer_driver *timers;  /* [ntimers]: one wheel, or one per shard (timer_shards) */
    int ntimers;
    struct reactor *reactor;
    pthread_t driver_thread;      /* cfg.reactor_thread */
    bool driver_thread_started;

    /* lifecycle */
    _Atomic int shutdown;
    _Atomic int workers_started;  /* workers that bound themselves and entered the loop */
    _Atomic int block_on_active;  /* fifo: one block_on at a time */
    owned_shard *owned;           /* nworkers + 1 shards; the last is for outside threads */

    struct blocking_pool *blocking;
    struct topo *topo;
    void *placement;              /* topo_placement */
    char placement_desc[4096];
};

/* The owned list (task.c): the owner of `shard` unlinks reaped tasks. */
void owned_reap(struct weft_runtime *rt, uint32_t shard);

/* The worker the calling thread is, or NULL. */
worker *rt_current_worker(void);

/* Queue t for running (the core picks local or remote). */
void rt_schedule(task *t, sched_hint hint);
/* Called by policies/pushers after making work visible to other workers. */
void rt_notify_parked(struct weft_runtime *rt, int node);

/* Error message helper: formats into the thread's weft_last_error buffer. */
int rt_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The blocking pool (schedulers/blocking.c). */
int blocking_pool_new(struct weft_runtime *rt, struct blocking_pool **out);
int blocking_pool_submit(struct blocking_pool *bp, task *t);
void blocking_pool_free(struct blocking_pool *bp); /* waits for running jobs */
void blocking_run_task(task *t);                   /* in runtime.c: runs one job */
void blocking_cancel_queued(task *t);              /* in runtime.c: drops a never-run job */

/* Task memory (the numa policy may place it on a node). */
task *rt_task_alloc(struct weft_runtime *rt, size_t size);
void rt_task_free(task *t);

static inline uint32_t worker_rand(worker *w)
{
    uint32_t x = w->rng; /* xorshift32: owner-only victim order */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return w->rng = x;
}
#endif
