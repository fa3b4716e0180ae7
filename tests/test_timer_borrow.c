/*
 * tests/test_timer_borrow.c - the two fast paths of timers/timer.c on real
 * runtimes: borrowed task wakers (BORROWED WAKERS) and lock-free
 * single-threaded drivers (SINGLE-THREADED DRIVERS).
 *
 *   - a sleep in its task's own state arms with the task's waker borrowed:
 *     the task's reference count does not move at arm or cancel, and the
 *     fire still wakes it (the fire clones the waker under the lock);
 *   - a sleep outside the task's state (heap) gets a clone: +1 reference
 *     while armed, back after the cancel;
 *   - a sleep first polled with a foreign (combinator) waker holds a clone
 *     of it; re-polled with the task's own, it switches to borrowed and
 *     drops the foreign clone exactly once;
 *   - a one-worker runtime without a reactor thread runs its wheels without
 *     the lock; two workers, or a reactor thread, keep it; the main thread
 *     may count armed timers while the worker arms and cancels (TSan);
 *   - stress, 2-8 workers on ws, global and numa: timeouts of 0-300 us
 *     around inner futures that finish after a few yields (so tasks migrate
 *     between arm and cancel and fires race cancels): every round ends
 *     exactly once, by the inner or by the deadline, never early; no timer
 *     is left armed; shutdown with armed borrowed entries frees everything
 *     (ASan).
 */
#include "test_util.h"

#include "schedulers/runtime_internal.h"
#include "schedulers/task.h"
#include "timers/timer.h"
#include "weft/time.h"

static uint64_t task_refs(const weft_context *cx)
{
    task *t = cx->task;
    return TASK_REFS(atomic_load_explicit(&t->state, memory_order_acquire));
}

/* ---- borrowed, cloned, switched ------------------------------------------------------ */

typedef struct probe_ctl {
    _Atomic int borrowed;    /* arms that stored the waker borrowed */
    _Atomic int refs_same;   /* arms/cancels that left the task's count unchanged */
    _Atomic int refs_plus1;  /* heap arms that took exactly one reference */
    _Atomic int fired_ok;    /* sleeps that completed at or after their deadline */
    _Atomic int switched;    /* foreign -> own: borrowed, foreign clone dropped once */
    _Atomic int bad;
} probe_ctl;

enum { MODE_OWN = 0, MODE_HEAP = 1, MODE_SWITCH = 2 };

typedef struct probe {
    int coro;
    int mode;
    probe_ctl *c;
    uint64_t refs0;
    weft_sleep s;     /* MODE_OWN, MODE_SWITCH: in the task's state */
    weft_sleep *heap; /* MODE_HEAP */
    tu_cwaker cw;
} probe;

static weft_poll probe_poll(void *p, weft_context *cx, void *out)
{
    probe *st = p;
    probe_ctl *c = st->c;
    (void)out;
    WEFT_CORO_BEGIN(st);
    st->refs0 = task_refs(cx);
    if (st->mode == MODE_OWN) {
        weft_sleep_init(&st->s, 3 * WEFT_MS);
        if (weft_sleep_poll(&st->s, cx) != WEFT_PENDING) atomic_fetch_add(&c->bad, 1);
        if (st->s.entry.borrowed) atomic_fetch_add(&c->borrowed, 1);
        if (task_refs(cx) == st->refs0) atomic_fetch_add(&c->refs_same, 1);
        WEFT_AWAIT(st, weft_sleep_poll(&st->s, cx));
        if (weft_sleep_result(&st->s) == 0 && weft_now_ns() >= weft_sleep_deadline(&st->s))
            atomic_fetch_add(&c->fired_ok, 1);
        weft_sleep_drop(&st->s);
    } else if (st->mode == MODE_HEAP) {
        st->heap = malloc(sizeof *st->heap);
        weft_sleep_init(st->heap, 10 * WEFT_SEC);
        if (weft_sleep_poll(st->heap, cx) != WEFT_PENDING) atomic_fetch_add(&c->bad, 1);
        if (st->heap->entry.borrowed) atomic_fetch_add(&c->bad, 1);
        if (task_refs(cx) == st->refs0 + 1) atomic_fetch_add(&c->refs_plus1, 1);
        weft_sleep_drop(st->heap); /* cancel: the clone goes */
        if (task_refs(cx) == st->refs0) atomic_fetch_add(&c->refs_same, 1);
        free(st->heap);
        st->heap = NULL;
    } else {
        tu_cw_init(&st->cw);
        weft_sleep_init(&st->s, 10 * WEFT_SEC);
        {
            weft_context fcx = *cx; /* a combinator's context: same task, another waker */
            fcx.waker = (weft_waker){tu_cw_vtable(), &st->cw};
            if (weft_sleep_poll(&st->s, &fcx) != WEFT_PENDING) atomic_fetch_add(&c->bad, 1);
        }
        if (st->s.entry.borrowed || tu_cw_refs(&st->cw) != 1) atomic_fetch_add(&c->bad, 1);
        if (weft_sleep_poll(&st->s, cx) != WEFT_PENDING) atomic_fetch_add(&c->bad, 1);
        if (st->s.entry.borrowed && tu_cw_refs(&st->cw) == 0 && task_refs(cx) == st->refs0)
            atomic_fetch_add(&c->switched, 1);
        weft_sleep_drop(&st->s);
        if (tu_cw_refs(&st->cw) != 0 || tu_cw_wakes(&st->cw) != 0 || task_refs(cx) != st->refs0)
            atomic_fetch_add(&c->bad, 1);
    }
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void probe_drop(void *p)
{
    probe *st = p;
    if (st->coro != 0 && st->mode != MODE_HEAP) weft_sleep_drop(&st->s);
}
WEFT_FUTURE_TYPE(probe_type, probe_poll, probe_drop, probe, 0);

static void run_probes(const char *sched, int workers, int mode, int n, probe_ctl *c)
{
    weft_runtime *rt = tu_rt_new(sched, workers, NULL);
    weft_join_handle *h = calloc((size_t)n, sizeof *h);
    assert_non_null(h);
    for (int i = 0; i < n; i++) {
        probe init = {0};
        init.mode = mode;
        init.c = c;
        assert_int_equal(weft_spawn(rt, &probe_type, &init, &h[i]), 0);
    }
    /* fifo runs only inside weft_block_on: join from a task */
    for (int i = 0; i < n; i++) assert_int_equal(tu_join_on(rt, &h[i], NULL), 0);
    assert_int_equal(weft_runtime_timers_armed(rt), 0);
    weft_runtime_free(rt);
    free(h);
}

static void test_borrowed_own_task(void **state)
{
    (void)state;
    enum { N = 64 };
    for (int k = 0; k < weft_scheduler_count(); k++) {
        const char *s = weft_scheduler_name(k);
        for (int w = 1; w <= (strcmp(s, "fifo") == 0 ? 1 : 2); w++) {
            probe_ctl c = {0};
            run_probes(s, w, MODE_OWN, N, &c);
            assert_int_equal(atomic_load(&c.bad), 0);
            assert_int_equal(atomic_load(&c.borrowed), N);
            assert_int_equal(atomic_load(&c.refs_same), N);
            assert_int_equal(atomic_load(&c.fired_ok), N);
        }
    }
}

static void test_cloned_outside_state(void **state)
{
    (void)state;
    enum { N = 16 };
    probe_ctl c = {0};
    run_probes("ws", 2, MODE_HEAP, N, &c);
    assert_int_equal(atomic_load(&c.bad), 0);
    assert_int_equal(atomic_load(&c.refs_plus1), N);
    assert_int_equal(atomic_load(&c.refs_same), N);
}

static void test_foreign_waker_then_own(void **state)
{
    (void)state;
    enum { N = 16 };
    probe_ctl c = {0};
    run_probes("global", 2, MODE_SWITCH, N, &c);
    assert_int_equal(atomic_load(&c.bad), 0);
    assert_int_equal(atomic_load(&c.switched), N);
}

/* ---- single-threaded drivers ---------------------------------------------------------- */

typedef struct churn {
    int coro;
    int i, n;
    _Atomic int *done;
    weft_timeout to;
    weft_yield y;
} churn;

static weft_poll churn_poll(void *p, weft_context *cx, void *out)
{
    churn *st = p;
    (void)out;
    WEFT_CORO_BEGIN(st);
    for (st->i = 0; st->i < st->n; st->i++) {
        weft_timeout_init(&st->to, 10 * WEFT_SEC);
        (void)weft_timeout_poll(&st->to, cx, WEFT_PENDING);
        WEFT_YIELD_NOW(st, y, cx); /* armed across a yield: the main thread may count it */
        (void)weft_timeout_poll(&st->to, cx, WEFT_READY);
        weft_timeout_drop(&st->to);
    }
    atomic_fetch_add(st->done, 1);
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void churn_drop(void *p)
{
    churn *st = p;
    if (st->coro != 0) weft_timeout_drop(&st->to);
}
WEFT_FUTURE_TYPE(churn_type, churn_poll, churn_drop, churn, 0);

static void test_single_thread_drivers(void **state)
{
    (void)state;
    struct { const char *sched; int workers; const char *knob; int want; } cases[] = {
        {"ws", 1, NULL, 1},
        {"global", 1, NULL, 1},
        {"ws", 2, NULL, 0},
        {"ws", 1, "reactor_thread=1", 0},
        {"numa", 2, "timer_shards=1", 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        weft_runtime *rt = cases[k].knob ? tu_rt_new(cases[k].sched, cases[k].workers, cases[k].knob, NULL)
                                         : tu_rt_new(cases[k].sched, cases[k].workers, NULL);
        for (int i = 0; i < rt->ntimers; i++) assert_int_equal(rt->timers[i].single_thread, cases[k].want);
        _Atomic int done = 0;
        enum { T = 4 };
        int n = TU_SCALE(2000, 300);
        weft_join_handle h[T];
        for (int t = 0; t < T; t++) {
            churn init = {0};
            init.n = n;
            init.done = &done;
            assert_int_equal(weft_spawn(rt, &churn_type, &init, &h[t]), 0);
        }
        /* counted from this thread while the worker(s) arm and cancel */
        size_t max_seen = 0;
        while (atomic_load(&done) < T) {
            size_t a = weft_runtime_timers_armed(rt);
            if (a > max_seen) max_seen = a;
        }
        assert_true(max_seen <= T);
        for (int t = 0; t < T; t++) assert_int_equal(weft_join_wait(&h[t], NULL), 0);
        assert_int_equal(weft_runtime_timers_armed(rt), 0);
        weft_runtime_free(rt);
    }
    /* fifo: the worker is whichever thread is inside weft_block_on */
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    assert_int_equal(rt->timers[0].single_thread, 1);
    weft_runtime_free(rt);
}

/* ---- stress: migration between arm and cancel, fire racing cancel ---------------------- */

typedef struct race_ctl {
    _Atomic long inner_won, timed_out, early, bad, moved;
} race_ctl;

typedef struct racer {
    int coro;
    int round, rounds;
    int left; /* yields until the inner future is ready */
    uint64_t seed;
    race_ctl *c;
    const void *armed_on;
    weft_timeout to;
    weft_yield y;
} racer;

static uint64_t racer_rnd(racer *st)
{
    st->seed ^= st->seed << 13;
    st->seed ^= st->seed >> 7;
    st->seed ^= st->seed << 17;
    return st->seed;
}

static weft_poll racer_poll(void *p, weft_context *cx, void *out)
{
    racer *st = p;
    (void)out;
    WEFT_CORO_BEGIN(st);
    for (st->round = 0; st->round < st->rounds; st->round++) {
        weft_timeout_init(&st->to, racer_rnd(st) % 300000); /* 0-300 us */
        st->left = (int)(racer_rnd(st) % 4);
        for (;;) {
            {
                weft_poll inner = st->left == 0 ? WEFT_READY : WEFT_PENDING;
                if (weft_timeout_poll(&st->to, cx, inner) == WEFT_READY) break;
            }
            if (!st->armed_on) st->armed_on = st->to.sleep.entry.owner;
            st->left--;
            WEFT_YIELD_NOW(st, y, cx); /* may be stolen: cancelled or fired elsewhere */
        }
        if (st->armed_on && (const void *)weft_runtime_timers(weft_context_runtime(cx)) != st->armed_on)
            atomic_fetch_add(&st->c->moved, 1);
        st->armed_on = NULL;
        if (weft_timeout_result(&st->to) == 0) {
            atomic_fetch_add(&st->c->inner_won, 1);
        } else if (weft_timeout_result(&st->to) == -ETIMEDOUT) {
            atomic_fetch_add(&st->c->timed_out, 1);
            if (weft_now_ns() < weft_sleep_deadline(&st->to.sleep)) atomic_fetch_add(&st->c->early, 1);
        } else {
            atomic_fetch_add(&st->c->bad, 1);
        }
        weft_timeout_drop(&st->to);
    }
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void racer_drop(void *p)
{
    racer *st = p;
    if (st->coro != 0) weft_timeout_drop(&st->to);
}
WEFT_FUTURE_TYPE(racer_type, racer_poll, racer_drop, racer, 0);

static void test_stress_migrate_fire_cancel(void **state)
{
    (void)state;
    const char *scheds[] = {"ws", "global", "numa"};
    int workers[] = {2, 4, 8};
    long moved_total = 0;
    for (size_t s = 0; s < 3; s++) {
        for (size_t w = 0; w < 3; w++) {
            enum { T = 32 };
            int rounds = TU_SCALE(300, 60);
            race_ctl c = {0};
            weft_runtime *rt = tu_rt_new(scheds[s], workers[w], NULL);
            weft_join_handle h[T];
            for (int t = 0; t < T; t++) {
                racer init = {0};
                init.rounds = rounds;
                init.seed = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1) + s * 7 + w;
                init.c = &c;
                assert_int_equal(weft_spawn(rt, &racer_type, &init, &h[t]), 0);
            }
            for (int t = 0; t < T; t++) assert_int_equal(weft_join_wait(&h[t], NULL), 0);
            assert_int_equal(weft_runtime_timers_armed(rt), 0);
            weft_runtime_free(rt);
            assert_int_equal(atomic_load(&c.bad), 0);
            assert_int_equal(atomic_load(&c.early), 0);
            assert_int_equal(atomic_load(&c.inner_won) + atomic_load(&c.timed_out), (long)T * rounds);
            moved_total += atomic_load(&c.moved);
        }
    }
    printf("# %ld rounds ended on another worker's shard than they armed on\n", moved_total);
}

/* Freeing a runtime whose tasks hold armed entries with borrowed wakers:
 * every task is dropped once, nothing leaks (ASan), nothing fires late. */
typedef struct long_sleeper {
    int coro;
    _Atomic int *armed, *dropped;
    weft_sleep s;
} long_sleeper;
static weft_poll long_sleeper_poll(void *p, weft_context *cx, void *out)
{
    long_sleeper *st = p;
    (void)out;
    WEFT_CORO_BEGIN(st);
    weft_sleep_init(&st->s, 3600 * WEFT_SEC);
    if (weft_sleep_poll(&st->s, cx) == WEFT_PENDING && st->s.entry.borrowed) atomic_fetch_add(st->armed, 1);
    WEFT_AWAIT(st, weft_sleep_poll(&st->s, cx));
    WEFT_CORO_RETURN_VOID(st);
    WEFT_CORO_END(st);
}
static void long_sleeper_drop(void *p)
{
    long_sleeper *st = p;
    if (st->coro != 0) weft_sleep_drop(&st->s);
    atomic_fetch_add(st->dropped, 1);
}
WEFT_FUTURE_TYPE(long_sleeper_type, long_sleeper_poll, long_sleeper_drop, long_sleeper, 0);

static void test_shutdown_with_borrowed_entries(void **state)
{
    (void)state;
    enum { N = 100 };
    const char *scheds[] = {"ws", "global", "numa"};
    for (size_t s = 0; s < 3; s++) {
        for (int w = 1; w <= 2; w++) {
            _Atomic int armed = 0, dropped = 0;
            weft_runtime *rt = tu_rt_new(scheds[s], w, NULL);
            for (int i = 0; i < N; i++) {
                long_sleeper init = {0};
                init.armed = &armed;
                init.dropped = &dropped;
                assert_int_equal(weft_spawn(rt, &long_sleeper_type, &init, NULL), 0);
            }
            assert_true(tu_wait_at_least(&armed, N, 20000));
            /* the last task counts itself armed inside its poll; its entry
             * reaches the wheel when that poll returns (deferred stamp) */
            for (int k = 0; k < 20000 && weft_runtime_timers_armed(rt) != N; k++) usleep(1000);
            assert_int_equal(weft_runtime_timers_armed(rt), N);
            weft_runtime_free(rt);
            assert_int_equal(atomic_load(&dropped), N);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_borrowed_own_task),
        cmocka_unit_test(test_cloned_outside_state),
        cmocka_unit_test(test_foreign_waker_then_own),
        cmocka_unit_test(test_single_thread_drivers),
        cmocka_unit_test(test_stress_migrate_fire_cancel),
        cmocka_unit_test(test_shutdown_with_borrowed_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
