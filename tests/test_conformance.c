/*
 * tests/test_conformance.c - one suite, every scheduler.
 *
 * The registry (weft_scheduler_count / weft_scheduler_name) is read at
 * start-up, so a scheduler added to schedulers/registry.c is tested here
 * without touching this file. Each scheduler runs with 1 worker if it takes
 * only one (fifo: a second worker is refused by validation), else with 1, 2
 * and 4. Every check is its own cmocka test named CHECK/SCHEDULER/wN, so a
 * failure says which scheduler and worker count broke, and each makes its
 * own runtime.
 *
 * The checks, all with exact counts:
 *   spawn_inside    10^4 tasks spawned by a task (half joined by it, output
 *                   = index): each polled exactly once, every join right;
 *   spawn_outside   10^4 spawned by two plain threads and the test thread:
 *                   each polled exactly once; fifo and global at one
 *                   worker run each thread's spawns in the order it made
 *                   them;
 *   yield_storm     100 tasks x 1000 yields: each polled exactly 1001 times;
 *   join_chain      chained_spawn of depth 1000: each task spawns the next
 *                   and awaits it; the root returns 1000, every link ran;
 *   remote_wake     a plain thread wakes a task while it is inside poll
 *                   (re-polled exactly once), then 1000 wake round trips
 *                   with exactly one poll each;
 *   abort           abort while pending, while running (from a plain
 *                   thread), after completion: -ECANCELED / -EALREADY, the
 *                   drop function once, no extra poll;
 *   shutdown_drain  freeing a runtime holding tasks pending forever, tasks
 *                   holding their own waker, oneshot reference cycles, tasks
 *                   yielding forever and tasks just spawned from outside:
 *                   every drop function runs exactly once (LSan: no leak).
 * Sizes shrink under TSan (WEFT_TSAN); the checks stay exact.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "weft/runtime.h"
#include "weft/sync.h"

typedef struct conf {
    const char *sched;
    int workers;
} conf;

#define MAX_SLOTS 10000
static _Atomic int g_slots[MAX_SLOTS];

/* The order the children ran in: g_order[i] is child i's place (run_seq). */
static _Atomic int g_order[MAX_SLOTS];
static _Atomic int g_run_seq;

static void slots_reset(void)
{
    atomic_store_explicit(&g_run_seq, 0, memory_order_relaxed);
    for (int i = 0; i < MAX_SLOTS; i++) atomic_store_explicit(&g_slots[i], 0, memory_order_relaxed);
}
static void slot_inc(int i) { atomic_fetch_add_explicit(&g_slots[i], 1, memory_order_relaxed); }
/* read after a latch or a runtime free has ordered the increments before us */
static int slot_get(int i) { return atomic_load_explicit(&g_slots[i], memory_order_relaxed); }

/* Counts slots in [from, to) that differ from want; prints the first. */
static int slots_not(int from, int to, int want, const conf *c, const char *what)
{
    int bad = 0;
    for (int i = from; i < to; i++)
        if (slot_get(i) != want) {
            if (!bad)
                print_error("%s/%s/w%d: %s slot %d = %d, want %d\n", what, c->sched, c->workers, what, i,
                            slot_get(i), want);
            bad++;
        }
    return bad;
}

static weft_runtime *conf_rt(const conf *c) { return tu_rt_new(c->sched, c->workers, NULL); }

/* ---- spawn 10^4 from inside ------------------------------------------------------------ */

typedef struct child {
    int i;
    tu_latch *latch;
} child;
static weft_poll child_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    child *st = p;
    slot_inc(st->i);
    atomic_store_explicit(&g_order[st->i],
                          atomic_fetch_add_explicit(&g_run_seq, 1, memory_order_relaxed),
                          memory_order_relaxed);
    *(int *)out = st->i;
    tu_latch_arrive(st->latch);
    return WEFT_READY;
}
static const weft_future_type child_type = {"child", child_poll, NULL, sizeof(child), sizeof(int)};

typedef struct spawner {
    int coro;
    int n, i, o, res;
    int spawn_rc, bad_joins;
    tu_latch *latch;
    weft_join_handle *hs;
} spawner;
static weft_poll spawner_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    spawner *st = p;
    WEFT_CORO_BEGIN(st);
    for (st->i = 0; st->i < st->n; st->i++) {
        child c = {st->i, st->latch};
        int rc = weft_spawn(weft_context_runtime(cx), &child_type, &c, (st->i & 1) ? &st->hs[st->i] : NULL);
        if (rc) {
            st->spawn_rc = rc;
            WEFT_CORO_RETURN(st, out, spawner, *st);
        }
    }
    WEFT_AWAIT(st, tu_latch_poll(st->latch, cx));
    for (st->i = 1; st->i < st->n; st->i += 2) {
        st->o = -1;
        st->res = 1;
        WEFT_AWAIT(st, weft_join_poll(&st->hs[st->i], cx, &st->o, &st->res));
        if (st->res != 0 || st->o != st->i) st->bad_joins++;
    }
    WEFT_CORO_RETURN(st, out, spawner, *st);
    WEFT_CORO_END(st);
}
static const weft_future_type spawner_type = {"spawner", spawner_poll, NULL, sizeof(spawner), sizeof(spawner)};

static void check_spawn_inside(void **state)
{
    const conf *c = *state;
    const int n = TU_SCALE(10000, 5000);
    slots_reset();
    weft_runtime *rt = conf_rt(c);
    tu_latch latch;
    tu_latch_init(&latch, n);
    weft_join_handle *hs = calloc((size_t)n, sizeof *hs);
    assert_non_null(hs);
    spawner init, got;
    memset(&init, 0, sizeof init);
    init.n = n;
    init.latch = &latch;
    init.hs = hs;
    tu_block_on_ok(rt, &spawner_type, &init, &got);
    assert_int_equal(got.spawn_rc, 0);
    assert_int_equal(got.bad_joins, 0);
    assert_int_equal(tu_latch_count(&latch), n);
    assert_int_equal(slots_not(0, n, 1, c, "spawn_inside"), 0);
    for (int i = 0; i < n; i++) assert_null(hs[i].task);
    weft_worker_stats s;
    weft_runtime_stats(rt, NULL, 0, &s);
    assert_int_equal(s.spawns, (uint64_t)n + 1); /* + block_on's own */
    assert_true(s.polls >= (uint64_t)n + 2);
    weft_runtime_free(rt);
    tu_latch_destroy(&latch);
    free(hs);
}

/* ---- spawn 10^4 from outside ------------------------------------------------------------- */

typedef struct outside_arg {
    weft_runtime *rt;
    tu_latch *latch;
    int from, to;
    int failures;
} outside_arg;
static void *outside_spawner(void *p)
{
    outside_arg *a = p;
    for (int i = a->from; i < a->to; i++) {
        child c = {i, a->latch};
        if (weft_spawn(a->rt, &child_type, &c, NULL) != 0) a->failures++;
    }
    return NULL;
}

static void check_spawn_outside(void **state)
{
    const conf *c = *state;
    const int n = TU_SCALE(10000, 5000), first = 100;
    slots_reset();
    weft_runtime *rt = conf_rt(c);
    tu_latch latch;
    tu_latch_init(&latch, n);
    /* some from the test thread before anything runs the runtime */
    for (int i = 0; i < first; i++) {
        child ch = {i, &latch};
        assert_int_equal(weft_spawn(rt, &child_type, &ch, NULL), 0);
    }
    outside_arg a[2] = {{rt, &latch, first, first + (n - first) / 2, 0},
                        {rt, &latch, first + (n - first) / 2, n, 0}};
    pthread_t th[2];
    for (int k = 0; k < 2; k++) assert_int_equal(pthread_create(&th[k], NULL, outside_spawner, &a[k]), 0);
    tu_latch_block(rt, &latch); /* fifo runs them here; the others run them already */
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(a[k].failures, 0);
    }
    assert_int_equal(tu_latch_count(&latch), n);
    assert_int_equal(slots_not(0, n, 1, c, "spawn_outside"), 0);
    /* one worker of a FIFO policy runs the spawns of each outside thread in
     * its order (fifo's injection queue is FIFO per producer; global's
     * intake at one worker is absorbed in push order). ws and numa move an
     * injected batch into their deque, whose owner end is LIFO. */
    if (c->workers == 1 && (!strcmp(c->sched, "fifo") || !strcmp(c->sched, "global"))) {
        const int ranges[3][2] = {{0, first}, {a[0].from, a[0].to}, {a[1].from, a[1].to}};
        for (int k = 0; k < 3; k++)
            for (int i = ranges[k][0] + 1; i < ranges[k][1]; i++)
                if (atomic_load(&g_order[i]) < atomic_load(&g_order[i - 1]))
                    fail_msg("%s/w1: outside spawn %d ran before %d", c->sched, i, i - 1);
    }
    weft_worker_stats s;
    weft_runtime_stats(rt, NULL, 0, &s);
    assert_int_equal(s.spawns, (uint64_t)n + 1);
    weft_runtime_free(rt);
    assert_int_equal(slots_not(0, n, 1, c, "spawn_outside"), 0); /* nothing re-run at shutdown */
    tu_latch_destroy(&latch);
}

/* ---- yield storm ------------------------------------------------------------------------- */

typedef struct storm {
    int coro;
    int idx, yields, i;
    tu_latch *latch;
    weft_yield y;
} storm;
static weft_poll storm_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    storm *st = p;
    slot_inc(st->idx);
    WEFT_CORO_BEGIN(st);
    for (st->i = 0; st->i < st->yields; st->i++) WEFT_YIELD_NOW(st, y, cx);
    tu_latch_arrive(st->latch);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static const weft_future_type storm_type = {"storm", storm_poll, NULL, sizeof(storm), 0};

static void check_yield_storm(void **state)
{
    const conf *c = *state;
    const int tasks = 100, yields = TU_SCALE(1000, 500);
    slots_reset();
    weft_runtime *rt = conf_rt(c);
    tu_latch latch;
    tu_latch_init(&latch, tasks);
    for (int i = 0; i < tasks; i++) {
        storm s;
        memset(&s, 0, sizeof s);
        s.idx = i;
        s.yields = yields;
        s.latch = &latch;
        assert_int_equal(weft_spawn(rt, &storm_type, &s, NULL), 0);
    }
    tu_latch_block(rt, &latch);
    assert_int_equal(slots_not(0, tasks, yields + 1, c, "yield_storm"), 0);
    weft_worker_stats s;
    weft_runtime_stats(rt, NULL, 0, &s);
    assert_true(s.polls >= (uint64_t)tasks * (uint64_t)(yields + 1));
    weft_runtime_free(rt);
    tu_latch_destroy(&latch);
}

/* ---- join chain (chained_spawn) ------------------------------------------------------------ */

static _Atomic int g_links;

typedef struct chain {
    int coro;
    int depth, max;
    weft_join_handle h;
    int child_out, res;
} chain;
static weft_poll chain_poll(void *p, weft_context *cx, void *out);
static const weft_future_type chain_type = {"chain", chain_poll, NULL, sizeof(chain), sizeof(int)};
static weft_poll chain_poll(void *p, weft_context *cx, void *out)
{
    chain *st = p;
    WEFT_CORO_BEGIN(st);
    if (st->depth == st->max) {
        atomic_fetch_add_explicit(&g_links, 1, memory_order_relaxed);
        WEFT_CORO_RETURN(st, out, int, 0);
    }
    {
        chain next;
        memset(&next, 0, sizeof next);
        next.depth = st->depth + 1;
        next.max = st->max;
        if (weft_spawn(weft_context_runtime(cx), &chain_type, &next, &st->h) != 0)
            WEFT_CORO_RETURN(st, out, int, -1000000);
    }
    WEFT_AWAIT(st, weft_join_poll(&st->h, cx, &st->child_out, &st->res));
    atomic_fetch_add_explicit(&g_links, 1, memory_order_relaxed);
    WEFT_CORO_RETURN(st, out, int, st->res == 0 ? st->child_out + 1 : -1000000);
    WEFT_CORO_END(st);
}

static void check_join_chain(void **state)
{
    const conf *c = *state;
    const int depth = 1000;
    atomic_store_explicit(&g_links, 0, memory_order_relaxed);
    weft_runtime *rt = conf_rt(c);
    for (int round = 0; round < 3; round++) {
        atomic_store_explicit(&g_links, 0, memory_order_relaxed);
        chain root;
        memset(&root, 0, sizeof root);
        root.max = depth;
        int out = -1;
        tu_block_on_ok(rt, &chain_type, &root, &out);
        if (out != depth) print_error("join_chain/%s/w%d: root returned %d\n", c->sched, c->workers, out);
        assert_int_equal(out, depth);
        assert_int_equal(atomic_load_explicit(&g_links, memory_order_relaxed), depth + 1);
    }
    weft_worker_stats s;
    weft_runtime_stats(rt, NULL, 0, &s);
    assert_int_equal(s.spawns, 3u * (uint64_t)(depth + 1));
    weft_runtime_free(rt);
}

/* ---- wakes from a plain thread ---------------------------------------------------------------- */

typedef struct spin_rec {
    _Atomic int polls;
    _Atomic int in_poll; /* release by the poll, acquire by the helper */
    _Atomic int go;      /* release by the helper, acquire by the poll */
    _Atomic int drops;
    weft_waker saved;
    bool abort_it;
    weft_join_handle *h;
    _Atomic int helper_rc;
} spin_rec;

typedef struct spinner {
    spin_rec *r;
    int value;
} spinner;
static weft_poll spinner_poll(void *p, weft_context *cx, void *out)
{
    spinner *st = p;
    spin_rec *r = st->r;
    int n = atomic_fetch_add_explicit(&r->polls, 1, memory_order_relaxed) + 1;
    if (n == 1) {
        r->saved = weft_waker_clone(weft_context_waker(cx));
        atomic_store_explicit(&r->in_poll, 1, memory_order_release);
        uint64_t end = tu_now_ms() + 20000;
        while (!atomic_load_explicit(&r->go, memory_order_acquire) && tu_now_ms() < end) sched_yield();
        return WEFT_PENDING;
    }
    *(int *)out = st->value;
    return WEFT_READY;
}
static void spinner_drop(void *p)
{
    atomic_fetch_add_explicit(&((spinner *)p)->r->drops, 1, memory_order_relaxed);
}
static const weft_future_type spinner_type = {"spinner", spinner_poll, spinner_drop, sizeof(spinner), sizeof(int)};

static void *spin_helper(void *p)
{
    spin_rec *r = p;
    int rc = 0;
    if (!tu_wait_flag(&r->in_poll, 20000)) rc = -ETIMEDOUT;
    else if (r->abort_it) rc = weft_join_abort(r->h);
    else {
        weft_waker_wake_by_ref(&r->saved);
        weft_waker_wake_by_ref(&r->saved);
    }
    atomic_store_explicit(&r->helper_rc, rc, memory_order_relaxed);
    atomic_store_explicit(&r->go, 1, memory_order_release);
    return NULL;
}

static void spin_rec_init(spin_rec *r)
{
    memset(r, 0, sizeof *r);
    atomic_init(&r->polls, 0);
    atomic_init(&r->in_poll, 0);
    atomic_init(&r->go, 0);
    atomic_init(&r->drops, 0);
    atomic_init(&r->helper_rc, 1);
    r->saved = WEFT_WAKER_NONE;
}


/* The ping-pong: the task stores a waker per poll; the thread wakes each once. */
typedef struct pingslot {
    pthread_mutex_t mu;
    weft_waker w; /* under mu */
    int seq;      /* under mu: the poll that stored w */
    int rounds;
    int failures; /* helper only */
} pingslot;

typedef struct pinger {
    pingslot *slot;
    int polls;
} pinger;
static weft_poll pinger_poll(void *p, weft_context *cx, void *out)
{
    pinger *st = p;
    int n = ++st->polls;
    if (n > st->slot->rounds) {
        *(int *)out = n;
        return WEFT_READY;
    }
    pthread_mutex_lock(&st->slot->mu);
    weft_waker_drop(&st->slot->w);
    st->slot->w = weft_waker_clone(weft_context_waker(cx));
    st->slot->seq = n;
    pthread_mutex_unlock(&st->slot->mu);
    return WEFT_PENDING;
}
static const weft_future_type pinger_type = {"pinger", pinger_poll, NULL, sizeof(pinger), sizeof(int)};

static void *ponger(void *p)
{
    pingslot *s = p;
    for (int r = 1; r <= s->rounds; r++) {
        uint64_t end = tu_now_ms() + 20000;
        for (;;) {
            pthread_mutex_lock(&s->mu);
            if (s->seq == r && !weft_waker_is_none(&s->w)) {
                weft_waker w = s->w;
                s->w = WEFT_WAKER_NONE;
                pthread_mutex_unlock(&s->mu);
                weft_waker_wake(&w);
                break;
            }
            pthread_mutex_unlock(&s->mu);
            if (tu_now_ms() > end) {
                s->failures++;
                return NULL;
            }
            sched_yield();
        }
    }
    return NULL;
}

static void check_remote_wake(void **state)
{
    const conf *c = *state;
    weft_runtime *rt = conf_rt(c);

    /* woken (twice) while inside poll: exactly one more poll */
    spin_rec r;
    spin_rec_init(&r);
    weft_join_handle h;
    spinner sp = {&r, 31};
    assert_int_equal(weft_spawn(rt, &spinner_type, &sp, &h), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, spin_helper, &r), 0);
    int out = 0;
    assert_int_equal(tu_join_on(rt, &h, &out), 0);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load_explicit(&r.helper_rc, memory_order_relaxed), 0);
    assert_int_equal(out, 31);
    assert_int_equal(atomic_load_explicit(&r.polls, memory_order_relaxed), 2);
    assert_int_equal(atomic_load_explicit(&r.drops, memory_order_relaxed), 1);
    weft_waker_wake(&r.saved); /* after completion: harmless, frees the task */

    /* round trips: one wake, one poll */
    pingslot slot;
    pthread_mutex_init(&slot.mu, NULL);
    slot.w = WEFT_WAKER_NONE;
    slot.seq = 0;
    slot.rounds = TU_SCALE(1000, 500);
    slot.failures = 0;
    assert_int_equal(pthread_create(&th, NULL, ponger, &slot), 0);
    pinger pg = {&slot, 0};
    out = 0;
    tu_block_on_ok(rt, &pinger_type, &pg, &out);
    pthread_join(th, NULL);
    assert_int_equal(slot.failures, 0);
    assert_int_equal(out, slot.rounds + 1);
    assert_true(weft_waker_is_none(&slot.w));
    pthread_mutex_destroy(&slot.mu);
    weft_runtime_free(rt);
}

/* ---- abort ---------------------------------------------------------------------------------- */

typedef struct pend_once {
    spin_rec *r;
    tu_latch *latch;
} pend_once;
static weft_poll pend_once_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    (void)out;
    pend_once *st = p;
    atomic_fetch_add_explicit(&st->r->polls, 1, memory_order_relaxed);
    tu_latch_arrive(st->latch);
    return WEFT_PENDING; /* no waker stored: only abort ends it */
}
static void pend_once_drop(void *p)
{
    atomic_fetch_add_explicit(&((pend_once *)p)->r->drops, 1, memory_order_relaxed);
}
static const weft_future_type pend_once_type = {"pend_once", pend_once_poll, pend_once_drop, sizeof(pend_once), 0};

static void check_abort(void **state)
{
    const conf *c = *state;
    weft_runtime *rt = conf_rt(c);

    /* pending (polled once, waiting on nothing) */
    spin_rec r;
    spin_rec_init(&r);
    tu_latch latch;
    tu_latch_init(&latch, 1);
    pend_once po = {&r, &latch};
    weft_join_handle h;
    assert_int_equal(weft_spawn(rt, &pend_once_type, &po, &h), 0);
    tu_latch_block(rt, &latch);
    assert_int_equal(weft_join_abort(&h), 0);
    assert_int_equal(tu_join_on(rt, &h, NULL), -ECANCELED);
    assert_int_equal(atomic_load_explicit(&r.polls, memory_order_relaxed), 1);
    assert_int_equal(atomic_load_explicit(&r.drops, memory_order_relaxed), 1);
    tu_latch_destroy(&latch);

    /* running: aborted from a plain thread while inside poll */
    spin_rec_init(&r);
    r.abort_it = true;
    r.h = &h;
    spinner sp = {&r, 1};
    assert_int_equal(weft_spawn(rt, &spinner_type, &sp, &h), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, spin_helper, &r), 0);
    assert_int_equal(tu_join_on(rt, &h, NULL), -ECANCELED);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load_explicit(&r.helper_rc, memory_order_relaxed), 0);
    assert_int_equal(atomic_load_explicit(&r.polls, memory_order_relaxed), 1);
    assert_int_equal(atomic_load_explicit(&r.drops, memory_order_relaxed), 1);
    weft_waker_drop(&r.saved);

    /* completed: -EALREADY, the output still there */
    slots_reset();
    tu_latch_init(&latch, 1);
    child ch = {55, &latch};
    assert_int_equal(weft_spawn(rt, &child_type, &ch, &h), 0);
    tu_latch_block(rt, &latch); /* it was polled; completion follows the poll */
    uint64_t end = tu_now_ms() + 20000;
    while (!weft_join_is_finished(&h) && tu_now_ms() < end) tu_sleep_ms(1);
    assert_true(weft_join_is_finished(&h));
    assert_int_equal(weft_join_abort(&h), -EALREADY);
    int out = 0;
    assert_int_equal(tu_join_on(rt, &h, &out), 0);
    assert_int_equal(out, 55);
    assert_int_equal(slot_get(55), 1);
    assert_int_equal(weft_join_abort(&h), -EINVAL); /* joined: the handle is empty */
    tu_latch_destroy(&latch);
    weft_runtime_free(rt);
}

/* ---- shutdown drains every kind of pending task ---------------------------------------------- */

typedef struct pend_task {
    int idx;
    tu_latch *latch;
    int kind; /* 0 waits on nothing, 1 holds its own waker, 2 yields forever, 3 oneshot pair */
    weft_waker self;
    weft_oneshot *rx, *tx;
    int polled;
} pend_task;

static weft_poll pend_task_poll(void *p, weft_context *cx, void *out)
{
    (void)out;
    pend_task *st = p;
    if (st->kind == 2) {
        weft_context_yield(cx);
        return WEFT_PENDING;
    }
    if (st->kind == 3 && st->rx) {
        uint64_t v;
        int res;
        if (weft_oneshot_recv_poll(st->rx, cx, &v, &res) == WEFT_READY) st->rx = NULL; /* never: no one sends */
    }
    if (!st->polled) {
        st->polled = 1;
        if (st->kind == 1) st->self = weft_waker_clone(weft_context_waker(cx));
        tu_latch_arrive(st->latch);
    }
    return WEFT_PENDING;
}
static void pend_task_drop(void *p)
{
    pend_task *st = p;
    slot_inc(st->idx);
    weft_waker_drop(&st->self);
    if (st->rx) weft_oneshot_receiver_drop(st->rx);
    if (st->tx) weft_oneshot_sender_drop(st->tx);
    st->rx = st->tx = NULL;
}
static const weft_future_type pend_task_type = {"pend_task", pend_task_poll, pend_task_drop, sizeof(pend_task), 0};

static void check_shutdown_drain(void **state)
{
    const conf *c = *state;
    const int plain = TU_SCALE(1000, 500), selfref = TU_SCALE(1000, 500), pairs = TU_SCALE(500, 250),
              yielders = 100, late = TU_SCALE(500, 250);
    const int waiting = plain + selfref + 2 * pairs;
    const int total = waiting + yielders + late;
    assert_true(total <= MAX_SLOTS);
    slots_reset();
    weft_runtime *rt = conf_rt(c);
    tu_latch latch;
    tu_latch_init(&latch, waiting);
    int idx = 0;
    pend_task pt;
    for (int i = 0; i < plain + selfref; i++) {
        memset(&pt, 0, sizeof pt);
        pt.idx = idx++;
        pt.latch = &latch;
        pt.kind = i < plain ? 0 : 1;
        assert_int_equal(weft_spawn(rt, &pend_task_type, &pt, NULL), 0);
    }
    for (int i = 0; i < pairs; i++) {
        weft_oneshot *a, *b;
        assert_int_equal(weft_oneshot_new(&a), 0);
        assert_int_equal(weft_oneshot_new(&b), 0);
        memset(&pt, 0, sizeof pt);
        pt.latch = &latch;
        pt.kind = 3;
        pt.idx = idx++;
        pt.rx = a;
        pt.tx = b;
        assert_int_equal(weft_spawn(rt, &pend_task_type, &pt, NULL), 0);
        pt.idx = idx++;
        pt.rx = b;
        pt.tx = a;
        assert_int_equal(weft_spawn(rt, &pend_task_type, &pt, NULL), 0);
    }
    for (int i = 0; i < yielders; i++) {
        memset(&pt, 0, sizeof pt);
        pt.idx = idx++;
        pt.latch = &latch;
        pt.kind = 2;
        assert_int_equal(weft_spawn(rt, &pend_task_type, &pt, NULL), 0);
    }
    tu_latch_block(rt, &latch); /* every waiting task has been polled once */
    for (int i = 0; i < late; i++) { /* spawned just before the free: queued or running */
        memset(&pt, 0, sizeof pt);
        pt.idx = idx++;
        pt.latch = &latch;
        pt.kind = 2;
        assert_int_equal(weft_spawn(rt, &pend_task_type, &pt, NULL), 0);
    }
    assert_int_equal(idx, total);
    assert_int_equal(slots_not(0, total, 0, c, "shutdown_drain"), 0); /* nothing dropped yet */
    weft_runtime_free(rt);
    assert_int_equal(slots_not(0, total, 1, c, "shutdown_drain"), 0);
    assert_int_equal(tu_latch_count(&latch), waiting);
    tu_latch_destroy(&latch);
}

/* ---- the registry loop ------------------------------------------------------------------------ */

typedef struct check {
    const char *name;
    void (*fn)(void **);
} check;

static const check checks[] = {
    {"spawn_inside", check_spawn_inside},   {"spawn_outside", check_spawn_outside},
    {"yield_storm", check_yield_storm},     {"join_chain", check_join_chain},
    {"remote_wake", check_remote_wake},     {"abort", check_abort},
    {"shutdown_drain", check_shutdown_drain},
};
#define NCHECKS ((int)(sizeof checks / sizeof checks[0]))

/* Worker counts a scheduler takes: 1 if it refuses 2 (runs on the caller), else 1, 2, 4. */
static int worker_counts(const char *sched, int *out)
{
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.scheduler = sched;
    cfg.workers = 2;
    if (weft_config_validate(&cfg) != 0) {
        out[0] = 1;
        return 1;
    }
    out[0] = 1;
    out[1] = 2;
    out[2] = 4;
    return 3;
}

int main(void)
{
    int nsched = weft_scheduler_count();
    if (nsched < 1) {
        fprintf(stderr, "no schedulers registered\n");
        return 1;
    }
    conf *confs = calloc((size_t)nsched * 3, sizeof *confs);
    if (!confs) return 1;
    int nconf = 0;
    for (int s = 0; s < nsched; s++) {
        int counts[3];
        int k = worker_counts(weft_scheduler_name(s), counts);
        for (int w = 0; w < k; w++) {
            confs[nconf].sched = weft_scheduler_name(s);
            confs[nconf].workers = counts[w];
            nconf++;
        }
    }
    const int n = nconf * NCHECKS;
    char(*names)[96] = calloc((size_t)n, sizeof *names);
    if (!names) return 1;
    struct CMUnitTest tests[n]; /* a VLA: cmocka_run_group_tests_name takes its sizeof */
    for (int ci = 0, t = 0; ci < nconf; ci++)
        for (int i = 0; i < NCHECKS; i++, t++) {
            snprintf(names[t], sizeof names[t], "%s/%s/w%d", checks[i].name, confs[ci].sched, confs[ci].workers);
            tests[t] = (struct CMUnitTest){names[t], checks[i].fn, NULL, NULL, &confs[ci]};
        }
    /* WEFT_TEST_FILTER (a cmocka glob such as "abort/ws/w2") runs a subset */
    const char *filter = getenv("WEFT_TEST_FILTER");
    if (filter && *filter) cmocka_set_test_filter(filter);
    int rc = cmocka_run_group_tests_name("conformance", tests, NULL, NULL);
    free(names);
    free(confs);
    return rc;
}
