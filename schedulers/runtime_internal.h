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
#include <stdlib.h>

#include "common/context.h"
#include "common/error.h"
#include "common/spinlock.h"
#include "schedulers/sched.h"
#include "schedulers/task.h"
#include "timers/timer.h"
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
/* WORKER_STAT_MAX of `val`, an expression evaluated only when `bound`, an
 * upper bound of it, exceeds the mark (ws: the deque length, whose exact
 * value reads a line the thieves write). */
#define WORKER_STAT_MAX_BOUNDED(w, idx, bound, val)                                          \
    do {                                                                                    \
        if ((uint64_t)(bound) > atomic_load_explicit(&(w)->stats.v[idx], memory_order_relaxed)) \
            WORKER_STAT_MAX(w, idx, val);                                                   \
    } while (0)

/* A worker's task-memory cache (spawn.c): free blocks of task memory by
 * size class, owner only. Class c (1..TASK_CACHE_CLASSES) holds blocks of
 * c * TASK_CACHE_GRAIN bytes; a task bigger than the largest class is
 * plain malloc memory (class 0). */
#define TASK_CACHE_GRAIN 64
#define TASK_CACHE_CLASSES 16
/* Blocks of one class a cache keeps while busy (TASK_CACHE_MAX), bytes of
 * all classes together (TASK_CACHE_MAX_BYTES), and blocks of a class after
 * its worker trims it before parking (TASK_CACHE_KEEP). */
/* 16384: spawn_many's 10 000 tasks live at once fit, where 8192 sent the
 * rest to malloc and free (alternating A/B, 6 processes a side: fifo/1
 * 23.1 -> 19.6 ns per task, ws/1 0.95x; the byte bound, unchanged, is what
 * binds for blocks of 128 bytes and more). */
#define TASK_CACHE_MAX 16384u
#define TASK_CACHE_MAX_BYTES ((size_t)2 << 20)
#define TASK_CACHE_KEEP 64u
/* Frees of one pre-park trim: trimming a full cache at once (thousands of
 * free() calls) delays the timers that fall due during the trim. */
#define TASK_CACHE_TRIM_STEP 32u
/* Outside blocks (spawn.c's essay): alloc_class's TASK_OUTSIDE bit marks
 * a block allocated off the workers; a worker gathers the ones it frees in
 * chains of TASK_RET_CHAIN and pushes each chain to the runtime's return
 * stack of its class, which holds at most TASK_RET_MAX_CHAINS (beyond that
 * a chain goes to free()); an outside thread allocates from the chains it
 * took from there before it calls malloc. */
#define TASK_OUTSIDE 0x80u
#define TASK_RET_CHAIN 64u
#define TASK_RET_MAX_CHAINS 16u
typedef struct task_cache {
    void *head[TASK_CACHE_CLASSES];     /* singly linked through each block's first word */
    uint32_t count[TASK_CACHE_CLASSES];
    size_t bytes;                       /* of every cached block */
    void *ret[TASK_CACHE_CLASSES];      /* the outside blocks being gathered, a chain */
    uint32_t ret_len[TASK_CACHE_CLASSES];
} task_cache;

/* One class's return stack: chains linked through their first block's
 * second word (the first word links the chain's blocks). Its own line pair:
 * the workers push, the outside threads take all at once. */
typedef struct task_ret_stack {
    _Atomic(void *) head;
    _Atomic uint32_t chains; /* about how many chains head holds (a bound, not an index) */
    char pad[128 - sizeof(void *) - sizeof(uint32_t)];
} task_ret_stack;

/* A permit-based parker: unpark before park makes park return at once. */
enum { PARK_EMPTY = 0, PARK_PARKED = 1, PARK_NOTIFIED = 2, PARK_DRIVING = 3 };

typedef struct worker {
    /* owner-written, read by anyone */
    worker_stats stats;
    struct weft_runtime *rt;
    int index;
    int node;                 /* NUMA node from the placement (0 without topology) */
    void *policy_local;       /* the policy's per-worker data */
    weft_drivers drivers;     /* immutable after creation: this worker's timer shard and the
                                 reactor, passed down in every weft_context it polls with */
    timer_pending tpending;   /* owner only: sleeps first polled in the task poll under way,
                                 stamped by run_task when the poll returns (timers/timer.c,
                                 DEFERRED STAMP); drivers.pending points here */
    uint32_t rng;             /* owner only: xorshift state for victim order */
    uint32_t interval_left;   /* owner only: iterations until the next interval tick (the
                                 loop keeps it in a local while it runs) */
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
    /* The core hand-off (park.c): 1 while a weft_block_on caller runs this
     * worker's loop and the worker's own thread waits in worker_park.
     * Written under park_mu by the caller that takes and gives back the
     * core; read under park_mu by the parked thread and plainly by the
     * core's holder (the loop's idle exit). */
    int core_lent;
    uint64_t core_takes;      /* hand-offs of this core, under park_mu (rt_core_handoffs) */
    /* sched_latency samples, owner only */
    void *latency_hist;
    /* free task memory, owner only (spawn.c); emptied by runtime_destroy */
    task_cache tcache;
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
    /* Counters of threads outside the runtime (atomic adds), on lines of
     * their own: beside ops/policy/workers, which every worker reads on
     * every push, each outside spawn's add took that line from the
     * workers (perf, spawn_remote fifo/1: the add was 74 % of spawn_full's
     * samples, the load of rt->ops after rt_schedule's add 33 % of its). */
    worker_stats external __attribute__((aligned(CACHE_LINE)));
    /* The outside bracket's fallback (rt_outside_enter): schedules by
     * outside threads that have no record (none could be allocated) and
     * have not finished with rt yet; runtime_destroy waits for 0, and for
     * the records, before it frees what they touch. Beside `external`,
     * which the same threads write, and off the idle protocol's line
     * below, which every push reads (sched_env_would_wake). */
    _Atomic int outside_inflight;

    /* idle protocol (see runtime.c's essay) */
    _Atomic int num_searching __attribute__((aligned(CACHE_LINE)));
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

    /* A fault that stopped the runtime (a reactor that keeps failing): the
     * first -errno, 0 while healthy; written once under fault_mu (release),
     * read by anyone (acquire). fault_msg is written before the store. */
    _Atomic int fault;
    char fault_msg[256];
    pthread_mutex_t fault_mu;
    struct thread_parker *fault_waiters; /* under fault_mu: rt_block_on_wait's parkers */

    /* lifecycle */
    _Atomic int shutdown;
    _Atomic int workers_started;  /* workers that bound themselves and entered the loop */
    _Atomic int block_on_active;  /* fifo: one block_on at a time; runtime_destroy waits for 0 */
    bool handoff;                 /* the core hand-off is on (cfg.block_on_handoff, park.c) */
    bool workers_ready;           /* every worker's parker initialised (runtime_new) */
    owned_shard *owned;           /* nworkers + 1 shards; the last is for outside threads */

    struct blocking_pool *blocking;
    struct topo *topo;
    void *placement;              /* topo_placement */
    char placement_desc[4096];

    /* outside blocks coming back (task_ret_stack), one stack per class */
    task_ret_stack ret[TASK_CACHE_CLASSES] __attribute__((aligned(CACHE_LINE)));
};

/* The owned list (task.c): every live task is on one shard (the spawning
 * worker's, or the last one for outside threads); the owner of `shard`
 * unlinks reaped tasks. */
void owned_insert(struct weft_runtime *rt, task *t, uint32_t shard);
void owned_reap(struct weft_runtime *rt, uint32_t shard);

/* ---- the runtime core's internal calls, by file ---------------------------------- */

/* worker.c. rt_tls_worker: the worker the calling thread is, or NULL
 * (hidden: the compiler and linker give it the access model of a file-static
 * TLS variable, so the split into files costs the hot paths nothing). */
extern _Thread_local worker *rt_tls_worker __attribute__((visibility("hidden")));
worker *rt_current_worker(void);
void rt_worker_loop(worker *w, _Atomic int *until); /* until: stop once *until != 0 */
void *rt_worker_main(void *arg);                   /* pthread entry of a worker */
void rt_task_cancel_running(task *t);              /* drops its future, completes it cancelled */
/* Join claim-back (task.c's essay): for a policy with take_back (the caller
 * checks), on a worker of t's runtime, below RT_CLAIM_DEPTH_MAX nested claims, takes the queued
 * task t back from the policy and polls it inline, as run_task does.
 * RT_CLAIM_NONE: nothing was done. RT_CLAIM_POLLED: t was polled (it may
 * have completed, or still be pending). RT_CLAIM_HELD: t completed READY
 * through task_complete_claimed: its output was copied to `out` (unless
 * NULL) and t was freed; the caller's join handle must forget it. */
typedef enum rt_claim { RT_CLAIM_NONE, RT_CLAIM_POLLED, RT_CLAIM_HELD } rt_claim;
rt_claim rt_claim_and_run(task *t, void *out);

/* park.c */
void rt_worker_unpark(worker *w);
void rt_worker_park_idle(worker *w, _Atomic int *until);
/* The core hand-off (park.c's essay), for weft_block_on on a runtime with
 * rt->handoff, from a thread that is no worker: rt_core_take makes the
 * calling thread worker w (rt_tls_worker) if w's thread is parked, and
 * returns whether it did; rt_core_give_back returns w to its thread (and
 * wakes it when work, timers, IO or a shutdown need it). rt_core_take_any:
 * the first of rt's workers whose core it took, or NULL. */
bool rt_core_take(worker *w);
worker *rt_core_take_any(struct weft_runtime *rt);
void rt_core_give_back(worker *w);
uint64_t rt_core_handoffs(struct weft_runtime *rt); /* every worker's core_takes, for the tests */

/* driver.c. The caller of rt_driver_turn holds driver_busy or is the driver
 * thread; rt_maintenance is the workers' non-blocking turn every
 * global_interval ticks. */
size_t rt_timers_fire_all(struct weft_runtime *rt);
uint64_t rt_timers_park_begin(struct weft_runtime *rt);
void rt_timers_park_end(struct weft_runtime *rt);
bool rt_timers_any_armed(struct weft_runtime *rt);
size_t rt_driver_turn(struct weft_runtime *rt, uint64_t timeout_ns);
uint64_t rt_timeout_until(uint64_t deadline_ns);
void rt_maintenance(worker *w);
void *rt_driver_main(void *arg);    /* pthread entry of cfg.reactor_thread's driver */
void rt_timers_notify(void *ctx);  /* timer_driver notify: wakes the driver */
bool rt_waker_borrowable(const weft_context *cx, const void *p, size_t n); /* weft_drivers hook */

/* Whether the loop of w (with block_on's flag `until`, may be NULL) must stop. */
static inline bool rt_loop_should_stop(worker *w, _Atomic int *until)
{
    if (until && atomic_load_explicit(until, memory_order_acquire)) return true; /* pairs with uf_wake_by_ref */
    return atomic_load_explicit(&w->rt->shutdown, memory_order_acquire) != 0; /* pairs with runtime_destroy */
}

/* The outside bracket (rt_schedule's remote branch; runtime.c has the
 * essay): each thread outside the runtimes that schedules into one has a
 * record of its own in a process-wide list, whose sequence number is odd
 * while the thread is between its push and its last read of rt. One
 * writer, so entering and leaving are plain stores, no RMW on a shared
 * line; runtime_destroy waits for every odd record to move
 * (rt_outside_quiesce). A thread whose record cannot be made (no memory,
 * no thread key) counts in rt->outside_inflight instead. */
typedef struct outside_rec {
    _Atomic uint64_t seq; /* odd: inside a bracket */
    struct outside_rec *prev, *next;
    /* owner only: outside blocks taken from a return stack, by class: the
     * chain being used and the chains after it (task_ret_stack's links);
     * free()d when the thread exits */
    void *blk[TASK_CACHE_CLASSES];
    void *chains[TASK_CACHE_CLASSES];
} outside_rec;
extern _Thread_local outside_rec *rt_outside_tls __attribute__((visibility("hidden")));
outside_rec *rt_outside_register(void); /* this thread's record, or NULL */
void rt_outside_quiesce(void);          /* returns when no record is inside a bracket */

/* Before the push. relaxed: the push's release orders the store before
 * the task is visible (whoever frees rt saw the task's completion, hence
 * the push, hence this store). */
static inline outside_rec *rt_outside_enter(struct weft_runtime *rt)
{
    outside_rec *r = rt_outside_tls;
    if (__builtin_expect(r == NULL, 0)) r = rt_outside_register();
    if (r)
        atomic_store_explicit(&r->seq, atomic_load_explicit(&r->seq, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&rt->outside_inflight, 1, memory_order_relaxed);
    return r;
}

/* After the last read of rt. release: pairs with the acquire loads of
 * runtime_destroy's wait, so every read of rt here happens before the free. */
static inline void rt_outside_leave(struct weft_runtime *rt, outside_rec *r)
{
    if (r)
        atomic_store_explicit(&r->seq, atomic_load_explicit(&r->seq, memory_order_relaxed) + 1,
                              memory_order_release);
    else
        atomic_fetch_sub_explicit(&rt->outside_inflight, 1, memory_order_release);
}

/* A counter of threads outside the runtime (any thread: an atomic add). */
static inline void rt_external_stat_inc(struct weft_runtime *rt, int idx)
{
    atomic_fetch_add_explicit(&rt->external.v[idx], 1, memory_order_relaxed);
}

/* Queue t for running (the core picks local or remote). */
void rt_schedule(task *t, sched_hint hint);
/* rt_schedule(t, SCHED_SPAWN) on a thread the caller knows is w, a worker
 * of t->rt (weft_spawn: no second look-up of the thread's worker). */
void rt_schedule_spawned(worker *w, task *t);
/* Called by policies/pushers after making work visible to other workers. */
void rt_notify_parked(struct weft_runtime *rt, int node);
/* The same after a push that was itself a seq_cst RMW (see park.c). */
void rt_notify_parked_after_sc_push(struct weft_runtime *rt, int node);


/* The timer driver a future polled on this thread arms on (the calling
 * worker's shard, shard 0 off the workers; NULL without timers), and the
 * entries armed on all of rt's shards. The futures themselves get their
 * driver from the context (common/context.h); these are for the harness
 * and the tests. */
struct timer_driver *weft_runtime_timers(weft_runtime *rt);
size_t weft_runtime_timers_armed(weft_runtime *rt);

/* Faults (driver.c): records the first one, stops the runtime (as
 * weft_runtime_free's first step does) and wakes every weft_block_on
 * caller, which returns err with the message. Any thread. */
void rt_runtime_fault(struct weft_runtime *rt, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* task.c: weft_join_wait that a fault also ends; the wake of the waiters
 * (the caller holds fault_mu). */
/* spin: the bounded spin on the root's COMPLETE bit before sleeping (task.c);
 * false after a lent loop that already spun as a worker (park.c). */
int rt_block_on_wait(struct weft_runtime *rt, weft_join_handle *h, void *out, bool spin);
#define RT_BLOCK_ON_SPIN_NS 50000u /* the block_on caller's spin, either kind */
void rt_fault_wake_waiters(struct weft_runtime *rt);

/* The blocking pool (schedulers/blocking.c). */
int blocking_pool_new(struct weft_runtime *rt, struct blocking_pool **out);
int blocking_pool_submit(struct blocking_pool *bp, task *t);
void blocking_pool_free(struct blocking_pool *bp); /* waits for running jobs */
void blocking_run_task(task *t);                   /* in runtime.c: runs one job */
void blocking_cancel_queued(task *t);              /* in runtime.c: drops a never-run job */

/* Task memory (the numa policy may place it on a node). On a worker of rt
 * it comes from and returns to that worker's task_cache (a block freed on
 * another worker joins that worker's cache; off the workers it is malloc
 * and free). rt_task_cache_trim frees all but `keep` blocks of each class
 * (the owner, before it parks); rt_task_cache_release frees all of them
 * (runtime_destroy, once no thread is the worker any more). */
task *rt_task_alloc(struct weft_runtime *rt, size_t size);
void rt_task_free(task *t);

/* Under ASan a cached block is poisoned (spawn.c's essay). */
#if defined(__SANITIZE_ADDRESS__)
#define TC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_ASAN 1
#endif
#endif
#ifdef TC_ASAN
#include <sanitizer/asan_interface.h>
#define TC_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define TC_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define TC_POISON(p, n) ((void)(p), (void)(n))
#define TC_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static inline size_t tc_class_bytes(unsigned c) { return (size_t)c * TASK_CACHE_GRAIN; }
/* The class of a block of `size` bytes (>= TASK_HEADER_SIZE); above
 * TASK_CACHE_CLASSES it is not cached. */
static inline unsigned tc_class_of(size_t size)
{
    return (unsigned)((size + TASK_CACHE_GRAIN - 1) / TASK_CACHE_GRAIN);
}

/* rt_task_alloc and rt_task_free themselves, inline for the per-task paths
 * (spawn, completion: a call each was a visible share of spawn_many) and
 * out of line in spawn.c for everyone else. */
/* w: the calling thread's worker when it is one of rt's, else NULL. */
/* A block of class c from w's cache, which has one (head[c - 1] != NULL). */
static inline task *rt_task_cache_pop(worker *w, unsigned c)
{
    void *b = w->tcache.head[c - 1];
    TC_UNPOISON(b, tc_class_bytes(c));
    w->tcache.head[c - 1] = *(void **)b;
    w->tcache.count[c - 1]--;
    w->tcache.bytes -= tc_class_bytes(c);
    return b;
}

/* Off the workers: a block of class c from this thread's taken chains,
 * refilled from rt's return stack when they are used up, else malloc. */
void *rt_task_take_returned(struct weft_runtime *rt, outside_rec *r, unsigned c);
static inline task *rt_task_alloc_outside(struct weft_runtime *rt, unsigned c)
{
    outside_rec *r = rt_outside_tls;
    void *b = NULL;
    if (r) {
        b = r->blk[c - 1];
        if (b) {
            void *nx = *(void **)b;
            r->blk[c - 1] = nx;
            /* the next allocation's block, for writing (its line comes
             * from the worker that freed it): neutral where measured,
             * spawn_remote 0.96-1.09x without it, within the rows' spread
             * (results/ab-vm-2c-2026-12-05-outside-blocks, pf_*) */
            if (nx) __builtin_prefetch(nx, 1);
        } else if (r->chains[c - 1] ||
                   atomic_load_explicit(&rt->ret[c - 1].head, memory_order_relaxed)) {
            b = rt_task_take_returned(rt, r, c);
        }
        if (b) TC_UNPOISON(b, tc_class_bytes(c));
    }
    if (!b) b = malloc(tc_class_bytes(c));
    task *t = b;
    if (t) t->alloc_class = (uint8_t)(c | TASK_OUTSIDE);
    return t;
}

/* w: the calling thread's worker of rt, or NULL (rt is then needed). */
static inline task *rt_task_alloc_on(struct weft_runtime *rt, worker *w, size_t size)
{
    if (size < TASK_HEADER_SIZE) size = TASK_HEADER_SIZE; /* the header is written here */
    unsigned c = tc_class_of(size);
    if (c > TASK_CACHE_CLASSES) {
        task *t = malloc(size);
        if (t) t->alloc_class = 0;
        return t;
    }
    if (!w) return rt_task_alloc_outside(rt, c);
    task *t;
    if (w->tcache.head[c - 1]) {
        t = rt_task_cache_pop(w, c);
    } else {
        t = malloc(tc_class_bytes(c));
        if (!t) return NULL;
    }
    t->alloc_class = (uint8_t)c;
    return t;
}

static inline task *rt_task_alloc_inline(struct weft_runtime *rt, size_t size)
{
    worker *w = rt_tls_worker;
    return rt_task_alloc_on(rt, w && w->rt == rt ? w : NULL, size);
}

/* A full chain of class c from w to w->rt's return stack (or to free()). */
void rt_task_return_chain(worker *w, unsigned c);

/* rt_task_free for a caller that passes the calling thread's worker when
 * it is a worker of t->rt, else NULL (the worker loop knows it: no TLS
 * look-up, no runtime test). */
static inline void rt_task_free_on(worker *w, task *t)
{
    unsigned c = t->alloc_class;
    if (c & TASK_OUTSIDE) {
        c &= ~TASK_OUTSIDE;
        if (!w) {
            free(t);
            return;
        }
        /* word 0 links the chain; the rest of the block is poisoned */
        *(void **)t = w->tcache.ret[c - 1];
        TC_POISON((char *)t + 2 * sizeof(void *), tc_class_bytes(c) - 2 * sizeof(void *));
        w->tcache.ret[c - 1] = t;
        if (++w->tcache.ret_len[c - 1] == TASK_RET_CHAIN) rt_task_return_chain(w, c);
        return;
    }
    if (c == 0 || !w || w->tcache.count[c - 1] >= TASK_CACHE_MAX ||
        w->tcache.bytes + tc_class_bytes(c) > TASK_CACHE_MAX_BYTES) {
        free(t);
        return;
    }
    *(void **)t = w->tcache.head[c - 1];
    TC_POISON(t, tc_class_bytes(c));
    w->tcache.head[c - 1] = t;
    w->tcache.count[c - 1]++;
    w->tcache.bytes += tc_class_bytes(c);
}

static inline void rt_task_free_inline(task *t)
{
    worker *w = rt_tls_worker;
    rt_task_free_on(w && w->rt == t->rt ? w : NULL, t);
}

/* task_complete (task.c) for the worker loop: a private task that never
 * waited (no join handle, no waker, not on the owned list: most spawned
 * leaves) is freed here without the call; everything else takes
 * task_complete. The test is task_complete's own private case (task.h,
 * "Private tasks"), with its acquire load, narrowed to TASK_UNLISTED; a
 * word with COMPLETE or JOIN_WAKER set breaks an invariant and goes to
 * task_complete, which asserts. */
static inline void task_complete_inline(worker *w, task *t)
{
    uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
    if (!(cur & (TASK_JOIN_INTEREST | TASK_COMPLETE | TASK_JOIN_WAKER)) && TASK_REFS(cur) == 1 &&
        t->owned_shard == TASK_UNLISTED && !t->is_blocking) {
        rt_task_free_on(w, t); /* w: the polling worker, of t->rt */
        return;
    }
    task_complete(t, false);
}
void rt_task_cache_trim(worker *w, uint32_t keep);
void rt_task_cache_trim_idle(worker *w); /* to the cache's idle bound */
void rt_task_cache_release(worker *w);
void rt_task_ret_release(struct weft_runtime *rt); /* the return stacks (runtime_destroy) */
void rt_outside_blocks_free(outside_rec *r);       /* a thread's taken chains (at its exit) */

/* ---- the policies' environment (declared and described in sched.h) ----------- */

static inline int sched_env_nworkers(const struct weft_runtime *rt) { return rt->nworkers; }
static inline int sched_env_node(const struct weft_runtime *rt, int i) { return rt->workers[i].node; }
static inline const struct topo *sched_env_topology(const struct weft_runtime *rt) { return rt->topo; }
static inline const weft_config *sched_env_knobs(const struct weft_runtime *rt) { return &rt->cfg; }
static inline void sched_env_set_worker_local(struct weft_runtime *rt, int i, void *local)
{
    rt->workers[i].policy_local = local;
}

/* Whether any worker of rt is idle or searching: a relaxed hint (no data is
 * read on its strength; the Dekker pair is in rt_notify_parked), for a
 * policy deciding whether to publish private work. */
static inline bool sched_env_anyone_hungry(const struct weft_runtime *rt)
{
    return atomic_load_explicit(&rt->num_idle, memory_order_relaxed) != 0 ||
           atomic_load_explicit(&rt->num_searching, memory_order_relaxed) != 0;
}

/* Whether the core would wake a worker for a task made stealable now: one
 * sleeps and none searches. The core's relaxed test before the fenced
 * rt_notify_parked after a push (spawn_push, schedule_local, the yield's
 * requeue), and ws's test for publishing its private part. A hint, as above. */
static inline bool sched_env_would_wake(const struct weft_runtime *rt)
{
    return atomic_load_explicit(&rt->num_idle, memory_order_relaxed) != 0 &&
           atomic_load_explicit(&rt->num_searching, memory_order_relaxed) == 0;
}

/* Wakes one idle worker, preferring node `node` (-1: any), unless someone
 * is already searching: the core's notification after a policy made work
 * visible (E4 in sched.h); it issues the parking protocol's fence itself. */
static inline void sched_env_wake_near(struct weft_runtime *rt, int node) { rt_notify_parked(rt, node); }

static inline uint32_t worker_rand(worker *w)
{
    uint32_t x = w->rng; /* xorshift32: owner-only victim order */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return w->rng = x;
}

static inline void *sched_worker_local(const struct worker *w) { return w->policy_local; }
static inline int sched_worker_index(const struct worker *w) { return w->index; }
static inline int sched_worker_node(const struct worker *w) { return w->node; }
static inline bool sched_worker_interval_tick(const struct worker *w) { return w->interval_tick; }
static inline uint32_t sched_worker_rand(struct worker *w) { return worker_rand(w); }
#endif
