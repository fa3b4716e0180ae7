/*
 * schedulers/spawn.c - making tasks: weft_spawn, weft_spawn_blocking and
 * weft_block_on (which on a runs_on_caller policy turns the calling thread
 * into the runtime's one worker until the future completes).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "schedulers/fifo.h"
#include "schedulers/runtime_internal.h"
#include "schedulers/sched.h"
#include "schedulers/task.h"

/* ---- task memory ----------------------------------------------------------------
 * Tasks are the runtime's hot allocation: one per spawn, freed at
 * completion, usually on the worker that made them. Each worker keeps free
 * blocks in size classes (task_cache, runtime_internal.h) over plain
 * malloc, so the common spawn/complete pair costs a pop and a push on a
 * list only its thread touches, whatever allocator the program links. A
 * block freed on a worker joins that worker's cache, wherever it was
 * allocated (every block is a malloc block of its class's size, so any
 * cache may hold it); a block freed off the workers, or by a worker of
 * another runtime, goes back to free(). A cache holds at most
 * TASK_CACHE_MAX blocks of a class and TASK_CACHE_MAX_BYTES in all (beyond
 * that free() takes them), and a
 * worker about to park trims it towards TASK_CACHE_KEEP, a bounded step per
 * park, so an idle runtime holds little; runtime_destroy frees the rest. Under ASan a cached block
 * is poisoned, so a use after rt_task_free is still reported.
 *
 * Outside blocks. A task spawned off the workers (spawn_remote, a
 * block_on root, a blocking-pool thread) is allocated by a thread that
 * has no cache and freed by a worker; once that worker's cache was full,
 * every such free was a cross-thread free() into the spawner's arena (perf,
 * spawn_remote ws/1: 52 % of the worker thread's samples in jemalloc and its
 * mutexes). Now such a block carries TASK_OUTSIDE in alloc_class; a worker
 * that frees one links it into a chain of its class (owner only, no
 * atomics) and pushes every full chain of TASK_RET_CHAIN to the runtime's
 * return stack of that class with one CAS (free() takes the chain when
 * the stack already holds TASK_RET_MAX_CHAINS); an outside thread that
 * allocates takes the whole stack with one exchange into its outside
 * record and uses those blocks before malloc. The blocks go back and forth
 * in batches, one atomic per 64 on each side. Bounds: a runtime holds at
 * most TASK_RET_MAX_CHAINS chains per class plus each worker's partial
 * chain (runtime_destroy frees both); an outside thread holds what it took
 * until it allocates it or exits (its record's destructor frees it).
 * A/B, one binary per side, ABBA, 4-8 processes a side
 * (results/ab-vm-2c-2026-12-05-outside-blocks): spawn_remote ws/1 and numa/1
 * 0.59-0.63x, ws/2 0.76-0.79x, numa/2 0.84x, global/2 0.70-0.94x, fifo/1
 * 0.84-1.04x; global/1 was 1.21-1.31x slower (its worker kept up with the
 * spawner and the two took the queue's lock in turns, the worker parking
 * 96-843 times per 100 000 tasks where it had parked once) until global's
 * remote pushes at one worker went to the queue's lock-free intake
 * (global.c, global_push_remote). */

_Static_assert(TASK_CACHE_CLASSES < 128, "the class and TASK_OUTSIDE fit task.alloc_class");
_Static_assert(TASK_CACHE_GRAIN % TASK_ALIGN == 0 && TASK_CACHE_GRAIN >= sizeof(void *),
               "a class size keeps the task's alignment and holds the free-list link");

/* TC_POISON, tc_class_bytes and the bodies of the two are in
 * runtime_internal.h (rt_task_alloc_inline, rt_task_free_inline). */
task *rt_task_alloc(weft_runtime *rt, size_t size) { return rt_task_alloc_inline(rt, size); }

void rt_task_free(task *t) { rt_task_free_inline(t); }

void rt_task_cache_trim(worker *w, uint32_t keep)
{
    for (unsigned i = 0; i < TASK_CACHE_CLASSES; i++) {
        while (w->tcache.count[i] > keep) {
            void *b = w->tcache.head[i];
            TC_UNPOISON(b, tc_class_bytes(i + 1));
            w->tcache.head[i] = *(void **)b;
            w->tcache.count[i]--;
            w->tcache.bytes -= tc_class_bytes(i + 1);
            free(b);
        }
    }
}

/* Frees a chain of blocks of class c linked through their first word. */
static void free_chain(void *b, unsigned c)
{
    while (b) {
        void *nx = *(void **)b;
        TC_UNPOISON(b, tc_class_bytes(c));
        free(b);
        b = nx;
    }
}

void rt_task_cache_release(worker *w)
{
    rt_task_cache_trim(w, 0);
    for (unsigned i = 0; i < TASK_CACHE_CLASSES; i++) {
        free_chain(w->tcache.ret[i], i + 1);
        w->tcache.ret[i] = NULL;
        w->tcache.ret_len[i] = 0;
    }
}

void rt_task_return_chain(worker *w, unsigned c)
{
    task_ret_stack *rs = &w->rt->ret[c - 1];
    void *chain = w->tcache.ret[c - 1];
    w->tcache.ret[c - 1] = NULL;
    w->tcache.ret_len[c - 1] = 0;
    /* relaxed: a bound on memory, not a synchronisation; a race overshoots
     * it by at most one chain per worker */
    if (atomic_load_explicit(&rs->chains, memory_order_relaxed) >= TASK_RET_MAX_CHAINS) {
        free_chain(chain, c);
        return;
    }
    atomic_fetch_add_explicit(&rs->chains, 1, memory_order_relaxed);
    void *h = atomic_load_explicit(&rs->head, memory_order_relaxed);
    do {
        ((void **)chain)[1] = h;
        /* release: the chain's links (and the blocks' last writes, the
         * frees) before the outside thread that takes it */
    } while (!atomic_compare_exchange_weak_explicit(&rs->head, &h, chain, memory_order_release,
                                                    memory_order_relaxed));
}

void *rt_task_take_returned(weft_runtime *rt, outside_rec *r, unsigned c)
{
    void *chain = r->chains[c - 1];
    if (!chain) {
        task_ret_stack *rs = &rt->ret[c - 1];
        /* acquire pairs with the workers' release CASes; the exchange takes
         * every chain, so a chain is never popped alone (no ABA) */
        chain = atomic_exchange_explicit(&rs->head, NULL, memory_order_acquire);
        if (!chain) return NULL;
        uint32_t n = 0;
        for (void *ch = chain; ch; ch = ((void **)ch)[1]) n++;
        atomic_fetch_sub_explicit(&rs->chains, n, memory_order_relaxed);
    }
    r->chains[c - 1] = ((void **)chain)[1];
    r->blk[c - 1] = *(void **)chain;
    return chain;
}

/* Frees chains of class c linked through their first block's second word. */
static void free_chains(void *ch, unsigned c)
{
    while (ch) {
        void *next = ((void **)ch)[1];
        free_chain(ch, c);
        ch = next;
    }
}

/* A return stack's chains, at runtime_destroy (no thread pushes or takes). */
void rt_task_ret_release(weft_runtime *rt)
{
    for (unsigned i = 0; i < TASK_CACHE_CLASSES; i++) {
        free_chains(atomic_exchange_explicit(&rt->ret[i].head, NULL, memory_order_acquire), i + 1);
        atomic_store_explicit(&rt->ret[i].chains, 0, memory_order_relaxed);
    }
}

/* A thread's taken chains, when it exits (runtime.c's outside_rec_free). */
void rt_outside_blocks_free(outside_rec *r)
{
    for (unsigned i = 0; i < TASK_CACHE_CLASSES; i++) {
        free_chain(r->blk[i], i + 1);
        free_chains(r->chains[i], i + 1);
        r->blk[i] = r->chains[i] = NULL;
    }
}

/* Before a park: at most TASK_CACHE_TRIM_STEP frees, so a worker that parks
 * between bursts (timer_storm: 100 000 tasks completing while timers are
 * still due) does not spend the next deadline freeing a full cache; a
 * worker that stays idle trims it over its next parks, and the cache is
 * bounded by TASK_CACHE_MAX_BYTES meanwhile. */
void rt_task_cache_trim_idle(worker *w)
{
    uint32_t budget = TASK_CACHE_TRIM_STEP;
    for (unsigned i = 0; i < TASK_CACHE_CLASSES && budget; i++) {
        while (w->tcache.count[i] > TASK_CACHE_KEEP && budget) {
            void *b = w->tcache.head[i];
            TC_UNPOISON(b, tc_class_bytes(i + 1));
            w->tcache.head[i] = *(void **)b;
            w->tcache.count[i]--;
            w->tcache.bytes -= tc_class_bytes(i + 1);
            free(b);
            budget--;
        }
    }
}

/* ---- spawn -------------------------------------------------------------------------- */

_Static_assert(WEFT_FUTURE_SIZE_MAX <= SIZE_MAX / 4, "header + two bounded parts fit in size_t");

/* The future's initial state into the task. Most states are a few words
 * (a pointer or two: every micro-workload's leaf), where a memcpy call of a
 * size known only at run time cost more than the copy; up to 16 bytes the
 * copy is two possibly overlapping fixed-size moves that read and write
 * only [0, n), and up to 128 bytes (a fork-join frame: fib's is 72)
 * two, four or eight possibly overlapping 16-byte moves (copy16). */
static inline void copy16(char *dst, const char *src)
{
    unsigned char b[16];
    memcpy(b, src, 16);
    memcpy(dst, b, 16);
}

static inline void state_copy(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const char *s = src;
    if (n <= 16) { /* the common case first */
        if (n >= 8) {
            uint64_t a, b;
            memcpy(&a, s, 8);
            memcpy(&b, s + n - 8, 8);
            memcpy(d, &a, 8);
            memcpy(d + n - 8, &b, 8);
        } else if (n >= 4) {
            uint32_t a, b;
            memcpy(&a, s, 4);
            memcpy(&b, s + n - 4, 4);
            memcpy(d, &a, 4);
            memcpy(d + n - 4, &b, 4);
        } else {
            for (size_t i = 0; i < n; i++) d[i] = s[i];
        }
    } else if (n <= 32) {
        copy16(d, s);
        copy16(d + n - 16, s + n - 16);
    } else if (n <= 64) {
        copy16(d, s);
        copy16(d + 16, s + 16);
        copy16(d + n - 32, s + n - 32);
        copy16(d + n - 16, s + n - 16);
    } else if (n <= 128) {
        copy16(d, s);
        copy16(d + 16, s + 16);
        copy16(d + 32, s + 32);
        copy16(d + 48, s + 48);
        copy16(d + n - 64, s + n - 64);
        copy16(d + n - 48, s + n - 48);
        copy16(d + n - 32, s + n - 32);
        copy16(d + n - 16, s + n - 16);
    } else {
        memcpy(dst, src, n);
    }
}

/* A new task's header, all but alloc_class (the allocator's): the state
 * word, the immutable fields, everything the completion and join paths
 * read. */
static inline void task_init(task *t, weft_runtime *rt, const weft_future_type *type, uint64_t word,
                             size_t output_off)
{
    atomic_init(&t->state, word);
    t->type = type;
    t->rt = rt;
    /* t->next: written by whatever queue it enters first (taskq.h) */
    t->join_waker = WEFT_WAKER_NONE;
    t->join_waker_set = 0;
    t->cancelled = 0;
    t->is_blocking = 0;
    t->owned_shard = TASK_UNLISTED; /* until it first waits (task.h) */
    t->output_off = output_off;
}

/* One allocation: header, state (rounded up to TASK_ALIGN), output. The
 * sizes come from the caller's future type, so they are bounded before any
 * arithmetic (WEFT_FUTURE_SIZE_MAX each: the sum cannot wrap). `who` names
 * the public call in the message. 0, -EINVAL or -ENOMEM. */
static inline __attribute__((always_inline)) int
task_new_on(weft_runtime *rt, worker *w, const weft_future_type *type, const void *init,
            uint64_t extra_flags, int refs, const char *who, task **out)
{
    *out = NULL;
    if (type->state_size > WEFT_FUTURE_SIZE_MAX || type->output_size > WEFT_FUTURE_SIZE_MAX)
        return err_fail(-EINVAL, "%s: future type '%s' has state_size %zu and output_size %zu; "
                                 "each must be at most %zu bytes (WEFT_FUTURE_SIZE_MAX)",
                        who, type->name ? type->name : "(unnamed)", type->state_size,
                        type->output_size, (size_t)WEFT_FUTURE_SIZE_MAX);
    size_t state = (type->state_size + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1);
    size_t size = TASK_HEADER_SIZE + state + type->output_size;
    task *t = rt_task_alloc_on(rt, w, size);
    if (!t) return err_fail(-ENOMEM, "%s: out of memory (a task of %zu bytes)", who, size);
    task_init(t, rt, type, TASK_NOTIFIED | extra_flags | ((uint64_t)refs << TASK_REF_SHIFT),
              TASK_HEADER_SIZE + state);
    if (type->state_size) {
        if (init) state_copy(task_state_ptr(t), init, type->state_size);
        else memset(task_state_ptr(t), 0, type->state_size);
    }
    *out = t;
    return 0;
}

/* task_new_on for a caller that did not look up its worker (blocking jobs). */
static int task_new(weft_runtime *rt, const weft_future_type *type, const void *init,
                    uint64_t extra_flags, int refs, const char *who, task **out)
{
    worker *w = rt_tls_worker;
    return task_new_on(rt, w && w->rt == rt ? w : NULL, type, init, extra_flags, refs, who, out);
}

/* A task spawned by worker w of rt, to its queue. fifo's push inlined
 * (what rt_schedule_spawned would do: no latency stamp, and fifo's one
 * worker has nobody to wake); the call and its policy test were a fifth of
 * a spawned task's instructions. */
static inline __attribute__((always_inline)) void spawn_push(weft_runtime *rt, worker *w, task *t)
{
    WORKER_STAT_INC(w, STAT_SPAWNS);
    if (rt->cfg.sched_latency) {
        rt_schedule_spawned(w, t); /* stamps the task */
        return;
    }
    if (rt->ops == &sched_fifo) {
        (void)fifo_push_local_inline(rt->policy, w, t, SCHED_SPAWN);
        return;
    }
    /* rt_schedule_spawned's schedule_local without its call and its
     * latency and hint tests: the policy's push, then its fast path of the
     * notification (worker.c's essay: a relaxed look, the fenced
     * rt_notify_parked only when somebody sleeps and nobody searches) */
    if (rt->ops->push_local(rt->policy, w, t, SCHED_SPAWN) && sched_env_would_wake(rt))
        rt_notify_parked(rt, w->node);
}

/* weft_spawn in full: every check with its message, any thread, any
 * policy, a cache miss. weft_spawn's fast path below falls back here before
 * it has changed anything. */
static __attribute__((noinline)) int spawn_full(weft_runtime *rt, const weft_future_type *type,
                                                const void *init, weft_join_handle *handle)
{
    if (handle) handle->task = NULL;
    if (!rt) return err_fail(-EINVAL, "weft_spawn: NULL runtime");
    if (!type || !type->poll) return err_fail(-EINVAL, "weft_spawn: NULL future type or poll function");
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire))
        return err_fail(-ESHUTDOWN, "weft_spawn: the runtime is shutting down");
    worker *w = rt_tls_worker;
    if (w && w->rt != rt) w = NULL; /* from here on: the calling worker of rt, or NULL */
    /* the queue (+ the join handle); the owned list's comes when it first waits */
    task *t;
    int rc = task_new_on(rt, w, type, init, handle ? TASK_JOIN_INTEREST : 0, handle ? 2 : 1,
                         "weft_spawn", &t);
    if (rc < 0) return rc;
    if (handle) handle->task = t;
    if (!w) {
        rt_external_stat_inc(rt, STAT_SPAWNS);
        rt_schedule(t, SCHED_SPAWN);
        return 0;
    }
    /* relaxed peek (owned_reap's exchange synchronises): unlink the tasks
     * of this worker's shard that completed elsewhere, so a worker that
     * only spawns does not hold them */
    if (atomic_load_explicit(&rt->owned[w->index].reap, memory_order_relaxed))
        owned_reap(rt, (uint32_t)w->index);
    spawn_push(rt, w, t);
    return 0;
}

/* The largest state the fast path copies: state_copy's inline moves (a
 * fork-join frame, fib's 72 bytes, was spawn_full's, a call and the size
 * tests again: 134 of a fib spawn's instructions; callgrind, the commit has
 * the command). */
#define SPAWN_FAST_STATE_MAX 128

/* The fast path: a worker of rt spawning a task whose block is in the
 * worker's cache, with a small state and no shard to reap: the same task
 * and the same push as spawn_full, without task_new_on's repeated size
 * tests, and on fifo (no sched_latency) with no call at all (gcc 12 saves
 * four registers for it instead of six). Anything else, including every
 * error, goes to spawn_full before anything is changed; it repeats the
 * checks and reports them. */
int weft_spawn(weft_runtime *rt, const weft_future_type *type, const void *init,
               weft_join_handle *handle)
{
    static const unsigned char zero_state[SPAWN_FAST_STATE_MAX];
    worker *w = rt_tls_worker;
    /* !w || w->rt != rt also covers a NULL rt (a worker's rt is not NULL) */
    if (!w || w->rt != rt || !type || !type->poll) return spawn_full(rt, type, init, handle);
    /* locals: the stores into the task below may not alias them */
    size_t state_size = type->state_size, output_size = type->output_size;
    if (state_size > SPAWN_FAST_STATE_MAX || output_size > WEFT_FUTURE_SIZE_MAX ||
        atomic_load_explicit(&rt->shutdown, memory_order_acquire) ||
        atomic_load_explicit(&rt->owned[w->index].reap, memory_order_relaxed))
        return spawn_full(rt, type, init, handle);
    /* TASK_HEADER_SIZE + state: at least the header, as rt_task_alloc_on wants */
    size_t off = TASK_HEADER_SIZE + ((state_size + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1));
    unsigned c = tc_class_of(off + output_size);
    if (c > TASK_CACHE_CLASSES) return spawn_full(rt, type, init, handle);
    if (!w->tcache.head[c - 1]) return spawn_full(rt, type, init, handle);
    task *t = rt_task_cache_pop(w, c); /* rt_task_alloc_on's cache hit */
    t->alloc_class = (uint8_t)c;
    /* task_new_on's word: the queue's reference (+ the join handle's) */
    task_init(t, rt, type, TASK_NOTIFIED | (handle ? TASK_JOIN_INTEREST | 2 * TASK_REF_ONE : TASK_REF_ONE),
              off);
    if (state_size) state_copy(task_state_ptr(t), init ? init : zero_state, state_size);
    if (handle) handle->task = t;
    spawn_push(rt, w, t);
    return 0;
}

/* ---- blocking jobs ------------------------------------------------------------------ */

typedef struct blocking_state {
    weft_blocking_fn fn;
    void *arg;
    weft_blocking_drop_fn arg_drop; /* may be NULL; run once by blocking_drop */
} blocking_state;

static weft_poll blocking_poll(void *st, weft_context *cx, void *out)
{
    blocking_state *b = st;
    *(void **)out = b->fn(b->arg);
    return WEFT_READY;
}
/* The job's argument belongs to the job: released exactly once, after fn
 * returned or instead of running it (cancelled while queued, by abort or
 * shutdown, or a failed submit). */
static void blocking_drop(void *st)
{
    blocking_state *b = st;
    if (b->arg_drop) b->arg_drop(b->arg);
}
static const weft_future_type blocking_type = {"blocking", blocking_poll, blocking_drop,
                                               sizeof(blocking_state), sizeof(void *)};

void blocking_run_task(task *t)
{
    if (!task_transition_to_running(t)) {
        blocking_drop(task_state_ptr(t));
        task_complete(t, true);
        return;
    }
    weft_context cx = {WEFT_WAKER_NONE, t->rt, t, -1, 0, NULL};
    t->type->poll(task_state_ptr(t), &cx, task_output_ptr(t));
    blocking_drop(task_state_ptr(t));
    task_complete(t, false);
}

void blocking_cancel_queued(task *t)
{
    (void)task_transition_to_running(t);
    blocking_drop(task_state_ptr(t));
    task_complete(t, true);
}

int weft_spawn_blocking_ex(weft_runtime *rt, weft_blocking_fn fn, void *arg,
                           weft_blocking_drop_fn arg_drop, weft_join_handle *handle)
{
    if (handle) handle->task = NULL;
    if (!rt || !fn) {
        if (arg_drop) arg_drop(arg);
        return err_fail(-EINVAL, "weft_spawn_blocking: NULL runtime or function");
    }
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire)) {
        if (arg_drop) arg_drop(arg);
        return err_fail(-ESHUTDOWN, "weft_spawn_blocking: the runtime is shutting down");
    }
    blocking_state st = {fn, arg, arg_drop};
    task *t;
    int rc = task_new(rt, &blocking_type, &st, handle ? TASK_JOIN_INTEREST : 0, handle ? 2 : 1,
                      "weft_spawn_blocking", &t);
    if (rc < 0) {
        if (arg_drop) arg_drop(arg);
        return rc;
    }
    t->is_blocking = 1;
    if (handle) handle->task = t;
    rc = blocking_pool_submit(rt->blocking, t);
    if (rc < 0) {
        if (handle) handle->task = NULL;
        blocking_drop(task_state_ptr(t));
        rt_task_free(t);
        return err_fail(rc, "weft_spawn_blocking: cannot start a pool thread: %s", strerror(-rc));
    }
    return 0;
}

int weft_spawn_blocking(weft_runtime *rt, weft_blocking_fn fn, void *arg, weft_join_handle *handle)
{
    return weft_spawn_blocking_ex(rt, fn, arg, NULL, handle);
}

/* ---- block_on ----------------------------------------------------------------------- */

/* The flag a block_on caller's loop stops at, and the join waker that sets
 * it. Two kinds. fifo's is on the caller's stack and not counted: its root
 * completes only on its one worker, the caller, so every wake of it comes
 * before block_on returns. A lent core's (block_on_core) is on the heap and
 * counted, like rt_block_on_wait's thread parker: there the root may
 * complete on another worker's thread, whose task_complete publishes
 * COMPLETE and only then wakes the waker it took, while the caller, seeing
 * COMPLETE, may already have returned (ASan, test_stress_core_handoff at 2
 * workers with block_on_handoff=2: a worker's wake wrote into the caller's
 * reused stack, 1 run in ~20). The registered clone holds a reference. */
typedef struct until_flag {
    _Atomic int done;
    _Atomic int refs; /* the heap kind's references */
} until_flag;

static void uf_wake_by_ref(const void *d)
{
    /* release pairs with loop_should_stop's acquire */
    atomic_store_explicit(&((until_flag *)d)->done, 1, memory_order_release);
}
static void uf_noop(const void *d) { (void)d; }
static weft_waker uf_clone(const void *d);
static const weft_waker_vtable until_vtable = {uf_clone, uf_wake_by_ref, uf_wake_by_ref, uf_noop};
static weft_waker uf_clone(const void *d) { return (weft_waker){&until_vtable, d}; }

static void ufh_release(const void *d)
{
    until_flag *u = (until_flag *)d;
    /* acq_rel: the last release frees; pairs with the other releases */
    if (atomic_fetch_sub_explicit(&u->refs, 1, memory_order_acq_rel) == 1) free(u);
}
static weft_waker ufh_clone(const void *d);
static void ufh_wake(const void *d)
{
    uf_wake_by_ref(d);
    ufh_release(d);
}
static const weft_waker_vtable until_heap_vtable = {ufh_clone, ufh_wake, uf_wake_by_ref, ufh_release};
static weft_waker ufh_clone(const void *d)
{
    atomic_fetch_add_explicit(&((until_flag *)d)->refs, 1, memory_order_relaxed);
    return (weft_waker){&until_heap_vtable, d};
}

/* This thread runs w's loop until the root behind h completes: its result in
 * *result, true. A loop stopped by a shutdown drops the root and sets the
 * error, true. false: the loop went idle with the root pending (only a lent
 * core's loop returns so, below). uf is the caller's, of either kind
 * (`counted`): h keeps its waker registered until the next poll of h,
 * which may come after this returns. */
static bool block_on_run(weft_runtime *rt, worker *w, weft_join_handle *h, until_flag *uf, bool counted,
                         void *out, int *result)
{
    atomic_init(&uf->done, 0);
    weft_context ucx = {{counted ? &until_heap_vtable : &until_vtable, uf}, rt, NULL, -1, 0, NULL};
    if (weft_join_poll(h, &ucx, out, result) == WEFT_READY) return true;
    rt_worker_loop(w, &uf->done);
    if (weft_join_poll(h, &ucx, out, result) == WEFT_READY) return true;
    if (!atomic_load_explicit(&rt->shutdown, memory_order_acquire)) return false;
    weft_join_drop(h);
    int fault = atomic_load_explicit(&rt->fault, memory_order_acquire); /* pairs with rt_runtime_fault */
    *result = fault ? err_fail(fault, "weft_block_on: %s", rt->fault_msg)
                    : err_fail(-ESHUTDOWN, "weft_block_on: the runtime shut down before the future completed");
    return true;
}

/* weft_block_on on a threaded runtime whose core w this thread took
 * (rt_core_take; park.c's essay, the core hand-off): the root is spawned on
 * w's queue and run by this thread's loop, as on fifo. The lent loop
 * returns where it would park; a root still pending then (it waits on a
 * timer, IO or an outside wake) is waited for the old way after the core
 * went back to w's thread. On a shutdown the root is dropped as on fifo,
 * before the give-back, after which this thread touches nothing of rt (the
 * thread weft_runtime_free joins waits for the core). */
static int block_on_core(weft_runtime *rt, worker *w, const weft_future_type *type, const void *init,
                         void *out)
{
    weft_join_handle h;
    int rc = weft_spawn(rt, type, init, &h);
    if (rc < 0) {
        rt_core_give_back(w);
        return rc;
    }
    until_flag *uf = malloc(sizeof *uf);
    if (!uf) { /* the old way: w's thread runs the root */
        rt_core_give_back(w);
        return rt_block_on_wait(rt, &h, out, true);
    }
    atomic_init(&uf->refs, 1); /* ours */
    int result = 0;
    bool done = block_on_run(rt, w, &h, uf, true, out, &result);
    ufh_release(uf); /* the loop is done with it; a registered clone keeps its own */
    rt_core_give_back(w);
    /* at more than one worker the lent loop spun before it left, or left
     * because the searchers were at their cap (worker.c, worker_lent_spin) */
    return done ? result : rt_block_on_wait(rt, &h, out, rt->nworkers == 1);
}

int weft_block_on(weft_runtime *rt, const weft_future_type *type, const void *init, void *out)
{
    if (!rt) return err_fail(-EINVAL, "weft_block_on: NULL runtime");
    if (!type || !type->poll) return err_fail(-EINVAL, "weft_block_on: NULL future type or poll function");
    worker *cur = rt_tls_worker;
    if (cur && cur->rt == rt)
        return err_fail(-EDEADLK, "weft_block_on: called from inside the runtime it would block on; "
                                 "spawn the future and await its join handle instead");
    if (atomic_load_explicit(&rt->shutdown, memory_order_acquire))
        return err_fail(-ESHUTDOWN, "weft_block_on: the runtime is shutting down");
    if (!rt->ops->runs_on_caller) {
        worker *w;
        /* at more than one worker, only onto an idle runtime: work already
         * queued (outside spawns before the block_on) has woken workers, so
         * the root's spawn would wake nobody and a take saves nothing (the
         * test is one look at the queues per block_on; yield_many, the
         * workload it was aimed at, read the same with and without it) */
        if (rt->handoff && !cur && (rt->nworkers == 1 || !rt->ops->has_work(rt->policy)) &&
            (w = rt_core_take_any(rt)))
            return block_on_core(rt, w, type, init, out);
        weft_join_handle h;
        int rc = weft_spawn(rt, type, init, &h);
        if (rc < 0) return rc;
        return rt_block_on_wait(rt, &h, out, true);
    }
    if (atomic_exchange_explicit(&rt->block_on_active, 1, memory_order_acquire))
        return err_fail(-EBUSY, "weft_block_on: another thread is inside weft_block_on on this "
                               "'%s' runtime, which has one worker", rt->ops->name);
    if (cur) {
        atomic_store_explicit(&rt->block_on_active, 0, memory_order_release);
        return err_fail(-EDEADLK, "weft_block_on: this thread is a worker of another runtime");
    }
    weft_join_handle h;
    int rc = weft_spawn(rt, type, init, &h);
    if (rc < 0) {
        atomic_store_explicit(&rt->block_on_active, 0, memory_order_release);
        return rc;
    }
    until_flag uf;
    int result = 0;
    worker *w = &rt->workers[0];
    rt_tls_worker = w;
    /* fifo's loop stops only at the root's completion or a shutdown */
    (void)block_on_run(rt, w, &h, &uf, false, out, &result);
    rt_tls_worker = NULL;
    atomic_store_explicit(&rt->block_on_active, 0, memory_order_release);
    return result;
}
