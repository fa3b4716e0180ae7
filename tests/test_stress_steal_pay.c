/*
 * tests/test_stress_steal_pay.c - the steal pay-off of ws and numa
 * (schedulers/ws.c, point 9) on real runtimes, with steal_pay_ns at its
 * maximum so that nearly every steal counts as not paid and the thief
 * holds off, asleep and counted as searching, before its next sweep. A
 * hold must only delay: no task may be left behind it, no worker may stay
 * out of reach, shutdown must still end.
 *
 *   - leaf rounds: a root spawns LEAVES tiny tasks (spawn_many's shape) and
 *     awaits a latch they count down. Exact: every leaf ran exactly once,
 *     every round's latch is complete, the worker stats count every leaf
 *     polled, and the watchdog fails a hang.
 *   - barrier rounds: the test thread spawns one task per worker from
 *     outside, each holding its worker until all of them have started:
 *     every worker must take one, most of them by stealing, so a thief
 *     that holds off must still come back and steal. Exact: all W start
 *     and finish in every round (10 s deadline per round).
 * ws and numa at 2 and 4 workers, local_queue_capacity=2 (the deques grow).
 */
#include <sched.h>
#include <stdbool.h>
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

#define LEAF_ROUNDS TU_SCALE(300, 40)
#define LEAVES 256
#define BARRIER_ROUNDS TU_SCALE(100, 20)
#define BARRIER_DEADLINE_MS 10000u

static char current_config[128];
static void watchdog(unsigned seconds) { tu_watchdog(seconds, "test_stress_steal_pay", current_config); }

static const char *const scheds[] = {"ws", "numa"};
static const int workers[] = {2, 4};

static weft_runtime *pay_rt(const char *sched, int w)
{
    snprintf(current_config, sizeof current_config, "%s workers=%d steal_pay_ns=1000000", sched, w);
    return tu_rt_new(sched, w, "local_queue_capacity=2", "steal_pay_ns=1000000", (const char *)NULL);
}

/* ---- leaf rounds ------------------------------------------------------------------- */

static _Atomic int *leaf_slots; /* LEAF_ROUNDS * LEAVES */

typedef struct leaf_st {
    int idx;
    tu_latch *done;
} leaf_st;

static weft_poll leaf_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    (void)out;
    leaf_st *st = p;
    /* relaxed: read after weft_runtime_free joined the workers */
    atomic_fetch_add_explicit(&leaf_slots[st->idx], 1, memory_order_relaxed);
    tu_latch_arrive(st->done);
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(leaf_type, leaf_poll, NULL, leaf_st, 0);

typedef struct leaf_root {
    int round;
    int started;
    int failures;
    tu_latch *done;
} leaf_root;

static weft_poll leaf_root_poll(void *p, weft_context *cx, void *out)
{
    leaf_root *st = p;
    if (!st->started) {
        st->started = 1;
        for (int i = 0; i < LEAVES; i++) {
            leaf_st l = {st->round * LEAVES + i, st->done};
            if (weft_spawn(weft_context_runtime(cx), &leaf_type, &l, NULL) < 0) st->failures++;
        }
    }
    if (tu_latch_poll(st->done, cx) == WEFT_PENDING) return WEFT_PENDING;
    *(int *)out = st->failures;
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(leaf_root_type, leaf_root_poll, NULL, leaf_root, sizeof(int));

static void test_leaf_rounds(void **state)
{
    (void)state;
    size_t nslots = (size_t)LEAF_ROUNDS * LEAVES;
    leaf_slots = calloc(nslots, sizeof *leaf_slots);
    assert_non_null(leaf_slots);
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t k = 0; k < sizeof workers / sizeof workers[0]; k++) {
            for (size_t i = 0; i < nslots; i++) atomic_init(&leaf_slots[i], 0);
            weft_runtime *rt = pay_rt(scheds[s], workers[k]);
            watchdog(120);
            /* latches outlive the rounds: the last arriver may still be in
             * tu_latch_arrive when block_on returns */
            tu_latch *latches = calloc((size_t)LEAF_ROUNDS, sizeof *latches);
            assert_non_null(latches);
            for (int r = 0; r < LEAF_ROUNDS; r++) {
                tu_latch_init(&latches[r], LEAVES);
                leaf_root root = {r, 0, 0, &latches[r]};
                int failures = -1;
                tu_block_on_ok(rt, &leaf_root_type, &root, &failures);
                assert_int_equal(failures, 0);
                assert_int_equal(tu_latch_count(&latches[r]), LEAVES);
            }
            weft_worker_stats tot;
            assert_int_equal(weft_runtime_stats(rt, NULL, 0, &tot), workers[k]);
            weft_runtime_free(rt);
            tu_watchdog_off();
            for (int r = 0; r < LEAF_ROUNDS; r++) tu_latch_destroy(&latches[r]);
            free(latches);
            int bad = -1;
            for (size_t i = 0; i < nslots && bad < 0; i++)
                if (atomic_load_explicit(&leaf_slots[i], memory_order_relaxed) != 1) bad = (int)i;
            if (bad >= 0) print_error("%s: leaf %d ran %d times\n", current_config, bad, leaf_slots[bad]);
            assert_int_equal(bad, -1);
            /* every leaf and every root polled at least once */
            assert_true(tot.polls >= (uint64_t)LEAF_ROUNDS * (LEAVES + 1));
            assert_true(tot.tasks_stolen >= tot.steals);
        }
    free(leaf_slots);
}

/* ---- barrier rounds ------------------------------------------------------------------ */

typedef struct barrier_ctx {
    _Atomic int arrived;
    _Atomic int done;
    _Atomic int late; /* tasks that gave up at the deadline */
    int need;
} barrier_ctx;
static barrier_ctx bar;

static weft_poll barrier_poll(void *p, weft_context *cx, void *out)
{
    (void)p;
    (void)cx;
    (void)out;
    atomic_fetch_add_explicit(&bar.arrived, 1, memory_order_acq_rel);
    if (!tu_wait_at_least(&bar.arrived, bar.need, BARRIER_DEADLINE_MS))
        atomic_fetch_add_explicit(&bar.late, 1, memory_order_relaxed);
    /* release: pairs with the test thread's acquire wait */
    atomic_fetch_add_explicit(&bar.done, 1, memory_order_release);
    return WEFT_READY;
}
WEFT_FUTURE_TYPE(barrier_type, barrier_poll, NULL, int, 0);

/* The W tasks come from outside (the injection queue): a worker takes a
 * batch of them into its deque, and the others must steal them from there
 * (spawned from a task, the newest would sit in the spawner's LIFO slot,
 * which nobody may steal). */
static void test_barrier_rounds(void **state)
{
    (void)state;
    for (size_t s = 0; s < sizeof scheds / sizeof scheds[0]; s++)
        for (size_t k = 0; k < sizeof workers / sizeof workers[0]; k++) {
            int w = workers[k];
            weft_runtime *rt = pay_rt(scheds[s], w);
            watchdog(240);
            for (int r = 0; r < BARRIER_ROUNDS; r++) {
                atomic_store_explicit(&bar.arrived, 0, memory_order_relaxed);
                atomic_store_explicit(&bar.done, 0, memory_order_relaxed);
                atomic_store_explicit(&bar.late, 0, memory_order_relaxed);
                bar.need = w; /* written before the spawns publish the tasks */
                for (int i = 0; i < w; i++) assert_int_equal(weft_spawn(rt, &barrier_type, NULL, NULL), 0);
                bool finished = tu_wait_at_least(&bar.done, w, 2 * BARRIER_DEADLINE_MS);
                int late = atomic_load_explicit(&bar.late, memory_order_relaxed);
                if (!finished || late)
                    print_error("%s round %d: %d of %d tasks finished, %d gave up waiting for the others\n",
                                current_config, r, atomic_load(&bar.done), w, late);
                assert_true(finished);
                assert_int_equal(late, 0);
                assert_int_equal(atomic_load_explicit(&bar.arrived, memory_order_acquire), w);
            }
            weft_runtime_free(rt);
            tu_watchdog_off();
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_rounds),
        cmocka_unit_test(test_barrier_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
