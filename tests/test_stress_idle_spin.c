/*
 * tests/test_stress_idle_spin.c - work that lands while workers spin before
 * parking (schedulers/worker.c, worker_idle_spin: the spinner counts as a
 * searcher, and when it takes work as the last searcher it wakes the next
 * parked worker).
 *
 * The first version of the spin lost wake-ups: a spinner was neither idle
 * nor searching, so a pusher relied on nobody and the spinner woke nobody
 * when it took a task; test_sched_mt's test_shutdown_drains (global, 8
 * workers) then saw 3 of 8 blockers start. These tests aim at that window,
 * for global, ws and numa at 1, 2, 4 and 8 workers (local_queue_capacity=2,
 * so the deques grow), with idle_spin_us 1 (a window that opens and closes
 * often), 20 (the first version's) and 2000 (workers almost always spinning):
 *
 *   - barrier rounds: each round the test thread waits a delay that
 *     cycles through 0..40 us after the previous round (so the pushes land
 *     inside, at the end of and after the spin), then spawns one task per
 *     worker from outside; each task holds its worker until all of them
 *     have started. A lost wake-up leaves a task queued behind a held
 *     worker while another worker sleeps: the round fails at its 10 s
 *     deadline and says how many started. Exact: every round all W start
 *     and all W finish.
 *   - block_on rounds: the test thread spawns OUTSIDE counted tasks from
 *     outside and then runs weft_block_on of a root that spawns INSIDE
 *     counted tasks and waits for them (the chained_spawn / ping_pong shape
 *     the spin is for: the next outside spawn comes while the worker that
 *     ran the root spins). Exact: every task's slot is 1, the totals add up,
 *     the worker stats count every task polled exactly once, and the
 *     watchdog fails a hang.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "weft/runtime.h"

#define BARRIER_ROUNDS TU_SCALE(150, 30)
#define BLOCK_ON_ROUNDS TU_SCALE(1500, 200)
#define OUTSIDE 3
#define INSIDE 8
#define BARRIER_DEADLINE_MS 10000u

static char current_config[128];

static void watchdog(unsigned seconds) { tu_watchdog(seconds, "test_stress_idle_spin", current_config); }

/* each with an extra knob: global's batches too (a worker that takes a
 * share leaves the rest to a hungry one, schedulers/global.c) */
static const char *const scheds[] = {"global", "global", "ws", "numa"};
static const char *const sched_knob[] = {NULL, "global_batch=32", NULL, NULL};
static const int spins_us[] = {1, 20, 2000};

static weft_runtime *spin_rt(size_t s, int workers, int spin_us)
{
    char spin[48];
    snprintf(spin, sizeof spin, "idle_spin_us=%d", spin_us);
    snprintf(current_config, sizeof current_config, "%s workers=%d %s %s", scheds[s], workers, spin,
             sched_knob[s] ? sched_knob[s] : "");
    /* a NULL extra knob ends the list a place early */
    return tu_rt_new(scheds[s], workers, "local_queue_capacity=2", spin, sched_knob[s], (const char *)NULL);
}

static void spin_delay_ns(uint64_t ns)
{
    uint64_t end = weft_now_ns() + ns;
    while (weft_now_ns() < end) {
    }
}

/* ---- barrier rounds ------------------------------------------------------------------ */

typedef struct barrier_ctx {
    _Atomic int arrived; /* this round's tasks that started */
    _Atomic int finished;
    _Atomic int abort;   /* set by a failing round so its tasks let go */
    int want;            /* tasks per round (the worker count) */
} barrier_ctx;
static barrier_ctx bar;

static weft_poll barrier_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    /* acq_rel/acquire: the round's counters are the only shared data */
    atomic_fetch_add_explicit(&bar.arrived, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&bar.arrived, memory_order_acquire) < bar.want &&
           !atomic_load_explicit(&bar.abort, memory_order_acquire))
        sched_yield();
    atomic_fetch_add_explicit(&bar.finished, 1, memory_order_release);
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(barrier_type, barrier_poll, NULL, int, 0);

static void test_barrier_rounds(void **state)
{
    (void)state;
    static const int workers[] = {2, 4, 8};
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t k = 0; k < sizeof workers / sizeof workers[0]; k++)
            for (size_t v = 0; v < sizeof spins_us / sizeof spins_us[0]; v++) {
                int w = workers[k];
                weft_runtime *rt = spin_rt(s, w, spins_us[v]);
                watchdog(120);
                bar.want = w;
                atomic_store(&bar.abort, 0);
                for (int r = 0; r < BARRIER_ROUNDS; r++) {
                    atomic_store(&bar.arrived, 0);
                    atomic_store(&bar.finished, 0);
                    spin_delay_ns((uint64_t)(r % 5) * 10000u);
                    for (int i = 0; i < w; i++) {
                        int dummy = 0;
                        assert_int_equal(weft_spawn(rt, &barrier_type, &dummy, NULL), 0);
                    }
                    uint64_t deadline = tu_now_ms() + BARRIER_DEADLINE_MS;
                    while (atomic_load_explicit(&bar.finished, memory_order_acquire) < w &&
                           tu_now_ms() < deadline)
                        sched_yield();
                    int fin = atomic_load_explicit(&bar.finished, memory_order_acquire);
                    if (fin != w) {
                        int arr = atomic_load(&bar.arrived);
                        atomic_store(&bar.abort, 1); /* let the started ones go, then fail */
                        print_error("%s round %d: %d of %d tasks started, %d finished in %u ms\n",
                                    current_config, r, arr, w, fin, BARRIER_DEADLINE_MS);
                    }
                    assert_int_equal(fin, w);
                    assert_int_equal(atomic_load(&bar.arrived), w);
                }
                weft_runtime_free(rt);
                tu_watchdog_off();
            }
}

/* ---- block_on rounds ----------------------------------------------------------------- */

typedef struct count_ctx {
    _Atomic int *slots; /* BLOCK_ON_ROUNDS * (OUTSIDE + INSIDE) */
    tu_latch *inside;   /* the current round's INSIDE tasks */
} count_ctx;
static count_ctx cnt;

typedef struct count_st {
    int idx;
    tu_latch *inside; /* the round's latch for an INSIDE task, else NULL */
} count_st;

static weft_poll count_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    (void)out;
    count_st *st = p;
    /* relaxed: read after weft_runtime_free joined the workers */
    atomic_fetch_add_explicit(&cnt.slots[st->idx], 1, memory_order_relaxed);
    if (st->inside) tu_latch_arrive(st->inside);
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(count_type, count_poll, NULL, count_st, 0);

typedef struct root_st {
    int round;
    int started;
    int failures;
} root_st;

static weft_poll root_poll(void *p, weft_context *cx, void *out)
{
    root_st *st = p;
    if (!st->started) {
        st->started = 1;
        for (int i = 0; i < INSIDE; i++) {
            count_st c = {st->round * (OUTSIDE + INSIDE) + OUTSIDE + i, cnt.inside};
            if (weft_spawn(weft_context_runtime(cx), &count_type, &c, NULL) < 0) st->failures++;
        }
    }
    if (tu_latch_poll(cnt.inside, cx) == WEFT_PENDING) return WEFT_PENDING;
    *(int *)out = st->failures;
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(root_type, root_poll, NULL, root_st, sizeof(int));

static void test_block_on_rounds(void **state)
{
    (void)state;
    static const int workers[] = {1, 2, 8};
    size_t nslots = (size_t)BLOCK_ON_ROUNDS * (OUTSIDE + INSIDE);
    cnt.slots = calloc(nslots, sizeof *cnt.slots);
    assert_non_null(cnt.slots);
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t k = 0; k < sizeof workers / sizeof workers[0]; k++)
            for (size_t v = 0; v < sizeof spins_us / sizeof spins_us[0]; v++) {
                for (size_t i = 0; i < nslots; i++) atomic_init(&cnt.slots[i], 0);
                weft_runtime *rt = spin_rt(s, workers[k], spins_us[v]);
                watchdog(120);
                /* one latch per round, destroyed after the free joined the
                 * workers: the last arriver may still be inside
                 * tu_latch_arrive (its wake) when block_on has returned */
                tu_latch *latches = calloc((size_t)BLOCK_ON_ROUNDS, sizeof *latches);
                assert_non_null(latches);
                for (int r = 0; r < BLOCK_ON_ROUNDS; r++) {
                    tu_latch *inside = &latches[r];
                    tu_latch_init(inside, INSIDE);
                    cnt.inside = inside;
                    spin_delay_ns((uint64_t)(r % 4) * 7000u);
                    for (int i = 0; i < OUTSIDE; i++) {
                        count_st c = {r * (OUTSIDE + INSIDE) + i, NULL};
                        assert_int_equal(weft_spawn(rt, &count_type, &c, NULL), 0);
                    }
                    root_st root = {r, 0, 0};
                    int failures = -1;
                    tu_block_on_ok(rt, &root_type, &root, &failures);
                    assert_int_equal(failures, 0);
                    assert_int_equal(tu_latch_count(inside), INSIDE);
                }
                /* the outside tasks of the last rounds may still be queued:
                 * the runtime's free drains (runs or drops) them, so count
                 * after the free joined the workers, through the stats first */
                weft_worker_stats tot;
                assert_int_equal(weft_runtime_stats(rt, NULL, 0, &tot), workers[k]);
                weft_runtime_free(rt);
                tu_watchdog_off();
                for (int r = 0; r < BLOCK_ON_ROUNDS; r++) tu_latch_destroy(&latches[r]);
                free(latches);
                long total = 0;
                int bad = -1;
                for (size_t i = 0; i < nslots; i++) {
                    int c = atomic_load_explicit(&cnt.slots[i], memory_order_relaxed);
                    if (i % (OUTSIDE + INSIDE) >= OUTSIDE || c != 0) total += c;
                    /* inside tasks ran exactly once; an outside task ran at most once
                     * (one still queued at the free is dropped, not run) */
                    if ((i % (OUTSIDE + INSIDE) >= OUTSIDE ? c != 1 : c > 1) && bad < 0) bad = (int)i;
                }
                if (bad >= 0)
                    print_error("%s: task %d ran %d times\n", current_config, bad, cnt.slots[bad]);
                assert_int_equal(bad, -1);
                assert_true(total >= (long)BLOCK_ON_ROUNDS * INSIDE);
                assert_true(total <= (long)nslots);
                /* each root polled at least twice is not guaranteed (its
                 * latch may be complete at the first poll); the polls are
                 * the tasks run so far plus the roots' polls */
                assert_true(tot.polls >= (uint64_t)BLOCK_ON_ROUNDS * (INSIDE + 1));
            }
    free(cnt.slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_barrier_rounds),
        cmocka_unit_test(test_block_on_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
