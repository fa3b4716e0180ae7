/*
 * tests/test_hot_path.c - the busy part of the worker loop (schedulers/worker.c)
 * and fifo's queues (schedulers/fifo.h), with exact counts:
 *
 *   - queue_hwm on fifo: the length after a spawn or a wake and after an
 *     injected batch moves in; a yield's re-queue is not counted (it gives
 *     back the place its pop freed), so a poll that spawns k tasks and then
 *     yields leaves the mark at k, and tasks that only yield leave it at the
 *     length of the batch they came in with;
 *   - the fifo copy's poll count lives in a register: exact after block_on,
 *     exact while the worker is parked (it is added before the park), and
 *     the same with sched_latency (the other copy of the loop);
 *   - a yield is carried even when its task's abort is already visible: the
 *     pop drops it without another poll (fifo, ws, global, numa; 1 and 2
 *     workers), and a carried task woken and aborted while queued is dropped
 *     exactly once;
 *   - the fifo copy reads rt->shutdown only on interval ticks and when idle:
 *     a runtime freed from another thread while a task yields forever ends
 *     the block_on with -ESHUTDOWN;
 *   - weft_spawn's fast path up to 128-byte states, with a NULL init over a
 *     dirty cached block;
 *   - stress (TSan): outside aborts racing carried yields on ws, global and
 *     numa at 2, 4 and 8 workers: every task dropped once, none lost.
 */
#include "test_util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "schedulers/runtime_internal.h"
#include "schedulers/task.h"

static weft_worker_stats stats_of(weft_runtime *rt)
{
    weft_worker_stats st;
    assert_int_equal(weft_runtime_stats(rt, NULL, 0, &st) >= 0, 1);
    return st;
}

/* ---- leaves ------------------------------------------------------------------------------ */

/* A leaf that yields `yields` times, then counts itself done. */
typedef struct yleaf {
    int left;
    _Atomic int *done;
} yleaf;
static weft_poll yleaf_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    yleaf *s = p;
    if (s->left > 0) {
        s->left--;
        weft_context_yield(cx);
        return WEFT_PENDING;
    }
    atomic_fetch_add_explicit(s->done, 1, memory_order_relaxed);
    return WEFT_READY;
}
static const weft_future_type yleaf_type = {"yleaf", yleaf_poll, NULL, sizeof(yleaf), 0};

/* ---- queue_hwm -------------------------------------------------------------------------- */

/* Spawns k leaves (each yields `yields` times), yields `self_yields` times,
 * then waits for the leaves by yielding until they are all done. */
typedef struct spawner {
    int k, yields, self_yields, spawned;
    _Atomic int done;
} spawner;
static weft_poll spawner_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    spawner *s = p;
    if (!s->spawned) {
        s->spawned = 1;
        for (int i = 0; i < s->k; i++) {
            yleaf l = {s->yields, &s->done};
            assert_int_equal(weft_spawn(weft_context_runtime(cx), &yleaf_type, &l, NULL), 0);
        }
    }
    if (s->self_yields > 0 || atomic_load_explicit(&s->done, memory_order_relaxed) < s->k) {
        if (s->self_yields > 0) s->self_yields--;
        weft_context_yield(cx);
        return WEFT_PENDING;
    }
    return WEFT_READY;
}
static const weft_future_type spawner_type = {"spawner", spawner_poll, NULL, sizeof(spawner), 0};

static void test_fifo_hwm_spawn_then_yield(void **unused)
{
    (void)unused;
    /* k spawns from the root's first poll: the mark is k, not k + 1 (the
     * root's own re-queue behind them), whatever the leaves and the root
     * yield afterwards */
    const int ks[] = {1, 5, 64};
    for (unsigned i = 0; i < sizeof ks / sizeof ks[0]; i++)
        for (int yields = 0; yields <= 3; yields += 3) {
            weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
            spawner s = {ks[i], yields, 2, 0, 0};
            tu_block_on_ok(rt, &spawner_type, &s, NULL);
            weft_worker_stats st = stats_of(rt);
            assert_int_equal(st.queue_hwm, ks[i]);
            /* the root: 1 + 2 self yields + its waits; the leaves 1 + yields each */
            assert_int_equal(st.spawns, ks[i] + 1);
            weft_runtime_free(rt);
        }
}

static void test_fifo_hwm_injected_batch(void **unused)
{
    (void)unused;
    /* j tasks spawned from outside before block_on (they yield) and the
     * root: one batch of j + 1 moves in at the first take; the yields never
     * raise the mark above it */
    const int js[] = {1, 7, 200};
    for (unsigned i = 0; i < sizeof js / sizeof js[0]; i++) {
        weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
        _Atomic int done = 0;
        for (int j = 0; j < js[i]; j++) {
            yleaf l = {10, &done};
            assert_int_equal(weft_spawn(rt, &yleaf_type, &l, NULL), 0);
        }
        spawner s = {0, 0, 0, 0, 0}; /* spawns nothing: completes at its first poll */
        tu_block_on_ok(rt, &spawner_type, &s, NULL);
        weft_worker_stats st = stats_of(rt);
        assert_int_equal(st.queue_hwm, js[i] + 1);
        assert_int_equal(st.inject_pops, js[i] + 1);
        /* the root completed at once: block_on returned with the leaves
         * still queued, each polled at most once since (none completed) */
        assert_true(atomic_load(&done) == 0);
        weft_runtime_free(rt);
    }
}

/* A wake counts: a task woken while others are queued raises the mark to
 * the queues' length after the wake's push (woken plus local). */
typedef struct waiter {
    int polls;
    weft_waker saved;
} waiter;
static weft_poll waiter_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    waiter *s = p;
    if (s->polls++ == 0) {
        s->saved = weft_waker_clone(weft_context_waker(cx));
        return WEFT_PENDING;
    }
    return WEFT_READY;
}
static void waiter_drop(void *p)
{
    waiter *s = p;
    if (s->polls > 0 && s->saved.vtable) weft_waker_drop(&s->saved);
    s->saved.vtable = NULL;
}
static const weft_future_type waiter_type = {"waiter", waiter_poll, waiter_drop, sizeof(waiter), 0};

typedef struct waker_root {
    int step, k;
    weft_join_handle wh;
    _Atomic int done;
} waker_root;
static weft_poll waker_root_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    waker_root *s = p;
    weft_runtime *rt = weft_context_runtime(cx);
    int rc = 0;
    switch (s->step) {
    case 0: /* the waiter first, alone: it saves its waker */
        s->step = 1;
        assert_int_equal(weft_spawn(rt, &waiter_type, &(waiter){0, WEFT_WAKER_NONE}, &s->wh), 0);
        weft_context_yield(cx);
        return WEFT_PENDING;
    case 1: { /* k leaves, then the wake: k + 1 queued (plus this root, running) */
        s->step = 2;
        for (int i = 0; i < s->k; i++)
            assert_int_equal(weft_spawn(rt, &yleaf_type, &(yleaf){1, &s->done}, NULL), 0);
        waiter *wst = task_state_ptr(s->wh.task);
        weft_waker_wake_by_ref(&wst->saved);
        weft_context_yield(cx);
        return WEFT_PENDING;
    }
    case 2:
        if (weft_join_poll(&s->wh, cx, NULL, &rc) == WEFT_PENDING) return WEFT_PENDING;
        assert_int_equal(rc, 0);
        s->step = 3;
        WEFT_FALLTHROUGH;
    default:
        if (atomic_load_explicit(&s->done, memory_order_relaxed) < s->k) {
            weft_context_yield(cx);
            return WEFT_PENDING;
        }
        return WEFT_READY;
    }
}
static const weft_future_type waker_root_type = {"waker_root", waker_root_poll, NULL, sizeof(waker_root), 0};

static void test_fifo_hwm_wake(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    waker_root r = {0, 4, {NULL}, 0};
    tu_block_on_ok(rt, &waker_root_type, &r, NULL);
    weft_worker_stats st = stats_of(rt);
    /* 4 leaves in local, the waiter in woken */
    assert_int_equal(st.queue_hwm, 5);
    assert_int_equal(st.local_wakes, 1);
    weft_runtime_free(rt);
}

/* ---- the poll count ----------------------------------------------------------------------- */

static void test_fifo_polls_exact(void **unused)
{
    (void)unused;
    for (int lat = 0; lat < 2; lat++) {
        weft_runtime *rt = tu_rt_new("fifo", 1, lat ? "sched_latency=1" : "sched_latency=0", NULL);
        /* global_interval 61 by default: 3 leaves x 100 yields crosses many ticks */
        spawner s = {3, 100, 5, 0, 0};
        tu_block_on_ok(rt, &spawner_type, &s, NULL);
        weft_worker_stats st = stats_of(rt);
        /* leaves: 3 x 101; the root: 1 + 5 self yields + 1 poll per round
         * until the leaves are done; count the root from its own rounds */
        uint64_t leaves = 3 * 101;
        assert_true(st.polls > leaves + 6);
        /* exactness: a second run of the same shape adds the same count */
        spawner s2 = {3, 100, 5, 0, 0};
        tu_block_on_ok(rt, &spawner_type, &s2, NULL);
        weft_worker_stats st2 = stats_of(rt);
        assert_int_equal(st2.polls, 2 * st.polls);
        weft_runtime_free(rt);
    }
}

/* A root that counts its own polls: pending until `go`, woken by an outside
 * thread; the worker parks in between. */
typedef struct parked_root {
    _Atomic int polls;
    _Atomic int go;
    _Atomic(void *) waker_data;
    weft_waker saved;
    _Atomic int saved_ready;
} parked_root;
typedef struct parked_ref { parked_root *r; } parked_ref;
static weft_poll parked_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    parked_root *r = ((parked_ref *)p)->r;
    atomic_fetch_add_explicit(&r->polls, 1, memory_order_relaxed);
    if (atomic_load_explicit(&r->go, memory_order_acquire)) {
        weft_waker_drop(&r->saved);
        return WEFT_READY;
    }
    if (!atomic_load_explicit(&r->saved_ready, memory_order_relaxed)) {
        r->saved = weft_waker_clone(weft_context_waker(cx));
        /* release: the saved waker to the waking thread */
        atomic_store_explicit(&r->saved_ready, 1, memory_order_release);
    }
    return WEFT_PENDING;
}
static const weft_future_type parked_type = {"parked", parked_poll, NULL, sizeof(parked_ref), 0};

typedef struct parked_arg {
    weft_runtime *rt;
    parked_root *r;
    uint64_t polls_seen;
} parked_arg;
static void *parked_waker_main(void *p)
{
    parked_arg *a = p;
    while (!atomic_load_explicit(&a->r->saved_ready, memory_order_acquire)) tu_sleep_ms(1);
    /* the worker counted the first poll and parks: the count is visible
     * while it sleeps (added before the park); wait for it, bounded */
    uint64_t deadline = tu_now_ms() + 10000;
    weft_worker_stats st;
    do {
        tu_sleep_ms(1);
        weft_runtime_stats(a->rt, NULL, 0, &st);
    } while (st.polls < 1 && tu_now_ms() < deadline);
    a->polls_seen = st.polls;
    atomic_store_explicit(&a->r->go, 1, memory_order_release);
    weft_waker_wake_by_ref(&a->r->saved);
    return NULL;
}

static void test_fifo_polls_visible_while_parked(void **unused)
{
    (void)unused;
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    parked_root r;
    memset(&r, 0, sizeof r);
    parked_arg a = {rt, &r, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, parked_waker_main, &a), 0);
    parked_ref ref = {&r};
    tu_block_on_ok(rt, &parked_type, &ref, NULL);
    pthread_join(th, NULL);
    /* the one poll before the park, seen from the other thread (the block_on
     * root is the only task; every poll of it is its own) */
    assert_int_equal(a.polls_seen, (uint64_t)atomic_load(&r.polls) - 1);
    assert_int_equal(stats_of(rt).polls, (uint64_t)atomic_load(&r.polls));
    weft_runtime_free(rt);
}

/* ---- abort and yield ---------------------------------------------------------------------- */

typedef struct self_abort {
    int polls, drops, rc; /* rc: the root's join result */
} self_abort_rec;
typedef struct self_abort_st {
    self_abort_rec *rec;
    weft_join_handle *h; /* its own handle, aborted during its first poll */
} self_abort_st;
static weft_poll self_abort_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    self_abort_st *s = p;
    s->rec->polls++;
    if (s->rec->polls == 1) assert_int_equal(weft_join_abort(s->h), 0);
    weft_context_yield(cx); /* yields with its abort visible */
    return WEFT_PENDING;
}
static void self_abort_drop(void *p) { ((self_abort_st *)p)->rec->drops++; }
static const weft_future_type self_abort_type = {"self_abort", self_abort_poll, self_abort_drop,
                                                 sizeof(self_abort_st), 0};

/* The root spawns the self-aborting task, then joins it. */
typedef struct abort_root {
    self_abort_rec *rec;
    weft_join_handle h;
    int started;
} abort_root;
static weft_poll abort_root_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    abort_root *s = p;
    if (!s->started) {
        s->started = 1;
        self_abort_st st = {s->rec, &s->h};
        assert_int_equal(weft_spawn(weft_context_runtime(cx), &self_abort_type, &st, &s->h), 0);
    }
    if (weft_join_poll(&s->h, cx, NULL, &s->rec->rc) == WEFT_PENDING) return WEFT_PENDING;
    return WEFT_READY;
}
static const weft_future_type abort_root_type = {"abort_root", abort_root_poll, NULL, sizeof(abort_root), 0};

static void test_yield_after_own_abort(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "global", "ws", "numa"};
    for (unsigned i = 0; i < 4; i++)
        for (int nw = 1; nw <= 2; nw++) {
            if (i == 0 && nw == 2) continue;
            weft_runtime *rt = tu_rt_new(scheds[i], nw, NULL);
            self_abort_rec rec = {0, 0, 1};
            /* the root's state is copied into its task: the handle lives there */
            abort_root root = {&rec, {NULL}, 0};
            tu_block_on_ok(rt, &abort_root_type, &root, NULL);
            assert_int_equal(rec.polls, 1); /* never polled after its abort */
            assert_int_equal(rec.drops, 1);
            assert_int_equal(rec.rc, -ECANCELED);
            weft_runtime_free(rt);
        }
}

/* ---- shutdown while busy ------------------------------------------------------------------- */

typedef struct spinner { _Atomic int *started; } spinner;
static weft_poll spinner_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    /* release pairs with the test's acquire wait */
    atomic_store_explicit(((spinner *)p)->started, 1, memory_order_release);
    weft_context_yield(cx); /* forever: only shutdown ends it */
    return WEFT_PENDING;
}
static const weft_future_type spinner_type = {"spinner", spinner_poll, NULL, sizeof(spinner), 0};

typedef struct busy_arg {
    weft_runtime *rt;
    _Atomic int started;
    int rc;
} busy_arg;
static void *busy_main(void *p)
{
    busy_arg *a = p;
    spinner s = {&a->started};
    a->rc = weft_block_on(a->rt, &spinner_type, &s, NULL);
    return NULL;
}

static void test_fifo_free_while_yielding(void **unused)
{
    (void)unused;
    const char *intervals[] = {"global_interval=1", "global_interval=61", "global_interval=1000"};
    for (int i = 0; i < 3; i++) {
        weft_runtime *rt = tu_rt_new("fifo", 1, intervals[i], NULL);
        busy_arg a = {rt, 0, 1};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, busy_main, &a), 0);
        assert_true(tu_wait_flag(&a.started, 10000));
        weft_runtime_free(rt); /* waits for the block_on to leave */
        pthread_join(th, NULL);
        assert_int_equal(a.rc, -ESHUTDOWN);
    }
}

/* ---- the spawn fast path: NULL init up to its largest state ------------------------------ */

/* weft_spawn's fast path copies states up to 128 bytes inline (spawn.c,
 * SPAWN_FAST_STATE_MAX), zeros from a static block for a NULL init: every
 * size 1..160 from a worker (the fast path once the cache holds the class,
 * spawn_full beyond 128) reads as zeros, twice per size so the second spawn
 * of each is a cache hit. */
#define ZS_MAX 160
static weft_future_type zs_types[ZS_MAX + 1];
static _Atomic int zs_bad, zs_ran;
static weft_poll zs_child_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    const weft_future_type *ty = ((task *)cx->task)->type;
    const unsigned char *st = p;
    for (size_t i = 0; i < ty->state_size; i++)
        if (st[i]) atomic_fetch_add(&zs_bad, 1);
    atomic_fetch_add(&zs_ran, 1);
    return WEFT_READY;
}
typedef struct zs_root { size_t n; int round; weft_join_handle h; } zs_root;
static weft_poll zs_root_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    zs_root *s = p;
    for (; s->n <= ZS_MAX; s->round ? (s->n++, s->round = 0) : (s->round = 1)) {
        if (weft_join_is_empty(&s->h)) {
            /* dirty a block of this class first: the fast path must not
             * leave a freed task's bytes in the state */
            if (weft_spawn(weft_context_runtime(cx), &zs_types[s->n], NULL, &s->h) != 0)
                atomic_fetch_add(&zs_bad, 1000);
        }
        int rc = 1;
        if (weft_join_poll(&s->h, cx, NULL, &rc) == WEFT_PENDING) return WEFT_PENDING;
        if (rc != 0) atomic_fetch_add(&zs_bad, 100);
    }
    return WEFT_READY;
}
static void zs_root_drop(void *p) { weft_join_drop(&((zs_root *)p)->h); }
static const weft_future_type zs_root_type = {"zs_root", zs_root_poll, zs_root_drop, sizeof(zs_root), 0};

/* A child that fills its own state with 0xa5 before completing, so the
 * block it leaves in the cache is dirty for the next spawn of its class. */
static weft_poll zs_dirty_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    memset(p, 0xa5, ((task *)cx->task)->type->state_size);
    return WEFT_READY;
}

static void test_spawn_fast_null_init(void **unused)
{
    (void)unused;
    const char *scheds[] = {"fifo", "ws", "numa", "global"};
    for (unsigned k = 0; k < 4; k++) {
        for (size_t n = 1; n <= ZS_MAX; n++) zs_types[n] = (weft_future_type){"zs", zs_child_poll, NULL, n, 0};
        weft_runtime *rt = tu_rt_new(scheds[k], 1, NULL);
        atomic_store(&zs_bad, 0);
        atomic_store(&zs_ran, 0);
        zs_root r = {1, 0, {NULL}};
        /* first pass: children that scribble their state (every class's
         * cached blocks dirty), then the zero checks */
        for (size_t n = 1; n <= ZS_MAX; n++) zs_types[n].poll = zs_dirty_poll;
        tu_block_on_ok(rt, &zs_root_type, &r, NULL);
        for (size_t n = 1; n <= ZS_MAX; n++) zs_types[n].poll = zs_child_poll;
        zs_root r2 = {1, 0, {NULL}};
        tu_block_on_ok(rt, &zs_root_type, &r2, NULL);
        assert_int_equal(atomic_load(&zs_bad), 0);
        assert_int_equal(atomic_load(&zs_ran), 2 * ZS_MAX);
        weft_runtime_free(rt);
    }
}

/* ---- stress: outside aborts racing carried yields ------------------------------------------- */

/* Tasks that yield `left` times and return their id, on 2, 4 and 8 workers
 * of ws, global and numa, while the test thread aborts every other one at
 * a varying moment: an abort landing before, during or after a poll that
 * yields must end the task exactly once (its drop runs once), never poll it
 * after the abort was seen at a pop, and never lose a task that was not
 * aborted (its join returns its id). */
enum { AS_TASKS = 64, AS_YIELDS = 2000 };
typedef struct as_task {
    int left, id;
    _Atomic int *drops;
    _Atomic int *polls;
} as_task;
static weft_poll as_poll(void *p, weft_context *cx, void *out)
{
    as_task *s = p;
    atomic_fetch_add_explicit(s->polls, 1, memory_order_relaxed);
    if (s->left-- > 0) {
        weft_context_yield(cx);
        return WEFT_PENDING;
    }
    *(int *)out = s->id;
    return WEFT_READY;
}
static void as_drop(void *p)
{
    as_task *s = p;
    atomic_fetch_add_explicit(s->drops, 1, memory_order_relaxed);
}
static const weft_future_type as_type = {"abort_stress", as_poll, as_drop, sizeof(as_task), sizeof(int)};

static void test_stress_abort_carried_mt(void **unused)
{
    (void)unused;
    const char *scheds[] = {"ws", "global", "numa"};
    const int workers[] = {2, 4, 8};
    for (unsigned si = 0; si < 3; si++)
        for (unsigned wi = 0; wi < 3; wi++) {
            weft_runtime *rt = tu_rt_new(scheds[si], workers[wi], NULL);
            static _Atomic int drops[AS_TASKS], polls[AS_TASKS];
            weft_join_handle h[AS_TASKS];
            for (int i = 0; i < AS_TASKS; i++) {
                atomic_store(&drops[i], 0);
                atomic_store(&polls[i], 0);
                as_task init = {TU_SCALE(AS_YIELDS, AS_YIELDS / 4), i, &drops[i], &polls[i]};
                assert_int_equal(weft_spawn(rt, &as_type, &init, &h[i]), 0);
            }
            for (int i = 0; i < AS_TASKS; i += 2) {
                /* a varying moment: after a few of its polls, or at once */
                while (atomic_load_explicit(&polls[i], memory_order_relaxed) < (i % 7) * 10 &&
                       !weft_join_is_finished(&h[i]))
                    sched_yield();
                int rc = weft_join_abort(&h[i]);
                assert_true(rc == 0 || rc == -EALREADY);
            }
            int cancelled = 0;
            for (int i = 0; i < AS_TASKS; i++) {
                int out = -1;
                int rc = weft_join_wait(&h[i], &out);
                if (i % 2) {
                    assert_int_equal(rc, 0); /* never aborted: never lost */
                    assert_int_equal(out, i);
                } else if (rc == -ECANCELED) {
                    cancelled++;
                } else {
                    assert_int_equal(rc, 0); /* finished before the abort */
                    assert_int_equal(out, i);
                }
            }
            weft_runtime_free(rt);
            for (int i = 0; i < AS_TASKS; i++) {
                assert_int_equal(atomic_load(&drops[i]), 1);
                assert_true(atomic_load(&polls[i]) <= TU_SCALE(AS_YIELDS, AS_YIELDS / 4) + 1);
            }
            printf("# %s/%d: %d of %d aborted tasks cancelled\n", scheds[si], workers[wi], cancelled,
                   AS_TASKS / 2);
        }
}

int main(void)
{
    tu_watchdog(300, "test_hot_path", "");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_hwm_spawn_then_yield),
        cmocka_unit_test(test_fifo_hwm_injected_batch),
        cmocka_unit_test(test_fifo_hwm_wake),
        cmocka_unit_test(test_fifo_polls_exact),
        cmocka_unit_test(test_fifo_polls_visible_while_parked),
        cmocka_unit_test(test_yield_after_own_abort),
        cmocka_unit_test(test_fifo_free_while_yielding),
        cmocka_unit_test(test_spawn_fast_null_init),
        cmocka_unit_test(test_stress_abort_carried_mt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
