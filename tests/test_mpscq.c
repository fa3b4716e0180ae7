/*
 * tests/test_mpscq.c - taskq.h's mpscq (fifo's injection queue): push order
 * after a take, appending to a non-empty taskq, empty takes, and a stress
 * of several producer threads against one consumer in which every task is
 * taken exactly once and each producer's tasks come out in its push order
 * (TSan checks the publication of task->next through the CAS). Then the
 * same through a fifo runtime: several outside threads spawn in bursts
 * with pauses, so the worker parks between bursts and every burst's first
 * push must wake it (the park protocol's fence against mpscq_nonempty);
 * every task runs exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "schedulers/taskq.h"
#include "test_util.h"
#include "weft/runtime.h"

/* Plain task headers as list nodes: the queue only uses `next`. */
static size_t idx(task *base, task *t) { return (size_t)(t - base); }

static void test_order_and_append(void **state)
{
    (void)state;
    task n[8];
    memset(n, 0, sizeof n);
    mpscq q;
    mpscq_init(&q);
    taskq out;
    taskq_init(&out);
    assert_false(mpscq_nonempty(&q));
    assert_int_equal(mpscq_take_all(&q, &out), 0);
    assert_null(out.head);
    assert_null(out.tail);

    for (int i = 0; i < 3; i++) mpscq_push(&q, &n[i]);
    assert_true(mpscq_nonempty(&q));
    assert_int_equal(mpscq_take_all(&q, &out), 3);
    assert_false(mpscq_nonempty(&q));
    assert_int_equal(out.len, 3);
    /* a second batch goes behind the first, in its own push order */
    for (int i = 3; i < 8; i++) mpscq_push(&q, &n[i]);
    assert_int_equal(mpscq_take_all(&q, &out), 5);
    assert_int_equal(out.len, 8);
    assert_ptr_equal(out.tail, &n[7]);
    for (int i = 0; i < 8; i++) assert_int_equal(idx(n, taskq_pop(&out)), i);
    assert_null(taskq_pop(&out));
    assert_null(out.tail);

    /* one element; then the queue is reusable after being emptied */
    mpscq_push(&q, &n[5]);
    assert_int_equal(mpscq_take_all(&q, &out), 1);
    assert_ptr_equal(out.head, &n[5]);
    assert_ptr_equal(out.tail, &n[5]);
    assert_null(n[5].next);
    assert_ptr_equal(taskq_pop(&out), &n[5]);
    assert_int_equal(mpscq_take_all(&q, &out), 0);
}

/* ---- producers against one consumer ---------------------------------------------------- */

enum { PRODUCERS = 4 };
#define PER_PRODUCER ((size_t)TU_SCALE(200000, 20000))

typedef struct prod_arg {
    mpscq *q;
    task *nodes; /* PER_PRODUCER of them */
    _Atomic int *go;
} prod_arg;

static void *producer(void *p)
{
    prod_arg *a = p;
    while (!atomic_load_explicit(a->go, memory_order_acquire)) sched_yield();
    for (size_t i = 0; i < PER_PRODUCER; i++) {
        mpscq_push(a->q, &a->nodes[i]);
        if (i % 4096 == 0) sched_yield(); /* let the consumer empty it now and then */
    }
    return NULL;
}

static void test_stress_producers(void **state)
{
    (void)state;
    const size_t total = PRODUCERS * PER_PRODUCER;
    task *nodes = calloc(total, sizeof *nodes);
    unsigned char *seen = calloc(total, 1);
    assert_non_null(nodes);
    assert_non_null(seen);
    mpscq q;
    mpscq_init(&q);
    _Atomic int go = 0;
    prod_arg a[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) {
        a[k] = (prod_arg){&q, nodes + (size_t)k * PER_PRODUCER, &go};
        assert_int_equal(pthread_create(&th[k], NULL, producer, &a[k]), 0);
    }
    atomic_store_explicit(&go, 1, memory_order_release);
    size_t last[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) last[k] = SIZE_MAX;
    size_t got = 0, batches = 0, out_of_order = 0, twice = 0;
    taskq out;
    taskq_init(&out);
    while (got < total) {
        size_t n = mpscq_take_all(&q, &out);
        if (!n) {
            sched_yield();
            continue;
        }
        batches++;
        assert_int_equal(out.len, n);
        for (task *t; (t = taskq_pop(&out));) {
            size_t i = idx(nodes, t);
            assert_true(i < total);
            if (seen[i]++) twice++;
            size_t k = i / PER_PRODUCER, j = i % PER_PRODUCER;
            if (last[k] != SIZE_MAX && j != last[k] + 1) out_of_order++;
            last[k] = j;
            got++;
        }
    }
    for (int k = 0; k < PRODUCERS; k++) pthread_join(th[k], NULL);
    assert_int_equal(mpscq_take_all(&q, &out), 0); /* nothing left, nothing extra */
    assert_int_equal(got, total);
    assert_int_equal(twice, 0);
    assert_int_equal(out_of_order, 0);
    for (size_t i = 0; i < total; i++) assert_int_equal(seen[i], 1);
    for (int k = 0; k < PRODUCERS; k++) assert_int_equal(last[k], PER_PRODUCER - 1);
    assert_true(batches >= 1);
    free(seen);
    free(nodes);
}

/* ---- the same through a fifo runtime, with the worker parking ------------------------------ */

enum { BURSTS = 40 };
#define BURST ((int)TU_SCALE(500, 100))

typedef struct run_state {
    _Atomic int *slots;
    tu_latch *latch;
    int i;
} run_state;

static weft_poll run_poll(void *p, weft_context *cx, void *out)
{
    (void)cx;
    (void)out;
    run_state *s = p;
    atomic_fetch_add_explicit(&s->slots[s->i], 1, memory_order_relaxed);
    tu_latch_arrive(s->latch);
    return WEFT_READY;
}
static const weft_future_type run_type = {"test_mpscq.run", run_poll, NULL, sizeof(run_state), 0};

typedef struct sp_arg {
    weft_runtime *rt;
    _Atomic int *slots;
    tu_latch *latch;
    int first;
    int failures;
} sp_arg;

static void *spawner(void *p)
{
    sp_arg *a = p;
    for (int b = 0; b < BURSTS; b++) {
        for (int i = 0; i < BURST; i++) {
            run_state s = {a->slots, a->latch, a->first + b * BURST + i};
            if (weft_spawn(a->rt, &run_type, &s, NULL) != 0) a->failures++;
        }
        /* long enough for the worker to run the burst dry and park */
        nanosleep(&(struct timespec){0, 200000}, NULL);
    }
    return NULL;
}

static void test_fifo_outside_bursts(void **state)
{
    (void)state;
    const int per = BURSTS * BURST, total = PRODUCERS * per;
    _Atomic int *slots = calloc((size_t)total, sizeof *slots);
    assert_non_null(slots);
    tu_latch latch;
    tu_latch_init(&latch, total);
    weft_runtime *rt = tu_rt_new("fifo", 1, NULL);
    sp_arg a[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int k = 0; k < PRODUCERS; k++) {
        a[k] = (sp_arg){rt, slots, &latch, k * per, 0};
        assert_int_equal(pthread_create(&th[k], NULL, spawner, &a[k]), 0);
    }
    /* the root waits on the latch: between bursts the worker parks */
    tu_latch_wait w = {&latch};
    assert_int_equal(weft_block_on(rt, &tu_latch_type, &w, NULL), 0);
    for (int k = 0; k < PRODUCERS; k++) {
        pthread_join(th[k], NULL);
        assert_int_equal(a[k].failures, 0);
    }
    assert_int_equal(tu_latch_count(&latch), total);
    int bad = 0;
    for (int i = 0; i < total; i++) bad += atomic_load(&slots[i]) != 1;
    assert_int_equal(bad, 0);
    weft_worker_stats s;
    weft_runtime_stats(rt, NULL, 0, &s);
    assert_int_equal(s.spawns, (uint64_t)total + 1);
    assert_true(s.parks > 0); /* the bursts did meet a parked worker */
    weft_runtime_free(rt);
    bad = 0;
    for (int i = 0; i < total; i++) bad += atomic_load(&slots[i]) != 1;
    assert_int_equal(bad, 0); /* nothing re-run at shutdown */
    tu_latch_destroy(&latch);
    free(slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_append),
        cmocka_unit_test(test_stress_producers),
        cmocka_unit_test(test_fifo_outside_bursts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
