/*
 * tests/test_stress_core_handoff.c - the core hand-off (schedulers/park.c):
 * weft_block_on's caller takes a sleeping worker's core and runs the
 * worker's loop itself; on a one-worker global/ws/numa runtime
 * (block_on_handoff=1), and at 2 and 4 workers (block_on_handoff=2, where
 * the other workers run beside the lent loop and may complete the root:
 * the lent loop's until flag must outlive a late wake; a non-counted flag
 * on the caller's stack failed ASan here about 1 run in 20).
 *
 *   - it happens: once the worker's thread is parked, every weft_block_on
 *     of R rounds hands off (rt_core_handoffs grows by exactly R), the root
 *     and every task it spawns run on the caller's thread, and the worker
 *     thread neither parks nor unparks again (its stats stay put); with
 *     block_on_handoff=0, and at 2 workers with 1, nothing hands off and the root
 *     runs on the worker's thread (so the test fails without the mechanism);
 *   - a root that waits on a timer, a blocking job or an outside wake goes
 *     back to the worker's thread (it first ran on the caller) and completes;
 *   - outside spawns and outside wakes during the hand-off: every task runs
 *     exactly once, none is lost (a lost wake-up hangs into the watchdog);
 *   - two threads in weft_block_on at once: one may hold the core, the
 *     other takes the old path; both get every result right;
 *   - weft_runtime_free while the caller holds the core: the caller's
 *     block_on returns -ESHUTDOWN, the free joins the worker's thread.
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
#include <unistd.h>

#include <cmocka.h>

#include "schedulers/runtime_internal.h"
#include "test_util.h"
#include "weft/runtime.h"
#include "weft/time.h"

#define ROUNDS TU_SCALE(2000, 300)
#define CHILDREN 8

static char current_config[128];
static void watchdog(unsigned seconds) { tu_watchdog(seconds, "test_stress_core_handoff", current_config); }

static const char *const scheds[] = {"global", "ws", "numa"};

/* The hand-off's configurations: one worker (block_on_handoff=1, or 2,
 * the same there) and any worker count (block_on_handoff=2: the caller
 * takes any worker whose thread sleeps on its condition variable; the
 * other workers may steal what the root spawns). */
static const struct {
    int workers, mode;
} hcfg[] = {{1, 1}, {2, 2}, {4, 2}};
#define NHCFG (sizeof hcfg / sizeof hcfg[0])

static weft_runtime *rt_make(const char *sched, int workers, int handoff)
{
    char knob[48];
    snprintf(knob, sizeof knob, "block_on_handoff=%d", handoff);
    snprintf(current_config, sizeof current_config, "%s workers=%d %s", sched, workers, knob);
    return tu_rt_new(sched, workers, knob, (const char *)NULL);
}

/* ---- a root that spawns CHILDREN and records where everything ran ------------------- */

static _Atomic int off_caller; /* polls of this test's tasks not on the expected thread */
static _Atomic int polls_seen; /* every poll of this test's tasks */
static pthread_t expect_thread;

static void note_thread(void)
{
    atomic_fetch_add_explicit(&polls_seen, 1, memory_order_relaxed);
    if (!pthread_equal(pthread_self(), expect_thread))
        atomic_fetch_add_explicit(&off_caller, 1, memory_order_relaxed);
}

typedef struct child_st {
    _Atomic int *slot;
    tu_latch *done;
} child_st;

static weft_poll child_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    (void)out;
    child_st *st = p;
    note_thread();
    atomic_fetch_add_explicit(st->slot, 1, memory_order_relaxed);
    tu_latch_arrive(st->done);
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(child_type, child_poll, NULL, child_st, 0);

typedef struct spawner_st {
    _Atomic int *slots; /* CHILDREN */
    tu_latch *done;
    int started;
    int fails;
} spawner_st;

static weft_poll spawner_poll(void *p, weft_context *cx, void *out)
{
    spawner_st *st = p;
    note_thread();
    if (!st->started) {
        st->started = 1;
        for (int i = 0; i < CHILDREN; i++) {
            child_st c = {&st->slots[i], st->done};
            if (weft_spawn(weft_context_runtime(cx), &child_type, &c, NULL) < 0) st->fails++;
        }
    }
    if (tu_latch_poll(st->done, cx) == WEFT_PENDING) return WEFT_PENDING;
    *(int *)out = st->fails ? -1 : 7;
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(spawner_type, spawner_poll, NULL, spawner_st, sizeof(int));

/* A root that does nothing: block_on until the worker's thread has parked
 * and a block_on took its core (the thread parks once after start). */
static weft_poll nop_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(nop_type, nop_poll, NULL, int, 0);

static void warm_up(weft_runtime *rt)
{
    for (int i = 0; i < 10000; i++) {
        uint64_t before = rt_core_handoffs(rt);
        int z = 0;
        tu_block_on_ok(rt, &nop_type, &z, NULL);
        if (rt_core_handoffs(rt) > before) return;
        tu_sleep_ms(1);
    }
    fail_msg("%s: no block_on took the core in 10000 tries", current_config);
}

/* The rounds' latches, destroyed only after weft_runtime_free joined the
 * workers: an arriver that is not the last still reads the latch after its
 * increment (tu_latch_arrive), possibly after block_on has returned. */
typedef struct latch_node {
    struct latch_node *next;
    tu_latch l;
} latch_node;
static latch_node *latch_list;
static pthread_mutex_t latch_list_mu = PTHREAD_MUTEX_INITIALIZER;

static tu_latch *latch_new(long target)
{
    latch_node *n = calloc(1, sizeof *n);
    if (!n) abort();
    tu_latch_init(&n->l, target);
    pthread_mutex_lock(&latch_list_mu);
    n->next = latch_list;
    latch_list = n;
    pthread_mutex_unlock(&latch_list_mu);
    return &n->l;
}

static void latches_free(void) /* after weft_runtime_free */
{
    while (latch_list) {
        latch_node *n = latch_list;
        latch_list = n->next;
        tu_latch_destroy(&n->l);
        free(n);
    }
}

/* R rounds of the spawner; returns the hand-offs counted during them and
 * checks every child ran once and every result. */
static uint64_t spawner_rounds(weft_runtime *rt, int rounds)
{
    _Atomic int slots[CHILDREN];
    uint64_t before = rt_core_handoffs(rt);
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < CHILDREN; i++) atomic_init(&slots[i], 0);
        spawner_st st = {slots, latch_new(CHILDREN), 0, 0};
        int out = 0;
        tu_block_on_ok(rt, &spawner_type, &st, &out);
        assert_int_equal(out, 7);
        for (int i = 0; i < CHILDREN; i++) assert_int_equal(atomic_load(&slots[i]), 1);
    }
    return rt_core_handoffs(rt) - before;
}

static void test_handoff_happens(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++) {
        weft_runtime *rt = rt_make(scheds[s], 1, 1);
        watchdog(120);
        warm_up(rt);
        weft_worker_stats before, after;
        assert_int_equal(weft_runtime_stats(rt, &before, 1, NULL), 1);
        expect_thread = pthread_self();
        atomic_store(&off_caller, 0);
        uint64_t n = spawner_rounds(rt, ROUNDS);
        assert_int_equal(weft_runtime_stats(rt, &after, 1, NULL), 1);
        /* every round took the core; every poll ran on this thread */
        assert_int_equal(n, (uint64_t)ROUNDS);
        assert_int_equal(atomic_load(&off_caller), 0);
        /* the worker's thread stayed parked: no park, no unpark, no inject */
        assert_int_equal(after.parks, before.parks);
        assert_int_equal(after.unparks, before.unparks);
        assert_int_equal(after.inject_pops, before.inject_pops);
        /* the caller ran the polls as the worker: ROUNDS * (root twice or once + children) */
        assert_true(after.polls - before.polls >= (uint64_t)ROUNDS * (CHILDREN + 1));
        assert_true(after.polls - before.polls <= (uint64_t)ROUNDS * (CHILDREN + 2));
        weft_runtime_free(rt);
        latches_free();
        tu_watchdog_off();
    }
}

/* Without the mechanism (the knob off, or 2 workers) nothing hands off and
 * the root runs on a worker's thread: the test above would fail there. */
static void test_no_handoff_without_it(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (int k = 0; k < 2; k++) {
            weft_runtime *rt = k == 0 ? rt_make(scheds[s], 1, 0) : rt_make(scheds[s], 2, 1);
            watchdog(120);
            tu_sleep_ms(5);
            expect_thread = pthread_self();
            atomic_store(&off_caller, 0);
            atomic_store(&polls_seen, 0);
            int rounds = 50;
            assert_int_equal(spawner_rounds(rt, rounds), 0);
            assert_int_equal(rt_core_handoffs(rt), 0);
            /* every poll (root and children) ran off the caller */
            assert_int_equal(atomic_load(&off_caller), atomic_load(&polls_seen));
            assert_true(atomic_load(&polls_seen) >= rounds * (CHILDREN + 1));
            weft_runtime_free(rt);
            latches_free();
            tu_watchdog_off();
        }
    weft_runtime *rt = tu_rt_new("fifo", 1, (const char *)NULL);
    assert_false(rt->handoff); /* fifo's caller is its worker anyway */
    weft_runtime_free(rt);
            latches_free();
}

/* ---- roots that wait: a timer, a blocking job, an outside wake ----------------------- */

typedef struct waiter_st {
    int kind; /* 0 sleep, 1 blocking job, 2 outside latch */
    int step;
    weft_sleep sleep;
    weft_join_handle job;
    tu_latch *latch;
    pthread_t *first, *last; /* the test's: where the first and the last poll ran */
} waiter_st;

/* The runtime of test_waiting_roots: its blocking job and its outside
 * arriver complete only once the caller gave the core back, so the root's
 * last poll is the worker thread's whatever the timing. */
static weft_runtime *waiting_rt;
static uint64_t waiting_before; /* hand-offs before this round's block_on */

static pthread_t waiting_caller;           /* the thread in this round's block_on */
static _Atomic int waiting_first, waiting_took; /* the root's first poll ran; on the caller */

/* Returns once the root's first poll ran and, if it ran on the caller (the
 * core was taken: at more than one worker a block_on may find no worker's
 * thread asleep), once every core is back. */
static void wait_core_returned(void)
{
    while (!atomic_load_explicit(&waiting_first, memory_order_acquire)) sched_yield();
    if (!atomic_load_explicit(&waiting_took, memory_order_relaxed)) return;
    while (rt_core_handoffs(waiting_rt) == waiting_before) sched_yield(); /* counted */
    for (int i = 0; i < waiting_rt->nworkers;) {
        worker *w = &waiting_rt->workers[i];
        pthread_mutex_lock(&w->park_mu);
        int lent = w->core_lent;
        pthread_mutex_unlock(&w->park_mu);
        if (!lent) i++;
        else sched_yield();
    }
}

static void *job_fn(void *arg)
{
    wait_core_returned();
    return arg;
}

static weft_poll waiter_poll(void *p, weft_context *cx, void *out)
{
    waiter_st *st = p;
    if (st->step == 0) {
        *st->first = pthread_self();
        st->step = 1;
        atomic_store_explicit(&waiting_took, pthread_equal(pthread_self(), waiting_caller), memory_order_relaxed);
        atomic_store_explicit(&waiting_first, 1, memory_order_release);
        if (st->kind == 0) weft_sleep_init(&st->sleep, 2 * WEFT_MS);
        if (st->kind == 1 && weft_spawn_blocking(weft_context_runtime(cx), job_fn, (void *)st, &st->job) < 0) {
            *(int *)out = -1;
            return WEFT_READY;
        }
    }
    *st->last = pthread_self();
    if (st->kind == 0 && weft_sleep_poll(&st->sleep, cx) == WEFT_PENDING) return WEFT_PENDING;
    if (st->kind == 1) {
        void *res = NULL;
        int rc = 0;
        if (weft_join_poll(&st->job, cx, &res, &rc) == WEFT_PENDING) return WEFT_PENDING;
        if (rc != 0 || res != st) {
            *(int *)out = -1;
            return WEFT_READY;
        }
    }
    if (st->kind == 2 && tu_latch_poll(st->latch, cx) == WEFT_PENDING) return WEFT_PENDING;
    *(int *)out = 40 + st->kind;
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(waiter_type, waiter_poll, NULL, waiter_st, sizeof(int));

static void *arrive_later(void *arg)
{
    wait_core_returned();
    tu_latch_arrive(arg);
    return NULL;
}

static void test_waiting_roots(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t c = 0; c < NHCFG; c++) {
        weft_runtime *rt = rt_make(scheds[s], hcfg[c].workers, hcfg[c].mode);
        waiting_rt = rt;
        watchdog(120);
        int takes = 0;
        for (int rep = 0; rep < TU_SCALE(20, 5); rep++)
            for (int kind = 0; kind < 3; kind++) {
                warm_up(rt);
                uint64_t before = rt_core_handoffs(rt);
                waiting_before = before;
                waiting_caller = pthread_self();
                atomic_store(&waiting_first, 0);
                atomic_store(&waiting_took, 0);
                tu_latch latch;
                tu_latch_init(&latch, 1);
                pthread_t th;
                if (kind == 2) assert_int_equal(pthread_create(&th, NULL, arrive_later, &latch), 0);
                pthread_t first, last;
                waiter_st st = {.kind = kind, .latch = &latch, .first = &first, .last = &last};
                int out = 0;
                tu_block_on_ok(rt, &waiter_type, &st, &out);
                assert_int_equal(out, 40 + kind);
                if (kind == 2) assert_int_equal(pthread_join(th, NULL), 0);
                /* it started on this thread, as the worker, and went back to
                 * the worker's thread to wait (at one worker, always; at
                 * more, the core may not have been taken, and while the
                 * lent loop runs it is a worker like the others: a timer or
                 * wake it sees in time can bring the root back to it) */
                bool took = rt_core_handoffs(rt) == before + 1;
                if (hcfg[c].workers == 1) assert_true(took);
                assert_int_equal(took, pthread_equal(first, pthread_self()) != 0);
                takes += took;
                if (hcfg[c].workers == 1 && pthread_equal(last, pthread_self()))
                    fail_msg("%s: kind %d rep %d: the root completed on the caller", current_config, kind, rep);
                tu_latch_destroy(&latch);
            }
        if (takes == 0) fail_msg("%s: no block_on took a core", current_config);
        weft_runtime_free(rt);
        latches_free();
        tu_watchdog_off();
    }
}

/* ---- outside spawns and wakes during the hand-off -------------------------------------- */

#define OUTSIDE_TASKS TU_SCALE(20000, 3000)
typedef struct outside_ctx {
    weft_runtime *rt;
    _Atomic int *slots; /* OUTSIDE_TASKS */
    tu_latch *done;
    int fails;
} outside_ctx;

static void *outside_spawner(void *arg)
{
    outside_ctx *oc = arg;
    for (int i = 0; i < OUTSIDE_TASKS; i++) {
        child_st c = {&oc->slots[i], oc->done};
        if (weft_spawn(oc->rt, &child_type, &c, NULL) < 0) oc->fails++;
        if (i % 64 == 0) sched_yield();
    }
    return NULL;
}

/* The outside wakes: a root waits on a latch another thread arrives at. */
typedef struct wake_ctx {
    tu_latch *latches; /* one per round */
    int rounds;
    _Atomic int round; /* the round whose latch the waker may arrive at */
} wake_ctx;

static void *outside_waker(void *arg)
{
    wake_ctx *wc = arg;
    for (int r = 0; r < wc->rounds; r++) {
        while (atomic_load_explicit(&wc->round, memory_order_acquire) < r) sched_yield();
        if (r % 3 == 0) sched_yield();
        tu_latch_arrive(&wc->latches[r]);
    }
    return NULL;
}

static void test_outside_during_handoff(void **state)
{
    (void)state;
    /* mode 1 at 2 and 8 workers: no hand-off; mode 2: any worker count */
    static const int workers[] = {1, 2, 8, 2, 8};
    static const int modes[] = {1, 1, 1, 2, 2};
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t k = 0; k < sizeof workers / sizeof workers[0]; k++) {
            weft_runtime *rt = rt_make(scheds[s], workers[k], modes[k]);
            watchdog(300);
            _Atomic int *slots = calloc(OUTSIDE_TASKS, sizeof *slots);
            assert_non_null(slots);
            tu_latch odone;
            tu_latch_init(&odone, OUTSIDE_TASKS);
            outside_ctx oc = {rt, slots, &odone, 0};
            expect_thread = pthread_self(); /* off_caller is not checked here */
            int rounds = ROUNDS / 2;
            wake_ctx wc = {calloc((size_t)rounds, sizeof(tu_latch)), rounds, 0};
            assert_non_null(wc.latches);
            for (int r = 0; r < rounds; r++) tu_latch_init(&wc.latches[r], 1);
            pthread_t sp, wk;
            assert_int_equal(pthread_create(&sp, NULL, outside_spawner, &oc), 0);
            assert_int_equal(pthread_create(&wk, NULL, outside_waker, &wc), 0);
            for (int r = 0; r < rounds; r++) {
                atomic_store_explicit(&wc.round, r, memory_order_release);
                if (r % 2) {
                    tu_latch_wait lw = {&wc.latches[r]};
                    tu_block_on_ok(rt, &tu_latch_type, &lw, NULL);
                } else {
                    assert_int_equal(spawner_rounds(rt, 1) <= 1, 1);
                    tu_latch_wait lw = {&wc.latches[r]};
                    tu_block_on_ok(rt, &tu_latch_type, &lw, NULL);
                }
            }
            assert_int_equal(pthread_join(sp, NULL), 0);
            assert_int_equal(pthread_join(wk, NULL), 0);
            assert_int_equal(oc.fails, 0);
            /* every outside task runs, though no block_on is active now */
            tu_latch_block(rt, &odone);
            for (int i = 0; i < OUTSIDE_TASKS; i++)
                if (atomic_load(&slots[i]) != 1) fail_msg("%s: outside task %d ran %d times", current_config, i,
                                                          atomic_load(&slots[i]));
            if (workers[k] > 1 && modes[k] == 1) assert_int_equal(rt_core_handoffs(rt), 0);
            if (workers[k] == 1) assert_true(rt_core_handoffs(rt) > 0);
            weft_runtime_free(rt);
            latches_free();
            tu_watchdog_off();
            for (int r = 0; r < rounds; r++) tu_latch_destroy(&wc.latches[r]);
            free(wc.latches);
            tu_latch_destroy(&odone);
            free(slots);
        }
}


/* ---- a private task left when the root completes ---------------------------------------
 * A root that spawns a child and returns at once: the child lands where only
 * w sees it (ws/numa: the LIFO slot; global at one worker: its private `out`
 * list), and the lent loop leaves at the root's completion without running
 * it. The give-back must wake w's thread for it (sched_ops.has_local); with
 * the hook ignored every round's child waits for the next block_on and the
 * wait below times out. */
typedef struct leaver_st {
    _Atomic int *ran;
    _Atomic int *spawn_fails;
} leaver_st;

static weft_poll leaf_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    (void)out;
    atomic_fetch_add_explicit(((leaver_st *)p)->ran, 1, memory_order_release);
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(leaf_type, leaf_poll, NULL, leaver_st, 0);

static weft_poll leaver_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    leaver_st *st = p;
    leaver_st c = {st->ran, NULL};
    if (weft_spawn(weft_context_runtime(cx), &leaf_type, &c, NULL) < 0) atomic_fetch_add(st->spawn_fails, 1);
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(leaver_type, leaver_poll, NULL, leaver_st, 0);

static void test_private_task_after_root(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t c = 0; c < NHCFG; c++) {
        weft_runtime *rt = rt_make(scheds[s], hcfg[c].workers, hcfg[c].mode);
        watchdog(120);
        warm_up(rt);
        _Atomic int ran = 0, spawn_fails = 0;
        int rounds = ROUNDS / 20, taken = 0;
        for (int r = 0; r < rounds; r++) {
            uint64_t before = rt_core_handoffs(rt);
            leaver_st st = {&ran, &spawn_fails};
            tu_block_on_ok(rt, &leaver_type, &st, NULL);
            assert_int_equal(atomic_load(&spawn_fails), 0);
            taken += rt_core_handoffs(rt) > before;
            /* no further block_on: only w's own thread can run the child */
            if (!tu_wait_at_least(&ran, r + 1, 5000))
                fail_msg("%s: round %d's child never ran after its root completed", scheds[s], r);
        }
        assert_true(taken > 0); /* the case under test happened */
        assert_int_equal(atomic_load(&ran), rounds);
        weft_runtime_free(rt);
        tu_watchdog_off();
    }
}

/* block_on_handoff=2 at several workers: rounds of the spawner, whose
 * children the other workers may steal; every result right, every child
 * run once, and the hand-off happened (the caller took a sleeping worker's
 * core; a round whose block_on found none took the old path). */
static void test_handoff_any_workers(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t c = 1; c < NHCFG; c++) {
            weft_runtime *rt = rt_make(scheds[s], hcfg[c].workers, hcfg[c].mode);
            assert_true(rt->handoff);
            watchdog(120);
            warm_up(rt);
            expect_thread = pthread_self();
            uint64_t n = spawner_rounds(rt, ROUNDS);
            assert_true(n >= 1 && n <= (uint64_t)ROUNDS);
            weft_runtime_free(rt);
            latches_free();
            tu_watchdog_off();
        }
}

/* ---- two threads in weft_block_on ------------------------------------------------------ */

typedef struct twin_ctx {
    weft_runtime *rt;
    int rounds;
    int bad;
} twin_ctx;

static void *twin_main(void *arg)
{
    twin_ctx *tc = arg;
    for (int r = 0; r < tc->rounds; r++) {
        _Atomic int slots[CHILDREN];
        for (int i = 0; i < CHILDREN; i++) atomic_init(&slots[i], 0);
        spawner_st st = {slots, latch_new(CHILDREN), 0, 0};
        int out = 0;
        if (weft_block_on(tc->rt, &spawner_type, &st, &out) != 0 || out != 7) tc->bad++;
        for (int i = 0; i < CHILDREN; i++)
            if (atomic_load(&slots[i]) != 1) tc->bad++;
    }
    return NULL;
}

static void test_two_callers(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t c = 0; c < NHCFG; c++) {
        weft_runtime *rt = rt_make(scheds[s], hcfg[c].workers, hcfg[c].mode);
        watchdog(300);
        warm_up(rt);
        uint64_t before = rt_core_handoffs(rt);
        twin_ctx a = {rt, ROUNDS, 0}, b = {rt, ROUNDS, 0};
        pthread_t ta, tb;
        assert_int_equal(pthread_create(&ta, NULL, twin_main, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, twin_main, &b), 0);
        assert_int_equal(pthread_join(ta, NULL), 0);
        assert_int_equal(pthread_join(tb, NULL), 0);
        assert_int_equal(a.bad, 0);
        assert_int_equal(b.bad, 0);
        uint64_t n = rt_core_handoffs(rt) - before;
        assert_true(n >= 1 && n <= 2u * ROUNDS);
        weft_runtime_free(rt);
        latches_free();
        tu_watchdog_off();
    }
}

/* ---- weft_runtime_free while the caller holds the core --------------------------------- */

static _Atomic int spinner_running;

static weft_poll spinner_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)out;
    note_thread();
    atomic_store_explicit(&spinner_running, 1, memory_order_release);
    weft_context_yield(cx); /* runnable forever: the lent loop never goes idle */
    return WEFT_PENDING;
}
WEFT_FUTURE_TYPE(spinner_type, spinner_poll, NULL, int, 0);

typedef struct free_ctx {
    weft_runtime *rt;
    int rc;
} free_ctx;

static void *spin_caller(void *arg)
{
    free_ctx *fc = arg;
    expect_thread = pthread_self();
    int z = 0;
    fc->rc = weft_block_on(fc->rt, &spinner_type, &z, NULL);
    return NULL;
}

static void test_free_during_handoff(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (int rep = 0; rep < TU_SCALE(10, 3) * (int)NHCFG; rep++) {
            int c = rep % (int)NHCFG;
            weft_runtime *rt = rt_make(scheds[s], hcfg[c].workers, hcfg[c].mode);
            watchdog(120);
            warm_up(rt);
            uint64_t before = rt_core_handoffs(rt);
            atomic_store(&spinner_running, 0);
            atomic_store(&off_caller, 0);
            free_ctx fc = {rt, 1};
            pthread_t th;
            assert_int_equal(pthread_create(&th, NULL, spin_caller, &fc), 0);
            while (!atomic_load_explicit(&spinner_running, memory_order_acquire)) sched_yield();
            assert_int_equal(rt_core_handoffs(rt), before + 1);
            if (rep % 2) tu_sleep_ms(1);
            weft_runtime_free(rt);
            latches_free();
            assert_int_equal(pthread_join(th, NULL), 0);
            assert_int_equal(fc.rc, -ESHUTDOWN);
            /* the spinner only ever ran on the caller (at more workers its
             * yields may be stolen) */
            if (hcfg[c].workers == 1) assert_int_equal(atomic_load(&off_caller), 0);
            tu_watchdog_off();
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handoff_happens),      cmocka_unit_test(test_no_handoff_without_it),
        cmocka_unit_test(test_waiting_roots),        cmocka_unit_test(test_outside_during_handoff),
        cmocka_unit_test(test_two_callers),          cmocka_unit_test(test_free_during_handoff),
        cmocka_unit_test(test_private_task_after_root), cmocka_unit_test(test_handoff_any_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
