/*
 * tests/test_task_cache.c - the per-worker task-memory caches of
 * schedulers/spawn.c (rt_task_alloc / rt_task_free).
 *
 * White-box checks on a worker (a block comes back from the cache of the
 * worker that freed it, classes, oversized tasks, the cap, the trim before
 * parking), then the frees that do not happen where the block was
 * allocated: on another worker, on a thread outside the runtime (a join
 * handle or a waker dropped there), on a worker of another runtime, and at
 * shutdown, with tasks still queued and waiting. Under ASan a cached block
 * is poisoned and every cache is freed by weft_runtime_free (LSan checks
 * it); under TSan the cross-thread frees are races if the hand-over is
 * wrong.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "schedulers/runtime_internal.h"
#include "schedulers/task.h"
#include "test_util.h"
#include "weft/runtime.h"

/* ---- on a worker, by hand ------------------------------------------------------- */

typedef struct wb_result {
    int ok_reuse, ok_class, ok_big, ok_cap, ok_trim;
    uint32_t count_after_cap;
} wb_result;

static weft_poll wb_poll(void *p, weft_context *cx, void *out)
{
    wb_result *r = *(wb_result **)p;
    (void)out;
    weft_runtime *rt = weft_context_runtime(cx);
    worker *w = rt_current_worker();
    /* a freed block is the next one of its class (LIFO), another class is not */
    task *a = rt_task_alloc(rt, 100);
    a->rt = rt;
    rt_task_free(a);
    task *b = rt_task_alloc(rt, 120); /* same class (two grains) */
    task *c = rt_task_alloc(rt, 200); /* next class */
    r->ok_reuse = a == b;
    r->ok_class = b->alloc_class == 2 && c->alloc_class == 4 && c != a;
    b->rt = c->rt = rt;
    rt_task_free(b);
    rt_task_free(c);
    /* bigger than the largest class: plain malloc, never cached */
    size_t big = (size_t)TASK_CACHE_CLASSES * TASK_CACHE_GRAIN + 1;
    task *d = rt_task_alloc(rt, big);
    d->rt = rt;
    r->ok_big = d->alloc_class == 0;
    uint32_t before = w->tcache.count[TASK_CACHE_CLASSES - 1];
    rt_task_free(d);
    r->ok_big = r->ok_big && w->tcache.count[TASK_CACHE_CLASSES - 1] == before;
    /* the cap: beyond TASK_CACHE_MAX blocks of a class, free() takes them
     * (class 2, 128-byte blocks, the smallest a task header fits: its
     * TASK_CACHE_MAX blocks just fit the byte bound; an emptied cache first) */
    _Static_assert((size_t)TASK_CACHE_MAX * 2 * TASK_CACHE_GRAIN <= TASK_CACHE_MAX_BYTES,
                   "the count cap of class 2 is reachable under the byte bound");
    rt_task_cache_release(w);
    size_t n = TASK_CACHE_MAX + 16;
    task **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = rt_task_alloc(rt, 100);
        v[i]->rt = rt;
    }
    for (size_t i = 0; i < n; i++) rt_task_free(v[i]);
    free(v);
    r->count_after_cap = w->tcache.count[1];
    r->ok_cap = w->tcache.count[1] == TASK_CACHE_MAX;
    /* one pre-park trim frees a bounded step, repeated parks reach the bound */
    rt_task_cache_trim_idle(w);
    r->ok_trim = w->tcache.count[1] == TASK_CACHE_MAX - TASK_CACHE_TRIM_STEP;
    for (int k = 0; k < (int)(TASK_CACHE_MAX / TASK_CACHE_TRIM_STEP) + 1; k++) rt_task_cache_trim_idle(w);
    r->ok_trim = r->ok_trim && w->tcache.count[1] == TASK_CACHE_KEEP;
    /* the byte bound: blocks of the largest class stop at what fits */
    rt_task_cache_release(w);
    size_t cb = (size_t)TASK_CACHE_CLASSES * TASK_CACHE_GRAIN;
    size_t m = TASK_CACHE_MAX_BYTES / cb + 16;
    task **u = malloc(m * sizeof *u);
    for (size_t i = 0; i < m; i++) {
        u[i] = rt_task_alloc(rt, cb);
        u[i]->rt = rt;
    }
    for (size_t i = 0; i < m; i++) rt_task_free(u[i]);
    free(u);
    r->ok_cap = r->ok_cap && w->tcache.count[TASK_CACHE_CLASSES - 1] == TASK_CACHE_MAX_BYTES / cb &&
                w->tcache.bytes == TASK_CACHE_MAX_BYTES / cb * cb;
    rt_task_cache_release(w);
    r->ok_cap = r->ok_cap && w->tcache.bytes == 0;
    /* smaller than a task header: still a block that holds one */
    task *e = rt_task_alloc(rt, 8);
    r->ok_trim = r->ok_trim && e->alloc_class * TASK_CACHE_GRAIN >= TASK_HEADER_SIZE;
    e->rt = rt;
    rt_task_free(e);
    return WEFT_READY;
}
static const weft_future_type wb_type = {"cache_whitebox", wb_poll, NULL, sizeof(wb_result *), 0};

static void test_cache_on_a_worker(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "ws"};
    for (int s = 0; s < 2; s++) {
        weft_runtime *rt = tu_rt_new(scheds[s], 1, NULL);
        wb_result r = {0};
        wb_result *rp = &r;
        assert_int_equal(weft_block_on(rt, &wb_type, &rp, NULL), 0);
        assert_true(r.ok_reuse);
        assert_true(r.ok_class);
        assert_true(r.ok_big);
        if (!r.ok_cap) print_error("%s: %u blocks cached after the cap\n", scheds[s], r.count_after_cap);
        assert_true(r.ok_cap);
        assert_true(r.ok_trim);
        weft_runtime_free(rt); /* frees the cached blocks (LSan) */
    }
}

/* ---- completion frees into the completing worker's cache -------------------------
 * The worker loop frees a private, never-listed task at completion inline
 * (task_complete_inline); every other task goes through task_complete. A
 * root on the worker spawns leaves and watches its own cache: the spawn
 * takes the head block of the leaf's class, and the completion must put
 * that very block back at once when the leaf is private (no handle), only
 * after the join when a handle holds it, and at once after a leaf that
 * waited once (on the owned list, so task_complete unlinks it). */
typedef struct cf_leaf {
    int coro;
    int wait_once; /* 1: wait once (the root wakes it), so it is on the owned list */
    weft_yield y;
} cf_leaf;

static _Atomic int g_cf_ran;
static weft_waker g_cf_waker; /* the waiting leaf's, woken by the root */

static weft_poll cf_leaf_poll(void *p, weft_context *cx, void *out)
{
    cf_leaf *s = p;
    (void)out;
    if (s->wait_once == 1) {
        s->wait_once = 2;
        g_cf_waker = weft_waker_clone(weft_context_waker(cx)); /* it waits: listed */
        return WEFT_PENDING;
    }
    atomic_fetch_add(&g_cf_ran, 1);
    return WEFT_READY;
}
static const weft_future_type cf_leaf_type = {"cf_leaf", cf_leaf_poll, NULL, sizeof(cf_leaf), 0};

typedef struct cf_root {
    int coro;
    int step;
    weft_yield y;
    void *h0;
    uint32_t k0;
    weft_join_handle h;
    int *ok; /* [4], the test's (block_on polls a copy of this state) */
} cf_root;

static unsigned cf_class(void)
{
    size_t state = (sizeof(cf_leaf) + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1);
    return (unsigned)((TASK_HEADER_SIZE + state + TASK_CACHE_GRAIN - 1) / TASK_CACHE_GRAIN);
}

static weft_poll cf_root_poll(void *p, weft_context *cx, void *out)
{
    cf_root *s = p;
    (void)out;
    weft_runtime *rt = weft_context_runtime(cx);
    worker *w = rt_current_worker();
    unsigned c = cf_class() - 1;
    WEFT_CORO_BEGIN(s);
    /* warm the class: one block in the cache */
    {
        task *b = rt_task_alloc(rt, (size_t)cf_class() * TASK_CACHE_GRAIN);
        b->rt = rt;
        rt_task_free(b);
    }
    for (s->step = 0; s->step < 3; s->step++) {
        s->h0 = w->tcache.head[c];
        s->k0 = w->tcache.count[c];
        {
            cf_leaf l = {0, s->step == 2 ? 1 : 0, {0}};
            if (weft_spawn(rt, &cf_leaf_type, &l, s->step == 1 ? &s->h : NULL) < 0) return WEFT_READY;
        }
        /* the spawn took the head block */
        s->ok[s->step] = s->h0 != NULL && w->tcache.head[c] != s->h0 && w->tcache.count[c] == s->k0 - 1;
        WEFT_YIELD_NOW(s, y, cx); /* the leaf runs (at step 2: and waits) */
        if (s->step == 2) {
            s->ok[2] = s->ok[2] && w->tcache.count[c] == s->k0 - 1; /* waiting: still allocated */
            weft_waker_wake(&g_cf_waker);
            WEFT_YIELD_NOW(s, y, cx); /* it runs again and completes */
        }
        if (s->step == 1) {
            /* the handle still holds it */
            s->ok[1] = s->ok[1] && w->tcache.count[c] == s->k0 - 1;
            int res = -1;
            weft_join_poll(&s->h, cx, NULL, &res);
            s->ok[1] = s->ok[1] && res == 0;
        }
        /* back, the same block at the head */
        s->ok[s->step] = s->ok[s->step] && w->tcache.head[c] == s->h0 && w->tcache.count[c] == s->k0;
    }
    s->ok[3] = atomic_load(&g_cf_ran) == 3;
    WEFT_CORO_END(s);
}
static const weft_future_type cf_root_type = {"cf_root", cf_root_poll, NULL, sizeof(cf_root), 0};

static void test_cache_completion_frees_here(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "ws", "global", "numa"};
    for (int i = 0; i < 4; i++) {
        weft_runtime *rt = tu_rt_new(scheds[i], 1, NULL);
        atomic_store(&g_cf_ran, 0);
        int ok[4] = {0, 0, 0, 0};
        cf_root r;
        memset(&r, 0, sizeof r);
        r.ok = ok;
        assert_int_equal(weft_block_on(rt, &cf_root_type, &r, NULL), 0);
        if (!(ok[0] && ok[1] && ok[2] && ok[3]))
            print_error("%s: private %d, joined %d, listed %d, ran %d\n", scheds[i], ok[0], ok[1], ok[2],
                        ok[3]);
        assert_true(ok[0]);
        assert_true(ok[1]);
        assert_true(ok[2]);
        assert_true(ok[3]);
        weft_runtime_free(rt);
    }
}

/* Off the workers: malloc and free, a class recorded all the same, with
 * the outside mark. */
static void test_cache_off_the_workers(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("ws", 2, NULL);
    task *a = rt_task_alloc(rt, 100);
    assert_non_null(a);
    assert_int_equal(a->alloc_class, 2 | TASK_OUTSIDE);
    a->rt = rt;
    rt_task_free(a);
    for (int i = 0; i < rt->nworkers; i++) assert_int_equal(rt->workers[i].tcache.count[1], 0);
    weft_runtime_free(rt);
}

/* ---- outside blocks come back ------------------------------------------------------ */

/* The task that frees, on the worker, the blocks the test's thread
 * allocated outside. */
typedef struct ob_free {
    task **blocks;
    size_t n;
    uint32_t ret_len; /* the worker's partial chain of class 2 afterwards */
} ob_free;

static weft_poll ob_free_poll(void *p, weft_context *cx, void *out)
{
    ob_free *s = *(ob_free **)p;
    (void)cx;
    (void)out;
    for (size_t i = 0; i < s->n; i++) rt_task_free(s->blocks[i]);
    s->ret_len = rt_current_worker()->tcache.ret_len[1];
    return WEFT_READY;
}
static const weft_future_type ob_free_type = {"ob_free", ob_free_poll, NULL, sizeof(ob_free *), 0};

/* A worker gathers the outside blocks it frees in chains of
 * TASK_RET_CHAIN, keeps at most TASK_RET_MAX_CHAINS of them on the return
 * stack (free() takes the rest), and the next outside allocation takes
 * them all and uses their blocks before malloc. ASan/LSan: no block is
 * lost on the way or at weft_runtime_free. */
static void test_cache_outside_blocks_return(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    if (!rt_outside_tls) assert_non_null(rt_outside_register());
    outside_rec *r = rt_outside_tls;
    /* use up what this thread took in earlier tests */
    while (r->blk[1] || r->chains[1]) {
        task *t = rt_task_alloc(rt, 100);
        assert_non_null(t);
        free(t);
    }
    const size_t extra = 5;
    const size_t n = (TASK_RET_MAX_CHAINS + 3) * TASK_RET_CHAIN + extra;
    task **blocks = calloc(n, sizeof *blocks);
    assert_non_null(blocks);
    for (size_t i = 0; i < n; i++) {
        blocks[i] = rt_task_alloc(rt, 100); /* the test's thread is outside rt */
        assert_non_null(blocks[i]);
        assert_int_equal(blocks[i]->alloc_class, 2 | TASK_OUTSIDE);
        blocks[i]->rt = rt;
    }
    ob_free s = {blocks, n, 0};
    ob_free *sp = &s;
    assert_int_equal(weft_block_on(rt, &ob_free_type, &sp, NULL), 0);
    assert_int_equal(s.ret_len, extra);
    assert_int_equal(atomic_load(&rt->ret[1].chains), TASK_RET_MAX_CHAINS);
    size_t chains = 0;
    for (void *ch = atomic_load(&rt->ret[1].head); ch; ch = ((void **)ch)[1]) {
        size_t len = 0;
        for (void *b = ch; b; b = *(void **)b) len++;
        assert_int_equal(len, TASK_RET_CHAIN);
        chains++;
    }
    assert_int_equal(chains, TASK_RET_MAX_CHAINS);
    /* the next outside allocations come from the returned chains: every
     * block of them is one of the freed ones, none twice, then malloc */
    const size_t kept = TASK_RET_MAX_CHAINS * TASK_RET_CHAIN;
    task **again = calloc(kept, sizeof *again);
    assert_non_null(again);
    for (size_t i = 0; i < kept; i++) {
        again[i] = rt_task_alloc(rt, 100);
        assert_non_null(again[i]);
        assert_int_equal(again[i]->alloc_class, 2 | TASK_OUTSIDE);
        if (i == 0) {
            assert_null(atomic_load(&rt->ret[1].head)); /* the first took every chain */
            assert_int_equal(atomic_load(&rt->ret[1].chains), 0);
        }
        bool found = false;
        for (size_t j = 0; j < n && !found; j++) found = blocks[j] == again[i];
        assert_true(found);
        for (size_t j = 0; j < i; j++) assert_ptr_not_equal(again[j], again[i]);
    }
    assert_null(r->blk[1]);
    assert_null(r->chains[1]);
    for (size_t i = 0; i < kept; i++) free(again[i]);
    free(again);
    free(blocks);
    weft_runtime_free(rt); /* frees the worker's partial chain (LSan) */
}

/* An outside thread that took chains and exits frees them (LSan). */
static void *ob_taker(void *arg)
{
    weft_runtime *rt = arg;
    if (!rt_outside_tls) rt_outside_register();
    task *t = rt_task_alloc(rt, 100); /* takes every returned chain */
    free(t);
    return rt_outside_tls && rt_outside_tls->blk[1] ? (void *)1 : NULL;
}

static void test_cache_outside_thread_exit(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    const size_t n = 2 * TASK_RET_CHAIN;
    task **blocks = calloc(n, sizeof *blocks);
    assert_non_null(blocks);
    for (size_t i = 0; i < n; i++) {
        blocks[i] = rt_task_alloc(rt, 100);
        assert_non_null(blocks[i]);
        blocks[i]->rt = rt;
    }
    ob_free s = {blocks, n, 0};
    ob_free *sp = &s;
    assert_int_equal(weft_block_on(rt, &ob_free_type, &sp, NULL), 0);
    assert_int_equal(atomic_load(&rt->ret[1].chains), 2);
    pthread_t th;
    void *held = NULL;
    assert_int_equal(pthread_create(&th, NULL, ob_taker, rt), 0);
    assert_int_equal(pthread_join(th, &held), 0);
    assert_non_null(held); /* it held the rest of a chain when it exited */
    assert_null(atomic_load(&rt->ret[1].head));
    free(blocks);
    weft_runtime_free(rt);
}

/* ---- frees elsewhere ------------------------------------------------------------ */

#define FE_CHILDREN 64

typedef struct fe_shared {
    _Atomic long done;
    _Atomic long wrong_output;
    weft_join_handle outside[FE_CHILDREN]; /* joined by the test's thread */
    _Atomic int outside_ready;
    weft_waker wakers[FE_CHILDREN];        /* dropped by the test's thread */
    _Atomic int wakers_ready;
} fe_shared;

typedef struct fe_leaf {
    fe_shared *sh;
    long id;
    char pad[72]; /* a second size class beside the parents' */
} fe_leaf;

static weft_poll fe_leaf_poll(void *p, weft_context *cx, void *out)
{
    fe_leaf *s = p;
    (void)cx;
    *(long *)out = s->id;
    atomic_fetch_add(&s->sh->done, 1);
    return WEFT_READY;
}
static const weft_future_type fe_leaf_type = {"fe_leaf", fe_leaf_poll, NULL, sizeof(fe_leaf), sizeof(long)};

/* A parent spawns children with handles and joins them: a child stolen by
 * the other worker completes there and its last reference is dropped here
 * (or the other way round), so blocks move between the workers' caches. */
typedef struct fe_parent {
    int coro;
    fe_shared *sh;
    long base;
    int i;
    weft_join_handle h[FE_CHILDREN];
} fe_parent;

static weft_poll fe_parent_poll(void *p, weft_context *cx, void *out)
{
    fe_parent *s = p;
    (void)out;
    weft_runtime *rt = weft_context_runtime(cx);
    if (s->coro == 0) {
        for (int i = 0; i < FE_CHILDREN; i++) {
            fe_leaf l = {s->sh, s->base + i, {0}};
            if (weft_spawn(rt, &fe_leaf_type, &l, &s->h[i]) < 0) s->h[i].task = NULL;
        }
        s->coro = 1;
        s->i = 0;
    }
    for (; s->i < FE_CHILDREN; s->i++) {
        if (!s->h[s->i].task) continue;
        long v = -1;
        int rc = 0;
        if (weft_join_poll(&s->h[s->i], cx, &v, &rc) == WEFT_PENDING) return WEFT_PENDING;
        if (rc != 0 || v != s->base + s->i) atomic_fetch_add(&s->sh->wrong_output, 1);
    }
    atomic_fetch_add(&s->sh->done, 1);
    return WEFT_READY;
}
static const weft_future_type fe_parent_type = {"fe_parent", fe_parent_poll, NULL, sizeof(fe_parent), 0};

/* Spawns children whose handles the outside thread joins, and parks
 * tasks whose wakers the outside thread drops (the last reference of a
 * completed task, freed off the workers). */
typedef struct fe_waiter {
    fe_shared *sh;
    int i;
    int registered;
} fe_waiter;

static weft_poll fe_waiter_poll(void *p, weft_context *cx, void *out)
{
    fe_waiter *s = p;
    (void)out;
    if (!s->registered) {
        s->registered = 1;
        s->sh->wakers[s->i] = weft_waker_clone(weft_context_waker(cx));
        atomic_fetch_add_explicit(&s->sh->wakers_ready, 1, memory_order_release);
        weft_waker_wake_by_ref(weft_context_waker(cx)); /* run once more, then finish */
        return WEFT_PENDING;
    }
    atomic_fetch_add(&s->sh->done, 1);
    return WEFT_READY;
}
static const weft_future_type fe_waiter_type = {"fe_waiter", fe_waiter_poll, NULL, sizeof(fe_waiter), 0};

typedef struct fe_root {
    fe_shared *sh;
    int parents;
} fe_root;

static weft_poll fe_root_poll(void *p, weft_context *cx, void *out)
{
    fe_root *s = p;
    (void)out;
    weft_runtime *rt = weft_context_runtime(cx);
    for (int k = 0; k < s->parents; k++) {
        fe_parent pp;
        memset(&pp, 0, sizeof pp);
        pp.sh = s->sh;
        pp.base = (long)k * FE_CHILDREN;
        if (weft_spawn(rt, &fe_parent_type, &pp, NULL) < 0) atomic_fetch_add(&s->sh->wrong_output, 1);
    }
    for (int i = 0; i < FE_CHILDREN; i++) {
        fe_leaf l = {s->sh, 1000000 + i, {0}};
        if (weft_spawn(rt, &fe_leaf_type, &l, &s->sh->outside[i]) < 0) s->sh->outside[i].task = NULL;
        fe_waiter wt = {s->sh, i, 0};
        if (weft_spawn(rt, &fe_waiter_type, &wt, NULL) < 0) atomic_fetch_add(&s->sh->wrong_output, 1);
    }
    atomic_store_explicit(&s->sh->outside_ready, 1, memory_order_release);
    return WEFT_READY;
}
static const weft_future_type fe_root_type = {"fe_root", fe_root_poll, NULL, sizeof(fe_root), 0};

static weft_poll fe_wait_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    fe_shared *sh = *(fe_shared **)p;
    long want = *((long *)p + 1);
    if (atomic_load(&sh->done) >= want) return WEFT_READY;
    weft_waker_wake_by_ref(weft_context_waker(cx));
    return WEFT_PENDING;
}
static const weft_future_type fe_wait_type = {"fe_wait", fe_wait_poll, NULL, 2 * sizeof(long), 0};

static void test_cache_frees_elsewhere(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "global", "ws", "numa"};
    const int rounds = TU_SCALE(20, 4);
    const int parents = TU_SCALE(32, 8);
    for (size_t si = 0; si < sizeof scheds / sizeof scheds[0]; si++) {
        int workers = strcmp(scheds[si], "fifo") ? 2 : 1;
        weft_runtime *rt = tu_rt_new(scheds[si], workers, NULL);
        for (int r = 0; r < rounds; r++) {
            fe_shared *sh = calloc(1, sizeof *sh);
            assert_non_null(sh);
            fe_root root = {sh, parents};
            assert_int_equal(weft_block_on(rt, &fe_root_type, &root, NULL), 0);
            long want = (long)parents * (FE_CHILDREN + 1) + 2 * FE_CHILDREN;
            struct { fe_shared *sh; long want; } wt = {sh, want};
            assert_int_equal(weft_block_on(rt, &fe_wait_type, &wt, NULL), 0);
            /* the outside handles and wakers: their tasks are freed here */
            assert_true(atomic_load_explicit(&sh->outside_ready, memory_order_acquire));
            for (int i = 0; i < FE_CHILDREN; i++) {
                long v = -1;
                if (!sh->outside[i].task) continue;
                if (!strcmp(scheds[si], "fifo")) {
                    assert_true(weft_join_is_finished(&sh->outside[i]));
                    weft_context cx = {WEFT_WAKER_NONE, rt, NULL, -1, 0, NULL};
                    int rc = -1;
                    assert_int_equal(weft_join_poll(&sh->outside[i], &cx, &v, &rc), WEFT_READY);
                    assert_int_equal(rc, 0);
                } else {
                    assert_int_equal(weft_join_wait(&sh->outside[i], &v), 0);
                }
                assert_int_equal(v, 1000000 + i);
            }
            assert_int_equal(atomic_load(&sh->wakers_ready), FE_CHILDREN);
            for (int i = 0; i < FE_CHILDREN; i++) weft_waker_drop(&sh->wakers[i]);
            assert_int_equal(atomic_load(&sh->wrong_output), 0);
            free(sh);
        }
        weft_runtime_free(rt);
    }
}

/* A task of runtime A whose last reference is dropped on a worker of
 * runtime B: B's worker must not take A's block into its cache (A may be
 * freed first); it goes back to free(). */
typedef struct xr_state {
    weft_join_handle h; /* a finished task of the other runtime */
    int rc;
    long v;
} xr_state;

static weft_poll xr_poll(void *p, weft_context *cx, void *out)
{
    xr_state *s = p;
    (void)out;
    return weft_join_poll(&s->h, cx, &s->v, &s->rc);
}
static const weft_future_type xr_type = {"xr_join", xr_poll, NULL, sizeof(xr_state), 0};

static void test_cache_other_runtime(void **unused)
{
    (void)unused;
    weft_runtime *a = tu_rt_new("ws", 2, NULL);
    weft_runtime *b = tu_rt_new("ws", 1, NULL);
    for (int i = 0; i < TU_SCALE(200, 40); i++) {
        fe_shared sh;
        memset(&sh, 0, sizeof sh);
        xr_state *st = calloc(1, sizeof *st);
        fe_leaf l = {&sh, i, {0}};
        assert_int_equal(weft_spawn(a, &fe_leaf_type, &l, &st->h), 0);
        while (!weft_join_is_finished(&st->h)) sched_yield();
        xr_state copy = *st;
        assert_int_equal(weft_block_on(b, &xr_type, &copy, NULL), 0);
        free(st);
    }
    /* a's leaves are of a class none of b's tasks has: b cached none */
    size_t leaf = TASK_HEADER_SIZE + ((sizeof(fe_leaf) + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1)) + sizeof(long);
    size_t xr = TASK_HEADER_SIZE + ((sizeof(xr_state) + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1));
    unsigned leaf_class = (unsigned)((leaf + TASK_CACHE_GRAIN - 1) / TASK_CACHE_GRAIN);
    assert_int_not_equal(leaf_class, (unsigned)((xr + TASK_CACHE_GRAIN - 1) / TASK_CACHE_GRAIN));
    for (int i = 0; i < b->nworkers; i++) assert_int_equal(b->workers[i].tcache.count[leaf_class - 1], 0);
    weft_runtime_free(a);
    weft_runtime_free(b);
}

/* Shutdown with tasks queued, waiting on wakers nobody calls, and blocks in
 * every worker's cache: all of it is freed by weft_runtime_free (LSan). */
static weft_poll forever_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    return WEFT_PENDING;
}
static const weft_future_type forever_type = {"forever", forever_poll, NULL, 40, 0};

typedef struct sd_root {
    int n;
} sd_root;
static weft_poll sd_root_poll(void *p, weft_context *cx, void *out)
{
    sd_root *s = p;
    (void)out;
    weft_runtime *rt = weft_context_runtime(cx);
    fe_shared *sh = calloc(1, sizeof *sh); /* the test frees it once the leaves ran */
    for (int i = 0; sh && i < s->n; i++) {
        fe_leaf l = {sh, i, {0}};
        if (weft_spawn(rt, &fe_leaf_type, &l, NULL) < 0) atomic_fetch_add(&sh->done, 1); /* run, then cached */
        (void)weft_spawn(rt, &forever_type, NULL, NULL);              /* never completes */
    }
    *(fe_shared **)out = sh;
    return WEFT_READY;
}
static const weft_future_type sd_root_type = {"sd_root", sd_root_poll, NULL, sizeof(sd_root), sizeof(fe_shared *)};

static void test_cache_shutdown(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "global", "ws", "numa"};
    for (size_t si = 0; si < sizeof scheds / sizeof scheds[0]; si++) {
        int workers = strcmp(scheds[si], "fifo") ? 2 : 1;
        weft_runtime *rt = tu_rt_new(scheds[si], workers, NULL);
        sd_root root = {TU_SCALE(2000, 300)};
        fe_shared *sh = NULL;
        assert_int_equal(weft_block_on(rt, &sd_root_type, &root, &sh), 0);
        assert_non_null(sh);
        struct { fe_shared *sh; long want; } wt = {sh, root.n};
        assert_int_equal(weft_block_on(rt, &fe_wait_type, &wt, NULL), 0);
        /* queued-but-never-run tasks too: spawn more from outside */
        for (int i = 0; i < 100; i++) assert_int_equal(weft_spawn(rt, &forever_type, NULL, NULL), 0);
        weft_runtime_free(rt);
        free(sh);
    }
}

/* ---- weft_spawn's fast path (spawn.c) --------------------------------------------
 * A worker spawning a task with a state of at most 16 bytes whose block is
 * cached takes the fast path (task_new_on's work without its error paths;
 * on fifo also its push, inline); every other spawn takes spawn_full. A
 * root on a fifo worker (then a ws one) spawns leaves of
 * every state size around the copy's branches (0..16 fast, 17 and 40 not),
 * with an init and without (the block dirtied first: NULL init must zero
 * it), with and without a join handle, into a warm class and a cold one,
 * and the bad calls the fast path must hand to spawn_full's messages. Each
 * leaf checks its state byte for byte and returns its size + 1000 through
 * its output, which the root reads through the handle. */
static unsigned char g_fp_pattern[64];
static _Atomic int g_fp_expect_zero;
static _Atomic int g_fp_bad;   /* leaves whose state was not what the spawn passed */
static _Atomic int g_fp_ran;

static void fp_check(const void *p, size_t n, void *out)
{
    static const unsigned char zero[64];
    const void *want = atomic_load(&g_fp_expect_zero) ? zero : g_fp_pattern;
    if (n && memcmp(p, want, n) != 0) atomic_fetch_add(&g_fp_bad, 1);
    *(uint64_t *)out = n + 1000;
    atomic_fetch_add(&g_fp_ran, 1);
}
#define FP_LEAF(N)                                                                          \
    static weft_poll fp_leaf_##N(void *p, weft_context *cx, void *out)                    \
    {                                                                                       \
        (void)cx;                                                                           \
        fp_check(p, N, out);                                                                \
        return WEFT_READY;                                                                  \
    }                                                                                       \
    static const weft_future_type fp_type_##N = {"fp_leaf_" #N, fp_leaf_##N, NULL, N, sizeof(uint64_t)};
FP_LEAF(0) FP_LEAF(1) FP_LEAF(3) FP_LEAF(4) FP_LEAF(7) FP_LEAF(8) FP_LEAF(12) FP_LEAF(16) FP_LEAF(17)
FP_LEAF(40)
static const weft_future_type *const fp_types[] = {&fp_type_0,  &fp_type_1,  &fp_type_3, &fp_type_4,
                                                   &fp_type_7,  &fp_type_8,  &fp_type_12, &fp_type_16,
                                                   &fp_type_17, &fp_type_40};
#define FP_NTYPES (sizeof fp_types / sizeof fp_types[0])
/* a leaf type whose output makes its class one no other test warms (cold:
 * the first spawn misses the cache) */
static weft_poll fp_cold_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    ((unsigned char *)out)[0] = 42;
    atomic_fetch_add(&g_fp_ran, 1);
    return WEFT_READY;
}
static const weft_future_type fp_cold_type = {"fp_cold", fp_cold_poll, NULL, 8, 700};
static const weft_future_type fp_nopoll_type = {"fp_nopoll", NULL, NULL, 8, 0};
static const weft_future_type fp_huge_type = {"fp_huge", fp_cold_poll, NULL, 8, WEFT_FUTURE_SIZE_MAX + 1};

typedef struct fp_root {
    int coro;
    size_t i;
    int variant; /* 0: init, no handle; 1: init, handle; 2: NULL init, no handle; 3: NULL init, handle */
    weft_yield y;
    weft_join_handle h;
    int bad_joins, bad_rcs;
    int res;
    uint64_t v;
    unsigned char cold[700];
} fp_root;

static unsigned fp_class(const weft_future_type *ty)
{
    size_t state = (ty->state_size + TASK_ALIGN - 1) & ~(size_t)(TASK_ALIGN - 1);
    return (unsigned)((TASK_HEADER_SIZE + state + ty->output_size + TASK_CACHE_GRAIN - 1) / TASK_CACHE_GRAIN);
}

static weft_poll fp_root_poll(void *p, weft_context *cx, void *out)
{
    fp_root *s = p;
    (void)out;
    weft_runtime *rt = weft_context_runtime(cx);
    WEFT_CORO_BEGIN(s);
    for (s->variant = 0; s->variant < 4; s->variant++) {
        for (s->i = 0; s->i < FP_NTYPES; s->i++) {
            {
                const weft_future_type *ty = fp_types[s->i];
                bool null_init = s->variant >= 2, handle = s->variant & 1;
                /* dirty the head block of the class, so a missing zeroing shows */
                task *b = rt_task_alloc(rt, (size_t)fp_class(ty) * TASK_CACHE_GRAIN);
                memset(b, 0xAA, (size_t)fp_class(ty) * TASK_CACHE_GRAIN);
                b->alloc_class = (uint8_t)fp_class(ty);
                b->rt = rt;
                rt_task_free(b);
                atomic_store(&g_fp_expect_zero, null_init);
                if (weft_spawn(rt, ty, null_init ? NULL : g_fp_pattern, handle ? &s->h : NULL) != 0) s->bad_rcs++;
            }
            if (!(s->variant & 1)) {
                WEFT_YIELD_NOW(s, y, cx); /* the leaf runs before the root again */
                continue;
            }
            s->v = 0;
            s->res = -1;
            WEFT_AWAIT(s, weft_join_poll(&s->h, cx, &s->v, &s->res));
            if (s->res != 0 || s->v != fp_types[s->i]->state_size + 1000) s->bad_joins++;
        }
    }
    /* a cold class: the cache misses, spawn_full allocates */
    if (weft_spawn(rt, &fp_cold_type, g_fp_pattern, &s->h) != 0) s->bad_rcs++;
    s->res = -1;
    WEFT_AWAIT(s, weft_join_poll(&s->h, cx, s->cold, &s->res));
    if (s->res != 0 || s->cold[0] != 42) s->bad_joins++;
    /* bad calls from a worker: spawn_full's errors, the handle cleared */
    s->h.task = (void *)1;
    if (weft_spawn(rt, NULL, NULL, &s->h) != -EINVAL || s->h.task) s->bad_rcs += 100;
    s->h.task = (void *)1;
    if (weft_spawn(rt, &fp_nopoll_type, NULL, &s->h) != -EINVAL || s->h.task) s->bad_rcs += 100;
    s->h.task = (void *)1;
    if (weft_spawn(rt, &fp_huge_type, NULL, &s->h) != -EINVAL || s->h.task) s->bad_rcs += 100;
    if (weft_spawn(NULL, &fp_type_8, g_fp_pattern, NULL) != -EINVAL) s->bad_rcs += 100;
    WEFT_CORO_END(s);
}
static const weft_future_type fp_root_type = {"fp_root", fp_root_poll, NULL, sizeof(fp_root), 0};

static void test_spawn_fast_path(void **unused)
{
    (void)unused;
    for (size_t i = 0; i < sizeof g_fp_pattern; i++) g_fp_pattern[i] = (unsigned char)(i * 7 + 1);
    /* ws: the same fast path with rt_schedule_spawned's push */
    const char *scheds[] = {"fifo", "ws"};
    for (int k = 0; k < 2; k++) {
        weft_runtime *rt = tu_rt_new(scheds[k], 1, NULL);
        atomic_store(&g_fp_bad, 0);
        atomic_store(&g_fp_ran, 0);
        fp_root r;
        memset(&r, 0, sizeof r);
        assert_int_equal(weft_block_on(rt, &fp_root_type, &r, NULL), 0);
        if (r.bad_rcs || r.bad_joins || atomic_load(&g_fp_bad))
            print_error("%s: bad rcs %d, bad joins %d, bad states %d\n", scheds[k], r.bad_rcs, r.bad_joins,
                        atomic_load(&g_fp_bad));
        assert_int_equal(r.bad_rcs, 0);
        assert_int_equal(r.bad_joins, 0);
        assert_int_equal(atomic_load(&g_fp_bad), 0);
        assert_int_equal(atomic_load(&g_fp_ran), 4 * (int)FP_NTYPES + 1);
        weft_runtime_free(rt);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_on_a_worker),
        cmocka_unit_test(test_cache_off_the_workers),
        cmocka_unit_test(test_cache_outside_blocks_return),
        cmocka_unit_test(test_cache_outside_thread_exit),
        cmocka_unit_test(test_cache_completion_frees_here),
        cmocka_unit_test(test_cache_frees_elsewhere),
        cmocka_unit_test(test_cache_other_runtime),
        cmocka_unit_test(test_cache_shutdown),
        cmocka_unit_test(test_spawn_fast_path),
    };
    return cmocka_run_group_tests_name("task_cache", tests, NULL, NULL);
}
